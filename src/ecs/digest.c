/* digest.c - a 64-bit digest of one component's values over every entity,
 * for checking that two runs (offload modes, thread counts, processes)
 * ended in the same state.  Built on the public query API only. */
#include <string.h>

#include "core/internal.h"
#include "sabre/ecs.h"

/* splitmix64's finaliser: spreads every input bit over the whole word */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* One entity's hash: its id, then each column's bytes of row i (of the
 * iterator's block, or of the sparse set when it is NULL). */
static uint64_t row_hash(sabre_entity_t e, const sabre_layout_t *lay, uint32_t ncols, uint32_t i,
                         const sabre_iter_t *it, const sabre_world_t *w, sabre_component_t c)
{
    uint64_t h = mix((uint64_t)e ^ 0x736162726564ull);
    for (uint32_t k = 0; k < ncols; k++) {
        uint32_t sz = lay->columns[k].size;
        const unsigned char *col = it ? sabre_iter_column(it, 0, k) : sabre_sparse_column(w, c, k);
        uint64_t v = 0;
        memcpy(&v, col + (size_t)i * sz, sz < 8 ? sz : 8);
        h = mix(h ^ v ^ ((uint64_t)k << 56));
    }
    return h;
}

int sabre_component_digest(sabre_world_t *w, sabre_component_t c, uint64_t *out)
{
    if (out)
        *out = 0;
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_component_digest: NULL argument");
    if (!sabre_component_name(w, c))
        return sabre__fail(SABRE_ENOENT, "sabre_component_digest: unknown component %u",
                           (unsigned)c);
    const sabre_layout_t *lay = sabre_component_layout(w, c);
    uint32_t ncols = lay ? lay->ncolumns : 0;
    if (sabre_component_storage(w, c) == SABRE_STORAGE_SPARSE) {
        /* a sparse component's values are in its set's dense arrays */
        sabre_sparse_info_t si;
        int rc = sabre_sparse_info(w, c, &si);
        if (rc)
            return rc;
        uint64_t sum = 0;
        for (uint32_t i = 0; i < si.count; i++)
            sum += row_hash(si.entities[i], lay, ncols, i, NULL, w, c);
        *out = sum;
        return SABRE_OK;
    }
    sabre_query_t *q = NULL;
    int rc = sabre_query_create(w, &(sabre_query_desc_t){.all = &c, .nall = 1}, &q);
    if (rc)
        return rc;
    /* Per entity: its id and the bytes of each column, hashed; the sum
     * over entities does not depend on the order of tables or rows. */
    uint64_t sum = 0;
    sabre_iter_t it;
    for (sabre_query_iter(q, &it); sabre_iter_next(&it);) {
        for (uint32_t i = 0; i < it.count; i++)
            sum += row_hash(it.entities[i], lay, ncols, i, &it, w, c);
    }
    sabre_query_destroy(q);
    *out = sum;
    return SABRE_OK;
}
