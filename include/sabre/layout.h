/*
 * sabre/layout.h - scalar types, the schema language, compiled layouts.
 *
 * A *schema* is a small text (see docs/schema.md):
 *
 *     // comments run to end of line; block comments too
 *     struct Pos { x: f32; y: f32; }
 *     struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; _: pad[4]; }
 *
 * Compiling a schema yields one *layout* per struct: its size and alignment
 * under natural alignment (field offset = align_up(offset, field align);
 * struct align = max field align; size rounded up to the align; array stride
 * = element size rounded up to its align), its direct fields, and its
 * *columns*: the struct flattened to named scalars ("pos_x", "tags_2"), in
 * field order, each with type and byte offset inside the struct.
 *
 * Each layout has a canonical text (whitespace, comments and unused structs
 * removed; dependencies first) and a 64-bit hash: FNV-1a 64 over the
 * canonical text's bytes.  Both are specified exactly in docs/schema.md so
 * another language can recompute them.  The canonical text is itself a
 * schema: compiling it gives back the same layout as its root (last) struct.
 *
 * Ownership: a sabre_schema_t owns every layout, field, column and string it
 * hands out; they stay valid until sabre_schema_free().  A compiled schema
 * is immutable: any number of threads may read it concurrently.
 *
 * Byte order: values are stored in the machine's native byte order
 * (little-endian on every supported platform).
 */
#ifndef SABRE_LAYOUT_H
#define SABRE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sabre/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sabre_scalar {
    SABRE_SCALAR_NONE = 0,
    SABRE_F32,
    SABRE_F64,
    SABRE_I8,
    SABRE_U8,
    SABRE_I16,
    SABRE_U16,
    SABRE_I32,
    SABRE_U32,
    SABRE_I64,
    SABRE_U64,
    SABRE_BOOL, /* stored as u8, 0 or 1 */
    SABRE_SCALAR_COUNT
} sabre_scalar_t;

/* Size in bytes (= alignment) of a scalar; 0 for SABRE_SCALAR_NONE/invalid. */
size_t sabre_scalar_size(sabre_scalar_t t);
/* Schema spelling ("f32", "bool", ...); "?" for invalid values. */
const char *sabre_scalar_name(sabre_scalar_t t);
/* Parse a schema spelling; returns SABRE_SCALAR_NONE if unknown. */
sabre_scalar_t sabre_scalar_parse(const char *name, size_t len);

typedef enum sabre_field_kind {
    SABRE_FIELD_SCALAR = 1, /* name: f32 */
    SABRE_FIELD_STRUCT,     /* name: Pos */
    SABRE_FIELD_PAD         /* _: pad[N]  (N bytes, alignment 1) */
} sabre_field_kind_t;

typedef struct sabre_layout sabre_layout_t;

/* One direct field of a struct. */
typedef struct sabre_field {
    const char *name; /* "_" for padding */
    sabre_field_kind_t kind;
    sabre_scalar_t scalar;      /* element type when kind == SCALAR */
    const sabre_layout_t *type; /* element struct when kind == STRUCT */
    uint32_t count;             /* array length; 1 when not an array; pad: N */
    bool is_array;              /* declared with [N] */
    uint32_t offset;            /* byte offset in the struct */
    uint32_t stride;            /* element stride (array), element size otherwise */
    uint32_t size;              /* total bytes = stride * count (pad: N) */
    uint32_t align;
} sabre_field_t;

/* One flattened scalar column. */
typedef struct sabre_column {
    const char *name; /* "pos_x", "tags_2", "vel_3_y" */
    sabre_scalar_t type;
    uint32_t offset; /* byte offset inside the struct (AoS) */
    uint32_t size;   /* sabre_scalar_size(type) */
} sabre_column_t;

/* A compiled struct.  Read-only; owned by its schema. */
struct sabre_layout {
    const char *name;
    uint32_t size;
    uint32_t align;
    uint32_t nfields;
    const sabre_field_t *fields;
    uint32_t ncolumns;
    const sabre_column_t *columns;
    const char *canonical; /* canonical text, NUL-terminated */
    size_t canonical_len;  /* strlen(canonical) */
    uint64_t hash;         /* FNV-1a 64 of canonical */
};

typedef struct sabre_schema sabre_schema_t;

