// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The client of reqresp-server.c: COUNT requests, one at a time, each
 * waiting for its reply (at most TIMEOUT seconds, SO_RCVTIMEO).
 *
 *   reqresp-client LOCAL_ADDR SERVER_ADDR SERVER_PORT [COUNT [TIMEOUT]]
 *
 * Plain AF_RDS, like the server: runs on kernel RDS, or on rds-bpf with
 * LD_PRELOAD=librdsb-preload.so. RDS needs a bound socket to send from;
 * port 0 picks a free one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/rds.h>
#include "addr.h"

#ifndef AF_RDS
#define AF_RDS 21
#endif

int main(int argc, char **argv)
{
	struct sockaddr_storage me, server;
	socklen_t melen = argc >= 4 ? make_addr(argv[1], 0, &me) : 0;
	socklen_t slen = argc >= 4 ? make_addr(argv[2], (uint16_t)atoi(argv[3]), &server) : 0;
	long count = argc > 4 ? atol(argv[4]) : 1;
	struct timeval tmo = { .tv_sec = argc > 5 ? atol(argv[5]) : 5 };
	int fd;

	if (!melen || !slen) {
		fprintf(stderr, "usage: reqresp-client LOCAL_ADDR SERVER_ADDR SERVER_PORT [COUNT [TIMEOUT]]\n");
		return 2;
	}
	fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0) {
		perror("socket(AF_RDS) (no RDS here? rds-bpf load, and LD_PRELOAD=librdsb-preload.so)");
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&me, melen) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) < 0) {
		perror("bind");
		return 1;
	}
	for (long i = 1; i <= count; i++) {
		char req[64], rep[128];
		int len = snprintf(req, sizeof(req), "request %ld", i);
		ssize_t n;

		if (sendto(fd, req, (size_t)len, 0, (struct sockaddr *)&server, slen) < 0) {
			perror("sendto");
			return 1;
		}
		/* RDS keeps order between two sockets, so the next datagram
		 * from the server is this request's reply */
		n = recv(fd, rep, sizeof(rep) - 1, 0);
		if (n < 0) {
			perror("recv (no reply)");
			return 1;
		}
		rep[n] = 0;
		printf("reply %ld: %s\n", i, rep);
	}
	close(fd);
	return 0;
}
