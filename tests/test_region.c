// SABRE_TEST_LABELS: unit
/*
 * test_region.c - regions on every backing: create/open/close/unlink, object
 * alloc/find/count/object_at, name validation, EEXIST/REPLACE, read-only
 * mappings, layout and version mismatch messages, ENOSPC without SIGBUS,
 * fd passing, pointer/offset conversions, info and the capability probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "check.h"
#include "region/region_abi.h"
#include "sabre/region.h"

static char shm_name[64];
static char file_path[256];

static bool shm_exists(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
    return access(p, F_OK) == 0;
}

static void fill_names(void)
{
    snprintf(shm_name, sizeof shm_name, "/sabre-test-region-%d", (int)getpid());
    const char *tmp = getenv("TMPDIR");
    snprintf(file_path, sizeof file_path, "%s/sabre-test-region-%d.sab", tmp ? tmp : "/tmp",
             (int)getpid());
}

/* Allocates a few objects, checks find/count/object_at, returns the count. */
static void exercise_objects(sabre_region_t *r)
{
    sabre_object_t a, b, c, f;
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "alpha", .size = 100}, &a));
    CHECK_EQ(a.offset % 64, 0);
    CHECK_EQ(a.kind, SABRE_OBJ_RAW);
    CHECK_EQ(a.layout_len, 0);
    CHECK_STR_CONTAINS(a.layout_text, "");
    CHECK_OK(sabre_region_alloc(r,
                                &(sabre_object_desc_t){.name = "beta",
                                                       .kind = SABRE_OBJ_COLUMNS,
                                                       .size = 4096,
                                                       .align = 4096,
                                                       .layout_text = "struct P{x:f32;y:f32;}"},
                                &b));
    CHECK_EQ(b.offset % 4096, 0);
    CHECK_EQ(b.layout_len, strlen("struct P{x:f32;y:f32;}"));
    CHECK(strcmp(b.layout_text, "struct P{x:f32;y:f32;}") == 0);
    CHECK(b.layout_hash != 0);
    CHECK_OK(sabre_region_alloc(
        r, &(sabre_object_desc_t){.name = "gamma", .kind = SABRE_OBJ_USER + 5, .size = 1}, &c));
    /* Zero-filled, writable, non-overlapping. */
    unsigned char *pa = a.ptr, *pb = b.ptr;
    for (int i = 0; i < 100; i++)
        CHECK(pa[i] == 0);
    memset(a.ptr, 0xaa, 100);
    memset(b.ptr, 0xbb, 4096);
    memset(c.ptr, 0xcc, 1);
    CHECK(pa[99] == 0xaa && pb[0] == 0xbb && *(unsigned char *)c.ptr == 0xcc);
    CHECK(a.offset + a.size <= b.offset || b.offset + b.size <= a.offset);
    CHECK(b.offset + b.size <= c.offset);

    CHECK_EQ(sabre_region_count(r), 3);
    CHECK_OK(sabre_region_find(r, "beta", NULL, &f));
    CHECK_EQ(f.offset, b.offset);
    CHECK_EQ(f.size, 4096);
    CHECK_EQ(f.kind, SABRE_OBJ_COLUMNS);
    CHECK(f.ptr == b.ptr);
    CHECK(strcmp(f.layout_text, "struct P{x:f32;y:f32;}") == 0);
    CHECK_EQ(f.layout_hash, b.layout_hash);
    CHECK_ERR(sabre_region_find(r, "delta", NULL, &f), SABRE_ENOENT);
    CHECK_STR_CONTAINS(sabre_last_error(), "delta");
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_OK(sabre_region_object_at(r, i, &f));
        CHECK_EQ(f.index, i);
    }
    CHECK_OK(sabre_region_object_at(r, 2, &f));
    CHECK(strcmp(f.name, "gamma") == 0);
    CHECK_EQ(f.kind, SABRE_OBJ_USER + 5);
    CHECK_ERR(sabre_region_object_at(r, 3, &f), SABRE_ENOENT);
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "alpha", .size = 8}, NULL),
              SABRE_EEXIST);
    CHECK_STR_CONTAINS(sabre_last_error(), "alpha");
    CHECK_EQ(sabre_region_count(r), 3); /* the failed slot is not published */
}

