// SABRE_TEST_LABELS: unit concurrent process stress
/*
 * Rollout rings: layout of chunks, empty/full policies with exact counts,
 * per-producer order and no loss in block mode, both shapes, threads and
 * processes, refusal of mismatched layouts and versions.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"
#include "sabre/ring.h"

static sabre_region_t *make_region(uint64_t size)
{
    sabre_region_t *r = NULL;
    sabre_region_desc_t d = {.backing = SABRE_BACKING_MEMFD, .name = "test_ring", .size = size};
    CHECK_OK(sabre_region_create(&d, &r));
    return r;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    return x ^ (x >> 31);
}

/* Raw 64-byte payload: producer, sequence, the writer's own tag (records
 * are reused after a close: it names the producer of the test), 5 check
 * words over all three. */
static void fill_payload(const sabre_ring_t *ring, sabre_chunk_t *c, uint64_t tag)
{
    uint64_t *w = sabre_chunk_array(ring, c, 0);
    w[0] = c->producer;
    w[1] = c->sequence;
    w[2] = tag;
    for (int i = 3; i < 8; i++)
        w[i] = mix(c->producer * 1000003ull + c->sequence + (tag << 40), (uint64_t)i);
}

static bool payload_ok(const sabre_ring_t *ring, const sabre_chunk_t *c)
{
    const uint64_t *w = sabre_chunk_array(ring, c, 0);
    if (w[0] != c->producer || w[1] != c->sequence)
        return false;
    for (int i = 3; i < 8; i++)
        if (w[i] != mix(c->producer * 1000003ull + c->sequence + (w[2] << 40), (uint64_t)i))
            return false;
    return true;
}

static uint64_t payload_tag(const sabre_ring_t *ring, const sabre_chunk_t *c)
{
    return ((const uint64_t *)sabre_chunk_array(ring, c, 0))[2];
}

/* The claim's policy version of a chunk, through the public accessor. */
static uint64_t version_of(const sabre_ring_t *ring, const sabre_chunk_t *c)
{
    sabre_chunk_header_t h;
    CHECK_OK(sabre_ring_chunk_header(ring, c, &h));
    return h.policy_version;
}

/* ---- layout of chunks, basic lifecycle, refusals -------------------------------- */

