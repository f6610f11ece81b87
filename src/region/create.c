/*
 * create.c - region creation, the portable part: names, geometry, the header.
 * Making the memory (backings, space reservation, prefault) is the OS part,
 * src/region/<platform>/backing.c (sabre__rg_os_create).
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
 * Small helpers
 * ------------------------------------------------------------------------- */

const char *sabre_backing_name(sabre_backing_t b)
{
    switch (b) {
    case SABRE_BACKING_PRIVATE:
        return "private";
    case SABRE_BACKING_MEMFD:
        return "memfd";
    case SABRE_BACKING_SHM:
        return "shm";
    case SABRE_BACKING_FILE:
        return "file";
    }
    return "?";
}

const char *sabre_object_kind_name(uint32_t kind)
{
    switch (kind) {
    case SABRE_OBJ_RAW:
        return "raw";
    case SABRE_OBJ_COLUMNS:
        return "columns";
    case SABRE_OBJ_WEIGHTS:
        return "weights";
    case SABRE_OBJ_RING:
        return "ring";
    case SABRE_OBJ_MAILBOX:
        return "mailbox";
    case SABRE_OBJ_SNAPSHOT:
        return "snapshot";
    case SABRE_OBJ_TABLE:
        return "table";
    case SABRE_OBJ_VECENV:
        return "vecenv";
    case SABRE_OBJ_BRIDGE:
        return "bridge";
    default:
        return kind >= SABRE_OBJ_USER ? "user" : "unknown";
    }
}

bool sabre__rg_kind_valid(uint32_t kind)
{
    return (kind >= SABRE_OBJ_RAW && kind <= SABRE_OBJ_BRIDGE) || kind >= SABRE_OBJ_USER;
}

uint32_t sabre__rg_name_hash24(const char *name, size_t len)
{
    uint64_t h = sabre__fnv1a64(name, len);
    return (uint32_t)((h ^ (h >> 24) ^ (h >> 48)) & 0xffffffu);
}

/* Object names: 1..47 bytes of printable ASCII except space, '"' and '\\',
 * so every name is a valid JSON string and shell word without escaping. */
bool sabre__rg_object_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

int sabre__rg_check_object_name(const char *name, size_t *len_out)
{
    if (!name)
        return sabre__fail(SABRE_EINVAL, "object name is NULL");
    size_t n = strnlen(name, SABRE_NAME_MAX);
    if (n == 0)
        return sabre__fail(SABRE_EINVAL, "object name is empty");
    if (n >= SABRE_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "object name '%.47s...' is longer than %d bytes", name,
                           SABRE_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if (!sabre__rg_object_char_ok((unsigned char)name[i]))
            return sabre__fail(SABRE_EINVAL,
                               "object name '%s' has an invalid character 0x%02x at byte %zu "
                               "(allowed: printable ASCII except space, '\"' and '\\')",
                               name, (unsigned char)name[i], i);
    if (len_out)
        *len_out = n;
    return SABRE_OK;
}

int sabre__rg_check_shm_name(const char *name)
{
    if (!name)
        return sabre__fail(SABRE_EINVAL, "shm name is NULL");
    const char *p = name[0] == '/' ? name + 1 : name;
    size_t n = strnlen(p, 255);
    if (n == 0)
        return sabre__fail(SABRE_EINVAL, "shm name '%s' is empty", name);
    if (n > 254)
        return sabre__fail(SABRE_EINVAL, "shm name '%.40s...' is longer than 254 bytes", name);
    bool all_dots = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return sabre__fail(SABRE_EINVAL,
                               "shm name '%s' has an invalid character 0x%02x at byte %zu "
                               "(allowed: A-Z a-z 0-9 . _ - after an optional leading '/')",
                               name, c, i);
        if (c != '.')
            all_dots = false;
    }
    if (all_dots)
        return sabre__fail(SABRE_EINVAL, "shm name '%s' may not consist of dots only", name);
    return SABRE_OK;
}

int sabre__rg_check_file_name(const char *path)
{
    if (!path)
        return sabre__fail(SABRE_EINVAL, "file path is NULL");
    size_t n = strnlen(path, SABRE_REGION_NAME_MAX + 1);
    if (n == 0)
        return sabre__fail(SABRE_EINVAL, "file path is empty");
    if (n > SABRE_REGION_NAME_MAX - 1)
        return sabre__fail(SABRE_EINVAL, "file path '%.40s...' is longer than %d bytes", path,
                           SABRE_REGION_NAME_MAX - 1);
    return SABRE_OK;
}

uint64_t sabre__rg_page_size(void)
{
    return (uint64_t)sabre__plat_page_size();
}

void sabre__rg_sleep_ns(uint64_t ns)
{
    sabre__plat_sleep_ns(ns);
}

