/*
 * producer.c - producers: claim, write, commit; padding at the lane end; full policies.
 * Byte layout and atomics: docs/abi.md ("Ring object"); protocol: docs/rl.md.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_internal.h"

/* ---- producers --------------------------------------------------------------- */

int sabre_ring_producer_open(sabre_ring_t *r, sabre_ring_producer_t **out)
{
    if (out)
        *out = NULL;
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_producer_open: NULL argument");
    if (sabre_region_readonly(r->region))
        return sabre__fail(SABRE_EPERM, "ring '%s': region is read-only", r->obj.name);
    sabre_ring_producer_t *p = calloc(1, sizeof *p);
    if (!p)
        return sabre__fail(SABRE_ENOMEM, "ring '%s': out of memory", r->obj.name);
    int found = -1;
    uint64_t prev = 0; /* the dead owner taken over, if any */
    p->self = rl_self_identity();
    for (int pass = 0; pass < 2 && found < 0; pass++) {
        for (uint32_t k = 0; k < r->g.nproducers && found < 0; k++) {
            uint64_t cur = atomic_load(&r->prods[k].owner);
            if (pass == 0 ? cur != 0 : (cur == 0 || cur == p->self || rl_identity_alive(cur)))
                continue;
            if (atomic_compare_exchange_strong(&r->prods[k].owner, &cur, p->self)) {
                found = (int)k;
                prev = cur;
            }
        }
    }
    if (found < 0) {
        free(p);
        return sabre__fail(SABRE_ENOSPC,
                           "ring '%s': all %u producer records belong to live "
                           "producers",
                           r->obj.name, r->g.nproducers);
    }
    p->r = r;
    p->idx = (uint32_t)found;
    p->rec = &r->prods[found];
    /* Chunks a previous (dead) owner claimed and never committed: abandon
     * them now, as the consumer will not once this record's owner is alive
     * again.  After a clean close there are none. */
    uint64_t in = atomic_load(&p->rec->intent);
    if (r->cursor) {
        sabre__ring_reap_intent(r, (uint32_t)found);
        p->head = atomic_load(&r->lanes[found].head);
        p->freed = atomic_load(&r->lanes[found].freed);
    } else if (r->g.shape == SABRE_RING_LANES) {
        uint64_t head = atomic_load(&r->lanes[found].head);
        sabre__ring_reclaim(r, (uint32_t)found, head > r->cap ? head - r->cap : 0, (uint32_t)found);
    } else if (in) {
        sabre__ring_reclaim(r, 0, in >> 9, (uint32_t)found);
    }
    atomic_store(&p->rec->intent, 0);
    sabre__ring_note_death(r, (uint32_t)found, prev);
    atomic_store_explicit(&p->rec->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    *out = p;
    return SABRE_OK;
}

void sabre_ring_producer_close(sabre_ring_producer_t *p)
{
    if (!p)
        return;
    if (p->claimed) /* give the claim up so the consumer does not wait on it */
        sabre_ring_abort(p, &p->cur);
    atomic_store(&p->rec->intent, 0);
    uint64_t me = p->self;
    atomic_compare_exchange_strong(&p->rec->owner, &me, 0);
    free(p);
}

uint32_t sabre_ring_producer_id(const sabre_ring_producer_t *p)
{
    return p ? p->idx : 0;
}

void sabre_ring_producer_set_version(sabre_ring_producer_t *p, uint64_t v)
{
    if (p)
        p->version = v;
}

static bool claimable(const sabre_ring_t *r, uint32_t lane, uint64_t h, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pos = h + i;
        /* seq_cst: also the re-check of a producer about to sleep */
        uint64_t s = atomic_load(state_at(r, lane, pos));
        if (s == mk(pos, ST_FREE, 0))
            continue;
        if (r->overwrite && st_of(s) == ST_COMMITTED && pos_of(s) + r->cap == pos)
            continue;
        return false;
    }
    return true;
}

static void wake_consumer(rg_hdr *h)
{
    if (rl_fenced_load(&h->cons_waiting)) {
        atomic_fetch_add(&h->commit_seq, 1);
        sabre__futex_wake(&h->commit_seq, 1);
    }
}

