/*
 * consumer.c - the consumer: batches in place, release, empty-ring waits.
 * Byte layout and atomics: docs/abi.md ("Ring object"); protocol: docs/rl.md.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring/ring_internal.h"

/* ---- the consumer ------------------------------------------------------------ */

/* Chunks the consumer (or a dead one) still holds go back to the producers.
 * Held means READING (overwrite policy) or, with the other policies,
 * COMMITTED below the consumer's position in its lane. */
static void release_held(sabre_ring_t *r, const uint64_t *tails)
{
    if (r->cursor) { /* every chunk below the consumer position goes back */
        for (uint32_t l = 0; l < r->g.nlanes; l++)
            atomic_store_explicit(&r->lanes[l].freed, tails[l], memory_order_release);
        atomic_store(&r->h->held, 0);
        return;
    }
    for (uint32_t l = 0; l < r->g.nlanes; l++)
        for (uint64_t i = 0; i < r->cap; i++) {
            _Atomic uint64_t *sp = state_at(r, l, i);
            uint64_t s = atomic_load(sp), to;
            if (st_of(s) == ST_READING)
                to = s & FL_PAD ? mk(pos_of(s) + r->cap, ST_COMMITTED, FL_PAD)
                                : mk(pos_of(s) + r->cap, ST_FREE, 0);
            else if (!r->overwrite && st_of(s) == ST_COMMITTED && pos_of(s) < tails[l])
                to = mk(pos_of(s) + r->cap, ST_FREE, 0);
            else
                continue;
            atomic_compare_exchange_strong(sp, &s, to);
        }
    atomic_store(&r->h->held, 0);
}

int sabre_ring_consumer_open(sabre_ring_t *r, sabre_ring_consumer_t **out)
{
    if (out)
        *out = NULL;
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_consumer_open: NULL argument");
    if (sabre_region_readonly(r->region))
        return sabre__fail(SABRE_EPERM, "ring '%s': region is read-only", r->obj.name);
    rg_hdr *h = r->h;
    uint64_t cur = atomic_load(&h->cons_owner);
    uint64_t self = rl_self_identity();
    bool takeover = false;
    for (;;) {
        if (cur == 0) {
            if (atomic_compare_exchange_strong(&h->cons_owner, &cur, self))
                break;
            continue;
        }
        if (cur != self && !rl_identity_alive(cur)) {
            if (atomic_compare_exchange_strong(&h->cons_owner, &cur, self)) {
                takeover = true;
                break;
            }
            continue;
        }
        return sabre__fail(SABRE_EBUSY, "ring '%s': consumer pid %d is alive", r->obj.name,
                           (int)rl_identity_pid(cur));
    }
    sabre_ring_consumer_t *c = calloc(1, sizeof *c);
    uint64_t *arr = calloc(7 * (size_t)r->g.nlanes, sizeof(uint64_t));
    if (!c || !arr) {
        free(c);
        free(arr);
        uint64_t me = self;
        atomic_compare_exchange_strong(&h->cons_owner, &me, 0);
        return sabre__fail(SABRE_ENOMEM, "ring '%s': out of memory", r->obj.name);
    }
    c->r = r;
    c->self = self;
    c->tail = arr;
    c->stuck_pos = arr + r->g.nlanes;
    c->stuck_since = arr + (size_t)2 * r->g.nlanes;
    c->head = arr + (size_t)3 * r->g.nlanes;
    c->freed = arr + (size_t)4 * r->g.nlanes;
    c->run_end = arr + (size_t)5 * r->g.nlanes;
    c->run_ver = arr + (size_t)6 * r->g.nlanes;
    for (uint32_t l = 0; l < r->g.nlanes; l++) {
        c->tail[l] = atomic_load(&r->lanes[l].tail);
        c->head[l] = c->freed[l] = c->tail[l];
    }
    /* cursor lanes: after a clean close freed == tail already; after a dead
     * consumer its held chunks go back */
    if (takeover || r->cursor)
        release_held(r, c->tail);
    c->lag_max = atomic_load_explicit(&h->lag_max, memory_order_relaxed);
    c->lag_sum = atomic_load_explicit(&h->lag_sum, memory_order_relaxed);
    c->lag_count = atomic_load_explicit(&h->lag_count, memory_order_relaxed);
    c->lag_min = atomic_load_explicit(&h->lag_min, memory_order_relaxed);
    for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++)
        c->hist[b] = atomic_load_explicit(&h->lag_hist[b], memory_order_relaxed);
    c->skipped = atomic_load_explicit(&h->lag_skipped, memory_order_relaxed);
    atomic_store_explicit(&h->lag_limit, 0, memory_order_relaxed); /* no limit until set */
    /* open again for producers (docs/abi.md: cons_closed) */
    atomic_store_explicit(&h->closed_pid, 0, memory_order_relaxed);
    atomic_store_explicit(&h->cons_closed, 0, memory_order_release);
    *out = c;
    return SABRE_OK;
}

