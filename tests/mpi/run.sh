#!/usr/bin/env bash
# tests/mpi/run.sh MPIRUN BUILD_DIR - the MPI bridge's tests (CTest: mpi_bridge).
# Every run is one mpirun job over loopback TCP (btl self,tcp on lo), each
# rank with its own region as separate nodes would have, under a timeout:
#   1. 3 ranks: exactly-once in-order delivery, weights, a producer killed
#   2. 4 ranks: the same with a blocking trainer ring
#   3. 4 ranks: a dropping trainer ring: drops counted at the nodes
#   4. 3 ranks: a node with another ring layout is refused on every rank
#   5. 3 ranks: a rank that dies ends the job (no hang), naming the rank
#   6. 3 ranks: sabre-mpi demo rl solves CartPole on a small budget
set -u
mpirun=$1
build=$2
m=("$mpirun" --allow-run-as-root --oversubscribe --mca btl self,tcp
   --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
t=$build/mpi/test_mpi_bridge
export SABRE_TOOL=$build/sabre
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
# run NAME WANT_STATUS(ok|fail) GREP -- command...
run() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local t0=$SECONDS
  local before
  before=$(ls /dev/shm 2>/dev/null | grep -E '^sabre-mpi(test|rl)-' || true)
  timeout 150 "$@" >"$log" 2>&1
  local rc=$?
  # a job that ended early (the lost rank) leaves its regions: remove this run's
  for f in $(ls /dev/shm 2>/dev/null | grep -E '^sabre-mpi(test|rl)-' || true); do
    grep -qx "$f" <<<"$before" || rm -f "/dev/shm/$f"
  done
  local ok=1
  if [ $rc -eq 124 ]; then ok=0; echo "mpi test $name: timed out (a hang)";
  elif [ "$want" = ok ] && [ $rc -ne 0 ]; then ok=0; echo "mpi test $name: exit $rc, want 0";
  elif [ "$want" = fail ] && [ $rc -eq 0 ]; then ok=0; echo "mpi test $name: exit 0, want a failure";
  fi
  if [ -n "$pattern" ] && ! grep -Eq "$pattern" "$log"; then
    ok=0; echo "mpi test $name: output lacks /$pattern/"
  fi
  if [ $ok -eq 1 ]; then
    echo "mpi test $name: ok ($((SECONDS - t0)) s)"
  else
    failed=1; cat "$log"
  fi
  grep -E "^(trainer|rank [0-9]+:|solved|greedy|mpirun noticed|bridge rank)" "$log" | sed 's/^/    /' | head -12
}
run deliver_np3_kill ok "each exactly once" -- "${m[@]}" -np 3 "$t" --kill
run deliver_np4 ok "each exactly once" -- "${m[@]}" -np 4 "$t" --chunks 200 --versions 20
run drop_np4 ok "dropped and counted" -- "${m[@]}" -np 4 "$t" --drop --chunks 200 --versions 10
run mismatch_np3 ok "refused: .*rank 2 \(host" -- "${m[@]}" -np 3 "$t" --mismatch 2
run lost_rank_np3 fail "rank 2" -- "${m[@]}" -np 3 "$t" --die 2 --chunks 100000000
run demo_rl_np3 ok "^solved in" -- "${m[@]}" -np 3 "$build/sabre-mpi" demo rl -q --until-solved \
  --max-steps 1500000
exit $failed
