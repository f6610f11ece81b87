// SABRE_TEST_LABELS: unit process
/*
 * test_region_tool.c - the `sabre` command's region subcommands, run as a
 * separate process ($SABRE_TOOL, set by CTest): probe, create, inspect (text,
 * --json checked by python3's json parser, --watch --count), and their
 * failures (missing, corrupt, other ABI version, existing name, bad usage).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"

static const char *tool;
static char dir[256], out_path[300], err_path[300];
static char out[65536], err[8192];

/* Runs a shell command with stdout/stderr captured; returns the exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096], full[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s >'%s' 2>'%s'", cmd, out_path, err_path);
    int st = system(full);
    check_slurp(out_path, out, sizeof out);
    check_slurp(err_path, err, sizeof err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Parses the last captured stdout with python3 and runs `check` (Python
 * statements over the parsed document `d`); returns python's status. */
static int py_check(const char *check)
{
    char script[300];
    snprintf(script, sizeof script, "%s/check.py", dir);
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    fprintf(f, "import json, sys\nd = json.load(open(sys.argv[1]))\n%s\n", check);
    fclose(f);
    char copy[300];
    snprintf(copy, sizeof copy, "%s/doc.json", dir);
    f = fopen(copy, "w");
    CHECK(f != NULL);
    fputs(out, f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", script, copy);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_probe(void)
{
    CHECK_EQ(run("'%s' probe", tool), 0);
    CHECK_STR_CONTAINS(out, "memfd");
    CHECK_STR_CONTAINS(out, "/dev/shm");
    CHECK_EQ(run("'%s' probe --json --dir '%s'", tool, dir), 0);
    CHECK_EQ(py_check("assert d['private_ok'] and d['memfd_ok'] and d['shm_ok'] and d['file_ok']\n"
                      "assert d['shm_total'] >= d['shm_free'] > 0 and d['page_size'] >= 4096\n"
                      "assert d['abi_major'] == 1"),
             0);
    CHECK_EQ(run("'%s' probe --bogus", tool), 2);
}

static void test_create_inspect(void)
{
    char schema[300], file[300];
    snprintf(schema, sizeof schema, "%s/p.schema", dir);
    snprintf(file, sizeof file, "%s/r.sab", dir);
    FILE *f = fopen(schema, "w");
    CHECK(f != NULL);
    fputs("// test schema\nstruct Vec2 { x: f32; y: f32; }\n"
          "struct Particle { pos: Vec2; vel: Vec2; id: u32; alive: bool; }\n",
          f);
    fclose(f);
    CHECK_EQ(run("'%s' create --file '%s' --size 1M --object particles:%s:100 --raw blob:4K "
                 "--fill",
                 tool, file, schema),
             0);
    CHECK_STR_CONTAINS(out, "particles");
    struct stat st;
    CHECK(stat(file, &st) == 0);
    CHECK_EQ(st.st_size, 1 << 20);
    CHECK_EQ(st.st_mode & 0777, 0600);

    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 0);
    CHECK_STR_CONTAINS(out, "abi           1.0");
    CHECK_STR_CONTAINS(out, "[0] particles");
    CHECK_STR_CONTAINS(out, "kind columns (2)");
    CHECK_STR_CONTAINS(out, "struct Particle{pos:Vec2;vel:Vec2;id:u32;alive:bool;}");
    CHECK_STR_CONTAINS(out, "rows 100 of Particle, 6 columns");
    CHECK_STR_CONTAINS(out, "vel_y");
    CHECK_STR_CONTAINS(out, "[1] blob");
    CHECK_STR_CONTAINS(out, "kind raw (1)");

    CHECK_EQ(run("'%s' inspect '%s' --json", tool, file), 0);
    CHECK_EQ(py_check("r = d['region']\n"
                      "assert r['backing'] == 'file' and r['abi_major'] == 1\n"
                      "assert r['total_size'] == 1048576 and r['nobjects'] == 2\n"
                      "assert r['data_offset'] <= r['used'] <= r['total_size']\n"
                      "o = d['objects']\n"
                      "assert [x['name'] for x in o] == ['particles', 'blob']\n"
                      "p = o[0]\n"
                      "assert p['kind'] == 'columns' and p['offset'] % 64 == 0\n"
                      "assert p['layout_text'].endswith('struct Particle{pos:Vec2;vel:Vec2;"
                      "id:u32;alive:bool;}')\n"
                      "assert p['layout_len'] == len(p['layout_text'])\n"
                      "h = 0xcbf29ce484222325\n"
                      "for b in p['layout_text'].encode():\n"
                      "    h = ((h ^ b) * 0x100000001b3) % (1 << 64)\n"
                      "assert p['layout_hash'] == '0x%016x' % h, (p['layout_hash'], h)\n"
                      "s = p['state']\n"
                      "assert s['rows'] == 100\n"
                      "assert [c['name'] for c in s['columns']] == ['pos_x', 'pos_y', 'vel_x',"
                      " 'vel_y', 'id', 'alive']\n"
                      "assert s['columns'][0]['first'] == [0, 1, 2, 3]\n"
                      "assert s['columns'][5]['first'] == [False, True, False, True]\n"
                      "assert all(c['offset'] % 64 == 0 for c in s['columns'])\n"
                      "assert o[1]['kind'] == 'raw' and o[1]['size'] == 4096\n"
                      "assert o[1]['layout_text'] == '' and 'state' not in o[1]\n"
                      "assert d['slots'] == []"),
             0);

    /* A COLUMNS object that fails validation: the rest is printed, the
     * message says what is wrong, and the exit status is 3. */
    sabre_region_t *r = NULL;
    CHECK_OK(
        sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE, .name = file}, &r));
    sabre_object_t po;
    CHECK_OK(sabre_region_find(r, "particles", NULL, &po));
    uint64_t *col1 = (uint64_t *)((uint8_t *)po.ptr + 64 + 8), saved = *col1;
    const struct {
        uint64_t off;
        const char *msg;
    } bad[] = {{saved + 8, "column 'pos_y' offset"},
               {64, "inside the 128-byte columns header"},
               {po.size, "does not fit"}};
    for (int i = 0; i < 3; i++) {
        *col1 = bad[i].off;
        CHECK_EQ(run("'%s' inspect '%s'", tool, file), 3);
        CHECK_STR_CONTAINS(out, "[1] blob");
        CHECK_STR_CONTAINS(out, bad[i].msg);
        CHECK_STR_CONTAINS(err, "1 object failed validation");
        CHECK_EQ(run("'%s' inspect --json '%s'", tool, file), 3);
        CHECK_STR_CONTAINS(out, "state_error");
    }
    *col1 = saved + 8;
    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 3);
    CHECK_STR_CONTAINS(out, "is not a multiple of 64");
    *col1 = saved;
    sabre_region_close(r);
    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 0);
    CHECK_EQ(run("'%s' inspect --help", tool), 0);
    CHECK_STR_CONTAINS(out, "Exit status");

    /* Exists -> EEXIST; --replace works; a failed create leaves nothing. */
    CHECK_EQ(run("'%s' create --file '%s' --size 64K", tool, file), 1);
    CHECK_STR_CONTAINS(err, "already exists");
    CHECK_EQ(run("'%s' create --file '%s' --size 64K --replace --raw a:1", tool, file), 0);
    CHECK_EQ(run("'%s' inspect '%s' --json", tool, file), 0);
    CHECK_EQ(py_check("assert [x['name'] for x in d['objects']] == ['a']"), 0);
    char bad_schema[300];
    snprintf(bad_schema, sizeof bad_schema, "%s/bad.schema", dir);
    f = fopen(bad_schema, "w");
    CHECK(f != NULL);
    fputs("struct X { a: f33; }\n", f);
    fclose(f);
    CHECK_EQ(
        run("'%s' create --file '%s' --size 64K --replace --object x:%s:4", tool, file, bad_schema),
        1);
    CHECK_STR_CONTAINS(err, "bad.schema:1:");
    CHECK(access(file, F_OK) != 0);

    /* Usage errors. */
    CHECK_EQ(run("'%s' create --file '%s'", tool, file), 2);
    CHECK_EQ(run("'%s' create --file '%s' --size 12Q", tool, file), 2);
    CHECK_EQ(run("'%s' create --file '%s' --size 1M --raw nobytes", tool, file), 2);
    CHECK_EQ(run("'%s' create --file '%s' --size 1M --object a:b", tool, file), 2);
    CHECK_EQ(run("'%s' inspect", tool), 2);
    CHECK_EQ(run("'%s' inspect a b", tool), 2);
    CHECK_EQ(run("'%s' inspect x --watch=-1", tool), 2);
    CHECK(access(file, F_OK) != 0);
}

