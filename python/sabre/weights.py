"""Weights: latest-value publication trainer -> readers, never torn.

Publisher::

    w = sabre.Weights.create(region, "policy", size=params.nbytes, f32=True)
    w.publish(params)                    # any C-contiguous buffer; copied once
    with w.begin() as buf:               # or write in place into the free slot
        buf[:] = new_params              # committed on normal exit,
                                         # aborted if the block raises

Reader (any process that maps the region)::

    r = sabre.Weights.open(region, "policy").reader()
    with r.adopt() as pin:               # pins the latest version
        act(pin.array)                   # read-only numpy view, no copy

A pin stays valid (the slot is never overwritten) until the ``with`` block
ends, ``pin.release()``, the reader's next ``adopt()`` or ``reader.close()``.
After that the array is still a view of the same mapped memory (reading it
never crashes: the region stays mapped while the array lives), but the slot
belongs to the publisher again and a later publish may overwrite it at any
moment: copy what you need before releasing.

Buffer dtype: ``dtype=`` given, else the object's layout (a structured
dtype, one element per ``layout.size`` bytes), else float32 for objects
created with ``f32=True``, else uint8.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from . import schema as _schema
from ._base import _Core, address, cstr, pystr, struct_dict, timeout_ns, view
from ._ffi import ffi, lib
from .errors import check
from .region import Region


class Weights:
    """A weights object (``sabre_weights_t``)."""

    def __init__(self, region: Region, ptr: Any, name: str, dtype: Any = None) -> None:
        self._core = _Core(ptr, lib.sabre_weights_close, region._core, "weights '%s'" % name)
        self.region = region
        self._rcore = region._core  # the mapping, for the views
        self.name = name
        obj = region.find(name)
        self.layout: Optional[_schema.Layout] = _schema.Schema(obj.layout_text).root if obj.layout_text else None
        self._flags = self._info().flags
        self.dtype: np.dtype = self._dtype(dtype)
        self._slot: Optional[_Slot] = None

    @classmethod
    def create(
        cls,
        region: Region,
        name: str,
        size: int,
        slots: int = 0,
        readers: int = 0,
        shape_hash: int = 0,
        f32: bool = False,
        layout: "Optional[_schema.Layout | _schema.Schema | str]" = None,
        dtype: Any = None,
    ) -> "Weights":
        """Create the object (``sabre_weights_create``): `slots` buffers of
        `size` bytes (0 = 2), `readers` reader records (0 = 8)."""
        lay = _schema.as_layout(layout)
        desc = ffi.new("sabre_weights_desc_t *")
        keep = cstr(name)
        desc.name = keep
        desc.size = size
        desc.slots = slots
        desc.readers = readers
        desc.shape_hash = shape_hash
        desc.flags = lib.SABRE_WEIGHTS_F32 if f32 else 0
        desc.layout = lay.cdata if lay else ffi.NULL
        out = ffi.new("sabre_weights_t **")
        check(lib.sabre_weights_create(region._ptr(), desc, out))
        return cls(region, out[0], name, dtype)

    @classmethod
    def open(cls, region: Region, name: str, layout: "Optional[_schema.Layout]" = None, dtype: Any = None) -> "Weights":
        """Open an existing weights object (``sabre_weights_open``)."""
        out = ffi.new("sabre_weights_t **")
        check(lib.sabre_weights_open(region._ptr(), name.encode(), layout.cdata if layout else ffi.NULL, out))
        return cls(region, out[0], name, dtype)

    def _dtype(self, dtype: Any) -> np.dtype:
        if dtype is not None:
            return np.dtype(dtype)
        if self.layout is not None:
            return self.layout.dtype
        if self._flags & lib.SABRE_WEIGHTS_F32:
            return np.dtype("<f4")
        return np.dtype("u1")

    def _array(self, addr: int, readonly: bool) -> np.ndarray:
        n = self.size // self.dtype.itemsize
        return view(self._rcore, addr, self.dtype, (n,), readonly=readonly)

    def close(self) -> None:
        """Release the publisher lease (if held); the handle is freed once
        its readers are closed too."""
        if self._slot is not None:
            self._slot.abort()
        self._core = None  # type: ignore[assignment]

    def __enter__(self) -> "Weights":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _ptr(self) -> Any:
        if self._core is None:
            from .errors import StateError

            raise StateError("weights '%s': the handle is closed" % self.name, lib.SABRE_ESTATE, "SABRE_ESTATE")
        return self._core.get()

    # ---- facts ---------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes per buffer."""
        return lib.sabre_weights_size(self._ptr())

    @property
    def slots(self) -> int:
        return lib.sabre_weights_slots(self._ptr())

    @property
    def version(self) -> int:
        """Latest published version (0 if none)."""
        return lib.sabre_weights_version(self._ptr())

    def _info(self) -> Any:
        out = ffi.new("sabre_weights_info_t *")
        check(lib.sabre_weights_info(self._ptr(), out))
        return out

    def info(self) -> Dict[str, Any]:
        """``sabre_weights_info`` as a dict."""
        return struct_dict(self._info())

    def readers_info(self) -> List[Dict[str, Any]]:
        """Every reader record (``sabre_weights_reader_at``) as dicts."""
        n = self._info().nreaders
        out = []
        r = ffi.new("sabre_weights_reader_info_t *")
        for i in range(n):
            check(lib.sabre_weights_reader_at(self._ptr(), i, r))
            out.append(struct_dict(r))
        return out

    # ---- publishing ----------------------------------------------------

    @staticmethod
    def _meta(shape_hash: int, step: Optional[int]) -> Any:
        meta = ffi.new("sabre_weights_meta_t *")
        meta.shape_hash = shape_hash
        if step is not None:
            meta.set_step = True
            meta.step_counter = step
        return meta

    def publish(self, data: Any, shape_hash: int = 0, step: Optional[int] = None, timeout: Optional[float] = None) -> int:
        """Copy `data` (a numpy array or any object with the buffer protocol,
        at most ``size`` bytes; the rest of the slot is zeroed) into a free
        slot and publish it; returns the new version.  `timeout` seconds to
        wait for a free slot (None: forever, 0: BusyError at once)."""
        if isinstance(data, np.ndarray) and not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        buf = ffi.from_buffer("char[]", data)
        ver = ffi.new("uint64_t *")
        check(lib.sabre_weights_publish(self._ptr(), buf, len(buf), self._meta(shape_hash, step), timeout_ns(timeout), ver))
        return ver[0]

    def begin(self, shape_hash: int = 0, step: Optional[int] = None, timeout: Optional[float] = None) -> "_Slot":
        """Claim a free slot to write in place; a context manager giving a
        writable numpy view of the slot (contents unspecified): committed
        when the block ends normally, aborted if it raises."""
        p = ffi.new("void **")
        check(lib.sabre_weights_begin(self._ptr(), timeout_ns(timeout), p))
        self._slot = _Slot(self, self._array(address(p[0]), readonly=False), shape_hash, step)
        return self._slot

    # ---- reading -------------------------------------------------------

    def reader(self) -> "Reader":
        """Register a reader (``sabre_weights_reader_open``)."""
        out = ffi.new("sabre_weights_reader_t **")
        check(lib.sabre_weights_reader_open(self._ptr(), out))
        return Reader(self, out[0])

    def __repr__(self) -> str:
        return "<sabre.Weights %r>" % self.name


