/*
 * sabre_js.c - the thin C layer the JavaScript package calls (compiled only
 * into the WebAssembly module, build/wasm/).  Like sqlite's sqlite3-wasm.c it
 * turns descriptor structs into flat arguments JS can pass: 64-bit sizes and
 * timeouts as doubles (the JS side checks they are integers below 2^53;
 * Infinity means UINT64_MAX), strings as pointers into the module memory,
 * several results as u32 words written to an `out` array.  It uses the public
 * API only.  Every function returning int returns a sabre status; the message
 * is sabre_js_last_error() read right after, on the same thread.  Strings
 * returned as char * (JSON) are malloc'ed: the caller frees them with free().
 */
#include <emscripten.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sabre/sabre.h"

#define JS EMSCRIPTEN_KEEPALIVE

static uint64_t u64_of(double d)
{
    return d == INFINITY ? UINT64_MAX : (uint64_t)d;
}

JS const char *sabre_js_last_error(void)
{
    return sabre_last_error();
}

JS const char *sabre_js_status_name(int st)
{
    return sabre_status_name(st);
}

/* ---- schemas ---- */

/* out[0] schema pointer; on SABRE_ESCHEMA out[1] line, out[2] column and
 * the message in sabre_js_last_error(). */
JS int sabre_js_schema_compile(const char *text, uint32_t len, uint32_t *out)
{
    sabre_schema_t *s = NULL;
    sabre_schema_error_t err;
    memset(&err, 0, sizeof err);
    int st = sabre_schema_compile(text, len, &s, &err);
    out[0] = (uint32_t)(uintptr_t)s;
    out[1] = err.line;
    out[2] = err.column;
    return st;
}

