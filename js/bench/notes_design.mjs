// The design notes' own snapshot offload (seeds/zero-copy-snapshots-and-
// workers.md, sections 1-3), transcribed from TypeScript to plain JS for the
// baseline of bench/physics.mjs: object components in a minimal World, a
// snapshot builder that allocates fresh SharedArrayBuffers per field each
// frame and fills them row by row through world.get, a worker job that
// marks a Uint8Array bitset, and a commit through world.get/world.set of
// every changed row.  Only what the notes leave out (their World) is
// written here, as plainly as the notes use it.

const T = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u32: Uint32Array, i16: Int16Array, u16: Uint16Array, i8: Int8Array, u8: Uint8Array };

export class World {
  constructor() { this.next = 0; this.alive = []; this.stores = []; }
  defineComponent({ name, defaults }) { const id = this.stores.length; this.stores.push([]); return { id, name, defaults }; }
  createEntity() { const e = this.next++; this.alive[e] = true; return e; }
  add(e, ctype, v) { this.stores[ctype.id][e] = v ?? ctype.defaults(); }
  get(e, ctype) { return this.stores[ctype.id][e]; }
  set(e, ctype, v) { this.stores[ctype.id][e] = v; }
  isAlive(e) { return this.alive[e] === true; }
  makeQuery({ all }) { return { all }; }
  *iter(q) {
    outer: for (let e = 0; e < this.next; e++) {
      if (!this.alive[e]) continue;
      for (const c of q.all) if (this.stores[c.id][e] === undefined) continue outer;
      yield [e];
    }
  }
}

export function canUseSAB() { return typeof SharedArrayBuffer !== 'undefined'; }

export function allocColumns(rows, layout, shared) {
  const fields = {};
  for (const [k, ty] of Object.entries(layout.fields)) {
    const Ctor = T[ty];
    const buf = shared ? new SharedArrayBuffer(Ctor.BYTES_PER_ELEMENT * rows) : new ArrayBuffer(Ctor.BYTES_PER_ELEMENT * rows);
    fields[k] = new Ctor(buf);
  }
  const chBuf = shared ? new SharedArrayBuffer(Math.ceil(rows / 8)) : new ArrayBuffer(Math.ceil(rows / 8));
  return { fields, changed: new Uint8Array(chBuf) };
}

export function markChanged(bitset, i) { bitset[i >> 3] |= (1 << (i & 7)); }
export function isChanged(bitset, i) { return (bitset[i >> 3] & (1 << (i & 7))) !== 0; }

export function buildSnapshot(world, spec, query) {
  const shared = canUseSAB();
  let rows = 0;
  for (const _ of world.iter(query)) rows++;
  const eids = new Int32Array(shared ? new SharedArrayBuffer(4 * rows) : new ArrayBuffer(4 * rows));
  const comps = {};
  for (const L of spec.layouts) comps[L.cid] = allocColumns(rows, L, shared);
  let i = 0;
  for (const [e] of world.iter(query)) {
    eids[i] = e;
    for (const L of spec.layouts) {
      const v = world.get(e, spec.types[L.cid]);
      if (v == null) continue;
      for (const [field] of Object.entries(L.fields)) comps[L.cid].fields[field][i] = v[field] ?? 0;
    }
    i++;
  }
  return { snap: { shared, rows, eids, comps }, transfer: [] };
}

export function commitSnapshot(world, spec, snap) {
  const rows = snap.rows;
  for (const L of spec.layouts) {
    const ctype = spec.types[L.cid];
    const cols = snap.comps[L.cid];
    const changed = cols.changed;
    let any = false;
    for (let b = 0; b < changed.length; b++) if (changed[b]) { any = true; break; }
    if (!any) continue;
    for (let i = 0; i < rows; i++) {
      if (!isChanged(changed, i)) continue;
      const eid = snap.eids[i];
      if (!world.isAlive(eid)) continue;
      const cur = world.get(eid, ctype) ?? {};
      for (const [field, arr] of Object.entries(cols.fields)) cur[field] = arr[i];
      world.set(eid, ctype, cur);
    }
  }
}

// The notes' worker job (3a), over a row range so two workers share a frame.
export function handle({ snap, dt, extra, begin, end }) {
  const pos = snap.comps[extra.POS].fields, vel = snap.comps[extra.VEL].fields;
  const px = pos.x, py = pos.y, vx = vel.x, vy = vel.y;
  const changed = snap.comps[extra.POS].changed;
  for (let i = begin; i < end; i++) {
    if (vx && vy) { px[i] += vx[i] * dt; py[i] += vy[i] * dt; markChanged(changed, i); }
  }
  return 1;
}
