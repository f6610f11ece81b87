/*
 * weights.c - latest-value weights publication with reader pins.
 * Byte layout and atomics: docs/abi.md ("Weights object"); protocol and its
 * proof: docs/rl.md.
 */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/rl_internal.h"
#include "sabre/weights.h"
#include "weights/weights_abi.h"

/* Geometry copied from the header once validated: a hostile process that
 * rewrites the header later cannot make this handle read out of bounds. */
typedef struct wt_geo {
    uint32_t nslots, nreaders, flags, default_shape;
    uint64_t slot_size, slot_stride, slots_offset, readers_offset, layout_hash;
} wt_geo;

struct sabre_weights {
    sabre_region_t *region;
    sabre_object_t obj;
    wt_hdr *h;
    wt_geo g;
    wt_slot *slots;
    wt_reader *readers;
    uint8_t *data;
    uint64_t self;  /* identity of the process that holds the lease */
    bool lease;     /* holds the publisher lease */
    int begin_slot; /* outstanding begin, -1 if none */
};

struct sabre_weights_reader {
    sabre_weights_t *w;
    uint64_t self; /* identity of the owning process */
    wt_reader *rec;
    uint64_t pinned_cur; /* current word of the pinned version, 0 = none */
    sabre_weights_view_t view;
    uint64_t refused_version;
    int refused_status;
};

static inline uint64_t cur_version(uint64_t cur)
{
    return cur >> 8;
}
static inline uint32_t cur_slot(uint64_t cur)
{
    return (uint32_t)(cur & 0xff);
}
static inline uint64_t pin_of(uint64_t cur)
{
    return (cur & ~0xffull) | (cur_slot(cur) + 1);
}

/* ---- create / open ------------------------------------------------------ */

static int validate(sabre_weights_t *w, const char *name)
{
    const wt_hdr *h = w->obj.ptr;
    uint64_t size = w->obj.size;
    if (size < sizeof(wt_hdr))
        return sabre__fail(SABRE_ECORRUPT,
                           "weights '%s': object of %llu bytes is smaller than "
                           "its 512-byte header",
                           name, (unsigned long long)size);
    if (h->magic != SABRE_WEIGHTS_MAGIC)
        return sabre__fail(SABRE_ECORRUPT, "weights '%s': magic is 0x%08x, want 0x%08x", name,
                           h->magic, SABRE_WEIGHTS_MAGIC);
    if (h->abi_major != SABRE_WEIGHTS_ABI_MAJOR)
        return sabre__fail(SABRE_EVERSION,
                           "weights '%s': object ABI version %u.%u, this library "
                           "reads %u.x",
                           name, h->abi_major, h->abi_minor, SABRE_WEIGHTS_ABI_MAJOR);
    /* Read the geometry once and check the copy: the header may be changing. */
    wt_geo g = {.nslots = h->nslots,
                .nreaders = h->nreaders,
                .flags = h->flags,
                .default_shape = h->default_shape,
                .slot_size = h->slot_size,
                .slot_stride = h->slot_stride,
                .slots_offset = h->slots_offset,
                .readers_offset = h->readers_offset,
                .layout_hash = h->layout_hash};
    if (g.nslots < 2 || g.nslots > SABRE_WEIGHTS_MAX_SLOTS || g.nreaders < 1 ||
        g.nreaders > SABRE_WEIGHTS_MAX_READERS || g.slot_size == 0 || g.slot_stride < g.slot_size ||
        g.slot_stride % 64 || g.slot_stride > size ||
        h->slot_table_offset != WT_SLOT_TABLE_OFFSET || g.readers_offset % 128 ||
        g.readers_offset > size || g.slots_offset % 64 || g.slots_offset > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "weights '%s': bad geometry (slots %u, readers %u, "
                           "slot size %llu, stride %llu)",
                           name, g.nslots, g.nreaders, (unsigned long long)g.slot_size,
                           (unsigned long long)g.slot_stride);
    /* every term is bounded by the object size, so no sum below overflows */
    uint64_t table_end = WT_SLOT_TABLE_OFFSET + (uint64_t)g.nslots * sizeof(wt_slot);
    uint64_t readers_end = g.readers_offset + (uint64_t)g.nreaders * sizeof(wt_reader);
    uint64_t slots_end = g.slots_offset + g.slot_stride * g.nslots;
    if (g.readers_offset < table_end || g.slots_offset < readers_end || slots_end > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "weights '%s': sections (slot table ..%llu, readers "
                           "%llu..%llu, buffers %llu..%llu) do not fit the %llu-byte object",
                           name, (unsigned long long)table_end,
                           (unsigned long long)g.readers_offset, (unsigned long long)readers_end,
                           (unsigned long long)g.slots_offset, (unsigned long long)slots_end,
                           (unsigned long long)size);
    w->g = g;
    w->h = (wt_hdr *)h;
    w->slots = (wt_slot *)((uint8_t *)w->obj.ptr + WT_SLOT_TABLE_OFFSET);
    w->readers = (wt_reader *)((uint8_t *)w->obj.ptr + g.readers_offset);
    w->data = (uint8_t *)w->obj.ptr + g.slots_offset;
    return SABRE_OK;
}

