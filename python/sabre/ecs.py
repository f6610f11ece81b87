"""ECS worlds, snapshots, native table views and Python systems.

A world (``sabre.World``) keeps its component tables in a region; created on
a shared region (memfd, shm or file) its table chunks can be opened by other
processes.  Three ways for Python code in *another process* to work on the
rows, all zero-copy numpy views:

- ``Snapshot.open(region, name)``: a snapshot the owner built in a shared
  region; the worker writes its columns and marks changed rows, the owner
  commits them (``snapshot.commit(world)``);
- ``Snapshot.open_view(region, chunk_object, first, count)``: a native view
  of a table chunk: the worker writes the world's own columns and changed
  bits, nothing to commit;
- a Python *system* in the scheduler's process offload: ``Scheduler.add_kernel
  (..., offload="process")`` runs the Python kernel in the pool's worker
  processes (forks of this process) on the world's tables.

Kernels mark the rows they change: ``rows.mark(component, mask_or_indices)``.

Forks: worker processes are forked from the process that runs the frame,
inside the C call, while cffi has released the GIL.  Do not run other Python
threads in that process while a frame runs (a fork copies only the calling
thread).
"""
from __future__ import annotations

import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import schema as _schema
from ._base import _Core, address, cstr, pystr, struct_dict, view
from ._ffi import ffi, lib
from .errors import StateError, check
from .region import Region


class Component:
    """A component of a world: ``id``, ``name``, ``layout`` (None for a tag)."""

    def __init__(self, world: "World", cid: int) -> None:
        self.world = world
        self.id = cid
        self.name = pystr(lib.sabre_component_name(world._ptr(), cid))
        lp = lib.sabre_component_layout(world._ptr(), cid)
        self.layout: Optional[_schema.Layout] = _schema.Layout(world._core, lp) if lp != ffi.NULL else None

    def __int__(self) -> int:
        return self.id

    def __index__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return "<sabre.Component %r id=%d>" % (self.name, self.id)


