// SABRE_TEST_LABELS: unit concurrent process
/*
 * test_vecenv.c - vector envs: CartPole through the sync API, the bad-input
 * table (every refused call names the problem and changes nothing), seeded
 * sync runs identical for threads and processes and any worker count, and
 * the read-only inspection of a live object.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/internal.h"
#include "sabre/vecenv.h"

#define T_OUT 10000000000ull /* 10 s: never reached unless something hangs */

struct cp_obs {
    float x, x_dot, theta, theta_dot;
};

static void test_vecenv_cartpole_sync_episode(void)
{
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(
        &(sabre_vecenv_desc_t){.env = sabre_env_cartpole(), .workers = 2, .envs_per_worker = 3},
        &ve));
    sabre_vecenv_arrays_t a;
    CHECK_OK(sabre_vecenv_arrays(ve, &a));
    CHECK_EQ(a.envs, 6);
    CHECK_EQ(a.obs_size, 16);
    CHECK_EQ(a.action_size, 4);
    CHECK_STR_CONTAINS(sabre_vecenv_obs_layout(ve)->canonical, "theta_dot:f32");
    CHECK_OK(sabre_vecenv_reset(ve, 7, T_OUT));
    struct cp_obs *obs = a.obs;
    for (uint32_t i = 0; i < a.envs; i++) {
        CHECK_EQ(a.flags[i], SABRE_VECENV_RESET);
        CHECK(fabsf(obs[i].x) <= 0.05f && fabsf(obs[i].theta_dot) <= 0.05f);
    }
    CHECK(obs[0].x != obs[1].x); /* per-env seeds */
    /* Always push right: every episode ends (terminated) in well under 500. */
    int32_t *act = a.actions;
    uint32_t len[6] = {0}, ended = 0;
    for (int t = 0; t < 200; t++) {
        for (uint32_t i = 0; i < a.envs; i++)
            act[i] = 1;
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
        for (uint32_t i = 0; i < a.envs; i++) {
            len[i]++;
            CHECK(a.rewards[i] == 1.0f);
            if (a.terminated[i]) {
                const struct cp_obs *f = (const struct cp_obs *)a.final_obs + i;
                CHECK(fabsf(f->x) > 2.4f || fabsf(f->theta) > 12 * 2 * M_PI / 360);
                CHECK_EQ(a.flags[i], SABRE_VECENV_RESET);
                CHECK_EQ(a.episode_length[i], len[i]);
                CHECK(a.episode_return[i] == (float)len[i]);
                CHECK(fabsf(obs[i].x) <= 0.05f); /* the next episode's first obs */
                len[i] = 0;
                ended++;
            } else {
                CHECK_EQ(a.flags[i], 0);
                CHECK_EQ(a.truncated[i], 0);
            }
        }
    }
    CHECK(ended >= 6);
    sabre_vecenv_stats_t st;
    CHECK_OK(sabre_vecenv_stats(ve, &st));
    CHECK_EQ(st.episodes, ended);
    CHECK_EQ(st.steps, 201 * 6);
    CHECK_EQ(st.batches, 201);
    sabre_vecenv_close(ve);
}

/* CartPole truncates at 500 steps: a balancing controller reaches it. */
static void test_vecenv_cartpole_truncates_at_500(void)
{
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(
        &(sabre_vecenv_desc_t){.env = sabre_env_cartpole(), .workers = 1, .envs_per_worker = 2},
        &ve));
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    CHECK_OK(sabre_vecenv_reset(ve, 1, T_OUT));
    struct cp_obs *obs = a.obs;
    int32_t *act = a.actions;
    for (int t = 1; t <= 500; t++) {
        for (uint32_t i = 0; i < 2; i++) /* a PD controller on angle and position */
            act[i] =
                obs[i].theta + 0.5f * obs[i].theta_dot + 0.01f * obs[i].x + 0.05f * obs[i].x_dot >
                0;
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
        for (uint32_t i = 0; i < 2; i++) {
            CHECK_EQ(a.terminated[i], 0);
            CHECK_EQ(a.truncated[i], t == 500);
        }
    }
    CHECK_EQ(a.episode_length[0], 500);
    CHECK(a.episode_return[1] == 500.0f);
    sabre_vecenv_close(ve);
}

