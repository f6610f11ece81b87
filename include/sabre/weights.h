/*
 * sabre/weights.h - latest-value publication of weights (trainer -> readers)
 * that never lets a reader see a half-written buffer.
 *
 * A weights object lives in a region (kind SABRE_OBJ_WEIGHTS).  It holds
 * `slots` equally sized buffers (default 2: buffer A then buffer B) and a
 * control block whose first 16 bytes are exactly the DrillSergeantHQ
 * contract:
 *
 *     offset 0  i32 active_idx    slot holding the latest version
 *     offset 4  i32 version       low 32 bits of the 64-bit version
 *     offset 8  i32 shape_hash    of the latest version
 *     offset 12 i32 step_counter  completed trainer updates (low 32 bits)
 *
 * so a reader written from that document (load version; if changed, load
 * active_idx; use buffer A or B) adopts correctly - but such a reader has
 * no pin and therefore no protection against the publisher overwriting the
 * buffer it is still using after two further publishes.  sabre readers pin.
 *
 * Protocol (proof in docs/rl.md, bytes and atomics in docs/abi.md):
 *   - publish writes a slot that is neither the active one nor pinned by
 *     any live reader, then flips `current` (version << 8 | slot) and the
 *     DrillSergeantHQ words;
 *   - a reader pins the version it adopts (pin word on its own 128-byte
 *     line: store pin, re-check current, all seq_cst) and reads it in place
 *     for as long as it likes; a pinned slot is never overwritten;
 *   - with R readers that never validate (no adopt checks), R + 2 slots
 *     guarantee the publisher never waits; a reader that validates holds a
 *     second (candidate) pin while it checks, so with checks 2R + 2 slots
 *     are needed for the same guarantee.  With fewer slots publish waits
 *     (timeout_ns) or reports SABRE_EBUSY (timeout_ns == 0);
 *   - a reader whose process died is detected (pid + start time) and its
 *     pins are ignored, so it never blocks the publisher.
 *
 * Threads: a sabre_weights_t may be shared by threads for the read-only
 * calls (info, reader_at, reader_open); the publishing calls (begin, commit,
 * abort, publish) must be made by one thread at a time, and only one
 * handle per object may publish at once (the publisher lease; another
 * publisher gets SABRE_EBUSY until the first closes or its process dies).
 * A sabre_weights_reader_t belongs to one thread at a time.
 */
#ifndef SABRE_WEIGHTS_H
#define SABRE_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "sabre/layout.h"
#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_WEIGHTS_ABI_MAJOR   1
#define SABRE_WEIGHTS_ABI_MINOR   0
#define SABRE_WEIGHTS_MAGIC       0x54574253u /* "SBWT" little-endian */
#define SABRE_WEIGHTS_MAX_SLOTS   64
#define SABRE_WEIGHTS_MAX_READERS 4096

/* Slots with which a publish never waits for R readers (see the protocol
 * above): R + 2, or 2R + 2 when readers adopt with checks (a checking
 * reader holds a second, candidate pin).  Example: 3 actors adopting with
 * check_finite: .slots = SABRE_WEIGHTS_SLOTS_NO_WAIT(3, true) = 8. */
#define SABRE_WEIGHTS_SLOTS_NO_WAIT(readers, checking)                                             \
    ((checking) ? 2u * (uint32_t)(readers) + 2u : (uint32_t)(readers) + 2u)

/* sabre_weights_desc_t.flags */
#define SABRE_WEIGHTS_F32 0x1u /* payload is an array of f32: enables check_finite */

typedef struct sabre_weights_desc {
    const char *name;             /* object name in the region (1..47 bytes) */
    uint64_t size;                /* bytes per buffer, > 0 */
    uint32_t slots;               /* buffers, 0 = 2 (A/B); 2..64.  The default is the
                                     DrillSergeantHQ A/B contract and the least memory;
                                     with it a publish waits whenever a reader still pins
                                     the version before last.  Never waiting takes
                                     SABRE_WEIGHTS_SLOTS_NO_WAIT(readers, checking). */
    uint32_t readers;             /* reader records (pins), 0 = 8; 1..4096 */
    uint32_t shape_hash;          /* default shape hash of a publish; 0 = low 32 bits of
                                     the layout hash (or 0 without a layout) */
    uint32_t flags;               /* SABRE_WEIGHTS_* */
    const sabre_layout_t *layout; /* optional layout of one buffer, stored with the object */
    const char *layout_text;      /* optional alternative: canonical layout text */
} sabre_weights_desc_t;

