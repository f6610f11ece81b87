/*
 * bench_sched - scheduler and offload costs, as ratios against baselines
 * measured in the same run (medians of several runs):
 *   1. frame overhead, 10 empty systems, one thread: ns per system
 *      (target <= 100 ns) vs direct calls of the same functions;
 *   2. the same with a pool of two threads: the frame barrier
 *      (target <= 10 us; flecs pays about 12.5 us for its two-thread barrier);
 *   3. physics, N entities (default 1M): a plain C loop over bare arrays;
 *      in place on 2 workers (speed-up); snapshot mode (target <= 4x in
 *      place); process mode (world in the shared region, kernels on its
 *      tables in worker processes) vs in place on threads (target <= 1.2x);
 *      mailbox K=8 vs K=1 (per-tick overhead);
 *   4. the scheduler's default marking of written rows vs a kernel that
 *      marks itself and vs no marking (integrate alone).
 * usage: bench_sched [entities] [frames]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../examples/physics_run.h"
#include "core/internal.h"

#include "bench_util.h"

#define RUNS 5

static int empty_sys(const sabre_sys_ctx_t *c)
{
    (void)c;
    return 0;
}

static volatile int sink;
static int __attribute__((noinline)) direct(const sabre_sys_ctx_t *c)
{
    (void)c;
    sink++;
    return 0;
}

/* ns per frame of 10 empty systems (one batch) */
static double frame_ns(unsigned threads, unsigned frames)
{
    sabre_world_t *w;
    sabre_pool_t *pool = NULL;
    sabre_sched_t *s;
    if (sabre_world_create(NULL, &w))
        return -1;
    if (threads > 1 && sabre_pool_create(&(sabre_pool_desc_t){.threads = threads}, &pool))
        return -1;
    sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "empty%d", i);
        sabre_sched_add(s, &(sabre_system_desc_t){.name = name, .run = empty_sys});
    }
    for (unsigned f = 0; f < 100; f++)
        sabre_sched_run_frame(s, 0.016, 0);
    uint64_t t0 = sabre__now_ns();
    for (unsigned f = 0; f < frames; f++)
        if (sabre_sched_run_frame(s, 0.016, 0))
            return -1;
    double ns = (double)(sabre__now_ns() - t0) / frames;
    sabre_sched_destroy(s);
    sabre_pool_destroy(pool);
    sabre_world_destroy(w);
    return ns;
}

static double direct_ns(unsigned frames)
{
    int (*volatile fn)(const sabre_sys_ctx_t *) = direct;
    sabre_sys_ctx_t c = {0};
    uint64_t t0 = sabre__now_ns();
    for (unsigned f = 0; f < frames; f++)
        for (int i = 0; i < 10; i++)
            fn(&c);
    return (double)(sabre__now_ns() - t0) / frames;
}

/* The baseline: integrate + bounds as a plain loop over bare arrays. */
static double plain_ms(uint64_t n, unsigned frames)
{
    float *px = malloc(n * 4), *py = malloc(n * 4), *vx = malloc(n * 4), *vy = malloc(n * 4);
    if (!px || !py || !vx || !vy)
        return -1;
    uint64_t seed = 12345;
    for (uint64_t i = 0; i < n; i++) {
        px[i] = phys_unit(&seed) * PHYS_BOX_W;
        py[i] = phys_unit(&seed) * PHYS_BOX_H;
        vx[i] = phys_unit(&seed) * 200.0f - 100.0f;
        vy[i] = phys_unit(&seed) * 200.0f - 100.0f;
    }
    uint64_t t0 = sabre__now_ns();
    for (unsigned f = 0; f < frames; f++) {
        phys_integrate_rows(px, py, vx, vy, 0, n, 1.0f / 60.0f);
        phys_bounds_rows(px, py, vx, vy, 0, n, PHYS_BOX_W, PHYS_BOX_H);
    }
    double ms = (double)(sabre__now_ns() - t0) / 1e6 / frames;
    sink += (int)px[n / 2];
    free(px);
    free(py);
    free(vx);
    free(vy);
    return ms;
}

