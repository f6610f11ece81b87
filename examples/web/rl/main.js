// The RL page: starts the trainer Worker and actor Workers, and every
// animation frame adopts the latest weights (pure-JS pin protocol, never
// blocking the main thread), shows the version, the lags and the learning
// curve, and balances a cart with the adopted policy.  Test hooks:
// document.body.dataset.state 'running' (window.rlStatus) or 'error'.
import { attach } from '../../../js/src/worker/index.js';
import { CartPole, rng, sample, NPARAMS, MAX_STEPS } from './cartpole.js';

const qs = new URLSearchParams(location.search);
const ACTORS = Number(qs.get('actors') || 2);
const $ = (id) => document.getElementById(id);
const status = { adoptedVersion: 0, adoptions: 0, published: 0, curve: [], error: null };
window.rlStatus = status;

function fail(msg) {
  status.error = msg;
  $('error').textContent = msg;
  document.body.dataset.state = 'error';
}

const trainer = new Worker(new URL('./trainer.js', import.meta.url), { type: 'module' });
trainer.onerror = (e) => fail(`trainer: ${e.message || 'failed to load'}`);
trainer.onmessage = ({ data }) => {
  if (data.type === 'error') return fail(`${data.code}: ${data.message}`);
  if (data.type === 'ready') return start(data);
  if (data.type === 'progress') {
    if (data.meanEpisode > 0) status.curve.push([data.version, data.meanEpisode]); // episodes ended in this batch
    $('datalag').textContent = data.dataLag.toFixed(2);
    $('episode').textContent = data.meanEpisode.toFixed(1);
    const r = data.ring;
    $('ring').textContent = `produced ${r.produced}, consumed ${r.consumed}, dropped ${r.dropped} chunks; ` +
      `version lag avg ${Number(r.lagAvg).toFixed(2)}, max ${r.lagMax}`;
  }
};
trainer.postMessage({ type: 'start', actors: ACTORS });

let reader = null;
const w = new Float32Array(NPARAMS), rand = rng(7), env = new CartPole(rand);
function start({ handle, parties }) {
  reader = attach({ ...handle, party: parties[0] }).weights('policy');
  for (let i = 0; i < ACTORS; i++) {
    const a = new Worker(new URL('./actor.js', import.meta.url), { type: 'module' });
    const dead = (why) => { trainer.postMessage({ type: 'dead', party: parties[i + 1] }); a.terminate(); fail(`actor ${i}: ${why}`); };
    a.onmessage = ({ data }) => { if (data.error) dead(data.error); };
    a.onerror = (e) => dead(e.message || 'failed to load');
    a.postMessage({ handle, party: parties[i + 1], seed: 1000 + i });
  }
  requestAnimationFrame(frame);
}

function frame() {
  if (status.error) return;
  const v = reader.adopt(); // never waits: pin, re-check, done
  if (v && v.changed) { w.set(v.data.subarray(0, NPARAMS)); status.adoptedVersion = v.version; status.adoptions++; }
  status.published = reader.version();
  $('version').textContent = String(status.adoptedVersion);
  $('lag').textContent = String(status.published - status.adoptedVersion);
  if (env.step(sample(w, env.s, rand))) env.reset();
  drawCart();
  drawCurve();
  document.body.dataset.state = 'running';
  requestAnimationFrame(frame);
}

function drawCart() {
  const c = $('cart'), g = c.getContext('2d'), W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  const x = W / 2 + env.s[0] * (W / 5), y = H * 0.75, th = env.s[2];
  g.fillStyle = '#333'; g.fillRect(0, y + 15, W, 2);
  g.fillStyle = '#2a6'; g.fillRect(x - 25, y - 10, 50, 25);
  g.strokeStyle = '#c62'; g.lineWidth = 6; g.beginPath(); g.moveTo(x, y - 10);
  g.lineTo(x + Math.sin(th) * 110, y - 10 - Math.cos(th) * 110); g.stroke();
  g.fillStyle = '#555'; g.fillText(`t = ${env.t}`, 8, 14);
}

function drawCurve() {
  const c = $('curve'), g = c.getContext('2d'), W = c.width, H = c.height, pts = status.curve;
  g.clearRect(0, 0, W, H);
  g.strokeStyle = '#ccc'; g.strokeRect(30, 10, W - 40, H - 30);
  g.fillStyle = '#555'; g.fillText(String(MAX_STEPS), 2, 14); g.fillText('0', 18, H - 20); g.fillText('version', W - 50, H - 6);
  if (pts.length < 2) return;
  const vmax = pts[pts.length - 1][0], vmin = pts[0][0];
  g.strokeStyle = '#26c'; g.lineWidth = 2; g.beginPath();
  pts.forEach(([v, len], i) => {
    const px = 30 + ((v - vmin) / Math.max(1, vmax - vmin)) * (W - 40), py = H - 20 - (len / MAX_STEPS) * (H - 30);
    if (i) g.lineTo(px, py); else g.moveTo(px, py);
  });
  g.stroke();
}
