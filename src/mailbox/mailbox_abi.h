/*
 * mailbox_abi.h - the byte layout of a mailbox object, shared by the main side
 * and its workers.  docs/abi.md ("Mailbox") is the specification;
 * sabre_abi_json() exports these sizes and offsets.
 */
#ifndef SABRE_MAILBOX_ABI_H
#define SABRE_MAILBOX_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "sabre/mailbox.h"

/* Offsets are part of the ABI (docs/abi.md).  All fields are little-endian
 * native integers; the atomics are lock-free 32/64-bit words. */
struct mb_header {
    _Atomic uint64_t magic;   /* 0: written last (release) */
    uint32_t version;         /* 8 */
    uint32_t workers;         /* 12 */
    uint32_t header_size;     /* 16 */
    uint32_t slot_size;       /* 20 */
    uint64_t spin_ns;         /* 24 */
    uint64_t stall_ns;        /* 32 */
    int32_t main_pid;         /* 40 */
    uint32_t reserved0;       /* 44 */
    uint64_t main_start_time; /* 48 */
    uint8_t reserved[72];     /* 56..127 */
};

struct mb_slot {
    /* Main block: written by the main side only. */
    _Atomic uint32_t req_seq;      /* 0   futex word the worker sleeps on */
    _Atomic uint32_t main_waiting; /* 4   main sleeps on ack_seq */
    _Atomic uint64_t ticks;        /* 8   K of the latest request */
    _Atomic uint32_t flags;        /* 16  FLAG_STOP */
    uint32_t reserved1;            /* 20 */
    _Atomic uint64_t req_ns;       /* 24  CLOCK_MONOTONIC of the request */
    _Atomic uint64_t main_wakes;   /* 32  FUTEX_WAKE calls by the main side */
    uint8_t pad1[88];              /* 40..127 */
    /* Worker block: written by the worker only. */
    _Atomic uint32_t ack_seq;        /* 128 futex word the main side sleeps on */
    _Atomic uint32_t worker_waiting; /* 132 worker sleeps on req_seq */
    _Atomic int32_t status;          /* 136 status of the latest ack */
    _Atomic int32_t worker_pid;      /* 140 */
    _Atomic uint64_t worker_start;   /* 144 /proc start time of worker_pid */
    _Atomic uint64_t ticks_done;     /* 152 */
    _Atomic uint64_t heartbeat_ns;   /* 160 CLOCK_MONOTONIC */
    _Atomic uint64_t worker_wakes;   /* 168 FUTEX_WAKE calls by the worker */
    uint8_t pad2[80];                /* 176..255 */
};

_Static_assert(sizeof(struct mb_header) == SABRE_MAILBOX_HEADER_SIZE, "mailbox header size");
_Static_assert(sizeof(struct mb_slot) == SABRE_MAILBOX_SLOT_SIZE, "mailbox slot size");
_Static_assert(offsetof(struct mb_header, main_start_time) == 48, "header offsets");
_Static_assert(offsetof(struct mb_slot, main_wakes) == 32, "main block offsets");
_Static_assert(offsetof(struct mb_slot, ack_seq) == 128, "worker block is 128 bytes apart");
_Static_assert(offsetof(struct mb_slot, worker_wakes) == 168, "worker block offsets");

#endif
