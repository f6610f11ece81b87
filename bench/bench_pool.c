/*
 * bench_pool - fork-join dispatch cost of sabre_pool_for on empty jobs,
 * worker-process calls (sabre_pool_process_for) on empty jobs against the
 * thread fork-join, mailbox round trips (threads vs processes), and the
 * speed-up of a
 * memory-bound loop over 1M rows.  Every figure is the median of several
 * runs, with its baseline measured in the same run.
 *
 * usage: bench_pool [scale%]   (default 100; smaller runs fewer iterations)
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "sabre/mailbox.h"
#include "sabre/pool.h"

#include "bench_util.h"

#define RUNS 7

static unsigned scale = 100;

static unsigned long scaled(unsigned long n)
{
    unsigned long r = n * scale / 100;
    return r ? r : 1;
}

/* ---- fork-join ---------------------------------------------------------- */

static int empty_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)ctx;
    (void)begin;
    (void)end;
    (void)worker;
    return 0;
}

static int (*volatile empty_ptr)(void *, size_t, size_t, unsigned) = empty_job;

/* ns per direct call of the job (the baseline: no pool at all). */
static double direct_call_ns(void)
{
    double v[RUNS];
    unsigned long iters = scaled(1000000);
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = sabre__now_ns();
        for (unsigned long i = 0; i < iters; i++) {
            empty_ptr(NULL, 0, 64, 0);
            empty_ptr(NULL, 64, 128, 0);
        }
        v[r] = (double)(sabre__now_ns() - t0) / (double)iters;
    }
    return bench_median(v, RUNS);
}

/* sabre_pool_for over `chunks` chunks of 64 rows: *mean is the median over
 * runs of the mean per call (preemptions included), the return value the
 * median of every single call's latency (what a call typically costs). */
static double fork_join_ns(unsigned threads, uint64_t spin_ns, size_t chunks, unsigned long iters,
                           double *mean)
{
    sabre_pool_t *pool;
    if (sabre_pool_create(&(sabre_pool_desc_t){.threads = threads, .spin_ns = spin_ns}, &pool)) {
        fprintf(stderr, "pool: %s\n", sabre_last_error());
        exit(1);
    }
    double v[RUNS];
    double *lat = malloc(iters * sizeof *lat);
    double all_med[RUNS];
    for (unsigned long i = 0; i < iters / 10; i++) /* warm up */
        sabre_pool_for(pool, 64 * chunks, 64, empty_job, NULL);
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = sabre__now_ns(), prev = t0;
        for (unsigned long i = 0; i < iters; i++) {
            sabre_pool_for(pool, 64 * chunks, 64, empty_job, NULL);
            uint64_t now = sabre__now_ns();
            lat[i] = (double)(now - prev);
            prev = now;
        }
        v[r] = (double)(prev - t0) / (double)iters;
        all_med[r] = bench_median(lat, (int)iters);
    }
    free(lat);
    sabre_pool_destroy(pool);
    *mean = bench_median(v, RUNS);
    return bench_median(all_med, RUNS);
}

/* ---- one latency loop for every "median per call" figure ------------------ */

/* One call of the operation being timed: SABRE_OK or a status. */
typedef int (*call_fn)(void *ctx);

/* Median over RUNS of the median single-call latency of `iters` calls of
 * fn, after iters/10 + 1 warm-up calls; `what` names it in a failure. */
static double median_call_ns(call_fn fn, void *ctx, unsigned long iters, const char *what)
{
    double v[RUNS];
    double *lat = malloc(iters * sizeof *lat);
    for (unsigned long i = 0; i < iters / 10 + 1; i++)
        fn(ctx);
    for (int r = 0; r < RUNS; r++) {
        uint64_t prev = sabre__now_ns();
        for (unsigned long i = 0; i < iters; i++) {
            if (fn(ctx) != SABRE_OK) {
                fprintf(stderr, "%s: %s\n", what, sabre_last_error());
                exit(1);
            }
            uint64_t now = sabre__now_ns();
            lat[i] = (double)(now - prev);
            prev = now;
        }
        v[r] = bench_median(lat, (int)iters);
    }
    free(lat);
    return bench_median(v, RUNS);
}

