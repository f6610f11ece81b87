// A ring producer in a pure-JS worker: the cursor-lane protocol of
// docs/rl.md ("Cursor lanes") over the words of docs/abi.md ("Ring object"):
// LANES rings with the drop-newest or block policy.  The producer owns one
// lane; a claim writes only its own intent word, the chunk headers and two
// slot records, and a commit publishes them with one store of the lane's
// head, then wakes the consumer if it sleeps (the same "publish, then look
// for sleepers" rule; JS Atomics are seq_cst, which the rule needs).
// MPSC and overwrite-oldest rings are refused (SABRE_ENOTSUP): their
// per-slot state words are for wasm producers (the main-thread API).
//
// Taking over a dead producer's record (as sabre_ring_producer_open does):
// a free record (owner 0) is taken first; failing that, a record whose
// owner is dead in the party table (a terminated Worker, or any identity
// whose party slot is dead or reused) is taken with a CAS from that owner.
// The dead owner's outstanding claim never moved the lane's head, so the
// consumer never saw it: its intent is exchanged to 0 and, if it lies at or
// past the head, counted `abandoned` (header and record); the death is
// counted once per owner (dead_owner CAS, then deaths and producer_deaths).
// The new owner continues on the lane from its head with the record's
// seq_next, so sequence numbers stay unique (the dead claim's are skipped).
import abi from '../abi.js';
import { fail } from '../errors.js';
import { viewsOf, u64, cstr, hex, needShared } from './mem.js';
import { identity, alive } from './parties.js';
import { nowNs } from './clock.js';

const R = abi.structs.ring_header.fields;
const F = abi.structs.ring_field.fields;
const L = abi.structs.ring_lane.fields;
const P = abi.structs.ring_producer.fields;
const CH = abi.structs.ring_chunk.fields;
const ME = abi.structs.ring_meta.fields;
const K = abi.constants;

export function ringGeometry(buffer, obj) {
  const what = `ring '${obj.name}'`;
  needShared(buffer, what);
  const m = viewsOf(buffer), o = obj.offset;
  if (obj.size < 640) throw fail('SABRE_ECORRUPT', `${what}: object is ${obj.size} bytes, want >= 640`);
  const magic = m.dv.getUint32(o + R.magic, true);
  if (magic !== K.RING_MAGIC) throw fail('SABRE_ECORRUPT', `${what}: magic is ${hex(magic)}, want ${hex(K.RING_MAGIC)}`);
  const major = m.dv.getUint16(o + R.abi_major, true), minor = m.dv.getUint16(o + R.abi_minor, true);
  if (major !== K.RING_ABI_MAJOR)
    throw fail('SABRE_EVERSION', `${what}: ring ABI ${major}.${minor}, this reader ${K.RING_ABI_MAJOR}.x`);
  const g = {
    shape: m.dv.getUint32(o + R.shape, true), policy: m.dv.getUint32(o + R.policy, true),
    capacity: m.dv.getUint32(o + R.capacity, true), nproducers: m.dv.getUint32(o + R.nproducers, true),
    nlanes: m.dv.getUint32(o + R.nlanes, true), nfields: m.dv.getUint32(o + R.nfields, true),
    steps: m.dv.getUint32(o + R.steps, true), envs: m.dv.getUint32(o + R.envs, true),
  };
  const off = (f) => u64(m, o + R[f], `${what}: ${f}`);
  Object.assign(g, {
    stride: off('chunk_stride'), headers: off('headers_offset'), fields: off('fields_offset'),
    lanes: off('lanes_offset'), producers: off('producers_offset'), meta: off('meta_offset'),
    payloads: off('payloads_offset'),
  });
  const slots = g.capacity * g.nlanes;
  const inside = (start, bytes) => start >= 640 && start + bytes <= obj.size;
  if (!g.capacity || g.capacity & (g.capacity - 1) || g.capacity > 1 << 20) throw fail('SABRE_ECORRUPT', `${what}: capacity is ${g.capacity}, want a power of two <= 2^20`);
  if (g.nproducers < 1 || g.nproducers > 256 || g.nfields < 1 || g.nfields > 64) throw fail('SABRE_ECORRUPT', `${what}: ${g.nproducers} producers / ${g.nfields} fields, want 1..256 / 1..64`);
  if (g.nlanes !== (g.shape === K.RING_LANES ? g.nproducers : 1)) throw fail('SABRE_ECORRUPT', `${what}: nlanes is ${g.nlanes}, want ${g.shape === K.RING_LANES ? g.nproducers : 1}`);
  if (!inside(g.fields, g.nfields * 64) || !inside(g.lanes, g.nlanes * 384) || !inside(g.producers, g.nproducers * 128) ||
      !inside(g.headers, slots * 16) || !inside(g.meta, slots * 32) || !inside(g.payloads, slots * g.stride) || g.stride % 64)
    throw fail('SABRE_ECORRUPT', `${what}: its sections do not fit the ${obj.size}-byte object`);
  g.fieldList = [];
  for (let i = 0; i < g.nfields; i++) {
    const f = o + g.fields + i * 64;
    const fd = { name: cstr(m, f + F.name, 40), elemSize: m.dv.getUint32(f + F.elem_size, true),
      offset: u64(m, f + F.offset, `${what}: field offset`), size: u64(m, f + F.size, `${what}: field size`) };
    if (fd.offset + fd.size > g.stride || fd.size !== g.steps * g.envs * fd.elemSize)
      throw fail('SABRE_ECORRUPT', `${what}: field '${fd.name}' [${fd.offset}, +${fd.size}) does not fit the ${g.stride}-byte chunk`);
    g.fieldList.push(fd);
  }
  return g;
}

