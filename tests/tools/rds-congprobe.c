/*
 * rds-congprobe: what a sender sees around a congested port of its peer.
 *
 *   rds-congprobe send LADDR:LPORT DADDR CONGPORT OTHERPORT WAIT_S [burst]
 *   rds-congprobe hold LADDR:LPORT HOLD_S
 *
 * hold: a receiver with a 16 KiB rcvbuf that leaves the first datagram
 * queued for HOLD_S, then reads everything until nothing came for 5 s:
 *     holder: read N datagrams after the hold
 *
 * send: one socket with RDS_CONG_MONITOR on, bound to LADDR:LPORT, sends 1000 B
 * datagrams without blocking to DADDR:CONGPORT (whose receiver holds off
 * reading), each once the host lists none unacknowledged, until the first
 * ENOBUFS; right after it one 1000 B datagram to DADDR:OTHERPORT (read by
 * its receiver); then it waits up to WAIT_S for the RDS_CMSG_CONG_UPDATE
 * after which a datagram to CONGPORT goes again. With burst the datagrams
 * to CONGPORT go back to back, the send queue as big as the system's default:
 * a full queue (EAGAIN) waits for POLLOUT, and so may the datagram to
 * OTHERPORT, the queue being the socket's, not the destination's (it drains
 * as the peer acknowledges what its engine holds for the congested reader).
 * One line each:
 *     congested: after N datagrams (EAGAIN K times)
 *     other: sent | EAGAIN | ...
 *     other_retry: sent after MS ms | ...       (only after an EAGAIN)
 *     update: mask 0x... after MS ms, the port takes datagrams again (notice N)
 *           | none in WAIT_S s (N notices before)
 * Exit 0 when the datagram to OTHERPORT went out (at once; with burst, at
 * once or after the queue drained) and the update came.
 *
 * Only the standard AF_RDS API, so the same source runs against the kernel's
 * net/rds in a guest or under the shim.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rds.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_RDS
#define AF_RDS 21
#endif
#ifndef SOL_RDS
#define SOL_RDS 276
#endif

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* Datagrams listed by RDS_INFO opt: SEND_MESSAGES (not yet on the wire)
 * or RETRANS_MESSAGES (on the wire, not yet acknowledged) */
static long listed(int fd, int opt)
{
	static char buf[1 << 20];
	socklen_t len = sizeof(buf);
	int r = getsockopt(fd, SOL_RDS, opt, buf, &len);

	if (r < 0)
		return -1;
	return r ? (long)len / r : 0;
}

/* A socket bound to "ADDR:PORT" with option opt (level, name) set to val */
static int bound(char *addr_port, int level, int opt, int val)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	char *colon = strchr(addr_port, ':');
	int fd;

	if (!colon)
		return -1;
	*colon = 0;
	me.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, addr_port, &me.sin_addr) != 1)
		return -1;
	fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0 || setsockopt(fd, level, opt, &val, sizeof(val)) || bind(fd, (struct sockaddr *)&me, sizeof(me))) {
		perror("rds-congprobe: socket");
		exit(2);
	}
	return fd;
}

static int hold(char **argv)
{
	static char buf[1 << 20];
	struct timeval idle = { .tv_sec = 5 };
	int fd = bound(argv[0], SOL_SOCKET, SO_RCVBUF, 16384);
	long n = 0;

	if (fd < 0 || recv(fd, buf, 1, MSG_PEEK) < 0)
		return 2;
	sleep((unsigned int)atoi(argv[1]));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	while (recv(fd, buf, sizeof(buf), 0) >= 0)
		n++;
	printf("holder: read %ld datagrams after the hold\n", n);
	return 0;
}

