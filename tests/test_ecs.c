// SABRE_TEST_LABELS: unit
/*
 * test_ecs.c - the world: entities, components, tables and chunks, queries,
 * ticks and changed bits, hooks, command buffers, prefabs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "sabre/ecs.h"

typedef struct {
    float x, y;
} vec2;

static const char *POS_SCHEMA = "struct Pos { x: f32; y: f32; }";
static const char *VEL_SCHEMA = "struct Vel { x: f32; y: f32; }";

static sabre_world_t *make_world(sabre_component_t *pos, sabre_component_t *vel)
{
    sabre_world_t *w = NULL;
    sabre_world_desc_t wd = {.chunk_rows = 64, .max_chunk_rows = 256, .region_size = 256u << 20};
    CHECK_OK(sabre_world_create(&wd, &w));
    vec2 defpos = {1.5f, -2.0f};
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = POS_SCHEMA, .defaults = &defpos},
        pos));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = VEL_SCHEMA}, vel));
    return w;
}

static void test_entities(void)
{
    sabre_component_t P, V;
    sabre_world_t *w = make_world(&P, &V);
    sabre_entity_t a, b;
    CHECK_OK(sabre_entity_create(w, &a));
    CHECK(sabre_entity_alive(w, a));
    CHECK_EQ(SABRE_ENTITY_GEN(a), 1);
    CHECK_OK(sabre_entity_destroy(w, a));
    CHECK(!sabre_entity_alive(w, a));
    CHECK_ERR(sabre_entity_destroy(w, a), SABRE_ESTALE);
    CHECK_STR_CONTAINS(sabre_last_error(), "stale");
    CHECK_OK(sabre_entity_create(w, &b));
    CHECK_EQ(SABRE_ENTITY_INDEX(b), SABRE_ENTITY_INDEX(a)); /* slot reused */
    CHECK_EQ(SABRE_ENTITY_GEN(b), 2);
    CHECK(!sabre_entity_alive(w, a));
    vec2 v;
    CHECK_ERR(sabre_get(w, a, P, &v), SABRE_ESTALE);
    CHECK_ERR(sabre_add(w, a, P, NULL), SABRE_ESTALE);
    CHECK_ERR(sabre_set(w, SABRE_ENTITY_NULL, P, &v), SABRE_ESTALE);
    CHECK_ERR(sabre_get(w, b, P, &v), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "no component 'Pos'");
    CHECK_ERR(sabre_get(w, b, 999, &v), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "unknown component id 999");
    CHECK(!sabre_entity_alive(w, (sabre_entity_t)77 << 32 | 12345));

    /* Defaults, add, get, set, remove. */
    CHECK_OK(sabre_add(w, b, P, NULL));
    CHECK_OK(sabre_get(w, b, P, &v));
    CHECK(v.x == 1.5f && v.y == -2.0f);
    vec2 nv = {3, 4};
    CHECK_OK(sabre_set(w, b, P, &nv));
    CHECK_OK(sabre_add(w, b, V, &(vec2){7, 8}));
    CHECK_OK(sabre_get(w, b, P, &v));
    CHECK(v.x == 3 && v.y == 4); /* survived the move */
    CHECK_OK(sabre_get(w, b, V, &v));
    CHECK(v.x == 7 && v.y == 8);
    CHECK(sabre_has(w, b, P) && sabre_has(w, b, V));
    CHECK_OK(sabre_remove(w, b, P));
    CHECK(!sabre_has(w, b, P));
    CHECK_OK(sabre_remove(w, b, P)); /* absent: ok */
    CHECK_OK(sabre_get(w, b, V, &v));
    CHECK(v.x == 7 && v.y == 8);
    float *px;
    CHECK_OK(sabre_add(w, b, P, &(vec2){9, 10}));
    CHECK_OK(sabre_field_ptr(w, b, P, 1, (void **)&px));
    CHECK(*px == 10);
    CHECK_ERR(sabre_field_ptr(w, b, P, 2, (void **)&px), SABRE_ERANGE);

    /* Duplicates and bad definitions. */
    sabre_component_t x;
    CHECK_ERR(sabre_component_define(
                  w, &(sabre_component_desc_t){.name = "Pos", .schema = POS_SCHEMA}, &x),
              SABRE_EEXIST);
    CHECK_ERR(sabre_component_define(
                  w, &(sabre_component_desc_t){.name = "Bad", .schema = "struct { x f32 }"}, &x),
              SABRE_ESCHEMA);
    CHECK_ERR(
        sabre_component_define(
            w,
            &(sabre_component_desc_t){.name = "Bad", .schema = POS_SCHEMA, .struct_name = "Nope"},
            &x),
        SABRE_ENOENT);
    CHECK_OK(sabre_component_find(w, "Vel", NULL, &x));
    CHECK_EQ(x, V);
    CHECK_ERR(sabre_component_find(w, "Nope", NULL, &x), SABRE_ENOENT);
    /* Wrong layout: a Vel with other fields. */
    sabre_schema_t *sch;
    CHECK_OK(sabre_schema_compile("struct Vel { x: f64; y: f64; }", 30, &sch, NULL));
    CHECK_ERR(sabre_component_find(w, "Vel", sabre_schema_root(sch), &x), SABRE_ELAYOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), "f64");
    sabre_schema_free(sch);
    sabre_world_destroy(w);
}

