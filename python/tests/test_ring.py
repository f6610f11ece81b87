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
