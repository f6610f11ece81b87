// SABRE_TEST_LABELS: unit process example
/* examples/rl_trainer and rl_actor as separate processes (issue 10, item 6):
 *   - an actor SIGKILLed mid-run and replaced: the trainer still receives
 *     every chunk it waits for and reports "ok", never FAILED; the
 *     replacement, left running when the trainer is done, stops with a
 *     clear message and exit 0 (it used to wait 10 s and fail on a
 *     claim timeout);
 *   - a trainer SIGKILLed under a running actor: the actor stops, saying
 *     the trainer is gone, with exit 1.
 * The example programs sit next to $SABRE_TOOL in the build directory. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sabre/ring.h"
#include "sabre/sabre.h"

static char dir[1024], tmp[1024];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start `prog` (in the build directory) with its stdout and stderr in
 * file `log`. */
static pid_t start(const char *prog, const char *log, const char *a1, const char *a2,
                   const char *a3)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, prog);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1), dup2(fd, 2);
        execl(path, prog, a1, a2, a3, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Exit status of `pid`, waiting at most ~120 s (a hang fails the test). */
static int finish(pid_t pid)
{
    int st = 0;
    for (int i = 0; i < 12000; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        CHECK(r >= 0);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    CHECK(!"process did not exit");
    return -1;
}

/* Chunks committed by the producer whose process is `pid` (0 if none). */
static uint64_t produced_by(const char *shm, pid_t pid)
{
    sabre_region_t *reg = NULL;
    sabre_ring_t *ring = NULL;
    uint64_t n = 0;
    if (sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm}, &reg))
        return 0;
    if (!sabre_ring_open(reg, "rollouts", NULL, 0, 0, &ring)) {
        for (uint32_t i = 0; i < 16; i++) {
            sabre_ring_producer_info_t pi;
            if (!sabre_ring_producer_at(ring, i, &pi) && pi.pid == pid)
                n = pi.produced;
        }
        sabre_ring_close(ring);
    }
    sabre_region_close(reg);
    return n;
}

static void wait_for(const char *log, const char *text)
{
    static char buf[65536];
    for (int i = 0; i < 6000; i++) {
        check_slurp(log, buf, sizeof buf);
        if (strstr(buf, text))
            return;
        sleep_ms(10);
    }
    CHECK_FAIL_("'%s' never appeared in %s: %s", text, log, buf);
}

static void wait_produced(const char *shm, pid_t pid, uint64_t n)
{
    for (int i = 0; i < 6000 && produced_by(shm, pid) < n; i++)
        sleep_ms(10);
    CHECK(produced_by(shm, pid) >= n);
}

int main(void)
{
    const char *tool = getenv("SABRE_TOOL");
    CHECK(tool != NULL);
    snprintf(dir, sizeof dir, "%s", tool);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s", t && *t ? t : "/tmp");
    static char out[65536];
    char shm[64], lt[1200], la[1200], lb[1200], lc[1200];
    snprintf(lt, sizeof lt, "%s/rlx-%d-trainer.log", tmp, (int)getpid());
    snprintf(la, sizeof la, "%s/rlx-%d-a.log", tmp, (int)getpid());
    snprintf(lb, sizeof lb, "%s/rlx-%d-b.log", tmp, (int)getpid());
    snprintf(lc, sizeof lc, "%s/rlx-%d-c.log", tmp, (int)getpid());

    /* 1. kill an actor, replace it: "ok", the replacement stops cleanly.
     * The trainer is stopped while both actors fill their lanes (8
     * chunks each), so the kill lands before either is done. */
    snprintf(shm, sizeof shm, "/sabre-test-rlx-%d", (int)getpid());
    pid_t trainer = start("example_rl_trainer", lt, shm, "2", NULL);
    wait_for(lt, "waiting for 2 actors");
    kill(trainer, SIGSTOP);
    pid_t a = start("example_rl_actor", la, shm, "400", "1");
    pid_t b = start("example_rl_actor", lb, shm, "400", "2");
    wait_produced(shm, a, 8);
    wait_produced(shm, b, 8);
    kill(b, SIGKILL);
    CHECK_EQ(finish(b), 128 + SIGKILL);
    /* the replacement has far more to send than the trainer will take */
    pid_t c = start("example_rl_actor", lc, shm, "100000", "3");
    kill(trainer, SIGCONT);
    int st = finish(trainer);
    check_slurp(lt, out, sizeof out);
    if (st != 0)
        fprintf(stderr, "trainer exit %d, its output:\n%s\n", st, out);
    CHECK_EQ(st, 0);
    CHECK_STR_CONTAINS(out, "800 chunks");
    CHECK_STR_CONTAINS(out, "ok");
    CHECK(strstr(out, "FAILED") == NULL);
    CHECK_EQ(finish(a), 0);
    CHECK_EQ(finish(c), 0);
    check_slurp(lc, out, sizeof out);
    CHECK_STR_CONTAINS(out, "rl_actor: the trainer closed the ring after");
    CHECK(strstr(out, "TIMEDOUT") == NULL);
    sabre_region_unlink(SABRE_BACKING_SHM, shm);

    /* 2. kill the trainer (stopped, so it cannot finish first) under a
     * running actor: the actor learns it is gone */
    snprintf(shm, sizeof shm, "/sabre-test-rly-%d", (int)getpid());
    trainer = start("example_rl_trainer", lt, shm, "1", NULL);
    wait_for(lt, "waiting for 1 actors");
    kill(trainer, SIGSTOP);
    a = start("example_rl_actor", la, shm, "100000", "1");
    wait_produced(shm, a, 8);
    kill(trainer, SIGKILL);
    CHECK_EQ(finish(trainer), 128 + SIGKILL); /* reaped: no zombie */
    CHECK_EQ(finish(a), 1);
    check_slurp(la, out, sizeof out);
    char want[128];
    snprintf(want, sizeof want,
             "rl_actor: the trainer is gone (ring 'rollouts': the consumer "
             "(pid %d) died)",
             (int)trainer);
    CHECK_STR_CONTAINS(out, want);
    CHECK(strstr(out, "TIMEDOUT") == NULL);
    sabre_region_unlink(SABRE_BACKING_SHM, shm);
    unlink(lt), unlink(la), unlink(lb), unlink(lc);
    return check_done();
}
