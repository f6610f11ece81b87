/*
 * cmd_inspect.c - `sabre inspect`: print a region's header, every object
 * with its layout, and each object's live state (per-kind hooks, see
 * inspect_kinds.h), as text or JSON, once or refreshed (--watch).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "core/internal.h"
#include "inspect_kinds.h"
#include "sabre/layout.h"
#include "sabre/region.h"

/* Hooks from tools/inspect_<layer>.c; NULL when that layer's file is absent. */
#pragma weak sabre_tool_describe_weights
#pragma weak sabre_tool_describe_ring
#pragma weak sabre_tool_describe_snapshot
#pragma weak sabre_tool_describe_table
#pragma weak sabre_tool_describe_mailbox
#pragma weak sabre_tool_describe_vecenv
#pragma weak sabre_tool_describe_bridge

typedef int (*describe_fn)(const sabre_region_t *, const sabre_object_t *, FILE *, bool);

static int describe_columns(const sabre_region_t *r, const sabre_object_t *o, FILE *out, bool json);

static describe_fn hook_for(uint32_t kind)
{
    switch (kind) {
    case SABRE_OBJ_COLUMNS:
        return describe_columns;
    case SABRE_OBJ_WEIGHTS:
        return sabre_tool_describe_weights;
    case SABRE_OBJ_RING:
        return sabre_tool_describe_ring;
    case SABRE_OBJ_SNAPSHOT:
        return sabre_tool_describe_snapshot;
    case SABRE_OBJ_TABLE:
        return sabre_tool_describe_table;
    case SABRE_OBJ_MAILBOX:
        return sabre_tool_describe_mailbox;
    case SABRE_OBJ_VECENV:
        return sabre_tool_describe_vecenv;
    case SABRE_OBJ_BRIDGE:
        return sabre_tool_describe_bridge;
    default:
        return NULL;
    }
}

static void inspect_usage(FILE *f)
{
    fprintf(f, "usage: sabre inspect <file|shm-name> [--json] [--watch[=SECONDS]] [--count N]\n"
               "\n"
               "Opens a region read-only, validates it, and prints its header, every\n"
               "object (name, kind, offset, size, layout text and hash) and, for kinds\n"
               "whose layer provides a describer, the object's live state.\n"
               "\n"
               "  <file|shm-name>   an existing path is a FILE region; anything else is\n"
               "                    a POSIX shm name (\"/name\" or \"name\")\n"
               "  --json            one JSON document (with --watch: one per line)\n"
               "  --watch[=S]       refresh every S seconds (default 1) until interrupted\n"
               "  --count N         with --watch: stop after N refreshes\n"
               "  -h, --help        this help\n"
               "\n"
               "Exit status: 0 when the region and every object's state are valid;\n"
               "1 when the region cannot be opened or fails validation (missing, not a\n"
               "regular file, corrupt, incompatible): the reason is printed; 3 when the\n"
               "region is valid but an object's state is not (listed as \"state: error\",\n"
               "in JSON \"state_error\"; every object is still printed); 2 for bad usage.\n"
               "COLUMNS objects are checked as docs/abi.md \"COLUMNS objects\" says.\n");
}

/* ---- JSON and text helpers ---------------------------------------------- */

