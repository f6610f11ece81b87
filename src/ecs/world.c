/*
 * world.c - the world (create, destroy, ticks) and component definitions.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

/* ------------------------------------------------------------------ world */

int sabre_world_create(const sabre_world_desc_t *desc, sabre_world_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_world_create: out is NULL");
    *out = NULL;
    sabre_world_desc_t d = desc ? *desc : (sabre_world_desc_t){0};
    const char *prefix = d.prefix ? d.prefix : "ecs";
    size_t pl = strlen(prefix);
    if (pl == 0 || pl > 23)
        return sabre__fail(SABRE_EINVAL, "world prefix '%s' must be 1..23 bytes", prefix);
    uint32_t maxc = d.max_components ? d.max_components : SABRE_ECS_DEFAULT_COMPONENTS;
    if (maxc < SABRE_ECS_MIN_COMPONENTS)
        maxc = SABRE_ECS_MIN_COMPONENTS;
    if (maxc > (1u << 24))
        return sabre__fail(SABRE_EINVAL, "max_components %u exceeds 16777216", maxc);
    uint64_t cr = d.chunk_rows ? d.chunk_rows : 1024;
    uint64_t mr = d.max_chunk_rows ? d.max_chunk_rows : (1u << 20);
    cr = SABRE_ALIGN_UP(cr, 64);
    mr = SABRE_ALIGN_UP(mr, 64);
    if (cr > (1u << 30) || mr > (1u << 30))
        return sabre__fail(SABRE_EINVAL, "chunk rows must be at most 2^30");
    if (mr < cr)
        mr = cr;

    sabre_world_t *w = calloc(1, sizeof *w);
    if (!w)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a world");
    w->id = sabre__random_id();
    memcpy(w->prefix, prefix, pl + 1);
    w->max_comps = maxc;
    w->mask_words = (maxc + 63) / 64;
    w->chunk_rows = (uint32_t)cr;
    w->max_chunk_rows = (uint32_t)mr;
    w->free_head = NO_INDEX;
    int rc;
    if (d.region) {
        w->region = d.region;
    } else {
        if (d.backing != SABRE_BACKING_PRIVATE && d.backing != SABRE_BACKING_MEMFD) {
            free(w);
            return sabre__fail(SABRE_EINVAL,
                               "world: backing is %s, want private or memfd (for shm or a "
                               "file, create the region and pass it as .region)",
                               sabre_backing_name(d.backing));
        }
        bool memfd = d.backing == SABRE_BACKING_MEMFD;
        sabre_region_desc_t rd = {
            .backing = d.backing,
            .name = memfd ? prefix : NULL,
            .size = d.region_size ? d.region_size
                    : memfd       ? (256ull << 20)
                                  : (1ull << 30),
            .max_objects = d.region_max_objects ? d.region_max_objects : 65536,
        };
        if ((rc = sabre_region_create(&rd, &w->region))) {
            free(w);
            return rc;
        }
        w->own_region = true;
        /* Columns are streamed: transparent huge pages cut TLB misses.  Advice
         * only; pages stay lazy. */
        sabre__plat_advise_huge(sabre_region_base(w->region), (size_t)sabre_region_size(w->region));
    }
    uint32_t root;
    if ((rc = sabre__table_get(w, NULL, 0, &root))) {
        sabre_world_destroy(w);
        return rc;
    }
    *out = w;
    return SABRE_OK;
}

uint64_t sabre_world_region_size(uint64_t entities, uint64_t bytes_per_entity)
{
    /* 2x rows (chunk doubling), entity id (8) and changed bits (1 per
     * component, 8 bytes covers 64 components) per row, 32 MiB for the
     * directory (65536 entries of 128 bytes), headers and small tables. */
    uint64_t per_row = bytes_per_entity + 16;
    if (entities > (UINT64_MAX / 4) / (per_row ? per_row : 1))
        return UINT64_MAX;
    return 2 * entities * per_row + (32ull << 20);
}

void sabre__world_dep_link(sabre_world_t *w, sabre__world_dep_t *d)
{
    d->next = w->deps;
    w->deps = d;
}

void sabre__world_dep_unlink(sabre_world_t *w, sabre__world_dep_t *d)
{
    sabre__world_dep_t **pp = &w->deps;
    while (*pp && *pp != d)
        pp = &(*pp)->next;
    if (*pp)
        *pp = d->next;
    d->next = NULL;
}

void sabre__cmd_free_internal(sabre_cmd_t *c);
void sabre__prefab_free_internal(sabre_prefab_t *p);
void sabre__query_free_internal(sabre_query_t *q);
void sabre__records_free(sabre_world_t *w);