void sabre_ring_consumer_close(sabre_ring_consumer_t *c)
{
    if (!c)
        return;
    sabre_ring_t *r = c->r;
    release_held(r, c->tail);
    /* Closed: producers' next claims fail with SABRE_ECLOSED.  The mark is
     * published before the owner is cleared, and sleeping producers are
     * woken whatever prod_waiters says (docs/rl.md "The consumer closes"). */
    atomic_store_explicit(&r->h->closed_pid, (int32_t)getpid(), memory_order_relaxed);
    atomic_store_explicit(&r->h->cons_closed, 1, memory_order_seq_cst);
    atomic_fetch_add(&r->h->release_seq, 1);
    sabre__futex_wake(&r->h->release_seq, INT_MAX);
    uint64_t me = c->self;
    atomic_compare_exchange_strong(&r->h->cons_owner, &me, 0);
    free(c->tail);
    free(c->pend);
    free(c);
}

void sabre_ring_consumer_set_max_lag(sabre_ring_consumer_t *c, uint64_t max_lag)
{
    if (!c)
        return;
    c->lag_limit = max_lag == UINT64_MAX ? 0 : max_lag + 1;
    atomic_store_explicit(&c->r->h->lag_limit, c->lag_limit, memory_order_relaxed);
}

/* Is a chunk of policy version v too old for the consumer's limit? */
static inline bool stale(const sabre_ring_consumer_t *c, uint64_t v)
{
    return c->lag_limit && c->cur_version > v && c->cur_version - v >= c->lag_limit;
}

static void count_skipped(sabre_ring_consumer_t *c, uint64_t n)
{
    c->skipped += n;
    atomic_store_explicit(&c->r->h->lag_skipped, c->skipped, memory_order_relaxed);
}

void sabre_ring_consumer_set_version(sabre_ring_consumer_t *c, uint64_t v)
{
    if (!c)
        return;
    c->cur_version = v;
    atomic_store_explicit(&c->r->h->cur_version, v, memory_order_relaxed);
}

/* Skip a flagged (abandoned/aborted/pad) chunk: hand its slot on. */
static void skip_flagged(sabre_ring_t *r, _Atomic uint64_t *sp, uint64_t s)
{
    atomic_compare_exchange_strong(sp, &s, mk(pos_of(s) + r->cap, ST_FREE, 0));
}

static void note_stuck(sabre_ring_consumer_t *c, uint32_t lane, uint64_t t)
{
    sabre_ring_t *r = c->r;
    uint64_t s = atomic_load(state_at(r, lane, t));
    if (s != mk(t, ST_FREE, 0) || t >= atomic_load(&r->lanes[lane].head)) {
        c->stuck_since[lane] = 0;
        return;
    }
    uint64_t now = sabre__now_ns();
    if (c->stuck_since[lane] == 0 || c->stuck_pos[lane] != t) {
        c->stuck_pos[lane] = t;
        c->stuck_since[lane] = now;
        return;
    }
    if (now - c->stuck_since[lane] < r->g.reclaim_ns)
        return;
    c->stuck_since[lane] = now;
    if (sabre__ring_reclaim(r, lane, t, UINT32_MAX))
        c->stuck_since[lane] = 0;
}

