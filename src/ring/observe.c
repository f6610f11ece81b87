/*
 * observe.c - observation: stats and states for sabre inspect.
 * Byte layout and atomics: docs/abi.md ("Ring object"); protocol: docs/rl.md.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_internal.h"

/* ---- observation ------------------------------------------------------------- */

uint64_t sabre_ring_lag_bucket_min(uint32_t i)
{
    if (i >= SABRE_RING_LAG_BUCKETS)
        return UINT64_MAX;
    return i < 8 ? i : 1ull << (i - 5);
}

/* The smallest lag L such that at least per/100 of the counted chunks have a
 * lag <= L, from the histogram: exact below 8, else the highest lag of the
 * bucket holding that chunk (its top bound minus one, at most max). */
static uint64_t percentile(const uint64_t *hist, uint64_t total, unsigned per, uint64_t max)
{
    if (!total)
        return 0;
    uint64_t want = (total * per + 99) / 100, seen = 0;
    for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) {
            uint64_t top =
                b + 1 < SABRE_RING_LAG_BUCKETS ? sabre_ring_lag_bucket_min(b + 1) - 1 : UINT64_MAX;
            return SABRE_MIN(top, max);
        }
    }
    return max;
}

int sabre_ring_stats(const sabre_ring_t *r, sabre_ring_stats_t *o)
{
    if (!r || !o)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_stats: NULL argument");
    rg_hdr *h = r->h;
    memset(o, 0, sizeof *o);
    o->shape = r->g.shape;
    o->policy = r->g.policy;
    o->capacity = r->g.capacity;
    o->nproducers = r->g.nproducers;
    o->nfields = r->g.nfields;
    o->steps = r->g.steps;
    o->envs = r->g.envs;
    o->chunk_stride = r->g.chunk_stride;
    o->layout_hash = r->g.layout_hash;
    o->reclaim_ns = r->g.reclaim_ns;
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        rg_prod *p = &r->prods[k];
        o->produced += atomic_load_explicit(&p->produced, memory_order_relaxed);
        o->dropped += atomic_load_explicit(&p->dropped, memory_order_relaxed);
        o->overwritten += atomic_load_explicit(&p->overwritten, memory_order_relaxed);
        o->aborted += atomic_load_explicit(&p->aborted, memory_order_relaxed);
        o->producer_wait_ns += atomic_load_explicit(&p->wait_ns, memory_order_relaxed);
    }
    o->consumed = atomic_load_explicit(&h->consumed, memory_order_relaxed);
    o->abandoned = atomic_load(&h->abandoned);
    o->consumer_wait_ns = atomic_load_explicit(&h->cons_wait_ns, memory_order_relaxed);
    o->held = atomic_load_explicit(&h->held, memory_order_relaxed);
    for (uint32_t l = 0; l < r->g.nlanes; l++) {
        uint64_t hd = atomic_load(&r->lanes[l].head), tl = atomic_load(&r->lanes[l].tail);
        o->in_flight += hd > tl ? hd - tl : 0;
    }
    o->lag_count = atomic_load_explicit(&h->lag_count, memory_order_relaxed);
    o->lag_min = o->lag_count ? atomic_load_explicit(&h->lag_min, memory_order_relaxed) : 0;
    o->lag_max = atomic_load_explicit(&h->lag_max, memory_order_relaxed);
    o->lag_avg = o->lag_count ? (double)atomic_load_explicit(&h->lag_sum, memory_order_relaxed) /
                                    (double)o->lag_count
                              : 0.0;
    o->current_version = atomic_load_explicit(&h->cur_version, memory_order_relaxed);
    uint64_t owner = atomic_load(&h->cons_owner);
    o->consumer_pid = owner ? (int32_t)rl_identity_pid(owner) : 0;
    o->consumer_closed = atomic_load_explicit(&h->cons_closed, memory_order_relaxed) != 0;
    o->closed_pid =
        o->consumer_closed ? atomic_load_explicit(&h->closed_pid, memory_order_relaxed) : 0;
    uint64_t total = 0;
    for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++) {
        o->lag_hist[b] = atomic_load_explicit(&h->lag_hist[b], memory_order_relaxed);
        total += o->lag_hist[b];
    }
    o->lag_p50 = percentile(o->lag_hist, total, 50, o->lag_max);
    o->lag_p90 = percentile(o->lag_hist, total, 90, o->lag_max);
    o->lag_p99 = percentile(o->lag_hist, total, 99, o->lag_max);
    o->lag_skipped = atomic_load_explicit(&h->lag_skipped, memory_order_relaxed);
    uint64_t lim = atomic_load_explicit(&h->lag_limit, memory_order_relaxed);
    o->max_lag = lim ? lim - 1 : UINT64_MAX;
    o->producer_deaths = atomic_load_explicit(&h->producer_deaths, memory_order_relaxed);
    for (uint32_t k = 0; k < r->g.nproducers; k++) {
        o->episodes += atomic_load_explicit(&r->prods[k].episodes, memory_order_relaxed);
        o->episodes_dropped +=
            atomic_load_explicit(&r->prods[k].episodes_dropped, memory_order_relaxed);
    }
    o->episodes_capacity = r->ep_cap;
    return SABRE_OK;
}

int sabre_ring_producer_at(const sabre_ring_t *r, uint32_t i, sabre_ring_producer_info_t *o)
{
    if (!r || !o)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_producer_at: NULL argument");
    if (i >= r->g.nproducers)
        return sabre__fail(SABRE_EINVAL, "ring '%s': producer %u out of range (%u records)",
                           r->obj.name, i, r->g.nproducers);
    rg_prod *p = &r->prods[i];
    memset(o, 0, sizeof *o);
    uint64_t owner = atomic_load(&p->owner);
    o->active = owner != 0;
    o->pid = owner ? (int32_t)rl_identity_pid(owner) : 0;
    o->alive = owner && rl_identity_alive(owner);
    o->heartbeat_ns = atomic_load_explicit(&p->heartbeat_ns, memory_order_relaxed);
    o->produced = atomic_load_explicit(&p->produced, memory_order_relaxed);
    o->dropped = atomic_load_explicit(&p->dropped, memory_order_relaxed);
    o->overwritten = atomic_load_explicit(&p->overwritten, memory_order_relaxed);
    o->aborted = atomic_load_explicit(&p->aborted, memory_order_relaxed);
    o->wait_ns = atomic_load_explicit(&p->wait_ns, memory_order_relaxed);
    uint64_t in = atomic_load(&p->intent);
    o->claim_first = in >> 9;
    o->claim_count = (uint32_t)(in & 0x1ff);
    if (r->g.shape == SABRE_RING_LANES) {
        o->head = atomic_load(&r->lanes[i].head);
        o->tail = atomic_load(&r->lanes[i].tail);
    }
    o->abandoned = atomic_load_explicit(&p->abandoned, memory_order_relaxed);
    o->deaths = atomic_load_explicit(&p->deaths, memory_order_relaxed);
    uint64_t dead = atomic_load_explicit(&p->dead_owner, memory_order_relaxed);
    o->dead_pid = dead ? (int32_t)rl_identity_pid(dead) : 0;
    o->episodes = atomic_load_explicit(&p->episodes, memory_order_relaxed);
    o->episodes_dropped = atomic_load_explicit(&p->episodes_dropped, memory_order_relaxed);
    return SABRE_OK;
}
