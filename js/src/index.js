// sabre for JavaScript, main thread: the C core compiled to WebAssembly
// (build/wasm/), its memory one SharedArrayBuffer of fixed size that every
// Worker can view.  load() picks the mode itself: "shared" where
// SharedArrayBuffer is usable (Node; a cross-origin isolated page), else
// "transfer" (sabre.mode says which), where weights and rings refuse with
// one error naming the COOP/COEP headers.
//
// Ownership: objects (Region, Weights, Ring, ...) own C handles; close()
// frees them (and the region's memory); views handed out (typed arrays) are
// views of the module memory and must not be used after the owner closes.
// Thread-safety: one Sabre instance belongs to the thread that loaded it;
// Workers use sabre/worker with sabre.workerHandle().  Blocking: calls with
// a timeout may wait; on a browser main thread they never do (timeout 0 or
// the *Async variant).  Errors: SabreError (.code, .status, message).
import { CApi, loadModule, isNode } from './capi.js';
import { SabreError, fail } from './errors.js';
import { WeightsReader as JsWeightsReader } from './worker/weights.js';
import { RegionView } from './worker/region.js';
import abi from './abi.js';

export { SabreError, abi };

const TYPED = {
  f32: Float32Array, f64: Float64Array, i8: Int8Array, u8: Uint8Array, i16: Int16Array,
  u16: Uint16Array, i32: Int32Array, u32: Uint32Array, i64: BigInt64Array, u64: BigUint64Array,
  bool: Uint8Array,
};
const NS_PER_MS = 1e6;
const isBrowserMain = typeof window === 'object' && typeof document === 'object';
const toNs = (ms) => (ms === Infinity ? Infinity : Math.max(0, Math.round(ms * NS_PER_MS)));

export function sharedMemoryUsable() {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  if (isNode) return true;
  return globalThis.crossOriginIsolated === true;
}

const COOP_COEP = 'SharedArrayBuffer needs cross-origin isolation: serve the page with the headers ' +
  '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp"';

export async function load(opts = {}) {
  const mode = opts.mode || (sharedMemoryUsable() ? 'shared' : 'transfer');
  if (mode !== 'shared' && mode !== 'transfer') throw fail('SABRE_EINVAL', `mode is '${mode}', want 'shared' or 'transfer'`);
  if (mode === 'transfer') return new Sabre(null, mode);
  return new Sabre(new CApi(await loadModule(opts)), mode);
}

export class Sabre {
  constructor(c, mode) {
    this.c = c;
    this.mode = mode;
  }

  #need(what) {
    if (!this.c) throw fail('SABRE_ENOTSUP', `${what}: ${COOP_COEP} (this page runs in transfer mode)`);
    return this.c;
  }

  // The module memory: one SharedArrayBuffer, fixed size.
  get buffer() { return this.#need('memory').mod.HEAPU8.buffer; }

  probe() {
    if (!this.c) return { platform: 'js', mode: this.mode, note: COOP_COEP, private: false, memfd: false, shm: false, file: false, futex: false };
    return { ...this.c.takeJson(this.c.mod._sabre_js_probe_json()), mode: this.mode };
  }

  schema(text) {
    const c = this.#need('schema');
    const p = c.str(text);
    try {
      const st = c.mod._sabre_js_schema_compile(p, c.enc.encode(text).length, c.out);
      if (st < 0) {
        const e = c.error(st);
        e.line = c.o(1);
        e.column = c.o(2);
        throw e;
      }
      return new Schema(c, c.o(0));
    } finally { c.free(p); }
  }

  createRegion({ name = '', size, maxObjects = 0 } = {}) {
    const c = this.#need('region');
    const p = c.str(name);
    try {
      c.check(c.mod._sabre_js_region_create(0, p, c.n64(size, `region '${name}': size`), maxObjects, 0, c.out));
    } finally { c.free(p); }
    return new Region(this, c, c.o(0), name);
  }

  // Opening by name or fd exists only natively: the error says so.
  openRegion({ name = '', backing = 2 } = {}) {
    const c = this.#need('region');
    const p = c.str(name);
    try { c.check(c.mod._sabre_js_region_open(backing, p, 0, c.out)); } finally { c.free(p); }
    return new Region(this, c, c.o(0), name);
  }

  // Parties (docs/abi.md, "Parties on WebAssembly"): one per plain JS Worker.
  spawnParty() {
    const c = this.#need('party');
    const id = c.mod._sabre__plat_party_spawn(c.out);
    if (id < 0) throw c.error(id, 'party table is full (1024 parties)');
    return { id, gen: c.o(0) };
  }

  exitParty(party) {
    const c = this.#need('party');
    return c.mod._sabre__plat_party_exit(party.id, party.gen) === 0;
  }

  partyAlive(party) {
    const c = this.#need('party');
    const w = c.mod.HEAPU32[(c.mod._sabre__plat_party_table() >>> 2) + party.id];
    return (w & 1) === 1 && w >>> 1 === party.gen;
  }

  // Hosts a Worker (Node worker_threads or a Web Worker): gives it a party,
  // and marks that party dead when the Worker exits, errors or is
  // terminated (through `terminate`, which you must use instead of
  // worker.terminate() in browsers: they report no exit event).
  host(worker) {
    const party = this.spawnParty();
    const dead = () => this.exitParty(party);
    if (typeof worker.on === 'function') {
      worker.on('exit', dead);
      worker.on('error', dead);
    } else {
      worker.addEventListener('error', dead);
    }
    return {
      party,
      terminate: async () => { await worker.terminate(); dead(); },
    };
  }

  // What a pure-JS worker needs: {buffer, region, parties, party}.
  workerHandle(region, party) {
    const c = this.#need('worker handle');
    return { buffer: this.buffer, region: region.base, parties: c.mod._sabre__plat_party_table(), party };
  }
}

