/*
 * handle.c - snapshot handles: validation of a column set, linkage to the world, accessors.
 * The column-set byte layout (shared with table chunks) is in docs/abi.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshot/snapshot_internal.h"

/* ------------------------------------------------------------ validation */

/* Fill the handle's arrays from a validated column set at base. */
int sabre__snap_attach(sabre_snapshot_t *s, uint8_t *base, uint64_t size, uint64_t magic)
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
        comps[i].name = h->names_len ? blob + ce[i].name_off : ""; /* validated: NUL-ended blob */
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

void sabre__snap_handle_free_arrays(sabre_snapshot_t *s)
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

static void snap_world_gone(sabre__world_dep_t *d)
{
    sabre_snapshot_t *s = (sabre_snapshot_t *)((char *)d - offsetof(sabre_snapshot_t, dep));
    s->world = NULL;
    s->linked = false;
    if (s->mode == SABRE_SNAP_NATIVE) {
        /* The view's memory belonged to the world. */
        s->detached = true;
        s->region = NULL;
    }
}

void sabre__snap_link(sabre_world_t *w, sabre_snapshot_t *s)
{
    s->world = w;
    s->dep.world_gone = snap_world_gone;
    sabre__world_dep_link(w, &s->dep);
    s->linked = true;
}

void sabre__snap_unlink(sabre_snapshot_t *s)
{
    if (!s->linked || !s->world)
        return;
    sabre__world_dep_unlink(s->world, &s->dep);
    s->linked = false;
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
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_entities");
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
    /* Name the component (the world knows it; a worker process has no
     * world) and the ones the snapshot holds. */
    char held[160] = "";
    size_t len = 0;
    for (uint32_t k = 0; k < s->ncomps && len < sizeof held; k++)
        len += (size_t)snprintf(held + len, sizeof held - len, "%s%s (id %u)", k ? ", " : "",
                                s->comps[k].name, s->comps[k].comp);
    const char *cname = s->world ? sabre_component_name(s->world, c) : NULL;
    if (cname)
        return sabre__fail(SABRE_ENOENT,
                           "%s: component '%s' (id %u) is not in snapshot '%s'; it "
                           "holds %s",
                           fn, cname, c, s->name, held);
    return sabre__fail(SABRE_ENOENT, "%s: component id %u is not in snapshot '%s'; it holds %s", fn,
                       c, s->name, held);
}

static void *col_ptr(const sabre_snapshot_t *s, uint32_t j)
{
    return (char *)s->cols[j] + (size_t)s->view_first * s->elem[j];
}

int sabre_snapshot_column(const sabre_snapshot_t *s, sabre_component_t c, const char *name,
                          void **out)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_column");
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
                       "component '%s'",
                       s->name, name, sc->name);
}

int sabre_snapshot_column_at(const sabre_snapshot_t *s, sabre_component_t c, uint32_t i, void **out,
                             sabre_scalar_t *type)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_column_at");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_column_at");
    if (k < 0)
        return k;
    if (i >= s->comps[k].ncols)
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_column_at: component '%s' has %u columns "
                           "in snapshot '%s', not %u",
                           s->comps[k].name, s->comps[k].ncols, s->name, i + 1);
    uint32_t j = s->comps[k].first_col + i;
    if (out)
        *out = col_ptr(s, j);
    if (type)
        *type = (sabre_scalar_t)s->types[j];
    return SABRE_OK;
}

int sabre_snapshot_changed(const sabre_snapshot_t *s, sabre_component_t c, _Atomic uint64_t **out)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_changed");
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
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_mark");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_mark");
    if (k < 0)
        return k;
    if (row >= s->rows)
        return sabre__fail(SABRE_ERANGE, "sabre_snapshot_mark: row %llu of %llu",
                           (unsigned long long)row, (unsigned long long)s->rows);
    sabre_bits_mark(s->comps[k].bits, s->view_first + row);
    sabre__summary_any(s->comps[k].summary);
    return SABRE_OK;
}

int sabre_snapshot_mark_range(sabre_snapshot_t *s, sabre_component_t c, uint64_t first, uint64_t n)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_mark_range");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_mark_range");
    if (k < 0)
        return k;
    if (first > s->rows || n > s->rows - first)
        return sabre__fail(SABRE_ERANGE, "sabre_snapshot_mark_range: rows [%llu, +%llu) of %llu",
                           (unsigned long long)first, (unsigned long long)n,
                           (unsigned long long)s->rows);
    sabre__snap_mark_bits(s->comps[k].bits, s->view_first + first, n);
    if (n)
        sabre__summary_any(s->comps[k].summary);
    return SABRE_OK;
}

int sabre_snapshot_touch(sabre_snapshot_t *s, sabre_component_t c)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_touch");
    if (rc)
        return rc;
    int k = find_comp(s, c, "sabre_snapshot_touch");
    if (k < 0)
        return k;
    atomic_store_explicit(s->comps[k].summary, SABRE_SUMMARY_ANY, memory_order_relaxed);
    return SABRE_OK;
}

sabre_region_t *sabre_snapshot_region(const sabre_snapshot_t *s)
{
    return s && !s->detached ? s->region : NULL;
}

int sabre_snapshot_object(const sabre_snapshot_t *s, sabre_object_t *out)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_object");
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
int sabre__snap_open_in_region(sabre_region_t *region, const char *name, uint32_t kind,
                               uint64_t magic, const char *what, sabre_snapshot_t **out)
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
    if ((rc = sabre__snap_attach(s, obj.ptr, obj.size, magic))) {
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
void sabre__snap_narrow_to_view(sabre_snapshot_t *s, uint32_t first, uint32_t count)
{
    s->mode = SABRE_SNAP_NATIVE;
    s->view_first = first;
    s->rows = count;
    s->ents += first;
}

int sabre_snapshot_open(sabre_region_t *region, const char *name, sabre_snapshot_t **out)
{
    return sabre__snap_open_in_region(region, name, SABRE_OBJ_SNAPSHOT, SABRE_COLSET_SNAP_MAGIC,
                                      "sabre_snapshot_open", out);
}

int sabre_snapshot_open_view(sabre_region_t *region, const char *name, uint32_t first,
                             uint32_t count, sabre_snapshot_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_open_view: NULL argument");
    *out = NULL;
    sabre_snapshot_t *s;
    int rc = sabre__snap_open_in_region(region, name, SABRE_OBJ_TABLE, SABRE_COLSET_CHUNK_MAGIC,
                                        "sabre_snapshot_open_view", &s);
    if (rc)
        return rc;
    /* sabre__snap_attach() read the chunk's row count (acquire) */
    if (first > s->rows || count > s->rows - first) {
        uint64_t have = s->rows;
        sabre_snapshot_free(s);
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_open_view: rows [%u, %llu) outside the "
                           "%llu rows of chunk '%s'",
                           first, (unsigned long long)first + count, (unsigned long long)have,
                           name);
    }
    sabre__snap_narrow_to_view(s, first, count);
    *out = s;
    return SABRE_OK;
}
