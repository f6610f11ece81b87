/*
 * trainer.c - the bridge on the trainer node: grant each remote lane the
 * room of its trainer lane, receive chunk messages straight into claims of
 * the trainer ring and commit them with their facts, send every new
 * weights version from its pinned slot to every node, end the run.
 * Protocol: docs/distributed.md.
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

int sabre__bd_trainer_start(sabre_mpi_bridge_t *b, const bd_hello *all)
{
    b->nodes = calloc((size_t)b->size, sizeof *b->nodes);
    b->wreq = calloc((size_t)b->size * 2, sizeof *b->wreq);
    if (!b->nodes || !b->wreq)
        return sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
    for (int r = 0; r < b->size; r++) {
        b->nodes[r].rank = r;
        memcpy(b->nodes[r].host, all[r].host, sizeof b->nodes[r].host);
        b->nodes[r].meta_req = b->nodes[r].hb_req = b->nodes[r].done_req = MPI_REQUEST_NULL;
        b->nodes[r].credit_req = b->nodes[r].stop_req = MPI_REQUEST_NULL;
        b->wreq[2 * r] = b->wreq[2 * r + 1] = MPI_REQUEST_NULL;
        if (r == b->trainer)
            continue;
        b->nodes[r].first_lane = b->ntl;
        b->nodes[r].lanes = all[r].nproducers;
        b->ntl += all[r].nproducers;
    }
    b->tl = calloc(b->ntl ? b->ntl : 1, sizeof *b->tl);
    if (!b->tl)
        return sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
    for (int r = 0; r < b->size; r++) {
        for (uint32_t l = 0; r != b->trainer && l < b->nodes[r].lanes; l++) {
            bd_tlane *t = &b->tl[b->nodes[r].first_lane + l];
            t->rank = r;
            t->node_lane = l;
            for (uint32_t k = 0; k < BD_LANE_MSGS; k++)
                t->req[k] = MPI_REQUEST_NULL;
            int rc = sabre_ring_producer_open(b->ring, &t->prod);
            if (rc)
                return sabre__fail(rc,
                                   "trainer ring '%s' has no free producer record for lane %u of "
                                   "rank %d (host %s): %u remote lanes in all",
                                   b->ring_name, l, r, all[r].host, b->ntl);
            t->lane = sabre_ring_producer_id(t->prod);
            sabre_ring_producer_info_t pi;
            sabre_ring_producer_at(b->ring, t->lane, &pi);
            t->pos = pi.head;
        }
    }
    return SABRE_OK;
}

static int post_meta(sabre_mpi_bridge_t *b, bd_node *n)
{
    MPI_TRY(
        MPI_Irecv(n->meta_buf, BD_META_MAX, MPI_BYTE, n->rank, BD_TAG_META, b->comm, &n->meta_req),
        "chunk header receive");
    return SABRE_OK;
}

/* Credits: each remote lane may send up to the released end of its
 * trainer lane + capacity, i.e. exactly the room it has.  Sent when it
 * grew by a quarter of the lane (or at the start). */
static int grant(sabre_mpi_bridge_t *b, bool force)
{
    for (int r = 0; r < b->size; r++) {
        bd_node *n = &b->nodes[r];
        if (r == b->trainer || n->done || b->stop_sent)
            continue;
        if (n->credit_req != MPI_REQUEST_NULL) {
            int flag = 0;
            MPI_TRY(MPI_Test(&n->credit_req, &flag, MPI_STATUS_IGNORE), "credit send");
            if (!flag)
                continue;
        }
        uint32_t k = 0;
        uint64_t step = b->cap_t / 4 ? b->cap_t / 4 : 1;
        for (uint32_t l = 0; l < n->lanes; l++) {
            bd_tlane *t = &b->tl[n->first_lane + l];
            uint64_t end = t->pos + sabre_ring_producer_room(t->prod);
            if (force || end >= t->granted + step) {
                n->credit_out[k++] = (bd_credit){.lane = l, .start = t->pos, .end = end};
                t->granted = end;
            }
        }
        if (k)
            MPI_TRY(MPI_Isend(n->credit_out, (int)(k * sizeof(bd_credit)), MPI_BYTE, r,
                              BD_TAG_CREDIT, b->comm, &n->credit_req),
                    "credit send");
    }
    return SABRE_OK;
}

