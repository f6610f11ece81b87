/*
 * vecenv_train.h - a central-inference trainer: CartPole envs stepped by a
 * vecenv (threads or worker processes), one policy network evaluated on the
 * whole batch of observations in place, whole-episode REINFORCE with Adam.
 * Used by `sabre demo vecenv` and examples/vecenv_cartpole.c.
 *
 * Policy: a 4-32-1 MLP (tanh), p(push right) = sigmoid(output).  Each step
 * the policy reads every env's observation row in place, samples every
 * action and writes them into the action rows; sabre_vecenv_step steps all
 * envs.  When an env's episode ends (auto-reset: its final observation and
 * return are reported, the next episode has already begun) its trajectory
 * joins the batch; every VT_BATCH_EPISODES episodes the discounted returns
 * of the batch are normalised and one Adam step follows.
 *
 * Solved (the RL demo's criterion): the mean return of the last 100
 * training episodes >= 475, then a greedy evaluation (push right iff
 * p > 0.5) over 100 fresh episodes has mean return >= 475.
 */
#ifndef SABRE_EXAMPLES_VECENV_TRAIN_H
#define SABRE_EXAMPLES_VECENV_TRAIN_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sabre/vecenv.h"

#define VT_H              32
#define VT_NP             (VT_H * 4 + VT_H + VT_H + 1) /* W1, b1, w2, b2 */
#define VT_MAX_T          500
#define VT_BATCH_EPISODES 8
#define VT_GAMMA          0.99
#define VT_LR             0.01

typedef struct vt_result {
    int solved;            /* mean-100 and greedy both >= 475 */
    uint64_t episodes;     /* training episodes */
    uint64_t env_steps;    /* training env steps */
    uint64_t updates;      /* Adam steps */
    double mean100;        /* mean return of the last 100 training episodes */
    double greedy_mean;    /* greedy evaluation over 100 episodes */
    double seconds;        /* wall time of the training */
    double policy_seconds; /* of which inference + learning on the policy thread */
} vt_result;

typedef struct vt_net {
    double p[VT_NP], g[VT_NP], m[VT_NP], v[VT_NP];
    uint64_t t;
} vt_net;

static double vt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t vt_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double vt_uniform(uint64_t *s)
{
    return (double)(vt_rand(s) >> 11) / 9007199254740992.0;
}

/* Forward pass: p(push right); h receives the hidden activations. */
static double vt_forward(const vt_net *n, const float *obs, double *h)
{
    const double *W1 = n->p, *b1 = n->p + 4 * VT_H, *w2 = b1 + VT_H, *b2 = w2 + VT_H;
    double z = *b2;
    for (int j = 0; j < VT_H; j++) {
        double a = b1[j];
        for (int k = 0; k < 4; k++)
            a += W1[j * 4 + k] * obs[k];
        h[j] = tanh(a);
        z += w2[j] * h[j];
    }
    return 1.0 / (1.0 + exp(-z));
}

/* Accumulate d(-adv * log pi(a|obs)) into n->g. */
static void vt_backward(vt_net *n, const float *obs, int act, double adv)
{
    double h[VT_H];
    double p = vt_forward(n, obs, h);
    double dz = -adv * ((double)act - p);
    double *gW1 = n->g, *gb1 = n->g + 4 * VT_H, *gw2 = gb1 + VT_H, *gb2 = gw2 + VT_H;
    const double *w2 = n->p + 4 * VT_H + VT_H;
    *gb2 += dz;
    for (int j = 0; j < VT_H; j++) {
        gw2[j] += dz * h[j];
        double da = dz * w2[j] * (1.0 - h[j] * h[j]);
        gb1[j] += da;
        for (int k = 0; k < 4; k++)
            gW1[j * 4 + k] += da * obs[k];
    }
}

