/*
 * sabre/ring.h - rollout transport: rings of chunked structure-of-arrays
 * records from N producers to one consumer, across threads and processes.
 *
 * A ring lives in a region (kind SABRE_OBJ_RING).  Its records are *chunks*
 * (one rollout window of T steps x E envs).  A chunk is a 16-byte header
 * (sabre_chunk_t: sequence, valid steps, producer id) in the ring's array of
 * headers, and a payload in the ring's array of payloads: one array per
 * top-level field of the step layout, each [T][E] elements of the field (a
 * field `obs: f32[4]` gives obs[T][E][4] f32), each 64-byte aligned.
 * Without a layout, the payload is `record_size` raw bytes.  The facts a
 * whole claim shares (policy version, commit time) are stored once per
 * claim, the layout hash once per ring; sabre_ring_chunk_header gives all
 * of them for any chunk.  Chunk i of a claim or a batch is
 *     header   claim.chunks[i]
 *     field f  claim.data + i * claim.stride + field.offset
 * (the same for a batch), or sabre_ring_claim_chunk / sabre_ring_batch_chunk
 * and sabre_chunk_array one chunk at a time.  A claim or a batch never
 * crosses the end of its lane's slot array (see sabre_ring_claim).
 *
 * Lifecycle: claim -> write in place -> commit -> consume in place ->
 * release.  Claims and consumes work on batches of up to
 * SABRE_RING_BATCH_MAX chunks.  Positions are monotonic 64-bit counters.
 * LANES rings with DROP_NEWEST or BLOCK use cursors only: a commit publishes
 * the lane's head once, a release its released end once, and a claim is
 * invisible to the consumer until committed.  MPSC and OVERWRITE_OLDEST
 * rings give every chunk a state word in a per-slot record (docs/abi.md)
 * so a claimed-but-uncommitted chunk is visible as such.
 *
 * Shapes:
 *   SABRE_RING_LANES  one SPSC lane per producer (the DrillSergeantHQ v1),
 *                     read round-robin by the consumer; per-producer order
 *                     is the lane order.
 *   SABRE_RING_MPSC   one ring shared by all producers (positions reserved
 *                     with a CAS on the shared claim cursor); the consumer
 *                     reads in position order, so each producer's chunks
 *                     arrive in its claim order.
 *
 * Full policy (per ring, never by accident):
 *   SABRE_RING_DROP_NEWEST (default)  claim fails with SABRE_EFULL and the
 *                     chunks are counted as dropped;
 *   SABRE_RING_BLOCK  claim yields the CPU (spin_ns), then sleeps on a futex until
 *                     the consumer releases space; SABRE_ETIMEDOUT after
 *                     the claim's timeout (not counted as dropped);
 *   SABRE_RING_OVERWRITE_OLDEST  claim takes back the oldest committed,
 *                     not yet consumed chunks (counted as overwritten).
 *                     Chunks the consumer holds in place are never
 *                     overwritten: if the oldest is held, the claim fails
 *                     with SABRE_EFULL (counted dropped); in the rare race
 *                     where the consumer takes a chunk between the claim's
 *                     check and its reservation, the claim is given up
 *                     the same way (SABRE_EFULL, its chunks counted
 *                     dropped, the chunks it took back counted overwritten).
 * Empty ring: consume blocks up to its timeout (SABRE_ETIMEDOUT) or, with
 * timeout 0, returns SABRE_EAGAIN.  It never returns an empty batch.
 *
 * Dead producers: every producer record holds the owner's pid + start
 * time, a heartbeat and its current claim.  Chunks claimed by a producer
 * whose process died and never committed are counted as abandoned: in
 * cursor lanes they were never visible, and the consumer counts them from
 * the record's claim when it finds the owner dead (it looks every
 * reclaim_ns / 4, between 1 and 50 ms, while it waits); in MPSC and
 * overwrite rings the consumer reclaims (skips) them once it has waited on
 * them for reclaim_ns (default 250 ms), so the consumer never deadlocks.  A
 * producer taking over a dead producer's record counts its claim at once
 * and continues at the lane's committed head.  Chunks of a live producer
 * are never taken away.  (Producer *threads* of a live
 * process cannot be detected as dead: close their producer handles.)
 *
 * Consumer gone: when the consumer closes (sabre_ring_consumer_close), the
 * next claim of every producer fails with SABRE_ECLOSED ("the consumer (pid
 * N) closed the ring"), and producers blocked in a claim wake up with it;
 * a new consumer_open lets claims succeed again.  A consumer that died is
 * seen by a producer whose claim finds the ring full: SABRE_EPEER ("the
 * consumer (pid N) died") at once instead of waiting out the timeout
 * (checked at most every 10 ms while it waits).  The trainer learns about
 * dead producers from sabre_ring_producer_at (dead_pid, deaths, abandoned)
 * and stats.producer_deaths, counted when the consumer's waits look for
 * dead producers, when a claim of theirs is reclaimed, or when a new
 * producer takes their record over.
 *
 * Threads: a sabre_ring_t may be shared by threads; each producer handle
 * and the consumer handle belong to one thread at a time.  There is at
 * most one consumer per ring (SABRE_EBUSY for a second live one).
 */
