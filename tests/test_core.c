/* Core helpers: status names, error details, hashing, futex, process identity. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/internal.h"

static _Atomic uint32_t word;

static void *waker(void *arg)
{
    (void)arg;
    usleep(20000);
    atomic_store_explicit(&word, 1, memory_order_release);
    sabre__futex_wake(&word, 1);
    return NULL;
}

static void *other_thread_error(void *arg)
{
    (void)arg;
    sabre__fail(SABRE_EIO, "thread detail");
    return NULL;
}

int main(void)
{
    /* every code has a distinct name and a description */
    for (int s = 0; s >= SABRE_ECLOSED; s--) {
        CHECK(strcmp(sabre_status_name(s), "SABRE_E?") != 0);
        CHECK(strcmp(sabre_strerror(s), "unknown status") != 0);
    }
    CHECK(strcmp(sabre_status_name(-999), "SABRE_E?") == 0);

    /* error details are per thread */
    CHECK_EQ(sabre__fail(SABRE_ECORRUPT, "bad %s at %d", "magic", 8), SABRE_ECORRUPT);
    CHECK(strcmp(sabre_last_error(), "bad magic at 8") == 0);
    pthread_t t;
    pthread_create(&t, NULL, other_thread_error, NULL);
    pthread_join(t, NULL);
    CHECK(strcmp(sabre_last_error(), "bad magic at 8") == 0);
    CHECK_EQ(sabre__fail_errno(ENOSPC, "reserve"), SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "reserve: No space left on device");
    sabre_clear_error();
    CHECK(sabre_last_error()[0] == '\0');

    /* durations in messages: human units */
    CHECK(strcmp(sabre__fmt_ns(700).s, "700 ns") == 0);
    CHECK(strcmp(sabre__fmt_ns(1500).s, "1.5 us") == 0);
    CHECK(strcmp(sabre__fmt_ns(250000000).s, "250 ms") == 0);
    CHECK(strcmp(sabre__fmt_ns(10000000000ull).s, "10 s") == 0);
    CHECK(strcmp(sabre__fmt_ns(90000000000ull).s, "1.5 min") == 0);

    /* FNV-1a 64 reference values */
    CHECK(sabre__fnv1a64("", 0) == 0xcbf29ce484222325ull);
    CHECK(sabre__fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(sabre__fnv1a64("foobar", 6) == 0x85944171f73967e8ull);

    /* futex: a timed wait on an unchanged word times out; a wake ends a wait */
    uint64_t t0 = sabre__now_ns();
    CHECK_EQ(sabre__futex_wait(&word, 0, 2000000), SABRE_ETIMEDOUT);
    CHECK(sabre__now_ns() - t0 >= 1000000);
    CHECK_EQ(sabre__futex_wait(&word, 7, 1000000000), 0); /* value differs: returns at once */
    pthread_create(&t, NULL, waker, NULL);
    uint64_t deadline = sabre__now_ns() + 5000000000ull;
    while (atomic_load_explicit(&word, memory_order_acquire) == 0 && sabre__now_ns() < deadline)
        sabre__futex_wait(&word, 0, 100000000);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&word), 1);

    /* process identity survives only as long as the process */
    uint64_t me = sabre__proc_start_time(getpid());
    CHECK(me != 0);
    CHECK(sabre__pid_alive(getpid(), me));
    CHECK(!sabre__pid_alive(getpid(), me + 1));
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    uint64_t cst = 0;
    for (int i = 0; i < 1000 && cst == 0; i++)
        cst = sabre__proc_start_time(child);
    CHECK(cst != 0);
    CHECK(sabre__pid_alive(child, cst));
    kill(child, SIGKILL);
    siginfo_t si; /* wait until it is a zombie, without reaping it (no sleep) */
    CHECK_EQ(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
    CHECK(!sabre__pid_alive(child, cst)); /* a zombie is dead */
    waitpid(child, NULL, 0);
    CHECK(!sabre__pid_alive(child, cst));

    char small[4];
    CHECK(!sabre__strlcpy(small, "hello", sizeof small));
    CHECK(strcmp(small, "hel") == 0);
    CHECK(sabre__strlcpy(small, "hi", sizeof small));
    return check_done();
}
