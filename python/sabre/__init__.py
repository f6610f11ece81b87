"""sabre for Python: zero-copy numpy views of sabre regions, weights and rings.

Every array this package hands out is a numpy view of shared memory (never a
copy); its ``.base`` holds the region's mapping, so the memory stays mapped
while any array lives.  Errors are exceptions carrying sabre's status code
and message: :class:`SabreError` and one subclass per status
(:class:`CorruptError`, :class:`TimedOutError`, ...).

The C library is loaded through cffi (ABI mode) from ``$SABRE_LIB``, next to
this package, the source tree's ``build/release`` or the system; its cdef is
generated from the public headers and checked against the library's own ABI
export at import (see ``sabre._ffi``).
"""
from ._ffi import LIBRARY_PATH, ffi, lib
from .errors import *  # noqa: F401,F403
from .errors import SabreError, error_class
from .ecs import Component, KernelContext, Pool, Scheduler, Snapshot, World
from .region import Object, Region, probe, recv_fd, send_fd
from .ring import CHUNK_DTYPE, EPISODE_DTYPE, Batch, Claim, Consumer, FieldInfo, Producer, Ring, lag_buckets
from .schema import SCALAR_DTYPES, Column, Field, Layout, Schema, layout_hash
from .weights import Pin, Reader, Weights

__version__ = "%d.%d.%d" % (lib.SABRE_VERSION_MAJOR, lib.SABRE_VERSION_MINOR, lib.SABRE_VERSION_PATCH)


def last_error() -> str:
    """The calling thread's last sabre error detail ("" if none)."""
    return ffi.string(lib.sabre_last_error()).decode("utf-8", "replace")
