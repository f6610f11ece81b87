// SABRE_TEST_LABELS: unit concurrent process stress
/*
 * test_region_concurrent.c - lock-free allocation from 4 threads and from 3
 * processes at once: every object gets its own bytes (no overlap), every
 * entry is valid, contended names are won exactly once, checksummed
 * contents survive, and filling the region to the brim fails cleanly.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"

#define NTHREADS          4
#define NPROCS            3
#define NSHARED           16
#define SABRE_MIN_U(a, b) ((a) < (b) ? (a) : (b))

static unsigned per_worker;
static pthread_barrier_t start_line;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint64_t name_seed(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return h;
}

/* Object size and content are functions of its name, so any process can check them. */
static uint64_t size_for(const char *name)
{
    return 1 + mix(name_seed(name)) % 3000;
}

static void fill(const char *name, uint8_t *p, uint64_t n)
{
    uint64_t s = name_seed(name);
    for (uint64_t i = 0; i < n; i++)
        p[i] = (uint8_t)mix(s + i);
}

static bool verify(const char *name, const uint8_t *p, uint64_t n)
{
    uint64_t s = name_seed(name);
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)mix(s + i))
            return false;
    return true;
}

struct worker {
    sabre_region_t *r;
    int id;
    unsigned won; /* shared names this worker allocated */
    int failures;
};

/* Allocates per_worker private objects and tries every shared name;
 * returns the number of failed checks (threads) -- processes exit with it. */
static int work(struct worker *w)
{
    char name[SABRE_NAME_MAX];
    for (unsigned i = 0; i < per_worker; i++) {
        snprintf(name, sizeof name, "w%d.obj%u", w->id, i);
        sabre_object_t o;
        uint64_t n = size_for(name);
        int rc = sabre_region_alloc(
            w->r, &(sabre_object_desc_t){.name = name, .size = n, .layout_text = name}, &o);
        if (rc != SABRE_OK) {
            fprintf(stderr, "worker %d: alloc %s: %s\n", w->id, name, sabre_last_error());
            w->failures++;
            continue;
        }
        fill(name, o.ptr, n);
        if (i % NSHARED == 0) {
            snprintf(name, sizeof name, "shared%u", i / NSHARED % NSHARED);
            rc = sabre_region_alloc(w->r, &(sabre_object_desc_t){.name = name, .size = 64}, &o);
            if (rc == SABRE_OK) {
                w->won++;
                fill(name, o.ptr, 64);
            } else if (rc != SABRE_EEXIST) {
                fprintf(stderr, "worker %d: alloc %s: %s\n", w->id, name, sabre_last_error());
                w->failures++;
            }
        }
        /* Readers run concurrently with the allocators. */
        uint32_t cnt = sabre_region_count(w->r);
        sabre_object_t any;
        if (cnt > 0 && sabre_region_object_at(w->r, (uint32_t)mix(i) % cnt, &any) != SABRE_OK) {
            fprintf(stderr, "worker %d: object_at: %s\n", w->id, sabre_last_error());
            w->failures++;
        }
    }
    return w->failures;
}

static void *thread_main(void *arg)
{
    pthread_barrier_wait(&start_line);
    work(arg);
    return NULL;
}

struct ext {
    uint64_t lo, hi;
};

static int ext_cmp(const void *a, const void *b)
{
    const struct ext *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Every published object valid, disjoint, checksummed; the expected names present. */
static void verify_region(sabre_region_t *r, int workers)
{
    uint32_t n = sabre_region_count(r);
    unsigned shared_names = per_worker / NSHARED + (per_worker % NSHARED ? 1 : 0);
    if (shared_names > NSHARED)
        shared_names = NSHARED;
    CHECK_EQ(n, (uint32_t)workers * per_worker + shared_names);
    struct ext *ex = calloc(2 * (size_t)n, sizeof *ex);
    CHECK(ex != NULL);
    size_t ne = 0;
    for (uint32_t i = 0; i < n; i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_object_at(r, i, &o));
        CHECK_EQ(o.offset % 64, 0);
        if (strncmp(o.name, "shared", 6) == 0) {
            CHECK_EQ(o.size, 64);
        } else {
            CHECK_EQ(o.size, size_for(o.name));
            CHECK(strcmp(o.layout_text, o.name) == 0);
        }
        if (!verify(o.name, o.ptr, o.size))
            CHECK_FAIL_("contents of '%s' are damaged", o.name);
        ex[ne++] = (struct ext){o.offset, o.offset + o.size};
        if (o.layout_len) {
            uint64_t t = sabre_region_offset(r, o.layout_text);
            ex[ne++] = (struct ext){t, t + o.layout_len + 1};
        }
        sabre_object_t f;
        CHECK_OK(sabre_region_find(r, o.name, NULL, &f));
        CHECK_EQ(f.offset, o.offset); /* names are unique: find returns this one */
    }
    qsort(ex, ne, sizeof *ex, ext_cmp);
    for (size_t i = 1; i < ne; i++)
        CHECK(ex[i].lo >= ex[i - 1].hi);
    free(ex);
    char name[32];
    for (int w = 0; w < workers; w++)
        for (unsigned i = 0; i < per_worker; i += per_worker / 7 + 1) {
            snprintf(name, sizeof name, "w%d.obj%u", w, i);
            CHECK_OK(sabre_region_find(r, name, NULL, NULL));
        }
    /* A region reopened from scratch agrees (full validation, overlap check). */
    if (sabre_region_fd(r) >= 0) {
        sabre_region_t *r2 = NULL;
        CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), SABRE_REGION_READONLY, &r2));
        CHECK_EQ(sabre_region_count(r2), n);
        sabre_region_close(r2);
    }
}