/* Cursor lanes: is there room for n more chunks?  The released end is
 * reloaded only when the cached one says no.  A released end past the head
 * (a corrupt lane) never makes room. */
static bool cursor_room(sabre_ring_producer_t *p, uint32_t n, memory_order mo)
{
    uint64_t cap = p->r->cap;
    if (p->freed <= p->head && p->head - p->freed <= cap - n)
        return true;
    p->freed = atomic_load_explicit(&p->r->lanes[p->idx].freed, mo);
    return p->freed <= p->head && p->head - p->freed <= cap - n;
}

/* Waiting for room, shared by both claim paths.  A full ring drops (drop
 * and overwrite policies refuse here) or, with BLOCK, spins for spin_ns and
 * then sleeps on release_seq with the producer counted in prod_waiters; the
 * room is re-checked (seq_cst, pairing with the consumer's fence before it
 * reads prod_waiters) after announcing the sleep so no release is missed.
 * Returns SABRE_OK to try the claim again, else the failure (counted). */
typedef struct full_wait {
    uint64_t t0, deadline;
    uint64_t now;   /* the clock's last reading */
    uint64_t spin;  /* the spin limit at that reading */
    uint32_t polls; /* spin iterations: the clock is read every 8th */
} full_wait_t;

typedef bool (*room_fn)(sabre_ring_producer_t *p, uint32_t need, uint32_t lane);

/* A closed ring (SABRE_ECLOSED), or one whose consumer died (SABRE_EPEER;
 * its liveness is read from /proc at most every 10 ms). */
static int consumer_gone(sabre_ring_producer_t *p, uint64_t now)
{
    sabre_ring_t *r = p->r;
    rg_hdr *h = r->h;
    if (atomic_load_explicit(&h->cons_closed, memory_order_acquire))
        return sabre__fail(SABRE_ECLOSED, "ring '%s': the consumer (pid %d) closed the ring",
                           r->obj.name,
                           (int)atomic_load_explicit(&h->closed_pid, memory_order_relaxed));
    if (now < p->next_peer_check)
        return SABRE_OK;
    p->next_peer_check = now + 10000000ull;
    uint64_t own = atomic_load(&h->cons_owner);
    if (own && !rl_identity_alive(own))
        return sabre__fail(SABRE_EPEER, "ring '%s': the consumer (pid %d) died", r->obj.name,
                           (int)rl_identity_pid(own));
    return SABRE_OK;
}

/* n: the chunks the caller asked for (counted dropped on a refusal); need:
 * the room it waits for (n, or the padding before a claim). */
static int wait_for_room(sabre_ring_producer_t *p, uint32_t n, uint32_t need, uint32_t lane,
                         uint64_t timeout_ns, full_wait_t *fw, room_fn room)
{
    sabre_ring_t *r = p->r;
    rg_hdr *h = r->h;
    /* While spinning, the clock is read every 8th poll only (a read costs
     * 1.5 us on wasm, where it would dominate the poll); the closed mark is
     * checked on every poll. */
    if (fw->t0 && (++fw->polls & 31) != 0 && fw->now - fw->t0 < fw->spin) {
        if (atomic_load_explicit(&h->cons_closed, memory_order_relaxed))
            return consumer_gone(p, fw->now);
        spin_pause();
        return SABRE_OK;
    }
    uint64_t now = fw->now = sabre__now_ns();
    int rc = consumer_gone(p, now);
    if (rc)
        return rc;
    if (r->g.policy != SABRE_RING_BLOCK) {
        counter_add(&p->rec->dropped, n);
        return sabre__fail(SABRE_EFULL, "ring '%s': full, %u chunk(s) dropped", r->obj.name, n);
    }
    atomic_store_explicit(&p->rec->heartbeat_ns, now, memory_order_relaxed); /* waiting, alive */
    if (fw->t0 == 0) {
        fw->t0 = now;
        fw->deadline = rl_deadline(timeout_ns);
    }
    if (now >= fw->deadline) {
        counter_add(&p->rec->wait_ns, now - fw->t0);
        return sabre__fail(SABRE_ETIMEDOUT, "ring '%s': full for %s (the timeout)", r->obj.name,
                           sabre__fmt_ns(timeout_ns).s);
    }
    /* the consumer holds chunks: a release is coming */
    fw->spin = r->spin_idle_ns < r->g.spin_ns
                   ? spin_limit(r, atomic_load_explicit(&h->held, memory_order_relaxed) != 0)
                   : r->g.spin_ns;
    if (now - fw->t0 < fw->spin) {
        spin_pause();
        return SABRE_OK;
    }
    atomic_fetch_add(&h->prod_waiters, 1);
    uint32_t seen = atomic_load(&h->release_seq);
    if (!room(p, need, lane)) {
        uint64_t left = fw->deadline == UINT64_MAX ? 10000000ull : fw->deadline - now;
        sabre__futex_wait(&h->release_seq, seen, SABRE_MIN(left, 10000000ull));
    }
    atomic_fetch_sub(&h->prod_waiters, 1);
    return SABRE_OK;
}

