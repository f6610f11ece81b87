/*
 * sabre/region.h - shared regions: one mapping, a self-describing header and
 * a directory of named objects.
 *
 * A region is the C counterpart of a SharedArrayBuffer: memory that every
 * party maps.  It is backed by
 *   - SABRE_BACKING_PRIVATE: anonymous process-private memory (threads only);
 *   - SABRE_BACKING_MEMFD:   an anonymous memfd, sealed against shrinking;
 *                            hand its fd to another process with
 *                            sabre_fd_send()/sabre_fd_recv();
 *   - SABRE_BACKING_SHM:     a POSIX shared-memory name ("/name" or "name");
 *   - SABRE_BACKING_FILE:    a regular file, which persists: reopening it
 *                            later (any process) sees the same objects.
 *
 * Layout (docs/abi.md has the byte-exact tables): a header at offset 0
 * (magic, ABI major.minor, header size, total size, directory capacity,
 * creator pid and start time, an `initialised` word written last), then a
 * directory of fixed-size entries, then object data.  Each object is 64-byte
 * aligned and described by its entry: name, kind, offset, size, layout text
 * and layout hash.  All references inside a region are offsets, never
 * pointers, so every process may map it at a different address.
 *
 * Opening validates every header field and every directory entry against
 * the real mapping size before anything is used: a corrupt, truncated or
 * hostile region gives SABRE_ECORRUPT with a message naming the bad field,
 * never a crash or an out-of-bounds access.  A different ABI major version
 * gives SABRE_EVERSION naming both versions.
 *
 * Space is reserved up front (posix_fallocate), so creating a region that
 * does not fit (a full /dev/shm, a full disk) fails with SABRE_ENOSPC
 * instead of a later SIGBUS.  Regions are created mode 0600.
 *
 * fork(): a child inherits the mapping and every handle as they are.  With
 * MEMFD, SHM and FILE backings the child's mapping is the same memory as
 * the parent's: it may keep using the sabre_region_t and the object handles
 * opened from it (sabre_object_t, sabre_ring_t, sabre_weights_t,
 * sabre_mailbox_t, snapshots opened with sabre_snapshot_open), which are
 * views of that memory.  A PRIVATE region becomes the child's own
 * copy-on-write copy: nothing written on either side is seen by the other.
 * What the child must open itself: every handle that registers its owner
 * process in shared memory - ring producers and the ring consumer, weights
 * readers, the weights publisher (its lease), mailbox workers - so that the
 * child's death is detected as its own (a child using the parent's handle
 * would be taken for the parent).  Threads do not survive fork(): a pool
 * (and a scheduler using one) must be created in the process that uses it.
 * Each process closes its own handles; closing in one never affects the
 * other (sabre_region_close unmaps and closes only in the caller), while
 * sabre_region_unlink removes the name for both.
 *
 * Thread-safety: a sabre_region_t may be used from any number of threads.
 * sabre_region_alloc() is safe against concurrent allocators in any thread
 * or process that has the region mapped (lock-free: see docs/abi.md).
 * sabre_region_close() must not race with other calls on the same handle.
 */
#ifndef SABRE_REGION_H
#define SABRE_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sabre/layout.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of the region header and directory (docs/abi.md). */
#define SABRE_ABI_MAJOR 1
#define SABRE_ABI_MINOR 0

#define SABRE_REGION_MAGIC    0x4e47455245424153ull /* "SABREGN" + 'N' little-endian */
#define SABRE_NAME_MAX        48                    /* object names: at most 47 bytes + NUL */
#define SABRE_REGION_NAME_MAX 255                   /* shm names and file paths */
#define SABRE_OBJECT_ALIGN    64

typedef enum sabre_backing {
    SABRE_BACKING_PRIVATE = 0,
    SABRE_BACKING_MEMFD = 1,
    SABRE_BACKING_SHM = 2,
    SABRE_BACKING_FILE = 3
} sabre_backing_t;

/* "private", "memfd", "shm" or "file" ("?" for another value). */
const char *sabre_backing_name(sabre_backing_t backing);

/* Flags for sabre_region_desc_t.flags */
#define SABRE_REGION_PREFAULT 0x1u /* touch every page at create/open (MAP_POPULATE) */
#define SABRE_REGION_READONLY 0x2u /* open only: map read-only (inspection) */
#define SABRE_REGION_REPLACE  0x4u /* create only: replace an existing shm name or file */
#define SABRE_REGION_HUGEPAGES                                                                     \
    0x8u /* create only: try MAP_HUGETLB / THP advice; falls back silently */
