// SABRE_TEST_LABELS: unit stress
/*
 * test_ecs_model.c - model-based test: random operations (create, destroy,
 * add, remove, set, get, query, tick, command buffer, snapshot, change,
 * commit) applied to a world and to a simple reference model.
 *
 * Checking: after EVERY step the touched entity (or, for query/snapshot
 * steps, the whole result) is compared with the model; every 1000 steps and
 * at the end the whole world is compared (every slot's liveness, every
 * component's presence, value and changed bit, the live count).
 * 100,000 steps at SABRE_TEST_SCALE=100.
 *
 * Snapshot steps: half of them make no structural change while the
 * snapshot is out (commit takes the fast path), the others destroy/move
 * entities (slow path); a third of the snapshots build, rebuild and commit
 * through an executor (ranges of 64..512 rows, run in reverse order), and
 * some rebuild once before the worker changes.  Both commit paths and the
 * executor must be exercised by the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ecs/ecs_internal.h"
#include "sabre/snapshot.h"
#include "snapshot/snapshot_internal.h"

enum { NC = 4, MAXE = 3000, TAG = 3 };

typedef struct {
    float x, y;
} pos_t;
typedef struct {
    int32_t v;
} hp_t;
typedef struct {
    double a;
    uint8_t b;
    uint16_t c;
} big_t; /* a:f64 b:u8 c:u16 -> size 16 */

static const char *SCHEMAS[3] = {
    "struct Pos { x: f32; y: f32; }",
    "struct Hp { v: i32; }",
    "struct Big { a: f64; b: u8; c: u16; }",
};
static const uint32_t SIZES[NC] = {8, 4, 16, 0};

typedef struct ment {
    sabre_entity_t id;
    bool alive;
    bool has[NC];
    bool changed[NC];
    uint8_t val[NC][16];
} ment_t;

static sabre_world_t *W;
static sabre_component_t C[NC];
static ment_t M[MAXE];
static uint32_t NM;              /* model entries used */
static sabre_entity_t DEAD[256]; /* some dead ids to retry */
static uint32_t NDEAD;
static uint64_t RNG = 0x9e3779b97f4a7c15ull;
static bool IN_TICK;
static unsigned long N_FAST, N_SLOW, N_EXEC_CALLS;