static void publish_take(sabre_ring_consumer_t *c, uint64_t lag_min, uint64_t lag_max,
                         uint64_t lag_sum, uint32_t got)
{
    rg_hdr *h = c->r->h;
    c->lag_min = lag_min;
    c->lag_max = lag_max;
    c->lag_sum = lag_sum;
    c->lag_count += got;
    atomic_store_explicit(&h->lag_min, c->lag_min, memory_order_relaxed);
    atomic_store_explicit(&h->lag_max, c->lag_max, memory_order_relaxed);
    atomic_store_explicit(&h->lag_sum, c->lag_sum, memory_order_relaxed);
    atomic_store_explicit(&h->lag_count, c->lag_count, memory_order_relaxed);
    for (uint32_t d = c->hist_dirty; d; d &= d - 1) {
        unsigned b = (unsigned)__builtin_ctz(d);
        atomic_store_explicit(&h->lag_hist[b], c->hist[b], memory_order_relaxed);
    }
    c->hist_dirty = 0;
    counter_add(&h->consumed, got);
    counter_add(&h->held, got);
}

static void fill_batch(sabre_ring_batch_t *b, const sabre_ring_t *r, uint32_t lane, uint64_t first,
                       uint32_t n)
{
    b->first = first;
    b->count = n;
    b->lane = lane;
    b->stride = r->stride;
    b->chunks = chunk_at(r, lane, first);
    b->data = payload_at(r, lane, first);
}

static int release_cursor(sabre_ring_consumer_t *c, uint32_t lane, uint64_t first, uint64_t end,
                          uint64_t *done);

/* What starts at `pos` of a cursor lane: a claim (true; *end, *ver) or
 * padding (false; it runs to the end of the lane).  Where the previous run
 * ended at pos, pos starts a claim or padding, and the slot record of that
 * first slot says which (one line, no header read); otherwise (after a
 * consumer reopen) the header's claim_rest leads to the record of the
 * claim's last slot.  A record or header that does not fit the lane and
 * `head` reads as a one-chunk claim. */
static bool run_at(sabre_ring_consumer_t *c, uint32_t lane, uint64_t pos, uint64_t hd,
                   uint64_t wrap, uint64_t *end, uint64_t *ver)
{
    sabre_ring_t *r = c->r;
    if (c->run_end[lane] == pos) {
        const rg_meta *m = meta_at(r, lane, pos);
        uint64_t e = m->claim_end;
        if (e & RG_END_PAD)
            return false;
        if (e > pos && e <= hd && e <= wrap) {
            *end = e;
            *ver = m->policy_version;
            return true;
        }
    }
    uint16_t rest = chunk_at(r, lane, pos)->claim_rest;
    if (rest & RG_PAD)
        return false;
    uint64_t e = pos + (rest & RG_REST_MASK) + 1;
    if (e > hd || e > wrap)
        e = pos + 1;
    *end = e;
    *ver = meta_at(r, lane, e - 1)->policy_version;
    return true;
}

/*
 * Cursor lanes: one acquire load of the head per batch (none while the
 * cached head is ahead).  A batch stops at the end of the lane's slots and
 * before padding (skipped, and released, when it is next).  Policy lag: a
 * claim's version is read once, where the consumer meets the claim (see
 * run_at), and counted for all of the claim's chunks in the batch - the
 * same min/avg/max as chunk by chunk.
 */
