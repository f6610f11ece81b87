/*
 * sched.c - systems, plans (explicit order, conflicts, batches by level) and
 * frames run on the pool with in-place, snapshot or process offload.
 * docs/scheduling.md describes the algorithm; sabre/sched.h the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sabre/sched.h"
#include "sched/dispatch.h"
#include "sched/sched_internal.h"

static const char *const default_stages[] = {"startup", "update", "late", "render", "cleanup"};

/* ------------------------------------------------------------- helpers */

static int check_name(const char *what, const char *name)
{
    if (!name || !name[0])
        return sabre__fail(SABRE_EINVAL, "scheduler: %s name is missing", what);
    if (strlen(name) >= SABRE_SCHED_NAME_MAX)
        return sabre__fail(SABRE_EINVAL, "scheduler: %s name '%.60s...' is longer than %d bytes",
                           what, name, SABRE_SCHED_NAME_MAX - 1);
    return SABRE_OK;
}

static int copy_names(const char *what, const char *const *src, uint32_t n, sname_t **out)
{
    *out = NULL;
    if (n == 0)
        return SABRE_OK;
    if (!src)
        return sabre__fail(SABRE_EINVAL, "scheduler: %s list is NULL with a count of %u", what, n);
    *out = calloc(n, sizeof(sname_t));
    if (!*out)
        return sabre__fail(SABRE_ENOMEM, "scheduler: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        int rc = check_name(what, src[i]);
        if (rc)
            return rc;
        sabre__strlcpy((*out)[i], src[i], sizeof(sname_t));
    }
    return SABRE_OK;
}

static int copy_comps(const sabre_world_t *w, const char *what, const sabre_component_t *src,
                      uint32_t n, sabre_component_t **out)
{
    *out = NULL;
    if (n == 0)
        return SABRE_OK;
    if (!src)
        return sabre__fail(SABRE_EINVAL, "scheduler: %s list is NULL with a count of %u", what, n);
    for (uint32_t i = 0; i < n; i++)
        if (!sabre_component_name(w, src[i]))
            return sabre__fail(SABRE_ENOENT, "scheduler: %s names unknown component id %u", what,
                               src[i]);
    *out = malloc(n * sizeof **out);
    if (!*out)
        return sabre__fail(SABRE_ENOMEM, "scheduler: out of memory");
    memcpy(*out, src, n * sizeof **out);
    return SABRE_OK;
}

bool sabre__sched_has_comp(const sabre_component_t *v, uint32_t n, sabre_component_t c)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == c)
            return true;
    return false;
}

bool sabre__sched_has_name(const sname_t *v, uint32_t n, const char *s)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

int sabre__sched_find_system(const sabre_sched_t *s, const char *name)
{
    for (uint32_t i = 0; i < s->nsys; i++)
        if (!strcmp(s->sys[i]->name, name))
            return (int)i;
    return -1;
}

static void free_system(system_t *y)
{
    if (!y)
        return;
    free(y->after);
    free(y->before);
    free(y->reads);
    free(y->writes);
    free(y->rres);
    free(y->wres);
    free(y->args);
    free(y->terms);
    free(y->marked);
    free(y->snap_comps);
    free(y->blocks);
    sabre_query_destroy(y->query);
    sabre_cmd_free(y->cmd);
    sabre_snapshot_free(y->snap);
    free(y);
}

/* -------------------------------------------------------------- create */