/* The time a successful claim waited, counted once it has room. */
static void waited(sabre_ring_producer_t *p, const full_wait_t *fw)
{
    if (fw->t0)
        counter_add(&p->rec->wait_ns, sabre__now_ns() - fw->t0);
}

static bool room_cursor(sabre_ring_producer_t *p, uint32_t need, uint32_t lane)
{
    (void)lane;
    return cursor_room(p, need, memory_order_seq_cst);
}

static bool room_slots(sabre_ring_producer_t *p, uint32_t need, uint32_t lane)
{
    return claimable(p->r, lane, atomic_load(&p->r->lanes[lane].head), need);
}

/* Padding before a claim of n at `pos`: the chunks up to the end of the
 * lane's slot array if the claim would cross it, else 0. */
static inline uint32_t pad_before(const sabre_ring_t *r, uint64_t pos, uint32_t n)
{
    uint64_t w = to_wrap(r, pos);
    return w < n ? (uint32_t)w : 0;
}

static void fill_claim(sabre_ring_claim_t *claim, const sabre_ring_t *r, uint32_t lane,
                       uint64_t first, uint32_t n)
{
    claim->first = first;
    claim->count = n;
    claim->lane = lane;
    claim->stride = r->stride;
    claim->chunks = chunk_at(r, lane, first);
    claim->data = payload_at(r, lane, first);
}

/*
 * The headers of a claim: chunk i gets {seq + i, w - i << 48} (sequence,
 * then valid_steps | producer | claim_rest; claim_rest counts down).  This
 * store per chunk is the producer's only per-chunk cost beyond the payload,
 * so four headers go out per 64-byte vector, compiled for AVX-512, AVX2
 * and the base ISA and picked at open (measured in one process against one
 * 16-byte store per chunk: 64-byte-record lanes went from 60-80% to 85-100%
 * of the bare loop).  Runtime dispatch rather than an ifunc: resolvers run
 * before the sanitizer runtimes are set up.
 */