/* Compiler limits (see sabre_schema_compile). */
#define SABRE_SCHEMA_MAX_TEXT          (1 << 20) /* bytes of schema text */
#define SABRE_SCHEMA_MAX_STRUCTS       1024
#define SABRE_SCHEMA_MAX_FIELDS        4096        /* per struct, padding included */
#define SABRE_SCHEMA_MAX_COLUMNS       65536       /* per struct */
#define SABRE_SCHEMA_MAX_TOTAL_COLUMNS (1 << 20)   /* all structs of a schema */
#define SABRE_SCHEMA_MAX_TOTAL_BYTES   (64 << 20)  /* column names + canonical texts */
#define SABRE_SCHEMA_MAX_SIZE          0x7fffffffu /* struct and array sizes, bytes */
#define SABRE_SCHEMA_MAX_DEPTH         64          /* struct nesting levels */
#define SABRE_SCHEMA_MAX_IDENT         63          /* bytes in a struct or field name */
#define SABRE_SCHEMA_MAX_COLUMN_NAME   255         /* bytes in a flattened column name */

/* Where and why a schema failed to compile. */
typedef struct sabre_schema_error {
    uint32_t line;     /* 1-based; 0 if not tied to a position */
    uint32_t column;   /* 1-based byte column */
    char message[256]; /* e.g. "expected ':' after field name 'x', found '='" */
} sabre_schema_error_t;

/*
 * Compile schema text (len bytes; need not be NUL-terminated).
 * On success *out owns the result.  On failure returns SABRE_ESCHEMA (or
 * SABRE_ENOMEM / SABRE_EINVAL), leaves *out NULL, fills *err if non-NULL,
 * and sets sabre_last_error() to "line L, column C: message".
 * Limits (errors, not crashes): text up to 1 MiB, 1024 structs, 4096 fields
 * per struct, 65536 columns per struct, sizes below 2^31 bytes, nesting
 * depth 64, identifiers up to 63 bytes; recursive struct definitions and
 * duplicate names are errors.  Also (SABRE_SCHEMA_MAX_* above): flattened
 * column names up to 255 bytes, 2^20 columns in the whole schema, and
 * 64 MiB of column names plus canonical texts in the whole schema, so that
 * a small hostile text cannot make the compiler allocate gigabytes.
 * Syntax errors are reported at the first offending token; layout errors
 * (size, column count, nesting depth) when the struct's closing '}' is
 * read, at the field concerned.
 * Thread-safety: compile is reentrant (no shared state).
 */
int sabre_schema_compile(const char *text, size_t len, sabre_schema_t **out,
                         sabre_schema_error_t *err);

void sabre_schema_free(sabre_schema_t *schema);

/* Number of structs and the i-th in definition order. */
uint32_t sabre_schema_count(const sabre_schema_t *schema);
const sabre_layout_t *sabre_schema_at(const sabre_schema_t *schema, uint32_t i);
/* The struct named `name`, or NULL. */
const sabre_layout_t *sabre_schema_find(const sabre_schema_t *schema, const char *name);
/* The last struct defined: the conventional root of a schema. */
const sabre_layout_t *sabre_schema_root(const sabre_schema_t *schema);

/* Column by flattened name, or NULL. */
const sabre_column_t *sabre_layout_column(const sabre_layout_t *layout, const char *name);

/* Layout hash of arbitrary canonical text (FNV-1a 64 over its bytes). */
uint64_t sabre_layout_hash_text(const char *canonical, size_t len);

/*
 * Pack one struct value (AoS bytes, layout->size bytes at `value`) into
 * row `row` of SoA columns: columns[i] points at column i's array (element
 * type layout->columns[i].type).  Unpack does the reverse.  Padding bytes
 * are not copied (unpack zeroes them).  bool is normalised to 0/1 on pack.
 * No bounds are known here: the caller guarantees `row` is in range.
 */
void sabre_layout_pack(const sabre_layout_t *layout, const void *value, void *const *columns,
                       size_t row);
void sabre_layout_unpack(const sabre_layout_t *layout, const void *const *columns, size_t row,
                         void *value);

/*
 * Write a human-readable description (every struct's size and alignment,
 * every column's name, type and offset, the hash) or JSON to `f` (FILE*).
 * Returns SABRE_OK or SABRE_EIO.
 */
int sabre_schema_print(const sabre_schema_t *schema, void *file, bool json);

/* The same for one layout (human text, or one JSON object and a newline). */
int sabre_layout_print(const sabre_layout_t *layout, void *file, bool json);

#ifdef __cplusplus
}
#endif
#endif