/* ---- worker-process calls -------------------------------------------------- */

static int empty_proc_job(const sabre_proc_job_t *job)
{
    (void)job;
    return 0;
}

struct proc_call {
    sabre_pool_t *pool;
    size_t rows;
};

static int one_process_call(void *ctx)
{
    struct proc_call *pc = ctx;
    return sabre_pool_process_for(pc->pool, "empty", NULL, 0, pc->rows);
}

/* Median over runs of the median single sabre_pool_process_for latency of
 * an empty job over `rows` rows (4,096 rows go to one process, 16,384 to
 * both), children spinning between calls or (spin_ns = 1) asleep. */
static double process_call_ns(size_t rows, uint64_t spin_ns, unsigned long iters)
{
    sabre_region_t *region;
    sabre_pool_t *pool;
    if (sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 1 << 20},
                            &region) ||
        sabre_pool_create(
            &(sabre_pool_desc_t){
                .threads = 1, .region = region, .processes = 2, .spin_ns = spin_ns},
            &pool) ||
        sabre_pool_register(pool, "empty", empty_proc_job)) {
        fprintf(stderr, "process pool: %s\n", sabre_last_error());
        exit(1);
    }
    struct proc_call pc = {pool, rows};
    double ns = median_call_ns(one_process_call, &pc, iters, "process call"); /* forks first */
    sabre_pool_destroy(pool);
    sabre_region_close(region);
    return ns;
}

/* ---- mailbox round trips -------------------------------------------------- */

struct mb_worker {
    sabre_mailbox_t *mb;
};

static void serve(sabre_mailbox_t *mb)
{
    sabre_mailbox_attach(mb, 0);
    for (;;) {
        sabre_mailbox_req_t req;
        if (sabre_mailbox_next(mb, 0, &req, 60000000000ull) != SABRE_OK)
            return;
        for (uint64_t t = 0; t < req.ticks; t++)
            sabre_mailbox_tick(mb, 0);
        sabre_mailbox_ack(mb, 0, 0);
        if (req.stop)
            return;
    }
}

static void *mb_thread(void *arg)
{
    serve(((struct mb_worker *)arg)->mb);
    return NULL;
}

/* Median over runs of the median single round trip (request 1 tick, wait). */
static int one_round_trip(void *ctx)
{
    sabre_mailbox_t *mb = ctx;
    sabre_mailbox_request(mb, 0, 1);
    return sabre_mailbox_wait(mb, 0, 10000000000ull);
}

static double round_trips_ns(sabre_mailbox_t *mb, unsigned long iters)
{
    double ns = median_call_ns(one_round_trip, mb, iters, "mailbox");
    sabre_mailbox_stop(mb, 0);
    sabre_mailbox_wait(mb, 0, 10000000000ull);
    return ns;
}

static double mailbox_ns(bool processes, uint64_t spin_ns)
{
    sabre_region_t *region;
    sabre_region_desc_t rd = {.backing = processes ? SABRE_BACKING_MEMFD : SABRE_BACKING_PRIVATE,
                              .size = 1 << 16};
    sabre_mailbox_t *mb;
    if (sabre_region_create(&rd, &region) ||
        sabre_mailbox_create(
            region, &(sabre_mailbox_desc_t){.name = "mb", .workers = 1, .spin_ns = spin_ns}, &mb)) {
        fprintf(stderr, "mailbox setup: %s\n", sabre_last_error());
        exit(1);
    }
    unsigned long iters = scaled(spin_ns < 10000 ? 5000 : 20000);
    double ns;
    if (processes) {
        pid_t pid = fork();
        if (pid == 0) {
            sabre_region_t *r2;
            sabre_mailbox_t *m2;
            if (sabre_region_open_fd(sabre_region_fd(region), 0, &r2) ||
                sabre_mailbox_open(r2, "mb", &m2))
                _exit(1);
            serve(m2);
            _exit(0);
        }
        ns = round_trips_ns(mb, iters);
        waitpid(pid, NULL, 0);
    } else {
        pthread_t tid;
        struct mb_worker w = {mb};
        pthread_create(&tid, NULL, mb_thread, &w);
        ns = round_trips_ns(mb, iters);
        pthread_join(tid, NULL);
    }
    sabre_mailbox_close(mb);
    sabre_region_close(region);
    return ns;
}

