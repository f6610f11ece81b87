/*
 * abi.c - sabre_abi_json(): the binary interface described by the library
 * itself.  Every size and offset below is computed by the compiler from the
 * structs the layers use (sizeof / offsetof); names are the ones docs/abi.md
 * uses.  tests/test_abi.c checks docs/abi.md's tables against this output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ecs/colset_abi.h"
#include "mailbox/mailbox_abi.h"
#include "region/region_abi.h"
#include "ring/ring_abi.h"
#include "sabre/abi.h"
#include "sabre/sabre.h"
#include "snapshot/snapshot_internal.h"
#include "weights/weights_abi.h"

/* The magic of a COLUMNS object (tools/cmd_create.c writes them; docs/abi.md
 * "COLUMNS objects"). */
#define ABI_COLUMNS_MAGIC 0x534c4f4352424153ull

/* ---- the tables ---- */

enum { ROW_STRUCT = 1, ROW_FIELD = 2, ROW_END = 3 };

typedef struct abi_row {
    int kind;
    const char *name;
    size_t a, b; /* struct: size; field: offset, size */
} abi_row;

#define S(T, NAME)                                                                                 \
    {                                                                                              \
        ROW_STRUCT, NAME, sizeof(T), 0                                                             \
    }
#define F(T, f)                                                                                    \
    {                                                                                              \
        ROW_FIELD, #f, offsetof(T, f), sizeof(((T *)0)->f)                                         \
    }
#define FN(T, f, NAME)                                                                             \
    {                                                                                              \
        ROW_FIELD, NAME, offsetof(T, f), sizeof(((T *)0)->f)                                       \
    }
#define E                                                                                          \
    {                                                                                              \
        ROW_END, NULL, 0, 0                                                                        \
    }

/* Shared-memory structures: what another process, a pure-JS worker or a
 * reader written from docs/abi.md sees. */
