/*
 * pool.c - persistent worker threads (spin, then futex sleep), parallel-for
 * over 64-aligned row ranges, task batches, the external-executor hook, and
 * forked worker processes running registered jobs over a shared region.
 * The protocols and their memory orders are in docs/scheduling.md.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "sabre/pool.h"

#define DEFAULT_SPIN_NS         50000ull
#define DEFAULT_PROC_TIMEOUT_NS 30000000000ull
#define MSG_MAX                 512
#define PROC_SPIN_MAX_NS        20000ull   /* the parent spins at most this before sleeping */
#define PROC_SLICE_NS           5000000ull /* it looks for dead children this often */
#define PROC_MIN_ROWS           4096u
#define CHILD_SLICE_NS          100000000ull /* an idle child looks for its parent this often */

enum job_kind { JOB_RANGE = 1, JOB_TASKS = 2 };

/* One worker thread's doorbell.  `go` is written by the dispatcher and
 * `sleeping` by the worker: they share a line because each is read by the
 * other side right after its own write (the Dekker pair), and each slot has
 * its own 128 bytes so workers never share a line. */
struct slot {
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint32_t go;
    _Atomic uint32_t sleeping;
};

struct job {
    enum job_kind kind;
    sabre_range_fn fn;
    void *ctx;
    sabre_task_t *tasks;
    size_t n, chunk, nchunks;
    _Alignas(SABRE_FALSE_SHARING) _Atomic size_t next; /* chunk counter */
    _Alignas(SABRE_FALSE_SHARING) _Atomic int status;  /* first failure */
    char msg[MSG_MAX];                                 /* written by the winner */
};

struct worker_arg {
    sabre_pool_t *pool;
    unsigned index; /* 1..nworkers */
};

struct proc {
    _Atomic int pid; /* 0 = not running; written by the owner thread only */
    uint32_t gen;    /* registry generation the child was forked with */
    int status;      /* result of the current call */
    bool outstanding;
    char msg[MSG_MAX];
};

struct reg {
    char name[SABRE_POOL_JOB_NAME_MAX];
    sabre_proc_job_fn fn;
};

/*
 * Worker processes are driven through memory shared with them (an anonymous
 * MAP_SHARED mapping made before any fork): one doorbell per child and one
 * answer counter, each spun on, then slept on with a futex - the same
 * protocol as the worker threads' doorbells, across processes.  A request
 * costs a store (and a FUTEX_WAKE only when the child sleeps); the socket
 * is used once per child, to pass the region's fd.  Every word a child
 * writes is checked before it is believed (docs/scheduling.md 1.7).
 */
struct pslot {
    /* parent -> child */
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint32_t req; /* call number, 0 = none yet */
    _Atomic uint32_t child_sleeping;                    /* Dekker flag of the child */
    uint32_t stop;                                      /* exit instead of running */
    /* child -> parent */
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint32_t ack; /* call number answered */
    int32_t status;
    uint64_t begin, end; /* the range the child runs or ran last (for messages) */
    uint32_t msg_len;
    char msg[MSG_MAX];
};

struct pshared {
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint32_t done; /* answers so far (wraps) */
    _Atomic uint32_t parent_sleeping;                    /* Dekker flag of the parent */
    /* the call: written by the parent before any doorbell rings */
    _Alignas(SABRE_FALSE_SHARING) uint32_t name_len;
    char name[SABRE_POOL_JOB_NAME_MAX];
    uint64_t args_len;
    uint64_t n, chunk, nchunks; /* rows [0,n) in nchunks ranges of `chunk` rows */
    /* children claim ranges here (fetch_add) and stop claiming once one fails */
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint64_t next;
    _Atomic uint32_t failed;
    _Alignas(SABRE_FALSE_SHARING) unsigned char args[SABRE_POOL_ARGS_MAX];
    struct pslot slot[]; /* one per worker process */
};

struct sabre_pool {
    unsigned nthreads; /* threads that run jobs (caller included) */
    unsigned nworkers; /* sabre-owned worker threads */
    uint64_t spin_ns;
    sabre_executor_t exec;
    char name[64];
    pthread_t *tids;
    struct worker_arg *wargs;
    struct slot *slots;
    unsigned started; /* threads created (for cleanup) */
    bool submitted;   /* a task batch awaits sabre_pool_wait */

    _Atomic uint32_t busy; /* one fork-join at a time */
    _Atomic bool stop;

    struct job job;

    /* Completion: workers count down `pending`; the caller sleeps on it. */
    _Alignas(SABRE_FALSE_SHARING) _Atomic uint32_t pending;
    _Atomic uint32_t main_sleeping;

    _Alignas(SABRE_FALSE_SHARING) _Atomic unsigned nsleeping;
    _Atomic uint64_t dispatches, inline_runs, futex_wakes;
    _Atomic uint64_t spawns, deaths;
    _Atomic unsigned alive;

    /* Worker processes (owner thread only). */
    sabre_region_t *region;
    unsigned nproc;
    uint64_t proc_timeout_ns;
    struct proc *procs;
    struct reg *reg;
    size_t nreg, capreg;
    uint32_t reg_gen;
    uint32_t proc_call; /* last call number rung (never 0) */
    pid_t parent_pid;
    struct pshared *shm; /* shared with the children */
    size_t shm_len;
};

/* ------------------------------------------------------------------------ */
/* Jobs                                                                      */
/* ------------------------------------------------------------------------ */

