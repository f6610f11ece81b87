// SABRE_TEST_LABELS: unit concurrent
/* Mailbox with worker threads: K ticks per request/acknowledge pair (the
 * sequence numbers and futex wake counts prove there is no handoff per
 * tick), the worker's writes are visible after wait, busy/empty states,
 * statuses, stalls, timeouts, and validation of a corrupt object. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sabre/mailbox.h"

#define ROWS    1024
#define WORKERS 2

struct world {
    sabre_mailbox_t *mb;
    float *col[WORKERS];   /* each worker owns a column in the region */
    _Atomic int fail_with; /* status the workers acknowledge with */
    _Atomic int stall_ms;  /* a worker sleeps this long without heartbeat */
};

struct worker {
    struct world *w;
    uint32_t index;
    int rc;            /* last error of the loop */
    uint64_t requests; /* requests served */
};

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct world *w = wk->w;
    sabre_mailbox_t *mb = w->mb;
    wk->rc = sabre_mailbox_attach(mb, wk->index);
    for (;;) {
        sabre_mailbox_req_t req;
        int rc = sabre_mailbox_next(mb, wk->index, &req, 20000000000ull);
        if (rc != SABRE_OK) {
            wk->rc = rc;
            break;
        }
        if (req.stop) {
            sabre_mailbox_ack(mb, wk->index, 0);
            break;
        }
        int stall = atomic_load(&w->stall_ms);
        if (stall)
            usleep((useconds_t)stall * 1000);
        float *c = w->col[wk->index];
        for (uint64_t t = 0; t < req.ticks; t++) {
            for (int i = 0; i < ROWS; i++)
                c[i] += 1.0f;
            sabre_mailbox_tick(mb, wk->index);
        }
        wk->requests++;
        sabre_mailbox_ack(mb, wk->index, atomic_load(&w->fail_with));
    }
    return NULL;
}

static void start(struct world *w, struct worker *wk, pthread_t *tid)
{
    for (uint32_t i = 0; i < WORKERS; i++) {
        wk[i] = (struct worker){w, i, 0, 0};
        pthread_create(&tid[i], NULL, worker_main, &wk[i]);
    }
}

static void stop(struct world *w, struct worker *wk, pthread_t *tid)
{
    for (uint32_t i = 0; i < WORKERS; i++) {
        CHECK_OK(sabre_mailbox_stop(w->mb, i));
        CHECK_OK(sabre_mailbox_wait(w->mb, i, 20000000000ull));
        pthread_join(tid[i], NULL);
        CHECK_OK(wk[i].rc);
    }
}

