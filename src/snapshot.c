/*
 * snapshot.c - snapshots of query rows (shared and transfer modes), native
 * views of table chunks, commit of changed rows.  The column-set byte layout
 * (shared with table chunks) is in docs/abi.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs_internal.h"

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
    bool linked; /* on world->snaps */
    bool opened; /* from sabre_snapshot_open/recv: no world */
    sabre_snapshot_t *next;
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
};

typedef struct snap_msg {
    uint64_t magic;
    uint64_t uid;
    char name[SABRE_NAME_MAX];
} snap_msg_t;

/* ------------------------------------------------------------ validation */

static bool range_ok(uint64_t off, uint64_t len, uint64_t total)
{
    return off <= total && len <= total - off;
}

int sabre__colset_validate(const void *base, uint64_t size, uint64_t magic, const char *what)
{
    const sabre_colset_hdr_t *h = base;
    if (size < SABRE_COLSET_HEADER)
        return sabre__fail(SABRE_ECORRUPT,
                           "%s: object of %llu bytes is smaller than the %d-byte "
                           "header",
                           what, (unsigned long long)size, SABRE_COLSET_HEADER);
    if (h->magic != magic)
        return sabre__fail(SABRE_ECORRUPT, "%s: magic is 0x%016llx, want 0x%016llx", what,
                           (unsigned long long)h->magic, (unsigned long long)magic);
    if (h->major != SABRE_COLSET_MAJOR)
        return sabre__fail(SABRE_EVERSION, "%s: column-set version %u.%u, this library reads %d.x",
                           what, h->major, h->minor, SABRE_COLSET_MAJOR);
    if (h->header_size != SABRE_COLSET_HEADER)
        return sabre__fail(SABRE_ECORRUPT, "%s: header_size %u, want %d", what, h->header_size,
                           SABRE_COLSET_HEADER);
    uint64_t total = h->total_size;
    if (total > size || total < SABRE_COLSET_HEADER)
        return sabre__fail(SABRE_ECORRUPT, "%s: total_size %llu outside the object (%llu bytes)",
                           what, (unsigned long long)total, (unsigned long long)size);
    uint64_t cap = h->capacity;
    uint64_t rows = atomic_load_explicit(&((sabre_colset_hdr_t *)h)->rows, memory_order_acquire);
    if (cap > total / 8 || rows > cap)
        return sabre__fail(SABRE_ECORRUPT, "%s: capacity %llu / rows %llu do not fit %llu bytes",
                           what, (unsigned long long)cap, (unsigned long long)rows,
                           (unsigned long long)total);
    if (h->ncomps > SABRE_COLSET_MAX_COMPS || h->ncols > SABRE_COLSET_MAX_COLS)
        return sabre__fail(SABRE_ECORRUPT, "%s: %u components / %u columns exceed the limits", what,
                           h->ncomps, h->ncols);
    if (!range_ok(h->comps_off, (uint64_t)h->ncomps * SABRE_COLSET_COMP, total) ||
        h->comps_off % 64 || !range_ok(h->cols_off, (uint64_t)h->ncols * SABRE_COLSET_COL, total) ||
        h->cols_off % 8 || !range_ok(h->names_off, h->names_len, total) ||
        !range_ok(h->entities_off, cap * 8, total) || h->entities_off % 64)
        return sabre__fail(SABRE_ECORRUPT,
                           "%s: a table offset lies outside the object or is "
                           "misaligned",
                           what);
    if (h->names_len && ((const char *)base)[h->names_off + h->names_len - 1] != '\0')
        return sabre__fail(SABRE_ECORRUPT, "%s: names blob is not NUL-terminated", what);
    const uint8_t *b = base;
    const sabre_colset_comp_t *ce = (const void *)(b + h->comps_off);
    const sabre_colset_col_t *co = (const void *)(b + h->cols_off);
    uint64_t words = (cap + 63) / 64;
    for (uint32_t i = 0; i < h->ncomps; i++) {
        if ((uint64_t)ce[i].first_col + ce[i].ncols > h->ncols)
            return sabre__fail(SABRE_ECORRUPT, "%s: component %u columns [%u, +%u) exceed %u", what,
                               i, ce[i].first_col, ce[i].ncols, h->ncols);
        if (!range_ok(ce[i].changed_off, words * 8, total) || ce[i].changed_off % 8)
            return sabre__fail(SABRE_ECORRUPT, "%s: component %u changed bitset outside the object",
                               what, i);
        if ((uint64_t)ce[i].name_off + ce[i].name_len >= h->names_len + (h->names_len == 0) ||
            (uint64_t)ce[i].layout_off + ce[i].layout_len >= h->names_len + (h->names_len == 0))
            return sabre__fail(SABRE_ECORRUPT, "%s: component %u name outside the names blob", what,
                               i);
    }
    for (uint32_t j = 0; j < h->ncols; j++) {
        size_t es = sabre_scalar_size((sabre_scalar_t)co[j].type);
        if (!es || es != co[j].elem_size)
            return sabre__fail(SABRE_ECORRUPT, "%s: column %u has type %u / element size %u", what,
                               j, co[j].type, co[j].elem_size);
        if (co[j].comp_index >= h->ncomps || !range_ok(co[j].data_off, cap * es, total) ||
            co[j].data_off % es)
            return sabre__fail(SABRE_ECORRUPT, "%s: column %u data outside the object", what, j);
        if ((uint64_t)co[j].name_off + co[j].name_len >= h->names_len + (h->names_len == 0))
            return sabre__fail(SABRE_ECORRUPT, "%s: column %u name outside the names blob", what,
                               j);
    }
    return SABRE_OK;
}

/* Fill the handle's arrays from a validated column set at base. */
static int attach(sabre_snapshot_t *s, uint8_t *base, uint64_t size, uint64_t magic)
{
    int rc = sabre__colset_validate(base, size, magic, s->name[0] ? s->name : "snapshot");
    if (rc)
        return rc;
    sabre_colset_hdr_t *h = (sabre_colset_hdr_t *)base;
    snap_comp_t *comps = calloc(h->ncomps ? h->ncomps : 1, sizeof *comps);
    size_t nc = h->ncols ? h->ncols : 1;
    void **cols = calloc(nc, sizeof *cols);
    uint32_t *elem = calloc(nc, sizeof *elem);
    uint32_t *types = calloc(nc, sizeof *types);
    uint32_t *lcol = calloc(nc, sizeof *lcol);
    const char **names = calloc(nc, sizeof *names);
    if (!comps || !cols || !elem || !types || !lcol || !names) {
        free(comps);
        free(cols);
        free(elem);
        free(types);
        free(lcol);
        free(names);
        return sabre__fail(SABRE_ENOMEM, "out of memory for a snapshot handle");
    }
    sabre_colset_comp_t *ce = (sabre_colset_comp_t *)(base + h->comps_off);
    sabre_colset_col_t *co = (sabre_colset_col_t *)(base + h->cols_off);
    const char *blob = (const char *)base + h->names_off;
    for (uint32_t i = 0; i < h->ncomps; i++) {
        comps[i].comp = ce[i].comp_id;
        comps[i].write = ce[i].flags & 1u;
        comps[i].first_col = ce[i].first_col;
        comps[i].ncols = ce[i].ncols;
        comps[i].bits = (_Atomic uint64_t *)(base + ce[i].changed_off);
        comps[i].summary = &ce[i].summary;
    }
    for (uint32_t j = 0; j < h->ncols; j++) {
        cols[j] = base + co[j].data_off;
        elem[j] = co[j].elem_size;
        types[j] = co[j].type;
        lcol[j] = co[j].layout_col;
        names[j] = blob + co[j].name_off;
    }
    free(s->comps);
    free(s->cols);
    free(s->elem);
    free(s->types);
    free(s->layout_col);
    free(s->col_names);
    s->comps = comps;
    s->cols = cols;
    s->elem = elem;
    s->types = types;
    s->layout_col = lcol;
    s->col_names = names;
    s->base = base;
    s->obj_size = size;
    s->ncomps = h->ncomps;
    s->ncols = h->ncols;
    s->capacity = h->capacity;
    s->rows = atomic_load_explicit(&h->rows, memory_order_acquire);
    s->ents = (sabre_entity_t *)(base + h->entities_off);
    s->uid = h->uid;
    s->world_id = h->world_id;
    s->mode = (sabre_snap_mode_t)h->mode;
    return SABRE_OK;
}