int sabre_sched_create(const sabre_sched_desc_t *desc, sabre_sched_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_create: out is NULL");
    *out = NULL;
    if (!desc || !desc->world)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_create: a world is required");
    const char *const *stages = desc->stages ? desc->stages : default_stages;
    uint32_t nstages = desc->stages ? desc->nstages : 5;
    if (nstages == 0 || nstages > SABRE_SCHED_MAX_STAGES)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_create: %u stages (1..%d allowed)", nstages,
                           SABRE_SCHED_MAX_STAGES);
    if (desc->offload > SABRE_OFFLOAD_PROCESS)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_create: unknown offload %d",
                           (int)desc->offload);
    if (desc->pool && (desc->threads || desc->processes))
        return sabre__fail(SABRE_EINVAL, "sabre_sched_create: give a pool or threads/processes "
                                         "for one of its own, not both");
    sabre_sched_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "sabre_sched_create: out of memory");
    s->world = desc->world;
    s->pool = desc->pool;
    s->full_snapshots = desc->full_snapshots;
    s->default_offload = desc->offload;
    for (uint32_t i = 0; i < nstages; i++) {
        int rc = check_name("stage", stages[i]);
        for (uint32_t j = 0; rc == SABRE_OK && j < i; j++)
            if (!strcmp(s->stages[j], stages[i]))
                rc = sabre__fail(SABRE_EINVAL, "sabre_sched_create: stage '%s' listed twice",
                                 stages[i]);
        if (rc) {
            free(s);
            return rc;
        }
        sabre__strlcpy(s->stages[i], stages[i], sizeof(sname_t));
    }
    s->nstages = nstages;
    if (desc->threads || desc->processes) {
        sabre_pool_desc_t pd = {.threads = desc->threads,
                                .processes = desc->processes,
                                .name = "sched",
                                .region = desc->processes ? sabre_world_region(desc->world) : NULL};
        int rc = sabre_pool_create(&pd, &s->own_pool);
        if (rc) {
            free(s);
            return rc;
        }
        s->pool = s->own_pool;
    }
    *out = s;
    return SABRE_OK;
}

void sabre_sched_destroy(sabre_sched_t *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nsys; i++)
        free_system(s->sys[i]);
    for (uint32_t i = 0; i < s->nviews; i++)
        sabre_snapshot_free(s->views[i]);
    free(s->sys);
    free(s->res);
    free(s->order);
    free(s->batches);
    free(s->edges);
    free(s->plan);
    free(s->work);
    free(s->tasks);
    free(s->views);
    sabre_pool_destroy(s->own_pool); /* after the systems: process jobs are its */
    free(s);
}

/* ---------------------------------------------------------------- add */

int sabre__sched_job_name(const system_t *y, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "sabre.sched.%s", y->name);
    return n > 0 && (size_t)n < cap ? SABRE_OK : SABRE_EINVAL;
}

static int register_process_job(sabre_sched_t *s, system_t *y)
{
    if (y->proc_registered)
        return SABRE_OK;
    char name[SABRE_POOL_JOB_NAME_MAX];
    sabre__sched_job_name(y, name, sizeof name);
    int rc = sabre_pool_register(s->pool, name, sabre__sched_proc_job);
    if (rc && rc != SABRE_EEXIST)
        return rc;
    y->proc_registered = true;
    return SABRE_OK;
}

static int check_offload(sabre_sched_t *s, const system_t *y, sabre_offload_t mode,
                         const sabre_query_desc_t *q)
{
    if (mode > SABRE_OFFLOAD_PROCESS)
        return sabre__fail(SABRE_EINVAL, "system '%s': unknown offload mode %d", y->name,
                           (int)mode);
    if (y->run && mode != SABRE_OFFLOAD_NONE)
        return sabre__fail(SABRE_EINVAL,
                           "system '%s': offload needs a kernel; a run function runs on a pool "
                           "thread",
                           y->name);
    if (y->kernel && mode == SABRE_OFFLOAD_INPLACE && q && q->nchanged)
        return sabre__fail(SABRE_EINVAL,
                           "system '%s': in-place offload hands out whole table chunks, so a "
                           "`changed` query filter needs snapshot or process offload",
                           y->name);
    if (mode == SABRE_OFFLOAD_PROCESS && y->user)
        return sabre__fail(SABRE_EINVAL,
                           "system '%s': .user is a pointer into this process and is not "
                           "passed to worker processes; give process kernels their data "
                           "through .args (bytes copied to every call)",
                           y->name);
    if (mode == SABRE_OFFLOAD_PROCESS) {
        sabre_pool_stats_t ps;
        if (!s->pool || sabre_pool_stats(s->pool, &ps) || ps.processes == 0 ||
            !sabre_pool_region(s->pool))
            return sabre__fail(SABRE_EINVAL,
                               "system '%s': process offload needs a pool with worker processes "
                               "and a shared region",
                               y->name);
    }
    return SABRE_OK;
}

/* A kernel's terms (reads then writes) and the written components the
 * scheduler marks.  With its own query, every term with data must be
 * required by it (`all`), so that sabre_kernel_column never meets a row
 * without the term's columns (native views hold only their table's). */
