/*
 * sabre demo rl - CartPole-v1 actors in their own processes stream rollout
 * chunks through a ring to this trainer, which rebuilds whole episodes,
 * trains a small policy network with PPO + Adam and publishes every update
 * through a weights object; actors adopt the newest weights at each chunk.
 *
 *     sabre demo rl [--actors N] [--envs E] [--T T] [--seed S] ...
 *     sabre demo rl --actor REGION [--seed S]     one actor (train.py runs these)
 *
 * The environment, the network and the learner are examples/rl/cartpole.h
 * and examples/rl/learner.h; docs/rl.md ("The RL demo") walks through it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../examples/rl/learner.h"
#include "cmds.h"
#include "sabre/sabre.h"

/* One step of a chunk; the ring stores it as one [T][E] array per field. */
#define RLD_SCHEMA                                                                                 \
    "struct Step { obs: f32[4]; rew: f32; logp: f32; t: u32; act: u8; end: u8; _: pad[2]; }"
#define RLD_RING       "rollouts"
#define RLD_WEIGHTS    "policy"
#define RLD_MAX_ACTORS 64
#define RLD_SOLVED     475.0

static const char *const rld_field_names[] = {"obs", "rew", "logp", "t", "act", "end"};
enum { RF_OBS, RF_REW, RF_LOGP, RF_T, RF_ACT, RF_END, RF_COUNT };

static uint64_t rld_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int rld_fields(sabre_ring_t *ring, sabre_ring_field_t f[RF_COUNT])
{
    for (int i = 0; i < RF_COUNT; i++) {
        int rc = sabre_ring_field_find(ring, rld_field_names[i], &f[i]);
        if (rc)
            return rc;
    }
    return SABRE_OK;
}

/* ---- the actor ------------------------------------------------------------- */

/* Returns 0 when the trainer closed the ring (the normal end), 1 on an
 * error or when the trainer's process died.  Every finished episode's
 * return and length go to the trainer through the ring's episode records. */
static int rld_actor(const char *region_name, uint64_t seed)
{
    sabre_region_t *reg = NULL;
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    sabre_weights_reader_t *reader = NULL;
    sabre_ring_producer_t *prod = NULL;
    cp_env *envs = NULL;
    double *ret = NULL, *ended_ret = NULL; /* per env: the running episode's return, length */
    uint32_t *len = NULL, *ended_len = NULL;
    int rc, status = 1;
    const char *what = "open region";
    if ((rc = sabre_region_open(
             &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = region_name}, &reg)))
        goto fail;
    what = "attach";
    sabre_ring_field_t f[RF_COUNT];
    if ((rc = sabre_ring_open(reg, RLD_RING, NULL, 0, 0, &ring)) || (rc = rld_fields(ring, f)) ||
        (rc = sabre_weights_open(reg, RLD_WEIGHTS, NULL, &w)) ||
        (rc = sabre_weights_reader_open(w, &reader)) ||
        (rc = sabre_ring_producer_open(ring, &prod)))
        goto fail;
    if (sabre_weights_size(w) < CP_NPARAM * sizeof(float)) {
        rc = SABRE_ELAYOUT;
        fprintf(stderr, "rl actor: weights '%s' hold %" PRIu64 " bytes, want %zu\n", RLD_WEIGHTS,
                sabre_weights_size(w), CP_NPARAM * sizeof(float));
        goto out;
    }
    sabre_ring_stats_t rs;
    sabre_ring_stats(ring, &rs);
    const uint32_t T = rs.steps, E = rs.envs;
    envs = calloc(E, sizeof *envs);
    ret = calloc(E, sizeof *ret);
    len = calloc(E, sizeof *len);
    ended_ret = calloc((size_t)T * E, sizeof *ended_ret);
    ended_len = calloc((size_t)T * E, sizeof *ended_len);
    if (!envs || !ret || !len || !ended_ret || !ended_len) {
        rc = SABRE_ENOMEM, what = "allocate envs";
        goto fail;
    }
    seed = seed * 0x9e3779b97f4a7c15ull + sabre_ring_producer_id(prod);
    for (uint32_t e = 0; e < E; e++)
        cp_reset(&envs[e], &seed);
    what = "first weights";
    if ((rc = sabre_weights_wait(reader, 0, 10000000000ull)))
        goto fail;
    for (;;) {
        /* the newest weights, pinned for this chunk */
        sabre_weights_view_t view;
        rc =
            sabre_weights_adopt(reader, &(sabre_weights_adopt_opts_t){.check_finite = true}, &view);
        if (rc != SABRE_OK && !(rc == SABRE_ERANGE && view.data)) {
            what = "adopt";
            goto fail;
        }
        const float *wt = view.data;
        sabre_ring_producer_set_version(prod, view.version);
        sabre_ring_claim_t claim;
        /* A closed ring (the trainer is done) and a trainer that died are
         * named statuses of the claim (SABRE_ECLOSED, SABRE_EPEER). */
        while ((rc = sabre_ring_claim(prod, 1, 1000000000ull, &claim)) == SABRE_ETIMEDOUT)
            ;
        if (rc == SABRE_ECLOSED) { /* the normal end */
            status = 0;
            goto out;
        }
        if (rc == SABRE_EPEER) {
            fprintf(stderr, "rl actor %d: the trainer is gone (%s); stopping\n", (int)getpid(),
                    sabre_last_error());
            goto out;
        }
        if (rc) {
            what = "claim";
            goto fail;
        }
        uint8_t *base = claim.data;
        const float *rew = (const float *)(base + f[RF_REW].offset);
        const uint8_t *end = base + f[RF_END].offset;
        cp_rollout(envs, E, T, wt, &seed, (float *)(base + f[RF_OBS].offset),
                   (float *)(base + f[RF_REW].offset), (float *)(base + f[RF_LOGP].offset),
                   (uint32_t *)(base + f[RF_T].offset), base + f[RF_ACT].offset,
                   base + f[RF_END].offset);
        /* the episodes this chunk finished, for the trainer's statistics
         * (read before the commit: the slot is the trainer's after it) */
        uint32_t nended = 0;
        for (uint32_t i = 0; i < T * E; i++) {
            ret[i % E] += rew[i], len[i % E]++;
            if (end[i]) {
                ended_ret[nended] = ret[i % E], ended_len[nended++] = len[i % E];
                ret[i % E] = 0, len[i % E] = 0;
            }
        }
        if ((rc = sabre_ring_commit(prod, &claim))) {
            what = "commit";
            goto fail;
        }
        /* never waits; a trainer that does not read them loses reports
         * (counted as episodes_dropped), not chunks */
        for (uint32_t k = 0; k < nended; k++)
            sabre_ring_episode_report(prod, ended_ret[k], ended_len[k]);
    }