static void test_basic(void)
{
    sabre_region_t *reg = make_region(4 << 20);
    const char *text = "struct Step { obs: f32[4]; act: i32; rew: f32; done: u8; logp: f32; "
                       "value: f32; }";
    sabre_schema_t *sch = NULL;
    CHECK_OK(sabre_schema_compile(text, strlen(text), &sch, NULL));
    const sabre_layout_t *step = sabre_schema_root(sch);
    sabre_ring_desc_t d = {
        .name = "roll", .layout = step, .steps = 8, .envs = 4, .capacity = 4, .producers = 2};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    CHECK_EQ(sabre_ring_field_count(ring), 6);
    sabre_ring_field_t f;
    CHECK_OK(sabre_ring_field_find(ring, "obs", &f));
    CHECK_EQ(f.elem_size, 16);
    CHECK_EQ(f.size, 8 * 4 * 16);
    CHECK_EQ(f.offset, 0); /* from the chunk's payload */
    CHECK_OK(sabre_ring_field_find(ring, "act", &f));
    CHECK_EQ(f.offset % 64, 0);
    CHECK_EQ(f.size, 8 * 4 * 4);
    CHECK_ERR(sabre_ring_field_find(ring, "nope", &f), SABRE_ENOENT);
    CHECK_EQ(sabre_ring_chunk_stride(ring) % 64, 0);

    sabre_ring_producer_t *p = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    sabre_ring_consumer_t *c2 = NULL;
    CHECK_ERR(sabre_ring_consumer_open(ring, &c2), SABRE_EBUSY);
    sabre_ring_batch_t b;
    CHECK_ERR(sabre_ring_consume(c, 4, 0, &b), SABRE_EAGAIN);
    CHECK_ERR(sabre_ring_consume(c, 4, 2000000, &b), SABRE_ETIMEDOUT);

    sabre_ring_producer_set_version(p, 5);
    sabre_ring_claim_t cl;
    CHECK_OK(sabre_ring_claim(p, 2, 0, &cl));
    CHECK_ERR(sabre_ring_claim(p, 1, 0, &cl), SABRE_ESTATE);
    for (uint32_t i = 0; i < 2; i++) {
        sabre_chunk_t *ch = sabre_ring_claim_chunk(p, &cl, i);
        CHECK(ch != NULL);
        CHECK_EQ(ch->sequence, i);
        CHECK_EQ(ch->valid_steps, 8);
        CHECK_EQ(version_of(ring, ch), 5);
        float *obs = sabre_chunk_array(ring, ch, 0);
        int32_t *act = sabre_chunk_array(ring, ch, 1);
        /* base + stride reach the same arrays */
        CHECK(ch == &cl.chunks[i]);
        CHECK((uint8_t *)obs == cl.data + i * cl.stride);
        CHECK_EQ(cl.stride, sabre_ring_chunk_stride(ring));
        for (int t = 0; t < 8; t++)
            for (int e = 0; e < 4; e++) {
                for (int k = 0; k < 4; k++)
                    obs[(t * 4 + e) * 4 + k] = (float)(i * 1000 + t * 100 + e * 10 + k);
                act[t * 4 + e] = (int32_t)(i * 100 + t * 4 + e);
            }
    }
    CHECK(sabre_ring_claim_chunk(p, &cl, 2) == NULL);
    CHECK_ERR(sabre_ring_consume(c, 4, 0, &b), SABRE_EAGAIN); /* not committed yet */
    CHECK_OK(sabre_ring_commit(p, &cl));
    CHECK_ERR(sabre_ring_commit(p, &cl), SABRE_ESTATE);
    sabre_ring_consumer_set_version(c, 7);
    CHECK_OK(sabre_ring_consume(c, 4, 0, &b));
    CHECK_EQ(b.count, 2);
    for (uint32_t i = 0; i < 2; i++) {
        sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, i);
        const float *obs = sabre_chunk_array(ring, ch, 0);
        const int32_t *act = sabre_chunk_array(ring, ch, 1);
        CHECK_EQ(ch->producer, sabre_ring_producer_id(p));
        CHECK(obs[(7 * 4 + 3) * 4 + 2] == (float)(i * 1000 + 700 + 30 + 2));
        CHECK_EQ(act[5], i * 100 + 5);
        sabre_chunk_header_t hd;
        CHECK_OK(sabre_ring_chunk_header(ring, ch, &hd));
        CHECK_EQ(hd.layout_hash, step->hash);
        CHECK_EQ(hd.policy_version, 5);
        CHECK_EQ(hd.sequence, i);
        CHECK_EQ(hd.producer, sabre_ring_producer_id(p));
        CHECK_EQ(hd.valid_steps, 8);
        CHECK(hd.commit_ns != 0);
        CHECK_EQ(hd.lane, sabre_ring_producer_id(p));
        CHECK_EQ(hd.claim_rest, 1 - i);
        CHECK((const uint8_t *)act == b.data + i * b.stride + f.offset); /* f: "act" */
    }
    /* not a chunk of the ring: refused, no array */
    sabre_chunk_t fake = {0};
    sabre_chunk_header_t hd;
    CHECK_ERR(sabre_ring_chunk_header(ring, &fake, &hd), SABRE_EINVAL);
    CHECK(sabre_chunk_array(ring, &fake, 0) == NULL);
    CHECK(sabre_chunk_array(ring, (sabre_chunk_t *)((uint8_t *)b.chunks + 8), 0) == NULL);
    sabre_ring_batch_t bogus = b;
    bogus.first += 2; /* not consumed yet: refused */
    CHECK_ERR(sabre_ring_release(c, &bogus), SABRE_EINVAL);
    CHECK_OK(sabre_ring_release(c, &b));
    CHECK_OK(sabre_ring_release(c, &b)); /* twice: harmless */
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.produced, 2);
    CHECK_EQ(st.consumed, 2);
    CHECK_EQ(st.lag_min, 2);
    CHECK_EQ(st.lag_max, 2);
    CHECK_EQ(st.held, 0);

    /* abort: the consumer skips the chunks */
    CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
    CHECK_OK(sabre_ring_abort(p, &cl));
    CHECK_ERR(sabre_ring_consume(c, 4, 0, &b), SABRE_EAGAIN);
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.aborted, 1);

    /* bad input */
    CHECK_ERR(sabre_ring_claim(p, 0, 0, &cl), SABRE_EINVAL);
    CHECK_ERR(sabre_ring_claim(p, 5, 0, &cl), SABRE_EINVAL); /* > capacity */
    CHECK_ERR(sabre_ring_consume(c, 0, 0, &b), SABRE_EINVAL);
    sabre_ring_desc_t bad = {.name = "bad", .record_size = 64, .capacity = 3};
    CHECK_ERR(sabre_ring_create(reg, &bad, &(sabre_ring_t *){NULL}), SABRE_EINVAL);
    bad.capacity = 4;
    bad.record_size = 0;
    CHECK_ERR(sabre_ring_create(reg, &bad, &(sabre_ring_t *){NULL}), SABRE_EINVAL);

    /* open: layout, T x E, ABI version, corruption */
    const char *other = "struct Step { obs: f32[5]; act: i32; }";
    sabre_schema_t *sch2 = NULL;
    CHECK_OK(sabre_schema_compile(other, strlen(other), &sch2, NULL));
    sabre_ring_t *r2 = NULL;
    CHECK_ERR(sabre_ring_open(reg, "roll", sabre_schema_root(sch2), 0, 0, &r2), SABRE_ELAYOUT);
    CHECK_ERR(sabre_ring_open(reg, "roll", step, 16, 4, &r2), SABRE_ELAYOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), "8 steps x 4 envs");
    CHECK_OK(sabre_ring_open(reg, "roll", step, 8, 4, &r2));
    sabre_ring_close(r2);
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "roll", NULL, &o));
    uint16_t *major = (uint16_t *)((uint8_t *)o.ptr + 4);
    *major = 9;
    CHECK_ERR(sabre_ring_open(reg, "roll", step, 0, 0, &r2), SABRE_EVERSION);
    CHECK_STR_CONTAINS(sabre_last_error(), "9.1");
    /* a ring written by ABI 2 (64-byte headers inline): refused, naming both */
    *major = 2;
    CHECK_ERR(sabre_ring_open(reg, "roll", step, 0, 0, &r2), SABRE_EVERSION);
    CHECK_STR_CONTAINS(sabre_last_error(), "ABI version 2.1");
    CHECK_STR_CONTAINS(sabre_last_error(), "reads 3.x");
    *major = SABRE_RING_ABI_MAJOR;
    uint32_t *capw = (uint32_t *)((uint8_t *)o.ptr + 16);
    *capw = 3;
    CHECK_ERR(sabre_ring_open(reg, "roll", step, 0, 0, &r2), SABRE_ECORRUPT);
    *capw = 1u << 19; /* power of two but does not fit the object */
    CHECK_ERR(sabre_ring_open(reg, "roll", step, 0, 0, &r2), SABRE_ECORRUPT);
    *capw = 4;
    CHECK_ERR(sabre_ring_open(reg, "nope", NULL, 0, 0, &r2), SABRE_ENOENT);

    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(p);
    sabre_ring_close(ring);
    sabre_schema_free(sch);
    sabre_schema_free(sch2);
    sabre_region_close(reg);
}