export class Schema {
  constructor(c, ptr) {
    this.c = c;
    this.ptr = ptr;
    this.json = c.takeJson(c.mod._sabre_js_schema_json(ptr)); // as `sabre schema --json`
    this.layouts = Object.fromEntries(this.json.structs.map((s) => [s.name, s]));
    this.root = this.layouts[this.json.root];
  }
  layout(name = this.json.root) {
    const l = this.layouts[name];
    if (!l) throw fail('SABRE_ENOENT', `schema: struct is '${name}', want one of ${Object.keys(this.layouts).join(', ')}`);
    return l;
  }
  get size() { return this.root.size; }
  get hash() { return this.root.hash; }
  get columns() { return this.root.columns; }
  free() { if (this.ptr) { this.c.mod._sabre_schema_free(this.ptr); this.ptr = 0; } }
}

// The typed-array type of a top-level field: its scalar type, or that of all
// its columns if they share one, else bytes.
function fieldType(layouts, field) {
  if (field.kind === 'scalar') return TYPED[field.type];
  if (field.kind === 'struct') {
    const types = new Set(layouts[field.type].columns.map((c) => c.type));
    if (types.size === 1) return TYPED[[...types][0]];
  }
  return Uint8Array;
}

export class Region {
  constructor(sabre, c, ptr, name) {
    Object.assign(this, { sabre, c, ptr, name });
    c.mod._sabre_js_region_geometry(ptr, c.out);
    this.base = c.o(0);
    this.size = c.o(1);
  }
  #live() { if (!this.ptr) throw fail('SABRE_ESTALE', `region '${this.name}': closed`); return this.c; }

  // Every object, as `sabre inspect --json` reports the region.
  inspect() {
    const c = this.#live();
    const p = c.mod._sabre_js_region_inspect_json(this.ptr);
    if (!p) throw c.error(-4, `region '${this.name}': inspect failed`);
    return c.takeJson(p);
  }

  alloc(name, { kind = 1, size, layoutText = null } = {}) {
    const c = this.#live();
    const pn = c.str(name), pl = c.str(layoutText);
    try { c.check(c.mod._sabre_js_region_alloc(this.ptr, pn, kind, c.n64(size, `object '${name}': size`), pl, c.out)); }
    finally { c.free(pn); c.free(pl); }
    return { index: c.o(0), kind: c.o(1), offset: c.o(2), size: c.o(3) };
  }

  find(name) {
    const c = this.#live();
    const pn = c.str(name);
    try { c.check(c.mod._sabre_js_region_find(this.ptr, pn, c.out)); } finally { c.free(pn); }
    return { index: c.o(0), kind: c.o(1), offset: c.o(2), size: c.o(3) };
  }

  // Bytes of an object, a view of the module memory.
  bytes(name) {
    const o = this.find(name);
    return new Uint8Array(this.sabre.buffer, o.offset, o.size);
  }