fail:
    fprintf(stderr, "rl actor %d: %s: %s (%s)\n", (int)getpid(), what, sabre_status_name(rc),
            sabre_last_error());
out:
    free(envs), free(ret), free(len), free(ended_ret), free(ended_len);
    sabre_ring_producer_close(prod);
    sabre_weights_reader_close(reader);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_region_close(reg);
    return status;
}

/* ---- the trainer ------------------------------------------------------------- */

typedef struct rld_opts {
    uint32_t actors, envs, steps, capacity;
    uint64_t seed, max_steps, kill_at;
    bool until_solved, quiet;
} rld_opts;

/* The ring's policy-lag histogram (updates between a chunk's weights and
 * the trainer's when it was consumed). */
static void rld_lag_print(const sabre_ring_stats_t *rs)
{
    uint64_t n = 0;
    for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++)
        n += rs->lag_hist[b];
    printf("policy lag (updates between the chunk's weights and the trainer's at consume), "
           "%" PRIu64 " chunks: p50 %" PRIu64 ", p90 %" PRIu64 ", p99 %" PRIu64 ", max %" PRIu64
           "\n",
           n, rs->lag_p50, rs->lag_p90, rs->lag_p99, rs->lag_max);
    for (uint32_t b = 0; b < SABRE_RING_LAG_BUCKETS; b++) {
        uint64_t c = rs->lag_hist[b], lo = sabre_ring_lag_bucket_min(b);
        uint64_t hi = sabre_ring_lag_bucket_min(b + 1);
        if (!c && lo > 3)
            continue;
        char label[48];
        if (hi == UINT64_MAX)
            snprintf(label, sizeof label, ">=%" PRIu64, lo);
        else if (hi - lo == 1)
            snprintf(label, sizeof label, "%" PRIu64, lo);
        else
            snprintf(label, sizeof label, "%" PRIu64 "-%" PRIu64, lo, hi - 1);
        int bar = n ? (int)(40.0 * (double)c / (double)n + 0.5) : 0;
        printf("  %-7s %10" PRIu64 " %5.1f%% %.*s\n", label, c,
               n ? 100.0 * (double)c / (double)n : 0.0, bar,
               "########################################");
    }
}