typedef struct sabre_weights sabre_weights_t;
typedef struct sabre_weights_reader sabre_weights_reader_t;

/*
 * Create the object in `region` and return a handle (owned by the caller,
 * free with sabre_weights_close).  Nothing is published yet: version 0,
 * active_idx 0.  Errors: SABRE_EINVAL (bad descriptor), SABRE_EEXIST,
 * SABRE_ENOSPC (region full), SABRE_EPERM (read-only region).
 */
int sabre_weights_create(sabre_region_t *region, const sabre_weights_desc_t *desc,
                         sabre_weights_t **out);

/*
 * Open an existing weights object.  `expect` (optional) must match the stored
 * layout hash (SABRE_ELAYOUT naming both layouts).  SABRE_ENOENT if absent,
 * SABRE_EINVAL if the object is not a weights object, SABRE_EVERSION if its
 * ABI major differs, SABRE_ECORRUPT if its header does not fit the object.
 * Works on read-only regions (for inspection: no publishing or readers).
 */
int sabre_weights_open(sabre_region_t *region, const char *name, const sabre_layout_t *expect,
                       sabre_weights_t **out);

/* Release the publisher lease (if held) and free the handle.  Readers
 * opened from it must be closed first.  NULL is ignored. */
void sabre_weights_close(sabre_weights_t *w);

/* Bytes per buffer and number of slots. */
uint64_t sabre_weights_size(const sabre_weights_t *w);
uint32_t sabre_weights_slots(const sabre_weights_t *w);

/* ---- publishing ---------------------------------------------------------- */

/* What a commit records with the version. */
typedef struct sabre_weights_meta {
    uint32_t shape_hash;   /* 0 = the object's default shape hash */
    bool set_step;         /* false: step_counter = previous + 1 */
    uint64_t step_counter; /* used when set_step */
} sabre_weights_meta_t;

/*
 * Start a publish: take the publisher lease if not held, choose a slot that
 * is neither active nor pinned by a live reader, and return its buffer in
 * *buf (sabre_weights_size() bytes, contents unspecified).  Write the new
 * weights there, then sabre_weights_commit() or sabre_weights_abort().
 * timeout_ns: 0 = do not wait (SABRE_EBUSY when every slot is in use),
 * UINT64_MAX = wait forever, else SABRE_ETIMEDOUT after that long.
 * SABRE_EBUSY also when another live handle holds the publisher lease.
 * SABRE_ESTATE if a begin is already outstanding; SABRE_EPERM if read-only.
 */
int sabre_weights_begin(sabre_weights_t *w, uint64_t timeout_ns, void **buf);

/*
 * Publish the buffer from sabre_weights_begin(): record meta (NULL =
 * defaults), flip active_idx/current, bump the version and wake readers
 * blocked in sabre_weights_wait().  *version (optional) receives the new
 * 64-bit version (1, 2, ...).  SABRE_ESTATE without a begin.
 */
int sabre_weights_commit(sabre_weights_t *w, const sabre_weights_meta_t *meta, uint64_t *version);

/* Forget an outstanding begin (the slot stays unpublished). */
void sabre_weights_abort(sabre_weights_t *w);

/* begin + memcpy(len bytes; len <= size, the rest is zeroed) + commit. */
int sabre_weights_publish(sabre_weights_t *w, const void *data, uint64_t len,
                          const sabre_weights_meta_t *meta, uint64_t timeout_ns, uint64_t *version);

/* ---- reading ------------------------------------------------------------- */

/*
 * Register a reader: claims a reader record (taking over the record of a
 * dead process if all are used).  SABRE_ENOSPC if every record belongs to a
 * live reader, SABRE_EPERM on a read-only region.  The reader holds no pin
 * until its first sabre_weights_adopt().
 */
int sabre_weights_reader_open(sabre_weights_t *w, sabre_weights_reader_t **out);

/* Unpin, give the record back, free the handle.  NULL is ignored. */
void sabre_weights_reader_close(sabre_weights_reader_t *r);

