// SABRE_TEST_LABELS: unit
/* Layout: bad schemas give SABRE_ESCHEMA with the exact line and column and
 * what was expected; limits give errors, never crashes; random and mutated
 * texts never crash and either compile to a consistent layout or fail with
 * a position inside the text. */
#include <stdarg.h>

#include "check.h"
#include "sabre/layout.h"

struct bad {
    const char *text;
    uint32_t line, col;
    const char *msg;
};

static const struct bad bads[] = {
    {"", 1, 1, "expected 'struct', found end of input"},
    {"// only a comment\n", 2, 1, "expected 'struct', found end of input"},
    {"strct A { a: u8; }", 1, 1, "expected 'struct', found 'strct'"},
    {"struct { a: u8; }", 1, 8, "expected a struct name after 'struct', found '{'"},
    {"struct 9A { a: u8; }", 1, 8, "invalid number '9A' (numbers are decimal; names start"},
    {"struct A a: u8; }", 1, 10, "expected '{' after struct name 'A', found 'a'"},
    {"struct A { a = u8; }", 1, 14, "expected ':' after field name 'a', found '='"},
    {"struct A { a: ; }", 1, 15, "expected a type after 'a:', found ';'"},
    {"struct A { a: Foo; }", 1, 15, "unknown type 'Foo' (a struct must be defined before"},
    {"struct A { a: A; }", 1, 15, "struct 'A' cannot contain itself"},
    {"struct A { a: u8 }", 1, 18, "expected ';' after field 'a', found '}'"},
    {"struct A { a: u8;", 1, 18, "expected field name or '}', found end of input"},
    {"struct A { a: u8; }\nstruct A { b: u8; }", 2, 8,
     "duplicate struct 'A' (first defined at line 1, column 8)"},
    {"struct A {\n  a: u8;\n  a: u16;\n}", 3, 3,
     "duplicate field 'a' in struct 'A' (first at line 2, column 3)"},
    {"struct A { a: u8[0]; }", 1, 18, "array length must be at least 1, found '0'"},
    {"struct A { a: u8[99999999999999999999999]; }", 1, 18,
     "array length 99999999999999999999999 is too large (at most 2147483647)"},
    {"struct A { a: u8[2147483648]; }", 1, 18, "array length 2147483648 is too large"},
    {"struct A { a: u8[x]; }", 1, 18, "expected an array length after '[', found 'x'"},
    {"struct A { a: u8[-1]; }", 1, 18, "expected an array length after '[', found '-'"},
    {"struct A { a: u8[3; }", 1, 19, "expected ']' after array length, found ';'"},
    {"struct A { a: u16[0x10]; }", 1, 19, "invalid number '0x10'"},
    {"struct A { _: pad; }", 1, 18, "expected '[' after 'pad'"},
    {"struct A { p: pad[4]; }", 1, 12, "padding must be named '_'"},
    {"struct A { _: f32; }", 1, 12, "the field name '_' is reserved for padding"},
    {"struct A { _: pad[0]; }", 1, 19, "array length must be at least 1"},
    {"struct A { a: u8; }\n/* open\n comment", 2, 1, "unterminated block comment"},
    {"struct A { a: u8; } /", 1, 21, "expected 'struct', found '/'"},
    {"struct A {\n\ta@: u8; }", 2, 3, "expected ':' after field name 'a', found '@'"},
    {"struct A { a: u8;\x01 }", 1, 18, "expected field name or '}', found byte 0x01"},
    {"struct A { a: u8;\xc3\xa9 }", 1, 18, "found byte 0xc3"},
    {"struct f32 { a: u8; }", 1, 8, "'f32' is a reserved word"},
    {"struct pad { a: u8; }", 1, 8, "'pad' is a reserved word"},
    {"struct struct { a: u8; }", 1, 8, "'struct' is a reserved word"},
    {"struct A { struct B { b: u8; } }", 1, 12, "struct definitions cannot be nested"},
    {"struct A { a: u8[2][3]; }", 1, 20, "expected ';' after field 'a', found '['"},
    {"struct A { a: u8; } ;", 1, 21, "expected 'struct', found ';'"},
    {"struct A { a: u8; }}", 1, 20, "expected 'struct', found '}'"},
    {"struct A { }", 1, 12, "struct 'A' is empty"},
    {"struct A {\n}\n", 2, 1, "struct 'A' is empty"},
    {"struct A { a: F32; }", 1, 15, "unknown type 'F32'"},
    {"struct A { a: u8; }\nstruct B {\n  x: C;\n}\nstruct C { c: u8; }", 3, 6,
     "unknown type 'C' (a struct must be defined before it is used)"},
    {"struct B { b: u8; }\nstruct A { a_b: u8; a: B; }", 2, 21,
     "column 'a_b' of field 'a' collides with the column of the same name made by field 'a_b'"},
    {"struct A { t: u8[2]; t_1: u8; }", 1, 22, "column 't_1' of field 't_1' collides"},
    {"struct A { a: f64[300000000]; }", 1, 12,
     "struct 'A' is too large: field 'a' ends at byte 2400000000 (at most 2147483647)"},
    {"struct A { x: u8; _: pad[1999999999]; }\nstruct B { x: u8; a: A[2]; }", 2, 19,
     "struct 'B' is too large: field 'a' ends at byte 4000000001"},
    /* the last field fits but rounding the size up to the alignment does not */
    {"struct A { a: u32; _: pad[2147483643]; }", 1, 40, "struct 'A' is too large"},
    {"struct A { a: f32[65537]; }", 1, 12,
     "struct 'A' has too many columns: 65537 with field 'a' (at most 65536)"},
    {"struct A { a: f32[256]; }\nstruct B { a: A[256]; b: u8; }", 2, 23,
     "struct 'B' has too many columns: 65537 with field 'b'"},
    {"struct A { a: u8; }\n  struct B { b: A; } garbage", 2, 22,
     "expected 'struct', found 'garbage'"},
};

