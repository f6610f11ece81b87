// SABRE_TEST_LABELS: unit concurrent process
/*
 * test_vecenv_stress.c - every env step's observation reaches the policy
 * exactly once and every action reaches the right env, for threads and
 * processes, sync and async, with envs of uneven step cost.
 *
 * The null env echoes the action it applied, counts its episode's steps,
 * reports the low bits of its episode seed and a checksum of the three.
 * The policy gives env g at its n-th send a value unique to (g, n) and
 * checks, for each delivered env: it was sent and not yet delivered
 * (exactly once), the echo is the value sent to *that* env, the step count
 * is the previous one + 1 (or the episode ended at the horizon and the
 * final observation says so), the seed is sabre_vecenv_seed(seed, g,
 * episode), and the checksum matches.  Totals: deliveries == sends.
 *
 * Worker threads share the steps with the policy thread (it steps worker
 * 0's share of a sync step and claims requests the workers have not
 * claimed, docs/vecenv.md "Handoff"): the same checks hold for whoever
 * stepped an env, with 1 worker every sync step is the policy's, and with
 * envs_thread_bound none is, and an env that remembers the thread that
 * created it is never stepped on another.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "sabre/vecenv.h"

#define T_OUT   20000000000ull
#define HORIZON 5u
#define SEED    1234u

struct null_obs {
    uint32_t step;
    int32_t action;
    uint32_t seed;
    uint32_t check;
};

struct policy {
    sabre_vecenv_arrays_t a;
    uint32_t *step, *episode, *sends;
    uint8_t *out;
    uint64_t sent, delivered, checks;
};

static void send_value(struct policy *p, uint32_t g)
{
    ((int32_t *)p->a.actions)[g] = (int32_t)((g << 12) ^ (p->sends[g]++ & 0xfffu));
    p->out[g] = 1;
    p->sent++;
}

static void verify_obs(struct policy *p, uint32_t g, const struct null_obs *o, uint32_t step,
                       int32_t action)
{
    CHECK_EQ(o->step, step);
    CHECK_EQ(o->action, action);
    CHECK_EQ(o->seed, (uint32_t)sabre_vecenv_seed(SEED, g, p->episode[g]));
    CHECK_EQ(o->check, sabre_env_null_check(o->seed, step, action));
    p->checks++;
}

/* A delivered result of env g, after a step with action value a. */
static void delivered(struct policy *p, uint32_t g)
{
    CHECK(p->out[g] == 1); /* exactly once */
    p->out[g] = 0;
    p->delivered++;
    int32_t a = ((int32_t *)p->a.actions)[g];
    const struct null_obs *o = (const struct null_obs *)p->a.obs + g;
    CHECK(p->a.rewards[g] == (float)a);
    uint32_t want = p->step[g] + 1;
    if (want == HORIZON) {
        CHECK_EQ(p->a.truncated[g], 1);
        CHECK_EQ(p->a.flags[g], SABRE_VECENV_RESET);
        CHECK_EQ(p->a.episode_length[g], HORIZON);
        CHECK(p->a.episode_return[g] != 0.0f || a == 0);
        verify_obs(p, g, (const struct null_obs *)p->a.final_obs + g, want, a);
        p->episode[g]++;
        p->step[g] = 0;
        verify_obs(p, g, o, 0, 0);
    } else {
        CHECK_EQ(p->a.truncated[g], 0);
        CHECK_EQ(p->a.flags[g], 0);
        p->step[g] = want;
        verify_obs(p, g, o, want, a);
    }
}

