// The physics page's program under Node worker_threads (same sim.js, same
// worker.js): prints ms per frame and ns per entity per mode and whether each
// mode's final state is bit-identical to the serial run (exit status 1 if not).
// Usage: node --no-experimental-fetch examples/web/physics/node.mjs [--n N] [--frames F] [--workers K] [--transfer]
import { Worker } from 'node:worker_threads';
import { load } from '../../../js/src/index.js';
import { runPhysics } from './sim.js';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const n = opt('--n', 20000), frames = opt('--frames', 60), workers = opt('--workers', 2);
const sabre = await load(args.includes('--transfer') ? { mode: 'transfer' } : {});

function spawn() {
  const raw = new Worker(new URL('./worker.js', import.meta.url));
  const queue = [], waiters = [];
  const deliver = (m) => (waiters.length ? waiters.shift()(m) : queue.push(m));
  raw.on('message', deliver);
  raw.on('error', (e) => deliver({ error: String(e && e.stack ? e.stack : e) }));
  return {
    raw,
    post: (m, t) => raw.postMessage(m, t || []),
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res))),
    terminate: () => raw.terminate(),
  };
}

const r = await runPhysics({ sabre, spawn, n, frames, workers });
console.log(`physics: ${r.n} entities, ${r.frames} frames, ${r.workers} workers, sabre mode '${r.mode}'`);
console.log(`  serial (main thread)  ${r.serial.msPerFrame.toFixed(3)} ms/frame  ${r.serial.nsPerEntity.toFixed(2)} ns/entity`);
for (const m of r.modes)
  console.log(`  ${m.mode.padEnd(20)}  ${m.msPerFrame.toFixed(3)} ms/frame  ${m.nsPerEntity.toFixed(2)} ns/entity  final state ${m.identical ? 'bit-identical to serial' : 'DIFFERS from serial'}`);
console.log(JSON.stringify(r));
process.exit(r.modes.every((m) => m.identical) ? 0 : 1);
