// SABRE_TEST_LABELS: unit concurrent
/*
 * test_ecs_fastcommit.c - the snapshot commit fast path (structural epoch +
 * recorded fill blocks) and the build/commit executor.
 *
 *  1. Identical worlds (same seed) get identical snapshots and identical
 *     worker changes (single marks, runs, whole words written through the
 *     raw bitset, random word patterns, bits past the last row); one world
 *     commits through the fast path, one is forced through the slow path,
 *     two use executors (a pthread parallel_for and a serial one running
 *     ranges in reverse order).  The stats and every entity's liveness,
 *     components, values and changed bits must be identical.  Rounds mix
 *     rebuilds, a changed-filter query (blocks that are partial runs of a
 *     chunk), appends between build and commit (fast path stays valid) and
 *     destroys between rounds.
 *  2. A structural change between build and commit (destroy of a snapshot
 *     entity, remove of a written component, add moving an entity, destroy
 *     of an entity outside the snapshot) takes the slow path; the skips
 *     are counted as before and every other entity is committed as in an
 *     untouched twin world.
 *  3. The executor is really used (calls counted, with the default grain
 *     too), a failing executor costs nothing but time, the executor
 *     survives a rebuild that regrows the region, set_executor(NULL) stops
 *     it, and argument errors are reported.
 *  4. Thread transfer + give_back keeps the fast path; a process-style
 *     send / recv / send back / reattach (over a socketpair in this
 *     process) takes the slow path and gives the same result.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "ecs/ecs_internal.h"
#include "sabre/snapshot.h"
#include "snapshot/snapshot_internal.h"

typedef struct {
    float x, y;
} vec2_t;
typedef struct {
    double a;
    uint8_t b;
    uint16_t c;
} big_t;

enum { CPOS, CVEL, CHP, CBIG, CTAG, NCOMP };
static const uint32_t SIZES[NCOMP] = {8, 8, 4, 16, 0};

typedef struct tw {
    sabre_world_t *w;
    sabre_component_t c[NCOMP];
    sabre_query_t *q, *qc; /* all[Pos]; all[Pos] changed[Vel] */
    sabre_entity_t *ents;  /* every entity ever created, in order */
    uint32_t n, cap;
    uint64_t rng;
} tw_t;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static uint32_t rn(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rnd(s) % n);
}

static void remember(tw_t *t, sabre_entity_t e)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->ents = realloc(t->ents, t->cap * sizeof *t->ents);
        CHECK(t->ents != NULL);
    }
    t->ents[t->n++] = e;
}

/* Create one entity in a random table (Pos with some of Vel, Hp, Big, Tag). */
static sabre_entity_t spawn_one(tw_t *t)
{
    sabre_component_t cs[NCOMP];
    const void *vals[NCOMP];
    uint32_t n = 0;
    uint32_t shape = rn(&t->rng, 6);
    vec2_t p = {(float)rn(&t->rng, 1000), (float)rn(&t->rng, 1000)};
    vec2_t v = {(float)rn(&t->rng, 100), -(float)rn(&t->rng, 100)};
    int32_t hp = (int32_t)rn(&t->rng, 5000);
    big_t b = {.a = (double)rn(&t->rng, 1u << 20) / 7.0,
               .b = (uint8_t)rn(&t->rng, 256),
               .c = (uint16_t)rn(&t->rng, 65536)};
    if (shape != 5) { /* shape 5: no Pos, outside the snapshot */
        cs[n] = t->c[CPOS];
        vals[n++] = &p;
    }
    if (shape == 0 || shape == 1 || shape == 5) {
        cs[n] = t->c[CVEL];
        vals[n++] = &v;
    }
    if (shape == 1 || shape == 2) {
        cs[n] = t->c[CHP];
        vals[n++] = &hp;
    }
    if (shape == 2 || shape == 3) {
        cs[n] = t->c[CTAG];
        vals[n++] = NULL;
    }
    if (shape == 3 || shape == 4) {
        cs[n] = t->c[CBIG];
        vals[n++] = &b;
    }
    sabre_entity_t e;
    CHECK_OK(sabre_entity_create_with(t->w, cs, vals, n, &e));
    remember(t, e);
    return e;
}

