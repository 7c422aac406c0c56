/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What every rds-bpf subcommand shares: exit codes, the version line, and
 * the "engine not loaded" answer. */
#ifndef RDSB_CLI_H
#define RDSB_CLI_H

#include <stdbool.h>

#define EXIT_RUNTIME 1		/* it ran and failed */
#define EXIT_USAGE 2		/* bad command line */
#define EXIT_NOT_LOADED 3	/* no engine in this network namespace */

/* How long a command waits for the engine to answer (rds-bpf --timeout;
 * the library's rdsb_ctl_timeout_ms is set from it) */
#define RDSB_CLI_TIMEOUT_MS 10000
extern int cli_timeout_ms;

/* rds-bpf (RDSB_VERSION: the VERSION file, through the Makefile), and the
 * libbpf and libxdp actually loaded (from /proc/self/maps). */
void cli_version(void);
/* Says so (one line with a hint, or {"loaded":false}) and returns EXIT_NOT_LOADED. */
int cli_not_loaded(const char *cmd, bool json);
/* The engine refused (err: EPERM, not root nor of the group named at load):
 * says so in one line and returns EXIT_RUNTIME. */
int cli_refused(const char *cmd, int err);
/* The engine took the request and did not answer within --timeout (it is
 * stopped or stuck): says so in one line and returns EXIT_RUNTIME. */
int cli_not_answering(const char *cmd);
/* After getopt: true (and one line saying which) if an argument is left over. */
bool cli_extra_args(const char *cmd, int argc, char **argv);

int rdsb_cmd_ping(int argc, char **argv);
int rdsb_cmd_info(int argc, char **argv);
int rdsb_cmd_features(int argc, char **argv);
int rdsb_cmd_stress(int argc, char **argv);

#endif
