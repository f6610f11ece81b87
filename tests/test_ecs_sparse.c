// SABRE_TEST_LABELS: unit stress
/*
 * test_ecs_sparse.c - sparse component storage (docs/ecs.md, "Sparse
 * components").
 *  1. Model-based: random create (with table and sparse components and
 *     values), destroy, add/remove of a sparse tag, of a sparse value
 *     component and of a table tag (which moves rows), sets, marks, prefab
 *     spawns and ticks, against a plain per-entity reference.  After every
 *     step a few entities are checked (has, get, is_changed) and every 16
 *     steps everything: queries with sparse all/none/any/changed terms
 *     (which rows, sabre_iter_field values, iterator marks), the sparse set
 *     accessors, and that adding a sparse component never moves the row.
 *  2. Errors: bad storage value, sabre_sparse_info on a table component.
 *  3. Bulk create (sabre_entity_create_many) with table, sparse and tag
 *     components across several chunks: values, defaults, changed bits,
 *     hooks after the values are in place, errors that create nothing.
 * Snapshots and the scheduler with sparse components: test_sched_sparse.c.
 * 4,000 model steps at SABRE_TEST_SCALE=100.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sabre/ecs.h"

typedef struct {
    float x, y;
} pos_t;
typedef struct {
    float v;
    uint32_t w;
} sv_t;

#define MAXE 600

typedef struct {
    sabre_entity_t id;
    bool alive, hasP, hasG, hasS, hasB;
    pos_t p;
    sv_t s;
    bool s_changed; /* S set since begin_tick */
} ref_t;

static sabre_world_t *W;
static sabre_component_t P, G, S, B; /* Pos (table), sparse tag, sparse value, table tag */
static ref_t R[MAXE];
static uint64_t seed = 0x5eed5eedull;
static sabre_prefab_t *PF;

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(check_xorshift(&seed) % n);
}

static int find_free(void)
{
    for (int tries = 0; tries < 8; tries++) {
        int i = (int)rnd(MAXE);
        if (!R[i].alive)
            return i;
    }
    return -1;
}

static int find_alive(void)
{
    for (int tries = 0; tries < 16; tries++) {
        int i = (int)rnd(MAXE);
        if (R[i].alive)
            return i;
    }
    return -1;
}

static void check_one(const ref_t *r)
{
    CHECK(sabre_entity_alive(W, r->id));
    CHECK_EQ(sabre_has(W, r->id, P), r->hasP);
    CHECK_EQ(sabre_has(W, r->id, G), r->hasG);
    CHECK_EQ(sabre_has(W, r->id, S), r->hasS);
    CHECK_EQ(sabre_has(W, r->id, B), r->hasB);
    if (r->hasP) {
        pos_t p;
        CHECK_OK(sabre_get(W, r->id, P, &p));
        CHECK(p.x == r->p.x && p.y == r->p.y);
    }
    if (r->hasS) {
        sv_t s;
        CHECK_OK(sabre_get(W, r->id, S, &s));
        CHECK(s.v == r->s.v && s.w == r->s.w);
        CHECK_EQ(sabre_is_changed(W, r->id, S), r->s_changed);
        float *f;
        CHECK_OK(sabre_field_ptr(W, r->id, S, 0, (void **)&f));
        CHECK(*f == r->s.v);
    } else {
        sv_t s;
        CHECK_ERR(sabre_get(W, r->id, S, &s), SABRE_ENOENT);
        CHECK(!sabre_is_changed(W, r->id, S));
    }
}

static ref_t *ref_of(sabre_entity_t e)
{
    for (int i = 0; i < MAXE; i++)
        if (R[i].alive && R[i].id == e)
            return &R[i];
    return NULL;
}

/* Run a query and compare the rows it yields with the reference predicate. */
typedef bool (*pred_fn)(const ref_t *r);

