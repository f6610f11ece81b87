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

#include "../examples/physics_run.h"
#include "cmds.h"

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
    phys_opts_t o = {.entities = 1000000,
                     .workers = cpus > 0 ? (unsigned)cpus : 2,
                     .frames = 200,
                     .ticks = 8,
                     .seed = 12345};
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
        } else if ((!strcmp(a, "-k") || !strcmp(a, "--ticks")) && v && parse_u64(v, &x) && x >= 1 &&
                   x <= 1000000) {
            o.ticks = (unsigned)x, i++;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--modes")) && v) {
            char *list = strdup(v), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int found = -1;
                for (int m = 0; m < M_COUNT; m++)
                    if (!strcmp(t, phys_mode_names[m]))
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
    fflush(stdout); /* before the progress lines on stderr */
    phys_result_t res[M_COUNT] = {{0}};
    int failed = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (!o.modes[m])
            continue;
        int rc = m == M_MAILBOX ? phys_run_mailbox(&o, &res[m])
                                : phys_run_sched(&o, (enum phys_mode)m, &res[m]);
        if (rc) {
            fprintf(stderr, "\nsabre demo physics: mode %s failed: %s (%s)\n", phys_mode_names[m],
                    sabre_last_error(), sabre_status_name(rc));
            failed = 1;
            if (m == M_SERIAL)
                return 1;
        }
    }
    printf("%-12s %8s %10s %10s %9s  %s\n", "mode", "workers", "ms/frame", "ns/entity", "speed-up",
           "final state vs serial");
    for (int m = 0; m < M_COUNT; m++) {
        if (!o.modes[m] || !res[m].ran)
            continue;
        char name[32];
        if (m == M_MAILBOX)
            snprintf(name, sizeof name, "mailbox K=%u", o.ticks);
        else
            snprintf(name, sizeof name, "%s", phys_mode_names[m]);
        bool same = res[m].final.checksum == res[M_SERIAL].final.checksum &&
                    res[m].final.rows == res[M_SERIAL].final.rows;
        char state[96];
        if (m == M_SERIAL)
            snprintf(state, sizeof state, "reference, checksum %016" PRIx64, res[m].final.checksum);
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
                "  physics   entities bouncing in a box, in every offload mode\n"
                "  rl        CartPole actor processes -> ring -> PPO trainer -> weights\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "physics"))
        return demo_physics(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rl"))
        return sabre_tool_demo_rl(argc - 1, argv + 1);
    fprintf(stderr, "sabre demo: unknown demo '%s'\n", argv[1]);
    return 2;
}
