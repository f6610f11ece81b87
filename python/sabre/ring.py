"""Rollout rings: chunks of T steps x E envs, N producers -> one consumer.

Producer (an actor)::

    ring = sabre.Ring.open(region, "rollouts")
    prod = ring.producer()
    prod.version = weights_version           # stamped into the chunks it claims
    with prod.claim(1) as c:                 # committed on normal exit,
        c.fields["obs"][0, t] = obs          # aborted if the block raises
        c.fields["reward"][0, t] = r

Consumer (the trainer)::

    cons = ring.consumer()
    with cons.batch(max_chunks=16, timeout=1.0) as b:
        obs = b.fields["obs"]                # (chunks, T, E, 4) float32, in place
        ver = b.headers["sequence"]          # structured array of chunk headers
    # released here: the slots go back to the producers

Every array is a numpy view of the ring's memory (no copy): field f of a
claim or batch has shape ``(chunks, T, E) + element shape`` and strides
``(chunk stride, E * elem, elem, ...)``; ``headers`` is a structured array
of the ``sabre_chunk_t`` headers (sequence, valid_steps, producer,
claim_rest).  Batch arrays are read-only.

After a claim is committed/aborted or a batch released, its arrays still
point at mapped memory (reading never crashes: the region stays mapped while
an array lives), but the slots belong to the other side again: producers may
overwrite them at any moment.  Copy what you keep (``np.array(b.fields[k])``)
before the block ends.

Timeouts are seconds (None: wait forever, 0: do not wait).  An empty ring
raises :class:`sabre.AgainError` (timeout 0) or :class:`sabre.TimedOutError`;
a full one :class:`sabre.FullError` (drop-newest) or TimedOutError (block).
When the consumer closed the ring, ``claim`` raises :class:`sabre.ClosedError`;
when it died, :class:`sabre.PeerError` once the ring is full.

Episodes: ``producer.report_episode(ret, length)`` in the actor,
``consumer.episodes()`` in the trainer (a structured array).
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import schema as _schema
from ._base import _Core, address, cstr, pystr, struct_dict, timeout_ns, view
from ._ffi import ffi, lib
from .errors import StateError, check
from .region import Region

SHAPES = {"lanes": 0, "mpsc": 1}
POLICIES = {"drop_newest": 0, "block": 1, "overwrite_oldest": 2}

_CTYPE_DTYPES = {
    "uint8_t": "u1", "int8_t": "i1", "uint16_t": "<u2", "int16_t": "<i2",
    "uint32_t": "<u4", "int32_t": "<i4", "uint64_t": "<u8", "int64_t": "<i8",
    "_Bool": "?", "bool": "?", "float": "<f4", "double": "<f8",
}


def _struct_dtype(ctype: str) -> np.dtype:
    """A numpy structured dtype for a C struct, from cffi's offsets (which the
    import-time ABI check compared with the library)."""
    t = ffi.typeof(ctype)
    names, formats, offsets = [], [], []
    for name, f in t.fields:
        names.append(name)
        formats.append(_CTYPE_DTYPES[f.type.cname])
        offsets.append(f.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ffi.sizeof(t)})


#: One ``sabre_chunk_t`` header.
CHUNK_DTYPE = _struct_dtype("sabre_chunk_t")


class FieldInfo(NamedTuple):
    """One SoA array of a chunk (``sabre_ring_field_t``) and its numpy type."""

    index: int
    name: str
    elem_size: int  # bytes per [t][e] element
    offset: int  # from the chunk's payload
    size: int  # T * E * elem_size
    dtype: np.dtype  # of one scalar (or one struct) of the element
    shape: Tuple[int, ...]  # element shape: () or (count,)


class Ring:
    """A ring (``sabre_ring_t``)."""

    def __init__(self, region: Region, ptr: Any, name: str) -> None:
        self._core = _Core(ptr, lib.sabre_ring_close, region._core, "ring '%s'" % name)
        self._rcore = region._core
        self.region = region
        self.name = name
        st = self._stats()
        self.steps: int = st.steps
        self.envs: int = st.envs
        self.capacity: int = st.capacity
        self.nproducers: int = st.nproducers
        self.stride: int = lib.sabre_ring_chunk_stride(ptr)
        obj = region.find(name)
        self.layout: Optional[_schema.Layout] = _schema.Schema(obj.layout_text).root if obj.layout_text else None
        self.fields: List[FieldInfo] = [self._field(i) for i in range(lib.sabre_ring_field_count(ptr))]

    def _field(self, i: int) -> FieldInfo:
        f = ffi.new("sabre_ring_field_t *")
        check(lib.sabre_ring_field_at(self._core.get(), i, f))
        name = ffi.string(f.name).decode()
        dt, shape = _field_dtype(self.layout, name, f)
        return FieldInfo(i, name, f.elem_size, f.offset, f.size, dt, shape)

    @classmethod
    def create(
        cls,
        region: Region,
        name: str,
        layout: "Optional[_schema.Layout | _schema.Schema | str]" = None,
        steps: int = 1,
        envs: int = 1,
        capacity: int = 0,
        producers: int = 0,
        shape: str = "lanes",
        policy: str = "drop_newest",
        record_size: int = 0,
        reclaim: Optional[float] = None,
        spin: Optional[float] = None,
        episodes: int = 0,
    ) -> "Ring":
        """Create a ring (``sabre_ring_create``); `capacity` chunks per lane
        (0 = 64), `producers` records (0 = 4), `reclaim`/`spin` in seconds,
        `episodes` episode records per producer (a power of two, 0 = 64)."""
        lay = _schema.as_layout(layout)
        d = ffi.new("sabre_ring_desc_t *")
        keep = cstr(name)
        d.name = keep
        d.shape = SHAPES[shape]
        d.policy = POLICIES[policy]
        d.capacity = capacity
        d.producers = producers
        d.layout = lay.cdata if lay else ffi.NULL
        d.steps = steps
        d.envs = envs
        d.record_size = record_size
        d.reclaim_ns = 0 if reclaim is None else int(reclaim * 1e9)
        d.spin_ns = 0 if spin is None else int(spin * 1e9)
        d.episodes = episodes
        out = ffi.new("sabre_ring_t **")
        check(lib.sabre_ring_create(region._ptr(), d, out))
        return cls(region, out[0], name)

    @classmethod
    def open(
        cls,
        region: Region,
        name: str,
        layout: "Optional[_schema.Layout | _schema.Schema | str]" = None,
        steps: int = 0,
        envs: int = 0,
    ) -> "Ring":
        """Open a ring (``sabre_ring_open``); `layout`, `steps`, `envs` (0 =
        any) must match what is stored (LayoutError naming both)."""
        lay = _schema.as_layout(layout)
        out = ffi.new("sabre_ring_t **")
        check(lib.sabre_ring_open(region._ptr(), name.encode(), lay.cdata if lay else ffi.NULL, steps, envs, out))
        return cls(region, out[0], name)

    def close(self) -> None:
        """Drop this handle; the C handle is freed once its producers and
        consumer are closed too."""
        self._core = None  # type: ignore[assignment]

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _ptr(self) -> Any:
        if self._core is None:
            raise StateError("ring '%s': the handle is closed" % self.name, lib.SABRE_ESTATE, "SABRE_ESTATE")
        return self._core.get()

    def field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        f = ffi.new("sabre_ring_field_t *")
        check(lib.sabre_ring_field_find(self._ptr(), name.encode(), f))
        raise AssertionError("unreachable")

    # ---- views ---------------------------------------------------------

    def _arrays(self, data: Any, count: int, readonly: bool) -> Dict[str, np.ndarray]:
        base = address(data)
        out: Dict[str, np.ndarray] = {}
        T, E = self.steps, self.envs
        for f in self.fields:
            isz = f.dtype.itemsize
            shape = (count, T, E) + f.shape
            strides: Tuple[int, ...] = (self.stride, E * f.elem_size, f.elem_size) + ((isz,) if f.shape else ())
            out[f.name] = view(self._rcore, base + f.offset, f.dtype, shape, strides, readonly=readonly)
        return out

    def _headers(self, chunks: Any, count: int, readonly: bool) -> np.ndarray:
        return view(self._rcore, address(chunks), CHUNK_DTYPE, (count,), readonly=readonly)

    # ---- parties -------------------------------------------------------

    def producer(self) -> "Producer":
        """Register a producer (``sabre_ring_producer_open``)."""
        out = ffi.new("sabre_ring_producer_t **")
        check(lib.sabre_ring_producer_open(self._ptr(), out))
        return Producer(self, out[0])

    def consumer(self, max_policy_lag: Optional[int] = None) -> "Consumer":
        """Register the consumer (``sabre_ring_consumer_open``; BusyError if a
        live one exists).  `max_policy_lag`: see :attr:`Consumer.max_policy_lag`."""
        out = ffi.new("sabre_ring_consumer_t **")
        check(lib.sabre_ring_consumer_open(self._ptr(), out))
        c = Consumer(self, out[0])
        c.max_policy_lag = max_policy_lag
        return c

    # ---- observation ---------------------------------------------------

    def _stats(self) -> Any:
        out = ffi.new("sabre_ring_stats_t *")
        check(lib.sabre_ring_stats(self._core.get(), out))
        return out

    def stats(self) -> Dict[str, Any]:
        """``sabre_ring_stats`` as a dict: counters, policy lag (min, avg,
        max, p50/p90/p99, ``lag_hist``: consumed chunks per bucket, see
        :func:`lag_buckets`), ``lag_skipped``, ``consumer_closed``,
        ``producer_deaths``, ``episodes``, ...  ``max_lag`` is None when the
        consumer has no limit."""
        d = struct_dict(self._stats())
        if d["max_lag"] == (1 << 64) - 1:
            d["max_lag"] = None
        return d

    def producers_info(self) -> List[Dict[str, Any]]:
        """Every producer record (``sabre_ring_producer_at``) as dicts."""
        out = []
        p = ffi.new("sabre_ring_producer_info_t *")
        for i in range(self.nproducers):
            check(lib.sabre_ring_producer_at(self._ptr(), i, p))
            out.append(struct_dict(p))
        return out

    def chunk_header(self, chunk: Any) -> Dict[str, Any]:
        """Everything recorded about a chunk header pointer (``sabre_ring_chunk_header``)."""
        out = ffi.new("sabre_chunk_header_t *")
        check(lib.sabre_ring_chunk_header(self._ptr(), chunk, out))
        return struct_dict(out)

    def __repr__(self) -> str:
        return "<sabre.Ring %r T=%d E=%d capacity=%d fields=%s>" % (
            self.name, self.steps, self.envs, self.capacity, [f.name for f in self.fields])


def _field_dtype(layout: Optional[_schema.Layout], name: str, f: Any) -> Tuple[np.dtype, Tuple[int, ...]]:
    """A field's numpy type from the library's field info (scalar type and
    count); struct-typed fields from the stored layout text's struct; raw
    fields as bytes."""
    if f.scalar != lib.SABRE_SCALAR_NONE:
        dt = _schema.scalar_dtype(f.scalar)
        return dt, ((f.count,) if f.count > 1 else ())
    if layout is not None:
        for fd in layout.fields:
            if fd.name == name and fd.kind == "struct":
                sub = layout._sub[fd.name]
                if fd.is_array:
                    return sub.dtype, (fd.count,)
                return sub.dtype, ()
    return np.dtype("u1"), (f.elem_size,)


def lag_buckets() -> List[int]:
    """Lowest policy lag of each histogram bucket (``stats()["lag_hist"]``):
    0..7, then 8, 16, 32, 64, 128, 256 (the last bucket is open-ended)."""
    return [lib.sabre_ring_lag_bucket_min(i) for i in range(lib.SABRE_RING_LAG_BUCKETS)]


#: One reported episode (``sabre_ring_episode_t``).
EPISODE_DTYPE = np.dtype(
    {
        "names": ["ret", "length", "producer", "policy_version", "end_ns"],
        "formats": ["<f8", "<u4", "<u4", "<u8", "<u8"],
        "offsets": [ffi.offsetof("sabre_ring_episode_t", n) for n in ("ret", "length", "producer", "policy_version", "end_ns")],
        "itemsize": ffi.sizeof("sabre_ring_episode_t"),
    }
)


class Producer:
    """A producer (``sabre_ring_producer_t``); one thread at a time."""

    def __init__(self, ring: Ring, ptr: Any) -> None:
        self.ring = ring
        self._core = _Core(ptr, lib.sabre_ring_producer_close, ring._core, "ring producer")
        self.id: int = lib.sabre_ring_producer_id(ptr)
        self._version = 0

    @property
    def version(self) -> int:
        """Policy version stamped into the chunks claimed from now on."""
        return self._version

    @version.setter
    def version(self, v: int) -> None:
        lib.sabre_ring_producer_set_version(self._core.get(), v)
        self._version = v

    def claim(self, n: int = 1, timeout: Optional[float] = None) -> "Claim":
        """Claim `n` chunks (``sabre_ring_claim``), a context manager: the
        claim is committed when the block ends normally, aborted if it
        raises.  FullError / TimedOutError when the ring has no room."""
        c = ffi.new("sabre_ring_claim_t *")
        check(lib.sabre_ring_claim(self._core.get(), n, timeout_ns(timeout), c))
        return Claim(self, c)

    def report_episode(self, ret: float, length: int) -> None:
        """Report a finished episode's return and length to the trainer
        (``sabre_ring_episode_report``); never waits: FullError (counted in
        ``episodes_dropped``) when the trainer has not read this producer's
        last ``episodes_capacity`` reports."""
        check(lib.sabre_ring_episode_report(self._core.get(), float(ret), int(length)))

    def close(self) -> None:
        """Abort an outstanding claim and give the record back (at once)."""
        self._core.free()

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Claim:
    """Claimed chunks: ``fields`` (writable views), ``headers``, ``count``,
    ``first``, ``lane``; ``commit()`` or ``abort()`` (or a ``with`` block)."""

    def __init__(self, producer: Producer, c: Any) -> None:
        self.producer = producer
        self._c = c
        self.count: int = c.count
        self.first: int = c.first
        self.lane: int = c.lane
        ring = producer.ring
        self.fields: Dict[str, np.ndarray] = ring._arrays(c.data, c.count, readonly=False)
        self.headers: np.ndarray = ring._headers(c.chunks, c.count, readonly=False)
        self.done = False

    def commit(self) -> None:
        """Publish every chunk of the claim."""
        if self.done:
            raise StateError("claim: already committed or aborted", lib.SABRE_ESTATE, "SABRE_ESTATE")
        check(lib.sabre_ring_commit(self.producer._core.get(), self._c))
        self.done = True

    def abort(self) -> None:
        """Give the chunks up (counted as aborted)."""
        if not self.done:
            self.done = True
            check(lib.sabre_ring_abort(self.producer._core.get(), self._c))

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Consumer:
    """The ring's consumer (``sabre_ring_consumer_t``); one thread at a time."""

    def __init__(self, ring: Ring, ptr: Any) -> None:
        self.ring = ring
        self._core = _Core(ptr, lib.sabre_ring_consumer_close, ring._core, "ring consumer")
        self._version = 0
        self._max_lag: Optional[int] = None

    @property
    def version(self) -> int:
        """Current policy version, for the lag statistics."""
        return self._version

    @version.setter
    def version(self, v: int) -> None:
        lib.sabre_ring_consumer_set_version(self._core.get(), v)
        self._version = v

    @property
    def max_policy_lag(self) -> Optional[int]:
        """Chunks whose policy lag (consumer version - the chunk's claim
        version) is above this are skipped, counted in
        ``stats()["lag_skipped"]`` and never handed out; None: no limit."""
        return self._max_lag

    @max_policy_lag.setter
    def max_policy_lag(self, v: Optional[int]) -> None:
        if v is not None and v < 0:
            raise ValueError("max_policy_lag must be >= 0 or None, got %r" % (v,))
        lib.sabre_ring_consumer_set_max_lag(self._core.get(), (1 << 64) - 1 if v is None else v)
        self._max_lag = v

    def episodes(self, max_episodes: int = 1024) -> np.ndarray:
        """Episodes the producers reported since the last call (up to
        `max_episodes`), as a structured array of :data:`EPISODE_DTYPE`
        (ret, length, producer, policy_version, end_ns).  Never waits; an
        empty array when there are none.  Unlike every other array of this
        package it is a copy: the records are copied out so that producers
        can reuse them (``sabre_ring_episodes``)."""
        out = np.zeros(max_episodes, EPISODE_DTYPE)
        n = ffi.new("uint32_t *")
        buf = ffi.cast("sabre_ring_episode_t *", out.ctypes.data)
        check(lib.sabre_ring_episodes(self._core.get(), buf, max_episodes, n))
        return out[: n[0]].copy()

    def consume(self, max_chunks: int = 0, timeout: Optional[float] = None) -> "Batch":
        """Take up to `max_chunks` committed chunks (0 = SABRE_RING_BATCH_MAX)
        of one lane; release the batch with ``Batch.release()``."""
        b = ffi.new("sabre_ring_batch_t *")
        check(lib.sabre_ring_consume(self._core.get(), max_chunks or lib.SABRE_RING_BATCH_MAX, timeout_ns(timeout), b))
        return Batch(self, b)

    def batch(self, max_chunks: int = 0, timeout: Optional[float] = None) -> "Batch":
        """The same as :meth:`consume`, for a ``with`` block that releases the
        batch on exit (also when the block raises)."""
        return self.consume(max_chunks, timeout)

    def close(self) -> None:
        """Release held chunks and give the consumer record back (at once)."""
        self._core.free()

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Batch:
    """Consumed chunks: ``fields`` (read-only views), ``headers``, ``count``,
    ``first``, ``lane``; ``release()`` (or a ``with`` block)."""

    def __init__(self, consumer: Consumer, b: Any) -> None:
        self.consumer = consumer
        self._b = b
        self.count: int = b.count
        self.first: int = b.first
        self.lane: int = b.lane
        ring = consumer.ring
        self.fields: Dict[str, np.ndarray] = ring._arrays(b.data, b.count, readonly=True)
        self.headers: np.ndarray = ring._headers(b.chunks, b.count, readonly=True)
        self.released = False

    def chunk_header(self, i: int) -> Dict[str, Any]:
        """All facts of chunk i (sequence, producer, valid_steps,
        policy_version, layout_hash, commit_ns, lane, claim_rest)."""
        if not 0 <= i < self.count:
            raise IndexError("chunk %d of a batch of %d" % (i, self.count))
        if self.released:
            raise StateError("batch: already released", lib.SABRE_ESTATE, "SABRE_ESTATE")
        out = ffi.new("sabre_chunk_header_t *")
        ring_core = self.consumer._core.parent  # alive while the consumer is
        if ring_core is None:
            raise StateError("batch: its consumer is closed", lib.SABRE_ESTATE, "SABRE_ESTATE")
        check(lib.sabre_ring_chunk_header(ring_core.get(), self._b.chunks + i, out))
        return struct_dict(out)

    def policy_versions(self) -> List[int]:
        """The policy version of each chunk's claim."""
        return [self.chunk_header(i)["policy_version"] for i in range(self.count)]

    def release(self) -> None:
        """Give the slots back to the producers (once)."""
        if not self.released:
            self.released = True
            check(lib.sabre_ring_release(self.consumer._core.get(), self._b))

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
