"""Handles and zero-copy numpy views shared by every module.

A C handle lives in a :class:`_Core`: the pointer, the C function that frees
it, and a strong reference to the core it borrows from (a ring borrows its
region, a producer its ring).  Python objects (``Region``, ``Ring``, ...)
hold a core; so does every numpy view, through its ``.base``.  ``close()``
on a Python object drops that object's reference; the C handle is freed
when the last reference goes, so a mapping is never unmapped under a live
numpy view.  Producers, consumers and weights readers are the exception:
their ``close()`` acts at once (it gives a record back to the other side),
but the views they handed out keep the *region* mapped.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from ._ffi import U64_MAX, ffi, lib
from .errors import StateError


class _Core:
    """One C handle: freed once, after everything that borrows it.

    A core counts the cores that borrow from it (``children``).  Freeing a
    core that still has children only marks it: the last child's free
    frees it.  So the order in which the garbage collector finalises a
    cycle of handles never frees a region before the ring inside it."""

    __slots__ = ("ptr", "_free", "parent", "what", "children", "pending", "__weakref__")

    def __init__(self, ptr: Any, free: Optional[Callable[[Any], None]], parent: "Optional[_Core]", what: str) -> None:
        self.ptr = ptr
        self._free = free
        self.parent = parent
        self.what = what
        self.children = 0
        self.pending = False
        if parent is not None:
            parent.children += 1

    def free(self) -> None:
        """Free the handle now, or as soon as its last child is freed."""
        if self.ptr is None:
            return
        if self.children > 0:
            self.pending = True
            return
        ptr, fn = self.ptr, self._free
        self.ptr, self._free = None, None
        if fn is not None:
            fn(ptr)
        parent, self.parent = self.parent, None
        if parent is not None:
            parent.children -= 1
            if parent.pending and parent.children == 0:
                parent.free()

    @property
    def alive(self) -> bool:
        return self.ptr is not None and not self.pending

    def get(self) -> Any:
        if self.ptr is None or self.pending:
            raise StateError("%s: the handle is closed" % self.what, lib.SABRE_ESTATE, "SABRE_ESTATE")
        return self.ptr

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:
            pass


class _Holder:
    """The ``.base`` of every array sabre hands out: it holds the core that
    owns the mapping (``.owner``) and describes the memory to numpy."""

    __slots__ = ("__array_interface__", "owner", "__weakref__")

    def __init__(self, owner: Any, iface: dict) -> None:
        self.owner = owner
        self.__array_interface__ = iface


def view(
    owner: Any,
    address: int,
    dtype: np.dtype,
    shape: Sequence[int],
    strides: Optional[Sequence[int]] = None,
    readonly: bool = False,
) -> np.ndarray:
    """A numpy array over `address` (no copy) whose .base keeps `owner` alive."""
    dtype = np.dtype(dtype)
    iface = {
        "version": 3,
        "data": (int(address), bool(readonly)),
        "shape": tuple(int(s) for s in shape),
        "strides": None if strides is None else tuple(int(s) for s in strides),
        "descr": dtype.descr,
        "typestr": dtype.str,
    }
    if dtype.fields is None and dtype.subdtype is None:
        del iface["descr"]
    arr = np.asarray(_Holder(owner, iface))
    if arr.dtype != dtype:  # structured dtypes with offsets: descr may lose itemsize
        arr = arr.view(dtype)
    return arr


def address(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def timeout_ns(timeout: Optional[float]) -> int:
    """None -> wait forever, seconds (float) -> nanoseconds, 0 -> do not wait."""
    if timeout is None:
        return U64_MAX
    if timeout < 0:
        raise ValueError("timeout must be >= 0 seconds or None, got %r" % (timeout,))
    ns = int(timeout * 1e9)
    return min(ns, U64_MAX - 1)


def cstr(s: Optional[str]) -> Any:
    if s is None:
        return ffi.NULL
    return ffi.new("char[]", s.encode("utf-8"))


def pystr(p: Any) -> str:
    if p == ffi.NULL:
        return ""
    return ffi.string(p).decode("utf-8", "replace")


def struct_dict(cdata: Any) -> dict:
    """A C struct's fields as a dict (nested structs and arrays converted)."""
    out = {}
    t = ffi.typeof(cdata)
    if t.kind == "pointer":
        t = t.item
    for name, f in t.fields:
        v = getattr(cdata, name)
        ft = f.type
        if ft.kind == "array" and ft.item.cname == "char":
            out[name] = ffi.string(v).decode("utf-8", "replace")
        elif ft.kind == "array":
            out[name] = [v[i] for i in range(ft.length)]
        elif ft.kind == "struct":
            out[name] = struct_dict(v)
        elif ft.kind == "pointer":
            continue
        else:
            out[name] = v
    return out
