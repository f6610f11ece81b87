// SABRE_TEST_LABELS: unit concurrent process
/*
 * Offload modes give identical results: the physics example run serially,
 * in place on the pool, on snapshots, and in worker processes ends in the
 * bit-identical state; changed bits reach the world in every mode; a worker
 * process killed with SIGKILL mid-frame fails that frame only.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../examples/physics.h"
#include "check.h"

#define N      20000
#define FRAMES 12

typedef struct run {
    sabre_world_t *world;
    sabre_region_t *region;
    sabre_pool_t *pool;
    sabre_sched_t *sched;
    phys_t phys;
} run_t;

/* shared_world: the world's tables live in the pool's region, so process
 * mode runs the kernels in the worker processes on the tables themselves. */
static void run_open_ex(run_t *r, sabre_offload_t mode, unsigned threads, unsigned processes,
                        bool shared_world)
{
    memset(r, 0, sizeof *r);
    if (processes)
        CHECK_OK(sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 64u << 20}, &r->region));
    CHECK_OK(sabre_world_create(
        &(sabre_world_desc_t){.chunk_rows = 4096, .region = shared_world ? r->region : NULL},
        &r->world));
    CHECK_OK(phys_setup(&r->phys, r->world, N, 7));
    if (threads || processes) {
        CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = threads ? threads : 1,
                                                        .region = r->region,
                                                        .processes = processes,
                                                        .process_timeout_ns = 20000000000ull},
                                   &r->pool));
    }
    CHECK_OK(
        sabre_sched_create(&(sabre_sched_desc_t){.world = r->world, .pool = r->pool}, &r->sched));
    CHECK_OK(phys_register(&r->phys, r->sched, mode));
}

static void run_open(run_t *r, sabre_offload_t mode, unsigned threads, unsigned processes)
{
    run_open_ex(r, mode, threads, processes, false);
}

/* Objects in the region whose name starts with `prefix`. */
static unsigned count_objects(sabre_region_t *region, const char *prefix)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < sabre_region_count(region); i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_object_at(region, i, &o));
        n += strncmp(o.name, prefix, strlen(prefix)) == 0;
    }
    return n;
}

static void run_close(run_t *r)
{
    sabre_sched_destroy(r->sched);
    sabre_pool_destroy(r->pool);
    sabre_world_destroy(r->world);
    sabre_region_close(r->region);
}

static phys_stats_t run_frames(run_t *r, int frames)
{
    for (int f = 0; f < frames; f++)
        CHECK_OK(sabre_sched_run_frame(r->sched, 1.0 / 30.0, f / 30.0));
    phys_stats_t st;
    CHECK_OK(phys_measure(&r->phys, &st));
    return st;
}

/* After a frame, every row's Pos was marked changed in the world. */
static void check_changed(run_t *r)
{
    CHECK_OK(sabre_sched_run_frame(r->sched, 1.0 / 30.0, 0));
    sabre_component_t pos = r->phys.pos;
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        r->world, &(sabre_query_desc_t){.all = &pos, .nall = 1, .changed = &pos, .nchanged = 1},
        &q));
    /* end_tick does not clear changed bits: they describe the last tick */
    CHECK_EQ(sabre_query_count(q), N);
    sabre_query_destroy(q);
}

static int die_kernel(const sabre_kernel_ctx_t *c)
{
    /* whichever process runs the rows starting at 0 in frame 3 */
    if (c->in_process && c->frame == 3 && c->begin == 0)
        raise(SIGKILL);
    return phys_integrate(c);
}

static int fail_kernel(const sabre_kernel_ctx_t *c)
{
    (void)c;
    return SABRE_ERANGE;
}

/* A failing system does not stop an independent system of its batch: that
 * one still runs completely and is committed, on any number of threads. */
