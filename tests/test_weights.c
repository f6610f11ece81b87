// SABRE_TEST_LABELS: unit concurrent process stress
/*
 * Weights publication: API, refusals, pins, the DrillSergeantHQ reader,
 * torn-read stress across threads and processes, SIGSTOPped and dead
 * readers.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"
#include "sabre/weights.h"

/* ---- checksummed payloads -------------------------------------------------- */

static inline uint64_t word_for(uint64_t version, uint64_t i)
{
    uint64_t x = version * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

static void fill(void *buf, uint64_t size, uint64_t version)
{
    uint64_t *w = buf;
    uint64_t n = size / 8;
    w[0] = version;
    for (uint64_t i = 1; i < n; i++)
        w[i] = word_for(version, i);
}

/* True if the buffer holds exactly the payload of `version`. */
static bool intact(const void *buf, uint64_t size, uint64_t version)
{
    const volatile uint64_t *w = buf;
    uint64_t n = size / 8;
    if (w[0] != version)
        return false;
    for (uint64_t i = 1; i < n; i++)
        if (w[i] != word_for(version, i))
            return false;
    return true;
}

static sabre_region_t *make_region(uint64_t size)
{
    sabre_region_t *r = NULL;
    sabre_region_desc_t d = {.backing = SABRE_BACKING_MEMFD, .name = "test_weights", .size = size};
    CHECK_OK(sabre_region_create(&d, &r));
    return r;
}

static int publish_v(sabre_weights_t *w, uint64_t expect_version, uint64_t timeout)
{
    void *buf;
    int rc = sabre_weights_begin(w, timeout, &buf);
    if (rc)
        return rc;
    fill(buf, sabre_weights_size(w), expect_version);
    uint64_t v = 0;
    rc = sabre_weights_commit(w, NULL, &v);
    if (rc == SABRE_OK && v != expect_version)
        CHECK_FAIL_("published version %llu, expected %llu", (unsigned long long)v,
                    (unsigned long long)expect_version);
    return rc;
}

/* ---- basic API -------------------------------------------------------------- */

static void test_basic(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {.name = "w", .size = 256};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    CHECK_ERR(sabre_weights_create(reg, &d, &(sabre_weights_t *){NULL}), SABRE_EEXIST);
    CHECK_EQ(sabre_weights_slots(w), 2);
    CHECK_EQ(sabre_weights_version(w), 0);

    sabre_weights_reader_t *rd = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &rd));
    sabre_weights_view_t v;
    CHECK_ERR(sabre_weights_adopt(rd, NULL, &v), SABRE_EAGAIN);
    CHECK_ERR(sabre_weights_wait(rd, 0, 0), SABRE_EAGAIN);
    CHECK_ERR(sabre_weights_wait(rd, 0, 1000000), SABRE_ETIMEDOUT);

    CHECK_OK(publish_v(w, 1, 0));
    CHECK_OK(sabre_weights_wait(rd, 0, 0));
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK(v.changed);
    CHECK_EQ(v.version, 1);
    CHECK_EQ(v.step_counter, 1);
    CHECK(intact(v.data, v.size, 1));
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK(!v.changed);
    CHECK_EQ(v.version, 1);

    /* Two slots, reader pinned on version 1: one more publish fits, the
     * next finds both slots in use. */
    CHECK_OK(publish_v(w, 2, 0));
    CHECK_ERR(publish_v(w, 3, 0), SABRE_EBUSY);
    CHECK_STR_CONTAINS(sabre_last_error(), "pinned");
    CHECK_ERR(publish_v(w, 3, 2000000), SABRE_ETIMEDOUT);
    CHECK(intact(v.data, v.size, 1)); /* untouched */
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK_EQ(v.version, 2);
    CHECK_OK(publish_v(w, 3, 0));

    /* A second publisher handle is refused while the first holds the lease. */
    sabre_weights_t *w2 = NULL;
    CHECK_OK(sabre_weights_open(reg, "w", NULL, &w2));
    void *buf;
    CHECK_ERR(sabre_weights_begin(w2, 0, &buf), SABRE_EBUSY);
    CHECK_STR_CONTAINS(sabre_last_error(), "publisher lease");
    /* begin twice and commit without begin */
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK_OK(sabre_weights_begin(w, 0, &buf));
    CHECK_ERR(sabre_weights_begin(w, 0, &buf), SABRE_ESTATE);
    sabre_weights_abort(w);
    CHECK_ERR(sabre_weights_commit(w, NULL, NULL), SABRE_ESTATE);
    sabre_weights_reader_close(rd); /* readers go before their handle */
    sabre_weights_close(w);
    CHECK_OK(sabre_weights_begin(w2, 0, &buf)); /* lease released by close */
    sabre_weights_abort(w2);
    CHECK_OK(sabre_weights_reader_open(w2, &rd));
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK_EQ(v.version, 3);
    CHECK(intact(v.data, v.size, 3));

    /* step counter and shape through meta, DSHQ words mirror them */
    sabre_weights_meta_t m = {.shape_hash = 0xabcd, .set_step = true, .step_counter = 77};
    uint64_t ver = 0;
    uint8_t data[256];
    fill(data, sizeof data, 4);
    CHECK_OK(sabre_weights_publish(w2, data, sizeof data, &m, 0, &ver));
    CHECK_EQ(ver, 4);
    sabre_weights_info_t info;
    CHECK_OK(sabre_weights_info(w2, &info));
    CHECK_EQ(info.version, 4);
    CHECK_EQ(info.step_counter, 77);
    CHECK_EQ(info.shape_hash, 0xabcd);
    CHECK_EQ(info.readers_active, 1);
    CHECK_EQ(info.publishes, 4);
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "w", NULL, &o));
    const int32_t *ctrl = o.ptr;
    CHECK_EQ(ctrl[1], 4);
    CHECK_EQ(ctrl[2], 0xabcd);
    CHECK_EQ(ctrl[3], 77);
    CHECK(ctrl[0] == 0 || ctrl[0] == 1);
    sabre_weights_reader_info_t ri;
    CHECK_OK(sabre_weights_reader_at(w2, 0, &ri));
    CHECK(ri.active && ri.alive);
    CHECK_EQ(ri.adopted_version, 3);
    CHECK_EQ(ri.lag, 1);
    CHECK_ERR(sabre_weights_reader_at(w2, 99, &ri), SABRE_EINVAL);

    /* bad input */
    CHECK_ERR(sabre_weights_publish(w2, data, 999, NULL, 0, NULL), SABRE_EINVAL);
    sabre_weights_desc_t bad = {.name = "b", .size = 0};
    CHECK_ERR(sabre_weights_create(reg, &bad, &(sabre_weights_t *){NULL}), SABRE_EINVAL);
    bad.size = 16;
    bad.slots = 65;
    CHECK_ERR(sabre_weights_create(reg, &bad, &(sabre_weights_t *){NULL}), SABRE_EINVAL);
    CHECK_ERR(sabre_weights_open(reg, "nope", NULL, &(sabre_weights_t *){NULL}), SABRE_ENOENT);

    sabre_weights_reader_close(rd);
    sabre_weights_close(w2);
    sabre_region_close(reg);
}

