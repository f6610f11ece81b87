/*
 * bench_targets - the offload and scheduling targets of issue 14, each as a
 * ratio against a baseline measured in the same run, per round, with the
 * median over rounds and a pass / miss line:
 *
 *   1. the design note's workload (one integrate system, pos += vel*dt,
 *      every row marked changed; a 2-thread pool), at N = 1K .. 10M, three
 *      schedulers on one world taking turns within each round: no pool
 *      (serial), in place with adaptive dispatch, snapshot with adaptive
 *      dispatch.  Targets: in place >= 0.95x the speed of serial at every N;
 *      snapshot <= 2x in place at 100K and 1M.
 *   2. iteration: pos += vel*dt through the query API vs a plain loop over
 *      bare arrays at 10M entities, both on the same page policy
 *      (transparent-huge-page advice, as the world's region).  Target: the
 *      query within 5 % of the plain loop.
 *   3. scheduler overhead per empty system (10 empty `run` systems, 1 and 2
 *      threads), next to direct calls.  The target (<= 0.8x flecs) needs
 *      flecs, which is measured side by side by ../shared/peers/run.sh,
 *      never here: this prints sabre's figure only.
 *
 * Each round runs every side back to back (blocks of about 20 ms), so a load
 * change on the shared machine hits both sides of a ratio alike; the load
 * average is printed at the start and the end.
 * usage: bench_targets [rounds (11)] [max entities (10000000)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/internal.h"
#include "sabre/sabre.h"

#include "bench_util.h"

#define MAX_ROUNDS 64

#define DIE(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_) {                                                                                 \
            fprintf(stderr, "bench_targets: %s: %s (%s)\n", #expr, sabre_status_name(rc_),         \
                    sabre_last_error());                                                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static unsigned rounds = 11;
static unsigned misses;

static void print_load(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            strcpy(buf, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, buf);
}

static void verdict(const char *what, double ratio, const char *cmp, double target, bool met)
{
    printf("  %-58s %6.3fx (target %s %.2f): %s\n", what, ratio, cmp, target,
           met ? "pass" : "MISS");
    misses += !met;
}

/* ---- 1. the design note's workload ------------------------------------ */

typedef struct note_args {
    sabre_component_t pos, vel;
} note_args_t;

static int note_integrate(const sabre_kernel_ctx_t *c)
{
    const note_args_t *a = c->args;
    float *px = sabre_kernel_column(c, 1, 0), *py = sabre_kernel_column(c, 1, 1);
    const float *vx = sabre_kernel_column(c, 0, 0), *vy = sabre_kernel_column(c, 0, 1);
    if (!px || !py || !vx || !vy)
        return SABRE_EINVAL;
    float dt = (float)c->dt;
    for (uint64_t i = c->begin; i < c->end; i++) {
        px[i] += vx[i] * dt;
        py[i] += vy[i] * dt;
    }
    return sabre_snapshot_mark_range(c->rows, a->pos, c->begin, c->end - c->begin);
}

enum { M_SERIAL, M_INPLACE, M_SNAPSHOT, M_COUNT };
static const char *const mode_name[M_COUNT] = {"serial", "in place", "snapshot"};

static sabre_sched_t *note_sched(sabre_world_t *w, sabre_pool_t *pool, note_args_t *a,
                                 sabre_offload_t mode)
{
    sabre_sched_t *s;
    DIE(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s));
    DIE(sabre_sched_add(s, &(sabre_system_desc_t){.name = "integrate",
                                                  .reads = &a->vel,
                                                  .nreads = 1,
                                                  .writes = &a->pos,
                                                  .nwrites = 1,
                                                  .kernel = note_integrate,
                                                  .offload = mode,
                                                  .marks_rows = true, /* it marks itself */
                                                  .args = a,
                                                  .args_len = sizeof *a}));
    return s;
}

static double frames_ns(sabre_sched_t *s, unsigned frames)
{
    uint64_t t0 = sabre__now_ns();
    for (unsigned f = 0; f < frames; f++)
        DIE(sabre_sched_run_frame(s, 0.016, 0));
    return (double)(sabre__now_ns() - t0) / frames;
}