static int send_probe(char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	char buf[1000] = { 0 };
	int fd = bound(argv[0], SOL_RDS, RDS_CONG_MONITOR, 1), ok = 1;
	int cport = atoi(argv[2]), oport = atoi(argv[3]), wait_s = atoi(argv[4]);
	bool burst = argv[5] && !strcmp(argv[5], "burst");
	long sent = 0, eagain = 0, r;
	struct timespec t0;

	if (fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1)
		return 2;
	/* The send queue must not be what stops us: a full queue answers
	 * EAGAIN to every destination (rds_send_queue_rm), as it should. So
	 * each datagram waits until the host lists none queued or unacknowledged. */
	to.sin_port = htons((uint16_t)cport);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ms_since(&t0) >= wait_s * 1000) {
			printf("congested: no ENOBUFS in %d s, %ld datagrams sent\n", wait_s, sent);
			return 1;
		}
		if (!burst && listed(fd, RDS_INFO_SEND_MESSAGES) + listed(fd, RDS_INFO_RETRANS_MESSAGES) > 0) {
			usleep(1000);
			continue;
		}
		r = sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
		if (burst && r < 0 && errno == EAGAIN) {
			eagain++;
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
			continue;
		}
		if (r != (long)sizeof(buf))
			break;
		sent++;
	}
	if (r >= 0 || errno != ENOBUFS) {
		printf("congested: no ENOBUFS after %ld datagrams: %s\n", sent, r < 0 ? ename(errno) : "short send");
		return 1;
	}
	printf("congested: after %ld datagrams (EAGAIN %ld times)\n", sent, eagain);
	to.sin_port = htons((uint16_t)oport);
	r = sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
	printf("other: %s (datagrams listed: %ld to send, %ld unacknowledged)\n", r == (long)sizeof(buf) ? "sent" : ename(errno),
	       listed(fd, RDS_INFO_SEND_MESSAGES), listed(fd, RDS_INFO_RETRANS_MESSAGES));
	if (r != (long)sizeof(buf)) {
		ok = burst && errno == EAGAIN;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while ((r = sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to))) < 0 &&
		       errno == EAGAIN && ms_since(&t0) < wait_s * 1000)
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
		if (r == (long)sizeof(buf)) {
			printf("other_retry: sent after %ld ms\n", ms_since(&t0));
		} else {
			printf("other_retry: %s after %ld ms\n", ename(errno), ms_since(&t0));
			ok = 0;
		}
	}
	/* A notice may come from any map update (over TCP the kernel reports
	 * every monitored port, congested or not): each one is answered by a
	 * send to CONGPORT, whose ENOBUFS asks for the next notice. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	to.sin_port = htons((uint16_t)cport);
	for (int notices = 0;;) {
		char cbuf[CMSG_SPACE(sizeof(uint64_t))];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		long left = wait_s * 1000 - ms_since(&t0);
		struct cmsghdr *cm;
		uint64_t mask;

		if (left <= 0) {
			printf("update: none in %d s (%d notices before)\n", wait_s, notices);
			ok = 0;
			break;
		}
		poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, (int)left);
		if (recvmsg(fd, &mh, MSG_DONTWAIT) < 0)
			continue;
		cm = CMSG_FIRSTHDR(&mh);
		if (!cm || cm->cmsg_level != SOL_RDS || cm->cmsg_type != RDS_CMSG_CONG_UPDATE)
			continue;
		memcpy(&mask, CMSG_DATA(cm), sizeof(mask));
		if (!(mask & RDS_CONG_MONITOR_MASK(cport)))
			continue;
		notices++;
		while ((r = sendto(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to))) < 0 &&
		       errno == EAGAIN && ms_since(&t0) < wait_s * 1000)
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
		if (r == (long)sizeof(buf)) {
			printf("update: mask %#llx after %ld ms, the port takes datagrams again (notice %d)\n",
			       (unsigned long long)mask, ms_since(&t0), notices);
			break;
		}
		if (errno != ENOBUFS) {
			printf("update: the send after notice %d: %s\n", notices, ename(errno));
			ok = 0;
			break;
		}
	}
	return !ok;
}

int main(int argc, char **argv)
{
	if ((argc == 7 || (argc == 8 && !strcmp(argv[7], "burst"))) && !strcmp(argv[1], "send"))
		return send_probe(argv + 2);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold(argv + 2);
	fprintf(stderr, "usage: rds-congprobe send LADDR:LPORT DADDR CONGPORT OTHERPORT WAIT_S [burst]\n"
			"       rds-congprobe hold LADDR:LPORT HOLD_S (IPv4 addresses)\n");
	return 2;
}
