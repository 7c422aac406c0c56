// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fan-out with congestion monitoring: COUNT datagrams to each of several
 * receivers (reqresp-server.c), from one nonblocking socket, counting their
 * replies as acknowledgements.
 *
 *   fanout-sender LOCAL_ADDR COUNT SIZE DEST_ADDR:PORT...
 *
 * A receiver that does not keep up has its port set in its host's
 * congestion map; a send to it then fails with ENOBUFS at once, without
 * holding up the others. With RDS_CONG_MONITOR the socket is told (an
 * RDS_CMSG_CONG_UPDATE control message, a mask of port % 64) when such a
 * port clears, so the sender waits in poll() instead of spinning. Ten
 * seconds without a reply, a congestion update or room to send: it gives up
 * (exit 1) and says which receivers still owe replies.
 *
 * Written against librdsb's own API (<rds-bpf/rds.h>, -lrdsb): no
 * LD_PRELOAD, and the rdsb_ prefix shows which calls are RDS. Swap each
 * rdsb_x for x to build the same program for a kernel with RDS.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rds-bpf/rds.h>
#include "addr.h"

#define MAX_DESTS 64
#define IDLE_LIMIT_S 10		/* quiet seconds before giving up */

struct dest {
	struct sockaddr_storage sa;
	socklen_t len;
	const char *name;
	long sent, replies, enobufs;
	uint16_t port;
	bool congested;		/* waiting for its port to clear */
};

/* Reads what is queued: replies (counted per sender port) and congestion
 * updates (which clear the waiting destinations). Returns -1 on error. */
static int drain(int fd, struct dest *d, int n, long *updates)
{
	for (;;) {
		char buf[65536], cbuf[CMSG_SPACE(sizeof(uint64_t))];
		struct sockaddr_storage from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t r = rdsb_recvmsg(fd, &mh, MSG_DONTWAIT);

		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			uint64_t mask;

			if (c->cmsg_level != SOL_RDS || c->cmsg_type != RDS_CMSG_CONG_UPDATE)
				continue;
			memcpy(&mask, CMSG_DATA(c), sizeof(mask));
			(*updates)++;
			for (int i = 0; i < n; i++)
				if (mask & (1ULL << (d[i].port % 64)))
					d[i].congested = false;
		}
		if (mh.msg_controllen)	/* a notification carries no datagram */
			continue;
		for (int i = 0; i < n; i++)
			if (!memcmp(&from, &d[i].sa, d[i].len))
				d[i].replies++;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage me;
	struct dest d[MAX_DESTS];
	int n = argc - 4, fd, one = 1;
	long count = argc > 2 ? atol(argv[2]) : 0, size = argc > 3 ? atol(argv[3]) : 0, updates = 0;
	socklen_t melen = argc > 1 ? make_addr(argv[1], 0, &me) : 0;
	char *payload;

	if (n < 1 || n > MAX_DESTS || !melen || count < 1 || size < 0 || size > 65536) {
		fprintf(stderr, "usage: fanout-sender LOCAL_ADDR COUNT SIZE DEST_ADDR:PORT...\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		char *colon = strrchr(argv[4 + i], ':');

		memset(&d[i], 0, sizeof(d[i]));
		d[i].name = argv[4 + i];
		if (colon) {
			*colon = 0;
			d[i].port = (uint16_t)atoi(colon + 1);
			d[i].len = make_addr(argv[4 + i], d[i].port, &d[i].sa);
			*colon = ':';
		}
		if (!d[i].len) {
			fprintf(stderr, "fanout-sender: bad destination '%s' (ADDR:PORT)\n", argv[4 + i]);
			return 2;
		}
	}
	payload = calloc(1, (size_t)size + 1);
	fd = rdsb_socket(AF_RDS, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		perror("rdsb_socket (is the engine loaded? rds-bpf load)");
		return 1;
	}
	if (rdsb_bind(fd, (struct sockaddr *)&me, melen) < 0 ||
	    rdsb_setsockopt(fd, SOL_RDS, RDS_CONG_MONITOR, &one, sizeof(one)) < 0) {
		perror("bind / RDS_CONG_MONITOR");
		return 1;
	}
	for (int idle_s = 0;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		bool progress = false, done = true;

		for (int i = 0; i < n; i++) {
			if (d[i].sent == count || d[i].congested)
				continue;
			if (rdsb_sendto(fd, payload, (size_t)size, 0, (struct sockaddr *)&d[i].sa, d[i].len) == size) {
				d[i].sent++;
				progress = true;
			} else if (errno == ENOBUFS) {
				/* its port is congested: skip it until it clears */
				d[i].enobufs++;
				d[i].congested = true;
			} else if (errno == EAGAIN) {
				p.events |= POLLOUT;	/* our own send queue is full */
			} else {
				perror("sendto");
				return 1;
			}
		}
		if (drain(fd, d, n, &updates) < 0) {
			perror("recvmsg");
			return 1;
		}
		for (int i = 0; i < n; i++)
			done &= d[i].replies == count;
		if (done)
			break;
		/* Nothing went out: sleep until a reply, a congestion update or
		 * room in the send queue. A second without any: try them all. */
		if (progress || poll(&p, 1, 1000) > 0) {
			idle_s = 0;
			continue;
		}
		if (++idle_s == IDLE_LIMIT_S) {
			for (int i = 0; i < n; i++)
				if (d[i].replies != count)
					fprintf(stderr, "fanout-sender: %s: %ld of %ld replies after %d s quiet\n",
						d[i].name, d[i].replies, count, IDLE_LIMIT_S);
			return 1;
		}
		for (int i = 0; i < n; i++)
			d[i].congested = false;
	}
	for (int i = 0; i < n; i++)
		printf("%s sent %ld replies %ld enobufs %ld\n", d[i].name, d[i].sent, d[i].replies, d[i].enobufs);
	printf("congestion updates %ld\n", updates);
	rdsb_close(fd);
	free(payload);
	return 0;
}