static void check_objects_again(sabre_region_t *r)
{
    sabre_object_t f;
    CHECK_EQ(sabre_region_count(r), 3);
    CHECK_OK(sabre_region_find(r, "alpha", NULL, &f));
    CHECK(((unsigned char *)f.ptr)[0] == 0xaa && ((unsigned char *)f.ptr)[99] == 0xaa);
    CHECK_OK(sabre_region_find(r, "beta", NULL, &f));
    CHECK(((unsigned char *)f.ptr)[4095] == 0xbb);
    CHECK(strcmp(f.layout_text, "struct P{x:f32;y:f32;}") == 0);
    CHECK_OK(sabre_region_find(r, "gamma", NULL, &f));
    CHECK(*(unsigned char *)f.ptr == 0xcc);
}

static void test_backings(void)
{
    /* PRIVATE */
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &r));
    CHECK(r != NULL);
    CHECK_EQ(sabre_region_backing(r), SABRE_BACKING_PRIVATE);
    CHECK_EQ(sabre_region_fd(r), -1);
    CHECK_EQ(sabre_region_size(r), 1 << 20);
    exercise_objects(r);
    check_objects_again(r);
    sabre_region_info_t info;
    CHECK_OK(sabre_region_info(r, &info));
    CHECK_EQ(info.abi_major, SABRE_ABI_MAJOR);
    CHECK_EQ(info.abi_minor, SABRE_ABI_MINOR);
    CHECK_EQ(info.header_size, 512);
    CHECK_EQ(info.total_size, 1 << 20);
    CHECK_EQ(info.max_objects, 256);
    CHECK_EQ(info.nobjects, 3);
    CHECK_EQ(info.creator_pid, getpid());
    CHECK(info.creator_alive);
    CHECK(info.creator_start_time > 0);
    CHECK(info.created_ns > 0);
    CHECK(info.used > info.data_offset);
    CHECK_EQ(info.dir_claimed, 3); /* 3 published; the EEXIST failure claimed no slot */
    sabre_slot_info_t si;
    CHECK_OK(sabre_region_slot(r, 3, &si));
    CHECK_EQ(si.state, SABRE_SLOT_EMPTY);
    /* A slot given up after claiming (a lost race) reads DEAD: made by hand. */
    struct dir_entry *de = (struct dir_entry *)((uint8_t *)sabre_region_base(r) + info.dir_offset +
                                                3u * sizeof(struct dir_entry));
    atomic_store(&de->state, ST_MAKE(ST_DEAD, 0x123456u, getpid()));
    CHECK_OK(sabre_region_slot(r, 3, &si));
    CHECK_EQ(si.state, SABRE_SLOT_DEAD);
    CHECK_EQ(sabre_region_count(r), 3);
    CHECK_OK(sabre_region_slot(r, 4, &si));
    CHECK_EQ(si.state, SABRE_SLOT_EMPTY);
    CHECK_ERR(sabre_region_slot(r, 256, &si), SABRE_ENOENT);
    sabre_object_t so;
    CHECK_OK(sabre_region_object_in_slot(r, 1, &so));
    CHECK(strcmp(so.name, "beta") == 0);
    CHECK_EQ(so.index, 1);
    CHECK_ERR(sabre_region_object_in_slot(r, 3, &so), SABRE_ENOENT); /* dead */
    CHECK_ERR(sabre_region_object_in_slot(r, 4, &so), SABRE_ENOENT); /* empty */
    CHECK_ERR(sabre_region_object_in_slot(r, 9999, &so), SABRE_ENOENT);
    CHECK_ERR(sabre_region_unlink(SABRE_BACKING_PRIVATE, "x"), SABRE_EINVAL);
    sabre_region_close(r);
    sabre_region_close(NULL);

    /* MEMFD: create, reopen from its fd, contents shared. */
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .name = "t", .size = 1 << 20}, &r));
    CHECK(sabre_region_fd(r) >= 0);
    int seals = fcntl(sabre_region_fd(r), F_GET_SEALS);
    CHECK(seals >= 0 && (seals & F_SEAL_SHRINK));
    CHECK(ftruncate(sabre_region_fd(r), 4096) != 0); /* sealed against shrinking */
    exercise_objects(r);
    sabre_region_t *r2 = NULL;
    CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), 0, &r2));
    CHECK_EQ(sabre_region_backing(r2), SABRE_BACKING_MEMFD);
    CHECK(strcmp(sabre_region_name(r2), "t") == 0);
    check_objects_again(r2);
    sabre_object_t f;
    CHECK_OK(sabre_region_find(r2, "alpha", NULL, &f));
    ((unsigned char *)f.ptr)[5] = 0x55;
    CHECK_OK(sabre_region_find(r, "alpha", NULL, &f));
    CHECK(((unsigned char *)f.ptr)[5] == 0x55);
    ((unsigned char *)f.ptr)[5] = 0xaa;
    sabre_region_close(r2);
    sabre_region_close(r);

    /* SHM: create, EEXIST, open by name with and without '/', unlink. */
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name, .size = 1 << 20},
        &r));
    CHECK(shm_exists(shm_name));
    struct stat st;
    CHECK(fstat(sabre_region_fd(r), &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(st.st_blocks * 512 >= (1 << 20), 1); /* reserved up front */
    exercise_objects(r);
    CHECK_ERR(
        sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name, .size = 1 << 20},
            &r2),
        SABRE_EEXIST);
    CHECK_STR_CONTAINS(sabre_last_error(), "already exists");
    CHECK(r2 == NULL);
    CHECK_OK(sabre_region_open(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name + 1}, &r2));
    CHECK_EQ(sabre_region_backing(r2), SABRE_BACKING_SHM);
    check_objects_again(r2);
    sabre_region_close(r2);
    CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), SABRE_REGION_READONLY, &r2));
    CHECK_EQ(sabre_region_backing(r2), SABRE_BACKING_SHM);
    CHECK(sabre_region_readonly(r2));
    check_objects_again(r2);
    CHECK_ERR(sabre_region_alloc(r2, &(sabre_object_desc_t){.name = "z", .size = 8}, NULL),
              SABRE_EPERM);
    sabre_region_close(r2);
    sabre_region_close(r);
    CHECK_OK(sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                      .name = shm_name,
                                                      .flags = SABRE_REGION_READONLY},
                               &r2));
    check_objects_again(r2);
    sabre_region_close(r2);
    /* REPLACE gives a fresh, empty region under the same name. */
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = shm_name,
                                                        .size = 1 << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    CHECK_EQ(sabre_region_count(r), 0);
    sabre_region_close(r);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_SHM, shm_name));
    CHECK(!shm_exists(shm_name));
    CHECK_ERR(sabre_region_open(
                  &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name}, &r2),
              SABRE_ENOENT);
    CHECK_ERR(sabre_region_unlink(SABRE_BACKING_SHM, shm_name), SABRE_ENOENT);

    /* FILE: persists across close. */
    unlink(file_path);
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){
            .backing = SABRE_BACKING_FILE, .name = file_path, .size = 300000, .max_objects = 8},
        &r));
    CHECK_EQ(sabre_region_size(r), 303104); /* rounded up to pages */
    CHECK(stat(file_path, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(st.st_size, 303104);
    exercise_objects(r);
    sabre_region_close(r);
    CHECK_OK(sabre_region_open(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_FILE, .name = file_path}, &r));
    CHECK_EQ(sabre_region_backing(r), SABRE_BACKING_FILE);
    CHECK(strcmp(sabre_region_name(r), file_path) == 0);
    check_objects_again(r);
    CHECK_OK(sabre_region_info(r, &info));
    CHECK_EQ(info.max_objects, 8);
    /* Allocate more after reopening, up to the directory capacity (the
     * failed EEXIST allocation above used no slot). */
    char nm[16];
    for (int i = 0; i < 5; i++) {
        snprintf(nm, sizeof nm, "more%d", i);
        CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = nm, .size = 64}, NULL));
    }
    CHECK_EQ(sabre_region_count(r), 8);
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "full", .size = 64}, NULL),
              SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "directory is full");
    sabre_region_close(r);
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                         .name = file_path,
                                                         .size = 1 << 16},
                                  &r),
              SABRE_EEXIST);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_FILE, file_path));
    CHECK(access(file_path, F_OK) != 0);
}