int sabre_weights_create(sabre_region_t *region, const sabre_weights_desc_t *d,
                         sabre_weights_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !d || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_create: NULL argument");
    uint32_t nslots = d->slots ? d->slots : 2;
    uint32_t nreaders = d->readers ? d->readers : 8;
    if (!d->name)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_create: no name");
    if (d->size == 0 || d->size > (1ull << 40))
        return sabre__fail(SABRE_EINVAL,
                           "weights '%s': buffer size %llu out of range "
                           "(1 .. 2^40)",
                           d->name, (unsigned long long)d->size);
    if (nslots < 2 || nslots > SABRE_WEIGHTS_MAX_SLOTS)
        return sabre__fail(SABRE_EINVAL, "weights '%s': %u slots, want 2..%d", d->name, nslots,
                           SABRE_WEIGHTS_MAX_SLOTS);
    if (nreaders > SABRE_WEIGHTS_MAX_READERS)
        return sabre__fail(SABRE_EINVAL, "weights '%s': %u readers, at most %d", d->name, nreaders,
                           SABRE_WEIGHTS_MAX_READERS);
    if ((d->flags & SABRE_WEIGHTS_F32) && d->size % 4)
        return sabre__fail(SABRE_EINVAL,
                           "weights '%s': f32 payload of %llu bytes is not a "
                           "multiple of 4",
                           d->name, (unsigned long long)d->size);
    if (d->flags & ~SABRE_WEIGHTS_F32)
        return sabre__fail(SABRE_EINVAL, "weights '%s': unknown flags 0x%x", d->name, d->flags);
    uint64_t align = d->size >= 65536 ? 4096 : 64;
    uint64_t stride = SABRE_ALIGN_UP(d->size, align);
    uint64_t readers_off = SABRE_ALIGN_UP(WT_SLOT_TABLE_OFFSET + nslots * sizeof(wt_slot), 128);
    uint64_t slots_off =
        SABRE_ALIGN_UP(readers_off + (uint64_t)nreaders * sizeof(wt_reader), align);
    uint64_t total = slots_off + stride * nslots;

    sabre_weights_t *w = calloc(1, sizeof *w);
    if (!w)
        return sabre__fail(SABRE_ENOMEM, "weights '%s': out of memory", d->name);
    sabre_object_desc_t od = {.name = d->name,
                              .kind = SABRE_OBJ_WEIGHTS,
                              .size = total,
                              .align = (uint32_t)align,
                              .layout = d->layout,
                              .layout_text = d->layout_text};
    int rc = sabre_region_alloc(region, &od, &w->obj);
    if (rc) {
        free(w);
        return rc;
    }
    wt_hdr *h = w->obj.ptr;
    h->magic = SABRE_WEIGHTS_MAGIC;
    h->abi_major = SABRE_WEIGHTS_ABI_MAJOR;
    h->abi_minor = SABRE_WEIGHTS_ABI_MINOR;
    h->nslots = nslots;
    h->nreaders = nreaders;
    h->slot_size = d->size;
    h->slot_stride = stride;
    h->slots_offset = slots_off;
    h->readers_offset = readers_off;
    h->flags = d->flags;
    h->layout_hash = w->obj.layout_hash;
    h->default_shape = d->shape_hash ? d->shape_hash : (uint32_t)w->obj.layout_hash;
    h->slot_table_offset = WT_SLOT_TABLE_OFFSET;
    h->object_size = total;
    atomic_store_explicit(&h->shape_hash, (int32_t)h->default_shape, memory_order_release);
    w->region = region;
    w->begin_slot = -1;
    rc = validate(w, d->name);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return SABRE_OK;
}

