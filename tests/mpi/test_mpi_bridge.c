/*
 * test_mpi_bridge - the MPI bridge across ranks (tests/mpi/run.sh runs it
 * under mpirun over loopback TCP, each rank with its own region, as
 * separate nodes would be).  Invariants:
 *   - every chunk committed on a node arrives in the trainer's ring exactly
 *     once and in per-producer order, checksummed, with its valid steps,
 *     policy version and commit time (node clock -> trainer clock);
 *   - every node's weights readers see versions in order, never torn, with
 *     the trainer's version number, step counter and shape hash, and the
 *     last version;
 *   - a producer process SIGKILLed on a node (--kill) is replaced: its lane
 *     goes on, nothing it committed is lost or doubled;
 *   - a node whose ring differs (--mismatch R) fails the handshake on every
 *     rank, naming both sides;
 *   - a rank that dies (--die R) ends the job (run.sh checks the rest).
 *
 *   test_mpi_bridge [--producers P] [--chunks N] [--versions V] [--drop]
 *                   [--kill] [--mismatch R] [--die R]
 *   test_mpi_bridge --producer REGION N GEN     (spawned on nodes)
 *   test_mpi_bridge --reader REGION V           (spawned on nodes)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/internal.h"
#include "mpi/bridge_abi.h"
#include "sabre/mpi.h"
#include "sabre/sabre.h"

extern char **environ;

#define REC       1000 /* payload bytes of a chunk (not a multiple of 64) */
#define STEPS     4    /* T: valid_steps 1..4 */
#define WSIZE     (65536 + 24)
#define SHAPE     0xabcu
#define PAY_MAGIC 0x5041594c4f414431ull
#define NWORDS    (REC / 8)

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    x ^= x >> 29;
    return x * 0xbf58476d1ce4e5b9ull;
}

/* payload words: magic, rank, lane, gen, k, version, write_ns, fill..., checksum */
static void fill_chunk(uint64_t *w, uint64_t rank, uint64_t lane, uint64_t gen, uint64_t k,
                       uint64_t version)
{
    w[0] = PAY_MAGIC, w[1] = rank, w[2] = lane, w[3] = gen, w[4] = k, w[5] = version;
    w[6] = sabre__now_ns();
    uint64_t sum = 0;
    for (int i = 7; i < NWORDS - 1; i++)
        w[i] = mix(k ^ (rank << 40) ^ (lane << 32) ^ (gen << 48), (uint64_t)i);
    for (int i = 0; i < NWORDS - 1; i++)
        sum = mix(sum, w[i]);
    w[NWORDS - 1] = sum;
}

static bool chunk_ok(const uint64_t *w)
{
    uint64_t sum = 0;
    for (int i = 0; i < NWORDS - 1; i++)
        sum = mix(sum, w[i]);
    return w[0] == PAY_MAGIC && sum == w[NWORDS - 1];
}

static void fill_weights(uint8_t *p, uint64_t version)
{
    uint64_t *w = (uint64_t *)p;
    for (size_t i = 0; i < WSIZE / 8; i++)
        w[i] = mix(version, i);
}

static bool weights_ok(const uint8_t *p, uint64_t version)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < WSIZE / 8; i++)
        if (w[i] != mix(version, i))
            return false;
    return true;
}

static sabre_region_t *open_region(const char *name)
{
    sabre_region_t *r = NULL;
    CHECK_OK(
        sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = name}, &r));
    return r;
}

/* ---- node processes ---------------------------------------------------------------- */

/* Commits n chunks in claims of 1..3 with the version its weights reader
 * adopted; valid_steps = k % STEPS + 1. */
static int producer_main(const char *region, uint64_t n, uint64_t gen, uint64_t rank)
{
    sabre_region_t *reg = open_region(region);
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    sabre_weights_reader_t *rd = NULL;
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_open(reg, "rollouts", NULL, 0, 0, &ring));
    CHECK_OK(sabre_weights_open(reg, "policy", NULL, &w));
    CHECK_OK(sabre_weights_reader_open(w, &rd));
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    uint64_t lane = sabre_ring_producer_id(p), seed = mix(gen + 1, lane + rank * 131);
    pid_t parent = getppid();
    for (uint64_t k = 0; k < n;) {
        if (getppid() != parent)
            return 2; /* the rank died (--die): do not outlive it */
        sabre_weights_view_t v = {0};
        int rc = sabre_weights_adopt(rd, NULL, &v);
        CHECK(rc == SABRE_OK || rc == SABRE_EAGAIN);
        sabre_ring_producer_set_version(p, v.version);
        uint32_t m = (uint32_t)(check_xorshift(&seed) % 3) + 1;
        if (m > n - k)
            m = (uint32_t)(n - k);
        sabre_ring_claim_t c;
        rc = sabre_ring_claim(p, m, 100000000ull, &c);
        if (rc == SABRE_ETIMEDOUT || rc == SABRE_EFULL)
            continue;
        CHECK_OK(rc);
        for (uint32_t i = 0; i < m; i++) {
            fill_chunk((uint64_t *)(c.data + i * c.stride), rank, lane, gen, k + i, v.version);
            c.chunks[i].valid_steps = (uint32_t)((k + i) % STEPS) + 1;
        }
        CHECK_OK(sabre_ring_commit(p, &c));
        k += m;
        usleep(500); /* an actor steps its envs between chunks */
    }
    sabre_ring_producer_close(p);
    sabre_weights_reader_close(rd);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    return 0;
}

