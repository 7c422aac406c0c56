// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Connections and their paths: creation, the NPATHS probe handshake, path
 * up/down, reconnect with the kernel's backoff, and what must survive a path
 * reset (retransmit queue, next_rx_seq).
 * docs/protocol.md §2.2-2.6 is the specification.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include "engine.h"
#include "../common/addr.h"
#include "../common/log.h"

#define NSEC_PER_MSEC 1000000ull
#define RECONNECT_MIN (1 * NSEC_PER_MSEC)
#define RECONNECT_MAX (1000 * NSEC_PER_MSEC)
#define PING_RETRY (1000 * NSEC_PER_MSEC)
#define PING_TRIES 3
#define NSEC_PER_SEC 1000000000ull
#define CONN_IDLE_NS (10 * NSEC_PER_SEC)

static void set_npaths(struct rdsb_engine *e, struct rdsb_conn *c, unsigned int n);

static bool we_are_smaller(const struct rdsb_conn *c)
{
	return rdsb_addr_cmp(c->laddr, c->faddr) < 0;
}

static uint64_t conn_hash(const struct rdsb_engine *e, const uint8_t laddr[16], const uint8_t faddr[16])
{
	uint8_t key[32];

	memcpy(key, laddr, 16);
	memcpy(key + 16, faddr, 16);
	return rdsb_hash_mem(key, sizeof(key), e->hash_initval);
}

/* A peer can make every send to a new address fail: say so at most once
 * every 5 s, like the kernel's printk_ratelimited, not once per datagram. */
static void warn_table_full(struct rdsb_engine *e)
{
	static uint64_t last_ns;
	static unsigned long missed;

	if (last_ns && e->now - last_ns < 5000000000ull) {
		missed++;
		return;
	}
	pr_warn("rds-bpf: address table full (%d addresses in use): no connection to a new address (%lu not logged before this)\n",
		RDSB_MAX_ADDRS, missed);
	last_ns = e->now ? e->now : 1;
	missed = 0;
}


struct rdsb_conn *rdsb_conn_get(struct rdsb_engine *e, const uint8_t laddr[16],
				const uint8_t faddr[16], uint32_t scope, bool create)
{
	uint64_t h = conn_hash(e, laddr, faddr);
	struct rdsb_hnode *n;
	struct rdsb_conn *c;

	rdsb_hash_for_each(&e->conns_by_addr, n, h) {
		c = container_of(n, struct rdsb_conn, hnode);
		if (!memcmp(c->laddr, laddr, 16) && !memcmp(c->faddr, faddr, 16))
			return c;
	}
	if (!create)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->eng = e;
	memcpy(c->laddr, laddr, 16);
	memcpy(c->faddr, faddr, 16);
	c->scope_id = scope;
	c->loopback = !memcmp(laddr, faddr, 16) || rdsb_addr_is_local(faddr, scope);
	c->lslot = rdsb_addr_slot(e, laddr, scope, RDSB_ADDR_LOCAL);
	c->fslot = rdsb_addr_slot(e, faddr, scope, c->loopback ? RDSB_ADDR_LOCAL : RDSB_ADDR_PEER);
	if (c->lslot < 0 || c->fslot < 0) {
		warn_table_full(e);
		goto fail;
	}
	if (rdsb_hash_add(&e->conns_by_addr, &c->hnode, h))
		goto fail;
	if (e->tp->conn_alloc(e, c)) {
		rdsb_hash_del(&e->conns_by_addr, &c->hnode);
		goto fail;
	}
	if (c->loopback)
		c->npaths = 1;
	INIT_LIST_HEAD(&c->pending);
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *p = &c->paths[i];

		p->conn = c;
		p->index = i;
		p->ev.kind = EV_PATH;
		p->ev.fd = -1;
		/* The loopback transport numbers from the time (ns) it starts,
		 * not 1: no sequence state keeps its numbers across engines, and
		 * the library must not take a datagram of the next engine
		 * (reload keeps the generation) for a copy of one it read from
		 * this one (send.c loop_deliver). Each takes a nanosecond at
		 * least, so the numbers of one never reach the next one's. */
		p->next_tx_seq = c->loopback ? e->now + 1 : 1;
		INIT_LIST_HEAD(&p->send_q);
		INIT_LIST_HEAD(&p->unacked);
		INIT_LIST_HEAD(&p->rx_wait);
		INIT_LIST_HEAD(&p->tx_due);
		INIT_LIST_HEAD(&p->drop_item);
		INIT_LIST_HEAD(&p->ack_due);
		INIT_LIST_HEAD(&p->rx_unwritten);
	}
	list_add_tail(&c->item, &e->conns);
	/* the engine before had it: its numbers go on, and its path count
	 * (the peer knows it; no handshake needed to pick a path), even above
	 * this engine's --paths, which counts for new connections: the peer
	 * goes on sending on all its paths and is never told a smaller count
	 * on a live connection (the kernel's count only grows, rds.rst). Capped,
	 * the lanes above it waited unread and the peer kept sending on them:
	 * a reload from 8 paths to 2 lost and reordered datagrams. */
	rdsb_seqstate_conn(e, c);
	if (c->ss && c->ss->npaths && c->ss->npaths <= RDS_MPATH_WORKERS && !c->npaths)
		set_npaths(e, c, c->ss->npaths);
	return c;