static void tw_init(tw_t *t, uint64_t seed, uint32_t n, uint32_t chunk_rows)
{
    memset(t, 0, sizeof *t);
    t->rng = seed;
    CHECK_OK(sabre_world_create(
        &(sabre_world_desc_t){.chunk_rows = chunk_rows, .max_chunk_rows = chunk_rows * 4}, &t->w));
    static const char *names[NCOMP] = {"Pos", "Vel", "Hp", "Big", "Tag"};
    static const char *schemas[NCOMP] = {"struct Pos { x: f32; y: f32; }",
                                         "struct Vel { x: f32; y: f32; }", "struct Hp { v: i32; }",
                                         "struct Big { a: f64; b: u8; c: u16; }", NULL};
    for (int c = 0; c < NCOMP; c++)
        CHECK_OK(sabre_component_define(
            t->w, &(sabre_component_desc_t){.name = names[c], .schema = schemas[c]}, &t->c[c]));
    for (uint32_t i = 0; i < n; i++)
        spawn_one(t);
    /* Holes and swaps before any snapshot. */
    for (uint32_t i = 0; i < n / 10; i++) {
        sabre_entity_t e = t->ents[rn(&t->rng, t->n)];
        if (sabre_entity_alive(t->w, e))
            CHECK_OK(sabre_entity_destroy(t->w, e));
    }
    CHECK_OK(sabre_query_create(t->w, &(sabre_query_desc_t){.all = &t->c[CPOS], .nall = 1}, &t->q));
    CHECK_OK(sabre_query_create(
        t->w,
        &(sabre_query_desc_t){.all = &t->c[CPOS], .nall = 1, .changed = &t->c[CVEL], .nchanged = 1},
        &t->qc));
}

static void tw_free(tw_t *t)
{
    sabre_query_destroy(t->q);
    sabre_query_destroy(t->qc);
    sabre_world_destroy(t->w);
    free(t->ents);
}

/* Snapshot spec: Pos and Hp written, Big written through a column subset,
 * Vel read-only. */
static sabre_snapshot_t *snap_build(tw_t *t, sabre_query_t *q, const sabre_snapshot_exec_t *ex)
{
    static const char *bigcols[2] = {"a", "c"};
    sabre_snap_comp_t sc[4] = {
        {.comp = t->c[CPOS], .write = true},
        {.comp = t->c[CHP], .write = true},
        {.comp = t->c[CBIG], .write = true, .columns = bigcols, .ncolumns = 2},
        {.comp = t->c[CVEL]}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        t->w,
        &(sabre_snapshot_desc_t){
            .comps = sc, .ncomps = 4, .exec = ex ? *ex : (sabre_snapshot_exec_t){0}},
        q, &s));
    return s;
}

/* Worker changes, a function of (seed, rows) only. */
static void scribble(tw_t *t, sabre_snapshot_t *s, uint64_t seed)
{
    uint64_t rows = sabre_snapshot_rows(s);
    if (!rows)
        return;
    uint64_t r = seed | 1;
    float *px, *py, *vx;
    int32_t *hp;
    double *ba;
    uint16_t *bc;
    CHECK_OK(sabre_snapshot_column(s, t->c[CPOS], "x", (void **)&px));
    CHECK_OK(sabre_snapshot_column(s, t->c[CPOS], "y", (void **)&py));
    CHECK_OK(sabre_snapshot_column(s, t->c[CVEL], "x", (void **)&vx));
    CHECK_OK(sabre_snapshot_column(s, t->c[CHP], "v", (void **)&hp));
    CHECK_OK(sabre_snapshot_column(s, t->c[CBIG], "a", (void **)&ba));
    CHECK_OK(sabre_snapshot_column(s, t->c[CBIG], "c", (void **)&bc));
    /* New values everywhere: only marked rows may reach the world. */
    for (uint64_t i = 0; i < rows; i++) {
        px[i] = (float)(i % 977) + 0.5f;
        py[i] = (float)rn(&r, 1000);
        vx[i] = -1.0f;
        hp[i] = (int32_t)(i * 7 + 3);
        ba[i] = (double)i / 3.0;
        bc[i] = (uint16_t)(i * 13);
    }
    static const int comps[4] = {CPOS, CHP, CBIG, CVEL};
    uint64_t words = (rows + 63) / 64;
    for (int m = 0; m < 48; m++) {
        sabre_component_t c = t->c[comps[rn(&r, 4)]];
        _Atomic uint64_t *bits;
        CHECK_OK(sabre_snapshot_changed(s, c, &bits));
        switch (rn(&r, 5)) {
        case 0:
            for (int k = 0; k < 20; k++)
                CHECK_OK(sabre_snapshot_mark(s, c, rn(&r, (uint32_t)rows)));
            break;
        case 1: {
            uint64_t first = rn(&r, (uint32_t)rows);
            uint64_t len = 1 + rn(&r, 700);
            if (len > rows - first)
                len = rows - first;
            CHECK_OK(sabre_snapshot_mark_range(s, c, first, len));
            break;
        }
        case 2: { /* whole words, the last one past the rows too */
            uint64_t w0 = rn(&r, (uint32_t)words), nw = 1 + rn(&r, 6);
            for (uint64_t x = w0; x < words && x < w0 + nw; x++)
                atomic_fetch_or_explicit(&bits[x], ~0ull, memory_order_relaxed);
            CHECK_OK(sabre_snapshot_touch(s, c));
            break;
        }
        case 3: /* sparse random patterns */
            for (int k = 0; k < 4; k++)
                atomic_fetch_or_explicit(&bits[rn(&r, (uint32_t)words)], rnd(&r) & rnd(&r),
                                         memory_order_relaxed);
            CHECK_OK(sabre_snapshot_touch(s, c));
            break;
        default: /* the very last row */
            CHECK_OK(sabre_snapshot_mark(s, c, rows - 1));
            break;
        }
    }
}

