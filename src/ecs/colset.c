/*
 * colset.c - validation of the column-set format (table chunks and
 * snapshots) before any of its offsets is used.  Rules: docs/abi.md
 * ("ECS table chunks and snapshots").
 */
#include <stdbool.h>
#include <stdint.h>

#include "ecs/ecs_internal.h"

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