/* ---- cursor lanes: contiguous payloads, exact lag per claim, release order --------- */

static void test_cursor_lanes(void)
{
    sabre_region_t *reg = make_region(4 << 20);
    for (int pol = 0; pol < 2; pol++) { /* drop-newest, block: the cursor protocol */
        char name[32];
        snprintf(name, sizeof name, "cur%d", pol);
        sabre_ring_desc_t d = {.name = name,
                               .policy = (sabre_ring_policy_t)pol,
                               .capacity = 8,
                               .producers = 2,
                               .record_size = 48};
        sabre_ring_t *ring = NULL;
        CHECK_OK(sabre_ring_create(reg, &d, &ring));
        /* one-line payloads: contiguous, headers in their own array */
        sabre_ring_field_t f;
        CHECK_OK(sabre_ring_field_at(ring, 0, &f));
        CHECK_EQ(sabre_ring_chunk_stride(ring), 64);
        CHECK_EQ(f.offset, 0);
        CHECK_EQ(f.size, 48);
        sabre_ring_producer_t *p = NULL;
        sabre_ring_consumer_t *c = NULL;
        CHECK_OK(sabre_ring_producer_open(ring, &p));
        CHECK_OK(sabre_ring_consumer_open(ring, &c));
        sabre_ring_consumer_set_version(c, 10);
        /* claims of 3 (version 1), 2 (version 4), 1 (version 10): lags 9,9,9,6,6,0 */
        const uint32_t sizes[3] = {3, 2, 1};
        const uint64_t vers[3] = {1, 4, 10};
        uint64_t seq = 0;
        for (int k = 0; k < 3; k++) {
            sabre_ring_producer_set_version(p, vers[k]);
            sabre_ring_claim_t cl;
            CHECK_OK(sabre_ring_claim(p, sizes[k], 0, &cl));
            sabre_chunk_t *ch = cl.chunks;
            CHECK_EQ(cl.count, sizes[k]);
            CHECK_EQ(cl.stride, 64);
            for (uint32_t i = 0; i < sizes[k]; i++) {
                CHECK(&ch[i] == sabre_ring_claim_chunk(p, &cl, i));
                CHECK_EQ(ch[i].sequence, seq + i);
                CHECK_EQ(ch[i].valid_steps, 1);
                CHECK_EQ(ch[i].producer, sabre_ring_producer_id(p));
                sabre_chunk_header_t hd;
                CHECK_OK(sabre_ring_chunk_header(ring, &ch[i], &hd));
                CHECK_EQ(hd.policy_version, vers[k]);
                CHECK_EQ(hd.commit_ns, 0);
                CHECK_EQ(hd.claim_rest, sizes[k] - 1 - i);
                uint8_t *a = sabre_chunk_array(ring, &ch[i], 0);
                CHECK(a == cl.data + i * cl.stride + f.offset);
                if (i) /* payloads are contiguous */
                    CHECK(a == (uint8_t *)sabre_chunk_array(ring, &ch[i - 1], 0) + 64);
                memset(a, (int)(seq + i), 48);
            }
            seq += sizes[k];
            /* a claim is invisible until committed */
            sabre_ring_batch_t nb;
            if (k == 0)
                CHECK_ERR(sabre_ring_consume(c, 4, 0, &nb), SABRE_EAGAIN);
            CHECK_OK(sabre_ring_commit(p, &cl));
            sabre_chunk_header_t h0, hl;
            CHECK_OK(sabre_ring_chunk_header(ring, &ch[0], &h0));
            CHECK_OK(sabre_ring_chunk_header(ring, &ch[sizes[k] - 1], &hl));
            CHECK(h0.commit_ns != 0); /* one commit time for the whole claim */
            CHECK_EQ(h0.commit_ns, hl.commit_ns);
        }
        /* batches of 2 start inside claims: the statistics stay exact */
        sabre_ring_batch_t b[3];
        for (int k = 0; k < 3; k++) {
            CHECK_OK(sabre_ring_consume(c, 2, 0, &b[k]));
            CHECK_EQ(b[k].count, 2);
            CHECK_EQ(b[k].first, 2 * (uint64_t)k);
            for (uint32_t i = 0; i < 2; i++) {
                sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b[k], i);
                const uint8_t *a = sabre_chunk_array(ring, ch, 0);
                CHECK_EQ(ch->sequence, 2 * (uint64_t)k + i);
                CHECK_EQ(a[0], (uint8_t)ch->sequence);
                CHECK_EQ(a[47], (uint8_t)ch->sequence);
                /* the version of each chunk's own claim, batches spanning claims */
                CHECK_EQ(version_of(ring, ch), ch->sequence < 3 ? 1 : ch->sequence < 5 ? 4 : 10);
            }
        }
        sabre_ring_stats_t st;
        CHECK_OK(sabre_ring_stats(ring, &st));
        CHECK_EQ(st.lag_count, 6);
        CHECK_EQ(st.lag_min, 0);
        CHECK_EQ(st.lag_max, 9);
        CHECK(st.lag_avg > 6.49 && st.lag_avg < 6.51); /* 39 / 6 */
        CHECK_EQ(st.held, 6);
        CHECK_EQ(st.in_flight, 0);
        /* release out of order: the slots come back only in lane order */
        CHECK_OK(sabre_ring_release(c, &b[2]));
        CHECK_OK(sabre_ring_release(c, &b[1]));
        CHECK_OK(sabre_ring_release(c, &b[1])); /* twice: harmless */
        sabre_ring_producer_info_t pi;
        CHECK_OK(sabre_ring_producer_at(ring, sabre_ring_producer_id(p), &pi));
        CHECK_EQ(pi.head, 6);
        CHECK_EQ(pi.tail, 6);
        CHECK_EQ(pi.claim_count, 0);
        sabre_ring_claim_t cl;
        CHECK_OK(sabre_ring_claim(p, 2, 0, &cl)); /* 6..7: room behind the held batch */
        CHECK_OK(sabre_ring_commit(p, &cl));
        /* positions 8 and 9 reuse the slots of batch 0, still held */
        CHECK_ERR(sabre_ring_claim(p, 1, 0, &cl), pol ? SABRE_ETIMEDOUT : SABRE_EFULL);
        CHECK_OK(sabre_ring_release(c, &b[0])); /* now 0..5 are free at once */
        CHECK_OK(sabre_ring_stats(ring, &st));
        CHECK_EQ(st.held, 0);
        CHECK_OK(sabre_ring_claim(p, 6, 0, &cl));
        CHECK_EQ(cl.first, 8);
        sabre_chunk_t *ch0 = sabre_ring_claim_chunk(p, &cl, 0);
        CHECK_EQ(ch0->sequence, 8);
        /* abort: never visible, the positions are claimed again */
        CHECK_OK(sabre_ring_abort(p, &cl));
        CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
        CHECK_EQ(cl.first, 8);
        CHECK_EQ(sabre_ring_claim_chunk(p, &cl, 0)->sequence, 14); /* aborted ones are numbered */
        CHECK_OK(sabre_ring_commit(p, &cl));
        /* a new consumer starts where the old one stopped: at a claim's first
         * chunk, then (after one more reopen) inside the claim 6..7 */
        sabre_ring_batch_t bb;
        for (int k = 0; k < 2; k++) {
            sabre_ring_consumer_close(c);
            CHECK_OK(sabre_ring_consumer_open(ring, &c));
            sabre_ring_consumer_set_version(c, 20);
            CHECK_OK(sabre_ring_consume(c, k ? 8 : 1, 0, &bb));
            CHECK_EQ(bb.first, 6 + (uint64_t)k);
            CHECK_EQ(bb.count, 1); /* k = 1: 7 alone, the batch stops at the lane end */
            CHECK_EQ(sabre_ring_batch_chunk(c, &bb, 0)->sequence, 6 + (uint64_t)k);
            CHECK_OK(sabre_ring_release(c, &bb));
        }
        CHECK_OK(sabre_ring_consume(c, 8, 0, &bb));
        CHECK_EQ(bb.first, 8);
        CHECK_EQ(bb.count, 1);
        CHECK_EQ(bb.chunks[0].sequence, 14); /* aborted ones are numbered */
        CHECK_EQ(version_of(ring, &bb.chunks[0]), 10);
        CHECK_OK(sabre_ring_release(c, &bb));
        CHECK_ERR(sabre_ring_consume(c, 8, 0, &bb), SABRE_EAGAIN);
        CHECK_OK(sabre_ring_stats(ring, &st));
        CHECK_EQ(st.produced, 9);
        CHECK_EQ(st.aborted, 6);
        CHECK_EQ(st.consumed, 9);
        CHECK_EQ(st.dropped, pol ? 0 : 1);
        CHECK_EQ(st.lag_count, 9);
        CHECK_EQ(st.lag_min, 0);
        CHECK_EQ(st.lag_max, 10); /* positions 6..8 were claimed at version 10 */
        CHECK(st.lag_avg > 7.66 && st.lag_avg < 7.67); /* (39 + 30) / 9 */
        sabre_ring_consumer_close(c);
        sabre_ring_producer_close(p);
        sabre_ring_close(ring);
    }
    sabre_region_close(reg);
}

