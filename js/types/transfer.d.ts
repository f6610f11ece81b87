// Types of transfer mode (js/src/transfer.js): snapshot rows moved to
// Workers in ArrayBuffers and back; docs/js.md, "Without cross-origin isolation".
export interface PartColumnMeta { name: string; type: string; off: number }
export interface PartMeta {
  id: number; snapshot: string; uid: string; begin: number; rows: number;
  comps: { name: string; columns: PartColumnMeta[]; changed: number }[];
}
// Post with postMessage(part, [part.buffer]): moved, not copied.
export interface Part { meta: PartMeta; buffer: ArrayBuffer }
export declare function splitSnapshot(view: import('./worker').SnapshotView, ranges: [number, number][]): Part[];
export declare function mergePart(view: import('./worker').SnapshotView, part: Part): number;
export declare class PartComponent {
  readonly name: string;
  readonly rows: number;
  column(name: string): Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
  mark(row: number): void;
  markRange(first: number, n: number): void;
  isChanged(row: number): boolean;
}
export declare class SnapshotPart {
  constructor(part: Part);
  readonly name: string;
  readonly begin: number;   // snapshot row of local row 0
  readonly rows: number;
  readonly entities: BigUint64Array;
  readonly entityWords: Uint32Array;
  component(name: string): PartComponent;
  release(): Part;
}
