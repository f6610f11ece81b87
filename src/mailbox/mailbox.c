/*
 * mailbox.c - per-worker request/acknowledge sequence numbers in a region
 * object, so a worker runs K ticks per round trip.  Byte layout:
 * docs/abi.md ("Mailbox"); protocol and atomics: docs/scheduling.md.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "mailbox/mailbox_abi.h"
#include "sabre/mailbox.h"

#define DEFAULT_SPIN_NS 20000ull
/* Spinning is capped so that timeouts and liveness checks (which run
 * between sleeps) are never starved by a huge spin_ns in the header. */
#define MAX_SPIN_NS 10000000ull
/* Sleeps are cut into slices so liveness is re-checked this often. */
#define SLICE_NS  20000000ull
#define FLAG_STOP 1u

struct sabre_mailbox {
    struct mb_header *hdr;
    struct mb_slot *slots;
    uint32_t workers;
    uint64_t spin_ns, stall_ns;
    bool readonly;
    char name[SABRE_NAME_MAX];
};

static int check_slot(const sabre_mailbox_t *mb, uint32_t worker, const char *fn, bool write)
{
    if (!mb)
        return sabre__fail(SABRE_EINVAL, "%s: mailbox is NULL", fn);
    if (worker >= mb->workers)
        return sabre__fail(SABRE_EINVAL, "%s: mailbox '%s' has %u workers, got index %u", fn,
                           mb->name, mb->workers, worker);
    if (write && mb->readonly)
        return sabre__fail(SABRE_EPERM, "%s: mailbox '%s' is in a read-only mapping", fn, mb->name);
    return SABRE_OK;
}

/* ---- lifetime ---------------------------------------------------------- */

int sabre_mailbox_open_object(const sabre_region_t *region, const sabre_object_t *o,
                              sabre_mailbox_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_open: out is NULL");
    *out = NULL;
    if (!region || !o)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_open: %s is NULL",
                           region ? "object" : "region");
    if (o->kind != SABRE_OBJ_MAILBOX)
        return sabre__fail(SABRE_EINVAL, "object '%s' is a %s, not a mailbox", o->name,
                           sabre_object_kind_name(o->kind));
    if (o->size < SABRE_MAILBOX_HEADER_SIZE || !o->ptr || ((uintptr_t)o->ptr & 63u))
        return sabre__fail(SABRE_ECORRUPT,
                           "mailbox '%s': object of %llu bytes is smaller than its %d-byte "
                           "header or misaligned",
                           o->name, (unsigned long long)o->size, SABRE_MAILBOX_HEADER_SIZE);
    struct mb_header *h = o->ptr;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic == 0)
        return sabre__fail(SABRE_EBUSY, "mailbox '%s' is still being created", o->name);
    if (magic != SABRE_MAILBOX_MAGIC)
        return sabre__fail(SABRE_ECORRUPT, "mailbox '%s': magic is 0x%016llx, want 0x%016llx",
                           o->name, (unsigned long long)magic,
                           (unsigned long long)SABRE_MAILBOX_MAGIC);
    if (h->version != SABRE_MAILBOX_VERSION)
        return sabre__fail(SABRE_EVERSION, "mailbox '%s': version %u, this library reads %d",
                           o->name, h->version, SABRE_MAILBOX_VERSION);
    if (h->header_size != SABRE_MAILBOX_HEADER_SIZE || h->slot_size != SABRE_MAILBOX_SLOT_SIZE)
        return sabre__fail(
            SABRE_ECORRUPT, "mailbox '%s': header_size %u / slot_size %u, want %d / %d", o->name,
            h->header_size, h->slot_size, SABRE_MAILBOX_HEADER_SIZE, SABRE_MAILBOX_SLOT_SIZE);
    if (h->workers == 0 || h->workers > SABRE_MAILBOX_MAX_WORKERS)
        return sabre__fail(SABRE_ECORRUPT, "mailbox '%s': workers is %u, want 1..%d", o->name,
                           h->workers, SABRE_MAILBOX_MAX_WORKERS);
    uint64_t need = SABRE_MAILBOX_HEADER_SIZE + (uint64_t)h->workers * SABRE_MAILBOX_SLOT_SIZE;
    if (need > o->size)
        return sabre__fail(SABRE_ECORRUPT,
                           "mailbox '%s': %u workers need %llu bytes, the object has %llu", o->name,
                           h->workers, (unsigned long long)need, (unsigned long long)o->size);
    sabre_mailbox_t *mb = calloc(1, sizeof *mb);
    if (!mb)
        return sabre__fail(SABRE_ENOMEM, "mailbox '%s': out of memory", o->name);
    mb->hdr = h;
    mb->slots = (struct mb_slot *)((unsigned char *)o->ptr + SABRE_MAILBOX_HEADER_SIZE);
    mb->workers = h->workers;
    mb->spin_ns = SABRE_MIN(h->spin_ns ? h->spin_ns : DEFAULT_SPIN_NS, MAX_SPIN_NS);
    mb->stall_ns = h->stall_ns;
    mb->readonly = sabre_region_readonly(region);
    sabre__strlcpy(mb->name, o->name, sizeof mb->name);
    *out = mb;
    return SABRE_OK;
}

