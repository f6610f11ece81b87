/*
 * sabre/ecs.h - the ECS world: generational entity ids, components described
 * by layouts, archetype tables with SoA columns in a region, queries with
 * all/any/none/changed, ticks with changed bits, a command buffer, hooks and
 * prefabs.  docs/ecs.md is the guide; docs/abi.md has the byte layout of the
 * table chunks that live in the region.
 *
 * Entities.  A sabre_entity_t is 64 bits: the low 32 bits are a slot index,
 * the high 32 bits a generation (>= 1).  Destroying an entity bumps the
 * slot's generation, so an old id is rejected (SABRE_ESTALE) even after the
 * slot is reused.  0 (SABRE_ENTITY_NULL) is never a valid id.  There is no
 * limit on the number of entities other than memory (2^32 - 1 slots).
 *
 * Components.  A component has a name (unique in the world, 1..47 bytes) and
 * a layout (a struct compiled from schema text, sabre/layout.h).  A layout
 * with no columns (or no layout at all) makes a *tag*: a component with no
 * data.  A world holds up to sabre_world_desc_t.max_components component
 * types (default 4096, at least 1024 always allowed).  Values cross the API
 * as AoS bytes of layout->size (the struct as the layout describes it) and
 * are stored SoA: one column per flattened layout column.
 *
 * Tables.  Entities with the same component set share an archetype table.
 * A table stores its rows in *chunks*; a chunk is one region object (kind
 * SABRE_OBJ_TABLE) holding an entity-id column, one 64-byte aligned array
 * per flattened column of every component and one changed bitset per
 * component.  A chunk never moves or shrinks once allocated: a table grows
 * by adding chunks (the first chunk has chunk_rows rows; each new chunk
 * doubles, up to max_chunk_rows).  So column pointers stay valid for the
 * life of the world, and another thread, or another process that maps the
 * same region, can use them.  Rows are dense: row r of a table lives in the
 * first chunk with room; removing a row moves the table's last row into
 * the hole (swap-remove).
 *
 * Changed bits.  Each (chunk, component) has one bit per row: bit r of word
 * r/64 (LSB first) is 1 if the component of row r was *set since the last
 * sabre_world_begin_tick()*: by sabre_set(), by creating or moving the row
 * into the table (every component of an arriving row is marked), by a
 * snapshot commit, or by a worker calling sabre_iter_mark()/
 * sabre_bits_mark().  begin_tick clears them.  Each (chunk, component) also
 * has a summary word that is non-zero when any of its bits may be set, so a
 * changed query skips clean chunks without scanning rows.  Marking through
 * the API (sabre_set, sabre_iter_mark, sabre_bits_mark, snapshot marks) is
 * an atomic OR (relaxed), safe from any number of threads at once; the
 * owner's structural changes update bits with relaxed load/store pairs,
 * which is one more reason they must not overlap workers on that table.
 *
 * Thread-safety.  A world is owned by one thread at a time: every function
 * that takes a sabre_world_t* or sabre_query_t* (except those listed as
 * safe below) must not run concurrently with another call on the same
 * world.  While the owner does not make structural changes, any number of
 * threads may read and write component columns through pointers from an
 * iterator (disjoint rows per writer) and mark changed bits with
 * sabre_iter_mark()/sabre_bits_mark().  Structural changes (create, destroy,
 * add, remove) made while workers hold pointers into the same table can
 * move rows under them: during a tick, record them in a command buffer
 * instead (sabre_cmd_*), which is flushed by sabre_world_end_tick().
 *
 * Errors.  Every int function returns SABRE_OK or a negative SABRE_E* code
 * and records a detail (sabre_last_error()): SABRE_ESTALE for a dead or
 * stale entity, SABRE_ENOENT for an unknown component or a component the
 * entity lacks, SABRE_ELAYOUT when a value's layout does not match,
 * SABRE_EINVAL for bad arguments, SABRE_ENOSPC when the region is full,
 * SABRE_ESTATE for a call that is invalid now (nested tick).
 */
