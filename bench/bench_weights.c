/*
 * bench_weights - weights publication against memcpy, and the cost of
 * adopting a new version.  Medians of several runs, ratios measured in the
 * same run.  Targets (issue 5):
 *   publish 4 MiB <= 1.3 x memcpy of 4 MiB
 *   adopt a new version <= 200 ns
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sabre/region.h"
#include "sabre/weights.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    return v[n / 2];
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_weights: %s: %s (%s)\n", what, sabre_status_name(rc),
            sabre_last_error());
    exit(1);
}

#define SIZE (4u << 20)

/* Cross-thread adoption: a publisher thread publishes every ~20 us; the
 * reader times the adopt calls that moved its pin to a new version. */
struct xarg {
    sabre_weights_t *w;
    _Atomic int stop;
};

static void *publisher(void *arg)
{
    struct xarg *a = arg;
    uint8_t small[256] = {0};
    while (!atomic_load(&a->stop)) {
        if (sabre_weights_publish(a->w, small, sizeof small, NULL, 0, NULL) != SABRE_OK)
            continue; /* slot busy: retry */
        uint64_t t = now_ns();
        while (now_ns() - t < 20000)
            ;
    }
    return NULL;
}
#define RUNS  41
#define SLOTS 3

int main(void)
{
    sabre_region_t *reg = NULL;
    sabre_region_desc_t rd = {
        .backing = SABRE_BACKING_PRIVATE, .size = 64ull << 20, .flags = SABRE_REGION_PREFAULT};
    int rc = sabre_region_create(&rd, &reg);
    if (rc)
        die("region", rc);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t wd = {.name = "w", .size = SIZE, .slots = SLOTS};
    if ((rc = sabre_weights_create(reg, &wd, &w)))
        die("create", rc);
    /* baseline destinations: SLOTS buffers of the same size in the same region */
    sabre_object_t dst;
    sabre_object_desc_t od = {.name = "dst", .size = (uint64_t)SIZE * SLOTS, .align = 4096};
    if ((rc = sabre_region_alloc(reg, &od, &dst)))
        die("alloc", rc);
    uint8_t *src = aligned_alloc(4096, SIZE);
    for (size_t i = 0; i < SIZE; i++)
        src[i] = (uint8_t)(i * 7);
    memset(dst.ptr, 1, (size_t)SIZE * SLOTS);
    for (int i = 0; i < SLOTS; i++) /* touch every slot once */
        if ((rc = sabre_weights_publish(w, src, SIZE, NULL, 0, NULL)))
            die("publish", rc);

    uint64_t tm[RUNS], tp[RUNS];
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = now_ns();
        memcpy((uint8_t *)dst.ptr + (size_t)(r % SLOTS) * SIZE, src, SIZE);
        uint64_t t1 = now_ns();
        if ((rc = sabre_weights_publish(w, src, SIZE, NULL, 0, NULL)))
            die("publish", rc);
        uint64_t t2 = now_ns();
        tm[r] = t1 - t0;
        tp[r] = t2 - t1;
    }
    double mc = (double)median(tm, RUNS), pb = (double)median(tp, RUNS);
    printf("publish 4 MiB: %.1f us, memcpy 4 MiB: %.1f us, ratio %.3f (target <= 1.30) %s\n",
           pb / 1e3, mc / 1e3, pb / mc, pb / mc <= 1.30 ? "OK" : "MISSED");

    /* adopt: a reader moving its pin to a freshly published version */
    sabre_weights_t *ws = NULL;
    sabre_weights_desc_t sd = {.name = "small", .size = 256, .slots = 3};
    if ((rc = sabre_weights_create(reg, &sd, &ws)))
        die("create small", rc);
    sabre_weights_reader_t *rdr = NULL;
    if ((rc = sabre_weights_reader_open(ws, &rdr)))
        die("reader", rc);
    enum { N = 20001 };
    static uint64_t ta[N], te[N], tf[N];
    sabre_weights_view_t v;
    uint8_t small[256] = {0};
    uint64_t sink = 0;
    for (int i = 0; i < N; i++) {
        if ((rc = sabre_weights_publish(ws, small, sizeof small, NULL, 0, NULL)))
            die("publish small", rc);
        uint64_t t0 = now_ns();
        uint64_t t1 = now_ns();
        rc = sabre_weights_adopt(rdr, NULL, &v);
        uint64_t t2 = now_ns();
        bool changed = v.changed;
        rc |= sabre_weights_adopt(rdr, NULL, &v);
        uint64_t t3 = now_ns();
        if (rc || !changed || v.changed)
            die("adopt", rc ? rc : SABRE_ESTATE);
        sink += v.version;
        te[i] = t1 - t0;
        ta[i] = t2 - t1;
        tf[i] = t3 - t2;
    }
    double clk = (double)median(te, N);
    double ad = (double)median(ta, N) - clk, same = (double)median(tf, N) - clk;
    printf("adopt a new version: %.0f ns (target <= 200) %s; adopt with no new version: %.0f ns "
           "(clock overhead %.0f ns subtracted)\n",
           ad, ad <= 200 ? "OK" : "MISSED", same, clk);
    if (sink == 0)
        printf("?\n");

    sabre_weights_reader_close(rdr);
    if ((rc = sabre_weights_reader_open(ws, &rdr)))
        die("reader", rc);
    struct xarg xa = {.w = ws};
    pthread_t th;
    pthread_create(&th, NULL, publisher, &xa);
    enum { M = 4001 };
    static uint64_t tx[M];
    int got = 0;
    uint64_t deadline = now_ns() + 3000000000ull;
    while (got < M && now_ns() < deadline) {
        uint64_t t0 = now_ns();
        rc = sabre_weights_adopt(rdr, NULL, &v);
        uint64_t t1 = now_ns();
        if (rc == SABRE_OK && v.changed)
            tx[got++] = t1 - t0;
    }
    atomic_store(&xa.stop, 1);
    pthread_join(th, NULL);
    if (got > 10) {
        double xd = (double)median(tx, (size_t)got) - clk;
        printf("adopt a version published by another thread: %.0f ns (median of %d, target "
               "<= 200) %s\n",
               xd, got, xd <= 200 ? "OK" : "MISSED");
    }
    sabre_weights_reader_close(rdr);
    sabre_weights_close(ws);
    sabre_weights_close(w);
    free(src);
    sabre_region_close(reg);
    return 0;
}
