/*
 * bridge.c - the MPI bridge: handshake, clock offsets, the counters object,
 * the poll loop's dispatch, stop and close.  The chunk and weights flows are
 * node.c (actor nodes) and trainer.c (the trainer node).
 * Protocol: docs/distributed.md; counters object: docs/abi.md ("Bridge object").
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi/bridge_internal.h"

int sabre__bd_mpi_fail(int mpirc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(mpirc, msg, &len);
    return sabre__fail(SABRE_EIO, "bridge: %s failed: %s", what, msg);
}

#define MPI_TRY(call, what)                                                                        \
    do {                                                                                           \
        int mrc_ = (call);                                                                         \
        if (mrc_ != MPI_SUCCESS)                                                                   \
            return sabre__bd_mpi_fail(mrc_, what);                                                 \
    } while (0)

/* ---- handshake ----------------------------------------------------------------- */

static void hello_fail(bd_hello *h, int rc)
{
    h->status = rc;
    snprintf(h->detail, sizeof h->detail, "%s", sabre_last_error());
}

/* Open this rank's objects and describe them. */
static void open_local(sabre_mpi_bridge_t *b, bd_hello *h)
{
    memset(h, 0, sizeof *h);
    h->magic = BD_MAGIC;
    h->bridge_major = BD_ABI_MAJOR;
    h->bridge_minor = BD_ABI_MINOR;
    h->ring_major = SABRE_RING_ABI_MAJOR;
    h->weights_major = SABRE_WEIGHTS_ABI_MAJOR;
    h->role = b->trainer_side ? BD_ROLE_TRAINER : BD_ROLE_NODE;
    h->pid = (int32_t)getpid();
    memcpy(h->host, b->host, sizeof h->host);
    int rc = sabre_ring_open(b->region, b->ring_name, NULL, 0, 0, &b->ring);
    if (rc) {
        hello_fail(h, rc);
        return;
    }
    sabre_ring_stats_t rs;
    sabre_ring_stats(b->ring, &rs);
    h->layout_hash = rs.layout_hash;
    h->chunk_stride = rs.chunk_stride;
    h->steps = rs.steps;
    h->envs = rs.envs;
    h->capacity = rs.capacity;
    h->nproducers = rs.nproducers;
    h->policy = rs.policy;
    h->shape = rs.shape;
    if (b->weights_name[0]) {
        if ((rc = sabre_weights_open(b->region, b->weights_name, NULL, &b->w))) {
            hello_fail(h, rc);
            return;
        }
        h->has_weights = 1;
        h->weights_size = sabre_weights_size(b->w);
    }
    if (b->trainer_side) {
        if (rs.shape != SABRE_RING_LANES || rs.policy == SABRE_RING_OVERWRITE_OLDEST) {
            sabre__fail(SABRE_EINVAL,
                        "bridge: trainer ring '%s' is %s with policy %u, want LANES with "
                        "DROP_NEWEST or BLOCK",
                        b->ring_name, rs.shape == SABRE_RING_LANES ? "LANES" : "MPSC", rs.policy);
            hello_fail(h, SABRE_EINVAL);
        } else if (b->w && (rc = sabre_weights_reader_open(b->w, &b->reader))) {
            hello_fail(h, rc);
        }
    } else {
        if ((rc = sabre_ring_consumer_open(b->ring, &b->cons)))
            hello_fail(h, rc);
    }
}

/* The same verdict on every rank: the first failure or mismatch, naming
 * both sides.  The trainer's description is the reference. */
