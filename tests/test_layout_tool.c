// SABRE_TEST_LABELS: unit
/* Layout: the `sabre schema` command on the example schemas, stdin, JSON,
 * --struct/--hash/--canonical, bad schemas (file:line:col: error: ...,
 * exit 1) and usage errors (exit 2).  Runs $SABRE_TOOL (set by CTest). */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *tool, *src_dir;
static char err_path[64], in_path[64];

struct result {
    int status;
    char out[65536];
    char err[4096];
};

/* Runs the tool with `args` (shell syntax), stdin from `input` if non-NULL. */
static void run(struct result *r, const char *input, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run(struct result *r, const char *input, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (input) {
        FILE *f = fopen(in_path, "wb");
        CHECK(f != NULL);
        fputs(input, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' schema %s 2>'%s' <'%s'", src_dir, tool, args,
             err_path, input ? in_path : "/dev/null");
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    check_slurp(err_path, r->err, sizeof r->err);
}

/* Brackets and braces balance outside strings, strings are closed. */
static int json_balanced(const char *s)
{
    int depth = 0;
    int in_str = 0;
    for (; *s; s++) {
        if (in_str) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_str = 0;
            continue;
        }
        if (*s == '"')
            in_str = 1;
        else if (*s == '{' || *s == '[')
            depth++;
        else if (*s == '}' || *s == ']')
            if (--depth < 0)
                return 0;
    }
    return depth == 0 && !in_str;
}

int main(void)
{
    tool = getenv("SABRE_TOOL");
    src_dir = getenv("SABRE_SOURCE_DIR");
    if (!tool || !src_dir || access(tool, X_OK) != 0) {
        fprintf(stderr,
                "FAILED: needs $SABRE_TOOL (the built sabre command, %s) and "
                "$SABRE_SOURCE_DIR; CTest sets both\n",
                tool ? tool : "unset");
        return 1;
    }
    snprintf(err_path, sizeof err_path, "/tmp/sabre_schema_err_%d", (int)getpid());
    snprintf(in_path, sizeof in_path, "/tmp/sabre_schema_in_%d", (int)getpid());
    static struct result r;

    run(&r, NULL, "examples/bullet.schema");
    CHECK_EQ(r.status, 0);
    CHECK_STR_CONTAINS(r.out, "struct Pos: size 8, align 4, 2 fields, 2 columns");
    CHECK_STR_CONTAINS(r.out, "struct Bullet: size 28, align 4, 5 fields, 9 columns");
    CHECK_STR_CONTAINS(r.out, "  hash      0xeb61bfbbda678f69\n");
    CHECK_STR_CONTAINS(r.out, "  canonical struct Pos{x:f32;y:f32;}struct Bullet{pos:Pos;vel:Pos;"
                              "life:f32;tags:u8[4];_:pad[4];}\n");
    CHECK_STR_CONTAINS(r.out, "         8  f32    vel_x\n");
    CHECK_STR_CONTAINS(r.out, "        22  u8     tags_2\n");
    CHECK_STR_CONTAINS(r.out, "        24  pad    (4 bytes of padding)\n");
    CHECK(r.err[0] == '\0');

    run(&r, NULL, "examples/rollout.schema --json");
    CHECK_EQ(r.status, 0);
    CHECK(json_balanced(r.out));
    CHECK(strncmp(r.out, "{\"root\":\"Step\",\"structs\":[", 26) == 0);
    CHECK_STR_CONTAINS(r.out, "{\"name\":\"obs_7\",\"type\":\"f32\",\"offset\":28,\"size\":4}");
    CHECK_STR_CONTAINS(r.out, "{\"name\":\"episode\",\"type\":\"u64\",\"offset\":64,\"size\":8}");
    CHECK_STR_CONTAINS(r.out, "\"name\":\"Step\",\"size\":80,\"align\":8,\"hash\":\"0x");

    run(&r, NULL, "examples/rollout.schema --struct Action --json");
    CHECK_EQ(r.status, 0);
    CHECK(json_balanced(r.out));
    CHECK(strncmp(r.out,
                  "{\"name\":\"Action\",\"size\":8,\"align\":4,"
                  "\"hash\":\"0xdf70384474e3f031\"",
                  60) == 0);
    CHECK(strstr(r.out, "Step") == NULL);

    run(&r, NULL, "--struct=Pos examples/bullet.schema");
    CHECK_EQ(r.status, 0);
    CHECK_STR_CONTAINS(r.out, "struct Pos: size 8");
    CHECK(strstr(r.out, "Bullet") == NULL);

    run(&r, NULL, "examples/bullet.schema --hash");
    CHECK_EQ(r.status, 0);
    CHECK(strcmp(r.out, "0xeb61bfbbda678f69\n") == 0);

    run(&r, NULL, "examples/bullet.schema --struct Pos --canonical --hash");
    CHECK_EQ(r.status, 0);
    CHECK(strcmp(r.out, "struct Pos{x:f32;y:f32;}\n0xb3fa23b1cc629839\n") == 0);

    /* stdin */
    run(&r, "struct A { a: u8; b: u64; c: u16; }\n", "- --hash");
    CHECK_EQ(r.status, 0);
    CHECK(strcmp(r.out, "0x6ccc703288982838\n") == 0);
    run(&r, "struct A { a: u8; b: u64; c: u16; }\n", "-");
    CHECK_EQ(r.status, 0);
    CHECK_STR_CONTAINS(r.out, "struct A: size 24, align 8, 3 fields, 3 columns");
    CHECK_STR_CONTAINS(r.out, "        16  u16    c\n");

    /* bad schemas: file:line:col: error: ..., exit 1, nothing on stdout */
    run(&r, "struct Pos { x: f32; y: f32; }\nstruct B { p: Pos[2];\n  q: u8 }\n", "-");
    CHECK_EQ(r.status, 1);
    CHECK(r.out[0] == '\0');
    CHECK(strcmp(r.err, "<stdin>:3:9: error: expected ';' after field 'q', found '}'\n") == 0);
    FILE *f = fopen(in_path, "wb");
    fputs("// header\nstruct A {\n  a: Nope;\n}\n", f);
    fclose(f);
    run(&r, NULL, "'%s'", in_path);
    CHECK_EQ(r.status, 1);
    char want[256];
    snprintf(want, sizeof want,
             "%s:3:6: error: unknown type 'Nope' (a struct must be defined before it is used)\n",
             in_path);
    CHECK(strcmp(r.err, want) == 0);
    run(&r, "", "-");
    CHECK_EQ(r.status, 1);
    CHECK_STR_CONTAINS(r.err, "<stdin>:1:1: error: expected 'struct', found end of input");

    /* other failures */
    run(&r, NULL, "examples/bullet.schema --struct Nope");
    CHECK_EQ(r.status, 1);
    CHECK_STR_CONTAINS(r.err, "no struct 'Nope'; structs: Pos Bullet");
    run(&r, NULL, "/nonexistent/x.schema");
    CHECK_EQ(r.status, 1);
    CHECK_STR_CONTAINS(r.err, "/nonexistent/x.schema: error: cannot open");
    run(&r, NULL, "--help");
    CHECK_EQ(r.status, 0);
    CHECK_STR_CONTAINS(r.out, "usage: sabre schema <file|->");
    run(&r, NULL, "%s", "");
    CHECK_EQ(r.status, 2);
    CHECK_STR_CONTAINS(r.err, "usage: sabre schema");
    run(&r, NULL, "examples/bullet.schema --bogus");
    CHECK_EQ(r.status, 2);
    CHECK_STR_CONTAINS(r.err, "unknown option '--bogus'");
    run(&r, NULL, "examples/bullet.schema --struct");
    CHECK_EQ(r.status, 2);
    run(&r, NULL, "a.schema b.schema");
    CHECK_EQ(r.status, 2);

    unlink(err_path);
    unlink(in_path);
    return check_done();
}
