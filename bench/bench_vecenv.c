/*
 * bench_vecenv.c - vector envs against baselines measured in the same run;
 * every figure is the median of RUNS back-to-back runs (ratios are medians
 * of per-run ratios, so a host that changes speed mid-run hurts less).
 *
 *  1. CartPole, sync, 8 envs per worker: time per env step through the
 *     vecenv / the same envs stepped in a plain loop in one thread.
 *  2. The null env (a step costs a few ns): steps/s and the per-batch
 *     handoff cost (time per sync batch minus the plain loop's time for the
 *     same envs).
 *  3. Against a bare shared-memory handoff written here (PufferLib's
 *     multiprocessing design: one atomic flag per worker, everybody
 *     busy-waits): throughput ratio, and the CPU the workers burn while the
 *     policy is idle for 200 ms.
 *  4. Async with batch = half the envs vs sync, envs with a random step cost
 *     (0..20 us) and a policy whose inference costs 2 us + 100 ns per env.
 *
 *     bench_vecenv [runs]
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

static int RUNS = 5;

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

/* Every measurement runs for this long (whole chunks of rounds) and
 * returns seconds per round: bounded however slow the host is. */
#define BUDGET_S 0.2
#define CHUNK    32

/* Seconds per round over `envs` envs stepped in this thread. */
static double plain_loop(const sabre_env_class_t *c, const void *cfg, uint32_t envs,
                         uint32_t obs_size)
{
    void **e = calloc(envs, sizeof *e);
    unsigned char *obs = calloc(envs, obs_size);
    int32_t *act = calloc(envs, 4);
    uint32_t *episode = calloc(envs, 4);
    for (uint32_t g = 0; g < envs; g++) {
        c->create(cfg, &e[g]);
        c->reset(e[g], sabre_vecenv_seed(1, g, 0), obs + (size_t)g * obs_size);
    }
    double t0 = now_s(), t;
    uint64_t rounds = 0;
    do {
        for (int r = 0; r < CHUNK; r++, rounds++) {
            for (uint32_t g = 0; g < envs; g++)
                act[g] = act_for(obs + (size_t)g * obs_size);
            for (uint32_t g = 0; g < envs; g++) {
                float rew;
                bool te, tr;
                c->step(e[g], &act[g], obs + (size_t)g * obs_size, &rew, &te, &tr);
                if (te || tr)
                    c->reset(e[g], sabre_vecenv_seed(1, g, ++episode[g]),
                             obs + (size_t)g * obs_size);
            }
        }
        t = now_s() - t0;
    } while (t < BUDGET_S);
    t /= (double)rounds;
    for (uint32_t g = 0; g < envs; g++)
        c->free(e[g]);
    free(e);
    free(obs);
    free(act);
    free(episode);
    return t;
}

/* ---- sabre -------------------------------------------------------------- */

static sabre_vecenv_t *make(const sabre_env_class_t *c, const void *cfg, uint32_t workers,
                            uint32_t e, sabre_vecenv_backend_t backend)
{
    sabre_vecenv_t *ve;
    int rc = sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = c,
                                                        .env_config = cfg,
                                                        .workers = workers,
                                                        .envs_per_worker = e,
                                                        .backend = backend},
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
    } while (t < BUDGET_S);
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
    while (rc == SABRE_OK && (t = now_s() - t0) < BUDGET_S) {
        if ((rc = sabre_vecenv_recv(ve, batch, ids, &n, UINT64_MAX)))
            break;
        for (uint32_t i = 0; i < n; i++)
            act[ids[i]] = act_for((unsigned char *)a.obs + (size_t)ids[i] * a.obs_size);
        spin_for(pc.base_s + pc.per_env_s * n);
        rc = sabre_vecenv_send(ve, ids, n);
        done += n;
    }
    t /= (double)(done ? done : 1);
    uint32_t left = a.envs;
    if (rc == SABRE_OK)
        rc = sabre_vecenv_recv(ve, left, ids, &n, UINT64_MAX); /* back to all held */
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
    } while (t < BUDGET_S);
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

static void bench_overhead(uint32_t workers, sabre_vecenv_backend_t backend)
{
    const sabre_env_class_t *cp = sabre_env_cartpole();
    uint32_t e = 8, envs = workers * e;
    double ratio[32], tv[32], tp[32];
    sabre_vecenv_t *ve = make(cp, NULL, workers, e, backend);
    for (int i = 0; i < RUNS; i++) {
        tp[i] = plain_loop(cp, NULL, envs, 16);
        tv[i] = vec_sync(ve, (struct policy_cost){0, 0});
        ratio[i] = tv[i] / tp[i];
    }
    sabre_vecenv_close(ve);
    double r = bench_median(ratio, RUNS), v = bench_median(tv, RUNS), p = bench_median(tp, RUNS);
    printf("cartpole sync, %u %s x 8 envs: %.1f ns per env step vs %.1f ns in a plain loop over "
           "%u envs in one thread: ratio %.2f (overhead %+.0f%%; target <= +10%%)\n",
           workers, backend == SABRE_VECENV_THREADS ? "threads" : "processes", v * 1e9 / envs,
           p * 1e9 / envs, envs, r, (r - 1) * 100);
}