fail:
	rdsb_addr_put(e, c->lslot);
	rdsb_addr_put(e, c->fslot);
	free(c);
	return NULL;
}

static bool path_has_data(const struct rdsb_path *p)
{
	return !list_empty(&p->send_q) || !list_empty(&p->unacked) ||
	       (p->index == 0 && !list_empty(&p->conn->pending));
}

/* A path at or above the count that holds retransmissions connects again
 * to drain them, poking from the larger address, when the peer pairs our
 * lane with the path it names (strand). */
static bool path_drains(const struct rdsb_path *p)
{
	const struct rdsb_conn *c = p->conn;

	return c->npaths && p->index >= c->npaths && c->peer_lanes_named && !list_empty(&p->send_q);
}

/* rds_queue_reconnect: the first attempt at once, then a random delay below
 * a bound that doubles up to one second. Only the smaller address reconnects
 * (paths > 0 only after the handshake); the larger one pokes path 0 when it
 * has something to send, so that the smaller one connects back. */
void rdsb_path_schedule_reconnect(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	uint32_t r;

	if (e->stopping || c->loopback)
		return;
	if (p->index > 0 && !path_drains(p) && (!we_are_smaller(c) || p->index >= c->npaths))
		return;
	if (p->index == 0 && !we_are_smaller(c) && !path_has_data(p))
		return;
	if (!p->reconnect_delay) {
		p->reconnect_at = e->now;
		p->reconnect_delay = RECONNECT_MIN;
		return;
	}
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)e->now;
	p->reconnect_at = e->now + (uint64_t)r % p->reconnect_delay;
	p->reconnect_delay *= 2;
	if (p->reconnect_delay > RECONNECT_MAX)
		p->reconnect_delay = RECONNECT_MAX;
}

void rdsb_path_connecting(struct rdsb_engine *e, struct rdsb_path *p, int fd, uint32_t events)
{
	p->ev.fd = fd;
	p->ev.events = 0;
	p->state = RDSB_PATH_CONNECTING;
	p->outgoing = true;
	if (events)
		rdsb_ev_set(e, &p->ev, events);
}

void rdsb_path_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	p->reconnect_at = 0;
	if (p->ev.fd >= 0 || p->conn->loopback)
		return;
	if (e->tp->conn_path_connect(e, p) < 0)
		rdsb_path_schedule_reconnect(e, p);
}

void rdsb_conn_want_path0(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_path *p = &c->paths[0];

	if (c->loopback || p->ev.fd >= 0 || p->reconnect_at)
		return;
	rdsb_path_schedule_reconnect(e, p);
}

static void send_probe(struct rdsb_engine *e, struct rdsb_conn *c)
{
	c->ping_tries++;
	c->ping_at = e->now + PING_RETRY;
	rdsb_count(e, RDSB_C_PROBES);
	rdsb_path_send_ping(e, &c->paths[0], RDS_FLAG_PROBE_PORT, 0, true);
}

/* Messages queued or unacked on a path: each of them still goes out, a
 * path above the count holding only what it drains (strand). */
