// Snapshots and table chunks (the column set of docs/abi.md, "ECS table
// chunks and snapshots") seen from a pure-JS worker: typed-array views of
// every column, the entity-id column and the changed bitsets, over the
// shared buffer, never copied.  Validation follows the ABI's "Validation"
// list before any view is made.  Marking follows its atomics table: any
// number of workers may mark rows (Atomics.or on the 32-bit half of the u64
// word holding the row's bit: row r is bit r % 32 of u32 word r / 32, the
// same bit as bit r % 64 of u64 word r / 64 on a little-endian machine), and
// a marker stores the component's summary word (1).
import abi from '../abi.js';
import { fail } from '../errors.js';
import { viewsOf, u64, cstr, text, hex, needShared } from './mem.js';

const HD = abi.structs.colset_header.fields;
const CP = abi.structs.colset_comp.fields;
const CL = abi.structs.colset_col.fields;
const K = abi.constants;
const ARRAYS = {
  1: Float32Array, 2: Float64Array, 3: Int8Array, 4: Uint8Array, 5: Int16Array, 6: Uint16Array,
  7: Int32Array, 8: Uint32Array, 9: BigInt64Array, 10: BigUint64Array, 11: Uint8Array,
};
const SIZES = { 1: 4, 2: 8, 3: 1, 4: 1, 5: 2, 6: 2, 7: 4, 8: 4, 9: 8, 10: 8, 11: 1 };

export class SnapshotView {
  // buffer: the shared memory; offset/size: the object (RegionView.find).
  // local: the buffer is the transfer-mode module's own memory (an
  // ArrayBuffer only this thread sees; src/transfer.js).
  constructor(buffer, offset, size, name = 'snapshot', { local = false } = {}) {
    if (!local) needShared(buffer, `snapshot '${name}'`);
    const m = viewsOf(buffer);
    const what = `snapshot '${name}'`;
    if (offset % 64 || offset + size > buffer.byteLength || size < 256)
      throw fail('SABRE_ECORRUPT', `${what}: object [${offset}, +${size}) does not fit the buffer`);
    const magic = m.dv.getBigUint64(offset + HD.magic, true);
    const isSnap = magic === BigInt(K.COLSET_SNAP_MAGIC);
    if (!isSnap && magic !== BigInt(K.COLSET_CHUNK_MAGIC))
      throw fail('SABRE_ECORRUPT', `${what}: magic is ${hex(magic, 16)}, want ${K.COLSET_SNAP_MAGIC} or ${K.COLSET_CHUNK_MAGIC}`);
    const major = m.dv.getUint16(offset + HD.major, true);
    if (major !== K.COLSET_MAJOR)
      throw fail('SABRE_EVERSION', `${what}: column-set ABI major is ${major}, want ${K.COLSET_MAJOR}`);
    const g = (f) => u64(m, offset + HD[f], `${what}: ${f}`);
    const total = g('total_size'), capacity = g('capacity');
    const rows = Number(Atomics.load(m.u64, (offset + HD.rows) >>> 3)); // acquire
    const ncomps = m.dv.getUint32(offset + HD.ncomps, true), ncols = m.dv.getUint32(offset + HD.ncols, true);
    const ent = g('entities_off'), comps = g('comps_off'), cols = g('cols_off');
    const names = g('names_off'), namesLen = g('names_len');
    const bad = (field, v, want) => fail('SABRE_ECORRUPT', `${what}: ${field} is ${v}, want ${want}`);
    if (total > size) throw bad('total_size', total, `<= ${size}`);
    if (capacity > total / 8) throw bad('capacity', capacity, `<= ${Math.floor(total / 8)}`);
    if (rows > capacity) throw bad('rows', rows, `<= capacity ${capacity}`);
    if (ncomps > K.COLSET_MAX_COMPS) throw bad('ncomps', ncomps, `<= ${K.COLSET_MAX_COMPS}`);
    if (ncols > K.COLSET_MAX_COLS) throw bad('ncols', ncols, `<= ${K.COLSET_MAX_COLS}`);
    if (comps % 64 || comps + ncomps * 128 > total) throw bad('comps_off', comps, 'a 64-aligned table inside the object');
    if (cols % 8 || cols + ncols * 32 > total) throw bad('cols_off', cols, 'an 8-aligned table inside the object');
    if (names + namesLen > total || namesLen < 1 || m.u8[offset + names + namesLen - 1] !== 0)
      throw bad('names_off', names, 'a NUL-terminated blob inside the object');
    if (ent % 64 || ent + capacity * 8 > total) throw bad('entities_off', ent, 'a 64-aligned u64 column inside the object');
    const nameAt = (off, len) => {
      if (off + len >= namesLen) throw bad('name_off', off, `< ${namesLen}`);
      return text(m, offset + names + off, len);
    };
    this.name = name;
    this.kind = isSnap ? 'snapshot' : 'chunk';
    this.buffer = buffer;
    this.offset = offset;
    this.rows = rows;
    this.capacity = capacity;
    this.uid = m.dv.getBigUint64(offset + HD.uid, true);
    // Entity ids: u64 (index low 32 bits, generation high 32 bits).
    this.entities = new BigUint64Array(buffer, offset + ent, rows);
    // The same ids as [index, generation] pairs: entityIndex[2*i] is row i's index.
    this.entityWords = new Uint32Array(buffer, offset + ent, rows * 2);
    this.components = {};
    const words = Math.ceil(capacity / 64);
    for (let i = 0; i < ncomps; i++) {
      const c = offset + comps + i * 128;
      const first = m.dv.getUint32(c + CP.first_col, true), n = m.dv.getUint32(c + CP.ncols, true);
      if (first + n > ncols) throw bad(`component ${i} columns`, `${first}+${n}`, `<= ${ncols}`);
      const chOff = u64(m, c + CP.changed_off, `${what}: changed_off`);
      if (chOff % 8 || chOff + words * 8 > total) throw bad(`component ${i} changed_off`, chOff, 'an 8-aligned bitset inside the object');
      const cname = nameAt(m.dv.getUint32(c + CP.name_off, true), m.dv.getUint32(c + CP.name_len, true));
      const columns = {};
      for (let j = first; j < first + n; j++) {
        const cc = offset + cols + j * 32;
        const type = m.dv.getUint32(cc + CL.type, true), es = m.dv.getUint32(cc + CL.elem_size, true);
        const data = u64(m, cc + CL.data_off, `${what}: data_off`);
        if (!ARRAYS[type] || SIZES[type] !== es) throw bad(`column ${j} type`, `${type}/${es} bytes`, 'a known scalar type of its size');
        if (data % es || data + capacity * es > total) throw bad(`column ${j} data_off`, data, 'an aligned column inside the object');
        if (m.dv.getUint32(cc + CL.comp_index, true) !== i) throw bad(`column ${j} comp_index`, m.dv.getUint32(cc + CL.comp_index, true), i);
        const cn = nameAt(m.dv.getUint32(cc + CL.name_off, true), m.dv.getUint32(cc + CL.name_len, true));
        columns[cn] = new ARRAYS[type](buffer, offset + data, rows);
      }
      const changed = new Int32Array(buffer, offset + chOff, words * 2);
      const summary = (c + CP.summary) >>> 2;
      this.components[cname] = new ComponentView(cname, columns, changed, m.i32, summary, rows);
    }
  }