static void vt_adam(vt_net *n, double scale)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    n->t++;
    double c1 = 1.0 - pow(b1, (double)n->t), c2 = 1.0 - pow(b2, (double)n->t);
    for (int i = 0; i < VT_NP; i++) {
        double g = n->g[i] * scale;
        n->m[i] = b1 * n->m[i] + (1 - b1) * g;
        n->v[i] = b2 * n->v[i] + (1 - b2) * g * g;
        n->p[i] -= VT_LR * (n->m[i] / c1) / (sqrt(n->v[i] / c2) + eps);
        n->g[i] = 0;
    }
}

static void vt_init(vt_net *n, uint64_t *rng)
{
    memset(n, 0, sizeof *n);
    for (int i = 0; i < 4 * VT_H; i++) /* W1 ~ U(-1/sqrt(4), 1/sqrt(4)) */
        n->p[i] = (vt_uniform(rng) * 2 - 1) * 0.5;
    for (int j = 0; j < VT_H; j++) /* w2 small: start near p = 0.5 */
        n->p[4 * VT_H + VT_H + j] = (vt_uniform(rng) * 2 - 1) * 0.1;
}

/* One Adam step from the batch's episodes (obs, actions, per-episode lengths). */
static void vt_update(vt_net *n, const float *obs, const uint8_t *act, const uint32_t *len,
                      uint32_t neps, double *G)
{
    uint32_t total = 0;
    for (uint32_t e = 0; e < neps; e++) {
        double g = 0;
        for (int t = (int)len[e] - 1; t >= 0; t--) {
            g = 1.0 + VT_GAMMA * g;
            G[total + (uint32_t)t] = g;
        }
        total += len[e];
    }
    double mean = 0, var = 0;
    for (uint32_t i = 0; i < total; i++)
        mean += G[i];
    mean /= total;
    for (uint32_t i = 0; i < total; i++)
        var += (G[i] - mean) * (G[i] - mean);
    double sd = sqrt(var / total) + 1e-8;
    for (uint32_t i = 0; i < total; i++)
        vt_backward(n, obs + 4 * (size_t)i, act[i], (G[i] - mean) / sd);
    vt_adam(n, 1.0 / total);
}

/* Greedy evaluation: each env plays its first ceil(100/envs) episodes; the
 * first 100 (in env order) count. */
static int vt_greedy(sabre_vecenv_t *ve, const vt_net *n, uint64_t seed, double *mean)
{
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    uint32_t envs = a.envs, per = (100 + envs - 1) / envs;
    double *ret = calloc((size_t)envs * per, sizeof *ret);
    uint32_t *done = calloc(envs, sizeof *done);
    if (!ret || !done)
        return SABRE_ENOMEM;
    int rc = sabre_vecenv_reset(ve, seed, UINT64_MAX);
    uint32_t finished = 0;
    while (rc == SABRE_OK && finished < envs) {
        double h[VT_H];
        for (uint32_t g = 0; g < envs; g++)
            ((int32_t *)a.actions)[g] = vt_forward(n, (const float *)a.obs + 4 * g, h) > 0.5;
        rc = sabre_vecenv_step(ve, UINT64_MAX);
        for (uint32_t g = 0; g < envs && rc == SABRE_OK; g++) {
            if (!(a.terminated[g] || a.truncated[g]) || done[g] >= per)
                continue;
            ret[g * per + done[g]++] = a.episode_return[g];
            finished += done[g] == per;
        }
    }
    double sum = 0;
    uint32_t counted = 0;
    for (uint32_t g = 0; g < envs && counted < 100; g++)
        for (uint32_t k = 0; k < per && counted < 100; k++, counted++)
            sum += ret[g * per + k];
    *mean = sum / 100.0;
    free(ret);
    free(done);
    return rc;
}

/*
 * Train until solved or max_episodes.  `log` (may be NULL) gets a progress
 * line every 100 episodes.  Returns a status (of the vecenv calls).
 */
