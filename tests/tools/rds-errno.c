/*
 * rds-errno: the AF_RDS errno table of the kernel's net/rds (docs/protocol.md §3)
 * that applies to the TCP transport, one case per line:
 *     ok CASE
 *     FAIL CASE: expected EXXX got EYYY
 * Exit code = number of failures.
 *
 * Written only against the standard AF_RDS socket API (linux/rds.h, plain
 * libc calls), like rds-xfer, so the same source can run against kernel RDS or
 * under LD_PRELOAD=librdsb-preload.so.
 *
 *   rds-errno LOCAL4 PEER4 ECHO_PORT UNREACH4 [LOCAL6 PEER6]
 *
 * LOCAL4: an address of this host. PEER4:ECHO_PORT: an RDS echo service on
 * another host (rds-xfer echo). UNREACH4: an address on the link that nobody
 * answers (messages to it stay queued: send queue full). LOCAL6/PEER6 add the
 * v6-socket-to-v4-destination case.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rds.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "expect.h"

#ifndef AF_RDS
#define AF_RDS 21
#endif
#ifndef SOL_RDS
#define SOL_RDS 276
#endif

static struct sockaddr_in local4, peer4, echo4, unreach4;
static struct sockaddr_in6 local6, peer6;
static int have_v6;
static uint16_t port_seq = 20000;

static int rds_sock(void)
{
	return rds_sock_of("rds-errno");
}

static struct sockaddr_in sin4(const struct sockaddr_in *a, uint16_t port)
{
	struct sockaddr_in s = *a;

	s.sin_port = htons(port);
	return s;
}

static struct sockaddr_in sin4_raw(uint32_t host_order_addr, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	s.sin_addr.s_addr = htonl(host_order_addr);
	return s;
}

/* A socket bound to LOCAL4 on a fresh port; returns the port in *port. */
static int bound_sock(uint16_t *port)
{
	int fd = rds_sock();
	uint16_t p = port_seq++;
	struct sockaddr_in a = sin4(&local4, p);

	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		printf("rds-errno: bind %u: %s\n", p, ename(errno));
		exit(100);
	}
	if (port)
		*port = p;
	return fd;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The major version of the kernel whose RDS answers (its module is there),
 * 0 when it is not the kernel's (rds-bpf's shim). */
static int kernel_rds_major(void)
{
	static int major = -1;
	struct utsname u;

	if (major < 0) {
		major = 0;
		if (!access("/sys/module/rds", F_OK) && !uname(&u))
			sscanf(u.release, "%d", &major);
	}
	return major;
}

/* rds_send_mprds_hash() of the kernels before 7.0 (6.1 here) makes a
 * blocking send on a socket that hashes to a path other than 0 wait,
 * interruptibly and without a timeout, until the connection's NPATHS
 * handshake is done (wait_event_interruptible on c_hs_waitq): to a peer that
 * never answers, forever, SO_SNDTIMEO notwithstanding. The 7.x sendmsg uses
 * path 0 until the handshake is done; so does rds-bpf. */
static int legacy_mprds_wait(void)
{
	int major = kernel_rds_major();

	return major && major < 7;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Every blocking call that may wait for a peer is bounded: SIGALRM after
 * ms, without SA_RESTART, makes it return EINTR. */
static void alarm_in(int ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 } };

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static int wait_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* ---- socket() --------------------------------------------------------- */
static void t_socket(void)
{
	int fd;

	errno = 0;
	fd = socket(AF_RDS, SOCK_STREAM, 0);
	expect_err("socket_stream", fd, ESOCKTNOSUPPORT);
	if (fd >= 0)
		close(fd);
	fd = socket(AF_RDS, SOCK_DGRAM, 0);
	expect_err("socket_dgram", fd, ESOCKTNOSUPPORT);
	if (fd >= 0)
		close(fd);
	fd = socket(AF_RDS, SOCK_SEQPACKET, 1);
	expect_err("socket_protocol_nonzero", fd, ESOCKTNOSUPPORT);
	if (fd >= 0)
		close(fd);
	fd = socket(AF_RDS, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	expect_true("socket_seqpacket_flags", fd >= 0, "expected an fd got %s", ename(errno));
	if (fd >= 0) {
		int v = 0;
		socklen_t l = sizeof(v);

		expect_true("socket_so_type", !getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) && v == SOCK_SEQPACKET,
			    "SO_TYPE %d", v);
		close(fd);
	}
}

