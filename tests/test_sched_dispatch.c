/*
 * test_sched_dispatch.c - adaptive dispatch (docs/scheduling.md, "Adaptive
 * dispatch"): the cost model's decisions from given figures (no clock
 * involved), then a scheduler with a 2-thread pool where fixed and
 * automatic dispatch give bit-identical results, the statistics count
 * inline and pool runs, inline runs stay on the calling thread in one
 * range per chunk, and sabre_sched_dump shows the decision.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/internal.h"
#include "sabre/sched.h"
#include "sched/dispatch.h"

/* ---- the model, from given figures ------------------------------------- */

static void test_model(void)
{
    sabre__dispatch_t d;
    memset(&d, 0, sizeof d);
    /* nothing measured: inline (the run measures the inline cost) */
    CHECK(sabre__dispatch_decide(&d, 1000000, 2, 10000));
    /* one thread: always inline */
    sabre__dispatch_note(&d, true, 1000, 3000, 10000); /* a cold first run: 3 ns/row */
    CHECK(sabre__dispatch_decide(&d, 1000000, 1, 10000));
    CHECK(d.ns_row_inline == 3.0);
    /* calibration: inline until WARMUP inline samples, whatever the
     * prediction (1M rows: 3 ms inline vs 1.5 ms pool) */
    CHECK(sabre__dispatch_decide(&d, 1000000, 2, 10000));
    CHECK(d.last_calibrating);
    for (unsigned i = 1; i < SABRE__DISPATCH_WARMUP; i++)
        sabre__dispatch_note(&d, true, 1000, 1000, 10000); /* then 1 ns/row */
    CHECK(d.ns_row_inline == 1.0);                         /* the cold run is out */
    /* pool not measured: predicted at 1/threads of the inline cost plus
     * the fork-join: 1000 rows -> 1 us inline vs 10.5 us pool, too far
     * for calibration runs on the pool */
    CHECK(sabre__dispatch_decide(&d, 1000, 2, 10000));
    CHECK(d.last_inline_ns == 1000.0 && d.last_pool_ns == 10500.0);
    CHECK(!d.last_calibrating);
    /* 1M rows: 1 ms inline vs 510 us pool */
    CHECK(!sabre__dispatch_decide(&d, 1000000, 2, 10000));
    CHECK(d.last_calibrating); /* pool samples: 0 of WARMUP */
    /* the pool measured no faster than inline beyond its fork-join (a
     * memory-bound kernel): 1M rows run inline */
    for (unsigned i = 0; i < SABRE__DISPATCH_WARMUP; i++)
        sabre__dispatch_note(&d, false, 1000000, 10000 + 1000000 * 1.2, 10000);
    CHECK(d.ns_row_pool > 1.19 && d.ns_row_pool < 1.21);
    CHECK(sabre__dispatch_decide(&d, 1000000, 2, 10000));
    CHECK(!d.last_calibrating);
    /* the break-even moves with the fork-join cost: 20000 rows at a pool
     * cost of 0.5 ns/row beyond a 5 us fork-join: 20 us inline vs 15 us */
    sabre__dispatch_t e;
    memset(&e, 0, sizeof e);
    for (unsigned i = 0; i < SABRE__DISPATCH_WARMUP; i++) {
        sabre__dispatch_note(&e, true, 1000, 1000, 5000);
        sabre__dispatch_note(&e, false, 100000, 5000 + 50000, 5000);
    }
    CHECK(!sabre__dispatch_decide(&e, 20000, 2, 5000));
    CHECK(sabre__dispatch_decide(&e, 5000, 2, 5000)); /* 5 us vs 7.5 us */
    CHECK_EQ(e.inline_runs, SABRE__DISPATCH_WARMUP);
    CHECK_EQ(e.pool_runs, SABRE__DISPATCH_WARMUP);
}

static void test_outliers(void)
{
    /* a preempted run (1000x the others) does not move the estimate */
    sabre__dispatch_t d;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < 4; i++)
        sabre__dispatch_note(&d, true, 1000, 1000, 0);
    sabre__dispatch_note(&d, true, 1000, 1000000, 0);
    CHECK(d.ns_row_inline == 1.0);
    /* but a lasting change does, once it fills the window (the median is
     * recomputed every WINDOW samples once the window is full) */
    for (int i = 0; i < 2 * (int)SABRE__DISPATCH_WINDOW; i++)
        sabre__dispatch_note(&d, true, 1000, 3000, 0);
    CHECK(d.ns_row_inline == 3.0);
}

