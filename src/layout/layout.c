/*
 * layout.c - scalar types, the schema language and compiled layouts.
 *
 * The compiler is a single forward pass: structs must be defined before
 * use, so each struct is laid out, flattened and given its canonical text
 * as soon as its closing '}' is read, from its already compiled field types.
 * Nothing recurses, so hostile input cannot exhaust the stack.  The text
 * format, the layout rules and the canonical form are in docs/schema.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sabre/layout.h"

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    uint8_t size;
} scalars[SABRE_SCALAR_COUNT] = {
    [SABRE_SCALAR_NONE] = {"?", 0}, [SABRE_F32] = {"f32", 4}, [SABRE_F64] = {"f64", 8},
    [SABRE_I8] = {"i8", 1},         [SABRE_U8] = {"u8", 1},   [SABRE_I16] = {"i16", 2},
    [SABRE_U16] = {"u16", 2},       [SABRE_I32] = {"i32", 4}, [SABRE_U32] = {"u32", 4},
    [SABRE_I64] = {"i64", 8},       [SABRE_U64] = {"u64", 8}, [SABRE_BOOL] = {"bool", 1},
};

size_t sabre_scalar_size(sabre_scalar_t t)
{
    if ((unsigned)t >= SABRE_SCALAR_COUNT)
        return 0;
    return scalars[t].size;
}

const char *sabre_scalar_name(sabre_scalar_t t)
{
    if ((unsigned)t >= SABRE_SCALAR_COUNT || t == SABRE_SCALAR_NONE)
        return "?";
    return scalars[t].name;
}

sabre_scalar_t sabre_scalar_parse(const char *name, size_t len)
{
    if (!name)
        return SABRE_SCALAR_NONE;
    for (int t = SABRE_F32; t < SABRE_SCALAR_COUNT; t++)
        if (strlen(scalars[t].name) == len && memcmp(scalars[t].name, name, len) == 0)
            return (sabre_scalar_t)t;
    return SABRE_SCALAR_NONE;
}

uint64_t sabre_layout_hash_text(const char *canonical, size_t len)
{
    return sabre__fnv1a64(canonical ? canonical : "", canonical ? len : 0);
}

/* ------------------------------------------------------------------------ */
/* Compiled schema                                                           */
/* ------------------------------------------------------------------------ */

/* One compiled struct.  `pub` is first so a layout pointer is a node pointer. */
struct node {
    sabre_layout_t pub;
    uint32_t index;          /* definition order */
    uint32_t depth;          /* 1 + deepest struct field type */
    uint32_t line, column;   /* of the struct name */
    uint64_t col_name_bytes; /* sum of strlen over its column names */
    sabre_field_t *fields;
    sabre_column_t *columns;
    char *strings; /* field names and column names */
    char *def;     /* own canonical definition "struct A{...}" */
    size_t def_len;
    uint32_t *deps; /* struct indexes used, post-order, without self */
    uint32_t ndeps;
    char *canonical; /* defs of deps, then def */
    char name[SABRE_SCHEMA_MAX_IDENT + 1];
};

struct sabre_schema {
    uint32_t count;
    uint32_t cap;
    struct node **nodes;
    uint64_t total_columns;
    uint64_t total_bytes; /* column names + canonical texts */
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    free(n->fields);
    free(n->columns);
    free(n->strings);
    free(n->def);
    free(n->deps);
    free(n->canonical);
    free(n);
}

void sabre_schema_free(sabre_schema_t *schema)
{
    if (!schema)
        return;
    for (uint32_t i = 0; i < schema->count; i++)
        node_free(schema->nodes[i]);
    free(schema->nodes);
    free(schema);
}

uint32_t sabre_schema_count(const sabre_schema_t *schema)
{
    return schema ? schema->count : 0;
}

const sabre_layout_t *sabre_schema_at(const sabre_schema_t *schema, uint32_t i)
{
    if (!schema || i >= schema->count)
        return NULL;
    return &schema->nodes[i]->pub;
}

const sabre_layout_t *sabre_schema_find(const sabre_schema_t *schema, const char *name)
{
    if (!schema || !name)
        return NULL;
    for (uint32_t i = 0; i < schema->count; i++)
        if (strcmp(schema->nodes[i]->name, name) == 0)
            return &schema->nodes[i]->pub;
    return NULL;
}

const sabre_layout_t *sabre_schema_root(const sabre_schema_t *schema)
{
    if (!schema || schema->count == 0)
        return NULL;
    return &schema->nodes[schema->count - 1]->pub;
}

