// SABRE_TEST_LABELS: unit
/* Layout: scalars, golden layouts (offsets, sizes, alignments, flattened
 * names), canonical text and hash golden vectors, lookups. */
#include "check.h"
#include "sabre/layout.h"

static sabre_schema_t *compile(const char *text)
{
    sabre_schema_t *s = NULL;
    sabre_schema_error_t e;
    int rc = sabre_schema_compile(text, strlen(text), &s, &e);
    if (rc != SABRE_OK) {
        fprintf(stderr, "compile failed: line %u col %u: %s\n  in: %s\n", e.line, e.column,
                e.message, text);
        exit(1);
    }
    return s;
}

/* "name:type@offset ..." for every column of a layout. */
static const char *columns_str(const sabre_layout_t *l)
{
    static char buf[8192];
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < l->ncolumns; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s:%s@%u", i ? " " : "",
                              l->columns[i].name, sabre_scalar_name(l->columns[i].type),
                              l->columns[i].offset);
    return buf;
}

struct golden {
    const char *text;
    const char *name; /* struct to check; NULL = root */
    uint32_t size, align, nfields;
    const char *columns;
};

static const struct golden goldens[] = {
    {"struct Pos { x: f32; y: f32; }", "Pos", 8, 4, 2, "x:f32@0 y:f32@4"},
    /* the Bullet */
    {"struct Pos { x: f32; y: f32; }\n"
     "struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; }",
     NULL, 24, 4, 4,
     "pos_x:f32@0 pos_y:f32@4 vel_x:f32@8 vel_y:f32@12 life:f32@16 "
     "tags_0:u8@20 tags_1:u8@21 tags_2:u8@22 tags_3:u8@23"},
    /* arrays of structs */
    {"struct Pos { x: f32; y: f32; } struct S { vel: Pos[3]; n: u16; }", NULL, 28, 4, 2,
     "vel_0_x:f32@0 vel_0_y:f32@4 vel_1_x:f32@8 vel_1_y:f32@12 vel_2_x:f32@16 vel_2_y:f32@20 "
     "n:u16@24"},
    /* natural alignment: u8 then u64 then u16 */
    {"struct A { a: u8; b: u64; c: u16; }", NULL, 24, 8, 3, "a:u8@0 b:u64@8 c:u16@16"},
    /* i64 alignment and bool */
    {"struct B { f: bool; i: i64; g: bool; }", NULL, 24, 8, 3, "f:bool@0 i:i64@8 g:bool@16"},
    /* every scalar */
    {"struct T { a: i8; b: u8; c: i16; d: u16; e: i32; f: u32; g: f32; h: i64; i: u64; "
     "j: f64; k: bool; }",
     NULL, 56, 8, 11,
     "a:i8@0 b:u8@1 c:i16@2 d:u16@4 e:i32@8 f:u32@12 g:f32@16 h:i64@24 i:u64@32 j:f64@40 "
     "k:bool@48"},
    /* three levels, array of a struct with tail padding */
    {"struct V { x: f32; y: f32; } struct P { p: V; flag: u8; }\n"
     "struct W { a: u8; ps: P[2]; z: f64; }",
     NULL, 40, 8, 3,
     "a:u8@0 ps_0_p_x:f32@4 ps_0_p_y:f32@8 ps_0_flag:u8@12 ps_1_p_x:f32@16 ps_1_p_y:f32@20 "
     "ps_1_flag:u8@24 z:f64@32"},
    {"struct V { x: f32; y: f32; } struct P { p: V; flag: u8; }", "P", 12, 4, 2,
     "p_x:f32@0 p_y:f32@4 flag:u8@8"},
    /* explicit padding: no column, alignment 1 */
    {"struct Q { a: u8; _: pad[3]; b: u32; _: pad[2]; }", NULL, 12, 4, 4, "a:u8@0 b:u32@4"},
    {"struct R { _: pad[1]; x: u16; }", NULL, 4, 2, 2, "x:u16@2"},
    {"struct R { _: pad[5]; }", NULL, 5, 1, 1, ""},
    /* a huge array of a padding-only struct: no columns, and no time spent per element */
    {"struct P { _: pad[1]; } struct Q { p: P[2000000000]; a: u8; }", NULL, 2000000001, 1, 2,
     "a:u8@2000000000"},
    /* struct with tail padding used as an array element */
    {"struct S { a: u32; b: u8; } struct T { s: S[2]; c: u8; }", NULL, 20, 4, 2,
     "s_0_a:u32@0 s_0_b:u8@4 s_1_a:u32@8 s_1_b:u8@12 c:u8@16"},
    /* [1] is an array: the column keeps its index */
    {"struct O { one: u8[1]; two: f64; }", NULL, 16, 8, 2, "one_0:u8@0 two:f64@8"},
    /* u16 and i16 arrays */
    {"struct H { a: u8; v: i16[3]; w: u16; }", NULL, 10, 2, 3,
     "a:u8@0 v_0:i16@2 v_1:i16@4 v_2:i16@6 w:u16@8"},
    /* array index with two digits */
    {"struct M { m: f64[11]; }", NULL, 88, 8, 1,
     "m_0:f64@0 m_1:f64@8 m_2:f64@16 m_3:f64@24 m_4:f64@32 m_5:f64@40 m_6:f64@48 m_7:f64@56 "
     "m_8:f64@64 m_9:f64@72 m_10:f64@80"},
    /* names that look like keywords are fine as field names */
    {"struct K { f32: f32; pad: u8; bool: bool; }", NULL, 8, 4, 3,
     "f32:f32@0 pad:u8@4 bool:bool@5"},
};

