// SABRE_TEST_LABELS: unit concurrent
/*
 * Scheduler plans and frames: conflicting systems never overlap, systems
 * that do not conflict do run concurrently, explicit order is honoured even
 * without a conflict (the seed scheduler's bug), cycles are named, plans are
 * deterministic, failures still end the tick and flush command buffers.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/internal.h"
#include "sabre/sched.h"

static sabre_world_t *world;
static sabre_component_t A, B, C;

static void new_world(void)
{
    CHECK_OK(sabre_world_create(NULL, &world));
    const char *schema = "struct V { v: f32; }";
    CHECK_OK(sabre_component_define(world, &(sabre_component_desc_t){.name = "A", .schema = schema},
                                    &A));
    CHECK_OK(sabre_component_define(world, &(sabre_component_desc_t){.name = "B", .schema = schema},
                                    &B));
    CHECK_OK(sabre_component_define(world, &(sabre_component_desc_t){.name = "C", .schema = schema},
                                    &C));
}

static int nop(const sabre_sys_ctx_t *c)
{
    (void)c;
    return 0;
}

static uint32_t batch_of(sabre_sched_t *s, const char *name)
{
    const sabre_plan_entry_t *e;
    uint32_t n;
    CHECK_OK(sabre_sched_plan(s, &e, &n));
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(e[i].system, name))
            return e[i].batch;
    CHECK(!"system not in plan");
    return 0;
}

static char *dump(sabre_sched_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f);
    CHECK_OK(sabre_sched_dump(s, f));
    fclose(f);
    return buf;
}

static sabre_sched_t *new_sched(sabre_pool_t *pool)
{
    sabre_sched_t *s;
    CHECK_OK(sabre_sched_create(&(sabre_sched_desc_t){.world = world, .pool = pool}, &s));
    return s;
}

#define SYS(...)   (&(sabre_system_desc_t){.run = nop, __VA_ARGS__})
#define COMPS(...) ((const sabre_component_t[]){__VA_ARGS__})
#define NAMES(...) ((const char *const[]){__VA_ARGS__})

static void test_plan_rules(void)
{
    sabre_sched_t *s = new_sched(NULL);
    /* move writes A; log has no data but runs after move; read reads A */
    CHECK_OK(sabre_sched_add(s, SYS(.name = "log", .after = NAMES("move"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "move", .writes = COMPS(A), .nwrites = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "read", .reads = COMPS(A), .nreads = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "other", .writes = COMPS(B), .nwrites = 1)));
    CHECK_OK(sabre_sched_add(
        s, SYS(.name = "draw", .stage = "render", .reads = COMPS(A, B), .nreads = 2)));
    CHECK_OK(sabre_sched_compile(s));
    /* explicit order honoured without any conflict: the greedy seed
     * scheduler put `log` in the first batch, beside `move` */
    CHECK(batch_of(s, "log") > batch_of(s, "move"));
    /* writer before reader */
    CHECK(batch_of(s, "read") > batch_of(s, "move"));
    /* no conflict, no order: same batch */
    CHECK_EQ(batch_of(s, "other"), batch_of(s, "move"));
    /* stages run in order */
    CHECK(batch_of(s, "draw") > batch_of(s, "read"));
    CHECK(batch_of(s, "draw") > batch_of(s, "log"));
    CHECK_EQ(sabre_sched_batches(s), 3);
    char *d = dump(s);
    CHECK_STR_CONTAINS(d, "move -> log: explicit: log after move");
    CHECK_STR_CONTAINS(d, "move -> read: conflict: move writes A, read reads it");
    CHECK_STR_CONTAINS(d, "stage render");
    free(d);
    sabre_sched_destroy(s);

    /* conflicts follow the explicit order, not registration order */
    s = new_sched(NULL);
    CHECK_OK(sabre_sched_add(
        s, SYS(.name = "w1", .writes = COMPS(A), .nwrites = 1, .after = NAMES("w2"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "w2", .writes = COMPS(A), .nwrites = 1)));
    CHECK_OK(sabre_sched_add(
        s, SYS(.name = "r", .reads = COMPS(A), .nreads = 1, .before = NAMES("w2"), .nbefore = 1)));
    CHECK_OK(sabre_sched_compile(s));
    CHECK(batch_of(s, "r") < batch_of(s, "w2"));
    CHECK(batch_of(s, "w2") < batch_of(s, "w1"));
    sabre_sched_destroy(s);

    /* resources conflict like components */
    s = new_sched(NULL);
    CHECK_OK(
        sabre_sched_add(s, SYS(.name = "score", .writes_res = NAMES("score"), .nwrites_res = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "hud", .reads_res = NAMES("score"), .nreads_res = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "free", .reads_res = NAMES("time"), .nreads_res = 1)));
    CHECK(batch_of(s, "hud") > batch_of(s, "score"));
    CHECK_EQ(batch_of(s, "free"), batch_of(s, "score"));
    d = dump(s);
    CHECK_STR_CONTAINS(d, "conflict: score writes resource 'score', hud reads it");
    free(d);
    int x = 5;
    CHECK_OK(sabre_sched_resource_set(s, "score", &x));
    CHECK(sabre_sched_resource_get(s, "score") == &x);
    CHECK(sabre_sched_resource_get(s, "nope") == NULL);
    sabre_sched_destroy(s);
}

static void test_plan_errors(void)
{
    sabre_sched_t *s = new_sched(NULL);
    CHECK_OK(sabre_sched_add(s, SYS(.name = "a", .after = NAMES("c"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "b", .after = NAMES("a"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "c", .after = NAMES("b"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "free")));
    CHECK_ERR(sabre_sched_compile(s), SABRE_ECYCLE);
    const char *m = sabre_last_error();
    CHECK_STR_CONTAINS(m, "cycle: ");
    CHECK_STR_CONTAINS(m, "a -> b");
    CHECK_STR_CONTAINS(m, "b -> c");
    CHECK_STR_CONTAINS(m, "c -> a");
    CHECK(!strstr(m, "free"));
    CHECK_ERR(sabre_sched_run_frame(s, 0.016, 0), SABRE_ECYCLE);
    CHECK(!sabre_world_in_tick(world));
    sabre_sched_destroy(s);

    s = new_sched(NULL);
    CHECK_OK(sabre_sched_add(s, SYS(.name = "a", .after = NAMES("ghost"), .nafter = 1)));
    CHECK_ERR(sabre_sched_compile(s), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "'ghost'");
    sabre_sched_destroy(s);

    s = new_sched(NULL);
    CHECK_OK(sabre_sched_add(
        s, SYS(.name = "early", .stage = "startup", .after = NAMES("late"), .nafter = 1)));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "late", .stage = "render")));
    CHECK_ERR(sabre_sched_compile(s), SABRE_ECYCLE);
    CHECK_STR_CONTAINS(sabre_last_error(), "against the stage order");
    CHECK_ERR(sabre_sched_add(s, SYS(.name = "late")), SABRE_EEXIST);
    CHECK_ERR(sabre_sched_add(s, SYS(.name = "x", .stage = "nowhere")), SABRE_ENOENT);
    CHECK_ERR(sabre_sched_add(s, &(sabre_system_desc_t){.name = "neither"}), SABRE_EINVAL);
    CHECK_ERR(sabre_sched_add(s, SYS(.name = "y", .writes = COMPS(999), .nwrites = 1)),
              SABRE_ENOENT);
    CHECK_ERR(sabre_sched_add(s, SYS(.name = "z", .offload = SABRE_OFFLOAD_SNAPSHOT)),
              SABRE_EINVAL);
    sabre_sched_destroy(s);

    /* custom stage order */
    CHECK_ERR(
        sabre_sched_create(
            &(sabre_sched_desc_t){.world = world, .stages = NAMES("a", "a"), .nstages = 2}, &s),
        SABRE_EINVAL);
    CHECK_OK(sabre_sched_create(
        &(sabre_sched_desc_t){.world = world, .stages = NAMES("input", "sim"), .nstages = 2}, &s));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "s", .stage = "sim")));
    CHECK_OK(sabre_sched_add(s, SYS(.name = "i", .stage = "input")));
    CHECK(batch_of(s, "i") < batch_of(s, "s"));
    CHECK_ERR(sabre_sched_add(s, SYS(.name = "u")), SABRE_ENOENT); /* no "update" stage */
    sabre_sched_destroy(s);
}

