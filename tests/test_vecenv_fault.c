// SABRE_TEST_LABELS: unit process
/*
 * test_vecenv_fault.c - a worker process killed (SIGKILL) at a random
 * point, over 100 trials, sync and async: the policy never hangs, the call
 * that finds the death returns SABRE_EPEER naming the worker, its pid, the
 * signal and its env ids; a new worker replaces it; each of its envs
 * delivers exactly one result flagged SABRE_VECENV_FAULT (a fresh episode:
 * step 0, truncated) before any normal one (results it published before
 * dying may still come in the batch that found the death); no other env
 * is flagged; every
 * other result carries the action sent to that env; the counters say one
 * fault and one respawn per kill.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sabre/vecenv.h"

#define T_OUT   10000000000ull
#define WORKERS 2u
#define E       4u
#define ENVS    (WORKERS * E)

struct null_obs {
    uint32_t step;
    int32_t action;
    uint32_t seed;
    uint32_t check;
};

struct trial {
    sabre_vecenv_t *ve;
    sabre_vecenv_arrays_t a;
    uint32_t step[ENVS], sends[ENVS];
    uint8_t out[ENVS], fault_pending[ENVS];
    uint32_t pending, faults_seen;
    uint64_t horizon;
    bool death_batch; /* the batch of the call that returned SABRE_EPEER */
};

static void send_value(struct trial *t, uint32_t g)
{
    ((int32_t *)t->a.actions)[g] = (int32_t)((g << 16) ^ (++t->sends[g] & 0xffffu));
    t->out[g] = 1;
}

static void delivered(struct trial *t, uint32_t g)
{
    CHECK(t->out[g]);
    t->out[g] = 0;
    const struct null_obs *o = (const struct null_obs *)t->a.obs + g;
    int32_t a = ((int32_t *)t->a.actions)[g];
    if (t->a.flags[g] & SABRE_VECENV_FAULT) {
        CHECK(t->fault_pending[g]); /* only the dead worker's envs, once each */
        t->fault_pending[g] = 0;
        t->pending--;
        t->faults_seen++;
        CHECK_EQ(t->a.flags[g], SABRE_VECENV_FAULT | SABRE_VECENV_RESET);
        CHECK_EQ(t->a.truncated[g], 1);
        CHECK_EQ(t->a.terminated[g], 0);
        CHECK(t->a.rewards[g] == 0.0f);
        CHECK_EQ(o->step, 0);
        CHECK_EQ(o->check, sabre_env_null_check(o->seed, 0, 0));
        t->step[g] = 0;
        return;
    }
    /* Never a step on a lost instance; the batch that found the death may
     * still hold results the worker published before it died. */
    CHECK(!t->fault_pending[g] || t->death_batch);
    CHECK(t->a.rewards[g] == (float)a);
    uint32_t want = t->step[g] + 1;
    if (want == t->horizon) {
        const struct null_obs *f = (const struct null_obs *)t->a.final_obs + g;
        CHECK_EQ(f->step, want);
        CHECK_EQ(f->action, a);
        CHECK_EQ(o->step, 0);
        t->step[g] = 0;
    } else {
        CHECK_EQ(o->step, want);
        CHECK_EQ(o->action, a); /* the action sent to this env, not another's */
        CHECK_EQ(o->check, sabre_env_null_check(o->seed, want, a));
        t->step[g] = want;
    }
}

/* The call that found the death: check its message, mark the envs. */
static void found_death(struct trial *t, uint32_t w, pid_t old)
{
    char want[96];
    snprintf(want, sizeof want, "worker %u (pid %d) was killed by signal 9", w, (int)old);
    CHECK_STR_CONTAINS(sabre_last_error(), want);
    snprintf(want, sizeof want, "its envs %u..%u were reset", w * E, w * E + E - 1);
    CHECK_STR_CONTAINS(sabre_last_error(), want);
}

struct killer {
    pid_t pid;
    unsigned delay_us;
    _Atomic int done;
};

static void *kill_later(void *p)
{
    struct killer *k = p;
    if (k->delay_us)
        nanosleep(&(struct timespec){0, (long)k->delay_us * 1000}, NULL);
    kill(k->pid, SIGKILL);
    atomic_store(&k->done, 1);
    return NULL;
}

