// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The send side (send.c in the kernel): messages and what a connection holds
 * for applications, the path a message takes (the bound port's hash), the
 * loopback transport, pings; and a path's transmit (rds_send_xmit): the
 * transport sends what it can of the path's queue, each message as the core
 * encodes it; a message leaves the path only once the transport says the
 * peer acknowledged it (its end_off, the transport's ack key, at or below
 * acked(): for TCP the stream offset after its last byte, rds_tcp_is_acked).
 * Last, the writer of whole records on a stream socket that the TCP
 * transport's paths and the applications' delivery streams share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"

/* What an application's sends may hold in the engine for one connection,
 * beyond each socket's sndbuf: 1000 sockets' sndbufs of 64-byte datagrams
 * are 1.7 million messages, many seconds of sending. Past it the senders
 * are not read (their sndbuf fills, they block); each message acknowledged
 * below it lets the first of them on (no wait for half of it to go: with
 * datagrams of 1 MiB on 8 paths the paths would run dry between bursts),
 * and while they wait every ack wakes the engine (rdsb_path_check_acked).
 * A payload in its sender's copy ring is not the engine's memory: the ring
 * is the sender's, bounded by its window (user/lib/txring.c), and the
 * library writes on the stream once it is full. Counted, 64 KiB datagrams
 * on 8 paths filled the bound between two delivery acknowledgements at
 * 1 MiB a path (docs/protocol.md 1.4), and at 256 KiB the acknowledgements
 * cost about a tenth of the CPU a datagram took. */
#define CONN_TX_MAX (4u << 20)

bool rdsb_conn_tx_room(const struct rdsb_conn *c)
{
	return c->tx_queued < CONN_TX_MAX;
}

static uint64_t tx_cost(const struct rdsb_msg *m)
{
	return sizeof(*m) + (m->ring ? 0 : m->len);
}

void rdsb_msg_free(struct rdsb_msg *m)
{
	struct rdsb_conn *c;

	if (!m)
		return;
	if (m->rx_path)
		rdsb_msg_rx_done(m, false);
	if (m->tx_sock)
		rdsb_sock_req_acked(m);
	if (m->held_log)
		rdsb_heldlog_msg_free(m);
	if ((c = m->tx_conn)) {
		c->tx_queued -= tx_cost(m);
		if (c->tx_waiters && rdsb_conn_tx_room(c))
			c->eng->tx_resume = true;
	}
	if (m->ring)
		rdsb_txring_put(m->ring);
	else if (!m->data_inline)
		free(m->data);
	free(m);
}

struct rdsb_path *rdsb_conn_path_for(struct rdsb_engine *e, struct rdsb_conn *c, uint16_t sport)
{
	/* Before the handshake, the kernel hashes over 8 paths: a port that
	 * lands on 0 then lands on 0 for any power-of-two path count, so it
	 * need not wait; the others wait for the probe's answer. */
	unsigned int n = c->npaths ? c->npaths : RDS_MPATH_WORKERS;
	unsigned int i = rdsb_mpath_hash(sport, e->hash_initval, n);

	if ((!c->npaths && i != 0) || c->moving)
		return NULL;
	return &c->paths[i];
}

/* In an event batch, a path is written at the batch's end, or once it has
 * a write's worth queued; outside one (timers), at once. A write's worth is
 * four 64 KiB datagrams: on veth the receiving host's softirq (strparser,
 * verdict, the wakeup of the psock's backlog worker) runs inside each
 * write, and a write per 64 KiB datagram cost 4.4 times the cross-CPU
 * wakeups of one per four (docs/design.md, Bulk writes). */
#define TX_DUE_MAX (256 * 1024)

static void path_xmit_due(struct rdsb_engine *e, struct rdsb_path *p, uint64_t bytes)
{
	p->due_bytes += bytes;
	if (e->batching && p->due_bytes < TX_DUE_MAX) {
		if (list_empty(&p->tx_due))
			list_add_tail(&p->tx_due, &e->tx_due);
		return;
	}
	list_del_init(&p->tx_due);
	p->due_bytes = 0;
	rdsb_path_xmit(e, p);
}

void rdsb_paths_xmit_due(struct rdsb_engine *e)
{
	while (!list_empty(&e->tx_due)) {
		struct rdsb_path *p = list_first_entry(&e->tx_due, struct rdsb_path, tx_due);

		list_del_init(&p->tx_due);
		p->due_bytes = 0;
		rdsb_path_xmit(e, p);
	}
}

/* The next sequence number of p, kept where a restarted engine finds it
 * before the message can reach the wire. */
static void number(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_seq_path *sp = rdsb_seqstate_path(p);

	m->seq = p->next_tx_seq++;
	if (sp)
		sp->next_tx_seq = p->next_tx_seq;
	if (m->own)
		rdsb_seqstate_own(p, m->seq);
	rdsb_sock_req_numbered(p, m);
}

static void path_kick(struct rdsb_engine *e, struct rdsb_path *p, uint64_t bytes)
{
	if (p->state == RDSB_PATH_UP)
		path_xmit_due(e, p, bytes);
	else if (p->index == 0)
		rdsb_conn_want_path0(e, p->conn);
	else if (!p->reconnect_at && p->ev.fd < 0)
		rdsb_path_schedule_reconnect(e, p);
}

void rdsb_path_queue(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	if (!e->number_at_xmit)
		number(p, m);	/* else when it is written */
	list_add_tail(&m->item, &p->send_q);
	path_kick(e, p, RDS_HEADER_SIZE + m->len);
}

/* m's payload out of its sender's copy ring into memory of its own: the
 * ring is the sender's to write again once m is acknowledged. False
 * without memory. */
static bool msg_unring(struct rdsb_msg *m)
{
	uint8_t *data = malloc(m->len);

	if (!data)
		return false;
	memcpy(data, m->data, m->len);
	rdsb_txring_put(m->ring);
	m->ring = NULL;
	m->data = data;
	return true;
}

static void loop_deliver(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m)
{
	/* The kernel's loopback transport: straight to rds_recv_incoming, acked
	 * at once, with the same ping rule as the wire. Acked, the payload
	 * must not be in the sender's ring: it may write it again while the
	 * receiver has not read it. */
	uint32_t sock_id = m->sock_id, len = m->len;
	struct rdsb_sock *s;

	if (m->ring && !msg_unring(m)) {
		rdsb_count(e, RDSB_C_DROP_NO_CONN);	/* no memory, as for a connection */
		rdsb_sock_req_done(e, m);
		rdsb_msg_free(m);
		rdsb_sock_sent(e, sock_id, len);
		return;
	}
	rdsb_sock_req_done(e, m);
	if (m->tx_sock)
		rdsb_sock_req_acked(m);	/* delivered: the same message now */
	m->sock_id = 0;
	m->from_slot = (uint64_t)c->lslot;
	/* numbered as the kernel numbers every message (rds_send_xmit), and
	 * by this engine's generation: the library tells a copy that a next
	 * engine delivers again (heldlog.c) by its number, length and
	 * generation (rx_again.c), so a new datagram must not look like one
	 * read before the engine changed (conn.c: where the numbers start) */
	m->seq = c->paths[0].next_tx_seq++;
	m->peer_gen = e->gen_num;
	rdsb_count(e, RDSB_C_TX_MSGS);
	if (m->dport == 0) {
		uint16_t sport = m->sport;

		if (sport != 0 && (s = rdsb_sock_by_port(e, c->laddr, sport))) {
			m->sport = 0;
			m->dport = sport;
			m->len = 0;
			m->from_slot = (uint64_t)c->fslot;
			rdsb_count(e, RDSB_C_PINGS_ANSWERED);
			rdsb_sock_deliver(e, s, m, true);
		} else {
			rdsb_msg_free(m);
		}
	} else if ((s = rdsb_sock_by_port(e, c->faddr, m->dport))) {
		rdsb_sock_deliver(e, s, m, true);
	} else if (!rdsb_hold_local(e, c, m)) {
		rdsb_count(e, RDSB_C_DROP_NO_SOCKET);
		rdsb_msg_free(m);
	}
	rdsb_sock_sent(e, sock_id, len);
}

static void conn_hold(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m)
{
	m->tx_conn = c;
	if (c->tx_queued < CONN_TX_MAX && c->tx_queued + tx_cost(m) >= CONN_TX_MAX)
		rdsb_count(e, RDSB_C_TX_CONN_FULL);
	c->tx_queued += tx_cost(m);
}

/* Where a numbered message goes in p's queue: by number among the
 * numbered, after a record partly written and the unnumbered control
 * messages queued ahead (queue_ack, conn_queue_cong_map), before the first
 * one numbered above it or not numbered yet (when numbered as written, it
 * gets a number above every one given). Out of order it would move the
 * peer's next_rx_seq past the lower ones, which it then drops as
 * duplicates. Returns the entry to add it after; the next one may have its
 * number. */
static struct list_head *numbered_place(struct rdsb_path *p, uint64_t seq)
{
	struct list_head *pos = &p->send_q;

	if (p->head_off && !list_empty(&p->send_q))
		pos = pos->next;	/* a record half written stays first */
	while (pos->next != &p->send_q) {
		struct rdsb_msg *n = list_entry(pos->next, struct rdsb_msg, item);

		if (!rdsb_msg_control(n) && (!n->seq || n->seq >= seq))
			break;
		pos = pos->next;
	}
	return pos;
}

/* A datagram the engine before numbered (m->seq, seqstate.c) goes on its
 * path in the order of the numbers, ahead of what was numbered since: the
 * peer drops a retransmission below what it has seen. A number already
 * queued is a second copy of that datagram (or another socket's claim):
 * dropped, as the peer would drop it. It counts in the connection's bound,
 * so that new sends wait behind it, but never holds its socket: the path
 * writes nothing until every number comes back (rdsb_path_xmit), so no
 * acknowledgement would make room for the rest, and the numbers still
 * unread when the wait ran out went out again as new datagrams, which the
 * peer delivered a second time if the killed engine's socket had got the
 * first copies through. */
void rdsb_conn_resend(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	struct list_head *at = numbered_place(p, m->seq);

	if (at->next != &p->send_q && list_entry(at->next, struct rdsb_msg, item)->seq == m->seq) {
		rdsb_count(e, RDSB_C_DROP_DUP_SEQ);
		rdsb_sock_req_done(e, m);
		rdsb_msg_space_back(e, m);
		rdsb_msg_free(m);
		return;
	}
	conn_hold(e, p->conn, m);
	list_add(&m->item, at);
	rdsb_sock_req_numbered(p, m);
	if (p->resend_left)
		p->resend_left--;
	path_kick(e, p, RDS_HEADER_SIZE + m->len);
}

void rdsb_path_retransmit_late(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	m->flags |= RDS_FLAG_RETRANSMITTED;
	rdsb_count(e, RDSB_C_TX_RETRANSMITTED);
	list_add(&m->item, numbered_place(p, m->seq));
	if (p->state == RDSB_PATH_UP)
		rdsb_path_xmit(e, p);
}

bool rdsb_conn_queue(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m)
{
	struct rdsb_path *p;

	if (c->loopback) {
		loop_deliver(e, c, m);	/* delivered at once: nothing held */
		return true;
	}
	conn_hold(e, c, m);
	p = rdsb_conn_path_for(e, c, m->sport);
	if (!p) {
		list_add_tail(&m->item, &c->pending);
		rdsb_conn_want_path0(e, c);
	} else {
		rdsb_path_queue(e, p, m);
	}
	return rdsb_conn_tx_room(c);
}

void rdsb_path_send_ping(struct rdsb_engine *e, struct rdsb_path *p, uint16_t sport, uint16_t dport,
			 bool probe)
{
	struct rdsb_msg *m = rdsb_msg_new(0);

	if (!m)
		return;
	m->sport = sport;
	m->dport = dport;
	m->own = true;
	if (probe)
		rdsb_hs_encode(m->ext, (uint16_t)e->max_paths, e->gen_num, e->deliv);
	rdsb_path_queue(e, p, m);
}

/* When ours go (docs/protocol.md 1.4): at once past ACK_MSGS messages or
 * ACK_BYTES bytes not yet acknowledged (what the sender holds: payloads in
 * its sockets' copy rings, and its own copies within CONN_TX_MAX), or once
 * the record a sender short of space marked RDS_FLAG_ACK_REQUIRED is
 * delivered; else at least ACK_DELAY after the first, on the clock's
 * ACK_DELAY grid (ack_tick), so that a request and its answer do not cost
 * a third record each. An engine that sleeps sends it up to ACK_IDLE_LATE
 * later: a sleep of a tick (4 ms at HZ 250) or more never moves the CPU's
 * timer forward, a shorter one reprograms it going to sleep and again on
 * waking, which costs a guest two exits a sleep: with a 1 ms sleep a 64 B
 * ping-pong's round trip took 1.4 times as long. Awake, the loop's timers
 * send it on time. */
#define ACK_MSGS RDSB_ACK_MSGS	/* rds-bpf/maps.h: the BPF receive path's verdict's too */
#define ACK_BYTES RDSB_ACK_BYTES
#define ACK_DELAY_NS 1000000ull
#define ACK_IDLE_LATE_NS 4000000ull
#define ACK_POLL_NS 4000000ull

/* At least delay from now, on the clock's grid of delay: what is due on
 * the paths in one interval goes in one wakeup of the engine. */
static uint64_t ack_tick(const struct rdsb_engine *e, uint64_t delay)
{
	return (e->now / delay + 2) * delay;
}

/* On a path whose records the transport delivers itself, the engine hears
 * of the first delivery after an acknowledgement by an event, a wakeup of
 * its own: while records keep coming, it looks again every ACK_POLL
 * instead (queue_ack), and waits for the event again once none came. */
static void ack_poll(struct rdsb_engine *e, struct rdsb_path *p, uint64_t safe)
{
	p->ack_poll = true;
	p->ack_at = ack_tick(e, ACK_POLL_NS);
	e->tp->rx_ack_sent(e, p, safe, false);
}

void rdsb_msg_encode(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_hdr h = { 0 };

	if (m->cong_map) {
		/* A congestion map: seq 0, ports 0, the current bits. */
		h.flags = RDS_FLAG_CONG_BITMAP;
		h.len = RDS_CONG_MAP_BYTES;
		memcpy(m->data, p->conn->eng->cong[p->conn->lslot].bits, RDS_CONG_MAP_BYTES);
	} else if (m->deliv_ack) {
		/* seq 0, ports 0, what is delivered as it goes out; what is
		 * delivered after it wants another (queue_ack) */
		uint64_t safe = rdsb_path_rx_safe(p), be = htobe64(safe);

		h.flags = RDSB_FLAG_DELIV_ACK;
		h.len = sizeof(be);
		memcpy(m->data, &be, sizeof(be));
		p->ack_sent = safe;
		p->ack_rx_bytes = p->rx_bytes;
		p->ack_queued = false;
		if (p->rx_prechecked)
			ack_poll(p->conn->eng, p, safe);
	} else {
		/* On the sk_msg send path a sequence number is taken when the
		 * record starts on the wire, under the path's lock, as the
		 * applications take theirs. */
		if (!m->seq)
			number(p, m);
		h.seq = m->seq;
		h.len = m->len;
		h.sport = m->sport;
		h.dport = m->dport;
		h.flags = m->flags;
		/* senders waiting for room on the connection, which holds
		 * what TCP acknowledged until it is delivered: the peer is
		 * asked to say so at once (docs/protocol.md 1.4), not after
		 * its ACK_DELAY; one record at a time, or every record asks
		 * and the peer's engine wakes for each */
		if (p->conn->deliv_hold && p->conn->tx_waiters && p->deliv_acked >= p->ack_req_seq) {
			h.flags |= RDS_FLAG_ACK_REQUIRED;
			p->ack_req_seq = h.seq;
		}
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
	if (m->deliv_ack) {
		rdsb_count(e, RDSB_C_TX_DELIV_ACKS);
		rdsb_msg_free(m);
		return;
	}
	p->tx_msgs++;
	p->tx_bytes += m->len;
	rdsb_count(e, RDSB_C_TX_MSGS);
	list_add_tail(&m->item, &p->unacked);
	p->nunacked++;
	p->ack_wake |= m->ack_wake;
}

/* Nothing a transport's xmit calls queues or writes on a path, and a path
 * that fails is only marked (rdsb_path_drop): xmit is never entered twice. */
void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	int err;

	if (p->state != RDSB_PATH_UP)
		return;
	if (p->resend_until) {
		/* a restarted engine's: what the engine before numbered first */
		if (p->resend_left && e->now < p->resend_until)
			return;
		p->resend_until = 0;
	}
	if (e->tp->xmit_path_prepare(e, p) < 0)
		return;		/* not now: the transport's timer comes back */
	err = e->tp->xmit(e, p);
	e->tp->xmit_path_complete(e, p);
	/* What was just sent cannot be acked yet: acks are looked at once per
	 * event-loop pass (rdsb_conns_timer), not once per send. */
	if (err)
		rdsb_path_drop(e, p, strerror(-err));
}

/* A sender's send space comes back at TCP's acknowledgement of its message,
 * as the kernel's (rds_tcp_is_acked), or when the message is dropped; to a
 * peer that acknowledges delivery the message itself stays until that
 * acknowledgement too, for the next connection (docs/protocol.md 1.4), held
 * within the connection's CONN_TX_MAX. */
void rdsb_msg_space_back(struct rdsb_engine *e, struct rdsb_msg *m)
{
	if (m->space_back)
		return;
	m->space_back = true;
	rdsb_sock_sent(e, m->sock_id, m->len);
}

/* TCP's acknowledgement gives each message's sender its space back, from
 * the first message past the last that had it (space_last), so that a pass
 * costs what was acknowledged since, not every message still kept for the
 * peer's delivery acknowledgement (256 a path at a time under load); then
 * messages leave from the head, in order, once the peer has both. */
void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m, *t;
	uint64_t acked;

	if (!p->nunacked || p->ev.fd < 0)
		return;
	/* senders held on a full connection wait for its acks too */
	e->tp->ack_wait(e, p, p->ack_wake || p->conn->tx_waiters);
	acked = e->tp->acked(e, p);
	m = list_entry(p->space_last ? p->space_last->item.next : p->unacked.next, struct rdsb_msg, item);
	for (; &m->item != &p->unacked && m->end_off <= acked; m = list_entry(m->item.next, struct rdsb_msg, item)) {
		rdsb_msg_space_back(e, m);
		p->space_last = m;
	}
	list_for_each_entry_safe(m, t, &p->unacked, item) {
		if (m->end_off > acked || !rdsb_path_forget(p, m->seq, m->end_off, acked))
			break;	/* the peer's delivery acknowledgement, in order */
		if (m == p->space_last)
			p->space_last = NULL;
		list_del_init(&m->item);
		p->nunacked--;
		rdsb_msg_free(m);
	}
	if (!p->nunacked) {
		p->ack_wake = false;
		e->tp->ack_wait(e, p, false);
	}
}