static int kernel_terms(const sabre_world_t *w, system_t *y, const sabre_query_desc_t *q)
{
    uint32_t n = y->nreads + y->nwrites;
    y->terms = malloc(n * sizeof *y->terms);
    y->marked = malloc((y->nwrites ? y->nwrites : 1) * sizeof *y->marked);
    if (!y->terms || !y->marked)
        return sabre__fail(SABRE_ENOMEM, "sabre_sched_add: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        sabre_component_t c = i < y->nreads ? y->reads[i] : y->writes[i - y->nreads];
        y->terms[i] = c;
        if (q && sabre_component_size(w, c) && !sabre__sched_has_comp(q->all, q->nall, c))
            return sabre__fail(SABRE_EINVAL,
                               "system '%s': term %u (%s) is not in its query's `all` list, so "
                               "some of its rows may lack the component; add it to `all`",
                               y->name, i, sabre_component_name(w, c));
    }
    y->nterms = n;
    for (uint32_t i = 0; i < y->nwrites; i++)
        if (sabre_component_size(w, y->writes[i]) &&
            !sabre__sched_has_comp(y->marked, y->nmarked, y->writes[i]))
            y->marked[y->nmarked++] = y->writes[i];
    return SABRE_OK;
}

void *sabre_kernel_column(const sabre_kernel_ctx_t *c, uint32_t term, uint32_t column)
{
    void *p = NULL;
    if (!c || !c->rows || term >= c->nterms ||
        sabre_snapshot_column_at(c->rows, c->terms[term], column, &p, NULL))
        return NULL;
    return p;
}

/* Mark rows [begin, end) of `rows` changed for every component the system
 * writes (unless it marks its own).  Ranges begin at multiples of 64 rows
 * and only a view's last range ends inside a word, so every whole word of
 * the range is this range's alone: a relaxed store of all ones (no other
 * thread touches the word during the batch; the pool's join orders it
 * before the commit).  The partial last word is ORed: a native view's
 * chunk may hold other rows in it.  A view that does not start on a word
 * boundary takes sabre_snapshot_mark_range (atomic OR per word). */
int sabre__sched_mark_written(const system_t *y, sabre_snapshot_t *rows, uint64_t begin,
                              uint64_t end)
{
    if (y->marks_rows || begin >= end)
        return SABRE_OK;
    for (uint32_t i = 0; i < y->nmarked; i++) {
        _Atomic uint64_t *words;
        int rc;
        if (begin % 64 || sabre_snapshot_changed(rows, y->marked[i], &words) != SABRE_OK) {
            sabre_clear_error();
            rc = sabre_snapshot_mark_range(rows, y->marked[i], begin, end - begin);
        } else {
            uint64_t w = begin / 64, wend = end / 64;
            for (; w < wend; w++)
                atomic_store_explicit(&words[w], ~0ull, memory_order_relaxed);
            if (end % 64)
                atomic_fetch_or_explicit(&words[wend], (1ull << (end % 64)) - 1,
                                         memory_order_relaxed);
            rc = sabre_snapshot_touch(rows, y->marked[i]);
        }
        if (rc)
            return rc;
    }
    return SABRE_OK;
}