/* The schema as `sabre schema --json` prints it (malloc'ed, NULL on error). */
JS char *sabre_js_schema_json(const sabre_schema_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    int st = sabre_schema_print(s, f, true);
    fclose(f);
    if (st) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- regions ---- */

JS int sabre_js_region_create(int backing, const char *name, double size, uint32_t max_objects,
                              uint32_t flags, uint32_t *out)
{
    sabre_region_t *r = NULL;
    int st = sabre_region_create(&(sabre_region_desc_t){.backing = (sabre_backing_t)backing,
                                                        .name = name,
                                                        .size = u64_of(size),
                                                        .max_objects = max_objects,
                                                        .flags = flags},
                                 &r);
    out[0] = (uint32_t)(uintptr_t)r;
    return st;
}

JS int sabre_js_region_open(int backing, const char *name, uint32_t flags, uint32_t *out)
{
    sabre_region_t *r = NULL;
    int st = sabre_region_open(
        &(sabre_region_desc_t){.backing = (sabre_backing_t)backing, .name = name, .flags = flags},
        &r);
    out[0] = (uint32_t)(uintptr_t)r;
    return st;
}

/* out: [0] base, [1] size (bytes, < 4 GiB on wasm). */
JS void sabre_js_region_geometry(const sabre_region_t *r, uint32_t *out)
{
    out[0] = (uint32_t)(uintptr_t)sabre_region_base(r);
    out[1] = (uint32_t)sabre_region_size(r);
}

static void object_out(const sabre_object_t *o, uint32_t *out)
{
    out[0] = o->index;
    out[1] = o->kind;
    out[2] = (uint32_t)(uintptr_t)o->ptr;
    out[3] = (uint32_t)o->size;
    out[4] = (uint32_t)o->offset;
    out[5] = (uint32_t)(uintptr_t)o->layout_text;
    out[6] = (uint32_t)o->layout_len;
}

/* out: index, kind, ptr, size, offset, layout text pointer, its length. */
JS int sabre_js_region_alloc(sabre_region_t *r, const char *name, uint32_t kind, double size,
                             const char *layout_text, uint32_t *out)
{
    sabre_object_t o;
    int st = sabre_region_alloc(
        r,
        &(sabre_object_desc_t){
            .name = name, .kind = kind, .size = u64_of(size), .layout_text = layout_text},
        &o);
    if (st == 0)
        object_out(&o, out);
    return st;
}

JS int sabre_js_region_find(const sabre_region_t *r, const char *name, uint32_t *out)
{
    sabre_object_t o;
    int st = sabre_region_find(r, name, NULL, &o);
    if (st == 0)
        object_out(&o, out);
    return st;
}

JS int sabre_js_region_object_at(const sabre_region_t *r, uint32_t i, uint32_t *out)
{
    sabre_object_t o;
    int st = sabre_region_object_at(r, i, &o);
    if (st == 0)
        object_out(&o, out);
    return st;
}

/* The region as `sabre inspect --json` prints it (malloc'ed, NULL on error). */
int sabre_tool_inspect_render(const sabre_region_t *r, bool json, FILE *out, uint32_t *invalid);
JS char *sabre_js_region_inspect_json(const sabre_region_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    uint32_t invalid = 0;
    int st = sabre_tool_inspect_render(r, true, f, &invalid);
    fclose(f);
    if (st) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- capability probe ---- */

/* The probe as JSON (malloc'ed). */
JS char *sabre_js_probe_json(void)
{
    sabre_caps_t c;
    int st = sabre_probe(NULL, &c);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "{\"status\":%d,\"platform\":\"%s\",\"note\":\"%s\",\"private\":%s,\"memfd\":%s,"
            "\"shm\":%s,\"file\":%s,\"futex\":%s}",
            st, c.platform, c.note, c.private_ok ? "true" : "false", c.memfd_ok ? "true" : "false",
            c.shm_ok ? "true" : "false", c.file_ok ? "true" : "false",
            c.futex_ok ? "true" : "false");
    fclose(f);
    return buf;
}

/* ---- weights ---- */

JS int sabre_js_weights_create(sabre_region_t *r, const char *name, double size, uint32_t slots,
                               uint32_t readers, uint32_t shape_hash, uint32_t flags,
                               const char *layout_text, uint32_t *out)
{
    sabre_weights_t *w = NULL;
    int st = sabre_weights_create(r,
                                  &(sabre_weights_desc_t){.name = name,
                                                          .size = u64_of(size),
                                                          .slots = slots,
                                                          .readers = readers,
                                                          .shape_hash = shape_hash,
                                                          .flags = flags,
                                                          .layout_text = layout_text},
                                  &w);
    out[0] = (uint32_t)(uintptr_t)w;
    return st;
}

JS int sabre_js_weights_open(sabre_region_t *r, const char *name, uint32_t *out)
{
    sabre_weights_t *w = NULL;
    int st = sabre_weights_open(r, name, NULL, &w);
    out[0] = (uint32_t)(uintptr_t)w;
    return st;
}

/* out: [0] slot pointer of the claimed buffer. */
JS int sabre_js_weights_begin(sabre_weights_t *w, double timeout_ns, uint32_t *out)
{
    void *buf = NULL;
    int st = sabre_weights_begin(w, u64_of(timeout_ns), &buf);
    out[0] = (uint32_t)(uintptr_t)buf;
    return st;
}

/* step < 0: previous + 1.  out: [0..1] the new version (lo, hi). */
JS int sabre_js_weights_commit(sabre_weights_t *w, uint32_t shape_hash, double step, uint32_t *out)
{
    uint64_t v = 0;
    int st =
        sabre_weights_commit(w,
                             &(sabre_weights_meta_t){.shape_hash = shape_hash,
                                                     .set_step = step >= 0,
                                                     .step_counter = step >= 0 ? u64_of(step) : 0},
                             &v);
    out[0] = (uint32_t)v;
    out[1] = (uint32_t)(v >> 32);
    return st;
}

JS int sabre_js_weights_reader_open(sabre_weights_t *w, uint32_t *out)
{
    sabre_weights_reader_t *rd = NULL;
    int st = sabre_weights_reader_open(w, &rd);
    out[0] = (uint32_t)(uintptr_t)rd;
    return st;
}

/* out: [0] data, [1] size, [2..3] version, [4..5] step, [6] shape, [7] slot,
 * [8] changed. */
JS int sabre_js_weights_adopt(sabre_weights_reader_t *rd, uint32_t expect_shape, int check_finite,
                              uint32_t *out)
{
    sabre_weights_view_t v;
    memset(&v, 0, sizeof v);
    int st = sabre_weights_adopt(rd,
                                 &(sabre_weights_adopt_opts_t){.expect_shape = expect_shape,
                                                               .check_finite = check_finite != 0},
                                 &v);
    out[0] = (uint32_t)(uintptr_t)v.data;
    out[1] = (uint32_t)v.size;
    out[2] = (uint32_t)v.version;
    out[3] = (uint32_t)(v.version >> 32);
    out[4] = (uint32_t)v.step_counter;
    out[5] = (uint32_t)(v.step_counter >> 32);
    out[6] = v.shape_hash;
    out[7] = v.slot;
    out[8] = v.changed;
    return st;
}

JS int sabre_js_weights_wait(sabre_weights_reader_t *rd, double after, double timeout_ns)
{
    return sabre_weights_wait(rd, u64_of(after), u64_of(timeout_ns));
}

JS double sabre_js_weights_version(const sabre_weights_t *w)
{
    return (double)sabre_weights_version(w);
}

JS double sabre_js_weights_size(const sabre_weights_t *w)
{
    return (double)sabre_weights_size(w);
}

/* ---- rings ---- */

JS int sabre_js_ring_create(sabre_region_t *r, const char *name, const sabre_layout_t *layout,
                            int shape, int policy, uint32_t capacity, uint32_t producers,
                            uint32_t steps, uint32_t envs, double record_size, double reclaim_ns,
                            uint32_t *out)
{
    sabre_ring_t *g = NULL;
    int st = sabre_ring_create(r,
                               &(sabre_ring_desc_t){.name = name,
                                                    .shape = (sabre_ring_shape_t)shape,
                                                    .policy = (sabre_ring_policy_t)policy,
                                                    .capacity = capacity,
                                                    .producers = producers,
                                                    .layout = layout,
                                                    .steps = steps,
                                                    .envs = envs,
                                                    .record_size = u64_of(record_size),
                                                    .reclaim_ns = u64_of(reclaim_ns)},
                               &g);
    out[0] = (uint32_t)(uintptr_t)g;
    return st;
}

JS int sabre_js_ring_open(sabre_region_t *r, const char *name, uint32_t *out)
{
    sabre_ring_t *g = NULL;
    int st = sabre_ring_open(r, name, NULL, 0, 0, &g);
    out[0] = (uint32_t)(uintptr_t)g;
    return st;
}

/* Field i: its name copied to name[48]; out [0] elem_size, [1] offset in
 * the payload, [2] size (T * E * elem_size). */
JS int sabre_js_ring_field(const sabre_ring_t *g, uint32_t i, char *name, uint32_t *out)
{
    sabre_ring_field_t f;
    int st = sabre_ring_field_at(g, i, &f);
    if (st)
        return st;
    memcpy(name, f.name, sizeof f.name);
    out[0] = f.elem_size;
    out[1] = (uint32_t)f.offset;
    out[2] = (uint32_t)f.size;
    return 0;
}

/* out: [0] T, [1] E, [2] shape, [3] policy, [4] capacity, [5] producers,
 * [6] chunk stride, [7] the ring object's layout text (in the region). */
JS int sabre_js_ring_geometry(const sabre_ring_t *g, uint32_t *out)
{
    sabre_ring_stats_t s;
    int st = sabre_ring_stats(g, &s);
    if (st)
        return st;
    out[0] = s.steps;
    out[1] = s.envs;
    out[2] = s.shape;
    out[3] = s.policy;
    out[4] = s.capacity;
    out[5] = s.nproducers;
    out[6] = (uint32_t)s.chunk_stride;
    return 0;
}

JS uint32_t sabre_js_ring_field_count(const sabre_ring_t *g)
{
    return sabre_ring_field_count(g);
}

JS int sabre_js_ring_producer_open(sabre_ring_t *g, uint32_t *out)
{
    sabre_ring_producer_t *p = NULL;
    int st = sabre_ring_producer_open(g, &p);
    out[0] = (uint32_t)(uintptr_t)p;
    out[1] = p ? sabre_ring_producer_id(p) : 0;
    return st;
}

JS void sabre_js_ring_producer_set_version(sabre_ring_producer_t *p, double v)
{
    sabre_ring_producer_set_version(p, u64_of(v));
}

/* claim/batch: a sabre_ring_claim_t / sabre_ring_batch_t the caller keeps in
 * module memory (sabre_js_ring_claim_new), so commit gets it back.  Its
 * words, as u32: [0..1] first, [2] count, [3] lane, [4..5] stride,
 * [6] chunks, [7] data. */
JS void *sabre_js_ring_claim_new(void)
{
    _Static_assert(sizeof(sabre_ring_claim_t) == 32, "claim words");
    _Static_assert(sizeof(sabre_ring_batch_t) == 32, "batch words");
    return calloc(1, sizeof(sabre_ring_claim_t));
}

JS int sabre_js_ring_claim(sabre_ring_producer_t *p, uint32_t n, double timeout_ns,
                           sabre_ring_claim_t *claim)
{
    return sabre_ring_claim(p, n, u64_of(timeout_ns), claim);
}

JS int sabre_js_ring_commit(sabre_ring_producer_t *p, sabre_ring_claim_t *claim)
{
    return sabre_ring_commit(p, claim);
}

JS int sabre_js_ring_abort(sabre_ring_producer_t *p, sabre_ring_claim_t *claim)
{
    return sabre_ring_abort(p, claim);
}

JS int sabre_js_ring_consumer_open(sabre_ring_t *g, uint32_t *out)
{
    sabre_ring_consumer_t *c = NULL;
    int st = sabre_ring_consumer_open(g, &c);
    out[0] = (uint32_t)(uintptr_t)c;
    return st;
}

JS int sabre_js_ring_consume(sabre_ring_consumer_t *c, uint32_t max, double timeout_ns,
                             sabre_ring_batch_t *batch)
{
    return sabre_ring_consume(c, max, u64_of(timeout_ns), batch);
}

JS int sabre_js_ring_release(sabre_ring_consumer_t *c, const sabre_ring_batch_t *batch)
{
    return sabre_ring_release(c, batch);
}

JS void sabre_js_ring_consumer_set_version(sabre_ring_consumer_t *c, double v)
{
    sabre_ring_consumer_set_version(c, u64_of(v));
}

/* The ring's counters as JSON (malloc'ed). */
JS char *sabre_js_ring_stats_json(const sabre_ring_t *g)
{
    sabre_ring_stats_t s;
    if (sabre_ring_stats(g, &s))
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "{\"produced\":%llu,\"dropped\":%llu,\"overwritten\":%llu,\"aborted\":%llu,"
            "\"consumed\":%llu,\"abandoned\":%llu,\"inFlight\":%llu,\"held\":%llu,"
            "\"lagMin\":%llu,\"lagMax\":%llu,\"lagAvg\":%g,\"lagCount\":%llu,"
            "\"currentVersion\":%llu,\"producerWaitNs\":%llu,\"consumerWaitNs\":%llu,"
            "\"producerDeaths\":%llu}",
            (unsigned long long)s.produced, (unsigned long long)s.dropped,
            (unsigned long long)s.overwritten, (unsigned long long)s.aborted,
            (unsigned long long)s.consumed, (unsigned long long)s.abandoned,
            (unsigned long long)s.in_flight, (unsigned long long)s.held,
            (unsigned long long)s.lag_min, (unsigned long long)s.lag_max, s.lag_avg,
            (unsigned long long)s.lag_count, (unsigned long long)s.current_version,
            (unsigned long long)s.producer_wait_ns, (unsigned long long)s.consumer_wait_ns,
            (unsigned long long)s.producer_deaths);
    fclose(f);
    return buf;
}

