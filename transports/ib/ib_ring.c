// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The RDS/IB data path (net/rds/ib_send.c, ib_recv.c): a message goes out
 * as RDS_FRAG_SIZE fragments, one SEND each, every one led by its own copy
 * of the 48-byte header with a fresh h_ack and checksum; the last fragment
 * (and an ack-only frame) carries the solicited-event bit, because the
 * kernel arms its receive CQ for solicited completions only. Receive
 * reassembles fragments by the header they repeat.
 */
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ib.h"
#include "../../user/common/log.h"

#define WR_SEND		0x100000ull	/* wr_id: a send slot (else a receive buffer) */
#define WR_ACK		0x200000ull	/* that send is an ack-only frame */

static uint8_t *recv_buf(struct ib_conn *ic, unsigned int i)
{
	return ic->bufs + (size_t)i * RDS_IB_BUF;
}

static uint8_t *send_buf(struct ib_conn *ic, unsigned int i)
{
	return ic->bufs + (size_t)(RDS_IB_RECV_WR + i) * RDS_IB_BUF;
}

static int post_recv(struct ib_conn *ic, unsigned int i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)recv_buf(ic, i), .length = RDS_IB_BUF, .lkey = ic->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(ic->cm->qp, &wr, &bad) ? -EIO : 0;
}

/* The protection domain and the registered buffers stay with the
 * connection across its reconnects on one device: registering them (17 MiB,
 * every page pinned) is most of what a connect costs, and a peer that resets
 * or restarts made us pay it at every attempt. They go with the connection
 * (ib_ring_release), or with the device (ib_cm.c device_removed). */
static int ring_memory(struct ib_conn *ic, struct ibv_context *verbs)
{
	size_t size = (size_t)(RDS_IB_RECV_WR + RDS_IB_SEND_WR) * RDS_IB_BUF;

	if (ic->mr && ic->verbs == verbs)
		return 0;
	ib_ring_release(ic);
	ic->verbs = verbs;
	if (!(ic->pd = ibv_alloc_pd(verbs)) || posix_memalign((void **)&ic->bufs, 4096, size))
		return -ENOMEM;
	ic->mr = ibv_reg_mr(ic->pd, ic->bufs, size, IBV_ACCESS_LOCAL_WRITE);
	return ic->mr ? 0 : -errno;
}

