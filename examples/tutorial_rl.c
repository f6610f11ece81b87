// SABRE_EXAMPLE_TEST
/* tutorial_rl.c - docs/tutorial.md, part 2: a trainer and three forked actors.
 * The trainer publishes policy weights; each actor pins the newest weights
 * for a rollout, steps E environments for T steps straight into a claimed
 * ring chunk and commits it; the trainer consumes the chunks, updates the
 * weights and publishes again.
 *
 *     example_tutorial_rl [shm-name [chunks-per-actor]]
 *
 * With a name the region is left in /dev/shm for `sabre inspect <name>`
 * (remove it with rm /dev/shm/<name>); without one it is removed at exit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sabre/sabre.h>

#include "tutorial_step.h" /* generated: sabre schema --emit c tutorial_step.schema */

static void check(int status)
{
    if (status != SABRE_OK) {
        fprintf(stderr, "error (pid %d): %s\n", (int)getpid(), sabre_last_error());
        exit(1);
    }
}

enum { ACTORS = 3, T = 32, E = 8 };
static int chunks = 40; /* per actor */

/* A toy task: keep x near 0.  obs = {x, velocity, 1, 0}; action 1 pushes
 * right, 0 left; the policy pushes right when w . obs < 0. */
static void actor(sabre_ring_t *ring, sabre_weights_t *weights, unsigned seed)
{
    /* Role handles record their process: open them in the child (region.h). */
    sabre_ring_producer_t *prod;
    sabre_weights_reader_t *reader;
    check(sabre_ring_producer_open(ring, &prod));
    check(sabre_weights_reader_open(weights, &reader));
    check(sabre_weights_wait(reader, 0, 10000000000ull)); /* the first publish */
    float x[E] = {0}, v[E] = {0};
    for (int c = 0; c < chunks; c++) {
        sabre_weights_view_t view; /* pinned until the next adopt */
        check(sabre_weights_adopt(reader, NULL, &view));
        const float *w = view.data;
        sabre_ring_producer_set_version(prod, view.version);
        sabre_ring_claim_t claim;
        check(sabre_ring_claim(prod, 1, 10000000000ull, &claim));
        sabre_chunk_t *chunk = sabre_ring_claim_chunk(prod, &claim, 0);
        float *obs = sabre_chunk_array(ring, chunk, STEP_FIELD_OBS);
        int32_t *act = sabre_chunk_array(ring, chunk, STEP_FIELD_ACT);
        float *rew = sabre_chunk_array(ring, chunk, STEP_FIELD_REW);
        bool *done = sabre_chunk_array(ring, chunk, STEP_FIELD_DONE);
        for (int t = 0; t < T; t++)
            for (int e = 0; e < E; e++) {
                int i = t * E + e;
                float *o = &obs[i * 4];
                o[0] = x[e], o[1] = v[e], o[2] = 1, o[3] = 0;
                act[i] = w[0] * o[0] + w[1] * o[1] + w[2] * o[2] < 0;
                seed = seed * 1103515245u + 12345u; /* noise */
                v[e] += (act[i] ? 0.1f : -0.1f) + 0.05f * (float)((int)(seed >> 16) % 3 - 1);
                x[e] += v[e];
                rew[i] = 1.0f - fabsf(x[e]);
                done[i] = fabsf(x[e]) > 1;
                if (done[i])
                    x[e] = v[e] = 0;
            }
        check(sabre_ring_commit(prod, &claim));
    }
    sabre_ring_producer_close(prod);
    sabre_weights_reader_close(reader);
}

int main(int argc, char **argv)
{
    char name[64];
    snprintf(name, sizeof name, "%s", argc > 1 ? argv[1] : "");
    if (argc > 2)
        chunks = atoi(argv[2]);
    if (!name[0])
        snprintf(name, sizeof name, "sabre-tutorial-%d", (int)getpid());
    sabre_region_t *region;
    check(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                     .name = name,
                                                     .size = 16 << 20,
                                                     .flags = SABRE_REGION_REPLACE},
                              &region));
    /* The step layout from the generated header; the ring stores its hash. */
    sabre_schema_t *schema;
    check(sabre_schema_compile(STEP_SCHEMA, sizeof STEP_SCHEMA - 1, &schema, NULL));
    sabre_ring_t *ring;
    check(sabre_ring_create(region,
                            &(sabre_ring_desc_t){.name = "rollouts",
                                                 .layout = sabre_schema_root(schema),
                                                 .steps = T,
                                                 .envs = E,
                                                 .producers = ACTORS,
                                                 .capacity = 8,
                                                 .policy = SABRE_RING_BLOCK},
                            &ring));
    /* Slots so that publishing never waits for an actor's pin (weights.h). */
    sabre_weights_t *weights;
    check(sabre_weights_create(
        region,
        &(sabre_weights_desc_t){.name = "policy",
                                .size = 4 * sizeof(float),
                                .readers = ACTORS,
                                .slots = SABRE_WEIGHTS_SLOTS_NO_WAIT(ACTORS, false),
                                .flags = SABRE_WEIGHTS_F32},
        &weights));
    float w[4] = {1, 1, 0, 0};
    check(sabre_weights_publish(weights, w, sizeof w, NULL, 0, NULL));
    pid_t pids[ACTORS];
    for (int a = 0; a < ACTORS; a++)
        if ((pids[a] = fork()) == 0) {
            actor(ring, weights, 1000u + (unsigned)a); /* the child inherits the mapping */
            _exit(0);
        }
    sabre_ring_consumer_t *cons;
    check(sabre_ring_consumer_open(ring, &cons));
    double reward = 0, lag = 0;
    uint64_t version = 1;
    for (int got = 0; got < ACTORS * chunks;) {
        sabre_ring_batch_t batch;
        check(sabre_ring_consume(cons, 4, 10000000000ull, &batch));
        for (uint32_t k = 0; k < batch.count; k++, got++) {
            sabre_chunk_t *chunk = sabre_ring_batch_chunk(cons, &batch, k);
            sabre_chunk_header_t h;
            check(sabre_ring_chunk_header(ring, chunk, &h));
            const float *rew = sabre_chunk_array(ring, chunk, STEP_FIELD_REW);
            for (int i = 0; i < T * E; i++)
                reward += rew[i];
            lag += (double)(version - h.policy_version);
        }
        check(sabre_ring_release(cons, &batch));
        w[1] += 0.01f; /* "training": damp the velocity a little more */
        check(sabre_weights_publish(weights, w, sizeof w, NULL, 0, &version));
        sabre_ring_consumer_set_version(cons, version);
    }
    int failed = 0;
    for (int a = 0; a < ACTORS; a++) {
        int st;
        waitpid(pids[a], &st, 0);
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    printf("%d chunks from %d actors, mean reward %.3f, mean policy lag %.2f versions, "
           "%llu versions published\n",
           ACTORS * chunks, ACTORS, reward / (ACTORS * chunks * T * E), lag / (ACTORS * chunks),
           (unsigned long long)version);
    sabre_ring_consumer_close(cons);
    sabre_weights_close(weights);
    sabre_ring_close(ring);
    sabre_schema_free(schema);
    sabre_region_close(region);
    if (argc < 2)
        sabre_region_unlink(SABRE_BACKING_SHM, name);
    return failed ? 1 : 0;
}
