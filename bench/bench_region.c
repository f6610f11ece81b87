/*
 * bench_region.c - region costs against baselines measured in the same run
 * (medians of 5):
 *   1. creating and pre-faulting a 1 GiB region (PRIVATE, MEMFD, SHM; and
 *      with SABRE_REGION_HUGEPAGES, which uses huge pages only where the
 *      system offers them) vs malloc + memset of 1 GiB (target ratio <= 1.3);
 *   2. opening and validating a region with 1,000 objects (target < 1 ms),
 *      next to find-by-name over all of them.
 * Usage: bench_region [MiB]   (default 1024)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sabre/region.h"

#include "bench_util.h"

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Through a volatile pointer so malloc + memset is not turned into calloc. */
static void *(*volatile memset_fn)(void *, int, size_t) = memset;

static double bench_malloc_memset(size_t bytes)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_s();
        char *p = malloc(bytes);
        if (!p) {
            fprintf(stderr, "malloc(%zu) failed\n", bytes);
            exit(1);
        }
        memset_fn(p, 0, bytes);
        t[i] = now_s() - t0;
        /* keep the compiler from dropping the memset */
        if (p[bytes - 1] != 0)
            abort();
        free(p);
    }
    return bench_median(t, RUNS);
}

static double bench_create(sabre_backing_t b, const char *name, size_t bytes, uint32_t extra)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        sabre_region_t *r = NULL;
        double t0 = now_s();
        int rc = sabre_region_create(
            &(sabre_region_desc_t){.backing = b,
                                   .name = name,
                                   .size = bytes,
                                   .flags = SABRE_REGION_PREFAULT | extra |
                                            (b == SABRE_BACKING_SHM ? SABRE_REGION_REPLACE : 0)},
            &r);
        t[i] = now_s() - t0;
        if (rc != SABRE_OK) {
            fprintf(stderr, "create: %s\n", sabre_last_error());
            exit(1);
        }
        sabre_region_close(r);
        if (b == SABRE_BACKING_SHM)
            sabre_region_unlink(b, name);
    }
    return bench_median(t, RUNS);
}

static void bench_open(void)
{
    const unsigned nobj = 1000;
    sabre_region_t *r = NULL;
    if (sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                   .size = 64u << 20,
                                                   .max_objects = 1024},
                            &r) != SABRE_OK) {
        fprintf(stderr, "create: %s\n", sabre_last_error());
        exit(1);
    }
    char name[32], text[128];
    for (unsigned i = 0; i < nobj; i++) {
        snprintf(name, sizeof name, "object.%u", i);
        snprintf(text, sizeof text, "struct T%u{pos_x:f32;pos_y:f32;vel_x:f32;vel_y:f32;id:u32;}",
                 i);
        if (sabre_region_alloc(
                r,
                &(sabre_object_desc_t){
                    .name = name, .kind = SABRE_OBJ_COLUMNS, .size = 1024 + i, .layout_text = text},
                NULL) != SABRE_OK) {
            fprintf(stderr, "alloc: %s\n", sabre_last_error());
            exit(1);
        }
    }
    const int reps = 50;
    double t[RUNS], f[RUNS];
    for (int k = 0; k < RUNS; k++) {
        double t0 = now_s();
        for (int i = 0; i < reps; i++) {
            sabre_region_t *r2 = NULL;
            if (sabre_region_open_fd(sabre_region_fd(r), SABRE_REGION_READONLY, &r2) != SABRE_OK) {
                fprintf(stderr, "open: %s\n", sabre_last_error());
                exit(1);
            }
            sabre_region_close(r2);
        }
        t[k] = (now_s() - t0) / reps;
        t0 = now_s();
        for (unsigned i = 0; i < nobj; i++) {
            snprintf(name, sizeof name, "object.%u", i);
            sabre_object_t o;
            if (sabre_region_find(r, name, NULL, &o) != SABRE_OK)
                exit(1);
        }
        f[k] = (now_s() - t0) / nobj;
    }
    double open_us = bench_median(t, RUNS) * 1e6, find_us = bench_median(f, RUNS) * 1e6;
    printf("open + validate, %u objects: %8.1f us   (target < 1000 us: %s)\n", nobj, open_us,
           open_us < 1000 ? "met" : "NOT met");
    printf("find by name (1000 objects, mean of all): %6.2f us per find\n", find_us);
    sabre_region_close(r);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    if (mib == 0)
        mib = 1024;
    size_t bytes = mib << 20;
    char shm[64];
    snprintf(shm, sizeof shm, "/sabre-bench-region-%d", (int)getpid());
    printf("bench_region: %zu MiB, medians of %d runs\n", mib, RUNS);
    double base = bench_malloc_memset(bytes);
    printf("malloc + memset              %8.1f ms  (baseline)\n", base * 1e3);
    struct {
        const char *label;
        sabre_backing_t b;
        const char *name;
        uint32_t extra;
    } cases[] = {
        {"create PRIVATE + prefault", SABRE_BACKING_PRIVATE, NULL, 0},
        {"create MEMFD + prefault", SABRE_BACKING_MEMFD, "bench", 0},
        {"create SHM + prefault", SABRE_BACKING_SHM, shm, 0},
        {"  PRIVATE, HUGEPAGES", SABRE_BACKING_PRIVATE, NULL, SABRE_REGION_HUGEPAGES},
        {"  MEMFD, HUGEPAGES", SABRE_BACKING_MEMFD, "bench", SABRE_REGION_HUGEPAGES},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double t = bench_create(cases[i].b, cases[i].name, bytes, cases[i].extra);
        printf("%-28s %8.1f ms  ratio %.2f  (target <= 1.3: %s)\n", cases[i].label, t * 1e3,
               t / base, t / base <= 1.3 ? "met" : "NOT met");
    }
    bench_open();
    return 0;
}
