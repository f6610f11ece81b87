/*
 * inspect_mailbox.c - `sabre inspect` hook for SABRE_OBJ_MAILBOX objects:
 * the header and, per worker, sequence numbers, ticks, status, the worker's
 * pid and liveness, heartbeat age, waiter flags and wake counts.
 * The object is validated by sabre_mailbox_open_object (sizes against the
 * object) and only read; nothing here blocks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/internal.h"
#include "inspect_kinds.h"
#include "sabre/mailbox.h"

static void print_age(FILE *out, uint64_t ns)
{
    if (ns == UINT64_MAX)
        fprintf(out, "never");
    else if (ns < 1000000ull)
        fprintf(out, "%llu us", (unsigned long long)(ns / 1000));
    else
        fprintf(out, "%.3f s", (double)ns / 1e9);
}

int sabre_tool_describe_mailbox(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                bool json)
{
    sabre_mailbox_t *mb;
    int rc = sabre_mailbox_open_object(r, o, &mb);
    if (rc != SABRE_OK)
        return rc;
    uint32_t n = sabre_mailbox_workers(mb);
    int32_t main_pid = 0;
    uint64_t main_start = 0;
    sabre_mailbox_main_pid(mb, &main_pid, &main_start);
    if (json) {
        fprintf(out,
                "{\"version\": %d, \"workers\": %u, \"spin_ns\": %llu, \"stall_ns\": %llu, "
                "\"main_pid\": %d, \"main_start_time\": %llu, \"slots\": [",
                SABRE_MAILBOX_VERSION, n, (unsigned long long)sabre_mailbox_spin_ns(mb),
                (unsigned long long)sabre_mailbox_stall_ns(mb), (int)main_pid,
                (unsigned long long)main_start);
    } else {
        fprintf(out, "    mailbox v%d: %u workers, spin %s, stall limit ", SABRE_MAILBOX_VERSION, n,
                sabre__fmt_ns(sabre_mailbox_spin_ns(mb)).s);
        if (sabre_mailbox_stall_ns(mb))
            fprintf(out, "%llu ms", (unsigned long long)(sabre_mailbox_stall_ns(mb) / 1000000));
        else
            fprintf(out, "none");
        fprintf(out, ", main pid %d\n", (int)main_pid);
    }
    for (uint32_t w = 0; w < n; w++) {
        sabre_mailbox_info_t in;
        rc = sabre_mailbox_info(mb, w, &in);
        if (rc != SABRE_OK)
            break;
        if (json) {
            fprintf(out,
                    "%s{\"worker\": %u, \"req_seq\": %u, \"ack_seq\": %u, \"outstanding\": %s, "
                    "\"stop_requested\": %s, \"ticks_requested\": %llu, \"ticks_done\": %llu, "
                    "\"status\": %d, \"worker_pid\": %d, \"worker_start_time\": %llu, "
                    "\"worker_alive\": %s, \"heartbeat_age_ns\": ",
                    w ? ", " : "", w, in.req_seq, in.ack_seq, in.outstanding ? "true" : "false",
                    in.stop_requested ? "true" : "false", (unsigned long long)in.ticks_requested,
                    (unsigned long long)in.ticks_done, (int)in.status, (int)in.worker_pid,
                    (unsigned long long)in.worker_start_time, in.worker_alive ? "true" : "false");
            if (in.heartbeat_age_ns == UINT64_MAX)
                fprintf(out, "null");
            else
                fprintf(out, "%llu", (unsigned long long)in.heartbeat_age_ns);
            fprintf(out,
                    ", \"main_waiting\": %s, \"worker_waiting\": %s, \"main_wakes\": %llu, "
                    "\"worker_wakes\": %llu}",
                    in.main_waiting ? "true" : "false", in.worker_waiting ? "true" : "false",
                    (unsigned long long)in.main_wakes, (unsigned long long)in.worker_wakes);
        } else {
            fprintf(out,
                    "    worker %u: request %u, ack %u (%s), ticks asked %llu, done %llu, "
                    "status %d (%s)\n",
                    w, in.req_seq, in.ack_seq,
                    in.stop_requested && in.outstanding ? "stop pending"
                    : in.outstanding                    ? "running"
                                                        : "idle",
                    (unsigned long long)in.ticks_requested, (unsigned long long)in.ticks_done,
                    (int)in.status, in.status ? sabre_status_name(in.status) : "ok");
            fprintf(out, "    worker %u: pid %d (%s), heartbeat ", w, (int)in.worker_pid,
                    in.worker_pid == 0 ? "never attached"
                    : in.worker_alive  ? "alive"
                                       : "dead");
            print_age(out, in.heartbeat_age_ns);
            if (in.heartbeat_age_ns != UINT64_MAX)
                fprintf(out, " ago");
            fprintf(out, ", sleeping: main %s worker %s, futex wakes: main %llu worker %llu\n",
                    in.main_waiting ? "yes" : "no", in.worker_waiting ? "yes" : "no",
                    (unsigned long long)in.main_wakes, (unsigned long long)in.worker_wakes);
        }
    }
    if (json && rc == SABRE_OK)
        fprintf(out, "]}");
    sabre_mailbox_close(mb);
    return rc;
}
