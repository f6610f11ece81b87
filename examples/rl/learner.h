/*
 * learner.h - the RL demo's learner (header only): rebuilds whole CartPole
 * episodes from rollout chunks and trains the policy of cartpole.h with
 * PPO (clipped ratio against the actors' logged log-probabilities, GAE
 * advantages from a separate value network, Adam).  examples/rl/train.py
 * is the same algorithm in numpy; docs/rl.md ("The RL demo") explains it.
 *
 * Use: rl_learner_init, then rl_learner_step for every (lane, env, step)
 * of every chunk in order; it returns 1 when an episode ended, and
 * rl_learner_ready says when a batch is complete; rl_learner_update trains
 * on it (and empties it).  The learner owns its memory (rl_learner_free).
 */
#ifndef SABRE_EXAMPLES_RL_LEARNER_H
#define SABRE_EXAMPLES_RL_LEARNER_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartpole.h"

/* Value network obs[4] -> tanh(H) -> 1: V1[H][4], c1[H], V2[H], c2. */
#define RLV_NPARAM (CP_HIDDEN * CP_OBS + CP_HIDDEN + CP_HIDDEN + 1)

typedef struct rl_hparams {
    uint32_t batch_steps; /* update once this many steps of whole episodes are in */
    uint32_t epochs;      /* passes over a batch */
    uint32_t minibatch;   /* steps per gradient step */
    float lr_pi, lr_v;    /* Adam learning rates */
    float clip;           /* PPO ratio clip */
    float gamma, lambda;  /* discount, GAE */
    float max_grad_norm;  /* global gradient norm clip (0 = none) */
} rl_hparams;

static inline rl_hparams rl_hparams_default(void)
{
    return (rl_hparams){.batch_steps = 2048,
                        .epochs = 4,
                        .minibatch = 256,
                        .lr_pi = 3e-3f,
                        .lr_v = 3e-3f,
                        .clip = 0.2f,
                        .gamma = 0.99f,
                        .lambda = 0.95f,
                        .max_grad_norm = 0.5f};
}

typedef struct rl_adam {
    float *m, *v;
    uint32_t n;
    uint64_t t;
} rl_adam;

/* The part of an episode seen so far on one (lane, env). */
typedef struct rl_partial {
    float obs[CP_MAX_STEPS][CP_OBS];
    float logp[CP_MAX_STEPS];
    float rew[CP_MAX_STEPS];
    uint8_t act[CP_MAX_STEPS];
    uint32_t len;
} rl_partial;

typedef struct rl_learner {
    rl_hparams hp;
    float pi[CP_NPARAM], vf[RLV_NPARAM];
    rl_adam opt_pi, opt_v;
    uint64_t rng;
    uint32_t nslots;
    rl_partial *slots;
    /* the batch: whole episodes back to back */
    uint32_t cap, n, neps;
    float (*obs)[CP_OBS];
    float *logp, *rew, *adv, *ret, *val;
    uint8_t *act;
    uint32_t *ep_end; /* end index of each episode */
    uint8_t *ep_trunc;
    uint32_t *order;
    uint64_t updates;
} rl_learner;

static inline float rl_init_uniform(uint64_t *rng, float bound)
{
    return (float)((cp_uniform(rng) * 2.0 - 1.0) * bound);
}

/* Fresh networks (PyTorch's default uniform(+-1/sqrt(fan_in)), the policy's
 * output layer scaled down so the first policy is close to uniform) and a
 * learner for `slots` = lanes x envs.  Returns 0, or -1 out of memory. */
