/*
 * ecs.c - the world: entities, components, archetype tables in chunks of a
 * region, queries, ticks and changed bits, command buffers, prefabs.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs_internal.h"

#define NO_TABLE UINT32_MAX
#define NO_INDEX UINT32_MAX

/* ------------------------------------------------------------ small utils */

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
    if (!atomic_load_explicit(&ch->centries[ci].summary, memory_order_relaxed))
        atomic_store_explicit(&ch->centries[ci].summary, 1u, memory_order_relaxed);
}

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

static int chunk_alloc(sabre_world_t *w, ecs_table_t *t)
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
    if (!ch || !cols || !bits) {
        free(ch);
        free(cols);
        free(bits);
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
    ch->hdr = h;
    ch->centries = ce;
    t->chunks[k] = ch;
    t->nchunks = k + 1;
    return SABRE_OK;
}

static void table_free(ecs_table_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nchunks; i++) {
        free(t->chunks[i]->cols);
        free(t->chunks[i]->bits);
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
static int table_get(sabre_world_t *w, const sabre_component_t *comps, uint32_t n, uint32_t *out)
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
        table_free(t);
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
        table_free(t);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a table");
    }
    for (uint32_t i = 0; i < n; i++) {
        const ecs_comp_t *c = &w->comps[comps[i]];
        for (uint32_t j = 0; j < c->ncols; j++)
            t->elem[t->first_col[i] + j] = c->layout->columns[j].size;
    }
    w->tables[w->ntables++] = t;
    if ((uint64_t)w->ntables * 2 > w->table_map_cap) {
        if ((rc = table_map_grow(w))) {
            w->ntables--;
            table_free(t);
            return rc;
        }
    } else {
        table_map_insert(w, t->id);
    }
    *out = t->id;
    return SABRE_OK;
}

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
static int edge_get(sabre_world_t *w, uint32_t src_id, sabre_component_t c, int add,
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
    int rc = table_get(w, comps, m, &dst_id);
    if (comps != stackbuf)
        free(comps);
    if (rc)
        return rc;
    src = w->tables[src_id];
    ecs_table_t *dst = w->tables[dst_id];
    int32_t *colmap = malloc((dst->ncols ? dst->ncols : 1) * sizeof *colmap);
    if (!colmap)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < dst->ncomps; i++) {
        int si = sabre__table_comp_index(src, dst->comps[i]);
        uint32_t nc = w->comps[dst->comps[i]].ncols;
        for (uint32_t j = 0; j < nc; j++)
            colmap[dst->first_col[i] + j] = si < 0 ? -1 : (int32_t)(src->first_col[si] + j);
    }
    if ((src->nedges + 1) * 2 > src->edges_cap && (rc = edges_grow(src))) {
        free(colmap);
        return rc;
    }
    e = edge_slot(src, key);
    e->key = key;
    e->dst = dst_id;
    e->colmap = colmap;
    src->nedges++;
    *out = e;
    return SABRE_OK;
}

/* Append a row for entity e; returns chunk index and row. */
static inline int table_append(sabre_world_t *w, ecs_table_t *t, sabre_entity_t e, uint32_t *ci,
                               uint32_t *row)
{
    ecs_chunk_t *ch;
    if (SABRE_UNLIKELY(t->nchunks == 0)) {
        int rc = chunk_alloc(w, t);
        if (rc)
            return rc;
        t->tail = 0;
    }
    ch = t->chunks[t->tail];
    if (SABRE_UNLIKELY(ch->count == ch->cap)) {
        if (t->tail + 1 == t->nchunks) {
            int rc = chunk_alloc(w, t);
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
        for (uint32_t j = 0; j < t->ncols; j++) {
            uint32_t e = t->elem[j];
            sabre__copy_elem((char *)ch->cols[j] + (size_t)row * e,
                             (char *)lc->cols[j] + (size_t)lr * e, e);
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
    sabre_layout_pack(c->layout, value ? value : c->defaults, ch->cols + t->first_col[ci], row);
}

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
        sabre_region_desc_t rd = {
            .backing = SABRE_BACKING_PRIVATE,
            .size = d.region_size ? d.region_size : (1ull << 30),
            .max_objects = d.region_max_objects ? d.region_max_objects : 65536,
        };
        if ((rc = sabre_region_create(&rd, &w->region))) {
            free(w);
            return rc;
        }
        w->own_region = true;
        /* Columns are streamed: transparent huge pages cut TLB misses.  Advice
         * only; pages stay lazy. */
        (void)madvise(sabre_region_base(w->region), (size_t)sabre_region_size(w->region),
                      MADV_HUGEPAGE);
    }
    uint32_t root;
    if ((rc = table_get(w, NULL, 0, &root))) {
        sabre_world_destroy(w);
        return rc;
    }
    *out = w;
    return SABRE_OK;
}

static void cmd_free_internal(sabre_cmd_t *c);
static void prefab_free_internal(sabre_prefab_t *p);
static void query_free_internal(sabre_query_t *q);
static void records_free(sabre_world_t *w);

void sabre_world_destroy(sabre_world_t *w)
{
    if (!w)
        return;
    sabre__snapshot_orphan_all(w);
    for (uint32_t i = 0; i < w->nqueries; i++)
        query_free_internal(w->queries[i]);
    free(w->queries);
    for (uint32_t i = 0; i < w->ncmds; i++)
        cmd_free_internal(w->cmds[i]);
    free(w->cmds);
    for (uint32_t i = 0; i < w->nprefabs; i++)
        prefab_free_internal(w->prefabs[i]);
    free(w->prefabs);
    for (uint32_t i = 0; i < w->ntables; i++)
        table_free(w->tables[i]);
    free(w->tables);
    free(w->table_map);
    for (uint32_t i = 0; i < w->ncomps; i++) {
        free(w->comps[i].defaults);
        sabre_schema_free(w->comps[i].own_schema);
    }
    free(w->comps);
    records_free(w);
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
                if (!atomic_load_explicit(&ch->centries[k].summary, memory_order_relaxed))
                    continue;
                atomic_store_explicit(&ch->centries[k].summary, 0u, memory_order_relaxed);
                uint32_t words = (ch->cap + 63) / 64;
                for (uint32_t x = 0; x < words; x++)
                    atomic_store_explicit(&ch->bits[k][x], 0, memory_order_relaxed);
            }
        }
    }
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

