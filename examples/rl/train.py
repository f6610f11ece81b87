#!/usr/bin/python3
"""The RL demo with a Python trainer: C actor processes (``sabre demo rl
--actor``) step CartPole-v1 and stream rollout chunks through a sabre ring;
this trainer reads them in place as numpy arrays, rebuilds whole episodes
(the actors also report each finished episode's return through the ring),
trains the policy with PPO + Adam in numpy (examples/rl/learner.py) and
publishes every update through a sabre weights object, which the actors
adopt at their next chunk.

    /usr/bin/python3 examples/rl/train.py --until-solved --plot curve.png

Solved: the mean return of the last 100 training episodes >= 475 and a
greedy evaluation of the final weights over 100 episodes >= 475.  Exit 0
when solved, or when the budget ran out without --until-solved; 1
otherwise.  docs/rl.md ("The RL demo") explains the pieces.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
try:
    import sabre
except ImportError:  # not installed: the source tree's package
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import sabre

from learner import NPARAM, HParams, Learner, evaluate  # noqa: E402

SCHEMA = "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"
SOLVED = 475.0


def find_tool(given: str | None) -> str:
    for p in [given, os.environ.get("SABRE_TOOL"), os.path.join(ROOT, "build", "release", "sabre"),
              shutil.which("sabre")]:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    sys.exit("train.py: no sabre tool found (build it: cmake --build build/release, or --sabre PATH)")


def parse(argv=None):
    ap = argparse.ArgumentParser(description="CartPole-v1: C actors -> sabre ring -> numpy PPO -> "
                                 "sabre weights")
    ap.add_argument("--actors", type=int, default=2, help="actor processes (default 2)")
    ap.add_argument("--envs", type=int, default=8, help="CartPole envs per actor (default 8)")
    ap.add_argument("--T", type=int, default=64, help="steps per chunk (default 64)")
    ap.add_argument("--capacity", type=int, default=4, help="chunks per actor lane (default 4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None,
                    help="env-step budget (default 1000000; with --until-solved 5000000)")
    ap.add_argument("--until-solved", action="store_true",
                    help="not solving within the budget is a failure (exit 1)")
    ap.add_argument("--kill-actor-at", type=int, default=0, metavar="STEPS",
                    help="SIGKILL an actor after STEPS env steps; a replacement takes its lane")
    ap.add_argument("--csv", metavar="FILE", help="write the progress rows to FILE")
    ap.add_argument("--plot", metavar="FILE.png", help="plot the learning curve, SPS and lag")
    ap.add_argument("--sabre", metavar="PATH", help="the sabre tool (runs the actors)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    a = ap.parse_args(argv)
    if not 1 <= a.actors <= 64 or not 1 <= a.envs <= 1024 or not 1 <= a.T <= 4096:
        ap.error("--actors 1..64, --envs 1..1024, --T 1..4096")
    if a.capacity < 1 or a.capacity & (a.capacity - 1):
        ap.error("--capacity must be a power of two")
    if a.max_steps is None:
        a.max_steps = 5_000_000 if a.until_solved else 1_000_000
    return a


def print_lag(stats):
    """The ring's policy-lag histogram (updates between a chunk's weights
    and the trainer's when it was consumed)."""
    hist, lows = stats["lag_hist"], sabre.lag_buckets()
    n = sum(hist)
    print("policy lag (updates between the chunk's weights and the trainer's at consume), %d "
          "chunks: p50 %d, p90 %d, p99 %d, max %d"
          % (n, stats["lag_p50"], stats["lag_p90"], stats["lag_p99"], stats["lag_max"]))
    for i, c in enumerate(hist):
        lo = lows[i]
        hi = lows[i + 1] if i + 1 < len(lows) else None
        if not c and lo > 3:
            continue
        label = ">=%d" % lo if hi is None else (str(lo) if hi - lo == 1 else "%d-%d" % (lo, hi - 1))
        print("  %-7s %10d %5.1f%% %s" % (label, c, 100.0 * c / max(n, 1), "#" * round(40 * c / max(n, 1))))


