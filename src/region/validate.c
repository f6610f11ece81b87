/*
 * validate.c - validation of a mapped region: header, directory, every entry.
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
 * Validation
 * ------------------------------------------------------------------------- */

/* The memory object's real size against the size validated at open: a peer
 * that truncates a shm or file region under its users would make the next
 * access to the lost pages raise SIGBUS.  Checked wherever the handle
 * already validates (find, object_at, alloc and the attaches built on
 * find); it cannot protect pointers already handed out (docs/abi.md). */
int sabre__rg_check_size(const sabre_region_t *r)
{
    if (r->fd < 0)
        return SABRE_OK; /* PRIVATE: nobody else holds the memory */
    struct stat st;
    if (fstat(r->fd, &st) != 0)
        return sabre__fail_errno(errno, "region '%s': fstat",
                                 r->name[0] ? r->name : sabre_backing_name(r->backing));
    if ((uint64_t)st.st_size < r->map_size)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s' shrank under its users: %llu bytes when opened, "
                           "%llu now (truncated by another process?)",
                           r->name[0] ? r->name : sabre_backing_name(r->backing),
                           (unsigned long long)r->map_size, (unsigned long long)st.st_size);
    return SABRE_OK;
}

/* A copy of an entry taken with single loads, validated as a whole, so a
 * concurrent scribbler cannot change a field between check and use. */

void sabre__rg_copy_entry(const struct dir_entry *e, uint64_t state, struct entry_copy *c)
{
    c->state = state;
    c->kind = __atomic_load_n(&e->kind, __ATOMIC_RELAXED);
    c->align = __atomic_load_n(&e->align, __ATOMIC_RELAXED);
    c->offset = __atomic_load_n(&e->offset, __ATOMIC_RELAXED);
    c->size = __atomic_load_n(&e->size, __ATOMIC_RELAXED);
    c->layout_offset = __atomic_load_n(&e->layout_offset, __ATOMIC_RELAXED);
    c->layout_len = __atomic_load_n(&e->layout_len, __ATOMIC_RELAXED);
    c->layout_hash = __atomic_load_n(&e->layout_hash, __ATOMIC_RELAXED);
    c->created_ns = __atomic_load_n(&e->created_ns, __ATOMIC_RELAXED);
    memcpy(c->name, e->name, SABRE_NAME_MAX);
}

/* Validates a READY entry copy against the region's bounds; `used` is the
 * bump word read after the entry's state (every published object ends at or
 * below it).  Fills *o when valid. */
