/*
 * backing.c (WebAssembly) - the OS part of regions on wasm32.  The module's
 * memory is one SharedArrayBuffer of fixed size shared by every Worker, so
 * the only backing is PRIVATE: a zeroed block of that memory.  memfd, shm
 * and file backings, opening by name or fd and fd passing do not exist here
 * and return SABRE_ENOTSUP with a message; sabre_probe says so.  Sizes are
 * 64-bit in the API and 32-bit here: every narrowing is checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "region/region_internal.h"

#define WASM_NOTE                                                                                  \
    "WebAssembly: only PRIVATE regions (in the module's SharedArrayBuffer); memfd, shm and file "  \
    "backings, fd passing and worker processes are not supported"

static int not_here(const char *what)
{
    return sabre__fail(SABRE_ENOTSUP, "%s is not supported on WebAssembly: %s", what,
                       "only PRIVATE regions exist there (the module's memory is the "
                       "SharedArrayBuffer every Worker shares)");
}

int sabre__rg_os_create(sabre_region_t *r, const sabre_region_desc_t *desc, uint64_t size,
                        uint16_t *hflags, uint64_t *total, uint64_t *page)
{
    if (desc->backing != SABRE_BACKING_PRIVATE)
        return not_here(desc->backing == SABRE_BACKING_MEMFD ? "a MEMFD region"
                        : desc->backing == SABRE_BACKING_SHM ? "a SHM region"
                                                             : "a FILE region");
    if (size > (uint64_t)SIZE_MAX - 64)
        return sabre__fail(SABRE_ENOSPC,
                           "region '%s': size is %llu bytes, want at most %llu (wasm32 addresses "
                           "4 GiB)",
                           desc->name ? desc->name : "", (unsigned long long)size,
                           (unsigned long long)(SIZE_MAX - 64));
    void *p = aligned_alloc(64, (size_t)size);
    if (!p)
        return sabre__fail(SABRE_ENOSPC,
                           "region '%s': cannot take %llu bytes from the module memory (its size "
                           "is fixed at load: give the module more memory)",
                           desc->name ? desc->name : "", (unsigned long long)size);
    memset(p, 0, (size_t)size);
    r->base = p;
    *hflags = 0;
    *total = size;
    *page = sabre__rg_page_size();
    return SABRE_OK;
}

void sabre__rg_region_free(sabre_region_t *r)
{
    if (!r)
        return;
    free(r->base);
    free(r);
}

void sabre__rg_prefault_range(uint8_t *base, uint64_t len)
{
    (void)base; /* the module memory is committed at load */
    (void)len;
}

int sabre_region_open(const sabre_region_desc_t *desc, sabre_region_t **out)
{
    if (out)
        *out = NULL;
    (void)desc;
    return not_here("opening a region by name");
}

int sabre_region_open_fd(int fd, uint32_t flags, sabre_region_t **out)
{
    if (out)
        *out = NULL;
    (void)fd;
    (void)flags;
    return not_here("opening a region by fd");
}

void sabre_region_close(sabre_region_t *region)
{
    sabre__rg_region_free(region);
}

int sabre_region_unlink(sabre_backing_t backing, const char *name)
{
    (void)backing;
    (void)name;
    return not_here("unlinking a region");
}

int sabre_fd_send(int sock, int fd, const void *msg, size_t len)
{
    (void)sock, (void)fd, (void)msg, (void)len;
    return not_here("fd passing");
}

int sabre_fd_recv(int sock, int *fd, void *msg, size_t cap, size_t *len)
{
    (void)sock, (void)msg, (void)cap;
    if (fd)
        *fd = -1;
    if (len)
        *len = 0;
    return not_here("fd passing");
}

int sabre_probe(const char *dir, sabre_caps_t *out)
{
    (void)dir;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_probe: out is NULL");
    memset(out, 0, sizeof *out);
    out->private_ok = true;
    out->futex_ok = true;
    out->page_size = sabre__rg_page_size();
    out->platform = sabre__plat_name();
    out->note = WASM_NOTE;
    return SABRE_OK;
}
