// bench/physics.mjs - the physics workload (integrate pos += vel*dt, every
// row changed, N entities, 2 workers) per frame:
//   sabre: snapshot rebuild (wasm) -> 2 pure-JS workers over the snapshot
//          columns (markRange) -> commit (wasm)
//   notes: the design notes' buildSnapshot -> 2 workers running their job
//          -> commitSnapshot, on SharedArrayBuffer (notes_design.mjs)
// and a pure-JS kernel over sabre snapshot columns vs the same kernel over
// Float32Arrays the worker owns.  Prints medians of per-frame times and the
// ratios, measured in the same run.
// Usage: node --no-experimental-fetch js/bench/physics.mjs [N] [frames]
import { Worker } from 'node:worker_threads';
import { load } from '../src/index.js';
import { World, buildSnapshot, commitSnapshot } from './notes_design.mjs';

const N = Number(process.argv[2] || 1_000_000), FRAMES = Number(process.argv[3] || 7), dt = 1 / 60;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const workers = [0, 1].map(() => new Worker(new URL('./physics_worker.mjs', import.meta.url)));
const call = (w, m) => new Promise((res) => { w.once('message', res); w.postMessage(m); });
const split = (rows) => { const h = Math.ceil(rows / 128) * 64; return [[0, h], [h, rows]]; };

// ---- sabre
const s = await load();
const region = s.createRegion({ name: 'bench', size: 160 << 20 });
const w = region.createWorld({ chunkRows: 65536 });
const Pos = w.defineComponent('Pos', 'struct V { x: f32; y: f32; }'), Vel = w.defineComponent('Vel', 'struct V { x: f32; y: f32; }');
w.spawn(N, [Pos, Vel]);
for (const t of w.tables()) for (let c = 0; c < t.chunks.length; c++) {
  if (!t.chunks[c].rows) continue;
  const v = w.chunkView(t.table, c), vx = v.component('Vel').column('x'), vy = v.component('Vel').column('y');
  for (let i = 0; i < v.rows; i++) { vx[i] = (i % 7) - 3; vy[i] = (i % 5) * 0.25; }
}
const q = w.query({ all: [Pos, Vel] });
const handle = s.workerHandle(region, s.spawnParty());
await Promise.all(workers.map((wk) => call(wk, { kind: 'attach', handle })));
let snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'phys' });
const sabreMs = [];
for (let f = 0; f < FRAMES; f++) {
  const t0 = performance.now();
  if (f) snap.rebuild();
  const parts = split(snap.rows);
  await Promise.all(workers.map((wk, i) => call(wk, { kind: 'sabre', name: 'phys', begin: parts[i][0], end: parts[i][1], dt })));
  const st = snap.commit();
  sabreMs.push(performance.now() - t0);
  if (st.written !== N) throw new Error(`sabre commit wrote ${st.written} rows, want ${N}`);
}
const kernel = median(await call(workers[0], { kind: 'kernel', name: 'phys', runs: 9 }));

// ---- the notes' design
const nw = new World();
const CPos = nw.defineComponent({ name: 'Pos', defaults: () => ({ x: 0, y: 0 }) });
const CVel = nw.defineComponent({ name: 'Vel', defaults: () => ({ x: 0, y: 0 }) });
for (let i = 0; i < N; i++) { const e = nw.createEntity(); nw.add(e, CPos, { x: 0, y: 0 }); nw.add(e, CVel, { x: (i % 7) - 3, y: (i % 5) * 0.25 }); }
const spec = { types: { [CPos.id]: CPos, [CVel.id]: CVel }, layouts: [{ cid: CPos.id, fields: { x: 'f32', y: 'f32' } }, { cid: CVel.id, fields: { x: 'f32', y: 'f32' } }] };
const nq = nw.makeQuery({ all: [CPos, CVel] });
const notesMs = [];
for (let f = 0; f < Math.max(3, Math.min(FRAMES, 5)); f++) {
  const t0 = performance.now();
  const { snap: ns } = buildSnapshot(nw, spec, nq);
  const parts = split(ns.rows);
  // Their changed bitset is bytes: the halves are split at multiples of 64 rows (8 bytes).
  await Promise.all(workers.map((wk, i) => call(wk, { kind: 'notes', snap: ns, dt, extra: { POS: CPos.id, VEL: CVel.id }, begin: parts[i][0], end: parts[i][1] })));
  commitSnapshot(nw, spec, ns);
  notesMs.push(performance.now() - t0);
}
// Both designs computed the same frames: compare a few entities.
const sv = w.chunkView(w.tables().find((t) => t.chunks.some((c) => c.rows)).table, 0).component('Pos').column('x');
const framesNotes = notesMs.length;
const ok = [0, 1, 6].every((i) => Math.abs(nw.get(i, CPos).x / framesNotes - sv[i] / FRAMES) < 1e-3);

const sm = median(sabreMs), nm = median(notesMs);
console.log(`physics ${N} entities, 2 workers, ${FRAMES} frames (median per frame)`);
console.log(`  sabre snapshot offload : ${sm.toFixed(2)} ms/frame, ${(sm * 1e6 / N).toFixed(2)} ns/entity`);
console.log(`  notes' design          : ${nm.toFixed(2)} ms/frame, ${(nm * 1e6 / N).toFixed(2)} ns/entity`);
console.log(`  ratio notes/sabre      : ${(nm / sm).toFixed(1)}x less time per entity with sabre (target >= 50x)${ok ? '' : '  [RESULTS DIFFER]'}`);
console.log(`kernel over sabre snapshot columns vs own Float32Arrays: ${kernel.toFixed(3)}x (median of 9, target <= 1.2x)`);
await Promise.all(workers.map((wk) => wk.terminate()));
process.exit(ok ? 0 : 1);