static void check_query(const sabre_query_desc_t *d, pred_fn pred, int s_term)
{
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W, d, &q));
    static bool seen[MAXE];
    memset(seen, 0, sizeof seen);
    uint64_t rows = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        for (uint32_t i = 0; i < it.count; i++) {
            ref_t *r = ref_of(it.entities[i]);
            CHECK(r != NULL);
            CHECK(pred(r));
            int k = (int)(r - R);
            CHECK(!seen[k]);
            seen[k] = true;
            if (s_term >= 0) {
                float *v = sabre_iter_field(&it, (uint32_t)s_term, 0, i);
                uint32_t *w = sabre_iter_field(&it, (uint32_t)s_term, 1, i);
                if (r->hasS) {
                    CHECK(v && w && *v == r->s.v && *w == r->s.w);
                    CHECK_EQ(sabre_iter_is_changed(&it, (uint32_t)s_term, i), r->s_changed);
                } else {
                    CHECK(v == NULL);
                }
                CHECK(sabre_iter_column(&it, (uint32_t)s_term, 0) == NULL);
                CHECK(sabre_iter_changed(&it, (uint32_t)s_term) == NULL);
            }
        }
        rows += it.count;
    }
    uint64_t want = 0;
    for (int i = 0; i < MAXE; i++)
        if (R[i].alive && pred(&R[i])) {
            want++;
            CHECK(seen[i]);
        }
    CHECK_EQ(rows, want);
    CHECK_EQ(sabre_query_count(q), want);
    sabre_query_destroy(q);
}

static bool p_PG(const ref_t *r)
{
    return r->hasP && r->hasG;
}
static bool p_S_notG(const ref_t *r)
{
    return r->hasS && !r->hasG;
}
static bool p_any_SB(const ref_t *r)
{
    return r->hasS || r->hasB;
}
static bool p_chgS(const ref_t *r)
{
    return r->hasS && r->s_changed;
}
static bool p_P_notS(const ref_t *r)
{
    return r->hasP && !r->hasS;
}

static void check_all(void)
{
    for (int i = 0; i < MAXE; i++)
        if (R[i].alive)
            check_one(&R[i]);
    check_query(&(sabre_query_desc_t){.all = (sabre_component_t[]){P, G}, .nall = 2}, p_PG, -1);
    check_query(&(sabre_query_desc_t){.all = &S, .nall = 1, .none = &G, .nnone = 1}, p_S_notG, 0);
    check_query(&(sabre_query_desc_t){.any = (sabre_component_t[]){S, B}, .nany = 2}, p_any_SB, 0);
    check_query(&(sabre_query_desc_t){.all = &S, .nall = 1, .changed = &S, .nchanged = 1}, p_chgS,
                0);
    check_query(&(sabre_query_desc_t){.all = &P, .nall = 1, .none = &S, .nnone = 1}, p_P_notS, -1);
    /* The sparse set accessors. */
    sabre_sparse_info_t info;
    CHECK_OK(sabre_sparse_info(W, S, &info));
    uint32_t want = 0;
    for (int i = 0; i < MAXE; i++)
        want += R[i].alive && R[i].hasS;
    CHECK_EQ(info.count, want);
    float *vcol = sabre_sparse_column(W, S, 0);
    uint32_t *wcol = sabre_sparse_column(W, S, 1);
    _Atomic uint64_t *bits = sabre_sparse_changed(W, S);
    for (uint32_t k = 0; k < info.count; k++) {
        ref_t *r = ref_of(info.entities[k]);
        CHECK(r && r->hasS && vcol[k] == r->s.v && wcol[k] == r->s.w);
        CHECK_EQ(sabre_bits_test(bits, k), r->s_changed);
    }
    CHECK_OK(sabre_sparse_info(W, G, &info));
    want = 0;
    for (int i = 0; i < MAXE; i++)
        want += R[i].alive && R[i].hasG;
    CHECK_EQ(info.count, want);
}

static void rand_s(sv_t *s)
{
    s->v = (float)rnd(100000) / 8.0f;
    s->w = rnd(1u << 30);
}