int sabre__rg_validate_entry(const sabre_region_t *r, uint32_t i, const struct entry_copy *c,
                             uint64_t used, sabre_object_t *o)
{
    const char *rn = r->name[0] ? r->name : sabre_backing_name(r->backing);
    if (c->name[SABRE_NAME_MAX - 1] != '\0' || memchr(c->name, 0, SABRE_NAME_MAX) == NULL)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': directory entry %u: name is not "
                           "NUL-terminated within %d bytes",
                           rn, i, SABRE_NAME_MAX);
    size_t nlen = strlen(c->name);
    if (nlen == 0)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': directory entry %u: name is empty", rn, i);
    for (size_t k = 0; k < nlen; k++)
        if (!sabre__rg_object_char_ok((unsigned char)c->name[k]))
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': directory entry %u: name has an "
                               "invalid byte 0x%02x at %zu",
                               rn, i, (unsigned char)c->name[k], k);
    if (ST_HASH(c->state) != sabre__rg_name_hash24(c->name, nlen))
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': object '%s' (entry %u): state word "
                           "name hash 0x%06x does not match the name (0x%06x)",
                           rn, c->name, i, ST_HASH(c->state), sabre__rg_name_hash24(c->name, nlen));
    if (!sabre__rg_kind_valid(c->kind))
        return sabre__fail(SABRE_ECORRUPT, "region '%s': object '%s' (entry %u): unknown kind %u",
                           rn, c->name, i, c->kind);
    if (c->align < SABRE_OBJECT_ALIGN || c->align > MAX_ALIGN || (c->align & (c->align - 1)))
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': object '%s' (entry %u): alignment %u "
                           "is not a power of two in [64, 2^30]",
                           rn, c->name, i, c->align);
    uint64_t end;
    if (c->size == 0)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': object '%s' (entry %u): size is 0", rn,
                           c->name, i);
    if (c->offset % c->align != 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': object '%s' (entry %u): offset %llu is "
                           "not a multiple of its alignment %u",
                           rn, c->name, i, (unsigned long long)c->offset, c->align);
    if (c->offset < r->data_offset || __builtin_add_overflow(c->offset, c->size, &end) ||
        end > used || end > r->map_size)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': object '%s' (entry %u): bytes [%llu, "
                           "+%llu) are outside the object area [%llu, %llu)",
                           rn, c->name, i, (unsigned long long)c->offset,
                           (unsigned long long)c->size, (unsigned long long)r->data_offset,
                           (unsigned long long)SABRE_MIN(used, r->map_size));
    const char *text = "";
    if (c->layout_offset == 0) {
        if (c->layout_len != 0 || c->layout_hash != 0)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': object '%s' (entry %u): no layout "
                               "text but layout length %llu / hash 0x%016llx",
                               rn, c->name, i, (unsigned long long)c->layout_len,
                               (unsigned long long)c->layout_hash);
    } else {
        uint64_t tend;
        if (c->layout_len == 0 || c->layout_len > MAX_LAYOUT_TEXT ||
            c->layout_offset < r->data_offset ||
            __builtin_add_overflow(c->layout_offset, c->layout_len + 1, &tend) || tend > c->offset)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': object '%s' (entry %u): layout "
                               "text [%llu, +%llu) must lie in the object area before the data "
                               "at %llu",
                               rn, c->name, i, (unsigned long long)c->layout_offset,
                               (unsigned long long)c->layout_len, (unsigned long long)c->offset);
        text = (const char *)r->base + c->layout_offset;
        if (text[c->layout_len] != '\0' || memchr(text, 0, (size_t)c->layout_len) != NULL)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': object '%s' (entry %u): layout "
                               "text is not exactly %llu bytes followed by NUL",
                               rn, c->name, i, (unsigned long long)c->layout_len);
        uint64_t h = sabre__fnv1a64(text, (size_t)c->layout_len);
        if (h != c->layout_hash)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': object '%s' (entry %u): layout hash "
                               "0x%016llx does not match its text (FNV-1a 0x%016llx)",
                               rn, c->name, i, (unsigned long long)c->layout_hash,
                               (unsigned long long)h);
    }
    if (o) {
        memset(o, 0, sizeof *o);
        o->index = i;
        o->kind = c->kind;
        memcpy(o->name, c->name, nlen + 1);
        o->offset = c->offset;
        o->size = c->size;
        o->ptr = r->base + c->offset;
        o->layout_text = text;
        o->layout_len = c->layout_len;
        o->layout_hash = c->layout_hash;
    }
    return SABRE_OK;
}

struct range {
    uint64_t lo, hi;
    uint32_t entry;
};

struct named {
    uint32_t h24, entry;
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    if (x->h24 != y->h24)
        return x->h24 < y->h24 ? -1 : 1;
    return x->entry < y->entry ? -1 : x->entry > y->entry ? 1 : 0;
}

/* Two READY entries with one name: the allocation protocol never makes
 * them, so the region was written by something else (docs/abi.md
 * "Directory entry", name rule). */
