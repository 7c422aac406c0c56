// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp-records: the plain-TCP baseline for the 64 B message rate. Records of
 * an RDS datagram's size on the wire (a 48-byte header and 64 bytes of
 * payload, 112 bytes), one write per record, TCP_NODELAY, over FLOWS
 * connections, one thread each:
 *   tcp-records server ADDR:PORT FLOWS       (serves FLOWS connections, then exits)
 *   tcp-records client ADDR:PORT FLOWS DEPTH SECS oneway|reqresp
 *     -> "records FLOWS DEPTH MODE msgs_per_s X"
 * oneway: each flow writes records for SECS; the server counts what it read
 * and answers the count when the flow closes, so X is records delivered per
 * second. reqresp: each flow keeps DEPTH requests outstanding, the server
 * writes one record back per record it reads; X counts requests and
 * responses, as rds-bpf stress counts tx + rx.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REC 112
#define MAX_FLOWS 64

static struct sockaddr_in sin_;
static int depth, secs, reqresp;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int full(int fd, void *buf, size_t len, int rd)
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

/* Server side of one flow: the first byte says the mode. */
static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	static __thread char buf[64 * REC];
	uint64_t count = 0;
	size_t have = 0;
	char mode;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (full(fd, &mode, 1, 1))
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n <= 0)
			break;
		have += (size_t)n;
		for (size_t off = 0; have - off >= REC; off += REC) {
			count++;
			if (mode == 'r' && full(fd, buf + off, REC, 0))
				goto out;
		}
		memmove(buf, buf + have - have % REC, have % REC);
		have %= REC;
	}
	if (mode == 'o')
		full(fd, &count, sizeof(count), 0);
out:
	close(fd);
	return NULL;
}

struct flow {
	pthread_t th;
	uint64_t msgs;
	double secs;
};

static void *run(void *arg)
{
	struct flow *f = arg;
	char rec[REC] = { 0 }, mode = reqresp ? 'r' : 'o';
	int fd = -1, one = 1;
	double start, end;

	/* the server may still be starting on a loaded machine: retry 5 s */
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sin_, sizeof(sin_))) {
			int err = errno;

			close(fd);
			fd = -1;
			if (err != ECONNREFUSED)
				return NULL;
			usleep(50000);
		}
	}
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (full(fd, &mode, 1, 0))
		return NULL;
	start = now_s();
	end = start + secs;
	if (!reqresp) {
		uint64_t got = 0;

		while (now_s() < end)
			for (int i = 0; i < 64; i++)
				if (full(fd, rec, REC, 0))
					return NULL;
		shutdown(fd, SHUT_WR);
		if (full(fd, &got, sizeof(got), 1))
			return NULL;
		f->msgs = got;
	} else {
		for (int i = 0; i < depth; i++)
			if (full(fd, rec, REC, 0))
				return NULL;
		f->msgs = (uint64_t)depth;
		while (now_s() < end) {
			if (full(fd, rec, REC, 1) || full(fd, rec, REC, 0))
				return NULL;
			f->msgs += 2;
		}
	}
	f->secs = now_s() - start;
	close(fd);
	return NULL;
}

static int parse(const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	sin_.sin_family = AF_INET;
	sin_.sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin_.sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct flow flows[MAX_FLOWS];
	double rate = 0;
	int n, one = 1;

	if (argc < 4 || parse(argv[2]) ||
	    ((strcmp(argv[1], "server") || argc != 4) && (strcmp(argv[1], "client") || argc != 7))) {
		fprintf(stderr, "usage: tcp-records server ADDR:PORT FLOWS | client ADDR:PORT FLOWS DEPTH SECS oneway|reqresp\n");
		return 2;
	}
	/* A flow that ends closes while the server still answers its last
	 * requests: that write fails (EPIPE), the flow's thread ends, and the
	 * process, with the flows still running, must not die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	n = atoi(argv[3]);
	if (n <= 0 || n > MAX_FLOWS) {
		fprintf(stderr, "tcp-records: FLOWS 1..%d\n", MAX_FLOWS);
		return 2;
	}
	if (!strcmp(argv[1], "server")) {
		int l = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l < 0 || bind(l, (struct sockaddr *)&sin_, sizeof(sin_)) || listen(l, MAX_FLOWS)) {
			perror("tcp-records: listen");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int c = accept(l, NULL, NULL);

			if (c < 0 || pthread_create(&flows[i].th, NULL, serve, (void *)(intptr_t)c))
				return 1;
		}
		for (int i = 0; i < n; i++)
			pthread_join(flows[i].th, NULL);
		return 0;
	}
	depth = atoi(argv[4]);
	secs = atoi(argv[5]);
	reqresp = !strcmp(argv[6], "reqresp");
	if (depth <= 0 || secs <= 0 || (!reqresp && strcmp(argv[6], "oneway"))) {
		fprintf(stderr, "tcp-records: DEPTH and SECS above 0, oneway or reqresp\n");
		return 2;
	}
	for (int i = 0; i < n; i++)
		pthread_create(&flows[i].th, NULL, run, &flows[i]);
	for (int i = 0; i < n; i++) {
		pthread_join(flows[i].th, NULL);
		if (!flows[i].secs) {
			fprintf(stderr, "tcp-records: flow %d failed\n", i);
			return 1;
		}
		rate += (double)flows[i].msgs / flows[i].secs;
	}
	printf("records %d %d %s msgs_per_s %.0f\n", n, depth, argv[6], rate);
	return 0;
}
