/*
 * bench_vecenv.c - vector envs against baselines measured in the same run.
 * Every case alternates short slices (SLICE_S) of the measured code and its
 * baseline, RUNS rounds; a ratio is the median of the per-round ratios, so
 * a shared host that changes speed from one second to the next hurts less.
 * The load average is printed before and after, and every target gets a
 * PASS / MISS line.
 *
 *  1. CartPole, sync, 8 envs per worker: time per env step through the
 *     vecenv / the same envs stepped in a plain loop in one thread.
 *  2. The null env (a step costs a few ns): steps/s and the per-batch
 *     handoff cost (time per sync batch minus the plain loop's time for the
 *     same envs), by default and with every step handed to a worker thread
 *     (envs_thread_bound).
 *  3. Against a bare shared-memory handoff written here (PufferLib's
 *     multiprocessing design: one atomic flag per worker, everybody
 *     busy-waits): throughput ratio, and the CPU the process burns while the
 *     policy is idle for 200 ms.
 *  4. Async with batch = half the envs vs sync, envs with a random step cost
 *     (0..20 us) and a policy whose inference costs 2 us + 100 ns per env.
 *
 *     bench_vecenv [rounds]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "sabre/vecenv.h"

#define MAX_RUNS 63
static int RUNS = 11;
#define SLICE_S 0.02 /* one measurement: whole chunks of rounds for this long */
#define CHUNK   16

static int passes, misses;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void spin_for(double s)
{
    if (s <= 0)
        return;
    double until = now_s() + s;
    while (now_s() < until) {
    }
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_vecenv: %s: %s (%s)\n", what, sabre_status_name(rc), sabre_last_error());
    exit(1);
}