/* ---- ECS: world, components, entities, queries ---- */

JS int sabre_js_world_create(sabre_region_t *r, const char *prefix, uint32_t chunk_rows,
                             uint32_t *out)
{
    sabre_world_t *w = NULL;
    int st = sabre_world_create(
        &(sabre_world_desc_t){.region = r, .prefix = prefix, .chunk_rows = chunk_rows}, &w);
    out[0] = (uint32_t)(uintptr_t)w;
    return st;
}

/* out: [0] component id, [1] AoS size. */
JS int sabre_js_component_define(sabre_world_t *w, const char *name, const char *schema,
                                 uint32_t *out)
{
    sabre_component_t c = 0;
    int st =
        sabre_component_define(w, &(sabre_component_desc_t){.name = name, .schema = schema}, &c);
    out[0] = c;
    out[1] = st == 0 ? sabre_component_size(w, c) : 0;
    return st;
}

/* n entities with the components comps[0..nc) (zero values); out: [0..1]
 * the first entity id, [2..3] the last. */
JS int sabre_js_spawn(sabre_world_t *w, const sabre_component_t *comps, uint32_t nc, uint32_t n,
                      uint32_t *out)
{
    sabre_entity_t e = 0;
    for (uint32_t i = 0; i < n; i++) {
        int st = sabre_entity_create_with(w, comps, NULL, nc, &e);
        if (st)
            return st;
        if (i == 0) {
            out[0] = (uint32_t)e;
            out[1] = (uint32_t)(e >> 32);
        }
    }
    out[2] = (uint32_t)e;
    out[3] = (uint32_t)(e >> 32);
    return 0;
}

