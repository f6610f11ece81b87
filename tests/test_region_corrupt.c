// SABRE_TEST_LABELS: unit
/*
 * test_region_corrupt.c - every header field and directory entry field set
 * to bad values one at a time, and the region truncated at many lengths:
 * opening must fail with the right status and a message naming the problem,
 * never crash or read outside the mapping.  Also: entries scribbled on after
 * open are refused when read, version mismatch names both versions, an
 * opener waits for a creator that is still initialising.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "sabre/region.h"

#define IMG_SIZE (64u * 1024u)
#define CAP      16u
#define DIR_OFF  512u
#define ENT(i)   (DIR_OFF + 128u * (i))

static uint8_t good[IMG_SIZE];
static uint64_t obj_off[3], txt_off[3], txt_len[3];

static void build_good_image(void)
{
    sabre_region_t *r = NULL;
    CHECK_OK(sabre_region_create(&(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD,
                                                        .size = IMG_SIZE,
                                                        .max_objects = CAP},
                                 &r));
    CHECK_EQ(sabre_region_size(r), IMG_SIZE);
    const char *texts[3] = {"struct A{x:f32;}", NULL, "struct C{a:u8;b:u64;}"};
    const char *names[3] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++) {
        sabre_object_t o;
        CHECK_OK(sabre_region_alloc(r,
                                    &(sabre_object_desc_t){.name = names[i],
                                                           .kind = (uint32_t)(i + 1),
                                                           .size = 1000u * (uint64_t)(i + 1),
                                                           .layout_text = texts[i]},
                                    &o));
        memset(o.ptr, 0x11 * (i + 1), o.size);
        obj_off[i] = o.offset;
        txt_len[i] = o.layout_len;
        txt_off[i] =
            o.layout_len ? (uint64_t)(o.layout_text - (const char *)sabre_region_base(r)) : 0;
    }
    memcpy(good, sabre_region_base(r), IMG_SIZE);
    sabre_region_close(r);
}

/* A memfd holding `len` bytes of `img`. */
static int image_fd(const uint8_t *img, size_t len)
{
    int fd = memfd_create("corrupt", MFD_CLOEXEC);
    CHECK(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, img + done, len - done);
        CHECK(n > 0);
        done += (size_t)n;
    }
    return fd;
}

/* Opens an image read-write and read-only; both must give `want`. When
 * they succeed, walks every object and finds each by name. */
static void open_image(const uint8_t *img, size_t len, int want, const char *sub, const char *what)
{
    int fd = image_fd(img, len);
    for (int ro = 0; ro < 2; ro++) {
        sabre_region_t *r = NULL;
        int rc =
            sabre_region_open_fd(fd, SABRE_REGION_NOWAIT | (ro ? SABRE_REGION_READONLY : 0), &r);
        if (rc != want)
            CHECK_FAIL_("%s: open returned %s, want %s (%s)", what, sabre_status_name(rc),
                        sabre_status_name(want), sabre_last_error());
        check_count_++;
        if (rc != SABRE_OK) {
            CHECK(r == NULL);
            if (sub && !strstr(sabre_last_error(), sub))
                CHECK_FAIL_("%s: message '%s' does not contain '%s'", what, sabre_last_error(),
                            sub);
            CHECK(sabre_last_error()[0] != '\0');
            continue;
        }
        uint32_t n = sabre_region_count(r);
        for (uint32_t i = 0; i < n; i++) {
            sabre_object_t o, f;
            CHECK_OK(sabre_region_object_at(r, i, &o));
            CHECK_OK(sabre_region_find(r, o.name, NULL, &f));
            CHECK_EQ(f.offset, o.offset);
        }
        sabre_region_close(r);
    }
    close(fd);
}

struct mutation {
    const char *what;
    uint32_t off;   /* byte offset in the image */
    uint32_t width; /* 1, 2, 4, 8 */
    uint64_t value;
    int want;
    const char *sub; /* expected in the message */
};

static void set_field(uint8_t *img, uint32_t off, uint32_t width, uint64_t v)
{
    memcpy(img + off, &v, width); /* little-endian */
}