/* Record rc as the job's failure if it is the first one. */
static void record_failure(struct job *job, int rc, size_t begin, size_t end, unsigned worker)
{
    int expected = 0;
    int st = sabre__is_status(rc) ? rc : SABRE_EJOB;
    if (!atomic_compare_exchange_strong_explicit(&job->status, &expected, st, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    const char *detail = sabre_last_error();
    if (detail[0] && st == rc)
        snprintf(job->msg, sizeof job->msg, "%s", detail);
    else if (detail[0])
        snprintf(job->msg, sizeof job->msg, "job returned %d: %s", rc, detail);
    else if (job->kind == JOB_RANGE)
        snprintf(job->msg, sizeof job->msg,
                 "parallel-for job returned %d (%s) on rows [%zu,%zu), thread %u", rc,
                 sabre_status_name(st), begin, end, worker);
    else
        snprintf(job->msg, sizeof job->msg, "task %zu returned %d (%s) on thread %u", begin, rc,
                 sabre_status_name(st), worker);
}

/* Claim chunks until none are left or the job has failed. */
static void run_job(struct job *job, unsigned worker)
{
    for (;;) {
        if (atomic_load_explicit(&job->status, memory_order_relaxed) != 0)
            return;
        size_t c = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (c >= job->nchunks)
            return;
        sabre_clear_error();
        if (job->kind == JOB_RANGE) {
            size_t b = c * job->chunk;
            size_t e = SABRE_MIN(b + job->chunk, job->n);
            int rc = job->fn(job->ctx, b, e, worker);
            if (rc != 0)
                record_failure(job, rc, b, e, worker);
        } else {
            sabre_task_t *t = &job->tasks[c];
            int rc = t->fn(t->ctx, worker);
            t->status = rc;
            if (rc != 0)
                record_failure(job, rc, c, c + 1, worker);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Worker threads                                                            */
/* ------------------------------------------------------------------------ */

/* Wait until slot->go differs from `seen`: spin, then sleep on the futex.
 * Dekker pair with dispatch(): we store sleeping=1 then load go (both
 * seq_cst); the dispatcher stores go then loads sleeping (seq_cst).  One of
 * the two loads must observe the other side's store, so either we see the
 * new go and do not sleep, or the dispatcher sees sleeping and wakes us
 * (and a wake that lands before FUTEX_WAIT is harmless: the kernel
 * compares go with `seen` and returns at once). */
static uint32_t wait_for_go(sabre_pool_t *pool, struct slot *slot, uint32_t seen)
{
    uint64_t start = sabre__now_ns();
    unsigned spins = 0;
    for (;;) {
        uint32_t g = atomic_load_explicit(&slot->go, memory_order_acquire);
        if (g != seen)
            return g;
        if (sabre__spin_expired(pool->spin_ns, start, &spins)) {
            atomic_fetch_add_explicit(&pool->nsleeping, 1, memory_order_relaxed);
            atomic_store_explicit(&slot->sleeping, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&slot->go, memory_order_seq_cst) == seen)
                sabre__futex_wait(&slot->go, seen, UINT64_MAX);
            atomic_store_explicit(&slot->sleeping, 0, memory_order_relaxed);
            atomic_fetch_sub_explicit(&pool->nsleeping, 1, memory_order_relaxed);
            start = sabre__now_ns();
            spins = 0;
            continue;
        }
        sabre__cpu_relax();
    }
}

/* A worker's share is done: count down, wake the caller if it sleeps
 * (the same Dekker pair as above, on pending/main_sleeping). */
static void finish_share(sabre_pool_t *pool)
{
    if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_seq_cst) == 1 &&
        atomic_load_explicit(&pool->main_sleeping, memory_order_seq_cst)) {
        sabre__futex_wake(&pool->pending, 1);
        atomic_fetch_add_explicit(&pool->futex_wakes, 1, memory_order_relaxed);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    sabre_pool_t *pool = wa->pool;
    struct slot *slot = &pool->slots[wa->index - 1];
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_go(pool, slot, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        run_job(&pool->job, wa->index);
        finish_share(pool);
    }
    return NULL;
}

/* Ring worker i's doorbell (see wait_for_go for the race-freedom argument). */
static void ring(sabre_pool_t *pool, unsigned i)
{
    struct slot *slot = &pool->slots[i];
    atomic_fetch_add_explicit(&slot->go, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&slot->sleeping, memory_order_seq_cst)) {
        sabre__futex_wake(&slot->go, 1);
        atomic_fetch_add_explicit(&pool->futex_wakes, 1, memory_order_relaxed);
    }
}

/* Start `helpers` workers on pool->job (already filled in). */
static void dispatch(sabre_pool_t *pool, unsigned helpers)
{
    atomic_store_explicit(&pool->pending, helpers, memory_order_relaxed);
    for (unsigned i = 0; i < helpers; i++)
        ring(pool, i); /* the seq_cst RMW on go releases the job fields and pending */
    atomic_fetch_add_explicit(&pool->dispatches, 1, memory_order_relaxed);
}

/* Wait until every dispatched worker has finished its share. */
static void join(sabre_pool_t *pool)
{
    uint64_t start = sabre__now_ns();
    unsigned spins = 0;
    for (;;) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0)
            return;
        if (sabre__spin_expired(pool->spin_ns, start, &spins)) {
            atomic_store_explicit(&pool->main_sleeping, 1, memory_order_seq_cst);
            uint32_t v = atomic_load_explicit(&pool->pending, memory_order_seq_cst);
            if (v != 0)
                sabre__futex_wait(&pool->pending, v, UINT64_MAX);
            atomic_store_explicit(&pool->main_sleeping, 0, memory_order_relaxed);
            start = sabre__now_ns();
            spins = 0;
            continue;
        }
        sabre__cpu_relax();
    }
}