#define SABRE_REGION_NOWAIT 0x10u /* open only: do not wait for a creator still initialising */

typedef struct sabre_region_desc {
    sabre_backing_t backing; /* 0 = PRIVATE */
    const char *name;        /* SHM: shm name; FILE: path; MEMFD: debug name (optional) */
    uint64_t size;           /* total bytes, header and directory included; rounded up to pages.
                                Required for create; ignored by open (read from the header). */
    uint32_t max_objects;    /* directory capacity, 0 = 256 */
    uint32_t flags;          /* SABRE_REGION_* */
    uint32_t wait_ms;        /* open only: how long to wait for a creator that has not yet
                                written the `initialised` word; 0 = 1000 ms.
                                SABRE_REGION_NOWAIT means no wait at all. */
} sabre_region_desc_t;

typedef struct sabre_region sabre_region_t;

/*
 * Create a region.  Fails with SABRE_EEXIST if the shm name or file exists
 * (unless SABRE_REGION_REPLACE), SABRE_ENOSPC if the space cannot be
 * reserved, SABRE_EINVAL for a bad name or size.  Names: SHM names are
 * 1..254 bytes of [A-Za-z0-9._-] after an optional leading '/' (not dots
 * only); FILE paths any non-empty path shorter than 255 bytes.
 * The size is rounded up to the page size (the huge page size when
 * SABRE_REGION_HUGEPAGES obtained huge pages); it must hold the 512-byte
 * header and max_objects 128-byte directory entries.  On failure nothing is
 * left behind (no shm name, no file).  The new region is zero-filled.
 * A MEMFD region larger than the memory available (MemAvailable + SwapFree)
 * is refused with SABRE_ENOSPC up front.
 */
int sabre_region_create(const sabre_region_desc_t *desc, sabre_region_t **out);

/* Open an existing SHM or FILE region by desc->backing and desc->name
 * (flags: READONLY, PREFAULT, NOWAIT; desc->wait_ms).  Validates the header
 * and every directory entry (SABRE_ECORRUPT naming the field, SABRE_EVERSION
 * for another ABI major).  If the creator has not finished initialising the
 * header, waits up to wait_ms, then SABRE_EBUSY ("still being created by pid
 * N"), or SABRE_ECORRUPT at once if that creator is dead ("creator pid N
 * died before initialising").  SABRE_ENOENT if there is no such region.
 * SABRE_EINVAL, without blocking, if the path is not a regular file (a
 * FIFO, directory, device or socket, also through a symlink).  Opened for
 * writing, a sparse file's holes are reserved (fallocate) as creation
 * reserves them: SABRE_ENOSPC naming the path and the missing bytes if the
 * file system is full, never a SIGBUS at the first write.  A region with two
 * published objects of one name is SABRE_ECORRUPT. */
int sabre_region_open(const sabre_region_desc_t *desc, sabre_region_t **out);

/* Open a region from a file descriptor (a memfd received from another
 * process, or any fd of a shm/file region).  The fd is duplicated: the
 * caller keeps ownership of `fd`. flags: SABRE_REGION_READONLY/PREFAULT/
 * NOWAIT (without NOWAIT, waits up to 1 s for a creator still initialising).
 * Validation and errors as for sabre_region_open; SABRE_EPERM for a
 * read-only fd without SABRE_REGION_READONLY.  The backing and name are
 * taken from the fd (/proc/self/fd): "/memfd:NAME" is MEMFD, /dev/shm/NAME
 * is SHM, anything else FILE. */
int sabre_region_open_fd(int fd, uint32_t flags, sabre_region_t **out);

/* Unmap and free the handle.  Objects' pointers become invalid.  The shm
 * name or file stays (see sabre_region_unlink).  NULL is ignored. */
void sabre_region_close(sabre_region_t *region);

/* Remove a SHM name or FILE path (existing mappings stay valid). */
int sabre_region_unlink(sabre_backing_t backing, const char *name);

/* Accessors. base/size: the mapping; fd: -1 for PRIVATE. */
void *sabre_region_base(const sabre_region_t *region);
uint64_t sabre_region_size(const sabre_region_t *region);
int sabre_region_fd(const sabre_region_t *region);
sabre_backing_t sabre_region_backing(const sabre_region_t *region);
const char *sabre_region_name(const sabre_region_t *region); /* "" if none */
bool sabre_region_readonly(const sabre_region_t *region);