static void test_hysteresis(void)
{
    /* inline moves to the pool only for a predicted gain of MARGIN (10 %);
     * the pool stays while it is predicted no dearer than inline */
    sabre__dispatch_t d;
    memset(&d, 0, sizeof d);
    d.n_inline = d.n_pool = SABRE__DISPATCH_WARMUP; /* calibrated */
    d.ns_row_inline = 1.0;
    d.ns_row_pool = 0.95;
    CHECK(sabre__dispatch_decide(&d, 100000, 2, 0)); /* 5 % cheaper: stays inline */
    d.ns_row_pool = 0.85;
    CHECK(!sabre__dispatch_decide(&d, 100000, 2, 0)); /* 15 % cheaper: the pool */
    d.ns_row_pool = 0.95;
    CHECK(!sabre__dispatch_decide(&d, 100000, 2, 0)); /* stays on the pool */
    d.ns_row_pool = 1.05;
    CHECK(sabre__dispatch_decide(&d, 100000, 2, 0)); /* inline cheaper: back */
    d.ns_row_pool = 0.95;
    CHECK(sabre__dispatch_decide(&d, 100000, 2, 0)); /* and stays inline */
    CHECK_EQ(d.decisions, 5);
    CHECK(!d.last_probe);
}

static void test_probe(void)
{
    /* every PROBE-th decision tries the other choice if it is predicted
     * within PROBE_LOSS of the chosen one, never when it is far worse */
    sabre__dispatch_t d;
    memset(&d, 0, sizeof d);
    for (unsigned i = 0; i < SABRE__DISPATCH_WARMUP; i++) {
        sabre__dispatch_note(&d, true, 1000, 1000, 0);
        sabre__dispatch_note(&d, false, 1000, 1100, 0); /* pool 1.1 ns/row: close */
    }
    unsigned other = 0, probes = 0;
    for (unsigned i = 0; i < 10 * SABRE__DISPATCH_PROBE; i++) {
        bool in = sabre__dispatch_decide(&d, 100000, 2, 0);
        other += !in;
        probes += d.last_probe;
    }
    CHECK_EQ(other, 10);
    CHECK_EQ(probes, 10);
    sabre__dispatch_t far;
    memset(&far, 0, sizeof far);
    for (unsigned i = 0; i < SABRE__DISPATCH_WARMUP; i++)
        sabre__dispatch_note(&far, true, 1000, 1000, 0);
    other = 0;
    for (unsigned i = 0; i < 10 * SABRE__DISPATCH_PROBE; i++)
        other += !sabre__dispatch_decide(&far, 1000, 2, 100000); /* pool 100x worse */
    CHECK_EQ(other, 0);
}

static void test_batch_model(void)
{
    /* run calls of one batch: inline for one call, an unmeasured call, or
     * when what two threads could save (half the sum) is at most the
     * fork-join; else the pool */
    CHECK(sabre__dispatch_batch_inline(1, false, 1e9, 2, 1000));
    CHECK(sabre__dispatch_batch_inline(4, true, 1e9, 2, 1000));
    CHECK(sabre__dispatch_batch_inline(10, false, 2000, 2, 1000));
    CHECK(!sabre__dispatch_batch_inline(10, false, 2001, 2, 1000));
    CHECK(!sabre__dispatch_batch_inline(10, false, 1600, 4, 1000)); /* saves 1200 */
    CHECK(sabre__dispatch_batch_inline(10, false, 1e9, 1, 1000));   /* one thread */
    sabre__dispatch_t d;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < 5; i++)
        sabre__dispatch_note_call(&d, i % 2 == 0, 100.0 * (i + 1));
    CHECK(d.ns_row_inline == 300.0); /* median of 100..500 */
    CHECK_EQ(d.inline_runs, 3);
    CHECK_EQ(d.pool_runs, 2);
}

/* ---- a scheduler --------------------------------------------------------- */

typedef struct kargs {
    sabre_component_t pos, vel;
} kargs_t;

typedef struct probe {
    _Atomic unsigned calls, off_caller; /* kernel calls; calls on a pool worker */
} probe_t;

