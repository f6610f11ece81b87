// SABRE_TEST_LABELS: unit process
/*
 * test_region_process.c - regions shared between processes:
 *  - a parent creates a region of each shared backing; a child opens it
 *    (memfd by fd over a unix socket, shm by name, file by path), writes
 *    and allocates; the parent sees the writes and the new object;
 *  - a FILE region written, closed and reopened in a new process (fork, and
 *    fork+exec of `$SABRE_TOOL inspect`) keeps its contents;
 *  - a creator that died before initialising is reported as such, a live
 *    one as "still being created";
 *  - a directory slot left "being written" by a dead process does not block
 *    an allocator of the same name.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"

static char shm_name[64], file_path[256];

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static bool has_pattern(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(seed + i * 7))
            return false;
    return true;
}

static int wait_child(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Child side: write into "data", allocate "child", exit 0 on success. */
static int child_work(sabre_region_t *r, uint8_t seed)
{
    sabre_object_t o;
    if (sabre_region_find(r, "data", NULL, &o) != SABRE_OK || o.size != 4096)
        return 3;
    if (!has_pattern(o.ptr, 4096, 1))
        return 4; /* the parent's contents are visible */
    pattern(o.ptr, 4096, seed);
    if (sabre_region_alloc(
            r,
            &(sabre_object_desc_t){.name = "child", .size = 1000, .layout_text = "struct C{v:u8;}"},
            &o) != SABRE_OK)
        return 5;
    pattern(o.ptr, 1000, (uint8_t)(seed + 1));
    return 0;
}

static void parent_check(sabre_region_t *r, uint8_t seed)
{
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, "data", NULL, &o));
    CHECK(has_pattern(o.ptr, 4096, seed));
    CHECK_OK(sabre_region_find(r, "child", NULL, &o));
    CHECK_EQ(o.size, 1000);
    CHECK(strcmp(o.layout_text, "struct C{v:u8;}") == 0);
    CHECK(has_pattern(o.ptr, 1000, (uint8_t)(seed + 1)));
    CHECK_EQ(sabre_region_count(r), 2);
}

static sabre_region_t *make(sabre_backing_t b, const char *name)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = b,
                               .name = name,
                               .size = 1 << 20,
                               .flags = SABRE_REGION_REPLACE & (b >= SABRE_BACKING_SHM ? ~0u : 0u)},
        &r));
    sabre_object_t o;
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "data", .size = 4096}, &o));
    pattern(o.ptr, 4096, 1);
    return r;
}

static void test_cross_process(void)
{
    /* MEMFD by fd over a unix socket. */
    sabre_region_t *r = make(SABRE_BACKING_MEMFD, "xproc");
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        int fd = -1;
        char msg[32];
        size_t len = 0;
        if (sabre_fd_recv(sv[1], &fd, msg, sizeof msg, &len) != SABRE_OK || fd < 0 || len != 6 ||
            memcmp(msg, "region", 6) != 0)
            _exit(2);
        sabre_region_t *cr = NULL;
        if (sabre_region_open_fd(fd, 0, &cr) != SABRE_OK)
            _exit(6);
        close(fd);
        int rc = child_work(cr, 40);
        sabre_region_close(cr);
        char ok = (char)rc;
        if (write(sv[1], &ok, 1) != 1)
            _exit(7);
        _exit(rc);
    }
    close(sv[1]);
    CHECK_OK(sabre_fd_send(sv[0], sabre_region_fd(r), "region", 6));
    char ok = 1;
    CHECK(read(sv[0], &ok, 1) == 1);
    CHECK_EQ(ok, 0);
    CHECK_EQ(wait_child(pid), 0);
    close(sv[0]);
    parent_check(r, 40);
    sabre_region_close(r);

    /* SHM by name, FILE by path. */
    for (int k = 0; k < 2; k++) {
        sabre_backing_t b = k ? SABRE_BACKING_FILE : SABRE_BACKING_SHM;
        const char *name = k ? file_path : shm_name;
        r = make(b, name);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            sabre_region_t *cr = NULL;
            if (sabre_region_open(&(sabre_region_desc_t){.backing = b, .name = name}, &cr) !=
                SABRE_OK)
                _exit(6);
            int rc = child_work(cr, (uint8_t)(50 + k));
            sabre_region_close(cr);
            _exit(rc);
        }
        CHECK_EQ(wait_child(pid), 0);
        parent_check(r, (uint8_t)(50 + k));
        sabre_region_close(r);
        CHECK_OK(sabre_region_unlink(b, name));
    }
}

