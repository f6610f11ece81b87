/*
 * sabre/mailbox.h - per-worker request/acknowledge mailboxes for multi-tick
 * work, in a region object (kind SABRE_OBJ_MAILBOX).
 *
 * The main side asks worker w to run K ticks with one request and learns
 * that they are done from one acknowledgement: no round trip per tick.
 *
 *   main:   sabre_mailbox_request(mb, w, K);   ...   sabre_mailbox_wait(mb, w, timeout);
 *   worker: sabre_mailbox_attach(mb, w);
 *           for (;;) {
 *               sabre_mailbox_next(mb, w, &req, timeout);   // blocks for a request
 *               if (req.stop) { sabre_mailbox_ack(mb, w, 0); break; }
 *               for (k = 0; k < req.ticks; k++) { step(); sabre_mailbox_tick(mb, w); }
 *               sabre_mailbox_ack(mb, w, status);
 *           }
 *
 * Each worker slot holds a request sequence number (written by the main
 * side) and an acknowledge sequence number (written by the worker); a
 * request is outstanding while they differ.  The protocol is
 * level-triggered: both sides compare the two numbers rather than consume
 * edge flags, so a wake-up that is missed, spurious, or arrives late never
 * loses or duplicates a request, and a restarted worker picks up the
 * outstanding request again.  Waiting spins briefly, then sleeps on a
 * futex; each side sets a waiter flag before sleeping so the other side
 * issues FUTEX_WAKE only when somebody sleeps.  docs/scheduling.md has the
 * protocol and the atomics table; docs/abi.md the byte layout.
 *
 * The multi-tick contract: a worker told to run K ticks runs them back to
 * back on the shared columns, with no handoff in between.  The main side
 * must not make structural changes to the data the worker uses (add or
 * remove rows, move or resize columns) while a request is outstanding:
 * structural changes wait for the next sync point, i.e. after
 * sabre_mailbox_wait returned.  Reading the worker's columns while it runs
 * is a data race unless the application synchronises it.
 *
 * Liveness.  The worker records its pid and start time (attach) and
 * refreshes a heartbeat on every tick.  sabre_mailbox_wait returns
 * SABRE_EPEER instead of hanging when the worker process has died, or when
 * desc.stall_ns is set and no heartbeat arrived for that long; the worker
 * side likewise gets SABRE_EPEER when the main process has died.
 *
 * Works for threads (PRIVATE region) and processes (MEMFD/SHM/FILE): the
 * futexes are shared ones.  Each slot has one main-side caller and one
 * worker at a time; different slots may be used from different threads.
 * A sabre_mailbox_t handle is process-local (it holds a pointer into the
 * mapping) and stays valid until sabre_mailbox_close or the region closes.
 */
#ifndef SABRE_MAILBOX_H
#define SABRE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_MAILBOX_MAGIC       0x58424d4552424153ull /* "SABREMBX" little-endian */
#define SABRE_MAILBOX_VERSION     1
#define SABRE_MAILBOX_HEADER_SIZE 128
#define SABRE_MAILBOX_SLOT_SIZE   256
#define SABRE_MAILBOX_MAX_WORKERS 4096

typedef struct sabre_mailbox sabre_mailbox_t;

typedef struct sabre_mailbox_desc {
    const char *name;  /* object name in the region (1..47 bytes) */
    uint32_t workers;  /* slots, 1..SABRE_MAILBOX_MAX_WORKERS */
    uint64_t spin_ns;  /* spin before sleeping; 0 = 20 us, at most 10 ms */
    uint64_t stall_ns; /* no heartbeat this long while a request is
                          outstanding = worker stalled; 0 = never */
} sabre_mailbox_desc_t;

/*
 * Allocate the mailbox object in `region` and open a handle on it.  The
 * calling process is recorded as the main side (pid and start time).
 * Errors: SABRE_EINVAL, SABRE_EEXIST, SABRE_ENOSPC, SABRE_EPERM (read-only
 * region), SABRE_ENOMEM.
 */
int sabre_mailbox_create(sabre_region_t *region, const sabre_mailbox_desc_t *desc,
                         sabre_mailbox_t **out);

/*
 * Open an existing mailbox by name, or from a located object.  The object
 * is validated (kind, magic, version, sizes against the object size):
 * SABRE_ECORRUPT names the bad field; SABRE_EBUSY while its creator has not
 * finished writing the header; SABRE_ENOENT if there is no such object.
 * A handle on a read-only region can only be inspected (sabre_mailbox_info);
 * the other calls return SABRE_EPERM.
 */
int sabre_mailbox_open(const sabre_region_t *region, const char *name, sabre_mailbox_t **out);
int sabre_mailbox_open_object(const sabre_region_t *region, const sabre_object_t *object,
                              sabre_mailbox_t **out);