static int integrate(const sabre_kernel_ctx_t *c)
{
    const kargs_t *a = c->args;
    probe_t *p = c->user;
    atomic_fetch_add(&p->calls, 1);
    if (c->worker != 0)
        atomic_fetch_add(&p->off_caller, 1);
    float *px, *py, *vx, *vy;
    int rc = sabre_snapshot_column(c->rows, a->pos, "x", (void **)&px);
    if (!rc)
        rc = sabre_snapshot_column(c->rows, a->pos, "y", (void **)&py);
    if (!rc)
        rc = sabre_snapshot_column(c->rows, a->vel, "x", (void **)&vx);
    if (!rc)
        rc = sabre_snapshot_column(c->rows, a->vel, "y", (void **)&vy);
    if (rc)
        return rc;
    for (uint64_t i = c->begin; i < c->end; i++) {
        px[i] += vx[i] * (float)c->dt;
        py[i] = py[i] * 0.5f + vy[i];
    }
    return sabre_snapshot_mark_range(c->rows, a->pos, c->begin, c->end - c->begin);
}

enum { N = 20000, FRAMES = 12 };

/* Runs FRAMES frames of the integrate system and returns the checksum of
 * the final positions (bit patterns), with the system's stats. */
static uint64_t run(sabre_pool_t *pool, sabre_offload_t mode, sabre_dispatch_t dispatch,
                    sabre_system_stats_t *st, probe_t *pr, char *dump, size_t dumpcap)
{
    sabre_world_t *w;
    kargs_t a;
    CHECK_OK(sabre_world_create(NULL, &w));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct P { x: f32; y: f32; }"},
        &a.pos));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct V { x: f32; y: f32; }"},
        &a.vel));
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) {
        float p[2] = {(float)(check_xorshift(&seed) % 1000), (float)i};
        float v[2] = {(float)(check_xorshift(&seed) % 100) / 8.0f, 1.0f / (float)(i + 1)};
        const void *vals[2] = {p, v};
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(w, (sabre_component_t[]){a.pos, a.vel}, vals, 2, &e));
    }
    sabre_sched_t *s;
    CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s));
    memset(pr, 0, sizeof *pr);
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "integrate",
                                                       .reads = &a.vel,
                                                       .nreads = 1,
                                                       .writes = &a.pos,
                                                       .nwrites = 1,
                                                       .kernel = integrate,
                                                       .offload = mode,
                                                       .dispatch = dispatch,
                                                       .args = &a,
                                                       .args_len = sizeof a,
                                                       .user = pr}));
    for (int f = 0; f < FRAMES; f++)
        CHECK_OK(sabre_sched_run_frame(s, 1.0 / 64, f / 64.0));
    CHECK_OK(sabre_sched_stats(s, "integrate", st));
    if (dump) {
        FILE *f = fmemopen(dump, dumpcap, "w");
        CHECK(f != NULL);
        CHECK_OK(sabre_sched_dump(s, f));
        fclose(f);
    }
    uint64_t sum = 0;
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &a.pos, .nall = 1}, &q));
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        const uint32_t *x = sabre_iter_column(&it, 0, 0), *y = sabre_iter_column(&it, 0, 1);
        const sabre_entity_t *ids = it.entities;
        for (uint32_t i = 0; i < it.count; i++)
            sum += (ids[i] * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)x[i] << 32 | y[i]);
    }
    sabre_query_destroy(q);
    sabre_sched_destroy(s);
    sabre_world_destroy(w);
    return sum;
}

