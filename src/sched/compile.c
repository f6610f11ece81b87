/*
 * compile.c - the plan: conflict graph, topological batches, stage order,
 * the resolved queries and offload paths.  docs/scheduling.md explains it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

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
        if (sabre__sched_has_comp(b->writes, b->nwrites, a->writes[i]) ||
            sabre__sched_has_comp(b->reads, b->nreads, a->writes[i])) {
            *e = (edge_t){.why = WHY_COMPONENT,
                          .item = a->writes[i],
                          .from_writes = 1,
                          .to_writes = sabre__sched_has_comp(b->writes, b->nwrites, a->writes[i])};
            return true;
        }
    for (uint32_t i = 0; i < b->nwrites; i++)
        if (sabre__sched_has_comp(a->reads, a->nreads, b->writes[i])) {
            *e = (edge_t){.why = WHY_COMPONENT, .item = b->writes[i], .to_writes = 1};
            return true;
        }
    for (uint32_t i = 0; i < a->nwres; i++)
        if (sabre__sched_has_name(b->wres, b->nwres, a->wres[i]) ||
            sabre__sched_has_name(b->rres, b->nrres, a->wres[i])) {
            *e = (edge_t){.why = WHY_RESOURCE,
                          .item = i,
                          .from_writes = 1,
                          .to_writes = sabre__sched_has_name(b->wres, b->nwres, a->wres[i])};
            return true;
        }
    for (uint32_t i = 0; i < b->nwres; i++)
        if (sabre__sched_has_name(a->rres, a->nrres, b->wres[i])) {
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
            int j = sabre__sched_find_system(s, other);
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
    bool any = false;
    for (uint32_t i = 0; i < s->nsys; i++) {
        const system_t *y = s->sys[i];
        if (y->kernel && y->offload == SABRE_OFFLOAD_PROCESS)
            continue;
        if (!any) {
            unsigned threads = s->pool ? sabre_pool_threads(s->pool) : 1;
            fprintf(f, "dispatch (pool of %u thread%s", threads, threads == 1 ? "" : "s");
            if (s->fork_join_measured)
                fprintf(f, ", fork-join %.1f us measured", s->fork_join_ns / 1e3);
            fprintf(f, "):\n");
            any = true;
        }
        fprintf(f, "  %s: ", y->name);
        if (!s->pool || sabre_pool_threads(s->pool) <= 1)
            fprintf(f, "serial (no pool threads)");
        else if (y->dispatch == SABRE_DISPATCH_POOL)
            fprintf(f, "pool (fixed)");
        else if (y->dispatch == SABRE_DISPATCH_INLINE)
            fprintf(f, "inline (fixed)");
        else if (y->run && y->disp.decisions)
            fprintf(f,
                    "%s with its batch (a batch of run calls goes to the pool only when what "
                    "spreading them saves beats the fork-join); measured %.1f us per call; %llu "
                    "inline runs, %llu pool runs",
                    y->disp.last_inline ? "inline" : "pool", y->disp.ns_row_inline / 1e3,
                    (unsigned long long)y->disp.inline_runs, (unsigned long long)y->disp.pool_runs);
        else if (y->run)
            fprintf(f, "not run yet");
        else
            sabre__dispatch_print(&y->disp, f);
        fprintf(f, "\n");
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
