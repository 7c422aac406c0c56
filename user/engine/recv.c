// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the kernel does with each message a transport received
 * (rds_recv_incoming): congestion maps, the duplicate rule, pings and
 * probes, delivery to the bound socket, and a path that stalls on a socket
 * over its receive limit until the socket drains: it waits on the socket's
 * list of stalled paths, and is read on after the event batch in which the
 * socket made room. What the duplicate rule accepted is on the path's
 * rx_unwritten until it is in a stream whole or dropped, and reaches the
 * streams in the path's order: the sequence state's next_rx_seq is the
 * first of it (the engine after a kill takes the peer's retransmission of
 * what no stream has, and of nothing a stream has).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"
#include "../common/log.h"

/* Takes m for s whatever its limit (a dying path, or one that cannot wait
 * twice), behind the records of its path held before it. */
static void deliver_now(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_sock *s, struct rdsb_msg *m)
{
	struct rdsb_msg *prev = rdsb_rx_before(e, m, s);

	if (prev && !prev->rx_sock && e->rebind_until && rdsb_hold_unbound(e, p, m, NULL))
		return;
	rdsb_sock_deliver(e, s, m, true);
}

/* The path reads on once m can go (it waits on list) */
static void stall(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m, struct list_head *list)
{
	p->rx_stalled = m;
	list_add_tail(&p->rx_wait, list);
	rdsb_ev_set(e, &p->ev, p->ev.events & ~(uint32_t)EPOLLIN);
}

/* m for a port nobody bound: held for the socket that had it, or dropped.
 * Unless forced, a hold at its limit stalls the path, as a full socket does
 * (false). */
static bool unbound(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m, bool force)
{
	struct rdsb_port_hold *hold = rdsb_port_hold_find(e, p->conn->laddr, m->dport);

	if (hold && !force && rdsb_port_hold_full(hold, m->len)) {
		stall(e, p, m, &hold->stalled);
		return false;
	}
	if ((hold || e->now < e->rebind_until) && rdsb_hold_unbound(e, p, m, hold))
		return true;
	rdsb_count(e, RDSB_C_DROP_NO_SOCKET);
	rdsb_msg_free(m);
	return true;
}

/* Returns false if the record could not be delivered (its socket holds its
 * limit unread, or the path's records before it wait in another socket's
 * queue): the path stalls on that socket. */
static bool deliver(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_sock *s = rdsb_sock_by_port(e, p->conn->laddr, m->dport), *wait;
	struct rdsb_msg *prev;

	if (!s)
		return unbound(e, p, m, p->state == RDSB_PATH_DISCONNECTING || p->rx_stalled);
	if (p->state == RDSB_PATH_DISCONNECTING || p->rx_stalled) {
		/* draining a dying socket: nothing may be left behind; or a
		 * record that came another way (the TCP transport's inbox)
		 * while the path waits: it cannot wait twice, nor overtake */
		rdsb_path_rx_unstall(e, p);
		deliver_now(e, p, s, m);
		return true;
	}
	prev = rdsb_rx_before(e, m, s);
	/* behind a record held for a port nobody bound: held too, until the
	 * timer has dropped what the rebind time held (rebind_until 0), not
	 * only until that time is over; with the held list full, the path
	 * waits for it to be released rather than overtake */
	if (prev && !prev->rx_sock && e->rebind_until) {
		if (rdsb_hold_unbound(e, p, m, NULL))
			return true;
		stall(e, p, m, &e->held_stalled);
		return false;
	}
	wait = prev && prev->rx_sock ? prev->rx_sock : s;
	if (wait == s && rdsb_sock_deliver(e, s, m, false))
		return true;
	stall(e, p, m, &wait->stalled);
	return false;
}

/* m is the record's message, from rdsb_msg_new(h->len) with the payload in
 * it: one allocation per message received, the one that is delivered. */
