/*
 * vecenv_abi.h - the byte layout of a vecenv object (kind SABRE_OBJ_VECENV),
 * shared by the policy and its workers.  docs/vecenv.md is the
 * specification (byte layout, protocol, atomics table, why it is race-free).
 */
#ifndef SABRE_VECENV_ABI_H
#define SABRE_VECENV_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "sabre/vecenv.h"

#define VE_HEADER_SIZE 512u
#define VE_WORKER_SIZE 384u
#define VE_MSG_SIZE    128u

/* Request ring entries (u32): local env index | op bits. */
#define VE_OP_RESET 0x80000000u /* reset the env (episode 0 of the current seed) */
#define VE_OP_FAULT 0x40000000u /* reset a lost env: flags SABRE_VECENV_FAULT */
#define VE_OP_STOP  0x20000000u /* the worker exits */
#define VE_OP_INDEX 0x000fffffu /* local env index (< envs_per_worker) */

struct ve_header {
    /* Static part: written by the creator before `magic`, then read-only. */
    _Atomic uint64_t magic;          /*   0: written last (release) */
    uint32_t version;                /*   8 */
    uint32_t header_size;            /*  12 */
    uint32_t workers;                /*  16 */
    uint32_t envs_per_worker;        /*  20 */
    uint32_t envs;                   /*  24 */
    uint32_t obs_size;               /*  28 */
    uint32_t action_size;            /*  32 */
    uint32_t backend;                /*  36 */
    uint64_t spin_ns;                /*  40 */
    int32_t policy_pid;              /*  48 */
    uint32_t ring_capacity;          /*  52: power of two > envs_per_worker */
    uint64_t policy_start_time;      /*  56 */
    char env[SABRE_VECENV_NAME_MAX]; /*  64 */
    uint64_t obs_schema_off;         /*  96 */
    uint32_t obs_schema_len;         /* 104 */
    uint32_t action_schema_len;      /* 108 */
    uint64_t action_schema_off;      /* 112 */
    uint64_t workers_off;            /* 120 */
    uint64_t obs_off;                /* 128 */
    uint64_t final_obs_off;          /* 136 */
    uint64_t actions_off;            /* 144 */
    uint64_t rewards_off;            /* 152 */
    uint64_t terminated_off;         /* 160 */
    uint64_t truncated_off;          /* 168 */
    uint64_t flags_off;              /* 176 */
    uint64_t ep_return_off;          /* 184 */
    uint64_t ep_length_off;          /* 192 */
    uint64_t run_return_off;         /* 200 */
    uint64_t run_length_off;         /* 208 */
    uint64_t episodes_off;           /* 216 */
    uint64_t req_ring_off;           /* 224 */
    uint64_t res_ring_off;           /* 232 */
    uint64_t total_size;             /* 240 */
    uint64_t reserved0;              /* 248 */
    /* Wake line: read by every worker after each batch. */
    _Atomic uint32_t policy_seq;     /* 256: futex word the policy sleeps on */
    _Atomic uint32_t policy_waiting; /* 260: 1 while the policy may sleep */
    _Atomic uint64_t seed;           /* 264: seed of the last reset */
    uint8_t pad1[112];               /* 272..383 */
    /* Policy statistics: written by the policy only. */
    _Atomic uint64_t steps;           /* 384 */
    _Atomic uint64_t batches;         /* 392 */
    _Atomic uint64_t faults;          /* 400 */
    _Atomic uint64_t respawns;        /* 408 */
    _Atomic uint64_t policy_wakes;    /* 416 */
    _Atomic uint64_t policy_sleeps;   /* 424 */
    _Atomic uint64_t policy_steps;    /* 432: env steps the policy ran itself */
    _Atomic uint64_t policy_episodes; /* 440: episodes that ended in those */
    uint8_t pad2[64];                 /* 448..511 */
};

struct ve_worker {
    /* Policy block: written by the policy. */
    _Atomic uint32_t req_tail;   /*   0: futex word the worker sleeps on */
    uint32_t req_start;          /*   4: first request position of this generation */
    _Atomic uint32_t generation; /*   8 */
    _Atomic uint32_t res_head;   /*  12: results the policy has taken */
    _Atomic int32_t pid;         /*  16: worker process (policy's pid for threads) */
    uint8_t pad0[44];            /*  20..63 */
    _Atomic uint32_t in_flight;  /*  64: envs sent to it and not taken back yet (inspect) */
    uint8_t pad0b[60];           /*  68..127 */
    /* Worker block: written by the worker. */
    _Atomic uint32_t res_tail;       /* 128: results published */
    _Atomic uint32_t worker_waiting; /* 132: 1 while the worker may sleep */
    _Atomic int32_t status;          /* 136: an env function's failure */
    _Atomic uint32_t running;        /* 140: 1 once the worker started */
    _Atomic uint64_t identity;       /* 144: pid | start time << 32 (rl_internal.h) */
    _Atomic uint64_t heartbeat_ns;   /* 152: CLOCK_MONOTONIC */
    _Atomic uint64_t steps;          /* 160: results published, all generations */
    _Atomic uint64_t episodes;       /* 168: episodes ended */
    _Atomic uint64_t worker_wakes;   /* 176: FUTEX_WAKE calls */
    _Atomic uint32_t req_head;       /* 184: requests claimed (worker, or a stealing policy) */
    uint8_t pad1[68];                /* 188..255 */
    char message[VE_MSG_SIZE];       /* 256..383: the failure's text */
};

_Static_assert(sizeof(struct ve_header) == VE_HEADER_SIZE, "vecenv header size");
_Static_assert(offsetof(struct ve_header, env) == 64, "vecenv header offsets");
_Static_assert(offsetof(struct ve_header, total_size) == 240, "vecenv header offsets");
_Static_assert(offsetof(struct ve_header, policy_seq) == 256, "wake line at 256");
_Static_assert(offsetof(struct ve_header, steps) == 384, "stats line at 384");
_Static_assert(sizeof(struct ve_worker) == VE_WORKER_SIZE, "vecenv worker block size");
_Static_assert(offsetof(struct ve_worker, res_tail) == 128, "worker block 128 bytes apart");
_Static_assert(offsetof(struct ve_worker, message) == 256, "message at 256");
_Static_assert(offsetof(struct ve_worker, req_head) == 184, "claim word in the worker half");
_Static_assert(offsetof(struct ve_header, policy_episodes) == 440, "policy stats");

#endif