static void test_threads(void)
{
    for (int backing = 0; backing < 2; backing++) {
        sabre_region_t *r = NULL;
        CHECK_OK(sabre_region_create(
            &(sabre_region_desc_t){.backing = backing ? SABRE_BACKING_MEMFD : SABRE_BACKING_PRIVATE,
                                   .size = 64ull << 20,
                                   .max_objects = 8192},
            &r));
        pthread_t t[NTHREADS];
        struct worker w[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            w[i] = (struct worker){.r = r, .id = i};
            CHECK(pthread_create(&t[i], NULL, thread_main, &w[i]) == 0);
        }
        unsigned won = 0;
        for (int i = 0; i < NTHREADS; i++) {
            pthread_join(t[i], NULL);
            CHECK_EQ(w[i].failures, 0);
            won += w[i].won;
        }
        unsigned shared_names = per_worker / NSHARED + (per_worker % NSHARED ? 1 : 0);
        CHECK_EQ(won, SABRE_MIN_U(shared_names, NSHARED));
        verify_region(r, NTHREADS);
        sabre_region_close(r);
    }
}

static void test_processes(void)
{
    char shm[64];
    snprintf(shm, sizeof shm, "/sabre-test-conc-%d", (int)getpid());
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = shm,
                                                        .size = 64ull << 20,
                                                        .max_objects = 8192,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    int pipes[NPROCS][2];
    pid_t pids[NPROCS];
    for (int i = 0; i < NPROCS; i++) {
        CHECK(pipe(pipes[i]) == 0);
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            /* Child: its own mapping, opened by name. */
            sabre_region_t *cr = NULL;
            if (sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm},
                                  &cr) != SABRE_OK) {
                fprintf(stderr, "child %d: open: %s\n", i, sabre_last_error());
                _exit(2);
            }
            struct worker w = {.r = cr, .id = i};
            int f = work(&w);
            unsigned won = w.won;
            if (write(pipes[i][1], &won, sizeof won) != (ssize_t)sizeof won)
                f++;
            sabre_region_close(cr);
            _exit(f ? 1 : 0);
        }
        close(pipes[i][1]);
    }
    unsigned won = 0;
    for (int i = 0; i < NPROCS; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        unsigned v = 0;
        CHECK(read(pipes[i][0], &v, sizeof v) == (ssize_t)sizeof v);
        close(pipes[i][0]);
        won += v;
    }
    unsigned shared_names = per_worker / NSHARED + (per_worker % NSHARED ? 1 : 0);
    CHECK_EQ(won, SABRE_MIN_U(shared_names, NSHARED));
    verify_region(r, NPROCS);
    sabre_region_close(r);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_SHM, shm));
}

struct filler {
    sabre_region_t *r;
    int id;
    uint64_t bytes;
    unsigned count;
};

static void *fill_main(void *arg)
{
    struct filler *f = arg;
    pthread_barrier_wait(&start_line);
    char name[32];
    for (unsigned i = 0;; i++) {
        snprintf(name, sizeof name, "f%d.%u", f->id, i);
        uint64_t n = 1 + mix(name_seed(name)) % 20000;
        sabre_object_t o;
        int rc = sabre_region_alloc(f->r, &(sabre_object_desc_t){.name = name, .size = n}, &o);
        if (rc == SABRE_ENOSPC)
            break;
        if (rc != SABRE_OK)
            return (void *)1;
        fill(name, o.ptr, n);
        f->bytes += n;
        f->count++;
    }
    return NULL;
}

