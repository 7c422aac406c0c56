// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp-pingpong: the plain-TCP baseline for the ping-pong benchmark.
 * Length-prefixed messages over one TCP_NODELAY connection.
 *   tcp-pingpong server ADDR:PORT
 *   tcp-pingpong client ADDR:PORT COUNT SIZE   -> "pingpong COUNT rtt_us p50 X p99 Y"
 */
#include "pingpong.h"

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int server, fd;

	if (argc < 3 || pp_addr(argv[2], &sin) || (!(server = !strcmp(argv[1], "server")) && argc < 5)) {
		fprintf(stderr, "usage: tcp-pingpong server|client ADDR:PORT [COUNT SIZE]\n");
		return 2;
	}
	fd = pp_connect(server, &sin);
	if (fd < 0)
		return 1;
	if (server)
		return pp_serve(fd, fd);
	return pp_run(fd, fd, atoi(argv[3]), (uint32_t)atoi(argv[4]));
}
