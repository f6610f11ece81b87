/*
 * sched.c - systems, plans (explicit order, conflicts, batches by level) and
 * frames run on the pool with in-place, snapshot or process offload.
 * docs/scheduling.md describes the algorithm; sabre/sched.h the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sabre/sched.h"

#define DEFAULT_GRAIN_MIN 4096u
#define ARGS_MAX          (64u * 1024u)

typedef char sname_t[SABRE_SCHED_NAME_MAX];

enum edge_why { WHY_AFTER = 1, WHY_BEFORE, WHY_COMPONENT, WHY_RESOURCE };

typedef struct edge {
    uint32_t from, to;
    uint8_t why;
    uint8_t from_writes; /* conflict edges: which side writes the item */
    uint8_t to_writes;
    uint32_t item; /* component id, or resource index in `from` system */
} edge_t;

typedef struct system {
    sname_t name;
    uint32_t stage;
    uint32_t index; /* registration order */
    sname_t *after, *before;
    uint32_t nafter, nbefore;
    sabre_component_t *reads, *writes;
    uint32_t nreads, nwrites;
    sname_t *rres, *wres;
    uint32_t nrres, nwres;
    sabre_query_t *query;
    bool skip_if_empty;
    sabre_system_fn run;
    sabre_kernel_fn kernel;
    sabre_offload_t offload;
    uint64_t grain;
    unsigned char *args;
    size_t args_len;
    void *user;
    bool marks_rows;          /* the kernel marks its rows itself */
    sabre_component_t *terms; /* kernels: reads then writes (sabre_kernel_column) */
    uint32_t nterms;
    sabre_component_t *marked; /* written components with data, marked after every range */
    uint32_t nmarked;
    sabre_cmd_t *cmd;
    /* snapshot offload state */
    sabre_snap_comp_t *snap_comps;
    uint32_t nsnap_comps;
    sabre_snapshot_t *snap;
    uint32_t snap_gen;
    bool proc_registered;
    bool has_changed;          /* its query has a `changed` filter */
    bool proc_native;          /* this frame: process mode over the world's tables */
    struct proc_block *blocks; /* process mode over the world's tables: the chunks */
    uint32_t nblocks, capblocks;
    uint64_t block_rows; /* size of their row space */
    /* plan */
    uint32_t level;
    uint32_t pos; /* position in the stage's linear order */
    /* per-frame */
    _Atomic int status;
    char errmsg[256];
    _Atomic uint64_t t_first, t_last;
    bool ran;      /* not skipped this frame */
    bool prepared; /* its work is queued (views, snapshot built) */
    sabre_system_stats_t st;
} system_t;

typedef struct resource {
    sname_t name;
    void *ptr;
} resource_t;

/* One unit of pool work: a `run` call or a kernel over one row range. */
typedef struct work {
    sabre_sched_t *sched;
    system_t *sys;
    sabre_snapshot_t *rows;
    uint64_t begin, end;
} work_t;

typedef struct batch {
    uint32_t first, count; /* into sched->order */
    uint32_t stage;
} batch_t;

struct sabre_sched {
    sabre_world_t *world;
    sabre_pool_t *pool;
    sname_t stages[SABRE_SCHED_MAX_STAGES];
    uint32_t nstages;
    system_t **sys;
    uint32_t nsys, capsys;
    resource_t *res;
    uint32_t nres, capres;
    /* plan */
    bool compiled;
    uint32_t *order; /* system indices in run order */
    batch_t *batches;
    uint32_t nbatches;
    edge_t *edges;
    uint32_t nedges, capedges;
    sabre_plan_entry_t *plan;
    uint64_t frame;
    double dt, time;
    /* per-frame scratch */
    work_t *work;
    sabre_task_t *tasks;
    uint32_t nwork, capwork, captasks;
    sabre_snapshot_t **views;
    uint32_t nviews, capviews;
};

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

static bool has_comp(const sabre_component_t *v, uint32_t n, sabre_component_t c)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == c)
            return true;
    return false;
}

static bool has_name(const sname_t *v, uint32_t n, const char *s)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

static int find_system(const sabre_sched_t *s, const char *name)
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
    sabre_sched_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "sabre_sched_create: out of memory");
    s->world = desc->world;
    s->pool = desc->pool;
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
    free(s);
}

/* ---------------------------------------------------------------- add */

static int proc_job(const sabre_proc_job_t *job);

static int job_name(const system_t *y, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "sabre.sched.%s", y->name);
    return n > 0 && (size_t)n < cap ? SABRE_OK : SABRE_EINVAL;
}