static uint64_t get_field(const uint8_t *img, uint32_t off, uint32_t width)
{
    uint64_t v = 0;
    memcpy(&v, img + off, width);
    return v;
}

static void test_header_fields(void)
{
    uint64_t data_off = get_field(good, 64, 8);
    uint64_t used = get_field(good, 128, 8);
    const struct mutation m[] = {
        {"magic", 0, 8, 0x1234, SABRE_ECORRUPT, "magic"},
        {"magic 0", 0, 8, 0, SABRE_ECORRUPT, "magic"},
        {"magic byte", 7, 1, 0x00, SABRE_ECORRUPT, "not a sabre region"},
        {"abi_major 2", 8, 2, 2, SABRE_EVERSION, "region ABI 2.0, this library 1.0"},
        {"abi_major 0", 8, 2, 0, SABRE_EVERSION, "region ABI 0.0, this library 1.0"},
        {"abi_major ffff", 8, 2, 0xffff, SABRE_EVERSION, "65535"},
        {"abi_minor 7 (newer minor is readable)", 10, 2, 7, SABRE_OK, NULL},
        {"header_size 0", 12, 4, 0, SABRE_ECORRUPT, "header_size"},
        {"header_size 100", 12, 4, 100, SABRE_ECORRUPT, "header_size"},
        {"header_size 513", 12, 4, 513, SABRE_ECORRUPT, "header_size"},
        {"header_size 576", 12, 4, 576, SABRE_ECORRUPT, "directory"},
        {"header_size huge", 12, 4, 0xffffffc0u, SABRE_ECORRUPT, "header_size"},
        {"total_size 0", 16, 8, 0, SABRE_ECORRUPT, "total_size"},
        {"total_size 511", 16, 8, 511, SABRE_ECORRUPT, "total_size"},
        {"total_size +1", 16, 8, IMG_SIZE + 1, SABRE_ECORRUPT, "truncated"},
        {"total_size max", 16, 8, UINT64_MAX, SABRE_ECORRUPT, "total_size"},
        {"total_size below used", 16, 8, used - 64, SABRE_ECORRUPT, "used"},
        {"total_size below dir", 16, 8, 1024, SABRE_ECORRUPT, "directory"},
        {"initialised 2", 24, 4, 2, SABRE_ECORRUPT, "initialised"},
        {"initialised max", 24, 4, 0xffffffffu, SABRE_ECORRUPT, "initialised"},
        {"initialised 0 (creator alive)", 24, 4, 0, SABRE_EBUSY, "still being created by pid"},
        {"creator_pid 0", 28, 4, 0, SABRE_ECORRUPT, "creator_pid"},
        {"creator_pid -5", 28, 4, (uint32_t)-5, SABRE_ECORRUPT, "creator_pid"},
        {"dir_offset 0", 48, 8, 0, SABRE_ECORRUPT, "directory"},
        {"dir_offset 100", 48, 8, 100, SABRE_ECORRUPT, "directory"},
        {"dir_offset 520", 48, 8, 520, SABRE_ECORRUPT, "directory"},
        {"dir_offset total", 48, 8, IMG_SIZE, SABRE_ECORRUPT, "directory"},
        {"dir_offset max", 48, 8, UINT64_MAX - 63, SABRE_ECORRUPT, "directory"},
        {"dir_offset into data", 48, 8, data_off, SABRE_ECORRUPT, "data_offset"},
        {"dir_capacity 0", 56, 4, 0, SABRE_ECORRUPT, "dir_capacity"},
        {"dir_capacity max", 56, 4, 0xffffffffu, SABRE_ECORRUPT, "dir_capacity"},
        {"dir_capacity +1", 56, 4, CAP + 1, SABRE_ECORRUPT, "data_offset"},
        {"dir_capacity 1000", 56, 4, 1000, SABRE_ECORRUPT, "directory"},
        {"dir_capacity 1 (entries past it ignored)", 56, 4, 1, SABRE_ECORRUPT, "dir_claimed"},
        {"dir_entry_size 0", 60, 4, 0, SABRE_ECORRUPT, "dir_entry_size"},
        {"dir_entry_size 100", 60, 4, 100, SABRE_ECORRUPT, "dir_entry_size"},
        {"dir_entry_size 256", 60, 4, 256, SABRE_ECORRUPT, "want 128"},
        {"dir_entry_size 192", 60, 4, 192, SABRE_ECORRUPT, "want 128"},
        {"dir_entry_size 129", 60, 4, 129, SABRE_ECORRUPT, "want 128"},
        {"dir_entry_size 64", 60, 4, 64, SABRE_ECORRUPT, "want 128"},
        {"data_offset 0", 64, 8, 0, SABRE_ECORRUPT, "data_offset"},
        {"data_offset 33", 64, 8, data_off + 33, SABRE_ECORRUPT, "data_offset"},
        {"data_offset past end", 64, 8, IMG_SIZE + 64, SABRE_ECORRUPT, "data_offset"},
        {"data_offset max", 64, 8, UINT64_MAX - 63, SABRE_ECORRUPT, "data_offset"},
        {"data_offset past objects", 64, 8, data_off + 4096, SABRE_ECORRUPT, "object"},
        {"backing 9", 72, 2, 9, SABRE_ECORRUPT, "backing"},
        {"reserved bytes (ignored by 1.0 readers)", 100, 4, 0xdeadbeef, SABRE_OK, NULL},
        {"used 0", 128, 8, 0, SABRE_ECORRUPT, "used"},
        {"used past end", 128, 8, IMG_SIZE + 64, SABRE_ECORRUPT, "used"},
        {"used max", 128, 8, UINT64_MAX, SABRE_ECORRUPT, "used"},
        {"used unaligned", 128, 8, used + 1, SABRE_ECORRUPT, "used"},
        {"used below objects", 128, 8, data_off + 64, SABRE_ECORRUPT, "outside the object area"},
        {"dir_claimed cap+1", 256, 4, CAP + 1, SABRE_ECORRUPT, "dir_claimed"},
        {"dir_claimed max", 256, 4, 0xffffffffu, SABRE_ECORRUPT, "dir_claimed"},
        {"dir_claimed 0 (a hint)", 256, 4, 0, SABRE_OK, NULL},
    };
    static uint8_t img[IMG_SIZE];
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        memcpy(img, good, IMG_SIZE);
        set_field(img, m[i].off, m[i].width, m[i].value);
        open_image(img, IMG_SIZE, m[i].want, m[i].sub, m[i].what);
    }
    /* Every single header byte flipped: never a crash, OK or a clean error. */
    for (uint32_t off = 0; off < 512; off++) {
        memcpy(img, good, IMG_SIZE);
        img[off] ^= 0xff;
        int fd = image_fd(img, IMG_SIZE);
        sabre_region_t *r = NULL;
        int rc = sabre_region_open_fd(fd, SABRE_REGION_NOWAIT, &r);
        CHECK(rc == SABRE_OK || rc == SABRE_ECORRUPT || rc == SABRE_EVERSION || rc == SABRE_EBUSY);
        CHECK((rc == SABRE_OK) == (r != NULL));
        if (r) {
            /* The only header bytes a 1.0 reader may ignore: reserved / padding,
             * abi_minor, creator pid (still a pid) and start time, created_ns,
             * flags, page_size; and `used` grown but still in bounds (that only
             * leaks space). */
            bool ignorable = (off >= 10 && off < 12) || (off >= 28 && off < 31) ||
                             (off >= 32 && off < 48) || (off >= 74 && off < 128) ||
                             (off >= 129 && off < 136) || (off >= 136 && off < 256) || off >= 257;
            if (!ignorable)
                CHECK_FAIL_("flipping header byte %u went unnoticed", off);
            sabre_region_close(r);
        } else {
            CHECK(sabre_last_error()[0] != '\0');
        }
        close(fd);
    }
}