static bool acquire_busy(sabre_pool_t *pool)
{
    uint32_t expected = 0;
    return atomic_compare_exchange_strong_explicit(&pool->busy, &expected, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static void release_busy(sabre_pool_t *pool)
{
    atomic_store_explicit(&pool->busy, 0, memory_order_release);
}

static int busy_error(const sabre_pool_t *pool, const char *what)
{
    return sabre__fail(SABRE_ESTATE,
                       "pool '%s': %s while another call on the pool is running (one fork-join "
                       "at a time; not from inside a pool job)",
                       pool->name, what);
}

static void job_reset(struct job *job)
{
    atomic_store_explicit(&job->next, 0, memory_order_relaxed);
    atomic_store_explicit(&job->status, 0, memory_order_relaxed);
    job->msg[0] = '\0';
}

struct exec_ctx {
    struct job *job;
};

static void exec_task(void *task_ctx, unsigned task_index)
{
    struct exec_ctx *ec = task_ctx;
    run_job(ec->job, task_index);
}

/* Run pool->job on the external executor with up to `want` tasks. */
static int run_on_executor(sabre_pool_t *pool, size_t want)
{
    struct exec_ctx ec = {&pool->job};
    unsigned ntasks = (unsigned)SABRE_MIN(want, (size_t)pool->nthreads);
    if (ntasks == 0)
        return SABRE_OK;
    int rc = pool->exec.run(ntasks, exec_task, &ec, pool->exec.user);
    atomic_fetch_add_explicit(&pool->dispatches, 1, memory_order_relaxed);
    if (atomic_load_explicit(&pool->job.status, memory_order_acquire) != 0)
        return SABRE_OK; /* the job's own failure is reported */
    if (rc != 0)
        return sabre__fail(SABRE_EJOB, "pool '%s': external executor run() returned %d", pool->name,
                           rc);
    /* Any task that ran claimed chunks until none were left. */
    if (atomic_load_explicit(&pool->job.next, memory_order_acquire) < pool->job.nchunks)
        return sabre__fail(SABRE_EJOB,
                           "pool '%s': external executor run() returned 0 without running the "
                           "%u tasks it was given",
                           pool->name, ntasks);
    return SABRE_OK;
}

static int job_result(sabre_pool_t *pool)
{
    int st = atomic_load_explicit(&pool->job.status, memory_order_acquire);
    if (st != 0)
        return sabre__fail(st, "%s", pool->job.msg);
    return SABRE_OK;
}

int sabre_pool_for(sabre_pool_t *pool, size_t n, size_t grain, sabre_range_fn fn, void *ctx)
{
    if (!pool || !fn)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_for: %s is NULL", pool ? "fn" : "pool");
    if (n == 0)
        return SABRE_OK;
    if (n > SIZE_MAX / 2)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_for: %zu rows is too many", n);
    if (!acquire_busy(pool))
        return busy_error(pool, "sabre_pool_for called");

    size_t chunk;
    if (grain == 0) /* about four chunks per thread balances uneven rows */
        grain = n / ((size_t)pool->nthreads * 4) + 1;
    chunk = SABRE_MIN(grain, n);
    chunk = SABRE_ALIGN_UP(chunk, (size_t)SABRE_POOL_ROW_ALIGN);
    struct job *job = &pool->job;
    job->kind = JOB_RANGE;
    job->fn = fn;
    job->ctx = ctx;
    job->tasks = NULL;
    job->n = n;
    job->chunk = chunk;
    job->nchunks = n / chunk + (n % chunk != 0);
    job_reset(job);

    int rc = SABRE_OK;
    if (pool->exec.run) {
        rc = run_on_executor(pool, job->nchunks);
    } else if (job->nchunks == 1 || pool->nworkers == 0) {
        atomic_fetch_add_explicit(&pool->inline_runs, 1, memory_order_relaxed);
        run_job(job, 0);
    } else {
        unsigned helpers = (unsigned)SABRE_MIN(job->nchunks - 1, (size_t)pool->nworkers);
        dispatch(pool, helpers);
        run_job(job, 0);
        join(pool);
    }
    if (rc == SABRE_OK)
        rc = job_result(pool);
    release_busy(pool);
    return rc;
}

int sabre_pool_submit(sabre_pool_t *pool, sabre_task_t *tasks, size_t n)
{
    if (!pool || (!tasks && n))
        return sabre__fail(SABRE_EINVAL, "sabre_pool_submit: %s is NULL", pool ? "tasks" : "pool");
    for (size_t i = 0; i < n; i++)
        if (!tasks[i].fn)
            return sabre__fail(SABRE_EINVAL, "sabre_pool_submit: task %zu has no fn", i);
    if (!acquire_busy(pool))
        return busy_error(pool, "sabre_pool_submit called");
    for (size_t i = 0; i < n; i++)
        tasks[i].status = 0;
    struct job *job = &pool->job;
    job->kind = JOB_TASKS;
    job->fn = NULL;
    job->ctx = NULL;
    job->tasks = tasks;
    job->n = n;
    job->chunk = 1;
    job->nchunks = n;
    job_reset(job);
    pool->submitted = true;
    if (!pool->exec.run && n > 0 && pool->nworkers > 0)
        dispatch(pool, (unsigned)SABRE_MIN(n, (size_t)pool->nworkers));
    else
        atomic_store_explicit(&pool->pending, 0, memory_order_relaxed);
    return SABRE_OK;
}

int sabre_pool_wait(sabre_pool_t *pool)
{
    if (!pool)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_wait: pool is NULL");
    /* busy is held by the submitter; `submitted` is only touched by it. */
    if (!pool->submitted)
        return sabre__fail(SABRE_ESTATE, "pool '%s': sabre_pool_wait without a submitted batch",
                           pool->name);
    int rc = SABRE_OK;
    if (pool->exec.run) {
        rc = run_on_executor(pool, pool->job.nchunks);
    } else {
        if (pool->nworkers == 0 || pool->job.nchunks == 0)
            atomic_fetch_add_explicit(&pool->inline_runs, 1, memory_order_relaxed);
        run_job(&pool->job, 0);
        join(pool);
    }
    if (rc == SABRE_OK)
        rc = job_result(pool);
    pool->submitted = false;
    release_busy(pool);
    return rc;
}

int sabre_pool_run_tasks(sabre_pool_t *pool, sabre_task_t *tasks, size_t n)
{
    int rc = sabre_pool_submit(pool, tasks, n);
    if (rc != SABRE_OK)
        return rc;
    return sabre_pool_wait(pool);
}

/* ------------------------------------------------------------------------ */
/* Worker processes                                                          */
/* ------------------------------------------------------------------------ */

static const struct reg *find_reg(const struct reg *reg, size_t nreg, const char *name)
{
    for (size_t i = 0; i < nreg; i++)
        if (!strcmp(reg[i].name, name))
            return &reg[i];
    return NULL;
}

/* The child: wait for the next call on its doorbell (spin, then futex
 * sleep; Dekker pair with ring_child).  An idle child wakes every
 * CHILD_SLICE_NS to see whether its parent is still there. */
static uint32_t child_wait(const sabre_pool_t *pool, struct pslot *sl, uint32_t seen)
{
    uint64_t start = sabre__now_ns();
    uint64_t spin = SABRE_MIN(pool->spin_ns, CHILD_SLICE_NS); /* then look for the parent */
    unsigned spins = 0;
    bool slept = false;
    for (;;) {
        uint32_t r = atomic_load_explicit(&sl->req, memory_order_acquire);
        if (r != seen)
            return r;
        if (slept || sabre__spin_expired(spin, start, &spins)) {
            atomic_store_explicit(&sl->child_sleeping, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&sl->req, memory_order_seq_cst) == seen)
                sabre__futex_wait(&sl->req, seen, CHILD_SLICE_NS);
            atomic_store_explicit(&sl->child_sleeping, 0, memory_order_relaxed);
            if (getppid() != pool->parent_pid)
                _exit(0); /* orphaned: nobody will ever call again */
            slept = true;
            continue;
        }
        sabre__cpu_relax();
    }
}

/* The child's share of a call: claim ranges until none are left or a
 * child has failed. */
static int child_run(struct pshared *sh, struct pslot *sl, const struct reg *r,
                     sabre_region_t *region, unsigned index, const char *name)
{
    sabre_proc_job_t job = {
        .region = region,
        .args = sh->args, /* the parent does not touch them until every child answered */
        .args_len = (size_t)SABRE_MIN(sh->args_len, (uint64_t)SABRE_POOL_ARGS_MAX),
        .worker = index,
        .name = name,
    };
    while (!atomic_load_explicit(&sh->failed, memory_order_relaxed)) {
        uint64_t c = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed);
        if (c >= sh->nchunks)
            return SABRE_OK;
        sl->begin = c * sh->chunk;
        sl->end = SABRE_MIN(sl->begin + sh->chunk, sh->n);
        job.begin = (size_t)sl->begin;
        job.end = (size_t)sl->end;
        sabre_clear_error();
        int st = r->fn(&job);
        if (st) {
            atomic_store_explicit(&sh->failed, 1, memory_order_relaxed);
            return st;
        }
    }
    return SABRE_OK;
}