static inline __attribute__((always_inline)) void fill_headers_body(sabre_chunk_t *hc, uint32_t n,
                                                                    uint64_t seq, uint64_t w)
{
    const uint64_t d = 1ull << 48;
    rg_v8 x = {seq, w, seq + 1, w - d, seq + 2, w - 2 * d, seq + 3, w - 3 * d};
    const rg_v8 step = {4, 0 - 4 * d, 4, 0 - 4 * d, 4, 0 - 4 * d, 4, 0 - 4 * d};
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4, x += step)
        memcpy(&hc[i], &x, 64);
    for (; i < n; i++) {
        rg_v2 y = {seq + i, w - i * d};
        memcpy(&hc[i], &y, 16);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void fill_headers_avx512(sabre_chunk_t *hc, uint32_t n,
                                                                   uint64_t seq, uint64_t w)
{
    fill_headers_body(hc, n, seq, w);
}
__attribute__((target("avx2"))) static void fill_headers_avx2(sabre_chunk_t *hc, uint32_t n,
                                                              uint64_t seq, uint64_t w)
{
    fill_headers_body(hc, n, seq, w);
}
#endif
static void fill_headers_base(sabre_chunk_t *hc, uint32_t n, uint64_t seq, uint64_t w)
{
    fill_headers_body(hc, n, seq, w);
}

rg_fill_fn sabre__ring_pick_fill_headers(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return fill_headers_avx512;
    if (__builtin_cpu_supports("avx2"))
        return fill_headers_avx2;
#endif
    return fill_headers_base;
}

/* Cursor lanes: the claim touches no shared word but the producer's own
 * intent (and the head, to publish padding); the chunks become visible
 * only when commit moves the head. */
static int claim_cursor(sabre_ring_producer_t *p, uint32_t n, uint64_t timeout_ns,
                        sabre_ring_claim_t *claim)
{
    sabre_ring_t *r = p->r;
    full_wait_t fw = {0, 0, 0, 0, 0};
    uint32_t skip = pad_before(r, p->head, n);
    if (skip) {
        /* Padding: one header marks it; the consumer skips to the lane start. */
        while (!cursor_room(p, skip, memory_order_acquire)) {
            int rc = wait_for_room(p, n, skip, p->idx, timeout_ns, &fw, room_cursor);
            if (rc)
                return rc;
        }
        sabre_chunk_t *pc = chunk_at(r, p->idx, p->head);
        pc->sequence = 0;
        pc->valid_steps = 0;
        pc->producer = (uint16_t)p->idx;
        pc->claim_rest = (uint16_t)(RG_PAD | (skip - 1));
        rg_meta *pm = meta_at(r, p->idx, p->head);
        pm->policy_version = 0;
        pm->claim_end = RG_END_PAD | (p->head + skip);
        p->head += skip;
        /* release: the padding header before the head */
        atomic_store_explicit(&r->lanes[p->idx].head, p->head, memory_order_release);
        wake_consumer(r->h); /* it skips the padding and so makes room */
    }
    /* acquire: the consumer's reads of the released slots happen before our writes */
    while (!cursor_room(p, n, memory_order_acquire)) {
        int rc = wait_for_room(p, n, n, p->idx, timeout_ns, &fw, room_cursor);
        if (rc)
            return rc;
    }
    waited(p, &fw);
    uint64_t hd = p->head, end = hd + n;
    atomic_store_explicit(&p->rec->intent, intent_of(hd, n), memory_order_relaxed);
    memset(claim, 0, sizeof *claim);
    fill_claim(claim, r, p->idx, hd, n);
    uint64_t seq = atomic_load_explicit(&p->rec->seq_next, memory_order_relaxed);
    r->fill_headers(claim->chunks, n, seq,
                    (uint64_t)r->g.steps | (uint64_t)p->idx << 32 | (uint64_t)(n - 1) << 48);
    /* the claim's facts, once, in the slot records of its first chunk (read
     * by the consumer as it meets the claim) and its last chunk (stable while
     * the consumer holds any chunk of the claim: the accessor's) */
    rg_meta *m = meta_at(r, p->idx, end - 1), *m0 = meta_at(r, p->idx, hd);
    m->policy_version = m0->policy_version = p->version;
    m->commit_ns = 0;
    m->claim_end = m0->claim_end = end;
    atomic_store_explicit(&p->rec->seq_next, seq + n, memory_order_relaxed);
    p->claimed = true;
    p->cur = *claim;
    return SABRE_OK;
}

/* MPSC / overwrite: take slot `pos` of a reserved claim.  Overwrite policy:
 * take back the previous lap's committed chunk (counted overwritten).
 * False if the consumer took that chunk after the claim's check (it is
 * marked PAD, so its release hands the slot on as padding). */
static bool take_slot(sabre_ring_producer_t *p, uint32_t lane, uint64_t pos)
{
    sabre_ring_t *r = p->r;
    if (!r->overwrite)
        return true; /* claimable() saw FREE(pos), and only this claim owns pos */
    _Atomic uint64_t *sp = state_at(r, lane, pos);
    for (;;) {
        uint64_t s = atomic_load(sp);
        if (s == mk(pos, ST_FREE, 0))
            return true;
        if (st_of(s) == ST_COMMITTED && pos_of(s) + r->cap == pos) {
            if (atomic_compare_exchange_strong(sp, &s, mk(pos, ST_FREE, 0))) {
                if (!(s & FLAGS_MASK))
                    counter_add(&p->rec->overwritten, 1);
                return true;
            }
            continue;
        }
        if (st_of(s) == ST_READING && pos_of(s) + r->cap == pos && !(s & FL_PAD)) {
            if (atomic_compare_exchange_strong(sp, &s, s | FL_PAD))
                return false;
            continue;
        }
        return false; /* only after a dead producer's reclaim: the consumer reclaims it */
    }
}

/* Reserved positions [first, first + n) that will carry no data: taken and
 * committed as padding (the consumer skips them), the claim cleared. */
static void pad_slots(sabre_ring_producer_t *p, uint32_t lane, uint64_t first, uint32_t n,
                      bool taken)
{
    sabre_ring_t *r = p->r;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pos = first + i, s = mk(pos, ST_FREE, 0);
        if (taken || take_slot(p, lane, pos))
            atomic_compare_exchange_strong(state_at(r, lane, pos), &s,
                                           mk(pos, ST_COMMITTED, FL_PAD));
    }
    atomic_store(&p->rec->intent, 0);
    wake_consumer(r->h);
}

