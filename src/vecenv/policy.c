/*
 * policy.c - the policy side of a vecenv: reset, sync step, async send and
 * recv, waiting (spin, then futex sleep), and the replacement of dead worker
 * processes.  Protocol and atomics: docs/vecenv.md.
 */
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "core/rl_internal.h"
#include "vecenv/run.h"
#include "vecenv/vecenv_internal.h"

/* Liveness of worker processes is checked this often while waiting. */
#define CHECK_NS 10000000ull

static void bump(_Atomic uint64_t *c, uint64_t n)
{
    /* Policy-only counters: load + store, no RMW needed. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static int usable(sabre_vecenv_t *ve, const char *fn)
{
    if (!ve)
        return sabre__fail(SABRE_EINVAL, "%s: vecenv is NULL", fn);
    if (ve->failed)
        return sabre__fail(SABRE_ESTATE, "vecenv '%s' failed earlier: %s", ve->name, ve->fail_msg);
    return SABRE_OK;
}

/* ---- requests ------------------------------------------------------------ */

static void push(sabre_vecenv_t *ve, uint32_t w, uint32_t op)
{
    atomic_store_explicit(&ve->req_ring[(size_t)w * ve->cap + (ve->req_tail[w] & ve->mask)], op,
                          memory_order_relaxed);
    ve->req_tail[w]++;
    ve->outstanding[w]++;
    ve->total_out++;
}

/* A sleeping worker is woken for a sync step only if its share is expected
 * to take at least this long: below it, FUTEX_WAKE plus the scheduler's
 * wake-up latency cost more than the policy stepping the share itself
 * (docs/vecenv.md, "Handoff"). */
#define WAKE_MIN_SHARE_NS 10000ull

/* Make worker w's new requests visible and wake it if it sleeps
 * (docs/vecenv.md, "Why it is race-free", rule 2).  sync: the policy will
 * claim what the worker has not (ve->steal), so a worker whose share is
 * cheaper than waking it is left asleep. */
static void publish(sabre_vecenv_t *ve, uint32_t w, bool sync)
{
    struct ve_worker *b = &ve->wk[w];
    if (atomic_load_explicit(&b->req_tail, memory_order_relaxed) == ve->req_tail[w])
        return;
    atomic_store_explicit(&b->in_flight, ve->outstanding[w], memory_order_relaxed);
    atomic_store_explicit(&b->req_tail, ve->req_tail[w], memory_order_release);
    if (rl_fenced_load(&b->worker_waiting)) {
        if (sync && ve->steal && ve->step_ns &&
            ve->step_ns * ve->outstanding[w] < WAKE_MIN_SHARE_NS)
            return;
        sabre__futex_wake(&b->req_tail, 1);
        bump(&ve->hdr->policy_wakes, 1);
    }
}

static void publish_all(sabre_vecenv_t *ve)
{
    for (uint32_t w = 0; w < ve->n; w++)
        publish(ve, w, false);
}

/* Finite floats and the env's own check, for the action row of env g. */
static int check_action(sabre_vecenv_t *ve, uint32_t g)
{
    const unsigned char *a = ve->actions + (size_t)g * ve->action_size;
    if (ve->cls->discrete_actions) {
        int32_t v;
        memcpy(&v, a, sizeof v);
        if ((uint32_t)v < ve->cls->discrete_actions)
            return SABRE_OK;
        char msg[160];
        msg[0] = '\0';
        int rc = ve->cls->check_action ? ve->cls->check_action(ve->config, a, msg, sizeof msg) : 0;
        if (rc == 0 || !*msg)
            snprintf(msg, sizeof msg, "action is %d, want 0..%u", (int)v,
                     ve->cls->discrete_actions - 1);
        return sabre__fail(rc != 0 && sabre__is_status(rc) ? rc : SABRE_EINVAL,
                           "vecenv '%s': env %u action refused by env '%s': %s", ve->name, g,
                           ve->cls->name, msg);
    }
    if (ve->nfloat && ve->cls->finite_actions) {
        for (uint32_t j = 0; j < ve->nfloat; j++) {
            const sabre_column_t *col = &ve->action_l->columns[ve->float_off[j]];
            double v;
            if (ve->float_is64[j]) {
                memcpy(&v, a + col->offset, sizeof v);
            } else {
                float f;
                memcpy(&f, a + col->offset, sizeof f);
                v = f;
            }
            if (!isfinite(v))
                return sabre__fail(SABRE_ERANGE,
                                   "vecenv '%s': env %u action field '%s' is %g, want a finite "
                                   "number (env '%s' forbids NaN and Inf)",
                                   ve->name, g, col->name, v, ve->cls->name);
        }
    }
    if (ve->cls->check_action) {
        char msg[160];
        msg[0] = '\0';
        int rc = ve->cls->check_action(ve->config, a, msg, sizeof msg);
        if (rc != 0)
            return sabre__fail(sabre__is_status(rc) ? rc : SABRE_EINVAL,
                               "vecenv '%s': env %u action refused by env '%s': %s", ve->name, g,
                               ve->cls->name, *msg ? msg : "invalid action");
    }
    return SABRE_OK;
}

static const char *state_name(uint8_t s)
{
    return s == VE_NEW ? "has not been reset yet" : "is stepping (sent and not received yet)";
}

/* ---- faults -------------------------------------------------------------- */

/* Worker process w is gone (reaped with wait status st): drop its unread
 * results, queue a fault reset for every env it had, start a new one. */
static int replace_worker(sabre_vecenv_t *ve, uint32_t w, int st)
{
    struct ve_worker *b = &ve->wk[w];
    pid_t old = ve->pids[w];
    ve->pids[w] = 0;
    char how[96];
    if (WIFSIGNALED(st))
        snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(how, sizeof how, "exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    uint32_t first = w * ve->e, lost = ve->outstanding[w];
    /* Results it published but we did not take are dropped: those envs are
     * reset again below, so each delivers exactly one fault result. */
    ve->res_head[w] = atomic_load_explicit(&b->res_tail, memory_order_acquire);
    atomic_store_explicit(&b->res_head, ve->res_head[w], memory_order_relaxed);
    ve->total_out -= ve->outstanding[w];
    ve->outstanding[w] = 0;
    b->req_start = ve->req_tail[w];
    atomic_store_explicit(&b->req_head, ve->req_tail[w], memory_order_relaxed);
    for (uint32_t k = 0; k < ve->e; k++)
        if (ve->state[first + k] == VE_OUT)
            push(ve, w, k | VE_OP_FAULT);
    atomic_store_explicit(&b->req_tail, ve->req_tail[w], memory_order_release);
    atomic_store_explicit(&b->in_flight, ve->outstanding[w], memory_order_relaxed);
    atomic_store_explicit(&b->status, 0, memory_order_relaxed);
    atomic_store_explicit(&b->generation,
                          atomic_load_explicit(&b->generation, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    bump(&ve->hdr->faults, 1);
    int rc = sabre__ve_spawn(ve, w);
    if (rc != SABRE_OK) {
        ve->failed = rc;
        snprintf(ve->fail_msg, sizeof ve->fail_msg,
                 "worker %u (pid %d) %s and could not be replaced: %s", w, (int)old, how,
                 sabre_last_error());
        return sabre__fail(rc, "vecenv '%s': %s", ve->name, ve->fail_msg);
    }
    bump(&ve->hdr->respawns, 1);
    size_t used = strlen(ve->fault_msg);
    snprintf(ve->fault_msg + used, sizeof ve->fault_msg - used,
             "%sworker %u (pid %d) %s; its envs %u..%u were reset with flag SABRE_VECENV_FAULT "
             "(%u were stepping) by a new worker (pid %d)",
             used ? "; " : "", w, (int)old, how, first, first + ve->e - 1, lost, (int)ve->pids[w]);
    ve->call_faults++;
    return SABRE_OK;
}

static int check_workers(sabre_vecenv_t *ve)
{
    if (ve->backend != SABRE_VECENV_PROCESSES)
        return SABRE_OK;
    for (uint32_t w = 0; w < ve->n; w++) {
        int st = 0;
        if (ve->pids[w] > 0 && waitpid(ve->pids[w], &st, WNOHANG) == ve->pids[w]) {
            int rc = replace_worker(ve, w, st);
            if (rc != SABRE_OK)
                return rc;
        }
    }
    return SABRE_OK;
}

/* ---- envs stepped by the policy thread ---------------------------------- */

/* After the policy ran env functions: a failure fails the vecenv. */
static int own_status(sabre_vecenv_t *ve, uint64_t steps, uint64_t episodes)
{
    bump(&ve->hdr->policy_steps, steps);
    if (episodes)
        bump(&ve->hdr->policy_episodes, episodes);
    int st = atomic_load_explicit(&ve->own_status, memory_order_relaxed);
    if (st == 0)
        return SABRE_OK;
    ve->failed = st;
    snprintf(ve->fail_msg, sizeof ve->fail_msg, "%.*s (stepped by the policy thread)",
             (int)VE_MSG_SIZE, ve->own_message);
    return sabre__fail(st, "vecenv '%s': %s", ve->name, ve->fail_msg);
}

/* Sync step or reset of worker w's whole share in the policy thread,
 * without the rings (op: 0 step, VE_OP_RESET). */
static int run_share(sabre_vecenv_t *ve, uint32_t w, uint32_t op)
{
    struct ve_sink s = {&ve->own_status, ve->own_message};
    uint32_t first = w * ve->e;
    uint64_t episodes = 0;
    for (uint32_t g = first; g < first + ve->e; g++) {
        episodes += (uint64_t)ve_run(ve, op, g, &s);
        ve->state[g] = VE_HELD;
    }
    return own_status(ve, ve->e, episodes);
}

/* Claim up to `max` (half: and at most half, rounded up) of worker w's
 * published requests that it has not claimed yet (the CAS on req_head it races with,
 * docs/vecenv.md, "Handoff") and run them here; their env ids go to ids[*taken..].  Sets *got to
 * the count (0: nothing was left to claim). */
static int steal(sabre_vecenv_t *ve, uint32_t w, uint32_t max, bool half, uint32_t *ids,
                 uint32_t *taken, uint32_t *got)
{
    struct ve_worker *b = &ve->wk[w];
    uint32_t tail = ve->req_tail[w]; /* published: steal runs after publish */
    uint32_t head = atomic_load_explicit(&b->req_head, memory_order_acquire);
    uint32_t k;
    *got = 0;
    for (;;) {
        uint32_t avail = tail - head;
        if (avail == 0 || avail > ve->cap)
            return SABRE_OK;
        k = SABRE_MIN(half ? (avail + 1) / 2 : avail, max);
        if (atomic_compare_exchange_strong_explicit(&b->req_head, &head, head + k,
                                                    memory_order_acq_rel, memory_order_acquire))
            break;
    }
    struct ve_sink s = {&ve->own_status, ve->own_message};
    _Atomic uint32_t *rq = ve->req_ring + (size_t)w * ve->cap;
    uint64_t episodes = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t op = atomic_load_explicit(&rq[(head + i) & ve->mask], memory_order_relaxed);
        uint32_t g = w * ve->e + (op & VE_OP_INDEX);
        episodes += (uint64_t)ve_run(ve, op, g, &s);
        ve->state[g] = VE_HELD;
        ids[(*taken)++] = g;
    }
    ve->outstanding[w] -= k;
    ve->total_out -= k;
    atomic_store_explicit(&b->in_flight, ve->outstanding[w], memory_order_relaxed);
    *got = k;
    return own_status(ve, k, episodes);
}

/* Claim and run requests of some worker, the last workers first (they
 * are woken last).  sync: half of a worker's unclaimed requests at a time
 * (a worker that wakes meanwhile takes the rest); async: one, so the batch
 * is not held back by envs the policy steps. */
static int steal_some(sabre_vecenv_t *ve, uint32_t batch, bool sync, uint32_t *ids, uint32_t *taken,
                      uint32_t *got)
{
    *got = 0;
    for (uint32_t i = ve->n; i-- > 0 && *taken < batch;) {
        if (!ve->outstanding[i])
            continue;
        uint32_t room = sync ? batch - *taken : 1;
        int rc = steal(ve, i, room, sync, ids, taken, got);
        if (rc != SABRE_OK || *got)
            return rc;
    }
    return SABRE_OK;
}

/* ---- collecting results ------------------------------------------------- */

static bool any_ready(sabre_vecenv_t *ve)
{
    for (uint32_t w = 0; w < ve->n; w++)
        if (ve->outstanding[w] && atomic_load(&ve->wk[w].res_tail) != ve->res_head[w])
            return true;
    return false;
}

/* Take results of worker w into ids[*taken..batch). */
static int take(sabre_vecenv_t *ve, uint32_t w, uint32_t batch, uint32_t *ids, uint32_t *taken)
{
    struct ve_worker *b = &ve->wk[w];
    uint32_t tail = atomic_load_explicit(&b->res_tail, memory_order_acquire);
    uint32_t head = ve->res_head[w];
    if (head == tail)
        return SABRE_OK;
    const uint32_t *rs = ve->res_ring + (size_t)w * ve->cap;
    uint32_t t = *taken;
    while (head != tail && t < batch) {
        uint32_t k = rs[head & ve->mask];
        uint32_t g = w * ve->e + k;
        head++;
        if (k >= ve->e || ve->state[g] != VE_OUT || ve->outstanding[w] == 0) {
            ve->failed = SABRE_ECORRUPT;
            snprintf(ve->fail_msg, sizeof ve->fail_msg,
                     "worker %u published a result for local env %u, which is not stepping", w, k);
            return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': %s", ve->name, ve->fail_msg);
        }
        ve->state[g] = VE_HELD;
        ve->outstanding[w]--;
        ve->total_out--;
        ids[t++] = g;
    }
    ve->res_head[w] = head;
    atomic_store_explicit(&b->res_head, head, memory_order_relaxed);
    atomic_store_explicit(&b->in_flight, ve->outstanding[w], memory_order_relaxed);
    *taken = t;
    int st = atomic_load_explicit(&b->status, memory_order_relaxed);
    if (st != 0) {
        ve->failed = st;
        snprintf(ve->fail_msg, sizeof ve->fail_msg, "worker %u: %.*s", w, (int)VE_MSG_SIZE,
                 b->message);
        return sabre__fail(st, "vecenv '%s': %s", ve->name, ve->fail_msg);
    }
    return SABRE_OK;
}

/* Wait until `batch` results are taken (or the deadline).  While none is
 * ready the policy claims requests no worker has claimed and steps them
 * itself (ve->steal; sync: a sync step or reset).  pre: results the call
 * already delivered (the policy's own share), for the statistics. */
static int collect(sabre_vecenv_t *ve, uint32_t batch, uint32_t *ids, uint32_t *n,
                   uint64_t timeout_ns, const char *what, bool sync, uint32_t pre)
{
    struct ve_header *h = ve->hdr;
    uint32_t taken = 0;
    uint64_t t0 = 0, deadline = 0; /* read when the call first waits */
    unsigned spins = 0;
    int rc;
    /* Checked on every call too, not only while waiting: in async mode the
     * other workers may fill every batch while a dead one is never waited on. */
    if (ve->backend == SABRE_VECENV_PROCESSES) {
        uint64_t now = sabre__now_ns();
        if (now - ve->last_check >= CHECK_NS) {
            ve->last_check = now;
            if ((rc = check_workers(ve)))
                return rc;
        }
    }
    for (;;) {
        for (uint32_t i = 0; i < ve->n && taken < batch; i++) {
            uint32_t w = ve->rr + i < ve->n ? ve->rr + i : ve->rr + i - ve->n;
            if (!ve->outstanding[w])
                continue;
            if ((rc = take(ve, w, batch, ids, &taken)))
                return rc;
            if (taken == batch)
                ve->rr = w + 1 < ve->n ? w + 1 : 0;
        }
        if (taken == batch)
            break;
        if (timeout_ns == 0)
            break;
        if (ve->steal) {
            uint32_t got;
            if ((rc = steal_some(ve, batch, sync, ids, &taken, &got)))
                return rc;
            if (got)
                continue;
        }
        spins++;
        if ((spins & 15u) != 1) {
            sabre__cpu_relax();
            continue;
        }
        uint64_t now = sabre__now_ns();
        if (t0 == 0) {
            t0 = now;
            deadline = rl_deadline(timeout_ns);
        }
        if (now >= deadline)
            break;
        if (now - ve->last_check >= CHECK_NS) {
            ve->last_check = now;
            if ((rc = check_workers(ve)))
                return rc;
        }
        if (ve->spin_ns == UINT64_MAX || now - t0 < ve->spin_ns) {
            if (now - t0 >= 2000)
                sched_yield(); /* a worker may be queued behind us on this core */
            else
                sabre__cpu_relax();
            continue;
        }
        /* Sleep: announce, then re-check (docs/vecenv.md, rule 3). */
        atomic_exchange(&h->policy_waiting, 1);
        uint32_t seen = atomic_load(&h->policy_seq);
        if (!any_ready(ve)) {
            uint64_t left = deadline - now;
            sabre__futex_wait(&h->policy_seq, seen, SABRE_MIN(left, CHECK_NS));
            bump(&h->policy_sleeps, 1);
        }
        atomic_store_explicit(&h->policy_waiting, 0, memory_order_relaxed);
    }
    *n = taken;
    if (taken + pre) {
        bump(&h->steps, taken + pre);
        bump(&h->batches, 1);
    }
    if (taken < batch && taken == 0)
        return timeout_ns == 0
                   ? sabre__fail(SABRE_EAGAIN, "vecenv '%s': no env is ready (%u stepping)",
                                 ve->name, ve->total_out)
                   : sabre__fail(SABRE_ETIMEDOUT,
                                 "vecenv '%s': %s: no env ready within %llu ms (%u stepping)",
                                 ve->name, what, (unsigned long long)(timeout_ns / 1000000),
                                 ve->total_out);
    return SABRE_OK;
}

/* End of a call: report deaths found during it. */
static int finish(sabre_vecenv_t *ve, int rc)
{
    if (rc == SABRE_OK && ve->call_faults)
        rc = sabre__fail(SABRE_EPEER, "vecenv '%s': %s", ve->name, ve->fault_msg);
    ve->call_faults = 0;
    ve->fault_msg[0] = '\0';
    return rc;
}

/* Every env's result, for reset and step (sync); pre as for collect. */
static int collect_all(sabre_vecenv_t *ve, uint64_t timeout_ns, const char *what, uint32_t pre)
{
    uint32_t want = ve->total_out, got = 0;
    if (want == 0) { /* the policy stepped every env itself */
        bump(&ve->hdr->steps, pre);
        bump(&ve->hdr->batches, 1);
        return finish(ve, SABRE_OK);
    }
    int rc = collect(ve, want, ve->scratch, &got, timeout_ns ? timeout_ns : 1, what, true, pre);
    if (rc == SABRE_OK && got < want)
        rc = sabre__fail(SABRE_ETIMEDOUT,
                         "vecenv '%s': %s: %u of %u envs still stepping after %llu ms "
                         "(collect them with sabre_vecenv_recv)",
                         ve->name, what, want - got, want,
                         (unsigned long long)(timeout_ns / 1000000));
    return finish(ve, rc);
}

/* ---- public calls -------------------------------------------------------- */

int sabre_vecenv_reset(sabre_vecenv_t *ve, uint64_t seed, uint64_t timeout_ns)
{
    int rc = usable(ve, "sabre_vecenv_reset");
    if (rc != SABRE_OK)
        return rc;
    for (uint32_t g = 0; g < ve->envs; g++)
        if (ve->state[g] == VE_OUT)
            return sabre__fail(SABRE_ESTATE,
                               "vecenv '%s': env %u is stepping, want every env received before "
                               "a reset",
                               ve->name, g);
    atomic_store_explicit(&ve->hdr->seed, seed, memory_order_relaxed);
    /* Worker 0's share is the policy's own when it steps envs itself. */
    uint32_t own = ve->steal ? ve->e : 0;
    for (uint32_t g = own; g < ve->envs; g++) {
        ve->state[g] = VE_OUT;
        push(ve, g / ve->e, (g % ve->e) | VE_OP_RESET);
    }
    for (uint32_t w = own ? 1 : 0; w < ve->n; w++)
        publish(ve, w, false);
    if (own && (rc = run_share(ve, 0, VE_OP_RESET)))
        return finish(ve, rc);
    return collect_all(ve, timeout_ns, "reset", own);
}

int sabre_vecenv_step(sabre_vecenv_t *ve, uint64_t timeout_ns)
{
    int rc = usable(ve, "sabre_vecenv_step");
    if (rc != SABRE_OK)
        return rc;
    /* Every env held and every action valid, before anything runs.  A
     * discrete action space is checked in one branch-free pass. */
    uint32_t bad = 0, nd = ve->cls->discrete_actions;
    const int32_t *act = (const int32_t *)ve->actions;
    if (nd) {
        for (uint32_t g = 0; g < ve->envs; g++)
            bad |= (uint32_t)(ve->state[g] != VE_HELD) | (uint32_t)((uint32_t)act[g] >= nd);
    }
    for (uint32_t g = 0; g < ve->envs && (bad || !nd); g++) {
        if (ve->state[g] != VE_HELD)
            return sabre__fail(SABRE_ESTATE,
                               "vecenv '%s': env %u %s, want every env held for a "
                               "sync step",
                               ve->name, g, state_name(ve->state[g]));
        if ((rc = check_action(ve, g)))
            return rc;
    }
    /* The policy steps worker 0's share itself (ve->steal), and the share of
     * any worker that sleeps when waking it would cost more than the share
     * (cheap: WAKE_MIN_SHARE_NS); the workers step the rest, and the policy
     * claims what they have not started (collect).  docs/vecenv.md,
     * "Handoff". */
    uint32_t own = ve->steal ? 1 : 0, mine = own;
    bool cheap = ve->steal && ve->step_ns && ve->step_ns * ve->e < WAKE_MIN_SHARE_NS;
    for (uint32_t w = own; w < ve->n; w++) {
        ve->inline_w[w] =
            cheap && atomic_load_explicit(&ve->wk[w].worker_waiting, memory_order_relaxed);
        if (ve->inline_w[w]) {
            mine++;
            continue;
        }
        memset(ve->state + w * ve->e, VE_OUT, ve->e);
        for (uint32_t k = 0; k < ve->e; k++)
            push(ve, w, k);
        publish(ve, w, true);
    }
    if (own) {
        /* Time one share in 16 for the wake decisions. */
        bool timed =
            ve->n > 1 && (atomic_load_explicit(&ve->hdr->batches, memory_order_relaxed) & 15u) == 0;
        uint64_t t0 = timed ? sabre__now_ns() : 0;
        if ((rc = run_share(ve, 0, 0)))
            return finish(ve, rc);
        if (timed) {
            uint64_t per = (sabre__now_ns() - t0) / ve->e + 1;
            ve->step_ns = ve->step_ns ? ve->step_ns - ve->step_ns / 4 + per / 4 : per;
        }
    }
    for (uint32_t w = own; w < ve->n && mine > own; w++)
        if (ve->inline_w[w] && (rc = run_share(ve, w, 0)))
            return finish(ve, rc);
    return collect_all(ve, timeout_ns, "step", mine * ve->e);
}

int sabre_vecenv_send(sabre_vecenv_t *ve, const uint32_t *ids, uint32_t n)
{
    int rc = usable(ve, "sabre_vecenv_send");
    if (rc != SABRE_OK)
        return rc;
    if (!ids || n == 0)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': send of %u ids%s, want 1..%u", ve->name, n,
                           ids ? "" : " (ids NULL)", ve->envs);
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint32_t g = ids[i];
        if (g >= ve->envs) {
            rc = sabre__fail(SABRE_EINVAL, "vecenv '%s': env id ids[%u] is %u, want 0..%u",
                             ve->name, i, g, ve->envs - 1);
            break;
        }
        if (ve->mark[g]) {
            rc = sabre__fail(SABRE_EINVAL, "vecenv '%s': env id %u appears twice in one send",
                             ve->name, g);
            break;
        }
        ve->mark[g] = 1;
        if (ve->state[g] != VE_HELD) {
            rc = sabre__fail(SABRE_ESTATE, "vecenv '%s': env %u %s, want an env the policy holds",
                             ve->name, g, state_name(ve->state[g]));
            i++;
            break;
        }
        if ((rc = check_action(ve, g))) {
            i++;
            break;
        }
    }
    for (uint32_t j = 0; j < i && j < n; j++)
        if (ids[j] < ve->envs)
            ve->mark[ids[j]] = 0;
    if (rc != SABRE_OK)
        return rc;
    for (i = 0; i < n; i++) {
        uint32_t g = ids[i];
        ve->state[g] = VE_OUT;
        push(ve, g / ve->e, g % ve->e);
    }
    publish_all(ve);
    return SABRE_OK;
}

int sabre_vecenv_recv(sabre_vecenv_t *ve, uint32_t batch, uint32_t *ids, uint32_t *n,
                      uint64_t timeout_ns)
{
    if (n)
        *n = 0;
    int rc = usable(ve, "sabre_vecenv_recv");
    if (rc != SABRE_OK)
        return rc;
    if (!ids || !n)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': recv: %s is NULL", ve->name,
                           ids ? "n" : "ids");
    if (batch == 0 || batch > ve->total_out)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': batch is %u, want 1..%u (the envs stepping)",
                           ve->name, batch, ve->total_out);
    return finish(ve, collect(ve, batch, ids, n, timeout_ns, "recv", false, 0));
}