/* Baseline: a bare two-thread ping-pong on two atomics (no mailbox, no
 * futex), spinning with the same yield policy as sabre's waiters. */
struct pingpong {
    _Alignas(128) _Atomic uint64_t ping;
    _Alignas(128) _Atomic uint64_t pong;
    unsigned long iters;
};

static void spin_until(_Atomic uint64_t *w, uint64_t v)
{
    unsigned spins = 0;
    uint64_t t0 = sabre__now_ns();
    while (atomic_load_explicit(w, memory_order_acquire) != v) {
        sabre__cpu_relax();
        if ((++spins & 63u) == 0 && sabre__now_ns() - t0 >= 2000)
            sched_yield();
    }
}

static void *pong_main(void *arg)
{
    struct pingpong *pp = arg;
    for (uint64_t i = 1; i <= (uint64_t)pp->iters * (RUNS + 1); i++) {
        spin_until(&pp->ping, i);
        atomic_store_explicit(&pp->pong, i, memory_order_release);
    }
    return NULL;
}

static double pingpong_ns(unsigned long iters)
{
    static struct pingpong pp;
    atomic_store(&pp.ping, 0);
    atomic_store(&pp.pong, 0);
    pp.iters = iters;
    pthread_t tid;
    pthread_create(&tid, NULL, pong_main, &pp);
    double v[RUNS];
    double *lat = malloc(iters * sizeof *lat);
    uint64_t seq = 0;
    for (unsigned long i = 0; i < iters; i++) { /* warm up */
        atomic_store_explicit(&pp.ping, ++seq, memory_order_release);
        spin_until(&pp.pong, seq);
    }
    for (int r = 0; r < RUNS; r++) {
        uint64_t prev = sabre__now_ns();
        for (unsigned long i = 0; i < iters; i++) {
            atomic_store_explicit(&pp.ping, ++seq, memory_order_release);
            spin_until(&pp.pong, seq);
            uint64_t now = sabre__now_ns();
            lat[i] = (double)(now - prev);
            prev = now;
        }
        v[r] = bench_median(lat, (int)iters);
    }
    pthread_join(tid, NULL);
    free(lat);
    return bench_median(v, RUNS);
}

/* ---- memory-bound loop ----------------------------------------------------- */

#define N_ROWS (1u << 20)

struct integrate {
    float *px, *py, *vx, *vy;
    float dt;
};

static int integrate_job(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    struct integrate *it = ctx;
    for (size_t i = begin; i < end; i++) {
        it->px[i] += it->vx[i] * it->dt;
        it->py[i] += it->vy[i] * it->dt;
    }
    return 0;
}

