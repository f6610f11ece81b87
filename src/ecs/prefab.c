/*
 * prefab.c - prefabs: component values by steps, spawned N at a time.
 * docs/ecs.md explains the model; docs/abi.md the chunk byte layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ecs/table.h"

/* ---------------------------------------------------------------- prefabs */

struct sabre_prefab {
    sabre_world_t *w;
    char name[SABRE_NAME_MAX];
    uint32_t nsteps;
    sabre_prefab_step_t *steps; /* value points into values */
    uint8_t *values;
    uint32_t table;
    int32_t *step_ci; /* step -> table component index */
};

void sabre__prefab_free_internal(sabre_prefab_t *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->values);
    free(p->step_ci);
    free(p);
}

int sabre_prefab_create(sabre_world_t *w, const char *name, const sabre_prefab_step_t *steps,
                        uint32_t nsteps, sabre_prefab_t **out)
{
    if (!w || !out || (nsteps && !steps))
        return sabre__fail(SABRE_EINVAL, "sabre_prefab_create: NULL argument");
    *out = NULL;
    uint32_t tid = 0;
    uint64_t vbytes = 0;
    int rc;
    for (uint32_t i = 0; i < nsteps; i++) {
        if ((rc = check_comp(w, steps[i].comp, "sabre_prefab_create")))
            return rc;
        sabre_component_t c = steps[i].comp;
        bool twice = w->tables[tid]->mask[c >> 6] >> (c & 63) & 1;
        for (uint32_t j = 0; j < i && w->comps[c].sp; j++)
            twice |= steps[j].comp == c;
        if (twice)
            return sabre__fail(SABRE_EINVAL, "prefab '%s': component '%s' appears twice",
                               name ? name : "", w->comps[c].name);
        vbytes += SABRE_ALIGN_UP((uint64_t)w->comps[c].size, 16);
        if (w->comps[c].sp)
            continue; /* sparse: joins its set at spawn, not the table */
        ecs_edge_t *e;
        if ((rc = sabre__edge_get(w, tid, c, 1, &e)))
            return rc;
        tid = e->dst;
    }
    if ((rc = sabre__grow((void **)&w->prefabs, &w->prefabs_cap, w->nprefabs + 1,
                          sizeof *w->prefabs)))
        return rc;
    sabre_prefab_t *p = calloc(1, sizeof *p);
    if (!p)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    p->steps = calloc(nsteps ? nsteps : 1, sizeof *p->steps);
    p->values = malloc(vbytes ? vbytes : 1);
    p->step_ci = calloc(nsteps ? nsteps : 1, sizeof *p->step_ci);
    if (!p->steps || !p->values || !p->step_ci) {
        sabre__prefab_free_internal(p);
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    }
    p->w = w;
    sabre__strlcpy(p->name, name ? name : "", sizeof p->name);
    p->nsteps = nsteps;
    p->table = tid;
    uint64_t off = 0;
    for (uint32_t i = 0; i < nsteps; i++) {
        p->steps[i] = steps[i];
        uint32_t size = w->comps[steps[i].comp].size;
        if (size && steps[i].value) {
            memcpy(p->values + off, steps[i].value, size);
            p->steps[i].value = p->values + off;
            off += SABRE_ALIGN_UP((uint64_t)size, 16);
        } else {
            p->steps[i].value = NULL;
        }
        p->step_ci[i] = sabre__table_comp_index(w->tables[tid], steps[i].comp);
    }
    w->prefabs[w->nprefabs++] = p;
    *out = p;
    return SABRE_OK;
}

void sabre_prefab_destroy(sabre_prefab_t *p)
{
    if (!p)
        return;
    sabre_world_t *w = p->w;
    for (uint32_t i = 0; i < w->nprefabs; i++) {
        if (w->prefabs[i] == p) {
            w->prefabs[i] = w->prefabs[--w->nprefabs];
            break;
        }
    }
    sabre__prefab_free_internal(p);
}

