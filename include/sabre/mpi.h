/*
 * sabre/mpi.h - past one machine: a bridge that carries committed rollout
 * chunks from the node-local rings of actor nodes to the trainer's ring,
 * and every published weights version from the trainer's weights object to
 * a node-local weights object on every actor node, over MPI (libsabre_mpi;
 * the core library has no MPI dependency).  docs/distributed.md describes
 * the protocol, its messages and each failure.
 *
 * One bridge per node, one MPI rank per bridge.  The trainer rank (desc
 * .trainer_rank, default 0) opens the trainer's ring as producers (one per
 * remote producer record: trainer lane = (node, its lane), kept in the
 * bridge object) and its weights as a reader.  Every other rank is an
 * actor node: it consumes its node ring and publishes into its node
 * weights object.  A chunk keeps its facts end to end: valid steps, the
 * policy version and the commit time of its claim (the node's clock
 * translated to the trainer's, offset measured at the handshake); weights
 * keep version number, shape hash and step counter.
 *
 * Ownership: the caller owns the region and the ring and weights objects
 * in it (they must outlive the bridge); the bridge owns its handles on
 * them, a duplicate of the communicator, and its counters object
 * (kind SABRE_OBJ_BRIDGE, name desc .name) in the region, which stays
 * after close for `sabre inspect`.  sabre_mpi_bridge_close frees all of it.
 *
 * Thread-safety: a bridge belongs to one thread at a time, and that thread
 * makes every MPI call of the bridge (MPI_THREAD_FUNNELED is enough when
 * it is the thread that initialised MPI).  Other threads and processes use
 * the ring and weights objects as usual meanwhile.
 *
 * Blocking: sabre_mpi_bridge_create is collective over the communicator
 * (every rank calls it; it returns on all ranks with the same status).
 * sabre_mpi_bridge_poll does the work at hand and then waits at most
 * timeout_ns for more, yielding the CPU between idle passes; it never
 * blocks in MPI.  Timeout 0 does one round of work and returns without
 * yielding: a loop of such calls spins, which on a node with fewer cores
 * than busy threads starves the actors (measured: 5x less throughput), so
 * loops should pass a timeout (1 ms is plenty).
 * Backpressure follows the trainer ring's policy end to end: the trainer
 * grants each remote lane exactly the room its trainer lane has; with
 * SABRE_RING_BLOCK a node without credit holds its chunks (its actors then
 * wait on their own ring), with SABRE_RING_DROP_NEWEST it drops them and
 * counts them in its bridge object.  Nothing queues without bound.
 *
 * Errors: every function returns a status with a message
 * (sabre_last_error()).  A handshake mismatch (ABI versions, ring layout
 * hash, T x E, weights size) is SABRE_EVERSION or SABRE_ELAYOUT on every
 * rank, the message naming both ranks, their hosts and both values.  A
 * peer silent for longer than peer_timeout_ns is SABRE_EPEER naming its
 * rank and host (the caller should then end the job: MPI_Abort).
 */
#ifndef SABRE_MPI_H
#define SABRE_MPI_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "sabre/region.h"
#include "sabre/ring.h"
#include "sabre/status.h"
#include "sabre/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_MPI_ABI_MAJOR 1
#define SABRE_MPI_ABI_MINOR 0
#define SABRE_BRIDGE_MAGIC  0x47444253u /* "SBDG" little-endian */

typedef struct sabre_mpi_bridge_desc {
    MPI_Comm comm;            /* MPI_COMM_NULL or 0 = MPI_COMM_WORLD (duplicated) */
    int trainer_rank;         /* rank of the trainer node */
    sabre_region_t *region;   /* this node's region */
    const char *ring;         /* ring name, NULL = "rollouts" */
    const char *weights;      /* weights name, NULL = "policy"; "" = no weights */
    const char *name;         /* bridge object name, NULL = "bridge" */
    uint32_t batch;           /* chunks per message at most, 0 = 64 (<= 256) */
    uint64_t peer_timeout_ns; /* silence after which a peer is lost, 0 = 10 s */
} sabre_mpi_bridge_desc_t;

