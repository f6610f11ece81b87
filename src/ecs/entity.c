/*
 * entity.c - entities: records, create/destroy, add/remove/get/set, hooks, changed marks.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

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
        p = sabre__plat_big_alloc(newb);
        if (!p)
            return sabre__fail_errno(errno, "cannot map %zu bytes of entity records", newb);
        memcpy(p, w->records, oldb);
        free(w->records);
    } else {
        p = sabre__plat_big_realloc(w->records, oldb, newb);
        if (!p)
            return sabre__fail_errno(errno, "cannot grow entity records to %zu bytes", newb);
    }
    if (newb >= RECORDS_MAP_MIN)
        sabre__plat_advise_huge(p, newb);
    w->records = p;
    w->records_cap = (uint32_t)ncap;
    return SABRE_OK;
}

void sabre__records_free(sabre_world_t *w)
{
    size_t b = (size_t)w->records_cap * sizeof *w->records;
    if (b >= RECORDS_MAP_MIN)
        sabre__plat_big_free(w->records, b);
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
int sabre__place_new(sabre_world_t *w, uint32_t tid, const void *const *vals_by_ci,
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
    return sabre__place_new(w, 0, NULL, out);
}

static void value_of(const sabre_world_t *w, const ecs_table_t *t, const ecs_chunk_t *ch,
                     uint32_t ci, uint32_t row, void *buf)
{
    const ecs_comp_t *c = &w->comps[t->comps[ci]];
    if (c->ncols)
        sabre_layout_unpack(c->layout, (const void *const *)(ch->cols + t->first_col[ci]), row,
                            buf);
}

/* Copy (e, c)'s current AoS value into buf (cp->size bytes); false if e
 * is dead or lacks c. */
static bool current_value(const sabre_world_t *w, sabre_entity_t e, sabre_component_t c, void *buf)
{
    const ecs_comp_t *cp = &w->comps[c];
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (!r)
        return false;
    if (cp->sp) {
        uint32_t d = sabre__sparse_find(cp->sp, SABRE_ENTITY_INDEX(e));
        if (d == SPARSE_NONE)
            return false;
        if (cp->ncols)
            sabre_layout_unpack(cp->layout, (const void *const *)cp->sp->cols, d, buf);
        return true;
    }
    ecs_table_t *t = w->tables[r->table];
    int ci = sabre__table_comp_index(t, c);
    if (ci < 0)
        return false;
    value_of(w, t, t->chunks[r->chunk], (uint32_t)ci, r->row, buf);
    return true;
}

static void run_hook(sabre_world_t *w, sabre_entity_t e, sabre_component_t c, sabre_hook_fn fn)
{
    const ecs_comp_t *cp = &w->comps[c];
    uint8_t small[256];
    void *buf = cp->size <= sizeof small ? small : malloc(cp->size);
    if (!buf)
        return;
    if (current_value(w, e, c, buf))
        fn(w, e, c, buf, cp->hook_ctx);
    if (buf != small)
        free(buf);
}

/* Run on_add for component c of e (if any), passing its current value. */
void sabre__run_on_add(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    if (w->comps[c].on_add)
        run_hook(w, e, c, w->comps[c].on_add);
}

static void run_on_remove(sabre_world_t *w, sabre_entity_t e, sabre_component_t c)
{
    run_hook(w, e, c, w->comps[c].on_remove);
}

/* Resolve a component list for creation: validate it (known ids, no
 * duplicates), find its table, map each listed component to its table
 * component index (-1: sparse).  Lists of up to SHAPE_MAX components are
 * cached in the world (one entry).  `ci` (n entries) is filled in either way. */
