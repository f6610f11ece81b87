// SABRE_EXAMPLE_TEST
/* rl_trainer.c - a trainer: creates the region with a weights object and a
 * rollout ring, publishes weights, consumes chunks in place, updates a
 * linear CartPole policy with REINFORCE and republishes after every chunk.
 *
 *     example_rl_trainer                 forks 2 actors (rl_actor.c) itself
 *     example_rl_trainer <shm-name> <n>  waits for n `example_rl_actor <shm-name>`
 *
 * Exits 0 when it received every chunk it waited for with nothing dropped
 * (chunks abandoned by a killed actor whose replacement carried on are
 * reported, not a failure).  docs/rl.md explains each step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RL_ACTOR_NO_MAIN
#include "rl_actor.c" /* the actor's code, run in forked processes */

#define CHUNKS_PER_ACTOR 400
#define MAX_ACTORS       16

static int die(const char *what, int rc)
{
    fprintf(stderr, "rl_trainer: %s: %s (%s)\n", what, sabre_status_name(rc), sabre_last_error());
    return 1;
}

/* One REINFORCE step from one chunk (the behaviour policy's probabilities
 * come from the chunk's logp, so a lagging actor's data is used as is). */
static void reinforce(sabre_ring_t *ring, const sabre_chunk_t *c, float *w)
{
    const float *obs = sabre_chunk_array(ring, c, F_OBS);
    const int32_t *act = sabre_chunk_array(ring, c, F_ACT);
    const float *rew = sabre_chunk_array(ring, c, F_REW);
    const uint8_t *done = sabre_chunk_array(ring, c, F_DONE);
    const float *logp = sabre_chunk_array(ring, c, F_LOGP);
    static float G[RL_T * RL_E];
    float mean = 0, var = 0;
    for (int e = 0; e < RL_E; e++) {
        float g = 0;
        for (int t = (int)c->valid_steps - 1; t >= 0; t--) {
            int i = t * RL_E + e;
            g = rew[i] + 0.99f * g * (done[i] ? 0.0f : 1.0f);
            G[i] = g;
            mean += g;
        }
    }
    int n = (int)c->valid_steps * RL_E;
    mean /= (float)n;
    for (int i = 0; i < n; i++)
        var += (G[i] - mean) * (G[i] - mean);
    float sd = sqrtf(var / (float)n) + 1e-6f;
    float grad[RL_NPARAM] = {0};
    for (int i = 0; i < n; i++) {
        float p1 = act[i] ? expf(logp[i]) : 1.0f - expf(logp[i]);
        float adv = (G[i] - mean) / sd, d = adv * ((float)act[i] - p1);
        for (int k = 0; k < 4; k++)
            grad[k] += d * obs[i * 4 + k];
        grad[4] += d;
    }
    for (int k = 0; k < RL_NPARAM; k++)
        w[k] += 0.5f * grad[k] / (float)n;
}

