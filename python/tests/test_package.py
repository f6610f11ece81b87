import os
import shutil
import subprocess
import sys

import sabre
from conftest import PKG_ROOT, SRC_ROOT


def test_package_imported_from_the_source_tree_by_default():
    if os.environ.get("SABRE_PY_INSTALLED") == "1":
        return
    assert os.path.dirname(os.path.dirname(sabre.__file__)) == PKG_ROOT


def test_package_cdef_is_generated_from_every_public_header():
    from sabre import _ffi

    names = {os.path.basename(h) for h in _ffi.HEADERS}
    on_disk = {f for f in os.listdir(os.path.join(_ffi.INCLUDE_DIR, "sabre")) if f.endswith(".h")}
    assert names == on_disk
    # a struct of every layer is known to cffi with the compiler's size
    for t in ("sabre_region_desc_t", "sabre_ring_stats_t", "sabre_weights_info_t", "sabre_chunk_t"):
        assert sabre.ffi.sizeof(t) > 0


def test_package_pip_install_offline_into_a_venv(tmp_path):
    """pip install --no-build-isolation works offline with Debian's setuptools,
    and the installed package runs from anywhere with its own copy of the
    headers and library."""
    src = tmp_path / "python"
    shutil.copytree(PKG_ROOT, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    env = dict(os.environ, SABRE_SOURCE_DIR=SRC_ROOT, SABRE_LIB=sabre.LIBRARY_PATH, PIP_NO_INDEX="1")
    env.pop("PYTHONPATH", None)
    p = subprocess.run(
        [py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", "--no-compile", "--disable-pip-version-check", "-q", str(src)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    env.pop("SABRE_LIB")
    env.pop("SABRE_SOURCE_DIR")
    code = (
        "import sabre, numpy as np\n"
        "r = sabre.Region.create(1 << 20)\n"
        "c = r.create_columns('c', 'struct A { x: f64; }', 8); c['x'][:] = 2\n"
        "print(sabre.__file__); print(sabre.LIBRARY_PATH); print(float(r.columns('c')['x'].sum()))\n"
    )
    p = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert p.returncode == 0, p.stderr
    file_, libpath, total = p.stdout.split()
    assert file_.startswith(str(venv)) and libpath.startswith(str(venv)) and total == "16.0"