#ifndef SABRE_ECS_H
#define SABRE_ECS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/layout.h"
#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t sabre_entity_t;
#define SABRE_ENTITY_NULL     ((sabre_entity_t)0)
#define SABRE_ENTITY_INDEX(e) ((uint32_t)((e)&0xffffffffu))
#define SABRE_ENTITY_GEN(e)   ((uint32_t)((e) >> 32))
/* Ids returned by sabre_cmd_create() before the flush carry this bit. */
#define SABRE_ENTITY_PENDING_BIT (1ull << 63)

typedef uint32_t sabre_component_t; /* component id: 0, 1, 2, ... */
#define SABRE_COMPONENT_NONE UINT32_MAX

#define SABRE_ECS_MIN_COMPONENTS     1024
#define SABRE_ECS_DEFAULT_COMPONENTS 4096
#define SABRE_ECS_MAX_QUERY_TERMS    32

typedef struct sabre_world sabre_world_t;
typedef struct sabre_query sabre_query_t;
typedef struct sabre_cmd sabre_cmd_t;
typedef struct sabre_prefab sabre_prefab_t;

/* ------------------------------------------------------------------ world */

typedef struct sabre_world_desc {
    /* Region holding the table chunks.  NULL: the world creates its own
     * PRIVATE region of region_size bytes (pages are touched lazily, so a
     * generous size costs address space only).  A caller region (MEMFD, SHM,
     * FILE) lets other processes map the tables; the caller keeps ownership
     * and must keep it open until sabre_world_destroy(). */
    sabre_region_t *region;
    /* Own region only: PRIVATE (0; threads only, pages touched lazily) or
     * MEMFD, which worker processes can map: give sabre_world_region() to
     * the pool (sabre/sched.h, "Process offload").  A MEMFD region's memory
     * is reserved at creation, so size it with sabre_world_region_size(). */
    sabre_backing_t backing;
    uint64_t region_size;        /* own region only; 0 = 1 GiB (PRIVATE), 256 MiB (MEMFD) */
    uint32_t region_max_objects; /* own region only; 0 = 65536 */
    const char
        *prefix; /* chunk object names "<prefix>.t<table>.<chunk>"; 0 = "ecs" (1..23 bytes) */
    uint32_t max_components; /* 0 = 4096; values below 1024 are raised to 1024 */
    uint32_t chunk_rows;     /* rows of a table's first chunk, rounded up to 64; 0 = 1024 */
    uint32_t max_chunk_rows; /* largest chunk, rounded up to 64; 0 = 1 Mi rows */
} sabre_world_desc_t;

/* Bytes of region a world needs for `entities` entities carrying
 * `bytes_per_entity` bytes of component data each (the sum of their
 * components' sizes; for several archetypes, the largest count times the
 * largest size is safe): table chunks double as they grow, so up to twice
 * the rows, each with its entity id and changed bits, plus room for the
 * directory, chunk headers and small tables.  Use it as region_size of a
 * MEMFD world or as the size of a region you create for one. */
uint64_t sabre_world_region_size(uint64_t entities, uint64_t bytes_per_entity);

/* Create a world.  desc may be NULL (all defaults). */
int sabre_world_create(const sabre_world_desc_t *desc, sabre_world_t **out);

/* Destroy a world: frees tables, queries, command buffers and prefabs it
 * owns.  Snapshots built from it stay valid as memory but are orphaned:
 * committing them (to any world) fails with SABRE_ESTALE.  The chunks in a
 * caller region stay allocated (regions have no free).  NULL is ignored. */
void sabre_world_destroy(sabre_world_t *world);

/* The region holding the chunks (the world's own or the caller's). */
sabre_region_t *sabre_world_region(const sabre_world_t *world);
/* A random 64-bit id chosen at creation (stored in every chunk and snapshot). */
uint64_t sabre_world_id(const sabre_world_t *world);
/* Number of live entities. */
uint64_t sabre_world_count(const sabre_world_t *world);
/* Current tick number (incremented by begin_tick; 0 before the first). */
uint64_t sabre_world_tick(const sabre_world_t *world);

