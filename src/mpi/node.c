/*
 * node.c - the bridge on an actor node: consume the node ring, forward
 * chunks to the trainer within the credits it grants (drop or hold
 * without them, by the trainer ring's policy), publish the weights
 * versions the trainer sends, report counters.  Protocol: docs/distributed.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/bridge_internal.h"

#define MPI_TRY(call, what)                                                                        \
    do {                                                                                           \
        int mrc_ = (call);                                                                         \
        if (mrc_ != MPI_SUCCESS)                                                                   \
            return sabre__bd_mpi_fail(mrc_, what);                                                 \
    } while (0)

static int post_weights(sabre_mpi_bridge_t *b)
{
    if (b->wposted || !b->w || b->stop_seen)
        return SABRE_OK;
    void *buf;
    int rc = sabre_weights_begin(b->w, 0, &buf);
    if (rc == SABRE_EBUSY) /* every slot pinned: the trainer's next version waits in MPI */
        return SABRE_OK;
    if (rc)
        return rc;
    b->wbuf = buf;
    MPI_TRY(MPI_Irecv(&b->whdr_in, sizeof b->whdr_in, MPI_BYTE, b->trainer, BD_TAG_WHDR, b->comm,
                      &b->whdr_req),
            "weights header receive");
    /* received straight into the slot: no copy on this side either */
    MPI_TRY(
        MPI_Irecv(buf, (int)b->wsize, MPI_BYTE, b->trainer, BD_TAG_WDATA, b->comm, &b->wdata_req),
        "weights receive");
    b->wposted = true;
    return SABRE_OK;
}

int sabre__bd_node_start(sabre_mpi_bridge_t *b)
{
    b->nlanes = calloc(b->nl, sizeof *b->nlanes);
    b->msgs = calloc(BD_MSG_MAX, sizeof *b->msgs);
    if (!b->nlanes || !b->msgs)
        return sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
    b->credit_req = b->whdr_req = b->wdata_req = b->stop_req = b->thb_req = MPI_REQUEST_NULL;
    b->hb_req[0] = MPI_REQUEST_NULL;
    for (uint32_t i = 0; i < BD_MSG_MAX; i++)
        b->msgs[i].req[0] = b->msgs[i].req[1] = MPI_REQUEST_NULL;
    MPI_TRY(MPI_Irecv(b->credit_buf, sizeof b->credit_buf, MPI_BYTE, b->trainer, BD_TAG_CREDIT,
                      b->comm, &b->credit_req),
            "credit receive");
    MPI_TRY(MPI_Irecv(&b->stop_in, 1, MPI_INT, b->trainer, BD_TAG_STOP, b->comm, &b->stop_req),
            "stop receive");
    MPI_TRY(MPI_Irecv(b->thb_in, 2, MPI_UINT64_T, b->trainer, BD_TAG_HB, b->comm, &b->thb_req),
            "heartbeat receive");
    b->last_heard_trainer = sabre__now_ns();
    return post_weights(b);
}

void sabre__bd_node_free(sabre_mpi_bridge_t *b)
{
    int fin = 0;
    MPI_Finalized(&fin);
    MPI_Request *rq[] = {&b->credit_req, &b->whdr_req, &b->wdata_req, &b->stop_req, &b->thb_req};
    for (size_t i = 0; !fin && i < sizeof rq / sizeof rq[0]; i++)
        if (*rq[i] != MPI_REQUEST_NULL) {
            MPI_Cancel(rq[i]);
            MPI_Request_free(rq[i]);
        }
    if (b->wposted)
        sabre_weights_abort(b->w);
    b->wposted = false;
    for (uint32_t i = 0; b->msgs && !fin && i < BD_MSG_MAX; i++)
        for (int k = 0; k < 2; k++)
            if (b->msgs[i].req[k] != MPI_REQUEST_NULL)
                MPI_Request_free(&b->msgs[i].req[k]);
    if (!fin && b->hb_req[0] != MPI_REQUEST_NULL)
        MPI_Request_free(&b->hb_req[0]);
    free(b->msgs);
    free(b->nlanes);
    b->msgs = NULL;
    b->nlanes = NULL;
}

/* ---- chunks ----------------------------------------------------------------------- */

static int free_msg(sabre_mpi_bridge_t *b)
{
    for (int i = 0; i < BD_MSG_MAX; i++)
        if (!b->msgs[i].used)
            return i;
    return -1;
}