void sabre_world_destroy(sabre_world_t *w)
{
    if (!w)
        return;
    while (w->deps) {
        sabre__world_dep_t *d = w->deps;
        w->deps = d->next;
        d->next = NULL;
        d->world_gone(d);
    }
    for (uint32_t i = 0; i < w->nqueries; i++)
        sabre__query_free_internal(w->queries[i]);
    free(w->queries);
    for (uint32_t i = 0; i < w->ncmds; i++)
        sabre__cmd_free_internal(w->cmds[i]);
    free(w->cmds);
    for (uint32_t i = 0; i < w->nprefabs; i++)
        sabre__prefab_free_internal(w->prefabs[i]);
    free(w->prefabs);
    for (uint32_t i = 0; i < w->ntables; i++)
        sabre__table_free(w->tables[i]);
    free(w->tables);
    free(w->table_map);
    for (uint32_t i = 0; i < w->ncomps; i++) {
        free(w->comps[i].defaults);
        sabre_schema_free(w->comps[i].own_schema);
        sabre__sparse_free(&w->comps[i]);
    }
    free(w->comps);
    free(w->sparse);
    sabre__records_free(w);
    if (w->own_region)
        sabre_region_close(w->region);
    free(w);
}

sabre_region_t *sabre_world_region(const sabre_world_t *w)
{
    return w ? w->region : NULL;
}
uint64_t sabre_world_id(const sabre_world_t *w)
{
    return w ? w->id : 0;
}
uint64_t sabre_world_count(const sabre_world_t *w)
{
    return w ? w->alive : 0;
}
uint64_t sabre_world_tick(const sabre_world_t *w)
{
    return w ? w->tick : 0;
}
bool sabre_world_in_tick(const sabre_world_t *w)
{
    return w && w->in_tick;
}

int sabre_world_begin_tick(sabre_world_t *w)
{
    if (!w)
        return sabre__fail(SABRE_EINVAL, "sabre_world_begin_tick: world is NULL");
    if (w->in_tick)
        return sabre__fail(SABRE_ESTATE,
                           "sabre_world_begin_tick: already in tick %llu (nested "
                           "ticks are not allowed)",
                           (unsigned long long)w->tick);
    for (uint32_t i = 0; i < w->ntables; i++) {
        ecs_table_t *t = w->tables[i];
        for (uint32_t c = 0; c < t->nchunks; c++) {
            ecs_chunk_t *ch = t->chunks[c];
            for (uint32_t k = 0; k < t->ncomps; k++) {
                uint32_t sm = atomic_load_explicit(&ch->centries[k].summary, memory_order_relaxed);
                if (!sm)
                    continue;
                /* The episode ends: number it, and extend or restart the
                 * run of episodes marked only by one snapshot's commits. */
                ecs_episodes_t *ep = &ch->eps[k];
                uint64_t excl = sm == SABRE_SUMMARY_COMMIT
                                    ? atomic_load_explicit(&ep->owner, memory_order_relaxed)
                                    : 0;
                ep->ver++;
                if (!excl || excl != ep->run_owner) {
                    ep->run_start = ep->ver;
                    ep->run_owner = excl;
                }
                atomic_store_explicit(&ep->owner, 0, memory_order_relaxed);
                atomic_store_explicit(&ch->centries[k].summary, 0u, memory_order_relaxed);
                uint32_t words = (ch->cap + 63) / 64;
                for (uint32_t x = 0; x < words; x++)
                    atomic_store_explicit(&ch->bits[k][x], 0, memory_order_relaxed);
            }
        }
    }
    sabre__sparse_clear_bits(w);
    w->tick++;
    w->in_tick = true;
    return SABRE_OK;
}

int sabre_world_end_tick(sabre_world_t *w)
{
    if (!w)
        return sabre__fail(SABRE_EINVAL, "sabre_world_end_tick: world is NULL");
    if (!w->in_tick)
        return sabre__fail(SABRE_ESTATE, "sabre_world_end_tick: not in a tick");
    int first = SABRE_OK;
    char msg[512] = "";
    for (uint32_t i = 0; i < w->ncmds; i++) {
        int rc = sabre_cmd_flush(w->cmds[i], NULL);
        if (rc && !first) {
            first = rc;
            sabre__strlcpy(msg, sabre_last_error(), sizeof msg);
        }
    }
    w->in_tick = false;
    if (first)
        return sabre__fail(first, "end_tick: %s", msg);
    return SABRE_OK;
}

/* ------------------------------------------------------------- components */

