/*
 * sabre demo physics - N entities with a position and a velocity bouncing
 * in a box, run in every execution mode sabre offers; prints a per-mode
 * table and checks that every mode ends in the serial run's exact state.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../examples/physics.h"
#include "cmds.h"
#include "internal.h"
#include "sabre/mailbox.h"

enum mode { M_SERIAL, M_INPLACE, M_SNAPSHOT, M_PROCESS, M_MAILBOX, M_COUNT };
static const char *const mode_names[M_COUNT] = {"serial", "inplace", "snapshot", "process",
                                                "mailbox"};

typedef struct opts {
    uint64_t entities;
    unsigned workers;
    unsigned frames;
    unsigned ticks;     /* mailbox: ticks per request */
    bool modes[M_COUNT];
    bool quiet;
    uint64_t seed;
} opts_t;

typedef struct result {
    bool ran;
    double ms_per_frame;
    double ns_per_entity;
    phys_stats_t final;
    uint64_t requests;  /* mailbox: request/ack pairs */
} result_t;

static void progress(const opts_t *o, const char *mode, unsigned frame)
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

static int run_sched(const opts_t *o, enum mode m, result_t *res)
{
    sabre_world_t *world = NULL;
    sabre_region_t *region = NULL;
    sabre_pool_t *pool = NULL;
    sabre_sched_t *sched = NULL;
    phys_t phys;
    int rc = sabre_world_create(&(sabre_world_desc_t){.region_size = 0}, &world);
    if (!rc)
        rc = phys_setup(&phys, world, o->entities, o->seed);
    if (!rc && m == M_PROCESS) {
        /* the snapshots the worker processes map: twice the columns, ids and bits */
        uint64_t size = o->entities * 48 + (64u << 20);
        rc = sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                        .name = "sabre-demo", .size = size},
                                 &region);
    }
    if (!rc && m != M_SERIAL)
        rc = sabre_pool_create(&(sabre_pool_desc_t){.threads = m == M_PROCESS ? 1 : o->workers,
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
    uint64_t t0 = sabre__now_ns();
    for (unsigned f = 1; !rc && f <= o->frames; f++) {
        rc = sabre_sched_run_frame(sched, 1.0 / 60.0, f / 60.0);
        if (f % 8 == 0 || f == o->frames)
            progress(o, mode_names[m], f);
    }
    uint64_t t1 = sabre__now_ns();
    if (!rc)
        rc = phys_measure(&phys, &res->final);
    if (!rc) {
        res->ran = true;
        res->ms_per_frame = (double)(t1 - t0) / 1e6 / o->frames;
        res->ns_per_entity = (double)(t1 - t0) / ((double)o->frames * (double)o->entities);
    }
    sabre_sched_destroy(sched);
    sabre_pool_destroy(pool);
    sabre_world_destroy(world);
    sabre_region_close(region);
    return rc;
}

/* ---- mailbox mode: workers run K ticks per request on the tables ------ */

typedef struct mb_worker {
    pthread_t thread;
    sabre_mailbox_t *mb;
    uint32_t index;
    phys_args_t *args;
    sabre_snapshot_t **views;   /* this worker's rows: [view, begin, end) triples */
    uint64_t *begin, *end;
    uint32_t nitems;
    int status;
} mb_worker_t;

static void *mb_main(void *arg)
{
    mb_worker_t *w = arg;
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
        for (uint64_t k = 0; k < req.ticks && !st; k++) {
            for (uint32_t i = 0; i < w->nitems && !st; i++) {
                sabre_kernel_ctx_t c = {.rows = w->views[i], .begin = w->begin[i],
                                        .end = w->end[i], .dt = 1.0 / 60.0, .args = w->args,
                                        .args_len = sizeof *w->args, .worker = w->index};
                st = phys_integrate(&c);
                if (!st)
                    st = phys_bounds(&c);
            }
            sabre_mailbox_tick(w->mb, w->index);
        }
        rc = sabre_mailbox_ack(w->mb, w->index, st);
    }
    w->status = rc;
    return NULL;
}