/* Canonical text and hash golden vectors (the same as docs/schema.md). */
struct vector {
    const char *text;
    const char *name;
    const char *canonical;
    uint64_t hash;
};

static const struct vector vectors[] = {
    {"struct Pos { x: f32; y: f32; }", "Pos", "struct Pos{x:f32;y:f32;}", 0xb3fa23b1cc629839ull},
    {"// a bullet\nstruct Pos {\n  x: f32; // metres\n  y: f32;\n}\n"
     "struct Bullet {\n  pos: Pos;\n  vel: Pos; /* m/s */\n  life: f32;\n  tags: u8[4];\n"
     "  _: pad[4];\n}\n",
     "Bullet",
     "struct Pos{x:f32;y:f32;}struct Bullet{pos:Pos;vel:Pos;life:f32;tags:u8[4];_:pad[4];}",
     0xeb61bfbbda678f69ull},
    {"struct T { a: i8; b: u8; c: i16; d: u16; e: i32; f: u32; g: f32; h: i64; i: u64; "
     "j: f64; k: bool; }",
     "T", "struct T{a:i8;b:u8;c:i16;d:u16;e:i32;f:u32;g:f32;h:i64;i:u64;j:f64;k:bool;}",
     0x57a2351f9eb5d386ull},
    /* dependencies first, in first-use order; unused structs left out */
    {"struct C { c: u8; } struct B { x: C; } struct Unused { u: u8; }\n"
     "struct A { b: B; c: C; d: u8; }",
     "A", "struct C{c:u8;}struct B{x:C;}struct A{b:B;c:C;d:u8;}", 0x1addc2d50254e847ull},
    {"struct V { x: f32; y: f32; } struct P { p: V; flag: u8; }\n"
     "struct W { a: u8; ps: P[2]; z: f64; }",
     "W", "struct V{x:f32;y:f32;}struct P{p:V;flag:u8;}struct W{a:u8;ps:P[2];z:f64;}",
     0xa09ae3e5491497a1ull},
    {"struct Q { a: u8; _: pad[3]; b: u32; _: pad[2]; }", "Q",
     "struct Q{a:u8;_:pad[3];b:u32;_:pad[2];}", 0xfd7c35d7866158b8ull},
    {"struct A { a: u8; b: u64; c: u16; }", "A", "struct A{a:u8;b:u64;c:u16;}",
     0x6ccc703288982838ull},
    {"struct Pos { x: f32; y: f32; } struct S { vel: Pos[3]; n: u16; }", "S",
     "struct Pos{x:f32;y:f32;}struct S{vel:Pos[3];n:u16;}", 0x6b973e5f1441b71dull},
    {"struct K { f32: f32; pad: u8; bool: bool; }", "K", "struct K{f32:f32;pad:u8;bool:bool;}",
     0x7f4317e1d935f6e4ull},
    {"struct Action { throttle: f32; steer: f32; }", "Action",
     "struct Action{throttle:f32;steer:f32;}", 0xdf70384474e3f031ull},
};