static void run_opt(sabre_vecenv_backend_t backend, uint32_t workers, uint32_t e, uint32_t batch,
                    uint32_t cost_ns, uint32_t rounds, bool bound)
{
    sabre_env_null_config_t cfg = {.horizon = HORIZON, .cost_max_ns = cost_ns};
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_null(),
                                                        .env_config = &cfg,
                                                        .workers = workers,
                                                        .envs_per_worker = e,
                                                        .backend = backend,
                                                        .spin_ns = 20000,
                                                        .envs_thread_bound = bound},
                                 &ve));
    struct policy p = {0};
    sabre_vecenv_arrays(ve, &p.a);
    uint32_t envs = p.a.envs;
    p.step = calloc(envs, 4);
    p.episode = calloc(envs, 4);
    p.sends = calloc(envs, 4);
    p.out = calloc(envs, 1);
    uint32_t *ids = calloc(envs, 4);
    CHECK_OK(sabre_vecenv_reset(ve, SEED, T_OUT));
    for (uint32_t g = 0; g < envs; g++) {
        CHECK_EQ(p.a.flags[g], SABRE_VECENV_RESET);
        verify_obs(&p, g, (const struct null_obs *)p.a.obs + g, 0, 0);
    }
    if (batch == 0) { /* sync */
        for (uint32_t r = 0; r < rounds; r++) {
            for (uint32_t g = 0; g < envs; g++)
                send_value(&p, g);
            CHECK_OK(sabre_vecenv_step(ve, T_OUT));
            for (uint32_t g = 0; g < envs; g++)
                delivered(&p, g);
        }
    } else {
        for (uint32_t g = 0; g < envs; g++) {
            send_value(&p, g);
            ids[g] = g;
        }
        CHECK_OK(sabre_vecenv_send(ve, ids, envs));
        for (uint32_t r = 0; r < rounds; r++) {
            uint32_t n = 0;
            CHECK_OK(sabre_vecenv_recv(ve, batch, ids, &n, T_OUT));
            CHECK_EQ(n, batch);
            for (uint32_t i = 0; i < n; i++) {
                delivered(&p, ids[i]);
                send_value(&p, ids[i]);
            }
            CHECK_OK(sabre_vecenv_send(ve, ids, n));
        }
        uint32_t n = 0, left = (uint32_t)(p.sent - p.delivered);
        CHECK_OK(sabre_vecenv_recv(ve, left, ids, &n, T_OUT));
        CHECK_EQ(n, left);
        for (uint32_t i = 0; i < n; i++)
            delivered(&p, ids[i]);
    }
    CHECK_EQ(p.delivered, p.sent);
    sabre_vecenv_stats_t st;
    CHECK_OK(sabre_vecenv_stats(ve, &st));
    CHECK_EQ(st.steps, p.delivered + envs); /* + the reset */
    CHECK_EQ(st.faults, 0);
    uint64_t episodes = 0;
    for (uint32_t g = 0; g < envs; g++)
        episodes += p.episode[g];
    CHECK_EQ(st.episodes, episodes);
    CHECK(st.policy_steps <= st.steps);
    if (bound || backend == SABRE_VECENV_PROCESSES)
        CHECK_EQ(st.policy_steps, 0);
    else if (workers == 1 && batch == 0)
        CHECK_EQ(st.policy_steps, st.steps); /* worker 0's share: the policy's */
    printf("%-9s %u x %-3u %-5s batch %-3u cost <= %u ns%s: %llu steps checked, %llu episodes, "
           "%llu stepped by the policy thread\n",
           backend == SABRE_VECENV_THREADS ? "threads" : "processes", workers, e,
           batch ? "async" : "sync", batch, cost_ns, bound ? " (thread-bound)" : "",
           (unsigned long long)p.checks, (unsigned long long)episodes,
           (unsigned long long)st.policy_steps);
    sabre_vecenv_close(ve);
    free(p.step);
    free(p.episode);
    free(p.sends);
    free(p.out);
    free(ids);
}

static void run(sabre_vecenv_backend_t backend, uint32_t workers, uint32_t e, uint32_t batch,
                uint32_t cost_ns, uint32_t rounds)
{
    run_opt(backend, workers, e, batch, cost_ns, rounds, false);
}

static void test_vecenv_exactly_once_threads(void)
{
    uint32_t r = (uint32_t)check_scale(3000);
    run(SABRE_VECENV_THREADS, 2, 8, 0, 0, r);
    run(SABRE_VECENV_THREADS, 3, 5, 0, 500, r / 4);
    run(SABRE_VECENV_THREADS, 2, 8, 8, 0, r);
    run(SABRE_VECENV_THREADS, 3, 5, 4, 2000, r);
    run(SABRE_VECENV_THREADS, 1, 64, 16, 0, r);
    run(SABRE_VECENV_THREADS, 1, 8, 0, 0, r);
    run(SABRE_VECENV_THREADS, 4, 2, 0, 0, r);   /* more workers than cores: claims race */
    run(SABRE_VECENV_THREADS, 4, 3, 5, 300, r); /* async: the policy claims single requests */
    run_opt(SABRE_VECENV_THREADS, 2, 8, 0, 0, r, true);
    run_opt(SABRE_VECENV_THREADS, 3, 5, 4, 500, r, true);
}

