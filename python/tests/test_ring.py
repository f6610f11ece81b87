import gc
import os
import signal

import numpy as np
import pytest

import sabre
from conftest import inside, run_python

STEP = "struct Step { obs: f32[4]; action: i32; reward: f32; done: bool; }"


def make(region, **kw):
    kw.setdefault("steps", 8)
    kw.setdefault("envs", 2)
    kw.setdefault("capacity", 8)
    return sabre.Ring.create(region, kw.pop("name", "rollouts"), STEP, **kw)


def test_ring_fields_carry_dtype_and_element_shape(region):
    ring = make(region)
    f = {x.name: x for x in ring.fields}
    assert (f["obs"].dtype, f["obs"].shape, f["obs"].elem_size) == (np.float32, (4,), 16)
    assert (f["action"].dtype, f["action"].shape) == (np.int32, ())
    assert f["done"].dtype == np.bool_
    assert ring.steps == 8 and ring.envs == 2 and ring.stride % 64 == 0


def test_ring_claim_commits_on_normal_exit_and_batch_sees_it(region):
    ring = make(region)
    prod, cons = ring.producer(), ring.consumer()
    prod.version = 3
    with prod.claim(2) as c:
        assert c.fields["obs"].shape == (2, 8, 2, 4)
        c.fields["obs"][:] = np.arange(2 * 8 * 2 * 4, dtype=np.float32).reshape(2, 8, 2, 4)
        c.fields["action"][1, 7, 1] = 42
        c.headers["valid_steps"][1] = 5
    with cons.batch(16, timeout=1.0) as b:
        assert b.count == 2
        assert b.fields["obs"].shape == (2, 8, 2, 4)
        assert b.fields["obs"][1, 7, 1, 3] == 2 * 8 * 2 * 4 - 1
        assert b.fields["action"][1, 7, 1] == 42
        assert list(b.headers["sequence"]) == [0, 1]
        assert list(b.headers["valid_steps"]) == [8, 5]
        assert list(b.headers["producer"]) == [prod.id, prod.id]
        assert b.policy_versions() == [3, 3]
        assert not b.fields["obs"].flags.writeable
        assert all(inside(region, a) for a in b.fields.values()) and inside(region, b.headers)
    assert b.released
    st = ring.stats()
    assert st["produced"] == 2 and st["consumed"] == 2 and st["held"] == 0


def test_ring_claim_aborts_when_the_block_raises(region):
    ring = make(region)
    prod, cons = ring.producer(), ring.consumer()
    with pytest.raises(KeyError):
        with prod.claim(1) as c:
            c.fields["reward"][:] = 1
            raise KeyError("env crashed")
    assert ring.stats()["aborted"] == 1
    with pytest.raises(sabre.AgainError):
        cons.batch(1, timeout=0)


def test_ring_claim_and_batch_views_lie_inside_the_region(region):
    ring = make(region)
    prod = ring.producer()
    with prod.claim(3) as c:
        for a in list(c.fields.values()) + [c.headers]:
            assert inside(region, a)
        assert c.fields["obs"].strides == (ring.stride, 2 * 16, 16, 4)


def test_ring_full_drop_newest_raises_full_error(region):
    ring = make(region, capacity=2)
    prod = ring.producer()
    for _ in range(2):
        with prod.claim(1):
            pass
    with pytest.raises(sabre.FullError) as ei:
        prod.claim(1)
    assert ei.value.status == sabre.lib.SABRE_EFULL
    assert ring.stats()["dropped"] == 1


def test_ring_empty_consume_times_out(region):
    ring = make(region)
    cons = ring.consumer()
    with pytest.raises(sabre.TimedOutError):
        cons.batch(1, timeout=0.01)
    with pytest.raises(sabre.AgainError):
        cons.batch(1, timeout=0)


def test_ring_batch_released_when_the_block_raises(region):
    ring = make(region, capacity=2)
    prod, cons = ring.producer(), ring.consumer()
    for _ in range(2):
        with prod.claim(1):
            pass
    with pytest.raises(ValueError):
        with cons.batch(2, timeout=1) as b:
            raise ValueError("learner bug")
    assert b.released and ring.stats()["held"] == 0
    with prod.claim(1):  # the slots went back to the producer
        pass


def test_ring_batch_view_after_release_shows_newer_producer_data(region):
    ring = make(region, capacity=1)
    prod, cons = ring.producer(), ring.consumer()
    with prod.claim(1) as c:
        c.fields["reward"][:] = 1.0
    with cons.batch(1, timeout=1) as b:
        old = b.fields["reward"]
        assert (old == 1.0).all()
    with prod.claim(1) as c:  # the same slot, claimed again
        c.fields["reward"][:] = 2.0
    assert (old == 2.0).all()  # still mapped; the slot belongs to the producer now


