// Transfer mode, worker side: receives snapshot parts moved in (ArrayBuffers,
// no shared memory), pos.x = 1000 + entity index on every `every`-th row,
// marks those rows, and moves each buffer back.
import { parentPort } from 'node:worker_threads';
import { SnapshotPart } from '../../src/transfer.js';

parentPort.on('message', ({ part, every }) => {
  try {
    const p = new SnapshotPart(part), pos = p.component('Pos'), x = pos.column('x');
    for (let i = 0; i < p.rows; i++) if ((p.begin + i) % every === 0) { x[i] = 1000 + p.entityWords[2 * i]; pos.mark(i); }
    const back = p.release();
    parentPort.postMessage({ part: back, shared: p.buffer instanceof SharedArrayBuffer }, [back.buffer]);
  } catch (e) {
    parentPort.postMessage({ error: `${e.code || ''} ${e.message}` });
  }
});
