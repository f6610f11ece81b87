// sabre/worker: what a Worker needs, without the wasm module.  It receives
// from the host only a SharedArrayBuffer and a small handle,
//   {buffer, region: <byte offset of the region>, parties: <byte offset of
//    the party table>, party: {id, gen}}
// (Sabre.workerHandle() on the main thread builds it) and reads and writes
// sabre objects through docs/abi.md with Atomics.
import { RegionView } from './region.js';
import { SnapshotView } from './snapshot.js';
import { WeightsReader } from './weights.js';
import { RingProducer, ringGeometry } from './ring.js';
import { findRegion } from './regions.js';
import { fail } from '../errors.js';
import abi from '../abi.js';

export { RegionView, SnapshotView, WeightsReader, RingProducer, ringGeometry, findRegion };
export { SabreError } from '../errors.js';
export { nowNs } from './clock.js';
export { abi };

// A region may also be named: {buffer, regions, regionName, parties, party}
// finds the open region of that name in the module's region name directory
// (handle.regions, docs/abi.md "Region names on WebAssembly").
export function attach(handle) {
  if (!handle || typeof handle !== 'object' || !handle.buffer)
    throw fail('SABRE_EINVAL', `worker handle is ${typeof handle}, want {buffer, region, parties, party}`);
  const base = handle.regionName !== undefined && handle.region === undefined
    ? findRegion(handle.buffer, handle.regions, handle.regionName).offset : handle.region;
  const region = new RegionView(handle.buffer, base);
  return {
    region,
    party: handle.party,
    snapshot(name) {
      const o = region.find(name);
      if (o.kind !== abi.kinds.snapshot && o.kind !== abi.kinds.table)
        throw fail('SABRE_EINVAL', `object '${name}': kind is ${o.kindName}, want SNAPSHOT or TABLE`);
      return new SnapshotView(handle.buffer, o.offset, o.size, name);
    },
    weights(name) {
      return new WeightsReader(handle.buffer, region.find(name, abi.kinds.weights), handle.party, handle.parties);
    },
    producer(name) {
      return new RingProducer(handle.buffer, region.find(name, abi.kinds.ring), handle.party, handle.parties);
    },
  };
}