#ifndef SABRE_RING_H
#define SABRE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sabre/layout.h"
#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_RING_ABI_MAJOR     3
#define SABRE_RING_ABI_MINOR     1
#define SABRE_RING_MAGIC         0x47525253u /* "SRRG" little-endian */
#define SABRE_RING_BATCH_MAX     256
#define SABRE_RING_MAX_PRODUCERS 256
#define SABRE_RING_MAX_CAPACITY  (1u << 20)
#define SABRE_RING_MAX_FIELDS    64
#define SABRE_RING_LAG_BUCKETS   14         /* policy-lag histogram buckets */
#define SABRE_RING_MAX_EPISODES  (1u << 16) /* episode records per producer */

typedef enum sabre_ring_shape { SABRE_RING_LANES = 0, SABRE_RING_MPSC = 1 } sabre_ring_shape_t;

typedef enum sabre_ring_policy {
    SABRE_RING_DROP_NEWEST = 0,
    SABRE_RING_BLOCK = 1,
    SABRE_RING_OVERWRITE_OLDEST = 2
} sabre_ring_policy_t;

typedef struct sabre_ring_desc {
    const char *name;             /* object name (1..47 bytes) */
    sabre_ring_shape_t shape;     /* 0 = LANES */
    sabre_ring_policy_t policy;   /* 0 = DROP_NEWEST */
    uint32_t capacity;            /* chunks per lane (LANES) or in the ring (MPSC);
                                     a power of two, 0 = 64 */
    uint32_t producers;           /* producer records (= lanes), 0 = 4 */
    const sabre_layout_t *layout; /* step layout: one SoA array per top-level field */
    uint32_t steps;               /* T, 0 = 1 */
    uint32_t envs;                /* E, 0 = 1 */
    uint64_t record_size;         /* without a layout: raw payload bytes per chunk */
    uint64_t reclaim_ns;          /* dead-producer reclaim delay, 0 = 250 ms */
    uint64_t spin_ns;             /* waits yield the CPU (sched_yield) this long before
                                     sleeping on a futex, 0 = 100 us */
    uint32_t episodes;            /* episode records per producer (sabre_ring_episode_report),
                                     a power of two <= SABRE_RING_MAX_EPISODES, 0 = 64 */
} sabre_ring_desc_t;

/* The chunk header (16 bytes; headers of consecutive positions are
 * consecutive).  A producer may rewrite valid_steps until it commits. */
typedef struct sabre_chunk {
    uint64_t sequence;    /* the producer record's own chunk counter: 0, 1, 2, ... */
    uint32_t valid_steps; /* steps filled, <= T (set to T at claim) */
    uint16_t producer;    /* producer index */
    uint16_t claim_rest;  /* protocol (docs/abi.md): chunks after this one in its
                             claim, or the padding mark; never write it */
} sabre_chunk_t;

