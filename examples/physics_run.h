/*
 * physics_run.h - runs the physics example (physics.h) in one execution
 * mode and times it: shared by `sabre demo physics` and bench/bench_sched.c.
 */
#ifndef SABRE_EXAMPLE_PHYSICS_RUN_H
#define SABRE_EXAMPLE_PHYSICS_RUN_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "physics.h"
#include "sabre/mailbox.h"

static inline uint64_t phys_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t phys_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

enum phys_mode { M_SERIAL, M_INPLACE, M_SNAPSHOT, M_PROCESS, M_MAILBOX, M_COUNT };
static const char *const phys_mode_names[M_COUNT] = {"serial", "inplace", "snapshot", "process",
                                                     "mailbox"};

typedef struct phys_opts {
    uint64_t entities;
    unsigned workers;
    unsigned frames;
    unsigned ticks; /* mailbox: ticks per request */
    bool modes[M_COUNT];
    bool quiet;
    uint64_t seed;
} phys_opts_t;

typedef struct phys_result {
    bool ran;
    double ms_per_frame;
    double ns_per_entity;
    phys_stats_t final;
    uint64_t requests; /* mailbox: request/ack pairs */
} phys_result_t;

/* Final state and timings of a finished run. */
static inline int phys_finish(const phys_opts_t *o, phys_t *phys, uint64_t t0, uint64_t t1,
                              phys_result_t *res)
{
    int rc = phys_measure(phys, &res->final);
    if (rc)
        return rc;
    res->ran = true;
    res->ms_per_frame = (double)(t1 - t0) / 1e6 / o->frames;
    res->ns_per_entity = (double)(t1 - t0) / ((double)o->frames * (double)o->entities);
    return SABRE_OK;
}

static inline void phys_progress(const phys_opts_t *o, const char *mode, unsigned frame)
{
    if (o->quiet)
        return;
    static const char bar[] = "########################################";
    unsigned width = 40, done = o->frames ? (unsigned)((uint64_t)frame * width / o->frames) : width;
    if (isatty(2)) {
        fprintf(stderr, "\r  %-9s [%.*s%*s] frame %u/%u", mode, (int)done, bar, (int)(width - done),
                "", frame, o->frames);
        if (frame == o->frames)
            fprintf(stderr, "\r%*s\r", 80, "");
    } else if (frame == o->frames) {
        fprintf(stderr, "  %-9s done: %u frames\n", mode, o->frames);
    }
}

/* ---- scheduler-driven modes ------------------------------------------- */

static inline int phys_run_sched(const phys_opts_t *o, enum phys_mode m, phys_result_t *res)
{
    sabre_world_t *world = NULL;
    sabre_region_t *region = NULL;
    sabre_pool_t *pool = NULL;
    sabre_sched_t *sched = NULL;
    phys_t phys = {0};
    int rc = SABRE_OK;
    if (m == M_PROCESS) {
        /* Process mode: the world's tables live in a region the worker
         * processes map, so their kernels run on the tables themselves (the
         * process twin of in place).  Room for the table chunks (which
         * double as they grow) and their changed bits. */
        uint64_t size = o->entities * 64 + (64u << 20);
        rc = sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                        .name = "sabre-demo",
                                                        .size = size},
                                 &region);
    }
    if (!rc)
        rc = sabre_world_create(&(sabre_world_desc_t){.region = region}, &world);
    if (!rc)
        rc = phys_setup(&phys, world, o->entities, o->seed);
    if (!rc && m != M_SERIAL)
        rc = sabre_pool_create(&(sabre_pool_desc_t){.threads = o->workers, /* also build/commit */
                                                    .region = region,
                                                    .processes = m == M_PROCESS ? o->workers : 0,
                                                    .name = "demo"},
                               &pool);
    if (!rc)
        rc = sabre_sched_create(&(sabre_sched_desc_t){.world = world, .pool = pool}, &sched);
    sabre_offload_t mode = m == M_SNAPSHOT  ? SABRE_OFFLOAD_SNAPSHOT
                           : m == M_PROCESS ? SABRE_OFFLOAD_PROCESS
                                            : SABRE_OFFLOAD_INPLACE;
    if (!rc)
        rc = phys_register(&phys, sched, mode);
    /* one warm-up frame (page faults, worker start-up), then the timed frames */
    if (!rc)
        rc = sabre_sched_run_frame(sched, 1.0 / 60.0, 0);
    uint64_t t0 = phys_now_ns();
    for (unsigned f = 1; !rc && f <= o->frames; f++) {
        rc = sabre_sched_run_frame(sched, 1.0 / 60.0, f / 60.0);
        if (f % 8 == 0 || f == o->frames)
            phys_progress(o, phys_mode_names[m], f);
    }
    uint64_t t1 = phys_now_ns();
    if (!rc)
        rc = phys_finish(o, &phys, t0, t1, res);
    sabre_sched_destroy(sched);
    sabre_pool_destroy(pool);
    sabre_world_destroy(world);
    sabre_region_close(region);
    return rc;
}