/*
 * begin_tick: clear every changed bit (only chunks whose summary is set are
 * visited), increment the tick, enter the tick.  SABRE_ESTATE if already in
 * a tick.  end_tick: flush every command buffer of the world (in creation
 * order), leave the tick.  SABRE_ESTATE if not in a tick.  If a command
 * fails, end_tick still flushes the rest, leaves the tick and returns the
 * first failure.
 */
int sabre_world_begin_tick(sabre_world_t *world);
int sabre_world_end_tick(sabre_world_t *world);
bool sabre_world_in_tick(const sabre_world_t *world);

/* ------------------------------------------------------------- components */

typedef void (*sabre_hook_fn)(sabre_world_t *world, sabre_entity_t e, sabre_component_t c,
                              const void *value, void *ctx);

/* Where a component's values live (sabre_component_desc_t.storage).
 *  - TABLE (0, the default): in the entity's archetype table, one SoA column
 *    per flattened layout column; adding or removing the component moves the
 *    entity's row to another table.  Iteration is a plain loop over arrays.
 *  - SPARSE: in a sparse set of its own (entity index -> dense slot, dense
 *    SoA columns); adding or removing it never moves the entity's row and
 *    costs a few array accesses.  For tags and often-toggled components.
 *    As a query term it filters rows (with/without/any/changed); its values
 *    are reached per row with sabre_iter_field(), not sabre_iter_column().
 *    See docs/ecs.md, "Sparse components", for what works where. */
typedef enum sabre_storage { SABRE_STORAGE_TABLE = 0, SABRE_STORAGE_SPARSE = 1 } sabre_storage_t;

typedef struct sabre_component_desc {
    const char *name; /* required, 1..47 bytes, unique in the world */
    /* Either a compiled layout (the caller keeps its schema alive for the
     * world's lifetime) or schema text compiled here (struct_name selects the
     * struct, default: the schema's root).  Neither: a tag. */
    const sabre_layout_t *layout;
    const char *schema;
    const char *struct_name;
    const void *defaults; /* layout->size bytes of AoS defaults; NULL = zeros */
    /* on_add runs after the component arrived (value: its AoS value);
     * on_remove runs before it leaves (value: its last value).  Hooks may
     * call any world function, structural ones included. */
    sabre_hook_fn on_add;
    sabre_hook_fn on_remove;
    void *hook_ctx;
    sabre_storage_t storage; /* 0 = SABRE_STORAGE_TABLE */
} sabre_component_desc_t;

/* Define a component.  SABRE_EEXIST for a duplicate name, SABRE_ESCHEMA for
 * schema text that does not compile, SABRE_ENOENT for an unknown
 * struct_name, SABRE_ENOSPC when max_components are defined. */
int sabre_component_define(sabre_world_t *world, const sabre_component_desc_t *desc,
                           sabre_component_t *out);
/* Look a component up by name (SABRE_ENOENT if unknown).  If `expect` is
 * non-NULL the component's layout must have the same hash, else
 * SABRE_ELAYOUT with both layout texts in the message. */
int sabre_component_find(const sabre_world_t *world, const char *name, const sabre_layout_t *expect,
                         sabre_component_t *out);
/* The component's layout (NULL for a tag or an unknown id). */
const sabre_layout_t *sabre_component_layout(const sabre_world_t *world, sabre_component_t c);
/* The component's name (NULL for an unknown id). */
const char *sabre_component_name(const sabre_world_t *world, sabre_component_t c);
/* Value size in bytes (layout->size; 0 for tags). */
uint32_t sabre_component_size(const sabre_world_t *world, sabre_component_t c);
/* A 64-bit digest of component c's values over every live entity that has
 * it (entity ids and value bytes; a tag's digest covers the ids only).  It
 * does not depend on table or row order, so two worlds, or two runs of the
 * same program in different offload modes, hold bit-identical values for
 * the same entities exactly when their digests are equal (up to 64-bit hash
 * collisions).  Reads the world: not concurrent with writes to c.  Errors:
 * SABRE_EINVAL (NULL), SABRE_ENOENT (unknown component), SABRE_ENOMEM. */