static int verdict(const sabre_mpi_bridge_t *b, const bd_hello *all)
{
    for (int r = 0; r < b->size; r++) {
        const bd_hello *h = &all[r];
        if (h->magic != BD_MAGIC)
            return sabre__fail(SABRE_EVERSION, "bridge: rank %d sent magic 0x%08x, want 0x%08x", r,
                               h->magic, BD_MAGIC);
        if (h->status)
            return sabre__fail(h->status, "bridge: rank %d (host %s): %s", r, h->host, h->detail);
    }
    const bd_hello *t = &all[b->trainer];
    for (int r = 0; r < b->size; r++) {
        const bd_hello *h = &all[r];
        if (r == b->trainer)
            continue;
        if (h->bridge_major != t->bridge_major)
            return sabre__fail(SABRE_EVERSION,
                               "bridge: rank %d (host %s) speaks bridge ABI %u.%u, the trainer "
                               "rank %d (host %s) %u.%u",
                               r, h->host, h->bridge_major, h->bridge_minor, b->trainer, t->host,
                               t->bridge_major, t->bridge_minor);
        if (h->ring_major != t->ring_major || h->weights_major != t->weights_major)
            return sabre__fail(SABRE_EVERSION,
                               "bridge: rank %d (host %s) has ring ABI %u and weights ABI %u, "
                               "the trainer rank %d (host %s) %u and %u",
                               r, h->host, h->ring_major, h->weights_major, b->trainer, t->host,
                               t->ring_major, t->weights_major);
        if (h->layout_hash != t->layout_hash || h->steps != t->steps || h->envs != t->envs ||
            h->chunk_stride != t->chunk_stride)
            return sabre__fail(SABRE_ELAYOUT,
                               "bridge: ring '%s' on rank %d (host %s) has layout hash "
                               "0x%016llx, chunks of %u x %u (%llu bytes); on the trainer rank "
                               "%d (host %s) 0x%016llx, %u x %u (%llu bytes)",
                               b->ring_name, r, h->host, (unsigned long long)h->layout_hash,
                               h->steps, h->envs, (unsigned long long)h->chunk_stride, b->trainer,
                               t->host, (unsigned long long)t->layout_hash, t->steps, t->envs,
                               (unsigned long long)t->chunk_stride);
        if (h->has_weights != t->has_weights || h->weights_size != t->weights_size)
            return sabre__fail(SABRE_ELAYOUT,
                               "bridge: weights '%s' on rank %d (host %s) hold %llu bytes%s; on "
                               "the trainer rank %d (host %s) %llu bytes%s",
                               b->weights_name, r, h->host, (unsigned long long)h->weights_size,
                               h->has_weights ? "" : " (absent)", b->trainer, t->host,
                               (unsigned long long)t->weights_size,
                               t->has_weights ? "" : " (absent)");
        if (h->nproducers > 256)
            return sabre__fail(SABRE_EINVAL,
                               "bridge: ring '%s' on rank %d (host %s) has %u lanes, want <= 256",
                               b->ring_name, r, h->host, h->nproducers);
    }
    return SABRE_OK;
}

/* ---- clock offsets (node clock -> trainer clock) ----------------------------------- */

#define BD_CLOCK_ROUNDS 8

static int measure_clocks(sabre_mpi_bridge_t *b)
{
    if (b->trainer_side) {
        for (int r = 0; r < b->size; r++) {
            if (r == b->trainer)
                continue;
            for (int k = 0; k < BD_CLOCK_ROUNDS; k++) {
                uint64_t t0, t1;
                MPI_TRY(MPI_Recv(&t0, 1, MPI_UINT64_T, r, BD_TAG_CLOCK, b->comm, MPI_STATUS_IGNORE),
                        "clock receive");
                t1 = sabre__now_ns();
                MPI_TRY(MPI_Send(&t1, 1, MPI_UINT64_T, r, BD_TAG_CLOCK, b->comm), "clock send");
            }
        }
        return SABRE_OK;
    }
    uint64_t best = UINT64_MAX;
    for (int k = 0; k < BD_CLOCK_ROUNDS; k++) {
        uint64_t t0 = sabre__now_ns(), t1;
        MPI_TRY(MPI_Send(&t0, 1, MPI_UINT64_T, b->trainer, BD_TAG_CLOCK, b->comm), "clock send");
        MPI_TRY(
            MPI_Recv(&t1, 1, MPI_UINT64_T, b->trainer, BD_TAG_CLOCK, b->comm, MPI_STATUS_IGNORE),
            "clock receive");
        uint64_t t2 = sabre__now_ns();
        if (t2 - t0 < best) {
            best = t2 - t0;
            b->offset = (int64_t)t1 - (int64_t)(t0 / 2 + t2 / 2);
        }
    }
    atomic_store_explicit(&b->obj->clock_offset_ns, b->offset, memory_order_relaxed);
    bd_set(&b->obj->clock_err_ns, best / 2);
    return SABRE_OK;
}

