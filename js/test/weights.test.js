import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSabre, startWorker } from './helpers.js';
import { WeightsReader } from '../src/worker/index.js';

test('test_weights_publish_adopt_and_the_control_block', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'w1', size: 1 << 20 });
  const w = r.createWeights('pi', { size: 256, slots: 3, shapeHash: 0x1234 });
  const rd = w.reader();
  assert.equal(rd.adopt(), null);
  assert.equal(w.publish(new Float32Array(64).fill(1.5)), 1);
  const v = rd.adopt();
  assert.equal(v.version, 1);
  assert.equal(v.data[63], 1.5);
  assert.equal(v.changed, true);
  assert.deepEqual(Array.from(w.control), [v.slot, 1, 0x1234, 1]); // active_idx, version, shape_hash, step
  const slot = w.begin(); // in place: a view of the claimed slot
  assert.equal(slot.length, 256);
  assert.throws(() => w.begin(0), (e) => e.code === 'SABRE_ESTATE' || e.code === 'SABRE_EBUSY');
  w.abort();
  assert.throws(() => w.publish(new Float32Array(3)), (e) => e.code === 'SABRE_EINVAL' && /want 256/.test(e.message));
  assert.equal(rd.adopt().changed, false);
  assert.equal(await rd.waitForVersionAsync(1, 10), false);
  const later = rd.waitForVersionAsync(1, 5000);
  w.publish(new Float32Array(64).fill(2), { step: 40 });
  assert.equal(await later, true);
  assert.equal(rd.adopt().step, 40);
  rd.close();
  w.close();
  r.close();
});

test('test_weights_pure_js_reader_never_sees_a_torn_buffer', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'w2', size: 4 << 20 });
  const w = r.createWeights('pi', { size: 64 * 1024, slots: 3 });
  const until = 200;
  const wk = startWorker(s, 'weights_reader.js', { handle: s.workerHandle(r), name: 'pi', until });
  const buf = new Float32Array(16 * 1024);
  for (let v = 1; v <= until; v++) {
    buf.fill(v);
    assert.equal(w.publish(buf, { timeoutMs: 5000 }), v);
    if (v % 16 === 0) await new Promise((res) => setImmediate(res));
  }
  const m = await wk.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.seen, until);
  assert.equal(m.torn, 0);
  assert.ok(m.adopts >= 1);
  await wk.exited;
  w.close();
  r.close();
});

test('test_weights_dead_reader_pin_is_ignored_after_terminate', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'w3', size: 1 << 20 });
  const w = r.createWeights('pi', { size: 1024, slots: 2 });
  w.publish(new Float32Array(256).fill(1));
  const wk = startWorker(s, 'weights_reader.js', { handle: s.workerHandle(r), name: 'pi', mode: 'hang' });
  const m = await wk.next();
  assert.equal(m.error, undefined, m.error);
  assert.equal(m.pinned, 1);
  assert.equal(m.control[1], 1); // the worker read the DSHQ block too
  w.publish(new Float32Array(256).fill(2)); // the other slot
  // Slot of v1 pinned by a live worker, slot of v2 active: no slot is free.
  assert.throws(() => w.publish(new Float32Array(256).fill(3), { timeoutMs: 30 }), (e) => e.code === 'SABRE_ETIMEDOUT' || e.code === 'SABRE_EBUSY');
  await wk.terminate();
  assert.equal(s.partyAlive(wk.party), false);
  assert.equal(w.publish(new Float32Array(256).fill(3), { timeoutMs: 2000 }), 3); // the dead pin is ignored
  const info = r.inspect().objects.find((o) => o.name === 'pi');
  assert.ok(JSON.stringify(info).includes('dead'), 'inspect reports the dead pin');
  w.close();
  r.close();
});

test('test_weights_worker_refuses_wrong_layout_and_version', async () => {
  const s = await getSabre();
  const r = s.createRegion({ name: 'w4', size: 1 << 20 });
  const w = r.createWeights('pi', { size: 1024 });
  r.alloc('raw', { size: 1024 });
  const ctx = { buffer: s.buffer, region: r.base, parties: 0, party: { id: 2, gen: 1 } };
  const obj = r.view().find('pi');
  const dv = new DataView(s.buffer);
  dv.setUint16(obj.offset + 20, 9, true); // abi_major
  assert.throws(() => new WeightsReader(s.buffer, obj, ctx.party), (e) => e.code === 'SABRE_EVERSION' && /ABI 9.x/.test(e.message));
  dv.setUint16(obj.offset + 20, 1, true);
  dv.setUint32(obj.offset + 16, 0xdead, true); // magic
  assert.throws(() => new WeightsReader(s.buffer, obj, ctx.party), (e) => e.code === 'SABRE_ECORRUPT' && /magic is/.test(e.message));
  dv.setUint32(obj.offset + 16, 0x54574253, true);
  const raw = r.view().find('raw');
  assert.throws(() => new WeightsReader(s.buffer, raw, ctx.party), (e) => e.code === 'SABRE_ECORRUPT');
  assert.throws(() => new WeightsReader(s.buffer, obj, { id: 0 }), (e) => e.code === 'SABRE_EINVAL' && /party/.test(e.message));
  w.close();
  r.close();
});