static int shape_resolve(sabre_world_t *w, const sabre_component_t *comps, uint32_t n,
                         const char *fn, ecs_shape_t *out, int32_t *ci)
{
    ecs_shape_t *sh = &w->shape;
    if (SABRE_LIKELY(sh->valid && sh->n == n && n <= SHAPE_MAX &&
                     memcmp(sh->comps, comps, n * sizeof *comps) == 0)) {
        *out = *sh;
        memcpy(ci, sh->ci, n * sizeof *ci);
        return SABRE_OK;
    }
    uint32_t tid = 0;
    int rc;
    bool sparse = false, hooks = false;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = check_comp(w, comps[i], fn)))
            return rc;
        const ecs_table_t *t = w->tables[tid];
        uint32_t c = comps[i];
        hooks |= w->comps[c].on_add != NULL;
        if (w->comps[c].sp) {
            sparse = true;
            for (uint32_t j = 0; j < i; j++)
                if (comps[j] == c)
                    return sabre__fail(SABRE_EINVAL, "%s: component '%s' listed twice", fn,
                                       w->comps[c].name);
            continue;
        }
        if (t->mask[c >> 6] >> (c & 63) & 1)
            return sabre__fail(SABRE_EINVAL, "%s: component '%s' listed twice", fn,
                               w->comps[c].name);
        ecs_edge_t *e;
        if ((rc = sabre__edge_get(w, tid, c, 1, &e)))
            return rc;
        tid = e->dst;
    }
    const ecs_table_t *t = w->tables[tid];
    for (uint32_t i = 0; i < n; i++)
        ci[i] = w->comps[comps[i]].sp ? -1 : sabre__table_comp_index(t, comps[i]);
    out->n = n;
    out->tid = tid;
    out->sparse = sparse;
    out->hooks = hooks;
    out->valid = true;
    if (n <= SHAPE_MAX) {
        memcpy(out->comps, comps, n * sizeof *comps);
        memcpy(out->ci, ci, n * sizeof *ci);
        *sh = *out;
    }
    return SABRE_OK;
}

/* Insert e into the sparse sets of a list (values as given, NULL =
 * defaults); on failure e is destroyed and the error names fn. */
static int place_sparse(sabre_world_t *w, const sabre_component_t *comps, const int32_t *ci,
                        const void *const *values, uint32_t n, uint64_t stride_i, sabre_entity_t e,
                        const char *fn)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ci[i] >= 0)
            continue;
        const ecs_comp_t *cp = &w->comps[comps[i]];
        const void *v = values && values[i] ? (const char *)values[i] + stride_i * cp->size : NULL;
        int rc = sparse_insert(cp, e, v);
        if (rc) {
            char why[256];
            sabre__strlcpy(why, sabre_last_error(), sizeof why);
            sabre__entity_destroy_quiet(w, e);
            return sabre__fail(rc, "%s: %s", fn, why);
        }
    }
    return SABRE_OK;
}

/* The cached shape if it is this list (no copy), else NULL. */
static inline const ecs_shape_t *shape_hit(const sabre_world_t *w, const sabre_component_t *comps,
                                           uint32_t n)
{
    const ecs_shape_t *sh = &w->shape;
    if (!sh->valid || sh->n != n || n > SHAPE_MAX)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        if (sh->comps[i] != comps[i])
            return NULL;
    return sh;
}

int sabre_entity_create_with(sabre_world_t *w, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, sabre_entity_t *out)
{
    if (SABRE_UNLIKELY(!w || !out || (n && !comps)))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_create_with: NULL argument");
    ecs_shape_t scratch;
    int32_t stackci[SHAPE_MAX];
    int32_t *own = NULL;
    const ecs_shape_t *sh = shape_hit(w, comps, n);
    const int32_t *ci;
    int rc = SABRE_OK;
    if (SABRE_LIKELY(sh != NULL)) {
        ci = sh->ci;
    } else {
        int32_t *buf = n <= SHAPE_MAX ? stackci : (own = malloc(n * sizeof *own));
        if (!buf)
            return sabre__fail(SABRE_ENOMEM, "out of memory");
        if ((rc = shape_resolve(w, comps, n, "sabre_entity_create_with", &scratch, buf)))
            goto done;
        sh = &scratch;
        ci = buf;
    }
    /* Place the row: every table component of the table is listed once. */
    uint32_t idx = 0;
    if ((rc = record_alloc(w, &idx)))
        goto done;
    ecs_record_t *r = &w->records[idx];
    sabre_entity_t e = (uint64_t)r->gen << 32 | idx;
    uint32_t tid = sh->tid;
    bool sparse = sh->sparse, hooks = sh->hooks;
    ecs_table_t *t = w->tables[tid];
    uint32_t chi = 0, row = 0;
    if ((rc = table_append(w, t, e, &chi, &row))) {
        r->table = NO_TABLE;
        r->row = w->free_head;
        w->free_head = idx;
        goto done;
    }
    ecs_chunk_t *ch = t->chunks[chi];
    for (uint32_t i = 0; i < n; i++)
        if (ci[i] >= 0)
            pack_value(w, t, ch, (uint32_t)ci[i], row, values ? values[i] : NULL);
    mark_row_all(t, ch, row);
    r->table = tid;
    r->chunk = chi;
    r->row = row;
    w->alive++;
    if (SABRE_UNLIKELY(sparse) &&
        (rc = place_sparse(w, comps, ci, values, n, 0, e, "sabre_entity_create_with")))
        goto done;
    *out = e;
    if (SABRE_UNLIKELY(hooks)) /* hooks may create entities: the cache may change */
        for (uint32_t i = 0; i < n; i++)
            if (w->comps[comps[i]].on_add)
                sabre__run_on_add(w, e, comps[i]);
done:
    free(own);
    return rc;
}