static void step(void)
{
    uint32_t op = rnd(100);
    int i;
    if (op < 14) { /* create with a random subset */
        if ((i = find_free()) < 0)
            return;
        ref_t *r = &R[i];
        memset(r, 0, sizeof *r);
        sabre_component_t cs[4];
        const void *vals[4];
        uint32_t n = 0;
        r->p = (pos_t){(float)rnd(1000), (float)rnd(1000)};
        rand_s(&r->s);
        if (rnd(4)) {
            cs[n] = P;
            vals[n++] = &r->p;
            r->hasP = true;
        }
        if (rnd(2)) {
            cs[n] = S;
            vals[n++] = &r->s;
            r->hasS = r->s_changed = true;
        }
        if (rnd(2)) {
            cs[n] = G;
            vals[n++] = NULL;
            r->hasG = true;
        }
        if (rnd(3) == 0) {
            cs[n] = B;
            vals[n++] = NULL;
            r->hasB = true;
        }
        /* shuffle the order: sparse and table components mixed */
        for (uint32_t k = n; k > 1; k--) {
            uint32_t j = rnd(k);
            sabre_component_t tc = cs[k - 1];
            cs[k - 1] = cs[j];
            cs[j] = tc;
            const void *tv = vals[k - 1];
            vals[k - 1] = vals[j];
            vals[j] = tv;
        }
        CHECK_OK(sabre_entity_create_with(W, cs, vals, n, &r->id));
        if (!r->hasP)
            r->p = (pos_t){0, 0};
        if (!r->hasS)
            r->s = (sv_t){0, 0};
        r->alive = true;
    } else if (op < 20) {
        if ((i = find_alive()) < 0)
            return;
        CHECK_OK(sabre_entity_destroy(W, R[i].id));
        CHECK(!sabre_entity_alive(W, R[i].id));
        CHECK_ERR(sabre_add(W, R[i].id, G, NULL), SABRE_ESTALE);
        R[i].alive = false;
    } else if (op < 40) { /* toggle the sparse tag: the row never moves */
        if ((i = find_alive()) < 0)
            return;
        sabre_entity_loc_t a, b;
        CHECK_OK(sabre_entity_loc(W, R[i].id, &a));
        if (R[i].hasG)
            CHECK_OK(sabre_remove(W, R[i].id, G));
        else
            CHECK_OK(sabre_add(W, R[i].id, G, NULL));
        R[i].hasG = !R[i].hasG;
        CHECK_OK(sabre_entity_loc(W, R[i].id, &b));
        CHECK(a.table == b.table && a.chunk == b.chunk && a.row == b.row);
    } else if (op < 58) { /* toggle the sparse value */
        if ((i = find_alive()) < 0)
            return;
        if (R[i].hasS) {
            CHECK_OK(sabre_remove(W, R[i].id, S));
            R[i].hasS = R[i].s_changed = false;
            R[i].s = (sv_t){0, 0};
        } else {
            rand_s(&R[i].s);
            CHECK_OK(sabre_add(W, R[i].id, S, &R[i].s));
            R[i].hasS = R[i].s_changed = true;
        }
    } else if (op < 66) { /* toggle the table tag: the row moves, sparse values stay */
        if ((i = find_alive()) < 0)
            return;
        if (R[i].hasB)
            CHECK_OK(sabre_remove(W, R[i].id, B));
        else
            CHECK_OK(sabre_add(W, R[i].id, B, NULL));
        R[i].hasB = !R[i].hasB;
    } else if (op < 80) { /* set or add-over (set) S, or mark it */
        if ((i = find_alive()) < 0 || !R[i].hasS)
            return;
        if (rnd(3) == 0) {
            CHECK_OK(sabre_mark_changed(W, R[i].id, S));
        } else {
            rand_s(&R[i].s);
            if (rnd(2))
                CHECK_OK(sabre_set(W, R[i].id, S, &R[i].s));
            else
                CHECK_OK(sabre_add(W, R[i].id, S, &R[i].s));
        }
        R[i].s_changed = true;
    } else if (op < 86) { /* set P */
        if ((i = find_alive()) < 0 || !R[i].hasP)
            return;
        R[i].p.x += 1;
        CHECK_OK(sabre_set(W, R[i].id, P, &R[i].p));
    } else if (op < 90) { /* mark S through a query iterator */
        sabre_query_t *q;
        CHECK_OK(sabre_query_create(W, &(sabre_query_desc_t){.all = &S, .nall = 1}, &q));
        sabre_iter_t it;
        sabre_query_iter(q, &it);
        uint32_t k = rnd(4);
        while (sabre_iter_next(&it)) {
            if (k-- == 0) {
                uint32_t first = rnd(it.count), n = 1 + rnd(it.count - first);
                sabre_iter_mark(&it, 0, first, n);
                for (uint32_t j = first; j < first + n; j++)
                    ref_of(it.entities[j])->s_changed = true;
                break;
            }
        }
        sabre_query_destroy(q);
    } else if (op < 93) { /* prefab spawn: table P, sparse S and G */
        if ((i = find_free()) < 0)
            return;
        ref_t *r = &R[i];
        memset(r, 0, sizeof *r);
        sv_t sv;
        rand_s(&sv);
        CHECK_OK(sabre_prefab_spawn(W, PF, 1, &(sabre_prefab_override_t){.comp = S, .value = &sv},
                                    1, &r->id));
        r->alive = r->hasP = r->hasS = r->hasG = r->s_changed = true;
        r->p = (pos_t){7, 8};
        r->s = sv;
    } else { /* tick */
        if (sabre_world_in_tick(W))
            CHECK_OK(sabre_world_end_tick(W));
        CHECK_OK(sabre_world_begin_tick(W));
        for (int k = 0; k < MAXE; k++)
            R[k].s_changed = false;
    }
}