static bool take_cursor(sabre_ring_consumer_t *c, uint32_t lane, uint32_t max,
                        sabre_ring_batch_t *b)
{
    sabre_ring_t *r = c->r;
    uint64_t t, hd, wrap, e, v;
    for (int pass = 0;; pass++) {
        t = c->tail[lane];
        hd = c->head[lane];
        if (hd <= t) {
            hd = atomic_load_explicit(&r->lanes[lane].head, memory_order_acquire);
            if (hd <= t || hd - t > r->cap) /* empty, or a corrupt head: nothing */
                return false;
            c->head[lane] = hd;
        }
        wrap = t + to_wrap(r, t);
        if (c->run_end[lane] <= t) {
            if (run_at(c, lane, t, hd, wrap, &e, &v)) {
                c->run_end[lane] = e;
                c->run_ver[lane] = v;
            } else {
                e = 0; /* padding */
            }
        }
        if (c->run_end[lane] > t && !stale(c, c->run_ver[lane]))
            break;
        if (c->run_end[lane] > t) {
            /* a stale claim at the front: hand it back unread and count it */
            uint64_t end = c->run_end[lane], done;
            if (release_cursor(c, lane, t, end, &done))
                return false;
            c->tail[lane] = end;
            atomic_store_explicit(&r->lanes[lane].tail, end, memory_order_relaxed);
            count_skipped(c, end - t);
            sabre__ring_wake_producers(r->h);
            pass = -1; /* padding may follow again */
            continue;
        }
        /* padding from t to the lane's end: skip it (a corrupt mark past the
         * head: the chunks up to the head); then look once more */
        uint64_t end = SABRE_MIN(wrap, hd), done;
        if (pass || release_cursor(c, lane, t, end, &done))
            return false;
        c->tail[lane] = end;
        c->run_end[lane] = end; /* a claim or padding starts there */
        atomic_store_explicit(&r->lanes[lane].tail, end, memory_order_relaxed);
    }
    uint64_t lim = SABRE_MIN(SABRE_MIN(hd, wrap), t + max);
    uint64_t cur = c->cur_version, end = lim;
    uint64_t lag_min = c->lag_min, lag_max = c->lag_max, lag_sum = c->lag_sum;
    for (uint64_t pos = t; pos < end;) {
        if (c->run_end[lane] <= pos) {
            if (!run_at(c, lane, pos, hd, wrap, &e, &v)) { /* padding ends the batch */
                end = pos;
                break;
            }
            c->run_end[lane] = e;
            c->run_ver[lane] = v;
        }
        if (pos > t && stale(c, c->run_ver[lane])) { /* the next consume skips it */
            end = pos;
            break;
        }
        uint64_t k = SABRE_MIN(c->run_end[lane], end) - pos;
        uint64_t lag = cur > c->run_ver[lane] ? cur - c->run_ver[lane] : 0;
        unsigned bk = lag_bucket(lag);
        c->hist[bk] += k;
        c->hist_dirty |= 1u << bk;
        lag_min = lag < lag_min ? lag : lag_min;
        lag_max = lag > lag_max ? lag : lag_max;
        lag_sum += lag * k;
        pos += k;
    }
    uint32_t got = (uint32_t)(end - t);
    c->tail[lane] = end;
    atomic_store_explicit(&r->lanes[lane].tail, end, memory_order_relaxed);
    publish_take(c, lag_min, lag_max, lag_sum, got);
    fill_batch(b, r, lane, t, got);
    return true;
}

