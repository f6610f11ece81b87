/*
 * cmdbuf.c - command buffers: structural changes recorded during a tick, flushed at its end.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

/* --------------------------------------------------------- command buffer */

enum { CMD_CREATE = 1, CMD_DESTROY, CMD_ADD, CMD_REMOVE, CMD_SET };

typedef struct cmd_op {
    uint32_t op;
    sabre_component_t comp;
    sabre_entity_t e;
    uint64_t val_off; /* into arena; UINT64_MAX = no value */
} cmd_op_t;

struct sabre_cmd {
    sabre_world_t *w;
    uint32_t tag;
    cmd_op_t *ops;
    uint32_t nops, ops_cap;
    uint8_t *arena;
    uint64_t arena_len, arena_cap;
    sabre_entity_t *pending; /* pending serial -> real id */
    uint32_t npending, pending_cap;
    bool flushed; /* pending map belongs to the last flush */
};

void sabre__cmd_free_internal(sabre_cmd_t *c)
{
    if (!c)
        return;
    free(c->ops);
    free(c->arena);
    free(c->pending);
    free(c);
}

int sabre_cmd_new(sabre_world_t *w, sabre_cmd_t **out)
{
    if (!w || !out)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_new: NULL argument");
    int rc = sabre__grow((void **)&w->cmds, &w->cmds_cap, w->ncmds + 1, sizeof *w->cmds);
    if (rc)
        return rc;
    sabre_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return sabre__fail(SABRE_ENOMEM, "out of memory for a command buffer");
    c->w = w;
    c->tag = (uint32_t)(w->snap_seq++ & 0x7fffffffu);
    w->cmds[w->ncmds++] = c;
    *out = c;
    return SABRE_OK;
}

sabre_cmd_t *sabre_world_cmd(sabre_world_t *w)
{
    if (!w)
        return NULL;
    if (w->ncmds == 0) {
        sabre_cmd_t *c;
        if (sabre_cmd_new(w, &c))
            return NULL;
    }
    return w->cmds[0];
}

void sabre_cmd_free(sabre_cmd_t *c)
{
    if (!c)
        return;
    sabre_world_t *w = c->w;
    for (uint32_t i = 0; i < w->ncmds; i++) {
        if (w->cmds[i] == c) {
            memmove(&w->cmds[i], &w->cmds[i + 1], (w->ncmds - i - 1) * sizeof *w->cmds);
            w->ncmds--;
            break;
        }
    }
    sabre__cmd_free_internal(c);
}

static int cmd_push(sabre_cmd_t *c, uint32_t op, sabre_entity_t e, sabre_component_t comp,
                    const void *value, const char *fn)
{
    if (!c)
        return sabre__fail(SABRE_EINVAL, "%s: command buffer is NULL", fn);
    if (c->flushed) {
        c->npending = 0;
        c->flushed = false;
    }
    sabre_world_t *w = c->w;
    if (op == CMD_ADD || op == CMD_REMOVE || op == CMD_SET) {
        int rc = check_comp(w, comp, fn);
        if (rc)
            return rc;
        if (op == CMD_SET && w->comps[comp].size && !value)
            return sabre__fail(SABRE_EINVAL, "%s: value is NULL", fn);
    }
    if (e & SABRE_ENTITY_PENDING_BIT) {
        uint32_t tag = (uint32_t)(e >> 32) & 0x7fffffffu;
        if (tag != c->tag || SABRE_ENTITY_INDEX(e) >= c->npending)
            return sabre__fail(SABRE_EINVAL,
                               "%s: pending id %016llx does not come from this "
                               "command buffer",
                               fn, (unsigned long long)e);
    }
    int rc = sabre__grow((void **)&c->ops, &c->ops_cap, c->nops + 1, sizeof *c->ops);
    if (rc)
        return rc;
    uint64_t voff = UINT64_MAX;
    uint32_t size = (op == CMD_ADD || op == CMD_SET) && value ? w->comps[comp].size : 0;
    if (size) {
        uint64_t need = SABRE_ALIGN_UP(c->arena_len, 16) + size;
        if (need > c->arena_cap) {
            uint64_t ncap = c->arena_cap ? c->arena_cap * 2 : 4096;
            while (ncap < need)
                ncap *= 2;
            uint8_t *a = realloc(c->arena, ncap);
            if (!a)
                return sabre__fail(SABRE_ENOMEM, "out of memory in a command buffer");
            c->arena = a;
            c->arena_cap = ncap;
        }
        voff = SABRE_ALIGN_UP(c->arena_len, 16);
        memcpy(c->arena + voff, value, size);
        c->arena_len = voff + size;
    }
    c->ops[c->nops++] = (cmd_op_t){.op = op, .comp = comp, .e = e, .val_off = voff};
    return SABRE_OK;
}