/* The child: attach to the region through the fd received on `sock`, then
 * serve calls rung on its doorbell until told to stop (or orphaned).
 * Never returns.  PR_SET_PDEATHSIG fires when the *thread* that forked
 * exits, so it is only armed when the main thread forked (its exit ends
 * the process); otherwise an idle child notices the parent's death within
 * CHILD_SLICE_NS. */
static void child_main(sabre_pool_t *pool, unsigned index, int sock, bool deathsig)
    __attribute__((noreturn));
static void child_main(sabre_pool_t *pool, unsigned index, int sock, bool deathsig)
{
    if (deathsig) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != pool->parent_pid)
            _exit(0); /* the parent died before the line above took effect */
    }
    int fd = -1;
    sabre_region_t *region = NULL;
    if (sabre_fd_recv(sock, &fd, NULL, 0, NULL) != SABRE_OK || fd < 0)
        _exit(2);
    close(sock);
    int rc = sabre_region_open_fd(fd, 0, &region);
    close(fd);
    struct pshared *sh = pool->shm;
    struct pslot *sl = &sh->slot[index];
    uint32_t seen = 0; /* the parent zeroed the slot before forking */
    for (;;) {
        seen = child_wait(pool, sl, seen);
        if (sl->stop)
            break;
        char name[SABRE_POOL_JOB_NAME_MAX];
        uint32_t nl = SABRE_MIN(sh->name_len, (uint32_t)SABRE_POOL_JOB_NAME_MAX - 1);
        memcpy(name, sh->name, nl);
        name[nl] = '\0';
        int st;
        sabre_clear_error();
        if (rc != SABRE_OK) {
            st = rc; /* the attach failed: every job reports why */
        } else {
            const struct reg *r = find_reg(pool->reg, pool->nreg, name);
            if (!r)
                st = sabre__fail(SABRE_ENOENT, "worker process %d has no job '%s'",
                                 (int)sabre__self_pid(), name);
            else
                st = child_run(sh, sl, r, region, index, name);
        }
        const char *msg = st ? sabre_last_error() : "";
        size_t len = strnlen(msg, MSG_MAX - 1);
        memcpy(sl->msg, msg, len);
        sl->msg[len] = '\0';
        sl->msg_len = (uint32_t)len;
        sl->status = st;
        /* release: status and message before the answer */
        atomic_store_explicit(&sl->ack, seen, memory_order_release);
        atomic_fetch_add_explicit(&sh->done, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&sh->parent_sleeping, memory_order_seq_cst))
            sabre__futex_wake(&sh->done, 1);
    }
    sabre_region_close(region);
    _exit(0);
}