/* Everything the ring records about one chunk (sabre_ring_chunk_header). */
typedef struct sabre_chunk_header {
    uint64_t sequence;
    uint32_t producer;
    uint32_t valid_steps;
    uint64_t policy_version; /* weights version of the producer at claim
                                (sabre_ring_producer_set_version) */
    uint64_t layout_hash;    /* the ring's layout hash */
    uint64_t commit_ns;      /* CLOCK_MONOTONIC at the commit of the chunk's claim,
                                0 before it */
    uint32_t lane;           /* lane (LANES: = producer record) holding the chunk */
    uint32_t claim_rest;     /* chunks after this one in its claim */
} sabre_chunk_header_t;

typedef struct sabre_ring sabre_ring_t;
typedef struct sabre_ring_producer sabre_ring_producer_t;
typedef struct sabre_ring_consumer sabre_ring_consumer_t;

/*
 * Create a ring in `region`.  Errors: SABRE_EINVAL (bad descriptor: capacity
 * not a power of two, no layout and no record_size, ...), SABRE_EEXIST,
 * SABRE_ENOSPC, SABRE_EPERM (read-only region).
 */
int sabre_ring_create(sabre_region_t *region, const sabre_ring_desc_t *desc, sabre_ring_t **out);

/*
 * Open an existing ring.  `expect` (optional) must match the stored layout
 * hash and `steps`/`envs` (0 = any) the stored T/E, else SABRE_ELAYOUT
 * naming both.  SABRE_EVERSION for another ring ABI major, SABRE_ECORRUPT
 * for a header that does not fit its object, SABRE_EINVAL if the object is
 * not a ring.  Read-only regions can be opened for inspection.
 */
int sabre_ring_open(sabre_region_t *region, const char *name, const sabre_layout_t *expect,
                    uint32_t steps, uint32_t envs, sabre_ring_t **out);

/* Free the handle (producers/consumers opened from it must be closed first). */
void sabre_ring_close(sabre_ring_t *ring);

/* One SoA array of a chunk. */
typedef struct sabre_ring_field {
    uint32_t index;
    char name[48];
    uint32_t elem_size; /* bytes per [t][e] element */
    uint64_t offset;    /* from the start of the chunk's payload (64-byte multiple) */
    uint64_t size;      /* T * E * elem_size */
    /* Element type (ring ABI 3.1): a field `obs: f32[4]` is scalar SABRE_F32,
     * count 4; a scalar field has count 1.  Struct-typed fields and the raw
     * `data` field of a ring without a layout: SABRE_SCALAR_NONE, count 1
     * (one element of elem_size bytes; the layout text gives its inside).
     * Rings made by a 3.0 library: SABRE_SCALAR_NONE, count 1. */
    sabre_scalar_t scalar;
    uint32_t count;
} sabre_ring_field_t;

uint32_t sabre_ring_field_count(const sabre_ring_t *ring);
int sabre_ring_field_at(const sabre_ring_t *ring, uint32_t i, sabre_ring_field_t *out);
/* SABRE_ENOENT if no field has that name. */
int sabre_ring_field_find(const sabre_ring_t *ring, const char *name, sabre_ring_field_t *out);
/* Pointer to array `field` of the chunk whose header is `chunk` (a header
 * of this ring: from a claim, a batch or the accessors).  NULL if `chunk`
 * is not a header of this ring or `field` is out of range. */
void *sabre_chunk_array(const sabre_ring_t *ring, const sabre_chunk_t *chunk, uint32_t field);
/* The same by field name ("obs"), so no index has to match the schema's
 * field order; NULL also when no field has that name.  Field indices that
 * cannot drift: `sabre schema --emit c` generates them (STEP_FIELD_OBS ...)
 * with the layout hash, which sabre_ring_open checks. */
void *sabre_chunk_field(const sabre_ring_t *ring, const sabre_chunk_t *chunk, const char *name);
/* Bytes from a chunk's payload to the next position's payload (the
 * `stride` of claims and batches; a multiple of 64). */
