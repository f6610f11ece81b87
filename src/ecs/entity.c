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

int sabre_entity_create_with(sabre_world_t *w, const sabre_component_t *comps,
                             const void *const *values, uint32_t n, sabre_entity_t *out)
{
    if (!w || !out || (n && !comps))
        return sabre__fail(SABRE_EINVAL, "sabre_entity_create_with: NULL argument");
    uint32_t tid = 0;
    int rc;
    bool sparse = false;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = check_comp(w, comps[i], "sabre_entity_create_with")))
            return rc;
        const ecs_table_t *t = w->tables[tid];
        uint32_t c = comps[i];
        if (w->comps[c].sp) {
            sparse = true;
            for (uint32_t j = 0; j < i; j++)
                if (comps[j] == c)
                    return sabre__fail(SABRE_EINVAL,
                                       "sabre_entity_create_with: component '%s' listed twice",
                                       w->comps[c].name);
            continue;
        }
        if (t->mask[c >> 6] >> (c & 63) & 1)
            return sabre__fail(SABRE_EINVAL,
                               "sabre_entity_create_with: component '%s' listed twice",
                               w->comps[c].name);
        ecs_edge_t *e;
        if ((rc = sabre__edge_get(w, tid, c, 1, &e)))
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
            if (!w->comps[comps[i]].sp)
                vals[sabre__table_comp_index(t, comps[i])] = values[i];
    }
    rc = sabre__place_new(w, tid, vals, out);
    if (vals && vals != stackv)
        free(vals);
    if (rc)
        return rc;
    sabre_entity_t e = *out;
    for (uint32_t i = 0; sparse && i < n; i++) {
        const ecs_comp_t *cp = &w->comps[comps[i]];
        if (cp->sp && (rc = sparse_insert(cp, e, values ? values[i] : NULL))) {
            char why[256];
            sabre__strlcpy(why, sabre_last_error(), sizeof why);
            sabre__entity_destroy_quiet(w, e);
            *out = SABRE_ENTITY_NULL;
            return sabre__fail(rc, "sabre_entity_create_with: %s", why);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if (w->comps[comps[i]].on_add)
            sabre__run_on_add(w, e, comps[i]);
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
    ecs_edge_t *edge;
    if ((rc = sabre__edge_get(w, r->table, c, 1, &edge)))
        return rc;
    if ((rc = entity_move(w, r, e, edge)))
        return rc;
    ecs_table_t *dst = w->tables[r->table];
    if (w->comps[c].ncols) {
        int ci = sabre__table_comp_index(dst, c);
        pack_value(w, dst, dst->chunks[r->chunk], (uint32_t)ci, r->row, value);
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
    ecs_edge_t *edge;
    if ((rc = sabre__edge_get(w, r->table, c, 0, &edge)))
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
