/*
 * create.c - a vecenv's object, its workers' lifetimes (threads or forked
 * processes), close, accessors and statistics.  Byte layout and protocol:
 * docs/vecenv.md.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/rl_internal.h"
#include "vecenv/vecenv_internal.h"

#define DEFAULT_SPIN_NS 50000ull

/* ---- layout -------------------------------------------------------------- */

uint32_t sabre__ve_ring_capacity(uint32_t e)
{
    uint32_t cap = 2;
    while (cap <= e) /* one more than the envs: room for the STOP entry */
        cap <<= 1;
    return cap;
}

static uint64_t take(uint64_t *at, uint64_t bytes)
{
    uint64_t off = SABRE_ALIGN_UP(*at, (uint64_t)SABRE_OBJECT_ALIGN);
    *at = off + bytes;
    return off;
}

bool sabre__ve_layout(uint32_t n, uint32_t e, uint32_t obs_size, uint32_t action_size,
                      uint32_t obs_schema_len, uint32_t action_schema_len, struct ve_offsets *o)
{
    uint64_t envs = (uint64_t)n * e, cap = sabre__ve_ring_capacity(e);
    if (n == 0 || e == 0 || envs > SABRE_VECENV_MAX_ENVS || obs_size == 0 || action_size == 0)
        return false;
    uint64_t at = VE_HEADER_SIZE;
    o->workers = take(&at, (uint64_t)n * VE_WORKER_SIZE);
    o->obs = take(&at, envs * obs_size);
    o->final_obs = take(&at, envs * obs_size);
    o->actions = take(&at, envs * action_size);
    o->rewards = take(&at, envs * 4);
    o->terminated = take(&at, envs);
    o->truncated = take(&at, envs);
    o->flags = take(&at, envs);
    o->ep_return = take(&at, envs * 4);
    o->ep_length = take(&at, envs * 4);
    o->run_return = take(&at, envs * 4);
    o->run_length = take(&at, envs * 4);
    o->episodes = take(&at, envs * 4);
    o->req_ring = take(&at, (uint64_t)n * cap * 4);
    o->res_ring = take(&at, (uint64_t)n * cap * 4);
    o->obs_schema = take(&at, (uint64_t)obs_schema_len + 1);
    o->action_schema = take(&at, (uint64_t)action_schema_len + 1);
    o->total = SABRE_ALIGN_UP(at, (uint64_t)SABRE_OBJECT_ALIGN);
    return o->total < (1ull << 46);
}

/* ---- schemas ------------------------------------------------------------- */

static int compile(const sabre_vecenv_t *ve, const char *what, const char *text,
                   sabre_schema_t **out)
{
    sabre_schema_error_t err;
    if (!text || !*text)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': env '%s' has no %s schema", ve->name,
                           ve->cls->name, what);
    if (sabre_schema_compile(text, strlen(text), out, &err) != SABRE_OK)
        return sabre__fail(SABRE_ESCHEMA,
                           "vecenv '%s': %s schema of env '%s': line %u, column %u: %s", ve->name,
                           what, ve->cls->name, err.line, err.column, err.message);
    const sabre_layout_t *l = sabre_schema_root(*out);
    if (!l || l->size == 0)
        return sabre__fail(SABRE_ESCHEMA, "vecenv '%s': %s schema of env '%s' has an empty root",
                           ve->name, what, ve->cls->name);
    return SABRE_OK;
}