static int check_duplicates(const sabre_region_t *r, const char *rn, struct named *names, size_t n)
{
    qsort(names, n, sizeof *names, named_cmp);
    for (size_t k = 0; k < n; k++) {
        for (size_t m = k + 1; m < n && names[m].h24 == names[k].h24; m++) {
            char a[SABRE_NAME_MAX], b[SABRE_NAME_MAX];
            memcpy(a, entry_of(r, names[k].entry)->name, SABRE_NAME_MAX);
            memcpy(b, entry_of(r, names[m].entry)->name, SABRE_NAME_MAX);
            a[SABRE_NAME_MAX - 1] = b[SABRE_NAME_MAX - 1] = '\0';
            if (strcmp(a, b) == 0)
                return sabre__fail(SABRE_ECORRUPT,
                                   "region '%s': directory entries %u and %u are both "
                                   "published with the name '%s' (names are unique)",
                                   rn, names[k].entry, names[m].entry, a);
        }
    }
    return SABRE_OK;
}

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

/* Every directory entry at open: states known, READY entries valid and no
 * two objects (data or layout text) overlapping. */
int sabre__rg_validate_directory(const sabre_region_t *r)
{
    const char *rn = r->name[0] ? r->name : sabre_backing_name(r->backing);
    uint64_t used = atomic_load_explicit(&hdr_of(r)->used, memory_order_acquire);
    struct range *ranges = NULL;
    struct named *names = NULL;
    size_t nr = 0, nn = 0;
    int rc = SABRE_OK;
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        struct dir_entry *e = entry_of(r, i);
        uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
        uint32_t code = ST_CODE(s);
        if (code == ST_EMPTY)
            break; /* slots are claimed in order: nothing published past here */
        if (code != ST_WRITING && code != ST_READY && code != ST_DEAD) {
            rc = sabre__fail(SABRE_ECORRUPT,
                             "region '%s': directory entry %u: state code %u "
                             "is not empty/writing/ready/dead",
                             rn, i, code);
            break;
        }
        if (code != ST_READY)
            continue;
        /* `used` only grows: re-read so entries published after our first
         * read (a live allocator) are judged against a fresh bound. */
        used = atomic_load_explicit(&hdr_of(r)->used, memory_order_acquire);
        if (used > r->map_size)
            used = r->map_size;
        struct entry_copy c;
        sabre__rg_copy_entry(e, s, &c);
        sabre_object_t o;
        if ((rc = sabre__rg_validate_entry(r, i, &c, used, &o)) != SABRE_OK)
            break;
        if (!ranges) {
            ranges = malloc(sizeof *ranges * 2 * (size_t)r->dir_capacity);
            names = malloc(sizeof *names * (size_t)r->dir_capacity);
            if (!ranges || !names) {
                rc = sabre__fail(SABRE_ENOMEM, "out of memory validating region '%s'", rn);
                break;
            }
        }
        names[nn++] = (struct named){ST_HASH(s), i};
        ranges[nr++] = (struct range){o.offset, o.offset + o.size, i};
        if (c.layout_offset)
            ranges[nr++] = (struct range){c.layout_offset, c.layout_offset + c.layout_len + 1, i};
    }
    if (rc == SABRE_OK && nr > 1) {
        qsort(ranges, nr, sizeof *ranges, range_cmp);
        for (size_t k = 1; k < nr; k++)
            if (ranges[k].lo < ranges[k - 1].hi) {
                rc = sabre__fail(
                    SABRE_ECORRUPT,
                    "region '%s': directory entries %u and %u "
                    "overlap (bytes [%llu, %llu) and [%llu, %llu))",
                    rn, ranges[k - 1].entry, ranges[k].entry, (unsigned long long)ranges[k - 1].lo,
                    (unsigned long long)ranges[k - 1].hi, (unsigned long long)ranges[k].lo,
                    (unsigned long long)ranges[k].hi);
                break;
            }
    }
    if (rc == SABRE_OK && nn > 1)
        rc = check_duplicates(r, rn, names, nn);
    free(ranges);
    free(names);
    return rc;
}

