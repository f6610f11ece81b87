// Web Worker side of suite.html (pure JS, no wasm): what js/test/workers/*
// do under worker_threads, here in a browser Worker.  First message
// {handle, party}; then {op, ...}; replies {ok, ...} or {error}.
import { attach, RegionView } from '../../src/worker/index.js';

let ctx = null;
const nap = new Int32Array(new SharedArrayBuffer(4));
self.onmessage = ({ data }) => {
  try {
    if (data.handle) { ctx = attach({ ...data.handle, party: data.party }); self.postMessage({ ok: true }); return; }
    self.postMessage({ ok: true, ...OPS[data.op](data) });
  } catch (e) {
    self.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
};

const OPS = {
  // The region's directory as this Worker sees it.
  objects: () => ({ objects: ctx.region.objects().map((o) => ({ name: o.name, kind: o.kind, offset: o.offset, size: o.size })) }),
  // A region handle pointing at the wrong offset: the error code and message.
  badRegion: ({ base }) => {
    try { new RegionView(ctx.region.buffer, base); return { code: 'none' }; } catch (e) { return { code: e.code, message: e.message }; }
  },
  // The pin protocol: adopt every version up to `until` (blocking
  // waitForVersion), checking every pinned float equals its version.
  weights: ({ name, until }) => {
    const rd = ctx.weights(name);
    let seen = 0, adopts = 0, torn = 0;
    while (seen < until) {
      if (!rd.waitForVersion(seen, 10000)) throw new Error(`no version after ${seen} within 10 s`);
      const v = rd.adopt();
      for (let i = 0; i < v.data.length; i++) if (v.data[i] !== v.version) { torn++; break; }
      if (v.version <= seen) throw new Error(`version went from ${seen} to ${v.version}`);
      seen = v.version;
      adopts++;
    }
    rd.close();
    return { seen, adopts, torn };
  },
  // Adopt and keep the pin (the page then terminates this Worker).
  pinAndHang: ({ name }) => {
    const rd = ctx.weights(name);
    rd.waitForVersion(0, 5000);
    const v = rd.adopt();
    self.postMessage({ ok: true, pinned: v.version, slot: v.slot });
    for (;;) Atomics.wait(nap, 0, 0, 1000);
  },
  // Produce `claims` claims of `n` chunks; chunk q: obs[t][e][k] = q*1000 + t*100 + e*10 + k, rew = q.
  produce: ({ name, claims, n }) => {
    const p = ctx.producer(name);
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
    return { produced: q };
  },
  // pos += vel * dt over snapshot rows [begin, end), marked changed.
  integrate: ({ name, begin, end, dt }) => {
    const snap = ctx.snapshot(name), pos = snap.component('Pos'), vel = snap.component('Vel');
    const px = pos.column('x'), py = pos.column('y'), vx = vel.column('x'), vy = vel.column('y');
    for (let i = begin; i < end; i++) { px[i] += vx[i] * dt; py[i] += vy[i] * dt; }
    pos.markRange(begin, end - begin);
    let idSum = 0;
    for (let i = begin; i < end; i++) idSum += snap.entityWords[2 * i];
    return { idSum, rows: snap.rows };
  },
};
