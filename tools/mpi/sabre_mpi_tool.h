/* sabre_mpi_tool.h - what the sabre-mpi command's files share. */
#ifndef SABRE_MPI_TOOL_H
#define SABRE_MPI_TOOL_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "sabre/mpi.h"
#include "sabre/sabre.h"

extern volatile sig_atomic_t sabre_mpi_tool_signal;
/* SIGINT/SIGTERM set sabre_mpi_tool_signal. */
void sabre_mpi_tool_signals(void);
/* One line of a bridge's counters, `why` it is printed. */
void sabre_mpi_tool_print_stats(FILE *f, const sabre_mpi_bridge_t *b, const char *why);
/* `pattern` with "%r" replaced by `rank`. */
void sabre_mpi_tool_region_name(char *dst, size_t cap, const char *pattern, int rank);
/* sabre-mpi demo rl (tools/mpi/demo_rl.c) */
int sabre_mpi_tool_demo_rl(int argc, char **argv);

#endif
