/*
 * ecs_internal.h - the world's private structures, shared by ecs.c and
 * snapshot.c (not installed).  The byte layout of the column-set header used
 * by table chunks and snapshots is specified in docs/abi.md.
 */
#ifndef SABRE_ECS_INTERNAL_H
#define SABRE_ECS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "sabre/ecs.h"
#include "sabre/snapshot.h"

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

/* ---- process-local world structures ---- */

typedef struct ecs_comp {
    char name[SABRE_NAME_MAX];
    const sabre_layout_t *layout; /* NULL: tag */
    sabre_schema_t *own_schema;
    uint32_t size, ncols;
    uint8_t *defaults; /* size bytes */
    sabre_hook_fn on_add, on_remove;
    void *hook_ctx;
} ecs_comp_t;

typedef struct ecs_chunk {
    uint32_t cap, count;
    uint64_t first_row;
    sabre_entity_t *ents;
    void **cols;             /* per table column: base of row 0 */
    _Atomic uint64_t **bits; /* per table component */
    sabre_colset_hdr_t *hdr;
    sabre_colset_comp_t *centries; /* per table component */
    sabre_object_t obj;
} ecs_chunk_t;

typedef struct ecs_edge {
    uint32_t key; /* comp << 1 | add; UINT32_MAX = empty */
    uint32_t dst;
    int32_t *colmap; /* dst col -> src col, -1 = new */
} ecs_edge_t;

typedef struct ecs_table {
    uint32_t id, ncomps, ncols;
    sabre_component_t *comps; /* sorted */
    uint32_t *first_col;      /* per component */
    uint32_t *elem;           /* per column: element size */
    uint64_t hash;
    uint64_t count;
    uint32_t nchunks, tail; /* tail: chunk holding the last row */
    ecs_chunk_t **chunks;
    uint32_t chunks_cap;
    uint64_t *mask;    /* component bitset, world->mask_words */
    ecs_edge_t *edges; /* open addressing */
    uint32_t edges_cap, nedges;
    uint32_t has_hooks; /* some component has on_remove */
} ecs_table_t;

typedef struct ecs_record {
    uint32_t gen;   /* current generation (>= 1) */
    uint32_t table; /* UINT32_MAX: free slot */
    uint32_t chunk;
    uint32_t row; /* free slot: next free index or UINT32_MAX */
} ecs_record_t;

struct sabre_world {
    uint64_t id;
    sabre_region_t *region;
    bool own_region;
    char prefix[24];
    uint32_t max_comps, chunk_rows, max_chunk_rows, mask_words;
    uint64_t tick;
    bool in_tick;

    ecs_comp_t *comps;
    uint32_t ncomps, comps_cap;

    ecs_table_t **tables;
    uint32_t ntables, tables_cap;
    uint32_t *table_map; /* hash -> table id, open addressing, UINT32_MAX empty */
    uint32_t table_map_cap;

    ecs_record_t *records;
    uint32_t nrecords, records_cap;
    uint32_t free_head;
    uint64_t alive;

    sabre_query_t **queries;
    uint32_t nqueries, queries_cap;
    sabre_cmd_t **cmds;
    uint32_t ncmds, cmds_cap;
    sabre_prefab_t **prefabs;
    uint32_t nprefabs, prefabs_cap;
    sabre_snapshot_t *snaps; /* linked list of built snapshots/views */
    uint64_t snap_seq;
    /* Structural epoch: bumped whenever an existing row is removed from its
     * table or moved to another (table, chunk, row) -- every call of
     * table_remove_row() in ecs.c, which destroy, add and remove (moves
     * between tables) all go through.  Appending rows (create, spawn, the
     * destination side of a move) leaves existing rows where they are and
     * does not bump it.  Snapshots record it at fill; an unchanged epoch at
     * commit means every filled row is still where it was found (commit
     * fast path, docs/ecs.md). */
    uint64_t struct_epoch;
};

/* One element of a column (scalar sizes: 1, 2, 4 or 8 bytes), with a
 * constant-size memcpy for each so the compiler emits a single move. */
static inline void sabre__copy_elem(void *dst, const void *src, uint32_t size)
{
    switch (size) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 1:
        memcpy(dst, src, 1);
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    default:
        memcpy(dst, src, size);
        break;
    }
}

/* Internal entry points shared with snapshot.c. */
static inline ecs_record_t *sabre__ecs_record(const sabre_world_t *w, sabre_entity_t e)
{
    uint32_t idx = SABRE_ENTITY_INDEX(e);
    if (SABRE_UNLIKELY(idx >= w->nrecords))
        return NULL;
    ecs_record_t *r = &w->records[idx];
    if (SABRE_UNLIKELY(r->table == UINT32_MAX || r->gen != SABRE_ENTITY_GEN(e)))
        return NULL;
    return r;
}

/* Component index inside a table, or -1. */
static inline int sabre__table_comp_index(const ecs_table_t *t, sabre_component_t c)
{
    for (uint32_t i = 0; i < t->ncomps; i++)
        if (t->comps[i] == c)
            return (int)i;
    return -1;
}

/* The world a query belongs to. */
sabre_world_t *sabre__query_world(const sabre_query_t *q);

/* snapshot.c: forget the world in every snapshot/view built from it. */
void sabre__snapshot_orphan_all(sabre_world_t *w);
/* snapshot.c, for tests: make commit take the slow path (entity lookups)
 * even when the fast path applies; rows per executor range (rounded up to
 * a multiple of 64; 0 = the default), so that small worlds use the
 * executor; whether the last commit was fast. */
void sabre__snapshot_force_slow(sabre_snapshot_t *s, bool on);
void sabre__snapshot_set_grain(sabre_snapshot_t *s, uint32_t grain);
bool sabre__snapshot_last_fast(const sabre_snapshot_t *s);
/* Mark (chunk, comp index, row) changed: bit and summary. */
static inline void sabre__chunk_mark(ecs_chunk_t *ch, uint32_t ci, uint32_t row)
{
    sabre_bits_mark(ch->bits[ci], row);
    if (!atomic_load_explicit(&ch->centries[ci].summary, memory_order_relaxed))
        atomic_store_explicit(&ch->centries[ci].summary, 1u, memory_order_relaxed);
}

#endif