static pid_t rld_spawn(const char *region, uint64_t seed)
{
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(rld_actor(region, seed));
    return pid;
}

static void rld_usage(FILE *f)
{
    fprintf(f,
            "usage: sabre demo rl [options]\n"
            "  --actors N         actor processes (default 2)\n"
            "  --envs E           CartPole envs per actor (default 8)\n"
            "  --T T              steps per chunk (default 64): chunks are T x E steps\n"
            "  --capacity C       chunks per actor lane of the ring (default 4)\n"
            "  --seed S           seed of the networks and the envs (default 1)\n"
            "  --max-steps N      env-step budget (default 1000000; with --until-solved 5000000)\n"
            "  --until-solved     not solving within the budget is a failure (exit 1)\n"
            "  --kill-actor-at N  SIGKILL an actor once N env steps were consumed; a\n"
            "                     replacement takes over its lane\n"
            "  -q, --quiet        no progress lines\n"
            "  --actor REGION     run one actor on the trainer's shared-memory region\n"
            "                     (for trainers in other languages: examples/rl/train.py)\n"
            "Solved: the mean return of the last 100 training episodes >= %.0f and a greedy\n"
            "evaluation of the final weights over 100 episodes >= %.0f.  Exit 0 when solved,\n"
            "or when the budget ran out without --until-solved; 1 otherwise.\n",
            RLD_SOLVED, RLD_SOLVED);
}

static bool rld_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int rld_die(const char *what, int rc)
{
    fprintf(stderr, "sabre demo rl: %s: %s (%s)\n", what, sabre_status_name(rc),
            sabre_last_error());
    return 1;
}

