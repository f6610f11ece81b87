/*
 * sabre-mpi demo rl - CartPole across nodes: rank 0 trains (the PPO
 * learner of `sabre demo rl`, examples/rl/learner.h), every other rank runs
 * local actor processes (`sabre demo rl --actor REGION`) on its own region
 * and a bridge that forwards their chunks to rank 0 and publishes rank 0's
 * weights there.  One machine:
 *
 *   mpirun --oversubscribe -np 3 --mca btl self,tcp build/release/sabre-mpi demo rl
 *
 * Solved: mean return of the last 100 training episodes >= 475 and a greedy
 * evaluation of the final weights over 100 episodes >= 475 (the RL demo's
 * criterion).  docs/distributed.md ("The demo").
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../examples/rl/learner.h"
#include "mpi/sabre_mpi_tool.h"

#define DM_SCHEMA                                                                                  \
    "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"
#define DM_SOLVED     475.0
#define DM_MAX_ACTORS 64

extern char **environ;

static const char *const dm_field_names[] = {"obs", "rew", "logp", "t", "act", "end"};
enum { DF_OBS, DF_REW, DF_LOGP, DF_T, DF_ACT, DF_END, DF_COUNT };

typedef struct dm_opts {
    uint32_t actors, envs, steps, capacity;
    uint64_t seed, max_steps;
    bool until_solved, quiet;
} dm_opts;

static uint64_t dm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the trainer (a thread of rank 0; no MPI calls) ---------------------------------- */

typedef struct dm_trainer {
    const dm_opts *o;
    sabre_ring_t *ring;
    sabre_weights_t *w;
    uint32_t lanes;
    _Atomic int finished; /* 1 = the trainer is done (solved or out of budget) */
    _Atomic int abort;    /* set by the bridge loop when the bridge failed */
    int status;           /* 0 solved (or budget without --until-solved), 1 not */
    uint64_t steps, episodes, updates, version, solved_steps, solved_ns, lag_max;
    double mean100, eval;
    bool solved;
} dm_trainer;

