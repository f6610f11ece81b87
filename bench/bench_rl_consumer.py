#!/usr/bin/python3
"""bench_rl_consumer - the Python trainer's consumer loop, without learning,
against the same loop in C on the same rings (issue 12; target >= 80%).

Both loops do what examples/rl/train.py does with a batch, minus the
learner: take up to 64 chunks, read the headers, copy every field out of the
ring, release (the policy lag comes from the ring's statistics, not per
chunk).  Two set-ups, medians of per-round ratios
(each round runs the Python loop, then the C loop, back to back):

1. the demo's rings: 2 actor processes of the RL demo (``sabre demo rl
   --actor``: CartPole-v1 with the 4-64-2 policy) feeding a ring of 64x8
   chunks, 4 per lane, as ``sabre demo rl`` and train.py set it up (a fresh
   region and actors per loop).  Rate: env steps consumed per second.
2. saturated: 2 producer processes (``bench_rl --producer``) that claim and
   commit chunks without stepping anything, 64 chunks per lane, waits that
   sleep at once; rate per second of the consumer's own CPU time, i.e. what
   the loop alone could sustain.

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
sys.path.insert(0, os.path.join(ROOT, "examples", "rl"))
try:
    import sabre
except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import sabre

from learner import NPARAM, HParams, Learner  # noqa: E402

SCHEMA = "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"
T, E = 64, 8


def python_loop(cons, seconds, warmup):
    """(chunks per wall second, chunks per CPU second of this process)."""
    chunks = vsum = 0
    copies = None
    t0 = c0 = None
    start = time.monotonic()
    end = float("inf")
    while True:
        t1 = time.monotonic()
        if t0 is None and t1 >= start + warmup:
            chunks, t0, c0, end = 0, t1, time.process_time(), t1 + seconds
        if t1 >= end:
            break
        try:
            batch = cons.batch(64, timeout=0.01)
        except sabre.TimedOutError:
            continue
        with batch:
            vsum += int(batch.headers["sequence"][-1])
            copies = {k: np.array(v) for k, v in batch.fields.items()}
            chunks += batch.count
    del copies
    return chunks / (t1 - t0), chunks / (time.process_time() - c0)


def c_loop(bench, name, seconds, warmup):
    out = subprocess.run([bench, "--consumer", name, str(seconds), str(warmup)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[2])


def make_ring(name, producers, capacity, spin):
    region = sabre.Region.create(32 << 20, backing="shm", name=name, replace=True)
    ring = sabre.Ring.create(region, "rollouts", sabre.Schema(SCHEMA).root, steps=T, envs=E,
                             capacity=capacity, producers=producers, policy="block", spin=spin)
    return region, ring


def demo_round(a, tool, python):
    """One loop on a fresh demo ring with fresh actors: (wall, cpu) rates."""
    name = "/sabre-bench-rl-%d" % os.getpid()
    region, ring = make_ring(name, a.producers, 4, None)
    w = sabre.Weights.create(region, "policy", NPARAM * 4, slots=2 * a.producers + 2,
                             readers=2 * a.producers, f32=True)
    w.publish(Learner(HParams(), 1, 1).flat_policy())
    cons, cproc = None, None
    try:
        if python:
            cons = ring.consumer()
        else:  # the C consumer must be there before the actors look for it
            cproc = subprocess.Popen([a.bench, "--consumer", name, str(a.seconds), "0.3"],
                                     stdout=subprocess.PIPE, text=True)
            while not ring.stats()["consumer_pid"]:
                time.sleep(0.001)
        actors = [subprocess.Popen([tool, "demo", "rl", "--actor", name, "--seed", str(k)])
                  for k in range(a.producers)]
        if python:
            r = python_loop(cons, a.seconds, 0.3)
            cons.close()
        else:
            out = cproc.communicate()[0].split()
            r = float(out[0]), float(out[2])
        for p in actors:
            p.wait(timeout=10)
    finally:
        sabre.Region.unlink(name)
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "release", "bench_rl"))
    ap.add_argument("--sabre", default=os.path.join(ROOT, "build", "release", "sabre"))
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    a = ap.parse_args()
    for p in (a.bench, a.sabre):
        if not os.access(p, os.X_OK):
            sys.exit("bench_rl_consumer: %s not found (cmake -DSABRE_BENCH=ON; build bench_rl "
                     "and sabre_tool)" % p)
    print("bench_rl_consumer: %dx%d chunks, %d producer processes, %d rounds of %.1f s per loop"
          % (T, E, a.producers, a.rounds, a.seconds))
    print("  (each loop: batches of <= 64 chunks, the headers, a copy of every field, release)")

    # 1. the demo's rings, the demo's actors
    py, c = [], []
    for _ in range(a.rounds):
        py.append(demo_round(a, a.sabre, True)[0])
        c.append(demo_round(a, a.sabre, False)[0])
    ratio = statistics.median(p / q for p, q in zip(py, c))
    print("1. the demo's rings (2 actors `sabre demo rl --actor`, 4 chunks per lane), "
          "env steps per second:")
    print("   C consumer %10.0f   Python consumer %10.0f   Python / C %.2f (target >= 0.80)"
          % (statistics.median(c) * T * E, statistics.median(py) * T * E, ratio))

    # 2. saturated: producers that only claim and commit
    name = "/sabre-bench-rl-%d" % os.getpid()
    region, ring = make_ring(name, a.producers, 64, 1e-9)  # waits sleep at once
    procs = [subprocess.Popen([a.bench, "--producer", name]) for _ in range(a.producers)]
    pyc, cc, pyw, cw = [], [], [], []
    try:
        for _ in range(a.rounds):
            cons = ring.consumer()
            w, r = python_loop(cons, a.seconds, 0.2)
            cons.close()
            pyw.append(w)
            pyc.append(r)
            w, r = c_loop(a.bench, name, a.seconds, 0.2)
            cw.append(w)
            cc.append(r)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        sabre.Region.unlink(name)
    ratio2 = statistics.median(p / q for p, q in zip(pyc, cc))
    print("2. saturated (producers only claim and commit), chunks per consumer CPU-second "
          "(per wall second):")
    print("   C consumer %10.0f (%.0f)   Python consumer %10.0f (%.0f)   Python / C %.2f"
          % (statistics.median(cc), statistics.median(cw), statistics.median(pyc),
             statistics.median(pyw), ratio2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
