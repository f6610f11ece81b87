/*
 * sabre/vecenv.h - vectorised environments with central batched inference:
 * N workers (threads, or worker processes sharing a region) each step E
 * environments; one policy thread reads every observation in place and
 * writes every action in place (a region object of kind SABRE_OBJ_VECENV).
 *
 *   sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
 *                       .workers = 2, .envs_per_worker = 8}, &ve);
 *   sabre_vecenv_arrays(ve, &a);            // obs, actions, rewards, ... (SoA)
 *   sabre_vecenv_reset(ve, seed, timeout);  // every env reset, a.obs filled
 *   for (;;) {                               // sync: all N x E envs per step
 *       policy(a.obs, a.actions);
 *       sabre_vecenv_step(ve, timeout);
 *   }
 *   // async (EnvPool-style): after the reset, send every env once, then
 *   sabre_vecenv_recv(ve, B, ids, &n, timeout);  // the first B ready envs
 *   policy_rows(a.obs, ids, n, a.actions);       // rows ids[0..n) only
 *   sabre_vecenv_send(ve, ids, n);               // exactly those envs
 *
 * Environments.  An environment class (sabre_env_class_t) is five C
 * functions - create, reset(seed), step(action) -> observation, reward,
 * terminated, truncated, free - and two schemas (docs/schema.md): one
 * observation and one action are the root structs of `obs_schema` and
 * `action_schema`.  Built in: CartPole (gymnasium CartPole-v1 semantics,
 * truncated at 500 steps) and a near-free "null" env (for overhead figures
 * and tests).  Env instances live in the worker that steps them.
 *
 * Arrays.  Observations, final observations, actions, rewards, terminated,
 * truncated, flags, episode returns and lengths are one array each, indexed
 * by env id (0 .. N*E-1; worker w owns ids [w*E, (w+1)*E)).  Workers write
 * an env's row in place, the policy reads it in place; the policy writes
 * actions in place and the worker reads them in place.  Nothing is copied.
 *
 * Auto-reset (gymnasium's SAME_STEP mode).  When a step ends an episode
 * (terminated or truncated), its last observation goes to final_obs, the
 * episode's return and length to episode_return / episode_length, and the
 * env is reset in the same call: obs holds the next episode's first
 * observation and flags has SABRE_VECENV_RESET.  Env i's episode k is
 * seeded with sabre_vecenv_seed(seed, i, k) (seed of the last
 * sabre_vecenv_reset), so a trajectory depends on its env id and its
 * actions only: sync runs with the same seed and actions are identical for
 * threads and processes and for any worker count.
 *
 * Faults.  A worker process that dies is found by the policy's next wait:
 * it is reaped and replaced by a fresh process, every env of that worker
 * gets a fresh instance, and each of them is delivered once with flags
 * SABRE_VECENV_FAULT (truncated 1, reward 0): envs that were stepping at
 * once, envs the policy held when their action is next sent (that action is
 * dropped, never applied to another env).  The call that found the death
 * completes its batch and returns SABRE_EPEER naming the worker, its pid,
 * how it died and its env ids.  A worker that hangs without dying is not
 * detected (its heartbeat shows in `sabre inspect`): bound every wait with
 * timeout_ns.  Worker threads cannot die alone.
 *
 * Ownership: the vecenv owns its workers, their env instances and (when
 * desc.region is NULL) its region; sabre_vecenv_close stops and reaps
 * them.  The arrays and layouts it hands out borrow the vecenv and are
 * valid until close.  With desc.region the region must outlive the vecenv
 * and the object stays in it after close (for `sabre inspect`).  Env config
 * bytes are read by the workers: processes get their fork-time copy.
 *
 * Thread-safety: one policy thread at a time per vecenv: reset, step, send,
 * recv and close must not run concurrently on the same vecenv.  The policy
 * may read obs/final_obs/rewards/terminated/truncated/flags/episode_* rows
 * of an env and write its action row only while it holds the env (after
 * reset, step or recv returned it, until it is sent again).
 * sabre_vecenv_stats, sabre_vecenv_worker_pid and the inspect functions may
 * be called from any thread.
 *
 * Blocking: reset, step and recv wait for workers: spinning for desc.spin_ns
 * and then sleeping on a futex (no core is used while nobody steps), at
 * most timeout_ns (UINT64_MAX = no limit).  recv with timeout 0 takes what
 * is ready and returns SABRE_EAGAIN if nothing is.  send never blocks.
 * Workers likewise spin for spin_ns (less once requests usually come much
 * later) and then sleep until actions come.  With the threads backend the
 * policy thread steps envs too (docs/vecenv.md, "The handoff"): worker 0's
 * share of every sync step and reset, the share of a sleeping worker whose
 * envs cost less than waking it, and any request no worker has claimed
 * when the policy would otherwise wait; desc.envs_thread_bound turns this
 * off.  Counted in sabre_vecenv_stats_t.policy_steps.
 *
 * Errors: every function returns a status (status.h) with a message of the
 * shape "vecenv '<name>': <what> is X, want Y".  Bad input - env ids out of
 * range or not held by the policy, an action the env's check refuses, NaN
 * or infinite floats in actions of an env that forbids them, a policy-side
 * schema that differs from the env's - fails the call before anything is
 * sent (SABRE_EINVAL, SABRE_ESTATE, SABRE_ERANGE, SABRE_ELAYOUT).  An env
 * function that fails makes the call return SABRE_EJOB with the env's
 * message; the vecenv is then failed and later calls return SABRE_ESTATE.
 */
