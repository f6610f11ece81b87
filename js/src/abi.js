// Generated from abi.json by scripts/wasm.sh: do not edit.
export default {
  "generator": "sabre abi --json | node js/tools/abi_from_lib.mjs",
  "constants": {
    "REGION_MAGIC": "0x4e47455245424153",
    "REGION_ABI_MAJOR": 1,
    "REGION_ABI_MINOR": 0,
    "REGION_HEADER_SIZE": 512,
    "DIR_ENTRY_SIZE": 128,
    "DIR_READY": 2,
    "DIR_EMPTY": 0,
    "WASM_REGDIR_MAGIC_LO": 1380073811,
    "WASM_REGDIR_ENTRIES": 64,
    "WASM_REGDIR_NAMED": 1,
    "WEIGHTS_MAGIC": 1415004755,
    "WEIGHTS_ABI_MAJOR": 1,
    "RING_MAGIC": 1196577363,
    "RING_ABI_MAJOR": 3,
    "RING_LANES": 0,
    "RING_MPSC": 1,
    "RING_DROP_NEWEST": 0,
    "RING_BLOCK": 1,
    "RING_OVERWRITE_OLDEST": 2,
    "RING_BATCH_MAX": 256,
    "RING_PAD": 32768,
    "RING_END_PAD": "0x8000000000000000",
    "COLSET_CHUNK_MAGIC": "0x314b4e4843524253",
    "COLSET_SNAP_MAGIC": "0x31504e5352425353",
    "COLSET_MAJOR": 1,
    "COLSET_MAX_COMPS": 4096,
    "COLSET_MAX_COLS": 65536
  },
  "status": {
    "SABRE_OK": 0,
    "SABRE_EINVAL": -1,
    "SABRE_ENOMEM": -2,
    "SABRE_ENOSPC": -3,
    "SABRE_EIO": -4,
    "SABRE_ENOENT": -5,
    "SABRE_EEXIST": -6,
    "SABRE_ECORRUPT": -7,
    "SABRE_EVERSION": -8,
    "SABRE_ELAYOUT": -9,
    "SABRE_ESCHEMA": -10,
    "SABRE_EAGAIN": -11,
    "SABRE_ETIMEDOUT": -12,
    "SABRE_EBUSY": -13,
    "SABRE_ESTALE": -14,
    "SABRE_EDETACHED": -15,
    "SABRE_EPEER": -16,
    "SABRE_ENOTSUP": -17,
    "SABRE_EPERM": -18,
    "SABRE_EFULL": -19,
    "SABRE_ECYCLE": -20,
    "SABRE_EJOB": -21,
    "SABRE_ESTATE": -22,
    "SABRE_ERANGE": -23,
    "SABRE_ECLOSED": -24
  },
  "kinds": {
    "raw": 1,
    "columns": 2,
    "weights": 3,
    "ring": 4,
    "mailbox": 5,
    "snapshot": 6,
    "table": 7,
    "vecenv": 8,
    "bridge": 9
  },
  "scalars": {
    "f32": {
      "id": 1,
      "size": 4
    },
    "f64": {
      "id": 2,
      "size": 8
    },
    "i8": {
      "id": 3,
      "size": 1
    },
    "u8": {
      "id": 4,
      "size": 1
    },
    "i16": {
      "id": 5,
      "size": 2
    },
    "u16": {
      "id": 6,
      "size": 2
    },
    "i32": {
      "id": 7,
      "size": 4
    },
    "u32": {
      "id": 8,
      "size": 4
    },
    "i64": {
      "id": 9,
      "size": 8
    },
    "u64": {
      "id": 10,
      "size": 8
    },
    "bool": {
      "id": 11,
      "size": 1
    }
  },
  "structs": {
    "region_header": {
      "size": 512,
      "fields": {
        "magic": 0,
        "abi_major": 8,
        "abi_minor": 10,
        "header_size": 12,
        "total_size": 16,
        "initialised": 24,
        "creator_pid": 28,
        "creator_start_time": 32,
        "created_ns": 40,
        "dir_offset": 48,
        "dir_capacity": 56,
        "dir_entry_size": 60,
        "data_offset": 64,
        "backing": 72,
        "flags": 74,
        "page_size": 76,
        "used": 128,
        "dir_claimed": 256
      }
    },
    "dir_entry": {
      "size": 128,
      "fields": {
        "state": 0,
        "kind": 8,
        "align": 12,
        "offset": 16,
        "size": 24,
        "layout_offset": 32,
        "layout_len": 40,
        "layout_hash": 48,
        "created_ns": 56,
        "name": 64
      }
    },
    "wasm_region_dir": {
      "size": 5184,
      "fields": {
        "magic": 0,
        "lock": 8,
        "capacity": 12,
        "entries": 64
      }
    },
    "wasm_region_dir_entry": {
      "size": 80,
      "fields": {
        "name": 0,
        "base": 64,
        "size": 68,
        "refs": 72,
        "state": 76
      }
    },
    "weights_header": {
      "size": 512,
      "fields": {
        "active_idx": 0,
        "version": 4,
        "shape_hash": 8,
        "step_counter": 12,
        "magic": 16,
        "abi_major": 20,
        "abi_minor": 22,
        "nslots": 24,
        "nreaders": 28,
        "slot_size": 32,
        "slot_stride": 40,
        "slots_offset": 48,
        "readers_offset": 56,
        "flags": 64,
        "default_shape": 68,
        "layout_hash": 72,
        "slot_table_offset": 80,
        "object_size": 88,
        "current": 128,
        "step64": 136,
        "writer_owner": 144,
        "publishes": 152,
        "publish_waits": 160,
        "publish_wait_ns": 168,
        "busy": 176,
        "last_publish_ns": 184,
        "dead_pins": 192,
        "unpin_seq": 256,
        "pub_waiting": 260,
        "version_waiters": 384
      }
    },
    "weights_slot": {
      "size": 64,
      "fields": {
        "version": 0,
        "step": 8,
        "shape": 16,
        "state": 20,
        "publish_ns": 24
      }
    },
    "weights_reader": {
      "size": 128,
      "fields": {
        "owner": 0,
        "pin": 8,
        "cand": 16,
        "adopted": 24,
        "adopts": 32,
        "refused": 40
      }
    },
    "ring_header": {
      "size": 640,
      "fields": {
        "magic": 0,
        "abi_major": 4,
        "abi_minor": 6,
        "shape": 8,
        "policy": 12,
        "capacity": 16,
        "nproducers": 20,
        "nlanes": 24,
        "nfields": 28,
        "steps": 32,
        "envs": 36,
        "chunk_stride": 40,
        "headers_offset": 48,
        "layout_hash": 56,
        "reclaim_ns": 64,
        "spin_ns": 72,
        "fields_offset": 80,
        "lanes_offset": 88,
        "producers_offset": 96,
        "meta_offset": 104,
        "payloads_offset": 112,
        "object_size": 120,
        "cons_owner": 128,
        "consumed": 136,
        "cons_wait_ns": 144,
        "lag_min": 152,
        "lag_max": 160,
        "lag_sum": 168,
        "lag_count": 176,
        "cur_version": 184,
        "held": 192,
        "lag_skipped": 200,
        "lag_limit": 208,
        "episodes_offset": 216,
        "episodes_cap": 224,
        "commit_seq": 256,
        "cons_waiting": 260,
        "release_seq": 384,
        "prod_waiters": 388,
        "cons_closed": 392,
        "closed_pid": 396,
        "abandoned": 512,
        "lag_hist": 520,
        "producer_deaths": 632
      }
    },
    "ring_field": {
      "size": 64,
      "fields": {
        "name": 0,
        "elem_size": 40,
        "elem_info": 44,
        "offset": 48,
        "size": 56
      }
    },
    "ring_lane": {
      "size": 384,
      "fields": {
        "head": 0,
        "tail": 128,
        "freed": 256
      }
    },
    "ring_producer": {
      "size": 128,
      "fields": {
        "owner": 0,
        "intent": 8,
        "heartbeat_ns": 16,
        "produced": 24,
        "dropped": 32,
        "overwritten": 40,
        "aborted": 48,
        "wait_ns": 56,
        "seq_next": 64,
        "abandoned": 72,
        "deaths": 80,
        "dead_owner": 88,
        "episodes": 96,
        "episodes_dropped": 104
      }
    },
    "ring_meta": {
      "size": 32,
      "fields": {
        "state": 0,
        "policy_version": 8,
        "commit_ns": 16,
        "claim_end": 24
      }
    },
    "ring_episode_lane": {
      "size": 256,
      "fields": {
        "head": 0,
        "tail": 128
      }
    },
    "ring_episode": {
      "size": 32,
      "fields": {
        "return": 0,
        "length": 8,
        "producer": 12,
        "policy_version": 16,
        "end_ns": 24
      }
    },
    "ring_chunk": {
      "size": 16,
      "fields": {
        "sequence": 0,
        "valid_steps": 8,
        "producer": 12,
        "claim_rest": 14
      }
    },
    "bridge_header": {
      "size": 256,
      "fields": {
        "magic": 0,
        "abi_major": 4,
        "abi_minor": 6,
        "role": 8,
        "rank": 12,
        "size": 16,
        "trainer_rank": 20,
        "nlanes": 24,
        "pid": 28,
        "host": 32,
        "lanes_offset": 96,
        "peers_offset": 104,
        "npeers": 112,
        "state": 116,
        "chunks": 120,
        "bytes": 128,
        "messages": 136,
        "in_flight": 144,
        "dropped": 152,
        "credit_waits": 160,
        "weights_sent": 168,
        "weights_applied": 176,
        "weights_version": 184,
        "clock_offset_ns": 192,
        "clock_err_ns": 200,
        "lag_versions_max": 208,
        "age_ns_last": 216,
        "heartbeat_ns": 224,
        "left_at_stop": 232
      }
    },
    "bridge_lane": {
      "size": 8,
      "fields": {
        "rank": 0,
        "node_lane": 4
      }
    },
    "bridge_peer": {
      "size": 64,
      "fields": {
        "chunks": 0,
        "bytes": 8,
        "dropped": 16,
        "weights_version": 24,
        "lag_versions": 32,
        "age_ns": 40,
        "last_heard_ns": 48,
        "rank": 56,
        "lanes": 60
      }
    },
    "colset_header": {
      "size": 256,
      "fields": {
        "magic": 0,
        "major": 8,
        "minor": 10,
        "header_size": 12,
        "world_id": 16,
        "uid": 24,
        "tick": 32,
        "capacity": 40,
        "rows": 48,
        "ncomps": 56,
        "ncols": 60,
        "entities_off": 64,
        "comps_off": 72,
        "cols_off": 80,
        "names_off": 88,
        "names_len": 96,
        "total_size": 104,
        "mode": 112,
        "table": 116,
        "first_row": 120
      }
    },
    "colset_comp": {
      "size": 128,
      "fields": {
        "comp_id": 0,
        "flags": 4,
        "first_col": 8,
        "ncols": 12,
        "layout_hash": 16,
        "changed_off": 24,
        "name_off": 32,
        "name_len": 36,
        "layout_off": 40,
        "layout_len": 44,
        "size": 48,
        "summary": 64
      }
    },
    "colset_col": {
      "size": 32,
      "fields": {
        "data_off": 0,
        "type": 8,
        "elem_size": 12,
        "comp_index": 16,
        "layout_col": 20,
        "name_off": 24,
        "name_len": 28
      }
    },
    "snapshot_transfer_message": {
      "size": 64,
      "fields": {
        "magic": 0,
        "uid": 8,
        "name": 16
      }
    },
    "mailbox_header": {
      "size": 128,
      "fields": {
        "magic": 0,
        "version": 8,
        "workers": 12,
        "header_size": 16,
        "slot_size": 20,
        "spin_ns": 24,
        "stall_ns": 32,
        "main_pid": 40,
        "main_start_time": 48
      }
    },
    "mailbox_slot": {
      "size": 256,
      "fields": {
        "req_seq": 0,
        "main_waiting": 4,
        "ticks": 8,
        "flags": 16,
        "req_ns": 24,
        "main_wakes": 32,
        "ack_seq": 128,
        "worker_waiting": 132,
        "status": 136,
        "worker_pid": 140,
        "worker_start_time": 144,
        "ticks_done": 152,
        "heartbeat_ns": 160,
        "worker_wakes": 168
      }
    },
    "vecenv_header": {
      "size": 512,
      "fields": {
        "magic": 0,
        "version": 8,
        "header_size": 12,
        "workers": 16,
        "envs_per_worker": 20,
        "envs": 24,
        "obs_size": 28,
        "action_size": 32,
        "backend": 36,
        "spin_ns": 40,
        "policy_pid": 48,
        "ring_capacity": 52,
        "policy_start_time": 56,
        "env": 64,
        "obs_schema_off": 96,
        "obs_schema_len": 104,
        "action_schema_len": 108,
        "action_schema_off": 112,
        "workers_off": 120,
        "obs_off": 128,
        "final_obs_off": 136,
        "actions_off": 144,
        "rewards_off": 152,
        "terminated_off": 160,
        "truncated_off": 168,
        "flags_off": 176,
        "ep_return_off": 184,
        "ep_length_off": 192,
        "run_return_off": 200,
        "run_length_off": 208,
        "episodes_off": 216,
        "req_ring_off": 224,
        "res_ring_off": 232,
        "total_size": 240,
        "policy_seq": 256,
        "policy_waiting": 260,
        "seed": 264,
        "steps": 384,
        "batches": 392,
        "faults": 400,
        "respawns": 408,
        "policy_wakes": 416,
        "policy_sleeps": 424,
        "policy_steps": 432,
        "policy_episodes": 440
      }
    },
    "vecenv_worker": {
      "size": 384,
      "fields": {
        "req_tail": 0,
        "req_start": 4,
        "generation": 8,
        "res_head": 12,
        "pid": 16,
        "in_flight": 64,
        "res_tail": 128,
        "worker_waiting": 132,
        "status": 136,
        "running": 140,
        "identity": 144,
        "heartbeat_ns": 152,
        "steps": 160,
        "episodes": 168,
        "worker_wakes": 176,
        "req_head": 184,
        "message": 256
      }
    }
  }
}
;
