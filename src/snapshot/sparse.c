/*
 * sparse.c - snapshot rows of sparse components (docs/ecs.md, "Sparse
 * components"): a sparse component's values are not in the table chunks a
 * snapshot's blocks point at, so they are copied out and committed back per
 * row, through the entity's slot in the component's set.
 */
#include <string.h>

#include "snapshot/snapshot_internal.h"

bool sabre__snap_comp_sparse(const sabre_world_t *w, const sabre_snapshot_t *s, uint32_t k)
{
    return w->comps[s->comps[k].comp].sp != NULL;
}

/* Copy sparse component k's columns of snapshot rows [row, row + n) from
 * its set, finding each row's entity (s->ents, already filled) in it.  A
 * row whose entity is not a member is zeroed when zero_missing (a fresh
 * snapshot is zero already). */
void sabre__snap_sparse_fill(const sabre_world_t *w, sabre_snapshot_t *s, uint32_t k, uint64_t row,
                             uint64_t n, bool zero_missing)
{
    const snap_comp_t *sc = &s->comps[k];
    const ecs_sparse_t *sp = w->comps[sc->comp].sp;
    for (uint64_t i = row; i < row + n; i++) {
        uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(s->ents[i]));
        for (uint32_t j = sc->first_col; j < sc->first_col + sc->ncols; j++) {
            uint32_t e = s->elem[j];
            char *dst = (char *)s->cols[j] + i * e;
            if (d != SPARSE_NONE)
                sabre__copy_elem(dst, sabre__sparse_elem(sp, s->layout_col[j], d, e), e);
            else if (zero_missing)
                memset(dst, 0, e);
        }
    }
}

/* Commit the marked snapshot rows in [begin, end) of sparse component k
 * (written by the snapshot) into its set: skips dead entities and
 * non-members, marks written members changed (atomic OR: ranges may run on
 * several threads; they write distinct members). */
void sabre__snap_sparse_commit(sabre_world_t *w, const sabre_snapshot_t *s, uint32_t k,
                               uint64_t begin, uint64_t end, uint64_t *written, uint64_t *missing,
                               uint64_t *dead)
{
    const snap_comp_t *sc = &s->comps[k];
    ecs_sparse_t *sp = w->comps[sc->comp].sp;
    const _Atomic uint64_t *bits = sc->bits;
    bool any = false;
    uint64_t i = begin;
    while (i < end) {
        uint64_t m = atomic_load_explicit(&bits[i >> 6], memory_order_relaxed) >> (i & 63);
        if (!m) {
            i = (i | 63) + 1;
            continue;
        }
        i += (uint64_t)__builtin_ctzll(m);
        if (i >= end)
            break;
        sabre_entity_t e = s->ents[i];
        if ((e & SABRE_ENTITY_PENDING_BIT) || !sabre__ecs_record(w, e)) {
            (*dead)++;
        } else {
            uint32_t d = sabre__sparse_find(sp, SABRE_ENTITY_INDEX(e));
            if (d == SPARSE_NONE) {
                (*missing)++;
            } else {
                for (uint32_t j = sc->first_col; j < sc->first_col + sc->ncols; j++) {
                    uint32_t es = s->elem[j];
                    sabre__copy_elem(sabre__sparse_elem(sp, s->layout_col[j], d, es),
                                     (const char *)s->cols[j] + i * es, es);
                }
                sabre_bits_mark(sp->bits, d);
                any = true;
                (*written)++;
            }
        }
        i++;
    }
    if (any)
        sabre__summary_any(&sp->summary);
}