int ib_ring_setup(struct rdsb_engine *e, struct rdsb_path *p, struct rdma_cm_id *id)
{
	struct ib_conn *ic = ib_conn(p);
	struct ibv_qp_init_attr qa = {
		.cap = { .max_send_wr = RDS_IB_SEND_WR, .max_recv_wr = RDS_IB_RECV_WR,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	int fd, err;

	(void)e;
	ic->cm = id;
	if ((err = ring_memory(ic, id->verbs)))
		return err;
	if (!(ic->cc = ibv_create_comp_channel(id->verbs)))
		return -ENOMEM;
	fcntl(ic->cc->fd, F_SETFL, fcntl(ic->cc->fd, F_GETFL) | O_NONBLOCK);
	ic->cq = ibv_create_cq(id->verbs, RDS_IB_RECV_WR + RDS_IB_SEND_WR, NULL, ic->cc, 0);
	if (!ic->cq || ibv_req_notify_cq(ic->cq, 0))
		return -ENOMEM;
	qa.send_cq = qa.recv_cq = ic->cq;
	if (rdma_create_qp(id, ic->pd, &qa))
		return -errno;
	for (unsigned int i = 0; i < RDS_IB_RECV_WR; i++)
		if (post_recv(ic, i))
			return -EIO;
	/* the whole ring is advertised in the CM data */
	memset(&ic->cr, 0, sizeof(ic->cr));
	/* The path's fd is the completion channel's (a copy the engine may
	 * close): over a placeholder the connect opened, or new. */
	fd = p->ev.fd >= 0 ? dup3(ic->cc->fd, p->ev.fd, O_CLOEXEC) : fcntl(ic->cc->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->ev.fd = fd;
	return 0;
}

void ib_ring_release(struct ib_conn *ic)
{
	if (ic->mr)
		ibv_dereg_mr(ic->mr);
	if (ic->pd)
		ibv_dealloc_pd(ic->pd);
	free(ic->bufs);
	ic->mr = NULL;
	ic->pd = NULL;
	ic->bufs = NULL;
	ic->verbs = NULL;
}

void ib_ring_free(struct rdsb_path *p)
{
	struct ib_conn *ic = ib_conn(p);

	if (ic->cm && ic->cm->qp)
		rdma_destroy_qp(ic->cm);
	if (ic->cq) {
		ibv_ack_cq_events(ic->cq, ic->cq_events);
		ibv_destroy_cq(ic->cq);
	}
	if (ic->cc)
		ibv_destroy_comp_channel(ic->cc);
	rdsb_msg_free(ic->rx_msg);
	ic->cq = NULL;
	ic->cc = NULL;
	ic->rx_msg = NULL;
	ic->rx.busy = false;
	ic->cq_events = 0;
	ic->send_tail = ic->send_used = 0;
	ic->ack_in_flight = ic->ack_requested = false;
	ic->ack_next = ic->ack_sent = 0;
	ic->established = false;
	memset(&ic->cr, 0, sizeof(ic->cr));
}

/* Only what was numbered here can be acknowledged: a larger ack (a hostile
 * peer's, or one from before our sequence state) kept as it is would count
 * every later datagram as acknowledged and free it unsent. The kernel drops
 * only what is queued for retransmission then (rds_send_drop_acked). */
void ib_peer_acks(struct rdsb_path *p, uint64_t ack)
{
	struct ib_conn *ic = ib_conn(p);

	if (p->next_tx_seq && ack >= p->next_tx_seq)
		ack = p->next_tx_seq - 1;
	if (ack > ic->peer_acked)
		ic->peer_acked = ack;
}

bool ib_ring_peer_credit(struct rdsb_path *p, uint32_t credit)
{
	struct ib_conn *ic = ib_conn(p);

	/* rds_ib_set_flow_control */
	ic->cr.on = ic->cr.adv = credit != 0;
	return ib_credits_add(&ic->cr, credit);
}

/* h_ack (rds_ib_get_ack): the sequence of the last message received on
 * this connection, a duplicate too, 0 until one came. Not the highest
 * received: the kernel drops what it sent only on an h_ack above the last
 * one it took (i_ack_recv, 0 at each connect), so a message it retransmits
 * after we acked everything on the new connection, and that we drop as a
 * duplicate, is acknowledged by acking it again at its own sequence. */
static uint64_t ack_seq(struct rdsb_path *p)
{
	return ib_conn(p)->ack_next;
}

static int post_send(struct rdsb_engine *e, struct rdsb_path *p, size_t len, bool solicited, bool ack, uint32_t adv)
{
	struct ib_conn *ic = ib_conn(p);
	unsigned int slot = ic->send_tail;
	struct rds_header *h = (struct rds_header *)send_buf(ic, slot);
	struct ibv_sge sge = { .addr = (uintptr_t)h, .length = (uint32_t)len, .lkey = ic->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = WR_SEND | (ack ? WR_ACK : 0) | slot, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED | (solicited ? IBV_SEND_SOLICITED : 0),
	}, *bad;

	ic->ack_sent = ack_seq(p);
	h->h_ack = htobe64(ic->ack_sent);
	h->h_credit = (uint8_t)adv;
	if (adv)
		ib_of(e)->tx_credit_updates++;
	h->h_csum = 0;
	h->h_csum = ib_csum(h);
	if (ibv_post_send(ic->cm->qp, &wr, &bad))
		return -EIO;
	ic->send_tail = (slot + 1) % RDS_IB_SEND_WR;
	ic->send_used++;
	return 0;
}

/* rds_ib_attempt_ack: one ack-only frame in flight at a time, and only
 * with a send credit (it carries the posted credits). */
static int send_ack(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct ib_conn *ic = ib_conn(p);
	struct rdsb_hdr h = { 0 };
	uint32_t adv;

	if (!ic->ack_requested || ic->ack_in_flight || ic->send_used >= RDS_IB_SEND_WR)
		return 0;
	if (!ib_credits_grab(&ic->cr, 1, &adv, false)) {
		ib_of(e)->flow_controlled++;
		return 0;
	}
	rdsb_hdr_encode(&h, (struct rds_header *)send_buf(ic, ic->send_tail));
	ic->ack_requested = false;
	ic->ack_in_flight = true;
	return post_send(e, p, RDS_HEADER_SIZE, true, true, adv);
}

/* rds_send_xmit's rule: ACK_REQUIRED on the first message and after
 * max_unacked_packets; ours also when the queue drains or the sender is
 * short of send space, so that nothing waits for a later message's ack. */
static void ask_ack(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct ib_conn *ic = ib_conn(p);

	if (m->cong_map)
		return;
	if (ic->since_ack_req == 0 || ic->since_ack_req > RDS_IB_MAX_UNACKED || m->ack_wake ||
	    m->item.next == &p->send_q) {
		m->wire.h_flags |= RDS_FLAG_ACK_REQUIRED;
		ic->since_ack_req = 1;
	} else {
		ic->since_ack_req++;
	}
}

int ib_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct ib_conn *ic = ib_conn(p);

	if (!ic->established)
		return 0;
	while (!list_empty(&p->send_q)) {
		struct rdsb_msg *m = list_first_entry(&p->send_q, struct rdsb_msg, item);
		unsigned int nfrags = m->len ? (m->len + RDS_IB_FRAG - 1) / RDS_IB_FRAG : 1;

		if (!p->head_off) {
			rdsb_msg_encode(p, m);
			ask_ack(p, m);
		}
		for (unsigned int f = (unsigned int)(p->head_off / RDS_IB_FRAG); f < nfrags; f++) {
			size_t off = (size_t)f * RDS_IB_FRAG;
			size_t flen = m->len - off < RDS_IB_FRAG ? m->len - off : RDS_IB_FRAG;
			uint8_t *buf;
			uint32_t adv;

			/* the last slot stays free for an ack-only frame */
			if (ic->send_used >= RDS_IB_SEND_WR - 1)
				return 0;
			/* rds_ib_xmit: a fragment waits for a send credit; the
			 * credits that come in wake the path (ib_recv_path) */
			if (!ib_credits_grab(&ic->cr, 1, &adv, false)) {
				ib_of(e)->flow_controlled++;
				return send_ack(e, p);
			}
			buf = send_buf(ic, ic->send_tail);
			memcpy(buf, &m->wire, RDS_HEADER_SIZE);
			if (flen)
				memcpy(buf + RDS_HEADER_SIZE, m->data + off, flen);
			if (post_send(e, p, RDS_HEADER_SIZE + flen, f == nfrags - 1, false, adv))
				return -EIO;
			p->head_off = off + RDS_IB_FRAG;
		}
		ic->ack_requested = false;	/* piggybacked (rds_ib_piggyb_ack) */
		list_del_init(&m->item);
		p->head_off = 0;
		m->end_off = m->seq;
		rdsb_path_msg_sent(p, m);
	}
	return send_ack(e, p);
}

/* A frame that breaks the rules: counted, and the connection dropped
 * without reading on (rds_ib_process_recv). */
static void malformed(struct rdsb_engine *e, struct rdsb_path *p, uint64_t *counter, const char *why)
{
	(*counter)++;
	p->state = RDSB_PATH_ERROR;
	rdsb_path_drop(e, p, why);
}

/* The buffer goes back on the receive ring; a ring that cannot take it is
 * a connection that cannot go on. */
static bool repost(struct rdsb_engine *e, struct rdsb_path *p, unsigned int idx)
{
	struct ib_conn *ic = ib_conn(p);

	if (!post_recv(ic, idx)) {
		/* rds_ib_advertise_credits: enough posted for an ack of their own */
		if (ib_credits_posted(&ic->cr, 1))
			ic->ack_requested = true;
		return true;
	}
	malformed(e, p, &ib_of(e)->bad_frame, "cannot post a receive");
	return false;
}

/* One receive completion; false when the path stalled or went down. */
static bool recv_one(struct rdsb_engine *e, struct rdsb_path *p, const struct ibv_wc *wc)
{
	struct ib_conn *ic = ib_conn(p);
	struct rdsb_ib *t = ib_of(e);
	unsigned int idx = (unsigned int)wc->wr_id;
	uint8_t *buf = recv_buf(ic, idx);
	uint32_t off = ic->rx.busy ? ic->rx.have : 0;
	struct rdsb_hdr h;
	struct rdsb_msg *m;
	int verdict = ib_frame_parse(&ic->rx, buf, wc->byte_len, &h);

	if (verdict < 0) {
		malformed(e, p, verdict == IB_BAD_CSUM ? &t->bad_csum : &t->bad_frame, ib_frame_why(verdict));
		return false;
	}
	ib_peer_acks(p, h.ack);
	/* rds_ib_send_add_credits; credits from a peer whose CM data had
	 * none say its flow control is on: ours advertises back */
	if (h.credit) {
		t->rx_credit_updates++;
		ic->cr.adv = true;
		if (!ib_credits_add(&ic->cr, h.credit)) {
			malformed(e, p, &t->bad_credit, "more send credits than a peer can have posted");
			return false;
		}
	}
	if (verdict != IB_FRAME_ACK) {
		/* one allocation per message: the one the engine delivers */
		if (!off && !(ic->rx_msg = rdsb_msg_new(ic->rx.h.len))) {
			malformed(e, p, &t->bad_frame, "out of memory");
			return false;
		}
		if (wc->byte_len > RDS_HEADER_SIZE)
			memcpy(ic->rx_msg->data + off, buf + RDS_HEADER_SIZE, wc->byte_len - RDS_HEADER_SIZE);
	}
	if (!repost(e, p, idx))
		return false;
	if (verdict != IB_FRAME_LAST)
		return true;
	m = ic->rx_msg;
	ic->rx_msg = NULL;
	if (ic->rx.h.flags & RDS_FLAG_ACK_REQUIRED)
		ic->ack_requested = true;
	if (!(ic->rx.h.flags & RDS_FLAG_CONG_BITMAP))
		ic->ack_next = ic->rx.h.seq;
	return rdsb_recv_msg(e, p, &ic->rx.h, m);
}

void ib_recv_path(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct ib_conn *ic = ib_conn(p);
	uint64_t acked;
	struct ibv_cq *cq;
	struct ibv_wc wc;
	void *ctx;

	if (!ic->cq)
		return;
	while (ibv_get_cq_event(ic->cc, &cq, &ctx) == 0)
		ic->cq_events++;
	if (ic->cq_events >= 256) {
		ibv_ack_cq_events(ic->cq, ic->cq_events);
		ic->cq_events = 0;
	}
	ibv_req_notify_cq(ic->cq, 0);
	acked = ic->peer_acked;
	while (ic->cq && !p->rx_stalled && ibv_poll_cq(ic->cq, 1, &wc) == 1) {
		if (wc.status != IBV_WC_SUCCESS) {
			/* A receive that failed on its own took a frame longer
			 * than its buffer, so longer than a fragment: the
			 * peer's, counted (IBV_WC_LOC_LEN_ERR; soft-RoCE says
			 * IBV_WC_LOC_QP_OP_ERR). Anything else ends the
			 * connection as it is. */
			bool too_long = !(wc.wr_id & WR_SEND) &&
					(wc.status == IBV_WC_LOC_LEN_ERR || wc.status == IBV_WC_LOC_QP_OP_ERR);

			if (p->state != RDSB_PATH_UP)
				return;
			if (too_long)
				malformed(e, p, &ib_of(e)->bad_frame, "a frame longer than a receive buffer");
			else
				rdsb_path_drop(e, p, ibv_wc_status_str(wc.status));
			return;
		}
		if (wc.wr_id & WR_SEND) {
			ic->send_used--;
			if (wc.wr_id & WR_ACK)
				ic->ack_in_flight = false;
			continue;
		}
		if (!recv_one(e, p, &wc))
			break;
	}
	if (!ic->cq || p->state != RDSB_PATH_UP)
		return;
	if (ic->peer_acked != acked)
		rdsb_path_check_acked(e, p);
	/* What arrived is acknowledged once the ring is drained, asked or
	 * not, on the data going out or alone: the kernel asks on every
	 * ninth message only, and a sender whose last messages are never
	 * acknowledged holds them (and its sndbuf) until more traffic. */
	if (ack_seq(p) != ic->ack_sent)
		ic->ack_requested = true;
	rdsb_path_xmit(e, p);
}
