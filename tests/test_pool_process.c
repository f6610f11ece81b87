// SABRE_TEST_LABELS: unit process
/* Worker processes: registered jobs run in forked children attached to a
 * memfd region; the rows are covered exactly once by 64-aligned ranges the
 * children claim; their writes are visible to the parent; a child killed
 * with SIGKILL mid-job is reported as SABRE_EPEER and replaced on the next
 * call; a silent child is killed after the timeout; nothing is left behind. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "core/internal.h"
#include "sabre/pool.h"

#define ROWS 10000

struct args {
    uint64_t k;
    int32_t die_at; /* a row at which the child kills itself, -1 = none */
};

/* Shared object layout: rows of u64 values, then a per-worker pid word. */
struct shared {
    uint64_t value[ROWS];
    _Atomic int32_t pid[8];
    _Atomic uint32_t entered;
    _Atomic int32_t hung;    /* pid of the child that hangs */
    _Atomic int32_t died;    /* pid of the child that killed itself */
    _Atomic uint64_t rows;   /* rows run by fill (each call) */
    _Atomic uint32_t ranges; /* ranges run by fill (each call) */
    _Atomic uint32_t misaligned;
};

static struct shared *find_shared(sabre_region_t *r)
{
    sabre_object_t o;
    if (sabre_region_find(r, "data", NULL, &o) != SABRE_OK)
        return NULL;
    return o.ptr;
}

static int fill_job(const sabre_proc_job_t *job)
{
    struct shared *s = find_shared(job->region);
    if (!s)
        return SABRE_ENOENT; /* find recorded the message */
    struct args a;
    if (job->args_len != sizeof a)
        return sabre__fail(SABRE_EINVAL, "fill: args of %zu bytes", job->args_len);
    if ((uintptr_t)job->args % _Alignof(max_align_t))
        return sabre__fail(SABRE_EINVAL, "fill: args at %p are not aligned for any type",
                           job->args);
    memcpy(&a, job->args, sizeof a);
    atomic_store(&s->pid[job->worker], (int32_t)getpid());
    if (job->begin % SABRE_POOL_ROW_ALIGN || job->end <= job->begin || job->end > ROWS)
        atomic_fetch_add(&s->misaligned, 1);
    for (size_t i = job->begin; i < job->end; i++) {
        if ((int64_t)i == a.die_at) {
            atomic_store(&s->died, (int32_t)getpid());
            raise(SIGKILL);
        }
        s->value[i] = i * 3 + a.k;
    }
    atomic_fetch_add(&s->rows, job->end - job->begin);
    atomic_fetch_add(&s->ranges, 1);
    return 0;
}

static int fail_job(const sabre_proc_job_t *job)
{
    return sabre__fail(SABRE_ERANGE, "row %zu of job '%s' is out of range in worker %u", job->begin,
                       job->name, job->worker);
}

/* The first range to start announces its process, which then sleeps until
 * killed (or 20 s pass); the other ranges return. */
