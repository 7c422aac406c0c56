// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-rawstream: an application that writes its RDS socket's delivery stream
 * itself instead of calling sendmsg, as a buggy or hostile one could. The
 * socket is made through the LD_PRELOAD shim (socket, bind); the fd it returns
 * is the application's end of the stream to the engine, and everything below
 * goes to it with raw write(2), past the library.
 *
 *   rds-rawstream LADDR:LPORT DADDR:DPORT chunks BYTES COUNT [UNTIL_FILE]
 *       COUNT well-formed send requests (msggen.h datagrams, sizes 0..1024,
 *       seed 0: what rds-xfer recv checks), as one stream cut into writes of
 *       BYTES bytes (0: the whole stream in one write). Prints rds-xfer's
 *       "sent ... hash" line, then keeps the socket open (closing drops what
 *       the engine has not sent) until UNTIL_FILE exists (30 s at most).
 *   rds-rawstream LADDR:LPORT DADDR:DPORT garbage|huge
 *       a request with a bad magic, or a length above 1 MiB: the engine must
 *       close the socket. Prints "closed by the engine" and exits 0 when the
 *       stream ends within 5 s, 1 otherwise.
 *   rds-rawstream LADDR:LPORT DADDR:DPORT cut
 *       a request for 1000 bytes with only 100 of them, then exit.
 *   rds-rawstream LADDR:LPORT DADDR:DPORT flood MIB
 *       64 KiB requests, nonblocking, past any send buffer, until MIB MiB
 *       are written or no write has gone in for 2 s. Prints "flood: N bytes
 *       written".
 *   rds-rawstream LADDR:LPORT DADDR:DPORT kick-len
 *       a wakeup for the request queue (RDSB_REQ_KICK) that claims a payload
 *   rds-rawstream LADDR:LPORT DADDR:DPORT queue garbage|past|long|resent|big|backwards
 *       into the socket's request queue (its memfd, RDSB_REQQ_OFF), then a
 *       wakeup on the stream: a request with a bad magic; a tail a whole
 *       queue and more past the head; a request longer than what the tail
 *       holds; one flagged as sent again (those go on the stream); a payload
 *       of RDSB_TXRING_MIN in the queue; a tail before the head. Each as
 *       garbage: the engine must close the socket.
 *
 * A blocking write the engine does not take within 30 s fails (exit 1).
 * IPv4 only. Exit 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include "../../include/rds-bpf/maps.h"
#include "../../user/common/ctl_proto.h"
#include "addrarg.h"
#include "msggen.h"

#ifndef AF_RDS
#define AF_RDS 21
#endif
#define MAX_SIZE 1024
#define MAX_MSG (1u << 20)

/* write(2) past the shim, all of it */
static int raw_write(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = syscall(SYS_write, fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

static struct rdsb_send_req request(const struct sockaddr_in *to, uint32_t len)
{
	struct rdsb_send_req r = { .magic = RDSB_SEND_MAGIC, .len = len, .dport = ntohs(to->sin_port) };

	r.daddr[10] = r.daddr[11] = 0xff;	/* v4-mapped */
	memcpy(&r.daddr[12], &to->sin_addr, 4);
	return r;
}

static int chunks(int fd, const struct sockaddr_in *me, const struct sockaddr_in *to, size_t chunk, long count,
		  const char *until)
{
	size_t cap = (size_t)count * (sizeof(struct rdsb_send_req) + MAX_SIZE), len = 0;
	uint8_t *stream = malloc(cap ? cap : 1);
	uint64_t h = FNV_INIT, bytes = 0;

	for (long i = 0; i < count; i++) {
		uint32_t size = msg_gen(0, 0, MAX_SIZE, ntohs(me->sin_port), (uint64_t)i,
					stream + len + sizeof(struct rdsb_send_req));
		struct rdsb_send_req r = request(to, size);

		memcpy(stream + len, &r, sizeof(r));
		h = hash_msg(h, stream + len + sizeof(r), size);
		len += sizeof(r) + size;
		bytes += size;
	}
	for (size_t off = 0; off < len;) {
		size_t n = chunk && chunk < len - off ? chunk : len - off;

		if (raw_write(fd, stream + off, n) < 0) {
			perror("rds-rawstream: write");
			return 1;
		}
		off += n;
	}
	printf("sent %ld msgs %llu bytes hash %016llx enobufs 0 eagain 0\n", count, (unsigned long long)bytes,
	       (unsigned long long)h);
	fflush(stdout);
	for (int i = 0; until && i < 3000 && access(until, F_OK); i++)
		usleep(10000);
	free(stream);
	return 0;
}

static int flood(int fd, const struct sockaddr_in *to, unsigned long mib)
{
	static uint8_t rec[sizeof(struct rdsb_send_req) + 65536];
	struct rdsb_send_req r = request(to, 65536);
	unsigned long long written = 0;
	size_t off = 0;
	int idle = 0;

	memcpy(rec, &r, sizeof(r));
	while (written < (unsigned long long)mib << 20 && idle < 200) {
		ssize_t n = syscall(SYS_sendto, fd, rec + off, sizeof(rec) - off, MSG_DONTWAIT, NULL, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			idle++;
			usleep(10000);
			continue;
		}
		if (n <= 0) {
			perror("rds-rawstream: write");
			return 1;
		}
		idle = 0;
		written += (unsigned long long)n;
		off = (off + (size_t)n) % sizeof(rec);
	}
	printf("flood: %llu bytes written\n", written);
	return 0;
}

/* the engine closed its end: the stream ends (read returns 0 or ECONNRESET) */
static int expect_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[256];

	while (poll(&p, 1, 5000) == 1) {
		ssize_t n = syscall(SYS_read, fd, b, sizeof(b));

		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			printf("closed by the engine\n");
			return 0;
		}
	}
	printf("still open after 5 s\n");
	return 1;
}

