// capi.js - loading the wasm module and the thin calls into it
// (js/src/sabre_js.c).  Strings go in as malloc'ed UTF-8, results come back
// through a scratch array of u32 words; every failing call becomes a
// SabreError carrying the library's message.
import { SabreError } from './errors.js';

const isNode = typeof process === 'object' && !!(process.versions && process.versions.node);

async function readBinary(url) {
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    return readFile(fileURLToPath(url));
  }
  const r = await fetch(url);
  if (!r.ok) throw new Error(`sabre: cannot fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

// Loads build/wasm/sabre.mjs + sabre.wasm (copied to js/dist/ by
// scripts/wasm.sh), or the URLs given.
export async function loadModule(opts = {}) {
  const moduleUrl = opts.moduleUrl || new URL('../dist/sabre.mjs', import.meta.url).href;
  const wasmUrl = opts.wasmUrl || new URL('../dist/sabre.wasm', import.meta.url).href;
  const [{ default: create }, wasmBinary] = await Promise.all([import(moduleUrl), readBinary(wasmUrl)]);
  return create({ wasmBinary, print: () => {}, printErr: (s) => console.error(s) });
}

export class CApi {
  constructor(mod) {
    this.mod = mod;
    this.out = mod._malloc(64);
    this.enc = new TextEncoder();
  }
  get u8() { return this.mod.HEAPU8; }
  get u32() { return this.mod.HEAPU32; }
  o(i) { return this.mod.HEAPU32[(this.out >>> 2) + i]; }
  o64(i) { return this.o(i) + this.o(i + 1) * 2 ** 32; }

  str(s) { // malloc'ed NUL-terminated UTF-8; free with this.free
    if (s === null || s === undefined) return 0;
    const b = this.enc.encode(String(s));
    const p = this.mod._malloc(b.length + 1);
    this.u8.set(b, p);
    this.u8[p + b.length] = 0;
    return p;
  }
  free(p) { if (p) this.mod._free(p); }

  cstr(p, max = 1 << 20) {
    if (!p) return '';
    const u8 = this.u8;
    let e = p;
    while (u8[e] !== 0 && e - p < max) e++;
    return new TextDecoder().decode(u8.slice(p, e));
  }

  takeJson(p) { // a malloc'ed JSON string from the library
    if (!p) throw this.error(-2, 'out of memory for a JSON string');
    try { return JSON.parse(this.cstr(p)); } finally { this.free(p); }
  }

  error(st, fallback) {
    const msg = st < 0 ? this.cstr(this.mod._sabre_js_last_error()) : '';
    return new SabreError(st, msg || fallback || this.cstr(this.mod._sabre_js_status_name(st)));
  }

  check(st) {
    if (st < 0) throw this.error(st);
    return st;
  }

  // Numbers that become u64 in C: integers below 2^53, or Infinity.
  n64(v, what) {
    if (v === Infinity) return Infinity;
    if (typeof v === 'bigint') v = Number(v);
    if (!(Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER))
      throw new SabreError(-1, `${what} is ${v}, want an integer in 0..2^53`);
    return v;
  }
}

export { isNode };