/* ---- the counters object ------------------------------------------------------------ */

static int make_object(sabre_mpi_bridge_t *b, uint32_t nlanes)
{
    uint64_t size =
        sizeof(bd_hdr) + (uint64_t)nlanes * sizeof(bd_lane) + (uint64_t)b->size * sizeof(bd_peer);
    size = (size + 63) & ~63ull;
    sabre_object_t o;
    int rc = sabre_region_find(b->region, b->obj_name, NULL, &o);
    if (rc == SABRE_OK && (o.kind != SABRE_OBJ_BRIDGE || o.size < size))
        return sabre__fail(SABRE_EEXIST,
                           "bridge '%s': an object of kind %u and %llu bytes has the name, want "
                           "a bridge object of %llu bytes",
                           b->obj_name, o.kind, (unsigned long long)o.size,
                           (unsigned long long)size);
    if (rc == SABRE_ENOENT)
        rc = sabre_region_alloc(
            b->region,
            &(sabre_object_desc_t){.name = b->obj_name, .kind = SABRE_OBJ_BRIDGE, .size = size},
            &o);
    if (rc)
        return rc;
    bd_hdr *h = o.ptr;
    atomic_store(&h->state, 0); /* not yet described */
    memset((uint8_t *)h + offsetof(bd_hdr, chunks), 0, o.size - offsetof(bd_hdr, chunks));
    h->abi_major = BD_ABI_MAJOR;
    h->abi_minor = BD_ABI_MINOR;
    h->role = b->trainer_side ? BD_ROLE_TRAINER : BD_ROLE_NODE;
    h->rank = b->rank;
    h->size = b->size;
    h->trainer_rank = b->trainer;
    h->nlanes = nlanes;
    h->pid = (int32_t)getpid();
    memcpy(h->host, b->host, sizeof h->host);
    h->lanes_offset = sizeof(bd_hdr);
    h->peers_offset = sizeof(bd_hdr) + (uint64_t)nlanes * sizeof(bd_lane);
    h->npeers = (uint32_t)b->size;
    b->obj = h;
    b->lanes_tab = (bd_lane *)((uint8_t *)h + h->lanes_offset);
    b->peers = (bd_peer *)((uint8_t *)h + h->peers_offset);
    for (uint32_t i = 0; i < nlanes; i++)
        b->lanes_tab[i] = (bd_lane){.rank = -1, .node_lane = 0};
    for (int r = 0; r < b->size; r++)
        b->peers[r].rank = r;
    h->magic = BD_MAGIC;
    return SABRE_OK;
}

/* ---- create ----------------------------------------------------------------------- */

static void copy_name(char *dst, const char *src, const char *dflt)
{
    snprintf(dst, 48, "%s", src ? src : dflt);
}