static void test_names_and_args(void)
{
    sabre_region_t *r = NULL;
    const char *bad_shm[] = {"", "/", "a/b", "a b", "..", ".", "/x\n", "naïve"};
    for (size_t i = 0; i < sizeof bad_shm / sizeof bad_shm[0]; i++) {
        CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                             .name = bad_shm[i],
                                                             .size = 1 << 16},
                                      &r),
                  SABRE_EINVAL);
        CHECK_STR_CONTAINS(sabre_last_error(), "shm name");
        CHECK(r == NULL);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[299] = '\0';
    CHECK_ERR(
        sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = longname, .size = 1 << 16},
            &r),
        SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                         .name = longname,
                                                         .size = 1 << 16},
                                  &r),
              SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = NULL, .size = 1 << 16},
            &r),
        SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_FILE, .name = "", .size = 1 << 16}, &r),
        SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.backing = 7, .size = 1 << 16}, &r),
              SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(NULL, &r), SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16}, NULL), SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.size = 100}, &r), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "too small");
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.size = 0}, &r), SABRE_EINVAL);
    CHECK_ERR(sabre_region_create(
                  &(sabre_region_desc_t){.size = 1 << 16, .flags = SABRE_REGION_READONLY}, &r),
              SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16, .max_objects = 1u << 30}, &r),
        SABRE_EINVAL);
    CHECK_ERR(sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD}, &r),
              SABRE_EINVAL);
    CHECK_ERR(sabre_region_open_fd(-1, 0, &r), SABRE_EINVAL);
    CHECK_ERR(sabre_region_open_fd(0, 0x100, &r), SABRE_EINVAL);

    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16, .max_objects = 64}, &r));
    const char *bad_obj[] = {"",        "a b",
                             "q\"uote", "back\\slash",
                             "tab\t",   "0123456789012345678901234567890123456789012345678"};
    for (size_t i = 0; i < sizeof bad_obj / sizeof bad_obj[0]; i++) {
        CHECK_ERR(
            sabre_region_alloc(r, &(sabre_object_desc_t){.name = bad_obj[i], .size = 8}, NULL),
            SABRE_EINVAL);
        CHECK_STR_CONTAINS(sabre_last_error(), "object name");
        CHECK_ERR(sabre_region_find(r, bad_obj[i], NULL, NULL), SABRE_EINVAL);
    }
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = NULL, .size = 8}, NULL),
              SABRE_EINVAL);
    const char *good_obj[] = {
        "a",           "weights/policy", "ring.rollouts",
        "ecs:table:3", "x-y_z@1",        "01234567890123456789012345678901234567890123456"};
    for (size_t i = 0; i < sizeof good_obj / sizeof good_obj[0]; i++)
        CHECK_OK(
            sabre_region_alloc(r, &(sabre_object_desc_t){.name = good_obj[i], .size = 8}, NULL));
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "s0", .size = 0}, NULL),
              SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_alloc(r, &(sabre_object_desc_t){.name = "a3", .size = 8, .align = 3}, NULL),
        SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_alloc(r, &(sabre_object_desc_t){.name = "k", .size = 8, .kind = 9}, NULL),
        SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_alloc(r, &(sabre_object_desc_t){.name = "huge", .size = 1ull << 40}, NULL),
        SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "full");
    CHECK_ERR(
        sabre_region_alloc(r, &(sabre_object_desc_t){.name = "ovf", .size = UINT64_MAX}, NULL),
        SABRE_ENOSPC);
    CHECK_ERR(
        sabre_region_alloc(
            r, &(sabre_object_desc_t){.name = "ovf2", .size = UINT64_MAX - 100, .align = 1u << 30},
            NULL),
        SABRE_ENOSPC);
    /* Names whose allocation failed are free again. */
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "huge", .size = 64}, NULL));
    CHECK_EQ(sabre_region_count(r), 7);
    /* Fill the space exactly: the last fitting allocation works, then ENOSPC. */
    sabre_region_info_t info;
    CHECK_OK(sabre_region_info(r, &info));
    uint64_t left = info.total_size - info.used;
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "rest", .size = left}, NULL));
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "one", .size = 1}, NULL),
              SABRE_ENOSPC);
    /* ptr/offset conversions */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, "rest", NULL, &o));
    CHECK(sabre_region_ptr(r, o.offset, o.size) == o.ptr);
    CHECK(sabre_region_ptr(r, o.offset, o.size + 1) == NULL);
    CHECK(sabre_region_ptr(r, UINT64_MAX, 2) == NULL);
    CHECK(sabre_region_ptr(r, 0, sabre_region_size(r)) == sabre_region_base(r));
    CHECK_EQ(sabre_region_offset(r, o.ptr), o.offset);
    CHECK_EQ(sabre_region_offset(r, (char *)sabre_region_base(r) + sabre_region_size(r) + 1),
             UINT64_MAX);
    CHECK_EQ(sabre_region_offset(r, &info), UINT64_MAX);
    CHECK_EQ(sabre_region_offset(r, NULL), UINT64_MAX);
    sabre_region_close(r);

    CHECK(strcmp(sabre_object_kind_name(SABRE_OBJ_WEIGHTS), "weights") == 0);
    CHECK(strcmp(sabre_object_kind_name(SABRE_OBJ_USER + 1), "user") == 0);
    CHECK(strcmp(sabre_object_kind_name(42), "unknown") == 0);
    CHECK(strcmp(sabre_backing_name(SABRE_BACKING_PRIVATE), "private") == 0);
    CHECK(strcmp(sabre_backing_name(SABRE_BACKING_FILE), "file") == 0);
    CHECK(strcmp(sabre_backing_name((sabre_backing_t)9), "?") == 0);
}

