/*
 * dispatch.h - adaptive dispatch inside the scheduler layer (not public
 * API): whether a kernel system's rows go to the pool or run inline on the
 * calling thread, decided per system from its measured cost per row and
 * the pool's measured fork-join cost (docs/scheduling.md, "Adaptive
 * dispatch").
 */
#ifndef SABRE_SCHED_DISPATCH_H
#define SABRE_SCHED_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sabre/pool.h"

/* Every PROBE-th decision takes the other choice once, if its predicted
 * cost is at most PROBE_LOSS times the chosen one's: estimates of a choice
 * not taken would otherwise never be refreshed.  The probe's worst loss is
 * thus (PROBE_LOSS - 1) / PROBE of a system's time, 2 %. */
#define SABRE__DISPATCH_PROBE      50u
#define SABRE__DISPATCH_PROBE_LOSS 2.0

/* Hysteresis, biased to the calling thread: a system that ran inline moves
 * to the pool only when the pool is predicted at least MARGIN (10 %)
 * cheaper; one on the pool stays there while the pool is predicted no
 * dearer.  Inline never costs more than the scheduler without a pool, while
 * a pool whose predicted gain is within the estimates' noise (a loaded
 * machine, a memory-bound kernel on two vCPUs) can; and two close
 * predictions do not flip the choice frame after frame. */
#define SABRE__DISPATCH_MARGIN 0.10

/* Calibration: the first WARMUP decisions run inline, then (if the pool is
 * predicted within PROBE_LOSS of inline) WARMUP run on the pool, before
 * the model decides: a system's first runs meet cold caches and first
 * touches, and one such sample would otherwise steer it until the next
 * probe (PROBE decisions later). */
#define SABRE__DISPATCH_WARMUP 3u

/* Samples kept per choice: each cost is the median of the last WINDOW
 * measurements (recomputed every WINDOW samples once the window is full),
 * so a run whose thread was preempted (a sample 1000x the others on a
 * shared machine) does not move it. */
#define SABRE__DISPATCH_WINDOW 8u

/* One system's cost model, from measurements of its own runs. */
typedef struct sabre__dispatch {
    double ns_row_inline; /* ns per row run inline (busy time / rows); 0 = not measured */
    double ns_row_pool;   /* ns per row on the pool beyond the fork-join (wall time
                             minus fork-join, / rows); 0 = not measured */
    double win_inline[SABRE__DISPATCH_WINDOW], win_pool[SABRE__DISPATCH_WINDOW];
    uint32_t n_inline, n_pool; /* samples taken (the windows hold the last WINDOW) */
    uint64_t decisions;        /* decisions made (drives the probe) */
    uint64_t inline_runs, pool_runs;
    /* the last decision, for sabre_sched_dump */
    bool last_inline;
    bool last_probe;
    bool settled_pool;     /* the choice before probes: on the pool (hysteresis) */
    bool last_calibrating; /* the last decision was one of the first runs (WARMUP) */
    uint64_t last_rows;
    double last_inline_ns, last_pool_ns; /* predicted; 0 = not predicted */
} sabre__dispatch_t;

/* The pool's fork-join cost: the median wall time of `rounds` runs of one
 * empty task per thread, in ns (0 without a pool or on failure). */
double sabre__dispatch_fork_join_ns(sabre_pool_t *pool, unsigned rounds);

/* Decide for `rows` rows on a pool of `threads` threads whose fork-join
 * costs `fork_join_ns`: true = run inline.  Without a measured inline cost
 * the first run is inline (it measures it); without a measured pool cost
 * the pool is predicted at the inline cost spread over the threads.  The
 * first decisions calibrate (SABRE__DISPATCH_WARMUP); then the
 * choice is the cheaper prediction, with the hysteresis of
 * SABRE__DISPATCH_MARGIN around the last choice, but every SABRE__DISPATCH_PROBE-th
 * decision takes the other one if it is predicted no worse than
 * SABRE__DISPATCH_PROBE_LOSS times.  Records the decision in d. */
bool sabre__dispatch_decide(sabre__dispatch_t *d, uint64_t rows, unsigned threads,
                            double fork_join_ns);

/* Record a finished run: `ns` is the busy time of an inline run, or the
 * wall time of a pool run (fork-join included). */
void sabre__dispatch_note(sabre__dispatch_t *d, bool was_inline, uint64_t rows, double ns,
                          double fork_join_ns);

/* `run` systems of one batch: their calls go to the pool unless the batch
 * is predicted cheaper on the calling thread alone: one call (the pool has
 * nothing to run beside it), a call whose cost is not measured yet (the
 * run measures it), or predicted costs summing to `sum_ns` with
 * sum_ns * (1 - 1/threads) <= fork_join_ns (what spreading saves at best
 * does not pay the fork-join). */
bool sabre__dispatch_batch_inline(uint32_t calls, bool unmeasured, double sum_ns, unsigned threads,
                                  double fork_join_ns);

/* A `run` system's call took `ns` (busy time, wherever it ran). */
void sabre__dispatch_note_call(sabre__dispatch_t *d, bool was_inline, double ns);

/* One line for sabre_sched_dump: the last decision and the figures behind it. */
void sabre__dispatch_print(const sabre__dispatch_t *d, FILE *f);

#endif