int sabre_mpi_bridge_create(const sabre_mpi_bridge_desc_t *d, sabre_mpi_bridge_t **out)
{
    if (out)
        *out = NULL;
    if (!d || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_mpi_bridge_create: NULL argument");
    sabre_mpi_bridge_t *b = calloc(1, sizeof *b);
    if (!b)
        return sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
    /* a zeroed descriptor means MPI_COMM_WORLD too */
    MPI_Comm comm = d->comm == MPI_COMM_NULL || d->comm == (MPI_Comm)0 ? MPI_COMM_WORLD : d->comm;
    int rc = SABRE_OK, mrc;
    if ((mrc = MPI_Comm_dup(comm, &b->comm)) != MPI_SUCCESS) {
        free(b);
        return sabre__bd_mpi_fail(mrc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(b->comm, MPI_ERRORS_RETURN);
    b->credit_req = b->whdr_req = b->wdata_req = b->stop_req = b->thb_req = MPI_REQUEST_NULL;
    b->hb_req[0] = MPI_REQUEST_NULL;
    MPI_Comm_rank(b->comm, &b->rank);
    MPI_Comm_size(b->comm, &b->size);
    b->trainer = d->trainer_rank;
    b->region = d->region;
    b->batch = d->batch ? d->batch : 64;
    b->peer_timeout = d->peer_timeout_ns ? d->peer_timeout_ns : 10000000000ull;
    copy_name(b->ring_name, d->ring, "rollouts");
    copy_name(b->weights_name, d->weights, "policy");
    copy_name(b->obj_name, d->name, "bridge");
    gethostname(b->host, sizeof b->host - 1);
    /* the same checks on every rank, so every rank returns the same status */
    bool bad_args = b->trainer < 0 || b->trainer >= b->size || b->size < 2 || b->batch > 256;
    bd_hello me;
    b->trainer_side = b->rank == b->trainer;
    if (!bad_args && b->region) {
        open_local(b, &me);
    } else if (!bad_args) {
        memset(&me, 0, sizeof me);
        me.magic = BD_MAGIC;
        memcpy(me.host, b->host, sizeof me.host);
        hello_fail(&me, sabre__fail(SABRE_EINVAL, "bridge: no region (set-up failed)"));
    }
    bd_hello *all = calloc((size_t)b->size, sizeof *all);
    if (bad_args || !all) {
        free(all);
        rc = bad_args ? sabre__fail(SABRE_EINVAL,
                                    "bridge: trainer rank %d of %d ranks, batch %u (want a rank "
                                    "of >= 2 and a batch <= 256)",
                                    d->trainer_rank, b->size, b->batch)
                      : sabre__fail(SABRE_ENOMEM, "bridge: out of memory");
        sabre_mpi_bridge_close(b);
        return rc;
    }
    if ((mrc = MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, b->comm))) {
        free(all);
        sabre_mpi_bridge_close(b);
        return sabre__bd_mpi_fail(mrc, "handshake (MPI_Allgather)");
    }
    rc = verdict(b, all);
    const bd_hello *t = &all[b->trainer];
    b->stride = t->chunk_stride;
    b->wsize = t->has_weights ? t->weights_size : 0;
    b->cap_t = t->capacity;
    b->policy = t->policy;
    if (!rc) {
        /* trainer: one producer per remote lane; then everyone learns the outcome */
        struct {
            int32_t status;
            char detail[200];
        } res = {0, ""};
        if (b->trainer_side) {
            if (!(res.status = sabre__bd_trainer_start(b, all)) &&
                !(res.status = make_object(b, t->nproducers)))
                for (uint32_t i = 0; i < b->ntl; i++)
                    b->lanes_tab[b->tl[i].lane] =
                        (bd_lane){.rank = b->tl[i].rank, .node_lane = b->tl[i].node_lane};
            if (res.status)
                snprintf(res.detail, sizeof res.detail, "%s", sabre_last_error());
        } else {
            b->nl = me.nproducers;
            res.status = make_object(b, b->nl);
            if (res.status)
                snprintf(res.detail, sizeof res.detail, "%s", sabre_last_error());
        }
        int32_t worst = res.status, any = 0;
        MPI_Allreduce(&worst, &any, 1, MPI_INT32_T, MPI_MIN, b->comm);
        if (any) {
            /* the first rank with a failure tells everyone */
            int who = res.status ? b->rank : b->size, first = 0;
            MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, b->comm);
            MPI_Bcast(&res, sizeof res, MPI_BYTE, first, b->comm);
            rc = sabre__fail(res.status, "bridge: rank %d (host %s): %s", first, all[first].host,
                             res.detail);
        }
    }
    if (!rc)
        rc = measure_clocks(b);
    if (!rc && b->trainer_side) {
        for (int r = 0; r < b->size; r++)
            if (r != b->trainer)
                b->peers[r].lanes = all[r].nproducers;
        rc = sabre__bd_trainer_begin(b);
    } else if (!rc) {
        b->peers[b->rank].lanes = b->nl;
        rc = sabre__bd_node_start(b);
    }
    free(all);
    if (rc) {
        sabre_mpi_bridge_close(b);
        return rc;
    }
    b->last_hb_sent = sabre__now_ns();
    atomic_store(&b->obj->state, BD_STATE_RUNNING);
    *out = b;
    return SABRE_OK;
}

/* ---- poll, stop, close ------------------------------------------------------------------ */

int sabre_mpi_bridge_poll(sabre_mpi_bridge_t *b, uint64_t timeout_ns)
{
    if (!b)
        return sabre__fail(SABRE_EINVAL, "sabre_mpi_bridge_poll: NULL bridge");
    if (b->done)
        return SABRE_OK;
    uint64_t deadline = sabre__now_ns() + timeout_ns;
    for (;;) {
        int rc = b->trainer_side ? sabre__bd_trainer_poll(b) : sabre__bd_node_poll(b);
        bd_set(&b->obj->heartbeat_ns, sabre__now_ns());
        if (rc < 0) {
            atomic_store(&b->obj->state, BD_STATE_FAILED);
            return rc;
        }
        if (b->done) {
            atomic_store(&b->obj->state, BD_STATE_DONE);
            return SABRE_OK;
        }
        /* rc > 0: something moved; look again at once.  timeout 0 never
         * yields the CPU: the caller spins on MPI progress */
        if (rc == 0 && (timeout_ns == 0 || sabre__now_ns() >= deadline))
            return SABRE_OK;
        if (rc == 0)
            sched_yield();
    }
}

int sabre_mpi_bridge_stop(sabre_mpi_bridge_t *b)
{
    if (!b)
        return sabre__fail(SABRE_EINVAL, "sabre_mpi_bridge_stop: NULL bridge");
    if (!b->trainer_side)
        return sabre__fail(SABRE_ESTATE, "bridge: rank %d is not the trainer (rank %d)", b->rank,
                           b->trainer);
    b->stopping = true;
    return SABRE_OK;
}

bool sabre_mpi_bridge_done(const sabre_mpi_bridge_t *b)
{
    return b && b->done;
}

void sabre_mpi_bridge_close(sabre_mpi_bridge_t *b)
{
    if (!b)
        return;
    if (b->trainer_side)
        sabre__bd_trainer_free(b);
    else
        sabre__bd_node_free(b);
    if (b->obj && atomic_load(&b->obj->state) == BD_STATE_RUNNING)
        atomic_store(&b->obj->state, b->done ? BD_STATE_DONE : BD_STATE_FAILED);
    sabre_weights_reader_close(b->reader);
    sabre_ring_consumer_close(b->cons);
    sabre_weights_close(b->w);
    sabre_ring_close(b->ring);
    if (b->comm != MPI_COMM_NULL) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin)
            MPI_Comm_free(&b->comm);
    }
    free(b);
}

