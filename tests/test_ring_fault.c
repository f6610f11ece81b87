// SABRE_TEST_LABELS: unit process stress
/*
 * Fault injection: producer processes SIGKILLed at random points (including
 * between claim and commit).  The consumer keeps going, every chunk
 * committed by a producer is delivered exactly once and in order, chunks of
 * dead producers are reclaimed and counted as abandoned, nothing hangs.
 */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"
#include "sabre/ring.h"

#define NPROD      3
#define PER_CHILD  300
#define RECLAIM_NS 15000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    return x ^ (x >> 31);
}

static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

enum plan { SURVIVE = 0, DIE_IN_CLAIM = 1, KILLED_BY_PARENT = 2 };

/* Shared per-child facts, in a RAW object of the region. */
struct shared {
    _Atomic uint64_t committed[NPROD];   /* chunks committed, updated after each commit */
    _Atomic uint32_t producer_id[NPROD]; /* ring producer index of child i */
    _Atomic uint32_t opened[NPROD];
};

static int child(sabre_ring_t *ring, struct shared *sh, int i, enum plan plan, uint32_t seed)
{
    sabre_ring_producer_t *p = NULL;
    if (sabre_ring_producer_open(ring, &p) != SABRE_OK)
        return 2;
    atomic_store(&sh->producer_id[i], sabre_ring_producer_id(p));
    atomic_store(&sh->opened[i], 1);
    uint32_t x = seed | 1;
    uint32_t die_at = plan == DIE_IN_CLAIM ? xorshift(&x) % PER_CHILD : UINT32_MAX;
    uint64_t done = 0, committed = 0;
    while (done < PER_CHILD) {
        uint32_t n = 1 + xorshift(&x) % 4;
        sabre_ring_claim_t cl;
        int rc = sabre_ring_claim(p, n, 2000000000ull, &cl);
        if (rc == SABRE_EFULL) {
            done += n;
            continue;
        }
        if (rc != SABRE_OK)
            return 3;
        for (uint32_t k = 0; k < n; k++) {
            sabre_chunk_t *c = sabre_ring_claim_chunk(p, &cl, k);
            uint64_t *w = sabre_chunk_array(ring, c, 0);
            if (w != (uint64_t *)(cl.data + k * cl.stride)) /* base + stride agree */
                return 5;
            w[0] = c->producer;
            w[1] = c->sequence;
            w[2] = (uint64_t)i; /* records are reused after a close: name the child */
            for (int j = 3; j < 8; j++)
                w[j] = mix(c->sequence + (w[2] << 40), (uint64_t)j + c->producer);
        }
        if (done >= die_at)
            raise(SIGKILL); /* claimed, never committed */
        if (sabre_ring_commit(p, &cl) != SABRE_OK)
            return 4;
        committed += n;
        done += n;
        atomic_store(&sh->committed[i], committed);
        if (xorshift(&x) % 8 == 0)
            sched_yield();
    }
    sabre_ring_producer_close(p);
    return 0;
}

static int trials_with_abandon;

