/*
 * sched_internal.h - the scheduler's structures, shared by its files (not
 * public API).
 */
#ifndef SABRE_SCHED_INTERNAL_H
#define SABRE_SCHED_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"
#include "sabre/sched.h"
#include "sched/dispatch.h"

#define DEFAULT_GRAIN_MIN 4096u
/* Snapshot offload, committed per range: at most this many rows per range
 * with the default grain, so that a range's snapshot rows are still in the
 * core's cache (L2) when its commit copies them back. */
#define COMMIT_RANGE_ROWS 16384u
#define ARGS_MAX          (64u * 1024u)

typedef char sname_t[SABRE_SCHED_NAME_MAX];

enum edge_why { WHY_AFTER = 1, WHY_BEFORE, WHY_COMPONENT, WHY_RESOURCE };

/* ecs/query.c: whether a query lists a sparse component (the ECS layer's
 * internal header is not included here). */
bool sabre__query_has_sparse(const sabre_query_t *q);

typedef struct edge {
    uint32_t from, to;
    uint8_t why;
    uint8_t from_writes; /* conflict edges: which side writes the item */
    uint8_t to_writes;
    uint32_t item; /* component id, or resource index in `from` system */
} edge_t;

typedef struct system {
    sname_t name;
    uint32_t stage;
    uint32_t index; /* registration order */
    sname_t *after, *before;
    uint32_t nafter, nbefore;
    sabre_component_t *reads, *writes;
    uint32_t nreads, nwrites;
    sname_t *rres, *wres;
    uint32_t nrres, nwres;
    sabre_query_t *query;
    bool skip_if_empty;
    sabre_system_fn run;
    sabre_kernel_fn kernel;
    sabre_offload_t offload;
    uint64_t grain;
    sabre_dispatch_t dispatch;
    sabre__dispatch_t disp;   /* adaptive dispatch: the cost model */
    bool run_inline;          /* this frame: rows not split over the pool */
    bool decided;             /* this frame: a dispatch decision was made */
    _Atomic uint64_t busy_ns; /* this frame: time inside its work units */
    unsigned char *args;
    size_t args_len;
    void *user;
    bool marks_rows;          /* the kernel marks its rows itself */
    sabre_component_t *terms; /* kernels: reads then writes (sabre_kernel_column) */
    uint32_t nterms;
    sabre_component_t *marked; /* written components with data, marked after every range */
    uint32_t nmarked;
    sabre_cmd_t *cmd;
    /* snapshot offload state */
    sabre_snap_comp_t *snap_comps;
    uint32_t nsnap_comps;
    sabre_snapshot_t *snap;
    uint32_t snap_gen;
    sabre_pool_t *exec_pool;        /* the pool of its snapshot's executor */
    bool range_commit;              /* this frame: each range committed after its kernel */
    _Atomic uint64_t range_written; /* this frame: rows those commits wrote */
    bool proc_registered;
    bool has_changed;          /* its query has a `changed` filter */
    bool has_sparse;           /* its query lists a sparse component */
    bool proc_native;          /* this frame: process mode over the world's tables */
    struct proc_block *blocks; /* process mode over the world's tables: the chunks */
    uint32_t nblocks, capblocks;
    uint64_t block_rows; /* size of their row space */
    /* plan */
    uint32_t level;
    uint32_t pos; /* position in the stage's linear order */
    /* per-frame */
    _Atomic int status;
    char errmsg[256];
    _Atomic uint64_t t_first, t_last;
    bool ran;      /* not skipped this frame */
    bool prepared; /* its work is queued (views, snapshot built) */
    sabre_system_stats_t st;
} system_t;

typedef struct resource {
    sname_t name;
    void *ptr;
} resource_t;

/* One unit of pool work: a `run` call or a kernel over one row range. */
typedef struct work {
    sabre_sched_t *sched;
    system_t *sys;
    sabre_snapshot_t *rows;
    uint64_t begin, end;
} work_t;

typedef struct batch {
    uint32_t first, count; /* into sched->order */
    uint32_t stage;
} batch_t;

struct sabre_sched {
    sabre_world_t *world;
    sabre_pool_t *pool;
    sabre_pool_t *own_pool;          /* created from desc threads/processes, or NULL */
    sabre_offload_t default_offload; /* sabre_sched_desc_t.offload */
    sname_t stages[SABRE_SCHED_MAX_STAGES];
    uint32_t nstages;
    system_t **sys;
    uint32_t nsys, capsys;
    resource_t *res;
    uint32_t nres, capres;
    /* plan */
    bool compiled;
    uint32_t *order; /* system indices in run order */
    batch_t *batches;
    uint32_t nbatches;
    edge_t *edges;
    uint32_t nedges, capedges;
    sabre_plan_entry_t *plan;
    uint64_t frame;
    double dt, time;
    /* per-frame scratch */
    work_t *work;
    sabre_task_t *tasks;
    uint32_t nwork, capwork, captasks;
    sabre_snapshot_t **views;
    uint32_t nviews, capviews;
    bool full_snapshots;
    bool batch_has_run;  /* this batch: a `run` system (no per-range commit beside it) */
    double fork_join_ns; /* the pool's, measured at the first dispatch decision */
    bool fork_join_measured;
    uint64_t tasks_wall_ns; /* wall time of the last batch's pool run (0: none) */
};

/* Shared between this layer's files. */
bool sabre__sched_has_comp(const sabre_component_t *v, uint32_t n, sabre_component_t c);
bool sabre__sched_has_name(const sname_t *v, uint32_t n, const char *s);
int sabre__sched_find_system(const sabre_sched_t *s, const char *name);
int sabre__sched_job_name(const system_t *y, char *buf, size_t cap);
int sabre__sched_mark_written(const system_t *y, sabre_snapshot_t *rows, uint64_t begin,
                              uint64_t end);
int sabre__sched_proc_job(const sabre_proc_job_t *job);

#endif
