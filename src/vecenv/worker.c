/*
 * worker.c - a vecenv worker: waits for requests (spin, then futex sleep),
 * resets or steps each requested env in place, publishes each result and
 * wakes the policy if it sleeps.  The same loop runs in a thread or in a
 * forked process.  Protocol: docs/vecenv.md ("Protocol", "Why it is
 * race-free").
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rl_internal.h"
#include "vecenv/vecenv_internal.h"

/* Sleeps are cut into slices so a worker process notices that the policy
 * process is gone. */
#define SLICE_NS 100000000ull

struct wctx {
    sabre_vecenv_t *ve;
    uint32_t w;
    struct ve_worker *b;
    void **envs;
    pid_t parent;
    bool process;
};

static void report(struct wctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct wctx *c, int status, const char *fmt, ...)
{
    if (atomic_load_explicit(&c->b->status, memory_order_relaxed) != 0)
        return; /* keep the first failure */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->b->message, VE_MSG_SIZE, fmt, ap);
    va_end(ap);
    /* Published to the policy by the next res_tail store (release). */
    atomic_store_explicit(&c->b->status, sabre__is_status(status) ? status : SABRE_EJOB,
                          memory_order_relaxed);
}

static const char *env_error(int rc)
{
    const char *m = sabre_last_error();
    return m && *m ? m : sabre_status_name(rc);
}

/* Reset env `g` (local index k).  fault: its instance was lost with a dead
 * worker; plain: episode 0 of the current seed. */