/* ---- bad input ---------------------------------------------------------- */

/* An env with a float action: obs = action; a step with 13 fails. */
static int f_create(const void *c, void **e)
{
    (void)c;
    *e = malloc(1);
    return *e ? 0 : SABRE_ENOMEM;
}
static int f_reset(void *e, uint64_t s, void *o)
{
    (void)e;
    float v = (float)(s & 7);
    memcpy(o, &v, 4);
    return 0;
}
static int f_step(void *e, const void *a, void *o, float *r, bool *te, bool *tr)
{
    (void)e;
    float f;
    memcpy(&f, a, 4);
    memcpy(o, &f, 4);
    *r = f;
    *te = *tr = false;
    if (f == 13.0f)
        return sabre__fail(SABRE_ERANGE, "env 'force': force is 13, an unlucky number");
    return 0;
}
static void f_free(void *e)
{
    free(e);
}
static const sabre_env_class_t force_env = {
    .name = "force",
    .obs_schema = "struct O { v: f32; }",
    .action_schema = "struct A { force: f32; }",
    .finite_actions = true,
    .create = f_create,
    .reset = f_reset,
    .step = f_step,
    .free = f_free,
};

static void test_vecenv_create_refuses_bad_descriptors(void)
{
    sabre_vecenv_t *ve = (sabre_vecenv_t *)1;
    sabre_env_class_t no_step = force_env, bad_schema = force_env, bad_discrete = force_env;
    no_step.step = NULL;
    bad_discrete.discrete_actions = 3; /* but the action is an f32 */
    bad_schema.obs_schema = "struct O { v: f33; }";
    sabre_region_t *priv;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &priv));
    const struct {
        sabre_vecenv_desc_t d;
        int want;
        const char *msg;
    } cases[] = {
        {{.env = NULL, .workers = 1, .envs_per_worker = 1}, SABRE_EINVAL, "env class is NULL"},
        {{.env = &force_env, .workers = 0, .envs_per_worker = 1}, SABRE_EINVAL, "workers is 0"},
        {{.env = &force_env, .workers = 300, .envs_per_worker = 1}, SABRE_EINVAL, "want 1..256"},
        {{.env = &force_env, .workers = 1, .envs_per_worker = 0},
         SABRE_EINVAL,
         "envs_per_worker is 0"},
        {{.env = &no_step, .workers = 1, .envs_per_worker = 1}, SABRE_EINVAL, "lacks its step"},
        {{.env = &bad_schema, .workers = 1, .envs_per_worker = 1},
         SABRE_ESCHEMA,
         "observation schema"},
        {{.env = &force_env,
          .workers = 1,
          .envs_per_worker = 1,
          .action_schema = "struct A { force: f64; }"},
         SABRE_ELAYOUT,
         "force:f32"},
        {{.env = &force_env,
          .workers = 1,
          .envs_per_worker = 1,
          .region = priv,
          .backend = SABRE_VECENV_PROCESSES},
         SABRE_EINVAL,
         "backing is private"},
        {{.env = &force_env, .workers = 1, .envs_per_worker = 1, .backend = 7},
         SABRE_EINVAL,
         "backend is 7"},
        {{.env = &bad_discrete, .workers = 1, .envs_per_worker = 1},
         SABRE_EINVAL,
         "discrete_actions 3 and action layout \"struct A{force:f32;}\", want one i32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_ERR(sabre_vecenv_create(&cases[i].d, &ve), cases[i].want);
        CHECK(ve == NULL);
        CHECK_STR_CONTAINS(sabre_last_error(), cases[i].msg);
    }
    /* The policy's matching schema is accepted. */
    CHECK_OK(
        sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = &force_env,
                                                   .workers = 1,
                                                   .envs_per_worker = 1,
                                                   .region = priv,
                                                   .action_schema = "struct A { force: f32; }"},
                            &ve));
    sabre_vecenv_close(ve);
    sabre_region_close(priv);
}

