/*
 * sabre/pool.h - persistent worker threads, parallel-for over row ranges,
 * task batches, an external-executor hook, and worker processes that run
 * registered jobs over a shared region.
 *
 * Threads.  A pool of N threads is the calling thread plus N-1 persistent
 * worker threads: the thread that calls sabre_pool_for() or
 * sabre_pool_wait() works too, so on a 2-core machine `threads = 2` means
 * one extra thread, not two.  Idle workers spin for a short while
 * (desc.spin_ns) and then sleep on a futex; the dispatcher issues the wake
 * system call only for workers that are actually asleep (docs/scheduling.md
 * gives the protocol and why no wake-up is ever lost).
 *
 * Parallel-for.  sabre_pool_for(pool, n, grain, fn, ctx) calls fn over
 * row ranges that cover [0, n) exactly once.  Ranges are chunks of `grain`
 * rows rounded up to a multiple of 64, so every range begins at a multiple
 * of 64 and a per-row bitset stored in u64 words is never written by two
 * threads (only the last range may end short, at n).  Threads claim chunks
 * from an atomic counter, so uneven work balances itself.
 *
 * Errors.  A job returns 0 or a status.  The first non-zero status wins:
 * remaining chunks are skipped, the call waits for the ranges already
 * running, and returns that status (a positive or unknown value becomes
 * SABRE_EJOB) with the failing thread's sabre_last_error() text re-raised
 * on the calling thread.  Rows after a failure may or may not have run.
 *
 * External executor.  If desc.executor.run is set, sabre starts no threads
 * and every parallel-for and task batch is handed to the application's job
 * system as `run(n_tasks, task_fn, task_ctx, user)`.
 *
 * Worker processes.  Jobs registered by name (sabre_pool_register) run in
 * forked child processes attached to desc.region (its fd is passed over a
 * unix socket once; the child opens it with sabre_region_open_fd).  Calls
 * and answers go through memory shared with the children (a doorbell per
 * child, spun on and then slept on with a futex, like the worker threads'),
 * so a call to children that are spinning costs no system call.  A child
 * that dies or stops answering is reported as SABRE_EPEER for that call,
 * killed and reaped, and replaced by a fresh child on the next call.
 * Children exit at sabre_pool_destroy, or by themselves when the parent
 * process is gone.  Jobs run in the child's copy of the parent's memory as
 * it was at fork time; only the region (and the job's argument bytes) are
 * shared.  A child has no worker threads: a process job must not call into
 * the parent's pools.
 *
 * Thread-safety.  One fork-join at a time per pool: sabre_pool_for,
 * sabre_pool_submit/wait and sabre_pool_process_for must not be called on
 * the same pool from two threads at once or from inside one of its own
 * jobs (that returns SABRE_ESTATE rather than deadlocking).  Jobs run
 * concurrently with each other and must only touch disjoint data or
 * synchronise themselves.  sabre_pool_register and sabre_pool_destroy must
 * not run concurrently with any other call on the pool.  sabre_pool_stats,
 * sabre_pool_threads and sabre_pool_process_pid may be called from any
 * thread at any time.
 */
#ifndef SABRE_POOL_H
#define SABRE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row ranges handed to parallel-for jobs begin at multiples of this. */
#define SABRE_POOL_ROW_ALIGN 64
/* Limits on worker-process jobs. */
#define SABRE_POOL_JOB_NAME_MAX  64    /* registered names: 1..63 bytes */
#define SABRE_POOL_ARGS_MAX      65536 /* argument bytes per process job */
#define SABRE_POOL_MAX_THREADS   1024
#define SABRE_POOL_MAX_PROCESSES 256

typedef struct sabre_pool sabre_pool_t;

/*
 * A parallel-for job: process rows [begin, end).  `worker` is the index of
 * the thread running it, 0 .. sabre_pool_threads()-1 (0 is the calling
 * thread), so per-thread scratch can be indexed by it.  Return 0 or a
 * status; on failure record a message with any sabre call that fails or
 * leave sabre_last_error() empty.
 */
