/*
 * backing.c (WebAssembly) - the OS part of regions on wasm32.  The module's
 * memory is one SharedArrayBuffer of fixed size shared by every Worker, so
 * the only backing is PRIVATE: a zeroed block of that memory.  memfd, shm
 * and file backings, opening by fd and fd passing do not exist here and
 * return SABRE_ENOTSUP with a message; sabre_probe says so.  Sizes are
 * 64-bit in the API and 32-bit here: every narrowing is checked.
 *
 * Names.  A named PRIVATE region can be opened by name from any thread or
 * Worker of the module: the module-wide directory below (struct wasm_regdir,
 * docs/abi.md "Region names on WebAssembly") plays the part of /dev/shm.
 * It is the region layer's one piece of module-wide state.  Lifetime: a
 * region's memory is freed when its last handle closes (creator's included),
 * and its name goes with it; sabre_region_unlink takes the name away
 * earlier.  Pure-JS workers look names up under the same lock
 * (js/src/worker/regions.js) but hold no handle: the host keeps a handle
 * open while they use the region.
 */
#include <emscripten.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "region/region_internal.h"

#define WASM_NOTE                                                                                  \
    "WebAssembly: only PRIVATE regions (in the module's SharedArrayBuffer); memfd, shm and file "  \
    "backings, fd passing and worker processes are not supported"

/* ---- the module-wide directory of named regions ---- */

static struct wasm_regdir regdir = {.magic = WASM_REGDIR_MAGIC, .capacity = WASM_REGDIR_ENTRIES};

/* Its address, for the JS host (worker handles' `regions`). */
uint32_t sabre__wasm_region_dir(void);
EMSCRIPTEN_KEEPALIVE uint32_t sabre__wasm_region_dir(void)
{
    return (uint32_t)(uintptr_t)&regdir;
}

/* A futex mutex (0 free, 1 held, 2 held with sleepers): short sections, and
 * pure-JS workers take it with the same Atomics. */
static void dir_lock(void)
{
    uint32_t c = 0;
    if (atomic_compare_exchange_strong(&regdir.lock, &c, 1))
        return;
    if (c != 2)
        c = atomic_exchange(&regdir.lock, 2);
    while (c != 0) {
        sabre__futex_wait(&regdir.lock, 2, UINT64_MAX);
        c = atomic_exchange(&regdir.lock, 2);
    }
}

static void dir_unlock(void)
{
    if (atomic_exchange(&regdir.lock, 0) == 2)
        sabre__futex_wake(&regdir.lock, 1);
}

