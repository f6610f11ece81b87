/*
 * weights_abi.h - the byte layout of a weights object, shared by every party that
 * maps it.  docs/abi.md ("Weights object") is the specification;
 * sabre_abi_json() exports these sizes and offsets.
 */
#ifndef SABRE_WEIGHTS_ABI_H
#define SABRE_WEIGHTS_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "sabre/weights.h"

/* ---- shared layout (docs/abi.md) ---------------------------------------- */

typedef struct wt_hdr {
    /* DrillSergeantHQ control block: exactly these four i32 at 0, 4, 8, 12. */
    _Atomic int32_t active_idx;
    _Atomic int32_t version32;
    _Atomic int32_t shape_hash;
    _Atomic int32_t step32;
    uint32_t magic;                /* 16 */
    uint16_t abi_major, abi_minor; /* 20 */
    uint32_t nslots;               /* 24 */
    uint32_t nreaders;             /* 28 */
    uint64_t slot_size;            /* 32 */
    uint64_t slot_stride;          /* 40 */
    uint64_t slots_offset;         /* 48 */
    uint64_t readers_offset;       /* 56 */
    uint32_t flags;                /* 64 */
    uint32_t default_shape;        /* 68 */
    uint64_t layout_hash;          /* 72 */
    uint64_t slot_table_offset;    /* 80 */
    uint64_t object_size;          /* 88 */
    uint8_t pad0[128 - 96];
    /* line @128: written by the publisher */
    _Atomic uint64_t current; /* version << 8 | slot */
    _Atomic uint64_t step64;
    _Atomic uint64_t writer_owner; /* publisher lease: process identity or 0 */
    _Atomic uint64_t publishes;
    _Atomic uint64_t publish_waits;
    _Atomic uint64_t publish_wait_ns;
    _Atomic uint64_t busy;
    _Atomic uint64_t last_publish_ns;
    _Atomic uint64_t dead_pins;
    uint8_t pad1[256 - 200];
    /* line @256: futex word the publisher sleeps on; bumped by readers */
    _Atomic uint32_t unpin_seq;
    _Atomic uint32_t pub_waiting;
    uint8_t pad2[384 - 264];
    /* line @384: readers sleeping in sabre_weights_wait() */
    _Atomic uint32_t version_waiters;
    uint8_t pad3[512 - 388];
} wt_hdr;

_Static_assert(sizeof(wt_hdr) == 512, "weights header is 512 bytes");
_Static_assert(offsetof(wt_hdr, current) == 128, "current at 128");
_Static_assert(offsetof(wt_hdr, unpin_seq) == 256, "unpin_seq at 256");

enum { WT_SLOT_FREE = 0, WT_SLOT_WRITING = 1, WT_SLOT_PUBLISHED = 2 };

typedef struct wt_slot { /* 64 bytes each, written by the publisher */
    _Atomic uint64_t version;
    _Atomic uint64_t step;
    _Atomic uint32_t shape;
    _Atomic uint32_t state;
    _Atomic uint64_t publish_ns;
    uint8_t pad[64 - 32];
} wt_slot;
_Static_assert(sizeof(wt_slot) == 64, "slot record is 64 bytes");

typedef struct wt_reader {    /* 128 bytes each: one reader's line pair */
    _Atomic uint64_t owner;   /* identity of the owning process, 0 = free */
    _Atomic uint64_t pin;     /* version << 8 | (slot + 1), 0 = none */
    _Atomic uint64_t cand;    /* candidate pin while validating */
    _Atomic uint64_t adopted; /* last adopted version */
    _Atomic uint64_t adopts;
    _Atomic uint64_t refused;
    uint64_t reserved0;
    uint8_t pad[128 - 56];
} wt_reader;
_Static_assert(sizeof(wt_reader) == 128, "reader record is 128 bytes");

#define WT_SLOT_TABLE_OFFSET 512u

#endif
