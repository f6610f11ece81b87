"""Regions: one mapping with a self-describing header and named objects.

``Region.create(size, backing="private" | "memfd" | "shm" | "file", name=...)``
makes one, ``Region.open(name, backing="shm" | "file")`` or
``Region.open_fd(fd)`` opens an existing one (validated by the library).
``objects()`` lists what it holds (the fields ``sabre inspect --json`` prints
per object), ``find``/``alloc`` locate and allocate objects, and COLUMNS
objects (docs/abi.md "COLUMNS objects") are read and written as one numpy
array per flattened column.

Lifetime: ``close()`` (or leaving a ``with`` block) closes the handle for
new calls, but the mapping is unmapped only when the last numpy view of it
and the last object opened from it (weights, ring, snapshot) are gone.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import numpy as np

from . import schema as _schema
from ._base import _Core, address, cstr, pystr, struct_dict, view
from ._ffi import ffi, lib
from .errors import CorruptError, InvalidError, StateError, check

BACKINGS = {"private": 0, "memfd": 1, "shm": 2, "file": 3}
KINDS = {"raw": 1, "columns": 2, "weights": 3, "ring": 4, "mailbox": 5, "snapshot": 6, "table": 7}

#: "SABRCOLS": magic of a COLUMNS object header (docs/abi.md).
COLUMNS_MAGIC = 0x534C4F4352424153


def _backing(b: Union[str, int]) -> int:
    if isinstance(b, int):
        return b
    try:
        return BACKINGS[b]
    except KeyError:
        raise ValueError("backing must be one of %s, got %r" % (", ".join(BACKINGS), b)) from None


class Object:
    """A located region object (a copy of its directory entry)."""

    def __init__(self, region: "Region", o: Any) -> None:
        self.region = region
        self._core = region._core  # keeps the mapping alive for views
        self.index: int = o.index
        self.kind: int = o.kind
        self.kind_name: str = pystr(lib.sabre_object_kind_name(o.kind))
        self.name: str = ffi.string(o.name).decode("utf-8", "replace")
        self.offset: int = o.offset
        self.size: int = o.size
        self.address: int = address(o.ptr)
        self.layout_text: str = ffi.unpack(o.layout_text, o.layout_len).decode("utf-8", "replace") if o.layout_len else ""
        self.layout_hash: int = o.layout_hash
        self._readonly = region.readonly

    def bytes(self) -> np.ndarray:
        """The object's bytes as a u8 numpy view (read-only on a read-only region)."""
        return view(self._core, self.address, np.uint8, (self.size,), readonly=self._readonly)

    def as_dict(self) -> Dict[str, Any]:
        """The object as ``sabre inspect --json`` describes it (without state)."""
        return {
            "index": None,
            "slot": self.index,
            "name": self.name,
            "kind": self.kind_name,
            "kind_code": self.kind,
            "offset": self.offset,
            "size": self.size,
            "layout_hash": "0x%016x" % self.layout_hash,
            "layout_len": len(self.layout_text.encode()),
            "layout_text": self.layout_text,
        }

    def __repr__(self) -> str:
        return "<sabre.Object %r kind=%s offset=%d size=%d>" % (self.name, self.kind_name, self.offset, self.size)


