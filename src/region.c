/*
 * region.c - shared regions: creation on every backing, the self-describing
 * header, the lock-free directory allocator, validation on open and on every
 * read, fd passing and the capability probe.
 *
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

#include "internal.h"
#include "sabre/region.h"

/* ---------------------------------------------------------------------------
 * Byte layout (ABI 1.0).  Keep in sync with docs/abi.md.
 * ------------------------------------------------------------------------- */

#define HDR_SIZE            512u /* header bytes in ABI 1.0 */
#define ENTRY_SIZE          128u /* directory entry bytes in ABI 1.0 */
#define INIT_DONE           1u   /* value of `initialised` once the header is complete */
#define DEFAULT_MAX_OBJECTS 256u
#define MAX_OBJECTS_LIMIT   (1u << 20)
#define MAX_ALIGN           (1ull << 30)
#define MAX_LAYOUT_TEXT     (1ull << 20)
#define MAX_REGION_SIZE     (1ull << 46)
#define DEFAULT_WAIT_MS     1000u
#define SAME_NAME_WAIT_NS   (5ull * 1000000000ull)

/* Directory entry state word: bits 0..7 code, 8..31 name hash, 32..63 pid. */
#define ST_EMPTY   0u
#define ST_WRITING 1u
#define ST_READY   2u
#define ST_DEAD    3u
#define ST_CODE(s) ((uint32_t)((s)&0xffu))
#define ST_HASH(s) ((uint32_t)(((s) >> 8) & 0xffffffu))
#define ST_PID(s)  ((int32_t)(uint32_t)((s) >> 32))
#define ST_MAKE(code, hash, pid)                                                                   \
    ((uint64_t)(code) | ((uint64_t)((hash)&0xffffffu) << 8) | ((uint64_t)(uint32_t)(pid) << 32))

#define HDR_FLAG_HUGETLB 0x1u /* the backing itself is hugetlbfs (size is huge-page aligned) */

struct region_header {
    uint64_t magic;                      /*   0 */
    uint16_t abi_major;                  /*   8 */
    uint16_t abi_minor;                  /*  10 */
    uint32_t header_size;                /*  12 */
    uint64_t total_size;                 /*  16 */
    _Atomic uint32_t initialised;        /*  24 */
    _Atomic int32_t creator_pid;         /*  28 */
    _Atomic uint64_t creator_start_time; /*  32 */
    uint64_t created_ns;                 /*  40 */
    uint64_t dir_offset;                 /*  48 */
    uint32_t dir_capacity;               /*  56 */
    uint32_t dir_entry_size;             /*  60 */
    uint64_t data_offset;                /*  64 */
    uint16_t backing;                    /*  72 */
    uint16_t flags;                      /*  74 */
    uint32_t page_size;                  /*  76 */
    uint8_t reserved0[48];               /*  80 .. 127 */
    _Atomic uint64_t used;               /* 128 */
    uint8_t pad1[120];                   /* 136 .. 255 */
    _Atomic uint32_t dir_claimed;        /* 256 */
    uint8_t pad2[252];                   /* 260 .. 511 */
};

struct dir_entry {
    _Atomic uint64_t state;    /*   0 */
    uint32_t kind;             /*   8 */
    uint32_t align;            /*  12 */
    uint64_t offset;           /*  16 */
    uint64_t size;             /*  24 */
    uint64_t layout_offset;    /*  32 */
    uint64_t layout_len;       /*  40 */
    uint64_t layout_hash;      /*  48 */
    uint64_t created_ns;       /*  56 */
    char name[SABRE_NAME_MAX]; /* 64 .. 111 */
    uint8_t reserved[16];      /* 112 .. 127 */
};

_Static_assert(sizeof(struct region_header) == HDR_SIZE, "header is 512 bytes");
_Static_assert(offsetof(struct region_header, initialised) == 24, "initialised at 24");
_Static_assert(offsetof(struct region_header, used) == 128, "used at 128");
_Static_assert(offsetof(struct region_header, dir_claimed) == 256, "dir_claimed at 256");
_Static_assert(offsetof(struct region_header, reserved0) == 80, "reserved0 at 80");
_Static_assert(sizeof(struct dir_entry) == ENTRY_SIZE, "entry is 128 bytes");
_Static_assert(offsetof(struct dir_entry, name) == 64, "name at 64");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomics");