int sabre_weights_open(sabre_region_t *region, const char *name, const sabre_layout_t *expect,
                       sabre_weights_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_open: NULL argument");
    sabre_weights_t *w = calloc(1, sizeof *w);
    if (!w)
        return sabre__fail(SABRE_ENOMEM, "weights '%s': out of memory", name);
    int rc = sabre_region_find(region, name, expect, &w->obj);
    if (rc == SABRE_OK && w->obj.kind != SABRE_OBJ_WEIGHTS)
        rc = sabre__fail(SABRE_EINVAL, "object '%s' is a %s object, not weights", name,
                         sabre_object_kind_name(w->obj.kind));
    if (rc == SABRE_OK)
        rc = validate(w, name);
    if (rc) {
        free(w);
        return rc;
    }
    w->region = region;
    w->begin_slot = -1;
    *out = w;
    return SABRE_OK;
}

void sabre_weights_close(sabre_weights_t *w)
{
    if (!w)
        return;
    if (w->lease) {
        uint64_t me = w->self;
        atomic_compare_exchange_strong(&w->h->writer_owner, &me, 0);
    }
    free(w);
}

uint64_t sabre_weights_size(const sabre_weights_t *w)
{
    return w ? w->g.slot_size : 0;
}
uint32_t sabre_weights_slots(const sabre_weights_t *w)
{
    return w ? w->g.nslots : 0;
}

uint64_t sabre_weights_version(const sabre_weights_t *w)
{
    return w ? cur_version(atomic_load(&w->h->current)) : 0;
}

static inline void *slot_data(const sabre_weights_t *w, uint32_t s)
{
    return w->data + (uint64_t)s * w->g.slot_stride;
}

/* ---- publishing ---------------------------------------------------------- */

static int take_lease(sabre_weights_t *w)
{
    w->self = rl_self_identity(); /* fresh: the handle may have crossed a fork */
    for (;;) {
        uint64_t cur = atomic_load(&w->h->writer_owner);
        if (cur == 0) {
            if (atomic_compare_exchange_strong(&w->h->writer_owner, &cur, w->self))
                break;
            continue;
        }
        if (cur != w->self && !rl_identity_alive(cur)) {
            if (atomic_compare_exchange_strong(&w->h->writer_owner, &cur, w->self))
                break;
            continue;
        }
        atomic_fetch_add_explicit(&w->h->busy, 1, memory_order_relaxed);
        return sabre__fail(SABRE_EBUSY,
                           "weights '%s': another publisher (pid %d) holds the "
                           "publisher lease",
                           w->obj.name, (int)rl_identity_pid(cur));
    }
    w->lease = true;
    return SABRE_OK;
}

/*
 * A slot that is neither active nor pinned (pin or candidate) by a live
 * reader, or -1.  Pins are loaded seq_cst after `current` was stored
 * seq_cst by the previous commit: see the proof in docs/rl.md.  The owner
 * word is loaded after the pin, so a reader that took over a dead reader's
 * record is never mistaken for the dead one.
 */
