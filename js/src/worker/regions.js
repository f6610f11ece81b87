// Finding a region by name from a pure-JS worker: the wasm module's region
// name directory (docs/abi.md, "Region names on WebAssembly"), at byte
// offset `dir` of the module memory (handle.regions).  The lookup takes the
// directory's futex mutex with Atomics, as the C side does, copies the
// entry and lets go.  The worker holds no handle: the region lives while a
// handle of the module keeps it open (the host's).
import abi from '../abi.js';
import { fail } from '../errors.js';
import { viewsOf, cstr, hex, needShared } from './mem.js';

const D = abi.structs.wasm_region_dir;
const E = abi.structs.wasm_region_dir_entry;
const K = abi.constants;

function lock(i32, at) {
  if (Atomics.compareExchange(i32, at, 0, 1) === 0) return;
  let c = Atomics.exchange(i32, at, 2);
  while (c !== 0) {
    Atomics.wait(i32, at, 2, 100); // a Worker may block; the sections are short
    c = Atomics.exchange(i32, at, 2);
  }
}

function unlock(i32, at) {
  if (Atomics.exchange(i32, at, 0) === 2) Atomics.notify(i32, at, 1);
}

// {offset, size} of the open region named `name`, or SABRE_ENOENT.
export function findRegion(buffer, dir, name) {
  needShared(buffer, `region '${name}'`);
  const m = viewsOf(buffer);
  if (!Number.isInteger(dir) || dir <= 0 || dir % 8 || dir + D.size > buffer.byteLength)
    throw fail('SABRE_EINVAL', `region directory offset is ${dir}, want handle.regions from sabre.workerHandle()`);
  const magic = m.dv.getUint32(dir + D.fields.magic, true);
  if (magic !== K.WASM_REGDIR_MAGIC_LO || m.dv.getUint32(dir + D.fields.capacity, true) !== K.WASM_REGDIR_ENTRIES)
    throw fail('SABRE_ECORRUPT', `region directory at ${dir}: magic ${hex(magic)} / capacity, want ${hex(K.WASM_REGDIR_MAGIC_LO)} / ${K.WASM_REGDIR_ENTRIES}`);
  if (typeof name !== 'string' || !name) throw fail('SABRE_EINVAL', `region name is ${JSON.stringify(name)}, want a non-empty string`);
  const at = (dir + D.fields.lock) >>> 2;
  let found = null;
  lock(m.i32, at);
  try {
    for (let i = 0; i < K.WASM_REGDIR_ENTRIES && !found; i++) {
      const e = dir + D.fields.entries + i * E.size;
      if (m.dv.getUint32(e + E.fields.state, true) !== K.WASM_REGDIR_NAMED) continue;
      if (cstr(m, e + E.fields.name, 64) === name)
        found = { offset: m.dv.getUint32(e + E.fields.base, true), size: m.dv.getUint32(e + E.fields.size, true) };
    }
  } finally {
    unlock(m.i32, at);
  }
  if (!found) throw fail('SABRE_ENOENT', `no region named '${name}' in this module (found by name while a handle keeps it open)`);
  if (found.offset + found.size > buffer.byteLength) throw fail('SABRE_ECORRUPT', `region '${name}': [${found.offset}, +${found.size}) is outside the module memory`);
  return found;
}