static bool conn_sending(const struct rdsb_conn *c)
{
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		const struct rdsb_path *p = &c->paths[i];

		if (!list_empty(&p->send_q) || !list_empty(&p->unacked))
			return true;
	}
	return false;
}

/* Messages held for the path count get their paths, in the order sent,
 * and every path may send again, its transport's own way included (the
 * sk_msg path opens to applications on a pass with nothing queued). */
static void release_pending(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_msg *m, *t;
	struct list_head held = LIST_HEAD_INIT(held);

	list_splice_init(&c->pending, &held);
	list_for_each_entry_safe(m, t, &held, item) {
		list_del_init(&m->item);
		rdsb_path_queue(e, rdsb_conn_path_for(e, c, m->sport), m);
	}
	for (unsigned int i = 0; i < c->npaths; i++)
		rdsb_path_xmit(e, &c->paths[i]);
}

static void drop_msg_list(struct rdsb_engine *e, struct list_head *l, bool only_retrans,
			  enum rdsb_counter why)
{
	struct rdsb_msg *m, *t;

	list_for_each_entry_safe(m, t, l, item) {
		if (only_retrans && !(m->flags & RDS_FLAG_RETRANSMITTED))
			continue;
		list_del_init(&m->item);
		rdsb_count(e, why);
		rdsb_sock_req_done(e, m);
		rdsb_msg_space_back(e, m);
		rdsb_msg_free(m);
	}
}

/* A path at or above the count that is not up (the count shrank, or such
 * a path went down since) is not opened for new messages: we open only the
 * paths below the count, and a peer pairs a lane above it with a path below
 * (tcp.c accept_slot, the kernel's rds_tcp_accept_one_path) unless it says
 * it pairs it by the path its port names (RDSB_DELIV_LANES_NAMED). What
 * never went out takes its new path, onto *to, renumbered there. A
 * retransmission keeps its number in its path's sequence: only that path's
 * next_rx_seq at the peer tells whether the peer has it (a peer of the same
 * generation keeps it, an rds-bpf engine reloaded with another --paths
 * too; a new generation flushed it, peer_gen_changed). With a new number on
 * another path it would be delivered twice if the peer has it, so it stays
 * and its path connects to drain it, the peer's duplicate rule deciding
 * (path_drains). A peer that pairs no such lane cannot be asked: it is
 * dropped, counted, as the kernel drops what a destroyed path held, and
 * its sender's space is released. */
static void strand(struct rdsb_engine *e, struct rdsb_path *p, struct list_head *to)
{
	struct rdsb_msg *m, *t;

	list_for_each_entry_safe(m, t, &p->send_q, item) {
		if (rdsb_msg_control(m) || (m->flags & RDS_FLAG_RETRANSMITTED))
			continue;
		list_del_init(&m->item);
		list_add_tail(&m->item, to);
	}
	if (!p->conn->peer_lanes_named)
		drop_msg_list(e, &p->send_q, true, RDSB_C_DROP_STRANDED);
}

/* A moving connection whose messages from before the change are all acked
 * sends again (looked at once per event-loop pass, rdsb_conns_timer); acked
 * by TCP is delivered by the kernel's receiver, whose rds_tcp_data_ready
 * reads the stream as it arrives. */
static void check_moved(struct rdsb_engine *e, struct rdsb_conn *c)
{
	if (!c->moving || conn_sending(c))
		return;
	c->moving = false;
	pr_info("rds-bpf: messages from before the path count changed are acked: sending on %u paths\n",
		c->npaths);
	release_pending(e, c);
}

/* The connection's path count is decided: messages held for it get their
 * path. A count that changes once one was settled (a peer whose pong came
 * after we settled on one path, a peer reloaded with another count) moves
 * ports to other paths: a socket's next datagram on its new path could
 * reach the peer's socket before the ones still queued or unacked on its
 * old path, so new ones wait until those are acked, those applications
 * sent on the paths themselves included (conn_paths_moving). */
