/*
 * dispatch.c - adaptive dispatch: a kernel system whose rows are too few
 * for the pool to pay runs inline on the calling thread (dispatch.h).
 */
#include "sched/dispatch.h"

#include <stdlib.h>

#include "core/internal.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int empty_task(void *ctx, unsigned worker)
{
    (void)ctx;
    (void)worker;
    return SABRE_OK;
}

double sabre__dispatch_fork_join_ns(sabre_pool_t *pool, unsigned rounds)
{
    enum { MAX_ROUNDS = 64, MAX_TASKS = 64 };
    if (!pool || rounds == 0)
        return 0;
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    unsigned threads = sabre_pool_threads(pool);
    if (threads > MAX_TASKS)
        threads = MAX_TASKS;
    sabre_task_t tasks[MAX_TASKS];
    uint64_t t[MAX_ROUNDS];
    for (unsigned i = 0; i < threads; i++)
        tasks[i] = (sabre_task_t){.fn = empty_task};
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t t0 = sabre__now_ns();
        if (sabre_pool_run_tasks(pool, tasks, threads))
            return 0;
        t[r] = sabre__now_ns() - t0;
    }
    qsort(t, rounds, sizeof t[0], cmp_u64);
    return (double)t[rounds / 2];
}

bool sabre__dispatch_decide(sabre__dispatch_t *d, uint64_t rows, unsigned threads,
                            double fork_join_ns)
{
    d->last_rows = rows;
    d->last_probe = false;
    d->last_calibrating = false;
    d->decisions++;
    if (threads <= 1 || d->ns_row_inline <= 0) {
        d->last_inline = true;
        d->last_calibrating = threads > 1;
        d->last_inline_ns = d->last_pool_ns = 0;
        return true;
    }
    double per_pool = d->ns_row_pool > 0 ? d->ns_row_pool : d->ns_row_inline / threads;
    double in = (double)rows * d->ns_row_inline;
    double pool = fork_join_ns + (double)rows * per_pool;
    d->last_inline_ns = in;
    d->last_pool_ns = pool;
    bool choose_inline;
    if (d->n_inline < SABRE__DISPATCH_WARMUP) {
        /* calibration: the first runs (cold caches, first touches) are no
         * estimate on their own; the median of WARMUP samples is */
        choose_inline = true;
        d->last_calibrating = true;
    } else if (d->n_pool < SABRE__DISPATCH_WARMUP && pool <= in * SABRE__DISPATCH_PROBE_LOSS) {
        choose_inline = false;
        d->last_calibrating = true;
    } else {
        /* hysteresis around the settled choice (probes do not move it) */
        choose_inline = d->settled_pool ? in < pool : pool > in * (1.0 - SABRE__DISPATCH_MARGIN);
        d->settled_pool = !choose_inline;
        if (d->decisions % SABRE__DISPATCH_PROBE == 0) {
            double chosen = choose_inline ? in : pool, other = choose_inline ? pool : in;
            if (other <= chosen * SABRE__DISPATCH_PROBE_LOSS) {
                choose_inline = !choose_inline;
                d->last_probe = true;
            }
        }
    }
    d->last_inline = choose_inline;
    return choose_inline;
}

/* Add a sample to a window and return the window's median.  This runs for
 * every system every frame, so once the window is full the median (an
 * insertion sort) is recomputed only every WINDOW samples and `cur` is
 * returned in between: an estimate at most WINDOW runs old. */
static double push_median(double *win, uint32_t *n, double sample, double cur)
{
    win[*n % SABRE__DISPATCH_WINDOW] = sample;
    (*n)++;
    if (*n > SABRE__DISPATCH_WINDOW && *n % SABRE__DISPATCH_WINDOW != 0)
        return cur;
    uint32_t k = *n < SABRE__DISPATCH_WINDOW ? *n : SABRE__DISPATCH_WINDOW;
    double v[SABRE__DISPATCH_WINDOW];
    for (uint32_t i = 0; i < k; i++) {
        double x = win[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[(k - 1) / 2];
}

void sabre__dispatch_note(sabre__dispatch_t *d, bool was_inline, uint64_t rows, double ns,
                          double fork_join_ns)
{
    if (was_inline)
        d->inline_runs++;
    else
        d->pool_runs++;
    if (rows == 0)
        return;
    if (was_inline) {
        d->ns_row_inline =
            push_median(d->win_inline, &d->n_inline, ns / (double)rows, d->ns_row_inline);
    } else {
        double beyond = ns - fork_join_ns;
        /* a run can beat the calibrated fork-join (workers already spinning):
         * keep a positive floor so the estimate stays "measured" */
        if (beyond < ns / 16)
            beyond = ns / 16;
        d->ns_row_pool =
            push_median(d->win_pool, &d->n_pool, beyond / (double)rows, d->ns_row_pool);
    }
}

bool sabre__dispatch_batch_inline(uint32_t calls, bool unmeasured, double sum_ns, unsigned threads,
                                  double fork_join_ns)
{
    if (threads <= 1 || calls <= 1 || unmeasured)
        return true;
    return sum_ns * (1.0 - 1.0 / threads) <= fork_join_ns;
}

void sabre__dispatch_note_call(sabre__dispatch_t *d, bool was_inline, double ns)
{
    d->decisions++;
    d->last_inline = was_inline;
    d->last_rows = 1;
    if (was_inline)
        d->inline_runs++;
    else
        d->pool_runs++;
    d->ns_row_inline = push_median(d->win_inline, &d->n_inline, ns, d->ns_row_inline);
}

void sabre__dispatch_print(const sabre__dispatch_t *d, FILE *f)
{
    if (d->decisions == 0) {
        fprintf(f, "not run yet");
        return;
    }
    fprintf(f, "%s for %llu rows", d->last_inline ? "inline" : "pool",
            (unsigned long long)d->last_rows);
    if (d->last_probe)
        fprintf(f, " (a probe of the other choice)");
    if (d->last_calibrating)
        fprintf(f, " (calibrating: %u inline, %u pool samples of %u)", d->n_inline, d->n_pool,
                SABRE__DISPATCH_WARMUP);
    if (d->last_inline_ns > 0)
        fprintf(f, ": predicted inline %.1f us, pool %.1f us", d->last_inline_ns / 1e3,
                d->last_pool_ns / 1e3);
    else
        fprintf(f, ": first run or a single thread, inline");
    fprintf(f,
            "; measured %.3f ns/row inline, %.3f ns/row on the pool; %llu inline runs, %llu "
            "pool runs",
            d->ns_row_inline, d->ns_row_pool, (unsigned long long)d->inline_runs,
            (unsigned long long)d->pool_runs);
}