/* Send what the lane's credit allows from the batches it holds, in order;
 * without credit, drop (DROP_NEWEST) or hold (BLOCK). */
static int forward_lane(sabre_mpi_bridge_t *b, uint32_t l, int *moved)
{
    bd_nlane *nl = &b->nlanes[l];
    bool waited = false;
    while (nl->fifo_len) {
        int bi = nl->fifo[nl->fifo_head];
        bd_batch *bt = &b->batches[bi];
        uint32_t left = bt->b.count - bt->next;
        if (left == 0) {
            nl->fifo_head = (nl->fifo_head + 1) % BD_BATCH_MAX;
            nl->fifo_len--;
            continue;
        }
        uint64_t avail = nl->credited && nl->credit_end > nl->sent ? nl->credit_end - nl->sent : 0;
        if (avail == 0) {
            if (b->policy == SABRE_RING_DROP_NEWEST && nl->credited) {
                bt->next = bt->b.count; /* the trainer lane is full: drop, counted here */
                bd_add(&b->obj->dropped, left);
                *moved = 1;
                continue;
            }
            if (!waited)
                bd_add(&b->obj->credit_waits, 1);
            return SABRE_OK;
        }
        int mi = free_msg(b);
        if (mi < 0)
            return SABRE_OK;
        bd_msg *m = &b->msgs[mi];
        uint64_t wrap = b->cap_t - (nl->sent % b->cap_t); /* one trainer claim: no padding */
        uint32_t n = left;
        n = (uint32_t)SABRE_MIN((uint64_t)n, avail);
        n = (uint32_t)SABRE_MIN((uint64_t)n, wrap);
        n = SABRE_MIN(n, b->batch);
        bd_meta *md = (bd_meta *)m->meta;
        bd_run *runs = (bd_run *)(md + 1);
        uint32_t nruns = 0;
        for (uint32_t i = 0; i < n;) {
            sabre_chunk_header_t hd;
            int rc = sabre_ring_chunk_header(b->ring, &bt->b.chunks[bt->next + i], &hd);
            if (rc)
                return rc;
            uint32_t k = SABRE_MIN(hd.claim_rest + 1, n - i);
            runs[nruns++] = (bd_run){.count = k,
                                     .policy_version = hd.policy_version,
                                     .commit_ns = hd.commit_ns + (uint64_t)b->offset};
            i += k;
        }
        uint32_t *valid = (uint32_t *)(runs + nruns);
        for (uint32_t i = 0; i < n; i++)
            valid[i] = bt->b.chunks[bt->next + i].valid_steps;
        md->lane = l;
        md->n = n;
        md->first = nl->sent;
        md->nruns = nruns;
        size_t len = sizeof *md + nruns * sizeof(bd_run) + n * sizeof(uint32_t);
        MPI_TRY(MPI_Isend(md, (int)len, MPI_BYTE, b->trainer, BD_TAG_META, b->comm, &m->req[0]),
                "chunk header send");
        /* the payload straight from the ring's slots: no copy */
        uint64_t bytes = (uint64_t)n * b->stride;
        MPI_TRY(MPI_Isend(bt->b.data + (uint64_t)bt->next * bt->b.stride, (int)bytes, MPI_BYTE,
                          b->trainer, BD_TAG_DATA + (int)l, b->comm, &m->req[1]),
                "chunk send");
        m->used = true;
        m->batch = bi;
        m->n = n;
        bt->next += n;
        bt->pending++;
        nl->sent += n;
        bd_add(&b->obj->chunks, n);
        bd_add(&b->obj->bytes, bytes);
        bd_add(&b->obj->messages, 1);
        bd_add(&b->obj->in_flight, n);
        *moved = 1;
    }
    return SABRE_OK;
}

static int free_batch(sabre_mpi_bridge_t *b)
{
    for (int i = 0; i < BD_BATCH_MAX; i++)
        if (!b->batches[i].used)
            return i;
    return -1;
}

