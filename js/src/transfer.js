// Transfer mode: ECS snapshot offload without shared memory (docs/js.md,
// "Without cross-origin isolation").  A page served without COOP/COEP has
// no SharedArrayBuffer, so Workers cannot view the module memory; instead
// the host copies rows [begin, end) of a snapshot into one ArrayBuffer per
// Worker (split), moves it there with a postMessage transfer list (no copy),
// the Worker mutates its rows and marks the changed ones (SnapshotPart, pure
// JS, no wasm), moves the buffer back, and merge() writes the changed rows
// and their changed bits into the snapshot, so commit() writes them into the
// world.  (The design notes' fallback moved the buffers but lost the
// Workers' changes; here they are kept.)
//
// Part buffer layout (bytes, every array 8-aligned, rows local 0..rows-1):
//   entity ids u64[rows] | per component: per column T[rows] ... | changed u32[ceil(rows/32)]
// described by `meta` (plain data, cloned by postMessage).
//
// Ownership: a part belongs to whoever holds its buffer; after postMessage
// with [part.buffer] the sender's buffer is detached (byteLength 0).  A part
// merges once, into the snapshot view it was split from (a rebuild makes
// new views: older parts are refused).  Thread-safety: none needed, every
// buffer has one owner at a time.  Errors: SabreError.
import { fail } from './errors.js';

const TYPES = {
  Float32Array, Float64Array, Int8Array, Uint8Array, Int16Array, Uint16Array,
  Int32Array, Uint32Array, BigInt64Array, BigUint64Array,
};
const align8 = (x) => (x + 7) & ~7;
const outstanding = new WeakMap(); // SnapshotView -> Map(part id -> meta)
let nextPartId = 1;

// Copies rows [begin, end) of each range of `view` (a SnapshotView) into one
// ArrayBuffer per range: [{meta, buffer}], to post with [part.buffer].
// `spare` (optional): an array of buffers merged earlier, reused before
// allocating (a fresh buffer costs page faults on every frame).
export function splitSnapshot(view, ranges, spare = null) {
  if (!Array.isArray(ranges)) throw fail('SABRE_EINVAL', `snapshot '${view.name}': ranges is ${typeof ranges}, want [[begin, end], ...]`);
  let parts = outstanding.get(view);
  if (!parts) outstanding.set(view, (parts = new Map()));
  return ranges.map(([begin, end]) => {
    if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && begin <= end && end <= view.rows))
      throw fail('SABRE_ERANGE', `snapshot '${view.name}': rows [${begin}, ${end}), want inside 0..${view.rows}`);
    const rows = end - begin;
    let off = align8(rows * 8);
    const comps = [];
    for (const [cname, comp] of Object.entries(view.components)) {
      const columns = [];
      for (const [name, col] of Object.entries(comp.columns)) {
        columns.push({ name, type: col.constructor.name, off });
        off = align8(off + rows * col.BYTES_PER_ELEMENT);
      }
      comps.push({ name: cname, columns, changed: off });
      off = align8(off + Math.ceil(rows / 32) * 4);
    }
    let buffer = null;
    if (spare) {
      const i = spare.findIndex((b) => b.byteLength >= off && b.byteLength <= 2 * off + 4096);
      if (i >= 0) {
        buffer = spare.splice(i, 1)[0];
        for (const c of comps) new Uint32Array(buffer, c.changed, Math.ceil(rows / 32)).fill(0);
      }
    }
    if (!buffer) buffer = new ArrayBuffer(Math.max(8, off));
    new BigUint64Array(buffer, 0, rows).set(view.entities.subarray(begin, end));
    for (const c of comps) {
      const comp = view.components[c.name];
      for (const col of c.columns) {
        const src = comp.columns[col.name];
        new TYPES[col.type](buffer, col.off, rows).set(src.subarray(begin, end));
      }
    }
    const meta = { id: nextPartId++, snapshot: view.name, uid: String(view.uid), begin, rows, comps };
    parts.set(meta.id, meta);
    return { meta, buffer };
  });
}

