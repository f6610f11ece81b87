#!/usr/bin/env bash
# Builds the WebAssembly module of the JS package: build/wasm/sabre.mjs +
# sabre.wasm (emscripten, -pthread, fixed memory), then regenerates
# js/src/abi.json.  Used by scripts/test.sh; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export NODE_PATH=/usr/share/nodejs   # emscripten's JS optimizer requires acorn
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release -DSABRE_WERROR=ON >/dev/null
cmake --build build/wasm -j"$(nproc)" 2>&1 | grep -v -E '^\[|^gmake|Built target|Scanning' || true
cmake --build build/wasm -j"$(nproc)" >/dev/null
echo "wasm: build/wasm/sabre.mjs ($(stat -c %s build/wasm/sabre.wasm) bytes of wasm)"
