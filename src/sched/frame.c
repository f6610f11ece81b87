/*
 * frame.c - running a frame: batches over the pool, kernels in place, over
 * snapshots and in worker processes, marking, commit, stats and the dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "snapshot/snapshot_ranges.h"

/* --------------------------------------------------------------- frames */

static void note_time(system_t *y, uint64_t t0, uint64_t t1)
{
    uint64_t cur = atomic_load_explicit(&y->t_first, memory_order_relaxed);
    while (t0 < cur && !atomic_compare_exchange_weak_explicit(
                           &y->t_first, &cur, t0, memory_order_relaxed, memory_order_relaxed))
        ;
    cur = atomic_load_explicit(&y->t_last, memory_order_relaxed);
    while (t1 > cur && !atomic_compare_exchange_weak_explicit(
                           &y->t_last, &cur, t1, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Record a system's first failure (message included) from any thread. */
static void note_failure(system_t *y, int rc)
{
    int expected = SABRE_OK;
    if (!sabre__is_status(rc))
        rc = SABRE_EJOB;
    if (atomic_compare_exchange_strong(&y->status, &expected, rc))
        sabre__strlcpy(y->errmsg, sabre_last_error(), sizeof y->errmsg);
}

/* Run one unit of work (no timing). */
static int run_work(work_t *w, unsigned worker)
{
    system_t *y = w->sys;
    const sabre_sched_t *s = w->sched;
    int rc;
    sabre_clear_error();
    if (y->run) {
        sabre_sys_ctx_t c = {.world = s->world,
                             .sched = w->sched,
                             .query = y->query,
                             .cmd = y->cmd,
                             .dt = s->dt,
                             .time = s->time,
                             .frame = s->frame,
                             .name = y->name,
                             .user = y->user,
                             .worker = worker};
        rc = y->run(&c);
    } else {
        sabre_kernel_ctx_t c = {.rows = w->rows,
                                .begin = w->begin,
                                .end = w->end,
                                .dt = s->dt,
                                .time = s->time,
                                .frame = s->frame,
                                .args = y->args,
                                .args_len = y->args_len,
                                .user = y->user,
                                .worker = worker,
                                .terms = y->terms,
                                .nterms = y->nterms};
        rc = y->kernel(&c);
        if (rc == SABRE_OK)
            rc = sabre__sched_mark_written(y, w->rows, w->begin, w->end);
        /* Commit per range: the rows just written go back while they are
         * in this core's cache; not after a failure of the system (the
         * next frame builds it a new snapshot, see run_batch). */
        if (rc == SABRE_OK && y->range_commit &&
            atomic_load_explicit(&y->status, memory_order_relaxed) == SABRE_OK) {
            uint64_t n[3] = {0, 0, 0};
            sabre__snapshot_commit_rows(s->world, w->rows, w->begin, w->end, n);
            atomic_fetch_add_explicit(&y->range_written, n[0], memory_order_relaxed);
        }
    }
    if (rc)
        note_failure(y, rc);
    return rc;
}

/* Pool task: the work plus its timing (ranges of one system may run on
 * several threads at once, hence the atomic min/max).  A failure is kept in
 * the system's status and not returned, so the pool never drops the other
 * systems' work: every system of a batch completes, whatever fails. */
static int work_task(void *ctx, unsigned worker)
{
    work_t *w = ctx;
    uint64_t t0 = sabre__now_ns();
    (void)run_work(w, worker);
    uint64_t t1 = sabre__now_ns();
    note_time(w->sys, t0, t1);
    /* relaxed: read by the caller after the pool's join */
    atomic_fetch_add_explicit(&w->sys->busy_ns, t1 - t0, memory_order_relaxed);
    return SABRE_OK;
}

static int add_work(sabre_sched_t *s, system_t *y, sabre_snapshot_t *rows, uint64_t begin,
                    uint64_t end)
{
    int rc = sabre__grow((void **)&s->work, &s->capwork, s->nwork + 1, sizeof *s->work);
    if (rc)
        return rc;
    s->work[s->nwork++] = (work_t){.sched = s, .sys = y, .rows = rows, .begin = begin, .end = end};
    y->st.ranges += rows ? 1 : 0;
    y->st.rows += end - begin;
    return SABRE_OK;
}

/* Rows per range: the system's grain, else enough ranges to keep every
 * thread busy with a few to balance, never below 4096 rows. */
static uint64_t range_rows(const sabre_sched_t *s, const system_t *y, uint64_t total)
{
    uint64_t g = y->grain;
    if (y->run_inline) { /* one range per view */
        g = SABRE_MAX(total, 1);
    } else if (!g) {
        unsigned threads = s->pool ? sabre_pool_threads(s->pool) : 1;
        g = threads > 1 ? total / (threads * 4u) : total;
        if (g < DEFAULT_GRAIN_MIN)
            g = DEFAULT_GRAIN_MIN;
    }
    /* committed per range: ranges small enough to commit from cache */
    if (y->range_commit && !y->grain && g > COMMIT_RANGE_ROWS)
        g = COMMIT_RANGE_ROWS;
    return SABRE_ALIGN_UP(g, (uint64_t)SABRE_POOL_ROW_ALIGN);
}

static int split(sabre_sched_t *s, system_t *y, sabre_snapshot_t *rows, uint64_t n, uint64_t g)
{
    for (uint64_t b = 0; b < n; b += g) {
        int rc = add_work(s, y, rows, b, SABRE_MIN(n, b + g));
        if (rc)
            return rc;
    }
    return SABRE_OK;
}

static int keep_view(sabre_sched_t *s, sabre_snapshot_t *v)
{
    int rc = sabre__grow((void **)&s->views, &s->capviews, s->nviews + 1, sizeof *s->views);
    if (rc) {
        sabre_snapshot_free(v);
        return rc;
    }
    s->views[s->nviews++] = v;
    return SABRE_OK;
}

/* The pool's fork-join cost, measured once, at the first decision that
 * needs it. */
static void measure_fork_join(sabre_sched_t *s)
{
    if (!s->fork_join_measured) {
        s->fork_join_ns = sabre__dispatch_fork_join_ns(s->pool, 15);
        s->fork_join_measured = true;
    }
}

/* Adaptive dispatch of the `run` systems of a batch (dispatch.h): all of
 * them on the calling thread, or all on the pool.  A system's fixed
 * .dispatch wins for that system. */
static void decide_run_batch(sabre_sched_t *s, const batch_t *b)
{
    unsigned threads = s->pool ? sabre_pool_threads(s->pool) : 1;
    if (threads <= 1)
        return;
    uint32_t calls = s->nwork; /* every unit of the batch, kernels' ranges included */
    bool unmeasured = false;
    double sum = 0;
    uint32_t nrun = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->run || !y->prepared)
            continue;
        nrun++;
        if (y->disp.n_inline == 0)
            unmeasured = true;
        sum += y->disp.ns_row_inline;
    }
    if (nrun == 0)
        return;
    measure_fork_join(s);
    bool in = sabre__dispatch_batch_inline(calls, unmeasured, sum, threads, s->fork_join_ns);
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->run || !y->prepared)
            continue;
        y->decided = true;
        y->run_inline =
            y->dispatch == SABRE_DISPATCH_AUTO ? in : y->dispatch == SABRE_DISPATCH_INLINE;
    }
}