static inline int rl_learner_init(rl_learner *L, const rl_hparams *hp, uint32_t slots,
                                  uint64_t seed)
{
    memset(L, 0, sizeof *L);
    L->hp = *hp;
    L->rng = seed * 0x2545f4914f6cdd1dull + 1;
    float b1 = 1.0f / sqrtf(CP_OBS), b2 = 1.0f / sqrtf(CP_HIDDEN);
    for (int i = 0; i < CP_HIDDEN * CP_OBS + CP_HIDDEN; i++)
        L->pi[CP_W1 + i] = rl_init_uniform(&L->rng, b1), L->vf[i] = rl_init_uniform(&L->rng, b1);
    for (int i = CP_W2; i < CP_NPARAM; i++)
        L->pi[i] = 0.01f * rl_init_uniform(&L->rng, b2);
    for (int i = CP_HIDDEN * CP_OBS + CP_HIDDEN; i < RLV_NPARAM; i++)
        L->vf[i] = rl_init_uniform(&L->rng, b2);
    L->nslots = slots;
    L->cap = hp->batch_steps + CP_MAX_STEPS;
    L->slots = calloc(slots, sizeof *L->slots);
    L->obs = malloc(sizeof *L->obs * L->cap);
    L->logp = malloc(sizeof(float) * L->cap);
    L->rew = malloc(sizeof(float) * L->cap);
    L->adv = malloc(sizeof(float) * L->cap);
    L->ret = malloc(sizeof(float) * L->cap);
    L->val = malloc(sizeof(float) * L->cap);
    L->act = malloc(L->cap);
    L->ep_end = malloc(sizeof(uint32_t) * L->cap);
    L->ep_trunc = malloc(L->cap);
    L->order = malloc(sizeof(uint32_t) * L->cap);
    L->opt_pi = (rl_adam){calloc(CP_NPARAM, 4), calloc(CP_NPARAM, 4), CP_NPARAM, 0};
    L->opt_v = (rl_adam){calloc(RLV_NPARAM, 4), calloc(RLV_NPARAM, 4), RLV_NPARAM, 0};
    if (!L->slots || !L->obs || !L->logp || !L->rew || !L->adv || !L->ret || !L->val || !L->act ||
        !L->ep_end || !L->ep_trunc || !L->order || !L->opt_pi.m || !L->opt_pi.v || !L->opt_v.m ||
        !L->opt_v.v)
        return -1;
    return 0;
}

static inline void rl_learner_free(rl_learner *L)
{
    free(L->slots), free(L->obs), free(L->logp), free(L->rew), free(L->adv), free(L->ret),
        free(L->val);
    free(L->act), free(L->ep_end), free(L->ep_trunc), free(L->order);
    free(L->opt_pi.m), free(L->opt_pi.v), free(L->opt_v.m), free(L->opt_v.v);
    memset(L, 0, sizeof *L);
}

/* Forget the partial episode of a slot (its actor died: the replacement
 * starts new episodes). */
static inline void rl_learner_drop(rl_learner *L, uint32_t slot)
{
    L->slots[slot].len = 0;
}

/*
 * Feed one step of slot `slot`: the observation, the action taken, its
 * log-probability under the actor's policy, the reward, `t` (the step's
 * index in its episode) and `end` (CP_RUNNING, CP_TERMINATED or
 * CP_TRUNCATED).  A step whose `t` does not continue the slot's partial
 * episode drops that one (its actor died and a replacement starts new
 * episodes); steps of an episode whose start was not seen are ignored.
 * Returns 1 when this step ended an episode (*length, *ret: its length and
 * return), else 0.
 */
static inline int rl_learner_step(rl_learner *L, uint32_t slot, const float *obs, int act,
                                  float logp, float rew, uint32_t t, int end, uint32_t *length,
                                  float *ret)
{
    rl_partial *p = &L->slots[slot];
    if (t != p->len) {
        p->len = 0;
        if (t != 0)
            return 0;
    }
    if (p->len >= CP_MAX_STEPS) { /* longer than CartPole allows: not ours */
        p->len = 0;
        return 0;
    }
    memcpy(p->obs[p->len], obs, sizeof p->obs[0]);
    p->act[p->len] = (uint8_t)act;
    p->logp[p->len] = logp;
    p->rew[p->len] = rew;
    p->len++;
    if (end == CP_RUNNING)
        return 0;
    uint32_t len = p->len;
    float sum = 0;
    for (uint32_t i = 0; i < len; i++)
        sum += p->rew[i];
    p->len = 0;
    if (L->n + len <= L->cap) {
        memcpy(L->obs[L->n], p->obs, sizeof p->obs[0] * len);
        memcpy(&L->act[L->n], p->act, len);
        memcpy(&L->logp[L->n], p->logp, sizeof(float) * len);
        memcpy(&L->rew[L->n], p->rew, sizeof(float) * len);
        L->n += len;
        L->ep_end[L->neps] = L->n;
        L->ep_trunc[L->neps] = end == CP_TRUNCATED;
        L->neps++;
    }
    *length = len, *ret = sum;
    return 1;
}