static int hang_job(const sabre_proc_job_t *job)
{
    struct shared *s = find_shared(job->region);
    atomic_store(&s->pid[job->worker], (int32_t)getpid());
    if (atomic_fetch_add(&s->entered, 1) != 0)
        return 0;
    atomic_store(&s->hung, (int32_t)getpid());
    for (int i = 0; i < 2000; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int late_job(const sabre_proc_job_t *job)
{
    struct shared *s = find_shared(job->region);
    for (size_t i = job->begin; i < job->end; i++)
        s->value[i] = 7;
    return 0;
}

/* fill, slowly: about 1 ms per range, so a call can be hit while it runs */
static int slow_job(const sabre_proc_job_t *job)
{
    struct shared *s = find_shared(job->region);
    uint64_t end = sabre__now_ns() + 1000000;
    for (size_t i = job->begin; i < job->end; i++)
        s->value[i] = i * 3 + 1;
    while (sabre__now_ns() < end)
        ;
    return 0;
}

struct random_killer {
    sabre_pool_t *pool;
    uint64_t delay_ns;
    unsigned victim;
    int killed;
};

static void *random_killer_main(void *arg)
{
    struct random_killer *k = arg;
    struct timespec ts = {0, (long)k->delay_ns};
    nanosleep(&ts, NULL);
    k->killed = sabre_pool_process_pid(k->pool, k->victim);
    if (k->killed > 0)
        kill(k->killed, SIGKILL);
    return NULL;
}

static void check_values(struct shared *s, uint64_t k)
{
    for (size_t i = 0; i < ROWS; i++)
        if (s->value[i] != i * 3 + k)
            CHECK_EQ(s->value[i], i * 3 + k);
}

static int run_fill(sabre_pool_t *pool, uint64_t k, int32_t die_at)
{
    struct shared *s = find_shared(sabre_pool_region(pool));
    atomic_store(&s->rows, 0);
    atomic_store(&s->ranges, 0);
    struct args a = {k, die_at};
    int rc = sabre_pool_process_for(pool, "fill", &a, sizeof a, ROWS);
    if (rc == SABRE_OK) { /* every row exactly once, in 64-aligned ranges */
        CHECK_EQ(atomic_load(&s->rows), ROWS);
        CHECK(atomic_load(&s->ranges) >= 2);
        CHECK_EQ(atomic_load(&s->misaligned), 0);
    }
    return rc;
}

struct killer {
    sabre_pool_t *pool;
    struct shared *s;
    int killed_pid;
};

/* Kills the hanging child from the outside once it is inside the job. */
static void *killer_main(void *arg)
{
    struct killer *k = arg;
    for (int i = 0; i < 5000 && atomic_load(&k->s->hung) == 0; i++)
        usleep(1000);
    k->killed_pid = atomic_load(&k->s->hung);
    if (k->killed_pid > 0)
        kill(k->killed_pid, SIGKILL);
    return NULL;
}

/* In a forked intermediate: make a pool (from a helper thread when
 * `from_thread`, so the children get no parent-death signal), run one call,
 * write the children's pids to `fd`, then exit without destroying it. */
struct orphan_ctx {
    sabre_region_t *region;
    int fd;
    int rc;
};

static void *orphan_maker(void *arg)
{
    struct orphan_ctx *o = arg;
    sabre_pool_t *pool;
    o->rc = sabre_pool_create(
        &(sabre_pool_desc_t){.threads = 1, .region = o->region, .processes = 2}, &pool);
    if (!o->rc)
        o->rc = sabre_pool_register(pool, "fill", fill_job);
    if (!o->rc)
        o->rc = run_fill(pool, 1, -1);
    int32_t pids[2] = {sabre_pool_process_pid(pool, 0), sabre_pool_process_pid(pool, 1)};
    if (write(o->fd, pids, sizeof pids) != (ssize_t)sizeof pids)
        o->rc = SABRE_EIO;
    return NULL;
}

/* Children whose parent died exit by themselves (we are their subreaper). */
static void check_orphans_exit(sabre_region_t *region, bool from_thread)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    pid_t mid = fork();
    if (mid == 0) {
        struct orphan_ctx o = {region, pfd[1], 0};
        if (from_thread) {
            pthread_t t;
            pthread_create(&t, NULL, orphan_maker, &o);
            pthread_join(t, NULL);
        } else {
            orphan_maker(&o);
        }
        _exit(o.rc == 0 ? 0 : 1);
    }
    close(pfd[1]);
    int32_t pids[2] = {0, 0};
    CHECK_EQ(read(pfd[0], pids, sizeof pids), (ssize_t)sizeof pids);
    close(pfd[0]);
    int ws;
    CHECK_EQ(waitpid(mid, &ws, 0), mid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    CHECK(pids[0] > 0 && pids[1] > 0);
    for (int i = 0; i < 2; i++) {
        bool gone = false;
        for (int t = 0; t < 5000 && !gone; t++) { /* bounded: 5 s */
            pid_t r = waitpid(pids[i], &ws, WNOHANG);
            if (r == pids[i] || (r < 0 && errno == ECHILD))
                gone = true;
            else
                usleep(1000);
        }
        CHECK(gone);
        if (!gone)
            kill(pids[i], SIGKILL), waitpid(pids[i], &ws, 0);
    }
}

/* Wait (at most 5 s) until child `pid` has exited and can be reaped,
 * without reaping it (the pool does that). */
static bool wait_exited(pid_t pid)
{
    for (int i = 0; i < 5000; i++) {
        siginfo_t si = {0};
        int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if ((r == 0 && si.si_pid == pid) || (r < 0 && errno == ECHILD)) /* or reaped already */
            return true;
        usleep(1000);
    }
    return false;
}

static void no_children_left(void)
{
    int ws;
    errno = 0;
    CHECK_EQ(waitpid(-1, &ws, WNOHANG), -1);
    CHECK_EQ(errno, ECHILD);
}

int main(void)
{
    sabre_region_t *region;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 1 << 20}, &region));
    sabre_object_t obj;
    CHECK_OK(sabre_region_alloc(
        region, &(sabre_object_desc_t){.name = "data", .size = sizeof(struct shared)}, &obj));
    struct shared *s = obj.ptr;

    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 1,
                                                    .region = region,
                                                    .processes = 2,
                                                    .process_timeout_ns = 20000000000ull,
                                                    .name = "procs"},
                               &pool));
    CHECK_OK(sabre_pool_register(pool, "fill", fill_job));
    CHECK_OK(sabre_pool_register(pool, "fail", fail_job));
    CHECK_OK(sabre_pool_register(pool, "hang", hang_job));
    CHECK_ERR(sabre_pool_register(pool, "fill", fill_job), SABRE_EEXIST);
    CHECK_ERR(sabre_pool_process_for(pool, "nope", NULL, 0, ROWS), SABRE_ENOENT);

    /* The children's writes land in the parent's mapping. */
    CHECK_OK(run_fill(pool, 11, -1));
    check_values(s, 11);
    int pid0 = sabre_pool_process_pid(pool, 0), pid1 = sabre_pool_process_pid(pool, 1);
    CHECK(pid0 > 0 && pid1 > 0 && pid0 != pid1 && pid0 != getpid());
    /* Job `worker` arguments name the process that ran the range. */
    for (int w = 0; w < 2; w++)
        if (atomic_load(&s->pid[w]))
            CHECK_EQ(atomic_load(&s->pid[w]), sabre_pool_process_pid(pool, (unsigned)w));
    /* Persistent children: the next call reuses them. */
    unsigned long rounds = check_scale(50);
    for (unsigned long r = 0; r < rounds; r++) {
        CHECK_OK(run_fill(pool, r, -1));
        check_values(s, r);
    }
    CHECK_EQ(sabre_pool_process_pid(pool, 0), pid0);
    sabre_pool_stats_t st;
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_spawns, 2);
    CHECK_EQ(st.processes_alive, 2);

    /* A job error travels back with its message. */
    CHECK_ERR(sabre_pool_process_for(pool, "fail", NULL, 0, ROWS), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "of job 'fail' is out of range in worker");

    /* The child that claims row 7000 kills itself mid-job: 10,000 rows go
     * out in ranges of at least 4,096 rows, so that is the range [4096,8192). */
    CHECK_ERR(run_fill(pool, 5, 7000), SABRE_EPEER);
    int died = atomic_load(&s->died);
    CHECK(died == pid0 || died == pid1);
    char want[96];
    snprintf(want, sizeof want, "worker process %d (job 'fill', rows [4096,8192))", died);
    CHECK_STR_CONTAINS(sabre_last_error(), want);
    CHECK_STR_CONTAINS(sabre_last_error(), "killed by signal 9");
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_deaths, 1);
    CHECK_EQ(st.processes_alive, 1);
    /* The next call gets a fresh worker and succeeds. */
    CHECK_OK(run_fill(pool, 6, -1));
    check_values(s, 6);
    CHECK(sabre_pool_process_pid(pool, 0) != died && sabre_pool_process_pid(pool, 1) != died);
    CHECK(sabre_pool_process_pid(pool, 0) == pid0 || sabre_pool_process_pid(pool, 1) == pid1);
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_spawns, 3);

    /* Killed from outside while the parent is blocked in the call. */
    atomic_store(&s->entered, 0);
    atomic_store(&s->hung, 0);
    struct killer k = {pool, s, 0};
    pthread_t tid;
    pthread_create(&tid, NULL, killer_main, &k);
    int rc = sabre_pool_process_for(pool, "hang", NULL, 0, 2 * 64);
    pthread_join(tid, NULL);
    CHECK(k.killed_pid > 0);
    CHECK_EQ(rc, SABRE_EPEER);
    snprintf(want, sizeof want, "worker process %d (job 'hang'", k.killed_pid);
    CHECK_STR_CONTAINS(sabre_last_error(), want);
    CHECK_STR_CONTAINS(sabre_last_error(), "signal 9");
    CHECK_OK(run_fill(pool, 8, -1));
    check_values(s, 8);

    /* A worker that died while idle is replaced quietly. */
    pid0 = sabre_pool_process_pid(pool, 0);
    kill(pid0, SIGKILL);
    CHECK(wait_exited(pid0));
    CHECK_OK(run_fill(pool, 9, -1));
    check_values(s, 9);
    CHECK(sabre_pool_process_pid(pool, 0) != pid0);

    /* A job registered after the children exist: they are re-forked. */
    CHECK_OK(sabre_pool_register(pool, "late", late_job));
    CHECK_OK(sabre_pool_process_for(pool, "late", NULL, 0, 100));
    CHECK_EQ(s->value[0], 7);
    CHECK_EQ(s->value[99], 7);
    CHECK_EQ(s->value[100], 100 * 3 + 9);

    CHECK_ERR(sabre_pool_process_for(pool, "fill", NULL, SABRE_POOL_ARGS_MAX + 1, ROWS),
              SABRE_EINVAL);
    CHECK_OK(sabre_pool_process_for(pool, "fill", NULL, 0, 0)); /* nothing to do */
    sabre_pool_destroy(pool);
    no_children_left();

    /* A child that stops answering is killed after the timeout. */
    CHECK_OK(sabre_pool_create(
        &(sabre_pool_desc_t){
            .threads = 1, .region = region, .processes = 1, .process_timeout_ns = 300000000ull},
        &pool));
    CHECK_OK(sabre_pool_register(pool, "hang", hang_job));
    CHECK_OK(sabre_pool_register(pool, "fill", fill_job));
    atomic_store(&s->entered, 0);
    atomic_store(&s->hung, 0);
    CHECK_ERR(sabre_pool_process_for(pool, "hang", NULL, 0, 10), SABRE_EPEER);
    CHECK_STR_CONTAINS(sabre_last_error(), "did not answer within 300 ms");
    CHECK_OK(run_fill(pool, 12, -1));
    check_values(s, 12);
    /* Destroy while a child is idle: it is told to stop and reaped. */
    sabre_pool_destroy(pool);
    no_children_left();

    /* Thread pool + processes together; a pool with a PRIVATE region is refused. */
    sabre_region_t *priv;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16}, &priv));
    CHECK_ERR(sabre_pool_create(&(sabre_pool_desc_t){.region = priv, .processes = 1}, &pool),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "PRIVATE");
    sabre_region_close(priv);

    /* Fault injection: a random child SIGKILLed at a random moment of a
     * call (before, during or after its ranges).  The call returns OK or
     * SABRE_EPEER naming the dead pid, never hangs, and the next call runs
     * with a fresh child and writes every row. */
    CHECK_OK(sabre_pool_create(
        &(sabre_pool_desc_t){
            .threads = 1, .region = region, .processes = 2, .process_timeout_ns = 20000000000ull},
        &pool));
    CHECK_OK(sabre_pool_register(pool, "fill", fill_job));
    CHECK_OK(sabre_pool_register(pool, "slow", slow_job));
    uint64_t seed = 0x5eed;
    unsigned long trials = check_scale(100), hit = 0;
    for (unsigned long t = 0; t < trials; t++) {
        CHECK_OK(run_fill(pool, t, -1)); /* both children exist */
        struct random_killer rk = {pool, check_xorshift(&seed) % 4000000, 0, 0};
        rk.victim = (unsigned)(check_xorshift(&seed) % 2);
        pthread_t kt;
        pthread_create(&kt, NULL, random_killer_main, &rk);
        int trc = sabre_pool_process_for(pool, "slow", NULL, 0, ROWS);
        pthread_join(kt, NULL);
        CHECK(trc == SABRE_OK || trc == SABRE_EPEER);
        if (trc == SABRE_EPEER) {
            hit++;
            snprintf(want, sizeof want, "worker process %d (job 'slow'", rk.killed);
            CHECK_STR_CONTAINS(sabre_last_error(), want);
        }
        /* a kill that landed after the call: let it take effect (a child
         * found dead during a call fails that call; one that died while
         * idle is replaced quietly) */
        CHECK(wait_exited(rk.killed));
        CHECK_OK(run_fill(pool, t + 1, -1));
        check_values(s, t + 1);
    }
    CHECK(hit > 0); /* some kills landed inside a call */
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_deaths, trials);
    CHECK_EQ(st.process_spawns, 2 + trials);
    sabre_pool_destroy(pool);
    no_children_left();

    /* The doorbells' sleep path: children that sleep at once (1 us of
     * spinning) are woken for every call, and a call never goes unanswered. */
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 1,
                                                    .region = region,
                                                    .processes = 2,
                                                    .spin_ns = 1000,
                                                    .process_timeout_ns = 20000000000ull},
                               &pool));
    CHECK_OK(sabre_pool_register(pool, "fill", fill_job));
    rounds = check_scale(300);
    for (unsigned long r = 0; r < rounds; r++) {
        if (r % 3 == 0)
            usleep(100); /* let them fall asleep */
        CHECK_OK(run_fill(pool, r, -1));
        if (r % 50 == 0)
            check_values(s, r);
    }
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK(st.futex_wakes > 0);
    CHECK_EQ(st.process_spawns, 2);
    sabre_pool_destroy(pool);
    no_children_left();

    /* A pool whose process exits without destroying it: its children go
     * too (forked from the main thread: parent-death signal; from another
     * thread: they notice within 100 ms). */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    check_orphans_exit(region, false);
    check_orphans_exit(region, true);
    no_children_left();

    /* Create/destroy cycles leave no children behind. */
    rounds = check_scale(10);
    for (unsigned long r = 0; r < rounds; r++) {
        CHECK_OK(sabre_pool_create(
            &(sabre_pool_desc_t){.threads = 2, .region = region, .processes = 2}, &pool));
        CHECK_OK(sabre_pool_register(pool, "fill", fill_job));
        if (r % 2)
            CHECK_OK(run_fill(pool, r, -1));
        sabre_pool_destroy(pool);
    }
    no_children_left();
    sabre_region_close(region);
    return check_done();
}
