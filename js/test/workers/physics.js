// Pure-JS physics kernel over a sabre snapshot (or a table chunk): for each
// message {name, begin, end, dt}, pos += vel * dt over rows [begin, end) and
// mark them changed; replies {done, idSum} (the sum of the rows' entity
// indices, so the test can check the entity-id column too).
import { parentPort } from 'node:worker_threads';
import { attach } from '../../src/worker/index.js';

let ctx;
parentPort.on('message', (msg) => {
  try {
    if (msg.handle) { ctx = attach({ ...msg.handle, party: msg.party }); parentPort.postMessage({ ready: true }); return; }
    const { name, begin, end, dt } = msg;
    const snap = ctx.snapshot(name);
    const pos = snap.component('Pos'), vel = snap.component('Vel');
    const px = pos.column('x'), py = pos.column('y'), vx = vel.column('x'), vy = vel.column('y');
    for (let i = begin; i < end; i++) {
      px[i] += vx[i] * dt;
      py[i] += vy[i] * dt;
    }
    if (snap.kind === 'snapshot') pos.markRange(begin, end - begin);
    let idSum = 0;
    for (let i = begin; i < end; i++) idSum += snap.entityWords[2 * i];
    parentPort.postMessage({ done: true, idSum, rows: snap.rows });
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
});