struct sabre_region {
    uint8_t *base;
    uint64_t map_size; /* validated total size: every bound check uses this */
    uint64_t map_len;  /* bytes actually mapped (>= map_size) */
    int fd;            /* -1 for PRIVATE */
    sabre_backing_t backing;
    bool readonly;
    /* Validated at create/open and never re-read from the mapping, so a peer
     * scribbling on the header cannot move our bounds. */
    uint64_t dir_offset;
    uint32_t dir_capacity;
    uint64_t data_offset;
    char name[SABRE_REGION_NAME_MAX + 1];
};

static struct region_header *hdr_of(const sabre_region_t *r)
{
    return (struct region_header *)(void *)r->base;
}

static struct dir_entry *entry_of(const sabre_region_t *r, uint32_t i)
{
    return (struct dir_entry *)(void *)(r->base + r->dir_offset + (uint64_t)i * ENTRY_SIZE);
}

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
    default:
        return kind >= SABRE_OBJ_USER ? "user" : "unknown";
    }
}

static bool kind_valid(uint32_t kind)
{
    return (kind >= SABRE_OBJ_RAW && kind <= SABRE_OBJ_TABLE) || kind >= SABRE_OBJ_USER;
}

static uint32_t name_hash24(const char *name, size_t len)
{
    uint64_t h = sabre__fnv1a64(name, len);
    return (uint32_t)((h ^ (h >> 24) ^ (h >> 48)) & 0xffffffu);
}

/* Object names: 1..47 bytes of printable ASCII except space, '"' and '\\',
 * so every name is a valid JSON string and shell word without escaping. */
static bool object_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static int check_object_name(const char *name, size_t *len_out)
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
        if (!object_char_ok((unsigned char)name[i]))
            return sabre__fail(SABRE_EINVAL,
                               "object name '%s' has an invalid character 0x%02x at byte %zu "
                               "(allowed: printable ASCII except space, '\"' and '\\')",
                               name, (unsigned char)name[i], i);
    if (len_out)
        *len_out = n;
    return SABRE_OK;
}

static int check_shm_name(const char *name)
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

static int check_file_name(const char *path)
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

/* "/name" for shm_open whatever the caller wrote. */
static void shm_path(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "/%s", name[0] == '/' ? name + 1 : name);
}

static uint64_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (uint64_t)p : 4096u;
}

/* Reads a "Key:   N kB" line of /proc/meminfo; returns bytes (or the raw
 * number when the line has no unit), 0 if absent. */
static uint64_t meminfo_value(const char *key)
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

static int fallocate_all(int fd, uint64_t size)
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
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t parts = len >= (64ull << 20) && cpus > 1 ? (uint64_t)SABRE_MIN(cpus, MAX_PARTS) : 1;
    uint64_t step = SABRE_ALIGN_UP(len / parts, page_size());
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
    return fallocate_all(fd, size);
}

/* Write-faults every page of a private mapping (after THP advice). */
static void populate_write(void *p, uint64_t len)
{
    if (populate_parallel(p, len) == 0)
        return;
    uint64_t pg = page_size();
    for (uint64_t off = 0; off < len; off += pg)
        ((volatile uint8_t *)p)[off] = 0;
}

static uint64_t statvfs_free(const char *path)
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

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------- */

static int map_fd(int fd, uint64_t size, bool readonly, bool prefault, uint8_t **out)
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
static void prefault_range(uint8_t *base, uint64_t len)
{
    int rc;
    do
        rc = madvise(base, (size_t)len, MADV_POPULATE_READ);
    while (rc != 0 && errno == EINTR);
    if (rc == 0 || errno != EINVAL)
        return;
    uint64_t pg = page_size();
    volatile uint8_t sink = 0;
    for (uint64_t off = 0; off < len; off += pg)
        sink ^= ((volatile uint8_t *)base)[off];
    (void)sink;
}