static void handle_free_arrays(sabre_snapshot_t *s)
{
    free(s->comps);
    free(s->cols);
    free(s->elem);
    free(s->types);
    free(s->layout_col);
    free(s->col_names);
    s->comps = NULL;
    s->cols = NULL;
    s->elem = NULL;
    s->types = NULL;
    s->layout_col = NULL;
    s->col_names = NULL;
}

/* ------------------------------------------------------- world linkage */

static void link_snap(sabre_world_t *w, sabre_snapshot_t *s)
{
    s->world = w;
    s->next = w->snaps;
    w->snaps = s;
    s->linked = true;
}

static void unlink_snap(sabre_snapshot_t *s)
{
    if (!s->linked || !s->world)
        return;
    sabre_snapshot_t **pp = &s->world->snaps;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    s->linked = false;
    s->next = NULL;
}

void sabre__snapshot_orphan_all(sabre_world_t *w)
{
    sabre_snapshot_t *s = w->snaps;
    while (s) {
        sabre_snapshot_t *n = s->next;
        s->world = NULL;
        s->linked = false;
        s->next = NULL;
        if (s->mode == SABRE_SNAP_NATIVE) {
            /* The view's memory belonged to the world. */
            s->detached = true;
            s->region = NULL;
        }
        s = n;
    }
    w->snaps = NULL;
}

/* ------------------------------------------------------------------ build */

typedef struct spec_col {
    uint32_t comp_index, layout_col, elem, type;
    const char *name;
} spec_col_t;

static int resolve_spec(const sabre_world_t *w, const sabre_snapshot_desc_t *d, spec_col_t **colsp,
                        uint32_t *ncolsp)
{
    if (!d->comps || d->ncomps == 0 || d->ncomps > SNAP_MAX_COMPS)
        return sabre__fail(SABRE_EINVAL, "snapshot: 1..%d components required, got %u",
                           SNAP_MAX_COMPS, d->ncomps);
    uint32_t total = 0;
    for (uint32_t i = 0; i < d->ncomps; i++) {
        sabre_component_t c = d->comps[i].comp;
        const sabre_layout_t *l = sabre_component_layout(w, c);
        if (c >= w->ncomps)
            return sabre__fail(SABRE_ENOENT, "snapshot: unknown component id %u (the world has %u)",
                               c, w->ncomps);
        if (!l)
            return sabre__fail(SABRE_EINVAL, "snapshot: component '%s' is a tag (no columns)",
                               w->comps[c].name);
        for (uint32_t k = 0; k < i; k++)
            if (d->comps[k].comp == c)
                return sabre__fail(SABRE_EINVAL, "snapshot: component '%s' listed twice",
                                   w->comps[c].name);
        if (d->comps[i].columns && d->comps[i].ncolumns == 0)
            return sabre__fail(SABRE_EINVAL, "snapshot: component '%s': empty column list",
                               w->comps[c].name);
        total += d->comps[i].columns ? d->comps[i].ncolumns : l->ncolumns;
    }
    spec_col_t *cols = calloc(total ? total : 1, sizeof *cols);
    if (!cols)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->ncomps; i++) {
        const sabre_layout_t *l = w->comps[d->comps[i].comp].layout;
        uint32_t m = d->comps[i].columns ? d->comps[i].ncolumns : l->ncolumns;
        for (uint32_t k = 0; k < m; k++) {
            const sabre_column_t *lc;
            if (d->comps[i].columns) {
                const char *nm = d->comps[i].columns[k];
                lc = nm ? sabre_layout_column(l, nm) : NULL;
                if (!lc) {
                    free(cols);
                    return sabre__fail(SABRE_ENOENT,
                                       "snapshot: component '%s' (layout %s) has no "
                                       "column '%s'",
                                       w->comps[d->comps[i].comp].name, l->name,
                                       nm ? nm : "(null)");
                }
                for (uint32_t q = n - k; q < n; q++)
                    if (strcmp(cols[q].name, nm) == 0) {
                        free(cols);
                        return sabre__fail(SABRE_EINVAL, "snapshot: column '%s' listed twice", nm);
                    }
            } else {
                lc = &l->columns[k];
            }
            cols[n].comp_index = i;
            cols[n].layout_col = (uint32_t)(lc - l->columns);
            cols[n].elem = lc->size;
            cols[n].type = (uint32_t)lc->type;
            cols[n].name = lc->name;
            n++;
        }
    }
    *colsp = cols;
    *ncolsp = n;
    return SABRE_OK;
}

/* Byte offsets of a snapshot column set for `cap` rows. */
typedef struct snap_geom {
    uint64_t comps_off, cols_off, names_off, names_len, ents_off, data0, bits0, bits_bytes, total;
} snap_geom_t;

static void geometry(const sabre_world_t *w, const sabre_snapshot_desc_t *d, const spec_col_t *cols,
                     uint32_t ncols, uint64_t cap, snap_geom_t *g)
{
    uint64_t names_len = 0;
    for (uint32_t i = 0; i < d->ncomps; i++) {
        const ecs_comp_t *c = &w->comps[d->comps[i].comp];
        names_len += strlen(c->name) + 1 + c->layout->canonical_len + 1;
    }
    for (uint32_t j = 0; j < ncols; j++)
        names_len += strlen(cols[j].name) + 1;
    uint64_t off = SABRE_COLSET_HEADER;
    g->comps_off = off;
    off += (uint64_t)d->ncomps * SABRE_COLSET_COMP;
    g->cols_off = off;
    off += (uint64_t)ncols * SABRE_COLSET_COL;
    g->names_off = off;
    g->names_len = names_len;
    off = SABRE_ALIGN_UP(off + names_len, 64);
    g->ents_off = off;
    off += SABRE_ALIGN_UP(cap * 8, 64);
    g->data0 = off;
    for (uint32_t j = 0; j < ncols; j++)
        off += SABRE_ALIGN_UP(cap * cols[j].elem, 64);
    g->bits0 = off;
    g->bits_bytes = SABRE_ALIGN_UP((cap + 63) / 64 * 8, 64);
    off += g->bits_bytes * d->ncomps;
    g->total = off;
}