/* Threads allocate until the region is full: all see ENOSPC, nothing overlaps. */
static void test_fill_to_brim(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(
        sabre_region_create(&(sabre_region_desc_t){.size = 2ull << 20, .max_objects = 2048}, &r));
    pthread_t t[NTHREADS];
    struct filler f[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        f[i] = (struct filler){.r = r, .id = i};
        CHECK(pthread_create(&t[i], NULL, fill_main, &f[i]) == 0);
    }
    uint64_t bytes = 0;
    unsigned count = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        CHECK(ret == NULL);
        bytes += f[i].bytes;
        count += f[i].count;
    }
    CHECK_EQ(sabre_region_count(r), count);
    CHECK(bytes <= sabre_region_size(r));
    sabre_region_info_t info;
    CHECK_OK(sabre_region_info(r, &info));
    CHECK(info.used <= info.total_size);
    for (uint32_t i = 0; i < count; i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_object_at(r, i, &o));
        if (!verify(o.name, o.ptr, o.size))
            CHECK_FAIL_("contents of '%s' are damaged", o.name);
    }
    sabre_region_close(r);
}

/* Allocating processes SIGKILLed at random moments never wedge the region:
 * it still opens and validates, and every name they fought over is settled
 * by a survivor (allocated now, or found taken), never left blocked. */
static void test_killed_allocators(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                        .size = 64ull << 20,
                                                        .max_objects = 1u << 16},
                                 &r));
    const unsigned names = 20000;
    unsigned rounds = (unsigned)check_scale(5), writing = 0, dead = 0;
    char name[32];
    for (unsigned round = 0; round < rounds; round++) {
        pid_t pids[NPROCS];
        for (int i = 0; i < NPROCS; i++) {
            pids[i] = fork();
            CHECK(pids[i] >= 0);
            if (pids[i] == 0) {
                /* All children walk the same names (from different starting
                 * points): constant contention, like workers racing to set
                 * up a shared object. */
                for (unsigned k = (unsigned)i * 7;; k = (k + 1) % names) {
                    snprintf(name, sizeof name, "k%u.%u", round, k);
                    if (sabre_region_find(r, name, NULL, NULL) == SABRE_OK)
                        continue;
                    int rc = sabre_region_alloc(
                        r, &(sabre_object_desc_t){.name = name, .size = 1 + k % 200}, NULL);
                    if (rc != SABRE_OK && rc != SABRE_EEXIST)
                        _exit(1);
                }
            }
        }
        usleep(3000 + 4000 * round);
        for (int i = 0; i < NPROCS; i++) {
            kill(pids[i], SIGKILL);
            int st = 0;
            CHECK(waitpid(pids[i], &st, 0) == pids[i]);
            CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL); /* none failed on its own */
        }
        /* The region still validates from scratch. */
        sabre_region_t *r2 = NULL;
        CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), SABRE_REGION_READONLY, &r2));
        sabre_region_close(r2);
        /* Slots the killed processes left half-written are skipped by readers... */
        sabre_region_info_t info;
        CHECK_OK(sabre_region_info(r, &info));
        for (uint32_t sl = 0; sl < info.dir_claimed; sl++) {
            sabre_slot_info_t si;
            CHECK_OK(sabre_region_slot(r, sl, &si));
            if (si.state == SABRE_SLOT_WRITING)
                CHECK(!si.pid_alive);
        }
        /* ...and a survivor settles every contested name without waiting on them. */
        for (unsigned k = 0; k < 64; k++) {
            snprintf(name, sizeof name, "k%u.%u", round, k);
            int rc = sabre_region_alloc(r, &(sabre_object_desc_t){.name = name, .size = 8}, NULL);
            CHECK(rc == SABRE_OK || rc == SABRE_EEXIST);
            CHECK_OK(sabre_region_find(r, name, NULL, NULL));
        }
    }
    sabre_region_info_t info;
    CHECK_OK(sabre_region_info(r, &info));
    for (uint32_t sl = 0; sl < info.dir_claimed; sl++) {
        sabre_slot_info_t si;
        CHECK_OK(sabre_region_slot(r, sl, &si));
        dead += si.state == SABRE_SLOT_DEAD;
        writing += si.state == SABRE_SLOT_WRITING;
    }
    uint32_t n = sabre_region_count(r);
    for (uint32_t i = 0; i < n; i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_object_at(r, i, &o));
    }
    printf("killed allocators: %u rounds, %u objects, %u slots claimed, %u given up, %u left "
           "half-written by killed processes\n",
           rounds, n, info.dir_claimed, dead, writing);
    sabre_region_close(r);
}

int main(void)
{
    pthread_barrier_init(&start_line, NULL, NTHREADS);
    per_worker = (unsigned)check_scale(1000);
    test_threads();
    test_processes();
    test_fill_to_brim();
    test_killed_allocators();
    return check_done();
}