/* Serial executor: ranges in reverse order (any order must do). */
static int rev_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn, void *ctx)
{
    (*(unsigned long *)user)++;
    for (size_t k = (n + grain - 1) / grain; k-- > 0;) {
        size_t b = k * grain, e = b + grain < n ? b + grain : n;
        int rc = fn(ctx, b, e, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static uint64_t rnd(void)
{
    RNG ^= RNG << 13;
    RNG ^= RNG >> 7;
    RNG ^= RNG << 17;
    return RNG;
}
static uint32_t rn(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static void random_value(uint32_t c, uint8_t out[16])
{
    memset(out, 0, 16);
    if (c == 0) {
        pos_t p = {(float)(int)rn(1000) / 8.0f, (float)(int)rn(1000) / 4.0f};
        memcpy(out, &p, sizeof p);
    } else if (c == 1) {
        hp_t h = {(int32_t)rn(100000) - 50000};
        memcpy(out, &h, sizeof h);
    } else if (c == 2) {
        big_t b;
        memset(&b, 0, sizeof b);
        b.a = (double)rn(1u << 30) / 3.0;
        b.b = (uint8_t)rn(256);
        b.c = (uint16_t)rn(65536);
        memcpy(out, &b, sizeof b);
    }
}

/* Pick a live model entity, or -1. */
static int pick_alive(void)
{
    if (!NM)
        return -1;
    for (int tries = 0; tries < 8; tries++) {
        uint32_t i = rn(NM);
        if (M[i].alive)
            return (int)i;
    }
    for (uint32_t i = 0; i < NM; i++)
        if (M[i].alive)
            return (int)i;
    return -1;
}

static int find_model(sabre_entity_t e)
{
    for (uint32_t i = 0; i < NM; i++)
        if (M[i].id == e)
            return (int)i;
    return -1;
}

static void check_entity(int i)
{
    ment_t *m = &M[i];
    CHECK_EQ(sabre_entity_alive(W, m->id), m->alive);
    for (uint32_t c = 0; c < NC; c++) {
        CHECK_EQ(sabre_has(W, m->id, C[c]), m->alive && m->has[c]);
        if (!m->alive || !m->has[c]) {
            uint8_t tmp[16];
            CHECK(sabre_get(W, m->id, C[c], tmp) != SABRE_OK);
            continue;
        }
        CHECK_EQ(sabre_is_changed(W, m->id, C[c]), m->changed[c]);
        uint8_t got[16];
        memset(got, 0xee, sizeof got);
        CHECK_OK(sabre_get(W, m->id, C[c], got));
        if (memcmp(got, m->val[c], SIZES[c]) != 0)
            CHECK_FAIL_("entity %u component %u value differs", SABRE_ENTITY_INDEX(m->id), c);
    }
}

static void full_check(void)
{
    uint64_t alive = 0;
    for (uint32_t i = 0; i < NM; i++) {
        check_entity((int)i);
        alive += M[i].alive;
    }
    CHECK_EQ(sabre_world_count(W), alive);
    for (uint32_t i = 0; i < NDEAD; i++)
        CHECK(!sabre_entity_alive(W, DEAD[i]));
}

static void mark_all(ment_t *m)
{
    for (uint32_t c = 0; c < NC; c++)
        m->changed[c] = m->has[c];
}

static void retire(ment_t *m)
{
    m->alive = false;
    if (NDEAD < 256)
        DEAD[NDEAD++] = m->id;
    else
        DEAD[rn(256)] = m->id;
}

static void op_create(void)
{
    if (NM >= MAXE) {
        /* Reuse a dead model entry. */
        for (uint32_t i = 0; i < NM; i++)
            if (!M[i].alive) {
                M[i] = M[--NM];
                break;
            }
        if (NM >= MAXE)
            return;
    }
    ment_t *m = &M[NM];
    memset(m, 0, sizeof *m);
    sabre_component_t cs[NC];
    const void *vals[NC];
    uint32_t n = 0;
    for (uint32_t c = 0; c < NC; c++) {
        if (rn(2)) {
            m->has[c] = true;
            random_value(c, m->val[c]);
            cs[n] = C[c];
            vals[n++] = SIZES[c] ? m->val[c] : NULL;
        }
    }
    CHECK_OK(sabre_entity_create_with(W, cs, vals, n, &m->id));
    m->alive = true;
    mark_all(m);
    NM++;
    check_entity((int)NM - 1);
}

static void op_destroy(void)
{
    if (NDEAD && rn(8) == 0) {
        CHECK_ERR(sabre_entity_destroy(W, DEAD[rn(NDEAD)]), SABRE_ESTALE);
        return;
    }
    int i = pick_alive();
    if (i < 0)
        return;
    CHECK_OK(sabre_entity_destroy(W, M[i].id));
    retire(&M[i]);
    check_entity(i);
}

static void op_add(void)
{
    int i = pick_alive();
    if (i < 0)
        return;
    uint32_t c = rn(NC);
    uint8_t v[16];
    random_value(c, v);
    bool with = rn(2);
    CHECK_OK(sabre_add(W, M[i].id, C[c], with && SIZES[c] ? v : NULL));
    if (!M[i].has[c]) {
        M[i].has[c] = true;
        memset(M[i].val[c], 0, 16); /* defaults are zero */
        if (with)
            memcpy(M[i].val[c], v, 16);
        mark_all(&M[i]);
    } else if (with && SIZES[c]) {
        memcpy(M[i].val[c], v, 16);
        M[i].changed[c] = true;
    }
    check_entity(i);
}

static void op_remove(void)
{
    int i = pick_alive();
    if (i < 0)
        return;
    uint32_t c = rn(NC);
    CHECK_OK(sabre_remove(W, M[i].id, C[c]));
    if (M[i].has[c]) {
        M[i].has[c] = false;
        M[i].changed[c] = false;
        mark_all(&M[i]);
    }
    check_entity(i);
}

static void op_set(void)
{
    int i = pick_alive();
    if (i < 0)
        return;
    uint32_t c = rn(3);
    uint8_t v[16];
    random_value(c, v);
    if (M[i].has[c]) {
        CHECK_OK(sabre_set(W, M[i].id, C[c], v));
        memcpy(M[i].val[c], v, 16);
        M[i].changed[c] = true;
    } else {
        CHECK_ERR(sabre_set(W, M[i].id, C[c], v), SABRE_ENOENT);
    }
    check_entity(i);
}

static void op_query(void)
{
    uint32_t all = rn(16), none = rn(16) & ~all, any = rn(4) ? 0 : rn(16),
             chg = rn(3) ? 0 : (1u << rn(NC));
    sabre_component_t a[NC], n_[NC], y[NC], ch[NC];
    uint32_t na = 0, nn = 0, ny = 0, nch = 0;
    for (uint32_t c = 0; c < NC; c++) {
        if (all >> c & 1)
            a[na++] = C[c];
        if (none >> c & 1)
            n_[nn++] = C[c];
        if (any >> c & 1)
            y[ny++] = C[c];
        if (chg >> c & 1)
            ch[nch++] = C[c];
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(W,
                                &(sabre_query_desc_t){.all = a,
                                                      .nall = na,
                                                      .none = n_,
                                                      .nnone = nn,
                                                      .any = y,
                                                      .nany = ny,
                                                      .changed = ch,
                                                      .nchanged = nch},
                                &q));
    uint64_t expect = 0;
    for (uint32_t i = 0; i < NM; i++) {
        ment_t *m = &M[i];
        if (!m->alive)
            continue;
        bool ok = true, anyok = any == 0, chok = chg == 0;
        for (uint32_t c = 0; c < NC; c++) {
            if ((all >> c & 1) && !m->has[c])
                ok = false;
            if ((none >> c & 1) && m->has[c])
                ok = false;
            if ((any >> c & 1) && m->has[c])
                anyok = true;
            if ((chg >> c & 1) && m->has[c] && m->changed[c])
                chok = true;
        }
        expect += ok && anyok && chok;
    }
    /* Iterate: every yielded entity must satisfy the query. */
    uint64_t got = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        for (uint32_t r = 0; r < it.count; r++) {
            int i = find_model(it.entities[r]);
            CHECK(i >= 0 && M[i].alive);
            for (uint32_t c = 0; c < NC; c++) {
                if (all >> c & 1)
                    CHECK(M[i].has[c]);
                if (none >> c & 1)
                    CHECK(!M[i].has[c]);
            }
            if (all & 1) { /* term 0 is Pos: SoA columns x and y */
                float *px = sabre_iter_column(&it, 0, 0), *py = sabre_iter_column(&it, 0, 1);
                pos_t p;
                memcpy(&p, M[i].val[0], sizeof p);
                CHECK(px[r] == p.x && py[r] == p.y);
            }
        }
        got += it.count;
    }
    CHECK_EQ(got, expect);
    sabre_query_destroy(q);
}

static void op_tick(void)
{
    if (!IN_TICK) {
        CHECK_OK(sabre_world_begin_tick(W));
        for (uint32_t i = 0; i < NM; i++)
            memset(M[i].changed, 0, sizeof M[i].changed);
        IN_TICK = true;
        return;
    }
    /* Queue a few commands, then end the tick (flush). */
    sabre_cmd_t *cmd = sabre_world_cmd(W);
    int touched[4] = {-1, -1, -1, -1};
    uint8_t vals[4][16];
    for (int k = 0; k < 4; k++) {
        int i = pick_alive();
        if (i < 0)
            break;
        bool dup = false;
        for (int q = 0; q < k; q++)
            dup |= touched[q] == i;
        if (dup)
            continue;
        touched[k] = i;
        if (k == 0) {
            CHECK_OK(sabre_cmd_destroy(cmd, M[i].id));
        } else {
            random_value(1, vals[k]);
            CHECK_OK(sabre_cmd_add(cmd, M[i].id, C[1], vals[k]));
        }
    }
    CHECK_OK(sabre_world_end_tick(W));
    IN_TICK = false;
    for (int k = 0; k < 4; k++) {
        int i = touched[k];
        if (i < 0)
            continue;
        if (k == 0) {
            retire(&M[i]);
        } else {
            if (!M[i].has[1]) {
                M[i].has[1] = true;
                mark_all(&M[i]);
            } else {
                M[i].changed[1] = true;
            }
            memcpy(M[i].val[1], vals[k], 16);
        }
        check_entity(i);
    }
}

/* Snapshot of all[Pos] (optionally none[Tag]); Pos written, Hp read. */
static void op_snapshot(void)
{
    bool excl = rn(2);
    sabre_component_t tag = C[TAG];
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = &C[0], .nall = 1, .none = &tag, .nnone = excl ? 1 : 0},
        &q));
    sabre_snap_comp_t sc[2] = {{.comp = C[0], .write = true}, {.comp = C[1]}};
    bool transfer = rn(2);
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W,
        &(sabre_snapshot_desc_t){
            .comps = sc, .ncomps = 2, .mode = transfer ? SABRE_SNAP_TRANSFER : SABRE_SNAP_SHARED},
        q, &s));
    bool structural = rn(2);
    if (rn(3) == 0) {
        CHECK_OK(sabre_snapshot_set_executor(
            s, &(sabre_snapshot_exec_t){.parallel_for = rev_for, .user = &N_EXEC_CALLS}));
        sabre__snapshot_set_grain(s, 64u << rn(4));
    }
    if (rn(4) == 0)
        CHECK_OK(sabre_snapshot_rebuild(W, s, q));
    uint64_t rows = sabre_snapshot_rows(s);
    sabre_snapshot_t *h = s;
    if (transfer)
        CHECK_OK(sabre_snapshot_transfer(s, &h));
    const sabre_entity_t *eids;
    pos_t *px_x; /* columns x and y of Pos */
    float *x, *y;
    int32_t *hp;
    CHECK_OK(sabre_snapshot_entities(h, &eids));
    CHECK_OK(sabre_snapshot_column(h, C[0], "x", (void **)&x));
    CHECK_OK(sabre_snapshot_column(h, C[0], "y", (void **)&y));
    CHECK_OK(sabre_snapshot_column(h, C[1], "v", (void **)&hp));
    (void)px_x;
    /* Content equals the model. */
    uint64_t expect_rows = 0;
    for (uint32_t i = 0; i < NM; i++)
        expect_rows += M[i].alive && M[i].has[0] && !(excl && M[i].has[TAG]);
    CHECK_EQ(rows, expect_rows);
    int *idx = malloc((rows ? rows : 1) * sizeof *idx);
    CHECK(idx != NULL);
    for (uint64_t r = 0; r < rows; r++) {
        int i = find_model(eids[r]);
        CHECK(i >= 0 && M[i].alive && M[i].has[0]);
        idx[r] = i;
        pos_t p;
        memcpy(&p, M[i].val[0], sizeof p);
        CHECK(x[r] == p.x && y[r] == p.y);
        int32_t mh = 0;
        if (M[i].has[1])
            memcpy(&mh, M[i].val[1], 4);
        CHECK_EQ(hp[r], mh);
    }
    /* Worker changes: some rows' Pos, some Hp (read-only). */
    bool *marked = calloc(rows ? rows : 1, 1);
    pos_t *newv = calloc(rows ? rows : 1, sizeof *newv);
    uint64_t ro = 0;
    for (uint64_t r = 0; r < rows; r++) {
        if (rn(3) == 0) {
            newv[r].x = x[r] = (float)(int)rn(1000);
            newv[r].y = y[r] = -(float)(int)rn(1000);
            CHECK_OK(sabre_snapshot_mark(h, C[0], r));
            marked[r] = true;
        }
        if (rn(5) == 0) {
            hp[r] = 7;
            CHECK_OK(sabre_snapshot_mark(h, C[1], r));
            ro++;
        }
    }
    if (transfer) {
        float *dummy;
        CHECK_ERR(sabre_snapshot_column(s, C[0], "x", (void **)&dummy), SABRE_EDETACHED);
        CHECK_OK(sabre_snapshot_give_back(s, h));
    }
    /* Structural changes while the snapshot is out. */
    for (uint64_t r = 0; structural && r < rows && r < 6; r++) {
        int i = idx[rn((uint32_t)rows)];
        if (!M[i].alive)
            continue;
        uint32_t what = rn(3);
        if (what == 0) {
            CHECK_OK(sabre_entity_destroy(W, M[i].id));
            retire(&M[i]);
        } else if (what == 1 && M[i].has[0]) {
            CHECK_OK(sabre_remove(W, M[i].id, C[0]));
            M[i].has[0] = false;
            M[i].changed[0] = false;
            mark_all(&M[i]);
        } else if (M[i].has[0]) {
            /* Move to another table and back: still committed. */
            if (M[i].has[TAG]) {
                CHECK_OK(sabre_remove(W, M[i].id, C[TAG]));
                CHECK_OK(sabre_add(W, M[i].id, C[TAG], NULL));
            } else {
                CHECK_OK(sabre_add(W, M[i].id, C[TAG], NULL));
                CHECK_OK(sabre_remove(W, M[i].id, C[TAG]));
            }
            mark_all(&M[i]);
        }
    }
    uint64_t exp_w = 0, exp_dead = 0, exp_miss = 0;
    for (uint64_t r = 0; r < rows; r++) {
        if (!marked[r])
            continue;
        ment_t *m = &M[idx[r]];
        if (!m->alive) {
            exp_dead++;
        } else if (!m->has[0]) {
            exp_miss++;
        } else {
            exp_w++;
            memcpy(m->val[0], &newv[r], sizeof newv[r]);
            m->changed[0] = true;
        }
    }
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, s, &st));
    if (!structural)
        CHECK(sabre__snapshot_last_fast(s));
    if (sabre__snapshot_last_fast(s))
        N_FAST++;
    else
        N_SLOW++;
    CHECK_EQ(st.rows_written, exp_w);
    CHECK_EQ(st.skipped_dead, exp_dead);
    CHECK_EQ(st.skipped_missing, exp_miss);
    CHECK_EQ(st.skipped_readonly, ro);
    for (uint64_t r = 0; r < rows; r++)
        check_entity(idx[r]);
    free(idx);
    free(marked);
    free(newv);
    sabre_snapshot_free(s);
    sabre_query_destroy(q);
}

