/*
 * transfer.c - transfer mode (handles and memfds moved to workers and back) and native views of
 * table chunks. The column-set byte layout (shared with table chunks) is in docs/abi.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshot/snapshot_internal.h"

/* --------------------------------------------------------- transfer mode */

int sabre_snapshot_transfer(sabre_snapshot_t *s, sabre_snapshot_t **moved)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_transfer");
    if (rc)
        return rc;
    if (!moved)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_transfer: moved is NULL");
    if (s->mode != SABRE_SNAP_TRANSFER || !s->own_region)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_transfer: snapshot '%s' is not a "
                           "TRANSFER snapshot owning its buffers",
                           s->name);
    sabre_snapshot_t *m = calloc(1, sizeof *m);
    if (!m)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    sabre__strlcpy(m->name, s->name, sizeof m->name);
    if ((rc = sabre__snap_attach(m, s->base, s->obj_size, SABRE_COLSET_SNAP_MAGIC))) {
        free(m);
        return rc;
    }
    m->rows = s->rows;
    m->opened = true;
    m->region = s->region;
    m->own_region = true;
    m->backing = s->backing;
    s->region = NULL;
    s->own_region = false;
    s->detached = true;
    *moved = m;
    return SABRE_OK;
}

int sabre_snapshot_give_back(sabre_snapshot_t *s, sabre_snapshot_t *m)
{
    if (!s || !m)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_give_back: NULL argument");
    if (!s->detached)
        return sabre__fail(SABRE_ESTATE, "sabre_snapshot_give_back: snapshot '%s' is not detached",
                           s->name);
    if (m->detached || !m->own_region)
        return sabre__fail(SABRE_EDETACHED, "sabre_snapshot_give_back: the returned handle does "
                                            "not hold the buffers");
    if (m->uid != s->uid)
        return sabre__fail(SABRE_ESTALE,
                           "sabre_snapshot_give_back: returned buffers belong to "
                           "snapshot %016llx, not %016llx",
                           (unsigned long long)m->uid, (unsigned long long)s->uid);
    int rc = sabre__snap_attach(s, m->base, m->obj_size, SABRE_COLSET_SNAP_MAGIC);
    if (rc)
        return rc;
    s->region = m->region;
    s->own_region = true;
    s->detached = false;
    m->region = NULL;
    m->own_region = false;
    sabre_snapshot_free(m);
    return SABRE_OK;
}

int sabre_snapshot_send(sabre_snapshot_t *s, int sock)
{
    int rc = sabre__snap_check_attached(s, "sabre_snapshot_send");
    if (rc)
        return rc;
    if (s->mode != SABRE_SNAP_TRANSFER || !s->own_region || sabre_region_fd(s->region) < 0)
        return sabre__fail(SABRE_EINVAL,
                           "sabre_snapshot_send: snapshot '%s' must be a TRANSFER "
                           "snapshot in its own MEMFD region",
                           s->name);
    snap_msg_t msg = {.magic = SNAP_MSG_MAGIC, .uid = s->uid};
    sabre__strlcpy(msg.name, s->name, sizeof msg.name);
    if ((rc = sabre_fd_send(sock, sabre_region_fd(s->region), &msg, sizeof msg)))
        return rc;
    sabre_region_close(s->region);
    s->region = NULL;
    s->own_region = false;
    s->detached = true;
    /* What comes back is a new mapping written by another process: commit
     * it through the entity ids (slow path), never the recorded blocks. */
    s->blocks_valid = false;
    return SABRE_OK;
}

