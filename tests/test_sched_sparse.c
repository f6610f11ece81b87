// SABRE_TEST_LABELS: unit concurrent
/*
 * test_sched_sparse.c - sparse components (docs/ecs.md, "Sparse
 * components") in snapshots and the scheduler:
 *  1. Snapshots with sparse columns: build (members' values, zeros for
 *     non-members), worker writes, commit (written, missing, dead), full
 *     and incremental rebuilds equal to a fresh build, also after
 *     sparse-only changes.
 *  2. The scheduler: an INPLACE kernel writing a sparse component is
 *     refused with a message naming it; a SNAPSHOT kernel writes it through
 *     its snapshot.
 *  3. Build, commit and iterator marks of sparse columns on a 3-thread
 *     pool (TSan checks the sharing).
 *  4. A sparse tag in a snapshot spec is refused (no columns).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sabre/ecs.h"
#include "sabre/pool.h"
#include "sabre/sched.h"
#include "sabre/snapshot.h"
#include "snapshot/snapshot_internal.h"

typedef struct {
    float x, y;
} pos_t;
typedef struct {
    float v;
    uint32_t w;
} sv_t;

/* ------------------------------------------------------------- snapshots */

static void same(sabre_snapshot_t *a, sabre_snapshot_t *b, sabre_component_t p, sabre_component_t s)
{
    uint64_t n = sabre_snapshot_rows(a);
    CHECK_EQ(n, sabre_snapshot_rows(b));
    const sabre_entity_t *ea, *eb;
    CHECK_OK(sabre_snapshot_entities(a, &ea));
    CHECK_OK(sabre_snapshot_entities(b, &eb));
    CHECK(memcmp(ea, eb, n * sizeof *ea) == 0);
    const char *names[4] = {"x", "y", "v", "w"};
    sabre_component_t comps[4] = {p, p, s, s};
    for (int c = 0; c < 4; c++) {
        void *ca, *cb;
        CHECK_OK(sabre_snapshot_column(a, comps[c], names[c], &ca));
        CHECK_OK(sabre_snapshot_column(b, comps[c], names[c], &cb));
        CHECK(memcmp(ca, cb, n * 4) == 0);
    }
}