/* Discrete(n) actions are range-checked by the policy itself: without a
 * check_action the refusal says the range; a check_action that accepts an
 * out-of-range action does not let it through; sync steps (one pass over
 * the rows) and sends (per id) refuse alike, and nothing runs. */
static int d_check_lax(const void *c, const void *a, char *msg, size_t cap)
{
    (void)c, (void)a, (void)msg, (void)cap;
    return 0;
}

static void test_vecenv_discrete_actions_are_checked(void)
{
    sabre_env_class_t plain = *sabre_env_cartpole(), lax = plain;
    plain.name = "disc";
    plain.check_action = NULL;
    plain.discrete_actions = 3;
    lax.name = "lax";
    lax.check_action = d_check_lax;
    const sabre_env_class_t *classes[] = {&plain, &lax};
    for (int c = 0; c < 2; c++) {
        sabre_vecenv_t *ve;
        CHECK_OK(sabre_vecenv_create(
            &(sabre_vecenv_desc_t){.env = classes[c], .workers = 2, .envs_per_worker = 3}, &ve));
        sabre_vecenv_arrays_t a;
        sabre_vecenv_arrays(ve, &a);
        int32_t *act = a.actions;
        CHECK_OK(sabre_vecenv_reset(ve, 5, T_OUT));
        for (uint32_t g = 0; g < 6; g++)
            act[g] = (int32_t)(g % 2);
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
        sabre_vecenv_stats_t before, after;
        CHECK_OK(sabre_vecenv_stats(ve, &before));
        int32_t bad[] = {-1, c ? 2 : 3, INT32_MIN, INT32_MAX};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            act[4] = bad[i];
            CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_EINVAL);
            CHECK_STR_CONTAINS(sabre_last_error(), "env 4 action refused by env");
            CHECK_STR_CONTAINS(sabre_last_error(), c ? "want 0..1" : "want 0..2");
            uint32_t id = 4;
            CHECK_ERR(sabre_vecenv_send(ve, &id, 1), SABRE_EINVAL);
        }
        CHECK_OK(sabre_vecenv_stats(ve, &after));
        CHECK_EQ(after.steps, before.steps); /* nothing ran */
        act[4] = c ? 1 : 2;
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
        sabre_vecenv_close(ve);
    }
}

