// SABRE_EXAMPLE_TEST
/* tutorial_sim.c - docs/tutorial.md, part 1: a world, two systems, and the
 * same frames in the three offload modes (threads on the tables, threads on
 * snapshots, worker processes), which must end in the same state. */
#include <stdio.h>
#include <stdlib.h>

#include <sabre/sabre.h>

static void check(int status) /* every call returns a status; the message says why */
{
    if (status != SABRE_OK) {
        fprintf(stderr, "error: %s\n", sabre_last_error());
        exit(1);
    }
}

enum { N = 20000, FRAMES = 60, X = 0, Y = 1 }; /* X, Y: the columns of struct V */

/* move: reads Vel (term 0), writes Pos (term 1).  The scheduler marks the
 * rows it wrote, so snapshot and process modes commit them. */
static int move(const sabre_kernel_ctx_t *c)
{
    const float *vx = sabre_kernel_column(c, 0, X), *vy = sabre_kernel_column(c, 0, Y);
    float *px = sabre_kernel_column(c, 1, X), *py = sabre_kernel_column(c, 1, Y);
    for (uint64_t i = c->begin; i < c->end; i++) {
        px[i] += vx[i] * (float)c->dt;
        py[i] += vy[i] * (float)c->dt;
    }
    return 0;
}

/* bounce: writes Pos (term 0) and Vel (term 1): walls at 0 and 100. */
static int bounce(const sabre_kernel_ctx_t *c)
{
    for (int axis = X; axis <= Y; axis++) {
        float *p = sabre_kernel_column(c, 0, axis), *v = sabre_kernel_column(c, 1, axis);
        for (uint64_t i = c->begin; i < c->end; i++)
            if ((p[i] < 0 && v[i] < 0) || (p[i] > 100 && v[i] > 0))
                v[i] = -v[i];
    }
    return 0;
}

static uint64_t run(sabre_offload_t mode)
{
    /* A MEMFD world: worker processes can map its tables (process mode). */
    sabre_world_t *w;
    check(sabre_world_create(&(sabre_world_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                   .region_size = sabre_world_region_size(N, 16)},
                             &w));
    sabre_component_t pos, vel;
    const char *v2 = "struct V { x: f32; y: f32; }";
    check(sabre_component_define(w, &(sabre_component_desc_t){.name = "Pos", .schema = v2}, &pos));
    check(sabre_component_define(w, &(sabre_component_desc_t){.name = "Vel", .schema = v2}, &vel));
    sabre_component_t both[2] = {pos, vel};
    for (int i = 0; i < N; i++) {
        float p[2] = {(float)(i % 100), (float)(i / 200)}, v[2] = {(float)(i % 7 - 3), 2.5f};
        sabre_entity_t e;
        check(sabre_entity_create_with(w, both, (const void *[]){p, v}, 2, &e));
    }
    /* Its own pool: 2 threads, and 2 worker processes in process mode. */
    unsigned procs = mode == SABRE_OFFLOAD_PROCESS ? 2 : 0;
    sabre_sched_desc_t sd = {.world = w, .offload = mode, .threads = 2, .processes = procs};
    sabre_sched_t *s;
    check(sabre_sched_create(&sd, &s));
    sabre_system_desc_t sys[2] = {
        {.name = "move", .kernel = move, .reads = &vel, .nreads = 1, .writes = &pos, .nwrites = 1},
        {.name = "bounce", .kernel = bounce, .writes = both, .nwrites = 2}};
    for (int k = 0; k < 2; k++)
        check(sabre_sched_add(s, &sys[k]));
    if (procs)
        check(sabre_sched_dump(s, stdout)); /* the plan: move, then bounce */
    for (int f = 0; f < FRAMES; f++)
        check(sabre_sched_run_frame(s, 0.1, f * 0.1));
    uint64_t digest; /* of every entity's Pos: equal in the three modes */
    check(sabre_component_digest(w, pos, &digest));
    sabre_sched_destroy(s); /* and its pool */
    sabre_world_destroy(w);
    return digest;
}

int main(void)
{
    uint64_t in_place = run(SABRE_OFFLOAD_INPLACE), snapshot = run(SABRE_OFFLOAD_SNAPSHOT),
             process = run(SABRE_OFFLOAD_PROCESS);
    printf("Pos digest: in place %016llx, snapshot %016llx, process %016llx\n",
           (unsigned long long)in_place, (unsigned long long)snapshot, (unsigned long long)process);
    return in_place == snapshot && in_place == process ? 0 : 1;
}