  // A pure-JS view of this region (what workers use).
  view() { return new RegionView(this.sabre.buffer, this.base); }

  createWeights(name, { size, slots = 0, readers = 0, shapeHash = 0, f32 = true, layoutText = null } = {}) {
    const c = this.#live();
    const pn = c.str(name), pl = c.str(layoutText);
    try {
      c.check(c.mod._sabre_js_weights_create(this.ptr, pn, c.n64(size, `weights '${name}': size`), slots, readers, shapeHash, f32 ? 1 : 0, pl, c.out));
    } finally { c.free(pn); c.free(pl); }
    return new Weights(this, c.o(0), name);
  }

  openWeights(name) {
    const c = this.#live();
    const pn = c.str(name);
    try { c.check(c.mod._sabre_js_weights_open(this.ptr, pn, c.out)); } finally { c.free(pn); }
    return new Weights(this, c.o(0), name);
  }

  // shape: 'lanes' | 'mpsc'; policy: 'drop' | 'block' | 'overwrite'.
  createRing(name, { schema, layout, steps = 1, envs = 1, capacity = 0, producers = 0, shape = 'lanes', policy = 'drop', recordSize = 0, reclaimMs = 0 } = {}) {
    const c = this.#live();
    const sh = { lanes: 0, mpsc: 1 }[shape], po = { drop: 0, block: 1, overwrite: 2 }[policy];
    if (sh === undefined) throw fail('SABRE_EINVAL', `ring '${name}': shape is '${shape}', want 'lanes' or 'mpsc'`);
    if (po === undefined) throw fail('SABRE_EINVAL', `ring '${name}': policy is '${policy}', want 'drop', 'block' or 'overwrite'`);
    let lay = 0;
    if (schema) {
      const l = schema.layout(layout);
      const pl = c.str(l.name);
      lay = c.mod._sabre_schema_find(schema.ptr, pl);
      c.free(pl);
    }
    const pn = c.str(name);
    try {
      c.check(c.mod._sabre_js_ring_create(this.ptr, pn, lay, sh, po, capacity, producers, steps, envs, c.n64(recordSize, 'recordSize'), toNs(reclaimMs), c.out));
    } finally { c.free(pn); }
    return new Ring(this, c.o(0), name, schema ? schema.layout(layout) : null, schema);
  }

  openRing(name, schema) {
    const c = this.#live();
    const pn = c.str(name);
    try { c.check(c.mod._sabre_js_ring_open(this.ptr, pn, c.out)); } finally { c.free(pn); }
    return new Ring(this, c.o(0), name, null, schema);
  }

  close() {
    if (this.ptr) { this.c.mod._sabre_region_close(this.ptr); this.ptr = 0; }
  }
}

export class Weights {
  constructor(region, ptr, name) {
    Object.assign(this, { region, c: region.c, ptr, name });
    const o = region.find(name);
    this.offset = o.offset;
    this.size = this.c.mod._sabre_js_weights_size(ptr);
    // The DrillSergeantHQ control block: [active_idx, version, shape_hash, step_counter].
    this.control = new Int32Array(region.sabre.buffer, o.offset, 4);
  }

  // Publish a copy of `data` (a Float32Array or any typed array of `size`
  // bytes): claim a free slot, copy, commit.  Returns the new version.
  publish(data, { shapeHash = 0, step = -1, timeoutMs = 1000 } = {}) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length !== this.size) throw fail('SABRE_EINVAL', `weights '${this.name}': data is ${bytes.length} bytes, want ${this.size}`);
    this.begin(timeoutMs).set(bytes);
    return this.commit({ shapeHash, step });
  }

  // Claim a slot to write in place: a Uint8Array over it (use .buffer with
  // Float32Array for floats), valid until commit() or abort().
  begin(timeoutMs = 1000) {
    const c = this.c;
    if (isBrowserMain && timeoutMs > 0) timeoutMs = 0; // the main thread never blocks
    c.check(c.mod._sabre_js_weights_begin(this.ptr, toNs(timeoutMs), c.out));
    return new Uint8Array(this.region.sabre.buffer, c.o(0), this.size);
  }

  commit({ shapeHash = 0, step = -1 } = {}) {
    const c = this.c;
    c.check(c.mod._sabre_js_weights_commit(this.ptr, shapeHash >>> 0, step, c.out));
    return c.o64(0);
  }

  abort() { this.c.mod._sabre_weights_abort(this.ptr); }

  version() { return this.c.mod._sabre_js_weights_version(this.ptr); }

  // A reader on this thread (the C reader, pin protocol of docs/rl.md).
  reader() {
    const c = this.c;
    c.check(c.mod._sabre_js_weights_reader_open(this.ptr, c.out));
    return new WeightsReader(this, c.o(0));
  }

  close() {
    if (this.ptr) { this.c.mod._sabre_weights_close(this.ptr); this.ptr = 0; }
  }
}