static void write_header(const sabre_world_t *w, const sabre_snapshot_desc_t *d,
                         const spec_col_t *cols, uint32_t ncols, uint64_t cap, const snap_geom_t *g,
                         uint8_t *base, uint64_t uid)
{
    sabre_colset_hdr_t *h = (sabre_colset_hdr_t *)base;
    h->magic = SABRE_COLSET_SNAP_MAGIC;
    h->major = SABRE_COLSET_MAJOR;
    h->minor = SABRE_COLSET_MINOR;
    h->header_size = SABRE_COLSET_HEADER;
    h->world_id = w->id;
    h->uid = uid;
    h->tick = w->tick;
    h->capacity = cap;
    atomic_store_explicit(&h->rows, 0, memory_order_relaxed);
    h->ncomps = d->ncomps;
    h->ncols = ncols;
    h->entities_off = g->ents_off;
    h->comps_off = g->comps_off;
    h->cols_off = g->cols_off;
    h->names_off = g->names_off;
    h->names_len = g->names_len;
    h->total_size = g->total;
    h->mode = (uint32_t)d->mode;
    h->table = 0;
    h->first_row = 0;
    char *names = (char *)base + g->names_off;
    uint64_t np = 0;
    sabre_colset_comp_t *ce = (sabre_colset_comp_t *)(base + g->comps_off);
    sabre_colset_col_t *co = (sabre_colset_col_t *)(base + g->cols_off);
    uint64_t doff = g->data0;
    uint32_t j = 0;
    for (uint32_t i = 0; i < d->ncomps; i++) {
        const ecs_comp_t *c = &w->comps[d->comps[i].comp];
        memset(&ce[i], 0, sizeof ce[i]);
        ce[i].comp_id = d->comps[i].comp;
        ce[i].flags = d->comps[i].write ? 1u : 0u;
        ce[i].first_col = j;
        ce[i].layout_hash = c->layout->hash;
        ce[i].changed_off = g->bits0 + g->bits_bytes * i;
        ce[i].size = c->size;
        size_t nl = strlen(c->name);
        ce[i].name_off = (uint32_t)np;
        ce[i].name_len = (uint32_t)nl;
        memcpy(names + np, c->name, nl + 1);
        np += nl + 1;
        ce[i].layout_off = (uint32_t)np;
        ce[i].layout_len = (uint32_t)c->layout->canonical_len;
        memcpy(names + np, c->layout->canonical, c->layout->canonical_len);
        names[np + c->layout->canonical_len] = '\0';
        np += c->layout->canonical_len + 1;
        while (j < ncols && cols[j].comp_index == i) {
            co[j].data_off = doff;
            co[j].type = cols[j].type;
            co[j].elem_size = cols[j].elem;
            co[j].comp_index = i;
            co[j].layout_col = cols[j].layout_col;
            size_t cl = strlen(cols[j].name);
            co[j].name_off = (uint32_t)np;
            co[j].name_len = (uint32_t)cl;
            memcpy(names + np, cols[j].name, cl + 1);
            np += cl + 1;
            doff += SABRE_ALIGN_UP(cap * cols[j].elem, 64);
            j++;
        }
        ce[i].ncols = j - ce[i].first_col;
    }
}

/* Storage for a new snapshot object of `size` bytes. */
static int alloc_storage(sabre_snapshot_t *s, const sabre_snapshot_desc_t *d, uint64_t size,
                         uint8_t **base, uint64_t *objsize)
{
    sabre_object_t obj;
    sabre_object_desc_t od = {
        .name = s->name, .kind = SABRE_OBJ_SNAPSHOT, .size = size, .align = 64};
    int rc;
    if (d->region) {
        if ((rc = sabre_region_alloc(d->region, &od, &obj)))
            return rc;
        s->region = d->region;
        s->own_region = false;
    } else {
        sabre_region_desc_t rd = {.backing = d->backing,
                                  .size = size + (1u << 20),
                                  .max_objects = 4,
                                  .name =
                                      d->backing == SABRE_BACKING_MEMFD ? "sabre-snapshot" : NULL};
        sabre_region_t *r;
        if ((rc = sabre_region_create(&rd, &r)))
            return rc;
        if ((rc = sabre_region_alloc(r, &od, &obj))) {
            sabre_region_close(r);
            return rc;
        }
        s->region = r;
        s->own_region = true;
    }
    *base = obj.ptr;
    *objsize = obj.size;
    return SABRE_OK;
}

/* ------------------------------------------------------------ executor */

/* Rows per executor range: big enough that a range's fixed cost (block
 * search, per-component setup, a wake-up) is noise, small enough that two
 * to a few dozen threads get several ranges each at a million rows.  A
 * multiple of 64, so ranges cover whole words of the changed bitsets. */
#define SNAP_GRAIN 32768u

/* Run fn over [0, n): through the snapshot's executor when it has one and
 * there is more than one range of work, else on the calling thread.  Every
 * job run this way is idempotent (copies of the same bytes, OR of the same
 * bits) and reports through counters the caller resets, so when the
 * executor fails the whole job is simply redone here. */
static void run_ranges(const sabre_snapshot_t *s, size_t n, sabre_snapshot_range_fn fn, void *ctx,
                       void (*reset)(void *ctx))
{
    size_t grain = s->grain ? s->grain : SNAP_GRAIN;
    if (n == 0)
        return;
    if (s->exec.parallel_for && n > grain) {
        if (s->exec.parallel_for(s->exec.user, n, grain, fn, ctx) == 0)
            return;
        if (reset)
            reset(ctx);
    }
    (void)fn(ctx, 0, n, 0);
}

/* Index of the block holding snapshot row `row` (blocks sorted by start,
 * contiguous from 0). */