uint64_t sabre_ring_chunk_stride(const sabre_ring_t *ring);
/*
 * All five facts of a chunk (sequence, producer, policy version, valid
 * steps, layout hash) plus its commit time, for a chunk the caller holds:
 * claimed by this producer and not yet committed or aborted, or in a batch
 * the consumer has not released (or, for inspection, any chunk: its fields
 * may then be changing).  SABRE_EINVAL if `chunk` is not a chunk header of
 * this ring (or, in cursor lanes, marks padding), SABRE_ECORRUPT if its
 * claim_rest points past its lane.
 */
int sabre_ring_chunk_header(const sabre_ring_t *ring, const sabre_chunk_t *chunk,
                            sabre_chunk_header_t *out);

/* ---- producers ----------------------------------------------------------- */

/*
 * Register a producer: claims a producer record (= lane in LANES rings),
 * taking over the record of a dead process if needed (its uncommitted
 * chunks are marked abandoned first).  SABRE_ENOSPC if every record belongs
 * to a live producer.
 */
int sabre_ring_producer_open(sabre_ring_t *ring, sabre_ring_producer_t **out);
/* Abort an outstanding claim, give the record back, free the handle. */
void sabre_ring_producer_close(sabre_ring_producer_t *p);
uint32_t sabre_ring_producer_id(const sabre_ring_producer_t *p);
/* Policy version stamped into the chunks this producer claims from now on. */
void sabre_ring_producer_set_version(sabre_ring_producer_t *p, uint64_t policy_version);

typedef struct sabre_ring_claim {
    uint64_t first;        /* position of the first chunk */
    uint32_t count;        /* chunks claimed */
    uint32_t lane;         /* lane (MPSC: 0) */
    uint64_t stride;       /* bytes from one chunk's payload to the next */
    sabre_chunk_t *chunks; /* chunks[0 .. count-1]: the headers */
    uint8_t *data;         /* payload of chunk 0; chunk i's at data + i * stride */
} sabre_ring_claim_t;

/*
 * Claim n (1..SABRE_RING_BATCH_MAX, <= capacity) chunks, all or nothing,
 * at consecutive positions of one lane that do not cross the end of its
 * slot array.  A claim that would cross it starts at the lane's first slot
 * instead: the positions up to the end become padding, which the consumer
 * skips and no counter counts (the producer waits for room, or is refused,
 * for the padding first, then for the claim).  A lane whose claims all have
 * one size that divides the capacity never pads.
 * Headers are filled (sequence, producer, valid_steps = T), the claim's
 * policy version is the producer's current one; write the arrays (and
 * valid_steps if fewer steps are valid), then commit.  Full ring: see the
 * policy above (SABRE_EFULL, or SABRE_ETIMEDOUT after timeout_ns in BLOCK
 * mode; timeout_ns is ignored otherwise, UINT64_MAX = forever).  In
 * OVERWRITE_OLDEST, a claim that loses the race for a slot to the consumer
 * is given up (its positions skipped, the n chunks counted dropped) and
 * fails with SABRE_EFULL.  SABRE_ESTATE if a claim is already outstanding.
 */
int sabre_ring_claim(sabre_ring_producer_t *p, uint32_t n, uint64_t timeout_ns,
                     sabre_ring_claim_t *claim);
/* Header of chunk i (0 <= i < claim->count) of a claim (NULL if out of range). */
sabre_chunk_t *sabre_ring_claim_chunk(sabre_ring_producer_t *p, const sabre_ring_claim_t *claim,
                                      uint32_t i);
/* Publish every chunk of the claim (release order) and wake a sleeping
 * consumer.  SABRE_ESTATE without an outstanding claim. */
int sabre_ring_commit(sabre_ring_producer_t *p, sabre_ring_claim_t *claim);
/* Give the claimed chunks up (counted as aborted): the consumer never gets
 * them (cursor lanes: the positions are claimed again; otherwise skipped). */
int sabre_ring_abort(sabre_ring_producer_t *p, sabre_ring_claim_t *claim);

/* ---- the consumer ---------------------------------------------------------- */

/* Register the consumer (SABRE_EBUSY if a live one exists; a dead one's
 * record is taken over and its held chunks released). */
int sabre_ring_consumer_open(sabre_ring_t *ring, sabre_ring_consumer_t **out);
/* Release held chunks, give the record back, free the handle. */
void sabre_ring_consumer_close(sabre_ring_consumer_t *c);