/* The entry named `name` (state NAMED), or NULL.  Under the lock. */
static struct wasm_regdir_entry *dir_find(const char *name)
{
    for (uint32_t i = 0; i < WASM_REGDIR_ENTRIES; i++) {
        struct wasm_regdir_entry *e = &regdir.entries[i];
        if (e->state == WASM_REGDIR_NAMED && strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

/* Registers the new region at p under `name`.  Under no lock. */
static int dir_add(const char *name, void *p, uint64_t size, bool replace)
{
    if (strlen(name) >= WASM_REGDIR_NAME)
        return sabre__fail(SABRE_EINVAL,
                           "region '%s': a name other Workers open is at most %u bytes on "
                           "WebAssembly",
                           name, WASM_REGDIR_NAME - 1);
    dir_lock();
    struct wasm_regdir_entry *old = dir_find(name), *e = NULL;
    if (old && !replace) {
        dir_unlock();
        return sabre__fail(SABRE_EEXIST,
                           "region '%s' exists in this module (close it, unlink it, or create "
                           "with SABRE_REGION_REPLACE)",
                           name);
    }
    for (uint32_t i = 0; i < WASM_REGDIR_ENTRIES && !e; i++)
        if (regdir.entries[i].state == WASM_REGDIR_FREE)
            e = &regdir.entries[i];
    if (!e) {
        dir_unlock();
        return sabre__fail(SABRE_EFULL,
                           "region '%s': %u named regions are open in this module (the "
                           "module-wide directory is full)",
                           name, WASM_REGDIR_ENTRIES);
    }
    if (old) /* replaced: its handles keep it, its name is gone */
        old->state = WASM_REGDIR_UNLINKED;
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, strlen(name) + 1);
    e->base = (uint32_t)(uintptr_t)p;
    e->size = (uint32_t)size;
    e->refs = 1;
    e->state = WASM_REGDIR_NAMED;
    dir_unlock();
    return SABRE_OK;
}

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
    /* "sabre-..." names are the library's own regions' labels (vecenv,
     * snapshots): not registered, so two of them never collide. */
    if (desc->name && desc->name[0] && strncmp(desc->name, "sabre-", 6) != 0) {
        int rc = dir_add(desc->name, p, size, (desc->flags & SABRE_REGION_REPLACE) != 0);
        if (rc) {
            free(p);
            return rc;
        }
    }
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
    bool last = true;
    if (r->base) {
        dir_lock();
        for (uint32_t i = 0; i < WASM_REGDIR_ENTRIES; i++) {
            struct wasm_regdir_entry *e = &regdir.entries[i];
            if (e->state == WASM_REGDIR_FREE || e->base != (uint32_t)(uintptr_t)r->base)
                continue;
            last = --e->refs == 0;
            if (last)
                memset(e, 0, sizeof *e);
            break;
        }
        dir_unlock();
    }
    if (last)
        free(r->base);
    free(r);
}

void sabre__rg_prefault_range(uint8_t *base, uint64_t len)
{
    (void)base; /* the module memory is committed at load */
    (void)len;
}

/* Opens a named PRIVATE region of this module: a new handle (the region
 * lives until its last handle closes). */
int sabre_region_open(const sabre_region_desc_t *desc, sabre_region_t **out)
{
    if (out)
        *out = NULL;
    if (!desc || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_open: NULL argument");
    if (desc->backing != SABRE_BACKING_PRIVATE)
        return not_here(desc->backing == SABRE_BACKING_MEMFD ? "opening a MEMFD region"
                        : desc->backing == SABRE_BACKING_SHM ? "opening a SHM region"
                                                             : "opening a FILE region");
    if (!desc->name || !desc->name[0])
        return sabre__fail(SABRE_EINVAL, "sabre_region_open: a PRIVATE region is opened by its "
                                         "name, and the name is empty");
    uint32_t known = SABRE_REGION_READONLY | SABRE_REGION_NOWAIT | SABRE_REGION_PREFAULT;
    if (desc->flags & ~known)
        return sabre__fail(SABRE_EINVAL, "region open flags 0x%x: unknown or create-only bits 0x%x",
                           desc->flags, desc->flags & ~known);
    sabre_region_t *r = calloc(1, sizeof *r);
    if (!r)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a region handle");
    dir_lock();
    struct wasm_regdir_entry *e = dir_find(desc->name);
    if (e) {
        e->refs++;
        r->base = (uint8_t *)(uintptr_t)e->base;
        r->map_len = r->map_size = e->size;
    }
    dir_unlock();
    if (!e) {
        free(r);
        return sabre__fail(SABRE_ENOENT,
                           "no region named '%s' in this module (PRIVATE regions are found by "
                           "name while a handle keeps them open)",
                           desc->name);
    }
    r->fd = -1;
    r->backing = SABRE_BACKING_PRIVATE;
    r->readonly = (desc->flags & SABRE_REGION_READONLY) != 0;
    sabre__strlcpy(r->name, desc->name, sizeof r->name);
    /* The creator registers the name before it writes the header: wait for it. */
    uint32_t wait_ms = (desc->flags & SABRE_REGION_NOWAIT) ? 0
                       : desc->wait_ms                     ? desc->wait_ms
                                                           : 1000;
    uint64_t deadline = sabre__now_ns() + (uint64_t)wait_ms * 1000000ull;
    struct region_header *h = hdr_of(r);
    while (atomic_load_explicit(&h->initialised, memory_order_acquire) != INIT_DONE) {
        if (sabre__now_ns() >= deadline) {
            sabre__rg_region_free(r);
            return sabre__fail(SABRE_EBUSY, "region '%s' is still being created", desc->name);
        }
        sabre__rg_sleep_ns(100000);
    }
    int rc = sabre__rg_validate_header(r, r->map_size);
    if (rc == SABRE_OK)
        rc = sabre__rg_validate_directory(r);
    if (rc) {
        sabre__rg_region_free(r);
        return rc;
    }
    *out = r;
    return SABRE_OK;
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

/* Takes a PRIVATE region's name away; its handles keep it until they close. */
int sabre_region_unlink(sabre_backing_t backing, const char *name)
{
    if (backing != SABRE_BACKING_PRIVATE)
        return not_here("unlinking a MEMFD, SHM or FILE region");
    if (!name || !name[0])
        return sabre__fail(SABRE_EINVAL, "sabre_region_unlink: the name is empty");
    dir_lock();
    struct wasm_regdir_entry *e = dir_find(name);
    if (e)
        e->state = WASM_REGDIR_UNLINKED;
    dir_unlock();
    if (!e)
        return sabre__fail(SABRE_ENOENT, "no region named '%s' in this module", name);
    return SABRE_OK;
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
