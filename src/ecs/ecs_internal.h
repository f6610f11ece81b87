/*
 * ecs_internal.h - the world's private structures, shared by the ECS
 * layer's files and the snapshot layer above it (not installed).  The byte layout of the column-set
 * header used by table chunks and snapshots is specified in docs/abi.md.
 */
#ifndef SABRE_ECS_INTERNAL_H
#define SABRE_ECS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/internal.h"
#include "sabre/ecs.h"
#include "sabre/snapshot.h"

typedef struct sabre__world_dep sabre__world_dep_t;

#include "ecs/colset_abi.h"

/* ---- process-local world structures ---- */

/* A sparse component's set (docs/ecs.md, "Sparse components"), process-
 * local heap memory.  pages[idx >> SPARSE_PAGE_SHIFT][idx & SPARSE_PAGE_MASK]
 * holds the member's dense slot + 1 (0: not a member) for entity index idx;
 * a page is allocated on its first member.  Dense slot i holds entity
 * ents[i], its values at element i of cols[j] (one array per flattened
 * column) and its changed bit i of bits.  Members are dense: removing one
 * moves the last into its slot.  Destroying an entity removes it from every
 * set, so an index found in the pages is always its live entity's. */
#define SPARSE_PAGE_SHIFT 12
#define SPARSE_PAGE_MASK  ((1u << SPARSE_PAGE_SHIFT) - 1)
#define SPARSE_NONE       UINT32_MAX

typedef struct ecs_sparse {
    uint32_t **pages;
    uint32_t npages;
    uint32_t count, cap;
    sabre_entity_t *ents;
    void **cols;              /* ncols dense arrays, cap elements each */
    _Atomic uint64_t *bits;   /* cap / 64 words */
    _Atomic uint32_t summary; /* non-zero: some bit set since begin_tick */
} ecs_sparse_t;

typedef struct ecs_comp {
    char name[SABRE_NAME_MAX];
    const sabre_layout_t *layout; /* NULL: tag */
    sabre_schema_t *own_schema;
    uint32_t size, ncols;
    uint8_t *defaults; /* size bytes */
    sabre_hook_fn on_add, on_remove;
    void *hook_ctx;
    ecs_sparse_t *sp; /* SABRE_STORAGE_SPARSE: its set; NULL: a table component */
} ecs_comp_t;

/* Change episodes of one (chunk, component), process-local, for incremental
 * snapshot rebuilds (docs/ecs.md, "Incremental rebuild").  An episode is the
 * stretch between two begin_tick()s in which the component's changed bits
 * of the chunk were set (summary non-zero); begin_tick numbers it as it
 * clears the bits.  The summary word says who marked during the episode:
 * SABRE_SUMMARY_ANY (1) anyone, SABRE_SUMMARY_COMMIT (2) only commits of the
 * snapshot `owner` (every other marker stores 1 over a 2). */
typedef struct ecs_episodes {
    uint64_t ver;           /* episodes ended (begin_tick with the summary set) */
    uint64_t run_start;     /* first episode of the run of episodes ... */
    uint64_t run_owner;     /* ... marked only by this snapshot's commits (0: none) */
    _Atomic uint64_t owner; /* the current episode's committer when the summary is 2 */
} ecs_episodes_t;

#define SABRE_SUMMARY_ANY    1u
#define SABRE_SUMMARY_COMMIT 2u

typedef struct ecs_chunk {
    uint32_t cap, count;
    uint64_t first_row;
    sabre_entity_t *ents;
    void **cols;             /* per table column: base of row 0 */
    _Atomic uint64_t **bits; /* per table component */
    sabre_colset_hdr_t *hdr;
    sabre_colset_comp_t *centries; /* per table component */
    ecs_episodes_t *eps;           /* per table component */
    sabre_object_t obj;
} ecs_chunk_t;

typedef struct ecs_edge {
    uint32_t key; /* comp << 1 | add; UINT32_MAX = empty */
    uint32_t dst;
    int32_t *colmap; /* dst col -> src col, -1 = new */
    /* The row copy of a move, precomputed: ncopy (dst col, src col) pairs of
     * the columns both tables have (in colmap's allocation). */
    uint32_t ncopy;
    uint32_t (*copy)[2];
    int32_t add_ci; /* add edges: the added component's index in dst */
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
    bool elem4;         /* every column has 4-byte elements (row copies specialise) */
} ecs_table_t;

typedef struct ecs_record {
    uint32_t gen;   /* current generation (>= 1) */
    uint32_t table; /* UINT32_MAX: free slot */
    uint32_t chunk;
    uint32_t row; /* free slot: next free index or UINT32_MAX */
} ecs_record_t;

/* The last component list given to create_with / create_many, resolved:
 * its table and, per listed component, its table component index (-1:
 * sparse).  Tables are never destroyed and storage never changes, so the
 * entry stays valid; it is replaced by the next different list. */