/* ---- the wrap: padding before a claim, batches split at the lane end ----------- */

/* Claim n chunks, stamp each with its sequence (payload word 0, through
 * base + stride) and a valid_steps of its own, commit. */
static sabre_ring_claim_t put(sabre_ring_t *ring, sabre_ring_producer_t *p, uint32_t n,
                              uint64_t version)
{
    sabre_ring_producer_set_version(p, version);
    sabre_ring_claim_t cl;
    CHECK_OK(sabre_ring_claim(p, n, 0, &cl));
    CHECK_EQ(cl.count, n);
    CHECK((cl.first & 7) + n <= 8); /* never across the end of the lane (capacity 8) */
    for (uint32_t i = 0; i < n; i++) {
        uint64_t *w = (uint64_t *)(cl.data + i * cl.stride);
        w[0] = cl.chunks[i].sequence;
        w[1] = version;
        cl.chunks[i].valid_steps = (uint32_t)(cl.chunks[i].sequence % 4) + 1;
    }
    CHECK_OK(sabre_ring_commit(p, &cl));
    return cl;
}

/* Take one batch of up to max; check every chunk against what put() wrote
 * and return the count.  *next: the sequence expected next. */
static uint32_t take_check(sabre_ring_t *ring, sabre_ring_consumer_t *c, uint32_t max,
                           uint64_t *next, sabre_ring_batch_t *out)
{
    sabre_ring_batch_t b;
    CHECK_OK(sabre_ring_consume(c, max, 0, &b));
    CHECK((b.first & 7) + b.count <= 8); /* never across the end of the lane */
    for (uint32_t i = 0; i < b.count; i++) {
        const sabre_chunk_t *ch = &b.chunks[i];
        const uint64_t *w = (const uint64_t *)(b.data + i * b.stride);
        CHECK(ch == sabre_ring_batch_chunk(c, &b, i));
        CHECK((const uint8_t *)w == (uint8_t *)sabre_chunk_array(ring, ch, 0));
        CHECK_EQ(ch->sequence, *next);
        CHECK_EQ(w[0], ch->sequence);
        CHECK_EQ(ch->valid_steps, ch->sequence % 4 + 1); /* set per chunk by the producer */
        sabre_chunk_header_t h;
        CHECK_OK(sabre_ring_chunk_header(ring, ch, &h));
        CHECK_EQ(h.policy_version, w[1]); /* per chunk, across claims */
        CHECK_EQ(h.valid_steps, ch->valid_steps);
        (*next)++;
    }
    if (out)
        *out = b;
    else
        CHECK_OK(sabre_ring_release(c, &b));
    return b.count;
}

