// The clock every party shares (docs/abi.md, "Parties on WebAssembly"):
// performance.timeOrigin + performance.now(), in nanoseconds.  Each Worker's
// performance.now() alone starts at that Worker's own origin, so heartbeats
// and commit times written by different Workers (and by the wasm module,
// src/platform/wasm.c) are comparable only through timeOrigin.  Resolution is
// what the host gives (5 us in a cross-origin isolated page, less elsewhere).
const origin = performance.timeOrigin; // a slow getter: read once per Worker

export function nowNs() {
  return BigInt(Math.round((origin + performance.now()) * 1e6));
}
