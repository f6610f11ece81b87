/*
 * ring.c - rollout rings: per-producer SPSC lanes and an MPSC ring of
 * chunked SoA records, with drop/block/overwrite policies and dead-producer
 * reclaim.  Byte layout and atomics: docs/abi.md ("Ring object"); protocol:
 * docs/rl.md.
 *
 * A chunk is a 16-byte header (sabre_chunk_t) in the headers array, a
 * 32-byte slot record (rg_meta) in the records array and a payload in the
 * payloads array, all indexed by lane * capacity + slot.  Cursor lanes
 * write the slot records of a claim's first and last chunks only (the
 * claim's end, policy version and commit time); MPSC and overwrite rings
 * write every chunk's,
 * whose 64-bit state word is position << 8 | flags | state, with state FREE
 * (the slot may be claimed for `position`), COMMITTED (holds `position`) or
 * READING (the consumer holds `position` in place), and the flags
 * ABANDONED / PAD on a COMMITTED word (skip it).  Positions are monotonic
 * per lane (LANES) or per ring (MPSC); claims and batches never cross the
 * end of a lane's slot array (padding: docs/rl.md).
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rl_internal.h"
#include "sabre/ring.h"

enum { ST_FREE = 0, ST_COMMITTED = 1, ST_READING = 2 };
#define FL_ABANDONED 0x4ull
#define FL_PAD       0x8ull
#define FLAGS_MASK   0xfcull

static inline uint64_t mk(uint64_t pos, unsigned st, uint64_t fl)
{
    return (pos << 8) | fl | st;
}
static inline uint64_t pos_of(uint64_t s)
{
    return s >> 8;
}
static inline unsigned st_of(uint64_t s)
{
    return (unsigned)(s & 3);
}

typedef struct rg_hdr {
    uint32_t magic;                /* 0 */
    uint16_t abi_major, abi_minor; /* 4 */
    uint32_t shape, policy;        /* 8 */
    uint32_t capacity, nproducers; /* 16 */
    uint32_t nlanes, nfields;      /* 24 */
    uint32_t steps, envs;          /* 32 */
    uint64_t chunk_stride;         /* 40: payload stride */
    uint64_t headers_offset;       /* 48 */
    uint64_t layout_hash;          /* 56 */
    uint64_t reclaim_ns;           /* 64 */
    uint64_t spin_ns;              /* 72 */
    uint64_t fields_offset;        /* 80 */
    uint64_t lanes_offset;         /* 88 */
    uint64_t producers_offset;     /* 96 */
    uint64_t meta_offset;          /* 104 */
    uint64_t payloads_offset;      /* 112 */
    uint64_t object_size;          /* 120 */
    /* line @128: the consumer record (written by the consumer) */
    _Atomic uint64_t cons_owner;
    _Atomic uint64_t consumed;
    _Atomic uint64_t cons_wait_ns;
    _Atomic uint64_t lag_min;
    _Atomic uint64_t lag_max;
    _Atomic uint64_t lag_sum;
    _Atomic uint64_t lag_count;
    _Atomic uint64_t cur_version;
    _Atomic uint64_t held;
    uint8_t pad1[256 - 200];
    /* line @256: consumer wake-up word (bumped by producers) */
    _Atomic uint32_t commit_seq;
    _Atomic uint32_t cons_waiting;
    uint8_t pad2[384 - 264];
    /* line @384: producer wake-up word (bumped by the consumer) */
    _Atomic uint32_t release_seq;
    _Atomic uint32_t prod_waiters;
    uint8_t pad3[512 - 392];
    /* line @512: reclaim counter (consumer or a producer taking over) */
    _Atomic uint64_t abandoned;
    uint8_t pad4[640 - 520];
} rg_hdr;
_Static_assert(sizeof(rg_hdr) == 640, "ring header is 640 bytes");
_Static_assert(offsetof(rg_hdr, cons_owner) == 128, "consumer line at 128");
_Static_assert(offsetof(rg_hdr, commit_seq) == 256, "commit_seq at 256");
_Static_assert(offsetof(rg_hdr, release_seq) == 384, "release_seq at 384");
_Static_assert(offsetof(rg_hdr, abandoned) == 512, "abandoned at 512");

typedef struct rg_field { /* 64 bytes */
    char name[40];
    uint32_t elem_size;
    uint32_t reserved;
    uint64_t offset;
    uint64_t size;
} rg_field;
_Static_assert(sizeof(rg_field) == 64, "field record is 64 bytes");

