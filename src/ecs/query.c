/*
 * query.c - queries (all/any/none/changed) and block iteration.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

/* ---------------------------------------------------------------- queries */

struct sabre_query {
    sabre_world_t *w;
    uint32_t nall, nany, nnone, nchanged, nterms, stride;
    sabre_component_t terms[2 * SABRE_ECS_MAX_QUERY_TERMS];
    sabre_component_t changed[SABRE_ECS_MAX_QUERY_TERMS];
    uint64_t *all_mask, *any_mask, *none_mask;
    uint32_t scanned;
    uint32_t nmatch, match_cap;
    uint32_t *mtables;
    /* per match: stride entries: term comp index, changed comp index, then
     * whether the table itself satisfies the `any` list (1/0) */
    int32_t *mci;
    /* Sparse components of the lists (docs/ecs.md "Sparse components"):
     * not in the table masks, tested per row.  row_filter: blocks are runs
     * of rows that pass (a changed list or a sparse all/none/any term). */
    uint32_t nsp_all, nsp_none, nsp_any, nsp_chg;
    ecs_sparse_t *sp_all[SABRE_ECS_MAX_QUERY_TERMS], *sp_none[SABRE_ECS_MAX_QUERY_TERMS];
    ecs_sparse_t *sp_any[SABRE_ECS_MAX_QUERY_TERMS], *sp_chg[SABRE_ECS_MAX_QUERY_TERMS];
    bool row_filter;
};

bool sabre__query_has_sparse(const sabre_query_t *q)
{
    if (!q)
        return false;
    if (q->nsp_all || q->nsp_none || q->nsp_any || q->nsp_chg)
        return true;
    return false;
}

sabre_world_t *sabre__query_world(const sabre_query_t *q)
{
    return q ? q->w : NULL;
}

void sabre__query_free_internal(sabre_query_t *q)
{
    if (!q)
        return;
    free(q->all_mask);
    free(q->mtables);
    free(q->mci);
    free(q);
}

