/*
 * internal.h - helpers shared by the layers (not installed, not public API).
 * Internal non-static functions are named sabre__*.
 */
#ifndef SABRE_INTERNAL_H
#define SABRE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform/platform.h"
#include "sabre/status.h"

#define SABRE_CACHE_LINE    64
#define SABRE_FALSE_SHARING 128 /* independently written atomics live this far apart */

#define SABRE_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define SABRE_MIN(a, b)      ((a) < (b) ? (a) : (b))
#define SABRE_MAX(a, b)      ((a) > (b) ? (a) : (b))
#define SABRE_LIKELY(x)      __builtin_expect(!!(x), 1)
#define SABRE_UNLIKELY(x)    __builtin_expect(!!(x), 0)

/* Record a failure detail for the calling thread and return `status`.
 * Usage: return sabre__fail(SABRE_EINVAL, "region name '%s' is too long", n); */
int sabre__fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like sabre__fail, appending ": strerror(errno)" and mapping errno to a
 * status (ENOSPC -> SABRE_ENOSPC, ENOENT -> SABRE_ENOENT, EEXIST ->
 * SABRE_EEXIST, EACCES/EPERM -> SABRE_EPERM, ENOMEM -> SABRE_ENOMEM, else
 * SABRE_EIO). */
int sabre__fail_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 64-bit FNV-1a over bytes (the layout hash function, see docs/schema.md). */
uint64_t sabre__fnv1a64(const void *data, size_t len);

/* The OS services, from the platform layer (src/platform/platform.h), under
 * the names the layers use. */
/* Monotonic clock shared by every party, and the wall clock, in nanoseconds. */
static inline uint64_t sabre__now_ns(void)
{
    return sabre__plat_now_ns();
}
static inline uint64_t sabre__wall_ns(void)
{
    return sabre__plat_wall_ns();
}
/* How long a wait asked to spin for spin_ns really spins before sleeping
 * (the platform caps it where spinning cannot hand the core over). */
static inline uint64_t sabre__spin_limit_ns(uint64_t spin_ns)
{
    return sabre__plat_spin_ns(spin_ns);
}
/* A duration for messages in human units: "250 ms", "10 s", "1.5 us",
 * "700 ns" (at most 3 significant digits).  Returns buf. */
typedef struct sabre__dur {
    char s[32];
} sabre__dur_t;
sabre__dur_t sabre__fmt_ns(uint64_t ns);

/* Start stamp of party `pid` (Linux: process start time in clock ticks since
 * boot, field 22 of /proc/<pid>/stat), or 0 if it does not exist.
 * (pid, start time) identifies a party across id reuse. */
static inline uint64_t sabre__proc_start_time(pid_t pid)
{
    return sabre__plat_start_of((int32_t)pid);
}

/* True if the party identified by (pid, start_time) still runs (Linux: and
 * is not a zombie).  start_time 0 means "do not check for id reuse". */
static inline bool sabre__pid_alive(pid_t pid, uint64_t start_time)
{
    return sabre__plat_alive((int32_t)pid, start_time);
}

/* The calling party's id (the pid on Linux) and start stamp. */
static inline pid_t sabre__self_pid(void)
{
    return (pid_t)sabre__plat_self_id();
}
static inline uint64_t sabre__self_start(void)
{
    return sabre__plat_self_start();
}

/* Futex on a 32-bit word that may live in shared memory (no
 * FUTEX_PRIVATE_FLAG, so it works across processes).
 * wait: sleeps while *addr == expected, at most timeout_ns (UINT64_MAX =
 * forever).  Returns 0 when woken or the value differed, SABRE_ETIMEDOUT on
 * timeout; spurious wake-ups are possible, callers re-check their condition.
 * wake: wakes up to n waiters, returns how many were woken. */
static inline int sabre__futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
    return sabre__plat_futex_wait(addr, expected, timeout_ns);
}
static inline int sabre__futex_wake(_Atomic uint32_t *addr, int n)
{
    return sabre__plat_futex_wake(addr, n);
}

/* CPU relax hint for spin loops. */
static inline void sabre__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* True if rc is one of the negative SABRE_E* codes of status.h. */
bool sabre__is_status(int rc);

/* Spin-then-sleep policy shared by every waiter: call once per spin
 * iteration with the time the wait began; true once spin_ns has passed
 * (UINT64_MAX = spin forever).  The clock is read on the first call (so a
 * tiny spin_ns sleeps at once) and then every 64 calls; past the first 2 us
 * the spinner also yields, because when threads outnumber free cores the
 * peer it waits for may be queued behind it on the same core. */
bool sabre__spin_expired(uint64_t spin_ns, uint64_t start, unsigned *spins);

/* A non-zero random 64-bit id: world and snapshot ids. */
static inline uint64_t sabre__random_id(void)
{
    return sabre__plat_random();
}

/* Write s[0..n) (stopping early at a NUL) as a JSON string: quotes,
 * backslashes and control characters escaped, bytes above ASCII written as
 * \u00XX so the output is valid JSON whatever the bytes are.  f is a FILE*. */
void sabre__json_str(void *f, const char *s, size_t n);

/* Grow a malloc'ed array *arr of *cap elements of `elem` bytes so it holds
 * at least `need` (capacity doubles, starting at 16).  SABRE_ENOMEM with a
 * message on failure; *arr is unchanged then. */
int sabre__grow(void **arr, uint32_t *cap, uint32_t need, size_t elem);

/* "1.5 GiB", "512 B": n bytes in binary units, for messages and tools. */
void sabre__fmt_bytes(char *dst, size_t cap, uint64_t n);

/* Safe bounded string copy: always NUL-terminates, returns false if truncated. */
bool sabre__strlcpy(char *dst, const char *src, size_t cap);

#endif