static void test_wrap(sabre_ring_shape_t shape, sabre_ring_policy_t pol)
{
    sabre_region_t *reg = make_region(4 << 20);
    sabre_ring_desc_t d = {.name = "wrap",
                           .shape = shape,
                           .policy = pol,
                           .capacity = 8,
                           .producers = 2,
                           .steps = 4,
                           .record_size = 64,
                           .spin_ns = 1000};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_ring_producer_t *p = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    sabre_ring_consumer_set_version(c, 10);
    uint64_t next = 0;
    put(ring, p, 3, 1); /* 0..2 */
    put(ring, p, 3, 2); /* 3..5 */
    CHECK_EQ(take_check(ring, c, 8, &next, NULL), 6);
    /* 3 more at 6 would cross the end: 6..7 are padding, the claim is 8..10 */
    sabre_ring_claim_t cl = put(ring, p, 3, 3);
    CHECK_EQ(cl.first, 8);
    CHECK(cl.chunks == sabre_ring_claim_chunk(p, &cl, 0));
    sabre_chunk_header_t hh;
    if (shape == SABRE_RING_LANES && pol != SABRE_RING_OVERWRITE_OLDEST) {
        /* cursor lanes: slot 6 holds the padding mark, not a chunk */
        CHECK_ERR(sabre_ring_chunk_header(ring, cl.chunks + 6, &hh), SABRE_EINVAL);
        CHECK_STR_CONTAINS(sabre_last_error(), "padding");
        /* a claim_rest running past the lane is refused, not followed */
        uint16_t keep = cl.chunks[2].claim_rest;
        cl.chunks[2].claim_rest = 0x7fff;
        CHECK_ERR(sabre_ring_chunk_header(ring, &cl.chunks[2], &hh), SABRE_ECORRUPT);
        cl.chunks[2].claim_rest = keep;
    }
    CHECK_OK(sabre_ring_chunk_header(ring, &cl.chunks[2], &hh));
    CHECK_EQ(hh.policy_version, 3);
    CHECK_EQ(hh.claim_rest, 0);
    CHECK_EQ(take_check(ring, c, 8, &next, NULL), 3); /* padding skipped */
    /* 11..14 and 15 and 16..17: a batch stops at the end of the lane */
    put(ring, p, 4, 4);
    put(ring, p, 1, 5);
    sabre_ring_batch_t held;
    CHECK_EQ(take_check(ring, c, 2, &next, &held), 2); /* 11..12, held */
    put(ring, p, 2, 6);                                /* 16..17: slots 0, 1 */
    CHECK_EQ(take_check(ring, c, 8, &next, NULL), 3);  /* 13..15, up to the end */
    CHECK_EQ(take_check(ring, c, 8, &next, NULL), 2);  /* 16..17 */
    CHECK_OK(sabre_ring_release(c, &held));
    /* a claim of the whole capacity from slot 2: padding 18..23, then 24..31
     * once the consumer has skipped the padding */
    if (pol != SABRE_RING_OVERWRITE_OLDEST) {
        sabre_ring_claim_t big;
        int rc = sabre_ring_claim(p, 8, 0, &big);
        CHECK(rc == (pol == SABRE_RING_BLOCK ? SABRE_ETIMEDOUT : SABRE_EFULL));
        sabre_ring_batch_t nb;
        CHECK_ERR(sabre_ring_consume(c, 8, 0, &nb), SABRE_EAGAIN); /* padding only */
    } /* overwrite: the claim takes the padding's slots back at once */
    put(ring, p, 8, 7);
    CHECK_EQ(take_check(ring, c, 8, &next, NULL), 8);
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.produced, 24);
    CHECK_EQ(st.consumed, 24);
    CHECK_EQ(st.dropped, pol == SABRE_RING_DROP_NEWEST ? 8 : 0);
    CHECK_EQ(st.overwritten, 0);
    CHECK_EQ(st.aborted, 0);
    CHECK_EQ(st.abandoned, 0);
    CHECK_EQ(st.held, 0);
    /* lag: versions 1 x3, 2 x3, 3 x3, 4 x4, 5 x1, 6 x2, 7 x8 against 10 */
    CHECK_EQ(st.lag_count, 24);
    CHECK_EQ(st.lag_min, 3);
    CHECK_EQ(st.lag_max, 9);
    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(p);
    sabre_ring_close(ring);
    sabre_region_close(reg);
}

/* ---- full policies, single thread: exact counts ----------------------------------- */