int main(void)
{
    CHECK_OK(
        sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 64, .max_chunk_rows = 512}, &W));
    const char *names[NC] = {"Pos", "Hp", "Big", "Tag"};
    for (uint32_t c = 0; c < NC; c++)
        CHECK_OK(sabre_component_define(
            W, &(sabre_component_desc_t){.name = names[c], .schema = c < 3 ? SCHEMAS[c] : NULL},
            &C[c]));
    CHECK_EQ(sabre_component_size(W, C[2]), 16);
    unsigned long steps = check_scale(100000);
    unsigned long counts[10] = {0};
    for (unsigned long step = 0; step < steps; step++) {
        uint32_t r = rn(1000);
        int kind;
        if (r < 260)
            kind = 0; /* create */
        else if (r < 420)
            kind = 1; /* destroy */
        else if (r < 580)
            kind = 2; /* add */
        else if (r < 720)
            kind = 3; /* remove */
        else if (r < 900)
            kind = 4; /* set */
        else if (r < 960)
            kind = 5; /* query */
        else if (r < 985)
            kind = 6; /* tick */
        else
            kind = 7; /* snapshot + change + commit */
        counts[kind]++;
        switch (kind) {
        case 0:
            op_create();
            break;
        case 1:
            op_destroy();
            break;
        case 2:
            op_add();
            break;
        case 3:
            op_remove();
            break;
        case 4:
            op_set();
            break;
        case 5:
            op_query();
            break;
        case 6:
            op_tick();
            break;
        default:
            op_snapshot();
            break;
        }
        if (step % 1000 == 999)
            full_check();
    }
    if (IN_TICK)
        op_tick();
    full_check();
    printf("steps %lu: create %lu destroy %lu add %lu remove %lu set %lu query %lu tick %lu "
           "snapshot %lu\n",
           steps, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6],
           counts[7]);
    printf("commits: fast path %lu, slow path %lu; executor calls %lu\n", N_FAST, N_SLOW,
           N_EXEC_CALLS);
    CHECK(N_FAST > 0 && N_SLOW > 0 && N_EXEC_CALLS > 0);
    sabre_world_destroy(W);
    return check_done();
}