static inline int rl_learner_ready(const rl_learner *L)
{
    return L->n >= L->hp.batch_steps;
}

static inline float rl_value(const float *v, const float *x, float *h)
{
    float out = v[RLV_NPARAM - 1];
    for (int j = 0; j < CP_HIDDEN; j++) {
        const float *r = &v[j * CP_OBS];
        h[j] = tanhf(v[CP_HIDDEN * CP_OBS + j] + r[0] * x[0] + r[1] * x[1] + r[2] * x[2] +
                     r[3] * x[3]);
        out += v[CP_HIDDEN * CP_OBS + CP_HIDDEN + j] * h[j];
    }
    return out;
}

static inline void rl_adam_step(rl_adam *o, float *w, float *g, float lr, float max_norm)
{
    if (max_norm > 0) {
        double n2 = 0;
        for (uint32_t i = 0; i < o->n; i++)
            n2 += (double)g[i] * g[i];
        double n = sqrt(n2);
        if (n > max_norm)
            for (uint32_t i = 0; i < o->n; i++)
                g[i] *= (float)(max_norm / n);
    }
    o->t++;
    const float b1 = 0.9f, b2 = 0.999f;
    float c1 = 1.0f - powf(b1, (float)o->t), c2 = 1.0f - powf(b2, (float)o->t);
    float step = lr * sqrtf(c2) / c1;
    for (uint32_t i = 0; i < o->n; i++) {
        o->m[i] = b1 * o->m[i] + (1 - b1) * g[i];
        o->v[i] = b2 * o->v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= step * o->m[i] / (sqrtf(o->v[i]) + 1e-8f);
    }
}

/* Train on the batch (advantages, then epochs x minibatches of PPO and
 * value regression), then empty it. */