static int run_mailbox(const opts_t *o, result_t *res)
{
    sabre_world_t *world = NULL;
    phys_t phys;
    sabre_mailbox_t *mb = NULL;
    mb_worker_t *ws = calloc(o->workers, sizeof *ws);
    sabre_snapshot_t **views = NULL;
    uint32_t nviews = 0, started = 0;
    int rc = ws ? sabre_world_create(NULL, &world) : SABRE_ENOMEM;
    if (!rc)
        rc = phys_setup(&phys, world, o->entities, o->seed);
    if (!rc)
        rc = sabre_mailbox_create(sabre_world_region(world),
                                  &(sabre_mailbox_desc_t){.name = "demo.mailbox",
                                                          .workers = o->workers},
                                  &mb);
    /* Native views of every chunk; each worker gets an equal, 64-aligned
     * share of the rows. */
    sabre_query_t *q = NULL;
    sabre_component_t comps[2] = {phys.pos, phys.vel};
    if (!rc)
        rc = sabre_query_create(world, &(sabre_query_desc_t){.all = comps, .nall = 2}, &q);
    uint64_t total = rc ? 0 : sabre_query_count(q);
    uint64_t share = SABRE_ALIGN_UP((total + o->workers - 1) / o->workers, (uint64_t)64);
    for (unsigned w = 0; !rc && w < o->workers; w++) {
        ws[w] = (mb_worker_t){.mb = mb, .index = w, .args = &phys.args};
        /* at most one item per chunk per worker */
        uint32_t cap = sabre_world_table_count(world) * 64 + 64;
        ws[w].views = calloc(cap, sizeof *ws[w].views);
        ws[w].begin = calloc(cap, sizeof *ws[w].begin);
        ws[w].end = calloc(cap, sizeof *ws[w].end);
        if (!ws[w].views || !ws[w].begin || !ws[w].end)
            rc = SABRE_ENOMEM;
    }
    sabre_iter_t it;
    uint64_t row = 0;
    if (!rc)
        sabre_query_iter(q, &it);
    while (!rc && sabre_iter_next(&it)) {
        sabre_snapshot_t *v;
        rc = sabre_snapshot_view(world, it.table, it.chunk, it.offset, it.count, &v);
        if (rc)
            break;
        sabre_snapshot_t **nv = realloc(views, (nviews + 1) * sizeof *views);
        if (!nv) {
            sabre_snapshot_free(v);
            rc = SABRE_ENOMEM;
            break;
        }
        views = nv;
        views[nviews++] = v;
        for (uint64_t b = 0; b < it.count;) {
            unsigned w = (unsigned)SABRE_MIN((row + b) / share, (uint64_t)o->workers - 1);
            uint64_t end = SABRE_MIN((uint64_t)it.count, (uint64_t)(w + 1) * share - row);
            if (w == o->workers - 1)
                end = it.count;
            mb_worker_t *x = &ws[w];
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
        if (pthread_create(&ws[started].thread, NULL, mb_main, &ws[started]))
            rc = sabre__fail(SABRE_EIO, "demo: cannot start worker thread");
    /* warm-up request of one tick, then the timed frames in requests of K */
    unsigned done = 0;
    uint64_t t0 = 0;
    for (int warm = 1; !rc && (warm || done < o->frames); warm = 0) {
        unsigned k = warm ? 1 : SABRE_MIN(o->ticks, o->frames - done);
        if (!warm && t0 == 0)
            t0 = sabre__now_ns();
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
            progress(o, "mailbox", done);
        }
        if (warm && !rc && o->frames == 0)
            break;
    }
    uint64_t t1 = sabre__now_ns();
    for (unsigned w = 0; w < started; w++) {
        sabre_mailbox_stop(mb, w);
        pthread_join(ws[w].thread, NULL);
    }
    if (!rc)
        rc = phys_measure(&phys, &res->final);
    if (!rc) {
        res->ran = true;
        res->ms_per_frame = (double)(t1 - t0) / 1e6 / o->frames;
        res->ns_per_entity = (double)(t1 - t0) / ((double)o->frames * (double)o->entities);
    }
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

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sabre demo physics [options]\n"
            "  -n, --entities N   entities (default 1000000)\n"
            "  -w, --workers W    worker threads / processes (default: online CPUs)\n"
            "  -f, --frames F     timed frames per mode (default 200)\n"
            "  -k, --ticks K      mailbox mode: ticks per request (default 8)\n"
            "  -m, --modes LIST   comma-separated: serial,inplace,snapshot,process,mailbox\n"
            "                     (default: all; serial always runs as the reference)\n"
            "  -q, --quiet        no progress line\n"
            "Every mode runs the same systems (integrate, bounds: kernels over rows;\n"
            "stats: energy every %d frames) and must end in the serial run's exact state.\n",
            PHYS_STATS_EVERY);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static int demo_physics(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opts_t o = {.entities = 1000000, .workers = cpus > 0 ? (unsigned)cpus : 2, .frames = 200,
                .ticks = 8, .seed = 12345};
    bool any_mode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--entities")) && v && parse_u64(v, &x) &&
                   x >= 1 && x <= 100000000) {
            o.entities = x, i++;
        } else if ((!strcmp(a, "-w") || !strcmp(a, "--workers")) && v && parse_u64(v, &x) &&
                   x >= 1 && x <= 256) {
            o.workers = (unsigned)x, i++;
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--frames")) && v && parse_u64(v, &x) &&
                   x >= 1 && x <= 1000000) {
            o.frames = (unsigned)x, i++;
        } else if ((!strcmp(a, "-k") || !strcmp(a, "--ticks")) && v && parse_u64(v, &x) &&
                   x >= 1 && x <= 1000000) {
            o.ticks = (unsigned)x, i++;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--modes")) && v) {
            char *list = strdup(v), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int found = -1;
                for (int m = 0; m < M_COUNT; m++)
                    if (!strcmp(t, mode_names[m]))
                        found = m;
                if (found < 0) {
                    fprintf(stderr, "sabre demo physics: unknown mode '%s'\n", t);
                    free(list);
                    return 2;
                }
                o.modes[found] = any_mode = true;
            }
            free(list);
            i++;
        } else {
            fprintf(stderr, "sabre demo physics: bad option '%s'%s\n", a,
                    v ? " (or its value)" : "");
            usage(stderr);
            return 2;
        }
    }
    for (int m = 0; m < M_COUNT; m++)
        if (!any_mode)
            o.modes[m] = true;
    o.modes[M_SERIAL] = true;

    printf("sabre physics demo: %" PRIu64 " entities, %u workers, %u frames per mode, "
           "box %.0fx%.0f\n",
           o.entities, o.workers, o.frames, (double)PHYS_BOX_W, (double)PHYS_BOX_H);
    printf("systems: integrate (pos += vel*dt), bounds (reflect), stats (energy every %d "
           "frames)\n\n",
           PHYS_STATS_EVERY);
    result_t res[M_COUNT] = {{0}};
    int failed = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (!o.modes[m])
            continue;
        int rc = m == M_MAILBOX ? run_mailbox(&o, &res[m]) : run_sched(&o, (enum mode)m, &res[m]);
        if (rc) {
            fprintf(stderr, "\nsabre demo physics: mode %s failed: %s (%s)\n", mode_names[m],
                    sabre_last_error(), sabre_status_name(rc));
            failed = 1;
            if (m == M_SERIAL)
                return 1;
        }
    }
    printf("%-12s %8s %10s %10s %9s  %s\n", "mode", "workers", "ms/frame", "ns/entity",
           "speed-up", "final state vs serial");
    for (int m = 0; m < M_COUNT; m++) {
        if (!o.modes[m] || !res[m].ran)
            continue;
        char name[32];
        if (m == M_MAILBOX)
            snprintf(name, sizeof name, "mailbox K=%u", o.ticks);
        else
            snprintf(name, sizeof name, "%s", mode_names[m]);
        bool same = res[m].final.checksum == res[M_SERIAL].final.checksum &&
                    res[m].final.rows == res[M_SERIAL].final.rows;
        char state[96];
        if (m == M_SERIAL)
            snprintf(state, sizeof state, "reference, checksum %016" PRIx64,
                     res[m].final.checksum);
        else
            snprintf(state, sizeof state, "%s", same ? "bit-identical" : "DIFFERENT");
        if (!same)
            failed = 1;
        printf("%-12s %8u %10.3f %10.3f %8.2fx  %s\n", name, m == M_SERIAL ? 1 : o.workers,
               res[m].ms_per_frame, res[m].ns_per_entity,
               res[m].ms_per_frame > 0 ? res[M_SERIAL].ms_per_frame / res[m].ms_per_frame : 0,
               state);
    }
    if (o.modes[M_MAILBOX] && res[M_MAILBOX].ran)
        printf("\nmailbox: %" PRIu64 " request/acknowledge pairs per worker for %u ticks\n",
               res[M_MAILBOX].requests, o.frames);
    printf("\n%s\n", failed ? "FAILED: a mode failed or ended in a different state"
                            : "all modes ended in the serial run's exact state");
    return failed;
}

int sabre_tool_cmd_demo(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: sabre demo <name> [options]\n\ndemos:\n"
                "  physics   entities bouncing in a box, in every offload mode\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "physics"))
        return demo_physics(argc - 1, argv + 1);
    fprintf(stderr, "sabre demo: unknown demo '%s'\n", argv[1]);
    return 2;
}
