// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * recvmsg as rds_recvmsg: congestion notifications first (as a
 * RDS_CMSG_CONG_UPDATE), then one datagram, with the sender's address and
 * port in msg_name, MSG_PEEK, MSG_TRUNC, and ETIMEDOUT on SO_RCVTIMEO.
 * The engine writes whole records to the delivery stream, their headers
 * decoded already (rds-bpf/maps.h); a record whose header is here will be
 * here whole, soon.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib.h"
#include "../common/addr.h"
#include "../common/wire.h"

/* Bytes waiting, up to want, peeked into buf; -ECONNRESET at the end of a
 * dead engine's stream. Not FIONREAD: on the BPF path records wait in the
 * socket's psock queue, which it does not count. */
static int peek_avail(int fd, void *buf, int want)
{
	ssize_t n = sys_recv(fd, buf, (size_t)want, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n ? (int)n : -ECONNRESET;
}

/* At least want bytes queued, peeked into buf: -EAGAIN when the stream is
 * empty; once part of a record is here (or started), the rest is on its
 * way and is waited for. The caller waited for the stream to be readable. */
static int wait_bytes(struct rdsb_lsock *s, void *buf, int want, bool started)
{
	for (;;) {
		int have = peek_avail(s->fd, buf, want);

		if (have < 0)
			return have;
		if (have >= want)
			return 0;
		if (!have && !started)
			return -EAGAIN;
		poll(NULL, 0, 0);
	}
}

/* Never a blocking recv: on the BPF path a blocking (or MSG_WAITALL) read
 * that finds bytes in the socket's own queue sleeps on that queue alone,
 * while the rest of the record arrives in the psock queue (the verdict moves
 * each skb there): it would never wake. poll sees both queues. */
static int read_exact(int fd, void *buf, size_t len, int flags)
{
	while (len) {
		ssize_t n = sys_recv(fd, buf, len, flags | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				struct pollfd p = { .fd = fd, .events = POLLIN };

				poll(&p, 1, -1);
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		buf = (char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_name(struct rdsb_lsock *s, struct msghdr *msg, uint64_t slot, uint16_t sport)
{
	struct sockaddr_storage ss;
	socklen_t n;
	const uint8_t *a;

	if (!msg->msg_name)
		return;
	if (slot >= RDSB_MAX_ADDRS) {
		msg->msg_namelen = 0;
		return;
	}
	a = s->rx.em->addrs[slot].addr;
	n = rdsb_addr_to_sa(a, sport, s->rx.em->addrs[slot].scope_id, !rdsb_addr_is_v4(s->st->addr), &ss);
	memcpy(msg->msg_name, &ss, msg->msg_namelen < n ? msg->msg_namelen : n);
	msg->msg_namelen = n;
}

/* put_cmsg: appends one control message, or as much of it as fits with
 * MSG_CTRUNC; msg_controllen holds the room, *used what is filled. */
static void put_cmsg(struct msghdr *msg, size_t *used, int level, int type, const void *data, size_t len)
{
	size_t room = msg->msg_controllen - *used, n = CMSG_LEN(len);
	struct cmsghdr *cm = (struct cmsghdr *)((char *)msg->msg_control + *used);

	if (!msg->msg_control || room < sizeof(*cm)) {
		msg->msg_flags |= MSG_CTRUNC;
		return;
	}
	if (room < n) {
		msg->msg_flags |= MSG_CTRUNC;
		n = room;
	}
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = n;
	memcpy(CMSG_DATA(cm), data, n - CMSG_LEN(0));
	*used += CMSG_SPACE(len) < room ? CMSG_SPACE(len) : room;
}

/* rds_cmsg_recv: the receive time (SO_TIMESTAMP, old or new format; the
 * clock is read only for a socket that asked for it) and the receive path
 * latency trace (SO_RDS_MSG_RXPATH_LATENCY). The stages before this library
 * are the engine's, which does not time them: 0. */
static void put_rx_cmsgs(struct rdsb_lsock *s, struct msghdr *msg, size_t *used)
{
	if (s->st->timestamp) {
		struct timespec rx;

		clock_gettime(CLOCK_REALTIME, &rx);
		if (!s->st->tstamp_new) {
			struct timeval tv = { .tv_sec = rx.tv_sec, .tv_usec = rx.tv_nsec / 1000 };

			put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMP_OLD, &tv, sizeof(tv));
		} else {
			struct { int64_t sec, usec; } tv = { rx.tv_sec, rx.tv_nsec / 1000 };

			put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMP_NEW, &tv, sizeof(tv));
		}
	}
	if (s->st->rx_traces.rx_traces) {
		struct rds_cmsg_rx_trace tr = { .rx_traces = s->st->rx_traces.rx_traces };

		memcpy(tr.rx_trace_pos, s->st->rx_traces.rx_trace_pos, sizeof(tr.rx_trace_pos));
		put_cmsg(msg, used, SOL_RDS, RDS_CMSG_RXPATH_LATENCY, &tr, sizeof(tr));
	}
}

static void put_cong_cmsg(struct msghdr *msg, uint64_t mask)
{
	size_t used = 0;

	put_cmsg(msg, &used, SOL_RDS, RDS_CMSG_CONG_UPDATE, &mask, sizeof(mask));
	msg->msg_controllen = used;
}

/* Of the next record, a read takes at most its header but the last byte
 * along with a payload: that byte keeps the stream readable, so poll
 * reports POLLIN while a record waits, whatever its length. From AHEAD_LEN
 * bytes on, the length is known, and the next read takes the rest of the
 * header, the payload and the start of the next header at once. */
#define AHEAD_MAX (RDS_HEADER_SIZE - 1)
#define AHEAD_LEN (offsetof(struct rds_header, h_len) + sizeof(__be32))
_Static_assert(offsetof(struct rdsb_deliv_hdr, len) == offsetof(struct rds_header, h_len) &&
		       offsetof(struct rdsb_deliv_hdr, decoded) == offsetof(struct rds_header, h_ack),
	       "the engine's header and the wire's keep the length and the marker in one place");

/* The sender of the socket's records that do not name theirs: read after
 * the record, which the verdict delivered so only once the engine had set it. */
static uint32_t rx_peer(const struct rdsb_lsock *s)
{
	return __atomic_load_n(&s->rx.shm->rx_peer, __ATOMIC_ACQUIRE);
}

/* The payload length of a header of which AHEAD_LEN bytes are here: the
 * engine's, or the wire header the verdict of the BPF path writes. */
static uint32_t record_len(const struct rdsb_deliv_hdr *h)
{
	return h->decoded == RDSB_DELIV_DECODED ? h->len : be32toh(((const struct rds_header *)h)->h_len);
}

/* The bytes of the next record's header the last read took (rx_hdr_have,
 * in the shared page: whichever process holding the socket reads next uses
 * them). Those of an earlier engine's stream are dropped; those of a later
 * one, which another process reads already, are not this process's: *own
 * is false, and it reads its old stream to its end without reading ahead. */
static uint32_t read_ahead(struct rdsb_lsock *s, bool *own)
{
	struct rdsb_lib_shm *l = s->lsh;

	*own = true;
	if (!l->rx_hdr_have || l->rx_hdr_epoch == s->rx.epoch)
		return l->rx_hdr_have;
	if ((int32_t)(l->rx_hdr_epoch - s->rx.epoch) < 0)
		l->rx_hdr_have = 0;
	else
		*own = false;
	return 0;
}

/* Copies len peeked payload bytes into the iovec. */
static size_t copy_peeked(const struct msghdr *msg, const uint8_t *peeked, uint32_t len)
{
	size_t done = 0;

	for (size_t i = 0; i < msg->msg_iovlen && done < len; i++) {
		size_t take = msg->msg_iov[i].iov_len;

		if (take > len - done)
			take = len - done;
		memcpy(msg->msg_iov[i].iov_base, peeked + done, take);
		done += take;
	}
	return done;
}

#define READ_IOV 64	/* of the caller's iovec per read */

/* Reads the rest of the record's header (rest bytes into hdr), its len
 * payload bytes into the iovec, room bytes long (what does not fit is read
 * and dropped: a datagram is consumed whole), and with OWN the start of the
 * next header if it is there: one read per datagram while the stream keeps
 * up. Returns what the caller got, not what was dropped. */
static ssize_t read_record(struct rdsb_lsock *s, const struct msghdr *msg, size_t room, uint8_t *hdr,
			   size_t rest, uint32_t len, bool own)
{
	uint8_t sink[4096];
	size_t done = 0;

	while (done < rest + len) {
		struct iovec iov[READ_IOV + 3];
		struct msghdr mh = { .msg_iov = iov };
		size_t pdone = done > rest ? done - rest : 0, want = 0, pwant = 0, skip = pdone;
		int cnt = 0;
		ssize_t n;

		if (done < rest) {
			iov[cnt++] = (struct iovec){ hdr + done, rest - done };
			want = rest - done;
		}
		for (size_t i = 0; i < msg->msg_iovlen && cnt <= READ_IOV && pdone + pwant < len; i++) {
			size_t take = msg->msg_iov[i].iov_len;

			if (skip >= take) {
				skip -= take;
				continue;
			}
			take -= skip;
			if (take > len - pdone - pwant)
				take = len - pdone - pwant;
			iov[cnt++] = (struct iovec){ (uint8_t *)msg->msg_iov[i].iov_base + skip, take };
			pwant += take;
			skip = 0;
		}
		if (pdone + pwant >= room && pdone + pwant < len) {
			size_t drop = len - pdone - pwant < sizeof(sink) ? len - pdone - pwant : sizeof(sink);

			iov[cnt++] = (struct iovec){ sink, drop };
			pwant += drop;
		}
		if (own && pdone + pwant == len)
			iov[cnt++] = (struct iovec){ s->lsh->rx_hdr, AHEAD_MAX };
		want += pwant;
		mh.msg_iovlen = (size_t)cnt;
		/* never a blocking read: see read_exact */
		n = sys_recvmsg(s->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			struct pollfd p = { .fd = s->fd, .events = POLLIN };

			if (errno != EINTR && errno != EAGAIN)
				return -errno;
			poll(&p, 1, -1);
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if ((size_t)n > want) {
			s->lsh->rx_hdr_have = (uint32_t)((size_t)n - want);
			s->lsh->rx_hdr_epoch = s->rx.epoch;
			n = (ssize_t)want;
		}
		done += (size_t)n;
	}
	return (ssize_t)(len < room ? len : room);
}

/* The engine's receive-buffer accounting (congestion) counts what we read. */
static void consumed(struct rdsb_lsock *s, uint64_t bytes)
{
	__atomic_add_fetch(&s->rx.shm->rx_consumed, bytes, __ATOMIC_RELEASE);
}

/* A copy of a datagram the stream of the engine before ended with
 * (rx_again.c): read and dropped, and the caller reads on */
#define RX_AGAIN (-EALREADY)

static bool rx_again(struct rdsb_lsock *s, const struct rdsb_deliv_hdr *h, bool consume, bool engines)
{
	const struct rdsb_rx_seen_log *log = &s->lsh->rx_seen;

	/* nothing to remember, nothing to look for */
	if ((h->flags & RDSB_DELIV_NOTIFY) || h->slot >= RDSB_MAX_ADDRS ||
	    (!(consume && engines) && !log->n_before && log->epoch == s->rx.epoch))
		return false;
	return rdsb_rx_again(&s->lsh->rx_seen, s->rx.epoch, rdsb_rx_seen_of(&s->rx.em->addrs[h->slot], h), consume,
			     engines);
}

static ssize_t do_recvmsg(struct rdsb_lsock *s, struct msghdr *msg, int flags)
{
	bool peek = flags & MSG_PEEK;
	size_t room = 0, used = 0, controllen = msg->msg_controllen;
	struct rdsb_deliv_hdr h;
	uint8_t *peeked = NULL;
	ssize_t r = -1;
	uint32_t have;
	bool own, engines;
	int err;

	if (flags & MSG_OOB)
		return 0;
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;
	msg->msg_flags = 0;
	msg->msg_controllen = 0;
	have = read_ahead(s, &own);
	memcpy(&h, s->lsh->rx_hdr, have);
	if (!peek && have) {
		/* the header's start came with the last payload: from its
		 * length on, the rest comes with this payload */
		s->lsh->rx_hdr_have = 0;
		if (have < AHEAD_LEN && (err = read_exact(s->fd, (uint8_t *)&h + have, AHEAD_LEN - have, 0)))
			return err;
		have = have < AHEAD_LEN ? AHEAD_LEN : have;
	} else if (!peek && (r = sys_recv(s->fd, &h, sizeof(h), MSG_DONTWAIT)) > 0) {
		/* a record is waiting; take its header in one call */
		if (r < (ssize_t)sizeof(h) &&
		    (err = read_exact(s->fd, (uint8_t *)&h + r, sizeof(h) - (size_t)r, 0)))
			return err;
		have = sizeof(h);
	} else {
		if (!peek && r == 0)
			return -ECONNRESET;
		if (!peek && errno == EAGAIN)
			return -EAGAIN;	/* the stream is empty: no second look */
		err = wait_bytes(s, (uint8_t *)&h + have, (int)(RDS_HEADER_SIZE - have), have > 0);
		if (err)
			return err;
		rdsb_deliv_hdr_decode(&h, rx_peer(s));
		if (peek) {
			peeked = malloc(RDS_HEADER_SIZE + h.len);
			if (!peeked)
				return -ENOMEM;
			memcpy(peeked, s->lsh->rx_hdr, have);
			err = wait_bytes(s, peeked + have, (int)(RDS_HEADER_SIZE + h.len - have), true);
			if (err) {
				free(peeked);
				return err;
			}
		} else if ((err = read_exact(s->fd, &h, sizeof(h), 0))) {
			return err;
		}
		have = sizeof(h);
	}
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		room += msg->msg_iov[i].iov_len;
	if (!peeked) {
		r = read_record(s, msg, room, (uint8_t *)&h + have, sizeof(h) - have, record_len(&h), own);
		if (r < 0)
			return r;
	}
	/* the engine's header is ready as it is (read, not peeked: not decoded yet) */
	engines = h.decoded == RDSB_DELIV_DECODED;
	rdsb_deliv_hdr_decode(&h, rx_peer(s));
	if (rx_again(s, &h, !peeked, engines)) {
		struct msghdr none = { 0 };

		if (!peeked) {
			consumed(s, RDS_HEADER_SIZE + h.len);
			return RX_AGAIN;
		}
		free(peeked);
		return do_recvmsg(s, &none, flags & ~MSG_PEEK);
	}
	msg->msg_controllen = controllen;
	if (h.flags & RDSB_DELIV_NOTIFY) {
		put_cong_cmsg(msg, h.seq);
		if (!peeked)
			consumed(s, RDS_HEADER_SIZE);
		free(peeked);
		if (msg->msg_name)
			msg->msg_namelen = 0;
		return 0;
	}
	put_rx_cmsgs(s, msg, &used);
	msg->msg_controllen = used;
	if (peeked)
		r = (ssize_t)copy_peeked(msg, peeked + RDS_HEADER_SIZE, h.len);
	else
		consumed(s, RDS_HEADER_SIZE + h.len);
	free(peeked);
	put_name(s, msg, h.slot, h.sport);
	if (h.len > room) {
		msg->msg_flags |= MSG_TRUNC;
		if (flags & MSG_TRUNC)
			return h.len;
	}
	return r;
}

/* Waits, without the read lock, until the stream has bytes: a reader
 * blocked for the next datagram holds nothing another thread or process
 * sharing the socket needs; whoever takes the lock first reads it. */
static int wait_readable(struct rdsb_lsock *s, int64_t end)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int wait = end < 0 ? -1 : (int)(end - rdsb_now_ms() > 0 ? end - rdsb_now_ms() : 0);
	int r = (int)syscall(SYS_poll, &p, 1, wait);

	if (r < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (!(p.revents & POLLIN))
		return -ECONNRESET;
	return 0;
}

/* Does the recv block (the fd's O_NONBLOCK, a fcntl, and FLAGS), and until
 * when (SO_RCVTIMEO; -1: forever)? */
static void ask_blocking(struct rdsb_lsock *s, int flags, bool *block, int64_t *end)
{
	int timeo = rdsb_timeo_ms(&s->st->rcvtimeo);

	*block = !rdsb_nonblocking(s->fd, flags);
	*end = timeo >= 0 ? rdsb_now_ms() + timeo : -1;
}

/* Whether the fd blocks (a fcntl) and the SO_RCVTIMEO deadline are asked
 * only when no datagram is waiting: a program that reads until EAGAIN pays
 * for them once per batch, not once per datagram. While recvs keep waiting
 * for the stream (rx_waits: a request/response), they are asked first, and
 * a blocking recv polls before it reads: a read that finds nothing saved.
 * Never a blocking read of the stream (read_exact). */
static ssize_t lsock_recvmsg(struct rdsb_lsock *s, struct msghdr *msg, int flags)
{
	size_t controllen = msg->msg_controllen;
	int64_t end = -1;
	bool asked = false, block = true, next, first = true;
	ssize_t r;

	for (;;) {
		if (first && s->rx_waits && !(flags & (MSG_DONTWAIT | MSG_PEEK)) && !s->lost) {
			ask_blocking(s, flags, &block, &end);
			asked = true;
			/* whatever else it says, the read below says it again */
			if (block && wait_readable(s, end) == -EINTR && !rdsb_restarts()) {
				errno = EINTR;
				return -1;
			}
		}
		first = false;
		rdsb_lock(&s->lsh->rlock);
		r = do_recvmsg(s, msg, flags | MSG_DONTWAIT);
		if (r >= 0 && s->lsh->rx_hdr_have)
			s->rx_waits = false;	/* the stream keeps up */
		/* the end of an engine's stream: the next engine's is behind it */
		next = (r == -ECONNRESET && rdsb_stream_next(s)) || r == RX_AGAIN;
		pthread_mutex_unlock(&s->lsh->rlock);
		if (next)
			continue;
		if (r < 0)
			msg->msg_controllen = controllen;	/* untouched, as the kernel leaves it */
		if ((r == -EAGAIN || r == -ECONNRESET) && !asked) {
			ask_blocking(s, flags, &block, &end);
			asked = true;
		}
		if (r == -EAGAIN && block && !s->lost) {
			s->rx_waits = true;
			if (!(r = wait_readable(s, end)))
				continue;
		}
		/* the stream's end: the engine went (its last records were read) */
		if ((r == -ECONNRESET ? rdsb_engine_went(s) : r == -EAGAIN && s->lost && rdsb_engine_gone(s)) &&
		    !(r = rdsb_engine_back(s, block, end)))
			continue;
		if (r == -EINTR && rdsb_restarts())
			continue;
		break;
	}
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

ssize_t rdsb_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return RDSB_WITH_SOCK(fd, s, lsock_recvmsg(s, msg, flags));
}

ssize_t rdsb_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		      socklen_t *fromlen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_name = from, .msg_namelen = from && fromlen ? *fromlen : 0,
			     .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r = rdsb_recvmsg(fd, &mh, flags);

	if (r >= 0 && from && fromlen)
		*fromlen = mh.msg_namelen;
	return r;
}

ssize_t rdsb_recv(int fd, void *buf, size_t len, int flags)
{
	return rdsb_recvfrom(fd, buf, len, flags, NULL, NULL);
}
