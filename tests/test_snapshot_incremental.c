// SABRE_TEST_LABELS: unit stress
/*
 * test_snapshot_incremental.c - incremental rebuild (docs/ecs.md,
 * "Incremental rebuild") against full rebuild, model-based: a world takes
 * random marked writes (sabre_set, query writes with sabre_iter_mark),
 * structural changes (create, destroy, add and remove of a tag, which move
 * rows between tables), ticks (none, one or several between rebuilds),
 * commits of the incremental snapshot itself and of a second snapshot of
 * the same rows (whose commits are "other" changes for the first), snapshot
 * rows written and not committed, and read-only rows written in the
 * snapshot.  After every rebuild the incremental snapshot must hold exactly
 * what a full rebuild of the same query holds (rows, ids, every column's
 * bytes).  And the point of it: with nothing changed by others, a rebuild
 * copies nothing, also after its own commit and a new tick.
 * 3,000 steps at SABRE_TEST_SCALE=100, through an executor on every third
 * run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ecs/ecs_internal.h"
#include "sabre/snapshot.h"
#include "snapshot/snapshot_internal.h"

typedef struct {
    float x, y;
} pos_t;

static sabre_world_t *W;
static sabre_component_t P, H, T; /* Pos (x, y), Hp (v: u32), a tag */
static sabre_query_t *Q;
static uint64_t seed = 0x1234567;

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(check_xorshift(&seed) % n);
}

/* Executor running ranges in reverse order on the calling thread. */
static int rev_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    (void)user;
    size_t nr = (n + grain - 1) / grain;
    for (size_t r = nr; r-- > 0;)
        fn(ctx, r * grain, r * grain + grain < n ? r * grain + grain : n, 0);
    return 0;
}

static sabre_snapshot_t *build(bool incremental, bool exec)
{
    sabre_snap_comp_t sc[2] = {{.comp = P, .write = true}, {.comp = H}};
    sabre_snapshot_desc_t d = {.comps = sc, .ncomps = 2, .incremental = incremental};
    if (exec)
        d.exec = (sabre_snapshot_exec_t){.parallel_for = rev_for};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(W, &d, Q, &s));
    if (exec)
        sabre__snapshot_set_grain(s, 64 * (1 + rnd(4)));
    return s;
}

/* The two snapshots hold the same rows, ids and bytes. */
static void same(sabre_snapshot_t *a, sabre_snapshot_t *b)
{
    CHECK_EQ(sabre_snapshot_rows(a), sabre_snapshot_rows(b));
    uint64_t n = sabre_snapshot_rows(a);
    const sabre_entity_t *ea, *eb;
    CHECK_OK(sabre_snapshot_entities(a, &ea));
    CHECK_OK(sabre_snapshot_entities(b, &eb));
    CHECK(memcmp(ea, eb, n * sizeof *ea) == 0);
    const char *cols[3] = {"x", "y", "v"};
    sabre_component_t comp[3] = {P, P, H};
    for (int c = 0; c < 3; c++) {
        void *pa, *pb;
        CHECK_OK(sabre_snapshot_column(a, comp[c], cols[c], &pa));
        CHECK_OK(sabre_snapshot_column(b, comp[c], cols[c], &pb));
        if (memcmp(pa, pb, n * 4) != 0) {
            for (uint64_t i = 0; i < n; i++)
                if (memcmp((char *)pa + i * 4, (char *)pb + i * 4, 4))
                    CHECK_FAIL_("column %s row %llu (entity %llx) differs", cols[c],
                                (unsigned long long)i, (unsigned long long)ea[i]);
        }
    }
}

/* A worker's changes to a snapshot: some rows of Pos written and marked. */
static void work(sabre_snapshot_t *s, bool mark_readonly)
{
    uint64_t n = sabre_snapshot_rows(s);
    if (!n)
        return;
    float *x;
    uint32_t *v;
    CHECK_OK(sabre_snapshot_column(s, P, "x", (void **)&x));
    CHECK_OK(sabre_snapshot_column(s, H, "v", (void **)&v));
    uint32_t k = 1 + rnd(8);
    for (uint32_t i = 0; i < k; i++) {
        uint64_t r = rnd((uint32_t)n);
        x[r] += 1.5f + (float)rnd(100);
        CHECK_OK(sabre_snapshot_mark(s, P, r));
    }
    if (mark_readonly) { /* written in the snapshot, never committed */
        uint64_t r = rnd((uint32_t)n);
        v[r] ^= 0xdeadbeefu;
        CHECK_OK(sabre_snapshot_mark(s, H, r));
    }
}

static sabre_entity_t ents[4096];
static uint32_t nents;

static void create_one(void)
{
    if (nents == 4096)
        return;
    pos_t p = {(float)rnd(1000), (float)rnd(1000)};
    uint32_t h = rnd(1u << 30);
    const void *vals[2] = {&p, &h};
    CHECK_OK(sabre_entity_create_with(W, (sabre_component_t[]){P, H}, vals, 2, &ents[nents++]));
}

