// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp-sockmap-pingpong: tcp-pingpong with both ends receiving as the BPF
 * data path does (bpf/pingpong_redirect.bpf.c): a stream parser and a
 * verdict on the TCP socket redirect every message to the ingress of one
 * end of an AF_UNIX stream socketpair, and the process reads the whole
 * message, prefix included, from that end (recv MSG_DONTWAIT, poll when
 * empty, as the library does). It sends on the TCP socket.
 * The floor of the BPF data path's latency. Needs root.
 *   tcp-sockmap-pingpong server ADDR:PORT
 *   tcp-sockmap-pingpong client ADDR:PORT COUNT SIZE   -> "pingpong COUNT rtt_us p50 X p99 Y"
 */
#include <poll.h>
#include <pthread.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pingpong.h"
#include "pingpong_redirect.skel.h"

/* room for the largest message, so that strparser takes it whole and a
 * redirect is never retried for want of receive buffer */
#define PP_RCVBUF (4 * PP_MAX_MSG)

#define NEEDS " (needs root, and a kernel with sockmap stream parsers: CONFIG_BPF_STREAM_PARSER)"

static int fail(const char *what, const char *hint)
{
	fprintf(stderr, "tcp-sockmap-pingpong: cannot %s: %s%s\n", what, strerror(errno), hint);
	return -1;
}

static struct pingpong_redirect *skel;

/* The programs attached and the socketpair end in its sockmap: the socket
 * the process reads; -1 after saying why not. */
static int redirect_open(void)
{
	int sv[2], buf = PP_RCVBUF;
	uint32_t key = 0;
	uint64_t fd;

	libbpf_set_print(NULL);
	skel = pingpong_redirect__open_and_load();
	if (!skel)
		return fail("load the BPF programs", NEEDS);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.pp_parse), bpf_map__fd(skel->maps.pp_tcp),
			    BPF_SK_SKB_STREAM_PARSER, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.pp_verdict), bpf_map__fd(skel->maps.pp_tcp),
			    BPF_SK_SKB_STREAM_VERDICT, 0))
		return fail("attach the stream parser and verdict", NEEDS);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("create the socketpair", "");
	if (setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		return fail("set SO_RCVBUFFORCE", "");
	fd = (uint64_t)sv[0];
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.pp_rx), &key, &fd, BPF_ANY))
		return fail("put the socketpair end into its sockmap", NEEDS);
	return sv[0];	/* sv[1] stays open, unused */
}

/* The TCP socket under the parser and verdict; 0 or -1 after saying why. */
static int redirect_tcp(int tcp)
{
	int buf = PP_RCVBUF, one = 1;
	uint32_t key = 0;
	uint64_t fd = (uint64_t)tcp;

	if (setsockopt(tcp, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		return fail("set SO_RCVBUFFORCE", "");
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.pp_tcp), &key, &fd, BPF_ANY))
		return fail("put the TCP socket into its sockmap", "");
	/* What arrived before the socket joined the map waits for the next
	 * data_ready; setting SO_RCVLOWAT calls it now (tcp_set_rcvlowat). */
	setsockopt(tcp, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	return 0;
}

/* The process reads the socketpair, which never sees the TCP connection
 * end: this thread ends the process then, the server with 0, the client
 * (whose server went away) with 1. */
static int tcp_fd, is_server;

static void *hangup(void *arg)
{
	struct pollfd p = { .fd = tcp_fd, .events = POLLRDHUP };

	(void)arg;
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	if (!is_server)
		fprintf(stderr, "tcp-sockmap-pingpong: the server closed the connection\n");
	_exit(is_server ? 0 : 1);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int server, fd, rx;

	if (argc < 3 || pp_addr(argv[2], &sin) || (!(server = !strcmp(argv[1], "server")) && argc < 5)) {
		fprintf(stderr, "usage: tcp-sockmap-pingpong server|client ADDR:PORT [COUNT SIZE]\n");
		return 2;
	}
	rx = redirect_open();
	if (rx < 0)
		return 1;
	fd = pp_connect(server, &sin);
	if (fd < 0 || redirect_tcp(fd))
		return 1;
	tcp_fd = fd;
	is_server = server;
	if (pthread_create(&(pthread_t){ 0 }, NULL, hangup, NULL)) {
		fprintf(stderr, "tcp-sockmap-pingpong: cannot start a thread\n");
		return 1;
	}
	if (server)
		return pp_serve(rx, fd);
	return pp_run(rx, fd, atoi(argv[3]), (uint32_t)atoi(argv[4]));
}
