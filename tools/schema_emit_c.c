/*
 * schema_emit_c.c - `sabre schema --emit c`: a C header for a schema, so C
 * code addresses columns and ring fields by generated constants instead of
 * hand-counted indices:
 *   - one typedef per struct (the AoS record, natural alignment, which is
 *     C's), checked against the compiled layout with _Static_assert on its
 *     size and every field's offset;
 *   - <NAME>_SIZE, <NAME>_ALIGN, <NAME>_LAYOUT_HASH (FNV-1a 64 of the
 *     canonical text: sabre_ring_open and sabre_region_find compare it),
 *     <NAME>_SCHEMA (the canonical text: sabre_schema_compile it to get the
 *     layout at run time);
 *   - <NAME>_FIELD_<field>: index of each top-level field that is not
 *     padding (a ring chunk's SoA arrays, sabre_chunk_array), <NAME>_NFIELDS;
 *   - <NAME>_COL_<column>: index of each flattened column (a component's
 *     columns: sabre_kernel_column, sabre_snapshot_column_at), <NAME>_NCOLUMNS.
 * Identifiers that are C keywords get a trailing underscore.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "sabre/layout.h"

static const char *const c_keywords[] = {"auto",         "break",    "case",      "char",
                                         "const",        "continue", "default",   "do",
                                         "double",       "else",     "enum",      "extern",
                                         "float",        "for",      "goto",      "if",
                                         "inline",       "int",      "long",      "register",
                                         "restrict",     "return",   "short",     "signed",
                                         "sizeof",       "static",   "struct",    "switch",
                                         "typedef",      "union",    "unsigned",  "void",
                                         "volatile",     "while",    "bool",      "true",
                                         "false",        "_Bool",    "_Alignas",  "_Alignof",
                                         "_Atomic",      "_Generic", "_Noreturn", "_Static_assert",
                                         "_Thread_local"};

static const char *ident_suffix(const char *name)
{
    for (size_t i = 0; i < sizeof c_keywords / sizeof c_keywords[0]; i++)
        if (!strcmp(name, c_keywords[i]))
            return "_";
    return "";
}

static void put_upper(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(isalnum((unsigned char)*s) ? toupper((unsigned char)*s) : '_', f);
}

static const char *c_type(sabre_scalar_t t)
{
    switch (t) {
    case SABRE_F32:
        return "float";
    case SABRE_F64:
        return "double";
    case SABRE_I8:
        return "int8_t";
    case SABRE_U8:
        return "uint8_t";
    case SABRE_I16:
        return "int16_t";
    case SABRE_U16:
        return "uint16_t";
    case SABRE_I32:
        return "int32_t";
    case SABRE_U32:
        return "uint32_t";
    case SABRE_I64:
        return "int64_t";
    case SABRE_U64:
        return "uint64_t";
    case SABRE_BOOL:
        return "bool";
    default:
        return "uint8_t";
    }
}

static void emit_struct(FILE *f, const sabre_layout_t *l)
{
    const char *tn = l->name, *ts = ident_suffix(l->name);
    fprintf(f, "/* %s: %u bytes, align %u */\ntypedef struct %s%s {\n", tn, l->size, l->align, tn,
            ts);
    unsigned npad = 0;
    for (uint32_t i = 0; i < l->nfields; i++) {
        const sabre_field_t *fd = &l->fields[i];
        if (fd->kind == SABRE_FIELD_PAD) {
            fprintf(f, "    uint8_t _pad%u[%u];\n", npad++, fd->size);
            continue;
        }
        const char *type = fd->kind == SABRE_FIELD_STRUCT ? fd->type->name : c_type(fd->scalar);
        const char *tsuf = fd->kind == SABRE_FIELD_STRUCT ? ident_suffix(fd->type->name) : "";
        fprintf(f, "    %s%s %s%s", type, tsuf, fd->name, ident_suffix(fd->name));
        if (fd->is_array)
            fprintf(f, "[%u]", fd->count);
        fprintf(f, ";\n");
    }
    fprintf(f, "} %s%s;\n", tn, ts);
    fprintf(f, "_Static_assert(sizeof(%s%s) == %u, \"%s: size\");\n", tn, ts, l->size, tn);
    fprintf(f, "_Static_assert(_Alignof(%s%s) == %u, \"%s: alignment\");\n", tn, ts, l->align, tn);
    for (uint32_t i = 0; i < l->nfields; i++) {
        const sabre_field_t *fd = &l->fields[i];
        if (fd->kind != SABRE_FIELD_PAD)
            fprintf(f, "_Static_assert(offsetof(%s%s, %s%s) == %u, \"%s.%s: offset\");\n", tn, ts,
                    fd->name, ident_suffix(fd->name), fd->offset, tn, fd->name);
    }
    fprintf(f, "#define ");
    put_upper(f, tn);
    fprintf(f, "_SIZE %uu\n#define ", l->size);
    put_upper(f, tn);
    fprintf(f, "_ALIGN %uu\n#define ", l->align);
    put_upper(f, tn);
    fprintf(f, "_LAYOUT_HASH 0x%016llxull\n#define ", (unsigned long long)l->hash);
    put_upper(f, tn);
    /* the canonical text: identifiers and punctuation, nothing to escape */
    fprintf(f, "_SCHEMA \"%s\"\n", l->canonical);
    /* ring fields: top-level fields without padding */
    fprintf(f, "enum {\n");
    uint32_t nf = 0;
    for (uint32_t i = 0; i < l->nfields; i++) {
        if (l->fields[i].kind == SABRE_FIELD_PAD)
            continue;
        fprintf(f, "    ");
        put_upper(f, tn);
        fprintf(f, "_FIELD_");
        put_upper(f, l->fields[i].name);
        fprintf(f, " = %u,\n", nf++);
    }
    fprintf(f, "    ");
    put_upper(f, tn);
    fprintf(f, "_NFIELDS = %u\n};\nenum {\n", nf);
    for (uint32_t i = 0; i < l->ncolumns; i++) {
        fprintf(f, "    ");
        put_upper(f, tn);
        fprintf(f, "_COL_");
        put_upper(f, l->columns[i].name);
        fprintf(f, " = %u, /* %s at byte %u */\n", i, sabre_scalar_name(l->columns[i].type),
                l->columns[i].offset);
    }
    fprintf(f, "    ");
    put_upper(f, tn);
    fprintf(f, "_NCOLUMNS = %u\n};\n\n", l->ncolumns);
}