static const abi_row shared_rows[] = {
    S(struct region_header, "region_header"),
    F(struct region_header, magic),
    F(struct region_header, abi_major),
    F(struct region_header, abi_minor),
    F(struct region_header, header_size),
    F(struct region_header, total_size),
    F(struct region_header, initialised),
    F(struct region_header, creator_pid),
    F(struct region_header, creator_start_time),
    F(struct region_header, created_ns),
    F(struct region_header, dir_offset),
    F(struct region_header, dir_capacity),
    F(struct region_header, dir_entry_size),
    F(struct region_header, data_offset),
    F(struct region_header, backing),
    F(struct region_header, flags),
    F(struct region_header, page_size),
    F(struct region_header, used),
    F(struct region_header, dir_claimed),
    E,
    S(struct dir_entry, "dir_entry"),
    F(struct dir_entry, state),
    F(struct dir_entry, kind),
    F(struct dir_entry, align),
    F(struct dir_entry, offset),
    F(struct dir_entry, size),
    F(struct dir_entry, layout_offset),
    F(struct dir_entry, layout_len),
    F(struct dir_entry, layout_hash),
    F(struct dir_entry, created_ns),
    F(struct dir_entry, name),
    E,
    S(wt_hdr, "weights_header"),
    F(wt_hdr, active_idx),
    FN(wt_hdr, version32, "version"),
    F(wt_hdr, shape_hash),
    FN(wt_hdr, step32, "step_counter"),
    F(wt_hdr, magic),
    F(wt_hdr, abi_major),
    F(wt_hdr, abi_minor),
    F(wt_hdr, nslots),
    F(wt_hdr, nreaders),
    F(wt_hdr, slot_size),
    F(wt_hdr, slot_stride),
    F(wt_hdr, slots_offset),
    F(wt_hdr, readers_offset),
    F(wt_hdr, flags),
    F(wt_hdr, default_shape),
    F(wt_hdr, layout_hash),
    F(wt_hdr, slot_table_offset),
    F(wt_hdr, object_size),
    F(wt_hdr, current),
    F(wt_hdr, step64),
    F(wt_hdr, writer_owner),
    F(wt_hdr, publishes),
    F(wt_hdr, publish_waits),
    F(wt_hdr, publish_wait_ns),
    F(wt_hdr, busy),
    F(wt_hdr, last_publish_ns),
    F(wt_hdr, dead_pins),
    F(wt_hdr, unpin_seq),
    F(wt_hdr, pub_waiting),
    F(wt_hdr, version_waiters),
    E,
    S(wt_slot, "weights_slot"),
    F(wt_slot, version),
    F(wt_slot, step),
    F(wt_slot, shape),
    F(wt_slot, state),
    F(wt_slot, publish_ns),
    E,
    S(wt_reader, "weights_reader"),
    F(wt_reader, owner),
    F(wt_reader, pin),
    F(wt_reader, cand),
    F(wt_reader, adopted),
    F(wt_reader, adopts),
    F(wt_reader, refused),
    E,
    S(rg_hdr, "ring_header"),
    F(rg_hdr, magic),
    F(rg_hdr, abi_major),
    F(rg_hdr, abi_minor),
    F(rg_hdr, shape),
    F(rg_hdr, policy),
    F(rg_hdr, capacity),
    F(rg_hdr, nproducers),
    F(rg_hdr, nlanes),
    F(rg_hdr, nfields),
    F(rg_hdr, steps),
    F(rg_hdr, envs),
    F(rg_hdr, chunk_stride),
    F(rg_hdr, headers_offset),
    F(rg_hdr, layout_hash),
    F(rg_hdr, reclaim_ns),
    F(rg_hdr, spin_ns),
    F(rg_hdr, fields_offset),
    F(rg_hdr, lanes_offset),
    F(rg_hdr, producers_offset),
    F(rg_hdr, meta_offset),
    F(rg_hdr, payloads_offset),
    F(rg_hdr, object_size),
    F(rg_hdr, cons_owner),
    F(rg_hdr, consumed),
    F(rg_hdr, cons_wait_ns),
    F(rg_hdr, lag_min),
    F(rg_hdr, lag_max),
    F(rg_hdr, lag_sum),
    F(rg_hdr, lag_count),
    F(rg_hdr, cur_version),
    F(rg_hdr, held),
    F(rg_hdr, lag_skipped),
    F(rg_hdr, lag_limit),
    F(rg_hdr, episodes_offset),
    F(rg_hdr, episodes_cap),
    F(rg_hdr, commit_seq),
    F(rg_hdr, cons_waiting),
    F(rg_hdr, release_seq),
    F(rg_hdr, prod_waiters),
    F(rg_hdr, cons_closed),
    F(rg_hdr, closed_pid),
    F(rg_hdr, abandoned),
    F(rg_hdr, lag_hist),
    F(rg_hdr, producer_deaths),
    E,
    S(rg_field, "ring_field"),
    F(rg_field, name),
    F(rg_field, elem_size),
    F(rg_field, elem_info),
    F(rg_field, offset),
    F(rg_field, size),
    E,
    S(rg_lane, "ring_lane"),
    F(rg_lane, head),
    F(rg_lane, tail),
    F(rg_lane, freed),
    E,
    S(rg_prod, "ring_producer"),
    F(rg_prod, owner),
    F(rg_prod, intent),
    F(rg_prod, heartbeat_ns),
    F(rg_prod, produced),
    F(rg_prod, dropped),
    F(rg_prod, overwritten),
    F(rg_prod, aborted),
    F(rg_prod, wait_ns),
    F(rg_prod, seq_next),
    F(rg_prod, abandoned),
    F(rg_prod, deaths),
    F(rg_prod, dead_owner),
    F(rg_prod, episodes),
    F(rg_prod, episodes_dropped),
    E,
    S(rg_meta, "ring_slot"),
    F(rg_meta, state),
    F(rg_meta, policy_version),
    F(rg_meta, commit_ns),
    F(rg_meta, claim_end),
    E,
    S(rg_eplane, "ring_episode_lane"),
    F(rg_eplane, head),
    F(rg_eplane, tail),
    E,
    S(sabre_ring_episode_t, "ring_episode"),
    FN(sabre_ring_episode_t, ret, "return"),
    F(sabre_ring_episode_t, length),
    F(sabre_ring_episode_t, producer),
    F(sabre_ring_episode_t, policy_version),
    F(sabre_ring_episode_t, end_ns),
    E,
    S(sabre_chunk_t, "ring_chunk_header"),
    F(sabre_chunk_t, sequence),
    F(sabre_chunk_t, valid_steps),
    F(sabre_chunk_t, producer),
    F(sabre_chunk_t, claim_rest),
    E,
    S(sabre_colset_hdr_t, "colset_header"),
    F(sabre_colset_hdr_t, magic),
    F(sabre_colset_hdr_t, major),
    F(sabre_colset_hdr_t, minor),
    F(sabre_colset_hdr_t, header_size),
    F(sabre_colset_hdr_t, world_id),
    F(sabre_colset_hdr_t, uid),
    F(sabre_colset_hdr_t, tick),
    F(sabre_colset_hdr_t, capacity),
    F(sabre_colset_hdr_t, rows),
    F(sabre_colset_hdr_t, ncomps),
    F(sabre_colset_hdr_t, ncols),
    F(sabre_colset_hdr_t, entities_off),
    F(sabre_colset_hdr_t, comps_off),
    F(sabre_colset_hdr_t, cols_off),
    F(sabre_colset_hdr_t, names_off),
    F(sabre_colset_hdr_t, names_len),
    F(sabre_colset_hdr_t, total_size),
    F(sabre_colset_hdr_t, mode),
    F(sabre_colset_hdr_t, table),
    F(sabre_colset_hdr_t, first_row),
    E,
    S(sabre_colset_comp_t, "colset_component"),
    F(sabre_colset_comp_t, comp_id),
    F(sabre_colset_comp_t, flags),
    F(sabre_colset_comp_t, first_col),
    F(sabre_colset_comp_t, ncols),
    F(sabre_colset_comp_t, layout_hash),
    F(sabre_colset_comp_t, changed_off),
    F(sabre_colset_comp_t, name_off),
    F(sabre_colset_comp_t, name_len),
    F(sabre_colset_comp_t, layout_off),
    F(sabre_colset_comp_t, layout_len),
    F(sabre_colset_comp_t, size),
    F(sabre_colset_comp_t, summary),
    E,
    S(sabre_colset_col_t, "colset_column"),
    F(sabre_colset_col_t, data_off),
    F(sabre_colset_col_t, type),
    F(sabre_colset_col_t, elem_size),
    F(sabre_colset_col_t, comp_index),
    F(sabre_colset_col_t, layout_col),
    F(sabre_colset_col_t, name_off),
    F(sabre_colset_col_t, name_len),
    E,
    S(snap_msg_t, "snapshot_transfer_message"),
    F(snap_msg_t, magic),
    F(snap_msg_t, uid),
    F(snap_msg_t, name),
    E,
    S(struct mb_header, "mailbox_header"),
    F(struct mb_header, magic),
    F(struct mb_header, version),
    F(struct mb_header, workers),
    F(struct mb_header, header_size),
    F(struct mb_header, slot_size),
    F(struct mb_header, spin_ns),
    F(struct mb_header, stall_ns),
    F(struct mb_header, main_pid),
    F(struct mb_header, main_start_time),
    E,
    S(struct mb_slot, "mailbox_slot"),
    F(struct mb_slot, req_seq),
    F(struct mb_slot, main_waiting),
    F(struct mb_slot, ticks),
    F(struct mb_slot, flags),
    F(struct mb_slot, req_ns),
    F(struct mb_slot, main_wakes),
    F(struct mb_slot, ack_seq),
    F(struct mb_slot, worker_waiting),
    F(struct mb_slot, status),
    F(struct mb_slot, worker_pid),
    FN(struct mb_slot, worker_start, "worker_start_time"),
    F(struct mb_slot, ticks_done),
    F(struct mb_slot, heartbeat_ns),
    F(struct mb_slot, worker_wakes),
    E,
};

