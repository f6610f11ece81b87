/*
 * sabre/abi.h - the library's binary interface, described by the library.
 *
 * sabre_abi_json() writes one JSON document with every fact a reader of
 * shared memory or a language binding needs and must never copy by hand:
 * the ABI versions and magic numbers of every shared structure, the status
 * codes, the public enums and limits, and for each shared structure (and
 * the public structs a binding passes by value or pointer) its size and the
 * offset and size of every field -- all computed by the compiler from the
 * same C structs the library uses (sizeof / offsetof, never retyped).
 * `sabre abi --json` prints it; docs/abi.md describes it ("Machine-readable
 * ABI") and a test checks the document's tables against it.
 *
 * Shape (field order inside each object as listed; 64-bit magic numbers are
 * strings "0x..." so that JavaScript numbers lose nothing):
 *   { "library": {"version": "0.1", "abi_major": 1, ...},
 *     "objects": { "region": {"magic": "0x...", "major": 1, "minor": 0}, ... },
 *     "status":  { "SABRE_OK": 0, "SABRE_EINVAL": -1, ... },
 *     "enums":   { "sabre_backing_t": {"SABRE_BACKING_PRIVATE": 0, ...}, ... },
 *     "constants": { "SABRE_NAME_MAX": 48, ... },
 *     "structs": { "region_header": {"size": 512, "fields": [
 *                    {"name": "magic", "offset": 0, "size": 8}, ...]}, ... } }
 *
 * Ownership: the caller owns the buffer.
 * Thread-safety: reentrant; reads nothing but constants.
 * Blocking: never.
 * Errors: SABRE_EINVAL when len_out is NULL or buf is NULL with cap > 0;
 *         SABRE_ENOSPC when the document (plus its NUL) does not fit in cap:
 *         *len_out is then the length needed, and buf holds a truncated,
 *         NUL-terminated prefix (cap > 0).  Call once with (NULL, 0) to learn
 *         the size.
 */
#ifndef SABRE_ABI_H
#define SABRE_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the ABI document into buf (NUL-terminated when cap > 0); *len_out
 * receives its length without the NUL. */
int sabre_abi_json(char *buf, size_t cap, size_t *len_out);

#ifdef __cplusplus
}
#endif

#endif
