// SABRE_TEST_LABELS: unit concurrent
/* Thread pool: parallel-for coverage and alignment, error propagation,
 * task batches, the external executor, sleeping and waking, shutdown. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/internal.h"
#include "sabre/pool.h"

#define MAX_ROWS 200003

/* ---- coverage ---------------------------------------------------------- */

struct cover {
    uint32_t hits[MAX_ROWS];
    uint64_t bits[(MAX_ROWS + 63) / 64]; /* per-row changed bits, plain |= */
    _Atomic uint64_t sum;                /* sum of row indices seen */
    _Atomic uint64_t ranges;
    _Atomic uint64_t misaligned;
    _Atomic uint32_t workers_seen; /* bit per worker index (< 32) */
    unsigned threads;
};

static int cover_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    struct cover *c = ctx;
    if (begin % SABRE_POOL_ROW_ALIGN != 0 || begin >= end)
        atomic_fetch_add(&c->misaligned, 1);
    if (worker >= c->threads)
        atomic_fetch_add(&c->misaligned, 1000000);
    uint64_t s = 0;
    for (size_t i = begin; i < end; i++) {
        c->hits[i]++;
        c->bits[i / 64] |= 1ull << (i % 64); /* non-atomic: safe only if words are not shared */
        s += i;
    }
    atomic_fetch_add(&c->sum, s);
    atomic_fetch_add(&c->ranges, 1);
    atomic_fetch_or(&c->workers_seen, 1u << (worker & 31));
    return 0;
}

static void check_cover(sabre_pool_t *pool, struct cover *c, size_t n, size_t grain)
{
    memset(c->hits, 0, sizeof c->hits);
    memset(c->bits, 0, sizeof c->bits);
    atomic_store(&c->sum, 0);
    atomic_store(&c->ranges, 0);
    atomic_store(&c->misaligned, 0);
    c->threads = sabre_pool_threads(pool);
    CHECK_OK(sabre_pool_for(pool, n, grain, cover_job, c));
    for (size_t i = 0; i < n; i++)
        if (c->hits[i] != 1)
            CHECK_EQ(c->hits[i], 1);
    CHECK_EQ(c->hits[n], 0);
    for (size_t i = 0; i < n; i++)
        if (!(c->bits[i / 64] >> (i % 64) & 1))
            CHECK(!"changed bit missing");
    CHECK_EQ(atomic_load(&c->sum), (uint64_t)n * (n - 1) / 2);
    CHECK_EQ(atomic_load(&c->misaligned), 0);
    size_t chunk = grain ? SABRE_ALIGN_UP(SABRE_MIN(grain, n), (size_t)64) : 0;
    if (chunk)
        CHECK_EQ(atomic_load(&c->ranges), n / chunk + (n % chunk != 0));
}

static void test_cover(void)
{
    static struct cover c;
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 4, .name = "cover"}, &pool));
    CHECK_EQ(sabre_pool_threads(pool), 4);
    const size_t sizes[] = {1, 63, 64, 65, 127, 128, 1000, 4096, 65537, MAX_ROWS - 1};
    const size_t grains[] = {0, 1, 64, 100, 1000, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizeof grains / sizeof grains[0]; j++)
            check_cover(pool, &c, sizes[i], grains[j]);
    /* n == 0 never calls the job. */
    atomic_store(&c.ranges, 0);
    CHECK_OK(sabre_pool_for(pool, 0, 64, cover_job, &c));
    CHECK_EQ(atomic_load(&c.ranges), 0);

    /* Many fork-joins of random sizes (the stress part). */
    unsigned long rounds = check_scale(2000);
    uint64_t seed = 12345;
    for (unsigned long r = 0; r < rounds; r++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (size_t)(seed >> 33) % 5000;
        size_t grain = (size_t)(seed >> 20) % 300;
        check_cover(pool, &c, n, grain);
    }
    sabre_pool_destroy(pool);

    /* One thread: everything inline on the caller, worker index 0. */
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 1}, &pool));
    atomic_store(&c.workers_seen, 0);
    check_cover(pool, &c, 10000, 64);
    CHECK_EQ(atomic_load(&c.workers_seen), 1);
    sabre_pool_stats_t st;
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.workers, 0);
    CHECK_EQ(st.dispatches, 0);
    CHECK(st.inline_runs >= 1);
    sabre_pool_destroy(pool);

    /* Default: one thread per online CPU. */
    CHECK_OK(sabre_pool_create(NULL, &pool));
    CHECK_EQ(sabre_pool_threads(pool), (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    check_cover(pool, &c, 777, 0);
    sabre_pool_destroy(pool);
}

/* ---- balance: every thread takes chunks from the shared counter ---------- */

struct rendezvous {
    _Atomic uint32_t seen; /* bit per worker index that ran a chunk */
    uint32_t want;         /* chunks block (at most 10 s) until seen covers this */
};

/* Holds its chunk until every wanted thread has one too: passes only if the
 * pool really hands chunks to all of them, and cannot pass by luck. */
static int rendezvous_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    struct rendezvous *r = ctx;
    atomic_fetch_or(&r->seen, 1u << worker);
    for (int i = 0; i < 10000 && (atomic_load(&r->seen) & r->want) != r->want; i++)
        usleep(1000);
    return 0;
}

