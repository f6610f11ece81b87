/*
 * inspect_mpi.c - `sabre inspect` hook for SABRE_OBJ_BRIDGE objects: an MPI
 * bridge's counters (chunks and bytes forwarded, in flight, dropped, credit
 * waits, weights versions sent/applied, clock offset) and, on the trainer,
 * per node: chunks, drops and weights version reported, policy lag and age
 * of its last chunk, silence.  Byte layout: docs/abi.md ("Bridge object");
 * no MPI needed.  Every offset is checked against the object; nothing
 * blocks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "inspect_kinds.h"
#include "mpi/bridge_abi.h"

#define LD(p) (unsigned long long)atomic_load_explicit(&(p), memory_order_relaxed)

int sabre_tool_describe_bridge(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                               bool json)
{
    (void)r;
    const bd_hdr *h = o->ptr;
    if (o->size < sizeof *h || h->magic != BD_MAGIC)
        return sabre__fail(SABRE_ECORRUPT,
                           "bridge '%s': magic is 0x%08x in %llu bytes, want 0x%08x", o->name,
                           o->size >= 4 ? h->magic : 0, (unsigned long long)o->size, BD_MAGIC);
    if (h->abi_major != BD_ABI_MAJOR)
        return sabre__fail(SABRE_EVERSION, "bridge '%s': ABI major is %u, want %u", o->name,
                           h->abi_major, BD_ABI_MAJOR);
    if (h->npeers > 65536 || h->nlanes > 65536 || h->peers_offset < sizeof *h ||
        h->peers_offset > o->size ||
        (uint64_t)h->npeers * sizeof(bd_peer) > o->size - h->peers_offset ||
        h->lanes_offset < sizeof *h || h->lanes_offset > o->size ||
        (uint64_t)h->nlanes * sizeof(bd_lane) > o->size - h->lanes_offset ||
        h->host[sizeof h->host - 1] != 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "bridge '%s': lane or peer table is outside the %llu-byte object",
                           o->name, (unsigned long long)o->size);
    const bd_peer *peers = (const bd_peer *)((const uint8_t *)o->ptr + h->peers_offset);
    bool trainer = h->role == BD_ROLE_TRAINER;
    uint32_t st = atomic_load_explicit(&h->state, memory_order_relaxed);
    const char *state = st == BD_STATE_RUNNING  ? "running"
                        : st == BD_STATE_DONE   ? "done"
                        : st == BD_STATE_FAILED ? "failed"
                                                : "starting";
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (json) {
        fprintf(out,
                "{\"role\": \"%s\", \"state\": \"%s\", \"rank\": %d, \"size\": %d, "
                "\"trainer_rank\": %d, \"host\": \"%s\", \"pid\": %d, \"chunks\": %llu, "
                "\"bytes\": %llu, \"messages\": %llu, \"in_flight\": %llu, \"dropped\": %llu, "
                "\"credit_waits\": %llu, \"left_at_stop\": %llu, \"weights_sent\": %llu, "
                "\"weights_applied\": %llu, \"weights_version\": %llu, "
                "\"clock_offset_ns\": %lld, \"clock_err_ns\": %llu, \"lag_versions_max\": %llu, "
                "\"age_ns_last\": %llu, \"nodes\": [",
                trainer ? "trainer" : "node", state, (int)h->rank, (int)h->size,
                (int)h->trainer_rank, h->host, (int)h->pid, LD(h->chunks), LD(h->bytes),
                LD(h->messages), LD(h->in_flight), LD(h->dropped), LD(h->credit_waits),
                LD(h->left_at_stop), LD(h->weights_sent), LD(h->weights_applied),
                LD(h->weights_version),
                (long long)atomic_load_explicit(&h->clock_offset_ns, memory_order_relaxed),
                LD(h->clock_err_ns), LD(h->lag_versions_max), LD(h->age_ns_last));
    } else {
        fprintf(out, "    bridge (%s) rank %d of %d on %s, pid %d, %s\n",
                trainer ? "trainer" : "node", (int)h->rank, (int)h->size, h->host, (int)h->pid,
                state);
        fprintf(out,
                "    chunks %llu (%llu bytes) in %llu messages, in flight %llu, dropped %llu, "
                "credit waits %llu, left at stop %llu\n",
                LD(h->chunks), LD(h->bytes), LD(h->messages), LD(h->in_flight), LD(h->dropped),
                LD(h->credit_waits), LD(h->left_at_stop));
        if (trainer)
            fprintf(out,
                    "    weights versions sent %llu (latest %llu); max policy lag %llu, age of "
                    "the last chunk %.3f ms\n",
                    LD(h->weights_sent), LD(h->weights_version), LD(h->lag_versions_max),
                    (double)LD(h->age_ns_last) / 1e6);
        else
            fprintf(out,
                    "    weights versions applied %llu (latest %llu); clock offset to the "
                    "trainer %lld ns (+-%llu)\n",
                    LD(h->weights_applied), LD(h->weights_version),
                    (long long)atomic_load_explicit(&h->clock_offset_ns, memory_order_relaxed),
                    LD(h->clock_err_ns));
    }
    bool first = true;
    for (uint32_t i = 0; trainer && i < h->npeers; i++) {
        const bd_peer *p = &peers[i];
        if ((int)i == h->trainer_rank)
            continue;
        uint64_t heard = atomic_load_explicit(&p->last_heard_ns, memory_order_relaxed);
        double silent = heard && now > heard ? (double)(now - heard) / 1e9 : 0.0;
        if (json)
            fprintf(out,
                    "%s{\"rank\": %d, \"lanes\": %u, \"chunks\": %llu, \"bytes\": %llu, "
                    "\"dropped\": %llu, \"weights_version\": %llu, \"lag_versions\": %llu, "
                    "\"age_ns\": %llu, \"silent_s\": %.3f}",
                    first ? "" : ", ", (int)p->rank, p->lanes, LD(p->chunks), LD(p->bytes),
                    LD(p->dropped), LD(p->weights_version), LD(p->lag_versions), LD(p->age_ns),
                    silent);
        else
            fprintf(out,
                    "    node rank %d: %u lanes, chunks %llu, dropped %llu, weights version "
                    "%llu, lag %llu versions, last chunk %.3f ms old, silent %.3f s\n",
                    (int)p->rank, p->lanes, LD(p->chunks), LD(p->dropped), LD(p->weights_version),
                    LD(p->lag_versions), (double)LD(p->age_ns) / 1e6, silent);
        first = false;
    }
    if (json)
        fprintf(out, "]}");
    return SABRE_OK;
}