/* Writing a queue of [header][payload] records to a stream socket without
 * blocking: many records per call, the first possibly resumed mid-record, so
 * that records stay whole across short writes (the TCP transport's path
 * writer, transports/tcp/tcp_stream.c, and the delivery writer, sock.c). */
#define WRITE_BATCH RDSB_DELIV_BATCH

int rdsb_records_write(int fd, struct rdsb_writer *w)
{
	while (!list_empty(w->q)) {
		struct iovec iov[WRITE_BATCH * 2];
		struct msghdr mh = { .msg_iov = iov };
		size_t off = *w->head_off, total = 0, done;
		struct rdsb_msg *m, *t;
		ssize_t n;
		int cnt = 0;

		list_for_each_entry(m, w->q, item) {
			if (cnt + 2 > WRITE_BATCH * 2 ||
			    (cnt && w->max_bytes && total + RDS_HEADER_SIZE + m->len - off > w->max_bytes))
				break;
			if (off == 0)
				w->encode(w->ctx, m);
			if (off < RDS_HEADER_SIZE) {
				iov[cnt].iov_base = (uint8_t *)&m->wire + off;
				iov[cnt++].iov_len = RDS_HEADER_SIZE - off;
			}
			if (m->len) {
				size_t doff = off > RDS_HEADER_SIZE ? off - RDS_HEADER_SIZE : 0;

				iov[cnt].iov_base = m->data + doff;
				iov[cnt++].iov_len = m->len - doff;
			}
			total += RDS_HEADER_SIZE + m->len - off;
			off = 0;
		}
		mh.msg_iovlen = (size_t)cnt;
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		done = (size_t)n;
		list_for_each_entry_safe(m, t, w->q, item) {
			size_t left = RDS_HEADER_SIZE + m->len - *w->head_off;

			if (done < left) {
				*w->head_off += done;
				*w->stream_off += done;
				break;
			}
			done -= left;
			*w->head_off = 0;
			*w->stream_off += left;
			list_del_init(&m->item);
			w->done(w->ctx, m);
			if (!done)
				break;
		}
		if ((size_t)n < total)
			return 0;	/* the socket is full: wait for EPOLLOUT */
	}
	return 0;
}

