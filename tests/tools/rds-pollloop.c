/*
 * rds-pollloop: the call pattern of an event-loop AF_RDS program, as the
 * standard benchmark (rds-stress) makes it: an O_NONBLOCK socket; a loop of
 * poll, recvfrom until EAGAIN, sendmsg until DEPTH requests are outstanding.
 * Against an echo service (rds-xfer echo), until COUNT replies came back:
 *
 *   rds-pollloop LADDR:LPORT DADDR:DPORT COUNT DEPTH SIZE
 *
 * Prints "replies N loops L eagain E full F" (E: recvfrom EAGAINs, F: sends
 * refused with EAGAIN or ENOBUFS) and exits 0 when every reply came back
 * whole (SIZE bytes, from DADDR:DPORT) within 60 s.
 * Only the standard AF_RDS API, so it runs on the kernel or under the shim.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_RDS
#define AF_RDS 21
#endif

static int addr(char *arg, struct sockaddr_in *sin)
{
	char *colon = strchr(arg, ':');

	if (!colon)
		return -1;
	*colon = 0;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, arg, &sin->sin_addr) == 1 ? 0 : -1;
}

static void die(const char *what)
{
	printf("rds-pollloop: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	struct sockaddr_in me, to, from;
	long count, depth, size, replies = 0, sent = 0, loops = 0, eagain = 0, full = 0;
	struct pollfd pfd = { .events = POLLIN | POLLOUT };
	time_t end = time(NULL) + 60;
	char *buf;

	if (argc != 6 || addr(argv[1], &me) || addr(argv[2], &to)) {
		fprintf(stderr, "usage: rds-pollloop LADDR:LPORT DADDR:DPORT COUNT DEPTH SIZE (IPv4)\n");
		return 2;
	}
	count = atol(argv[3]), depth = atol(argv[4]), size = atol(argv[5]);
	buf = calloc(1, (size_t)size + 1);
	pfd.fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (!buf || pfd.fd < 0 || fcntl(pfd.fd, F_SETFL, O_NONBLOCK) ||
	    bind(pfd.fd, (struct sockaddr *)&me, sizeof(me)))
		die("socket");
	while (replies < count) {
		long outstanding = sent - replies;
		ssize_t r;

		if (time(NULL) > end) {
			errno = ETIMEDOUT;
			die("replies");
		}
		if (poll(&pfd, 1, 1000) < 0)
			die("poll");
		loops++;
		pfd.events = POLLIN;
		for (;;) {
			socklen_t len = sizeof(from);

			r = recvfrom(pfd.fd, buf, (size_t)size + 1, 0, (struct sockaddr *)&from, &len);
			if (r < 0)
				break;
			if (r != size || from.sin_port != to.sin_port || from.sin_addr.s_addr != to.sin_addr.s_addr) {
				printf("rds-pollloop: reply %ld: %zd bytes from port %u\n", replies, r, ntohs(from.sin_port));
				return 1;
			}
			replies++;
		}
		if (errno != EAGAIN)
			die("recvfrom");
		eagain++;
		for (outstanding = sent - replies; outstanding < depth && sent < count; outstanding++, sent++) {
			struct iovec iov = { buf, (size_t)size };
			struct msghdr mh = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1 };

			if (sendmsg(pfd.fd, &mh, 0) == size)
				continue;
			if (errno != EAGAIN && errno != ENOBUFS)
				die("sendmsg");
			full++;
			pfd.events |= POLLOUT;
			break;
		}
	}
	printf("replies %ld loops %ld eagain %ld full %ld\n", replies, loops, eagain, full);
	return 0;
}