typedef struct rg_lane {   /* 384 bytes: three 128-byte lines */
    _Atomic uint64_t head; /* cursor lanes: committed end; otherwise next position to claim */
    uint8_t pad0[128 - 8];
    _Atomic uint64_t tail; /* consumer position (chunks handed out) */
    uint8_t pad1[128 - 8];
    _Atomic uint64_t freed; /* cursor lanes: released end (consumer; read by the producer) */
    uint8_t pad2[128 - 8];
} rg_lane;
_Static_assert(sizeof(rg_lane) == 384, "lane is 384 bytes");
_Static_assert(offsetof(rg_lane, tail) == 128 && offsetof(rg_lane, freed) == 256,
               "lane words 128 bytes apart");

typedef struct rg_prod { /* 128 bytes, written by its producer */
    _Atomic uint64_t owner;
    _Atomic uint64_t intent; /* first << 9 | count of the current claim, 0 = none */
    _Atomic uint64_t heartbeat_ns;
    _Atomic uint64_t produced;
    _Atomic uint64_t dropped;
    _Atomic uint64_t overwritten;
    _Atomic uint64_t aborted;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t seq_next;
    uint8_t pad[128 - 72];
} rg_prod;
_Static_assert(sizeof(rg_prod) == 128, "producer record is 128 bytes");

_Static_assert(sizeof(sabre_chunk_t) == 16, "chunk header is 16 bytes");
_Static_assert(offsetof(sabre_chunk_t, valid_steps) == 8 &&
                   offsetof(sabre_chunk_t, producer) == 12 &&
                   offsetof(sabre_chunk_t, claim_rest) == 14,
               "chunk header words");

/* Slot record (32 bytes).  Cursor lanes: written in the slots of a claim's
 * first and last chunks only; the others: in every chunk's slot. */
typedef struct rg_meta {
    _Atomic uint64_t state;  /* MPSC / overwrite: the state word; cursor lanes: unused (0) */
    uint64_t policy_version; /* the claim's version */
    uint64_t commit_ns;      /* the claim's commit time, 0 before */
    uint64_t claim_end;      /* cursor lanes: end position of the claim (padding:
                                RG_END_PAD | its end); others: 0 */
} rg_meta;
_Static_assert(sizeof(rg_meta) == 32, "slot record is 32 bytes");

#define RG_FIELDS_OFFSET 640u
#define RG_PAD           0x8000u /* claim_rest of a padding header */
#define RG_REST_MASK     0x7fffu
#define RG_END_PAD       (1ull << 63) /* claim_end of padding's first slot record */

typedef uint64_t rg_v2 __attribute__((vector_size(16)));
typedef uint64_t rg_v8 __attribute__((vector_size(64)));
typedef void (*rg_fill_fn)(sabre_chunk_t *hc, uint32_t n, uint64_t seq, uint64_t w);
static rg_fill_fn pick_fill_headers(void);

/* Geometry and field table copied from the header once validated: a hostile
 * process that rewrites the header later cannot make this handle read out of
 * bounds. */
typedef struct rg_geo {
    uint32_t shape, policy, capacity, nproducers, nlanes, nfields, steps, envs;
    uint64_t chunk_stride, layout_hash, reclaim_ns, spin_ns;
} rg_geo;

struct sabre_ring {
    sabre_region_t *region;
    sabre_object_t obj;
    rg_hdr *h;
    rg_geo g;
    rg_field fields[SABRE_RING_MAX_FIELDS];
    rg_lane *lanes;
    rg_prod *prods;
    sabre_chunk_t *hdrs; /* [nlanes * capacity] */
    rg_meta *meta;       /* [nlanes * capacity] */
    uint8_t *pay;        /* [nlanes * capacity] payloads of `stride` bytes */
    uint64_t nslots;     /* nlanes * capacity */
    unsigned cap_shift;  /* log2(capacity) */
    uint64_t mask;
    uint64_t cap;
    uint64_t stride;
    rg_fill_fn fill_headers; /* the claim headers' writer for this CPU */
    bool overwrite;
    bool cursor; /* LANES with DROP_NEWEST or BLOCK: the cursor-only lane protocol */
};

struct sabre_ring_producer {
    sabre_ring_t *r;
    rg_prod *rec;
    uint64_t self; /* identity of the owning process */
    uint32_t idx;
    uint64_t version;
    uint64_t head;  /* cursor lanes: the lane's committed end (this handle is its only writer) */
    uint64_t freed; /* cursor lanes: last seen released end */
    bool claimed;
    sabre_ring_claim_t cur; /* the outstanding claim */
};

/* A batch of a cursor lane released before the batches ahead of it. */
typedef struct rg_pend {
    uint32_t lane;
    uint64_t first, end;
} rg_pend;