/* Every entity ever created in a and b: same liveness, components, values,
 * changed bits.  skip: an entity not compared (SABRE_ENTITY_NULL: none). */
static void same_worlds(const tw_t *a, const tw_t *b, sabre_entity_t skip)
{
    CHECK_EQ(a->n, b->n);
    if (skip == SABRE_ENTITY_NULL)
        CHECK_EQ(sabre_world_count(a->w), sabre_world_count(b->w));
    uint32_t bad = 0;
    for (uint32_t i = 0; i < a->n && bad < 5; i++) {
        sabre_entity_t e = a->ents[i];
        CHECK_EQ(e, b->ents[i]);
        if (e == skip)
            continue;
        bool al = sabre_entity_alive(a->w, e);
        CHECK_EQ(al, sabre_entity_alive(b->w, e));
        if (!al)
            continue;
        for (int c = 0; c < NCOMP; c++) {
            bool ha = sabre_has(a->w, e, a->c[c]);
            CHECK_EQ(ha, sabre_has(b->w, e, b->c[c]));
            if (!ha)
                continue;
            if (sabre_is_changed(a->w, e, a->c[c]) != sabre_is_changed(b->w, e, b->c[c])) {
                CHECK_FAIL_("entity %u component %d: changed bits differ", i, c);
                bad++;
            }
            if (!SIZES[c])
                continue;
            uint8_t va[16], vb[16];
            memset(va, 0, sizeof va);
            memset(vb, 0, sizeof vb);
            CHECK_OK(sabre_get(a->w, e, a->c[c], va));
            CHECK_OK(sabre_get(b->w, e, b->c[c], vb));
            if (memcmp(va, vb, SIZES[c]) != 0) {
                CHECK_FAIL_("entity %u component %d: values differ", i, c);
                bad++;
            }
        }
    }
}

static void same_stats(const sabre_commit_stats_t *a, const sabre_commit_stats_t *b)
{
    CHECK_EQ(a->rows_written, b->rows_written);
    CHECK_EQ(a->skipped_dead, b->skipped_dead);
    CHECK_EQ(a->skipped_missing, b->skipped_missing);
    CHECK_EQ(a->skipped_readonly, b->skipped_readonly);
}

/* ------------------------------------------------------------ executors */

/* A tiny thread-pool-like parallel_for: the caller plus NT-1 threads claim
 * ranges from an atomic counter. */
enum { NT = 3 };
typedef struct pexec {
    _Atomic unsigned calls, ranges;
} pexec_t;

typedef struct pjob {
    pexec_t *px;
    size_t n, grain;
    sabre_snapshot_range_fn fn;
    void *ctx;
    _Atomic size_t next;
    _Atomic int status;
} pjob_t;

