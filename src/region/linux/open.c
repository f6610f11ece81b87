/*
 * open.c (Linux) - opening regions by fd, shm name or path, closing, unlinking.
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

/* ---------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------- */

/* What a non-regular file is, for messages. */
static const char *file_type_name(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "not a regular file";
}

/* Opens a region file or shm object without ever blocking: a FIFO opened
 * without O_NONBLOCK waits for a peer forever, a tty would become our
 * controlling terminal.  Anything but a regular file is refused by name
 * before and after the open (the path may change in between). */
static int open_regular(const char *path, bool shm, int oflags, int *fd_out)
{
    const char *what = shm ? "shm region" : "region file";
    struct stat st;
    char full[SABRE_REGION_NAME_MAX + 16];
    snprintf(full, sizeof full, "%s%s", shm ? "/dev/shm" : "", path);
    if (stat(full, &st) == 0 && !S_ISREG(st.st_mode))
        return sabre__fail(SABRE_EINVAL, "%s '%s' is %s, not a regular file", what, path,
                           file_type_name(st.st_mode));
    oflags |= O_NONBLOCK | O_NOCTTY;
    int fd = shm ? shm_open(path, oflags, 0) : open(path, oflags);
    if (fd < 0) {
        int e = errno;
        if (stat(full, &st) == 0 && !S_ISREG(st.st_mode))
            return sabre__fail(SABRE_EINVAL, "%s '%s' is %s, not a regular file", what, path,
                               file_type_name(st.st_mode));
        return sabre__fail_errno(e, "cannot open %s '%s'", what, path);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        bool stat_ok = fstat(fd, &st) == 0;
        close(fd);
        if (!stat_ok)
            return sabre__fail_errno(e, "%s '%s': fstat", what, path);
        return sabre__fail(SABRE_EINVAL, "%s '%s' is %s, not a regular file", what, path,
                           file_type_name(st.st_mode));
    }
    /* A regular file: back to ordinary blocking semantics. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return SABRE_OK;
}

/* Reserves the blocks of a region opened for writing, as creation does: a
 * file with holes (copied with cp --sparse, rsync -S, tar -S) would
 * otherwise be accepted and kill its first writer with SIGBUS once the file
 * system is full.  fallocate(2) mode 0 only fills holes, it never changes
 * a byte; a file system without it cannot be guaranteed and is accepted. */
static int reserve_holes(sabre_region_t *r, const char *rn, uint64_t total)
{
    struct stat st;
    if (fstat(r->fd, &st) != 0)
        return sabre__fail_errno(errno, "region '%s': fstat", rn);
    uint64_t have = (uint64_t)st.st_blocks * 512u;
    if (have >= total)
        return SABRE_OK;
    int rc;
    do
        rc = fallocate(r->fd, 0, 0, (off_t)total);
    while (rc != 0 && errno == EINTR);
    if (rc == 0 || errno == EOPNOTSUPP || errno == ENOSYS)
        return SABRE_OK;
    int e = errno;
    if (e != ENOSPC && e != EDQUOT)
        return sabre__fail_errno(e, "region '%s': cannot reserve the blocks of its holes", rn);
    /* What is still missing after a partial fill, and what is free. */
    if (fstat(r->fd, &st) == 0)
        have = SABRE_MIN((uint64_t)st.st_blocks * 512u, total);
    struct statvfs sv;
    uint64_t avail = fstatvfs(r->fd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
    char a[32], b[32], c[32];
    sabre__fmt_bytes(a, sizeof a, total - have);
    sabre__fmt_bytes(b, sizeof b, total);
    sabre__fmt_bytes(c, sizeof c, avail);
    return sabre__fail(SABRE_ENOSPC,
                       "region '%s' is sparse: %llu bytes (%s) of its %llu (%s) have no "
                       "blocks and its file system has only %s free",
                       rn, (unsigned long long)(total - have), a, (unsigned long long)total, b, c);
}

/* Maps `fd` (already owned by r) and validates.  Waits up to wait_ms for a
 * creator that has not finished initialising. */
static int open_mapped(sabre_region_t *r, uint32_t flags, uint32_t wait_ms)
{
    const char *rn = r->name[0] ? r->name : sabre_backing_name(r->backing);
    bool ro = (flags & SABRE_REGION_READONLY) != 0;
    bool prefault = (flags & SABRE_REGION_PREFAULT) != 0;
    uint64_t deadline = sabre__now_ns() + (uint64_t)wait_ms * 1000000ull;
    uint64_t size = 0;
    int rc;
    for (;;) {
        struct stat st;
        if (fstat(r->fd, &st) != 0)
            return sabre__fail_errno(errno, "region '%s': fstat", rn);
        if (!S_ISREG(st.st_mode))
            return sabre__fail(SABRE_EINVAL,
                               "region '%s' is %s, not a regular file or memory object", rn,
                               file_type_name(st.st_mode));
        size = (uint64_t)st.st_size;
        if (size > 0)
            break;
        /* A creator makes the object, then reserves all of it at once. */
        if (sabre__now_ns() >= deadline)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s' is empty (0 bytes): not a region, or "
                               "its creator died before reserving space",
                               rn);
        sabre__rg_sleep_ns(1000000);
    }
    if (size < 64) /* the first line holds every field written at creation */
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': %llu bytes is too small for the %u-byte "
                           "header (truncated?)",
                           rn, (unsigned long long)size, HDR_SIZE);
    if (size > MAX_REGION_SIZE)
        return sabre__fail(SABRE_ECORRUPT, "region '%s': %llu bytes exceeds the size limit", rn,
                           (unsigned long long)size);
    /* Prefault only after validation: a hostile size must not make us
     * touch gigabytes. */
    if ((rc = sabre__rg_map_fd(r->fd, size, ro, false, &r->base)) != SABRE_OK)
        return sabre__fail(rc, "region '%s': %s", rn, sabre_last_error());
    r->map_len = r->map_size = size;
    struct region_header *h = hdr_of(r);
    for (;;) {
        uint32_t init = atomic_load_explicit(&h->initialised, memory_order_acquire);
        if (init == INIT_DONE)
            break;
        /* A creator writes pid, then magic, then the rest: a wrong magic is
         * never a region still being made. */
        uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_RELAXED);
        if (magic != SABRE_REGION_MAGIC && magic != 0)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': not a sabre region (magic "
                               "0x%016llx, want 0x%016llx)",
                               rn, (unsigned long long)magic,
                               (unsigned long long)SABRE_REGION_MAGIC);
        if (init != 0)
            return sabre__fail(SABRE_ECORRUPT, "region '%s': initialised word is %u (want 0 or %u)",
                               rn, init, INIT_DONE);
        int32_t pid = atomic_load_explicit(&h->creator_pid, memory_order_relaxed);
        uint64_t stt = atomic_load_explicit(&h->creator_start_time, memory_order_relaxed);
        if (pid > 0 && !sabre__pid_alive(pid, stt))
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': creator pid %d died before "
                               "initialising",
                               rn, (int)pid);
        if (sabre__now_ns() >= deadline) {
            if (pid > 0)
                return sabre__fail(SABRE_EBUSY, "region '%s' is still being created by pid %d", rn,
                                   (int)pid);
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s' is not initialised and names no "
                               "creator (magic 0x%016llx)",
                               rn, (unsigned long long)magic);
        }
        sabre__rg_sleep_ns(1000000);
    }
    if ((rc = sabre__rg_validate_header(r, size)) != SABRE_OK)
        return rc;
    if ((rc = sabre__rg_validate_directory(r)) != SABRE_OK)
        return rc;
    if (!ro && (rc = reserve_holes(r, rn, r->map_size)) != SABRE_OK)
        return rc;
    if (prefault)
        sabre__rg_prefault_range(r->base, r->map_size);
    r->readonly = ro;
    return SABRE_OK;
}

