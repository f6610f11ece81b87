/*
 * colset_abi.h - the column-set format: the byte layout shared by table
 * chunks (ECS layer) and snapshots (snapshot layer), and its validation.
 * docs/abi.md ("ECS table chunks and snapshots") is the specification;
 * sabre_abi_json() exports these sizes and offsets.
 */
#ifndef SABRE_COLSET_ABI_H
#define SABRE_COLSET_ABI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- column-set header (table chunks and snapshots; docs/abi.md) ---- */

#define SABRE_COLSET_CHUNK_MAGIC 0x314b4e4843524253ull /* "SBRCHNK1" little-endian */
#define SABRE_COLSET_SNAP_MAGIC  0x31504e5352425353ull /* "SSBRSNP1" little-endian */
#define SABRE_COLSET_MAJOR       1
#define SABRE_COLSET_MINOR       0
#define SABRE_COLSET_HEADER      256
#define SABRE_COLSET_COMP        128
#define SABRE_COLSET_COL         32
#define SABRE_COLSET_MAX_COMPS   4096
#define SABRE_COLSET_MAX_COLS    65536

typedef struct sabre_colset_hdr {
    uint64_t magic;         /* 0 */
    uint16_t major, minor;  /* 8 */
    uint32_t header_size;   /* 12 */
    uint64_t world_id;      /* 16 */
    uint64_t uid;           /* 24: snapshot id; chunks: table << 32 | chunk */
    uint64_t tick;          /* 32: world tick at build / chunk creation */
    uint64_t capacity;      /* 40: rows reserved */
    _Atomic uint64_t rows;  /* 48: rows in use (owner writes, release) */
    uint32_t ncomps, ncols; /* 56, 60 */
    uint64_t entities_off;  /* 64 */
    uint64_t comps_off;     /* 72 */
    uint64_t cols_off;      /* 80 */
    uint64_t names_off;     /* 88 */
    uint64_t names_len;     /* 96 */
    uint64_t total_size;    /* 104 */
    uint32_t mode;          /* 112: sabre_snap_mode_t (snapshots), 0 for chunks */
    uint32_t table;         /* 116: table id (chunks), 0 for snapshots */
    uint64_t first_row;     /* 120: table row of row 0 (chunks) */
    uint8_t reserved[128];  /* 128..255: zero */
} sabre_colset_hdr_t;

typedef struct sabre_colset_comp {
    uint32_t comp_id;                /* 0 */
    uint32_t flags;                  /* 4: bit 0 = written back by commit */
    uint32_t first_col;              /* 8 */
    uint32_t ncols;                  /* 12 */
    uint64_t layout_hash;            /* 16 */
    uint64_t changed_off;            /* 24 */
    uint32_t name_off, name_len;     /* 32, 36 */
    uint32_t layout_off, layout_len; /* 40, 44 */
    uint32_t size;                   /* 48: AoS value size */
    uint8_t reserved0[12];           /* 52..63 */
    _Atomic uint32_t summary;        /* 64: non-zero when a changed bit may be set */
    uint8_t reserved1[60];           /* 68..127 */
} sabre_colset_comp_t;

typedef struct sabre_colset_col {
    uint64_t data_off;           /* 0 */
    uint32_t type;               /* 8: sabre_scalar_t */
    uint32_t elem_size;          /* 12 */
    uint32_t comp_index;         /* 16 */
    uint32_t layout_col;         /* 20: index among the component layout's columns */
    uint32_t name_off, name_len; /* 24, 28 */
} sabre_colset_col_t;

_Static_assert(sizeof(sabre_colset_hdr_t) == SABRE_COLSET_HEADER, "colset header size");
_Static_assert(sizeof(sabre_colset_comp_t) == SABRE_COLSET_COMP, "colset comp size");
_Static_assert(sizeof(sabre_colset_col_t) == SABRE_COLSET_COL, "colset col size");

/* Validate a column set at `base` of `size` bytes; magic is the expected
 * magic.  Returns SABRE_OK or SABRE_ECORRUPT with a message. */
int sabre__colset_validate(const void *base, uint64_t size, uint64_t magic, const char *what);

#endif