typedef int (*sabre_range_fn)(void *ctx, size_t begin, size_t end, unsigned worker);

/* One independent task of a batch (e.g. one system of a scheduler batch). */
typedef struct sabre_task {
    int (*fn)(void *ctx, unsigned worker);
    void *ctx;
    int status; /* out: fn's return value (0 if it did not run) */
} sabre_task_t;

/*
 * External executor: the application's job system.  run() must call
 * task_fn(task_ctx, i) exactly once for every i in [0, n_tasks), on any
 * threads and in any order, possibly concurrently, and return only when
 * all calls have returned.  It returns 0, or non-zero if it could not run
 * them (the sabre call then fails with SABRE_EJOB, as it does when run()
 * returns 0 but no task ran).  `concurrency` is how
 * many tasks a parallel-for is split into (0 = the number of online CPUs);
 * task index i is passed to jobs as their `worker` argument.
 */
typedef void (*sabre_exec_task_fn)(void *task_ctx, unsigned task_index);
typedef struct sabre_executor {
    int (*run)(unsigned n_tasks, sabre_exec_task_fn task_fn, void *task_ctx, void *user);
    void *user;
    unsigned concurrency;
} sabre_executor_t;

/* A job of a worker process: rows [begin, end) of data in `region` (the
 * child's own handle, attached through the fd), with the caller's bytes
 * (read-only: they are shared by the processes of the call). */
typedef struct sabre_proc_job {
    sabre_region_t *region;
    const void *args; /* aligned for any type (max_align_t) */
    size_t args_len;
    size_t begin, end;
    unsigned worker;  /* index of the worker process */
    const char *name; /* the registered job name */
} sabre_proc_job_t;

/* Runs in the child process.  Return 0 or a status; the child's
 * sabre_last_error() text travels back to the parent with it. */
typedef int (*sabre_proc_job_fn)(const sabre_proc_job_t *job);

typedef struct sabre_pool_desc {
    unsigned threads;          /* total threads including the caller;
                                  0 = sysconf(_SC_NPROCESSORS_ONLN) */
    uint64_t spin_ns;          /* how long an idle thread spins before it
                                  sleeps; 0 = 50 us; UINT64_MAX = never sleep */
    sabre_executor_t executor; /* run set: sabre starts no threads */
    const char *name;          /* for messages; optional */

    /* Worker processes (optional). */
    sabre_region_t *region;      /* region the children attach to: MEMFD, SHM
                                    or FILE backing (it must have an fd) */
    unsigned processes;          /* number of worker processes; 0 = none */
    uint64_t process_timeout_ns; /* a child silent this long is killed and
                                    reported; 0 = 30 s */
} sabre_pool_desc_t;

/*
 * Create a pool and start its worker threads (desc may be NULL for the
 * defaults).  Worker processes are forked lazily by the first
 * sabre_pool_process_for (so they inherit every job registered before it).
 * The region (if any) must outlive the pool.
 * Errors: SABRE_EINVAL (threads or processes above the limits, processes
 * without a shareable region), SABRE_ENOMEM, SABRE_EIO (thread creation).
 */
int sabre_pool_create(const sabre_pool_desc_t *desc, sabre_pool_t **out);

/* Stop and join every thread, tell every child to exit and reap it (killing
 * it if it does not exit within 1 s).  NULL is ignored.  Not concurrent
 * with other calls on the pool. */
void sabre_pool_destroy(sabre_pool_t *pool);

/* Total threads that run jobs: workers + the caller (or the executor's
 * concurrency).  Job `worker` arguments are below this. */
unsigned sabre_pool_threads(const sabre_pool_t *pool);

/*
 * Run fn over [0, n) in ranges of `grain` rows rounded up to a multiple of
 * 64 (grain 0 = about four chunks per thread, at least 64 rows).  Returns
 * when every range has returned.  n == 0 returns SABRE_OK without calling
 * fn.  A single chunk, or a pool of one thread, runs on the caller without
 * waking anybody.  Errors: the job's status (see the file comment),
 * SABRE_EINVAL (fn NULL), SABRE_ESTATE (pool busy), SABRE_EJOB (the
 * external executor failed).  Clears the caller's sabre_last_error() when
 * it runs a job.
 */
