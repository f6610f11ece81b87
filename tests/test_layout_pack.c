// SABRE_TEST_LABELS: unit
/* Layout: random schemas laid out by an independent model of the rules
 * (docs/schema.md) must match the compiler; pack/unpack of random values
 * round-trips through SoA columns for every one of them; schemas mirroring
 * C structs match the C compiler's offsetof/sizeof/_Alignof. */
#include <stdalign.h>
#include <stddef.h>

#include "check.h"
#include "sabre/layout.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
    return check_xorshift(&rng_state);
}

/* ---- the model: what the layout of a generated struct must be ---- */
#define MAX_MODEL_COLS 4096

struct mcol {
    char name[128];
    sabre_scalar_t type;
    uint32_t offset;
};

struct mstruct {
    char name[16];
    uint32_t size, align, ncols;
    struct mcol *cols;
};

static uint32_t align_up(uint32_t x, uint32_t a)
{
    return (x + a - 1) / a * a;
}

/* Generates struct number `idx` (using earlier ones) into `text` and the model. */
static void gen_struct(struct mstruct *ms, uint32_t idx, char *text, size_t *tlen, size_t cap)
{
    snprintf(ms[idx].name, sizeof ms[idx].name, "S%u", idx);
    *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "struct S%u {\n", idx);
    uint32_t nf = 1 + (uint32_t)(rnd() % 8), off = 0, align = 1;
    struct mstruct *m = &ms[idx];
    m->cols = malloc(MAX_MODEL_COLS * sizeof *m->cols);
    m->ncols = 0;
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t kind = (uint32_t)(rnd() % 10);
        bool arr = rnd() % 3 == 0;
        if (kind < 2) { /* pad */
            uint32_t n = 1 + (uint32_t)(rnd() % 7);
            *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "  _: pad[%u];\n", n);
            off += n;
            continue;
        }
        if (kind < 4 && idx > 0) { /* struct */
            const struct mstruct *c = &ms[rnd() % idx];
            uint32_t n = arr ? 1 + (uint32_t)(rnd() % 3) : 1;
            if (m->ncols + n * c->ncols > MAX_MODEL_COLS)
                continue;
            if (arr)
                *tlen +=
                    (size_t)snprintf(text + *tlen, cap - *tlen, "  f%u: %s[%u];\n", f, c->name, n);
            else
                *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "  f%u: %s;\n", f, c->name);
            off = align_up(off, c->align);
            for (uint32_t e = 0; e < n; e++)
                for (uint32_t k = 0; k < c->ncols; k++) {
                    struct mcol *mc = &m->cols[m->ncols++];
                    if (arr)
                        snprintf(mc->name, sizeof mc->name, "f%u_%u_%.100s", f, e, c->cols[k].name);
                    else
                        snprintf(mc->name, sizeof mc->name, "f%u_%.100s", f, c->cols[k].name);
                    mc->type = c->cols[k].type;
                    mc->offset = off + e * c->size + c->cols[k].offset;
                }
            off += n * c->size;
            align = c->align > align ? c->align : align;
            continue;
        }
        sabre_scalar_t t = (sabre_scalar_t)(SABRE_F32 + rnd() % (SABRE_SCALAR_COUNT - 1));
        uint32_t n = arr ? 1 + (uint32_t)(rnd() % 5) : 1;
        uint32_t sz = (uint32_t)sabre_scalar_size(t);
        if (m->ncols + n > MAX_MODEL_COLS)
            continue;
        if (arr)
            *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "  f%u: %s[%u];\n", f,
                                      sabre_scalar_name(t), n);
        else
            *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "  f%u: %s;\n", f,
                                      sabre_scalar_name(t));
        off = align_up(off, sz);
        for (uint32_t e = 0; e < n; e++) {
            struct mcol *mc = &m->cols[m->ncols++];
            if (arr)
                snprintf(mc->name, sizeof mc->name, "f%u_%u", f, e);
            else
                snprintf(mc->name, sizeof mc->name, "f%u", f);
            mc->type = t;
            mc->offset = off + e * sz;
        }
        off += n * sz;
        align = sz > align ? sz : align;
    }
    m->align = align;
    m->size = align_up(off, align);
    *tlen += (size_t)snprintf(text + *tlen, cap - *tlen, "}\n");
}

