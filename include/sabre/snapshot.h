/*
 * sabre/snapshot.h - snapshots: a query's rows copied into SoA columns with
 * an entity-id column and one changed bitset per component; commit of the
 * changed rows back into the world; shared, transfer and native modes.
 *
 * A snapshot is one region object (kind SABRE_OBJ_SNAPSHOT) in the byte
 * layout of docs/abi.md ("ECS snapshots and table chunks"): a header, the
 * entity ids (u64), every selected column (64-byte aligned arrays), and per
 * component a changed bitset of ceil(capacity/64) u64 words, LSB first: row
 * r is bit r % 64 of word r / 64.  All are zero after a build.
 *
 * Modes
 *  - SHARED (default): workers use the snapshot's columns in place: threads
 *    through the column pointers, processes by mapping its region (build it
 *    with backing MEMFD or in a caller's shared region, then hand the fd or
 *    region name over; the worker calls sabre_snapshot_open()).
 *  - TRANSFER: the buffers move to exactly one worker and come back.
 *    Threads: sabre_snapshot_transfer() moves them to a new handle and
 *    detaches the original; sabre_snapshot_give_back() reattaches.
 *    Processes: the snapshot lives in its own memfd region;
 *    sabre_snapshot_send() passes the fd over a unix socket and unmaps it
 *    here; the worker sabre_snapshot_recv()s it, works, and sends it back;
 *    sabre_snapshot_reattach() receives it and commit uses what came back.
 *    Any use of a detached handle fails with SABRE_EDETACHED.
 *  - NATIVE view: sabre_snapshot_view() exposes a table chunk's rows
 *    without copying: workers write the world's own columns and mark the
 *    world's own changed bits; there is nothing to commit.
 *
 * Commit writes back only components the spec marked `write`, only rows
 * whose bit is set, only the snapshot's columns of those components; it
 * skips entities that died (or were recycled) and entities that lost the
 * component, counting each reason.  Committed rows are marked changed in
 * the world.
 *
 * Changed bits from several workers at once: sabre_snapshot_mark() is an
 * atomic OR, safe for any rows from any threads.  Plain (non-atomic) word
 * writes are safe when each worker owns whole words: rows split at
 * multiples of 64.
 *
 * Commit fast path.  Build and rebuild record where each snapshot row came
 * from (table, chunk, chunk row: a few blocks per chunk, in this process's
 * memory) and the world's structural epoch, which the world bumps on every
 * operation that removes or moves an existing row (destroy; add or remove
 * of a component, which moves the entity to another table; also when a
 * hook does these).  Appending rows (create, spawn, a move's destination)
 * does not bump it.  If the epoch is unchanged at commit, and the handle
 * still holds the mapping it filled (not one reattached from a process),
 * commit copies back runs of set bits per block with no entity lookups;
 * otherwise it looks up every changed row's entity (the slow path).  Both
 * give the same world and the same stats: with an unchanged epoch no
 * snapshot entity can be dead or have lost a component.  The fast path
 * trusts that workers leave the entity-id column alone (they must: it is
 * read-only to them).
 *
 * Executor.  Build, rebuild and the commit fast path copy rows in ranges
 * (multiples of 64 rows, a few tens of thousands each).  With an executor
 * (desc.exec or sabre_snapshot_set_executor) the ranges run through its
 * parallel_for, for example on a thread pool; without one they run on the
 * calling thread.  The ranges touch disjoint snapshot rows and disjoint
 * world rows; world changed bits are set with atomic OR; the snapshot's
 * bits are only read during commit.  The slow commit path always runs on
 * the calling thread.
 *
 * Thread-safety: build, rebuild, commit, transfer and give_back are owner
 * calls (one thread, not concurrent with workers using the buffers; the
 * executor's threads work for the owner during the call).  The
 * column/entity/changed accessors may be called from any thread.
 */
#ifndef SABRE_SNAPSHOT_H
#define SABRE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/ecs.h"
#include "sabre/region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sabre_snapshot sabre_snapshot_t;

typedef enum sabre_snap_mode {
    SABRE_SNAP_SHARED = 0,
    SABRE_SNAP_TRANSFER = 1,
    SABRE_SNAP_NATIVE = 2 /* set by sabre_snapshot_view(); not valid in a desc */
} sabre_snap_mode_t;

/* One component of a snapshot spec. */
typedef struct sabre_snap_comp {
    sabre_component_t comp;
    const char *const *columns; /* flattened column names to include; NULL = all */
    uint32_t ncolumns;
    bool write; /* commit writes this component back */
} sabre_snap_comp_t;

/* An executor job: process rows [begin, end).  `worker` identifies the
 * executing thread (informational).  Returns 0. */
typedef int (*sabre_snapshot_range_fn)(void *ctx, size_t begin, size_t end, unsigned worker);