class World:
    """An ECS world (``sabre_world_t``)."""

    def __init__(self, region: Optional[Region] = None, prefix: Optional[str] = None, chunk_rows: int = 0) -> None:
        d = ffi.new("sabre_world_desc_t *")
        keep = cstr(prefix)
        d.region = region._ptr() if region is not None else ffi.NULL
        d.prefix = keep
        d.chunk_rows = chunk_rows
        out = ffi.new("sabre_world_t **")
        check(lib.sabre_world_create(d, out))
        self.region = region
        self._core = _Core(out[0], lib.sabre_world_destroy, region._core if region is not None else None, "world")
        self.components: Dict[str, Component] = {}

    def _ptr(self) -> Any:
        return self._core.get()

    def close(self) -> None:
        """Destroy the world (snapshots built from it are orphaned)."""
        self._core.free()

    def component(self, name: str, schema: Optional[str] = None, struct: Optional[str] = None) -> Component:
        """Define a component from schema text (no schema: a tag)."""
        d = ffi.new("sabre_component_desc_t *")
        k1, k2, k3 = cstr(name), cstr(schema), cstr(struct)
        d.name, d.schema, d.struct_name = k1, k2, k3
        out = ffi.new("sabre_component_t *")
        check(lib.sabre_component_define(self._ptr(), d, out))
        c = Component(self, out[0])
        self.components[name] = c
        return c

    def spawn(self, n: int, values: Dict[Component, Any]) -> np.ndarray:
        """Create `n` entities with the given components.  Each value is a
        structured array of n rows of the component's ``layout.dtype`` (or a
        dict of field name -> array of n values).  Returns the entity ids."""
        comps = list(values)
        rows = []
        for c in comps:
            v = values[c]
            dt = c.layout.dtype if c.layout is not None else None
            if isinstance(v, dict):
                arr = np.zeros(n, dt)
                for k, col in v.items():
                    arr[k] = col
                v = arr
            rows.append(np.ascontiguousarray(v, dtype=dt) if dt is not None else None)
        ids = np.zeros(n, np.uint64)
        cids = ffi.new("sabre_component_t[]", [c.id for c in comps])
        vals = ffi.new("void *[]", len(comps))
        out = ffi.new("sabre_entity_t *")
        base = [r.ctypes.data if r is not None else 0 for r in rows]
        sizes = [r.dtype.itemsize if r is not None else 0 for r in rows]
        w = self._ptr()
        for i in range(n):
            for j in range(len(comps)):
                vals[j] = ffi.cast("void *", base[j] + i * sizes[j]) if base[j] else ffi.NULL
            check(lib.sabre_entity_create_with(w, cids, vals, len(comps), out))
            ids[i] = out[0]
        return ids

    def get(self, e: int, c: Component) -> np.void:
        """A copy of entity e's value of component c (a structured scalar)."""
        assert c.layout is not None
        buf = np.zeros(1, c.layout.dtype)
        check(lib.sabre_get(self._ptr(), int(e), c.id, ffi.cast("void *", buf.ctypes.data)))
        return buf[0]

    def set(self, e: int, c: Component, value: Any) -> None:
        """Store entity e's value of c (marks it changed)."""
        assert c.layout is not None
        buf = np.zeros(1, c.layout.dtype)
        buf[0] = value
        check(lib.sabre_set(self._ptr(), int(e), c.id, ffi.cast("void *", buf.ctypes.data)))

    def digest(self, c: Component) -> int:
        """A 64-bit digest of every entity's id and value of c, independent
        of table and row order (``sabre_component_digest``): equal digests
        mean bit-identical values on the same entities."""
        out = ffi.new("uint64_t *")
        check(lib.sabre_component_digest(self._ptr(), c.id, out))
        return int(out[0])

    def is_changed(self, e: int, c: Component) -> bool:
        return bool(lib.sabre_is_changed(self._ptr(), int(e), c.id))

    def begin_tick(self) -> None:
        check(lib.sabre_world_begin_tick(self._ptr()))

    def end_tick(self) -> None:
        check(lib.sabre_world_end_tick(self._ptr()))

    @property
    def count(self) -> int:
        return lib.sabre_world_count(self._ptr())

    def chunks(self) -> List[Dict[str, Any]]:
        """Every table chunk: table, chunk, count, capacity, first_row and
        ``object`` (its region object name, for ``Snapshot.open_view``)."""
        out = []
        ti = ffi.new("sabre_table_info_t *")
        ci = ffi.new("sabre_chunk_info_t *")
        w = self._ptr()
        for t in range(lib.sabre_world_table_count(w)):
            check(lib.sabre_table_info(w, t, ti))
            for k in range(ti.nchunks):
                check(lib.sabre_table_chunk(w, t, k, ci))
                out.append({
                    "table": t, "chunk": k, "count": ci.count, "capacity": ci.capacity,
                    "first_row": ci.first_row, "object": ffi.string(ci.object.name).decode(),
                    "components": [ti.components[i] for i in range(ti.ncomponents)],
                })
        return out


