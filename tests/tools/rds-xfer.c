/*
 * rds-xfer: RDS traffic generator and verifier.
 *
 * Written only against the standard AF_RDS socket API (linux/rds.h, plain libc
 * calls, no raw syscalls) so that the very same source runs
 *   - statically linked inside a qemu guest against the kernel's net/rds, and
 *   - dynamically linked on the host under LD_PRELOAD of the rds-bpf shim.
 * Any difference in behaviour between the two is therefore a bug in rds-bpf.
 *
 *   rds-xfer send -b LADDR:LPORT -d DADDR:DPORT -n COUNT [-s MIN:MAX] [-S SEED]
 *                 [--nonblock] [--sndbuf BYTES] [-t TIMEOUT_S] [--linger MS]
 *                 [--pause-at N:FILE]
 *   rds-xfer recv -b LADDR:LPORT -n COUNT [-s MIN:MAX] [-S SEED] [-t TIMEOUT_S]
 *                 [--rcvbuf BYTES] [--rcvbuf-force BYTES] [--senders K] [--hold MS]
 *                 [--hold-until FILE] [--pause-at N:FILE]
 *                 [--ready FILE] [--peek]
 *   rds-xfer echo -b LADDR:LPORT [-n COUNT] [-t TIMEOUT_S] [--ready FILE]
 *   rds-xfer pingpong -b LADDR:LPORT -d DADDR:DPORT -n COUNT -s SIZE [-t TIMEOUT_S]
 *
 * -t TIMEOUT_S (default 30, 0: none) bounds every wait: a receive with
 * nothing arriving (SO_RCVTIMEO), a send short of send space (SO_SNDTIMEO:
 * sendmsg fails with ETIMEDOUT), a send the destination's congestion or
 * EAGAIN keeps refusing, the drain before close. A stalled transfer is a
 * failing command, never one that blocks forever.
 *
 * --pause-at N:FILE: after N datagrams the sender (or receiver) creates FILE
 * and waits until it is removed, so that a script acts at a known point
 * mid-transfer (however fast the transfer is), then lets it go on; a
 * receiver's N may be its COUNT: it has read all and keeps its socket.
 * --hold-until FILE: the receiver reads nothing until FILE exists (at most
 * its -t timeout), so that a script checks a held receiver's state however
 * slowly it runs, then lets it read.
 * --peek: each datagram is first peeked (MSG_PEEK), and must be the one the
 * read that follows takes: its length, sender and bytes.
 *
 * Addresses: 10.0.0.1:4000, [fd00::1]:4000 (or fd00::1:4000), [fe80::1%eth0]:4000.
 * Datagram contents and the hash: msggen.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/rds.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "msggen.h"

#ifndef AF_RDS
#define AF_RDS 21
#endif
#define MAX_MSG (1u << 20) /* RDS_MAX_MSG_SIZE */

static struct {
	const char *bind, *dest, *ready, *pause_file, *hold_file;
	long pause_at;
	long count, sndbuf, rcvbuf, rcvbuf_force, senders, hold_ms, linger_ms, timeout_s;
	uint32_t min, max;
	uint64_t seed;
	int nonblock, peek;
} o = { .count = -1, .max = 1024, .senders = -1, .timeout_s = 30, .linger_ms = 1000 };

static __attribute__((noreturn)) void die(const char *what)
{
	fprintf(stderr, "rds-xfer: %s: %s (%s)\n", what, strerrorname_np(errno) ?: "?", strerror(errno));
	exit(1);
}

/* ---- deterministic message generator (msggen.h) ------------------------ */
static uint32_t gen_msg(uint16_t port, uint64_t idx, uint8_t *buf)
{
	return msg_gen(o.seed, o.min, o.max, port, idx, buf);
}

