import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load, SnapshotPart } from '../src/index.js';

const V2 = 'struct V { x: f32; y: f32; }';
let sabre;
const transfer = async () => (sabre ||= await load({ mode: 'transfer' }));
const COOP = 'Cross-Origin-Opener-Policy: same-origin', COEP = 'Cross-Origin-Embedder-Policy: require-corp';

function world(s, name, n) {
  const r = s.createRegion({ name, size: 16 << 20 });
  const w = r.createWorld({ chunkRows: 1024 });
  const Pos = w.defineComponent('Pos', V2), Vel = w.defineComponent('Vel', V2);
  const [first] = w.spawn(n, [Pos, Vel]);
  return { r, w, Pos, Vel, q: w.query({ all: [Pos, Vel] }), base: Number(first & 0xffffffffn) };
}

function roundTrip(worker, part, every) {
  return new Promise((res, rej) => {
    worker.once('message', (m) => (m.error ? rej(new Error(m.error)) : res(m)));
    worker.postMessage({ part, every }, [part.buffer]);
  });
}

test('test_transfer_mode_workers_changes_moved_back_and_committed', async () => {
  const s = await transfer();
  assert.equal(s.mode, 'transfer');
  assert.ok(!(s.buffer instanceof SharedArrayBuffer)); // the module built without shared memory
  const n = 5000;
  const { r, w, Pos, Vel, q } = world(s, 't1', n);
  const snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'phys' });
  const ids = Array.from(snap.view.entities);
  const parts = snap.split([[0, 2048], [2048, n]]);
  assert.deepEqual(parts.map((p) => p.meta.rows), [2048, n - 2048]);
  const workers = [0, 1].map(() => new Worker(new URL('./workers/transfer_part.js', import.meta.url)));
  try {
    const pending = parts.map((p, i) => roundTrip(workers[i], p, 3));
    // Moved, not copied: the sender's buffers are detached.
    assert.deepEqual(parts.map((p) => p.buffer.byteLength), [0, 0]);
    const back = await Promise.all(pending);
    assert.ok(back.every((b) => b.shared === false));
    assert.throws(() => snap.merge(parts[0]), (e) => e.code === 'SABRE_EINVAL' && /detached/.test(e.message));
    const merged = back.reduce((a, b) => a + snap.merge(b.part), 0);
    const marked = Math.ceil(n / 3);
    assert.equal(merged, marked);
    assert.throws(() => snap.merge(back[0].part), (e) => e.code === 'SABRE_ESTALE'); // once only
    const st = snap.commit();
    assert.equal(st.written, marked);
    // The world holds the Workers' values on marked rows, the old ones elsewhere.
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const x = w.get(ids[i], Pos).x;
      if (x !== (i % 3 === 0 ? 1000 + Number(ids[i] & 0xffffffffn) : 0)) bad++;
    }
    assert.equal(bad, 0);
    // The next frame reuses the buffers that came back, with no stale marks.
    snap.rebuild();
    const again = snap.split([[0, 2048], [2048, n]]);
    assert.deepEqual(again.map((p) => back.some((b) => b.part.buffer === p.buffer)), [true, true]);
    assert.equal(again.reduce((a, p) => a + snap.merge(p), 0), 0);
    assert.equal(snap.commit().written, 0);
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
  }
  snap.free(); q.close(); w.close(); r.close();
});

test('test_transfer_parts_bad_input_and_stale_parts_are_refused', async () => {
  const s = await transfer();
  const { r, w, Pos, Vel, q } = world(s, 't2', 300);
  const snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'p2' });
  assert.throws(() => snap.split([[0, 301]]), (e) => e.code === 'SABRE_ERANGE');
  assert.throws(() => snap.split([[10, 5]]), (e) => e.code === 'SABRE_ERANGE');
  assert.throws(() => snap.split('all'), (e) => e.code === 'SABRE_EINVAL');
  const [a] = snap.split([[0, 300]]);
  const p = new SnapshotPart(a);
  assert.equal(p.rows, 300);
  assert.throws(() => p.component('Nope'), (e) => e.code === 'SABRE_ENOENT');
  assert.throws(() => p.component('Pos').mark(300), (e) => e.code === 'SABRE_ERANGE');
  assert.throws(() => new SnapshotPart({ meta: a.meta }), (e) => e.code === 'SABRE_EINVAL');
  assert.throws(() => new SnapshotPart({ meta: { ...a.meta, comps: [{ name: 'Pos', changed: 0, columns: [{ name: 'x', type: 'Float32Array', off: 1 << 20 }] }] }, buffer: a.buffer }),
    (e) => e.code === 'SABRE_ECORRUPT');
  assert.throws(() => snap.merge({}), (e) => e.code === 'SABRE_EINVAL');
  snap.rebuild(); // parts split before a rebuild belong to the old rows
  assert.throws(() => snap.merge(a), (e) => e.code === 'SABRE_ESTALE');
  const [b] = snap.split([[0, 300]]);
  assert.equal(snap.merge(b), 0); // nothing marked: nothing merged, nothing committed
  assert.equal(snap.commit().written, 0);
  snap.free(); q.close(); w.close(); r.close();
});

test('test_transfer_mode_weights_rings_and_parties_refuse_naming_the_headers', async () => {
  const s = await transfer();
  const r = s.createRegion({ name: 't3', size: 1 << 20 });
  const clear = (e) => e.code === 'SABRE_ENOTSUP' && e.message.includes('SharedArrayBuffer') && e.message.includes(COOP) && e.message.includes(COEP);
  assert.throws(() => r.createWeights('w', { size: 64 }), clear);
  assert.throws(() => r.openWeights('w'), clear);
  assert.throws(() => r.createRing('q', { schema: s.schema('struct S { a: f32; }') }), clear);
  assert.throws(() => r.openRing('q'), clear);
  assert.throws(() => s.workerHandle(r), clear);
  assert.throws(() => s.spawnParty(), clear);
  assert.throws(() => s.host({ on() {} }), clear);
  assert.throws(() => r.view(), (e) => e.code === 'SABRE_ENOTSUP' && e.message.includes(COEP));
  assert.equal(s.probe().mode, 'transfer');
  r.close();
});

function runNode(args) {
  const script = fileURLToPath(new URL('../../examples/web/physics/node.mjs', import.meta.url));
  return new Promise((res) => execFile(process.execPath, ['--no-experimental-fetch', script, ...args], { timeout: 60000 },
    (err, stdout, stderr) => res({ code: err ? err.code : 0, out: stdout + stderr })));
}

test('test_physics_example_under_worker_threads_bit_identical_to_serial', async () => {
  const shared = await runNode(['--n', '6000', '--frames', '12']);
  assert.equal(shared.code, 0, shared.out);
  const rs = JSON.parse(shared.out.trim().split('\n').at(-1));
  assert.equal(rs.mode, 'shared');
  assert.deepEqual(rs.modes.map((m) => [m.mode, m.identical]), [['snapshot', true], ['inplace', true]]);
  const tr = await runNode(['--n', '6000', '--frames', '12', '--transfer']);
  assert.equal(tr.code, 0, tr.out);
  const rt = JSON.parse(tr.out.trim().split('\n').at(-1));
  assert.deepEqual(rt.modes.map((m) => [m.mode, m.identical]), [['transfer', true]]);
  assert.ok(rt.modes[0].lastWritten >= 6000, `transfer commit wrote ${rt.modes[0].lastWritten}`);
});
