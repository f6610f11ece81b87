// SABRE_TEST_LABELS: unit process
/*
 * Handles across fork() (sabre/region.h, "fork()"): a child keeps using the
 * inherited MEMFD region and object handles - its writes are the parent's
 * memory, and its closing them does not affect the parent - while a PRIVATE
 * region becomes the child's own copy.  Role handles opened in the child
 * (a ring producer, a weights reader) register the child's pid.  Also:
 * sabre_chunk_field finds a ring array by name.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sabre/ring.h"
#include "sabre/weights.h"

#define ROWS 1024

static int child_status(pid_t pid)
{
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_region_fork_memfd_shared_private_copied(void)
{
    for (int b = 0; b < 2; b++) {
        sabre_backing_t backing = b ? SABRE_BACKING_PRIVATE : SABRE_BACKING_MEMFD;
        sabre_region_t *r;
        CHECK_OK(
            sabre_region_create(&(sabre_region_desc_t){.backing = backing, .size = 1u << 20}, &r));
        sabre_object_t obj;
        CHECK_OK(sabre_region_alloc(
            r, &(sabre_object_desc_t){.name = "data", .size = ROWS * sizeof(uint32_t)}, &obj));
        pid_t pid = fork();
        if (pid == 0) {
            /* the inherited handles: write through the object, find it again */
            uint32_t *v = obj.ptr;
            for (uint32_t i = 0; i < ROWS; i++)
                v[i] = i * 7u + 1u;
            sabre_object_t again;
            int ok = sabre_region_find(r, "data", NULL, &again) == SABRE_OK && again.ptr == obj.ptr;
            sabre_region_close(r);
            _exit(ok ? 0 : 1);
        }
        CHECK_EQ(child_status(pid), 0);
        const uint32_t *v = obj.ptr; /* the parent's handle still works */
        uint32_t same = 0;
        for (uint32_t i = 0; i < ROWS; i++)
            same += v[i] == i * 7u + 1u;
        CHECK_EQ(same, backing == SABRE_BACKING_MEMFD ? ROWS : 0);
        sabre_object_t again;
        CHECK_OK(sabre_region_find(r, "data", NULL, &again));
        sabre_region_close(r);
    }
}

static void test_region_fork_role_handles_opened_in_child(void)
{
    sabre_region_t *r;
    CHECK_OK(sabre_region_create(
        &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 4u << 20}, &r));
    sabre_ring_t *ring;
    CHECK_OK(sabre_ring_create(
        r, &(sabre_ring_desc_t){.name = "ring", .record_size = 64, .capacity = 4, .producers = 2},
        &ring));
    sabre_weights_t *w;
    CHECK_OK(sabre_weights_create(r, &(sabre_weights_desc_t){.name = "w", .size = 16}, &w));
    uint32_t wt[4] = {11, 22, 33, 44};
    CHECK_OK(sabre_weights_publish(w, wt, sizeof wt, NULL, 0, NULL));
    pid_t pid = fork();
    if (pid == 0) {
        /* the object handles are inherited; the role handles are the child's */
        sabre_ring_producer_t *p;
        sabre_weights_reader_t *rd;
        sabre_weights_view_t view;
        sabre_ring_claim_t claim;
        if (sabre_ring_producer_open(ring, &p) || sabre_weights_reader_open(w, &rd) ||
            sabre_weights_adopt(rd, NULL, &view) || ((const uint32_t *)view.data)[3] != 44 ||
            sabre_ring_claim(p, 1, 0, &claim))
            _exit(1);
        ((uint32_t *)claim.data)[0] = (uint32_t)getpid();
        _exit(sabre_ring_commit(p, &claim) ? 1 : 0); /* exits without closing them */
    }
    CHECK_EQ(child_status(pid), 0);
    sabre_ring_consumer_t *c;
    CHECK_OK(sabre_ring_consumer_open(ring, &c));
    sabre_ring_batch_t batch;
    CHECK_OK(sabre_ring_consume(c, 1, 0, &batch));
    CHECK_EQ(((const uint32_t *)batch.data)[0], (uint32_t)pid);
    /* fields by name: a raw ring has one, "data" */
    CHECK(sabre_chunk_field(ring, batch.chunks, "data") == batch.data);
    CHECK(sabre_chunk_field(ring, batch.chunks, "obs") == NULL);
    CHECK(sabre_chunk_field(ring, batch.chunks, NULL) == NULL);
    CHECK_OK(sabre_ring_release(c, &batch));
    sabre_ring_producer_info_t pi;
    CHECK_OK(sabre_ring_producer_at(ring, 0, &pi));
    CHECK_EQ(pi.pid, pid); /* the child's record, and it is known dead */
    CHECK(!pi.alive);
    sabre_weights_reader_info_t ri;
    CHECK_OK(sabre_weights_reader_at(w, 0, &ri));
    CHECK_EQ(ri.pid, pid);
    CHECK(!ri.alive);
    sabre_ring_consumer_close(c);
    sabre_weights_close(w);
    sabre_ring_close(ring);
    sabre_region_close(r);
}

int main(void)
{
    test_region_fork_memfd_shared_private_copied();
    test_region_fork_role_handles_opened_in_child();
    return check_done();
}
