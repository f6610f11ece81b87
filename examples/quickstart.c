// SABRE_EXAMPLE_TEST
/* quickstart.c - the README's first example: a schema, a shared region, an
 * object described by its layout, and a second handle that finds it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sabre/sabre.h>

static const char *schema = "struct Pos { x: f32; y: f32; }\n"
                            "struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; }\n";

int main(void)
{
    sabre_schema_t *s;
    sabre_schema_error_t err;
    if (sabre_schema_compile(schema, strlen(schema), &s, &err)) {
        fprintf(stderr, "line %u, column %u: %s\n", err.line, err.column, err.message);
        return 1;
    }
    const sabre_layout_t *bullet = sabre_schema_root(s); /* size 24, align 4 */
    printf("%s: %u bytes, %u columns, hash 0x%016llx\n", bullet->name, bullet->size,
           bullet->ncolumns, (unsigned long long)bullet->hash);

    char name[64];
    snprintf(name, sizeof name, "/sabre-quickstart-%d", (int)getpid());
    sabre_region_t *r;
    if (sabre_region_create(
            &(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = name, .size = 64 << 20},
            &r)) {
        fprintf(stderr, "%s\n", sabre_last_error()); /* e.g. no space in /dev/shm */
        return 1;
    }
    sabre_object_t obj;
    if (sabre_region_alloc(r,
                           &(sabre_object_desc_t){.name = "bullets",
                                                  .kind = SABRE_OBJ_COLUMNS,
                                                  .size = 1024 * bullet->size,
                                                  .layout = bullet},
                           &obj)) {
        fprintf(stderr, "%s\n", sabre_last_error());
        return 1;
    }
    /* What another process does: open by name, find by name and layout. */
    sabre_region_t *other;
    sabre_object_t seen;
    if (sabre_region_open(&(sabre_region_desc_t){.backing = SABRE_BACKING_SHM, .name = name},
                          &other) ||
        sabre_region_find(other, "bullets", bullet, &seen)) {
        fprintf(stderr, "%s\n", sabre_last_error());
        return 1;
    }
    printf("found '%s' at offset %llu, %llu bytes, layout %s\n", seen.name,
           (unsigned long long)seen.offset, (unsigned long long)seen.size, seen.layout_text);
    sabre_region_close(other);
    sabre_region_close(r);
    sabre_region_unlink(SABRE_BACKING_SHM, name);
    sabre_schema_free(s);
    return 0;
}
