/*
 * vecenv_internal.h - the vecenv handle and what the policy side
 * (policy.c), the workers (worker.c) and creation (create.c) share.
 * Not public API.
 */
#ifndef SABRE_VECENV_INTERNAL_H
#define SABRE_VECENV_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/internal.h"
#include "sabre/vecenv.h"
#include "vecenv/vecenv_abi.h"

/* Policy-side state of one env. */
enum { VE_NEW = 0, VE_HELD = 1, VE_OUT = 2 };

/* Byte offsets of every part of the object (docs/vecenv.md). */
struct ve_offsets {
    uint64_t workers, obs, final_obs, actions, rewards, terminated, truncated, flags, ep_return,
        ep_length, run_return, run_length, episodes, req_ring, res_ring, obs_schema, action_schema,
        total;
};

/* Lay out an object for n workers x e envs; false if it would not fit in
 * 2^46 bytes.  Used by create and, to validate, by inspect. */
bool sabre__ve_layout(uint32_t n, uint32_t e, uint32_t obs_size, uint32_t action_size,
                      uint32_t obs_schema_len, uint32_t action_schema_len, struct ve_offsets *o);
uint32_t sabre__ve_ring_capacity(uint32_t e);

struct sabre_vecenv {
    char name[SABRE_NAME_MAX];
    sabre_region_t *region;
    bool own_region;
    struct ve_header *hdr;
    struct ve_worker *wk;
    const sabre_env_class_t *cls;
    const void *config;
    sabre_schema_t *obs_schema, *action_schema;
    const sabre_layout_t *obs_l, *action_l;
    uint32_t n, e, envs, cap, mask, obs_size, action_size;
    sabre_vecenv_backend_t backend;
    uint64_t spin_ns;
    /* The policy thread steps envs itself (threads backend, unless
     * desc.envs_thread_bound): worker 0's share of a sync step, and any
     * request it claims before the worker does (docs/vecenv.md, "Handoff"). */
    bool steal;
    /* Env instances by env id: shared by the worker threads and the policy;
     * in a worker process, that process's own copy (its share only). */
    void **inst;
    /* The arrays (pointers into the mapping). */
    unsigned char *obs, *final_obs, *actions;
    float *rewards, *ep_return, *run_return;
    uint8_t *terminated, *truncated, *flags;
    uint32_t *ep_length, *run_length, *episodes;
    /* worker w's ring at w * cap; request entries are atomic (relaxed): a
     * worker copies them before its claim CAS, racing with the policy's
     * reuse of slots claimed by the policy, and drops the copy if the CAS
     * fails (docs/vecenv.md, rule 4) */
    _Atomic uint32_t *req_ring;
    uint32_t *res_ring;
    /* Float columns of the action layout (finite check at send). */
    uint32_t nfloat;
    uint32_t *float_off; /* column indices */
    uint8_t *float_is64;
    /* Policy-private. */
    uint8_t *state;        /* VE_NEW / VE_HELD / VE_OUT per env */
    uint8_t *mark;         /* scratch: duplicate ids in one send */
    uint32_t *req_tail;    /* per worker: next request position */
    uint32_t *res_head;    /* per worker: next result to take */
    uint32_t *outstanding; /* per worker: sent, not yet taken */
    uint32_t *scratch;     /* envs ids: step/reset collect into it */
    uint8_t *inline_w;     /* per worker: its share of this sync step is the policy's */
    uint32_t total_out;
    /* Policy-run env functions report here (as a worker does in its block). */
    _Atomic int32_t own_status;
    char own_message[VE_MSG_SIZE];
    uint64_t step_ns;   /* EWMA of one env step run by the policy, 0 = unknown */
    uint64_t own_steps; /* unflushed policy_steps / policy_episodes */
    uint64_t own_episodes;
    uint32_t rr;         /* recv: the worker to look at first */
    uint64_t last_check; /* CLOCK_MONOTONIC of the last liveness check */
    pthread_t *threads;
    bool *thread_started;
    pid_t *pids;
    uint64_t *wstart; /* process start time of pids[w] */
    int failed;       /* status that failed the vecenv, 0 if none */
    char fail_msg[320];
    char fault_msg[512]; /* deaths found during the current call */
    uint32_t call_faults;
};

/* Where an env function's failure is reported: a worker's block, or the
 * policy's own pair when it steps envs itself. */
struct ve_sink {
    _Atomic int32_t *status;
    char *message; /* VE_MSG_SIZE bytes */
};

/* Start worker w (thread or process).  SABRE_EIO on failure. */
int sabre__ve_spawn(sabre_vecenv_t *ve, uint32_t w);
/* The worker's main loop; returns when it reads a STOP request or the
 * policy process died. */
void sabre__ve_worker_run(sabre_vecenv_t *ve, uint32_t w);

#endif
