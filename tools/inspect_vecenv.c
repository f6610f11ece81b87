/*
 * inspect_vecenv.c - `sabre inspect` hook for SABRE_OBJ_VECENV objects: the
 * env class, backend, workers x envs, seed and counters, the observation and
 * action schemas, and per worker its pid and liveness, generation, steps,
 * envs in flight and ready, sleeping, heartbeat age and any failure.
 * sabre_vecenv_inspect validates the object (every offset against the
 * object size) and only reads; nothing here blocks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "inspect_kinds.h"
#include "sabre/vecenv.h"

static void json_bool(FILE *out, const char *key, bool v, bool comma)
{
    fprintf(out, "%s\"%s\": %s", comma ? ", " : "", key, v ? "true" : "false");
}

int sabre_tool_describe_vecenv(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                               bool json)
{
    sabre_vecenv_info_t in;
    int rc = sabre_vecenv_inspect(r, o, &in);
    if (rc != SABRE_OK)
        return rc;
    const char *backend = in.backend == SABRE_VECENV_PROCESSES ? "processes" : "threads";
    if (json) {
        fprintf(out, "{\"env\": ");
        sabre__json_str(out, in.env, sizeof in.env);
        fprintf(out,
                ", \"backend\": \"%s\", \"workers\": %u, \"envs_per_worker\": %u, \"envs\": %u, "
                "\"obs_size\": %u, \"action_size\": %u, \"spin_ns\": %llu, \"seed\": %llu, "
                "\"policy_pid\": %d",
                backend, in.workers, in.envs_per_worker, in.envs, in.obs_size, in.action_size,
                (unsigned long long)in.spin_ns, (unsigned long long)in.seed, (int)in.policy_pid);
        json_bool(out, "policy_alive", in.policy_alive, true);
        json_bool(out, "policy_sleeping", in.policy_sleeping, true);
        fprintf(out,
                ", \"steps\": %llu, \"batches\": %llu, \"episodes\": %llu, \"faults\": %llu, "
                "\"respawns\": %llu, \"policy_steps\": %llu, \"obs_schema\": ",
                (unsigned long long)in.steps, (unsigned long long)in.batches,
                (unsigned long long)in.episodes, (unsigned long long)in.faults,
                (unsigned long long)in.respawns, (unsigned long long)in.policy_steps);
        sabre__json_str(out, in.obs_schema, strlen(in.obs_schema));
        fprintf(out, ", \"action_schema\": ");
        sabre__json_str(out, in.action_schema, strlen(in.action_schema));
        fprintf(out, ", \"worker_state\": [");
    } else {
        fprintf(out,
                "    vecenv: env '%s', %s, %u workers x %u envs = %u, obs %u B, action %u B, "
                "spin %llu ns\n",
                in.env, backend, in.workers, in.envs_per_worker, in.envs, in.obs_size,
                in.action_size, (unsigned long long)in.spin_ns);
        fprintf(out,
                "    policy pid %d (%s%s), seed %llu: %llu env steps in %llu batches, %llu "
                "episodes, %llu faults, %llu respawns; %llu steps run by the policy thread\n",
                (int)in.policy_pid, in.policy_alive ? "alive" : "dead",
                in.policy_sleeping ? ", sleeping" : "", (unsigned long long)in.seed,
                (unsigned long long)in.steps, (unsigned long long)in.batches,
                (unsigned long long)in.episodes, (unsigned long long)in.faults,
                (unsigned long long)in.respawns, (unsigned long long)in.policy_steps);
        fprintf(out, "    obs: %s\n    action: %s\n", in.obs_schema, in.action_schema);
    }
    for (uint32_t w = 0; w < in.workers; w++) {
        sabre_vecenv_worker_info_t wi;
        if ((rc = sabre_vecenv_inspect_worker(r, o, w, &wi)) != SABRE_OK)
            return rc;
        if (json) {
            fprintf(out, "%s{\"worker\": %u, \"pid\": %d", w ? ", " : "", w, (int)wi.pid);
            json_bool(out, "alive", wi.alive, true);
            fprintf(out, ", \"generation\": %u, \"steps\": %llu, \"in_flight\": %u, \"ready\": %u",
                    wi.generation, (unsigned long long)wi.steps, wi.in_flight, wi.ready);
            json_bool(out, "sleeping", wi.sleeping, true);
            fprintf(out, ", \"heartbeat_age_ns\": ");
            if (wi.heartbeat_age_ns == UINT64_MAX)
                fprintf(out, "null");
            else
                fprintf(out, "%llu", (unsigned long long)wi.heartbeat_age_ns);
            fprintf(out, ", \"status\": %d, \"message\": ", (int)wi.status);
            sabre__json_str(out, wi.message, sizeof wi.message);
            fprintf(out, "}");
        } else {
            fprintf(out,
                    "    worker %u: pid %d (%s), generation %u, %llu steps, %u envs in flight "
                    "(%u ready), %s, heartbeat ",
                    w, (int)wi.pid, wi.alive ? "alive" : "dead", wi.generation,
                    (unsigned long long)wi.steps, wi.in_flight, wi.ready,
                    wi.sleeping ? "sleeping" : "awake");
            if (wi.heartbeat_age_ns == UINT64_MAX)
                fprintf(out, "never");
            else if (wi.heartbeat_age_ns < 1000000ull)
                fprintf(out, "%llu us ago", (unsigned long long)(wi.heartbeat_age_ns / 1000));
            else
                fprintf(out, "%.3f s ago", (double)wi.heartbeat_age_ns / 1e9);
            if (wi.status)
                fprintf(out, ", failed: %s (%s)", sabre_status_name(wi.status), wi.message);
            fprintf(out, "\n");
        }
    }
    if (json)
        fprintf(out, "]}");
    return SABRE_OK;
}