static int register_process_job(sabre_sched_t *s, system_t *y)
{
    if (y->proc_registered)
        return SABRE_OK;
    char name[SABRE_POOL_JOB_NAME_MAX];
    job_name(y, name, sizeof name);
    int rc = sabre_pool_register(s->pool, name, proc_job);
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
        if (q && sabre_component_size(w, c) && !has_comp(q->all, q->nall, c))
            return sabre__fail(SABRE_EINVAL,
                               "system '%s': term %u (%s) is not in its query's `all` list, so "
                               "some of its rows may lack the component; add it to `all`",
                               y->name, i, sabre_component_name(w, c));
    }
    y->nterms = n;
    for (uint32_t i = 0; i < y->nwrites; i++)
        if (sabre_component_size(w, y->writes[i]) && !has_comp(y->marked, y->nmarked, y->writes[i]))
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
static int mark_written(const system_t *y, sabre_snapshot_t *rows, uint64_t begin, uint64_t end)
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
    if (find_system(s, d->name) >= 0)
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
    y->marks_rows = d->marks_rows;
    y->offload = d->kernel && d->offload == SABRE_OFFLOAD_NONE ? SABRE_OFFLOAD_INPLACE : d->offload;
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

    /* The kernel's rows: its query, or every component it reads or writes;
     * its snapshot: those components that carry data. */
    sabre_component_t all[2 * SABRE_ECS_MAX_QUERY_TERMS];
    uint32_t nall = 0;
    for (uint32_t i = 0; i < y->nwrites + y->nreads; i++) {
        sabre_component_t c = i < y->nwrites ? y->writes[i] : y->reads[i - y->nwrites];
        if (!has_comp(all, nall, c)) {
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
                .comp = all[i], .write = has_comp(y->writes, y->nwrites, all[i])};
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
    int i = find_system(s, name);
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

/* ------------------------------------------------------------- compile */

static int add_edge(sabre_sched_t *s, edge_t e)
{
    int rc = sabre__grow((void **)&s->edges, &s->capedges, s->nedges + 1, sizeof *s->edges);
    if (rc)
        return rc;
    s->edges[s->nedges++] = e;
    return SABRE_OK;
}

/* Does a conflict with b?  Fills the edge's reason (a = from). */
static bool conflict(const system_t *a, const system_t *b, edge_t *e)
{
    for (uint32_t i = 0; i < a->nwrites; i++)
        if (has_comp(b->writes, b->nwrites, a->writes[i]) ||
            has_comp(b->reads, b->nreads, a->writes[i])) {
            *e = (edge_t){.why = WHY_COMPONENT,
                          .item = a->writes[i],
                          .from_writes = 1,
                          .to_writes = has_comp(b->writes, b->nwrites, a->writes[i])};
            return true;
        }
    for (uint32_t i = 0; i < b->nwrites; i++)
        if (has_comp(a->reads, a->nreads, b->writes[i])) {
            *e = (edge_t){.why = WHY_COMPONENT, .item = b->writes[i], .to_writes = 1};
            return true;
        }
    for (uint32_t i = 0; i < a->nwres; i++)
        if (has_name(b->wres, b->nwres, a->wres[i]) || has_name(b->rres, b->nrres, a->wres[i])) {
            *e = (edge_t){.why = WHY_RESOURCE,
                          .item = i,
                          .from_writes = 1,
                          .to_writes = has_name(b->wres, b->nwres, a->wres[i])};
            return true;
        }
    for (uint32_t i = 0; i < b->nwres; i++)
        if (has_name(a->rres, a->nrres, b->wres[i])) {
            /* item indexes a's reads: the name is the same */
            for (uint32_t j = 0; j < a->nrres; j++)
                if (!strcmp(a->rres[j], b->wres[i]))
                    *e = (edge_t){.why = WHY_RESOURCE, .item = j | 0x80000000u, .to_writes = 1};
            return true;
        }
    return false;
}

/* Explicit edges of the plan, resolved; checks names and stage order. */
static int explicit_edges(sabre_sched_t *s)
{
    for (uint32_t i = 0; i < s->nsys; i++) {
        system_t *y = s->sys[i];
        for (uint32_t k = 0; k < y->nafter + y->nbefore; k++) {
            bool after = k < y->nafter;
            const char *other = after ? y->after[k] : y->before[k - y->nafter];
            int j = find_system(s, other);
            if (j < 0)
                return sabre__fail(SABRE_ENOENT, "system '%s' runs %s unknown system '%s'", y->name,
                                   after ? "after" : "before", other);
            if ((uint32_t)j == i)
                continue;
            uint32_t from = after ? (uint32_t)j : i, to = after ? i : (uint32_t)j;
            const system_t *f = s->sys[from], *t = s->sys[to];
            if (f->stage > t->stage)
                return sabre__fail(SABRE_ECYCLE,
                                   "cycle: '%s' (stage %s) must run before '%s' (stage %s), "
                                   "against the stage order",
                                   f->name, s->stages[f->stage], t->name, s->stages[t->stage]);
            if (f->stage < t->stage)
                continue; /* the stage order already keeps them apart */
            int rc = add_edge(
                s, (edge_t){.from = from, .to = to, .why = after ? WHY_AFTER : WHY_BEFORE});
            if (rc)
                return rc;
        }
    }
    return SABRE_OK;
}

/* Name a cycle among the systems not yet ordered (indeg > 0). */
static int report_cycle(sabre_sched_t *s, const uint32_t *indeg)
{
    /* Walk predecessors among unordered systems until one repeats. */
    uint32_t start = UINT32_MAX;
    for (uint32_t i = 0; i < s->nsys && start == UINT32_MAX; i++)
        if (indeg[i])
            start = i;
    uint32_t *seen = calloc(s->nsys, sizeof *seen), *path = calloc(s->nsys + 1, sizeof *path);
    if (!seen || !path) {
        free(seen);
        free(path);
        return sabre__fail(SABRE_ECYCLE, "cycle among the systems' explicit order");
    }
    uint32_t n = 0, cur = start;
    while (!seen[cur]) {
        seen[cur] = n + 1;
        path[n++] = cur;
        uint32_t pred = UINT32_MAX;
        for (uint32_t e = 0; e < s->nedges && pred == UINT32_MAX; e++)
            if (s->edges[e].to == cur && indeg[s->edges[e].from])
                pred = s->edges[e].from;
        if (pred == UINT32_MAX)
            break; /* cannot happen: an unordered system has an unordered predecessor */
        cur = pred;
    }
    char msg[400];
    size_t len = (size_t)snprintf(msg, sizeof msg, "cycle: ");
    /* path[seen[cur]-1 .. n) walked backwards is the cycle in run order */
    uint32_t first = seen[cur] ? seen[cur] - 1 : 0;
    for (uint32_t k = n; k-- > first && len < sizeof msg;)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s -> ", s->sys[path[k]]->name);
    if (len < sizeof msg)
        snprintf(msg + len, sizeof msg - len, "%s", s->sys[path[n - 1]]->name);
    free(seen);
    free(path);
    return sabre__fail(SABRE_ECYCLE, "%s", msg);
}

int sabre_sched_compile(sabre_sched_t *s)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_compile: NULL scheduler");
    s->compiled = false;
    s->nedges = 0;
    int rc = explicit_edges(s);
    if (rc)
        return rc;
    uint32_t n = s->nsys;
    uint32_t nexplicit = s->nedges;
    uint32_t *indeg = calloc(n ? n : 1, sizeof *indeg);
    uint32_t *linear = calloc(n ? n : 1, sizeof *linear);
    uint32_t *order = calloc(n ? n : 1, sizeof *order);
    bool *placed = calloc(n ? n : 1, sizeof *placed);
    batch_t *batches = calloc(n ? n : 1, sizeof *batches);
    sabre_plan_entry_t *plan = calloc(n ? n : 1, sizeof *plan);
    if (!indeg || !linear || !order || !placed || !batches || !plan) {
        rc = sabre__fail(SABRE_ENOMEM, "sabre_sched_compile: out of memory");
        goto out;
    }
    /* Linear order: Kahn over explicit edges, smallest registration index
     * first among the ready ones; stages first by stage rank. */
    for (uint32_t e = 0; e < nexplicit; e++)
        indeg[s->edges[e].to]++;
    uint32_t nlin = 0;
    for (uint32_t st = 0; st < s->nstages; st++) {
        for (;;) {
            uint32_t pick = UINT32_MAX;
            for (uint32_t i = 0; i < n && pick == UINT32_MAX; i++)
                if (s->sys[i]->stage == st && indeg[i] == 0 && !placed[i])
                    pick = i;
            if (pick == UINT32_MAX)
                break;
            placed[pick] = true;
            linear[nlin++] = pick;
            for (uint32_t e = 0; e < nexplicit; e++)
                if (s->edges[e].from == pick)
                    indeg[s->edges[e].to]--;
        }
    }
    if (nlin != n) {
        /* everything placed has indeg 0; the rest sit on a cycle's path */
        for (uint32_t i = 0; i < n; i++)
            indeg[i] = placed[i] ? 0 : 1;
        rc = report_cycle(s, indeg);
        goto out;
    }
    for (uint32_t k = 0; k < n; k++)
        s->sys[linear[k]]->pos = k;
    /* Conflict edges along the linear order, same stage only. */
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t b = a + 1; b < n; b++) {
            system_t *x = s->sys[linear[a]], *y = s->sys[linear[b]];
            edge_t e;
            if (x->stage != y->stage || !conflict(x, y, &e))
                continue;
            e.from = linear[a];
            e.to = linear[b];
            if ((rc = add_edge(s, e)))
                goto out;
        }
    /* Levels in linear order (every edge points forward in it). */
    for (uint32_t k = 0; k < n; k++) {
        system_t *y = s->sys[linear[k]];
        y->level = 0;
        for (uint32_t e = 0; e < s->nedges; e++)
            if (s->edges[e].to == linear[k]) {
                uint32_t l = s->sys[s->edges[e].from]->level + 1;
                if (l > y->level)
                    y->level = l;
            }
    }
    /* Batches: stage by stage, level by level, registration order inside. */
    uint32_t no = 0, nb = 0;
    for (uint32_t st = 0; st < s->nstages; st++) {
        uint32_t maxl = 0;
        bool any = false;
        for (uint32_t i = 0; i < n; i++)
            if (s->sys[i]->stage == st) {
                any = true;
                maxl = SABRE_MAX(maxl, s->sys[i]->level);
            }
        if (!any)
            continue;
        for (uint32_t l = 0; l <= maxl; l++) {
            uint32_t first = no;
            for (uint32_t i = 0; i < n; i++)
                if (s->sys[i]->stage == st && s->sys[i]->level == l) {
                    order[no] = i;
                    plan[no] = (sabre_plan_entry_t){
                        .system = s->sys[i]->name, .stage = s->stages[st], .batch = nb, .level = l};
                    no++;
                }
            if (no > first)
                batches[nb++] = (batch_t){.first = first, .count = no - first, .stage = st};
        }
    }
    free(s->order);
    free(s->batches);
    free(s->plan);
    s->order = order;
    s->batches = batches;
    s->plan = plan;
    s->nbatches = nb;
    order = NULL;
    batches = NULL;
    plan = NULL;
    s->compiled = true;
