// SABRE_TEST_LABELS: unit process
/* Worker processes: registered jobs run in forked children attached to a
 * memfd region; their writes are visible to the parent; a child killed with
 * SIGKILL mid-job is reported as SABRE_EPEER and replaced on the next call;
 * a silent child is killed after the timeout; nothing is left behind. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "internal.h"
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
    for (size_t i = job->begin; i < job->end; i++) {
        if ((int64_t)i == a.die_at)
            raise(SIGKILL);
        s->value[i] = i * 3 + a.k;
    }
    return 0;
}

static int fail_job(const sabre_proc_job_t *job)
{
    return sabre__fail(SABRE_ERANGE, "row %zu of job '%s' is out of range in worker %u", job->begin,
                       job->name, job->worker);
}

/* Announces itself; the worker named by the args (u32) then sleeps until
 * killed (or 20 s pass), the others return. */
static int hang_job(const sabre_proc_job_t *job)
{
    struct shared *s = find_shared(job->region);
    uint32_t who;
    if (job->args_len != sizeof who)
        return sabre__fail(SABRE_EINVAL, "hang: args of %zu bytes", job->args_len);
    memcpy(&who, job->args, sizeof who);
    atomic_store(&s->pid[job->worker], (int32_t)getpid());
    if (job->worker != who)
        return 0;
    atomic_fetch_add(&s->entered, 1);
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

static void check_values(struct shared *s, uint64_t k)
{
    for (size_t i = 0; i < ROWS; i++)
        if (s->value[i] != i * 3 + k)
            CHECK_EQ(s->value[i], i * 3 + k);
}

static int run_fill(sabre_pool_t *pool, uint64_t k, int32_t die_at)
{
    struct args a = {k, die_at};
    return sabre_pool_process_for(pool, "fill", &a, sizeof a, ROWS);
}

struct killer {
    sabre_pool_t *pool;
    struct shared *s;
    int killed_pid;
};

/* Kills worker 1 from the outside once it is inside the job. */
static void *killer_main(void *arg)
{
    struct killer *k = arg;
    for (int i = 0; i < 5000 && atomic_load(&k->s->entered) < 1; i++)
        usleep(1000);
    k->killed_pid = atomic_load(&k->s->pid[1]);
    if (k->killed_pid > 0)
        kill(k->killed_pid, SIGKILL);
    return NULL;
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
    CHECK_EQ(atomic_load(&s->pid[0]), pid0);
    CHECK_EQ(atomic_load(&s->pid[1]), pid1);
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
    CHECK_STR_CONTAINS(sabre_last_error(), "row 0 of job 'fail' is out of range in worker 0");

    /* Worker 1 kills itself mid-job (row 7000 is in its range [5056,10000)). */
    CHECK_ERR(run_fill(pool, 5, 7000), SABRE_EPEER);
    char want[64];
    snprintf(want, sizeof want, "worker process %d", pid1);
    CHECK_STR_CONTAINS(sabre_last_error(), want);
    CHECK_STR_CONTAINS(sabre_last_error(), "killed by signal 9");
    CHECK_STR_CONTAINS(sabre_last_error(), "job 'fill'");
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_deaths, 1);
    CHECK_EQ(st.processes_alive, 1);
    /* The next call gets a fresh worker and succeeds. */
    CHECK_OK(run_fill(pool, 6, -1));
    check_values(s, 6);
    CHECK(sabre_pool_process_pid(pool, 1) != pid1);
    CHECK_EQ(sabre_pool_process_pid(pool, 0), pid0);
    CHECK_OK(sabre_pool_stats(pool, &st));
    CHECK_EQ(st.process_spawns, 3);

    /* Killed from outside while the parent is blocked in the call. */
    atomic_store(&s->entered, 0);
    struct killer k = {pool, s, 0};
    pthread_t tid;
    pthread_create(&tid, NULL, killer_main, &k);
    uint32_t who = 1;
    int rc = sabre_pool_process_for(pool, "hang", &who, sizeof who, 2 * 64);
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
    for (int i = 0; i < 5000 && sabre__pid_alive(pid0, 0); i++) /* until it is a zombie */
        usleep(1000);
    CHECK(!sabre__pid_alive(pid0, 0));
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
    who = 0;
    CHECK_ERR(sabre_pool_process_for(pool, "hang", &who, sizeof who, 10), SABRE_EPEER);
    CHECK_STR_CONTAINS(sabre_last_error(), "did not answer within 300 ms");
    CHECK_OK(run_fill(pool, 12, -1));
    check_values(s, 12);
    /* Destroy while a child is idle: it exits on socket close, reaped. */
    sabre_pool_destroy(pool);
    no_children_left();

    /* Thread pool + processes together; a pool with a PRIVATE region is refused. */
    sabre_region_t *priv;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16}, &priv));
    CHECK_ERR(sabre_pool_create(&(sabre_pool_desc_t){.region = priv, .processes = 1}, &pool),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "PRIVATE");
    sabre_region_close(priv);

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