/* ---- addresses --------------------------------------------------------- */
/* "a.b.c.d:port", "[v6]:port", "v6:port" (last colon), optional "%ifname" scope. */
static socklen_t parse_addr(const char *arg, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon = strrchr(arg, ':');
	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		goto bad;
	memcpy(host, arg, colon - arg);
	host[colon - arg] = 0;
	char *h = host, *end;
	if (*h == '[') {
		h++;
		size_t l = strlen(h);
		if (!l || h[l - 1] != ']')
			goto bad;
		h[l - 1] = 0;
	}
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (void *)ss;
	struct sockaddr_in6 *sin6 = (void *)ss;
	if (inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	char *pct = strchr(h, '%');
	if (pct) {
		*pct++ = 0;
		sin6->sin6_scope_id = if_nametoindex(pct) ?: (uint32_t)atoi(pct);
	}
	if (inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
bad:
	fprintf(stderr, "rds-xfer: bad address '%s' (want ADDR:PORT or [V6]:PORT)\n", arg);
	exit(2);
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
					      : ((struct sockaddr_in6 *)ss)->sin6_port);
}

/* v4 as a.b.c.d:port, v6 as [addr]:port so the output parses back with parse_addr. */
static const char *fmt_addr(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
		snprintf(out, n, "%s:%u", a, addr_port(ss));
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
		snprintf(out, n, "[%s]:%u", a, addr_port(ss));
	}
	return out;
}

/* ---- socket setup ------------------------------------------------------ */
static struct sockaddr_storage local;