int sabre_pool_for(sabre_pool_t *pool, size_t n, size_t grain, sabre_range_fn fn, void *ctx);

/*
 * Task batches: run tasks[0..n) concurrently, each exactly once.  submit
 * hands them to the worker threads and returns at once; wait runs
 * remaining tasks on the calling thread too, returns when all have
 * finished, and returns the status of the first task to fail (in time)
 * with its message; no task starts after a failure.  Each task's own
 * result is in tasks[i].status.  The tasks array must stay valid until
 * wait returns.  Between submit and wait the pool is busy (other calls get
 * SABRE_ESTATE).  With an external executor, the batch runs inside wait.
 * sabre_pool_run_tasks = submit + wait.
 * Errors: SABRE_EINVAL, SABRE_ESTATE (a batch already submitted, or wait
 * with none), a task's status.
 */
int sabre_pool_submit(sabre_pool_t *pool, sabre_task_t *tasks, size_t n);
int sabre_pool_wait(sabre_pool_t *pool);
int sabre_pool_run_tasks(sabre_pool_t *pool, sabre_task_t *tasks, size_t n);

/*
 * Register a job for worker processes under `name` (1..63 bytes).  Call
 * before sabre_pool_process_for; registering after the children exist
 * makes the next call replace them so they see the new job.
 * Errors: SABRE_EINVAL (bad name, fn NULL), SABRE_EEXIST, SABRE_ENOMEM.
 */
int sabre_pool_register(sabre_pool_t *pool, const char *name, sabre_proc_job_fn fn);

/*
 * Run the registered job `name` in the worker processes over [0, n): the
 * rows are cut into 64-aligned ranges (about four per process, at least
 * 4,096 rows each, so a small call runs in one process) that the processes
 * claim as they go; the job is called once per range, in some process,
 * and every row is covered exactly once.  After a job fails, no process
 * claims another range.  Returns when every process that was called has
 * answered or has been found dead; the job's writes to the region are then
 * visible to the caller.
 * Errors: SABRE_ENOENT (job not registered), SABRE_EINVAL (no processes,
 * args too large), SABRE_ESTATE (busy), SABRE_EPEER (a child died, e.g.
 * "worker process 1234 (job 'integrate', rows [0,4096)) was killed by
 * signal 9 (Killed)", or did not answer within the timeout and was
 * killed); the job's own status with the child's message; SABRE_EIO
 * (fork or socket failure).  A dead child is replaced on the next call.
 */
int sabre_pool_process_for(sabre_pool_t *pool, const char *name, const void *args, size_t args_len,
                           size_t n);

/* Counters, for tests and tools.  Read with relaxed atomics: a snapshot. */
typedef struct sabre_pool_stats {
    unsigned threads;         /* as sabre_pool_threads() */
    unsigned workers;         /* sabre-owned worker threads */
    unsigned sleeping;        /* worker threads asleep on their futex now */
    uint64_t dispatches;      /* fork-joins that woke worker threads */
    uint64_t inline_runs;     /* calls run entirely on the caller */
    uint64_t futex_wakes;     /* FUTEX_WAKE system calls issued (both directions) */
    unsigned processes;       /* configured worker processes */
    unsigned processes_alive; /* children running now */
    uint64_t process_spawns;  /* children forked so far */
    uint64_t process_deaths;  /* children found dead or killed for silence */
} sabre_pool_stats_t;

int sabre_pool_stats(const sabre_pool_t *pool, sabre_pool_stats_t *out);

/* The region worker processes attach to (desc.region), or NULL. */
sabre_region_t *sabre_pool_region(const sabre_pool_t *pool);

/* Pid of worker process i (0 if not running), for tests and tools. */
int sabre_pool_process_pid(const sabre_pool_t *pool, unsigned i);

#ifdef __cplusplus
}
#endif
#endif
