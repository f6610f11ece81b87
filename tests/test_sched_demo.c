// SABRE_TEST_LABELS: unit process
/* `sabre demo physics`: every mode runs and ends bit-identical to the
 * serial run; bad options are usage errors (exit 2). */
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

int main(void)
{
    static char out[65536];
    CHECK_EQ(run("demo physics -n 5000 -f 20 -w 2 -k 4 -q", out, sizeof out), 0);
    const char *modes[] = {"serial", "inplace", "snapshot", "process", "mailbox K=4"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        CHECK_STR_CONTAINS(out, modes[i]);
    CHECK_STR_CONTAINS(out, "reference, checksum");
    /* four modes compared against the serial run */
    int identical = 0;
    for (const char *p = out; (p = strstr(p, "bit-identical")); p++)
        identical++;
    CHECK_EQ(identical, 4);
    CHECK(strstr(out, "DIFFERENT") == NULL);
    CHECK_STR_CONTAINS(out, "mailbox: 5 request/acknowledge pairs per worker for 20 ticks");
    CHECK_STR_CONTAINS(out, "all modes ended in the serial run's exact state");

    /* a subset of modes */
    CHECK_EQ(run("demo physics -n 3000 -f 5 -m inplace,snapshot -q", out, sizeof out), 0);
    CHECK(strstr(out, "process") == NULL);
    CHECK_STR_CONTAINS(out, "snapshot");

    /* usage errors */
    CHECK_EQ(run("demo physics -n 0", out, sizeof out), 2);
    CHECK_EQ(run("demo physics -m warp", out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "unknown mode 'warp'");
    CHECK_EQ(run("demo nosuch", out, sizeof out), 2);
    CHECK_EQ(run("demo physics --help", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "usage: sabre demo physics");
    return check_done();
}