static void test_many(void)
{
    /* More than 65,536 entities and more than 1,024 component types. */
    sabre_world_t *w = NULL;
    CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.region_size = 512u << 20}, &w));
    sabre_component_t tags[1100];
    char name[32];
    for (int i = 0; i < 1100; i++) {
        snprintf(name, sizeof name, "T%d", i);
        CHECK_OK(sabre_component_define(
            w,
            &(sabre_component_desc_t){.name = name,
                                      .schema = i % 2 ? "struct A { v: u32; }" : NULL},
            &tags[i]));
    }
    CHECK_EQ(tags[1099], 1099);
    uint32_t n = (uint32_t)check_scale(100000);
    if (n < 70000)
        n = 70000;
    sabre_entity_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        sabre_component_t cs[2] = {tags[1099], tags[i % 7]};
        uint32_t val = i;
        const void *vals[2] = {&val, NULL};
        CHECK_OK(sabre_entity_create_with(w, cs, vals, 2, &last));
    }
    CHECK_EQ(sabre_world_count(w), n);
    CHECK_EQ(SABRE_ENTITY_INDEX(last), n - 1);
    uint32_t got;
    CHECK_OK(sabre_get(w, last, tags[1099], &got));
    CHECK_EQ(got, n - 1);
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &tags[1099], .nall = 1}, &q));
    CHECK_EQ(sabre_query_count(q), n);
    uint64_t sum = 0, rows = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        uint32_t *v = sabre_iter_column(&it, 0, 0);
        CHECK(v != NULL);
        for (uint32_t i = 0; i < it.count; i++)
            sum += v[i];
        rows += it.count;
    }
    CHECK_EQ(rows, n);
    CHECK_EQ(sum, (uint64_t)n * (n - 1) / 2);
    sabre_world_destroy(w);
}

static int hook_adds, hook_removes;
static float hook_last_x;
static void on_add(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, const void *v,
                   void *ctx)
{
    (void)w;
    (void)e;
    (void)c;
    (void)ctx;
    hook_adds++;
    hook_last_x = ((const vec2 *)v)->x;
}
static void on_remove(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, const void *v,
                      void *ctx)
{
    (void)w;
    (void)e;
    (void)c;
    hook_removes++;
    hook_last_x = ((const vec2 *)v)->x;
    *(int *)ctx += 1;
}

