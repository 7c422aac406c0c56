// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf ping: rds-ping's behaviour and line format. Zero-length datagrams
 * to port 0 of the destination, from 8 sockets bound to the source address
 * in turn; the peer's RDS (kernel or rds-bpf) answers each from port 0.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rds-bpf/rds.h>
#include "../user/common/addr.h"
#include "cli.h"

#define NSOCKETS 8

static long usec_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* The source address the routing table picks for dst (rds-ping does the same). */
static int pick_source(const struct sockaddr_storage *dst, socklen_t len, struct sockaddr_storage *src,
		       socklen_t *slen)
{
	int fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)dst, len);
	if (!rc)
		rc = getsockname(fd, (struct sockaddr *)src, slen);
	close(fd);
	return rc;
}

int rdsb_cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct sockaddr_storage dst, src;
	socklen_t dlen, slen = sizeof(src);
	unsigned int count = 0, replies = 0, sent = 0;
	double interval = 1.0;
	const char *local = NULL;
	uint8_t a[16];
	uint16_t port;
	int fds[NSOCKETS], c;

	while ((c = getopt_long(argc, argv, "c:i:I:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			count = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			interval = strtod(optarg, NULL);
			break;
		case 'I':
			local = optarg;
			break;
		case 'h':
			printf("usage: rds-bpf ping [-c count] [-i interval] [-I local_addr] dst\n");
			return 0;
		default:
			fprintf(stderr, "usage: rds-bpf ping [-c count] [-i interval] [-I local_addr] dst\n");
			return 2;
		}
	}
	if (optind + 1 != argc || rdsb_addr_parse(argv[optind], a, &port) || interval < 0) {
		fprintf(stderr, "usage: rds-bpf ping [-c count] [-i interval] [-I local_addr] dst\n");
		return 2;
	}
	dlen = rdsb_addr_to_sa(a, 0, 0, false, &dst);
	if (local) {
		if (rdsb_addr_parse(local, a, &port)) {
			fprintf(stderr, "rds-bpf ping: bad local address '%s'\n", local);
			return 2;
		}
		slen = rdsb_addr_to_sa(a, 0, 0, false, &src);
	} else if (pick_source(&dst, dlen, &src, &slen)) {
		fprintf(stderr, "rds-bpf ping: no route to %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	((struct sockaddr_in *)&src)->sin_port = 0;	/* same offset in sockaddr_in6 */
	for (int i = 0; i < NSOCKETS; i++) {
		fds[i] = rdsb_socket(AF_RDS, SOCK_SEQPACKET, 0);
		if (fds[i] < 0 || rdsb_bind(fds[i], (struct sockaddr *)&src, slen)) {
			if (errno == ETIMEDOUT)
				return cli_not_answering("ping");
			fprintf(stderr, "rds-bpf ping: %s: %s%s\n", fds[i] < 0 ? "socket" : "bind", strerror(errno),
				errno == EAFNOSUPPORT ? " (is the engine loaded? rds-bpf load)" : "");
			return 1;
		}
	}
	for (unsigned int seq = 1; !count || seq <= count; seq++) {
		int fd = fds[seq % NSOCKETS];
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct timespec t0;
		char buf[64];

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (rdsb_sendto(fd, NULL, 0, 0, (struct sockaddr *)&dst, dlen) < 0) {
			printf(" %3u: ERROR: %s\n", seq, strerror(errno));
		} else {
			sent++;
			while (poll(&p, 1, (int)(interval * 1000) + 1000) > 0) {
				struct sockaddr_storage from;
				socklen_t flen = sizeof(from);

				if (rdsb_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen) < 0)
					continue;
				printf(" %3u: %ld usec\n", seq, usec_since(&t0));
				replies++;
				break;
			}
		}
		fflush(stdout);
		if (count && seq == count)
			break;
		if (interval > 0)
			usleep((useconds_t)(interval * 1e6));
	}
	for (int i = 0; i < NSOCKETS; i++)
		rdsb_close(fds[i]);
	return replies ? 0 : 1;
}
