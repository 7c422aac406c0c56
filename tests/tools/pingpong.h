/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The ping-pong of the TCP baselines: length-prefixed messages (a 4-byte
 * host-order length, then the payload, in one send) over one TCP_NODELAY
 * connection. Each end sends on tx and reads whole messages, prefix
 * included, from rx: the TCP socket itself, or where a sockmap redirect
 * delivers them.
 */
#ifndef PINGPONG_H
#define PINGPONG_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PP_MAX_MSG (1u << 20)

/* Writes all of buf: one write, unless the socket takes less. */
static int pp_write(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0)
			return -1;
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one message, [length][payload], into buf (cap payload bytes at
 * most) with nonblocking recvs and poll between them, the tightest loop a
 * reader can write: a message usually comes in one recv, since only one is
 * ever in flight. Waiting in poll is also what the library does on the BPF
 * path (user/lib/recv.c): a blocking read of a socket fed by a sockmap
 * redirect can find the message still on its way to the psock queue and
 * sleep on the socket's own queue, for ever. */
static int pp_read_msg(int fd, char *buf, uint32_t cap, uint32_t *len)
{
	size_t have = 0, want = 4;

	while (have < want) {
		ssize_t n = recv(fd, buf + have, (want == 4 ? cap + 4 : want) - have, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			poll(&p, 1, -1);
			continue;
		}
		if (n <= 0)
			return -1;
		have += (size_t)n;
		if (want == 4 && have >= 4) {
			memcpy(len, buf, 4);
			if (*len > cap)
				return -1;
			want = 4 + *len;
		}
	}
	return 0;
}

static int pp_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ADDR:PORT -> sin; 0 or -1 */
static int pp_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64], *colon;

	if (strlen(s) >= sizeof(host) || !(colon = strchr(strcpy(host, s), ':')))
		return -1;
	*colon = 0;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* The connected TCP_NODELAY socket: accepted (server) or connected (the
 * client tries for 2 s); -1 */
static int pp_connect(int server, const struct sockaddr_in *sin)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), c = -1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (server) {
		if (!bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) && !listen(fd, 1))
			c = accept(fd, NULL, NULL);
	} else {
		for (int i = 0; i < 100 && c < 0; i++) {
			if (!connect(fd, (const struct sockaddr *)sin, sizeof(*sin)))
				c = fd;
			else
				usleep(20000);
		}
	}
	if (c < 0) {
		perror(server ? "pingpong: accept" : "pingpong: connect");
		close(fd);
		return -1;
	}
	if (c != fd)
		close(fd);	/* the listening socket */
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

/* The server: every message back, in one send, until the peer closes. */
static int pp_serve(int rx, int tx)
{
	static char buf[4 + PP_MAX_MSG];
	uint32_t len;

	while (!pp_read_msg(rx, buf, PP_MAX_MSG, &len))
		if (pp_write(tx, buf, 4 + len))
			break;
	return 0;
}

/* The client: COUNT round trips of SIZE bytes, one send each way, then the
 * p50 and p99. */
static int pp_run(int rx, int tx, int count, uint32_t size)
{
	char *buf = calloc(1, (size_t)size + 4);
	double *rtt = calloc((size_t)count, sizeof(double));

	if (count <= 0 || size > PP_MAX_MSG || !buf || !rtt)
		return 2;
	for (int i = 0; i < count; i++) {
		struct timespec a, b;
		uint32_t len;

		memcpy(buf, &size, 4);
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (pp_write(tx, buf, 4 + size) || pp_read_msg(rx, buf, size, &len) || len != size)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		rtt[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(rtt, (size_t)count, sizeof(double), pp_cmp);
	printf("pingpong %d rtt_us p50 %.1f p99 %.1f\n", count, rtt[count / 2], rtt[count * 99 / 100]);
	return 0;
}

#endif