struct sabre_ring_consumer {
    sabre_ring_t *r;
    uint64_t self;
    uint32_t rr;
    uint64_t *tail;        /* per lane */
    uint64_t *stuck_pos;   /* per lane */
    uint64_t *stuck_since; /* per lane, 0 = not stuck */
    /* cursor lanes, per lane: */
    uint64_t *head;    /* last seen committed end */
    uint64_t *freed;   /* released end */
    uint64_t *run_end; /* end of the claim whose version is run_ver */
    uint64_t *run_ver;
    rg_pend *pend; /* batches released out of order, not yet contiguous with freed */
    uint32_t npend, pend_cap;
    uint64_t next_reap_ns;
    uint64_t cur_version;
    uint64_t lag_min, lag_max, lag_sum, lag_count;
};

/* Index of (lane, pos) in the headers / records / payloads arrays. */
static inline uint64_t slot_of(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return ((uint64_t)lane << r->cap_shift) + (pos & r->mask);
}
static inline sabre_chunk_t *chunk_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->hdrs + slot_of(r, lane, pos);
}
static inline rg_meta *meta_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->meta + slot_of(r, lane, pos);
}
static inline _Atomic uint64_t *state_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return &r->meta[slot_of(r, lane, pos)].state;
}
static inline uint8_t *payload_at(const sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    return r->pay + slot_of(r, lane, pos) * r->stride;
}
/* Chunks from `pos` to the end of its lane's slot array. */
static inline uint64_t to_wrap(const sabre_ring_t *r, uint64_t pos)
{
    return r->cap - (pos & r->mask);
}

static inline uint64_t intent_of(uint64_t first, uint32_t n)
{
    return (first << 9) | n;
}

/* ---- create / open ------------------------------------------------------- */

static int validate(sabre_ring_t *r, const char *name)
{
    rg_hdr *h = r->obj.ptr;
    uint64_t size = r->obj.size;
    if (size < sizeof(rg_hdr))
        return sabre__fail(SABRE_ECORRUPT,
                           "ring '%s': object of %llu bytes is smaller than its "
                           "header",
                           name, (unsigned long long)size);
    if (h->magic != SABRE_RING_MAGIC)
        return sabre__fail(SABRE_ECORRUPT, "ring '%s': magic is 0x%08x, want 0x%08x", name,
                           h->magic, SABRE_RING_MAGIC);
    if (h->abi_major != SABRE_RING_ABI_MAJOR)
        return sabre__fail(SABRE_EVERSION,
                           "ring '%s': object ABI version %u.%u, this library "
                           "reads %u.x",
                           name, h->abi_major, h->abi_minor, SABRE_RING_ABI_MAJOR);
    /* Read the geometry once and check the copy: the header may be changing. */
    rg_geo g = {.shape = h->shape,
                .policy = h->policy,
                .capacity = h->capacity,
                .nproducers = h->nproducers,
                .nlanes = h->nlanes,
                .nfields = h->nfields,
                .steps = h->steps,
                .envs = h->envs,
                .chunk_stride = h->chunk_stride,
                .layout_hash = h->layout_hash,
                .reclaim_ns = h->reclaim_ns,
                .spin_ns = h->spin_ns};
    uint64_t lanes_off = h->lanes_offset, prods_off = h->producers_offset;
    uint64_t hdrs_off = h->headers_offset, meta_off = h->meta_offset;
    uint64_t pay_off = h->payloads_offset;
    bool lanes = g.shape == SABRE_RING_LANES;
    if (g.shape > SABRE_RING_MPSC || g.policy > SABRE_RING_OVERWRITE_OLDEST || g.capacity == 0 ||
        (g.capacity & (g.capacity - 1)) || g.capacity > SABRE_RING_MAX_CAPACITY ||
        g.nproducers == 0 || g.nproducers > SABRE_RING_MAX_PRODUCERS ||
        g.nlanes != (lanes ? g.nproducers : 1) || g.nfields == 0 ||
        g.nfields > SABRE_RING_MAX_FIELDS || g.steps == 0 || g.envs == 0 || g.chunk_stride < 64 ||
        g.chunk_stride % 64 || h->fields_offset != RG_FIELDS_OFFSET || lanes_off % 128 ||
        lanes_off > size || prods_off % 128 || prods_off > size || hdrs_off % 64 ||
        hdrs_off > size || meta_off % 64 || meta_off > size || pay_off % 64 || pay_off > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "ring '%s': bad geometry (shape %u, policy %u, "
                           "capacity %u, producers %u, lanes %u, fields %u, chunk %llu)",
                           name, g.shape, g.policy, g.capacity, g.nproducers, g.nlanes, g.nfields,
                           (unsigned long long)g.chunk_stride);
    if (g.chunk_stride > (1ull << 39) / g.capacity)
        return sabre__fail(SABRE_ECORRUPT, "ring '%s': %u chunks of %llu bytes is too large", name,
                           g.capacity, (unsigned long long)g.chunk_stride);
    /* every term is bounded (offsets <= size, stride * capacity <= 2^39,
     * lanes <= 256, slots <= 2^28) */
    uint64_t nslots = (uint64_t)g.nlanes * g.capacity;
    uint64_t fields_end = RG_FIELDS_OFFSET + (uint64_t)g.nfields * sizeof(rg_field);
    uint64_t lanes_end = lanes_off + (uint64_t)g.nlanes * sizeof(rg_lane);
    uint64_t prods_end = prods_off + (uint64_t)g.nproducers * sizeof(rg_prod);
    uint64_t hdrs_end = hdrs_off + nslots * sizeof(sabre_chunk_t);
    uint64_t meta_end = meta_off + nslots * sizeof(rg_meta);
    uint64_t pay_end = pay_off + nslots * g.chunk_stride;
    if (lanes_off < fields_end || prods_off < lanes_end || hdrs_off < prods_end ||
        meta_off < hdrs_end || pay_off < meta_end || pay_end > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "ring '%s': sections do not fit the %llu-byte object "
                           "(payloads end at %llu)",
                           name, (unsigned long long)size, (unsigned long long)pay_end);
    memcpy(r->fields, (uint8_t *)h + RG_FIELDS_OFFSET, g.nfields * sizeof(rg_field));
    for (uint32_t i = 0; i < g.nfields; i++) {
        rg_field *f = &r->fields[i];
        if (memchr(f->name, 0, sizeof f->name) == NULL || f->offset % 64 ||
            f->size > g.chunk_stride || f->offset > g.chunk_stride - f->size)
            return sabre__fail(SABRE_ECORRUPT,
                               "ring '%s': field %u does not fit the %llu-byte "
                               "payload",
                               name, i, (unsigned long long)g.chunk_stride);
    }
    r->g = g;
    r->h = h;
    r->lanes = (rg_lane *)((uint8_t *)h + lanes_off);
    r->prods = (rg_prod *)((uint8_t *)h + prods_off);
    r->hdrs = (sabre_chunk_t *)((uint8_t *)h + hdrs_off);
    r->meta = (rg_meta *)((uint8_t *)h + meta_off);
    r->pay = (uint8_t *)h + pay_off;
    r->nslots = nslots;
    r->cap = g.capacity;
    r->mask = g.capacity - 1;
    r->cap_shift = (unsigned)__builtin_ctz(g.capacity);
    r->stride = g.chunk_stride;
    r->overwrite = g.policy == SABRE_RING_OVERWRITE_OLDEST;
    r->cursor = lanes && !r->overwrite;
    r->fill_headers = pick_fill_headers();
    return SABRE_OK;
}

