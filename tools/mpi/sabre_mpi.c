/*
 * sabre-mpi - the MPI side of sabre (built when MPI is found):
 *
 *     mpirun -np N sabre-mpi bridge --shm NAME [...]   one bridge per node
 *     mpirun -np N sabre-mpi demo rl [...]             CartPole across nodes
 *
 * docs/distributed.md describes both.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/sabre_mpi_tool.h"

volatile sig_atomic_t sabre_mpi_tool_signal;

static void on_signal(int sig)
{
    sabre_mpi_tool_signal = sig;
}

void sabre_mpi_tool_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

void sabre_mpi_tool_print_stats(FILE *f, const sabre_mpi_bridge_t *b, const char *why)
{
    sabre_mpi_bridge_stats_t s;
    if (sabre_mpi_bridge_stats(b, &s))
        return;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    fprintf(f,
            "bridge rank %d (host %s, %s): %s; chunks %" PRIu64 ", bytes %" PRIu64
            ", messages %" PRIu64 ", dropped %" PRIu64 ", credit waits %" PRIu64
            ", left at stop %" PRIu64 ", weights %s %" PRIu64 " (version %" PRIu64 ")",
            s.rank, host, s.rank == s.trainer_rank ? "trainer" : "node", why, s.chunks, s.bytes,
            s.messages, s.dropped, s.credit_waits, s.left_at_stop,
            s.rank == s.trainer_rank ? "sent" : "applied",
            s.rank == s.trainer_rank ? s.weights_sent : s.weights_applied, s.weights_version);
    if (s.rank != s.trainer_rank)
        fprintf(f, ", clock offset %" PRId64 " ns (+-%" PRIu64 ")", s.clock_offset_ns,
                s.clock_err_ns);
    else
        fprintf(f, ", max policy lag %" PRIu64, s.lag_versions_max);
    fprintf(f, "\n");
    fflush(f);
}

void sabre_mpi_tool_region_name(char *dst, size_t cap, const char *pattern, int rank)
{
    /* "%r" in the name is this rank: one machine, several "nodes" */
    size_t k = 0;
    for (const char *p = pattern; *p && k + 1 < cap; p++) {
        if (p[0] == '%' && p[1] == 'r') {
            k += (size_t)snprintf(dst + k, cap - k, "%d", rank);
            p++;
        } else {
            dst[k++] = *p;
        }
    }
    dst[k < cap ? k : cap - 1] = 0;
}

/* ---- sabre-mpi bridge ------------------------------------------------------------ */

static void bridge_usage(FILE *f)
{
    fprintf(f, "usage: mpirun -np N sabre-mpi bridge --shm NAME [options]\n"
               "  One rank per node.  The trainer rank bridges the trainer's ring and\n"
               "  weights in its node's region; every other rank bridges its node ring\n"
               "  (consumed) and node weights (published), created by the node's actors\n"
               "  or their launcher.  \"%%r\" in NAME is replaced by the rank.\n"
               "  --shm NAME          the node's shm region\n"
               "  --ring R            ring name (default rollouts)\n"
               "  --weights W         weights name (default policy; \"\" = none)\n"
               "  --name OBJ          the bridge's counters object (default bridge)\n"
               "  --trainer-rank T    (default 0)\n"
               "  --batch N           chunks per message at most (default 64)\n"
               "  --wait S            wait up to S seconds for the region (default 30)\n"
               "  --peer-timeout S    a peer silent this long is lost (default 10)\n"
               "The run ends when the trainer's ring has no consumer any more (the\n"
               "trainer closed it) or on SIGINT/SIGTERM; a lost peer ends the job\n"
               "(MPI_Abort) with a message naming its rank and host.\n");
}

