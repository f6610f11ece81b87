/*
 * cartpole.h - CartPole-v1 as gymnasium defines it, and the policy network
 * the RL demo's actors run (header only; `sabre demo rl`, examples/rl/).
 *
 * Environment (gymnasium CartPole-v1): Euler integration with tau 0.02 s,
 * force +-10 N, gravity 9.8, cart 1 kg, pole 0.1 kg, half length 0.5 m;
 * the state starts uniform in [-0.05, 0.05]^4; an episode terminates when
 * |x| > 2.4 or |theta| > 12 degrees and is truncated after 500 steps;
 * every step, the last included, earns reward 1.  The state is kept in
 * double precision (gymnasium's float64) and observed as f32.
 *
 * Policy: an MLP obs[4] -> tanh(H) -> logits[2] whose parameters are one
 * f32 array (CP_NPARAM floats), the payload of the weights object:
 *     W1[H][4], b1[H], W2[2][H], b2[2]
 */
#ifndef SABRE_EXAMPLES_RL_CARTPOLE_H
#define SABRE_EXAMPLES_RL_CARTPOLE_H

#include <math.h>
#include <stdint.h>

#define CP_OBS       4
#define CP_ACT       2
#define CP_HIDDEN    64
#define CP_MAX_STEPS 500
#define CP_NPARAM    (CP_HIDDEN * CP_OBS + CP_HIDDEN + CP_ACT * CP_HIDDEN + CP_ACT)

/* Offsets of the policy's tensors in the parameter array. */
#define CP_W1 0
#define CP_B1 (CP_W1 + CP_HIDDEN * CP_OBS)
#define CP_W2 (CP_B1 + CP_HIDDEN)
#define CP_B2 (CP_W2 + CP_ACT * CP_HIDDEN)

typedef struct cp_env {
    double x, xd, th, thd;
    uint32_t steps;
} cp_env;

static inline uint64_t cp_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double cp_uniform(uint64_t *s)
{
    return (double)(cp_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void cp_reset(cp_env *e, uint64_t *rng)
{
    e->x = cp_uniform(rng) * 0.1 - 0.05;
    e->xd = cp_uniform(rng) * 0.1 - 0.05;
    e->th = cp_uniform(rng) * 0.1 - 0.05;
    e->thd = cp_uniform(rng) * 0.1 - 0.05;
    e->steps = 0;
}

static inline void cp_observe(const cp_env *e, float *obs)
{
    obs[0] = (float)e->x, obs[1] = (float)e->xd, obs[2] = (float)e->th, obs[3] = (float)e->thd;
}

/* One step with action 0 (push left) or 1 (push right).  Returns 0 while
 * the episode runs, CP_TERMINATED or CP_TRUNCATED when it ended here. */
enum { CP_RUNNING = 0, CP_TERMINATED = 1, CP_TRUNCATED = 2 };

static inline int cp_step(cp_env *e, int action)
{
    const double g = 9.8, mc = 1.0, mp = 0.1, l = 0.5, tau = 0.02;
    const double theta_max = 12.0 * 2.0 * 3.14159265358979323846 / 360.0;
    double f = action ? 10.0 : -10.0;
    double ct = cos(e->th), st = sin(e->th);
    double tmp = (f + mp * l * e->thd * e->thd * st) / (mc + mp);
    double tha = (g * st - ct * tmp) / (l * (4.0 / 3.0 - mp * ct * ct / (mc + mp)));
    double xa = tmp - mp * l * tha * ct / (mc + mp);
    e->x += tau * e->xd;
    e->xd += tau * xa;
    e->th += tau * e->thd;
    e->thd += tau * tha;
    e->steps++;
    if (e->x < -2.4 || e->x > 2.4 || e->th < -theta_max || e->th > theta_max)
        return CP_TERMINATED;
    return e->steps >= CP_MAX_STEPS ? CP_TRUNCATED : CP_RUNNING;
}

/* Logits of the policy for one observation. */
static inline void cp_logits(const float *w, const float *obs, float logits[CP_ACT])
{
    float l0 = w[CP_B2], l1 = w[CP_B2 + 1];
    for (int j = 0; j < CP_HIDDEN; j++) {
        const float *r = &w[CP_W1 + j * CP_OBS];
        float h =
            tanhf(w[CP_B1 + j] + r[0] * obs[0] + r[1] * obs[1] + r[2] * obs[2] + r[3] * obs[3]);
        l0 += w[CP_W2 + j] * h;
        l1 += w[CP_W2 + CP_HIDDEN + j] * h;
    }
    logits[0] = l0, logits[1] = l1;
}

/* Sample an action (u uniform in [0, 1)); *logp receives its log-probability. */
static inline int cp_act(const float *w, const float *obs, double u, float *logp)
{
    float z[CP_ACT];
    cp_logits(w, obs, z);
    /* p(1) = sigmoid(z1 - z0); log p(a) computed stably */
    float d = z[1] - z[0];
    float lp1 = d >= 0 ? -log1pf(expf(-d)) : d - log1pf(expf(d));
    float lp0 = lp1 - d;
    int a = u < (double)expf(lp1);
    *logp = a ? lp1 : lp0;
    return a;
}

/* Greedy action. */
static inline int cp_greedy(const float *w, const float *obs)
{
    float z[CP_ACT];
    cp_logits(w, obs, z);
    return z[1] > z[0];
}

/* The actor's inner loop: step `E` envs for `T` steps with the policy `w`
 * (sampling with `rng`), writing step (t, e) of each array at [t * E + e]:
 * the observation before the step (obs: 4 floats), the reward, the action's
 * log-probability, its index in the episode, the action, and whether the
 * episode ended there (CP_TERMINATED / CP_TRUNCATED; the env is then reset). */
static inline void cp_rollout(cp_env *envs, uint32_t E, uint32_t T, const float *w, uint64_t *rng,
                              float *obs, float *rew, float *logp, uint32_t *tt, uint8_t *act,
                              uint8_t *end)
{
    for (uint32_t t = 0, i = 0; t < T; t++)
        for (uint32_t e = 0; e < E; e++, i++) {
            cp_observe(&envs[e], &obs[i * CP_OBS]);
            tt[i] = envs[e].steps;
            int a = cp_act(w, &obs[i * CP_OBS], cp_uniform(rng), &logp[i]);
            act[i] = (uint8_t)a;
            rew[i] = 1.0f;
            end[i] = (uint8_t)cp_step(&envs[e], a);
            if (end[i])
                cp_reset(&envs[e], rng);
        }
}

/* Mean return of `episodes` greedy episodes of the policy `w`. */
static inline double cp_evaluate(const float *w, int episodes, uint64_t seed)
{
    double total = 0;
    for (int k = 0; k < episodes; k++) {
        cp_env e;
        cp_reset(&e, &seed);
        int st = CP_RUNNING;
        while (st == CP_RUNNING) {
            float o[CP_OBS];
            cp_observe(&e, o);
            st = cp_step(&e, cp_greedy(w, o));
        }
        total += e.steps;
    }
    return total / episodes;
}

#endif