static void *dm_train(void *arg)
{
    dm_trainer *T = arg;
    const dm_opts *o = T->o;
    const uint32_t E = o->envs;
    sabre_ring_consumer_t *cons = NULL;
    rl_learner *L = calloc(1, sizeof *L);
    sabre_ring_field_t f[DF_COUNT];
    T->status = 1;
    rl_hparams hp = rl_hparams_default();
    if ((uint64_t)T->lanes * o->steps * E > hp.batch_steps)
        hp.batch_steps = (uint32_t)((uint64_t)T->lanes * o->steps * E);
    int rc = 0;
    for (int i = 0; i < DF_COUNT && !rc; i++)
        rc = sabre_ring_field_find(T->ring, dm_field_names[i], &f[i]);
    if (rc || !L || rl_learner_init(L, &hp, T->lanes * E, o->seed) ||
        (rc = sabre_weights_publish(T->w, L->pi, sizeof L->pi, NULL, 0, &T->version)) ||
        (rc = sabre_ring_consumer_open(T->ring, &cons))) {
        fprintf(stderr, "sabre-mpi demo rl: trainer: %s (%s)\n", sabre_status_name(rc),
                sabre_last_error());
        goto out;
    }
    sabre_ring_consumer_set_version(cons, T->version);
    float ret100[100] = {0};
    double sum100 = 0;
    uint64_t t0 = dm_now(), next_print = t0 + 1000000000ull, last_eval = 0;
    while (!T->solved && T->steps < o->max_steps && !atomic_load(&T->abort)) {
        sabre_ring_batch_t batch;
        rc = sabre_ring_consume(cons, 64, 100000000ull, &batch);
        if (rc == SABRE_ETIMEDOUT)
            continue;
        if (rc) {
            fprintf(stderr, "sabre-mpi demo rl: consume: %s (%s)\n", sabre_status_name(rc),
                    sabre_last_error());
            goto out;
        }
        for (uint32_t i = 0; i < batch.count; i++) {
            sabre_chunk_header_t hd;
            sabre_ring_chunk_header(T->ring, sabre_ring_batch_chunk(cons, &batch, i), &hd);
            uint64_t lag = T->version > hd.policy_version ? T->version - hd.policy_version : 0;
            T->lag_max = lag > T->lag_max ? lag : T->lag_max;
            const uint8_t *base = batch.data + (uint64_t)i * batch.stride;
            const float *obs = (const float *)(base + f[DF_OBS].offset);
            const float *rew = (const float *)(base + f[DF_REW].offset);
            const float *logp = (const float *)(base + f[DF_LOGP].offset);
            const uint32_t *tt = (const uint32_t *)(base + f[DF_T].offset);
            const uint8_t *act = base + f[DF_ACT].offset;
            const uint8_t *end = base + f[DF_END].offset;
            uint32_t n = hd.valid_steps * E;
            for (uint32_t k = 0; k < n; k++) {
                uint32_t len;
                float ret;
                if (!rl_learner_step(L, hd.lane * E + k % E, &obs[k * CP_OBS], act[k], logp[k],
                                     rew[k], tt[k], end[k], &len, &ret))
                    continue;
                sum100 += ret - ret100[T->episodes % 100];
                ret100[T->episodes % 100] = ret;
                T->episodes++;
                if (rl_learner_ready(L)) {
                    rl_learner_update(L);
                    if ((rc = sabre_weights_publish(T->w, L->pi, sizeof L->pi, NULL, 1000000000ull,
                                                    &T->version))) {
                        fprintf(stderr, "sabre-mpi demo rl: publish: %s (%s)\n",
                                sabre_status_name(rc), sabre_last_error());
                        goto out;
                    }
                    sabre_ring_consumer_set_version(cons, T->version);
                }
            }
            T->steps += n;
        }
        sabre_ring_release(cons, &batch);
        T->mean100 = sum100 / (double)(T->episodes < 100 ? (T->episodes ? T->episodes : 1) : 100);
        if (T->episodes >= 100 && sum100 / 100 >= DM_SOLVED && T->version != last_eval) {
            last_eval = T->version;
            T->eval = cp_evaluate(L->pi, 100, o->seed ^ 0x5eed);
            if (T->eval >= DM_SOLVED) {
                T->solved = true;
                T->solved_steps = T->steps;
                T->solved_ns = dm_now() - t0;
            }
        }
        uint64_t now = dm_now();
        if (!o->quiet && now >= next_print) {
            double s = (double)(now - t0) / 1e9;
            printf("steps %8" PRIu64 "  %6.2f s  %8.0f SPS  episodes %6" PRIu64
                   "  mean-100 %6.1f  max lag %" PRIu64 "\n",
                   T->steps, s, (double)T->steps / s, T->episodes, T->mean100, T->lag_max);
            fflush(stdout);
            next_print = now + 1000000000ull;
        }
    }
    T->updates = L->updates;
    T->status = T->solved || (!o->until_solved && !atomic_load(&T->abort)) ? 0 : 1;
out:
    sabre_ring_consumer_close(cons);
    if (L)
        rl_learner_free(L);
    free(L);
    atomic_store(&T->finished, 1);
    return NULL;
}

/* ---- actors (node ranks) --------------------------------------------------------------- */

static pid_t dm_spawn(const char *tool, const char *region, uint64_t seed)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, seed);
    char *args[] = {(char *)tool, "demo", "rl", "--actor", (char *)region, "--seed", s, NULL};
    pid_t pid;
    fflush(NULL);
    if (posix_spawn(&pid, tool, NULL, NULL, args, environ) != 0)
        return -1;
    return pid;
}

