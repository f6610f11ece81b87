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
    ve->req_ring[(size_t)w * ve->cap + (ve->req_tail[w] & ve->mask)] = op;
    ve->req_tail[w]++;
    ve->outstanding[w]++;
    ve->total_out++;
}

/* Make worker w's new requests visible and wake it if it sleeps
 * (docs/vecenv.md, "Why it is race-free", rule 1). */
static void publish(sabre_vecenv_t *ve, uint32_t w)
{
    struct ve_worker *b = &ve->wk[w];
    if (atomic_load_explicit(&b->req_tail, memory_order_relaxed) == ve->req_tail[w])
        return;
    atomic_store_explicit(&b->req_tail, ve->req_tail[w], memory_order_release);
    if (rl_fenced_load(&b->worker_waiting)) {
        sabre__futex_wake(&b->req_tail, 1);
        bump(&ve->hdr->policy_wakes, 1);
    }
}

static void publish_all(sabre_vecenv_t *ve)
{
    for (uint32_t w = 0; w < ve->n; w++)
        publish(ve, w);
}

/* Finite floats and the env's own check, for the action row of env g. */
static int check_action(sabre_vecenv_t *ve, uint32_t g)
{
    const unsigned char *a = ve->actions + (size_t)g * ve->action_size;
    if (ve->cls->finite_actions) {
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
        char msg[160] = "";
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
    for (uint32_t k = 0; k < ve->e; k++)
        if (ve->state[first + k] == VE_OUT)
            push(ve, w, k | VE_OP_FAULT);
    atomic_store_explicit(&b->req_tail, ve->req_tail[w], memory_order_release);
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

/* Wait until `batch` results are taken (or the deadline). */
static int collect(sabre_vecenv_t *ve, uint32_t batch, uint32_t *ids, uint32_t *n,
                   uint64_t timeout_ns, const char *what)
{
    struct ve_header *h = ve->hdr;
    uint32_t taken = 0;
    uint64_t t0 = sabre__now_ns(), deadline = rl_deadline(timeout_ns);
    unsigned spins = 0;
    int rc;
    /* Checked on every call too, not only while waiting: in async mode the
     * other workers may fill every batch while a dead one is never waited on. */
    if (t0 - ve->last_check >= CHECK_NS) {
        ve->last_check = t0;
        if ((rc = check_workers(ve)))
            return rc;
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
        spins++;
        if ((spins & 15u) != 1) {
            sabre__cpu_relax();
            continue;
        }
        uint64_t now = sabre__now_ns();
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
    if (taken) {
        bump(&h->steps, taken);
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

/* Every env's result, for reset and step (sync). */
static int collect_all(sabre_vecenv_t *ve, uint64_t timeout_ns, const char *what)
{
    uint32_t want = ve->total_out, got = 0;
    int rc = collect(ve, want, ve->scratch, &got, timeout_ns ? timeout_ns : 1, what);
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
    for (uint32_t g = 0; g < ve->envs; g++) {
        ve->state[g] = VE_OUT;
        push(ve, g / ve->e, (g % ve->e) | VE_OP_RESET);
    }
    publish_all(ve);
    return collect_all(ve, timeout_ns, "reset");
}

int sabre_vecenv_step(sabre_vecenv_t *ve, uint64_t timeout_ns)
{
    int rc = usable(ve, "sabre_vecenv_step");
    if (rc != SABRE_OK)
        return rc;
    for (uint32_t g = 0; g < ve->envs; g++) {
        if (ve->state[g] != VE_HELD)
            return sabre__fail(SABRE_ESTATE,
                               "vecenv '%s': env %u %s, want every env held for a "
                               "sync step",
                               ve->name, g, state_name(ve->state[g]));
        if ((rc = check_action(ve, g)))
            return rc;
    }
    for (uint32_t w = 0; w < ve->n; w++) {
        for (uint32_t k = 0; k < ve->e; k++)
            push(ve, w, k);
        publish(ve, w);
    }
    memset(ve->state, VE_OUT, ve->envs);
    return collect_all(ve, timeout_ns, "step");
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
    return finish(ve, collect(ve, batch, ids, n, timeout_ns, "recv"));
}