static bool take(sabre_ring_consumer_t *c, uint32_t lane, uint32_t max, sabre_ring_batch_t *b)
{
    sabre_ring_t *r = c->r;
    if (r->cursor)
        return take_cursor(c, lane, max, b);
    uint64_t t = c->tail[lane], first = t, cur = c->cur_version;
    uint64_t lag_min = c->lag_min, lag_max = c->lag_max, lag_sum = c->lag_sum;
    uint32_t got = 0;
    bool freed = false;
    while (got < max) {
        if (got && (t & r->mask) == 0)
            break; /* a batch stops at the end of the lane's slots */
        _Atomic uint64_t *sp = state_at(r, lane, t);
        uint64_t s = atomic_load_explicit(sp, memory_order_acquire);
        if (s == mk(t, ST_COMMITTED, 0)) {
            /* Overwrite policy: hold it first (READING) so producers leave it
             * alone; only then is its slot record ours to read (a producer may
             * take a COMMITTED slot back and rewrite the record).  Other
             * policies: a COMMITTED chunk below the consumer's position is held. */
            if (r->overwrite && !atomic_compare_exchange_strong(sp, &s, mk(t, ST_READING, 0)))
                continue;
            uint64_t v = meta_at(r, lane, t)->policy_version;
            if (stale(c, v)) {
                if (got) {
                    if (r->overwrite) /* give the hold back: the next consume skips it */
                        atomic_store(sp, mk(t, ST_COMMITTED, 0));
                    break;
                }
                /* hand it back unread (as a release would) and count it */
                uint64_t held = r->overwrite ? mk(t, ST_READING, 0) : s;
                if (atomic_compare_exchange_strong(sp, &held, mk(t + r->cap, ST_FREE, 0))) {
                    count_skipped(c, 1);
                    freed = true;
                    t++;
                }
                continue;
            }
            /* policy lag, in the same pass over the slot records */
            uint64_t lag = cur > v ? cur - v : 0;
            unsigned bk = lag_bucket(lag);
            c->hist[bk]++;
            c->hist_dirty |= 1u << bk;
            lag_min = lag < lag_min ? lag : lag_min;
            lag_max = lag > lag_max ? lag : lag_max;
            lag_sum += lag;
            if (got == 0)
                first = t;
            got++;
            t++;
            continue;
        }
        if (got)
            break;
        if (st_of(s) == ST_COMMITTED && pos_of(s) == t) {
            skip_flagged(r, sp, s);
            freed = true;
            t++;
            continue;
        }
        if (pos_of(s) > t) {
            /* Overwritten.  Only the last `capacity` claimed positions can
             * still exist, so jump to them; never skip past the claim cursor
             * (a corrupt state word must not send the consumer spinning). */
            uint64_t head = atomic_load(&r->lanes[lane].head);
            if (t >= head)
                break;
            t = head - t > r->cap ? head - r->cap : t + 1;
            continue;
        }
        break;
    }
    if (t != c->tail[lane]) {
        c->tail[lane] = t;
        atomic_store_explicit(&r->lanes[lane].tail, t, memory_order_relaxed);
    }
    if (freed)
        sabre__ring_wake_producers(r->h);
    if (!got) {
        note_stuck(c, lane, t);
        return false;
    }
    c->stuck_since[lane] = 0;
    publish_take(c, lag_min, lag_max, lag_sum, got);
    fill_batch(b, r, lane, first, got);
    return true;
}

/* Dead producers are noted (deaths, dead_pid) at most every reclaim_ns / 4
 * (1 to 50 ms): while the consumer waits, and every 64 batches. */
static void look_for_deaths(sabre_ring_consumer_t *c, uint64_t now)
{
    sabre_ring_t *r = c->r;
    if (now < c->next_death_ns)
        return;
    c->next_death_ns = now + SABRE_MIN(SABRE_MAX(r->g.reclaim_ns / 4, 1000000ull), 50000000ull);
    sabre__ring_scan_deaths(r);
}

