// SABRE_TEST_LABELS: unit
/* Layout: the reference implementation docs/layout_hash.py (independent of
 * the C code) must compute the same hash, size, alignment and columns for
 * the canonical texts the C compiler produces; the golden vectors listed in
 * docs/schema.md must hash to what they say, in Python and in C.
 * Needs python3 and $SABRE_SOURCE_DIR (set by CTest): without them the
 * test fails with a message saying so. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/layout.h"

static const char *src_dir;

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t rnd(void)
{
    return check_xorshift(&rng_state);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    check_sb_t b = {0};
    char chunk[4096];
    size_t n;
    check_sb_add(&b, "%s", "");
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        check_sb_add(&b, "%.*s", (int)n, chunk);
    fclose(f);
    *len = b.len;
    return b.p;
}

/* A random schema: scalars, arrays, pads and earlier structs as fields. */
static void random_schema(check_sb_t *b)
{
    static const char *const types[] = {"f32", "f64", "i8",  "u8",  "i16", "u16",
                                        "i32", "u32", "i64", "u64", "bool"};
    uint32_t ns = 1 + (uint32_t)(rnd() % 5);
    for (uint32_t s = 0; s < ns; s++) {
        check_sb_add(b, "struct T%u {", s);
        uint32_t nf = 1 + (uint32_t)(rnd() % 6);
        for (uint32_t f = 0; f < nf; f++) {
            uint32_t k = (uint32_t)(rnd() % 8);
            if (k == 0)
                check_sb_add(b, " _: pad[%u];", 1 + (unsigned)(rnd() % 9));
            else if (k <= 2 && s > 0)
                check_sb_add(b, " s%u: T%u", f, (unsigned)(rnd() % s));
            else
                check_sb_add(b, " v%u: %s", f, types[rnd() % 11]);
            if (k != 0)
                check_sb_add(b, rnd() % 3 == 0 ? "[%u];" : ";", 1 + (unsigned)(rnd() % 4));
        }
        check_sb_add(b, " }\n");
    }
}

/* What the C code says the Python script must print for one layout. */
static void expect_layout(check_sb_t *want, const sabre_layout_t *l)
{
    check_sb_add(want, "0x%016llx\nstruct %s size %u align %u\n", (unsigned long long)l->hash,
                 l->name, l->size, l->align);
    for (uint32_t c = 0; c < l->ncolumns; c++)
        check_sb_add(want, "%u %s %s\n", l->columns[c].offset,
                     sabre_scalar_name(l->columns[c].type), l->columns[c].name);
}

static void add_schema(check_sb_t *texts, check_sb_t *want, const char *text, size_t len,
                       unsigned *nlayouts)
{
    sabre_schema_t *s = NULL;
    sabre_schema_error_t e;
    int rc = sabre_schema_compile(text, len, &s, &e);
    if (rc != SABRE_OK)
        fprintf(stderr, "%.*s\n%u:%u: %s\n", (int)len, text, e.line, e.column, e.message);
    CHECK_OK(rc);
    for (uint32_t i = 0; i < sabre_schema_count(s); i++) {
        const sabre_layout_t *l = sabre_schema_at(s, i);
        check_sb_add(texts, "%s\n", l->canonical);
        expect_layout(want, l);
        (*nlayouts)++;
    }
    sabre_schema_free(s);
}

