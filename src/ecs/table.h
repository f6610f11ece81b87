/*
 * table.h - archetype tables inside the ECS layer (not public API): the
 * row operations every structural change uses, inline because they are on
 * the hot path of create, destroy, add and remove.
 */
#ifndef SABRE_ECS_TABLE_H
#define SABRE_ECS_TABLE_H

#include "ecs/ecs_internal.h"

#define NO_TABLE UINT32_MAX
#define NO_INDEX UINT32_MAX

static inline bool bit_test(_Atomic uint64_t *words, uint32_t row)
{
    return sabre_bits_test(words, row);
}

/* Owner-side bit updates used by structural changes: structural changes
 * never run concurrently with workers touching the same table (see ecs.h),
 * so a relaxed load + store (no locked RMW) is enough, and it stays an
 * atomic access for the memory model. */
static inline void bit_clear(_Atomic uint64_t *words, uint32_t row)
{
    uint64_t m = 1ull << (row & 63);
    uint64_t v = atomic_load_explicit(&words[row >> 6], memory_order_relaxed);
    if (v & m)
        atomic_store_explicit(&words[row >> 6], v & ~m, memory_order_relaxed);
}

static inline void owner_mark(ecs_chunk_t *ch, uint32_t ci, uint32_t row)
{
    _Atomic uint64_t *w = &ch->bits[ci][row >> 6];
    uint64_t m = 1ull << (row & 63);
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    if (!(v & m))
        atomic_store_explicit(w, v | m, memory_order_relaxed);
    sabre__summary_any(&ch->centries[ci].summary);
}

int sabre__chunk_alloc(sabre_world_t *w, ecs_table_t *t);
void sabre__table_free(ecs_table_t *t);
int sabre__table_get(sabre_world_t *w, const sabre_component_t *comps, uint32_t n, uint32_t *out);
int sabre__edge_get(sabre_world_t *w, uint32_t src_id, sabre_component_t c, int add,
                    ecs_edge_t **out);
void sabre__cmd_free_internal(sabre_cmd_t *c);
void sabre__prefab_free_internal(sabre_prefab_t *p);
void sabre__query_free_internal(sabre_query_t *q);
void sabre__records_free(sabre_world_t *w);

static inline ecs_edge_t *edge_find(const ecs_table_t *t, uint32_t key)
{
    if (!t->edges_cap)
        return NULL;
    uint32_t mask = t->edges_cap - 1;
    for (uint32_t i = (key * 0x9e3779b1u) >> 7 & mask;; i = (i + 1) & mask) {
        ecs_edge_t *e = &t->edges[i];
        if (e->key == key)
            return e;
        if (e->key == UINT32_MAX)
            return NULL;
    }
}

/* Append a row for entity e; returns chunk index and row. */
static inline int table_append(sabre_world_t *w, ecs_table_t *t, sabre_entity_t e, uint32_t *ci,
                               uint32_t *row)
{
    ecs_chunk_t *ch;
    if (SABRE_UNLIKELY(t->nchunks == 0)) {
        int rc = sabre__chunk_alloc(w, t);
        if (rc)
            return rc;
        t->tail = 0;
    }
    ch = t->chunks[t->tail];
    if (SABRE_UNLIKELY(ch->count == ch->cap)) {
        if (t->tail + 1 == t->nchunks) {
            int rc = sabre__chunk_alloc(w, t);
            if (rc)
                return rc;
        }
        t->tail++;
        ch = t->chunks[t->tail];
    }
    uint32_t r = ch->count++;
    t->count++;
    ch->ents[r] = e;
    atomic_store_explicit(&ch->hdr->rows, ch->count, memory_order_release);
    *ci = t->tail;
    *row = r;
    return SABRE_OK;
}

/* Swap-remove row `row` of chunk `ci`: the table's last row moves into it. */
static inline void table_remove_row(sabre_world_t *w, ecs_table_t *t, uint32_t ci, uint32_t row)
{
    /* A row goes away and (usually) the table's last row moves into its
     * place: recorded locations of this table's rows are no longer valid. */
    w->struct_epoch++;
    ecs_chunk_t *lc = t->chunks[t->tail];
    uint32_t lr = lc->count - 1;
    ecs_chunk_t *ch = t->chunks[ci];
    if (ch != lc || row != lr) {
        if (SABRE_LIKELY(t->elem4)) {
            for (uint32_t j = 0, nc = t->ncols; j < nc; j++)
                memcpy((char *)ch->cols[j] + (size_t)row * 4, (char *)lc->cols[j] + (size_t)lr * 4,
                       4);
        } else {
            for (uint32_t j = 0; j < t->ncols; j++) {
                uint32_t e = t->elem[j];
                sabre__copy_elem((char *)ch->cols[j] + (size_t)row * e,
                                 (char *)lc->cols[j] + (size_t)lr * e, e);
            }
        }
        /* The moved row keeps its changed bits.  Bits at rows >= count are
         * left as they are: nothing reads them, and a row appended there
         * marks every component on arrival. */
        for (uint32_t k = 0; k < t->ncomps; k++) {
            if (bit_test(lc->bits[k], lr))
                owner_mark(ch, k, row);
            else
                bit_clear(ch->bits[k], row);
        }
        sabre_entity_t moved = lc->ents[lr];
        ch->ents[row] = moved;
        ecs_record_t *r = &w->records[SABRE_ENTITY_INDEX(moved)];
        r->chunk = ci;
        r->row = row;
    }
    lc->count--;
    t->count--;
    atomic_store_explicit(&lc->hdr->rows, lc->count, memory_order_release);
    if (lc->count == 0 && t->tail > 0)
        t->tail--;
}

