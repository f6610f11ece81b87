/*
 * directory.c - directory reads: find by name, walk the objects, entry states.
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
 * Directory reads
 * ------------------------------------------------------------------------- */

/* Visits published entries; stops at the first empty slot. */
static bool slot_ready(const sabre_region_t *r, uint32_t i, uint64_t *state, bool *end)
{
    uint64_t s = atomic_load_explicit(&entry_of(r, i)->state, memory_order_acquire);
    *state = s;
    *end = ST_CODE(s) == ST_EMPTY;
    return ST_CODE(s) == ST_READY;
}

static uint64_t used_bound(const sabre_region_t *r)
{
    uint64_t used = atomic_load_explicit(&hdr_of(r)->used, memory_order_acquire);
    return SABRE_MIN(used, r->map_size);
}

uint32_t sabre_region_count(const sabre_region_t *r)
{
    if (!r || sabre__rg_check_size(r) != SABRE_OK)
        return 0; /* no region, or one that shrank under us: nothing to count safely */
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        uint64_t s;
        bool end;
        if (slot_ready(r, i, &s, &end))
            n++;
        else if (end)
            break;
    }
    return n;
}

int sabre_region_object_at(const sabre_region_t *r, uint32_t idx, sabre_object_t *out)
{
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_object_at: NULL argument");
    int rc = sabre__rg_check_size(r);
    if (rc != SABRE_OK)
        return rc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        uint64_t s;
        bool end;
        if (slot_ready(r, i, &s, &end)) {
            if (n++ == idx) {
                struct entry_copy c;
                sabre__rg_copy_entry(entry_of(r, i), s, &c);
                return sabre__rg_validate_entry(r, i, &c, used_bound(r), out);
            }
        } else if (end) {
            break;
        }
    }
    return sabre__fail(SABRE_ENOENT, "region '%s': object index %u is out of range (%u objects)",
                       r->name, idx, n);
}

static void excerpt(char *dst, size_t cap, const char *text, size_t len)
{
    if (len + 1 <= cap) {
        memcpy(dst, text, len);
        dst[len] = '\0';
        return;
    }
    memcpy(dst, text, cap - 4);
    memcpy(dst + cap - 4, "...", 4);
}

/* Finds a READY entry named `name` (length nlen, hash h24); returns its
 * slot or -1. */
static int64_t find_slot(const sabre_region_t *r, const char *name, size_t nlen, uint32_t h24,
                         uint64_t *state)
{
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        uint64_t s;
        bool end;
        if (slot_ready(r, i, &s, &end)) {
            const struct dir_entry *e = entry_of(r, i);
            if (ST_HASH(s) == h24 && memcmp(e->name, name, nlen) == 0 && e->name[nlen] == '\0') {
                *state = s;
                return i;
            }
        } else if (end) {
            break;
        }
    }
    return -1;
}

int sabre_region_find(const sabre_region_t *r, const char *name, const sabre_layout_t *expect,
                      sabre_object_t *out)
{
    if (!r)
        return sabre__fail(SABRE_EINVAL, "sabre_region_find: region is NULL");
    size_t nlen;
    int rc = sabre__rg_check_object_name(name, &nlen);
    if (rc != SABRE_OK)
        return rc;
    if ((rc = sabre__rg_check_size(r)) != SABRE_OK)
        return rc;
    uint64_t s;
    int64_t slot = find_slot(r, name, nlen, sabre__rg_name_hash24(name, nlen), &s);
    if (slot < 0)
        return sabre__fail(SABRE_ENOENT, "region '%s' has no object named '%s'",
                           r->name[0] ? r->name : sabre_backing_name(r->backing), name);
    struct entry_copy c;
    sabre__rg_copy_entry(entry_of(r, (uint32_t)slot), s, &c);
    sabre_object_t o;
    if ((rc = sabre__rg_validate_entry(r, (uint32_t)slot, &c, used_bound(r), &o)) != SABRE_OK)
        return rc;
    if (expect && o.layout_hash != expect->hash) {
        char have[200], want[200];
        excerpt(have, sizeof have, o.layout_text, (size_t)o.layout_len);
        excerpt(want, sizeof want, expect->canonical ? expect->canonical : "",
                expect->canonical ? expect->canonical_len : 0);
        return sabre__fail(SABRE_ELAYOUT,
                           "object '%s': stored layout 0x%016llx \"%s\" differs "
                           "from expected layout 0x%016llx \"%s\"",
                           name, (unsigned long long)o.layout_hash, o.layout_len ? have : "(none)",
                           (unsigned long long)expect->hash, want);
    }
    if (out)
        *out = o;
    return SABRE_OK;
}

/* ---------------------------------------------------------------------------
 * Directory entry states, for inspection of slots that are not published.
 * ------------------------------------------------------------------------- */

int sabre_region_slot(const sabre_region_t *r, uint32_t slot, sabre_slot_info_t *out)
{
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_slot: NULL argument");
    if (slot >= r->dir_capacity)
        return sabre__fail(SABRE_ENOENT, "slot %u is beyond the directory capacity %u", slot,
                           r->dir_capacity);
    int rc = sabre__rg_check_size(r);
    if (rc != SABRE_OK)
        return rc;
    uint64_t s = atomic_load_explicit(&entry_of(r, slot)->state, memory_order_acquire);
    memset(out, 0, sizeof *out);
    out->state = ST_CODE(s) == ST_EMPTY     ? SABRE_SLOT_EMPTY
                 : ST_CODE(s) == ST_WRITING ? SABRE_SLOT_WRITING
                 : ST_CODE(s) == ST_READY   ? SABRE_SLOT_READY
                 : ST_CODE(s) == ST_DEAD    ? SABRE_SLOT_DEAD
                                            : SABRE_SLOT_INVALID;
    out->pid = ST_PID(s);
    out->pid_alive = out->pid > 0 && sabre__pid_alive(out->pid, 0);
    return SABRE_OK;
}

int sabre_region_object_in_slot(const sabre_region_t *r, uint32_t slot, sabre_object_t *out)
{
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_object_in_slot: NULL argument");
    if (slot >= r->dir_capacity)
        return sabre__fail(SABRE_ENOENT, "slot %u is beyond the directory capacity %u", slot,
                           r->dir_capacity);
    int rc = sabre__rg_check_size(r);
    if (rc != SABRE_OK)
        return rc;
    uint64_t s;
    bool end;
    if (!slot_ready(r, slot, &s, &end))
        return sabre__fail(SABRE_ENOENT, "directory slot %u holds no published object", slot);
    struct entry_copy c;
    sabre__rg_copy_entry(entry_of(r, slot), s, &c);
    return sabre__rg_validate_entry(r, slot, &c, used_bound(r), out);
}
