/*
 * inspect_kinds.h - per-kind hooks of `sabre inspect`.
 *
 * `sabre inspect` prints every object's generic directory entry (name, kind,
 * offset, size, layout text and hash).  For the kinds below it then asks the
 * layer that owns the kind to describe the object's *live state* (weights:
 * active slot, version, pins; ring: cursors, drops; ...).  Each layer
 * implements its hook in tools/inspect_<layer>.c; cmd_inspect.c declares the
 * hooks `#pragma weak`, so a hook that is not linked in is simply skipped.
 *
 * Contract for a hook:
 *   int sabre_tool_describe_<kind>(const sabre_region_t *r, const sabre_object_t *o,
 *                                  FILE *out, bool json);
 *   - `r` is mapped READ-ONLY and may be hostile or changing: validate every
 *     offset/size against o->size before reading (sabre_region_ptr helps),
 *     never write, never block.
 *   - text mode (json == false): write zero or more lines, each indented by
 *     four spaces and ending in '\n'.
 *   - JSON mode: write exactly one JSON value (normally an object), nothing
 *     else; inspect stores it as the object's "state" member.
 *   - return SABRE_OK, or a negative SABRE_E* status after sabre__fail-style
 *     reporting (sabre_last_error() is shown as the object's "state_error";
 *     whatever the hook wrote is discarded: output goes to a memory stream
 *     first, so a failing hook never breaks the JSON document).
 */
#ifndef SABRE_TOOL_INSPECT_KINDS_H
#define SABRE_TOOL_INSPECT_KINDS_H

#include <stdbool.h>
#include <stdio.h>

#include "sabre/region.h"

/* The whole region as `sabre inspect [--json]` prints it (also compiled into
 * the wasm module: Region.inspect() in js/). */
int sabre_tool_inspect_render(const sabre_region_t *r, bool json, FILE *out, uint32_t *invalid);

int sabre_tool_describe_weights(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                bool json);
int sabre_tool_describe_ring(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                             bool json);
int sabre_tool_describe_snapshot(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                 bool json);
int sabre_tool_describe_table(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                              bool json);
int sabre_tool_describe_bridge(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                               bool json);
int sabre_tool_describe_mailbox(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                                bool json);
int sabre_tool_describe_vecenv(const sabre_region_t *r, const sabre_object_t *o, FILE *out,
                               bool json);

/*
 * COLUMNS objects (kind SABRE_OBJ_COLUMNS) as written by `sabre create
 * --object` (byte layout in docs/abi.md, "COLUMNS objects"): a 64-byte
 * header, a table of column offsets, then one 64-byte aligned array per
 * flattened column of the stored layout.
 */
#define SABRE_COLUMNS_MAGIC 0x534c4f4352424153ull /* "SABRCOLS" little-endian */

#endif