/* Copy `count` AoS values (stride = layout size) of a component into its
 * columns at rows [row, row + count) (defaults for every row if src NULL). */
static void pack_run(const ecs_comp_t *c, void *const *cols, uint32_t row, uint64_t count,
                     const uint8_t *src)
{
    const sabre_layout_t *l = c->layout;
    size_t stride = src ? c->size : 0;
    if (!src)
        src = c->defaults;
    for (uint32_t j = 0; j < l->ncolumns; j++) {
        const sabre_column_t *lc = &l->columns[j];
        uint8_t *dst = (uint8_t *)cols[j] + (size_t)row * lc->size;
        const uint8_t *s = src + lc->offset;
        if (lc->type == SABRE_BOOL) {
            for (uint64_t i = 0; i < count; i++)
                dst[i] = s[i * stride] != 0;
            continue;
        }
        switch (lc->size) {
        case 4:
            for (uint64_t i = 0; i < count; i++)
                memcpy(dst + i * 4, s + i * stride, 4);
            break;
        case 8:
            for (uint64_t i = 0; i < count; i++)
                memcpy(dst + i * 8, s + i * stride, 8);
            break;
        case 2:
            for (uint64_t i = 0; i < count; i++)
                memcpy(dst + i * 2, s + i * stride, 2);
            break;
        default:
            for (uint64_t i = 0; i < count; i++)
                dst[i] = s[i * stride];
            break;
        }
    }
}

int sabre_entity_create_many(sabre_world_t *w, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, uint64_t count,
                             sabre_entity_t *out)
{
    if (!w || !out || (n && !comps))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_create_many: NULL argument");
    if (count > (uint64_t)(NO_INDEX - 1) - w->alive)
        return sabre__fail(SABRE_ENOSPC,
                           "sabre_entity_create_many: %llu entities do not fit the index space",
                           (unsigned long long)count);
    ecs_shape_t sh;
    int32_t stackci[SHAPE_MAX];
    int32_t *ci = n <= SHAPE_MAX ? stackci : malloc(n * sizeof *ci);
    if (!ci)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    int rc = shape_resolve(w, comps, n, "sabre_entity_create_many", &sh, ci);
    ecs_table_t *t = rc ? NULL : w->tables[sh.tid];
    uint64_t made = 0;
    while (!rc && made < count) {
        /* A run of rows in the tail chunk (a new chunk when it is full). */
        if (t->nchunks == 0) {
            if ((rc = sabre__chunk_alloc(w, t)))
                break;
            t->tail = 0;
        }
        ecs_chunk_t *ch = t->chunks[t->tail];
        if (ch->count == ch->cap) {
            if (t->tail + 1 == t->nchunks && (rc = sabre__chunk_alloc(w, t)))
                break;
            t->tail++;
            ch = t->chunks[t->tail];
        }
        uint32_t row0 = ch->count;
        uint64_t k = SABRE_MIN(count - made, (uint64_t)(ch->cap - row0));
        for (uint64_t i = 0; i < k; i++) {
            uint32_t idx = 0;
            if ((rc = record_alloc(w, &idx))) {
                k = i;
                break;
            }
            ecs_record_t *r = &w->records[idx];
            sabre_entity_t e = (uint64_t)r->gen << 32 | idx;
            ch->ents[row0 + i] = e;
            r->table = sh.tid;
            r->chunk = t->tail;
            r->row = row0 + (uint32_t)i;
            out[made + i] = e;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (ci[i] < 0 || !w->comps[comps[i]].ncols)
                continue;
            const ecs_comp_t *cp = &w->comps[comps[i]];
            pack_run(cp, ch->cols + t->first_col[ci[i]], row0, k,
                     values && values[i] ? (const uint8_t *)values[i] + made * cp->size : NULL);
        }
        for (uint32_t c = 0; c < t->ncomps && k; c++) {
            sabre_bits_mark_range(ch->bits[c], row0, k);
            sabre__summary_any(&ch->centries[c].summary);
        }
        ch->count += (uint32_t)k;
        t->count += k;
        w->alive += k;
        atomic_store_explicit(&ch->hdr->rows, ch->count, memory_order_release);
        if (SABRE_UNLIKELY(sh.sparse))
            for (uint64_t i = 0; i < k && !rc; i++)
                rc = place_sparse(w, comps, ci, values, n, made + i, ch->ents[row0 + i],
                                  "sabre_entity_create_many");
        made += k;
    }
    if (rc) {
        /* Undo: the entities made so far (place_sparse destroyed its own). */
        char why[256];
        sabre__strlcpy(why, sabre_last_error(), sizeof why);
        for (uint64_t i = 0; i < made; i++)
            if (sabre__ecs_record(w, out[i]))
                sabre__entity_destroy_quiet(w, out[i]);
        if (ci != stackci)
            free(ci);
        return sabre__fail(rc, "%s", why);
    }
    if (SABRE_UNLIKELY(sh.hooks))
        for (uint64_t e = 0; e < count; e++)
            for (uint32_t i = 0; i < n; i++)
                if (w->comps[comps[i]].on_add)
                    sabre__run_on_add(w, out[e], comps[i]);
    if (ci != stackci)
        free(ci);
    return SABRE_OK;
}

