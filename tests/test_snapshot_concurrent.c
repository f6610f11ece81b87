// SABRE_TEST_LABELS: unit concurrent
/*
 * test_ecs_concurrent.c - several threads mark changed bits at once:
 *  1. a shared snapshot, rows interleaved across threads (atomic OR on the
 *     same words), every thread writing its own rows' columns;
 *  2. the world's own chunks through query blocks split at unaligned row
 *     ranges (sabre_iter_mark, atomic);
 *  3. native views split at 64-row boundaries, marking with plain word
 *     stores (each thread owns whole words).
 * Afterwards every expected bit is set and nothing else; commit writes all.
 * Runs under TSan in the test script.
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "sabre/snapshot.h"

typedef struct {
    float x, y;
} vec2;
enum { THREADS = 4 };

static sabre_world_t *W;
static sabre_component_t POS, VEL;
static sabre_snapshot_t *S;
static uint64_t ROWS;

typedef struct arg {
    int id;
    int rounds;
} arg_t;

static void *mark_interleaved(void *p)
{
    arg_t *a = p;
    float *px;
    if (sabre_snapshot_column(S, POS, "x", (void **)&px))
        return (void *)1;
    for (int r = 0; r < a->rounds; r++)
        for (uint64_t i = (uint64_t)a->id; i < ROWS; i += THREADS) {
            if (r == 0)
                px[i] += 1.0f;
            if (sabre_snapshot_mark(S, POS, i))
                return (void *)2;
        }
    return NULL;
}

typedef struct block {
    const sabre_iter_t *it;
    uint32_t first, n;
} block_t;

static void *mark_block(void *p)
{
    block_t *b = p;
    float *px = sabre_iter_column(b->it, 0, 0);
    for (uint32_t i = b->first; i < b->first + b->n; i++)
        px[i] *= 2.0f;
    sabre_iter_mark(b->it, 0, b->first, b->n);
    return NULL;
}

typedef struct vjob {
    sabre_snapshot_t *v;
} vjob_t;

static void *view_job(void *p)
{
    vjob_t *j = p;
    float *px, *vx;
    _Atomic uint64_t *bits;
    if (sabre_snapshot_column(j->v, POS, "x", (void **)&px) ||
        sabre_snapshot_column(j->v, VEL, "x", (void **)&vx) ||
        sabre_snapshot_changed(j->v, POS, &bits))
        return (void *)1;
    uint64_t n = sabre_snapshot_rows(j->v);
    for (uint64_t i = 0; i < n; i++)
        px[i] += vx[i];
    /* Whole words owned by this thread: plain stores of the word value. */
    for (uint64_t w = 0; w < (n + 63) / 64; w++) {
        uint64_t take = n - w * 64 >= 64 ? 64 : n - w * 64;
        uint64_t m = take == 64 ? ~0ull : (1ull << take) - 1;
        atomic_store_explicit(&bits[w], m, memory_order_relaxed);
    }
    if (n && sabre_snapshot_touch(j->v, POS))
        return (void *)2;
    return NULL;
}

int main(void)
{
    CHECK_OK(
        sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 4096, .max_chunk_rows = 4096}, &W));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &POS));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &VEL));
    uint32_t n = (uint32_t)check_scale(20000);
    for (uint32_t i = 0; i < n; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        const void *vals[2] = {&(vec2){(float)i, 0}, &(vec2){1, 0}};
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(W, cs, vals, 2, &e));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = (sabre_component_t[]){POS, VEL}, .nall = 2}, &q));

    /* 1. Snapshot, interleaved rows: every word is hit by every thread. */
    sabre_snap_comp_t sc[2] = {{.comp = POS, .write = true}, {.comp = VEL}};
    CHECK_OK(sabre_snapshot_build(W, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2}, q, &S));
    ROWS = sabre_snapshot_rows(S);
    CHECK_EQ(ROWS, n);
    pthread_t th[THREADS];
    arg_t args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (arg_t){.id = t, .rounds = 3};
        CHECK(pthread_create(&th[t], NULL, mark_interleaved, &args[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        void *ret;
        pthread_join(th[t], &ret);
        CHECK(ret == NULL);
    }
    _Atomic uint64_t *bits;
    CHECK_OK(sabre_snapshot_changed(S, POS, &bits));
    for (uint64_t i = 0; i < ROWS; i++)
        CHECK(sabre_bits_test(bits, i));
    CHECK(!sabre_bits_test(bits, ROWS)); /* beyond rows: untouched */
    CHECK_OK(sabre_world_begin_tick(W));
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, S, &st));
    CHECK_EQ(st.rows_written, n);
    sabre_snapshot_free(S);

    /* 2. World chunks, unaligned ranges per thread (atomic marking). */
    CHECK_OK(sabre_world_end_tick(W));
    CHECK_OK(sabre_world_begin_tick(W));
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    uint64_t marked = 0;
    while (sabre_iter_next(&it)) {
        block_t b[THREADS];
        uint32_t per = it.count / THREADS + 1;
        for (int t = 0; t < THREADS; t++) {
            uint32_t first = (uint32_t)t * per;
            uint32_t cnt =
                first >= it.count ? 0 : (it.count - first < per ? it.count - first : per);
            b[t] = (block_t){.it = &it, .first = first, .n = cnt};
            CHECK(pthread_create(&th[t], NULL, mark_block, &b[t]) == 0);
        }
        for (int t = 0; t < THREADS; t++)
            pthread_join(th[t], NULL);
        for (uint32_t i = 0; i < it.count; i++)
            CHECK(sabre_iter_is_changed(&it, 0, i));
        marked += it.count;
    }
    CHECK_EQ(marked, n);
    CHECK_OK(sabre_world_end_tick(W));

    /* 3. Native views on 64-aligned ranges, plain word stores. */
    CHECK_OK(sabre_world_begin_tick(W));
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        sabre_snapshot_t *v[THREADS];
        vjob_t j[THREADS];
        uint32_t per = ((it.count / THREADS) + 63) / 64 * 64;
        for (int t = 0; t < THREADS; t++) {
            uint32_t first = (uint32_t)t * per;
            uint32_t cnt =
                first >= it.count ? 0 : (it.count - first < per ? it.count - first : per);
            if (first > it.count)
                first = it.count / 64 * 64, cnt = 0;
            CHECK_OK(sabre_snapshot_view(W, it.table, it.chunk, first, cnt, &v[t]));
            j[t].v = v[t];
            CHECK(pthread_create(&th[t], NULL, view_job, &j[t]) == 0);
        }
        for (int t = 0; t < THREADS; t++) {
            void *ret;
            pthread_join(th[t], &ret);
            CHECK(ret == NULL);
            sabre_snapshot_free(v[t]);
        }
    }
    CHECK_OK(sabre_world_end_tick(W));
    sabre_query_t *qc;
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = &POS, .nall = 1, .changed = &POS, .nchanged = 1}, &qc));
    CHECK_EQ(sabre_query_count(qc), n);
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        float *px = sabre_iter_column(&it, 0, 0);
        for (uint32_t i = 0; i < it.count; i++) {
            float orig = (float)(it.table_row + i);
            CHECK(px[i] == (orig + 1.0f) * 2.0f + 1.0f);
        }
    }
    sabre_world_destroy(W);
    return check_done();
}
