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
                    ",\"pinned_slot\":%u,\"adopted_version\":%" PRIu64 ",\"lag\":",
                    first ? "" : ",", i, ri.pid, ri.alive ? "true" : "false", ri.pinned_version,
                    ri.pinned_slot, ri.adopted_version);
            /* a dead reader adopts nothing more: its lag would only climb */
            if (ri.alive)
                fprintf(out, "%" PRIu64, ri.lag);
            else
                fprintf(out, "null");
            fprintf(out, ",\"adopts\":%" PRIu64 ",\"refused\":%" PRIu64 "}", ri.adopts, ri.refused);
        } else {
            fprintf(out, "    reader %u: pid %d%s, ", i, ri.pid, ri.alive ? "" : " (dead)");
            if (ri.pinned_version)
                fprintf(out, "pins v%" PRIu64 " (slot %u)", ri.pinned_version, ri.pinned_slot);
            else
                fprintf(out, "no pin");
            fprintf(out, ", adopted v%" PRIu64 ", lag ", ri.adopted_version);
            if (ri.alive)
                fprintf(out, "%" PRIu64, ri.lag);
            else
                fprintf(out, "- (dead reader)");
            fprintf(out, ", %" PRIu64 " adopts, %" PRIu64 " refused\n", ri.adopts, ri.refused);
        }
        first = false;
    }
    if (json)
        fprintf(out, "]}");
    sabre_weights_close(w);
    return SABRE_OK;
}

/* The recent window of a ring's policy lag: the chunks consumed since the
 * previous refresh of `sabre inspect --watch` (the ring keeps only
 * since-creation figures: min, max, and avg over count).  The tool's own
 * memory of the last sample per ring object (by offset); the first sample
 * has no window. */
typedef struct lag_sample {
    uint64_t offset, count, at_ns;
    double sum;
} lag_sample_t;

#define LAG_SAMPLES 64
static lag_sample_t lag_samples[LAG_SAMPLES];

typedef struct lag_window {
    bool valid;
    double avg, seconds;
    uint64_t count;
} lag_window_t;