static void trial(int t, sabre_region_t *reg)
{
    char name[32], sname[32];
    snprintf(name, sizeof name, "ring%d", t);
    snprintf(sname, sizeof sname, "sh%d", t);
    sabre_ring_shape_t shape = t % 2 ? SABRE_RING_MPSC : SABRE_RING_LANES;
    sabre_ring_policy_t pol = (t / 2) % 2 ? SABRE_RING_DROP_NEWEST : SABRE_RING_BLOCK;
    sabre_ring_desc_t d = {.name = name,
                           .shape = shape,
                           .policy = pol,
                           .capacity = 16,
                           .producers = NPROD,
                           .record_size = 64,
                           .reclaim_ns = RECLAIM_NS,
                           .spin_ns = 2000};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_object_t so;
    sabre_object_desc_t sd = {.name = sname, .size = sizeof(struct shared)};
    CHECK_OK(sabre_region_alloc(reg, &sd, &so));
    struct shared *sh = so.ptr;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));

    uint32_t x = 0x9e3779b9u ^ (uint32_t)(t * 7919);
    enum plan plans[NPROD];
    plans[0] = SURVIVE;
    plans[1] = (t / 4) % 2 ? KILLED_BY_PARENT : DIE_IN_CLAIM;
    plans[2] = (enum plan)(xorshift(&x) % 3);
    pid_t pids[NPROD];
    uint64_t kill_at[NPROD];
    uint64_t t0 = now_ns();
    for (int i = 0; i < NPROD; i++) {
        uint32_t seed = xorshift(&x);
        kill_at[i] =
            plans[i] == KILLED_BY_PARENT ? t0 + (xorshift(&x) % 3000) * 1000ull : UINT64_MAX;
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child(ring, sh, i, plans[i], seed));
    }
    uint64_t next_seq[SABRE_RING_MAX_PRODUCERS] = {0}, got[NPROD] = {0};
    int running = NPROD;
    bool died_in_claim = false;
    uint64_t quiet_since = 0;
    const uint64_t deadline = t0 + 10000000000ull; /* a hang fails the test */
    for (;;) {
        CHECK(now_ns() < deadline);
        sabre_ring_batch_t b;
        int rc = sabre_ring_consume(c, 16, 3000000, &b);
        if (rc == SABRE_OK) {
            for (uint32_t k = 0; k < b.count; k++) {
                sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, k);
                const uint64_t *w = sabre_chunk_array(ring, ch, 0);
                CHECK(ch->producer < NPROD);
                CHECK_EQ(w[0], ch->producer);
                CHECK_EQ(w[1], ch->sequence);
                for (int j = 3; j < 8; j++)
                    CHECK_EQ(w[j], mix(ch->sequence + (w[2] << 40), (uint64_t)j + ch->producer));
                /* exactly once, in order: drop mode refuses before numbering */
                CHECK_EQ(ch->sequence, next_seq[ch->producer]);
                next_seq[ch->producer]++;
                CHECK(w[2] < NPROD);
                got[w[2]]++;
            }
            CHECK_OK(sabre_ring_release(c, &b));
            quiet_since = 0;
        } else {
            CHECK(rc == SABRE_ETIMEDOUT);
            if (running == 0) {
                if (!quiet_since)
                    quiet_since = now_ns();
                else if (now_ns() - quiet_since > 4 * RECLAIM_NS)
                    break;
            }
        }
        uint64_t now = now_ns();
        for (int i = 0; i < NPROD; i++) {
            if (pids[i] <= 0)
                continue;
            if (now >= kill_at[i]) {
                kill(pids[i], SIGKILL);
                kill_at[i] = UINT64_MAX;
            }
            int st = 0;
            if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                if (plans[i] == SURVIVE) {
                    CHECK(WIFEXITED(st));
                    CHECK_EQ(WEXITSTATUS(st), 0);
                } else if (WIFEXITED(st)) {
                    CHECK_EQ(WEXITSTATUS(st), 0); /* finished before the kill */
                } else if (plans[i] == DIE_IN_CLAIM) {
                    died_in_claim = true;
                }
                pids[i] = 0;
                running--;
            }
        }
    }
    /* Everything claimed was committed and delivered or abandoned: no chunk
     * is left in flight, and the ring still works for a new producer. */
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.in_flight, 0);
    CHECK_EQ(st.held, 0);
    if (getenv("FAULT_DEBUG"))
        for (int i = 0; i < NPROD; i++)
            fprintf(stderr, "trial %d child %d plan %d opened %u id %u committed %llu got %llu\n",
                    t, i, (int)plans[i], atomic_load(&sh->opened[i]),
                    atomic_load(&sh->producer_id[i]),
                    (unsigned long long)atomic_load(&sh->committed[i]), (unsigned long long)got[i]);
    for (int i = 0; i < NPROD; i++) {
        if (!atomic_load(&sh->opened[i]))
            continue;
        uint32_t id = atomic_load(&sh->producer_id[i]);
        uint64_t counted = atomic_load(&sh->committed[i]);
        if (plans[i] == SURVIVE)
            CHECK_EQ(got[i], counted);
        else if (got[i] < counted || got[i] > counted + 4) /* last commit may be uncounted */
            CHECK_FAIL_("trial %d (%s %s): child %d (plan %d, producer %u) committed %llu, "
                        "delivered %llu",
                        t, shape ? "mpsc" : "lanes", pol == SABRE_RING_BLOCK ? "block" : "drop", i,
                        (int)plans[i], id, (unsigned long long)counted, (unsigned long long)got[i]);
    }
    if (died_in_claim)
        CHECK(st.abandoned >= 1); /* the dead claim was reclaimed and counted */
    if (st.abandoned)
        trials_with_abandon++;
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    sabre_ring_claim_t cl;
    CHECK_OK(sabre_ring_claim(p, 1, 1000000000ull, &cl));
    CHECK_OK(sabre_ring_commit(p, &cl));
    sabre_ring_batch_t b;
    CHECK_OK(sabre_ring_consume(c, 1, 1000000000ull, &b));
    CHECK_EQ(b.count, 1);
    CHECK_OK(sabre_ring_release(c, &b));
    sabre_ring_producer_close(p);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
}