static void test_vecenv_bad_input_table(void)
{
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(
        &(sabre_vecenv_desc_t){
            .env = &force_env, .workers = 2, .envs_per_worker = 4, .name = "bad"},
        &ve));
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    float *act = a.actions;
    uint32_t ids[8], n = 0;
    /* Nothing works before the first reset. */
    CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_ESTATE);
    CHECK_STR_CONTAINS(sabre_last_error(), "env 0 has not been reset yet");
    CHECK_ERR(sabre_vecenv_send(ve, (uint32_t[]){3}, 1), SABRE_ESTATE);
    CHECK_OK(sabre_vecenv_reset(ve, 5, T_OUT));
    for (int i = 0; i < 8; i++)
        act[i] = 1.0f;

    const struct {
        const char *what;
        uint32_t ids[3];
        uint32_t n;
        int env;
        float value; /* written to that env's action first */
        int want;
        const char *msg;
    } sends[] = {
        {"out of range", {1, 8}, 2, -1, 0, SABRE_EINVAL, "ids[1] is 8, want 0..7"},
        {"huge id", {0xffffffffu}, 1, -1, 0, SABRE_EINVAL, "is 4294967295"},
        {"duplicate", {2, 3, 2}, 3, -1, 0, SABRE_EINVAL, "env id 2 appears twice"},
        {"empty", {0}, 0, -1, 0, SABRE_EINVAL, "send of 0 ids"},
        {"NaN", {4, 5}, 2, 5, NAN, SABRE_ERANGE, "env 5 action field 'force' is nan"},
        {"Inf", {6}, 1, 6, INFINITY, SABRE_ERANGE, "is inf, want a finite number"},
    };
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        if (sends[i].env >= 0)
            act[sends[i].env] = sends[i].value;
        CHECK_ERR(sabre_vecenv_send(ve, sends[i].ids, sends[i].n), sends[i].want);
        CHECK_STR_CONTAINS(sabre_last_error(), "vecenv 'bad'");
        CHECK_STR_CONTAINS(sabre_last_error(), sends[i].msg);
        if (sends[i].env >= 0)
            act[sends[i].env] = 1.0f;
    }
    /* Nothing was sent by the refused calls: a sync step still works. */
    CHECK_ERR(sabre_vecenv_recv(ve, 1, ids, &n, 0), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "batch is 1, want 1..0");
    act[1] = NAN;
    CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_ERANGE);
    act[1] = 2.0f;
    CHECK_OK(sabre_vecenv_step(ve, T_OUT));
    CHECK(((float *)a.obs)[1] == 2.0f);

    /* Async: ids not held, batch sizes, timeout 0. */
    CHECK_OK(sabre_vecenv_send(ve, (uint32_t[]){0, 7}, 2));
    CHECK_ERR(sabre_vecenv_send(ve, (uint32_t[]){7}, 1), SABRE_ESTATE);
    CHECK_STR_CONTAINS(sabre_last_error(), "env 7 is stepping");
    CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_ESTATE);
    CHECK_ERR(sabre_vecenv_reset(ve, 1, T_OUT), SABRE_ESTATE);
    CHECK_ERR(sabre_vecenv_recv(ve, 3, ids, &n, T_OUT), SABRE_EINVAL);
    CHECK_ERR(sabre_vecenv_recv(ve, 0, ids, &n, T_OUT), SABRE_EINVAL);
    CHECK_ERR(sabre_vecenv_recv(ve, 1, NULL, &n, T_OUT), SABRE_EINVAL);
    CHECK_OK(sabre_vecenv_recv(ve, 2, ids, &n, T_OUT));
    CHECK_EQ(n, 2);
    CHECK((ids[0] == 0 && ids[1] == 7) || (ids[0] == 7 && ids[1] == 0));
    CHECK_ERR(sabre_vecenv_recv(ve, 1, ids, &n, 0), SABRE_EINVAL); /* nothing in flight */

    /* CartPole's own check: push must be 0 or 1. */
    sabre_vecenv_t *cp;
    CHECK_OK(sabre_vecenv_create(
        &(sabre_vecenv_desc_t){
            .env = sabre_env_cartpole(), .workers = 1, .envs_per_worker = 2, .name = "cp"},
        &cp));
    sabre_vecenv_arrays_t ca;
    sabre_vecenv_arrays(cp, &ca);
    CHECK_OK(sabre_vecenv_reset(cp, 1, T_OUT));
    ((int32_t *)ca.actions)[1] = 7;
    CHECK_ERR(sabre_vecenv_step(cp, T_OUT), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "env 1 action refused by env 'cartpole': push is 7");
    ((int32_t *)ca.actions)[1] = 0;
    CHECK_OK(sabre_vecenv_step(cp, T_OUT));
    sabre_vecenv_close(cp);

    /* An env function that fails: EJOB with its message, then the vecenv is failed. */
    act[3] = 13.0f;
    CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "env 3: step failed: env 'force': force is 13");
    CHECK_ERR(sabre_vecenv_step(ve, T_OUT), SABRE_ESTATE);
    CHECK_STR_CONTAINS(sabre_last_error(), "failed earlier");
    sabre_vecenv_close(ve);
}

/* ---- determinism -------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* 24 CartPole envs, seed 99, a deterministic policy that depends on the obs
 * and the env id: the hash of every array after every step. */
