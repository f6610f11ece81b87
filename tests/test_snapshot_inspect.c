// SABRE_TEST_LABELS: unit
/*
 * test_ecs_inspect.c - `sabre inspect` shows ECS table chunks and snapshots
 * (tools/inspect_ecs.c), as text and JSON, and reports a corrupt snapshot
 * header as an error of that object instead of failing or crashing.
 * Needs $SABRE_TOOL (set by CTest); skipped with a message otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sabre/snapshot.h"

static char *run(const char *cmd)
{
    static char buf[1 << 16];
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    pclose(p);
    return buf;
}

int main(void)
{
    const char *tool = getenv("SABRE_TOOL");
    if (!tool || access(tool, X_OK) != 0) {
        printf("SABRE_TOOL not set: skipping the inspect checks\n");
        return check_done();
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/sabre-test-ecs-inspect-%d.region", (int)getpid());
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_FILE,
                                                        .name = path,
                                                        .size = 4u << 20,
                                                        .flags = SABRE_REGION_REPLACE},
                                 &r));
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(
        &(sabre_world_desc_t){.region = r, .chunk_rows = 64, .prefix = "game"}, &w));
    sabre_component_t P;
    CHECK_OK(sabre_component_define(
        w,
        &(sabre_component_desc_t){.name = "Position", .schema = "struct Pos { x: f32; y: f32; }"},
        &P));
    for (int i = 0; i < 10; i++) {
        sabre_entity_t e;
        CHECK_OK(sabre_entity_create_with(w, &P, NULL, 1, &e));
    }
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(w, &(sabre_query_desc_t){.all = &P, .nall = 1}, &q));
    sabre_snap_comp_t sc = {.comp = P, .write = true};
    sabre_snapshot_t *s;
    CHECK_OK(sabre_snapshot_build(
        w, &(sabre_snapshot_desc_t){.comps = &sc, .ncomps = 1, .region = r, .name = "physics-snap"},
        q, &s));
    CHECK_OK(sabre_snapshot_mark(s, P, 3));
    CHECK_OK(sabre_snapshot_mark(s, P, 4));
    sabre_snapshot_free(s);
    sabre_world_destroy(w);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", tool, path);
    char *out = run(cmd);
    CHECK_STR_CONTAINS(out, "game.t1.0");
    CHECK_STR_CONTAINS(out, "table 1 chunk 0");
    CHECK_STR_CONTAINS(out, "component 0 'Position'");
    CHECK_STR_CONTAINS(out, "struct Pos{x:f32;y:f32;}");
    CHECK_STR_CONTAINS(out, "snapshot ");
    CHECK_STR_CONTAINS(out, "2 rows changed");
    snprintf(cmd, sizeof cmd, "%s inspect --json %s 2>&1", tool, path);
    out = run(cmd);
    CHECK_STR_CONTAINS(out, "\"format\":\"snapshot\"");
    CHECK_STR_CONTAINS(out, "\"changed_rows\":2");
    CHECK_STR_CONTAINS(out, "\"format\":\"table_chunk\"");
    CHECK_STR_CONTAINS(out, "\"world_id\":\"0x"); /* ids and hashes are 0x-prefixed */
    CHECK_STR_CONTAINS(out, "\"snapshot_id\":\"0x");
    CHECK_STR_CONTAINS(out, "\"layout_hash\":\"0x");

    /* Corrupt the snapshot's header (capacity far beyond the object). */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, "physics-snap", NULL, &o));
    ((uint64_t *)o.ptr)[5] = 1ull << 40;
    sabre_region_close(r);
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", tool, path);
    out = run(cmd);
    CHECK_STR_CONTAINS(out, "game.t1.0");
    CHECK_STR_CONTAINS(out, "capacity");
    snprintf(cmd, sizeof cmd, "%s inspect --json %s 2>&1", tool, path);
    out = run(cmd);
    CHECK_STR_CONTAINS(out, "state_error");
    unlink(path);
    return check_done();
}
