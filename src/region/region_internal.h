/*
 * region_internal.h - the region handle and what the region layer's files
 * share (not public API).
 */
#ifndef SABRE_REGION_INTERNAL_H
#define SABRE_REGION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"
#include "region/region_abi.h"
#include "sabre/region.h"

struct sabre_region {
    uint8_t *base;
    uint64_t map_size; /* validated total size: every bound check uses this */
    uint64_t map_len;  /* bytes actually mapped (>= map_size) */
    int fd;            /* -1 for PRIVATE */
    sabre_backing_t backing;
    bool readonly;
    /* Validated at create/open and never re-read from the mapping, so a peer
     * scribbling on the header cannot move our bounds. */
    uint64_t dir_offset;
    uint32_t dir_capacity;
    uint64_t data_offset;
    char name[SABRE_REGION_NAME_MAX + 1];
};

static inline struct region_header *hdr_of(const sabre_region_t *r)
{
    return (struct region_header *)(void *)r->base;
}

static inline struct dir_entry *entry_of(const sabre_region_t *r, uint32_t i)
{
    return (struct dir_entry *)(void *)(r->base + r->dir_offset + (uint64_t)i * ENTRY_SIZE);
}

/* Shared between this layer's files. */
int sabre__rg_check_object_name(const char *name, size_t *len_out);
bool sabre__rg_kind_valid(uint32_t kind);
uint32_t sabre__rg_name_hash24(const char *name, size_t len);
void sabre__rg_prefault_range(uint8_t *base, uint64_t len);
void sabre__rg_sleep_ns(uint64_t ns);

/* A copy of one directory entry, taken once so that later checks and uses
 * see the same bytes whatever a peer writes meanwhile. */
struct entry_copy {
    uint64_t state;
    uint32_t kind, align;
    uint64_t offset, size, layout_offset, layout_len, layout_hash, created_ns;
    char name[SABRE_NAME_MAX];
};

void sabre__rg_copy_entry(const struct dir_entry *e, uint64_t state, struct entry_copy *c);
int sabre__rg_validate_entry(const sabre_region_t *r, uint32_t i, const struct entry_copy *c,
                             uint64_t used, sabre_object_t *o);

int sabre__rg_check_size(const sabre_region_t *r);
int sabre__rg_validate_header(sabre_region_t *r, uint64_t size);
int sabre__rg_validate_directory(const sabre_region_t *r);
void sabre__rg_region_free(sabre_region_t *r);
int sabre__rg_check_shm_name(const char *name);
/* The OS part (src/region/<platform>/backing.c): make and map `size` bytes
 * of zeroed memory for `desc` into r (base, fd), reporting header flags and
 * the size really mapped and the page size it is made of;
 * sabre__rg_region_free releases it. */
int sabre__rg_os_create(sabre_region_t *r, const sabre_region_desc_t *desc, uint64_t size,
                        uint16_t *hflags, uint64_t *total, uint64_t *page);
void sabre__rg_shm_path(char *dst, size_t cap, const char *name);
int sabre__rg_check_file_name(const char *path);
int sabre__rg_map_fd(int fd, uint64_t size, bool readonly, bool prefault, uint8_t **out);
uint64_t sabre__rg_page_size(void);
int sabre__rg_fallocate_all(int fd, uint64_t size);
uint64_t sabre__rg_statvfs_free(const char *path);
uint64_t sabre__rg_meminfo_value(const char *key);

bool sabre__rg_object_char_ok(unsigned char c);

#endif
