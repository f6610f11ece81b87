// Pure-JS ring producer (no wasm): commits `claims` claims of `n` chunks;
// chunk with sequence q has obs[t][e][k] = q * 1000 + t * 100 + e * 10 + k
// and rew = q.  mode 'hang': claim once, report, then spin holding the claim.
import { parentPort } from 'node:worker_threads';
import { attach } from '../../src/worker/index.js';

parentPort.once('message', ({ handle, party, name, claims, n, mode }) => {
  try {
    const p = attach({ ...handle, party }).producer(name);
    if (mode === 'hang') {
      const c = p.claim(n, 1000);
      parentPort.postMessage({ claimed: c.count, first: c.first });
      for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
    let q = 0;
    for (let k = 0; k < claims; k++) {
      const c = p.claim(n, 10000);
      for (let i = 0; i < c.count; i++, q++) {
        const obs = c.field('obs', Float32Array, i), [T, E, K] = obs.shape;
        for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) for (let j = 0; j < K; j++) obs[(t * E + e) * K + j] = q * 1000 + t * 100 + e * 10 + j;
        c.field('rew', Float32Array, i).fill(q);
      }
      p.commit(c);
    }
    p.close();
    parentPort.postMessage({ produced: q });
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
});