static void pjob_work(pjob_t *j, unsigned worker)
{
    for (;;) {
        size_t b = atomic_fetch_add_explicit(&j->next, j->grain, memory_order_relaxed);
        if (b >= j->n)
            return;
        size_t e = b + j->grain < j->n ? b + j->grain : j->n;
        int rc = j->fn(j->ctx, b, e, worker);
        atomic_fetch_add_explicit(&j->px->ranges, 1, memory_order_relaxed);
        if (rc)
            atomic_store_explicit(&j->status, rc, memory_order_relaxed);
    }
}

typedef struct pthr {
    pjob_t *job;
    unsigned worker;
} pthr_t;

static void *pthr_main(void *arg)
{
    pthr_t *p = arg;
    pjob_work(p->job, p->worker);
    return NULL;
}

static int pthread_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    pexec_t *px = user;
    atomic_fetch_add_explicit(&px->calls, 1, memory_order_relaxed);
    CHECK(grain > 0 && grain % 64 == 0);
    pjob_t j = {.px = px, .n = n, .grain = grain, .fn = fn, .ctx = ctx};
    atomic_init(&j.next, 0);
    atomic_init(&j.status, 0);
    pthread_t th[NT - 1];
    pthr_t args[NT - 1];
    for (unsigned i = 0; i < NT - 1; i++) {
        args[i] = (pthr_t){.job = &j, .worker = i + 1};
        CHECK(pthread_create(&th[i], NULL, pthr_main, &args[i]) == 0);
    }
    pjob_work(&j, 0);
    for (unsigned i = 0; i < NT - 1; i++)
        pthread_join(th[i], NULL);
    return atomic_load_explicit(&j.status, memory_order_relaxed);
}

/* Serial, ranges in reverse order; fail_after >= 0: stop and fail after
 * that many ranges (the snapshot must redo the job itself). */
typedef struct sexec {
    unsigned calls, ranges;
    int fail_after;
} sexec_t;

static int serial_rev_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    sexec_t *sx = user;
    sx->calls++;
    size_t nr = (n + grain - 1) / grain;
    int done = 0;
    for (size_t k = nr; k-- > 0;) {
        if (sx->fail_after >= 0 && done == sx->fail_after)
            return SABRE_EJOB;
        size_t b = k * grain, e = b + grain < n ? b + grain : n;
        int rc = fn(ctx, b, e, 0);
        if (rc)
            return rc;
        sx->ranges++;
        done++;
    }
    return 0;
}

/* ------------------------------------------------------------- test 1 */