static void test_balance(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 3}, &pool));
    struct rendezvous r = {0, 7};
    CHECK_OK(sabre_pool_for(pool, 40 * 64, 64, rendezvous_job, &r));
    CHECK_EQ(atomic_load(&r.seen), 7);
    sabre_pool_destroy(pool);
}

/* ---- errors ------------------------------------------------------------- */

static _Atomic int worker_failed;

static int fail_on_worker(void *ctx, size_t begin, size_t end, unsigned worker)
{
    if (worker == 0) { /* the caller waits until a worker thread met a bad row */
        for (int i = 0; i < 10000 && !atomic_load(&worker_failed); i++)
            usleep(1000);
        return 0;
    }
    atomic_store(&worker_failed, 1);
    return sabre__fail(SABRE_ERANGE, "row %zu is out of range (thread %u)", begin, worker);
}

static int fail_positive(void *ctx, size_t begin, size_t end, unsigned worker)
{
    return begin >= 640 ? 5 : 0;
}

static int fail_silent(void *ctx, size_t begin, size_t end, unsigned worker)
{
    return begin == 128 ? SABRE_EIO : 0;
}

static void test_errors(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2, .name = "errs"}, &pool));
    sabre_clear_error();
    CHECK_ERR(sabre_pool_for(pool, 64 * 50, 64, fail_on_worker, NULL), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "is out of range (thread 1)");
    CHECK_STR_CONTAINS(sabre_last_error(), "row ");

    CHECK_ERR(sabre_pool_for(pool, 64 * 20, 64, fail_positive, NULL), SABRE_EJOB);
    CHECK_STR_CONTAINS(sabre_last_error(), "returned 5");

    CHECK_ERR(sabre_pool_for(pool, 64 * 20, 64, fail_silent, NULL), SABRE_EIO);
    CHECK_STR_CONTAINS(sabre_last_error(), "rows [128,192)");

    /* The pool still works after failures. */
    static struct cover c;
    check_cover(pool, &c, 5000, 64);

    CHECK_ERR(sabre_pool_for(pool, 10, 0, NULL, NULL), SABRE_EINVAL);
    CHECK_ERR(sabre_pool_for(NULL, 10, 0, cover_job, &c), SABRE_EINVAL);
    sabre_pool_t *bad;
    CHECK_ERR(sabre_pool_create(&(sabre_pool_desc_t){.threads = SABRE_POOL_MAX_THREADS + 1}, &bad),
              SABRE_EINVAL);
    CHECK_ERR(sabre_pool_create(&(sabre_pool_desc_t){.processes = 2}, &bad), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "region");
    CHECK_ERR(sabre_pool_create(NULL, NULL), SABRE_EINVAL);
    CHECK_ERR(sabre_pool_process_for(pool, "x", NULL, 0, 10), SABRE_EINVAL);
    CHECK_ERR(sabre_pool_register(pool, "", (sabre_proc_job_fn)1), SABRE_EINVAL);
    sabre_pool_destroy(pool);
}

/* ---- nested / concurrent use is refused -------------------------------- */

struct nested {
    sabre_pool_t *pool;
    _Atomic int rc;
};

static int nested_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    struct nested *n = ctx;
    int rc = sabre_pool_for(n->pool, 10, 0, fail_positive, NULL);
    atomic_store(&n->rc, rc);
    return 0;
}

/* ---- task batches -------------------------------------------------------- */

struct task_ctx {
    _Atomic int runs;
    int index;
    int fail;
};

static int task_fn(void *ctx, unsigned worker)
{
    struct task_ctx *t = ctx;
    atomic_fetch_add(&t->runs, 1);
    if (t->fail)
        return sabre__fail(SABRE_ENOENT, "task %d: no such system", t->index);
    return 0;
}