/* ---- refusals: shape hash, NaN/Inf, layout, version ---------------------------- */

static void test_refusals(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    const char *text = "struct W { w: f32[16]; b: f32[4]; }";
    sabre_schema_t *sch = NULL;
    CHECK_OK(sabre_schema_compile(text, strlen(text), &sch, NULL));
    const sabre_layout_t *lay = sabre_schema_root(sch);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {
        .name = "wf", .size = lay->size, .slots = 3, .flags = SABRE_WEIGHTS_F32, .layout = lay};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    sabre_weights_reader_t *rd = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &rd));
    float good[20], badv[20];
    for (int i = 0; i < 20; i++)
        good[i] = badv[i] = (float)i;
    CHECK_OK(sabre_weights_publish(w, good, sizeof good, NULL, 0, NULL));
    uint32_t shape = (uint32_t)lay->hash;
    sabre_weights_adopt_opts_t opts = {.expect_shape = shape, .check_finite = true};
    sabre_weights_view_t v;
    CHECK_OK(sabre_weights_adopt(rd, &opts, &v));
    CHECK_EQ(v.version, 1);
    CHECK_EQ(v.shape_hash, shape);

    badv[7] = 0.0f / 0.0f;
    CHECK_OK(sabre_weights_publish(w, badv, sizeof badv, NULL, 0, NULL));
    CHECK_ERR(sabre_weights_adopt(rd, &opts, &v), SABRE_ERANGE);
    CHECK_STR_CONTAINS(sabre_last_error(), "NaN");
    CHECK_EQ(v.version, 1);
    CHECK(((const float *)v.data)[19] == 19.0f);
    CHECK_ERR(sabre_weights_adopt(rd, &opts, &v), SABRE_ERANGE); /* remembered */
    badv[7] = 1.0f / 0.0f;
    CHECK_OK(sabre_weights_publish(w, badv, sizeof badv, NULL, 0, NULL));
    CHECK_ERR(sabre_weights_adopt(rd, &opts, &v), SABRE_ERANGE);
    CHECK_EQ(v.version, 1);

    sabre_weights_meta_t m = {.shape_hash = 0x1234};
    CHECK_OK(sabre_weights_publish(w, good, sizeof good, &m, 0, NULL));
    CHECK_ERR(sabre_weights_adopt(rd, &opts, &v), SABRE_ELAYOUT);
    CHECK_STR_CONTAINS(sabre_last_error(), "shape hash");
    CHECK_EQ(v.version, 1);
    CHECK_OK(sabre_weights_publish(w, good, sizeof good, NULL, 0, NULL));
    CHECK_OK(sabre_weights_adopt(rd, &opts, &v));
    CHECK_EQ(v.version, 5);
    sabre_weights_reader_info_t ri;
    CHECK_OK(sabre_weights_reader_at(w, 0, &ri));
    CHECK_EQ(ri.refused, 3);

    /* open with another layout: refused naming both layouts */
    const char *other = "struct W { w: f32[17]; }";
    sabre_schema_t *sch2 = NULL;
    CHECK_OK(sabre_schema_compile(other, strlen(other), &sch2, NULL));
    sabre_weights_t *w2 = NULL;
    CHECK_ERR(sabre_weights_open(reg, "wf", sabre_schema_root(sch2), &w2), SABRE_ELAYOUT);
    CHECK_OK(sabre_weights_open(reg, "wf", lay, &w2));
    sabre_weights_close(w2);

    /* another object ABI major: refused naming both versions */
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "wf", NULL, &o));
    uint16_t *major = (uint16_t *)((uint8_t *)o.ptr + 20);
    *major = 7;
    CHECK_ERR(sabre_weights_open(reg, "wf", NULL, &w2), SABRE_EVERSION);
    CHECK_STR_CONTAINS(sabre_last_error(), "7.0");
    *major = SABRE_WEIGHTS_ABI_MAJOR;
    uint32_t *nslots = (uint32_t *)((uint8_t *)o.ptr + 24);
    *nslots = 1000;
    CHECK_ERR(sabre_weights_open(reg, "wf", NULL, &w2), SABRE_ECORRUPT);
    *nslots = 3;
    uint64_t *stride = (uint64_t *)((uint8_t *)o.ptr + 40);
    uint64_t saved = *stride;
    *stride = 1ull << 50;
    CHECK_ERR(sabre_weights_open(reg, "wf", NULL, &w2), SABRE_ECORRUPT);
    *stride = saved;
    /* not a weights object */
    sabre_object_desc_t raw = {.name = "raw", .size = 64};
    CHECK_OK(sabre_region_alloc(reg, &raw, NULL));
    CHECK_ERR(sabre_weights_open(reg, "raw", NULL, &w2), SABRE_EINVAL);

    sabre_weights_reader_close(rd);
    sabre_weights_close(w);
    sabre_schema_free(sch);
    sabre_schema_free(sch2);
    sabre_region_close(reg);
}