int sabre_component_digest(sabre_world_t *world, sabre_component_t c, uint64_t *out);

/* The component's storage (SABRE_STORAGE_TABLE for an unknown id). */
sabre_storage_t sabre_component_storage(const sabre_world_t *world, sabre_component_t c);

/*
 * A sparse component's set, for iterating its values directly (no query):
 * `count` members, their ids in `entities`, and per flattened column a
 * dense array (sabre_sparse_column) whose element i belongs to entities[i],
 * with changed bits per member (sabre_sparse_changed, bit i = member i).
 * The arrays move when the set grows and members move when one is removed
 * (the last member takes the hole): the pointers are valid until the next
 * add, remove or destroy involving the component.  SABRE_EINVAL for a
 * table component, SABRE_ENOENT for an unknown id.
 */
typedef struct sabre_sparse_info {
    uint32_t count;
    const sabre_entity_t *entities;
} sabre_sparse_info_t;
int sabre_sparse_info(const sabre_world_t *world, sabre_component_t c, sabre_sparse_info_t *out);
/* Dense array of flattened column `column` (NULL: not sparse, tag, bad index). */
void *sabre_sparse_column(const sabre_world_t *world, sabre_component_t c, uint32_t column);
/* Changed-bit words, one bit per member (NULL if not sparse).  Marking
 * through them directly must be followed by sabre_sparse_touch(). */
_Atomic uint64_t *sabre_sparse_changed(const sabre_world_t *world, sabre_component_t c);
void sabre_sparse_touch(sabre_world_t *world, sabre_component_t c);

/* --------------------------------------------------------------- entities */

/* Create an entity with no components. */
int sabre_entity_create(sabre_world_t *world, sabre_entity_t *out);
/* Create an entity with n components at once (one table placement).
 * values[i] (may be NULL, or values itself NULL) is the AoS value of comps[i];
 * NULL means the component's defaults.  Duplicate components are an error. */
int sabre_entity_create_with(sabre_world_t *world, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, sabre_entity_t *out);
/* Bulk create: `count` entities with the same n components, in one call
 * (rows are appended to the table a chunk at a time, values copied column
 * by column).  values[i] (values itself may be NULL) is NULL for the
 * component's defaults, else an array of `count` AoS values of comps[i]
 * (stride: the component's size; ignored for tags).  out receives the
 * `count` ids.  on_add hooks run after every entity exists.  Errors as
 * sabre_entity_create_with; on an error nothing was created. */
int sabre_entity_create_many(sabre_world_t *world, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, uint64_t count,
                             sabre_entity_t *out);
/* Destroy: on_remove hooks run first, then the row is removed and the id
 * retired.  SABRE_ESTALE for a dead or stale id. */
int sabre_entity_destroy(sabre_world_t *world, sabre_entity_t e);
/* True if e is a live id of this world (false for stale, pending and 0). */
bool sabre_entity_alive(const sabre_world_t *world, sabre_entity_t e);

/* Add a component (value NULL = defaults).  If the entity already has it,
 * the value (if given) is set instead and no hook runs. */