static void test_failure_isolated(const phys_stats_t *after_one)
{
    for (unsigned threads = 0; threads <= 3; threads += 3) {
        for (int mode = SABRE_OFFLOAD_INPLACE; mode <= SABRE_OFFLOAD_SNAPSHOT; mode++) {
            run_t r;
            memset(&r, 0, sizeof r);
            CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 4096}, &r.world));
            CHECK_OK(phys_setup(&r.phys, r.world, N, 7));
            if (threads)
                CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = threads}, &r.pool));
            CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = r.world, .pool = r.pool},
                                        &r.sched));
            sabre_component_t rv[1] = {r.phys.vel}, wp[1] = {r.phys.pos};
            /* registered first, so with one thread it fails before integrate runs */
            CHECK_OK(
                sabre_sched_add(r.sched, &(sabre_system_desc_t){.name = "bad",
                                                                .reads = rv,
                                                                .nreads = 1,
                                                                .kernel = fail_kernel,
                                                                .offload = (sabre_offload_t)mode,
                                                                .grain = 64}));
            CHECK_OK(
                sabre_sched_add(r.sched, &(sabre_system_desc_t){.name = "integrate",
                                                                .reads = rv,
                                                                .nreads = 1,
                                                                .writes = wp,
                                                                .nwrites = 1,
                                                                .kernel = phys_integrate,
                                                                .offload = (sabre_offload_t)mode,
                                                                .grain = 64,
                                                                .args = &r.phys.args,
                                                                .args_len = sizeof r.phys.args}));
            CHECK_EQ(sabre_sched_batches(r.sched), 1);
            CHECK_ERR(sabre_sched_run_frame(r.sched, 1.0 / 30.0, 0), SABRE_ERANGE);
            CHECK_STR_CONTAINS(sabre_last_error(), "system 'bad' failed");
            phys_stats_t got;
            CHECK_OK(phys_measure(&r.phys, &got));
            CHECK(got.checksum == after_one->checksum); /* integrate ran and was committed */
            run_close(&r);
        }
    }
}

/* Snapshot mode commits each range right after its kernel (the per-range
 * commit).  A system failing on one range: the ranges committed before the
 * failure keep their rows, the failed range and later ones are not
 * committed, and the next frame recopies the snapshot, so every row ends
 * exactly one step past its world value whatever was committed. */
typedef struct count_args {
    sabre_component_t cnt;
    atomic_int fail_frames; /* frames left in which the range at row fail_at fails */
    uint64_t fail_at;
} count_args_t;

static int count_kernel(const sabre_kernel_ctx_t *c)
{
    count_args_t *a = c->user;
    uint32_t *v = sabre_kernel_column(c, 0, 0);
    if (!v)
        return SABRE_EINVAL;
    for (uint64_t i = c->begin; i < c->end; i++)
        v[i] += 1;
    if (c->begin == a->fail_at && atomic_load(&a->fail_frames) > 0)
        return SABRE_ERANGE; /* after writing its rows, before they are marked */
    return SABRE_OK;
}

static void test_range_commit_failure(void)
{
    enum { ROWS = 8192 };
    /* eight ranges, the fifth failing; or one range, failing (nothing of
     * the system is then marked: the next frame must still recopy) */
    for (unsigned v = 0; v < 4; v++) {
        unsigned threads = v % 2 ? 2 : 0;
        uint64_t grain = v < 2 ? 1024 : ROWS, fail_at = v < 2 ? 4096 : 0;
        sabre_world_t *w;
        sabre_pool_t *pool = NULL;
        sabre_sched_t *s;
        count_args_t a;
        atomic_init(&a.fail_frames, 1);
        a.fail_at = fail_at;
        CHECK_OK(sabre_world_create(NULL, &w));
        CHECK_OK(sabre_component_define(
            w, &(sabre_component_desc_t){.name = "Cnt", .schema = "struct C { v: u32; }"}, &a.cnt));
        sabre_entity_t *ents = calloc(ROWS, sizeof *ents);
        CHECK(ents != NULL);
        for (uint32_t i = 0; i < ROWS; i++) {
            uint32_t zero = 0;
            CHECK_OK(sabre_entity_create_with(w, &a.cnt, (const void *[]){&zero}, 1, &ents[i]));
        }
        if (threads)
            CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = threads}, &pool));
        CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = w, .pool = pool}, &s));
        CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "count",
                                                           .writes = &a.cnt,
                                                           .nwrites = 1,
                                                           .kernel = count_kernel,
                                                           .offload = SABRE_OFFLOAD_SNAPSHOT,
                                                           .dispatch = SABRE_DISPATCH_POOL,
                                                           .grain = grain,
                                                           .user = &a}));
        CHECK_ERR(sabre_sched_run_frame(s, 0, 0), SABRE_ERANGE);
        uint32_t *after0 = calloc(ROWS, sizeof *after0);
        CHECK(after0 != NULL);
        for (uint32_t i = 0; i < ROWS; i++) {
            CHECK_OK(sabre_get(w, ents[i], a.cnt, &after0[i]));
            CHECK(after0[i] <= 1);
            if (i >= fail_at && i < fail_at + grain)
                CHECK_EQ(after0[i], 0); /* the failed range is not committed */
            if (!threads && i < fail_at)
                CHECK_EQ(after0[i], 1); /* serially, the ranges before it are */
            if (!threads && i >= fail_at)
                CHECK_EQ(after0[i], 0); /* and the ones after it are not */
        }
        atomic_store(&a.fail_frames, 0);
        CHECK_OK(sabre_sched_run_frame(s, 0, 0));
        for (uint32_t i = 0; i < ROWS; i++) {
            uint32_t got;
            CHECK_OK(sabre_get(w, ents[i], a.cnt, &got));
            CHECK_EQ(got, after0[i] + 1);
        }
        sabre_system_stats_t st;
        CHECK_OK(sabre_sched_stats(s, "count", &st));
        CHECK_EQ(st.committed, ROWS); /* the second frame's */
        free(after0);
        free(ents);
        sabre_sched_destroy(s);
        sabre_pool_destroy(pool);
        sabre_world_destroy(w);
    }
}

