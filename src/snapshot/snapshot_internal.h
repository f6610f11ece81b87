/*
 * snapshot_internal.h - the snapshot handle and what the snapshot layer's
 * files share (not public API).
 */
#ifndef SABRE_SNAPSHOT_INTERNAL_H
#define SABRE_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ecs/ecs_internal.h"
#include "sabre/snapshot.h"

#define SNAP_MAX_COMPS 64
#define SNAP_MSG_MAGIC 0x4d534e5350414e53ull /* "SNAPSNSM" */

/* One run of consecutive snapshot rows filled from consecutive rows of one
 * table chunk (recorded by fill() for the commit fast path). */
typedef struct snap_block {
    uint64_t start; /* first snapshot row */
    uint32_t table, chunk;
    uint32_t chunk_row, count; /* first chunk row, rows */
} snap_block_t;

typedef struct snap_comp {
    sabre_component_t comp;
    const char *name; /* the component's name, in the snapshot's names blob */
    bool write;
    uint32_t first_col, ncols;
    _Atomic uint64_t *bits;
    _Atomic uint32_t *summary;
} snap_comp_t;

struct sabre_snapshot {
    sabre_world_t *world; /* NULL: orphaned, opened or moved */
    uint64_t world_id;
    uint64_t uid;
    sabre_snap_mode_t mode;
    bool detached;
    bool linked; /* on the world's dependents (dep) */
    bool opened; /* from sabre_snapshot_open/recv: no world */
    sabre__world_dep_t dep;
    sabre_region_t *region;
    bool own_region;
    sabre_backing_t backing;
    char name[SABRE_NAME_MAX];
    uint8_t *base; /* colset header */
    uint64_t obj_size;
    uint64_t rows, capacity;
    uint32_t ncomps, ncols;
    snap_comp_t *comps;
    void **cols;
    uint32_t *elem;
    uint32_t *types;
    uint32_t *layout_col;
    const char **col_names;
    sabre_entity_t *ents;
    uint32_t view_first; /* native view: first row in the chunk */
    /* Where each snapshot row came from (fill), for the commit fast path.
     * Process-local: never read from the (shared) snapshot memory. */
    snap_block_t *blocks;
    uint32_t nblocks, blocks_cap;
    bool blocks_valid;        /* blocks describe the current fill */
    uint64_t fill_epoch;      /* world->struct_epoch at the fill */
    uint64_t fill_rows;       /* rows at the fill */
    const uint8_t *fill_base; /* mapping at the fill */
    sabre_snapshot_exec_t exec;
    bool force_slow; /* tests: commit always takes the slow path */
    uint32_t grain;  /* tests: rows per executor range; 0 = SNAP_GRAIN */
    bool last_fast;  /* tests: the last commit took the fast path */
    /* Incremental rebuild (build.c): per (block, snapshot component), the
     * source chunk's episode count at the last fill and whether the episode
     * then in progress held marks other than this snapshot's commits. */
    bool incremental;
    bool committed;       /* a commit since the last fill */
    uint64_t *sync_ver;   /* [block * ncomps + k] */
    uint8_t *sync_dirty;  /* [block * ncomps + k] */
    uint8_t *act;         /* [block * ncomps + k]: what the rebuild copies */
    uint32_t sync_cap;    /* entries allocated in the three arrays */
    uint64_t last_copied; /* row-components the last build or rebuild copied */
};

typedef struct snap_msg {
    uint64_t magic;
    uint64_t uid;
    char name[SABRE_NAME_MAX];
} snap_msg_t;

/* For tests: make commit take the slow path (entity lookups) even when the
 * fast path applies; rows per executor range (rounded up to a multiple of
 * 64; 0 = the default), so that small worlds use the executor; whether the
 * last commit was fast. */
void sabre__snapshot_force_slow(sabre_snapshot_t *s, bool on);
void sabre__snapshot_set_grain(sabre_snapshot_t *s, uint32_t grain);
bool sabre__snapshot_last_fast(const sabre_snapshot_t *s);
/* For tests and benchmarks: row-components (rows x components) the last
 * build or rebuild copied from the world. */
uint64_t sabre__snapshot_last_copied(const sabre_snapshot_t *s);

/* Set the bits of rows [first, first + n) in a changed bitset.  A word
 * whose 64 bits are all set is stored (relaxed) instead of OR-ed: its final
 * value is all ones whatever another thread ORs into it meanwhile, so no
 * mark can be lost, and a plain store needs no locked read-modify-write
 * (one per 64 rows otherwise).  Partial words are OR-ed atomically. */
static inline void sabre__snap_mark_bits(_Atomic uint64_t *words, uint64_t first, uint64_t n)
{
    uint64_t end = first + n;
    while (first < end) {
        uint64_t w = first >> 6, b = first & 63;
        uint64_t take = SABRE_MIN(64 - b, end - first);
        if (take == 64)
            atomic_store_explicit(&words[w], ~0ull, memory_order_relaxed);
        else
            atomic_fetch_or_explicit(&words[w], ((1ull << take) - 1) << b, memory_order_relaxed);
        first += take;
    }
}

/* First row in [i, hi) whose bit is set (want = true) or clear (false); hi
 * if none.  Whole words of the wanted value cost one load each. */
static inline uint64_t sabre__snap_next_bit(const _Atomic uint64_t *bits, uint64_t i, uint64_t hi,
                                            bool want)
{
    while (i < hi) {
        uint64_t m = atomic_load_explicit(&bits[i >> 6], memory_order_relaxed);
        if (!want)
            m = ~m;
        m >>= (i & 63);
        if (m) {
            uint64_t r = i + (uint64_t)__builtin_ctzll(m);
            return r < hi ? r : hi;
        }
        i = (i | 63) + 1;
    }
    return hi;
}

/* Shared between this layer's files. */
int sabre__snap_attach(sabre_snapshot_t *s, uint8_t *base, uint64_t size, uint64_t magic);
void sabre__snap_link(sabre_world_t *w, sabre_snapshot_t *s);
void sabre__snap_unlink(sabre_snapshot_t *s);
void sabre__snap_handle_free_arrays(sabre_snapshot_t *s);
int sabre__snap_check_attached(const sabre_snapshot_t *s, const char *fn);
int sabre__snap_check_world(const sabre_world_t *w, const sabre_snapshot_t *s, const char *fn);
void sabre__snap_run_ranges(const sabre_snapshot_t *s, size_t n, sabre_snapshot_range_fn fn,
                            void *ctx, void (*reset)(void *ctx));
uint32_t sabre__snap_block_find(const sabre_snapshot_t *s, uint64_t row);

/* sparse.c: rows of sparse components (docs/ecs.md, "Sparse components"). */
bool sabre__snap_comp_sparse(const sabre_world_t *w, const sabre_snapshot_t *s, uint32_t k);
void sabre__snap_sparse_fill(const sabre_world_t *w, sabre_snapshot_t *s, uint32_t k, uint64_t row,
                             uint64_t n, bool zero_missing);
void sabre__snap_sparse_commit(sabre_world_t *w, const sabre_snapshot_t *s, uint32_t k,
                               uint64_t begin, uint64_t end, uint64_t *written, uint64_t *missing,
                               uint64_t *dead);

void sabre__snap_narrow_to_view(sabre_snapshot_t *s, uint32_t first, uint32_t count);
int sabre__snap_open_in_region(sabre_region_t *region, const char *name, uint32_t kind,
                               uint64_t magic, const char *what, sabre_snapshot_t **out);

#endif
