/*
 * run.h - one request entry run for one env: reset, fault reset or step
 * with auto-reset, writing the env's rows in place.  Shared by the workers
 * (worker.c) and the policy thread when it steps envs itself (policy.c);
 * static inline so both loops call the env's functions directly.
 */
#ifndef SABRE_VECENV_RUN_H
#define SABRE_VECENV_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vecenv/vecenv_internal.h"

static inline void report(struct ve_sink *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void report(struct ve_sink *s, int status, const char *fmt, ...)
{
    if (atomic_load_explicit(s->status, memory_order_relaxed) != 0)
        return; /* keep the first failure */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, VE_MSG_SIZE, fmt, ap);
    va_end(ap);
    /* A worker's failure is published to the policy by its next res_tail
     * store (release); the policy's own is read by the policy. */
    atomic_store_explicit(s->status, sabre__is_status(status) ? status : SABRE_EJOB,
                          memory_order_relaxed);
}

static inline const char *env_error(int rc)
{
    const char *m = sabre_last_error();
    return m && *m ? m : sabre_status_name(rc);
}

/* Reset env `g`.  fault: its instance was lost with a dead worker; plain:
 * episode 0 of the current seed. */
static inline void do_reset(sabre_vecenv_t *ve, uint32_t g, bool plain, bool fault,
                            struct ve_sink *s)
{
    unsigned char *obs = ve->obs + (size_t)g * ve->obs_size;
    int rc;
    if (!ve->inst[g]) {
        rc = ve->cls->create(ve->config, &ve->inst[g]);
        if (rc != 0 || !ve->inst[g]) {
            ve->inst[g] = NULL;
            report(s, rc ? rc : SABRE_EJOB, "env %u: create failed: %s", g, env_error(rc));
            return;
        }
    }
    if (fault) { /* what the policy knew of the lost episode */
        ve->ep_return[g] = ve->run_return[g];
        ve->ep_length[g] = ve->run_length[g];
    }
    uint32_t episode = plain ? 0 : ve->episodes[g] + 1;
    ve->episodes[g] = episode;
    uint64_t seed = atomic_load_explicit(&ve->hdr->seed, memory_order_relaxed);
    rc = ve->cls->reset(ve->inst[g], sabre_vecenv_seed(seed, g, episode), obs);
    if (rc != 0)
        report(s, rc, "env %u: reset failed: %s", g, env_error(rc));
    ve->rewards[g] = 0;
    ve->terminated[g] = 0;
    ve->truncated[g] = fault ? 1 : 0;
    ve->flags[g] = (uint8_t)(SABRE_VECENV_RESET | (fault ? SABRE_VECENV_FAULT : 0));
    ve->run_return[g] = 0;
    ve->run_length[g] = 0;
}

__attribute__((always_inline)) static inline int do_step(sabre_vecenv_t *ve, uint32_t g,
                                                         struct ve_sink *s)
{
    unsigned char *obs = ve->obs + (size_t)g * ve->obs_size;
    float r = 0;
    bool term = false, trunc = false;
    int rc = ve->cls->step(ve->inst[g], ve->actions + (size_t)g * ve->action_size, obs, &r, &term,
                           &trunc);
    if (rc != 0)
        report(s, rc, "env %u: step failed: %s", g, env_error(rc));
    float ret = ve->run_return[g] + r;
    uint32_t len = ve->run_length[g] + 1;
    ve->rewards[g] = r;
    ve->terminated[g] = term;
    ve->truncated[g] = trunc;
    if (!term && !trunc) {
        ve->flags[g] = 0;
        ve->run_return[g] = ret;
        ve->run_length[g] = len;
        return 0;
    }
    /* Episode over: keep its last observation and totals, start the next. */
    memcpy(ve->final_obs + (size_t)g * ve->obs_size, obs, ve->obs_size);
    ve->ep_return[g] = ret;
    ve->ep_length[g] = len;
    uint32_t episode = ++ve->episodes[g];
    uint64_t seed = atomic_load_explicit(&ve->hdr->seed, memory_order_relaxed);
    rc = ve->cls->reset(ve->inst[g], sabre_vecenv_seed(seed, g, episode), obs);
    if (rc != 0)
        report(s, rc, "env %u: reset failed: %s", g, env_error(rc));
    ve->flags[g] = SABRE_VECENV_RESET;
    ve->run_return[g] = 0;
    ve->run_length[g] = 0;
    return 1;
}

__attribute__((always_inline)) static inline int ve_run(sabre_vecenv_t *ve, uint32_t op, uint32_t g,
                                                        struct ve_sink *s)
{
    if (op & (VE_OP_RESET | VE_OP_FAULT)) {
        do_reset(ve, g, !(op & VE_OP_FAULT), (op & VE_OP_FAULT) != 0, s);
        return 0;
    }
    if (!ve->inst[g]) { /* a step for an env whose instance died with its worker */
        do_reset(ve, g, false, true, s);
        return 0;
    }
    return do_step(ve, g, s);
}

#endif