static void model_test(void)
{
    CHECK_OK(sabre_world_create(NULL, &W));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &P));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Glow", .storage = SABRE_STORAGE_SPARSE}, &G));
    CHECK_OK(sabre_component_define(W,
                                    &(sabre_component_desc_t){
                                        .name = "Sv",
                                        .schema = "struct Sv { v: f32; w: u32; }",
                                        .storage = SABRE_STORAGE_SPARSE,
                                    },
                                    &S));
    CHECK_OK(sabre_component_define(W, &(sabre_component_desc_t){.name = "Boxed"}, &B));
    CHECK_EQ(sabre_component_storage(W, S), SABRE_STORAGE_SPARSE);
    CHECK_EQ(sabre_component_storage(W, G), SABRE_STORAGE_SPARSE);
    CHECK_EQ(sabre_component_storage(W, P), SABRE_STORAGE_TABLE);
    sabre_prefab_step_t steps[3] = {{.comp = P, .value = &(pos_t){7, 8}}, {.comp = S}, {.comp = G}};
    CHECK_OK(sabre_prefab_create(W, "pf", steps, 3, &PF));
    /* listed twice: refused before anything is created */
    sabre_entity_t e;
    CHECK_ERR(sabre_entity_create_with(W, (sabre_component_t[]){S, P, S}, NULL, 3, &e),
              SABRE_EINVAL);
    CHECK_EQ(sabre_world_count(W), 0);

    uint32_t steps_n = (uint32_t)check_scale(4000);
    for (uint32_t k = 0; k < steps_n; k++) {
        step();
        for (int j = 0; j < 3; j++) {
            int i = find_alive();
            if (i >= 0)
                check_one(&R[i]);
        }
        if (k % 16 == 15)
            check_all();
    }
    check_all();
    sabre_world_destroy(W);
    memset(R, 0, sizeof R);
}

static void error_test(void)
{
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_component_t c, t;
    CHECK_ERR(sabre_component_define(
                  w, &(sabre_component_desc_t){.name = "X", .storage = (sabre_storage_t)7}, &c),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "storage");
    CHECK_OK(sabre_component_define(w, &(sabre_component_desc_t){.name = "T"}, &t));
    sabre_sparse_info_t info;
    CHECK_ERR(sabre_sparse_info(w, t, &info), SABRE_EINVAL);
    CHECK_ERR(sabre_sparse_info(w, 99, &info), SABRE_ENOENT);
    CHECK(sabre_sparse_column(w, t, 0) == NULL);
    CHECK(sabre_sparse_changed(w, t) == NULL);
    sabre_world_destroy(w);
}

/* ----------------------------------------------------------- bulk create */