/* Adaptive dispatch (dispatch.h): whether the system's `rows` rows run
 * inline this frame. */
static void decide_dispatch(sabre_sched_t *s, system_t *y, uint64_t rows)
{
    unsigned threads = s->pool ? sabre_pool_threads(s->pool) : 1;
    y->decided = false;
    if (threads <= 1) {
        y->run_inline = false; /* serial already: nothing to decide */
        return;
    }
    y->decided = true;
    if (y->dispatch != SABRE_DISPATCH_AUTO) {
        y->run_inline = y->dispatch == SABRE_DISPATCH_INLINE;
        return;
    }
    measure_fork_join(s);
    y->run_inline = sabre__dispatch_decide(&y->disp, rows, threads, s->fork_join_ns);
}

/* After the batch: feed each decided system's run back to its model. */
static void note_dispatch(sabre_sched_t *s, const batch_t *b)
{
    uint32_t npool = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        const system_t *y = s->sys[s->order[b->first + k]];
        npool += y->prepared && y->decided && !y->run_inline;
    }
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->prepared || !y->decided)
            continue;
        if (y->run_inline)
            y->st.inline_runs++;
        else
            y->st.pool_runs++;
        if (y->run) { /* its cost per call, wherever it ran */
            sabre__dispatch_note_call(
                &y->disp, y->run_inline,
                (double)atomic_load_explicit(&y->busy_ns, memory_order_relaxed));
            continue;
        }
        if (y->dispatch != SABRE_DISPATCH_AUTO ||
            atomic_load_explicit(&y->status, memory_order_relaxed) != SABRE_OK)
            continue;
        uint64_t rows = y->disp.last_rows;
        double ns;
        if (y->run_inline) {
            ns = (double)atomic_load_explicit(&y->busy_ns, memory_order_relaxed);
        } else if (npool == 1 && s->tasks_wall_ns) {
            ns = (double)s->tasks_wall_ns; /* alone on the pool: the whole fork-join */
        } else {
            uint64_t t0 = atomic_load_explicit(&y->t_first, memory_order_relaxed);
            uint64_t t1 = atomic_load_explicit(&y->t_last, memory_order_relaxed);
            ns = (double)(t1 > t0 ? t1 - t0 : 0) + s->fork_join_ns;
        }
        sabre__dispatch_note(&y->disp, y->run_inline, rows, ns, s->fork_join_ns);
    }
}