static void test_policies(sabre_ring_shape_t shape)
{
    sabre_region_t *reg = make_region(4 << 20);
    for (int pol = 0; pol < 3; pol++) {
        char name[32];
        snprintf(name, sizeof name, "pol%d", pol);
        sabre_ring_desc_t d = {.name = name,
                               .shape = shape,
                               .policy = (sabre_ring_policy_t)pol,
                               .capacity = 8,
                               .producers = 2,
                               .record_size = 64};
        sabre_ring_t *ring = NULL;
        CHECK_OK(sabre_ring_create(reg, &d, &ring));
        sabre_ring_producer_t *p = NULL;
        sabre_ring_consumer_t *c = NULL;
        CHECK_OK(sabre_ring_producer_open(ring, &p));
        CHECK_OK(sabre_ring_consumer_open(ring, &c));
        int ok = 0, full = 0;
        for (int i = 0; i < 20; i++) {
            sabre_ring_claim_t cl;
            int rc = sabre_ring_claim(p, 1, 0, &cl);
            if (rc == SABRE_OK) {
                fill_payload(ring, sabre_ring_claim_chunk(p, &cl, 0), 0);
                CHECK_OK(sabre_ring_commit(p, &cl));
                ok++;
            } else {
                CHECK(rc == (pol == SABRE_RING_BLOCK ? SABRE_ETIMEDOUT : SABRE_EFULL));
                full++;
            }
        }
        sabre_ring_stats_t st;
        CHECK_OK(sabre_ring_stats(ring, &st));
        if (pol == SABRE_RING_OVERWRITE_OLDEST) {
            CHECK_EQ(ok, 20);
            CHECK_EQ(st.overwritten, 12);
            CHECK_EQ(st.dropped, 0);
        } else {
            CHECK_EQ(ok, 8);
            CHECK_EQ(full, 12);
            CHECK_EQ(st.dropped, pol == SABRE_RING_DROP_NEWEST ? 12 : 0);
        }
        /* drain: the oldest surviving chunks, in order */
        uint64_t expect = pol == SABRE_RING_OVERWRITE_OLDEST ? 12 : 0, got = 0;
        sabre_ring_batch_t b;
        while (sabre_ring_consume(c, 3, 0, &b) == SABRE_OK) {
            for (uint32_t i = 0; i < b.count; i++) {
                sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, i);
                CHECK_EQ(ch->sequence, expect);
                CHECK(payload_ok(ring, ch));
                expect++;
                got++;
            }
            CHECK_OK(sabre_ring_release(c, &b));
        }
        CHECK_EQ(got, 8);
        /* overwrite never touches chunks held in place: fill, hold, claim */
        if (pol == SABRE_RING_OVERWRITE_OLDEST) {
            for (int i = 0; i < 8; i++) {
                sabre_ring_claim_t cl;
                CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
                fill_payload(ring, sabre_ring_claim_chunk(p, &cl, 0), 0);
                CHECK_OK(sabre_ring_commit(p, &cl));
            }
            /* positions 20..27: two batches, split at the end of the lane */
            sabre_ring_batch_t b2;
            CHECK_OK(sabre_ring_consume(c, 8, 0, &b));
            CHECK_OK(sabre_ring_consume(c, 8, 0, &b2));
            CHECK_EQ(b.count, 4);
            CHECK_EQ(b2.count, 4);
            CHECK_EQ(b2.first, b.first + 4);
            sabre_ring_claim_t cl;
            uint64_t dropped = st.dropped;
            CHECK_ERR(sabre_ring_claim(p, 1, 0, &cl), SABRE_EFULL);
            CHECK_OK(sabre_ring_stats(ring, &st));
            CHECK_EQ(st.dropped, dropped + 1);
            for (uint32_t i = 0; i < b.count; i++) {
                CHECK(payload_ok(ring, sabre_ring_batch_chunk(c, &b, i)));
                CHECK(payload_ok(ring, sabre_ring_batch_chunk(c, &b2, i)));
            }
            CHECK_OK(sabre_ring_release(c, &b));
            CHECK_OK(sabre_ring_release(c, &b2));
            CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
            CHECK_OK(sabre_ring_commit(p, &cl));
        }
        sabre_ring_consumer_close(c);
        sabre_ring_producer_close(p);
        sabre_ring_close(ring);
    }
    sabre_region_close(reg);
}

/* ---- many producers: threads or processes ------------------------------------------- */

struct prod_args {
    sabre_ring_t *ring;
    uint64_t attempts; /* chunks to try */
    uint32_t seed;
    _Atomic uint64_t committed;
    _Atomic uint64_t refused;
    _Atomic bool finished;
    uint32_t id;
    uint32_t maxb;  /* largest claim, 0 = 4 */
    uint32_t index; /* which producer of the test */
    bool pace;      /* yield after each claim so the consumer keeps up */
};

static int run_producer(struct prod_args *a)
{
    sabre_ring_producer_t *p = NULL;
    if (sabre_ring_producer_open(a->ring, &p) != SABRE_OK)
        return 2;
    a->id = sabre_ring_producer_id(p);
    uint64_t done = 0, committed = 0, refused = 0;
    uint32_t x = a->seed | 1;
    while (done < a->attempts) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t n = 1 + x % (a->maxb ? a->maxb : 4);
        if (n > a->attempts - done)
            n = (uint32_t)(a->attempts - done);
        sabre_ring_claim_t cl;
        int rc = sabre_ring_claim(p, n, UINT64_MAX, &cl);
        done += n;
        if (rc == SABRE_EFULL) {
            refused += n;
            continue;
        }
        if (rc != SABRE_OK)
            return 3;
        for (uint32_t i = 0; i < cl.count; i++)
            fill_payload(a->ring, &cl.chunks[i], a->index);
        if (sabre_ring_commit(p, &cl) != SABRE_OK)
            return 4;
        committed += n;
        if (a->pace)
            sched_yield();
    }
    atomic_store(&a->committed, committed);
    atomic_store(&a->refused, refused);
    sabre_ring_producer_close(p);
    return 0;
}