static int finish_sends(sabre_mpi_bridge_t *b, int *moved)
{
    for (int i = 0; i < BD_MSG_MAX; i++) {
        bd_msg *m = &b->msgs[i];
        if (!m->used)
            continue;
        int flag = 0;
        MPI_TRY(MPI_Testall(2, m->req, &flag, MPI_STATUSES_IGNORE), "chunk send");
        if (!flag)
            continue;
        m->used = false;
        b->batches[m->batch].pending--;
        atomic_store_explicit(&b->obj->in_flight,
                              atomic_load_explicit(&b->obj->in_flight, memory_order_relaxed) - m->n,
                              memory_order_relaxed);
        *moved = 1;
    }
    for (int i = 0; i < BD_BATCH_MAX; i++) {
        bd_batch *bt = &b->batches[i];
        /* released only once every message sent from its slots completed
         * (docs/distributed.md, "Why nothing is lost, doubled, ...") */
        if (bt->used && bt->next == bt->b.count && bt->pending == 0) {
            int rc = sabre_ring_release(b->cons, &bt->b);
            if (rc)
                return rc;
            bt->used = false;
        }
    }
    return SABRE_OK;
}

/* ---- receives from the trainer --------------------------------------------------------- */

static int take_credits(sabre_mpi_bridge_t *b, int *moved)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_TRY(MPI_Test(&b->credit_req, &flag, &st), "credit receive");
        if (!flag)
            return SABRE_OK;
        int bytes = 0;
        MPI_Get_count(&st, MPI_BYTE, &bytes);
        for (int i = 0; i < bytes / (int)sizeof(bd_credit); i++) {
            const bd_credit *c = &b->credit_buf[i];
            if (c->lane >= b->nl)
                return sabre__fail(SABRE_ECORRUPT, "bridge: credit for lane %u of %u", c->lane,
                                   b->nl);
            bd_nlane *nl = &b->nlanes[c->lane];
            if (!nl->credited) {
                nl->sent = c->start;
                nl->credited = true;
            }
            if (c->end > nl->credit_end)
                nl->credit_end = c->end;
        }
        b->last_heard_trainer = sabre__now_ns();
        *moved = 1;
        MPI_TRY(MPI_Irecv(b->credit_buf, sizeof b->credit_buf, MPI_BYTE, b->trainer, BD_TAG_CREDIT,
                          b->comm, &b->credit_req),
                "credit receive");
    }
}

static int take_weights(sabre_mpi_bridge_t *b, int *moved)
{
    if (!b->wposted)
        return post_weights(b);
    MPI_Request rq[2] = {b->whdr_req, b->wdata_req};
    int flag = 0;
    MPI_TRY(MPI_Testall(2, rq, &flag, MPI_STATUSES_IGNORE), "weights receive");
    b->whdr_req = rq[0];
    b->wdata_req = rq[1];
    if (!flag)
        return SABRE_OK;
    b->wposted = false;
    b->last_heard_trainer = sabre__now_ns();
    /* the whole buffer arrived: publish it under the trainer's version
     * (docs/distributed.md, "Why nothing is lost, doubled, ...": never torn) */
    const bd_whdr *h = &b->whdr_in;
    int rc = sabre_weights_commit(b->w,
                                  &(sabre_weights_meta_t){.shape_hash = h->shape,
                                                          .set_step = true,
                                                          .step_counter = h->step,
                                                          .set_version = true,
                                                          .version = h->version},
                                  NULL);
    if (rc) {
        sabre_weights_abort(b->w);
        return rc;
    }
    bd_add(&b->obj->weights_applied, 1);
    bd_set(&b->obj->weights_version, h->version);
    bd_set(&b->peers[b->rank].weights_version, h->version);
    *moved = 1;
    return post_weights(b);
}

/* ---- the loop ---------------------------------------------------------------------- */

static int send_report(sabre_mpi_bridge_t *b, int tag)
{
    b->hb_out = (bd_report){
        .chunks = atomic_load_explicit(&b->obj->chunks, memory_order_relaxed),
        .bytes = atomic_load_explicit(&b->obj->bytes, memory_order_relaxed),
        .dropped = atomic_load_explicit(&b->obj->dropped, memory_order_relaxed),
        .weights_version = atomic_load_explicit(&b->obj->weights_version, memory_order_relaxed),
        .messages = atomic_load_explicit(&b->obj->messages, memory_order_relaxed)};
    if (tag == BD_TAG_DONE) {
        MPI_TRY(MPI_Send(&b->hb_out, sizeof b->hb_out, MPI_BYTE, b->trainer, tag, b->comm),
                "final report");
        return SABRE_OK;
    }
    if (b->hb_req[0] != MPI_REQUEST_NULL) { /* the previous one still travels */
        int flag = 0;
        MPI_TRY(MPI_Test(&b->hb_req[0], &flag, MPI_STATUS_IGNORE), "heartbeat");
        if (!flag)
            return SABRE_OK;
    }
    MPI_TRY(
        MPI_Isend(&b->hb_out, sizeof b->hb_out, MPI_BYTE, b->trainer, tag, b->comm, &b->hb_req[0]),
        "heartbeat");
    return SABRE_OK;
}

