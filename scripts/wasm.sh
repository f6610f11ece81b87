#!/usr/bin/env bash
# Builds the WebAssembly module of the JS package: build/wasm/sabre.mjs +
# sabre.wasm (emscripten, -pthread, fixed memory) and the transfer-mode module
# without shared memory (build/wasm-nosab), then regenerates
# js/src/abi.json.  Used by scripts/test.sh; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export NODE_PATH=/usr/share/nodejs   # emscripten's JS optimizer requires acorn
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release -DSABRE_WERROR=ON >/dev/null 2>&1
cmake --build build/wasm -j"$(nproc)" 2>&1 | grep -v -E '^\[|^gmake|Built target|Scanning' || true
cmake --build build/wasm -j"$(nproc)" >/dev/null
# js/src/abi.json from the library's description of its binary interface
# (sabre abi --json, computed from the C structs); the committed copy must
# match, so a layout change cannot leave the pure-JS workers behind.
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSABRE_WERROR=ON >/dev/null
cmake --build build/release -j"$(nproc)" --target sabre_tool >/dev/null
build/release/sabre abi --json | node js/tools/abi_from_lib.mjs > build/wasm/abi.json
if ! cmp -s build/wasm/abi.json js/src/abi.json; then
  if [ "${SABRE_ABI_UPDATE:-0}" = 1 ]; then cp build/wasm/abi.json js/src/abi.json
  else diff build/wasm/abi.json js/src/abi.json || true
       echo "wasm: js/src/abi.json is out of date (SABRE_ABI_UPDATE=1 bash scripts/wasm.sh)"; exit 1; fi
fi
{ echo "// Generated from abi.json by scripts/wasm.sh: do not edit."; printf 'export default '; cat js/src/abi.json; echo ';'; } > build/wasm/abi.js
cmp -s build/wasm/abi.js js/src/abi.js || cp build/wasm/abi.js js/src/abi.js
# The package loads the module from js/dist/ (not in git).
mkdir -p js/dist && cp build/wasm/sabre.mjs build/wasm/sabre.wasm js/dist/
# Transfer mode (pages served without COOP/COEP): the same module without
# -pthread, its memory a plain ArrayBuffer: build/wasm-nosab -> js/dist/nosab/.
emcmake cmake -S . -B build/wasm-nosab -DCMAKE_BUILD_TYPE=Release -DSABRE_WERROR=ON -DSABRE_WASM_THREADS=OFF >/dev/null 2>&1
cmake --build build/wasm-nosab -j"$(nproc)" 2>&1 | grep -v -E '^\[|^gmake|Built target|Scanning' || true
cmake --build build/wasm-nosab -j"$(nproc)" >/dev/null
mkdir -p js/dist/nosab && cp build/wasm-nosab/sabre.mjs build/wasm-nosab/sabre.wasm js/dist/nosab/
echo "wasm: build/wasm/sabre.mjs ($(stat -c %s build/wasm/sabre.wasm) bytes of wasm)"