static void test_shm_and_watch(void)
{
    char shm[64];
    snprintf(shm, sizeof shm, "sabre-test-tool-%d", (int)getpid());
    CHECK_EQ(run("'%s' create --shm %s --size 256K --raw one:100 --raw two:200", tool, shm), 0);
    CHECK_EQ(run("'%s' inspect %s", tool, shm), 0);
    CHECK_STR_CONTAINS(out, "(shm)");
    CHECK_STR_CONTAINS(out, "[1] two");
    CHECK_EQ(run("'%s' inspect /%s --watch=0.05 --count 3", tool, shm), 0);
    int headers = 0;
    for (const char *p = out; (p = strstr(p, "== ")) != NULL; p += 3)
        headers++;
    CHECK_EQ(headers, 3);
    CHECK_EQ(run("'%s' inspect %s --json --watch=0.01 --count 2", tool, shm), 0);
    /* JSON lines: each line one document. */
    char *nl = strchr(out, '\n');
    CHECK(nl != NULL);
    CHECK(strchr(nl + 1, '\n') != NULL);
    *nl = '\0';
    CHECK_EQ(py_check("assert d['region']['backing'] == 'shm' and len(d['objects']) == 2"), 0);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_SHM, shm));
}

static void test_bad_regions(void)
{
    CHECK_EQ(run("'%s' inspect sabre-no-such-region-%d", tool, (int)getpid()), 1);
    CHECK_STR_CONTAINS(err, "SABRE_ENOENT");
    char file[300];
    snprintf(file, sizeof file, "%s/bad.sab", dir);
    /* A valid region, then corrupted in place. */
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                        .name = file,
                                                        .size = 1 << 16,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "obj", .size = 64}, NULL));
    uint8_t *base = sabre_region_base(r);
    base[8] = 2; /* ABI major 2 */
    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 1);
    CHECK_STR_CONTAINS(err, "region ABI 2.0, this library 1.0");
    CHECK_STR_CONTAINS(err, "SABRE_EVERSION");
    base[8] = 1;
    uint64_t huge = UINT64_MAX;
    memcpy(base + 512 + 24, &huge, 8); /* entry 0 size */
    CHECK_EQ(run("'%s' inspect '%s' --json", tool, file), 1);
    CHECK_STR_CONTAINS(err, "obj");
    CHECK_STR_CONTAINS(err, "SABRE_ECORRUPT");
    CHECK_EQ(out[0], '\0'); /* nothing half-printed */
    base[0] ^= 0xff;
    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 1);
    CHECK_STR_CONTAINS(err, "not a sabre region");
    sabre_region_close(r);
    CHECK(truncate(file, 300) == 0);
    CHECK_EQ(run("'%s' inspect '%s'", tool, file), 1);
    CHECK_STR_CONTAINS(err, "SABRE_ECORRUPT");
    unlink(file);
}

int main(void)
{
    tool = getenv("SABRE_TOOL");
    if (!tool || access(tool, X_OK) != 0) {
        printf("SABRE_TOOL is not set to an executable: nothing to test\n");
        return check_done();
    }
    if (system("python3 -c 'import json' >/dev/null 2>&1") != 0) {
        printf("python3 is missing: the JSON checks need it\n");
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sabre-test-tool-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    test_probe();
    test_create_inspect();
    test_shm_and_watch();
    test_bad_regions();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    return check_done();
}