static inline int check_comp(const sabre_world_t *w, sabre_component_t c, const char *fn)
{
    if (SABRE_UNLIKELY(c >= w->ncomps))
        return sabre__fail(SABRE_ENOENT, "%s: unknown component id %u (the world has %u)", fn, c,
                           w->ncomps);
    return SABRE_OK;
}

static int stale(const sabre_world_t *w, sabre_entity_t e, const char *fn)
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

/* --------------------------------------------------------------- entities */

/* Entity records: heap memory while small, then an anonymous mapping that
 * grows with mremap and carries transparent-huge-page advice (create and
 * destroy touch records all over a big world: fewer TLB misses). */
#define RECORDS_MAP_MIN (2u << 20)

static int records_grow(sabre_world_t *w)
{
    uint64_t ncap = w->records_cap ? (uint64_t)w->records_cap * 2 : 1024;
    if (ncap > NO_INDEX)
        ncap = NO_INDEX;
    size_t oldb = (size_t)w->records_cap * sizeof *w->records;
    size_t newb = (size_t)ncap * sizeof *w->records;
    void *p;
    if (newb < RECORDS_MAP_MIN) {
        p = realloc(w->records, newb);
        if (!p)
            return sabre__fail(SABRE_ENOMEM, "out of memory for %llu entity records",
                               (unsigned long long)ncap);
    } else if (oldb < RECORDS_MAP_MIN) {
        p = mmap(NULL, newb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return sabre__fail_errno(errno, "cannot map %zu bytes of entity records", newb);
        memcpy(p, w->records, oldb);
        free(w->records);
    } else {
        p = mremap(w->records, oldb, newb, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
            return sabre__fail_errno(errno, "cannot grow entity records to %zu bytes", newb);
    }
    if (newb >= RECORDS_MAP_MIN)
        (void)madvise(p, newb, MADV_HUGEPAGE);
    w->records = p;
    w->records_cap = (uint32_t)ncap;
    return SABRE_OK;
}

static void records_free(sabre_world_t *w)
{
    size_t b = (size_t)w->records_cap * sizeof *w->records;
    if (b >= RECORDS_MAP_MIN)
        munmap(w->records, b);
    else
        free(w->records);
    w->records = NULL;
}

static inline int record_alloc(sabre_world_t *w, uint32_t *out)
{
    uint32_t idx = w->free_head;
    if (idx != NO_INDEX) {
        w->free_head = w->records[idx].row;
        *out = idx;
        return SABRE_OK;
    }
    if (SABRE_UNLIKELY(w->nrecords >= NO_INDEX - 1))
        return sabre__fail(SABRE_ENOSPC, "entity index space exhausted (2^32 - 1 slots)");
    if (SABRE_UNLIKELY(w->nrecords == w->records_cap)) {
        int rc = records_grow(w);
        if (rc)
            return rc;
    }
    idx = w->nrecords++;
    w->records[idx].gen = 1;
    w->records[idx].table = NO_TABLE;
    *out = idx;
    return SABRE_OK;
}

static inline void record_release(sabre_world_t *w, uint32_t idx)
{
    ecs_record_t *r = &w->records[idx];
    r->gen++;
    if (r->gen == 0)
        r->gen = 1;
    r->table = NO_TABLE;
    r->row = w->free_head;
    w->free_head = idx;
}

/* Place a new entity into table tid with values (per table component index,
 * may be NULL); no hooks. */
static int place_new(sabre_world_t *w, uint32_t tid, const void *const *vals_by_ci,
                     sabre_entity_t *out)
{
    uint32_t idx = 0;
    int rc = record_alloc(w, &idx);
    if (rc)
        return rc;
    ecs_record_t *r = &w->records[idx];
    sabre_entity_t e = (uint64_t)r->gen << 32 | idx;
    ecs_table_t *t = w->tables[tid];
    uint32_t ci = 0, row = 0;
    if ((rc = table_append(w, t, e, &ci, &row))) {
        /* Undo the slot allocation without retiring a generation. */
        r->table = NO_TABLE;
        r->row = w->free_head;
        w->free_head = idx;
        return rc;
    }
    ecs_chunk_t *ch = t->chunks[ci];
    for (uint32_t k = 0; k < t->ncomps; k++) {
        pack_value(w, t, ch, k, row, vals_by_ci ? vals_by_ci[k] : NULL);
        owner_mark(ch, k, row);
    }
    r->table = tid;
    r->chunk = ci;
    r->row = row;
    w->alive++;
    *out = e;
    return SABRE_OK;
}

int sabre_entity_create(sabre_world_t *w, sabre_entity_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_entity_create: NULL argument");
    return place_new(w, 0, NULL, out);
}

static void value_of(const sabre_world_t *w, const ecs_table_t *t, const ecs_chunk_t *ch,
                     uint32_t ci, uint32_t row, void *buf)
{
    const ecs_comp_t *c = &w->comps[t->comps[ci]];
    if (c->ncols)
        sabre_layout_unpack(c->layout, (const void *const *)(ch->cols + t->first_col[ci]), row,
                            buf);
}

/* Run on_add for component c of e (if any), passing its current value. */
static void run_on_add(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    const ecs_comp_t *cp = &w->comps[c];
    if (!cp->on_add)
        return;
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (!r)
        return;
    ecs_table_t *t = w->tables[r->table];
    int ci = sabre__table_comp_index(t, c);
    if (ci < 0)
        return;
    uint8_t small[256];
    void *buf = cp->size <= sizeof small ? small : malloc(cp->size);
    if (!buf)
        return;
    value_of(w, t, t->chunks[r->chunk], (uint32_t)ci, r->row, buf);
    cp->on_add(w, e, c, buf, cp->hook_ctx);
    if (buf != small)
        free(buf);
}

static void run_on_remove(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    const ecs_comp_t *cp = &w->comps[c];
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (!r)
        return;
    ecs_table_t *t = w->tables[r->table];
    int ci = sabre__table_comp_index(t, c);
    if (ci < 0)
        return;
    uint8_t small[256];
    void *buf = cp->size <= sizeof small ? small : malloc(cp->size);
    if (!buf)
        return;
    value_of(w, t, t->chunks[r->chunk], (uint32_t)ci, r->row, buf);
    cp->on_remove(w, e, c, buf, cp->hook_ctx);
    if (buf != small)
        free(buf);
}

int sabre_entity_create_with(sabre_world_t *w, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, sabre_entity_t *out)
{
    if (!w || !out || (n && !comps))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_create_with: NULL argument");
    uint32_t tid = 0;
    int rc;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = check_comp(w, comps[i], "sabre_entity_create_with")))
            return rc;
        const ecs_table_t *t = w->tables[tid];
        uint32_t c = comps[i];
        if (t->mask[c >> 6] >> (c & 63) & 1)
            return sabre__fail(SABRE_EINVAL,
                               "sabre_entity_create_with: component '%s' listed twice",
                               w->comps[c].name);
        ecs_edge_t *e;
        if ((rc = edge_get(w, tid, c, 1, &e)))
            return rc;
        tid = e->dst;
    }
    ecs_table_t *t = w->tables[tid];
    const void *stackv[16] = {0};
    const void **vals = NULL;
    if (values) {
        vals = t->ncomps <= 16 ? stackv : calloc(t->ncomps, sizeof *vals);
        if (!vals)
            return sabre__fail(SABRE_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n; i++)
            vals[sabre__table_comp_index(t, comps[i])] = values[i];
    }
    rc = place_new(w, tid, vals, out);
    if (vals && vals != stackv)
        free(vals);
    if (rc)
        return rc;
    sabre_entity_t e = *out;
    for (uint32_t i = 0; i < n; i++)
        if (w->comps[comps[i]].on_add)
            run_on_add(w, e, comps[i]);
    return SABRE_OK;
}

