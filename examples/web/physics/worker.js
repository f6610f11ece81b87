// The physics Worker: a Web Worker of the page (module worker) or a Node
// worker_threads Worker of node.mjs.  Pure JS, no wasm: it sees sabre
// objects through sabre/worker (shared mode) or gets snapshot rows moved in
// an ArrayBuffer (transfer mode).  Messages:
//   {type: 'attach', handle}                      -> {ready}
//   {type: 'snapshot', name, begin, end, dt}      -> {done}  (marks Pos rows, Vel rows that bounced)
//   {type: 'inplace', names: [chunk names], dt}   -> {done}  (the world's own columns)
//   {type: 'part', part, dt}                      -> {done, part} (buffer moved back)
// Errors come back as {error}.
import { attach } from '../../../js/src/worker/index.js';
import { SnapshotPart } from '../../../js/src/transfer.js';
import { integrateBounds } from './sim.js';

const isNode = typeof process === 'object' && !!(process.versions && process.versions.node);
let port;
if (isNode) {
  const { parentPort } = await import('node:worker_threads');
  port = { on: (f) => parentPort.on('message', f), post: (m, t) => parentPort.postMessage(m, t || []) };
} else {
  port = { on: (f) => { self.onmessage = (e) => f(e.data); }, post: (m, t) => self.postMessage(m, t || []) };
}

let ctx = null;
function columns(view) {
  const P = view.component('Pos'), V = view.component('Vel');
  return { P, V, px: P.column('x'), py: P.column('y'), vx: V.column('x'), vy: V.column('y') };
}

port.on((msg) => {
  try {
    if (msg.type === 'attach') { ctx = attach(msg.handle); port.post({ ready: true }); return; }
    if (msg.type === 'snapshot') {
      const c = columns(ctx.snapshot(msg.name));
      integrateBounds(c.px, c.py, c.vx, c.vy, msg.begin, msg.end, msg.dt, (i) => c.V.mark(i));
      c.P.markRange(msg.begin, msg.end - msg.begin);
      port.post({ done: true });
      return;
    }
    if (msg.type === 'inplace') {
      for (const name of msg.names) {
        const v = ctx.snapshot(name), c = columns(v);
        integrateBounds(c.px, c.py, c.vx, c.vy, 0, v.rows, msg.dt, null);
      }
      port.post({ done: true });
      return;
    }
    if (msg.type === 'part') {
      const part = new SnapshotPart(msg.part), c = columns(part);
      integrateBounds(c.px, c.py, c.vx, c.vy, 0, part.rows, msg.dt, (i) => c.V.mark(i));
      c.P.markRange(0, part.rows);
      const back = part.release();
      port.post({ done: true, part: back }, [back.buffer]);
      return;
    }
    port.post({ error: `message type is '${msg.type}', want attach, snapshot, inplace or part` });
  } catch (e) {
    port.post({ error: `${e.code || ''} ${e.message}` });
  }
});
port.post({ ready: true });
