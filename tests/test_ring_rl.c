// SABRE_TEST_LABELS: unit process concurrent
/*
 * What RL users need from a ring (ring ABI 3.1): field element types, the
 * policy-lag distribution and the max-lag skip, a consumer's close or death
 * seen by producers as a status on their next claim, dead producers named
 * (pid, deaths, abandoned chunks), and per-episode statistics reported by
 * producers.  Every episode a producer reports is delivered exactly once,
 * in order, or counted as dropped.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"
#include "sabre/ring.h"

static const char *STEP = "struct P { x: f32; y: f32; }\n"
                          "struct Step { obs: f32[4]; action: i32; pos: P; flags: u8[3]; }\n";

static sabre_region_t *new_region(sabre_backing_t b)
{
    sabre_region_t *reg = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = b, .size = 8 << 20}, &reg));
    return reg;
}

static void test_ring_field_info_carries_scalar_and_count(void)
{
    sabre_schema_t *s = NULL;
    CHECK_OK(sabre_schema_compile(STEP, strlen(STEP), &s, NULL));
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL, *raw = NULL, *again = NULL;
    CHECK_OK(sabre_ring_create(
        reg,
        &(sabre_ring_desc_t){.name = "r", .layout = sabre_schema_root(s), .steps = 4, .envs = 2},
        &r));
    CHECK_OK(sabre_ring_open(reg, "r", NULL, 0, 0, &again)); /* read back from the object */
    sabre_ring_field_t f;
    CHECK_OK(sabre_ring_field_find(again, "obs", &f));
    CHECK_EQ(f.scalar, SABRE_F32);
    CHECK_EQ(f.count, 4);
    CHECK_EQ(f.elem_size, 16);
    CHECK_OK(sabre_ring_field_find(again, "action", &f));
    CHECK_EQ(f.scalar, SABRE_I32);
    CHECK_EQ(f.count, 1);
    CHECK_OK(sabre_ring_field_find(again, "flags", &f));
    CHECK_EQ(f.scalar, SABRE_U8);
    CHECK_EQ(f.count, 3);
    CHECK_OK(sabre_ring_field_find(again, "pos", &f)); /* a struct: bytes of the element */
    CHECK_EQ(f.scalar, SABRE_SCALAR_NONE);
    CHECK_EQ(f.count, 1);
    CHECK_EQ(f.elem_size, 8);
    CHECK_OK(sabre_ring_create(reg, &(sabre_ring_desc_t){.name = "raw", .record_size = 100}, &raw));
    CHECK_OK(sabre_ring_field_at(raw, 0, &f));
    CHECK_EQ(f.scalar, SABRE_SCALAR_NONE);
    CHECK_EQ(f.count, 1);
    /* a stored type that disagrees with the element size is not trusted */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "r", NULL, &o));
    uint32_t *info = (uint32_t *)((uint8_t *)o.ptr + 640 + 44);
    *info = SABRE_F64 | 4u << 8; /* 32 bytes, but obs is 16 */
    sabre_ring_close(again);
    CHECK_OK(sabre_ring_open(reg, "r", NULL, 0, 0, &again));
    CHECK_OK(sabre_ring_field_at(again, 0, &f));
    CHECK_EQ(f.scalar, SABRE_SCALAR_NONE);
    sabre_ring_close(again);
    sabre_ring_close(raw);
    sabre_ring_close(r);
    sabre_region_close(reg);
    sabre_schema_free(s);
}

/* Produce one chunk per version in `vers`, then consume everything. */
static void produce_versions(sabre_ring_producer_t *p, const uint64_t *vers, int n)
{
    for (int i = 0; i < n; i++) {
        sabre_ring_claim_t c;
        sabre_ring_producer_set_version(p, vers[i]);
        CHECK_OK(sabre_ring_claim(p, 1, 0, &c));
        *(uint64_t *)c.data = vers[i];
        CHECK_OK(sabre_ring_commit(p, &c));
    }
}

