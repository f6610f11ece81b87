/*
 * envs.c - the built-in environments (CartPole, the null env) and the
 * per-env seed function.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sabre/vecenv.h"

static uint64_t mix64(uint64_t z) /* splitmix64's finaliser */
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t next64(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sabre_vecenv_seed(uint64_t seed, uint32_t env, uint32_t episode)
{
    return mix64(seed ^ mix64(((uint64_t)env << 32) | episode));
}

/* ---- CartPole (gymnasium CartPole-v1) ------------------------------------ */

struct cartpole {
    double x, x_dot, theta, theta_dot;
    uint32_t steps;
    bool done;
};

static int cp_create(const void *config, void **env)
{
    (void)config;
    *env = calloc(1, sizeof(struct cartpole));
    return *env ? SABRE_OK : sabre__fail(SABRE_ENOMEM, "env 'cartpole': out of memory");
}

static void cp_obs(const struct cartpole *c, void *obs)
{
    float o[4] = {(float)c->x, (float)c->x_dot, (float)c->theta, (float)c->theta_dot};
    memcpy(obs, o, sizeof o);
}

static int cp_reset(void *env, uint64_t seed, void *obs)
{
    struct cartpole *c = env;
    uint64_t s = seed;
    double *v[4] = {&c->x, &c->x_dot, &c->theta, &c->theta_dot};
    for (int i = 0; i < 4; i++) /* uniform in [-0.05, 0.05) */
        *v[i] = ((double)(next64(&s) >> 11) / 9007199254740992.0 - 0.5) * 0.1;
    c->steps = 0;
    c->done = false;
    cp_obs(c, obs);
    return SABRE_OK;
}

static int cp_step(void *env, const void *action, void *obs, float *reward, bool *terminated,
                   bool *truncated)
{
    const double gravity = 9.8, masscart = 1.0, masspole = 0.1, total_mass = masscart + masspole,
                 length = 0.5, polemass_length = masspole * length, force_mag = 10.0, tau = 0.02;
    const double theta_threshold = 12 * 2 * M_PI / 360, x_threshold = 2.4;
    struct cartpole *c = env;
    int32_t push;
    memcpy(&push, action, sizeof push);
    double force = push == 1 ? force_mag : -force_mag;
    double ct = cos(c->theta), st = sin(c->theta);
    double temp = (force + polemass_length * c->theta_dot * c->theta_dot * st) / total_mass;
    double thetaacc =
        (gravity * st - ct * temp) / (length * (4.0 / 3.0 - masspole * ct * ct / total_mass));
    double xacc = temp - polemass_length * thetaacc * ct / total_mass;
    c->x += tau * c->x_dot;
    c->x_dot += tau * xacc;
    c->theta += tau * c->theta_dot;
    c->theta_dot += tau * thetaacc;
    c->steps++;
    *terminated = c->x < -x_threshold || c->x > x_threshold || c->theta < -theta_threshold ||
                  c->theta > theta_threshold;
    *truncated = c->steps >= 500; /* gymnasium's TimeLimit(max_episode_steps=500) */
    *reward = c->done ? 0.0f : 1.0f;
    c->done = *terminated;
    cp_obs(c, obs);
    return SABRE_OK;
}

static void cp_free(void *env)
{
    free(env);
}

static int cp_check(const void *config, const void *action, char *msg, size_t cap)
{
    (void)config;
    int32_t push;
    memcpy(&push, action, sizeof push);
    if (push == 0 || push == 1)
        return SABRE_OK;
    snprintf(msg, cap, "push is %d, want 0 (left) or 1 (right)", (int)push);
    return SABRE_EINVAL;
}

static const sabre_env_class_t cartpole_class = {
    .name = "cartpole",
    .obs_schema = "struct CartPoleObs { x: f32; x_dot: f32; theta: f32; theta_dot: f32; }",
    .action_schema = "struct CartPoleAction { push: i32; }",
    .finite_actions = true,
    .create = cp_create,
    .reset = cp_reset,
    .step = cp_step,
    .free = cp_free,
    .check_action = cp_check,
    .discrete_actions = 2,
};

const sabre_env_class_t *sabre_env_cartpole(void)
{
    return &cartpole_class;
}

/* ---- the null env -------------------------------------------------------- */

struct nullenv {
    uint32_t seed, step, horizon, cost_min, cost_max;
    uint64_t rng;
};

struct null_obs {
    uint32_t step;
    int32_t action;
    uint32_t seed;
    uint32_t check;
};

uint32_t sabre_env_null_check(uint32_t seed, uint32_t step, int32_t action)
{
    return (uint32_t)mix64(((uint64_t)seed << 32) ^ ((uint64_t)step << 1) ^
                           ((uint64_t)(uint32_t)action * 0x9e3779b1ull));
}

static int null_create(const void *config, void **env)
{
    const sabre_env_null_config_t *cfg = config;
    struct nullenv *n = calloc(1, sizeof *n);
    if (!n)
        return sabre__fail(SABRE_ENOMEM, "env 'null': out of memory");
    n->horizon = cfg && cfg->horizon ? cfg->horizon : 1000;
    n->cost_min = cfg ? cfg->cost_min_ns : 0;
    n->cost_max = cfg ? SABRE_MAX(cfg->cost_max_ns, cfg->cost_min_ns) : 0;
    *env = n;
    return SABRE_OK;
}

static int null_reset(void *env, uint64_t seed, void *obs)
{
    struct nullenv *n = env;
    n->seed = (uint32_t)seed;
    n->rng = seed;
    n->step = 0;
    struct null_obs o = {0, 0, n->seed, sabre_env_null_check(n->seed, 0, 0)};
    memcpy(obs, &o, sizeof o);
    return SABRE_OK;
}

static int null_step(void *env, const void *action, void *obs, float *reward, bool *terminated,
                     bool *truncated)
{
    struct nullenv *n = env;
    int32_t a;
    memcpy(&a, action, sizeof a);
    if (n->cost_max) {
        uint64_t span = (uint64_t)n->cost_max - n->cost_min + 1;
        uint64_t until = sabre__now_ns() + n->cost_min + next64(&n->rng) % span;
        while (sabre__now_ns() < until)
            sabre__cpu_relax();
    }
    n->step++;
    struct null_obs o = {n->step, a, n->seed, sabre_env_null_check(n->seed, n->step, a)};
    memcpy(obs, &o, sizeof o);
    *reward = (float)a;
    *terminated = false;
    *truncated = n->step >= n->horizon;
    return SABRE_OK;
}

static void null_free(void *env)
{
    free(env);
}

static const sabre_env_class_t null_class = {
    .name = "null",
    .obs_schema = "struct NullObs { step: u32; action: i32; seed: u32; check: u32; }",
    .action_schema = "struct NullAction { value: i32; }",
    .finite_actions = true,
    .create = null_create,
    .reset = null_reset,
    .step = null_step,
    .free = null_free,
};

const sabre_env_class_t *sabre_env_null(void)
{
    return &null_class;
}
