/*
 * bench_rl - what sabre's transport costs the RL demo's actors (issue 12).
 *
 *   bench_rl                 the actor loop of `sabre demo rl` (CartPole-v1
 *                            envs, the 4-64-2 policy) at 64x8 chunks, with
 *                            ring + weights (adopt, claim, write in place,
 *                            commit; a consumer thread consumes, releases and
 *                            publishes new weights every 4 chunks) against
 *                            the same loop writing into a private buffer
 *                            with a private copy of the weights.  Actor CPU
 *                            time per chunk; the ratio is the median of
 *                            per-round ratios of back-to-back runs.
 *                            Target: overhead <= 10%.
 *   bench_rl --producer REGION
 *                            a producer process for bench/bench_rl_consumer.py:
 *                            claims and commits chunks of the ring "rollouts"
 *                            as fast as it can (waiting while no consumer has
 *                            it open), until killed
 *   bench_rl --consumer REGION SECONDS [WARMUP]
 *                            the C consumer loop of that benchmark: batches of
 *                            up to 64 chunks, their headers, a copy of
 *                            every field, release; prints chunks per second of
 *                            wall time and of the consumer's CPU time,
 *                            measured for SECONDS after WARMUP seconds
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../examples/rl/cartpole.h"
#include "bench_util.h"
#include "sabre/sabre.h"

#define T       64
#define E       8
#define CHUNKS  400
#define ROUNDS  7
#define NFIELDS 6
#define SCHEMA                                                                                     \
    "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"

static const char *const field_names[NFIELDS] = {"obs", "rew", "logp", "t", "act", "end"};

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_rl: %s: %s (%s)\n", what, sabre_status_name(rc), sabre_last_error());
    exit(1);
}

/* ---- transport overhead ------------------------------------------------ */

typedef struct shared {
    sabre_ring_t *ring;
    sabre_weights_t *w;
    float params[CP_NPARAM];
    _Atomic int stop;
} shared;

static void *consumer_main(void *arg)
{
    shared *s = arg;
    sabre_ring_consumer_t *c;
    int rc = sabre_ring_consumer_open(s->ring, &c);
    if (rc)
        die("consumer", rc);
    uint64_t got = 0, version = 1;
    while (!atomic_load(&s->stop)) {
        sabre_ring_batch_t b;
        rc = sabre_ring_consume(c, 64, 10000000ull, &b);
        if (rc == SABRE_ETIMEDOUT)
            continue;
        if (rc)
            die("consume", rc);
        got += b.count;
        sabre_ring_release(c, &b);
        if (got / 4 != (got - b.count) / 4) { /* "an update" every 4 chunks */
            s->params[0] += 1e-6f;
            if ((rc = sabre_weights_publish(s->w, s->params, sizeof s->params, NULL, 0, &version)))
                die("publish", rc);
            sabre_ring_consumer_set_version(c, version);
        }
    }
    sabre_ring_consumer_close(c);
    return NULL;
}

/* Actor CPU ns for CHUNKS chunks through ring + weights. */
static double run_ring(shared *s, cp_env *envs, uint64_t *rng, const sabre_ring_field_t *f)
{
    sabre_ring_producer_t *p;
    sabre_weights_reader_t *r;
    int rc;
    if ((rc = sabre_ring_producer_open(s->ring, &p)) || (rc = sabre_weights_reader_open(s->w, &r)))
        die("actor", rc);
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int c = 0; c < CHUNKS; c++) {
        sabre_weights_view_t v;
        rc = sabre_weights_adopt(r, &(sabre_weights_adopt_opts_t){.check_finite = true}, &v);
        if (rc)
            die("adopt", rc);
        sabre_ring_producer_set_version(p, v.version);
        sabre_ring_claim_t cl;
        if ((rc = sabre_ring_claim(p, 1, UINT64_MAX, &cl)))
            die("claim", rc);
        uint8_t *b = cl.data;
        cp_rollout(envs, E, T, v.data, rng, (float *)(b + f[0].offset), (float *)(b + f[1].offset),
                   (float *)(b + f[2].offset), (uint32_t *)(b + f[3].offset), b + f[4].offset,
                   b + f[5].offset);
        if ((rc = sabre_ring_commit(p, &cl)))
            die("commit", rc);
    }
    double ns = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
    sabre_weights_reader_close(r);
    sabre_ring_producer_close(p);
    return ns;
}