/*
 * Executor for build, rebuild and the commit fast path.  parallel_for(user,
 * n, grain, fn, ctx) must call fn(ctx, begin, end, worker) over ranges that
 * cover [0, n) exactly once, possibly concurrently from several threads, and
 * return when all have finished; ranges should begin at multiples of 64
 * and be about `grain` rows (sabre_pool_for does exactly this; any
 * partition is correct, whole words are just faster).  It returns 0, or
 * non-zero if it could not run the job (fn itself never fails): the
 * snapshot then redoes the whole job on the calling thread (the jobs are
 * idempotent), so an executor failure costs time, never correctness.
 * parallel_for is called from the thread calling build/rebuild/commit,
 * never from inside fn; it must not call back into this snapshot or world.
 * A zero struct (parallel_for NULL) means: run on the calling thread.
 * Small jobs (one range) always run on the calling thread.
 */
typedef struct sabre_snapshot_exec {
    int (*parallel_for)(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx);
    void *user;
} sabre_snapshot_exec_t;

typedef struct sabre_snapshot_desc {
    const sabre_snap_comp_t *comps; /* 1..64 components, no duplicates, no tags */
    uint32_t ncomps;
    sabre_snap_mode_t mode; /* SHARED or TRANSFER */
    /* Storage.  region NULL: the snapshot creates its own region with
     * `backing` (PRIVATE for threads, MEMFD for processes; TRANSFER to a
     * process needs MEMFD) and the world region's page policy (lazy pages,
     * transparent-huge-page advice).  region set: one object named `name` is
     * allocated in it (not allowed with TRANSFER). */
    sabre_backing_t backing;
    sabre_region_t *region;
    const char *name;           /* object name, default "snapshot" */
    uint64_t capacity;          /* rows to reserve; 0 = the query's rows now */
    sabre_snapshot_exec_t exec; /* zero: build/commit on the calling thread */
    /* Incremental rebuild: a rebuild copies only the rows whose source
     * changed since this snapshot's last build or rebuild, other than by
     * this snapshot's own commits ("changed" as the world's changed bits
     * say: every write must be marked, see docs/ecs.md, "Incremental
     * rebuild"); a structural change or a different set of matched chunks
     * makes it copy everything, as without the flag. */
    bool incremental;
} sabre_snapshot_desc_t;

/*
 * Build: copy the query's rows (all chunks, in table then row order) into a
 * new snapshot.  A row whose entity lacks a listed component gets zeros for
 * it.  SABRE_ENOENT: unknown component or column name; SABRE_EINVAL: tag,
 * duplicate, bad desc; SABRE_ENOSPC: the region is full.
 */
int sabre_snapshot_build(sabre_world_t *world, const sabre_snapshot_desc_t *desc,
                         sabre_query_t *query, sabre_snapshot_t **out);
/* Refill an existing snapshot from `query` (same spec, buffers reused, bits
 * cleared).  If the rows exceed the capacity: an own region is replaced by a
 * bigger one (pointers change); an object in a caller region gives
 * SABRE_ENOSPC. */
int sabre_snapshot_rebuild(sabre_world_t *world, sabre_snapshot_t *snap, sabre_query_t *query);

typedef struct sabre_commit_stats {
    uint64_t rows_written;     /* (row, component) pairs written back */
    uint64_t skipped_dead;     /* changed rows whose entity is dead or recycled */
    uint64_t skipped_missing;  /* changed rows whose entity lacks the component now */
    uint64_t skipped_readonly; /* changed rows of components not marked `write` */
} sabre_commit_stats_t;

/* Commit changed rows into `world` (see the top of this file).  stats
 * (may be NULL) receives the counts.  Errors: SABRE_ESTALE if the snapshot
 * was built from another world, its world was destroyed, or it was opened
 * from a region (no world); SABRE_EDETACHED if its buffers are away;
 * SABRE_EINVAL for a native view (workers already wrote the world, there is
 * nothing to commit); SABRE_ELAYOUT if a component's layout in the snapshot
 * no longer matches the world's (a snapshot that came back corrupted). */
int sabre_snapshot_commit(sabre_world_t *world, sabre_snapshot_t *snap,
                          sabre_commit_stats_t *stats);

/* Set (exec non-NULL, copied) or clear (NULL) the executor used by later
 * rebuilds and commits of snap (see the top of this file); kept when a
 * rebuild replaces the snapshot's region.  An owner call, not during a
 * build or commit.  SABRE_EINVAL: snap NULL or a native view. */
int sabre_snapshot_set_executor(sabre_snapshot_t *snap, const sabre_snapshot_exec_t *exec);

/* Free the handle (and its own region).  NULL is ignored. */
void sabre_snapshot_free(sabre_snapshot_t *snap);

/* ---------------------------------------------------------------- access */

