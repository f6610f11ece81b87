/*
 * fuzz_schema.c - libFuzzer target for the schema compiler.
 *
 * Any bytes: compile must return SABRE_OK or SABRE_ESCHEMA (never crash,
 * hang or leak), an error must point inside the text, and a compiled
 * schema must satisfy the layout invariants: every field and column inside
 * its struct and aligned, columns sorted by offset without overlap, sizes a
 * multiple of the alignment, the canonical text recompiling to the same
 * layout and hash, and pack/unpack round-tripping a value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sabre/layout.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_schema: invariant failed at line %d: %s\n", __LINE__, #cond);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *text, size_t len, int rc, const sabre_schema_error_t *e)
{
    REQUIRE(rc == SABRE_ESCHEMA || rc == SABRE_ENOMEM);
    REQUIRE(e->message[0] != '\0');
    REQUIRE(memchr(e->message, '\0', sizeof e->message) != NULL);
    if (rc != SABRE_ESCHEMA || e->line == 0)
        return;
    uint32_t lines = 1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            lines++;
            start = i + 1;
        }
    REQUIRE(e->line <= lines);
    REQUIRE(e->column >= 1);
    if (e->line == lines)
        REQUIRE(e->column <= len - start + 1);
}

static void check_layout(const sabre_layout_t *l, const uint8_t *data, size_t size)
{
    REQUIRE(l->align == 1 || l->align == 2 || l->align == 4 || l->align == 8);
    REQUIRE(l->size >= 1 && l->size % l->align == 0);
    REQUIRE(l->size <= SABRE_SCHEMA_MAX_SIZE);
    REQUIRE(l->nfields >= 1 && l->nfields <= SABRE_SCHEMA_MAX_FIELDS);
    REQUIRE(l->ncolumns <= SABRE_SCHEMA_MAX_COLUMNS);
    uint64_t end = 0;
    for (uint32_t i = 0; i < l->nfields; i++) {
        const sabre_field_t *f = &l->fields[i];
        REQUIRE(f->align >= 1 && f->align <= l->align && f->offset % f->align == 0);
        REQUIRE(f->count >= 1 && (uint64_t)f->stride * f->count == f->size);
        REQUIRE(f->offset >= end);
        end = (uint64_t)f->offset + f->size;
        REQUIRE(end <= l->size);
        if (f->kind == SABRE_FIELD_STRUCT)
            REQUIRE(f->type && f->stride == f->type->size && f->align == f->type->align);
        else if (f->kind == SABRE_FIELD_SCALAR)
            REQUIRE(f->stride == sabre_scalar_size(f->scalar));
        else
            REQUIRE(f->kind == SABRE_FIELD_PAD && f->stride == 1 && !strcmp(f->name, "_"));
    }
    end = 0;
    for (uint32_t c = 0; c < l->ncolumns; c++) {
        const sabre_column_t *col = &l->columns[c];
        REQUIRE(col->size == sabre_scalar_size(col->type) && col->size > 0);
        REQUIRE(col->offset % col->size == 0);
        REQUIRE(col->offset >= end); /* sorted, no overlap */
        end = (uint64_t)col->offset + col->size;
        REQUIRE(end <= l->size);
        REQUIRE(strlen(col->name) <= SABRE_SCHEMA_MAX_COLUMN_NAME);
    }
    REQUIRE(strlen(l->canonical) == l->canonical_len);
    REQUIRE(sabre_layout_hash_text(l->canonical, l->canonical_len) == l->hash);

    /* the canonical text is a schema whose root is this layout again */
    sabre_schema_t *again = NULL;
    REQUIRE(sabre_schema_compile(l->canonical, l->canonical_len, &again, NULL) == SABRE_OK);
    const sabre_layout_t *r = sabre_schema_root(again);
    REQUIRE(!strcmp(r->name, l->name) && r->hash == l->hash);
    REQUIRE(!strcmp(r->canonical, l->canonical));
    REQUIRE(r->size == l->size && r->align == l->align && r->ncolumns == l->ncolumns);
    for (uint32_t c = 0; c < l->ncolumns; c++)
        REQUIRE(r->columns[c].offset == l->columns[c].offset &&
                r->columns[c].type == l->columns[c].type &&
                !strcmp(r->columns[c].name, l->columns[c].name));
    sabre_schema_free(again);

    /* pack then unpack one value made of the input bytes (small layouts) */
    if (l->size > 4096 || l->ncolumns > 512)
        return;
    uint8_t value[4096], back[4096], cells[512 * 8];
    void *cols[512];
    for (uint32_t i = 0; i < l->size; i++)
        value[i] = size ? data[i % size] : (uint8_t)i;
    for (uint32_t c = 0; c < l->ncolumns; c++)
        cols[c] = cells + 8 * c;
    sabre_layout_pack(l, value, cols, 0);
    sabre_layout_unpack(l, (const void *const *)cols, 0, back);
    for (uint32_t c = 0; c < l->ncolumns; c++) {
        const sabre_column_t *col = &l->columns[c];
        if (col->type == SABRE_BOOL)
            REQUIRE(back[col->offset] == (value[col->offset] != 0));
        else
            REQUIRE(!memcmp(back + col->offset, value + col->offset, col->size));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    sabre_schema_t *s = NULL;
    sabre_schema_error_t e;
    int rc = sabre_schema_compile(text, size, &s, &e);
    if (rc != SABRE_OK) {
        REQUIRE(s == NULL);
        check_error(text, size, rc, &e);
        return 0;
    }
    uint32_t n = sabre_schema_count(s);
    REQUIRE(n >= 1 && n <= SABRE_SCHEMA_MAX_STRUCTS);
    REQUIRE(sabre_schema_root(s) == sabre_schema_at(s, n - 1));
    for (uint32_t i = 0; i < n; i++) {
        const sabre_layout_t *l = sabre_schema_at(s, i);
        REQUIRE(sabre_schema_find(s, l->name) == l);
        if (l->ncolumns)
            REQUIRE(sabre_layout_column(l, l->columns[l->ncolumns - 1].name) ==
                    &l->columns[l->ncolumns - 1]);
        check_layout(l, data, size);
    }
    /* printing never fails on a valid schema */
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        REQUIRE(sabre_schema_print(s, null, false) == SABRE_OK);
        REQUIRE(sabre_schema_print(s, null, true) == SABRE_OK);
        fclose(null);
    }
    sabre_schema_free(s);
    return 0;
}