class Region:
    """A shared region (``sabre_region_t``); use the class methods to get one."""

    def __init__(self, ptr: Any) -> None:
        self._core = _Core(ptr, lib.sabre_region_close, None, "region")

    # ---- lifecycle -----------------------------------------------------

    @classmethod
    def create(
        cls,
        size: int,
        backing: Union[str, int] = "private",
        name: Optional[str] = None,
        max_objects: int = 0,
        replace: bool = False,
        prefault: bool = False,
        hugepages: bool = False,
    ) -> "Region":
        """Create a region of `size` bytes (``sabre_region_create``)."""
        desc = ffi.new("sabre_region_desc_t *")
        keep = cstr(name)
        desc.backing = _backing(backing)
        desc.name = keep
        desc.size = size
        desc.max_objects = max_objects
        desc.flags = (lib.SABRE_REGION_REPLACE if replace else 0) | (lib.SABRE_REGION_PREFAULT if prefault else 0) | (
            lib.SABRE_REGION_HUGEPAGES if hugepages else 0
        )
        out = ffi.new("sabre_region_t **")
        check(lib.sabre_region_create(desc, out))
        return cls(out[0])

    @classmethod
    def open(
        cls,
        name: str,
        backing: Union[str, int] = "shm",
        readonly: bool = False,
        wait: Optional[float] = None,
        prefault: bool = False,
    ) -> "Region":
        """Open a SHM name or FILE path (``sabre_region_open``); `wait` is how
        long (seconds) to wait for a creator still initialising (None: 1 s,
        0: not at all)."""
        desc = ffi.new("sabre_region_desc_t *")
        keep = cstr(name)
        desc.backing = _backing(backing)
        desc.name = keep
        flags = (lib.SABRE_REGION_READONLY if readonly else 0) | (lib.SABRE_REGION_PREFAULT if prefault else 0)
        if wait == 0:
            flags |= lib.SABRE_REGION_NOWAIT
        elif wait is not None:
            desc.wait_ms = max(1, int(wait * 1000))
        desc.flags = flags
        out = ffi.new("sabre_region_t **")
        check(lib.sabre_region_open(desc, out))
        return cls(out[0])

    @classmethod
    def open_fd(cls, fd: int, readonly: bool = False) -> "Region":
        """Open a region from a file descriptor (memfd, shm or file); the fd is
        duplicated, the caller keeps `fd`."""
        out = ffi.new("sabre_region_t **")
        check(lib.sabre_region_open_fd(fd, lib.SABRE_REGION_READONLY if readonly else 0, out))
        return cls(out[0])

    @staticmethod
    def unlink(name: str, backing: Union[str, int] = "shm") -> None:
        """Remove a SHM name or FILE path (mappings stay valid)."""
        check(lib.sabre_region_unlink(_backing(backing), name.encode()))

    def close(self) -> None:
        """Close this handle for further calls.  The mapping goes away when
        the last view and object opened from it are gone too."""
        self._closed = True
        self._core = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", False)

    def _ptr(self) -> Any:
        if self._core is None:
            raise StateError("region: the handle is closed", lib.SABRE_ESTATE, "SABRE_ESTATE")
        return self._core.get()

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- facts ---------------------------------------------------------

    @property
    def address(self) -> int:
        """Base address of the mapping in this process."""
        return address(lib.sabre_region_base(self._ptr()))

    @property
    def size(self) -> int:
        return lib.sabre_region_size(self._ptr())

    @property
    def fd(self) -> int:
        """The region's file descriptor (-1 for PRIVATE); owned by the region."""
        return lib.sabre_region_fd(self._ptr())

    @property
    def backing(self) -> str:
        return pystr(lib.sabre_backing_name(lib.sabre_region_backing(self._ptr())))

    @property
    def name(self) -> str:
        return pystr(lib.sabre_region_name(self._ptr()))

    @property
    def readonly(self) -> bool:
        return bool(lib.sabre_region_readonly(self._ptr()))

    def contains(self, addr: int, nbytes: int = 1) -> bool:
        """Whether [addr, addr + nbytes) lies inside the mapping."""
        base = self.address
        return base <= addr and addr + nbytes <= base + self.size

    def info(self) -> Dict[str, Any]:
        """Header facts (``sabre_region_info``) as a dict."""
        out = ffi.new("sabre_region_info_t *")
        check(lib.sabre_region_info(self._ptr(), out))
        d = struct_dict(out)
        d["backing"] = pystr(lib.sabre_backing_name(out.backing))
        return d

    # ---- objects -------------------------------------------------------

    def objects(self) -> List[Dict[str, Any]]:
        """Every published object, in directory order, as ``sabre inspect
        --json`` lists them (index, slot, name, kind, kind_code, offset, size,
        layout_hash, layout_len, layout_text)."""
        out = []
        o = ffi.new("sabre_object_t *")
        r = self._ptr()
        for i in range(lib.sabre_region_count(r)):
            rc = lib.sabre_region_object_at(r, i, o)
            if rc == lib.SABRE_ENOENT:
                break
            check(rc)
            d = Object(self, o).as_dict()
            d["index"] = i
            out.append(d)
        return out

    def find(self, name: str, layout: "Optional[_schema.Layout]" = None) -> Object:
        """The object `name` (NotFoundError; LayoutError if `layout` differs)."""
        o = ffi.new("sabre_object_t *")
        check(lib.sabre_region_find(self._ptr(), name.encode(), layout.cdata if layout else ffi.NULL, o))
        return Object(self, o)

    def alloc(
        self,
        name: str,
        size: int,
        kind: Union[str, int] = "raw",
        layout: "Optional[_schema.Layout]" = None,
        align: int = 0,
    ) -> Object:
        """Allocate a zero-filled object (``sabre_region_alloc``)."""
        desc = ffi.new("sabre_object_desc_t *")
        keep = cstr(name)
        desc.name = keep
        desc.kind = KINDS[kind] if isinstance(kind, str) else kind
        desc.size = size
        desc.align = align
        desc.layout = layout.cdata if layout else ffi.NULL
        o = ffi.new("sabre_object_t *")
        check(lib.sabre_region_alloc(self._ptr(), desc, o))
        return Object(self, o)

    # ---- COLUMNS objects ---------------------------------------------

    def create_columns(self, name: str, layout: "Union[_schema.Layout, _schema.Schema, str]", rows: int) -> Dict[str, np.ndarray]:
        """Allocate a COLUMNS object of `rows` values of `layout` (a Layout,
        a Schema's root or schema text), laid out as ``sabre create
        --object`` does, and return its columns (see :meth:`columns`)."""
        lay = _schema.as_layout(layout)
        assert lay is not None
        n = len(lay.columns)
        if n == 0:
            raise InvalidError("object '%s': layout %s has no columns" % (name, lay.name), lib.SABRE_EINVAL, "SABRE_EINVAL")
        hsize = (64 + 8 * n + 63) & ~63
        offs, size = [], hsize
        for c in lay.columns:
            offs.append(size)
            size = (size + rows * c.size + 63) & ~63
        obj = self.alloc(name, size, "columns", lay)
        hdr = obj.bytes()
        hdr[0:8].view("<u8")[0] = COLUMNS_MAGIC
        hdr[8:16].view("<u8")[0] = rows
        hdr[16:20].view("<u4")[0] = n
        hdr[20:24].view("<u4")[0] = hsize
        hdr[64 : 64 + 8 * n].view("<u8")[:] = offs
        return self._columns(obj, lay)

    def columns(self, name: str, layout: "Optional[Union[_schema.Layout, _schema.Schema, str]]" = None) -> Dict[str, np.ndarray]:
        """The columns of COLUMNS object `name`: flattened column name -> a
        1-D numpy view of `rows` values (dtype from the stored layout text;
        `layout`, if given, must have the same hash).  Validated as
        ``sabre inspect`` does (CorruptError naming the bad word)."""
        lay = _schema.as_layout(layout)
        obj = self.find(name, lay)
        if obj.kind != KINDS["columns"]:
            raise InvalidError("object '%s': kind is %s, want columns" % (name, obj.kind_name), lib.SABRE_EINVAL, "SABRE_EINVAL")
        if lay is None:
            lay = _schema.Schema(obj.layout_text).root
        return self._columns(obj, lay)

    def _columns(self, obj: Object, lay: "_schema.Layout") -> Dict[str, np.ndarray]:
        def bad(what: str) -> CorruptError:
            return CorruptError("object '%s': %s" % (obj.name, what), lib.SABRE_ECORRUPT, "SABRE_ECORRUPT")

        b = obj.bytes()
        if obj.size < 64:
            raise bad("size is %d, want >= 64" % obj.size)
        magic = int(b[0:8].view("<u8")[0])
        rows = int(b[8:16].view("<u8")[0])
        n = int(b[16:20].view("<u4")[0])
        hsize = int(b[20:24].view("<u4")[0])
        if magic != COLUMNS_MAGIC:
            raise bad("magic is 0x%016x, want 0x%016x" % (magic, COLUMNS_MAGIC))
        if n != len(lay.columns):
            raise bad("ncolumns is %d, want %d (layout %s)" % (n, len(lay.columns), lay.name))
        if hsize < 64 + 8 * n or hsize > obj.size:
            raise bad("header_size is %d, want >= %d and <= %d" % (hsize, 64 + 8 * n, obj.size))
        offs = b[64 : 64 + 8 * n].view("<u8")
        out: Dict[str, np.ndarray] = {}
        for i, c in enumerate(lay.columns):
            off = int(offs[i])
            if off % 64:
                raise bad("column %d (%s) offset is %d, want a multiple of 64" % (i, c.name, off))
            if off < hsize or off > obj.size or rows * c.size > obj.size - off:
                raise bad("column %d (%s) at offset %d with %d rows does not fit in %d bytes" % (i, c.name, off, rows, obj.size))
            out[c.name] = view(obj._core, obj.address + off, c.dtype, (rows,), readonly=obj._readonly)
        return out

    def __repr__(self) -> str:
        if self._core is None or not self._core.alive:
            return "<sabre.Region closed>"
        return "<sabre.Region %s %r size=%d>" % (self.backing, self.name, self.size)


def probe(directory: Optional[str] = None) -> Dict[str, Any]:
    """What works here (``sabre_probe``) as a dict."""
    out = ffi.new("sabre_caps_t *")
    check(lib.sabre_probe(directory.encode() if directory else ffi.NULL, out))
    return struct_dict(out)


def send_fd(sock: int, fd: int, message: bytes = b"") -> None:
    """Pass `fd` (and up to 4 KiB) over a connected AF_UNIX socket."""
    check(lib.sabre_fd_send(sock, fd, message, len(message)))


def recv_fd(sock: int, cap: int = 4096) -> "tuple[int, bytes]":
    """Receive a descriptor and its message from `sock` (owned by the caller)."""
    fd = ffi.new("int *")
    buf = ffi.new("char[]", max(1, cap))
    n = ffi.new("size_t *")
    check(lib.sabre_fd_recv(sock, fd, buf, cap, n))
    return fd[0], ffi.unpack(buf, n[0])


del os