static sabre_entity_t ent(uint32_t lo, uint32_t hi)
{
    return (sabre_entity_t)lo | (sabre_entity_t)hi << 32;
}

JS int sabre_js_entity_destroy(sabre_world_t *w, uint32_t lo, uint32_t hi)
{
    return sabre_entity_destroy(w, ent(lo, hi));
}

JS int sabre_js_entity_alive(sabre_world_t *w, uint32_t lo, uint32_t hi)
{
    return sabre_entity_alive(w, ent(lo, hi));
}

JS int sabre_js_get(sabre_world_t *w, uint32_t lo, uint32_t hi, sabre_component_t c, void *out)
{
    return sabre_get(w, ent(lo, hi), c, out);
}

JS int sabre_js_set(sabre_world_t *w, uint32_t lo, uint32_t hi, sabre_component_t c,
                    const void *value)
{
    return sabre_set(w, ent(lo, hi), c, value);
}

JS int sabre_js_add(sabre_world_t *w, uint32_t lo, uint32_t hi, sabre_component_t c,
                    const void *value)
{
    return sabre_add(w, ent(lo, hi), c, value);
}

JS int sabre_js_remove(sabre_world_t *w, uint32_t lo, uint32_t hi, sabre_component_t c)
{
    return sabre_remove(w, ent(lo, hi), c);
}

