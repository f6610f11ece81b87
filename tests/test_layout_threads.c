// SABRE_TEST_LABELS: unit concurrent
/* Layout: the compiler keeps no shared state (threads compile at once and
 * get identical results and their own error details), and one compiled
 * schema is read by many threads at once (lookups, pack/unpack into
 * disjoint rows of shared columns). */
#include <pthread.h>

#include "check.h"
#include "sabre/layout.h"

enum { THREADS = 4, ROWS = 256 };

static const char schema_text[] =
    "struct Pos { x: f32; y: f32; }\n"
    "struct Bullet { pos: Pos; vel: Pos[2]; life: f32; tags: u8[4]; _: pad[4]; id: u64; }\n";

static const sabre_layout_t *shared_layout;
static void *shared_cols[64];

struct job {
    int id;
    unsigned long iters;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    char bad[128];
    for (unsigned long i = 0; i < j->iters; i++) {
        /* private compiles: same result every time, errors stay per thread */
        sabre_schema_t *s = NULL;
        if (sabre_schema_compile(schema_text, sizeof schema_text - 1, &s, NULL) != SABRE_OK ||
            sabre_schema_root(s)->hash != shared_layout->hash)
            j->failures++;
        sabre_schema_free(s);
        int col = (int)(i % 50) + 1 + j->id;
        snprintf(bad, sizeof bad, "struct A {%*s a = u8; }", col, "");
        sabre_schema_error_t e;
        if (sabre_schema_compile(bad, strlen(bad), &s, &e) != SABRE_ESCHEMA ||
            e.column != (uint32_t)col + 14)
            j->failures++;
        char want[64];
        snprintf(want, sizeof want, "line 1, column %d:", col + 14);
        if (strncmp(sabre_last_error(), want, strlen(want)) != 0)
            j->failures++;

        /* shared schema: lookups and pack/unpack of this thread's rows */
        const sabre_column_t *c = sabre_layout_column(shared_layout, "vel_1_y");
        if (!c || c->offset != 20)
            j->failures++;
        unsigned char value[64], back[64];
        size_t row = (size_t)j->id * (ROWS / THREADS) + i % (ROWS / THREADS);
        for (uint32_t b = 0; b < shared_layout->size; b++)
            value[b] = (unsigned char)(b * 7 + i + (unsigned long)j->id);
        memset(value + 32, 0, 8); /* explicit and implicit padding read back as zero */
        sabre_layout_pack(shared_layout, value, shared_cols, row);
        sabre_layout_unpack(shared_layout, (const void *const *)shared_cols, row, back);
        if (memcmp(value, back, shared_layout->size) != 0)
            j->failures++;
    }
    return NULL;
}

int main(void)
{
    sabre_schema_t *s = NULL;
    CHECK_OK(sabre_schema_compile(schema_text, sizeof schema_text - 1, &s, NULL));
    shared_layout = sabre_schema_root(s);
    CHECK_EQ(shared_layout->size, 48);
    CHECK(shared_layout->ncolumns <= 64);
    for (uint32_t c = 0; c < shared_layout->ncolumns; c++)
        shared_cols[c] = calloc(ROWS, shared_layout->columns[c].size);
    /* bytes 32..35 are the explicit padding, 36..39 align id */
    CHECK_EQ(shared_layout->fields[4].offset, 32);

    pthread_t t[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct job){.id = i, .iters = check_scale(3000), .failures = 0};
        CHECK(pthread_create(&t[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(jobs[i].failures, 0);
    for (uint32_t c = 0; c < shared_layout->ncolumns; c++)
        free(shared_cols[c]);
    sabre_schema_free(s);
    return check_done();
}
