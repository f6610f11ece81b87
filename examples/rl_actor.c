/* rl_actor.c - a rollout actor: attaches to the trainer's region, pins the
 * latest weights for a whole rollout, steps RL_E CartPole environments for
 * RL_T steps writing straight into a claimed ring chunk, commits it.
 *
 *     example_rl_actor <shm-name> [chunks] [seed]
 *
 * (example_rl_trainer runs this same code in forked processes; docs/rl.md.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sabre/ring.h>
#include <sabre/sabre.h>
#include <sabre/weights.h>

#include "rl_common.h"

static int fail(const char *what, int rc)
{
    fprintf(stderr, "rl_actor: %s: %s (%s)\n", what, sabre_status_name(rc), sabre_last_error());
    return 1;
}

/* Returns 0 after committing `chunks` chunks or when the trainer closed the
 * ring earlier, 1 on error or when the trainer died. */
int rl_actor_run(const char *shm_name, uint64_t chunks, uint64_t seed);

int rl_actor_run(const char *shm_name, uint64_t chunks, uint64_t seed)
{
    sabre_region_t *reg = NULL;
    sabre_schema_t *schema = NULL;
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    sabre_weights_reader_t *reader = NULL;
    sabre_ring_producer_t *prod = NULL;
    int rc, status = 1;
    if ((rc = sabre_region_open(
             &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name}, &reg)))
        return fail("open region", rc);
    if ((rc = sabre_schema_compile(RL_SCHEMA, strlen(RL_SCHEMA), &schema, NULL)))
        goto out;
    /* Refuse a ring written with another step layout or chunk shape. */
    if ((rc = sabre_ring_open(reg, RL_RING, sabre_schema_root(schema), RL_T, RL_E, &ring)) ||
        (rc = sabre_weights_open(reg, RL_WEIGHTS, NULL, &w)) ||
        (rc = sabre_weights_reader_open(w, &reader)) ||
        (rc = sabre_ring_producer_open(ring, &prod))) {
        fail("attach", rc);
        goto out;
    }
    cp_env envs[RL_E];
    for (int e = 0; e < RL_E; e++)
        cp_reset(&envs[e], &seed);
    /* Wait for the trainer's first publish. */
    if ((rc = sabre_weights_wait(reader, 0, 10000000000ull))) {
        fail("first weights", rc);
        goto out;
    }
    for (uint64_t c = 0; c < chunks; c++) {
        /* Pin the newest weights for this whole rollout: the trainer never
         * overwrites a pinned buffer, however many versions it publishes. */
        sabre_weights_view_t view;
        sabre_weights_adopt_opts_t checks = {.check_finite = true};
        rc = sabre_weights_adopt(reader, &checks, &view);
        if (rc != SABRE_OK && !(rc == SABRE_ERANGE && view.data)) {
            fail("adopt", rc);
            goto out;
        }
        const float *wt = view.data;
        sabre_ring_producer_set_version(prod, view.version);
        sabre_ring_claim_t claim;
        /* A trainer that closed the ring, or died, is a named status of
         * the claim: the actor never outlives it. */
        rc = sabre_ring_claim(prod, 1, 10000000000ull, &claim);
        if (rc == SABRE_ECLOSED) { /* the trainer needs no more */
            fprintf(stderr,
                    "rl_actor: the trainer closed the ring after %llu chunks of ours; "
                    "stopping\n",
                    (unsigned long long)c);
            status = 0;
            goto out;
        }
        if (rc == SABRE_EPEER) {
            fprintf(stderr, "rl_actor: the trainer is gone (%s); stopping after %llu chunks\n",
                    sabre_last_error(), (unsigned long long)c);
            goto out;
        }
        if (rc) {
            fail("claim", rc);
            goto out;
        }
        sabre_chunk_t *chunk = sabre_ring_claim_chunk(prod, &claim, 0);
        float *obs = sabre_chunk_array(ring, chunk, F_OBS);
        int32_t *act = sabre_chunk_array(ring, chunk, F_ACT);
        float *rew = sabre_chunk_array(ring, chunk, F_REW);
        uint8_t *done = sabre_chunk_array(ring, chunk, F_DONE);
        float *logp = sabre_chunk_array(ring, chunk, F_LOGP);
        for (int t = 0; t < RL_T; t++)
            for (int e = 0; e < RL_E; e++) {
                int i = t * RL_E + e;
                float *o = &obs[i * 4];
                cp_observe(&envs[e], o);
                float p = rl_policy(wt, o);
                int a = (float)cp_uniform(&seed) < p;
                act[i] = a;
                logp[i] = logf(a ? p : 1.0f - p);
                rew[i] = 1.0f;
                done[i] = cp_step(&envs[e], a) != CP_RUNNING;
                if (done[i])
                    cp_reset(&envs[e], &seed);
            }
        if ((rc = sabre_ring_commit(prod, &claim))) {
            fail("commit", rc);
            goto out;
        }
    }
    status = 0;
out:
    sabre_ring_producer_close(prod);
    sabre_weights_reader_close(reader);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_schema_free(schema);
    sabre_region_close(reg);
    return status;
}

#ifndef RL_ACTOR_NO_MAIN
int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <shm-name> [chunks] [seed]\n", argv[0]);
        return 2;
    }
    uint64_t chunks = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    return rl_actor_run(argv[1], chunks, seed);
}
#endif
