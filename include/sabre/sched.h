/*
 * sabre/sched.h - systems scheduled by what they read and write, run in
 * parallel batches, optionally offloaded to worker threads or processes
 * with zero copies.  docs/scheduling.md explains how plans are built.
 *
 * Systems.  A system has a name, a stage, explicit before/after edges, the
 * components and named resources it reads and writes, an optional query,
 * and either
 *   - a `run` function called once per frame with the world (any stage,
 *     structural changes through its own command buffer), or
 *   - a `kernel` called over row ranges of the rows its query matches; the
 *     scheduler splits large systems across the pool's threads in ranges
 *     that begin at multiples of 64 rows.  How the kernel reaches the rows
 *     is the system's offload mode:
 *       SABRE_OFFLOAD_INPLACE   native views of the world's table chunks:
 *                               the kernel writes the source of truth and
 *                               marks the world's changed bits; no copy,
 *                               no commit.
 *       SABRE_OFFLOAD_SNAPSHOT  a snapshot of the declared components is
 *                               built, the kernel runs on it, and the rows
 *                               it marked changed are committed for the
 *                               components the system writes.
 *       SABRE_OFFLOAD_PROCESS   the kernel runs in the pool's worker
 *                               processes.  When the world's tables live in
 *                               the pool's shared region (the world was
 *                               created on it), the processes work on the
 *                               tables themselves, like INPLACE (no copy, no
 *                               commit); otherwise as SNAPSHOT, with the
 *                               snapshot in the pool's shared region.
 *     All modes give the same results.  In every mode the kernel sees its
 *     rows as a sabre_snapshot_t (sabre/snapshot.h): columns by component
 *     and name, entity ids, changed words.  Its columns by term:
 *     sabre_kernel_column(ctx, term, column), terms numbered in the order
 *     of .reads then .writes (like flecs' ecs_field), checked when the
 *     system is added.
 *
 * Changed rows.  After each range a kernel ran on, the scheduler marks the
 * range's rows changed for every component the system writes (whole 64-row
 * words: plain word stores, plus one atomic OR for a range's partial last
 * word).  So a kernel that writes its rows and never marks them loses
 * nothing in snapshot and process modes, whose commit copies back only
 * marked rows.  A kernel that changes few of its rows and marks them itself
 * (sabre_snapshot_mark, or the changed words; whole 64-row words are its
 * own) sets .marks_rows: then only what it marked is changed (and
 * committed).
 *
 * Process offload, the simple wiring.  A world created with
 * .backing = SABRE_BACKING_MEMFD keeps its tables in a region of its own
 * that worker processes can map (1 GiB of address space by default, pages
 * touched lazily: nothing to size); give that region to the pool:
 *     sabre_world_create(&(sabre_world_desc_t){.backing = SABRE_BACKING_MEMFD}, &w);
 *     sabre_pool_create(&(sabre_pool_desc_t){.threads = 2, .processes = 2,
 *                                            .region = sabre_world_region(w)}, &pool);
 * (destroy the pool before the world).  When the world's tables are not in
 * the pool's region, process mode still works but over snapshots copied
 * into the pool's region and committed back (about 2x slower):
 * sabre_sched_dump() names that fallback and sabre_system_stats_t counts
 * its frames (snapshot_fallbacks).
 *
 * Plans.  sabre_sched_compile() orders the systems of each stage:
 *   1. explicit edges (a.after b, a.before b); an edge naming an unknown
 *      system is SABRE_ENOENT; an edge against the stage order, or a
 *      cycle of edges, is SABRE_ECYCLE with the cycle named
 *      ("cycle: a -> b -> c -> a");
 *   2. a linear order: topological over the explicit edges, ties broken by
 *      registration order;
 *   3. conflict edges: two systems conflict when one writes a component or
 *      resource the other reads or writes; the edge points along the
 *      linear order (so it never contradicts an explicit edge);
 *   4. batches by level: level = 1 + the highest level of its
 *      predecessors.  Systems of one batch never conflict, and a system
 *      always runs in a later batch than everything it is ordered after.
 * The same registrations always give the same plan.  sabre_sched_dump()
 * prints it with, for every pair kept apart, the reason.
 *
 * Frames.  sabre_sched_run_frame(): begin the world's tick; run the stages
 * in order and their batches in order, the systems of a batch in parallel
 * on the pool; end the tick (flushing every command buffer) - the tick is
 * ended even when a system fails, and then the first failure is returned
 * with a message naming the system.  The other systems of the failing batch
 * still complete (and are committed); batches after it do not run.
 *
 * Thread-safety: a scheduler is used by one thread (the world's owner).
 * Kernels and run functions execute on pool threads concurrently with the
 * other systems of their batch; they must touch only what they declared.
 */
#ifndef SABRE_SCHED_H
#define SABRE_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sabre/ecs.h"
#include "sabre/pool.h"
#include "sabre/snapshot.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_SCHED_NAME_MAX    48 /* system, stage and resource names: 1..47 bytes */
#define SABRE_SCHED_MAX_STAGES  32
#define SABRE_SCHED_MAX_SYSTEMS 4096