static int choose_slot(sabre_weights_t *w, bool check_dead)
{
    wt_hdr *h = w->h;
    uint64_t cur = atomic_load(&h->current);
    uint64_t all = w->g.nslots == 64 ? ~0ull : ((1ull << w->g.nslots) - 1);
    uint64_t used = cur_version(cur) && cur_slot(cur) < w->g.nslots ? (1ull << cur_slot(cur)) : 0;
    for (uint32_t i = 0; i < w->g.nreaders; i++) {
        wt_reader *r = &w->readers[i];
        uint64_t p = atomic_load(&r->pin);
        uint64_t c = atomic_load(&r->cand);
        if (!p && !c)
            continue;
        uint64_t bits = 0;
        if ((p & 0xff) >= 1 && (p & 0xff) <= w->g.nslots)
            bits |= 1ull << ((p & 0xff) - 1);
        if ((c & 0xff) >= 1 && (c & 0xff) <= w->g.nslots)
            bits |= 1ull << ((c & 0xff) - 1);
        if (check_dead && (bits & ~used)) {
            uint64_t owner = atomic_load(&r->owner);
            if (owner != 0 && !rl_identity_alive(owner)) {
                atomic_fetch_add_explicit(&h->dead_pins, 1, memory_order_relaxed);
                continue;
            }
        }
        used |= bits;
    }
    uint64_t freebits = all & ~used;
    if (!freebits)
        return -1;
    /* Oldest free slot: with two slots this is always "1 - active". */
    int best = -1;
    uint64_t best_v = UINT64_MAX;
    for (uint32_t s = 0; s < w->g.nslots; s++) {
        if (!(freebits & (1ull << s)))
            continue;
        uint64_t v = atomic_load_explicit(&w->slots[s].version, memory_order_relaxed);
        if (v < best_v) {
            best_v = v;
            best = (int)s;
        }
    }
    return best;
}

int sabre_weights_begin(sabre_weights_t *w, uint64_t timeout_ns, void **buf)
{
    if (buf)
        *buf = NULL;
    if (!w || !buf)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_begin: NULL argument");
    if (sabre_region_readonly(w->region))
        return sabre__fail(SABRE_EPERM, "weights '%s': region is read-only", w->obj.name);
    if (w->begin_slot >= 0)
        return sabre__fail(SABRE_ESTATE, "weights '%s': a publish is already in progress",
                           w->obj.name);
    if (!w->lease) {
        int rc = take_lease(w);
        if (rc)
            return rc;
    }
    wt_hdr *h = w->h;
    int s = choose_slot(w, false);
    if (s < 0)
        s = choose_slot(w, true);
    if (s < 0) {
        if (timeout_ns == 0) {
            atomic_fetch_add_explicit(&h->busy, 1, memory_order_relaxed);
            return sabre__fail(SABRE_EBUSY, "weights '%s': all %u slots are active or pinned",
                               w->obj.name, w->g.nslots);
        }
        uint64_t t0 = sabre__now_ns(), deadline = rl_deadline(timeout_ns);
        atomic_store(&h->pub_waiting, 1);
        for (;;) {
            uint32_t seen = atomic_load(&h->unpin_seq);
            s = choose_slot(w, true);
            if (s >= 0)
                break;
            uint64_t now = sabre__now_ns();
            if (now >= deadline)
                break;
            /* Sleep at most 10 ms so dead readers are noticed promptly. */
            uint64_t left = SABRE_MIN(deadline - now, 10000000ull);
            sabre__futex_wait(&h->unpin_seq, seen, left);
        }
        atomic_store(&h->pub_waiting, 0);
        uint64_t waited = sabre__now_ns() - t0;
        atomic_fetch_add_explicit(&h->publish_waits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->publish_wait_ns, waited, memory_order_relaxed);
        if (s < 0) {
            atomic_fetch_add_explicit(&h->busy, 1, memory_order_relaxed);
            return sabre__fail(SABRE_ETIMEDOUT,
                               "weights '%s': no free slot within %s "
                               "(all %u slots active or pinned)",
                               w->obj.name, sabre__fmt_ns(timeout_ns).s, w->g.nslots);
        }
    }
    atomic_store_explicit(&w->slots[s].state, WT_SLOT_WRITING, memory_order_relaxed);
    w->begin_slot = s;
    *buf = slot_data(w, (uint32_t)s);
    return SABRE_OK;
}