int sabre__bd_trainer_begin(sabre_mpi_bridge_t *b)
{
    uint64_t now = sabre__now_ns();
    for (int r = 0; r < b->size; r++) {
        bd_node *n = &b->nodes[r];
        if (r == b->trainer)
            continue;
        n->last_heard = now;
        int rc = post_meta(b, n);
        if (rc)
            return rc;
        MPI_TRY(MPI_Irecv(&n->hb, sizeof n->hb, MPI_BYTE, r, BD_TAG_HB, b->comm, &n->hb_req),
                "heartbeat receive");
        MPI_TRY(MPI_Irecv(&n->done_rep, sizeof n->done_rep, MPI_BYTE, r, BD_TAG_DONE, b->comm,
                          &n->done_req),
                "final report receive");
    }
    return grant(b, true);
}

void sabre__bd_trainer_free(sabre_mpi_bridge_t *b)
{
    int fin = 0;
    MPI_Finalized(&fin);
    for (int r = 0; b->nodes && r < b->size; r++) {
        bd_node *n = &b->nodes[r];
        MPI_Request *rq[] = {&n->meta_req, &n->hb_req, &n->done_req};
        for (size_t i = 0; !fin && i < 3; i++)
            if (*rq[i] != MPI_REQUEST_NULL) {
                MPI_Cancel(rq[i]);
                MPI_Request_free(rq[i]);
            }
        MPI_Request *sq[] = {&n->credit_req, &n->stop_req, &b->wreq[2 * r], &b->wreq[2 * r + 1]};
        for (size_t i = 0; !fin && i < 4; i++)
            if (*sq[i] != MPI_REQUEST_NULL)
                MPI_Request_free(sq[i]);
    }
    for (uint32_t i = 0; b->tl && i < b->ntl; i++) {
        bd_tlane *t = &b->tl[i];
        for (uint32_t k = 0; !fin && k < BD_LANE_MSGS; k++)
            if (t->req[k] != MPI_REQUEST_NULL) {
                MPI_Cancel(&t->req[k]);
                MPI_Request_free(&t->req[k]);
            }
        if (t->busy)
            sabre_ring_abort(t->prod, &t->claim);
        sabre_ring_producer_close(t->prod);
        for (bd_qmeta *q = t->qhead, *nx; q; q = nx) {
            nx = q->next;
            free(q);
        }
        for (uint32_t k = 0; k < t->ncur; k++)
            free(t->cur[k]);
    }
    free(b->tl);
    free(b->nodes);
    free(b->wreq);
    b->tl = NULL;
    b->nodes = NULL;
    b->wreq = NULL;
}

/* ---- chunks ------------------------------------------------------------------------ */

/* Claim the chunks of every queued message of the lane that fits one claim
 * (contiguous positions, up to the end of the lane's slot array, at most
 * SABRE_RING_BATCH_MAX chunks) and receive each payload straight into its
 * part of the claim: the node's next messages travel while earlier ones
 * are still arriving. */