static void check_roundtrip(const sabre_layout_t *l)
{
    enum { ROWS = 5 };
    unsigned char *value = malloc(l->size + 1), *back = malloc(l->size + 1);
    void **cols = calloc(l->ncolumns + 1, sizeof *cols);
    for (uint32_t c = 0; c < l->ncolumns; c++) {
        cols[c] = malloc(ROWS * l->columns[c].size);
        memset(cols[c], 0xa5, ROWS * l->columns[c].size);
    }
    unsigned char *covered = calloc(l->size + 1, 1);
    for (uint32_t c = 0; c < l->ncolumns; c++)
        memset(covered + l->columns[c].offset, 1, l->columns[c].size);
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < l->size; i++)
            value[i] = (unsigned char)rnd();
        size_t row = rnd() % ROWS;
        sabre_layout_pack(l, value, cols, row);
        /* every column holds the value's bytes; bool normalised to 0/1 */
        for (uint32_t c = 0; c < l->ncolumns; c++) {
            const sabre_column_t *col = &l->columns[c];
            const unsigned char *cell = (const unsigned char *)cols[c] + row * col->size;
            if (col->type == SABRE_BOOL)
                CHECK_EQ(cell[0], value[col->offset] != 0);
            else
                CHECK(memcmp(cell, value + col->offset, col->size) == 0);
        }
        memset(back, 0xee, l->size);
        sabre_layout_unpack(l, (const void *const *)cols, row, back);
        for (uint32_t i = 0; i < l->size; i++) {
            if (!covered[i])
                CHECK_EQ(back[i], 0); /* padding is zeroed */
        }
        for (uint32_t c = 0; c < l->ncolumns; c++) {
            const sabre_column_t *col = &l->columns[c];
            if (col->type == SABRE_BOOL)
                CHECK_EQ(back[col->offset], value[col->offset] != 0);
            else
                CHECK(memcmp(back + col->offset, value + col->offset, col->size) == 0);
        }
        /* pack(unpack(x)) == x, and other rows untouched */
        sabre_layout_pack(l, back, cols, row);
        unsigned char *again = malloc(l->size + 1);
        sabre_layout_unpack(l, (const void *const *)cols, row, again);
        CHECK(memcmp(again, back, l->size) == 0);
        free(again);
    }
    for (uint32_t c = 0; c < l->ncolumns; c++) {
        /* rows never written still hold the fill pattern */
        const unsigned char *p = cols[c];
        size_t written = 0;
        for (size_t i = 0; i < ROWS * l->columns[c].size; i++)
            written += p[i] != 0xa5;
        CHECK(written <= 3 * l->columns[c].size);
        free(cols[c]);
    }
    free(cols);
    free(covered);
    free(value);
    free(back);
}

static void check_random_layouts(void)
{
    unsigned long rounds = check_scale(1500);
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    unsigned long total_cols = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        struct mstruct ms[6];
        uint32_t ns = 1 + (uint32_t)(rnd() % 6);
        size_t tlen = 0;
        for (uint32_t i = 0; i < ns; i++)
            gen_struct(ms, i, text, &tlen, cap);
        sabre_schema_t *s = NULL;
        sabre_schema_error_t e;
        int rc = sabre_schema_compile(text, tlen, &s, &e);
        if (rc != SABRE_OK)
            fprintf(stderr, "%s\n%u:%u %s\n", text, e.line, e.column, e.message);
        CHECK_OK(rc);
        CHECK_EQ(sabre_schema_count(s), ns);
        for (uint32_t i = 0; i < ns; i++) {
            const sabre_layout_t *l = sabre_schema_at(s, i);
            const struct mstruct *m = &ms[i];
            CHECK(strcmp(l->name, m->name) == 0);
            if (l->size != m->size || l->align != m->align || l->ncolumns != m->ncols)
                fprintf(stderr, "%s\nstruct %s: size %u/%u align %u/%u cols %u/%u\n", text, m->name,
                        l->size, m->size, l->align, m->align, l->ncolumns, m->ncols);
            CHECK_EQ(l->size, m->size);
            CHECK_EQ(l->align, m->align);
            CHECK_EQ(l->ncolumns, m->ncols);
            for (uint32_t c = 0; c < l->ncolumns; c++) {
                if (strcmp(l->columns[c].name, m->cols[c].name) != 0 ||
                    l->columns[c].offset != m->cols[c].offset)
                    fprintf(stderr, "%s\ncolumn %u: %s@%u want %s@%u\n", text, c,
                            l->columns[c].name, l->columns[c].offset, m->cols[c].name,
                            m->cols[c].offset);
                CHECK(strcmp(l->columns[c].name, m->cols[c].name) == 0);
                CHECK_EQ(l->columns[c].type, m->cols[c].type);
                CHECK_EQ(l->columns[c].offset, m->cols[c].offset);
            }
            total_cols += l->ncolumns;
            check_roundtrip(l);
        }
        sabre_schema_free(s);
        for (uint32_t i = 0; i < ns; i++)
            free(ms[i].cols);
    }
    CHECK(total_cols > rounds); /* the generator made real layouts */
    free(text);
}