int sabre_weights_commit(sabre_weights_t *w, const sabre_weights_meta_t *meta, uint64_t *version)
{
    if (!w)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_commit: NULL handle");
    if (w->begin_slot < 0)
        return sabre__fail(SABRE_ESTATE, "weights '%s': commit without begin", w->obj.name);
    wt_hdr *h = w->h;
    uint32_t s = (uint32_t)w->begin_slot;
    uint64_t cur = atomic_load(&h->current);
    uint64_t v = cur_version(cur) + 1;
    uint32_t shape = meta && meta->shape_hash ? meta->shape_hash : w->g.default_shape;
    uint64_t step = meta && meta->set_step
                        ? meta->step_counter
                        : atomic_load_explicit(&h->step64, memory_order_relaxed) + 1;
    wt_slot *sl = &w->slots[s];
    atomic_store_explicit(&sl->version, v, memory_order_relaxed);
    atomic_store_explicit(&sl->step, step, memory_order_relaxed);
    atomic_store_explicit(&sl->shape, shape, memory_order_relaxed);
    atomic_store_explicit(&sl->publish_ns, sabre__wall_ns(), memory_order_relaxed);
    atomic_store_explicit(&sl->state, WT_SLOT_PUBLISHED, memory_order_relaxed);
    /* DrillSergeantHQ order: payload, (shape, step), active_idx, then version. */
    atomic_store(&h->shape_hash, (int32_t)shape);
    atomic_store(&h->step32, (int32_t)(uint32_t)step);
    atomic_store(&h->step64, step);
    atomic_store(&h->active_idx, (int32_t)s);
    atomic_store(&h->current, (v << 8) | s);
    atomic_store(&h->version32, (int32_t)(uint32_t)v);
    atomic_fetch_add_explicit(&h->publishes, 1, memory_order_relaxed);
    atomic_store_explicit(&h->last_publish_ns, sabre__wall_ns(), memory_order_relaxed);
    if (atomic_load(&h->version_waiters))
        sabre__futex_wake((_Atomic uint32_t *)&h->version32, INT_MAX);
    w->begin_slot = -1;
    if (version)
        *version = v;
    return SABRE_OK;
}

void sabre_weights_abort(sabre_weights_t *w)
{
    if (!w || w->begin_slot < 0)
        return;
    wt_slot *sl = &w->slots[w->begin_slot];
    atomic_store_explicit(
        &sl->state,
        atomic_load_explicit(&sl->version, memory_order_relaxed) ? WT_SLOT_PUBLISHED : WT_SLOT_FREE,
        memory_order_relaxed);
    w->begin_slot = -1;
}

int sabre_weights_publish(sabre_weights_t *w, const void *data, uint64_t len,
                          const sabre_weights_meta_t *meta, uint64_t timeout_ns, uint64_t *version)
{
    if (!w || (!data && len))
        return sabre__fail(SABRE_EINVAL, "sabre_weights_publish: NULL argument");
    if (len > w->g.slot_size)
        return sabre__fail(SABRE_EINVAL,
                           "weights '%s': %llu bytes do not fit the %llu-byte "
                           "buffer",
                           w->obj.name, (unsigned long long)len,
                           (unsigned long long)w->g.slot_size);
    void *buf;
    int rc = sabre_weights_begin(w, timeout_ns, &buf);
    if (rc)
        return rc;
    if (len)
        memcpy(buf, data, len);
    if (len < w->g.slot_size)
        memset((uint8_t *)buf + len, 0, w->g.slot_size - len);
    return sabre_weights_commit(w, meta, version);
}

/* ---- reading ------------------------------------------------------------- */

