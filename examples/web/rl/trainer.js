// The trainer Worker: runs sabre's wasm module (its memory the
// SharedArrayBuffer everyone shares), creates the weights 'policy' and the
// ring 'rollouts', consumes the actors' steps (C consumer), improves the
// linear CartPole policy by REINFORCE with Adam, and publishes each new
// version.  Messages in: {type: 'start', actors}.  Out: {type: 'ready',
// handle, parties} (the page gives parties[0] to its own reader and the
// others to the actors), {type: 'progress', ...} after every update,
// {type: 'error', code, message} (in a page without COOP/COEP: the weights
// refuse, naming the headers).  {type: 'dead', party}: an actor failed.
import { load } from '../../../js/src/index.js';
import { NPARAMS, addGradLogPi } from './cartpole.js';

const STEP = 'struct Step { obs: f32[4]; act: i32; ret: f32; done: bool; ver: u32; eplen: u32; }';
const BATCH = 2048, LR = 0.05, B1 = 0.9, B2 = 0.999;
const post = (m) => self.postMessage(m);
let sabre = null;

self.onmessage = async ({ data }) => {
  // An actor Worker the page saw fail: its party is dead, so the ring
  // reclaims its claim and the publisher ignores its pin (docs/js.md).
  if (data.type === 'dead' && sabre) { sabre.exitParty(data.party); return; }
  if (data.type !== 'start') return;
  try {
    await train(data.actors | 0 || 2);
  } catch (e) {
    post({ type: 'error', code: e.code || 'Error', message: e.message });
  }
};

async function train(actors) {
  sabre = await load();
  const region = sabre.createRegion({ name: 'rl', size: 8 << 20 });
  const weights = region.createWeights('policy', { size: 64, slots: actors + 3, readers: actors + 2 });
  const schema = sabre.schema(STEP);
  const ring = region.createRing('rollouts', { schema, steps: 32, envs: 1, capacity: 64, producers: actors, policy: 'drop' });
  const cons = ring.consumer();
  const parties = [];
  for (let i = 0; i <= actors; i++) parties.push(sabre.spawnParty());
  const w = new Float32Array(16), m1 = new Float64Array(NPARAMS), m2 = new Float64Array(NPARAMS);
  let version = weights.publish(w, { step: 0 }), updates = 0;
  cons.setVersion(version); // the ring's lag statistics: versions behind this
  post({ type: 'ready', handle: sabre.workerHandle(region), parties, version });

  const obs = new Float32Array(BATCH * 4), act = new Int32Array(BATCH), ret = new Float32Array(BATCH);
  let n = 0, dones = 0, lenSum = 0, lagSum = 0, yielded = performance.now();
  const wd = new Float64Array(NPARAMS);
  for (;;) {
    const b = cons.consume(16, 10);
    if (b) {
      for (let i = 0; i < b.count; i++) {
        const o = b.field('obs', i), a = b.field('act', i), r = b.field('ret', i), d = b.field('done', i), v = b.field('ver', i), el = b.field('eplen', i);
        for (let t = 0; t < a.length && n < BATCH; t++, n++) {
          obs.set(o.subarray(t * 4, t * 4 + 4), n * 4);
          act[n] = a[t]; ret[n] = r[t]; lagSum += version - v[t];
          if (d[t]) { dones++; lenSum += el[t]; }
        }
      }
      cons.release();
    }
    if (n >= BATCH) {
      // REINFORCE: ascend mean((R - mean R) / std R * grad log pi(a | s)), Adam.
      let mean = 0, sq = 0;
      for (let i = 0; i < n; i++) mean += ret[i];
      mean /= n;
      for (let i = 0; i < n; i++) sq += (ret[i] - mean) ** 2;
      const std = Math.sqrt(sq / n) + 1e-6;
      const g = new Float64Array(NPARAMS);
      for (let k = 0; k < NPARAMS; k++) wd[k] = w[k];
      for (let i = 0; i < n; i++) addGradLogPi(g, wd, obs.subarray(i * 4, i * 4 + 4), act[i], (ret[i] - mean) / std / n);
      updates++;
      for (let k = 0; k < NPARAMS; k++) {
        m1[k] = B1 * m1[k] + (1 - B1) * g[k];
        m2[k] = B2 * m2[k] + (1 - B2) * g[k] * g[k];
        const mh = m1[k] / (1 - B1 ** updates), vh = m2[k] / (1 - B2 ** updates);
        w[k] += (LR * mh) / (Math.sqrt(vh) + 1e-8);
      }
      version = weights.publish(w, { step: updates });
      cons.setVersion(version);
      const st = ring.stats();
      post({ type: 'progress', version, updates, meanEpisode: dones ? lenSum / dones : 0, dataLag: lagSum / n, ring: st });
      n = 0; dones = 0; lenSum = 0; lagSum = 0;
    }
    if (performance.now() - yielded > 50) { // let messages in
      await new Promise((res) => setTimeout(res, 0));
      yielded = performance.now();
    }
  }
}