static inline void mark_row_all(ecs_table_t *t, ecs_chunk_t *ch, uint32_t row)
{
    for (uint32_t k = 0; k < t->ncomps; k++)
        owner_mark(ch, k, row);
}

static inline void pack_value(const sabre_world_t *w, const ecs_table_t *t, ecs_chunk_t *ch,
                              uint32_t ci, uint32_t row, const void *value)
{
    const ecs_comp_t *c = &w->comps[t->comps[ci]];
    if (!c->ncols)
        return;
    /* sabre_layout_pack, inline: one element per flattened column. */
    const uint8_t *src = value ? value : c->defaults;
    void *const *cols = ch->cols + t->first_col[ci];
    for (uint32_t j = 0; j < c->ncols; j++) {
        const sabre_column_t *lc = &c->layout->columns[j];
        uint8_t *dst = (uint8_t *)cols[j] + (size_t)row * lc->size;
        if (SABRE_UNLIKELY(lc->type == SABRE_BOOL))
            *dst = src[lc->offset] != 0;
        else
            sabre__copy_elem(dst, src + lc->offset, lc->size);
    }
}

static inline int check_comp(const sabre_world_t *w, sabre_component_t c, const char *fn)
{
    if (SABRE_UNLIKELY(c >= w->ncomps))
        return sabre__fail(SABRE_ENOENT, "%s: unknown component id %u (the world has %u)", fn, c,
                           w->ncomps);
    return SABRE_OK;
}

/* ---- sparse sets (sparse.c; docs/ecs.md "Sparse components") ---- */

int sabre__sparse_create(sabre_world_t *w, ecs_comp_t *c, sabre_component_t id);
void sabre__sparse_free(ecs_comp_t *c);
int sabre__sparse_reserve(const ecs_comp_t *c, uint32_t idx);
void sabre__sparse_clear_bits(sabre_world_t *w);

/* Insert live entity e (not a member) into c's set with value (NULL =
 * defaults), marked changed (owner-side store, like a row's arrival). */
static inline int sparse_insert(const ecs_comp_t *c, sabre_entity_t e, const void *value)
{
    ecs_sparse_t *sp = c->sp;
    uint32_t idx = SABRE_ENTITY_INDEX(e), p = idx >> SPARSE_PAGE_SHIFT;
    if (SABRE_UNLIKELY(p >= sp->npages || !sp->pages[p] || sp->count == sp->cap)) {
        int rc = sabre__sparse_reserve(c, idx);
        if (rc)
            return rc;
    }
    uint32_t d = sp->count++;
    sp->pages[p][idx & SPARSE_PAGE_MASK] = d + 1;
    sp->ents[d] = e;
    if (c->ncols)
        sabre_layout_pack(c->layout, value ? value : c->defaults, sp->cols, d);
    _Atomic uint64_t *wd = &sp->bits[d >> 6];
    atomic_store_explicit(wd, atomic_load_explicit(wd, memory_order_relaxed) | 1ull << (d & 63),
                          memory_order_relaxed);
    if (!atomic_load_explicit(&sp->summary, memory_order_relaxed))
        atomic_store_explicit(&sp->summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
    return SABRE_OK;
}

/* Remove entity index idx (member at dense slot d) from c's set: the last
 * member moves into slot d with its values and changed bit. */
static inline void sparse_erase(const ecs_comp_t *c, uint32_t idx, uint32_t d)
{
    ecs_sparse_t *sp = c->sp;
    uint32_t last = --sp->count;
    sp->pages[idx >> SPARSE_PAGE_SHIFT][idx & SPARSE_PAGE_MASK] = 0;
    if (d == last)
        return;
    sabre_entity_t moved = sp->ents[last];
    sp->ents[d] = moved;
    for (uint32_t j = 0; j < c->ncols; j++) {
        uint32_t es = c->layout->columns[j].size;
        sabre__copy_elem((char *)sp->cols[j] + (size_t)d * es,
                         (char *)sp->cols[j] + (size_t)last * es, es);
    }
    if (bit_test(sp->bits, last)) {
        _Atomic uint64_t *wd = &sp->bits[d >> 6];
        atomic_store_explicit(wd, atomic_load_explicit(wd, memory_order_relaxed) | 1ull << (d & 63),
                              memory_order_relaxed);
    } else {
        bit_clear(sp->bits, d);
    }
    uint32_t mi = SABRE_ENTITY_INDEX(moved);
    sp->pages[mi >> SPARSE_PAGE_SHIFT][mi & SPARSE_PAGE_MASK] = d + 1;
}

/* The error for an entity id that names no live entity (null, pending, never
 * created, dead or stale), naming the calling function. */
int sabre__stale(const sabre_world_t *w, sabre_entity_t e, const char *fn);

/* entity.c: place a new entity into table tid with values (per table
 * component index, may be NULL), without hooks; run on_add for component c
 * of e (if any), passing its current value. */
int sabre__place_new(sabre_world_t *w, uint32_t tid, const void *const *vals_by_ci,
                     sabre_entity_t *out);
void sabre__run_on_add(sabre_world_t *w, sabre_entity_t e, sabre_component_t c);
/* Destroy live entity e without running hooks. */
void sabre__entity_destroy_quiet(sabre_world_t *w, sabre_entity_t e);

#endif