out:
    free(indeg);
    free(linear);
    free(placed);
    free(order);
    free(batches);
    free(plan);
    return rc;
}

int sabre_sched_plan(sabre_sched_t *s, const sabre_plan_entry_t **entries, uint32_t *n)
{
    if (!s || !entries || !n)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_plan: NULL argument");
    int rc = s->compiled ? SABRE_OK : sabre_sched_compile(s);
    if (rc)
        return rc;
    *entries = s->plan;
    *n = s->nsys;
    return SABRE_OK;
}

uint32_t sabre_sched_batches(sabre_sched_t *s)
{
    if (!s || (!s->compiled && sabre_sched_compile(s)))
        return 0;
    return s->nbatches;
}

/* Why a PROCESS system runs over snapshots instead of the world's tables;
 * NULL when the processes work on the tables. */
static const char *process_fallback(const sabre_sched_t *s, const system_t *y)
{
    if (!y->kernel || y->offload != SABRE_OFFLOAD_PROCESS)
        return NULL;
    if (y->has_changed)
        return "its query has a `changed` filter";
    if (sabre_world_region(s->world) != sabre_pool_region(s->pool))
        return "the world's tables are not in the pool's region: create the world on that "
               "region, or with .backing = SABRE_BACKING_MEMFD and give the pool "
               "sabre_world_region()";
    return NULL;
}

