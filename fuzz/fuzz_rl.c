/*
 * fuzz_rl.c - weights and ring objects whose bytes are hostile.
 *
 * Input: byte 0 picks the object (even: weights, odd: ring); the rest
 * overwrites the start of that object (header, tables, records, chunk
 * states).  Opening must fail cleanly or give a handle whose every call -
 * info, readers, adopt, publish, stats, producers, claim (with padding at
 * the lane end), chunk headers, consume, release, the `sabre inspect`
 * describers - stays in bounds and returns.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sabre/region.h"
#include "sabre/ring.h"
#include "sabre/weights.h"

#include "../tools/inspect_rl.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void poke_weights(sabre_region_t *reg, FILE *sink)
{
    sabre_weights_t *w = NULL;
    if (sabre_weights_open(reg, "w", NULL, &w) != SABRE_OK)
        return;
    sabre_weights_info_t in;
    sabre_weights_info(w, &in);
    for (uint32_t i = 0; i < in.nreaders; i++) {
        sabre_weights_reader_info_t ri;
        sabre_weights_reader_at(w, i, &ri);
    }
    sabre_weights_reader_t *r = NULL;
    if (sabre_weights_reader_open(w, &r) == SABRE_OK) {
        sabre_weights_view_t v;
        sabre_weights_adopt_opts_t o = {.check_finite = true, .expect_shape = 7};
        if (sabre_weights_adopt(r, NULL, &v) == SABRE_OK && v.data && v.size)
            (void)((const volatile uint8_t *)v.data)[v.size - 1];
        sabre_weights_adopt(r, &o, &v);
        sabre_weights_wait(r, 0, 0);
        sabre_weights_reader_close(r);
    }
    uint8_t buf[64] = {1, 2, 3};
    sabre_weights_publish(w, buf, sizeof buf, NULL, 0, NULL);
    sabre_weights_close(w);
    sabre_object_t o;
    if (sabre_region_find(reg, "w", NULL, &o) == SABRE_OK) {
        sabre_tool_describe_weights(reg, &o, sink, true);
        sabre_tool_describe_weights(reg, &o, sink, false);
    }
}

static void poke_ring(sabre_region_t *reg, FILE *sink)
{
    sabre_ring_t *ring = NULL;
    if (sabre_ring_open(reg, "r", NULL, 0, 0, &ring) != SABRE_OK)
        return;
    sabre_ring_stats_t st;
    sabre_ring_stats(ring, &st);
    for (uint32_t i = 0; i < st.nproducers; i++) {
        sabre_ring_producer_info_t pi;
        sabre_ring_producer_at(ring, i, &pi);
    }
    for (uint32_t i = 0; i < sabre_ring_field_count(ring); i++) {
        sabre_ring_field_t f;
        sabre_ring_field_at(ring, i, &f);
    }
    sabre_ring_producer_t *p = NULL;
    if (sabre_ring_producer_open(ring, &p) == SABRE_OK) {
        for (uint32_t n = 1; n <= 3; n += 2) { /* a claim of 3 may pad at the lane end */
            sabre_ring_claim_t cl;
            if (sabre_ring_claim(p, n, 0, &cl) != SABRE_OK)
                continue;
            sabre_chunk_t *c = sabre_ring_claim_chunk(p, &cl, 0);
            uint8_t *a = sabre_chunk_array(ring, c, 0);
            sabre_ring_field_t f;
            if (a && sabre_ring_field_at(ring, 0, &f) == SABRE_OK && f.size)
                memset(a, 0x5a, f.size);
            for (uint32_t i = 0; i < cl.count; i++) { /* base + stride */
                memset(cl.data + i * cl.stride, 0x33, cl.stride);
                cl.chunks[i].valid_steps = 1;
            }
            sabre_chunk_header_t h;
            sabre_ring_chunk_header(ring, c, &h);
            sabre_ring_commit(p, &cl);
        }
        sabre_ring_producer_close(p);
    }
    sabre_ring_consumer_t *c = NULL;
    if (sabre_ring_consumer_open(ring, &c) == SABRE_OK) {
        for (int k = 0; k < 3; k++) {
            sabre_ring_batch_t b;
            if (sabre_ring_consume(c, 4, 0, &b) != SABRE_OK)
                break;
            for (uint32_t i = 0; i < b.count; i++) {
                const sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, i);
                (void)((const volatile sabre_chunk_t *)ch)->sequence;
                (void)((const volatile uint8_t *)b.data)[i * b.stride + b.stride - 1];
                sabre_chunk_header_t h;
                sabre_ring_chunk_header(ring, ch, &h);
            }
            sabre_ring_release(c, &b);
        }
        sabre_ring_consumer_close(c);
    }
    sabre_ring_close(ring);
    sabre_object_t o;
    if (sabre_region_find(reg, "r", NULL, &o) == SABRE_OK) {
        sabre_tool_describe_ring(reg, &o, sink, true);
        sabre_tool_describe_ring(reg, &o, sink, false);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sabre_region_t *reg = NULL;
    sabre_region_desc_t rd = {.size = 1 << 20, .max_objects = 8};
    if (sabre_region_create(&rd, &reg) != SABRE_OK)
        return 0;
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t wd = {
        .name = "w", .size = 256, .slots = 3, .readers = 2, .flags = SABRE_WEIGHTS_F32};
    sabre_ring_t *ring = NULL;
    sabre_ring_desc_t d = {.name = "r",
                           .shape = (data[0] >> 1) & 1 ? SABRE_RING_MPSC : 0,
                           .policy = (sabre_ring_policy_t)((data[0] >> 2) % 3),
                           .capacity = 4,
                           .producers = 2,
                           .record_size = 64,
                           .reclaim_ns = 1};
    if (sabre_weights_create(reg, &wd, &w) != SABRE_OK ||
        sabre_ring_create(reg, &d, &ring) != SABRE_OK) {
        sabre_weights_close(w);
        sabre_region_close(reg);
        return 0;
    }
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_object_t o;
    if (sabre_region_find(reg, data[0] & 1 ? "r" : "w", NULL, &o) == SABRE_OK) {
        size_t n = size - 1 < o.size ? size - 1 : (size_t)o.size;
        memcpy(o.ptr, data + 1, n);
    }
    FILE *sink = fopen("/dev/null", "w");
    if (sink) {
        if (data[0] & 1)
            poke_ring(reg, sink);
        else
            poke_weights(reg, sink);
        fclose(sink);
    }
    sabre_region_close(reg);
    return 0;
}
