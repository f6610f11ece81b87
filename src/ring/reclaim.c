/*
 * reclaim.c - reclaiming chunks of dead producers.
 * Byte layout and atomics: docs/abi.md ("Ring object"); protocol: docs/rl.md.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_internal.h"

/* ---- reclaim --------------------------------------------------------------- */

/* Mark FREE(pos) as abandoned (committed, flagged); true if this call did.
 * `rec`: the producer record it is counted against (UINT32_MAX: none). */
static bool abandon(sabre_ring_t *r, uint32_t lane, uint64_t pos, uint32_t rec)
{
    uint64_t s = mk(pos, ST_FREE, 0);
    if (!atomic_compare_exchange_strong(state_at(r, lane, pos), &s,
                                        mk(pos, ST_COMMITTED, FL_ABANDONED)))
        return false;
    atomic_fetch_add(&r->h->abandoned, 1);
    if (rec < r->g.nproducers)
        atomic_fetch_add(&r->prods[rec].abandoned, 1);
    return true;
}

void sabre__ring_note_death(sabre_ring_t *r, uint32_t k, uint64_t dead)
{
    if (!dead || k >= r->g.nproducers)
        return;
    rg_prod *p = &r->prods[k];
    uint64_t was = atomic_load(&p->dead_owner);
    /* once per owner: whoever swaps the identity in counts the death */
    if (was == dead || !atomic_compare_exchange_strong(&p->dead_owner, &was, dead))
        return;
    atomic_fetch_add(&p->deaths, 1);
    atomic_fetch_add(&r->h->producer_deaths, 1);
}

void sabre__ring_scan_deaths(sabre_ring_t *r)
{
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        uint64_t own = atomic_load(&r->prods[k].owner);
        if (own && own != atomic_load(&r->prods[k].dead_owner) && !rl_identity_alive(own))
            sabre__ring_note_death(r, k, own);
    }
}

/* MPSC: the dead record (or `skip`, the one being taken over) whose claim
 * covers pos (UINT32_MAX if none). */
static uint32_t dead_claimer(sabre_ring_t *r, uint64_t pos, const bool *alive, uint32_t skip)
{
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        if (alive[k] && k != skip) /* skip: a record being taken over */
            continue;
        uint64_t in = atomic_load(&r->prods[k].intent);
        uint64_t first = in >> 9, n = in & 0x1ff;
        if (n && pos >= first && pos < first + n)
            return k;
    }
    return UINT32_MAX;
}

/* Is `pos` covered by the claim of a live producer other than `skip`? */
static bool covered_by_live(sabre_ring_t *r, uint64_t pos, uint32_t skip, const bool *alive)
{
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        if (k == skip || !alive[k])
            continue;
        uint64_t in = atomic_load(&r->prods[k].intent);
        uint64_t first = in >> 9, n = in & 0x1ff;
        if (n && pos >= first && pos < first + n)
            return true;
    }
    return false;
}

/*
 * Reclaim claimed-but-uncommitted chunks from position `from` on whose
 * claimer is dead.  LANES: the lane's producer must be dead (or gone).
 * MPSC: no live producer's claim may cover the position (docs/rl.md).
 * Returns the number of chunks abandoned.
 */
uint64_t sabre__ring_reclaim(sabre_ring_t *r, uint32_t lane, uint64_t from, uint32_t skip)
{
    uint64_t head = atomic_load(&r->lanes[lane].head);
    if (from >= head)
        return 0;
    if (head - from > r->cap)
        from = head - r->cap;
    uint64_t n = 0;
    if (r->g.shape == SABRE_RING_LANES) {
        uint64_t owner = atomic_load(&r->prods[lane].owner);
        if (lane != skip && owner && rl_identity_alive(owner))
            return 0;
        for (uint64_t p = from; p < head; p++)
            n += abandon(r, lane, p, lane);
        if (n && lane != skip)
            sabre__ring_note_death(r, lane, owner);
        return n;
    }
    bool alive[SABRE_RING_MAX_PRODUCERS];
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        uint64_t owner = atomic_load(&r->prods[k].owner);
        alive[k] = owner && rl_identity_alive(owner);
    }
    for (uint64_t p = from; p < head; p++) {
        uint64_t s = atomic_load(state_at(r, 0, p));
        if (s != mk(p, ST_FREE, 0) || covered_by_live(r, p, skip, alive))
            continue;
        n += abandon(r, 0, p, dead_claimer(r, p, alive, skip));
    }
    return n;
}

/*
 * Cursor lanes: a dead producer's claim never moved the lane's head, so the
 * consumer never sees it; it is only counted, from the record's intent.
 * The caller owns the record (a producer that took it over, or the consumer
 * holding it locked under its own identity), so no live producer writes the
 * intent meanwhile.  A claim whose first position is below the head was
 * committed (the head is stored before the intent is cleared).
 */
uint64_t sabre__ring_reap_intent(sabre_ring_t *r, uint32_t lane)
{
    uint64_t in = atomic_exchange(&r->prods[lane].intent, 0);
    uint64_t first = in >> 9, n = in & 0x1ff;
    if (!n || atomic_load(&r->lanes[lane].head) > first)
        return 0;
    atomic_fetch_add(&r->h->abandoned, n);
    atomic_fetch_add(&r->prods[lane].abandoned, n);
    return n;
}

/* Consumer side: count the claims of dead producers of cursor lanes.  The
 * record is locked for the count by CASing its owner from the dead
 * identity to the consumer's (live) one, so a producer taking the record
 * over cannot interleave; the dead identity is put back afterwards. */
void sabre__ring_reap_dead_claims(sabre_ring_consumer_t *c)
{
    sabre_ring_t *r = c->r;
    for (uint32_t l = 0; l < r->g.nlanes; l++) {
        rg_prod *pr = &r->prods[l];
        if (!atomic_load_explicit(&pr->intent, memory_order_relaxed))
            continue;
        uint64_t own = atomic_load(&pr->owner);
        if (own == 0 || own == c->self || rl_identity_alive(own))
            continue; /* free (a clean close clears the intent first), or alive */
        if (!atomic_compare_exchange_strong(&pr->owner, &own, c->self))
            continue;
        sabre__ring_reap_intent(r, l);
        sabre__ring_note_death(r, l, own);
        uint64_t me = c->self;
        atomic_compare_exchange_strong(&pr->owner, &me, own);
    }
}