static uint32_t block_find(const sabre_snapshot_t *s, uint64_t row)
{
    uint32_t lo = 0, hi = s->nblocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->blocks[mid].start <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------- fill */

typedef struct fill_ctx {
    sabre_world_t *w;
    sabre_snapshot_t *s;
    bool zero_missing;
} fill_ctx_t;

/* Copy snapshot rows [row, row + n) from chunk rows [crow, crow + n). */
static void fill_copy(sabre_snapshot_t *s, const ecs_table_t *t, const ecs_chunk_t *ch,
                      uint32_t crow, uint64_t row, uint32_t n, bool zero_missing)
{
    memcpy(s->ents + row, ch->ents + crow, (size_t)n * sizeof *s->ents);
    for (uint32_t k = 0; k < s->ncomps; k++) {
        int ci = sabre__table_comp_index(t, s->comps[k].comp);
        for (uint32_t j = s->comps[k].first_col; j < s->comps[k].first_col + s->comps[k].ncols;
             j++) {
            uint32_t e = s->elem[j];
            char *dst = (char *)s->cols[j] + row * e;
            if (ci < 0) {
                if (zero_missing)
                    memset(dst, 0, (size_t)n * e);
                continue;
            }
            const char *src =
                (const char *)ch->cols[t->first_col[ci] + s->layout_col[j]] + (size_t)crow * e;
            memcpy(dst, src, (size_t)n * e);
        }
    }
}

/* Executor job: fill snapshot rows [begin, end) from the recorded blocks. */
static int fill_range(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    const fill_ctx_t *c = ctx;
    sabre_snapshot_t *s = c->s;
    for (uint32_t b = block_find(s, begin); b < s->nblocks && s->blocks[b].start < end; b++) {
        const snap_block_t *bk = &s->blocks[b];
        uint64_t lo = SABRE_MAX((uint64_t)begin, bk->start);
        uint64_t hi = SABRE_MIN((uint64_t)end, bk->start + bk->count);
        if (lo >= hi)
            continue;
        const ecs_table_t *t = c->w->tables[bk->table];
        fill_copy(s, t, t->chunks[bk->chunk], bk->chunk_row + (uint32_t)(lo - bk->start), lo,
                  (uint32_t)(hi - lo), c->zero_missing);
    }
    return 0;
}

static bool block_push(sabre_snapshot_t *s, const snap_block_t *b)
{
    if (s->nblocks == s->blocks_cap) {
        uint32_t nc = s->blocks_cap ? s->blocks_cap * 2 : 64;
        snap_block_t *nb = realloc(s->blocks, (size_t)nc * sizeof *nb);
        if (!nb)
            return false;
        s->blocks = nb;
        s->blocks_cap = nc;
    }
    s->blocks[s->nblocks++] = *b;
    return true;
}

/* Copy the query's rows into the attached snapshot (rows <= capacity).
 * First the query's blocks are recorded (cheap: one per chunk or changed
 * run), then their rows are copied, in ranges through the executor.  The
 * blocks, with the world's structural epoch, let commit write back without
 * looking up any entity (see sabre_snapshot_commit). */
static void fill(sabre_world_t *w, sabre_snapshot_t *s, sabre_query_t *q, bool zero_missing)
{
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    uint64_t row = 0;
    bool ok = true;
    s->nblocks = 0;
    s->blocks_valid = false;
    while (sabre_iter_next(&it)) {
        uint32_t n = it.count;
        if (row + n > s->capacity)
            n = (uint32_t)(s->capacity - row);
        if (n == 0)
            continue;
        snap_block_t b = {
            .start = row, .table = it.table, .chunk = it.chunk, .chunk_row = it.offset, .count = n};
        if (ok && !block_push(s, &b))
            ok = false;
        if (!ok) /* no memory for the block list: copy here, no fast commit */
            fill_copy(s, w->tables[it.table], it.ch_, it.offset, row, n, zero_missing);
        row += n;
        if (row >= s->capacity)
            break;
    }
    s->rows = row;
    if (ok) {
        fill_ctx_t c = {.w = w, .s = s, .zero_missing = zero_missing};
        run_ranges(s, (size_t)row, fill_range, &c, NULL);
        s->blocks_valid = true;
        s->fill_epoch = w->struct_epoch;
        s->fill_rows = row;
        s->fill_base = s->base;
    } else {
        /* The rows recorded before the failure were not copied yet. */
        for (uint32_t b = 0; b < s->nblocks; b++) {
            const snap_block_t *bk = &s->blocks[b];
            const ecs_table_t *t = w->tables[bk->table];
            fill_copy(s, t, t->chunks[bk->chunk], bk->chunk_row, bk->start, bk->count,
                      zero_missing);
        }
        s->nblocks = 0;
    }
    atomic_store_explicit(&((sabre_colset_hdr_t *)s->base)->rows, row, memory_order_release);
}

int sabre_snapshot_build(sabre_world_t *w, const sabre_snapshot_desc_t *d, sabre_query_t *q,
                         sabre_snapshot_t **out)
{
    if (!w || !d || !q || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_build: NULL argument");
    *out = NULL;
    if (sabre__query_world(q) != w)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_build: the query belongs to another world");
    if (d->mode != SABRE_SNAP_SHARED && d->mode != SABRE_SNAP_TRANSFER)
        return sabre__fail(SABRE_EINVAL, "snapshot: mode must be SHARED or TRANSFER");
    if (d->mode == SABRE_SNAP_TRANSFER && d->region)
        return sabre__fail(SABRE_EINVAL,
                           "snapshot: TRANSFER mode owns its region; do not pass one");
    if (!d->region && d->backing != SABRE_BACKING_PRIVATE && d->backing != SABRE_BACKING_MEMFD)
        return sabre__fail(SABRE_EINVAL, "snapshot: own region backing must be PRIVATE or MEMFD");
    if (d->name && (!d->name[0] || strlen(d->name) >= SABRE_NAME_MAX))
        return sabre__fail(SABRE_EINVAL, "snapshot: name must be 1..%d bytes", SABRE_NAME_MAX - 1);
    spec_col_t *cols = NULL;
    uint32_t ncols = 0;
    int rc = resolve_spec(w, d, &cols, &ncols);
    if (rc)
        return rc;
    uint64_t rows = sabre_query_count(q);
    uint64_t cap = SABRE_MAX(rows, d->capacity);
    cap = SABRE_ALIGN_UP(cap ? cap : 1, 64);
    snap_geom_t g;
    geometry(w, d, cols, ncols, cap, &g);
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s) {
        free(cols);
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    }
    sabre__strlcpy(s->name, d->name ? d->name : "snapshot", sizeof s->name);
    s->backing = d->backing;
    s->exec = d->exec;
    uint8_t *base;
    uint64_t osize;
    if ((rc = alloc_storage(s, d, g.total, &base, &osize))) {
        free(cols);
        free(s);
        return rc;
    }
    write_header(w, d, cols, ncols, cap, &g, base, sabre__random_id());
    free(cols);
    if ((rc = attach(s, base, osize, SABRE_COLSET_SNAP_MAGIC))) {
        if (s->own_region)
            sabre_region_close(s->region);
        free(s);
        return rc;
    }
    fill(w, s, q, false);
    link_snap(w, s);
    *out = s;
    return SABRE_OK;
}

static int check_attached(const sabre_snapshot_t *s, const char *fn)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "%s: snapshot is NULL", fn);
    if (s->detached)
        return sabre__fail(SABRE_EDETACHED,
                           "%s: snapshot '%s' is detached (its buffers were "
                           "transferred away)",
                           fn, s->name);
    return SABRE_OK;
}

static int check_world(const sabre_world_t *w, const sabre_snapshot_t *s, const char *fn)
{
    if (!w)
        return sabre__fail(SABRE_EINVAL, "%s: world is NULL", fn);
    if (s->opened)
        return sabre__fail(SABRE_ESTALE,
                           "%s: this handle of snapshot '%s' was opened, received or "
                           "moved to a worker: it has no world (commit with the "
                           "owner's handle)",
                           fn, s->name);
    if (!s->world && s->world_id == w->id)
        return sabre__fail(SABRE_ESTALE, "%s: snapshot '%s' was orphaned (its world was destroyed)",
                           fn, s->name);
    if (!s->world)
        return sabre__fail(SABRE_ESTALE,
                           "%s: snapshot '%s' belongs to world %016llx, which was "
                           "destroyed or is not this one (%016llx)",
                           fn, s->name, (unsigned long long)s->world_id, (unsigned long long)w->id);
    if (s->world != w || s->world_id != w->id)
        return sabre__fail(SABRE_ESTALE,
                           "%s: snapshot '%s' was built from world %016llx, not this "
                           "world %016llx",
                           fn, s->name, (unsigned long long)s->world_id, (unsigned long long)w->id);
    return SABRE_OK;
}

