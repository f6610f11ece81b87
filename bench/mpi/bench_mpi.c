/*
 * bench_mpi - the MPI bridge against plain MPI between the same two ranks
 * (run under mpirun -np 2; docs/distributed.md has the figures):
 *
 *   forwarding: chunks committed on rank 1's ring, consumed from rank 0's
 *     ring, vs MPI_Send/MPI_Recv of the same bytes, one message per chunk;
 *     64x8 CartPole chunks (the RL demo's step layout) and 1 MiB chunks
 *     (target >= 0.9x the bytes per second);
 *   weights: a 4 MiB version committed on rank 0 until rank 1's weights
 *     object has it (and says so: a small message back), vs MPI_Bcast of
 *     4 MiB then the same message back (target <= 1.2x the time).
 *
 * Each figure is the median of per-run ratios of back-to-back runs.
 *
 *   mpirun -np 2 --mca btl self,tcp build/release/bench_mpi [--runs R]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sabre/mpi.h"
#include "sabre/sabre.h"

#define CP_SCHEMA                                                                                  \
    "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"

static int rank;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_mpi rank %d: %s: %s (%s)\n", rank, what, sabre_status_name(rc),
            sabre_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- one bridge set-up ------------------------------------------------------------------ */

typedef struct setup {
    char name[64];
    sabre_schema_t *schema;
    sabre_region_t *reg;
    sabre_ring_t *ring;
    sabre_weights_t *w;
    sabre_mpi_bridge_t *b;
} setup;

static void setup_open(setup *s, bool layout, uint64_t record, uint32_t cap, uint64_t wsize)
{
    memset(s, 0, sizeof *s);
    int job = (int)getpid();
    MPI_Bcast(&job, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(s->name, sizeof s->name, "/sabre-mpibench-%d-%d", job, rank);
    int rc = 0;
    if (layout)
        rc = sabre_schema_compile(CP_SCHEMA, strlen(CP_SCHEMA), &s->schema, NULL);
    uint64_t stride = layout ? 64 * 8 * 32 + 8 * 64 : record + 64;
    if (!rc)
        rc = sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                   .name = s->name,
                                   .size = cap * stride + 4 * wsize + (4u << 20),
                                   .flags = SABRE_REGION_REPLACE},
            &s->reg);
    if (!rc)
        rc = sabre_ring_create(
            s->reg,
            &(sabre_ring_desc_t){.name = "rollouts",
                                 .policy = SABRE_RING_BLOCK,
                                 .capacity = cap,
                                 .producers = 1,
                                 .layout = layout ? sabre_schema_root(s->schema) : NULL,
                                 .steps = layout ? 64 : 1,
                                 .envs = layout ? 8 : 1,
                                 .record_size = layout ? 0 : record},
            &s->ring);
    if (!rc)
        rc = sabre_weights_create(
            s->reg,
            &(sabre_weights_desc_t){.name = "policy", .size = wsize, .slots = 4, .readers = 2},
            &s->w);
    if (rc)
        die("set-up", rc);
    if ((rc = sabre_mpi_bridge_create(&(sabre_mpi_bridge_desc_t){.region = s->reg}, &s->b)))
        die("bridge", rc);
}

static void setup_close(setup *s)
{
    if (rank == 0)
        sabre_mpi_bridge_stop(s->b);
    while (!sabre_mpi_bridge_done(s->b)) {
        int rc = sabre_mpi_bridge_poll(s->b, 1000000);
        if (rc)
            die("poll", rc);
    }
    sabre_mpi_bridge_close(s->b);
    sabre_weights_close(s->w);
    sabre_ring_close(s->ring);
    sabre_region_close(s->reg);
    sabre_region_unlink(SABRE_BACKING_SHM, s->name);
    sabre_schema_free(s->schema);
}

/* A barrier that keeps the bridge moving (and its heartbeats going). */
static void barrier_polling(setup *s)
{
    MPI_Request rq;
    int flag = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &rq);
    while (!flag) {
        int rc = sabre_mpi_bridge_poll(s->b, 1000000);
        if (rc)
            die("poll", rc);
        MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
    }
}

/* ---- forwarding ---------------------------------------------------------------------------- */

typedef struct worker {
    sabre_ring_t *ring;
    uint64_t n;
    _Atomic int done;
    double end;
} worker;

static void *produce(void *arg)
{
    worker *k = arg;
    sabre_ring_producer_t *p;
    int rc = sabre_ring_producer_open(k->ring, &p);
    if (rc)
        die("producer", rc);
    for (uint64_t i = 0; i < k->n;) {
        sabre_ring_claim_t c;
        rc = sabre_ring_claim(p, 1, UINT64_MAX, &c);
        if (rc)
            die("claim", rc);
        memcpy(c.data, &i, sizeof i); /* actors write the chunk; here one word */
        if ((rc = sabre_ring_commit(p, &c)))
            die("commit", rc);
        i++;
    }
    sabre_ring_producer_close(p);
    atomic_store(&k->done, 1);
    return NULL;
}

static void *consume(void *arg)
{
    worker *k = arg;
    sabre_ring_consumer_t *c;
    int rc = sabre_ring_consumer_open(k->ring, &c);
    if (rc)
        die("consumer", rc);
    for (uint64_t got = 0; got < k->n;) {
        sabre_ring_batch_t b;
        if ((rc = sabre_ring_consume(c, 256, UINT64_MAX, &b)))
            die("consume", rc);
        got += b.count;
        sabre_ring_release(c, &b);
    }
    k->end = now_s();
    sabre_ring_consumer_close(c);
    atomic_store(&k->done, 1);
    return NULL;
}