/* ---- a reader written only from the DrillSergeantHQ document ------------------- */

struct dshq_ctx {
    const uint8_t *base; /* the object */
    const uint8_t *buf_a, *buf_b;
    uint64_t size;
    uint64_t last;        /* versions to adopt */
    _Atomic uint64_t ack; /* version the reader adopted and checked */
    _Atomic uint64_t bad;
};

static void *dshq_reader(void *arg)
{
    struct dshq_ctx *c = arg;
    _Atomic int32_t *ctrl = (_Atomic int32_t *)c->base;
    int32_t last_v = 0;
    for (;;) {
        int32_t v = atomic_load(&ctrl[1]); /* Atomics.load(ctrl, VERSION) */
        if (v != last_v) {
            int32_t idx = atomic_load(&ctrl[0]); /* Atomics.load(ctrl, ACTIVE_IDX) */
            const uint8_t *src = idx == 0 ? c->buf_a : c->buf_b;
            if ((idx != 0 && idx != 1) || !intact(src, c->size, (uint64_t)v))
                atomic_fetch_add(&c->bad, 1);
            last_v = v;
            atomic_store(&c->ack, (uint64_t)v);
            if ((uint64_t)v >= c->last)
                break;
        }
        sched_yield();
    }
    return NULL;
}

static void test_dshq_reader(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {.name = "dshq", .size = 1024};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    sabre_object_t o;
    CHECK_OK(sabre_region_find(reg, "dshq", NULL, &o));
    struct dshq_ctx c = {.base = o.ptr, .size = 1024, .last = check_scale(2000)};
    /* The document's buffers A and B: slots 0 and 1 (offsets in the header). */
    uint64_t slots_off = *(const uint64_t *)((const uint8_t *)o.ptr + 48);
    uint64_t stride = *(const uint64_t *)((const uint8_t *)o.ptr + 40);
    c.buf_a = (const uint8_t *)o.ptr + slots_off;
    c.buf_b = c.buf_a + stride;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, dshq_reader, &c) == 0);
    for (uint64_t v = 1; v <= c.last; v++) {
        CHECK_OK(publish_v(w, v, 0));
        while (atomic_load(&c.ack) != v)
            sched_yield();
    }
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&c.bad), 0);
    CHECK_EQ(atomic_load(&c.ack), c.last);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