export class RingProducer {
  // parties: byte offset of the party table (handle.parties); without it
  // only free records are taken (no liveness to check).
  constructor(buffer, obj, party, parties) {
    const what = `ring '${obj.name}'`;
    const g = ringGeometry(buffer, obj);
    if (g.shape !== K.RING_LANES || g.policy === K.RING_OVERWRITE_OLDEST)
      throw fail('SABRE_ENOTSUP', `${what}: shape/policy is ${g.shape}/${g.policy}, want a LANES ring with DROP_NEWEST or BLOCK for a pure-JS producer`);
    const m = viewsOf(buffer), o = obj.offset;
    const self = identity(party, what);
    let idx = -1, prev = 0n;
    for (let pass = 0; pass < 2 && idx < 0; pass++) {
      if (pass === 1 && !Number.isInteger(parties)) break;
      for (let k = 0; k < g.nproducers && idx < 0; k++) {
        const at = (o + g.producers + k * 128 + P.owner) >>> 3;
        const cur = Atomics.load(m.u64, at);
        if (pass === 0 ? cur !== 0n : (cur === 0n || cur === self || alive(m.i32, parties, cur))) continue;
        if (Atomics.compareExchange(m.u64, at, cur, self) === cur) { idx = k; prev = cur; }
      }
    }
    if (idx < 0) throw fail('SABRE_ENOSPC', `${what}: all ${g.nproducers} producer records belong to live producers`);
    Object.assign(this, { buffer, m, o, g, name: obj.name, self, idx });
    this.rec = o + g.producers + idx * 128;
    this.lane = o + g.lanes + idx * 384;
    this.head = Number(Atomics.load(m.u64, (this.lane + L.head) >>> 3));
    this.freed = Number(Atomics.load(m.u64, (this.lane + L.freed) >>> 3));
    this.version = 0n;
    this.current = null;
    // A dead owner's claim (after a clean close there is none): counted, never seen.
    const intent = Atomics.exchange(m.u64, (this.rec + P.intent) >>> 3, 0n);
    const first = intent >> 9n, count = intent & 0x1ffn;
    if (count && BigInt(Atomics.load(m.u64, (this.lane + L.head) >>> 3)) <= first) {
      Atomics.add(m.u64, (o + R.abandoned) >>> 3, count);
      Atomics.add(m.u64, (this.rec + P.abandoned) >>> 3, count);
    }
    this.head = Number(Atomics.load(m.u64, (this.lane + L.head) >>> 3));
    this.freed = Number(Atomics.load(m.u64, (this.lane + L.freed) >>> 3));
    if (prev) { // the death, once per owner (whoever swaps dead_owner counts it)
      const was = Atomics.load(m.u64, (this.rec + P.dead_owner) >>> 3);
      if (was !== prev && Atomics.compareExchange(m.u64, (this.rec + P.dead_owner) >>> 3, was, prev) === was) {
        Atomics.add(m.u64, (this.rec + P.deaths) >>> 3, 1n);
        Atomics.add(m.u64, (o + R.producer_deaths) >>> 3, 1n);
      }
    }
    this.tookOver = prev ? { owner: prev, abandoned: Number(count && first >= BigInt(this.head) ? count : 0n) } : null;
    Atomics.store(m.u64, (this.rec + P.heartbeat_ns) >>> 3, nowNs());
    this.fields = Object.fromEntries(g.fieldList.map((f) => [f.name, f]));
  }