static int rld_train(const rld_opts *o)
{
    char name[64];
    snprintf(name, sizeof name, "/sabre-rl-%d", (int)getpid());
    const uint32_t A = o->actors, E = o->envs, T = o->steps;
    sabre_schema_t *schema = NULL;
    int rc = sabre_schema_compile(RLD_SCHEMA, strlen(RLD_SCHEMA), &schema, NULL);
    if (rc)
        return rld_die("schema", rc);
    /* payload per chunk: T*E*(16+4+4+4+1+1) bytes in 64-byte aligned arrays */
    uint64_t chunk = (uint64_t)T * E * 30 + 6 * 64 + 64;
    uint64_t size = (uint64_t)A * o->capacity * chunk + (4u << 20);
    sabre_region_t *reg = NULL;
    if ((rc = sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                         .name = name,
                                                         .size = size,
                                                         .flags = SABRE_REGION_REPLACE},
                                  &reg))) {
        sabre_schema_free(schema);
        return rld_die("create region", rc);
    }
    sabre_ring_t *ring = NULL;
    sabre_weights_t *w = NULL;
    sabre_ring_consumer_t *cons = NULL;
    rl_learner *L = calloc(1, sizeof *L);
    pid_t pids[RLD_MAX_ACTORS] = {0};
    int status = 1;
    rl_hparams hp = rl_hparams_default();
    /* at least one chunk of every actor per update: with big chunks, a
     * smaller batch would learn from data many updates old */
    if ((uint64_t)A * T * E > hp.batch_steps)
        hp.batch_steps = (uint32_t)((uint64_t)A * T * E);
    sabre_ring_field_t f[RF_COUNT];
    if ((rc = sabre_ring_create(reg,
                                &(sabre_ring_desc_t){.name = RLD_RING,
                                                     .shape = SABRE_RING_LANES,
                                                     .policy = SABRE_RING_BLOCK,
                                                     .capacity = o->capacity,
                                                     .producers = A,
                                                     .layout = sabre_schema_root(schema),
                                                     .steps = T,
                                                     .envs = E,
                                                     .episodes = 1024},
                                &ring)) ||
        (rc = rld_fields(ring, f))) {
        rld_die("create ring", rc);
        goto out;
    }
    /* 2 pins per live actor (adopt validates) + the active slot + 1: a
     * publish never waits for an actor */
    if ((rc = sabre_weights_create(reg,
                                   &(sabre_weights_desc_t){.name = RLD_WEIGHTS,
                                                           .size = CP_NPARAM * sizeof(float),
                                                           .slots = 2 * A + 2,
                                                           .readers = 2 * A,
                                                           .flags = SABRE_WEIGHTS_F32},
                                   &w))) {
        rld_die("create weights", rc);
        goto out;
    }
    if (!L || rl_learner_init(L, &hp, A * E, o->seed)) {
        rld_die("learner", SABRE_ENOMEM);
        goto out;
    }
    uint64_t version = 0;
    if ((rc = sabre_weights_publish(w, L->pi, sizeof L->pi, NULL, 0, &version)) ||
        (rc = sabre_ring_consumer_open(ring, &cons))) {
        rld_die("publish", rc);
        goto out;
    }
    sabre_ring_consumer_set_version(cons, version);
    printf("sabre RL demo: CartPole-v1, %u actor processes x %u envs, chunks of %u steps x %u "
           "envs, ring of %u chunks per lane\n",
           A, E, T, E, o->capacity);
    printf("learner: PPO on whole episodes, policy 4-%d-2 tanh, value 4-%d-1, Adam lr %g, "
           "batch >= %u steps, %u epochs of %u; seed %" PRIu64 "\n",
           CP_HIDDEN, CP_HIDDEN, (double)hp.lr_pi, hp.batch_steps, hp.epochs, hp.minibatch,
           o->seed);
    uint64_t t0 = rld_now_ns();
    for (uint32_t a = 0; a < A; a++)
        if ((pids[a] = rld_spawn(name, o->seed * 1000 + a)) < 0) {
            rld_die("fork", SABRE_EIO);
            goto out;
        }

    /* consume, rebuild episodes, learn, publish */
    double ret100[100] = {0};
    double sum100 = 0;
    uint64_t steps = 0, episodes = 0, next_print = t0 + 500000000ull, solved_steps = 0;
    uint64_t solved_ns = 0, replaced = 0, last_eval_version = 0, generation = A;
    double eval = 0;
    bool solved = false, killed = false;
    pid_t killed_pid = 0, killed_by = 0;
    uint64_t kill_since = 0, last_chunk_ns = t0;
    uint32_t killed_lane = 0;
    while (!solved && steps < o->max_steps) {
        sabre_ring_batch_t batch;
        rc = sabre_ring_consume(cons, 64, 100000000ull, &batch);
        if (rc && rc != SABRE_ETIMEDOUT) {
            rld_die("consume", rc);
            goto out;
        }
        if (!rc)
            last_chunk_ns = rld_now_ns();
        else if (rld_now_ns() - last_chunk_ns > 30000000000ull) {
            fprintf(stderr, "sabre demo rl: no chunk from any actor for 30 s; giving up\n");
            goto out;
        }
        for (uint32_t i = 0; !rc && i < batch.count; i++) {
            const sabre_chunk_t *c = sabre_ring_batch_chunk(cons, &batch, i);
            const uint8_t *base = batch.data + (uint64_t)i * batch.stride;
            const float *obs = (const float *)(base + f[RF_OBS].offset);
            const float *rew = (const float *)(base + f[RF_REW].offset);
            const float *logp = (const float *)(base + f[RF_LOGP].offset);
            const uint32_t *tt = (const uint32_t *)(base + f[RF_T].offset);
            const uint8_t *act = base + f[RF_ACT].offset;
            const uint8_t *end = base + f[RF_END].offset;
            uint32_t n = c->valid_steps * E, len;
            float ret;
            for (uint32_t k = 0; k < n; k++)
                /* a full batch of whole episodes: learn and publish */
                if (rl_learner_step(L, batch.lane * E + k % E, &obs[k * CP_OBS], act[k], logp[k],
                                    rew[k], tt[k], end[k], &len, &ret) &&
                    rl_learner_ready(L)) {
                    rl_learner_update(L);
                    rc = sabre_weights_publish(w, L->pi, sizeof L->pi, NULL, 1000000000ull,
                                               &version);
                    if (rc) {
                        rld_die("publish", rc);
                        goto out;
                    }
                    sabre_ring_consumer_set_version(cons, version);
                }
            steps += n;
        }
        if (!rc)
            sabre_ring_release(cons, &batch);
        /* the episodes the actors finished (their statistics channel) */
        sabre_ring_episode_t eps[256];
        uint32_t neps = 0;
        do {
            if ((rc = sabre_ring_episodes(cons, eps, 256, &neps))) {
                rld_die("episodes", rc);
                goto out;
            }
            for (uint32_t k = 0; k < neps; k++, episodes++) {
                sum100 += eps[k].ret - ret100[episodes % 100];
                ret100[episodes % 100] = eps[k].ret;
            }
        } while (neps == 256);
        /* solved: mean-100 of training episodes, then a greedy evaluation
         * of the weights just published (once per version) */
        if (episodes >= 100 && sum100 / 100 >= RLD_SOLVED && version != last_eval_version) {
            last_eval_version = version;
            eval = cp_evaluate(L->pi, 100, o->seed ^ 0x5eed);
            if (eval >= RLD_SOLVED) {
                solved = true, solved_steps = steps, solved_ns = rld_now_ns() - t0;
            }
        }
        /* the fault: SIGKILL an actor mid-run and start a replacement */
        if (o->kill_at && !killed && steps >= o->kill_at) {
            /* kill it while it writes a chunk (it holds a claim), as soon
             * as it does in the next 250 ms, else between chunks */
            sabre_ring_producer_info_t pi = {0};
            if (!kill_since) {
                kill_since = rld_now_ns();
                for (uint32_t p = 0; p < A; p++)
                    if (!sabre_ring_producer_at(ring, p, &pi) && pi.pid == pids[0])
                        killed_lane = p;
            }
            for (uint64_t until = rld_now_ns() + 5000000ull; rld_now_ns() < until;)
                if (!sabre_ring_producer_at(ring, killed_lane, &pi) && pi.claim_count)
                    break;
            if (pi.claim_count || rld_now_ns() - kill_since > 250000000ull) {
                killed = true, killed_pid = pids[0];
                kill(killed_pid, SIGKILL);
                waitpid(killed_pid, NULL, 0);
                pids[0] = rld_spawn(name, o->seed * 1000 + generation++);
                killed_by = pids[0];
                printf("killed actor pid %d (lane %u, %s) at %" PRIu64
                       " env steps; replacement pid %d\n",
                       (int)killed_pid, killed_lane,
                       pi.claim_count ? "while writing a chunk" : "between chunks", steps,
                       (int)killed_by);
            }
        }
        /* an actor that died on its own is replaced as well */
        for (uint32_t a = 0; a < A; a++) {
            int st;
            if (pids[a] > 0 && waitpid(pids[a], &st, WNOHANG) == pids[a]) {
                fprintf(stderr, "actor pid %d ended (%s %d); starting a replacement\n",
                        (int)pids[a], WIFEXITED(st) ? "exit" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                pids[a] = -1;
                if (++replaced > 4 * (uint64_t)A) {
                    fprintf(stderr,
                            "sabre demo rl: actors keep ending (%" PRIu64 " so far); giving up\n",
                            replaced);
                    goto out;
                }
                pids[a] = rld_spawn(name, o->seed * 1000 + generation++);
            }
        }
        uint64_t now = rld_now_ns();
        if (!o->quiet && (now >= next_print || solved)) {
            double s = (double)(now - t0) / 1e9;
            sabre_ring_stats_t rs;
            sabre_ring_stats(ring, &rs);
            printf("steps %8" PRIu64 "  %6.2f s  %8.0f SPS  episodes %6" PRIu64
                   "  mean-100 %6.1f  lag p50/p99 %" PRIu64 "/%" PRIu64 "\n",
                   steps, s, (double)steps / s, episodes,
                   sum100 / (double)(episodes < 100 ? (episodes ? episodes : 1) : 100), rs.lag_p50,
                   rs.lag_p99);
            fflush(stdout);
            next_print = now + 500000000ull;
        }
    }
    double secs = (double)(rld_now_ns() - t0) / 1e9;
    sabre_ring_stats_t rs;
    sabre_ring_stats(ring, &rs);
    printf("\n");
    if (solved)
        printf("solved in %" PRIu64 " env steps and %.2f s (%" PRIu64 " episodes, %" PRIu64
               " updates, %.0f SPS)\n",
               solved_steps, (double)solved_ns / 1e9, episodes, L->updates,
               (double)solved_steps * 1e9 / (double)solved_ns);
    else
        printf("not solved within the budget: %" PRIu64 " env steps in %.2f s, mean-100 %.1f\n",
               steps, secs, episodes >= 100 ? sum100 / 100 : 0.0);
    if (last_eval_version)
        printf("greedy evaluation of the final weights: mean return %.1f over 100 episodes\n",
               eval);
    rld_lag_print(&rs);
    printf("ring: %" PRIu64 " chunks consumed, %" PRIu64 " abandoned, %" PRIu64 " dropped; %" PRIu64
           " weight versions published\n",
           rs.consumed, rs.abandoned, rs.dropped, version);
    if (killed) {
        printf("abandoned chunks: %" PRIu64 " (actor pid %d killed, lane %u taken over by pid "
               "%d)\n",
               rs.abandoned, (int)killed_pid, killed_lane, (int)killed_by);
        /* what the ring itself recorded about the death */
        sabre_ring_producer_info_t pi;
        if (!sabre_ring_producer_at(ring, killed_lane, &pi))
            printf("ring record of lane %u: %" PRIu64 " owner death(s), last dead pid %d, %" PRIu64
                   " chunk(s) abandoned; now pid %d; %" PRIu64 " producer death(s) in all\n",
                   killed_lane, pi.deaths, (int)pi.dead_pid, pi.abandoned, (int)pi.pid,
                   rs.producer_deaths);
    }
    if (replaced)
        printf("actors that ended on their own and were replaced: %" PRIu64 "\n", replaced);
    status = solved || !o->until_solved ? 0 : 1;
out:
    /* closing the consumer tells the actors to stop; they check between
     * claims (at most ~100 ms + a lane of chunks later) */
    fflush(stdout);
    sabre_ring_consumer_close(cons);
    cons = NULL;
    for (uint32_t a = 0; a < A; a++) {
        if (pids[a] <= 0)
            continue;
        int st = 0;
        pid_t r = 0;
        for (int k = 0; k < 300 && (r = waitpid(pids[a], &st, WNOHANG)) == 0; k++)
            usleep(10000);
        if (r == 0) {
            fprintf(stderr, "sabre demo rl: actor pid %d did not stop; killing it\n", (int)pids[a]);
            kill(pids[a], SIGKILL);
            waitpid(pids[a], &st, 0);
            status = 1;
        } else if (r == pids[a] && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
            fprintf(stderr, "sabre demo rl: actor pid %d ended with status %d\n", (int)pids[a], st);
            status = 1;
        }
    }
    if (L)
        rl_learner_free(L);
    free(L);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_schema_free(schema);
    sabre_region_close(reg);
    sabre_region_unlink(SABRE_BACKING_SHM, name);
    return status;
}

