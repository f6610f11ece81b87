/*
 * bench_ring_wasm.c - the ring's one-producer case (LANES, 64-byte records,
 * batch 256, block policy, a PRIVATE region, producer and consumer threads)
 * in a form that builds both natively (bench/, build/release/) and with
 * emscripten -pthread (build/wasm/bench_ring_wasm.js, run by node).
 * bench/ring_wasm.sh runs the two builds back to back and prints the
 * wasm/native ratio of their medians (target >= 0.8).  Prints one line:
 * "rate <records per second, median of 5 runs>".  Every record is
 * checksummed by the consumer.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
#include "sabre/sabre.h"

#define BATCH 256
#define CAP   1024
#define REC   64
#define RUNS  5

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_ring_wasm: %s: %s: %s\n", what, sabre_status_name(rc),
            sabre_last_error());
    exit(1);
}

struct job {
    sabre_ring_t *ring;
    uint64_t n;
};

static void *producer(void *arg)
{
    struct job *j = arg;
    sabre_ring_producer_t *p = NULL;
    int rc = sabre_ring_producer_open(j->ring, &p);
    if (rc)
        die("producer", rc);
    for (uint64_t done = 0; done < j->n; done += BATCH) {
        sabre_ring_claim_t cl;
        if ((rc = sabre_ring_claim(p, BATCH, UINT64_MAX, &cl)))
            die("claim", rc);
        uint8_t *q = cl.data;
        for (uint32_t i = 0; i < cl.count; i++, q += cl.stride) {
            uint64_t *w = (uint64_t *)(void *)q;
            for (int k = 0; k < REC / 8; k++)
                w[k] = done + i + (uint64_t)k;
        }
        if ((rc = sabre_ring_commit(p, &cl)))
            die("commit", rc);
    }
    sabre_ring_producer_close(p);
    return NULL;
}

struct cjob {
    sabre_ring_consumer_t *c;
    uint64_t n, sum;
};

/* The consumer runs on a thread of its own too: in wasm the main thread is
 * the host's event loop, not a place to spin or block. */
static void *consumer(void *arg)
{
    struct cjob *j = arg;
    uint64_t got = 0;
    while (got < j->n) {
        sabre_ring_batch_t b;
        int rc = sabre_ring_consume(j->c, BATCH, 10000000000ull, &b);
        if (rc)
            die("consume", rc);
        const uint8_t *q = b.data;
        for (uint32_t i = 0; i < b.count; i++, q += b.stride) {
            const uint64_t *w = (const uint64_t *)(const void *)q;
            for (int k = 0; k < REC / 8; k++)
                j->sum += w[k];
        }
        got += b.count;
        sabre_ring_release(j->c, &b);
    }
    return NULL;
}

static double rate(uint64_t n)
{
    sabre_region_t *reg = NULL;
    int rc =
        sabre_region_create(&(sabre_region_desc_t){.name = "bench", .size = 32ull << 20}, &reg);
    if (rc)
        die("region", rc);
    sabre_ring_t *ring = NULL;
    rc = sabre_ring_create(reg,
                           &(sabre_ring_desc_t){.name = "r",
                                                .policy = SABRE_RING_BLOCK,
                                                .capacity = CAP,
                                                .producers = 1,
                                                .record_size = REC},
                           &ring);
    if (rc)
        die("ring", rc);
    sabre_ring_consumer_t *c = NULL;
    if ((rc = sabre_ring_consumer_open(ring, &c)))
        die("consumer", rc);
    struct job j = {ring, n};
    struct cjob cj = {c, n, 0};
    pthread_t th, tc;
    uint64_t t0 = now_ns();
    pthread_create(&tc, NULL, consumer, &cj);
    pthread_create(&th, NULL, producer, &j);
    pthread_join(tc, NULL);
    uint64_t t1 = now_ns();
    pthread_join(th, NULL);
    uint64_t sum = cj.sum, want = 0;
    for (uint64_t i = 0; i < n; i++)
        want += 8 * i + 28;
    if (sum != want) {
        fprintf(stderr, "bench_ring_wasm: checksum %llu, want %llu\n", (unsigned long long)sum,
                (unsigned long long)want);
        exit(1);
    }
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    return (double)n / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    n -= n % BATCH;
    double r[RUNS];
    for (int i = 0; i < RUNS; i++)
        r[i] = rate(n);
    printf("rate %.0f\n", bench_median(r, RUNS));
    return 0;
}