int sabre_ring_consume(sabre_ring_consumer_t *c, uint32_t max, uint64_t timeout_ns,
                       sabre_ring_batch_t *b)
{
    if (!c || !b)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_consume: NULL argument");
    sabre_ring_t *r = c->r;
    rg_hdr *h = r->h;
    if (max == 0 || max > SABRE_RING_BATCH_MAX)
        return sabre__fail(SABRE_EINVAL, "ring '%s': consume of %u chunks (want 1..%d)",
                           r->obj.name, max, SABRE_RING_BATCH_MAX);
    memset(b, 0, sizeof *b);
    uint32_t nl = r->g.nlanes;
    uint64_t t0 = 0, deadline = 0, now = 0, spin = 0;
    uint32_t polls = 0;
    for (;;) {
        for (uint32_t k = 0; k < nl; k++) {
            uint32_t lane = (c->rr + k) % nl;
            if (take(c, lane, max, b)) {
                c->rr = (lane + 1) % nl;
                if (t0)
                    counter_add(&h->cons_wait_ns, sabre__now_ns() - t0);
                if ((++c->takes & 63) == 0)
                    look_for_deaths(c, sabre__now_ns());
                return SABRE_OK;
            }
        }
        /* While spinning, the clock is read every 8th empty poll only (a read
         * costs 1.5 us on wasm, where it would dominate the poll). */
        if (t0 && (++polls & 31) != 0 && now - t0 < spin) {
            spin_pause();
            continue;
        }
        now = sabre__now_ns();
        look_for_deaths(c, now);
        if (r->cursor && now >= c->next_reap_ns) {
            /* dead producers' claims are invisible; count them now and then */
            c->next_reap_ns =
                now + SABRE_MIN(SABRE_MAX(r->g.reclaim_ns / 4, 1000000ull), 50000000ull);
            sabre__ring_reap_dead_claims(c);
        }
        if (timeout_ns == 0)
            return sabre__fail(SABRE_EAGAIN, "ring '%s': empty", r->obj.name);
        if (t0 == 0) {
            t0 = now;
            deadline = rl_deadline(timeout_ns);
        }
        if (now >= deadline) {
            counter_add(&h->cons_wait_ns, now - t0);
            return sabre__fail(SABRE_ETIMEDOUT, "ring '%s': empty for %s (the timeout)",
                               r->obj.name, sabre__fmt_ns(timeout_ns).s);
        }
        spin = r->spin_idle_ns < r->g.spin_ns ? spin_limit(r, producers_busy(r)) : r->g.spin_ns;
        if (now - t0 < spin) {
            spin_pause();
            continue;
        }
        atomic_exchange(&h->cons_waiting, 1);
        uint32_t seen = atomic_load(&h->commit_seq);
        bool ready = false;
        for (uint32_t l = 0; l < nl && !ready; l++) {
            if (r->cursor) {
                ready = atomic_load(&r->lanes[l].head) > c->tail[l];
                continue;
            }
            uint64_t s = atomic_load(state_at(r, l, c->tail[l]));
            ready = st_of(s) == ST_COMMITTED || pos_of(s) > c->tail[l];
        }
        if (!ready) {
            /* Wake up at least every reclaim_ns / 4 to look for dead producers. */
            uint64_t nap = SABRE_MIN(deadline - now, SABRE_MAX(r->g.reclaim_ns / 4, 1000000ull));
            sabre__futex_wait(&h->commit_seq, seen, SABRE_MIN(nap, 50000000ull));
        }
        atomic_store(&h->cons_waiting, 0);
    }
}

sabre_chunk_t *sabre_ring_batch_chunk(sabre_ring_consumer_t *c, const sabre_ring_batch_t *b,
                                      uint32_t i)
{
    if (!c || !b || i >= b->count || b->lane >= c->r->g.nlanes ||
        b->count > to_wrap(c->r, b->first))
        return NULL;
    return chunk_at(c->r, b->lane, b->first + i);
}

/*
 * Cursor lanes: move the lane's released end.  Batches released out of
 * order wait in c->pend until the ones before them are released.  *done:
 * chunks newly released (0 for a batch released before).
 */
static int release_cursor(sabre_ring_consumer_t *c, uint32_t lane, uint64_t first, uint64_t end,
                          uint64_t *done)
{
    sabre_ring_t *r = c->r;
    uint64_t fr = c->freed[lane];
    *done = 0;
    if (end <= fr || first == end)
        return SABRE_OK;
    if (first > fr) {
        for (uint32_t i = 0; i < c->npend; i++)
            if (c->pend[i].lane == lane && c->pend[i].first == first)
                return SABRE_OK;
        if (c->npend == c->pend_cap) {
            uint32_t ncap = c->pend_cap ? 2 * c->pend_cap : 16;
            rg_pend *np = realloc(c->pend, ncap * sizeof *np);
            if (!np)
                return sabre__fail(SABRE_ENOMEM, "ring '%s': out of memory", r->obj.name);
            c->pend = np;
            c->pend_cap = ncap;
        }
        c->pend[c->npend++] = (rg_pend){.lane = lane, .first = first, .end = end};
        *done = end - first;
        return SABRE_OK;
    }
    *done = end - fr;
    fr = end;
    for (bool more = c->npend > 0; more;) {
        more = false;
        for (uint32_t i = 0; i < c->npend; i++) {
            if (c->pend[i].lane != lane || c->pend[i].first > fr)
                continue;
            fr = SABRE_MAX(fr, c->pend[i].end);
            c->pend[i] = c->pend[c->npend - 1]; /* unordered: swap the last in */
            c->npend--;
            i--;
            more = true;
        }
    }
    c->freed[lane] = fr;
    /* release: our reads of the chunks happen before a producer rewrites them */
    atomic_store_explicit(&r->lanes[lane].freed, fr, memory_order_release);
    return SABRE_OK;
}

