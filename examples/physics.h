/*
 * physics.h - the physics example shared by `sabre demo physics`, the
 * scheduler tests and bench/bench_sched.c: entities with a position and a
 * velocity bouncing in a box.
 *
 *   integrate (update, kernel): pos += vel * dt           reads Vel, writes Pos
 *   bounds    (update, kernel): reflect off the walls     writes Pos and Vel
 *   stats     (late,   run):    energy and a checksum     reads Pos and Vel
 *
 * Every step is a function of one row only, so any split of the rows over
 * threads or processes gives bit-identical results.
 */
#ifndef SABRE_EXAMPLE_PHYSICS_H
#define SABRE_EXAMPLE_PHYSICS_H

#include <stdint.h>
#include <string.h>

#include "sabre/sched.h"

#define PHYS_SCHEMA "struct Vec2 { x: f32; y: f32; }"
#define PHYS_BOX_W  1000.0f
#define PHYS_BOX_H  1000.0f

typedef struct phys_vec2 {
    float x, y;
} phys_vec2_t;

/* Arguments every physics kernel receives (copied into worker processes). */
typedef struct phys_args {
    sabre_component_t pos, vel;
    float w, h;
} phys_args_t;

typedef struct phys_stats {
    double energy;     /* sum of vx^2 + vy^2 */
    uint64_t checksum; /* FNV-1a over every row's (x, y, vx, vy) bits in query order */
    uint64_t rows;
} phys_stats_t;

typedef struct phys {
    sabre_world_t *world;
    sabre_component_t pos, vel;
    phys_args_t args;
    phys_stats_t stats;
} phys_t;

