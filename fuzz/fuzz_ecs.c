/*
 * fuzz_ecs.c - ECS table chunks, snapshots and mailboxes whose bytes are
 * hostile: what a worker process reads when it opens objects written by a
 * peer that is buggy, dead mid-write or malicious.
 *
 * Input: byte 0 picks the object (0: a table chunk, opened as a native view
 * with sabre_snapshot_open_view; 1: a shared snapshot, sabre_snapshot_open;
 * 2: a mailbox); the rest overwrites the start of that object.  Opening
 * must fail cleanly or give a handle whose every call - rows, components,
 * entity ids, columns, changed words, marks, the mailbox's request / wait /
 * next / tick / ack, the `sabre inspect` describers - stays in bounds and
 * returns without blocking.
 *
 * The world, its snapshot and the mailbox are built once; before each input
 * every object gets its pristine bytes back, so each run sees one
 * corruption only and runs are independent of each other.
 *
 * The seed corpus fuzz/corpus/ecs/ (each object's pristine bytes) is made
 * by this file built as a program with SABRE_FUZZ_ECS_GEN defined:
 *   cc -std=gnu11 -D_GNU_SOURCE -DSABRE_FUZZ_ECS_GEN -Iinclude -Isrc \
 *      fuzz/fuzz_ecs.c build/release/libsabre.a -lpthread -o gen-ecs-corpus
 *   ./gen-ecs-corpus fuzz/corpus/ecs
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sabre/ecs.h"
#include "sabre/mailbox.h"
#include "sabre/region.h"
#include "sabre/snapshot.h"

#include "../tools/inspect_ecs.c"
#include "../tools/inspect_mailbox.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { OBJ_TABLE, OBJ_SNAPSHOT, OBJ_MAILBOX, NOBJ };

/* Built once per process (a fuzzer or replay run): the objects and a copy
 * of each one's bytes as built. */
static struct {
    bool ready, failed;
    sabre_region_t *region;
    sabre_world_t *world;
    sabre_component_t pos, vel;
    char name[NOBJ][SABRE_NAME_MAX];
    sabre_object_t obj[NOBJ];
    uint8_t *pristine[NOBJ];
} g;

static int build(void)
{
    int rc =
        sabre_region_create(&(sabre_region_desc_t){.size = 4u << 20, .max_objects = 64}, &g.region);
    if (!rc)
        rc = sabre_world_create(&(sabre_world_desc_t){.region = g.region, .chunk_rows = 64},
                                &g.world);
    if (!rc)
        rc = sabre_component_define(
            g.world,
            &(sabre_component_desc_t){.name = "Pos", .schema = "struct P { x: f32; y: f32; }"},
            &g.pos);
    if (!rc)
        rc = sabre_component_define(
            g.world,
            &(sabre_component_desc_t){.name = "Vel", .schema = "struct V { v: f64[2]; tag: u8; }"},
            &g.vel);
    sabre_entity_t e = 0;
    for (int i = 0; i < 100 && !rc; i++) { /* two chunks: 64 + 36 rows */
        sabre_component_t both[2] = {g.pos, g.vel};
        rc = sabre_entity_create_with(g.world, both, NULL, 2, &e);
    }
    sabre_entity_loc_t loc;
    sabre_chunk_info_t info;
    if (!rc)
        rc = sabre_entity_loc(g.world, e, &loc);
    if (!rc)
        rc = sabre_table_chunk(g.world, loc.table, loc.chunk, &info);
    if (!rc)
        rc = sabre_world_begin_tick(g.world);
    if (!rc)
        rc = sabre_mark_changed(g.world, e, g.pos);
    if (rc)
        return rc;
    snprintf(g.name[OBJ_TABLE], sizeof g.name[0], "%s", info.object.name);

    sabre_query_t *q = NULL;
    rc = sabre_query_create(g.world, &(sabre_query_desc_t){.all = &g.pos, .nall = 1}, &q);
    sabre_snap_comp_t comps[2] = {{.comp = g.pos, .write = true}, {.comp = g.vel}};
    sabre_snapshot_t *s = NULL;
    if (!rc)
        rc = sabre_snapshot_build(g.world,
                                  &(sabre_snapshot_desc_t){.comps = comps,
                                                           .ncomps = 2,
                                                           .mode = SABRE_SNAP_SHARED,
                                                           .region = g.region,
                                                           .name = "snap"},
                                  q, &s);
    if (!rc)
        rc = sabre_snapshot_mark_range(s, g.pos, 3, 70);
    if (!rc)
        snprintf(g.name[OBJ_SNAPSHOT], sizeof g.name[0], "snap");
    sabre_snapshot_free(s); /* the object stays in the region */

    sabre_mailbox_t *mb = NULL;
    if (!rc)
        rc = sabre_mailbox_create(g.region, &(sabre_mailbox_desc_t){.name = "mb", .workers = 2},
                                  &mb);
    if (!rc)
        rc = sabre_mailbox_request(mb, 0, 3); /* one request outstanding */
    sabre_mailbox_close(mb);
    if (!rc)
        snprintf(g.name[OBJ_MAILBOX], sizeof g.name[0], "mb");

    for (int k = 0; k < NOBJ && !rc; k++) {
        rc = sabre_region_find(g.region, g.name[k], NULL, &g.obj[k]);
        if (!rc && !(g.pristine[k] = malloc(g.obj[k].size)))
            rc = SABRE_ENOMEM;
        if (!rc)
            memcpy(g.pristine[k], g.obj[k].ptr, g.obj[k].size);
    }
    return rc;
}