JS int sabre_js_query_create(sabre_world_t *w, const sabre_component_t *all, uint32_t nall,
                             const sabre_component_t *none, uint32_t nnone,
                             const sabre_component_t *changed, uint32_t nchanged, uint32_t *out)
{
    sabre_query_t *q = NULL;
    int st = sabre_query_create(w,
                                &(sabre_query_desc_t){.all = all,
                                                      .nall = nall,
                                                      .none = none,
                                                      .nnone = nnone,
                                                      .changed = changed,
                                                      .nchanged = nchanged},
                                &q);
    out[0] = (uint32_t)(uintptr_t)q;
    return st;
}

JS double sabre_js_query_count(sabre_query_t *q)
{
    return (double)sabre_query_count(q);
}

JS double sabre_js_world_count(const sabre_world_t *w)
{
    return (double)sabre_world_count(w);
}

JS double sabre_js_world_tick(const sabre_world_t *w)
{
    return (double)sabre_world_tick(w);
}

/* Table chunks (native views): the table count, and chunk `chunk` of table
 * `table`: out [0] rows, [1] object offset in the region memory, [2] size. */
JS uint32_t sabre_js_table_count(const sabre_world_t *w)
{
    return sabre_world_table_count(w);
}

JS int sabre_js_table_chunks(const sabre_world_t *w, uint32_t table, uint32_t *out)
{
    sabre_table_info_t ti;
    int st = sabre_table_info(w, table, &ti);
    if (st)
        return st;
    out[0] = ti.nchunks;
    out[1] = (uint32_t)ti.rows;
    out[2] = ti.ncomponents;
    out[3] = (uint32_t)(uintptr_t)ti.components;
    return 0;
}