static int vt_train(sabre_vecenv_t *ve, uint64_t seed, uint64_t max_episodes, vt_result *res,
                    FILE *log)
{
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    uint32_t envs = a.envs;
    uint64_t rng = seed ^ 0x5ab7e5ab7eull;
    vt_net *net = malloc(sizeof *net);
    float *traj_obs = malloc((size_t)envs * VT_MAX_T * 4 * sizeof(float));
    uint8_t *traj_act = malloc((size_t)envs * VT_MAX_T);
    uint32_t *traj_len = calloc(envs, sizeof *traj_len);
    size_t cap = (size_t)VT_BATCH_EPISODES * VT_MAX_T + (size_t)envs * VT_MAX_T;
    float *b_obs = malloc(cap * 4 * sizeof(float));
    uint8_t *b_act = malloc(cap);
    double *G = malloc(cap * sizeof(double));
    uint32_t b_len[VT_BATCH_EPISODES + 1024], b_eps = 0, b_steps = 0;
    double last[100] = {0}, sum100 = 0;
    int rc = SABRE_OK;
    memset(res, 0, sizeof *res);
    if (!net || !traj_obs || !traj_act || !traj_len || !b_obs || !b_act || !G || envs > 1024) {
        rc = SABRE_ENOMEM;
        goto out;
    }
    vt_init(net, &rng);
    double t0 = vt_now(), tp = 0;
    rc = sabre_vecenv_reset(ve, seed, UINT64_MAX);
    while (rc == SABRE_OK && res->episodes < max_episodes) {
        double t1 = vt_now();
        double h[VT_H];
        /* Central inference over the whole batch, in place. */
        for (uint32_t g = 0; g < envs; g++) {
            const float *o = (const float *)a.obs + 4 * g;
            int act = vt_uniform(&rng) < vt_forward(net, o, h);
            ((int32_t *)a.actions)[g] = act;
            uint32_t t = traj_len[g] < VT_MAX_T ? traj_len[g]++ : VT_MAX_T - 1;
            memcpy(traj_obs + ((size_t)g * VT_MAX_T + t) * 4, o, 4 * sizeof(float));
            traj_act[(size_t)g * VT_MAX_T + t] = (uint8_t)act;
        }
        tp += vt_now() - t1;
        rc = sabre_vecenv_step(ve, UINT64_MAX);
        if (rc != SABRE_OK)
            break;
        res->env_steps += envs;
        t1 = vt_now();
        for (uint32_t g = 0; g < envs; g++) {
            if (!(a.terminated[g] || a.truncated[g]))
                continue;
            uint32_t len = traj_len[g];
            memcpy(b_obs + (size_t)b_steps * 4, traj_obs + (size_t)g * VT_MAX_T * 4,
                   (size_t)len * 4 * sizeof(float));
            memcpy(b_act + b_steps, traj_act + (size_t)g * VT_MAX_T, len);
            b_len[b_eps++] = len;
            b_steps += len;
            traj_len[g] = 0;
            double r = a.episode_return[g];
            sum100 += r - last[res->episodes % 100];
            last[res->episodes % 100] = r;
            res->episodes++;
            if (log && res->episodes % 100 == 0)
                fprintf(log, "  episode %5llu: mean return of the last 100 %.1f\n",
                        (unsigned long long)res->episodes, sum100 / 100);
        }
        if (b_eps >= VT_BATCH_EPISODES) {
            vt_update(net, b_obs, b_act, b_len, b_eps, G);
            res->updates++;
            b_eps = b_steps = 0;
        }
        tp += vt_now() - t1;
        res->mean100 = res->episodes >= 100 ? sum100 / 100 : 0;
        if (res->episodes >= 100 && res->mean100 >= 475)
            break;
    }
    res->seconds = vt_now() - t0;
    res->policy_seconds = tp;
    if (rc == SABRE_OK && res->mean100 >= 475) {
        rc = vt_greedy(ve, net, seed + 1000003, &res->greedy_mean);
        res->solved = rc == SABRE_OK && res->greedy_mean >= 475;
    }
out:
    free(net);
    free(traj_obs);
    free(traj_act);
    free(traj_len);
    free(b_obs);
    free(b_act);
    free(G);
    return rc;
}

#endif