static void check_table(void)
{
    size_t n = sizeof bads / sizeof bads[0];
    CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        const struct bad *b = &bads[i];
        sabre_schema_t *s = (sabre_schema_t *)&n; /* must be reset to NULL */
        sabre_schema_error_t e;
        sabre_clear_error();
        int rc = sabre_schema_compile(b->text, strlen(b->text), &s, &e);
        if (rc != SABRE_ESCHEMA || e.line != b->line || e.column != b->col ||
            !strstr(e.message, b->msg))
            fprintf(stderr, "case %zu: %s\n  got rc %d at %u:%u: %s\n  want %u:%u: %s\n", i,
                    b->text, rc, e.line, e.column, e.message, b->line, b->col, b->msg);
        CHECK_EQ(rc, SABRE_ESCHEMA);
        CHECK(s == NULL);
        CHECK_EQ(e.line, b->line);
        CHECK_EQ(e.column, b->col);
        CHECK_STR_CONTAINS(e.message, b->msg);
        char want[64];
        snprintf(want, sizeof want, "line %u, column %u: ", b->line, b->col);
        CHECK(strncmp(sabre_last_error(), want, strlen(want)) == 0);
        CHECK_STR_CONTAINS(sabre_last_error(), b->msg);
        /* err may be NULL */
        CHECK_ERR(sabre_schema_compile(b->text, strlen(b->text), &s, NULL), SABRE_ESCHEMA);
    }
}

static int compile_err(const char *text, size_t len, sabre_schema_error_t *e)
{
    sabre_schema_t *s = NULL;
    int rc = sabre_schema_compile(text, len, &s, e);
    sabre_schema_free(s);
    return rc;
}