int sabre_cmd_create(sabre_cmd_t *c, sabre_entity_t *pending)
{
    if (!c || !pending)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_create: NULL argument");
    if (c->flushed) {
        c->npending = 0;
        c->flushed = false;
    }
    int rc =
        sabre__grow((void **)&c->pending, &c->pending_cap, c->npending + 1, sizeof *c->pending);
    if (rc)
        return rc;
    uint32_t k = c->npending++;
    c->pending[k] = SABRE_ENTITY_NULL;
    sabre_entity_t p = SABRE_ENTITY_PENDING_BIT | (uint64_t)c->tag << 32 | k;
    if ((rc = cmd_push(c, CMD_CREATE, p, 0, NULL, "sabre_cmd_create"))) {
        c->npending--;
        return rc;
    }
    *pending = p;
    return SABRE_OK;
}

int sabre_cmd_destroy(sabre_cmd_t *c, sabre_entity_t e)
{
    return cmd_push(c, CMD_DESTROY, e, 0, NULL, "sabre_cmd_destroy");
}
int sabre_cmd_add(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp, const void *value)
{
    return cmd_push(c, CMD_ADD, e, comp, value, "sabre_cmd_add");
}
int sabre_cmd_remove(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp)
{
    return cmd_push(c, CMD_REMOVE, e, comp, NULL, "sabre_cmd_remove");
}
int sabre_cmd_set(sabre_cmd_t *c, sabre_entity_t e, sabre_component_t comp, const void *value)
{
    return cmd_push(c, CMD_SET, e, comp, value, "sabre_cmd_set");
}
uint32_t sabre_cmd_count(const sabre_cmd_t *c)
{
    return c ? c->nops : 0;
}

sabre_entity_t sabre_cmd_resolve(const sabre_cmd_t *c, sabre_entity_t p)
{
    if (!c || !(p & SABRE_ENTITY_PENDING_BIT))
        return p;
    uint32_t tag = (uint32_t)(p >> 32) & 0x7fffffffu;
    if (tag != c->tag || SABRE_ENTITY_INDEX(p) >= c->npending)
        return SABRE_ENTITY_NULL;
    return c->pending[SABRE_ENTITY_INDEX(p)];
}

int sabre_cmd_flush(sabre_cmd_t *c, uint32_t *failed)
{
    if (!c)
        return sabre__fail(SABRE_EINVAL, "sabre_cmd_flush: command buffer is NULL");
    sabre_world_t *w = c->w;
    int first = SABRE_OK;
    char msg[400];
    msg[0] = '\0'; /* only read after a failure: no need to clear it all */
    uint32_t nfail = 0;
    /* Commands may be recorded by hooks while flushing: walk by index. */
    for (uint32_t i = 0; i < c->nops; i++) {
        cmd_op_t op = c->ops[i];
        sabre_entity_t e = op.e;
        int rc = SABRE_OK;
        if (op.op != CMD_CREATE && (e & SABRE_ENTITY_PENDING_BIT)) {
            e = c->pending[SABRE_ENTITY_INDEX(e)];
            if (e == SABRE_ENTITY_NULL)
                rc = sabre__fail(SABRE_ESTALE, "pending entity was not created");
        }
        const void *val = op.val_off == UINT64_MAX ? NULL : c->arena + op.val_off;
        if (rc == SABRE_OK) {
            switch (op.op) {
            case CMD_CREATE: {
                sabre_entity_t ne = SABRE_ENTITY_NULL;
                rc = sabre_entity_create(w, &ne);
                c->pending[SABRE_ENTITY_INDEX(op.e)] = ne;
                break;
            }
            case CMD_DESTROY:
                rc = sabre_entity_destroy(w, e);
                break;
            case CMD_ADD:
                rc = sabre_add(w, e, op.comp, val);
                break;
            case CMD_REMOVE:
                rc = sabre_remove(w, e, op.comp);
                break;
            default:
                rc = sabre_set(w, e, op.comp, val);
                break;
            }
        }
        if (rc) {
            nfail++;
            if (!first) {
                first = rc;
                snprintf(msg, sizeof msg, "command %u: %s", i, sabre_last_error());
            }
        }
    }
    c->nops = 0;
    c->arena_len = 0;
    c->flushed = true;
    if (failed)
        *failed = nfail;
    if (first)
        return sabre__fail(first, "%u of the flushed commands failed; first: %s", nfail, msg);
    return SABRE_OK;
}