int sabre_component_define(sabre_world_t *w, const sabre_component_desc_t *d,
                           sabre_component_t *out)
{
    if (!w || !d || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_component_define: NULL argument");
    if (!d->name || !d->name[0] || strlen(d->name) >= SABRE_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "component name must be 1..%d bytes", SABRE_NAME_MAX - 1);
    for (uint32_t i = 0; i < w->ncomps; i++)
        if (strcmp(w->comps[i].name, d->name) == 0)
            return sabre__fail(SABRE_EEXIST, "component '%s' is already defined (id %u)", d->name,
                               i);
    if (w->ncomps >= w->max_comps)
        return sabre__fail(SABRE_ENOSPC,
                           "component '%s': the world already has %u components "
                           "(max_components)",
                           d->name, w->max_comps);
    if (d->layout && d->schema)
        return sabre__fail(SABRE_EINVAL, "component '%s': give a layout or schema text, not both",
                           d->name);
    if (d->storage != SABRE_STORAGE_TABLE && d->storage != SABRE_STORAGE_SPARSE)
        return sabre__fail(SABRE_EINVAL,
                           "component '%s': storage %d is neither SABRE_STORAGE_TABLE (0) nor "
                           "SABRE_STORAGE_SPARSE (1)",
                           d->name, (int)d->storage);
    const sabre_layout_t *layout = d->layout;
    sabre_schema_t *own = NULL;
    if (d->schema) {
        sabre_schema_error_t se;
        int rc = sabre_schema_compile(d->schema, strlen(d->schema), &own, &se);
        if (rc)
            return sabre__fail(rc, "component '%s': schema line %u, column %u: %s", d->name,
                               se.line, se.column, se.message);
        layout = d->struct_name ? sabre_schema_find(own, d->struct_name) : sabre_schema_root(own);
        if (!layout) {
            sabre_schema_free(own);
            return sabre__fail(SABRE_ENOENT, "component '%s': schema has no struct '%s'", d->name,
                               d->struct_name ? d->struct_name : "(root)");
        }
    }
    if (layout && layout->ncolumns == 0)
        layout = NULL; /* a struct with padding only is a tag */
    int rc = sabre__grow((void **)&w->comps, &w->comps_cap, w->ncomps + 1, sizeof *w->comps);
    if (rc) {
        sabre_schema_free(own);
        return rc;
    }
    ecs_comp_t *c = &w->comps[w->ncomps];
    memset(c, 0, sizeof *c);
    sabre__strlcpy(c->name, d->name, sizeof c->name);
    c->layout = layout;
    c->own_schema = own;
    c->size = layout ? layout->size : 0;
    c->ncols = layout ? layout->ncolumns : 0;
    c->on_add = d->on_add;
    c->on_remove = d->on_remove;
    c->hook_ctx = d->hook_ctx;
    if (c->size) {
        c->defaults = calloc(1, c->size);
        if (!c->defaults) {
            sabre_schema_free(own);
            return sabre__fail(SABRE_ENOMEM, "out of memory");
        }
        if (d->defaults)
            memcpy(c->defaults, d->defaults, c->size);
    }
    if (d->storage == SABRE_STORAGE_SPARSE && (rc = sabre__sparse_create(w, c, w->ncomps))) {
        free(c->defaults);
        sabre_schema_free(own);
        memset(c, 0, sizeof *c);
        return rc;
    }
    *out = w->ncomps++;
    return SABRE_OK;
}

int sabre_component_find(const sabre_world_t *w, const char *name, const sabre_layout_t *expect,
                         sabre_component_t *out)
{
    if (!w || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_component_find: NULL argument");
    for (uint32_t i = 0; i < w->ncomps; i++) {
        if (strcmp(w->comps[i].name, name) != 0)
            continue;
        if (expect) {
            const sabre_layout_t *l = w->comps[i].layout;
            uint64_t have = l ? l->hash : 0;
            if (have != expect->hash || (!l && expect->ncolumns))
                return sabre__fail(SABRE_ELAYOUT,
                                   "component '%s': layout hash %016llx (%s) differs from the "
                                   "expected %016llx (%s)",
                                   name, (unsigned long long)have, l ? l->canonical : "tag",
                                   (unsigned long long)expect->hash, expect->canonical);
        }
        *out = i;
        return SABRE_OK;
    }
    return sabre__fail(SABRE_ENOENT, "no component named '%s'", name);
}

const sabre_layout_t *sabre_component_layout(const sabre_world_t *w, sabre_component_t c)
{
    return w && c < w->ncomps ? w->comps[c].layout : NULL;
}
const char *sabre_component_name(const sabre_world_t *w, sabre_component_t c)
{
    return w && c < w->ncomps ? w->comps[c].name : NULL;
}
uint32_t sabre_component_size(const sabre_world_t *w, sabre_component_t c)
{
    return w && c < w->ncomps ? w->comps[c].size : 0;
}

int sabre__stale(const sabre_world_t *w, sabre_entity_t e, const char *fn)
{
    uint32_t idx = SABRE_ENTITY_INDEX(e);
    if (e & SABRE_ENTITY_PENDING_BIT)
        return sabre__fail(SABRE_ESTALE,
                           "%s: entity %016llx is a pending command-buffer id, not "
                           "yet created",
                           fn, (unsigned long long)e);
    if (e == SABRE_ENTITY_NULL)
        return sabre__fail(SABRE_ESTALE, "%s: null entity id", fn);
    if (idx >= w->nrecords)
        return sabre__fail(SABRE_ESTALE, "%s: entity %u:%u was never created", fn, idx,
                           SABRE_ENTITY_GEN(e));
    const ecs_record_t *r = &w->records[idx];
    if (r->table == NO_TABLE && r->gen == SABRE_ENTITY_GEN(e))
        return sabre__fail(SABRE_ESTALE, "%s: entity %u:%u is dead", fn, idx, SABRE_ENTITY_GEN(e));
    return sabre__fail(SABRE_ESTALE, "%s: entity %u:%u is stale (slot generation is now %u)", fn,
                       idx, SABRE_ENTITY_GEN(e), r->gen);
}