int sabre_ring_claim(sabre_ring_producer_t *p, uint32_t n, uint64_t timeout_ns,
                     sabre_ring_claim_t *claim)
{
    if (!p || !claim)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_claim: NULL argument");
    sabre_ring_t *r = p->r;
    if (n == 0 || n > SABRE_RING_BATCH_MAX || n > r->cap)
        return sabre__fail(SABRE_EINVAL, "ring '%s': claim of %u chunks (want 1..%llu)",
                           r->obj.name, n,
                           (unsigned long long)SABRE_MIN((uint64_t)SABRE_RING_BATCH_MAX, r->cap));
    if (p->claimed)
        return sabre__fail(SABRE_ESTATE, "ring '%s': producer %u already has a claim", r->obj.name,
                           p->idx);
    if (atomic_load_explicit(&r->h->cons_closed, memory_order_relaxed))
        return consumer_gone(p, 0);
    if (r->cursor)
        return claim_cursor(p, n, timeout_ns, claim);
    bool lanes = r->g.shape == SABRE_RING_LANES;
    uint32_t lane = lanes ? p->idx : 0;
    _Atomic uint64_t *headp = &r->lanes[lane].head;
    uint64_t hd;
    full_wait_t fw = {0, 0, 0, 0, 0};
    for (;;) {
        hd = atomic_load(headp);
        uint32_t skip = pad_before(r, hd, n), need = skip ? skip : n;
        if (claimable(r, lane, hd, need)) {
            atomic_store(&p->rec->intent, intent_of(hd, need));
            if (lanes)
                atomic_store_explicit(headp, hd + need, memory_order_release);
            else if (!atomic_compare_exchange_strong(headp, &hd, hd + need))
                continue;
            if (!skip)
                break;
            pad_slots(p, lane, hd, skip, false); /* then claim at the lane start */
            continue;
        }
        int rc = wait_for_room(p, n, need, lane, timeout_ns, &fw, room_slots);
        if (rc)
            return rc;
    }
    waited(p, &fw);
    bool lost = false;
    for (uint32_t i = 0; i < n; i++)
        lost |= !take_slot(p, lane, hd + i);
    if (lost) {
        /* The consumer holds one of the slots: give the whole claim up. */
        for (uint32_t i = 0; i < n; i++) {
            uint64_t pos = hd + i, s = mk(pos, ST_FREE, 0);
            atomic_compare_exchange_strong(state_at(r, lane, pos), &s,
                                           mk(pos, ST_COMMITTED, FL_PAD));
        }
        atomic_store(&p->rec->intent, 0);
        counter_add(&p->rec->dropped, n);
        wake_consumer(r->h);
        return sabre__fail(SABRE_EFULL,
                           "ring '%s': the consumer took a slot of the claim, %u chunk(s) "
                           "dropped",
                           r->obj.name, n);
    }
    memset(claim, 0, sizeof *claim);
    fill_claim(claim, r, lane, hd, n);
    uint64_t seq = atomic_load_explicit(&p->rec->seq_next, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        sabre_chunk_t *c = &claim->chunks[i];
        rg_meta *m = meta_at(r, lane, hd + i);
        c->sequence = seq++;
        c->valid_steps = r->g.steps;
        c->producer = (uint16_t)p->idx;
        c->claim_rest = (uint16_t)(n - 1 - i);
        m->policy_version = p->version;
        m->commit_ns = 0;
        m->claim_end = 0;
    }
    atomic_store_explicit(&p->rec->seq_next, seq, memory_order_relaxed);
    p->claimed = true;
    p->cur = *claim;
    return SABRE_OK;
}