/* Public structs a binding passes to or receives from the library. */
static const abi_row public_rows[] = {
    S(sabre_field_t, "sabre_field_t"),
    F(sabre_field_t, name),
    F(sabre_field_t, kind),
    F(sabre_field_t, scalar),
    F(sabre_field_t, type),
    F(sabre_field_t, count),
    F(sabre_field_t, is_array),
    F(sabre_field_t, offset),
    F(sabre_field_t, stride),
    F(sabre_field_t, size),
    F(sabre_field_t, align),
    E,
    S(sabre_column_t, "sabre_column_t"),
    F(sabre_column_t, name),
    F(sabre_column_t, type),
    F(sabre_column_t, offset),
    F(sabre_column_t, size),
    E,
    S(sabre_schema_error_t, "sabre_schema_error_t"),
    F(sabre_schema_error_t, line),
    F(sabre_schema_error_t, column),
    F(sabre_schema_error_t, message),
    E,
    S(sabre_region_desc_t, "sabre_region_desc_t"),
    F(sabre_region_desc_t, backing),
    F(sabre_region_desc_t, name),
    F(sabre_region_desc_t, size),
    F(sabre_region_desc_t, max_objects),
    F(sabre_region_desc_t, flags),
    F(sabre_region_desc_t, wait_ms),
    E,
    S(sabre_region_info_t, "sabre_region_info_t"),
    F(sabre_region_info_t, abi_major),
    F(sabre_region_info_t, abi_minor),
    F(sabre_region_info_t, header_size),
    F(sabre_region_info_t, total_size),
    F(sabre_region_info_t, used),
    F(sabre_region_info_t, max_objects),
    F(sabre_region_info_t, nobjects),
    F(sabre_region_info_t, creator_pid),
    F(sabre_region_info_t, creator_start_time),
    F(sabre_region_info_t, created_ns),
    F(sabre_region_info_t, creator_alive),
    F(sabre_region_info_t, dir_offset),
    F(sabre_region_info_t, data_offset),
    F(sabre_region_info_t, dir_claimed),
    F(sabre_region_info_t, backing),
    F(sabre_region_info_t, hugetlb),
    F(sabre_region_info_t, page_size),
    E,
    S(sabre_object_desc_t, "sabre_object_desc_t"),
    F(sabre_object_desc_t, name),
    F(sabre_object_desc_t, kind),
    F(sabre_object_desc_t, size),
    F(sabre_object_desc_t, align),
    F(sabre_object_desc_t, layout),
    F(sabre_object_desc_t, layout_text),
    E,
    S(sabre_object_t, "sabre_object_t"),
    F(sabre_object_t, index),
    F(sabre_object_t, kind),
    F(sabre_object_t, name),
    F(sabre_object_t, offset),
    F(sabre_object_t, size),
    F(sabre_object_t, ptr),
    F(sabre_object_t, layout_text),
    F(sabre_object_t, layout_len),
    F(sabre_object_t, layout_hash),
    E,
    S(sabre_slot_info_t, "sabre_slot_info_t"),
    F(sabre_slot_info_t, state),
    F(sabre_slot_info_t, pid),
    F(sabre_slot_info_t, pid_alive),
    E,
    S(sabre_caps_t, "sabre_caps_t"),
    F(sabre_caps_t, private_ok),
    F(sabre_caps_t, memfd_ok),
    F(sabre_caps_t, memfd_seals_ok),
    F(sabre_caps_t, shm_ok),
    F(sabre_caps_t, file_ok),
    F(sabre_caps_t, hugepages_ok),
    F(sabre_caps_t, futex_ok),
    F(sabre_caps_t, shm_free),
    F(sabre_caps_t, shm_total),
    F(sabre_caps_t, file_free),
    F(sabre_caps_t, page_size),
    F(sabre_caps_t, hugepage_size),
    F(sabre_caps_t, hugepages_free),
    E,
    S(sabre_ring_desc_t, "sabre_ring_desc_t"),
    F(sabre_ring_desc_t, name),
    F(sabre_ring_desc_t, shape),
    F(sabre_ring_desc_t, policy),
    F(sabre_ring_desc_t, capacity),
    F(sabre_ring_desc_t, producers),
    F(sabre_ring_desc_t, layout),
    F(sabre_ring_desc_t, steps),
    F(sabre_ring_desc_t, envs),
    F(sabre_ring_desc_t, record_size),
    F(sabre_ring_desc_t, reclaim_ns),
    F(sabre_ring_desc_t, spin_ns),
    F(sabre_ring_desc_t, episodes),
    E,
    S(sabre_chunk_t, "sabre_chunk_t"),
    F(sabre_chunk_t, sequence),
    F(sabre_chunk_t, valid_steps),
    F(sabre_chunk_t, producer),
    F(sabre_chunk_t, claim_rest),
    E,
    S(sabre_chunk_header_t, "sabre_chunk_header_t"),
    F(sabre_chunk_header_t, sequence),
    F(sabre_chunk_header_t, producer),
    F(sabre_chunk_header_t, valid_steps),
    F(sabre_chunk_header_t, policy_version),
    F(sabre_chunk_header_t, layout_hash),
    F(sabre_chunk_header_t, commit_ns),
    F(sabre_chunk_header_t, lane),
    F(sabre_chunk_header_t, claim_rest),
    E,
    S(sabre_ring_field_t, "sabre_ring_field_t"),
    F(sabre_ring_field_t, index),
    F(sabre_ring_field_t, name),
    F(sabre_ring_field_t, elem_size),
    F(sabre_ring_field_t, offset),
    F(sabre_ring_field_t, size),
    F(sabre_ring_field_t, scalar),
    F(sabre_ring_field_t, count),
    E,
    S(sabre_ring_claim_t, "sabre_ring_claim_t"),
    F(sabre_ring_claim_t, first),
    F(sabre_ring_claim_t, count),
    F(sabre_ring_claim_t, lane),
    F(sabre_ring_claim_t, stride),
    F(sabre_ring_claim_t, chunks),
    F(sabre_ring_claim_t, data),
    E,
    S(sabre_ring_batch_t, "sabre_ring_batch_t"),
    F(sabre_ring_batch_t, first),
    F(sabre_ring_batch_t, count),
    F(sabre_ring_batch_t, lane),
    F(sabre_ring_batch_t, stride),
    F(sabre_ring_batch_t, chunks),
    F(sabre_ring_batch_t, data),
    E,
    S(sabre_ring_stats_t, "sabre_ring_stats_t"),
    F(sabre_ring_stats_t, shape),
    F(sabre_ring_stats_t, policy),
    F(sabre_ring_stats_t, capacity),
    F(sabre_ring_stats_t, nproducers),
    F(sabre_ring_stats_t, nfields),
    F(sabre_ring_stats_t, steps),
    F(sabre_ring_stats_t, envs),
    F(sabre_ring_stats_t, chunk_stride),
    F(sabre_ring_stats_t, layout_hash),
    F(sabre_ring_stats_t, reclaim_ns),
    F(sabre_ring_stats_t, produced),
    F(sabre_ring_stats_t, dropped),
    F(sabre_ring_stats_t, overwritten),
    F(sabre_ring_stats_t, aborted),
    F(sabre_ring_stats_t, producer_wait_ns),
    F(sabre_ring_stats_t, consumed),
    F(sabre_ring_stats_t, abandoned),
    F(sabre_ring_stats_t, consumer_wait_ns),
    F(sabre_ring_stats_t, in_flight),
    F(sabre_ring_stats_t, held),
    F(sabre_ring_stats_t, lag_min),
    F(sabre_ring_stats_t, lag_max),
    F(sabre_ring_stats_t, lag_avg),
    F(sabre_ring_stats_t, lag_count),
    F(sabre_ring_stats_t, current_version),
    F(sabre_ring_stats_t, consumer_pid),
    F(sabre_ring_stats_t, consumer_closed),
    F(sabre_ring_stats_t, closed_pid),
    F(sabre_ring_stats_t, lag_p50),
    F(sabre_ring_stats_t, lag_p90),
    F(sabre_ring_stats_t, lag_p99),
    F(sabre_ring_stats_t, lag_hist),
    F(sabre_ring_stats_t, lag_skipped),
    F(sabre_ring_stats_t, max_lag),
    F(sabre_ring_stats_t, producer_deaths),
    F(sabre_ring_stats_t, episodes),
    F(sabre_ring_stats_t, episodes_dropped),
    F(sabre_ring_stats_t, episodes_capacity),
    E,
    S(sabre_ring_episode_t, "sabre_ring_episode_t"),
    F(sabre_ring_episode_t, ret),
    F(sabre_ring_episode_t, length),
    F(sabre_ring_episode_t, producer),
    F(sabre_ring_episode_t, policy_version),
    F(sabre_ring_episode_t, end_ns),
    E,
    S(sabre_ring_producer_info_t, "sabre_ring_producer_info_t"),
    F(sabre_ring_producer_info_t, active),
    F(sabre_ring_producer_info_t, alive),
    F(sabre_ring_producer_info_t, pid),
    F(sabre_ring_producer_info_t, heartbeat_ns),
    F(sabre_ring_producer_info_t, produced),
    F(sabre_ring_producer_info_t, dropped),
    F(sabre_ring_producer_info_t, overwritten),
    F(sabre_ring_producer_info_t, aborted),
    F(sabre_ring_producer_info_t, wait_ns),
    F(sabre_ring_producer_info_t, claim_first),
    F(sabre_ring_producer_info_t, claim_count),
    F(sabre_ring_producer_info_t, head),
    F(sabre_ring_producer_info_t, tail),
    F(sabre_ring_producer_info_t, abandoned),
    F(sabre_ring_producer_info_t, deaths),
    F(sabre_ring_producer_info_t, dead_pid),
    F(sabre_ring_producer_info_t, episodes),
    F(sabre_ring_producer_info_t, episodes_dropped),
    E,
    S(sabre_weights_desc_t, "sabre_weights_desc_t"),
    F(sabre_weights_desc_t, name),
    F(sabre_weights_desc_t, size),
    F(sabre_weights_desc_t, slots),
    F(sabre_weights_desc_t, readers),
    F(sabre_weights_desc_t, shape_hash),
    F(sabre_weights_desc_t, flags),
    F(sabre_weights_desc_t, layout),
    F(sabre_weights_desc_t, layout_text),
    E,
    S(sabre_weights_meta_t, "sabre_weights_meta_t"),
    F(sabre_weights_meta_t, shape_hash),
    F(sabre_weights_meta_t, set_step),
    F(sabre_weights_meta_t, step_counter),
    E,
    S(sabre_weights_adopt_opts_t, "sabre_weights_adopt_opts_t"),
    F(sabre_weights_adopt_opts_t, expect_shape),
    F(sabre_weights_adopt_opts_t, check_finite),
    E,
    S(sabre_weights_view_t, "sabre_weights_view_t"),
    F(sabre_weights_view_t, data),
    F(sabre_weights_view_t, size),
    F(sabre_weights_view_t, version),
    F(sabre_weights_view_t, step_counter),
    F(sabre_weights_view_t, shape_hash),
    F(sabre_weights_view_t, slot),
    F(sabre_weights_view_t, changed),
    E,
    S(sabre_weights_info_t, "sabre_weights_info_t"),
    F(sabre_weights_info_t, version),
    F(sabre_weights_info_t, step_counter),
    F(sabre_weights_info_t, active_slot),
    F(sabre_weights_info_t, shape_hash),
    F(sabre_weights_info_t, nslots),
    F(sabre_weights_info_t, nreaders),
    F(sabre_weights_info_t, readers_active),
    F(sabre_weights_info_t, flags),
    F(sabre_weights_info_t, size),
    F(sabre_weights_info_t, publishes),
    F(sabre_weights_info_t, publish_waits),
    F(sabre_weights_info_t, publish_wait_ns),
    F(sabre_weights_info_t, busy),
    F(sabre_weights_info_t, dead_pins_ignored),
    F(sabre_weights_info_t, publisher_pid),
    F(sabre_weights_info_t, publisher_alive),
    F(sabre_weights_info_t, last_publish_ns),
    E,
    S(sabre_weights_reader_info_t, "sabre_weights_reader_info_t"),
    F(sabre_weights_reader_info_t, active),
    F(sabre_weights_reader_info_t, alive),
    F(sabre_weights_reader_info_t, pid),
    F(sabre_weights_reader_info_t, pinned_version),
    F(sabre_weights_reader_info_t, pinned_slot),
    F(sabre_weights_reader_info_t, adopted_version),
    F(sabre_weights_reader_info_t, lag),
    F(sabre_weights_reader_info_t, adopts),
    F(sabre_weights_reader_info_t, refused),
    E,
    S(sabre_layout_t, "sabre_layout_t"),
    F(sabre_layout_t, name),
    F(sabre_layout_t, size),
    F(sabre_layout_t, align),
    F(sabre_layout_t, nfields),
    F(sabre_layout_t, fields),
    F(sabre_layout_t, ncolumns),
    F(sabre_layout_t, columns),
    F(sabre_layout_t, canonical),
    F(sabre_layout_t, canonical_len),
    F(sabre_layout_t, hash),
    E,
    S(sabre_world_desc_t, "sabre_world_desc_t"),
    F(sabre_world_desc_t, region),
    F(sabre_world_desc_t, backing),
    F(sabre_world_desc_t, region_size),
    F(sabre_world_desc_t, region_max_objects),
    F(sabre_world_desc_t, prefix),
    F(sabre_world_desc_t, max_components),
    F(sabre_world_desc_t, chunk_rows),
    F(sabre_world_desc_t, max_chunk_rows),
    E,
    S(sabre_component_desc_t, "sabre_component_desc_t"),
    F(sabre_component_desc_t, name),
    F(sabre_component_desc_t, layout),
    F(sabre_component_desc_t, schema),
    F(sabre_component_desc_t, struct_name),
    F(sabre_component_desc_t, defaults),
    F(sabre_component_desc_t, on_add),
    F(sabre_component_desc_t, on_remove),
    F(sabre_component_desc_t, hook_ctx),
    E,
    S(sabre_query_desc_t, "sabre_query_desc_t"),
    F(sabre_query_desc_t, all),
    F(sabre_query_desc_t, nall),
    F(sabre_query_desc_t, any),
    F(sabre_query_desc_t, nany),
    F(sabre_query_desc_t, none),
    F(sabre_query_desc_t, nnone),
    F(sabre_query_desc_t, changed),
    F(sabre_query_desc_t, nchanged),
    E,
    S(sabre_snap_comp_t, "sabre_snap_comp_t"),
    F(sabre_snap_comp_t, comp),
    F(sabre_snap_comp_t, columns),
    F(sabre_snap_comp_t, ncolumns),
    F(sabre_snap_comp_t, write),
    E,
    S(sabre_pool_desc_t, "sabre_pool_desc_t"),
    F(sabre_pool_desc_t, threads),
    F(sabre_pool_desc_t, spin_ns),
    F(sabre_pool_desc_t, executor),
    F(sabre_pool_desc_t, name),
    F(sabre_pool_desc_t, region),
    F(sabre_pool_desc_t, processes),
    F(sabre_pool_desc_t, process_timeout_ns),
    E,
    S(sabre_sched_desc_t, "sabre_sched_desc_t"),
    F(sabre_sched_desc_t, world),
    F(sabre_sched_desc_t, pool),
    F(sabre_sched_desc_t, stages),
    F(sabre_sched_desc_t, nstages),
    E,
    S(sabre_system_desc_t, "sabre_system_desc_t"),
    F(sabre_system_desc_t, name),
    F(sabre_system_desc_t, stage),
    F(sabre_system_desc_t, after),
    F(sabre_system_desc_t, nafter),
    F(sabre_system_desc_t, before),
    F(sabre_system_desc_t, nbefore),
    F(sabre_system_desc_t, reads),
    F(sabre_system_desc_t, nreads),
    F(sabre_system_desc_t, writes),
    F(sabre_system_desc_t, nwrites),
    F(sabre_system_desc_t, reads_res),
    F(sabre_system_desc_t, nreads_res),
    F(sabre_system_desc_t, writes_res),
    F(sabre_system_desc_t, nwrites_res),
    F(sabre_system_desc_t, query),
    F(sabre_system_desc_t, skip_if_empty),
    F(sabre_system_desc_t, run),
    F(sabre_system_desc_t, kernel),
    F(sabre_system_desc_t, offload),
    F(sabre_system_desc_t, grain),
    F(sabre_system_desc_t, args),
    F(sabre_system_desc_t, args_len),
    F(sabre_system_desc_t, user),
    F(sabre_system_desc_t, marks_rows),
    E,
    S(sabre_kernel_ctx_t, "sabre_kernel_ctx_t"),
    F(sabre_kernel_ctx_t, rows),
    F(sabre_kernel_ctx_t, begin),
    F(sabre_kernel_ctx_t, end),
    F(sabre_kernel_ctx_t, dt),
    F(sabre_kernel_ctx_t, time),
    F(sabre_kernel_ctx_t, frame),
    F(sabre_kernel_ctx_t, args),
    F(sabre_kernel_ctx_t, args_len),
    F(sabre_kernel_ctx_t, user),
    F(sabre_kernel_ctx_t, worker),
    F(sabre_kernel_ctx_t, in_process),
    F(sabre_kernel_ctx_t, terms),
    F(sabre_kernel_ctx_t, nterms),
    E,
    S(sabre_system_stats_t, "sabre_system_stats_t"),
    F(sabre_system_stats_t, runs),
    F(sabre_system_stats_t, skipped),
    F(sabre_system_stats_t, rows),
    F(sabre_system_stats_t, ranges),
    F(sabre_system_stats_t, ns_total),
    F(sabre_system_stats_t, ns_last),
    F(sabre_system_stats_t, committed),
    F(sabre_system_stats_t, snapshot_fallbacks),
    E,
    S(sabre_pool_stats_t, "sabre_pool_stats_t"),
    F(sabre_pool_stats_t, threads),
    F(sabre_pool_stats_t, workers),
    F(sabre_pool_stats_t, sleeping),
    F(sabre_pool_stats_t, dispatches),
    F(sabre_pool_stats_t, inline_runs),
    F(sabre_pool_stats_t, futex_wakes),
    F(sabre_pool_stats_t, processes),
    F(sabre_pool_stats_t, processes_alive),
    F(sabre_pool_stats_t, process_spawns),
    F(sabre_pool_stats_t, process_deaths),
    E,
    S(sabre_snapshot_desc_t, "sabre_snapshot_desc_t"),
    F(sabre_snapshot_desc_t, comps),
    F(sabre_snapshot_desc_t, ncomps),
    F(sabre_snapshot_desc_t, mode),
    F(sabre_snapshot_desc_t, backing),
    F(sabre_snapshot_desc_t, region),
    F(sabre_snapshot_desc_t, name),
    F(sabre_snapshot_desc_t, capacity),
    F(sabre_snapshot_desc_t, exec),
    E,
    S(sabre_commit_stats_t, "sabre_commit_stats_t"),
    F(sabre_commit_stats_t, rows_written),
    F(sabre_commit_stats_t, skipped_dead),
    F(sabre_commit_stats_t, skipped_missing),
    F(sabre_commit_stats_t, skipped_readonly),
    E,
    S(sabre_entity_loc_t, "sabre_entity_loc_t"),
    F(sabre_entity_loc_t, table),
    F(sabre_entity_loc_t, chunk),
    F(sabre_entity_loc_t, row),
    E,
    S(sabre_table_info_t, "sabre_table_info_t"),
    F(sabre_table_info_t, id),
    F(sabre_table_info_t, ncomponents),
    F(sabre_table_info_t, components),
    F(sabre_table_info_t, rows),
    F(sabre_table_info_t, nchunks),
    E,
    S(sabre_chunk_info_t, "sabre_chunk_info_t"),
    F(sabre_chunk_info_t, capacity),
    F(sabre_chunk_info_t, count),
    F(sabre_chunk_info_t, first_row),
    F(sabre_chunk_info_t, entities),
    F(sabre_chunk_info_t, object),
    E,
    S(sabre_mailbox_desc_t, "sabre_mailbox_desc_t"),
    F(sabre_mailbox_desc_t, name),
    F(sabre_mailbox_desc_t, workers),
    F(sabre_mailbox_desc_t, spin_ns),
    F(sabre_mailbox_desc_t, stall_ns),
    E,
    S(sabre_mailbox_info_t, "sabre_mailbox_info_t"),
    F(sabre_mailbox_info_t, req_seq),
    F(sabre_mailbox_info_t, ack_seq),
    F(sabre_mailbox_info_t, outstanding),
    F(sabre_mailbox_info_t, stop_requested),
    F(sabre_mailbox_info_t, ticks_requested),
    F(sabre_mailbox_info_t, ticks_done),
    F(sabre_mailbox_info_t, status),
    F(sabre_mailbox_info_t, worker_pid),
    F(sabre_mailbox_info_t, worker_start_time),
    F(sabre_mailbox_info_t, worker_alive),
    F(sabre_mailbox_info_t, heartbeat_age_ns),
    F(sabre_mailbox_info_t, main_waiting),
    F(sabre_mailbox_info_t, worker_waiting),
    F(sabre_mailbox_info_t, main_wakes),
    F(sabre_mailbox_info_t, worker_wakes),
    E,
};