int sabre_ring_release(sabre_ring_consumer_t *c, const sabre_ring_batch_t *b)
{
    if (!c || !b)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_release: NULL argument");
    sabre_ring_t *r = c->r;
    if (b->lane >= r->g.nlanes || b->count > SABRE_RING_BATCH_MAX ||
        b->first + b->count > c->tail[b->lane] || b->first + b->count < b->first)
        return sabre__fail(SABRE_EINVAL,
                           "ring '%s': batch %llu+%u of lane %u was not consumed (lane "
                           "position %llu)",
                           r->obj.name, (unsigned long long)b->first, b->count, b->lane,
                           b->lane < r->g.nlanes ? (unsigned long long)c->tail[b->lane] : 0ull);
    uint64_t done = 0;
    if (r->cursor) {
        int rc = release_cursor(c, b->lane, b->first, b->first + b->count, &done);
        if (rc)
            return rc;
    }
    for (uint32_t i = 0; i < b->count && !r->cursor; i++) {
        uint64_t pos = b->first + i;
        _Atomic uint64_t *sp = state_at(r, b->lane, pos);
        if (!r->overwrite) {
            if (atomic_load_explicit(sp, memory_order_relaxed) != mk(pos, ST_COMMITTED, 0))
                continue;
            atomic_store_explicit(sp, mk(pos + r->cap, ST_FREE, 0), memory_order_release);
            done++;
            continue;
        }
        for (;;) {
            uint64_t s = atomic_load(sp);
            uint64_t to;
            if (s == mk(pos, ST_READING, 0))
                to = mk(pos + r->cap, ST_FREE, 0);
            else if (s == mk(pos, ST_READING, FL_PAD))
                to = mk(pos + r->cap, ST_COMMITTED, FL_PAD);
            else
                break;
            if (atomic_compare_exchange_strong(sp, &s, to)) {
                done++;
                break;
            }
        }
    }
    uint64_t held = atomic_load_explicit(&r->h->held, memory_order_relaxed);
    atomic_store_explicit(&r->h->held, held > done ? held - done : 0, memory_order_relaxed);
    sabre__ring_wake_producers(r->h);
    return SABRE_OK;
}

/* ---- episodes --------------------------------------------------------------- */

int sabre_ring_episodes(sabre_ring_consumer_t *c, sabre_ring_episode_t *out, uint32_t max,
                        uint32_t *n)
{
    if (n)
        *n = 0;
    if (!c || !n || (!out && max))
        return sabre__fail(SABRE_EINVAL, "sabre_ring_episodes: NULL argument");
    sabre_ring_t *r = c->r;
    if (!r->eps)
        return sabre__fail(SABRE_ENOTSUP, "ring '%s': made by a ring ABI 3.0 library, no episodes",
                           r->obj.name);
    uint32_t got = 0, np = r->g.nproducers;
    for (uint32_t k = 0; k < np && got < max; k++) {
        uint32_t lane = (c->ep_rr + k) % np;
        rg_eplane *el = eplane_at(r, lane);
        uint64_t tl = atomic_load_explicit(&el->tail, memory_order_relaxed);
        /* acquire: the records before the producer's head */
        uint64_t hd = atomic_load_explicit(&el->head, memory_order_acquire);
        if (hd <= tl)
            continue;
        if (hd - tl > r->ep_cap) /* a corrupt head: drop what cannot be there */
            tl = hd - r->ep_cap;
        for (; tl < hd && got < max; tl++) {
            out[got] = *eprec_at(r, lane, tl);
            out[got].producer = lane;
            got++;
        }
        /* release: our reads of the records before the producer reuses them */
        atomic_store_explicit(&el->tail, tl, memory_order_release);
    }
    c->ep_rr = np ? (c->ep_rr + 1) % np : 0;
    *n = got;
    return SABRE_OK;
}