static void touch(const void *p, size_t n)
{
    if (p && n)
        (void)((const volatile uint8_t *)p)[0], (void)((const volatile uint8_t *)p)[n - 1];
}

/* Every accessor of a snapshot or view handle, and the marks. */
static void poke_snapshot(sabre_snapshot_t *s)
{
    uint64_t rows = sabre_snapshot_rows(s);
    const sabre_entity_t *ids = NULL;
    if (sabre_snapshot_entities(s, &ids) == SABRE_OK)
        touch(ids, rows * sizeof *ids);
    for (uint32_t i = 0; i < sabre_snapshot_ncomps(s) + 1; i++) {
        sabre_component_t c = sabre_snapshot_comp(s, i);
        for (uint32_t j = 0; j < 8; j++) {
            void *col = NULL;
            sabre_scalar_t type;
            if (sabre_snapshot_column_at(s, c, j, &col, &type) == SABRE_OK && rows)
                touch(col, (size_t)rows * sabre_scalar_size(type));
        }
        void *x = NULL;
        sabre_snapshot_column(s, c, "x", &x);
        _Atomic uint64_t *words = NULL;
        if (sabre_snapshot_changed(s, c, &words) == SABRE_OK && rows)
            touch((const void *)words, (size_t)((rows + 63) / 64) * 8);
        sabre_snapshot_mark(s, c, 0);
        sabre_snapshot_mark(s, c, rows ? rows - 1 : 0);
        sabre_snapshot_mark(s, c, rows);
        sabre_snapshot_mark_range(s, c, 1, rows);
        sabre_snapshot_touch(s, c);
    }
}

