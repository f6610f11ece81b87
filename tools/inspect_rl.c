/*
 * inspect_rl.c - `sabre inspect` describers for weights and ring objects
 * (contract in inspect_kinds.h).  They open the object read-only through
 * the public API, which validates every header field against the object
 * size first, then print its live state: versions, pins and reader lag;
 * cursors, counters, policy lag and producers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "inspect_kinds.h"
#include "sabre/ring.h"
#include "sabre/weights.h"

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static double ago_s(uint64_t mono_ns)
{
    uint64_t now = sabre__now_ns();
    return mono_ns && now > mono_ns ? (double)(now - mono_ns) / 1e9 : 0.0;
}

int sabre_tool_describe_weights(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                bool json)
{
    if (!r || !o || !out)
        return sabre__fail(SABRE_EINVAL, "describe_weights: NULL argument");
    sabre_weights_t *w = NULL;
    /* open only reads (validation); the region stays untouched */
    int rc = sabre_weights_open((sabre_region_t *)r, o->name, NULL, &w);
    if (rc)
        return rc;
    sabre_weights_info_t in;
    rc = sabre_weights_info(w, &in);
    if (rc) {
        sabre_weights_close(w);
        return rc;
    }
    if (json) {
        fprintf(out,
                "{\"version\":%" PRIu64 ",\"step_counter\":%" PRIu64 ",\"active_slot\":%u,"
                "\"slots\":%u,\"buffer_size\":%" PRIu64 ",\"shape_hash\":%u,\"f32\":%s,"
                "\"publisher_pid\":%d,\"publisher_alive\":%s,\"publishes\":%" PRIu64
                ",\"publish_waits\":%" PRIu64 ",\"publish_wait_ns\":%" PRIu64 ",\"busy\":%" PRIu64
                ",\"dead_pins_ignored\":%" PRIu64 ",\"reader_records\":%u,\"readers\":[",
                in.version, in.step_counter, in.active_slot, in.nslots, in.size, in.shape_hash,
                (in.flags & SABRE_WEIGHTS_F32) ? "true" : "false", in.publisher_pid,
                in.publisher_alive ? "true" : "false", in.publishes, in.publish_waits,
                in.publish_wait_ns, in.busy, in.dead_pins_ignored, in.nreaders);
    } else {
        fprintf(out,
                "    version %" PRIu64 " in slot %u of %u, step %" PRIu64 ", shape 0x%08x, "
                "%" PRIu64 " bytes per buffer%s\n",
                in.version, in.active_slot, in.nslots, in.step_counter, in.shape_hash, in.size,
                (in.flags & SABRE_WEIGHTS_F32) ? " (f32)" : "");
        fprintf(out,
                "    publisher pid %d%s: %" PRIu64 " publishes, %" PRIu64 " waited (%.3f ms), "
                "%" PRIu64 " busy, %" PRIu64 " dead pins ignored\n",
                in.publisher_pid, in.publisher_pid && !in.publisher_alive ? " (dead)" : "",
                in.publishes, in.publish_waits, (double)in.publish_wait_ns / 1e6, in.busy,
                in.dead_pins_ignored);
        fprintf(out, "    readers: %u of %u records in use\n", in.readers_active, in.nreaders);
    }
    bool first = true;
    for (uint32_t i = 0; i < in.nreaders; i++) {
        sabre_weights_reader_info_t ri;
        if (sabre_weights_reader_at(w, i, &ri) || !ri.active)
            continue;
        if (json) {
            fprintf(out,
                    "%s{\"index\":%u,\"pid\":%d,\"alive\":%s,\"pinned_version\":%" PRIu64
                    ",\"pinned_slot\":%u,\"adopted_version\":%" PRIu64 ",\"lag\":%" PRIu64
                    ",\"adopts\":%" PRIu64 ",\"refused\":%" PRIu64 "}",
                    first ? "" : ",", i, ri.pid, ri.alive ? "true" : "false", ri.pinned_version,
                    ri.pinned_slot, ri.adopted_version, ri.lag, ri.adopts, ri.refused);
        } else {
            fprintf(out, "    reader %u: pid %d%s, ", i, ri.pid, ri.alive ? "" : " (dead)");
            if (ri.pinned_version)
                fprintf(out, "pins v%" PRIu64 " (slot %u)", ri.pinned_version, ri.pinned_slot);
            else
                fprintf(out, "no pin");
            fprintf(out,
                    ", adopted v%" PRIu64 ", lag %" PRIu64 ", %" PRIu64 " adopts, %" PRIu64
                    " refused\n",
                    ri.adopted_version, ri.lag, ri.adopts, ri.refused);
        }
        first = false;
    }
    if (json)
        fprintf(out, "]}");
    sabre_weights_close(w);
    return SABRE_OK;
}