int sabre_ring_create(sabre_region_t *region, const sabre_ring_desc_t *d, sabre_ring_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !d || !out || !d->name)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_create: NULL argument or name");
    uint32_t cap = d->capacity ? d->capacity : 64;
    uint32_t nprod = d->producers ? d->producers : 4;
    uint32_t T = d->steps ? d->steps : 1, E = d->envs ? d->envs : 1;
    if ((unsigned)d->shape > SABRE_RING_MPSC)
        return sabre__fail(SABRE_EINVAL, "ring '%s': unknown shape %d", d->name, (int)d->shape);
    if ((unsigned)d->policy > SABRE_RING_OVERWRITE_OLDEST)
        return sabre__fail(SABRE_EINVAL, "ring '%s': unknown policy %d", d->name, (int)d->policy);
    if (cap & (cap - 1) || cap > SABRE_RING_MAX_CAPACITY)
        return sabre__fail(SABRE_EINVAL, "ring '%s': capacity %u is not a power of two <= %u",
                           d->name, cap, SABRE_RING_MAX_CAPACITY);
    if (nprod > SABRE_RING_MAX_PRODUCERS)
        return sabre__fail(SABRE_EINVAL, "ring '%s': %u producers, at most %d", d->name, nprod,
                           SABRE_RING_MAX_PRODUCERS);
    if ((uint64_t)T * E > (1u << 24))
        return sabre__fail(SABRE_EINVAL, "ring '%s': %u steps x %u envs is too many", d->name, T,
                           E);
    rg_field fields[SABRE_RING_MAX_FIELDS];
    memset(fields, 0, sizeof fields);
    uint32_t nf = 0;
    uint64_t off = 0;
    if (d->layout) {
        for (uint32_t i = 0; i < d->layout->nfields; i++) {
            const sabre_field_t *fd = &d->layout->fields[i];
            if (fd->kind == SABRE_FIELD_PAD)
                continue;
            if (nf == SABRE_RING_MAX_FIELDS)
                return sabre__fail(SABRE_EINVAL, "ring '%s': layout has more than %d fields",
                                   d->name, SABRE_RING_MAX_FIELDS);
            if (!sabre__strlcpy(fields[nf].name, fd->name, sizeof fields[nf].name))
                return sabre__fail(SABRE_EINVAL,
                                   "ring '%s': field name '%s' is longer than 39 "
                                   "bytes",
                                   d->name, fd->name);
            fields[nf].elem_size = fd->size;
            fields[nf].size = (uint64_t)fd->size * T * E;
            nf++;
        }
        if (nf == 0)
            return sabre__fail(SABRE_EINVAL, "ring '%s': layout '%s' has no fields", d->name,
                               d->layout->name);
    } else {
        if (d->record_size == 0 || d->record_size > (1ull << 32))
            return sabre__fail(SABRE_EINVAL,
                               "ring '%s': no layout and record_size %llu (want "
                               "1 .. 2^32)",
                               d->name, (unsigned long long)d->record_size);
        strcpy(fields[0].name, "data");
        fields[0].elem_size = (uint32_t)SABRE_MIN(d->record_size, UINT32_MAX);
        fields[0].size = d->record_size;
        nf = 1;
    }
    for (uint32_t i = 0; i < nf; i++) {
        fields[i].offset = off;
        off = SABRE_ALIGN_UP(off + fields[i].size, 64);
    }
    uint64_t stride = off;
    uint32_t nlanes = d->shape == SABRE_RING_LANES ? nprod : 1;
    uint64_t nslots = (uint64_t)nlanes * cap;
    if (stride > (1ull << 39) / cap / nlanes)
        return sabre__fail(SABRE_EINVAL, "ring '%s': %u x %u chunks of %llu bytes is too large",
                           d->name, nlanes, cap, (unsigned long long)stride);
    uint64_t lanes_off = SABRE_ALIGN_UP(RG_FIELDS_OFFSET + nf * sizeof(rg_field), 128);
    uint64_t prods_off = lanes_off + nlanes * sizeof(rg_lane);
    uint64_t hdrs_off = prods_off + nprod * sizeof(rg_prod); /* a 128 multiple */
    uint64_t meta_off = SABRE_ALIGN_UP(hdrs_off + nslots * sizeof(sabre_chunk_t), 128);
    uint64_t align = stride >= 65536 ? 4096 : 128;
    uint64_t pay_off = SABRE_ALIGN_UP(meta_off + nslots * sizeof(rg_meta), align);
    uint64_t total = pay_off + stride * nslots;

    sabre_ring_t *r = calloc(1, sizeof *r);
    if (!r)
        return sabre__fail(SABRE_ENOMEM, "ring '%s': out of memory", d->name);
    sabre_object_desc_t od = {.name = d->name,
                              .kind = SABRE_OBJ_RING,
                              .size = total,
                              .align = (uint32_t)align,
                              .layout = d->layout};
    int rc = sabre_region_alloc(region, &od, &r->obj);
    if (rc) {
        free(r);
        return rc;
    }
    rg_hdr *h = r->obj.ptr;
    h->magic = SABRE_RING_MAGIC;
    h->abi_major = SABRE_RING_ABI_MAJOR;
    h->abi_minor = SABRE_RING_ABI_MINOR;
    h->shape = (uint32_t)d->shape;
    h->policy = (uint32_t)d->policy;
    h->capacity = cap;
    h->nproducers = nprod;
    h->nlanes = nlanes;
    h->nfields = nf;
    h->steps = T;
    h->envs = E;
    h->chunk_stride = stride;
    h->headers_offset = hdrs_off;
    h->layout_hash = r->obj.layout_hash;
    h->reclaim_ns = d->reclaim_ns ? d->reclaim_ns : 250000000ull;
    h->spin_ns = d->spin_ns ? d->spin_ns : 100000ull;
    h->fields_offset = RG_FIELDS_OFFSET;
    h->lanes_offset = lanes_off;
    h->producers_offset = prods_off;
    h->meta_offset = meta_off;
    h->payloads_offset = pay_off;
    h->object_size = total;
    memcpy((uint8_t *)h + RG_FIELDS_OFFSET, fields, nf * sizeof(rg_field));
    atomic_store_explicit(&h->lag_min, UINT64_MAX, memory_order_relaxed);
    r->region = region;
    rc = validate(r, d->name);
    if (rc) {
        free(r);
        return rc;
    }
    for (uint32_t l = 0; l < nlanes; l++)
        for (uint64_t p = 0; p < cap; p++)
            atomic_store_explicit(state_at(r, l, p), r->cursor ? 0 : mk(p, ST_FREE, 0),
                                  memory_order_relaxed);
    *out = r;
    return SABRE_OK;
}

