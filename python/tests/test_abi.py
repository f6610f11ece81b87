import copy
import os
import re
import shutil

import pytest

import sabre
from sabre import _ffi
from conftest import run_python


def doc():
    return copy.deepcopy(_ffi.abi())


def test_abi_every_used_struct_is_checked_against_the_library():
    assert set(_ffi.USED_STRUCTS) <= set(_ffi.CHECKED_STRUCTS)
    d = doc()
    assert d["objects"]["ring"]["major"] == sabre.lib.SABRE_RING_ABI_MAJOR
    assert d["status"]["SABRE_ECORRUPT"] == sabre.lib.SABRE_ECORRUPT


def test_abi_struct_size_difference_is_an_import_error():
    d = doc()
    d["public_structs"]["sabre_ring_stats_t"]["size"] += 8
    with pytest.raises(ImportError, match=r"struct sabre_ring_stats_t is \d+ bytes in the headers, \d+ in the library"):
        _ffi.check_abi(d)


def test_abi_field_offset_difference_is_an_import_error():
    d = doc()
    for f in d["public_structs"]["sabre_ring_claim_t"]["fields"]:
        if f["name"] == "data":
            f["offset"] += 8
    with pytest.raises(ImportError, match=r"sabre_ring_claim_t\.data is at offset"):
        _ffi.check_abi(d)


def test_abi_field_missing_from_the_headers_is_an_import_error():
    d = doc()
    d["public_structs"]["sabre_chunk_t"]["fields"].append({"name": "epoch", "offset": 16, "size": 8})
    with pytest.raises(ImportError, match=r"only in the library \['epoch'\]"):
        _ffi.check_abi(d)


def test_abi_export_without_a_used_struct_is_an_import_error():
    d = doc()
    del d["public_structs"]["sabre_weights_view_t"]
    with pytest.raises(ImportError, match="does not describe sabre_weights_view_t"):
        _ffi.check_abi(d)


def test_abi_status_code_difference_is_an_import_error():
    d = doc()
    d["status"]["SABRE_EFULL"] = -99
    with pytest.raises(ImportError, match="SABRE_EFULL is -19 in the headers, -99 in the library"):
        _ffi.check_abi(d)


def test_abi_headers_that_drifted_from_the_library_refuse_to_import(tmp_path):
    """Headers of another version (a field inserted into a public struct)
    next to this library: the import fails and names the struct."""
    inc = tmp_path / "include"
    shutil.copytree(_ffi.INCLUDE_DIR, inc)
    ring_h = inc / "sabre" / "ring.h"
    text = ring_h.read_text()
    text, n = re.subn(r"(typedef struct sabre_ring_stats \{\n)", r"\1    uint64_t drifted;\n", text)
    assert n == 1
    ring_h.write_text(text)
    p = run_python("import sabre", env={"SABRE_INCLUDE": str(inc)})
    assert p.returncode != 0
    assert "ImportError" in p.stderr and "sabre_ring_stats_t" in p.stderr and "do not match" in p.stderr