/* ---- bind() ----------------------------------------------------------- */
static void t_bind(void)
{
	int fd, fd2, v;
	uint16_t p;
	struct sockaddr_in a;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port_seq++) };
	socklen_t l;

	fd = rds_sock();
	a = sin4(&local4, port_seq++);
	expect_err("bind_short_addrlen", bind(fd, (struct sockaddr *)&a, sizeof(a) - 1), EINVAL);
	a = sin4_raw(INADDR_ANY, port_seq++);
	expect_err("bind_inaddr_any", bind(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	a = sin4_raw(0xe0000001, port_seq++); /* 224.0.0.1 */
	expect_err("bind_multicast", bind(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	a = sin4_raw(INADDR_BROADCAST, port_seq++);
	expect_err("bind_broadcast", bind(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	inet_pton(AF_INET6, "fe80::1", &a6.sin6_addr);
	expect_err("bind_v6_linklocal_no_scope", bind(fd, (struct sockaddr *)&a6, sizeof(a6)), EINVAL);
	a = sin4(&peer4, port_seq++);
	expect_err("bind_nonlocal", bind(fd, (struct sockaddr *)&a, sizeof(a)), EADDRNOTAVAIL);
	a = sin4(&local4, 1);
	expect_err("bind_port_1", bind(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	/* none of the failures bound it: a good bind still works, once */
	p = port_seq++;
	a = sin4(&local4, p);
	expect_ret("bind_ok_after_failures", bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a = sin4(&local4, port_seq++);
	expect_err("bind_already_bound", bind(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	fd2 = rds_sock();
	a = sin4(&local4, p);
	expect_err("bind_port_in_use", bind(fd2, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	close(fd2);
	close(fd);

	/* explicit SO_RDS_TRANSPORT: the transport's laddr_check fails */
	fd = rds_sock();
	v = RDS_TRANS_TCP;
	setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v));
	a = sin4(&peer4, port_seq++);
	expect_err("bind_nonlocal_explicit_tcp", bind(fd, (struct sockaddr *)&a, sizeof(a)), ENOPROTOOPT);
	close(fd);

	/* port 0: an ephemeral port >= 2, really reserved */
	fd = rds_sock();
	a = sin4(&local4, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		fail("bind_port_0", "expected success got %s", ename(errno));
	} else {
		struct sockaddr_in got = { 0 };

		l = sizeof(got);
		if (getsockname(fd, (struct sockaddr *)&got, &l))
			fail("bind_port_0", "getsockname: %s", ename(errno));
		else
			expect_true("bind_port_0", l == sizeof(got) && got.sin_family == AF_INET &&
				    got.sin_addr.s_addr == local4.sin_addr.s_addr && ntohs(got.sin_port) >= 2,
				    "getsockname len %u family %d port %u", l, got.sin_family, ntohs(got.sin_port));
		fd2 = rds_sock();
		expect_err("bind_port_0_reserved", bind(fd2, (struct sockaddr *)&got, sizeof(got)), EADDRINUSE);
		close(fd2);
	}
	close(fd);

	/* close() frees the port at once: the next bind may not race it */
	p = port_seq++;
	a = sin4(&local4, p);
	{
		int bad = 0, err = 0;

		for (int i = 0; i < 50 && !bad; i++) {
			fd = rds_sock();
			if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
				bad = i + 1;
				err = errno;
			}
			close(fd);
		}
		expect_true("close_frees_port", !bad, "bind #%d after close: %s", bad, ename(err));
	}
}

/* ---- connect() -------------------------------------------------------- */
static void t_connect(void)
{
	int fd = bound_sock(NULL);
	struct sockaddr_in a = sin4_raw(INADDR_ANY, 4000);
	char buf[64];

	expect_err("connect_inaddr_any", connect(fd, (struct sockaddr *)&a, sizeof(a)), EDESTADDRREQ);
	a = sin4_raw(0xe0000001, 4000);
	expect_err("connect_multicast", connect(fd, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	expect_ret("connect_echo", connect(fd, (struct sockaddr *)&echo4, sizeof(echo4)), 0);
	expect_ret("send_connected", send(fd, "connected", 9, 0), 9);
	if (!wait_in(fd, 5000))
		fail("send_connected_echo", "no echo within 5 s");
	else
		expect_true("send_connected_echo", recv(fd, buf, sizeof(buf), 0) == 9 && !memcmp(buf, "connected", 9),
			    "echo differs");
	close(fd);
}

/* ---- sendmsg() -------------------------------------------------------- */
static void t_send(void)
{
	struct sockaddr_in nobody = sin4(&peer4, 9); /* nobody bound there: dropped */
	struct sockaddr_in a;
	char small[16] = "x";
	int fd, v;
	socklen_t l;
	uint8_t *big;

	fd = rds_sock();
	expect_err("send_unbound", sendto(fd, small, 1, 0, (struct sockaddr *)&nobody, sizeof(nobody)), ENOTCONN);
	/* rds_sendmsg's order: flags, then the address, then "bound?" */
	expect_err("send_unbound_oob_flags_first",
		   sendto(fd, small, 1, MSG_OOB, (struct sockaddr *)&nobody, sizeof(nobody)), EOPNOTSUPP);
	a = sin4_raw(INADDR_ANY, 4000);
	expect_err("send_unbound_bad_dest_first", sendto(fd, small, 1, 0, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	close(fd);

	fd = bound_sock(NULL);
	expect_err("send_no_dest_not_connected", send(fd, small, 1, 0), ENOTCONN);
	expect_err("send_msg_oob", sendto(fd, small, 1, MSG_OOB, (struct sockaddr *)&nobody, sizeof(nobody)),
		   EOPNOTSUPP);
	expect_err("send_msg_nosignal",
		   sendto(fd, small, 1, MSG_NOSIGNAL, (struct sockaddr *)&nobody, sizeof(nobody)), EOPNOTSUPP);
	expect_err("send_msg_more", sendto(fd, small, 1, MSG_MORE, (struct sockaddr *)&nobody, sizeof(nobody)),
		   EOPNOTSUPP);
	expect_err("send_short_namelen",
		   sendto(fd, small, 1, 0, (struct sockaddr *)&nobody, sizeof(nobody) - 1), EINVAL);
	a = sin4_raw(INADDR_ANY, 4000);
	expect_err("send_dest_inaddr_any", sendto(fd, small, 1, 0, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	a = sin4_raw(INADDR_BROADCAST, 4000);
	expect_err("send_dest_broadcast", sendto(fd, small, 1, 0, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	a = sin4_raw(0xe0000001, 4000);
	expect_err("send_dest_multicast", sendto(fd, small, 1, 0, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	if (have_v6) {
		struct sockaddr_in6 d6 = peer6;

		d6.sin6_port = htons(9);
		expect_err("send_v4_socket_v6_dest", sendto(fd, small, 1, 0, (struct sockaddr *)&d6, sizeof(d6)),
			   EOPNOTSUPP);
	}
	expect_ret("send_zero_length", sendto(fd, small, 0, 0, (struct sockaddr *)&nobody, sizeof(nobody)), 0);
	expect_ret("send_dontwait_ok", sendto(fd, small, 1, MSG_DONTWAIT, (struct sockaddr *)&nobody, sizeof(nobody)),
		   1);
	close(fd);

	if (have_v6) {
		struct sockaddr_in6 b6 = local6;

		fd = rds_sock();
		b6.sin6_port = htons(port_seq++);
		if (bind(fd, (struct sockaddr *)&b6, sizeof(b6)))
			fail("send_v6_socket_v4_dest", "bind %s: %s", "LOCAL6", ename(errno));
		else
			expect_err("send_v6_socket_v4_dest",
				   sendto(fd, small, 1, 0, (struct sockaddr *)&nobody, sizeof(nobody)), EOPNOTSUPP);
		close(fd);
	}

	/* SO_SNDBUF: the kernel doubles it and RDS allows half: 20000 -> 20000 */
	fd = rds_sock();
	v = 20000;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	v = 0;
	l = sizeof(v);
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &l);
	expect_ret("sndbuf_doubled", v, 40000);
	a = sin4(&local4, port_seq++);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	big = calloc(1, (1 << 20) + 1);
	expect_err("send_over_sndbuf_half", sendto(fd, big, 20001, 0, (struct sockaddr *)&nobody, sizeof(nobody)),
		   EMSGSIZE);
	expect_ret("send_sndbuf_half_exactly", sendto(fd, big, 20000, 0, (struct sockaddr *)&nobody, sizeof(nobody)),
		   20000);
	close(fd);

	/* RDS_MAX_MSG_SIZE, with a send buffer large enough not to be the reason */
	fd = rds_sock();
	v = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
		fail("send_over_1mib", "SO_SNDBUFFORCE: %s", ename(errno));
	a = sin4(&local4, port_seq++);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	expect_err("send_over_1mib", sendto(fd, big, (1 << 20) + 1, 0, (struct sockaddr *)&nobody, sizeof(nobody)),
		   EMSGSIZE);
	expect_ret("send_1mib_exactly", sendto(fd, big, 1 << 20, 0, (struct sockaddr *)&nobody, sizeof(nobody)),
		   1 << 20);
	close(fd);
	free(big);
}

/* Send queue full: messages to an address that never answers stay queued,
 * accepted while the queued bytes are below sndbuf/2 (the last may overshoot). */
static void t_send_queue_full(void)
{
	struct sockaddr_in to = sin4(&unreach4, 4000);
	struct timeval tv = { .tv_usec = 200000 };
	struct timespec t0;
	char buf[1000] = { 0 };
	int fd = rds_sock(), v = 4096, accepted = 0, e;
	long r, ms;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)); /* sk_sndbuf 8192: 4096 for RDS */
	{
		struct sockaddr_in a = sin4(&local4, port_seq++);

		bind(fd, (struct sockaddr *)&a, sizeof(a));
	}
	for (int i = 0; i < 20; i++) {
		r = sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
		if (r != (long)sizeof(buf))
			break;
		accepted++;
	}
	expect_err("send_queue_full_eagain", r, EAGAIN);
	expect_ret("send_queue_full_accepted", accepted, 5); /* 0,1000,..,4000 < 4096 */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm_in(2000);
	r = sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to));
	e = errno;
	ms = ms_since(&t0);
	alarm_in(60000);	/* back to the group's watchdog */
	if (legacy_mprds_wait() && r == -1 && e == EINTR) {
		/* 6.1: the port hashed to a path other than 0 (7 ports of 8
		 * do; the hash is seeded once per boot, docs/protocol.md
		 * §2.3): the send waited for the handshake until the alarm */
		printf("# send_queue_full_sndtimeo: the send waited for the NPATHS handshake (rds_send_mprds_hash)\n");
		ok("send_queue_full_sndtimeo");
		expect_true("send_queue_full_sndtimeo_waited", ms >= 1900 && ms < 3000,
			    "6.1: interrupted after %ld ms, alarm at 2000", ms);
	} else {
		errno = e;
		expect_err("send_queue_full_sndtimeo", r, ETIMEDOUT);
		expect_true("send_queue_full_sndtimeo_waited", ms >= 150 && ms < 1500, "waited %ld ms for 200", ms);
	}
	/* RDS_CANCEL_SENT_TO drops them and gives their bytes back */
	expect_ret("cancel_sent_to", setsockopt(fd, SOL_RDS, RDS_CANCEL_SENT_TO, &to, sizeof(to)), 0);
	expect_ret("cancel_sent_to_frees_sndbuf",
		   sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)), sizeof(buf));
	close(fd);
}

/* ---- recvmsg() -------------------------------------------------------- */
static int echo_roundtrip(int fd, const void *msg, size_t len)
{
	if (sendto(fd, msg, len, 0, (struct sockaddr *)&echo4, sizeof(echo4)) != (ssize_t)len)
		return 0;
	return wait_in(fd, 5000);
}

static void t_recv(void)
{
	char buf[256], payload[100];
	struct timeval tv = { .tv_usec = 200000 };
	struct timespec t0;
	struct sockaddr_in from;
	struct iovec iov;
	struct msghdr mh;
	int fd = bound_sock(NULL);
	long r, ms;

	expect_err("recv_dontwait_empty", recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = recv(fd, buf, sizeof(buf), 0);
	ms = ms_since(&t0);
	expect_err("recv_rcvtimeo", r, ETIMEDOUT);
	expect_true("recv_rcvtimeo_waited", ms >= 150 && ms < 3000, "waited %ld ms for 200", ms);
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* MSG_PEEK: the same datagram twice, then nothing */
	if (!echo_roundtrip(fd, "peek-me", 7)) {
		fail("recv_peek", "no echo within 5 s");
	} else {
		memset(buf, 0, sizeof(buf));
		r = recv(fd, buf, sizeof(buf), MSG_PEEK);
		expect_true("recv_peek", r == 7 && !memcmp(buf, "peek-me", 7), "peek returned %ld '%.*s'", r,
			    r > 0 ? (int)r : 0, buf);
		memset(buf, 0, sizeof(buf));
		r = recv(fd, buf, sizeof(buf), 0);
		expect_true("recv_after_peek", r == 7 && !memcmp(buf, "peek-me", 7), "recv returned %ld", r);
		expect_err("recv_peek_consumed_once", recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	}

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (char)('a' + i % 26);
	/* a short buffer: MSG_TRUNC in msg_flags, the rest is discarded */
	if (!echo_roundtrip(fd, payload, sizeof(payload))) {
		fail("recv_trunc_flag", "no echo within 5 s");
	} else {
		iov = (struct iovec){ buf, 10 };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		r = recvmsg(fd, &mh, 0);
		expect_true("recv_trunc_flag", r == 10 && (mh.msg_flags & MSG_TRUNC) && !memcmp(buf, payload, 10),
			    "returned %ld msg_flags %#x", r, mh.msg_flags);
		expect_err("recv_trunc_rest_discarded", recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	}
	/* MSG_TRUNC passed: the full length comes back */
	if (!echo_roundtrip(fd, payload, sizeof(payload))) {
		fail("recv_trunc_full_length", "no echo within 5 s");
	} else {
		iov = (struct iovec){ buf, 10 };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		r = recvmsg(fd, &mh, MSG_TRUNC);
		expect_true("recv_trunc_full_length", r == 100 && (mh.msg_flags & MSG_TRUNC),
			    "returned %ld msg_flags %#x", r, mh.msg_flags);
	}
	/* msg_name: the sender's address and port */
	if (!echo_roundtrip(fd, "who", 3)) {
		fail("recv_msg_name", "no echo within 5 s");
	} else {
		memset(&from, 0xa5, sizeof(from));
		iov = (struct iovec){ buf, sizeof(buf) };
		mh = (struct msghdr){ .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				      .msg_iovlen = 1 };
		r = recvmsg(fd, &mh, 0);
		expect_true("recv_msg_name",
			    r == 3 && mh.msg_namelen == sizeof(from) && from.sin_family == AF_INET &&
				    from.sin_addr.s_addr == echo4.sin_addr.s_addr && from.sin_port == echo4.sin_port &&
				    !(mh.msg_flags & MSG_TRUNC),
			    "returned %ld namelen %u family %d port %u", r, mh.msg_namelen, from.sin_family,
			    ntohs(from.sin_port));
	}
	close(fd);
}

/* ---- a signal's handler during a blocking recv -------------------------- */
static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

/* SIGALRM every 20 ms, its handler installed with flags; 0 0: stopped */
static void ticking(int flags, int ms)
{
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = flags };
	struct itimerval it = { .it_interval = { .tv_usec = ms * 1000 }, .it_value = { .tv_usec = ms * 1000 } };

	ticks = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* rds_recvmsg waits interruptibly and returns -ERESTARTSYS: a handler with
 * SA_RESTART lets the recv go on through every tick until the datagram
 * comes (a child sends it 300 ms on); one without fails it with EINTR. */
static void t_restart(void)
{
	uint16_t port;
	int fd = bound_sock(&port), e, n;
	char buf[64] = { 0 };
	pid_t pid = fork();
	long r;

	if (pid == 0) {
		struct sockaddr_in to = sin4(&local4, port);
		int s = bound_sock(NULL);

		usleep(300000);
		sendto(s, "late", 4, 0, (struct sockaddr *)&to, sizeof(to));
		usleep(200000);
		_exit(0);
	}
	ticking(SA_RESTART, 20);
	r = recv(fd, buf, sizeof(buf), 0);
	e = errno;
	n = ticks;
	ticking(0, 0);
	waitpid(pid, NULL, 0);
	expect_true("recv_signal_sa_restart", r == 4 && !memcmp(buf, "late", 4) && n >= 3,
		    "returned %ld (%s) '%.4s' after %d signals", r, r < 0 ? ename(e) : "", buf, n);
	ticking(0, 20);
	r = recv(fd, buf, sizeof(buf), 0);
	e = errno;
	ticking(0, 0);
	errno = e;
	expect_err("recv_signal_eintr", r, EINTR);
	close(fd);
}

/* ---- setsockopt/getsockopt(SOL_RDS) ----------------------------------- */
static void t_sockopt(void)
{
	int fd, v;
	socklen_t l;
	struct sockaddr_in a, to = sin4(&peer4, 9);
	struct rds_get_mr_args mr = { 0 };
	struct rds_get_mr_for_dest_args mrd = { 0 };
	char page[4096];

	mr.vec.addr = (uintptr_t)page;
	mr.vec.bytes = sizeof(page);
	mrd.vec = mr.vec;
	memcpy(&mrd.dest_addr, &to, sizeof(to));

	fd = rds_sock();
	v = 12345;
	l = sizeof(v);
	expect_true("transport_get_fresh_none",
		    !getsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, &l) && (unsigned int)v == (unsigned int)RDS_TRANS_NONE,
		    "got %d (%s)", v, ename(errno));
	v = RDS_TRANS_TCP;
	expect_err("transport_optlen_2", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, 2), EINVAL);
	v = 99;
	expect_err("transport_99", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)), EINVAL);
	v = -2;
	expect_err("transport_negative", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)), EINVAL);
	v = RDS_TRANS_IB;
	expect_err("transport_ib_absent", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)),
		   not_tcp_transport_errno());
	v = RDS_TRANS_TCP;
	expect_ret("transport_tcp", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)), 0);
	v = -1;
	l = sizeof(v);
	expect_true("transport_get_tcp", !getsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, &l) && v == RDS_TRANS_TCP,
		    "got %d", v);
	v = RDS_TRANS_TCP;
	expect_err("transport_twice", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)), EOPNOTSUPP);
	/* rds_set_transport: "already attached" is checked before optlen */
	expect_err("transport_twice_bad_optlen", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, 2), EOPNOTSUPP);
	a = sin4(&local4, port_seq++);
	expect_ret("transport_tcp_then_bind", bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);

	fd = bound_sock(NULL);
	v = RDS_TRANS_TCP;
	expect_err("transport_after_bind", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v)), EOPNOTSUPP);
	v = -1;
	l = sizeof(v);
	expect_true("transport_get_after_bind", !getsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, &l) && v == RDS_TRANS_TCP,
		    "got %d", v);
	expect_err("cancel_sent_to_short_optlen",
		   setsockopt(fd, SOL_RDS, RDS_CANCEL_SENT_TO, &to, sizeof(to) - 1), EINVAL);
	expect_err("get_mr_tcp", setsockopt(fd, SOL_RDS, RDS_GET_MR, &mr, sizeof(mr)), EOPNOTSUPP);
	expect_err("get_mr_bad_optlen", setsockopt(fd, SOL_RDS, RDS_GET_MR, &mr, sizeof(mr) - 1), EINVAL);
	expect_err("get_mr_for_dest_tcp", setsockopt(fd, SOL_RDS, RDS_GET_MR_FOR_DEST, &mrd, sizeof(mrd)),
		   EOPNOTSUPP);
	expect_err("sol_rds_unknown_option", setsockopt(fd, SOL_RDS, 999, &v, sizeof(v)), ENOPROTOOPT);
	close(fd);

	fd = rds_sock();
	expect_err("cancel_sent_to_unbound", setsockopt(fd, SOL_RDS, RDS_CANCEL_SENT_TO, &to, sizeof(to)), ENOTCONN);
	/* rds_cancel_sent_to: "bound?" is checked before optlen */
	expect_err("cancel_sent_to_unbound_short_optlen",
		   setsockopt(fd, SOL_RDS, RDS_CANCEL_SENT_TO, &to, sizeof(to) - 1), ENOTCONN);
	expect_err("get_mr_unbound", setsockopt(fd, SOL_RDS, RDS_GET_MR, &mr, sizeof(mr)), ENOTCONN);
	close(fd);
}