/* Bytes per second through the bridge, measured on rank 0. */
static double bridge_rate(setup *s, uint64_t n)
{
    worker k = {.ring = s->ring, .n = n};
    pthread_t th;
    barrier_polling(s);
    double t0 = now_s();
    pthread_create(&th, NULL, rank == 0 ? consume : produce, &k);
    while (!atomic_load(&k.done)) {
        int rc = sabre_mpi_bridge_poll(s->b, 1000000);
        if (rc)
            die("poll", rc);
    }
    pthread_join(th, NULL);
    barrier_polling(s); /* rank 1 forwards until rank 0 has everything */
    return (double)n * (double)sabre_ring_chunk_stride(s->ring) / (k.end - t0);
}

/* The same bytes with MPI_Send/MPI_Recv, one message per chunk. */
static double plain_rate(uint64_t n, uint64_t bytes, uint8_t *buf)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        if (rank == 1)
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
        else
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    double t = now_s() - t0;
    MPI_Barrier(MPI_COMM_WORLD);
    return (double)n * (double)bytes / t;
}

static void forwarding(const char *what, bool layout, uint64_t record, uint32_t cap, uint64_t n,
                       int runs)
{
    setup s;
    setup_open(&s, layout, record, cap, 4096);
    uint64_t stride = sabre_ring_chunk_stride(s.ring);
    uint8_t *buf = calloc(1, stride);
    double ratio[256], br[256], pr[256];
    bridge_rate(&s, n / 4); /* warm-up: connections, pages */
    plain_rate(n / 4, stride, buf);
    for (int r = 0; r < runs; r++) {
        br[r] = bridge_rate(&s, n);
        pr[r] = plain_rate(n, stride, buf);
        ratio[r] = br[r] / pr[r];
    }
    if (rank == 0)
        printf("forwarding %-22s %6" PRIu64 " chunks of %8" PRIu64
               " B: bridge %7.1f MB/s, MPI_Send/Recv %7.1f MB/s, ratio %.2fx (median of %d; "
               "target >= 0.9)\n",
               what, n, stride, median(br, runs) / 1e6, median(pr, runs) / 1e6, median(ratio, runs),
               runs);
    fflush(stdout);
    free(buf);
    setup_close(&s);
}

/* ---- weights --------------------------------------------------------------------------------- */

static double bridge_weights(setup *s, uint64_t size)
{
    barrier_polling(s);
    double t = 0;
    if (rank == 0) {
        void *buf;
        int rc = sabre_weights_begin(s->w, UINT64_MAX, &buf);
        if (rc)
            die("begin", rc);
        memset(buf, (int)sabre_weights_version(s->w), size);
        double t0 = now_s();
        if ((rc = sabre_weights_commit(s->w, NULL, NULL)))
            die("commit", rc);
        MPI_Request ack;
        int got = 0, flag = 0;
        MPI_Irecv(&got, 1, MPI_INT, 1, 2, MPI_COMM_WORLD, &ack);
        while (!flag) {
            if ((rc = sabre_mpi_bridge_poll(s->b, 1000000)))
                die("poll", rc);
            MPI_Test(&ack, &flag, MPI_STATUS_IGNORE);
        }
        t = now_s() - t0;
    } else {
        uint64_t want = sabre_weights_version(s->w) + 1;
        while (sabre_weights_version(s->w) < want) {
            int rc = sabre_mpi_bridge_poll(s->b, 1000000);
            if (rc)
                die("poll", rc);
        }
        int one = 1; /* adoptable here now */
        MPI_Send(&one, 1, MPI_INT, 0, 2, MPI_COMM_WORLD);
    }
    barrier_polling(s);
    return t;
}

static double plain_bcast(uint8_t *buf, uint64_t size)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    MPI_Bcast(buf, (int)size, MPI_BYTE, 0, MPI_COMM_WORLD);
    int one = 1;
    if (rank == 0)
        MPI_Recv(&one, 1, MPI_INT, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    else
        MPI_Send(&one, 1, MPI_INT, 0, 3, MPI_COMM_WORLD);
    double t = now_s() - t0;
    MPI_Barrier(MPI_COMM_WORLD);
    return t;
}

static void weights(uint64_t size, int runs)
{
    setup s;
    setup_open(&s, false, 64, 2, size);
    uint8_t *buf = calloc(1, size);
    double ratio[256], bt[256], pt[256];
    bridge_weights(&s, size);
    plain_bcast(buf, size);
    for (int r = 0; r < runs; r++) {
        bt[r] = bridge_weights(&s, size);
        pt[r] = plain_bcast(buf, size);
        ratio[r] = bt[r] / pt[r];
    }
    if (rank == 0)
        printf("weights %" PRIu64 " MiB, publish -> adoptable on rank 1: bridge %.3f ms, "
               "MPI_Bcast %.3f ms, ratio %.2fx (median of %d; target <= 1.2)\n",
               size >> 20, median(bt, runs) * 1e3, median(pt, runs) * 1e3, median(ratio, runs),
               runs);
    fflush(stdout);
    free(buf);
    setup_close(&s);
}

int main(int argc, char **argv)
{
    int provided, size, runs = 5;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc == 3 && !strcmp(argv[1], "--runs"))
        runs = atoi(argv[2]);
    if (runs < 1 || runs > 32)
        runs = 5;
    if (size != 2) {
        if (rank == 0)
            fprintf(stderr, "bench_mpi: run with mpirun -np 2\n");
        MPI_Finalize();
        return 2;
    }
    forwarding("(64x8 CartPole steps)", true, 0, 256, 4000, runs);
    forwarding("(1 MiB)", false, 1u << 20, 16, 300, runs);
    weights(4u << 20, runs * 8);
    MPI_Finalize();
    return 0;
}
