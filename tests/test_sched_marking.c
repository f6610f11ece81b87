// SABRE_TEST_LABELS: unit process
/*
 * Writes a kernel forgot to mark are never lost: the scheduler marks the
 * rows of every written component over each range, so a kernel that never
 * marks ends in the same state in every offload mode (serial, in place,
 * snapshot, process on the world's tables, process over snapshots).  A
 * kernel that opts out (.marks_rows) gets exactly what it marked.  Also:
 * columns by term index, `.user` refused with process offload, and the
 * process-over-snapshots fallback named by sabre_sched_dump and counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sabre/sched.h"

#define N      3000 /* not a multiple of 64: partial last words */
#define FRAMES 5

typedef struct vec2 {
    float x, y;
} vec2_t;

enum how { SERIAL, INPLACE, SNAPSHOT, PROCESS_TABLES, PROCESS_FALLBACK, HOW_COUNT };
static const char *const how_names[HOW_COUNT] = {"serial", "inplace", "snapshot",
                                                 "process on tables", "process fallback"};

typedef struct run {
    sabre_world_t *world;
    sabre_region_t *region; /* the pool's region in the fallback case */
    sabre_pool_t *pool;
    sabre_sched_t *sched;
    sabre_component_t pos, vel;
} run_t;

/* Never marks: pos.x += vel.x, pos.y += 1 (terms: 0 = Vel read, 1 = Pos). */
static int move_unmarked(const sabre_kernel_ctx_t *c)
{
    const float *vx = sabre_kernel_column(c, 0, 0);
    float *px = sabre_kernel_column(c, 1, 0), *py = sabre_kernel_column(c, 1, 1);
    if (!vx || !px || !py || sabre_kernel_column(c, 1, 2) || sabre_kernel_column(c, 2, 0))
        return SABRE_EINVAL; /* columns by term, and NULL past the ends */
    for (uint64_t i = c->begin; i < c->end; i++) {
        px[i] += vx[i];
        py[i] += 1.0f;
    }
    return SABRE_OK;
}

/* Writes every row but marks only the even ones, and says so (.marks_rows). */
static int move_marks_even(const sabre_kernel_ctx_t *c)
{
    float *py = sabre_kernel_column(c, 1, 1);
    sabre_component_t pos = c->terms[1];
    for (uint64_t i = c->begin; i < c->end; i++) {
        py[i] += 1.0f;
        if (i % 2 == 0) {
            int rc = sabre_snapshot_mark(c->rows, pos, i);
            if (rc)
                return rc;
        }
    }
    return SABRE_OK;
}

static void run_open(run_t *r, enum how how, sabre_kernel_fn kernel, bool marks_rows)
{
    memset(r, 0, sizeof *r);
    sabre_world_desc_t wd = {.chunk_rows = 1024};
    if (how == PROCESS_TABLES) {
        /* the simple wiring: a MEMFD world sized by the helper, its region
         * given to the pool */
        wd.backing = SABRE_BACKING_MEMFD;
        wd.region_size = sabre_world_region_size(N, 2 * sizeof(vec2_t));
    }
    CHECK_OK(sabre_world_create(&wd, &r->world));
    const char *schema = "struct V { x: f32; y: f32; }";
    CHECK_OK(sabre_component_define(
        r->world, &(sabre_component_desc_t){.name = "Pos", .schema = schema}, &r->pos));
    CHECK_OK(sabre_component_define(
        r->world, &(sabre_component_desc_t){.name = "Vel", .schema = schema}, &r->vel));
    sabre_component_t both[2] = {r->pos, r->vel};
    for (uint32_t i = 0; i < N; i++) {
        vec2_t p = {(float)i, 0.0f}, v = {(float)(i % 7), 0.0f};
        const void *vals[2] = {&p, &v};
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(r->world, both, vals, 2, &e));
    }
    if (how == PROCESS_FALLBACK)
        CHECK_OK(sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 16u << 20}, &r->region));
    if (how != SERIAL)
        CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2,
                                                        .processes = how >= PROCESS_TABLES ? 2 : 0,
                                                        .region = how == PROCESS_TABLES
                                                                      ? sabre_world_region(r->world)
                                                                      : r->region,
                                                        .process_timeout_ns = 20000000000ull},
                                   &r->pool));
    CHECK_OK(
        sabre_sched_create(&(sabre_sched_desc_t){.world = r->world, .pool = r->pool}, &r->sched));
    sabre_offload_t mode = how == SNAPSHOT         ? SABRE_OFFLOAD_SNAPSHOT
                           : how >= PROCESS_TABLES ? SABRE_OFFLOAD_PROCESS
                                                   : SABRE_OFFLOAD_INPLACE;
    CHECK_OK(sabre_sched_add(r->sched, &(sabre_system_desc_t){.name = "move",
                                                              .reads = &r->vel,
                                                              .nreads = 1,
                                                              .writes = &r->pos,
                                                              .nwrites = 1,
                                                              .kernel = kernel,
                                                              .offload = mode,
                                                              .grain = 256,
                                                              .marks_rows = marks_rows}));
}