static void set_npaths(struct rdsb_engine *e, struct rdsb_conn *c, unsigned int n)
{
	bool moved = c->npaths && c->npaths != n;
	struct list_head stranded = LIST_HEAD_INIT(stranded);

	if (moved)
		e->tp->conn_paths_moving(e, c);
	c->npaths = n;
	for (unsigned int i = n; moved && i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *p = &c->paths[i];

		if (p->state == RDSB_PATH_UP)
			continue;	/* it sends what it has; if it goes down, path_shutdown */
		p->reconnect_at = 0;	/* scheduled for the count before: asked again below */
		/* a lane still connecting would reach a peer that pairs it
		 * with a path below the count */
		if (p->state == RDSB_PATH_CONNECTING && !c->peer_lanes_named)
			rdsb_path_drop(e, p, "above the path count");
		strand(e, p, &stranded);
	}
	/* ahead of what was held for the count */
	list_splice_init(&stranded, &c->pending);
	if (c->ss)
		c->ss->npaths = n;
	c->ping_at = 0;
	pr_info("rds-bpf: handshake done: %u paths\n", n);
	c->moving = moved && conn_sending(c);
	if (!c->moving)
		release_pending(e, c);
	/* rds_start_mprds: the smaller address opens the other paths; and
	 * those above the count that drain, either address */
	for (unsigned int i = 1; i < RDS_MPATH_WORKERS; i++)
		if (c->paths[i].ev.fd < 0 && !c->paths[i].reconnect_at)
			rdsb_path_schedule_reconnect(e, &c->paths[i]);
	e->tp->conn_paths_changed(e, c);
}

/* rds_conn_peer_gen_update: the peer restarted, so sequence spaces restart
 * and what was waiting for retransmission is flushed, on all paths. */
static void peer_gen_changed(struct rdsb_engine *e, struct rdsb_conn *c)
{
	pr_info("rds-bpf: peer generation changed: resetting sequence numbers\n");
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *p = &c->paths[i];

		p->next_tx_seq = 1;
		p->next_rx_seq = 0;
		p->deliv_acked = p->ack_req_seq = p->ack_sent = p->ack_asked = 0;
		p->rx_safe_next = 0;
		/* what the old sequence space left in no stream counts no more */
		rdsb_path_rx_forget(p);
		p->resend_until = p->resend_lo = 0;
		if (c->ss)
			c->ss->path[i] = (struct rdsb_seq_path){ .next_tx_seq = 1 };
		rdsb_seqstate_own_reset(p);
		e->tp->conn_path_seq_reset(e, p);
		drop_msg_list(e, &p->unacked, false, RDSB_C_DROP_FLUSHED_GEN);
		p->nunacked = 0;
		p->space_last = NULL;
		p->ack_wake = false;
		/* the partly written head must stay: the stream is mid-record */
		if (p->head_off && !list_empty(&p->send_q)) {
			struct rdsb_msg *head = list_first_entry(&p->send_q, struct rdsb_msg, item);

			list_del_init(&head->item);
			drop_msg_list(e, &p->send_q, true, RDSB_C_DROP_FLUSHED_GEN);
			list_add(&head->item, &p->send_q);
		} else {
			drop_msg_list(e, &p->send_q, true, RDSB_C_DROP_FLUSHED_GEN);
		}
	}
}

void rdsb_conn_handshake(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h)
{
	struct rdsb_conn *c = p->conn;
	struct rdsb_hs hs;
	unsigned int n;

	rdsb_hs_decode(h->exthdr, &hs);
	if (hs.has_gen && hs.gen) {
		if (c->peer_gen && c->peer_gen != hs.gen)
			peer_gen_changed(e, c);
		c->peer_gen = hs.gen;
		if (c->ss)
			c->ss->peer_gen = hs.gen;
	}
	c->peer_sport_idx = hs.has_sport_idx;
	if (c->ss)
		c->ss->peer_sport_idx = hs.has_sport_idx;
	rdsb_conn_deliv_set(e, c, hs.deliv);
	/* rds_recv_hs_exthdrs: every handshake that carries NPATHS sets the
	 * path count, not only the first (the peer may have been silent, so
	 * that we settled on one path, or restarted); one without keeps it. */
	n = hs.has_npaths ? rdsb_hs_npaths(&hs) : (c->npaths ? c->npaths : 1);
	if (n > e->max_paths)
		n = e->max_paths;
	c->npaths_guessed = c->npaths_guessed && !hs.has_npaths;
	if (c->npaths != n)
		set_npaths(e, c, n);
}