  component(name) {
    const c = this.components[name];
    if (!c) throw fail('SABRE_ENOENT', `snapshot '${this.name}': component is '${name}', want one of ${Object.keys(this.components).join(', ')}`);
    return c;
  }
}

export class ComponentView {
  constructor(name, columns, changed, i32, summaryIndex, rows) {
    this.name = name;
    this.columns = columns;
    this.changed = changed; // Int32Array over the u64 bitset words
    this.rows = rows;
    this._i32 = i32;
    this._summary = summaryIndex;
  }

  column(name) {
    const c = this.columns[name];
    if (!c) throw fail('SABRE_ENOENT', `component '${this.name}': column is '${name}', want one of ${Object.keys(this.columns).join(', ')}`);
    return c;
  }

  mark(row) {
    if (!(row >= 0 && row < this.rows)) throw fail('SABRE_ERANGE', `component '${this.name}': row is ${row}, want 0..${this.rows - 1}`);
    Atomics.or(this.changed, row >>> 5, 1 << (row & 31));
    Atomics.store(this._i32, this._summary, 1);
  }

  // Rows [first, first + n): whole 32-bit words with one Atomics.or each.
  markRange(first, n) {
    if (!(first >= 0 && n >= 0 && first + n <= this.rows))
      throw fail('SABRE_ERANGE', `component '${this.name}': rows [${first}, +${n}), want inside 0..${this.rows}`);
    let r = first;
    const end = first + n;
    while (r < end) {
      const w = r >>> 5, lo = r & 31, hi = Math.min(32, lo + (end - r));
      const bits = hi - lo === 32 ? -1 : (((1 << (hi - lo)) - 1) << lo);
      Atomics.or(this.changed, w, bits);
      r += hi - lo;
    }
    if (n) Atomics.store(this._i32, this._summary, 1);
  }

  isChanged(row) {
    return row >= 0 && row < this.rows && (Atomics.load(this.changed, row >>> 5) & (1 << (row & 31))) !== 0;
  }
}
