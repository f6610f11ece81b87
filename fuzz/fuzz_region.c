/*
 * fuzz_region.c - libFuzzer target: the input bytes are a region file.
 * They are written to a memfd, opened (read-only and read-write, never
 * waiting for a creator), every object is walked and found by name, the
 * raw slots and the header info are read.  Must never crash, hang or read
 * outside the mapping, whatever the bytes.
 *
 * The seed corpus fuzz/corpus/region/ is produced by this same file built
 * as a program:
 *   cc -std=gnu11 -D_GNU_SOURCE -DSABRE_FUZZ_REGION_GEN -Iinclude -Isrc \
 *      fuzz/fuzz_region.c src/core.c src/layout.c src/region.c -o gen-region-corpus
 *   ./gen-region-corpus fuzz/corpus/region
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sabre/region.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (4u << 20)

static void walk(sabre_region_t *r)
{
    sabre_region_info_t info;
    if (sabre_region_info(r, &info) != SABRE_OK)
        return;
    uint32_t n = sabre_region_count(r);
    volatile uint64_t sink = 0;
    for (uint32_t i = 0; i < n + 1; i++) {
        sabre_object_t o, f;
        if (sabre_region_object_at(r, i, &o) != SABRE_OK)
            continue;
        /* Touch the first and last byte of the object and of its layout text. */
        sink += ((const uint8_t *)o.ptr)[0] + ((const uint8_t *)o.ptr)[o.size - 1];
        sink += (uint8_t)o.layout_text[o.layout_len];
        if (sabre_region_find(r, o.name, NULL, &f) == SABRE_OK)
            sink += f.size;
        if (sabre_region_ptr(r, o.offset, o.size) != o.ptr)
            abort(); /* a validated object must be inside the mapping */
    }
    static const char *const names[] = {"data", "a", "weights", "ring", "x", ""};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        sabre_object_t f;
        (void)sabre_region_find(r, names[k], NULL, &f);
    }
    for (uint32_t s = 0; s < info.max_objects && s < 4096; s++) {
        sabre_slot_info_t si;
        if (sabre_region_slot(r, s, &si) != SABRE_OK || si.state == SABRE_SLOT_EMPTY)
            break;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    int fd = memfd_create("fuzz-region", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done == size) {
        for (int ro = 0; ro < 2; ro++) {
            sabre_region_t *r = NULL;
            uint32_t flags = SABRE_REGION_NOWAIT | (ro ? SABRE_REGION_READONLY : 0);
            if (sabre_region_open_fd(fd, flags, &r) == SABRE_OK) {
                walk(r);
                sabre_region_close(r);
            } else if (r != NULL || sabre_last_error()[0] == '\0') {
                abort(); /* failures must leave no handle and explain themselves */
            }
        }
    }
    close(fd);
    return 0;
}

#ifdef SABRE_FUZZ_REGION_GEN
/* Seed corpus generator (see the top of the file). */
static uint8_t img[4096];

static void save(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void put(size_t off, uint64_t v, size_t w)
{
    memcpy(img + off, &v, w);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    sabre_region_t *r = NULL;
    /* 1. empty region, 4 slots */
    if (sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_MEMFD, .size = 4096, .max_objects = 4},
            &r) != SABRE_OK)
        return 1;
    save(dir, "empty", sabre_region_base(r), 4096);
    /* 2. three objects: layout text, raw, user kind */
    sabre_object_t o;
    sabre_region_alloc(r,
                       &(sabre_object_desc_t){.name = "data",
                                              .kind = SABRE_OBJ_COLUMNS,
                                              .size = 200,
                                              .layout_text = "struct P{x:f32;y:f32;}"},
                       &o);
    memset(o.ptr, 0x3c, 200);
    sabre_region_alloc(r, &(sabre_object_desc_t){.name = "a", .size = 64}, NULL);
    sabre_region_alloc(
        r,
        &(sabre_object_desc_t){
            .name = "user.obj", .kind = SABRE_OBJ_USER + 1, .size = 1000, .align = 512},
        NULL);
    save(dir, "three", sabre_region_base(r), 4096);
    /* 3. a dead slot (name taken) after them */
    sabre_region_alloc(r, &(sabre_object_desc_t){.name = "a", .size = 64}, NULL);
    save(dir, "dead-slot", sabre_region_base(r), 4096);
    memcpy(img, sabre_region_base(r), 4096);
    sabre_region_close(r);
    /* Corrupted variants of "dead-slot". */
    uint8_t good[4096];
    memcpy(good, img, 4096);
    save(dir, "truncated-700", good, 700);
    save(dir, "truncated-20", good, 20);
    put(0, 0x1122334455667788ull, 8);
    save(dir, "bad-magic", img, 4096);
    memcpy(img, good, 4096);
    put(8, 2, 2);
    save(dir, "abi-2", img, 4096);
    memcpy(img, good, 4096);
    put(24, 0, 4);
    put(28, 0x7ffffff0u, 4);
    save(dir, "uninitialised-dead-creator", img, 4096);
    memcpy(img, good, 4096);
    put(512 + 16, 4032, 8); /* entry 0 data at the very end */
    save(dir, "entry-offset-end", img, 4096);
    memcpy(img, good, 4096);
    uint64_t off0;
    memcpy(&off0, good + 512 + 16, 8);
    put(512 + 128 + 16, off0, 8); /* entry 1's data = entry 0's bytes */
    save(dir, "entries-overlap", img, 4096);
    memcpy(img, good, 4096);
    put(512 + 48, 0x1234, 8);
    save(dir, "layout-hash", img, 4096);
    memcpy(img, good, 4096);
    put(512 + 40, 4000, 8);
    save(dir, "layout-len", img, 4096);
    memcpy(img, good, 4096);
    put(56, 0xffffffffu, 4);
    save(dir, "dir-capacity", img, 4096);
    memcpy(img, good, 4096);
    put(128, 1 << 20, 8);
    save(dir, "used-huge", img, 4096);
    memcpy(img, good, 4096);
    put(512 + 256, 1 | (0x123456ull << 8) | (1ull << 32), 8); /* slot 2 "writing" by pid 1 */
    save(dir, "writing-slot", img, 4096);
    return 0;
}
#endif