sabre_chunk_t *sabre_ring_claim_chunk(sabre_ring_producer_t *p, const sabre_ring_claim_t *c,
                                      uint32_t i)
{
    if (!p || !c || i >= p->cur.count || c->first != p->cur.first || c->lane != p->cur.lane)
        return NULL;
    return &p->cur.chunks[i];
}

/* Commit or abort the handle's own copy of the claim (the caller's struct is
 * only checked to be the same claim, never trusted for positions). */
static int finish(sabre_ring_producer_t *p, sabre_ring_claim_t *uc, bool commit, bool stamped)
{
    if (!p || !uc)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_commit: NULL argument");
    sabre_ring_t *r = p->r;
    if (!p->claimed)
        return sabre__fail(SABRE_ESTATE, "ring '%s': producer %u has no claim", r->obj.name,
                           p->idx);
    if (uc->first != p->cur.first || uc->count != p->cur.count)
        return sabre__fail(SABRE_EINVAL,
                           "ring '%s': producer %u: claim %llu+%u is not the "
                           "outstanding one",
                           r->obj.name, p->idx, (unsigned long long)uc->first, uc->count);
    const sabre_ring_claim_t *c = &p->cur;
    uint64_t now = sabre__now_ns();
    if (r->cursor) {
        if (commit) {
            if (!stamped)
                meta_at(r, c->lane, c->first + c->count - 1)->commit_ns = now;
            counter_add(&p->rec->produced, c->count);
            /* release: payload, headers and record before the head; the intent
             * is cleared after it, so a claim below the head reads as committed */
            p->head = c->first + c->count;
            atomic_store_explicit(&r->lanes[c->lane].head, p->head, memory_order_release);
        } else {
            counter_add(&p->rec->aborted, c->count); /* never visible: the head stays */
        }
        atomic_store_explicit(&p->rec->intent, 0, memory_order_relaxed);
        atomic_store_explicit(&p->rec->heartbeat_ns, now, memory_order_relaxed);
        p->claimed = false;
        if (commit)
            wake_consumer(r->h);
        return SABRE_OK;
    }
    for (uint32_t i = 0; i < c->count; i++) {
        uint64_t pos = c->first + i;
        if (commit && !stamped)
            meta_at(r, c->lane, pos)->commit_ns = now;
        atomic_store_explicit(state_at(r, c->lane, pos), mk(pos, ST_COMMITTED, commit ? 0 : FL_PAD),
                              memory_order_release);
    }
    counter_add(commit ? &p->rec->produced : &p->rec->aborted, c->count);
    atomic_store_explicit(&p->rec->intent, 0, memory_order_relaxed);
    atomic_store_explicit(&p->rec->heartbeat_ns, now, memory_order_relaxed);
    p->claimed = false;
    wake_consumer(r->h);
    return SABRE_OK;
}

int sabre_ring_commit(sabre_ring_producer_t *p, sabre_ring_claim_t *c)
{
    return finish(p, c, true, false);
}
int sabre_ring_abort(sabre_ring_producer_t *p, sabre_ring_claim_t *c)
{
    return finish(p, c, false, false);
}

/* ---- commit as runs (bridges) ---------------------------------------------------- */

/* Each run is written exactly as a claim of its own would have been (chunk
 * headers' claim_rest, the slot records of its first and last chunks in
 * cursor lanes, every chunk's otherwise), then the whole claim is
 * published at once: the consumer meets the runs as consecutive claims. */