int sabre_entity_destroy(sabre_world_t *w, sabre_entity_t e)
{
    if (SABRE_UNLIKELY(!w))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_destroy: world is NULL");
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (SABRE_UNLIKELY(!r))
        return stale(w, e, "sabre_entity_destroy");
    ecs_table_t *t = w->tables[r->table];
    if (SABRE_UNLIKELY(t->has_hooks)) {
        /* Hooks may change the entity: run them on a copy of the list, then
         * destroy whatever is left. */
        uint32_t n = t->ncomps;
        sabre_component_t stackc[64];
        sabre_component_t *cs = n <= 64 ? stackc : malloc(n * sizeof *cs);
        if (!cs)
            return sabre__fail(SABRE_ENOMEM, "out of memory");
        memcpy(cs, t->comps, n * sizeof *cs);
        for (uint32_t i = 0; i < n; i++)
            if (w->comps[cs[i]].on_remove)
                run_on_remove(w, e, cs[i]);
        if (cs != stackc)
            free(cs);
        r = sabre__ecs_record(w, e);
        if (!r)
            return SABRE_OK; /* a hook destroyed it */
        t = w->tables[r->table];
    }
    table_remove_row(w, t, r->chunk, r->row);
    record_release(w, SABRE_ENTITY_INDEX(e));
    w->alive--;
    return SABRE_OK;
}

bool sabre_entity_alive(const sabre_world_t *w, sabre_entity_t e)
{
    return w && !(e & SABRE_ENTITY_PENDING_BIT) && sabre__ecs_record(w, e) != NULL;
}

