/*
 * ring_internal.h - ring handles and what the ring layer's files share (not
 * public API).
 */
#ifndef SABRE_RING_INTERNAL_H
#define SABRE_RING_INTERNAL_H

#include <limits.h>

#include "core/internal.h"
#include "core/rl_internal.h"
#include "ring/ring_abi.h"

typedef uint64_t rg_v2 __attribute__((vector_size(16)));
typedef uint64_t rg_v8 __attribute__((vector_size(64)));
typedef void (*rg_fill_fn)(sabre_chunk_t *hc, uint32_t n, uint64_t seq, uint64_t w);
rg_fill_fn sabre__ring_pick_fill_headers(void);

/* Geometry and field table copied from the header once validated: a hostile
 * process that rewrites the header later cannot make this handle read out of
 * bounds. */
typedef struct rg_geo {
    uint32_t shape, policy, capacity, nproducers, nlanes, nfields, steps, envs;
    uint64_t chunk_stride, layout_hash, reclaim_ns, spin_ns;
} rg_geo;

struct sabre_ring {
    sabre_region_t *region;
    sabre_object_t obj;
    rg_hdr *h;
    rg_geo g;
    rg_field fields[SABRE_RING_MAX_FIELDS];
    rg_lane *lanes;
    rg_prod *prods;
    sabre_chunk_t *hdrs; /* [nlanes * capacity] */
    rg_meta *meta;       /* [nlanes * capacity] */
    uint8_t *pay;        /* [nlanes * capacity] payloads of `stride` bytes */
    uint64_t nslots;     /* nlanes * capacity */
    unsigned cap_shift;  /* log2(capacity) */
    uint64_t mask;
    uint64_t cap;
    uint64_t stride;
    rg_fill_fn fill_headers; /* the claim headers' writer for this CPU */
    uint64_t spin_idle_ns;   /* spin while the peer shows no activity: spin_ns, capped by
                                the platform (wasm: see spin_limit below) */
    bool overwrite;
    bool cursor;     /* LANES with DROP_NEWEST or BLOCK: the cursor-only lane protocol */
    uint8_t *eps;    /* 3.1: episode lanes (NULL in a 3.0 ring) */
    uint32_t ep_cap; /* records per lane */
};

struct sabre_ring_producer {
    sabre_ring_t *r;
    rg_prod *rec;
    uint64_t self; /* identity of the owning process */
    uint32_t idx;
    uint64_t version;
    uint64_t head;  /* cursor lanes: the lane's committed end (this handle is its only writer) */
    uint64_t freed; /* cursor lanes: last seen released end */
    bool claimed;
    sabre_ring_claim_t cur;   /* the outstanding claim */
    uint64_t next_peer_check; /* when a full ring next looks at the consumer's liveness */
};

/* A batch of a cursor lane released before the batches ahead of it. */
typedef struct rg_pend {
    uint32_t lane;
    uint64_t first, end;
} rg_pend;

struct sabre_ring_consumer {
    sabre_ring_t *r;
    uint64_t self;
    uint32_t rr;
    uint64_t *tail;        /* per lane */
    uint64_t *stuck_pos;   /* per lane */
    uint64_t *stuck_since; /* per lane, 0 = not stuck */
    /* cursor lanes, per lane: */
    uint64_t *head;    /* last seen committed end */
    uint64_t *freed;   /* released end */
    uint64_t *run_end; /* end of the claim whose version is run_ver */
    uint64_t *run_ver;
    rg_pend *pend; /* batches released out of order, not yet contiguous with freed */
    uint32_t npend, pend_cap;
    uint64_t next_reap_ns;
    uint64_t cur_version;
    uint64_t lag_min, lag_max, lag_sum, lag_count;
    uint64_t hist[SABRE_RING_LAG_BUCKETS];
    uint32_t hist_dirty; /* buckets changed by the batch being taken */
    uint64_t lag_limit;  /* max lag + 1, 0 = none */
    uint64_t skipped;
    uint32_t takes;         /* batches taken, for the death scan's cadence */
    uint64_t next_death_ns; /* when the consumer next looks for dead producers */
    uint32_t ep_rr;         /* episode lane to read first */
};