/* A FILE region written, closed, then read back by new processes. */
static void test_persistence(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                        .name = file_path,
                                                        .size = 1 << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    uint64_t sums[3];
    const char *names[3] = {"persist.a", "persist.b", "persist.c"};
    for (int i = 0; i < 3; i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_alloc(r,
                                    &(sabre_object_desc_t){.name = names[i],
                                                           .kind = SABRE_OBJ_RAW,
                                                           .size = 5000u + 1000u * (unsigned)i,
                                                           .layout_text = "struct K{k:u64;}"},
                                    &o));
        pattern(o.ptr, o.size, (uint8_t)(9 * i));
        sums[i] = fnv(o.ptr, o.size);
    }
    sabre_region_close(r);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sabre_region_t *cr = NULL;
        if (sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                     .name = file_path,
                                                     .flags = SABRE_REGION_READONLY},
                              &cr) != SABRE_OK)
            _exit(2);
        if (sabre_region_count(cr) != 3)
            _exit(3);
        for (int i = 0; i < 3; i++) {
            sabre_object_t o;
            if (sabre_region_find(cr, names[i], NULL, &o) != SABRE_OK)
                _exit(4);
            if (fnv(o.ptr, o.size) != sums[i] || strcmp(o.layout_text, "struct K{k:u64;}"))
                _exit(5);
        }
        sabre_region_close(cr);
        _exit(0);
    }
    CHECK_EQ(wait_child(pid), 0);

    const char *tool = getenv("SABRE_TOOL");
    if (tool && access(tool, X_OK) == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "'%s' inspect '%s' --json", tool, file_path);
        FILE *p = popen(cmd, "r");
        CHECK(p != NULL);
        char buf[16384];
        size_t n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = '\0';
        CHECK_EQ(pclose(p), 0);
        CHECK_STR_CONTAINS(buf, "\"name\": \"persist.a\"");
        CHECK_STR_CONTAINS(buf, "\"name\": \"persist.c\"");
        CHECK_STR_CONTAINS(buf, "\"size\": 7000");
        CHECK_STR_CONTAINS(buf, "\"layout_text\": \"struct K{k:u64;}\"");
        CHECK_STR_CONTAINS(buf, "\"creator_alive\": true");
    } else {
        printf("SABRE_TOOL not set: skipping the exec'd inspect check\n");
    }
    /* Reopened read-write later by this process: still there, and growable. */
    CHECK_OK(sabre_region_open(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_FILE, .name = file_path}, &r));
    CHECK_EQ(sabre_region_count(r), 3);
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "persist.d", .size = 10}, NULL));
    sabre_region_close(r);
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_FILE, file_path));
}

/* The creator protocol by hand (docs/abi.md): make the object, reserve,
 * write creator pid + start time, and stop before `initialised`. */
static void half_create(const char *name, bool shm)
{
    char p[128];
    snprintf(p, sizeof p, "/%s", name[0] == '/' ? name + 1 : name);
    int fd = shm ? shm_open(p, O_RDWR | O_CREAT | O_EXCL, 0600)
                 : open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || posix_fallocate(fd, 0, 1 << 16) != 0)
        _exit(10);
    uint8_t *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        _exit(11);
    int32_t me = getpid();
    memcpy(m + 28, &me, 4);
    /* start time left 0: "do not check for pid reuse" */
}

