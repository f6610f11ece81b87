// Typed views of the shared memory, made once per buffer.
import { fail } from '../errors.js';

const cache = new WeakMap();

export function viewsOf(buffer) {
  let v = cache.get(buffer);
  if (!v) {
    v = {
      buffer,
      u8: new Uint8Array(buffer),
      i32: new Int32Array(buffer, 0, buffer.byteLength >>> 2),
      u32: new Uint32Array(buffer, 0, buffer.byteLength >>> 2),
      u64: new BigUint64Array(buffer, 0, buffer.byteLength >>> 3),
      dv: new DataView(buffer),
    };
    cache.set(buffer, v);
  }
  return v;
}

export function needShared(buffer, what) {
  if (typeof SharedArrayBuffer === 'undefined' || !(buffer instanceof SharedArrayBuffer))
    throw fail('SABRE_ENOTSUP',
      `${what}: needs a SharedArrayBuffer; in a browser that takes cross-origin isolation ` +
      `(serve the page with "Cross-Origin-Opener-Policy: same-origin" and ` +
      `"Cross-Origin-Embedder-Policy: require-corp")`);
}

// u64 at byte offset `off` (8-aligned) as a Number; a value past 2^53 is
// corrupt for every offset and size in sabre's ABI.
export function u64(m, off, what) {
  const v = m.dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('SABRE_ECORRUPT', `${what} is ${v}, want < 2^53`);
  return Number(v);
}

export function cstr(m, off, max) {
  let end = off;
  const lim = Math.min(off + max, m.u8.length);
  while (end < lim && m.u8[end] !== 0) end++;
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(m.u8[i]);
  return s;
}

export function text(m, off, len) {
  // TextDecoder refuses views of a SharedArrayBuffer: copy the bytes first.
  return new TextDecoder().decode(m.u8.slice(off, off + len));
}

export const hex = (v, w = 8) => '0x' + BigInt(v).toString(16).padStart(w, '0');