int main(void)
{
    test_range_commit_failure();
    run_t ref;
    run_open(&ref, SABRE_OFFLOAD_INPLACE, 0, 0); /* serial: no pool */
    phys_stats_t want = run_frames(&ref, FRAMES);
    CHECK_EQ(want.rows, N);
    CHECK(want.energy > 0);
    /* stats ran as a system in the late stage */
    CHECK_EQ(ref.phys.stats.rows, N);
    CHECK(ref.phys.stats.energy > 0);
    run_close(&ref);

    /* process mode over the world's own tables: same results, no snapshot
     * objects and nothing to commit */
    {
        run_t r;
        run_open_ex(&r, SABRE_OFFLOAD_PROCESS, 2, 2, true);
        phys_stats_t got = run_frames(&r, FRAMES);
        CHECK(got.checksum == want.checksum);
        sabre_system_stats_t st;
        CHECK_OK(sabre_sched_stats(r.sched, "integrate", &st));
        CHECK_EQ(st.rows, (uint64_t)N * FRAMES);
        CHECK_EQ(st.committed, 0);
        CHECK_EQ(count_objects(r.region, "sched."), 0);
        CHECK(count_objects(r.region, "ecs.") > 1); /* the tables are there */
        check_changed(&r);
        run_close(&r);
    }

    /* the state after exactly one integrate step */
    phys_stats_t after_one;
    {
        run_t r;
        memset(&r, 0, sizeof r);
        CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 4096}, &r.world));
        CHECK_OK(phys_setup(&r.phys, r.world, N, 7));
        CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = r.world}, &r.sched));
        sabre_component_t rv[1] = {r.phys.vel}, wp[1] = {r.phys.pos};
        CHECK_OK(sabre_sched_add(r.sched, &(sabre_system_desc_t){.name = "integrate",
                                                                 .reads = rv,
                                                                 .nreads = 1,
                                                                 .writes = wp,
                                                                 .nwrites = 1,
                                                                 .kernel = phys_integrate,
                                                                 .args = &r.phys.args,
                                                                 .args_len = sizeof r.phys.args}));
        CHECK_OK(sabre_sched_run_frame(r.sched, 1.0 / 30.0, 0));
        CHECK_OK(phys_measure(&r.phys, &after_one));
        run_close(&r);
    }
    test_failure_isolated(&after_one);

    struct {
        sabre_offload_t mode;
        unsigned threads, processes;
    } cases[] = {
        {SABRE_OFFLOAD_INPLACE, 2, 0},  {SABRE_OFFLOAD_INPLACE, 3, 0},
        {SABRE_OFFLOAD_SNAPSHOT, 0, 0}, {SABRE_OFFLOAD_SNAPSHOT, 2, 0},
        {SABRE_OFFLOAD_PROCESS, 2, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r;
        run_open(&r, cases[i].mode, cases[i].threads, cases[i].processes);
        phys_stats_t got = run_frames(&r, FRAMES);
        if (got.checksum != want.checksum)
            fprintf(stderr, "case %zu (mode %d) differs\n", i, (int)cases[i].mode);
        CHECK(got.checksum == want.checksum);
        CHECK(got.energy == want.energy);
        sabre_system_stats_t st;
        CHECK_OK(sabre_sched_stats(r.sched, "integrate", &st));
        CHECK_EQ(st.runs, FRAMES);
        CHECK_EQ(st.rows, (uint64_t)N * FRAMES);
        if (cases[i].mode != SABRE_OFFLOAD_INPLACE)
            CHECK_EQ(st.committed, (uint64_t)N * FRAMES);
        check_changed(&r);
        run_close(&r);
    }

    /* switching modes on a live scheduler keeps the results */
    {
        run_t r;
        run_open(&r, SABRE_OFFLOAD_INPLACE, 2, 2);
        for (int f = 0; f < FRAMES; f++) {
            sabre_offload_t m = (sabre_offload_t)(1 + f % 3);
            CHECK_OK(sabre_sched_set_offload(r.sched, "integrate", m));
            CHECK_OK(sabre_sched_set_offload(r.sched, "bounds", m));
            CHECK_OK(sabre_sched_run_frame(r.sched, 1.0 / 30.0, f / 30.0));
        }
        phys_stats_t got;
        CHECK_OK(phys_measure(&r.phys, &got));
        CHECK(got.checksum == want.checksum);
        CHECK_ERR(sabre_sched_set_offload(r.sched, "stats", SABRE_OFFLOAD_SNAPSHOT), SABRE_EINVAL);
        run_close(&r);
    }

    /* the scheduler's own pool (.threads, .processes) and default offload
     * (.offload): process mode over a MEMFD world's own tables, same
     * results; the systems' NONE takes the default; misuse is refused */
    {
        run_t r;
        memset(&r, 0, sizeof r);
        CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.chunk_rows = 4096,
                                                          .backing = SABRE_BACKING_MEMFD,
                                                          .region_size = 64u << 20},
                                    &r.world));
        CHECK_OK(phys_setup(&r.phys, r.world, N, 7));
        sabre_sched_desc_t sd = {
            .world = r.world, .offload = SABRE_OFFLOAD_PROCESS, .threads = 2, .processes = 2};
        CHECK_OK(sabre_sched_create(&sd, &r.sched));
        CHECK_OK(phys_register(&r.phys, r.sched, SABRE_OFFLOAD_NONE));
        phys_stats_t got = run_frames(&r, FRAMES);
        CHECK(got.checksum == want.checksum);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK_OK(sabre_sched_dump(r.sched, f));
        fclose(f);
        CHECK_STR_CONTAINS(buf, "integrate (kernel, process on the world's tables)");
        free(buf);
        sabre_sched_t *bad = NULL;
        sd.offload = (sabre_offload_t)7;
        CHECK_ERR(sabre_sched_create(&sd, &bad), SABRE_EINVAL);
        CHECK_STR_CONTAINS(sabre_last_error(), "unknown offload 7");
        sabre_pool_t *pool = NULL;
        CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 1}, &pool));
        sd = (sabre_sched_desc_t){.world = r.world, .pool = pool, .threads = 2};
        CHECK_ERR(sabre_sched_create(&sd, &bad), SABRE_EINVAL);
        CHECK_STR_CONTAINS(sabre_last_error(), "not both");
        CHECK(bad == NULL);
        sabre_pool_destroy(pool);
        sabre_sched_destroy(r.sched); /* and its pool, before the world */
        sabre_world_destroy(r.world);
    }
    {
        /* processes over a world whose region cannot be shared: the pool's
         * error, and nothing left behind */
        sabre_world_t *w = NULL;
        sabre_sched_t *bad = NULL;
        CHECK_OK(sabre_world_create(NULL, &w));
        sabre_sched_desc_t sd = {.world = w, .processes = 1};
        CHECK_ERR(sabre_sched_create(&sd, &bad), SABRE_EINVAL);
        CHECK(bad == NULL);
        sabre_world_destroy(w);
    }

    /* a worker process killed mid-frame: that frame fails, the next succeeds
     * (snapshot shape, then the world's own tables) */
    for (int shared = 0; shared <= 1; shared++) {
        run_t r;
        memset(&r, 0, sizeof r);
        CHECK_OK(sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 64u << 20}, &r.region));
        CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.region = shared ? r.region : NULL},
                                    &r.world));
        CHECK_OK(phys_setup(&r.phys, r.world, N, 7));
        CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 1,
                                                        .region = r.region,
                                                        .processes = 2,
                                                        .process_timeout_ns = 20000000000ull},
                                   &r.pool));
        CHECK_OK(
            sabre_sched_create(&(sabre_sched_desc_t){.world = r.world, .pool = r.pool}, &r.sched));
        sabre_component_t rv[1] = {r.phys.vel}, wp[1] = {r.phys.pos};
        CHECK_OK(sabre_sched_add(r.sched, &(sabre_system_desc_t){.name = "integrate",
                                                                 .reads = rv,
                                                                 .nreads = 1,
                                                                 .writes = wp,
                                                                 .nwrites = 1,
                                                                 .kernel = die_kernel,
                                                                 .offload = SABRE_OFFLOAD_PROCESS,
                                                                 .args = &r.phys.args,
                                                                 .args_len = sizeof r.phys.args}));
        for (int f = 0; f < 6; f++) {
            int rc = sabre_sched_run_frame(r.sched, 1.0 / 30.0, 0);
            if (f == 3) {
                CHECK_ERR(rc, SABRE_EPEER);
                CHECK_STR_CONTAINS(sabre_last_error(), "system 'integrate' failed");
                CHECK_STR_CONTAINS(sabre_last_error(), "signal 9");
                CHECK(!sabre_world_in_tick(r.world));
            } else {
                CHECK_OK(rc);
            }
        }
        sabre_pool_stats_t ps;
        CHECK_OK(sabre_pool_stats(r.pool, &ps));
        CHECK(ps.process_deaths >= 1);
        CHECK(ps.process_spawns >= 3);
        run_close(&r);
    }
    return check_done();
}