int main(int argc, char **argv)
{
    char name[64];
    int external = argc > 2 ? atoi(argv[2]) : 0;
    int actors = external > 0 ? external : 2;
    if (actors > MAX_ACTORS)
        return die("too many actors", SABRE_EINVAL);
    if (argc > 1)
        snprintf(name, sizeof name, "%s", argv[1]);
    else
        snprintf(name, sizeof name, "/sabre-rl-demo-%d", (int)getpid());

    /* 1. The region, the step layout, the ring and the weights. */
    sabre_region_t *reg = NULL;
    sabre_schema_t *schema = NULL;
    int rc = sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = name,
                                                        .size = 16 << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &reg);
    if (rc)
        return die("create region", rc);
    if ((rc = sabre_schema_compile(RL_SCHEMA, strlen(RL_SCHEMA), &schema, NULL)))
        return die("schema", rc);
    sabre_ring_t *ring = NULL;
    sabre_ring_desc_t rd = {.name = RL_RING,
                            .shape = SABRE_RING_LANES,
                            .policy = SABRE_RING_BLOCK,
                            .capacity = 8,
                            .producers = (uint32_t)actors,
                            .layout = sabre_schema_root(schema),
                            .steps = RL_T,
                            .envs = RL_E};
    if ((rc = sabre_ring_create(reg, &rd, &ring)))
        return die("create ring", rc);
    sabre_weights_t *w = NULL;
    /* 2 x actors + 2 slots: publishing never waits for a pinned actor, even
     * one caught between its pin and its candidate pin (actors adopt with
     * check_finite).  With actors + 2, a publish under load found every
     * slot pinned and the trainer failed with EBUSY. */
    sabre_weights_desc_t wd = {.name = RL_WEIGHTS,
                               .size = RL_NPARAM * sizeof(float),
                               .slots = SABRE_WEIGHTS_SLOTS_NO_WAIT(actors, true),
                               .readers = (uint32_t)actors,
                               .flags = SABRE_WEIGHTS_F32};
    if ((rc = sabre_weights_create(reg, &wd, &w)))
        return die("create weights", rc);
    float params[RL_NPARAM] = {0};
    uint64_t version = 0;
    if ((rc = sabre_weights_publish(w, params, sizeof params, NULL, 0, &version)))
        return die("publish", rc);

    /* 2. The consumer first (an actor that finds no consumer on a full
     * ring stops: the trainer is gone), then the actors: forked here, or
     * started by hand with example_rl_actor. */
    sabre_ring_consumer_t *cons = NULL;
    if ((rc = sabre_ring_consumer_open(ring, &cons)))
        return die("consumer", rc);
    pid_t pids[MAX_ACTORS] = {0};
    for (int a = 0; a < actors && !external; a++) {
        pids[a] = fork();
        if (pids[a] == 0)
            _exit(rl_actor_run(name, CHUNKS_PER_ACTOR, 1000u + (unsigned)a));
    }
    if (external)
        printf("waiting for %d actors: example_rl_actor %s %d\n", actors, name, CHUNKS_PER_ACTOR);
    fflush(stdout);

    /* 3. Consume chunks in place, learn, republish. */
    uint64_t total = (uint64_t)actors * CHUNKS_PER_ACTOR, got = 0, dones_first = 0, dones_last = 0;
    while (got < total) {
        sabre_ring_batch_t batch;
        /* never more than the chunks still wanted: a replacement actor may
         * have more to send than the trainer takes */
        uint32_t want = total - got < 4 ? (uint32_t)(total - got) : 4;
        if ((rc = sabre_ring_consume(cons, want, 20000000000ull, &batch)))
            return die("consume", rc);
        for (uint32_t i = 0; i < batch.count; i++, got++) {
            const sabre_chunk_t *c = sabre_ring_batch_chunk(cons, &batch, i);
            const uint8_t *done = sabre_chunk_array(ring, c, F_DONE);
            uint64_t d = 0;
            for (int k = 0; k < RL_T * RL_E; k++)
                d += done[k];
            if (got < total / 10)
                dones_first += d;
            else if (got >= total - total / 10)
                dones_last += d;
            reinforce(ring, c, params);
        }
        sabre_ring_release(cons, &batch);
        if ((rc = sabre_weights_publish(w, params, sizeof params, NULL, 0, &version)))
            return die("publish", rc);
        sabre_ring_consumer_set_version(cons, version);
    }

    /* 4. Report and check. */
    int failed = 0;
    for (int a = 0; a < actors && !external; a++) {
        int st = 0;
        waitpid(pids[a], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    sabre_ring_stats_t s;
    sabre_ring_stats(ring, &s);
    double steps = (double)(total / 10) * RL_T * RL_E;
    printf("%llu chunks (%llu steps) from %d actors, %llu weight versions; policy lag "
           "min/avg/max %llu/%.2f/%llu\n",
           (unsigned long long)s.consumed, (unsigned long long)(s.consumed * RL_T * RL_E), actors,
           (unsigned long long)version, (unsigned long long)s.lag_min, s.lag_avg,
           (unsigned long long)s.lag_max);
    printf("mean episode length: first 10%% of chunks %.1f, last 10%% %.1f\n",
           steps / (double)(dones_first ? dones_first : 1),
           steps / (double)(dones_last ? dones_last : 1));
    /* Every chunk the trainer waited for arrived and none was dropped.  A
     * killed actor's half-written chunk is abandoned (never delivered), and
     * its replacement continues the lane: reported, not a failure. */
    failed |= s.consumed != total || s.dropped;
    if (s.abandoned)
        printf("abandoned chunks: %llu (an actor died while writing them; the run recovered)\n",
               (unsigned long long)s.abandoned);
    sabre_ring_consumer_close(cons);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_schema_free(schema);
    sabre_region_close(reg);
    sabre_region_unlink(SABRE_BACKING_SHM, name);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed;
}