const sabre_column_t *sabre_layout_column(const sabre_layout_t *layout, const char *name)
{
    if (!layout || !name)
        return NULL;
    for (uint32_t i = 0; i < layout->ncolumns; i++)
        if (strcmp(layout->columns[i].name, name) == 0)
            return &layout->columns[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Lexer                                                                     */
/* ------------------------------------------------------------------------ */

enum tok_kind { T_EOF, T_IDENT, T_NUM, T_PUNCT, T_BAD };

struct tok {
    enum tok_kind kind;
    const char *s;
    size_t len;
    uint32_t line, col;
    uint64_t num; /* T_NUM, saturated at UINT64_MAX */
};

/* A field being parsed, with source positions for later errors. */
struct pfield {
    char name[SABRE_SCHEMA_MAX_IDENT + 1];
    sabre_field_kind_t kind;
    sabre_scalar_t scalar;
    struct node *type;
    uint32_t count;
    bool is_array;
    uint32_t name_line, name_col;
    uint32_t type_line, type_col;
};

#define STRUCT_SLOTS 2048 /* > 2 * SABRE_SCHEMA_MAX_STRUCTS, power of two */
#define FIELD_SLOTS  8192 /* > 2 * SABRE_SCHEMA_MAX_FIELDS, power of two */

struct parser {
    const char *text;
    size_t len, pos;
    uint32_t line;
    size_t line_start;
    struct tok tok;
    sabre_schema_t *schema;
    struct pfield *fields;
    uint32_t nfields, fields_cap;
    uint32_t struct_slots[STRUCT_SLOTS]; /* node index + 1, 0 = empty */
    uint32_t field_slots[FIELD_SLOTS];   /* pfield index + 1 */
    /* error */
    int status;
    uint32_t err_line, err_col;
    char err_msg[256];
};

static int perr_at(struct parser *P, int status, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int perr_at(struct parser *P, int status, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err_msg, sizeof P->err_msg, fmt, ap);
    va_end(ap);
    P->status = status;
    P->err_line = line;
    P->err_col = col;
    return status;
}

#define perr(P, line, col, ...) perr_at((P), SABRE_ESCHEMA, (line), (col), __VA_ARGS__)

static int oom(struct parser *P)
{
    return perr_at(P, SABRE_ENOMEM, 0, 0, "out of memory");
}

static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static uint32_t cur_col(const struct parser *P)
{
    return (uint32_t)(P->pos - P->line_start) + 1;
}

/* Copies at most `max` bytes of s into buf, "..." if cut. */
static const char *clip(char *buf, size_t cap, const char *s, size_t len, size_t max)
{
    if (max + 4 > cap)
        max = cap - 4;
    if (len <= max) {
        memcpy(buf, s, len);
        buf[len] = '\0';
    } else {
        memcpy(buf, s, max);
        memcpy(buf + max, "...", 4);
    }
    return buf;
}

/* "'name'", "'{'", "end of input", "byte 0x01": what the parser found. */
static const char *describe(const struct tok *t, char *buf, size_t cap)
{
    char tmp[48];
    switch (t->kind) {
    case T_EOF:
        snprintf(buf, cap, "end of input");
        break;
    case T_IDENT:
    case T_NUM:
    case T_PUNCT:
        snprintf(buf, cap, "'%s'", clip(tmp, sizeof tmp, t->s, t->len, 32));
        break;
    case T_BAD: {
        unsigned char c = (unsigned char)t->s[0];
        if (c >= 0x21 && c < 0x7f)
            snprintf(buf, cap, "'%c'", c);
        else
            snprintf(buf, cap, "byte 0x%02x", c);
        break;
    }
    }
    return buf;
}

static void newline(struct parser *P)
{
    P->line++;
    P->line_start = P->pos;
}

/* Reads the next token into P->tok.  Fails only on a bad comment or an
 * over-long identifier; other bad bytes become T_BAD tokens that the
 * parser reports with what it expected. */
static int next(struct parser *P)
{
    const char *s = P->text;
    for (;;) {
        if (P->pos >= P->len)
            break;
        unsigned char c = (unsigned char)s[P->pos];
        if (c == '\n') {
            P->pos++;
            newline(P);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            P->pos++;
        } else if (c == '/' && P->pos + 1 < P->len && s[P->pos + 1] == '/') {
            while (P->pos < P->len && s[P->pos] != '\n')
                P->pos++;
        } else if (c == '/' && P->pos + 1 < P->len && s[P->pos + 1] == '*') {
            uint32_t line = P->line, col = cur_col(P);
            P->pos += 2;
            for (;;) {
                if (P->pos + 1 >= P->len) {
                    return perr(P, line, col, "unterminated block comment");
                }
                if (s[P->pos] == '*' && s[P->pos + 1] == '/') {
                    P->pos += 2;
                    break;
                }
                if (s[P->pos++] == '\n')
                    newline(P);
            }
        } else {
            break;
        }
    }
    struct tok *t = &P->tok;
    t->line = P->line;
    t->col = cur_col(P);
    t->s = s + P->pos;
    t->num = 0;
    if (P->pos >= P->len) {
        t->kind = T_EOF;
        t->len = 0;
        return SABRE_OK;
    }
    unsigned char c = (unsigned char)s[P->pos];
    size_t start = P->pos;
    if (is_ident_start(c)) {
        while (P->pos < P->len && is_ident_char((unsigned char)s[P->pos]))
            P->pos++;
        t->kind = T_IDENT;
        t->len = P->pos - start;
        if (t->len > SABRE_SCHEMA_MAX_IDENT) {
            char tmp[48];
            return perr(P, t->line, t->col, "identifier '%s' is too long (%zu bytes, at most %d)",
                        clip(tmp, sizeof tmp, t->s, t->len, 24), t->len, SABRE_SCHEMA_MAX_IDENT);
        }
    } else if (c >= '0' && c <= '9') {
        uint64_t v = 0;
        while (P->pos < P->len && s[P->pos] >= '0' && s[P->pos] <= '9') {
            unsigned d = (unsigned)(s[P->pos] - '0');
            v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
            P->pos++;
        }
        t->kind = T_NUM;
        t->len = P->pos - start;
        t->num = v;
        if (P->pos < P->len && is_ident_char((unsigned char)s[P->pos])) {
            while (P->pos < P->len && is_ident_char((unsigned char)s[P->pos]))
                P->pos++;
            char tmp[48];
            return perr(
                P, t->line, t->col,
                "invalid number '%s' (numbers are decimal; names start with a letter or '_')",
                clip(tmp, sizeof tmp, t->s, P->pos - start, 24));
        }
    } else if (c == '{' || c == '}' || c == ':' || c == ';' || c == '[' || c == ']') {
        P->pos++;
        t->kind = T_PUNCT;
        t->len = 1;
    } else {
        t->kind = T_BAD;
        t->len = 1;
    }
    return SABRE_OK;
}

static bool tok_is(const struct tok *t, const char *word)
{
    return (t->kind == T_IDENT || t->kind == T_PUNCT) && strlen(word) == t->len &&
           memcmp(t->s, word, t->len) == 0;
}

static int expected(struct parser *P, const char *what)
{
    char found[64];
    return perr(P, P->tok.line, P->tok.col, "expected %s, found %s", what,
                describe(&P->tok, found, sizeof found));
}

static uint32_t name_hash(const char *s, size_t len)
{
    return (uint32_t)sabre__fnv1a64(s, len);
}

/* Struct index + 1 for `name`, or 0. */
static uint32_t struct_lookup(struct parser *P, const char *s, size_t len, uint32_t *slot)
{
    uint32_t h = name_hash(s, len) & (STRUCT_SLOTS - 1);
    for (;;) {
        uint32_t v = P->struct_slots[h];
        if (v == 0) {
            *slot = h;
            return 0;
        }
        const char *n = P->schema->nodes[v - 1]->name;
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *slot = h;
            return v;
        }
        h = (h + 1) & (STRUCT_SLOTS - 1);
    }
}

static uint32_t field_lookup(struct parser *P, const char *s, size_t len, uint32_t *slot)
{
    uint32_t h = name_hash(s, len) & (FIELD_SLOTS - 1);
    for (;;) {
        uint32_t v = P->field_slots[h];
        if (v == 0) {
            *slot = h;
            return 0;
        }
        const char *n = P->fields[v - 1].name;
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *slot = h;
            return v;
        }
        h = (h + 1) & (FIELD_SLOTS - 1);
    }
}