int sabre_ring_open(sabre_region_t *region, const char *name, const sabre_layout_t *expect,
                    uint32_t steps, uint32_t envs, sabre_ring_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_open: NULL argument");
    sabre_ring_t *r = calloc(1, sizeof *r);
    if (!r)
        return sabre__fail(SABRE_ENOMEM, "ring '%s': out of memory", name);
    int rc = sabre_region_find(region, name, expect, &r->obj);
    if (rc == SABRE_OK && r->obj.kind != SABRE_OBJ_RING)
        rc = sabre__fail(SABRE_EINVAL, "object '%s' is a %s object, not a ring", name,
                         sabre_object_kind_name(r->obj.kind));
    if (rc == SABRE_OK)
        rc = validate(r, name);
    if (rc == SABRE_OK && ((steps && steps != r->g.steps) || (envs && envs != r->g.envs)))
        rc = sabre__fail(SABRE_ELAYOUT,
                         "ring '%s': chunks are %u steps x %u envs, expected "
                         "%u x %u",
                         name, r->g.steps, r->g.envs, steps ? steps : r->g.steps,
                         envs ? envs : r->g.envs);
    if (rc) {
        free(r);
        return rc;
    }
    r->region = region;
    *out = r;
    return SABRE_OK;
}

void sabre_ring_close(sabre_ring_t *r)
{
    free(r);
}