/* Checks done before adopting a new version (NULL = none). */
typedef struct sabre_weights_adopt_opts {
    uint32_t expect_shape; /* nonzero: refuse a version with another shape hash */
    bool check_finite;     /* refuse a version holding NaN/Inf (SABRE_WEIGHTS_F32 objects) */
} sabre_weights_adopt_opts_t;

/* A pinned version: `data` stays valid and unchanged until the next adopt,
 * unpin or reader_close of the same reader. */
typedef struct sabre_weights_view {
    const void *data;
    uint64_t size;
    uint64_t version;
    uint64_t step_counter;
    uint32_t shape_hash;
    uint32_t slot;
    bool changed; /* this call moved the pin to a newer version */
} sabre_weights_view_t;

/*
 * Pin the latest published version (if newer than the one pinned) and
 * describe the pinned one in *view.  The previous pin is dropped when the
 * new one is taken.  Returns
 *   SABRE_OK      view describes the pinned latest version;
 *   SABRE_EAGAIN  nothing was published yet (view zeroed);
 *   SABRE_ELAYOUT the latest version's shape hash differs from
 *                 opts->expect_shape; SABRE_ERANGE it holds NaN/Inf.  In
 *                 both cases the reader keeps the version it had (view
 *                 describes it, data NULL if none) and the refusal is
 *                 counted; later calls return the same status without
 *                 re-checking until a newer version is published;
 *   SABRE_ECORRUPT the control block names a slot that does not exist (a
 *                 corrupted object); the reader then holds no pin.
 * Cost without checks: a few atomic operations (no copy, no wait).
 */
int sabre_weights_adopt(sabre_weights_reader_t *r, const sabre_weights_adopt_opts_t *opts,
                        sabre_weights_view_t *view);

/* Drop the pin (the slot may be reused by the publisher afterwards). */
void sabre_weights_unpin(sabre_weights_reader_t *r);

/*
 * Block until a version newer than `after` is published (futex on the
 * version word).  SABRE_OK when one is, SABRE_ETIMEDOUT after timeout_ns
 * (UINT64_MAX = forever; 0 = just check, SABRE_EAGAIN if none).
 */
int sabre_weights_wait(sabre_weights_reader_t *r, uint64_t after, uint64_t timeout_ns);

/* Latest published version (0 if none).  Lock-free, any thread. */
uint64_t sabre_weights_version(const sabre_weights_t *w);

/* ---- observation (sabre inspect) --------------------------------------- */

typedef struct sabre_weights_info {
    uint64_t version; /* latest published version */
    uint64_t step_counter;
    uint32_t active_slot;
    uint32_t shape_hash; /* of the latest version */
    uint32_t nslots;
    uint32_t nreaders;       /* reader records */
    uint32_t readers_active; /* records owned by a reader */
    uint32_t flags;
    uint64_t size; /* bytes per buffer */
    uint64_t publishes;
    uint64_t publish_waits; /* publishes that had to wait for a slot */
    uint64_t publish_wait_ns;
    uint64_t busy;              /* begins that returned EBUSY/ETIMEDOUT */
    uint64_t dead_pins_ignored; /* pins of dead readers the publisher skipped */
    int32_t publisher_pid;      /* 0 when no publisher lease is held */
    bool publisher_alive;       /* the lease holder's process still runs */
    uint64_t last_publish_ns;   /* CLOCK_REALTIME of the last publish */
} sabre_weights_info_t;

typedef struct sabre_weights_reader_info {
    bool active; /* record owned */
    bool alive;  /* owner process still runs */
    int32_t pid;
    uint64_t pinned_version; /* 0 = no pin */
    uint32_t pinned_slot;
    uint64_t adopted_version; /* last version adopted */
    uint64_t lag;             /* latest version - adopted_version */
    uint64_t adopts;
    uint64_t refused;
} sabre_weights_reader_info_t;

int sabre_weights_info(const sabre_weights_t *w, sabre_weights_info_t *out);
/* Reader record i (0 <= i < info.nreaders).  SABRE_EINVAL if out of range. */
int sabre_weights_reader_at(const sabre_weights_t *w, uint32_t i, sabre_weights_reader_info_t *out);

#ifdef __cplusplus
}
#endif
#endif