static int open_bound(void)
{
	socklen_t len = parse_addr(o.bind, &local);
	int fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0)
		die("socket(AF_RDS)");
	/* Buffers must be sized before bind: RDS charges payload bytes against sk_*buf/2. */
	if (o.sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ o.sndbuf }, sizeof(int)))
		die("setsockopt(SO_SNDBUF)");
	if (o.rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ o.rcvbuf }, sizeof(int)))
		die("setsockopt(SO_RCVBUF)");
	/* past rmem_max (root): a receiver that holds more than it reads */
	if (o.rcvbuf_force > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){ o.rcvbuf_force }, sizeof(int)))
		die("setsockopt(SO_RCVBUFFORCE)");
	if (o.timeout_s > 0) {
		struct timeval tv = { .tv_sec = o.timeout_s };
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
			die("setsockopt(SO_RCVTIMEO)");
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
			die("setsockopt(SO_SNDTIMEO)");
	}
	if (bind(fd, (struct sockaddr *)&local, len))
		die("bind");
	if (addr_port(&local) == 0) { /* port 0: the kernel picked one; the PRNG needs it */
		len = sizeof(local);
		if (getsockname(fd, (struct sockaddr *)&local, &len))
			die("getsockname");
	}
	/* --ready lets a script start the sender only once we are bound: RDS
	 * silently drops datagrams for a port nobody has bound (yet). */
	if (o.ready) {
		int rfd = open(o.ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (rfd < 0)
			die("open(--ready)");
		close(rfd);
	}
	return fd;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Closing an RDS socket drops every message still queued or unacked on it
 * (rds_release -> rds_send_drop_to), so a sender must not exit before its
 * queue has drained. Count our messages on the send+retrans queues with
 * RDS_INFO (what rds-info uses); returns -1 when the stack does not offer it.
 * The RDS6 lists, which hold IPv4 connections too (v4-mapped), serve both
 * families: the kernel's IPv4 lists (RDS_INFO_SEND_MESSAGES) carry laddr and
 * faddr 0.0.0.0 (connection.c __rds_inc_msg_cp), which cannot tell our
 * messages from others'. */
static long queued_msgs(int fd)
{
	const int opts[2] = { RDS6_INFO_SEND_MESSAGES, RDS6_INFO_RETRANS_MESSAGES };
	struct in6_addr laddr;
	uint16_t lport;
	static uint8_t *buf;
	static socklen_t cap;
	long n = 0;
	if (local.ss_family == AF_INET6) {
		laddr = ((struct sockaddr_in6 *)&local)->sin6_addr;
		lport = ((struct sockaddr_in6 *)&local)->sin6_port;
	} else {
		memset(&laddr, 0, sizeof(laddr));
		laddr.s6_addr[10] = laddr.s6_addr[11] = 0xff;
		memcpy(&laddr.s6_addr[12], &((struct sockaddr_in *)&local)->sin_addr, 4);
		lport = ((struct sockaddr_in *)&local)->sin_port;
	}
	for (int k = 0; k < 2; k++) {
		socklen_t len = cap;
		int each;
		while ((each = getsockopt(fd, SOL_RDS, opts[k], buf, &len)) < 0) {
			if (errno != ENOSPC || len <= cap)
				return -1;
			buf = realloc(buf, cap = len + 4096); /* the queue may grow meanwhile */
			len = cap;
		}
		if (each <= 0 && len)
			return -1; /* the item size is unknown: cannot walk the list */
		for (socklen_t off = 0; off + (socklen_t)each <= len; off += each) {
			struct rds6_info_message *m = (void *)(buf + off);
			n += m->lport == lport && !memcmp(&m->laddr, &laddr, 16);
		}
	}
	return n;
}

/* The send and retransmit lists are read one after the other, and a path
 * that goes down between the two reads moves its unacknowledged messages
 * from the second back to the first (rds_send_path_reset, our engine's
 * path_shutdown): that round counts none of them. A message moving the
 * other way (sent) is counted twice, which is harmless. So the queue is
 * empty only when two rounds in a row say so: hiding a message from both
 * takes two resets with a transmit between them within a millisecond. */
static void drain_before_close(int fd)
{
	double deadline = now_us() + (o.timeout_s > 0 ? o.timeout_s : 30) * 1e6;
	int empty = 0;
	long n;
	while ((n = queued_msgs(fd)) >= 0 && (n > 0 || ++empty < 2)) {
		if (n > 0)
			empty = 0;
		if (now_us() > deadline) {
			fprintf(stderr, "rds-xfer: %ld messages still unacked after %lds\n", n, o.timeout_s);
			exit(1);
		}
		usleep(1000);
	}
	if (n < 0 && o.linger_ms > 0) /* no RDS_INFO: fall back to a fixed linger */
		usleep(o.linger_ms * 1000);
}

/* Send one datagram, retrying while the stack pushes back. EAGAIN means our
 * send queue is full (wait for POLLOUT); ENOBUFS means the destination port is
 * congested, where POLLOUT may already be set, hence the 1 ms sleep. */
static void send_one(int fd, const struct sockaddr_storage *to, socklen_t tolen, const uint8_t *buf,
		     uint32_t size, long *enobufs, long *eagain)
{
	double deadline = now_us() + (o.timeout_s > 0 ? o.timeout_s : 30) * 1e6;
	for (;;) {
		ssize_t r = sendto(fd, buf, size, o.nonblock ? MSG_DONTWAIT : 0, (const struct sockaddr *)to, tolen);
		if (r == (ssize_t)size)
			return;
		if (r >= 0) {
			fprintf(stderr, "rds-xfer: short send %zd of %u\n", r, size);
			exit(1);
		}
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE)
			fprintf(stderr, "rds-xfer: %u bytes > sndbuf/2 (use --sndbuf)\n", size);
		if (errno == ETIMEDOUT) /* SO_SNDTIMEO: no send space for TIMEOUT_S */
			fprintf(stderr, "rds-xfer: send stalled for %lds\n", o.timeout_s);
		if (errno != EAGAIN && errno != ENOBUFS)
			die("sendto");
		if (now_us() > deadline) {
			fprintf(stderr, "rds-xfer: send stalled for %lds\n", o.timeout_s);
			die("sendto");
		}
		if (errno == EAGAIN) {
			++*eagain;
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 1);
		} else {
			++*enobufs;
			usleep(1000);
		}
	}
}

/* recvmsg with msg_name; MSG_TRUNC makes RDS return the full length even if
 * the datagram did not fit, so oversized datagrams are reported, not cut.
 * Returns -1 on SO_RCVTIMEO expiry (RDS says ETIMEDOUT; EAGAIN accepted too). */
