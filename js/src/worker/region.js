// A region seen from a pure-JS worker: the header and directory of
// docs/abi.md ("Region"), read with Atomics where the table says so and
// validated before use.  `base` is the region's byte offset in the buffer
// (the wasm module's memory, where regions live at a malloc'ed address).
import abi from '../abi.js';
import { fail } from '../errors.js';
import { viewsOf, u64, cstr, text, hex, needShared } from './mem.js';

const H = abi.structs.region_header.fields;
const E = abi.structs.dir_entry.fields;
const C = abi.constants;
const KIND_NAMES = Object.fromEntries(Object.entries(abi.kinds).map(([k, v]) => [v, k]));

export class RegionView {
  constructor(buffer, base) {
    needShared(buffer, 'region');
    const m = viewsOf(buffer);
    if (!Number.isInteger(base) || base < 0 || base % 64 !== 0 || base + C.REGION_HEADER_SIZE > buffer.byteLength)
      throw fail('SABRE_EINVAL', `region at ${base}: offset is not a 64-aligned offset inside the ${buffer.byteLength}-byte buffer`);
    const magic = m.dv.getBigUint64(base + H.magic, true);
    if (magic !== BigInt(C.REGION_MAGIC))
      throw fail('SABRE_ECORRUPT', `region at ${base}: magic is ${hex(magic, 16)}, want ${C.REGION_MAGIC}`);
    const init = Atomics.load(m.u32, (base + H.initialised) >>> 2);
    if (init !== 1)
      throw fail(init === 0 ? 'SABRE_EBUSY' : 'SABRE_ECORRUPT', `region at ${base}: initialised is ${init}, want 1`);
    const major = m.dv.getUint16(base + H.abi_major, true);
    if (major !== C.REGION_ABI_MAJOR)
      throw fail('SABRE_EVERSION', `region at ${base}: ABI major is ${major}, want ${C.REGION_ABI_MAJOR}`);
    const total = u64(m, base + H.total_size, `region at ${base}: total_size`);
    if (total < C.REGION_HEADER_SIZE || base + total > buffer.byteLength)
      throw fail('SABRE_ECORRUPT', `region at ${base}: total_size is ${total}, want 512..${buffer.byteLength - base}`);
    const dirOff = u64(m, base + H.dir_offset, `region at ${base}: dir_offset`);
    const cap = m.dv.getUint32(base + H.dir_capacity, true);
    const esz = m.dv.getUint32(base + H.dir_entry_size, true);
    const dataOff = u64(m, base + H.data_offset, `region at ${base}: data_offset`);
    if (esz < C.DIR_ENTRY_SIZE || esz % 64) throw fail('SABRE_EVERSION', `region at ${base}: dir_entry_size is ${esz}, want ${C.DIR_ENTRY_SIZE}`);
    if (dirOff < C.REGION_HEADER_SIZE || dirOff % 64 || cap < 1 || cap > 1 << 20 || dirOff + cap * esz > dataOff || dataOff > total)
      throw fail('SABRE_ECORRUPT', `region at ${base}: directory [${dirOff}, +${cap}x${esz}) and data_offset ${dataOff} do not fit ${total} bytes`);
    Object.assign(this, { buffer, base, m, total, dirOff, cap, esz, dataOff });
  }

  // Every READY object: {index, kind, kindName, name, offset (absolute, in
  // the buffer), size, layoutText}.
  objects() {
    const out = [];
    for (let i = 0; i < this.cap; i++) {
      const o = this.#entry(i);
      if (o === null) break;
      if (o) out.push(o);
    }
    return out;
  }

  find(name, kind) {
    for (let i = 0; i < this.cap; i++) {
      const o = this.#entry(i);
      if (o === null) break;
      if (o && o.name === name) {
        if (kind !== undefined && o.kind !== kind)
          throw fail('SABRE_EINVAL', `object '${name}': kind is ${o.kindName}, want ${KIND_NAMES[kind]}`);
        return o;
      }
    }
    throw fail('SABRE_ENOENT', `object '${name}': not in the region at ${this.base}`);
  }

  // null: EMPTY (end of the directory); false: not READY; else the object.
  #entry(i) {
    const { m, base } = this;
    const e = base + this.dirOff + i * this.esz;
    const state = Atomics.load(m.u64, (e + E.state) >>> 3); // acquire
    const code = Number(state & 0xffn);
    if (code === C.DIR_EMPTY) return null;
    if (code !== C.DIR_READY) return false;
    const name = cstr(m, e + E.name, 48);
    const kind = m.dv.getUint32(e + E.kind, true);
    const off = u64(m, e + E.offset, `object '${name}': offset`);
    const size = u64(m, e + E.size, `object '${name}': size`);
    const used = Number(Atomics.load(m.u64, (base + H.used) >>> 3));
    if (off < this.dataOff || off + size > used || used > this.total)
      throw fail('SABRE_ECORRUPT', `object '${name}': [${off}, +${size}) is outside the object area [${this.dataOff}, ${used})`);
    const lo = u64(m, e + E.layout_offset, `object '${name}': layout_offset`);
    const ll = u64(m, e + E.layout_len, `object '${name}': layout_len`);
    if (ll && (lo < this.dataOff || lo + ll + 1 > off))
      throw fail('SABRE_ECORRUPT', `object '${name}': layout text [${lo}, +${ll}) is outside its allocation`);
    return {
      index: i, kind, kindName: KIND_NAMES[kind] || `app:${kind}`, name,
      offset: base + off, size, layoutText: ll ? text(m, base + lo, ll) : '',
    };
  }
}
