/*
 * test_abi.c - sabre_abi_json(): the size contract (ENOSPC with the length
 * needed, a NUL-terminated prefix), bad arguments, and the content: every
 * exported struct's fields lie inside the struct, in offset order, without
 * overlapping, and known facts (header sizes, magics, versions, a field the
 * document and the pure-JS readers rely on) are what the library uses.
 * docs/abi.md's tables are checked against the same export by
 * tests/abi_docs.py (CTest: abi_docs).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring/ring_abi.h"
#include "sabre/sabre.h"
#include "weights/weights_abi.h"

/* The value of "key": N inside the object that starts at `from`. */
static long long num_after(const char *from, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(from, pat);
    return p ? strtoll(p + strlen(pat), NULL, 0) : -999999;
}

static void test_abi_json_reports_length_and_refuses_small_buffer(void)
{
    size_t len = 0;
    CHECK_ERR(sabre_abi_json(NULL, 0, &len), SABRE_ENOSPC);
    CHECK(len > 1000);
    char small[16];
    size_t len2 = 0;
    CHECK_ERR(sabre_abi_json(small, sizeof small, &len2), SABRE_ENOSPC);
    CHECK_EQ(len2, len);
    CHECK_EQ(strlen(small), sizeof small - 1);
    CHECK_STR_CONTAINS(sabre_last_error(), "needs");
    CHECK_ERR(sabre_abi_json(small, sizeof small, NULL), SABRE_EINVAL);
    CHECK_ERR(sabre_abi_json(NULL, 8, &len2), SABRE_EINVAL);
    char *buf = malloc(len + 1);
    CHECK_OK(sabre_abi_json(buf, len + 1, &len2));
    CHECK_EQ(len2, len);
    CHECK_EQ(strlen(buf), len);
    free(buf);
}

/* Walk "structs" and "public_structs": fields in order, inside, disjoint. */
static void test_abi_json_fields_tile_their_structs(void)
{
    size_t len = 0;
    sabre_abi_json(NULL, 0, &len);
    char *buf = malloc(len + 1);
    CHECK_OK(sabre_abi_json(buf, len + 1, &len));
    unsigned nstructs = 0, nfields = 0;
    const char *p = strstr(buf, "\"structs\"");
    CHECK(p != NULL);
    while ((p = strstr(p, "{\"size\": ")) != NULL) {
        long long size = strtoll(p + 9, NULL, 10);
        const char *end = strstr(p, "]}");
        CHECK(end != NULL);
        long long prev_end = 0;
        const char *f = p;
        unsigned nf = 0;
        while ((f = strstr(f, "\"offset\": ")) != NULL && f < end) {
            long long off = strtoll(f + 10, NULL, 10);
            long long fs = num_after(f, "size");
            CHECK(off >= prev_end); /* ordered and not overlapping */
            CHECK(fs > 0 && off + fs <= size);
            prev_end = off + fs;
            f += 10;
            nf++;
        }
        CHECK(nf > 0);
        nfields += nf;
        nstructs++;
        p = end;
    }
    CHECK(nstructs >= 40);
    CHECK(nfields >= 300);
    free(buf);
}

static void test_abi_json_states_what_the_library_uses(void)
{
    size_t len = 0;
    sabre_abi_json(NULL, 0, &len);
    char *buf = malloc(len + 1);
    CHECK_OK(sabre_abi_json(buf, len + 1, &len));
    const char *ring = strstr(buf, "\"ring_header\": ");
    CHECK(ring && num_after(ring, "size") == (long long)sizeof(rg_hdr));
    const char *commit = strstr(ring, "\"name\": \"commit_seq\"");
    CHECK(commit && num_after(commit, "offset") == 256);
    const char *wh = strstr(buf, "\"weights_header\": ");
    CHECK(wh && num_after(wh, "size") == (long long)sizeof(wt_hdr));
    const char *ver = strstr(wh, "\"name\": \"version\"");
    CHECK(ver && num_after(ver, "offset") == 4); /* the notes' Int32Array control block */
    const char *objs = strstr(buf, "\"ring\": {\"magic\"");
    CHECK(objs && num_after(objs, "major") == SABRE_RING_ABI_MAJOR);
    CHECK(strstr(buf, "\"SABRE_ECORRUPT\": -7") != NULL);
    CHECK(strstr(buf, "\"SABRE_OBJ_RING\": 4") != NULL);
    CHECK(strstr(buf, "\"magic\": \"0x4e47455245424153\"") != NULL); /* region */
    free(buf);
}

int main(void)
{
    test_abi_json_reports_length_and_refuses_small_buffer();
    test_abi_json_fields_tile_their_structs();
    test_abi_json_states_what_the_library_uses();
    return check_done();
}
