/*
 * inspect_ecs.c - `sabre inspect` hooks for ECS table chunks and snapshots
 * (kinds SABRE_OBJ_TABLE and SABRE_OBJ_SNAPSHOT).  Both use the column-set
 * layout of docs/abi.md.  The region may be hostile or changing: the
 * metadata is copied once, validated as a copy, and only bounds-checked
 * data (entity ids, changed words) is read from the mapping afterwards.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ecs/ecs_internal.h"
#include "inspect_kinds.h"

/* Copy and validate the metadata of the column set in object o. */
static int load_meta(const sabre_object_t *o, uint64_t magic, uint8_t **out)
{
    *out = NULL;
    if (o->size < SABRE_COLSET_HEADER)
        return sabre__fail(SABRE_ECORRUPT,
                           "object '%s': %llu bytes, smaller than the %d-byte "
                           "column-set header",
                           o->name, (unsigned long long)o->size, SABRE_COLSET_HEADER);
    sabre_colset_hdr_t h;
    memcpy(&h, o->ptr, sizeof h);
    uint64_t end = SABRE_COLSET_HEADER, e;
    if (h.ncomps > SABRE_COLSET_MAX_COMPS || h.ncols > SABRE_COLSET_MAX_COLS)
        return sabre__fail(SABRE_ECORRUPT,
                           "object '%s': %u components / %u columns exceed the "
                           "limits",
                           o->name, h.ncomps, h.ncols);
    if (h.comps_off > o->size || h.cols_off > o->size || h.names_off > o->size ||
        h.names_len > o->size)
        return sabre__fail(SABRE_ECORRUPT, "object '%s': metadata offsets outside the object",
                           o->name);
    e = h.comps_off + (uint64_t)h.ncomps * SABRE_COLSET_COMP;
    end = e > end ? e : end;
    e = h.cols_off + (uint64_t)h.ncols * SABRE_COLSET_COL;
    end = e > end ? e : end;
    e = h.names_off + h.names_len;
    end = e > end ? e : end;
    if (end > o->size)
        return sabre__fail(SABRE_ECORRUPT,
                           "object '%s': metadata ends at %llu, beyond its %llu "
                           "bytes",
                           o->name, (unsigned long long)end, (unsigned long long)o->size);
    uint8_t *copy = malloc(end);
    if (!copy)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    memcpy(copy, o->ptr, end);
    memcpy(copy, &h, sizeof h); /* the header the bounds were computed from */
    /* Validate the copy: data offsets are checked against the object size
     * but only metadata (all inside the copy) is read. */
    int rc = sabre__colset_validate(copy, o->size, magic, o->name);
    if (rc) {
        free(copy);
        return rc;
    }
    *out = copy;
    return SABRE_OK;
}

static uint64_t count_changed(const sabre_object_t *o, uint64_t off, uint64_t rows)
{
    const _Atomic uint64_t *w = (const _Atomic uint64_t *)((const uint8_t *)o->ptr + off);
    uint64_t n = 0, words = (rows + 63) / 64;
    for (uint64_t x = 0; x < words; x++) {
        uint64_t m = atomic_load_explicit(&w[x], memory_order_relaxed);
        if (x == words - 1 && (rows & 63))
            m &= (1ull << (rows & 63)) - 1;
        n += (uint64_t)__builtin_popcountll(m);
    }
    return n;
}