int sabre_mailbox_open(const sabre_region_t *region, const char *name, sabre_mailbox_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_open: %s is NULL",
                           !region ? "region"
                           : !name ? "name"
                                   : "out");
    sabre_object_t o;
    int rc = sabre_region_find(region, name, NULL, &o);
    if (rc != SABRE_OK)
        return rc;
    return sabre_mailbox_open_object(region, &o, out);
}

int sabre_mailbox_create(sabre_region_t *region, const sabre_mailbox_desc_t *desc,
                         sabre_mailbox_t **out)
{
    if (out)
        *out = NULL;
    if (!region || !desc || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_create: %s is NULL",
                           !region ? "region"
                           : !desc ? "desc"
                                   : "out");
    if (desc->workers == 0 || desc->workers > SABRE_MAILBOX_MAX_WORKERS)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_create: workers is %u, want 1..%d",
                           desc->workers, SABRE_MAILBOX_MAX_WORKERS);
    sabre_object_desc_t od = {
        .name = desc->name,
        .kind = SABRE_OBJ_MAILBOX,
        .size = SABRE_MAILBOX_HEADER_SIZE + (uint64_t)desc->workers * SABRE_MAILBOX_SLOT_SIZE,
        .align = 128,
    };
    sabre_object_t o;
    int rc = sabre_region_alloc(region, &od, &o);
    if (rc != SABRE_OK)
        return rc;
    struct mb_header *h = o.ptr;
    h->version = SABRE_MAILBOX_VERSION;
    h->workers = desc->workers;
    h->header_size = SABRE_MAILBOX_HEADER_SIZE;
    h->slot_size = SABRE_MAILBOX_SLOT_SIZE;
    h->spin_ns = SABRE_MIN(desc->spin_ns ? desc->spin_ns : DEFAULT_SPIN_NS, MAX_SPIN_NS);
    h->stall_ns = desc->stall_ns;
    h->main_pid = (int32_t)sabre__self_pid();
    h->main_start_time = sabre__self_start();
    atomic_store_explicit(&h->magic, SABRE_MAILBOX_MAGIC, memory_order_release);
    return sabre_mailbox_open_object(region, &o, out);
}

void sabre_mailbox_close(sabre_mailbox_t *mb)
{
    free(mb);
}

uint32_t sabre_mailbox_workers(const sabre_mailbox_t *mb)
{
    return mb ? mb->workers : 0;
}

uint64_t sabre_mailbox_stall_ns(const sabre_mailbox_t *mb)
{
    return mb ? mb->stall_ns : 0;
}

uint64_t sabre_mailbox_spin_ns(const sabre_mailbox_t *mb)
{
    return mb ? mb->spin_ns : 0;
}

int sabre_mailbox_main_pid(const sabre_mailbox_t *mb, int32_t *pid, uint64_t *start_time)
{
    if (!mb)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_main_pid: mailbox is NULL");
    if (pid)
        *pid = mb->hdr->main_pid;
    if (start_time)
        *start_time = mb->hdr->main_start_time;
    return SABRE_OK;
}

/* ---- main side --------------------------------------------------------- */