static void note_workload(uint64_t maxn)
{
    printf("\n1. the design note's workload: one integrate system, every row marked changed, "
           "a 2-thread pool (caller + 1 worker); adaptive dispatch; ns/entity/frame, medians of "
           "%u rounds, ratios per round\n",
           rounds);
    printf("%10s %7s %9s %9s %9s\n", "entities", "frames", mode_name[0], mode_name[1],
           mode_name[2]);
    for (uint64_t n = 1000; n <= maxn; n *= 10) {
        sabre_world_t *w;
        note_args_t a;
        DIE(sabre_world_create(&(sabre_world_desc_t){.region_size = n * 64 + (256u << 20)}, &w));
        DIE(sabre_component_define(
            w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct P { x: f32; y: f32; }"},
            &a.pos));
        DIE(sabre_component_define(
            w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct V { x: f32; y: f32; }"},
            &a.vel));
        float vel[2] = {1.0f, 2.0f};
        sabre_prefab_t *pf;
        sabre_prefab_step_t steps[2] = {{.comp = a.pos}, {.comp = a.vel, .value = vel}};
        DIE(sabre_prefab_create(w, "mover", steps, 2, &pf));
        DIE(sabre_prefab_spawn(w, pf, n, NULL, 0, NULL));
        sabre_pool_t *pool;
        DIE(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
        sabre_sched_t *s[M_COUNT] = {note_sched(w, NULL, &a, SABRE_OFFLOAD_INPLACE),
                                     note_sched(w, pool, &a, SABRE_OFFLOAD_INPLACE),
                                     note_sched(w, pool, &a, SABRE_OFFLOAD_SNAPSHOT)};
        /* warm-up (pages, snapshot, fork-join and dispatch estimates), then
         * blocks of about 20 ms of serial frames per side and round */
        for (int m = 0; m < M_COUNT; m++)
            (void)frames_ns(s[m], n >= 1000000 ? 5 : 50);
        double one = frames_ns(s[M_SERIAL], n >= 1000000 ? 3 : 30);
        unsigned frames = (unsigned)SABRE_MAX(3.0, SABRE_MIN(20000.0, 20e6 / one));
        for (int m = 0; m < M_COUNT; m++) /* the estimates settle */
            (void)frames_ns(s[m], frames);
        double t[M_COUNT][MAX_ROUNDS], speed[MAX_ROUNDS], snap[MAX_ROUNDS];
        for (unsigned r = 0; r < rounds; r++) {
            for (int m = 0; m < M_COUNT; m++)
                t[m][r] = frames_ns(s[m], frames) / (double)n;
            speed[r] = t[M_SERIAL][r] / t[M_INPLACE][r];
            snap[r] = t[M_SNAPSHOT][r] / t[M_INPLACE][r];
        }
        printf("%10" PRIu64 " %7u", n, frames);
        for (int m = 0; m < M_COUNT; m++)
            printf(" %9.3f", bench_median(t[m], (int)rounds));
        printf("\n");
        double sp = bench_median(speed, (int)rounds), sn = bench_median(snap, (int)rounds);
        char what[96];
        snprintf(what, sizeof what, "%" PRIu64 ": in place speed vs serial", n);
        verdict(what, sp, ">=", 0.95, sp >= 0.95);
        snprintf(what, sizeof what, "%" PRIu64 ": snapshot time / in place time", n);
        if (n == 100000 || n == 1000000)
            verdict(what, sn, "<=", 2.0, sn <= 2.0);
        else
            printf("  %-58s %6.3fx (no target at this size)\n", what, sn);
        if (getenv("BENCH_TARGETS_DUMP")) /* the dispatch decisions behind the row */
            for (int m = 1; m < M_COUNT; m++)
                sabre_sched_dump(s[m], stdout);
        for (int m = 0; m < M_COUNT; m++)
            sabre_sched_destroy(s[m]);
        sabre_pool_destroy(pool);
        sabre_world_destroy(w);
    }
}

/* ---- 2. iteration vs a plain loop on the same pages ------------------- */

static void plain_loop(float *restrict px, float *restrict py, const float *restrict vx,
                       const float *restrict vy, size_t n, float dt)
{
    for (size_t i = 0; i < n; i++) {
        px[i] += vx[i] * dt;
        py[i] += vy[i] * dt;
    }
}

/* n floats, 2 MiB aligned, with the world region's page policy (THP advice) */
static float *bare_array(size_t n)
{
    void *p = NULL;
    size_t bytes = SABRE_ALIGN_UP(n * 4, (size_t)2 << 20);
    if (posix_memalign(&p, (size_t)2 << 20, bytes))
        exit(1);
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static volatile float fsink;

static void iteration(uint64_t n)
{
    sabre_world_t *w;
    sabre_component_t P, V;
    DIE(sabre_world_create(&(sabre_world_desc_t){.region_size = n * 64 + (256u << 20)}, &w));
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct P { x: f32; y: f32; }"}, &P));
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct V { x: f32; y: f32; }"}, &V));
    float vel[2] = {1.0f, 0.5f};
    sabre_prefab_t *pf;
    sabre_prefab_step_t steps[2] = {{.comp = P}, {.comp = V, .value = vel}};
    DIE(sabre_prefab_create(w, "mover", steps, 2, &pf));
    DIE(sabre_prefab_spawn(w, pf, n, NULL, 0, NULL));
    sabre_query_t *q;
    DIE(sabre_query_create(w, &(sabre_query_desc_t){.all = (sabre_component_t[]){P, V}, .nall = 2},
                           &q));
    float *px = bare_array(n), *py = bare_array(n), *vx = bare_array(n), *vy = bare_array(n);
    for (size_t i = 0; i < n; i++)
        px[i] = py[i] = 0, vx[i] = 1.0f, vy[i] = 0.5f;
    /* each round: PASSES passes of each side, in alternating order (what
     * runs second finds the other's lines evicted alike) */
    enum { PASSES = 3 };
    double tp[MAX_ROUNDS], tq[MAX_ROUNDS], ratio[MAX_ROUNDS];
    for (unsigned r = 0; r <= rounds; r++) { /* round 0 warms the pages */
        uint64_t side[2] = {0, 0};
        for (unsigned k = 0; k < 2 * PASSES; k++) {
            unsigned which = (k + r) % 2; /* 0: plain loop, 1: query */
            uint64_t t0 = sabre__now_ns();
            if (which == 0) {
                plain_loop(px, py, vx, vy, n, 0.016f);
            } else {
                sabre_iter_t it;
                sabre_query_iter(q, &it);
                while (sabre_iter_next(&it))
                    plain_loop(sabre_iter_column(&it, 0, 0), sabre_iter_column(&it, 0, 1),
                               sabre_iter_column(&it, 1, 0), sabre_iter_column(&it, 1, 1), it.count,
                               0.016f);
            }
            side[which] += sabre__now_ns() - t0;
        }
        if (r > 0) {
            tp[r - 1] = (double)side[0] / PASSES / (double)n;
            tq[r - 1] = (double)side[1] / PASSES / (double)n;
            ratio[r - 1] = tq[r - 1] / tp[r - 1];
        }
    }
    fsink = px[n - 1] + py[n / 2];
    printf("\n2. iteration, pos += vel*dt, %" PRIu64 " entities, THP advice on both sides: "
           "plain loop %.3f, query API %.3f ns/entity (medians of %u rounds)\n",
           n, bench_median(tp, (int)rounds), bench_median(tq, (int)rounds), rounds);
    double rq = bench_median(ratio, (int)rounds);
    verdict("query API time / plain loop time", rq, "<=", 1.05, rq <= 1.05);
    free(px);
    free(py);
    free(vx);
    free(vy);
    sabre_world_destroy(w);
}

/* ---- 3. scheduler overhead per empty system --------------------------- */

static int empty_sys(const sabre_sys_ctx_t *c)
{
    (void)c;
    return 0;
}

static volatile int isink;
static int __attribute__((noinline)) direct(const sabre_sys_ctx_t *c)
{
    (void)c;
    isink++;
    return 0;
}

static void overhead(void)
{
    enum { SYSTEMS = 10, FRAMES = 20000 };
    sabre_world_t *w;
    DIE(sabre_world_create(NULL, &w));
    sabre_pool_t *pool;
    DIE(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
    sabre_sched_t *s[2];
    for (int k = 0; k < 2; k++) {
        DIE(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = k ? pool : NULL}, &s[k]));
        for (int i = 0; i < SYSTEMS; i++) {
            char name[16];
            snprintf(name, sizeof name, "empty%d", i);
            DIE(sabre_sched_add(s[k], &(sabre_system_desc_t){.name = name, .run = empty_sys}));
        }
        (void)frames_ns(s[k], 200);
    }
    int (*volatile fn)(const sabre_sys_ctx_t *) = direct;
    sabre_sys_ctx_t c = {0};
    double t[3][MAX_ROUNDS];
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t t0 = sabre__now_ns();
        for (unsigned f = 0; f < FRAMES; f++)
            for (int i = 0; i < SYSTEMS; i++)
                fn(&c);
        t[0][r] = (double)(sabre__now_ns() - t0) / FRAMES / SYSTEMS;
        for (int k = 0; k < 2; k++)
            t[1 + k][r] = frames_ns(s[k], FRAMES) / SYSTEMS;
    }
    printf("\n3. scheduler overhead, %d empty systems per frame (medians of %u rounds): "
           "%.1f ns/system with 1 thread, %.1f ns/system with a 2-thread pool; direct calls "
           "%.1f ns\n",
           SYSTEMS, rounds, bench_median(t[1], (int)rounds), bench_median(t[2], (int)rounds),
           bench_median(t[0], (int)rounds));
    printf("  target <= 0.8x flecs per empty system: flecs is measured side by side by "
           "../shared/peers/run.sh ('sched' rows), not here\n");
    for (int k = 0; k < 2; k++)
        sabre_sched_destroy(s[k]);
    sabre_pool_destroy(pool);
    sabre_world_destroy(w);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = (unsigned)strtoul(argv[1], NULL, 10);
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench_targets [rounds 1..%d] [max entities]\n", MAX_ROUNDS);
        return 2;
    }
    uint64_t maxn = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;
    printf("bench_targets: issue 14's offload and scheduling targets, %u rounds, ratios measured "
           "back to back in each round\n",
           rounds);
    print_load("at the start");
    note_workload(maxn);
    iteration(SABRE_MIN(maxn, (uint64_t)10000000));
    overhead();
    print_load("at the end");
    printf("\n%u target%s missed\n", misses, misses == 1 ? "" : "s");
    return 0;
}