/*
 * Delivery acknowledgements, between two rds-bpf engines on TCP (docs/
 * protocol.md 1.4). TCP's acknowledgement says the peer's kernel has the
 * bytes; an engine killed before it wrote them into an application's
 * stream loses them, and the sender forgot them at that acknowledgement
 * (rds_tcp_is_acked). A receiver that announces RDSB_DELIV_SENDS_ACKS
 * sends, per path, the number up to which everything is in a stream
 * (rdsb_path_rx_safe, which it keeps where its next engine finds it); the
 * sender keeps each message until both have come, and sends it again on a
 * new connection as any other it still holds.
 */

void rdsb_path_deliv_acked(struct rdsb_engine *e, struct rdsb_path *p, const uint8_t *data, uint32_t len)
{
	struct rdsb_seq_path *sp = rdsb_seqstate_path(p);
	uint64_t be, seq;

	if (len != sizeof(be) || !p->conn->deliv_hold) {
		rdsb_count(e, RDSB_C_DROP_BAD_DELIV_ACK);
		return;
	}
	memcpy(&be, data, sizeof(be));
	seq = be64toh(be);
	/* never past what we numbered: a peer cannot free what is to come
	 * (on the sk_msg send path applications number too, in the entry) */
	if (seq >= p->next_tx_seq && (!sp || seq >= sp->next_tx_seq)) {
		rdsb_count(e, RDSB_C_DROP_BAD_DELIV_ACK);
		return;
	}
	rdsb_count(e, RDSB_C_RX_DELIV_ACKS);
	if (seq <= p->deliv_acked)
		return;
	p->deliv_acked = seq;
	rdsb_path_check_acked(e, p);
}