typedef struct sabre_ring_batch {
    uint64_t first;        /* position of the first chunk */
    uint32_t count;        /* >= 1 */
    uint32_t lane;         /* lane the chunks come from (0 for MPSC) */
    uint64_t stride;       /* bytes from one chunk's payload to the next */
    sabre_chunk_t *chunks; /* chunks[0 .. count-1]: the headers */
    uint8_t *data;         /* payload of chunk 0; chunk i's at data + i * stride */
} sabre_ring_batch_t;

/*
 * Take up to `max` committed chunks (1..SABRE_RING_BATCH_MAX) in order from
 * one lane (LANES: the next non-empty lane round-robin) to read in place.
 * A batch stops at the end of the lane's slot array (the next consume
 * continues at its start), so it may hold fewer than are available.
 * Skips abandoned, aborted, padding and overwritten positions.  Chunks of
 * claims with different policy versions may share a batch: read each
 * chunk's with sabre_ring_chunk_header; the lag statistics count each
 * chunk with its own claim's version.  Blocks up to timeout_ns
 * (UINT64_MAX = forever) while empty, reclaiming chunks of dead producers
 * as it waits.  Returns SABRE_OK with count >= 1, SABRE_EAGAIN (timeout 0
 * and nothing available) or SABRE_ETIMEDOUT.  The consumer may hold
 * several batches; release each when done.
 */
int sabre_ring_consume(sabre_ring_consumer_t *c, uint32_t max, uint64_t timeout_ns,
                       sabre_ring_batch_t *batch);
/* Header of chunk i of a batch (NULL if out of range). */
sabre_chunk_t *sabre_ring_batch_chunk(sabre_ring_consumer_t *c, const sabre_ring_batch_t *batch,
                                      uint32_t i);
/* Give a consumed batch's slots back to the producers. */
int sabre_ring_release(sabre_ring_consumer_t *c, const sabre_ring_batch_t *batch);
/* Current policy version, for the lag statistics (lag = current - the
 * policy version of the chunk's claim, taken when the chunk is consumed). */
void sabre_ring_consumer_set_version(sabre_ring_consumer_t *c, uint64_t policy_version);
/*
 * Skip stale chunks: from now on a committed chunk whose policy lag is
 * above max_lag is never handed out; consume skips it (its slot goes back to
 * the producers at once), counts it in stats.lag_skipped and leaves it out
 * of the lag statistics.  A batch ends before a stale chunk that follows
 * fresh ones (the next consume skips it).  UINT64_MAX (the default) turns
 * the limit off; 0 keeps only chunks of the current version.
 */
void sabre_ring_consumer_set_max_lag(sabre_ring_consumer_t *c, uint64_t max_lag);

/* ---- episodes ------------------------------------------------------------- */

/*
 * Per-episode statistics, reported by the actors and read by the trainer,
 * so that no trainer reconstructs episodes from done flags.  Each producer
 * record has its own small SPSC ring of episode records in the ring object
 * (desc.episodes of them; docs/abi.md "Episode lanes").
 */
typedef struct sabre_ring_episode {
    double ret;              /* the episode's return (sum of rewards) */
    uint32_t length;         /* steps */
    uint32_t producer;       /* producer record that reported it */
    uint64_t policy_version; /* the producer's policy version when it reported */
    uint64_t end_ns;         /* CLOCK_MONOTONIC when it was reported */
} sabre_ring_episode_t;

/* Report one finished episode.  Never waits: SABRE_EFULL when the
 * producer's episode records are all unread (counted as
 * episodes_dropped), SABRE_ENOTSUP for a ring made by a 3.0 library. */
int sabre_ring_episode_report(sabre_ring_producer_t *p, double ret, uint32_t length);
/* Take up to max reported episodes (every producer's, oldest first per
 * producer, producers round-robin) into out; *n receives how many (0 when
 * there are none: it never waits).  SABRE_ENOTSUP for a 3.0 ring. */
int sabre_ring_episodes(sabre_ring_consumer_t *c, sabre_ring_episode_t *out, uint32_t max,
                        uint32_t *n);

