#!/usr/bin/python3
"""bench_rl_consumer - the Python trainer's consumer loop, without learning,
against the C consumer loop on the same ring (issue 12; target >= 80%).

Both loops do what examples/rl/train.py does with a batch, minus the
learner: take up to 64 chunks, read each chunk's policy version, copy every
field out of the ring, release.  Producers are C processes (``bench_rl
--producer``) that claim and commit 64x8 chunks of the demo's step layout as
fast as they can.  Each round runs the Python loop, then the C loop
(``bench_rl --consumer``), back to back for SECONDS each; the ratio printed
is the median of the per-round ratios.

    /usr/bin/python3 bench/bench_rl_consumer.py [--bench build/release/bench_rl]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import sabre
except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import sabre

SCHEMA = "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"


def python_loop(ring, seconds):
    cons = ring.consumer()
    chunks = vsum = 0
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        t1 = time.monotonic()
        if t1 >= end:
            break
        try:
            batch = cons.batch(64, timeout=0.01)
        except sabre.TimedOutError:
            continue
        with batch:
            vsum += sum(batch.policy_versions())
            copies = {k: np.array(v) for k, v in batch.fields.items()}
            chunks += batch.count
    cons.close()
    del copies
    return chunks / (t1 - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "release", "bench_rl"))
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    a = ap.parse_args()
    if not os.access(a.bench, os.X_OK):
        sys.exit("bench_rl_consumer: %s not found (cmake -DSABRE_BENCH=ON, build bench_rl)" % a.bench)
    name = "/sabre-bench-rl-%d" % os.getpid()
    T, E = 64, 8
    region = sabre.Region.create(16 << 20, backing="shm", name=name, replace=True)
    ring = sabre.Ring.create(region, "rollouts", sabre.Schema(SCHEMA).root, steps=T, envs=E,
                             capacity=16, producers=a.producers, policy="block")
    procs = [subprocess.Popen([a.bench, "--producer", name]) for _ in range(a.producers)]
    py, c, ratio = [], [], []
    try:
        python_loop(ring, 0.3)  # warm-up
        for _ in range(a.rounds):
            py.append(python_loop(ring, a.seconds))
            out = subprocess.run([a.bench, "--consumer", name, str(a.seconds)], check=True,
                                 capture_output=True, text=True).stdout
            c.append(float(out.split()[0]))
            ratio.append(py[-1] / c[-1])
    finally:
        for p in procs:
            p.kill()
            p.wait()
        sabre.Region.unlink(name)
    print("bench_rl_consumer: %dx%d chunks, %d producer processes, %d rounds of %.1f s per loop"
          % (T, E, a.producers, a.rounds, a.seconds))
    print("  C consumer      %10.0f chunks/s (median)" % statistics.median(c))
    print("  Python consumer %10.0f chunks/s (median)" % statistics.median(py))
    r = statistics.median(ratio)
    print("  Python / C: %.2f (median of per-round ratios; target >= 0.80)" % r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