/* In place: one native view per matched chunk, split into ranges. */
static int prepare_inplace(sabre_sched_t *s, system_t *y)
{
    uint64_t total = sabre_query_count(y->query);
    decide_dispatch(s, y, total);
    uint64_t g = range_rows(s, y, total);
    sabre_iter_t it;
    sabre_query_iter(y->query, &it);
    while (sabre_iter_next(&it)) {
        sabre_snapshot_t *v;
        int rc = sabre_snapshot_view(s->world, it.table, it.chunk, it.offset, it.count, &v);
        if (rc || (rc = keep_view(s, v)) || (rc = split(s, y, v, it.count, g)))
            return rc;
    }
    return SABRE_OK;
}

/* Snapshot executor: the parent's snapshot build/rebuild and commit copy
 * rows on the pool's threads.  They run outside run_tasks (before the
 * batch's tasks are queued, after they have joined), so the pool's single
 * fork-join is free. */
static int snap_parallel_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn,
                             void *ctx)
{
    const system_t *y = user;
    /* A system dispatched inline this frame copies its snapshot inline too:
     * rows too few to pay a fork-join for the kernel do not pay one for a
     * copy either (the jobs of the snapshot executor never fail). */
    if (y->run_inline)
        return fn(ctx, 0, n, 0);
    return sabre_pool_for(y->exec_pool, n, grain, fn, ctx);
}

/* Snapshot and process modes: (re)build the system's snapshot. */
static int prepare_snapshot(sabre_sched_t *s, system_t *y)
{
    int rc;
    bool proc = y->offload == SABRE_OFFLOAD_PROCESS;
    /* decided before the (re)build, whose copy follows the decision */
    if (!proc)
        decide_dispatch(s, y, sabre_query_count(y->query));
    y->exec_pool = s->pool;
    if (y->snap) {
        rc = sabre_snapshot_rebuild(s->world, y->snap, y->query);
        if (rc != SABRE_ENOSPC || !proc)
            goto built;
        /* An object in the shared region cannot grow: build a bigger one
         * under the next generation's name (the old space stays used). */
        sabre_snapshot_free(y->snap);
        y->snap = NULL;
        y->snap_gen++;
    }
    char name[SABRE_NAME_MAX];
    uint64_t rows = sabre_query_count(y->query);
    sabre_snapshot_desc_t d = {.comps = y->snap_comps,
                               .ncomps = y->nsnap_comps,
                               .mode = SABRE_SNAP_SHARED,
                               .backing = SABRE_BACKING_PRIVATE,
                               .region = proc ? sabre_pool_region(s->pool) : NULL,
                               .name = proc ? name : NULL,
                               .capacity = proc ? SABRE_MAX(rows + rows / 2, 1024) : 0,
                               .incremental = !s->full_snapshots};
    if (s->pool)
        d.exec = (sabre_snapshot_exec_t){.parallel_for = snap_parallel_for, .user = y};
    /* A name can be taken by an earlier generation or by another scheduler
     * sharing the region: move on to the next generation. */
    for (int tries = 0; tries < 64; tries++, y->snap_gen++) {
        snprintf(name, sizeof name, "sched.%u.%u", y->index, y->snap_gen);
        rc = sabre_snapshot_build(s->world, &d, y->query, &y->snap);
        if (rc != SABRE_EEXIST || !proc)
            break;
    }
built:
    if (rc)
        return rc;
    if (proc) {
        uint64_t n = sabre_snapshot_rows(y->snap);
        y->st.rows += n;
        y->st.ranges += n ? 1 : 0;
        return SABRE_OK;
    }
    /* Commit per range when the fast path holds (the rows are where the
     * fill found them) and no `run` system shares the batch (nothing then
     * touches the world's structure while the ranges commit). */
    y->range_commit = !s->batch_has_run && sabre__snapshot_range_commit_ok(s->world, y->snap);
    return split(s, y, y->snap, sabre_snapshot_rows(y->snap),
                 range_rows(s, y, sabre_snapshot_rows(y->snap)));
}

