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

#endif