export class WeightsReader {
  constructor(w, ptr) { Object.assign(this, { w, c: w.c, ptr }); }

  // Pin the latest version: {data: Float32Array view (not a copy), version,
  // step, shape, slot, changed}, or null if nothing is published.  Options:
  // expectShape (refuse another shape hash), checkFinite (refuse NaN/Inf).
  adopt({ expectShape = 0, checkFinite = false } = {}) {
    const c = this.c;
    const st = c.mod._sabre_js_weights_adopt(this.ptr, expectShape >>> 0, checkFinite ? 1 : 0, c.out);
    if (st === abi.status.SABRE_EAGAIN) return null;
    c.check(st);
    const buf = this.w.region.sabre.buffer;
    return { data: new Float32Array(buf, c.o(0), c.o(1) >>> 2), version: c.o64(2), step: c.o64(4), shape: c.o(6), slot: c.o(7), changed: c.o(8) !== 0 };
  }

  // Blocks until a version newer than `after` exists (true) or timeoutMs
  // passes (false).  On a browser main thread it does not block: use
  // waitForVersionAsync there (this fails fast naming it).
  waitForVersion(after, timeoutMs = Infinity) {
    if (isBrowserMain && timeoutMs > 0)
      throw fail('SABRE_ENOTSUP', `weights '${this.w.name}': waitForVersion would block the browser main thread; use waitForVersionAsync`);
    const st = this.c.mod._sabre_js_weights_wait(this.ptr, after, toNs(timeoutMs));
    if (st === abi.status.SABRE_ETIMEDOUT || st === abi.status.SABRE_EAGAIN) return false;
    this.c.check(st);
    return true;
  }

  // Promise of true/false, waiting with Atomics.waitAsync on the version word.
  waitForVersionAsync(after, timeoutMs = Infinity) {
    return JsWeightsReader.prototype.waitForVersionAsync.call(this.#words(), after, timeoutMs);
  }

  #words() {
    const w = this.w, m = { i32: new Int32Array(w.region.sabre.buffer), u64: new BigUint64Array(w.region.sabre.buffer) };
    return { m, o: w.offset, version: () => w.version() };
  }

  unpin() { this.c.mod._sabre_weights_unpin(this.ptr); }
  close() { if (this.ptr) { this.c.mod._sabre_weights_reader_close(this.ptr); this.ptr = 0; } }
}

export class Ring {
  constructor(region, ptr, name, layout, schema) {
    Object.assign(this, { region, c: region.c, ptr, name });
    const c = this.c;
    c.check(c.mod._sabre_js_ring_geometry(ptr, c.out));
    this.steps = c.o(0);
    this.envs = c.o(1);
    this.stride = c.o(6);
    const layouts = schema ? schema.layouts : null;
    const top = layout || (schema ? schema.root : null);
    this.fields = {};
    const nf = c.mod._sabre_js_ring_field_count(ptr);
    const nameBuf = c.mod._malloc(48);
    try {
      for (let i = 0; i < nf; i++) {
        c.check(c.mod._sabre_js_ring_field(ptr, i, nameBuf, c.out));
        const fname = c.cstr(nameBuf, 48);
        const lf = top ? top.fields.find((f) => f.name === fname) : null;
        const Type = lf ? fieldType(layouts, lf) : Uint8Array;
        this.fields[fname] = { name: fname, elemSize: c.o(0), offset: c.o(1), size: c.o(2), Type };
      }
    } finally { c.mod._free(nameBuf); }
  }

  // Typed array [T][E][k] of field `name` in the chunk whose payload is at
  // byte `data` (a view, never a copy).
  view(data, name) {
    const f = this.fields[name];
    if (!f) throw fail('SABRE_ENOENT', `ring '${this.name}': field is '${name}', want one of ${Object.keys(this.fields).join(', ')}`);
    const a = new f.Type(this.region.sabre.buffer, data + f.offset, f.size / f.Type.BYTES_PER_ELEMENT);
    a.shape = [this.steps, this.envs, f.elemSize / f.Type.BYTES_PER_ELEMENT];
    return a;
  }

