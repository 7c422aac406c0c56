// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-txraw: hostile records on an application's send socket, the sk_msg
 * send path (transports/tcp/skmsg_tx.bpf.c), as a buggy or hostile application could
 * write them past the library. It opens an RDS socket with the engine's
 * control protocol itself (OPEN, BIND), so it holds the send socket, the
 * shared rdsb_txpath and the paths' locks, and builds a record that would be accepted, then
 * breaks one thing in it:
 *
 *   rds-txraw LADDR:LPORT DADDR:DPORT CASE
 *     short   20 bytes, less than a header
 *     len     h_len 10 with 100 bytes of payload
 *     huge    h_len above 1 MiB
 *     cong    a congestion-map record
 *     flags   h_flags of its choosing (the engines' delivery acknowledgement,
 *             RETRANSMITTED, ACK_REQUIRED): a forged acknowledgement would make
 *             the peer's engine forget what it has not delivered
 *     sport   a source port that is not the socket's
 *     path    h_ack naming a path that is not open
 *     seq     a sequence number of its choosing (2^40): accepted, and the
 *             program overwrites it with the path's own
 *     bounce  nothing broken, to a DPORT the test congested: the program
 *             bounces it back to the send socket, then the same record to
 *             DPORT + 1 must still be numbered and sent (a drop sticks)
 *
 * Prints "CASE: errno NAME" with the errno of the sendmsg (EACCES when the
 * program dropped it), or "CASE: accepted". Exit 0 when sendmsg failed, 1 when it was accepted,
 * 77 when the engine gives no send socket, 2 on bad usage, 3 when the setup
 * failed. bounce prints "bounce: bounced, then sent" and exits 0, or says
 * what it got and exits 1. IPv4 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "../../include/rds-bpf/maps.h"
#include "../../user/common/ctl_proto.h"
#include "addrarg.h"

/* the OPEN reply's fds on the sk_msg send path (ctl_proto.h), the send
 * socket 6th and rdsb_txpath 7th */
#define OPEN_FDS 8
#define die(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(3); } while (0)

/* v4-mapped, as the engine keeps addresses */
static int parse_addr(const char *arg, uint8_t addr[16], uint16_t *port)
{
	struct sockaddr_in sin;

	if (parse(arg, &sin))
		return -1;
	memset(addr, 0, 16);
	addr[10] = addr[11] = 0xff;
	memcpy(addr + 12, &sin.sin_addr, 4);
	*port = ntohs(sin.sin_port);
	return 0;
}

static int call(int ctl, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep, int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * OPEN_FDS)];
	struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	if (send(ctl, req, sizeof(*req), 0) != sizeof(*req) || recvmsg(ctl, &mh, 0) < (ssize_t)sizeof(*rep))
		return -1;
	if (rep->err)
		return -rep->err;
	cm = CMSG_FIRSTHDR(&mh);
	if (nfds && (!cm || cm->cmsg_len != CMSG_LEN(sizeof(int) * (size_t)nfds)))
		return 77;
	if (nfds)
		memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)nfds);
	return 0;
}

static int addr_slot(const struct rdsb_addr *t, const uint8_t addr[16])
{
	for (int i = 0; i < RDSB_MAX_ADDRS; i++)
		if (t[i].kind != RDSB_ADDR_FREE && !memcmp(t[i].addr, addr, 16))
			return i;
	return -1;
}

/* The record comes back whole on the send socket; the next one is
 * numbered (tps[idx].numbered moves) and redirected. */