static void test_entry_fields(void)
{
    const uint32_t e1 = ENT(0), e2 = ENT(2); /* "first" has layout text; "third" too */
    uint64_t st = get_field(good, e1, 8);
    const struct mutation m[] = {
        {"state code 7", e1, 1, 7, SABRE_ECORRUPT, "state code"},
        {"state code 255", e1, 1, 255, SABRE_ECORRUPT, "state code"},
        {"state writing (unpublished: skipped)", e1, 1, 1, SABRE_OK, NULL},
        {"state dead (skipped)", e1, 1, 3, SABRE_OK, NULL},
        {"state name hash", e1 + 1, 1, ((st >> 8) & 0xff) ^ 1, SABRE_ECORRUPT, "name hash"},
        {"kind 0", e1 + 8, 4, 0, SABRE_ECORRUPT, "unknown kind"},
        {"kind 8", e1 + 8, 4, 8, SABRE_ECORRUPT, "unknown kind"},
        {"kind 0xfff", e1 + 8, 4, 0xfff, SABRE_ECORRUPT, "unknown kind"},
        {"kind user", e1 + 8, 4, 0x1000, SABRE_OK, NULL},
        {"align 0", e1 + 12, 4, 0, SABRE_ECORRUPT, "alignment"},
        {"align 3", e1 + 12, 4, 3, SABRE_ECORRUPT, "alignment"},
        {"align 32", e1 + 12, 4, 32, SABRE_ECORRUPT, "alignment"},
        {"align 2^31", e1 + 12, 4, 1u << 31, SABRE_ECORRUPT, "alignment"},
        {"align 4096 (offset not a multiple)", e1 + 12, 4, 4096, SABRE_ECORRUPT, "multiple"},
        {"offset 0", e1 + 16, 8, 0, SABRE_ECORRUPT, "outside the object area"},
        {"offset in directory", e1 + 16, 8, 512, SABRE_ECORRUPT, "outside the object area"},
        {"offset unaligned", e1 + 16, 8, obj_off[0] + 8, SABRE_ECORRUPT, "multiple"},
        {"offset end", e1 + 16, 8, IMG_SIZE, SABRE_ECORRUPT, "outside"},
        {"offset max", e1 + 16, 8, UINT64_MAX - 63, SABRE_ECORRUPT, "outside"},
        {"offset = third's", e1 + 16, 8, obj_off[2], SABRE_ECORRUPT, "overlap"},
        {"offset = second's", e1 + 16, 8, obj_off[1], SABRE_ECORRUPT, "overlap"},
        {"size 0", e1 + 24, 8, 0, SABRE_ECORRUPT, "size is 0"},
        {"size max", e1 + 24, 8, UINT64_MAX, SABRE_ECORRUPT, "outside"},
        {"size past used", e2 + 24, 8, 3000 + 4096, SABRE_ECORRUPT, "outside"},
        {"size overlapping next", e1 + 24, 8, obj_off[1] - obj_off[0] + 1, SABRE_ECORRUPT,
         "overlap"},
        {"layout_offset 0 with text", e1 + 32, 8, 0, SABRE_ECORRUPT, "no layout text"},
        {"layout_offset after data", e1 + 32, 8, obj_off[0] + 64, SABRE_ECORRUPT, "layout text"},
        {"layout_offset in directory", e1 + 32, 8, 600, SABRE_ECORRUPT, "layout text"},
        {"layout_offset max", e1 + 32, 8, UINT64_MAX, SABRE_ECORRUPT, "layout text"},
        {"layout_offset +1", e1 + 32, 8, txt_off[0] + 1, SABRE_ECORRUPT, "NUL"},
        {"layout_len 0", e1 + 40, 8, 0, SABRE_ECORRUPT, "layout text"},
        {"layout_len +1", e1 + 40, 8, txt_len[0] + 1, SABRE_ECORRUPT, "NUL"},
        {"layout_len -1", e1 + 40, 8, txt_len[0] - 1, SABRE_ECORRUPT, "NUL"},
        {"layout_len huge", e1 + 40, 8, 1ull << 40, SABRE_ECORRUPT, "layout text"},
        {"layout_len max", e1 + 40, 8, UINT64_MAX, SABRE_ECORRUPT, "layout text"},
        {"layout_hash", e1 + 48, 8, 12345, SABRE_ECORRUPT, "layout hash"},
        {"layout_hash 0", e1 + 48, 8, 0, SABRE_ECORRUPT, "layout hash"},
        {"layout text byte", (uint32_t)txt_off[0] + 3, 1, 'Q', SABRE_ECORRUPT, "layout hash"},
        {"layout text NUL", (uint32_t)txt_off[0] + 3, 1, 0, SABRE_ECORRUPT, "NUL"},
        {"layout text terminator", (uint32_t)(txt_off[0] + txt_len[0]), 1, 'x', SABRE_ECORRUPT,
         "NUL"},
        {"no-layout entry gets a hash", ENT(1) + 48, 8, 99, SABRE_ECORRUPT, "no layout text"},
        {"no-layout entry gets a length", ENT(1) + 40, 8, 5, SABRE_ECORRUPT, "no layout text"},
        {"name empty", e1 + 64, 1, 0, SABRE_ECORRUPT, "name is empty"},
        {"name space", e1 + 64, 1, ' ', SABRE_ECORRUPT, "invalid byte"},
        {"name quote", e1 + 65, 1, '"', SABRE_ECORRUPT, "invalid byte"},
        {"name high byte", e1 + 65, 1, 0xc3, SABRE_ECORRUPT, "invalid byte"},
        {"name changed", e1 + 64, 1, 'g', SABRE_ECORRUPT, "name hash"},
        {"created_ns (informational)", e1 + 56, 8, 7, SABRE_OK, NULL},
        {"entry reserved (ignored)", e1 + 120, 8, 7, SABRE_OK, NULL},
        {"slot after last: garbage state", ENT(3), 1, 9, SABRE_ECORRUPT, "state code"},
        {"slot after empty: ignored", ENT(5), 1, 9, SABRE_OK, NULL},
    };
    static uint8_t img[IMG_SIZE];
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        memcpy(img, good, IMG_SIZE);
        set_field(img, m[i].off, m[i].width, m[i].value);
        open_image(img, IMG_SIZE, m[i].want, m[i].sub, m[i].what);
    }
    /* Name with no NUL in its 48 bytes. */
    memcpy(img, good, IMG_SIZE);
    memset(img + e1 + 64, 'a', 48);
    open_image(img, IMG_SIZE, SABRE_ECORRUPT, "NUL-terminated", "name unterminated");
    /* Two entries with the same offsets (a duplicate). */
    memcpy(img, good, IMG_SIZE);
    memcpy(img + ENT(1) + 8, img + e1 + 8, 48);
    open_image(img, IMG_SIZE, SABRE_ECORRUPT, "overlap", "duplicate extents");
    /* Every byte of each entry flipped. */
    for (uint32_t off = DIR_OFF; off < ENT(4); off++) {
        memcpy(img, good, IMG_SIZE);
        img[off] ^= 0x5a;
        int fd = image_fd(img, IMG_SIZE);
        sabre_region_t *r = NULL;
        int rc = sabre_region_open_fd(fd, SABRE_REGION_NOWAIT, &r);
        CHECK(rc == SABRE_OK || rc == SABRE_ECORRUPT);
        if (r)
            sabre_region_close(r);
        close(fd);
    }
}