static void snapshot_test(void)
{
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_component_t p, s;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &p));
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){
                                        .name = "Sv",
                                        .schema = "struct Sv { v: f32; w: u32; }",
                                        .storage = SABRE_STORAGE_SPARSE,
                                    },
                                    &s));
    enum { N = 300 };
    sabre_entity_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        pos_t pv = {(float)i, 0};
        sv_t sv = {(float)i * 2, i};
        if (i % 3)
            CHECK_OK(sabre_entity_create_with(w, (sabre_component_t[]){p, s},
                                              (const void *const[]){&pv, &sv}, 2, &ids[i]));
        else
            CHECK_OK(sabre_entity_create_with(w, &p, (const void *const[]){&pv}, 1, &ids[i]));
    }
    sabre_query_t *qall;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &p, .nall = 1}, &qall));
    for (int incremental = 0; incremental < 2; incremental++) {
        sabre_snap_comp_t sc[2] = {{.comp = p, .write = true}, {.comp = s, .write = true}};
        sabre_snapshot_t *snap;
        CHECK_OK(sabre_snapshot_build(
            w, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2, .incremental = incremental}, qall,
            &snap));
        uint64_t rows = sabre_snapshot_rows(snap);
        CHECK_EQ(rows, sabre_query_count(qall));
        const sabre_entity_t *ents;
        float *v, *x;
        uint32_t *wv;
        CHECK_OK(sabre_snapshot_entities(snap, &ents));
        CHECK_OK(sabre_snapshot_column(snap, s, "v", (void **)&v));
        CHECK_OK(sabre_snapshot_column(snap, s, "w", (void **)&wv));
        CHECK_OK(sabre_snapshot_column(snap, p, "x", (void **)&x));
        for (uint64_t r = 0; r < rows; r++) {
            sv_t want = {0, 0};
            if (sabre_has(w, ents[r], s))
                CHECK_OK(sabre_get(w, ents[r], s, &want));
            CHECK(v[r] == want.v && wv[r] == want.w);
        }
        /* Worker: double every v, mark every row of S; x += 1 on even rows. */
        for (uint64_t r = 0; r < rows; r++) {
            v[r] += 1000.0f;
            CHECK_OK(sabre_snapshot_mark(snap, s, r));
            if (r % 2 == 0) {
                x[r] += 1.0f;
                CHECK_OK(sabre_snapshot_mark(snap, p, r));
            }
        }
        /* Meanwhile the owner removes S from one member, destroys another. */
        sabre_entity_t lost = ents[1], dead = ents[2];
        CHECK(sabre_has(w, lost, s) && sabre_has(w, dead, s));
        CHECK_OK(sabre_remove(w, lost, s));
        CHECK_OK(sabre_entity_destroy(w, dead));
        sabre_entity_t keep[N];
        memcpy(keep, ents, rows * sizeof *keep);
        float vbefore[N];
        memcpy(vbefore, v, rows * sizeof *v);
        CHECK_OK(sabre_world_begin_tick(w));
        sabre_commit_stats_t st;
        CHECK_OK(sabre_snapshot_commit(w, snap, &st));
        uint64_t members = 0;
        for (uint64_t r = 0; r < rows; r++)
            members += sabre_entity_alive(w, keep[r]) && sabre_has(w, keep[r], s);
        /* rows of S that were not members (zero-filled) count as missing too */
        CHECK_EQ(st.skipped_dead, 2); /* dead: once for P, once for S */
        CHECK_EQ(st.rows_written, members + (rows + 1) / 2 - 1 /* dead even row 2 */);
        CHECK_EQ(st.skipped_missing, rows - 1 - members);
        for (uint64_t r = 0; r < rows; r++) {
            if (!sabre_entity_alive(w, keep[r]) || !sabre_has(w, keep[r], s))
                continue;
            sv_t got;
            CHECK_OK(sabre_get(w, keep[r], s, &got));
            CHECK(got.v == vbefore[r]);
            CHECK(sabre_is_changed(w, keep[r], s));
        }
        CHECK_OK(sabre_world_end_tick(w));
        /* Changes by the owner, then a rebuild equals a fresh build. */
        CHECK_OK(sabre_add(w, lost, s, &(sv_t){-5, 5}));
        CHECK_OK(sabre_set(w, ents[4], s, &(sv_t){-4, 4}));
        CHECK_OK(sabre_snapshot_rebuild(w, snap, qall));
        sabre_snapshot_t *fresh;
        CHECK_OK(sabre_snapshot_build(w, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2}, qall,
                                      &fresh));
        same(snap, fresh, p, s);
        /* A rebuild with nothing changed is still equal (sparse columns are
         * recopied whole), and so after a sparse-only change. */
        CHECK_OK(sabre_snapshot_rebuild(w, snap, qall));
        same(snap, fresh, p, s);
        CHECK_OK(sabre_remove(w, ents[5], s));
        CHECK_OK(sabre_snapshot_rebuild(w, snap, qall));
        CHECK_OK(sabre_snapshot_rebuild(w, fresh, qall));
        same(snap, fresh, p, s);
        sabre_snapshot_free(fresh);
        sabre_snapshot_free(snap);
    }
    sabre_world_destroy(w);
}

/* ------------------------------------------------------------ scheduler */

static sabre_component_t KS;

static int bump(const sabre_kernel_ctx_t *ctx)
{
    float *v = sabre_kernel_column(ctx, 0, 0);
    if (!v)
        return 1;
    for (uint64_t r = ctx->begin; r < ctx->end; r++)
        v[r] += 1.0f;
    return 0;
}

static void sched_test(void)
{
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_component_t p;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &p));
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){
                                        .name = "Sv",
                                        .schema = "struct Sv { v: f32; w: u32; }",
                                        .storage = SABRE_STORAGE_SPARSE,
                                    },
                                    &KS));
    enum { N = 200 };
    sabre_entity_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        sv_t sv = {(float)i, i};
        CHECK_OK(sabre_entity_create_with(w, &p, NULL, 1, &ids[i]));
        if (i % 2)
            CHECK_OK(sabre_add(w, ids[i], KS, &sv));
    }
    sabre_sched_t *sc;
    CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = w}, &sc));
    sabre_system_desc_t d = {.name = "inplace", .writes = &KS, .nwrites = 1, .kernel = bump};
    CHECK_ERR(sabre_sched_add(sc, &d), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "sparse");
    d.name = "snap";
    d.offload = SABRE_OFFLOAD_SNAPSHOT;
    CHECK_OK(sabre_sched_add(sc, &d));
    CHECK_OK(sabre_sched_run_frame(sc, 0.0, 0.0));
    CHECK_OK(sabre_sched_run_frame(sc, 0.0, 0.0));
    for (uint32_t i = 0; i < N; i++) {
        if (!(i % 2)) {
            CHECK(!sabre_has(w, ids[i], KS));
            continue;
        }
        sv_t got;
        CHECK_OK(sabre_get(w, ids[i], KS, &got));
        CHECK(got.v == (float)i + 2.0f && got.w == i);
    }
    sabre_sched_destroy(sc);
    sabre_world_destroy(w);
}