/* ---- schemas that mirror C structs ---- */
struct c_pos {
    float x, y;
};
struct c_bullet {
    struct c_pos pos;
    struct c_pos vel[3];
    float life;
    uint8_t tags[4];
    bool alive;
    int64_t id;
    uint16_t kind;
    double mass;
    int8_t team;
};

static void check_c_mirror(void)
{
    static const char text[] = "struct Pos { x: f32; y: f32; }\n"
                               "struct Bullet { pos: Pos; vel: Pos[3]; life: f32; tags: u8[4];\n"
                               "  alive: bool; id: i64; kind: u16; mass: f64; team: i8; }\n";
    sabre_schema_t *s = NULL;
    CHECK_OK(sabre_schema_compile(text, strlen(text), &s, NULL));
    const sabre_layout_t *l = sabre_schema_root(s);
    CHECK_EQ(l->size, sizeof(struct c_bullet));
    CHECK_EQ(l->align, alignof(struct c_bullet));
    CHECK_EQ(sabre_layout_column(l, "vel_2_y")->offset, offsetof(struct c_bullet, vel[2].y));
    CHECK_EQ(sabre_layout_column(l, "tags_3")->offset, offsetof(struct c_bullet, tags[3]));
    CHECK_EQ(sabre_layout_column(l, "alive")->offset, offsetof(struct c_bullet, alive));
    CHECK_EQ(sabre_layout_column(l, "id")->offset, offsetof(struct c_bullet, id));
    CHECK_EQ(sabre_layout_column(l, "kind")->offset, offsetof(struct c_bullet, kind));
    CHECK_EQ(sabre_layout_column(l, "mass")->offset, offsetof(struct c_bullet, mass));
    CHECK_EQ(sabre_layout_column(l, "team")->offset, offsetof(struct c_bullet, team));

    /* SoA arrays of 100 bullets, typed access through the columns */
    enum { N = 100 };
    void *cols[64];
    CHECK(l->ncolumns <= 64);
    for (uint32_t c = 0; c < l->ncolumns; c++)
        cols[c] = calloc(N, l->columns[c].size);
    for (int i = 0; i < N; i++) {
        struct c_bullet b;
        memset(&b, 0, sizeof b);
        b.pos.x = (float)i * 0.5f;
        b.pos.y = -(float)i;
        for (int v = 0; v < 3; v++)
            b.vel[v] = (struct c_pos){(float)(v + i), (float)(v - i)};
        b.life = 1.0f / (float)(i + 1);
        for (int t = 0; t < 4; t++)
            b.tags[t] = (uint8_t)(i * 4 + t);
        b.alive = i % 2;
        b.id = -((int64_t)i << 40);
        b.kind = (uint16_t)(60000 + i);
        b.mass = 1e300 / (i + 1);
        b.team = (int8_t)(-i);
        sabre_layout_pack(l, &b, cols, (size_t)i);
    }
    const sabre_column_t *life = sabre_layout_column(l, "life");
    const sabre_column_t *id = sabre_layout_column(l, "id");
    const float *life_col = cols[life - l->columns];
    const int64_t *id_col = cols[id - l->columns];
    CHECK(life_col[9] == 0.1f);
    CHECK(id_col[7] == -((int64_t)7 << 40));
    for (int i = 0; i < N; i++) {
        struct c_bullet b;
        sabre_layout_unpack(l, (const void *const *)cols, (size_t)i, &b);
        CHECK(b.pos.x == (float)i * 0.5f && b.pos.y == -(float)i);
        CHECK(b.vel[2].x == (float)(2 + i) && b.vel[2].y == (float)(2 - i));
        CHECK(b.life == 1.0f / (float)(i + 1));
        CHECK_EQ(b.tags[3], (uint8_t)(i * 4 + 3));
        CHECK_EQ(b.alive, i % 2);
        CHECK(b.id == -((int64_t)i << 40));
        CHECK_EQ(b.kind, 60000 + i);
        CHECK(b.mass == 1e300 / (i + 1));
        CHECK_EQ(b.team, -i);
    }
    for (uint32_t c = 0; c < l->ncolumns; c++)
        free(cols[c]);
    sabre_schema_free(s);

    /* bool is normalised: any non-zero byte packs as 1 */
    CHECK_OK(sabre_schema_compile("struct F { a: bool; b: u8; }", 28, &s, NULL));
    l = sabre_schema_root(s);
    unsigned char v[2] = {0x80, 0x80}, ca = 0, cb = 0;
    void *fc[2] = {&ca, &cb};
    sabre_layout_pack(l, v, fc, 0);
    CHECK_EQ(ca, 1);
    CHECK_EQ(cb, 0x80);
    ca = 7;
    sabre_layout_unpack(l, (const void *const *)fc, 0, v);
    CHECK_EQ(v[0], 1);
    sabre_schema_free(s);
}

int main(void)
{
    check_c_mirror();
    check_random_layouts();
    return check_done();
}