#undef S
#undef F
#undef FN
#undef E

typedef struct abi_num {
    const char *name;
    long long value;
} abi_num;

#define N(x)                                                                                       \
    {                                                                                              \
#x, (long long)(x)                                                                         \
    }

static const abi_num status_rows[] = {
    N(SABRE_OK),        N(SABRE_EINVAL), N(SABRE_ENOMEM),    N(SABRE_ENOSPC),   N(SABRE_EIO),
    N(SABRE_ENOENT),    N(SABRE_EEXIST), N(SABRE_ECORRUPT),  N(SABRE_EVERSION), N(SABRE_ELAYOUT),
    N(SABRE_ESCHEMA),   N(SABRE_EAGAIN), N(SABRE_ETIMEDOUT), N(SABRE_EBUSY),    N(SABRE_ESTALE),
    N(SABRE_EDETACHED), N(SABRE_EPEER),  N(SABRE_ENOTSUP),   N(SABRE_EPERM),    N(SABRE_EFULL),
    N(SABRE_ECYCLE),    N(SABRE_EJOB),   N(SABRE_ESTATE),    N(SABRE_ERANGE),   N(SABRE_ECLOSED),
};

static const abi_num scalar_rows[] = {
    N(SABRE_SCALAR_NONE), N(SABRE_F32), N(SABRE_F64), N(SABRE_I8),  N(SABRE_U8),  N(SABRE_I16),
    N(SABRE_U16),         N(SABRE_I32), N(SABRE_U32), N(SABRE_I64), N(SABRE_U64), N(SABRE_BOOL),
};
static const abi_num backing_rows[] = {N(SABRE_BACKING_PRIVATE), N(SABRE_BACKING_MEMFD),
                                       N(SABRE_BACKING_SHM), N(SABRE_BACKING_FILE)};