static void close_proc(sabre_pool_t *pool, struct proc *p)
{
    if (atomic_load_explicit(&p->pid, memory_order_relaxed) > 0)
        atomic_fetch_sub_explicit(&pool->alive, 1, memory_order_relaxed);
    atomic_store_explicit(&p->pid, 0, memory_order_relaxed);
}

/* Wait for pid to exit, at most `ms` milliseconds; returns true and its
 * wait status if it did (or cannot be waited for any more). */
static bool reap_within(pid_t pid, unsigned ms, int *wstatus)
{
    for (unsigned i = 0;; i++) {
        pid_t r = waitpid(pid, wstatus, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR) {
            *wstatus = -1; /* ECHILD: somebody else reaped it (SIGCHLD ignored) */
            return true;
        }
        if (i >= ms)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Kill and reap a child; returns its wait status (-1 if unknown). */
static int kill_proc(sabre_pool_t *pool, struct proc *p)
{
    int ws = -1;
    pid_t pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
            ;
    }
    close_proc(pool, p);
    return ws;
}

static void describe_exit(int ws, char *buf, size_t cap)
{
    if (ws == -1)
        snprintf(buf, cap, "exited (status unknown: it was reaped elsewhere)");
    else if (WIFSIGNALED(ws))
        snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(ws), strsignal(WTERMSIG(ws)));
    else if (WIFEXITED(ws))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(ws));
    else
        snprintf(buf, cap, "stopped (wait status 0x%x)", ws);
}

/* Child p's call ends with SABRE_EPEER and `how` it ended. */
static void proc_lost(sabre_pool_t *pool, struct proc *p, pid_t pid, const char *job,
                      const char *how)
{
    /* the child is gone (reaped): its last range no longer moves */
    const struct pslot *sl = &pool->shm->slot[p - pool->procs];
    if (sl->end > sl->begin)
        snprintf(p->msg, sizeof p->msg, "worker process %d (job '%s', rows [%llu,%llu)) %s",
                 (int)pid, job, (unsigned long long)sl->begin, (unsigned long long)sl->end, how);
    else
        snprintf(p->msg, sizeof p->msg, "worker process %d (job '%s', no rows yet) %s", (int)pid,
                 job, how);
    p->status = SABRE_EPEER;
    p->outstanding = false;
    atomic_fetch_add_explicit(&pool->deaths, 1, memory_order_relaxed);
}

/* If child p has exited, reap it and end its call with SABRE_EPEER. */
static void check_exited(sabre_pool_t *pool, struct proc *p, const char *job)
{
    pid_t pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
    int ws;
    pid_t w = waitpid(pid, &ws, WNOHANG);
    if (w != pid && !(w < 0 && errno == ECHILD))
        return;
    close_proc(pool, p);
    char how[128];
    describe_exit(w == pid ? ws : -1, how, sizeof how);
    proc_lost(pool, p, pid, job, how);
}

/* Zero child i's slot: the child starts from call number 0. */
static void reset_slot(sabre_pool_t *pool, unsigned i)
{
    struct pslot *sl = &pool->shm->slot[i];
    atomic_store_explicit(&sl->req, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->ack, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->child_sleeping, 0, memory_order_relaxed);
    sl->stop = 0;
}

static int spawn(sabre_pool_t *pool, unsigned i)
{
    struct proc *p = &pool->procs[i];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return sabre__fail_errno(errno, "pool '%s': socketpair for worker process %u", pool->name,
                                 i);
    reset_slot(pool, i);
    bool from_main_thread = sabre__plat_is_main_thread();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return sabre__fail_errno(e, "pool '%s': fork of worker process %u", pool->name, i);
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(pool, i, sv[1], from_main_thread);
    }
    close(sv[1]);
    p->gen = pool->reg_gen;
    atomic_store_explicit(&p->pid, pid, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->alive, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->spawns, 1, memory_order_relaxed);
    /* No message bytes: sabre_fd_send frames a message as a length prefix
     * that sabre_fd_recv reads separately, which a SEQPACKET socket would
     * truncate; the bare descriptor is one 4-byte packet. */
    int rc = sabre_fd_send(sv[0], sabre_region_fd(pool->region), NULL, 0);
    close(sv[0]);
    if (rc != SABRE_OK) {
        kill_proc(pool, p);
        return rc;
    }
    return SABRE_OK;
}

/* Make sure child i is running with the current registry. */
static int ensure_child(sabre_pool_t *pool, unsigned i)
{
    struct proc *p = &pool->procs[i];
    pid_t pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
    if (pid > 0) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) { /* died while idle */
            close_proc(pool, p);
            atomic_fetch_add_explicit(&pool->deaths, 1, memory_order_relaxed);
        } else if (p->gen != pool->reg_gen) { /* forked before a registration */
            kill_proc(pool, p);
        }
    }
    if (atomic_load_explicit(&p->pid, memory_order_relaxed) == 0)
        return spawn(pool, i);
    return SABRE_OK;
}

/* Ring child i's doorbell with `call` (Dekker pair with child_wait: we
 * store req then load child_sleeping, both seq_cst). */
