// SABRE_TEST_LABELS: unit concurrent
/*
 * test_ecs_snapshot.c - snapshots: the seed note's own test (build, change x
 * of row 0, mark, commit, get returns the new value) in shared and transfer
 * modes, a worker thread, entities destroyed or changed while a snapshot is
 * out, field subsets, rebuild, native views, and bad input.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sabre/snapshot.h"

typedef struct {
    float x, y;
} vec2;

static sabre_world_t *W;
static sabre_component_t POS, VEL;

static void setup(void)
{
    CHECK_OK(
        sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 64, .max_chunk_rows = 128}, &W));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &POS));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &VEL));
}

/* The note's test S7: one entity, build, rows == 1, eids[0] == e, px[0] == 0,
 * set px[0] = 5, mark, commit, get(e).x == 5. */
static void note_test(sabre_snap_mode_t mode)
{
    setup();
    sabre_entity_t e;
    CHECK_OK(sabre_entity_create_with(W, &POS, (const void *const[]){&(vec2){0, 0}}, 1, &e));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &q));
    sabre_snap_comp_t sc = {.comp = POS, .write = true};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W, &(sabre_snapshot_desc_t){.comps = &sc, .ncomps = 1, .mode = mode}, q, &s));
    CHECK_EQ(sabre_snapshot_rows(s), 1);
    const sabre_entity_t *eids;
    CHECK_OK(sabre_snapshot_entities(s, &eids));
    CHECK_EQ(eids[0], e);
    sabre_snapshot_t *worker = s;
    if (mode == SABRE_SNAP_TRANSFER) {
        CHECK_OK(sabre_snapshot_transfer(s, &worker));
        /* The sender's handle is detached: use is an error, not a crash. */
        float *dummy;
        CHECK_ERR(sabre_snapshot_column(s, POS, "x", (void **)&dummy), SABRE_EDETACHED);
        CHECK_ERR(sabre_snapshot_commit(W, s, NULL), SABRE_EDETACHED);
        CHECK_ERR(sabre_snapshot_transfer(s, &worker), SABRE_EDETACHED);
        CHECK_ERR(sabre_snapshot_mark(s, POS, 0), SABRE_EDETACHED);
        CHECK(sabre_snapshot_detached(s));
        CHECK_EQ(sabre_snapshot_rows(s), 0);
    }
    float *px;
    CHECK_OK(sabre_snapshot_column(worker, POS, "x", (void **)&px));
    CHECK(px[0] == 0);
    px[0] = 5;
    CHECK_OK(sabre_snapshot_mark(worker, POS, 0));
    if (mode == SABRE_SNAP_TRANSFER) {
        CHECK_ERR(sabre_snapshot_commit(W, worker, NULL), SABRE_ESTALE); /* the worker's handle */
        CHECK_OK(sabre_snapshot_give_back(s, worker));
    }
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, s, &st));
    CHECK_EQ(st.rows_written, 1);
    vec2 v;
    CHECK_OK(sabre_get(W, e, POS, &v));
    CHECK(v.x == 5);
    CHECK(sabre_is_changed(W, e, POS));
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

/* Physics on a worker thread, transfer mode: the seed's physics job. */
typedef struct job {
    sabre_snapshot_t *snap;
    float dt;
} job_t;

static void *physics_job(void *arg)
{
    job_t *j = arg;
    float *px, *py, *vx, *vy;
    if (sabre_snapshot_column(j->snap, POS, "x", (void **)&px) ||
        sabre_snapshot_column(j->snap, POS, "y", (void **)&py) ||
        sabre_snapshot_column(j->snap, VEL, "x", (void **)&vx) ||
        sabre_snapshot_column(j->snap, VEL, "y", (void **)&vy))
        return (void *)1;
    uint64_t n = sabre_snapshot_rows(j->snap);
    for (uint64_t i = 0; i < n; i++) {
        px[i] += vx[i] * j->dt;
        py[i] += vy[i] * j->dt;
        sabre_snapshot_mark(j->snap, POS, i);
    }
    return NULL;
}

