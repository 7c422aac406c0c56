// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The single writer of a path socket: whole [header][payload] records, many
 * per sendmsg, never blocking; a record leaves the path only once TCP's
 * snd_una has passed its last byte (rds_tcp_is_acked).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"

static void encode(void *ctx, struct rdsb_msg *m)
{
	struct rdsb_path *p = ctx;
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

static void written(void *ctx, struct rdsb_msg *m)
{
	struct rdsb_path *p = ctx;
	struct rdsb_engine *e = p->conn->eng;

	m->end_off = p->written;
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

void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_writer w = { .q = &p->send_q, .head_off = &p->head_off, .stream_off = &p->written,
				 .encode = encode, .done = written, .ctx = p };
	int err;

	if (p->state != RDSB_PATH_UP || p->in_xmit)
		return;
	p->in_xmit = true;
	if (e->tp->xmit_path_prepare(e, p) < 0) {
		p->in_xmit = false;
		return;		/* not now: the transport's timer comes back */
	}
	err = p->state == RDSB_PATH_UP ? rdsb_records_write(p->ev.fd, &w) : 0;
	e->tp->xmit_path_complete(e, p);
	p->in_xmit = false;
	if (err) {
		rdsb_path_drop(e, p, strerror(-err));
		return;
	}
	/* What was just written cannot be acked yet: snd_una is read once per
	 * event-loop pass (rdsb_conns_timer), not once per write. */
	if (p->ev.fd >= 0 && p->state == RDSB_PATH_UP)
		rdsb_ev_set(e, &p->ev, EPOLLIN | (list_empty(&p->send_q) ? 0 : EPOLLOUT));
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
