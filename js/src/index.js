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
import { SnapshotView } from './worker/snapshot.js';
import { splitSnapshot, mergePart, SnapshotPart } from './transfer.js';
import abi from './abi.js';

export { SabreError, abi, SnapshotPart };

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
  if (mode === 'transfer') return new Sabre(new CApi(await loadTransferModule(opts)), mode);
  return new Sabre(new CApi(await loadModule(opts)), mode);
}

// Transfer mode runs the module built without shared memory (scripts/wasm.sh:
// build/wasm-nosab, copied to js/dist/nosab/): regions, worlds and
// snapshots in a plain ArrayBuffer; Workers get snapshot rows by transfer.
async function loadTransferModule(opts) {
  const base = new URL('../dist/nosab/', import.meta.url).href;
  try {
    return await loadModule({ moduleUrl: opts.nosabModuleUrl || base + 'sabre.mjs', wasmUrl: opts.nosabWasmUrl || base + 'sabre.wasm' });
  } catch (e) {
    throw fail('SABRE_ENOENT', `transfer mode: cannot load the module without shared memory (${base}sabre.mjs; bash scripts/wasm.sh builds it): ${e.message}`);
  }
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

  // Weights, rings, parties and worker handles need the memory shared.
  needShared(what) {
    if (this.mode !== 'shared') throw fail('SABRE_ENOTSUP', `${what}: ${COOP_COEP} (this page runs in transfer mode)`);
    return this.#need(what);
  }

  // The module memory: one SharedArrayBuffer (an ArrayBuffer in transfer mode), fixed size.
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
    const c = this.needShared('party');
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
    this.needShared('host a Worker');
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

  // What a pure-JS worker needs: {buffer, region, parties, party}, and
  // `regions`, the region name directory, for attach({..., regionName}).
  workerHandle(region, party) {
    const c = this.needShared('worker handle');
    return { buffer: this.buffer, region: region?.base, regions: c.mod._sabre__wasm_region_dir(), parties: c.mod._sabre__plat_party_table(), party };
  }

  // Another handle to the open PRIVATE region named `name` of this module
  // (docs/abi.md, "Region names on WebAssembly"): the region lives until
  // its last handle closes.  SABRE_ENOENT if none is open under that name.
  findRegion(name, { readonly = false } = {}) {
    const c = this.#need('region');
    const p = c.str(name);
    try { c.check(c.mod._sabre_js_region_open(0, p, readonly ? 2 : 0, c.out)); } finally { c.free(p); }
    return new Region(this, c, c.o(0), name);
  }

  // Takes the name of a PRIVATE region away (its handles keep it open).
  unlinkRegion(name) {
    const c = this.#need('region');
    const p = c.str(name);
    try { c.check(c.mod._sabre_js_region_unlink(p)); } finally { c.free(p); }
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
    this.sabre.needShared(`weights '${name}'`);
    const c = this.#live();
    const pn = c.str(name), pl = c.str(layoutText);
    try {
      c.check(c.mod._sabre_js_weights_create(this.ptr, pn, c.n64(size, `weights '${name}': size`), slots, readers, shapeHash, f32 ? 1 : 0, pl, c.out));
    } finally { c.free(pn); c.free(pl); }
    return new Weights(this, c.o(0), name);
  }

  openWeights(name) {
    this.sabre.needShared(`weights '${name}'`);
    const c = this.#live();
    const pn = c.str(name);
    try { c.check(c.mod._sabre_js_weights_open(this.ptr, pn, c.out)); } finally { c.free(pn); }
    return new Weights(this, c.o(0), name);
  }

  // shape: 'lanes' | 'mpsc'; policy: 'drop' | 'block' | 'overwrite'.
  createRing(name, { schema, layout, steps = 1, envs = 1, capacity = 0, producers = 0, shape = 'lanes', policy = 'drop', recordSize = 0, reclaimMs = 0 } = {}) {
    this.sabre.needShared(`ring '${name}'`);
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
    this.sabre.needShared(`ring '${name}'`);
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

// ---- ECS -------------------------------------------------------------------

const SCALAR_SET = {
  f32: (dv, o, v) => dv.setFloat32(o, v, true), f64: (dv, o, v) => dv.setFloat64(o, v, true),
  i8: (dv, o, v) => dv.setInt8(o, v), u8: (dv, o, v) => dv.setUint8(o, v), bool: (dv, o, v) => dv.setUint8(o, v ? 1 : 0),
  i16: (dv, o, v) => dv.setInt16(o, v, true), u16: (dv, o, v) => dv.setUint16(o, v, true),
  i32: (dv, o, v) => dv.setInt32(o, v, true), u32: (dv, o, v) => dv.setUint32(o, v, true),
  i64: (dv, o, v) => dv.setBigInt64(o, BigInt(v), true), u64: (dv, o, v) => dv.setBigUint64(o, BigInt(v), true),
};
const SCALAR_GET = {
  f32: (dv, o) => dv.getFloat32(o, true), f64: (dv, o) => dv.getFloat64(o, true), i8: (dv, o) => dv.getInt8(o),
  u8: (dv, o) => dv.getUint8(o), bool: (dv, o) => dv.getUint8(o) !== 0, i16: (dv, o) => dv.getInt16(o, true),
  u16: (dv, o) => dv.getUint16(o, true), i32: (dv, o) => dv.getInt32(o, true), u32: (dv, o) => dv.getUint32(o, true),
  i64: (dv, o) => dv.getBigInt64(o, true), u64: (dv, o) => dv.getBigUint64(o, true),
};

Region.prototype.createWorld = function createWorld({ prefix = 'ecs', chunkRows = 0 } = {}) {
  const c = this.c;
  const pp = c.str(prefix);
  try { c.check(c.mod._sabre_js_world_create(this.ptr, pp, chunkRows, c.out)); } finally { c.free(pp); }
  return new World(this, c.o(0), prefix);
};

const lohi = (e) => { e = BigInt(e); return [Number(e & 0xffffffffn), Number(e >> 32n)]; };

export class World {
  constructor(region, ptr, prefix) {
    Object.assign(this, { region, sabre: region.sabre, c: region.c, ptr, prefix });
    this.components = {};
    this.scratch = this.c.mod._malloc(4096);
  }

  // A component from schema text (its root struct); columns are the
  // flattened columns of that struct.
  defineComponent(name, schemaText) {
    const c = this.c;
    const layout = this.sabre.schema(schemaText);
    const pn = c.str(name), ps = c.str(schemaText);
    try { c.check(c.mod._sabre_js_component_define(this.ptr, pn, ps, c.out)); } finally { c.free(pn); c.free(ps); layout.free(); }
    const comp = { id: c.o(0), name, size: c.o(1), layout: layout.root };
    this.components[name] = comp;
    return comp;
  }

  #ids(list) {
    const c = this.c, p = c.mod._malloc(4 * Math.max(1, list.length));
    list.forEach((x, i) => { c.mod.HEAPU32[(p >>> 2) + i] = x.id; });
    return p;
  }

  // n entities with these components (zero values).  Returns [first, last] ids.
  spawn(n, comps) {
    const c = this.c, p = this.#ids(comps);
    try { c.check(c.mod._sabre_js_spawn(this.ptr, p, comps.length, n, c.out)); } finally { c.free(p); }
    return [BigInt(c.o(0)) | (BigInt(c.o(1)) << 32n), BigInt(c.o(2)) | (BigInt(c.o(3)) << 32n)];
  }

  destroy(e) { const [lo, hi] = lohi(e); this.c.check(this.c.mod._sabre_js_entity_destroy(this.ptr, lo, hi)); }
  alive(e) { const [lo, hi] = lohi(e); return this.c.mod._sabre_js_entity_alive(this.ptr, lo, hi) !== 0; }

  #encode(comp, value) {
    if (comp.size > 4096) throw fail('SABRE_EINVAL', `component '${comp.name}': size is ${comp.size}, want <= 4096 for set/get`);
    const dv = new DataView(this.sabre.buffer, this.scratch, comp.size);
    new Uint8Array(this.sabre.buffer, this.scratch, comp.size).fill(0);
    for (const col of comp.layout.columns) if (value[col.name] !== undefined) SCALAR_SET[col.type](dv, col.offset, value[col.name]);
  }

  set(e, comp, value) {
    const [lo, hi] = lohi(e);
    this.#encode(comp, value);
    this.c.check(this.c.mod._sabre_js_set(this.ptr, lo, hi, comp.id, this.scratch));
  }

  add(e, comp, value = {}) {
    const [lo, hi] = lohi(e);
    this.#encode(comp, value);
    this.c.check(this.c.mod._sabre_js_add(this.ptr, lo, hi, comp.id, this.scratch));
  }

  remove(e, comp) { const [lo, hi] = lohi(e); this.c.check(this.c.mod._sabre_js_remove(this.ptr, lo, hi, comp.id)); }

  get(e, comp) {
    const [lo, hi] = lohi(e);
    this.c.check(this.c.mod._sabre_js_get(this.ptr, lo, hi, comp.id, this.scratch));
    const dv = new DataView(this.sabre.buffer, this.scratch, comp.size), out = {};
    for (const col of comp.layout.columns) out[col.name] = SCALAR_GET[col.type](dv, col.offset);
    return out;
  }

  get count() { return this.c.mod._sabre_js_world_count(this.ptr); }
  get tick() { return this.c.mod._sabre_js_world_tick(this.ptr); }
  beginTick() { this.c.check(this.c.mod._sabre_world_begin_tick(this.ptr)); }
  endTick() { this.c.check(this.c.mod._sabre_world_end_tick(this.ptr)); }

  query({ all = [], none = [], changed = [] } = {}) {
    const c = this.c, pa = this.#ids(all), pn = this.#ids(none), pc = this.#ids(changed);
    try { c.check(c.mod._sabre_js_query_create(this.ptr, pa, all.length, pn, none.length, pc, changed.length, c.out)); }
    finally { c.free(pa); c.free(pn); c.free(pc); }
    return new Query(this, c.o(0));
  }

  // A snapshot of the query's rows (docs/ecs.md): `read` components are
  // copied, `write` ones copied and written back by commit() for the rows
  // whose changed bit a worker set.  Lives in this world's region as object
  // `name`, where pure-JS workers find it (sabre/worker attach().snapshot).
  snapshot(query, { read = [], write = [], name = 'snapshot' } = {}) {
    const c = this.c, comps = [...write, ...read];
    const pc = this.#ids(comps), pw = c.mod._malloc(Math.max(1, comps.length)), pn = c.str(name);
    comps.forEach((x, i) => { c.mod.HEAPU8[pw + i] = i < write.length ? 1 : 0; });
    try { c.check(c.mod._sabre_js_snapshot_build(this.ptr, query.ptr, pc, pw, comps.length, 0, this.region.ptr, pn, c.out)); }
    finally { c.free(pc); c.free(pw); c.free(pn); }
    return new Snapshot(this, c.o(0), name, query, c.o(1), c.o(2));
  }

  // Native views of the tables (the "natively SoA" path: workers write the
  // source of truth): [{table, chunks: [{name-less view args}]}].
  tables() {
    const c = this.c, n = c.mod._sabre_js_table_count(this.ptr), out = [];
    for (let t = 0; t < n; t++) {
      c.check(c.mod._sabre_js_table_chunks(this.ptr, t, c.out));
      const nchunks = c.o(0), chunks = [];
      for (let k = 0; k < nchunks; k++) {
        c.check(c.mod._sabre_js_table_chunk(this.ptr, t, k, c.out));
        chunks.push({ rows: c.o(0), offset: c.o(1), size: c.o(2) });
      }
      out.push({ table: t, chunks });
    }
    return out;
  }

  chunkView(table, chunk) {
    const ch = this.tables()[table]?.chunks[chunk];
    if (!ch) throw fail('SABRE_ERANGE', `world '${this.prefix}': table ${table} chunk ${chunk} does not exist`);
    return new SnapshotView(this.sabre.buffer, ch.offset, ch.size, `${this.prefix}.t${table}.${chunk}`, { local: this.sabre.mode !== 'shared' });
  }

  close() {
    if (this.ptr) { this.c.mod._sabre_world_destroy(this.ptr); this.c.free(this.scratch); this.ptr = 0; }
  }
}