#ifndef SABRE_VECENV_H
#define SABRE_VECENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/layout.h"
#include "sabre/region.h"
#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SABRE_VECENV_MAGIC       0x5643455652424153ull /* "SABRVECV" little-endian */
#define SABRE_VECENV_VERSION     1
#define SABRE_VECENV_MAX_WORKERS 256
#define SABRE_VECENV_MAX_ENVS    (1u << 20) /* N x E */
#define SABRE_VECENV_NAME_MAX    32         /* env class names: 1..31 bytes */

/* flags[] bits of a delivered env. */
#define SABRE_VECENV_RESET 0x1u /* obs is the first observation of an episode */
#define SABRE_VECENV_FAULT 0x2u /* the env was reset because its worker process died */

/* ---- environment classes ------------------------------------------------ */

typedef struct sabre_env_class {
    const char *name;          /* 1..31 bytes, for messages and inspect */
    const char *obs_schema;    /* root struct: one observation */
    const char *action_schema; /* root struct: one action */
    bool finite_actions;       /* refuse NaN/Inf in the action's f32/f64 fields */
    /* Create one instance from the config given to the vecenv (may be NULL). */
    int (*create)(const void *config, void **env);
    /* Start an episode from `seed`; write the first observation to obs. */
    int (*reset)(void *env, uint64_t seed, void *obs);
    /* Apply one action; write the observation, reward and end flags. */
    int (*step)(void *env, const void *action, void *obs, float *reward, bool *terminated,
                bool *truncated);
    void (*free)(void *env);
    /* Optional, run by the policy at send: 0, or a status with a message in
     * msg (e.g. "push is 7, want 0 or 1"). */
    int (*check_action)(const void *config, const void *action, char *msg, size_t cap);
    /* Optional, gymnasium's Discrete(n): > 0 when an action is one i32 in
     * [0, discrete_actions).  The policy checks the range itself in one pass
     * over the action rows (a call per env costs more than a CartPole step
     * saves); check_action, if any, then runs only to word a refusal. */
    uint32_t discrete_actions;
} sabre_env_class_t;

/* CartPole (gymnasium CartPole-v1): obs struct CartPoleObs { x: f32;
 * x_dot: f32; theta: f32; theta_dot: f32; }, action struct CartPoleAction {
 * push: i32; } (0 left, 1 right; anything else is refused at send:
 * discrete_actions 2), reward
 * 1 per step, terminated when |x| > 2.4 or |theta| > 12 degrees, truncated
 * at 500 steps.  Config: none (NULL). */
const sabre_env_class_t *sabre_env_cartpole(void);

/* The null env: obs struct NullObs { step: u32; action: i32; seed: u32;
 * check: u32; } counts the episode's steps, echoes the action it got, the
 * low 32 bits of the episode's seed and a checksum of (seed, step, action);
 * action struct NullAction { value: i32; }; reward = value; the
 * episode is truncated after `horizon` steps.  A step costs a few ns, or,
 * with cost_max_ns set, a busy wait drawn uniformly from [cost_min_ns,
 * cost_max_ns] by the env's own generator. */
typedef struct sabre_env_null_config {
    uint32_t horizon; /* 0 = 1000 */
    uint32_t cost_min_ns, cost_max_ns;
} sabre_env_null_config_t;
const sabre_env_class_t *sabre_env_null(void);

/* The null env's check word for (seed, step, action): what the test and
 * benchmark policies verify. */
uint32_t sabre_env_null_check(uint32_t seed, uint32_t step, int32_t action);

/* Seed of env `env`'s episode `episode` after sabre_vecenv_reset(seed). */
uint64_t sabre_vecenv_seed(uint64_t seed, uint32_t env, uint32_t episode);

/* ---- the vector env ----------------------------------------------------- */