int sabre_snapshot_rebuild(sabre_world_t *w, sabre_snapshot_t *s, sabre_query_t *q)
{
    int rc = check_attached(s, "sabre_snapshot_rebuild");
    if (rc)
        return rc;
    if (!q)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_rebuild: query is NULL");
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_rebuild: a native view has nothing to "
                                         "rebuild");
    if ((rc = check_world(w, s, "sabre_snapshot_rebuild")))
        return rc;
    if (sabre__query_world(q) != w)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_rebuild: the query belongs to another "
                                         "world");
    uint64_t rows = sabre_query_count(q);
    if (rows > s->capacity) {
        if (!s->own_region)
            return sabre__fail(SABRE_ENOSPC,
                               "snapshot '%s': %llu rows exceed its capacity %llu "
                               "in a caller region",
                               s->name, (unsigned long long)rows, (unsigned long long)s->capacity);
        /* Rebuild the spec from the header, then replace the region. */
        sabre_snap_comp_t sc[SNAP_MAX_COMPS];
        const char *names[4096];
        if (s->ncols > 4096)
            return sabre__fail(SABRE_ENOSPC, "snapshot '%s': too many columns to regrow", s->name);
        for (uint32_t k = 0; k < s->ncomps; k++) {
            sc[k].comp = s->comps[k].comp;
            sc[k].write = s->comps[k].write;
            sc[k].columns = names + s->comps[k].first_col;
            sc[k].ncolumns = s->comps[k].ncols;
            for (uint32_t j = 0; j < s->comps[k].ncols; j++)
                names[s->comps[k].first_col + j] = s->col_names[s->comps[k].first_col + j];
        }
        sabre_snapshot_desc_t d = {.comps = sc,
                                   .ncomps = s->ncomps,
                                   .mode = s->mode,
                                   .backing = s->backing,
                                   .name = s->name,
                                   .capacity = rows + rows / 2,
                                   .exec = s->exec};
        sabre_snapshot_t *ns;
        if ((rc = sabre_snapshot_build(w, &d, q, &ns)))
            return rc;
        /* Swap the new storage into s, keep s's identity (uid changes). */
        unlink_snap(ns);
        sabre_region_t *old = s->region;
        handle_free_arrays(s);
        sabre_snapshot_t keep = *s;
        *s = *ns;
        s->next = keep.next;
        s->linked = keep.linked;
        s->world = keep.world;
        s->force_slow = keep.force_slow;
        s->grain = keep.grain;
        free(keep.blocks);
        free(ns);
        sabre_region_close(old);
        return SABRE_OK;
    }
    for (uint32_t k = 0; k < s->ncomps; k++) {
        memset((void *)s->comps[k].bits, 0, (s->capacity + 63) / 64 * 8);
        atomic_store_explicit(s->comps[k].summary, 0u, memory_order_relaxed);
    }
    ((sabre_colset_hdr_t *)s->base)->tick = w->tick;
    fill(w, s, q, true);
    return SABRE_OK;
}

/* ----------------------------------------------------------------- commit */

/* Bits set in words[] among rows [lo, hi). */
static uint64_t count_set(const _Atomic uint64_t *bits, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;
    while (lo < hi) {
        uint64_t w = lo >> 6, b = lo & 63;
        uint64_t take = SABRE_MIN(64 - b, hi - lo);
        uint64_t m = atomic_load_explicit(&bits[w], memory_order_relaxed) >> b;
        if (take < 64)
            m &= (1ull << take) - 1;
        n += (uint64_t)__builtin_popcountll(m);
        lo += take;
    }
    return n;
}

/* First row in [i, hi) whose bit is set (want = true) or clear (false); hi
 * if none.  Whole words of the wanted value cost one load each. */
static inline uint64_t next_bit(const _Atomic uint64_t *bits, uint64_t i, uint64_t hi, bool want)
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

/*
 * Fast path.  It is taken when the rows are exactly where fill() found
 * them: the same handle filled this very mapping (the recorded blocks are
 * process-local, never read from the snapshot's memory), and the world's
 * structural epoch has not moved since, so no row of any table was removed
 * or moved (docs/ecs.md, "Structural epoch").  Then every snapshot row's
 * entity is alive, at the recorded (table, chunk, row), and has exactly
 * the components it had: no entity lookup is needed, nothing can be dead,
 * and a component is missing for a whole block or not at all.
 */
static bool fast_path_ok(const sabre_world_t *w, const sabre_snapshot_t *s)
{
    return !s->force_slow && s->blocks_valid && s->fill_epoch == w->struct_epoch &&
           s->fill_base == s->base && s->fill_rows == s->rows;
}

typedef struct commit_ctx {
    sabre_world_t *w;
    const sabre_snapshot_t *s;
    _Atomic uint64_t written, missing, readonly;
} commit_ctx_t;

static void commit_reset(void *ctx)
{
    commit_ctx_t *c = ctx;
    atomic_store_explicit(&c->written, 0, memory_order_relaxed);
    atomic_store_explicit(&c->missing, 0, memory_order_relaxed);
    atomic_store_explicit(&c->readonly, 0, memory_order_relaxed);
}

/* Executor job: commit snapshot rows [begin, end).  Reads the snapshot
 * (bits and columns: nobody writes them during commit), writes world rows
 * that no other range maps to, marks world bits with atomic OR (two ranges
 * may share a word of a chunk's bitset). */