/* The same loop without sabre: a private chunk buffer, private weights. */
static double run_bare(const float *params, cp_env *envs, uint64_t *rng, uint8_t *buf,
                       const sabre_ring_field_t *f)
{
    static float w[CP_NPARAM];
    volatile uint64_t sink = 0;
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int c = 0; c < CHUNKS; c++) {
        if (c % 4 == 0)
            memcpy(w, params, sizeof w); /* "an update" every 4 chunks */
        cp_rollout(envs, E, T, w, rng, (float *)(buf + f[0].offset), (float *)(buf + f[1].offset),
                   (float *)(buf + f[2].offset), (uint32_t *)(buf + f[3].offset), buf + f[4].offset,
                   buf + f[5].offset);
        sink += buf[f[5].offset];
    }
    (void)sink;
    return (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
}

static int bench_overhead(void)
{
    sabre_region_t *reg;
    sabre_schema_t *schema;
    shared s = {0};
    int rc;
    if ((rc = sabre_region_create(
             &(sabre_region_desc_t){.backing = SABRE_BACKING_PRIVATE, .size = 8u << 20}, &reg)) ||
        (rc = sabre_schema_compile(SCHEMA, strlen(SCHEMA), &schema, NULL)))
        die("setup", rc);
    sabre_ring_desc_t rd = {.name = "rollouts",
                            .policy = SABRE_RING_BLOCK,
                            .capacity = 4,
                            .producers = 1,
                            .layout = sabre_schema_root(schema),
                            .steps = T,
                            .envs = E};
    sabre_weights_desc_t wd = {.name = "policy",
                               .size = sizeof s.params,
                               .slots = 4,
                               .readers = 1,
                               .flags = SABRE_WEIGHTS_F32};
    if ((rc = sabre_ring_create(reg, &rd, &s.ring)) || (rc = sabre_weights_create(reg, &wd, &s.w)))
        die("create", rc);
    sabre_ring_field_t f[NFIELDS];
    for (int i = 0; i < NFIELDS; i++)
        if ((rc = sabre_ring_field_find(s.ring, field_names[i], &f[i])))
            die("field", rc);
    uint64_t rng = 1;
    for (int i = 0; i < CP_NPARAM; i++)
        s.params[i] = (float)(cp_uniform(&rng) - 0.5) * 0.2f;
    if ((rc = sabre_weights_publish(s.w, s.params, sizeof s.params, NULL, 0, NULL)))
        die("publish", rc);
    uint8_t *buf = aligned_alloc(64, sabre_ring_chunk_stride(s.ring));
    cp_env envs[E];
    for (int e = 0; e < E; e++)
        cp_reset(&envs[e], &rng);
    pthread_t th;
    pthread_create(&th, NULL, consumer_main, &s);
    double ring_ns[ROUNDS], bare_ns[ROUNDS], ratio[ROUNDS];
    run_bare(s.params, envs, &rng, buf, f); /* warm-up */
    run_ring(&s, envs, &rng, f);
    for (int k = 0; k < ROUNDS; k++) {
        bare_ns[k] = run_bare(s.params, envs, &rng, buf, f);
        ring_ns[k] = run_ring(&s, envs, &rng, f);
        ratio[k] = ring_ns[k] / bare_ns[k];
    }
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    double steps = (double)CHUNKS * T * E;
    double rmed = bench_median(ratio, ROUNDS);
    printf("bench_rl: actor loop of `sabre demo rl`, %dx%d chunks, %d chunks per run, medians of "
           "%d rounds\n",
           T, E, CHUNKS, ROUNDS);
    printf("  bare loop (private buffer + weights copy)  %8.1f ns/step (actor CPU)\n",
           bench_median(bare_ns, ROUNDS) / steps);
    printf("  ring + weights (adopt, claim, commit)      %8.1f ns/step (actor CPU)\n",
           bench_median(ring_ns, ROUNDS) / steps);
    printf("  transport overhead: %+.1f%% of actor CPU (ratio %.3f; target <= +10%%)\n",
           (rmed - 1) * 100, rmed);
    free(buf);
    sabre_weights_close(s.w);
    sabre_ring_close(s.ring);
    sabre_schema_free(schema);
    sabre_region_close(reg);
    return 0;
}