static void test_ring_lag_histogram_gives_percentiles(sabre_ring_shape_t shape)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg, &(sabre_ring_desc_t){.name = "r", .shape = shape, .capacity = 128, .record_size = 8},
        &r));
    sabre_ring_producer_t *p = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    sabre_ring_consumer_set_version(c, 400);
    /* lags: 50 x 0, 40 x 1, 9 x 5, 1 x 300 */
    uint64_t vers[100];
    for (int i = 0; i < 100; i++)
        vers[i] = i < 50 ? 400 : i < 90 ? 399 : i < 99 ? 395 : 100;
    produce_versions(p, vers, 100);
    int got = 0;
    sabre_ring_batch_t b;
    while (got < 100) {
        CHECK_OK(sabre_ring_consume(c, 7, 1000000000ull, &b));
        got += (int)b.count;
        CHECK_OK(sabre_ring_release(c, &b));
    }
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK_EQ(st.lag_hist[0], 50);
    CHECK_EQ(st.lag_hist[1], 40);
    CHECK_EQ(st.lag_hist[5], 9);
    CHECK_EQ(st.lag_hist[SABRE_RING_LAG_BUCKETS - 1], 1); /* >= 256 */
    CHECK_EQ(st.lag_p50, 0);
    CHECK_EQ(st.lag_p90, 1);
    CHECK_EQ(st.lag_p99, 5);
    CHECK_EQ(st.lag_max, 300);
    CHECK_EQ(st.lag_count, 100);
    CHECK_EQ(sabre_ring_lag_bucket_min(7), 7);
    CHECK_EQ(sabre_ring_lag_bucket_min(8), 8);
    CHECK_EQ(sabre_ring_lag_bucket_min(9), 16);
    CHECK_EQ(sabre_ring_lag_bucket_min(13), 256);
    CHECK(sabre_ring_lag_bucket_min(14) == UINT64_MAX);
    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(p);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

static void test_ring_max_lag_skips_stale_chunks(sabre_ring_shape_t shape, sabre_ring_policy_t pol)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg,
        &(sabre_ring_desc_t){
            .name = "r", .shape = shape, .policy = pol, .capacity = 8, .record_size = 8},
        &r));
    sabre_ring_producer_t *p = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    sabre_ring_consumer_set_version(c, 10);
    sabre_ring_consumer_set_max_lag(c, 2);
    /* stale (lag 3, 4), fresh (lag 2, 0), stale (lag 5), fresh (lag 1) */
    const uint64_t vers[] = {7, 6, 8, 10, 5, 9};
    produce_versions(p, vers, 6);
    sabre_ring_batch_t b;
    CHECK_OK(sabre_ring_consume(c, 8, 0, &b));
    CHECK_EQ(b.count, 2); /* the stale front was skipped; the batch ends before the next stale */
    CHECK_EQ(*(uint64_t *)b.data, 8);
    CHECK_EQ(*(uint64_t *)(b.data + b.stride), 10);
    CHECK_OK(sabre_ring_release(c, &b));
    CHECK_OK(sabre_ring_consume(c, 8, 0, &b));
    CHECK_EQ(b.count, 1);
    CHECK_EQ(*(uint64_t *)b.data, 9);
    CHECK_OK(sabre_ring_release(c, &b));
    CHECK_ERR(sabre_ring_consume(c, 8, 0, &b), SABRE_EAGAIN);
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK_EQ(st.lag_skipped, 3);
    CHECK_EQ(st.consumed, 3);
    CHECK_EQ(st.lag_count, 3);
    CHECK_EQ(st.lag_max, 2);
    CHECK_EQ(st.max_lag, 2);
    CHECK_EQ(st.held, 0);
    /* every slot went back to the producer: a full lap fits again */
    uint64_t more[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    produce_versions(p, more, 8);
    sabre_ring_consumer_set_max_lag(c, UINT64_MAX);
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK(st.max_lag == UINT64_MAX);
    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(p);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

struct blocked {
    sabre_ring_producer_t *p;
    _Atomic int rc;
    _Atomic int started;
};

static void *claim_blocked(void *arg)
{
    struct blocked *bl = arg;
    sabre_ring_claim_t c;
    atomic_store(&bl->started, 1);
    int rc = sabre_ring_claim(bl->p, 1, 60000000000ull, &c); /* 60 s: the close must end it */
    atomic_store(&bl->rc, rc);
    return NULL;
}

static void test_ring_consumer_close_gives_producers_eclosed(void)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(reg,
                               &(sabre_ring_desc_t){.name = "r",
                                                    .policy = SABRE_RING_BLOCK,
                                                    .capacity = 2,
                                                    .record_size = 8,
                                                    .spin_ns = 1000},
                               &r));
    sabre_ring_producer_t *p = NULL, *q = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    CHECK_OK(sabre_ring_producer_open(r, &q));
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    uint64_t v[2] = {1, 1};
    produce_versions(p, v, 2); /* p's lane is full: its next claim blocks */
    struct blocked bl = {.p = p};
    pthread_t t;
    pthread_create(&t, NULL, claim_blocked, &bl);
    while (!atomic_load(&bl.started))
        sched_yield();
    sabre_ring_consumer_close(c);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&bl.rc), SABRE_ECLOSED);
    sabre_ring_claim_t cl;
    CHECK_ERR(sabre_ring_claim(q, 1, 0, &cl), SABRE_ECLOSED); /* not full: closed all the same */
    CHECK_STR_CONTAINS(sabre_last_error(), "closed the ring");
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK(st.consumer_closed);
    CHECK_EQ(st.closed_pid, getpid());
    /* a new consumer opens the ring again */
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    CHECK_OK(sabre_ring_claim(q, 1, 0, &cl));
    CHECK_OK(sabre_ring_commit(q, &cl));
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK(!st.consumer_closed);
    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(q);
    sabre_ring_producer_close(p);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