static void test_tasks(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 3}, &pool));
    struct task_ctx ctx[17] = {0};
    sabre_task_t tasks[17];
    for (int i = 0; i < 17; i++) {
        ctx[i].index = i;
        tasks[i] = (sabre_task_t){.fn = task_fn, .ctx = &ctx[i], .status = 99};
    }
    CHECK_OK(sabre_pool_submit(pool, tasks, 17));
    /* Between submit and wait the pool is busy. */
    static struct cover c;
    CHECK_ERR(sabre_pool_for(pool, 100, 0, cover_job, &c), SABRE_ESTATE);
    CHECK_ERR(sabre_pool_submit(pool, tasks, 17), SABRE_ESTATE);
    CHECK_OK(sabre_pool_wait(pool));
    for (int i = 0; i < 17; i++) {
        CHECK_EQ(atomic_load(&ctx[i].runs), 1);
        CHECK_EQ(tasks[i].status, 0);
    }
    CHECK_ERR(sabre_pool_wait(pool), SABRE_ESTATE);

    /* A failing task: its status and message reach the caller. */
    ctx[5].fail = 1;
    for (int i = 0; i < 17; i++)
        atomic_store(&ctx[i].runs, 0);
    CHECK_ERR(sabre_pool_run_tasks(pool, tasks, 17), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "task 5: no such system");
    CHECK_EQ(tasks[5].status, SABRE_ENOENT);
    for (int i = 0; i < 17; i++)
        CHECK(atomic_load(&ctx[i].runs) <= 1);
    CHECK_OK(sabre_pool_run_tasks(pool, tasks, 0));
    CHECK_OK(sabre_pool_run_tasks(pool, tasks, 5));

    /* A parallel-for from inside a job of the same pool is refused, not deadlocked. */
    struct nested nn = {pool, 0};
    CHECK_OK(sabre_pool_for(pool, 64, 64, nested_job, &nn));
    CHECK_EQ(atomic_load(&nn.rc), SABRE_ESTATE);

    sabre_task_t bad = {0};
    CHECK_ERR(sabre_pool_submit(pool, &bad, 1), SABRE_EINVAL);
    sabre_pool_destroy(pool);

    /* Destroy with a batch submitted and not waited for: it is finished first. */
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
    ctx[5].fail = 0;
    for (int i = 0; i < 17; i++)
        atomic_store(&ctx[i].runs, 0);
    CHECK_OK(sabre_pool_submit(pool, tasks, 17));
    sabre_pool_destroy(pool);
    for (int i = 0; i < 17; i++)
        CHECK_EQ(atomic_load(&ctx[i].runs), 1);
}

/* ---- external executor ------------------------------------------------------ */

struct my_exec {
    _Atomic int runs;
    _Atomic int tasks_run;
    unsigned last_n;
    int fail;
};

struct exec_thread {
    sabre_exec_task_fn fn;
    void *ctx;
    unsigned index;
    struct my_exec *ex;
};

static void *exec_thread_main(void *arg)
{
    struct exec_thread *t = arg;
    t->fn(t->ctx, t->index);
    atomic_fetch_add(&t->ex->tasks_run, 1);
    return NULL;
}

/* The "application's job system": one thread per task. */
static int my_run(unsigned n_tasks, sabre_exec_task_fn fn, void *task_ctx, void *user)
{
    struct my_exec *ex = user;
    atomic_fetch_add(&ex->runs, 1);
    ex->last_n = n_tasks;
    if (ex->fail)
        return ex->fail == 1 ? -1 : 0;
    pthread_t tid[16];
    struct exec_thread arg[16];
    for (unsigned i = 0; i < n_tasks && i < 16; i++) {
        arg[i] = (struct exec_thread){fn, task_ctx, i, ex};
        pthread_create(&tid[i], NULL, exec_thread_main, &arg[i]);
    }
    for (unsigned i = 0; i < n_tasks && i < 16; i++)
        pthread_join(tid[i], NULL);
    return 0;
}