static int open_fd_named(int fd, uint32_t flags, uint32_t wait_ms, sabre_backing_t backing,
                         const char *name, sabre_region_t **out)
{
    sabre_region_t *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a region handle");
    }
    r->fd = fd;
    r->backing = backing;
    if (name)
        sabre__strlcpy(r->name, name, sizeof r->name);
    int rc = open_mapped(r, flags, wait_ms);
    if (rc != SABRE_OK) {
        sabre__rg_region_free(r);
        return rc;
    }
    *out = r;
    return SABRE_OK;
}

int sabre_region_open(const sabre_region_desc_t *desc, sabre_region_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_open: out is NULL");
    *out = NULL;
    if (!desc)
        return sabre__fail(SABRE_EINVAL, "sabre_region_open: desc is NULL");
    uint32_t known = SABRE_REGION_READONLY | SABRE_REGION_PREFAULT | SABRE_REGION_NOWAIT;
    if (desc->flags & ~known)
        return sabre__fail(SABRE_EINVAL,
                           "region open flags 0x%x: unknown or create-only bits "
                           "0x%x",
                           desc->flags, desc->flags & ~known);
    int rc, fd;
    bool ro = (desc->flags & SABRE_REGION_READONLY) != 0;
    int oflags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    char path[SABRE_REGION_NAME_MAX + 2];
    if (desc->backing == SABRE_BACKING_SHM) {
        if ((rc = sabre__rg_check_shm_name(desc->name)) != SABRE_OK)
            return rc;
        sabre__rg_shm_path(path, sizeof path, desc->name);
        if ((rc = open_regular(path, true, oflags, &fd)) != SABRE_OK)
            return rc;
    } else if (desc->backing == SABRE_BACKING_FILE) {
        if ((rc = sabre__rg_check_file_name(desc->name)) != SABRE_OK)
            return rc;
        sabre__strlcpy(path, desc->name, sizeof path);
        if ((rc = open_regular(path, false, oflags, &fd)) != SABRE_OK)
            return rc;
    } else {
        return sabre__fail(SABRE_EINVAL,
                           "sabre_region_open opens SHM and FILE regions; a %s "
                           "region is opened with sabre_region_open_fd",
                           sabre_backing_name(desc->backing));
    }
    uint32_t wait = (desc->flags & SABRE_REGION_NOWAIT) ? 0
                    : desc->wait_ms                     ? desc->wait_ms
                                                        : DEFAULT_WAIT_MS;
    return open_fd_named(fd, desc->flags, wait, desc->backing, path, out);
}