static lag_window_t lag_recent(uint64_t offset, const sabre_ring_stats_t *s)
{
    lag_window_t win = {0};
    uint64_t now = sabre__now_ns();
    double sum = s->lag_avg * (double)s->lag_count;
    lag_sample_t *slot = NULL;
    for (int i = 0; i < LAG_SAMPLES && !slot; i++)
        if (lag_samples[i].at_ns && lag_samples[i].offset == offset)
            slot = &lag_samples[i];
    if (slot && s->lag_count >= slot->count) {
        win.valid = true;
        win.count = s->lag_count - slot->count;
        win.avg = win.count ? (sum - slot->sum) / (double)win.count : 0.0;
        win.seconds = (double)(now - slot->at_ns) / 1e9;
    }
    for (int i = 0; i < LAG_SAMPLES && !slot; i++)
        if (!lag_samples[i].at_ns)
            slot = &lag_samples[i];
    if (slot)
        *slot = (lag_sample_t){.offset = offset, .count = s->lag_count, .at_ns = now, .sum = sum};
    return win;
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
    lag_window_t win = lag_recent(o->offset, &s);
    if (json) {
        fprintf(out,
                "{\"shape\":\"%s\",\"policy\":\"%s\",\"lanes\":%u,\"capacity\":%u,"
                "\"producer_records\":%u,\"steps\":%u,\"envs\":%u,\"chunk_stride\":%" PRIu64
                ",\"layout_hash\":\"0x%016" PRIx64 "\",\"reclaim_ns\":%" PRIu64
                ",\"produced\":%" PRIu64 ",\"consumed\":%" PRIu64 ",\"dropped\":%" PRIu64
                ",\"overwritten\":%" PRIu64 ",\"aborted\":%" PRIu64 ",\"abandoned\":%" PRIu64
                ",\"in_flight\":%" PRIu64 ",\"held\":%" PRIu64 ",\"producer_wait_ns\":%" PRIu64
                ",\"consumer_wait_ns\":%" PRIu64 ",\"lag\":{\"min\":%" PRIu64 ",\"avg\":%.3f,"
                "\"max\":%" PRIu64 ",\"count\":%" PRIu64 ",\"current_version\":%" PRIu64
                ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"skipped\":%" PRIu64
                ",\"max_lag\":",
                shape_name(s.shape), policy_name(s.policy), lanes, s.capacity, s.nproducers,
                s.steps, s.envs, s.chunk_stride, s.layout_hash, s.reclaim_ns, s.produced,
                s.consumed, s.dropped, s.overwritten, s.aborted, s.abandoned, s.in_flight, s.held,
                s.producer_wait_ns, s.consumer_wait_ns, s.lag_min, s.lag_avg, s.lag_max,
                s.lag_count, s.current_version, s.lag_p50, s.lag_p90, s.lag_p99, s.lag_skipped);
        if (s.max_lag == UINT64_MAX)
            fputs("null", out);
        else
            fprintf(out, "%" PRIu64, s.max_lag);
        fputs(",\"histogram\":[", out);
        for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++)
            fprintf(out, "%s{\"min\":%" PRIu64 ",\"count\":%" PRIu64 "}", b ? "," : "",
                    sabre_ring_lag_bucket_min(b), s.lag_hist[b]);
        fprintf(out,
                "]},\"consumer_pid\":%d,\"consumer_closed\":%s,\"closed_pid\":%d,"
                "\"producer_deaths\":%" PRIu64 ",\"episodes\":%" PRIu64
                ",\"episodes_dropped\":%" PRIu64 ",\"episodes_capacity\":%u,\"lag_recent\":",
                s.consumer_pid, s.consumer_closed ? "true" : "false", s.closed_pid,
                s.producer_deaths, s.episodes, s.episodes_dropped, s.episodes_capacity);
        if (win.valid && win.count)
            fprintf(out, "{\"avg\":%.3f,\"count\":%" PRIu64 ",\"seconds\":%.3f}", win.avg,
                    win.count, win.seconds);
        else if (win.valid)
            fprintf(out, "{\"avg\":null,\"count\":0,\"seconds\":%.3f}", win.seconds);
        else
            fprintf(out, "null");
        fprintf(out, ",\"fields\":[");
    } else {
        fprintf(out,
                "    %s, %s, %u lane(s) x %u chunks of %u steps x %u envs (payload stride %" PRIu64
                " bytes; each chunk also has a 16-byte header and a 32-byte slot record), "
                "reclaim after %s\n",
                shape_name(s.shape), policy_name(s.policy), lanes, s.capacity, s.steps, s.envs,
                s.chunk_stride, sabre__fmt_ns(s.reclaim_ns).s);
        fprintf(out,
                "    produced %" PRIu64 ", consumed %" PRIu64 ", dropped %" PRIu64
                ", overwritten %" PRIu64 ", aborted %" PRIu64 ", abandoned %" PRIu64
                ", in flight %" PRIu64 ", held %" PRIu64 "\n",
                s.produced, s.consumed, s.dropped, s.overwritten, s.aborted, s.abandoned,
                s.in_flight, s.held);
        fprintf(out,
                "    waits: producers %.3f ms, consumer %.3f ms; policy lag since creation "
                "min/avg/max %" PRIu64 "/%.2f/%" PRIu64 " over %" PRIu64 " chunks (version %" PRIu64
                ")\n",
                (double)s.producer_wait_ns / 1e6, (double)s.consumer_wait_ns / 1e6, s.lag_min,
                s.lag_avg, s.lag_max, s.lag_count, s.current_version);
        fprintf(out,
                "    policy lag p50/p90/p99 %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", skipped %" PRIu64
                " (max lag ",
                s.lag_p50, s.lag_p90, s.lag_p99, s.lag_skipped);
        if (s.max_lag == UINT64_MAX)
            fputs("none)\n", out);
        else
            fprintf(out, "%" PRIu64 ")\n", s.max_lag);
        fputs("    lag histogram:", out);
        for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++) {
            uint64_t lo = sabre_ring_lag_bucket_min(b), hi = sabre_ring_lag_bucket_min(b + 1);
            if (!s.lag_hist[b])
                continue;
            if (lo < 8)
                fprintf(out, " %" PRIu64 ":%" PRIu64, lo, s.lag_hist[b]);
            else if (hi == UINT64_MAX)
                fprintf(out, " >=%" PRIu64 ":%" PRIu64, lo, s.lag_hist[b]);
            else
                fprintf(out, " %" PRIu64 "-%" PRIu64 ":%" PRIu64, lo, hi - 1, s.lag_hist[b]);
        }
        fputs(s.lag_count ? "\n" : " (none)\n", out);
        if (win.valid)
            fprintf(out, "    policy lag, last %.1f s: avg %.2f over %" PRIu64 " chunks\n",
                    win.seconds, win.avg, win.count);
        fprintf(out, "    consumer pid %d", s.consumer_pid);
        if (s.consumer_closed)
            fprintf(out, " (closed by pid %d: producers get SABRE_ECLOSED)", s.closed_pid);
        fprintf(out,
                "; producer deaths %" PRIu64 "; episodes %" PRIu64 " reported, %" PRIu64
                " dropped (%u records per producer)\n",
                s.producer_deaths, s.episodes, s.episodes_dropped, s.episodes_capacity);
    }
    for (uint32_t i = 0; i < s.nfields; i++) {
        sabre_ring_field_t f;
        if (sabre_ring_field_at(ring, i, &f))
            continue;
        if (json) {
            fprintf(out, "%s{\"name\":", i ? "," : "");
            json_str(out, f.name);
            fprintf(out, ",\"elem_size\":%u,\"offset\":%" PRIu64 ",\"size\":%" PRIu64, f.elem_size,
                    f.offset, f.size);
            if (f.scalar != SABRE_SCALAR_NONE)
                fprintf(out, ",\"type\":\"%s\",\"count\":%u}", sabre_scalar_name(f.scalar),
                        f.count);
            else
                fprintf(out, ",\"type\":null,\"count\":%u}", f.count);
        } else {
            char ty[32] = "bytes";
            if (f.scalar != SABRE_SCALAR_NONE)
                snprintf(ty, sizeof ty, "%s[%u]", sabre_scalar_name(f.scalar), f.count);
            fprintf(out, "    field %-12s %-9s %u bytes x %u x %u at +%" PRIu64 "\n", f.name, ty,
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
                    ",\"tail\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"deaths\":%" PRIu64
                    ",\"dead_pid\":%d,\"episodes\":%" PRIu64 ",\"episodes_dropped\":%" PRIu64 "}",
                    first ? "" : ",", i, p.pid, p.active ? "true" : "false",
                    p.alive ? "true" : "false", ago_s(p.heartbeat_ns), p.produced, p.dropped,
                    p.overwritten, p.aborted, p.wait_ns, p.claim_first, p.claim_count, p.head,
                    p.tail, p.abandoned, p.deaths, p.dead_pid, p.episodes, p.episodes_dropped);
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
            if (p.deaths)
                fprintf(out, ", %" PRIu64 " owner(s) died (last pid %d), %" PRIu64 " abandoned",
                        p.deaths, p.dead_pid, p.abandoned);
            if (p.episodes || p.episodes_dropped)
                fprintf(out, ", episodes %" PRIu64 " (%" PRIu64 " dropped)", p.episodes,
                        p.episodes_dropped);
            fputc('\n', out);
        }
        first = false;
    }
    if (json)
        fprintf(out, "]}");
    sabre_ring_close(ring);
    return SABRE_OK;
}