int sabre_entity_destroy(sabre_world_t *w, sabre_entity_t e)
{
    if (SABRE_UNLIKELY(!w))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_destroy: world is NULL");
    ecs_record_t *r = sabre__ecs_record(w, e);
    if (SABRE_UNLIKELY(!r))
        return sabre__stale(w, e, "sabre_entity_destroy");
    ecs_table_t *t = w->tables[r->table];
    if (SABRE_UNLIKELY(w->sparse_remove_hooks)) {
        for (uint32_t i = 0; i < w->nsparse; i++) {
            const ecs_comp_t *cp = &w->comps[w->sparse[i]];
            if (cp->on_remove && sabre__sparse_find(cp->sp, SABRE_ENTITY_INDEX(e)) != SPARSE_NONE)
                run_on_remove(w, e, w->sparse[i]);
        }
        r = sabre__ecs_record(w, e);
        if (!r)
            return SABRE_OK; /* a hook destroyed it */
        t = w->tables[r->table];
    }
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
    sabre__entity_destroy_quiet(w, e);
    return SABRE_OK;
}

/* Destroy live entity e without hooks: leave every sparse set, remove the
 * row, retire the id. */
void sabre__entity_destroy_quiet(sabre_world_t *w, sabre_entity_t e)
{
    uint32_t idx = SABRE_ENTITY_INDEX(e);
    ecs_record_t *r = &w->records[idx];
    for (uint32_t i = 0; i < w->nsparse; i++) {
        const ecs_comp_t *cp = &w->comps[w->sparse[i]];
        uint32_t d = sabre__sparse_find(cp->sp, idx);
        if (d != SPARSE_NONE)
            sparse_erase(cp, idx, d);
    }
    table_remove_row(w, w->tables[r->table], r->chunk, r->row);
    record_release(w, idx);
    w->alive--;
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
    if (SABRE_LIKELY(dst->elem4)) {
        for (uint32_t k = 0, nk = edge->ncopy; k < nk; k++)
            memcpy((char *)dch->cols[edge->copy[k][0]] + (size_t)dr * 4,
                   (char *)sch->cols[edge->copy[k][1]] + (size_t)sr * 4, 4);
    } else {
        for (uint32_t k = 0; k < edge->ncopy; k++) {
            uint32_t j = edge->copy[k][0], s = edge->copy[k][1];
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
        return sabre__stale(w, e, "sabre_add");
    const ecs_comp_t *cp = &w->comps[c];
    if (cp->sp) {
        if (sabre__sparse_find(cp->sp, SABRE_ENTITY_INDEX(e)) != SPARSE_NONE)
            return value ? sabre_set(w, e, c, value) : SABRE_OK;
        if ((rc = sparse_insert(cp, e, value)))
            return rc;
        if (cp->on_add)
            sabre__run_on_add(w, e, c);
        return SABRE_OK;
    }
    ecs_table_t *t = w->tables[r->table];
    if (t->mask[c >> 6] >> (c & 63) & 1)
        return value ? sabre_set(w, e, c, value) : SABRE_OK;
    ecs_edge_t *edge = edge_find(t, c << 1 | 1u);
    if (SABRE_UNLIKELY(!edge) && (rc = sabre__edge_get(w, r->table, c, 1, &edge)))
        return rc;
    if ((rc = entity_move(w, r, e, edge)))
        return rc;
    if (cp->ncols) {
        ecs_table_t *dst = w->tables[r->table];
        pack_value(w, dst, dst->chunks[r->chunk], (uint32_t)edge->add_ci, r->row, value);
    }
    if (w->comps[c].on_add)
        sabre__run_on_add(w, e, c);
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
        return sabre__stale(w, e, "sabre_remove");
    const ecs_comp_t *cp = &w->comps[c];
    if (cp->sp) {
        uint32_t idx = SABRE_ENTITY_INDEX(e);
        uint32_t d = sabre__sparse_find(cp->sp, idx);
        if (d == SPARSE_NONE)
            return SABRE_OK;
        if (cp->on_remove) {
            run_on_remove(w, e, c);
            if (!sabre__ecs_record(w, e) || (d = sabre__sparse_find(cp->sp, idx)) == SPARSE_NONE)
                return SABRE_OK; /* the hook destroyed the entity or removed c */
        }
        sparse_erase(cp, idx, d);
        return SABRE_OK;
    }
    if (!(w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1))
        return SABRE_OK;
    if (w->comps[c].on_remove) {
        run_on_remove(w, e, c);
        r = sabre__ecs_record(w, e);
        if (!r || !(w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1))
            return SABRE_OK; /* the hook destroyed the entity or removed c */
    }
    ecs_edge_t *edge = edge_find(w->tables[r->table], c << 1);
    if (SABRE_UNLIKELY(!edge) && (rc = sabre__edge_get(w, r->table, c, 0, &edge)))
        return rc;
    return entity_move(w, r, e, edge);
}

/* Locate (e, c): table, chunk, component index; for a sparse component *tp
 * is NULL and *cip its dense slot. */
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
        return sabre__stale(w, e, fn);
    const ecs_sparse_t *sp = w->comps[c].sp;
    ecs_table_t *t = NULL;
    int ci;
    if (sp) {
        uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(e));
        ci = d == SPARSE_NONE ? -1 : (int)d;
    } else {
        t = w->tables[r->table];
        ci = sabre__table_comp_index(t, c);
    }
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
    const ecs_comp_t *cp = &w->comps[c];
    if (cp->size && !out)
        return sabre__fail(SABRE_EINVAL, "sabre_get: out is NULL");
    if (!t) {
        if (cp->ncols)
            sabre_layout_unpack(cp->layout, (const void *const *)cp->sp->cols, (uint32_t)ci, out);
        return SABRE_OK;
    }
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
    const ecs_comp_t *cp = &w->comps[c];
    if (cp->size && !value)
        return sabre__fail(SABRE_EINVAL, "sabre_set: value is NULL");
    if (!t) {
        if (cp->ncols)
            sabre_layout_pack(cp->layout, value, cp->sp->cols, (uint32_t)ci);
        sabre__sparse_mark(cp->sp, (uint32_t)ci);
        return SABRE_OK;
    }
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
    if (!r)
        return false;
    if (w->comps[c].sp)
        return sabre__sparse_find(w->comps[c].sp, SABRE_ENTITY_INDEX(e)) != SPARSE_NONE;
    return w->tables[r->table]->mask[c >> 6] >> (c & 63) & 1;
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
    const ecs_comp_t *cp = &w->comps[c];
    if (column >= cp->ncols)
        return sabre__fail(SABRE_ERANGE, "sabre_field_ptr: component '%s' has %u columns, not %u",
                           cp->name, cp->ncols, column + 1);
    if (!t) {
        *out = sabre__sparse_elem(cp->sp, column, (uint32_t)ci, cp->layout->columns[column].size);
        return SABRE_OK;
    }
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
    if (!t)
        sabre__sparse_mark(w->comps[c].sp, (uint32_t)ci);
    else
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
    const ecs_sparse_t *sp = w->comps[c].sp;
    if (sp) {
        uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(e));
        return d != SPARSE_NONE && bit_test(sp->bits, d);
    }
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
        return sabre__stale(w, e, "sabre_entity_loc");
    out->table = r->table;
    out->chunk = r->chunk;
    out->row = r->row;
    return SABRE_OK;
}
