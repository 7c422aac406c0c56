// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sendmsg with rds_sendmsg's checks, in its order, and its errno values.
 * A message the library accepts is handed to the engine whole; from then on
 * only the engine's acknowledgement accounting (shared page) frees its
 * sndbuf bytes.
 */
#include <errno.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <rds-bpf/rules.h>
#include "lib.h"
#include "../common/addr.h"

#ifndef MSG_CMSG_COMPAT
#define MSG_CMSG_COMPAT 0x80000000	/* kernel-internal, accepted by rds_sendmsg */
#endif
#define SEND_FLAGS (MSG_DONTWAIT | MSG_CMSG_COMPAT | MSG_ZEROCOPY)

static uint32_t sndbuf(const struct rdsb_lsock *s)
{
	return (uint32_t)s->st->sk_sndbuf / 2;
}

/* Waits until t (CLOCK_MONOTONIC) for the page's release_seq to move, or
 * for RDSB_ENGINE_RETRY_MS: an engine that died wakes nobody. -ETIMEDOUT at t. */
static int wait_release(struct rdsb_sock_shm *sh, uint32_t seen, const struct timespec *deadline)
{
	struct timespec now, rel = { .tv_nsec = RDSB_ENGINE_RETRY_MS * 1000000L };
	long r;

	if (deadline) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		now.tv_sec = deadline->tv_sec - now.tv_sec;
		now.tv_nsec = deadline->tv_nsec - now.tv_nsec;
		if (now.tv_nsec < 0) {
			now.tv_sec--;
			now.tv_nsec += 1000000000L;
		}
		if (now.tv_sec < 0)
			return -ETIMEDOUT;
		if (!now.tv_sec && now.tv_nsec < rel.tv_nsec)
			rel = now;
	}
	__atomic_add_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
	r = syscall(SYS_futex, &sh->release_seq, FUTEX_WAIT, seen, &rel, NULL, 0);
	__atomic_sub_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
	if (r < 0 && errno == EINTR)
		return -EINTR;
	return 0;
}

static void deadline_from(const struct timeval *tv, struct timespec *d)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += tv->tv_sec;
	d->tv_nsec += tv->tv_usec * 1000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Space in the send queue: accepted while the bytes queued are below sndbuf
 * (so the last message may overshoot), as rds_send_queue_rm. *shp is the
 * page (the engine's) the bytes were counted on. */
static int reserve(struct rdsb_lsock *s, uint32_t len, int flags, struct rdsb_sock_shm **shp)
{
	struct timespec deadline, *dp = NULL;
	int timeo = rdsb_timeo_ms(&s->st->sndtimeo);

	if (timeo >= 0) {
		deadline_from(&s->st->sndtimeo, &deadline);
		dp = &deadline;
	}
	for (;;) {
		struct rdsb_sock_shm *sh = __atomic_load_n(&s->shm, __ATOMIC_ACQUIRE);
		uint32_t seen = __atomic_load_n(&sh->release_seq, __ATOMIC_SEQ_CST);
		uint64_t cur = __atomic_load_n(&sh->snd_bytes, __ATOMIC_SEQ_CST);
		bool block;
		int err;

		/* and fewer copies kept than the engine numbers (copies.c) */
		if (!s->lost && cur < sndbuf(s) && rdsb_copies_room(s) &&
		    !__atomic_load_n(&sh->stopping, __ATOMIC_ACQUIRE)) {
			if (__atomic_compare_exchange_n(&sh->snd_bytes, &cur, cur + len, false,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				*shp = sh;
				return 0;
			}
			continue;
		}
		/* whether the fd blocks is asked only when there is no room */
		block = !rdsb_nonblocking(s->fd, flags);
		if (rdsb_engine_gone(s)) {
			err = rdsb_engine_back(s, block, dp ? rdsb_now_ms() + rdsb_timeo_ms(&s->st->sndtimeo) : -1);
			if (err)
				return err;
			continue;
		}
		if (!block)
			return -EAGAIN;
		err = wait_release(sh, seen, dp);
		if (err)
			return err;
	}
}

/* A congested destination port: ENOBUFS without blocking, else wait for the
 * peer's map to clear it (the kernel ignores SO_SNDTIMEO here), or for the
 * engine to go (its map then says nothing: the new engine's will; 1: the
 * socket is on a new engine, whose address table the caller reads again).
 * With RDS_CONG_MONITOR the port joins the socket's mask first, then the map
 * is tested again (rds_cong_wait): an update the engine applied before it
 * had the mask notifies nobody, and is already in the map we read. */
static int cong_wait(struct rdsb_lsock *s, int slot, uint16_t dport, int flags)
{
	while (rdsb_port_congested(s->em, slot, dport)) {
		struct pollfd p = { .fd = s->ctl, .events = POLLIN };
		bool block = !rdsb_nonblocking(s->fd, flags);
		int err, r;

		if (!block && !rdsb_engine_gone(s)) {
			if (s->st->cong_monitor) {
				struct rdsb_ctl_req req = { .op = RDSB_CTL_CONG_MONITOR,
							    .val = RDS_CONG_MONITOR_MASK(dport) };
				struct rdsb_ctl_rep rep;

				s->lsh->cong_mask |= req.val;
				rdsb_ctl_call(s, &req, &rep);
				if (!rdsb_port_congested(s->em, slot, dport))
					return 0;
			}
			return -ENOBUFS;
		}
		r = block ? (int)syscall(SYS_poll, &p, 1, 1) : 1;
		if (r < 0 && errno == EINTR)
			return -EINTR;
		if (r > 0)
			return (err = rdsb_engine_back(s, block, -1)) ? err : 1;
	}
	return 0;
}

int rdsb_write_all(int fd, struct iovec *iov, int cnt)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

	while (mh.msg_iovlen) {
		ssize_t n = sys_sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* an O_NONBLOCK fd: the record must still go whole */
				struct pollfd p = { .fd = fd, .events = POLLOUT };

				poll(&p, 1, -1);
				continue;
			}
			return -errno;
		}
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n < mh.msg_iov->iov_len) {
				mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
				mh.msg_iov->iov_len -= (size_t)n;
				n = 0;
			} else {
				n -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
		while (mh.msg_iovlen && !mh.msg_iov->iov_len) {
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
	}
	return 0;
}

