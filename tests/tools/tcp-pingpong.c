// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp-pingpong: the plain-TCP baseline for the ping-pong benchmark.
 * Length-prefixed messages over one TCP_NODELAY connection.
 *   tcp-pingpong server ADDR:PORT
 *   tcp-pingpong client ADDR:PORT COUNT SIZE   -> "pingpong COUNT rtt_us p50 X p99 Y"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int xfer(int fd, void *buf, size_t len, int rd)
{
	while (len) {
		ssize_t n = rd ? read(fd, buf, len) : write(fd, buf, len);

		if (n <= 0)
			return -1;
		buf = (char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[64], *colon;
	int one = 1, fd;

	if (argc < 3 || strlen(argv[2]) >= sizeof(host) || !(colon = strchr(strcpy(host, argv[2]), ':'))) {
		fprintf(stderr, "usage: tcp-pingpong server|client ADDR:PORT [COUNT SIZE]\n");
		return 2;
	}
	*colon = 0;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, host, &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!strcmp(argv[1], "server")) {
		uint32_t len;
		static char buf[1 << 20];
		int c;

		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 1) || (c = accept(fd, NULL, NULL)) < 0)
			return 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (!xfer(c, &len, 4, 1) && len <= sizeof(buf) && !xfer(c, buf, len, 1))
			if (xfer(c, &len, 4, 0) || xfer(c, buf, len, 0))
				break;
		return 0;
	}
	if (argc < 5)
		return 2;
	int count = atoi(argv[3]);
	uint32_t size = (uint32_t)atoi(argv[4]);
	char *buf = calloc(1, size + 1);
	double *rtt = calloc((size_t)count, sizeof(double));

	for (int i = 0; i < 100 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)); i++)
		usleep(20000);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < count; i++) {
		struct timespec a, b;
		uint32_t len = size;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (xfer(fd, &len, 4, 0) || xfer(fd, buf, size, 0) || xfer(fd, &len, 4, 1) || xfer(fd, buf, len, 1))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		rtt[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(rtt, (size_t)count, sizeof(double), cmp);
	printf("pingpong %d rtt_us p50 %.1f p99 %.1f\n", count, rtt[count / 2], rtt[count * 99 / 100]);
	return 0;
}