/* Each end says in its probes what it does (RDSB_DELIV_*); a kernel says
 * nothing, and TCP's acknowledgement is all it gets or gives. A peer that
 * stops sending acknowledgements (reloaded on the BPF receive path) lets
 * go of what waited for one. */
void rdsb_conn_deliv_set(struct rdsb_engine *e, struct rdsb_conn *c, uint8_t peer)
{
	bool hold = (peer & RDSB_DELIV_SENDS_ACKS) && (e->deliv & RDSB_DELIV_READS_ACKS);

	c->deliv_send = (peer & RDSB_DELIV_READS_ACKS) && (e->deliv & RDSB_DELIV_SENDS_ACKS);
	if (c->ss) {
		c->ss->peer_deliv = peer;
		c->ss->own_deliv = e->deliv;
	}
	c->peer_lanes_named = peer & RDSB_DELIV_LANES_NAMED;
	/* the BPF receive path raises events for acknowledgements, or not */
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		if (c->paths[i].rx_prechecked)
			e->tp->rx_ack_sent(e, &c->paths[i], c->paths[i].ack_sent, true);
	if (c->deliv_hold == hold)
		return;
	c->deliv_hold = hold;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		rdsb_path_check_acked(e, &c->paths[i]);
}

/* rds_cong_queue_updates: the map is the connection's to send (the
 * kernel's c_map_queued is the connection's too), on its first path up
 * that sends now: a restarted engine's path waits for what the engine
 * before numbered (resend_window), up to the rebind time. */
static void conn_queue_cong_map(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_path *p = NULL;
	struct rdsb_msg *m;

	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *q = &c->paths[i];

		if (q->state != RDSB_PATH_UP)
			continue;
		if (!q->resend_until) {
			p = q;
			break;
		}
		if (!p)
			p = q;
	}
	if (!p || p->cong_map_queued)
		return;
	m = rdsb_msg_new(RDS_CONG_MAP_BYTES);
	if (!m)
		return;
	/* Sent between messages, ahead of the queue; its bits are copied
	 * when it is written, so it carries the latest map. */
	m->cong_map = true;
	m->flags = RDS_FLAG_CONG_BITMAP;
	p->cong_map_queued = true;
	if (p->head_off && !list_empty(&p->send_q))
		list_add(&m->item, p->send_q.next);
	else
		list_add(&m->item, &p->send_q);
	rdsb_path_xmit(e, p);
}

/* The peers of a restarted engine may still hold the map of the engine
 * before, which congested every bound port as it drained, past ours: a map
 * goes with a path that goes, and maps of several paths arrive in no order
 * (docs/protocol.md). With the rebind time over, the engine's map goes
 * once more on every connection (lslot < 0). */
void rdsb_conn_queue_cong_map(struct rdsb_engine *e, int lslot)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item)
		if (!c->loopback && (lslot < 0 || c->lslot == lslot))
			conn_queue_cong_map(e, c);
}

/* "LADDR -> FADDR path N", for the log lines of a path's ups and downs */
#define PATH_NAME_LEN (2 * INET6_ADDRSTRLEN + 16)
static const char *path_name(const struct rdsb_path *p, char *buf, size_t len)
{
	char la[INET6_ADDRSTRLEN], fa[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s -> %s path %u", rdsb_addr_str(p->conn->laddr, la, sizeof(la)),
		 rdsb_addr_str(p->conn->faddr, fa, sizeof(fa)), p->index);
	return buf;
}

void rdsb_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	char name[PATH_NAME_LEN];

	p->state = RDSB_PATH_UP;
	p->reconnect_at = 0;
	p->reconnect_delay = 0;
	rdsb_count(e, RDSB_C_PATH_UP);
	rdsb_ev_set(e, &p->ev, EPOLLIN);
	pr_info("rds-bpf: %s up (ports %u -> %u)\n", path_name(p, name, sizeof(name)), p->lport, p->fport);
	e->tp->conn_path_up(e, p);
	/* rds_connect_path_complete queues the congestion map: it goes first. */
	rdsb_conn_queue_cong_map(e, c->lslot);
	/* a restart that changed ours tells the peer on path 0, whichever
	 * of the peer's lanes comes up first */
	if (p->index == 0 && (!c->npaths || c->tell_peer)) {
		send_probe(e, c);
		c->tell_peer = false;
	}
	rdsb_path_xmit(e, p);
}

