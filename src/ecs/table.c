/*
 * table.c - archetype tables: chunks in the region, the table map, add/remove edges, table and
 * chunk access. docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

void sabre_bits_mark_range(_Atomic uint64_t *words, uint64_t first, uint64_t n)
{
    uint64_t end = first + n;
    while (first < end) {
        uint64_t w = first >> 6, b = first & 63;
        uint64_t take = SABRE_MIN(64 - b, end - first);
        uint64_t m = take == 64 ? ~0ull : ((1ull << take) - 1) << b;
        atomic_fetch_or_explicit(&words[w], m, memory_order_relaxed);
        first += take;
    }
}

static uint64_t hash_comps(const sabre_component_t *c, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

/* -------------------------------------------------------------- tables */

int sabre__chunk_alloc(sabre_world_t *w, ecs_table_t *t)
{
    uint32_t k = t->nchunks;
    uint64_t cap = w->chunk_rows;
    for (uint32_t i = 0; i < k && cap < w->max_chunk_rows; i++)
        cap *= 2;
    if (cap > w->max_chunk_rows)
        cap = w->max_chunk_rows;

    /* Names blob: per component "name\0canonical\0", per column "name\0". */
    uint64_t names_len = 0;
    for (uint32_t i = 0; i < t->ncomps; i++) {
        const ecs_comp_t *c = &w->comps[t->comps[i]];
        names_len += strlen(c->name) + 1;
        names_len += (c->layout ? c->layout->canonical_len : 0) + 1;
        for (uint32_t j = 0; j < c->ncols; j++)
            names_len += strlen(c->layout->columns[j].name) + 1;
    }
    uint64_t off = SABRE_COLSET_HEADER;
    uint64_t comps_off = off;
    off += (uint64_t)t->ncomps * SABRE_COLSET_COMP;
    uint64_t cols_off = off;
    off += (uint64_t)t->ncols * SABRE_COLSET_COL;
    uint64_t names_off = off;
    off = SABRE_ALIGN_UP(off + names_len, 64);
    uint64_t ents_off = off;
    off += SABRE_ALIGN_UP(cap * 8, 64);
    uint64_t data0 = off;
    for (uint32_t j = 0; j < t->ncols; j++)
        off += SABRE_ALIGN_UP(cap * t->elem[j], 64);
    uint64_t bits0 = off;
    uint64_t bits_bytes = SABRE_ALIGN_UP(cap / 64 * 8, 64);
    off += bits_bytes * t->ncomps;
    uint64_t total = off;

    if (sabre__grow((void **)&t->chunks, &t->chunks_cap, k + 1, sizeof *t->chunks))
        return SABRE_ENOMEM;
    ecs_chunk_t *ch = calloc(1, sizeof *ch);
    void **cols = calloc(t->ncols ? t->ncols : 1, sizeof *cols);
    _Atomic uint64_t **bits = calloc(t->ncomps ? t->ncomps : 1, sizeof *bits);
    ecs_episodes_t *eps = calloc(t->ncomps ? t->ncomps : 1, sizeof *eps);
    if (!ch || !cols || !bits || !eps) {
        free(ch);
        free(cols);
        free(bits);
        free(eps);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a table chunk");
    }
    char name[SABRE_NAME_MAX];
    snprintf(name, sizeof name, "%s.t%u.%u", w->prefix, t->id, k);
    sabre_object_desc_t od = {.name = name, .kind = SABRE_OBJ_TABLE, .size = total, .align = 64};
    int rc = sabre_region_alloc(w->region, &od, &ch->obj);
    if (rc) {
        char why[256];
        sabre__strlcpy(why, sabre_last_error(), sizeof why); /* fail() rewrites that buffer */
        free(ch);
        free(cols);
        free(bits);
        free(eps);
        return sabre__fail(rc,
                           "table %u: cannot allocate chunk %u (%llu rows, %llu bytes) in the "
                           "world's region: %s",
                           t->id, k, (unsigned long long)cap, (unsigned long long)total, why);
    }
    uint8_t *base = ch->obj.ptr;
    sabre_colset_hdr_t *h = (sabre_colset_hdr_t *)base;
    h->magic = SABRE_COLSET_CHUNK_MAGIC;
    h->major = SABRE_COLSET_MAJOR;
    h->minor = SABRE_COLSET_MINOR;
    h->header_size = SABRE_COLSET_HEADER;
    h->world_id = w->id;
    h->uid = (uint64_t)t->id << 32 | k;
    h->tick = w->tick;
    h->capacity = cap;
    h->ncomps = t->ncomps;
    h->ncols = t->ncols;
    h->entities_off = ents_off;
    h->comps_off = comps_off;
    h->cols_off = cols_off;
    h->names_off = names_off;
    h->names_len = names_len;
    h->total_size = total;
    h->table = t->id;
    uint64_t first_row = 0;
    for (uint32_t i = 0; i < k; i++)
        first_row += t->chunks[i]->cap;
    h->first_row = first_row;

    char *names = (char *)base + names_off;
    uint64_t np = 0;
    sabre_colset_comp_t *ce = (sabre_colset_comp_t *)(base + comps_off);
    sabre_colset_col_t *co = (sabre_colset_col_t *)(base + cols_off);
    uint64_t doff = data0;
    for (uint32_t i = 0; i < t->ncomps; i++) {
        const ecs_comp_t *c = &w->comps[t->comps[i]];
        ce[i].comp_id = t->comps[i];
        ce[i].first_col = t->first_col[i];
        ce[i].ncols = c->ncols;
        ce[i].layout_hash = c->layout ? c->layout->hash : 0;
        ce[i].changed_off = bits0 + bits_bytes * i;
        ce[i].size = c->size;
        size_t nl = strlen(c->name);
        ce[i].name_off = (uint32_t)np;
        ce[i].name_len = (uint32_t)nl;
        memcpy(names + np, c->name, nl + 1);
        np += nl + 1;
        size_t ll = c->layout ? c->layout->canonical_len : 0;
        ce[i].layout_off = (uint32_t)np;
        ce[i].layout_len = (uint32_t)ll;
        if (ll)
            memcpy(names + np, c->layout->canonical, ll);
        names[np + ll] = '\0';
        np += ll + 1;
        bits[i] = (_Atomic uint64_t *)(base + ce[i].changed_off);
        for (uint32_t j = 0; j < c->ncols; j++) {
            uint32_t col = t->first_col[i] + j;
            const sabre_column_t *lc = &c->layout->columns[j];
            co[col].data_off = doff;
            co[col].type = (uint32_t)lc->type;
            co[col].elem_size = lc->size;
            co[col].comp_index = i;
            co[col].layout_col = j;
            size_t cl = strlen(lc->name);
            co[col].name_off = (uint32_t)np;
            co[col].name_len = (uint32_t)cl;
            memcpy(names + np, lc->name, cl + 1);
            np += cl + 1;
            cols[col] = base + doff;
            doff += SABRE_ALIGN_UP(cap * lc->size, 64);
        }
    }
    ch->cap = (uint32_t)cap;
    ch->count = 0;
    ch->first_row = first_row;
    ch->ents = (sabre_entity_t *)(base + ents_off);
    ch->cols = cols;
    ch->bits = bits;
    ch->eps = eps;
    ch->hdr = h;
    ch->centries = ce;
    t->chunks[k] = ch;
    t->nchunks = k + 1;
    return SABRE_OK;
}