/* Header facts (read from the mapping). */
typedef struct sabre_region_info {
    uint16_t abi_major, abi_minor;
    uint32_t header_size;
    uint64_t total_size;
    uint64_t used; /* bytes allocated so far (header + directory + objects) */
    uint32_t max_objects;
    uint32_t nobjects;
    int32_t creator_pid;
    uint64_t creator_start_time; /* clock ticks since boot, /proc/<pid>/stat field 22 */
    uint64_t created_ns;         /* CLOCK_REALTIME at creation */
    bool creator_alive;
    uint64_t dir_offset;     /* directory byte offset */
    uint64_t data_offset;    /* first byte of the object area */
    uint32_t dir_claimed;    /* directory slots claimed (published, being written, dead) */
    sabre_backing_t backing; /* of this handle */
    bool hugetlb;            /* the backing is hugetlbfs / MAP_HUGETLB */
    uint32_t page_size;      /* page size the creator rounded the size to */
} sabre_region_info_t;

int sabre_region_info(const sabre_region_t *region, sabre_region_info_t *out);

/* Object kinds (the `kind` word of a directory entry). */
typedef enum sabre_object_kind {
    SABRE_OBJ_RAW = 1,     /* plain bytes */
    SABRE_OBJ_COLUMNS = 2, /* SoA columns described by a layout */
    SABRE_OBJ_WEIGHTS = 3,
    SABRE_OBJ_RING = 4,
    SABRE_OBJ_MAILBOX = 5,
    SABRE_OBJ_SNAPSHOT = 6,
    SABRE_OBJ_TABLE = 7,    /* ECS archetype table chunk */
    SABRE_OBJ_VECENV = 8,   /* vectorised environments (vecenv.h) */
    SABRE_OBJ_BRIDGE = 9,   /* an MPI bridge's counters (sabre/mpi.h) */
    SABRE_OBJ_USER = 0x1000 /* kinds >= this are the application's */
} sabre_object_kind_t;

const char *sabre_object_kind_name(uint32_t kind);

typedef struct sabre_object_desc {
    const char *name;             /* 1..47 bytes, unique in the region */
    uint32_t kind;                /* sabre_object_kind_t; 0 = RAW */
    uint64_t size;                /* bytes, > 0 */
    uint32_t align;               /* power of two; 0 = 64; at least 64 is always honoured */
    const sabre_layout_t *layout; /* optional: store layout->canonical and hash */
    const char *layout_text;      /* optional alternative: canonical text (hash computed) */
} sabre_object_desc_t;

/* A located object.  Pointers are into the mapping (valid until close). */
typedef struct sabre_object {
    uint32_t index; /* directory slot */
    uint32_t kind;
    char name[SABRE_NAME_MAX];
    uint64_t offset; /* from the region base, multiple of 64 */
    uint64_t size;
    void *ptr;               /* base + offset */
    const char *layout_text; /* "" if none; points into the mapping, NUL-terminated */
    uint64_t layout_len;
    uint64_t layout_hash; /* 0 if none */
} sabre_object_t;

/*
 * Allocate a zero-filled object.  SABRE_EEXIST if the name is taken,
 * SABRE_ENOSPC if the region or its directory is full, SABRE_EPERM on a
 * read-only region, SABRE_EINVAL for a bad name (1..47 bytes of printable
 * ASCII except space, '"' and '\'), size 0, an alignment that is not a
 * power of two (or above 2^30), an unknown kind, both layout and
 * layout_text, a layout whose hash is not the FNV-1a of its canonical text,
 * or layout text over 1 MiB.  SABRE_EBUSY if another live process has been
 * allocating the same name for more than 5 s.  Lock-free: a process that
 * dies mid-allocation leaks only its slot and bytes (docs/abi.md).  A name
 * already published and a region too full are found before a directory slot
 * is claimed, so failed allocations do not use up the directory.
 * SABRE_ECORRUPT if the memory object shrank since it was opened.
 * The layout text is copied into the region just before the data.
 * *out may be NULL.
 */
int sabre_region_alloc(sabre_region_t *region, const sabre_object_desc_t *desc,
                       sabre_object_t *out);

/*
 * Find an object by name.  If `expect` is non-NULL the stored layout hash
 * must equal expect->hash, else SABRE_ELAYOUT with both layout texts in the
 * message.  SABRE_ENOENT if there is no such object, SABRE_EINVAL for an
 * invalid name, SABRE_ECORRUPT if its entry fails validation (entries are
 * re-validated on every read: another process may have scribbled on them),
 * or if the memory object is now smaller than when it was opened (another
 * process truncated it: the message names both sizes).  Two published
 * objects of one name (a foreign writer): the lowest slot wins.
 * Cost: a scan of the directory comparing 24-bit name hashes, then one
 * validation (which hashes the layout text): look objects up once, keep
 * the sabre_object_t.  *out may be NULL.
 */