int sabre_weights_reader_open(sabre_weights_t *w, sabre_weights_reader_t **out)
{
    if (out)
        *out = NULL;
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_reader_open: NULL argument");
    if (sabre_region_readonly(w->region))
        return sabre__fail(SABRE_EPERM, "weights '%s': region is read-only", w->obj.name);
    sabre_weights_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return sabre__fail(SABRE_ENOMEM, "weights '%s': out of memory", w->obj.name);
    wt_reader *rec = NULL;
    r->self = rl_self_identity();
    for (int pass = 0; pass < 2 && !rec; pass++) {
        for (uint32_t i = 0; i < w->g.nreaders && !rec; i++) {
            uint64_t cur = atomic_load(&w->readers[i].owner);
            if (pass == 0 ? cur != 0 : (cur == 0 || cur == r->self || rl_identity_alive(cur)))
                continue;
            if (atomic_compare_exchange_strong(&w->readers[i].owner, &cur, r->self))
                rec = &w->readers[i];
        }
    }
    if (!rec) {
        free(r);
        return sabre__fail(SABRE_ENOSPC,
                           "weights '%s': all %u reader records are in use by "
                           "live readers",
                           w->obj.name, w->g.nreaders);
    }
    atomic_store(&rec->cand, 0);
    atomic_store(&rec->pin, 0);
    atomic_store_explicit(&rec->adopted, 0, memory_order_relaxed);
    atomic_store_explicit(&rec->adopts, 0, memory_order_relaxed);
    atomic_store_explicit(&rec->refused, 0, memory_order_relaxed);
    r->w = w;
    r->rec = rec;
    *out = r;
    return SABRE_OK;
}

static void notify_publisher(wt_hdr *h)
{
    if (atomic_load(&h->pub_waiting)) {
        atomic_fetch_add(&h->unpin_seq, 1);
        sabre__futex_wake(&h->unpin_seq, 1);
    }
}

void sabre_weights_unpin(sabre_weights_reader_t *r)
{
    if (!r)
        return;
    atomic_store(&r->rec->cand, 0);
    atomic_store(&r->rec->pin, 0);
    r->pinned_cur = 0;
    memset(&r->view, 0, sizeof r->view);
    notify_publisher(r->w->h);
}

void sabre_weights_reader_close(sabre_weights_reader_t *r)
{
    if (!r)
        return;
    sabre_weights_unpin(r);
    uint64_t me = r->self;
    atomic_compare_exchange_strong(&r->rec->owner, &me, 0);
    free(r);
}

/* Store `word` (pin or candidate) for the latest version, re-checking that
 * it is still the latest; returns the pinned current word. */
static uint64_t pin_latest(_Atomic uint64_t *word, _Atomic uint64_t *current, uint64_t cur)
{
    for (;;) {
        atomic_store(word, pin_of(cur));
        uint64_t again = atomic_load(current);
        if (again == cur)
            return cur;
        cur = again;
    }
}

static bool all_finite(const void *data, uint64_t size)
{
    const uint32_t *p = data;
    uint64_t n = size / 4;
    uint32_t bad = 0;
    for (uint64_t i = 0; i < n; i++)
        bad |= (uint32_t)((p[i] & 0x7f800000u) == 0x7f800000u);
    return !bad;
}

static void fill_view(sabre_weights_reader_t *r, uint64_t cur, bool changed)
{
    sabre_weights_t *w = r->w;
    uint32_t s = cur_slot(cur);
    wt_slot *sl = &w->slots[s];
    r->view.data = slot_data(w, s);
    r->view.size = w->g.slot_size;
    r->view.version = cur_version(cur);
    r->view.step_counter = atomic_load_explicit(&sl->step, memory_order_relaxed);
    r->view.shape_hash = atomic_load_explicit(&sl->shape, memory_order_relaxed);
    r->view.slot = s;
    r->view.changed = changed;
}

