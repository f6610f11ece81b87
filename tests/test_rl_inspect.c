// SABRE_TEST_LABELS: unit process
/*
 * `sabre inspect` for weights and rings: the describers (compiled in from
 * tools/inspect_rl.c) print version, step counter, each reader's adopted
 * version and lag, ring counters and producers; their JSON is one valid
 * JSON object; the sabre command shows the same through a read-only mapping.
 */
#include <ctype.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"
#include "sabre/ring.h"
#include "sabre/weights.h"

#include "../tools/inspect_rl.c"

/* ---- a minimal JSON validator (RFC 8259 grammar) ------------------------------ */

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
                return NULL;
            }
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (isdigit((unsigned char)*p))
            p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p > s ? p : NULL;
}

static const char *js_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = js_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = js_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = js_string(js_ws(p));
                if (!p)
                    return NULL;
                p = js_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = js_value(p, depth + 1);
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"')
        return js_string(p);
    if (!strncmp(p, "true", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    if (!strncmp(p, "null", 4))
        return p + 4;
    return js_number(p);
}

static bool json_object_ok(const char *s)
{
    const char *p = js_ws(s);
    if (*p != '{')
        return false;
    p = js_value(p, 0);
    return p && *js_ws(p) == '\0';
}

static char *describe(int (*fn)(const sabre_region_t *, const sabre_object_t *, FILE *, bool),
                      const sabre_region_t *r, const char *name, bool json)
{
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, name, NULL, &o));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK_OK(fn(r, &o, f, json));
    fclose(f);
    return buf;
}

static char *run_tool(const char *args)
{
    const char *tool = getenv("SABRE_TOOL");
    if (!tool || access(tool, X_OK) != 0)
        return NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char *buf = calloc(1, 1 << 20);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, (1 << 20) - 1, p);
    buf[n] = '\0';
    CHECK_EQ(pclose(p), 0);
    return buf;
}