int sabre_region_find(const sabre_region_t *region, const char *name, const sabre_layout_t *expect,
                      sabre_object_t *out);

/* Number of published objects and the i-th (0 <= i < count), in directory
 * order.  Both scan the directory (O(number of slots)); objects published
 * meanwhile by other threads or processes may appear between calls.
 * object_at: SABRE_ENOENT past the end, SABRE_ECORRUPT if the entry fails
 * validation (it is re-validated on every read). */
uint32_t sabre_region_count(const sabre_region_t *region);
int sabre_region_object_at(const sabre_region_t *region, uint32_t i, sabre_object_t *out);

/* State of a raw directory slot (for inspection: slots not published are
 * invisible to find/count/object_at).  SABRE_ENOENT past the capacity. */
typedef enum sabre_slot_state {
    SABRE_SLOT_EMPTY = 0,   /* never claimed */
    SABRE_SLOT_WRITING = 1, /* claimed, being filled (or its writer died meanwhile) */
    SABRE_SLOT_READY = 2,   /* published */
    SABRE_SLOT_DEAD = 3,    /* given up (lost a race for the name or the space, writer died) */
    SABRE_SLOT_INVALID = 4  /* state word holds an unknown code */
} sabre_slot_state_t;

typedef struct sabre_slot_info {
    sabre_slot_state_t state;
    int32_t pid; /* the process that claimed the slot (0 if empty) */
    bool pid_alive;
} sabre_slot_info_t;

int sabre_region_slot(const sabre_region_t *region, uint32_t slot, sabre_slot_info_t *out);

/* The object published in directory slot `slot` (O(1), re-validated):
 * SABRE_ENOENT if the slot is not READY or past the capacity. */
int sabre_region_object_in_slot(const sabre_region_t *region, uint32_t slot, sabre_object_t *out);

/* Pointer/offset conversions with bounds checks; NULL / UINT64_MAX if out of range. */
void *sabre_region_ptr(const sabre_region_t *region, uint64_t offset, uint64_t len);
uint64_t sabre_region_offset(const sabre_region_t *region, const void *ptr);

/*
 * Pass a file descriptor (and an optional small message, up to 4 KiB) over
 * a connected AF_UNIX socket (SCM_RIGHTS).  recv stores the received fd in
 * *fd (owned by the caller) and the message length in *len.  Both retry on
 * EINTR; recv returns SABRE_EPEER if the peer closed the socket.
 */
int sabre_fd_send(int sock, int fd, const void *msg, size_t len);
int sabre_fd_recv(int sock, int *fd, void *msg, size_t cap, size_t *len);

/* The capability probe (the C counterpart of canUseSAB()). */
typedef struct sabre_caps {
    bool private_ok;     /* anonymous mappings work */
    bool memfd_ok;       /* memfd_create works */
    bool memfd_seals_ok; /* F_ADD_SEALS works on memfds */
    bool shm_ok;         /* shm_open on /dev/shm works */
    bool file_ok;        /* the probe directory is writable */
    bool hugepages_ok;   /* MAP_HUGETLB mappings can be made now */
    bool futex_ok;       /* shared futex wait/wake works */
    uint64_t shm_free;   /* free bytes in /dev/shm (0 if unknown) */
    uint64_t shm_total;
    uint64_t file_free; /* free bytes where the probe directory is */
    uint64_t page_size;
    uint64_t hugepage_size;  /* 0 if none configured */
    uint64_t hugepages_free; /* free huge pages */
    const char *platform;    /* "linux" or "wasm" (static string) */
    const char *note;        /* what this platform cannot do, "" if nothing (static string) */
} sabre_caps_t;

/* Probe what works here.  `dir` is where FILE regions would go (NULL = ".").
 * Never fails for lack of a capability: that is reported as false.  On
 * WebAssembly only PRIVATE regions exist (the module's memory is the one
 * SharedArrayBuffer every Worker shares): memfd, shm and file backings, fd
 * passing and worker processes return SABRE_ENOTSUP, and `note` says so. */
int sabre_probe(const char *dir, sabre_caps_t *out);

#ifdef __cplusplus
}
#endif
#endif