/* Adopts until it holds version `last`: versions in order, payload whole. */
static int reader_main(const char *region, uint64_t last)
{
    sabre_region_t *reg = open_region(region);
    sabre_weights_t *w = NULL;
    sabre_weights_reader_t *rd = NULL;
    CHECK_OK(sabre_weights_open(reg, "policy", NULL, &w));
    CHECK_OK(sabre_weights_reader_open(w, &rd));
    uint64_t prev = 0, seen = 0, deadline = sabre__now_ns() + 60000000000ull;
    pid_t parent = getppid();
    while (prev < last) {
        if (getppid() != parent)
            return 2;
        CHECK(sabre__now_ns() < deadline);
        sabre_weights_view_t v;
        int rc = sabre_weights_adopt(rd, NULL, &v);
        if (rc == SABRE_EAGAIN) {
            sabre_weights_wait(rd, 0, 10000000ull);
            continue;
        }
        CHECK_OK(rc);
        if (!v.changed)
            continue;
        CHECK(v.version > prev);
        CHECK_EQ(v.step_counter, 10 * v.version);
        CHECK_EQ(v.shape_hash, SHAPE);
        CHECK(weights_ok(v.data, v.version)); /* pinned: never torn */
        prev = v.version;
        seen++;
    }
    printf("reader pid %d: %" PRIu64 " versions adopted in order, the last %" PRIu64 "\n",
           (int)getpid(), seen, prev);
    sabre_weights_reader_close(rd);
    sabre_weights_close(w);
    sabre_region_close(reg);
    return 0;
}

static pid_t spawn(char *const args[])
{
    pid_t pid;
    fflush(NULL);
    CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0);
    return pid;
}

/* ---- the trainer's threads ----------------------------------------------------------- */

typedef struct trainer {
    sabre_ring_t *ring;
    sabre_weights_t *w;
    sabre_mpi_bridge_t *b;
    int size;
    uint32_t producers;
    uint64_t chunks, versions;
    bool kill, drop;
    const bd_peer *peers; /* the bridge object's per-rank records */
    _Atomic int chunks_done, weights_done;
    uint64_t received;
} trainer;

