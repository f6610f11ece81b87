"""sabre.VecEnv: the Gymnasium-style vector API over the C vecenv layer."""
import os
import signal
import warnings

import numpy as np
import pytest

import sabre


def test_vecenv_reset_returns_zero_copy_views():
    with sabre.VecEnv("cartpole", workers=2, envs_per_worker=4) as env:
        obs, info = env.reset(seed=7)
        assert obs.shape == (8, 4) and obs.dtype == np.float32
        assert np.shares_memory(obs, env.observations)
        assert (np.abs(obs) <= 0.05).all()
        assert (info["flags"] == sabre.FLAG_RESET).all()
        assert env.actions.shape == (8,) and env.actions.dtype == np.int32
        assert env.obs_layout.canonical.startswith("struct CartPoleObs")
        # the array is the shared memory: what the workers write shows up in it
        before = obs.copy()
        env.step(np.ones(8, dtype=np.int32))
        assert not np.array_equal(before, obs)


def test_vecenv_step_autoresets_with_final_obs():
    with sabre.VecEnv("cartpole", workers=1, envs_per_worker=3) as env:
        env.reset(seed=1)
        lengths = np.zeros(3, dtype=np.int64)
        ended = 0
        for _ in range(100):
            obs, rew, term, trunc, info = env.step(np.ones(3, dtype=np.int32))
            lengths += 1
            assert (rew == 1.0).all()
            for i in np.flatnonzero(term | trunc):
                assert info["_final_obs"][i]
                assert abs(info["final_obs"][i][0]) > 2.4 or abs(info["final_obs"][i][2]) > 0.2094
                assert info["episode_length"][i] == lengths[i]
                assert info["episode_return"][i] == lengths[i]
                assert info["flags"][i] == sabre.FLAG_RESET
                assert (np.abs(obs[i]) <= 0.05).all()
                lengths[i] = 0
                ended += 1
        assert ended >= 3
        assert env.stats()["episodes"] == ended


