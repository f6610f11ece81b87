// Shared by the node --test suites: one module instance per test file.
import { load } from '../src/index.js';
import { Worker } from 'node:worker_threads';

let sabre;
export async function getSabre() {
  if (!sabre) sabre = await load();
  return sabre;
}

// Runs js/test/workers/<file> in a worker_threads Worker with `data`; the
// host gives it a party (marked dead when it exits, errors or is
// terminated).  Returns {worker, party, terminate, messages, next()}.
export function startWorker(s, file, data) {
  const worker = new Worker(new URL(`./workers/${file}`, import.meta.url));
  const hosted = s.host(worker);
  const queue = [], waiters = [];
  worker.on('message', (m) => (waiters.length ? waiters.shift()(m) : queue.push(m)));
  worker.on('error', (e) => (waiters.length ? waiters.shift()({ error: String(e.stack || e) }) : queue.push({ error: String(e) })));
  worker.postMessage({ ...data, party: hosted.party });
  return {
    worker, party: hosted.party, terminate: hosted.terminate,
    next(timeoutMs = 20000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`worker ${file}: no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((m) => { clearTimeout(t); res(m); });
      });
    },
    exited: new Promise((res) => worker.on('exit', res)),
  };
}
