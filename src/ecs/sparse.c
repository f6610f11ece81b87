/*
 * sparse.c - sparse component storage: the per-component sparse sets
 * (growth, freeing) and their public accessors.  The hot insert/erase are
 * inline in table.h.  docs/ecs.md, "Sparse components", explains the model.
 */
#include <stdlib.h>
#include <string.h>

#include "ecs/table.h"

int sabre__sparse_create(sabre_world_t *w, ecs_comp_t *c, sabre_component_t id)
{
    int rc = sabre__grow((void **)&w->sparse, &w->sparse_cap, w->nsparse + 1, sizeof *w->sparse);
    if (rc)
        return rc;
    ecs_sparse_t *sp = calloc(1, sizeof *sp);
    void **cols = calloc(c->ncols ? c->ncols : 1, sizeof *cols);
    if (!sp || !cols) {
        free(sp);
        free(cols);
        return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                           c->name);
    }
    sp->cols = cols;
    atomic_init(&sp->summary, 0u);
    c->sp = sp;
    w->sparse[w->nsparse++] = id;
    if (c->on_remove)
        w->sparse_remove_hooks = true;
    return SABRE_OK;
}

void sabre__sparse_free(ecs_comp_t *c)
{
    ecs_sparse_t *sp = c->sp;
    if (!sp)
        return;
    for (uint32_t p = 0; p < sp->npages; p++)
        free(sp->pages[p]);
    free(sp->pages);
    for (uint32_t j = 0; j < c->ncols; j++)
        free(sp->cols[j]);
    free(sp->cols);
    free(sp->ents);
    free((void *)sp->bits);
    free(sp);
    c->sp = NULL;
}

/* Make room for entity index idx: its page exists and one more member fits. */
int sabre__sparse_reserve(const ecs_comp_t *c, uint32_t idx)
{
    ecs_sparse_t *sp = c->sp;
    uint32_t p = idx >> SPARSE_PAGE_SHIFT;
    if (p >= sp->npages) {
        uint32_t np = sp->npages ? sp->npages : 4;
        while (np <= p)
            np *= 2;
        uint32_t **pages = realloc(sp->pages, (size_t)np * sizeof *pages);
        if (!pages)
            return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                               c->name);
        memset(pages + sp->npages, 0, (size_t)(np - sp->npages) * sizeof *pages);
        sp->pages = pages;
        sp->npages = np;
    }
    if (!sp->pages[p]) {
        sp->pages[p] = calloc(SPARSE_PAGE_MASK + 1, sizeof **sp->pages);
        if (!sp->pages[p])
            return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                               c->name);
    }
    if (sp->count < sp->cap)
        return SABRE_OK;
    if (sp->cap >= (1u << 31))
        return sabre__fail(SABRE_ENOSPC, "component '%s': sparse set full (%u members)", c->name,
                           sp->count);
    uint32_t ncap = sp->cap ? sp->cap * 2 : 256;
    sabre_entity_t *ents = realloc(sp->ents, (size_t)ncap * sizeof *ents);
    if (!ents)
        return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                           c->name);
    sp->ents = ents;
    for (uint32_t j = 0; j < c->ncols; j++) {
        void *col = realloc(sp->cols[j], (size_t)ncap * c->layout->columns[j].size);
        if (!col)
            return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                               c->name);
        sp->cols[j] = col;
    }
    /* Bits: the old words keep their values, the new ones start clear. */
    _Atomic uint64_t *bits = realloc((void *)sp->bits, (size_t)ncap / 64 * sizeof *bits);
    if (!bits)
        return sabre__fail(SABRE_ENOMEM, "component '%s': out of memory for its sparse set",
                           c->name);
    memset((void *)(bits + sp->cap / 64), 0, (size_t)(ncap - sp->cap) / 64 * sizeof *bits);
    sp->bits = bits;
    sp->cap = ncap;
    return SABRE_OK;
}

/* Clear the changed bits of every sparse set that has some (begin_tick). */
void sabre__sparse_clear_bits(sabre_world_t *w)
{
    for (uint32_t i = 0; i < w->nsparse; i++) {
        ecs_sparse_t *sp = w->comps[w->sparse[i]].sp;
        if (!atomic_load_explicit(&sp->summary, memory_order_relaxed))
            continue;
        atomic_store_explicit(&sp->summary, 0u, memory_order_relaxed);
        if (sp->cap)
            memset((void *)sp->bits, 0, (size_t)sp->cap / 64 * sizeof *sp->bits);
    }
}

sabre_storage_t sabre_component_storage(const sabre_world_t *w, sabre_component_t c)
{
    return w && c < w->ncomps && w->comps[c].sp ? SABRE_STORAGE_SPARSE : SABRE_STORAGE_TABLE;
}

static const ecs_comp_t *sparse_comp(const sabre_world_t *w, sabre_component_t c)
{
    return w && c < w->ncomps && w->comps[c].sp ? &w->comps[c] : NULL;
}

int sabre_sparse_info(const sabre_world_t *w, sabre_component_t c, sabre_sparse_info_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_sparse_info: NULL argument");
    if (c >= w->ncomps)
        return sabre__fail(SABRE_ENOENT, "sabre_sparse_info: unknown component id %u", c);
    const ecs_comp_t *cp = &w->comps[c];
    if (!cp->sp)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_sparse_info: component '%s' is stored in tables, not sparse "
                           "(iterate it with a query)",
                           cp->name);
    out->count = cp->sp->count;
    out->entities = cp->sp->ents;
    return SABRE_OK;
}

void *sabre_sparse_column(const sabre_world_t *w, sabre_component_t c, uint32_t column)
{
    const ecs_comp_t *cp = sparse_comp(w, c);
    return cp && column < cp->ncols ? cp->sp->cols[column] : NULL;
}

_Atomic uint64_t *sabre_sparse_changed(const sabre_world_t *w, sabre_component_t c)
{
    const ecs_comp_t *cp = sparse_comp(w, c);
    return cp ? cp->sp->bits : NULL;
}

void sabre_sparse_touch(sabre_world_t *w, sabre_component_t c)
{
    const ecs_comp_t *cp = sparse_comp(w, c);
    if (cp)
        atomic_store_explicit(&cp->sp->summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
}