static void test_worker_transfer(void)
{
    setup();
    enum { N = 1000 };
    sabre_entity_t es[N];
    for (int i = 0; i < N; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        const void *vals[2] = {&(vec2){(float)i, 0}, &(vec2){1, 2}};
        CHECK_OK(sabre_entity_create_with(W, cs, vals, 2, &es[i]));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = (sabre_component_t[]){POS, VEL}, .nall = 2}, &q));
    sabre_snap_comp_t sc[2] = {{.comp = POS, .write = true}, {.comp = VEL}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2, .mode = SABRE_SNAP_TRANSFER}, q, &s));
    for (int frame = 0; frame < 3; frame++) {
        job_t j = {.dt = 0.5f};
        CHECK_OK(sabre_snapshot_transfer(s, &j.snap));
        pthread_t th;
        CHECK(pthread_create(&th, NULL, physics_job, &j) == 0);
        void *ret;
        pthread_join(th, &ret);
        CHECK(ret == NULL);
        CHECK_OK(sabre_snapshot_give_back(s, j.snap));
        /* Destroy an entity and strip Pos from another while "away". */
        if (frame == 0) {
            CHECK_OK(sabre_entity_destroy(W, es[5]));
            CHECK_OK(sabre_remove(W, es[6], POS));
        }
        sabre_commit_stats_t st;
        CHECK_OK(sabre_snapshot_commit(W, s, &st));
        if (frame == 0) {
            CHECK_EQ(st.rows_written, N - 2);
            CHECK_EQ(st.skipped_dead, 1);
            CHECK_EQ(st.skipped_missing, 1);
        } else {
            CHECK_EQ(st.rows_written, N - 2);
            CHECK_EQ(st.skipped_dead, 0);
        }
        CHECK_EQ(st.skipped_readonly, 0);
        CHECK_OK(sabre_snapshot_rebuild(W, s, q));
        CHECK_EQ(sabre_snapshot_rows(s), N - 2);
    }
    vec2 v;
    CHECK_OK(sabre_get(W, es[0], POS, &v));
    CHECK(v.x == 1.5f && v.y == 3.0f);
    CHECK_OK(sabre_get(W, es[999], POS, &v));
    CHECK(v.x == 999 + 1.5f);
    CHECK_OK(sabre_get(W, es[6], VEL, &v)); /* lost Pos: untouched */
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