static void test_layout_mismatch(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 16}, &r));
    const char *t1 = "struct Pos{x:f32;y:f32;}";
    const char *t2 = "struct Pos{x:f64;y:f64;}";
    sabre_layout_t l1 = {
        .name = "Pos", .size = 8, .align = 4, .canonical = t1, .canonical_len = strlen(t1)};
    l1.hash = 0xcbf29ce484222325ull;
    for (const char *p = t1; *p; p++) {
        l1.hash ^= (unsigned char)*p;
        l1.hash *= 0x100000001b3ull;
    }
    sabre_layout_t l2 = l1;
    l2.canonical = t2;
    l2.canonical_len = strlen(t2);
    l2.hash = 0xcbf29ce484222325ull;
    for (const char *p = t2; *p; p++) {
        l2.hash ^= (unsigned char)*p;
        l2.hash *= 0x100000001b3ull;
    }
    sabre_object_t o;
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "pos", .size = 64, .layout = &l1},
                                &o));
    CHECK_EQ(o.layout_hash, l1.hash);
    CHECK_OK(sabre_region_find(r, "pos", &l1, &o));
    CHECK_ERR(sabre_region_find(r, "pos", &l2, &o), SABRE_ELAYOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), t1);
    CHECK_STR_CONTAINS(sabre_last_error(), t2);
    CHECK_STR_CONTAINS(sabre_last_error(), "pos");
    /* An object stored without a layout does not match an expected one. */
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "bare", .size = 64}, NULL));
    CHECK_ERR(sabre_region_find(r, "bare", &l1, &o), SABRE_ELAYOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), "(none)");
    /* A layout whose hash is not the FNV-1a of its text is refused. */
    sabre_layout_t bad = l1;
    bad.hash ^= 1;
    CHECK_ERR(sabre_region_alloc(
                  r, &(sabre_object_desc_t){.name = "bad", .size = 64, .layout = &bad}, NULL),
              SABRE_EINVAL);
    CHECK_ERR(
        sabre_region_alloc(
            r, &(sabre_object_desc_t){.name = "both", .size = 64, .layout = &l1, .layout_text = t1},
            NULL),
        SABRE_EINVAL);
    sabre_region_close(r);
}