static void test_truncation(void)
{
    unsigned tested = 0;
    for (size_t len = 0; len < IMG_SIZE; len += (len < 1100 ? 1 : len % 4096 == 0 ? 61 : 997)) {
        open_image(good, len, SABRE_ECORRUPT, NULL, "truncated");
        tested++;
    }
    for (size_t len = 4096; len < IMG_SIZE; len += 4096) {
        /* Page multiples: a read past the end would fault (SIGBUS). */
        open_image(good, len, SABRE_ECORRUPT, "truncated", "truncated at a page");
        tested++;
    }
    open_image(good, 0, SABRE_ECORRUPT, "empty", "empty");
    open_image(good, 20, SABRE_ECORRUPT, "too small", "20 bytes");
    open_image(good, 300, SABRE_ECORRUPT, "too small", "300 bytes");
    open_image(good, IMG_SIZE, SABRE_OK, NULL, "whole");
    CHECK(tested > 1100);
    /* Longer than total_size (appended bytes): still opens. */
    static uint8_t longer[IMG_SIZE + 5000];
    memcpy(longer, good, IMG_SIZE);
    memset(longer + IMG_SIZE, 0x77, 5000);
    open_image(longer, sizeof longer, SABRE_OK, NULL, "longer");
}

/* Entries scribbled on after open are refused when read. */
static void test_revalidation(void)
{
    sabre_region_t *r = NULL;
    int fd = image_fd(good, IMG_SIZE);
    CHECK_OK(sabre_region_open_fd(fd, 0, &r));
    uint8_t *base = sabre_region_base(r);
    sabre_object_t o;
    CHECK_OK(sabre_region_find(r, "first", NULL, &o));
    uint64_t saved;
    memcpy(&saved, base + ENT(0) + 16, 8);
    set_field(base, ENT(0) + 16, 8, UINT64_MAX - 63);
    CHECK_ERR(sabre_region_find(r, "first", NULL, &o), SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "first");
    CHECK_ERR(sabre_region_object_at(r, 0, &o), SABRE_ECORRUPT);
    memcpy(base + ENT(0) + 16, &saved, 8);
    CHECK_OK(sabre_region_find(r, "first", NULL, &o));
    base[txt_off[0]] ^= 1;
    CHECK_ERR(sabre_region_find(r, "first", NULL, &o), SABRE_ECORRUPT);
    CHECK_STR_CONTAINS(sabre_last_error(), "layout hash");
    base[txt_off[0]] ^= 1;
    /* Header words scribbled after open do not move the handle's bounds. */
    set_field(base, 56, 4, 0xffffffffu); /* dir_capacity */
    set_field(base, 16, 8, UINT64_MAX);  /* total_size */
    CHECK_EQ(sabre_region_count(r), 3);
    CHECK_EQ(sabre_region_size(r), IMG_SIZE);
    set_field(base, 128, 8, UINT64_MAX); /* used */
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "n", .size = 8}, NULL),
              SABRE_ECORRUPT);
    CHECK_OK(sabre_region_find(r, "third", NULL, &o)); /* used is clamped to the mapping */
    set_field(base, 128, 8, 0);
    CHECK_ERR(sabre_region_find(r, "third", NULL, &o), SABRE_ECORRUPT);
    CHECK_ERR(sabre_region_alloc(r, &(sabre_object_desc_t){.name = "n", .size = 8}, NULL),
              SABRE_ECORRUPT);
    /* A garbage state code is invisible to readers and blocks nobody. */
    memcpy(base, good, 512);
    set_field(base, ENT(1), 1, 200);
    CHECK_EQ(sabre_region_count(r), 2);
    sabre_slot_info_t si;
    CHECK_OK(sabre_region_slot(r, 1, &si));
    CHECK_EQ(si.state, SABRE_SLOT_INVALID);
    sabre_region_close(r);
    close(fd);
}