JS int sabre_js_table_chunk(const sabre_world_t *w, uint32_t table, uint32_t chunk, uint32_t *out)
{
    sabre_chunk_info_t ci;
    int st = sabre_table_chunk(w, table, chunk, &ci);
    if (st)
        return st;
    out[0] = ci.count;
    out[1] = (uint32_t)(uintptr_t)ci.object.ptr;
    out[2] = (uint32_t)ci.object.size;
    return 0;
}

/* ---- snapshots ---- */

/* comps[i] / writes[i]: the components and whether commit writes them back.
 * mode 0 shared, 1 transfer.  out: [0] snapshot, [1] object pointer, [2] its
 * size, [3] rows. */
JS int sabre_js_snapshot_build(sabre_world_t *w, sabre_query_t *q, const sabre_component_t *comps,
                               const uint8_t *writes, uint32_t n, int mode, sabre_region_t *region,
                               const char *name, uint32_t *out)
{
    sabre_snap_comp_t sc[64];
    if (n > 64)
        n = 65; /* let the library refuse it with its message */
    for (uint32_t i = 0; i < n && i < 64; i++)
        sc[i] = (sabre_snap_comp_t){.comp = comps[i], .write = writes[i] != 0};
    sabre_snapshot_t *s = NULL;
    int st = sabre_snapshot_build(w,
                                  &(sabre_snapshot_desc_t){.comps = sc,
                                                           .ncomps = n,
                                                           .mode = (sabre_snap_mode_t)mode,
                                                           .region = region,
                                                           .name = name},
                                  q, &s);
    out[0] = (uint32_t)(uintptr_t)s;
    if (st)
        return st;
    sabre_object_t o;
    st = sabre_snapshot_object(s, &o);
    out[1] = st ? 0 : (uint32_t)(uintptr_t)o.ptr;
    out[2] = st ? 0 : (uint32_t)o.size;
    out[3] = (uint32_t)sabre_snapshot_rows(s);
    return st;
}

JS int sabre_js_snapshot_rebuild(sabre_world_t *w, sabre_snapshot_t *s, sabre_query_t *q,
                                 uint32_t *out)
{
    int st = sabre_snapshot_rebuild(w, s, q);
    sabre_object_t o;
    if (st == 0 && sabre_snapshot_object(s, &o) == 0) {
        out[1] = (uint32_t)(uintptr_t)o.ptr;
        out[2] = (uint32_t)o.size;
    }
    out[3] = (uint32_t)sabre_snapshot_rows(s);
    return st;
}

/* out: rows written, skipped dead, skipped missing, skipped read-only. */
JS int sabre_js_snapshot_commit(sabre_world_t *w, sabre_snapshot_t *s, uint32_t *out)
{
    sabre_commit_stats_t cs;
    memset(&cs, 0, sizeof cs);
    int st = sabre_snapshot_commit(w, s, &cs);
    out[0] = (uint32_t)cs.rows_written;
    out[1] = (uint32_t)cs.skipped_dead;
    out[2] = (uint32_t)cs.skipped_missing;
    out[3] = (uint32_t)cs.skipped_readonly;
    return st;
}

/* Takes a PRIVATE region's name away (its handles keep it open). */
JS int sabre_js_region_unlink(const char *name)
{
    return sabre_region_unlink(SABRE_BACKING_PRIVATE, name);
}