int sabre_add(sabre_world_t *world, sabre_entity_t e, sabre_component_t c, const void *value);
/* Remove a component.  SABRE_OK if the entity did not have it. */
int sabre_remove(sabre_world_t *world, sabre_entity_t e, sabre_component_t c);
/* Copy the AoS value out (layout->size bytes).  SABRE_ENOENT if absent. */
int sabre_get(const sabre_world_t *world, sabre_entity_t e, sabre_component_t c, void *out);
/* Store the AoS value and mark the row changed.  SABRE_ENOENT if absent. */
int sabre_set(sabre_world_t *world, sabre_entity_t e, sabre_component_t c, const void *value);
/* true if alive and has c. */
bool sabre_has(const sabre_world_t *world, sabre_entity_t e, sabre_component_t c);
/* Pointer to the entity's element of one flattened column (index into the
 * layout's columns) of component c.  Valid while the entity stays in its
 * row (no structural change of it or its table).  Does not mark changed:
 * call sabre_mark_changed() after writing through it.  SABRE_ERANGE for a
 * column index past the layout's columns. */
int sabre_field_ptr(sabre_world_t *world, sabre_entity_t e, sabre_component_t c, uint32_t column,
                    void **out);
/* Mark (e, c) changed without writing (after writing through sabre_field_ptr). */
int sabre_mark_changed(sabre_world_t *world, sabre_entity_t e, sabre_component_t c);
/* Was (e, c) set since begin_tick?  false if dead or absent. */
bool sabre_is_changed(const sabre_world_t *world, sabre_entity_t e, sabre_component_t c);

/* Where an entity lives: its table, chunk and row inside the chunk. */
typedef struct sabre_entity_loc {
    uint32_t table;
    uint32_t chunk;
    uint32_t row;
} sabre_entity_loc_t;
int sabre_entity_loc(const sabre_world_t *world, sabre_entity_t e, sabre_entity_loc_t *out);

/* ---------------------------------------------------------------- queries */

/*
 * A query matches tables that have every `all` component, at least one
 * `any` component (if any are listed) and no `none` component.  With
 * `changed` listed, only rows where at least one listed component was set
 * since begin_tick are returned (rows of chunks whose summaries are clean
 * are skipped without scanning).  Each list holds up to 32 ids.
 * Query *terms* are all[0..nall) followed by any[0..nany): the numbers used
 * by sabre_iter_column() and sabre_iter_changed().
 * Matching is cached: new tables are matched at the next iteration.
 */
typedef struct sabre_query_desc {
    const sabre_component_t *all;
    uint32_t nall;
    const sabre_component_t *any;
    uint32_t nany;
    const sabre_component_t *none;
    uint32_t nnone;
    const sabre_component_t *changed;
    uint32_t nchanged;
} sabre_query_desc_t;

int sabre_query_create(sabre_world_t *world, const sabre_query_desc_t *desc, sabre_query_t **out);
/* Queries are also freed by sabre_world_destroy().  NULL is ignored. */
void sabre_query_destroy(sabre_query_t *query);
/* Number of rows the query yields now (walks the matched chunks). */
uint64_t sabre_query_count(sabre_query_t *query);

/*
 * Iteration: one *block* at a time.  A block is a run of rows that are
 * contiguous in one chunk: count rows starting at row `offset` of chunk
 * `chunk` of table `table`.  Column pointers from sabre_iter_column() point
 * at the block's first row, so the fast path is
 *
 *     sabre_iter_t it;
 *     sabre_query_iter(q, &it);
 *     while (sabre_iter_next(&it)) {
 *         float *px = sabre_iter_column(&it, 0, 0), *vx = sabre_iter_column(&it, 1, 0);
 *         for (uint32_t i = 0; i < it.count; i++) px[i] += vx[i] * dt;
 *     }
 *
 * Without a changed filter a block is the whole chunk's rows; with one it is
 * a maximal run of rows that pass the filter.  The iterator must not outlive
 * a structural change of the world (an iterator started before a structural
 * change gives unspecified rows, never a crash as long as the world lives).
 */
