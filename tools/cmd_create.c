/*
 * cmd_create.c - `sabre create`: create a FILE or SHM region holding
 * COLUMNS objects compiled from schema files and raw objects (used by the
 * README demo and by tests).  COLUMNS byte layout: docs/abi.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "inspect_kinds.h"
#include "sabre/layout.h"
#include "sabre/region.h"

#define MAX_SPECS       256
#define SCHEMA_FILE_MAX (1u << 20)

static void create_usage(FILE *f)
{
    fprintf(
        f, "usage: sabre create (--file PATH | --shm NAME) --size BYTES[K|M|G]\n"
           "                    [--object NAME:SCHEMAFILE:ROWS ...] [--raw NAME:BYTES[K|M|G] ...]\n"
           "                    [--max-objects N] [--fill] [--replace] [--prefault] [--hugepages]\n"
           "\n"
           "Creates a region (mode 0600, space reserved up front) and allocates in it:\n"
           "  --object NAME:SCHEMAFILE:ROWS  a COLUMNS object: one 64-byte aligned array of\n"
           "                                 ROWS entries per flattened column of the schema's\n"
           "                                 root (last) struct; the root layout is stored\n"
           "  --raw NAME:BYTES               a RAW object of BYTES zero bytes\n"
           "  --max-objects N                directory capacity (default 256)\n"
           "  --fill                         set every column value to its row number:\n"
           "                                 integers truncated to their width, floats\n"
           "                                 exact up to 2^24 (f32), bool columns row & 1\n"
           "                                 (false, true, false, ...)\n"
           "  --replace                      replace an existing region of that name\n"
           "  --prefault, --hugepages        SABRE_REGION_PREFAULT / _HUGEPAGES\n"
           "  -h, --help                     this help\n");
}

/* "64", "4K", "1M", "2G" (binary units). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return false;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(SCHEMA_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SCHEMA_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > SCHEMA_FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void fill_value(uint8_t *p, sabre_scalar_t t, uint64_t row)
{
    switch (t) {
    case SABRE_F32: {
        float v = (float)row;
        memcpy(p, &v, 4);
        break;
    }
    case SABRE_F64: {
        double v = (double)row;
        memcpy(p, &v, 8);
        break;
    }
    case SABRE_BOOL:
        *p = (uint8_t)(row & 1);
        break;
    default: {
        uint64_t v = row; /* truncated to the width, little-endian */
        memcpy(p, &v, sabre_scalar_size(t));
        break;
    }
    }
}

/* One COLUMNS object: header, offset table, then the 64-byte aligned columns. */
static int alloc_columns(sabre_region_t *r, const char *name, const char *schema_path,
                         uint64_t rows, bool fill)
{
    size_t len = 0;
    char *text = read_file(schema_path, &len);
    if (!text) {
        fprintf(stderr, "sabre create: cannot read schema '%s': %s\n", schema_path,
                strerror(errno));
        return 1;
    }
    sabre_schema_t *s = NULL;
    sabre_schema_error_t err;
    int rc = sabre_schema_compile(text, len, &s, &err);
    free(text);
    if (rc != SABRE_OK) {
        fprintf(stderr, "%s:%u:%u: error: %s\n", schema_path, err.line, err.column, err.message);
        return 1;
    }
    const sabre_layout_t *l = sabre_schema_root(s);
    int status = 1;
    if (!l || l->ncolumns == 0) {
        fprintf(stderr, "sabre create: schema '%s' has no columns to store\n", schema_path);
        goto out;
    }
    uint64_t hsize = (64 + 8ull * l->ncolumns + 63) & ~63ull, size = hsize;
    uint64_t *offs = calloc(l->ncolumns, sizeof *offs);
    if (!offs)
        goto out;
    for (uint32_t c = 0; c < l->ncolumns; c++) {
        uint64_t bytes;
        if (__builtin_mul_overflow(rows, (uint64_t)l->columns[c].size, &bytes) ||
            size > UINT64_MAX - bytes - 64) {
            fprintf(stderr, "sabre create: object '%s': %llu rows overflow\n", name,
                    (unsigned long long)rows);
            free(offs);
            goto out;
        }
        offs[c] = size;
        size = (size + bytes + 63) & ~63ull;
    }
    sabre_object_t o;
    rc = sabre_region_alloc(
        r,
        &(sabre_object_desc_t){.name = name, .kind = SABRE_OBJ_COLUMNS, .size = size, .layout = l},
        &o);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre create: object '%s': %s\n", name, sabre_last_error());
        free(offs);
        goto out;
    }
    uint8_t *p = o.ptr;
    uint64_t magic = SABRE_COLUMNS_MAGIC;
    uint32_t ncol = l->ncolumns, hs = (uint32_t)hsize;
    memcpy(p, &magic, 8);
    memcpy(p + 8, &rows, 8);
    memcpy(p + 16, &ncol, 4);
    memcpy(p + 20, &hs, 4);
    memcpy(p + 64, offs, 8ull * ncol);
    if (fill)
        for (uint32_t c = 0; c < ncol; c++)
            for (uint64_t i = 0; i < rows; i++)
                fill_value(p + offs[c] + i * l->columns[c].size, l->columns[c].type, i);
    printf("  %s: columns of %s, %u columns x %llu rows, %llu bytes at offset %llu, layout "
           "0x%016llx\n",
           name, l->name, ncol, (unsigned long long)rows, (unsigned long long)size,
           (unsigned long long)o.offset, (unsigned long long)o.layout_hash);
    free(offs);
    status = 0;