static int start_lane(sabre_mpi_bridge_t *b, bd_tlane *t)
{
    if (t->busy || !t->qhead)
        return 0;
    uint64_t total = 0, room = b->cap_t - (t->pos % b->cap_t);
    t->ncur = 0;
    while (t->qhead && t->ncur < BD_LANE_MSGS) {
        const bd_meta *m = (const bd_meta *)t->qhead->bytes;
        if (m->first != t->pos + total || m->n == 0 || m->n > b->cap_t)
            return sabre__fail(SABRE_ECORRUPT,
                               "bridge: rank %d lane %u sent %u chunks at trainer position %llu, "
                               "want position %llu",
                               t->rank, t->node_lane, m->n, (unsigned long long)m->first,
                               (unsigned long long)(t->pos + total));
        if (total + m->n > room || total + m->n > SABRE_RING_BATCH_MAX)
            break;
        total += m->n;
        t->cur[t->ncur++] = t->qhead;
        t->qhead = t->qhead->next;
    }
    if (!t->qhead)
        t->qtail = NULL;
    if (t->ncur == 0)
        return sabre__fail(SABRE_ECORRUPT,
                           "bridge: rank %d lane %u: a message crosses the end of trainer lane %u",
                           t->rank, t->node_lane, t->lane);
    /* the credit guarantees the room: this claim does not wait */
    int rc = sabre_ring_claim(t->prod, (uint32_t)total, 0, &t->claim);
    if (rc)
        return rc;
    t->busy = true;
    uint64_t off = 0;
    for (uint32_t k = 0; k < t->ncur; k++) {
        const bd_meta *m = (const bd_meta *)t->cur[k]->bytes;
        MPI_TRY(MPI_Irecv(t->claim.data + off * b->stride, (int)((uint64_t)m->n * b->stride),
                          MPI_BYTE, t->rank, BD_TAG_DATA + (int)t->node_lane, b->comm, &t->req[k]),
                "chunk receive");
        off += m->n;
    }
    return 1;
}

static int commit_lane(sabre_mpi_bridge_t *b, bd_tlane *t)
{
    int flag = 0;
    MPI_TRY(MPI_Testall((int)t->ncur, t->req, &flag, MPI_STATUSES_IGNORE), "chunk receive");
    if (!flag)
        return 0;
    sabre_ring_run_t rr[SABRE_RING_BATCH_MAX];
    uint32_t nrr = 0, at_chunk = 0;
    uint64_t now = sabre__now_ns();
    uint64_t cur = b->w ? sabre_weights_version(b->w) : 0, lag = 0, newest = 0;
    for (uint32_t k = 0; k < t->ncur; k++) {
        const bd_meta *m = (const bd_meta *)t->cur[k]->bytes;
        const bd_run *runs = (const bd_run *)(m + 1);
        const uint32_t *valid = (const uint32_t *)(runs + m->nruns);
        for (uint32_t i = 0; i < m->nruns && nrr < SABRE_RING_BATCH_MAX; i++) {
            /* the node's commit time in this clock, never later than now */
            uint64_t when = runs[i].commit_ns && runs[i].commit_ns < now ? runs[i].commit_ns : now;
            rr[nrr++] = (sabre_ring_run_t){.count = runs[i].count,
                                           .policy_version = runs[i].policy_version,
                                           .commit_ns = when};
            uint64_t lg = cur > runs[i].policy_version ? cur - runs[i].policy_version : 0;
            lag = lg > lag ? lg : lag;
            newest = when > newest ? when : newest;
        }
        for (uint32_t i = 0; i < m->n; i++)
            t->claim.chunks[at_chunk + i].valid_steps = valid[i];
        at_chunk += m->n;
    }
    int rc = sabre_ring_commit_runs(t->prod, &t->claim, rr, nrr);
    if (rc)
        return rc;
    t->busy = false;
    t->pos += at_chunk;
    uint64_t bytes = (uint64_t)at_chunk * b->stride;
    bd_node *n = &b->nodes[t->rank];
    bd_peer *p = &b->peers[t->rank];
    n->messages += t->ncur;
    bd_add(&b->obj->chunks, at_chunk);
    bd_add(&b->obj->bytes, bytes);
    bd_add(&b->obj->messages, t->ncur);
    bd_add(&p->chunks, at_chunk);
    bd_add(&p->bytes, bytes);
    bd_set(&p->lag_versions, lag);
    bd_set(&p->age_ns, now - newest);
    bd_set(&b->obj->age_ns_last, now - newest);
    if (lag > atomic_load_explicit(&b->obj->lag_versions_max, memory_order_relaxed))
        bd_set(&b->obj->lag_versions_max, lag);
    for (uint32_t k = 0; k < t->ncur; k++)
        free(t->cur[k]);
    t->ncur = 0;
    return 1;
}

