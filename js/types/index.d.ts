// Types of the main-thread package (js/src/index.js); docs/js.md.
import type { Abi } from './abi';
export declare const abi: Abi;

export declare class SabreError extends Error {
  readonly status: number;   // negative SABRE_E* number (include/sabre/status.h)
  readonly code: string;     // "SABRE_ECORRUPT", ...
  line?: number;             // schema errors
  column?: number;
}

export type Mode = 'shared' | 'transfer';
export interface LoadOptions { mode?: Mode; moduleUrl?: string; wasmUrl?: string; nosabModuleUrl?: string; nosabWasmUrl?: string }
export { SnapshotPart } from './transfer';
export declare function load(opts?: LoadOptions): Promise<Sabre>;
export declare function sharedMemoryUsable(): boolean;

export interface Party { id: number; gen: number }
export interface WorkerHandle {
  buffer: SharedArrayBuffer; region: number | undefined; parties: number; party?: Party;
  /** byte address of the module's region name directory (attach({..., regionName})) */
  regions: number;
}
export interface Probe {
  platform: string; note: string; mode: Mode; private: boolean; memfd: boolean;
  shm: boolean; file: boolean; futex: boolean;
}

export declare class Sabre {
  readonly mode: Mode;
  readonly buffer: SharedArrayBuffer;   // an ArrayBuffer in transfer mode
  probe(): Probe;
  needShared(what: string): void;       // throws SABRE_ENOTSUP naming COOP/COEP in transfer mode
  schema(text: string): Schema;
  createRegion(opts: { name?: string; size: number; maxObjects?: number }): Region;
  openRegion(opts: { name?: string; backing?: number }): Region;
  spawnParty(): Party;
  exitParty(p: Party): boolean;
  partyAlive(p: Party): boolean;
  host(worker: { terminate(): unknown }): { party: Party; terminate(): Promise<void> };
  workerHandle(region: Region | null, party?: Party): WorkerHandle;
  /** another handle to the open PRIVATE region `name` of this module (SABRE_ENOENT if none);
   *  the region lives until its last handle closes */
  findRegion(name: string, opts?: { readonly?: boolean }): Region;
  /** takes a PRIVATE region's name away; its handles keep it open */
  unlinkRegion(name: string): void;
}

export interface SchemaColumn { name: string; type: string; offset: number; size: number }
export interface SchemaField { name: string; kind: 'scalar' | 'struct' | 'pad'; type: string; array: boolean; count: number; offset: number; stride: number; size: number; align: number }
export interface Layout { name: string; size: number; align: number; hash: string; canonical: string; fields: SchemaField[]; columns: SchemaColumn[] }
export declare class Schema {
  readonly json: { root: string; structs: Layout[] };  // as `sabre schema --json`
  readonly root: Layout;
  readonly size: number;
  readonly hash: string;
  readonly columns: SchemaColumn[];
  layout(name?: string): Layout;
  free(): void;
}

export interface ObjectInfo { index: number; kind: number; offset: number; size: number }
export declare class Region {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  inspect(): any;            // as `sabre inspect --json`
  alloc(name: string, opts: { kind?: number; size: number; layoutText?: string | null }): ObjectInfo;
  find(name: string): ObjectInfo;
  bytes(name: string): Uint8Array;
  view(): import('./worker').RegionView;
  createWorld(opts?: { prefix?: string; chunkRows?: number }): World;
  createWeights(name: string, opts: { size: number; slots?: number; readers?: number; shapeHash?: number; f32?: boolean; layoutText?: string | null }): Weights;
  openWeights(name: string): Weights;
  createRing(name: string, opts: { schema?: Schema; layout?: string; steps?: number; envs?: number; capacity?: number; producers?: number; shape?: 'lanes' | 'mpsc'; policy?: 'drop' | 'block' | 'overwrite'; recordSize?: number; reclaimMs?: number }): Ring;
  openRing(name: string, schema?: Schema): Ring;
  close(): void;
}

export interface WeightsView { data: Float32Array; version: number; step: number; shape: number; slot: number; changed: boolean }
export declare class Weights {
  readonly name: string;
  readonly size: number;
  readonly control: Int32Array;   // [active_idx, version, shape_hash, step_counter]
  publish(data: ArrayBufferView, opts?: { shapeHash?: number; step?: number; timeoutMs?: number }): number;
  begin(timeoutMs?: number): Uint8Array;
  commit(opts?: { shapeHash?: number; step?: number }): number;
  abort(): void;
  version(): number;
  reader(): WeightsReader;
  close(): void;
}
export declare class WeightsReader {
  adopt(opts?: { expectShape?: number; checkFinite?: boolean }): WeightsView | null;
  waitForVersion(after: number, timeoutMs?: number): boolean;
  waitForVersionAsync(after: number, timeoutMs?: number): Promise<boolean>;
  unpin(): void;
  close(): void;
}

export type Typed = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
export interface Chunks {
  readonly first: number;
  readonly count: number;
  readonly lane: number;
  field(name: string, i?: number): Typed & { shape: [number, number, number] };
  header(i?: number): { sequence: number; validSteps: number; producer: number };
}
export interface RingStats {
  produced: number; dropped: number; overwritten: number; aborted: number; consumed: number;
  abandoned: number; inFlight: number; held: number; lagMin: number; lagMax: number; lagAvg: number;
  lagCount: number; currentVersion: number; producerWaitNs: number; consumerWaitNs: number;
  /** producer processes or Workers found dead (each counted once) */
  producerDeaths: number;
}
export declare class Ring {
  readonly name: string;
  readonly steps: number;
  readonly envs: number;
  producer(): Producer;
  consumer(): Consumer;
  stats(): RingStats;
  close(): void;
}
export declare class Producer {
  readonly id: number;
  setVersion(v: number): void;
  claim(n?: number, timeoutMs?: number): Chunks;
  commit(): void;
  abort(): void;
  close(): void;
}
export declare class Consumer {
  setVersion(v: number): void;
  consume(max?: number, timeoutMs?: number): Chunks | null;
  release(): void;
  close(): void;
}

export interface Component { id: number; name: string; size: number; layout: Layout }
export declare class World {
  readonly count: number;
  readonly tick: number;
  defineComponent(name: string, schemaText: string): Component;
  spawn(n: number, comps: Component[]): [bigint, bigint];
  destroy(e: bigint): void;
  alive(e: bigint): boolean;
  set(e: bigint, c: Component, value: Record<string, number | bigint | boolean>): void;
  add(e: bigint, c: Component, value?: Record<string, number | bigint | boolean>): void;
  remove(e: bigint, c: Component): void;
  get(e: bigint, c: Component): Record<string, number | bigint | boolean>;
  beginTick(): void;
  endTick(): void;
  query(q: { all?: Component[]; none?: Component[]; changed?: Component[] }): Query;
  snapshot(q: Query, opts: { read?: Component[]; write?: Component[]; name?: string }): Snapshot;
  tables(): { table: number; chunks: { rows: number; offset: number; size: number }[] }[];
  chunkView(table: number, chunk: number): import('./worker').SnapshotView;
  close(): void;
}
export declare class Query { count(): number; close(): void }
export declare class Snapshot {
  readonly name: string;
  readonly rows: number;
  readonly view: import('./worker').SnapshotView;
  component(name: string): import('./worker').ComponentView;
  rebuild(): Snapshot;
  split(ranges: [number, number][]): import('./transfer').Part[];
  merge(part: import('./transfer').Part): number;
  commit(): { written: number; skippedDead: number; skippedMissing: number; skippedReadonly: number };
  free(): void;
}