int sabre_mpi_bridge_stats(const sabre_mpi_bridge_t *b, sabre_mpi_bridge_stats_t *o)
{
    if (!b || !o)
        return sabre__fail(SABRE_EINVAL, "sabre_mpi_bridge_stats: NULL argument");
    const bd_hdr *h = b->obj;
    memset(o, 0, sizeof *o);
    o->rank = b->rank;
    o->size = b->size;
    o->trainer_rank = b->trainer;
    o->lanes = b->trainer_side ? b->ntl : b->nl;
#define LD(f) atomic_load_explicit(&h->f, memory_order_relaxed)
    o->chunks = LD(chunks);
    o->bytes = LD(bytes);
    o->messages = LD(messages);
    o->in_flight = LD(in_flight);
    o->dropped = LD(dropped);
    o->credit_waits = LD(credit_waits);
    o->left_at_stop = LD(left_at_stop);
    o->weights_sent = LD(weights_sent);
    o->weights_applied = LD(weights_applied);
    o->weights_version = LD(weights_version);
    o->clock_offset_ns = LD(clock_offset_ns);
    o->clock_err_ns = LD(clock_err_ns);
    o->lag_versions_max = LD(lag_versions_max);
    o->age_ns_last = LD(age_ns_last);
#undef LD
    return SABRE_OK;
}

int sabre_mpi_bridge_lane_source(const sabre_mpi_bridge_t *b, uint32_t lane, int *rank,
                                 uint32_t *node_lane)
{
    if (!b || !rank || !node_lane)
        return sabre__fail(SABRE_EINVAL, "sabre_mpi_bridge_lane_source: NULL argument");
    for (uint32_t i = 0; b->trainer_side && i < b->ntl; i++)
        if (b->tl[i].lane == lane) {
            *rank = b->tl[i].rank;
            *node_lane = b->tl[i].node_lane;
            return SABRE_OK;
        }
    return sabre__fail(SABRE_ENOENT, "bridge: trainer lane %u is not fed by the bridge", lane);
}