/* The same registrations always give the same plan. */
static void test_deterministic(void)
{
    char *first = NULL;
    for (int round = 0; round < 5; round++) {
        sabre_sched_t *s = new_sched(NULL);
        uint64_t seed = 42;
        for (int i = 0; i < 40; i++) {
            char name[16];
            snprintf(name, sizeof name, "s%02d", i);
            sabre_component_t r[1] = {(sabre_component_t)(seed % 3)};
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            sabre_component_t w[1] = {(sabre_component_t)((seed >> 33) % 3)};
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            bool writes = (seed >> 40) & 1;
            CHECK_OK(sabre_sched_add(s, SYS(.name = name, .reads = r, .nreads = 1, .writes = w,
                                            .nwrites = writes ? 1 : 0)));
        }
        char *d = dump(s);
        if (!first)
            first = d;
        else {
            CHECK(strcmp(first, d) == 0);
            free(d);
        }
        sabre_sched_destroy(s);
    }
    free(first);
}

/* ---- concurrency instrumentation ---------------------------------------- */

static _Atomic int active[3]; /* systems running now that touch A, B, C */
static _Atomic int writers[3];
static _Atomic int violations;
static _Atomic int overlap_seen; /* two non-conflicting systems ran at once */
static _Atomic int running;

typedef struct probe {
    int writes;            /* component index written, -1 none */
    int reads;             /* component index read, -1 none */
    bool wait_for_company; /* spin until another system is running (bounded) */
} probe_t;

