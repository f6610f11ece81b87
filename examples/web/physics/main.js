// The physics page: loads sabre (shared mode when the page is cross-origin
// isolated, else transfer mode), runs sim.js's modes in Web Workers, draws
// the particles every few frames and shows ms per frame, ns per entity and
// whether each mode's final state is bit-identical to the serial run.
// document.body.dataset.state becomes 'done' (window.physicsResult holds
// the results) or 'error' (the message is in #error).
import { load } from '../../../js/src/index.js';
import { runPhysics, WIDTH, HEIGHT } from './sim.js';

const qs = new URLSearchParams(location.search);
const n = Number(qs.get('n') || 20000), frames = Number(qs.get('frames') || 120), workers = Number(qs.get('workers') || 2);
const canvas = document.getElementById('canvas'), g = canvas.getContext('2d');
const info = document.getElementById('info');
const COLORS = { snapshot: [255, 196, 64], inplace: [96, 200, 255], transfer: [160, 255, 128] };
const frameDone = () => new Promise((res) => requestAnimationFrame(() => res()));

function draw(mode, f, state) {
  const st = state();
  const img = g.createImageData(WIDTH, HEIGHT), px = img.data;
  for (let i = 0; i < px.length; i += 4) { px[i] = 16; px[i + 1] = 20; px[i + 2] = 24; px[i + 3] = 255; }
  const [r, gg, b] = COLORS[mode];
  for (let k = 0; k < st.x.length; k++) {
    const x = st.x[k] | 0, y = st.y[k] | 0;
    if (x < 0 || y < 0 || x >= WIDTH || y >= HEIGHT) continue;
    const o = (y * WIDTH + x) * 4;
    px[o] = r; px[o + 1] = gg; px[o + 2] = b;
  }
  g.putImageData(img, 0, 0);
  info.textContent = `sabre mode '${sabreMode}': ${mode}, frame ${f + 1} of ${frames}, ${n} entities, ${workers} workers`;
  return frameDone(); // let the browser paint: the main thread never blocks
}

function spawn() {
  const raw = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const queue = [], waiters = [];
  const deliver = (m) => (waiters.length ? waiters.shift()(m) : queue.push(m));
  raw.onmessage = (e) => deliver(e.data);
  raw.onerror = (e) => deliver({ error: e.message || 'worker failed to load' });
  return {
    raw,
    post: (m, t) => raw.postMessage(m, t || []),
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res))),
    terminate: () => raw.terminate(),
  };
}

let sabreMode = '?';
try {
  const sabre = await load();
  sabreMode = sabre.mode;
  const r = await runPhysics({ sabre, spawn, n, frames, workers, onFrame: draw, drawEvery: 2 });
  const body = document.querySelector('#results tbody');
  const row = (mode, ms, ns, same) => {
    const tr = document.createElement('tr');
    tr.dataset.mode = mode;
    for (const v of [mode, ms.toFixed(3), ns.toFixed(2), same]) { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); }
    body.appendChild(tr);
  };
  row('serial (main thread)', r.serial.msPerFrame, r.serial.nsPerEntity, 'reference');
  for (const m of r.modes) row(m.mode, m.msPerFrame, m.nsPerEntity, m.identical ? 'bit-identical' : 'DIFFERS');
  info.textContent = `sabre mode '${r.mode}' (${r.mode === 'shared' ? 'cross-origin isolated: SharedArrayBuffer' : 'not isolated: snapshot rows moved to Workers by transfer'}), ` +
    `${n} entities, ${frames} frames, ${workers} workers: ${r.modes.every((m) => m.identical) ? 'every mode bit-identical to the serial run' : 'A MODE DIFFERS from the serial run'}`;
  window.physicsResult = r;
  document.body.dataset.state = 'done';
} catch (e) {
  document.getElementById('error').textContent = `${e.code ? e.code + ': ' : ''}${e.message}`;
  window.physicsError = String(e.message);
  document.body.dataset.state = 'error';
}