static void check_fields(void)
{
    sabre_schema_t *s = compile("struct Pos { x: f32; y: f32; }\n"
                                "struct E { a: u8; p: Pos[3]; _: pad[2]; t: u16[4]; q: Pos; }");
    const sabre_layout_t *e = sabre_schema_root(s);
    CHECK_EQ(e->nfields, 5);
    const sabre_field_t *f = e->fields;
    CHECK(strcmp(f[0].name, "a") == 0 && f[0].kind == SABRE_FIELD_SCALAR);
    CHECK_EQ(f[0].scalar, SABRE_U8);
    CHECK(!f[0].is_array);
    CHECK_EQ(f[0].count, 1);
    CHECK(f[0].type == NULL);
    CHECK_EQ(f[1].kind, SABRE_FIELD_STRUCT);
    CHECK(f[1].type == sabre_schema_find(s, "Pos"));
    CHECK(f[1].is_array);
    CHECK_EQ(f[1].count, 3);
    CHECK_EQ(f[1].offset, 4);
    CHECK_EQ(f[1].stride, 8);
    CHECK_EQ(f[1].size, 24);
    CHECK_EQ(f[1].align, 4);
    CHECK_EQ(f[2].kind, SABRE_FIELD_PAD);
    CHECK(strcmp(f[2].name, "_") == 0);
    CHECK_EQ(f[2].offset, 28);
    CHECK_EQ(f[2].size, 2);
    CHECK_EQ(f[2].count, 2);
    CHECK_EQ(f[2].align, 1);
    CHECK_EQ(f[3].offset, 30);
    CHECK_EQ(f[3].stride, 2);
    CHECK_EQ(f[3].size, 8);
    CHECK_EQ(f[4].offset, 40);
    CHECK(!f[4].is_array);
    CHECK_EQ(e->size, 48);
    CHECK_EQ(e->align, 4);
    sabre_schema_free(s);
}

static void check_lookups(void)
{
    sabre_schema_t *s = compile("struct Pos { x: f32; y: f32; }\n"
                                "struct Bullet { pos: Pos; vel: Pos; life: f32; }\n"
                                "struct Last { b: Bullet[2]; }");
    CHECK_EQ(sabre_schema_count(s), 3);
    CHECK(strcmp(sabre_schema_at(s, 0)->name, "Pos") == 0);
    CHECK(strcmp(sabre_schema_at(s, 1)->name, "Bullet") == 0);
    CHECK(sabre_schema_at(s, 3) == NULL);
    CHECK(sabre_schema_root(s) == sabre_schema_at(s, 2));
    CHECK(sabre_schema_find(s, "Bullet") == sabre_schema_at(s, 1));
    CHECK(sabre_schema_find(s, "bullet") == NULL);
    CHECK(sabre_schema_find(s, NULL) == NULL);
    const sabre_layout_t *last = sabre_schema_root(s);
    const sabre_column_t *c = sabre_layout_column(last, "b_1_vel_y");
    CHECK(c != NULL);
    CHECK_EQ(c->offset, 20 + 12);
    CHECK_EQ(c->type, SABRE_F32);
    CHECK_EQ(c->size, 4);
    CHECK(sabre_layout_column(last, "b_2_vel_y") == NULL);
    CHECK(sabre_layout_column(last, "b_1") == NULL);
    CHECK(sabre_layout_column(NULL, "x") == NULL);
    CHECK_EQ(sabre_schema_count(NULL), 0);
    CHECK(sabre_schema_root(NULL) == NULL);
    CHECK(sabre_schema_at(NULL, 0) == NULL);
    sabre_schema_free(NULL);

    /* bad arguments */
    sabre_schema_t *out = (sabre_schema_t *)1;
    CHECK_ERR(sabre_schema_compile(NULL, 5, &out, NULL), SABRE_EINVAL);
    CHECK(out == NULL);
    CHECK_ERR(sabre_schema_compile("struct A{a:u8;}", 15, NULL, NULL), SABRE_EINVAL);
    /* text need not be NUL-terminated: only len bytes are read */
    const char buf[] = {'s', 't', 'r', 'u', 'c', 't', ' ', 'A',
                        '{', 'a', ':', 'u', '8', ';', '}', '@'};
    CHECK_OK(sabre_schema_compile(buf, 15, &out, NULL));
    CHECK_EQ(sabre_schema_root(out)->size, 1);
    sabre_schema_free(out);
    sabre_schema_free(s);
}