static void run_close(run_t *r)
{
    sabre_sched_destroy(r->sched);
    sabre_pool_destroy(r->pool);
    sabre_world_destroy(r->world);
    sabre_region_close(r->region);
}

/* Every entity's Pos, in entity order (entity ids are the same in every run). */
static void read_pos(run_t *r, vec2_t *out)
{
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(r->world, &(sabre_query_desc_t){.all = &r->pos, .nall = 1}, &q));
    sabre_iter_t it;
    uint32_t n = 0;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        const float *x = sabre_iter_column(&it, 0, 0), *y = sabre_iter_column(&it, 0, 1);
        for (uint32_t i = 0; i < it.count; i++, n++) {
            CHECK(n < N);
            out[n] = (vec2_t){x[i], y[i]};
        }
    }
    CHECK_EQ(n, N);
    sabre_query_destroy(q);
}

static uint64_t changed_rows(run_t *r)
{
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        r->world,
        &(sabre_query_desc_t){.all = &r->pos, .nall = 1, .changed = &r->pos, .nchanged = 1}, &q));
    uint64_t n = sabre_query_count(q);
    sabre_query_destroy(q);
    return n;
}

static void test_unmarked_writes_kept_in_every_mode(void)
{
    static vec2_t got[HOW_COUNT][N];
    for (int how = 0; how < HOW_COUNT; how++) {
        run_t r;
        run_open(&r, (enum how)how, move_unmarked, false);
        for (int f = 0; f < FRAMES; f++)
            CHECK_OK(sabre_sched_run_frame(r.sched, 1.0, f));
        CHECK_EQ(changed_rows(&r), N); /* the world's changed bits, too */
        read_pos(&r, got[how]);
        sabre_system_stats_t st;
        CHECK_OK(sabre_sched_stats(r.sched, "move", &st));
        CHECK_EQ(st.snapshot_fallbacks, how == PROCESS_FALLBACK ? FRAMES : 0);
        if (how == SNAPSHOT || how == PROCESS_FALLBACK)
            CHECK_EQ(st.committed, (uint64_t)N * FRAMES);
        run_close(&r);
    }
    for (uint32_t i = 0; i < N; i++) {
        CHECK_EQ(got[SERIAL][i].x, (float)i + FRAMES * (float)(i % 7));
        CHECK_EQ(got[SERIAL][i].y, (float)FRAMES);
    }
    for (int how = 1; how < HOW_COUNT; how++) {
        if (memcmp(got[how], got[SERIAL], sizeof got[SERIAL]))
            fprintf(stderr, "mode '%s' differs from serial\n", how_names[how]);
        CHECK(memcmp(got[how], got[SERIAL], sizeof got[SERIAL]) == 0);
    }
}

/* .marks_rows: the scheduler marks nothing; a copy commits only the rows
 * the kernel marked, in place keeps every write. */
static void test_marks_rows_opt_out(void)
{
    static vec2_t pos[N];
    for (int how = INPLACE; how <= SNAPSHOT; how++) {
        run_t r;
        run_open(&r, (enum how)how, move_marks_even, true);
        CHECK_OK(sabre_sched_run_frame(r.sched, 1.0, 0));
        CHECK_EQ(changed_rows(&r), (N + 1) / 2);
        read_pos(&r, pos);
        for (uint32_t i = 0; i < N; i++)
            CHECK_EQ(pos[i].y, how == SNAPSHOT && i % 2 ? 0.0f : 1.0f);
        run_close(&r);
    }
}

static int user_kernel(const sabre_kernel_ctx_t *c)
{
    return c->user ? SABRE_OK : SABRE_EINVAL;
}