typedef struct sabre_iter {
    /* outputs, valid after sabre_iter_next() returned true */
    uint32_t count;                 /* rows in this block */
    uint32_t offset;                /* row index of the first row inside its chunk */
    uint32_t table;                 /* table id */
    uint32_t chunk;                 /* chunk index inside the table */
    uint64_t table_row;             /* row index of the first row inside its table */
    const sabre_entity_t *entities; /* count entity ids */
    /* private */
    sabre_query_t *q_;
    uint32_t mi_; /* matched-table index */
    uint32_t ci_; /* chunk index */
    uint32_t ri_; /* next row in chunk (changed filter) */
    void *tm_;    /* matched-table record */
    void *ch_;    /* chunk */
} sabre_iter_t;

/* Start iterating (matches tables created since the last iteration). */
void sabre_query_iter(sabre_query_t *query, sabre_iter_t *it);
/* Next block; false when done. */
bool sabre_iter_next(sabre_iter_t *it);
/* Pointer to the block's first element of column `column` (flattened layout
 * column index) of query term `term`.  NULL if the table lacks that term's
 * component (an `any` term), the term is a sparse component (its values are
 * not contiguous: sabre_iter_field) or the indices are out of range. */
void *sabre_iter_column(const sabre_iter_t *it, uint32_t term, uint32_t column);
/* Pointer to row i's element of column `column` of term `term`, for table
 * and sparse terms alike (a sparse term's values are not contiguous: this
 * is the way to reach them).  NULL if the row lacks the component (an `any`
 * term), or the indices are out of range. */
void *sabre_iter_field(const sabre_iter_t *it, uint32_t term, uint32_t column, uint32_t i);
/* Changed-bit words of term `term` for the whole chunk (row r of the block
 * is bit (offset + r) of this array), NULL if the component is absent or
 * sparse (sparse terms: sabre_iter_mark / sabre_iter_is_changed). */
_Atomic uint64_t *sabre_iter_changed(const sabre_iter_t *it, uint32_t term);
/* Mark rows [first, first + n) of the block changed for term `term`
 * (atomic OR; any number of threads; sets the chunk's summary). */
void sabre_iter_mark(const sabre_iter_t *it, uint32_t term, uint32_t first, uint32_t n);
/* After writing words of sabre_iter_changed() directly, set the chunk's
 * summary for term `term` (else changed queries may skip the chunk). */
void sabre_iter_touch(const sabre_iter_t *it, uint32_t term);
/* Was row i of the block set since begin_tick, for term `term`? */
bool sabre_iter_is_changed(const sabre_iter_t *it, uint32_t term, uint32_t i);

/* Bitset helpers (LSB-first: row r is bit r % 64 of word r / 64). */
static inline void sabre_bits_mark(_Atomic uint64_t *words, uint64_t row)
{
    atomic_fetch_or_explicit(&words[row >> 6], 1ull << (row & 63), memory_order_relaxed);
}
static inline bool sabre_bits_test(const _Atomic uint64_t *words, uint64_t row)
{
    return (atomic_load_explicit(&words[row >> 6], memory_order_relaxed) >> (row & 63)) & 1u;
}
/* Mark rows [first, first + n): whole words are stored with one OR each. */
void sabre_bits_mark_range(_Atomic uint64_t *words, uint64_t first, uint64_t n);

/* -------------------------------------------------------------- tables */

typedef struct sabre_table_info {
    uint32_t id;
    uint32_t ncomponents;
    const sabre_component_t *components; /* sorted ids; valid until the world is destroyed */
    uint64_t rows;
    uint32_t nchunks; /* chunks allocated */
} sabre_table_info_t;

uint32_t sabre_world_table_count(const sabre_world_t *world);
int sabre_table_info(const sabre_world_t *world, uint32_t table, sabre_table_info_t *out);

/* One chunk of a table, as stored in the region. */
typedef struct sabre_chunk_info {
    uint32_t capacity;
    uint32_t count;
    uint64_t first_row; /* table row of the chunk's row 0 */
    const sabre_entity_t *entities;
    sabre_object_t object; /* the chunk's region object */
} sabre_chunk_info_t;
int sabre_table_chunk(const sabre_world_t *world, uint32_t table, uint32_t chunk,
                      sabre_chunk_info_t *out);
