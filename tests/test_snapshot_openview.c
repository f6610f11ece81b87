// SABRE_TEST_LABELS: unit process
/*
 * sabre_snapshot_open_view: a worker process with no world handle opens a
 * table chunk of a world that lives in a shared region, writes columns and
 * marks changed bits; the owner sees both.  Bad names, kinds and row
 * ranges are clear errors.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/snapshot.h"

typedef struct vec2 {
    float x, y;
} vec2_t;

int main(void)
{
    sabre_region_t *region;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 16u << 20}, &region));
    sabre_world_t *w;
    CHECK_OK(sabre_world_create(&(sabre_world_desc_t){.region = region, .chunk_rows = 256}, &w));
    sabre_component_t pos;
    CHECK_OK(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct V { x: f32; y: f32; }"},
        &pos));
    enum { N = 300 }; /* two chunks: 256 + 44 rows */
    sabre_entity_t ents[N];
    for (int i = 0; i < N; i++) {
        vec2_t v = {(float)i, 0};
        const void *vals[1] = {&v};
        CHECK_OK(sabre_entity_create_with(w, &pos, vals, 1, &ents[i]));
    }
    sabre_entity_loc_t loc;
    CHECK_OK(sabre_entity_loc(w, ents[N - 1], &loc));
    sabre_chunk_info_t info;
    CHECK_OK(sabre_table_chunk(w, loc.table, loc.chunk, &info));
    CHECK_EQ(info.count, N - 256);
    CHECK_OK(sabre_world_begin_tick(w));

    pid_t child = fork();
    if (child == 0) {
        /* the worker: only the region (inherited mapping) and the name */
        sabre_snapshot_t *v;
        if (sabre_snapshot_open_view(region, info.object.name, 0, info.count, &v))
            _exit(10);
        float *x;
        if (sabre_snapshot_column(v, pos, "x", (void **)&x))
            _exit(11);
        for (uint64_t i = 0; i < sabre_snapshot_rows(v); i++)
            x[i] += 1000.0f;
        if (sabre_snapshot_mark_range(v, pos, 0, sabre_snapshot_rows(v)))
            _exit(12);
        const sabre_entity_t *ids;
        if (sabre_snapshot_entities(v, &ids) || ids[info.count - 1] != ents[N - 1])
            _exit(13);
        sabre_snapshot_free(v);
        _exit(0);
    }
    int st;
    CHECK(waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    vec2_t v;
    CHECK_OK(sabre_get(w, ents[N - 1], pos, &v));
    CHECK(v.x == (float)(N - 1) + 1000.0f);
    CHECK_OK(sabre_get(w, ents[0], pos, &v)); /* first chunk untouched */
    CHECK(v.x == 0.0f);
    CHECK(sabre_is_changed(w, ents[N - 1], pos));
    CHECK(!sabre_is_changed(w, ents[0], pos));
    sabre_query_t *q;
    CHECK_OK(sabre_query_create(
        w, &(sabre_query_desc_t){.all = &pos, .nall = 1, .changed = &pos, .nchanged = 1}, &q));
    CHECK_EQ(sabre_query_count(q), N - 256); /* the summary word was set too */
    CHECK_OK(sabre_world_end_tick(w));

    /* errors */
    sabre_snapshot_t *bad = NULL;
    CHECK_ERR(sabre_snapshot_open_view(region, "no-such-chunk", 0, 1, &bad), SABRE_ENOENT);
    CHECK(bad == NULL);
    CHECK_ERR(sabre_snapshot_open_view(region, info.object.name, 0, info.count + 1, &bad),
              SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "outside the");
    CHECK_ERR(sabre_snapshot_open_view(region, info.object.name, info.count + 1, 0, &bad),
              SABRE_ERANGE);
    CHECK_OK(sabre_region_alloc(region, &(sabre_object_desc_t){.name = "raw", .size = 64}, NULL));
    CHECK_ERR(sabre_snapshot_open_view(region, "raw", 0, 1, &bad), SABRE_EINVAL);
    CHECK_STR_CONTAINS(sabre_last_error(), "not a table chunk");
    CHECK_ERR(sabre_snapshot_open_view(NULL, info.object.name, 0, 1, &bad), SABRE_EINVAL);

    sabre_query_destroy(q);
    sabre_world_destroy(w);
    sabre_region_close(region);
    return check_done();
}