static void test_creator_died(void)
{
    for (int k = 0; k < 2; k++) {
        bool shm = k == 0;
        const char *name = shm ? shm_name : file_path;
        sabre_backing_t b = shm ? SABRE_BACKING_SHM : SABRE_BACKING_FILE;
        int sync[2];
        CHECK(pipe(sync) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(sync[0]);
            half_create(name, shm);
            char c = 1;
            if (write(sync[1], &c, 1) != 1)
                _exit(12);
            pause(); /* "still creating" until killed */
            _exit(0);
        }
        close(sync[1]);
        char c = 0;
        CHECK(read(sync[0], &c, 1) == 1);
        close(sync[0]);
        sabre_region_t *r = NULL;
        char want[96];
        /* Alive: waits wait_ms, then EBUSY naming the creator. */
        CHECK_ERR(sabre_region_open(
                      &(sabre_region_desc_t){.backing = b, .name = name, .wait_ms = 50}, &r),
                  SABRE_EBUSY);
        snprintf(want, sizeof want, "still being created by pid %d", (int)pid);
        CHECK_STR_CONTAINS(sabre_last_error(), want);
        CHECK(r == NULL);
        /* Dead: ECORRUPT at once, naming it. */
        kill(pid, SIGKILL);
        CHECK_EQ(wait_child(pid), 128 + SIGKILL);
        CHECK_ERR(sabre_region_open(&(sabre_region_desc_t){.backing = b, .name = name}, &r),
                  SABRE_ECORRUPT);
        snprintf(want, sizeof want, "creator pid %d died before initialising", (int)pid);
        CHECK_STR_CONTAINS(sabre_last_error(), want);
        /* A creator that exited without killing: the same. */
        CHECK_OK(sabre_region_unlink(b, name));
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            half_create(name, shm);
            _exit(0);
        }
        CHECK_EQ(wait_child(pid), 0);
        CHECK_ERR(sabre_region_open(&(sabre_region_desc_t){.backing = b, .name = name}, &r),
                  SABRE_ECORRUPT);
        CHECK_STR_CONTAINS(sabre_last_error(), "died before initialising");
        /* REPLACE recovers the name. */
        CHECK_OK(sabre_region_create(
            &(sabre_region_desc_t){
                .backing = b, .name = name, .size = 1 << 16, .flags = SABRE_REGION_REPLACE},
            &r));
        sabre_region_close(r);
        CHECK_OK(sabre_region_unlink(b, name));
    }
    /* An empty object (creator died before reserving space). */
    int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);
    sabre_region_t *r = NULL;
    CHECK_ERR(
        sabre_region_open(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = shm_name, .wait_ms = 20},
            &r),
        SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "empty");
    CHECK_OK(sabre_region_unlink(SABRE_BACKING_SHM, shm_name));
}

static uint32_t hash24(const char *name)
{
    uint64_t h = fnv(name, strlen(name));
    return (uint32_t)((h ^ (h >> 24) ^ (h >> 48)) & 0xffffffu);
}

/* A slot claimed by a process that died mid-allocation (state "writing"
 * with its pid) is skipped by readers and does not block a same-name
 * allocator, who marks it dead. */
static void test_dead_allocator(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(0);
    CHECK_EQ(wait_child(pid), 0); /* pid is now a dead process id */
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 1 << 16}, &r));
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "before", .size = 8}, NULL));
    uint8_t *base = sabre_region_base(r);
    uint64_t state = 1u | ((uint64_t)hash24("victim") << 8) | ((uint64_t)(uint32_t)pid << 32);
    memcpy(base + 512 + 128, &state, 8); /* slot 1: "victim", being written by the dead pid */
    memcpy(base + 512 + 128 + 64, "victim", 7);
    CHECK_EQ(sabre_region_count(r), 1);
    sabre_slot_info_t si;
    CHECK_OK(sabre_region_slot(r, 1, &si));
    CHECK_EQ(si.state, SABRE_SLOT_WRITING);
    CHECK_EQ(si.pid, pid);
    CHECK(!si.pid_alive);
    sabre_region_t *r2 = NULL;
    CHECK_OK(sabre_region_open_fd(sabre_region_fd(r), 0, &r2)); /* still opens */
    sabre_region_close(r2);
    sabre_object_t o;
    CHECK_OK(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "victim", .size = 8}, &o));
    CHECK_EQ(o.index, 2);
    CHECK_OK(sabre_region_slot(r, 1, &si));
    CHECK_EQ(si.state, SABRE_SLOT_DEAD);
    CHECK_OK(sabre_region_find(r, "victim", NULL, &o));
    CHECK_EQ(o.index, 2);
    CHECK_EQ(sabre_region_count(r), 2);
    sabre_region_close(r);
}

int main(void)
{
    snprintf(shm_name, sizeof shm_name, "/sabre-test-rproc-%d", (int)getpid());
    const char *tmp = getenv("TMPDIR");
    snprintf(file_path, sizeof file_path, "%s/sabre-test-rproc-%d.sab", tmp ? tmp : "/tmp",
             (int)getpid());
    sabre_region_unlink(SABRE_BACKING_SHM, shm_name);
    unlink(file_path);
    test_cross_process();
    test_persistence();
    test_creator_died();
    test_dead_allocator();
    return check_done();
}