/* ---- RDS_INFO (info.c) and what a returned sendmsg guarantees --------- */
static int count_queued(int fd, const struct sockaddr_in *l, const struct sockaddr_in *to)
{
	static uint8_t buf[1 << 16];
	socklen_t len = sizeof(buf);
	int each = getsockopt(fd, SOL_RDS, RDS_INFO_SEND_MESSAGES, buf, &len), n = 0;

	if (each < 0)
		return -1;
	for (socklen_t off = 0; each > 0 && off + (socklen_t)each <= len; off += (socklen_t)each) {
		struct rds_info_message *m = (void *)(buf + off);

		/* laddr and faddr 0.0.0.0: __rds_inc_msg_cp (connection.c)
		 * reads the first 32 bits of the v4-mapped in6_addr */
		n += m->lport == l->sin_port && m->fport == to->sin_port && m->len == 1 && !m->laddr && !m->faddr;
	}
	return n;
}

/* What RDS_INFO_SEND_MESSAGES lists, for a failure's diagnosis */
static void describe_queued(int fd)
{
	static uint8_t buf[1 << 16];
	socklen_t len = sizeof(buf);
	int each = getsockopt(fd, SOL_RDS, RDS_INFO_SEND_MESSAGES, buf, &len);
	char l[INET_ADDRSTRLEN], f[INET_ADDRSTRLEN];

	printf("# RDS_INFO_SEND_MESSAGES: %d each, %u bytes\n", each, len);
	for (socklen_t off = 0; each > 0 && off + (socklen_t)each <= len && off < 8 * (socklen_t)each; off += (socklen_t)each) {
		struct rds_info_message *m = (void *)(buf + off);

		inet_ntop(AF_INET, &m->laddr, l, sizeof(l));
		inet_ntop(AF_INET, &m->faddr, f, sizeof(f));
		printf("#   %s:%u -> %s:%u len %u seq %llu\n", l, ntohs(m->lport), f, ntohs(m->fport), m->len,
		       (unsigned long long)m->seq);
	}
}