static void queue_ack(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m;

	p->ack_at = 0;
	if (p->ack_queued)
		return;
	if (p->state != RDSB_PATH_UP || rdsb_path_rx_safe(p) <= p->ack_sent) {
		if (p->ack_poll) {
			p->ack_poll = false;
			e->tp->rx_ack_sent(e, p, p->ack_sent, true);
		}
		return;
	}
	m = rdsb_msg_new(sizeof(uint64_t));
	if (!m)
		return;		/* the next one carries it */
	m->deliv_ack = true;
	m->len = sizeof(uint64_t);
	/* ahead of what waits, behind a record partly written */
	if (p->head_off && !list_empty(&p->send_q))
		list_add(&m->item, p->send_q.next);
	else
		list_add(&m->item, &p->send_q);
	p->ack_queued = true;
	path_kick(e, p, RDS_HEADER_SIZE + m->len);
}

bool rdsb_paths_ack_due(struct rdsb_engine *e)
{
	bool armed = false;

	while (!list_empty(&e->ack_due)) {
		struct rdsb_path *p = list_first_entry(&e->ack_due, struct rdsb_path, ack_due);
		uint64_t safe = rdsb_path_rx_safe(p);

		list_del_init(&p->ack_due);
		if (!p->conn->deliv_send || safe <= p->ack_sent)
			continue;
		if (safe - p->ack_sent >= ACK_MSGS || p->rx_bytes - p->ack_rx_bytes >= ACK_BYTES ||
		    (p->ack_asked && safe >= p->ack_asked)) {
			if (safe >= p->ack_asked)
				p->ack_asked = 0;
			queue_ack(e, p);
		} else if (!p->ack_at) {
			p->ack_at = ack_tick(e, ACK_DELAY_NS);
			armed = true;
		}
	}
	return armed;
}

void rdsb_path_ack_timer(struct rdsb_engine *e, struct rdsb_path *p, uint64_t *next)
{
	if (!p->ack_at)
		return;
	if (e->now >= p->ack_at)
		queue_ack(e, p);
	else if (p->ack_at + ACK_IDLE_LATE_NS < *next)
		*next = p->ack_at + ACK_IDLE_LATE_NS;
}
