/*
 * abi_gen.c - prints js/src/abi.json: the magic numbers, ABI versions,
 * status codes, object kinds, scalar types and the size and field offsets
 * of every shared structure, taken from the structs the C layers use
 * (src/<layer>/<layer>_abi.h) with sizeof/offsetof, never typed by hand.
 * The pure-JS workers (js/src/worker/) read shared memory through it.
 * Built and run natively by scripts/wasm.sh, which fails if the committed
 * js/src/abi.json differs from what this prints.
 */
#include <stddef.h>
#include <stdio.h>

#include "ecs/colset_abi.h"
#include "region/region_abi.h"
#include "ring/ring_abi.h"
#include "sabre/sabre.h"
#include "weights/weights_abi.h"

static int first;

static void begin_struct(const char *name, size_t size)
{
    printf("%s\n    \"%s\": {\"size\": %zu, \"fields\": {", first ? "" : ",", name, size);
    first = 0;
}

#define STRUCT(name, type)                                                                         \
    do {                                                                                           \
        begin_struct(name, sizeof(type));                                                          \
        int f_ = 1;                                                                                \
        (void)f_;
#define FIELD(type, field)                                                                         \
    printf("%s\"%s\": %zu", f_ ? "" : ", ", #field, offsetof(type, field));                        \
    f_ = 0;
#define END_STRUCT()                                                                               \
    printf("}}");                                                                                  \
    }                                                                                              \
    while (0)

int main(void)
{
    printf("{\n  \"generator\": \"js/tools/abi_gen.c\",\n  \"constants\": {\n");
    printf("    \"REGION_MAGIC\": \"0x%016llx\",\n", (unsigned long long)SABRE_REGION_MAGIC);
    printf("    \"REGION_ABI_MAJOR\": %d,\n    \"REGION_ABI_MINOR\": %d,\n", SABRE_ABI_MAJOR,
           SABRE_ABI_MINOR);
    printf("    \"REGION_HEADER_SIZE\": %u,\n    \"DIR_ENTRY_SIZE\": %u,\n", HDR_SIZE, ENTRY_SIZE);
    printf("    \"DIR_READY\": %u,\n    \"DIR_EMPTY\": %u,\n", ST_READY, ST_EMPTY);
    printf("    \"WEIGHTS_MAGIC\": %u,\n    \"WEIGHTS_ABI_MAJOR\": %d,\n", SABRE_WEIGHTS_MAGIC,
           SABRE_WEIGHTS_ABI_MAJOR);
    printf("    \"RING_MAGIC\": %u,\n    \"RING_ABI_MAJOR\": %d,\n", SABRE_RING_MAGIC,
           SABRE_RING_ABI_MAJOR);
    printf("    \"RING_LANES\": %d,\n    \"RING_MPSC\": %d,\n", SABRE_RING_LANES, SABRE_RING_MPSC);
    printf("    \"RING_DROP_NEWEST\": %d,\n    \"RING_BLOCK\": %d,\n    \"RING_OVERWRITE_OLDEST\": "
           "%d,\n",
           SABRE_RING_DROP_NEWEST, SABRE_RING_BLOCK, SABRE_RING_OVERWRITE_OLDEST);
    printf("    \"RING_BATCH_MAX\": %d,\n    \"RING_PAD\": %u,\n    \"RING_END_PAD\": "
           "\"0x%016llx\",\n",
           SABRE_RING_BATCH_MAX, (unsigned)RG_PAD, (unsigned long long)RG_END_PAD);
    printf(
        "    \"COLSET_CHUNK_MAGIC\": \"0x%016llx\",\n    \"COLSET_SNAP_MAGIC\": \"0x%016llx\",\n",
        (unsigned long long)SABRE_COLSET_CHUNK_MAGIC, (unsigned long long)SABRE_COLSET_SNAP_MAGIC);
    printf(
        "    \"COLSET_MAJOR\": %d,\n    \"COLSET_MAX_COMPS\": %d,\n    \"COLSET_MAX_COLS\": %d\n",
        SABRE_COLSET_MAJOR, SABRE_COLSET_MAX_COMPS, SABRE_COLSET_MAX_COLS);
    printf("  },\n  \"status\": {");
    for (int st = 0; st >= -23; st--)
        printf("%s\"%s\": %d", st ? ", " : "", sabre_status_name(st), st);
    printf("},\n  \"kinds\": {");
    for (unsigned k = 1; k <= 7; k++)
        printf("%s\"%s\": %u", k > 1 ? ", " : "", sabre_object_kind_name(k), k);
    printf("},\n  \"scalars\": {");
    for (int t = SABRE_F32; t <= SABRE_BOOL; t++)
        printf("%s\"%s\": {\"id\": %d, \"size\": %zu}", t > SABRE_F32 ? ", " : "",
               sabre_scalar_name((sabre_scalar_t)t), t, sabre_scalar_size((sabre_scalar_t)t));
    printf("},\n  \"structs\": {");
    first = 1;
    STRUCT("region_header", struct region_header)
    FIELD(struct region_header, magic)
    FIELD(struct region_header, abi_major)
    FIELD(struct region_header, header_size)
    FIELD(struct region_header, total_size)
    FIELD(struct region_header, initialised)
    FIELD(struct region_header, creator_pid)
    FIELD(struct region_header, dir_offset)
    FIELD(struct region_header, dir_capacity)
    FIELD(struct region_header, dir_entry_size)
    FIELD(struct region_header, data_offset)
    FIELD(struct region_header, used)
    END_STRUCT();
    STRUCT("dir_entry", struct dir_entry)
    FIELD(struct dir_entry, state)
    FIELD(struct dir_entry, kind)
    FIELD(struct dir_entry, offset)
    FIELD(struct dir_entry, size)
    FIELD(struct dir_entry, layout_offset)
    FIELD(struct dir_entry, layout_len)
    FIELD(struct dir_entry, layout_hash)
    FIELD(struct dir_entry, name)
    END_STRUCT();
    STRUCT("weights_header", wt_hdr)
    FIELD(wt_hdr, active_idx)
    FIELD(wt_hdr, version32)
    FIELD(wt_hdr, shape_hash)
    FIELD(wt_hdr, step32)
    FIELD(wt_hdr, magic)
    FIELD(wt_hdr, abi_major)
    FIELD(wt_hdr, nslots)
    FIELD(wt_hdr, nreaders)
    FIELD(wt_hdr, slot_size)
    FIELD(wt_hdr, slot_stride)
    FIELD(wt_hdr, slots_offset)
    FIELD(wt_hdr, readers_offset)
    FIELD(wt_hdr, flags)
    FIELD(wt_hdr, object_size)
    FIELD(wt_hdr, current)
    FIELD(wt_hdr, step64)
    FIELD(wt_hdr, writer_owner)
    FIELD(wt_hdr, unpin_seq)
    FIELD(wt_hdr, pub_waiting)
    FIELD(wt_hdr, version_waiters)
    END_STRUCT();
    STRUCT("weights_slot", wt_slot)
    FIELD(wt_slot, version)
    FIELD(wt_slot, step)
    FIELD(wt_slot, shape)
    FIELD(wt_slot, state)
    END_STRUCT();
    STRUCT("weights_reader", wt_reader)
    FIELD(wt_reader, owner)
    FIELD(wt_reader, pin)
    FIELD(wt_reader, cand)
    FIELD(wt_reader, adopted)
    FIELD(wt_reader, adopts)
    FIELD(wt_reader, refused)
    END_STRUCT();
    STRUCT("ring_header", rg_hdr)
    FIELD(rg_hdr, magic)
    FIELD(rg_hdr, abi_major)
    FIELD(rg_hdr, abi_minor)
    FIELD(rg_hdr, shape)
    FIELD(rg_hdr, policy)
    FIELD(rg_hdr, capacity)
    FIELD(rg_hdr, nproducers)
    FIELD(rg_hdr, nlanes)
    FIELD(rg_hdr, nfields)
    FIELD(rg_hdr, steps)
    FIELD(rg_hdr, envs)
    FIELD(rg_hdr, chunk_stride)
    FIELD(rg_hdr, headers_offset)
    FIELD(rg_hdr, layout_hash)
    FIELD(rg_hdr, spin_ns)
    FIELD(rg_hdr, fields_offset)
    FIELD(rg_hdr, lanes_offset)
    FIELD(rg_hdr, producers_offset)
    FIELD(rg_hdr, meta_offset)
    FIELD(rg_hdr, payloads_offset)
    FIELD(rg_hdr, object_size)
    FIELD(rg_hdr, commit_seq)
    FIELD(rg_hdr, cons_waiting)
    FIELD(rg_hdr, release_seq)
    FIELD(rg_hdr, prod_waiters)
    END_STRUCT();
    STRUCT("ring_field", rg_field)
    FIELD(rg_field, name)
    FIELD(rg_field, elem_size)
    FIELD(rg_field, offset)
    FIELD(rg_field, size)
    END_STRUCT();
    STRUCT("ring_lane", rg_lane)
    FIELD(rg_lane, head)
    FIELD(rg_lane, tail)
    FIELD(rg_lane, freed)
    END_STRUCT();
    STRUCT("ring_producer", rg_prod)
    FIELD(rg_prod, owner)
    FIELD(rg_prod, intent)
    FIELD(rg_prod, heartbeat_ns)
    FIELD(rg_prod, produced)
    FIELD(rg_prod, dropped)
    FIELD(rg_prod, aborted)
    FIELD(rg_prod, wait_ns)
    FIELD(rg_prod, seq_next)
    END_STRUCT();
    STRUCT("ring_chunk", sabre_chunk_t)
    FIELD(sabre_chunk_t, sequence)
    FIELD(sabre_chunk_t, valid_steps)
    FIELD(sabre_chunk_t, producer)
    FIELD(sabre_chunk_t, claim_rest)
    END_STRUCT();
    STRUCT("ring_meta", rg_meta)
    FIELD(rg_meta, state)
    FIELD(rg_meta, policy_version)
    FIELD(rg_meta, commit_ns)
    FIELD(rg_meta, claim_end)
    END_STRUCT();
    STRUCT("colset_header", sabre_colset_hdr_t)
    FIELD(sabre_colset_hdr_t, magic)
    FIELD(sabre_colset_hdr_t, major)
    FIELD(sabre_colset_hdr_t, header_size)
    FIELD(sabre_colset_hdr_t, world_id)
    FIELD(sabre_colset_hdr_t, uid)
    FIELD(sabre_colset_hdr_t, capacity)
    FIELD(sabre_colset_hdr_t, rows)
    FIELD(sabre_colset_hdr_t, ncomps)
    FIELD(sabre_colset_hdr_t, ncols)
    FIELD(sabre_colset_hdr_t, entities_off)
    FIELD(sabre_colset_hdr_t, comps_off)
    FIELD(sabre_colset_hdr_t, cols_off)
    FIELD(sabre_colset_hdr_t, names_off)
    FIELD(sabre_colset_hdr_t, names_len)
    FIELD(sabre_colset_hdr_t, total_size)
    FIELD(sabre_colset_hdr_t, mode)
    END_STRUCT();
    STRUCT("colset_comp", sabre_colset_comp_t)
    FIELD(sabre_colset_comp_t, comp_id)
    FIELD(sabre_colset_comp_t, flags)
    FIELD(sabre_colset_comp_t, first_col)
    FIELD(sabre_colset_comp_t, ncols)
    FIELD(sabre_colset_comp_t, layout_hash)
    FIELD(sabre_colset_comp_t, changed_off)
    FIELD(sabre_colset_comp_t, name_off)
    FIELD(sabre_colset_comp_t, name_len)
    FIELD(sabre_colset_comp_t, summary)
    END_STRUCT();
    STRUCT("colset_col", sabre_colset_col_t)
    FIELD(sabre_colset_col_t, data_off)
    FIELD(sabre_colset_col_t, type)
    FIELD(sabre_colset_col_t, elem_size)
    FIELD(sabre_colset_col_t, comp_index)
    FIELD(sabre_colset_col_t, layout_col)
    FIELD(sabre_colset_col_t, name_off)
    FIELD(sabre_colset_col_t, name_len)
    END_STRUCT();
    printf("\n  }\n}\n");
    return 0;
}