static int commit_range(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    commit_ctx_t *c = ctx;
    const sabre_snapshot_t *s = c->s;
    sabre_world_t *w = c->w;
    uint64_t written = 0, missing = 0, readonly = 0;
    for (uint32_t k = 0; k < s->ncomps; k++) {
        const snap_comp_t *sc = &s->comps[k];
        const _Atomic uint64_t *bits = sc->bits;
        if (!sc->write) {
            readonly += count_set(bits, begin, end);
            continue;
        }
        for (uint32_t b = block_find(s, begin); b < s->nblocks && s->blocks[b].start < end; b++) {
            const snap_block_t *bk = &s->blocks[b];
            uint64_t lo = SABRE_MAX((uint64_t)begin, bk->start);
            uint64_t hi = SABRE_MIN((uint64_t)end, bk->start + bk->count);
            ecs_table_t *t = w->tables[bk->table];
            int ci = sabre__table_comp_index(t, sc->comp);
            if (ci < 0) {
                missing += count_set(bits, lo, hi);
                continue;
            }
            ecs_chunk_t *ch = t->chunks[bk->chunk];
            uint64_t i = next_bit(bits, lo, hi, true);
            bool any = false;
            while (i < hi) {
                uint64_t j = next_bit(bits, i + 1, hi, false);
                uint64_t len = j - i;
                uint64_t crow = bk->chunk_row + (i - bk->start);
                for (uint32_t q = sc->first_col; q < sc->first_col + sc->ncols; q++) {
                    uint32_t es = s->elem[q];
                    memcpy((char *)ch->cols[t->first_col[ci] + s->layout_col[q]] + crow * es,
                           (const char *)s->cols[q] + i * es, len * es);
                }
                sabre_bits_mark_range(ch->bits[ci], crow, len);
                written += len;
                any = true;
                i = next_bit(bits, j, hi, true);
            }
            if (any && !atomic_load_explicit(&ch->centries[ci].summary, memory_order_relaxed))
                atomic_store_explicit(&ch->centries[ci].summary, 1u, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&c->written, written, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->missing, missing, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->readonly, readonly, memory_order_relaxed);
    return 0;
}

static void commit_fast(sabre_world_t *w, const sabre_snapshot_t *s, sabre_commit_stats_t *st)
{
    commit_ctx_t c = {.w = w, .s = s};
    commit_reset(&c);
    run_ranges(s, (size_t)s->rows, commit_range, &c, commit_reset);
    st->rows_written = atomic_load_explicit(&c.written, memory_order_relaxed);
    st->skipped_missing = atomic_load_explicit(&c.missing, memory_order_relaxed);
    st->skipped_readonly = atomic_load_explicit(&c.readonly, memory_order_relaxed);
    st->skipped_dead = 0;
}

static inline uint64_t next_set(const sabre_snapshot_t *s, const _Atomic uint64_t *bits, uint64_t i)
{
    while (i < s->rows) {
        uint64_t m = atomic_load_explicit(&bits[i >> 6], memory_order_relaxed) >> (i & 63);
        if (m)
            return i + (uint64_t)__builtin_ctzll(m);
        i = (i | 63) + 1;
    }
    return s->rows;
}

int sabre_snapshot_commit(sabre_world_t *w, sabre_snapshot_t *s, sabre_commit_stats_t *stats)
{
    sabre_commit_stats_t st = {0};
    if (stats)
        *stats = st;
    int rc = check_attached(s, "sabre_snapshot_commit");
    if (rc)
        return rc;
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_commit: '%s' is a native view: workers "
                           "wrote the world directly, there is nothing to commit",
                           s->name);
    if ((rc = check_world(w, s, "sabre_snapshot_commit")))
        return rc;
    /* The world's component definitions must still match (they never
     * change, but a snapshot that came back from a process is re-checked). */
    sabre_colset_comp_t *ce =
        (sabre_colset_comp_t *)(s->base + ((sabre_colset_hdr_t *)s->base)->comps_off);
    for (uint32_t k = 0; k < s->ncomps; k++) {
        sabre_component_t c = s->comps[k].comp;
        if (c >= w->ncomps || !w->comps[c].layout || w->comps[c].layout->hash != ce[k].layout_hash)
            return sabre__fail(SABRE_ELAYOUT,
                               "sabre_snapshot_commit: component %u of snapshot "
                               "'%s' does not match the world's layout",
                               c, s->name);
        for (uint32_t j = s->comps[k].first_col; j < s->comps[k].first_col + s->comps[k].ncols; j++)
            if (s->layout_col[j] >= w->comps[c].ncols ||
                w->comps[c].layout->columns[s->layout_col[j]].size != s->elem[j])
                return sabre__fail(SABRE_ELAYOUT,
                                   "sabre_snapshot_commit: column %u of snapshot "
                                   "'%s' does not match component '%s'",
                                   j, s->name, w->comps[c].name);
    }
    s->last_fast = false;
    if (fast_path_ok(w, s)) {
        commit_fast(w, s, &st);
        s->last_fast = true;
        if (stats)
            *stats = st;
        return SABRE_OK;
    }
    for (uint32_t k = 0; k < s->ncomps; k++) {
        const snap_comp_t *sc = &s->comps[k];
        const _Atomic uint64_t *bits = sc->bits;
        if (!sc->write) {
            uint64_t words = (s->rows + 63) / 64;
            for (uint64_t x = 0; x < words; x++) {
                uint64_t m = atomic_load_explicit(&bits[x], memory_order_relaxed);
                if (x == words - 1 && (s->rows & 63))
                    m &= (1ull << (s->rows & 63)) - 1;
                st.skipped_readonly += (uint64_t)__builtin_popcountll(m);
            }
            continue;
        }
        uint32_t last_table = UINT32_MAX;
        int ci = -1;
        uint64_t i = next_set(s, bits, 0);
        while (i < s->rows) {
            sabre_entity_t e = s->ents[i];
            ecs_record_t *r = (e & SABRE_ENTITY_PENDING_BIT) ? NULL : sabre__ecs_record(w, e);
            if (!r) {
                st.skipped_dead++;
                i = next_set(s, bits, i + 1);
                continue;
            }
            if (r->table != last_table) {
                last_table = r->table;
                ci = sabre__table_comp_index(w->tables[r->table], sc->comp);
            }
            if (ci < 0) {
                st.skipped_missing++;
                i = next_set(s, bits, i + 1);
                continue;
            }
            ecs_table_t *t = w->tables[r->table];
            ecs_chunk_t *ch = t->chunks[r->chunk];
            uint32_t row = r->row, chunk = r->chunk;
            /* Extend a run of snapshot rows that map to consecutive chunk rows. */
            uint64_t len = 1;
            while (i + len < s->rows && row + len < ch->count && sabre_bits_test(bits, i + len)) {
                sabre_entity_t e2 = s->ents[i + len];
                ecs_record_t *r2 =
                    (e2 & SABRE_ENTITY_PENDING_BIT) ? NULL : sabre__ecs_record(w, e2);
                if (!r2 || r2->table != last_table || r2->chunk != chunk || r2->row != row + len)
                    break;
                len++;
            }
            for (uint32_t j = sc->first_col; j < sc->first_col + sc->ncols; j++) {
                uint32_t es = s->elem[j];
                char *dst =
                    (char *)ch->cols[t->first_col[ci] + s->layout_col[j]] + (size_t)row * es;
                const char *src = (const char *)s->cols[j] + i * es;
                if (len == 1)
                    sabre__copy_elem(dst, src, es);
                else
                    memcpy(dst, src, len * es);
            }
            sabre_bits_mark_range(ch->bits[ci], row, len);
            if (!atomic_load_explicit(&ch->centries[ci].summary, memory_order_relaxed))
                atomic_store_explicit(&ch->centries[ci].summary, 1u, memory_order_relaxed);
            st.rows_written += len;
            i = next_set(s, bits, i + len);
        }
    }
    if (stats)
        *stats = st;
    return SABRE_OK;
}

void sabre_snapshot_free(sabre_snapshot_t *s)
{
    if (!s)
        return;
    unlink_snap(s);
    if (s->own_region && s->region)
        sabre_region_close(s->region);
    handle_free_arrays(s);
    free(s->blocks);
    free(s);
}

int sabre_snapshot_set_executor(sabre_snapshot_t *s, const sabre_snapshot_exec_t *exec)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_set_executor: snapshot is NULL");
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_set_executor: '%s' is a native view: it "
                           "has no build or commit to run",
                           s->name);
    if (exec)
        s->exec = *exec;
    else
        memset(&s->exec, 0, sizeof s->exec);
    return SABRE_OK;
}

void sabre__snapshot_force_slow(sabre_snapshot_t *s, bool on)
{
    if (s)
        s->force_slow = on;
}

void sabre__snapshot_set_grain(sabre_snapshot_t *s, uint32_t grain)
{
    if (s)
        s->grain = grain ? (uint32_t)SABRE_ALIGN_UP(grain, 64) : 0;
}

bool sabre__snapshot_last_fast(const sabre_snapshot_t *s)
{
    return s && s->last_fast;
}

/* ----------------------------------------------------------------- access */

sabre_snap_mode_t sabre_snapshot_mode(const sabre_snapshot_t *s)
{
    return s ? s->mode : SABRE_SNAP_SHARED;
}
bool sabre_snapshot_detached(const sabre_snapshot_t *s)
{
    return !s || s->detached;
}
uint64_t sabre_snapshot_rows(const sabre_snapshot_t *s)
{
    return s && !s->detached ? s->rows : 0;
}
uint32_t sabre_snapshot_ncomps(const sabre_snapshot_t *s)
{
    return s ? s->ncomps : 0;
}
sabre_component_t sabre_snapshot_comp(const sabre_snapshot_t *s, uint32_t i)
{
    return s && i < s->ncomps && s->comps ? s->comps[i].comp : SABRE_COMPONENT_NONE;
}

int sabre_snapshot_entities(const sabre_snapshot_t *s, const sabre_entity_t **out)
{
    int rc = check_attached(s, "sabre_snapshot_entities");
    if (rc)
        return rc;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_entities: out is NULL");
    *out = s->ents;
    return SABRE_OK;
}

static int find_comp(const sabre_snapshot_t *s, sabre_component_t c, const char *fn)
{
    for (uint32_t k = 0; k < s->ncomps; k++)
        if (s->comps[k].comp == c)
            return (int)k;
    return sabre__fail(SABRE_ENOENT, "%s: component %u is not in snapshot '%s'", fn, c, s->name);
}

static void *col_ptr(const sabre_snapshot_t *s, uint32_t j)
{
    return (char *)s->cols[j] + (size_t)s->view_first * s->elem[j];
}