bool rdsb_recv_msg(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h, struct rdsb_msg *m)
{
	struct rdsb_conn *c = p->conn;

	if (!p->rx_prechecked) {
		p->rx_msgs++;
		p->rx_bytes += h->len;
		rdsb_count(e, RDSB_C_RX_MSGS);
	}
	if (h->flags & RDSB_FLAG_DELIV_ACK) {
		/* unnumbered, as a congestion map: the duplicate rule is not
		 * for it (docs/protocol.md 1.4) */
		rdsb_path_deliv_acked(e, p, m->data, h->len);
		rdsb_msg_free(m);
		return true;
	}
	if (rdsb_is_cong_map(h->flags)) {
		/* a transport whose BPF program applied the map only tells us */
		rdsb_cong_apply_peer(e, c->fslot, e->tp->cong_in_bpf ? NULL : m->data);
		rdsb_msg_free(m);
		return true;
	}
	/* the verdict has applied the duplicate rule to what it passes up */
	if (p->rx_prechecked) {
		p->rx_up_next = h->seq + 1;
	} else if (!rdsb_seq_accept(&p->next_rx_seq, h->seq, h->flags)) {
		/* the peer sent it again for want of our acknowledgement of
		 * its delivery (send.c): it gets one */
		rdsb_path_ack_due(p);
		rdsb_count(e, RDSB_C_DROP_DUP_SEQ);
		rdsb_msg_free(m);
		return true;
	}
	/* its sender is short of send space until we acknowledge it */
	if ((h->flags & RDS_FLAG_ACK_REQUIRED) && c->deliv_send && h->seq > p->ack_asked)
		p->ack_asked = h->seq;
	/* in no stream until it is written into one, or dropped */
	m->seq = h->seq;
	m->rx_path = p;
	list_add_tail(&m->rx_item, &p->rx_unwritten);
	rdsb_path_rx_safe_sync(p);
	if (h->dport == 0) {
		/* A ping: answer from port 0 on the same path, unless the
		 * pinger's port is congested; a probe also carries NPATHS. */
		rdsb_msg_free(m);
		if (h->sport == 0)
			return true;
		if (RDS_HS_PROBE(h->sport, h->dport))
			rdsb_conn_handshake(e, p, h);
		if (!rdsb_cong_test(e->cong[c->fslot].bits, h->sport)) {
			rdsb_count(e, RDSB_C_PINGS_ANSWERED);
			rdsb_path_send_ping(e, p, 0, h->sport, RDS_HS_PROBE(0, h->sport));
		}
		return true;
	}
	if (RDS_HS_PROBE(h->sport, h->dport)) {
		rdsb_msg_free(m);
		rdsb_conn_handshake(e, p, h);
		return true;
	}
	m->len = h->len;
	m->seq = h->seq;
	m->sport = h->sport;
	m->dport = h->dport;
	m->flags = h->flags & (uint8_t)~RDSB_DELIV_NOTIFY;
	memcpy(m->ext, h->exthdr, RDS_HEADER_EXT_SPACE);
	m->from_slot = (uint64_t)c->fslot;
	m->peer_gen = c->peer_gen;
	return deliver(e, p, m);
}

/* A dying path cannot wait for room: its stalled record goes now. */
void rdsb_path_rx_unstall(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m = p->rx_stalled;
	struct rdsb_sock *s;

	p->rx_stalled = NULL;
	list_del_init(&p->rx_wait);
	if (!m)
		return;
	if ((s = rdsb_sock_by_port(e, p->conn->laddr, m->dport)))
		deliver_now(e, p, s, m);
	else
		unbound(e, p, m, true);
}

void rdsb_path_rx_safe_set(struct rdsb_path *p, uint64_t next)
{
	struct rdsb_seq_path *sp = rdsb_seqstate_path(p);

	if (next > p->rx_safe_next)
		rdsb_path_ack_due(p);	/* more delivered: the peer hears of it */
	p->rx_safe_next = next;
	if (sp)
		sp->next_rx_seq = next;
}

void rdsb_path_rx_safe_sync(struct rdsb_path *p)
{
	if (!list_empty(&p->rx_unwritten))
		rdsb_path_rx_safe_set(p, list_first_entry(&p->rx_unwritten, struct rdsb_msg, rx_item)->seq);
	else
		rdsb_path_rx_safe_set(p, p->rx_prechecked ? p->rx_up_next : p->next_rx_seq);
}

void rdsb_msg_rx_done(struct rdsb_msg *m, bool written)
{
	struct rdsb_path *p = m->rx_path;

	list_del_init(&m->rx_item);
	m->rx_path = NULL;
	m->rx_sock = NULL;
	/* what an engine that stops could not write stays not received: the
	 * next engine takes the peer's retransmission of it */
	if (written || !p->conn->eng->stopping)
		rdsb_path_rx_safe_sync(p);
	/* the verdict may deliver past it now */
	if (p->rx_prechecked)
		p->conn->eng->tp->rx_taken(p->conn->eng, p, 1);
}

void rdsb_path_rx_forget(struct rdsb_path *p)
{
	uint64_t n = 0;

	while (!list_empty(&p->rx_unwritten)) {
		struct rdsb_msg *m = list_first_entry(&p->rx_unwritten, struct rdsb_msg, rx_item);

		list_del_init(&m->rx_item);
		m->rx_path = NULL;
		n++;
	}
	if (p->rx_prechecked && n)
		p->conn->eng->tp->rx_taken(p->conn->eng, p, n);
}

/* On the BPF receive path the verdict moves the sequence state too, as it
 * delivers: it says what is in a queue or stream */
uint64_t rdsb_path_rx_safe(const struct rdsb_path *p)
{
	const struct rdsb_seq_path *sp = rdsb_seqstate_path(p);
	uint64_t next = p->rx_prechecked && sp ? __atomic_load_n(&sp->next_rx_seq, __ATOMIC_SEQ_CST) : p->rx_safe_next;

	return next ? next - 1 : 0;
}

void rdsb_path_rx_resume(struct rdsb_engine *e, struct rdsb_sock *s)
{
	list_splice_tail_init(&s->stalled, &e->rx_ready);
}

bool rdsb_paths_resume(struct rdsb_engine *e)
{
	bool any = false;

	while (!list_empty(&e->rx_ready)) {
		struct rdsb_path *p = list_first_entry(&e->rx_ready, struct rdsb_path, rx_wait);
		struct rdsb_msg *m = p->rx_stalled;

		list_del_init(&p->rx_wait);
		p->rx_stalled = NULL;
		any = true;
		if (!deliver(e, p, m))
			continue;	/* full again: back on its list */
		rdsb_ev_set(e, &p->ev, p->ev.events | EPOLLIN);
		e->tp->recv_path(e, p);
	}
	return any;
}