int sabre_ring_commit_runs(sabre_ring_producer_t *p, sabre_ring_claim_t *uc,
                           const sabre_ring_run_t *runs, uint32_t nruns)
{
    if (!p || !uc || (!runs && nruns))
        return sabre__fail(SABRE_EINVAL, "sabre_ring_commit_runs: NULL argument");
    sabre_ring_t *r = p->r;
    if (!p->claimed)
        return sabre__fail(SABRE_ESTATE, "ring '%s': producer %u has no claim", r->obj.name,
                           p->idx);
    const sabre_ring_claim_t *c = &p->cur;
    uint64_t total = 0;
    for (uint32_t k = 0; k < nruns; k++) {
        if (runs[k].count == 0)
            return sabre__fail(SABRE_EINVAL, "ring '%s': run %u of a commit is empty", r->obj.name,
                               k);
        total += runs[k].count;
    }
    if (total != c->count || uc->first != c->first || uc->count != c->count)
        return sabre__fail(SABRE_EINVAL,
                           "ring '%s': producer %u: runs cover %llu chunks, want the %u of "
                           "the outstanding claim",
                           r->obj.name, p->idx, (unsigned long long)total, c->count);
    uint64_t now = sabre__now_ns(), pos = c->first;
    for (uint32_t k = 0; k < nruns; k++) {
        uint64_t end = pos + runs[k].count;
        uint64_t at = runs[k].commit_ns ? runs[k].commit_ns : now;
        for (uint64_t q = pos; q < end; q++) {
            chunk_at(r, c->lane, q)->claim_rest = (uint16_t)(end - 1 - q);
            if (!r->cursor) {
                rg_meta *m = meta_at(r, c->lane, q);
                m->policy_version = runs[k].policy_version;
                m->commit_ns = at;
            }
        }
        if (r->cursor) {
            rg_meta *m0 = meta_at(r, c->lane, pos), *m = meta_at(r, c->lane, end - 1);
            m->policy_version = m0->policy_version = runs[k].policy_version;
            m->claim_end = m0->claim_end = end;
            m->commit_ns = at;
        }
        pos = end;
    }
    return finish(p, uc, true, true);
}

uint32_t sabre_ring_producer_room(sabre_ring_producer_t *p)
{
    if (!p || !p->r->cursor)
        return 0;
    p->freed = atomic_load_explicit(&p->r->lanes[p->idx].freed, memory_order_acquire);
    if (p->freed > p->head || p->head - p->freed > p->r->cap)
        return 0;
    return (uint32_t)(p->r->cap - (p->head - p->freed));
}

/* ---- episodes --------------------------------------------------------------- */

int sabre_ring_episode_report(sabre_ring_producer_t *p, double ret, uint32_t length)
{
    if (!p)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_episode_report: NULL argument");
    sabre_ring_t *r = p->r;
    if (!r->eps)
        return sabre__fail(SABRE_ENOTSUP, "ring '%s': made by a ring ABI 3.0 library, no episodes",
                           r->obj.name);
    rg_eplane *el = eplane_at(r, p->idx);
    uint64_t hd = atomic_load_explicit(&el->head, memory_order_relaxed);
    /* acquire: the consumer's reads of a record happen before we reuse it */
    uint64_t tl = atomic_load_explicit(&el->tail, memory_order_acquire);
    if (hd - tl >= r->ep_cap || tl > hd) {
        counter_add(&p->rec->episodes_dropped, 1);
        return sabre__fail(SABRE_EFULL, "ring '%s': producer %u: %u episode records unread",
                           r->obj.name, p->idx, r->ep_cap);
    }
    sabre_ring_episode_t *e = eprec_at(r, p->idx, hd);
    e->ret = ret;
    e->length = length;
    e->producer = p->idx;
    e->policy_version = p->version;
    e->end_ns = sabre__now_ns();
    /* release: the record before the head */
    atomic_store_explicit(&el->head, hd + 1, memory_order_release);
    counter_add(&p->rec->episodes, 1);
    return SABRE_OK;
}