static void do_reset(struct wctx *c, uint32_t k, uint32_t g, bool plain, bool fault)
{
    sabre_vecenv_t *ve = c->ve;
    unsigned char *obs = ve->obs + (size_t)g * ve->obs_size;
    int rc;
    if (!c->envs[k]) {
        rc = ve->cls->create(ve->config, &c->envs[k]);
        if (rc != 0 || !c->envs[k]) {
            c->envs[k] = NULL;
            report(c, rc ? rc : SABRE_EJOB, "env %u: create failed: %s", g, env_error(rc));
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
    rc = ve->cls->reset(c->envs[k], sabre_vecenv_seed(seed, g, episode), obs);
    if (rc != 0)
        report(c, rc, "env %u: reset failed: %s", g, env_error(rc));
    ve->rewards[g] = 0;
    ve->terminated[g] = 0;
    ve->truncated[g] = fault ? 1 : 0;
    ve->flags[g] = (uint8_t)(SABRE_VECENV_RESET | (fault ? SABRE_VECENV_FAULT : 0));
    ve->run_return[g] = 0;
    ve->run_length[g] = 0;
}

static void do_step(struct wctx *c, uint32_t k, uint32_t g)
{
    sabre_vecenv_t *ve = c->ve;
    unsigned char *obs = ve->obs + (size_t)g * ve->obs_size;
    float r = 0;
    bool term = false, trunc = false;
    int rc = ve->cls->step(c->envs[k], ve->actions + (size_t)g * ve->action_size, obs, &r, &term,
                           &trunc);
    if (rc != 0)
        report(c, rc, "env %u: step failed: %s", g, env_error(rc));
    float ret = ve->run_return[g] + r;
    uint32_t len = ve->run_length[g] + 1;
    ve->rewards[g] = r;
    ve->terminated[g] = term;
    ve->truncated[g] = trunc;
    if (!term && !trunc) {
        ve->flags[g] = 0;
        ve->run_return[g] = ret;
        ve->run_length[g] = len;
        return;
    }
    /* Episode over: keep its last observation and totals, start the next. */
    memcpy(ve->final_obs + (size_t)g * ve->obs_size, obs, ve->obs_size);
    ve->ep_return[g] = ret;
    ve->ep_length[g] = len;
    uint32_t episode = ++ve->episodes[g];
    uint64_t seed = atomic_load_explicit(&ve->hdr->seed, memory_order_relaxed);
    rc = ve->cls->reset(c->envs[k], sabre_vecenv_seed(seed, g, episode), obs);
    if (rc != 0)
        report(c, rc, "env %u: reset failed: %s", g, env_error(rc));
    ve->flags[g] = SABRE_VECENV_RESET;
    ve->run_return[g] = 0;
    ve->run_length[g] = 0;
    uint64_t ep = atomic_load_explicit(&c->b->episodes, memory_order_relaxed);
    atomic_store_explicit(&c->b->episodes, ep + 1, memory_order_relaxed);
}

/* Wait until req_tail moves past `head`; returns the new tail, or `head`
 * when the policy process is gone. */
static uint32_t wait_requests(struct wctx *c, uint32_t head)
{
    struct ve_worker *b = c->b;
    uint64_t t0 = sabre__now_ns();
    unsigned spins = 0;
    for (;;) {
        uint32_t tail = atomic_load_explicit(&b->req_tail, memory_order_acquire);
        if (tail != head)
            return tail;
        if (!sabre__spin_expired(c->ve->spin_ns, t0, &spins)) {
            sabre__cpu_relax();
            if (c->process && (spins & 0xffffu) == 0 && getppid() != c->parent)
                return head;
            continue;
        }
        if (c->process && getppid() != c->parent)
            return head;
        atomic_store_explicit(&b->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
        /* Sleep: announce, then re-check (docs/vecenv.md, "Why it is
         * race-free", rule 2; the policy's side is publish() in policy.c). */
        atomic_exchange(&b->worker_waiting, 1);
        tail = atomic_load(&b->req_tail);
        if (tail == head)
            sabre__futex_wait(&b->req_tail, head, SLICE_NS);
        atomic_store_explicit(&b->worker_waiting, 0, memory_order_relaxed);
    }
}

void sabre__ve_worker_run(sabre_vecenv_t *ve, uint32_t w)
{
    struct wctx c = {.ve = ve, .w = w, .b = &ve->wk[w]};
    c.process = ve->backend == SABRE_VECENV_PROCESSES;
    c.parent = c.process ? getppid() : 0;
    if (c.process && c.parent != ve->hdr->policy_pid)
        return; /* the policy died before we started */
    struct ve_worker *b = c.b;
    c.envs = calloc(ve->e, sizeof *c.envs);
    uint32_t *rq = ve->req_ring + (size_t)w * ve->cap;
    uint32_t *rs = ve->res_ring + (size_t)w * ve->cap;
    uint32_t head = b->req_start;
    uint32_t res = atomic_load_explicit(&b->res_tail, memory_order_relaxed);
    uint64_t steps = atomic_load_explicit(&b->steps, memory_order_relaxed);
    if (!c.envs) {
        report(&c, SABRE_ENOMEM, "worker %u: out of memory", w);
        return;
    }
    atomic_store_explicit(&b->identity, c.process ? rl_self_identity() : 0, memory_order_relaxed);
    atomic_store_explicit(&b->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    atomic_store_explicit(&b->running, 1, memory_order_release);
    for (;;) {
        uint32_t tail = wait_requests(&c, head);
        if (tail == head)
            break; /* the policy process is gone */
        bool stop = false;
        while (head != tail) {
            uint32_t op = rq[head & ve->mask];
            head++;
            if (op & VE_OP_STOP) {
                stop = true;
                break;
            }
            uint32_t k = op & VE_OP_INDEX;
            if (k >= ve->e) { /* never written by a correct policy */
                report(&c, SABRE_ECORRUPT, "worker %u: request for local env %u, want < %u", w, k,
                       ve->e);
                continue;
            }
            uint32_t g = w * ve->e + k;
            if (op & (VE_OP_RESET | VE_OP_FAULT))
                do_reset(&c, k, g, !(op & VE_OP_FAULT), (op & VE_OP_FAULT) != 0);
            else if (!c.envs[k]) /* a step for an env whose instance died */
                do_reset(&c, k, g, false, true);
            else
                do_step(&c, k, g);
            rs[res & ve->mask] = k;
            res++;
            /* Publishes the env's row (and status/message) to the policy. */
            atomic_store_explicit(&b->res_tail, res, memory_order_release);
            steps++;
        }
        atomic_store_explicit(&b->steps, steps, memory_order_relaxed);
        atomic_store_explicit(&b->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
        /* Publish, then look for a sleeping policy (rule 3). */
        if (rl_fenced_load(&ve->hdr->policy_waiting)) {
            atomic_fetch_add(&ve->hdr->policy_seq, 1);
            sabre__futex_wake(&ve->hdr->policy_seq, INT_MAX);
            uint64_t n = atomic_load_explicit(&b->worker_wakes, memory_order_relaxed);
            atomic_store_explicit(&b->worker_wakes, n + 1, memory_order_relaxed);
        }
        if (stop)
            break;
    }
    for (uint32_t k = 0; k < ve->e; k++)
        if (c.envs[k])
            ve->cls->free(c.envs[k]);
    free(c.envs);
}