  setVersion(v) { this.version = BigInt(v); }

  #slot(pos) { return this.idx * this.g.capacity + (pos % this.g.capacity); }

  #room(n) {
    const cap = this.g.capacity;
    if (this.freed <= this.head && this.head - this.freed <= cap - n) return true;
    this.freed = Number(Atomics.load(this.m.u64, (this.lane + L.freed) >>> 3));
    return this.freed <= this.head && this.head - this.freed <= cap - n;
  }

  #waitRoom(n, need, deadline) {
    const { m, o } = this;
    if (this.g.policy !== K.RING_BLOCK) {
      Atomics.add(m.u64, (this.rec + P.dropped) >>> 3, BigInt(n));
      return fail('SABRE_EFULL', `ring '${this.name}': full, ${n} chunk(s) dropped`);
    }
    Atomics.store(m.u64, (this.rec + P.heartbeat_ns) >>> 3, nowNs());
    const left = deadline - performance.now();
    if (left <= 0) return fail('SABRE_ETIMEDOUT', `ring '${this.name}': full until the timeout`);
    Atomics.add(m.i32, (o + R.prod_waiters) >>> 2, 1);
    const seen = Atomics.load(m.i32, (o + R.release_seq) >>> 2);
    if (!this.#room(need)) Atomics.wait(m.i32, (o + R.release_seq) >>> 2, seen, Math.min(left, 10));
    Atomics.sub(m.i32, (o + R.prod_waiters) >>> 2, 1);
    return null;
  }

  #wakeConsumer() {
    const { m, o } = this;
    if (Atomics.load(m.i32, (o + R.cons_waiting) >>> 2)) {
      Atomics.add(m.i32, (o + R.commit_seq) >>> 2, 1);
      Atomics.notify(m.i32, (o + R.commit_seq) >>> 2, 1);
    }
  }

  // Claim n chunks (1..min(256, capacity)); blocks up to timeoutMs on a full
  // BLOCK ring (a worker may block; 0 = fail at once).  Returns a claim:
  // {first, count, field(name, Type) -> typed array of count*T*E*k elements
  // per chunk i via chunk(i).field(...)}, with shape [T][E][k].
  claim(n, timeoutMs = 0) {
    const { m, g } = this;
    if (!(n >= 1 && n <= Math.min(K.RING_BATCH_MAX, g.capacity)))
      throw fail('SABRE_EINVAL', `ring '${this.name}': claim of ${n} chunks, want 1..${Math.min(K.RING_BATCH_MAX, g.capacity)}`);
    if (this.current) throw fail('SABRE_ESTATE', `ring '${this.name}': producer ${this.idx} already has a claim`);
    const deadline = performance.now() + timeoutMs;
    const wrap = g.capacity - (this.head % g.capacity);
    if (wrap < n) { // padding to the lane end; the consumer skips it
      while (!this.#room(wrap)) { const e = this.#waitRoom(n, wrap, deadline); if (e) throw e; }
      const s = this.#slot(this.head), h = this.o + g.headers + s * 16, me = this.o + g.meta + s * 32;
      m.dv.setBigUint64(h + CH.sequence, 0n, true);
      m.dv.setUint32(h + CH.valid_steps, 0, true);
      m.dv.setUint16(h + CH.producer, this.idx, true);
      m.dv.setUint16(h + CH.claim_rest, K.RING_PAD | (wrap - 1), true);
      m.dv.setBigUint64(me + ME.policy_version, 0n, true);
      m.dv.setBigUint64(me + ME.claim_end, BigInt(K.RING_END_PAD) | BigInt(this.head + wrap), true);
      this.head += wrap;
      Atomics.store(m.u64, (this.lane + L.head) >>> 3, BigInt(this.head));
      this.#wakeConsumer();
    }
    while (!this.#room(n)) { const e = this.#waitRoom(n, n, deadline); if (e) throw e; }
    const first = this.head, end = first + n;
    Atomics.store(m.u64, (this.rec + P.intent) >>> 3, (BigInt(first) << 9n) | BigInt(n));
    let seq = Atomics.load(m.u64, (this.rec + P.seq_next) >>> 3);
    const s0 = this.#slot(first);
    for (let i = 0; i < n; i++) {
      const h = this.o + g.headers + (s0 + i) * 16;
      m.dv.setBigUint64(h + CH.sequence, seq + BigInt(i), true);
      m.dv.setUint32(h + CH.valid_steps, g.steps, true);
      m.dv.setUint16(h + CH.producer, this.idx, true);
      m.dv.setUint16(h + CH.claim_rest, n - 1 - i, true);
    }
    for (const pos of [first, end - 1]) {
      const me = this.o + g.meta + this.#slot(pos) * 32;
      m.dv.setBigUint64(me + ME.policy_version, this.version, true);
      m.dv.setBigUint64(me + ME.commit_ns, 0n, true);
      m.dv.setBigUint64(me + ME.claim_end, BigInt(end), true);
    }
    Atomics.store(m.u64, (this.rec + P.seq_next) >>> 3, seq + BigInt(n));
    const data = this.o + g.payloads + s0 * g.stride;
    this.current = new Claim(this, first, n, data);
    return this.current;
  }

  commit(claim) {
    const { m, g } = this;
    if (!this.current || claim !== this.current) throw fail('SABRE_ESTATE', `ring '${this.name}': producer ${this.idx}: that claim is not the outstanding one`);
    const end = claim.first + claim.count, now = nowNs();
    m.dv.setBigUint64(this.o + g.meta + this.#slot(end - 1) * 32 + ME.commit_ns, now, true);
    Atomics.add(m.u64, (this.rec + P.produced) >>> 3, BigInt(claim.count));
    this.head = end;
    Atomics.store(m.u64, (this.lane + L.head) >>> 3, BigInt(end)); // publishes payloads + headers
    Atomics.store(m.u64, (this.rec + P.intent) >>> 3, 0n);
    Atomics.store(m.u64, (this.rec + P.heartbeat_ns) >>> 3, now);
    this.current = null;
    this.#wakeConsumer();
  }

  abort(claim) {
    if (!this.current || claim !== this.current) throw fail('SABRE_ESTATE', `ring '${this.name}': producer ${this.idx}: that claim is not the outstanding one`);
    Atomics.add(this.m.u64, (this.rec + P.aborted) >>> 3, BigInt(claim.count));
    Atomics.store(this.m.u64, (this.rec + P.intent) >>> 3, 0n);
    this.current = null;
  }

  close() {
    if (this.current) this.abort(this.current);
    Atomics.store(this.m.u64, (this.rec + P.intent) >>> 3, 0n);
    Atomics.compareExchange(this.m.u64, (this.rec + P.owner) >>> 3, this.self, 0n);
  }
}

class Claim {
  constructor(p, first, count, data) {
    Object.assign(this, { p, first, count, data });
  }

  // Sequence number of chunk i (its header's `sequence`: unique per
  // producer record, continuing across a takeover).
  sequence(i = 0) {
    if (!(i >= 0 && i < this.count)) throw fail('SABRE_ERANGE', `ring '${this.p.name}': chunk is ${i}, want 0..${this.count - 1}`);
    const p = this.p, s = p.idx * p.g.capacity + ((this.first + i) % p.g.capacity);
    return Number(p.m.dv.getBigUint64(p.o + p.g.headers + s * 16 + CH.sequence, true));
  }

  // Field `name` of chunk i as a typed array of T*E*k elements ([t][e][k],
  // k = the field's element bytes / Type.BYTES_PER_ELEMENT), over the payload.
  field(name, Type = Uint8Array, i = 0) {
    const f = this.p.fields[name];
    if (!f) throw fail('SABRE_ENOENT', `ring '${this.p.name}': field is '${name}', want one of ${Object.keys(this.p.fields).join(', ')}`);
    if (!(i >= 0 && i < this.count)) throw fail('SABRE_ERANGE', `ring '${this.p.name}': chunk is ${i}, want 0..${this.count - 1}`);
    if (f.elemSize % Type.BYTES_PER_ELEMENT) throw fail('SABRE_ELAYOUT', `ring '${this.p.name}': field '${name}' has ${f.elemSize}-byte elements, not a multiple of ${Type.name}`);
    const a = new Type(this.p.buffer, this.data + i * this.p.g.stride + f.offset, f.size / Type.BYTES_PER_ELEMENT);
    a.shape = [this.p.g.steps, this.p.g.envs, f.elemSize / Type.BYTES_PER_ELEMENT];
    return a;
  }
}
