// Types of js/src/abi.json (sabre abi --json, reshaped by js/tools/abi_from_lib.mjs).
export interface Abi {
  generator: string;
  constants: Record<string, number | string>;
  status: Record<string, number>;
  kinds: Record<string, number>;
  scalars: Record<string, { id: number; size: number }>;
  structs: Record<string, { size: number; fields: Record<string, number> }>;
}
declare const abi: Abi;
export default abi;