static void *producer_thread(void *arg)
{
    struct prod_args *a = arg;
    if (run_producer(a) != 0)
        atomic_store(&a->committed, UINT64_MAX);
    atomic_store(&a->finished, true);
    return NULL;
}

#define NPROD 4

static void many(sabre_ring_shape_t shape, sabre_ring_policy_t pol, bool processes)
{
    uint64_t per = check_scale(20000);
    sabre_region_t *reg = make_region(8 << 20);
    sabre_ring_desc_t d = {.name = "many",
                           .shape = shape,
                           .policy = pol,
                           .capacity = 64,
                           .producers = NPROD,
                           .record_size = 64,
                           .spin_ns = 5000};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    struct prod_args args[NPROD];
    pthread_t th[NPROD];
    pid_t pids[NPROD];
    for (int i = 0; i < NPROD; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].ring = ring;
        args[i].attempts = per;
        args[i].seed = 12345u * (uint32_t)(i + 1);
        args[i].index = (uint32_t)i;
        args[i].pace = pol != SABRE_RING_BLOCK;
        if (processes) {
            pids[i] = fork();
            CHECK(pids[i] >= 0);
            if (pids[i] == 0)
                _exit(run_producer(&args[i]));
        } else {
            CHECK(pthread_create(&th[i], NULL, producer_thread, &args[i]) == 0);
        }
    }
    uint64_t next_seq[NPROD], got[NPROD];
    memset(next_seq, 0, sizeof next_seq);
    memset(got, 0, sizeof got);
    int running = NPROD;
    uint64_t batches = 0;
    for (;;) {
        sabre_ring_batch_t b;
        int rc = sabre_ring_consume(c, 16, 2000000, &b);
        if (rc == SABRE_OK) {
            for (uint32_t i = 0; i < b.count; i++) {
                sabre_chunk_t *ch = sabre_ring_batch_chunk(c, &b, i);
                CHECK(ch->producer < NPROD);
                CHECK(payload_ok(ring, ch));
                /* per-producer order; gaps only where overwritten */
                if (pol == SABRE_RING_OVERWRITE_OLDEST)
                    CHECK(ch->sequence >= next_seq[ch->producer]);
                else
                    CHECK_EQ(ch->sequence, next_seq[ch->producer]);
                next_seq[ch->producer] = ch->sequence + 1;
                CHECK(payload_tag(ring, ch) < NPROD);
                got[payload_tag(ring, ch)]++;
            }
            /* sometimes hold a batch across the next consume */
            CHECK_OK(sabre_ring_release(c, &b));
            batches++;
            continue;
        }
        CHECK(rc == SABRE_ETIMEDOUT);
        if (running == 0)
            break;
        if (processes) {
            for (int i = 0; i < NPROD; i++) {
                if (pids[i] <= 0)
                    continue;
                int st = 0;
                pid_t w = waitpid(pids[i], &st, WNOHANG);
                if (w == pids[i]) {
                    CHECK(WIFEXITED(st));
                    CHECK_EQ(WEXITSTATUS(st), 0);
                    pids[i] = 0;
                    running--;
                }
            }
        } else {
            int fin = 0;
            for (int i = 0; i < NPROD; i++)
                fin += atomic_load(&args[i].finished);
            if (fin == NPROD) {
                for (int i = 0; i < NPROD; i++)
                    pthread_join(th[i], NULL);
                running = 0;
            }
        }
    }
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(ring, &st));
    uint64_t total = 0;
    for (int i = 0; i < NPROD; i++)
        total += got[i];
    CHECK_EQ(st.consumed, total);
    CHECK_EQ(st.produced + st.dropped + st.aborted, per * NPROD);
    CHECK_EQ(st.abandoned, 0);
    if (pol == SABRE_RING_BLOCK) {
        CHECK_EQ(total, per * NPROD); /* no loss */
        CHECK_EQ(st.dropped, 0);
        for (int i = 0; i < NPROD; i++)
            CHECK_EQ(got[i], per);
    } else if (pol == SABRE_RING_DROP_NEWEST) {
        CHECK_EQ(total, st.produced); /* everything committed is delivered */
        CHECK_EQ(st.overwritten, 0);
    } else {
        CHECK_EQ(total + st.overwritten, st.produced);
    }
    if (!processes)
        for (int i = 0; i < NPROD; i++)
            CHECK(atomic_load(&args[i].committed) != UINT64_MAX);
    printf("%s %-9s %-9s: %llu chunks, %llu delivered, %llu dropped, %llu overwritten\n",
           shape == SABRE_RING_LANES ? "lanes" : "mpsc ",
           pol == SABRE_RING_BLOCK         ? "block"
           : pol == SABRE_RING_DROP_NEWEST ? "drop"
                                           : "overwrite",
           processes ? "processes" : "threads", (unsigned long long)(per * NPROD),
           (unsigned long long)total, (unsigned long long)st.dropped,
           (unsigned long long)st.overwritten);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
    sabre_region_close(reg);
}

/* ---- a blocked producer is woken by a release --------------------------------------- */

