/*
 * commit.c - commit of changed rows back into the world (fast and slow paths).
 * The column-set byte layout (shared with table chunks) is in docs/abi.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshot/snapshot_internal.h"
#include "snapshot/snapshot_ranges.h"

/* ----------------------------------------------------------------- commit */

/* Bits set in words[] among rows [lo, hi). */
static uint64_t count_set(const _Atomic uint64_t *bits, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;
    while (lo < hi) {
        uint64_t w = lo >> 6, b = lo & 63;
        uint64_t take = SABRE_MIN(64 - b, hi - lo);
        uint64_t m = atomic_load_explicit(&bits[w], memory_order_relaxed) >> b;
        if (take < 64)
            m &= (1ull << take) - 1;
        n += (uint64_t)__builtin_popcountll(m);
        lo += take;
    }
    return n;
}

/*
 * Fast path.  It is taken when the rows are exactly where fill() found
 * them: the same handle filled this very mapping (the recorded blocks are
 * process-local, never read from the snapshot's memory), and the world's
 * structural epoch has not moved since, so no row of any table was removed
 * or moved (docs/ecs.md, "Structural epoch").  Then every snapshot row's
 * entity is alive, at the recorded (table, chunk, row), and has exactly
 * the components it had: no entity lookup is needed, nothing can be dead,
 * and a component is missing for a whole block or not at all.
 */
static bool fast_path_ok(const sabre_world_t *w, const sabre_snapshot_t *s)
{
    return !s->force_slow && s->blocks_valid && s->fill_epoch == w->struct_epoch &&
           s->fill_base == s->base && s->fill_rows == s->rows;
}

typedef struct commit_ctx {
    sabre_world_t *w;
    const sabre_snapshot_t *s;
    _Atomic uint64_t written, missing, readonly;
} commit_ctx_t;

static void commit_reset(void *ctx)
{
    commit_ctx_t *c = ctx;
    atomic_store_explicit(&c->written, 0, memory_order_relaxed);
    atomic_store_explicit(&c->missing, 0, memory_order_relaxed);
    atomic_store_explicit(&c->readonly, 0, memory_order_relaxed);
}

/* Commit snapshot rows [begin, end) on the fast path; adds the rows
 * written, skipped as missing and skipped as read-only to n[0..2].  Reads
 * the snapshot (bits and columns: nobody writes them during commit), writes
 * world rows that no other range maps to, marks world bits with atomic OR
 * (two ranges may share a word of a chunk's bitset). */
static void commit_rows(sabre_world_t *w, const sabre_snapshot_t *s, uint64_t begin, uint64_t end,
                        uint64_t n[3])
{
    uint64_t written = 0, missing = 0, readonly = 0;
    for (uint32_t k = 0; k < s->ncomps; k++) {
        const snap_comp_t *sc = &s->comps[k];
        const _Atomic uint64_t *bits = sc->bits;
        if (!sc->write) {
            readonly += count_set(bits, begin, end);
            continue;
        }
        if (sabre__snap_comp_sparse(w, s, k)) {
            /* No row was removed since the fill (fast path): none is dead. */
            uint64_t dead = 0;
            sabre__snap_sparse_commit(w, s, k, begin, end, &written, &missing, &dead);
            continue;
        }
        for (uint32_t b = sabre__snap_block_find(s, begin);
             b < s->nblocks && s->blocks[b].start < end; b++) {
            const snap_block_t *bk = &s->blocks[b];
            uint64_t lo = SABRE_MAX((uint64_t)begin, bk->start);
            uint64_t hi = SABRE_MIN((uint64_t)end, bk->start + bk->count);
            ecs_table_t *t = w->tables[bk->table];
            int ci = sabre__table_comp_index(t, sc->comp);
            if (ci < 0) {
                missing += count_set(bits, lo, hi);
                continue;
            }
            ecs_chunk_t *ch = t->chunks[bk->chunk];
            uint64_t i = sabre__snap_next_bit(bits, lo, hi, true);
            bool any = false;
            while (i < hi) {
                uint64_t j = sabre__snap_next_bit(bits, i + 1, hi, false);
                uint64_t len = j - i;
                uint64_t crow = bk->chunk_row + (i - bk->start);
                for (uint32_t q = sc->first_col; q < sc->first_col + sc->ncols; q++) {
                    uint32_t es = s->elem[q];
                    memcpy((char *)ch->cols[t->first_col[ci] + s->layout_col[q]] + crow * es,
                           (const char *)s->cols[q] + i * es, len * es);
                }
                sabre__snap_mark_bits(ch->bits[ci], crow, len);
                written += len;
                any = true;
                i = sabre__snap_next_bit(bits, j, hi, true);
            }
            if (any)
                sabre__summary_commit(ch, (uint32_t)ci, s->uid);
        }
    }
    n[0] += written;
    n[1] += missing;
    n[2] += readonly;
}