int sabre_query_create(sabre_world_t *w, const sabre_query_desc_t *d, sabre_query_t **out)
{
    if (!w || !d || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_query_create: NULL argument");
    *out = NULL;
    if (d->nall > SABRE_ECS_MAX_QUERY_TERMS || d->nany > SABRE_ECS_MAX_QUERY_TERMS ||
        d->nnone > SABRE_ECS_MAX_QUERY_TERMS || d->nchanged > SABRE_ECS_MAX_QUERY_TERMS)
        return sabre__fail(SABRE_EINVAL, "query: at most %d components per list",
                           SABRE_ECS_MAX_QUERY_TERMS);
    if ((d->nall && !d->all) || (d->nany && !d->any) || (d->nnone && !d->none) ||
        (d->nchanged && !d->changed))
        return sabre__fail(SABRE_EINVAL, "query: a list has a count but no array");
    const struct {
        const sabre_component_t *a;
        uint32_t n;
        const char *what;
    } lists[4] = {{d->all, d->nall, "all"},
                  {d->any, d->nany, "any"},
                  {d->none, d->nnone, "none"},
                  {d->changed, d->nchanged, "changed"}};
    for (int l = 0; l < 4; l++)
        for (uint32_t i = 0; i < lists[l].n; i++)
            if (lists[l].a[i] >= w->ncomps)
                return sabre__fail(SABRE_ENOENT,
                                   "query: unknown component id %u in '%s' (the "
                                   "world has %u)",
                                   lists[l].a[i], lists[l].what, w->ncomps);
    int rc =
        sabre__grow((void **)&w->queries, &w->queries_cap, w->nqueries + 1, sizeof *w->queries);
    if (rc)
        return rc;
    sabre_query_t *q = calloc(1, sizeof *q);
    uint64_t *masks = calloc((size_t)w->mask_words * 3, sizeof *masks);
    if (!q || !masks) {
        free(q);
        free(masks);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a query");
    }
    q->w = w;
    q->nall = d->nall;
    q->nany = d->nany;
    q->nnone = d->nnone;
    q->nchanged = d->nchanged;
    q->nterms = d->nall + d->nany;
    q->stride = q->nterms + q->nchanged + 1;
    q->all_mask = masks;
    q->any_mask = masks + w->mask_words;
    q->none_mask = masks + 2 * w->mask_words;
    for (uint32_t i = 0; i < d->nall; i++) {
        q->terms[i] = d->all[i];
        if (w->comps[d->all[i]].sp)
            q->sp_all[q->nsp_all++] = w->comps[d->all[i]].sp;
        else
            q->all_mask[d->all[i] >> 6] |= 1ull << (d->all[i] & 63);
    }
    for (uint32_t i = 0; i < d->nany; i++) {
        q->terms[d->nall + i] = d->any[i];
        if (w->comps[d->any[i]].sp)
            q->sp_any[q->nsp_any++] = w->comps[d->any[i]].sp;
        else
            q->any_mask[d->any[i] >> 6] |= 1ull << (d->any[i] & 63);
    }
    for (uint32_t i = 0; i < d->nnone; i++) {
        if (w->comps[d->none[i]].sp)
            q->sp_none[q->nsp_none++] = w->comps[d->none[i]].sp;
        else
            q->none_mask[d->none[i] >> 6] |= 1ull << (d->none[i] & 63);
    }
    for (uint32_t i = 0; i < d->nchanged; i++) {
        q->changed[i] = d->changed[i];
        if (w->comps[d->changed[i]].sp)
            q->sp_chg[q->nsp_chg++] = w->comps[d->changed[i]].sp;
    }
    q->row_filter = q->nchanged || q->nsp_all || q->nsp_none || q->nsp_any;
    w->queries[w->nqueries++] = q;
    *out = q;
    return SABRE_OK;
}

void sabre_query_destroy(sabre_query_t *q)
{
    if (!q)
        return;
    sabre_world_t *w = q->w;
    for (uint32_t i = 0; i < w->nqueries; i++) {
        if (w->queries[i] == q) {
            w->queries[i] = w->queries[--w->nqueries];
            break;
        }
    }
    sabre__query_free_internal(q);
}

/* Whether table t can hold rows of the query; *table_any: t itself has an
 * `any` component (else rows pass `any` only through a sparse one). */
static bool query_matches(const sabre_query_t *q, const ecs_table_t *t, bool *table_any)
{
    uint32_t nw = q->w->mask_words;
    bool any = q->nany == 0;
    for (uint32_t i = 0; i < nw; i++) {
        uint64_t m = t->mask[i];
        if ((m & q->all_mask[i]) != q->all_mask[i] || (m & q->none_mask[i]))
            return false;
        if (m & q->any_mask[i])
            any = true;
    }
    *table_any = any;
    return any || q->nsp_any > 0;
}

static void query_update(sabre_query_t *q)
{
    sabre_world_t *w = q->w;
    while (q->scanned < w->ntables) {
        const ecs_table_t *t = w->tables[q->scanned];
        bool table_any = false;
        if (query_matches(q, t, &table_any)) {
            uint32_t n = q->nmatch + 1;
            if (n > q->match_cap) {
                uint32_t ncap = q->match_cap ? q->match_cap * 2 : 8;
                uint32_t *mt = realloc(q->mtables, ncap * sizeof *mt);
                if (mt)
                    q->mtables = mt;
                int32_t *mc =
                    realloc(q->mci, (size_t)ncap * (q->stride ? q->stride : 1) * sizeof *mc);
                if (mc)
                    q->mci = mc;
                if (!mt || !mc)
                    return; /* retried at the next iteration */
                q->match_cap = ncap;
            }
            q->mtables[q->nmatch] = t->id;
            int32_t *ci = q->mci + (size_t)q->nmatch * q->stride;
            for (uint32_t k = 0; k < q->nterms; k++)
                ci[k] = sabre__table_comp_index(t, q->terms[k]);
            for (uint32_t k = 0; k < q->nchanged; k++)
                ci[q->nterms + k] = sabre__table_comp_index(t, q->changed[k]);
            ci[q->nterms + q->nchanged] = table_any;
            q->nmatch = n;
        }
        q->scanned++;
    }
}

void sabre_query_iter(sabre_query_t *q, sabre_iter_t *it)
{
    memset(it, 0, sizeof *it);
    if (!q)
        return;
    query_update(q);
    it->q_ = q;
}

static inline bool sp_has(const ecs_sparse_t *sp, uint32_t idx)
{
    return sabre__sparse_find(sp, idx) != SPARSE_NONE;
}

/* Rows of word x of chunk ch (bit r % 64 = row r) that pass the query's
 * row filter: a changed bit of a changed term (if any are listed), every
 * sparse `all`, no sparse `none`, and a sparse `any` unless the table has
 * an `any` component.  Bits of rows >= the chunk's count are unspecified. */
static uint64_t row_word(const sabre_query_t *q, const int32_t *ci, ecs_chunk_t *ch, uint32_t x)
{
    uint64_t chg = 0;
    for (uint32_t k = 0; k < q->nchanged; k++) {
        int32_t c = ci[q->nterms + k];
        if (c >= 0)
            chg |= atomic_load_explicit(&ch->bits[c][x], memory_order_relaxed);
    }
    bool need_any = q->nsp_any && !ci[q->nterms + q->nchanged];
    if (!q->nsp_all && !q->nsp_none && !need_any && !q->nsp_chg)
        return q->nchanged ? chg : ~0ull;
    uint32_t lo = x << 6, hi = SABRE_MIN(lo + 64, ch->count);
    uint64_t pass = 0;
    for (uint32_t r = lo; r < hi; r++) {
        uint32_t idx = SABRE_ENTITY_INDEX(ch->ents[r]);
        uint64_t bit = 1ull << (r & 63);
        bool ok = true;
        for (uint32_t k = 0; ok && k < q->nsp_all; k++)
            ok = sp_has(q->sp_all[k], idx);
        for (uint32_t k = 0; ok && k < q->nsp_none; k++)
            ok = !sp_has(q->sp_none[k], idx);
        if (ok && need_any) {
            ok = false;
            for (uint32_t k = 0; !ok && k < q->nsp_any; k++)
                ok = sp_has(q->sp_any[k], idx);
        }
        if (ok && q->nchanged && !(chg & bit)) {
            ok = false;
            for (uint32_t k = 0; !ok && k < q->nsp_chg; k++) {
                uint32_t d = sabre__sparse_find(q->sp_chg[k], idx);
                ok = d != SPARSE_NONE && bit_test(q->sp_chg[k]->bits, d);
            }
        }
        if (ok)
            pass |= bit;
    }
    return pass;
}

bool sabre_iter_next(sabre_iter_t *it)
{
    sabre_query_t *q = it->q_;
    if (!q)
        return false;
    sabre_world_t *w = q->w;
    while (it->mi_ < q->nmatch) {
        ecs_table_t *t = w->tables[q->mtables[it->mi_]];
        int32_t *ci = q->mci + (size_t)it->mi_ * q->stride;
        if (it->ci_ >= t->nchunks || t->chunks[it->ci_]->count == 0) {
            it->mi_++;
            it->ci_ = 0;
            it->ri_ = 0;
            continue;
        }
        ecs_chunk_t *ch = t->chunks[it->ci_];
        it->table = t->id;
        it->chunk = it->ci_;
        it->tm_ = ci;
        it->ch_ = ch;
        if (!q->row_filter) {
            it->offset = 0;
            it->count = ch->count;
            it->table_row = ch->first_row;
            it->entities = ch->ents;
            it->ci_++;
            return true;
        }
        if (it->ri_ == 0 && q->nchanged) {
            bool dirty = false;
            for (uint32_t k = 0; k < q->nchanged; k++) {
                int32_t c = ci[q->nterms + k];
                if (c >= 0 && atomic_load_explicit(&ch->centries[c].summary, memory_order_relaxed))
                    dirty = true;
            }
            for (uint32_t k = 0; k < q->nsp_chg; k++)
                if (atomic_load_explicit(&q->sp_chg[k]->summary, memory_order_relaxed))
                    dirty = true;
            if (!dirty) {
                it->ci_++;
                continue;
            }
        }
        /* Find the next run of rows with a changed bit, from ri_. */
        uint32_t n = ch->count, r = it->ri_;
        uint32_t start = n;
        while (r < n) {
            uint64_t m = row_word(q, ci, ch, r >> 6) >> (r & 63);
            if (m) {
                start = r + (uint32_t)__builtin_ctzll(m);
                break;
            }
            r = (r | 63) + 1;
        }
        if (start >= n) {
            it->ci_++;
            it->ri_ = 0;
            continue;
        }
        uint32_t end = start;
        while (end < n) {
            uint64_t m = ~row_word(q, ci, ch, end >> 6) >> (end & 63);
            if (m) {
                end += (uint32_t)__builtin_ctzll(m);
                break;
            }
            end = (end | 63) + 1;
        }
        if (end > n)
            end = n;
        it->offset = start;
        it->count = end - start;
        it->table_row = ch->first_row + start;
        it->entities = ch->ents + start;
        it->ri_ = end;
        if (end >= n) {
            it->ci_++;
            it->ri_ = 0;
        }
        return true;
    }
    return false;
}

void *sabre_iter_column(const sabre_iter_t *it, uint32_t term, uint32_t column)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms)
        return NULL;
    int32_t ci = ((const int32_t *)it->tm_)[term];
    if (ci < 0)
        return NULL;
    const ecs_table_t *t = q->w->tables[it->table];
    if (column >= q->w->comps[t->comps[ci]].ncols)
        return NULL;
    uint32_t col = t->first_col[ci] + column;
    return (char *)((ecs_chunk_t *)it->ch_)->cols[col] + (size_t)it->offset * t->elem[col];
}

