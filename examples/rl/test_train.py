"""Tests of the Python RL trainer (CTest `python_rl_train`):

- the numpy learner rebuilds whole episodes across chunks and drops an
  episode broken by an actor replacement;
- train.py solves CartPole-v1 with a fixed seed on a bounded budget, and
  writes its CSV and PNG;
- an actor SIGKILLed mid-run is replaced and the run still solves;
- a budget too small to solve exits 0, or 1 with --until-solved.

The trainer runs as /usr/bin/python3 in a subprocess; the actors are the
sabre tool ($SABRE_TOOL, else build/release/sabre) and the library
$SABRE_LIB (else the source tree's build).
"""
import csv
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from learner import HParams, Learner, TERMINATED, TRUNCATED  # noqa: E402


def train(*args, timeout=600):
    p = subprocess.run([sys.executable, os.path.join(HERE, "train.py"), *args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def number_after(text, key):
    m = re.search(re.escape(key) + r"\s*([0-9.]+)", text)
    assert m, "%r not in output:\n%s" % (key, text)
    return float(m.group(1))


def chunk(T, E, t0, ends):
    """A chunk of T steps x E envs whose env 0 runs t = t0, t0+1, ...; an
    episode ends (terminated) at the steps in `ends` and t restarts at 0."""
    t = np.zeros((T, E), np.uint32)
    end = np.zeros((T, E), np.uint8)
    cur = t0
    for k in range(T):
        t[k, :] = cur
        if k in ends:
            end[k, :] = TERMINATED
            cur = 0
        else:
            cur += 1
    obs = np.random.default_rng(0).normal(size=(T, E, 4)).astype(np.float32)
    return obs, np.ones((T, E), np.uint8), np.full((T, E), -0.69, np.float32), np.ones((T, E), np.float32), t, end


def test_learner_rebuilds_episodes_across_chunks():
    L = Learner(HParams(batch_steps=10**6), 2, seed=1)
    # chunk 1: an episode of 5 steps, then 3 steps of the next
    assert L.feed(0, *chunk(8, 2, 0, {4})) == [5.0, 5.0]
    # chunk 2 continues at t = 3 and ends it after 4 more steps: length 7
    assert L.feed(0, *chunk(8, 2, 3, {3})) == [7.0, 7.0]
    assert L.batch_steps == 2 * (5 + 7)
    # an episode truncated at the cap is complete too
    obs, act, logp, rew, t, end = chunk(4, 2, 496, set())
    end[3, :] = TRUNCATED
    assert L.feed(0, obs, act, logp, rew, t, end) == []  # its start (t = 0) was never seen
    # a replacement actor starts afresh (t = 0) in the middle of an episode:
    # the partial one is dropped, the new one counted from its start
    L.feed(0, *chunk(8, 2, 0, set()))
    assert L.slots[0].length == 8
    assert L.feed(0, *chunk(8, 2, 0, {2})) == [3.0, 3.0]
    assert L.episodes[-1][0].shape == (3, 4) and L.episodes[-1][4] is False


def test_learner_update_changes_the_policy():
    L = Learner(HParams(batch_steps=16, minibatch=8), 2, seed=2)
    before = L.flat_policy().copy()
    L.feed(0, *chunk(16, 2, 0, {7, 15}))
    assert L.ready()
    L.update()
    assert not L.ready() and L.updates == 1
    after = L.flat_policy()
    assert after.shape == before.shape == (450,) and after.dtype == np.float32
    assert not np.array_equal(before, after) and np.all(np.isfinite(after))


def test_train_solves_and_writes_csv_and_plot(tmp_path):
    csv_path, png = tmp_path / "curve.csv", tmp_path / "curve.png"
    rc, out = train("--until-solved", "--actors", "2", "--seed", "1", "--max-steps", "1000000",
                    "--csv", str(csv_path), "--plot", str(png))
    assert rc == 0, out
    assert "mean-100" in out and "lag p50/p99" in out
    assert 0 < number_after(out, "solved in") <= 1_000_000
    assert number_after(out, "greedy evaluation of the final weights: mean return") >= 475
    assert "policy lag (updates between" in out
    # every finished episode reached the trainer through the ring's episode records
    assert re.search(r"\d+ episodes reported \(0 reports dropped\)", out), out
    rows = list(csv.DictReader(open(csv_path)))
    assert rows and set(rows[0]) >= {"seconds", "steps", "sps", "episodes", "mean100", "lag_p50",
                                     "lag_p99"}
    assert float(rows[-1]["mean100"]) >= 475
    steps = [int(r["steps"]) for r in rows]
    assert steps == sorted(steps)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_kill_actor_still_solves():
    rc, out = train("-q", "--until-solved", "--actors", "2", "--seed", "2", "--kill-actor-at",
                    "20000")
    assert rc == 0, out
    assert "killed actor pid" in out
    # the ring recorded the death on the killed actor's record
    m = re.search(r"killed actor pid (\d+)", out)
    assert re.search(r"owner death\(s\), last dead pid %s," % m.group(1), out), out
    assert number_after(out, "abandoned chunks:") >= 0
    assert number_after(out, "greedy evaluation of the final weights: mean return") >= 475


def test_train_budget_exit_status():
    rc, out = train("-q", "--max-steps", "5000")
    assert rc == 0, out
    assert "not solved within the budget" in out
    rc, out = train("-q", "--until-solved", "--max-steps", "5000")
    assert rc == 1, out
    rc, out = train("--capacity", "3")
    assert rc == 2 and "power of two" in out