static void test_subsets_readonly_recycled(void)
{
    setup();
    enum { N = 200 };
    sabre_entity_t es[N];
    for (int i = 0; i < N; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        const void *vals[2] = {&(vec2){(float)i, (float)-i}, &(vec2){1, 1}};
        CHECK_OK(sabre_entity_create_with(W, cs, vals, 2, &es[i]));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &q));
    const char *ycol[] = {"y"};
    sabre_snap_comp_t sc[2] = {{.comp = POS, .columns = ycol, .ncolumns = 1, .write = true},
                               {.comp = VEL}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2}, q, &s));
    float *px, *py, *vx;
    CHECK_ERR(sabre_snapshot_column(s, POS, "x", (void **)&px), SABRE_ENOENT);
    CHECK_OK(sabre_snapshot_column(s, POS, "y", (void **)&py));
    CHECK_OK(sabre_snapshot_column(s, VEL, "x", (void **)&vx));
    sabre_scalar_t ty;
    CHECK_OK(sabre_snapshot_column_at(s, POS, 0, (void **)&px, &ty));
    CHECK(px == py && ty == SABRE_F32);
    CHECK_ERR(sabre_snapshot_column_at(s, POS, 1, (void **)&px, &ty), SABRE_ERANGE);
    const sabre_entity_t *eids;
    CHECK_OK(sabre_snapshot_entities(s, &eids));
    /* Change every row's y and mark; change vel too (read-only: not committed). */
    for (uint64_t i = 0; i < sabre_snapshot_rows(s); i++) {
        py[i] = 1000.0f + (float)i;
        vx[i] = -7;
        CHECK_OK(sabre_snapshot_mark(s, POS, i));
        CHECK_OK(sabre_snapshot_mark(s, VEL, i));
    }
    /* Recycle a slot: destroy es[3], create a new entity that reuses it. */
    CHECK_OK(sabre_entity_destroy(W, es[3]));
    sabre_entity_t re;
    CHECK_OK(sabre_entity_create_with(W, &POS, NULL, 1, &re));
    CHECK_EQ(SABRE_ENTITY_INDEX(re), SABRE_ENTITY_INDEX(es[3]));
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, s, &st));
    CHECK_EQ(st.rows_written, N - 1);
    CHECK_EQ(st.skipped_dead, 1);
    CHECK_EQ(st.skipped_readonly, N);
    for (uint64_t i = 0; i < sabre_snapshot_rows(s); i++) {
        vec2 v, vv;
        if (eids[i] == es[3])
            continue;
        CHECK_OK(sabre_get(W, eids[i], POS, &v));
        CHECK(v.y == 1000.0f + (float)i);
        CHECK(v.x == (float)i); /* x untouched */
        CHECK_OK(sabre_get(W, eids[i], VEL, &vv));
        CHECK(vv.x == 1);
    }
    vec2 rv;
    CHECK_OK(sabre_get(W, re, POS, &rv));
    CHECK(rv.y == 0); /* the recycled entity was not written */
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

static void test_native_view(void)
{
    setup();
    for (int i = 0; i < 300; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        const void *vals[2] = {&(vec2){(float)i, 0}, &(vec2){2, 0}};
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(W, cs, vals, 2, &e));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = (sabre_component_t[]){POS, VEL}, .nall = 2}, &q));
    CHECK_OK(sabre_world_begin_tick(W));
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    int views = 0;
    while (sabre_iter_next(&it)) {
        /* Two views per block: [0, 64) and [64, count). */
        for (uint32_t first = 0; first < it.count; first += 64) {
            uint32_t n = first == 0 ? (it.count < 64u ? it.count : 64u) : it.count - first;
            sabre_snapshot_t *v;
            CHECK_OK(sabre_snapshot_view(W, it.table, it.chunk, first, n, &v));
            CHECK_EQ(sabre_snapshot_mode(v), SABRE_SNAP_NATIVE);
            float *px, *vx;
            CHECK_OK(sabre_snapshot_column(v, POS, "x", (void **)&px));
            CHECK_OK(sabre_snapshot_column(v, VEL, "x", (void **)&vx));
            CHECK(px == (float *)sabre_iter_column(&it, 0, 0) + first); /* no copy */
            for (uint64_t i = 0; i < sabre_snapshot_rows(v); i++) {
                px[i] += vx[i];
                CHECK_OK(sabre_snapshot_mark(v, POS, i));
            }
            CHECK_ERR(sabre_snapshot_commit(W, v, NULL), SABRE_EINVAL);
            sabre_snapshot_free(v);
            views++;
            if (first >= 64)
                break;
        }
    }
    CHECK(views >= 4);
    sabre_query_t *qc;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = &POS, .nall = 1, .changed = &POS, .nchanged = 1}, &qc));
    CHECK_EQ(sabre_query_count(qc), 300);
    CHECK_OK(sabre_world_end_tick(W));
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        float *px = sabre_iter_column(&it, 0, 0);
        for (uint32_t i = 0; i < it.count; i++)
            CHECK(px[i] == (float)(it.table_row + i) + 2.0f);
    }
    sabre_snapshot_t *v;
    /* An unaligned view: marking works, raw words are refused. */
    CHECK_OK(sabre_world_begin_tick(W));
    CHECK_OK(sabre_snapshot_view(W, it.table, 1, 70, 3, &v));
    _Atomic uint64_t *raw;
    CHECK_ERR(sabre_snapshot_changed(v, POS, &raw), SABRE_EINVAL);
    CHECK_OK(sabre_snapshot_mark_range(v, POS, 1, 2));
    CHECK_ERR(sabre_snapshot_mark_range(v, POS, 2, 2), SABRE_ERANGE);
    const sabre_entity_t *ve;
    CHECK_OK(sabre_snapshot_entities(v, &ve));
    CHECK(!sabre_is_changed(W, ve[0], POS));
    CHECK(sabre_is_changed(W, ve[1], POS) && sabre_is_changed(W, ve[2], POS));
    CHECK_EQ(sabre_query_count(qc), 2);
    CHECK_OK(sabre_world_end_tick(W));
    sabre_snapshot_free(v);
    CHECK_ERR(sabre_snapshot_view(W, it.table, 0, 0, 100000, &v), SABRE_ERANGE);
    CHECK_ERR(sabre_snapshot_view(W, 77, 0, 0, 1, &v), SABRE_ENOENT);
    sabre_world_destroy(W);
}