static void path_mark(struct rdsb_engine *e, struct rdsb_path *p, const char *why, bool reset)
{
	if (p->ev.fd < 0)
		return;
	p->drop_reset |= reset;
	if (p->drop_why)
		return;		/* marked already, or being shut down */
	p->drop_why = why;
	p->drop_drain = p->state == RDSB_PATH_UP;
	p->state = RDSB_PATH_ERROR;
	list_add_tail(&p->drop_item, &e->dropped);
}

void rdsb_path_drop(struct rdsb_engine *e, struct rdsb_path *p, const char *why)
{
	path_mark(e, p, why, false);
}

void rdsb_path_reset(struct rdsb_engine *e, struct rdsb_path *p, const char *why)
{
	path_mark(e, p, why, true);
}

/* A path above the count went down: what never went out takes its new
 * path, in order (while the count's move waits, after what it holds). */
static void strand_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	struct list_head stranded = LIST_HEAD_INIT(stranded);

	strand(e, p, &stranded);
	list_splice_init(&stranded, &c->pending);
	if (!c->moving)
		release_pending(e, c);
}

/* rds_conn_shutdown: a path lost its socket. Keep every message not known
 * to be acknowledged, in order, and mark those that may have reached the
 * wire RETRANSMITTED (rds_send_path_reset). next_rx_seq survives. */
static void path_shutdown(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m, *t;
	struct list_head requeue = LIST_HEAD_INIT(requeue);
	char name[PATH_NAME_LEN];
	bool map_unsent;

	pr_info("rds-bpf: %s down: %s\n", path_name(p, name, sizeof(name)), p->drop_why);
	p->state = RDSB_PATH_DISCONNECTING;
	e->tp->conn_path_down(e, p);
	if (p->drop_drain || p->drop_reset) {
		/* Bytes TCP already acknowledged to the peer must be read
		 * before the socket goes; a malformed stream is not read on. */
		if (!p->drop_reset)
			e->tp->recv_path(e, p);
		rdsb_path_rx_unstall(e, p);
		rdsb_path_check_acked(e, p);
		rdsb_count(e, RDSB_C_PATH_DOWN);
	}
	rdsb_ev_del(e, &p->ev);
	e->tp->conn_path_shutdown(e, p, p->drop_reset);
	p->state = RDSB_PATH_DOWN;
	p->drop_why = NULL;
	p->drop_drain = p->drop_reset = false;
	p->reconnects++;

	list_splice_tail_init(&p->unacked, &requeue);
	p->space_last = NULL;
	if (p->head_off && !list_empty(&p->send_q)) {
		m = list_first_entry(&p->send_q, struct rdsb_msg, item);
		list_del_init(&m->item);
		list_add_tail(&m->item, &requeue);
	}
	list_for_each_entry_safe(m, t, &requeue, item) {
		if (rdsb_msg_control(m)) {
			list_del_init(&m->item);
			rdsb_msg_free(m);
			continue;
		}
		m->flags |= RDS_FLAG_RETRANSMITTED;
		rdsb_count(e, RDSB_C_TX_RETRANSMITTED);
	}
	list_for_each_entry_safe(m, t, &p->send_q, item) {
		if (rdsb_msg_control(m)) {
			list_del_init(&m->item);
			rdsb_msg_free(m);
		}
	}
	list_splice_init(&requeue, &p->send_q);
	/* a map not yet written whole goes with the socket: another path
	 * sends it, else the next one up (the peer must not keep an older) */
	map_unsent = p->cong_map_queued;
	p->cong_map_queued = p->ack_queued = p->ack_poll = false;
	p->ack_sent = p->ack_at = p->ack_asked = 0;	/* the last may not have arrived */
	p->head_off = 0;
	p->nunacked = 0;
	p->ack_wake = false;
	if (p->index == 0)
		p->conn->ping_tries = 0;
	if (p->conn->npaths && p->index >= p->conn->npaths)
		strand_down(e, p);
	rdsb_path_schedule_reconnect(e, p);
	e->tp->conn_paths_changed(e, p->conn);
	if (map_unsent && !p->conn->loopback && !e->stopping)
		conn_queue_cong_map(e, p->conn);
}