static void target(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void target(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %s  ", ok ? "PASS" : "MISS");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    ok ? passes++ : misses++;
}

static void load_average(const char *when)
{
    double l[3] = {0, 0, 0};
    if (getloadavg(l, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

/* The policy: action = low bit of the observation's first word (valid for
 * both CartPole, push 0/1, and the null env), plus simulated inference. */
static inline int32_t act_for(const void *obs)
{
    uint32_t w;
    memcpy(&w, obs, 4);
    return (int32_t)(w & 1u);
}

struct policy_cost {
    double base_s, per_env_s;
};

/* ---- plain loop --------------------------------------------------------- */

struct plain {
    const sabre_env_class_t *c;
    uint32_t envs, obs_size;
    void **e;
    unsigned char *obs;
    int32_t *act;
    uint32_t *episode;
};

static struct plain *plain_make(const sabre_env_class_t *c, const void *cfg, uint32_t envs,
                                uint32_t obs_size)
{
    struct plain *p = calloc(1, sizeof *p);
    *p = (struct plain){.c = c, .envs = envs, .obs_size = obs_size};
    p->e = calloc(envs, sizeof *p->e);
    p->obs = calloc(envs, obs_size);
    p->act = calloc(envs, 4);
    p->episode = calloc(envs, 4);
    for (uint32_t g = 0; g < envs; g++) {
        c->create(cfg, &p->e[g]);
        c->reset(p->e[g], sabre_vecenv_seed(1, g, 0), p->obs + (size_t)g * obs_size);
    }
    return p;
}

/* Seconds per round over every env, stepped in this thread. */
static double plain_run(struct plain *p)
{
    const sabre_env_class_t *c = p->c;
    double t0 = now_s(), t;
    uint64_t rounds = 0;
    do {
        for (int r = 0; r < CHUNK; r++, rounds++) {
            for (uint32_t g = 0; g < p->envs; g++)
                p->act[g] = act_for(p->obs + (size_t)g * p->obs_size);
            for (uint32_t g = 0; g < p->envs; g++) {
                float rew;
                bool te, tr;
                unsigned char *o = p->obs + (size_t)g * p->obs_size;
                c->step(p->e[g], &p->act[g], o, &rew, &te, &tr);
                if (te || tr)
                    c->reset(p->e[g], sabre_vecenv_seed(1, g, ++p->episode[g]), o);
            }
        }
        t = now_s() - t0;
    } while (t < SLICE_S);
    return t / (double)rounds;
}

static void plain_free(struct plain *p)
{
    for (uint32_t g = 0; g < p->envs; g++)
        p->c->free(p->e[g]);
    free(p->e);
    free(p->obs);
    free(p->act);
    free(p->episode);
    free(p);
}

/* ---- sabre -------------------------------------------------------------- */

static sabre_vecenv_t *make(const sabre_env_class_t *c, const void *cfg, uint32_t workers,
                            uint32_t e, sabre_vecenv_backend_t backend, bool thread_bound)
{
    sabre_vecenv_t *ve;
    int rc = sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = c,
                                                        .env_config = cfg,
                                                        .workers = workers,
                                                        .envs_per_worker = e,
                                                        .backend = backend,
                                                        .envs_thread_bound = thread_bound},
                                 &ve);
    if (rc)
        die("create", rc);
    if ((rc = sabre_vecenv_reset(ve, 1, UINT64_MAX)))
        die("reset", rc);
    return ve;
}

/* Seconds per sync round. */
static double vec_sync(sabre_vecenv_t *ve, struct policy_cost pc)
{
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    int32_t *act = a.actions;
    double t0 = now_s(), t;
    uint64_t rounds = 0;
    do {
        for (int r = 0; r < CHUNK; r++, rounds++) {
            for (uint32_t g = 0; g < a.envs; g++)
                act[g] = act_for((unsigned char *)a.obs + (size_t)g * a.obs_size);
            spin_for(pc.base_s + pc.per_env_s * a.envs);
            int rc = sabre_vecenv_step(ve, UINT64_MAX);
            if (rc)
                die("step", rc);
        }
        t = now_s() - t0;
    } while (t < SLICE_S);
    return t / (double)rounds;
}

/* Seconds per env step, recv batches of `batch`. */
static double vec_async(sabre_vecenv_t *ve, uint32_t batch, struct policy_cost pc)
{
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    int32_t *act = a.actions;
    uint32_t *ids = calloc(a.envs, 4), n = 0;
    for (uint32_t g = 0; g < a.envs; g++)
        ids[g] = g;
    spin_for(pc.base_s + pc.per_env_s * a.envs);
    int rc = sabre_vecenv_send(ve, ids, a.envs);
    double t0 = now_s(), t = 0;
    uint64_t done = 0;
    while (rc == SABRE_OK && (t = now_s() - t0) < SLICE_S) {
        if ((rc = sabre_vecenv_recv(ve, batch, ids, &n, UINT64_MAX)))
            break;
        for (uint32_t i = 0; i < n; i++)
            act[ids[i]] = act_for((unsigned char *)a.obs + (size_t)ids[i] * a.obs_size);
        spin_for(pc.base_s + pc.per_env_s * n);
        rc = sabre_vecenv_send(ve, ids, n);
        done += n;
    }
    t /= (double)(done ? done : 1);
    if (rc == SABRE_OK)
        rc = sabre_vecenv_recv(ve, a.envs, ids, &n, UINT64_MAX); /* back to all held */
    if (rc)
        die("async", rc);
    free(ids);
    return t;
}

/* ---- the bare handoff (one atomic flag per worker, busy-wait) ------------ */

struct bare {
    const sabre_env_class_t *c;
    const void *cfg;
    uint32_t n, e, obs_size;
    unsigned char *obs;
    int32_t *act;
    struct {
        _Atomic int flag;
        char pad[124];
    } * w;
    _Atomic int stop;
    pthread_t *th;
};

struct bare_arg {
    struct bare *b;
    uint32_t w;
};

static void *bare_worker(void *p)
{
    struct bare_arg a = *(struct bare_arg *)p;
    free(p);
    struct bare *b = a.b;
    void **e = calloc(b->e, sizeof *e);
    uint32_t *episode = calloc(b->e, 4);
    for (uint32_t k = 0; k < b->e; k++) {
        uint32_t g = a.w * b->e + k;
        b->c->create(b->cfg, &e[k]);
        b->c->reset(e[k], sabre_vecenv_seed(1, g, 0), b->obs + (size_t)g * b->obs_size);
    }
    atomic_store_explicit(&b->w[a.w].flag, 0, memory_order_release);
    for (;;) {
        while (atomic_load_explicit(&b->w[a.w].flag, memory_order_acquire) == 0)
            if (atomic_load_explicit(&b->stop, memory_order_relaxed))
                goto out;
        for (uint32_t k = 0; k < b->e; k++) {
            uint32_t g = a.w * b->e + k;
            float r;
            bool te, tr;
            unsigned char *o = b->obs + (size_t)g * b->obs_size;
            b->c->step(e[k], &b->act[g], o, &r, &te, &tr);
            if (te || tr)
                b->c->reset(e[k], sabre_vecenv_seed(1, g, ++episode[k]), o);
        }
        atomic_store_explicit(&b->w[a.w].flag, 0, memory_order_release);
    }
out:
    for (uint32_t k = 0; k < b->e; k++)
        b->c->free(e[k]);
    free(e);
    free(episode);
    return NULL;
}

static struct bare *bare_start(const sabre_env_class_t *c, const void *cfg, uint32_t n, uint32_t e,
                               uint32_t obs_size)
{
    struct bare *b = calloc(1, sizeof *b);
    *b = (struct bare){.c = c, .cfg = cfg, .n = n, .e = e, .obs_size = obs_size};
    b->obs = calloc((size_t)n * e, obs_size);
    b->act = calloc((size_t)n * e, 4);
    b->w = aligned_alloc(128, 128 * (size_t)n);
    b->th = calloc(n, sizeof *b->th);
    for (uint32_t w = 0; w < n; w++) {
        atomic_init(&b->w[w].flag, 1);
        struct bare_arg *a = malloc(sizeof *a);
        a->b = b;
        a->w = w;
        pthread_create(&b->th[w], NULL, bare_worker, a);
    }
    for (uint32_t w = 0; w < n; w++) /* wait until every worker reset its envs */
        while (atomic_load(&b->w[w].flag) != 0) {
        }
    return b;
}

/* Seconds per round. */
static double bare_run(struct bare *b)
{
    uint32_t envs = b->n * b->e;
    double t0 = now_s(), t;
    uint64_t rounds = 0;
    do {
        for (int r = 0; r < CHUNK; r++, rounds++) {
            for (uint32_t g = 0; g < envs; g++)
                b->act[g] = act_for(b->obs + (size_t)g * b->obs_size);
            for (uint32_t w = 0; w < b->n; w++)
                atomic_store_explicit(&b->w[w].flag, 1, memory_order_release);
            for (uint32_t w = 0; w < b->n; w++)
                while (atomic_load_explicit(&b->w[w].flag, memory_order_acquire) != 0) {
                }
        }
        t = now_s() - t0;
    } while (t < SLICE_S);
    return t / (double)rounds;
}

static void bare_stop(struct bare *b)
{
    atomic_store(&b->stop, 1);
    for (uint32_t w = 0; w < b->n; w++)
        pthread_join(b->th[w], NULL);
    free(b->obs);
    free(b->act);
    free(b->w);
    free(b->th);
    free(b);
}

/* CPU seconds the process burns while its policy sleeps for `s` seconds. */
static double idle_cpu(double s)
{
    double c0 = cpu_s();
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
    return cpu_s() - c0;
}

/* ---- the benchmarks ----------------------------------------------------- */

static const char *bk(sabre_vecenv_backend_t b)
{
    return b == SABRE_VECENV_THREADS ? "threads" : "processes";
}

static void bench_overhead(uint32_t workers, sabre_vecenv_backend_t backend)
{
    const sabre_env_class_t *cp = sabre_env_cartpole();
    uint32_t e = 8, envs = workers * e;
    double ratio[MAX_RUNS], tv[MAX_RUNS], tp[MAX_RUNS];
    sabre_vecenv_t *ve = make(cp, NULL, workers, e, backend, false);
    struct plain *p = plain_make(cp, NULL, envs, 16);
    vec_sync(ve, (struct policy_cost){0, 0}); /* warm up */
    for (int i = 0; i < RUNS; i++) {
        tp[i] = plain_run(p);
        tv[i] = vec_sync(ve, (struct policy_cost){0, 0});
        ratio[i] = tv[i] / tp[i];
    }
    sabre_vecenv_stats_t st;
    sabre_vecenv_stats(ve, &st);
    sabre_vecenv_close(ve);
    plain_free(p);
    double r = bench_median(ratio, RUNS), v = bench_median(tv, RUNS), pl = bench_median(tp, RUNS);
    printf("cartpole sync, %u %s x 8 envs: %.1f ns per env step vs %.1f ns in a plain loop over "
           "%u envs in one thread (%.0f%% of the steps run by the policy thread)\n",
           workers, bk(backend), v * 1e9 / envs, pl * 1e9 / envs, envs,
           st.steps ? 100.0 * (double)st.policy_steps / (double)st.steps : 0.0);
    target(r <= 1.10,
           "cartpole sync overhead, %u %s x 8 envs: ratio %.3f (%+.1f%%), target <= 1.10", workers,
           bk(backend), r, (r - 1) * 100);
}

static void bench_null(uint32_t workers, sabre_vecenv_backend_t backend, bool thread_bound)
{
    const sabre_env_class_t *nu = sabre_env_null();
    uint32_t e = 8, envs = workers * e;
    double sps[MAX_RUNS], hand[MAX_RUNS];
    sabre_vecenv_t *ve = make(nu, NULL, workers, e, backend, thread_bound);
    struct plain *p = plain_make(nu, NULL, envs, 16);
    vec_sync(ve, (struct policy_cost){0, 0});
    for (int i = 0; i < RUNS; i++) {
        double tp = plain_run(p);
        double tv = vec_sync(ve, (struct policy_cost){0, 0});
        sps[i] = envs / tv;
        hand[i] = (tv - tp) * 1e9;
    }
    sabre_vecenv_close(ve);
    plain_free(p);
    printf("null env sync, %u %s x 8 envs%s: %.2f M env steps/s, handoff %.0f ns per batch "
           "(batch time minus the plain loop's)\n",
           workers, bk(backend), thread_bound ? ", every step on a worker (envs_thread_bound)" : "",
           bench_median(sps, RUNS) / 1e6, bench_median(hand, RUNS));
}

#define IDLE_S      0.2
#define IDLE_ROUNDS 3

static void bench_bare(const sabre_env_class_t *c, const char *name, uint32_t n)
{
    uint32_t e = 8;
    double ratio[MAX_RUNS], idle_s[MAX_RUNS], idle_b[MAX_RUNS];
    int idles = RUNS < IDLE_ROUNDS ? RUNS : IDLE_ROUNDS;
    sabre_vecenv_t *ve = make(c, NULL, n, e, SABRE_VECENV_THREADS, false);
    vec_sync(ve, (struct policy_cost){0, 0});
    for (int i = 0; i < RUNS; i++) {
        struct bare *b = bare_start(c, NULL, n, e, 16);
        double tb = bare_run(b);
        if (i < idles)
            idle_b[i] = idle_cpu(IDLE_S);
        bare_stop(b);
        double ts = vec_sync(ve, (struct policy_cost){0, 0});
        if (i < idles)
            idle_s[i] = idle_cpu(IDLE_S);
        ratio[i] = tb / ts; /* throughput sabre / bare */
    }
    sabre_vecenv_close(ve);
    double r = bench_median(ratio, RUNS), is = bench_median(idle_s, idles),
           ib = bench_median(idle_b, idles);
    printf("%s sync, %u thread%s x 8 envs, sabre vs a bare busy-wait flag handoff: CPU burnt "
           "while the policy idles 200 ms: sabre %.1f ms, bare %.1f ms\n",
           name, n, n > 1 ? "s" : "", is * 1e3, ib * 1e3);
    target(r >= 1.0,
           "%s vs bare handoff, %u thread%s x 8 envs: throughput ratio %.2f, target >= 1.0", name,
           n, n > 1 ? "s" : "", r);
    target(is <= 0.05 * IDLE_S,
           "%s, %u thread%s: CPU while the policy idles: %.1f%% of one core, target <= 5%% (bare: "
           "%.0f%%)",
           name, n, n > 1 ? "s" : "", 100 * is / IDLE_S, 100 * ib / IDLE_S);
}

static void bench_async(void)
{
    sabre_env_null_config_t cfg = {.horizon = 1000, .cost_min_ns = 0, .cost_max_ns = 20000};
    struct policy_cost pc = {2e-6, 100e-9};
    uint32_t n = 2, e = 8, envs = n * e;
    double ratio[MAX_RUNS], ss[MAX_RUNS], as[MAX_RUNS];
    sabre_vecenv_t *ve = make(sabre_env_null(), &cfg, n, e, SABRE_VECENV_THREADS, false);
    for (int i = 0; i < RUNS; i++) {
        double ts = vec_sync(ve, pc) / envs; /* per env step */
        double ta = vec_async(ve, envs / 2, pc);
        ss[i] = 1 / ts;
        as[i] = 1 / ta;
        ratio[i] = ts / ta;
    }
    sabre_vecenv_close(ve);
    double r = bench_median(ratio, RUNS);
    printf("async (batch 8 of 16) vs sync, 2 threads x 8 envs, step cost uniform 0..20 us, "
           "inference 2 us + 100 ns/env: %.0f vs %.0f steps/s\n",
           bench_median(as, RUNS), bench_median(ss, RUNS));
    target(r >= 1.0, "async (batch = half) vs sync, uneven step cost: ratio %.2f, target >= 1.0",
           r);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        RUNS = atoi(argv[1]) > 0 && atoi(argv[1]) <= MAX_RUNS ? atoi(argv[1]) : RUNS;
    printf("bench_vecenv: medians of %d rounds (%.0f ms slices, measured and baseline "
           "alternating)\n",
           RUNS, SLICE_S * 1e3);
    load_average("before");
    bench_overhead(1, SABRE_VECENV_THREADS);
    bench_overhead(2, SABRE_VECENV_THREADS);
    bench_overhead(2, SABRE_VECENV_PROCESSES);
    bench_null(1, SABRE_VECENV_THREADS, false);
    bench_null(2, SABRE_VECENV_THREADS, false);
    bench_null(2, SABRE_VECENV_THREADS, true);
    bench_null(2, SABRE_VECENV_PROCESSES, false);
    bench_bare(sabre_env_cartpole(), "cartpole", 1);
    bench_bare(sabre_env_cartpole(), "cartpole", 2);
    bench_bare(sabre_env_null(), "null env", 2);
    bench_async();
    load_average("after");
    printf("targets: %d pass, %d miss\n", passes, misses);
    return 0;
}