/* What a worker process receives for one process-offloaded system.  Two
 * shapes: a snapshot in the shared region (snap), or - when the world's
 * tables live in that region - a table of chunk blocks placed one after the
 * other in one row space, each starting at a multiple of 64 so the pool's
 * 64-aligned ranges stay 64-aligned inside every chunk.  User args follow
 * the blocks. */
typedef struct proc_block {
    char name[SABRE_NAME_MAX]; /* the chunk's region object */
    uint64_t start;            /* first row of the block in the row space */
    uint32_t first, count;     /* rows [first, first + count) of the chunk */
} proc_block_t;

typedef struct proc_args {
    sabre_sched_t *sched; /* valid in the child: it is a fork of this process */
    uint32_t sys;
    uint32_t nsys;
    uint64_t frame;
    double dt, time;
    char snap[SABRE_NAME_MAX]; /* "" for the native shape */
    uint32_t nblocks;
    uint32_t reserved;
    unsigned char data[]; /* proc_block_t[nblocks], then the user args */
} proc_args_t;

_Static_assert(sizeof(proc_args_t) % 16 == 0, "blocks and user args stay aligned");
_Static_assert(sizeof(proc_block_t) % 16 == 0, "user args stay aligned");

/* Runs the kernel over rows [begin, end) of `rows` in a worker process. */
static int proc_kernel(const sabre_proc_job_t *job, const proc_args_t *a, const system_t *y,
                       sabre_snapshot_t *rows, uint64_t begin, uint64_t end)
{
    size_t skip = sizeof *a + (size_t)a->nblocks * sizeof(proc_block_t);
    sabre_kernel_ctx_t c = {.rows = rows,
                            .begin = begin,
                            .end = end,
                            .dt = a->dt,
                            .time = a->time,
                            .frame = a->frame,
                            .args = (const char *)a + skip,
                            .args_len = job->args_len - skip,
                            .worker = job->worker,
                            .in_process = true,
                            .terms = y->terms,
                            .nterms = y->nterms};
    int rc = begin < end ? y->kernel(&c) : SABRE_OK;
    if (rc == SABRE_OK)
        rc = sabre__sched_mark_written(y, rows, begin, end);
    if (rc && !sabre_last_error()[0])
        sabre__fail(rc, "kernel of system '%s' returned %s", y->name, sabre_status_name(rc));
    return rc;
}

