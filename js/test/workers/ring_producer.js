// Pure-JS ring producer (no wasm): commits `claims` claims of `n` chunks;
// the chunk with sequence q has obs[t][e][k] = q * 1000 + t * 100 + e * 10 + k
// and rew = q.  mode 'hang': claim once, report, then wait holding the
// claim.  mode 'die': commit the claims, then claim once more, write half
// of it, report, and wait to be terminated mid-claim.
import { parentPort } from 'node:worker_threads';
import { attach } from '../../src/worker/index.js';

const fill = (c, upTo = c.count) => {
  for (let i = 0; i < upTo; i++) {
    const q = c.sequence(i);
    const obs = c.field('obs', Float32Array, i), [T, E, K] = obs.shape;
    for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) for (let j = 0; j < K; j++) obs[(t * E + e) * K + j] = q * 1000 + t * 100 + e * 10 + j;
    c.field('rew', Float32Array, i).fill(q);
  }
};
const hang = () => { for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000); };

parentPort.once('message', ({ handle, party, name, claims, n, mode, report }) => {
  try {
    const p = attach({ ...handle, party }).producer(name);
    if (report) parentPort.postMessage({ attached: true, idx: p.idx, tookOver: p.tookOver && { abandoned: p.tookOver.abandoned } });
    if (mode === 'hang') {
      const c = p.claim(n, 1000);
      parentPort.postMessage({ claimed: c.count, first: c.first });
      hang();
    }
    let q = 0;
    for (let k = 0; k < claims; k++, q += n) {
      const c = p.claim(n, 10000);
      fill(c);
      p.commit(c);
    }
    if (mode === 'die') {
      const c = p.claim(n, 10000);
      fill(c, n >> 1);
      parentPort.postMessage({ produced: q, claimed: c.count, first: c.first, idx: p.idx, tookOver: p.tookOver && { abandoned: p.tookOver.abandoned } });
      hang();
    }
    p.close();
    parentPort.postMessage({ produced: q, idx: p.idx, tookOver: p.tookOver && { abandoned: p.tookOver.abandoned } });
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
});