/* A producer process commits `committed` chunks, claims `claimed` more and
 * dies with SIGKILL before committing them; the caller reaps it. */
static void die_holding_claim(sabre_ring_t *ring, uint32_t committed, uint32_t claimed)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sabre_ring_producer_t *p = NULL;
        sabre_ring_claim_t cl;
        if (sabre_ring_producer_open(ring, &p) ||
            (committed && (sabre_ring_claim(p, committed, 0, &cl) || sabre_ring_commit(p, &cl))) ||
            sabre_ring_claim(p, claimed, 0, &cl))
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    int stt = 0;
    CHECK(waitpid(pid, &stt, 0) == pid);
    CHECK(WIFSIGNALED(stt));
}

/* Deterministic: a producer claims and dies; a live producer keeps
 * committing behind it (MPSC: head-of-line).  The consumer gets every live
 * chunk, and the dead claim is counted as abandoned. */
static void dead_claim(sabre_ring_shape_t shape, sabre_region_t *reg)
{
    char name[32];
    snprintf(name, sizeof name, "dead%d", (int)shape);
    sabre_ring_desc_t d = {.name = name,
                           .shape = shape,
                           .capacity = 8,
                           .producers = 2,
                           .record_size = 64,
                           .reclaim_ns = RECLAIM_NS};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    die_holding_claim(ring, 0, 3);
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    for (int i = 0; i < 4; i++) {
        sabre_ring_claim_t cl;
        CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
        CHECK_OK(sabre_ring_commit(p, &cl));
    }
    uint64_t t0 = now_ns(), got = 0;
    sabre_ring_stats_t st;
    for (;;) {
        CHECK(now_ns() - t0 < 5000000000ull);
        CHECK_OK(sabre_ring_stats(ring, &st));
        if (got == 4 && st.abandoned == 3)
            break;
        sabre_ring_batch_t b;
        int rc = sabre_ring_consume(c, 8, 2 * RECLAIM_NS, &b);
        if (rc == SABRE_ETIMEDOUT)
            continue;
        CHECK_OK(rc);
        for (uint32_t i = 0; i < b.count; i++)
            CHECK_EQ(sabre_ring_batch_chunk(c, &b, i)->producer, sabre_ring_producer_id(p));
        got += b.count;
        CHECK_OK(sabre_ring_release(c, &b));
    }
    CHECK_EQ(st.abandoned, 3);
    CHECK_EQ(st.consumed, 4);
    printf("%s: dead claim of 3 chunks reclaimed, all settled after %.1f ms "
           "(reclaim_ns %.0f ms)\n",
           shape == SABRE_RING_LANES ? "lanes" : "mpsc", (double)(now_ns() - t0) / 1e6,
           RECLAIM_NS / 1e6);
    sabre_ring_producer_close(p);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
}