static uint32_t hook_calls;
static void count_hook(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, const void *v,
                       void *ctx)
{
    (void)w, (void)e, (void)c, (void)ctx;
    const sv_t *s = v;
    CHECK(s->w == s->v * 2); /* the value is in place when the hook runs */
    hook_calls++;
}

static void bulk_test(void)
{
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(NULL, &w));
    sabre_component_t p, s, g, b;
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){.name = "Pos",
                                                              .schema = "struct Pos { x: f32; "
                                                                        "y: f32; }",
                                                              .defaults = &(pos_t){-1, -2}},
                                    &p));
    CHECK_OK(sabre_component_define(w,
                                    &(sabre_component_desc_t){
                                        .name = "Sv",
                                        .schema = "struct Sv { v: f32; w: u32; }",
                                        .storage = SABRE_STORAGE_SPARSE,
                                        .on_add = count_hook,
                                    },
                                    &s));
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "G", .storage = SABRE_STORAGE_SPARSE}, &g));
    CHECK_OK(sabre_component_define(w, &(sabre_component_desc_t){.name = "B"}, &b));
    enum { N = 3000 }; /* several chunks (1024, 2048, ...) */
    static pos_t pv[N];
    static sv_t sv[N];
    static sabre_entity_t ids[N], more[N];
    for (uint32_t i = 0; i < N; i++) {
        pv[i] = (pos_t){(float)i, (float)(N - i)};
        sv[i] = (sv_t){(float)i, 2 * i};
    }
    /* one entity first, so the bulk rows start in the middle of a chunk */
    CHECK_OK(sabre_entity_create_with(w, (sabre_component_t[]){b, p}, NULL, 2, &more[0]));
    CHECK_OK(sabre_world_begin_tick(w));
    CHECK_OK(sabre_entity_create_many(w, (sabre_component_t[]){s, b, p, g},
                                      (const void *const[]){sv, NULL, pv, NULL}, 4, N, ids));
    CHECK_EQ(hook_calls, N);
    CHECK_EQ(sabre_world_count(w), N + 1);
    for (uint32_t i = 0; i < N; i++) {
        pos_t gp;
        sv_t gs;
        CHECK_OK(sabre_get(w, ids[i], p, &gp));
        CHECK_OK(sabre_get(w, ids[i], s, &gs));
        CHECK(gp.x == pv[i].x && gp.y == pv[i].y && gs.v == sv[i].v && gs.w == sv[i].w);
        CHECK(sabre_has(w, ids[i], g) && sabre_has(w, ids[i], b));
        CHECK(sabre_is_changed(w, ids[i], p) && sabre_is_changed(w, ids[i], s));
        CHECK(sabre_is_changed(w, ids[i], b));
    }
    CHECK(!sabre_is_changed(w, more[0], p));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.all = (sabre_component_t[]){p, b}, .nall = 2}, &q));
    CHECK_EQ(sabre_query_count(q), N + 1);
    /* defaults, no values array at all */
    CHECK_OK(sabre_entity_create_many(w, &p, NULL, 1, N, more));
    for (uint32_t i = 0; i < N; i += 97) {
        pos_t gp;
        CHECK_OK(sabre_get(w, more[i], p, &gp));
        CHECK(gp.x == -1 && gp.y == -2);
    }
    /* errors create nothing */
    uint64_t before = sabre_world_count(w);
    CHECK_ERR(sabre_entity_create_many(w, (sabre_component_t[]){p, s, p}, NULL, 3, 5, more),
              SABRE_EINVAL);
    CHECK_ERR(sabre_entity_create_many(w, (sabre_component_t[]){s, s}, NULL, 2, 5, more),
              SABRE_EINVAL);
    CHECK_ERR(sabre_entity_create_many(w, (sabre_component_t[]){99}, NULL, 1, 5, more),
              SABRE_ENOENT);
    CHECK_ERR(sabre_entity_create_many(w, &p, NULL, 1, 5, NULL), SABRE_EINVAL);
    CHECK_EQ(sabre_world_count(w), before);
    CHECK_OK(sabre_world_end_tick(w));
    sabre_world_destroy(w);
}

int main(void)
{
    bulk_test();
    model_test();
    error_test();
    return check_done();
}