static void wait_readers(sabre_weights_t *w, uint32_t n)
{
    sabre_weights_info_t info;
    do {
        sched_yield();
        CHECK_OK(sabre_weights_info(w, &info));
    } while (info.readers_active < n);
}

/* ---- torn-read stress, threads ------------------------------------------------- */

struct stress_ctx {
    sabre_weights_t *w;
    _Atomic bool done;
    _Atomic uint64_t torn, adopts;
};

static void *stress_reader(void *arg)
{
    struct stress_ctx *c = arg;
    sabre_weights_reader_t *rd = NULL;
    if (sabre_weights_reader_open(c->w, &rd) != SABRE_OK) {
        atomic_fetch_add(&c->torn, 1000000);
        return NULL;
    }
    uint64_t n = 0, last = 0;
    while (!atomic_load_explicit(&c->done, memory_order_relaxed)) {
        sabre_weights_view_t v;
        int rc = sabre_weights_adopt(rd, NULL, &v);
        if (rc == SABRE_EAGAIN)
            continue;
        if (rc != SABRE_OK || v.version < last || !intact(v.data, v.size, v.version)) {
            atomic_fetch_add(&c->torn, 1);
            continue;
        }
        last = v.version;
        n += v.changed;
        /* hold the pinned version across publishes, then re-check */
        for (int i = 0; i < (int)(n % 8); i++)
            if (!intact(v.data, v.size, v.version))
                atomic_fetch_add(&c->torn, 1);
        if (n % 512 == 0)
            sched_yield();
    }
    atomic_fetch_add(&c->adopts, n);
    sabre_weights_reader_close(rd);
    return NULL;
}