typedef struct sabre_sched sabre_sched_t;

typedef enum sabre_offload {
    SABRE_OFFLOAD_NONE = 0,     /* the default: a `run` function runs on a pool thread (or
                                   the caller); a kernel runs INPLACE */
    SABRE_OFFLOAD_INPLACE = 1,  /* kernel on native views of the tables */
    SABRE_OFFLOAD_SNAPSHOT = 2, /* kernel on a snapshot, changed rows committed */
    SABRE_OFFLOAD_PROCESS = 3   /* kernel in worker processes on a shared snapshot */
} sabre_offload_t;

/* Where a kernel system's rows run (INPLACE and SNAPSHOT offload; PROCESS
 * always calls the worker processes), and where a `run` system's call
 * runs.  AUTO decides every frame from measured costs: a kernel's rows too
 * few for the pool to pay (its cost per row against the pool's fork-join
 * cost) run inline on the calling thread, in one range per table chunk; a
 * batch of `run` calls too cheap to pay the fork-join runs on the calling
 * thread (docs/scheduling.md, "Adaptive dispatch"; sabre_sched_dump shows
 * each decision and its figures). */
typedef enum sabre_dispatch {
    SABRE_DISPATCH_AUTO = 0,  /* measured, per system and frame */
    SABRE_DISPATCH_POOL = 1,  /* always split over the pool's threads */
    SABRE_DISPATCH_INLINE = 2 /* always on the calling thread */
} sabre_dispatch_t;

/* What a `run` function gets. */
typedef struct sabre_sys_ctx {
    sabre_world_t *world;
    sabre_sched_t *sched;
    sabre_query_t *query; /* the system's query (NULL if it has none) */
    sabre_cmd_t *cmd;     /* the system's own command buffer (flushed at end of tick) */
    double dt, time;
    uint64_t frame; /* frames run so far by this scheduler, 0-based */
    const char *name;
    void *user;      /* sabre_system_desc_t.user */
    unsigned worker; /* pool thread running it */
} sabre_sys_ctx_t;

/* What a kernel gets: rows [begin, end) of `rows`. */
typedef struct sabre_kernel_ctx {
    sabre_snapshot_t *rows; /* native view, built snapshot or opened snapshot */
    uint64_t begin, end;    /* begin is a multiple of 64 */
    double dt, time;
    uint64_t frame;
    const void *args; /* sabre_system_desc_t.args bytes (copied per frame) */
    size_t args_len;
    void *user;                     /* sabre_system_desc_t.user; never set for PROCESS systems */
    unsigned worker;                /* thread index, or worker process index */
    bool in_process;                /* running in a worker process */
    const sabre_component_t *terms; /* .reads then .writes, as registered */
    uint32_t nterms;
} sabre_kernel_ctx_t;

/* Column `column` (index among the component's flattened columns, in
 * schema order: "struct V { x: f32; y: f32; }" gives x = 0, y = 1) of term
 * `term` (0 .. nreads-1: .reads[term]; then .writes in order) over the
 * kernel's rows: element `row` of the array is row `row` of ctx->rows, so a
 * kernel uses [begin, end).  sabre_sched_add checked that every term with
 * data is in every row the kernel gets, so this is NULL only for an index
 * out of range or a tag term (a component without data). */
void *sabre_kernel_column(const sabre_kernel_ctx_t *ctx, uint32_t term, uint32_t column);

typedef int (*sabre_system_fn)(const sabre_sys_ctx_t *ctx);
typedef int (*sabre_kernel_fn)(const sabre_kernel_ctx_t *ctx);

typedef struct sabre_system_desc {
    const char *name;         /* required, unique */
    const char *stage;        /* NULL = "update" */
    const char *const *after; /* systems this one runs after */
    uint32_t nafter;
    const char *const *before; /* systems this one runs before */
    uint32_t nbefore;
    const sabre_component_t *reads; /* components read */
    uint32_t nreads;
    const sabre_component_t *writes; /* components written (implies read) */
    uint32_t nwrites;
    const char *const *reads_res; /* named resources read */
    uint32_t nreads_res;
    const char *const *writes_res; /* named resources written */
    uint32_t nwrites_res;
    const sabre_query_desc_t
        *query;         /* optional for `run`; kernels default to all = reads + writes */
    bool skip_if_empty; /* skip when the query matches no row */

    sabre_system_fn run; /* exactly one of run / kernel */
    sabre_kernel_fn kernel;
    sabre_offload_t offload;   /* kernel systems: 0 = INPLACE */
    uint64_t grain;            /* rows per range (rounded up to 64); 0 = automatic */
    sabre_dispatch_t dispatch; /* kernels and run systems: 0 = AUTO */
    const void *args;          /* bytes copied to every kernel call (<= 64 KiB); the way to
                                  pass data to PROCESS kernels */
    size_t args_len;
    void *user;      /* passed to `run` and to THREAD kernels; refused with PROCESS offload
                        (a worker process cannot use this process's pointers: use .args) */
    bool marks_rows; /* the kernel marks the rows it changes itself; without it the
                        scheduler marks every row of its ranges for each written
                        component (see "Changed rows" above) */
} sabre_system_desc_t;

