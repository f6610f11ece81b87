/*
 * bridge_internal.h - the MPI bridge's handle and what its files share
 * (not public API).  Protocol: docs/distributed.md.
 */
#ifndef SABRE_MPI_BRIDGE_INTERNAL_H
#define SABRE_MPI_BRIDGE_INTERNAL_H

#include "core/internal.h"
#include "mpi/bridge_abi.h"
#include "sabre/mpi.h"

#define BD_MSG_MAX   64           /* chunk messages a node has in flight */
#define BD_BATCH_MAX 128          /* batches a node holds */
#define BD_HB_NS     100000000ull /* heartbeat period */
#define BD_LANE_MSGS 32           /* messages of a lane one trainer claim receives at once */

/* Node: a consumed batch, handled chunk by chunk (sent or dropped). */
typedef struct bd_batch {
    sabre_ring_batch_t b;
    uint32_t next;    /* chunks handled */
    uint32_t pending; /* messages of it in flight */
    bool used;
} bd_batch;

/* Node: one chunk message in flight (meta + payload). */
typedef struct bd_msg {
    MPI_Request req[2];
    int batch;
    uint32_t n;
    bool used;
    _Alignas(8) uint8_t meta[BD_META_MAX];
} bd_msg;

/* Node: one of its ring's lanes. */
typedef struct bd_nlane {
    uint64_t sent;       /* next trainer lane position */
    uint64_t credit_end; /* may send positions < credit_end */
    bool credited;
    int fifo[BD_BATCH_MAX]; /* held batches in lane order */
    uint32_t fifo_head, fifo_len;
} bd_nlane;

/* Trainer: a queued chunk message of a remote lane. */
typedef struct bd_qmeta {
    struct bd_qmeta *next;
    size_t len;
    uint8_t bytes[];
} bd_qmeta;

/* Trainer: a remote lane = one producer on the trainer ring. */
typedef struct bd_tlane {
    int rank;
    uint32_t node_lane;
    sabre_ring_producer_t *prod;
    uint32_t lane;    /* trainer lane (producer index) */
    uint64_t pos;     /* committed end in the trainer lane */
    uint64_t granted; /* credit end sent to the node */
    bool busy;        /* a claim is outstanding, its payloads being received */
    sabre_ring_claim_t claim;
    uint32_t ncur;                 /* messages the claim receives */
    bd_qmeta *cur[BD_LANE_MSGS];   /* their headers */
    MPI_Request req[BD_LANE_MSGS]; /* their payload receives */
    bd_qmeta *qhead, *qtail;       /* headers waiting for the next claim */
} bd_tlane;

/* Trainer: per node. */
typedef struct bd_node {
    int rank;
    char host[64];
    uint32_t lanes, first_lane; /* its lanes are tl[first_lane .. first_lane + lanes) */
    MPI_Request meta_req, hb_req, done_req;
    _Alignas(8) uint8_t meta_buf[BD_META_MAX];
    bd_report hb, done_rep;
    bool done;
    uint64_t last_heard;
    uint64_t messages; /* chunk messages received and committed */
    bd_credit credit_out[256];
    MPI_Request credit_req, stop_req; /* stop_req: heartbeats, then the stop */
} bd_node;

struct sabre_mpi_bridge {
    MPI_Comm comm;
    int rank, size, trainer;
    bool trainer_side;
    char host[64];
    char ring_name[48], weights_name[48], obj_name[48];
    sabre_region_t *region;
    sabre_ring_t *ring;
    sabre_weights_t *w;
    uint64_t stride, wsize;
    uint32_t cap_t; /* trainer ring capacity */
    uint32_t batch;
    uint32_t policy; /* the trainer ring's */
    uint64_t peer_timeout;
    bd_hdr *obj;
    bd_lane *lanes_tab;
    bd_peer *peers;
    bool stopping, done;
    uint64_t last_hb_sent;
    MPI_Request hb_req[1];
    bd_report hb_out;
    /* node */
    sabre_ring_consumer_t *cons;
    uint32_t nl;
    bd_nlane *nlanes;
    bd_batch batches[BD_BATCH_MAX];
    bd_msg *msgs;
    uint64_t last_heard_trainer;
    int64_t offset; /* trainer clock - node clock */
    MPI_Request credit_req, whdr_req, wdata_req, stop_req, thb_req;
    bd_credit credit_buf[256];
    bd_whdr whdr_in;
    uint64_t thb_in[2];
    void *wbuf; /* begun slot of the node weights */
    bool wposted, stop_seen;
    int stop_in;
    /* trainer */
    bd_node *nodes;
    bd_tlane *tl;
    uint32_t ntl;
    sabre_weights_reader_t *reader;
    bool wsending;
    MPI_Request *wreq;
    bd_whdr whdr_out;
    uint64_t wsent_version;
    bool stop_sent;
};

static inline void bd_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void bd_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

int sabre__bd_mpi_fail(int mpirc, const char *what);
int sabre__bd_node_poll(sabre_mpi_bridge_t *b);
int sabre__bd_trainer_poll(sabre_mpi_bridge_t *b);
int sabre__bd_node_start(sabre_mpi_bridge_t *b);
int sabre__bd_trainer_start(sabre_mpi_bridge_t *b, const bd_hello *all);
int sabre__bd_trainer_begin(sabre_mpi_bridge_t *b);
void sabre__bd_node_free(sabre_mpi_bridge_t *b);
void sabre__bd_trainer_free(sabre_mpi_bridge_t *b);

#endif