int sabre__bd_node_poll(sabre_mpi_bridge_t *b)
{
    int moved = 0, rc, flag = 0;
    uint64_t now = sabre__now_ns();
    if ((rc = finish_sends(b, &moved)) || (rc = take_credits(b, &moved)) ||
        (rc = take_weights(b, &moved)))
        return rc;
    MPI_TRY(MPI_Test(&b->thb_req, &flag, MPI_STATUS_IGNORE), "heartbeat receive");
    if (flag) {
        b->last_heard_trainer = now;
        MPI_TRY(MPI_Irecv(b->thb_in, 2, MPI_UINT64_T, b->trainer, BD_TAG_HB, b->comm, &b->thb_req),
                "heartbeat receive");
    }
    if (!b->stop_seen) {
        MPI_TRY(MPI_Test(&b->stop_req, &flag, MPI_STATUS_IGNORE), "stop receive");
        if (flag) {
            b->stop_seen = true;
            moved = 1;
        }
    }
    /* take what the ring has, while there is room to hold it */
    while (!b->stop_seen) {
        int bi = free_batch(b);
        if (bi < 0)
            break;
        bd_batch *bt = &b->batches[bi];
        rc = sabre_ring_consume(b->cons, b->batch, 0, &bt->b);
        if (rc == SABRE_EAGAIN)
            break;
        if (rc)
            return rc;
        bd_nlane *nl = &b->nlanes[bt->b.lane];
        if (bt->b.lane >= b->nl || nl->fifo_len == BD_BATCH_MAX)
            return sabre__fail(SABRE_ECORRUPT, "bridge: batch of lane %u", bt->b.lane);
        bt->used = true;
        bt->next = 0;
        bt->pending = 0;
        nl->fifo[(nl->fifo_head + nl->fifo_len) % BD_BATCH_MAX] = bi;
        nl->fifo_len++;
        moved = 1;
    }
    for (uint32_t l = 0; l < b->nl; l++)
        if ((rc = forward_lane(b, l, &moved)))
            return rc;
    if (now - b->last_hb_sent >= BD_HB_NS) {
        b->last_hb_sent = now;
        if ((rc = send_report(b, BD_TAG_HB)))
            return rc;
    }
    if (now > b->last_heard_trainer && now - b->last_heard_trainer > b->peer_timeout)
        return sabre__fail(SABRE_EPEER,
                           "bridge: rank %d (host %s): no message from the trainer rank %d for "
                           "%.1f s",
                           b->rank, b->host, b->trainer,
                           (double)(now - b->last_heard_trainer) / 1e9);
    if (b->stop_seen) {
        /* chunks still held (no credit) are left behind, and counted */
        for (uint32_t l = 0; l < b->nl; l++) {
            bd_nlane *nl = &b->nlanes[l];
            for (uint32_t k = 0; k < nl->fifo_len; k++) {
                bd_batch *bt = &b->batches[nl->fifo[(nl->fifo_head + k) % BD_BATCH_MAX]];
                bd_add(&b->obj->left_at_stop, bt->b.count - bt->next);
                bt->next = bt->b.count;
            }
            nl->fifo_len = 0;
        }
        if ((rc = finish_sends(b, &moved)))
            return rc;
        for (int i = 0; i < BD_MSG_MAX; i++)
            if (b->msgs[i].used)
                return moved;
        if (b->wposted) {
            /* the trainer sends no version after the stop: give the slot back */
            MPI_Status st[2];
            int c0 = 0, c1 = 0;
            MPI_Cancel(&b->whdr_req);
            MPI_Cancel(&b->wdata_req);
            MPI_Wait(&b->whdr_req, &st[0]);
            MPI_Wait(&b->wdata_req, &st[1]);
            MPI_Test_cancelled(&st[0], &c0);
            MPI_Test_cancelled(&st[1], &c1);
            if (!c0 && !c1) { /* it had arrived after all: publish it */
                /* (both requests are null now: take_weights commits, and
                 * post_weights posts nothing after the stop) */
                int frc = take_weights(b, &moved);
                if (frc)
                    return frc;
            } else {
                sabre_weights_abort(b->w);
            }
            b->wposted = false;
        }
        if ((rc = send_report(b, BD_TAG_DONE)))
            return rc;
        b->done = true;
        return 1;
    }
    return moved;
}