static void trial(uint64_t *rng, int n, bool async)
{
    sabre_env_null_config_t cfg = {.horizon = 3 + (uint32_t)(check_xorshift(rng) % 6),
                                   .cost_max_ns = (uint32_t)(check_xorshift(rng) % 20000)};
    struct trial t = {.horizon = cfg.horizon};
    CHECK_OK(sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_null(),
                                                        .env_config = &cfg,
                                                        .workers = WORKERS,
                                                        .envs_per_worker = E,
                                                        .backend = SABRE_VECENV_PROCESSES,
                                                        .spin_ns = 5000},
                                 &t.ve));
    sabre_vecenv_arrays(t.ve, &t.a);
    CHECK_OK(sabre_vecenv_reset(t.ve, (uint64_t)n, T_OUT));
    uint32_t victim = (uint32_t)(check_xorshift(rng) % WORKERS);
    pid_t old = sabre_vecenv_worker_pid(t.ve, victim);
    CHECK(old > 0);
    unsigned before = (unsigned)(check_xorshift(rng) % 12);
    struct killer k = {.pid = old, .delay_us = (unsigned)(check_xorshift(rng) % 300)};
    pthread_t th;
    bool killed = false, found = false;
    uint32_t ids[ENVS], got = 0;
    if (async) {
        for (uint32_t g = 0; g < ENVS; g++) {
            send_value(&t, g);
            ids[g] = g;
        }
        CHECK_OK(sabre_vecenv_send(t.ve, ids, ENVS));
    }
    /* Step until the death was found and every fault result arrived. */
    for (unsigned round = 0; round < 5000 && (!found || t.pending); round++) {
        if (round == before) {
            /* Detached: a replacement forked while it runs must not inherit
             * an unjoined thread (TSan reports those at the child's exit). */
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            CHECK(pthread_create(&th, &at, kill_later, &k) == 0);
            pthread_attr_destroy(&at);
            killed = true;
        }
        int rc;
        if (async) {
            rc = sabre_vecenv_recv(t.ve, ENVS / 2, ids, &got, T_OUT);
            CHECK(rc == SABRE_OK || (rc == SABRE_EPEER && !found));
            CHECK_EQ(got, ENVS / 2);
        } else {
            for (uint32_t g = 0; g < ENVS; g++)
                send_value(&t, g);
            rc = sabre_vecenv_step(t.ve, T_OUT);
            CHECK(rc == SABRE_OK || (rc == SABRE_EPEER && !found));
            got = ENVS;
            for (uint32_t g = 0; g < ENVS; g++)
                ids[g] = g;
        }
        if (rc == SABRE_EPEER) {
            CHECK(killed);
            found_death(&t, victim, old);
            found = true;
            /* Every env of the dead worker owes one fault result. */
            for (uint32_t g = victim * E; g < victim * E + E; g++)
                t.fault_pending[g] = 1;
            t.pending = E;
        }
        t.death_batch = rc == SABRE_EPEER;
        for (uint32_t i = 0; i < got; i++)
            delivered(&t, ids[i]);
        t.death_batch = false;
        if (async) {
            for (uint32_t i = 0; i < got; i++)
                send_value(&t, ids[i]);
            CHECK_OK(sabre_vecenv_send(t.ve, ids, got));
        }
        if (killed && !found)
            nanosleep(&(struct timespec){0, 100000}, NULL); /* let the death happen */
    }
    CHECK(killed && found);
    CHECK_EQ(t.pending, 0);
    CHECK_EQ(t.faults_seen, E);
    while (!atomic_load(&k.done))
        nanosleep(&(struct timespec){0, 100000}, NULL);
    pid_t now = sabre_vecenv_worker_pid(t.ve, victim);
    CHECK(now > 0 && now != old);
    CHECK(kill(now, 0) == 0);
    sabre_vecenv_stats_t st;
    CHECK_OK(sabre_vecenv_stats(t.ve, &st));
    CHECK_EQ(st.faults, 1);
    CHECK_EQ(st.respawns, 1);
    sabre_vecenv_close(t.ve);
}

static void test_vecenv_killed_worker_is_replaced_and_reported(void)
{
    uint64_t rng = 0x5eed;
    int trials = (int)check_scale(100);
    for (int n = 0; n < trials; n++)
        trial(&rng, n, n % 2 == 1);
    printf("%d kills (sync and async), each reported, replaced, %u envs flagged once\n", trials, E);
}

int main(void)
{
    test_vecenv_killed_worker_is_replaced_and_reported();
    return check_done();
}