/* Struct i after every struct its fields use (C needs them defined first). */
static void emit_deps_first(FILE *f, const sabre_schema_t *schema, uint32_t i, bool *done)
{
    if (done[i])
        return;
    done[i] = true; /* schemas have no recursive structs */
    const sabre_layout_t *l = sabre_schema_at(schema, i);
    for (uint32_t k = 0; k < l->nfields; k++)
        if (l->fields[k].kind == SABRE_FIELD_STRUCT)
            for (uint32_t j = 0; j < sabre_schema_count(schema); j++)
                if (sabre_schema_at(schema, j) == l->fields[k].type)
                    emit_deps_first(f, schema, j, done);
    emit_struct(f, l);
}

int sabre_tool_schema_emit_c(const sabre_schema_t *schema, const char *shown, FILE *f)
{
    const char *base = strrchr(shown, '/');
    base = base ? base + 1 : shown;
    fprintf(f, "/* Generated by `sabre schema --emit c %s`: do not edit, regenerate. */\n", base);
    fprintf(f, "// clang-format off\n");
    fprintf(f, "#ifndef SABRE_SCHEMA_");
    put_upper(f, base);
    fprintf(f, "_H\n#define SABRE_SCHEMA_");
    put_upper(f, base);
    fprintf(f, "_H\n\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n\n");
    uint32_t n = sabre_schema_count(schema);
    bool done[SABRE_SCHEMA_MAX_STRUCTS] = {false};
    for (uint32_t i = 0; i < n; i++)
        emit_deps_first(f, schema, i, done);
    fprintf(f, "#endif\n// clang-format on\n");
    return ferror(f) ? 1 : 0;
}
