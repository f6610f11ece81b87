/*
 * sabre/status.h - status codes and error details shared by every layer.
 *
 * Every public sabre function that can fail returns an int status: SABRE_OK
 * (0) on success or a negative SABRE_E* code.  When a function fails it also
 * records a human-readable detail ("region '/x': header magic is 0x..., want
 * 0x...") for the calling thread; sabre_last_error() returns it.  The detail
 * is thread-local, so threads never see each other's messages, and it stays
 * valid until the same thread's next failing sabre call.
 *
 * Thread-safety: all functions here may be called from any thread.
 */
#ifndef SABRE_STATUS_H
#define SABRE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_VERSION_MAJOR 0
#define SABRE_VERSION_MINOR 1
#define SABRE_VERSION_PATCH 0

enum sabre_status {
    SABRE_OK = 0,
    SABRE_EINVAL = -1,     /* invalid argument or descriptor */
    SABRE_ENOMEM = -2,     /* out of process memory */
    SABRE_ENOSPC = -3,     /* no space: /dev/shm or disk full, region or ring full */
    SABRE_EIO = -4,        /* a system call failed (errno in the detail) */
    SABRE_ENOENT = -5,     /* no such region, object, component, system, ... */
    SABRE_EEXIST = -6,     /* already exists */
    SABRE_ECORRUPT = -7,   /* shared data fails validation (bad magic, offsets, sizes) */
    SABRE_EVERSION = -8,   /* ABI major version mismatch */
    SABRE_ELAYOUT = -9,    /* layout hash / shape mismatch */
    SABRE_ESCHEMA = -10,   /* schema text does not parse or compile */
    SABRE_EAGAIN = -11,    /* nothing available now (empty ring, no new version) */
    SABRE_ETIMEDOUT = -12, /* a bounded wait expired */
    SABRE_EBUSY = -13,     /* resource in use (pinned slot, region being created) */
    SABRE_ESTALE = -14,    /* stale handle or entity id (destroyed, generation differs) */
    SABRE_EDETACHED = -15, /* handle is detached: its buffers were transferred away */
    SABRE_EPEER = -16,     /* a peer (worker, producer) died or stopped responding */
    SABRE_ENOTSUP = -17,   /* not supported on this system or configuration */
    SABRE_EPERM = -18,     /* permission denied */
    SABRE_EFULL = -19,     /* a bounded structure is full and its policy is to refuse */
    SABRE_ECYCLE = -20,    /* dependency cycle */
    SABRE_EJOB = -21,      /* a user job or system returned an error */
    SABRE_ESTATE = -22,    /* call not valid in the current state (e.g. nested tick) */
    SABRE_ERANGE = -23,    /* value out of range (NaN/Inf weights, index out of bounds) */
    SABRE_ECLOSED = -24    /* the other side closed the object (a ring's consumer) */
};

/* Short fixed name of a status code, e.g. "SABRE_ECORRUPT"; never NULL. */
const char *sabre_status_name(int status);

/* One-line description of a status code, e.g. "corrupt shared data"; never NULL. */
const char *sabre_strerror(int status);

/* Detail of the calling thread's last failure ("" if none).  The pointer is
 * valid until the thread's next failing sabre call. */
const char *sabre_last_error(void);

/* Forget the calling thread's last failure detail. */
void sabre_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