/* The policy's own schema must lay out exactly as the env's. */
static int match(const sabre_vecenv_t *ve, const char *what, const char *text,
                 const sabre_layout_t *env_l)
{
    if (!text)
        return SABRE_OK;
    sabre_schema_t *s = NULL;
    sabre_schema_error_t err;
    if (sabre_schema_compile(text, strlen(text), &s, &err) != SABRE_OK)
        return sabre__fail(SABRE_ESCHEMA,
                           "vecenv '%s': the policy's %s schema: line %u, column %u: %s", ve->name,
                           what, err.line, err.column, err.message);
    const sabre_layout_t *l = sabre_schema_root(s);
    int rc = SABRE_OK;
    if (!l || l->hash != env_l->hash)
        rc = sabre__fail(
            SABRE_ELAYOUT,
            "vecenv '%s': %s layout is \"%s\" (hash 0x%016llx), want env '%s''s \"%s\" "
            "(hash 0x%016llx)",
            ve->name, what, l ? l->canonical : "", l ? (unsigned long long)l->hash : 0ull,
            ve->cls->name, env_l->canonical, (unsigned long long)env_l->hash);
    sabre_schema_free(s);
    return rc;
}

static int float_columns(sabre_vecenv_t *ve)
{
    const sabre_layout_t *l = ve->action_l;
    ve->float_off = calloc(l->ncolumns + 1, sizeof *ve->float_off);
    ve->float_is64 = calloc(l->ncolumns + 1, 1);
    if (!ve->float_off || !ve->float_is64)
        return sabre__fail(SABRE_ENOMEM, "vecenv '%s': out of memory", ve->name);
    for (uint32_t i = 0; i < l->ncolumns; i++) {
        if (l->columns[i].type != SABRE_F32 && l->columns[i].type != SABRE_F64)
            continue;
        ve->float_off[ve->nfloat] = i; /* column index */
        ve->float_is64[ve->nfloat++] = l->columns[i].type == SABRE_F64;
    }
    return SABRE_OK;
}

/* ---- workers ------------------------------------------------------------- */

struct thread_arg {
    sabre_vecenv_t *ve;
    uint32_t w;
};

static void *thread_main(void *p)
{
    struct thread_arg a = *(struct thread_arg *)p;
    free(p);
    sabre__ve_worker_run(a.ve, a.w);
    return NULL;
}

int sabre__ve_spawn(sabre_vecenv_t *ve, uint32_t w)
{
    struct ve_worker *b = &ve->wk[w];
    atomic_store_explicit(&b->running, 0, memory_order_relaxed);
    atomic_store_explicit(&b->identity, 0, memory_order_relaxed);
    if (ve->backend == SABRE_VECENV_THREADS) {
        struct thread_arg *a = malloc(sizeof *a);
        if (!a)
            return sabre__fail(SABRE_ENOMEM, "vecenv '%s': out of memory", ve->name);
        a->ve = ve;
        a->w = w;
        atomic_store_explicit(&b->pid, (int32_t)getpid(), memory_order_relaxed);
        int err = pthread_create(&ve->threads[w], NULL, thread_main, a);
        if (err) {
            free(a);
            return sabre__fail(SABRE_EIO, "vecenv '%s': starting worker thread %u: %s", ve->name, w,
                               strerror(err));
        }
        ve->thread_started[w] = true;
        return SABRE_OK;
    }
    fflush(NULL); /* no buffered output is written twice */
    pid_t pid = fork();
    if (pid < 0)
        return sabre__fail_errno(errno, "vecenv '%s': forking worker process %u", ve->name, w);
    if (pid == 0) {
        sabre__ve_worker_run(ve, w);
        _exit(0);
    }
    ve->pids[w] = pid;
    ve->wstart[w] = sabre__proc_start_time(pid);
    atomic_store_explicit(&b->pid, (int32_t)pid, memory_order_relaxed);
    return SABRE_OK;
}