/* The socket's memfd, which the library holds open: its page and queue */
static int queue_map(struct rdsb_sock_shm **page, uint8_t **q)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fd = -1;

	while (d && (de = readdir(d))) {
		char path[300], target[128];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0 && (target[n] = 0, strstr(target, "memfd:rdsb_sock"))) {
			fd = atoi(de->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
	if (fd < 0)
		return -1;
	*page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	*q = mmap(NULL, RDSB_REQQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, RDSB_REQQ_OFF);
	return *page == MAP_FAILED || *q == MAP_FAILED ? -1 : 0;
}

static int queue(int fd, const struct sockaddr_in *to, const char *what)
{
	struct rdsb_send_req r = request(to, 64), kick = { .magic = RDSB_SEND_MAGIC, .flags = RDSB_REQ_KICK };
	struct rdsb_sock_shm *page;
	uint32_t head, tail, size = sizeof(r) + 64;
	uint8_t *q;

	if (queue_map(&page, &q)) {
		fprintf(stderr, "rds-rawstream: no request queue mapped\n");
		return 1;
	}
	head = __atomic_load_n(&page->rq_head, __ATOMIC_SEQ_CST);
	tail = page->rq_tail;
	if (!strcmp(what, "garbage"))
		r.magic = 0xa5a5a5a5;
	else if (!strcmp(what, "past"))
		size = RDSB_REQQ_BYTES + 8;
	else if (!strcmp(what, "long"))
		r.len = 3000;
	else if (!strcmp(what, "resent"))
		r.flags = RDSB_REQ_RESENT;
	else if (!strcmp(what, "big"))
		r.len = RDSB_TXRING_MIN, size = sizeof(r) + RDSB_TXRING_MIN;
	else if (!strcmp(what, "backwards"))
		size = 0, tail = head - 8;
	else
		return 2;
	if (size)
		memcpy(q + (tail & (RDSB_REQQ_BYTES - 1)), &r, sizeof(r));
	__atomic_store_n(&page->rq_tail, tail + size, __ATOMIC_SEQ_CST);
	return raw_write(fd, &kick, sizeof(kick)) ? 1 : expect_closed(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in me, to;
	const char *mode = argc > 3 ? argv[3] : "";
	int fd;

	if (argc < 4 || parse(argv[1], &me) || parse(argv[2], &to) ||
	    (!strcmp(mode, "chunks") && argc != 6 && argc != 7)) {
		fprintf(stderr, "usage: rds-rawstream LADDR:LPORT DADDR:DPORT chunks BYTES COUNT [UNTIL_FILE] | garbage | huge | cut | flood MIB | kick-len | queue garbage|past|long|resent|big|backwards\n");
		return 2;
	}
	fd = socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		perror("rds-rawstream: socket/bind");
		return 1;
	}
	/* on the stream itself, past the shim (which would keep it as the
	 * RDS socket's): a write the engine never takes fails, EAGAIN */
	if (syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ .tv_sec = 30 },
		    sizeof(struct timeval))) {
		perror("rds-rawstream: SO_SNDTIMEO");
		return 1;
	}
	if (!strcmp(mode, "chunks"))
		return chunks(fd, &me, &to, strtoul(argv[4], NULL, 0), atol(argv[5]), argc == 7 ? argv[6] : NULL);
	if (!strcmp(mode, "garbage")) {
		uint8_t junk[64];

		memset(junk, 0xa5, sizeof(junk));
		return raw_write(fd, junk, sizeof(junk)) ? 1 : expect_closed(fd);
	}
	if (!strcmp(mode, "huge")) {
		struct rdsb_send_req r = request(&to, MAX_MSG + 1);

		return raw_write(fd, &r, sizeof(r)) ? 1 : expect_closed(fd);
	}
	if (!strcmp(mode, "cut")) {
		struct rdsb_send_req r = request(&to, 1000);
		uint8_t part[100] = { 0 };

		return raw_write(fd, &r, sizeof(r)) || raw_write(fd, part, sizeof(part)) ? 1 : 0;
	}
	if (!strcmp(mode, "flood") && argc == 5)
		return flood(fd, &to, strtoul(argv[4], NULL, 0));
	if (!strcmp(mode, "kick-len")) {
		struct rdsb_send_req r = request(&to, 5);

		r.flags = RDSB_REQ_KICK;
		return raw_write(fd, &r, sizeof(r)) ? 1 : expect_closed(fd);
	}
	if (!strcmp(mode, "queue") && argc == 5)
		return queue(fd, &to, argv[4]);
	fprintf(stderr, "rds-rawstream: unknown mode '%s'\n", mode);
	return 2;
}