static void t_info(void)
{
	struct sockaddr_in to = sin4(&unreach4, 4000);
	uint8_t buf[1 << 14];
	socklen_t len = 0, need;
	int fd = rds_sock(), r, bad_info = 0, bad_cancel = 0, at = 0, got = 0;

	/* optlen 0 probes: ENOSPC and optlen = the bytes needed */
	r = getsockopt(fd, SOL_RDS, RDS_INFO_COUNTERS, buf, &len);
	expect_err("info_probe_enospc", r, ENOSPC);
	need = len;
	expect_true("info_probe_len", need > 0 && need % sizeof(struct rds_info_counter) == 0 && need <= sizeof(buf),
		    "optlen %u", need);
	len = sizeof(buf);
	r = getsockopt(fd, SOL_RDS, RDS_INFO_COUNTERS, buf, &len);
	expect_true("info_counters_item_size", r == (int)sizeof(struct rds_info_counter) && len == need,
		    "returned %d (%s) optlen %u, want %zu and %u", r, r < 0 ? ename(errno) : "-", len,
		    sizeof(struct rds_info_counter), need);
	close(fd);

	/* Once sendmsg returned, the message is queued: RDS_INFO lists it, and
	 * RDS_CANCEL_SENT_TO right after drops it. Many times over, since the
	 * request must not overtake the send on its way to the engine. */
	for (int i = 0; i < 2000; i++) {
		struct sockaddr_in a = sin4(&local4, port_seq++);

		fd = rds_sock();
		bind(fd, (struct sockaddr *)&a, sizeof(a));
		/* MSG_DONTWAIT: on 6.1 a blocking send to a peer that never
		 * answers may wait forever (legacy_mprds_wait) */
		if (sendto(fd, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) != 1) {
			fail("info_lists_send_at_once", "send #%d: %s", i, ename(errno));
			close(fd);
			return;
		}
		if ((r = count_queued(fd, &a, &to)) != 1 && !bad_info++) {
			at = i;
			got = r;
			describe_queued(fd);
		}
		setsockopt(fd, SOL_RDS, RDS_CANCEL_SENT_TO, &to, sizeof(to));
		if (count_queued(fd, &a, &to) != 0)
			bad_cancel++;
		close(fd);
	}
	expect_true("info_lists_send_at_once", !bad_info, "%d of 2000 sends not listed (first: #%d listed %d)",
		    bad_info, at, got);
	expect_true("cancel_right_after_send", !bad_cancel, "%d of 2000 sends still queued after cancel",
		    bad_cancel);
}

