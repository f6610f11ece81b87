// A pure-JS producer that attaches after a producer died takes its record
// over (docs/js.md, "Taking over a dead producer"): terminate a Worker
// mid-claim, attach a replacement Worker, and check on the C (wasm)
// consumer that every chunk is whole (checksummed against its sequence
// number), none is seen twice, the dead claim is never seen, and the
// abandoned and death counters count it once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSabre, startWorker } from './helpers.js';

const STEP = 'struct Step { obs: f32[3]; rew: f32; done: bool; }';

// Consumes and checks chunks until `want` were seen or `stop()` says so.
async function drain(c, seen, want, stop = () => false) {
  const deadline = Date.now() + 20000;
  while (seen.length < want && !stop() && Date.now() < deadline) {
    const b = c.consume(256, 5);
    if (!b) { await new Promise((res) => setImmediate(res)); continue; }
    for (let i = 0; i < b.count; i++) {
      const q = b.header(i).sequence, obs = b.field('obs', i), [T, E, K] = obs.shape;
      for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) for (let j = 0; j < K; j++)
        if (obs[(t * E + e) * K + j] !== q * 1000 + t * 100 + e * 10 + j) assert.fail(`chunk ${q}: obs[${t}][${e}][${j}] is ${obs[(t * E + e) * K + j]}`);
      assert.equal(b.field('rew', i)[T * E - 1], q, `chunk ${q}: rew`);
      if (seen.length) assert.ok(q > seen[seen.length - 1], `sequence ${q} after ${seen[seen.length - 1]}`);
      seen.push(q);
    }
    c.release();
  }
}

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

test('test_ring_pure_js_producer_takes_over_a_terminated_workers_record', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'tk1', size: 1 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 2, envs: 2, capacity: 16, producers: 1, policy: 'block' });
  const c = ring.consumer(), seen = [];
  const a = startWorker(s, 'ring_producer.js', { handle: s.workerHandle(r), name: 'roll', claims: 20, n: 4, mode: 'die' });
  let died = null;
  a.next().then((m) => { died = m; });
  await drain(c, seen, 80, () => died && seen.length >= died.produced);
  while (!died) await new Promise((res) => setTimeout(res, 5));
  assert.equal(died.error, undefined, died.error);
  assert.equal(died.produced, 80);
  assert.equal(died.claimed, 4); // mid-claim: half written, never committed
  await drain(c, seen, 80);
  assert.equal(c.consume(8, 20), null); // the claim is invisible
  await a.terminate();
  // The only record belongs to a dead Worker: a replacement takes it over
  // (before the consumer looks again, so the replacement counts the claim).
  const b = startWorker(s, 'ring_producer.js', { handle: s.workerHandle(r), name: 'roll', claims: 10, n: 4, report: true });
  const att = await b.next();
  assert.equal(att.error, undefined, att.error);
  assert.deepEqual({ idx: att.idx, tookOver: att.tookOver }, { idx: 0, tookOver: { abandoned: 4 } });
  await drain(c, seen, 120);
  const m = await b.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.produced, 40);
  // 0..79 from the first Worker; 80..83 were its dead claim; 84..123 from the replacement
  assert.deepEqual(seen, [...range(0, 80), ...range(84, 124)]);
  assert.equal(c.consume(8, 20), null);
  const st = ring.stats();
  assert.equal(st.produced, 120);
  assert.equal(st.consumed, 120);
  assert.equal(st.abandoned, 4);
  assert.equal(st.producerDeaths, 1);
  c.close(); ring.close(); r.close();
});

test('test_ring_pure_js_producer_takes_over_a_dead_c_producer', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'tk2', size: 1 << 20 });
  const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 2, envs: 2, capacity: 16, producers: 1, policy: 'block' });
  const c = ring.consumer(), seen = [];
  // A C (wasm) producer commits a claim, claims another and dies.  Its
  // process death is what the record shows afterwards: the owner word names
  // an identity that is no longer alive (an exited party's).
  const p = ring.producer();
  let cl = p.claim(2);
  for (let i = 0; i < 2; i++) { cl.field('obs', i).forEach((_, k, a) => { const [, E, K] = a.shape; const t = Math.floor(k / (E * K)), e = Math.floor(k / K) % E; a[k] = i * 1000 + t * 100 + e * 10 + (k % K); }); cl.field('rew', i).fill(i); }
  p.commit();
  cl = p.claim(3);
  cl.field('rew', 0).fill(-1); // a partial write, never committed
  const dead = s.spawnParty();
  s.exitParty(dead);
  const obj = r.view().find('roll');
  const rec = obj.offset + Number(new DataView(s.buffer).getBigUint64(obj.offset + 96, true)); // producers_offset
  Atomics.store(new BigUint64Array(s.buffer), rec >>> 3, BigInt(dead.id) | (BigInt(dead.gen) << 32n));
  const b = startWorker(s, 'ring_producer.js', { handle: s.workerHandle(r), name: 'roll', claims: 5, n: 2, report: true });
  const att = await b.next();
  assert.equal(att.error, undefined, att.error);
  assert.deepEqual(att.tookOver, { abandoned: 3 });
  await drain(c, seen, 12);
  const m = await b.next();
  assert.equal(m.error, undefined, m.error);
  assert.deepEqual(seen, [0, 1, ...range(5, 15)]);
  const st = ring.stats();
  assert.equal(st.abandoned, 3);
  assert.equal(st.producerDeaths, 1);
  p.close(); // the dead handle: its owner CAS fails, the record stays the replacement's (now free)
  c.close(); ring.close(); r.close();
});