int sabre__sched_proc_job(const sabre_proc_job_t *job)
{
    const proc_args_t *a = job->args;
    if (job->args_len < sizeof *a ||
        (job->args_len - sizeof *a) / sizeof(proc_block_t) < a->nblocks)
        return sabre__fail(SABRE_EINVAL, "process job: %zu argument bytes are too few",
                           job->args_len);
    const sabre_sched_t *s = a->sched;
    if (a->sys >= s->nsys || s->nsys != a->nsys)
        return sabre__fail(SABRE_ESTATE,
                           "process job: system %u is unknown to this worker process (it "
                           "started before the system was registered)",
                           a->sys);
    const system_t *y = s->sys[a->sys];
    int rc = SABRE_OK;
    if (a->snap[0]) {
        sabre_snapshot_t *snap;
        if ((rc = sabre_snapshot_open(job->region, a->snap, &snap)))
            return rc;
        rc = proc_kernel(job, a, y, snap, job->begin,
                         SABRE_MIN((uint64_t)job->end, sabre_snapshot_rows(snap)));
        sabre_snapshot_free(snap);
        return rc;
    }
    const proc_block_t *blk = (const proc_block_t *)a->data;
    for (uint32_t i = 0; i < a->nblocks && rc == SABRE_OK; i++) {
        uint64_t lo = SABRE_MAX((uint64_t)job->begin, blk[i].start);
        uint64_t hi = SABRE_MIN((uint64_t)job->end, blk[i].start + blk[i].count);
        if (lo >= hi)
            continue;
        sabre_snapshot_t *view;
        char name[SABRE_NAME_MAX];
        sabre__strlcpy(name, blk[i].name, sizeof name);
        if ((rc = sabre_snapshot_open_view(job->region, name, blk[i].first, blk[i].count, &view)))
            break;
        rc = proc_kernel(job, a, y, view, lo - blk[i].start, hi - blk[i].start);
        sabre_snapshot_free(view);
    }
    return rc;
}

/* Process mode over the world's own tables: possible when they live in the
 * pool's region and the query has no `changed` filter (blocks are whole
 * chunks).  Records the blocks; false if they do not fit one request. */
static bool prepare_process_native(sabre_sched_t *s, system_t *y)
{
    y->nblocks = 0;
    y->block_rows = 0;
    if (y->has_changed || y->has_sparse ||
        sabre_world_region(s->world) != sabre_pool_region(s->pool))
        return false;
    if (sizeof(proc_args_t) + y->args_len > SABRE_POOL_ARGS_MAX)
        return false; /* the snapshot shape reports the size problem */
    size_t room = (SABRE_POOL_ARGS_MAX - sizeof(proc_args_t) - y->args_len) / sizeof(proc_block_t);
    uint64_t rows = 0;
    sabre_iter_t it;
    sabre_query_iter(y->query, &it);
    while (sabre_iter_next(&it)) {
        sabre_chunk_info_t info;
        if (y->nblocks >= room ||
            sabre__grow((void **)&y->blocks, &y->capblocks, y->nblocks + 1, sizeof *y->blocks) ||
            sabre_table_chunk(s->world, it.table, it.chunk, &info))
            return false;
        proc_block_t *b = &y->blocks[y->nblocks++];
        memset(b, 0, sizeof *b);
        sabre__strlcpy(b->name, info.object.name, sizeof b->name);
        b->start = SABRE_ALIGN_UP(y->block_rows, (uint64_t)SABRE_POOL_ROW_ALIGN);
        b->first = it.offset;
        b->count = it.count;
        y->block_rows = b->start + it.count;
        rows += it.count;
    }
    y->st.rows += rows;
    y->st.ranges += y->nblocks;
    return true;
}

static int run_process(sabre_sched_t *s, system_t *y)
{
    uint64_t rows = y->proc_native ? y->block_rows : sabre_snapshot_rows(y->snap);
    if (rows == 0)
        return SABRE_OK;
    uint32_t nblocks = y->proc_native ? y->nblocks : 0;
    size_t len = sizeof(proc_args_t) + nblocks * sizeof(proc_block_t) + y->args_len;
    proc_args_t *a = calloc(1, len);
    if (!a)
        return sabre__fail(SABRE_ENOMEM, "scheduler: out of memory");
    *a = (proc_args_t){.sched = s,
                       .sys = y->index,
                       .nsys = s->nsys,
                       .frame = s->frame,
                       .dt = s->dt,
                       .time = s->time,
                       .nblocks = nblocks};
    if (!y->proc_native) {
        sabre_object_t obj;
        int rc = sabre_snapshot_object(y->snap, &obj);
        if (rc) {
            free(a);
            return rc;
        }
        sabre__strlcpy(a->snap, obj.name, sizeof a->snap);
    }
    if (nblocks)
        memcpy(a->data, y->blocks, nblocks * sizeof(proc_block_t));
    if (y->args_len)
        memcpy(a->data + nblocks * sizeof(proc_block_t), y->args, y->args_len);
    char name[SABRE_POOL_JOB_NAME_MAX];
    sabre__sched_job_name(y, name, sizeof name);
    uint64_t t0 = sabre__now_ns();
    int rc = sabre_pool_process_for(s->pool, name, a, len, rows);
    note_time(y, t0, sabre__now_ns());
    free(a);
    if (rc)
        note_failure(y, rc);
    return rc;
}