static void test_hooks_tables(void)
{
    sabre_world_t *w = NULL;
    CHECK_OK(sabre_world_create(NULL, &w));
    int ctx = 0;
    sabre_component_t H, T;
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){.name = "H",
                                                              .schema = POS_SCHEMA,
                                                              .on_add = on_add,
                                                              .on_remove = on_remove,
                                                              .hook_ctx = &ctx},
                                    &H));
    CHECK_OK(sabre_component_define(w, &(sabre_component_desc_t){.name = "Tag"}, &T));
    CHECK_EQ(sabre_component_size(w, T), 0);
    sabre_entity_t e;
    CHECK_OK(sabre_entity_create(w, &e));
    CHECK_OK(sabre_add(w, e, H, &(vec2){5, 6}));
    CHECK_EQ(hook_adds, 1);
    CHECK(hook_last_x == 5);
    CHECK_OK(sabre_add(w, e, H, &(vec2){8, 6})); /* already there: set, no hook */
    CHECK_EQ(hook_adds, 1);
    CHECK_OK(sabre_add(w, e, T, NULL));
    CHECK(sabre_has(w, e, T));
    CHECK_OK(sabre_remove(w, e, H));
    CHECK_EQ(hook_removes, 1);
    CHECK(hook_last_x == 8);
    CHECK_OK(sabre_add(w, e, H, &(vec2){11, 0}));
    CHECK_OK(sabre_entity_destroy(w, e));
    CHECK_EQ(hook_removes, 2);
    CHECK(hook_last_x == 11);
    CHECK_EQ(ctx, 2);

    /* Chunks: stable addresses while a table grows. */
    sabre_entity_t first;
    CHECK_OK(sabre_entity_create_with(w, &H, NULL, 1, &first));
    float *p0;
    CHECK_OK(sabre_field_ptr(w, first, H, 0, (void **)&p0));
    for (int i = 0; i < 5000; i++) {
        sabre_entity_t x;
        CHECK_OK(sabre_entity_create_with(w, &H, NULL, 1, &x));
    }
    float *p1;
    CHECK_OK(sabre_field_ptr(w, first, H, 0, (void **)&p1));
    CHECK(p0 == p1);
    sabre_entity_loc_t loc;
    CHECK_OK(sabre_entity_loc(w, first, &loc));
    sabre_table_info_t ti;
    CHECK_OK(sabre_table_info(w, loc.table, &ti));
    CHECK_EQ(ti.rows, 5001);
    CHECK(ti.nchunks >= 2);
    sabre_chunk_info_t ci;
    CHECK_OK(sabre_table_chunk(w, loc.table, 0, &ci));
    CHECK_EQ(ci.object.kind, SABRE_OBJ_TABLE);
    CHECK_EQ(ci.object.offset % 64, 0);
    CHECK(((uintptr_t)sabre_table_column(w, loc.table, 0, H, 1) & 63) == 0);
    CHECK_ERR(sabre_table_info(w, 9999, &ti), SABRE_ENOENT);
    sabre_world_destroy(w);
}