static void dm_tool_path(char *dst, size_t cap)
{
    const char *env = getenv("SABRE_TOOL");
    if (env && *env) {
        snprintf(dst, cap, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 8);
    self[n > 0 ? n : 0] = 0;
    char *slash = strrchr(self, '/');
    memcpy(slash ? slash + 1 : self, "sabre", 6); /* the sabre command next to this one */
    snprintf(dst, cap, "%s", self);
}

/* ---- the job -------------------------------------------------------------------------- */

static void dm_usage(FILE *f)
{
    fprintf(f,
            "usage: mpirun -np N sabre-mpi demo rl [options]     (N >= 2)\n"
            "  rank 0 trains; ranks 1..N-1 each run actor processes on their own region\n"
            "  --actors A         actor processes per node (default 2)\n"
            "  --envs E           CartPole envs per actor (default 8)\n"
            "  --T T              steps per chunk (default 64)\n"
            "  --capacity C       chunks per lane, node and trainer rings (default 4)\n"
            "  --seed S           (default 1)\n"
            "  --max-steps N      env-step budget (default 1000000; --until-solved 5000000)\n"
            "  --until-solved     not solving within the budget exits 1\n"
            "  -q, --quiet        no progress lines\n"
            "Actors are `sabre demo rl --actor REGION` (the sabre command next to\n"
            "sabre-mpi, or $SABRE_TOOL).  Solved: mean-100 >= %.0f and greedy eval >= %.0f.\n",
            DM_SOLVED, DM_SOLVED);
}

static bool dm_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int sabre_mpi_tool_demo_rl(int argc, char **argv)
{
    dm_opts o = {.actors = 2, .envs = 8, .steps = 64, .capacity = 4, .seed = 1};
    bool budget = false;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            if (rank == 0)
                dm_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if (!strcmp(a, "--until-solved")) {
            o.until_solved = true;
        } else if (!strcmp(a, "--actors") && dm_u64(v, 1, DM_MAX_ACTORS, &x)) {
            o.actors = (uint32_t)x, i++;
        } else if (!strcmp(a, "--envs") && dm_u64(v, 1, 1024, &x)) {
            o.envs = (uint32_t)x, i++;
        } else if (!strcmp(a, "--T") && dm_u64(v, 1, 4096, &x)) {
            o.steps = (uint32_t)x, i++;
        } else if (!strcmp(a, "--capacity") && dm_u64(v, 1, 1024, &x) && !(x & (x - 1))) {
            o.capacity = (uint32_t)x, i++;
        } else if (!strcmp(a, "--seed") && dm_u64(v, 0, UINT64_MAX, &x)) {
            o.seed = x, i++;
        } else if (!strcmp(a, "--max-steps") && dm_u64(v, 1, UINT64_MAX, &x)) {
            o.max_steps = x, budget = true, i++;
        } else {
            if (rank == 0) {
                fprintf(stderr, "sabre-mpi demo rl: bad option '%s'\n", a);
                dm_usage(stderr);
            }
            return 2;
        }
    }
    if (size < 2 || (uint64_t)o.envs * o.steps > 1u << 20) {
        if (rank == 0)
            fprintf(stderr, "sabre-mpi demo rl: %s\n",
                    size < 2 ? "needs at least 2 ranks (rank 0 trains, the others act)"
                             : "chunks are too large (T x E > 1048576)");
        return 2;
    }
    if (!budget)
        o.max_steps = o.until_solved ? 5000000 : 1000000;
    /* one region per rank, named after the job (rank 0's pid) */
    int job = (int)getpid();
    MPI_Bcast(&job, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char name[64];
    snprintf(name, sizeof name, "/sabre-mpirl-%d-%d", job, rank);
    const uint32_t lanes = rank == 0 ? (uint32_t)(size - 1) * o.actors : o.actors;
    sabre_schema_t *schema = NULL;
    sabre_region_t *reg = NULL;
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    sabre_mpi_bridge_t *b = NULL;
    int rc = sabre_schema_compile(DM_SCHEMA, strlen(DM_SCHEMA), &schema, NULL);
    uint64_t chunk = (uint64_t)o.steps * o.envs * 32 + 8 * 64;
    if (!rc)
        rc = sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                   .name = name,
                                   .size = (uint64_t)lanes * o.capacity * chunk + (4u << 20),
                                   .flags = SABRE_REGION_REPLACE},
            &reg);
    if (!rc)
        rc = sabre_ring_create(reg,
                               &(sabre_ring_desc_t){.name = "rollouts",
                                                    .shape = SABRE_RING_LANES,
                                                    .policy = SABRE_RING_BLOCK,
                                                    .capacity = o.capacity,
                                                    .producers = lanes,
                                                    .layout = sabre_schema_root(schema),
                                                    .steps = o.steps,
                                                    .envs = o.envs},
                               &ring);
    /* node weights: 2 pins per actor + the active slot + the bridge's begun
     * slot + 1; trainer: the bridge's pin + active + 2 */
    if (!rc)
        rc = sabre_weights_create(reg,
                                  &(sabre_weights_desc_t){.name = "policy",
                                                          .size = CP_NPARAM * sizeof(float),
                                                          .slots = rank == 0 ? 4 : 2 * o.actors + 3,
                                                          .readers = rank == 0 ? 2 : 2 * o.actors,
                                                          .flags = SABRE_WEIGHTS_F32},
                                  &w);
    if (rc)
        fprintf(stderr, "sabre-mpi demo rl: rank %d: set-up: %s (%s)\n", rank,
                sabre_status_name(rc), sabre_last_error());
    /* every rank enters the handshake; a rank without a region fails it for all */
    if ((rc = sabre_mpi_bridge_create(
             &(sabre_mpi_bridge_desc_t){.comm = MPI_COMM_WORLD, .region = reg}, &b))) {
        if (rank == 0 || reg)
            fprintf(stderr, "sabre-mpi demo rl: rank %d: bridge: %s (%s)\n", rank,
                    sabre_status_name(rc), sabre_last_error());
        goto out;
    }
    sabre_mpi_tool_signals();
    int status = 1;
    if (rank == 0) {
        printf("sabre MPI RL demo: CartPole-v1, %d nodes x %u actor processes x %u envs, chunks "
               "of %u x %u steps; rank 0 trains on %u remote lanes\n",
               size - 1, o.actors, o.envs, o.steps, o.envs, lanes);
        fflush(stdout);
        dm_trainer T = {.o = &o, .ring = ring, .w = w, .lanes = lanes};
        pthread_t th;
        pthread_create(&th, NULL, dm_train, &T);
        while (!sabre_mpi_bridge_done(b)) {
            if ((atomic_load(&T.finished) || sabre_mpi_tool_signal))
                sabre_mpi_bridge_stop(b);
            if ((rc = sabre_mpi_bridge_poll(b, 1000000))) {
                fprintf(stderr, "sabre-mpi demo rl: %s (%s); ending the job\n",
                        sabre_status_name(rc), sabre_last_error());
                sabre_mpi_tool_print_stats(stderr, b, "failed");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        pthread_join(th, NULL);
        if (T.solved)
            printf("solved in %" PRIu64 " env steps and %.2f s (%" PRIu64 " episodes, %" PRIu64
                   " updates, %.0f SPS)\n",
                   T.solved_steps, (double)T.solved_ns / 1e9, T.episodes, T.updates,
                   (double)T.solved_steps * 1e9 / (double)(T.solved_ns ? T.solved_ns : 1));
        else
            printf("not solved within the budget: %" PRIu64 " env steps, mean-100 %.1f\n", T.steps,
                   T.mean100);
        printf("greedy evaluation of the final weights: mean return %.1f over 100 episodes\n",
               T.eval);
        printf("max policy lag of a consumed chunk: %" PRIu64 " versions; %" PRIu64
               " versions published\n",
               T.lag_max, T.version);
        status = T.status;
    } else {
        char tool[PATH_MAX];
        dm_tool_path(tool, sizeof tool);
        pid_t pids[DM_MAX_ACTORS];
        uint64_t gen = 0;
        for (uint32_t a = 0; a < o.actors; a++)
            pids[a] = dm_spawn(tool, name, o.seed * 1000 + (uint64_t)rank * 100 + gen++);
        status = 0;
        while (!sabre_mpi_bridge_done(b)) {
            if (sabre_mpi_tool_signal) {
                sabre_mpi_tool_print_stats(stdout, b, "ended by a signal");
                for (uint32_t a = 0; a < o.actors; a++)
                    if (pids[a] > 0)
                        kill(pids[a], SIGKILL);
                fflush(NULL);
                _exit(128 + sabre_mpi_tool_signal);
            }
            if ((rc = sabre_mpi_bridge_poll(b, 1000000))) {
                fprintf(stderr, "sabre-mpi demo rl: %s (%s); ending the job\n",
                        sabre_status_name(rc), sabre_last_error());
                sabre_mpi_tool_print_stats(stderr, b, "failed");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            /* an actor that died is replaced: the ring gives its lane to the new one */
            for (uint32_t a = 0; a < o.actors; a++) {
                int st;
                if (pids[a] > 0 && waitpid(pids[a], &st, WNOHANG) == pids[a]) {
                    fprintf(stderr, "rank %d: actor pid %d ended; starting a replacement\n", rank,
                            (int)pids[a]);
                    pids[a] = dm_spawn(tool, name, o.seed * 1000 + (uint64_t)rank * 100 + gen++);
                }
            }
        }
        /* closing the bridge closes the node ring's consumer: the actors stop */
        if (!o.quiet)
            sabre_mpi_tool_print_stats(stdout, b, "done");
        sabre_mpi_bridge_close(b);
        b = NULL;
        for (uint32_t a = 0; a < o.actors; a++) {
            int st = 0;
            pid_t r = 0;
            for (int k = 0; pids[a] > 0 && k < 500 && (r = waitpid(pids[a], &st, WNOHANG)) == 0;
                 k++)
                usleep(10000);
            if (pids[a] > 0 && r == 0) {
                kill(pids[a], SIGKILL);
                waitpid(pids[a], &st, 0);
            }
        }
    }
    if (b && !o.quiet)
        sabre_mpi_tool_print_stats(stdout, b, "done");
    sabre_mpi_bridge_close(b);
    b = NULL;
    rc = status;
out:
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    if (reg)
        sabre_region_unlink(SABRE_BACKING_SHM, name);
    sabre_schema_free(schema);
    return rc < 0 ? 1 : rc;
}