static int run_tasks(sabre_sched_t *s)
{
    if (s->nwork == 0)
        return SABRE_OK;
    int rc = sabre__grow((void **)&s->tasks, &s->captasks, s->nwork, sizeof *s->tasks);
    if (rc)
        return rc;
    sabre_task_t *t = s->tasks;
    for (uint32_t i = 0; i < s->nwork; i++)
        t[i] = (sabre_task_t){.fn = work_task, .ctx = &s->work[i]};
    /* The pool runs the batch unless every unit belongs to a system
     * dispatched inline (or there is no pool): then the calling thread runs
     * them and no fork-join is paid. */
    bool all_inline = true;
    for (uint32_t i = 0; i < s->nwork && all_inline; i++)
        all_inline = s->work[i].sys->run_inline;
    if (s->pool && !all_inline) {
        uint64_t w0 = sabre__now_ns();
        rc = sabre_pool_run_tasks(s->pool, t, s->nwork);
        s->tasks_wall_ns = sabre__now_ns() - w0;
        return rc;
    }
    /* Serial: one clock read per unit, each unit ending where the next starts. */
    uint64_t t0 = sabre__now_ns();
    for (uint32_t i = 0; i < s->nwork; i++) {
        system_t *y = s->work[i].sys;
        (void)run_work(&s->work[i], 0); /* failures are in the system's status */
        uint64_t t1 = sabre__now_ns();
        if (t0 < atomic_load_explicit(&y->t_first, memory_order_relaxed))
            atomic_store_explicit(&y->t_first, t0, memory_order_relaxed);
        atomic_store_explicit(&y->t_last, t1, memory_order_relaxed);
        atomic_fetch_add_explicit(&y->busy_ns, t1 - t0, memory_order_relaxed);
        t0 = t1;
    }
    return SABRE_OK;
}