static void check_limits(void)
{
    sabre_schema_error_t e;
    check_sb_t b = {0};

    /* identifiers: 63 bytes fine, 64 an error */
    char id[80];
    memset(id, 'q', 64);
    id[63] = '\0';
    check_sb_add(&b, "struct %s { %s: u8; }", id, id);
    CHECK_OK(compile_err(b.p, b.len, &e));
    b.len = 0;
    id[63] = 'q';
    id[64] = '\0';
    check_sb_add(&b, "struct A { %s: u8; }", id);
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 1);
    CHECK_EQ(e.column, 12);
    CHECK_STR_CONTAINS(e.message, "is too long (64 bytes, at most 63)");
    b.len = 0;
    check_sb_add(&b, "struct %s%s%s { a: u8; }", id, id, id);
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.column, 8);

    /* nesting depth: 64 levels fine, 65 an error at the type */
    b.len = 0;
    check_sb_add(&b, "struct S0 { a: u8; }\n");
    for (int i = 1; i < 64; i++)
        check_sb_add(&b, "struct S%d { a: S%d; }\n", i, i - 1);
    sabre_schema_t *s = NULL;
    CHECK_OK(sabre_schema_compile(b.p, b.len, &s, &e));
    CHECK_STR_CONTAINS(sabre_schema_root(s)->columns[0].name, "a_a_a_a_a");
    CHECK_EQ(strlen(sabre_schema_root(s)->columns[0].name), 64 * 2 - 1);
    sabre_schema_free(s);
    check_sb_add(&b, "struct S64 { a: S63; }\n");
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 65);
    CHECK_EQ(e.column, 17);
    CHECK_STR_CONTAINS(e.message, "nesting too deep: 'S64' would be 65 levels deep (at most 64)");

    /* flattened column names: at most 255 bytes */
    b.len = 0;
    memset(id, 'n', 63);
    id[63] = '\0';
    check_sb_add(&b, "struct A { %s: u8; }\nstruct B { %s: A; }\nstruct C { %s: B; }\n", id, id,
                 id);
    CHECK_OK(compile_err(b.p, b.len, &e));         /* 191 bytes */
    check_sb_add(&b, "struct D { %s: C; }\n", id); /* 255 */
    CHECK_OK(compile_err(b.p, b.len, &e));
    check_sb_add(&b, "struct E { x: D[2]; }\n"); /* 259 */
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 5);
    CHECK_EQ(e.column, 12);
    CHECK_STR_CONTAINS(e.message, "(259 bytes, at most 255)");

    /* number of structs */
    b.len = 0;
    for (int i = 0; i < 1024; i++)
        check_sb_add(&b, "struct S%d{a:u8;}\n", i);
    CHECK_OK(compile_err(b.p, b.len, &e));
    check_sb_add(&b, "struct S1024{a:u8;}\n");
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 1025);
    CHECK_EQ(e.column, 8);
    CHECK_STR_CONTAINS(e.message, "too many structs (at most 1024)");

    /* fields per struct (padding counts) */
    b.len = 0;
    check_sb_add(&b, "struct A {\n");
    for (int i = 0; i < 4095; i++)
        check_sb_add(&b, "f%d: u8;\n", i);
    check_sb_add(&b, "_: pad[1];\n");
    size_t keep = b.len;
    check_sb_add(&b, "}\n");
    CHECK_OK(compile_err(b.p, b.len, &e));
    b.len = keep;
    check_sb_add(&b, "last: u8; }\n");
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 4098);
    CHECK_EQ(e.column, 1);
    CHECK_STR_CONTAINS(e.message, "too many fields in struct 'A' (at most 4096)");

    /* columns in the whole schema */
    b.len = 0;
    check_sb_add(&b, "struct A { a: u8[65536]; }\n");
    for (int i = 1; i < 16; i++)
        check_sb_add(&b, "struct B%d { a: A; }\n", i);
    CHECK_OK(compile_err(b.p, b.len, &e)); /* exactly 2^20 */
    check_sb_add(&b, "struct Z { a: u8; }\n");
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 17);
    CHECK_EQ(e.column, 8);
    CHECK_STR_CONTAINS(e.message, "schema has too many columns: 1048577 with struct 'Z'");

    /* names plus canonical texts: a big struct used by a chain of others */
    b.len = 0;
    check_sb_add(&b, "struct A {\n");
    for (int i = 0; i < 4096; i++)
        check_sb_add(&b, "%.58s%05d: u8;\n", id, i);
    check_sb_add(&b, "}\n");
    for (int i = 0; i < 200; i++)
        check_sb_add(&b, "struct B%d { a: A; }\n", i);
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_STR_CONTAINS(e.message, "schema too large");
    CHECK_EQ(e.column, 8);

    /* text size */
    b.len = 0;
    check_sb_add(&b, "struct A { a: u8; }");
    while (b.len <= SABRE_SCHEMA_MAX_TEXT)
        check_sb_add(&b, "%1000s", "");
    CHECK_ERR(compile_err(b.p, b.len, &e), SABRE_ESCHEMA);
    CHECK_EQ(e.line, 0);
    CHECK_STR_CONTAINS(e.message, "at most 1048576");
    CHECK_STR_CONTAINS(sabre_last_error(), "schema text is");
    CHECK_OK(compile_err(b.p, SABRE_SCHEMA_MAX_TEXT, &e)); /* exactly 1 MiB is fine */

    /* the largest struct: 2^31 - 1 bytes */
    CHECK_OK(compile_err("struct A { _: pad[2147483647]; }", 32, &e));
    free(b.p);
}

/* Tiny deterministic PRNG (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    return check_xorshift(&rng_state);
}

static void check_position(const char *text, size_t len, const sabre_schema_error_t *e)
{
    /* the reported position lies inside the text (or just past its end) */
    uint32_t line = 1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            line++;
            start = i + 1;
        }
    CHECK(e->line >= 1 && e->line <= line);
    CHECK(e->column >= 1);
    if (e->line == line)
        CHECK(e->column <= len - start + 1);
    CHECK(e->message[0] != '\0');
}

