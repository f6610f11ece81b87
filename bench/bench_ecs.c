/*
 * bench_ecs.c - ECS and snapshot costs as ratios against baselines measured
 * in the same run (medians of several runs):
 *   1. pos += vel * dt through the query API vs a plain C loop over bare
 *      arrays of the same size (1M and 10M entities, f32 x,y);
 *   2. snapshot rebuild + mark of every row + commit vs memcpy of the same
 *      bytes (24 B/row copied out: ids, pos, vel; 8 B/row back: pos); the
 *      marking is inside the timed loop (a kernel that changes rows pays
 *      it); the commit's slow path (entity lookups, forced) vs its fast
 *      path; rebuild + mark + commit through a 2-thread executor (a plain
 *      pthread parallel_for, threads started per call) vs memcpy through
 *      the same 2-thread executor;
 *   3. structural operations, ns per operation after warm-up: create with
 *      2 components (values given), destroy, add+remove of one component
 *      (tag and data), for table storage and for sparse storage (ratio
 *      sparse / table in the same run).  No peer figure is printed: ../shared/peers/run.sh
 *      measures flecs and EnTT side by side (README, Performance).
 * Page policy: every buffer, the world's region and the baselines' bare
 * arrays alike, is 2 MiB aligned with transparent-huge-page advice
 * (MADV_HUGEPAGE), so ratios compare loops and copies, not page sizes.
 * Usage: bench_ecs [max_entities]   (default 10000000)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_util.h"
#include "ecs/ecs_internal.h"
#include "sabre/snapshot.h"
#include "snapshot/snapshot_internal.h"

typedef struct {
    float x, y;
} vec2;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define RUNS 7
#define DIE(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_) {                                                                                 \
            fprintf(stderr, "%s: %s (%s)\n", #expr, sabre_status_name(rc_), sabre_last_error());   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static volatile float sink;

/* A 2-thread parallel_for for the snapshot executor: the caller and one
 * started thread claim ranges from a counter. */
typedef struct pjob {
    size_t n, grain;
    sabre_snapshot_range_fn fn;
    void *ctx;
    _Atomic size_t next;
} pjob_t;

static void *pjob_run(void *arg)
{
    pjob_t *j = arg;
    for (;;) {
        size_t b = atomic_fetch_add(&j->next, j->grain);
        if (b >= j->n)
            return NULL;
        j->fn(j->ctx, b, b + j->grain < j->n ? b + j->grain : j->n, 0);
    }
}

static int two_thread_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    (void)user;
    pjob_t j = {.n = n, .grain = grain, .fn = fn, .ctx = ctx};
    atomic_init(&j.next, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, pjob_run, &j))
        return -1;
    pjob_run(&j);
    pthread_join(th, NULL);
    return 0;
}

static void plain_loop(float *restrict px, float *restrict py, const float *restrict vx,
                       const float *restrict vy, size_t n, float dt)
{
    for (size_t i = 0; i < n; i++) {
        px[i] += vx[i] * dt;
        py[i] += vy[i] * dt;
    }
}