/* ---- producer and consumer processes for bench_rl_consumer.py --------- */

static sabre_ring_t *open_ring(const char *name, sabre_region_t **reg)
{
    sabre_ring_t *ring;
    int rc =
        sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = name}, reg);
    if (rc || (rc = sabre_ring_open(*reg, "rollouts", NULL, 0, 0, &ring)))
        die("open", rc);
    return ring;
}

static _Noreturn void producer(const char *name)
{
    sabre_region_t *reg;
    sabre_ring_t *ring = open_ring(name, &reg);
    sabre_ring_producer_t *p;
    int rc = sabre_ring_producer_open(ring, &p);
    if (rc)
        die("producer", rc);
    for (uint64_t n = 0;; n++) {
        sabre_ring_claim_t cl;
        rc = sabre_ring_claim(p, 1, 100000000ull, &cl);
        if (rc == SABRE_ECLOSED) { /* between two consumers: the next one reopens it */
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        if (rc == SABRE_ETIMEDOUT)
            continue;
        if (rc)
            die("claim", rc);
        cl.data[0] = (uint8_t)n; /* the payload is left as it is: the consumer copies it */
        sabre_ring_producer_set_version(p, n / 64);
        if ((rc = sabre_ring_commit(p, &cl)))
            die("commit", rc);
    }
}

static int consumer(const char *name, double seconds, double warmup)
{
    sabre_region_t *reg;
    sabre_ring_t *ring = open_ring(name, &reg);
    sabre_ring_consumer_t *c;
    int rc = sabre_ring_consumer_open(ring, &c);
    if (rc)
        die("consumer", rc);
    uint32_t nf = sabre_ring_field_count(ring);
    sabre_ring_field_t f[SABRE_RING_MAX_FIELDS];
    uint64_t total = 0;
    for (uint32_t i = 0; i < nf; i++)
        sabre_ring_field_at(ring, i, &f[i]), total += f[i].size;
    uint8_t *copy = malloc(64 * total);
    uint64_t chunks = 0, vsum = 0, c0 = 0, t0 = 0, t1 = 0, end = UINT64_MAX;
    uint64_t warm_end = now_ns(CLOCK_MONOTONIC) + (uint64_t)(warmup * 1e9);
    while ((t1 = now_ns(CLOCK_MONOTONIC)) < end) {
        if (!t0 && t1 >= warm_end) { /* measure from here */
            chunks = 0, c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = t1;
            end = t0 + (uint64_t)(seconds * 1e9);
        }
        sabre_ring_batch_t b;
        rc = sabre_ring_consume(c, 64, 10000000ull, &b);
        if (rc == SABRE_ETIMEDOUT)
            continue;
        if (rc)
            die("consume", rc);
        /* as train.py does: the headers, a copy of every field */
        for (uint32_t i = 0; i < b.count; i++)
            vsum += sabre_ring_batch_chunk(c, &b, i)->sequence;
        for (uint32_t k = 0, o = 0; k < nf; o += (uint32_t)(f[k].size * b.count), k++)
            for (uint32_t i = 0; i < b.count; i++)
                memcpy(copy + o + i * f[k].size, b.data + (uint64_t)i * b.stride + f[k].offset,
                       f[k].size);
        chunks += b.count;
        sabre_ring_release(c, &b);
    }
    double cpu = (double)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0);
    printf("%.1f chunks/s %.1f chunks/cpu-s (sequence sum %llu)\n",
           (double)chunks * 1e9 / (double)(t1 - t0), (double)chunks * 1e9 / cpu,
           (unsigned long long)vsum);
    free(copy);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--producer"))
        producer(argv[2]);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--consumer"))
        return consumer(argv[2], atof(argv[3]), argc == 5 ? atof(argv[4]) : 0.0);
    if (argc != 1) {
        fprintf(stderr, "usage: bench_rl | bench_rl --producer REGION | "
                        "bench_rl --consumer REGION SECONDS [WARMUP]\n");
        return 2;
    }
    return bench_overhead();
}
