/* cmds.h - the sabre command's subcommands, one tools/cmd_<name>.c each.
 * Each returns the process exit status: 0 ok, 1 failure, 2 usage error. */
#ifndef SABRE_TOOL_CMDS_H
#define SABRE_TOOL_CMDS_H

int sabre_tool_cmd_inspect(int argc, char **argv);
int sabre_tool_cmd_schema(int argc, char **argv);
int sabre_tool_cmd_probe(int argc, char **argv);
int sabre_tool_cmd_create(int argc, char **argv);
int sabre_tool_cmd_demo(int argc, char **argv);
int sabre_tool_cmd_abi(int argc, char **argv);
/* sabre demo rl (tools/cmd_demo_rl.c) */
int sabre_tool_demo_rl(int argc, char **argv);

#include <stdio.h>

#include "sabre/layout.h"
/* `sabre schema --emit c`: the C header of a compiled schema (schema_emit_c.c);
 * `shown` is the schema file's name.  0 or 1 (write failed). */
int sabre_tool_schema_emit_c(const sabre_schema_t *schema, const char *shown, FILE *f);

#endif