int sabre_region_open_fd(int fd, uint32_t flags, sabre_region_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_region_open_fd: out is NULL");
    *out = NULL;
    uint32_t known = SABRE_REGION_READONLY | SABRE_REGION_PREFAULT | SABRE_REGION_NOWAIT;
    if (flags & ~known)
        return sabre__fail(SABRE_EINVAL,
                           "region open flags 0x%x: unknown or create-only bits "
                           "0x%x",
                           flags, flags & ~known);
    if (fd < 0)
        return sabre__fail(SABRE_EINVAL, "sabre_region_open_fd: fd %d is not a descriptor", fd);
    /* Name and backing from the link: "/memfd:x (deleted)", "/dev/shm/x", a path. */
    char link[64], target[SABRE_REGION_NAME_MAX + 64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    sabre_backing_t backing = SABRE_BACKING_FILE;
    const char *name = target;
    if (strncmp(target, "/memfd:", 7) == 0) {
        backing = SABRE_BACKING_MEMFD;
        name = target + 7;
        char *del = strstr(target, " (deleted)");
        if (del)
            *del = '\0';
    } else if (strncmp(target, "/dev/shm/", 9) == 0) {
        backing = SABRE_BACKING_SHM;
        name = target + 8;
    }
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0)
        return sabre__fail_errno(errno, "sabre_region_open_fd: cannot duplicate fd %d", fd);
    /* A read-only mapping of a writable fd is fine; a writable one needs O_RDWR. */
    if (!(flags & SABRE_REGION_READONLY)) {
        int fl = fcntl(dupfd, F_GETFL);
        if (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY) {
            close(dupfd);
            return sabre__fail(SABRE_EPERM,
                               "region fd %d is open read-only: pass "
                               "SABRE_REGION_READONLY",
                               fd);
        }
    }
    uint32_t wait = (flags & SABRE_REGION_NOWAIT) ? 0 : DEFAULT_WAIT_MS;
    return open_fd_named(dupfd, flags, wait, backing, name, out);
}

void sabre_region_close(sabre_region_t *region)
{
    sabre__rg_region_free(region);
}

int sabre_region_unlink(sabre_backing_t backing, const char *name)
{
    int rc;
    if (backing == SABRE_BACKING_SHM) {
        if ((rc = sabre__rg_check_shm_name(name)) != SABRE_OK)
            return rc;
        char path[SABRE_REGION_NAME_MAX + 2];
        sabre__rg_shm_path(path, sizeof path, name);
        if (shm_unlink(path) != 0)
            return sabre__fail_errno(errno, "cannot unlink shm region '%s'", path);
        return SABRE_OK;
    }
    if (backing == SABRE_BACKING_FILE) {
        if ((rc = sabre__rg_check_file_name(name)) != SABRE_OK)
            return rc;
        if (unlink(name) != 0)
            return sabre__fail_errno(errno, "cannot unlink region file '%s'", name);
        return SABRE_OK;
    }
    return sabre__fail(SABRE_EINVAL,
                       "a %s region has no name to unlink (it goes away when the "
                       "last mapping and fd close)",
                       sabre_backing_name(backing));
}