static void test_executor(void)
{
    struct my_exec ex = {0};
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(
        &(sabre_pool_desc_t){.executor = {.run = my_run, .user = &ex, .concurrency = 3}}, &pool));
    CHECK_EQ(sabre_pool_threads(pool), 3);
    sabre_pool_stats_t st;
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.workers, 0); /* sabre started no threads */

    static struct cover c;
    atomic_store(&c.workers_seen, 0);
    check_cover(pool, &c, 10000, 64);
    CHECK_EQ(atomic_load(&ex.runs), 1);
    CHECK_EQ(ex.last_n, 3);
    CHECK_EQ(atomic_load(&ex.tasks_run), 3);
    CHECK((atomic_load(&c.workers_seen) & ~7u) == 0);

    /* Small job: fewer tasks than the concurrency. */
    check_cover(pool, &c, 100, 64);
    CHECK_EQ(ex.last_n, 2);

    struct task_ctx ctx[4] = {0};
    sabre_task_t tasks[4];
    for (int i = 0; i < 4; i++)
        tasks[i] = (sabre_task_t){.fn = task_fn, .ctx = &ctx[i]};
    CHECK_OK(sabre_pool_run_tasks(pool, tasks, 4));
    CHECK_EQ(atomic_load(&ex.runs), 3);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(atomic_load(&ctx[i].runs), 1);

    CHECK_ERR(sabre_pool_for(pool, 64 * 20, 64, fail_silent, NULL), SABRE_EIO);
    ex.fail = 1;
    CHECK_ERR(sabre_pool_for(pool, 1000, 64, cover_job, &c), SABRE_EJOB);
    CHECK_STR_CONTAINS(sabre_last_error(), "external executor");
    ex.fail = 2; /* claims success without running anything */
    CHECK_ERR(sabre_pool_for(pool, 1000, 64, cover_job, &c), SABRE_EJOB);
    CHECK_STR_CONTAINS(sabre_last_error(), "without running");
    sabre_pool_destroy(pool);
}

/* ---- sleep and wake --------------------------------------------------------- */

static int noop_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    if (ctx)
        atomic_fetch_or((_Atomic uint32_t *)ctx, 1u << worker);
    return 0;
}

static void wait_all_asleep(sabre_pool_t *pool, unsigned want)
{
    sabre_pool_stats_t st;
    for (int i = 0; i < 4000; i++) {
        CHECK_OK(sabre_pool_stats(pool, &st));
        if (st.sleeping == want)
            return;
        usleep(1000);
    }
    CHECK_EQ(st.sleeping, want);
}

static void test_sleep_wake(void)
{
    sabre_pool_t *pool;
    sabre_pool_stats_t st;
    /* Short spin: idle workers go to sleep quickly. */
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 3, .spin_ns = 1000}, &pool));
    wait_all_asleep(pool, 2);
    CHECK_OK(sabre_pool_stats(pool, &st));
    uint64_t wakes0 = st.futex_wakes;
    unsigned long rounds = check_scale(50);
    for (unsigned long r = 0; r < rounds; r++) {
        wait_all_asleep(pool, 2);
        /* Both sleeping workers must wake up and take a chunk. */
        struct rendezvous rv = {0, 7};
        CHECK_OK(sabre_pool_for(pool, 64 * 8, 64, rendezvous_job, &rv));
        CHECK_EQ(atomic_load(&rv.seen), 7);
    }
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK(st.futex_wakes >= wakes0 + rounds); /* sleeping workers needed the syscall */
    sabre_pool_destroy(pool);

    /* Never sleeping: the dispatcher skips every FUTEX_WAKE. */
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2, .spin_ns = UINT64_MAX}, &pool));
    rounds = check_scale(3000);
    for (unsigned long r = 0; r < rounds; r++)
        CHECK_OK(sabre_pool_for(pool, 128, 64, noop_job, NULL));
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.futex_wakes, 0);
    CHECK_EQ(st.sleeping, 0);
    CHECK_EQ(st.dispatches, rounds);
    sabre_pool_destroy(pool);
}

/* ---- shutdown --------------------------------------------------------------- */

static void test_shutdown(void)
{
    unsigned long rounds = check_scale(100);
    for (unsigned long r = 0; r < rounds; r++) {
        sabre_pool_t *pool;
        CHECK_OK(sabre_pool_create(
            &(sabre_pool_desc_t){.threads = 1 + (unsigned)(r % 4), .spin_ns = r % 2 ? 1 : 0},
            &pool));
        if (r % 3)
            CHECK_OK(sabre_pool_for(pool, 1000, 64, noop_job, NULL));
        if (r % 5 == 0)
            usleep(200); /* let some workers fall asleep first */
        sabre_pool_destroy(pool);
    }
    sabre_pool_destroy(NULL);
}

int main(void)
{
    test_cover();
    test_balance();
    test_errors();
    test_tasks();
    test_executor();
    test_sleep_wake();
    test_shutdown();
    return check_done();
}
