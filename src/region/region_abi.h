/*
 * region_abi.h - the byte layout of a region's header and directory entries
 * (ABI 1.0), shared by every party that maps a region.  docs/abi.md is the
 * specification; sabre_abi_json() exports these sizes and offsets.
 */
#ifndef SABRE_REGION_ABI_H
#define SABRE_REGION_ABI_H

#include <stddef.h>
#include <stdint.h>

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

/* WebAssembly only (src/region/wasm/backing.c): the module-wide directory
 * of named PRIVATE regions, one per module memory, at the address
 * sabre__wasm_region_dir() returns (docs/abi.md, "Region names on
 * WebAssembly").  Defined here so the ABI export (src/abi/abi.c) and
 * pure-JS workers (js/src/worker/regions.js) read the same layout. */
#define WASM_REGDIR_MAGIC   0x5249444752424153ull /* "SABRGDIR" little-endian */
#define WASM_REGDIR_ENTRIES 64u
#define WASM_REGDIR_NAME    64u /* a findable name is 1..63 bytes */
enum { WASM_REGDIR_FREE = 0, WASM_REGDIR_NAMED = 1, WASM_REGDIR_UNLINKED = 2 };

struct wasm_regdir_entry {       /* 80 bytes */
    char name[WASM_REGDIR_NAME]; /*  0: NUL-terminated */
    uint32_t base;               /* 64: byte address of the region in module memory */
    uint32_t size;               /* 68: bytes */
    uint32_t refs;               /* 72: open handles of the module */
    uint32_t state;              /* 76: FREE, NAMED (found by name) or UNLINKED */
};
_Static_assert(sizeof(struct wasm_regdir_entry) == 80, "wasm region directory entry is 80 bytes");

struct wasm_regdir {
    uint64_t magic;        /*  0: WASM_REGDIR_MAGIC */
    _Atomic uint32_t lock; /*  8: 0 free, 1 held, 2 held with sleepers (futex word) */
    uint32_t capacity;     /* 12: WASM_REGDIR_ENTRIES */
    uint8_t pad[64 - 16];
    struct wasm_regdir_entry entries[WASM_REGDIR_ENTRIES]; /* 64 */
};
_Static_assert(offsetof(struct wasm_regdir, entries) == 64, "entries at 64");

#endif