export class Query {
  constructor(world, ptr) { Object.assign(this, { world, ptr }); }
  count() { return this.world.c.mod._sabre_js_query_count(this.ptr); }
  close() { if (this.ptr) { this.world.c.mod._sabre_query_destroy(this.ptr); this.ptr = 0; } }
}

export class Snapshot {
  constructor(world, ptr, name, query, offset, size) {
    Object.assign(this, { world, c: world.c, ptr, name, query, offset, size });
    this.view = new SnapshotView(world.sabre.buffer, offset, size, name, { local: world.sabre.mode !== 'shared' });
  }
  get rows() { return this.view.rows; }
  component(name) { return this.view.component(name); }
  // Refill from the world (same spec; buffers reused, changed bits cleared).
  rebuild() {
    const c = this.c;
    c.check(c.mod._sabre_js_snapshot_rebuild(this.world.ptr, this.ptr, this.query.ptr, c.out));
    this.view = new SnapshotView(this.world.sabre.buffer, c.o(1) || this.offset, c.o(2) || this.size, this.name, { local: this.world.sabre.mode !== 'shared' });
    return this;
  }
  // Transfer mode (src/transfer.js; works in both modes): rows [begin, end)
  // of each range copied into one ArrayBuffer each, [{meta, buffer}], to
  // move to Workers with postMessage(part, [part.buffer]).
  split(ranges) { return splitSnapshot(this.view, ranges, (this.spare ||= [])); }
  // A part moved back: its changed rows and bits into this snapshot (then
  // commit() writes them into the world).  Returns the rows merged.  Its
  // buffer is then reused by the next split(): do not keep using it.
  merge(part) { return mergePart(this.view, part, (this.spare ||= [])); }
  // Write the changed rows of `write` components back: {written, skippedDead,
  // skippedMissing, skippedReadonly}.
  commit() {
    const c = this.c;
    c.check(c.mod._sabre_js_snapshot_commit(this.world.ptr, this.ptr, c.out));
    return { written: c.o(0), skippedDead: c.o(1), skippedMissing: c.o(2), skippedReadonly: c.o(3) };
  }
  free() { if (this.ptr) { this.c.mod._sabre_snapshot_free(this.ptr); this.ptr = 0; } }
}
