/*
 * create.c - creating and opening rings: geometry, the field table, validation.
 * Byte layout and atomics: docs/abi.md ("Ring object"); protocol: docs/rl.md.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_internal.h"

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
    /* 3.1: the episode lanes after the payloads (a 3.0 ring has none) */
    uint8_t *eps = NULL;
    uint32_t ep_cap = 0;
    if (h->abi_minor >= 1 && h->episodes_offset) {
        uint64_t eo = h->episodes_offset;
        ep_cap = h->episodes_cap;
        uint64_t per = sizeof(rg_eplane) + 32ull * ep_cap;
        if (eo % 64 || eo < pay_end || eo > size || ep_cap == 0 || (ep_cap & (ep_cap - 1)) ||
            ep_cap > SABRE_RING_MAX_EPISODES || per * g.nproducers > size - eo)
            return sabre__fail(SABRE_ECORRUPT,
                               "ring '%s': episode lanes (offset %llu, %u records) do not fit "
                               "the %llu-byte object",
                               name, (unsigned long long)eo, ep_cap, (unsigned long long)size);
        eps = (uint8_t *)h + eo;
    }
    r->eps = eps;
    r->ep_cap = ep_cap;
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
    r->fill_headers = sabre__ring_pick_fill_headers();
    r->spin_idle_ns = sabre__spin_limit_ns(r->g.spin_ns);
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
                                   "ring '%s': field '%s' of layout '%s' has a %zu-byte name; "
                                   "ring field names are at most %zu bytes (the field "
                                   "record's char[%zu]), although schema identifiers may have "
                                   "%d: shorten the name",
                                   d->name, fd->name, d->layout->name, strlen(fd->name),
                                   sizeof fields[nf].name - 1, sizeof fields[nf].name,
                                   SABRE_SCHEMA_MAX_IDENT);
            fields[nf].elem_size = fd->size;
            fields[nf].size = (uint64_t)fd->size * T * E;
            if (fd->kind == SABRE_FIELD_SCALAR && fd->count < (1u << 24))
                fields[nf].elem_info = (uint32_t)fd->scalar | fd->count << 8;
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
    uint32_t ep_cap = d->episodes ? d->episodes : 64;
    if (ep_cap & (ep_cap - 1) || ep_cap > SABRE_RING_MAX_EPISODES)
        return sabre__fail(SABRE_EINVAL,
                           "ring '%s': episodes is %u, want a power of two <= %u (0 = 64)", d->name,
                           ep_cap, SABRE_RING_MAX_EPISODES);
    uint64_t eps_off = SABRE_ALIGN_UP(pay_off + stride * nslots, 128);
    uint64_t total = eps_off + (uint64_t)nprod * (sizeof(rg_eplane) + 32ull * ep_cap);

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
    h->episodes_offset = eps_off;
    h->episodes_cap = ep_cap;
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
    uint32_t info = r->fields[i].elem_info, sc = info & 0xff, n = info >> 8;
    size_t ssz = sabre_scalar_size((sabre_scalar_t)sc);
    /* trust the stored type only where it agrees with the element size */
    if (sc && ssz && n && (uint64_t)ssz * n == out->elem_size) {
        out->scalar = (sabre_scalar_t)sc;
        out->count = n;
    } else {
        out->scalar = SABRE_SCALAR_NONE;
        out->count = 1;
    }
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

void *sabre_chunk_field(const sabre_ring_t *r, const sabre_chunk_t *c, const char *name)
{
    if (!r || !name)
        return NULL;
    for (uint32_t f = 0; f < r->g.nfields; f++)
        if (!strcmp(r->fields[f].name, name))
            return sabre_chunk_array(r, c, f);
    return NULL;
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
