"""pytest set-up: import the package straight from the source tree (python/)
unless SABRE_PY_INSTALLED=1 asks for the installed one, and give each test
unique shm names and temporary paths."""
import os
import shutil
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
SRC_ROOT = os.path.dirname(PKG_ROOT)
if os.environ.get("SABRE_PY_INSTALLED") != "1":
    sys.path.insert(0, PKG_ROOT)

import sabre  # noqa: E402


@pytest.fixture
def shm_name():
    """A fresh POSIX shm name, unlinked after the test."""
    name = "/sabre-py-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    yield name
    try:
        sabre.Region.unlink(name, "shm")
    except sabre.SabreError:
        pass


@pytest.fixture
def region():
    """A 16 MiB memfd region (shareable with forked children)."""
    r = sabre.Region.create(16 << 20, "memfd", name="pytest")
    yield r
    r.close()


def tool():
    """Path of the `sabre` command of the build the library came from."""
    t = os.environ.get("SABRE_TOOL")
    if t and os.path.exists(t):
        return t
    cand = os.path.join(os.path.dirname(sabre.LIBRARY_PATH), "sabre")
    if os.path.exists(cand):
        return cand
    cand = os.path.join(SRC_ROOT, "build", "release", "sabre")
    return cand if os.path.exists(cand) else shutil.which("sabre")


def run_python(code: str, *args: str, timeout: float = 60, env=None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh /usr/bin/python3 that imports this package."""
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG_ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e["SABRE_LIB"] = sabre.LIBRARY_PATH
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=e
    )


def inside(region: "sabre.Region", arr) -> bool:
    """The array's bytes lie inside the region's mapping."""
    lo = arr.__array_interface__["data"][0]
    if arr.size == 0:
        return region.contains(lo, 0)
    span = sum((n - 1) * abs(s) for n, s in zip(arr.shape, arr.strides)) + arr.itemsize
    return region.contains(lo, span)