  producer() {
    const c = this.c;
    c.check(c.mod._sabre_js_ring_producer_open(this.ptr, c.out));
    return new Producer(this, c.o(0), c.o(1));
  }

  consumer() {
    const c = this.c;
    c.check(c.mod._sabre_js_ring_consumer_open(this.ptr, c.out));
    return new Consumer(this, c.o(0));
  }

  // Counters and lag statistics (sabre_ring_stats).
  stats() { return this.c.takeJson(this.c.mod._sabre_js_ring_stats_json(this.ptr)); }

  close() { if (this.ptr) { this.c.mod._sabre_ring_close(this.ptr); this.ptr = 0; } }
}

// A claim or a batch: `count` chunks; field(name, i) is chunk i's array.
class Chunks {
  constructor(ring, words) {
    const u32 = ring.c.mod.HEAPU32, w = words >>> 2;
    this.ring = ring;
    this.words = words;
    this.first = u32[w] + u32[w + 1] * 2 ** 32;
    this.count = u32[w + 2];
    this.lane = u32[w + 3];
    this.stride = u32[w + 4];
    this.headers = u32[w + 6];
    this.data = u32[w + 7];
  }
  field(name, i = 0) {
    if (!(i >= 0 && i < this.count)) throw fail('SABRE_ERANGE', `ring '${this.ring.name}': chunk is ${i}, want 0..${this.count - 1}`);
    return this.ring.view(this.data + i * this.stride, name);
  }
  // Chunk i's header: {sequence, validSteps, producer}.
  header(i = 0) {
    const dv = new DataView(this.ring.region.sabre.buffer, this.headers + 16 * i, 16);
    return { sequence: Number(dv.getBigUint64(0, true)), validSteps: dv.getUint32(8, true), producer: dv.getUint16(12, true) };
  }
}

export class Producer {
  constructor(ring, ptr, id) {
    Object.assign(this, { ring, c: ring.c, ptr, id });
    this.words = this.c.mod._sabre_js_ring_claim_new();
  }
  setVersion(v) { this.c.mod._sabre_js_ring_producer_set_version(this.ptr, Number(v)); }
  // Claim n chunks; a full BLOCK ring waits up to timeoutMs (never on a
  // browser main thread).  Throws SABRE_EFULL when the policy drops.
  claim(n = 1, timeoutMs = 0) {
    if (isBrowserMain) timeoutMs = 0;
    this.c.check(this.c.mod._sabre_js_ring_claim(this.ptr, n, toNs(timeoutMs), this.words));
    return new Chunks(this.ring, this.words);
  }
  commit() { this.c.check(this.c.mod._sabre_js_ring_commit(this.ptr, this.words)); }
  abort() { this.c.check(this.c.mod._sabre_js_ring_abort(this.ptr, this.words)); }
  close() {
    if (this.ptr) { this.c.mod._sabre_ring_producer_close(this.ptr); this.c.free(this.words); this.ptr = 0; }
  }
}

export class Consumer {
  constructor(ring, ptr) {
    Object.assign(this, { ring, c: ring.c, ptr });
    this.words = this.c.mod._sabre_js_ring_claim_new();
  }
  setVersion(v) { this.c.mod._sabre_js_ring_consumer_set_version(this.ptr, Number(v)); }
  // Up to max chunks of one lane, or null when none came within timeoutMs
  // (0: just look; a browser main thread never waits).
  consume(max = 256, timeoutMs = 0) {
    if (isBrowserMain) timeoutMs = 0;
    const st = this.c.mod._sabre_js_ring_consume(this.ptr, max, toNs(timeoutMs), this.words);
    if (st === abi.status.SABRE_EAGAIN || st === abi.status.SABRE_ETIMEDOUT) return null;
    this.c.check(st);
    return new Chunks(this.ring, this.words);
  }
  release() { this.c.check(this.c.mod._sabre_js_ring_release(this.ptr, this.words)); }
  close() {
    if (this.ptr) { this.c.mod._sabre_ring_consumer_close(this.ptr); this.c.free(this.words); this.ptr = 0; }
  }
}