void sabre__table_free(ecs_table_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nchunks; i++) {
        free(t->chunks[i]->cols);
        free(t->chunks[i]->bits);
        free(t->chunks[i]->eps);
        free(t->chunks[i]);
    }
    for (uint32_t i = 0; i < t->edges_cap; i++)
        if (t->edges[i].key != UINT32_MAX)
            free(t->edges[i].colmap);
    free(t->edges);
    free(t->chunks);
    free(t->comps);
    free(t->first_col);
    free(t->elem);
    free(t->mask);
    free(t);
}

static int table_map_insert(sabre_world_t *w, uint32_t id);

static int table_map_grow(sabre_world_t *w)
{
    uint32_t ncap = w->table_map_cap ? w->table_map_cap * 2 : 64;
    uint32_t *m = malloc((size_t)ncap * sizeof *m);
    if (!m)
        return sabre__fail(SABRE_ENOMEM, "out of memory for the table map");
    memset(m, 0xff, (size_t)ncap * sizeof *m);
    free(w->table_map);
    w->table_map = m;
    w->table_map_cap = ncap;
    for (uint32_t i = 0; i < w->ntables; i++)
        table_map_insert(w, i);
    return SABRE_OK;
}

static int table_map_insert(sabre_world_t *w, uint32_t id)
{
    uint32_t mask = w->table_map_cap - 1;
    uint32_t i = (uint32_t)w->tables[id]->hash & mask;
    while (w->table_map[i] != NO_TABLE)
        i = (i + 1) & mask;
    w->table_map[i] = id;
    return SABRE_OK;
}