static void test_fast_equals_slow(void)
{
    enum { NW = 5 };
    tw_t t[NW];
    uint32_t n = (uint32_t)check_scale(60000);
    if (n < 3000)
        n = 3000;
    for (int k = 0; k < NW; k++)
        tw_init(&t[k], 0x1234567ull, n, 100);
    pexec_t px = {0};
    sexec_t sx = {.fail_after = -1}, fx = {.fail_after = 2};
    sabre_snapshot_exec_t exs[NW] = {{0},
                                     {0},
                                     {.parallel_for = pthread_for, .user = &px},
                                     {.parallel_for = serial_rev_for, .user = &sx},
                                     {.parallel_for = serial_rev_for, .user = &fx}};
    /* 0: fast; 1: forced slow; 2: pthread; 3: serial reverse; 4: failing */
    sabre_snapshot_t *s[NW] = {0}, *sc[NW] = {0};
    unsigned rounds = (unsigned)check_scale(12);
    if (rounds < 4)
        rounds = 4;
    unsigned fast = 0;
    for (unsigned round = 0; round < rounds; round++) {
        bool changed_q = round % 3 == 2;
        for (int k = 0; k < NW; k++) {
            CHECK_OK(sabre_world_begin_tick(t[k].w));
            uint64_t r = 0x9e37ull + round;
            if (changed_q) { /* give the changed filter partial runs */
                for (uint32_t i = 0; i < t[k].n / 8; i++) {
                    sabre_entity_t e = t[k].ents[rn(&r, t[k].n)];
                    vec2_t v = {1, 2};
                    if (sabre_has(t[k].w, e, t[k].c[CVEL]))
                        CHECK_OK(sabre_set(t[k].w, e, t[k].c[CVEL], &v));
                }
            }
            sabre_snapshot_t **sp = changed_q ? &sc[k] : &s[k];
            sabre_query_t *q = changed_q ? t[k].qc : t[k].q;
            if (!*sp)
                *sp = snap_build(&t[k], q, &exs[k]);
            else
                CHECK_OK(sabre_snapshot_rebuild(t[k].w, *sp, q));
            sabre__snapshot_force_slow(*sp, k == 1);
            sabre__snapshot_set_grain(*sp, 64u << (round % 4)); /* 64..512 */
            CHECK_EQ(sabre_snapshot_rows(*sp), sabre_snapshot_rows(changed_q ? sc[0] : s[0]));
            scribble(&t[k], *sp, 77 + round);
            /* Appends between build and commit leave the fast path valid. */
            if (round % 2 == 1)
                for (int a = 0; a < 50; a++)
                    spawn_one(&t[k]);
        }
        sabre_commit_stats_t st[NW];
        for (int k = 0; k < NW; k++) {
            sabre_snapshot_t *sp = changed_q ? sc[k] : s[k];
            CHECK_OK(sabre_snapshot_commit(t[k].w, sp, &st[k]));
            CHECK_EQ(sabre__snapshot_last_fast(sp), k != 1);
        }
        fast++;
        CHECK(st[0].rows_written > 0);
        CHECK(st[0].skipped_missing > 0);
        CHECK(st[0].skipped_readonly > 0);
        CHECK_EQ(st[0].skipped_dead, 0);
        for (int k = 1; k < NW; k++) {
            same_stats(&st[0], &st[k]);
            same_worlds(&t[0], &t[k], SABRE_ENTITY_NULL);
        }
        for (int k = 0; k < NW; k++) {
            CHECK_OK(sabre_world_end_tick(t[k].w));
            /* Structural changes between rounds: the next rebuild re-records. */
            uint64_t r = 0x51ull + round;
            for (int d = 0; d < 30; d++) {
                sabre_entity_t e = t[k].ents[rn(&r, t[k].n)];
                if (sabre_entity_alive(t[k].w, e))
                    CHECK_OK(sabre_entity_destroy(t[k].w, e));
            }
        }
    }
    CHECK(fast >= 4);
    CHECK(atomic_load(&px.calls) >= 2 * rounds - 2); /* the first builds use the default grain */
    CHECK(atomic_load(&px.ranges) > atomic_load(&px.calls));
    CHECK(sx.calls >= 2 * rounds - 2 && sx.ranges > sx.calls);
    CHECK(fx.calls >= 2 * rounds - 2);
    for (int k = 0; k < NW; k++) {
        sabre_snapshot_free(s[k]);
        sabre_snapshot_free(sc[k]);
        tw_free(&t[k]);
    }
}

/* ------------------------------------------------------------- test 2 */

enum { SC_DESTROY, SC_REMOVE, SC_ADD_MOVE, SC_OUTSIDE, SC_SPAWN, SC_COUNT };

