/*
 * bench_layout.c - cost of sabre_layout_pack/unpack (AoS value <-> SoA row)
 * against baselines measured in the same run: memcpy of the same AoS bytes,
 * and a hand-written scatter/gather of the same C struct into typed arrays.
 * Prints ns per row (median of 9 runs) and the ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sabre/layout.h"

enum { ROWS = 1 << 16, RUNS = 9 };

struct pos {
    float x, y;
};
struct bullet {
    struct pos pos, vel;
    float life;
    uint8_t tags[4];
    uint64_t id;
};

static const char text[] = "struct Pos { x: f32; y: f32; }\n"
                           "struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; id: u64; }";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp);
    return v[RUNS / 2];
}

/* Keeps results alive without a volatile in every loop. */
static uint64_t sink;

int main(void)
{
    sabre_schema_t *s = NULL;
    if (sabre_schema_compile(text, sizeof text - 1, &s, NULL) != SABRE_OK) {
        fprintf(stderr, "bench_layout: %s\n", sabre_last_error());
        return 1;
    }
    const sabre_layout_t *l = sabre_schema_root(s);
    if (l->size != sizeof(struct bullet)) {
        fprintf(stderr, "bench_layout: layout size %u != sizeof %zu\n", l->size,
                sizeof(struct bullet));
        return 1;
    }
    struct bullet *aos = malloc(ROWS * sizeof *aos), *aos2 = malloc(ROWS * sizeof *aos);
    void *cols[16];
    for (uint32_t c = 0; c < l->ncolumns; c++)
        cols[c] = calloc(ROWS, l->columns[c].size);
    for (int i = 0; i < ROWS; i++)
        aos[i] = (struct bullet){{(float)i, 1}, {2, (float)-i}, 0.5f, {1, 2, 3, 4}, (uint64_t)i};

    float *px = cols[0], *py = cols[1], *vx = cols[2], *vy = cols[3], *life = cols[4];
    uint8_t *t0 = cols[5], *t1 = cols[6], *t2 = cols[7], *t3 = cols[8];
    uint64_t *id = cols[9];

    double t_memcpy[RUNS], t_hand[RUNS], t_pack[RUNS], t_hand_un[RUNS], t_unpack[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t = now();
        memcpy(aos2, aos, ROWS * sizeof *aos);
        t_memcpy[r] = now() - t;
        sink += aos2[r].id;

        t = now();
        for (int i = 0; i < ROWS; i++) {
            const struct bullet *b = &aos[i];
            px[i] = b->pos.x, py[i] = b->pos.y, vx[i] = b->vel.x, vy[i] = b->vel.y;
            life[i] = b->life;
            t0[i] = b->tags[0], t1[i] = b->tags[1], t2[i] = b->tags[2], t3[i] = b->tags[3];
            id[i] = b->id;
        }
        t_hand[r] = now() - t;
        sink += id[r];

        t = now();
        for (int i = 0; i < ROWS; i++)
            sabre_layout_pack(l, &aos[i], cols, (size_t)i);
        t_pack[r] = now() - t;
        sink += id[r + 1];

        t = now();
        for (int i = 0; i < ROWS; i++) {
            struct bullet *b = &aos2[i];
            b->pos.x = px[i], b->pos.y = py[i], b->vel.x = vx[i], b->vel.y = vy[i];
            b->life = life[i];
            b->tags[0] = t0[i], b->tags[1] = t1[i], b->tags[2] = t2[i], b->tags[3] = t3[i];
            b->id = id[i];
        }
        t_hand_un[r] = now() - t;
        sink += aos2[r].id;

        t = now();
        for (int i = 0; i < ROWS; i++)
            sabre_layout_unpack(l, (const void *const *)cols, (size_t)i, &aos2[i]);
        t_unpack[r] = now() - t;
        sink += aos2[r + 2].id;
    }
    if (memcmp(aos, aos2, ROWS * sizeof *aos) != 0) {
        fprintf(stderr, "bench_layout: round trip differs\n");
        return 1;
    }
    double m = median(t_memcpy) / ROWS, h = median(t_hand) / ROWS, p = median(t_pack) / ROWS;
    double hu = median(t_hand_un) / ROWS, u = median(t_unpack) / ROWS;
    printf("layout pack/unpack, struct Bullet (%u bytes, %u columns), %d rows, median of %d\n",
           l->size, l->ncolumns, ROWS, RUNS);
    printf("  memcpy AoS row          %7.2f ns/row   (baseline)\n", m);
    printf("  hand-written scatter    %7.2f ns/row   %5.2fx memcpy\n", h, h / m);
    printf("  sabre_layout_pack       %7.2f ns/row   %5.2fx memcpy, %5.2fx hand-written\n", p,
           p / m, p / h);
    printf("  hand-written gather     %7.2f ns/row   %5.2fx memcpy\n", hu, hu / m);
    printf("  sabre_layout_unpack     %7.2f ns/row   %5.2fx memcpy, %5.2fx hand-written\n", u,
           u / m, u / hu);
    printf("(sink %llu)\n", (unsigned long long)(sink & 1));
    for (uint32_t c = 0; c < l->ncolumns; c++)
        free(cols[c]);
    free(aos);
    free(aos2);
    sabre_schema_free(s);
    return 0;
}