static int probe_run(const sabre_sys_ctx_t *c)
{
    const probe_t *p = c->user;
    int now = atomic_fetch_add(&running, 1) + 1;
    if (p->writes >= 0) {
        if (atomic_fetch_add(&writers[p->writes], 1) != 0 || atomic_load(&active[p->writes]) != 0)
            atomic_fetch_add(&violations, 1);
        atomic_fetch_add(&active[p->writes], 1);
    }
    if (p->reads >= 0) {
        if (atomic_load(&writers[p->reads]) != 0)
            atomic_fetch_add(&violations, 1);
        atomic_fetch_add(&active[p->reads], 1);
    }
    uint64_t deadline = sabre__now_ns() + 200000000ull; /* bounded: 200 ms */
    while (p->wait_for_company && now < 2 && atomic_load(&running) < 2 &&
           sabre__now_ns() < deadline)
        sabre__cpu_relax();
    if (atomic_load(&running) >= 2)
        atomic_store(&overlap_seen, 1);
    for (volatile int i = 0; i < 20000; i++)
        ;
    if (p->reads >= 0)
        atomic_fetch_sub(&active[p->reads], 1);
    if (p->writes >= 0) {
        atomic_fetch_sub(&active[p->writes], 1);
        atomic_fetch_sub(&writers[p->writes], 1);
    }
    atomic_fetch_sub(&running, 1);
    return 0;
}

