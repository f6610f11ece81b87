// The physics scenario of the design notes, on sabre: N entities with Pos
// and Vel, two systems per frame (integrate pos += vel * dt; bounds: reflect
// at the walls, negating the velocity) run in Workers, in three modes:
//   snapshot  - sabre snapshot (rebuild) -> Workers mutate its columns over
//               the SharedArrayBuffer and mark changed rows -> commit()
//   inplace   - Workers write the world's own table chunks (no copy, no commit)
//   transfer  - no shared memory (a page served without COOP/COEP): snapshot
//               rows moved to Workers in ArrayBuffers, moved back, merged,
//               committed
// and once serially on the main thread, the reference: every mode's final
// state must be bit-identical to it (same f32 arithmetic, in the same order
// per entity).  Used by the page (main.js, Web Workers) and by node.mjs
// (worker_threads): the environment passes `spawn()` returning a Worker
// adapter {raw, post(msg, transfer), next(), terminate()}.
export const WIDTH = 800, HEIGHT = 500, DT = 1 / 60;
const V2 = 'struct V { x: f32; y: f32; }';

// Deterministic initial state of entity k (spawn order).
export function initial(k) {
  let h = Math.imul(k + 1, 0x9e3779b1) >>> 0;
  const next = () => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return h / 4294967296; };
  return { x: next() * WIDTH, y: next() * HEIGHT, vx: (next() - 0.5) * 240, vy: (next() - 0.5) * 240 };
}