/* ---- observation ------------------------------------------------------------ */

typedef struct sabre_ring_stats {
    uint32_t shape, policy, capacity, nproducers, nfields, steps, envs;
    uint64_t chunk_stride;
    uint64_t layout_hash;
    uint64_t reclaim_ns;
    /* totals over all producers */
    uint64_t produced;         /* chunks committed */
    uint64_t dropped;          /* chunks refused by DROP_NEWEST / lost to OVERWRITE races */
    uint64_t overwritten;      /* committed chunks taken back by OVERWRITE_OLDEST */
    uint64_t aborted;          /* chunks given up with sabre_ring_abort */
    uint64_t producer_wait_ns; /* time producers spent blocked */
    /* consumer side */
    uint64_t consumed;  /* chunks handed to the consumer */
    uint64_t abandoned; /* chunks of dead producers reclaimed */
    uint64_t consumer_wait_ns;
    uint64_t in_flight;        /* not yet consumed (approx.): committed (cursor lanes),
                                  committed or claimed (MPSC, overwrite) */
    uint64_t held;             /* consumed, not yet released */
    uint64_t lag_min, lag_max; /* policy lag of consumed chunks */
    double lag_avg;
    uint64_t lag_count;
    uint64_t current_version; /* consumer's current policy version */
    int32_t consumer_pid;     /* 0 if none */
    /* ring ABI 3.1 */
    bool consumer_closed; /* the last consumer closed the ring (producers get SABRE_ECLOSED) */
    int32_t closed_pid;   /* the process that closed it */
    uint64_t lag_p50, lag_p90, lag_p99;        /* percentiles of the histogram: the smallest
                                                  bucket bound below which that share of the
                                                  consumed chunks lies (exact up to 7) */
    uint64_t lag_hist[SABRE_RING_LAG_BUCKETS]; /* consumed chunks per lag bucket
                                                  (sabre_ring_lag_bucket_min) */
    uint64_t lag_skipped;                      /* chunks skipped for max_lag */
    uint64_t max_lag;                          /* the consumer's max_lag (UINT64_MAX: none) */
    uint64_t producer_deaths;                  /* producer processes found dead */
    uint64_t episodes;                         /* episodes reported */
    uint64_t episodes_dropped;                 /* episode reports refused (records full) */
    uint32_t episodes_capacity;                /* episode records per producer (0: 3.0 ring) */
} sabre_ring_stats_t;

/* Lowest lag counted in histogram bucket i: buckets 0..7 hold lags 0..7,
 * then [8,16), [16,32), [32,64), [64,128), [128,256) and >= 256.
 * UINT64_MAX for i >= SABRE_RING_LAG_BUCKETS. */
uint64_t sabre_ring_lag_bucket_min(uint32_t i);

typedef struct sabre_ring_producer_info {
    bool active, alive;
    int32_t pid;
    uint64_t heartbeat_ns; /* CLOCK_MONOTONIC of the last open, commit, abort or
                              wait for room (claims do not read the clock) */
    uint64_t produced, dropped, overwritten, aborted, wait_ns;
    uint64_t claim_first; /* current claim (count 0 = none) */
    uint32_t claim_count;
    uint64_t head; /* LANES: end of the committed chunks of its lane (overwrite
                      policy: next position to claim) */
    uint64_t tail; /* LANES: consumer position in its lane */
    /* ring ABI 3.1: who died here */
    uint64_t abandoned;        /* chunks of this record's dead owners reclaimed (MPSC:
                                  those the dead owner's claim covered) */
    uint64_t deaths;           /* owners of this record found dead */
    int32_t dead_pid;          /* the last owner found dead (0: none) */
    uint64_t episodes;         /* episodes reported through this record */
    uint64_t episodes_dropped; /* reports refused: its episode records were full */
} sabre_ring_producer_info_t;

int sabre_ring_stats(const sabre_ring_t *ring, sabre_ring_stats_t *out);
int sabre_ring_producer_at(const sabre_ring_t *ring, uint32_t i, sabre_ring_producer_info_t *out);

#ifdef __cplusplus
}
#endif
#endif
