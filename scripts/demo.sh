#!/usr/bin/env bash
# Builds sabre and runs its main jobs: first `sabre probe` (which
# shared-memory backings work on this machine), then the physics demo (every
# offload mode, checked bit-identical against the serial run), then the RL
# demo (CartPole-v1 actor processes -> rollout ring -> PPO trainer ->
# weights) until it is solved.  To look at a shared region as any process
# sees it, run `sabre inspect <file|shm-name>`.
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
echo
echo "== sabre demo rl --until-solved"
"$sabre" demo rl --until-solved
