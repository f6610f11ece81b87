/*
 * rl_common.h - what the trainer and actor examples share: the step layout
 * of a rollout chunk, the object names, CartPole (Gym's physics) and the
 * linear-logistic policy whose weights travel through the weights object.
 * docs/rl.md walks through both programs.
 */
#ifndef SABRE_EXAMPLES_RL_COMMON_H
#define SABRE_EXAMPLES_RL_COMMON_H

#include <math.h>
#include <stdint.h>

/* One environment step; a chunk holds RL_T steps x RL_E envs of it as
 * structure-of-arrays: obs[T][E][4], act[T][E], rew[T][E], done[T][E], logp[T][E]. */
#define RL_SCHEMA  "struct Step { obs: f32[4]; act: i32; rew: f32; done: u8; logp: f32; }"
#define RL_T       64
#define RL_E       8
#define RL_NPARAM  5 /* 4 weights + bias */
#define RL_WEIGHTS "policy"
#define RL_RING    "rollouts"

enum { F_OBS, F_ACT, F_REW, F_DONE, F_LOGP }; /* field order of RL_SCHEMA */

typedef struct rl_env {
    float x, xd, th, thd;
    uint32_t steps;
} rl_env;

static inline uint64_t rl_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline float rl_uniform(uint64_t *s)
{
    return (float)(rl_rand(s) >> 40) / 16777216.0f;
}

static inline void rl_env_reset(rl_env *e, uint64_t *rng)
{
    e->x = (rl_uniform(rng) - 0.5f) * 0.1f;
    e->xd = (rl_uniform(rng) - 0.5f) * 0.1f;
    e->th = (rl_uniform(rng) - 0.5f) * 0.1f;
    e->thd = (rl_uniform(rng) - 0.5f) * 0.1f;
    e->steps = 0;
}

/* One CartPole-v1 step (Euler, tau 0.02, force +-10); returns done. */
static inline int rl_env_step(rl_env *e, int action)
{
    const float g = 9.8f, mc = 1.0f, mp = 0.1f, l = 0.5f, tau = 0.02f;
    float f = action ? 10.0f : -10.0f;
    float ct = cosf(e->th), st = sinf(e->th);
    float tmp = (f + mp * l * e->thd * e->thd * st) / (mc + mp);
    float tha = (g * st - ct * tmp) / (l * (4.0f / 3.0f - mp * ct * ct / (mc + mp)));
    float xa = tmp - mp * l * tha * ct / (mc + mp);
    e->x += tau * e->xd;
    e->xd += tau * xa;
    e->th += tau * e->thd;
    e->thd += tau * tha;
    e->steps++;
    return e->x < -2.4f || e->x > 2.4f || e->th < -0.2095f || e->th > 0.2095f || e->steps >= 500;
}

/* p(action = 1 | obs) of the linear-logistic policy. */
static inline float rl_policy(const float *w, const float *obs)
{
    float z = w[4];
    for (int k = 0; k < 4; k++)
        z += w[k] * obs[k];
    return 1.0f / (1.0f + expf(-z));
}

#endif