/* Push a STOP entry to every worker, then join or reap them. */
static void stop_workers(sabre_vecenv_t *ve)
{
    for (uint32_t w = 0; w < ve->n; w++) {
        bool live = ve->backend == SABRE_VECENV_THREADS ? ve->thread_started[w] : ve->pids[w] > 0;
        if (!live)
            continue;
        struct ve_worker *b = &ve->wk[w];
        atomic_store_explicit(&ve->req_ring[w * ve->cap + (ve->req_tail[w] & ve->mask)], VE_OP_STOP,
                              memory_order_relaxed);
        ve->req_tail[w]++;
        atomic_store_explicit(&b->req_tail, ve->req_tail[w], memory_order_release);
        if (rl_fenced_load(&b->worker_waiting))
            sabre__futex_wake(&b->req_tail, 1);
    }
    for (uint32_t w = 0; w < ve->n; w++) {
        if (ve->backend == SABRE_VECENV_THREADS) {
            if (ve->thread_started[w])
                pthread_join(ve->threads[w], NULL);
            ve->thread_started[w] = false;
            continue;
        }
        if (ve->pids[w] <= 0)
            continue;
        uint64_t deadline = sabre__now_ns() + 1000000000ull;
        int st;
        while (waitpid(ve->pids[w], &st, WNOHANG) == 0) {
            if (sabre__now_ns() > deadline) {
                kill(ve->pids[w], SIGKILL);
                waitpid(ve->pids[w], &st, 0);
                break;
            }
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        ve->pids[w] = 0;
    }
}

/* ---- create / close ------------------------------------------------------ */

static int check_desc(const sabre_vecenv_desc_t *d, const char *name)
{
    const sabre_env_class_t *c = d->env;
    if (!c)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': env class is NULL", name);
    if (!c->name || !*c->name || strlen(c->name) >= SABRE_VECENV_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': env class name is %s, want 1..%d bytes",
                           name, c->name ? "too long or empty" : "NULL", SABRE_VECENV_NAME_MAX - 1);
    if (!c->create || !c->reset || !c->step || !c->free)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': env '%s' lacks its %s function", name,
                           c->name,
                           !c->create  ? "create"
                           : !c->reset ? "reset"
                           : !c->step  ? "step"
                                       : "free");
    if (d->workers == 0 || d->workers > SABRE_VECENV_MAX_WORKERS)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': workers is %u, want 1..%d", name, d->workers,
                           SABRE_VECENV_MAX_WORKERS);
    if (d->envs_per_worker == 0 ||
        (uint64_t)d->workers * d->envs_per_worker > SABRE_VECENV_MAX_ENVS)
        return sabre__fail(
            SABRE_EINVAL,
            "vecenv '%s': envs_per_worker is %u (x %u workers), want 1..%u envs in all", name,
            d->envs_per_worker, d->workers, SABRE_VECENV_MAX_ENVS);
    if (d->backend != SABRE_VECENV_THREADS && d->backend != SABRE_VECENV_PROCESSES)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': backend is %d, want THREADS or PROCESSES",
                           name, (int)d->backend);
    if (d->backend == SABRE_VECENV_PROCESSES && d->region &&
        sabre_region_backing(d->region) == SABRE_BACKING_PRIVATE)
        return sabre__fail(SABRE_EINVAL,
                           "vecenv '%s': region backing is private, want memfd, shm or file for "
                           "worker processes",
                           name);
    return SABRE_OK;
}