static void test_queries_ticks(void)
{
    sabre_component_t P, V;
    sabre_world_t *w = make_world(&P, &V);
    sabre_component_t T;
    CHECK_OK(sabre_component_define(w, &(sabre_component_desc_t){.name = "Frozen"}, &T));
    enum { N = 1000 };
    sabre_entity_t es[N];
    for (int i = 0; i < N; i++) {
        sabre_component_t cs[3] = {P, V, T};
        vec2 p = {(float)i, 0}, v = {1, 2};
        const void *vals[3] = {&p, &v, NULL};
        uint32_t n = i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 3;
        CHECK_OK(sabre_entity_create_with(w, cs, vals, n, &es[i]));
    }
    sabre_query_t *qall, *qany, *qnone, *qch;
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.all = (sabre_component_t[]){P, V}, .nall = 2}, &qall));
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.any = (sabre_component_t[]){V, T}, .nany = 2}, &qany));
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.all = &P, .nall = 1, .none = &T, .nnone = 1}, &qnone));
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.all = &P, .nall = 1, .changed = &P, .nchanged = 1}, &qch));
    CHECK_EQ(sabre_query_count(qall), 666);
    CHECK_EQ(sabre_query_count(qany), 666);
    CHECK_EQ(sabre_query_count(qnone), 667);
    CHECK_EQ(sabre_query_count(qch), N); /* arrival marks changed */
    sabre_query_t *bad;
    CHECK_ERR(sabre_query_create(
                  w, &(sabre_query_desc_t){.all = (sabre_component_t[]){77}, .nall = 1}, &bad),
              SABRE_ENOENT);

    /* Ticks: begin clears; set marks; changed query yields only those rows. */
    CHECK_OK(sabre_world_begin_tick(w));
    CHECK_ERR(sabre_world_begin_tick(w), SABRE_ESTATE);
    CHECK_EQ(sabre_query_count(qch), 0);
    for (int i = 0; i < N; i += 7)
        CHECK_OK(sabre_set(w, es[i], P, &(vec2){-1, -1}));
    CHECK_EQ(sabre_query_count(qch), (N + 6) / 7);
    CHECK(sabre_is_changed(w, es[7], P));
    CHECK(!sabre_is_changed(w, es[8], P));
    sabre_iter_t it;
    sabre_query_iter(qch, &it);
    int seen = 0;
    while (sabre_iter_next(&it)) {
        float *x = sabre_iter_column(&it, 0, 0);
        for (uint32_t i = 0; i < it.count; i++) {
            CHECK(x[i] == -1);
            CHECK(sabre_iter_is_changed(&it, 0, i));
            seen++;
        }
    }
    CHECK_EQ(seen, (N + 6) / 7);
    /* Per-table iteration with contiguous columns: pos += vel. */
    sabre_query_iter(qall, &it);
    while (sabre_iter_next(&it)) {
        float *px = sabre_iter_column(&it, 0, 0), *vx = sabre_iter_column(&it, 1, 0);
        CHECK(sabre_iter_column(&it, 1, 2) == NULL);
        CHECK(sabre_iter_column(&it, 2, 0) == NULL);
        for (uint32_t i = 0; i < it.count; i++)
            px[i] += vx[i];
        sabre_iter_mark(&it, 0, 0, it.count);
    }
    CHECK_EQ(sabre_query_count(qch), 666 + 143 - 95); /* union of both marks */
    vec2 v;
    CHECK_OK(sabre_get(w, es[1], P, &v));
    CHECK(v.x == 2);
    /* Command buffer: deferred until end_tick. */
    sabre_cmd_t *cmd = sabre_world_cmd(w);
    sabre_entity_t pe;
    CHECK_OK(sabre_cmd_create(cmd, &pe));
    CHECK(pe & SABRE_ENTITY_PENDING_BIT);
    CHECK(!sabre_entity_alive(w, pe));
    CHECK_OK(sabre_cmd_add(cmd, pe, P, &(vec2){42, 43}));
    CHECK_OK(sabre_cmd_destroy(cmd, es[0]));
    CHECK_OK(sabre_cmd_remove(cmd, es[1], V));
    CHECK_OK(sabre_cmd_set(cmd, es[2], V, &(vec2){9, 9}));
    CHECK_EQ(sabre_cmd_count(cmd), 5);
    CHECK(sabre_entity_alive(w, es[0]));
    CHECK_OK(sabre_world_end_tick(w));
    CHECK_ERR(sabre_world_end_tick(w), SABRE_ESTATE);
    CHECK(!sabre_entity_alive(w, es[0]));
    CHECK(!sabre_has(w, es[1], V));
    CHECK_OK(sabre_get(w, es[2], V, &v));
    CHECK(v.x == 9);
    sabre_entity_t real = sabre_cmd_resolve(cmd, pe);
    CHECK(sabre_entity_alive(w, real));
    CHECK_OK(sabre_get(w, real, P, &v));
    CHECK(v.x == 42 && v.y == 43);
    /* A failing command is reported, the others still run. */
    CHECK_OK(sabre_world_begin_tick(w));
    CHECK_OK(sabre_cmd_destroy(cmd, es[0]));
    CHECK_OK(sabre_cmd_destroy(cmd, es[3]));
    uint32_t failed = 0;
    CHECK_ERR(sabre_cmd_flush(cmd, &failed), SABRE_ESTALE);
    CHECK_EQ(failed, 1);
    CHECK(!sabre_entity_alive(w, es[3]));
    CHECK_OK(sabre_world_end_tick(w));
    sabre_query_destroy(qany);
    sabre_world_destroy(w);
}