int sabre_prefab_spawn(sabre_world_t *w, const sabre_prefab_t *p, uint64_t n,
                       const sabre_prefab_override_t *ov, uint32_t nov, sabre_entity_t *out)
{
    if (!w || !p || (nov && !ov))
        return sabre__fail(SABRE_EINVAL, "sabre_prefab_spawn: NULL argument");
    if (p->w != w)
        return sabre__fail(SABRE_EINVAL, "prefab '%s' belongs to another world", p->name);
    const void *stackv[32] = {0};
    const void **ovals = p->nsteps <= 32 ? stackv : calloc(p->nsteps, sizeof *ovals);
    if (!ovals)
        return sabre__fail(SABRE_ENOMEM, "out of memory");
    for (uint32_t s = 0; s < p->nsteps; s++)
        ovals[s] = NULL;
    int rc = SABRE_OK;
    for (uint32_t i = 0; i < nov && rc == SABRE_OK; i++) {
        uint32_t s = 0;
        while (s < p->nsteps && p->steps[s].comp != ov[i].comp)
            s++;
        if (s == p->nsteps)
            rc = sabre__fail(SABRE_EINVAL,
                             "prefab '%s': override of component %u ('%s') that "
                             "is not a step",
                             p->name, ov[i].comp,
                             ov[i].comp < w->ncomps ? w->comps[ov[i].comp].name : "?");
        else
            ovals[s] = ov[i].value;
    }
    uint32_t maxsize = 0;
    for (uint32_t s = 0; s < p->nsteps; s++)
        maxsize = SABRE_MAX(maxsize, w->comps[p->steps[s].comp].size);
    uint8_t *buf = rc ? NULL : malloc(maxsize ? maxsize : 1);
    if (!rc && !buf)
        rc = sabre__fail(SABRE_ENOMEM, "out of memory");
    bool hooks = false;
    for (uint32_t s = 0; s < p->nsteps; s++)
        if (w->comps[p->steps[s].comp].on_add)
            hooks = true;
    sabre_entity_t *ids = out;
    if (!rc && hooks && !ids) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        if (!ids)
            rc = sabre__fail(SABRE_ENOMEM, "out of memory");
    }
    uint64_t made = 0;
    ecs_table_t *t = w->tables[p->table];
    for (; rc == SABRE_OK && made < n; made++) {
        sabre_entity_t e = SABRE_ENTITY_NULL;
        if ((rc = sabre__place_new(w, p->table, NULL, &e)))
            break;
        ecs_record_t *r = &w->records[SABRE_ENTITY_INDEX(e)];
        ecs_chunk_t *ch = t->chunks[r->chunk];
        for (uint32_t s = 0; s < p->nsteps; s++) {
            const sabre_prefab_step_t *st = &p->steps[s];
            if (!w->comps[st->comp].ncols && p->step_ci[s] >= 0)
                continue;
            const void *v = ovals[s];
            if (!w->comps[st->comp].ncols) {
                v = NULL; /* a sparse tag */
            } else if (!v && st->fn) {
                memset(buf, 0, w->comps[st->comp].size);
                st->fn(made, buf, st->ctx);
                v = buf;
            }
            if (!v && w->comps[st->comp].ncols)
                v = st->value;
            if (p->step_ci[s] < 0) {
                if ((rc = sparse_insert(&w->comps[st->comp], e, v)))
                    break;
            } else if (v) {
                pack_value(w, t, ch, (uint32_t)p->step_ci[s], r->row, v);
            }
        }
        if (rc) {
            sabre__entity_destroy_quiet(w, e);
            break;
        }
        if (ids)
            ids[made] = e;
    }
    if (hooks && ids)
        for (uint64_t i = 0; i < made; i++)
            for (uint32_t s = 0; s < p->nsteps; s++)
                if (w->comps[p->steps[s].comp].on_add)
                    sabre__run_on_add(w, ids[i], p->steps[s].comp);
    if (ids != out)
        free(ids);
    free(buf);
    if (ovals != stackv)
        free(ovals);
    return rc;
}