class _Slot:
    """An outstanding in-place publish (``sabre_weights_begin``)."""

    def __init__(self, w: Weights, array: np.ndarray, shape_hash: int, step: Optional[int]) -> None:
        self.weights = w
        self.array = array
        self.shape_hash = shape_hash
        self.step = step
        self.version: Optional[int] = None
        self.done = False

    def commit(self) -> int:
        """Publish the slot; returns the new version."""
        ver = ffi.new("uint64_t *")
        check(lib.sabre_weights_commit(self.weights._ptr(), Weights._meta(self.shape_hash, self.step), ver))
        self.done = True
        self.weights._slot = None
        self.version = ver[0]
        return ver[0]

    def abort(self) -> None:
        """Forget the slot (nothing is published)."""
        if not self.done:
            lib.sabre_weights_abort(self.weights._ptr())
            self.done = True
            self.weights._slot = None

    def __enter__(self) -> np.ndarray:
        return self.array

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Reader:
    """A weights reader (``sabre_weights_reader_t``): pins what it adopts."""

    def __init__(self, w: Weights, ptr: Any) -> None:
        self.weights = w
        self._core = _Core(ptr, lib.sabre_weights_reader_close, w._core, "weights reader")
        self._pin: Optional[Pin] = None

    def _ptr(self) -> Any:
        return self._core.get()

    def adopt(self, expect_shape: int = 0, check_finite: bool = False) -> "Pin":
        """Pin the latest version (``sabre_weights_adopt``) and return it as
        a :class:`Pin` (a context manager that unpins on exit).

        AgainError if nothing was published yet; LayoutError (shape hash
        differs from `expect_shape`) or RangeError (NaN/Inf with
        `check_finite`) when the latest version is refused: the reader then
        keeps the version it had."""
        opts = ffi.new("sabre_weights_adopt_opts_t *")
        opts.expect_shape = expect_shape
        opts.check_finite = check_finite
        v = ffi.new("sabre_weights_view_t *")
        rc = lib.sabre_weights_adopt(self._ptr(), opts, v)
        check(rc)
        pin = self._pin
        if pin is not None and not pin._released and pin.version == v.version and pin.slot == v.slot:
            pin.changed = bool(v.changed)
            return pin
        if pin is not None:
            pin._released = True  # the reader's pin moved to a newer version
        self._pin = Pin(self, self.weights._array(address(v.data), readonly=True), v)
        return self._pin

    def unpin(self) -> None:
        """Drop the pin (``sabre_weights_unpin``)."""
        lib.sabre_weights_unpin(self._ptr())
        if self._pin is not None:
            self._pin._released = True
            self._pin = None

    def wait(self, after: int, timeout: Optional[float] = None) -> bool:
        """Block until a version newer than `after` is published: True, or
        False when `timeout` seconds passed (0: just check)."""
        rc = lib.sabre_weights_wait(self._ptr(), after, timeout_ns(timeout))
        if rc in (lib.SABRE_ETIMEDOUT, lib.SABRE_EAGAIN):
            return False
        check(rc)
        return True

    def close(self) -> None:
        """Unpin, give the reader record back (at once)."""
        if self._pin is not None:
            self._pin._released = True
            self._pin = None
        self._core.free()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Pin:
    """A pinned version: ``array`` (read-only numpy view of the slot),
    ``version``, ``step_counter``, ``shape_hash``, ``slot``, ``changed``."""

    def __init__(self, reader: Reader, array: np.ndarray, v: Any) -> None:
        self.reader = reader
        self.array = array
        self.version: int = v.version
        self.step_counter: int = v.step_counter
        self.shape_hash: int = v.shape_hash
        self.slot: int = v.slot
        self.changed: bool = bool(v.changed)
        self._released = False

    @property
    def released(self) -> bool:
        """True once the pin moved on or was dropped: ``array`` may then be
        overwritten by a later publish."""
        return self._released

    def release(self) -> None:
        """Drop the pin unless the reader already moved it to a newer version."""
        if not self._released and self.reader._pin is self:
            self.reader.unpin()
        self._released = True

    def __enter__(self) -> "Pin":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return "<sabre.Pin version=%d slot=%d%s>" % (self.version, self.slot, " released" if self._released else "")