static void gen_pos(uint64_t i, void *out, void *ctx)
{
    (void)ctx;
    ((vec2 *)out)->x = (float)i;
    ((vec2 *)out)->y = (float)(2 * i);
}

static void test_prefabs(void)
{
    sabre_component_t P, V;
    sabre_world_t *w = make_world(&P, &V);
    vec2 vel = {0.5f, 0.25f};
    sabre_prefab_step_t steps[2] = {{.comp = P, .fn = gen_pos}, {.comp = V, .value = &vel}};
    sabre_prefab_t *pf;
    CHECK_OK(sabre_prefab_create(w, "mover", steps, 2, &pf));
    vel.x = 100; /* the blueprint copied the value */
    sabre_entity_t ids[300];
    CHECK_OK(sabre_prefab_spawn(w, pf, 300, NULL, 0, ids));
    vec2 v;
    CHECK_OK(sabre_get(w, ids[299], P, &v));
    CHECK(v.x == 299 && v.y == 598);
    CHECK_OK(sabre_get(w, ids[10], V, &v));
    CHECK(v.x == 0.5f && v.y == 0.25f);
    vec2 ov = {-3, -4};
    sabre_prefab_override_t o = {.comp = V, .value = &ov};
    CHECK_OK(sabre_prefab_spawn(w, pf, 10, &o, 1, ids));
    CHECK_OK(sabre_get(w, ids[9], V, &v));
    CHECK(v.x == -3);
    sabre_component_t T;
    CHECK_OK(sabre_component_define(w, &(sabre_component_desc_t){.name = "T"}, &T));
    o.comp = T;
    CHECK_ERR(sabre_prefab_spawn(w, pf, 1, &o, 1, ids), SABRE_EINVAL);
    sabre_prefab_step_t dup[2] = {{.comp = P}, {.comp = P}};
    sabre_prefab_t *bad;
    CHECK_ERR(sabre_prefab_create(w, "dup", dup, 2, &bad), SABRE_EINVAL);
    CHECK_EQ(sabre_world_count(w), 310);
    sabre_world_destroy(w);
}

/* A caller region that fills up: structural changes fail cleanly with
 * SABRE_ENOSPC and leave the world as it was. */
static void test_region_full(void)
{
    sabre_region_t *r;
    CHECK_OK(
        sabre_region_create(&(sabre_region_desc_t){.size = 256u << 10, .max_objects = 16}, &r));
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(
        &(sabre_world_desc_t){.region = r, .chunk_rows = 1024, .max_chunk_rows = 1024}, &w));
    sabre_component_t P, V;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = POS_SCHEMA}, &P));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = VEL_SCHEMA}, &V));
    sabre_entity_t e = 0;
    int rc = SABRE_OK;
    uint64_t made = 0;
    while (rc == SABRE_OK && made < 1000000) {
        rc = sabre_entity_create_with(w, &P, NULL, 1, &e);
        made += rc == SABRE_OK;
    }
    CHECK_ERR(rc, SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "cannot allocate chunk");
    CHECK_EQ(sabre_world_count(w), made);
    CHECK(made >= 1024);
    /* Moving an entity into a table with no room fails and leaves it be. */
    sabre_entity_t first;
    sabre_entity_loc_t loc;
    sabre_iter_t it;
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &P, .nall = 1}, &q));
    sabre_query_iter(q, &it);
    CHECK(sabre_iter_next(&it));
    first = it.entities[0];
    CHECK_OK(sabre_set(w, first, P, &(vec2){4, 5}));
    rc = sabre_add(w, first, V, NULL);
    if (rc != SABRE_OK) {
        CHECK_ERR(rc, SABRE_ENOSPC);
        CHECK(!sabre_has(w, first, V));
    }
    vec2 v;
    CHECK_OK(sabre_get(w, first, P, &v));
    CHECK(v.x == 4 && v.y == 5);
    CHECK_OK(sabre_entity_loc(w, first, &loc));
    CHECK_OK(sabre_entity_destroy(w, first));
    CHECK_EQ(sabre_world_count(w), made - 1);
    sabre_world_destroy(w);
    sabre_region_close(r);
}