static void test_concurrency(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 3}, &pool));
    sabre_sched_t *s = new_sched(pool);
    static const probe_t wA = {0, -1, false}, rA = {-1, 0, false}, wB = {1, -1, true},
                         wC = {2, -1, true}, rB = {-1, 1, false};
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "wA",
                                                       .run = probe_run,
                                                       .user = (void *)&wA,
                                                       .writes = COMPS(A),
                                                       .nwrites = 1}));
    CHECK_OK(sabre_sched_add(
        s,
        &(sabre_system_desc_t){
            .name = "rA", .run = probe_run, .user = (void *)&rA, .reads = COMPS(A), .nreads = 1}));
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "wA2",
                                                       .run = probe_run,
                                                       .user = (void *)&wA,
                                                       .writes = COMPS(A),
                                                       .nwrites = 1}));
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "wB",
                                                       .run = probe_run,
                                                       .user = (void *)&wB,
                                                       .writes = COMPS(B),
                                                       .nwrites = 1}));
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "wC",
                                                       .run = probe_run,
                                                       .user = (void *)&wC,
                                                       .writes = COMPS(C),
                                                       .nwrites = 1}));
    CHECK_OK(sabre_sched_add(
        s,
        &(sabre_system_desc_t){
            .name = "rB", .run = probe_run, .user = (void *)&rB, .reads = COMPS(B), .nreads = 1}));
    CHECK_EQ(batch_of(s, "wB"), batch_of(s, "wC"));
    unsigned long frames = check_scale(200);
    for (unsigned long f = 0; f < frames; f++)
        CHECK_OK(sabre_sched_run_frame(s, 0.016, (double)f));
    CHECK_EQ(atomic_load(&violations), 0);
    CHECK_EQ(atomic_load(&overlap_seen), 1); /* wB and wC ran at the same time */
    sabre_system_stats_t st;
    CHECK_OK(sabre_sched_stats(s, "wA", &st));
    CHECK_EQ(st.runs, frames);
    sabre_sched_destroy(s);
    sabre_pool_destroy(pool);
}

/* ---- failures ----------------------------------------------------------- */

static int spawn_one(const sabre_sys_ctx_t *c)
{
    sabre_entity_t e;
    return sabre_cmd_create(c->cmd, &e);
}

static int fail_run(const sabre_sys_ctx_t *c)
{
    (void)c;
    return sabre__fail(SABRE_ERANGE, "velocity out of range at entity 7");
}

static _Atomic int later_ran;
static int later(const sabre_sys_ctx_t *c)
{
    (void)c;
    atomic_store(&later_ran, 1);
    return 0;
}

static int empty_ran;
static int empty_run(const sabre_sys_ctx_t *c)
{
    (void)c;
    empty_ran++;
    return 0;
}

static void test_failure(void)
{
    sabre_pool_t *pool;
    CHECK_OK(sabre_pool_create(&(sabre_pool_desc_t){.threads = 2}, &pool));
    sabre_sched_t *s = new_sched(pool);
    CHECK_OK(sabre_sched_add(s, &(sabre_system_desc_t){.name = "spawn", .run = spawn_one}));
    CHECK_OK(sabre_sched_add(
        s, &(sabre_system_desc_t){
               .name = "boom", .run = fail_run, .after = NAMES("spawn"), .nafter = 1}));
    CHECK_OK(sabre_sched_add(
        s, &(sabre_system_desc_t){
               .name = "after_boom", .run = later, .after = NAMES("boom"), .nafter = 1}));
    sabre_component_t tagless[1] = {C};
    CHECK_OK(sabre_sched_add(
        s, &(sabre_system_desc_t){.name = "empty",
                                  .run = empty_run,
                                  .skip_if_empty = true,
                                  .query = &(sabre_query_desc_t){.all = tagless, .nall = 1}}));
    uint64_t before = sabre_world_count(world);
    CHECK_ERR(sabre_sched_run_frame(s, 0.016, 0), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(),
                       "system 'boom' failed: velocity out of range at entity 7");
    CHECK(!sabre_world_in_tick(world));             /* the tick ended */
    CHECK_EQ(sabre_world_count(world), before + 1); /* spawn's command was flushed */
    CHECK_EQ(atomic_load(&later_ran), 0);           /* later batches did not run */
    CHECK_EQ(empty_ran, 0);                         /* skipped: no entity has C */
    sabre_system_stats_t st;
    CHECK_OK(sabre_sched_stats(s, "empty", &st));
    CHECK_EQ(st.skipped, 1);
    CHECK_ERR(sabre_sched_stats(s, "nope", &st), SABRE_ENOENT);
    /* the next frame starts cleanly */
    CHECK_ERR(sabre_sched_run_frame(s, 0.016, 1), SABRE_ERANGE);
    CHECK_EQ(sabre_world_count(world), before + 2);
    sabre_sched_destroy(s);
    sabre_pool_destroy(pool);
}

int main(void)
{
    new_world();
    test_plan_rules();
    test_plan_errors();
    test_deterministic();
    test_concurrency();
    test_failure();
    sabre_world_destroy(world);
    return check_done();
}
