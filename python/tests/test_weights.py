import array
import gc
import os
import signal

import numpy as np
import pytest

import sabre
from conftest import inside, run_python


def test_weights_publish_numpy_and_adopt_a_readonly_view(region):
    w = sabre.Weights.create(region, "policy", size=4 * 64, f32=True)
    params = np.linspace(0, 1, 64, dtype=np.float32)
    assert w.publish(params, step=10) == 1
    r = w.reader()
    with r.adopt() as pin:
        a = pin.array
        assert a.dtype == np.float32 and a.shape == (64,)
        assert not a.flags.writeable
        assert np.array_equal(a, params)
        assert inside(region, a)
        assert (pin.version, pin.step_counter, pin.changed) == (1, 10, True)
    assert pin.released
    r.close()


def test_weights_publish_accepts_any_buffer_and_zero_fills_the_rest(region):
    w = sabre.Weights.create(region, "w", size=16)
    w.publish(b"\x01\x02\x03")
    w.publish(array.array("B", [9, 9]))
    w.publish(memoryview(bytearray(b"\x05" * 4)))
    with w.reader() as r, r.adopt() as pin:
        assert pin.version == 3
        assert list(pin.array) == [5, 5, 5, 5] + [0] * 12
    with pytest.raises(sabre.InvalidError):
        w.publish(b"x" * 17)  # larger than a slot


def test_weights_publish_of_a_noncontiguous_array_copies_its_values(region):
    w = sabre.Weights.create(region, "w", size=4 * 8, f32=True)
    m = np.arange(16, dtype=np.float32).reshape(8, 2)[:, 0]
    w.publish(m)
    with w.reader() as r, r.adopt() as pin:
        assert np.array_equal(pin.array, m)


def test_weights_in_place_slot_commits_on_normal_exit(region):
    w = sabre.Weights.create(region, "w", size=4 * 32, f32=True)
    with w.begin(step=5) as buf:
        assert buf.flags.writeable and inside(region, buf)
        buf[:] = 3.0
    assert w.version == 1
    with w.reader() as r, r.adopt() as pin:
        assert (pin.array == 3.0).all() and pin.step_counter == 5


def test_weights_in_place_slot_aborts_when_the_block_raises(region):
    w = sabre.Weights.create(region, "w", size=64)
    with pytest.raises(RuntimeError):
        with w.begin() as buf:
            buf[:] = 1
            raise RuntimeError("trainer crashed mid-write")
    assert w.version == 0
    with w.reader() as r, pytest.raises(sabre.AgainError):
        r.adopt()  # nothing was published


def test_weights_pinned_slot_is_never_overwritten(region):
    w = sabre.Weights.create(region, "w", size=8, slots=3)
    w.publish(np.full(8, 1, np.uint8))
    r = w.reader()
    pin = r.adopt()
    for v in range(2, 12):
        w.publish(np.full(8, v, np.uint8), timeout=0)
    assert (pin.array == 1).all() and not pin.released
    pin2 = r.adopt()
    assert pin.released and (pin2.array == 11).all() and pin2.version == 11
    r.close()


def test_weights_view_after_release_may_be_overwritten_by_a_later_publish(region):
    w = sabre.Weights.create(region, "w", size=8)  # two slots, A/B
    w.publish(np.full(8, 1, np.uint8))
    r = w.reader()
    with r.adopt() as pin:
        old = pin.array
    assert pin.released
    w.publish(np.full(8, 2, np.uint8))  # the other slot
    w.publish(np.full(8, 3, np.uint8))  # back into the released slot
    assert (old == 3).all()  # still mapped, now showing the newer version
    r.close()


def test_weights_adopt_refuses_a_wrong_shape_and_keeps_the_old_version(region):
    w = sabre.Weights.create(region, "w", size=4 * 4, f32=True, slots=4)  # 2R + 2: a validating reader
    w.publish(np.ones(4, np.float32), shape_hash=7)
    r = w.reader()
    assert r.adopt(expect_shape=7).version == 1
    w.publish(np.ones(4, np.float32), shape_hash=8, timeout=0)
    with pytest.raises(sabre.LayoutError):
        r.adopt(expect_shape=7)
    w.publish(np.array([1, np.nan, 0, 0], np.float32), shape_hash=7, timeout=0)
    with pytest.raises(sabre.RangeError):
        r.adopt(expect_shape=7, check_finite=True)
    assert r.weights.readers_info()[0]["refused"] == 2
    r.close()


def test_weights_wait_returns_when_a_version_is_published(region):
    w = sabre.Weights.create(region, "w", size=8)
    r = w.reader()
    assert r.wait(0, timeout=0) is False
    w.publish(b"abc")
    assert r.wait(0, timeout=1.0) is True
    r.close()


def test_weights_reader_in_another_process_adopts_what_we_publish(shm_name):
    reg = sabre.Region.create(1 << 20, "shm", name=shm_name)
    w = sabre.Weights.create(reg, "policy", size=4 * 16, f32=True)
    w.publish(np.arange(16, dtype=np.float32))
    code = (
        "import sys, sabre\n"
        "r = sabre.Region.open(sys.argv[1])\n"
        "w = sabre.Weights.open(r, 'policy')\n"
        "with w.reader() as rd, rd.adopt() as pin:\n"
        "    print(pin.version, float(pin.array.sum()), pin.array.dtype)\n"
    )
    p = run_python(code, shm_name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "120.0", "float32"]


def test_weights_info_and_dead_reader_detection(region):
    w = sabre.Weights.create(region, "w", size=8, readers=2)
    w.publish(b"12345678")
    pid = os.fork()
    if pid == 0:  # a reader that pins and dies
        try:
            rr = w.reader()
            rr.adopt()
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    infos = w.readers_info()
    assert any(i["active"] and not i["alive"] and i["pid"] == pid for i in infos)
    for v in range(3):
        w.publish(b"x", timeout=0)  # the dead pin never blocks the publisher
    assert w.info()["publishes"] == 4