/* The sparse set of term `term`, or NULL for a table component. */
static inline ecs_sparse_t *term_sparse(const sabre_query_t *q, uint32_t term)
{
    return q->w->comps[q->terms[term]].sp;
}

void *sabre_iter_field(const sabre_iter_t *it, uint32_t term, uint32_t column, uint32_t i)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms || i >= it->count)
        return NULL;
    const ecs_comp_t *cp = &q->w->comps[q->terms[term]];
    if (column >= cp->ncols)
        return NULL;
    if (cp->sp) {
        uint32_t d = sabre__sparse_find(cp->sp, SABRE_ENTITY_INDEX(it->entities[i]));
        return d == SPARSE_NONE
                   ? NULL
                   : sabre__sparse_elem(cp->sp, column, d, cp->layout->columns[column].size);
    }
    char *base = sabre_iter_column(it, term, column);
    return base ? base + (size_t)i * cp->layout->columns[column].size : NULL;
}

_Atomic uint64_t *sabre_iter_changed(const sabre_iter_t *it, uint32_t term)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms)
        return NULL;
    int32_t ci = ((const int32_t *)it->tm_)[term];
    return ci < 0 ? NULL : ((ecs_chunk_t *)it->ch_)->bits[ci];
}

void sabre_iter_mark(const sabre_iter_t *it, uint32_t term, uint32_t first, uint32_t n)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms || first >= it->count || n == 0)
        return;
    if (n > it->count - first)
        n = it->count - first;
    ecs_sparse_t *sp = term_sparse(q, term);
    if (sp) {
        bool any = false;
        for (uint32_t i = first; i < first + n; i++) {
            uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(it->entities[i]));
            if (d != SPARSE_NONE) {
                sabre_bits_mark(sp->bits, d);
                any = true;
            }
        }
        if (any)
            sabre__summary_any(&sp->summary);
        return;
    }
    int32_t ci = ((const int32_t *)it->tm_)[term];
    if (ci < 0)
        return;
    ecs_chunk_t *ch = it->ch_;
    sabre_bits_mark_range(ch->bits[ci], (uint64_t)it->offset + first, n);
    sabre__summary_any(&ch->centries[ci].summary);
}