static void stress_threads(uint64_t size, uint64_t publishes, int nreaders)
{
    sabre_region_t *reg = make_region(64 * size + (1 << 20));
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {
        .name = "s", .size = size, .slots = (uint32_t)nreaders + 2, .readers = (uint32_t)nreaders};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    struct stress_ctx c = {.w = w};
    pthread_t t[8];
    for (int i = 0; i < nreaders; i++)
        CHECK(pthread_create(&t[i], NULL, stress_reader, &c) == 0);
    wait_readers(w, (uint32_t)nreaders);
    for (uint64_t v = 1; v <= publishes; v++) {
        int rc = publish_v(w, v, 0); /* N readers, N + 2 slots: never waits */
        if (rc != SABRE_OK)
            CHECK_FAIL_("publish %llu: %s (%s)", (unsigned long long)v, sabre_status_name(rc),
                        sabre_last_error());
    }
    atomic_store(&c.done, true);
    for (int i = 0; i < nreaders; i++)
        pthread_join(t[i], NULL);
    sabre_weights_info_t info;
    CHECK_OK(sabre_weights_info(w, &info));
    CHECK_EQ(info.publishes, publishes);
    CHECK_EQ(info.publish_waits, 0);
    CHECK_EQ(info.busy, 0);
    CHECK_EQ(atomic_load(&c.torn), 0);
    CHECK(atomic_load(&c.adopts) > 0);
    printf("threads: %llu publishes of %llu bytes, %d readers, %llu adoptions, 0 torn\n",
           (unsigned long long)publishes, (unsigned long long)size, nreaders,
           (unsigned long long)atomic_load(&c.adopts));
    sabre_weights_close(w);
    sabre_region_close(reg);
}

/* ---- torn-read stress, processes ------------------------------------------------ */

static int child_reader(sabre_weights_t *w, uint64_t until)
{
    sabre_weights_reader_t *rd = NULL;
    if (sabre_weights_reader_open(w, &rd) != SABRE_OK)
        return 2;
    uint64_t torn = 0, last = 0, adopts = 0;
    for (;;) {
        sabre_weights_view_t v;
        int rc = sabre_weights_adopt(rd, NULL, &v);
        if (rc == SABRE_EAGAIN)
            continue;
        adopts += v.changed;
        if (rc != SABRE_OK || v.version < last || !intact(v.data, v.size, v.version))
            torn++;
        last = v.version;
        if (!intact(v.data, v.size, v.version))
            torn++;
        if (v.version >= until)
            break;
    }
    sabre_weights_reader_close(rd);
    return torn ? 1 : adopts < 2 ? 5 : 0;
}

static void stress_processes(uint64_t size, uint64_t publishes, int nreaders)
{
    sabre_region_t *reg = make_region(16 * size + (1 << 20));
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {
        .name = "p", .size = size, .slots = (uint32_t)nreaders + 2, .readers = (uint32_t)nreaders};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    pid_t pids[8];
    for (int i = 0; i < nreaders; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_reader(w, publishes));
    }
    wait_readers(w, (uint32_t)nreaders);
    for (uint64_t v = 1; v <= publishes; v++) {
        int rc = publish_v(w, v, 0);
        if (rc != SABRE_OK)
            CHECK_FAIL_("publish %llu: %s (%s)", (unsigned long long)v, sabre_status_name(rc),
                        sabre_last_error());
    }
    for (int i = 0; i < nreaders; i++) {
        int st = 0;
        CHECK(waitpid(pids[i], &st, 0) == pids[i]);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
    }
    printf("processes: %llu publishes of %llu bytes, %d readers, 0 torn\n",
           (unsigned long long)publishes, (unsigned long long)size, nreaders);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