static void test_structural(int scenario)
{
    tw_t a, b; /* a: the change; b: the untouched twin */
    tw_init(&a, 0xabcdefull + (uint64_t)scenario, 5000, 128);
    tw_init(&b, 0xabcdefull + (uint64_t)scenario, 5000, 128);
    pexec_t px = {0};
    sabre_snapshot_exec_t ex = {.parallel_for = pthread_for, .user = &px};
    CHECK_OK(sabre_world_begin_tick(a.w));
    CHECK_OK(sabre_world_begin_tick(b.w));
    sabre_snapshot_t *sa = snap_build(&a, a.q, scenario % 2 ? &ex : NULL);
    sabre_snapshot_t *sb = snap_build(&b, b.q, NULL);
    sabre__snapshot_set_grain(sa, 256);
    scribble(&a, sa, 5);
    scribble(&b, sb, 5);
    uint64_t rows = sabre_snapshot_rows(sa);
    CHECK(rows > 1000);
    /* The victim: a row in the middle of the snapshot with Hp (so both
     * skip reasons are visible) and without Tag (so adding Tag moves it). */
    const sabre_entity_t *ents;
    CHECK_OK(sabre_snapshot_entities(sa, &ents));
    uint64_t vr = rows / 3;
    while (vr < rows &&
           (!sabre_has(a.w, ents[vr], a.c[CHP]) || sabre_has(a.w, ents[vr], a.c[CTAG])))
        vr++;
    CHECK(vr < rows);
    sabre_entity_t victim = ents[vr];
    CHECK_OK(sabre_snapshot_mark(sa, a.c[CPOS], vr));
    CHECK_OK(sabre_snapshot_mark(sb, b.c[CPOS], vr));
    CHECK_OK(sabre_snapshot_mark(sa, a.c[CHP], vr));
    CHECK_OK(sabre_snapshot_mark(sb, b.c[CHP], vr));
    bool big = sabre_has(a.w, victim, a.c[CBIG]);
    _Atomic uint64_t *bb;
    CHECK_OK(sabre_snapshot_changed(sa, a.c[CBIG], &bb));
    bool big_marked = (atomic_load(&bb[vr / 64]) >> (vr % 64)) & 1;
    sabre_entity_t skip = SABRE_ENTITY_NULL;
    sabre_entity_t outside = SABRE_ENTITY_NULL;
    switch (scenario) {
    case SC_DESTROY:
        CHECK_OK(sabre_entity_destroy(a.w, victim));
        skip = victim;
        break;
    case SC_REMOVE:
        CHECK_OK(sabre_remove(a.w, victim, a.c[CHP]));
        skip = victim;
        break;
    case SC_ADD_MOVE:
        CHECK_OK(sabre_add(a.w, victim, a.c[CTAG], NULL));
        skip = victim;
        break;
    case SC_OUTSIDE:
        for (uint32_t i = 0; i < a.n; i++)
            if (sabre_entity_alive(a.w, a.ents[i]) && !sabre_has(a.w, a.ents[i], a.c[CPOS])) {
                outside = a.ents[i];
                break;
            }
        CHECK(outside != SABRE_ENTITY_NULL);
        CHECK_OK(sabre_entity_destroy(a.w, outside));
        skip = outside;
        break;
    default: /* appends only: create and a move's destination in a new row */
        for (int k = 0; k < 200; k++) {
            spawn_one(&a);
            spawn_one(&b);
        }
        break;
    }
    sabre_commit_stats_t st_a, st_b;
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_OK(sabre_snapshot_commit(b.w, sb, &st_b));
    CHECK_EQ(sabre__snapshot_last_fast(sa), scenario == SC_SPAWN);
    CHECK(sabre__snapshot_last_fast(sb));
    CHECK_EQ(st_a.skipped_readonly, st_b.skipped_readonly);
    switch (scenario) {
    case SC_DESTROY: /* Pos, Hp (and Big if marked) of the victim: dead */
        CHECK_EQ(st_a.skipped_dead, 2u + big_marked);
        CHECK_EQ(st_a.rows_written, st_b.rows_written - 2 - (big && big_marked));
        CHECK_EQ(st_a.skipped_missing, st_b.skipped_missing - (!big && big_marked));
        break;
    case SC_REMOVE: /* Hp: missing now; Pos still written */
        CHECK_EQ(st_a.skipped_dead, 0);
        CHECK_EQ(st_a.skipped_missing, st_b.skipped_missing + 1);
        CHECK_EQ(st_a.rows_written, st_b.rows_written - 1);
        break;
    default:
        same_stats(&st_a, &st_b);
        break;
    }
    same_worlds(&a, &b, skip);
    if (scenario == SC_REMOVE || scenario == SC_ADD_MOVE) {
        /* The moved victim's written Pos reached its new row. */
        vec2_t pa, pb;
        CHECK_OK(sabre_get(a.w, victim, a.c[CPOS], &pa));
        CHECK_OK(sabre_get(b.w, victim, b.c[CPOS], &pb));
        CHECK(memcmp(&pa, &pb, sizeof pa) == 0);
    }
    /* After a rebuild the fast path is back. */
    CHECK_OK(sabre_world_end_tick(a.w));
    CHECK_OK(sabre_world_begin_tick(a.w));
    CHECK_OK(sabre_snapshot_rebuild(a.w, sa, a.q));
    scribble(&a, sa, 9);
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK(sabre__snapshot_last_fast(sa));
    CHECK_EQ(st_a.skipped_dead, 0);
    CHECK_OK(sabre_world_end_tick(a.w));
    CHECK_OK(sabre_world_end_tick(b.w));
    sabre_snapshot_free(sa);
    sabre_snapshot_free(sb);
    tw_free(&a);
    tw_free(&b);
}