/* Find or create the table with exactly these (sorted, distinct) components. */
int sabre__table_get(sabre_world_t *w, const sabre_component_t *comps, uint32_t n, uint32_t *out)
{
    uint64_t h = hash_comps(comps, n);
    if (w->table_map_cap) {
        uint32_t mask = w->table_map_cap - 1;
        for (uint32_t i = (uint32_t)h & mask; w->table_map[i] != NO_TABLE; i = (i + 1) & mask) {
            ecs_table_t *t = w->tables[w->table_map[i]];
            if (t->hash == h && t->ncomps == n &&
                (n == 0 || memcmp(t->comps, comps, n * sizeof *comps) == 0)) {
                *out = t->id;
                return SABRE_OK;
            }
        }
    }
    if (w->ntables >= NO_TABLE - 1)
        return sabre__fail(SABRE_ENOSPC, "too many tables");
    int rc = sabre__grow((void **)&w->tables, &w->tables_cap, w->ntables + 1, sizeof *w->tables);
    if (rc)
        return rc;
    ecs_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a table");
    t->id = w->ntables;
    t->ncomps = n;
    t->hash = h;
    t->comps = malloc((n ? n : 1) * sizeof *t->comps);
    t->first_col = malloc((n ? n : 1) * sizeof *t->first_col);
    t->mask = calloc(w->mask_words, sizeof *t->mask);
    if (!t->comps || !t->first_col || !t->mask) {
        sabre__table_free(t);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a table");
    }
    uint32_t ncols = 0;
    for (uint32_t i = 0; i < n; i++) {
        t->comps[i] = comps[i];
        t->first_col[i] = ncols;
        ncols += w->comps[comps[i]].ncols;
        t->mask[comps[i] >> 6] |= 1ull << (comps[i] & 63);
        if (w->comps[comps[i]].on_remove)
            t->has_hooks = 1;
    }
    t->ncols = ncols;
    t->elem = malloc((ncols ? ncols : 1) * sizeof *t->elem);
    if (!t->elem) {
        sabre__table_free(t);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a table");
    }
    t->elem4 = true;
    for (uint32_t i = 0; i < n; i++) {
        const ecs_comp_t *c = &w->comps[comps[i]];
        for (uint32_t j = 0; j < c->ncols; j++) {
            t->elem[t->first_col[i] + j] = c->layout->columns[j].size;
            t->elem4 &= c->layout->columns[j].size == 4;
        }
    }
    w->tables[w->ntables++] = t;
    if ((uint64_t)w->ntables * 2 > w->table_map_cap) {
        if ((rc = table_map_grow(w))) {
            w->ntables--;
            sabre__table_free(t);
            return rc;
        }
    } else {
        table_map_insert(w, t->id);
    }
    *out = t->id;
    return SABRE_OK;
}

static ecs_edge_t *edge_slot(ecs_table_t *t, uint32_t key)
{
    uint32_t mask = t->edges_cap - 1;
    uint32_t i = (key * 0x9e3779b1u) >> 7 & mask;
    while (t->edges[i].key != UINT32_MAX)
        i = (i + 1) & mask;
    return &t->edges[i];
}

static int edges_grow(ecs_table_t *t)
{
    uint32_t ncap = t->edges_cap ? t->edges_cap * 2 : 8;
    ecs_edge_t *old = t->edges;
    uint32_t ocap = t->edges_cap;
    t->edges = malloc((size_t)ncap * sizeof *t->edges);
    if (!t->edges) {
        t->edges = old;
        return sabre__fail(SABRE_ENOMEM, "out of memory for table edges");
    }
    for (uint32_t i = 0; i < ncap; i++)
        t->edges[i].key = UINT32_MAX;
    t->edges_cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i].key != UINT32_MAX)
            *edge_slot(t, old[i].key) = old[i];
    free(old);
    return SABRE_OK;
}

/* The edge from table `src` adding (add=1) or removing component c.  The
 * caller checked that the transition changes the component set. */