typedef struct sabre_mpi_bridge sabre_mpi_bridge_t;

/*
 * Collective: open this node's ring (the trainer as producers, nodes as the
 * consumer) and weights (the trainer as a reader, nodes as the publisher),
 * exchange and check every rank's description, measure each node's clock
 * offset to the trainer, grant the first credits.  The trainer ring must be
 * LANES with DROP_NEWEST or BLOCK and have a free producer record for every
 * producer record of every node ring (SABRE_EINVAL / SABRE_ENOSPC, on all
 * ranks).
 */
int sabre_mpi_bridge_create(const sabre_mpi_bridge_desc_t *desc, sabre_mpi_bridge_t **out);

/*
 * Move what can move: chunks node -> trainer, credits trainer -> nodes,
 * weights versions trainer -> nodes, heartbeats.  Then wait up to
 * timeout_ns for more.  SABRE_OK, or SABRE_EPEER when a peer is lost, or
 * another status from the ring, weights or MPI (the bridge is then
 * unusable: close it and end the job).
 */
int sabre_mpi_bridge_poll(sabre_mpi_bridge_t *b, uint64_t timeout_ns);

/*
 * Trainer rank: end the run.  Nodes stop consuming, finish the messages
 * they sent, report their last counters and finish; the trainer receives
 * and commits everything they sent.  Keep calling sabre_mpi_bridge_poll
 * until sabre_mpi_bridge_done.  On a node: SABRE_ESTATE.
 */
int sabre_mpi_bridge_stop(sabre_mpi_bridge_t *b);

/* True once the run has ended on this rank (after a stop). */
bool sabre_mpi_bridge_done(const sabre_mpi_bridge_t *b);

/* Free everything (the counters object stays in the region).  NULL is ignored. */
void sabre_mpi_bridge_close(sabre_mpi_bridge_t *b);

/* This rank's counters (the same numbers the bridge object shows). */
typedef struct sabre_mpi_bridge_stats {
    int rank, size, trainer_rank;
    uint32_t lanes;            /* trainer: remote lanes; node: its ring's lanes */
    uint64_t chunks;           /* forwarded (node) or committed (trainer) */
    uint64_t bytes;            /* payload bytes of those chunks */
    uint64_t messages;         /* chunk messages sent (node) or received (trainer) */
    uint64_t in_flight;        /* node: chunks sent whose send is not complete */
    uint64_t dropped;          /* node: chunks dropped for want of credit */
    uint64_t credit_waits;     /* node: polls that held chunks for want of credit */
    uint64_t left_at_stop;     /* node: chunks held without credit when the run stopped */
    uint64_t weights_sent;     /* trainer: versions sent to every node */
    uint64_t weights_applied;  /* node: versions published into its weights object */
    uint64_t weights_version;  /* latest version sent (trainer) or applied (node) */
    int64_t clock_offset_ns;   /* node: trainer clock - node clock */
    uint64_t clock_err_ns;     /* node: bound on the offset's error (half the best RTT) */
    uint64_t lag_versions_max; /* trainer: policy lag of received chunks, max */
    uint64_t age_ns_last;      /* trainer: commit-to-commit age of the last chunk */
} sabre_mpi_bridge_stats_t;

int sabre_mpi_bridge_stats(const sabre_mpi_bridge_t *b, sabre_mpi_bridge_stats_t *out);

/* Trainer rank: where trainer lane `lane` comes from (rank and that node's
 * producer record).  SABRE_ENOENT for a lane the bridge does not feed. */
int sabre_mpi_bridge_lane_source(const sabre_mpi_bridge_t *b, uint32_t lane, int *rank,
                                 uint32_t *node_lane);

#ifdef __cplusplus
}
#endif
#endif
