/*
 * wasm.c - the platform interface (platform.h) on WebAssembly (emscripten,
 * -pthread; also the single-threaded transfer-mode build).
 *
 * Clocks: performance.timeOrigin + performance.now(), the one clock every
 * Worker of a page or a Node process shares (each Worker's performance.now()
 * alone has its own origin); pure-JS workers compute the same value
 * (js/src/worker/clock.js), so heartbeats written by either side compare.
 * Futexes: emscripten_futex_wait/wake, i.e. Atomics.wait/notify on the
 * module's SharedArrayBuffer, so a pure-JS worker's Atomics.notify wakes a
 * C waiter and the other way round.  On a browser main thread
 * emscripten_futex_wait spins instead of blocking (the main thread may not
 * block); the JS API never calls a blocking wait there (it uses
 * Atomics.waitAsync instead).
 * Parties: see "Parties on WebAssembly" in docs/abi.md.  The module itself
 * (its main thread and its pthreads) is party 1; the host gives every plain
 * JS Worker its own party and marks it dead when the Worker exits, errors or
 * is terminated (the three party functions are exported to the JS host,
 * js/src/index.js).  The party table is the one piece of module-wide state of
 * the platform layer: it plays the part of the kernel's process table.
 */
#include <emscripten.h>
#include <emscripten/threading.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/platform.h"
#include "sabre/status.h"

/* performance.timeOrigin is a slow getter (about 1 us in Node): read once per
 * thread (each Worker has its own origin, so the cache is per global). */
EM_JS(double, wasm_clock_ms, (void), {
    return (globalThis.__sabreT0 || (globalThis.__sabreT0 = performance.timeOrigin)) +
           performance.now();
});

EM_JS(double, wasm_random32, (void), {
    const a = new Uint32Array(1);
    globalThis.crypto.getRandomValues(a);
    return a[0];
});

uint64_t sabre__plat_now_ns(void)
{
    return (uint64_t)(wasm_clock_ms() * 1e6);
}

uint64_t sabre__plat_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- party table ---- */

/* Word i: generation << 1 | alive; 0 = never used.  Slot 0 is unused (ids
 * are > 0); slot 1 is the module.  Writers: sabre__plat_party_spawn/exit
 * (CAS seq_cst) and the JS host through the same functions; readers:
 * sabre__plat_alive (load seq_cst).  Pure-JS workers never write it. */
static _Atomic uint32_t parties[SABRE_PLAT_PARTIES] = {[1] = (1u << 1) | 1u};

EMSCRIPTEN_KEEPALIVE uint32_t sabre__plat_party_table(void)
{
    return (uint32_t)(uintptr_t)parties;
}

EMSCRIPTEN_KEEPALIVE int32_t sabre__plat_party_spawn(uint32_t *gen)
{
    for (int32_t i = 2; i < SABRE_PLAT_PARTIES; i++) {
        uint32_t w = atomic_load(&parties[i]);
        while (!(w & 1u)) {
            uint32_t g = (w >> 1) + 1u;
            if (g >= (1u << 31))
                g = 1; /* after 2^31 reuses of one slot: wraps, never 0 */
            if (atomic_compare_exchange_strong(&parties[i], &w, (g << 1) | 1u)) {
                *gen = g;
                return i;
            }
        }
    }
    return SABRE_EFULL;
}

EMSCRIPTEN_KEEPALIVE int sabre__plat_party_exit(int32_t id, uint32_t gen)
{
    if (id < 2 || id >= SABRE_PLAT_PARTIES)
        return SABRE_EINVAL;
    uint32_t w = (gen << 1) | 1u;
    if (!atomic_compare_exchange_strong(&parties[id], &w, gen << 1))
        return SABRE_ESTALE;
    return SABRE_OK;
}

int32_t sabre__plat_self_id(void)
{
    return 1;
}

uint64_t sabre__plat_self_start(void)
{
    return atomic_load(&parties[1]) >> 1;
}

uint64_t sabre__plat_start_of(int32_t id)
{
    if (id <= 0 || id >= SABRE_PLAT_PARTIES)
        return 0;
    uint32_t w = atomic_load(&parties[id]);
    return (w & 1u) ? w >> 1 : 0;
}

