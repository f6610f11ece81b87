import os
import sys

import numpy as np
import pytest

import sabre
from conftest import inside, run_python

POS = "struct V { x: f32; y: f32; }"


def make_world(region, n=1000):
    w = sabre.World(region)
    pos = w.component("Pos", POS)
    vel = w.component("Vel", POS)
    ids = w.spawn(n, {pos: {"x": np.arange(n), "y": 0}, vel: {"x": 1, "y": 2}})
    return w, pos, vel, ids


def test_ecs_snapshot_worker_process_kernel_marks_rows_the_owner_commits(shm_name):
    reg = sabre.Region.create(64 << 20, "shm", name=shm_name)
    w, pos, vel, ids = make_world(reg)
    snap = sabre.Snapshot.build(w, [pos, (vel, False)], region=reg, name="snap")
    assert inside(reg, snap.column(pos, "x")) and snap.rows == 1000
    code = (
        "import sys, numpy as np, sabre\n"
        "r = sabre.Region.open(sys.argv[1])\n"
        "s = sabre.Snapshot.open(r, 'snap')\n"
        "pos, vel = int(sys.argv[2]), int(sys.argv[3])\n"
        "x, vx = s.column(pos, 'x'), s.column(vel, 'x')\n"
        "hit = (x % 3) == 0\n"
        "x[hit] += 100 * vx[hit]\n"
        "print(s.mark(pos, hit))\n"
        "x[1] = -1.0  # written, not marked: never committed\n"
    )
    p = run_python(code, shm_name, str(pos.id), str(vel.id))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "334"
    st = snap.commit(w)
    assert st["rows_written"] == 334
    assert w.get(ids[3], pos)["x"] == 103 and w.get(ids[1], pos)["x"] == 1 and w.get(ids[4], pos)["x"] == 4


def test_ecs_native_view_worker_process_writes_the_worlds_tables(shm_name):
    reg = sabre.Region.create(64 << 20, "shm", name=shm_name)
    w, pos, vel, ids = make_world(reg, 300)
    chunk = w.chunks()[0]
    w.begin_tick()
    code = (
        "import sys, sabre\n"
        "r = sabre.Region.open(sys.argv[1])\n"
        "v = sabre.Snapshot.open_view(r, sys.argv[2])\n"
        "pos = int(sys.argv[3])\n"
        "x = v.column(pos, 'x')\n"
        "x[:128] *= 2\n"
        "v.mark(pos, slice(0, 128))\n"
        "print(v.rows)\n"
    )
    p = run_python(code, shm_name, chunk["object"], str(pos.id))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "300"
    assert w.get(ids[100], pos)["x"] == 200 and w.get(ids[200], pos)["x"] == 200
    assert w.is_changed(ids[100], pos) and not w.is_changed(ids[200], pos)
    w.end_tick()


def test_ecs_python_kernel_runs_in_the_schedulers_worker_processes():
    reg = sabre.Region.create(64 << 20, "memfd")
    w, pos, vel, ids = make_world(reg, 20000)
    pids = reg.alloc("pids", 8 * 64)  # which processes ran the kernel
    pool = sabre.Pool(threads=1, region=reg, processes=2)
    sched = sabre.Scheduler(w, pool)

    def integrate(ctx):
        x, vx = ctx.rows.column(pos, "x"), ctx.rows.column(vel, "x")
        b, e = ctx.begin, ctx.end
        x[b:e] += vx[b:e] * 10
        ctx.rows.mark(pos, slice(b, e))
        seen = pids.bytes().view(np.int64)  # the fork inherited the shared mapping
        seen[ctx.worker] = os.getpid()
        assert ctx.in_process

    sched.add_kernel("integrate", integrate, reads=[vel], writes=[pos], offload="process")
    for f in range(3):
        sched.run_frame(0.1, 0.1 * f)
    assert w.get(ids[0], pos)["x"] == 30 and w.get(ids[19999], pos)["x"] == 19999 + 30
    ran = set(pids.bytes().view(np.int64)) - {0}
    assert ran and os.getpid() not in ran
    assert sched.stats("integrate")["rows"] == 3 * 20000
    sched.close()
    pool.close()


def test_ecs_python_kernel_exception_fails_the_frame_with_job_error():
    reg = sabre.Region.create(64 << 20, "memfd")
    w, pos, vel, ids = make_world(reg, 100)
    pool = sabre.Pool(threads=1, region=reg, processes=1)
    sched = sabre.Scheduler(w, pool)

    def broken(ctx):
        raise ValueError("kernel bug")

    sched.add_kernel("broken", broken, writes=[pos], offload="process")
    with pytest.raises(sabre.JobError):
        sched.run_frame()
    sched.close()
    pool.close()


def test_ecs_snapshot_entities_are_readonly_views(region):
    w, pos, vel, ids = make_world(region, 10)
    snap = sabre.Snapshot.build(w, [pos], region=region, name="s")
    e = snap.entities
    assert list(e) == list(ids) and not e.flags.writeable and inside(region, e)


def test_ecs_digest_equal_for_equal_values_and_changes_with_one():
    r1, r2 = sabre.Region.create(64 << 20), sabre.Region.create(64 << 20)
    (w1, p1, _, ids1), (w2, p2, _, ids2) = make_world(r1), make_world(r2)
    assert w1.digest(p1) == w2.digest(p2) != 0
    w2.set(int(ids2[7]), p2, (7.0, 1e-30))
    assert w1.digest(p1) != w2.digest(p2)
    w2.set(int(ids2[7]), p2, (7.0, 0.0))
    assert w1.digest(p1) == w2.digest(p2)
    with pytest.raises(sabre.SabreError, match="unknown component"):
        w1.digest(sabre.ecs.Component(w1, 999))