// Both systems over rows [lo, hi) of four f32 columns.  markVel(i) is called
// for each row whose velocity the bounds system changed (may be null).
export function integrateBounds(px, py, vx, vy, lo, hi, dt, markVel) {
  for (let i = lo; i < hi; i++) {
    px[i] += vx[i] * dt;
    py[i] += vy[i] * dt;
    let b = false;
    const x = px[i], y = py[i];
    if (x < 0) { px[i] = -x; vx[i] = -vx[i]; b = true; } else if (x > WIDTH) { px[i] = 2 * WIDTH - x; vx[i] = -vx[i]; b = true; }
    if (y < 0) { py[i] = -y; vy[i] = -vy[i]; b = true; } else if (y > HEIGHT) { py[i] = 2 * HEIGHT - y; vy[i] = -vy[i]; b = true; }
    if (b && markVel) markVel(i);
  }
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

function serialRun(n, frames) {
  const st = { x: new Float32Array(n), y: new Float32Array(n), vx: new Float32Array(n), vy: new Float32Array(n) };
  for (let k = 0; k < n; k++) { const v = initial(k); st.x[k] = v.x; st.y[k] = v.y; st.vx[k] = v.vx; st.vy[k] = v.vy; }
  const ms = [];
  for (let f = 0; f < frames; f++) {
    const t0 = performance.now();
    integrateBounds(st.x, st.y, st.vx, st.vy, 0, n, DT, null);
    ms.push(performance.now() - t0);
  }
  return { st, ms };
}

function sameBits(a, b) {
  for (const f of ['x', 'y', 'vx', 'vy']) {
    const ua = new Uint32Array(a[f].buffer, a[f].byteOffset, a[f].length), ub = new Uint32Array(b[f].buffer, b[f].byteOffset, b[f].length);
    if (ua.length !== ub.length) return false;
    for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  }
  return true;
}

// A world of n entities in its own region, initialised through the
// tables' native views; state() reads it back in spawn order.
function makeWorld(sabre, name, n) {
  const region = sabre.createRegion({ name, size: Math.max(16 << 20, n * 96 + (8 << 20)) });
  const world = region.createWorld({ chunkRows: 8192 });
  const Pos = world.defineComponent('Pos', V2), Vel = world.defineComponent('Vel', V2);
  const [first] = world.spawn(n, [Pos, Vel]);
  const base = Number(first & 0xffffffffn);
  const chunks = [];
  for (const t of world.tables()) for (let c = 0; c < t.chunks.length; c++) if (t.chunks[c].rows) chunks.push([t.table, c]);
  const each = (fn) => {
    for (const [t, c] of chunks) {
      const v = world.chunkView(t, c), P = v.component('Pos'), V = v.component('Vel');
      fn(v, P.column('x'), P.column('y'), V.column('x'), V.column('y'));
    }
  };
  each((v, px, py, vx, vy) => {
    for (let i = 0; i < v.rows; i++) {
      const s = initial(v.entityWords[2 * i] - base);
      px[i] = s.x; py[i] = s.y; vx[i] = s.vx; vy[i] = s.vy;
    }
  });
  const state = () => {
    const st = { x: new Float32Array(n), y: new Float32Array(n), vx: new Float32Array(n), vy: new Float32Array(n) };
    each((v, px, py, vx, vy) => {
      for (let i = 0; i < v.rows; i++) {
        const k = v.entityWords[2 * i] - base;
        st.x[k] = px[i]; st.y[k] = py[i]; st.vx[k] = vx[i]; st.vy[k] = vy[i];
      }
    });
    return st;
  };
  const chunkNames = chunks.map(([t, c]) => `ecs.t${t}.${c}`);
  return { region, world, Pos, Vel, state, chunkNames };
}

// Row ranges for k workers, split at multiples of 64 rows.
function ranges(rows, k) {
  const out = [];
  const per = Math.ceil(rows / k / 64) * 64;
  for (let i = 0; i < k; i++) out.push([Math.min(rows, i * per), Math.min(rows, (i + 1) * per)]);
  return out;
}

async function call(w, msg, transfer) {
  w.post(msg, transfer);
  const r = await w.next();
  if (r.error) throw new Error(`worker: ${r.error}`);
  return r;
}

// Runs every mode of sabre.mode ('shared': snapshot + inplace; 'transfer':
// transfer) and the serial reference.  onFrame(mode, frame, state) after
// each frame when given (the page draws there; it may return a Promise).
// Returns {n, frames, workers, mode, serial: {ms, nsPerEntity}, modes: [{mode, msPerFrame, nsPerEntity, identical}]}.
export async function runPhysics({ sabre, spawn, n = 20000, frames = 60, workers = 2, onFrame = null, drawEvery = 1 }) {
  const serial = serialRun(n, frames);
  const modes = sabre.mode === 'shared' ? ['snapshot', 'inplace'] : ['transfer'];
  const pool = [];
  for (let i = 0; i < workers; i++) {
    const w = await spawn();
    const r = await w.next(); // {ready}
    if (!r.ready) throw new Error(`worker ${i}: ${r.error || 'did not start'}`);
    pool.push(w);
  }
  const out = { n, frames, workers, mode: sabre.mode, serial: { msPerFrame: median(serial.ms), nsPerEntity: median(serial.ms) * 1e6 / n }, modes: [] };
  try {
    if (sabre.mode === 'shared') {
      for (const w of pool) {
        const hosted = sabre.host(w.raw);
        w.hosted = hosted;
      }
    }
    for (const mode of modes) {
      const m = makeWorld(sabre, `physics-${mode}`, n);
      if (sabre.mode === 'shared') for (const w of pool) await call(w, { type: 'attach', handle: sabre.workerHandle(m.region, w.hosted.party) });
      const q = m.world.query({ all: [m.Pos, m.Vel] });
      let snap = null;
      const ms = [];
      let written = 0;
      for (let f = 0; f < frames; f++) {
        const t0 = performance.now();
        if (mode === 'inplace') {
          const names = pool.map(() => []);
          m.chunkNames.forEach((nm, i) => names[i % pool.length].push(nm));
          await Promise.all(pool.map((w, i) => call(w, { type: 'inplace', names: names[i], dt: DT })));
        } else {
          snap = snap ? snap.rebuild() : m.world.snapshot(q, { write: [m.Pos, m.Vel], name: 'phys' });
          const rg = ranges(snap.rows, pool.length);
          if (mode === 'snapshot') {
            await Promise.all(pool.map((w, i) => call(w, { type: 'snapshot', name: 'phys', begin: rg[i][0], end: rg[i][1], dt: DT })));
          } else {
            const parts = snap.split(rg);
            const back = await Promise.all(pool.map((w, i) => call(w, { type: 'part', part: parts[i], dt: DT }, [parts[i].buffer])));
            for (const b of back) snap.merge(b.part);
          }
          written = snap.commit().written;
        }
        ms.push(performance.now() - t0);
        if (onFrame && (f % drawEvery === 0 || f === frames - 1)) await onFrame(mode, f, m.state);
      }
      const final = m.state();
      const med = median(ms);
      out.modes.push({ mode, msPerFrame: med, nsPerEntity: med * 1e6 / n, identical: sameBits(final, serial.st), lastWritten: written });
      if (snap) snap.free();
      q.close();
      m.world.close();
      m.region.close();
    }
  } finally {
    for (const w of pool) await (w.hosted ? w.hosted.terminate() : w.terminate());
  }
  return out;
}
