import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getSabre } from './helpers.js';
import { RegionView } from '../src/worker/index.js';

test('test_region_create_and_inspect_like_the_tool', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'insp', size: 1 << 20 });
  r.alloc('blob', { size: 4096 });
  const j = r.inspect();
  assert.equal(j.region.name, 'insp');
  assert.equal(j.region.backing, 'private');
  assert.equal(j.region.nobjects, 1);
  assert.equal(j.objects[0].name, 'blob');
  assert.equal(j.objects[0].kind, 'raw');
  const names = r.view().objects().map((o) => o.name);
  assert.deepEqual(names, ['blob']);
  r.close();
});

test('test_region_over_4gib_is_an_error', async () => {
  const s = await getSabre();
  assert.throws(() => s.createRegion({ name: 'huge', size: 5 * 2 ** 30 }), (e) => e.code === 'SABRE_ENOSPC' && /want at most/.test(e.message));
  // Within 4 GiB but more than the fixed module memory: ENOSPC naming it.
  assert.throws(() => s.createRegion({ name: 'big', size: 3 * 2 ** 30 }), (e) => e.code === 'SABRE_ENOSPC' && /module memory/.test(e.message));
  assert.throws(() => s.createRegion({ name: 'frac', size: 1.5 }), (e) => e.code === 'SABRE_EINVAL');
});

test('test_region_other_backings_are_enotsup_with_a_message', async () => {
  const s = await getSabre();
  assert.throws(() => s.openRegion({ name: '/x' }), (e) => e.code === 'SABRE_ENOTSUP' && /WebAssembly/.test(e.message));
  const p = s.probe();
  assert.equal(p.platform, 'wasm');
  assert.equal(p.private, true);
  assert.equal(p.shm, false);
  assert.match(p.note, /only PRIVATE regions/);
});

test('test_region_corrupt_header_bytes_give_clear_errors', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'corrupt', size: 1 << 16 });
  const u8 = new Uint8Array(s.buffer, r.base, 512);
  const saved = u8.slice();
  u8[0] ^= 0xff; // magic
  assert.throws(() => new RegionView(s.buffer, r.base), (e) => e.code === 'SABRE_ECORRUPT' && /magic is/.test(e.message));
  u8.set(saved);
  new DataView(s.buffer).setUint16(r.base + 8, 7, true); // abi_major
  assert.throws(() => new RegionView(s.buffer, r.base), (e) => e.code === 'SABRE_EVERSION' && /ABI major is 7, want 1/.test(e.message));
  u8.set(saved);
  new DataView(s.buffer).setBigUint64(r.base + 16, 1n << 40n, true); // total_size
  assert.throws(() => new RegionView(s.buffer, r.base), (e) => e.code === 'SABRE_ECORRUPT' && /total_size/.test(e.message));
  u8.set(saved);
  assert.throws(() => new RegionView(new ArrayBuffer(1024), 0), (e) => e.code === 'SABRE_ENOTSUP' && /Cross-Origin-Opener-Policy/.test(e.message));
  assert.throws(() => new RegionView(s.buffer, 3), (e) => e.code === 'SABRE_EINVAL');
  new RegionView(s.buffer, r.base); // intact again
  r.close();
});

test('test_schema_matches_the_native_tool', async (t) => {
  const s = await getSabre();
  const text = 'struct Action { throttle: f32; steer: f32; }\nstruct Step { obs: f32[8]; act: Action; done: bool; _: pad[3]; episode: u64; }\n';
  const sc = s.schema(text);
  assert.equal(sc.root.name, 'Step');
  assert.equal(sc.size, 56);
  const tool = process.env.SABRE_TOOL || new URL('../../build/release/sabre', import.meta.url).pathname;
  let native;
  try {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/sabre-js-');
    writeFileSync(`${dir}/s.schema`, text);
    native = JSON.parse(execFileSync(tool, ['schema', `${dir}/s.schema`, '--json'], { encoding: 'utf8' }));
  } catch (e) {
    t.skip(`native tool not built (${tool})`);
    return;
  }
  assert.deepEqual(sc.json, native);
  assert.throws(() => s.schema('struct X { a: f99; }'), (e) => e.code === 'SABRE_ESCHEMA' && e.line === 1 && /f99/.test(e.message));
});