static int describe(const sabre_object_t *o, FILE *out, bool json, uint64_t magic, bool snap)
{
    uint8_t *m;
    int rc = load_meta(o, magic, &m);
    if (rc)
        return rc;
    const sabre_colset_hdr_t *h = (const sabre_colset_hdr_t *)m;
    const sabre_colset_comp_t *ce = (const void *)(m + h->comps_off);
    const sabre_colset_col_t *co = (const void *)(m + h->cols_off);
    const char *names = (const char *)m + h->names_off;
    uint64_t rows = atomic_load_explicit(&((sabre_colset_hdr_t *)m)->rows, memory_order_relaxed);
    static const char *modes[] = {"shared", "transfer", "native"};
    const char *mode = h->mode < 3 ? modes[h->mode] : "?";
    if (json) {
        fprintf(out, "{\"format\":\"%s\",\"version\":\"%u.%u\",\"world_id\":\"0x%016llx\",",
                snap ? "snapshot" : "table_chunk", h->major, h->minor,
                (unsigned long long)h->world_id);
        if (snap)
            fprintf(out, "\"snapshot_id\":\"0x%016llx\",\"mode\":\"%s\",",
                    (unsigned long long)h->uid, mode);
        else
            fprintf(out, "\"table\":%u,\"chunk\":%u,\"first_row\":%llu,", h->table,
                    (unsigned)(h->uid & 0xffffffffu), (unsigned long long)h->first_row);
        fprintf(out, "\"tick\":%llu,\"capacity\":%llu,\"rows\":%llu,\"components\":[",
                (unsigned long long)h->tick, (unsigned long long)h->capacity,
                (unsigned long long)rows);
    } else {
        if (snap)
            fprintf(out, "    snapshot %016llx (%s mode) of world %016llx, tick %llu\n",
                    (unsigned long long)h->uid, mode, (unsigned long long)h->world_id,
                    (unsigned long long)h->tick);
        else
            fprintf(out, "    table %u chunk %u of world %016llx: table rows [%llu, %llu)\n",
                    h->table, (unsigned)(h->uid & 0xffffffffu), (unsigned long long)h->world_id,
                    (unsigned long long)h->first_row, (unsigned long long)(h->first_row + rows));
        fprintf(out, "    rows %llu of capacity %llu, %u components, %u columns\n",
                (unsigned long long)rows, (unsigned long long)h->capacity, h->ncomps, h->ncols);
    }
    for (uint32_t i = 0; i < h->ncomps; i++) {
        uint64_t changed = count_changed(o, ce[i].changed_off, rows);
        uint32_t summary =
            atomic_load_explicit(&((sabre_colset_comp_t *)&ce[i])->summary, memory_order_relaxed);
        if (json) {
            fprintf(out, "%s{\"id\":%u,\"name\":", i ? "," : "", ce[i].comp_id);
            sabre__json_str(out, names + ce[i].name_off, ce[i].name_len);
            fprintf(out, ",\"layout\":");
            sabre__json_str(out, names + ce[i].layout_off, ce[i].layout_len);
            fprintf(out,
                    ",\"layout_hash\":\"0x%016llx\",\"write\":%s,\"changed_rows\":%llu,"
                    "\"summary\":%u,\"columns\":[",
                    (unsigned long long)ce[i].layout_hash, (ce[i].flags & 1) ? "true" : "false",
                    (unsigned long long)changed, summary);
        } else {
            fprintf(out, "    component %u '%.*s'%s: %u columns, %llu rows changed%s\n",
                    ce[i].comp_id, (int)ce[i].name_len, names + ce[i].name_off,
                    snap && (ce[i].flags & 1) ? " (written back)" : "", ce[i].ncols,
                    (unsigned long long)changed, summary ? "" : " (summary clean)");
            if (ce[i].layout_len)
                fprintf(out, "      layout %016llx: %.*s\n", (unsigned long long)ce[i].layout_hash,
                        (int)ce[i].layout_len, names + ce[i].layout_off);
        }
        for (uint32_t j = ce[i].first_col; j < ce[i].first_col + ce[i].ncols; j++) {
            const char *tn = sabre_scalar_name((sabre_scalar_t)co[j].type);
            if (json) {
                fprintf(out, "%s{\"name\":", j > ce[i].first_col ? "," : "");
                sabre__json_str(out, names + co[j].name_off, co[j].name_len);
                fprintf(out, ",\"type\":\"%s\",\"offset\":%llu}", tn,
                        (unsigned long long)co[j].data_off);
            } else {
                fprintf(out, "      column %-16.*s %-4s at +%llu\n", (int)co[j].name_len,
                        names + co[j].name_off, tn, (unsigned long long)co[j].data_off);
            }
        }
        if (json)
            fprintf(out, "]}");
    }
    if (json) {
        fprintf(out, "],\"entities_offset\":%llu}", (unsigned long long)h->entities_off);
    } else if (rows) {
        const uint64_t *ents = (const uint64_t *)((const uint8_t *)o->ptr + h->entities_off);
        uint64_t show = rows < 4 ? rows : 4;
        fprintf(out, "    entities:");
        for (uint64_t r = 0; r < show; r++)
            fprintf(out, " %u:%u", (unsigned)(ents[r] & 0xffffffffu), (unsigned)(ents[r] >> 32));
        fprintf(out, "%s\n", rows > show ? " ..." : "");
    }
    free(m);
    return SABRE_OK;
}

int sabre_tool_describe_snapshot(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                 bool json)
{
    (void)r;
    return describe(o, out, json, SABRE_COLSET_SNAP_MAGIC, true);
}

int sabre_tool_describe_table(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                              bool json)
{
    (void)r;
    return describe(o, out, json, SABRE_COLSET_CHUNK_MAGIC, false);
}