/* Histogram bucket of a policy lag (sabre_ring_lag_bucket_min). */
static inline unsigned lag_bucket(uint64_t lag)
{
    if (lag < 8)
        return (unsigned)lag;
    unsigned b = 63u - (unsigned)__builtin_clzll(lag) + 5u; /* 8..15 -> 8 */
    return b < SABRE_RING_LAG_BUCKETS ? b : SABRE_RING_LAG_BUCKETS - 1;
}

/* Episode lane k and its records. */
static inline rg_eplane *eplane_at(const sabre_ring_t *r, uint32_t k)
{
    return (rg_eplane *)(r->eps + (uint64_t)k * (sizeof(rg_eplane) + 32ull * r->ep_cap));
}
static inline sabre_ring_episode_t *eprec_at(const sabre_ring_t *r, uint32_t k, uint64_t i)
{
    return (sabre_ring_episode_t *)((uint8_t *)eplane_at(r, k) + sizeof(rg_eplane)) +
           (i & (r->ep_cap - 1));
}

/* Index of (lane, pos) in the headers / records / payloads arrays. */
static inline uint64_t slot_of(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return ((uint64_t)lane << r->cap_shift) + (pos & r->mask);
}
static inline sabre_chunk_t *chunk_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->hdrs + slot_of(r, lane, pos);
}
static inline rg_meta *meta_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->meta + slot_of(r, lane, pos);
}
static inline _Atomic uint64_t *state_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return &r->meta[slot_of(r, lane, pos)].state;
}
static inline uint8_t *payload_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->pay + slot_of(r, lane, pos) * r->stride;
}
/* Chunks from `pos` to the end of its lane's slot array. */
static inline uint64_t to_wrap(const sabre_ring_t *r, uint64_t pos)
{
    return r->cap - (pos & r->mask);
}

static inline uint64_t intent_of(uint64_t first, uint32_t n)
{
    return (first << 9) | n;
}

/* Before a futex sleep, a waiter yields the CPU in a loop for spin_ns: on an
 * oversubscribed host the peer it waits for may share its core, and a
 * pause-spin would burn the peer's time slice (measured: bench_ring runs
 * 1.6x faster on a shared core with an immediate yield than after 2 us of
 * pausing, and no slower on separate cores). */
static inline void spin_pause(void)
{
    sabre__plat_yield();
}

/* How long a waiter spins before it sleeps on the futex.  spin_ns where the
 * platform can hand the core over while spinning (Linux).  Where it cannot
 * (wasm), spinning pays only while the peer is running: the waiter spins
 * the full spin_ns while the peer is visibly in the middle of the operation
 * that ends the wait (`peer_busy`: a producer holds a claim, the consumer
 * holds chunks), and the platform's short cap otherwise, then sleeps. */
static inline uint64_t spin_limit(const sabre_ring_t *r, bool peer_busy)
{
    return peer_busy ? r->g.spin_ns : r->spin_idle_ns;
}

/* A producer holds a claim (a commit is coming). */
static inline bool producers_busy(const sabre_ring_t *r)
{
    for (uint32_t k = 0; k < r->g.nproducers; k++)
        if (atomic_load_explicit(&r->prods[k].intent, memory_order_relaxed))
            return true;
    return false;
}

static inline void counter_add(_Atomic uint64_t *c, uint64_t n)
{
    /* Single writer: a relaxed load + store is enough and cheaper than an RMW. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Shared between this layer's files. */
uint64_t sabre__ring_reclaim(sabre_ring_t *r, uint32_t lane, uint64_t from, uint32_t skip);
void sabre__ring_reap_dead_claims(sabre_ring_consumer_t *c);
uint64_t sabre__ring_reap_intent(sabre_ring_t *r, uint32_t lane);
/* Record that the owner `dead` of record k was found dead (once per owner). */
void sabre__ring_note_death(sabre_ring_t *r, uint32_t k, uint64_t dead);
/* Look at every producer record's owner; note the dead ones. */
void sabre__ring_scan_deaths(sabre_ring_t *r);

/* Wake producers blocked on a full ring, if any sleep (the "publish, then
 * look for sleepers" rule of rl_fenced_load). */
static inline void sabre__ring_wake_producers(rg_hdr *h)
{
    if (rl_fenced_load(&h->prod_waiters)) {
        atomic_fetch_add(&h->release_seq, 1);
        sabre__futex_wake(&h->release_seq, INT_MAX);
    }
}

#endif