static void test_sched(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
    sabre_system_stats_t st;
    probe_t pr;
    static char dump[8192];
    sabre_offload_t modes[2] = {SABRE_OFFLOAD_INPLACE, SABRE_OFFLOAD_SNAPSHOT};
    uint64_t serial = run(NULL, SABRE_OFFLOAD_INPLACE, SABRE_DISPATCH_AUTO, &st, &pr, NULL, 0);
    CHECK_EQ(st.inline_runs + st.pool_runs, 0); /* no pool threads: nothing decided */
    for (int m = 0; m < 2; m++) {
        /* always inline: on the calling thread, one range per view */
        uint64_t in = run(pool, modes[m], SABRE_DISPATCH_INLINE, &st, &pr, dump, sizeof dump);
        CHECK_EQ(in, serial);
        CHECK_EQ(st.inline_runs, FRAMES);
        CHECK_EQ(st.pool_runs, 0);
        CHECK_EQ(atomic_load(&pr.off_caller), 0);
        CHECK_STR_CONTAINS(dump, "integrate: inline (fixed)");
        unsigned inline_calls = atomic_load(&pr.calls);
        /* always on the pool: split into more ranges */
        uint64_t po = run(pool, modes[m], SABRE_DISPATCH_POOL, &st, &pr, dump, sizeof dump);
        CHECK_EQ(po, serial);
        CHECK_EQ(st.pool_runs, FRAMES);
        CHECK_EQ(st.inline_runs, 0);
        CHECK(atomic_load(&pr.calls) > inline_calls);
        CHECK_STR_CONTAINS(dump, "integrate: pool (fixed)");
        /* automatic: the first run is inline (it measures the cost per
         * row), every run is one or the other, the result is the same */
        uint64_t au = run(pool, modes[m], SABRE_DISPATCH_AUTO, &st, &pr, dump, sizeof dump);
        CHECK_EQ(au, serial);
        CHECK(st.inline_runs >= 1);
        CHECK_EQ(st.inline_runs + st.pool_runs, FRAMES);
        CHECK_STR_CONTAINS(dump, "dispatch (pool of 2 threads, fork-join ");
        CHECK_STR_CONTAINS(dump, " rows: predicted inline ");
    }
    /* a bad dispatch value is refused */
    sabre_world_t *w;
    sabre_component_t c;
    CHECK_OK(sabre_world_create(NULL, &w));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "C", .schema = "struct C { v: f32; }"}, &c));
    sabre_sched_t *s;
    CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s));
    CHECK_ERR(sabre_sched_add(s, &(sabre_system_desc_t){.name = "bad",
                                                        .writes = &c,
                                                        .nwrites = 1,
                                                        .kernel = integrate,
                                                        .dispatch = (sabre_dispatch_t)7}),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "unknown dispatch 7");
    sabre_sched_destroy(s);
    sabre_world_destroy(w);
    sabre_pool_destroy(pool);
}

typedef struct calls {
    pthread_t caller;
    _Atomic unsigned n, off_caller;
} calls_t;

static int count_call(const sabre_sys_ctx_t *c)
{
    calls_t *k = c->user;
    atomic_fetch_add(&k->n, 1);
    if (!pthread_equal(pthread_self(), k->caller))
        atomic_fetch_add(&k->off_caller, 1);
    return SABRE_OK;
}

/* `run` systems: fixed and automatic dispatch of a batch of calls. */
static void test_run_systems(void)
{
    sabre_pool_t *pool;
    sabre_world_t *w;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_dispatch_t modes[3] = {SABRE_DISPATCH_INLINE, SABRE_DISPATCH_POOL, SABRE_DISPATCH_AUTO};
    for (int m = 0; m < 3; m++) {
        sabre_sched_t *s;
        CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s));
        static calls_t k;
        k.caller = pthread_self();
        atomic_store(&k.n, 0);
        atomic_store(&k.off_caller, 0);
        for (int i = 0; i < 6; i++) {
            char name[16];
            snprintf(name, sizeof name, "r%d", i);
            CHECK_OK(sabre_sched_add(
                s, &(sabre_system_desc_t){
                       .name = name, .run = count_call, .user = &k, .dispatch = modes[m]}));
        }
        for (int f = 0; f < FRAMES; f++)
            CHECK_OK(sabre_sched_run_frame(s, 0.01, 0));
        CHECK_EQ(atomic_load(&k.n), 6 * FRAMES);
        sabre_system_stats_t st;
        CHECK_OK(sabre_sched_stats(s, "r3", &st));
        CHECK_EQ(st.inline_runs + st.pool_runs, FRAMES);
        char dump[4096];
        FILE *f = fmemopen(dump, sizeof dump, "w");
        CHECK_OK(sabre_sched_dump(s, f));
        fclose(f);
        if (modes[m] == SABRE_DISPATCH_INLINE) {
            CHECK_EQ(st.inline_runs, FRAMES);
            CHECK_EQ(atomic_load(&k.off_caller), 0); /* all on the calling thread */
            CHECK_STR_CONTAINS(dump, "r3: inline (fixed)");
        } else if (modes[m] == SABRE_DISPATCH_POOL) {
            CHECK_EQ(st.pool_runs, FRAMES);
            CHECK_STR_CONTAINS(dump, "r3: pool (fixed)");
        } else {
            CHECK(st.inline_runs >= 1); /* the first frame measures the calls */
            CHECK_STR_CONTAINS(dump, "r3: ");
            CHECK_STR_CONTAINS(dump, " with its batch ");
        }
        sabre_sched_destroy(s);
    }
    sabre_world_destroy(w);
    sabre_pool_destroy(pool);
}

int main(void)
{
    test_model();
    test_batch_model();
    test_run_systems();
    test_outliers();
    test_hysteresis();
    test_probe();
    test_sched();
    return check_done();
}
