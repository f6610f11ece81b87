/*
 * platform.h - everything the layers ask of the operating system, behind one
 * small interface (internal, not installed).  One implementation per
 * platform, selected by CMake: src/platform/linux.c (native) and
 * src/platform/wasm.c (emscripten, -pthread).  Layer files call only these
 * functions (through the sabre__* helpers of internal.h) and hold no
 * platform #ifdef of their own.
 *
 * Party identity.  A *party* is whatever can die independently of the
 * others while holding a place in shared memory: a process on Linux, a
 * module instance or a plain JS Worker on wasm.  It is named by a 32-bit id
 * and a 64-bit start stamp that tells a reused id apart:
 *   Linux: the pid and its start time in clock ticks (/proc/<pid>/stat
 *          field 22);
 *   wasm:  a slot of the module's party table and that slot's generation
 *          (docs/abi.md, "Parties on WebAssembly").
 * Shared words store them exactly as before (pid fields, owner words =
 * id | low 32 bits of the stamp << 32), so the ABI does not change.
 *
 * Ownership: nothing here allocates.  Thread-safety: every function may be
 * called from any thread.  Blocking: only sabre__plat_futex_wait and
 * sabre__plat_sleep_ns.  Errors: futex_wait returns 0 or SABRE_ETIMEDOUT;
 * the rest cannot fail (a failing clock or random source falls back).
 */
#ifndef SABRE_PLATFORM_H
#define SABRE_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic clock shared by every party, in nanoseconds (Linux:
 * CLOCK_MONOTONIC; wasm: performance.timeOrigin + performance.now(), the
 * clock pure-JS workers read too). */
uint64_t sabre__plat_now_ns(void);
/* Wall clock (CLOCK_REALTIME), nanoseconds since 1970. */
uint64_t sabre__plat_wall_ns(void);

/* Futex on a 32-bit word that may be shared between parties.  wait sleeps
 * while *addr == expected, at most timeout_ns (UINT64_MAX = forever); 0 when
 * woken or the value differed (spurious wake-ups possible), SABRE_ETIMEDOUT on
 * timeout.  wake wakes up to n waiters and returns how many it woke (wasm:
 * may return 0 for waiters it woke, callers only count). */
int sabre__plat_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns);
int sabre__plat_futex_wake(_Atomic uint32_t *addr, int n);

/* Give the CPU to another runnable thread where the platform can (Linux:
 * sched_yield); wasm cannot, so there it is a pause of about 0.1 us, and
 * waits sleep on the futex early instead (sabre__plat_spin_ns). */
void sabre__plat_yield(void);
/* How long a waiter that an object asks to spin for spin_ns (yielding
 * between checks) spins before it sleeps on the futex.  Linux: spin_ns
 * (sched_yield hands the core to a peer queued behind the spinner).  wasm:
 * at most a few microseconds, because nothing there hands the core over
 * (see wasm.c).  UINT64_MAX (spin forever) is kept. */
uint64_t sabre__plat_spin_ns(uint64_t spin_ns);
/* Sleep about ns nanoseconds. */
void sabre__plat_sleep_ns(uint64_t ns);

/* Page size of the memory the platform maps, and online CPUs (>= 1). */
size_t sabre__plat_page_size(void);
unsigned sabre__plat_cpus(void);

/* Large private arrays that grow (entity records): anonymous pages on
 * Linux (mmap, mremap, with huge-page advice), the module heap on wasm.
 * big_alloc/big_realloc return NULL on failure (errno set); the contents
 * up to `old` bytes survive a realloc.  advise_huge is advice only. */
void *sabre__plat_big_alloc(size_t bytes);
void *sabre__plat_big_realloc(void *p, size_t old, size_t bytes);
void sabre__plat_big_free(void *p, size_t bytes);
void sabre__plat_advise_huge(void *p, size_t bytes);

/* A non-zero random 64-bit value (getrandom; clock and identity mixed in if
 * that fails). */
uint64_t sabre__plat_random(void);

/* The calling party: its id (> 0) and start stamp (> 0 where known). */
int32_t sabre__plat_self_id(void);
uint64_t sabre__plat_self_start(void);
/* Start stamp of party `id`, 0 if it does not exist. */
uint64_t sabre__plat_start_of(int32_t id);
/* True if party (id, start) still runs; start 0: do not check for reuse. */
bool sabre__plat_alive(int32_t id, uint64_t start);
/* An id of the calling thread, unique among the party's threads. */
long sabre__plat_thread_id(void);
/* True on the party's main thread (the one that may not block in browsers). */
bool sabre__plat_is_main_thread(void);

/* WebAssembly only (wasm.c; nothing else calls them): the party table the
 * JS host drives.  SABRE_PLAT_PARTIES slots, word i = generation << 1 |
 * alive.  spawn gives a new party (id >= 2, *gen its generation) or
 * SABRE_EFULL; exit marks (id, gen) dead (SABRE_ESTALE if it is not that
 * live party); table returns the table's address in the module memory. */
#define SABRE_PLAT_PARTIES 1024
int32_t sabre__plat_party_spawn(uint32_t *gen);
int sabre__plat_party_exit(int32_t id, uint32_t gen);
uint32_t sabre__plat_party_table(void);

/* Name of the platform ("linux", "wasm") for messages and sabre_probe. */
const char *sabre__plat_name(void);

#endif