class Snapshot:
    """A snapshot, an opened snapshot or a native view (``sabre_snapshot_t``).

    ``column(c, name)`` is a 1-D numpy view of the rows; ``entities`` the
    entity ids (read-only); ``mark(c, rows)`` marks rows changed."""

    def __init__(self, ptr: Any, parent: Optional[_Core], owner: Any, borrowed: bool = False) -> None:
        self._core = _Core(ptr, None if borrowed else lib.sabre_snapshot_free, parent, "snapshot")
        self._owner = owner  # the core that keeps the mapping alive for views

    # ---- making one ----------------------------------------------------

    @classmethod
    def build(
        cls,
        world: World,
        comps: Sequence[Union[Component, Tuple[Component, bool]]],
        region: Optional[Region] = None,
        name: Optional[str] = None,
        backing: str = "memfd",
    ) -> "Snapshot":
        """Copy the rows having every component of `comps` (``(component,
        write)`` pairs; a bare component is written back) into a snapshot in
        `region` (object `name`) or in its own region."""
        from .region import BACKINGS

        spec = [(c, True) if isinstance(c, Component) else c for c in comps]
        sc = ffi.new("sabre_snap_comp_t[]", len(spec))
        for i, (c, w) in enumerate(spec):
            sc[i].comp = c.id
            sc[i].write = w
        ids = ffi.new("sabre_component_t[]", [c.id for c, _ in spec])
        q = ffi.new("sabre_query_desc_t *")
        q.all = ids
        q.nall = len(spec)
        qp = ffi.new("sabre_query_t **")
        check(lib.sabre_query_create(world._ptr(), q, qp))
        d = ffi.new("sabre_snapshot_desc_t *")
        keep = cstr(name)
        d.comps = sc
        d.ncomps = len(spec)
        d.backing = BACKINGS[backing]
        d.region = region._ptr() if region is not None else ffi.NULL
        d.name = keep
        out = ffi.new("sabre_snapshot_t **")
        try:
            check(lib.sabre_snapshot_build(world._ptr(), d, qp[0], out))
        finally:
            lib.sabre_query_destroy(qp[0])
        snap = cls(out[0], world._core, None)
        snap._owner = snap._core  # an own region lives as long as the handle
        if region is not None:
            snap._owner = region._core
        return snap

    @classmethod
    def open(cls, region: Region, name: str) -> "Snapshot":
        """Open snapshot object `name` of a mapped region (a worker process)."""
        out = ffi.new("sabre_snapshot_t **")
        check(lib.sabre_snapshot_open(region._ptr(), name.encode(), out))
        return cls(out[0], region._core, region._core)

    @classmethod
    def open_view(cls, region: Region, name: str, first: int = 0, count: Optional[int] = None) -> "Snapshot":
        """A native view of rows [first, first + count) of table chunk object
        `name` (``World.chunks()[i]["object"]``), opened without the world.
        count None: the chunk's current rows from `first`."""
        out = ffi.new("sabre_snapshot_t **")
        if count is None:
            count = _chunk_rows(region, name) - first
        check(lib.sabre_snapshot_open_view(region._ptr(), name.encode(), first, count, out))
        return cls(out[0], region._core, region._core)

    def close(self) -> None:
        """Free the handle (the views keep the mapping alive)."""
        self._core.free()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _ptr(self) -> Any:
        return self._core.get()

    # ---- rows ----------------------------------------------------------

    @property
    def rows(self) -> int:
        return lib.sabre_snapshot_rows(self._ptr())

    @property
    def components(self) -> List[int]:
        s = self._ptr()
        return [lib.sabre_snapshot_comp(s, i) for i in range(lib.sabre_snapshot_ncomps(s))]

    @property
    def entities(self) -> np.ndarray:
        """Entity ids of the rows (read-only view)."""
        p = ffi.new("sabre_entity_t **")
        check(lib.sabre_snapshot_entities(self._ptr(), p))
        return view(self._owner, address(p[0]), np.uint64, (self.rows,), readonly=True)

    def column(self, c: Union[Component, int], name: str) -> np.ndarray:
        """Column `name` (a flattened column name) of component c: a 1-D
        numpy view of every row, dtype from the column's stored type."""
        s = self._ptr()
        cid = int(c)
        p = ffi.new("void **")
        check(lib.sabre_snapshot_column(s, cid, name.encode(), p))
        q = ffi.new("void **")
        t = ffi.new("sabre_scalar_t *")
        i = 0
        while lib.sabre_snapshot_column_at(s, cid, i, q, t) == 0:
            if q[0] == p[0]:
                return view(self._owner, address(p[0]), _schema.scalar_dtype(t[0]), (self.rows,))
            i += 1
        raise StateError("snapshot: column '%s' has no type" % name, lib.SABRE_ESTATE, "SABRE_ESTATE")

    def changed(self, c: Union[Component, int]) -> np.ndarray:
        """Changed-bit words of component c (u64, row r is bit r % 64 of word
        r // 64); a view of the snapshot's (or, for a native view, the
        world's) bits.  After writing words directly call ``touch(c)``."""
        p = ffi.new("uint64_t **")
        check(lib.sabre_snapshot_changed(self._ptr(), int(c), p))
        return view(self._owner, address(p[0]), np.uint64, ((self.rows + 63) // 64,))

    def touch(self, c: Union[Component, int]) -> None:
        check(lib.sabre_snapshot_touch(self._ptr(), int(c)))

    def mark(self, c: Union[Component, int], rows: Any) -> int:
        """Mark rows changed for c: a boolean mask over the rows, an array of
        row indices, a slice or one index.  One atomic OR per run of
        consecutive rows.  Returns the number of rows marked."""
        n = self.rows
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step == 1:
                if stop > start:
                    check(lib.sabre_snapshot_mark_range(self._ptr(), int(c), start, stop - start))
                return max(0, stop - start)
            idx = np.arange(start, stop, step)
        elif np.isscalar(rows):
            check(lib.sabre_snapshot_mark(self._ptr(), int(c), int(rows)))
            return 1
        else:
            a = np.asarray(rows)
            idx = np.flatnonzero(a) if a.dtype == np.bool_ else np.unique(a.astype(np.int64))
        if idx.size == 0:
            return 0
        if idx[0] < 0 or idx[-1] >= n:
            raise IndexError("row %d out of range (%d rows)" % (idx[-1] if idx[-1] >= n else idx[0], n))
        breaks = np.flatnonzero(np.diff(idx) != 1)
        starts = np.concatenate(([idx[0]], idx[breaks + 1]))
        ends = np.concatenate((idx[breaks], [idx[-1]])) + 1
        s = self._ptr()
        for a0, b0 in zip(starts.tolist(), ends.tolist()):
            check(lib.sabre_snapshot_mark_range(s, int(c), a0, b0 - a0))
        return int(idx.size)

    def commit(self, world: World) -> Dict[str, int]:
        """Write the marked rows back into `world` (``sabre_snapshot_commit``)."""
        st = ffi.new("sabre_commit_stats_t *")
        check(lib.sabre_snapshot_commit(world._ptr(), self._ptr(), st))
        return struct_dict(st)

    def object_name(self) -> str:
        o = ffi.new("sabre_object_t *")
        check(lib.sabre_snapshot_object(self._ptr(), o))
        return ffi.string(o.name).decode()


def _chunk_rows(region: Region, name: str) -> int:
    """Rows in use of a table chunk object: its header's `rows` word, at the
    offset the library's ABI export gives (docs/abi.md "Header (256 bytes)");
    open_view validates the range against the header itself."""
    from ._ffi import abi

    hdr = {f["name"]: f for f in abi()["structs"]["colset_header"]["fields"]}
    f = hdr["rows"]
    obj = region.find(name)
    if obj.size < f["offset"] + f["size"]:
        return 0
    return int(obj.bytes()[f["offset"] : f["offset"] + 8].view("<u8")[0])


class Pool:
    """A worker pool (``sabre_pool_t``): threads, and worker processes that
    attach to `region` (memfd, shm or file)."""

    def __init__(self, threads: int = 1, region: Optional[Region] = None, processes: int = 0, process_timeout: Optional[float] = None) -> None:
        d = ffi.new("sabre_pool_desc_t *")
        d.threads = threads
        d.region = region._ptr() if region is not None else ffi.NULL
        d.processes = processes
        d.process_timeout_ns = 0 if process_timeout is None else int(process_timeout * 1e9)
        out = ffi.new("sabre_pool_t **")
        check(lib.sabre_pool_create(d, out))
        self.region = region
        self._core = _Core(out[0], lib.sabre_pool_destroy, region._core if region is not None else None, "pool")

    def stats(self) -> Dict[str, Any]:
        st = ffi.new("sabre_pool_stats_t *")
        check(lib.sabre_pool_stats(self._core.get(), st))
        return struct_dict(st)

    def process_pid(self, i: int) -> int:
        return lib.sabre_pool_process_pid(self._core.get(), i)

    def close(self) -> None:
        self._core.free()


class KernelContext:
    """What a Python kernel gets: ``rows`` (a Snapshot over the system's
    rows), ``begin``/``end`` (the range to process), ``dt``, ``time``,
    ``frame``, ``worker``, ``in_process``."""

    __slots__ = ("rows", "begin", "end", "dt", "time", "frame", "worker", "in_process")


OFFLOADS = {"inplace": 1, "snapshot": 2, "process": 3}


class Scheduler:
    """Systems over a world (``sabre_sched_t``), with Python kernels."""

    def __init__(self, world: World, pool: Optional[Pool] = None) -> None:
        d = ffi.new("sabre_sched_desc_t *")
        d.world = world._ptr()
        d.pool = pool._core.get() if pool is not None else ffi.NULL
        out = ffi.new("sabre_sched_t **")
        check(lib.sabre_sched_create(d, out))
        self.world, self.pool = world, pool
        self._core = _Core(out[0], lib.sabre_sched_destroy, world._core, "scheduler")
        self._keep: List[Any] = []  # callbacks and descriptors live as long as the scheduler

    def add_kernel(
        self,
        name: str,
        kernel: Callable[[KernelContext], None],
        reads: Iterable[Component] = (),
        writes: Iterable[Component] = (),
        offload: str = "inplace",
        grain: int = 0,
    ) -> None:
        """Register a Python kernel system.  `kernel(ctx)` processes rows
        ``ctx.begin:ctx.end`` of ``ctx.rows`` and marks what it changes.
        With offload="process" it runs in the pool's worker processes.  An
        exception in the kernel fails the frame with JobError (its traceback
        goes to the process's stderr)."""
        rows_region = self.world.region

        def trampoline(cctx: Any) -> int:
            try:
                k = KernelContext()
                owner = rows_region._core if rows_region is not None else self.world._core
                k.rows = Snapshot(cctx.rows, None, owner, borrowed=True)
                k.begin, k.end = cctx.begin, cctx.end
                k.dt, k.time, k.frame = cctx.dt, cctx.time, cctx.frame
                k.worker, k.in_process = cctx.worker, bool(cctx.in_process)
                kernel(k)
                return 0
            except Exception:
                traceback.print_exc()
                return lib.SABRE_EJOB

        cb = ffi.callback("int(const sabre_kernel_ctx_t *)", trampoline)
        reads, writes = list(reads), list(writes)
        r_ids = ffi.new("sabre_component_t[]", [c.id for c in reads] or [0])
        w_ids = ffi.new("sabre_component_t[]", [c.id for c in writes] or [0])
        d = ffi.new("sabre_system_desc_t *")
        kname = cstr(name)
        d.name = kname
        d.reads, d.nreads = r_ids, len(reads)
        d.writes, d.nwrites = w_ids, len(writes)
        d.kernel = cb
        d.offload = OFFLOADS[offload]
        d.grain = grain
        check(lib.sabre_sched_add(self._core.get(), d))
        self._keep += [cb, r_ids, w_ids, kname, d, trampoline]

    def run_frame(self, dt: float = 1.0 / 60, time: float = 0.0) -> None:
        """Run one frame (``sabre_sched_run_frame``)."""
        check(lib.sabre_sched_run_frame(self._core.get(), dt, time))

    def stats(self, name: str) -> Dict[str, int]:
        st = ffi.new("sabre_system_stats_t *")
        check(lib.sabre_sched_stats(self._core.get(), name.encode(), st))
        return struct_dict(st)

    def close(self) -> None:
        self._core.free()