/* bytes, 2 MiB aligned, with the world region's page policy (THP advice). */
static void *bare_bytes(size_t n)
{
    void *p = NULL;
    size_t bytes = (n + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    if (posix_memalign(&p, 2u << 20, bytes))
        exit(1);
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static float *bare_array(size_t n)
{
    return bare_bytes(n * 4);
}

/* memcpy of the snapshot's bytes (out and back) split over the executor's
 * ranges, so a threaded snapshot is compared with a copy on as many threads. */
typedef struct copyjob {
    char *dst, *dst2;
    const char *src, *src2;
    size_t out_row, back_row; /* bytes per row */
} copyjob_t;

static int copy_range(void *ctx, size_t b, size_t e, unsigned worker)
{
    (void)worker;
    copyjob_t *c = ctx;
    memcpy(c->dst + b * c->out_row, c->src + b * c->out_row, (e - b) * c->out_row);
    memcpy(c->dst2 + b * c->back_row, c->src2 + b * c->back_row, (e - b) * c->back_row);
    return 0;
}

static void bench_size(size_t n)
{
    printf("== %zu entities\n", n);
    sabre_world_t *w;
    uint64_t rsz = (uint64_t)n * 64 + (256u << 20);
    DIE(sabre_world_create(&(sabre_world_desc_t){.region_size = rsz}, &w));
    sabre_component_t P, V;
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &P));
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &V));
    sabre_prefab_t *pf;
    vec2 vel = {1.0f, 0.5f};
    sabre_prefab_step_t steps[2] = {{.comp = P}, {.comp = V, .value = &vel}};
    DIE(sabre_prefab_create(w, "mover", steps, 2, &pf));
    DIE(sabre_prefab_spawn(w, pf, n, NULL, 0, NULL));
    sabre_query_t *q;
    DIE(sabre_query_create(w, &(sabre_query_desc_t){.all = (sabre_component_t[]){P, V}, .nall = 2},
                           &q));

    /* 1. iteration */
    /* Bare arrays get the same transparent-huge-page advice as the world's
     * region, so the ratio compares loops, not page sizes. */
    float *px = bare_array(n), *py = bare_array(n), *vx = bare_array(n), *vy = bare_array(n);
    for (size_t i = 0; i < n; i++)
        px[i] = py[i] = 0, vx[i] = 1.0f, vy[i] = 0.5f;
    const float dt = 0.016f;
    double tp[RUNS], tq[RUNS];
    for (int r = 0; r < RUNS + 1; r++) {
        double t0 = now();
        plain_loop(px, py, vx, vy, n, dt);
        double t1 = now();
        sabre_iter_t it;
        sabre_query_iter(q, &it);
        while (sabre_iter_next(&it)) {
            float *qx = sabre_iter_column(&it, 0, 0), *qy = sabre_iter_column(&it, 0, 1);
            const float *wx = sabre_iter_column(&it, 1, 0), *wy = sabre_iter_column(&it, 1, 1);
            plain_loop(qx, qy, wx, wy, it.count, dt);
        }
        double t2 = now();
        if (r > 0) { /* first run warms pages */
            tp[r - 1] = t1 - t0;
            tq[r - 1] = t2 - t1;
        }
    }
    sink = px[n - 1];
    double mp = bench_median(tp, RUNS), mq = bench_median(tq, RUNS);
    printf("iterate pos += vel*dt: plain loop %.3f ms (%.2f ns/ent), query API %.3f ms (%.2f "
           "ns/ent): ratio %.2fx (target <= 1.5x)\n",
           mp * 1e3, mp * 1e9 / (double)n, mq * 1e3, mq * 1e9 / (double)n, mq / mp);

    /* 2. snapshot build + commit, every row changed */
    sabre_snap_comp_t sc[2] = {{.comp = P, .write = true}, {.comp = V}};
    sabre_snapshot_t *s;
    double tb0 = now();
    DIE(sabre_snapshot_build(w, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2}, q, &s));
    double first_build = now() - tb0;
    size_t out_bytes = n * 24, back_bytes = n * 8;
    char *src = bare_bytes(out_bytes), *dst = bare_bytes(out_bytes), *src2 = bare_bytes(back_bytes),
         *dst2 = bare_bytes(back_bytes);
    memset(src, 1, out_bytes);
    memset(dst, 2, out_bytes);
    memset(src2, 3, back_bytes);
    memset(dst2, 4, back_bytes);
    double tm[RUNS], ts[RUNS], tbuild[RUNS], tmark[RUNS], tcommit[RUNS], rs[RUNS];
    for (int r = 0; r < RUNS + 1; r++) {
        double t0 = now();
        memcpy(dst, src, out_bytes);
        memcpy(dst2, src2, back_bytes);
        double t1 = now();
        DIE(sabre_snapshot_rebuild(w, s, q));
        double t2 = now();
        DIE(sabre_snapshot_mark_range(s, P, 0, sabre_snapshot_rows(s)));
        double t3 = now();
        sabre_commit_stats_t st;
        DIE(sabre_snapshot_commit(w, s, &st));
        double t4 = now();
        if (st.rows_written != n) {
            fprintf(stderr, "commit wrote %llu of %zu rows\n", (unsigned long long)st.rows_written,
                    n);
            exit(1);
        }
        if (r > 0) {
            tm[r - 1] = t1 - t0;
            tbuild[r - 1] = t2 - t1;
            tmark[r - 1] = t3 - t2;
            tcommit[r - 1] = t4 - t3;
            ts[r - 1] = t4 - t1;
            rs[r - 1] = ts[r - 1] / tm[r - 1];
        }
    }
    sink = (float)dst[n] + (float)dst2[n];
    double mm = bench_median(tm, RUNS), ms = bench_median(ts, RUNS);
    double mcommit = bench_median(tcommit, RUNS);
    printf("snapshot rebuild+mark+commit (all rows changed), 1 thread: memcpy %.3f ms, snapshot "
           "%.3f ms (build %.3f, mark %.3f, commit %.3f): ratio %.2fx (median of per-run ratios; "
           "target <= 4x); first build with page faults %.3f ms\n",
           mm * 1e3, ms * 1e3, bench_median(tbuild, RUNS) * 1e3, bench_median(tmark, RUNS) * 1e3,
           mcommit * 1e3, bench_median(rs, RUNS), first_build * 1e3);
    /* The same commit through the slow path (a lookup per changed row). */
    double tslow[RUNS];
    sabre__snapshot_force_slow(s, true);
    for (int r = 0; r < RUNS + 1; r++) {
        DIE(sabre_snapshot_rebuild(w, s, q));
        DIE(sabre_snapshot_mark_range(s, P, 0, sabre_snapshot_rows(s)));
        double t0 = now();
        DIE(sabre_snapshot_commit(w, s, NULL));
        if (r > 0)
            tslow[r - 1] = now() - t0;
    }
    sabre__snapshot_force_slow(s, false);
    double mslow = bench_median(tslow, RUNS);
    printf("commit slow path (entity lookups) %.3f ms vs fast path %.3f ms: fast is %.2fx faster\n",
           mslow * 1e3, mcommit * 1e3, mslow / mcommit);
    /* Through a 2-thread executor. */
    DIE(sabre_snapshot_set_executor(s, &(sabre_snapshot_exec_t){.parallel_for = two_thread_for}));
    copyjob_t cj = {dst, dst2, src, src2, 24, 8};
    double tpm[RUNS], tps[RUNS], rps[RUNS];
    for (int r = 0; r < RUNS + 1; r++) {
        double t0 = now();
        if (two_thread_for(NULL, n, 65536, copy_range, &cj))
            exit(1);
        double t1 = now();
        DIE(sabre_snapshot_rebuild(w, s, q));
        DIE(sabre_snapshot_mark_range(s, P, 0, sabre_snapshot_rows(s)));
        DIE(sabre_snapshot_commit(w, s, NULL));
        double t2 = now();
        if (r > 0) {
            tpm[r - 1] = t1 - t0;
            tps[r - 1] = t2 - t1;
            rps[r - 1] = tps[r - 1] / tpm[r - 1];
        }
    }
    double mpm = bench_median(tpm, RUNS), mps = bench_median(tps, RUNS);
    printf("2 threads on both sides (same executor): memcpy %.3f ms, snapshot rebuild+mark+commit "
           "%.3f ms: ratio %.2fx (median of per-run ratios); %.2fx faster than 1 thread\n",
           mpm * 1e3, mps * 1e3, bench_median(rps, RUNS), ms / mps);
    sabre_snapshot_free(s);
    free(src);
    free(dst);
    free(src2);
    free(dst2);
    free(px);
    free(py);
    free(vx);
    free(vy);
    sabre_world_destroy(w);
}

