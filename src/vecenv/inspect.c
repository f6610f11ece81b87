/*
 * inspect.c - read-only validation and description of a vecenv object, for
 * `sabre inspect` and any process that maps the region.  Every offset is
 * recomputed from the header's counts and compared, so a corrupt object is
 * refused before anything else is read.
 */
#include <stdio.h>
#include <string.h>

#include "core/rl_internal.h"
#include "vecenv/vecenv_internal.h"

static int validate(const sabre_object_t *o, const struct ve_header **out)
{
    if (!o)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_inspect: object is NULL");
    if (o->kind != SABRE_OBJ_VECENV)
        return sabre__fail(SABRE_EINVAL, "object '%s' is a %s, not a vecenv", o->name,
                           sabre_object_kind_name(o->kind));
    if (!o->ptr || o->size < VE_HEADER_SIZE || ((uintptr_t)o->ptr & 63u))
        return sabre__fail(SABRE_ECORRUPT,
                           "vecenv '%s': object size is %llu, want at least the %u-byte header",
                           o->name, (unsigned long long)o->size, VE_HEADER_SIZE);
    const struct ve_header *h = o->ptr;
    uint64_t magic = atomic_load_explicit(&((struct ve_header *)h)->magic, memory_order_acquire);
    if (magic == 0)
        return sabre__fail(SABRE_EBUSY, "vecenv '%s' is still being created", o->name);
    if (magic != SABRE_VECENV_MAGIC)
        return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': magic is 0x%016llx, want 0x%016llx",
                           o->name, (unsigned long long)magic,
                           (unsigned long long)SABRE_VECENV_MAGIC);
    if (h->version != SABRE_VECENV_VERSION)
        return sabre__fail(SABRE_EVERSION, "vecenv '%s': version is %u, want %d", o->name,
                           h->version, SABRE_VECENV_VERSION);
    if (h->header_size != VE_HEADER_SIZE)
        return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': header_size is %u, want %u", o->name,
                           h->header_size, VE_HEADER_SIZE);
    if (h->workers == 0 || h->workers > SABRE_VECENV_MAX_WORKERS ||
        (uint64_t)h->workers * h->envs_per_worker != h->envs || h->envs == 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "vecenv '%s': workers x envs_per_worker is %u x %u = %u envs, want "
                           "1..%d workers and a matching total",
                           o->name, h->workers, h->envs_per_worker, h->envs,
                           SABRE_VECENV_MAX_WORKERS);
    if (h->ring_capacity != sabre__ve_ring_capacity(h->envs_per_worker))
        return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': ring_capacity is %u, want %u", o->name,
                           h->ring_capacity, sabre__ve_ring_capacity(h->envs_per_worker));
    struct ve_offsets e;
    if (!sabre__ve_layout(h->workers, h->envs_per_worker, h->obs_size, h->action_size,
                          h->obs_schema_len, h->action_schema_len, &e))
        return sabre__fail(SABRE_ECORRUPT,
                           "vecenv '%s': obs_size %u / action_size %u give no valid layout",
                           o->name, h->obs_size, h->action_size);
    const uint64_t got[] = {h->workers_off,    h->obs_off,           h->final_obs_off,
                            h->actions_off,    h->rewards_off,       h->terminated_off,
                            h->truncated_off,  h->flags_off,         h->ep_return_off,
                            h->ep_length_off,  h->run_return_off,    h->run_length_off,
                            h->episodes_off,   h->req_ring_off,      h->res_ring_off,
                            h->obs_schema_off, h->action_schema_off, h->total_size};
    const uint64_t want[] = {e.workers,    e.obs,           e.final_obs, e.actions,   e.rewards,
                             e.terminated, e.truncated,     e.flags,     e.ep_return, e.ep_length,
                             e.run_return, e.run_length,    e.episodes,  e.req_ring,  e.res_ring,
                             e.obs_schema, e.action_schema, e.total};
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        if (got[i] != want[i])
            return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': layout offset %zu is %llu, want %llu",
                               o->name, i, (unsigned long long)got[i], (unsigned long long)want[i]);
    if (e.total > o->size)
        return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': total_size is %llu, want <= %llu", o->name,
                           (unsigned long long)e.total, (unsigned long long)o->size);
    const char *base = o->ptr;
    if (base[h->obs_schema_off + h->obs_schema_len] != '\0' ||
        base[h->action_schema_off + h->action_schema_len] != '\0' ||
        memchr(h->env, '\0', sizeof h->env) == NULL)
        return sabre__fail(SABRE_ECORRUPT, "vecenv '%s': a schema or env name is not terminated",
                           o->name);
    *out = h;
    return SABRE_OK;
}