static bool is_reserved(const char *s, size_t len)
{
    return sabre_scalar_parse(s, len) != SABRE_SCALAR_NONE ||
           (len == 3 && memcmp(s, "pad", 3) == 0) || (len == 6 && memcmp(s, "struct", 6) == 0);
}

/* ------------------------------------------------------------------------ */
/* Building one struct                                                       */
/* ------------------------------------------------------------------------ */

/* Decimal digits of v. */
static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

struct colset {
    uint32_t *slots; /* column index + 1 */
    uint32_t mask;
};

/* Lays out the parsed fields of `n` and fills fields, columns, texts. */
static int build_struct(struct parser *P, struct node *n, uint32_t close_line, uint32_t close_col)
{
    sabre_schema_t *S = P->schema;
    const uint32_t nf = P->nfields;
    if (nf == 0)
        return perr(P, close_line, close_col,
                    "struct '%s' is empty (a struct needs at least one field)", n->name);

    n->fields = calloc(nf, sizeof *n->fields);
    if (!n->fields)
        return oom(P);

    /* Pass 1: offsets, sizes, alignment, depth, column counts. */
    uint64_t offset = 0, ncols = 0, names_bytes = 0, def_len = 0;
    uint32_t align = 1, depth = 1;
    def_len += strlen("struct ") + strlen(n->name) + 1; /* "struct A{" */
    for (uint32_t i = 0; i < nf; i++) {
        const struct pfield *pf = &P->fields[i];
        sabre_field_t *f = &n->fields[i];
        uint64_t stride, falign, fcols, child_name_bytes;
        const char *tname;
        switch (pf->kind) {
        case SABRE_FIELD_SCALAR:
            stride = falign = sabre_scalar_size(pf->scalar);
            fcols = 1;
            child_name_bytes = 0;
            tname = sabre_scalar_name(pf->scalar);
            break;
        case SABRE_FIELD_STRUCT:
            if (pf->type->depth + 1 > SABRE_SCHEMA_MAX_DEPTH)
                return perr(P, pf->type_line, pf->type_col,
                            "struct nesting too deep: '%s' would be %u levels deep (at most %d)",
                            n->name, pf->type->depth + 1, SABRE_SCHEMA_MAX_DEPTH);
            depth = SABRE_MAX(depth, pf->type->depth + 1);
            falign = pf->type->pub.align;
            stride = SABRE_ALIGN_UP((uint64_t)pf->type->pub.size, falign);
            fcols = pf->type->pub.ncolumns;
            child_name_bytes = pf->type->col_name_bytes;
            tname = pf->type->name;
            break;
        default: /* pad */
            stride = falign = 1;
            fcols = 0;
            child_name_bytes = 0;
            tname = "pad";
            break;
        }
        offset = SABRE_ALIGN_UP(offset, falign);
        uint64_t size = stride * pf->count; /* both < 2^31: no overflow */
        if (offset + size > SABRE_SCHEMA_MAX_SIZE)
            return perr(P, pf->name_line, pf->name_col,
                        "struct '%s' is too large: field '%s' ends at byte %llu (at most %u)",
                        n->name, pf->name, (unsigned long long)(offset + size),
                        (unsigned)SABRE_SCHEMA_MAX_SIZE);
        f->name = NULL; /* set once the strings exist */
        f->kind = pf->kind;
        f->scalar = pf->kind == SABRE_FIELD_SCALAR ? pf->scalar : SABRE_SCALAR_NONE;
        f->type = pf->kind == SABRE_FIELD_STRUCT ? &pf->type->pub : NULL;
        f->count = pf->count;
        f->is_array = pf->is_array;
        f->offset = (uint32_t)offset;
        f->stride = (uint32_t)stride;
        f->size = (uint32_t)size;
        f->align = (uint32_t)falign;
        offset += size;
        align = (uint32_t)SABRE_MAX((uint64_t)align, falign);

        uint64_t fc = fcols * pf->count;
        if (ncols + fc > SABRE_SCHEMA_MAX_COLUMNS)
            return perr(P, pf->name_line, pf->name_col,
                        "struct '%s' has too many columns: %llu with field '%s' (at most %d)",
                        n->name, (unsigned long long)(ncols + fc), pf->name,
                        SABRE_SCHEMA_MAX_COLUMNS);
        ncols += fc;
        /* bytes of this field's column names (fc <= MAX_COLUMNS bounds the loop) */
        size_t plen = strlen(pf->name);
        for (uint64_t e = 0; fc && e < pf->count; e++) {
            uint64_t prefix = plen + (pf->is_array ? 1 + digits(e) : 0);
            if (pf->kind == SABRE_FIELD_STRUCT)
                names_bytes += fcols * (prefix + 2) + child_name_bytes;
            else
                names_bytes += prefix + 1;
        }
        names_bytes += plen + 1; /* the field's own name */
        def_len += plen + 1 + strlen(tname) + 1 + (pf->is_array ? 2 + digits(pf->count) : 0);
    }
    if (S->total_columns + ncols > SABRE_SCHEMA_MAX_TOTAL_COLUMNS)
        return perr(P, n->line, n->column,
                    "schema has too many columns: %llu with struct '%s' (at most %d in total)",
                    (unsigned long long)(S->total_columns + ncols), n->name,
                    SABRE_SCHEMA_MAX_TOTAL_COLUMNS);
    def_len += 1; /* '}' */

    n->depth = depth;
    n->pub.align = align;
    n->pub.size = (uint32_t)SABRE_ALIGN_UP(offset, (uint64_t)align);
    if (SABRE_ALIGN_UP(offset, (uint64_t)align) > SABRE_SCHEMA_MAX_SIZE)
        return perr(P, close_line, close_col, "struct '%s' is too large (at most %u bytes)",
                    n->name, (unsigned)SABRE_SCHEMA_MAX_SIZE);
    n->pub.nfields = nf;
    n->pub.fields = n->fields;

    /* Pass 2: names and columns. */
    n->strings = malloc(names_bytes ? names_bytes : 1);
    n->columns = calloc(ncols ? ncols : 1, sizeof *n->columns);
    if (!n->strings || !n->columns)
        return oom(P);
    char *sp = n->strings;
    uint32_t *col_field = NULL; /* which field made each column */
    struct colset set = {0};
    if (ncols) {
        col_field = malloc(ncols * sizeof *col_field);
        uint32_t cap = 2;
        while (cap < ncols * 2)
            cap *= 2;
        set.slots = calloc(cap, sizeof *set.slots);
        set.mask = cap - 1;
        if (!col_field || !set.slots) {
            free(col_field);
            free(set.slots);
            return oom(P);
        }
    }
    int rc = SABRE_OK;
    uint32_t ci = 0;
    for (uint32_t i = 0; i < nf && rc == SABRE_OK; i++) {
        const struct pfield *pf = &P->fields[i];
        sabre_field_t *f = &n->fields[i];
        size_t plen = strlen(pf->name);
        memcpy(sp, pf->name, plen + 1);
        f->name = sp;
        sp += plen + 1;
        if (pf->kind == SABRE_FIELD_PAD)
            continue;
        uint32_t child_cols = pf->kind == SABRE_FIELD_STRUCT ? pf->type->pub.ncolumns : 1;
        if (child_cols == 0)
            continue; /* an array of padding-only structs: no columns, skip its count */
        for (uint32_t e = 0; e < pf->count && rc == SABRE_OK; e++) {
            for (uint32_t c = 0; c < child_cols; c++) {
                sabre_column_t *col = &n->columns[ci];
                char *start = sp;
                memcpy(sp, pf->name, plen);
                sp += plen;
                if (pf->is_array)
                    sp += sprintf(sp, "_%u", e);
                if (pf->kind == SABRE_FIELD_STRUCT) {
                    const sabre_column_t *cc = &pf->type->pub.columns[c];
                    size_t cl = strlen(cc->name);
                    *sp++ = '_';
                    memcpy(sp, cc->name, cl);
                    sp += cl;
                    col->type = cc->type;
                    col->offset = f->offset + e * f->stride + cc->offset;
                } else {
                    col->type = pf->scalar;
                    col->offset = f->offset + e * f->stride;
                }
                *sp++ = '\0';
                col->name = start;
                n->col_name_bytes += (uint64_t)(sp - start) - 1;
                col->size = (uint32_t)sabre_scalar_size(col->type);
                size_t clen = (size_t)(sp - start) - 1;
                if (clen > SABRE_SCHEMA_MAX_COLUMN_NAME) {
                    char tmp[48];
                    rc = perr(P, pf->name_line, pf->name_col,
                              "column name '%s' is too long (%zu bytes, at most %d)",
                              clip(tmp, sizeof tmp, start, clen, 32), clen,
                              SABRE_SCHEMA_MAX_COLUMN_NAME);
                    break;
                }
                /* the same name from two fields: "a_b" and a: {b} */
                uint32_t h = name_hash(start, clen) & set.mask;
                while (set.slots[h]) {
                    const sabre_column_t *o = &n->columns[set.slots[h] - 1];
                    if (strcmp(o->name, start) == 0) {
                        rc = perr(P, pf->name_line, pf->name_col,
                                  "column '%s' of field '%s' collides with the column of the "
                                  "same name made by field '%s'",
                                  start, pf->name, n->fields[col_field[set.slots[h] - 1]].name);
                        break;
                    }
                    h = (h + 1) & set.mask;
                }
                if (rc)
                    break;
                set.slots[h] = ci + 1;
                col_field[ci] = i;
                ci++;
            }
        }
    }
    free(col_field);
    free(set.slots);
    if (rc)
        return rc;
    n->pub.ncolumns = ci;
    n->pub.columns = n->columns;

    /* Own canonical definition. */
    n->def = malloc(def_len + 1);
    if (!n->def)
        return oom(P);
    char *d = n->def;
    d += sprintf(d, "struct %s{", n->name);
    for (uint32_t i = 0; i < nf; i++) {
        const struct pfield *pf = &P->fields[i];
        const char *tname = pf->kind == SABRE_FIELD_SCALAR   ? sabre_scalar_name(pf->scalar)
                            : pf->kind == SABRE_FIELD_STRUCT ? pf->type->name
                                                             : "pad";
        d += sprintf(d, "%s:%s", pf->name, tname);
        if (pf->is_array)
            d += sprintf(d, "[%u]", pf->count);
        *d++ = ';';
    }
    *d++ = '}';
    *d = '\0';
    n->def_len = (size_t)(d - n->def);

    /* Dependencies in first-use order (post-order): each struct field's
     * own dependency list, then the field's struct, skipping repeats. */
    uint32_t maxdeps = 0;
    for (uint32_t i = 0; i < nf; i++)
        if (P->fields[i].kind == SABRE_FIELD_STRUCT)
            maxdeps += P->fields[i].type->ndeps + 1;
    if (maxdeps > S->count)
        maxdeps = S->count;
    n->deps = malloc((maxdeps ? maxdeps : 1) * sizeof *n->deps);
    uint8_t *seen = calloc(S->count ? S->count : 1, 1);
    if (!n->deps || !seen) {
        free(seen);
        return oom(P);
    }
    size_t canon_len = n->def_len;
    for (uint32_t i = 0; i < nf; i++) {
        const struct node *t = P->fields[i].type;
        if (P->fields[i].kind != SABRE_FIELD_STRUCT)
            continue;
        for (uint32_t k = 0; k <= t->ndeps; k++) {
            uint32_t idx = k < t->ndeps ? t->deps[k] : t->index;
            if (seen[idx])
                continue;
            seen[idx] = 1;
            n->deps[n->ndeps++] = idx;
            canon_len += S->nodes[idx]->def_len;
        }
    }
    free(seen);
    if (S->total_bytes + canon_len + names_bytes > SABRE_SCHEMA_MAX_TOTAL_BYTES)
        return perr(P, n->line, n->column,
                    "schema too large: with struct '%s' its names and canonical texts exceed %d "
                    "bytes",
                    n->name, SABRE_SCHEMA_MAX_TOTAL_BYTES);
    n->canonical = malloc(canon_len + 1);
    if (!n->canonical)
        return oom(P);
    char *cp = n->canonical;
    for (uint32_t k = 0; k < n->ndeps; k++) {
        const struct node *t = S->nodes[n->deps[k]];
        memcpy(cp, t->def, t->def_len);
        cp += t->def_len;
    }
    memcpy(cp, n->def, n->def_len);
    cp += n->def_len;
    *cp = '\0';
    n->pub.canonical = n->canonical;
    n->pub.canonical_len = canon_len;
    n->pub.hash = sabre__fnv1a64(n->canonical, canon_len);
    n->pub.name = n->name;

    S->total_columns += ci;
    S->total_bytes += canon_len + names_bytes;
    return SABRE_OK;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

static int parse_field(struct parser *P, struct node *n)
{
    char found[64];
    struct tok nt = P->tok; /* field name, already checked to be an identifier */
    if (tok_is(&nt, "struct"))
        return perr(P, nt.line, nt.col,
                    "expected field name or '}', found 'struct' (struct definitions cannot be "
                    "nested; define '%s' after the struct it uses)",
                    n->name);
    if (P->nfields >= SABRE_SCHEMA_MAX_FIELDS)
        return perr(P, nt.line, nt.col, "too many fields in struct '%s' (at most %d)", n->name,
                    SABRE_SCHEMA_MAX_FIELDS);
    bool is_pad_name = nt.len == 1 && nt.s[0] == '_';
    uint32_t slot = 0;
    if (!is_pad_name) {
        uint32_t dup = field_lookup(P, nt.s, nt.len, &slot);
        if (dup) {
            const struct pfield *o = &P->fields[dup - 1];
            return perr(P, nt.line, nt.col,
                        "duplicate field '%s' in struct '%s' (first at line %u, column %u)",
                        o->name, n->name, o->name_line, o->name_col);
        }
    }
    if (P->nfields == P->fields_cap) {
        uint32_t cap = P->fields_cap ? P->fields_cap * 2 : 16;
        struct pfield *nfs = realloc(P->fields, cap * sizeof *nfs);
        if (!nfs)
            return oom(P);
        P->fields = nfs;
        P->fields_cap = cap;
    }
    struct pfield *pf = &P->fields[P->nfields];
    memset(pf, 0, sizeof *pf);
    memcpy(pf->name, nt.s, nt.len);
    pf->name[nt.len] = '\0';
    pf->name_line = nt.line;
    pf->name_col = nt.col;
    pf->count = 1;

    int rc = next(P);
    if (rc)
        return rc;
    if (!tok_is(&P->tok, ":"))
        return perr(P, P->tok.line, P->tok.col, "expected ':' after field name '%s', found %s",
                    pf->name, describe(&P->tok, found, sizeof found));
    if ((rc = next(P)))
        return rc;
    struct tok tt = P->tok;
    if (tt.kind != T_IDENT)
        return perr(P, tt.line, tt.col, "expected a type after '%s:', found %s", pf->name,
                    describe(&tt, found, sizeof found));
    pf->type_line = tt.line;
    pf->type_col = tt.col;
    sabre_scalar_t sc = sabre_scalar_parse(tt.s, tt.len);
    if (sc != SABRE_SCALAR_NONE) {
        pf->kind = SABRE_FIELD_SCALAR;
        pf->scalar = sc;
    } else if (tok_is(&tt, "pad")) {
        pf->kind = SABRE_FIELD_PAD;
        if (!is_pad_name)
            return perr(P, nt.line, nt.col,
                        "padding must be named '_' (write '_: pad[N]'), not '%s'", pf->name);
    } else {
        uint32_t s;
        uint32_t idx = struct_lookup(P, tt.s, tt.len, &s);
        if (idx) {
            pf->kind = SABRE_FIELD_STRUCT;
            pf->type = P->schema->nodes[idx - 1];
        } else if (strlen(n->name) == tt.len && memcmp(n->name, tt.s, tt.len) == 0) {
            return perr(P, tt.line, tt.col, "struct '%s' cannot contain itself", n->name);
        } else {
            char tmp[48];
            return perr(P, tt.line, tt.col,
                        "unknown type '%s' (a struct must be defined before it is used)",
                        clip(tmp, sizeof tmp, tt.s, tt.len, 40));
        }
    }
    if (is_pad_name && pf->kind != SABRE_FIELD_PAD)
        return perr(P, nt.line, nt.col,
                    "the field name '_' is reserved for padding (write '_: pad[N]')");
    if ((rc = next(P)))
        return rc;
    if (tok_is(&P->tok, "[")) {
        if ((rc = next(P)))
            return rc;
        struct tok num = P->tok;
        if (num.kind != T_NUM)
            return perr(P, num.line, num.col, "expected an array length after '[', found %s",
                        describe(&num, found, sizeof found));
        if (num.num == 0)
            return perr(P, num.line, num.col, "array length must be at least 1, found '0'");
        if (num.num > SABRE_SCHEMA_MAX_SIZE) {
            char tmp[48];
            return perr(P, num.line, num.col, "array length %s is too large (at most %u)",
                        clip(tmp, sizeof tmp, num.s, num.len, 24), (unsigned)SABRE_SCHEMA_MAX_SIZE);
        }
        pf->count = (uint32_t)num.num;
        pf->is_array = true;
        if ((rc = next(P)))
            return rc;
        if (!tok_is(&P->tok, "]"))
            return perr(P, P->tok.line, P->tok.col, "expected ']' after array length, found %s",
                        describe(&P->tok, found, sizeof found));
        if ((rc = next(P)))
            return rc;
    } else if (pf->kind == SABRE_FIELD_PAD) {
        return perr(P, P->tok.line, P->tok.col,
                    "expected '[' after 'pad' (padding is written '_: pad[N]'), found %s",
                    describe(&P->tok, found, sizeof found));
    }
    if (!tok_is(&P->tok, ";"))
        return perr(P, P->tok.line, P->tok.col, "expected ';' after field '%s', found %s", pf->name,
                    describe(&P->tok, found, sizeof found));
    if (!is_pad_name)
        P->field_slots[slot] = P->nfields + 1;
    P->nfields++;
    return next(P);
}

static int parse_struct(struct parser *P)
{
    char found[64];
    sabre_schema_t *S = P->schema;
    if (!tok_is(&P->tok, "struct"))
        return expected(P, "'struct'");
    int rc = next(P);
    if (rc)
        return rc;
    struct tok nt = P->tok;
    if (nt.kind != T_IDENT)
        return perr(P, nt.line, nt.col, "expected a struct name after 'struct', found %s",
                    describe(&nt, found, sizeof found));
    if (is_reserved(nt.s, nt.len)) {
        char tmp[16];
        return perr(P, nt.line, nt.col, "'%s' is a reserved word and cannot name a struct",
                    clip(tmp, sizeof tmp, nt.s, nt.len, 8));
    }
    uint32_t slot;
    uint32_t dup = struct_lookup(P, nt.s, nt.len, &slot);
    if (dup) {
        const struct node *o = S->nodes[dup - 1];
        return perr(P, nt.line, nt.col,
                    "duplicate struct '%s' (first defined at line %u, column %u)", o->name, o->line,
                    o->column);
    }
    if (S->count >= SABRE_SCHEMA_MAX_STRUCTS)
        return perr(P, nt.line, nt.col, "too many structs (at most %d)", SABRE_SCHEMA_MAX_STRUCTS);
    if (S->count == S->cap) {
        uint32_t cap = S->cap ? S->cap * 2 : 8;
        struct node **nn = realloc(S->nodes, cap * sizeof *nn);
        if (!nn)
            return oom(P);
        S->nodes = nn;
        S->cap = cap;
    }
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return oom(P);
    memcpy(n->name, nt.s, nt.len);
    n->name[nt.len] = '\0';
    n->line = nt.line;
    n->column = nt.col;
    n->index = S->count;

    if ((rc = next(P)))
        goto fail;
    if (!tok_is(&P->tok, "{")) {
        rc = perr(P, P->tok.line, P->tok.col, "expected '{' after struct name '%s', found %s",
                  n->name, describe(&P->tok, found, sizeof found));
        goto fail;
    }
    if ((rc = next(P)))
        goto fail;
    P->nfields = 0;
    memset(P->field_slots, 0, sizeof P->field_slots);
    while (!tok_is(&P->tok, "}")) {
        if (P->tok.kind != T_IDENT) {
            rc = expected(P, "field name or '}'");
            goto fail;
        }
        if ((rc = parse_field(P, n)))
            goto fail;
    }
    if ((rc = build_struct(P, n, P->tok.line, P->tok.col)))
        goto fail;
    S->nodes[S->count++] = n;
    P->struct_slots[slot] = S->count;
    return next(P);
fail:
    node_free(n);
    return rc;
}

int sabre_schema_compile(const char *text, size_t len, sabre_schema_t **out,
                         sabre_schema_error_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
    if (out)
        *out = NULL;
    if (!out || (!text && len)) {
        if (err)
            snprintf(err->message, sizeof err->message, "invalid argument: %s",
                     out ? "text is NULL" : "out is NULL");
        return sabre__fail(SABRE_EINVAL, "sabre_schema_compile: %s",
                           out ? "text is NULL" : "out is NULL");
    }
    if (len > SABRE_SCHEMA_MAX_TEXT) {
        if (err)
            snprintf(err->message, sizeof err->message, "schema text is %zu bytes (at most %d)",
                     len, SABRE_SCHEMA_MAX_TEXT);
        return sabre__fail(SABRE_ESCHEMA, "schema text is %zu bytes (at most %d)", len,
                           SABRE_SCHEMA_MAX_TEXT);
    }
    struct parser *P = calloc(1, sizeof *P);
    sabre_schema_t *S = calloc(1, sizeof *S);
    int rc;
    if (!P || !S) {
        free(P);
        free(S);
        if (err)
            snprintf(err->message, sizeof err->message, "out of memory");
        return sabre__fail(SABRE_ENOMEM, "schema: out of memory");
    }
    P->text = text ? text : "";
    P->len = len;
    P->line = 1;
    P->schema = S;
    rc = next(P);
    if (rc == SABRE_OK && P->tok.kind == T_EOF)
        rc = perr(P, P->tok.line, P->tok.col,
                  "expected 'struct', found end of input (a schema needs at least one struct)");
    while (rc == SABRE_OK && P->tok.kind != T_EOF)
        rc = parse_struct(P);
    if (rc != SABRE_OK) {
        if (err) {
            err->line = P->err_line;
            err->column = P->err_col;
            sabre__strlcpy(err->message, P->err_msg, sizeof err->message);
        }
        if (P->err_line)
            sabre__fail(rc, "line %u, column %u: %s", P->err_line, P->err_col, P->err_msg);
        else
            sabre__fail(rc, "schema: %s", P->err_msg);
        sabre_schema_free(S);
        S = NULL;
    }
    free(P->fields);
    free(P);
    *out = S;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Pack / unpack                                                             */
/* ------------------------------------------------------------------------ */

/* The column table and count are read into locals once: the byte stores
 * below may alias anything, so the compiler would otherwise reload them
 * after every store. */
void sabre_layout_pack(const sabre_layout_t *layout, const void *value, void *const *columns,
                       size_t row)
{
    const unsigned char *src = value;
    const sabre_column_t *cols = layout->columns;
    const uint32_t n = layout->ncolumns;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t size = cols[i].size, off = cols[i].offset;
        const bool is_bool = cols[i].type == SABRE_BOOL;
        unsigned char *dst = (unsigned char *)columns[i] + row * size;
        const unsigned char *s = src + off;
        switch (size) {
        case 1:
            *dst = is_bool ? (*s != 0) : *s;
            break;
        case 2:
            memcpy(dst, s, 2);
            break;
        case 4:
            memcpy(dst, s, 4);
            break;
        default:
            memcpy(dst, s, 8);
            break;
        }
    }
}

void sabre_layout_unpack(const sabre_layout_t *layout, const void *const *columns, size_t row,
                         void *value)
{
    unsigned char *dst = value;
    const sabre_column_t *cols = layout->columns;
    const uint32_t n = layout->ncolumns;
    memset(dst, 0, layout->size);
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t size = cols[i].size, off = cols[i].offset;
        const bool is_bool = cols[i].type == SABRE_BOOL;
        const unsigned char *s = (const unsigned char *)columns[i] + row * size;
        unsigned char *d = dst + off;
        switch (size) {
        case 1:
            *d = is_bool ? (*s != 0) : *s;
            break;
        case 2:
            memcpy(d, s, 2);
            break;
        case 4:
            memcpy(d, s, 4);
            break;
        default:
            memcpy(d, s, 8);
            break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */
/* ------------------------------------------------------------------------ */

static const char *kind_name(sabre_field_kind_t k)
{
    return k == SABRE_FIELD_SCALAR ? "scalar" : k == SABRE_FIELD_STRUCT ? "struct" : "pad";
}

static void print_layout_json(FILE *f, const sabre_layout_t *l)
{
    fprintf(f, "{\"name\":");
    sabre__json_str(f, l->name, SIZE_MAX);
    fprintf(f, ",\"size\":%u,\"align\":%u,\"hash\":\"0x%016llx\",\"canonical\":", l->size, l->align,
            (unsigned long long)l->hash);
    sabre__json_str(f, l->canonical, SIZE_MAX);
    fprintf(f, ",\n  \"fields\":[");
    for (uint32_t i = 0; i < l->nfields; i++) {
        const sabre_field_t *fd = &l->fields[i];
        fprintf(f, "%s\n    {\"name\":", i ? "," : "");
        sabre__json_str(f, fd->name, SIZE_MAX);
        fprintf(f, ",\"kind\":\"%s\",\"type\":", kind_name(fd->kind));
        sabre__json_str(f,
                        fd->kind == SABRE_FIELD_SCALAR   ? sabre_scalar_name(fd->scalar)
                        : fd->kind == SABRE_FIELD_STRUCT ? fd->type->name
                                                         : "pad",
                        SIZE_MAX);
        fprintf(f,
                ",\"array\":%s,\"count\":%u,\"offset\":%u,\"stride\":%u,\"size\":%u,"
                "\"align\":%u}",
                fd->is_array ? "true" : "false", fd->count, fd->offset, fd->stride, fd->size,
                fd->align);
    }
    fprintf(f, "],\n  \"columns\":[");
    for (uint32_t i = 0; i < l->ncolumns; i++) {
        const sabre_column_t *c = &l->columns[i];
        fprintf(f, "%s\n    {\"name\":", i ? "," : "");
        sabre__json_str(f, c->name, SIZE_MAX);
        fprintf(f, ",\"type\":\"%s\",\"offset\":%u,\"size\":%u}", sabre_scalar_name(c->type),
                c->offset, c->size);
    }
    fprintf(f, "]}");
}

static void print_layout_text(FILE *f, const sabre_layout_t *l)
{
    fprintf(f, "struct %s: size %u, align %u, %u field%s, %u column%s\n", l->name, l->size,
            l->align, l->nfields, l->nfields == 1 ? "" : "s", l->ncolumns,
            l->ncolumns == 1 ? "" : "s");
    fprintf(f, "  hash      0x%016llx\n", (unsigned long long)l->hash);
    fprintf(f, "  canonical %s\n", l->canonical);
    fprintf(f, "  %8s  %-5s  %s\n", "offset", "type", "column");
    uint32_t c = 0;
    /* columns in offset order, with padding fields shown where they fall */
    for (uint32_t i = 0; i < l->nfields; i++) {
        const sabre_field_t *fd = &l->fields[i];
        if (fd->kind == SABRE_FIELD_PAD) {
            fprintf(f, "  %8u  %-5s  (%u byte%s of padding)\n", fd->offset, "pad", fd->size,
                    fd->size == 1 ? "" : "s");
            continue;
        }
        uint64_t end = (uint64_t)fd->offset + fd->size;
        for (; c < l->ncolumns && l->columns[c].offset < end; c++)
            fprintf(f, "  %8u  %-5s  %s\n", l->columns[c].offset,
                    sabre_scalar_name(l->columns[c].type), l->columns[c].name);
    }
}

int sabre_layout_print(const sabre_layout_t *layout, void *file, bool json)
{
    FILE *f = file;
    if (!layout || !f)
        return sabre__fail(SABRE_EINVAL, "sabre_layout_print: %s is NULL",
                           layout ? "file" : "layout");
    if (json) {
        print_layout_json(f, layout);
        fputc('\n', f);
    } else {
        print_layout_text(f, layout);
    }
    if (ferror(f))
        return sabre__fail(SABRE_EIO, "sabre_layout_print: write failed");
    return SABRE_OK;
}

int sabre_schema_print(const sabre_schema_t *schema, void *file, bool json)
{
    FILE *f = file;
    if (!schema || !f)
        return sabre__fail(SABRE_EINVAL, "sabre_schema_print: %s is NULL",
                           schema ? "file" : "schema");
    if (json) {
        const sabre_layout_t *root = sabre_schema_root(schema);
        fprintf(f, "{\"root\":");
        sabre__json_str(f, root ? root->name : "", SIZE_MAX);
        fprintf(f, ",\"structs\":[\n");
        for (uint32_t i = 0; i < schema->count; i++) {
            if (i)
                fprintf(f, ",\n");
            print_layout_json(f, &schema->nodes[i]->pub);
        }
        fprintf(f, "\n]}\n");
    } else {
        for (uint32_t i = 0; i < schema->count; i++) {
            if (i)
                fputc('\n', f);
            print_layout_text(f, &schema->nodes[i]->pub);
        }
    }
    if (ferror(f))
        return sabre__fail(SABRE_EIO, "sabre_schema_print: write failed");
    return SABRE_OK;
}
