// Regions found by name by any Worker of the module (docs/js.md, "Regions
// by name"): the module-wide region name directory, its locking and the
// regions' lifetime (the last handle frees the region and its name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSabre, startWorker } from './helpers.js';

const inWorker = async (s, data) => {
  const wk = startWorker(s, 'region_by_name.js', { handle: s.workerHandle(null), ...data });
  const m = await wk.next();
  await wk.terminate();
  return m;
};

test('test_region_found_by_name_from_a_worker_and_its_lifetime', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'by-name', size: 1 << 20 });
  const blob = r.alloc('blob', { size: 256 });
  assert.throws(() => s.createRegion({ name: 'by-name', size: 1 << 20 }), (e) => e.code === 'SABRE_EEXIST' && /by-name/.test(e.message));
  // A pure-JS Worker finds it by name and writes into its object.
  let m = await inWorker(s, { regionName: 'by-name', obj: 'blob', fill: 7 });
  assert.equal(m.error, undefined, m.error);
  assert.deepEqual({ base: m.base, size: m.size }, { base: r.base, size: 256 });
  const u8 = new Uint8Array(s.buffer, r.find('blob').offset, 256);
  assert.deepEqual(Array.from(u8.subarray(0, 4)), [7, 8, 9, 10]);
  assert.equal(u8[255], (7 + 255) & 255);
  // Another handle by name, from the C side; the region outlives its creator's handle.
  const r2 = s.findRegion('by-name');
  assert.equal(r2.base, r.base);
  r.close();
  assert.equal(r2.find('blob').offset, blob.offset);
  m = await inWorker(s, { regionName: 'by-name', obj: 'blob', fill: 100 });
  assert.equal(m.error, undefined, m.error);
  assert.equal(new Uint8Array(s.buffer, r2.find('blob').offset, 1)[0], 100);
  // Unlinked: no longer found, still open through r2.
  s.unlinkRegion('by-name');
  assert.throws(() => s.findRegion('by-name'), (e) => e.code === 'SABRE_ENOENT' && /by-name/.test(e.message));
  m = await inWorker(s, { regionName: 'by-name', obj: 'blob', fill: 1 });
  assert.equal(m.code, 'SABRE_ENOENT', m.error);
  assert.equal(r2.inspect().objects.length, 1);
  // The name is free again; the last close frees the old region.
  const r3 = s.createRegion({ name: 'by-name', size: 1 << 20 });
  assert.notEqual(r3.base, r2.base);
  r2.close();
  r3.close();
  assert.throws(() => s.findRegion('by-name'), (e) => e.code === 'SABRE_ENOENT');
  assert.throws(() => s.unlinkRegion('by-name'), (e) => e.code === 'SABRE_ENOENT');
});

test('test_region_names_bad_input', async () => {
  const s = await getSabre();
  assert.throws(() => s.createRegion({ name: 'x'.repeat(64), size: 1 << 20 }), (e) => e.code === 'SABRE_EINVAL' && /at most 63 bytes/.test(e.message));
  assert.throws(() => s.findRegion(''), (e) => e.code === 'SABRE_EINVAL');
  const m = await inWorker(s, { regionName: 'never-made', obj: 'blob', fill: 0 });
  assert.equal(m.code, 'SABRE_ENOENT', m.error);
  // Two handles by name: the region and its name last until both close.
  const a = s.createRegion({ name: 'twice', size: 1 << 20 });
  a.alloc('only-in-a', { size: 64 });
  const h = s.findRegion('twice');
  h.close();
  a.close();
  assert.throws(() => s.findRegion('twice'), (e) => e.code === 'SABRE_ENOENT'); // last close: gone
});
