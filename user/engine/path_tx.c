// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A path's send side (rds_send_xmit): the transport sends what it can of the
 * path's queue, each message as the core encodes it; a message leaves the
 * path only once the transport says the peer acknowledged it (its end_off,
 * the transport's ack key, at or below acked(): for TCP the stream offset
 * after its last byte, rds_tcp_is_acked).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"

void rdsb_msg_encode(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_hdr h = { 0 };

	if (m->cong_map) {
		/* A congestion map: seq 0, ports 0, the current bits. */
		h.flags = RDS_FLAG_CONG_BITMAP;
		h.len = RDS_CONG_MAP_BYTES;
		memcpy(m->data, p->conn->eng->cong[p->conn->lslot].bits, RDS_CONG_MAP_BYTES);
	} else {
		/* On the sk_msg send path a sequence number is taken when the
		 * record starts on the wire, under the path's lock, as the
		 * applications take theirs. */
		if (!m->seq)
			m->seq = p->next_tx_seq++;
		h.seq = m->seq;
		h.len = m->len;
		h.sport = m->sport;
		h.dport = m->dport;
		h.flags = m->flags;
		memcpy(h.exthdr, m->ext, RDS_HEADER_EXT_SPACE);
	}
	rdsb_hdr_encode(&h, &m->wire);
}

void rdsb_path_msg_sent(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_engine *e = p->conn->eng;

	rdsb_sock_req_done(e, m);
	if (m->cong_map) {
		p->cong_map_queued = false;
		rdsb_count(e, RDSB_C_TX_CONG_MAPS);
		rdsb_msg_free(m);
		return;
	}
	p->tx_msgs++;
	p->tx_bytes += m->len;
	rdsb_count(e, RDSB_C_TX_MSGS);
	list_add_tail(&m->item, &p->unacked);
	p->nunacked++;
	p->ack_wake |= m->wake_on_ack;
}

/* Nothing a transport's xmit calls queues or writes on a path, and a path
 * that fails is only marked (rdsb_path_drop): xmit is never entered twice. */
void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	int err;

	if (p->state != RDSB_PATH_UP)
		return;
	if (e->tp->xmit_path_prepare(e, p) < 0)
		return;		/* not now: the transport's timer comes back */
	err = e->tp->xmit(e, p);
	e->tp->xmit_path_complete(e, p);
	/* What was just sent cannot be acked yet: acks are looked at once per
	 * event-loop pass (rdsb_conns_timer), not once per send. */
	if (err)
		rdsb_path_drop(e, p, strerror(-err));
}

void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m, *t;
	uint64_t acked;

	if (!p->nunacked || p->ev.fd < 0)
		return;
	e->tp->ack_wait(e, p, p->ack_wake);
	acked = e->tp->acked(e, p);
	list_for_each_entry_safe(m, t, &p->unacked, item) {
		if (m->end_off > acked)
			break;
		list_del_init(&m->item);
		p->nunacked--;
		rdsb_sock_sent(e, m->sock_id, m->len);
		rdsb_msg_free(m);
	}
	if (!p->nunacked) {
		p->ack_wake = false;
		e->tp->ack_wait(e, p, false);
	}
}