bool rdsb_paths_shutdown(struct rdsb_engine *e)
{
	bool any = false;

	/* a shutdown may mark more paths (its drain answers pings): they go too */
	while (!list_empty(&e->dropped)) {
		struct rdsb_path *p = list_first_entry(&e->dropped, struct rdsb_path, drop_item);

		list_del_init(&p->drop_item);
		path_shutdown(e, p);
		any = true;
	}
	return any;
}

static void conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_msg *m, *t;
	struct rdsb_sock *s;

	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *p = &c->paths[i];

		if (p->ev.fd >= 0) {
			rdsb_ev_del(e, &p->ev);
			e->tp->conn_path_shutdown(e, p, false);
		}
		list_del_init(&p->drop_item);
		list_del_init(&p->rx_wait);
		list_del_init(&p->tx_due);
		list_del_init(&p->ack_due);
		rdsb_path_rx_forget(p);
		rdsb_msg_free(p->rx_stalled);
		list_splice_init(&p->unacked, &p->send_q);
		p->space_last = NULL;
		list_for_each_entry_safe(m, t, &p->send_q, item)
			rdsb_msg_free(m);
	}
	list_for_each_entry_safe(m, t, &c->pending, item)
		rdsb_msg_free(m);
	/* the senders held on it (sock.c) wait for nothing now */
	list_for_each_entry(s, &e->tx_held, tx_wait)
		if (s->tx_held_on == c) {
			s->tx_held_on = NULL;
			e->tx_resume = true;
		}
	/* and the sockets that sent on it last look it up again */
	list_for_each_entry(s, &e->socks, item)
		if (s->conn == c)
			s->conn = NULL;
	e->tp->conn_free(e, c);
	rdsb_paths_info_forget(e, c);
	rdsb_hash_del(&e->conns_by_addr, &c->hnode);
	list_del_init(&c->item);
	rdsb_addr_put(e, c->lslot);
	rdsb_addr_put(e, c->fslot);
	free(c);
}

/* No path up or being torn down, nothing queued either way: a connection
 * reset for coming from the larger address, one whose peer went away (our
 * reconnects to it do not count), one whose sender closed. Kept
 * CONN_IDLE_NS, then freed with its address slots: peers cannot fill the
 * address table for good. A peer's connect we accepted and whose handshake
 * runs (the IB transport's, nothing queued yet) is not idle: freed, its
 * queue pair was torn down just after it came up. */
static bool conn_idle(const struct rdsb_conn *c)
{
	if (!list_empty(&c->pending))
		return false;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		const struct rdsb_path *p = &c->paths[i];

		if (p->state == RDSB_PATH_UP || (p->state == RDSB_PATH_CONNECTING && !p->outgoing) ||
		    path_has_data(p) || p->rx_stalled || !list_empty(&p->rx_unwritten) ||
		    !list_empty(&p->drop_item))
			return false;
	}
	return true;
}