static void test_enospc(void)
{
    struct statvfs sv;
    CHECK(statvfs("/dev/shm", &sv) == 0);
    uint64_t free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    uint64_t size = free_bytes * 4 + (1ull << 40); /* far above /dev/shm free space */
    if (size > (1ull << 46))
        size = 1ull << 46; /* the size limit; still above any /dev/shm seen in practice */
    sabre_region_t *r = NULL;
    CHECK_ERR(
        sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name, .size = size},
            &r),
        SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "cannot reserve");
    CHECK_STR_CONTAINS(sabre_last_error(), shm_name);
    CHECK_STR_CONTAINS(sabre_last_error(), "/dev/shm");
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)size);
    CHECK_STR_CONTAINS(sabre_last_error(), num);
    CHECK(r == NULL);
    CHECK(!shm_exists(shm_name)); /* no leftover name */
    CHECK_ERR(sabre_region_create(
                  &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = size}, &r),
              SABRE_ENOSPC);
    CHECK_STR_CONTAINS(sabre_last_error(), "memfd");
    CHECK_ERR(sabre_region_create(&(sabre_region_desc_t){.size = 1ull << 50}, &r), SABRE_EINVAL);
}

static void test_fd_passing(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 1 << 16}, &r));
    CHECK_OK(sabre_fd_send(sv[0], sabre_region_fd(r), "hello", 5));
    int fd = -1;
    char buf[16];
    size_t len = 0;
    CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
    CHECK(fd >= 0 && fd != sabre_region_fd(r));
    CHECK_EQ(len, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    sabre_region_t *r2 = NULL;
    CHECK_OK(sabre_region_open_fd(fd, 0, &r2));
    close(fd);
    CHECK_EQ(sabre_region_size(r2), sabre_region_size(r));
    sabre_region_close(r2);
    /* Zero-length message, no descriptor. */
    CHECK_OK(sabre_fd_send(sv[0], -1, NULL, 0));
    CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
    CHECK_EQ(fd, -1);
    CHECK_EQ(len, 0);
    /* A message larger than the buffer: ERANGE, and the stream stays in step. */
    CHECK_OK(sabre_fd_send(sv[0], sabre_region_fd(r), "0123456789abcdefXYZ", 19));
    CHECK_OK(sabre_fd_send(sv[0], -1, "ok", 2));
    CHECK_ERR(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len), SABRE_ERANGE);
    CHECK_EQ(fd, -1);
    CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
    CHECK_EQ(len, 2);
    char big[5000];
    CHECK_ERR(sabre_fd_send(sv[0], -1, big, sizeof big), SABRE_EINVAL);
    close(sv[0]);
    CHECK_ERR(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len), SABRE_EPEER);
    CHECK_ERR(sabre_fd_send(sv[1], -1, "x", 1), SABRE_EPEER);
    close(sv[1]);

    /* Record sockets: each message is one record, read whole, in order. */
    int types[2] = {SOCK_SEQPACKET, SOCK_DGRAM};
    for (int t = 0; t < 2; t++) {
        CHECK(socketpair(AF_UNIX, types[t], 0, sv) == 0);
        CHECK_OK(sabre_fd_send(sv[0], sabre_region_fd(r), "first", 5));
        CHECK_OK(sabre_fd_send(sv[0], -1, "second!", 7));
        CHECK_OK(sabre_fd_send(sv[0], -1, NULL, 0));
        CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
        CHECK(fd >= 0);
        close(fd);
        CHECK_EQ(len, 5);
        CHECK(memcmp(buf, "first", 5) == 0);
        CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
        CHECK_EQ(fd, -1);
        CHECK_EQ(len, 7);
        CHECK(memcmp(buf, "second!", 7) == 0);
        CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
        CHECK_EQ(len, 0);
        /* too big for the buffer: ERANGE, the next record still arrives whole */
        CHECK_OK(sabre_fd_send(sv[0], -1, "0123456789abcdefXYZ", 19));
        CHECK_OK(sabre_fd_send(sv[0], -1, "ok", 2));
        CHECK_ERR(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len), SABRE_ERANGE);
        CHECK_OK(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len));
        CHECK_EQ(len, 2);
        /* a record that is not from sabre_fd_send */
        CHECK(send(sv[0], "ab", 2, 0) == 2);
        CHECK_ERR(sabre_fd_recv(sv[1], &fd, buf, sizeof buf, &len), SABRE_EIO);
        close(sv[0]);
        close(sv[1]);
    }
    sabre_region_close(r);
}