def test_ring_batch_view_keeps_the_region_mapped(region):
    ring = make(region)
    prod, cons = ring.producer(), ring.consumer()
    with prod.claim(1) as c:
        c.fields["reward"][:] = 4.0
    b = cons.batch(1, timeout=1)
    a = b.fields["reward"]
    b.release()
    cons.close()
    prod.close()
    ring.close()
    region.close()
    del ring, cons, prod, b
    gc.collect()
    assert (a == 4.0).all()


def test_ring_producer_in_another_process_streams_chunks(shm_name):
    reg = sabre.Region.create(1 << 22, "shm", name=shm_name)
    ring = sabre.Ring.create(reg, "rollouts", STEP, steps=4, envs=3, capacity=4, policy="block")
    cons = ring.consumer()
    code = (
        "import sys, numpy as np, sabre\n"
        "r = sabre.Region.open(sys.argv[1])\n"
        "ring = sabre.Ring.open(r, 'rollouts', steps=4, envs=3)\n"
        "p = ring.producer()\n"
        "for k in range(20):\n"
        "    with p.claim(1, timeout=10) as c:\n"
        "        c.fields['action'][:] = k\n"
        "        c.fields['obs'][:] = np.arange(4, dtype=np.float32) + k\n"
    )
    import subprocess, sys
    from conftest import PKG_ROOT

    env = dict(os.environ, PYTHONPATH=PKG_ROOT, SABRE_LIB=sabre.LIBRARY_PATH)
    child = subprocess.Popen([sys.executable, "-c", code, shm_name], env=env, stderr=subprocess.PIPE, text=True)
    got = []
    while len(got) < 20:
        with cons.batch(8, timeout=30) as b:
            for i in range(b.count):
                k = int(b.fields["action"][i, 0, 0])
                assert (b.fields["action"][i] == k).all()
                assert np.array_equal(b.fields["obs"][i, 3, 2], np.arange(4, dtype=np.float32) + k)
                got.append(k)
    assert child.wait(60) == 0, child.stderr.read()
    assert got == list(range(20))


def test_ring_dead_producer_claim_is_counted_abandoned(region):
    ring = make(region, capacity=4)
    cons = ring.consumer()
    pid = os.fork()
    if pid == 0:
        try:
            p = ring.producer()
            p.claim(2)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    with pytest.raises(sabre.TimedOutError):
        cons.batch(1, timeout=0.2)  # waiting lets the consumer find the dead producer
    st = ring.stats()
    assert st["abandoned"] == 2
    assert any(p["pid"] == pid and not p["alive"] for p in ring.producers_info())


def test_ring_stats_and_producer_info_are_dicts(region):
    ring = make(region)
    p = ring.producer()
    with p.claim(1):
        pass
    st = ring.stats()
    assert st["produced"] == 1 and st["steps"] == 8 and st["capacity"] == 8
    info = ring.producers_info()
    assert info[p.id]["active"] and info[p.id]["pid"] == os.getpid() and info[p.id]["produced"] == 1


def test_ring_raw_payload_ring_gives_bytes(region):
    ring = sabre.Ring.create(region, "raw", record_size=100, capacity=2)
    p, c = ring.producer(), ring.consumer()
    with p.claim(1) as cl:
        cl.fields["data"][0, 0, 0, :] = 7
    with c.batch(1, timeout=1) as b:
        assert b.fields["data"].shape == (1, 1, 1, 100) and (b.fields["data"] == 7).all()


def test_ring_open_with_wrong_shape_is_a_layout_error(region):
    make(region)
    with pytest.raises(sabre.LayoutError):
        sabre.Ring.open(region, "rollouts", steps=9)
    with pytest.raises(sabre.LayoutError):
        sabre.Ring.open(region, "rollouts", "struct X { a: u8; }")


def test_ring_struct_field_gets_the_struct_dtype(region):
    ring = sabre.Ring.create(region, "r", "struct P { x: f32; y: f32; }\nstruct S { p: P; ps: P[2]; k: u16[3]; }", steps=2, envs=3)
    f = {x.name: x for x in ring.fields}
    assert f["p"].dtype.names == ("x", "y") and f["p"].shape == ()
    assert f["ps"].shape == (2,) and f["k"].dtype == np.uint16 and f["k"].shape == (3,)
    prod, cons = ring.producer(), ring.consumer()
    with prod.claim(1) as c:
        c.fields["ps"]["y"][0, 1, 2, 1] = 4.5
        c.fields["k"][0, 1, 2] = [1, 2, 3]
    with cons.batch(1, timeout=1) as b:
        assert b.fields["ps"]["y"][0, 1, 2, 1] == 4.5 and list(b.fields["k"][0, 1, 2]) == [1, 2, 3]