/* Column base (row 0 of the chunk) of component c's flattened column. */
void *sabre_table_column(const sabre_world_t *world, uint32_t table, uint32_t chunk,
                         sabre_component_t c, uint32_t column);
/* Changed-bit words of component c in that chunk. */
_Atomic uint64_t *sabre_table_changed(const sabre_world_t *world, uint32_t table, uint32_t chunk,
                                      sabre_component_t c);

/* --------------------------------------------------------- command buffer */

/*
 * A command buffer records structural changes (and sets) to apply later, in
 * order.  Each buffer is used by one thread at a time; several threads use
 * several buffers.  sabre_world_end_tick() flushes every buffer of the world
 * in creation order; sabre_cmd_flush() flushes one now (owner thread only).
 * sabre_world_cmd() is the world's default buffer.
 *
 * sabre_cmd_create() returns a *pending* id (SABRE_ENTITY_PENDING_BIT set)
 * that later commands in the same buffer may name; it becomes a real entity
 * at the flush (sabre_cmd_resolve() maps it afterwards, until the buffer is
 * used again).  Values are copied into the buffer.  Commands on entities
 * that died before the flush are skipped and counted as failures (the
 * flush returns the first error but applies every other command).
 */
int sabre_cmd_new(sabre_world_t *world, sabre_cmd_t **out);
sabre_cmd_t *sabre_world_cmd(sabre_world_t *world);
void sabre_cmd_free(sabre_cmd_t *cmd);
int sabre_cmd_create(sabre_cmd_t *cmd, sabre_entity_t *pending);
int sabre_cmd_destroy(sabre_cmd_t *cmd, sabre_entity_t e);
int sabre_cmd_add(sabre_cmd_t *cmd, sabre_entity_t e, sabre_component_t c, const void *value);
int sabre_cmd_remove(sabre_cmd_t *cmd, sabre_entity_t e, sabre_component_t c);
int sabre_cmd_set(sabre_cmd_t *cmd, sabre_entity_t e, sabre_component_t c, const void *value);
/* Apply and clear.  *failed (may be NULL): commands that failed. */
int sabre_cmd_flush(sabre_cmd_t *cmd, uint32_t *failed);
/* Number of recorded commands. */
uint32_t sabre_cmd_count(const sabre_cmd_t *cmd);
/* Real id of a pending id of the last flush (SABRE_ENTITY_NULL if unknown). */
sabre_entity_t sabre_cmd_resolve(const sabre_cmd_t *cmd, sabre_entity_t pending);

/* ---------------------------------------------------------------- prefabs */

/* Fill `out` (the component's AoS value) for the i-th spawned entity. */
typedef void (*sabre_prefab_fn)(uint64_t i, void *out, void *ctx);

typedef struct sabre_prefab_step {
    sabre_component_t comp;
    const void *value;  /* AoS value (copied); NULL = component defaults */
    sabre_prefab_fn fn; /* if set, called per entity instead of value */
    void *ctx;
} sabre_prefab_step_t;

typedef struct sabre_prefab_override {
    sabre_component_t comp; /* must be a step of the blueprint */
    const void *value;      /* used for every spawned entity */
} sabre_prefab_override_t;

/* A blueprint: a name and steps (copied).  Owned by the world. */
int sabre_prefab_create(sabre_world_t *world, const char *name, const sabre_prefab_step_t *steps,
                        uint32_t nsteps, sabre_prefab_t **out);
void sabre_prefab_destroy(sabre_prefab_t *prefab);
/* Spawn n entities into the blueprint's table in one go; out (may be NULL)
 * receives n ids.  on_add hooks run for every component of every entity. */
int sabre_prefab_spawn(sabre_world_t *world, const sabre_prefab_t *prefab, uint64_t n,
                       const sabre_prefab_override_t *overrides, uint32_t noverrides,
                       sabre_entity_t *out);

#ifdef __cplusplus
}
#endif
#endif
