// SABRE_TEST_LABELS: unit process
/*
 * test_ecs_process.c - snapshots changed by a child process and committed by
 * the parent: shared mode (the child maps the snapshot's memfd region and
 * opens the snapshot object) and transfer mode (the memfd travels over a
 * unix socket, the parent's handle is detached until it comes back).  Also:
 * a world whose tables live in a caller's memfd region, read by a child.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/snapshot.h"

typedef struct {
    float x, y;
} vec2;

static sabre_world_t *W;
static sabre_component_t POS, VEL;
static sabre_query_t *Q;
static sabre_entity_t ES[512];
enum { N = 512 };

static void setup(sabre_region_t *region)
{
    CHECK_OK(sabre_world_create(
        &(sabre_world_desc_t){.region = region, .chunk_rows = 128, .max_chunk_rows = 128}, &W));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &POS));
    CHECK_OK(sabre_component_define(
        W, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &VEL));
    for (int i = 0; i < N; i++) {
        sabre_component_t cs[2] = {POS, VEL};
        const void *vals[2] = {&(vec2){(float)i, 0}, &(vec2){1, -1}};
        CHECK_OK(sabre_entity_create_with(W, cs, vals, 2, &ES[i]));
    }
    CHECK_OK(sabre_query_create(
        W, &(sabre_query_desc_t){.all = (sabre_component_t[]){POS, VEL}, .nall = 2}, &Q));
}

/* Child side: integrate even rows only, mark them. Returns 0 on success. */
static int child_work(sabre_snapshot_t *s)
{
    float *px, *py, *vx, *vy;
    if (sabre_snapshot_column(s, POS, "x", (void **)&px) ||
        sabre_snapshot_column(s, POS, "y", (void **)&py) ||
        sabre_snapshot_column(s, VEL, "x", (void **)&vx) ||
        sabre_snapshot_column(s, VEL, "y", (void **)&vy))
        return 2;
    if (sabre_snapshot_rows(s) != N)
        return 3;
    for (uint64_t i = 0; i < N; i += 2) {
        px[i] += vx[i] * 10;
        py[i] += vy[i] * 10;
        if (sabre_snapshot_mark(s, POS, i))
            return 4;
    }
    return 0;
}

static void check_committed(sabre_snapshot_t *s, sabre_entity_t dead)
{
    sabre_commit_stats_t st;
    CHECK_OK(sabre_snapshot_commit(W, s, &st));
    CHECK_EQ(st.rows_written, N / 2 - 1);
    CHECK_EQ(st.skipped_dead, 1);
    for (int i = 0; i < N; i++) {
        if (ES[i] == dead)
            continue;
        vec2 v;
        CHECK_OK(sabre_get(W, ES[i], POS, &v));
        if (i % 2 == 0)
            CHECK(v.x == (float)i + 10 && v.y == -10);
        else
            CHECK(v.x == (float)i && v.y == 0);
    }
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status)
                             : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void test_shared_process(void)
{
    setup(NULL);
    sabre_snap_comp_t sc[2] = {{.comp = POS, .write = true}, {.comp = VEL}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W, &(sabre_snapshot_desc_t){.comps = sc, .ncomps = 2, .backing = SABRE_BACKING_MEMFD}, Q,
        &s));
    int fd = sabre_region_fd(sabre_snapshot_region(s));
    CHECK(fd >= 0);
    sabre_object_t obj;
    CHECK_OK(sabre_snapshot_object(s, &obj));
    CHECK_EQ(obj.kind, SABRE_OBJ_SNAPSHOT);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Map the region afresh from its fd (as an unrelated process would). */
        sabre_region_t *r;
        sabre_snapshot_t *cs;
        if (sabre_region_open_fd(fd, 0, &r) || sabre_snapshot_open(r, obj.name, &cs))
            _exit(1);
        int rc = child_work(cs);
        sabre_snapshot_free(cs);
        sabre_region_close(r);
        _exit(rc);
    }
    CHECK_EQ(wait_child(pid), 0);
    /* Destroyed while the snapshot was out: skipped and counted. */
    CHECK_OK(sabre_entity_destroy(W, ES[10]));
    check_committed(s, ES[10]);
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

static void test_transfer_process(void)
{
    setup(NULL);
    sabre_snap_comp_t sc[2] = {{.comp = POS, .write = true}, {.comp = VEL}};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        W,
        &(sabre_snapshot_desc_t){
            .comps = sc, .ncomps = 2, .mode = SABRE_SNAP_TRANSFER, .backing = SABRE_BACKING_MEMFD},
        Q, &s));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        sabre_snapshot_t *cs;
        if (sabre_snapshot_recv(sv[1], &cs))
            _exit(1);
        int rc = child_work(cs);
        if (!rc && sabre_snapshot_send(cs, sv[1]))
            rc = 5;
        if (!rc && sabre_snapshot_mark(cs, POS, 0) != SABRE_EDETACHED)
            rc = 6;
        sabre_snapshot_free(cs);
        close(sv[1]);
        _exit(rc);
    }
    close(sv[1]);
    CHECK_OK(sabre_snapshot_send(s, sv[0]));
    CHECK(sabre_snapshot_detached(s));
    float *px;
    CHECK_ERR(sabre_snapshot_column(s, POS, "x", (void **)&px), SABRE_EDETACHED);
    CHECK_ERR(sabre_snapshot_commit(W, s, NULL), SABRE_EDETACHED);
    CHECK_OK(sabre_entity_destroy(W, ES[20]));
    CHECK_OK(sabre_snapshot_reattach(s, sv[0]));
    CHECK(!sabre_snapshot_detached(s));
    CHECK_EQ(wait_child(pid), 0);
    check_committed(s, ES[20]);
    close(sv[0]);
    sabre_snapshot_free(s);
    sabre_world_destroy(W);
}

static void test_world_in_shared_region(void)
{
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 8u << 20, .max_objects = 64},
        &r));
    setup(r);
    sabre_entity_loc_t loc;
    CHECK_OK(sabre_entity_loc(W, ES[0], &loc));
    sabre_chunk_info_t ci;
    CHECK_OK(sabre_table_chunk(W, loc.table, 0, &ci));
    int fd = sabre_region_fd(r);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sabre_region_t *cr;
        sabre_object_t o;
        if (sabre_region_open_fd(fd, 0, &cr) || sabre_region_find(cr, ci.object.name, NULL, &o))
            _exit(1);
        if (o.kind != SABRE_OBJ_TABLE || o.offset != ci.object.offset)
            _exit(2);
        /* Entity ids at entities_off (header word 8) match the parent's. */
        const uint64_t *h = o.ptr;
        const uint64_t *ents = (const uint64_t *)((const char *)o.ptr + h[8]);
        if (h[6] != 128 || ents[0] != ES[0] || ents[127] != ES[127])
            _exit(3);
        sabre_region_close(cr);
        _exit(0);
    }
    CHECK_EQ(wait_child(pid), 0);
    sabre_world_destroy(W);
    sabre_region_close(r);
}

int main(void)
{
    test_shared_process();
    test_transfer_process();
    test_world_in_shared_region();
    return check_done();
}
