// Worker of bench/physics.mjs: runs either the notes' job over their
// snapshot or sabre's pure-JS kernel over a sabre snapshot, on request.
import { parentPort } from 'node:worker_threads';
import { attach } from '../src/worker/index.js';
import { handle } from './notes_design.mjs';

let ctx;
parentPort.on('message', (m) => {
  if (m.kind === 'attach') { ctx = attach(m.handle); parentPort.postMessage(0); return; }
  if (m.kind === 'notes') { handle(m); parentPort.postMessage(0); return; }
  if (m.kind === 'sabre') {
    const snap = ctx.snapshot(m.name), pos = snap.component('Pos'), vel = snap.component('Vel');
    const px = pos.column('x'), py = pos.column('y'), vx = vel.column('x'), vy = vel.column('y'), dt = m.dt;
    for (let i = m.begin; i < m.end; i++) { px[i] += vx[i] * dt; py[i] += vy[i] * dt; }
    pos.markRange(m.begin, m.end - m.begin);
    parentPort.postMessage(0);
    return;
  }
  if (m.kind === 'kernel') { // the same kernel over sabre columns and over its own arrays
    const snap = ctx.snapshot(m.name), pos = snap.component('Pos'), vel = snap.component('Vel');
    const n = snap.rows;
    const own = [new Float32Array(n), new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    own[0].set(pos.column('x')); own[1].set(pos.column('y')); own[2].set(vel.column('x')); own[3].set(vel.column('y'));
    const kern = (px, py, vx, vy, dt) => { for (let i = 0; i < n; i++) { px[i] += vx[i] * dt; py[i] += vy[i] * dt; } };
    const sab = [pos.column('x'), pos.column('y'), vel.column('x'), vel.column('y')];
    const ratios = [];
    for (let r = 0; r < m.runs; r++) {
      let t0 = performance.now(); kern(...sab, 1e-3); const a = performance.now() - t0;
      t0 = performance.now(); kern(...own, 1e-3); const b = performance.now() - t0;
      ratios.push(a / b);
    }
    parentPort.postMessage(ratios);
  }
});
