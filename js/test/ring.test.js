import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSabre, startWorker } from './helpers.js';
import { RingProducer } from '../src/worker/index.js';

const STEP = 'struct Step { obs: f32[3]; rew: f32; done: bool; }';

test('test_ring_wasm_producer_to_consumer_views', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'r1', size: 1 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 4, envs: 2, capacity: 8, producers: 1 });
  const p = ring.producer(), c = ring.consumer();
  const cl = p.claim(3);
  assert.deepEqual(cl.field('obs', 2).shape, [4, 2, 3]);
  assert.ok(cl.field('obs', 0) instanceof Float32Array);
  assert.ok(cl.field('done', 0) instanceof Uint8Array);
  for (let i = 0; i < 3; i++) cl.field('rew', i).fill(i + 1);
  p.commit();
  const b = c.consume(256, 100);
  assert.equal(b.count, 3);
  assert.deepEqual(Array.from(b.field('rew', 2)), new Array(8).fill(3));
  assert.equal(b.header(2).sequence, 2);
  assert.equal(b.field('rew', 0).buffer, s.buffer); // a view, not a copy
  c.release();
  assert.equal(c.consume(8, 0), null); // empty: null, never an empty batch
  const st = ring.stats();
  assert.equal(st.produced, 3);
  assert.equal(st.consumed, 3);
  // drop-newest: a full ring refuses and counts
  for (let k = 0; k < 8; k++) { p.claim(1); p.commit(); }
  assert.throws(() => p.claim(1), (e) => e.code === 'SABRE_EFULL');
  assert.equal(ring.stats().dropped, 1);
  p.close(); c.close(); ring.close(); r.close();
});

test('test_ring_pure_js_producer_to_c_consumer_checksummed', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'r2', size: 4 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 4, envs: 2, capacity: 16, producers: 2, policy: 'block' });
  const claims = 300, n = 3;
  const wk = startWorker(s, 'ring_producer.js', { handle: s.workerHandle(r), name: 'roll', claims, n });
  const c = ring.consumer();
  let q = 0;
  const deadline = Date.now() + 20000;
  while (q < claims * n && Date.now() < deadline) {
    const b = c.consume(256, 50);
    if (!b) { await new Promise((res) => setImmediate(res)); continue; }
    for (let i = 0; i < b.count; i++, q++) {
      assert.equal(b.header(i).sequence, q); // exactly once, in order
      const obs = b.field('obs', i);
      for (let t = 0; t < 4; t++) for (let e = 0; e < 2; e++) for (let j = 0; j < 3; j++)
        if (obs[(t * 2 + e) * 3 + j] !== q * 1000 + t * 100 + e * 10 + j) assert.fail(`chunk ${q}: obs[${t}][${e}][${j}] is ${obs[(t * 2 + e) * 3 + j]}`);
      assert.equal(b.field('rew', i)[7], q);
    }
    c.release();
  }
  assert.equal(q, claims * n);
  const m = await wk.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.produced, claims * n);
  assert.equal(ring.stats().produced, claims * n);
  c.close(); ring.close(); r.close();
});

test('test_ring_worker_terminated_mid_claim_is_reclaimed', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'r3', size: 1 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 2, envs: 1, capacity: 8, producers: 2, reclaimMs: 20 });
  const c = ring.consumer();
  const wk = startWorker(s, 'ring_producer.js', { handle: s.workerHandle(r), name: 'roll', n: 2, mode: 'hang' });
  const m = await wk.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.claimed, 2);
  assert.equal(c.consume(8, 30), null); // claimed, never committed: nothing to read
  assert.equal(ring.stats().abandoned, 0); // a live producer's claim is never taken
  await wk.terminate();
  assert.equal(c.consume(8, 200), null); // the consumer does not hang on it
  assert.equal(ring.stats().abandoned, 2);
  // The record is free for a new producer, which continues on the lane.
  const p = ring.producer();
  p.claim(1); p.commit();
  assert.equal(c.consume(8, 100).count, 1);
  c.release();
  p.close(); c.close(); ring.close(); r.close();
});

test('test_ring_of_another_abi_version_is_refused', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'r4', size: 1 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 2, envs: 1, capacity: 8, producers: 1 });
  const obj = r.view().find('roll');
  const dv = new DataView(s.buffer);
  dv.setUint16(obj.offset + 4, 2, true); // ring ABI 2.x
  const party = s.spawnParty();
  assert.throws(() => new RingProducer(s.buffer, obj, party), (e) => e.code === 'SABRE_EVERSION' && /ring ABI 2\.\d+, this reader 3\.x/.test(e.message));
  assert.throws(() => r.openRing('roll'), (e) => e.code === 'SABRE_EVERSION' && /2\.\d/.test(e.message));
  dv.setUint16(obj.offset + 4, 3, true);
  dv.setBigUint64(obj.offset + 112, 1n << 40n, true); // payloads_offset
  assert.throws(() => new RingProducer(s.buffer, obj, party), (e) => e.code === 'SABRE_ECORRUPT');
  const mpsc = r.createRing('mpsc', { schema: s.schema(STEP), shape: 'mpsc', capacity: 8 });
  assert.throws(() => new RingProducer(s.buffer, r.view().find('mpsc'), party), (e) => e.code === 'SABRE_ENOTSUP');
  s.exitParty(party);
  mpsc.close(); ring.close(); r.close();
});
