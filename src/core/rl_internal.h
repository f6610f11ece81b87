/*
 * rl_internal.h - helpers shared by weights.c and ring.c (not public API).
 *
 * Process identity: a 64-bit word (low 32 bits: pid; high 32 bits: low 32
 * bits of the process start time in clock ticks since boot).  Stored in
 * shared memory by whoever owns a record, so any other process can tell
 * whether the owner still runs, even across pid reuse.
 */
#ifndef SABRE_RL_INTERNAL_H
#define SABRE_RL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "core/internal.h"

static inline uint64_t rl_self_identity(void)
{
    pid_t pid = sabre__self_pid();
    uint64_t st = sabre__self_start();
    return ((uint64_t)(uint32_t)st << 32) | (uint32_t)pid;
}

static inline pid_t rl_identity_pid(uint64_t id)
{
    return (pid_t)(uint32_t)id;
}

/* True if the process named by `id` still runs (and is not a zombie). */
static inline bool rl_identity_alive(uint64_t id)
{
    if (id == 0)
        return false;
    pid_t pid = rl_identity_pid(id);
    uint32_t lo = (uint32_t)(id >> 32);
    uint64_t st = sabre__proc_start_time(pid);
    if (st == 0 || lo == 0)
        return sabre__pid_alive(pid, 0);
    return (uint32_t)st == lo && sabre__pid_alive(pid, st);
}

/*
 * Wake-up protocol ("publish, then look for sleepers"): a waiter announces
 * itself with a seq_cst RMW on a flag word and then re-checks its condition
 * with seq_cst loads; a waker publishes its data and then reads the flag
 * after a seq_cst fence.  One of the two always sees the other (docs/rl.md).
 * ThreadSanitizer does not model fences, so under TSan the read is a seq_cst
 * RMW instead, which orders the same way.
 */
static inline uint32_t rl_fenced_load(_Atomic uint32_t *flag)
{
#if defined(SABRE_SANITIZER) && SABRE_SANITIZER == 2
    return atomic_fetch_add(flag, 0);
#else
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(flag, memory_order_relaxed);
#endif
}

/* Deadline arithmetic with UINT64_MAX meaning "forever". */
static inline uint64_t rl_deadline(uint64_t timeout_ns)
{
    if (timeout_ns == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = sabre__now_ns();
    return now + timeout_ns < now ? UINT64_MAX : now + timeout_ns;
}

#endif