static inline void rl_learner_update(rl_learner *L)
{
    const rl_hparams *hp = &L->hp;
    float h[CP_HIDDEN];
    uint32_t n = L->n;
    for (uint32_t i = 0; i < n; i++)
        L->val[i] = rl_value(L->vf, L->obs[i], h);
    /* GAE over each whole episode; a truncated one bootstraps from the
     * value of its last observation (the one after it is not recorded). */
    double sum = 0, sum2 = 0;
    for (uint32_t e = 0, start = 0; e < L->neps; start = L->ep_end[e++]) {
        uint32_t end = L->ep_end[e];
        float next_v = L->ep_trunc[e] ? L->val[end - 1] : 0.0f, a = 0;
        for (uint32_t i = end; i-- > start;) {
            float delta = L->rew[i] + hp->gamma * next_v - L->val[i];
            a = delta + hp->gamma * hp->lambda * a;
            L->adv[i] = a;
            L->ret[i] = a + L->val[i];
            next_v = L->val[i];
            sum += a, sum2 += (double)a * a;
        }
    }
    double mean = sum / n, sd = sqrt(fmax(sum2 / n - mean * mean, 0)) + 1e-8;
    for (uint32_t i = 0; i < n; i++)
        L->adv[i] = (float)((L->adv[i] - mean) / sd);

    float gpi[CP_NPARAM], gv[RLV_NPARAM];
    for (uint32_t i = 0; i < n; i++)
        L->order[i] = i;
    for (uint32_t ep = 0; ep < hp->epochs; ep++) {
        for (uint32_t i = n; i > 1; i--) { /* shuffle */
            uint32_t j = (uint32_t)(cp_rand(&L->rng) % i), tmp = L->order[i - 1];
            L->order[i - 1] = L->order[j], L->order[j] = tmp;
        }
        for (uint32_t mb = 0; mb < n; mb += hp->minibatch) {
            uint32_t mend = mb + hp->minibatch < n ? mb + hp->minibatch : n;
            if (mend - mb < hp->minibatch / 2 && mb > 0)
                break; /* a short tail: skip */
            memset(gpi, 0, sizeof gpi), memset(gv, 0, sizeof gv);
            float inv = 1.0f / (float)(mend - mb);
            for (uint32_t k = mb; k < mend; k++) {
                uint32_t i = L->order[k];
                const float *x = L->obs[i];
                /* policy */
                float z0 = L->pi[CP_B2], z1 = L->pi[CP_B2 + 1];
                for (int j = 0; j < CP_HIDDEN; j++) {
                    const float *r = &L->pi[CP_W1 + j * CP_OBS];
                    h[j] = tanhf(L->pi[CP_B1 + j] + r[0] * x[0] + r[1] * x[1] + r[2] * x[2] +
                                 r[3] * x[3]);
                    z0 += L->pi[CP_W2 + j] * h[j];
                    z1 += L->pi[CP_W2 + CP_HIDDEN + j] * h[j];
                }
                float d = z1 - z0;
                float lp1 = d >= 0 ? -log1pf(expf(-d)) : d - log1pf(expf(d));
                float p1 = expf(lp1);
                float lp = L->act[i] ? lp1 : lp1 - d;
                float ratio = expf(lp - L->logp[i]), A = L->adv[i];
                float g = 0; /* d loss / d logp(a) */
                if (!((A > 0 && ratio > 1 + hp->clip) || (A < 0 && ratio < 1 - hp->clip)))
                    g = -ratio * A * inv;
                if (g != 0) {
                    /* d logp(a) / d z = onehot(a) - softmax(z) */
                    float gz1 = g * ((float)L->act[i] - p1), gz0 = -gz1;
                    gpi[CP_B2] += gz0, gpi[CP_B2 + 1] += gz1;
                    for (int j = 0; j < CP_HIDDEN; j++) {
                        gpi[CP_W2 + j] += gz0 * h[j];
                        gpi[CP_W2 + CP_HIDDEN + j] += gz1 * h[j];
                        float gh = (gz0 * L->pi[CP_W2 + j] + gz1 * L->pi[CP_W2 + CP_HIDDEN + j]) *
                                   (1 - h[j] * h[j]);
                        gpi[CP_B1 + j] += gh;
                        float *gw = &gpi[CP_W1 + j * CP_OBS];
                        gw[0] += gh * x[0], gw[1] += gh * x[1], gw[2] += gh * x[2],
                            gw[3] += gh * x[3];
                    }
                }
                /* value */
                float v = rl_value(L->vf, x, h), gvo = (v - L->ret[i]) * inv;
                gv[RLV_NPARAM - 1] += gvo;
                for (int j = 0; j < CP_HIDDEN; j++) {
                    gv[CP_HIDDEN * CP_OBS + CP_HIDDEN + j] += gvo * h[j];
                    float gh = gvo * L->vf[CP_HIDDEN * CP_OBS + CP_HIDDEN + j] * (1 - h[j] * h[j]);
                    gv[CP_HIDDEN * CP_OBS + j] += gh;
                    float *gw = &gv[j * CP_OBS];
                    gw[0] += gh * x[0], gw[1] += gh * x[1], gw[2] += gh * x[2], gw[3] += gh * x[3];
                }
            }
            rl_adam_step(&L->opt_pi, L->pi, gpi, hp->lr_pi, hp->max_grad_norm);
            rl_adam_step(&L->opt_v, L->vf, gv, hp->lr_v, 0);
        }
    }
    L->n = 0, L->neps = 0;
    L->updates++;
}

#endif