static ssize_t recv_flags(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from, int flags)
{
	for (;;) {
		struct iovec iov = { buf, cap };
		struct msghdr mh = { .msg_name = from, .msg_namelen = sizeof(*from), .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(fd, &mh, MSG_TRUNC | flags);
		if (r >= 0 && (mh.msg_flags & MSG_TRUNC) && (size_t)r <= cap)
			r = cap + 1; /* truncated but the stack did not say by how much */
		if (r >= 0 || errno != EINTR) {
			if (r < 0 && (errno == ETIMEDOUT || errno == EAGAIN))
				return -1;
			if (r < 0)
				die("recvmsg");
			return r;
		}
	}
}

static ssize_t recv_one(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from)
{
	static uint8_t peeked[MAX_MSG + 1];
	struct sockaddr_storage pfrom = { 0 };
	ssize_t p, r;

	if (!o.peek)
		return recv_flags(fd, buf, cap, from, 0);
	p = recv_flags(fd, peeked, cap, &pfrom, MSG_PEEK);
	if (p < 0)
		return p;
	memset(from, 0, sizeof(*from));
	r = recv_flags(fd, buf, cap, from, MSG_DONTWAIT);
	if (r != p || memcmp(&pfrom, from, sizeof(pfrom)) || memcmp(peeked, buf, (size_t)r < cap ? (size_t)r : cap)) {
		fprintf(stderr, "rds-xfer: the datagram read (%zd bytes) is not the one peeked (%zd bytes)\n", r, p);
		exit(1);
	}
	return r;
}

/* ---- commands ---------------------------------------------------------- */
static void pause_at(long i)
{
	if (!o.pause_file || i != o.pause_at)
		return;
	int pfd = open(o.pause_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (pfd < 0)
		die("open(--pause-at)");
	close(pfd);
	while (access(o.pause_file, F_OK) == 0)
		usleep(1000);
}

static int cmd_send(void)
{
	struct sockaddr_storage to;
	socklen_t tolen = parse_addr(o.dest, &to);
	int fd = open_bound();
	uint8_t *buf = malloc(o.max ? o.max : 1);
	uint64_t h = FNV_INIT, bytes = 0;
	long enobufs = 0, eagain = 0;
	for (long i = 0; i < o.count; i++) {
		uint32_t size = gen_msg(addr_port(&local), i, buf);

		pause_at(i);
		send_one(fd, &to, tolen, buf, size, &enobufs, &eagain);
		h = hash_msg(h, buf, size);
		bytes += size;
	}
	drain_before_close(fd);
	printf("sent %ld msgs %llu bytes hash %016llx enobufs %ld eagain %ld\n", o.count,
	       (unsigned long long)bytes, (unsigned long long)h, enobufs, eagain);
	return close(fd) ? 1 : 0;
}

struct peer {
	char name[64];
	uint64_t next, bytes, hash;
};

/* The index of the datagram in buf (got bytes) from port, searched among
 * the transfer's indices, or -1: tells a loss (an index past the expected)
 * from a duplicate (one before it) from foreign or corrupt data. */
static long which_index(uint16_t port, const uint8_t *buf, ssize_t got, uint8_t *exp)
{
	for (long i = 0; i < o.count; i++) {
		uint64_t s;

		/* the size first: a whole message only where it matches */
		if (msg_draw_size(&s, o.seed, o.min, o.max, port, (uint64_t)i) == (size_t)got &&
		    gen_msg(port, (uint64_t)i, exp) == (size_t)got && !memcmp(buf, exp, (size_t)got))
			return i;
	}
	return -1;
}

/* After a mismatch: the indices of that datagram and of up to 32 after it
 * (from the same sender, 1 s at most for each), so that the report says
 * what went missing, came twice or out of order. */
static void report_mismatch(int fd, const char *name, uint16_t port, const uint8_t *first, ssize_t got,
			    uint8_t *buf, uint8_t *exp)
{
	struct timeval tv = { .tv_sec = 1 };
	char from_name[64];

	printf("mismatch from %s: got index %ld, then", name, which_index(port, first, got, exp));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int k = 0; k < 32; k++) {
		struct sockaddr_storage from;
		ssize_t n = recv_one(fd, buf, o.max, &from);

		if (n < 0)
			break;
		if (strcmp(fmt_addr(&from, from_name, sizeof(from_name)), name))
			continue;
		printf(" %ld", which_index(port, buf, n, exp));
	}
	printf("\n");
}

static int cmd_recv(void)
{
	int fd = open_bound();
	uint8_t *buf = malloc(o.max + 1), *exp = malloc(o.max + 1), *mis = malloc(o.max + 1);
	struct peer *peers = NULL;
	long npeers = 0;
	uint64_t total = 0;
	if (o.hold_ms > 0)
		usleep(o.hold_ms * 1000);
	for (long t = 0; o.hold_file && access(o.hold_file, F_OK) && t < (o.timeout_s ? o.timeout_s : 60) * 100; t++)
		usleep(10000);
	for (long n = 0; n < o.count; n++) {
		struct sockaddr_storage from;
		char name[64];
		ssize_t got;

		pause_at(n);
		got = recv_one(fd, buf, o.max, &from);
		if (got < 0) {
			printf("timeout after %ld of %ld msgs: nothing received for %lds\n", n, o.count, o.timeout_s);
			return 1;
		}
		fmt_addr(&from, name, sizeof(name));
		struct peer *p = NULL;
		for (long k = 0; k < npeers && !p; k++)
			if (!strcmp(peers[k].name, name))
				p = &peers[k];
		if (!p) {
			peers = realloc(peers, ++npeers * sizeof(*peers));
			p = &peers[npeers - 1];
			*p = (struct peer){ .hash = FNV_INIT };
			snprintf(p->name, sizeof(p->name), "%s", name);
		}
		uint32_t want = gen_msg(addr_port(&from), p->next, exp);
		if ((size_t)got != want) {
			printf("mismatch from %s index %llu: expected size %u got %zd\n", name,
			       (unsigned long long)p->next, want, got);
			report_mismatch(fd, name, addr_port(&from), buf, got, mis, exp);
			return 1;
		}
		for (uint32_t k = 0; k < want; k++)
			if (buf[k] != exp[k]) {
				printf("mismatch from %s index %llu: size %u byte %u expected 0x%02x got 0x%02x\n",
				       name, (unsigned long long)p->next, want, k, exp[k], buf[k]);
				report_mismatch(fd, name, addr_port(&from), buf, got, mis, exp);
				return 1;
			}
		p->hash = hash_msg(p->hash, buf, want);
		p->bytes += want;
		p->next++;
		total += want;
	}
	pause_at(o.count);
	for (long k = 0; k < npeers; k++)
		printf("from %s msgs %llu bytes %llu hash %016llx\n", peers[k].name, (unsigned long long)peers[k].next,
		       (unsigned long long)peers[k].bytes, (unsigned long long)peers[k].hash);
	printf("recv %ld msgs %llu bytes senders %ld\n", o.count, (unsigned long long)total, npeers);
	if (o.senders >= 0 && npeers != o.senders) {
		printf("mismatch: expected %ld senders got %ld\n", o.senders, npeers);
		return 1;
	}
	return 0;
}

static int cmd_echo(void)
{
	int fd = open_bound();
	uint8_t *buf = malloc(MAX_MSG + 1);
	long enobufs = 0, eagain = 0;
	for (long n = 0; o.count < 0 || n < o.count; n++) {
		struct sockaddr_storage from;
		ssize_t got = recv_one(fd, buf, MAX_MSG, &from);
		if (got < 0)
			break; /* idle for TIMEOUT_S: the peer is done */
		send_one(fd, &from, from.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
			 buf, got, &enobufs, &eagain);
	}
	drain_before_close(fd);
	return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_pingpong(void)
{
	struct sockaddr_storage to, from;
	socklen_t tolen = parse_addr(o.dest, &to);
	int fd = open_bound();
	uint8_t *buf = malloc(o.max + 1), *back = malloc(o.max + 1);
	double *rtt = calloc(o.count ? o.count : 1, sizeof(double));
	long enobufs = 0, eagain = 0;
	char a[64], b[64];
	for (long i = 0; i < o.count; i++) {
		uint32_t size = gen_msg(addr_port(&local), i, buf);
		double t0 = now_us();
		send_one(fd, &to, tolen, buf, size, &enobufs, &eagain);
		ssize_t got = recv_one(fd, back, o.max, &from);
		if (got < 0) {
			printf("timeout waiting for echo %ld of %ld\n", i, o.count);
			return 1;
		}
		rtt[i] = now_us() - t0;
		if ((size_t)got != size || memcmp(buf, back, size) ||
		    strcmp(fmt_addr(&from, a, sizeof(a)), fmt_addr(&to, b, sizeof(b)))) {
			printf("mismatch from %s index %ld: expected size %u got %zd (or content differs)\n", a, i, size, got);
			return 1;
		}
	}
	qsort(rtt, o.count, sizeof(double), cmp_dbl);
	long n = o.count ? o.count : 1;
	printf("pingpong %ld rtt_us p50 %.1f p99 %.1f\n", o.count, rtt[(n - 1) / 2], rtt[(n * 99 + 99) / 100 - 1]);
	return 0;
}

static __attribute__((noreturn)) void usage(void)
{
	fprintf(stderr, "usage: rds-xfer send|recv|echo|pingpong -b LADDR:LPORT [-d DADDR:DPORT] [-n COUNT]\n"
			"  [-s MIN:MAX|SIZE] [-S SEED] [-t TIMEOUT_S] [--nonblock] [--sndbuf B] [--rcvbuf B]\n"
			"  [--rcvbuf-force B]\n"
			"  [--senders K] [--hold MS] [--hold-until FILE] [--ready FILE] [--linger MS]\n"
			"  [--pause-at N:FILE] [--peek]\n"
			"  (see the source header)\n");
	exit(2);
}

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);
	if (*end || v < 0)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "nonblock", no_argument, 0, 'N' }, { "sndbuf", required_argument, 0, 'W' },
		{ "rcvbuf", required_argument, 0, 'R' }, { "senders", required_argument, 0, 'K' },
		{ "hold", required_argument, 0, 'H' }, { "ready", required_argument, 0, 'r' },
		{ "linger", required_argument, 0, 'L' }, { "pause-at", required_argument, 0, 'P' },
		{ "hold-until", required_argument, 0, 'U' }, { "rcvbuf-force", required_argument, 0, 'F' },
		{ "peek", no_argument, 0, 'E' }, { 0, 0, 0, 0 }
	};
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	int c;
	while ((c = getopt_long(argc - 1, argv + 1, "b:d:n:s:S:t:", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o.bind = optarg; break;
		case 'd': o.dest = optarg; break;
		case 'n': o.count = num(optarg); break;
		case 'S': o.seed = strtoull(optarg, NULL, 0); break;
		case 't': o.timeout_s = num(optarg); break;
		case 'N': o.nonblock = 1; break;
		case 'E': o.peek = 1; break;
		case 'W': o.sndbuf = num(optarg); break;
		case 'R': o.rcvbuf = num(optarg); break;
		case 'F': o.rcvbuf_force = num(optarg); break;
		case 'K': o.senders = num(optarg); break;
		case 'H': o.hold_ms = num(optarg); break;
		case 'U': o.hold_file = optarg; break;
		case 'r': o.ready = optarg; break;
		case 'L': o.linger_ms = num(optarg); break;
		case 'P': {
			char *colon = strchr(optarg, ':');

			if (!colon || !colon[1])
				usage();
			*colon = 0;
			o.pause_at = num(optarg);
			o.pause_file = colon + 1;
			break;
		}
		case 's': {
			char *colon = strchr(optarg, ':');
			if (colon)
				*colon = 0;
			o.min = num(optarg);
			o.max = colon ? num(colon + 1) : o.min;
			if (o.min > o.max || o.max > MAX_MSG)
				usage();
			break;
		}
		default: usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach a log even if we are killed */
	int need_dest = !strcmp(cmd, "send") || !strcmp(cmd, "pingpong");
	if (!o.bind || (need_dest && !o.dest) || (strcmp(cmd, "echo") && o.count < 0) || optind != argc - 1)
		usage();
	if (!strcmp(cmd, "send"))
		return cmd_send();
	if (!strcmp(cmd, "recv"))
		return cmd_recv();
	if (!strcmp(cmd, "echo"))
		return cmd_echo();
	if (!strcmp(cmd, "pingpong"))
		return cmd_pingpong();
	usage();
}
