/*
 * snapshot_ranges.h - commit by row ranges, for the scheduler's snapshot
 * offload (not public API).  The scheduler commits each kernel range right
 * after the kernel returned, on the thread that ran it, while the range's
 * rows are still in that core's cache (docs/scheduling.md, "Commit per
 * range").  Only the fast path is offered: rows exactly where the last
 * fill found them.
 */
#ifndef SABRE_SNAPSHOT_RANGES_H
#define SABRE_SNAPSHOT_RANGES_H

#include <stdbool.h>
#include <stdint.h>

#include "sabre/snapshot.h"

/* Whether the snapshot may be committed by ranges now: every check of
 * sabre_snapshot_commit passes and the fast path applies (no structural
 * change since the fill).  Called on the owning thread before the ranges
 * run; false means: commit with sabre_snapshot_commit afterwards. */
bool sabre__snapshot_range_commit_ok(sabre_world_t *w, sabre_snapshot_t *s);

/* Commit snapshot rows [begin, end) (fast path; the caller checked it).
 * Threads may commit disjoint ranges at once, like the executor's ranges of
 * sabre_snapshot_commit.  Adds rows written, skipped as missing and skipped
 * as read-only to counts[0..2]. */
void sabre__snapshot_commit_rows(sabre_world_t *w, const sabre_snapshot_t *s, uint64_t begin,
                                 uint64_t end, uint64_t counts[3]);

/* Every range has been committed (or the rest dropped after a failure):
 * the snapshot counts as committed for its next rebuild. */
void sabre__snapshot_range_committed(sabre_snapshot_t *s);

#endif
