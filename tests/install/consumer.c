/*
 * consumer.c - a program built outside the sabre tree against an installed
 * sabre (find_package or pkg-config): it includes <sabre/sabre.h>, compiles
 * a schema, shares a region with itself, and reads the ABI description.
 * Prints "consumer ok" and exits 0 when everything worked.
 */
#include <sabre/sabre.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "consumer: %s: %s (%s)\n", what, sabre_last_error(), sabre_status_name(rc));
    return 1;
}

int main(void)
{
    static const char schema[] = "struct P { x: f32; y: f32; }";
    sabre_schema_t *s = NULL;
    int rc = sabre_schema_compile(schema, strlen(schema), &s, NULL);
    if (rc != SABRE_OK)
        return fail("schema", rc);
    const sabre_layout_t *p = sabre_schema_root(s);
    sabre_region_t *r = NULL;
    if ((rc = sabre_region_create(&(sabre_region_desc_t){.size = 1 << 20}, &r)) != SABRE_OK)
        return fail("region", rc);
    sabre_object_t o, f;
    if ((rc = sabre_region_alloc(
             r, &(sabre_object_desc_t){.name = "points", .size = 64 * p->size, .layout = p}, &o)) !=
        SABRE_OK)
        return fail("alloc", rc);
    ((float *)o.ptr)[0] = 1.5f;
    if ((rc = sabre_region_find(r, "points", p, &f)) != SABRE_OK)
        return fail("find", rc);
    if (((float *)f.ptr)[0] != 1.5f)
        return fail("read back", SABRE_ECORRUPT);
    size_t len = 0;
    if (sabre_abi_json(NULL, 0, &len) != SABRE_ENOSPC || len == 0)
        return fail("abi", SABRE_EINVAL);
    char *abi = malloc(len + 1);
    if (!abi || (rc = sabre_abi_json(abi, len + 1, &len)) != SABRE_OK)
        return fail("abi", rc);
    int ok = strstr(abi, "\"region_header\"") != NULL;
    free(abi);
    sabre_region_close(r);
    sabre_schema_free(s);
    if (!ok)
        return fail("abi document", SABRE_ECORRUPT);
    printf("consumer ok: abi %d.%d, layout 0x%016llx\n", SABRE_ABI_MAJOR, SABRE_ABI_MINOR,
           (unsigned long long)p->hash);
    return 0;
}