struct late_init {
    uint8_t *base;
};

static void *finish_init(void *arg)
{
    struct late_init *li = arg;
    usleep(30000);
    __atomic_store_n((uint32_t *)(li->base + 24), 1u, __ATOMIC_RELEASE);
    return NULL;
}

/* An opener waits for a creator (here: a thread) that has not yet written
 * `initialised`, and gives up with EBUSY naming it after wait_ms. */
static void test_wait_for_creator(void)
{
    uint8_t *img = malloc(IMG_SIZE);
    memcpy(img, good, IMG_SIZE);
    set_field(img, 24, 4, 0);
    set_field(img, 28, 4, (uint32_t)getpid());
    int fd = image_fd(img, IMG_SIZE);
    free(img);
    uint8_t *map = mmap(NULL, IMG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED);
    sabre_region_t *r = NULL;
    CHECK_ERR(sabre_region_open_fd(fd, SABRE_REGION_NOWAIT, &r), SABRE_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "still being created by pid %d", (int)getpid());
    CHECK_STR_CONTAINS(sabre_last_error(), want);
    struct late_init li = {map};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, finish_init, &li) == 0);
    CHECK_OK(sabre_region_open_fd(fd, 0, &r)); /* waits up to 1 s */
    CHECK_EQ(sabre_region_count(r), 3);
    sabre_region_close(r);
    pthread_join(t, NULL);
    munmap(map, IMG_SIZE);
    close(fd);
}

int main(void)
{
    build_good_image();
    open_image(good, IMG_SIZE, SABRE_OK, NULL, "good image");
    test_header_fields();
    test_entry_fields();
    test_truncation();
    test_revalidation();
    test_wait_for_creator();
    return check_done();
}