typedef struct sabre_sched_desc {
    sabre_world_t *world;      /* required */
    sabre_pool_t *pool;        /* NULL: everything runs on the caller */
    const char *const *stages; /* stage order; NULL = startup, update, late, render, cleanup */
    uint32_t nstages;
    /* Snapshot and process offload keep each system's snapshot and rebuild
     * it incrementally (only rows changed since, other than by its own
     * commit; sabre_snapshot_desc_t.incremental).  That needs every write
     * to the world marked changed; set this if some code writes columns
     * without marking, and every rebuild copies every row. */
    bool full_snapshots;
    /* The offload of every kernel system whose own .offload is NONE (0:
     * INPLACE); a system's .offload overrides it.  `run` systems ignore it. */
    sabre_offload_t offload;
    /* With .pool NULL, threads or processes non-zero: the scheduler creates
     * its own pool (and destroys it with itself, before the world): `threads`
     * threads including the caller (0 = one per CPU) and `processes` worker
     * processes mapping the world's region (create the world with a MEMFD,
     * SHM or FILE backing for those).  Both 0: no pool of its own. */
    unsigned threads;
    unsigned processes;
} sabre_sched_desc_t;

/* Create a scheduler for a world and a pool (given, or its own: see
 * threads/processes above).  The world and a given pool must outlive it.
 * Errors: SABRE_EINVAL (no world, bad or duplicate stage names, an unknown
 * offload, both a pool and threads/processes), SABRE_ENOMEM, and the pool's
 * own errors (e.g. processes over a world without a shareable region). */
int sabre_sched_create(const sabre_sched_desc_t *desc, sabre_sched_t **out);
/* Free the scheduler, its queries, command buffers and snapshots.  NULL is ignored. */
void sabre_sched_destroy(sabre_sched_t *sched);

/* Register a system (copied).  Errors: SABRE_EINVAL (missing name, both or
 * neither of run/kernel, kernel without components, PROCESS without a pool
 * that has worker processes, PROCESS with .user, INPLACE with a `changed`
 * query, a kernel's query that does not require a term with data),
 * SABRE_EEXIST (name taken), SABRE_ENOENT (unknown stage). */
int sabre_sched_add(sabre_sched_t *sched, const sabre_system_desc_t *desc);

/* Change a system's offload mode (kernel systems only; the checks of
 * sabre_sched_add apply, .user with PROCESS included). */
int sabre_sched_set_offload(sabre_sched_t *sched, const char *name, sabre_offload_t mode);

/* Named resources: a pointer the application owns, looked up by systems. */
int sabre_sched_resource_set(sabre_sched_t *sched, const char *name, void *ptr);
void *sabre_sched_resource_get(const sabre_sched_t *sched, const char *name);

/* Build the plan (run_frame does it when needed). */
int sabre_sched_compile(sabre_sched_t *sched);

/* Run one frame. */
int sabre_sched_run_frame(sabre_sched_t *sched, double dt, double time);

/* The plan. */
typedef struct sabre_plan_entry {
    const char *system;
    const char *stage;
    uint32_t batch; /* global batch index in run order */
    uint32_t level; /* level inside its stage, 0-based */
} sabre_plan_entry_t;
/* Systems in run order (stage, batch, registration).  *n receives the count. */
int sabre_sched_plan(sabre_sched_t *sched, const sabre_plan_entry_t **entries, uint32_t *n);
/* Number of batches of the plan. */
uint32_t sabre_sched_batches(sabre_sched_t *sched);

/* Print the plan: stages, batches, systems with their mode (a PROCESS
 * system that will fall back to snapshots says so and why), and each
 * ordering edge with its reason ("explicit: b after a", "conflict: a writes
 * Pos, b reads Pos", "conflict: resource 'score'").  `file` is a FILE*. */
int sabre_sched_dump(sabre_sched_t *sched, FILE *file);

/* Per-system counters. */
typedef struct sabre_system_stats {
    uint64_t runs;     /* frames it ran */
    uint64_t skipped;  /* frames skipped (skip_if_empty) */
    uint64_t rows;     /* rows handed to its kernel, all frames */
    uint64_t ranges;   /* kernel calls, all frames */
    uint64_t ns_total; /* wall time from its first to last range, summed */
    uint64_t ns_last;
    uint64_t committed;          /* rows committed (snapshot/process modes) */
    uint64_t snapshot_fallbacks; /* PROCESS frames run over a snapshot copied into the pool's
                                    region and committed back, because the world's tables
                                    are not in that region (or the query has a `changed`
                                    filter); 0 when the processes work on the tables */
    uint64_t inline_runs;        /* runs dispatched inline (not split over the pool) */
    uint64_t pool_runs;          /* runs split over the pool's threads */
} sabre_system_stats_t;
int sabre_sched_stats(const sabre_sched_t *sched, const char *name, sabre_system_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
