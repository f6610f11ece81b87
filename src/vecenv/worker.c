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
#include "vecenv/run.h"
#include "vecenv/vecenv_internal.h"

/* Sleeps are cut into slices so a worker process notices that the policy
 * process is gone. */
#define SLICE_NS 100000000ull

struct wctx {
    sabre_vecenv_t *ve;
    uint32_t w;
    struct ve_worker *b;
    struct ve_sink sink;
    pid_t parent;
    bool process;
    uint64_t idle_since; /* CLOCK_MONOTONIC at the end of the last batch */
    uint64_t gap_ns;     /* EWMA of the wait for the next requests */
    uint32_t *buf;       /* [cap]: the claimed request entries */
};

/* How long to spin before sleeping: spin_ns while the requests usually
 * come within 4 x spin_ns, a sixteenth of it once they usually come later
 * (a policy that infers for that long: spinning would only burn CPU). */
static uint64_t spin_budget(const struct wctx *c)
{
    uint64_t spin = c->ve->spin_ns;
    return spin == UINT64_MAX || c->gap_ns / 4 <= spin ? spin : spin / 16;
}

/* Claim every request published and not claimed yet and copy its entries
 * to c->buf; *count = how many.  Waits (spin, then futex sleep) while there
 * is none.  The policy may claim requests too (docs/vecenv.md, "Handoff"),
 * so the claim is a CAS on req_head, and the entries are copied before it:
 * once claimed, the policy may reuse their slots (rule 4).  Returns false
 * when the policy process is gone. */
static bool claim_requests(struct wctx *c, uint32_t *count)
{
    struct ve_worker *b = c->b;
    _Atomic uint32_t *rq = c->ve->req_ring + (size_t)c->w * c->ve->cap;
    uint64_t t0 = c->idle_since, budget = spin_budget(c);
    unsigned spins = 0;
    bool waited = false;
    for (;;) {
        uint32_t tail = atomic_load_explicit(&b->req_tail, memory_order_acquire);
        uint32_t head = atomic_load_explicit(&b->req_head, memory_order_acquire);
        int32_t ahead = (int32_t)(tail - head);
        if (ahead > 0) {
            /* At most E + 1 (a STOP) are unclaimed: anything else is corrupt. */
            uint32_t k = (uint32_t)ahead <= c->ve->cap ? (uint32_t)ahead : c->ve->cap;
            for (uint32_t i = 0; i < k; i++)
                c->buf[i] =
                    atomic_load_explicit(&rq[(head + i) & c->ve->mask], memory_order_relaxed);
            tail = head + k;
            if (!atomic_compare_exchange_strong_explicit(
                    &b->req_head, &head, tail, memory_order_acq_rel, memory_order_acquire))
                continue; /* the policy claimed some: look again */
            uint64_t gap = waited ? sabre__now_ns() - c->idle_since : 0;
            c->gap_ns = c->gap_ns - c->gap_ns / 8 + gap / 8;
            *count = tail - head;
            return true;
        }
        if (ahead < 0)
            continue; /* a stale tail: the policy published and claimed since */
        waited = true;
        if (!sabre__spin_expired(budget, t0, &spins)) {
            sabre__cpu_relax();
            if (c->process && (spins & 0xffffu) == 0 && getppid() != c->parent)
                return false;
            continue;
        }
        if (c->process && getppid() != c->parent)
            return false;
        atomic_store_explicit(&b->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
        /* Sleep: announce, then re-check (docs/vecenv.md, "Why it is
         * race-free", rule 2; the policy's side is publish() in policy.c). */
        atomic_exchange(&b->worker_waiting, 1);
        if (atomic_load(&b->req_tail) == tail)
            sabre__futex_wait(&b->req_tail, tail, SLICE_NS);
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
    c.sink = (struct ve_sink){&b->status, b->message};
    uint32_t *rs = ve->res_ring + (size_t)w * ve->cap;
    uint32_t res = atomic_load_explicit(&b->res_tail, memory_order_relaxed);
    uint64_t steps = atomic_load_explicit(&b->steps, memory_order_relaxed);
    uint64_t episodes = atomic_load_explicit(&b->episodes, memory_order_relaxed);
    c.buf = malloc(ve->cap * sizeof *c.buf);
    if (!c.buf) {
        report(&c.sink, SABRE_ENOMEM, "worker %u: out of memory", w);
        return;
    }
    atomic_store_explicit(&b->identity, c.process ? rl_self_identity() : 0, memory_order_relaxed);
    c.idle_since = sabre__now_ns();
    atomic_store_explicit(&b->heartbeat_ns, c.idle_since, memory_order_relaxed);
    atomic_store_explicit(&b->running, 1, memory_order_release);
    for (;;) {
        uint32_t count;
        if (!claim_requests(&c, &count))
            break; /* the policy process is gone */
        bool stop = false;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t op = c.buf[i];
            if (op & VE_OP_STOP) {
                stop = true;
                break;
            }
            uint32_t k = op & VE_OP_INDEX;
            if (k >= ve->e) { /* never written by a correct policy */
                report(&c.sink, SABRE_ECORRUPT, "worker %u: request for local env %u, want < %u", w,
                       k, ve->e);
                continue;
            }
            /* Counted before the result is published: stats read after the
             * policy took every result see the episode. */
            if (ve_run(ve, op, w * ve->e + k, &c.sink))
                atomic_store_explicit(&b->episodes, ++episodes, memory_order_relaxed);
            rs[res & ve->mask] = k;
            res++;
            /* Publishes the env's row (and status/message) to the policy. */
            atomic_store_explicit(&b->res_tail, res, memory_order_release);
            steps++;
        }
        atomic_store_explicit(&b->steps, steps, memory_order_relaxed);
        c.idle_since = sabre__now_ns();
        atomic_store_explicit(&b->heartbeat_ns, c.idle_since, memory_order_relaxed);
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
    free(c.buf);
    /* A worker process frees the instances of its share (its own copies),
     * and so does a thread whose envs are bound to it; otherwise worker
     * threads share theirs with the policy, which frees them at close. */
    if (c.process || !ve->steal)
        for (uint32_t k = 0; k < ve->e; k++)
            if (ve->inst[w * ve->e + k])
                ve->cls->free(ve->inst[w * ve->e + k]);
}
