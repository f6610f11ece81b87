/*
 * sabre - command-line tool: inspect regions, compile schemas, probe the
 * system, run the demos.  Each subcommand lives in tools/cmd_<name>.c.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "sabre/sabre.h"

/* A subcommand whose file is not linked in is reported as unavailable. */
#pragma weak sabre_tool_cmd_inspect
#pragma weak sabre_tool_cmd_schema
#pragma weak sabre_tool_cmd_probe
#pragma weak sabre_tool_cmd_create
#pragma weak sabre_tool_cmd_demo
#pragma weak sabre_tool_cmd_abi

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *usage;
};

static void usage(FILE *f, const struct command *cmds, size_t n)
{
    fprintf(f, "usage: sabre <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < n; i++)
        if (cmds[i].fn)
            fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].usage);
    fprintf(f, "  %-8s %s\n", "version", "print the library and ABI versions");
    fprintf(f, "\n'sabre <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    const struct command cmds[] = {
        {"inspect", sabre_tool_cmd_inspect, "show a region's header, objects and their state"},
        {"schema", sabre_tool_cmd_schema, "compile a schema file and print its layouts"},
        {"probe", sabre_tool_cmd_probe, "report which shared-memory backings work here"},
        {"create", sabre_tool_cmd_create, "create a region holding objects (for demos and tests)"},
        {"demo", sabre_tool_cmd_demo, "run a demo (physics, rl)"},
        {"abi", sabre_tool_cmd_abi, "print the binary interface (sizes, offsets, magics) as JSON"},
    };
    const size_t n = sizeof cmds / sizeof cmds[0];
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout, cmds, n);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("sabre %d.%d.%d (region ABI %d.%d)\n", SABRE_VERSION_MAJOR, SABRE_VERSION_MINOR,
               SABRE_VERSION_PATCH, SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], cmds[i].name) && cmds[i].fn)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sabre: unknown command '%s'\n", argv[1]);
    usage(stderr, cmds, n);
    return 2;
}
