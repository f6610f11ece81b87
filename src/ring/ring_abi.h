/*
 * ring_abi.h - the byte layout of a ring object (ring ABI 3.0), shared by
 * every party that maps it.  docs/abi.md ("Ring object") is the
 * specification; sabre_abi_json() exports these sizes and offsets.
 *
 * Ring ABI 3.1 appended, in space 3.0 left reserved (so 3.0 readers still
 * work): the field records' element type, the lag histogram, the skip
 * limit and counter, the consumer's closed mark, per-record death
 * counters, and the episode lanes after the payloads.
 *
 * A chunk is a 16-byte header (sabre_chunk_t) in the headers array, a
 * 32-byte slot record (rg_meta) in the records array and a payload in the
 * payloads array, all indexed by lane * capacity + slot.  Cursor lanes
 * write the slot records of a claim's first and last chunks only (the
 * claim's end, policy version and commit time); MPSC and overwrite rings
 * write every chunk's,
 * whose 64-bit state word is position << 8 | flags | state, with state FREE
 * (the slot may be claimed for `position`), COMMITTED (holds `position`) or
 * READING (the consumer holds `position` in place), and the flags
 * ABANDONED / PAD on a COMMITTED word (skip it).  Positions are monotonic
 * per lane (LANES) or per ring (MPSC); claims and batches never cross the
 * end of a lane's slot array (padding: docs/rl.md).
 */
#ifndef SABRE_RING_ABI_H
#define SABRE_RING_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "sabre/ring.h"

enum { ST_FREE = 0, ST_COMMITTED = 1, ST_READING = 2 };
#define FL_ABANDONED 0x4ull
#define FL_PAD       0x8ull
#define FLAGS_MASK   0xfcull

static inline uint64_t mk(uint64_t pos, unsigned st, uint64_t fl)
{
    return (pos << 8) | fl | st;
}
static inline uint64_t pos_of(uint64_t s)
{
    return s >> 8;
}
static inline unsigned st_of(uint64_t s)
{
    return (unsigned)(s & 3);
}

typedef struct rg_hdr {
    uint32_t magic;                /* 0 */
    uint16_t abi_major, abi_minor; /* 4 */
    uint32_t shape, policy;        /* 8 */
    uint32_t capacity, nproducers; /* 16 */
    uint32_t nlanes, nfields;      /* 24 */
    uint32_t steps, envs;          /* 32 */
    uint64_t chunk_stride;         /* 40: payload stride */
    uint64_t headers_offset;       /* 48 */
    uint64_t layout_hash;          /* 56 */
    uint64_t reclaim_ns;           /* 64 */
    uint64_t spin_ns;              /* 72 */
    uint64_t fields_offset;        /* 80 */
    uint64_t lanes_offset;         /* 88 */
    uint64_t producers_offset;     /* 96 */
    uint64_t meta_offset;          /* 104 */
    uint64_t payloads_offset;      /* 112 */
    uint64_t object_size;          /* 120 */
    /* line @128: the consumer record (written by the consumer) */
    _Atomic uint64_t cons_owner;
    _Atomic uint64_t consumed;
    _Atomic uint64_t cons_wait_ns;
    _Atomic uint64_t lag_min;
    _Atomic uint64_t lag_max;
    _Atomic uint64_t lag_sum;
    _Atomic uint64_t lag_count;
    _Atomic uint64_t cur_version;
    _Atomic uint64_t held;
    /* 3.1: */
    _Atomic uint64_t lag_skipped; /* 200: chunks skipped for the consumer's max lag */
    _Atomic uint64_t lag_limit;   /* 208: the consumer's max lag + 1; 0 = none */
    uint64_t episodes_offset;     /* 216: episode lanes (creator, once); 0 = none */
    uint32_t episodes_cap;        /* 224: episode records per producer, power of two */
    uint32_t reserved1;           /* 228 */
    uint8_t pad1[256 - 232];
    /* line @256: consumer wake-up word (bumped by producers) */
    _Atomic uint32_t commit_seq;
    _Atomic uint32_t cons_waiting;
    uint8_t pad2[384 - 264];
    /* line @384: producer wake-up word (bumped by the consumer) */
    _Atomic uint32_t release_seq;
    _Atomic uint32_t prod_waiters;
    _Atomic uint32_t cons_closed; /* 392 (3.1): 1 once the consumer closed the ring */
    _Atomic int32_t closed_pid;   /* 396 (3.1): the process that closed it */
    uint8_t pad3[512 - 400];
    /* line @512: reclaim counter (consumer or a producer taking over) */
    _Atomic uint64_t abandoned;
    _Atomic uint64_t lag_hist[SABRE_RING_LAG_BUCKETS]; /* 520 (3.1): consumer */
    _Atomic uint64_t producer_deaths;                  /* 632 (3.1) */
} rg_hdr;
_Static_assert(sizeof(rg_hdr) == 640, "ring header is 640 bytes");
_Static_assert(offsetof(rg_hdr, cons_owner) == 128, "consumer line at 128");
_Static_assert(offsetof(rg_hdr, commit_seq) == 256, "commit_seq at 256");
_Static_assert(offsetof(rg_hdr, release_seq) == 384, "release_seq at 384");
_Static_assert(offsetof(rg_hdr, abandoned) == 512, "abandoned at 512");
_Static_assert(offsetof(rg_hdr, lag_skipped) == 200 && offsetof(rg_hdr, reserved1) == 228 &&
                   offsetof(rg_hdr, cons_closed) == 392 && offsetof(rg_hdr, lag_hist) == 520 &&
                   offsetof(rg_hdr, producer_deaths) == 632,
               "3.1 header words");