static void test_bad_input(void)
{
    setup();
    sabre_entity_t e;
    CHECK_OK(sabre_entity_create_with(W, &POS, NULL, 1, &e));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &q));
    sabre_snapshot_t *s;
    sabre_snap_comp_t sc = {.comp = 999, .write = true};
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &sc, .ncomps = 1}, q, &s),
              SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "unknown component");
    sabre_component_t T;
    CHECK_OK(sabre_component_define(W, &(sabre_component_desc_t){.name = "T"}, &T));
    sc.comp = T;
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &sc, .ncomps = 1}, q, &s),
              SABRE_EINVAL);
    const char *nocol[] = {"z"};
    sabre_snap_comp_t sz = {.comp = POS, .columns = nocol, .ncolumns = 1};
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &sz, .ncomps = 1}, q, &s),
              SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "no column 'z'");
    sabre_snap_comp_t two[2] = {{.comp = POS}, {.comp = POS}};
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = two, .ncomps = 2}, q, &s),
              SABRE_EINVAL);
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = two, .ncomps = 0}, q, &s),
              SABRE_EINVAL);
    /* Shared snapshot cannot be transferred. */
    sabre_snap_comp_t p = {.comp = POS, .write = true};
    CHECK_OK(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1}, q, &s));
    sabre_snapshot_t *m;
    CHECK_ERR(sabre_snapshot_transfer(s, &m), SABRE_EINVAL);
    CHECK_ERR(sabre_snapshot_send(s, -1), SABRE_EINVAL);
    CHECK_ERR(sabre_snapshot_mark(s, POS, 5), SABRE_ERANGE);
    CHECK_ERR(sabre_snapshot_mark(s, VEL, 0), SABRE_ENOENT);

    /* Snapshot of a destroyed world: commit into a new world is refused. */
    CHECK_OK(sabre_snapshot_mark(s, POS, 0));
    sabre_world_t *old = W;
    sabre_world_destroy(old);
    setup();
    CHECK_ERR(sabre_snapshot_commit(W, s, NULL), SABRE_ESTALE);
    CHECK_STR_CONTAINS(sabre_last_error(), "destroyed");
    CHECK_ERR(sabre_snapshot_rebuild(W, s, NULL), SABRE_EINVAL);
    /* The columns are still readable (the snapshot owns its buffers). */
    float *px;
    CHECK_OK(sabre_snapshot_column(s, POS, "x", (void **)&px));
    sabre_snapshot_free(s);

    /* Snapshot from another live world. */
    sabre_world_t *w2;
    CHECK_OK(sabre_world_create(NULL, &w2));
    sabre_component_t P2;
    CHECK_OK(sabre_component_define(
        w2, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &P2));
    sabre_entity_t e2;
    CHECK_OK(sabre_entity_create_with(w2, &P2, NULL, 1, &e2));
    sabre_query_t *q2;
    CHECK_OK(sabre_query_create(w2, &(sabre_query_desc_t){.all = &P2, .nall = 1}, &q2));
    CHECK_OK(sabre_snapshot_build(w2, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1}, q2, &s));
    CHECK_ERR(sabre_snapshot_commit(W, s, NULL), SABRE_ESTALE);
    CHECK_STR_CONTAINS(sabre_last_error(), "not this world");
    CHECK_ERR(sabre_snapshot_commit(NULL, s, NULL), SABRE_EINVAL);
    sabre_query_t *qw;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &qw));
    CHECK_ERR(sabre_snapshot_rebuild(w2, s, qw), SABRE_EINVAL); /* qw is W's query */
    sabre_snapshot_free(s);
    CHECK_ERR(sabre_snapshot_build(w2, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1}, qw, &s),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "another world");
    /* A caller region: object allocated in it, capacity enforced on rebuild. */
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &r));
    CHECK_OK(sabre_snapshot_build(
        w2, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1, .region = r, .name = "snapA"}, q2,
        &s));
    sabre_snapshot_t *opened;
    CHECK_OK(sabre_snapshot_open(r, "snapA", &opened));
    CHECK_EQ(sabre_snapshot_rows(opened), 1);
    CHECK_ERR(sabre_snapshot_commit(w2, opened, NULL), SABRE_ESTALE);
    sabre_snapshot_free(opened);
    CHECK_ERR(sabre_snapshot_open(r, "nope", &opened), SABRE_ENOENT);
    for (int i = 0; i < 100; i++)
        CHECK_OK(sabre_entity_create_with(w2, &P2, NULL, 1, &e2));
    CHECK_ERR(sabre_snapshot_rebuild(w2, s, q2), SABRE_ENOSPC);
    CHECK_ERR(sabre_snapshot_build(
                  w2,
                  &(sabre_snapshot_desc_t){
                      .comps = &p, .ncomps = 1, .region = r, .mode = SABRE_SNAP_TRANSFER},
                  q2, &opened),
              SABRE_EINVAL);
    sabre_snapshot_free(s);
    /* Corrupt header: opening fails cleanly. */
    sabre_object_t obj;
    CHECK_OK(sabre_region_find(r, "snapA", NULL, &obj));
    uint64_t *hdr = obj.ptr;
    hdr[13] = obj.size * 4; /* total_size beyond the object */
    CHECK_ERR(sabre_snapshot_open(r, "snapA", &opened), SABRE_ECORRUPT);
    hdr[0] = 0;
    CHECK_ERR(sabre_snapshot_open(r, "snapA", &opened), SABRE_ECORRUPT);
    sabre_region_close(r);
    sabre_world_destroy(w2);
    CHECK_ERR(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1}, NULL, &s),
              SABRE_EINVAL);
    sabre_world_destroy(W);
}