/* ---- mailbox mode: workers run K ticks per request on the tables ------ */

typedef struct phys_mb_worker {
    pthread_t thread;
    sabre_mailbox_t *mb;
    uint32_t index;
    phys_args_t *args;
    sabre_snapshot_t **views; /* this worker's rows: [view, begin, end) triples */
    uint64_t *begin, *end;
    uint32_t nitems;
    int status;
} phys_mb_worker_t;

static inline void *phys_mb_main(void *arg)
{
    phys_mb_worker_t *w = arg;
    int rc = sabre_mailbox_attach(w->mb, w->index);
    while (!rc) {
        sabre_mailbox_req_t req;
        rc = sabre_mailbox_next(w->mb, w->index, &req, 60ull * 1000000000ull);
        if (rc)
            break;
        if (req.stop) {
            sabre_mailbox_ack(w->mb, w->index, 0);
            break;
        }
        int st = 0;
        /* The kernels outside a scheduler: their terms as integrate and
         * bounds declare them, and the marking the scheduler would do. */
        const sabre_component_t vel_pos[2] = {w->args->vel, w->args->pos};
        const sabre_component_t pos_vel[2] = {w->args->pos, w->args->vel};
        for (uint64_t k = 0; k < req.ticks && !st; k++) {
            for (uint32_t i = 0; i < w->nitems && !st; i++) {
                sabre_kernel_ctx_t c = {.rows = w->views[i],
                                        .begin = w->begin[i],
                                        .end = w->end[i],
                                        .dt = 1.0 / 60.0,
                                        .args = w->args,
                                        .args_len = sizeof *w->args,
                                        .worker = w->index,
                                        .terms = vel_pos,
                                        .nterms = 2};
                st = phys_integrate(&c);
                c.terms = pos_vel;
                if (!st)
                    st = phys_bounds(&c);
                for (int m = 0; m < 2 && !st; m++)
                    st = sabre_snapshot_mark_range(c.rows, pos_vel[m], c.begin, c.end - c.begin);
            }
            sabre_mailbox_tick(w->mb, w->index);
        }
        rc = sabre_mailbox_ack(w->mb, w->index, st);
    }
    w->status = rc;
    return NULL;
}