typedef enum sabre_vecenv_backend {
    SABRE_VECENV_THREADS = 0,  /* worker threads of this process */
    SABRE_VECENV_PROCESSES = 1 /* forked worker processes on a shared region */
} sabre_vecenv_backend_t;

typedef struct sabre_vecenv sabre_vecenv_t;

typedef struct sabre_vecenv_desc {
    const sabre_env_class_t *env;
    const void *env_config; /* passed to env->create; may be NULL */
    uint32_t workers;       /* 1..SABRE_VECENV_MAX_WORKERS */
    uint32_t envs_per_worker;
    sabre_vecenv_backend_t backend;
    /* Optional: the region holding the object (PROCESSES needs a MEMFD, SHM
     * or FILE backing).  NULL: a region of its own (MEMFD for processes). */
    sabre_region_t *region;
    const char *name; /* object name, 1..47 bytes; NULL = "vecenv" */
    uint64_t spin_ns; /* spin before sleeping: 0 = 50 us, UINT64_MAX = never sleep */
    /* Optional: the schemas the policy was written for; a layout that
     * differs from the env's is refused (SABRE_ELAYOUT, both texts shown). */
    const char *obs_schema;
    const char *action_schema;
    /* Threads backend: env instances stay on their worker thread (envs with
     * thread-bound state, e.g. a GL context).  By default the policy thread
     * steps worker 0's share of a sync step itself and any requests that a
     * worker has not claimed yet when the policy would otherwise wait
     * (docs/vecenv.md, "Handoff"); with this set it never steps an env. */
    bool envs_thread_bound;
} sabre_vecenv_desc_t;

/*
 * Create the object, start the workers (threads or forked processes).  The
 * envs are not reset yet: call sabre_vecenv_reset before anything else.
 * Errors: SABRE_EINVAL (counts, class functions missing, a PRIVATE region
 * for processes), SABRE_ESCHEMA (a schema does not compile), SABRE_ELAYOUT,
 * SABRE_ENOSPC / SABRE_EEXIST (region), SABRE_EIO (thread or fork),
 * SABRE_ENOMEM.
 */
int sabre_vecenv_create(const sabre_vecenv_desc_t *desc, sabre_vecenv_t **out);

/* Stop the workers (processes that do not exit within 1 s are killed),
 * free the env instances; NULL is ignored. */
void sabre_vecenv_close(sabre_vecenv_t *ve);

/*
 * Reset every env: env i's episode 0 starts from sabre_vecenv_seed(seed, i,
 * 0).  Needs every env held by the policy (none sent and not received).
 * Returns when every env has its first observation; flags are
 * SABRE_VECENV_RESET.  Errors: SABRE_ESTATE (envs in flight, or the vecenv
 * failed), SABRE_ETIMEDOUT, SABRE_EPEER (completed, but a worker died: see
 * the file comment), SABRE_EJOB.
 */
int sabre_vecenv_reset(sabre_vecenv_t *ve, uint64_t seed, uint64_t timeout_ns);

/*
 * Sync step: every env steps with its action row; returns when all N x E
 * have their result.  Needs every env held by the policy.  Errors as for
 * reset, plus the bad-input errors of send.  After SABRE_ETIMEDOUT the envs
 * still stepping are collected with sabre_vecenv_recv.
 */
int sabre_vecenv_step(sabre_vecenv_t *ve, uint64_t timeout_ns);

/*
 * Async: step envs ids[0..n) with their action rows.  Each id must be held
 * by the policy and appear once.  Validates everything first: on error
 * nothing is sent.  Never blocks.  Errors: SABRE_EINVAL (id out of range,
 * duplicate, n 0), SABRE_ESTATE (id not held: already sent, or never
 * reset), SABRE_ERANGE (NaN/Inf action field), the env's check_action
 * status (normally SABRE_EINVAL).
 */
int sabre_vecenv_send(sabre_vecenv_t *ve, const uint32_t *ids, uint32_t n);

/*
 * Async: wait until `batch` envs have results and store their ids in
 * ids[0..batch) in the order they were taken; *n = the count.  Envs are
 * taken as their workers publish them (round robin over workers), so these
 * are the first `batch` ready.  On timeout the envs already taken are
 * returned (*n < batch, SABRE_OK); with none, SABRE_ETIMEDOUT (timeout 0:
 * SABRE_EAGAIN).  Errors: SABRE_EINVAL (batch 0 or above the envs in
 * flight), SABRE_EPEER (batch complete, a worker died), SABRE_EJOB,
 * SABRE_ESTATE.
 */
int sabre_vecenv_recv(sabre_vecenv_t *ve, uint32_t batch, uint32_t *ids, uint32_t *n,
                      uint64_t timeout_ns);