/* Move e (record r) along edge; returns with r updated. */
static inline int entity_move(sabre_world_t *w, ecs_record_t *r, sabre_entity_t e,
                              const ecs_edge_t *edge)
{
    ecs_table_t *src = w->tables[r->table];
    ecs_table_t *dst = w->tables[edge->dst];
    uint32_t dci = 0, dr = 0;
    int rc = table_append(w, dst, e, &dci, &dr);
    if (rc)
        return rc;
    ecs_chunk_t *dch = dst->chunks[dci];
    ecs_chunk_t *sch = src->chunks[r->chunk];
    uint32_t sr = r->row;
    const int32_t *map = edge->colmap;
    for (uint32_t j = 0; j < dst->ncols; j++) {
        int32_t s = map[j];
        if (s >= 0) {
            uint32_t es = dst->elem[j];
            sabre__copy_elem((char *)dch->cols[j] + (size_t)dr * es,
                             (char *)sch->cols[s] + (size_t)sr * es, es);
        }
    }
    mark_row_all(dst, dch, dr);
    table_remove_row(w, src, r->chunk, sr);
    r->table = dst->id;
    r->chunk = dci;
    r->row = dr;
    return SABRE_OK;
}

int sabre_add(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, const void *value)
{
    if (SABRE_UNLIKELY(!w))
        return sabre__fail(SABRE_EINVAL, "sabre_add: world is NULL");
    int rc = check_comp(w, c, "sabre_add");
    if (rc)
        return rc;
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (SABRE_UNLIKELY(!r))
        return stale(w, e, "sabre_add");
    ecs_table_t *t = w->tables[r->table];
    if (t->mask[c >> 6] >> (c & 63) & 1)
        return value ? sabre_set(w, e, c, value) : SABRE_OK;
    ecs_edge_t *edge;
    if ((rc = edge_get(w, r->table, c, 1, &edge)))
        return rc;
    if ((rc = entity_move(w, r, e, edge)))
        return rc;
    ecs_table_t *dst = w->tables[r->table];
    if (w->comps[c].ncols) {
        int ci = sabre__table_comp_index(dst, c);
        pack_value(w, dst, dst->chunks[r->chunk], (uint32_t)ci, r->row, value);
    }
    if (w->comps[c].on_add)
        run_on_add(w, e, c);
    return SABRE_OK;
}

int sabre_remove(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    if (SABRE_UNLIKELY(!w))
        return sabre__fail(SABRE_EINVAL, "sabre_remove: world is NULL");
    int rc = check_comp(w, c, "sabre_remove");
    if (rc)
        return rc;
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (SABRE_UNLIKELY(!r))
        return stale(w, e, "sabre_remove");
    if (!(w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1))
        return SABRE_OK;
    if (w->comps[c].on_remove) {
        run_on_remove(w, e, c);
        r = sabre__ecs_record(w, e);
        if (!r || !(w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1))
            return SABRE_OK; /* the hook destroyed the entity or removed c */
    }
    ecs_edge_t *edge;
    if ((rc = edge_get(w, r->table, c, 0, &edge)))
        return rc;
    return entity_move(w, r, e, edge);
}

/* Locate (e, c): table, chunk, component index. */
static inline int locate(const sabre_world_t *w, sabre_entity_t e, sabre_component_t c,
                         const char *fn, ecs_record_t **rp, ecs_table_t **tp, int *cip)
{
    if (SABRE_UNLIKELY(!w))
        return sabre__fail(SABRE_EINVAL, "%s: world is NULL", fn);
    int rc = check_comp(w, c, fn);
    if (rc)
        return rc;
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (SABRE_UNLIKELY(!r))
        return stale(w, e, fn);
    ecs_table_t *t = w->tables[r->table];
    int ci = sabre__table_comp_index(t, c);
    if (ci < 0)
        return sabre__fail(SABRE_ENOENT, "%s: entity %u:%u has no component '%s'", fn,
                           SABRE_ENTITY_INDEX(e), SABRE_ENTITY_GEN(e), w->comps[c].name);
    *rp = r;
    *tp = t;
    *cip = ci;
    return SABRE_OK;
}

int sabre_get(const sabre_world_t *w, sabre_entity_t e, sabre_component_t c, void *out)
{
    ecs_record_t *r = NULL;
    ecs_table_t *t = NULL;
    int ci = 0;
    int rc = locate(w, e, c, "sabre_get", &r, &t, &ci);
    if (rc)
        return rc;
    if (w->comps[c].size && !out)
        return sabre__fail(SABRE_EINVAL, "sabre_get: out is NULL");
    value_of(w, t, t->chunks[r->chunk], (uint32_t)ci, r->row, out);
    return SABRE_OK;
}

int sabre_set(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, const void *value)
{
    ecs_record_t *r = NULL;
    ecs_table_t *t = NULL;
    int ci = 0;
    int rc = locate(w, e, c, "sabre_set", &r, &t, &ci);
    if (rc)
        return rc;
    if (w->comps[c].size && !value)
        return sabre__fail(SABRE_EINVAL, "sabre_set: value is NULL");
    ecs_chunk_t *ch = t->chunks[r->chunk];
    pack_value(w, t, ch, (uint32_t)ci, r->row, value);
    sabre__chunk_mark(ch, (uint32_t)ci, r->row);
    return SABRE_OK;
}

bool sabre_has(const sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    if (!w || c >= w->ncomps)
        return false;
    ecs_record_t *r = sabre__ecs_record(w, e);
    return r && (w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1);
}

int sabre_field_ptr(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, uint32_t column,
                    void **out)
{
    ecs_record_t *r = NULL;
    ecs_table_t *t = NULL;
    int ci = 0;
    int rc = locate(w, e, c, "sabre_field_ptr", &r, &t, &ci);
    if (rc)
        return rc;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_field_ptr: out is NULL");
    if (column >= w->comps[c].ncols)
        return sabre__fail(SABRE_ERANGE, "sabre_field_ptr: component '%s' has %u columns, not %u",
                           w->comps[c].name, w->comps[c].ncols, column + 1);
    uint32_t col = t->first_col[ci] + column;
    *out = (char *)t->chunks[r->chunk]->cols[col] + (size_t)r->row * t->elem[col];
    return SABRE_OK;
}