def _trajectory(workers, backend, steps=200):
    with sabre.VecEnv("cartpole", workers=workers, envs_per_worker=12 // workers, backend=backend) as env:
        obs, _ = env.reset(seed=99)
        out = []
        for t in range(steps):
            a = ((obs[:, 0] + obs[:, 2] > 0) ^ ((np.arange(12) * 7 + t) % 5 == 0)).astype(np.int32)
            obs, rew, term, trunc, info = env.step(a)
            out.append((obs.copy(), rew.copy(), term.copy(), trunc.copy()))
        return out


def test_vecenv_seeded_sync_identical_for_threads_and_processes():
    ref = _trajectory(1, "threads")
    for workers, backend in ((3, "threads"), (2, "processes")):
        other = _trajectory(workers, backend)
        for a, b in zip(ref, other):
            for x, y in zip(a, b):
                assert np.array_equal(x, y)


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_vecenv_async_delivers_every_step_once(backend):
    horizon = 6
    with sabre.VecEnv("null", workers=2, envs_per_worker=4, backend=backend,
                      config={"horizon": horizon, "cost_max_ns": 2000}) as env:
        env.reset(seed=5)
        n = env.num_envs
        step = np.zeros(n, dtype=np.int64)
        sent = {}
        ids = np.arange(n)
        vals = (ids * 1000 + 1).astype(np.int32)
        env.send(ids, vals)
        sent.update(zip(ids.tolist(), vals.tolist()))
        for r in range(300):
            got = env.recv(batch=4, timeout=10)
            assert len(got) == 4 and len(set(got.tolist())) == 4
            for g in got.tolist():
                v = sent.pop(g)  # exactly once: it must be outstanding
                o = env.observations[g]
                step[g] += 1
                if step[g] == horizon:
                    f = env.final_observations[g]
                    assert f["step"] == horizon and f["action"] == v
                    assert env.truncated[g] and o["step"] == 0
                    step[g] = 0
                else:
                    assert o["step"] == step[g] and o["action"] == v  # the right env's action
                assert o["check"] == sabre.lib.sabre_env_null_check(int(o["seed"]), int(o["step"]), int(o["action"]))
            new = (got.astype(np.int64) * 1000 + r + 2).astype(np.int32)
            env.send(got, new)
            sent.update(zip(got.tolist(), new.tolist()))
        rest = env.recv(batch=len(sent), timeout=10)
        assert sorted(rest.tolist()) == sorted(sent)


def test_vecenv_bad_input_raises_and_sends_nothing():
    with sabre.VecEnv("cartpole", workers=1, envs_per_worker=4, name="bad") as env:
        with pytest.raises(sabre.StateError, match="has not been reset"):
            env.step()
        env.reset(seed=1)
        with pytest.raises(sabre.InvalidError, match="push is 7, want 0"):
            env.step(np.array([0, 1, 7, 0], dtype=np.int32))
        with pytest.raises(ValueError, match="out of range"):
            env.send([9], [1])
        with pytest.raises(sabre.InvalidError, match="ids\\[0\\] is 9, want 0..3"):
            env.send([9])
        with pytest.raises(sabre.InvalidError, match="appears twice"):
            env.send([1, 1], [0, 0])
        with pytest.raises(ValueError):
            env.step(np.zeros(3, dtype=np.int32))  # wrong shape: numpy refuses
        env.send([2], [1])
        with pytest.raises(sabre.StateError, match="env 2 is stepping"):
            env.send([2], [0])
        with pytest.raises(sabre.InvalidError, match="batch is 2"):
            env.recv(batch=2)
        assert env.recv(batch=1, timeout=10).tolist() == [2]
        with pytest.raises(sabre.InvalidError):
            env.recv(batch=1, timeout=0)  # nothing in flight
    with pytest.raises(sabre.LayoutError, match="push:i32"):
        sabre.VecEnv("cartpole", action_schema="struct A { push: f32; }")
    with pytest.raises(ValueError, match="env is 'pong'"):
        sabre.VecEnv("pong")


def test_vecenv_killed_worker_is_replaced_with_a_warning():
    with sabre.VecEnv("null", workers=2, envs_per_worker=3, backend="processes") as env:
        env.reset(seed=2)
        env.step(np.zeros(6, dtype=np.int32))
        old = env.worker_pid(1)
        os.kill(old, signal.SIGKILL)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obs, rew, term, trunc, info = env.step(np.zeros(6, dtype=np.int32))
        assert any(issubclass(w.category, sabre.WorkerReplacedWarning) for w in caught)
        assert "worker 1 (pid %d) was killed by signal 9" % old in info["worker_fault"]
        assert "envs 3..5" in info["worker_fault"]
        assert (info["flags"][3:] == sabre.FLAG_FAULT | sabre.FLAG_RESET).all()
        assert (info["flags"][:3] & sabre.FLAG_FAULT == 0).all()
        assert trunc[3:].all() and (obs[3:]["step"] == 0).all()
        assert env.worker_pid(1) not in (0, old)
        assert env.stats()["faults"] == 1


def test_vecenv_views_outlive_close():
    env = sabre.VecEnv("cartpole", workers=1, envs_per_worker=2)
    obs, _ = env.reset(seed=4)
    snapshot = obs.copy()
    env.close()
    assert env.closed
    assert np.array_equal(obs, snapshot)  # still mapped
    with pytest.raises(sabre.StateError):
        env.step()


def test_vecenv_central_inference_trainer_solves_cartpole():
    """python/examples/vecenv_cartpole.py: numpy MLP on the whole batch,
    REINFORCE + Adam, through worker processes (seeded: deterministic)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "vecenv_cartpole.py")
    spec = importlib.util.spec_from_file_location("vecenv_cartpole", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.train("processes", seed=1, log=None)
    assert r["solved"], r
    assert r["mean100"] >= 475 and r["greedy_mean"] >= 475
