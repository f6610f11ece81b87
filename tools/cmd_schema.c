/*
 * cmd_schema.c - `sabre schema`: compile a schema file and print its
 * layouts (sizes, alignments, flattened columns, canonical text, hash).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "sabre/layout.h"

static void schema_usage(FILE *f)
{
    fprintf(f, "usage: sabre schema <file|-> [--json] [--struct NAME] [--canonical] [--hash]\n"
               "       sabre schema --emit c <file|->\n"
               "\n"
               "Compiles a schema (docs/schema.md) and prints every struct's size and\n"
               "alignment, every flattened column's offset, type and name, the canonical\n"
               "text and the layout hash (FNV-1a 64 of the canonical text).\n"
               "\n"
               "  <file>         schema text; '-' reads standard input\n"
               "  --json         print JSON instead of text\n"
               "  --struct NAME  print only struct NAME\n"
               "  --canonical    print only the canonical text (of NAME, else the last struct)\n"
               "  --hash         print only the layout hash as 0x%%016llx (same choice)\n"
               "  --emit c       print a C header: a typedef per struct (size and offsets\n"
               "                 checked by _Static_assert), NAME_LAYOUT_HASH, NAME_FIELD_*\n"
               "                 (ring arrays: top-level fields without padding) and\n"
               "                 NAME_COL_* (flattened columns) index constants\n"
               "  -h, --help     this help\n"
               "\n"
               "A bad schema prints 'file:line:col: error: message' and exits with status 1.\n");
}

/* Reads at most limit + 1 bytes so an oversized input is detected, not slurped. */
static char *read_all(FILE *f, size_t limit, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        size_t want = cap - n;
        if (want > limit + 1 - n)
            want = limit + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got == 0 || n > limit) {
            if (ferror(f))
                break;
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

int sabre_tool_cmd_schema(int argc, char **argv)
{
    const char *path = NULL, *only = NULL;
    bool json = false, canonical = false, hash = false, emit_c = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            schema_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--canonical")) {
            canonical = true;
        } else if (!strcmp(a, "--hash")) {
            hash = true;
        } else if (!strcmp(a, "--emit") || !strncmp(a, "--emit=", 7)) {
            const char *lang = a[6] == '=' ? a + 7 : (++i < argc ? argv[i] : NULL);
            if (!lang || strcmp(lang, "c")) {
                fprintf(stderr, "sabre schema: --emit is '%s', want 'c'\n", lang ? lang : "");
                return 2;
            }
            emit_c = true;
        } else if (!strcmp(a, "--struct")) {
            if (++i >= argc) {
                fprintf(stderr, "sabre schema: --struct needs a struct name\n");
                return 2;
            }
            only = argv[i];
        } else if (!strncmp(a, "--struct=", 9)) {
            only = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sabre schema: unknown option '%s'\n", a);
            schema_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "sabre schema: more than one file ('%s' and '%s')\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        schema_usage(stderr);
        return 2;
    }

    const bool from_stdin = !strcmp(path, "-");
    const char *shown = from_stdin ? "<stdin>" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: error: cannot open: %s\n", shown, strerror(errno));
        return 1;
    }
    size_t len = 0;
    char *text = read_all(f, SABRE_SCHEMA_MAX_TEXT, &len);
    int read_err = errno;
    if (!from_stdin)
        fclose(f);
    if (!text) {
        fprintf(stderr, "%s: error: cannot read: %s\n", shown, strerror(read_err));
        return 1;
    }
    if (len > SABRE_SCHEMA_MAX_TEXT) {
        fprintf(stderr, "%s: error: schema text is larger than %d bytes\n", shown,
                SABRE_SCHEMA_MAX_TEXT);
        free(text);
        return 1;
    }

    sabre_schema_t *schema = NULL;
    sabre_schema_error_t err;
    int rc = sabre_schema_compile(text, len, &schema, &err);
    free(text);
    if (rc != SABRE_OK) {
        if (err.line)
            fprintf(stderr, "%s:%u:%u: error: %s\n", shown, err.line, err.column, err.message);
        else
            fprintf(stderr, "%s: error: %s\n", shown, err.message);
        return 1;
    }

    const sabre_layout_t *layout = NULL;
    if (only) {
        layout = sabre_schema_find(schema, only);
        if (!layout) {
            fprintf(stderr, "%s: error: no struct '%s'; structs:", shown, only);
            for (uint32_t i = 0; i < sabre_schema_count(schema); i++)
                fprintf(stderr, " %s", sabre_schema_at(schema, i)->name);
            fprintf(stderr, "\n");
            sabre_schema_free(schema);
            return 1;
        }
    }
    const sabre_layout_t *pick = layout ? layout : sabre_schema_root(schema);
    if (emit_c) {
        rc = sabre_tool_schema_emit_c(schema, shown, stdout) ? SABRE_EIO : SABRE_OK;
    } else if (canonical || hash) {
        if (canonical)
            printf("%s\n", pick->canonical);
        if (hash)
            printf("0x%016llx\n", (unsigned long long)pick->hash);
        rc = ferror(stdout) ? SABRE_EIO : SABRE_OK;
    } else if (layout) {
        rc = sabre_layout_print(layout, stdout, json);
    } else {
        rc = sabre_schema_print(schema, stdout, json);
    }
    if (fflush(stdout) != 0)
        rc = SABRE_EIO;
    sabre_schema_free(schema);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre schema: cannot write the output\n");
        return 1;
    }
    return 0;
}