static void test_ring_dead_consumer_gives_producers_epeer(sabre_ring_policy_t pol)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_MEMFD);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg,
        &(sabre_ring_desc_t){
            .name = "r", .policy = pol, .capacity = 2, .record_size = 8, .spin_ns = 1000},
        &r));
    pid_t pid = fork();
    if (pid == 0) { /* a consumer that dies holding the ring */
        sabre_ring_consumer_t *dc = NULL;
        if (sabre_ring_consumer_open(r, &dc) != SABRE_OK)
            _exit(2);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFSIGNALED(st));
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    uint64_t v[2] = {1, 1};
    produce_versions(p, v, 2);
    sabre_ring_claim_t cl;
    /* BLOCK: a 60 s timeout that the dead consumer's detection cuts short */
    CHECK_ERR(sabre_ring_claim(p, 1, 60000000000ull, &cl), SABRE_EPEER);
    CHECK_STR_CONTAINS(sabre_last_error(), "died");
    sabre_ring_producer_close(p);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

static void test_ring_dead_producer_named_with_pid_and_abandoned(sabre_ring_shape_t shape)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_MEMFD);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg,
        &(sabre_ring_desc_t){
            .name = "r", .shape = shape, .capacity = 8, .record_size = 8, .reclaim_ns = 4000000},
        &r));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    pid_t pid = fork();
    if (pid == 0) { /* claims 3 chunks and dies */
        sabre_ring_producer_t *dp = NULL;
        sabre_ring_claim_t cl;
        if (sabre_ring_producer_open(r, &dp) != SABRE_OK || sabre_ring_claim(dp, 3, 0, &cl))
            _exit(2);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    sabre_ring_batch_t b;
    sabre_ring_stats_t s;
    for (int i = 0; i < 200; i++) { /* the consumer's waits find the death */
        CHECK_ERR(sabre_ring_consume(c, 8, 20000000ull, &b), SABRE_ETIMEDOUT);
        CHECK_OK(sabre_ring_stats(r, &s));
        if (s.producer_deaths && s.abandoned == 3)
            break;
    }
    CHECK_EQ(s.producer_deaths, 1);
    CHECK_EQ(s.abandoned, 3);
    sabre_ring_producer_info_t pi;
    CHECK_OK(sabre_ring_producer_at(r, 0, &pi));
    CHECK_EQ(pi.dead_pid, pid);
    CHECK_EQ(pi.deaths, 1);
    CHECK_EQ(pi.abandoned, 3);
    /* a replacement takes the record over: the death is not counted twice */
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    CHECK_OK(sabre_ring_stats(r, &s));
    CHECK_EQ(s.producer_deaths, 1);
    CHECK_EQ(s.abandoned, 3);
    sabre_ring_producer_close(p);
    sabre_ring_consumer_close(c);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

static void test_ring_episodes_reported_and_polled(void)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg, &(sabre_ring_desc_t){.name = "r", .record_size = 8, .episodes = 4}, &r));
    sabre_ring_producer_t *p = NULL, *q = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(r, &p));
    CHECK_OK(sabre_ring_producer_open(r, &q));
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    sabre_ring_episode_t e[16];
    uint32_t n = 99;
    CHECK_OK(sabre_ring_episodes(c, e, 16, &n));
    CHECK_EQ(n, 0);
    sabre_ring_producer_set_version(p, 7);
    for (int i = 0; i < 4; i++)
        CHECK_OK(sabre_ring_episode_report(p, 10.5 + i, 100 + (uint32_t)i));
    CHECK_ERR(sabre_ring_episode_report(p, 99, 1), SABRE_EFULL); /* 4 records unread */
    CHECK_OK(sabre_ring_episode_report(q, -1.0, 3));
    CHECK_OK(sabre_ring_episodes(c, e, 16, &n));
    CHECK_EQ(n, 5);
    int from_p = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (e[i].producer == sabre_ring_producer_id(p)) {
            CHECK(e[i].ret == 10.5 + from_p);
            CHECK_EQ(e[i].length, 100 + from_p);
            CHECK_EQ(e[i].policy_version, 7);
            CHECK(e[i].end_ns > 0);
            from_p++;
        } else {
            CHECK_EQ(e[i].producer, sabre_ring_producer_id(q));
            CHECK(e[i].ret == -1.0);
        }
    }
    CHECK_EQ(from_p, 4);
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(r, &st));
    CHECK_EQ(st.episodes, 5);
    CHECK_EQ(st.episodes_dropped, 1);
    CHECK_EQ(st.episodes_capacity, 4);
    sabre_ring_producer_info_t pi;
    CHECK_OK(sabre_ring_producer_at(r, sabre_ring_producer_id(p), &pi));
    CHECK_EQ(pi.episodes, 4);
    CHECK_EQ(pi.episodes_dropped, 1);
    CHECK_ERR(sabre_ring_create(
                  reg, &(sabre_ring_desc_t){.name = "bad", .record_size = 8, .episodes = 3}, NULL),
              SABRE_EINVAL);
    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(q);
    sabre_ring_producer_close(p);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