static uint64_t run_seeded(uint32_t workers, sabre_vecenv_backend_t backend, int steps)
{
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                        .workers = workers,
                                                        .envs_per_worker = 24 / workers,
                                                        .backend = backend},
                                 &ve));
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    CHECK_OK(sabre_vecenv_reset(ve, 99, T_OUT));
    uint64_t h = 0xcbf29ce484222325ull;
    struct cp_obs *obs = a.obs;
    int32_t *act = a.actions;
    for (int t = 0; t < steps; t++) {
        for (uint32_t i = 0; i < a.envs; i++)
            act[i] = (obs[i].x + obs[i].theta > 0) ^ ((i * 7 + (uint32_t)t) % 5 == 0);
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
        h = fnv(h, a.obs, (size_t)a.envs * a.obs_size);
        h = fnv(h, a.final_obs, (size_t)a.envs * a.obs_size);
        h = fnv(h, a.rewards, a.envs * 4u);
        h = fnv(h, a.terminated, a.envs);
        h = fnv(h, a.truncated, a.envs);
        h = fnv(h, a.flags, a.envs);
        h = fnv(h, a.episode_length, a.envs * 4u);
    }
    sabre_vecenv_stats_t st;
    sabre_vecenv_stats(ve, &st);
    CHECK(st.episodes > 48); /* the runs cross many auto-resets */
    sabre_vecenv_close(ve);
    return h;
}

static void test_vecenv_seeded_sync_identical_for_any_workers_and_backend(void)
{
    int steps = 400;
    uint64_t ref = run_seeded(1, SABRE_VECENV_THREADS, steps);
    CHECK(ref == run_seeded(2, SABRE_VECENV_THREADS, steps));
    CHECK(ref == run_seeded(3, SABRE_VECENV_THREADS, steps));
    CHECK(ref == run_seeded(2, SABRE_VECENV_PROCESSES, steps));
    CHECK(ref == run_seeded(4, SABRE_VECENV_PROCESSES, steps));
}

/* ---- inspection --------------------------------------------------------- */

static void test_vecenv_inspect_reads_live_state(void)
{
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 4 << 20}, &r));
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_null(),
                                                        .workers = 2,
                                                        .envs_per_worker = 4,
                                                        .backend = SABRE_VECENV_PROCESSES,
                                                        .region = r,
                                                        .name = "envs"},
                                 &ve));
    CHECK_OK(sabre_vecenv_reset(ve, 3, T_OUT));
    for (int t = 0; t < 10; t++)
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
    CHECK_OK(sabre_vecenv_send(ve, (uint32_t[]){1, 6}, 2));
    uint32_t ids[2], n;
    CHECK_OK(sabre_vecenv_recv(ve, 1, ids, &n, T_OUT)); /* one still in flight */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, "envs", NULL, &o));
    CHECK_EQ(o.kind, SABRE_OBJ_VECENV);
    CHECK(strcmp(sabre_object_kind_name(o.kind), "vecenv") == 0);
    sabre_vecenv_info_t in;
    CHECK_OK(sabre_vecenv_inspect(r, &o, &in));
    CHECK(strcmp(in.env, "null") == 0);
    CHECK_EQ(in.workers, 2);
    CHECK_EQ(in.envs, 8);
    CHECK_EQ(in.steps, 8 * 11 + 1);
    CHECK_EQ(in.batches, 12);
    CHECK_EQ(in.seed, 3);
    CHECK(in.policy_alive);
    CHECK_STR_CONTAINS(in.obs_schema, "struct NullObs");
    uint32_t flight = 0, steps = 0;
    for (uint32_t w = 0; w < 2; w++) {
        sabre_vecenv_worker_info_t wi;
        CHECK_OK(sabre_vecenv_inspect_worker(r, &o, w, &wi));
        CHECK(wi.alive);
        CHECK_EQ(wi.pid, sabre_vecenv_worker_pid(ve, w));
        CHECK(wi.heartbeat_age_ns != UINT64_MAX);
        CHECK_EQ(wi.generation, 0);
        flight += wi.in_flight;
        steps += (uint32_t)wi.steps;
    }
    CHECK_EQ(flight, 1);
    CHECK(steps >= 8 * 11 + 1);
    sabre_vecenv_worker_info_t wi;
    CHECK_ERR(sabre_vecenv_inspect_worker(r, &o, 2, &wi), SABRE_EINVAL);
    /* A corrupt header is refused, naming the field. */
    uint32_t *workers = (uint32_t *)((char *)o.ptr + 16);
    *workers = 3;
    CHECK_ERR(sabre_vecenv_inspect(r, &o, &in), SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "workers x envs_per_worker is 3 x 4");
    *workers = 2;
    uint64_t *obs_off = (uint64_t *)((char *)o.ptr + 128);
    *obs_off += 64;
    CHECK_ERR(sabre_vecenv_inspect(r, &o, &in), SABRE_ECORRUPT);
    *obs_off -= 64;
    CHECK_OK(sabre_vecenv_inspect(r, &o, &in));
    sabre_vecenv_close(ve);
    sabre_region_close(r);
}