/* The destination's address slot (its congestion map). A first send to an
 * address the engine has none for asks the engine for the connection first,
 * so that a full table fails this sendmsg with ENOMEM, as the kernel's
 * (rds_conn_create_outgoing), instead of a drop after it returned. */
static int dest_slot(struct rdsb_lsock *s, const uint8_t daddr[16], uint32_t scope, int *slot)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_CONNECT, .scope_id = scope };
	struct rdsb_ctl_rep rep;
	int err;

	*slot = rdsb_addr_find(s->em, daddr);
	if (*slot >= 0)
		return 0;
	memcpy(req.addr, daddr, 16);
	err = rdsb_ctl_call(s, &req, &rep);
	if (err)
		return err;	/* -EPIPE: the engine went, the caller moves on */
	*slot = rdsb_addr_find(s->em, daddr);
	return 0;
}

static int check_cmsgs(const struct msghdr *msg)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR((struct msghdr *)msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
		if (cm->cmsg_level != SOL_RDS)
			continue;
		switch (cm->cmsg_type) {
		case RDS_CMSG_RDMA_ARGS:
		case RDS_CMSG_RDMA_DEST:
		case RDS_CMSG_RDMA_MAP:
		case RDS_CMSG_ATOMIC_FADD:
		case RDS_CMSG_ATOMIC_CSWP:
		case RDS_CMSG_MASKED_ATOMIC_FADD:
		case RDS_CMSG_MASKED_ATOMIC_CSWP:
			return -EOPNOTSUPP;	/* no RDMA on the TCP transport */
		case RDS_CMSG_ZCOPY_COOKIE:
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

static ssize_t do_sendmsg(struct rdsb_lsock *s, const struct msghdr *msg, int flags)
{
	struct rdsb_send_req req = { .magic = RDSB_SEND_MAGIC };
	struct iovec iov[1 + 1024];
	uint8_t daddr[16];
	uint16_t dport;
	uint32_t scope = 0;
	size_t len = 0;
	int err, slot;

	if (flags & ~SEND_FLAGS)
		return -EOPNOTSUPP;
	if (msg->msg_iovlen > 1024)
		return -EMSGSIZE;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		len += msg->msg_iov[i].iov_len;
	if (msg->msg_name && msg->msg_namelen) {
		const struct sockaddr *sa = msg->msg_name;

		if (msg->msg_namelen < sizeof(struct sockaddr_in) ||
		    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
		    rdsb_addr_from_sa(sa, msg->msg_namelen, daddr, &dport, &scope) < 0 ||
		    !rdsb_addr_is_unicast(daddr) ||
		    (sa->sa_family == AF_INET6 && rdsb_addr_is_linklocal6(daddr) && !scope))
			return -EINVAL;
	} else if (s->st->connected) {
		memcpy(daddr, s->st->caddr, 16);
		dport = s->st->cport;
		scope = s->st->cscope_id;
	} else {
		return -ENOTCONN;
	}
	if (!s->st->bound)
		return -ENOTCONN;
	if (rdsb_addr_is_v4(s->st->addr) != rdsb_addr_is_v4(daddr))
		return -EOPNOTSUPP;
	if (!rdsb_msg_size_ok(len) || len > sndbuf(s))
		return -EMSGSIZE;
	err = check_cmsgs(msg);
	if (err)
		return err;
	memcpy(req.daddr, daddr, 16);
	req.scope_id = scope;
	req.dport = dport;
	req.len = (uint32_t)len;
	for (;;) {
		struct rdsb_sock_shm *sh;
		int cnt = 1;

		err = dest_slot(s, daddr, scope, &slot);
		if (err == -EPIPE) {
			if (!rdsb_engine_went(s))
				return -ECONNRESET;
			goto next_engine;
		}
		if (err)
			return err;
		/* whether the fd blocks is asked only when it matters */
		err = cong_wait(s, slot, dport, flags);
		if (err > 0)
			continue;
		if (err)
			return err;
		err = reserve(s, (uint32_t)len, flags, &sh);
		if (err)
			return err;
		iov[0].iov_base = &req;
		iov[0].iov_len = sizeof(req);
		for (size_t i = 0; i < msg->msg_iovlen; i++)
			if (msg->msg_iov[i].iov_len)
				iov[cnt++] = msg->msg_iov[i];
		rdsb_lock(&s->lsh->wlock);
		if (sh != s->shm) {
			err = -EPIPE;	/* counted on the engine before: again on this one */
		} else {
			/* the payload in the copy ring, if it goes there: the
			 * request then carries only its place (txring.c) */
			int wcnt = s->lost ? cnt : rdsb_txring_place(s, &req, iov, cnt);

			/* kept until acknowledged: a killed engine's next
			 * gets it again (copies.c; one in the ring is kept
			 * there, until its engine goes) */
			err = rdsb_copies_keep(s, &req, iov + 1, cnt - 1);
			/* without an engine, nothing goes out behind its back;
			 * without a send socket (no sk_msg send path), all
			 * goes through the engine */
			if (!err && (s->lost || s->txfd < 0 ||
				     !rdsb_skmsg_send(s, daddr, dport, iov, cnt, (uint32_t)len))) {
				/* in the request queue, or on the stream */
				int queued = rdsb_reqq_put(s, &req, iov, cnt);

				err = queued < 0 ? queued : queued ? 0 : rdsb_reqq_drained(s);
				if (!err && !queued)
					err = rdsb_write_all(rdsb_tx_fd(s), iov, wcnt);
				if (!err) {
					s->lsh->reqs_sent++;
					if (!queued)
						s->lsh->reqs_streamed = s->lsh->reqs_sent;
				} else {
					rdsb_copies_unkeep(s);
				}
			}
			if (err)
				rdsb_txring_unplace(s, &req);	/* placed again on the next engine */
		}
		pthread_mutex_unlock(&s->lsh->wlock);
		if (!err) {
			rdsb_watch_sent(s);
			break;
		}
		__atomic_sub_fetch(&sh->snd_bytes, len, __ATOMIC_SEQ_CST);
		if (err != -EPIPE)
			return err;
		if (sh == s->shm && !rdsb_engine_went(s))
			return -ECONNRESET;	/* the engine closed this socket */
next_engine:
		/* the engine went: the datagram goes to the next one */
		err = rdsb_engine_back(s, !rdsb_nonblocking(s->fd, flags),
				       rdsb_timeo_ms(&s->st->sndtimeo) < 0 ? -1 :
				       rdsb_now_ms() + rdsb_timeo_ms(&s->st->sndtimeo));
		if (err)
			return err;
	}
	s->st->has_sent = true;
	return (ssize_t)len;
}

static ssize_t lsock_sendmsg(struct rdsb_lsock *s, const struct msghdr *msg, int flags)
{
	ssize_t r;

	do
		r = do_sendmsg(s, msg, flags);
	while (r == -EINTR && rdsb_restarts());
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

ssize_t rdsb_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return RDSB_WITH_SOCK(fd, s, lsock_sendmsg(s, msg, flags));
}

ssize_t rdsb_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		    socklen_t tolen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov,
			     .msg_iovlen = 1 };

	return rdsb_sendmsg(fd, &mh, flags);
}

ssize_t rdsb_send(int fd, const void *buf, size_t len, int flags)
{
	return rdsb_sendto(fd, buf, len, flags, NULL, 0);
}