static const abi_num kind_rows[] = {N(SABRE_OBJ_RAW),   N(SABRE_OBJ_COLUMNS), N(SABRE_OBJ_WEIGHTS),
                                    N(SABRE_OBJ_RING),  N(SABRE_OBJ_MAILBOX), N(SABRE_OBJ_SNAPSHOT),
                                    N(SABRE_OBJ_TABLE), N(SABRE_OBJ_USER)};
static const abi_num slot_rows[] = {N(SABRE_SLOT_EMPTY), N(SABRE_SLOT_WRITING), N(SABRE_SLOT_READY),
                                    N(SABRE_SLOT_DEAD), N(SABRE_SLOT_INVALID)};
static const abi_num shape_rows[] = {N(SABRE_RING_LANES), N(SABRE_RING_MPSC)};
static const abi_num policy_rows[] = {N(SABRE_RING_DROP_NEWEST), N(SABRE_RING_BLOCK),
                                      N(SABRE_RING_OVERWRITE_OLDEST)};
static const abi_num snapmode_rows[] = {N(SABRE_SNAP_SHARED), N(SABRE_SNAP_TRANSFER),
                                        N(SABRE_SNAP_NATIVE)};
static const abi_num offload_rows[] = {N(SABRE_OFFLOAD_NONE), N(SABRE_OFFLOAD_INPLACE),
                                       N(SABRE_OFFLOAD_SNAPSHOT), N(SABRE_OFFLOAD_PROCESS)};