int sabre__edge_get(sabre_world_t *w, uint32_t src_id, sabre_component_t c, int add,
                    ecs_edge_t **out)
{
    uint32_t key = c << 1 | (uint32_t)add;
    ecs_edge_t *e = edge_find(w->tables[src_id], key);
    if (SABRE_LIKELY(e != NULL)) {
        *out = e;
        return SABRE_OK;
    }
    ecs_table_t *src = w->tables[src_id];
    uint32_t n = src->ncomps;
    sabre_component_t stackbuf[64];
    sabre_component_t *comps = n + 1 <= 64 ? stackbuf : malloc((n + 1) * sizeof *comps);
    if (!comps)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    uint32_t m = 0;
    if (add) {
        bool placed = false;
        for (uint32_t i = 0; i < n; i++) {
            if (!placed && c < src->comps[i]) {
                comps[m++] = c;
                placed = true;
            }
            comps[m++] = src->comps[i];
        }
        if (!placed)
            comps[m++] = c;
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (src->comps[i] != c)
                comps[m++] = src->comps[i];
    }
    uint32_t dst_id;
    int rc = sabre__table_get(w, comps, m, &dst_id);
    if (comps != stackbuf)
        free(comps);
    if (rc)
        return rc;
    src = w->tables[src_id];
    ecs_table_t *dst = w->tables[dst_id];
    /* One allocation: colmap (dst->ncols) then the copy pairs (at most
     * dst->ncols). */
    size_t nc0 = dst->ncols ? dst->ncols : 1;
    int32_t *colmap = malloc(nc0 * sizeof *colmap + nc0 * 2 * sizeof(uint32_t));
    if (!colmap)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    uint32_t(*copy)[2] = (uint32_t(*)[2])(colmap + nc0);
    uint32_t ncopy = 0;
    for (uint32_t i = 0; i < dst->ncomps; i++) {
        int si = sabre__table_comp_index(src, dst->comps[i]);
        uint32_t nc = w->comps[dst->comps[i]].ncols;
        for (uint32_t j = 0; j < nc; j++) {
            colmap[dst->first_col[i] + j] = si < 0 ? -1 : (int32_t)(src->first_col[si] + j);
            if (si >= 0) {
                copy[ncopy][0] = dst->first_col[i] + j;
                copy[ncopy][1] = src->first_col[si] + j;
                ncopy++;
            }
        }
    }
    if ((src->nedges + 1) * 2 > src->edges_cap && (rc = edges_grow(src))) {
        free(colmap);
        return rc;
    }
    e = edge_slot(src, key);
    e->key = key;
    e->dst = dst_id;
    e->colmap = colmap;
    e->ncopy = ncopy;
    e->copy = copy;
    e->add_ci = add ? sabre__table_comp_index(dst, c) : -1;
    src->nedges++;
    *out = e;
    return SABRE_OK;
}

/* ---------------------------------------------------------------- tables */

uint32_t sabre_world_table_count(const sabre_world_t *w)
{
    return w ? w->ntables : 0;
}

int sabre_table_info(const sabre_world_t *w, uint32_t table, sabre_table_info_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_table_info: NULL argument");
    if (table >= w->ntables)
        return sabre__fail(SABRE_ENOENT, "no table %u (the world has %u)", table, w->ntables);
    const ecs_table_t *t = w->tables[table];
    out->id = t->id;
    out->ncomponents = t->ncomps;
    out->components = t->comps;
    out->rows = t->count;
    out->nchunks = t->nchunks;
    return SABRE_OK;
}

static ecs_chunk_t *chunk_of(const sabre_world_t *w, uint32_t table, uint32_t chunk)
{
    if (!w || table >= w->ntables || chunk >= w->tables[table]->nchunks)
        return NULL;
    return w->tables[table]->chunks[chunk];
}

int sabre_table_chunk(const sabre_world_t *w, uint32_t table, uint32_t chunk,
                      sabre_chunk_info_t *out)
{
    ecs_chunk_t *ch = chunk_of(w, table, chunk);
    if (!ch || !out)
        return sabre__fail(SABRE_ENOENT, "no chunk %u of table %u", chunk, table);
    out->capacity = ch->cap;
    out->count = ch->count;
    out->first_row = ch->first_row;
    out->entities = ch->ents;
    out->object = ch->obj;
    return SABRE_OK;
}

void *sabre_table_column(const sabre_world_t *w, uint32_t table, uint32_t chunk,
                         sabre_component_t c, uint32_t column)
{
    ecs_chunk_t *ch = chunk_of(w, table, chunk);
    if (!ch)
        return NULL;
    const ecs_table_t *t = w->tables[table];
    int ci = sabre__table_comp_index(t, c);
    if (ci < 0 || column >= w->comps[c].ncols)
        return NULL;
    return ch->cols[t->first_col[ci] + column];
}

_Atomic uint64_t *sabre_table_changed(const sabre_world_t *w, uint32_t table, uint32_t chunk,
                                      sabre_component_t c)
{
    ecs_chunk_t *ch = chunk_of(w, table, chunk);
    if (!ch)
        return NULL;
    int ci = sabre__table_comp_index(w->tables[table], c);
    return ci < 0 ? NULL : ch->bits[ci];
}