def test_ring_policy_lag_percentiles_and_histogram_in_stats(region):
    ring = make(region, capacity=128)
    prod, cons = ring.producer(), ring.consumer()
    cons.version = 10
    for k, v in enumerate([10] * 6 + [9] * 3 + [2]):
        prod.version = v
        with prod.claim(1):
            pass
    n = 0
    while n < 10:
        with cons.batch(4, timeout=1) as b:
            n += b.count
    st = ring.stats()
    assert (st["lag_p50"], st["lag_p90"]) == (0, 1)
    assert st["lag_hist"][0] == 6 and st["lag_hist"][1] == 3 and st["lag_hist"][8] == 1  # lag 8: [8,16)
    assert st["lag_p99"] == 8 and st["lag_max"] == 8
    assert sabre.lag_buckets()[:10] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 16]


def test_ring_consumer_max_policy_lag_skips_and_counts(region):
    ring = make(region)
    prod, cons = ring.producer(), ring.consumer(max_policy_lag=1)
    cons.version = 5
    for v in (2, 3, 4, 5):
        prod.version = v
        with prod.claim(1) as c:
            c.fields["action"][:] = v
    with cons.batch(8, timeout=1) as b:
        assert [int(b.fields["action"][i, 0, 0]) for i in range(b.count)] == [4, 5]
    st = ring.stats()
    assert st["lag_skipped"] == 2 and st["max_lag"] == 1 and st["lag_count"] == 2
    cons.max_policy_lag = None
    assert ring.stats()["max_lag"] is None


def test_ring_claim_after_consumer_close_raises_closed_error(region):
    ring = make(region)
    prod, cons = ring.producer(), ring.consumer()
    cons.close()
    with pytest.raises(sabre.ClosedError) as ei:
        prod.claim(1)
    assert ei.value.status == sabre.lib.SABRE_ECLOSED and "closed the ring" in str(ei.value)
    assert ring.stats()["consumer_closed"]


def test_ring_episodes_reported_by_a_producer_process(region):
    ring = make(region)
    cons = ring.consumer()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            p = ring.producer()
            p.version = 3
            for i in range(5):
                p.report_episode(100.0 + i, 10 + i)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    eps = cons.episodes()
    assert eps.dtype == sabre.EPISODE_DTYPE and len(eps) == 5
    assert list(eps["ret"]) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert list(eps["length"]) == [10, 11, 12, 13, 14] and set(eps["policy_version"]) == {3}
    assert len(cons.episodes()) == 0
    assert ring.stats()["episodes"] == 5


def test_ring_dead_producer_is_named_in_producer_info(region):
    ring = make(region, capacity=4)
    cons = ring.consumer()
    pid = os.fork()
    if pid == 0:
        try:
            p = ring.producer()
            p.claim(2)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    for _ in range(100):
        with pytest.raises(sabre.TimedOutError):
            cons.batch(1, timeout=0.02)
        if ring.stats()["producer_deaths"]:
            break
    info = ring.producers_info()[0]
    assert info["dead_pid"] == pid and info["deaths"] == 1 and info["abandoned"] == 2


def test_ring_inspect_json_shows_lag_distribution_and_lifecycle(tmp_path):
    import json
    import subprocess

    from conftest import tool

    path = str(tmp_path / "ring.sabre")
    reg = sabre.Region.create(1 << 22, "file", name=path)
    ring = make(reg)
    prod, cons = ring.producer(), ring.consumer(max_policy_lag=3)
    with prod.claim(1):
        pass
    with cons.batch(1, timeout=1):
        pass
    prod.report_episode(5.0, 7)
    out = subprocess.run([tool(), "inspect", path, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)["objects"][0]["state"]
    assert st["lag"]["p50"] == 0 and st["lag"]["max_lag"] == 3 and len(st["lag"]["histogram"]) == 14
    assert st["lag"]["histogram"][0] == {"min": 0, "count": 1}
    assert st["episodes"] == 1 and st["consumer_closed"] is False
    assert st["fields"][0]["type"] == "f32" and st["fields"][0]["count"] == 4
    txt = subprocess.run([tool(), "inspect", path], capture_output=True, text=True, timeout=60).stdout
    assert "policy lag p50/p90/p99 0/0/0" in txt and "lag histogram: 0:1" in txt


def test_ring_blocking_consume_releases_the_gil(region):
    """A thread blocked in batch() lets the main thread run Python code and
    produce the chunk it waits for (the GIL is released during the C call)."""
    import threading

    ring = make(region)
    prod, cons = ring.producer(), ring.consumer()
    got = []

    def wait_for_chunk():
        with cons.batch(1, timeout=30) as b:
            got.append(int(b.fields["action"][0, 0, 0]))

    t = threading.Thread(target=wait_for_chunk)
    t.start()
    busy = sum(i * i for i in range(200000))  # Python work while the consumer waits
    with prod.claim(1) as c:
        c.fields["action"][:] = 7
    t.join(60)
    assert not t.is_alive() and got == [7] and busy > 0