static const char *mode_name(const sabre_sched_t *s, const system_t *y)
{
    if (y->run)
        return "run";
    switch (y->offload) {
    case SABRE_OFFLOAD_SNAPSHOT:
        return "kernel, snapshot";
    case SABRE_OFFLOAD_PROCESS:
        return process_fallback(s, y) ? "kernel, process over snapshots (slower fallback)"
                                      : "kernel, process on the world's tables";
    default:
        return "kernel, in place";
    }
}

int sabre_sched_dump(sabre_sched_t *s, FILE *f)
{
    if (!s || !f)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_dump: NULL argument");
    int rc = s->compiled ? SABRE_OK : sabre_sched_compile(s);
    if (rc)
        return rc;
    fprintf(f, "plan: %u systems in %u batches\n", s->nsys, s->nbatches);
    uint32_t last_stage = UINT32_MAX;
    for (uint32_t b = 0; b < s->nbatches; b++) {
        const batch_t *bt = &s->batches[b];
        if (bt->stage != last_stage)
            fprintf(f, "stage %s\n", s->stages[bt->stage]);
        last_stage = bt->stage;
        fprintf(f, "  batch %u:", b);
        for (uint32_t k = 0; k < bt->count; k++) {
            const system_t *y = s->sys[s->order[bt->first + k]];
            fprintf(f, "%s %s (%s)", k ? "," : "", y->name, mode_name(s, y));
        }
        fprintf(f, "\n");
    }
    for (uint32_t i = 0; i < s->nsys; i++) {
        const char *why = process_fallback(s, s->sys[i]);
        if (why)
            fprintf(f,
                    "fallback: %s runs its worker processes over snapshots copied into the "
                    "pool's region and committed back (about 2x slower): %s\n",
                    s->sys[i]->name, why);
    }
    fprintf(f, "kept apart:\n");
    if (s->nedges == 0)
        fprintf(f, "  (nothing: no explicit order and no conflicts inside a stage)\n");
    for (uint32_t e = 0; e < s->nedges; e++) {
        const edge_t *x = &s->edges[e];
        const system_t *a = s->sys[x->from], *b = s->sys[x->to];
        fprintf(f, "  %s -> %s: ", a->name, b->name);
        switch (x->why) {
        case WHY_AFTER:
            fprintf(f, "explicit: %s after %s\n", b->name, a->name);
            break;
        case WHY_BEFORE:
            fprintf(f, "explicit: %s before %s\n", a->name, b->name);
            break;
        case WHY_COMPONENT: {
            const char *c = sabre_component_name(s->world, x->item);
            fprintf(f, "conflict: %s %s %s, %s %s it (registration order)\n", a->name,
                    x->from_writes ? "writes" : "reads", c ? c : "?", b->name,
                    x->to_writes ? "writes" : "reads");
            break;
        }
        case WHY_RESOURCE: {
            const char *r =
                (x->item & 0x80000000u) ? a->rres[x->item & 0x7fffffffu] : a->wres[x->item];
            fprintf(f, "conflict: %s %s resource '%s', %s %s it (registration order)\n", a->name,
                    x->from_writes ? "writes" : "reads", r, b->name,
                    x->to_writes ? "writes" : "reads");
            break;
        }
        default:
            fprintf(f, "?\n");
        }
    }
    return ferror(f) ? sabre__fail(SABRE_EIO, "sabre_sched_dump: write failed") : SABRE_OK;
}

/* --------------------------------------------------------------- frames */