static const abi_num const_rows[] = {
    N(SABRE_NAME_MAX),
    N(SABRE_REGION_NAME_MAX),
    N(SABRE_RING_BATCH_MAX),
    N(SABRE_RING_MAX_PRODUCERS),
    N(SABRE_RING_MAX_CAPACITY),
    N(SABRE_RING_MAX_FIELDS),
    N(SABRE_RING_LAG_BUCKETS),
    N(SABRE_RING_MAX_EPISODES),
    N(SABRE_WEIGHTS_MAX_SLOTS),
    N(SABRE_MAILBOX_HEADER_SIZE),
    N(SABRE_MAILBOX_SLOT_SIZE),
    N(SABRE_MAILBOX_MAX_WORKERS),
    N(SABRE_SCHEMA_MAX_IDENT),
    N(SABRE_SCHEMA_MAX_COLUMN_NAME),
    N(SABRE_COLSET_HEADER),
    N(SABRE_COLSET_COMP),
    N(SABRE_COLSET_COL),
    N(SABRE_COLSET_MAX_COMPS),
    N(SABRE_COLSET_MAX_COLS),
    N(HDR_SIZE),
    N(ENTRY_SIZE),
    N(RG_FIELDS_OFFSET),
    N(WT_SLOT_TABLE_OFFSET),
};
#undef N