int sabre_weights_adopt(sabre_weights_reader_t *r, const sabre_weights_adopt_opts_t *opts,
                        sabre_weights_view_t *view)
{
    if (!r || !view)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_adopt: NULL argument");
    sabre_weights_t *w = r->w;
    wt_hdr *h = w->h;
    uint64_t cur = atomic_load(&h->current);
    if (SABRE_LIKELY(cur == r->pinned_cur && cur != 0)) {
        r->view.changed = false;
        *view = r->view;
        return SABRE_OK;
    }
    if (cur_version(cur) == 0) {
        memset(view, 0, sizeof *view);
        return sabre__fail(SABRE_EAGAIN, "weights '%s': nothing published yet", w->obj.name);
    }
    if (cur_slot(cur) >= w->g.nslots)
        return sabre__fail(SABRE_ECORRUPT, "weights '%s': active slot %u out of range", w->obj.name,
                           cur_slot(cur));
    if (cur_version(cur) == r->refused_version) {
        r->view.changed = false;
        *view = r->view;
        return sabre__fail(r->refused_status, "weights '%s': version %llu was refused", w->obj.name,
                           (unsigned long long)r->refused_version);
    }
    bool checks = opts && (opts->expect_shape || opts->check_finite);
    _Atomic uint64_t *word = checks ? &r->rec->cand : &r->rec->pin;
    cur = pin_latest(word, &h->current, cur);
    if (cur_slot(cur) >= w->g.nslots || cur_version(cur) == 0) { /* rewritten meanwhile */
        /* Without checks the old pin is gone already: the old view goes too. */
        atomic_store(word, 0);
        if (!checks) {
            r->pinned_cur = 0;
            memset(&r->view, 0, sizeof r->view);
        }
        *view = r->view;
        return sabre__fail(SABRE_ECORRUPT, "weights '%s': current word 0x%llx is invalid",
                           w->obj.name, (unsigned long long)cur);
    }
    if (checks) {
        wt_slot *sl = &w->slots[cur_slot(cur)];
        uint32_t shape = atomic_load_explicit(&sl->shape, memory_order_relaxed);
        int bad = SABRE_OK;
        if (opts->expect_shape && shape != opts->expect_shape)
            bad = sabre__fail(SABRE_ELAYOUT,
                              "weights '%s': version %llu has shape hash 0x%08x, "
                              "expected 0x%08x; keeping version %llu",
                              w->obj.name, (unsigned long long)cur_version(cur), shape,
                              opts->expect_shape, (unsigned long long)r->view.version);
        else if (opts->check_finite && (w->g.flags & SABRE_WEIGHTS_F32) &&
                 !all_finite(slot_data(w, cur_slot(cur)), w->g.slot_size))
            bad = sabre__fail(SABRE_ERANGE,
                              "weights '%s': version %llu holds NaN or Inf; "
                              "keeping version %llu",
                              w->obj.name, (unsigned long long)cur_version(cur),
                              (unsigned long long)r->view.version);
        if (bad) {
            atomic_store(&r->rec->cand, 0);
            atomic_fetch_add_explicit(&r->rec->refused, 1, memory_order_relaxed);
            r->refused_version = cur_version(cur);
            r->refused_status = bad;
            notify_publisher(h);
            r->view.changed = false;
            *view = r->view;
            return bad;
        }
        atomic_store(&r->rec->pin, pin_of(cur));
        atomic_store(&r->rec->cand, 0);
    }
    r->pinned_cur = cur;
    fill_view(r, cur, true);
    atomic_store_explicit(&r->rec->adopted, cur_version(cur), memory_order_relaxed);
    atomic_store_explicit(&r->rec->adopts,
                          atomic_load_explicit(&r->rec->adopts, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    notify_publisher(h);
    *view = r->view;
    return SABRE_OK;
}

int sabre_weights_wait(sabre_weights_reader_t *r, uint64_t after, uint64_t timeout_ns)
{
    if (!r)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_wait: NULL reader");
    wt_hdr *h = r->w->h;
    if (cur_version(atomic_load(&h->current)) > after)
        return SABRE_OK;
    if (timeout_ns == 0)
        return sabre__fail(SABRE_EAGAIN, "weights '%s': no version after %llu", r->w->obj.name,
                           (unsigned long long)after);
    uint64_t deadline = rl_deadline(timeout_ns);
    atomic_fetch_add(&h->version_waiters, 1);
    int rc = SABRE_OK;
    for (;;) {
        uint32_t seen = (uint32_t)atomic_load(&h->version32);
        if (cur_version(atomic_load(&h->current)) > after)
            break;
        uint64_t now = sabre__now_ns();
        if (now >= deadline) {
            rc =
                sabre__fail(SABRE_ETIMEDOUT, "weights '%s': no version after %llu within %s",
                            r->w->obj.name, (unsigned long long)after, sabre__fmt_ns(timeout_ns).s);
            break;
        }
        uint64_t left = deadline == UINT64_MAX ? UINT64_MAX : deadline - now;
        sabre__futex_wait((_Atomic uint32_t *)&h->version32, seen, left);
    }
    atomic_fetch_sub(&h->version_waiters, 1);
    return rc;
}

/* ---- observation --------------------------------------------------------- */

int sabre_weights_info(const sabre_weights_t *w, sabre_weights_info_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_info: NULL argument");
    wt_hdr *h = w->h;
    memset(out, 0, sizeof *out);
    uint64_t cur = atomic_load(&h->current);
    out->version = cur_version(cur);
    out->active_slot = cur_slot(cur);
    out->step_counter = atomic_load(&h->step64);
    out->shape_hash = (uint32_t)atomic_load(&h->shape_hash);
    out->nslots = w->g.nslots;
    out->nreaders = w->g.nreaders;
    out->flags = w->g.flags;
    out->size = w->g.slot_size;
    out->publishes = atomic_load_explicit(&h->publishes, memory_order_relaxed);
    out->publish_waits = atomic_load_explicit(&h->publish_waits, memory_order_relaxed);
    out->publish_wait_ns = atomic_load_explicit(&h->publish_wait_ns, memory_order_relaxed);
    out->busy = atomic_load_explicit(&h->busy, memory_order_relaxed);
    out->dead_pins_ignored = atomic_load_explicit(&h->dead_pins, memory_order_relaxed);
    out->last_publish_ns = atomic_load_explicit(&h->last_publish_ns, memory_order_relaxed);
    uint64_t owner = atomic_load(&h->writer_owner);
    out->publisher_pid = owner ? (int32_t)rl_identity_pid(owner) : 0;
    out->publisher_alive = owner && rl_identity_alive(owner);
    for (uint32_t i = 0; i < w->g.nreaders; i++)
        if (atomic_load_explicit(&w->readers[i].owner, memory_order_relaxed))
            out->readers_active++;
    return SABRE_OK;
}

int sabre_weights_reader_at(const sabre_weights_t *w, uint32_t i, sabre_weights_reader_info_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_weights_reader_at: NULL argument");
    if (i >= w->g.nreaders)
        return sabre__fail(SABRE_EINVAL, "weights '%s': reader %u out of range (%u records)",
                           w->obj.name, i, w->g.nreaders);
    wt_reader *r = &w->readers[i];
    memset(out, 0, sizeof *out);
    uint64_t owner = atomic_load(&r->owner);
    out->active = owner != 0;
    out->pid = owner ? (int32_t)rl_identity_pid(owner) : 0;
    out->alive = owner && rl_identity_alive(owner);
    uint64_t pin = atomic_load(&r->pin);
    out->pinned_version = pin >> 8;
    out->pinned_slot = pin ? (uint32_t)(pin & 0xff) - 1 : 0;
    out->adopted_version = atomic_load_explicit(&r->adopted, memory_order_relaxed);
    uint64_t v = cur_version(atomic_load(&w->h->current));
    out->lag = out->active && v > out->adopted_version ? v - out->adopted_version : 0;
    out->adopts = atomic_load_explicit(&r->adopts, memory_order_relaxed);
    out->refused = atomic_load_explicit(&r->refused, memory_order_relaxed);
    return SABRE_OK;
}
