/*
 * fuzz_vecenv.c - a vecenv's untrusted input: hostile object bytes, the
 * policy's schema texts, and any sequence of calls with any ids, batches
 * and actions.
 *
 * Input: byte 0 picks the mode.
 *   0: bytes 1-2 give an offset (little-endian, modulo the object size) and
 *      the rest overwrites a vecenv object there (header, worker blocks,
 *      rings, schema texts); `sabre_vecenv_inspect`, every worker's
 *      `sabre_vecenv_inspect_worker` and the `sabre inspect` describer must
 *      refuse it or stay in bounds.
 *   1: the rest is a sequence of calls on a live CartPole vecenv (2 worker
 *      threads x 3 envs): send with ids (some out of range, duplicates) and
 *      action values (some refused by the env), recv with any batch, sync
 *      step, reset.  Every call returns a status; nothing hangs (recv waits
 *      at most 1 s for envs that are stepping, which always come).
 *   2: the rest, split at the first NUL, is the policy's observation and
 *      action schema text for sabre_vecenv_create: a clean refusal or a
 *      vecenv whose layouts equal the env's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sabre/region.h"
#include "sabre/vecenv.h"

#include "../tools/inspect_vecenv.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENVS 6u

/* Made once per process and reused: an object image (mode 0), a live
 * vecenv (mode 1). */
static sabre_region_t *g_region;
static sabre_object_t g_obj;
static uint8_t *g_image;
static sabre_vecenv_t *g_ve;

static int setup_image(void)
{
    if (g_image)
        return 0;
    sabre_region_desc_t rd = {.size = 1 << 20, .max_objects = 4};
    sabre_vecenv_t *ve = NULL;
    if (sabre_region_create(&rd, &g_region) != SABRE_OK)
        return -1;
    if (sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                   .workers = 2,
                                                   .envs_per_worker = 3,
                                                   .region = g_region,
                                                   .name = "v"},
                            &ve) != SABRE_OK)
        return -1;
    sabre_vecenv_reset(ve, 1, 1000000000ull);
    sabre_vecenv_step(ve, 1000000000ull);
    sabre_vecenv_close(ve); /* the object stays in the region */
    if (sabre_region_find(g_region, "v", NULL, &g_obj) != SABRE_OK)
        return -1;
    g_image = malloc(g_obj.size);
    if (!g_image)
        return -1;
    memcpy(g_image, g_obj.ptr, g_obj.size);
    return 0;
}

static void hostile_bytes(const uint8_t *data, size_t size)
{
    if (setup_image() != 0 || size < 3)
        return;
    memcpy(g_obj.ptr, g_image, g_obj.size);
    size_t off = ((size_t)data[1] | (size_t)data[2] << 8) % g_obj.size;
    size_t n = size - 3 < g_obj.size - off ? size - 3 : g_obj.size - off;
    memcpy((uint8_t *)g_obj.ptr + off, data + 3, n);
    sabre_vecenv_info_t in;
    if (sabre_vecenv_inspect(g_region, &g_obj, &in) == SABRE_OK) {
        /* Validated: the schema texts are inside the object. */
        (void)strlen(in.obs_schema);
        (void)strlen(in.action_schema);
        for (uint32_t w = 0; w <= in.workers; w++) { /* and one past the end */
            sabre_vecenv_worker_info_t wi;
            sabre_vecenv_inspect_worker(g_region, &g_obj, w, &wi);
        }
    }
    FILE *sink = fopen("/dev/null", "w");
    if (sink) {
        sabre_tool_describe_vecenv(g_region, &g_obj, sink, true);
        sabre_tool_describe_vecenv(g_region, &g_obj, sink, false);
        fclose(sink);
    }
}

static void calls(const uint8_t *data, size_t size)
{
    if (!g_ve && sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                            .workers = 2,
                                                            .envs_per_worker = 3,
                                                            .spin_ns = 2000},
                                     &g_ve) != SABRE_OK)
        return;
    sabre_vecenv_arrays_t a;
    sabre_vecenv_arrays(g_ve, &a);
    int32_t *act = a.actions;
    uint32_t ids[16], n = 0;
    bool all_held = sabre_vecenv_reset(g_ve, size, 1000000000ull) == SABRE_OK;
    /* envs the policy holds: only their action rows may be written (a
     * worker reads an in-flight env's row while it steps) */
    bool held[ENVS];
    for (uint32_t g = 0; g < ENVS; g++) {
        act[g] = (int32_t)(g & 1);
        held[g] = true;
    }
    size_t i = 1;
    while (all_held && i < size) {
        uint8_t op = data[i++];
        switch (op & 3) {
        case 0: { /* send ids (8, 9: out of range) with actions (2: refused) */
            uint32_t k = (op >> 2) % 8;
            for (uint32_t j = 0; j < k && i < size; j++, i++) {
                ids[j] = data[i] % 10;
                if (ids[j] < ENVS && held[ids[j]])
                    act[ids[j]] = (int32_t)((data[i] >> 4) % 3);
            }
            if (sabre_vecenv_send(g_ve, ids, k) == SABRE_OK) /* else nothing was sent */
                for (uint32_t j = 0; j < k; j++)
                    held[ids[j]] = false;
            break;
        }
        case 1: /* recv: batch 0..7, waiting 0 or 1 s */
            if (sabre_vecenv_recv(g_ve, (op >> 2) % 8, ids, &n, op & 0x80 ? 1000000000ull : 0) ==
                SABRE_OK)
                for (uint32_t j = 0; j < n; j++)
                    held[ids[j]] = true;
            break;
        case 2:
            if (sabre_vecenv_step(g_ve, 1000000000ull) == SABRE_OK)
                memset(held, 1, sizeof held);
            break;
        default:
            if (sabre_vecenv_reset(g_ve, op, 1000000000ull) == SABRE_OK)
                memset(held, 1, sizeof held);
        }
    }
    /* Take every env back (the next input resets), with valid actions. */
    while (sabre_vecenv_recv(g_ve, 1, ids, &n, 1000000000ull) == SABRE_OK) {
    } /* EINVAL once none is stepping */
    /* only now: a worker reads an in-flight env's action while it steps */
    for (uint32_t g = 0; g < ENVS; g++)
        act[g] = (int32_t)(g & 1);
    int st = sabre_vecenv_step(g_ve, 1000000000ull);
    if (st != SABRE_OK && st != SABRE_ESTATE) {
        sabre_vecenv_close(g_ve); /* failed: a fresh one next time */
        g_ve = NULL;
    }
}

static void schemas(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t first = strlen(text);
    const char *action = first < size ? text + first + 1 : NULL;
    sabre_vecenv_t *ve = NULL;
    if (sabre_vecenv_create(&(sabre_vecenv_desc_t){.env = sabre_env_cartpole(),
                                                   .workers = 1,
                                                   .envs_per_worker = 1,
                                                   .obs_schema = text,
                                                   .action_schema = action},
                            &ve) == SABRE_OK) {
        const sabre_layout_t *l = sabre_vecenv_obs_layout(ve);
        if (!l || l->size != 16)
            abort(); /* accepted a layout that is not the env's */
        sabre_vecenv_close(ve);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        hostile_bytes(data, size);
        break;
    case 1:
        calls(data, size);
        break;
    default:
        schemas(data + 1, size - 1);
    }
    return 0;
}