int sabre_mark_changed(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    ecs_record_t *r = NULL;
    ecs_table_t *t = NULL;
    int ci = 0;
    int rc = locate(w, e, c, "sabre_mark_changed", &r, &t, &ci);
    if (rc)
        return rc;
    sabre__chunk_mark(t->chunks[r->chunk], (uint32_t)ci, r->row);
    return SABRE_OK;
}

bool sabre_is_changed(const sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    if (!w || c >= w->ncomps)
        return false;
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (!r)
        return false;
    ecs_table_t *t = w->tables[r->table];
    int ci = sabre__table_comp_index(t, c);
    return ci >= 0 && bit_test(t->chunks[r->chunk]->bits[ci], r->row);
}

int sabre_entity_loc(const sabre_world_t *w, sabre_entity_t e, sabre_entity_loc_t *out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_entity_loc: NULL argument");
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (!r)
        return stale(w, e, "sabre_entity_loc");
    out->table = r->table;
    out->chunk = r->chunk;
    out->row = r->row;
    return SABRE_OK;
}

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
    int32_t *mci; /* per match: stride entries: term comp index then changed comp index */
};

sabre_world_t *sabre__query_world(const sabre_query_t *q)
{
    return q ? q->w : NULL;
}

static void query_free_internal(sabre_query_t *q)
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
    q->stride = q->nterms + q->nchanged;
    q->all_mask = masks;
    q->any_mask = masks + w->mask_words;
    q->none_mask = masks + 2 * w->mask_words;
    for (uint32_t i = 0; i < d->nall; i++) {
        q->terms[i] = d->all[i];
        q->all_mask[d->all[i] >> 6] |= 1ull << (d->all[i] & 63);
    }
    for (uint32_t i = 0; i < d->nany; i++) {
        q->terms[d->nall + i] = d->any[i];
        q->any_mask[d->any[i] >> 6] |= 1ull << (d->any[i] & 63);
    }
    for (uint32_t i = 0; i < d->nnone; i++)
        q->none_mask[d->none[i] >> 6] |= 1ull << (d->none[i] & 63);
    for (uint32_t i = 0; i < d->nchanged; i++)
        q->changed[i] = d->changed[i];
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
    query_free_internal(q);
}

static bool query_matches(const sabre_query_t *q, const ecs_table_t *t)
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
    return any;
}