/* Writes the header of a fresh (all-zero) mapping; `initialised` last. */
static void init_header(sabre_region_t *r, uint64_t total, uint32_t cap, uint16_t hflags,
                        uint32_t pgsize)
{
    struct region_header *h = hdr_of(r);
    pid_t pid = sabre__self_pid();
    /* pid first, so an opener that races with us can name (and watch) us. */
    atomic_store_explicit(&h->creator_pid, (int32_t)pid, memory_order_relaxed);
    atomic_store_explicit(&h->creator_start_time, sabre__self_start(), memory_order_relaxed);
    __atomic_store_n(&h->magic, SABRE_REGION_MAGIC, __ATOMIC_RELAXED);
    h->abi_major = SABRE_ABI_MAJOR;
    h->abi_minor = SABRE_ABI_MINOR;
    h->header_size = HDR_SIZE;
    h->total_size = total;
    h->created_ns = sabre__wall_ns();
    h->dir_offset = r->dir_offset;
    h->dir_capacity = cap;
    h->dir_entry_size = ENTRY_SIZE;
    h->data_offset = r->data_offset;
    h->backing = (uint16_t)r->backing;
    h->flags = hflags;
    h->page_size = pgsize;
    atomic_store_explicit(&h->used, r->data_offset, memory_order_relaxed);
    atomic_store_explicit(&h->dir_claimed, 0, memory_order_relaxed);
    atomic_store_explicit(&h->initialised, INIT_DONE, memory_order_release);
}

int sabre_region_create(const sabre_region_desc_t *desc, sabre_region_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_create: out is NULL");
    *out = NULL;
    if (!desc)
        return sabre__fail(SABRE_EINVAL, "sabre_region_create: desc is NULL");
    if ((unsigned)desc->backing > SABRE_BACKING_FILE)
        return sabre__fail(SABRE_EINVAL, "unknown region backing %d", (int)desc->backing);
    uint32_t known = SABRE_REGION_PREFAULT | SABRE_REGION_REPLACE | SABRE_REGION_HUGEPAGES;
    if (desc->flags & ~known)
        return sabre__fail(SABRE_EINVAL, "region create flags 0x%x: unknown or open-only bits 0x%x",
                           desc->flags, desc->flags & ~known);
    int rc;
    if (desc->backing == SABRE_BACKING_SHM &&
        (rc = sabre__rg_check_shm_name(desc->name)) != SABRE_OK)
        return rc;
    if (desc->backing == SABRE_BACKING_FILE &&
        (rc = sabre__rg_check_file_name(desc->name)) != SABRE_OK)
        return rc;
    const char *dbg = desc->name && desc->name[0] ? desc->name : "sabre";
    if ((desc->backing == SABRE_BACKING_MEMFD || desc->backing == SABRE_BACKING_PRIVATE) &&
        strnlen(dbg, SABRE_REGION_NAME_MAX) >= SABRE_REGION_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "region name is longer than %d bytes",
                           SABRE_REGION_NAME_MAX - 1);

    uint32_t cap = desc->max_objects ? desc->max_objects : DEFAULT_MAX_OBJECTS;
    if (cap > MAX_OBJECTS_LIMIT)
        return sabre__fail(SABRE_EINVAL, "max_objects %u exceeds the limit %u", cap,
                           MAX_OBJECTS_LIMIT);
    uint64_t dir_offset = HDR_SIZE;
    uint64_t data_offset =
        SABRE_ALIGN_UP(dir_offset + (uint64_t)cap * ENTRY_SIZE, (uint64_t)SABRE_OBJECT_ALIGN);
    uint64_t pg = sabre__rg_page_size();
    if (desc->size > MAX_REGION_SIZE)
        return sabre__fail(SABRE_EINVAL, "region size %llu exceeds the limit %llu bytes",
                           (unsigned long long)desc->size, (unsigned long long)MAX_REGION_SIZE);
    uint64_t size = SABRE_ALIGN_UP(desc->size, pg);
    if (size < data_offset)
        return sabre__fail(SABRE_EINVAL,
                           "region size %llu is too small: the header and a directory of %u "
                           "objects need %llu bytes",
                           (unsigned long long)desc->size, cap, (unsigned long long)data_offset);

    sabre_region_t *r = calloc(1, sizeof *r);
    if (!r)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a region handle");
    r->fd = -1;
    r->backing = desc->backing;
    r->dir_offset = dir_offset;
    r->dir_capacity = cap;
    r->data_offset = data_offset;
    if (desc->name)
        sabre__strlcpy(r->name, desc->name, sizeof r->name);

    uint16_t hflags = 0;
    uint64_t total = size, page = pg;
    if ((rc = sabre__rg_os_create(r, desc, size, &hflags, &total, &page)) != SABRE_OK) {
        sabre__rg_region_free(r);
        return rc;
    }
    r->map_len = r->map_size = total;
    init_header(r, total, cap, hflags, (uint32_t)page);
    *out = r;
    return SABRE_OK;
}