static void ring_child(sabre_pool_t *pool, unsigned i, uint32_t call)
{
    struct pslot *sl = &pool->shm->slot[i];
    atomic_store_explicit(&sl->req, call, memory_order_seq_cst);
    if (atomic_load_explicit(&sl->child_sleeping, memory_order_seq_cst)) {
        sabre__futex_wake(&sl->req, 1);
        atomic_fetch_add_explicit(&pool->futex_wakes, 1, memory_order_relaxed);
    }
}

static uint32_t next_call(sabre_pool_t *pool)
{
    if (++pool->proc_call == 0)
        pool->proc_call = 1; /* 0 means "no call yet" in a fresh slot */
    return pool->proc_call;
}

/* Take child i's answer to `call` if it has come.  The child's words are
 * checked, never trusted: an answer that does not make sense kills it. */
static void take_answer(sabre_pool_t *pool, unsigned i, uint32_t call, const char *name)
{
    struct proc *p = &pool->procs[i];
    struct pslot *sl = &pool->shm->slot[i];
    uint32_t ack = atomic_load_explicit(&sl->ack, memory_order_acquire);
    if (ack != call)
        return;
    int32_t st = sl->status;
    uint32_t len = sl->msg_len;
    p->outstanding = false;
    p->status = st == 0 ? 0 : sabre__is_status(st) ? st : SABRE_EJOB;
    if (st == 0)
        return;
    if (len >= MSG_MAX) {
        pid_t pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
        kill_proc(pool, p);
        proc_lost(pool, p, pid, name, "sent a malformed answer and was killed");
    } else if (len) {
        snprintf(p->msg, sizeof p->msg, "%.*s", (int)len, sl->msg);
    } else {
        snprintf(p->msg, sizeof p->msg,
                 "job '%s' returned %d in worker process %d (rows [%llu,%llu))", name, (int)st,
                 atomic_load_explicit(&p->pid, memory_order_relaxed), (unsigned long long)sl->begin,
                 (unsigned long long)sl->end);
    }
}

/* Wait for the answers of children [0, k) to `call`: spin briefly, then
 * sleep on the answer counter (Dekker pair with child_main), looking for
 * dead children every PROC_SLICE_NS and killing silent ones at the
 * deadline. */
static void collect(sabre_pool_t *pool, unsigned k, uint32_t call, const char *name)
{
    struct pshared *sh = pool->shm;
    uint64_t start = sabre__now_ns(), deadline = start + pool->proc_timeout_ns;
    uint64_t spin = SABRE_MIN(pool->spin_ns, PROC_SPIN_MAX_NS);
    unsigned spins = 0;
    for (;;) {
        uint32_t d = atomic_load_explicit(&sh->done, memory_order_acquire);
        unsigned left = 0;
        for (unsigned i = 0; i < k; i++)
            if (pool->procs[i].outstanding) {
                take_answer(pool, i, call, name);
                left += pool->procs[i].outstanding;
            }
        if (left == 0)
            return;
        if (!sabre__spin_expired(spin, start, &spins)) {
            sabre__cpu_relax();
            continue;
        }
        uint64_t now = sabre__now_ns();
        if (now >= deadline) {
            for (unsigned i = 0; i < k; i++) {
                struct proc *p = &pool->procs[i];
                if (!p->outstanding)
                    continue;
                pid_t pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
                kill_proc(pool, p);
                char how[96];
                snprintf(how, sizeof how, "did not answer within %llu ms and was killed",
                         (unsigned long long)(pool->proc_timeout_ns / 1000000));
                proc_lost(pool, p, pid, name, how);
            }
            return;
        }
        atomic_store_explicit(&sh->parent_sleeping, 1, memory_order_seq_cst);
        int w = SABRE_OK;
        if (atomic_load_explicit(&sh->done, memory_order_seq_cst) == d)
            w = sabre__futex_wait(&sh->done, d, SABRE_MIN(deadline - now, PROC_SLICE_NS));
        atomic_store_explicit(&sh->parent_sleeping, 0, memory_order_relaxed);
        if (w == SABRE_ETIMEDOUT)
            for (unsigned i = 0; i < k; i++)
                if (pool->procs[i].outstanding) {
                    take_answer(pool, i, call, name); /* it may have answered, then exited */
                    if (pool->procs[i].outstanding)
                        check_exited(pool, &pool->procs[i], name);
                }
    }
}

int sabre_pool_register(sabre_pool_t *pool, const char *name, sabre_proc_job_fn fn)
{
    if (!pool || !name || !fn)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_register: %s is NULL",
                           !pool   ? "pool"
                           : !name ? "name"
                                   : "fn");
    size_t len = strlen(name);
    if (len == 0 || len >= SABRE_POOL_JOB_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "pool '%s': job name must be 1..%d bytes, got %zu",
                           pool->name, SABRE_POOL_JOB_NAME_MAX - 1, len);
    if (find_reg(pool->reg, pool->nreg, name))
        return sabre__fail(SABRE_EEXIST, "pool '%s': job '%s' is already registered", pool->name,
                           name);
    if (pool->nreg == pool->capreg) {
        size_t cap = pool->capreg ? pool->capreg * 2 : 8;
        struct reg *r = realloc(pool->reg, cap * sizeof *r);
        if (!r)
            return sabre__fail(SABRE_ENOMEM, "pool '%s': registering job '%s'", pool->name, name);
        pool->reg = r;
        pool->capreg = cap;
    }
    sabre__strlcpy(pool->reg[pool->nreg].name, name, SABRE_POOL_JOB_NAME_MAX);
    pool->reg[pool->nreg].fn = fn;
    pool->nreg++;
    pool->reg_gen++;
    return SABRE_OK;
}