/* A producer thread reports episodes (return = its index) as fast as it can;
 * the consumer polls: each index arrives once and in order, or is counted
 * as dropped. */
struct reporter {
    sabre_ring_producer_t *p;
    uint32_t n;
    _Atomic uint64_t dropped;
};

static void *report_many(void *arg)
{
    struct reporter *rp = arg;
    for (uint32_t i = 0; i < rp->n; i++) {
        int rc = sabre_ring_episode_report(rp->p, (double)i, i);
        if (rc == SABRE_EFULL)
            atomic_fetch_add(&rp->dropped, 1);
        else if (rc)
            return NULL;
    }
    return NULL;
}

static void test_ring_episodes_concurrent_exactly_once_in_order(void)
{
    sabre_region_t *reg = new_region(SABRE_BACKING_PRIVATE);
    sabre_ring_t *r = NULL;
    CHECK_OK(sabre_ring_create(
        reg, &(sabre_ring_desc_t){.name = "r", .record_size = 8, .episodes = 16}, &r));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(r, &c));
    struct reporter rp = {.n = (uint32_t)check_scale(200000)};
    CHECK_OK(sabre_ring_producer_open(r, &rp.p));
    pthread_t t;
    pthread_create(&t, NULL, report_many, &rp);
    uint64_t got = 0, last = 0;
    bool first = true, done = false;
    sabre_ring_episode_t e[8];
    for (uint32_t n = 1; !done || n > 0;) { /* after the last report: poll until empty */
        sabre_ring_stats_t st;
        CHECK_OK(sabre_ring_stats(r, &st));
        done = st.episodes + st.episodes_dropped == rp.n;
        n = 0;
        CHECK_OK(sabre_ring_episodes(c, e, 8, &n));
        for (uint32_t i = 0; i < n; i++) {
            uint64_t idx = (uint64_t)e[i].ret;
            if (!first && idx <= last)
                CHECK_FAIL_("episode %llu after %llu", (unsigned long long)idx,
                            (unsigned long long)last);
            CHECK_EQ(e[i].length, idx);
            first = false;
            last = idx;
            got++;
        }
    }
    pthread_join(t, NULL);
    CHECK_EQ(got + atomic_load(&rp.dropped), rp.n);
    sabre_ring_producer_close(rp.p);
    sabre_ring_consumer_close(c);
    sabre_ring_close(r);
    sabre_region_close(reg);
}

int main(void)
{
    test_ring_field_info_carries_scalar_and_count();
    test_ring_lag_histogram_gives_percentiles(SABRE_RING_LANES);
    test_ring_lag_histogram_gives_percentiles(SABRE_RING_MPSC);
    test_ring_max_lag_skips_stale_chunks(SABRE_RING_LANES, SABRE_RING_DROP_NEWEST);
    test_ring_max_lag_skips_stale_chunks(SABRE_RING_MPSC, SABRE_RING_DROP_NEWEST);
    test_ring_max_lag_skips_stale_chunks(SABRE_RING_LANES, SABRE_RING_OVERWRITE_OLDEST);
    test_ring_consumer_close_gives_producers_eclosed();
    test_ring_dead_consumer_gives_producers_epeer(SABRE_RING_BLOCK);
    test_ring_dead_consumer_gives_producers_epeer(SABRE_RING_DROP_NEWEST);
    test_ring_dead_producer_named_with_pid_and_abandoned(SABRE_RING_LANES);
    test_ring_dead_producer_named_with_pid_and_abandoned(SABRE_RING_MPSC);
    test_ring_episodes_reported_and_polled();
    test_ring_episodes_concurrent_exactly_once_in_order();
    return check_done();
}