static void check_layout_invariants(const sabre_schema_t *s)
{
    for (uint32_t i = 0; i < sabre_schema_count(s); i++) {
        const sabre_layout_t *l = sabre_schema_at(s, i);
        CHECK(l->align && (l->align & (l->align - 1)) == 0 && l->align <= 8);
        CHECK(l->size % l->align == 0);
        for (uint32_t f = 0; f < l->nfields; f++) {
            const sabre_field_t *fd = &l->fields[f];
            CHECK(fd->offset % fd->align == 0);
            CHECK((uint64_t)fd->offset + fd->size <= l->size);
            CHECK_EQ(fd->size, (uint64_t)fd->stride * fd->count);
        }
        for (uint32_t c = 0; c < l->ncolumns; c++) {
            const sabre_column_t *col = &l->columns[c];
            CHECK(col->offset % col->size == 0);
            CHECK(col->offset + col->size <= l->size);
            if (c)
                CHECK(col->offset >= l->columns[c - 1].offset + l->columns[c - 1].size);
        }
        sabre_schema_t *r = NULL;
        CHECK_OK(sabre_schema_compile(l->canonical, l->canonical_len, &r, NULL));
        CHECK(sabre_schema_root(r)->hash == l->hash);
        sabre_schema_free(r);
    }
}

static const char *pieces[] = {
    "struct ",
    "A",
    "B",
    "C",
    " ",
    "{",
    "}",
    ":",
    ";",
    "[",
    "]",
    "u8",
    "f32",
    "f64",
    "i64",
    "bool",
    "pad",
    "_",
    "x",
    "y",
    "2",
    "3",
    "0",
    "\n",
    "//c\n",
    "/*",
    "*/",
    "A[2]",
    "x: f32;",
    "y: B;",
    "_: pad[3];",
    "struct A { a: u8; }",
    "struct B { b: A[2]; c: u16; }",
    "\t",
    "@",
    "99999999999",
    "\0",
};

static void check_random(void)
{
    unsigned long rounds = check_scale(20000);
    char text[512];
    unsigned compiled = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        size_t len = 0;
        size_t npieces = 1 + rnd() % 24;
        for (size_t p = 0; p < npieces; p++) {
            size_t k = rnd() % (sizeof pieces / sizeof pieces[0]);
            const char *pc = pieces[k];
            size_t pl = pc[0] ? strlen(pc) : 1;
            if (len + pl > sizeof text)
                break;
            memcpy(text + len, pc, pl);
            len += pl;
        }
        sabre_schema_t *s = NULL;
        sabre_schema_error_t e;
        int rc = sabre_schema_compile(text, len, &s, &e);
        if (rc == SABRE_OK) {
            compiled++;
            check_layout_invariants(s);
        } else {
            CHECK_EQ(rc, SABRE_ESCHEMA);
            check_position(text, len, &e);
        }
        sabre_schema_free(s);
    }
    /* mutations of a valid schema: delete, duplicate or replace one byte */
    static const char base[] = "struct Pos { x: f32; y: f32; }\n"
                               "struct Bullet { pos: Pos; vel: Pos[3]; life: f32; tags: u8[4];"
                               " _: pad[4]; id: u64; }\n";
    const size_t blen = sizeof base - 1;
    unsigned long mutations = check_scale(20000);
    for (unsigned long r = 0; r < mutations; r++) {
        char t[sizeof base + 1];
        size_t len = blen, at = rnd() % blen;
        memcpy(t, base, blen);
        switch (rnd() % 3) {
        case 0:
            memmove(t + at, t + at + 1, blen - at - 1);
            len--;
            break;
        case 1:
            memmove(t + at + 1, t + at, blen - at);
            len++;
            break;
        default:
            t[at] = "{}:;[]_ xa0\n/*9"[rnd() % 15];
            break;
        }
        sabre_schema_t *s = NULL;
        sabre_schema_error_t e;
        int rc = sabre_schema_compile(t, len, &s, &e);
        if (rc == SABRE_OK) {
            compiled++;
            check_layout_invariants(s);
        } else {
            CHECK_EQ(rc, SABRE_ESCHEMA);
            check_position(t, len, &e);
        }
        sabre_schema_free(s);
    }
    CHECK(compiled > 0);
}

int main(void)
{
    check_table();
    check_limits();
    check_random();
    return check_done();
}