void rdsb_conns_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_conn *c, *tc;

	list_for_each_entry_safe(c, tc, &e->conns, item) {
		if (!conn_idle(c)) {
			c->idle_since = 0;
		} else if (!c->idle_since) {
			c->idle_since = e->now;
		} else if (e->now - c->idle_since >= CONN_IDLE_NS) {
			pr_info("rds-bpf: connection idle for %llu s: freed\n",
				(unsigned long long)(CONN_IDLE_NS / NSEC_PER_SEC));
			/* only here: the connections an engine frees when it
			 * stops keep their entries for the next engine */
			rdsb_seqstate_forget(c);
			conn_free(e, c);
			continue;
		}
		if (c->idle_since && c->idle_since + CONN_IDLE_NS < *next)
			*next = c->idle_since + CONN_IDLE_NS;
		if (c->loopback)
			continue;
		if (!c->npaths && c->ping_at && c->paths[0].state == RDSB_PATH_UP) {
			if (e->now >= c->ping_at) {
				if (c->ping_tries < PING_TRIES) {
					send_probe(e, c);
				} else {
					/* A peer that never answers: one path (rds.rst). */
					c->npaths_guessed = true;
					set_npaths(e, c, 1);
				}
			}
			if (c->ping_at && c->ping_at < *next)
				*next = c->ping_at;
		}
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];

			if (p->reconnect_at && e->now >= p->reconnect_at)
				rdsb_path_connect(e, p);
			if (p->reconnect_at && p->reconnect_at < *next)
				*next = p->reconnect_at;
			if (p->resend_until && e->now >= p->resend_until)
				rdsb_path_xmit(e, p);	/* what came back goes, in order */
			if (p->resend_until && p->resend_until < *next)
				*next = p->resend_until;
			rdsb_path_ack_timer(e, p, next);
			if (p->nunacked) {
				rdsb_path_check_acked(e, p);
				uint64_t poll = e->tp->ack_poll_ns(e, p);

				if (p->nunacked && e->now + poll < *next)
					*next = e->now + poll;
			}
		}
		check_moved(e, c);
	}
}

void rdsb_conns_stop(struct rdsb_engine *e)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
			if (c->paths[i].state == RDSB_PATH_UP)
				rdsb_path_drop(e, &c->paths[i], "the engine stops");
}

bool rdsb_conns_drained(const struct rdsb_engine *e)
{
	const struct rdsb_conn *c;

	/* a path stalled on a socket leaves what the peer sent in TCP,
	 * which acknowledged it: the peer forgets it, so it must be read */
	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
			if (path_has_data(&c->paths[i]) || c->paths[i].rx_stalled)
				return false;
	return true;
}

static bool cancel_match(const struct rdsb_msg *m, uint32_t sock_id, const uint8_t *faddr,
			 const struct rdsb_conn *c, uint16_t dport)
{
	if (m->sock_id != sock_id || rdsb_msg_control(m))
		return false;
	return !faddr || (!memcmp(c->faddr, faddr, 16) && m->dport == dport);
}

static void cancel_list(struct rdsb_engine *e, struct list_head *l, struct rdsb_msg *keep,
			uint32_t sock_id, const uint8_t *faddr, const struct rdsb_conn *c,
			uint16_t dport, unsigned int *nunacked)
{
	struct rdsb_msg *m, *t;

	list_for_each_entry_safe(m, t, l, item) {
		if (m == keep || !cancel_match(m, sock_id, faddr, c, dport))
			continue;
		list_del_init(&m->item);
		if (nunacked)
			(*nunacked)--;
		rdsb_count(e, faddr ? RDSB_C_DROP_CANCELLED : RDSB_C_DROP_SOCKET_CLOSED);
		rdsb_sock_req_done(e, m);
		rdsb_msg_space_back(e, m);
		rdsb_msg_free(m);
	}
}

/* rds_send_drop_to: RDS_CANCEL_SENT_TO (faddr set) or a closing socket
 * (faddr NULL). A record half written on a socket stays: the stream must
 * stay framed. */
void rdsb_conn_cancel(struct rdsb_engine *e, uint32_t sock_id, const uint8_t faddr[16], uint16_t dport)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		if (faddr && memcmp(c->faddr, faddr, 16))
			continue;
		cancel_list(e, &c->pending, NULL, sock_id, faddr, c, dport, NULL);
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];
			struct rdsb_msg *head = NULL;

			if (p->head_off && !list_empty(&p->send_q))
				head = list_first_entry(&p->send_q, struct rdsb_msg, item);
			cancel_list(e, &p->send_q, head, sock_id, faddr, c, dport, NULL);
			cancel_list(e, &p->unacked, NULL, sock_id, faddr, c, dport, &p->nunacked);
			p->space_last = NULL;
		}
	}
}

void rdsb_conn_free_all(struct rdsb_engine *e)
{
	struct rdsb_conn *c, *tc;

	list_for_each_entry_safe(c, tc, &e->conns, item)
		conn_free(e, c);
	rdsb_hash_free(&e->conns_by_addr);
}