/* ---- a reader stopped while pinning ---------------------------------------------- */

static void test_sigstop(void)
{
    const uint64_t size = 64 * 1024;
    sabre_region_t *reg = make_region(1 << 22);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {.name = "stop", .size = size, .slots = 3, .readers = 2};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    CHECK_OK(publish_v(w, 1, 0));
    int ready[2], go[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sabre_weights_reader_t *rd = NULL;
        sabre_weights_view_t v;
        if (sabre_weights_reader_open(w, &rd) || sabre_weights_adopt(rd, NULL, &v))
            _exit(2);
        uint64_t mine = v.version;
        if (write(ready[1], &mine, sizeof mine) != sizeof mine)
            _exit(3);
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(4);
        _exit(intact(v.data, v.size, mine) ? 0 : 1);
    }
    uint64_t mine = 0;
    CHECK(read(ready[0], &mine, sizeof mine) == sizeof mine);
    CHECK_EQ(mine, 1);
    CHECK(kill(pid, SIGSTOP) == 0);
    uint64_t n = check_scale(2000);
    for (uint64_t v = 2; v <= n + 1; v++)
        CHECK_OK(publish_v(w, v, 0)); /* 3 slots, one pinned: never waits */
    CHECK(kill(pid, SIGCONT) == 0);
    CHECK(write(go[1], "g", 1) == 1);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

/* ---- a reader that died while pinning --------------------------------------------- */

static void test_dead_reader(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {.name = "dead", .size = 512, .readers = 2}; /* 2 slots */
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    CHECK_OK(publish_v(w, 1, 0));
    for (int k = 0; k < 2; k++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            sabre_weights_reader_t *rd = NULL;
            sabre_weights_view_t v;
            if (sabre_weights_reader_open(w, &rd) || sabre_weights_adopt(rd, NULL, &v))
                _exit(2);
            raise(SIGKILL); /* dies holding the pin and the record */
            _exit(3);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFSIGNALED(st));
    }
    /* Both dead readers pin version 1's slot: publishing needs that slot on
     * the second publish.  The publisher must not wait for them. */
    CHECK_OK(publish_v(w, 2, 0));
    CHECK_OK(publish_v(w, 3, 0));
    CHECK_OK(publish_v(w, 4, 0));
    sabre_weights_info_t info;
    CHECK_OK(sabre_weights_info(w, &info));
    CHECK(info.dead_pins_ignored > 0);
    CHECK_EQ(info.readers_active, 2);
    sabre_weights_reader_info_t ri;
    CHECK_OK(sabre_weights_reader_at(w, 0, &ri));
    CHECK(ri.active && !ri.alive);
    /* Both records belong to dead processes: new readers take them over. */
    sabre_weights_reader_t *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &a));
    CHECK_OK(sabre_weights_reader_open(w, &b));
    CHECK_ERR(sabre_weights_reader_open(w, &c), SABRE_ENOSPC);
    sabre_weights_view_t v;
    CHECK_OK(sabre_weights_adopt(a, NULL, &v));
    CHECK_EQ(v.version, 4);
    CHECK(intact(v.data, v.size, 4));
    sabre_weights_reader_close(a);
    sabre_weights_reader_close(b);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

/* ---- a publisher waiting for a slot is woken by the reader -------------------------- */

struct waiter_ctx {
    sabre_weights_t *w;
    _Atomic int rc;
    _Atomic bool started;
};