static int bridge_cmd(int argc, char **argv)
{
    const char *shm = NULL;
    sabre_mpi_bridge_desc_t d = {.comm = MPI_COMM_WORLD};
    double wait_s = 30, peer_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bridge_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--shm") && v) {
            shm = v, i++;
        } else if (!strcmp(a, "--ring") && v) {
            d.ring = v, i++;
        } else if (!strcmp(a, "--weights") && v) {
            d.weights = v, i++;
        } else if (!strcmp(a, "--name") && v) {
            d.name = v, i++;
        } else if (!strcmp(a, "--trainer-rank") && v) {
            d.trainer_rank = atoi(v), i++;
        } else if (!strcmp(a, "--batch") && v) {
            d.batch = (uint32_t)atoi(v), i++;
        } else if (!strcmp(a, "--wait") && v) {
            wait_s = atof(v), i++;
        } else if (!strcmp(a, "--peer-timeout") && v) {
            peer_s = atof(v), i++;
        } else {
            fprintf(stderr, "sabre-mpi bridge: bad option '%s'\n", a);
            bridge_usage(stderr);
            return 2;
        }
    }
    if (!shm) {
        bridge_usage(stderr);
        return 2;
    }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char name[128];
    sabre_mpi_tool_region_name(name, sizeof name, shm, rank);
    sabre_region_t *reg = NULL;
    int rc;
    struct timespec ts = {0, 50000000};
    for (double waited = 0;; waited += 0.05) {
        rc = sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = name},
                               &reg);
        if (rc != SABRE_ENOENT || waited >= wait_s)
            break;
        nanosleep(&ts, NULL);
    }
    /* every rank takes part in the handshake, even without its region,
     * so that every rank ends with the same message */
    d.region = reg;
    d.peer_timeout_ns = (uint64_t)(peer_s * 1e9);
    sabre_mpi_bridge_t *b = NULL;
    if (!reg) {
        fprintf(stderr, "sabre-mpi bridge: rank %d: region '%s': %s (%s)\n", rank, name,
                sabre_status_name(rc), sabre_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if ((rc = sabre_mpi_bridge_create(&d, &b))) {
        fprintf(stderr, "sabre-mpi bridge: rank %d: %s (%s)\n", rank, sabre_status_name(rc),
                sabre_last_error());
        sabre_region_close(reg);
        return 1;
    }
    sabre_ring_t *ring = NULL;
    sabre_mpi_bridge_stats_t st;
    sabre_mpi_bridge_stats(b, &st);
    bool trainer = st.rank == st.trainer_rank, seen_consumer = false;
    if (trainer)
        sabre_ring_open(reg, d.ring ? d.ring : "rollouts", NULL, 0, 0, &ring);
    sabre_mpi_tool_signals();
    while (!sabre_mpi_bridge_done(b)) {
        if (sabre_mpi_tool_signal && !trainer) {
            sabre_mpi_tool_print_stats(stdout, b, "ended by a signal");
            fflush(NULL);
            _exit(128 + sabre_mpi_tool_signal);
        }
        if (trainer && ring) {
            sabre_ring_stats_t rs;
            sabre_ring_stats(ring, &rs);
            seen_consumer |= rs.consumer_pid != 0;
            if ((seen_consumer && rs.consumer_pid == 0) || sabre_mpi_tool_signal)
                sabre_mpi_bridge_stop(b);
        }
        if ((rc = sabre_mpi_bridge_poll(b, 1000000))) {
            fprintf(stderr, "sabre-mpi bridge: %s (%s); ending the job\n", sabre_status_name(rc),
                    sabre_last_error());
            sabre_mpi_tool_print_stats(stderr, b, "failed");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    sabre_mpi_tool_print_stats(stdout, b, "done");
    sabre_ring_close(ring);
    sabre_mpi_bridge_close(b);
    sabre_region_close(reg);
    return 0;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: mpirun -np N sabre-mpi <command> [options]\n"
                "  bridge     carry rollouts and weights between node regions\n"
                "  demo rl    CartPole: rank 0 trains, ranks 1.. run actor processes\n"
                "'sabre-mpi <command> --help' describes a command.\n");
        return argc < 2 ? 2 : 0;
    }
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "sabre-mpi: MPI_Init_thread failed\n");
        return 1;
    }
    int rc;
    if (!strcmp(argv[1], "bridge"))
        rc = bridge_cmd(argc - 1, argv + 1);
    else if (!strcmp(argv[1], "demo") && argc > 2 && !strcmp(argv[2], "rl"))
        rc = sabre_mpi_tool_demo_rl(argc - 2, argv + 2);
    else {
        fprintf(stderr, "sabre-mpi: unknown command '%s'\n", argv[1]);
        rc = 2;
    }
    MPI_Finalize();
    return rc;
}
