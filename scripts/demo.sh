#!/usr/bin/env bash
# Builds sabre and runs its main job: first `sabre probe` (which
# shared-memory backings work on this machine), then the physics demo (every
# offload mode, checked bit-identical against the serial run).  To look at a
# shared region as any process sees it, run `sabre inspect <file|shm-name>`.
# Extra arguments go to `sabre demo physics` (e.g. -n 200000 -f 100).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSABRE_WERROR=ON >/dev/null
cmake --build build/release --target sabre_tool -j"$(nproc)" >/dev/null
sabre=build/release/sabre

echo "== sabre probe: which shared-memory backings work here"
"$sabre" probe
echo
echo "== sabre demo physics"
"$sabre" demo physics "$@"