static int recv_snapshot(int sock, sabre_snapshot_t *s)
{
    int fd = -1;
    snap_msg_t msg;
    size_t len = 0;
    int rc = sabre_fd_recv(sock, &fd, &msg, sizeof msg, &len);
    if (rc)
        return rc;
    if (len != sizeof msg || msg.magic != SNAP_MSG_MAGIC || fd < 0) {
        if (fd >= 0)
            close(fd);
        return sabre__fail(SABRE_ECORRUPT,
                           "snapshot message: %zu bytes, magic %016llx: not a "
                           "snapshot transfer",
                           len, (unsigned long long)(len >= 8 ? msg.magic : 0));
    }
    msg.name[SABRE_NAME_MAX - 1] = '\0';
    sabre_region_t *r;
    rc = sabre_region_open_fd(fd, 0, &r);
    close(fd);
    if (rc)
        return rc;
    sabre_object_t obj;
    if ((rc = sabre_region_find(r, msg.name, NULL, &obj))) {
        sabre_region_close(r);
        return rc;
    }
    sabre__strlcpy(s->name, msg.name, sizeof s->name);
    if (obj.kind != SABRE_OBJ_SNAPSHOT) {
        sabre_region_close(r);
        return sabre__fail(SABRE_ECORRUPT, "received object '%s' is not a snapshot", msg.name);
    }
    sabre_snapshot_t tmp = {0};
    sabre__strlcpy(tmp.name, msg.name, sizeof tmp.name);
    if ((rc = sabre__snap_attach(&tmp, obj.ptr, obj.size, SABRE_COLSET_SNAP_MAGIC))) {
        sabre_region_close(r);
        return rc;
    }
    if (tmp.uid != msg.uid) {
        sabre__snap_handle_free_arrays(&tmp);
        sabre_region_close(r);
        return sabre__fail(SABRE_ECORRUPT,
                           "received snapshot id %016llx differs from the "
                           "message's %016llx",
                           (unsigned long long)tmp.uid, (unsigned long long)msg.uid);
    }
    if (s->uid && s->uid != tmp.uid) {
        sabre__snap_handle_free_arrays(&tmp);
        sabre_region_close(r);
        return sabre__fail(SABRE_ESTALE, "received snapshot %016llx, expected %016llx",
                           (unsigned long long)tmp.uid, (unsigned long long)s->uid);
    }
    sabre__snap_handle_free_arrays(s);
    s->comps = tmp.comps;
    s->cols = tmp.cols;
    s->elem = tmp.elem;
    s->types = tmp.types;
    s->layout_col = tmp.layout_col;
    s->col_names = tmp.col_names;
    s->base = tmp.base;
    s->obj_size = tmp.obj_size;
    s->ncomps = tmp.ncomps;
    s->ncols = tmp.ncols;
    s->capacity = tmp.capacity;
    s->rows = tmp.rows;
    s->ents = tmp.ents;
    s->uid = tmp.uid;
    s->world_id = tmp.world_id;
    s->mode = tmp.mode;
    s->region = r;
    s->own_region = true;
    s->backing = SABRE_BACKING_MEMFD;
    s->detached = false;
    s->blocks_valid = false;
    return SABRE_OK;
}

int sabre_snapshot_recv(int sock, sabre_snapshot_t **out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_recv: out is NULL");
    *out = NULL;
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    int rc = recv_snapshot(sock, s);
    if (rc) {
        free(s);
        return rc;
    }
    s->opened = true;
    *out = s;
    return SABRE_OK;
}

int sabre_snapshot_reattach(sabre_snapshot_t *s, int sock)
{
    if (!s)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_reattach: snapshot is NULL");
    if (!s->detached)
        return sabre__fail(SABRE_ESTATE, "sabre_snapshot_reattach: snapshot '%s' is not detached",
                           s->name);
    return recv_snapshot(sock, s);
}

/* ----------------------------------------------------------- native view */

int sabre_snapshot_view(sabre_world_t *w, uint32_t table, uint32_t chunk, uint32_t first,
                        uint32_t count, sabre_snapshot_t **out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_snapshot_view: NULL argument");
    *out = NULL;
    if (table >= w->ntables || chunk >= w->tables[table]->nchunks)
        return sabre__fail(SABRE_ENOENT, "sabre_snapshot_view: no chunk %u of table %u", chunk,
                           table);
    ecs_chunk_t *ch = w->tables[table]->chunks[chunk];
    if (first > ch->count || count > ch->count - first)
        return sabre__fail(SABRE_ERANGE,
                           "sabre_snapshot_view: rows [%u, %u) outside the chunk's "
                           "%u rows",
                           first, first + count, ch->count);
    sabre_snapshot_t *s = calloc(1, sizeof *s);
    if (!s)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    snprintf(s->name, sizeof s->name, "%s", ch->obj.name);
    int rc = sabre__snap_attach(s, ch->obj.ptr, ch->obj.size, SABRE_COLSET_CHUNK_MAGIC);
    if (rc) {
        free(s);
        return rc;
    }
    sabre__snap_narrow_to_view(s, first, count);
    s->region = w->region;
    s->own_region = false;
    sabre__snap_link(w, s);
    *out = s;
    return SABRE_OK;
}