static void note_time(system_t *y, uint64_t t0, uint64_t t1)
{
    uint64_t cur = atomic_load_explicit(&y->t_first, memory_order_relaxed);
    while (t0 < cur && !atomic_compare_exchange_weak_explicit(
                           &y->t_first, &cur, t0, memory_order_relaxed, memory_order_relaxed))
        ;
    cur = atomic_load_explicit(&y->t_last, memory_order_relaxed);
    while (t1 > cur && !atomic_compare_exchange_weak_explicit(
                           &y->t_last, &cur, t1, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Record a system's first failure (message included) from any thread. */
static void note_failure(system_t *y, int rc)
{
    int expected = SABRE_OK;
    if (!sabre__is_status(rc))
        rc = SABRE_EJOB;
    if (atomic_compare_exchange_strong(&y->status, &expected, rc))
        sabre__strlcpy(y->errmsg, sabre_last_error(), sizeof y->errmsg);
}

/* Run one unit of work (no timing). */
static int run_work(work_t *w, unsigned worker)
{
    system_t *y = w->sys;
    const sabre_sched_t *s = w->sched;
    int rc;
    sabre_clear_error();
    if (y->run) {
        sabre_sys_ctx_t c = {.world = s->world,
                             .sched = w->sched,
                             .query = y->query,
                             .cmd = y->cmd,
                             .dt = s->dt,
                             .time = s->time,
                             .frame = s->frame,
                             .name = y->name,
                             .user = y->user,
                             .worker = worker};
        rc = y->run(&c);
    } else {
        sabre_kernel_ctx_t c = {.rows = w->rows,
                                .begin = w->begin,
                                .end = w->end,
                                .dt = s->dt,
                                .time = s->time,
                                .frame = s->frame,
                                .args = y->args,
                                .args_len = y->args_len,
                                .user = y->user,
                                .worker = worker,
                                .terms = y->terms,
                                .nterms = y->nterms};
        rc = y->kernel(&c);
        if (rc == SABRE_OK)
            rc = mark_written(y, w->rows, w->begin, w->end);
    }
    if (rc)
        note_failure(y, rc);
    return rc;
}

/* Pool task: the work plus its timing (ranges of one system may run on
 * several threads at once, hence the atomic min/max).  A failure is kept in
 * the system's status and not returned, so the pool never drops the other
 * systems' work: every system of a batch completes, whatever fails. */
static int work_task(void *ctx, unsigned worker)
{
    work_t *w = ctx;
    uint64_t t0 = sabre__now_ns();
    (void)run_work(w, worker);
    note_time(w->sys, t0, sabre__now_ns());
    return SABRE_OK;
}

static int add_work(sabre_sched_t *s, system_t *y, sabre_snapshot_t *rows, uint64_t begin,
                    uint64_t end)
{
    int rc = sabre__grow((void **)&s->work, &s->capwork, s->nwork + 1, sizeof *s->work);
    if (rc)
        return rc;
    s->work[s->nwork++] = (work_t){.sched = s, .sys = y, .rows = rows, .begin = begin, .end = end};
    y->st.ranges += rows ? 1 : 0;
    y->st.rows += end - begin;
    return SABRE_OK;
}

/* Rows per range: the system's grain, else enough ranges to keep every
 * thread busy with a few to balance, never below 4096 rows. */
static uint64_t range_rows(const sabre_sched_t *s, const system_t *y, uint64_t total)
{
    uint64_t g = y->grain;
    if (!g) {
        unsigned threads = s->pool ? sabre_pool_threads(s->pool) : 1;
        g = threads > 1 ? total / (threads * 4u) : total;
        if (g < DEFAULT_GRAIN_MIN)
            g = DEFAULT_GRAIN_MIN;
    }
    return SABRE_ALIGN_UP(g, (uint64_t)SABRE_POOL_ROW_ALIGN);
}

static int split(sabre_sched_t *s, system_t *y, sabre_snapshot_t *rows, uint64_t n, uint64_t g)
{
    for (uint64_t b = 0; b < n; b += g) {
        int rc = add_work(s, y, rows, b, SABRE_MIN(n, b + g));
        if (rc)
            return rc;
    }
    return SABRE_OK;
}

static int keep_view(sabre_sched_t *s, sabre_snapshot_t *v)
{
    int rc = sabre__grow((void **)&s->views, &s->capviews, s->nviews + 1, sizeof *s->views);
    if (rc) {
        sabre_snapshot_free(v);
        return rc;
    }
    s->views[s->nviews++] = v;
    return SABRE_OK;
}

/* In place: one native view per matched chunk, split into ranges. */
static int prepare_inplace(sabre_sched_t *s, system_t *y)
{
    uint64_t total = sabre_query_count(y->query);
    uint64_t g = range_rows(s, y, total);
    sabre_iter_t it;
    sabre_query_iter(y->query, &it);
    while (sabre_iter_next(&it)) {
        sabre_snapshot_t *v;
        int rc = sabre_snapshot_view(s->world, it.table, it.chunk, it.offset, it.count, &v);
        if (rc || (rc = keep_view(s, v)) || (rc = split(s, y, v, it.count, g)))
            return rc;
    }
    return SABRE_OK;
}

/* Snapshot executor: the parent's snapshot build/rebuild and commit copy
 * rows on the pool's threads.  They run outside run_tasks (before the
 * batch's tasks are queued, after they have joined), so the pool's single
 * fork-join is free. */
static int snap_parallel_for(void *user, size_t n, size_t grain, sabre_snapshot_range_fn fn,
                             void *ctx)
{
    return sabre_pool_for((sabre_pool_t *)user, n, grain, fn, ctx);
}

/* Snapshot and process modes: (re)build the system's snapshot. */
static int prepare_snapshot(sabre_sched_t *s, system_t *y)
{
    int rc;
    bool proc = y->offload == SABRE_OFFLOAD_PROCESS;
    if (y->snap) {
        rc = sabre_snapshot_rebuild(s->world, y->snap, y->query);
        if (rc != SABRE_ENOSPC || !proc)
            goto built;
        /* An object in the shared region cannot grow: build a bigger one
         * under the next generation's name (the old space stays used). */
        sabre_snapshot_free(y->snap);
        y->snap = NULL;
        y->snap_gen++;
    }
    char name[SABRE_NAME_MAX];
    uint64_t rows = sabre_query_count(y->query);
    sabre_snapshot_desc_t d = {.comps = y->snap_comps,
                               .ncomps = y->nsnap_comps,
                               .mode = SABRE_SNAP_SHARED,
                               .backing = SABRE_BACKING_PRIVATE,
                               .region = proc ? sabre_pool_region(s->pool) : NULL,
                               .name = proc ? name : NULL,
                               .capacity = proc ? SABRE_MAX(rows + rows / 2, 1024) : 0};
    if (s->pool)
        d.exec = (sabre_snapshot_exec_t){.parallel_for = snap_parallel_for, .user = s->pool};
    /* A name can be taken by an earlier generation or by another scheduler
     * sharing the region: move on to the next generation. */
    for (int tries = 0; tries < 64; tries++, y->snap_gen++) {
        snprintf(name, sizeof name, "sched.%u.%u", y->index, y->snap_gen);
        rc = sabre_snapshot_build(s->world, &d, y->query, &y->snap);
        if (rc != SABRE_EEXIST || !proc)
            break;
    }
built:
    if (rc)
        return rc;
    if (proc) {
        uint64_t n = sabre_snapshot_rows(y->snap);
        y->st.rows += n;
        y->st.ranges += n ? 1 : 0;
        return SABRE_OK;
    }
    return split(s, y, y->snap, sabre_snapshot_rows(y->snap),
                 range_rows(s, y, sabre_snapshot_rows(y->snap)));
}

/* What a worker process receives for one process-offloaded system.  Two
 * shapes: a snapshot in the shared region (snap), or - when the world's
 * tables live in that region - a table of chunk blocks placed one after the
 * other in one row space, each starting at a multiple of 64 so the pool's
 * 64-aligned ranges stay 64-aligned inside every chunk.  User args follow
 * the blocks. */
typedef struct proc_block {
    char name[SABRE_NAME_MAX]; /* the chunk's region object */
    uint64_t start;            /* first row of the block in the row space */
    uint32_t first, count;     /* rows [first, first + count) of the chunk */
} proc_block_t;

typedef struct proc_args {
    sabre_sched_t *sched; /* valid in the child: it is a fork of this process */
    uint32_t sys;
    uint32_t nsys;
    uint64_t frame;
    double dt, time;
    char snap[SABRE_NAME_MAX]; /* "" for the native shape */
    uint32_t nblocks;
    uint32_t reserved;
    unsigned char data[]; /* proc_block_t[nblocks], then the user args */
} proc_args_t;

_Static_assert(sizeof(proc_args_t) % 16 == 0, "blocks and user args stay aligned");
_Static_assert(sizeof(proc_block_t) % 16 == 0, "user args stay aligned");

/* Runs the kernel over rows [begin, end) of `rows` in a worker process. */
static int proc_kernel(const sabre_proc_job_t *job, const proc_args_t *a, const system_t *y,
                       sabre_snapshot_t *rows, uint64_t begin, uint64_t end)
{
    size_t skip = sizeof *a + (size_t)a->nblocks * sizeof(proc_block_t);
    sabre_kernel_ctx_t c = {.rows = rows,
                            .begin = begin,
                            .end = end,
                            .dt = a->dt,
                            .time = a->time,
                            .frame = a->frame,
                            .args = (const char *)a + skip,
                            .args_len = job->args_len - skip,
                            .worker = job->worker,
                            .in_process = true,
                            .terms = y->terms,
                            .nterms = y->nterms};
    int rc = begin < end ? y->kernel(&c) : SABRE_OK;
    if (rc == SABRE_OK)
        rc = mark_written(y, rows, begin, end);
    if (rc && !sabre_last_error()[0])
        sabre__fail(rc, "kernel of system '%s' returned %s", y->name, sabre_status_name(rc));
    return rc;
}

static int proc_job(const sabre_proc_job_t *job)
{
    const proc_args_t *a = job->args;
    if (job->args_len < sizeof *a ||
        (job->args_len - sizeof *a) / sizeof(proc_block_t) < a->nblocks)
        return sabre__fail(SABRE_EINVAL, "process job: %zu argument bytes are too few",
                           job->args_len);
    const sabre_sched_t *s = a->sched;
    if (a->sys >= s->nsys || s->nsys != a->nsys)
        return sabre__fail(SABRE_ESTATE,
                           "process job: system %u is unknown to this worker process (it "
                           "started before the system was registered)",
                           a->sys);
    const system_t *y = s->sys[a->sys];
    int rc = SABRE_OK;
    if (a->snap[0]) {
        sabre_snapshot_t *snap;
        if ((rc = sabre_snapshot_open(job->region, a->snap, &snap)))
            return rc;
        rc = proc_kernel(job, a, y, snap, job->begin,
                         SABRE_MIN((uint64_t)job->end, sabre_snapshot_rows(snap)));
        sabre_snapshot_free(snap);
        return rc;
    }
    const proc_block_t *blk = (const proc_block_t *)a->data;
    for (uint32_t i = 0; i < a->nblocks && rc == SABRE_OK; i++) {
        uint64_t lo = SABRE_MAX((uint64_t)job->begin, blk[i].start);
        uint64_t hi = SABRE_MIN((uint64_t)job->end, blk[i].start + blk[i].count);
        if (lo >= hi)
            continue;
        sabre_snapshot_t *view;
        char name[SABRE_NAME_MAX];
        sabre__strlcpy(name, blk[i].name, sizeof name);
        if ((rc = sabre_snapshot_open_view(job->region, name, blk[i].first, blk[i].count, &view)))
            break;
        rc = proc_kernel(job, a, y, view, lo - blk[i].start, hi - blk[i].start);
        sabre_snapshot_free(view);
    }
    return rc;
}

/* Process mode over the world's own tables: possible when they live in the
 * pool's region and the query has no `changed` filter (blocks are whole
 * chunks).  Records the blocks; false if they do not fit one request. */
static bool prepare_process_native(sabre_sched_t *s, system_t *y)
{
    y->nblocks = 0;
    y->block_rows = 0;
    if (y->has_changed || sabre_world_region(s->world) != sabre_pool_region(s->pool))
        return false;
    if (sizeof(proc_args_t) + y->args_len > SABRE_POOL_ARGS_MAX)
        return false; /* the snapshot shape reports the size problem */
    size_t room = (SABRE_POOL_ARGS_MAX - sizeof(proc_args_t) - y->args_len) / sizeof(proc_block_t);
    uint64_t rows = 0;
    sabre_iter_t it;
    sabre_query_iter(y->query, &it);
    while (sabre_iter_next(&it)) {
        sabre_chunk_info_t info;
        if (y->nblocks >= room ||
            sabre__grow((void **)&y->blocks, &y->capblocks, y->nblocks + 1, sizeof *y->blocks) ||
            sabre_table_chunk(s->world, it.table, it.chunk, &info))
            return false;
        proc_block_t *b = &y->blocks[y->nblocks++];
        memset(b, 0, sizeof *b);
        sabre__strlcpy(b->name, info.object.name, sizeof b->name);
        b->start = SABRE_ALIGN_UP(y->block_rows, (uint64_t)SABRE_POOL_ROW_ALIGN);
        b->first = it.offset;
        b->count = it.count;
        y->block_rows = b->start + it.count;
        rows += it.count;
    }
    y->st.rows += rows;
    y->st.ranges += y->nblocks;
    return true;
}

static int run_process(sabre_sched_t *s, system_t *y)
{
    uint64_t rows = y->proc_native ? y->block_rows : sabre_snapshot_rows(y->snap);
    if (rows == 0)
        return SABRE_OK;
    uint32_t nblocks = y->proc_native ? y->nblocks : 0;
    size_t len = sizeof(proc_args_t) + nblocks * sizeof(proc_block_t) + y->args_len;
    proc_args_t *a = calloc(1, len);
    if (!a)
        return sabre__fail(SABRE_ENOMEM, "scheduler: out of memory");
    *a = (proc_args_t){.sched = s,
                       .sys = y->index,
                       .nsys = s->nsys,
                       .frame = s->frame,
                       .dt = s->dt,
                       .time = s->time,
                       .nblocks = nblocks};
    if (!y->proc_native) {
        sabre_object_t obj;
        int rc = sabre_snapshot_object(y->snap, &obj);
        if (rc) {
            free(a);
            return rc;
        }
        sabre__strlcpy(a->snap, obj.name, sizeof a->snap);
    }
    if (nblocks)
        memcpy(a->data, y->blocks, nblocks * sizeof(proc_block_t));
    if (y->args_len)
        memcpy(a->data + nblocks * sizeof(proc_block_t), y->args, y->args_len);
    char name[SABRE_POOL_JOB_NAME_MAX];
    job_name(y, name, sizeof name);
    uint64_t t0 = sabre__now_ns();
    int rc = sabre_pool_process_for(s->pool, name, a, len, rows);
    note_time(y, t0, sabre__now_ns());
    free(a);
    if (rc)
        note_failure(y, rc);
    return rc;
}

static int run_tasks(sabre_sched_t *s)
{
    if (s->nwork == 0)
        return SABRE_OK;
    int rc = sabre__grow((void **)&s->tasks, &s->captasks, s->nwork, sizeof *s->tasks);
    if (rc)
        return rc;
    sabre_task_t *t = s->tasks;
    for (uint32_t i = 0; i < s->nwork; i++)
        t[i] = (sabre_task_t){.fn = work_task, .ctx = &s->work[i]};
    if (s->pool)
        return sabre_pool_run_tasks(s->pool, t, s->nwork);
    /* Serial: one clock read per unit, each unit ending where the next starts. */
    uint64_t t0 = sabre__now_ns();
    for (uint32_t i = 0; i < s->nwork; i++) {
        system_t *y = s->work[i].sys;
        (void)run_work(&s->work[i], 0); /* failures are in the system's status */
        uint64_t t1 = sabre__now_ns();
        if (t0 < atomic_load_explicit(&y->t_first, memory_order_relaxed))
            atomic_store_explicit(&y->t_first, t0, memory_order_relaxed);
        atomic_store_explicit(&y->t_last, t1, memory_order_relaxed);
        t0 = t1;
    }
    return SABRE_OK;
}

static int run_batch(sabre_sched_t *s, const batch_t *b)
{
    int rc = SABRE_OK;
    s->nwork = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        /* relaxed: the pool's fork-join orders these before the tasks run */
        atomic_store_explicit(&y->status, SABRE_OK, memory_order_relaxed);
        y->errmsg[0] = '\0';
        atomic_store_explicit(&y->t_first, UINT64_MAX, memory_order_relaxed);
        atomic_store_explicit(&y->t_last, 0, memory_order_relaxed);
        y->ran = false;
        y->prepared = false;
        y->proc_native = false;
    }
    for (uint32_t k = 0; k < b->count && rc == SABRE_OK; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (y->skip_if_empty && y->query && sabre_query_count(y->query) == 0) {
            y->st.skipped++;
            continue;
        }
        y->ran = true;
        y->st.runs++;
        y->proc_native =
            y->kernel && y->offload == SABRE_OFFLOAD_PROCESS && prepare_process_native(s, y);
        if (y->run)
            rc = add_work(s, y, NULL, 0, 0);
        else if (y->offload == SABRE_OFFLOAD_INPLACE)
            rc = prepare_inplace(s, y);
        else if (!y->proc_native) {
            if (y->offload == SABRE_OFFLOAD_PROCESS)
                y->st.snapshot_fallbacks++;
            rc = prepare_snapshot(s, y);
        }
        if (rc)
            note_failure(y, rc);
        else
            y->prepared = true;
    }
    /* Everything prepared runs, even after a failure: the systems of a batch
     * are independent, and the batch ends as a whole. */
    int trc = run_tasks(s);
    if (rc == SABRE_OK)
        rc = trc;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (y->prepared && y->kernel && y->offload == SABRE_OFFLOAD_PROCESS) {
            int prc = run_process(s, y);
            if (rc == SABRE_OK)
                rc = prc;
        }
    }
    /* Commit in registration order, so the result never depends on timing;
     * a system whose kernel failed is not committed. */
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->prepared || !y->kernel || y->offload == SABRE_OFFLOAD_INPLACE || y->proc_native ||
            atomic_load_explicit(&y->status, memory_order_relaxed) != SABRE_OK)
            continue;
        sabre_commit_stats_t cs;
        int crc = sabre_snapshot_commit(s->world, y->snap, &cs);
        if (crc) {
            note_failure(y, crc);
            if (rc == SABRE_OK)
                rc = crc;
        } else {
            y->st.committed += cs.rows_written;
        }
    }
    for (uint32_t i = 0; i < s->nviews; i++)
        sabre_snapshot_free(s->views[i]);
    s->nviews = 0;
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        if (!y->ran)
            continue;
        uint64_t t0 = atomic_load_explicit(&y->t_first, memory_order_relaxed);
        uint64_t t1 = atomic_load_explicit(&y->t_last, memory_order_relaxed);
        y->st.ns_last = t1 > t0 ? t1 - t0 : 0;
        y->st.ns_total += y->st.ns_last;
    }
    /* Name the first system (in plan order) that failed. */
    for (uint32_t k = 0; k < b->count; k++) {
        system_t *y = s->sys[s->order[b->first + k]];
        int st = atomic_load_explicit(&y->status, memory_order_relaxed);
        if (st)
            return sabre__fail(st, "system '%s' failed: %s", y->name,
                               y->errmsg[0] ? y->errmsg : sabre_strerror(st));
    }
    return rc; /* a failure outside any system (the pool itself) */
}

int sabre_sched_run_frame(sabre_sched_t *s, double dt, double time)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_run_frame: NULL scheduler");
    int rc = s->compiled ? SABRE_OK : sabre_sched_compile(s);
    if (rc)
        return rc;
    if ((rc = sabre_world_begin_tick(s->world)))
        return rc;
    s->dt = dt;
    s->time = time;
    for (uint32_t b = 0; b < s->nbatches && rc == SABRE_OK; b++)
        rc = run_batch(s, &s->batches[b]);
    /* The tick ends (command buffers flushed) even after a failure. */
    char saved[512] = "";
    if (rc)
        sabre__strlcpy(saved, sabre_last_error(), sizeof saved);
    int erc = sabre_world_end_tick(s->world);
    s->frame++;
    if (rc)
        return sabre__fail(rc, "%s", saved);
    return erc;
}

int sabre_sched_stats(const sabre_sched_t *s, const char *name, sabre_system_stats_t *out)
{
    if (!s || !name || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_sched_stats: NULL argument");
    int i = find_system(s, name);
    if (i < 0)
        return sabre__fail(SABRE_ENOENT, "sabre_sched_stats: no system '%s'", name);
    *out = s->sys[i]->st;
    return SABRE_OK;
}
