// SABRE_TEST_LABELS: unit process
/* `sabre demo rl`: the C trainer solves CartPole-v1 with a fixed seed on a
 * bounded budget (mean-100 and greedy evaluation >= 475), also when an
 * actor is SIGKILLed mid-run and replaced; a budget run that does not solve
 * exits 0 without --until-solved and 1 with it; bad options exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"

static int run(const char *args, char *out, size_t cap)
{
    const char *tool = getenv("SABRE_TOOL");
    CHECK(tool != NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number after `key` in out (-1 if absent). */
static double after(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? atof(p + strlen(key)) : -1;
}

static void check_solved(const char *out)
{
    CHECK_STR_CONTAINS(out, "solved in ");
    double steps = after(out, "solved in ");
    CHECK(steps > 0 && steps <= 1000000);
    CHECK(after(out, "greedy evaluation of the final weights: mean return ") >= 475);
    CHECK_STR_CONTAINS(out, "policy lag (updates between");
    CHECK(strstr(out, "not solved") == NULL);
    CHECK(strstr(out, "did not stop") == NULL);
}

int main(void)
{
    static char out[1 << 18];
    /* progress lines and the end report */
    CHECK_EQ(run("demo rl --until-solved --actors 2 --seed 1 --max-steps 1000000", out, sizeof out),
             0);
    check_solved(out);
    CHECK_STR_CONTAINS(out, "mean-100");
    CHECK_STR_CONTAINS(out, "ring: ");
    CHECK(after(out, " abandoned") != 0 || strstr(out, ", 0 abandoned"));

    /* one actor with another chunk shape, SIGKILLed mid-run: a replacement
     * takes over its lane and the run still solves */
    CHECK_EQ(run("demo rl -q --until-solved --actors 1 --envs 4 --T 32 --seed 3 "
                 "--kill-actor-at 20000",
                 out, sizeof out),
             0);
    check_solved(out);
    CHECK_STR_CONTAINS(out, "killed actor pid ");
    CHECK_STR_CONTAINS(out, "lane 0 taken over by pid ");
    CHECK(after(out, "abandoned chunks: ") >= 0);

    /* a budget too small to solve */
    CHECK_EQ(run("demo rl -q --max-steps 5000", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "not solved within the budget");
    CHECK_EQ(run("demo rl -q --until-solved --max-steps 5000", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "not solved within the budget");

    /* usage errors, and an actor without a trainer */
    CHECK_EQ(run("demo rl --actors 0", out, sizeof out), 2);
    CHECK_EQ(run("demo rl --capacity 3", out, sizeof out), 2);
    CHECK_EQ(run("demo rl --bogus", out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "bad option '--bogus'");
    CHECK_EQ(run("demo rl --help", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "usage: sabre demo rl");
    CHECK_EQ(run("demo rl --actor /sabre-no-such-region-rl", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "open region");
    return check_done();
}
