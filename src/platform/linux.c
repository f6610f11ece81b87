/*
 * linux.c - the platform interface (platform.h) on Linux: CLOCK_MONOTONIC,
 * shared futexes (no FUTEX_PRIVATE_FLAG), sched_yield, getrandom, and
 * processes as parties (pid + start time from /proc/<pid>/stat).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"
#include "sabre/status.h"

uint64_t sabre__plat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sabre__plat_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- party identity: processes ---- */

/* Reads /proc/<pid>/stat; returns the start time, the state letter via *state. */
static uint64_t read_proc_stat(pid_t pid, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may contain spaces and ')': fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (state)
        *state = *p;
    /* p is at field 3 (state); start time is field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

int32_t sabre__plat_self_id(void)
{
    return (int32_t)getpid();
}

uint64_t sabre__plat_self_start(void)
{
    return read_proc_stat(getpid(), NULL);
}

uint64_t sabre__plat_start_of(int32_t id)
{
    return id > 0 ? read_proc_stat((pid_t)id, NULL) : 0;
}

bool sabre__plat_alive(int32_t id, uint64_t start)
{
    if (id <= 0)
        return false;
    char state = 0;
    uint64_t st = read_proc_stat((pid_t)id, &state);
    if (st == 0) {
        /* /proc unreadable (hidepid) or process gone: fall back to kill(0). */
        if (kill((pid_t)id, 0) == 0 || errno == EPERM)
            return start == 0;
        return false;
    }
    if (state == 'Z' || state == 'X')
        return false;
    return start == 0 || st == start;
}

long sabre__plat_thread_id(void)
{
    return (long)syscall(SYS_gettid);
}

bool sabre__plat_is_main_thread(void)
{
    return syscall(SYS_gettid) == getpid();
}

/* ---- futex, yield, sleep ---- */

int sabre__plat_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns != UINT64_MAX) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
        ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tsp, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT)
        return SABRE_ETIMEDOUT;
    return 0; /* woken, EAGAIN (value differed) or EINTR: caller re-checks */
}

int sabre__plat_futex_wake(_Atomic uint32_t *addr, int n)
{
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? 0 : (int)r;
}

void sabre__plat_yield(void)
{
    sched_yield();
}

uint64_t sabre__plat_spin_ns(uint64_t spin_ns)
{
    return spin_ns;
}

void sabre__plat_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* ---- machine ---- */

size_t sabre__plat_page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

unsigned sabre__plat_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

void *sabre__plat_big_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *sabre__plat_big_realloc(void *p, size_t old, size_t bytes)
{
    void *q = mremap(p, old, bytes, MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

void sabre__plat_big_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

void sabre__plat_advise_huge(void *p, size_t bytes)
{
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only */
}

uint64_t sabre__plat_random(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id || id == 0)
        id = sabre__plat_now_ns() ^ ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&id;
    return id ? id : 1;
}

const char *sabre__plat_name(void)
{
    return "linux";
}