/* Executor job: commit snapshot rows [begin, end). */
static int commit_range(void *ctx, size_t begin, size_t end, unsigned worker)
{
    (void)worker;
    commit_ctx_t *c = ctx;
    uint64_t n[3] = {0, 0, 0};
    commit_rows(c->w, c->s, begin, end, n);
    atomic_fetch_add_explicit(&c->written, n[0], memory_order_relaxed);
    atomic_fetch_add_explicit(&c->missing, n[1], memory_order_relaxed);
    atomic_fetch_add_explicit(&c->readonly, n[2], memory_order_relaxed);
    return 0;
}

static void commit_fast(sabre_world_t *w, const sabre_snapshot_t *s, sabre_commit_stats_t *st)
{
    commit_ctx_t c = {.w = w, .s = s};
    commit_reset(&c);
    sabre__snap_run_ranges(s, (size_t)s->rows, commit_range, &c, commit_reset);
    st->rows_written = atomic_load_explicit(&c.written, memory_order_relaxed);
    st->skipped_missing = atomic_load_explicit(&c.missing, memory_order_relaxed);
    st->skipped_readonly = atomic_load_explicit(&c.readonly, memory_order_relaxed);
    st->skipped_dead = 0;
}

static inline uint64_t next_set(const sabre_snapshot_t *s, const _Atomic uint64_t *bits, uint64_t i)
{
    while (i < s->rows) {
        uint64_t m = atomic_load_explicit(&bits[i >> 6], memory_order_relaxed) >> (i & 63);
        if (m)
            return i + (uint64_t)__builtin_ctzll(m);
        i = (i | 63) + 1;
    }
    return s->rows;
}

/* The checks every commit makes before writing anything: an attached,
 * non-native snapshot of this world whose component layouts still match. */
static int commit_checks(sabre_world_t *w, sabre_snapshot_t *s)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_commit");
    if (rc)
        return rc;
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_commit: '%s' is a native view: workers "
                           "wrote the world directly, there is nothing to commit",
                           s->name);
    if ((rc = sabre__snap_check_world(w, s, "sabre_snapshot_commit")))
        return rc;
    /* The world's component definitions must still match (they never
     * change, but a snapshot that came back from a process is re-checked). */
    sabre_colset_comp_t *ce =
        (sabre_colset_comp_t *)(s->base + ((sabre_colset_hdr_t *)s->base)->comps_off);
    for (uint32_t k = 0; k < s->ncomps; k++) {
        sabre_component_t c = s->comps[k].comp;
        if (c >= w->ncomps || !w->comps[c].layout || w->comps[c].layout->hash != ce[k].layout_hash)
            return sabre__fail(SABRE_ELAYOUT,
                               "sabre_snapshot_commit: component %u of snapshot "
                               "'%s' does not match the world's layout",
                               c, s->name);
        for (uint32_t j = s->comps[k].first_col; j < s->comps[k].first_col + s->comps[k].ncols; j++)
            if (s->layout_col[j] >= w->comps[c].ncols ||
                w->comps[c].layout->columns[s->layout_col[j]].size != s->elem[j])
                return sabre__fail(SABRE_ELAYOUT,
                                   "sabre_snapshot_commit: column %u of snapshot "
                                   "'%s' does not match component '%s'",
                                   j, s->name, w->comps[c].name);
    }
    return SABRE_OK;
}

bool sabre__snapshot_range_commit_ok(sabre_world_t *w, sabre_snapshot_t *s)
{
    if (commit_checks(w, s)) {
        sabre_clear_error(); /* the caller falls back to sabre_snapshot_commit, which reports */
        return false;
    }
    return fast_path_ok(w, s);
}

void sabre__snapshot_commit_rows(sabre_world_t *w, const sabre_snapshot_t *s, uint64_t begin,
                                 uint64_t end, uint64_t counts[3])
{
    commit_rows(w, s, begin, SABRE_MIN(end, s->rows), counts);
}

void sabre__snapshot_range_committed(sabre_snapshot_t *s)
{
    s->last_fast = true;
    s->committed = true;
}