static int run_batch(sabre_sched_t *s, const batch_t *b)
{
    int rc = SABRE_OK;
    s->nwork = 0;
    s->tasks_wall_ns = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        /* relaxed: the pool's fork-join orders these before the tasks run */
        atomic_store_explicit(&y->status, SABRE_OK, memory_order_relaxed);
        y->errmsg[0] = '\0';
        atomic_store_explicit(&y->t_first, UINT64_MAX, memory_order_relaxed);
        atomic_store_explicit(&y->t_last, 0, memory_order_relaxed);
        atomic_store_explicit(&y->busy_ns, 0, memory_order_relaxed);
        y->ran = false;
        y->prepared = false;
        y->decided = false;
        y->run_inline = false;
        y->proc_native = false;
        y->range_commit = false;
        atomic_store_explicit(&y->range_written, 0, memory_order_relaxed);
    }
    s->batch_has_run = false;
    for (uint32_t k = 0; k < b->count; k++)
        s->batch_has_run |= s->sys[s->order[b->first + k]]->run != NULL;
    for (uint32_t k = 0; k < b->count && rc == SABRE_OK; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (y->skip_if_empty && y->query && sabre_query_count(y->query) == 0) {
            y->st.skipped++;
            continue;
        }
        y->ran = true;
        y->st.runs++;
        y->proc_native =
            y->kernel && y->offload == SABRE_OFFLOAD_PROCESS && prepare_process_native(s, y);
        if (y->run)
            rc = add_work(s, y, NULL, 0, 0);
        else if (y->offload == SABRE_OFFLOAD_INPLACE)
            rc = prepare_inplace(s, y);
        else if (!y->proc_native) {
            if (y->offload == SABRE_OFFLOAD_PROCESS)
                y->st.snapshot_fallbacks++;
            rc = prepare_snapshot(s, y);
        }
        if (rc)
            note_failure(y, rc);
        else
            y->prepared = true;
    }
    /* Everything prepared runs, even after a failure: the systems of a batch
     * are independent, and the batch ends as a whole. */
    decide_run_batch(s, b);
    int trc = run_tasks(s);
    if (rc == SABRE_OK)
        rc = trc;
    note_dispatch(s, b);
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (y->prepared && y->kernel && y->offload == SABRE_OFFLOAD_PROCESS) {
            int prc = run_process(s, y);
            if (rc == SABRE_OK)
                rc = prc;
        }
    }
    /* Commit in registration order, so the result never depends on timing;
     * a system whose kernel failed is not committed. */
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->prepared || !y->kernel || y->offload == SABRE_OFFLOAD_INPLACE || y->proc_native ||
            atomic_load_explicit(&y->status, memory_order_relaxed) != SABRE_OK)
            continue;
        if (y->range_commit) { /* its ranges committed themselves */
            sabre__snapshot_range_committed(y->snap);
            y->st.committed += atomic_load_explicit(&y->range_written, memory_order_relaxed);
            continue;
        }
        sabre_commit_stats_t cs;
        int crc = sabre_snapshot_commit(s->world, y->snap, &cs);
        if (crc) {
            note_failure(y, crc);
            if (rc == SABRE_OK)
                rc = crc;
        } else {
            y->st.committed += cs.rows_written;
        }
    }
    for (uint32_t i = 0; i < s->nviews; i++)
        sabre_snapshot_free(s->views[i]);
    s->nviews = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        /* A failed snapshot system's kernel may have written rows it never
         * marked (it failed before the marking): an incremental rebuild
         * cannot see those, so the next frame builds a new snapshot. */
        if (y->prepared && y->kernel && y->offload == SABRE_OFFLOAD_SNAPSHOT && y->snap &&
            atomic_load_explicit(&y->status, memory_order_relaxed) != SABRE_OK) {
            sabre_snapshot_free(y->snap);
            y->snap = NULL;
        }
        if (!y->ran)
            continue;
        uint64_t t0 = atomic_load_explicit(&y->t_first, memory_order_relaxed);
        uint64_t t1 = atomic_load_explicit(&y->t_last, memory_order_relaxed);
        y->st.ns_last = t1 > t0 ? t1 - t0 : 0;
        y->st.ns_total += y->st.ns_last;
    }
    /* Name the first system (in plan order) that failed. */
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        int st = atomic_load_explicit(&y->status, memory_order_relaxed);
        if (st)
            return sabre__fail(st, "system '%s' failed: %s", y->name,
                               y->errmsg[0] ? y->errmsg : sabre_strerror(st));
    }
    return rc; /* a failure outside any system (the pool itself) */
}

int sabre_sched_run_frame(sabre_sched_t *s, double dt, double time)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_run_frame: NULL scheduler");
    int rc = s->compiled ? SABRE_OK : sabre_sched_compile(s);
    if (rc)
        return rc;
    if ((rc = sabre_world_begin_tick(s->world)))
        return rc;
    s->dt = dt;
    s->time = time;
    for (uint32_t b = 0; b < s->nbatches && rc == SABRE_OK; b++)
        rc = run_batch(s, &s->batches[b]);
    /* The tick ends (command buffers flushed) even after a failure. */
    char saved[512] = "";
    if (rc)
        sabre__strlcpy(saved, sabre_last_error(), sizeof saved);
    int erc = sabre_world_end_tick(s->world);
    s->frame++;
    if (rc)
        return sabre__fail(rc, "%s", saved);
    return erc;
}

int sabre_sched_stats(const sabre_sched_t *s, const char *name, sabre_system_stats_t *out)
{
    if (!s || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_stats: NULL argument");
    int i = sabre__sched_find_system(s, name);
    if (i < 0)
        return sabre__fail(SABRE_ENOENT, "sabre_sched_stats: no system '%s'", name);
    *out = s->sys[i]->st;
    return SABRE_OK;
}