static inline int phys_run_mailbox(const phys_opts_t *o, phys_result_t *res)
{
    sabre_world_t *world = NULL;
    phys_t phys = {0};
    sabre_mailbox_t *mb = NULL;
    phys_mb_worker_t *ws = calloc(o->workers, sizeof *ws);
    sabre_snapshot_t **views = NULL;
    uint32_t nviews = 0, started = 0;
    int rc = ws ? sabre_world_create(NULL, &world) : SABRE_ENOMEM;
    if (!rc)
        rc = phys_setup(&phys, world, o->entities, o->seed);
    if (!rc)
        rc = sabre_mailbox_create(
            sabre_world_region(world),
            &(sabre_mailbox_desc_t){.name = "demo.mailbox", .workers = o->workers}, &mb);
    /* Native views of every chunk; each worker gets an equal, 64-aligned
     * share of the rows. */
    sabre_query_t *q = NULL;
    sabre_component_t comps[2] = {phys.pos, phys.vel};
    if (!rc)
        rc = sabre_query_create(world, &(sabre_query_desc_t){.all = comps, .nall = 2}, &q);
    uint64_t total = rc ? 0 : sabre_query_count(q);
    uint64_t share = ((total + o->workers - 1) / o->workers + 63) / 64 * 64;
    /* A worker gets at most one item per block (chunk) of the query. */
    uint32_t cap = 0;
    sabre_iter_t it;
    if (!rc)
        for (sabre_query_iter(q, &it); sabre_iter_next(&it);)
            cap++;
    for (unsigned w = 0; !rc && w < o->workers; w++) {
        ws[w] = (phys_mb_worker_t){.mb = mb, .index = w, .args = &phys.args};
        ws[w].views = calloc(cap ? cap : 1, sizeof *ws[w].views);
        ws[w].begin = calloc(cap ? cap : 1, sizeof *ws[w].begin);
        ws[w].end = calloc(cap ? cap : 1, sizeof *ws[w].end);
        if (!ws[w].views || !ws[w].begin || !ws[w].end)
            rc = SABRE_ENOMEM;
    }
    if (!rc && !(views = calloc(cap ? cap : 1, sizeof *views)))
        rc = SABRE_ENOMEM;
    uint64_t row = 0;
    if (!rc)
        sabre_query_iter(q, &it);
    while (!rc && nviews < cap && sabre_iter_next(&it)) {
        sabre_snapshot_t *v;
        rc = sabre_snapshot_view(world, it.table, it.chunk, it.offset, it.count, &v);
        if (rc)
            break;
        views[nviews++] = v;
        for (uint64_t b = 0; b < it.count;) {
            unsigned w = (unsigned)phys_min((row + b) / share, (uint64_t)o->workers - 1);
            uint64_t end = phys_min((uint64_t)it.count, (uint64_t)(w + 1) * share - row);
            if (w == o->workers - 1)
                end = it.count;
            phys_mb_worker_t *x = &ws[w];
            x->views[x->nitems] = v;
            x->begin[x->nitems] = b;
            x->end[x->nitems] = end;
            x->nitems++;
            b = end;
        }
        row += it.count;
    }
    sabre_query_destroy(q);
    for (; !rc && started < o->workers; started++)
        if (pthread_create(&ws[started].thread, NULL, phys_mb_main, &ws[started]))
            rc = SABRE_EIO; /* no thread to be had */
    /* warm-up request of one tick, then the timed frames in requests of K */
    unsigned done = 0;
    uint64_t t0 = 0;
    for (int warm = 1; !rc && (warm || done < o->frames); warm = 0) {
        unsigned k = warm ? 1 : (unsigned)phys_min(o->ticks, o->frames - done);
        if (!warm && t0 == 0)
            t0 = phys_now_ns();
        rc = sabre_world_begin_tick(world);
        for (unsigned w = 0; !rc && w < o->workers; w++)
            rc = sabre_mailbox_request(mb, w, k);
        for (unsigned w = 0; !rc && w < o->workers; w++)
            rc = sabre_mailbox_wait(mb, w, 60ull * 1000000000ull);
        int erc = sabre_world_end_tick(world); /* sync point: structural changes go here */
        if (!rc)
            rc = erc;
        if (!warm) {
            done += k;
            res->requests++;
            phys_progress(o, "mailbox", done);
        }
        if (warm && !rc && o->frames == 0)
            break;
    }
    uint64_t t1 = phys_now_ns();
    for (unsigned w = 0; w < started; w++) {
        sabre_mailbox_stop(mb, w);
        pthread_join(ws[w].thread, NULL);
    }
    if (!rc)
        rc = phys_finish(o, &phys, t0, t1, res);
    for (uint32_t i = 0; i < nviews; i++)
        sabre_snapshot_free(views[i]);
    free(views);
    for (unsigned w = 0; ws && w < o->workers; w++) {
        free(ws[w].views);
        free(ws[w].begin);
        free(ws[w].end);
    }
    free(ws);
    sabre_mailbox_close(mb);
    sabre_world_destroy(world);
    return rc;
}

#endif