def plot(rows, returns, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([r["steps"] for r in rows])
    fig, ax = plt.subplots(3, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    if returns:
        es, er = zip(*returns)
        ax[0].plot(es, er, ".", ms=2, alpha=0.3, color="tab:gray", label="episode return")
    ax[0].plot(steps, [r["mean100"] for r in rows], color="tab:blue", lw=2, label="mean of last 100")
    ax[0].axhline(SOLVED, color="tab:green", ls="--", lw=1, label="solved (475)")
    ax[0].set_ylabel("return")
    ax[0].set_ylim(0, 520)
    ax[0].legend(loc="upper left")
    ax[0].set_title("CartPole-v1: C actors -> sabre ring -> numpy PPO -> sabre weights")
    ax[1].plot(steps, [r["sps_interval"] for r in rows], color="tab:orange", label="per 0.5 s")
    ax[1].plot(steps, [r["sps"] for r in rows], color="tab:red", ls="--", label="since start")
    ax[1].set_ylabel("env steps / s")
    ax[1].set_ylim(bottom=0)
    ax[1].legend(loc="lower right")
    ax[2].plot(steps, [r["lag_p50"] for r in rows], label="p50")
    ax[2].plot(steps, [r["lag_p99"] for r in rows], label="p99")
    ax[2].set_ylabel("policy lag")
    ax[2].set_xlabel("env steps")
    ax[2].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    a = parse(argv)
    tool = find_tool(a.sabre)
    A, E, T = a.actors, a.envs, a.T
    name = "/sabre-rl-py-%d" % os.getpid()
    chunk = T * E * 30 + 7 * 64
    region = sabre.Region.create(A * a.capacity * chunk + (4 << 20), backing="shm", name=name,
                                 replace=True)
    ring = sabre.Ring.create(region, "rollouts", sabre.Schema(SCHEMA).root, steps=T, envs=E,
                             capacity=a.capacity, producers=A, policy="block", episodes=1024)
    # 2 pins per live actor (adopt validates) + the active slot + 1: a
    # publish never waits for an actor
    weights = sabre.Weights.create(region, "policy", NPARAM * 4, slots=2 * A + 2, readers=2 * A,
                                   f32=True, dtype=np.float32)
    hp = HParams()
    hp.batch_steps = max(hp.batch_steps, A * T * E)  # >= one chunk of every actor per update
    learner = Learner(hp, A * E, a.seed)
    version = weights.publish(learner.flat_policy())
    consumer = ring.consumer()
    consumer.version = version
    print("sabre RL demo (Python trainer): CartPole-v1, %d actor processes x %d envs, chunks of "
          "%d steps x %d envs, ring of %d chunks per lane" % (A, E, T, E, a.capacity))
    print("learner: numpy PPO on whole episodes, policy 4-64-2 tanh, value 4-64-1, Adam lr %g, "
          "batch >= %d steps, %d epochs of %d; seed %d"
          % (hp.lr_pi, hp.batch_steps, hp.epochs, hp.minibatch, a.seed), flush=True)

    generation = 0

    def spawn():
        nonlocal generation
        generation += 1
        return subprocess.Popen([tool, "demo", "rl", "--actor", name, "--seed",
                                 str(a.seed * 1000 + generation)])

    t0 = last_chunk = time.monotonic()
    actors = [spawn() for _ in range(A)]
    ret100 = np.zeros(100)
    returns = []  # (steps, return) of every episode
    rows = []
    steps = episodes = 0
    next_print = t0 + 0.5
    solved = False
    solved_steps, solved_s, evaluation, last_eval = 0, 0.0, None, 0
    killed = None
    kill_since = 0.0
    replaced = 0
    stalled = False
    status = 1

    def row(now):
        s = now - t0
        m = ret100[: min(episodes, 100)].mean() if episodes else 0.0
        ps, pt = (rows[-1]["steps"], rows[-1]["seconds"]) if rows else (0, 0.0)
        st = ring.stats()
        r = {"seconds": round(s, 3), "steps": steps, "sps": round(steps / s if s > 0 else 0.0),
             "sps_interval": round((steps - ps) / (s - pt)) if s > pt else 0,
             "episodes": episodes, "mean100": round(float(m), 2), "lag_p50": st["lag_p50"],
             "lag_p99": st["lag_p99"], "updates": learner.updates}
        rows.append(r)
        return r

    try:
        while not solved and steps < a.max_steps:
            try:
                batch = consumer.batch(64, timeout=0.1)
                last_chunk = time.monotonic()
            except sabre.TimedOutError:
                batch = None
                if time.monotonic() - last_chunk > 30:
                    print("train.py: no chunk from any actor for 30 s; giving up", file=sys.stderr)
                    stalled = True
                    break
            if batch is not None:
                with batch:
                    f = batch.fields
                    valid = batch.headers["valid_steps"]
                    # copies: the views belong to the actors again after release
                    obs, act, logp = np.array(f["obs"]), np.array(f["act"]), np.array(f["logp"])
                    rew, t, end = np.array(f["rew"]), np.array(f["t"]), np.array(f["end"])
                slot0 = batch.lane * E
                for i in range(batch.count):
                    v = int(valid[i])
                    learner.feed(slot0, obs[i, :v], act[i, :v], logp[i, :v], rew[i, :v], t[i, :v],
                                 end[i, :v])
                    steps += v * E
                    if learner.ready():
                        learner.update()
                        version = weights.publish(learner.flat_policy(), timeout=1.0)
                        consumer.version = version
            # the episodes the actors finished (their statistics channel)
            for r in consumer.episodes()["ret"]:
                ret100[episodes % 100] = r
                episodes += 1
                returns.append((steps, float(r)))
            if episodes >= 100 and ret100.mean() >= SOLVED and version != last_eval:
                last_eval = version
                evaluation = evaluate(learner, 100, a.seed ^ 0x5EED)
                if evaluation >= SOLVED:
                    solved, solved_steps, solved_s = True, steps, time.monotonic() - t0
            if a.kill_actor_at and killed is None and steps >= a.kill_actor_at:
                # kill it while it writes a chunk (holds a claim), as soon as
                # it does in the next 250 ms, else between chunks
                now = time.monotonic()
                kill_since = kill_since or now
                pid = actors[0].pid
                info = [p for p in ring.producers_info() if p["pid"] == pid]
                deadline = time.monotonic() + 0.005
                while info and not info[0]["claim_count"] and time.monotonic() < deadline:
                    info = [p for p in ring.producers_info() if p["pid"] == pid]
                writing = bool(info and info[0]["claim_count"])
                if writing or now - kill_since > 0.25:
                    actors[0].send_signal(signal.SIGKILL)
                    actors[0].wait()
                    actors[0] = spawn()
                    killed = (pid, actors[0].pid)
                    print("killed actor pid %d (%s) at %d env steps; replacement pid %d"
                          % (pid, "while writing a chunk" if writing else "between chunks", steps,
                             actors[0].pid), flush=True)
            for k, p in enumerate(actors):
                if p.poll() is not None:
                    print("actor pid %d ended (status %d); starting a replacement"
                          % (p.pid, p.returncode), file=sys.stderr)
                    replaced += 1
                    if replaced > 4 * A:
                        raise SystemExit("train.py: actors keep ending (%d so far); giving up"
                                         % replaced)
                    actors[k] = spawn()
            now = time.monotonic()
            if now >= next_print or solved:
                r = row(now)
                if not a.quiet:
                    print("steps %8d  %6.2f s  %8d SPS  episodes %6d  mean-100 %6.1f  lag p50/p99 %d/%d"
                          % (r["steps"], r["seconds"], r["sps"], r["episodes"], r["mean100"],
                             r["lag_p50"], r["lag_p99"]), flush=True)
                next_print = now + 0.5
        if not rows or rows[-1]["steps"] != steps:
            row(time.monotonic())
        stats = ring.stats()
        print()
        if solved:
            print("solved in %d env steps and %.2f s (%d episodes, %d updates, %.0f SPS)"
                  % (solved_steps, solved_s, episodes, learner.updates, solved_steps / solved_s))
        else:
            print("not solved within the budget: %d env steps in %.2f s, mean-100 %.1f"
                  % (steps, time.monotonic() - t0, ret100.mean() if episodes >= 100 else 0.0))
        if evaluation is not None:
            print("greedy evaluation of the final weights: mean return %.1f over 100 episodes" % evaluation)
        print_lag(stats)
        print("ring: %d chunks consumed, %d abandoned, %d dropped; %d weight versions published; "
              "%d episodes reported (%d reports dropped)"
              % (stats["consumed"], stats["abandoned"], stats["dropped"], version, stats["episodes"],
                 stats["episodes_dropped"]))
        if killed:
            print("abandoned chunks: %d (actor pid %d killed, its lane taken over by pid %d)"
                  % (stats["abandoned"], killed[0], killed[1]))
            for lane, p in enumerate(ring.producers_info()):
                if p["dead_pid"] == killed[0]:
                    print("ring record of lane %d: %d owner death(s), last dead pid %d, %d chunk(s) "
                          "abandoned; now pid %d; %d producer death(s) in all"
                          % (lane, p["deaths"], p["dead_pid"], p["abandoned"], p["pid"],
                             stats["producer_deaths"]))
        if replaced:
            print("actors that ended on their own and were replaced: %d" % replaced)
        status = 0 if solved or (not a.until_solved and not stalled) else 1
    finally:
        # closing the consumer tells the actors to stop (they look between claims)
        sys.stdout.flush()
        consumer.close()
        for p in actors:
            try:
                if p.wait(timeout=3) != 0:
                    print("train.py: actor pid %d ended with status %d" % (p.pid, p.returncode),
                          file=sys.stderr)
                    status = 1
            except subprocess.TimeoutExpired:
                print("train.py: actor pid %d did not stop; killing it" % p.pid, file=sys.stderr)
                p.kill()
                p.wait()
                status = 1
        sabre.Region.unlink(name)
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print("progress rows: %s" % a.csv)
    if a.plot:
        plot(rows, returns, a.plot)
        print("learning curve: %s" % a.plot)
    return status


if __name__ == "__main__":
    sys.exit(main())
