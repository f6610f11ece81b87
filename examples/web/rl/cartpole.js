// CartPole (the classic control task: Barto, Sutton & Anderson 1983, with
// the usual constants) and a linear softmax policy over its 4 observations,
// shared by the trainer, the actors and the page.
export const OBS = 4, ACTIONS = 2, MAX_STEPS = 500;
export const NPARAMS = ACTIONS * OBS + ACTIONS; // W[a][k] then b[a]
const G = 9.8, MC = 1.0, MP = 0.1, L = 0.5, F = 10.0, TAU = 0.02;
const X_LIM = 2.4, TH_LIM = (12 * 2 * Math.PI) / 360;

// A small seeded generator (xorshift32), so runs are reproducible.
export function rng(seed) {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

export class CartPole {
  constructor(rand) { this.rand = rand; this.s = new Float32Array(OBS); this.reset(); }
  reset() { for (let k = 0; k < OBS; k++) this.s[k] = (this.rand() - 0.5) * 0.1; this.t = 0; return this.s; }
  // Returns true when the episode ended (pole fell, cart left, or MAX_STEPS).
  step(a) {
    const [x, xd, th, thd] = this.s;
    const force = a === 1 ? F : -F, c = Math.cos(th), sn = Math.sin(th);
    const temp = (force + MP * L * thd * thd * sn) / (MC + MP);
    const thacc = (G * sn - c * temp) / (L * (4 / 3 - (MP * c * c) / (MC + MP)));
    const xacc = temp - (MP * L * thacc * c) / (MC + MP);
    this.s[0] = x + TAU * xd; this.s[1] = xd + TAU * xacc; this.s[2] = th + TAU * thd; this.s[3] = thd + TAU * thacc;
    this.t++;
    return Math.abs(this.s[0]) > X_LIM || Math.abs(this.s[2]) > TH_LIM || this.t >= MAX_STEPS;
  }
}

// Action probabilities of the linear softmax policy `w` (NPARAMS floats).
export function probs(w, obs, out = new Float64Array(ACTIONS)) {
  let mx = -Infinity;
  for (let a = 0; a < ACTIONS; a++) {
    let z = w[ACTIONS * OBS + a];
    for (let k = 0; k < OBS; k++) z += w[a * OBS + k] * obs[k];
    out[a] = z;
    if (z > mx) mx = z;
  }
  let sum = 0;
  for (let a = 0; a < ACTIONS; a++) { out[a] = Math.exp(out[a] - mx); sum += out[a]; }
  for (let a = 0; a < ACTIONS; a++) out[a] /= sum;
  return out;
}

export function sample(w, obs, rand) {
  const p = probs(w, obs);
  return rand() < p[0] ? 0 : 1;
}

// Adds scale * grad log pi(a | obs) to g (NPARAMS floats).
export function addGradLogPi(g, w, obs, a, scale, p = probs(w, obs)) {
  for (let j = 0; j < ACTIONS; j++) {
    const d = ((j === a ? 1 : 0) - p[j]) * scale;
    for (let k = 0; k < OBS; k++) g[j * OBS + k] += d * obs[k];
    g[ACTIONS * OBS + j] += d;
  }
}