static int parse4(const char *s, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	return inet_pton(AF_INET, s, &a->sin_addr) == 1;
}

static int parse6(const char *s, struct sockaddr_in6 *a)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	return inet_pton(AF_INET6, s, &a->sin6_addr) == 1;
}

/* ---- calls RDS does not have, ioctl, vector and batch I/O (af_rds.c) -- */
static void t_fdops(void)
{
	struct sockaddr_in name = { .sin_family = AF_INET6 }, self;
	socklen_t nl = sizeof(struct sockaddr_in6);
	uint16_t port;
	int fd = rds_sock(), n = 0;
	rds_tos_t tos = 7;
	char b[3][8] = { "one", "two", "three" }, r[3][8];
	struct iovec iv[3], ri[3];
	struct mmsghdr mm[3], rm[3];

	expect_true("getsockname_unbound_unspec",
		    !getsockname(fd, (struct sockaddr *)&name, &nl) && name.sin_family == AF_UNSPEC &&
			    nl == sizeof(struct sockaddr_in),
		    "family %d len %u", name.sin_family, nl);
	close(fd);
	fd = bound_sock(&port);
	self = sin4(&local4, port);
	{
		char cbuf[64], one;
		struct iovec io = { .iov_base = &one, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		long r = recvmsg(fd, &mh, MSG_DONTWAIT);

		expect_true("recvmsg_eagain_keeps_controllen", r == -1 && errno == EAGAIN && mh.msg_controllen == sizeof(cbuf),
			    "%ld %s controllen %zu", r, ename(errno), (size_t)mh.msg_controllen);
	}
	expect_err("shutdown_eopnotsupp", shutdown(fd, SHUT_RDWR), EOPNOTSUPP);
	expect_err("listen_eopnotsupp", listen(fd, 1), EOPNOTSUPP);
	expect_err("fionread_enotty", ioctl(fd, FIONREAD, &n), ENOTTY);
	expect_ret("siocrdssettos_tcp", ioctl(fd, SIOCRDSSETTOS, &tos), 0);
	tos = 9;
	expect_true("siocrdsgettos_tcp_zero", !ioctl(fd, SIOCRDSGETTOS, &tos) && tos == 0, "tos %u", tos);
	for (int i = 0; i < 3; i++) {
		iv[i] = (struct iovec){ .iov_base = b[i], .iov_len = strlen(b[i]) };
		ri[i] = (struct iovec){ .iov_base = r[i], .iov_len = sizeof(r[i]) };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &self, .msg_namelen = sizeof(self),
						       .msg_iov = &iv[i], .msg_iovlen = 1 } };
		rm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &ri[i], .msg_iovlen = 1 } };
	}
	/* __sys_sendmmsg sends all but the last with MSG_BATCH, which
	 * rds_sendmsg refuses: only a batch of one goes */
	expect_err("sendmmsg_3_eopnotsupp", sendmmsg(fd, mm, 3, 0), EOPNOTSUPP);
	n = 0;
	for (int i = 0; i < 3; i++)
		n += sendmmsg(fd, mm + i, 1, 0);
	expect_true("sendmmsg_1_each_after_shutdown", n == 3, "sent %d", n);
	expect_err("siocrdssettos_after_send", ioctl(fd, SIOCRDSSETTOS, &tos), EINVAL);
	n = wait_in(fd, 2000) ? recvmmsg(fd, rm, 3, MSG_WAITFORONE, NULL) : -1;
	while (n > 0 && n < 3 && wait_in(fd, 2000)) {
		int m = recvmmsg(fd, rm + n, (unsigned int)(3 - n), MSG_WAITFORONE, NULL);

		n = m < 0 ? -1 : n + m;
	}
	expect_true("recvmmsg_3_in_order",
		    n == 3 && rm[0].msg_len == 3 && rm[1].msg_len == 3 && rm[2].msg_len == 5 && !memcmp(r[0], "one", 3) &&
			    !memcmp(r[1], "two", 3) && !memcmp(r[2], "three", 5),
		    "got %d", n);
	/* sock_write_iter marks a SOCK_SEQPACKET write MSG_EOR: rds_sendmsg
	 * refuses it. A read is a recvmsg. */
	connect(fd, (struct sockaddr *)&self, sizeof(self));
	expect_err("writev_eopnotsupp", writev(fd, iv, 3), EOPNOTSUPP);
	expect_err("write_eopnotsupp", write(fd, "x", 1), EOPNOTSUPP);
	send(fd, "onetwothree", 11, 0);
	ri[0].iov_len = 4;
	expect_true("readv_one_datagram", wait_in(fd, 2000) && readv(fd, ri, 2) == 11 && !memcmp(r[0], "onet", 4) &&
						  !memcmp(r[1], "wothree", 7),
		    "readv");
	close(fd);
}

int main(int argc, char **argv)
{
	if ((argc != 5 && argc != 7) || !parse4(argv[1], &local4) || !parse4(argv[2], &peer4) ||
	    !parse4(argv[4], &unreach4) || (argc == 7 && (!parse6(argv[5], &local6) || !parse6(argv[6], &peer6)))) {
		fprintf(stderr, "usage: rds-errno LOCAL4 PEER4 ECHO_PORT UNREACH4 [LOCAL6 PEER6]\n");
		return 100;
	}
	have_v6 = argc == 7;
	echo4 = sin4(&peer4, (uint16_t)atoi(argv[3]));
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* a watchdog for each group: a blocking call still waiting at the
	 * end fails its case with EINTR instead of hanging the table */
	void (*groups[])(void) = { t_socket, t_bind, t_connect, t_send, t_send_queue_full,
				   t_recv, t_restart, t_sockopt, t_info, t_fdops };
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		alarm_in(60000);
		groups[i]();
	}
	alarm_in(0);
	printf("# %d ok, %d failed\n", passes, failures);
	return failures;
}
