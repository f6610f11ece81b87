/*
 * bridge_abi.h - the byte layout of an MPI bridge's counters object (kind
 * SABRE_OBJ_BRIDGE) and of the bridge's messages.  docs/abi.md ("Bridge
 * object") and docs/distributed.md ("Messages") are the specification.
 * No MPI here: `sabre inspect` reads the object without MPI.
 */
#ifndef SABRE_MPI_BRIDGE_ABI_H
#define SABRE_MPI_BRIDGE_ABI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BD_MAGIC     0x47444253u /* "SBDG" little-endian (SABRE_BRIDGE_MAGIC) */
#define BD_ABI_MAJOR 1
#define BD_ABI_MINOR 0

enum { BD_ROLE_TRAINER = 1, BD_ROLE_NODE = 2 };
enum { BD_STATE_RUNNING = 1, BD_STATE_DONE = 2, BD_STATE_FAILED = 3 };

/* Header (256 bytes).  Every counter has one writer, the bridge's thread
 * (relaxed stores); readers (sabre inspect) load them relaxed. */
typedef struct bd_hdr {
    uint32_t magic;                    /* 0 */
    uint16_t abi_major, abi_minor;     /* 4 */
    uint32_t role;                     /* 8 */
    int32_t rank;                      /* 12 */
    int32_t size;                      /* 16 */
    int32_t trainer_rank;              /* 20 */
    uint32_t nlanes;                   /* 24: entries in the lane table */
    int32_t pid;                       /* 28 */
    char host[64];                     /* 32 */
    uint64_t lanes_offset;             /* 96: from the object start */
    uint64_t peers_offset;             /* 104 */
    uint32_t npeers;                   /* 112 */
    _Atomic uint32_t state;            /* 116: BD_STATE_* */
    _Atomic uint64_t chunks;           /* 120 */
    _Atomic uint64_t bytes;            /* 128 */
    _Atomic uint64_t messages;         /* 136 */
    _Atomic uint64_t in_flight;        /* 144 */
    _Atomic uint64_t dropped;          /* 152 */
    _Atomic uint64_t credit_waits;     /* 160 */
    _Atomic uint64_t weights_sent;     /* 168 */
    _Atomic uint64_t weights_applied;  /* 176 */
    _Atomic uint64_t weights_version;  /* 184 */
    _Atomic int64_t clock_offset_ns;   /* 192 */
    _Atomic uint64_t clock_err_ns;     /* 200 */
    _Atomic uint64_t lag_versions_max; /* 208 */
    _Atomic uint64_t age_ns_last;      /* 216 */
    _Atomic uint64_t heartbeat_ns;     /* 224: CLOCK_MONOTONIC of the last poll */
    _Atomic uint64_t left_at_stop;     /* 232: node: chunks held without credit at the stop */
    uint8_t pad[256 - 240];
} bd_hdr;
_Static_assert(sizeof(bd_hdr) == 256, "bridge header is 256 bytes");
_Static_assert(offsetof(bd_hdr, lanes_offset) == 96 && offsetof(bd_hdr, chunks) == 120 &&
                   offsetof(bd_hdr, heartbeat_ns) == 224,
               "bridge header words");

/* Lane table entry (trainer): trainer lane i is fed by (rank, node_lane);
 * rank -1 = not fed by the bridge.  Written once before state RUNNING. */
typedef struct bd_lane {
    int32_t rank;
    uint32_t node_lane;
} bd_lane;
_Static_assert(sizeof(bd_lane) == 8, "lane entry is 8 bytes");

/* Peer record (64 bytes), one per rank.  Trainer: what each node sent and
 * reported; node: its own record only. */
typedef struct bd_peer {
    _Atomic uint64_t chunks;          /* 0 */
    _Atomic uint64_t bytes;           /* 8 */
    _Atomic uint64_t dropped;         /* 16: reported by the node */
    _Atomic uint64_t weights_version; /* 24: applied on the node (reported) */
    _Atomic uint64_t lag_versions;    /* 32: policy lag of its last chunk */
    _Atomic uint64_t age_ns;          /* 40: commit-to-commit age of its last chunk */
    _Atomic uint64_t last_heard_ns;   /* 48: CLOCK_MONOTONIC of its last message */
    int32_t rank;                     /* 56 */
    uint32_t lanes;                   /* 60 */
} bd_peer;
_Static_assert(sizeof(bd_peer) == 64, "peer record is 64 bytes");

/* ---- messages (docs/distributed.md) ---- */

enum {
    BD_TAG_HELLO = 1,
    BD_TAG_CLOCK = 2,
    BD_TAG_META = 3,
    BD_TAG_CREDIT = 4,
    BD_TAG_WHDR = 5,
    BD_TAG_WDATA = 6,
    BD_TAG_HB = 7,
    BD_TAG_STOP = 8,
    BD_TAG_DONE = 9,
    BD_TAG_DATA = 64 /* + node lane: a chunk message's payload */
};

/* One rank's description, exchanged by every rank at the handshake. */
typedef struct bd_hello {
    uint32_t magic, bridge_major, bridge_minor, ring_major, weights_major;
    uint32_t role;
    int32_t pid, status; /* status: a local failure (SABRE_E*), 0 = ok */
    char host[64];
    uint64_t layout_hash, chunk_stride;
    uint32_t steps, envs, capacity, nproducers, policy, shape;
    uint64_t weights_size;
    uint32_t has_weights, reserved;
    char detail[160]; /* the local failure's message */
} bd_hello;

/* A run of a chunk message: chunks of one original claim. */
typedef struct bd_run {
    uint32_t count, reserved;
    uint64_t policy_version;
    uint64_t commit_ns; /* in the trainer's clock */
} bd_run;

/* Chunk message header (node -> trainer, tag META), followed by nruns runs
 * and n valid_steps words; the payload follows on tag BD_TAG_DATA + lane. */
typedef struct bd_meta {
    uint32_t lane;  /* the node's lane */
    uint32_t n;     /* chunks */
    uint64_t first; /* trainer lane position of the first chunk */
    uint32_t nruns, reserved;
} bd_meta;
#define BD_META_MAX (sizeof(bd_meta) + 256 * sizeof(bd_run) + 256 * sizeof(uint32_t))

/* Credit (trainer -> node): the node may send lane `lane` up to position
 * `end`; `start` is the trainer lane's position at the handshake. */
typedef struct bd_credit {
    uint32_t lane, reserved;
    uint64_t start, end;
} bd_credit;

/* Weights version header (trainer -> node, tag WHDR); the buffer follows
 * on tag WDATA, sent from the trainer's pinned slot. */
typedef struct bd_whdr {
    uint64_t version, step, size;
    uint32_t shape, reserved;
} bd_whdr;

/* Heartbeat / done (node -> trainer): the node's counters. */
typedef struct bd_report {
    uint64_t chunks, bytes, dropped, weights_version, messages;
} bd_report;

#endif