static double integrate_ms(sabre_pool_t *pool, struct integrate *it, int reps)
{
    double v[11];
    for (int r = 0; r < 11; r++) {
        uint64_t t0 = sabre__now_ns();
        for (int k = 0; k < reps; k++) {
            if (pool)
                sabre_pool_for(pool, N_ROWS, 0, integrate_job, it);
            else
                integrate_job(it, 0, N_ROWS, 0);
        }
        v[r] = (double)(sabre__now_ns() - t0) / 1e6 / reps;
    }
    return bench_median(v, 11);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scale = (unsigned)strtoul(argv[1], NULL, 10);
    if (scale == 0)
        scale = 100;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_pool: %ld online CPUs, medians of %d runs\n\n", cpus, RUNS);

    double direct = direct_call_ns();
    unsigned long iters = scaled(100000);
    double m1, m2, m2s, m3;
    double fj1 = fork_join_ns(1, 0, 2, iters, &m1);
    double fj2 = fork_join_ns(2, 0, 2, iters, &m2);
    double fj2s = fork_join_ns(2, 1, 2, scaled(20000), &m2s);
    double fj3 = fork_join_ns(3, 0, 3, scaled(20000), &m3);
    printf("parallel-for fork-join, empty job, 64-row chunks: median latency per call "
           "(mean per call incl. preemptions)\n");
    printf("  direct calls of the job (baseline)   %9.1f ns\n", direct);
    printf("  1 thread (inline), 2 chunks          %9.1f ns (%9.1f)  %7.1fx baseline\n", fj1, m1,
           fj1 / direct);
    printf("  2 threads (caller + 1 worker)        %9.1f ns (%9.1f)  %7.1fx baseline"
           "  [target <= 10000 ns]\n",
           fj2, m2, fj2 / direct);
    printf("  2 threads, worker asleep each call   %9.1f ns (%9.1f)  %7.1fx baseline\n", fj2s, m2s,
           fj2s / direct);
    printf("  3 threads (caller + 2 workers)       %9.1f ns (%9.1f)  %7.1fx baseline%s\n", fj3, m3,
           fj3 / direct, cpus < 3 ? "  [more threads than CPUs]" : "");
    printf("\n");

    double pc1 = process_call_ns(4096, 0, scaled(20000));
    double pc2 = process_call_ns(4 * 4096, 0, scaled(20000));
    double pc2s = process_call_ns(4 * 4096, 1, scaled(2000));
    printf("worker-process call (sabre_pool_process_for), empty job, median latency per call\n");
    printf("  1 process (4,096 rows)               %9.1f ns   %7.2fx the 2-thread fork-join\n", pc1,
           pc1 / fj2);
    printf("  2 processes (16,384 rows)            %9.1f ns   %7.2fx the 2-thread fork-join\n", pc2,
           pc2 / fj2);
    printf("  2 processes, asleep each call        %9.1f ns   %7.2fx the 2-thread fork-join, "
           "worker asleep\n\n",
           pc2s, pc2s / fj2s);

    double pp = pingpong_ns(scaled(20000));
    double mt = mailbox_ns(false, 0);
    double mp = mailbox_ns(true, 0);
    double mt_sleep = mailbox_ns(false, 1);
    double mp_sleep = mailbox_ns(true, 1);
    printf("mailbox round trip (request 1 tick -> ack), median per round trip\n");
    printf("  bare atomic ping-pong (baseline) %10.1f ns\n", pp);
    printf("  threads, spinning                %10.1f ns   %6.2fx baseline\n", mt, mt / pp);
    printf("  processes, spinning              %10.1f ns   %6.2fx threads\n", mp, mp / mt);
    printf("  threads, both sides sleep        %10.1f ns\n", mt_sleep);
    printf("  processes, both sides sleep      %10.1f ns   %6.2fx threads\n\n", mp_sleep,
           mp_sleep / mt_sleep);

    struct integrate it = {0};
    it.dt = 0.016f;
    float **arr[4] = {&it.px, &it.py, &it.vx, &it.vy};
    for (int a = 0; a < 4; a++) {
        *arr[a] = aligned_alloc(64, N_ROWS * sizeof(float));
        if (!*arr[a])
            return 1;
        for (size_t i = 0; i < N_ROWS; i++)
            (*arr[a])[i] = (float)(i % 1000) * 0.001f;
    }
    sabre_pool_t *pool;
    if (sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool))
        return 1;
    int reps = (int)scaled(20);
    double serial = integrate_ms(NULL, &it, reps);
    double par = integrate_ms(pool, &it, reps);
    sabre_pool_destroy(pool);
    printf("memory-bound loop, 1M rows (p += v * dt on two f32 pairs, 16 MiB)\n");
    printf("  serial (baseline)                %10.3f ms\n", serial);
    printf("  sabre_pool_for, 2 threads        %10.3f ms   speed-up %.2fx\n", par, serial / par);
    for (int a = 0; a < 4; a++)
        free(*arr[a]);
    return 0;
}