int sabre_tool_demo_rl(int argc, char **argv)
{
    rld_opts o = {.actors = 2, .envs = 8, .steps = 64, .capacity = 4, .seed = 1};
    const char *actor_region = NULL;
    bool budget = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            rld_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if (!strcmp(a, "--until-solved")) {
            o.until_solved = true;
        } else if (!strcmp(a, "--actor") && v) {
            actor_region = v, i++;
        } else if (!strcmp(a, "--actors") && rld_u64(v, 1, RLD_MAX_ACTORS, &x)) {
            o.actors = (uint32_t)x, i++;
        } else if (!strcmp(a, "--envs") && rld_u64(v, 1, 1024, &x)) {
            o.envs = (uint32_t)x, i++;
        } else if (!strcmp(a, "--T") && rld_u64(v, 1, 4096, &x)) {
            o.steps = (uint32_t)x, i++;
        } else if (!strcmp(a, "--capacity") && rld_u64(v, 1, 1024, &x) && !(x & (x - 1))) {
            o.capacity = (uint32_t)x, i++;
        } else if (!strcmp(a, "--seed") && rld_u64(v, 0, UINT64_MAX, &x)) {
            o.seed = x, i++;
        } else if (!strcmp(a, "--max-steps") && rld_u64(v, 1, UINT64_MAX, &x)) {
            o.max_steps = x, budget = true, i++;
        } else if (!strcmp(a, "--kill-actor-at") && rld_u64(v, 1, UINT64_MAX, &x)) {
            o.kill_at = x, i++;
        } else {
            fprintf(stderr, "sabre demo rl: bad option '%s'%s\n", a, v ? " (or its value)" : "");
            rld_usage(stderr);
            return 2;
        }
    }
    if (actor_region)
        return rld_actor(actor_region, o.seed);
    if ((uint64_t)o.envs * o.steps > 1u << 20) {
        fprintf(stderr, "sabre demo rl: chunks of %u x %u steps are too large (max 1048576)\n",
                o.steps, o.envs);
        return 2;
    }
    if (!budget)
        o.max_steps = o.until_solved ? 5000000 : 1000000;
    return rld_train(&o);
}