static char *run_tool(const char *args)
{
    const char *tool = getenv("SABRE_TOOL");
    if (!tool || access(tool, X_OK) != 0)
        return NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char *buf = calloc(1, 1 << 16);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, (1 << 16) - 1, p);
    buf[n] = '\0';
    CHECK_EQ(pclose(p), 0);
    return buf;
}

/* `sabre inspect` on a live vecenv in a named region, text and JSON. */
static void test_vecenv_inspect_tool_shows_workers(void)
{
    char name[64];
    snprintf(name, sizeof name, "/sabre-test-vecenv-%d", (int)getpid());
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = name,
                                                        .size = 4 << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                        .workers = 2,
                                                        .envs_per_worker = 3,
                                                        .backend = SABRE_VECENV_PROCESSES,
                                                        .region = r,
                                                        .name = "pole"},
                                 &ve));
    CHECK_OK(sabre_vecenv_reset(ve, 11, T_OUT));
    for (int t = 0; t < 5; t++)
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
    char *out = run_tool(name);
    if (!out) {
        printf("SABRE_TOOL not set: the command itself was not run\n");
    } else {
        CHECK_STR_CONTAINS(out, "vecenv: env 'cartpole', processes, 2 workers x 3 envs = 6");
        CHECK_STR_CONTAINS(out, "seed 11: 36 env steps in 6 batches");
        CHECK_STR_CONTAINS(out, "obs: struct CartPoleObs");
        char want[96];
        snprintf(want, sizeof want, "worker 1: pid %d (alive), generation 0",
                 sabre_vecenv_worker_pid(ve, 1));
        CHECK_STR_CONTAINS(out, want);
        free(out);
        char args[96];
        snprintf(args, sizeof args, "%s --json", name);
        out = run_tool(args);
        CHECK(out != NULL);
        CHECK_STR_CONTAINS(out, "\"kind\": \"vecenv\"");
        CHECK_STR_CONTAINS(out, "\"env\": \"cartpole\", \"backend\": \"processes\"");
        CHECK_STR_CONTAINS(out, "\"steps\": 36");
        CHECK_STR_CONTAINS(out, "\"worker_state\": [{\"worker\": 0");
        free(out);
    }
    sabre_vecenv_close(ve);
    sabre_region_close(r);
    sabre_region_unlink(SABRE_BACKING_SHM, name);
}

int main(void)
{
    test_vecenv_cartpole_sync_episode();
    test_vecenv_cartpole_truncates_at_500();
    test_vecenv_create_refuses_bad_descriptors();
    test_vecenv_bad_input_table();
    test_vecenv_discrete_actions_are_checked();
    test_vecenv_seeded_sync_identical_for_any_workers_and_backend();
    test_vecenv_inspect_reads_live_state();
    test_vecenv_inspect_tool_shows_workers();
    return check_done();
}