static void bench_structural(size_t n)
{
    printf("== structural operations, %zu entities, ns/op after warm-up (peers: "
           "../shared/peers/run.sh)\n",
           n);
    sabre_world_t *w;
    DIE(sabre_world_create(&(sabre_world_desc_t){.region_size = (uint64_t)n * 256 + (256u << 20)},
                           &w));
    sabre_component_t P, V, T, H;
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &P));
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &V));
    DIE(sabre_component_define(w, &(sabre_component_desc_t){.name = "Tag"}, &T));
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Hp", .schema = "struct Hp { v: f32; }"}, &H));
    sabre_component_t ST, SH; /* the same two, stored sparse */
    DIE(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "STag", .storage = SABRE_STORAGE_SPARSE}, &ST));
    DIE(sabre_component_define(w,
                               &(sabre_component_desc_t){.name = "SHp",
                                                         .schema = "struct SHp { v: f32; }",
                                                         .storage = SABRE_STORAGE_SPARSE},
                               &SH));
    sabre_entity_t *ids = malloc(n * sizeof *ids);
    sabre_component_t cs[2] = {P, V};
    vec2 pv = {1.0f, 2.0f}, vv = {0.5f, 0.25f};
    const void *vals[2] = {&pv, &vv}; /* values given, as the peers' harness does */
    float hp = 3.0f;
    double tc[RUNS], td[RUNS], tt[RUNS], th[RUNS], tst[RUNS], tsh[RUNS];
    for (int r = 0; r < RUNS + 1; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            DIE(sabre_entity_create_with(w, cs, vals, 2, &ids[i]));
        double t1 = now();
        for (size_t i = 0; i < n; i++) {
            DIE(sabre_add(w, ids[i], T, NULL));
            DIE(sabre_remove(w, ids[i], T));
        }
        double t2 = now();
        for (size_t i = 0; i < n; i++) {
            DIE(sabre_add(w, ids[i], H, &hp));
            DIE(sabre_remove(w, ids[i], H));
        }
        double t3 = now();
        for (size_t i = 0; i < n; i++) {
            DIE(sabre_add(w, ids[i], ST, NULL));
            DIE(sabre_remove(w, ids[i], ST));
        }
        double t3b = now();
        for (size_t i = 0; i < n; i++) {
            DIE(sabre_add(w, ids[i], SH, &hp));
            DIE(sabre_remove(w, ids[i], SH));
        }
        double t3c = now();
        for (size_t i = 0; i < n; i++)
            DIE(sabre_entity_destroy(w, ids[i]));
        double t4 = now();
        if (r > 0) { /* run 0 is the warm-up: tables, edges, chunks, free list */
            tc[r - 1] = (t1 - t0) / (double)n;
            tt[r - 1] = (t2 - t1) / (double)n;
            th[r - 1] = (t3 - t2) / (double)n;
            tst[r - 1] = (t3b - t3) / (double)n;
            tsh[r - 1] = (t3c - t3b) / (double)n;
            td[r - 1] = (t4 - t3c) / (double)n;
        }
    }
    double c = bench_median(tc, RUNS) * 1e9, d = bench_median(td, RUNS) * 1e9,
           t = bench_median(tt, RUNS) * 1e9, h = bench_median(th, RUNS) * 1e9;
    printf("create with 2 components (values): %.1f ns\n", c);
    printf("destroy:                           %.1f ns\n", d);
    printf("add+remove tag:                    %.1f ns\n", t);
    printf("add+remove f32 component (value):  %.1f ns\n", h);
    double st = bench_median(tst, RUNS) * 1e9, sh = bench_median(tsh, RUNS) * 1e9;
    printf("sparse storage: add+remove tag %.1f ns (%.2fx the table tag), add+remove f32 %.1f ns "
           "(%.2fx the table f32)\n",
           st, st / t, sh, sh / h);
    free(ids);
    sabre_world_destroy(w);
}

int main(int argc, char **argv)
{
    size_t maxn = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    bench_size(maxn < 1000000 ? maxn : 1000000);
    if (maxn >= 10000000)
        bench_size(maxn);
    bench_structural(maxn < 1000000 ? maxn : 1000000);
    return 0;
}