static int post(sabre_mailbox_t *mb, uint32_t worker, uint64_t ticks, uint32_t flags,
                const char *fn)
{
    int rc = check_slot(mb, worker, fn, true);
    if (rc != SABRE_OK)
        return rc;
    struct mb_slot *s = &mb->slots[worker];
    uint32_t req = atomic_load_explicit(&s->req_seq, memory_order_relaxed);
    uint32_t ack = atomic_load_explicit(&s->ack_seq, memory_order_acquire);
    if (req != ack)
        return sabre__fail(SABRE_EBUSY,
                           "%s: mailbox '%s' worker %u still runs request %u (acknowledged %u)", fn,
                           mb->name, worker, req, ack);
    atomic_store_explicit(&s->ticks, ticks, memory_order_relaxed);
    atomic_store_explicit(&s->flags, flags, memory_order_relaxed);
    atomic_store_explicit(&s->req_ns, sabre__now_ns(), memory_order_relaxed);
    /* seq_cst store: releases the fields above, and is the first half of
     * the Dekker pair with the worker's worker_waiting store + req_seq load. */
    atomic_store_explicit(&s->req_seq, req + 1, memory_order_seq_cst);
    if (atomic_load_explicit(&s->worker_waiting, memory_order_seq_cst)) {
        sabre__futex_wake(&s->req_seq, 1);
        atomic_fetch_add_explicit(&s->main_wakes, 1, memory_order_relaxed);
    }
    return SABRE_OK;
}

int sabre_mailbox_request(sabre_mailbox_t *mb, uint32_t worker, uint64_t ticks)
{
    return post(mb, worker, ticks, 0, "sabre_mailbox_request");
}

int sabre_mailbox_stop(sabre_mailbox_t *mb, uint32_t worker)
{
    return post(mb, worker, 0, FLAG_STOP, "sabre_mailbox_stop");
}

/* Liveness of the worker while request `req` is outstanding. */
static int check_worker(sabre_mailbox_t *mb, uint32_t worker, uint32_t req)
{
    struct mb_slot *s = &mb->slots[worker];
    int32_t pid = atomic_load_explicit(&s->worker_pid, memory_order_acquire);
    uint64_t start = atomic_load_explicit(&s->worker_start, memory_order_relaxed);
    uint64_t done = atomic_load_explicit(&s->ticks_done, memory_order_relaxed);
    uint64_t ticks = atomic_load_explicit(&s->ticks, memory_order_relaxed);
    if (pid > 0 && !sabre__pid_alive(pid, start))
        return sabre__fail(SABRE_EPEER,
                           "mailbox '%s' worker %u (pid %d) died while running request %u "
                           "(%llu ticks asked; %llu ticks counted in total)",
                           mb->name, worker, (int)pid, req, (unsigned long long)ticks,
                           (unsigned long long)done);
    if (mb->stall_ns) {
        uint64_t hb = atomic_load_explicit(&s->heartbeat_ns, memory_order_relaxed);
        uint64_t since = atomic_load_explicit(&s->req_ns, memory_order_relaxed);
        uint64_t last = SABRE_MAX(hb, since);
        uint64_t now = sabre__now_ns();
        if (now > last && now - last > mb->stall_ns)
            return sabre__fail(SABRE_EPEER,
                               "mailbox '%s' worker %u (pid %d) stalled: no heartbeat for %llu "
                               "ms while running request %u (limit %llu ms)",
                               mb->name, worker, (int)pid,
                               (unsigned long long)((now - last) / 1000000), req,
                               (unsigned long long)(mb->stall_ns / 1000000));
    }
    return SABRE_OK;
}

