/*
 * rl_common.h - what the trainer and actor examples share: the step layout
 * of a rollout chunk, the object names and the linear-logistic policy
 * whose weights travel through the weights object.
 * docs/rl.md walks through both programs.
 */
#ifndef SABRE_EXAMPLES_RL_COMMON_H
#define SABRE_EXAMPLES_RL_COMMON_H

#include <math.h>
#include <stdint.h>

#include "rl/cartpole.h"

/* One environment step; a chunk holds RL_T steps x RL_E envs of it as
 * structure-of-arrays: obs[T][E][4], act[T][E], rew[T][E], done[T][E], logp[T][E]. */
#define RL_SCHEMA  "struct Step { obs: f32[4]; act: i32; rew: f32; done: u8; logp: f32; }"
#define RL_T       64
#define RL_E       8
#define RL_NPARAM  5 /* 4 weights + bias */
#define RL_WEIGHTS "policy"
#define RL_RING    "rollouts"

enum { F_OBS, F_ACT, F_REW, F_DONE, F_LOGP }; /* field order of RL_SCHEMA */

/* The environment is examples/rl/cartpole.h's CartPole-v1 (also the RL
 * demo's): cp_env, cp_reset, cp_observe, cp_step, cp_uniform. */

/* p(action = 1 | obs) of the linear-logistic policy. */
static inline float rl_policy(const float *w, const float *obs)
{
    float z = w[4];
    for (int k = 0; k < 4; k++)
        z += w[k] * obs[k];
    return 1.0f / (1.0f + expf(-z));
}

#endif
