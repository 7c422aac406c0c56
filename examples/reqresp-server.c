// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A request/response server over RDS: every datagram that arrives is a
 * request, answered with one datagram to its sender ("re: " + request).
 *
 *   reqresp-server ADDR PORT [COUNT [RCVBUF [HOLD_MS]]]
 *
 * Serves COUNT requests (0 = forever). RCVBUF sets SO_RCVBUF; HOLD_MS waits
 * before the first read, as a slow consumer would, so senders see the port
 * congested (see fanout-sender.c).
 *
 * Written against the plain AF_RDS socket API on purpose: the same source
 * runs on a kernel with RDS and, unchanged, on rds-bpf with
 *   LD_PRELOAD=librdsb-preload.so reqresp-server ...
 * (link with -lrdsb and call rdsb_socket() etc. instead to drop the preload).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/rds.h>
#include "addr.h"

#ifndef AF_RDS
#define AF_RDS 21
#endif

/* "a.b.c.d" or an IPv6 address, and a port, into a sockaddr */
int main(int argc, char **argv)
{
	struct sockaddr_storage me;
	socklen_t melen = argc >= 3 ? make_addr(argv[1], (uint16_t)atoi(argv[2]), &me) : 0;
	long count = argc > 3 ? atol(argv[3]) : 0, served = 0;
	int fd;

	if (!melen) {
		fprintf(stderr, "usage: reqresp-server ADDR PORT [COUNT [RCVBUF [HOLD_MS]]]\n");
		return 2;
	}
	fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0) {
		perror("socket(AF_RDS) (no RDS here? rds-bpf load, and LD_PRELOAD=librdsb-preload.so)");
		return 1;
	}
	if (argc > 4) {
		int rcvbuf = atoi(argv[4]);

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (bind(fd, (struct sockaddr *)&me, melen) < 0) {
		perror("bind");
		return 1;
	}
	printf("serving %s:%s\n", argv[1], argv[2]);
	fflush(stdout);
	if (argc > 5)
		usleep((useconds_t)atol(argv[5]) * 1000);
	while (!count || served < count) {
		char req[65536], rep[sizeof(req) + 4] = "re: ";
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, req, sizeof(req), 0, (struct sockaddr *)&from, &flen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvfrom");
			return 1;
		}
		memcpy(rep + 4, req, (size_t)n);
		/* RDS is reliable, but the reply may meet a congested port:
		 * a blocking send waits for it to clear. */
		if (sendto(fd, rep, (size_t)n + 4, 0, (struct sockaddr *)&from, flen) < 0) {
			perror("sendto");
			return 1;
		}
		served++;
	}
	printf("served %ld requests\n", served);
	fflush(stdout);
	/* close drops what the socket has not sent yet (rds_send_drop_to), and
	 * the last replies may wait on the client's congested port: give them
	 * a second to leave */
	sleep(1);
	close(fd);
	return 0;
}