/* Chunk headers that arrived: queue each on its lane (one claim at a time per lane). */
static int take_metas(sabre_mpi_bridge_t *b, bd_node *n, int *moved)
{
    for (;;) {
        int flag = 0, len = 0;
        MPI_Status st;
        MPI_TRY(MPI_Test(&n->meta_req, &flag, &st), "chunk header receive");
        if (!flag)
            return SABRE_OK;
        MPI_Get_count(&st, MPI_BYTE, &len);
        const bd_meta *m = (const bd_meta *)n->meta_buf;
        if ((size_t)len < sizeof *m || m->lane >= n->lanes || m->nruns > 256 || m->n > 256 ||
            (size_t)len != sizeof *m + m->nruns * sizeof(bd_run) + m->n * sizeof(uint32_t))
            return sabre__fail(SABRE_ECORRUPT,
                               "bridge: rank %d (host %s) sent a %d-byte chunk header, not one "
                               "of its %u lanes' messages",
                               n->rank, n->host, len, n->lanes);
        bd_qmeta *q = malloc(sizeof *q + (size_t)len);
        if (!q)
            return sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
        q->next = NULL;
        q->len = (size_t)len;
        memcpy(q->bytes, n->meta_buf, (size_t)len);
        bd_tlane *t = &b->tl[n->first_lane + m->lane];
        if (t->qtail)
            t->qtail->next = q;
        else
            t->qhead = q;
        t->qtail = q;
        n->last_heard = sabre__now_ns();
        *moved = 1;
        int rc = post_meta(b, n);
        if (rc)
            return rc;
    }
}

/* ---- weights ------------------------------------------------------------------------- */

static int send_weights(sabre_mpi_bridge_t *b, int *moved)
{
    if (!b->w)
        return SABRE_OK;
    if (b->wsending) {
        int flag = 0;
        MPI_TRY(MPI_Testall(2 * b->size, b->wreq, &flag, MPI_STATUSES_IGNORE), "weights send");
        if (!flag)
            return SABRE_OK;
        b->wsending = false;
        b->wsent_version = b->whdr_out.version;
        bd_add(&b->obj->weights_sent, 1);
        bd_set(&b->obj->weights_version, b->whdr_out.version);
        *moved = 1;
    }
    if (b->stopping || sabre_weights_version(b->w) <= b->wsent_version)
        return SABRE_OK;
    /* pin the newest version: its slot is the send buffer (no copy) and
     * stays unchanged until the next adopt, after these sends complete */
    sabre_weights_view_t v;
    int rc = sabre_weights_adopt(b->reader, NULL, &v);
    if (rc)
        return rc;
    b->whdr_out = (bd_whdr){
        .version = v.version, .step = v.step_counter, .size = v.size, .shape = v.shape_hash};
    for (int r = 0; r < b->size; r++) {
        if (r == b->trainer || b->nodes[r].done)
            continue;
        MPI_TRY(MPI_Isend(&b->whdr_out, sizeof b->whdr_out, MPI_BYTE, r, BD_TAG_WHDR, b->comm,
                          &b->wreq[2 * r]),
                "weights header send");
        MPI_TRY(
            MPI_Isend(v.data, (int)v.size, MPI_BYTE, r, BD_TAG_WDATA, b->comm, &b->wreq[2 * r + 1]),
            "weights send");
    }
    b->wsending = true;
    *moved = 1;
    return SABRE_OK;
}

/* ---- the loop ------------------------------------------------------------------------ */