static void test_rebuild_grow(void)
{
    setup();
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &q));
    sabre_snap_comp_t p = {.comp = POS, .write = true};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = &p, .ncomps = 1}, q, &s));
    CHECK_EQ(sabre_snapshot_rows(s), 0);
    sabre_entity_t es[500];
    for (int i = 0; i < 500; i++)
        CHECK_OK(sabre_entity_create_with(W, &POS, (const void *const[]){&(vec2){(float)i, 0}}, 1,
                                          &es[i]));
    CHECK_OK(sabre_snapshot_rebuild(W, s, q));
    CHECK_EQ(sabre_snapshot_rows(s), 500);
    float *px;
    CHECK_OK(sabre_snapshot_column(s, POS, "x", (void **)&px));
    const sabre_entity_t *eids;
    CHECK_OK(sabre_snapshot_entities(s, &eids));
    for (int i = 0; i < 500; i++) {
        vec2 v;
        CHECK_OK(sabre_get(W, eids[i], POS, &v));
        CHECK(px[i] == v.x);
        px[i] = -v.x;
    }
    _Atomic uint64_t *bits;
    CHECK_OK(sabre_snapshot_changed(s, POS, &bits));
    /* Plain whole-word marking: rows 0..127 (two words), LSB first. */
    bits[0] = ~0ull;
    bits[1] = ~0ull;
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, s, &st));
    CHECK_EQ(st.rows_written, 128);
    vec2 v;
    CHECK_OK(sabre_get(W, eids[127], POS, &v));
    CHECK(v.x == px[127]);
    CHECK_OK(sabre_get(W, eids[128], POS, &v));
    CHECK(v.x == -px[128]);
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