int main(void)
{
    sabre_region_t *region;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &region));
    sabre_object_t cols;
    CHECK_OK(sabre_region_alloc(
        region, &(sabre_object_desc_t){.name = "cols", .size = sizeof(float) * ROWS * WORKERS},
        &cols));
    struct world w = {0};
    for (int i = 0; i < WORKERS; i++)
        w.col[i] = (float *)cols.ptr + i * ROWS;
    CHECK_OK(sabre_mailbox_create(
        region, &(sabre_mailbox_desc_t){.name = "mb", .workers = WORKERS, .spin_ns = 2000}, &w.mb));
    CHECK_EQ(sabre_mailbox_workers(w.mb), WORKERS);
    sabre_object_t mo;
    CHECK_OK(sabre_region_find(region, "mb", NULL, &mo));
    CHECK_EQ(mo.kind, SABRE_OBJ_MAILBOX);
    CHECK_EQ(mo.offset % 128, 0);
    CHECK(mo.size >= SABRE_MAILBOX_HEADER_SIZE + WORKERS * SABRE_MAILBOX_SLOT_SIZE);

    /* Nothing outstanding: wait returns at once; ack has nothing to ack. */
    CHECK_OK(sabre_mailbox_wait(w.mb, 0, 0));
    CHECK_ERR(sabre_mailbox_ack(w.mb, 0, 0), SABRE_ESTATE);
    CHECK_ERR(sabre_mailbox_request(w.mb, WORKERS, 1), SABRE_EINVAL);

    /* No worker yet: a request times out instead of hanging. */
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 0));
    CHECK_ERR(sabre_mailbox_request(w.mb, 0, 1), SABRE_EBUSY);
    CHECK_ERR(sabre_mailbox_wait(w.mb, 0, 50000000ull), SABRE_ETIMEDOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), "not acknowledged");

    struct worker wk[WORKERS];
    pthread_t tid[WORKERS];
    start(&w, wk, tid);
    /* Level-triggered: the request made before the worker existed is served. */
    CHECK_OK(sabre_mailbox_wait(w.mb, 0, 20000000000ull));
    sabre_mailbox_info_t in0, in1;
    CHECK_OK(sabre_mailbox_info(w.mb, 0, &in0));
    CHECK_EQ(in0.req_seq, 1);
    CHECK_EQ(in0.ack_seq, 1);
    CHECK_EQ(in0.worker_pid, getpid());
    CHECK(in0.worker_alive);

    /* K ticks with exactly one request/acknowledge pair per worker. */
    const uint64_t K = check_scale(1000);
    sabre_mailbox_info_t first[WORKERS];
    for (uint32_t i = 0; i < WORKERS; i++) {
        CHECK_OK(sabre_mailbox_info(w.mb, i, &first[i]));
        CHECK_OK(sabre_mailbox_request(w.mb, i, K)); /* both workers run at once */
    }
    for (uint32_t i = 0; i < WORKERS; i++) {
        CHECK_OK(sabre_mailbox_wait(w.mb, i, 20000000000ull));
        CHECK_OK(sabre_mailbox_info(w.mb, i, &in1));
        CHECK_EQ(in1.req_seq, first[i].req_seq + 1);
        CHECK_EQ(in1.ack_seq, first[i].ack_seq + 1);
        CHECK_EQ(in1.ticks_done, first[i].ticks_done + K);
        CHECK_EQ(in1.ticks_requested, K);
        CHECK(!in1.outstanding);
        for (int r = 0; r < ROWS; r++)
            if (w.col[i][r] != (float)K)
                CHECK_EQ(w.col[i][r], K);
    }
    for (uint32_t i = 0; i < WORKERS; i++) {
        sabre_mailbox_info_t before, after;
        CHECK_OK(sabre_mailbox_info(w.mb, i, &before));
        CHECK_OK(sabre_mailbox_request(w.mb, i, K));
        CHECK_OK(sabre_mailbox_wait(w.mb, i, 20000000000ull));
        CHECK_OK(sabre_mailbox_info(w.mb, i, &after));
        CHECK_EQ(after.req_seq, before.req_seq + 1);       /* one request */
        CHECK_EQ(after.ack_seq, before.ack_seq + 1);       /* one acknowledge */
        CHECK_EQ(after.ticks_done, before.ticks_done + K); /* K ticks between them */
        /* At most one wake each way.  The worker counts its wake after the
         * ack_seq store that released the previous wait, so the previous
         * round's wake may land in this window: allow for it. */
        CHECK(after.main_wakes - before.main_wakes <= 1);
        CHECK(after.worker_wakes - before.worker_wakes <= 2);
        for (int r = 0; r < ROWS; r++)
            if (w.col[i][r] != (float)(2 * K))
                CHECK_EQ(w.col[i][r], 2 * K);
    }

    /* Many short rounds: sequence numbers advance by exactly one per round,
     * and the futex is only woken when somebody slept. */
    unsigned long rounds = check_scale(2000);
    CHECK_OK(sabre_mailbox_info(w.mb, 1, &in0));
    for (unsigned long r = 0; r < rounds; r++) {
        CHECK_OK(sabre_mailbox_request(w.mb, 1, 3));
        if (r % 100 == 0)
            usleep(100); /* let the worker fall asleep sometimes */
        CHECK_OK(sabre_mailbox_wait(w.mb, 1, 20000000000ull));
    }
    CHECK_OK(sabre_mailbox_info(w.mb, 1, &in1));
    CHECK_EQ(in1.req_seq - in0.req_seq, rounds);
    CHECK_EQ(in1.ack_seq - in0.ack_seq, rounds);
    CHECK_EQ(in1.ticks_done - in0.ticks_done, 3 * rounds);
    CHECK(in1.main_wakes - in0.main_wakes <= rounds);
    CHECK(in1.worker_wakes - in0.worker_wakes <= rounds + 1);
    CHECK(in1.heartbeat_age_ns < 60000000000ull);

    /* The worker's status reaches wait. */
    atomic_store(&w.fail_with, SABRE_ERANGE);
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 1));
    CHECK_ERR(sabre_mailbox_wait(w.mb, 0, 20000000000ull), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "acknowledged request");
    atomic_store(&w.fail_with, 42);
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 1));
    CHECK_ERR(sabre_mailbox_wait(w.mb, 0, 20000000000ull), SABRE_EJOB);
    atomic_store(&w.fail_with, 0);
    stop(&w, wk, tid);
    sabre_mailbox_close(w.mb);

    /* Stall detection: a worker that stops heartbeating is reported. */
    CHECK_OK(sabre_mailbox_create(
        region,
        &(sabre_mailbox_desc_t){.name = "stall", .workers = WORKERS, .stall_ns = 100000000ull},
        &w.mb));
    CHECK_EQ(sabre_mailbox_stall_ns(w.mb), 100000000ull);
    start(&w, wk, tid);
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 5));
    CHECK_OK(sabre_mailbox_wait(w.mb, 0, 20000000000ull));
    atomic_store(&w.stall_ms, 600);
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 1));
    CHECK_ERR(sabre_mailbox_wait(w.mb, 0, 20000000000ull), SABRE_EPEER);
    CHECK_STR_CONTAINS(sabre_last_error(), "stalled: no heartbeat");
    atomic_store(&w.stall_ms, 0);
    /* It does finish later: then the same request is acknowledged. */
    int rc = SABRE_EPEER;
    for (int i = 0; i < 1000 && rc == SABRE_EPEER; i++) {
        rc = sabre_mailbox_wait(w.mb, 0, 20000000000ull);
        if (rc == SABRE_EPEER)
            usleep(10000);
    }
    CHECK_OK(rc);
    stop(&w, wk, tid);
    sabre_mailbox_close(w.mb);

    /* Opening: by name, validation of a corrupt header. */
    CHECK_OK(sabre_mailbox_open(region, "mb", &w.mb));
    CHECK_EQ(sabre_mailbox_workers(w.mb), WORKERS);
    CHECK_OK(sabre_mailbox_info(w.mb, 1, &in1));
    CHECK(in1.stop_requested);
    sabre_mailbox_close(w.mb);
    sabre_mailbox_t *bad;
    CHECK_ERR(sabre_mailbox_open(region, "cols", &bad), SABRE_EINVAL);
    CHECK_ERR(sabre_mailbox_open(region, "nope", &bad), SABRE_ENOENT);
    CHECK_ERR(
        sabre_mailbox_create(region, &(sabre_mailbox_desc_t){.name = "mb", .workers = 1}, &bad),
        SABRE_EEXIST);
    CHECK_ERR(
        sabre_mailbox_create(region, &(sabre_mailbox_desc_t){.name = "z", .workers = 0}, &bad),
        SABRE_EINVAL);
    /* A hostile spin_ns cannot make wait ignore its timeout. */
    uint64_t *qwords = mo.ptr;
    qwords[3] = UINT64_MAX;
    CHECK_OK(sabre_mailbox_open(region, "mb", &w.mb));
    CHECK_EQ(sabre_mailbox_spin_ns(w.mb), 10000000ull);
    CHECK_OK(sabre_mailbox_request(w.mb, 0, 1)); /* nobody serves worker 0 any more */
    CHECK_ERR(sabre_mailbox_wait(w.mb, 0, 30000000ull), SABRE_ETIMEDOUT);
    sabre_mailbox_close(w.mb);
    uint32_t *words = mo.ptr;
    words[3] = 100000; /* workers: more than the object holds */
    CHECK_ERR(sabre_mailbox_open(region, "mb", &bad), SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "workers");
    words[3] = WORKERS;
    words[2] = 7; /* version */
    CHECK_ERR(sabre_mailbox_open(region, "mb", &bad), SABRE_EVERSION);
    words[2] = SABRE_MAILBOX_VERSION;
    words[0] ^= 1; /* magic */
    CHECK_ERR(sabre_mailbox_open(region, "mb", &bad), SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "magic");
    words[0] = 0; /* never finished by its creator */
    words[1] = 0;
    CHECK_ERR(sabre_mailbox_open(region, "mb", &bad), SABRE_EBUSY);
    sabre_mailbox_close(NULL);
    sabre_region_close(region);
    return check_done();
}