static void iso_time(char *dst, size_t cap, uint64_t ns)
{
    time_t s = (time_t)(ns / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(dst, cap, "?");
        return;
    }
    size_t n = strftime(dst, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(dst + n, cap - n, ".%03uZ", (unsigned)(ns / 1000000ull % 1000ull));
}

static const char *slot_state_str(sabre_slot_state_t s)
{
    switch (s) {
    case SABRE_SLOT_EMPTY:
        return "empty";
    case SABRE_SLOT_WRITING:
        return "writing";
    case SABRE_SLOT_READY:
        return "ready";
    case SABRE_SLOT_DEAD:
        return "dead";
    default:
        return "invalid";
    }
}

/* ---- COLUMNS objects (docs/abi.md "COLUMNS objects") ----------------------- */

static void print_value(FILE *f, sabre_scalar_t t, const uint8_t *p, bool json)
{
    union {
        float f32;
        double f64;
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
    } v;
    memcpy(&v, p, sabre_scalar_size(t));
    double d = 0;
    switch (t) {
    case SABRE_F32:
        d = v.f32;
        goto real;
    case SABRE_F64:
        d = v.f64;
        goto real;
    case SABRE_I8:
        fprintf(f, "%d", v.i8);
        return;
    case SABRE_U8:
        fprintf(f, "%u", v.u8);
        return;
    case SABRE_I16:
        fprintf(f, "%d", v.i16);
        return;
    case SABRE_U16:
        fprintf(f, "%u", v.u16);
        return;
    case SABRE_I32:
        fprintf(f, "%d", v.i32);
        return;
    case SABRE_U32:
        fprintf(f, "%u", v.u32);
        return;
    case SABRE_I64:
        fprintf(f, "%lld", (long long)v.i64);
        return;
    case SABRE_U64:
        fprintf(f, "%llu", (unsigned long long)v.u64);
        return;
    case SABRE_BOOL:
        fprintf(f, "%s", v.u8 ? "true" : "false");
        return;
    default:
        fprintf(f, json ? "null" : "?");
        return;
    }
real:
    if (isfinite(d))
        fprintf(f, "%.9g", d);
    else
        fprintf(f, json ? "null" : "%g", d);
}

#define COLUMNS_SHOW 4

static int describe_columns(const sabre_region_t *r, const sabre_object_t *o, FILE *out, bool json)
{
    (void)r;
    const uint8_t *p = o->ptr;
    if (o->size < 64)
        return sabre__fail(SABRE_ECORRUPT,
                           "columns object is %llu bytes, smaller than its "
                           "64-byte header",
                           (unsigned long long)o->size);
    uint64_t magic, rows;
    uint32_t ncol, hsize;
    memcpy(&magic, p, 8);
    memcpy(&rows, p + 8, 8);
    memcpy(&ncol, p + 16, 4);
    memcpy(&hsize, p + 20, 4);
    if (magic != SABRE_COLUMNS_MAGIC)
        return sabre__fail(SABRE_ECORRUPT, "columns header magic 0x%016llx, want 0x%016llx",
                           (unsigned long long)magic, (unsigned long long)SABRE_COLUMNS_MAGIC);
    if (!o->layout_len)
        return sabre__fail(SABRE_ECORRUPT, "columns object has no layout text");
    sabre_schema_t *s = NULL;
    int rc = sabre_schema_compile(o->layout_text, (size_t)o->layout_len, &s, NULL);
    if (rc != SABRE_OK)
        return rc;
    const sabre_layout_t *l = sabre_schema_root(s);
    rc = SABRE_ECORRUPT;
    if (!l || l->ncolumns != ncol) {
        sabre__fail(rc, "columns header has %u columns, its layout %u", ncol, l ? l->ncolumns : 0);
        goto done;
    }
    uint64_t table_end = 64 + 8ull * ncol;
    if (hsize < table_end || hsize % 64 != 0 || hsize > o->size) {
        sabre__fail(rc,
                    "columns header size %u must be a multiple of 64 that covers the "
                    "%llu-byte offset table and fits in %llu bytes",
                    hsize, (unsigned long long)table_end, (unsigned long long)o->size);
        goto done;
    }
    for (uint32_t c = 0; c < ncol; c++) {
        uint64_t off;
        memcpy(&off, p + 64 + 8ull * c, 8);
        uint64_t sz = l->columns[c].size, bytes;
        if (off % 64 != 0) {
            sabre__fail(rc, "column '%s' offset %llu is not a multiple of 64", l->columns[c].name,
                        (unsigned long long)off);
            goto done;
        }
        if (off < hsize) {
            sabre__fail(rc, "column '%s' offset %llu is inside the %u-byte columns header",
                        l->columns[c].name, (unsigned long long)off, hsize);
            goto done;
        }
        if (__builtin_mul_overflow(rows, sz, &bytes) || off > o->size || bytes > o->size - off) {
            sabre__fail(rc,
                        "column '%s' at %llu with %llu rows of %llu bytes does not fit "
                        "the %llu-byte object",
                        l->columns[c].name, (unsigned long long)off, (unsigned long long)rows,
                        (unsigned long long)sz, (unsigned long long)o->size);
            goto done;
        }
    }
    if (json)
        fprintf(out, "{\"rows\": %llu, \"layout\": \"%s\", \"columns\": [",
                (unsigned long long)rows, l->name);
    else
        fprintf(out, "    rows %llu of %s, %u columns\n", (unsigned long long)rows, l->name, ncol);
    for (uint32_t c = 0; c < ncol; c++) {
        const sabre_column_t *col = &l->columns[c];
        uint64_t off;
        memcpy(&off, p + 64 + 8ull * c, 8);
        if (json)
            fprintf(out, "%s{\"name\": \"%s\", \"type\": \"%s\", \"offset\": %llu, \"first\": [",
                    c ? ", " : "", col->name, sabre_scalar_name(col->type),
                    (unsigned long long)off);
        else
            fprintf(out, "    %-20s %-4s +%-8llu", col->name, sabre_scalar_name(col->type),
                    (unsigned long long)off);
        uint64_t show = rows < COLUMNS_SHOW ? rows : COLUMNS_SHOW;
        for (uint64_t i = 0; i < show; i++) {
            if (json && i)
                fputs(", ", out);
            else if (!json)
                fputc(' ', out);
            print_value(out, col->type, p + off + i * col->size, json);
        }
        if (json)
            fputs("]}", out);
        else
            fputs(rows > show ? " ...\n" : "\n", out);
    }
    if (json)
        fputs("]}", out);
    rc = SABRE_OK;
done:
    sabre_schema_free(s);
    return rc;
}

/* ---- one rendering of the region ------------------------------------------ */

/* Runs a hook into a memory stream: its output is used only if it succeeds. */
static int run_hook(describe_fn fn, const sabre_region_t *r, const sabre_object_t *o, bool json,
                    char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *m = open_memstream(buf, len);
    if (!m)
        return sabre__fail(SABRE_ENOMEM, "cannot open a memory stream");
    sabre_clear_error();
    int rc = fn(r, o, m, json);
    if (fclose(m) != 0 && rc == SABRE_OK)
        rc = sabre__fail(SABRE_ENOMEM, "describer output lost");
    if (rc != SABRE_OK && !sabre_last_error()[0])
        sabre__fail(rc, "%s", sabre_strerror(rc));
    return rc;
}

/* Prints the region once; *invalid counts the objects whose state failed
 * validation (they are printed with the error). */
int sabre_tool_inspect_render(const sabre_region_t *r, bool json, FILE *out, uint32_t *invalid)
{
    *invalid = 0;
    sabre_region_info_t info;
    int rc = sabre_region_info(r, &info);
    if (rc != SABRE_OK)
        return rc;
    char when[64], tot[32], usd[32];
    iso_time(when, sizeof when, info.created_ns);
    sabre__fmt_bytes(tot, sizeof tot, info.total_size);
    sabre__fmt_bytes(usd, sizeof usd, info.used);
    const char *name = sabre_region_name(r);
    if (json) {
        fputs("{\"region\": {\"name\": ", out);
        sabre__json_str(out, name, strlen(name));
        fprintf(out,
                ", \"backing\": \"%s\", \"abi_major\": %u, \"abi_minor\": %u, "
                "\"header_size\": %u, \"total_size\": %llu, \"used\": %llu, "
                "\"dir_offset\": %llu, \"max_objects\": %u, \"dir_claimed\": %u, "
                "\"nobjects\": %u, \"data_offset\": %llu, \"creator_pid\": %d, "
                "\"creator_start_time\": %llu, \"creator_alive\": %s, \"created_ns\": %llu, "
                "\"created\": \"%s\", \"hugetlb\": %s, \"page_size\": %u}, \"objects\": [",
                sabre_backing_name(info.backing), info.abi_major, info.abi_minor, info.header_size,
                (unsigned long long)info.total_size, (unsigned long long)info.used,
                (unsigned long long)info.dir_offset, info.max_objects, info.dir_claimed,
                info.nobjects, (unsigned long long)info.data_offset, (int)info.creator_pid,
                (unsigned long long)info.creator_start_time, info.creator_alive ? "true" : "false",
                (unsigned long long)info.created_ns, when, info.hugetlb ? "true" : "false",
                info.page_size);
    } else {
        fprintf(out, "region %s (%s)\n", name[0] ? name : "(anonymous)",
                sabre_backing_name(info.backing));
        fprintf(out, "  abi           %u.%u (this library %d.%d)\n", info.abi_major, info.abi_minor,
                SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
        fprintf(out, "  header size   %u\n", info.header_size);
        fprintf(out, "  total size    %llu (%s)\n", (unsigned long long)info.total_size, tot);
        fprintf(out, "  used          %llu (%s, %.1f%%)\n", (unsigned long long)info.used, usd,
                info.total_size ? 100.0 * (double)info.used / (double)info.total_size : 0.0);
        fprintf(out, "  directory     offset %llu, %u slots, %u claimed, %u published\n",
                (unsigned long long)info.dir_offset, info.max_objects, info.dir_claimed,
                info.nobjects);
        fprintf(out, "  data offset   %llu\n", (unsigned long long)info.data_offset);
        fprintf(out, "  creator       pid %d (%s), start time %llu\n", (int)info.creator_pid,
                info.creator_alive ? "alive" : "exited",
                (unsigned long long)info.creator_start_time);
        fprintf(out, "  created       %s\n", when);
        fprintf(out, "  pages         %u bytes%s\n", info.page_size,
                info.hugetlb ? " (hugetlb)" : "");
        fprintf(out, "objects (%u)\n", info.nobjects);
    }
    /* Walk the slots: published ones are objects, the rest are listed apart. */
    uint32_t published = 0, others = 0;
    sabre_slot_info_t odd[64];
    uint32_t odd_slot[64];
    for (uint32_t slot = 0; slot < info.max_objects; slot++) {
        sabre_slot_info_t si;
        if ((rc = sabre_region_slot(r, slot, &si)) != SABRE_OK)
            return rc;
        if (si.state == SABRE_SLOT_EMPTY)
            break;
        if (si.state != SABRE_SLOT_READY) {
            if (others < 64) {
                odd[others] = si;
                odd_slot[others] = slot;
            }
            others++;
            continue;
        }
        sabre_object_t o;
        if ((rc = sabre_region_object_in_slot(r, slot, &o)) != SABRE_OK)
            return rc;
        published++;
        char hex[24];
        snprintf(hex, sizeof hex, "0x%016llx", (unsigned long long)o.layout_hash);
        describe_fn fn = hook_for(o.kind);
        char *hbuf = NULL;
        size_t hlen = 0;
        int hrc = fn ? run_hook(fn, r, &o, json, &hbuf, &hlen) : SABRE_OK;
        if (hrc != SABRE_OK)
            (*invalid)++;
        if (json) {
            fprintf(out, "%s{\"index\": %u, \"slot\": %u, \"name\": ", published > 1 ? ", " : "",
                    published - 1, o.index);
            sabre__json_str(out, o.name, strlen(o.name));
            fprintf(out,
                    ", \"kind\": \"%s\", \"kind_code\": %u, \"offset\": %llu, \"size\": %llu, "
                    "\"layout_hash\": \"%s\", \"layout_len\": %llu, \"layout_text\": ",
                    sabre_object_kind_name(o.kind), o.kind, (unsigned long long)o.offset,
                    (unsigned long long)o.size, hex, (unsigned long long)o.layout_len);
            sabre__json_str(out, o.layout_text, (size_t)o.layout_len);
            if (fn && hrc == SABRE_OK && hlen) {
                fputs(", \"state\": ", out);
                fwrite(hbuf, 1, hlen, out);
            } else if (fn && hrc != SABRE_OK) {
                fputs(", \"state_error\": ", out);
                sabre__json_str(out, sabre_last_error(), strlen(sabre_last_error()));
            }
            fputc('}', out);
        } else {
            char sz[32];
            sabre__fmt_bytes(sz, sizeof sz, o.size);
            fprintf(out, "  [%u] %s\n", published - 1, o.name);
            fprintf(out, "    kind %s (%u), offset %llu, size %llu (%s), slot %u\n",
                    sabre_object_kind_name(o.kind), o.kind, (unsigned long long)o.offset,
                    (unsigned long long)o.size, sz, o.index);
            if (o.layout_len)
                fprintf(out, "    layout %s: %s\n", hex, o.layout_text);
            else
                fprintf(out, "    layout (none)\n");
            if (fn && hrc == SABRE_OK)
                fwrite(hbuf, 1, hlen, out);
            else if (fn)
                fprintf(out, "    state: error: %s\n", sabre_last_error());
        }
        free(hbuf);
    }
    if (json) {
        fputs("], \"slots\": [", out);
        for (uint32_t i = 0; i < others && i < 64; i++)
            fprintf(out, "%s{\"slot\": %u, \"state\": \"%s\", \"pid\": %d, \"pid_alive\": %s}",
                    i ? ", " : "", odd_slot[i], slot_state_str(odd[i].state), (int)odd[i].pid,
                    odd[i].pid_alive ? "true" : "false");
        fputs("]}\n", out);
    } else if (others) {
        fprintf(out, "unpublished slots (%u)\n", others);
        for (uint32_t i = 0; i < others && i < 64; i++)
            fprintf(out, "  slot %u: %s, pid %d (%s)\n", odd_slot[i], slot_state_str(odd[i].state),
                    (int)odd[i].pid, odd[i].pid_alive ? "alive" : "exited");
    }
    return SABRE_OK;
}

int sabre_tool_cmd_inspect(int argc, char **argv)
{
    const char *target = NULL;
    bool json = false, watch = false;
    double every = 1.0;
    long count = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            inspect_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--watch")) {
            watch = true;
        } else if (!strncmp(a, "--watch=", 8)) {
            watch = true;
            char *end = NULL;
            every = strtod(a + 8, &end);
            if (!end || *end || !(every > 0) || every > 86400) {
                fprintf(stderr, "sabre inspect: --watch wants seconds in (0, 86400], got '%s'\n",
                        a + 8);
                return 2;
            }
        } else if (!strcmp(a, "--count")) {
            char *end = NULL;
            if (++i >= argc || (count = strtol(argv[i], &end, 10)) <= 0 || *end) {
                fprintf(stderr, "sabre inspect: --count wants a positive number\n");
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sabre inspect: unknown option '%s'\n", a);
            inspect_usage(stderr);
            return 2;
        } else if (!target) {
            target = a;
        } else {
            fprintf(stderr, "sabre inspect: more than one region given ('%s', '%s')\n", target, a);
            return 2;
        }
    }
    if (!target) {
        inspect_usage(stderr);
        return 2;
    }
    struct stat st;
    sabre_region_desc_t d = {.name = target, .flags = SABRE_REGION_READONLY};
    d.backing = stat(target, &st) == 0 ? SABRE_BACKING_FILE : SABRE_BACKING_SHM;
    sabre_region_t *r = NULL;
    int rc = sabre_region_open(&d, &r);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre inspect: %s: %s (%s)\n", target, sabre_last_error(),
                sabre_status_name(rc));
        return 1;
    }
    uint32_t invalid = 0;
    for (long n = 0;; n++) {
        if (watch && !json && n > 0)
            fputc('\n', stdout);
        if (watch && !json) {
            char when[64];
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            iso_time(when, sizeof when, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
            printf("== %s\n", when);
        }
        rc = sabre_tool_inspect_render(r, json, stdout, &invalid);
        fflush(stdout);
        if (rc != SABRE_OK) {
            fprintf(stderr, "sabre inspect: %s: %s (%s)\n", target, sabre_last_error(),
                    sabre_status_name(rc));
            break;
        }
        if (!watch || (count > 0 && n + 1 >= count))
            break;
        struct timespec ts = {(time_t)every, (long)((every - (double)(time_t)every) * 1e9)};
        nanosleep(&ts, NULL);
    }
    sabre_region_close(r);
    if (rc != SABRE_OK)
        return 1;
    if (invalid) {
        fprintf(stderr, "sabre inspect: %s: %u object%s failed validation (see above)\n", target,
                invalid, invalid == 1 ? "" : "s");
        return 3;
    }
    return 0;
}