/* The shared arrays, indexed by env id (valid until close). */
typedef struct sabre_vecenv_arrays {
    uint32_t envs;            /* N x E */
    uint32_t obs_size;        /* bytes of one observation (obs layout size) */
    uint32_t action_size;     /* bytes of one action */
    void *obs;                /* [envs][obs_size] */
    void *final_obs;          /* [envs][obs_size]: last obs of the episode that ended */
    void *actions;            /* [envs][action_size] */
    float *rewards;           /* [envs] */
    uint8_t *terminated;      /* [envs] 0/1 */
    uint8_t *truncated;       /* [envs] 0/1 */
    uint8_t *flags;           /* [envs] SABRE_VECENV_RESET | SABRE_VECENV_FAULT */
    float *episode_return;    /* [envs] of the episode that ended (when done) */
    uint32_t *episode_length; /* [envs] */
} sabre_vecenv_arrays_t;

int sabre_vecenv_arrays(const sabre_vecenv_t *ve, sabre_vecenv_arrays_t *out);

/* Compiled observation and action layouts (borrowed from the vecenv). */
const sabre_layout_t *sabre_vecenv_obs_layout(const sabre_vecenv_t *ve);
const sabre_layout_t *sabre_vecenv_action_layout(const sabre_vecenv_t *ve);

uint32_t sabre_vecenv_envs(const sabre_vecenv_t *ve);
uint32_t sabre_vecenv_workers(const sabre_vecenv_t *ve);
/* The region holding the object, and the object itself. */
sabre_region_t *sabre_vecenv_region(const sabre_vecenv_t *ve);
const char *sabre_vecenv_name(const sabre_vecenv_t *ve);
/* Pid of worker process w (0 for threads or out of range). */
int sabre_vecenv_worker_pid(const sabre_vecenv_t *ve, uint32_t w);

typedef struct sabre_vecenv_stats {
    uint64_t steps;         /* env results delivered to the policy (resets included) */
    uint64_t batches;       /* reset/step/recv calls that delivered results */
    uint64_t episodes;      /* episodes ended (terminated or truncated) */
    uint64_t faults;        /* worker processes found dead */
    uint64_t respawns;      /* replacement workers started */
    uint64_t policy_wakes;  /* FUTEX_WAKE calls made by the policy */
    uint64_t worker_wakes;  /* FUTEX_WAKE calls made by the workers */
    uint64_t policy_sleeps; /* times the policy slept on its futex */
    uint64_t policy_steps;  /* env results the policy thread stepped itself (of steps) */
} sabre_vecenv_stats_t;

int sabre_vecenv_stats(const sabre_vecenv_t *ve, sabre_vecenv_stats_t *out);

/* ---- inspection (read-only: any process, any mapping) ------------------- */

typedef struct sabre_vecenv_info {
    char env[SABRE_VECENV_NAME_MAX]; /* env class name */
    sabre_vecenv_backend_t backend;
    uint32_t workers, envs_per_worker, envs;
    uint32_t obs_size, action_size;
    uint64_t spin_ns;
    uint64_t seed; /* of the last reset */
    int32_t policy_pid;
    bool policy_alive;
    bool policy_sleeping;
    uint64_t steps, batches, episodes, faults, respawns;
    uint64_t policy_steps;  /* of steps: stepped by the policy thread itself */
    const char *obs_schema; /* canonical texts, in the mapping */
    const char *action_schema;
} sabre_vecenv_info_t;

typedef struct sabre_vecenv_worker_info {
    int32_t pid; /* process (threads: the policy's pid) */
    bool alive;
    uint32_t generation;       /* 0 = first worker, +1 per replacement */
    uint64_t steps;            /* env results this worker published */
    uint32_t in_flight;        /* envs sent to it and not yet received */
    uint32_t ready;            /* of which published, waiting for recv */
    bool sleeping;             /* asleep on its futex now */
    uint64_t heartbeat_age_ns; /* UINT64_MAX if it never ran */
    int32_t status;            /* an env function's failure, else 0 */
    char message[128];         /* its message */
} sabre_vecenv_worker_info_t;

/* Validate a vecenv object (kind, magic, version, every offset and size
 * against the object) and describe it / one of its workers.  Works on a
 * read-only mapping; never blocks.  SABRE_ECORRUPT names a bad field,
 * SABRE_EBUSY while the creator is still writing it. */
int sabre_vecenv_inspect(const sabre_region_t *region, const sabre_object_t *object,
                         sabre_vecenv_info_t *out);
int sabre_vecenv_inspect_worker(const sabre_region_t *region, const sabre_object_t *object,
                                uint32_t worker, sabre_vecenv_worker_info_t *out);

#ifdef __cplusplus
}
#endif
#endif
