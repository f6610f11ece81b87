// Types of the pure-JS worker package (js/src/worker/index.js): no wasm.
import type { Abi } from './abi';
export declare const abi: Abi;
export { SabreError } from './index';

export interface Party { id: number; gen: number }
export interface Handle {
  buffer: SharedArrayBuffer; region?: number; parties?: number; party?: Party;
  /** instead of `region`: the name of an open region, looked up in the directory at `regions` */
  regionName?: string; regions?: number;
}
/** {offset, size} of the open region `name` in the module's region name directory at byte `dir` */
export declare function findRegion(buffer: SharedArrayBuffer, dir: number, name: string): { offset: number; size: number };
export interface ObjectView { index: number; kind: number; kindName: string; name: string; offset: number; size: number; layoutText: string }

export declare function nowNs(): bigint;   // performance.timeOrigin + performance.now(), ns
export declare function attach(handle: Handle): {
  region: RegionView;
  party?: Party;
  snapshot(name: string): SnapshotView;
  weights(name: string): WeightsReader;
  producer(name: string): RingProducer;
};

export declare class RegionView {
  constructor(buffer: SharedArrayBuffer, base: number);
  objects(): ObjectView[];
  find(name: string, kind?: number): ObjectView;
}

type Column = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
export declare class ComponentView {
  readonly name: string;
  readonly rows: number;
  readonly columns: Record<string, Column>;
  readonly changed: Int32Array;
  column(name: string): Column;
  mark(row: number): void;
  markRange(first: number, n: number): void;
  isChanged(row: number): boolean;
}
export declare class SnapshotView {
  constructor(buffer: SharedArrayBuffer, offset: number, size: number, name?: string);
  readonly kind: 'snapshot' | 'chunk';
  readonly rows: number;
  readonly capacity: number;
  readonly entities: BigUint64Array;
  readonly entityWords: Uint32Array;
  readonly components: Record<string, ComponentView>;
  component(name: string): ComponentView;
}

export interface PinnedWeights { data: Float32Array; bytes: Uint8Array; version: number; step: number; shape: number; slot: number; changed: boolean }
export declare class WeightsReader {
  constructor(buffer: SharedArrayBuffer, obj: ObjectView, party: Party, partyTable?: number);
  readonly control: Int32Array;
  adopt(): PinnedWeights | null;
  version(): number;
  waitForVersion(after: number, timeoutMs?: number): boolean;
  waitForVersionAsync(after: number, timeoutMs?: number): Promise<boolean>;
  unpin(): void;
  close(): void;
}

export interface Claim {
  readonly first: number;
  readonly count: number;
  /** chunk i's sequence number (unique per producer record, continuing across a takeover) */
  sequence(i?: number): number;
  field<T extends { new (b: ArrayBufferLike, o: number, n: number): any; BYTES_PER_ELEMENT: number }>(name: string, Type?: T, i?: number): InstanceType<T> & { shape: [number, number, number] };
}
export declare class RingProducer {
  /** partyTable: handle.parties; with it a record whose owner is dead is taken over */
  constructor(buffer: SharedArrayBuffer, obj: ObjectView, party: Party, partyTable?: number);
  readonly idx: number;
  /** set when this producer took over a dead owner's record: that owner's identity
   *  (id | gen << 32) and the chunks of its claim this producer counted abandoned */
  readonly tookOver: { owner: bigint; abandoned: number } | null;
  setVersion(v: number | bigint): void;
  claim(n: number, timeoutMs?: number): Claim;
  commit(c: Claim): void;
  abort(c: Claim): void;
  close(): void;
}
export declare function ringGeometry(buffer: SharedArrayBuffer, obj: ObjectView): any;