/* Cursor lanes: a producer that takes over a dead producer's lane continues
 * at the committed head; the dead claim is counted once, whether the
 * consumer (reaping) or the new producer (taking over) finds it first. */
static void takeover(bool consumer_first, sabre_region_t *reg)
{
    char name[32];
    snprintf(name, sizeof name, "take%d", (int)consumer_first);
    sabre_ring_desc_t d = {.name = name,
                           .policy = SABRE_RING_BLOCK,
                           .capacity = 8,
                           .producers = 1,
                           .record_size = 64,
                           .reclaim_ns = RECLAIM_NS};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    die_holding_claim(ring, 2, 3); /* 2 committed, 3 claimed */
    sabre_ring_stats_t st;
    sabre_ring_batch_t b;
    uint64_t got = 0, next = 0;
    uint64_t t0 = now_ns();
    if (consumer_first) { /* the consumer counts the dead claim while it waits */
        while (now_ns() - t0 < 5000000000ull) {
            int rc = sabre_ring_consume(c, 8, 2 * RECLAIM_NS, &b);
            if (rc == SABRE_OK) {
                for (uint32_t i = 0; i < b.count; i++)
                    CHECK_EQ(sabre_ring_batch_chunk(c, &b, i)->sequence, next++);
                got += b.count;
                CHECK_OK(sabre_ring_release(c, &b));
            }
            CHECK_OK(sabre_ring_stats(ring, &st));
            if (got == 2 && st.abandoned == 3)
                break;
        }
        CHECK_EQ(got, 2);
        CHECK_EQ(st.abandoned, 3);
    }
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p)); /* the only record: the dead one */
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.abandoned, 3);
    sabre_ring_claim_t cl;
    CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
    CHECK_EQ(cl.first, 2); /* the committed head */
    CHECK_EQ(sabre_ring_claim_chunk(p, &cl, 0)->sequence, 5);
    CHECK_OK(sabre_ring_commit(p, &cl));
    while (got < 3) {
        CHECK(now_ns() - t0 < 5000000000ull);
        CHECK_OK(sabre_ring_consume(c, 8, 1000000000ull, &b));
        for (uint32_t i = 0; i < b.count; i++) {
            sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, i);
            CHECK_EQ(ch->sequence, got + i < 2 ? got + i : 5);
        }
        got += b.count;
        CHECK_OK(sabre_ring_release(c, &b));
    }
    CHECK_ERR(sabre_ring_consume(c, 8, 3 * RECLAIM_NS, &b), SABRE_ETIMEDOUT);
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.abandoned, 3); /* counted once */
    CHECK_EQ(st.produced, 3);
    CHECK_EQ(st.consumed, 3);
    CHECK_EQ(st.in_flight, 0);
    sabre_ring_producer_close(p);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
}

int main(void)
{
    sabre_region_t *reg = NULL;
    sabre_region_desc_t rd = {.backing = SABRE_BACKING_MEMFD,
                              .name = "test_ring_fault",
                              .size = 64ull << 20,
                              .max_objects = 1024};
    CHECK_OK(sabre_region_create(&rd, &reg));
    dead_claim(SABRE_RING_LANES, reg);
    dead_claim(SABRE_RING_MPSC, reg);
    takeover(false, reg);
    takeover(true, reg);
    int trials = (int)check_scale(100);
    for (int t = 0; t < trials; t++)
        trial(t, reg);
    printf("%d fault-injection trials, %d with abandoned chunks reclaimed\n", trials,
           trials_with_abandon);
    CHECK(trials_with_abandon > 0);
    sabre_region_close(reg);
    return check_done();
}