int sabre_pool_process_for(sabre_pool_t *pool, const char *name, const void *args, size_t args_len,
                           size_t n)
{
    if (!pool || !name)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_process_for: %s is NULL",
                           pool ? "name" : "pool");
    if (pool->nproc == 0)
        return sabre__fail(SABRE_EINVAL, "pool '%s' has no worker processes (desc.processes)",
                           pool->name);
    if (args_len > SABRE_POOL_ARGS_MAX || (args_len && !args))
        return sabre__fail(SABRE_EINVAL, "pool '%s': job '%s' args of %zu bytes (max %d)",
                           pool->name, name, args_len, SABRE_POOL_ARGS_MAX);
    if (!find_reg(pool->reg, pool->nreg, name))
        return sabre__fail(SABRE_ENOENT, "pool '%s': no job named '%s' is registered", pool->name,
                           name);
    if (n == 0)
        return SABRE_OK;
    if (!acquire_busy(pool))
        return busy_error(pool, "sabre_pool_process_for called");

    /* About four ranges per process, claimed as they go (a process slowed
     * down by a neighbour takes fewer), each at least PROC_MIN_ROWS rows so
     * that a small call wakes one process, not all of them. */
    size_t parts = (size_t)pool->nproc * 4;
    size_t chunk = SABRE_MAX(n / parts + (n % parts != 0), (size_t)PROC_MIN_ROWS);
    chunk = SABRE_ALIGN_UP(chunk, (size_t)SABRE_POOL_ROW_ALIGN);
    size_t nchunks = n / chunk + (n % chunk != 0);
    unsigned k = (unsigned)SABRE_MIN(nchunks, (size_t)pool->nproc);
    int rc = SABRE_OK;
    for (unsigned i = 0; i < k && rc == SABRE_OK; i++)
        rc = ensure_child(pool, i);
    if (rc != SABRE_OK) {
        release_busy(pool);
        return rc;
    }

    /* Every child of the last call has answered or is gone: the call area
     * is ours to rewrite. */
    struct pshared *sh = pool->shm;
    size_t name_len = strlen(name);
    sh->name_len = (uint32_t)name_len;
    memcpy(sh->name, name, name_len + 1);
    sh->args_len = args_len;
    if (args_len)
        memcpy(sh->args, args, args_len);
    sh->n = n;
    sh->chunk = chunk;
    sh->nchunks = nchunks;
    atomic_store_explicit(&sh->next, 0, memory_order_relaxed);
    atomic_store_explicit(&sh->failed, 0, memory_order_relaxed);
    uint32_t call = next_call(pool);
    for (unsigned i = 0; i < k; i++) {
        struct proc *p = &pool->procs[i];
        p->status = SABRE_OK;
        p->msg[0] = '\0';
        p->outstanding = true;
        sh->slot[i].begin = sh->slot[i].end = 0;
        ring_child(pool, i, call); /* seq_cst store: releases the call */
    }
    collect(pool, k, call, name);
    for (unsigned i = 0; i < k; i++)
        if (pool->procs[i].status != SABRE_OK) {
            rc = sabre__fail(pool->procs[i].status, "%s", pool->procs[i].msg);
            break;
        }
    release_busy(pool);
    return rc;
}