int sabre_mailbox_wait(sabre_mailbox_t *mb, uint32_t worker, uint64_t timeout_ns)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_wait", true);
    if (rc != SABRE_OK)
        return rc;
    struct mb_slot *s = &mb->slots[worker];
    uint32_t req = atomic_load_explicit(&s->req_seq, memory_order_relaxed);
    uint64_t t0 = sabre__now_ns();
    uint64_t deadline =
        timeout_ns == UINT64_MAX || timeout_ns > UINT64_MAX - t0 ? UINT64_MAX : t0 + timeout_ns;
    unsigned spins = 0;
    for (;;) {
        uint32_t ack = atomic_load_explicit(&s->ack_seq, memory_order_acquire);
        if (ack == req)
            break;
        if (!sabre__spin_expired(mb->spin_ns, t0, &spins)) {
            sabre__cpu_relax();
            continue;
        }
        uint64_t now = sabre__now_ns();
        if (now >= deadline)
            return sabre__fail(SABRE_ETIMEDOUT,
                               "mailbox '%s' worker %u: request %u not acknowledged within %llu "
                               "ms (last ack %u)",
                               mb->name, worker, req, (unsigned long long)(timeout_ns / 1000000),
                               ack);
        rc = check_worker(mb, worker, req);
        if (rc != SABRE_OK)
            return rc;
        /* Dekker pair with sabre_mailbox_ack: flag, then re-check ack_seq. */
        atomic_store_explicit(&s->main_waiting, 1, memory_order_seq_cst);
        ack = atomic_load_explicit(&s->ack_seq, memory_order_seq_cst);
        if (ack != req)
            sabre__futex_wait(&s->ack_seq, ack, SABRE_MIN(SLICE_NS, deadline - now));
        atomic_store_explicit(&s->main_waiting, 0, memory_order_relaxed);
    }
    int st = atomic_load_explicit(&s->status, memory_order_relaxed);
    if (st == 0)
        return SABRE_OK;
    return sabre__fail(sabre__is_status(st) ? st : SABRE_EJOB,
                       "mailbox '%s' worker %u acknowledged request %u with status %d (%s)",
                       mb->name, worker, req, st,
                       sabre__is_status(st) ? sabre_status_name(st) : "not a sabre status");
}

/* ---- worker side ------------------------------------------------------- */

int sabre_mailbox_attach(sabre_mailbox_t *mb, uint32_t worker)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_attach", true);
    if (rc != SABRE_OK)
        return rc;
    struct mb_slot *s = &mb->slots[worker];
    pid_t pid = sabre__self_pid();
    atomic_store_explicit(&s->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    atomic_store_explicit(&s->worker_start, sabre__self_start(), memory_order_relaxed);
    atomic_store_explicit(&s->worker_pid, (int32_t)pid, memory_order_release);
    return SABRE_OK;
}

int sabre_mailbox_next(sabre_mailbox_t *mb, uint32_t worker, sabre_mailbox_req_t *req,
                       uint64_t timeout_ns)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_next", true);
    if (rc != SABRE_OK)
        return rc;
    if (!req)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_next: req is NULL");
    struct mb_slot *s = &mb->slots[worker];
    uint32_t ack = atomic_load_explicit(&s->ack_seq, memory_order_relaxed);
    uint64_t t0 = sabre__now_ns();
    uint64_t deadline =
        timeout_ns == UINT64_MAX || timeout_ns > UINT64_MAX - t0 ? UINT64_MAX : t0 + timeout_ns;
    unsigned spins = 0;
    uint32_t r;
    for (;;) {
        r = atomic_load_explicit(&s->req_seq, memory_order_acquire);
        if (r != ack)
            break;
        if (!sabre__spin_expired(mb->spin_ns, t0, &spins)) {
            sabre__cpu_relax();
            continue;
        }
        uint64_t now = sabre__now_ns();
        atomic_store_explicit(&s->heartbeat_ns, now, memory_order_relaxed);
        if (now >= deadline)
            return sabre__fail(SABRE_ETIMEDOUT, "mailbox '%s' worker %u: no request within %llu ms",
                               mb->name, worker, (unsigned long long)(timeout_ns / 1000000));
        if (!sabre__pid_alive(mb->hdr->main_pid, mb->hdr->main_start_time))
            return sabre__fail(SABRE_EPEER,
                               "mailbox '%s' worker %u: the main process (pid %d) has died",
                               mb->name, worker, (int)mb->hdr->main_pid);
        /* Dekker pair with post(): flag, then re-check req_seq. */
        atomic_store_explicit(&s->worker_waiting, 1, memory_order_seq_cst);
        r = atomic_load_explicit(&s->req_seq, memory_order_seq_cst);
        if (r == ack)
            sabre__futex_wait(&s->req_seq, ack, SABRE_MIN(SLICE_NS, deadline - now));
        atomic_store_explicit(&s->worker_waiting, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&s->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    req->seq = r;
    req->ticks = atomic_load_explicit(&s->ticks, memory_order_relaxed);
    req->stop = (atomic_load_explicit(&s->flags, memory_order_relaxed) & FLAG_STOP) != 0;
    return SABRE_OK;
}

int sabre_mailbox_tick(sabre_mailbox_t *mb, uint32_t worker)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_tick", true);
    if (rc != SABRE_OK)
        return rc;
    struct mb_slot *s = &mb->slots[worker];
    /* Only this worker writes ticks_done: load + store, no RMW needed. */
    uint64_t d = atomic_load_explicit(&s->ticks_done, memory_order_relaxed);
    atomic_store_explicit(&s->ticks_done, d + 1, memory_order_relaxed);
    atomic_store_explicit(&s->heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    return SABRE_OK;
}

int sabre_mailbox_heartbeat(sabre_mailbox_t *mb, uint32_t worker)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_heartbeat", true);
    if (rc != SABRE_OK)
        return rc;
    atomic_store_explicit(&mb->slots[worker].heartbeat_ns, sabre__now_ns(), memory_order_relaxed);
    return SABRE_OK;
}