void sabre_iter_touch(const sabre_iter_t *it, uint32_t term)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms)
        return;
    ecs_sparse_t *sp = term_sparse(q, term);
    if (sp) {
        atomic_store_explicit(&sp->summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
        return;
    }
    int32_t ci = ((const int32_t *)it->tm_)[term];
    if (ci >= 0)
        atomic_store_explicit(&((ecs_chunk_t *)it->ch_)->centries[ci].summary, SABRE_SUMMARY_ANY,
                              memory_order_relaxed);
}

bool sabre_iter_is_changed(const sabre_iter_t *it, uint32_t term, uint32_t i)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms || i >= it->count)
        return false;
    ecs_sparse_t *sp = term_sparse(q, term);
    if (sp) {
        uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(it->entities[i]));
        return d != SPARSE_NONE && sabre_bits_test(sp->bits, d);
    }
    _Atomic uint64_t *b = sabre_iter_changed(it, term);
    return b && sabre_bits_test(b, (uint64_t)it->offset + i);
}

uint64_t sabre_query_count(sabre_query_t *q)
{
    uint64_t n = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    if (q && !q->row_filter) {
        for (uint32_t m = 0; m < q->nmatch; m++)
            n += q->w->tables[q->mtables[m]]->count;
        return n;
    }
    while (sabre_iter_next(&it))
        n += it.count;
    return n;
}