int sabre_sched_add(sabre_sched_t *s, const sabre_system_desc_t *d)
{
    if (!s || !d)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_add: NULL argument");
    int rc = check_name("system", d->name);
    if (rc)
        return rc;
    if (s->nsys >= SABRE_SCHED_MAX_SYSTEMS)
        return sabre__fail(SABRE_ENOSPC, "sabre_sched_add: more than %d systems",
                           SABRE_SCHED_MAX_SYSTEMS);
    if (sabre__sched_find_system(s, d->name) >= 0)
        return sabre__fail(SABRE_EEXIST, "sabre_sched_add: system '%s' already exists", d->name);
    if (!d->run == !d->kernel)
        return sabre__fail(SABRE_EINVAL, "system '%s': give exactly one of run and kernel",
                           d->name);
    if (d->args_len > ARGS_MAX || (d->args_len && !d->args))
        return sabre__fail(SABRE_EINVAL, "system '%s': args of %zu bytes (at most %u, non-NULL)",
                           d->name, d->args_len, ARGS_MAX);
    const char *stage = d->stage ? d->stage : "update";
    uint32_t st = UINT32_MAX;
    for (uint32_t i = 0; i < s->nstages; i++)
        if (!strcmp(s->stages[i], stage))
            st = i;
    if (st == UINT32_MAX)
        return sabre__fail(SABRE_ENOENT, "system '%s': unknown stage '%s'", d->name, stage);

    system_t *y = calloc(1, sizeof *y);
    if (!y)
        return sabre__fail(SABRE_ENOMEM, "sabre_sched_add: out of memory");
    sabre__strlcpy(y->name, d->name, sizeof y->name);
    y->stage = st;
    y->index = s->nsys;
    y->run = d->run;
    y->kernel = d->kernel;
    y->skip_if_empty = d->skip_if_empty;
    y->grain = d->grain;
    y->user = d->user;
    if (d->dispatch > SABRE_DISPATCH_INLINE) {
        free(y);
        return sabre__fail(SABRE_EINVAL, "system '%s': unknown dispatch %d", d->name,
                           (int)d->dispatch);
    }
    y->dispatch = d->dispatch;
    y->marks_rows = d->marks_rows;
    sabre_offload_t off =
        d->kernel && d->offload == SABRE_OFFLOAD_NONE ? s->default_offload : d->offload;
    y->offload = d->kernel && off == SABRE_OFFLOAD_NONE ? SABRE_OFFLOAD_INPLACE : off;
    if ((rc = copy_names("after", d->after, d->nafter, &y->after)) ||
        (rc = copy_names("before", d->before, d->nbefore, &y->before)) ||
        (rc = copy_names("resource", d->reads_res, d->nreads_res, &y->rres)) ||
        (rc = copy_names("resource", d->writes_res, d->nwrites_res, &y->wres)) ||
        (rc = copy_comps(s->world, "reads", d->reads, d->nreads, &y->reads)) ||
        (rc = copy_comps(s->world, "writes", d->writes, d->nwrites, &y->writes)))
        goto fail;
    y->nafter = d->nafter;
    y->nbefore = d->nbefore;
    y->nrres = d->nreads_res;
    y->nwres = d->nwrites_res;
    y->nreads = d->nreads;
    y->nwrites = d->nwrites;
    if (d->args_len) {
        if (!(y->args = malloc(d->args_len))) {
            rc = sabre__fail(SABRE_ENOMEM, "sabre_sched_add: out of memory");
            goto fail;
        }
        memcpy(y->args, d->args, d->args_len);
        y->args_len = d->args_len;
    }
    if ((rc = check_offload(s, y, y->offload, d->query)))
        goto fail;
    y->has_changed = d->query && d->query->nchanged;
    /* A sparse component's values live in its set, not in the table chunks
     * an in-place kernel's native views show (docs/ecs.md, "Sparse
     * components"); as a filter only (a tag) it is fine everywhere. */
    for (uint32_t i = 0;
         d->kernel && y->offload == SABRE_OFFLOAD_INPLACE && i < y->nwrites + y->nreads; i++) {
        sabre_component_t c = i < y->nwrites ? y->writes[i] : y->reads[i - y->nwrites];
        if (sabre_component_storage(s->world, c) == SABRE_STORAGE_SPARSE &&
            sabre_component_size(s->world, c)) {
            rc = sabre__fail(SABRE_EINVAL,
                             "system '%s': component '%s' is sparse: its values are not in the "
                             "table chunks an INPLACE kernel sees; use SABRE_OFFLOAD_SNAPSHOT or "
                             "PROCESS",
                             y->name, sabre_component_name(s->world, c));
            goto fail;
        }
    }

    /* The kernel's rows: its query, or every component it reads or writes;
     * its snapshot: those components that carry data. */
    sabre_component_t all[2 * SABRE_ECS_MAX_QUERY_TERMS];
    uint32_t nall = 0;
    for (uint32_t i = 0; i < y->nwrites + y->nreads; i++) {
        sabre_component_t c = i < y->nwrites ? y->writes[i] : y->reads[i - y->nwrites];
        if (!sabre__sched_has_comp(all, nall, c)) {
            if (nall == sizeof all / sizeof all[0]) {
                rc = sabre__fail(SABRE_EINVAL, "system '%s': too many components", y->name);
                goto fail;
            }
            all[nall++] = c;
        }
    }
    if (d->query) {
        if ((rc = sabre_query_create(s->world, d->query, &y->query)))
            goto fail;
    } else if (d->kernel) {
        if (nall == 0) {
            rc = sabre__fail(SABRE_EINVAL,
                             "system '%s': a kernel needs components to read or write", y->name);
            goto fail;
        }
        sabre_query_desc_t q = {.all = all, .nall = nall};
        if ((rc = sabre_query_create(s->world, &q, &y->query)))
            goto fail;
    }
    y->has_sparse = sabre__query_has_sparse(y->query);
    if (d->kernel) {
        y->snap_comps = calloc(nall ? nall : 1, sizeof *y->snap_comps);
        if (!y->snap_comps) {
            rc = sabre__fail(SABRE_ENOMEM, "sabre_sched_add: out of memory");
            goto fail;
        }
        for (uint32_t i = 0; i < nall; i++) {
            if (sabre_component_size(s->world, all[i]) == 0)
                continue; /* tags have no columns to snapshot */
            y->snap_comps[y->nsnap_comps++] = (sabre_snap_comp_t){
                .comp = all[i], .write = sabre__sched_has_comp(y->writes, y->nwrites, all[i])};
        }
        if (y->nsnap_comps == 0) {
            rc = sabre__fail(SABRE_EINVAL,
                             "system '%s': a kernel needs at least one component with data",
                             y->name);
            goto fail;
        }
        if ((rc = kernel_terms(s->world, y, d->query)))
            goto fail;
    } else if ((rc = sabre_cmd_new(s->world, &y->cmd))) {
        goto fail;
    }
    if (y->offload == SABRE_OFFLOAD_PROCESS && (rc = register_process_job(s, y)))
        goto fail;
    if ((rc = sabre__grow((void **)&s->sys, &s->capsys, s->nsys + 1, sizeof *s->sys)))
        goto fail;
    s->sys[s->nsys++] = y;
    s->compiled = false;
    return SABRE_OK;
fail:
    free_system(y);
    return rc;
}

