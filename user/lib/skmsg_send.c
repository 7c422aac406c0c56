// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path, library side (engine: transports/tcp/skmsg_tx.c,
 * program: transports/tcp/skmsg_tx.bpf.c). A datagram goes out on its path socket
 * from the application's own sendmsg: the record, [rds_header][payload]
 * with the path's next sequence number and h_ack naming the path, is one
 * blocking sendmsg on the send socket, which rdsb_txmsg redirects into the
 * path socket, all under the path's lock; then the engine gets a copy
 * (RDSB_REQ_SENT), still under the lock, so that a reconnect finds it.
 * Whenever that is not possible the datagram goes to the engine as before:
 * no path open to applications (not connected yet, reconnecting, the engine
 * writing its own records), too much unacknowledged, or an earlier request
 * of this socket not yet on the wire (its datagrams stay in order).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <rds-bpf/rules.h>
#include "lib.h"
#include "../common/txlock.h"

/* Under the lock: may this record go out on the path now? */
static bool path_takes(const struct rdsb_txpath *t, int lslot, unsigned int npaths, uint32_t rec)
{
	return t->open && t->lslot == (uint32_t)lslot && t->npaths == npaths &&
	       t->written - t->acked + rec <= t->limit;
}

static int send_copy(struct rdsb_lsock *s, const struct rdsb_txpath *t, const uint8_t daddr[16],
		     uint32_t scope, uint16_t dport, unsigned int path, uint64_t seq, struct iovec *iov, int cnt,
		     uint32_t len)
{
	struct rdsb_send_req req = { .magic = RDSB_SEND_MAGIC, .len = len, .scope_id = scope, .dport = dport,
				     .flags = RDSB_REQ_SENT, .epoch = t->epoch, .path = path, .seq = seq,
				     .end_off = t->written };

	memcpy(req.daddr, daddr, 16);
	iov[0].iov_base = &req;
	iov[0].iov_len = sizeof(req);
	return rdsb_write_all(s->fd, iov, cnt);
}

int rdsb_skmsg_send(struct rdsb_lsock *s, const uint8_t daddr[16], uint32_t scope, uint16_t dport,
		     struct iovec *iov, int cnt, uint32_t len)
{
	struct rdsb_txpath *tps = s->em->txpaths, *t;
	struct rds_header h = { 0 };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
	struct iovec req = iov[0];	/* the engine's request, if it comes to that */
	uint32_t rec = RDS_HEADER_SIZE + len;
	unsigned int npaths, path;
	int fslot, lslot, err;
	uint64_t seq;
	ssize_t n;

	if (s->txfd < 0 || !tps || s->lsh->reqs_sent != __atomic_load_n(&s->shm->reqs_done, __ATOMIC_ACQUIRE))
		return 0;
	fslot = rdsb_addr_find(s->em, daddr);
	if (fslot < 0)
		return 0;
	lslot = (int)__atomic_load_n(&s->shm->slot, __ATOMIC_RELAXED);	/* the engine's, at bind */
	npaths = __atomic_load_n(&tps[fslot * RDS_MPATH_WORKERS].npaths, __ATOMIC_ACQUIRE);
	if (!npaths || npaths > RDS_MPATH_WORKERS)
		return 0;
	path = rdsb_mpath_index(__atomic_load_n(&s->shm->path_hash, __ATOMIC_RELAXED), npaths);
	t = &tps[fslot * RDS_MPATH_WORKERS + path];
	if (!__atomic_load_n(&t->open, __ATOMIC_ACQUIRE))
		return 0;
	if (!rdsb_txlock(t))
		return 0;
	if (!path_takes(t, lslot, npaths, rec)) {
		rdsb_txunlock(t);
		return 0;
	}
	seq = t->next_tx_seq;
	h.h_sequence = htobe64(seq);
	h.h_ack = htobe64((uint64_t)fslot * RDS_MPATH_WORKERS + path);
	h.h_len = htobe32(len);
	h.h_sport = htobe16(s->st->port);
	h.h_dport = htobe16(dport);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	do
		n = sys_sendmsg(s->txfd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* rdsb_txmsg refused it (EACCES), or the path socket went */
		rdsb_txunlock(t);
		iov[0] = req;
		return 0;
	}
	if ((uint32_t)n != rec)
		__atomic_store_n(&t->reset, 1, __ATOMIC_RELEASE);	/* cut short: the engine resets the path */
	t->next_tx_seq = seq + 1;
	t->written += rec;
	t->direct_msgs++;
	t->direct_bytes += len;
	err = send_copy(s, t, daddr, scope, dport, path, seq, iov, cnt, len);
	rdsb_txunlock(t);
	return err ? err : 1;
}