bool sabre__plat_alive(int32_t id, uint64_t start)
{
    if (id <= 0 || id >= SABRE_PLAT_PARTIES)
        return false;
    uint32_t w = atomic_load(&parties[id]);
    if (!(w & 1u))
        return false;
    /* Owner words keep the low 32 bits of the stamp: compare those. */
    return start == 0 || (uint32_t)start == (w >> 1);
}

long sabre__plat_thread_id(void)
{
    return (long)(uintptr_t)pthread_self();
}

bool sabre__plat_is_main_thread(void)
{
    return emscripten_is_main_runtime_thread() != 0;
}

/* ---- futex, yield, sleep ---- */

int sabre__plat_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
    double ms = timeout_ns == UINT64_MAX ? 1e300 : (double)timeout_ns / 1e6;
    int r = emscripten_futex_wait((volatile void *)addr, expected, ms);
    return r == -ETIMEDOUT ? SABRE_ETIMEDOUT : 0;
}

int sabre__plat_futex_wake(_Atomic uint32_t *addr, int n)
{
    int r = emscripten_futex_wake((volatile void *)addr, n);
    return r < 0 ? 0 : r;
}

void sabre__plat_sleep_ns(uint64_t ns)
{
    /* A wait on a word nobody changes: Atomics.wait with a timeout in a
     * Worker, a bounded spin on a browser main thread. */
    _Atomic uint32_t never = 0;
    emscripten_futex_wait((volatile void *)&never, 0, (double)ns / 1e6);
}

void sabre__plat_yield(void)
{
    /* sched_yield does nothing here, and no call hands the core to another
     * thread without sleeping for the host's timer slack (see "Spinning"
     * below): a yield is a pause of about 0.1 us, a few dozen loop turns
     * that touch no shared memory.  (Atomics.wait with a zero timeout, used
     * before, costs 0.9 us and does not deschedule either.) */
    for (volatile int i = 0; i < 50; i++)
        ;
}

/*
 * Spinning.  Nothing on WebAssembly hands the core to another thread:
 * sched_yield does nothing, the zero-timeout wait above returns without
 * descheduling, and Atomics.wait with a timeout sleeps at least the host's
 * timer slack (measured: 90-220 us for a 1 us timeout in Node 20).  Each
 * spin iteration also reads the clock, which costs about 1.5 us here
 * (performance.now() through JS) against 0.1 us natively.  A spinning
 * waiter therefore only keeps the thread it waits for off the core whenever
 * threads outnumber free cores, so waits spin at most WASM_SPIN_MAX_NS and
 * then sleep on the futex (Atomics.wait), which does free the core and is
 * woken by the peer's Atomics.notify.  Measured with bench/ring_wasm.sh on
 * 2 shared cores: the ring's default 100 us spin ran at 0.07-0.15x the
 * native build, this cap at about 0.8x (docs/js.md, "Speed").
 */
#define WASM_SPIN_MAX_NS 5000ull

uint64_t sabre__plat_spin_ns(uint64_t spin_ns)
{
    return spin_ns == UINT64_MAX ? spin_ns
                                 : (spin_ns < WASM_SPIN_MAX_NS ? spin_ns : WASM_SPIN_MAX_NS);
}

/* ---- machine ---- */

size_t sabre__plat_page_size(void)
{
    return 4096; /* the granularity regions round to; wasm pages are 64 KiB */
}

unsigned sabre__plat_cpus(void)
{
    int n = emscripten_num_logical_cores();
    return n > 0 ? (unsigned)n : 1;
}

void *sabre__plat_big_alloc(size_t bytes)
{
    return malloc(bytes);
}

void *sabre__plat_big_realloc(void *p, size_t old, size_t bytes)
{
    (void)old;
    return realloc(p, bytes);
}

void sabre__plat_big_free(void *p, size_t bytes)
{
    (void)bytes;
    free(p);
}

void sabre__plat_advise_huge(void *p, size_t bytes)
{
    (void)p; /* no pages to advise: the module memory is one block */
    (void)bytes;
}

uint64_t sabre__plat_random(void)
{
    uint64_t id = ((uint64_t)wasm_random32() << 32) | (uint64_t)wasm_random32();
    if (id == 0)
        id = sabre__plat_now_ns() ^ (uint64_t)(uintptr_t)&id;
    return id ? id : 1;
}

const char *sabre__plat_name(void)
{
    return "wasm";
}
