/*
 * open.c - the handle accessors.  Opening regions (by fd, name or path) is
 * the OS part, src/region/<platform>/open.c.
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
 * Accessors
 * ------------------------------------------------------------------------- */

void *sabre_region_base(const sabre_region_t *r)
{
    return r ? r->base : NULL;
}
uint64_t sabre_region_size(const sabre_region_t *r)
{
    return r ? r->map_size : 0;
}
int sabre_region_fd(const sabre_region_t *r)
{
    return r ? r->fd : -1;
}
sabre_backing_t sabre_region_backing(const sabre_region_t *r)
{
    return r ? r->backing : SABRE_BACKING_PRIVATE;
}
const char *sabre_region_name(const sabre_region_t *r)
{
    return r ? r->name : "";
}
bool sabre_region_readonly(const sabre_region_t *r)
{
    return r ? r->readonly : false;
}

int sabre_region_info(const sabre_region_t *r, sabre_region_info_t *out)
{
    if (!r || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_info: NULL argument");
    int rc = sabre__rg_check_size(r);
    if (rc != SABRE_OK)
        return rc;
    const struct region_header *h = hdr_of(r);
    memset(out, 0, sizeof *out);
    out->abi_major = h->abi_major;
    out->abi_minor = h->abi_minor;
    out->header_size = h->header_size;
    out->total_size = r->map_size;
    uint64_t used = atomic_load_explicit(&h->used, memory_order_acquire);
    out->used = SABRE_MIN(used, r->map_size);
    out->max_objects = r->dir_capacity;
    out->nobjects = sabre_region_count(r);
    out->creator_pid = atomic_load_explicit(&h->creator_pid, memory_order_relaxed);
    out->creator_start_time = atomic_load_explicit(&h->creator_start_time, memory_order_relaxed);
    out->created_ns = h->created_ns;
    out->creator_alive = sabre__pid_alive(out->creator_pid, out->creator_start_time);
    out->dir_offset = r->dir_offset;
    out->data_offset = r->data_offset;
    out->dir_claimed =
        SABRE_MIN(atomic_load_explicit(&h->dir_claimed, memory_order_relaxed), r->dir_capacity);
    out->backing = r->backing;
    out->hugetlb = (h->flags & HDR_FLAG_HUGETLB) != 0;
    out->page_size = h->page_size;
    return SABRE_OK;
}

void *sabre_region_ptr(const sabre_region_t *r, uint64_t offset, uint64_t len)
{
    uint64_t end;
    if (!r || __builtin_add_overflow(offset, len, &end) || end > r->map_size)
        return NULL;
    return r->base + offset;
}

uint64_t sabre_region_offset(const sabre_region_t *r, const void *ptr)
{
    if (!r || !ptr)
        return UINT64_MAX;
    uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)r->base;
    if (p < b || p - b > r->map_size)
        return UINT64_MAX;
    return (uint64_t)(p - b);
}