int sabre_vecenv_create(const sabre_vecenv_desc_t *desc, sabre_vecenv_t **out)
{
    if (out)
        *out = NULL;
    if (!desc || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_create: %s is NULL", desc ? "out" : "desc");
    const char *name = desc->name ? desc->name : "vecenv";
    if (!*name || strlen(name) >= SABRE_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "vecenv '%s': name length is %zu, want 1..%d", name,
                           strlen(name), SABRE_NAME_MAX - 1);
    int rc = check_desc(desc, name);
    if (rc != SABRE_OK)
        return rc;
    sabre_vecenv_t *ve = calloc(1, sizeof *ve);
    if (!ve)
        return sabre__fail(SABRE_ENOMEM, "vecenv '%s': out of memory", name);
    sabre__strlcpy(ve->name, name, sizeof ve->name);
    ve->cls = desc->env;
    ve->config = desc->env_config;
    ve->n = desc->workers;
    ve->e = desc->envs_per_worker;
    ve->envs = ve->n * ve->e;
    ve->cap = sabre__ve_ring_capacity(ve->e);
    ve->mask = ve->cap - 1;
    ve->backend = desc->backend;
    ve->spin_ns = desc->spin_ns ? desc->spin_ns : DEFAULT_SPIN_NS;
    ve->steal = desc->backend == SABRE_VECENV_THREADS && !desc->envs_thread_bound;
    if ((rc = compile(ve, "observation", ve->cls->obs_schema, &ve->obs_schema)) ||
        (rc = compile(ve, "action", ve->cls->action_schema, &ve->action_schema)))
        goto fail;
    ve->obs_l = sabre_schema_root(ve->obs_schema);
    ve->action_l = sabre_schema_root(ve->action_schema);
    ve->obs_size = ve->obs_l->size;
    ve->action_size = ve->action_l->size;
    if (ve->cls->discrete_actions &&
        (ve->action_l->ncolumns != 1 || ve->action_l->columns[0].type != SABRE_I32 ||
         ve->action_l->columns[0].offset != 0 || ve->action_size != 4)) {
        rc = sabre__fail(SABRE_EINVAL,
                         "vecenv '%s': env '%s' has discrete_actions %u and action layout \"%s\", "
                         "want one i32",
                         name, ve->cls->name, ve->cls->discrete_actions, ve->action_l->canonical);
        goto fail;
    }
    if ((rc = match(ve, "observation", desc->obs_schema, ve->obs_l)) ||
        (rc = match(ve, "action", desc->action_schema, ve->action_l)) || (rc = float_columns(ve)))
        goto fail;
    struct ve_offsets o;
    if (!sabre__ve_layout(ve->n, ve->e, ve->obs_size, ve->action_size,
                          (uint32_t)ve->obs_l->canonical_len, (uint32_t)ve->action_l->canonical_len,
                          &o)) {
        rc = sabre__fail(SABRE_EINVAL,
                         "vecenv '%s': %u x %u envs of %u-byte observations do not fit", name,
                         ve->n, ve->e, ve->obs_size);
        goto fail;
    }
    ve->region = desc->region;
    if (!ve->region) {
        sabre_region_desc_t rd = {
            .backing = desc->backend == SABRE_VECENV_PROCESSES ? SABRE_BACKING_MEMFD
                                                               : SABRE_BACKING_PRIVATE,
            .name = "sabre-vecenv",
            .size = o.total + (256u << 10),
            .max_objects = 8,
        };
        if ((rc = sabre_region_create(&rd, &ve->region)))
            goto fail;
        ve->own_region = true;
    }
    sabre_object_t obj;
    rc = sabre_region_alloc(
        ve->region,
        &(sabre_object_desc_t){
            .name = name, .kind = SABRE_OBJ_VECENV, .size = o.total, .align = 128},
        &obj);
    if (rc != SABRE_OK)
        goto fail;
    unsigned char *base = obj.ptr;
    struct ve_header *h = (struct ve_header *)base;
    ve->hdr = h;
    ve->wk = (struct ve_worker *)(base + o.workers);
    ve->obs = base + o.obs;
    ve->final_obs = base + o.final_obs;
    ve->actions = base + o.actions;
    ve->rewards = (float *)(base + o.rewards);
    ve->terminated = base + o.terminated;
    ve->truncated = base + o.truncated;
    ve->flags = base + o.flags;
    ve->ep_return = (float *)(base + o.ep_return);
    ve->ep_length = (uint32_t *)(base + o.ep_length);
    ve->run_return = (float *)(base + o.run_return);
    ve->run_length = (uint32_t *)(base + o.run_length);
    ve->episodes = (uint32_t *)(base + o.episodes);
    ve->req_ring = (_Atomic uint32_t *)(base + o.req_ring);
    ve->res_ring = (uint32_t *)(base + o.res_ring);
    h->version = SABRE_VECENV_VERSION;
    h->header_size = VE_HEADER_SIZE;
    h->workers = ve->n;
    h->envs_per_worker = ve->e;
    h->envs = ve->envs;
    h->obs_size = ve->obs_size;
    h->action_size = ve->action_size;
    h->backend = (uint32_t)ve->backend;
    h->spin_ns = ve->spin_ns;
    h->policy_pid = (int32_t)getpid();
    h->ring_capacity = ve->cap;
    h->policy_start_time = sabre__proc_start_time(getpid());
    sabre__strlcpy(h->env, ve->cls->name, sizeof h->env);
    h->obs_schema_off = o.obs_schema;
    h->obs_schema_len = (uint32_t)ve->obs_l->canonical_len;
    h->action_schema_off = o.action_schema;
    h->action_schema_len = (uint32_t)ve->action_l->canonical_len;
    memcpy(base + o.obs_schema, ve->obs_l->canonical, ve->obs_l->canonical_len + 1);
    memcpy(base + o.action_schema, ve->action_l->canonical, ve->action_l->canonical_len + 1);
    h->workers_off = o.workers;
    h->obs_off = o.obs;
    h->final_obs_off = o.final_obs;
    h->actions_off = o.actions;
    h->rewards_off = o.rewards;
    h->terminated_off = o.terminated;
    h->truncated_off = o.truncated;
    h->flags_off = o.flags;
    h->ep_return_off = o.ep_return;
    h->ep_length_off = o.ep_length;
    h->run_return_off = o.run_return;
    h->run_length_off = o.run_length;
    h->episodes_off = o.episodes;
    h->req_ring_off = o.req_ring;
    h->res_ring_off = o.res_ring;
    h->total_size = o.total;
    atomic_store_explicit(&h->magic, SABRE_VECENV_MAGIC, memory_order_release);

    ve->state = calloc(ve->envs, 1);
    ve->mark = calloc(ve->envs, 1);
    ve->scratch = calloc(ve->envs, sizeof *ve->scratch);
    ve->req_tail = calloc(ve->n, sizeof *ve->req_tail);
    ve->res_head = calloc(ve->n, sizeof *ve->res_head);
    ve->outstanding = calloc(ve->n, sizeof *ve->outstanding);
    ve->threads = calloc(ve->n, sizeof *ve->threads);
    ve->thread_started = calloc(ve->n, sizeof *ve->thread_started);
    ve->pids = calloc(ve->n, sizeof *ve->pids);
    ve->wstart = calloc(ve->n, sizeof *ve->wstart);
    ve->inst = calloc(ve->envs, sizeof *ve->inst);
    ve->inline_w = calloc(ve->n, 1);
    if (!ve->inst || !ve->inline_w || !ve->state || !ve->mark || !ve->scratch || !ve->req_tail ||
        !ve->res_head || !ve->outstanding || !ve->threads || !ve->thread_started || !ve->pids ||
        !ve->wstart) {
        rc = sabre__fail(SABRE_ENOMEM, "vecenv '%s': out of memory", name);
        goto fail;
    }
    for (uint32_t w = 0; w < ve->n; w++)
        if ((rc = sabre__ve_spawn(ve, w)))
            goto fail;
    *out = ve;
    return SABRE_OK;
fail:
    sabre_vecenv_close(ve);
    return rc;
}

void sabre_vecenv_close(sabre_vecenv_t *ve)
{
    if (!ve)
        return;
    if (ve->hdr && ve->req_tail && ve->threads && ve->pids && ve->thread_started)
        stop_workers(ve);
    /* Instances made by worker threads or by the policy (worker processes
     * and threads with envs_thread_bound free their own). */
    if (ve->inst && ve->steal)
        for (uint32_t g = 0; g < ve->envs; g++)
            if (ve->inst[g])
                ve->cls->free(ve->inst[g]);
    free(ve->inst);
    free(ve->inline_w);
    if (ve->own_region)
        sabre_region_close(ve->region);
    sabre_schema_free(ve->obs_schema);
    sabre_schema_free(ve->action_schema);
    free(ve->float_off);
    free(ve->float_is64);
    free(ve->state);
    free(ve->mark);
    free(ve->scratch);
    free(ve->req_tail);
    free(ve->res_head);
    free(ve->outstanding);
    free(ve->threads);
    free(ve->thread_started);
    free(ve->pids);
    free(ve->wstart);
    free(ve);
}

/* ---- accessors ----------------------------------------------------------- */

int sabre_vecenv_arrays(const sabre_vecenv_t *ve, sabre_vecenv_arrays_t *out)
{
    if (!ve || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_arrays: %s is NULL", ve ? "out" : "vecenv");
    *out = (sabre_vecenv_arrays_t){
        .envs = ve->envs,
        .obs_size = ve->obs_size,
        .action_size = ve->action_size,
        .obs = ve->obs,
        .final_obs = ve->final_obs,
        .actions = ve->actions,
        .rewards = ve->rewards,
        .terminated = ve->terminated,
        .truncated = ve->truncated,
        .flags = ve->flags,
        .episode_return = ve->ep_return,
        .episode_length = ve->ep_length,
    };
    return SABRE_OK;
}

const sabre_layout_t *sabre_vecenv_obs_layout(const sabre_vecenv_t *ve)
{
    return ve ? ve->obs_l : NULL;
}

const sabre_layout_t *sabre_vecenv_action_layout(const sabre_vecenv_t *ve)
{
    return ve ? ve->action_l : NULL;
}

uint32_t sabre_vecenv_envs(const sabre_vecenv_t *ve)
{
    return ve ? ve->envs : 0;
}

uint32_t sabre_vecenv_workers(const sabre_vecenv_t *ve)
{
    return ve ? ve->n : 0;
}

sabre_region_t *sabre_vecenv_region(const sabre_vecenv_t *ve)
{
    return ve ? ve->region : NULL;
}

const char *sabre_vecenv_name(const sabre_vecenv_t *ve)
{
    return ve ? ve->name : "";
}

int sabre_vecenv_worker_pid(const sabre_vecenv_t *ve, uint32_t w)
{
    if (!ve || w >= ve->n || ve->backend != SABRE_VECENV_PROCESSES)
        return 0;
    return (int)atomic_load_explicit(&ve->wk[w].pid, memory_order_relaxed);
}

int sabre_vecenv_stats(const sabre_vecenv_t *ve, sabre_vecenv_stats_t *out)
{
    if (!ve || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_vecenv_stats: %s is NULL", ve ? "out" : "vecenv");
    struct ve_header *h = ve->hdr;
    memset(out, 0, sizeof *out);
    out->steps = atomic_load_explicit(&h->steps, memory_order_relaxed);
    out->batches = atomic_load_explicit(&h->batches, memory_order_relaxed);
    out->faults = atomic_load_explicit(&h->faults, memory_order_relaxed);
    out->respawns = atomic_load_explicit(&h->respawns, memory_order_relaxed);
    out->policy_wakes = atomic_load_explicit(&h->policy_wakes, memory_order_relaxed);
    out->policy_sleeps = atomic_load_explicit(&h->policy_sleeps, memory_order_relaxed);
    out->policy_steps = atomic_load_explicit(&h->policy_steps, memory_order_relaxed);
    out->episodes = atomic_load_explicit(&h->policy_episodes, memory_order_relaxed);
    for (uint32_t w = 0; w < ve->n; w++) {
        out->episodes += atomic_load_explicit(&ve->wk[w].episodes, memory_order_relaxed);
        out->worker_wakes += atomic_load_explicit(&ve->wk[w].worker_wakes, memory_order_relaxed);
    }
    return SABRE_OK;
}
