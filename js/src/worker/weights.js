// A weights reader in a pure-JS worker: the pin protocol of docs/rl.md
// ("The pin protocol and why it is race-free") over the words of
// docs/abi.md ("Weights object"), all seq_cst, which is what Atomics gives.
// The first 16 bytes stay the DrillSergeantHQ control block:
// new Int32Array(buffer, offset, 4) = [active_idx, version, shape_hash,
// step_counter] (`control`).
import abi from '../abi.js';
import { fail } from '../errors.js';
import { viewsOf, u64, hex, needShared } from './mem.js';
import { identity, alive } from './parties.js';

const W = abi.structs.weights_header.fields;
const SL = abi.structs.weights_slot.fields;
const RD = abi.structs.weights_reader.fields;
const K = abi.constants;

export class WeightsReader {
  // obj: {offset, size, name} of the weights object (RegionView.find);
  // party: {id, gen} from the host; partyTable: its byte offset, to take
  // over records of dead readers (optional).
  constructor(buffer, obj, party, partyTable) {
    const what = `weights '${obj.name}'`;
    needShared(buffer, what);
    const m = viewsOf(buffer), o = obj.offset;
    if (obj.size < 512) throw fail('SABRE_ECORRUPT', `${what}: object is ${obj.size} bytes, want >= 512`);
    const magic = m.dv.getUint32(o + W.magic, true);
    if (magic !== K.WEIGHTS_MAGIC) throw fail('SABRE_ECORRUPT', `${what}: magic is ${hex(magic)}, want ${hex(K.WEIGHTS_MAGIC)}`);
    const major = m.dv.getUint16(o + W.abi_major, true);
    if (major !== K.WEIGHTS_ABI_MAJOR) throw fail('SABRE_EVERSION', `${what}: weights ABI ${major}.x, this reader ${K.WEIGHTS_ABI_MAJOR}.x`);
    const nslots = m.dv.getUint32(o + W.nslots, true), nreaders = m.dv.getUint32(o + W.nreaders, true);
    const size = u64(m, o + W.slot_size, `${what}: slot_size`), stride = u64(m, o + W.slot_stride, `${what}: slot_stride`);
    const slots = u64(m, o + W.slots_offset, `${what}: slots_offset`), readers = u64(m, o + W.readers_offset, `${what}: readers_offset`);
    if (nslots < 2 || nslots > 64) throw fail('SABRE_ECORRUPT', `${what}: nslots is ${nslots}, want 2..64`);
    if (nreaders < 1 || nreaders > 4096 || readers % 128 || readers + nreaders * 128 > slots)
      throw fail('SABRE_ECORRUPT', `${what}: ${nreaders} reader records at ${readers} do not fit before the slots at ${slots}`);
    if (stride < size || stride % 64 || slots + nslots * stride > obj.size)
      throw fail('SABRE_ECORRUPT', `${what}: ${nslots} slots of ${stride} bytes at ${slots} do not fit ${obj.size} bytes`);
    Object.assign(this, { buffer, m, o, name: obj.name, nslots, size, stride, slots });
    this.control = new Int32Array(buffer, o, 4);
    this.self = identity(party, what);
    // Take a free reader record, else one whose owner is dead.
    let rec = -1;
    for (let pass = 0; pass < 2 && rec < 0; pass++) {
      for (let i = 0; i < nreaders && rec < 0; i++) {
        const at = (o + readers + i * 128 + RD.owner) >>> 3;
        const cur = Atomics.load(m.u64, at);
        if (pass === 0 ? cur !== 0n : (cur === 0n || partyTable === undefined || alive(m.i32, partyTable, cur)))
          continue;
        if (Atomics.compareExchange(m.u64, at, cur, this.self) === cur) rec = i;
      }
    }
    if (rec < 0) throw fail('SABRE_ENOSPC', `${what}: all ${nreaders} reader records are in use by live readers`);
    this.rec = o + readers + rec * 128;
    Atomics.store(m.u64, (this.rec + RD.cand) >>> 3, 0n);
    Atomics.store(m.u64, (this.rec + RD.pin) >>> 3, 0n);
    this.pinned = 0n;
    this.view = null;
  }

