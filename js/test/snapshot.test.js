import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSabre, startWorker } from './helpers.js';
import { SnapshotView, abi } from '../src/worker/index.js';

const V2 = 'struct V { x: f32; y: f32; }';

function world(s, name, n) {
  const r = s.createRegion({ name, size: 64 << 20 });
  const w = r.createWorld({ chunkRows: 4096 });
  const Pos = w.defineComponent('Pos', V2), Vel = w.defineComponent('Vel', V2);
  w.spawn(n, [Pos, Vel]);
  // Fill through the tables' native views (the world's own columns).
  let k = 0;
  for (const t of w.tables()) for (let ch = 0; ch < t.chunks.length; ch++) {
    if (!t.chunks[ch].rows) continue;
    const v = w.chunkView(t.table, ch);
    const P = v.component('Pos'), Vv = v.component('Vel');
    for (let i = 0; i < v.rows; i++, k++) {
      P.column('x')[i] = k; P.column('y')[i] = -k;
      Vv.column('x')[i] = (k % 7) - 3; Vv.column('y')[i] = (k % 5) * 0.25;
    }
  }
  return { r, w, Pos, Vel };
}

test('test_snapshot_pure_js_workers_commit_bit_identical_to_serial', async () => {
  const s = await getSabre();
  const n = 10000, dt = 1 / 60, frames = 3;
  const { r, w, Pos, Vel } = world(s, 's1', n);
  // Serial reference, in the same JS arithmetic as the workers.
  const ex = new Float32Array(n), ey = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    ex[k] = k; ey[k] = -k;
    for (let f = 0; f < frames; f++) { ex[k] += ((k % 7) - 3) * dt; ey[k] += (k % 5) * 0.25 * dt; }
  }
  const q = w.query({ all: [Pos, Vel] });
  const workers = [0, 1].map(() => startWorker(s, 'physics.js', { handle: s.workerHandle(r) }));
  for (const wk of workers) assert.ok((await wk.next()).ready);
  let snap;
  let idSum = 0;
  for (let f = 0; f < frames; f++) {
    snap = f === 0 ? w.snapshot(q, { read: [Vel], write: [Pos], name: 'phys' }) : snap.rebuild();
    const half = Math.ceil(snap.rows / 128) * 64; // a multiple of 64 rows
    const parts = [[0, half], [half, snap.rows]];
    workers.forEach((wk, i) => wk.worker.postMessage({ name: 'phys', begin: parts[i][0], end: parts[i][1], dt }));
    idSum = 0;
    for (const wk of workers) { const m = await wk.next(); assert.equal(m.error, undefined, m.error); idSum += m.idSum; }
    const st = snap.commit();
    assert.equal(st.written, n);
    assert.equal(st.skippedDead, 0);
  }
  const ent = snap.view.entities;
  let want = 0;
  for (let i = 0; i < n; i++) want += Number(ent[i] & 0xffffffffn);
  assert.equal(idSum, want);
  // The world now holds exactly the serial result.
  let k = 0, bad = 0;
  for (const t of w.tables()) for (let ch = 0; ch < t.chunks.length; ch++) {
    if (!t.chunks[ch].rows) continue;
    const v = w.chunkView(t.table, ch), P = v.component('Pos');
    for (let i = 0; i < v.rows; i++, k++) if (P.column('x')[i] !== ex[k] || P.column('y')[i] !== ey[k]) bad++;
  }
  assert.equal(k, n);
  assert.equal(bad, 0);
  for (const wk of workers) await wk.terminate();
  snap.free(); q.close(); w.close(); r.close();
});

test('test_snapshot_commit_writes_only_marked_rows_and_skips_dead', async () => {
  const s = await getSabre();
  const { r, w, Pos, Vel } = world(s, 's2', 256);
  const q = w.query({ all: [Pos, Vel] });
  const snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'partial' });
  const P = snap.component('Pos');
  const ids = snap.view.entities;
  for (let i = 0; i < 256; i++) P.column('x')[i] = 1000 + i;
  P.mark(3);
  P.markRange(100, 40);
  w.destroy(ids[110]);
  assert.ok(P.isChanged(3) && !P.isChanged(4));
  assert.throws(() => P.mark(256), (e) => e.code === 'SABRE_ERANGE');
  assert.throws(() => snap.component('Nope'), (e) => e.code === 'SABRE_ENOENT');
  const st = snap.commit();
  assert.equal(st.written, 40);
  assert.equal(st.skippedDead, 1);
  assert.equal(w.get(ids[3], Pos).x, 1003);
  assert.equal(w.get(ids[4], Pos).x, 4); // not marked: unchanged
  snap.free(); q.close(); w.close(); r.close();
});

test('test_snapshot_native_view_worker_writes_the_source_of_truth', async () => {
  const s = await getSabre();
  const { r, w, Pos } = world(s, 's3', 500);
  const t = w.tables().find((x) => x.chunks.some((c) => c.rows));
  const name = `ecs.t${t.table}.0`;
  const wk = startWorker(s, 'physics.js', { handle: s.workerHandle(r) });
  assert.ok((await wk.next()).ready);
  wk.worker.postMessage({ name, begin: 0, end: 500, dt: 2 });
  const m = await wk.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.rows, 500);
  const v = w.chunkView(t.table, 0);
  assert.equal(v.kind, 'chunk');
  assert.equal(w.get(v.entities[10], Pos).x, 10 + ((10 % 7) - 3) * 2); // no commit: the world's own column
  await wk.terminate();
  w.close(); r.close();
});

test('test_snapshot_corrupt_header_and_wrong_layout_are_refused', async () => {
  const s = await getSabre();
  const { r, w, Pos, Vel } = world(s, 's4', 64);
  const q = w.query({ all: [Pos, Vel] });
  const snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'bad' });
  const dv = new DataView(s.buffer);
  const o = snap.offset;
  const open = () => new SnapshotView(s.buffer, o, snap.size, 'bad');
  dv.setUint16(o + 8, 2, true);
  assert.throws(open, (e) => e.code === 'SABRE_EVERSION' && /major is 2, want 1/.test(e.message));
  dv.setUint16(o + 8, 1, true);
  const rows = dv.getBigUint64(o + 48, true);
  dv.setBigUint64(o + 48, 1n << 40n, true);
  assert.throws(open, (e) => e.code === 'SABRE_ECORRUPT' && /rows is/.test(e.message));
  dv.setBigUint64(o + 48, rows, true);
  const cols = Number(dv.getBigUint64(o + 80, true));
  dv.setUint32(o + cols + 8, 99, true); // column 0's scalar type
  assert.throws(open, (e) => e.code === 'SABRE_ECORRUPT' && /type/.test(e.message));
  dv.setUint32(o + cols + 8, 1, true);
  dv.setBigUint64(o, 0x1234n, true);
  assert.throws(open, (e) => e.code === 'SABRE_ECORRUPT' && /magic is/.test(e.message));
  dv.setBigUint64(o, BigInt(abi.constants.COLSET_SNAP_MAGIC), true);
  open(); // intact again
  snap.free(); q.close(); w.close(); r.close();
});