static double mode_ms(phys_opts_t o, enum phys_mode m)
{
    phys_result_t r = {0};
    o.quiet = true;
    int rc = m == M_MAILBOX ? phys_run_mailbox(&o, &r) : phys_run_sched(&o, m, &r);
    if (rc) {
        fprintf(stderr, "bench_sched: mode %s failed: %s\n", phys_mode_names[m],
                sabre_last_error());
        exit(1);
    }
    return r.ms_per_frame;
}

/* ---- the scheduler's default marking (sabre/sched.h "Changed rows") ----
 * integrate alone, three ways: the kernel marks its rows itself with
 * sabre_snapshot_mark_range (.marks_rows; what kernels had to do before the
 * default), the kernel marks nothing and the scheduler marks (the default),
 * and a floor that marks nothing at all (.marks_rows; loses writes in
 * copy modes, timing only).  The three schedulers share one world and pool
 * and take turns, so each ratio compares runs made back to back. */
static int integrate_self_mark(const sabre_kernel_ctx_t *c)
{
    int rc = phys_integrate(c);
    return rc ? rc : sabre_snapshot_mark_range(c->rows, c->terms[1], c->begin, c->end - c->begin);
}

enum { MK_SELF, MK_DEFAULT, MK_NONE, MK_COUNT };