/* Writes the header of a fresh (all-zero) mapping; `initialised` last. */
static void init_header(sabre_region_t *r, uint64_t total, uint32_t cap, uint16_t hflags,
                        uint32_t pgsize)
{
    struct region_header *h = hdr_of(r);
    pid_t pid = getpid();
    /* pid first, so an opener that races with us can name (and watch) us. */
    atomic_store_explicit(&h->creator_pid, (int32_t)pid, memory_order_relaxed);
    atomic_store_explicit(&h->creator_start_time, sabre__proc_start_time(pid),
                          memory_order_relaxed);
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

static int create_private(sabre_region_t *r, uint64_t size, uint32_t flags, uint16_t *hflags,
                          uint64_t *mapped)
{
    int pf = (flags & SABRE_REGION_PREFAULT) ? MAP_POPULATE : 0;
    void *p = MAP_FAILED;
    if (flags & SABRE_REGION_HUGEPAGES) {
        uint64_t hp = meminfo_value("Hugepagesize");
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
    uint64_t avail = meminfo_value("MemAvailable") + meminfo_value("SwapFree");
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
        uint64_t hp = meminfo_value("Hugepagesize");
        if (hp) {
            fd = memfd_create(dbg, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
            uint64_t hsize = SABRE_ALIGN_UP(size, hp);
            if (fd >= 0 &&
                (fallocate_all(fd, hsize) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0)) {
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
        shm_path(path, sizeof path, name);
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
    if (one_pass && statvfs_free("/dev/shm") < size)
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
        sabre__fmt_bytes(b, sizeof b, statvfs_free(dir));
        if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
            return sabre__fail(SABRE_ENOSPC,
                               "cannot reserve %llu bytes (%s) for %s '%s': %s has only %s free",
                               (unsigned long long)size, a, what, path, dir, b);
        return sabre__fail_errno(rc, "cannot reserve %llu bytes (%s) for %s '%s'",
                                 (unsigned long long)size, a, what, path);
    }
    return SABRE_OK;
}

static void region_free(sabre_region_t *r)
{
    if (!r)
        return;
    if (r->base)
        munmap(r->base, (size_t)r->map_len);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
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
    if (desc->backing == SABRE_BACKING_SHM && (rc = check_shm_name(desc->name)) != SABRE_OK)
        return rc;
    if (desc->backing == SABRE_BACKING_FILE && (rc = check_file_name(desc->name)) != SABRE_OK)
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
    uint64_t pg = page_size();
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
    uint64_t total = size;
    bool prefault = (desc->flags & SABRE_REGION_PREFAULT) != 0;
    switch (desc->backing) {
    case SABRE_BACKING_PRIVATE:
        rc = create_private(r, size, desc->flags, &hflags, &total);
        break;
    case SABRE_BACKING_MEMFD:
        rc = create_memfd(r, dbg, size, desc->flags, &hflags, &total);
        if (rc == SABRE_OK && !r->base)
            rc = map_fd(r->fd, total, false, prefault, &r->base);
        break;
    default:
        rc = create_named(r, desc->name, size, desc->flags);
        if (rc == SABRE_OK) {
            if (!r->base)
                rc = map_fd(r->fd, total, false, prefault, &r->base);
            if (rc != SABRE_OK) {
                char path[SABRE_REGION_NAME_MAX + 2];
                if (desc->backing == SABRE_BACKING_SHM) {
                    shm_path(path, sizeof path, desc->name);
                    shm_unlink(path);
                } else {
                    unlink(desc->name);
                }
            }
        }
        break;
    }
    if (rc != SABRE_OK) {
        region_free(r);
        return rc;
    }
    r->map_len = r->map_size = total;
    if ((desc->flags & SABRE_REGION_HUGEPAGES) && !(hflags & HDR_FLAG_HUGETLB) &&
        desc->backing != SABRE_BACKING_PRIVATE)
        (void)madvise(r->base, (size_t)total, MADV_HUGEPAGE); /* advice only */
    init_header(r, total, cap, hflags,
                (uint32_t)((hflags & HDR_FLAG_HUGETLB) ? meminfo_value("Hugepagesize") : pg));
    *out = r;
    return SABRE_OK;
}

/* ---------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------- */

/* A copy of an entry taken with single loads, validated as a whole, so a
 * concurrent scribbler cannot change a field between check and use. */
struct entry_copy {
    uint64_t state;
    uint32_t kind, align;
    uint64_t offset, size, layout_offset, layout_len, layout_hash, created_ns;
    char name[SABRE_NAME_MAX];
};

static void copy_entry(const struct dir_entry *e, uint64_t state, struct entry_copy *c)
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
static int validate_entry(const sabre_region_t *r, uint32_t i, const struct entry_copy *c,
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
        if (!object_char_ok((unsigned char)c->name[k]))
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': directory entry %u: name has an "
                               "invalid byte 0x%02x at %zu",
                               rn, i, (unsigned char)c->name[k], k);
    if (ST_HASH(c->state) != name_hash24(c->name, nlen))
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': object '%s' (entry %u): state word "
                           "name hash 0x%06x does not match the name (0x%06x)",
                           rn, c->name, i, ST_HASH(c->state), name_hash24(c->name, nlen));
    if (!kind_valid(c->kind))
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

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

/* Every directory entry at open: states known, READY entries valid and no
 * two objects (data or layout text) overlapping. */
static int validate_directory(const sabre_region_t *r)
{
    const char *rn = r->name[0] ? r->name : sabre_backing_name(r->backing);
    uint64_t used = atomic_load_explicit(&hdr_of(r)->used, memory_order_acquire);
    struct range *ranges = NULL;
    size_t nr = 0;
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
        copy_entry(e, s, &c);
        sabre_object_t o;
        if ((rc = validate_entry(r, i, &c, used, &o)) != SABRE_OK)
            break;
        if (!ranges) {
            ranges = malloc(sizeof *ranges * 2 * (size_t)r->dir_capacity);
            if (!ranges) {
                rc = sabre__fail(SABRE_ENOMEM, "out of memory validating region '%s'", rn);
                break;
            }
        }
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
    free(ranges);
    return rc;
}

/* Header checks on a mapping of `size` bytes whose `initialised` is done. */
static int validate_header(sabre_region_t *r, uint64_t size)
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
    if (h->dir_entry_size < ENTRY_SIZE || h->dir_entry_size % 64 != 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "region '%s': dir_entry_size %u must be a multiple of "
                           "64 and at least %u",
                           rn, h->dir_entry_size, ENTRY_SIZE);
    if (h->dir_entry_size != ENTRY_SIZE)
        return sabre__fail(SABRE_EVERSION,
                           "region '%s': directory entries of %u bytes, this "
                           "library (ABI %d.%d) reads %u-byte entries",
                           rn, h->dir_entry_size, SABRE_ABI_MAJOR, SABRE_ABI_MINOR, ENTRY_SIZE);
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

/* ---------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------- */

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
            return sabre__fail(SABRE_EINVAL, "region '%s' is not a regular file or memory object",
                               rn);
        size = (uint64_t)st.st_size;
        if (size > 0)
            break;
        /* A creator makes the object, then reserves all of it at once. */
        if (sabre__now_ns() >= deadline)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s' is empty (0 bytes): not a region, or "
                               "its creator died before reserving space",
                               rn);
        sleep_ns(1000000);
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
    if ((rc = map_fd(r->fd, size, ro, false, &r->base)) != SABRE_OK)
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
        sleep_ns(1000000);
    }
    if ((rc = validate_header(r, size)) != SABRE_OK)
        return rc;
    if ((rc = validate_directory(r)) != SABRE_OK)
        return rc;
    if (prefault)
        prefault_range(r->base, r->map_size);
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
        region_free(r);
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
        if ((rc = check_shm_name(desc->name)) != SABRE_OK)
            return rc;
        shm_path(path, sizeof path, desc->name);
        fd = shm_open(path, oflags, 0);
        if (fd < 0)
            return sabre__fail_errno(errno, "cannot open shm region '%s'", path);
    } else if (desc->backing == SABRE_BACKING_FILE) {
        if ((rc = check_file_name(desc->name)) != SABRE_OK)
            return rc;
        sabre__strlcpy(path, desc->name, sizeof path);
        fd = open(path, oflags);
        if (fd < 0)
            return sabre__fail_errno(errno, "cannot open region file '%s'", path);
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
    region_free(region);
}

