/*
 * backing.c (Linux) - the OS part of region creation: private mappings, memfds,
 * shm names and files, space reservation, prefault, unmapping.
 * The byte layout, the allocation protocol and the validation rules are in
 * docs/abi.md; the comments here only say why the code looks the way it does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "region/region_internal.h"

/* "/name" for shm_open whatever the caller wrote. */
void sabre__rg_shm_path(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "/%s", name[0] == '/' ? name + 1 : name);
}

/* Reads a "Key:   N kB" line of /proc/meminfo; returns bytes (or the raw
 * number when the line has no unit), 0 if absent. */
uint64_t sabre__rg_meminfo_value(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[256];
    size_t klen = strlen(key);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *end = NULL;
            unsigned long long n = strtoull(line + klen + 1, &end, 10);
            v = (uint64_t)n;
            if (end && strstr(end, "kB"))
                v *= 1024u;
            break;
        }
    }
    fclose(f);
    return v;
}

int sabre__rg_fallocate_all(int fd, uint64_t size)
{
    int rc;
    do
        rc = posix_fallocate(fd, 0, (off_t)size);
    while (rc == EINTR);
    return rc;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* MADV_POPULATE_WRITE over [p, p+len), split across up to four threads for
 * large ranges: faulting in shared-memory pages costs the kernel about
 * 2-3 us per 4 KiB page here, and page faults on different parts of a
 * mapping proceed in parallel.  Returns 0 or an errno value (EINVAL when
 * the kernel lacks MADV_POPULATE_WRITE). */
typedef struct populate_part {
    uint8_t *p;
    uint64_t len;
    int err;
} populate_part_t;

static void *populate_part(void *arg)
{
    populate_part_t *part = arg;
    int rc;
    do
        rc = madvise(part->p, (size_t)part->len, MADV_POPULATE_WRITE);
    while (rc != 0 && errno == EINTR);
    part->err = rc == 0 ? 0 : errno;
    return NULL;
}

static int populate_parallel(uint8_t *p, uint64_t len)
{
    enum { MAX_PARTS = 4 };
    long cpus = (long)sabre__plat_cpus();
    uint64_t parts = len >= (64ull << 20) && cpus > 1 ? (uint64_t)SABRE_MIN(cpus, MAX_PARTS) : 1;
    uint64_t step = SABRE_ALIGN_UP(len / parts, sabre__rg_page_size());
    populate_part_t part[MAX_PARTS];
    pthread_t tid[MAX_PARTS];
    bool started[MAX_PARTS] = {false};
    uint64_t n = 0;
    for (uint64_t off = 0; off < len && n < parts; off += step, n++)
        part[n] = (populate_part_t){p + off, SABRE_MIN(step, len - off), 0};
    for (uint64_t i = 1; i < n; i++)
        started[i] = pthread_create(&tid[i], NULL, populate_part, &part[i]) == 0;
    populate_part(&part[0]);
    for (uint64_t i = 1; i < n; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            populate_part(&part[i]); /* no thread to be had: do it here */
    }
    for (uint64_t i = 0; i < n; i++)
        if (part[i].err)
            return part[i].err;
    return 0;
}

/* Reserves `size` bytes of a fresh fd.  With one_pass (tmpfs objects asked
 * to be prefaulted): ftruncate + MADV_POPULATE_WRITE allocates, zeroes and
 * maps every page in a single pass and reports a shortage as an error, never
 * a SIGBUS; *mapped then holds the writable shared mapping.  Otherwise (or
 * on a kernel without MADV_POPULATE_WRITE) posix_fallocate.  Returns 0 or
 * an errno value. */
static int reserve(int fd, uint64_t size, bool one_pass, bool huge, uint8_t **mapped)
{
    *mapped = NULL;
    if (one_pass) {
        if (ftruncate(fd, (off_t)size) != 0)
            return errno;
        void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            return errno;
        if (huge)
            (void)madvise(p, (size_t)size, MADV_HUGEPAGE); /* shmem THP, where enabled */
        int e = populate_parallel(p, size);
        if (e == 0) {
            *mapped = p;
            return 0;
        }
        munmap(p, (size_t)size);
        if (e != EINVAL)
            return e == EFAULT || e == ENOMEM ? ENOSPC : e; /* EFAULT: a page could not be had */
    }
    return sabre__rg_fallocate_all(fd, size);
}

/* Write-faults every page of a private mapping (after THP advice). */
static void populate_write(void *p, uint64_t len)
{
    if (populate_parallel(p, len) == 0)
        return;
    uint64_t pg = sabre__rg_page_size();
    for (uint64_t off = 0; off < len; off += pg)
        ((volatile uint8_t *)p)[off] = 0;
}

uint64_t sabre__rg_statvfs_free(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return 0;
    return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

/* Directory of a file path, for free-space messages ("." if none). */
static void dir_of(char *dst, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        sabre__strlcpy(dst, ".", cap);
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, path, n);
    dst[n] = '\0';
}

/* ---------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------- */

int sabre__rg_map_fd(int fd, uint64_t size, bool readonly, bool prefault, uint8_t **out)
{
    int prot = PROT_READ | (readonly ? 0 : PROT_WRITE);
    int mflags = MAP_SHARED | (prefault ? MAP_POPULATE : 0);
    void *p = mmap(NULL, (size_t)size, prot, mflags, fd, 0);
    if (p == MAP_FAILED)
        return sabre__fail_errno(errno, "cannot map %llu bytes", (unsigned long long)size);
    *out = p;
    return SABRE_OK;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Maps every page of a validated shared mapping, as MAP_POPULATE does (read
 * faults: tmpfs pages come in writable, file pages stay clean); on kernels
 * without MADV_POPULATE_READ, by reading a byte of each page. */
void sabre__rg_prefault_range(uint8_t *base, uint64_t len)
{
    int rc;
    do
        rc = madvise(base, (size_t)len, MADV_POPULATE_READ);
    while (rc != 0 && errno == EINTR);
    if (rc == 0 || errno != EINVAL)
        return;
    uint64_t pg = sabre__rg_page_size();
    volatile uint8_t sink = 0;
    for (uint64_t off = 0; off < len; off += pg)
        sink ^= ((volatile uint8_t *)base)[off];
    (void)sink;
}

static int create_private(sabre_region_t *r, uint64_t size, uint32_t flags, uint16_t *hflags,
                          uint64_t *mapped)
{
    int pf = (flags & SABRE_REGION_PREFAULT) ? MAP_POPULATE : 0;
    void *p = MAP_FAILED;
    if (flags & SABRE_REGION_HUGEPAGES) {
        uint64_t hp = sabre__rg_meminfo_value("Hugepagesize");
        if (hp) {
            uint64_t hsize = SABRE_ALIGN_UP(size, hp);
            p = mmap(NULL, (size_t)hsize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | pf, -1, 0);
            if (p != MAP_FAILED) {
                *hflags |= HDR_FLAG_HUGETLB;
                size = hsize;
            }
        }
    }
    if (p == MAP_FAILED) {
        /* THP advice must precede the faults, so populate after it. */
        bool advise = (flags & SABRE_REGION_HUGEPAGES) != 0;
        p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | (advise ? 0 : pf), -1, 0);
        if (p == MAP_FAILED)
            return sabre__fail_errno(errno, "cannot map %llu bytes of private memory",
                                     (unsigned long long)size);
        if (advise) {
            (void)madvise(p, (size_t)size, MADV_HUGEPAGE); /* advice only */
            if (pf)
                populate_write(p, size);
        }
    }
    r->base = p;
    *mapped = size;
    return SABRE_OK;
}

static int create_memfd(sabre_region_t *r, const char *dbg, uint64_t size, uint32_t flags,
                        uint16_t *hflags, uint64_t *sized)
{
    /* tmpfs behind memfds has no size limit of its own: refuse what memory
     * cannot hold rather than let fallocate push the machine into OOM. */
    uint64_t avail = sabre__rg_meminfo_value("MemAvailable") + sabre__rg_meminfo_value("SwapFree");
    if (avail && size > avail) {
        char a[32], b[32];
        sabre__fmt_bytes(a, sizeof a, size);
        sabre__fmt_bytes(b, sizeof b, avail);
        return sabre__fail(SABRE_ENOSPC,
                           "cannot reserve %llu bytes (%s) for memfd region '%s': only %s of "
                           "memory is available",
                           (unsigned long long)size, a, dbg, b);
    }
    int fd = -1;
    if (flags & SABRE_REGION_HUGEPAGES) {
        uint64_t hp = sabre__rg_meminfo_value("Hugepagesize");
        if (hp) {
            fd = memfd_create(dbg, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
            uint64_t hsize = SABRE_ALIGN_UP(size, hp);
            if (fd >= 0 && (sabre__rg_fallocate_all(fd, hsize) != 0 ||
                            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0)) {
                close(fd);
                fd = -1;
            }
            if (fd >= 0) {
                *hflags |= HDR_FLAG_HUGETLB;
                size = hsize;
            }
        }
    }
    if (fd < 0) {
        fd = memfd_create(dbg, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            return sabre__fail_errno(errno, "memfd_create('%s')", dbg);
        int rc = reserve(fd, size, (flags & SABRE_REGION_PREFAULT) != 0,
                         (flags & SABRE_REGION_HUGEPAGES) != 0, &r->base);
        if (rc != 0) {
            close(fd);
            char a[32];
            sabre__fmt_bytes(a, sizeof a, size);
            return sabre__fail_errno(rc, "cannot reserve %llu bytes (%s) for memfd region '%s'",
                                     (unsigned long long)size, a, dbg);
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
            int e = errno;
            if (r->base)
                munmap(r->base, (size_t)size);
            r->base = NULL;
            close(fd);
            return sabre__fail_errno(e, "cannot seal memfd region '%s' against shrinking", dbg);
        }
    }
    r->fd = fd;
    *sized = size;
    return SABRE_OK;
}

/* SHM and FILE: exclusive create (after unlinking when REPLACE), reserve. */
static int create_named(sabre_region_t *r, const char *name, uint64_t size, uint32_t flags)
{
    bool shm = r->backing == SABRE_BACKING_SHM;
    char path[SABRE_REGION_NAME_MAX + 2];
    if (shm)
        sabre__rg_shm_path(path, sizeof path, name);
    else
        sabre__strlcpy(path, name, sizeof path);
    const char *what = shm ? "shm region" : "region file";
    for (int attempt = 0;; attempt++) {
        if (flags & SABRE_REGION_REPLACE) {
            int u = shm ? shm_unlink(path) : unlink(path);
            if (u != 0 && errno != ENOENT)
                return sabre__fail_errno(errno, "cannot replace %s '%s'", what, path);
        }
        int oflags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
        int fd = shm ? shm_open(path, oflags, 0600) : open(path, oflags, 0600);
        if (fd >= 0) {
            r->fd = fd;
            break;
        }
        if (errno == EEXIST && (flags & SABRE_REGION_REPLACE) && attempt < 3)
            continue; /* someone re-created it between our unlink and create */
        if (errno == EEXIST)
            return sabre__fail(SABRE_EEXIST,
                               "%s '%s' already exists (use SABRE_REGION_REPLACE to replace it)",
                               what, path);
        return sabre__fail_errno(errno, "cannot create %s '%s'", what, path);
    }
    /* A one-pass prefault of a huge shm request would fill /dev/shm before
     * failing: refuse what cannot fit at once. */
    bool one_pass = shm && (flags & SABRE_REGION_PREFAULT);
    int rc = 0;
    if (one_pass && sabre__rg_statvfs_free("/dev/shm") < size)
        rc = ENOSPC;
    if (rc == 0)
        rc = reserve(r->fd, size, one_pass, (flags & SABRE_REGION_HUGEPAGES) != 0, &r->base);
    if (rc != 0) {
        close(r->fd);
        r->fd = -1;
        if (shm)
            shm_unlink(path);
        else
            unlink(path);
        char a[32], b[32], dir[SABRE_REGION_NAME_MAX + 2];
        if (shm)
            sabre__strlcpy(dir, "/dev/shm", sizeof dir);
        else
            dir_of(dir, sizeof dir, path);
        sabre__fmt_bytes(a, sizeof a, size);
        sabre__fmt_bytes(b, sizeof b, sabre__rg_statvfs_free(dir));
        if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
            return sabre__fail(SABRE_ENOSPC,
                               "cannot reserve %llu bytes (%s) for %s '%s': %s has only %s free",
                               (unsigned long long)size, a, what, path, dir, b);
        return sabre__fail_errno(rc, "cannot reserve %llu bytes (%s) for %s '%s'",
                                 (unsigned long long)size, a, what, path);
    }
    return SABRE_OK;
}

void sabre__rg_region_free(sabre_region_t *r)
{
    if (!r)
        return;
    if (r->base)
        munmap(r->base, (size_t)r->map_len);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

int sabre__rg_os_create(sabre_region_t *r, const sabre_region_desc_t *desc, uint64_t size,
                        uint16_t *hflags_out, uint64_t *total_out, uint64_t *page_out)
{
    const char *dbg = desc->name && desc->name[0] ? desc->name : "sabre";
    uint16_t hflags = 0;
    uint64_t total = size;
    bool prefault = (desc->flags & SABRE_REGION_PREFAULT) != 0;
    int rc;
    switch (desc->backing) {
    case SABRE_BACKING_PRIVATE:
        rc = create_private(r, size, desc->flags, &hflags, &total);
        break;
    case SABRE_BACKING_MEMFD:
        rc = create_memfd(r, dbg, size, desc->flags, &hflags, &total);
        if (rc == SABRE_OK && !r->base)
            rc = sabre__rg_map_fd(r->fd, total, false, prefault, &r->base);
        break;
    default:
        rc = create_named(r, desc->name, size, desc->flags);
        if (rc == SABRE_OK) {
            if (!r->base)
                rc = sabre__rg_map_fd(r->fd, total, false, prefault, &r->base);
            if (rc != SABRE_OK) {
                char path[SABRE_REGION_NAME_MAX + 2];
                if (desc->backing == SABRE_BACKING_SHM) {
                    sabre__rg_shm_path(path, sizeof path, desc->name);
                    shm_unlink(path);
                } else {
                    unlink(desc->name);
                }
            }
        }
        break;
    }
    if (rc != SABRE_OK)
        return rc;
    if ((desc->flags & SABRE_REGION_HUGEPAGES) && !(hflags & HDR_FLAG_HUGETLB) &&
        desc->backing != SABRE_BACKING_PRIVATE)
        (void)madvise(r->base, (size_t)total, MADV_HUGEPAGE); /* advice only */
    *hflags_out = hflags;
    *total_out = total;
    *page_out = (hflags & HDR_FLAG_HUGETLB) ? sabre__rg_meminfo_value("Hugepagesize")
                                            : sabre__rg_page_size();
    return SABRE_OK;
}