static void *consume_thread(void *arg)
{
    trainer *t = arg;
    uint32_t lanes = (uint32_t)(t->size - 1) * t->producers;
    uint64_t *next = calloc((size_t)lanes * 2, sizeof *next); /* per lane and gen */
    uint64_t *gen = calloc(lanes, sizeof *gen);
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(t->ring, &c));
    uint64_t deadline = sabre__now_ns() + 90000000000ull;
    uint32_t finished = 0, replaced = 0;
    uint64_t expect = (uint64_t)lanes * t->chunks;
    for (;;) {
        if (!t->drop && finished == lanes)
            break;
        if (t->drop) {
            /* every chunk arrived or was dropped (and counted) at its node */
            uint64_t dropped = 0;
            for (int r = 1; r < t->size; r++)
                dropped += atomic_load_explicit(&t->peers[r].dropped, memory_order_relaxed);
            if (t->received + dropped == expect)
                break;
            CHECK(t->received + dropped < expect);
        }
        CHECK(sabre__now_ns() < deadline);
        sabre_ring_batch_t b;
        int rc = sabre_ring_consume(c, 64, 100000000ull, &b);
        if (rc == SABRE_ETIMEDOUT)
            continue;
        CHECK_OK(rc);
        int rank;
        uint32_t node_lane;
        CHECK_OK(sabre_mpi_bridge_lane_source(t->b, b.lane, &rank, &node_lane));
        uint32_t li = (uint32_t)(rank - 1) * t->producers + node_lane;
        for (uint32_t i = 0; i < b.count; i++) {
            const uint64_t *w = (const uint64_t *)(b.data + i * b.stride);
            CHECK(chunk_ok(w));
            CHECK_EQ(w[1], (uint64_t)rank);
            CHECK_EQ(w[2], node_lane);
            uint64_t g = w[3], k = w[4];
            CHECK(g <= 1 && (g == 0 || t->kill));
            CHECK(g >= gen[li]); /* a replacement's chunks follow its predecessor's */
            gen[li] = g;
            if (t->drop) /* at most once, in order */
                CHECK(k >= next[li * 2 + g]);
            else /* exactly once, in order */
                CHECK_EQ(k, next[li * 2 + g]);
            next[li * 2 + g] = k + 1;
            sabre_chunk_header_t hd;
            CHECK_OK(sabre_ring_chunk_header(t->ring, &b.chunks[i], &hd));
            CHECK_EQ(hd.valid_steps, k % STEPS + 1);
            CHECK_EQ(hd.policy_version, w[5]);
            /* the node's commit time, in this clock: after the write (up to
             * the offset's error), before now */
            CHECK(hd.commit_ns + 1000000000ull >= w[6]); /* (a loaded host: large error) */
            CHECK(hd.commit_ns <= sabre__now_ns());
            /* every stream (producer process) ends after `chunks` chunks but
             * the killed one, which was given far more: one stream per lane */
            if (k + 1 == t->chunks) {
                finished++;
                replaced += g == 1;
            }
            t->received++;
        }
        CHECK_OK(sabre_ring_release(c, &b));
        if (t->drop)
            usleep(2000); /* a slow trainer: its ring fills, nodes drop */
    }
    sabre_ring_consumer_close(c);
    if (t->kill)
        CHECK_EQ(replaced, 1); /* the killed producer's replacement delivered all */
    printf("trainer: %" PRIu64 " chunks from %u lanes, each %s and in order\n", t->received, lanes,
           t->drop ? "at most once (the rest dropped and counted at the nodes)" : "exactly once");
    free(next);
    free(gen);
    atomic_store(&t->chunks_done, 1);
    return NULL;
}

static void *publish_thread(void *arg)
{
    trainer *t = arg;
    for (uint64_t v = 1; v <= t->versions; v++) {
        void *buf;
        CHECK_OK(sabre_weights_begin(t->w, 5000000000ull, &buf));
        fill_weights(buf, v);
        uint64_t got = 0;
        CHECK_OK(sabre_weights_commit(
            t->w,
            &(sabre_weights_meta_t){.shape_hash = SHAPE, .set_step = true, .step_counter = 10 * v},
            &got));
        CHECK_EQ(got, v);
        usleep(2000);
    }
    atomic_store(&t->weights_done, 1);
    return NULL;
}

/* `sabre inspect --json` on this rank's region shows the bridge's counters. */
static void inspect_check(const char *region, bool is_trainer, uint64_t chunks)
{
    const char *tool = getenv("SABRE_TOOL");
    if (!tool)
        return;
    char cmd[512], out[65536] = "", want[128];
    snprintf(cmd, sizeof cmd, "%s inspect %s --json", tool, region);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CHECK(pclose(f) == 0);
    CHECK_STR_CONTAINS(out, is_trainer ? "\"role\": \"trainer\"" : "\"role\": \"node\"");
    CHECK_STR_CONTAINS(out, "\"state\": \"done\"");
    snprintf(want, sizeof want, "\"chunks\": %" PRIu64 ",", chunks);
    CHECK_STR_CONTAINS(out, want);
}

