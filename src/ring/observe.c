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
    return SABRE_OK;
}