static void check_scalars(void)
{
    static const struct {
        sabre_scalar_t t;
        const char *name;
        size_t size;
    } sc[] = {{SABRE_F32, "f32", 4}, {SABRE_F64, "f64", 8},  {SABRE_I8, "i8", 1},
              {SABRE_U8, "u8", 1},   {SABRE_I16, "i16", 2},  {SABRE_U16, "u16", 2},
              {SABRE_I32, "i32", 4}, {SABRE_U32, "u32", 4},  {SABRE_I64, "i64", 8},
              {SABRE_U64, "u64", 8}, {SABRE_BOOL, "bool", 1}};
    CHECK_EQ(sizeof sc / sizeof sc[0], SABRE_SCALAR_COUNT - 1);
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        CHECK_EQ(sabre_scalar_size(sc[i].t), sc[i].size);
        CHECK(strcmp(sabre_scalar_name(sc[i].t), sc[i].name) == 0);
        CHECK_EQ(sabre_scalar_parse(sc[i].name, strlen(sc[i].name)), sc[i].t);
    }
    CHECK_EQ(sabre_scalar_size(SABRE_SCALAR_NONE), 0);
    CHECK_EQ(sabre_scalar_size((sabre_scalar_t)99), 0);
    CHECK_EQ(sabre_scalar_size((sabre_scalar_t)-1), 0);
    CHECK(strcmp(sabre_scalar_name(SABRE_SCALAR_NONE), "?") == 0);
    CHECK(strcmp(sabre_scalar_name((sabre_scalar_t)42), "?") == 0);
    CHECK_EQ(sabre_scalar_parse("f3", 2), SABRE_SCALAR_NONE);
    CHECK_EQ(sabre_scalar_parse("f32x", 4), SABRE_SCALAR_NONE);
    CHECK_EQ(sabre_scalar_parse("f32x", 3), SABRE_F32); /* only len bytes count */
    CHECK_EQ(sabre_scalar_parse("F32", 3), SABRE_SCALAR_NONE);
    CHECK_EQ(sabre_scalar_parse(NULL, 0), SABRE_SCALAR_NONE);
    CHECK_EQ(sabre_scalar_parse("pad", 3), SABRE_SCALAR_NONE);
}

static void check_goldens(void)
{
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        const struct golden *g = &goldens[i];
        sabre_schema_t *s = compile(g->text);
        const sabre_layout_t *l = g->name ? sabre_schema_find(s, g->name) : sabre_schema_root(s);
        CHECK(l != NULL);
        if (l->size != g->size || l->align != g->align || l->nfields != g->nfields ||
            strcmp(columns_str(l), g->columns) != 0) {
            fprintf(stderr, "golden %zu: %s\n  got size %u align %u nfields %u\n  %s\n", i, g->text,
                    l->size, l->align, l->nfields, columns_str(l));
            fprintf(stderr, "  want size %u align %u nfields %u\n  %s\n", g->size, g->align,
                    g->nfields, g->columns);
        }
        CHECK_EQ(l->size, g->size);
        CHECK_EQ(l->align, g->align);
        CHECK_EQ(l->nfields, g->nfields);
        CHECK(strcmp(columns_str(l), g->columns) == 0);
        for (uint32_t c = 0; c < l->ncolumns; c++)
            CHECK_EQ(l->columns[c].size, sabre_scalar_size(l->columns[c].type));
        sabre_schema_free(s);
    }
}

