// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One rds-bpf stress task: one RDS socket, and the loop of its role.
 *   active, request/response: keep `depth` requests outstanding, time each
 *     answer (rtt), check the answers come back whole and in order; after
 *     the run, wait for the answers still due;
 *   active, one-way: send requests as fast as the send buffer allows;
 *   passive: check each request (whole, in order) and, unless one-way,
 *     answer it with an ack of ack_bytes.
 * Sockets wait at most 100 ms so that the phase the parent sets is seen.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rds-bpf/rds.h>
#include "../user/common/addr.h"
#include "stress.h"

#define TIMEO_US 100000
#define BUMP(st, field, by) __atomic_store_n(&(st)->field, (st)->field + (by), __ATOMIC_RELEASE)

struct task {
	const struct stress_opts *o;
	struct stress_shared *sh;
	struct stress_stats *st;
	unsigned int idx;
	int fd;
	struct stress_pattern *pat;	/* what this side sends */
	struct stress_pattern *unread;	/* --no-verify: what the other side sends */
	uint8_t *buf;			/* what it receives, one byte more to see oversize */
	uint32_t rx_len;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int phase(const struct task *t)
{
	return __atomic_load_n(&t->sh->phase, __ATOMIC_ACQUIRE);
}

static void nap_ms(void)
{
	struct timespec ms = { .tv_nsec = 1000000 };

	nanosleep(&ms, NULL);
}

static int fail(struct task *t, const char *what)
{
	t->st->error = errno;
	fprintf(stderr, "rds-bpf stress: task %u: %s: %s\n", t->idx, what, strerror(errno));
	return 1;
}

static bool retry_errno(void)
{
	return errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR;
}

static int set_int(int fd, int name, int v)
{
	return rdsb_setsockopt(fd, SOL_SOCKET, name, &v, sizeof(v));
}

/* Buffers hold depth messages (never less than the system's default): the
 * send buffer bounds what is in flight, and the receive buffer is twice that
 * so that the port congests only when the application falls behind. */
static int open_socket(struct task *t)
{
	const struct stress_opts *o = t->o;
	uint32_t tx_len = o->active ? o->req_bytes : o->ack_bytes;
	uint64_t in_flight = (uint64_t)o->depth * (o->req_bytes > o->ack_bytes ? o->req_bytes : o->ack_bytes);
	struct timeval tv = { .tv_usec = TIMEO_US };
	struct sockaddr_storage ss;
	socklen_t len;

	if (in_flight < 212992)
		in_flight = 212992;
	if (in_flight < tx_len)
		in_flight = tx_len;
	t->fd = rdsb_socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (t->fd < 0)
		return fail(t, "socket");
	len = rdsb_addr_to_sa(o->local, o->active ? 0 : (uint16_t)(o->port + 1 + t->idx), 0, false, &ss);
	if (rdsb_bind(t->fd, (struct sockaddr *)&ss, len))
		return fail(t, "bind");
	if (set_int(t->fd, SO_SNDBUFFORCE, (int)in_flight) || set_int(t->fd, SO_RCVBUFFORCE, (int)(2 * in_flight)) ||
	    rdsb_setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    rdsb_setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return fail(t, "setsockopt");
	return 0;
}

/* 0: sent; 1: timed out (try again); -1: failed */
static int send_one(struct task *t, uint16_t type, uint64_t seq, uint64_t ts, const struct sockaddr *to,
		    socklen_t tolen)
{
	struct stress_msg hdr;
	struct iovec iov[2];
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = iov };
	ssize_t n;

	mh.msg_iovlen = (size_t)stress_msg_build(t->pat, &hdr, type, (uint16_t)t->idx, seq, ts, iov);
	n = rdsb_sendmsg(t->fd, &mh, 0);
	if (n < 0)
		return retry_errno() ? 1 : -1;
	BUMP(t->st, tx_bytes, (uint64_t)n);
	BUMP(t->st, tx_msgs, 1);
	return 0;
}

/* length received; -1 with errno EAGAIN after the timeout */
static ssize_t recv_one(struct task *t, struct sockaddr_storage *from, socklen_t *flen)
{
	*flen = sizeof(*from);
	return rdsb_recvfrom(t->fd, t->buf, t->rx_len + 1, 0, (struct sockaddr *)from, flen);
}

static void count_rx(struct task *t, ssize_t n, bool valid, bool in_order)
{
	if (!valid)
		BUMP(t->st, bad, 1);
	else if (!in_order)
		BUMP(t->st, out_of_order, 1);
	BUMP(t->st, rx_bytes, (uint64_t)n);
	BUMP(t->st, rx_msgs, 1);	/* last: the parent reads the others once this has moved */
}

static int run_requester(struct task *t)
{
	const struct stress_opts *o = t->o;
	struct sockaddr_storage dst, from;
	socklen_t dlen = rdsb_addr_to_sa(o->peer, (uint16_t)(o->port + 1 + t->idx), 0, false, &dst), flen;
	uint64_t seq = 0, next_ack = 0;
	unsigned int outstanding = 0;

	for (;;) {
		struct stress_msg h = { 0 };
		ssize_t n;
		bool ok;
		int ph = phase(t), r;

		if (ph == STRESS_EXIT)
			break;
		if (ph == STRESS_RUN) {
			/* one-way: one send per look at the phase; else fill the depth */
			if (o->one_way) {
				r = send_one(t, STRESS_REQ, seq, now_ns(), (struct sockaddr *)&dst, dlen);
				if (r < 0)
					return fail(t, "sendmsg");
				seq += !r;
				continue;
			}
			while (outstanding < o->depth) {
				r = send_one(t, STRESS_REQ, seq, now_ns(), (struct sockaddr *)&dst, dlen);
				if (r < 0)
					return fail(t, "sendmsg");
				if (r)
					break;
				seq++;
				outstanding++;
			}
		} else if (o->one_way || !outstanding) {
			break;	/* drained; the parent ends a drain that stands still (EXIT) */
		}
		n = recv_one(t, &from, &flen);
		if (n < 0) {
			if (retry_errno())
				continue;
			return fail(t, "recvmsg");
		}
		ok = stress_msg_valid(t->buf, (size_t)n, STRESS_ACK, (uint16_t)t->idx, o->ack_bytes, t->unread, &h);
		if (ok) {
			uint64_t rtt = now_ns() - h.ts_ns;

			BUMP(t->st, hist[stress_hist_bucket(rtt)], 1);
			BUMP(t->st, rtt_sum_ns, rtt);
			BUMP(t->st, rtt_count, 1);
		}
		count_rx(t, n, ok, h.seq == next_ack);
		next_ack = (ok ? h.seq : next_ack) + 1;
		outstanding--;
	}
	return 0;
}

static int run_responder(struct task *t)
{
	const struct stress_opts *o = t->o;
	uint64_t expect = 0;

	while (phase(t) != STRESS_EXIT) {
		struct sockaddr_storage from;
		struct stress_msg h = { 0 };
		socklen_t flen;
		ssize_t n = recv_one(t, &from, &flen);
		bool ok;

		if (n < 0) {
			if (retry_errno())
				continue;
			return fail(t, "recvmsg");
		}
		ok = stress_msg_valid(t->buf, (size_t)n, STRESS_REQ, (uint16_t)t->idx, o->req_bytes, t->unread, &h);
		count_rx(t, n, ok, h.seq == expect);
		if (!ok)
			continue;
		expect = h.seq + 1;
		if (o->one_way)
			continue;
		for (;;) {
			int r = send_one(t, STRESS_ACK, h.seq, h.ts_ns, (struct sockaddr *)&from, flen);

			if (r < 0)
				return fail(t, "sendmsg");
			if (!r || phase(t) == STRESS_EXIT)
				break;
		}
	}
	return 0;
}

int stress_task_run(const struct stress_opts *o, unsigned int idx, struct stress_shared *sh)
{
	struct task t = { .o = o, .sh = sh, .st = &sh->task[idx], .idx = idx, .fd = -1 };
	uint32_t tx_len = o->active ? o->req_bytes : o->ack_bytes;
	int rc;

	if (o->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return fail(&t, "sched_setaffinity (--cpu)");
	}
	t.rx_len = o->active ? o->ack_bytes : o->req_bytes;
	t.pat = stress_pattern_new(tx_len);
	t.unread = o->no_verify ? stress_pattern_new(t.rx_len) : NULL;
	t.buf = malloc(t.rx_len + 1);
	if (!t.pat || !t.buf || (o->no_verify && !t.unread)) {
		errno = ENOMEM;
		return fail(&t, "malloc");
	}
	if (open_socket(&t))
		return 1;
	__atomic_store_n(&t.st->ready, 1, __ATOMIC_RELEASE);
	while (phase(&t) == STRESS_WAIT)
		nap_ms();
	rc = o->active ? run_requester(&t) : run_responder(&t);
	__atomic_store_n(&t.st->done, 1, __ATOMIC_RELEASE);
	/* closing drops what the socket has not sent yet (as the kernel's
	 * rds_release): stay open until the peer has counted everything */
	while (phase(&t) != STRESS_EXIT)
		nap_ms();
	rdsb_close(t.fd);
	stress_pattern_free(t.pat);
	stress_pattern_free(t.unread);
	free(t.buf);
	return rc;
}