/* Runs `cmd`, returns its stdout; *status gets the exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    check_sb_t out = {0};
    char chunk[4096];
    size_t n;
    check_sb_add(&out, "%s", "");
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        check_sb_add(&out, "%.*s", (int)n, chunk);
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out.p;
}

static void check_against_python(void)
{
    check_sb_t texts = {0}, want = {0};
    unsigned nlayouts = 0;
    const char *fixed[] = {
        "struct Pos { x: f32; y: f32; }\n"
        "struct Bullet { pos: Pos; vel: Pos[3]; life: f32; tags: u8[4]; _: pad[4]; }",
        "struct A { a: u8; b: u64; c: u16; } struct B { f: bool; i: i64; g: bool; }",
        "struct V { x: f32; y: f32; } struct P { p: V; flag: u8; }\n"
        "struct W { a: u8; ps: P[2]; z: f64; }",
        "struct Q { a: u8; _: pad[3]; b: u32; _: pad[2]; } struct R { _: pad[1]; x: u16; }",
        "struct C { c: u8; } struct B { x: C; } struct Unused { u: u8; }\n"
        "struct A { b: B; c: C; d: u8; }",
        "struct M { m: f64[11]; one: u8[1]; } struct N { n: M[12]; }",
        "struct K { f32: f32; pad: u8; bool: bool; }",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        add_schema(&texts, &want, fixed[i], strlen(fixed[i]), &nlayouts);
    /* the example schemas */
    const char *examples[] = {"examples/bullet.schema", "examples/rollout.schema"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", src_dir, examples[i]);
        size_t len;
        char *text = read_file(path, &len);
        if (!text)
            fprintf(stderr, "cannot read %s\n", path);
        CHECK(text != NULL);
        add_schema(&texts, &want, text, len, &nlayouts);
        free(text);
    }
    unsigned long rounds = check_scale(300);
    for (unsigned long r = 0; r < rounds; r++) {
        check_sb_t sch = {0};
        random_schema(&sch);
        add_schema(&texts, &want, sch.p, sch.len, &nlayouts);
        free(sch.p);
    }

    char tmp[] = "/tmp/sabre_layout_py_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, texts.p, texts.len), (long long)texts.len);
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s/docs/layout_hash.py' --layout --lines < '%s'", src_dir,
             tmp);
    int status;
    char *got = run(cmd, &status);
    unlink(tmp);
    CHECK_EQ(status, 0);
    if (strcmp(got, want.p) != 0) {
        /* show the first differing line */
        size_t i = 0, line_start = 0;
        while (got[i] && got[i] == want.p[i]) {
            if (got[i] == '\n')
                line_start = i + 1;
            i++;
        }
        fprintf(stderr, "python and C disagree at:\n  python: %.120s\n  C:      %.120s\n",
                got + line_start, want.p + line_start);
    }
    CHECK(strcmp(got, want.p) == 0);
    printf("python agrees with C on %u layouts\n", nlayouts);
    free(got);
    free(texts.p);
    free(want.p);
}

/* Every golden vector in docs/schema.md: Python --check passes, and the C
 * compiler gives the same canonical text and hash. */
static void check_doc_vectors(void)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s/docs/layout_hash.py' --check '%s/docs/schema.md'",
             src_dir, src_dir);
    int status;
    char *out = run(cmd, &status);
    printf("%s", out);
    CHECK_EQ(status, 0);
    CHECK_STR_CONTAINS(out, "golden vectors checked, 0 wrong");
    free(out);

    char path[4096];
    snprintf(path, sizeof path, "%s/docs/schema.md", src_dir);
    size_t len;
    char *doc = read_file(path, &len);
    CHECK(doc != NULL);
    unsigned vectors = 0;
    for (char *line = doc; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        /* a table row: | n | `struct ...` | `0x...` | */
        char *t = strstr(line, "`struct ");
        char *h = t ? strstr(t + 1, "` | `0x") : NULL;
        if (line[0] == '|' && t && h) {
            char text[2048];
            size_t tl = (size_t)(h - (t + 1));
            CHECK(tl < sizeof text);
            memcpy(text, t + 1, tl);
            text[tl] = '\0';
            unsigned long long hash = strtoull(h + 5, NULL, 16);
            sabre_schema_t *s = NULL;
            CHECK_OK(sabre_schema_compile(text, tl, &s, NULL));
            const sabre_layout_t *root = sabre_schema_root(s);
            if (strcmp(root->canonical, text) != 0 || root->hash != hash)
                fprintf(stderr, "doc vector %s: C gives %s 0x%016llx\n", text, root->canonical,
                        (unsigned long long)root->hash);
            CHECK(strcmp(root->canonical, text) == 0);
            CHECK(root->hash == hash);
            sabre_schema_free(s);
            vectors++;
        }
        line = end ? end + 1 : NULL;
    }
    CHECK(vectors >= 10);
    printf("C agrees with the %u golden vectors of docs/schema.md\n", vectors);
    free(doc);
}

int main(void)
{
    src_dir = getenv("SABRE_SOURCE_DIR");
    if (!src_dir || !*src_dir) {
        fprintf(stderr, "FAILED: SABRE_SOURCE_DIR is not set (CTest sets it to the source "
                        "tree); run this test through ctest\n");
        return 1;
    }
    if (system("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)' "
               ">/dev/null 2>&1") != 0) {
        fprintf(stderr, "FAILED: python3 (3.6 or newer) is not installed or not on PATH; this "
                        "test checks the C layout hash against docs/layout_hash.py and cannot "
                        "pass without it (scripts/deps.sh installs python3)\n");
        return 1;
    }
    check_against_python();
    check_doc_vectors();
    return check_done();
}
