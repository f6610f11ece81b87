/*
 * alloc.c - lock-free object allocation (protocol in docs/abi.md "Allocation").
 * The byte layout, the allocation protocol and the validation rules are in
 * docs/abi.md; the comments here only say why the code looks the way it does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "region/region_internal.h"

/* ---------------------------------------------------------------------------
 * Allocation (lock-free; protocol in docs/abi.md "Allocation")
 * ------------------------------------------------------------------------- */

/* Claims the first empty slot with a CAS that also publishes our name hash
 * and pid, so a same-name allocator racing with us can see and wait for us.
 * Slots are therefore always claimed in index order. */
static int claim_slot(sabre_region_t *r, uint32_t h24, uint32_t *slot)
{
    struct region_header *h = hdr_of(r);
    uint32_t i = atomic_load_explicit(&h->dir_claimed, memory_order_relaxed);
    if (i > r->dir_capacity)
        i = 0;
    /* The hint may be stale or scribbled: step back while the slot below is empty. */
    while (i > 0 && ST_CODE(atomic_load_explicit(&entry_of(r, i - 1)->state,
                                                 memory_order_relaxed)) == ST_EMPTY)
        i--;
    uint64_t mine = ST_MAKE(ST_WRITING, h24, sabre__self_pid());
    for (; i < r->dir_capacity; i++) {
        _Atomic uint64_t *st = &entry_of(r, i)->state;
        uint64_t expected = 0;
        if (atomic_load_explicit(st, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(st, &expected, mine, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            uint32_t cur = atomic_load_explicit(&h->dir_claimed, memory_order_relaxed);
            while (cur < i + 1 &&
                   !atomic_compare_exchange_weak_explicit(
                       &h->dir_claimed, &cur, i + 1, memory_order_relaxed, memory_order_relaxed)) {
            }
            *slot = i;
            return SABRE_OK;
        }
    }
    return sabre__fail(SABRE_ENOSPC, "region '%s': directory is full (%u objects)",
                       r->name[0] ? r->name : sabre_backing_name(r->backing), r->dir_capacity);
}

/* Lower slots decide name ownership: wait for same-hash slots still being
 * written, fail if one is published with our name. */
static int check_unique(sabre_region_t *r, uint32_t slot, const char *name, size_t nlen,
                        uint32_t h24)
{
    uint64_t deadline = 0;
    for (uint32_t i = 0; i < slot; i++) {
        struct dir_entry *e = entry_of(r, i);
        for (uint32_t spins = 0;; spins++) {
            uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
            if (ST_HASH(s) != h24 || ST_CODE(s) == ST_DEAD || ST_CODE(s) == ST_EMPTY)
                break;
            if (ST_CODE(s) == ST_READY) {
                if (memcmp(e->name, name, nlen) == 0 && e->name[nlen] == '\0')
                    return sabre__fail(SABRE_EEXIST,
                                       "region '%s' already has an object named "
                                       "'%s'",
                                       r->name[0] ? r->name : sabre_backing_name(r->backing), name);
                break;
            }
            if (ST_CODE(s) != ST_WRITING)
                break;
            /* Same hash, still being written: wait for the verdict. */
            if (spins < 64) {
                sabre__cpu_relax();
                continue;
            }
            if (deadline == 0)
                deadline = sabre__now_ns() + SAME_NAME_WAIT_NS;
            if ((spins & 63) == 0 && !sabre__pid_alive(ST_PID(s), 0)) {
                uint64_t exp = s;
                atomic_compare_exchange_strong_explicit(&e->state, &exp, (s & ~0xffull) | ST_DEAD,
                                                        memory_order_acq_rel, memory_order_relaxed);
                continue;
            }
            if (sabre__now_ns() > deadline)
                return sabre__fail(SABRE_EBUSY,
                                   "region '%s': object '%s' is being allocated "
                                   "by pid %d",
                                   r->name, name, (int)ST_PID(s));
            if (spins < 256)
                sabre__plat_yield();
            else
                sabre__rg_sleep_ns(50000);
        }
    }
    return SABRE_OK;
}

/* Places an allocation after the bump word value `old`: text at *t, data
 * at *d, end at *end.  Fails (without touching anything) when `old` is
 * out of bounds or the allocation does not fit. */
static int place(const sabre_region_t *r, uint64_t old, uint64_t text_bytes, uint64_t size,
                 uint64_t align, uint64_t *t, uint64_t *d, uint64_t *end)
{
    if (old < r->data_offset || old > r->map_size || old % SABRE_OBJECT_ALIGN != 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': used word %llu is outside [%llu, "
                           "%llu]",
                           r->name, (unsigned long long)old, (unsigned long long)r->data_offset,
                           (unsigned long long)r->map_size);
    uint64_t start = SABRE_ALIGN_UP(old, (uint64_t)SABRE_OBJECT_ALIGN);
    *t = start;
    *d = *end = 0; /* read only when no overflow */
    bool ovf =
        __builtin_add_overflow(start, text_bytes, d) || __builtin_add_overflow(*d, align - 1, d);
    *d &= ~(align - 1);
    ovf = ovf || __builtin_add_overflow(*d, size, end) ||
          __builtin_add_overflow(*end, (uint64_t)SABRE_OBJECT_ALIGN - 1, end);
    *end &= ~((uint64_t)SABRE_OBJECT_ALIGN - 1);
    if (ovf || *end > r->map_size) {
        char a[32], b[32];
        sabre__fmt_bytes(a, sizeof a, size);
        sabre__fmt_bytes(b, sizeof b, r->map_size - SABRE_MIN(old, r->map_size));
        return sabre__fail(SABRE_ENOSPC,
                           "region '%s' is full: %llu bytes (%s) requested "
                           "(plus %llu of layout text), %s left",
                           r->name[0] ? r->name : sabre_backing_name(r->backing),
                           (unsigned long long)size, a, (unsigned long long)text_bytes, b);
    }
    return SABRE_OK;
}

/* Reserves [start, end) of the object area with a CAS on `used`. */
static int bump(sabre_region_t *r, uint64_t text_bytes, uint64_t size, uint64_t align,
                uint64_t *text_off, uint64_t *data_off)
{
    struct region_header *h = hdr_of(r);
    uint64_t old = atomic_load_explicit(&h->used, memory_order_relaxed);
    for (;;) {
        uint64_t t, d, end;
        int rc = place(r, old, text_bytes, size, align, &t, &d, &end);
        if (rc != SABRE_OK)
            return rc;
        if (atomic_compare_exchange_weak_explicit(&h->used, &old, end, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            *text_off = t;
            *data_off = d;
            return SABRE_OK;
        }
    }
}

/* The failures an allocation can foresee (its name published already, no
 * room left) are found before a slot is claimed, so they leave the
 * directory as they found it; only an allocation that loses a race to a
 * concurrent one after claiming gives its slot up (DEAD). */
static int precheck(const sabre_region_t *r, const char *name, size_t nlen, uint32_t h24,
                    uint64_t text_bytes, uint64_t size, uint64_t align)
{
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        const struct dir_entry *e = entry_of(r, i);
        uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
        if (ST_CODE(s) == ST_EMPTY)
            break;
        if (ST_CODE(s) == ST_READY && ST_HASH(s) == h24 && memcmp(e->name, name, nlen) == 0 &&
            e->name[nlen] == '\0')
            return sabre__fail(SABRE_EEXIST, "region '%s' already has an object named '%s'",
                               r->name[0] ? r->name : sabre_backing_name(r->backing), name);
    }
    uint64_t t, d, end;
    uint64_t old = atomic_load_explicit(&hdr_of(r)->used, memory_order_relaxed);
    return place(r, old, text_bytes, size, align, &t, &d, &end);
}

int sabre_region_alloc(sabre_region_t *r, const sabre_object_desc_t *desc, sabre_object_t *out)
{
    if (!r || !desc)
        return sabre__fail(SABRE_EINVAL, "sabre_region_alloc: NULL argument");
    size_t nlen;
    int rc = sabre__rg_check_object_name(desc->name, &nlen);
    if (rc != SABRE_OK)
        return rc;
    if (r->readonly)
        return sabre__fail(SABRE_EPERM, "region '%s' is mapped read-only: cannot allocate '%s'",
                           r->name, desc->name);
    uint32_t kind = desc->kind ? desc->kind : SABRE_OBJ_RAW;
    if (!sabre__rg_kind_valid(kind))
        return sabre__fail(SABRE_EINVAL,
                           "object '%s': kind %u is neither a sabre kind (1..8) "
                           "nor a user kind (>= 0x%x)",
                           desc->name, kind, SABRE_OBJ_USER);
    if (desc->size == 0)
        return sabre__fail(SABRE_EINVAL, "object '%s': size is 0", desc->name);
    uint64_t align = desc->align ? desc->align : SABRE_OBJECT_ALIGN;
    if (align & (align - 1))
        return sabre__fail(SABRE_EINVAL, "object '%s': alignment %u is not a power of two",
                           desc->name, desc->align);
    if (align > MAX_ALIGN)
        return sabre__fail(SABRE_EINVAL, "object '%s': alignment %llu exceeds 2^30", desc->name,
                           (unsigned long long)align);
    if (align < SABRE_OBJECT_ALIGN)
        align = SABRE_OBJECT_ALIGN;
    const char *text = NULL;
    uint64_t tlen = 0, thash = 0;
    if (desc->layout && desc->layout_text)
        return sabre__fail(SABRE_EINVAL, "object '%s': give layout or layout_text, not both",
                           desc->name);
    if (desc->layout) {
        text = desc->layout->canonical;
        if (!text)
            return sabre__fail(SABRE_EINVAL, "object '%s': layout has no canonical text",
                               desc->name);
        tlen = strnlen(text, MAX_LAYOUT_TEXT + 1);
        if (tlen != desc->layout->canonical_len)
            return sabre__fail(SABRE_EINVAL,
                               "object '%s': layout canonical_len %zu but the text "
                               "is %llu bytes",
                               desc->name, desc->layout->canonical_len, (unsigned long long)tlen);
    } else if (desc->layout_text) {
        text = desc->layout_text;
        tlen = strnlen(text, MAX_LAYOUT_TEXT + 1);
    }
    if (text) {
        if (tlen == 0)
            text = NULL;
        else if (tlen > MAX_LAYOUT_TEXT)
            return sabre__fail(SABRE_EINVAL, "object '%s': layout text exceeds %llu bytes",
                               desc->name, (unsigned long long)MAX_LAYOUT_TEXT);
        else
            thash = sabre__fnv1a64(text, (size_t)tlen);
        if (text && desc->layout && thash != desc->layout->hash)
            return sabre__fail(SABRE_EINVAL,
                               "object '%s': layout hash 0x%016llx is not the "
                               "FNV-1a of its canonical text (0x%016llx)",
                               desc->name, (unsigned long long)desc->layout->hash,
                               (unsigned long long)thash);
    }

    if ((rc = sabre__rg_check_size(r)) != SABRE_OK)
        return rc;
    uint32_t h24 = sabre__rg_name_hash24(desc->name, nlen);
    uint64_t text_bytes = text ? tlen + 1 : 0;
    if ((rc = precheck(r, desc->name, nlen, h24, text_bytes, desc->size, align)) != SABRE_OK)
        return rc;
    uint32_t slot = 0;
    if ((rc = claim_slot(r, h24, &slot)) != SABRE_OK)
        return rc;
    struct dir_entry *e = entry_of(r, slot);
    uint64_t toff = 0, doff = 0;
    rc = check_unique(r, slot, desc->name, nlen, h24);
    if (rc == SABRE_OK)
        rc = bump(r, text_bytes, desc->size, align, &toff, &doff);
    if (rc != SABRE_OK) {
        /* Give the slot up: DEAD slots are skipped by everyone. */
        atomic_store_explicit(&e->state, ST_MAKE(ST_DEAD, h24, sabre__self_pid()),
                              memory_order_release);
        return rc;
    }
    memset(e->name, 0, sizeof e->name);
    memcpy(e->name, desc->name, nlen);
    e->kind = kind;
    e->align = (uint32_t)align;
    e->offset = doff;
    e->size = desc->size;
    e->created_ns = sabre__wall_ns();
    if (text) {
        memcpy(r->base + toff, text, (size_t)tlen);
        r->base[toff + tlen] = '\0';
        e->layout_offset = toff;
        e->layout_len = tlen;
        e->layout_hash = thash;
    } else {
        e->layout_offset = 0;
        e->layout_len = 0;
        e->layout_hash = 0;
    }
    /* Publish with a CAS from our own WRITING word: an allocator that judged
     * us dead (another pid namespace) stored DEAD, and may have published
     * the same name since; the slot then stays DEAD. */
    uint64_t writing = ST_MAKE(ST_WRITING, h24, sabre__self_pid());
    if (!atomic_compare_exchange_strong_explicit(&e->state, &writing,
                                                 ST_MAKE(ST_READY, h24, sabre__self_pid()),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return sabre__fail(SABRE_EBUSY,
                           "region '%s': object '%s' (slot %u) was given up by another "
                           "allocator that judged pid %d dead (do all parties share one "
                           "pid namespace?)",
                           r->name[0] ? r->name : sabre_backing_name(r->backing), desc->name, slot,
                           (int)sabre__self_pid());
    if (out) {
        memset(out, 0, sizeof *out);
        out->index = slot;
        out->kind = kind;
        memcpy(out->name, desc->name, nlen + 1);
        out->offset = doff;
        out->size = desc->size;
        out->ptr = r->base + doff;
        out->layout_text = text ? (const char *)r->base + toff : "";
        out->layout_len = text ? tlen : 0;
        out->layout_hash = thash;
    }
    return SABRE_OK;
}