static void query_update(sabre_query_t *q)
{
    sabre_world_t *w = q->w;
    while (q->scanned < w->ntables) {
        const ecs_table_t *t = w->tables[q->scanned];
        if (query_matches(q, t)) {
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

/* Any changed bit of the query's changed terms in word x of chunk ch. */
static inline uint64_t changed_word(const sabre_query_t *q, const int32_t *ci, ecs_chunk_t *ch,
                                    uint32_t x)
{
    uint64_t m = 0;
    for (uint32_t k = 0; k < q->nchanged; k++) {
        int32_t c = ci[q->nterms + k];
        if (c >= 0)
            m |= atomic_load_explicit(&ch->bits[c][x], memory_order_relaxed);
    }
    return m;
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
        if (q->nchanged == 0) {
            it->offset = 0;
            it->count = ch->count;
            it->table_row = ch->first_row;
            it->entities = ch->ents;
            it->ci_++;
            return true;
        }
        if (it->ri_ == 0) {
            bool dirty = false;
            for (uint32_t k = 0; k < q->nchanged; k++) {
                int32_t c = ci[q->nterms + k];
                if (c >= 0 && atomic_load_explicit(&ch->centries[c].summary, memory_order_relaxed))
                    dirty = true;
            }
            if (!dirty) {
                it->ci_++;
                continue;
            }
        }
        /* Find the next run of rows with a changed bit, from ri_. */
        uint32_t n = ch->count, r = it->ri_;
        uint32_t start = n;
        while (r < n) {
            uint64_t m = changed_word(q, ci, ch, r >> 6) >> (r & 63);
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
            uint64_t m = ~changed_word(q, ci, ch, end >> 6) >> (end & 63);
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
    int32_t ci = ((const int32_t *)it->tm_)[term];
    if (ci < 0)
        return;
    if (n > it->count - first)
        n = it->count - first;
    ecs_chunk_t *ch = it->ch_;
    sabre_bits_mark_range(ch->bits[ci], (uint64_t)it->offset + first, n);
    if (!atomic_load_explicit(&ch->centries[ci].summary, memory_order_relaxed))
        atomic_store_explicit(&ch->centries[ci].summary, 1u, memory_order_relaxed);
}

void sabre_iter_touch(const sabre_iter_t *it, uint32_t term)
{
    const sabre_query_t *q = it->q_;
    if (!q || !it->ch_ || term >= q->nterms)
        return;
    int32_t ci = ((const int32_t *)it->tm_)[term];
    if (ci >= 0)
        atomic_store_explicit(&((ecs_chunk_t *)it->ch_)->centries[ci].summary, 1u,
                              memory_order_relaxed);
}

bool sabre_iter_is_changed(const sabre_iter_t *it, uint32_t term, uint32_t i)
{
    _Atomic uint64_t *b = sabre_iter_changed(it, term);
    return b && i < it->count && sabre_bits_test(b, (uint64_t)it->offset + i);
}

uint64_t sabre_query_count(sabre_query_t *q)
{
    uint64_t n = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    if (q && q->nchanged == 0) {
        for (uint32_t m = 0; m < q->nmatch; m++)
            n += q->w->tables[q->mtables[m]]->count;
        return n;
    }
    while (sabre_iter_next(&it))
        n += it.count;
    return n;
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

/* --------------------------------------------------------- command buffer */

enum { CMD_CREATE = 1, CMD_DESTROY, CMD_ADD, CMD_REMOVE, CMD_SET };

typedef struct cmd_op {
    uint32_t op;
    sabre_component_t comp;
    sabre_entity_t e;
    uint64_t val_off; /* into arena; UINT64_MAX = no value */
} cmd_op_t;

struct sabre_cmd {
    sabre_world_t *w;
    uint32_t tag;
    cmd_op_t *ops;
    uint32_t nops, ops_cap;
    uint8_t *arena;
    uint64_t arena_len, arena_cap;
    sabre_entity_t *pending; /* pending serial -> real id */
    uint32_t npending, pending_cap;
    bool flushed; /* pending map belongs to the last flush */
};

static void cmd_free_internal(sabre_cmd_t *c)
{
    if (!c)
        return;
    free(c->ops);
    free(c->arena);
    free(c->pending);
    free(c);
}

int sabre_cmd_new(sabre_world_t *w, sabre_cmd_t **out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_new: NULL argument");
    int rc = sabre__grow((void **)&w->cmds, &w->cmds_cap, w->ncmds + 1, sizeof *w->cmds);
    if (rc)
        return rc;
    sabre_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a command buffer");
    c->w = w;
    c->tag = (uint32_t)(w->snap_seq++ & 0x7fffffffu);
    w->cmds[w->ncmds++] = c;
    *out = c;
    return SABRE_OK;
}

sabre_cmd_t *sabre_world_cmd(sabre_world_t *w)
{
    if (!w)
        return NULL;
    if (w->ncmds == 0) {
        sabre_cmd_t *c;
        if (sabre_cmd_new(w, &c))
            return NULL;
    }
    return w->cmds[0];
}

void sabre_cmd_free(sabre_cmd_t *c)
{
    if (!c)
        return;
    sabre_world_t *w = c->w;
    for (uint32_t i = 0; i < w->ncmds; i++) {
        if (w->cmds[i] == c) {
            memmove(&w->cmds[i], &w->cmds[i + 1], (w->ncmds - i - 1) * sizeof *w->cmds);
            w->ncmds--;
            break;
        }
    }
    cmd_free_internal(c);
}

static int cmd_push(sabre_cmd_t *c, uint32_t op, sabre_entity_t e, sabre_component_t comp,
                    const void *value, const char *fn)
{
    if (!c)
        return sabre__fail(SABRE_EINVAL, "%s: command buffer is NULL", fn);
    if (c->flushed) {
        c->npending = 0;
        c->flushed = false;
    }
    sabre_world_t *w = c->w;
    if (op == CMD_ADD || op == CMD_REMOVE || op == CMD_SET) {
        int rc = check_comp(w, comp, fn);
        if (rc)
            return rc;
        if (op == CMD_SET && w->comps[comp].size && !value)
            return sabre__fail(SABRE_EINVAL, "%s: value is NULL", fn);
    }
    if (e & SABRE_ENTITY_PENDING_BIT) {
        uint32_t tag = (uint32_t)(e >> 32) & 0x7fffffffu;
        if (tag != c->tag || SABRE_ENTITY_INDEX(e) >= c->npending)
            return sabre__fail(SABRE_EINVAL,
                               "%s: pending id %016llx does not come from this "
                               "command buffer",
                               fn, (unsigned long long)e);
    }
    int rc = sabre__grow((void **)&c->ops, &c->ops_cap, c->nops + 1, sizeof *c->ops);
    if (rc)
        return rc;
    uint64_t voff = UINT64_MAX;
    uint32_t size = (op == CMD_ADD || op == CMD_SET) && value ? w->comps[comp].size : 0;
    if (size) {
        uint64_t need = SABRE_ALIGN_UP(c->arena_len, 16) + size;
        if (need > c->arena_cap) {
            uint64_t ncap = c->arena_cap ? c->arena_cap * 2 : 4096;
            while (ncap < need)
                ncap *= 2;
            uint8_t *a = realloc(c->arena, ncap);
            if (!a)
                return sabre__fail(SABRE_ENOMEM, "out of memory in a command buffer");
            c->arena = a;
            c->arena_cap = ncap;
        }
        voff = SABRE_ALIGN_UP(c->arena_len, 16);
        memcpy(c->arena + voff, value, size);
        c->arena_len = voff + size;
    }
    c->ops[c->nops++] = (cmd_op_t){.op = op, .comp = comp, .e = e, .val_off = voff};
    return SABRE_OK;
}

int sabre_cmd_create(sabre_cmd_t *c, sabre_entity_t *pending)
{
    if (!c || !pending)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_create: NULL argument");
    if (c->flushed) {
        c->npending = 0;
        c->flushed = false;
    }
    int rc =
        sabre__grow((void **)&c->pending, &c->pending_cap, c->npending + 1, sizeof *c->pending);
    if (rc)
        return rc;
    uint32_t k = c->npending++;
    c->pending[k] = SABRE_ENTITY_NULL;
    sabre_entity_t p = SABRE_ENTITY_PENDING_BIT | (uint64_t)c->tag << 32 | k;
    if ((rc = cmd_push(c, CMD_CREATE, p, 0, NULL, "sabre_cmd_create"))) {
        c->npending--;
        return rc;
    }
    *pending = p;
    return SABRE_OK;
}

int sabre_cmd_destroy(sabre_cmd_t *c, sabre_entity_t e)
{
    return cmd_push(c, CMD_DESTROY, e, 0, NULL, "sabre_cmd_destroy");
}
int sabre_cmd_add(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp, const void *value)
{
    return cmd_push(c, CMD_ADD, e, comp, value, "sabre_cmd_add");
}
int sabre_cmd_remove(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp)
{
    return cmd_push(c, CMD_REMOVE, e, comp, NULL, "sabre_cmd_remove");
}
int sabre_cmd_set(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp, const void *value)
{
    return cmd_push(c, CMD_SET, e, comp, value, "sabre_cmd_set");
}
uint32_t sabre_cmd_count(const sabre_cmd_t *c)
{
    return c ? c->nops : 0;
}

sabre_entity_t sabre_cmd_resolve(const sabre_cmd_t *c, sabre_entity_t p)
{
    if (!c || !(p & SABRE_ENTITY_PENDING_BIT))
        return p;
    uint32_t tag = (uint32_t)(p >> 32) & 0x7fffffffu;
    if (tag != c->tag || SABRE_ENTITY_INDEX(p) >= c->npending)
        return SABRE_ENTITY_NULL;
    return c->pending[SABRE_ENTITY_INDEX(p)];
}

int sabre_cmd_flush(sabre_cmd_t *c, uint32_t *failed)
{
    if (!c)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_flush: command buffer is NULL");
    sabre_world_t *w = c->w;
    int first = SABRE_OK;
    char msg[400];
    msg[0] = '\0'; /* only read after a failure: no need to clear it all */
    uint32_t nfail = 0;
    /* Commands may be recorded by hooks while flushing: walk by index. */
    for (uint32_t i = 0; i < c->nops; i++) {
        cmd_op_t op = c->ops[i];
        sabre_entity_t e = op.e;
        int rc = SABRE_OK;
        if (op.op != CMD_CREATE && (e & SABRE_ENTITY_PENDING_BIT)) {
            e = c->pending[SABRE_ENTITY_INDEX(e)];
            if (e == SABRE_ENTITY_NULL)
                rc = sabre__fail(SABRE_ESTALE, "pending entity was not created");
        }
        const void *val = op.val_off == UINT64_MAX ? NULL : c->arena + op.val_off;
        if (rc == SABRE_OK) {
            switch (op.op) {
            case CMD_CREATE: {
                sabre_entity_t ne = SABRE_ENTITY_NULL;
                rc = sabre_entity_create(w, &ne);
                c->pending[SABRE_ENTITY_INDEX(op.e)] = ne;
                break;
            }
            case CMD_DESTROY:
                rc = sabre_entity_destroy(w, e);
                break;
            case CMD_ADD:
                rc = sabre_add(w, e, op.comp, val);
                break;
            case CMD_REMOVE:
                rc = sabre_remove(w, e, op.comp);
                break;
            default:
                rc = sabre_set(w, e, op.comp, val);
                break;
            }
        }
        if (rc) {
            nfail++;
            if (!first) {
                first = rc;
                snprintf(msg, sizeof msg, "command %u: %s", i, sabre_last_error());
            }
        }
    }
    c->nops = 0;
    c->arena_len = 0;
    c->flushed = true;
    if (failed)
        *failed = nfail;
    if (first)
        return sabre__fail(first, "%u of the flushed commands failed; first: %s", nfail, msg);
    return SABRE_OK;
}

/* ---------------------------------------------------------------- prefabs */

struct sabre_prefab {
    sabre_world_t *w;
    char name[SABRE_NAME_MAX];
    uint32_t nsteps;
    sabre_prefab_step_t *steps; /* value points into values */
    uint8_t *values;
    uint32_t table;
    int32_t *step_ci; /* step -> table component index */
};

static void prefab_free_internal(sabre_prefab_t *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->values);
    free(p->step_ci);
    free(p);
}

int sabre_prefab_create(sabre_world_t *w, const char *name, const sabre_prefab_step_t *steps,
                        uint32_t nsteps, sabre_prefab_t **out)
{
    if (!w || !out || (nsteps && !steps))
        return sabre__fail(SABRE_EINVAL, "sabre_prefab_create: NULL argument");
    *out = NULL;
    uint32_t tid = 0;
    uint64_t vbytes = 0;
    int rc;
    for (uint32_t i = 0; i < nsteps; i++) {
        if ((rc = check_comp(w, steps[i].comp, "sabre_prefab_create")))
            return rc;
        sabre_component_t c = steps[i].comp;
        if (w->tables[tid]->mask[c >> 6] >> (c & 63) & 1)
            return sabre__fail(SABRE_EINVAL, "prefab '%s': component '%s' appears twice",
                               name ? name : "", w->comps[c].name);
        ecs_edge_t *e;
        if ((rc = edge_get(w, tid, c, 1, &e)))
            return rc;
        tid = e->dst;
        vbytes += SABRE_ALIGN_UP((uint64_t)w->comps[c].size, 16);
    }
    if ((rc = sabre__grow((void **)&w->prefabs, &w->prefabs_cap, w->nprefabs + 1,
                          sizeof *w->prefabs)))
        return rc;
    sabre_prefab_t *p = calloc(1, sizeof *p);
    if (!p)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    p->steps = calloc(nsteps ? nsteps : 1, sizeof *p->steps);
    p->values = malloc(vbytes ? vbytes : 1);
    p->step_ci = calloc(nsteps ? nsteps : 1, sizeof *p->step_ci);
    if (!p->steps || !p->values || !p->step_ci) {
        prefab_free_internal(p);
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    }
    p->w = w;
    sabre__strlcpy(p->name, name ? name : "", sizeof p->name);
    p->nsteps = nsteps;
    p->table = tid;
    uint64_t off = 0;
    for (uint32_t i = 0; i < nsteps; i++) {
        p->steps[i] = steps[i];
        uint32_t size = w->comps[steps[i].comp].size;
        if (size && steps[i].value) {
            memcpy(p->values + off, steps[i].value, size);
            p->steps[i].value = p->values + off;
            off += SABRE_ALIGN_UP((uint64_t)size, 16);
        } else {
            p->steps[i].value = NULL;
        }
        p->step_ci[i] = sabre__table_comp_index(w->tables[tid], steps[i].comp);
    }
    w->prefabs[w->nprefabs++] = p;
    *out = p;
    return SABRE_OK;
}

void sabre_prefab_destroy(sabre_prefab_t *p)
{
    if (!p)
        return;
    sabre_world_t *w = p->w;
    for (uint32_t i = 0; i < w->nprefabs; i++) {
        if (w->prefabs[i] == p) {
            w->prefabs[i] = w->prefabs[--w->nprefabs];
            break;
        }
    }
    prefab_free_internal(p);
}

int sabre_prefab_spawn(sabre_world_t *w, const sabre_prefab_t *p, uint64_t n,
                       const sabre_prefab_override_t *ov, uint32_t nov, sabre_entity_t *out)
{
    if (!w || !p || (nov && !ov))
        return sabre__fail(SABRE_EINVAL, "sabre_prefab_spawn: NULL argument");
    if (p->w != w)
        return sabre__fail(SABRE_EINVAL, "prefab '%s' belongs to another world", p->name);
    const void *stackv[32] = {0};
    const void **ovals = p->nsteps <= 32 ? stackv : calloc(p->nsteps, sizeof *ovals);
    if (!ovals)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    for (uint32_t s = 0; s < p->nsteps; s++)
        ovals[s] = NULL;
    int rc = SABRE_OK;
    for (uint32_t i = 0; i < nov && rc == SABRE_OK; i++) {
        uint32_t s = 0;
        while (s < p->nsteps && p->steps[s].comp != ov[i].comp)
            s++;
        if (s == p->nsteps)
            rc = sabre__fail(SABRE_EINVAL,
                             "prefab '%s': override of component %u ('%s') that "
                             "is not a step",
                             p->name, ov[i].comp,
                             ov[i].comp < w->ncomps ? w->comps[ov[i].comp].name : "?");
        else
            ovals[s] = ov[i].value;
    }
    uint32_t maxsize = 0;
    for (uint32_t s = 0; s < p->nsteps; s++)
        maxsize = SABRE_MAX(maxsize, w->comps[p->steps[s].comp].size);
    uint8_t *buf = rc ? NULL : malloc(maxsize ? maxsize : 1);
    if (!rc && !buf)
        rc = sabre__fail(SABRE_ENOMEM, "out of memory");
    bool hooks = false;
    for (uint32_t s = 0; s < p->nsteps; s++)
        if (w->comps[p->steps[s].comp].on_add)
            hooks = true;
    sabre_entity_t *ids = out;
    if (!rc && hooks && !ids) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        if (!ids)
            rc = sabre__fail(SABRE_ENOMEM, "out of memory");
    }
    uint64_t made = 0;
    ecs_table_t *t = w->tables[p->table];
    for (; rc == SABRE_OK && made < n; made++) {
        sabre_entity_t e = SABRE_ENTITY_NULL;
        if ((rc = place_new(w, p->table, NULL, &e)))
            break;
        ecs_record_t *r = &w->records[SABRE_ENTITY_INDEX(e)];
        ecs_chunk_t *ch = t->chunks[r->chunk];
        for (uint32_t s = 0; s < p->nsteps; s++) {
            const sabre_prefab_step_t *st = &p->steps[s];
            if (!w->comps[st->comp].ncols)
                continue;
            const void *v = ovals[s];
            if (!v && st->fn) {
                memset(buf, 0, w->comps[st->comp].size);
                st->fn(made, buf, st->ctx);
                v = buf;
            }
            if (!v)
                v = st->value;
            if (v)
                pack_value(w, t, ch, (uint32_t)p->step_ci[s], r->row, v);
        }
        if (ids)
            ids[made] = e;
    }
    if (hooks && ids)
        for (uint64_t i = 0; i < made; i++)
            for (uint32_t s = 0; s < p->nsteps; s++)
                if (w->comps[p->steps[s].comp].on_add)
                    run_on_add(w, ids[i], p->steps[s].comp);
    if (ids != out)
        free(ids);
    free(buf);
    if (ovals != stackv)
        free(ovals);
    return rc;
}