static void marking_cost(uint64_t n, unsigned frames, sabre_offload_t mode, double *def_vs_self,
                         double *def_vs_none)
{
    sabre_world_t *w;
    sabre_pool_t *pool;
    phys_t phys;
    if (sabre_world_create(NULL, &w) || phys_setup(&phys, w, n, 12345) ||
        sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool)) {
        fprintf(stderr, "bench_sched: %s\n", sabre_last_error());
        exit(1);
    }
    sabre_sched_t *s[MK_COUNT];
    for (int k = 0; k < MK_COUNT; k++) {
        sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s[k]);
        int rc = sabre_sched_add(
            s[k],
            &(sabre_system_desc_t){.name = "integrate",
                                   .reads = &phys.vel,
                                   .nreads = 1,
                                   .writes = &phys.pos,
                                   .nwrites = 1,
                                   .kernel = k == MK_SELF ? integrate_self_mark : phys_integrate,
                                   .offload = mode,
                                   .marks_rows = k != MK_DEFAULT});
        if (rc || sabre_sched_run_frame(s[k], 1.0 / 60, 0)) {
            fprintf(stderr, "bench_sched: %s\n", sabre_last_error());
            exit(1);
        }
    }
    double r_self[RUNS], r_none[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t[MK_COUNT];
        for (int k = 0; k < MK_COUNT; k++) {
            uint64_t t0 = sabre__now_ns();
            for (unsigned f = 0; f < frames; f++)
                sabre_sched_run_frame(s[k], 1.0 / 60, 0);
            t[k] = (double)(sabre__now_ns() - t0);
        }
        r_self[r] = t[MK_DEFAULT] / t[MK_SELF];
        r_none[r] = t[MK_DEFAULT] / t[MK_NONE];
    }
    *def_vs_self = bench_median(r_self, RUNS);
    *def_vs_none = bench_median(r_none, RUNS);
    for (int k = 0; k < MK_COUNT; k++)
        sabre_sched_destroy(s[k]);
    sabre_pool_destroy(pool);
    sabre_world_destroy(w);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    unsigned frames = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 50;
    double v[RUNS];

    printf("bench_sched: medians of %d runs\n\n", RUNS);
    for (int r = 0; r < RUNS; r++)
        v[r] = direct_ns(100000);
    double direct = bench_median(v, RUNS);
    for (int r = 0; r < RUNS; r++)
        v[r] = frame_ns(1, 20000);
    double one = bench_median(v, RUNS);
    for (int r = 0; r < RUNS; r++)
        v[r] = frame_ns(2, 20000);
    double two = bench_median(v, RUNS);
    printf("frame overhead, 10 empty systems, 1 thread : %8.1f ns/frame = %6.1f ns/system "
           "(target <= 100)   [direct calls: %.1f ns/system]\n",
           one, one / 10, direct / 10);
    printf("frame overhead, 10 empty systems, 2 threads: %8.1f ns/frame (barrier; target <= "
           "10000 ns; flecs about 12500 ns)\n\n",
           two);

    phys_opts_t o = {.entities = n, .workers = 2, .frames = frames, .ticks = 8, .seed = 12345};
    double plain[RUNS], inplace[RUNS], serial[RUNS], snap[RUNS], proc[RUNS], mb8[RUNS], mb1[RUNS];
    for (int r = 0; r < RUNS; r++) {
        plain[r] = plain_ms(n, frames);
        serial[r] = mode_ms(o, M_SERIAL);
        inplace[r] = mode_ms(o, M_INPLACE);
        snap[r] = mode_ms(o, M_SNAPSHOT);
        proc[r] = mode_ms(o, M_PROCESS);
        mb8[r] = mode_ms(o, M_MAILBOX);
        phys_opts_t o1 = o;
        o1.ticks = 1;
        mb1[r] = mode_ms(o1, M_MAILBOX);
    }
    double p = bench_median(plain, RUNS), se = bench_median(serial, RUNS),
           ip = bench_median(inplace, RUNS), sn = bench_median(snap, RUNS),
           pr = bench_median(proc, RUNS), m8 = bench_median(mb8, RUNS),
           m1 = bench_median(mb1, RUNS);
    printf("physics, %" PRIu64 " entities, %u frames, ms per frame (integrate + bounds + "
           "stats every %d frames):\n",
           n, frames, PHYS_STATS_EVERY);
    printf("  plain C loop, bare arrays, 1 thread  %8.3f\n", p);
    printf("  scheduler, serial (no pool)          %8.3f   %.2fx the plain loop\n", se, se / p);
    printf("  in place, 2 workers                  %8.3f   speed-up %.2fx vs the plain loop\n", ip,
           p / ip);
    printf("  snapshot, 2 workers                  %8.3f   %.2fx in place (target <= 4)\n", sn,
           sn / ip);
    printf("  process, 2 worker processes          %8.3f   %.2fx in place on threads (target "
           "<= 1.2): kernels run in the processes on the world's tables in the shared region\n",
           pr, pr / ip);
    printf("  mailbox K=8, 2 workers               %8.3f\n", m8);
    /* m1 = c + R and m8 = c + R/8 for compute c and per-request sync cost R */
    double req_us = (m1 - m8) * 8.0 / 7.0 * 1000.0;
    printf("  mailbox K=1, 2 workers               %8.3f   sync cost per request %.1f us: "
           "per tick %.1f us at K=1, %.1f us at K=8\n",
           m1, req_us, req_us, req_us / 8.0);
    double ip_self, ip_none, sn_self, sn_none;
    marking_cost(n, frames, SABRE_OFFLOAD_INPLACE, &ip_self, &ip_none);
    marking_cost(n, frames, SABRE_OFFLOAD_SNAPSHOT, &sn_self, &sn_none);
    printf("\nchanged rows, integrate alone, %" PRIu64 " entities, 2 workers (medians of "
           "per-run ratios, back to back):\n",
           n);
    printf("  in place: scheduler marks (default) %.3fx the kernel marking itself, %.3fx no "
           "marking at all\n",
           ip_self, ip_none);
    printf("  snapshot: scheduler marks (default) %.3fx the kernel marking itself, %.3fx no "
           "marking at all (which commits nothing)\n",
           sn_self, sn_none);
    return 0;
}
