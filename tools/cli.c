// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Shared pieces of the rds-bpf subcommands (cli.h). */
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "cli.h"

/* The file a library was loaded from (its name carries the full version:
 * libbpf.so.1.1.2), as xdp-tools' get_libbpf_version() finds it. */
static bool loaded_from(const char *lib, char *path, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, lib)) {
			p[strcspn(p, "\n")] = 0;
			snprintf(path, len, "%s", p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

void cli_version(void)
{
	char path[256];

	printf("rds-bpf %s\n", RDSB_VERSION);
	printf("libbpf %u.%u", libbpf_major_version(), libbpf_minor_version());
	if (loaded_from("/libbpf.so", path, sizeof(path)))
		printf(" (%s)", path);
	printf("\n");
	if (loaded_from("/libxdp.so", path, sizeof(path)))
		printf("libxdp %s\n", path);
	else
		printf("libxdp not used (no XDP transport in this build)\n");
}

int cli_not_loaded(const char *cmd, bool json)
{
	if (json)
		printf("{\"loaded\":false}\n");
	else
		fprintf(stderr, "rds-bpf %s: no engine in this network namespace; hint: rds-bpf load\n", cmd);
	return EXIT_NOT_LOADED;
}

int cli_refused(const char *cmd, int err)
{
	fprintf(stderr, "rds-bpf %s: %s; hint: only root may stop the engine, and only root and the group named by load --group may use it\n",
		cmd, strerror(err));
	return EXIT_RUNTIME;
}

int cli_timeout_ms = RDSB_CLI_TIMEOUT_MS;

int cli_not_answering(const char *cmd)
{
	fprintf(stderr, "rds-bpf %s: engine not answering: no reply within %g s; hint: the engine of this network namespace is stopped or stuck (see its log; a stopped one goes on with kill -CONT, a stuck one is replaced by kill -9 and rds-bpf load)\n",
		cmd, cli_timeout_ms / 1000.0);
	return EXIT_RUNTIME;
}

bool cli_extra_args(const char *cmd, int argc, char **argv)
{
	if (optind >= argc)
		return false;
	fprintf(stderr, "rds-bpf %s: unexpected argument '%s'\n", cmd, argv[optind]);
	return true;
}