#define SHAPE_MAX 8
typedef struct ecs_shape {
    uint32_t n, tid;
    sabre_component_t comps[SHAPE_MAX];
    int32_t ci[SHAPE_MAX];
    bool sparse, hooks, valid;
} ecs_shape_t;

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
    sabre_component_t *sparse; /* ids of the sparse components, in definition order */
    uint32_t nsparse, sparse_cap;
    bool sparse_remove_hooks; /* some sparse component has on_remove */
    ecs_shape_t shape;        /* create_with's cache */
    sabre__world_dep_t *deps; /* snapshots/views built from this world */
    uint64_t snap_seq;
    /* Structural epoch: bumped whenever an existing row is removed from its
     * table or moved to another (table, chunk, row) -- every call of
     * table_remove_row() (ecs/table.h), which destroy, add and remove (moves
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

/* Internal entry points shared with the snapshot layer. */
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

/* Dense slot of entity index idx in a sparse set, or SPARSE_NONE. */
static inline uint32_t sabre__sparse_find(const ecs_sparse_t *sp, uint32_t idx)
{
    uint32_t p = idx >> SPARSE_PAGE_SHIFT;
    if (SABRE_UNLIKELY(p >= sp->npages || !sp->pages[p]))
        return SPARSE_NONE;
    return sp->pages[p][idx & SPARSE_PAGE_MASK] - 1u;
}

/* Mark dense slot d of a sparse set changed (atomic OR; any thread). */
static inline void sabre__sparse_mark(ecs_sparse_t *sp, uint32_t d)
{
    sabre_bits_mark(sp->bits, d);
    if (!atomic_load_explicit(&sp->summary, memory_order_relaxed))
        atomic_store_explicit(&sp->summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
}

/* Element of column j of dense slot d (elem: the column's element size). */
static inline void *sabre__sparse_elem(const ecs_sparse_t *sp, uint32_t j, uint32_t d,
                                       uint32_t elem)
{
    return (char *)sp->cols[j] + (size_t)d * elem;
}

/* The world a query belongs to. */
sabre_world_t *sabre__query_world(const sabre_query_t *q);
/* Whether a query lists a sparse component (as a term or filter). */
bool sabre__query_has_sparse(const sabre_query_t *q);

/* Dependents of a world: objects of a higher layer (snapshots and native
 * views) link themselves here and are told when the world is destroyed.
 * The ECS layer calls nothing else of theirs, so the dependency between
 * the layers is one-way (snapshot -> ecs).  Not thread-safe: linking,
 * unlinking and destroying the world are main-thread operations. */
struct sabre__world_dep {
    sabre__world_dep_t *next;
    /* Called once from sabre_world_destroy, after the dependent was taken
     * off the list; the world's memory is still mapped during the call. */
    void (*world_gone)(sabre__world_dep_t *dep);
};
void sabre__world_dep_link(sabre_world_t *w, sabre__world_dep_t *d);
void sabre__world_dep_unlink(sabre_world_t *w, sabre__world_dep_t *d);
/* Set a summary word for a marker other than a snapshot commit: 1 over 0
 * or over a commit's 2 (docs/abi.md). */
static inline void sabre__summary_any(_Atomic uint32_t *summary)
{
    if (atomic_load_explicit(summary, memory_order_relaxed) != SABRE_SUMMARY_ANY)
        atomic_store_explicit(summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
}

/* Set a chunk's summary for a commit of snapshot `uid`: 2 over 0 (the
 * episode's marks are this commit's alone so far), 1 over another
 * snapshot's 2.  Several threads of one commit may do this at once for one
 * chunk: they store the same values. */
static inline void sabre__summary_commit(ecs_chunk_t *ch, uint32_t ci, uint64_t uid)
{
    _Atomic uint32_t *sm = &ch->centries[ci].summary;
    uint32_t v = atomic_load_explicit(sm, memory_order_relaxed);
    if (v == 0) {
        atomic_store_explicit(&ch->eps[ci].owner, uid, memory_order_relaxed);
        atomic_store_explicit(sm, SABRE_SUMMARY_COMMIT, memory_order_relaxed);
    } else if (v == SABRE_SUMMARY_COMMIT &&
               atomic_load_explicit(&ch->eps[ci].owner, memory_order_relaxed) != uid) {
        atomic_store_explicit(sm, SABRE_SUMMARY_ANY, memory_order_relaxed);
    }
}

/* Mark (chunk, comp index, row) changed: bit and summary. */
static inline void sabre__chunk_mark(ecs_chunk_t *ch, uint32_t ci, uint32_t row)
{
    sabre_bits_mark(ch->bits[ci], row);
    sabre__summary_any(&ch->centries[ci].summary);
}

#endif