int sabre_pool_process_pid(const sabre_pool_t *pool, unsigned i)
{
    if (!pool || i >= pool->nproc)
        return 0;
    return atomic_load_explicit(&pool->procs[i].pid, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                  */
/* ------------------------------------------------------------------------ */

static void stop_threads(sabre_pool_t *pool)
{
    atomic_store_explicit(&pool->stop, true, memory_order_release);
    for (unsigned i = 0; i < pool->started; i++) {
        atomic_fetch_add_explicit(&pool->slots[i].go, 1, memory_order_seq_cst);
        sabre__futex_wake(&pool->slots[i].go, 1);
    }
    for (unsigned i = 0; i < pool->started; i++)
        pthread_join(pool->tids[i], NULL);
    pool->started = 0;
}

static void stop_processes(sabre_pool_t *pool)
{
    if (!pool->procs)
        return;
    /* Ring every child with `stop`; give them 1 s together to exit. */
    pid_t pids[SABRE_POOL_MAX_PROCESSES];
    uint32_t call = next_call(pool);
    for (unsigned i = 0; i < pool->nproc; i++) {
        pids[i] = atomic_load_explicit(&pool->procs[i].pid, memory_order_relaxed);
        if (pids[i] > 0) {
            pool->shm->slot[i].stop = 1;
            ring_child(pool, i, call);
        }
    }
    uint64_t deadline = sabre__now_ns() + 1000000000ull;
    for (unsigned i = 0; i < pool->nproc; i++) {
        if (pids[i] <= 0)
            continue;
        int ws;
        uint64_t now = sabre__now_ns();
        unsigned ms = now < deadline ? (unsigned)((deadline - now) / 1000000) : 0;
        if (!reap_within(pids[i], ms, &ws)) {
            kill(pids[i], SIGKILL);
            while (waitpid(pids[i], &ws, 0) < 0 && errno == EINTR)
                ;
        }
        atomic_store_explicit(&pool->procs[i].pid, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&pool->alive, 0, memory_order_relaxed);
}

static void free_pool(sabre_pool_t *pool)
{
    free(pool->tids);
    free(pool->wargs);
    free(pool->slots);
    free(pool->procs);
    free(pool->reg);
    if (pool->shm)
        munmap(pool->shm, pool->shm_len);
    free(pool);
}

int sabre_pool_create(const sabre_pool_desc_t *desc, sabre_pool_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_create: out is NULL");
    *out = NULL;
    sabre_pool_desc_t d = {0};
    if (desc)
        d = *desc;
    const char *name = d.name ? d.name : "pool";
    long online = (long)sabre__plat_cpus();
    unsigned nthreads = d.threads ? d.threads : (unsigned)SABRE_MIN(online, 1024L);
    if (d.executor.run)
        nthreads =
            d.executor.concurrency ? d.executor.concurrency : (unsigned)SABRE_MIN(online, 1024L);
    if (nthreads > SABRE_POOL_MAX_THREADS)
        return sabre__fail(SABRE_EINVAL, "pool '%s': %u threads requested, at most %d", name,
                           nthreads, SABRE_POOL_MAX_THREADS);
    if (d.processes > SABRE_POOL_MAX_PROCESSES)
        return sabre__fail(SABRE_EINVAL, "pool '%s': %u processes requested, at most %d", name,
                           d.processes, SABRE_POOL_MAX_PROCESSES);
    if (d.processes && (!d.region || sabre_region_fd(d.region) < 0))
        return sabre__fail(SABRE_EINVAL,
                           "pool '%s': worker processes need a region with an fd (MEMFD, SHM "
                           "or FILE backing), got %s",
                           name, d.region ? "a PRIVATE region" : "no region");

    sabre_pool_t *pool = aligned_alloc(SABRE_FALSE_SHARING,
                                       SABRE_ALIGN_UP(sizeof *pool, (size_t)SABRE_FALSE_SHARING));
    if (!pool)
        return sabre__fail(SABRE_ENOMEM, "pool '%s': out of memory", name);
    memset(pool, 0, sizeof *pool);
    sabre__strlcpy(pool->name, name, sizeof pool->name);
    pool->nthreads = nthreads;
    pool->nworkers = d.executor.run ? 0 : nthreads - 1;
    pool->spin_ns = d.spin_ns ? d.spin_ns : DEFAULT_SPIN_NS;
    pool->exec = d.executor;
    pool->region = d.region;
    pool->nproc = d.processes;
    pool->proc_timeout_ns = d.process_timeout_ns ? d.process_timeout_ns : DEFAULT_PROC_TIMEOUT_NS;
    pool->parent_pid = sabre__self_pid();

    if (pool->nproc) {
        pool->procs = calloc(pool->nproc, sizeof *pool->procs);
        if (!pool->procs) {
            free_pool(pool);
            return sabre__fail(SABRE_ENOMEM, "pool '%s': out of memory", name);
        }
        /* Shared with every child forked later: the doorbells and answers. */
        pool->shm_len = sizeof(struct pshared) + pool->nproc * sizeof(struct pslot);
        void *m =
            mmap(NULL, pool->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            size_t len = pool->shm_len; /* read before the pool is freed */
            pool->shm = NULL;
            free_pool(pool);
            return sabre__fail_errno(e,
                                     "pool '%s': mapping %zu bytes shared with its worker "
                                     "processes",
                                     name, len);
        }
        pool->shm = m;
    }
    if (pool->nworkers) {
        pool->tids = calloc(pool->nworkers, sizeof *pool->tids);
        pool->wargs = calloc(pool->nworkers, sizeof *pool->wargs);
        pool->slots = aligned_alloc(SABRE_FALSE_SHARING, pool->nworkers * sizeof *pool->slots);
        if (!pool->tids || !pool->wargs || !pool->slots) {
            free_pool(pool);
            return sabre__fail(SABRE_ENOMEM, "pool '%s': out of memory", name);
        }
        memset(pool->slots, 0, pool->nworkers * sizeof *pool->slots);
        /* Workers block every signal: the application's handlers run on its
         * own threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (unsigned i = 0; i < pool->nworkers; i++) {
            pool->wargs[i] = (struct worker_arg){pool, i + 1};
            int e = pthread_create(&pool->tids[i], NULL, worker_main, &pool->wargs[i]);
            if (e != 0) {
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                stop_threads(pool);
                free_pool(pool);
                return sabre__fail_errno(e, "pool '%s': starting worker thread %u", name, i + 1);
            }
            pool->started++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    *out = pool;
    return SABRE_OK;
}

void sabre_pool_destroy(sabre_pool_t *pool)
{
    if (!pool)
        return;
    if (pool->submitted)
        sabre_pool_wait(pool);
    stop_threads(pool);
    stop_processes(pool);
    free_pool(pool);
}

unsigned sabre_pool_threads(const sabre_pool_t *pool)
{
    return pool ? pool->nthreads : 0;
}

sabre_region_t *sabre_pool_region(const sabre_pool_t *pool)
{
    return pool ? pool->region : NULL;
}

int sabre_pool_stats(const sabre_pool_t *pool, sabre_pool_stats_t *out)
{
    if (!pool || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_pool_stats: %s is NULL", pool ? "out" : "pool");
    *out = (sabre_pool_stats_t){
        .threads = pool->nthreads,
        .workers = pool->nworkers,
        .sleeping = atomic_load_explicit(&pool->nsleeping, memory_order_relaxed),
        .dispatches = atomic_load_explicit(&pool->dispatches, memory_order_relaxed),
        .inline_runs = atomic_load_explicit(&pool->inline_runs, memory_order_relaxed),
        .futex_wakes = atomic_load_explicit(&pool->futex_wakes, memory_order_relaxed),
        .processes = pool->nproc,
        .processes_alive = atomic_load_explicit(&pool->alive, memory_order_relaxed),
        .process_spawns = atomic_load_explicit(&pool->spawns, memory_order_relaxed),
        .process_deaths = atomic_load_explicit(&pool->deaths, memory_order_relaxed),
    };
    return SABRE_OK;
}
