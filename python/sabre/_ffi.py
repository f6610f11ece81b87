"""Loading libsabre and declaring its API to cffi (ABI mode).

Where the library comes from, first match wins:

1. ``$SABRE_LIB`` (a path to ``libsabre.so``);
2. ``libsabre.so`` next to this package (a ``pip install`` copies it there
   when it was built);
3. ``build/release/libsabre.so`` of the source tree this package sits in
   (``python/sabre`` -> ``../../build/release``);
4. the system's ``libsabre.so`` (``ldconfig`` / ``LD_LIBRARY_PATH``).

The cdef is generated from the public headers (``sabre/include`` inside an
installed package, else ``include/`` of the source tree; ``$SABRE_INCLUDE``
overrides) by :mod:`sabre._cdefgen`, and every struct and status code the
binding uses is then checked against the library's own ``sabre_abi_json()``
(sizes and ``offsetof`` computed by the C compiler that built it).  A
mismatch raises :class:`ImportError` naming the struct and field.

cffi's ABI mode releases the GIL around every C call, so blocking calls
(claim, consume, wait) let other Python threads run.
"""
from __future__ import annotations

import ctypes.util
import json
import os
from typing import Any, Dict, List, NoReturn, Optional

import cffi

from . import _cdefgen

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRC_ROOT = os.path.dirname(os.path.dirname(_HERE))


def _find_library() -> str:
    env = os.environ.get("SABRE_LIB")
    if env:
        if not os.path.exists(env):
            raise ImportError("sabre: SABRE_LIB is %r, which does not exist" % env)
        return env
    for cand in (
        os.path.join(_HERE, "libsabre.so"),
        os.path.join(_SRC_ROOT, "build", "release", "libsabre.so"),
    ):
        if os.path.exists(cand):
            return cand
    found = ctypes.util.find_library("sabre")
    if found:
        return found
    raise ImportError(
        "sabre: libsabre.so not found (tried $SABRE_LIB, %s, %s and the system "
        "library path); build it with `cmake -S . -B build/release && cmake --build "
        "build/release --target sabre_shared` or set SABRE_LIB"
        % (os.path.join(_HERE, "libsabre.so"), os.path.join(_SRC_ROOT, "build", "release"))
    )


def _find_include() -> str:
    env = os.environ.get("SABRE_INCLUDE")
    cands = [env] if env else []
    cands += [os.path.join(_HERE, "include"), os.path.join(_SRC_ROOT, "include")]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "sabre", "sabre.h")):
            return c
    raise ImportError("sabre: public headers not found (tried %s)" % ", ".join(c for c in cands if c))


LIBRARY_PATH = _find_library()
if os.sep in LIBRARY_PATH:
    LIBRARY_PATH = os.path.abspath(LIBRARY_PATH)
INCLUDE_DIR = _find_include()
CDEF, HEADERS = _cdefgen.generate(INCLUDE_DIR)

ffi = cffi.FFI()
ffi.cdef(CDEF)
try:
    lib: Any = ffi.dlopen(LIBRARY_PATH)
except OSError as e:  # pragma: no cover - depends on the system
    raise ImportError("sabre: cannot load %s: %s" % (LIBRARY_PATH, e)) from e

U64_MAX = (1 << 64) - 1


_ABI_DOC: Optional[Dict[str, Any]] = None


def abi() -> Dict[str, Any]:
    """The library's own ABI description (``sabre_abi_json``), parsed (once;
    treat it as read-only)."""
    global _ABI_DOC
    if _ABI_DOC is not None:
        return _ABI_DOC
    try:
        fn = lib.sabre_abi_json
    except AttributeError:
        raise ImportError(
            "sabre: %s has no sabre_abi_json(): the library predates the headers in %s"
            % (LIBRARY_PATH, INCLUDE_DIR)
        ) from None
    n = ffi.new("size_t *")
    fn(ffi.NULL, 0, n)
    buf = ffi.new("char[]", n[0] + 1)
    rc = fn(buf, n[0] + 1, n)
    if rc != 0:
        raise ImportError("sabre: sabre_abi_json failed with status %d" % rc)
    _ABI_DOC = json.loads(ffi.unpack(buf, n[0]).decode("utf-8"))
    return _ABI_DOC