static void test_flags_and_probe(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.size = 4 << 20,
                               .flags = SABRE_REGION_PREFAULT | SABRE_REGION_HUGEPAGES},
        &r));
    CHECK(sabre_region_size(r) >= (4 << 20));
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "x", .size = 1 << 20}, NULL));
    sabre_region_close(r);
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                               .size = 4 << 20,
                               .flags = SABRE_REGION_PREFAULT | SABRE_REGION_HUGEPAGES},
        &r));
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "x", .size = 1 << 20}, NULL));
    sabre_region_t *r2 = NULL;
    CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), SABRE_REGION_PREFAULT, &r2));
    CHECK_EQ(sabre_region_count(r2), 1);
    sabre_region_close(r2);
    sabre_region_close(r);
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM,
                                                        .name = shm_name,
                                                        .size = 4 << 20,
                                                        .flags = SABRE_REGION_HUGEPAGES},
                                 &r));
    sabre_region_close(r);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_SHM, shm_name));

    sabre_caps_t caps;
    CHECK_OK(sabre_probe(NULL, &caps));
    CHECK(caps.private_ok);
    CHECK(caps.memfd_ok);
    CHECK(caps.memfd_seals_ok);
    CHECK(caps.shm_ok);
    CHECK(caps.file_ok);
    CHECK(caps.futex_ok);
    CHECK(caps.shm_total > 0);
    CHECK(caps.shm_free <= caps.shm_total);
    CHECK(caps.page_size >= 4096);
    CHECK_OK(sabre_probe("/nonexistent-dir-for-sabre", &caps));
    CHECK(!caps.file_ok);
    CHECK_ERR(sabre_probe(NULL, NULL), SABRE_EINVAL);
}

int main(void)
{
    fill_names();
    test_backings();
    test_names_and_args();
    test_layout_mismatch();
    test_enospc();
    test_fd_passing();
    test_flags_and_probe();
    return check_done();
}