/* An env bound to the thread that created it (like a GL context): its
 * step fails on any other thread. */
struct bound_env {
    pthread_t owner;
    uint32_t steps;
};

static int b_create(const void *c, void **e)
{
    (void)c;
    struct bound_env *b = calloc(1, sizeof *b);
    if (!b)
        return SABRE_ENOMEM;
    b->owner = pthread_self();
    *e = b;
    return SABRE_OK;
}

static int b_reset(void *e, uint64_t s, void *o)
{
    (void)s;
    struct bound_env *b = e;
    b->steps = 0;
    memset(o, 0, 4);
    return pthread_equal(b->owner, pthread_self()) ? SABRE_OK : SABRE_ESTATE;
}

static int b_step(void *e, const void *a, void *o, float *r, bool *te, bool *tr)
{
    (void)a;
    struct bound_env *b = e;
    b->steps++;
    memcpy(o, &b->steps, 4);
    *r = 1;
    *te = false;
    *tr = b->steps == 50;
    return pthread_equal(b->owner, pthread_self()) ? SABRE_OK : SABRE_ESTATE;
}

static atomic_uint foreign_frees;

static void b_free(void *e)
{
    struct bound_env *b = e;
    if (!pthread_equal(b->owner, pthread_self()))
        atomic_fetch_add(&foreign_frees, 1);
    free(b);
}

static const sabre_env_class_t bound_class = {
    .name = "bound",
    .obs_schema = "struct BoundObs { steps: u32; }",
    .action_schema = "struct BoundAction { a: i32; }",
    .create = b_create,
    .reset = b_reset,
    .step = b_step,
    .free = b_free,
};

static void test_vecenv_thread_bound_envs_stay_on_their_thread(void)
{
    sabre_vecenv_t *ve;
    CHECK_OK(sabre_vecenv_create(
        &(sabre_vecenv_desc_t){
            .env = &bound_class, .workers = 3, .envs_per_worker = 4, .envs_thread_bound = true},
        &ve));
    CHECK_OK(sabre_vecenv_reset(ve, 7, T_OUT));
    uint32_t rounds = (uint32_t)check_scale(2000), ids[12], n = 0;
    for (uint32_t r = 0; r < rounds; r++)
        CHECK_OK(sabre_vecenv_step(ve, T_OUT));
    for (uint32_t g = 0; g < 12; g++)
        ids[g] = g;
    CHECK_OK(sabre_vecenv_send(ve, ids, 12));
    for (uint32_t r = 0; r < rounds; r++) {
        CHECK_OK(sabre_vecenv_recv(ve, 5, ids, &n, T_OUT));
        CHECK_OK(sabre_vecenv_send(ve, ids, n));
    }
    CHECK_OK(sabre_vecenv_recv(ve, 12, ids, &n, T_OUT));
    sabre_vecenv_stats_t st;
    CHECK_OK(sabre_vecenv_stats(ve, &st));
    CHECK_EQ(st.policy_steps, 0);
    sabre_vecenv_close(ve);
    CHECK_EQ(atomic_load(&foreign_frees), 0); /* freed on their own threads too */
}

static void test_vecenv_exactly_once_processes(void)
{
    uint32_t r = (uint32_t)check_scale(3000);
    run(SABRE_VECENV_PROCESSES, 2, 8, 0, 0, r);
    run(SABRE_VECENV_PROCESSES, 2, 8, 8, 0, r);
    run(SABRE_VECENV_PROCESSES, 3, 5, 7, 2000, r);
}

int main(void)
{
    test_vecenv_exactly_once_threads();
    test_vecenv_thread_bound_envs_stay_on_their_thread();
    test_vecenv_exactly_once_processes();
    return check_done();
}
