// SABRE_EXAMPLE_TEST
/* vecenv_cartpole.c - train CartPole through a vecenv with central batched
 * inference (examples/vecenv_train.h): 2 workers x 8 envs.
 *
 *     example_vecenv_cartpole [threads|processes] [seed]
 *
 * Exits 0 when solved: mean return of the last 100 training episodes >= 475
 * and a greedy evaluation over 100 episodes >= 475. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecenv_train.h"

int main(int argc, char **argv)
{
    sabre_vecenv_backend_t backend =
        argc > 1 && !strcmp(argv[1], "processes") ? SABRE_VECENV_PROCESSES : SABRE_VECENV_THREADS;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    sabre_vecenv_t *ve;
    int rc = sabre_vecenv_create(
        &(sabre_vecenv_desc_t){
            .env = sabre_env_cartpole(), .workers = 2, .envs_per_worker = 8, .backend = backend},
        &ve);
    if (rc) {
        fprintf(stderr, "vecenv: %s (%s)\n", sabre_status_name(rc), sabre_last_error());
        return 1;
    }
    vt_result r;
    rc = vt_train(ve, seed, 20000, &r, stdout);
    sabre_vecenv_close(ve);
    if (rc) {
        fprintf(stderr, "training: %s (%s)\n", sabre_status_name(rc), sabre_last_error());
        return 1;
    }
    printf("%s after %llu episodes (%llu env steps, %llu updates, %.1f s): mean-100 %.1f, greedy "
           "%.1f\n",
           r.solved ? "solved" : "NOT solved", (unsigned long long)r.episodes,
           (unsigned long long)r.env_steps, (unsigned long long)r.updates, r.seconds, r.mean100,
           r.greedy_mean);
    return r.solved ? 0 : 1;
}