int sabre_sched_set_offload(sabre_sched_t *s, const char *name, sabre_offload_t mode)
{
    if (!s || !name)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_set_offload: NULL argument");
    int i = sabre__sched_find_system(s, name);
    if (i < 0)
        return sabre__fail(SABRE_ENOENT, "sabre_sched_set_offload: no system '%s'", name);
    system_t *y = s->sys[i];
    if (!y->kernel)
        return sabre__fail(SABRE_EINVAL, "system '%s' has a run function, not a kernel", name);
    if (mode == SABRE_OFFLOAD_NONE)
        mode = SABRE_OFFLOAD_INPLACE;
    int rc = check_offload(s, y, mode, NULL);
    if (rc)
        return rc;
    if (mode == SABRE_OFFLOAD_PROCESS && (rc = register_process_job(s, y)))
        return rc;
    if (mode != y->offload) {
        /* the snapshot's storage depends on the mode: build anew (objects
         * in the shared region cannot be freed, so the next one gets a new
         * name) */
        sabre_snapshot_free(y->snap);
        y->snap = NULL;
        y->snap_gen++;
    }
    y->offload = mode;
    memset(&y->disp, 0, sizeof y->disp); /* costs differ between modes: measure anew */
    return SABRE_OK;
}

/* ----------------------------------------------------------- resources */

int sabre_sched_resource_set(sabre_sched_t *s, const char *name, void *ptr)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_resource_set: NULL scheduler");
    int rc = check_name("resource", name);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < s->nres; i++)
        if (!strcmp(s->res[i].name, name)) {
            s->res[i].ptr = ptr;
            return SABRE_OK;
        }
    if ((rc = sabre__grow((void **)&s->res, &s->capres, s->nres + 1, sizeof *s->res)))
        return rc;
    sabre__strlcpy(s->res[s->nres].name, name, sizeof(sname_t));
    s->res[s->nres++].ptr = ptr;
    return SABRE_OK;
}

void *sabre_sched_resource_get(const sabre_sched_t *s, const char *name)
{
    if (!s || !name)
        return NULL;
    for (uint32_t i = 0; i < s->nres; i++)
        if (!strcmp(s->res[i].name, name))
            return s->res[i].ptr;
    return NULL;
}