static void check_vectors(void)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vector *v = &vectors[i];
        sabre_schema_t *s = compile(v->text);
        const sabre_layout_t *l = sabre_schema_find(s, v->name);
        CHECK(l != NULL);
        if (strcmp(l->canonical, v->canonical) != 0 || l->hash != v->hash)
            fprintf(stderr, "vector %zu: got %s 0x%016llx\n", i, l->canonical,
                    (unsigned long long)l->hash);
        CHECK(strcmp(l->canonical, v->canonical) == 0);
        CHECK_EQ(l->canonical_len, strlen(v->canonical));
        CHECK(l->hash == v->hash);
        CHECK(sabre_layout_hash_text(v->canonical, strlen(v->canonical)) == v->hash);

        /* the canonical text is itself a schema with the same root */
        sabre_schema_t *s2 = compile(l->canonical);
        const sabre_layout_t *r = sabre_schema_root(s2);
        CHECK(strcmp(r->name, l->name) == 0);
        CHECK(strcmp(r->canonical, l->canonical) == 0);
        CHECK(r->hash == l->hash);
        CHECK_EQ(r->size, l->size);
        CHECK(strcmp(columns_str(r), columns_str(l)) == 0);
        sabre_schema_free(s2);
        sabre_schema_free(s);
    }
    CHECK(sabre_layout_hash_text("", 0) == 0xcbf29ce484222325ull);
    CHECK(sabre_layout_hash_text(NULL, 0) == 0xcbf29ce484222325ull);

    /* first-use order: Y is used before X */
    sabre_schema_t *s = compile("struct X { x: u8; } struct Y { y: u8; } struct Z { y: Y; x: X; "
                                "y2: Y[2]; }");
    CHECK(strcmp(sabre_schema_root(s)->canonical,
                 "struct Y{y:u8;}struct X{x:u8;}struct Z{y:Y;x:X;y2:Y[2];}") == 0);
    sabre_schema_free(s);

    /* a change of type, name, count or order changes the hash */
    const char *variants[] = {
        "struct A { a: f32; b: f32; }",    "struct A { a: f64; b: f32; }",
        "struct A { b: f32; a: f32; }",    "struct B { a: f32; b: f32; }",
        "struct A { a: f32[1]; b: f32; }", "struct A { a: f32; b: f32; _: pad[1]; }",
        "struct A { a: f32; bb: f32; }",   "struct A { a: i32; b: f32; }",
    };
    uint64_t hashes[8];
    for (int i = 0; i < 8; i++) {
        s = compile(variants[i]);
        hashes[i] = sabre_schema_root(s)->hash;
        for (int j = 0; j < i; j++)
            CHECK(hashes[j] != hashes[i]);
        sabre_schema_free(s);
    }
    /* whitespace and comments do not */
    s = compile("/* c */ struct\tA\n{\r\n a :f32 ;// x\n b\n:\nf32\n;\n}\n// end");
    CHECK(sabre_schema_root(s)->hash == hashes[0]);
    sabre_schema_free(s);
    /* leading zeros in an array length are normalised */
    s = compile("struct A { a: u8[007]; }");
    CHECK(strcmp(sabre_schema_root(s)->canonical, "struct A{a:u8[7];}") == 0);
    sabre_schema_free(s);
}

static void check_print(void)
{
    sabre_schema_t *s = compile("struct Pos { x: f32; y: f32; }\n"
                                "struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; "
                                "_: pad[4]; }");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_OK(sabre_schema_print(s, f, false));
    fclose(f);
    CHECK_STR_CONTAINS(buf, "struct Bullet: size 28, align 4");
    CHECK_STR_CONTAINS(buf, "0xeb61bfbbda678f69");
    CHECK_STR_CONTAINS(buf, "      16  f32    life");
    CHECK_STR_CONTAINS(buf, "      23  u8     tags_3");
    CHECK_STR_CONTAINS(buf, "      24  pad    (4 bytes of padding)");
    free(buf);
    f = open_memstream(&buf, &len);
    CHECK_OK(sabre_schema_print(s, f, true));
    fclose(f);
    CHECK_STR_CONTAINS(buf, "{\"root\":\"Bullet\",\"structs\":[");
    CHECK_STR_CONTAINS(buf, "\"name\":\"Bullet\",\"size\":28,\"align\":4,"
                            "\"hash\":\"0xeb61bfbbda678f69\"");
    CHECK_STR_CONTAINS(buf, "{\"name\":\"tags_2\",\"type\":\"u8\",\"offset\":22,\"size\":1}");
    free(buf);
    f = open_memstream(&buf, &len);
    CHECK_OK(sabre_layout_print(sabre_schema_find(s, "Pos"), f, true));
    fclose(f);
    CHECK(strncmp(buf, "{\"name\":\"Pos\"", 13) == 0);
    CHECK(strstr(buf, "Bullet") == NULL);
    free(buf);
    CHECK_ERR(sabre_schema_print(NULL, stdout, false), SABRE_EINVAL);
    CHECK_ERR(sabre_schema_print(s, NULL, false), SABRE_EINVAL);
    CHECK_ERR(sabre_layout_print(NULL, stdout, false), SABRE_EINVAL);
    /* a stream that cannot be written gives SABRE_EIO */
    f = fopen("/dev/full", "w");
    if (f) {
        setvbuf(f, NULL, _IONBF, 0);
        CHECK_ERR(sabre_schema_print(s, f, true), SABRE_EIO);
        fclose(f);
    }
    sabre_schema_free(s);
}

int main(void)
{
    check_scalars();
    check_goldens();
    check_fields();
    check_lookups();
    check_vectors();
    check_print();
    return check_done();
}
