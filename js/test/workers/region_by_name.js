// Pure-JS worker (no wasm) that finds a region by name: attach with
// {regions, regionName} instead of a region offset, then writes `fill`
// into the RAW object `obj` (byte i = (fill + i) & 255) and reports where
// the region and the object are.  A name that is not open reports the error.
import { parentPort } from 'node:worker_threads';
import { attach } from '../../src/worker/index.js';

parentPort.once('message', ({ handle, party, regionName, obj, fill }) => {
  try {
    const ctx = attach({ ...handle, region: undefined, regionName, party });
    const o = ctx.region.find(obj);
    const u8 = new Uint8Array(handle.buffer, o.offset, o.size);
    for (let i = 0; i < u8.length; i++) u8[i] = (fill + i) & 255;
    parentPort.postMessage({ base: ctx.region.base, offset: o.offset, size: o.size });
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}`, code: e.code });
  }
});