#: Public structs the binding passes to or receives from the library: each
#: must be described by the library's ABI export, so none goes unchecked.
USED_STRUCTS = (
    "sabre_field_t", "sabre_column_t", "sabre_schema_error_t", "sabre_region_desc_t",
    "sabre_region_info_t", "sabre_object_desc_t", "sabre_object_t", "sabre_caps_t",
    "sabre_ring_desc_t", "sabre_chunk_t", "sabre_chunk_header_t", "sabre_ring_field_t",
    "sabre_ring_claim_t", "sabre_ring_batch_t", "sabre_ring_stats_t", "sabre_ring_producer_info_t",
    "sabre_weights_desc_t", "sabre_weights_meta_t", "sabre_weights_adopt_opts_t",
    "sabre_weights_view_t", "sabre_weights_info_t", "sabre_weights_reader_info_t",
    "sabre_ring_episode_t", "sabre_layout_t", "sabre_world_desc_t", "sabre_component_desc_t",
    "sabre_query_desc_t", "sabre_snap_comp_t", "sabre_snapshot_desc_t", "sabre_commit_stats_t",
    "sabre_table_info_t", "sabre_chunk_info_t", "sabre_pool_desc_t", "sabre_pool_stats_t",
    "sabre_sched_desc_t", "sabre_system_desc_t", "sabre_kernel_ctx_t", "sabre_system_stats_t",
)


def _fail(what: str) -> "NoReturn":
    raise ImportError(
        "sabre: %s: the headers (%s) and the library (%s) do not match; rebuild or point "
        "SABRE_LIB / SABRE_INCLUDE at one build" % (what, INCLUDE_DIR, LIBRARY_PATH)
    )


def check_abi(doc: Optional[Dict[str, Any]] = None) -> List[str]:
    """Compare what cffi computed from the headers with the library's export:
    every public struct's size, every field's offset and size and the field
    set; every status code, enum value and constant both know.  Returns the
    structs checked; raises ImportError naming the first difference."""
    doc = abi() if doc is None else doc
    structs = doc.get("public_structs", {})
    missing = [s for s in USED_STRUCTS if s not in structs]
    if missing:
        _fail("the library's ABI export does not describe %s" % ", ".join(missing))
    checked: List[str] = []
    for name, s in structs.items():
        try:
            t = ffi.typeof(name)
        except ffi.error:
            _fail("struct %s is exported by the library but not declared in the headers" % name)
        if ffi.sizeof(t) != s["size"]:
            _fail("struct %s is %d bytes in the headers, %d in the library" % (name, ffi.sizeof(t), s["size"]))
        mine = {fname: f for fname, f in t.fields}
        theirs = {f["name"]: f for f in s["fields"]}
        if set(mine) != set(theirs):
            only_h = sorted(set(mine) - set(theirs))
            only_l = sorted(set(theirs) - set(mine))
            _fail("struct %s: fields only in the headers %s, only in the library %s" % (name, only_h, only_l))
        for fname, f in theirs.items():
            off, size = mine[fname].offset, ffi.sizeof(mine[fname].type)
            if (off, size) != (f["offset"], f["size"]):
                _fail(
                    "%s.%s is at offset %d (%d bytes) in the headers, offset %d (%d bytes) in the library"
                    % (name, fname, off, size, f["offset"], f["size"])
                )
        checked.append(name)
    for cname, value in doc.get("status", {}).items():
        if getattr(lib, cname, value) != value:
            _fail("%s is %d in the headers, %d in the library" % (cname, getattr(lib, cname), value))
    for enum in doc.get("enums", {}).values():
        for cname, value in enum.items():
            if getattr(lib, cname, value) != value:
                _fail("%s is %d in the headers, %d in the library" % (cname, getattr(lib, cname), value))
    for cname, value in doc.get("constants", {}).items():
        if isinstance(value, int) and getattr(lib, cname, value) != value:
            _fail("%s is %d in the headers, %d in the library" % (cname, getattr(lib, cname), value))
    return checked


CHECKED_STRUCTS: List[str] = check_abi()