sabre_snap_mode_t sabre_snapshot_mode(const sabre_snapshot_t *snap);
bool sabre_snapshot_detached(const sabre_snapshot_t *snap);
/* Rows (0 if detached). */
uint64_t sabre_snapshot_rows(const sabre_snapshot_t *snap);
/* Number of components and the i-th component id. */
uint32_t sabre_snapshot_ncomps(const sabre_snapshot_t *snap);
sabre_component_t sabre_snapshot_comp(const sabre_snapshot_t *snap, uint32_t i);
int sabre_snapshot_entities(const sabre_snapshot_t *snap, const sabre_entity_t **out);
/* Column `name` ("x", "pos_x": a flattened column name) of component c. */
int sabre_snapshot_column(const sabre_snapshot_t *snap, sabre_component_t c, const char *name,
                          void **out);
/* Column by index among the snapshot's columns of c (in spec order). */
int sabre_snapshot_column_at(const sabre_snapshot_t *snap, sabre_component_t c, uint32_t i,
                             void **out, sabre_scalar_t *type);
int sabre_snapshot_changed(const sabre_snapshot_t *snap, sabre_component_t c,
                           _Atomic uint64_t **out);
/* Mark row changed for c (atomic OR, any thread). */
int sabre_snapshot_mark(sabre_snapshot_t *snap, sabre_component_t c, uint64_t row);
/* Mark rows [first, first + n) changed for c (one atomic OR per word). */
int sabre_snapshot_mark_range(sabre_snapshot_t *snap, sabre_component_t c, uint64_t first,
                              uint64_t n);
/* After writing bits directly through sabre_snapshot_changed() (plain
 * stores of whole words), call this once so the chunk's summary says
 * "changed" (needed for native views, whose bits are the world's; harmless
 * for copies, whose commit reads every word). */
int sabre_snapshot_touch(sabre_snapshot_t *snap, sabre_component_t c);
/* The snapshot's region and object (shared mode: hand these to processes). */
sabre_region_t *sabre_snapshot_region(const sabre_snapshot_t *snap);
int sabre_snapshot_object(const sabre_snapshot_t *snap, sabre_object_t *out);

/* Open a snapshot object in a region mapped by this process (a worker
 * process in shared mode).  Validates the header against the object
 * (SABRE_ECORRUPT on any inconsistency).  The handle borrows the region:
 * close the region after freeing the handle.  Commit is not possible on an
 * opened handle (it has no world). */
int sabre_snapshot_open(sabre_region_t *region, const char *name, sabre_snapshot_t **out);

/* ------------------------------------------------------- transfer mode */

/* Threads: move the buffers into a new handle *moved; snap is detached
 * until sabre_snapshot_give_back(snap, moved) (which frees `moved`).
 * SABRE_EINVAL unless snap is a TRANSFER snapshot; SABRE_EDETACHED if it
 * is already away. */
int sabre_snapshot_transfer(sabre_snapshot_t *snap, sabre_snapshot_t **moved);
int sabre_snapshot_give_back(sabre_snapshot_t *snap, sabre_snapshot_t *moved);

/* Processes: send the memfd over `sock` and unmap it here (snap detached).
 * The receiver's sabre_snapshot_recv() gets a handle owning the mapping; it
 * sends it back with sabre_snapshot_send() and frees its handle. */
int sabre_snapshot_send(sabre_snapshot_t *snap, int sock);
int sabre_snapshot_recv(int sock, sabre_snapshot_t **out);
/* Owner: receive the buffers back from `sock` and reattach them.  The
 * received snapshot must be this one (same snapshot id), else
 * SABRE_ESTALE and snap stays detached. */
int sabre_snapshot_reattach(sabre_snapshot_t *snap, int sock);

/* ----------------------------------------------------------- native view */

/*
 * A view of rows [first, first + count) of chunk `chunk` of table `table`
 * (for example an iterator block: it.table, it.chunk, it.offset, it.count):
 * the world's own columns, entity ids and changed bits, no copy.  The range
 * must lie inside the chunk's rows (SABRE_ERANGE).  Every component of the
 * table is in the view.  sabre_snapshot_mark(_range) work for any `first`;
 * sabre_snapshot_changed() (raw words) needs `first` to be a multiple of 64
 * so that the view's rows are whole words of the chunk's bitset
 * (SABRE_EINVAL otherwise).  The view borrows the world: it must not
 * outlive it (destroying the world detaches it) nor a structural change of
 * that table.
 */
int sabre_snapshot_view(sabre_world_t *world, uint32_t table, uint32_t chunk, uint32_t first,
                        uint32_t count, sabre_snapshot_t **out);

/*
 * The same native view, opened by a process that maps the world's region
 * but has no world handle (a worker process): rows [first, first + count)
 * of the table chunk object `name` (kind SABRE_OBJ_TABLE; its name is in
 * sabre_table_chunk()'s object).  The chunk's header is validated like a
 * snapshot's (SABRE_ECORRUPT on any inconsistency); SABRE_ERANGE if the
 * rows are not inside the chunk's current rows.  The owner must make no
 * structural change to that table while the view is used.  Free with
 * sabre_snapshot_free (the region is borrowed).
 */
int sabre_snapshot_open_view(sabre_region_t *region, const char *name, uint32_t first,
                             uint32_t count, sabre_snapshot_t **out);

#ifdef __cplusplus
}
#endif
#endif