/* Build, worker writes and commit of sparse columns through a 3-thread
 * pool executor (ranges of 64 rows), and sparse marks from several
 * threads at once (iterator marks on a sparse term): the values and bits
 * must all arrive (TSan checks the sharing). */
typedef struct {
    sabre_iter_t it;
} mark_ctx_t;

static int mark_range(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    mark_ctx_t *m = ctx;
    sabre_iter_mark(&m->it, 0, (uint32_t)begin, (uint32_t)(end - begin));
    return 0;
}

static int pool_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    return sabre_pool_for((sabre_pool_t *)user, n, grain, fn, ctx);
}

static void parallel_test(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 3}, &pool));
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 4096}, &w));
    sabre_component_t p, s;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &p));
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){
                                        .name = "Sv",
                                        .schema = "struct Sv { v: f32; w: u32; }",
                                        .storage = SABRE_STORAGE_SPARSE,
                                    },
                                    &s));
    enum { N = 3000 };
    static sabre_entity_t ids[N];
    CHECK_OK(sabre_entity_create_many(w, &p, NULL, 1, N, ids));
    for (uint32_t i = 0; i < N; i++)
        if (i % 3)
            CHECK_OK(sabre_add(w, ids[i], s, &(sv_t){(float)i, i}));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &p, .nall = 1}, &q));
    sabre_snap_comp_t sc[1] = {{.comp = s, .write = true}};
    sabre_snapshot_t *snap;
    CHECK_OK(sabre_snapshot_build(w,
                                  &(sabre_snapshot_desc_t){
                                      .comps = sc,
                                      .ncomps = 1,
                                      .exec = {.parallel_for = pool_for, .user = pool},
                                  },
                                  q, &snap));
    sabre__snapshot_set_grain(snap, 64);
    CHECK_OK(sabre_snapshot_rebuild(w, snap, q));
    uint64_t rows = sabre_snapshot_rows(snap);
    CHECK_EQ(rows, N);
    const sabre_entity_t *ents;
    float *v;
    CHECK_OK(sabre_snapshot_entities(snap, &ents));
    CHECK_OK(sabre_snapshot_column(snap, s, "v", (void **)&v));
    for (uint64_t r = 0; r < rows; r++) {
        uint32_t i = SABRE_ENTITY_INDEX(ents[r]);
        CHECK(v[r] == (i % 3 ? (float)i : 0.0f));
        v[r] = -v[r];
    }
    CHECK_OK(sabre_snapshot_mark_range(snap, s, 0, rows));
    CHECK_OK(sabre_world_begin_tick(w));
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(w, snap, &st));
    CHECK_EQ(st.rows_written, N - N / 3);
    CHECK_EQ(st.skipped_missing, N / 3);
    for (uint32_t i = 1; i < N; i += 3) {
        sv_t got;
        CHECK_OK(sabre_get(w, ids[i], s, &got));
        CHECK(got.v == -(float)i && got.w == i);
        CHECK(sabre_is_changed(w, ids[i], s));
    }
    CHECK_OK(sabre_world_end_tick(w));
    CHECK_OK(sabre_world_begin_tick(w));
    /* marks from the pool's threads on a sparse term */
    sabre_query_t *qs;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &s, .nall = 1}, &qs));
    mark_ctx_t m;
    sabre_query_iter(qs, &m.it);
    uint64_t marked = 0;
    while (sabre_iter_next(&m.it)) {
        CHECK_OK(sabre_pool_for(pool, m.it.count, 64, mark_range, &m));
        for (uint32_t i = 0; i < m.it.count; i++)
            CHECK(sabre_iter_is_changed(&m.it, 0, i));
        marked += m.it.count;
    }
    CHECK_EQ(marked, N - N / 3);
    CHECK_OK(sabre_world_end_tick(w));
    sabre_snapshot_free(snap);
    sabre_world_destroy(w);
    sabre_pool_destroy(pool);
}

static void error_test(void)
{
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_component_t c;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "G", .storage = SABRE_STORAGE_SPARSE}, &c));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &c, .nall = 1}, &q));
    sabre_snapshot_t *snap;
    CHECK_ERR(sabre_snapshot_build(
                  w,
                  &(sabre_snapshot_desc_t){.comps = &(sabre_snap_comp_t){.comp = c}, .ncomps = 1},
                  q, &snap),
              SABRE_EINVAL);
    sabre_world_destroy(w);
}

int main(void)
{
    snapshot_test();
    sched_test();
    parallel_test();
    error_test();
    return check_done();
}
