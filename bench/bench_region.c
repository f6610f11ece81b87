/*
 * bench_region.c - region costs against baselines measured in the same run
 * (medians of 5):
 *   1. creating and pre-faulting a 1 GiB region (PRIVATE, MEMFD, SHM; and
 *      with SABRE_REGION_HUGEPAGES, which uses huge pages only where the
 *      system offers them) vs malloc + memset of 1 GiB (target ratio <= 1.3),
 *      like with like: the region's prefault splits ranges of 64 MiB and
 *      more over up to four threads (MEMFD, SHM, and PRIVATE with huge-page
 *      advice), while PRIVATE without huge pages is one MAP_POPULATE on the
 *      calling thread; each case is divided by a malloc + memset on as many
 *      threads and with the same page advice (4 KiB pages, or transparent
 *      huge pages on 2 MiB-aligned memory for the HUGEPAGES cases that get
 *      them: MEMFD only where shmem transparent huge pages are enabled);
 *   2. opening and validating a region with 1,000 objects (target < 1 ms),
 *      next to find-by-name over all of them.
 * Usage: bench_region [MiB]   (default 1024)
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* The region's prefault thread count for `bytes` (src/region/create.c,
 * populate_parallel): up to four threads for 64 MiB and more. */
static unsigned prefault_threads(size_t bytes)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return bytes >= (64u << 20) && cpus > 1 ? (unsigned)(cpus < 4 ? cpus : 4) : 1;
}

/* Whether tmpfs (memfd, shm) hands out transparent huge pages here: the
 * selected value of shmem_enabled is neither never nor deny. */
static bool shmem_thp(void)
{
    char buf[256] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return !strstr(buf, "[never]") && !strstr(buf, "[deny]") && strchr(buf, '[');
}

typedef struct part {
    char *p;
    size_t len;
} part_t;

static void *memset_part(void *arg)
{
    part_t *x = arg;
    memset_fn(x->p, 0, x->len);
    return NULL;
}

/* malloc (or 2 MiB-aligned memory with THP advice) + memset split over
 * `threads` threads, the calling thread included. */
static double bench_malloc_memset(size_t bytes, unsigned threads, bool huge)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_s();
        char *p = NULL;
        if (huge) {
            if (posix_memalign((void **)&p, 2u << 20, bytes))
                p = NULL;
            else
                (void)madvise(p, bytes, MADV_HUGEPAGE);
        } else {
            p = malloc(bytes);
        }
        if (!p) {
            fprintf(stderr, "malloc(%zu) failed\n", bytes);
            exit(1);
        }
        part_t parts[4];
        pthread_t tid[4];
        size_t step = (bytes / threads + 4095) & ~(size_t)4095;
        unsigned n = 0;
        for (size_t off = 0; off < bytes && n < threads; off += step, n++)
            parts[n] = (part_t){p + off, bytes - off < step ? bytes - off : step};
        for (unsigned k = 1; k < n; k++)
            if (pthread_create(&tid[k], NULL, memset_part, &parts[k]))
                exit(1);
        memset_part(&parts[0]);
        for (unsigned k = 1; k < n; k++)
            pthread_join(tid[k], NULL);
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
    unsigned pt = prefault_threads(bytes);
    struct {
        const char *label;
        sabre_backing_t b;
        const char *name;
        uint32_t extra;
        unsigned threads;
    } cases[] = {
        {"create PRIVATE + prefault", SABRE_BACKING_PRIVATE, NULL, 0, 1},
        {"create MEMFD + prefault", SABRE_BACKING_MEMFD, "bench", 0, pt},
        {"create SHM + prefault", SABRE_BACKING_SHM, shm, 0, pt},
        {"  PRIVATE, HUGEPAGES", SABRE_BACKING_PRIVATE, NULL, SABRE_REGION_HUGEPAGES, pt},
        {"  MEMFD, HUGEPAGES", SABRE_BACKING_MEMFD, "bench", SABRE_REGION_HUGEPAGES, pt},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the page policy the case really gets: tmpfs only has huge pages
         * where shmem THP is enabled */
        bool huge = (cases[i].extra & SABRE_REGION_HUGEPAGES) &&
                    (cases[i].b == SABRE_BACKING_PRIVATE || shmem_thp());
        /* baseline and case back to back, so both see the same host */
        double base = bench_malloc_memset(bytes, cases[i].threads, huge);
        double t = bench_create(cases[i].b, cases[i].name, bytes, cases[i].extra);
        printf("%-28s %8.1f ms  vs malloc + memset on %u thread%s (%s) %8.1f ms: ratio %.2f  "
               "(target <= 1.3: %s)\n",
               cases[i].label, t * 1e3, cases[i].threads, cases[i].threads > 1 ? "s" : "",
               huge ? "THP advice" : "4 KiB pages", base * 1e3, t / base,
               t / base <= 1.3 ? "met" : "NOT met");
    }
    bench_open();
    return 0;
}
