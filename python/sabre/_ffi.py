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
from typing import Any, Dict, List, Optional

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
INCLUDE_DIR = _find_include()
CDEF, HEADERS = _cdefgen.generate(INCLUDE_DIR)

ffi = cffi.FFI()
ffi.cdef(CDEF)
try:
    lib: Any = ffi.dlopen(LIBRARY_PATH)
except OSError as e:  # pragma: no cover - depends on the system
    raise ImportError("sabre: cannot load %s: %s" % (LIBRARY_PATH, e)) from e

U64_MAX = (1 << 64) - 1


def _abi() -> Dict[str, Any]:
    try:
        fn = lib.sabre_abi_json
    except AttributeError:
        raise ImportError(
            "sabre: %s has no sabre_abi_json(): the library predates the headers in %s"
            % (LIBRARY_PATH, INCLUDE_DIR)
        ) from None
    return json.loads(ffi.string(fn()).decode("utf-8"))


def _struct_table(abi: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """name -> {"size": n, "fields": {field: offset}} from the ABI export."""
    out: Dict[str, Dict[str, Any]] = {}
    structs = abi.get("structs", {})
    items = structs.items() if isinstance(structs, dict) else ((s["name"], s) for s in structs)
    for name, s in items:
        fields = s.get("fields", {})
        if isinstance(fields, list):
            fields = {f["name"]: f["offset"] for f in fields}
        else:
            fields = {k: (v["offset"] if isinstance(v, dict) else v) for k, v in fields.items()}
        out[name] = {"size": s["size"], "fields": fields}
    return out


def _ctype_name(struct: str) -> Optional[str]:
    for cand in (struct, struct + "_t", "struct " + struct):
        try:
            ffi.typeof(cand)
            return cand
        except ffi.error:
            continue
    return None


def check_abi() -> List[str]:
    """Compare every public struct cffi knows from the headers with the
    library's export; returns the names checked, raises ImportError on the
    first difference (struct size, a field's offset, a missing field, a
    status code or magic number)."""
    abi = _abi()
    checked: List[str] = []
    for name, s in _struct_table(abi).items():
        ct = _ctype_name(name)
        if ct is None:
            continue  # a shared (internal) struct: not declared to cffi
        t = ffi.typeof(ct)
        if ffi.sizeof(t) != s["size"]:
            raise ImportError(
                "sabre: struct %s is %d bytes in the headers (%s), %d in the library (%s): "
                "headers and library do not match" % (name, ffi.sizeof(t), INCLUDE_DIR, s["size"], LIBRARY_PATH)
            )
        names = {f[0] for f in t.fields}
        for field, off in s["fields"].items():
            top = field.split(".")[0].split("[")[0]
            if top not in names:
                raise ImportError(
                    "sabre: struct %s has no field %s in the headers (%s) but the library (%s) has it"
                    % (name, field, INCLUDE_DIR, LIBRARY_PATH)
                )
            if "." in field or "[" in field:
                continue
            mine = ffi.offsetof(t, field)
            if mine != off:
                raise ImportError(
                    "sabre: %s.%s is at offset %d in the headers (%s), %d in the library (%s)"
                    % (name, field, mine, INCLUDE_DIR, off, LIBRARY_PATH)
                )
        checked.append(name)
    for key in ("status", "statuses", "status_codes"):
        codes = abi.get(key)
        if isinstance(codes, dict):
            for cname, value in codes.items():
                mine = getattr(lib, cname, None)
                if mine is not None and mine != value:
                    raise ImportError("sabre: %s is %d in the headers, %d in the library" % (cname, mine, value))
    return checked


CHECKED_STRUCTS: List[str] = []
try:
    lib.sabre_abi_json
except AttributeError:
    pass  # headers without sabre/abi.h: nothing to check against yet
else:
    CHECKED_STRUCTS = check_abi()