/* ---- the job --------------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;
static void on_signal(int sig)
{
    got_signal = sig;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--producer"))
        return producer_main(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
                             strtoull(getenv("TEST_RANK"), NULL, 10));
    if (argc == 4 && !strcmp(argv[1], "--reader"))
        return reader_main(argv[2], strtoull(argv[3], NULL, 10));
    uint32_t producers = 2;
    uint64_t chunks = 300, versions = 40;
    int mismatch = -1, die = -1;
    bool drop = false, kill_one = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--producers") && i + 1 < argc)
            producers = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chunks") && i + 1 < argc)
            chunks = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--versions") && i + 1 < argc)
            versions = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--mismatch") && i + 1 < argc)
            mismatch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--die") && i + 1 < argc)
            die = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--drop"))
            drop = true;
        else if (!strcmp(argv[i], "--kill"))
            kill_one = true;
        else
            CHECK_FAIL_("bad option %s", argv[i]);
    }
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank, size, job = (int)getpid();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Bcast(&job, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char name[64], rank_s[16];
    snprintf(name, sizeof name, "/sabre-mpitest-%d-%d", job, rank);
    snprintf(rank_s, sizeof rank_s, "%d", rank);
    setenv("TEST_RANK", rank_s, 1);
    uint32_t lanes = rank == 0 ? (uint32_t)(size - 1) * producers : producers;
    sabre_region_t *reg = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = name,
                                                        .size = 16u << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &reg));
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    /* the trainer's policy; nodes block (their producers wait, never lose) */
    CHECK_OK(
        sabre_ring_create(reg,
                          &(sabre_ring_desc_t){.name = "rollouts",
                                               .policy = rank == 0 && drop ? SABRE_RING_DROP_NEWEST
                                                                           : SABRE_RING_BLOCK,
                                               .capacity = 8,
                                               .producers = lanes,
                                               .record_size = REC,
                                               .steps = rank == mismatch ? STEPS + 1 : STEPS},
                          &ring));
    CHECK_OK(sabre_weights_create(reg,
                                  &(sabre_weights_desc_t){.name = "policy",
                                                          .size = WSIZE,
                                                          .slots = 2 * producers + 6,
                                                          .readers = 2 * producers + 2},
                                  &w));
    sabre_mpi_bridge_t *b = NULL;
    int rc = sabre_mpi_bridge_create(
        &(sabre_mpi_bridge_desc_t){.region = reg, .batch = 16, .peer_timeout_ns = 20000000000ull},
        &b);
    if (mismatch >= 0) {
        /* refused on every rank, naming both sides */
        CHECK_ERR(rc, SABRE_ELAYOUT);
        printf("rank %d refused: %s\n", rank, sabre_last_error());
        char want[64];
        snprintf(want, sizeof want, "on rank %d (host ", mismatch);
        CHECK_STR_CONTAINS(sabre_last_error(), want);
        CHECK_STR_CONTAINS(sabre_last_error(), "on the trainer rank 0 (host ");
        sabre_weights_close(w);
        sabre_ring_close(ring);
        sabre_region_close(reg);
        sabre_region_unlink(SABRE_BACKING_SHM, name);
        MPI_Finalize();
        return 0;
    }
    CHECK_OK(rc);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    uint64_t t0 = sabre__now_ns();
    if (rank == 0) {
        trainer t = {.ring = ring,
                     .w = w,
                     .b = b,
                     .size = size,
                     .producers = producers,
                     .chunks = chunks,
                     .versions = versions,
                     .kill = kill_one,
                     .drop = drop};
        sabre_object_t bo;
        CHECK_OK(sabre_region_find(reg, "bridge", NULL, &bo));
        CHECK_EQ(bo.kind, SABRE_OBJ_BRIDGE);
        const bd_hdr *bh = bo.ptr;
        CHECK_EQ(bh->magic, BD_MAGIC);
        CHECK_EQ(bh->npeers, (uint32_t)size);
        t.peers = (const bd_peer *)((const uint8_t *)bo.ptr + bh->peers_offset);
        pthread_t tc, tp;
        pthread_create(&tc, NULL, consume_thread, &t);
        pthread_create(&tp, NULL, publish_thread, &t);
        bool stopped = false;
        while (!sabre_mpi_bridge_done(b)) {
            if (got_signal) {
                sabre_mpi_bridge_stats_t s;
                sabre_mpi_bridge_stats(b, &s);
                printf("rank 0: ended by signal %d; counters: chunks %" PRIu64
                       ", weights sent %" PRIu64 "\n",
                       (int)got_signal, s.chunks, s.weights_sent);
                fflush(NULL);
                _exit(1);
            }
            sabre_mpi_bridge_stats_t s;
            sabre_mpi_bridge_stats(b, &s);
            if (!stopped && atomic_load(&t.chunks_done) && atomic_load(&t.weights_done) &&
                s.weights_version == versions) {
                CHECK_OK(sabre_mpi_bridge_stop(b));
                stopped = true;
            }
            rc = sabre_mpi_bridge_poll(b, 1000000);
            if (rc) {
                fprintf(stderr, "rank 0: %s\n", sabre_last_error());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        pthread_join(tc, NULL);
        pthread_join(tp, NULL);
        sabre_mpi_bridge_stats_t s;
        CHECK_OK(sabre_mpi_bridge_stats(b, &s));
        CHECK_EQ(s.chunks, t.received);
        CHECK_EQ(s.weights_version, versions);
        inspect_check(name, true, s.chunks);
        printf("rank 0: %" PRIu64 " chunks in %" PRIu64 " messages, %" PRIu64
               " weights versions sent, max policy lag %" PRIu64 "\n",
               s.chunks, s.messages, s.weights_sent, s.lag_versions_max);
    } else {
        pid_t prod[64], rd[2];
        char n_s[32], v_s[32];
        snprintf(n_s, sizeof n_s, "%" PRIu64, chunks);
        snprintf(v_s, sizeof v_s, "%" PRIu64, versions);
        char big_s[32]; /* the producer to kill: alive whenever the kill comes */
        snprintf(big_s, sizeof big_s, "%" PRIu64, chunks * 1000);
        for (uint32_t p = 0; p < producers; p++)
            prod[p] = spawn((char *[]){argv[0], "--producer", name,
                                       p == 0 && kill_one && rank == 1 ? big_s : n_s, "0", NULL});
        for (int k = 0; k < 2; k++)
            rd[k] = spawn((char *[]){argv[0], "--reader", name, v_s, NULL});
        bool killed = !(kill_one && rank == 1);
        uint64_t kill_since = 0;
        while (!sabre_mpi_bridge_done(b)) {
            if (rank == die && sabre__now_ns() - t0 > 300000000ull)
                raise(SIGKILL); /* a lost rank: the job must end, not hang */
            if (got_signal) {
                sabre_mpi_bridge_stats_t s;
                sabre_mpi_bridge_stats(b, &s);
                printf("rank %d: ended by signal %d; counters: chunks %" PRIu64 "\n", rank,
                       (int)got_signal, s.chunks);
                fflush(NULL);
                _exit(1);
            }
            if (!killed) {
                /* SIGKILL the first producer once it committed a third of a
                 * stream, while it holds a claim if that happens within 20 ms */
                sabre_ring_producer_info_t pi = {0};
                uint32_t vl = UINT32_MAX;
                for (uint32_t l = 0; l < producers && vl == UINT32_MAX; l++)
                    if (!sabre_ring_producer_at(ring, l, &pi) && pi.pid == prod[0])
                        vl = l;
                if (vl != UINT32_MAX && pi.produced >= chunks / 3 && !kill_since)
                    kill_since = sabre__now_ns();
                for (uint64_t until = sabre__now_ns() + 5000000ull;
                     kill_since && !pi.claim_count && sabre__now_ns() < until;)
                    CHECK_OK(sabre_ring_producer_at(ring, vl, &pi));
                if (kill_since && (pi.claim_count || sabre__now_ns() - kill_since > 20000000ull)) {
                    pid_t victim = 0;
                    for (uint32_t p = 0; p < producers; p++)
                        if (prod[p] == pi.pid)
                            victim = prod[p],
                            prod[p] =
                                spawn((char *[]){argv[0], "--producer", name, n_s, "1", NULL});
                    CHECK(victim > 0);
                    kill(victim, SIGKILL);
                    waitpid(victim, NULL, 0);
                    printf("rank 1: killed producer pid %d (lane %u, %s, %" PRIu64
                           " chunks committed); replaced\n",
                           (int)victim, vl, pi.claim_count ? "holding a claim" : "between claims",
                           pi.produced);
                    killed = true;
                }
            }
            rc = sabre_mpi_bridge_poll(b, 1000000);
            if (rc) {
                fprintf(stderr, "rank %d: %s\n", rank, sabre_last_error());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        for (uint32_t p = 0; p < producers; p++) {
            int st;
            CHECK(waitpid(prod[p], &st, 0) == prod[p]);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        for (int k = 0; k < 2; k++) {
            int st;
            CHECK(waitpid(rd[k], &st, 0) == rd[k]);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        sabre_mpi_bridge_stats_t s;
        CHECK_OK(sabre_mpi_bridge_stats(b, &s));
        CHECK_EQ(s.weights_version, versions);
        CHECK_EQ(s.left_at_stop, 0);
        if (!drop)
            CHECK_EQ(s.dropped, 0);
        sabre_ring_stats_t rs;
        CHECK_OK(sabre_ring_stats(ring, &rs));
        CHECK_EQ(rs.consumed, s.chunks + s.dropped); /* every chunk forwarded or counted */
        inspect_check(name, false, s.chunks);
        printf("rank %d: %" PRIu64 " chunks forwarded, %" PRIu64 " dropped, %" PRIu64
               " abandoned by the killed producer, %" PRIu64 " weights versions applied\n",
               rank, s.chunks, s.dropped, rs.abandoned, s.weights_applied);
    }
    sabre_mpi_bridge_close(b);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    sabre_region_unlink(SABRE_BACKING_SHM, name);
    MPI_Finalize();
    return check_done();
}