/* Random corruption of a snapshot object's metadata: opening either fails
 * with SABRE_ECORRUPT/EVERSION or yields a handle whose every column, bitset
 * and id array lies inside the object (read in full here). */
static void test_corrupt_open(void)
{
    setup();
    for (int i = 0; i < 10; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(W, cs, NULL, 2, &e));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &POS, .nall = 1}, &q));
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &r));
    sabre_snap_comp_t sc[2] = {{.comp = POS, .write = true}, {.comp = VEL}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2, .region = r, .name = "orig"}, q, &s));
    sabre_object_t orig, victim;
    CHECK_OK(sabre_region_find(r, "orig", NULL, &orig));
    CHECK_OK(sabre_region_alloc(
        r, &(sabre_object_desc_t){.name = "victim", .kind = SABRE_OBJ_SNAPSHOT, .size = orig.size},
        &victim));
    uint64_t meta =
        ((uint64_t *)orig.ptr)[11] + ((uint64_t *)orig.ptr)[12]; /* names_off + names_len */
    uint64_t rng = 12345;
    unsigned long iters = check_scale(20000), opened = 0;
    for (unsigned long it = 0; it < iters; it++) {
        memcpy(victim.ptr, orig.ptr, orig.size);
        int flips = 1 + (int)(it % 4);
        for (int f = 0; f < flips; f++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t at = (rng >> 33) % meta;
            ((uint8_t *)victim.ptr)[at] ^= (uint8_t)(1u << ((rng >> 20) & 7));
        }
        sabre_snapshot_t *o = NULL;
        int rc = sabre_snapshot_open(r, "victim", &o);
        if (rc) {
            CHECK(rc == SABRE_ECORRUPT || rc == SABRE_EVERSION);
            continue;
        }
        opened++;
        volatile uint64_t sum = 0;
        uint64_t rows = sabre_snapshot_rows(o);
        const sabre_entity_t *ids;
        CHECK_OK(sabre_snapshot_entities(o, &ids));
        for (uint64_t i = 0; i < rows; i++)
            sum += ids[i];
        for (uint32_t k = 0; k < sabre_snapshot_ncomps(o); k++) {
            sabre_component_t c = sabre_snapshot_comp(o, k);
            void *col;
            sabre_scalar_t ty;
            for (uint32_t j = 0; sabre_snapshot_column_at(o, c, j, &col, &ty) == SABRE_OK; j++)
                for (uint64_t b = 0; b < rows * sabre_scalar_size(ty); b++)
                    sum += ((uint8_t *)col)[b];
            _Atomic uint64_t *bits;
            if (sabre_snapshot_changed(o, c, &bits) == SABRE_OK)
                for (uint64_t x = 0; x < (rows + 63) / 64; x++)
                    sum += bits[x];
        }
        (void)sum;
        sabre_snapshot_free(o);
    }
    CHECK(opened > 0 && opened < iters);
    sabre_snapshot_free(s);
    sabre_region_close(r);
    sabre_world_destroy(W);
}

int main(void)
{
    note_test(SABRE_SNAP_SHARED);
    note_test(SABRE_SNAP_TRANSFER);
    test_worker_transfer();
    test_subsets_readonly_recycled();
    test_native_view();
    test_bad_input();
    test_rebuild_grow();
    test_corrupt_open();
    return check_done();
}