typedef struct rg_field { /* 64 bytes */
    char name[40];
    uint32_t elem_size;
    uint32_t elem_info; /* 3.1: scalar type (bits 0-7; 0 = struct or raw bytes) | count << 8
                           (bits 8-31); 0 in 3.0 rings */
    uint64_t offset;
    uint64_t size;
} rg_field;
_Static_assert(sizeof(rg_field) == 64, "field record is 64 bytes");

typedef struct rg_lane {   /* 384 bytes: three 128-byte lines */
    _Atomic uint64_t head; /* cursor lanes: committed end; otherwise next position to claim */
    uint8_t pad0[128 - 8];
    _Atomic uint64_t tail; /* consumer position (chunks handed out) */
    uint8_t pad1[128 - 8];
    _Atomic uint64_t freed; /* cursor lanes: released end (consumer; read by the producer) */
    uint8_t pad2[128 - 8];
} rg_lane;
_Static_assert(sizeof(rg_lane) == 384, "lane is 384 bytes");
_Static_assert(offsetof(rg_lane, tail) == 128 && offsetof(rg_lane, freed) == 256,
               "lane words 128 bytes apart");

typedef struct rg_prod { /* 128 bytes, written by its producer */
    _Atomic uint64_t owner;
    _Atomic uint64_t intent; /* first << 9 | count of the current claim, 0 = none */
    _Atomic uint64_t heartbeat_ns;
    _Atomic uint64_t produced;
    _Atomic uint64_t dropped;
    _Atomic uint64_t overwritten;
    _Atomic uint64_t aborted;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t seq_next;
    /* 3.1: written by whoever finds the owner dead (consumer, or a producer
     * taking the record over), and the episode counters by the producer */
    _Atomic uint64_t abandoned;        /* 72 */
    _Atomic uint64_t deaths;           /* 80 */
    _Atomic uint64_t dead_owner;       /* 88: identity of the last owner found dead */
    _Atomic uint64_t episodes;         /* 96 */
    _Atomic uint64_t episodes_dropped; /* 104 */
    uint8_t pad[128 - 112];
} rg_prod;
_Static_assert(sizeof(rg_prod) == 128, "producer record is 128 bytes");
_Static_assert(offsetof(rg_prod, abandoned) == 72 && offsetof(rg_prod, episodes_dropped) == 104,
               "3.1 producer words");

/* Episode lane of producer record k (3.1), at episodes_offset +
 * k * (256 + 32 * episodes_cap): an SPSC ring of episode records. */
typedef struct rg_eplane {
    _Atomic uint64_t head; /* records written (the producer; store release) */
    uint8_t pad0[128 - 8];
    _Atomic uint64_t tail; /* records read (the consumer; store release) */
    uint8_t pad1[128 - 8];
} rg_eplane;
_Static_assert(sizeof(rg_eplane) == 256, "episode lane cursors are 256 bytes");
_Static_assert(sizeof(sabre_ring_episode_t) == 32 && offsetof(sabre_ring_episode_t, length) == 8 &&
                   offsetof(sabre_ring_episode_t, policy_version) == 16 &&
                   offsetof(sabre_ring_episode_t, end_ns) == 24,
               "episode record is 32 bytes");

_Static_assert(sizeof(sabre_chunk_t) == 16, "chunk header is 16 bytes");
_Static_assert(offsetof(sabre_chunk_t, valid_steps) == 8 &&
                   offsetof(sabre_chunk_t, producer) == 12 &&
                   offsetof(sabre_chunk_t, claim_rest) == 14,
               "chunk header words");

/* Slot record (32 bytes).  Cursor lanes: written in the slots of a claim's
 * first and last chunks only; the others: in every chunk's slot. */
typedef struct rg_meta {
    _Atomic uint64_t state;  /* MPSC / overwrite: the state word; cursor lanes: unused (0) */
    uint64_t policy_version; /* the claim's version */
    uint64_t commit_ns;      /* the claim's commit time, 0 before */
    uint64_t claim_end;      /* cursor lanes: end position of the claim (padding:
                                RG_END_PAD | its end); others: 0 */
} rg_meta;
_Static_assert(sizeof(rg_meta) == 32, "slot record is 32 bytes");

#define RG_FIELDS_OFFSET 640u
#define RG_PAD           0x8000u /* claim_rest of a padding header */
#define RG_REST_MASK     0x7fffu
#define RG_END_PAD       (1ull << 63) /* claim_end of padding's first slot record */

#endif