int sabre_snapshot_column(const sabre_snapshot_t *s, sabre_component_t c, const char *name,
                          void **out)
{
    int rc = check_attached(s, "sabre_snapshot_column");
    if (rc)
        return rc;
    if (!name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_column: NULL argument");
    int k = find_comp(s, c, "sabre_snapshot_column");
    if (k < 0)
        return k;
    const snap_comp_t *sc = &s->comps[k];
    for (uint32_t j = sc->first_col; j < sc->first_col + sc->ncols; j++) {
        if (strcmp(s->col_names[j], name) == 0) {
            *out = col_ptr(s, j);
            return SABRE_OK;
        }
    }
    return sabre__fail(SABRE_ENOENT,
                       "sabre_snapshot_column: snapshot '%s' has no column '%s' of "
                       "component %u",
                       s->name, name, c);
}

int sabre_snapshot_column_at(const sabre_snapshot_t *s, sabre_component_t c, uint32_t i, void **out,
                             sabre_scalar_t *type)
{
    int rc = check_attached(s, "sabre_snapshot_column_at");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_column_at");
    if (k < 0)
        return k;
    if (i >= s->comps[k].ncols)
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_column_at: component %u has %u columns "
                           "in snapshot '%s', not %u",
                           c, s->comps[k].ncols, s->name, i + 1);
    uint32_t j = s->comps[k].first_col + i;
    if (out)
        *out = col_ptr(s, j);
    if (type)
        *type = (sabre_scalar_t)s->types[j];
    return SABRE_OK;
}

int sabre_snapshot_changed(const sabre_snapshot_t *s, sabre_component_t c, _Atomic uint64_t **out)
{
    int rc = check_attached(s, "sabre_snapshot_changed");
    if (rc)
        return rc;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_changed: out is NULL");
    int k = find_comp(s, c, "sabre_snapshot_changed");
    if (k < 0)
        return k;
    if (s->view_first % 64)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_changed: view '%s' starts at chunk row "
                           "%u, not a multiple of 64, so its rows are not whole "
                           "words: mark with sabre_snapshot_mark(_range)",
                           s->name, s->view_first);
    *out = s->comps[k].bits + s->view_first / 64;
    return SABRE_OK;
}

int sabre_snapshot_mark(sabre_snapshot_t *s, sabre_component_t c, uint64_t row)
{
    int rc = check_attached(s, "sabre_snapshot_mark");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_mark");
    if (k < 0)
        return k;
    if (row >= s->rows)
        return sabre__fail(SABRE_ERANGE, "sabre_snapshot_mark: row %llu of %llu",
                           (unsigned long long)row, (unsigned long long)s->rows);
    sabre_bits_mark(s->comps[k].bits, s->view_first + row);
    if (!atomic_load_explicit(s->comps[k].summary, memory_order_relaxed))
        atomic_store_explicit(s->comps[k].summary, 1u, memory_order_relaxed);
    return SABRE_OK;
}

int sabre_snapshot_mark_range(sabre_snapshot_t *s, sabre_component_t c, uint64_t first, uint64_t n)
{
    int rc = check_attached(s, "sabre_snapshot_mark_range");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_mark_range");
    if (k < 0)
        return k;
    if (first > s->rows || n > s->rows - first)
        return sabre__fail(SABRE_ERANGE, "sabre_snapshot_mark_range: rows [%llu, +%llu) of %llu",
                           (unsigned long long)first, (unsigned long long)n,
                           (unsigned long long)s->rows);
    sabre_bits_mark_range(s->comps[k].bits, s->view_first + first, n);
    if (n && !atomic_load_explicit(s->comps[k].summary, memory_order_relaxed))
        atomic_store_explicit(s->comps[k].summary, 1u, memory_order_relaxed);
    return SABRE_OK;
}

int sabre_snapshot_touch(sabre_snapshot_t *s, sabre_component_t c)
{
    int rc = check_attached(s, "sabre_snapshot_touch");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_touch");
    if (k < 0)
        return k;
    atomic_store_explicit(s->comps[k].summary, 1u, memory_order_relaxed);
    return SABRE_OK;
}

sabre_region_t *sabre_snapshot_region(const sabre_snapshot_t *s)
{
    return s && !s->detached ? s->region : NULL;
}

int sabre_snapshot_object(const sabre_snapshot_t *s, sabre_object_t *out)
{
    int rc = check_attached(s, "sabre_snapshot_object");
    if (rc)
        return rc;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_object: out is NULL");
    uint64_t off = sabre_region_offset(s->region, s->base);
    uint32_t n = sabre_region_count(s->region);
    for (uint32_t i = 0; i < n; i++) {
        if (sabre_region_object_at(s->region, i, out) == SABRE_OK && out->offset == off)
            return SABRE_OK;
    }
    return sabre__fail(SABRE_ENOENT, "snapshot '%s': object not found in its region", s->name);
}

/* A handle on object `name` of `region` (a process that maps the region but
 * has no world): the object must be of `kind`, its column set must carry
 * `magic` and validate. */
static int open_in_region(sabre_region_t *region, const char *name, uint32_t kind, uint64_t magic,
                          const char *what, sabre_snapshot_t **out)
{
    if (!region || !name || !out)
        return sabre__fail(SABRE_EINVAL, "%s: NULL argument", what);
    *out = NULL;
    sabre_object_t obj;
    int rc = sabre_region_find(region, name, NULL, &obj);
    if (rc)
        return rc;
    if (obj.kind != kind)
        return sabre__fail(SABRE_EINVAL, "object '%s' is a %s, not a %s", name,
                           sabre_object_kind_name(obj.kind),
                           kind == SABRE_OBJ_TABLE ? "table chunk" : "snapshot");
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    sabre__strlcpy(s->name, name, sizeof s->name);
    if ((rc = attach(s, obj.ptr, obj.size, magic))) {
        free(s);
        return rc;
    }
    s->region = region;
    s->own_region = false;
    s->world = NULL;
    s->opened = true;
    *out = s;
    return SABRE_OK;
}

/* Narrow an attached chunk handle to the native view of rows
 * [first, first + count) (the caller checked the range). */
static void narrow_to_view(sabre_snapshot_t *s, uint32_t first, uint32_t count)
{
    s->mode = SABRE_SNAP_NATIVE;
    s->view_first = first;
    s->rows = count;
    s->ents += first;
}

int sabre_snapshot_open(sabre_region_t *region, const char *name, sabre_snapshot_t **out)
{
    return open_in_region(region, name, SABRE_OBJ_SNAPSHOT, SABRE_COLSET_SNAP_MAGIC,
                          "sabre_snapshot_open", out);
}

int sabre_snapshot_open_view(sabre_region_t *region, const char *name, uint32_t first,
                             uint32_t count, sabre_snapshot_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_open_view: NULL argument");
    *out = NULL;
    sabre_snapshot_t *s;
    int rc = open_in_region(region, name, SABRE_OBJ_TABLE, SABRE_COLSET_CHUNK_MAGIC,
                            "sabre_snapshot_open_view", &s);
    if (rc)
        return rc;
    /* attach() read the chunk's row count (acquire) */
    if (first > s->rows || count > s->rows - first) {
        uint64_t have = s->rows;
        sabre_snapshot_free(s);
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_open_view: rows [%u, %llu) outside the "
                           "%llu rows of chunk '%s'",
                           first, (unsigned long long)first + count, (unsigned long long)have,
                           name);
    }
    narrow_to_view(s, first, count);
    *out = s;
    return SABRE_OK;
}

/* --------------------------------------------------------- transfer mode */