typedef struct abi_enum {
    const char *name;
    const abi_num *rows;
    size_t n;
} abi_enum;

#define ENUM(name, rows)                                                                           \
    {                                                                                              \
        name, rows, sizeof rows / sizeof rows[0]                                                   \
    }
static const abi_enum enum_rows[] = {
    ENUM("sabre_scalar_t", scalar_rows),      ENUM("sabre_backing_t", backing_rows),
    ENUM("sabre_object_kind_t", kind_rows),   ENUM("sabre_slot_state_t", slot_rows),
    ENUM("sabre_ring_shape_t", shape_rows),   ENUM("sabre_ring_policy_t", policy_rows),
    ENUM("sabre_snap_mode_t", snapmode_rows), ENUM("sabre_offload_t", offload_rows),
};
#undef ENUM

/* ---- a JSON writer into a caller's buffer (counts what does not fit) ---- */

typedef struct jw {
    char *buf;
    size_t cap, len;
} jw;

static void put(jw *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = w->len < w->cap ? w->buf + w->len : NULL;
    size_t room = w->len < w->cap ? w->cap - w->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n;
}

static void put_nums(jw *w, const abi_num *rows, size_t n)
{
    put(w, "{");
    for (size_t i = 0; i < n; i++)
        put(w, "%s\"%s\": %lld", i ? ", " : "", rows[i].name, rows[i].value);
    put(w, "}");
}

