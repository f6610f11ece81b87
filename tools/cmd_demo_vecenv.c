/*
 * sabre demo vecenv - vectorised CartPole with central inference: steps per
 * second for 1/2 workers x 8/64/256 envs, sync and async (batch = half the
 * envs), threads and processes, against stepping the same envs in a plain
 * loop in one thread; then a policy trained through the vecenv until it
 * solves CartPole (examples/vecenv_train.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/vecenv_train.h"
#include "cmds.h"

#define MEASURE_S 0.15 /* seconds per measurement */

struct cp_obs {
    float x, x_dot, theta, theta_dot;
};

static int32_t act_of(const struct cp_obs *o)
{
    return o->theta + 0.5f * o->theta_dot > 0;
}

/* The same envs stepped by hand in this thread: the env-only rate. */
static double env_only_sps(uint32_t envs)
{
    const sabre_env_class_t *c = sabre_env_cartpole();
    void **e = calloc(envs, sizeof *e);
    struct cp_obs *obs = calloc(envs, sizeof *obs);
    uint32_t *episode = calloc(envs, sizeof *episode);
    if (!e || !obs || !episode)
        return 0;
    for (uint32_t g = 0; g < envs; g++) {
        c->create(NULL, &e[g]);
        c->reset(e[g], sabre_vecenv_seed(1, g, 0), &obs[g]);
    }
    uint64_t steps = 0;
    double t0 = vt_now(), t;
    do {
        for (int rep = 0; rep < 16; rep++) {
            for (uint32_t g = 0; g < envs; g++) {
                int32_t a = act_of(&obs[g]);
                float r;
                bool te, tr;
                c->step(e[g], &a, &obs[g], &r, &te, &tr);
                if (te || tr)
                    c->reset(e[g], sabre_vecenv_seed(1, g, ++episode[g]), &obs[g]);
            }
            steps += envs;
        }
        t = vt_now() - t0;
    } while (t < MEASURE_S);
    for (uint32_t g = 0; g < envs; g++)
        c->free(e[g]);
    free(e);
    free(obs);
    free(episode);
    return (double)steps / t;
}

static int vec_sps(sabre_vecenv_backend_t backend, uint32_t workers, uint32_t envs, bool async,
                   double *sps)
{
    sabre_vecenv_t *ve;
    int rc = sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                        .workers = workers,
                                                        .envs_per_worker = envs / workers,
                                                        .backend = backend},
                                 &ve);
    if (rc)
        return rc;
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(ve, &a);
    const struct cp_obs *obs = a.obs;
    int32_t *act = a.actions;
    uint32_t *ids = calloc(envs, sizeof *ids), n;
    uint64_t steps = 0;
    rc = ids ? sabre_vecenv_reset(ve, 1, UINT64_MAX) : SABRE_ENOMEM;
    if (rc == SABRE_OK && async) {
        for (uint32_t g = 0; g < envs; g++) {
            act[g] = act_of(&obs[g]);
            ids[g] = g;
        }
        rc = sabre_vecenv_send(ve, ids, envs);
    }
    double t0 = vt_now(), t = 0;
    while (rc == SABRE_OK && t < MEASURE_S) {
        for (int rep = 0; rep < 16 && rc == SABRE_OK; rep++) {
            if (async) {
                rc = sabre_vecenv_recv(ve, envs / 2, ids, &n, UINT64_MAX);
                for (uint32_t i = 0; i < n; i++)
                    act[ids[i]] = act_of(&obs[ids[i]]);
                if (rc == SABRE_OK)
                    rc = sabre_vecenv_send(ve, ids, n);
                steps += n;
            } else {
                for (uint32_t g = 0; g < envs; g++)
                    act[g] = act_of(&obs[g]);
                rc = sabre_vecenv_step(ve, UINT64_MAX);
                steps += envs;
            }
        }
        t = vt_now() - t0;
    }
    *sps = (double)steps / t;
    free(ids);
    sabre_vecenv_close(ve);
    return rc;
}

int sabre_tool_demo_vecenv(int argc, char **argv)
{
    bool train = true, table = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-train"))
            train = false;
        else if (!strcmp(argv[i], "--train-only"))
            table = false;
        else {
            fprintf(stderr,
                    "usage: sabre demo vecenv [--no-train | --train-only]\n"
                    "  steps/s of vectorised CartPole (sync and async, threads and processes)\n"
                    "  against a plain loop, then a central-inference trainer that solves it\n");
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (table) {
        printf("sabre vecenv demo: CartPole-v1, a trivial policy computed centrally on every "
               "batch\n");
        printf("env-only = the same envs stepped in a plain loop in one thread; async recv "
               "batches of half the envs\n\n");
        printf("%6s %-9s %7s | %12s | %12s %6s | %12s %6s\n", "envs", "backend", "workers",
               "env-only/s", "sync/s", "ratio", "async/s", "ratio");
        const uint32_t counts[] = {8, 64, 256};
        for (size_t c = 0; c < 3; c++) {
            double base = env_only_sps(counts[c]);
            for (int b = 0; b < 2; b++) {
                for (uint32_t w = 1; w <= 2; w++) {
                    double s = 0, as = 0;
                    sabre_vecenv_backend_t be = b ? SABRE_VECENV_PROCESSES : SABRE_VECENV_THREADS;
                    int rc = vec_sps(be, w, counts[c], false, &s);
                    if (rc == SABRE_OK)
                        rc = vec_sps(be, w, counts[c], true, &as);
                    if (rc != SABRE_OK) {
                        fprintf(stderr, "sabre demo vecenv: %s (%s)\n", sabre_status_name(rc),
                                sabre_last_error());
                        return 1;
                    }
                    printf("%6u %-9s %7u | %12.0f | %12.0f %5.2fx | %12.0f %5.2fx\n", counts[c],
                           b ? "processes" : "threads", w, base, s, s / base, as, as / base);
                }
            }
        }
        printf("\nratio = vecenv steps/s / env-only steps/s (1.00x: no overhead; above 1: the "
               "workers add cores)\n");
    }
    if (!train)
        return 0;
    printf("\ncentral-inference trainer: 2 worker processes x 8 CartPole envs, a 4-32-1 MLP "
           "evaluated on the whole batch,\nwhole-episode REINFORCE with Adam, batches of %d "
           "episodes\n",
           VT_BATCH_EPISODES);
    sabre_vecenv_t *ve;
    int rc = sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                        .workers = 2,
                                                        .envs_per_worker = 8,
                                                        .backend = SABRE_VECENV_PROCESSES},
                                 &ve);
    vt_result r;
    if (rc == SABRE_OK)
        rc = vt_train(ve, 1, 20000, &r, stdout);
    sabre_vecenv_close(ve);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre demo vecenv: %s (%s)\n", sabre_status_name(rc), sabre_last_error());
        return 1;
    }
    printf("%s after %" PRIu64 " episodes (%" PRIu64 " env steps, %" PRIu64
           " Adam steps) in %.2f s (%.0f steps/s, %.0f%% on the policy thread)\n",
           r.solved ? "solved" : "NOT solved", r.episodes, r.env_steps, r.updates, r.seconds,
           (double)r.env_steps / r.seconds, 100.0 * r.policy_seconds / r.seconds);
    printf("mean return of the last 100 training episodes %.1f (want >= 475), greedy evaluation "
           "over 100 episodes %.1f (want >= 475)\n",
           r.mean100, r.greedy_mean);
    return r.solved ? 0 : 1;
}