int sabre_snapshot_transfer(sabre_snapshot_t *s, sabre_snapshot_t **moved)
{
    int rc = check_attached(s, "sabre_snapshot_transfer");
    if (rc)
        return rc;
    if (!moved)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_transfer: moved is NULL");
    if (s->mode != SABRE_SNAP_TRANSFER || !s->own_region)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_transfer: snapshot '%s' is not a "
                           "TRANSFER snapshot owning its buffers",
                           s->name);
    sabre_snapshot_t *m = calloc(1, sizeof *m);
    if (!m)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    sabre__strlcpy(m->name, s->name, sizeof m->name);
    if ((rc = attach(m, s->base, s->obj_size, SABRE_COLSET_SNAP_MAGIC))) {
        free(m);
        return rc;
    }
    m->rows = s->rows;
    m->opened = true;
    m->region = s->region;
    m->own_region = true;
    m->backing = s->backing;
    s->region = NULL;
    s->own_region = false;
    s->detached = true;
    *moved = m;
    return SABRE_OK;
}

int sabre_snapshot_give_back(sabre_snapshot_t *s, sabre_snapshot_t *m)
{
    if (!s || !m)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_give_back: NULL argument");
    if (!s->detached)
        return sabre__fail(SABRE_ESTATE, "sabre_snapshot_give_back: snapshot '%s' is not detached",
                           s->name);
    if (m->detached || !m->own_region)
        return sabre__fail(SABRE_EDETACHED, "sabre_snapshot_give_back: the returned handle does "
                                            "not hold the buffers");
    if (m->uid != s->uid)
        return sabre__fail(SABRE_ESTALE,
                           "sabre_snapshot_give_back: returned buffers belong to "
                           "snapshot %016llx, not %016llx",
                           (unsigned long long)m->uid, (unsigned long long)s->uid);
    int rc = attach(s, m->base, m->obj_size, SABRE_COLSET_SNAP_MAGIC);
    if (rc)
        return rc;
    s->region = m->region;
    s->own_region = true;
    s->detached = false;
    m->region = NULL;
    m->own_region = false;
    sabre_snapshot_free(m);
    return SABRE_OK;
}

int sabre_snapshot_send(sabre_snapshot_t *s, int sock)
{
    int rc = check_attached(s, "sabre_snapshot_send");
    if (rc)
        return rc;
    if (s->mode != SABRE_SNAP_TRANSFER || !s->own_region || sabre_region_fd(s->region) < 0)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_send: snapshot '%s' must be a TRANSFER "
                           "snapshot in its own MEMFD region",
                           s->name);
    snap_msg_t msg = {.magic = SNAP_MSG_MAGIC, .uid = s->uid};
    sabre__strlcpy(msg.name, s->name, sizeof msg.name);
    if ((rc = sabre_fd_send(sock, sabre_region_fd(s->region), &msg, sizeof msg)))
        return rc;
    sabre_region_close(s->region);
    s->region = NULL;
    s->own_region = false;
    s->detached = true;
    /* What comes back is a new mapping written by another process: commit
     * it through the entity ids (slow path), never the recorded blocks. */
    s->blocks_valid = false;
    return SABRE_OK;
}

static int recv_snapshot(int sock, sabre_snapshot_t *s)
{
    int fd = -1;
    snap_msg_t msg;
    size_t len = 0;
    int rc = sabre_fd_recv(sock, &fd, &msg, sizeof msg, &len);
    if (rc)
        return rc;
    if (len != sizeof msg || msg.magic != SNAP_MSG_MAGIC || fd < 0) {
        if (fd >= 0)
            close(fd);
        return sabre__fail(SABRE_ECORRUPT,
                           "snapshot message: %zu bytes, magic %016llx: not a "
                           "snapshot transfer",
                           len, (unsigned long long)(len >= 8 ? msg.magic : 0));
    }
    msg.name[SABRE_NAME_MAX - 1] = '\0';
    sabre_region_t *r;
    rc = sabre_region_open_fd(fd, 0, &r);
    close(fd);
    if (rc)
        return rc;
    sabre_object_t obj;
    if ((rc = sabre_region_find(r, msg.name, NULL, &obj))) {
        sabre_region_close(r);
        return rc;
    }
    sabre__strlcpy(s->name, msg.name, sizeof s->name);
    if (obj.kind != SABRE_OBJ_SNAPSHOT) {
        sabre_region_close(r);
        return sabre__fail(SABRE_ECORRUPT, "received object '%s' is not a snapshot", msg.name);
    }
    sabre_snapshot_t tmp = {0};
    sabre__strlcpy(tmp.name, msg.name, sizeof tmp.name);
    if ((rc = attach(&tmp, obj.ptr, obj.size, SABRE_COLSET_SNAP_MAGIC))) {
        sabre_region_close(r);
        return rc;
    }
    if (tmp.uid != msg.uid) {
        handle_free_arrays(&tmp);
        sabre_region_close(r);
        return sabre__fail(SABRE_ECORRUPT,
                           "received snapshot id %016llx differs from the "
                           "message's %016llx",
                           (unsigned long long)tmp.uid, (unsigned long long)msg.uid);
    }
    if (s->uid && s->uid != tmp.uid) {
        handle_free_arrays(&tmp);
        sabre_region_close(r);
        return sabre__fail(SABRE_ESTALE, "received snapshot %016llx, expected %016llx",
                           (unsigned long long)tmp.uid, (unsigned long long)s->uid);
    }
    handle_free_arrays(s);
    s->comps = tmp.comps;
    s->cols = tmp.cols;
    s->elem = tmp.elem;
    s->types = tmp.types;
    s->layout_col = tmp.layout_col;
    s->col_names = tmp.col_names;
    s->base = tmp.base;
    s->obj_size = tmp.obj_size;
    s->ncomps = tmp.ncomps;
    s->ncols = tmp.ncols;
    s->capacity = tmp.capacity;
    s->rows = tmp.rows;
    s->ents = tmp.ents;
    s->uid = tmp.uid;
    s->world_id = tmp.world_id;
    s->mode = tmp.mode;
    s->region = r;
    s->own_region = true;
    s->backing = SABRE_BACKING_MEMFD;
    s->detached = false;
    s->blocks_valid = false;
    return SABRE_OK;
}

int sabre_snapshot_recv(int sock, sabre_snapshot_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_recv: out is NULL");
    *out = NULL;
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    int rc = recv_snapshot(sock, s);
    if (rc) {
        free(s);
        return rc;
    }
    s->opened = true;
    *out = s;
    return SABRE_OK;
}

int sabre_snapshot_reattach(sabre_snapshot_t *s, int sock)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_reattach: snapshot is NULL");
    if (!s->detached)
        return sabre__fail(SABRE_ESTATE, "sabre_snapshot_reattach: snapshot '%s' is not detached",
                           s->name);
    return recv_snapshot(sock, s);
}

/* ----------------------------------------------------------- native view */

int sabre_snapshot_view(sabre_world_t *w, uint32_t table, uint32_t chunk, uint32_t first,
                        uint32_t count, sabre_snapshot_t **out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_view: NULL argument");
    *out = NULL;
    if (table >= w->ntables || chunk >= w->tables[table]->nchunks)
        return sabre__fail(SABRE_ENOENT, "sabre_snapshot_view: no chunk %u of table %u", chunk,
                           table);
    ecs_chunk_t *ch = w->tables[table]->chunks[chunk];
    if (first > ch->count || count > ch->count - first)
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_view: rows [%u, %u) outside the chunk's "
                           "%u rows",
                           first, first + count, ch->count);
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    snprintf(s->name, sizeof s->name, "%s", ch->obj.name);
    int rc = attach(s, ch->obj.ptr, ch->obj.size, SABRE_COLSET_CHUNK_MAGIC);
    if (rc) {
        free(s);
        return rc;
    }
    narrow_to_view(s, first, count);
    s->region = w->region;
    s->own_region = false;
    link_snap(w, s);
    *out = s;
    return SABRE_OK;
}
