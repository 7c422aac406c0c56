// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path, library side (engine: transports/tcp/skmsg_tx.c,
 * program: transports/tcp/skmsg_tx.bpf.c). A datagram goes out on its path
 * socket from the application's own sendmsg: its payload is copied into the
 * socket's copy ring, then the record, [rds_header][payload] with h_ack
 * naming the path and the copy's place in the ring, is one blocking sendmsg
 * on the send socket, which rdsb_txmsg numbers and redirects into the path
 * socket, under the path's lock. The program tells the engine what went
 * out; the engine reads the copy from the ring when it gets to it, so a
 * send costs no second write and no engine wakeup. A sender that others
 * wait behind leaves its record corked (MSG_MORE) for them to push, so that
 * under load records share TCP segments and a lone send is not delayed.
 * Whenever that is not possible the datagram goes to the engine as before:
 * no path open to applications (not connected yet, reconnecting, the
 * engine writing its own records), the path's lock held with another sender
 * already waiting for it (the engine then writes the queue in one batch,
 * where senders taking the lock one after the other each paid a wakeup), too
 * much unacknowledged or the path not idle (path_idle: Nagle's rule), the
 * engine writing batches on the connection, the path socket short of room
 * (where the kernel's push would wait, deaf to SO_SNDTIMEO), no room in
 * the ring, a record rdsb_txmsg bounced back, or an earlier request of
 * this socket not yet on the wire (its datagrams stay in order). Either
 * way the library keeps its own copy (copies.c), which outlives the engine.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <rds-bpf/rules.h>
#include "lib.h"
#include "../common/txlock.h"

/* Under the lock: may this record go out on the path now? Not if the path
 * socket might not take it at once (rdsb_tx_charge). */
static bool path_takes(const struct rdsb_txpath *t, int lslot, unsigned int npaths, uint32_t rec)
{
	uint64_t unacked = t->written > t->acked ? t->written - t->acked : 0;

	return t->open && t->lslot == (uint32_t)lslot && t->npaths == npaths && unacked + rec <= t->limit &&
	       __atomic_load_n(&t->charged, __ATOMIC_RELAXED) + rdsb_tx_charge(rec) <=
	       __atomic_load_n(&t->room, __ATOMIC_ACQUIRE);
}

/* Nagle's rule without its wait: a datagram goes out on the path socket at
 * once when TCP has acknowledged all that went before it; while it has not,
 * the engine takes it and writes what gathered meanwhile in one sendmsg.
 * Unless what is unacknowledged went out DELACK_RTTS least round trips ago:
 * its ack is then a delayed one (the peer answered on another path, or not
 * at all), which batching behind would only add to a lone datagram's
 * latency, as Nagle's rule with delayed acks does to TCP. */
#define DELACK_RTTS 4
static bool path_idle(const struct rdsb_txpath *conn, const struct rdsb_txpath *t, uint64_t now)
{
	uint32_t rtt;

	/* the engine is writing batches on the connection: join them */
	if (now < __atomic_load_n(&conn->busy_until_ns, __ATOMIC_RELAXED))
		return false;
	if (__atomic_load_n(&t->acked_now, __ATOMIC_ACQUIRE) >= __atomic_load_n(&t->written, __ATOMIC_RELAXED))
		return true;
	rtt = __atomic_load_n(&t->rtt_min_us, __ATOMIC_RELAXED);
	/* signed: another sender may have written since the clock was read */
	return rtt && (int64_t)(now - __atomic_load_n(&t->written_ns, __ATOMIC_RELAXED)) > DELACK_RTTS * 1000ll * rtt;
}

/* The payload's copy in the ring (rdsb_txring_at), if the engine has read
 * far enough and released every request's payload there; false if not.
 * The head moves past a skipped end at once: nothing else is there. Under
 * the socket's write lock. */
static bool ring_copy(struct rdsb_lsock *s, const struct iovec *iov, int cnt, uint32_t len)
{
	uint32_t at = rdsb_txring_at(s, s->shm->ring_head, len);

	if (!rdsb_txring_fits(s->shm, at, len) || !rdsb_txring_released(s->shm, s->shm->ring_inring_end))
		return false;
	s->shm->ring_head = at;
	rdsb_txring_write(s, at, iov, cnt);
	return true;
}

/* Was the record bounced back by rdsb_txmsg (the destination port congested
 * since the library looked, no room for the engine's copy, the path socket
 * gone)? Its rec bytes are in the send socket's receive queue: read back. */
static bool bounced(int fd, uint32_t rec)
{
	uint8_t buf[4096];
	uint64_t got = 0;
	ssize_t r;

	while ((r = sys_recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0 || (r < 0 && errno == EINTR))
		got += r > 0 ? (uint64_t)r : 0;
	return got == rec;
}

/* Under the lock: did rdsb_txmsg number a record since the count was
 * NUMBERED? Only the lock's holder writes records on the path. */
static bool numbered_since(const struct rdsb_txpath *t, uint32_t numbered)
{
	return __atomic_load_n(&t->numbered, __ATOMIC_ACQUIRE) != numbered;
}

int rdsb_skmsg_send(struct rdsb_lsock *s, const uint8_t daddr[16], uint16_t dport,
		     struct iovec *iov, int cnt, uint32_t len)
{
	struct rdsb_txpath *tps = s->em->txpaths, *conn, *t;
	struct rdsb_txlock *l;
	struct rds_header h = { 0 };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
	struct iovec req = iov[0];	/* the engine's request, if it comes to that */
	uint32_t rec = RDS_HEADER_SIZE + len, wake, numbered;
	uint64_t now;
	unsigned int npaths, path;
	int fslot, lslot, more;
	ssize_t n;

	if (!tps || s->lsh->reqs_sent != __atomic_load_n(&s->shm->reqs_done, __ATOMIC_ACQUIRE))
		return 0;
	fslot = rdsb_addr_find(s->em, daddr);
	if (fslot < 0)
		return 0;
	lslot = (int)__atomic_load_n(&s->shm->slot, __ATOMIC_RELAXED);	/* the engine's, at bind */
	conn = &tps[fslot * RDS_MPATH_WORKERS];	/* the connection's entry */
	npaths = __atomic_load_n(&conn->npaths, __ATOMIC_ACQUIRE);
	if (!npaths || npaths > RDS_MPATH_WORKERS)
		return 0;
	path = rdsb_mpath_index(__atomic_load_n(&s->shm->path_hash, __ATOMIC_RELAXED), npaths);
	t = &tps[fslot * RDS_MPATH_WORKERS + path];
	l = &s->em->txlocks[fslot * RDS_MPATH_WORKERS + path];
	/* the clock once a send: the microseconds until the write below change
	 * nothing that path_idle measures in round trips */
	now = (uint64_t)rdsb_txlock_now();
	if (!__atomic_load_n(&t->open, __ATOMIC_ACQUIRE) || !path_idle(conn, t, now) || !ring_copy(s, iov, cnt, len))
		return 0;
	/* past half its send space, the sender may soon wait for the engine
	 * to free what TCP acknowledged: the engine reads the copies now */
	wake = __atomic_load_n(&s->shm->snd_bytes, __ATOMIC_RELAXED) * 2 >= (uint64_t)s->st->sk_sndbuf / 2 ?
	       RDSB_TXH_WAKE : 0;
	/* one waiter at a time: its record rides with the holder's (MSG_MORE) */
	if (rdsb_txlock_waiters(l) ? !rdsb_txlock_try(l, rdsb_self) : !rdsb_txlock(l, rdsb_self))
		return 0;
	if (!path_takes(t, lslot, npaths, rec) || !path_idle(conn, t, now)) {
		rdsb_txunlock(l);
		return 0;
	}
	h.h_ack = htobe64((uint64_t)s->shm->ring_head << 32 | wake | (uint32_t)(fslot * RDS_MPATH_WORKERS + path));
	h.h_len = htobe32(len);
	h.h_sport = htobe16(s->st->port);
	h.h_dport = htobe16(dport);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	numbered = __atomic_load_n(&t->numbered, __ATOMIC_RELAXED);
	/* another sender waits for the lock: its record goes in the same
	 * segment as this one, and it pushes both (or the one after it) */
	more = rdsb_txlock_waiters(l) ? MSG_MORE : 0;
	do
		n = sys_sendmsg(s->txfd, &mh, MSG_NOSIGNAL | more);
	while (n < 0 && errno == EINTR && !numbered_since(t, numbered));
	if (!numbered_since(t, numbered)) {
		int err = n < 0 ? errno : 0;

		/* Bounced, or refused (EACCES: the kernel would refuse every
		 * later record of this send socket too, its sends go through
		 * the engine from here), or rdsb_txmsg never ran: whatever
		 * else reached the path socket broke its stream. */
		if (err == EACCES) {
			rdsb_own_close(s->txfd);
			s->txfd = -1;
		} else if (n != (ssize_t)rec || !bounced(s->txfd, rec)) {
			__atomic_store_n(&t->reset, 1, __ATOMIC_RELEASE);
		}
		rdsb_txunlock(l);
		iov[0] = req;
		return 0;
	}
	/* Numbered: the datagram is the engine's (its copy in rdsb_txcopy),
	 * whatever sendmsg says. Handing it to the engine too would send it
	 * twice and free its send space twice. Not all on the wire (the path
	 * socket shut down under the push, or the write was cut short): the
	 * engine resets the path and retransmits the copy. The library's own
	 * copy takes the number, for a next engine should this one be killed
	 * before TCP acknowledged it. */
	rdsb_copies_sent_direct(s, t, path);
	if (n != (ssize_t)rec)
		__atomic_store_n(&t->reset, 1, __ATOMIC_RELEASE);
	t->written += rec;
	t->written_ns = now;
	__atomic_add_fetch(&t->charged, rdsb_tx_charge(rec), __ATOMIC_RELEASE);
	t->corked = more ? 1 : 0;
	t->direct_msgs++;
	t->direct_bytes += len;
	rdsb_txunlock(l);
	s->shm->ring_head = s->shm->ring_direct_end = s->shm->ring_head + len;
	return 1;
}