static inline uint64_t phys_rand(uint64_t *s)
{
    /* splitmix64: deterministic across platforms */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline float phys_unit(uint64_t *s)
{
    return (float)(phys_rand(s) >> 40) / 16777216.0f;
}

/* Define Pos and Vel in `world` and spawn n entities from `seed`. */
static inline int phys_setup(phys_t *p, sabre_world_t *world, uint64_t n, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->world = world;
    int rc = sabre_component_define(
        world, &(sabre_component_desc_t){.name = "Pos", .schema = PHYS_SCHEMA}, &p->pos);
    if (rc == SABRE_OK)
        rc = sabre_component_define(
            world, &(sabre_component_desc_t){.name = "Vel", .schema = PHYS_SCHEMA}, &p->vel);
    if (rc)
        return rc;
    p->args = (phys_args_t){.pos = p->pos, .vel = p->vel, .w = PHYS_BOX_W, .h = PHYS_BOX_H};
    sabre_component_t comps[2] = {p->pos, p->vel};
    for (uint64_t i = 0; i < n; i++) {
        phys_vec2_t pos = {phys_unit(&seed) * PHYS_BOX_W, phys_unit(&seed) * PHYS_BOX_H};
        phys_vec2_t vel = {phys_unit(&seed) * 200.0f - 100.0f, phys_unit(&seed) * 200.0f - 100.0f};
        const void *vals[2] = {&pos, &vel};
        sabre_entity_t e;
        if ((rc = sabre_entity_create_with(world, comps, vals, 2, &e)))
            return rc;
    }
    return SABRE_OK;
}

/* The kernels' columns by term (sabre_kernel_column): integrate reads Vel
 * (term 0) and writes Pos (term 1); bounds writes Pos (term 0) and Vel
 * (term 1).  Column 0 is x, 1 is y.  The scheduler marks the written rows. */
static inline void phys_columns(const sabre_kernel_ctx_t *c, uint32_t pos, uint32_t vel, float **px,
                                float **py, float **vx, float **vy)
{
    *px = (float *)sabre_kernel_column(c, pos, 0);
    *py = (float *)sabre_kernel_column(c, pos, 1);
    *vx = (float *)sabre_kernel_column(c, vel, 0);
    *vy = (float *)sabre_kernel_column(c, vel, 1);
}

static inline void phys_integrate_rows(float *restrict px, float *restrict py,
                                       const float *restrict vx, const float *restrict vy,
                                       uint64_t begin, uint64_t end, float dt)
{
    for (uint64_t i = begin; i < end; i++) {
        px[i] += vx[i] * dt;
        py[i] += vy[i] * dt;
    }
}

static inline void phys_bounds_rows(float *restrict px, float *restrict py, float *restrict vx,
                                    float *restrict vy, uint64_t begin, uint64_t end, float w,
                                    float h)
{
    for (uint64_t i = begin; i < end; i++) {
        if (px[i] < 0.0f) {
            px[i] = -px[i];
            vx[i] = -vx[i];
        } else if (px[i] > w) {
            px[i] = 2.0f * w - px[i];
            vx[i] = -vx[i];
        }
        if (py[i] < 0.0f) {
            py[i] = -py[i];
            vy[i] = -vy[i];
        } else if (py[i] > h) {
            py[i] = 2.0f * h - py[i];
            vy[i] = -vy[i];
        }
    }
}

static inline int phys_integrate(const sabre_kernel_ctx_t *c)
{
    float *px, *py, *vx, *vy;
    phys_columns(c, 1, 0, &px, &py, &vx, &vy);
    phys_integrate_rows(px, py, vx, vy, c->begin, c->end, (float)c->dt);
    return SABRE_OK;
}

static inline int phys_bounds(const sabre_kernel_ctx_t *c)
{
    const phys_args_t *a = (const phys_args_t *)c->args;
    float *px, *py, *vx, *vy;
    phys_columns(c, 0, 1, &px, &py, &vx, &vy);
    phys_bounds_rows(px, py, vx, vy, c->begin, c->end, a->w, a->h);
    return SABRE_OK;
}

/* Energy and a checksum over all entities in query order.  Nothing in the
 * physics changes tables, so the order is the same in every mode. */
static inline int phys_measure(phys_t *p, phys_stats_t *out)
{
    sabre_query_t *q;
    sabre_component_t comps[2] = {p->pos, p->vel};
    int rc = sabre_query_create(p->world, &(sabre_query_desc_t){.all = comps, .nall = 2}, &q);
    if (rc)
        return rc;
    phys_stats_t st = {0, 0xcbf29ce484222325ull, 0};
    sabre_iter_t it;
    sabre_query_iter(q, &it);
    while (sabre_iter_next(&it)) {
        const float *col[4] = {(const float *)sabre_iter_column(&it, 0, 0),
                               (const float *)sabre_iter_column(&it, 0, 1),
                               (const float *)sabre_iter_column(&it, 1, 0),
                               (const float *)sabre_iter_column(&it, 1, 1)};
        for (uint32_t i = 0; i < it.count; i++) {
            st.energy += (double)col[2][i] * col[2][i] + (double)col[3][i] * col[3][i];
            for (int c = 0; c < 4; c++) {
                uint32_t bits;
                memcpy(&bits, &col[c][i], sizeof bits);
                for (int j = 0; j < 4; j++) {
                    st.checksum ^= (bits >> (8 * j)) & 0xffu;
                    st.checksum *= 0x100000001b3ull;
                }
            }
        }
        st.rows += it.count;
    }
    sabre_query_destroy(q);
    *out = st;
    return SABRE_OK;
}

/* The stats system: total kinetic energy every PHYS_STATS_EVERY frames
 * (like a 1-2 Hz metrics export), through the system's own query. */
#define PHYS_STATS_EVERY 10
static inline int phys_stats_run(const sabre_sys_ctx_t *c)
{
    phys_t *p = (phys_t *)c->user;
    if (c->frame % PHYS_STATS_EVERY)
        return SABRE_OK;
    double e = 0;
    uint64_t rows = 0;
    sabre_iter_t it;
    sabre_query_iter(c->query, &it);
    while (sabre_iter_next(&it)) {
        const float *vx = (const float *)sabre_iter_column(&it, 1, 0);
        const float *vy = (const float *)sabre_iter_column(&it, 1, 1);
        for (uint32_t i = 0; i < it.count; i++)
            e += (double)vx[i] * vx[i] + (double)vy[i] * vy[i];
        rows += it.count;
    }
    p->stats.energy = e;
    p->stats.rows = rows;
    return SABRE_OK;
}

/* Register integrate, bounds and stats with `mode` for the kernels. */
static inline int phys_register(phys_t *p, sabre_sched_t *s, sabre_offload_t mode)
{
    sabre_component_t r_vel[1] = {p->vel}, w_pos[1] = {p->pos}, w_both[2] = {p->pos, p->vel};
    int rc = sabre_sched_add(s, &(sabre_system_desc_t){.name = "integrate",
                                                       .reads = r_vel,
                                                       .nreads = 1,
                                                       .writes = w_pos,
                                                       .nwrites = 1,
                                                       .kernel = phys_integrate,
                                                       .offload = mode,
                                                       .args = &p->args,
                                                       .args_len = sizeof p->args});
    if (!rc)
        rc = sabre_sched_add(s, &(sabre_system_desc_t){.name = "bounds",
                                                       .writes = w_both,
                                                       .nwrites = 2,
                                                       .kernel = phys_bounds,
                                                       .offload = mode,
                                                       .args = &p->args,
                                                       .args_len = sizeof p->args});
    sabre_query_desc_t q = {.all = w_both, .nall = 2};
    if (!rc)
        rc = sabre_sched_add(s, &(sabre_system_desc_t){.name = "stats",
                                                       .stage = "late",
                                                       .reads = w_both,
                                                       .nreads = 2,
                                                       .query = &q,
                                                       .run = phys_stats_run,
                                                       .user = p});
    return rc;
}

#endif