static void poke_mailbox(sabre_mailbox_t *mb)
{
    uint32_t n = sabre_mailbox_workers(mb);
    int32_t pid;
    uint64_t start;
    sabre_mailbox_main_pid(mb, &pid, &start);
    for (uint32_t w = 0; w < n + 1; w++) {
        sabre_mailbox_info_t in;
        sabre_mailbox_info(mb, w, &in);
        sabre_mailbox_wait(mb, w, 0);
        sabre_mailbox_request(mb, w, 2);
        sabre_mailbox_attach(mb, w);
        sabre_mailbox_req_t req;
        if (sabre_mailbox_next(mb, w, &req, 0) == SABRE_OK) {
            sabre_mailbox_tick(mb, w);
            sabre_mailbox_heartbeat(mb, w);
            sabre_mailbox_ack(mb, w, 0);
        }
        sabre_mailbox_wait(mb, w, 0);
        sabre_mailbox_stop(mb, w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!g.ready && !g.failed) {
        g.failed = build() != SABRE_OK;
        g.ready = !g.failed;
    }
    if (!g.ready)
        return 0;
    for (int k = 0; k < NOBJ; k++)
        memcpy(g.obj[k].ptr, g.pristine[k], g.obj[k].size);
    int k = data[0] % NOBJ;
    size_t n = size - 1 < g.obj[k].size ? size - 1 : (size_t)g.obj[k].size;
    memcpy(g.obj[k].ptr, data + 1, n);

    sabre_snapshot_t *s = NULL;
    sabre_mailbox_t *mb = NULL;
    if (k == OBJ_TABLE) {
        static const uint32_t ranges[][2] = {{0, 1}, {0, 36}, {5, 20}, {0, 64}, {63, 1}};
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            if (sabre_snapshot_open_view(g.region, g.name[k], ranges[i][0], ranges[i][1], &s) ==
                SABRE_OK) {
                poke_snapshot(s);
                sabre_snapshot_free(s);
            }
        }
    } else if (k == OBJ_SNAPSHOT) {
        if (sabre_snapshot_open(g.region, g.name[k], &s) == SABRE_OK) {
            poke_snapshot(s);
            sabre_snapshot_free(s);
        }
    } else if (sabre_mailbox_open(g.region, g.name[k], &mb) == SABRE_OK) {
        poke_mailbox(mb);
        sabre_mailbox_close(mb);
    }
    FILE *sink = fopen("/dev/null", "w");
    if (sink) {
        for (int json = 0; json < 2; json++) {
            if (k == OBJ_TABLE)
                sabre_tool_describe_table(g.region, &g.obj[k], sink, json);
            else if (k == OBJ_SNAPSHOT)
                sabre_tool_describe_snapshot(g.region, &g.obj[k], sink, json);
            else
                sabre_tool_describe_mailbox(g.region, &g.obj[k], sink, json);
        }
        fclose(sink);
    }
    return 0;
}

#ifdef SABRE_FUZZ_ECS_GEN
/* Writes one seed per object: its selector byte, then its pristine bytes. */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (build() != SABRE_OK) {
        fprintf(stderr, "build: %s\n", sabre_last_error());
        return 1;
    }
    for (int k = 0; k < NOBJ; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed_%d", argv[1], k);
        FILE *f = fopen(path, "wb");
        uint8_t sel = (uint8_t)k;
        if (!f || fwrite(&sel, 1, 1, f) != 1 ||
            fwrite(g.pristine[k], 1, g.obj[k].size, f) != g.obj[k].size) {
            fprintf(stderr, "cannot write %s\n", path);
            return 1;
        }
        fclose(f);
    }
    /* the seeds must open: a seed that is refused would fuzz only the refusal */
    sabre_snapshot_t *s = NULL;
    sabre_mailbox_t *mb = NULL;
    int rc = sabre_snapshot_open_view(g.region, g.name[OBJ_TABLE], 0, 36, &s);
    sabre_snapshot_free(s);
    if (!rc)
        rc = sabre_snapshot_open(g.region, g.name[OBJ_SNAPSHOT], &s);
    sabre_snapshot_free(s);
    if (!rc)
        rc = sabre_mailbox_open(g.region, g.name[OBJ_MAILBOX], &mb);
    sabre_mailbox_close(mb);
    if (rc) {
        fprintf(stderr, "a seed object does not open: %s\n", sabre_last_error());
        return 1;
    }
    return 0;
}
#endif
