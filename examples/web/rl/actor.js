// An actor Worker (pure JS, no wasm): adopts the latest policy weights with
// the pin protocol (sabre/worker WeightsReader), plays CartPole episodes
// with it and pushes every step (obs, action, return-to-go, done, the policy
// version, the episode's length) into the ring 'rollouts' in chunks of T steps (RingProducer).
// Message in: {handle, party, seed}.  Messages out: {started} once, {error}.
import { attach } from '../../../js/src/worker/index.js';
import { CartPole, rng, sample, NPARAMS } from './cartpole.js';

const GAMMA = 0.99;
const nap = new Int32Array(new SharedArrayBuffer(4));

self.onmessage = ({ data }) => {
  try {
    const ctx = attach({ ...data.handle, party: data.party });
    const reader = ctx.weights('policy'), prod = ctx.producer('rollouts');
    const rand = rng(data.seed), env = new CartPole(rand), w = new Float32Array(NPARAMS);
    const T = prod.g ? prod.g.steps : data.steps;
    self.postMessage({ started: true });
    const q = []; // steps waiting for a chunk: [obs0..3, act, ret, done, ver, eplen]
    for (;;) {
      if (!reader.waitForVersion(0, 1000)) continue;
      const v = reader.adopt();
      w.set(v.data.subarray(0, NPARAMS));
      prod.setVersion(v.version);
      const ep = [];
      let obs = env.reset(), done = false;
      while (!done) {
        const a = sample(w, obs, rand);
        const o = Array.from(obs);
        done = env.step(a);
        ep.push([...o, a, 1, 0, v.version, 0]);
      }
      ep[ep.length - 1][6] = 1;
      for (const s of ep) s[8] = ep.length;
      let ret = 0;
      for (let t = ep.length - 1; t >= 0; t--) { ret = 1 + GAMMA * ret; ep[t][5] = ret; }
      q.push(...ep);
      while (q.length >= T) {
        const steps = q.splice(0, T);
        let c;
        try { c = prod.claim(1, 0); } catch (e) {
          if (e.code !== 'SABRE_EFULL') throw e;
          Atomics.wait(nap, 0, 0, 20); // the trainer is behind: these steps are dropped (and counted)
          continue;
        }
        const obsA = c.field('obs', Float32Array, 0), act = c.field('act', Int32Array, 0), retA = c.field('ret', Float32Array, 0);
        const doneA = c.field('done', Uint8Array, 0), ver = c.field('ver', Uint32Array, 0), eplen = c.field('eplen', Uint32Array, 0);
        for (let t = 0; t < T; t++) {
          const s = steps[t];
          for (let k = 0; k < 4; k++) obsA[t * 4 + k] = s[k];
          act[t] = s[4]; retA[t] = s[5]; doneA[t] = s[6]; ver[t] = s[7]; eplen[t] = s[8];
        }
        prod.commit(c);
      }
      Atomics.wait(nap, 0, 0, 2); // leave the cores some room
    }
  } catch (e) {
    self.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
};