int sabre_vecenv_inspect(const sabre_region_t *region, const sabre_object_t *object,
                         sabre_vecenv_info_t *out)
{
    (void)region;
    const struct ve_header *h;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_inspect: out is NULL");
    int rc = validate(object, &h);
    if (rc != SABRE_OK)
        return rc;
    struct ve_header *m = (struct ve_header *)h;
    memset(out, 0, sizeof *out);
    memcpy(out->env, h->env, sizeof out->env);
    out->backend = (sabre_vecenv_backend_t)h->backend;
    out->workers = h->workers;
    out->envs_per_worker = h->envs_per_worker;
    out->envs = h->envs;
    out->obs_size = h->obs_size;
    out->action_size = h->action_size;
    out->spin_ns = h->spin_ns;
    out->seed = atomic_load_explicit(&m->seed, memory_order_relaxed);
    out->policy_pid = h->policy_pid;
    out->policy_alive = sabre__pid_alive(h->policy_pid, h->policy_start_time);
    out->policy_sleeping = atomic_load_explicit(&m->policy_waiting, memory_order_relaxed) != 0;
    out->steps = atomic_load_explicit(&m->steps, memory_order_relaxed);
    out->batches = atomic_load_explicit(&m->batches, memory_order_relaxed);
    out->faults = atomic_load_explicit(&m->faults, memory_order_relaxed);
    out->respawns = atomic_load_explicit(&m->respawns, memory_order_relaxed);
    out->policy_steps = atomic_load_explicit(&m->policy_steps, memory_order_relaxed);
    out->episodes = atomic_load_explicit(&m->policy_episodes, memory_order_relaxed);
    const struct ve_worker *wk =
        (const struct ve_worker *)((const char *)object->ptr + h->workers_off);
    for (uint32_t w = 0; w < h->workers; w++)
        out->episodes +=
            atomic_load_explicit(&((struct ve_worker *)&wk[w])->episodes, memory_order_relaxed);
    out->obs_schema = (const char *)object->ptr + h->obs_schema_off;
    out->action_schema = (const char *)object->ptr + h->action_schema_off;
    return SABRE_OK;
}

int sabre_vecenv_inspect_worker(const sabre_region_t *region, const sabre_object_t *object,
                                uint32_t worker, sabre_vecenv_worker_info_t *out)
{
    (void)region;
    const struct ve_header *h;
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_inspect_worker: out is NULL");
    int rc = validate(object, &h);
    if (rc != SABRE_OK)
        return rc;
    if (worker >= h->workers)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': worker is %u, want 0..%u", object->name,
                           worker, h->workers - 1);
    struct ve_worker *b = (struct ve_worker *)((char *)object->ptr + h->workers_off) + worker;
    memset(out, 0, sizeof *out);
    out->pid = atomic_load_explicit(&b->pid, memory_order_relaxed);
    uint64_t id = atomic_load_explicit(&b->identity, memory_order_relaxed);
    out->alive = h->backend == SABRE_VECENV_PROCESSES
                     ? rl_identity_alive(id)
                     : sabre__pid_alive(h->policy_pid, h->policy_start_time);
    out->generation = atomic_load_explicit(&b->generation, memory_order_relaxed);
    out->steps = atomic_load_explicit(&b->steps, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&b->res_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&b->res_tail, memory_order_relaxed);
    uint32_t fl = atomic_load_explicit(&b->in_flight, memory_order_relaxed);
    out->in_flight = fl <= h->envs_per_worker ? fl : h->envs_per_worker;
    uint32_t rd = tail - head;
    out->ready = rd <= out->in_flight ? rd : out->in_flight;
    out->sleeping = atomic_load_explicit(&b->worker_waiting, memory_order_relaxed) != 0;
    uint64_t hb = atomic_load_explicit(&b->heartbeat_ns, memory_order_relaxed);
    uint64_t now = sabre__now_ns();
    out->heartbeat_age_ns = hb == 0 ? UINT64_MAX : now > hb ? now - hb : 0;
    out->status = atomic_load_explicit(&b->status, memory_order_relaxed);
    memcpy(out->message, b->message, sizeof out->message);
    out->message[sizeof out->message - 1] = '\0';
    return SABRE_OK;
}