static int bounce(int fd, uint8_t *rec, size_t size, const struct rdsb_txpath *tp, uint16_t dport)
{
	struct rds_header *h = (struct rds_header *)rec;
	uint8_t back[RDS_HEADER_SIZE + 101];
	uint32_t numbered = __atomic_load_n(&tp->numbered, __ATOMIC_ACQUIRE);
	ssize_t n = send(fd, rec, size, MSG_NOSIGNAL), got = recv(fd, back, sizeof(back), MSG_DONTWAIT);

	if (n != (ssize_t)size || got != (ssize_t)size || memcmp(back, rec, size) ||
	    __atomic_load_n(&tp->numbered, __ATOMIC_ACQUIRE) != numbered) {
		printf("bounce: sent %zd, read back %zd, numbered %u more\n", n, got,
		       __atomic_load_n(&tp->numbered, __ATOMIC_ACQUIRE) - numbered);
		return 1;
	}
	h->h_dport = htobe16((uint16_t)(dport + 1));
	n = send(fd, rec, size, MSG_NOSIGNAL);
	if (n != (ssize_t)size || __atomic_load_n(&tp->numbered, __ATOMIC_ACQUIRE) != numbered + 1) {
		printf("bounce: then sent %zd (%s), numbered %u more\n", n, n < 0 ? strerrorname_np(errno) : "",
		       __atomic_load_n(&tp->numbered, __ATOMIC_ACQUIRE) - numbered);
		return 1;
	}
	printf("bounce: bounced, then sent\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct rdsb_ctl_req req = { .op = RDSB_CTL_OPEN, .abi = RDSB_ABI };
	struct rdsb_ctl_rep rep;
	static uint8_t rec[RDS_HEADER_SIZE + 100];
	struct rds_header *h = (struct rds_header *)rec;
	uint8_t laddr[16], daddr[16];
	uint16_t lport, dport;
	struct rdsb_sock_shm *shm;
	struct rdsb_txpath *tps;
	const struct rdsb_addr *addrs;
	const char *c;
	size_t size = sizeof(rec);
	int ctl, fds[OPEN_FDS], err, fslot, path;
	unsigned int npaths;

	if (argc != 4 || parse_addr(argv[1], laddr, &lport) || parse_addr(argv[2], daddr, &dport)) {
		fprintf(stderr, "usage: rds-txraw LADDR:LPORT DADDR:DPORT short|len|huge|cong|sport|path|seq|bounce\n");
		return 2;
	}
	c = argv[3];
	ctl = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	memcpy(sun.sun_path + 1, RDSB_CTL_NAME, strlen(RDSB_CTL_NAME));
	if (connect(ctl, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
							       strlen(RDSB_CTL_NAME))))
		die("rds-txraw: no engine: %s", strerror(errno));
	err = call(ctl, &req, &rep, fds, OPEN_FDS);
	if (err == 77) {
		printf("rds-txraw: the engine gives no send socket\n");
		return 77;
	}
	if (err)
		die("rds-txraw: OPEN: %s", strerror(-err));
	req = (struct rdsb_ctl_req){ .op = RDSB_CTL_BIND, .port = lport };
	memcpy(req.addr, laddr, 16);
	if ((err = call(ctl, &req, &rep, NULL, 0)))
		die("rds-txraw: BIND: %s", strerror(-err));
	shm = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[1], 0);
	addrs = mmap(NULL, RDSB_MAX_ADDRS * sizeof(*addrs), PROT_READ, MAP_SHARED, fds[2], 0);
	tps = mmap(NULL, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS * sizeof(*tps), PROT_READ, MAP_SHARED, fds[6], 0);
	if (shm == MAP_FAILED || addrs == MAP_FAILED || tps == MAP_FAILED)
		die("rds-txraw: mmap: %s", strerror(errno));
	fslot = addr_slot(addrs, daddr);
	npaths = fslot < 0 ? 0 : tps[fslot * RDS_MPATH_WORKERS].npaths;
	if (!npaths)
		die("rds-txraw: no open path to %s yet (send to it first)", argv[2]);
	path = (int)(shm->path_hash & (npaths - 1));

	/* what the program would accept (the sequence number is the program's) */
	h->h_ack = htobe64((uint64_t)fslot * RDS_MPATH_WORKERS + (uint64_t)path);
	h->h_len = htobe32(100);
	h->h_sport = htobe16(lport);
	h->h_dport = htobe16(dport);
	if (!strcmp(c, "short"))
		size = 20;
	else if (!strcmp(c, "len"))
		h->h_len = htobe32(10);
	else if (!strcmp(c, "huge"))
		h->h_len = htobe32(RDS_MAX_MSG_SIZE + 1);
	else if (!strcmp(c, "cong"))
		h->h_flags = RDS_FLAG_CONG_BITMAP;
	else if (!strcmp(c, "flags"))
		h->h_flags = RDSB_FLAG_DELIV_ACK | RDS_FLAG_RETRANSMITTED | RDS_FLAG_ACK_REQUIRED;
	else if (!strcmp(c, "sport"))
		h->h_sport = htobe16((uint16_t)(lport + 1));
	else if (!strcmp(c, "path"))
		h->h_ack = htobe64((uint64_t)(RDSB_MAX_ADDRS - 1) * RDS_MPATH_WORKERS);
	else if (!strcmp(c, "seq"))
		h->h_sequence = htobe64(1ull << 40);
	else if (!strcmp(c, "bounce"))
		return bounce(fds[5], rec, size, &tps[fslot * RDS_MPATH_WORKERS + path], dport);
	else
		die("rds-txraw: unknown case %s", c);
	if (send(fds[5], rec, size, MSG_NOSIGNAL) >= 0) {
		printf("%s: accepted\n", c);
		return 1;
	}
	printf("%s: errno %s\n", c, strerrorname_np(errno));
	return 0;
}