  // The latest version, pinned: {data: Float32Array over the slot (never a
  // copy), version, step, shape, slot, changed}; null if nothing is
  // published yet.  The data stays valid and unchanged until the next
  // adopt() or close().
  adopt() {
    const { m, o } = this;
    const curAt = (o + W.current) >>> 3, pinAt = (this.rec + RD.pin) >>> 3;
    let cur = Atomics.load(m.u64, curAt);
    if (cur === this.pinned && cur !== 0n) return { ...this.view, changed: false };
    if (cur >> 8n === 0n) return null;
    for (;;) { // store(pin), re-check current: docs/rl.md, the pin protocol
      Atomics.store(m.u64, pinAt, (cur & ~0xffn) | ((cur & 0xffn) + 1n));
      const again = Atomics.load(m.u64, curAt);
      if (again === cur) break;
      cur = again;
    }
    const slot = Number(cur & 0xffn);
    if (slot >= this.nslots) {
      Atomics.store(m.u64, pinAt, 0n);
      this.pinned = 0n;
      throw fail('SABRE_ECORRUPT', `weights '${this.name}': active slot is ${slot}, want < ${this.nslots}`);
    }
    const s = o + 512 + slot * 64;
    this.pinned = cur;
    this.view = {
      data: new Float32Array(this.buffer, o + this.slots + slot * this.stride, this.size >>> 2),
      bytes: new Uint8Array(this.buffer, o + this.slots + slot * this.stride, this.size),
      version: Number(cur >> 8n),
      step: Number(m.dv.getBigUint64(s + SL.step, true)),
      shape: m.dv.getUint32(s + SL.shape, true),
      slot,
    };
    Atomics.store(m.u64, (this.rec + RD.adopted) >>> 3, cur >> 8n);
    Atomics.add(m.u64, (this.rec + RD.adopts) >>> 3, 1n);
    this.#notifyPublisher();
    return { ...this.view, changed: true };
  }

  // Latest published version number (0 = none).
  version() {
    return Number(Atomics.load(this.m.u64, (this.o + W.current) >>> 3) >> 8n);
  }

  // Blocks (Atomics.wait, so not on a browser main thread: use
  // waitForVersionAsync there) until a version newer than `after` exists.
  // true when one does, false after timeoutMs.
  waitForVersion(after, timeoutMs = Infinity) {
    const { m, o } = this;
    const deadline = performance.now() + timeoutMs;
    if (this.version() > after) return true;
    Atomics.add(m.i32, (o + W.version_waiters) >>> 2, 1);
    try {
      for (;;) {
        const seen = Atomics.load(m.i32, (o + W.version) >>> 2);
        if (this.version() > after) return true;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        Atomics.wait(m.i32, (o + W.version) >>> 2, seen, Math.min(left, 50));
      }
    } finally {
      Atomics.sub(m.i32, (o + W.version_waiters) >>> 2, 1);
    }
  }

  // The same without blocking (Atomics.waitAsync): a Promise of true/false.
  async waitForVersionAsync(after, timeoutMs = Infinity) {
    const { m, o } = this;
    const deadline = performance.now() + timeoutMs;
    if (this.version() > after) return true;
    Atomics.add(m.i32, (o + W.version_waiters) >>> 2, 1);
    try {
      for (;;) {
        const seen = Atomics.load(m.i32, (o + W.version) >>> 2);
        if (this.version() > after) return true;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        const slice = Math.min(left, 50);
        const r = Atomics.waitAsync(m.i32, (o + W.version) >>> 2, seen, slice);
        // A timer too: Node does not keep its event loop alive for waitAsync.
        let timer;
        if (r.async) await Promise.race([r.value, new Promise((res) => { timer = setTimeout(res, slice); })]);
        clearTimeout(timer);
      }
    } finally {
      Atomics.sub(m.i32, (o + W.version_waiters) >>> 2, 1);
    }
  }

  unpin() {
    Atomics.store(this.m.u64, (this.rec + RD.cand) >>> 3, 0n);
    Atomics.store(this.m.u64, (this.rec + RD.pin) >>> 3, 0n);
    this.pinned = 0n;
    this.view = null;
    this.#notifyPublisher();
  }

  close() {
    if (!this.rec) return;
    this.unpin();
    Atomics.compareExchange(this.m.u64, (this.rec + RD.owner) >>> 3, this.self, 0n);
    this.rec = 0;
  }

  #notifyPublisher() {
    const { m, o } = this;
    if (Atomics.load(m.i32, (o + W.pub_waiting) >>> 2)) {
      Atomics.add(m.i32, (o + W.unpin_seq) >>> 2, 1);
      Atomics.notify(m.i32, (o + W.unpin_seq) >>> 2, 1);
    }
  }
}