int main(void)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/sabre_test_rl_inspect_%d.region", (int)getpid());
    sabre_region_t *reg = NULL;
    sabre_region_desc_t rd = {.backing = SABRE_BACKING_FILE,
                              .name = path,
                              .size = 8 << 20,
                              .flags = SABRE_REGION_REPLACE};
    CHECK_OK(sabre_region_create(&rd, &reg));

    /* weights: 3 publishes, one live reader lagging by one, one dead reader */
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t wd = {.name = "policy", .size = 4096, .slots = 3, .readers = 4};
    CHECK_OK(sabre_weights_create(reg, &wd, &w));
    sabre_weights_reader_t *rdr = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &rdr));
    uint8_t data[4096] = {1};
    CHECK_OK(sabre_weights_publish(w, data, sizeof data, NULL, 0, NULL));
    CHECK_OK(sabre_weights_publish(w, data, sizeof data, NULL, 0, NULL));
    sabre_weights_view_t v;
    CHECK_OK(sabre_weights_adopt(rdr, NULL, &v));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sabre_weights_reader_t *x = NULL;
        if (sabre_weights_reader_open(w, &x) || sabre_weights_adopt(x, NULL, &v))
            _exit(2);
        raise(SIGKILL);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_OK(sabre_weights_publish(w, data, sizeof data, NULL, 0, NULL));

    /* ring: lanes, a few chunks produced and consumed */
    const char *text = "struct Step { obs: f32[4]; act: i32; rew: f32; }";
    sabre_schema_t *sch = NULL;
    CHECK_OK(sabre_schema_compile(text, strlen(text), &sch, NULL));
    sabre_ring_desc_t dd = {.name = "rollouts",
                            .layout = sabre_schema_root(sch),
                            .steps = 16,
                            .envs = 8,
                            .capacity = 8,
                            .producers = 2};
    sabre_ring_t *ring = NULL;
    CHECK_OK(sabre_ring_create(reg, &dd, &ring));
    sabre_ring_producer_t *p = NULL;
    sabre_ring_consumer_t *c = NULL;
    CHECK_OK(sabre_ring_producer_open(ring, &p));
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    sabre_ring_producer_set_version(p, 1);
    for (int i = 0; i < 5; i++) {
        sabre_ring_claim_t cl;
        CHECK_OK(sabre_ring_claim(p, 1, 0, &cl));
        CHECK_OK(sabre_ring_commit(p, &cl));
    }
    sabre_ring_consumer_set_version(c, 3);
    sabre_ring_batch_t b;
    CHECK_OK(sabre_ring_consume(c, 3, 0, &b));
    CHECK_OK(sabre_ring_release(c, &b));

    char *t = describe(sabre_tool_describe_weights, reg, "policy", false);
    CHECK_STR_CONTAINS(t, "version 3 in slot");
    CHECK_STR_CONTAINS(t, "step 3");
    CHECK_STR_CONTAINS(t, "adopted v2, lag 1");
    CHECK_STR_CONTAINS(t, "(dead)");
    CHECK_STR_CONTAINS(t, "lag - (dead reader)"); /* no climbing lag for the dead */
    free(t);
    t = describe(sabre_tool_describe_weights, reg, "policy", true);
    CHECK(json_object_ok(t));
    CHECK_STR_CONTAINS(t, "\"version\":3");
    CHECK_STR_CONTAINS(t, "\"lag\":1");
    CHECK_STR_CONTAINS(t, "\"alive\":false,\"pinned_version\":2,\"pinned_slot\":1,\"adopted_"
                          "version\":2,\"lag\":null");
    CHECK_STR_CONTAINS(t, "\"lag\":null");
    free(t);
    t = describe(sabre_tool_describe_ring, reg, "rollouts", false);
    CHECK_STR_CONTAINS(t, "lanes, drop-newest");
    CHECK_STR_CONTAINS(t, "produced 5, consumed 3");
    CHECK_STR_CONTAINS(t, "lag since creation min/avg/max 2/2.00/2");
    CHECK_STR_CONTAINS(t, "field obs");
    CHECK_STR_CONTAINS(t, "payload stride"); /* the JSON's chunk_stride, not a sum */
    free(t);
    /* the recent window: the chunks consumed since the previous sample */
    CHECK_OK(sabre_ring_consume(c, 2, 0, &b));
    CHECK_OK(sabre_ring_release(c, &b));
    t = describe(sabre_tool_describe_ring, reg, "rollouts", true);
    CHECK(json_object_ok(t));
    CHECK_STR_CONTAINS(t, "\"in_flight\":0");
    CHECK_STR_CONTAINS(t, "\"lag_recent\":{\"avg\":2.000,\"count\":2,");
    CHECK_STR_CONTAINS(t, "\"layout_hash\":\"0x"); /* hashes are 0x-prefixed, as the object's */
    free(t);
    CHECK(!json_object_ok("{\"a\":1,}"));
    CHECK(!json_object_ok("{\"a\":01}"));

    /* a corrupt object: the describer fails cleanly */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "policy", NULL, &o));
    uint32_t *magic = (uint32_t *)((uint8_t *)o.ptr + 16);
    *magic ^= 1;
    FILE *devnull = fopen("/dev/null", "w");
    CHECK_ERR(sabre_tool_describe_weights(reg, &o, devnull, true), SABRE_ECORRUPT);
    *magic ^= 1;
    fclose(devnull);

    /* the sabre command, through a read-only mapping of the file */
    char args[256];
    snprintf(args, sizeof args, "%s", path);
    char *out = run_tool(args);
    if (out) {
        CHECK_STR_CONTAINS(out, "adopted v2, lag 1");
        CHECK_STR_CONTAINS(out, "produced 5, consumed 5");
        free(out);
        snprintf(args, sizeof args, "%s --json", path);
        out = run_tool(args);
        CHECK(json_object_ok(out));
        CHECK_STR_CONTAINS(out, "\"dead_pins_ignored\"");
        free(out);
        snprintf(args, sizeof args, "%s --watch=0.01 --count 2", path);
        out = run_tool(args);
        CHECK_STR_CONTAINS(out, "version 3 in slot");
        free(out);
    } else {
        printf("SABRE_TOOL not set: the command itself was not run\n");
    }

    sabre_ring_consumer_close(c);
    sabre_ring_producer_close(p);
    sabre_ring_close(ring);
    sabre_weights_reader_close(rdr);
    sabre_weights_close(w);
    sabre_schema_free(sch);
    sabre_region_close(reg);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_FILE, path));
    return check_done();
}