uint32_t sabre_ring_field_count(const sabre_ring_t *r)
{
    return r ? r->g.nfields : 0;
}
uint64_t sabre_ring_chunk_stride(const sabre_ring_t *r)
{
    return r ? r->stride : 0;
}

int sabre_ring_field_at(const sabre_ring_t *r, uint32_t i, sabre_ring_field_t *out)
{
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_field_at: NULL argument");
    if (i >= r->g.nfields)
        return sabre__fail(SABRE_EINVAL, "ring '%s': field %u out of range (%u fields)",
                           r->obj.name, i, r->g.nfields);
    memset(out, 0, sizeof *out);
    out->index = i;
    sabre__strlcpy(out->name, r->fields[i].name, sizeof out->name);
    out->elem_size = r->fields[i].elem_size;
    out->offset = r->fields[i].offset;
    out->size = r->fields[i].size;
    return SABRE_OK;
}

int sabre_ring_field_find(const sabre_ring_t *r, const char *name, sabre_ring_field_t *out)
{
    if (!r || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_field_find: NULL argument");
    for (uint32_t i = 0; i < r->g.nfields; i++)
        if (!strcmp(r->fields[i].name, name))
            return sabre_ring_field_at(r, i, out);
    return sabre__fail(SABRE_ENOENT, "ring '%s': no field '%s'", r->obj.name, name);
}

/* Index of a header pointer in the headers array, or UINT64_MAX. */
static uint64_t index_of(const sabre_ring_t *r, const sabre_chunk_t *c)
{
    uintptr_t a = (uintptr_t)c, b = (uintptr_t)r->hdrs;
    if (a < b || (a - b) % sizeof(sabre_chunk_t) || (a - b) / sizeof(sabre_chunk_t) >= r->nslots)
        return UINT64_MAX;
    return (a - b) / sizeof(sabre_chunk_t);
}

void *sabre_chunk_array(const sabre_ring_t *r, const sabre_chunk_t *c, uint32_t field)
{
    if (!r || !c || field >= r->g.nfields)
        return NULL;
    uint64_t i = index_of(r, c);
    if (i == UINT64_MAX)
        return NULL;
    return r->pay + i * r->stride + r->fields[field].offset;
}

int sabre_ring_chunk_header(const sabre_ring_t *r, const sabre_chunk_t *c,
                            sabre_chunk_header_t *out)
{
    if (!r || !c || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_ring_chunk_header: NULL argument");
    memset(out, 0, sizeof *out);
    uint64_t i = index_of(r, c);
    if (i == UINT64_MAX)
        return sabre__fail(SABRE_EINVAL, "ring '%s': %p is not a chunk header of this ring",
                           r->obj.name, (const void *)c);
    /* one read of the word the producer may be rewriting */
    uint16_t rest =
        atomic_load_explicit((const _Atomic uint16_t *)&c->claim_rest, memory_order_relaxed);
    if (r->cursor && (rest & RG_PAD))
        return sabre__fail(SABRE_EINVAL, "ring '%s': chunk %llu of lane %llu is padding",
                           r->obj.name, (unsigned long long)(i & r->mask),
                           (unsigned long long)(i >> r->cap_shift));
    uint64_t rec = i;
    if (r->cursor) { /* the claim's record is in the slot of its last chunk */
        if ((i & r->mask) + (rest & RG_REST_MASK) >= r->cap)
            return sabre__fail(SABRE_ECORRUPT,
                               "ring '%s': chunk %llu of lane %llu: claim runs %u chunks "
                               "past the end of the lane",
                               r->obj.name, (unsigned long long)(i & r->mask),
                               (unsigned long long)(i >> r->cap_shift), rest & RG_REST_MASK);
        rec = i + (rest & RG_REST_MASK);
    }
    out->sequence = c->sequence;
    out->producer = c->producer;
    out->valid_steps = c->valid_steps;
    out->policy_version = r->meta[rec].policy_version;
    out->layout_hash = r->g.layout_hash;
    out->commit_ns = r->meta[rec].commit_ns;
    out->lane = (uint32_t)(i >> r->cap_shift);
    out->claim_rest = rest & RG_REST_MASK;
    return SABRE_OK;
}

/* ---- reclaim --------------------------------------------------------------- */

/* Mark FREE(pos) as abandoned (committed, flagged); true if this call did. */
static bool abandon(sabre_ring_t *r, uint32_t lane, uint64_t pos)
{
    uint64_t s = mk(pos, ST_FREE, 0);
    if (!atomic_compare_exchange_strong(state_at(r, lane, pos), &s,
                                        mk(pos, ST_COMMITTED, FL_ABANDONED)))
        return false;
    atomic_fetch_add(&r->h->abandoned, 1);
    return true;
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
static uint64_t reclaim(sabre_ring_t *r, uint32_t lane, uint64_t from, uint32_t skip)
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
            n += abandon(r, lane, p);
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
        n += abandon(r, 0, p);
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
static uint64_t reap_intent(sabre_ring_t *r, uint32_t lane)
{
    uint64_t in = atomic_exchange(&r->prods[lane].intent, 0);
    uint64_t first = in >> 9, n = in & 0x1ff;
    if (!n || atomic_load(&r->lanes[lane].head) > first)
        return 0;
    atomic_fetch_add(&r->h->abandoned, n);
    return n;
}

/* Consumer side: count the claims of dead producers of cursor lanes.  The
 * record is locked for the count by CASing its owner from the dead
 * identity to the consumer's (live) one, so a producer taking the record
 * over cannot interleave; the dead identity is put back afterwards. */
static void reap_dead_claims(sabre_ring_consumer_t *c)
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
        reap_intent(r, l);
        uint64_t me = c->self;
        atomic_compare_exchange_strong(&pr->owner, &me, own);
    }
}

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
    p->self = rl_self_identity();
    for (int pass = 0; pass < 2 && found < 0; pass++) {
        for (uint32_t k = 0; k < r->g.nproducers && found < 0; k++) {
            uint64_t cur = atomic_load(&r->prods[k].owner);
            if (pass == 0 ? cur != 0 : (cur == 0 || cur == p->self || rl_identity_alive(cur)))
                continue;
            if (atomic_compare_exchange_strong(&r->prods[k].owner, &cur, p->self))
                found = (int)k;
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
        reap_intent(r, (uint32_t)found);
        p->head = atomic_load(&r->lanes[found].head);
        p->freed = atomic_load(&r->lanes[found].freed);
    } else if (r->g.shape == SABRE_RING_LANES) {
        uint64_t head = atomic_load(&r->lanes[found].head);
        reclaim(r, (uint32_t)found, head > r->cap ? head - r->cap : 0, (uint32_t)found);
    } else if (in) {
        reclaim(r, 0, in >> 9, (uint32_t)found);
    }
    atomic_store(&p->rec->intent, 0);
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

/* Before a futex sleep, a waiter yields the CPU in a loop for spin_ns: on an
 * oversubscribed host the peer it waits for may share its core, and a
 * pause-spin would burn the peer's time slice (measured: bench_ring runs
 * 1.6x faster on a shared core with an immediate yield than after 2 us of
 * pausing, and no slower on separate cores). */
static void spin_pause(void)
{
    sched_yield();
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

static void wake_producers(rg_hdr *h)
{
    if (rl_fenced_load(&h->prod_waiters)) {
        atomic_fetch_add(&h->release_seq, 1);
        sabre__futex_wake(&h->release_seq, INT_MAX);
    }
}

static inline void counter_add(_Atomic uint64_t *c, uint64_t n)
{
    /* Single writer: a relaxed load + store is enough and cheaper than an RMW. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
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
} full_wait_t;

typedef bool (*room_fn)(sabre_ring_producer_t *p, uint32_t need, uint32_t lane);

/* n: the chunks the caller asked for (counted dropped on a refusal); need:
 * the room it waits for (n, or the padding before a claim). */
static int wait_for_room(sabre_ring_producer_t *p, uint32_t n, uint32_t need, uint32_t lane,
                         uint64_t timeout_ns, full_wait_t *fw, room_fn room)
{
    sabre_ring_t *r = p->r;
    rg_hdr *h = r->h;
    if (r->g.policy != SABRE_RING_BLOCK) {
        counter_add(&p->rec->dropped, n);
        return sabre__fail(SABRE_EFULL, "ring '%s': full, %u chunk(s) dropped", r->obj.name, n);
    }
    uint64_t now = sabre__now_ns();
    atomic_store_explicit(&p->rec->heartbeat_ns, now, memory_order_relaxed); /* waiting, alive */
    if (fw->t0 == 0) {
        fw->t0 = now;
        fw->deadline = rl_deadline(timeout_ns);
    }
    if (now >= fw->deadline) {
        counter_add(&p->rec->wait_ns, now - fw->t0);
        return sabre__fail(SABRE_ETIMEDOUT, "ring '%s': full for %llu ns", r->obj.name,
                           (unsigned long long)timeout_ns);
    }
    if (now - fw->t0 < r->g.spin_ns) {
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

static rg_fill_fn pick_fill_headers(void)
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
    full_wait_t fw = {0, 0};
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
    if (r->cursor)
        return claim_cursor(p, n, timeout_ns, claim);
    bool lanes = r->g.shape == SABRE_RING_LANES;
    uint32_t lane = lanes ? p->idx : 0;
    _Atomic uint64_t *headp = &r->lanes[lane].head;
    uint64_t hd;
    full_wait_t fw = {0, 0};
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
static int finish(sabre_ring_producer_t *p, sabre_ring_claim_t *uc, bool commit)
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
        if (commit)
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
    return finish(p, c, true);
}
int sabre_ring_abort(sabre_ring_producer_t *p, sabre_ring_claim_t *c)
{
    return finish(p, c, false);
}

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
    *out = c;
    return SABRE_OK;
}

void sabre_ring_consumer_close(sabre_ring_consumer_t *c)
{
    if (!c)
        return;
    sabre_ring_t *r = c->r;
    release_held(r, c->tail);
    wake_producers(r->h);
    uint64_t me = c->self;
    atomic_compare_exchange_strong(&r->h->cons_owner, &me, 0);
    free(c->tail);
    free(c->pend);
    free(c);
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
    if (reclaim(r, lane, t, UINT32_MAX))
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
        if (c->run_end[lane] > t)
            break;
        if (run_at(c, lane, t, hd, wrap, &e, &v)) {
            c->run_end[lane] = e;
            c->run_ver[lane] = v;
            break;
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
        uint64_t k = SABRE_MIN(c->run_end[lane], end) - pos;
        uint64_t lag = cur > c->run_ver[lane] ? cur - c->run_ver[lane] : 0;
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
            /* Overwrite policy: mark it held so producers leave it alone.  Other
             * policies: a COMMITTED chunk below the consumer's position is held. */
            if (r->overwrite && !atomic_compare_exchange_strong(sp, &s, mk(t, ST_READING, 0)))
                continue;
            /* policy lag, in the same pass over the slot records */
            uint64_t v = meta_at(r, lane, t)->policy_version, lag = cur > v ? cur - v : 0;
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
        wake_producers(r->h);
    if (!got) {
        note_stuck(c, lane, t);
        return false;
    }
    c->stuck_since[lane] = 0;
    publish_take(c, lag_min, lag_max, lag_sum, got);
    fill_batch(b, r, lane, first, got);
    return true;
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
    uint64_t t0 = 0, deadline = 0;
    for (;;) {
        for (uint32_t k = 0; k < nl; k++) {
            uint32_t lane = (c->rr + k) % nl;
            if (take(c, lane, max, b)) {
                c->rr = (lane + 1) % nl;
                if (t0)
                    counter_add(&h->cons_wait_ns, sabre__now_ns() - t0);
                return SABRE_OK;
            }
        }
        uint64_t now = sabre__now_ns();
        if (r->cursor && now >= c->next_reap_ns) {
            /* dead producers' claims are invisible; count them now and then */
            c->next_reap_ns =
                now + SABRE_MIN(SABRE_MAX(r->g.reclaim_ns / 4, 1000000ull), 50000000ull);
            reap_dead_claims(c);
        }
        if (timeout_ns == 0)
            return sabre__fail(SABRE_EAGAIN, "ring '%s': empty", r->obj.name);
        if (t0 == 0) {
            t0 = now;
            deadline = rl_deadline(timeout_ns);
        }
        if (now >= deadline) {
            counter_add(&h->cons_wait_ns, now - t0);
            return sabre__fail(SABRE_ETIMEDOUT, "ring '%s': empty for %llu ns", r->obj.name,
                               (unsigned long long)timeout_ns);
        }
        if (now - t0 < r->g.spin_ns) {
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
    wake_producers(r->h);
    return SABRE_OK;
}

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