static void test_block_wakeup(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_ring_desc_t d = {.name = "blk",
                           .policy = SABRE_RING_BLOCK,
                           .capacity = 2,
                           .producers = 1,
                           .record_size = 64};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &d, &ring));
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    struct prod_args a = {.ring = ring, .attempts = 50, .seed = 7, .maxb = 2};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, producer_thread, &a) == 0);
    uint64_t got = 0;
    while (got < 50) {
        sabre_ring_batch_t b;
        CHECK_OK(sabre_ring_consume(c, 1, 5000000000ull, &b));
        got += b.count;
        CHECK_OK(sabre_ring_release(c, &b));
    }
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&a.committed), 50);
    sabre_ring_stats_t st;
    CHECK_OK(sabre_ring_stats(ring, &st));
    CHECK_EQ(st.consumed, 50);
    sabre_ring_consumer_close(c);
    sabre_ring_close(ring);
    sabre_region_close(reg);
}

/* docs/abi.md "Ring object": where each field sits in a chunk, chunk_stride,
 * struct-typed fields, and the field-name limit. */
static void test_field_placement(void)
{
    sabre_region_t *reg = make_region(4 << 20);
    const char *text = "struct V { x: f32; y: f32; z: u8; }\n"
                       "struct Step { pos: V; act: i16[3]; done: bool; }";
    sabre_schema_t *sch = NULL;
    CHECK_OK(sabre_schema_compile(text, strlen(text), &sch, NULL));
    const uint32_t T = 5, E = 3;
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg,
                               &(sabre_ring_desc_t){.name = "placed",
                                                    .layout = sabre_schema_root(sch),
                                                    .steps = T,
                                                    .envs = E,
                                                    .capacity = 4,
                                                    .producers = 1},
                               &ring));
    /* elem sizes: V is 12 (x, y, z, 3 bytes of tail padding), i16[3] 6, bool 1;
     * each field at the previous end rounded up to 64. */
    const struct {
        const char *name;
        uint32_t elem;
        uint64_t offset;
    } want[] = {{"pos", 12, 0}, {"act", 6, 192}, {"done", 1, 320}};
    for (int i = 0; i < 3; i++) {
        sabre_ring_field_t f;
        CHECK_OK(sabre_ring_field_find(ring, want[i].name, &f));
        CHECK_EQ(f.elem_size, want[i].elem);
        CHECK_EQ(f.offset, want[i].offset);
        CHECK_EQ(f.size, (uint64_t)T * E * want[i].elem);
    }
    CHECK_EQ(sabre_ring_chunk_stride(ring), 384); /* align64(320 + 15) */
    /* Element [t][e] of a struct field is the struct's bytes in schema layout. */
    sabre_ring_producer_t *p = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    sabre_ring_claim_t cl;
    CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
    uint8_t *payload = (uint8_t *)cl.data;
    float y = 2.5f;
    memcpy(payload + 0 + (2u * E + 1) * 12 + 4, &y, 4); /* pos[t=2][e=1].y */
    const uint8_t *el = (const uint8_t *)sabre_chunk_array(ring, cl.chunks, 0) + (2u * E + 1) * 12;
    float got;
    memcpy(&got, el + 4, 4);
    CHECK(got == 2.5f);
    CHECK_OK(sabre_ring_abort(p, &cl));
    sabre_ring_producer_close(p);
    sabre_ring_close(ring);
    sabre_schema_free(sch);
    /* Field names: 39 bytes fit the field record's char[40], 40 do not. */
    char name39[40], name40[41], st[200];
    memset(name39, 'a', 39);
    name39[39] = '\0';
    memset(name40, 'b', 40);
    name40[40] = '\0';
    snprintf(st, sizeof st, "struct S { %s: f32; %s: f32; }", name39, name40);
    CHECK_OK(sabre_schema_compile(st, strlen(st), &sch, NULL)); /* the schema allows 63 */
    CHECK_ERR(sabre_ring_create(reg,
                                &(sabre_ring_desc_t){.name = "long",
                                                     .layout = sabre_schema_root(sch),
                                                     .steps = 1,
                                                     .envs = 1,
                                                     .capacity = 2,
                                                     .producers = 1},
                                &ring),
              SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), name40);
    CHECK_STR_CONTAINS(sabre_last_error(), "at most 39 bytes");
    sabre_schema_free(sch);
    snprintf(st, sizeof st, "struct S { %s: f32; }", name39);
    CHECK_OK(sabre_schema_compile(st, strlen(st), &sch, NULL));
    CHECK_OK(sabre_ring_create(reg,
                               &(sabre_ring_desc_t){.name = "long",
                                                    .layout = sabre_schema_root(sch),
                                                    .steps = 1,
                                                    .envs = 1,
                                                    .capacity = 2,
                                                    .producers = 1},
                               &ring));
    sabre_ring_field_t f;
    CHECK_OK(sabre_ring_field_find(ring, name39, &f));
    sabre_ring_close(ring);
    sabre_schema_free(sch);
    sabre_region_close(reg);
}

int main(void)
{
    test_basic();
    test_field_placement();
    test_cursor_lanes();
    for (int shape = 0; shape < 2; shape++)
        for (int pol = 0; pol < 3; pol++)
            test_wrap((sabre_ring_shape_t)shape, (sabre_ring_policy_t)pol);
    test_policies(SABRE_RING_LANES);
    test_policies(SABRE_RING_MPSC);
    test_block_wakeup();
    for (int shape = 0; shape < 2; shape++)
        for (int pol = 0; pol < 3; pol++)
            for (int proc = 0; proc < 2; proc++)
                many((sabre_ring_shape_t)shape, (sabre_ring_policy_t)pol, proc);
    return check_done();
}