/* .user with process offload is refused when added or switched to; the
 * message points at .args. */
static void test_user_refused_with_process(void)
{
    run_t r;
    run_open(&r, PROCESS_TABLES, move_unmarked, false);
    int cookie = 1;
    sabre_system_desc_t d = {.name = "with_user",
                             .writes = &r.pos,
                             .nwrites = 1,
                             .kernel = user_kernel,
                             .offload = SABRE_OFFLOAD_PROCESS,
                             .user = &cookie};
    CHECK_ERR(sabre_sched_add(r.sched, &d), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "system 'with_user': .user");
    CHECK_STR_CONTAINS(sabre_last_error(), ".args");
    d.offload = SABRE_OFFLOAD_INPLACE;
    CHECK_OK(sabre_sched_add(r.sched, &d));
    CHECK_ERR(sabre_sched_set_offload(r.sched, "with_user", SABRE_OFFLOAD_PROCESS), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), ".args");
    CHECK_OK(sabre_sched_run_frame(r.sched, 1.0, 0)); /* in place, user is there */
    run_close(&r);
}

/* A kernel's own query must require every term with data. */
static void test_term_not_in_query(void)
{
    run_t r;
    run_open(&r, SERIAL, move_unmarked, false);
    sabre_component_t both[2] = {r.pos, r.vel};
    CHECK_ERR(sabre_sched_add(
                  r.sched,
                  &(sabre_system_desc_t){.name = "partial",
                                         .reads = &r.vel,
                                         .nreads = 1,
                                         .writes = &r.pos,
                                         .nwrites = 1,
                                         .query = &(sabre_query_desc_t){.all = &r.pos, .nall = 1},
                                         .kernel = move_unmarked}),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "term 0 (Vel) is not in its query's `all` list");
    /* a component a snapshot lacks is named, with the ones it holds */
    sabre_component_t hp;
    CHECK_OK(sabre_component_define(
        r.world, &(sabre_component_desc_t){.name = "Hp", .schema = "struct H { v: f32; }"}, &hp));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(r.world, &(sabre_query_desc_t){.all = &r.pos, .nall = 1}, &q));
    sabre_snapshot_t *snap;
    CHECK_OK(sabre_snapshot_build(
        r.world,
        &(sabre_snapshot_desc_t){.comps = &(sabre_snap_comp_t){.comp = r.pos}, .ncomps = 1}, q,
        &snap));
    void *col;
    CHECK_ERR(sabre_snapshot_column(snap, hp, "v", &col), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "component 'Hp' (id");
    CHECK_STR_CONTAINS(sabre_last_error(), "it holds Pos (id");
    sabre_snapshot_free(snap);
    sabre_query_destroy(q);
    CHECK_OK(sabre_sched_add(
        r.sched, &(sabre_system_desc_t){.name = "full",
                                        .reads = &r.vel,
                                        .nreads = 1,
                                        .writes = &r.pos,
                                        .nwrites = 1,
                                        .query = &(sabre_query_desc_t){.all = both, .nall = 2},
                                        .kernel = move_unmarked}));
    run_close(&r);
}

/* sabre_sched_dump names the process fallback and why. */
static void test_dump_names_fallback(void)
{
    for (int how = PROCESS_TABLES; how <= PROCESS_FALLBACK; how++) {
        run_t r;
        run_open(&r, (enum how)how, move_unmarked, false);
        char buf[4096] = "";
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        CHECK(f != NULL);
        CHECK_OK(sabre_sched_dump(r.sched, f));
        fclose(f);
        if (how == PROCESS_TABLES) {
            CHECK_STR_CONTAINS(buf, "move (kernel, process on the world's tables)");
            CHECK(strstr(buf, "fallback") == NULL);
        } else {
            CHECK_STR_CONTAINS(buf, "move (kernel, process over snapshots (slower fallback))");
            CHECK_STR_CONTAINS(buf, "fallback: move runs its worker processes over snapshots");
            CHECK_STR_CONTAINS(buf, "the world's tables are not in the pool's region");
        }
        run_close(&r);
    }
}

int main(void)
{
    test_unmarked_writes_kept_in_every_mode();
    test_marks_rows_opt_out();
    test_user_refused_with_process();
    test_term_not_in_query();
    test_dump_names_fallback();
    return check_done();
}
