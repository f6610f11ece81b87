// Pure-JS weights reader (no wasm): adopts every version it can until
// `until`, checking each pinned buffer is whole (every float == its version).
// mode 'hang': adopt once, report, then spin while holding the pin.
import { parentPort } from 'node:worker_threads';
import { attach } from '../../src/worker/index.js';

parentPort.once('message', ({ handle, party, name, until, mode }) => {
  try {
    const ctx = attach({ ...handle, party });
    const rd = ctx.weights(name);
    if (mode === 'hang') {
      rd.waitForVersion(0, 5000);
      const v = rd.adopt();
      parentPort.postMessage({ pinned: v.version, slot: v.slot, control: Array.from(rd.control) });
      for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
    let seen = 0, adopts = 0, torn = 0;
    while (seen < until) {
      if (!rd.waitForVersion(seen, 10000)) throw new Error(`no version after ${seen}`);
      const v = rd.adopt();
      for (let i = 0; i < v.data.length; i++) if (v.data[i] !== v.version) { torn++; break; }
      if (v.version <= seen) throw new Error(`version went from ${seen} to ${v.version}`);
      seen = v.version;
      adopts++;
    }
    rd.close();
    parentPort.postMessage({ seen, adopts, torn });
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
});
