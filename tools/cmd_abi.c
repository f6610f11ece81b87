/*
 * sabre abi [--json] - the binary interface as the library describes it
 * (sabre_abi_json): versions and magic numbers of every shared object,
 * status codes, enums, limits, and each shared structure's size and field
 * offsets.  Bindings and readers written from docs/abi.md use it instead of
 * copying offsets by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "sabre/sabre.h"

int sabre_tool_cmd_abi(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json"))) {
        FILE *f =
            argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
        fprintf(f, "usage: sabre abi [--json]\n\n"
                   "Prints the binary interface as JSON: object magic numbers and versions,\n"
                   "status codes, enums, limits, and the size and field offsets of every\n"
                   "shared structure (docs/abi.md, \"Machine-readable ABI\").\n");
        return f == stdout ? 0 : 2;
    }
    size_t len = 0;
    sabre_abi_json(NULL, 0, &len);
    char *buf = malloc(len + 1);
    if (!buf) {
        fprintf(stderr, "sabre abi: out of memory\n");
        return 1;
    }
    if (sabre_abi_json(buf, len + 1, &len)) {
        fprintf(stderr, "sabre abi: %s\n", sabre_last_error());
        free(buf);
        return 1;
    }
    fwrite(buf, 1, len, stdout);
    free(buf);
    return 0;
}