int sabre_region_unlink(sabre_backing_t backing, const char *name)
{
    int rc;
    if (backing == SABRE_BACKING_SHM) {
        if ((rc = check_shm_name(name)) != SABRE_OK)
            return rc;
        char path[SABRE_REGION_NAME_MAX + 2];
        shm_path(path, sizeof path, name);
        if (shm_unlink(path) != 0)
            return sabre__fail_errno(errno, "cannot unlink shm region '%s'", path);
        return SABRE_OK;
    }
    if (backing == SABRE_BACKING_FILE) {
        if ((rc = check_file_name(name)) != SABRE_OK)
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
    if (!r)
        return 0;
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
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->dir_capacity; i++) {
        uint64_t s;
        bool end;
        if (slot_ready(r, i, &s, &end)) {
            if (n++ == idx) {
                struct entry_copy c;
                copy_entry(entry_of(r, i), s, &c);
                return validate_entry(r, i, &c, used_bound(r), out);
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
    int rc = check_object_name(name, &nlen);
    if (rc != SABRE_OK)
        return rc;
    uint64_t s;
    int64_t slot = find_slot(r, name, nlen, name_hash24(name, nlen), &s);
    if (slot < 0)
        return sabre__fail(SABRE_ENOENT, "region '%s' has no object named '%s'",
                           r->name[0] ? r->name : sabre_backing_name(r->backing), name);
    struct entry_copy c;
    copy_entry(entry_of(r, (uint32_t)slot), s, &c);
    sabre_object_t o;
    if ((rc = validate_entry(r, (uint32_t)slot, &c, used_bound(r), &o)) != SABRE_OK)
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
    uint64_t mine = ST_MAKE(ST_WRITING, h24, getpid());
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
                sched_yield();
            else
                sleep_ns(50000);
        }
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
        if (old < r->data_offset || old > r->map_size || old % SABRE_OBJECT_ALIGN != 0)
            return sabre__fail(SABRE_ECORRUPT,
                               "region '%s': used word %llu is outside [%llu, "
                               "%llu]",
                               r->name, (unsigned long long)old, (unsigned long long)r->data_offset,
                               (unsigned long long)r->map_size);
        uint64_t start = SABRE_ALIGN_UP(old, (uint64_t)SABRE_OBJECT_ALIGN);
        uint64_t t = start, d = 0, end = 0; /* read only when no overflow */
        bool ovf = __builtin_add_overflow(start, text_bytes, &d) ||
                   __builtin_add_overflow(d, align - 1, &d);
        d &= ~(align - 1);
        ovf = ovf || __builtin_add_overflow(d, size, &end) ||
              __builtin_add_overflow(end, (uint64_t)SABRE_OBJECT_ALIGN - 1, &end);
        end &= ~((uint64_t)SABRE_OBJECT_ALIGN - 1);
        if (ovf || end > r->map_size) {
            char a[32], b[32];
            sabre__fmt_bytes(a, sizeof a, size);
            sabre__fmt_bytes(b, sizeof b, r->map_size - SABRE_MIN(old, r->map_size));
            return sabre__fail(SABRE_ENOSPC,
                               "region '%s' is full: %llu bytes (%s) requested "
                               "(plus %llu of layout text), %s left",
                               r->name[0] ? r->name : sabre_backing_name(r->backing),
                               (unsigned long long)size, a, (unsigned long long)text_bytes, b);
        }
        if (atomic_compare_exchange_weak_explicit(&h->used, &old, end, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            *text_off = t;
            *data_off = d;
            return SABRE_OK;
        }
    }
}

int sabre_region_alloc(sabre_region_t *r, const sabre_object_desc_t *desc, sabre_object_t *out)
{
    if (!r || !desc)
        return sabre__fail(SABRE_EINVAL, "sabre_region_alloc: NULL argument");
    size_t nlen;
    int rc = check_object_name(desc->name, &nlen);
    if (rc != SABRE_OK)
        return rc;
    if (r->readonly)
        return sabre__fail(SABRE_EPERM, "region '%s' is mapped read-only: cannot allocate '%s'",
                           r->name, desc->name);
    uint32_t kind = desc->kind ? desc->kind : SABRE_OBJ_RAW;
    if (!kind_valid(kind))
        return sabre__fail(SABRE_EINVAL,
                           "object '%s': kind %u is neither a sabre kind (1..7) "
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

    uint32_t h24 = name_hash24(desc->name, nlen);
    uint32_t slot = 0;
    if ((rc = claim_slot(r, h24, &slot)) != SABRE_OK)
        return rc;
    struct dir_entry *e = entry_of(r, slot);
    uint64_t toff = 0, doff = 0;
    rc = check_unique(r, slot, desc->name, nlen, h24);
    if (rc == SABRE_OK)
        rc = bump(r, text ? tlen + 1 : 0, desc->size, align, &toff, &doff);
    if (rc != SABRE_OK) {
        /* Give the slot up: DEAD slots are skipped by everyone. */
        atomic_store_explicit(&e->state, ST_MAKE(ST_DEAD, h24, getpid()), memory_order_release);
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
    atomic_store_explicit(&e->state, ST_MAKE(ST_READY, h24, getpid()), memory_order_release);
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
    uint64_t s;
    bool end;
    if (!slot_ready(r, slot, &s, &end))
        return sabre__fail(SABRE_ENOENT, "directory slot %u holds no published object", slot);
    struct entry_copy c;
    copy_entry(entry_of(r, slot), s, &c);
    return validate_entry(r, slot, &c, used_bound(r), out);
}

/* ---------------------------------------------------------------------------
 * fd passing
 * ------------------------------------------------------------------------- */

#define FD_MSG_MAX 4096u

int sabre_fd_send(int sock, int fd, const void *msg, size_t len)
{
    if (len > FD_MSG_MAX)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_send: message of %zu bytes exceeds %u", len,
                           FD_MSG_MAX);
    if (len && !msg)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_send: message is NULL");
    /* A 4-byte length prefix, so the receiver can tell 0 bytes from 1 and
     * reassemble a stream socket's partial reads. */
    uint32_t hdr = (uint32_t)len;
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void *)msg, len}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = len ? 2 : 1;
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    size_t total = sizeof hdr + len, sent = 0;
    while (sent < total) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return sabre__fail(SABRE_EPEER, "sabre_fd_send: peer closed the socket");
            return sabre__fail_errno(errno, "sabre_fd_send: sendmsg on socket %d", sock);
        }
        sent += (size_t)n;
        /* The descriptor went with the first bytes; send the rest plainly. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        size_t skip = (size_t)n;
        while (mh.msg_iovlen > 0 && skip >= mh.msg_iov[0].iov_len) {
            skip -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + skip;
            mh.msg_iov[0].iov_len -= skip;
        }
    }
    return SABRE_OK;
}

/* Reads exactly `len` bytes (after a first recvmsg got part of a message). */
static int recv_exact(int sock, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(sock, (char *)buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sabre__fail_errno(errno, "sabre_fd_recv: recv on socket %d", sock);
        if (n == 0)
            return sabre__fail(SABRE_EPEER, "sabre_fd_recv: peer closed the socket mid-message");
        got += (size_t)n;
    }
    return SABRE_OK;
}

int sabre_fd_recv(int sock, int *fd, void *msg, size_t cap, size_t *len)
{
    if (!fd)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_recv: fd is NULL");
    *fd = -1;
    if (len)
        *len = 0;
    if (cap && !msg)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_recv: message buffer is NULL");
    /* A stream socket is read header first, then exactly the payload: a
     * larger read could swallow the next message.  A datagram or seqpacket
     * socket delivers the whole record to one recvmsg (a second one would
     * wait for the next record), so it is read in one go. */
    int type = SOCK_STREAM;
    socklen_t tlen = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
        return sabre__fail_errno(errno, "sabre_fd_recv: socket %d", sock);
    bool records = type != SOCK_STREAM;
    uint32_t hdr = 0;
    char tmp[FD_MSG_MAX];
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {tmp, sizeof tmp}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = records ? 2 : 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return sabre__fail_errno(errno, "sabre_fd_recv: recvmsg on socket %d", sock);
    if (n == 0)
        return sabre__fail(SABRE_EPEER, "sabre_fd_recv: peer closed the socket");
    int got = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < nfd; k++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
            if (got < 0)
                got = f;
            else
                close(f); /* only one descriptor is expected */
        }
    }
    int rc = SABRE_OK;
    if (mh.msg_flags & MSG_CTRUNC)
        rc = sabre__fail(SABRE_EIO, "sabre_fd_recv: control data truncated");
    if (rc == SABRE_OK && records && (mh.msg_flags & MSG_TRUNC))
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: record longer than %zu bytes (not a "
                         "sabre_fd_send peer?)",
                         sizeof hdr + sizeof tmp);
    if (rc == SABRE_OK && records && (size_t)n < sizeof hdr)
        rc = sabre__fail(SABRE_EIO, "sabre_fd_recv: record of %zd bytes has no length header", n);
    if (rc == SABRE_OK && !records && (size_t)n < sizeof hdr)
        rc = recv_exact(sock, (char *)&hdr + n, sizeof hdr - (size_t)n);
    if (rc == SABRE_OK && hdr > FD_MSG_MAX)
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: message length %u exceeds %u (not a "
                         "sabre_fd_send peer?)",
                         hdr, FD_MSG_MAX);
    if (rc == SABRE_OK && records && (size_t)n - sizeof hdr != hdr)
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: record carries %zu payload bytes, its "
                         "header says %u",
                         (size_t)n - sizeof hdr, hdr);
    if (rc == SABRE_OK && hdr > 0) {
        if (!records)
            rc = recv_exact(sock, tmp, hdr);
        if (rc == SABRE_OK && hdr > cap)
            rc = sabre__fail(SABRE_ERANGE,
                             "sabre_fd_recv: message of %u bytes does not fit "
                             "the %zu-byte buffer",
                             hdr, cap);
        if (rc == SABRE_OK)
            memcpy(msg, tmp, hdr);
    }
    if (rc != SABRE_OK) {
        if (got >= 0)
            close(got);
        return rc;
    }
    *fd = got;
    if (len)
        *len = hdr;
    return SABRE_OK;
}