/* ------------------------------------------------------------- test 3 */

static void test_executor(void)
{
    /* The default grain (tens of thousands of rows): a world big enough for
     * several ranges whatever the test scale. */
    tw_t a, b;
    tw_init(&a, 42, 90000, 1024);
    tw_init(&b, 42, 90000, 1024);
    sexec_t sx = {.fail_after = -1};
    sabre_snapshot_exec_t ex = {.parallel_for = serial_rev_for, .user = &sx};
    sabre_snapshot_t *sa = snap_build(&a, a.q, &ex);
    sabre_snapshot_t *sb = snap_build(&b, b.q, NULL);
    CHECK_EQ(sx.calls, 1); /* the build's fill */
    CHECK(sx.ranges >= 2);
    scribble(&a, sa, 3);
    scribble(&b, sb, 3);
    sabre_commit_stats_t st_a, st_b;
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_OK(sabre_snapshot_commit(b.w, sb, &st_b));
    CHECK_EQ(sx.calls, 2);
    same_stats(&st_a, &st_b);
    same_worlds(&a, &b, SABRE_ENTITY_NULL);
    /* Cleared: the caller does everything. */
    CHECK_OK(sabre_snapshot_set_executor(sa, NULL));
    CHECK_OK(sabre_snapshot_rebuild(a.w, sa, a.q));
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_EQ(sx.calls, 2);
    /* A failing executor: the snapshot redoes the job, same result. */
    sexec_t fx = {.fail_after = 1};
    CHECK_OK(sabre_snapshot_set_executor(
        sa, &(sabre_snapshot_exec_t){.parallel_for = serial_rev_for, .user = &fx}));
    CHECK_OK(sabre_snapshot_rebuild(a.w, sa, a.q));
    CHECK_OK(sabre_snapshot_rebuild(b.w, sb, b.q));
    scribble(&a, sa, 4);
    scribble(&b, sb, 4);
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_OK(sabre_snapshot_commit(b.w, sb, &st_b));
    CHECK_EQ(fx.calls, 2);
    CHECK(sabre__snapshot_last_fast(sa));
    same_stats(&st_a, &st_b);
    same_worlds(&a, &b, SABRE_ENTITY_NULL);
    sabre_snapshot_free(sa);
    sabre_snapshot_free(sb);

    /* A rebuild that regrows the snapshot's region keeps the executor. */
    sexec_t gx = {.fail_after = -1};
    sabre_snap_comp_t one = {.comp = a.c[CPOS], .write = true};
    sabre_snapshot_t *g;
    CHECK_OK(sabre_snapshot_build(
        a.w,
        &(sabre_snapshot_desc_t){
            .comps = &one, .ncomps = 1, .exec = {.parallel_for = serial_rev_for, .user = &gx}},
        a.q, &g));
    sabre__snapshot_set_grain(g, 1024);
    uint64_t before = sabre_snapshot_rows(g);
    for (int k = 0; k < 3000; k++)
        spawn_one(&a);
    unsigned calls = gx.calls;
    CHECK_OK(sabre_snapshot_rebuild(a.w, g, a.q));
    CHECK(sabre_snapshot_rows(g) > before);
    CHECK(gx.calls > calls);
    CHECK_OK(sabre_snapshot_mark_range(g, a.c[CPOS], 0, sabre_snapshot_rows(g)));
    calls = gx.calls;
    CHECK_OK(sabre_snapshot_commit(a.w, g, &st_a));
    CHECK(gx.calls > calls);
    CHECK_EQ(st_a.rows_written, sabre_snapshot_rows(g));

    /* Errors. */
    CHECK_ERR(sabre_snapshot_set_executor(NULL, &ex), SABRE_EINVAL);
    sabre_snapshot_t *v;
    uint32_t vt = 1;
    sabre_chunk_info_t ci = {0};
    while (vt < sabre_world_table_count(a.w) &&
           (sabre_table_chunk(a.w, vt, 0, &ci) != SABRE_OK || ci.count == 0))
        vt++;
    CHECK(vt < sabre_world_table_count(a.w));
    CHECK_OK(sabre_snapshot_view(a.w, vt, 0, 0, 1, &v));
    CHECK_ERR(sabre_snapshot_set_executor(v, &ex), SABRE_EINVAL);
    sabre_snapshot_free(v);
    sabre_snapshot_free(g);
    tw_free(&a);
    tw_free(&b);
}

