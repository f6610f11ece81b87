#!/usr/bin/env bash
# The ring in wasm threads vs the same program built natively:
# bench/bench_ring_wasm.c, 64-byte records, batch 256, 1 producer 1 consumer.
# Runs native and wasm alternately three times and prints the medians and
# the ratio wasm/native (target >= 0.8).  Builds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000000}
[ -x build/release/bench_ring_wasm ] || cmake --build build/release --target bench_ring_wasm -j"$(nproc)" >/dev/null
[ -f build/wasm/bench_ring_wasm.js ] || bash scripts/wasm.sh >/dev/null
nat=(); was=()
for i in 1 2 3; do
  nat+=("$(build/release/bench_ring_wasm "$n" | awk '/^rate/{print $2}')")
  was+=("$(node --no-experimental-fetch build/wasm/bench_ring_wasm.js "$n" | awk '/^rate/{print $2}')")
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
mn=$(med "${nat[@]}"); mw=$(med "${was[@]}")
echo "ring, 64-byte records, batch 256, 1 producer 1 consumer, $n records per run"
echo "  native: ${mn} records/s (runs: ${nat[*]})"
echo "  wasm  : ${mw} records/s (runs: ${was[*]})"
awk -v w="$mw" -v n="$mn" 'BEGIN{printf "  ratio wasm/native: %.2f (target >= 0.8)\n", w/n}'