// Writes the changed rows of a part that came back (every column of each
// component whose row the Worker marked) into the snapshot and sets their
// changed bits.  Returns the number of (component, row) pairs merged.  The
// buffer then goes to `spare` (when given) for the next split to reuse:
// the caller must not use it after merging.
export function mergePart(view, part, spare = null) {
  const meta = part && part.meta, buffer = part && part.buffer;
  if (!meta || !(buffer instanceof ArrayBuffer))
    throw fail('SABRE_EINVAL', `snapshot '${view.name}': part is ${typeof part}, want {meta, buffer} from split()`);
  const parts = outstanding.get(view);
  const mine = parts && parts.get(meta.id);
  if (!mine || mine.uid !== meta.uid)
    throw fail('SABRE_ESTALE', `snapshot '${view.name}': part ${meta.id} is not outstanding (already merged, split before the last rebuild, or from another snapshot)`);
  if (buffer.byteLength === 0)
    throw fail('SABRE_EINVAL', `snapshot '${view.name}': part ${meta.id}'s buffer is detached: post it back with [part.buffer] in the transfer list`);
  const { begin, rows } = mine;
  let merged = 0;
  for (const c of mine.comps) {
    const comp = view.components[c.name];
    const words = new Uint32Array(buffer, c.changed, Math.ceil(rows / 32));
    const src = c.columns.map((col) => new TYPES[col.type](buffer, col.off, rows));
    const dst = c.columns.map((col) => comp.columns[col.name]);
    let any = false;
    const tail = rows & 31; // bits past the part's rows are not rows: ignored
    for (let w = 0; w < words.length; w++) {
      let bits = w === words.length - 1 && tail ? words[w] & ((1 << tail) - 1) : words[w];
      if (!bits) continue;
      any = true;
      if (bits === 0xffffffff && (begin & 31) === 0) { // whole words, aligned: copy the run at once
        let e = w; // (a partial last word never reads as whole: the tail mask)
        while (e + 1 < words.length && words[e + 1] === 0xffffffff && (e + 2) * 32 <= rows) e++;
        const r0 = w * 32, r1 = Math.min(rows, (e + 1) * 32);
        for (let k = 0; k < src.length; k++) dst[k].set(src[k].subarray(r0, r1), begin + r0);
        comp.changed.fill(-1, (begin >>> 5) + w, (begin >>> 5) + e + 1); // one owner in transfer mode
        merged += r1 - r0;
        w = e;
        continue;
      }
      while (bits) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const r = w * 32 + b, g = begin + r;
        for (let k = 0; k < src.length; k++) dst[k][g] = src[k][r];
        Atomics.or(comp.changed, g >>> 5, 1 << (g & 31));
        merged++;
      }
    }
    if (any) Atomics.store(comp._i32, comp._summary, 1);
  }
  parts.delete(meta.id);
  if (spare && spare.length < 64) spare.push(buffer);
  return merged;
}

// A part in a Worker (or anywhere): typed arrays over its buffer, rows local
// 0..rows-1 (snapshot row = begin + local row).  Pure JS, no wasm.
export class SnapshotPart {
  constructor(part) {
    const meta = part && part.meta, buffer = part && part.buffer;
    if (!meta || !(buffer instanceof ArrayBuffer) || !Array.isArray(meta.comps))
      throw fail('SABRE_EINVAL', `snapshot part is ${typeof part}, want {meta, buffer} from Snapshot.split()`);
    if (buffer.byteLength === 0) throw fail('SABRE_EINVAL', `snapshot part ${meta.id}: buffer is detached (it was posted on)`);
    const rows = meta.rows;
    this.meta = meta;
    this.buffer = buffer;
    this.name = meta.snapshot;
    this.begin = meta.begin;
    this.rows = rows;
    this.entities = new BigUint64Array(buffer, 0, rows);
    this.entityWords = new Uint32Array(buffer, 0, rows * 2);
    this.components = {};
    for (const c of meta.comps) {
      const columns = {};
      for (const col of c.columns) {
        if (!TYPES[col.type] || col.off % 8 || col.off + rows * TYPES[col.type].BYTES_PER_ELEMENT > buffer.byteLength)
          throw fail('SABRE_ECORRUPT', `snapshot part ${meta.id}: column '${c.name}.${col.name}' does not fit its ${buffer.byteLength}-byte buffer`);
        columns[col.name] = new TYPES[col.type](buffer, col.off, rows);
      }
      this.components[c.name] = new PartComponent(c.name, columns, new Uint32Array(buffer, c.changed, Math.ceil(rows / 32)), rows);
    }
  }

  component(name) {
    const c = this.components[name];
    if (!c) throw fail('SABRE_ENOENT', `snapshot part '${this.name}': component is '${name}', want one of ${Object.keys(this.components).join(', ')}`);
    return c;
  }

  // What to post back: {meta, buffer}; post it with [buffer] as the transfer list.
  release() { return { meta: this.meta, buffer: this.buffer }; }
}

class PartComponent {
  constructor(name, columns, changed, rows) { Object.assign(this, { name, columns, changed, rows }); }

  column(name) {
    const c = this.columns[name];
    if (!c) throw fail('SABRE_ENOENT', `component '${this.name}': column is '${name}', want one of ${Object.keys(this.columns).join(', ')}`);
    return c;
  }

  mark(row) {
    if (!(row >= 0 && row < this.rows)) throw fail('SABRE_ERANGE', `component '${this.name}': row is ${row}, want 0..${this.rows - 1}`);
    this.changed[row >>> 5] |= 1 << (row & 31);
  }

  markRange(first, n) {
    if (!(first >= 0 && n >= 0 && first + n <= this.rows))
      throw fail('SABRE_ERANGE', `component '${this.name}': rows [${first}, +${n}), want inside 0..${this.rows}`);
    for (let r = first; r < first + n; r++) this.changed[r >>> 5] |= 1 << (r & 31);
  }

  isChanged(row) { return row >= 0 && row < this.rows && (this.changed[row >>> 5] & (1 << (row & 31))) !== 0; }
}