out:
    sabre_schema_free(s);
    return status;
}

struct spec {
    bool raw;
    char *arg;
};

int sabre_tool_cmd_create(int argc, char **argv)
{
    sabre_region_desc_t d = {.backing = SABRE_BACKING_FILE};
    const char *where = NULL;
    uint64_t size = 0;
    bool fill = false;
    struct spec specs[MAX_SPECS];
    int nspecs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = !strcmp(a, "--file") || !strcmp(a, "--shm") || !strcmp(a, "--size") ||
                       !strcmp(a, "--object") || !strcmp(a, "--raw") || !strcmp(a, "--max-objects");
        if (has_val && i + 1 >= argc) {
            fprintf(stderr, "sabre create: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            create_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--file") || !strcmp(a, "--shm")) {
            if (where) {
                fprintf(stderr, "sabre create: give one of --file / --shm, once\n");
                return 2;
            }
            d.backing = a[2] == 'f' ? SABRE_BACKING_FILE : SABRE_BACKING_SHM;
            where = argv[++i];
        } else if (!strcmp(a, "--size")) {
            if (!parse_size(argv[++i], &size) || size == 0) {
                fprintf(stderr, "sabre create: bad --size '%s' (want BYTES[K|M|G])\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--max-objects")) {
            uint64_t n;
            if (!parse_size(argv[++i], &n) || n == 0 || n > UINT32_MAX) {
                fprintf(stderr, "sabre create: bad --max-objects '%s'\n", argv[i]);
                return 2;
            }
            d.max_objects = (uint32_t)n;
        } else if (!strcmp(a, "--object") || !strcmp(a, "--raw")) {
            if (nspecs == MAX_SPECS) {
                fprintf(stderr, "sabre create: at most %d objects\n", MAX_SPECS);
                return 2;
            }
            specs[nspecs++] = (struct spec){a[2] == 'r', argv[++i]};
        } else if (!strcmp(a, "--fill")) {
            fill = true;
        } else if (!strcmp(a, "--replace")) {
            d.flags |= SABRE_REGION_REPLACE;
        } else if (!strcmp(a, "--prefault")) {
            d.flags |= SABRE_REGION_PREFAULT;
        } else if (!strcmp(a, "--hugepages")) {
            d.flags |= SABRE_REGION_HUGEPAGES;
        } else {
            fprintf(stderr, "sabre create: unknown argument '%s'\n", a);
            create_usage(stderr);
            return 2;
        }
    }
    if (!where || !size) {
        fprintf(stderr, "sabre create: need --file PATH or --shm NAME, and --size\n");
        create_usage(stderr);
        return 2;
    }
    /* Check every spec's syntax before creating anything. */
    for (int k = 0; k < nspecs; k++) {
        const char *arg = specs[k].arg;
        const char *c1 = strchr(arg, ':'), *c2 = strrchr(arg, ':');
        uint64_t n;
        bool ok = c1 && c1 != arg &&
                  (specs[k].raw ? (c1 == c2 && parse_size(c1 + 1, &n) && n)
                                : (c2 > c1 + 1 && parse_size(c2 + 1, &n)));
        if (!ok) {
            fprintf(stderr, "sabre create: bad %s '%s' (want %s)\n",
                    specs[k].raw ? "--raw" : "--object", arg,
                    specs[k].raw ? "NAME:BYTES" : "NAME:SCHEMAFILE:ROWS");
            return 2;
        }
    }
    d.name = where;
    d.size = size;
    sabre_region_t *r = NULL;
    int rc = sabre_region_create(&d, &r);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre create: %s (%s)\n", sabre_last_error(), sabre_status_name(rc));
        return 1;
    }
    printf("created %s region %s, %llu bytes\n", d.backing == SABRE_BACKING_FILE ? "file" : "shm",
           where, (unsigned long long)sabre_region_size(r));
    int status = 0;
    for (int k = 0; k < nspecs && status == 0; k++) {
        char *arg = specs[k].arg;
        char *c1 = strchr(arg, ':'), *c2 = strrchr(arg, ':');
        char name[SABRE_NAME_MAX + 1];
        size_t nl = (size_t)(c1 - arg);
        if (nl >= sizeof name) {
            fprintf(stderr, "sabre create: object name '%.*s' is too long\n", (int)nl, arg);
            status = 1;
            break;
        }
        memcpy(name, arg, nl);
        name[nl] = '\0';
        uint64_t n = 0;
        if (specs[k].raw) {
            parse_size(c1 + 1, &n);
            sabre_object_t o;
            rc = sabre_region_alloc(r, &(sabre_object_desc_t){.name = name, .size = n}, &o);
            if (rc != SABRE_OK) {
                fprintf(stderr, "sabre create: object '%s': %s\n", name, sabre_last_error());
                status = 1;
            } else {
                printf("  %s: raw, %llu bytes at offset %llu\n", name, (unsigned long long)n,
                       (unsigned long long)o.offset);
            }
        } else {
            parse_size(c2 + 1, &n);
            char path[4096];
            size_t pl = (size_t)(c2 - c1 - 1);
            if (pl >= sizeof path) {
                fprintf(stderr, "sabre create: schema path too long\n");
                status = 1;
                break;
            }
            memcpy(path, c1 + 1, pl);
            path[pl] = '\0';
            status = alloc_columns(r, name, path, n, fill);
        }
    }
    sabre_region_close(r);
    if (status != 0) {
        /* Leave nothing half-made behind. */
        sabre_region_unlink(d.backing, where);
        return 1;
    }
    return 0;
}