static void *waiting_publisher(void *arg)
{
    struct waiter_ctx *c = arg;
    atomic_store(&c->started, true);
    atomic_store(&c->rc, publish_v(c->w, 3, 5000000000ull));
    return NULL;
}

static void test_publisher_waits(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_weights_t *w = NULL;
    sabre_weights_desc_t d = {.name = "wait", .size = 128};
    CHECK_OK(sabre_weights_create(reg, &d, &w));
    sabre_weights_reader_t *rd = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &rd));
    CHECK_OK(publish_v(w, 1, 0));
    sabre_weights_view_t v;
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK_OK(publish_v(w, 2, 0));
    struct waiter_ctx c = {.w = w, .rc = 99};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, waiting_publisher, &c) == 0);
    while (!atomic_load(&c.started))
        sched_yield();
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    CHECK_EQ(atomic_load(&c.rc), 99); /* still waiting: both slots in use */
    sabre_weights_unpin(rd);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&c.rc), SABRE_OK);
    sabre_weights_info_t info;
    CHECK_OK(sabre_weights_info(w, &info));
    CHECK_EQ(info.publish_waits, 1);
    CHECK_OK(sabre_weights_adopt(rd, NULL, &v));
    CHECK_EQ(v.version, 3);
    sabre_weights_reader_close(rd);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

/* A publish may set its version (a bridge republishing another object's
 * versions): readers see that number; a version not above the latest, or
 * 2^32 or more above it, is refused and the begin stays outstanding. */
static void test_weights_set_version_keeps_numbers(void)
{
    sabre_region_t *reg = make_region(1 << 20);
    sabre_weights_t *w = NULL;
    CHECK_OK(sabre_weights_create(
        reg, &(sabre_weights_desc_t){.name = "sv", .size = 64, .slots = 3}, &w));
    sabre_weights_reader_t *r = NULL;
    CHECK_OK(sabre_weights_reader_open(w, &r));
    uint8_t buf[64] = {1};
    uint64_t v = 0;
    sabre_weights_meta_t m = {
        .set_version = true, .version = 5, .set_step = true, .step_counter = 50};
    CHECK_OK(sabre_weights_publish(w, buf, sizeof buf, &m, 0, &v));
    CHECK_EQ(v, 5);
    sabre_weights_view_t view;
    CHECK_OK(sabre_weights_adopt(r, NULL, &view));
    CHECK_EQ(view.version, 5);
    CHECK_EQ(view.step_counter, 50);
    void *slot;
    CHECK_OK(sabre_weights_begin(w, 0, &slot));
    m.version = 5;
    CHECK_ERR(sabre_weights_commit(w, &m, &v), SABRE_EINVAL);
    m.version = 5 + (1ull << 32);
    CHECK_ERR(sabre_weights_commit(w, &m, &v), SABRE_EINVAL);
    m.version = 9;
    CHECK_OK(sabre_weights_commit(w, &m, &v));
    CHECK_EQ(v, 9);
    CHECK_EQ(sabre_weights_version(w), 9);
    CHECK_OK(sabre_weights_publish(w, buf, sizeof buf, NULL, 0, &v));
    CHECK_EQ(v, 10); /* then on from there */
    sabre_weights_reader_close(r);
    sabre_weights_close(w);
    sabre_region_close(reg);
}

int main(void)
{
    test_weights_set_version_keeps_numbers();
    test_basic();
    test_refusals();
    test_dshq_reader();
    test_publisher_waits();
    test_dead_reader();
    test_sigstop();
    /* >= 100,000 publishes at scale 100 with small payloads ... */
    stress_threads(64, check_scale(100000), 3);
    /* ... and a bigger payload */
    stress_threads(256 * 1024, check_scale(2000), 2);
    stress_processes(64, check_scale(100000), 2);
    stress_processes(128 * 1024, check_scale(2000), 2);
    return check_done();
}