int sabre_snapshot_commit(sabre_world_t *w, sabre_snapshot_t *s, sabre_commit_stats_t *stats)
{
    sabre_commit_stats_t st = {0};
    if (stats)
        *stats = st;
    int rc = commit_checks(w, s);
    if (rc)
        return rc;
    s->last_fast = false;
    if (fast_path_ok(w, s)) {
        commit_fast(w, s, &st);
        s->last_fast = true;
        s->committed = true;
        if (stats)
            *stats = st;
        return SABRE_OK;
    }
    for (uint32_t k = 0; k < s->ncomps; k++) {
        const snap_comp_t *sc = &s->comps[k];
        const _Atomic uint64_t *bits = sc->bits;
        if (!sc->write) {
            uint64_t words = (s->rows + 63) / 64;
            for (uint64_t x = 0; x < words; x++) {
                uint64_t m = atomic_load_explicit(&bits[x], memory_order_relaxed);
                if (x == words - 1 && (s->rows & 63))
                    m &= (1ull << (s->rows & 63)) - 1;
                st.skipped_readonly += (uint64_t)__builtin_popcountll(m);
            }
            continue;
        }
        if (sabre__snap_comp_sparse(w, s, k)) {
            sabre__snap_sparse_commit(w, s, k, 0, s->rows, &st.rows_written, &st.skipped_missing,
                                      &st.skipped_dead);
            continue;
        }
        uint32_t last_table = UINT32_MAX;
        int ci = -1;
        uint64_t i = next_set(s, bits, 0);
        while (i < s->rows) {
            sabre_entity_t e = s->ents[i];
            ecs_record_t *r = (e & SABRE_ENTITY_PENDING_BIT) ? NULL : sabre__ecs_record(w, e);
            if (!r) {
                st.skipped_dead++;
                i = next_set(s, bits, i + 1);
                continue;
            }
            if (r->table != last_table) {
                last_table = r->table;
                ci = sabre__table_comp_index(w->tables[r->table], sc->comp);
            }
            if (ci < 0) {
                st.skipped_missing++;
                i = next_set(s, bits, i + 1);
                continue;
            }
            ecs_table_t *t = w->tables[r->table];
            ecs_chunk_t *ch = t->chunks[r->chunk];
            uint32_t row = r->row, chunk = r->chunk;
            /* Extend a run of snapshot rows that map to consecutive chunk rows. */
            uint64_t len = 1;
            while (i + len < s->rows && row + len < ch->count && sabre_bits_test(bits, i + len)) {
                sabre_entity_t e2 = s->ents[i + len];
                ecs_record_t *r2 =
                    (e2 & SABRE_ENTITY_PENDING_BIT) ? NULL : sabre__ecs_record(w, e2);
                if (!r2 || r2->table != last_table || r2->chunk != chunk || r2->row != row + len)
                    break;
                len++;
            }
            for (uint32_t j = sc->first_col; j < sc->first_col + sc->ncols; j++) {
                uint32_t es = s->elem[j];
                char *dst =
                    (char *)ch->cols[t->first_col[ci] + s->layout_col[j]] + (size_t)row * es;
                const char *src = (const char *)s->cols[j] + i * es;
                if (len == 1)
                    sabre__copy_elem(dst, src, es);
                else
                    memcpy(dst, src, len * es);
            }
            sabre_bits_mark_range(ch->bits[ci], row, len);
            sabre__summary_commit(ch, (uint32_t)ci, s->uid);
            st.rows_written += len;
            i = next_set(s, bits, i + len);
        }
    }
    s->committed = true;
    if (stats)
        *stats = st;
    return SABRE_OK;
}

void sabre_snapshot_free(sabre_snapshot_t *s)
{
    if (!s)
        return;
    sabre__snap_unlink(s);
    if (s->own_region && s->region)
        sabre_region_close(s->region);
    sabre__snap_handle_free_arrays(s);
    free(s->blocks);
    free(s->sync_ver);
    free(s->sync_dirty);
    free(s->act);
    free(s);
}

int sabre_snapshot_set_executor(sabre_snapshot_t *s, const sabre_snapshot_exec_t *exec)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_set_executor: snapshot is NULL");
    if (s->mode == SABRE_SNAP_NATIVE)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_set_executor: '%s' is a native view: it "
                           "has no build or commit to run",
                           s->name);
    if (exec)
        s->exec = *exec;
    else
        memset(&s->exec, 0, sizeof s->exec);
    return SABRE_OK;
}

void sabre__snapshot_force_slow(sabre_snapshot_t *s, bool on)
{
    if (s)
        s->force_slow = on;
}

void sabre__snapshot_set_grain(sabre_snapshot_t *s, uint32_t grain)
{
    if (s)
        s->grain = grain ? (uint32_t)SABRE_ALIGN_UP(grain, 64) : 0;
}

bool sabre__snapshot_last_fast(const sabre_snapshot_t *s)
{
    return s && s->last_fast;
}

uint64_t sabre__snapshot_last_copied(const sabre_snapshot_t *s)
{
    return s ? s->last_copied : 0;
}