/* One random change to the world (the owner's). */
static void change(void)
{
    uint32_t op = rnd(100);
    if (nents == 0 || op < 8) {
        create_one();
    } else if (op < 40) {
        sabre_entity_t e = ents[rnd(nents)];
        pos_t p = {(float)rnd(1000), -(float)rnd(1000)};
        CHECK_OK(sabre_set(W, e, P, &p));
    } else if (op < 55) {
        sabre_entity_t e = ents[rnd(nents)];
        uint32_t h = rnd(1u << 30);
        CHECK_OK(sabre_set(W, e, H, &h));
    } else if (op < 70) { /* marked writes through a query */
        sabre_iter_t it;
        sabre_query_iter(Q, &it);
        uint32_t skip = rnd(4);
        while (sabre_iter_next(&it)) {
            if (skip-- > 0 || it.count == 0)
                continue;
            uint32_t first = rnd(it.count), n = 1 + rnd(it.count - first);
            uint32_t *v = sabre_iter_column(&it, 1, 0);
            for (uint32_t i = first; i < first + n; i++)
                v[i] += 7;
            sabre_iter_mark(&it, 1, first, n);
            break;
        }
    } else if (op < 78) {
        uint32_t i = rnd(nents);
        CHECK_OK(sabre_entity_destroy(W, ents[i]));
        ents[i] = ents[--nents];
    } else if (op < 86) {
        CHECK_OK(sabre_add(W, ents[rnd(nents)], T, NULL));
    } else if (op < 94) {
        sabre_entity_t e = ents[rnd(nents)];
        if (sabre_has(W, e, T))
            CHECK_OK(sabre_remove(W, e, T));
    } else {
        for (int i = 0; i < 3; i++)
            create_one();
    }
}

static void tick(void)
{
    CHECK_OK(sabre_world_begin_tick(W));
    CHECK_OK(sabre_world_end_tick(W));
}

static void run_model(int round)
{
    CHECK_OK(sabre_world_create(NULL, &W));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Pos", .schema = "struct P { x: f32; y: f32; }"}, &P));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Hp", .schema = "struct H { v: u32; }"}, &H));
    CHECK_OK(sabre_component_define(W, &(sabre_component_desc_t){.name = "Tag"}, &T));
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = (sabre_component_t[]){P, H}, .nall = 2}, &Q));
    nents = 0;
    for (int i = 0; i < 1500; i++)
        create_one();
    bool exec = round % 3 == 2;
    sabre_snapshot_t *inc = build(true, exec), *full = build(false, exec),
                     *other = build(true, false);
    unsigned steps = (unsigned)check_scale(1000), quiet = 0, copied_none = 0;
    for (unsigned step = 0; step < steps; step++) {
        uint32_t what = rnd(100);
        if (what < 30) { /* the incremental snapshot's own work and commit */
            work(inc, rnd(10) == 0);
            if (rnd(8)) {
                sabre_commit_stats_t st;
                CHECK_OK(sabre_snapshot_commit(W, inc, &st));
            }
        } else if (what < 40) { /* another snapshot's commit: a change by others */
            CHECK_OK(sabre_snapshot_rebuild(W, other, Q));
            work(other, false);
            CHECK_OK(sabre_snapshot_commit(W, other, NULL));
        } else if (what < 75) {
            uint32_t n = rnd(4);
            for (uint32_t i = 0; i < n; i++)
                change();
        }
        uint32_t ticks = rnd(4) == 0 ? rnd(3) : (rnd(2) ? 1 : 0);
        for (uint32_t i = 0; i < ticks; i++)
            tick();
        CHECK_OK(sabre_snapshot_rebuild(W, inc, Q));
        CHECK_OK(sabre_snapshot_rebuild(W, full, Q));
        same(inc, full);
        /* Nothing changed since a rebuild made in a fresh tick: nothing to
         * copy, in that tick and in the next.  (A rebuild made while the
         * tick in progress holds other marks copies their rows again: which
         * of those came after it is unknown.) */
        if (rnd(4) == 0) {
            tick();
            CHECK_OK(sabre_snapshot_rebuild(W, inc, Q));
            CHECK_OK(sabre_snapshot_rebuild(W, inc, Q));
            CHECK_EQ(sabre__snapshot_last_copied(inc), 0);
            tick();
            CHECK_OK(sabre_snapshot_rebuild(W, inc, Q));
            CHECK_EQ(sabre__snapshot_last_copied(inc), 0);
            quiet++;
        }
        copied_none += sabre__snapshot_last_copied(inc) == 0;
    }
    /* Own commit, a new tick, rebuild: still nothing to copy (the design
     * note's "build every frame" in steady state). */
    for (int f = 0; f < 5; f++) {
        tick();
        CHECK_OK(sabre_snapshot_rebuild(W, inc, Q));
        CHECK_OK(sabre_snapshot_rebuild(W, full, Q));
        same(inc, full);
        if (f > 0)
            CHECK_EQ(sabre__snapshot_last_copied(inc), 0);
        work(inc, false);
        CHECK_OK(sabre_snapshot_commit(W, inc, NULL));
    }
    CHECK(quiet > 0 && copied_none > quiet); /* incremental rebuilds did happen */
    sabre_snapshot_free(inc);
    sabre_snapshot_free(full);
    sabre_snapshot_free(other);
    sabre_query_destroy(Q);
    sabre_world_destroy(W);
}

int main(void)
{
    for (int round = 0; round < 3; round++)
        run_model(round);
    return check_done();
}