int sabre_mailbox_ack(sabre_mailbox_t *mb, uint32_t worker, int status)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_ack", true);
    if (rc != SABRE_OK)
        return rc;
    struct mb_slot *s = &mb->slots[worker];
    uint32_t req = atomic_load_explicit(&s->req_seq, memory_order_acquire);
    uint32_t ack = atomic_load_explicit(&s->ack_seq, memory_order_relaxed);
    if (req == ack)
        return sabre__fail(SABRE_ESTATE,
                           "sabre_mailbox_ack: mailbox '%s' worker %u has no outstanding "
                           "request (request and ack are both %u)",
                           mb->name, worker, req);
    atomic_store_explicit(&s->status, status, memory_order_relaxed);
    /* seq_cst store: releases the worker's writes (columns, status), and is
     * the first half of the Dekker pair with main_waiting. */
    atomic_store_explicit(&s->ack_seq, req, memory_order_seq_cst);
    if (atomic_load_explicit(&s->main_waiting, memory_order_seq_cst)) {
        sabre__futex_wake(&s->ack_seq, 1);
        atomic_fetch_add_explicit(&s->worker_wakes, 1, memory_order_relaxed);
    }
    return SABRE_OK;
}

/* ---- inspection -------------------------------------------------------- */

int sabre_mailbox_info(const sabre_mailbox_t *mb, uint32_t worker, sabre_mailbox_info_t *out)
{
    int rc = check_slot(mb, worker, "sabre_mailbox_info", false);
    if (rc != SABRE_OK)
        return rc;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_mailbox_info: out is NULL");
    struct mb_slot *s = &mb->slots[worker];
    memset(out, 0, sizeof *out);
    out->req_seq = atomic_load_explicit(&s->req_seq, memory_order_acquire);
    out->ack_seq = atomic_load_explicit(&s->ack_seq, memory_order_acquire);
    out->outstanding = out->req_seq != out->ack_seq;
    out->stop_requested = (atomic_load_explicit(&s->flags, memory_order_relaxed) & FLAG_STOP) != 0;
    out->ticks_requested = atomic_load_explicit(&s->ticks, memory_order_relaxed);
    out->ticks_done = atomic_load_explicit(&s->ticks_done, memory_order_relaxed);
    out->status = atomic_load_explicit(&s->status, memory_order_relaxed);
    out->worker_pid = atomic_load_explicit(&s->worker_pid, memory_order_acquire);
    out->worker_start_time = atomic_load_explicit(&s->worker_start, memory_order_relaxed);
    out->worker_alive =
        out->worker_pid > 0 && sabre__pid_alive(out->worker_pid, out->worker_start_time);
    uint64_t hb = atomic_load_explicit(&s->heartbeat_ns, memory_order_relaxed);
    uint64_t now = sabre__now_ns();
    out->heartbeat_age_ns = hb == 0 ? UINT64_MAX : now > hb ? now - hb : 0;
    out->main_waiting = atomic_load_explicit(&s->main_waiting, memory_order_relaxed) != 0;
    out->worker_waiting = atomic_load_explicit(&s->worker_waiting, memory_order_relaxed) != 0;
    out->main_wakes = atomic_load_explicit(&s->main_wakes, memory_order_relaxed);
    out->worker_wakes = atomic_load_explicit(&s->worker_wakes, memory_order_relaxed);
    return SABRE_OK;
}
