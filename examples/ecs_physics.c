// SABRE_EXAMPLE_TEST
/*
 * ecs_physics.c - the seed note's physics example in C (docs/ecs.md,
 * section 9): a world with Pos and Vel, a snapshot rebuilt every frame, a
 * worker thread integrating pos += vel * dt in transfer mode (the buffers
 * move to the worker and come back), then a commit of the changed rows.
 * Exits 0 when the positions after 60 frames are the expected ones.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sabre/snapshot.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_) {                                                                                 \
            fprintf(stderr, "%s: %s (%s)\n", #expr, sabre_status_name(rc_), sabre_last_error());   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    float x, y;
} vec2;
typedef struct {
    sabre_snapshot_t *snap;
    sabre_component_t pos, vel;
    float dt;
    int rc;
} job_t;

/* The worker job (the note's physics.zc.job): mutate in place, mark changed. */
static void *physics_job(void *arg)
{
    job_t *j = arg;
    float *px, *py, *vx, *vy;
    if ((j->rc = sabre_snapshot_column(j->snap, j->pos, "x", (void **)&px)) ||
        (j->rc = sabre_snapshot_column(j->snap, j->pos, "y", (void **)&py)) ||
        (j->rc = sabre_snapshot_column(j->snap, j->vel, "x", (void **)&vx)) ||
        (j->rc = sabre_snapshot_column(j->snap, j->vel, "y", (void **)&vy)))
        return NULL;
    uint64_t n = sabre_snapshot_rows(j->snap);
    for (uint64_t i = 0; i < n; i++) {
        px[i] += vx[i] * j->dt;
        py[i] += vy[i] * j->dt;
    }
    j->rc = sabre_snapshot_mark_range(j->snap, j->pos, 0, n); /* markChanged, every row */
    return NULL;
}

int main(void)
{
    sabre_world_t *w;
    TRY(sabre_world_create(NULL, &w));
    sabre_component_t POS, VEL;
    TRY(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Pos", .schema = "struct Pos { x: f32; y: f32; }"},
        &POS));
    TRY(sabre_component_define(
        w, &(sabre_component_desc_t){.name = "Vel", .schema = "struct Vel { x: f32; y: f32; }"},
        &VEL));
    enum { N = 10000, FRAMES = 60 };
    for (int i = 0; i < N; i++) {
        sabre_entity_t e;
        TRY(sabre_entity_create_with(w, (sabre_component_t[]){POS, VEL},
                                     (const void *const[]){&(vec2){(float)i, 0}, &(vec2){1, 0.5f}},
                                     2, &e));
    }
    sabre_query_t *q; /* query: w => ({ all: [CPos, CVel] }) */
    TRY(sabre_query_create(
        w, &(sabre_query_desc_t){.all = (sabre_component_t[]){POS, VEL}, .nall = 2}, &q));
    sabre_snap_comp_t spec[] = {{.comp = POS, .write = true}, {.comp = VEL}}; /* writes: [CPos] */
    sabre_snapshot_t *s;
    TRY(sabre_snapshot_build(
        w, &(sabre_snapshot_desc_t){.comps = spec, .ncomps = 2, .mode = SABRE_SNAP_TRANSFER}, q,
        &s));
    uint64_t written = 0;
    for (int frame = 0; frame < FRAMES; frame++) { /* sched.runFrame(0.016, ...) */
        TRY(sabre_world_begin_tick(w));
        if (frame)
            TRY(sabre_snapshot_rebuild(w, s, q));
        job_t job = {.pos = POS, .vel = VEL, .dt = 0.016f};
        TRY(sabre_snapshot_transfer(s, &job.snap)); /* moved: s is detached */
        pthread_t t;
        if (pthread_create(&t, NULL, physics_job, &job))
            return 1;
        pthread_join(t, NULL);
        TRY(job.rc);
        TRY(sabre_snapshot_give_back(s, job.snap)); /* came back */
        sabre_commit_stats_t st;
        TRY(sabre_snapshot_commit(w, s, &st)); /* commitSnapshot: changed rows only */
        written += st.rows_written;
        TRY(sabre_world_end_tick(w));
    }
    /* Every entity moved by FRAMES * dt * vel. */
    int bad = 0;
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        for (uint32_t i = 0; i < it.count; i++) {
            vec2 p;
            TRY(sabre_get(w, it.entities[i], POS, &p));
            /* The same float steps the worker made, so the match is exact. */
            float x = (float)SABRE_ENTITY_INDEX(it.entities[i]), y = 0;
            for (int f = 0; f < FRAMES; f++) {
                x += 1.0f * 0.016f;
                y += 0.5f * 0.016f;
            }
            if (p.x != x || p.y != y)
                bad++;
        }
    }
    printf("%d frames, %llu rows committed, %d entities off course\n", FRAMES,
           (unsigned long long)written, bad);
    sabre_snapshot_free(s);
    sabre_world_destroy(w);
    return bad || written != (uint64_t)N * FRAMES;
}