/* Header checks on a mapping of `size` bytes whose `initialised` is done. */
int sabre__rg_validate_header(sabre_region_t *r, uint64_t size)
{
    const char *rn = r->name[0] ? r->name : sabre_backing_name(r->backing);
    const struct region_header *h = hdr_of(r);
    if (h->magic != SABRE_REGION_MAGIC)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': not a sabre region (magic 0x%016llx, "
                           "want 0x%016llx)",
                           rn, (unsigned long long)h->magic,
                           (unsigned long long)SABRE_REGION_MAGIC);
    if (h->abi_major != SABRE_ABI_MAJOR)
        return sabre__fail(SABRE_EVERSION,
                           "region '%s': region ABI %u.%u, this library %d.%d "
                           "(major versions must match)",
                           rn, h->abi_major, h->abi_minor, SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
    if (size < HDR_SIZE)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': %llu bytes is too small for the %u-byte "
                           "header (truncated?)",
                           rn, (unsigned long long)size, HDR_SIZE);
    if (h->header_size < HDR_SIZE || h->header_size % 64 != 0 || h->header_size > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': header_size %u must be a multiple of 64 "
                           "in [%u, %llu]",
                           rn, h->header_size, HDR_SIZE, (unsigned long long)size);
    if (h->total_size < HDR_SIZE || h->total_size > size)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': total_size %llu but the mapping is %llu "
                           "bytes%s",
                           rn, (unsigned long long)h->total_size, (unsigned long long)size,
                           h->total_size > size ? " (truncated?)" : "");
    uint64_t total = h->total_size;
    int32_t pid = atomic_load_explicit(&h->creator_pid, memory_order_relaxed);
    if (pid <= 0)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': creator_pid %d is not a process id", rn,
                           (int)pid);
    if (h->backing > SABRE_BACKING_FILE)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': backing %u is unknown", rn, h->backing);
    /* Every 1.x entry is 128 bytes at dir_offset + 128*i; another entry
     * size needs another major (docs/abi.md "Versioning policy"). */
    if (h->dir_entry_size != ENTRY_SIZE)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': dir_entry_size is %u, want %u (ABI %u.x directory "
                           "entries are %u bytes)",
                           rn, h->dir_entry_size, ENTRY_SIZE, (unsigned)h->abi_major, ENTRY_SIZE);
    if (h->dir_capacity == 0 || h->dir_capacity > MAX_OBJECTS_LIMIT)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': dir_capacity %u must be in [1, %u]", rn,
                           h->dir_capacity, MAX_OBJECTS_LIMIT);
    uint64_t dir_end = h->dir_offset + (uint64_t)h->dir_capacity * ENTRY_SIZE;
    if (h->dir_offset < h->header_size || h->dir_offset % 64 != 0 || h->dir_offset > total ||
        dir_end > total || dir_end < h->dir_offset)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': directory [%llu, +%u entries) must be "
                           "64-aligned, after the %u-byte header and inside %llu bytes",
                           rn, (unsigned long long)h->dir_offset, h->dir_capacity, h->header_size,
                           (unsigned long long)total);
    if (h->data_offset < dir_end || h->data_offset % 64 != 0 || h->data_offset > total)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': data_offset %llu must be 64-aligned, "
                           "at or after the directory end %llu and inside %llu bytes",
                           rn, (unsigned long long)h->data_offset, (unsigned long long)dir_end,
                           (unsigned long long)total);
    uint64_t used = atomic_load_explicit(&h->used, memory_order_acquire);
    if (used < h->data_offset || used > total || used % SABRE_OBJECT_ALIGN != 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': used %llu must be a multiple of 64 in "
                           "[data_offset %llu, total_size %llu]",
                           rn, (unsigned long long)used, (unsigned long long)h->data_offset,
                           (unsigned long long)total);
    uint32_t claimed = atomic_load_explicit(&h->dir_claimed, memory_order_relaxed);
    if (claimed > h->dir_capacity)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': dir_claimed %u exceeds dir_capacity %u",
                           rn, claimed, h->dir_capacity);
    r->dir_offset = h->dir_offset;
    r->dir_capacity = h->dir_capacity;
    r->data_offset = h->data_offset;
    r->map_size = total;
    return SABRE_OK;
}