static const char *shape_name(uint32_t s)
{
    return s == SABRE_RING_MPSC ? "mpsc" : "lanes";
}

static const char *policy_name(uint32_t p)
{
    return p == SABRE_RING_BLOCK              ? "block"
           : p == SABRE_RING_OVERWRITE_OLDEST ? "overwrite-oldest"
                                              : "drop-newest";
}

int sabre_tool_describe_ring(const sabre_region_t *r, const sabre_object_t *o, FILE *out, bool json)
{
    if (!r || !o || !out)
        return sabre__fail(SABRE_EINVAL, "describe_ring: NULL argument");
    sabre_ring_t *ring = NULL;
    int rc = sabre_ring_open((sabre_region_t *)r, o->name, NULL, 0, 0, &ring);
    if (rc)
        return rc;
    sabre_ring_stats_t s;
    rc = sabre_ring_stats(ring, &s);
    if (rc) {
        sabre_ring_close(ring);
        return rc;
    }
    uint32_t lanes = s.shape == SABRE_RING_LANES ? s.nproducers : 1;
    /* bytes a chunk occupies: its 16-byte header, its 32-byte slot record
     * and its payload (the 64-byte aligned arrays, chunk_stride bytes) */
    uint64_t chunk_bytes = 16 + 32 + s.chunk_stride;
    if (json) {
        fprintf(out,
                "{\"shape\":\"%s\",\"policy\":\"%s\",\"lanes\":%u,\"capacity\":%u,"
                "\"producer_records\":%u,\"steps\":%u,\"envs\":%u,\"chunk_stride\":%" PRIu64
                ",\"layout_hash\":\"0x%016" PRIx64 "\",\"reclaim_ns\":%" PRIu64
                ",\"produced\":%" PRIu64 ",\"consumed\":%" PRIu64 ",\"dropped\":%" PRIu64
                ",\"overwritten\":%" PRIu64 ",\"aborted\":%" PRIu64 ",\"abandoned\":%" PRIu64
                ",\"in_flight\":%" PRIu64 ",\"held\":%" PRIu64 ",\"producer_wait_ns\":%" PRIu64
                ",\"consumer_wait_ns\":%" PRIu64 ",\"lag\":{\"min\":%" PRIu64 ",\"avg\":%.3f,"
                "\"max\":%" PRIu64 ",\"count\":%" PRIu64 ",\"current_version\":%" PRIu64 "},"
                "\"consumer_pid\":%d,\"fields\":[",
                shape_name(s.shape), policy_name(s.policy), lanes, s.capacity, s.nproducers,
                s.steps, s.envs, s.chunk_stride, s.layout_hash, s.reclaim_ns, s.produced,
                s.consumed, s.dropped, s.overwritten, s.aborted, s.abandoned, s.in_flight, s.held,
                s.producer_wait_ns, s.consumer_wait_ns, s.lag_min, s.lag_avg, s.lag_max,
                s.lag_count, s.current_version, s.consumer_pid);
    } else {
        fprintf(out,
                "    %s, %s, %u lane(s) x %u chunks of %u steps x %u envs (%" PRIu64
                " bytes each), reclaim after %.0f ms\n",
                shape_name(s.shape), policy_name(s.policy), lanes, s.capacity, s.steps, s.envs,
                chunk_bytes, (double)s.reclaim_ns / 1e6);
        fprintf(out,
                "    produced %" PRIu64 ", consumed %" PRIu64 ", dropped %" PRIu64
                ", overwritten %" PRIu64 ", aborted %" PRIu64 ", abandoned %" PRIu64
                ", in flight %" PRIu64 ", held %" PRIu64 "\n",
                s.produced, s.consumed, s.dropped, s.overwritten, s.aborted, s.abandoned,
                s.in_flight, s.held);
        fprintf(out,
                "    waits: producers %.3f ms, consumer %.3f ms; policy lag min/avg/max "
                "%" PRIu64 "/%.2f/%" PRIu64 " over %" PRIu64 " chunks (version %" PRIu64 ")\n",
                (double)s.producer_wait_ns / 1e6, (double)s.consumer_wait_ns / 1e6, s.lag_min,
                s.lag_avg, s.lag_max, s.lag_count, s.current_version);
        fprintf(out, "    consumer pid %d\n", s.consumer_pid);
    }
    for (uint32_t i = 0; i < s.nfields; i++) {
        sabre_ring_field_t f;
        if (sabre_ring_field_at(ring, i, &f))
            continue;
        if (json) {
            fprintf(out, "%s{\"name\":", i ? "," : "");
            json_str(out, f.name);
            fprintf(out, ",\"elem_size\":%u,\"offset\":%" PRIu64 ",\"size\":%" PRIu64 "}",
                    f.elem_size, f.offset, f.size);
        } else {
            fprintf(out, "    field %-12s %u bytes x %u x %u at +%" PRIu64 "\n", f.name,
                    f.elem_size, s.steps, s.envs, f.offset);
        }
    }
    if (json)
        fprintf(out, "],\"producers\":[");
    bool first = true;
    for (uint32_t i = 0; i < s.nproducers; i++) {
        sabre_ring_producer_info_t p;
        if (sabre_ring_producer_at(ring, i, &p) || (!p.active && !p.produced && !p.dropped))
            continue;
        if (json) {
            fprintf(out,
                    "%s{\"index\":%u,\"pid\":%d,\"active\":%s,\"alive\":%s,"
                    "\"heartbeat_age_s\":%.3f,\"produced\":%" PRIu64 ",\"dropped\":%" PRIu64
                    ",\"overwritten\":%" PRIu64 ",\"aborted\":%" PRIu64 ",\"wait_ns\":%" PRIu64
                    ",\"claim_first\":%" PRIu64 ",\"claim_count\":%u,\"head\":%" PRIu64
                    ",\"tail\":%" PRIu64 "}",
                    first ? "" : ",", i, p.pid, p.active ? "true" : "false",
                    p.alive ? "true" : "false", ago_s(p.heartbeat_ns), p.produced, p.dropped,
                    p.overwritten, p.aborted, p.wait_ns, p.claim_first, p.claim_count, p.head,
                    p.tail);
        } else {
            fprintf(out,
                    "    producer %u: pid %d%s, heartbeat %.3f s ago, produced %" PRIu64
                    ", dropped %" PRIu64 ", overwritten %" PRIu64,
                    i, p.pid,
                    !p.active ? " (closed)"
                    : p.alive ? ""
                              : " (dead)",
                    ago_s(p.heartbeat_ns), p.produced, p.dropped, p.overwritten);
            if (p.claim_count)
                fprintf(out, ", claims %" PRIu64 "+%u", p.claim_first, p.claim_count);
            if (s.shape == SABRE_RING_LANES)
                fprintf(out, ", lane head %" PRIu64 " tail %" PRIu64, p.head, p.tail);
            fputc('\n', out);
        }
        first = false;
    }
    if (json)
        fprintf(out, "]}");
    sabre_ring_close(ring);
    return SABRE_OK;
}