/* ------------------------------------------------------------- test 4 */

static void test_transfer(void)
{
    tw_t a, b;
    tw_init(&a, 7, 4000, 64);
    tw_init(&b, 7, 4000, 64);
    sabre_snap_comp_t sc[2] = {{.comp = a.c[CPOS], .write = true},
                               {.comp = a.c[CHP], .write = true}};
    sabre_snapshot_t *sa, *sb;
    /* Threads: transfer and give back, same mapping: fast. */
    CHECK_OK(sabre_snapshot_build(
        a.w, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2, .mode = SABRE_SNAP_TRANSFER}, a.q,
        &sa));
    CHECK_OK(
        sabre_snapshot_build(b.w, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2}, b.q, &sb));
    sabre_snapshot_t *m;
    CHECK_OK(sabre_snapshot_transfer(sa, &m));
    uint64_t rows = sabre_snapshot_rows(m);
    CHECK_OK(sabre_snapshot_mark_range(m, a.c[CPOS], rows / 4, rows / 2));
    CHECK_OK(sabre_snapshot_mark_range(sb, b.c[CPOS], rows / 4, rows / 2));
    CHECK_OK(sabre_snapshot_give_back(sa, m));
    sabre_commit_stats_t st_a, st_b;
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_OK(sabre_snapshot_commit(b.w, sb, &st_b));
    CHECK(sabre__snapshot_last_fast(sa));
    same_stats(&st_a, &st_b);
    same_worlds(&a, &b, SABRE_ENTITY_NULL);
    sabre_snapshot_free(sa);

    /* Processes (here: both ends in this process): a fresh mapping comes
     * back, so commit goes through the entity ids. */
    CHECK_OK(sabre_snapshot_build(
        a.w,
        &(sabre_snapshot_desc_t){
            .comps = sc, .ncomps = 2, .mode = SABRE_SNAP_TRANSFER, .backing = SABRE_BACKING_MEMFD},
        a.q, &sa));
    CHECK_OK(sabre_snapshot_rebuild(b.w, sb, b.q));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(sabre_snapshot_send(sa, sv[0]));
    sabre_snapshot_t *r;
    CHECK_OK(sabre_snapshot_recv(sv[1], &r));
    rows = sabre_snapshot_rows(r);
    float *x;
    CHECK_OK(sabre_snapshot_column(r, a.c[CPOS], "x", (void **)&x));
    float *xb;
    CHECK_OK(sabre_snapshot_column(sb, b.c[CPOS], "x", (void **)&xb));
    for (uint64_t i = 0; i < rows; i += 3) {
        x[i] = xb[i] = (float)i * 0.25f;
        CHECK_OK(sabre_snapshot_mark(r, a.c[CPOS], i));
        CHECK_OK(sabre_snapshot_mark(sb, b.c[CPOS], i));
    }
    CHECK_OK(sabre_snapshot_send(r, sv[1]));
    sabre_snapshot_free(r);
    CHECK_OK(sabre_snapshot_reattach(sa, sv[0]));
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK_OK(sabre_snapshot_commit(b.w, sb, &st_b));
    CHECK(!sabre__snapshot_last_fast(sa));
    CHECK(sabre__snapshot_last_fast(sb));
    same_stats(&st_a, &st_b);
    same_worlds(&a, &b, SABRE_ENTITY_NULL);
    /* Rebuilt here: fast again. */
    CHECK_OK(sabre_snapshot_rebuild(a.w, sa, a.q));
    CHECK_OK(sabre_snapshot_commit(a.w, sa, &st_a));
    CHECK(sabre__snapshot_last_fast(sa));
    close(sv[0]);
    close(sv[1]);
    sabre_snapshot_free(sa);
    sabre_snapshot_free(sb);
    tw_free(&a);
    tw_free(&b);
}

int main(void)
{
    test_fast_equals_slow();
    for (int sc = 0; sc < SC_COUNT; sc++)
        test_structural(sc);
    test_executor();
    test_transfer();
    return check_done();
}