/* Free the handle (the shared object stays).  NULL is ignored. */
void sabre_mailbox_close(sabre_mailbox_t *mb);

uint32_t sabre_mailbox_workers(const sabre_mailbox_t *mb);

/* ---- main side -------------------------------------------------------- */

/*
 * Ask worker `worker` to run `ticks` ticks (0 is allowed: a plain sync
 * point).  Errors: SABRE_EBUSY if its previous request is still
 * outstanding, SABRE_EINVAL (bad worker index), SABRE_EPERM.
 */
int sabre_mailbox_request(sabre_mailbox_t *mb, uint32_t worker, uint64_t ticks);

/* Ask worker `worker` to stop: its next sabre_mailbox_next returns a
 * request with stop = true.  Same errors as sabre_mailbox_request. */
int sabre_mailbox_stop(sabre_mailbox_t *mb, uint32_t worker);

/*
 * Wait until the worker acknowledged the outstanding request (returns at
 * once if none is outstanding).  Returns SABRE_OK, or the worker's non-zero
 * ack status (a value that is not a sabre status becomes SABRE_EJOB);
 * SABRE_EPEER if the worker process died or stalled (message names the
 * pid, the request and the ticks done); SABRE_ETIMEDOUT after timeout_ns
 * (UINT64_MAX = no limit).
 */
int sabre_mailbox_wait(sabre_mailbox_t *mb, uint32_t worker, uint64_t timeout_ns);

/* ---- worker side ------------------------------------------------------ */

/* Record the calling process (pid, start time) as the worker of `worker`
 * and refresh its heartbeat.  Call once before the first sabre_mailbox_next. */
int sabre_mailbox_attach(sabre_mailbox_t *mb, uint32_t worker);

typedef struct sabre_mailbox_req {
    uint32_t seq;   /* request sequence number */
    uint64_t ticks; /* ticks to run */
    bool stop;      /* the main side asked the worker to exit */
} sabre_mailbox_req_t;

/*
 * Wait for a request (returns at once if one is outstanding: level-
 * triggered) and describe it in *req.  Refreshes the heartbeat.
 * Errors: SABRE_ETIMEDOUT, SABRE_EPEER (the main process died), SABRE_EINVAL.
 */
int sabre_mailbox_next(sabre_mailbox_t *mb, uint32_t worker, sabre_mailbox_req_t *req,
                       uint64_t timeout_ns);

/* One tick done: count it and refresh the heartbeat (two relaxed stores). */
int sabre_mailbox_tick(sabre_mailbox_t *mb, uint32_t worker);

/* Refresh the heartbeat only (for long ticks). */
int sabre_mailbox_heartbeat(sabre_mailbox_t *mb, uint32_t worker);

/*
 * Acknowledge the outstanding request with `status` (0 = success), waking
 * the main side if it sleeps.  Every write the worker made before this
 * call is visible to the main side once sabre_mailbox_wait returns.
 * Errors: SABRE_ESTATE if no request is outstanding.
 */
int sabre_mailbox_ack(sabre_mailbox_t *mb, uint32_t worker, int status);

/* ---- inspection ------------------------------------------------------- */

typedef struct sabre_mailbox_info {
    uint32_t req_seq, ack_seq;
    bool outstanding; /* req_seq != ack_seq */
    bool stop_requested;
    uint64_t ticks_requested; /* K of the latest request */
    uint64_t ticks_done;      /* ticks counted by sabre_mailbox_tick, all requests */
    int32_t status;           /* status of the latest ack */
    int32_t worker_pid;       /* 0 if never attached */
    uint64_t worker_start_time;
    bool worker_alive;                 /* pid alive with the same start time */
    uint64_t heartbeat_age_ns;         /* now - last heartbeat (UINT64_MAX if none) */
    bool main_waiting, worker_waiting; /* asleep on the futex now */
    uint64_t main_wakes;               /* FUTEX_WAKE calls the main side issued */
    uint64_t worker_wakes;             /* FUTEX_WAKE calls the worker issued */
} sabre_mailbox_info_t;

/* A snapshot of one slot (atomically read field by field). */
int sabre_mailbox_info(const sabre_mailbox_t *mb, uint32_t worker, sabre_mailbox_info_t *out);

/* Main side recorded at create. */
int sabre_mailbox_main_pid(const sabre_mailbox_t *mb, int32_t *pid, uint64_t *start_time);

/* Tuning stored in the header. */
uint64_t sabre_mailbox_stall_ns(const sabre_mailbox_t *mb);
uint64_t sabre_mailbox_spin_ns(const sabre_mailbox_t *mb);

#ifdef __cplusplus
}
#endif
#endif