static void bench_null(uint32_t workers, sabre_vecenv_backend_t backend)
{
    const sabre_env_class_t *nu = sabre_env_null();
    uint32_t e = 8, envs = workers * e;
    double sps[32], hand[32];
    sabre_vecenv_t *ve = make(nu, NULL, workers, e, backend);
    for (int i = 0; i < RUNS; i++) {
        double tp = plain_loop(nu, NULL, envs, 16);
        double tv = vec_sync(ve, (struct policy_cost){0, 0});
        sps[i] = envs / tv;
        hand[i] = (tv - tp) * 1e9;
    }
    sabre_vecenv_close(ve);
    printf("null env sync, %u %s x 8 envs: %.2f M env steps/s, handoff %.0f ns per batch "
           "(batch time minus the plain loop's)\n",
           workers, backend == SABRE_VECENV_THREADS ? "threads" : "processes",
           bench_median(sps, RUNS) / 1e6, bench_median(hand, RUNS));
}

static void bench_bare(const sabre_env_class_t *c, const char *name)
{
    uint32_t n = 2, e = 8;
    double ratio[32], idle_s[32], idle_b[32];
    for (int i = 0; i < RUNS; i++) {
        sabre_vecenv_t *ve = make(c, NULL, n, e, SABRE_VECENV_THREADS);
        double ts = vec_sync(ve, (struct policy_cost){0, 0});
        idle_s[i] = idle_cpu(0.2);
        sabre_vecenv_close(ve);
        struct bare *b = bare_start(c, NULL, n, e, 16);
        double tb = bare_run(b);
        idle_b[i] = idle_cpu(0.2);
        bare_stop(b);
        ratio[i] = tb / ts; /* throughput sabre / bare */
    }
    printf("%s sync, 2 threads x 8 envs, sabre vs a bare busy-wait flag handoff: throughput "
           "ratio %.2f (target >= 1.0); CPU burnt while the policy idles 200 ms: sabre %.1f ms, "
           "bare %.1f ms\n",
           name, bench_median(ratio, RUNS), bench_median(idle_s, RUNS) * 1e3,
           bench_median(idle_b, RUNS) * 1e3);
}

static void bench_async(void)
{
    sabre_env_null_config_t cfg = {.horizon = 1000, .cost_min_ns = 0, .cost_max_ns = 20000};
    struct policy_cost pc = {2e-6, 100e-9};
    uint32_t n = 2, e = 8, envs = n * e;
    double ratio[32], ss[32], as[32];
    for (int i = 0; i < RUNS; i++) {
        sabre_vecenv_t *ve = make(sabre_env_null(), &cfg, n, e, SABRE_VECENV_THREADS);
        double ts = vec_sync(ve, pc) / envs; /* per env step */
        double ta = vec_async(ve, envs / 2, pc);
        sabre_vecenv_close(ve);
        ss[i] = 1 / ts;
        as[i] = 1 / ta;
        ratio[i] = ts / ta;
    }
    printf("async (batch 8 of 16) vs sync, 2 threads x 8 envs, step cost uniform 0..20 us, "
           "inference 2 us + 100 ns/env: %.0f vs %.0f steps/s, ratio %.2f (target >= 1.0)\n",
           bench_median(as, RUNS), bench_median(ss, RUNS), bench_median(ratio, RUNS));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        RUNS = atoi(argv[1]) > 0 && atoi(argv[1]) <= 31 ? atoi(argv[1]) : 5;
    printf("bench_vecenv: medians of %d runs\n", RUNS);
    bench_overhead(1, SABRE_VECENV_THREADS);
    bench_overhead(2, SABRE_VECENV_THREADS);
    bench_overhead(2, SABRE_VECENV_PROCESSES);
    bench_null(1, SABRE_VECENV_THREADS);
    bench_null(2, SABRE_VECENV_THREADS);
    bench_null(2, SABRE_VECENV_PROCESSES);
    bench_bare(sabre_env_cartpole(), "cartpole");
    bench_bare(sabre_env_null(), "null env");
    bench_async();
    return 0;
}