/* sabre_component_digest: equal for the same values on the same entities
 * whatever the tables and rows, different for one flipped bit, a missing
 * entity, -0.0 vs 0.0; tags digest their entity ids. */
static void test_digest(void)
{
    sabre_component_t P[2], V[2], T[2];
    sabre_world_t *w[2] = {make_world(&P[0], &V[0]), make_world(&P[1], &V[1])};
    sabre_entity_t e[2][100];
    for (int k = 0; k < 2; k++) {
        CHECK_OK(sabre_component_define(w[k], &(sabre_component_desc_t){.name = "T"}, &T[k]));
        for (int i = 0; i < 100; i++) {
            vec2 p = {(float)i, (float)-i};
            CHECK_OK(sabre_entity_create(w[k], &e[k][i]));
            CHECK_OK(sabre_add(w[k], e[k][i], P[k], &p));
        }
        /* Vel and the tag on every third entity: in world 1 in reverse
         * order, so Pos sits in other rows of the two tables */
        for (int j = 0; j < 100; j++) {
            int i = k ? 99 - j : j;
            if (i % 3 == 0) {
                CHECK_OK(sabre_add(w[k], e[k][i], V[k], NULL));
                CHECK_OK(sabre_add(w[k], e[k][i], T[k], NULL));
            }
        }
    }
    uint64_t d[2], t[2];
    for (int k = 0; k < 2; k++) {
        CHECK_OK(sabre_component_digest(w[k], P[k], &d[k]));
        CHECK_OK(sabre_component_digest(w[k], T[k], &t[k]));
    }
    CHECK(d[0] == d[1] && d[0] != 0);
    CHECK(t[0] == t[1] && t[0] != d[0]);
    vec2 v, keep;
    CHECK_OK(sabre_get(w[1], e[1][42], P[1], &keep));
    v = keep;
    uint32_t bits;
    memcpy(&bits, &v.y, 4), bits ^= 1, memcpy(&v.y, &bits, 4); /* one bit */
    CHECK_OK(sabre_set(w[1], e[1][42], P[1], &v));
    CHECK_OK(sabre_component_digest(w[1], P[1], &d[1]));
    CHECK(d[1] != d[0]);
    CHECK_OK(sabre_set(w[1], e[1][42], P[1], &keep));
    CHECK_OK(sabre_component_digest(w[1], P[1], &d[1]));
    CHECK(d[1] == d[0]);
    v = (vec2){-0.0f, 0.0f}; /* equal as floats, not as bits */
    CHECK_OK(sabre_set(w[0], e[0][0], P[0], &v));
    CHECK_OK(sabre_component_digest(w[0], P[0], &d[0]));
    CHECK(d[1] != d[0]);
    CHECK_OK(sabre_entity_destroy(w[1], e[1][3]));
    CHECK_OK(sabre_component_digest(w[1], T[1], &t[1]));
    CHECK(t[1] != t[0]);
    CHECK_ERR(sabre_component_digest(w[0], 999, &d[0]), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "unknown component 999");
    CHECK_ERR(sabre_component_digest(w[0], P[0], NULL), SABRE_EINVAL);
    sabre_world_destroy(w[0]);
    sabre_world_destroy(w[1]);
}

int main(void)
{
    test_entities();
    test_many();
    test_hooks_tables();
    test_queries_ticks();
    test_prefabs();
    test_region_full();
    test_digest();
    return check_done();
}