int sabre__bd_trainer_poll(sabre_mpi_bridge_t *b)
{
    int moved = 0, rc;
    uint64_t now = sabre__now_ns();
    bool all_done = true;
    for (int r = 0; r < b->size; r++) {
        bd_node *n = &b->nodes[r];
        if (r == b->trainer)
            continue;
        if ((rc = take_metas(b, n, &moved)))
            return rc;
        int flag = 0;
        MPI_TRY(MPI_Test(&n->hb_req, &flag, MPI_STATUS_IGNORE), "heartbeat receive");
        if (flag) {
            n->last_heard = now;
            bd_set(&b->peers[r].dropped, n->hb.dropped);
            bd_set(&b->peers[r].weights_version, n->hb.weights_version);
            MPI_TRY(MPI_Irecv(&n->hb, sizeof n->hb, MPI_BYTE, r, BD_TAG_HB, b->comm, &n->hb_req),
                    "heartbeat receive");
        }
        if (!n->done) {
            MPI_TRY(MPI_Test(&n->done_req, &flag, MPI_STATUS_IGNORE), "final report receive");
            if (flag) {
                n->done = true;
                n->last_heard = now;
                bd_set(&b->peers[r].dropped, n->done_rep.dropped);
                bd_set(&b->peers[r].weights_version, n->done_rep.weights_version);
                moved = 1;
            }
        }
        bd_set(&b->peers[r].last_heard_ns, n->last_heard);
        if (!n->done || n->messages < n->done_rep.messages)
            all_done = false;
        if (!n->done && now > n->last_heard && now - n->last_heard > b->peer_timeout)
            return sabre__fail(SABRE_EPEER,
                               "bridge: trainer rank %d (host %s): no message from rank %d "
                               "(host %s) for %.1f s",
                               b->rank, b->host, r, n->host, (double)(now - n->last_heard) / 1e9);
    }
    for (uint32_t i = 0; i < b->ntl; i++) {
        bd_tlane *t = &b->tl[i];
        if (t->busy && (rc = commit_lane(b, t)) < 0)
            return rc;
        if (rc > 0)
            moved = 1;
        if (!t->busy && (rc = start_lane(b, t)) < 0)
            return rc;
        if (rc > 0)
            moved = 1;
        rc = 0;
    }
    if ((rc = grant(b, false)) || (rc = send_weights(b, &moved)))
        return rc;
    if (now - b->last_hb_sent >= BD_HB_NS) {
        b->last_hb_sent = now;
        static const uint64_t beat[2] = {0, 0};
        for (int r = 0; r < b->size; r++) {
            bd_node *n = &b->nodes[r];
            if (r == b->trainer || n->done)
                continue;
            if (n->stop_req != MPI_REQUEST_NULL && !b->stop_sent) {
                int flag = 0;
                MPI_TRY(MPI_Test(&n->stop_req, &flag, MPI_STATUS_IGNORE), "heartbeat send");
                if (!flag)
                    continue;
            }
            if (!b->stop_sent)
                MPI_TRY(MPI_Isend(beat, 2, MPI_UINT64_T, r, BD_TAG_HB, b->comm, &n->stop_req),
                        "heartbeat send");
        }
    }
    if (b->stopping && !b->wsending && !b->stop_sent) {
        static const int stop = 1;
        for (int r = 0; r < b->size; r++) {
            bd_node *n = &b->nodes[r];
            if (r == b->trainer)
                continue;
            if (n->stop_req != MPI_REQUEST_NULL)
                MPI_TRY(MPI_Wait(&n->stop_req, MPI_STATUS_IGNORE), "heartbeat send");
            MPI_TRY(MPI_Isend(&stop, 1, MPI_INT, r, BD_TAG_STOP, b->comm, &n->stop_req),
                    "stop send");
        }
        b->stop_sent = true;
        moved = 1;
    }
    if (b->stop_sent && all_done) {
        for (uint32_t i = 0; i < b->ntl; i++)
            if (b->tl[i].busy || b->tl[i].qhead)
                return moved;
        for (int r = 0; r < b->size; r++) {
            bd_node *n = &b->nodes[r];
            MPI_Request *sq[] = {&n->credit_req, &n->stop_req};
            for (int k = 0; r != b->trainer && k < 2; k++)
                if (*sq[k] != MPI_REQUEST_NULL)
                    MPI_TRY(MPI_Wait(sq[k], MPI_STATUS_IGNORE), "final send");
        }
        b->done = true;
        return 1;
    }
    return moved;
}
