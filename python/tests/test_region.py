import gc
import json
import os
import subprocess
import weakref

import numpy as np
import pytest

import sabre
from conftest import inside, run_python, tool

SCHEMA = "struct Pos { x: f32; y: f32; }\nstruct Body { pos: Pos; mass: f64; id: u32; alive: bool; }"


@pytest.mark.parametrize("backing", ["private", "memfd", "shm", "file"])
def test_region_create_every_backing_allocates_and_finds(backing, shm_name, tmp_path):
    name = {"shm": shm_name, "file": str(tmp_path / "r.sabre"), "memfd": "m", "private": None}[backing]
    with sabre.Region.create(1 << 20, backing, name=name) as r:
        assert r.backing == backing
        assert (r.fd >= 0) == (backing != "private")
        o = r.alloc("blob", 1000)
        assert o.kind_name == "raw" and o.size == 1000 and o.offset % 64 == 0
        b = o.bytes()
        b[:] = 7
        assert inside(r, b) and r.find("blob").address == o.address
        info = r.info()
        assert info["nobjects"] == 1 and info["backing"] == backing


def test_region_shm_opened_by_another_process_sees_the_columns(shm_name):
    r = sabre.Region.create(1 << 20, "shm", name=shm_name)
    cols = r.create_columns("bodies", SCHEMA, 256)
    cols["pos_x"][:] = np.arange(256, dtype=np.float32)
    cols["mass"][:] = 2.0
    code = (
        "import sys, sabre\n"
        "r = sabre.Region.open(sys.argv[1], 'shm')\n"
        "c = r.columns('bodies')\n"
        "print(float(c['pos_x'].sum()), float(c['mass'].sum()), c['id'].dtype, c['alive'].dtype)\n"
        "c['id'][:] = 5\n"
    )
    p = run_python(code, shm_name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(float(sum(range(256)))), "512.0", "uint32", "bool"]
    assert (cols["id"] == 5).all()  # the other process wrote the same memory


def test_region_file_persists_and_reopens_readonly(tmp_path):
    path = str(tmp_path / "persist.sabre")
    r = sabre.Region.create(1 << 20, "file", name=path)
    r.create_columns("bodies", SCHEMA, 10)["mass"][:] = 3.5
    r.close()
    ro = sabre.Region.open(path, "file", readonly=True)
    c = ro.columns("bodies")
    assert ro.readonly and not c["mass"].flags.writeable
    assert (c["mass"] == 3.5).all()
    with pytest.raises(ValueError):
        c["mass"][0] = 1.0


def test_region_memfd_fd_passed_to_a_child_process(region):
    cols = region.create_columns("bodies", SCHEMA, 64)
    cols["pos_y"][:] = 1.25
    code = (
        "import sys, sabre\n"
        "r = sabre.Region.open_fd(int(sys.argv[1]))\n"
        "c = r.columns('bodies'); c['pos_y'] *= 2\n"
        "print(r.backing)\n"
    )
    e = dict(os.environ)
    from conftest import PKG_ROOT

    e["PYTHONPATH"] = PKG_ROOT
    e["SABRE_LIB"] = sabre.LIBRARY_PATH
    import sys

    p = subprocess.run([sys.executable, "-c", code, str(region.fd)], pass_fds=[region.fd], capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "memfd"
    assert (cols["pos_y"] == 2.5).all()


def test_region_objects_list_matches_sabre_inspect_json(tmp_path):
    t = tool()
    assert t, "the sabre tool was not built next to the library"
    path = str(tmp_path / "listed.sabre")
    r = sabre.Region.create(1 << 20, "file", name=path)
    r.create_columns("bodies", SCHEMA, 32)
    r.alloc("raw", 100)
    sabre.Weights.create(r, "w", 256, f32=True)
    sabre.Ring.create(r, "ring", "struct S { o: f32[2]; }", steps=4, envs=2, capacity=4)
    out = subprocess.run([t, "inspect", path, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    theirs = json.loads(out.stdout)["objects"]
    mine = r.objects()
    assert [o["name"] for o in mine] == ["bodies", "raw", "w", "ring"]
    keys = ["index", "slot", "name", "kind", "kind_code", "offset", "size", "layout_hash", "layout_len", "layout_text"]
    assert [{k: o[k] for k in keys} for o in mine] == [{k: o[k] for k in keys} for o in theirs]


def test_region_column_views_lie_inside_the_mapping(region):
    cols = region.create_columns("bodies", SCHEMA, 1000)
    for name, a in cols.items():
        assert inside(region, a), name
        assert a.shape == (1000,)
    again = region.columns("bodies")
    assert again["mass"].__array_interface__["data"][0] == cols["mass"].__array_interface__["data"][0]


def test_region_views_keep_the_mapping_after_close():
    r = sabre.Region.create(1 << 20, "memfd")
    a = r.create_columns("bodies", SCHEMA, 100)["mass"]
    a[:] = 9.0
    owner = weakref.ref(a.base.owner)
    r.close()
    with pytest.raises(sabre.StateError):
        r.size
    del r
    gc.collect()
    assert owner() is not None  # the view holds the mapping
    assert a.sum() == 900.0
    a[3] = 1.0  # still writable, still mapped
    del a
    gc.collect()
    assert owner() is None  # last view gone: the region was closed


def test_region_columns_corrupt_header_is_a_corrupt_error(region):
    region.create_columns("bodies", SCHEMA, 16)
    raw = region.find("bodies").bytes()
    raw[0] ^= 0xFF
    with pytest.raises(sabre.CorruptError, match="magic is"):
        region.columns("bodies")
    raw[0] ^= 0xFF
    raw[64:72].view("<u8")[0] = 1 << 40  # a column offset far outside the object
    with pytest.raises(sabre.CorruptError, match="does not fit"):
        region.columns("bodies")


def test_region_errors_carry_status_and_message(shm_name, region):
    with pytest.raises(sabre.NotFoundError) as ei:
        sabre.Region.open(shm_name, "shm")
    assert ei.value.status == sabre.lib.SABRE_ENOENT and shm_name.lstrip("/") in str(ei.value)
    region.alloc("x", 64)
    with pytest.raises(sabre.ExistsError):
        region.alloc("x", 64)
    with pytest.raises(sabre.LayoutError):
        region.create_columns("c", SCHEMA, 4)
        region.columns("c", "struct Other { a: u8; }")
    with pytest.raises(sabre.InvalidError):
        region.alloc("bad name", 64)


def test_region_probe_reports_capabilities():
    caps = sabre.probe()
    assert caps["private_ok"] and caps["page_size"] >= 4096