/* ---------------------------------------------------------------------------
 * Capability probe
 * ------------------------------------------------------------------------- */

static bool probe_map(int fd)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return false;
    *(volatile char *)p = 1;
    munmap(p, 4096);
    return true;
}

int sabre_probe(const char *dir, sabre_caps_t *out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_probe: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = ".";
    out->page_size = page_size();
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        out->private_ok = true;
        munmap(p, 4096);
    }
    int fd = memfd_create("sabre-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd >= 0) {
        out->memfd_ok = fallocate_all(fd, 4096) == 0 && probe_map(fd);
        out->memfd_seals_ok = fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
        close(fd);
    }
    /* Unique without global state: pid, thread id and the clock. */
    char name[96];
    snprintf(name, sizeof name, "/sabre-probe-%d-%ld-%llx", (int)getpid(),
             (long)syscall(SYS_gettid), (unsigned long long)sabre__now_ns());
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        shm_unlink(name);
        out->shm_ok = fallocate_all(fd, 4096) == 0 && probe_map(fd);
        close(fd);
    }
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) == 0) {
        out->shm_free = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
        out->shm_total = (uint64_t)sv.f_blocks * (uint64_t)sv.f_frsize;
    }
    char path[SABRE_REGION_NAME_MAX + 96];
    snprintf(path, sizeof path, "%s/.sabre-probe-%d-%ld-%llx", dir, (int)getpid(),
             (long)syscall(SYS_gettid), (unsigned long long)sabre__now_ns());
    if (strlen(dir) < SABRE_REGION_NAME_MAX) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            unlink(path);
            out->file_ok = fallocate_all(fd, 4096) == 0 && probe_map(fd);
            close(fd);
        }
    }
    out->file_free = statvfs_free(dir);
    out->hugepage_size = meminfo_value("Hugepagesize");
    out->hugepages_free = meminfo_value("HugePages_Free");
    if (out->hugepage_size && out->hugepages_free) {
        p = mmap(NULL, (size_t)out->hugepage_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (p != MAP_FAILED) {
            out->hugepages_ok = true;
            munmap(p, (size_t)out->hugepage_size);
        }
    }
    /* A shared futex word: a wake with no waiter returns 0 when futexes work. */
    _Atomic uint32_t *w =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if ((void *)w != MAP_FAILED) {
        long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
        out->futex_ok = r >= 0;
        munmap((void *)w, 4096);
    }
    return SABRE_OK;
}
