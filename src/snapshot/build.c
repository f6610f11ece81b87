/*
 * build.c - building snapshots from a query: geometry, storage, the executor, fill.
 * The column-set byte layout (shared with table chunks) is in docs/abi.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshot/snapshot_internal.h"

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
        /* The same page policy as the world's own region (world.c): columns
         * are streamed, so transparent huge pages where the system allows
         * them.  Advice only, before any page is touched. */
        sabre__plat_advise_huge(sabre_region_base(r), (size_t)sabre_region_size(r));
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
void sabre__snap_run_ranges(const sabre_snapshot_t *s, size_t n, sabre_snapshot_range_fn fn,
                            void *ctx, void (*reset)(void *ctx))
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
uint32_t sabre__snap_block_find(const sabre_snapshot_t *s, uint64_t row)
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
static void fill_copy(const sabre_world_t *w, sabre_snapshot_t *s, const ecs_table_t *t,
                      const ecs_chunk_t *ch, uint32_t crow, uint64_t row, uint32_t n,
                      bool zero_missing)
{
    memcpy(s->ents + row, ch->ents + crow, (size_t)n * sizeof *s->ents);
    for (uint32_t k = 0; k < s->ncomps; k++) {
        if (sabre__snap_comp_sparse(w, s, k)) {
            sabre__snap_sparse_fill(w, s, k, row, n, zero_missing);
            continue;
        }
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
    for (uint32_t b = sabre__snap_block_find(s, begin); b < s->nblocks && s->blocks[b].start < end;
         b++) {
        const snap_block_t *bk = &s->blocks[b];
        uint64_t lo = SABRE_MAX((uint64_t)begin, bk->start);
        uint64_t hi = SABRE_MIN((uint64_t)end, bk->start + bk->count);
        if (lo >= hi)
            continue;
        const ecs_table_t *t = c->w->tables[bk->table];
        fill_copy(c->w, s, t, t->chunks[bk->chunk], bk->chunk_row + (uint32_t)(lo - bk->start), lo,
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

/* ---------------------------------------------------- incremental rebuild */

enum { ACT_NONE = 0, ACT_BITS = 1, ACT_FULL = 2 };

/* The episode state of (block b, snapshot component k)'s source. */
static const ecs_episodes_t *block_eps(const sabre_world_t *w, const sabre_snapshot_t *s,
                                       uint32_t b, uint32_t k, _Atomic uint32_t **summary)
{
    const snap_block_t *bk = &s->blocks[b];
    const ecs_table_t *t = w->tables[bk->table];
    int ci = sabre__table_comp_index(t, s->comps[k].comp);
    if (ci < 0)
        return NULL; /* zero-filled: the source has no such component */
    ecs_chunk_t *ch = t->chunks[bk->chunk];
    *summary = &ch->centries[ci].summary;
    return &ch->eps[ci];
}

/* Whether the episode in progress holds marks other than this snapshot's
 * own commits. */
static bool foreign_now(const sabre_snapshot_t *s, const ecs_episodes_t *ep, uint32_t sm)
{
    return sm == SABRE_SUMMARY_ANY ||
           (sm == SABRE_SUMMARY_COMMIT &&
            atomic_load_explicit(&ep->owner, memory_order_relaxed) != s->uid);
}

/* Record, after a fill, every (block, component)'s source episode state.
 * False (the fill then counts as not incremental-ready) without memory. */
static bool sync_record(const sabre_world_t *w, sabre_snapshot_t *s)
{
    size_t n = (size_t)s->nblocks * s->ncomps;
    if (n > s->sync_cap) {
        size_t cap = n + n / 2 + 16;
        uint64_t *v = realloc(s->sync_ver, cap * sizeof *v);
        if (v)
            s->sync_ver = v;
        uint8_t *d = realloc(s->sync_dirty, cap);
        if (d)
            s->sync_dirty = d;
        uint8_t *a = realloc(s->act, cap);
        if (a)
            s->act = a;
        if (!v || !d || !a || cap > UINT32_MAX)
            return false;
        s->sync_cap = (uint32_t)cap;
    }
    for (uint32_t b = 0; b < s->nblocks; b++)
        for (uint32_t k = 0; k < s->ncomps; k++) {
            _Atomic uint32_t *sm = NULL;
            const ecs_episodes_t *ep = block_eps(w, s, b, k, &sm);
            size_t x = (size_t)b * s->ncomps + k;
            s->sync_ver[x] = ep ? ep->ver : 0;
            s->sync_dirty[x] =
                ep && foreign_now(s, ep, atomic_load_explicit(sm, memory_order_relaxed));
        }
    return true;
}

/* What a rebuild must copy of (block b, component k): nothing when every
 * change to the source since the last fill was this snapshot's own commit;
 * the rows whose changed bits are set when only the episode in progress
 * holds other marks (its bits are all still there); everything when an
 * episode that ended since then held other marks (its bits are gone), or
 * when the fill itself saw other marks in the episode then in progress
 * (which of its bits came after the fill is unknown). */
static uint8_t classify(const sabre_world_t *w, const sabre_snapshot_t *s, uint32_t b, uint32_t k)
{
    _Atomic uint32_t *smp = NULL;
    const ecs_episodes_t *ep = block_eps(w, s, b, k, &smp);
    if (!ep)
        return ACT_NONE;
    size_t x = (size_t)b * s->ncomps + k;
    uint64_t v0 = s->sync_ver[x];
    if (ep->ver != v0 && (s->sync_dirty[x] || ep->run_owner != s->uid || ep->run_start > v0 + 1))
        return ACT_FULL;
    uint32_t sm = atomic_load_explicit(smp, memory_order_relaxed);
    if (ep->ver == v0 && s->sync_dirty[x])
        return ACT_BITS; /* copied at the fill; later marks are among the bits */
    return foreign_now(s, ep, sm) ? ACT_BITS : ACT_NONE;
}

/* Copy component k's columns of snapshot rows [row, row + n) from chunk
 * rows [crow, crow + n). */
static void copy_comp(sabre_snapshot_t *s, const ecs_table_t *t, const ecs_chunk_t *ch, int ci,
                      uint32_t k, uint32_t crow, uint64_t row, uint64_t n)
{
    for (uint32_t j = s->comps[k].first_col; j < s->comps[k].first_col + s->comps[k].ncols; j++) {
        uint32_t e = s->elem[j];
        memcpy((char *)s->cols[j] + row * e,
               (const char *)ch->cols[t->first_col[ci] + s->layout_col[j]] + (size_t)crow * e,
               (size_t)n * e);
    }
}

typedef struct inc_ctx {
    sabre_world_t *w;
    sabre_snapshot_t *s;
    _Atomic uint64_t copied;
} inc_ctx_t;

static void inc_reset(void *ctx)
{
    atomic_store_explicit(&((inc_ctx_t *)ctx)->copied, 0, memory_order_relaxed);
}

/* Executor job: the incremental copy of snapshot rows [begin, end). */
static int inc_range(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    inc_ctx_t *c = ctx;
    sabre_snapshot_t *s = c->s;
    uint64_t copied = 0;
    for (uint32_t b = sabre__snap_block_find(s, begin); b < s->nblocks && s->blocks[b].start < end;
         b++) {
        const snap_block_t *bk = &s->blocks[b];
        uint64_t lo = SABRE_MAX((uint64_t)begin, bk->start);
        uint64_t hi = SABRE_MIN((uint64_t)end, bk->start + bk->count);
        if (lo >= hi)
            continue;
        const ecs_table_t *t = c->w->tables[bk->table];
        const ecs_chunk_t *ch = t->chunks[bk->chunk];
        uint32_t crow = bk->chunk_row + (uint32_t)(lo - bk->start);
        for (uint32_t k = 0; k < s->ncomps; k++) {
            uint8_t a = s->act[(size_t)b * s->ncomps + k];
            if (a == ACT_NONE)
                continue;
            if (sabre__snap_comp_sparse(c->w, s, k)) {
                /* Sparse values have no episodes: always copied whole. */
                sabre__snap_sparse_fill(c->w, s, k, lo, hi - lo, true);
                copied += hi - lo;
                continue;
            }
            int ci = sabre__table_comp_index(t, s->comps[k].comp);
            if (a == ACT_FULL) {
                copy_comp(s, t, ch, ci, k, crow, lo, hi - lo);
                copied += hi - lo;
                continue;
            }
            /* ACT_BITS: runs of set changed bits of the source, found a
             * word at a time (chunk rows [crow, crow + n)) */
            const _Atomic uint64_t *bits = ch->bits[ci];
            uint64_t stop = (uint64_t)crow + (hi - lo);
            uint64_t r = sabre__snap_next_bit(bits, crow, stop, true);
            while (r < stop) {
                uint64_t e = sabre__snap_next_bit(bits, r + 1, stop, false);
                copy_comp(s, t, ch, ci, k, (uint32_t)r, lo + (r - crow), e - r);
                copied += e - r;
                r = sabre__snap_next_bit(bits, e, stop, true);
            }
        }
    }
    atomic_fetch_add_explicit(&c->copied, copied, memory_order_relaxed);
    return 0;
}

/* Whether the query still yields exactly the blocks of the last fill. */
static bool same_blocks(const sabre_snapshot_t *s, sabre_query_t *q)
{
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    uint32_t b = 0;
    while (sabre_iter_next(&it)) {
        if (it.count == 0)
            continue;
        if (b >= s->nblocks)
            return false;
        const snap_block_t *bk = &s->blocks[b++];
        if (bk->table != it.table || bk->chunk != it.chunk || bk->chunk_row != it.offset ||
            bk->count != it.count)
            return false;
    }
    return b == s->nblocks;
}

/* Rebuild by copying only what changed (see classify); false if the
 * snapshot cannot (no previous fill to build on, blocks changed), and the
 * caller fills everything.  `stale[k]`: the snapshot's own copy of
 * component k was written and not committed back, so it is all recopied. */
static bool fill_incremental(sabre_world_t *w, sabre_snapshot_t *s, sabre_query_t *q,
                             const bool *stale)
{
    if (!s->incremental || !s->blocks_valid || s->fill_epoch != w->struct_epoch ||
        s->fill_base != s->base || s->fill_rows != s->rows || !same_blocks(s, q))
        return false;
    bool any = false;
    for (uint32_t b = 0; b < s->nblocks; b++)
        for (uint32_t k = 0; k < s->ncomps; k++) {
            uint8_t a =
                stale[k] || sabre__snap_comp_sparse(w, s, k) ? ACT_FULL : classify(w, s, b, k);
            s->act[(size_t)b * s->ncomps + k] = a;
            any |= a != ACT_NONE;
        }
    inc_ctx_t c = {.w = w, .s = s};
    atomic_init(&c.copied, 0);
    if (any)
        sabre__snap_run_ranges(s, (size_t)s->rows, inc_range, &c, inc_reset);
    s->last_copied = atomic_load_explicit(&c.copied, memory_order_relaxed);
    s->committed = false;
    if (!sync_record(w, s))
        s->blocks_valid = false;
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
            fill_copy(w, s, w->tables[it.table], it.ch_, it.offset, row, n, zero_missing);
        row += n;
        if (row >= s->capacity)
            break;
    }
    s->rows = row;
    if (ok) {
        fill_ctx_t c = {.w = w, .s = s, .zero_missing = zero_missing};
        sabre__snap_run_ranges(s, (size_t)row, fill_range, &c, NULL);
        s->blocks_valid = true;
        s->fill_epoch = w->struct_epoch;
        s->fill_rows = row;
        s->fill_base = s->base;
        if (s->incremental)
            s->blocks_valid = sync_record(w, s);
    } else {
        /* The rows recorded before the failure were not copied yet. */
        for (uint32_t b = 0; b < s->nblocks; b++) {
            const snap_block_t *bk = &s->blocks[b];
            const ecs_table_t *t = w->tables[bk->table];
            fill_copy(w, s, t, t->chunks[bk->chunk], bk->chunk_row, bk->start, bk->count,
                      zero_missing);
        }
        s->nblocks = 0;
    }
    s->last_copied = row * s->ncomps;
    s->committed = false;
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
    if ((rc = sabre__snap_attach(s, base, osize, SABRE_COLSET_SNAP_MAGIC))) {
        if (s->own_region)
            sabre_region_close(s->region);
        free(s);
        return rc;
    }
    s->incremental = d->incremental;
    fill(w, s, q, false);
    sabre__snap_link(w, s);
    *out = s;
    return SABRE_OK;
}

int sabre__snap_check_attached(const sabre_snapshot_t *s, const char *fn)
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

int sabre__snap_check_world(const sabre_world_t *w, const sabre_snapshot_t *s, const char *fn)
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
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_rebuild");
    if (rc)
        return rc;
    if (!q)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_rebuild: query is NULL");
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_rebuild: a native view has nothing to "
                                         "rebuild");
    if ((rc = sabre__snap_check_world(w, s, "sabre_snapshot_rebuild")))
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
                                   .exec = s->exec,
                                   .incremental = s->incremental};
        sabre_snapshot_t *ns;
        if ((rc = sabre_snapshot_build(w, &d, q, &ns)))
            return rc;
        /* Swap the new storage into s, keep s's identity (uid changes). */
        sabre__snap_unlink(ns);
        sabre_region_t *old = s->region;
        sabre__snap_handle_free_arrays(s);
        sabre_snapshot_t keep = *s;
        *s = *ns;
        s->dep = keep.dep; /* s stays on the world's list at the same address */
        s->linked = keep.linked;
        s->world = keep.world;
        s->force_slow = keep.force_slow;
        s->grain = keep.grain;
        free(keep.blocks);
        free(keep.sync_ver);
        free(keep.sync_dirty);
        free(keep.act);
        free(ns);
        sabre_region_close(old);
        return SABRE_OK;
    }
    /* A component the snapshot's users marked but that was not written back
     * (read-only, or no commit since the fill) differs from its source. */
    bool stale[SNAP_MAX_COMPS];
    for (uint32_t k = 0; k < s->ncomps; k++) {
        stale[k] = atomic_load_explicit(s->comps[k].summary, memory_order_relaxed) &&
                   (!s->comps[k].write || !s->committed);
        memset((void *)s->comps[k].bits, 0, (s->capacity + 63) / 64 * 8);
        atomic_store_explicit(s->comps[k].summary, 0u, memory_order_relaxed);
    }
    ((sabre_colset_hdr_t *)s->base)->tick = w->tick;
    if (!fill_incremental(w, s, q, stale))
        fill(w, s, q, true);
    return SABRE_OK;
}