static void put_structs(jw *w, const abi_row *rows, size_t n, bool *first)
{
    bool first_field = true;
    for (size_t i = 0; i < n; i++) {
        const abi_row *r = &rows[i];
        if (r->kind == ROW_STRUCT) {
            put(w, "%s\n    \"%s\": {\"size\": %zu, \"fields\": [", *first ? "" : ",", r->name,
                r->a);
            *first = false;
            first_field = true;
        } else if (r->kind == ROW_FIELD) {
            put(w, "%s\n      {\"name\": \"%s\", \"offset\": %zu, \"size\": %zu}",
                first_field ? "" : ",", r->name, r->a, r->b);
            first_field = false;
        } else {
            put(w, "]}");
        }
    }
}

static void put_object(jw *w, const char *name, uint64_t magic, int major, int minor, bool last)
{
    put(w, "    \"%s\": {\"magic\": \"0x%016llx\", \"major\": %d, \"minor\": %d}%s\n", name,
        (unsigned long long)magic, major, minor, last ? "" : ",");
}

int sabre_abi_json(char *buf, size_t cap, size_t *len_out)
{
    if (!len_out || (!buf && cap))
        return sabre__fail(SABRE_EINVAL,
                           "sabre_abi_json: len_out is NULL, or buf is NULL with cap %zu", cap);
    jw w = {buf, cap, 0};
    put(&w, "{\n  \"library\": {\"version\": \"%d.%d\", \"abi_major\": %d, \"abi_minor\": %d},\n",
        SABRE_VERSION_MAJOR, SABRE_VERSION_MINOR, SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
    put(&w, "  \"objects\": {\n");
    put_object(&w, "region", SABRE_REGION_MAGIC, SABRE_ABI_MAJOR, SABRE_ABI_MINOR, false);
    put_object(&w, "columns", ABI_COLUMNS_MAGIC, SABRE_ABI_MAJOR, SABRE_ABI_MINOR, false);
    put_object(&w, "weights", SABRE_WEIGHTS_MAGIC, SABRE_WEIGHTS_ABI_MAJOR, SABRE_WEIGHTS_ABI_MINOR,
               false);
    put_object(&w, "ring", SABRE_RING_MAGIC, SABRE_RING_ABI_MAJOR, SABRE_RING_ABI_MINOR, false);
    put_object(&w, "mailbox", SABRE_MAILBOX_MAGIC, 1, 0, false);
    put_object(&w, "table_chunk", SABRE_COLSET_CHUNK_MAGIC, SABRE_COLSET_MAJOR, SABRE_COLSET_MINOR,
               false);
    put_object(&w, "snapshot", SABRE_COLSET_SNAP_MAGIC, SABRE_COLSET_MAJOR, SABRE_COLSET_MINOR,
               false);
    put_object(&w, "snapshot_transfer_message", SNAP_MSG_MAGIC, 1, 0, true);
    put(&w, "  },\n  \"status\": ");
    put_nums(&w, status_rows, sizeof status_rows / sizeof status_rows[0]);
    put(&w, ",\n  \"enums\": {");
    for (size_t i = 0; i < sizeof enum_rows / sizeof enum_rows[0]; i++) {
        put(&w, "%s\n    \"%s\": ", i ? "," : "", enum_rows[i].name);
        put_nums(&w, enum_rows[i].rows, enum_rows[i].n);
    }
    put(&w, "\n  },\n  \"constants\": ");
    put_nums(&w, const_rows, sizeof const_rows / sizeof const_rows[0]);
    put(&w, ",\n  \"structs\": {");
    bool first = true;
    put_structs(&w, shared_rows, sizeof shared_rows / sizeof shared_rows[0], &first);
    put(&w, "\n  },\n  \"public_structs\": {");
    first = true;
    put_structs(&w, public_rows, sizeof public_rows / sizeof public_rows[0], &first);
    put(&w, "\n  }\n}\n");
    *len_out = w.len;
    if (w.len >= cap) {
        if (cap)
            buf[cap - 1] = '\0';
        return sabre__fail(SABRE_ENOSPC,
                           "sabre_abi_json: the document needs %zu bytes, the buffer has %zu",
                           w.len + 1, cap);
    }
    return SABRE_OK;
}
