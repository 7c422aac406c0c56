// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engine's connection and path logic (user/engine/conn.c, send.c,
 * recv.c) without sockets, root or namespaces: a mock transport whose ops
 * record what the core asked of them, and the socket, address and epoll
 * functions replaced with -Wl,--wrap= mocks (Makefile: CONN_TEST_WRAPS).
 * Covered: connect, up, a drop that is only a mark until the shutdown runs,
 * the shutdown's requeue as RETRANSMITTED, retransmissions found after it
 * placed by number, the reconnect backoff, the
 * duplicate rule, a path stalled on a full socket, congestion maps and pings,
 * a path count that changes under unacked messages (new sends wait for
 * their acks), an idle connection that a peer connects to (not freed),
 * delivery acknowledgements (held past TCP's, sent, refused), and
 * (tcp_stream.c, on a socketpair) a stream that is read no further once its
 * path is marked, until the shutdown's drain.
 */
#include <endian.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "mock_engine.h"

/* ------------------------------------------------------------ mocks */

static struct rdsb_sock sock;		/* the one bound socket */
static bool sock_bound, sock_full;
static uint64_t delivered_seq[64];
static uint64_t delivered_sum[64];	/* FNV-1a of each payload */
static unsigned int ndelivered;
static unsigned int sent_calls;
static uint32_t sent_bytes;

bool __wrap_rdsb_hold_unbound(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m,
			      struct rdsb_port_hold *hold)
{
	(void)e, (void)p, (void)m, (void)hold;
	return false;	/* no rebind time here: dropped as for no socket */
}

bool __wrap_rdsb_hold_local(struct rdsb_engine *e, const uint8_t laddr[16], struct rdsb_msg *m)
{
	(void)e, (void)laddr, (void)m;
	return false;
}

/* nothing is held for a port here, so nothing is in the held log */
void __wrap_rdsb_heldlog_msg_free(struct rdsb_msg *m)
{
	(void)m;
	fail();
}

struct rdsb_port_hold *__wrap_rdsb_port_hold_find(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	(void)e, (void)addr, (void)port;
	return NULL;	/* no port held here */
}

bool __wrap_rdsb_port_hold_full(const struct rdsb_port_hold *h, uint32_t len)
{
	(void)h, (void)len;
	return false;
}

struct rdsb_sock *__wrap_rdsb_sock_by_port(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	(void)e;
	(void)addr;
	return sock_bound && port == sock.port ? &sock : NULL;
}

static uint64_t fnv(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

bool __wrap_rdsb_sock_deliver(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m, bool force)
{
	(void)e;
	(void)s;
	if (!force && sock_full)
		return false;
	if (ndelivered < 64) {
		delivered_seq[ndelivered] = m->seq;
		delivered_sum[ndelivered] = fnv(m->data, m->len);
	}
	ndelivered++;
	rdsb_msg_free(m);
	return true;
}

/* the one socket here writes each record as it comes: none waits */
struct rdsb_msg *__wrap_rdsb_rx_before(struct rdsb_engine *e, struct rdsb_msg *m, struct rdsb_sock *s)
{
	(void)e, (void)m, (void)s;
	return NULL;
}

void __wrap_rdsb_sock_req_done(struct rdsb_engine *e, struct rdsb_msg *m)
{
	(void)e;
	m->req_pending = false;
}

/* no socket's requests here: a message never has tx_sock */
void __wrap_rdsb_sock_req_acked(struct rdsb_msg *m)
{
	(void)m;
	fail();
}

void __wrap_rdsb_sock_req_numbered(const struct rdsb_path *p, const struct rdsb_msg *m)
{
	(void)p;
	(void)m;
}

void __wrap_rdsb_sock_sent(struct rdsb_engine *e, uint32_t sock_id, uint32_t len)
{
	(void)e;
	if (!sock_id)
		return;		/* the engine's own: pings, probes */
	sent_calls++;
	sent_bytes += len;
}

/* ------------------------------------------------------------ fixture */


static int setup(void **state)
{
	(void)state;
	mock_engine_init();
	memset(&sock, 0, sizeof(sock));
	INIT_LIST_HEAD(&sock.stalled);
	sock.id = 1;
	sock.port = 4000;
	sock_bound = true;
	sock_full = false;
	ndelivered = sent_calls = sent_bytes = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rdsb_conn_free_all(&eng);
	return 0;
}

/* A bound port whose messages the kernel's hash puts on path 0. */
static uint16_t port_on_path0(void)
{
	for (uint16_t p = 1000;; p++)
		if (rdsb_mpath_hash(p, eng.hash_initval, RDS_MPATH_WORKERS) == 0)
			return p;
}

static struct rdsb_msg *data_msg(uint16_t sport, uint32_t len)
{
	struct rdsb_msg *m = rdsb_msg_new(len);

	assert_non_null(m);
	m->sock_id = 1;
	m->sport = sport;
	m->dport = 4000;
	return m;
}

/* A (smaller) to B, path 0 up with its handshake done: one path. */
static struct rdsb_path *path0_up(struct rdsb_conn **cp)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, A, B, 0, true);
	struct rdsb_path *p;

	assert_non_null(c);
	p = &c->paths[0];
	rdsb_conn_want_path0(&eng, c);
	assert_int_equal(p->reconnect_at, eng.now);	/* the first attempt at once */
	{
		uint64_t next = UINT64_MAX;

		rdsb_conns_timer(&eng, &next);
	}
	assert_int_equal(tp.connects, 1);
	assert_int_equal(p->state, RDSB_PATH_CONNECTING);
	rdsb_path_up(&eng, p);
	assert_int_equal(p->state, RDSB_PATH_UP);
	assert_true(p->ev.events & EPOLLIN);
	c->npaths = 1;
	c->ping_at = 0;
	*cp = c;
	return p;
}

/* TCP acknowledged everything on p's unacked list */
static void ack_all(struct rdsb_path *p)
{
	tp.acked = list_entry(p->unacked.prev, struct rdsb_msg, item)->end_off;
	rdsb_path_check_acked(&eng, p);
}

/* ------------------------------------------------------------- tests */

static void test_conn_lookup(void **state)
{
	struct rdsb_conn *ab, *ba;

	(void)state;
	assert_null(rdsb_conn_get(&eng, A, B, 0, false));
	ab = rdsb_conn_get(&eng, A, B, 0, true);
	ba = rdsb_conn_get(&eng, B, A, 0, true);
	assert_non_null(ab);
	assert_non_null(ba);
	assert_ptr_not_equal(ab, ba);
	assert_ptr_equal(rdsb_conn_get(&eng, A, B, 0, false), ab);
	assert_ptr_equal(rdsb_conn_get(&eng, B, A, 0, true), ba);
	assert_int_equal(eng.conns_by_addr.count, 2);
	assert_int_equal(ab->lslot, 1);
	assert_int_equal(ab->fslot, 2);
}

static void test_up_sends_map_then_probe(void **state)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, A, B, 0, true);
	struct rdsb_path *p = &c->paths[0];
	struct rdsb_msg *m;

	(void)state;
	rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 10));	/* queued while down */
	assert_int_equal(list_count(&p->send_q), 1);
	assert_int_equal(p->reconnect_at, eng.now);
	rdsb_path_connect(&eng, p);
	rdsb_path_up(&eng, p);
	assert_int_equal(tp.ups, 1);
	/* the congestion map went first and is freed once written; the
	 * datagram (seq 1) and the probe (seq 2) wait for their acks */
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], 1);
	assert_int_equal(eng.counters[RDSB_C_PROBES], 1);
	assert_int_equal(p->nunacked, 2);
	m = list_first_entry(&p->unacked, struct rdsb_msg, item);
	assert_int_equal(m->seq, 1);
	assert_int_equal(m->len, 10);
	assert_int_equal(m->end_off, 2 * RDS_HEADER_SIZE + RDS_CONG_MAP_BYTES + 10);
	m = list_entry(m->item.next, struct rdsb_msg, item);
	assert_int_equal(m->seq, 2);
	assert_int_equal(m->sport, RDS_FLAG_PROBE_PORT);
	/* acks free exactly what they cover */
	tp.acked = 2 * RDS_HEADER_SIZE + RDS_CONG_MAP_BYTES + 10;
	rdsb_path_check_acked(&eng, p);
	assert_int_equal(p->nunacked, 1);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_bytes, 10);
}

static void test_drop_is_a_mark_until_shutdown(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	unsigned int xmits;

	(void)state;
	rdsb_path_drop(&eng, p, "test");
	assert_int_equal(p->state, RDSB_PATH_ERROR);
	assert_string_equal(p->drop_why, "test");
	assert_true(p->ev.fd >= 0);		/* not shut down yet */
	assert_int_equal(tp.downs + tp.shutdowns, 0);
	/* nothing is written on a marked path */
	xmits = tp.xmits;
	rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 5));
	assert_int_equal(tp.xmits, xmits);
	assert_int_equal(list_count(&p->send_q), 1);
	/* marking twice queues it once */
	rdsb_path_drop(&eng, p, "again");
	assert_int_equal(list_count(&eng.dropped), 1);
	assert_string_equal(p->drop_why, "test");

	assert_true(rdsb_paths_shutdown(&eng));
	assert_int_equal(tp.recvs, 1);		/* drained: what TCP acknowledged to the peer */
	assert_int_equal(tp.downs, 1);
	assert_int_equal(tp.shutdowns, 1);
	assert_false(tp.last_reset);
	assert_int_equal(tp.changed, 1);
	assert_int_equal(p->state, RDSB_PATH_DOWN);
	assert_null(p->drop_why);
	assert_int_equal(p->ev.fd, -1);
	assert_int_equal(p->reconnects, 1);
	assert_int_equal(eng.counters[RDSB_C_PATH_DOWN], 1);
	/* path_up reset the backoff: the reconnect is at once */
	assert_int_equal(p->reconnect_at, eng.now);
	assert_false(rdsb_paths_shutdown(&eng));
	/* a path with no socket is not marked */
	rdsb_path_drop(&eng, p, "no socket");
	assert_null(p->drop_why);
	assert_true(list_empty(&eng.dropped));
}

/* In an event batch a path is written once a write's worth (256 KiB) is
 * due, else at the batch's end: four 64 KiB datagrams in one write. */
static void test_batch_writes_a_writes_worth(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	unsigned int xmits = tp.xmits, unacked = p->nunacked;

	(void)state;
	eng.batching = true;
	for (int i = 0; i < 3; i++)
		assert_true(rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 65536)));
	assert_int_equal(tp.xmits, xmits);
	assert_int_equal(list_count(&p->send_q), 3);
	assert_true(rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 65536)));
	assert_int_equal(tp.xmits, xmits + 1);
	assert_true(list_empty(&p->send_q));
	assert_int_equal(p->nunacked, unacked + 4);
	/* less than that waits for the batch's end */
	assert_true(rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 100)));
	assert_int_equal(tp.xmits, xmits + 1);
	eng.batching = false;
	rdsb_paths_xmit_due(&eng);
	assert_int_equal(tp.xmits, xmits + 2);
	assert_int_equal(p->nunacked, unacked + 5);
}

static void test_reset_reads_nothing(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);

	(void)state;
	rdsb_path_reset(&eng, p, "malformed record");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(tp.recvs, 0);
	assert_true(tp.last_reset);
	assert_int_equal(eng.counters[RDSB_C_PATH_DOWN], 1);
}

static void test_shutdown_requeues_unacked_as_retransmitted(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	uint16_t sport = port_on_path0();
	struct rdsb_msg *m, *head;
	uint64_t seqs[8] = { 0 };
	unsigned int n = 0;

	(void)state;
	/* the probe (seq 1) and three datagrams go out: 2, 3, 4 */
	for (int i = 0; i < 3; i++)
		rdsb_conn_queue(&eng, c, data_msg(sport, 100));
	assert_int_equal(p->nunacked, 4);
	/* the peer acknowledged up to the end of seq 2 */
	m = list_entry(p->unacked.next->next, struct rdsb_msg, item);
	assert_int_equal(m->seq, 2);
	tp.acked = m->end_off;
	/* seq 5 is half written, seq 6 not started */
	head = data_msg(sport, 100);
	head->seq = p->next_tx_seq++;
	list_add_tail(&head->item, &p->send_q);
	p->head_off = 20;
	m = data_msg(sport, 100);
	m->seq = p->next_tx_seq++;
	list_add_tail(&m->item, &p->send_q);

	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(p->nunacked, 0);
	assert_int_equal(p->head_off, 0);
	assert_int_equal(sent_calls, 1);	/* seq 2 acknowledged and freed (seq 1 is the probe) */
	list_for_each_entry(m, &p->send_q, item) {
		if (n < 8)
			seqs[n] = m->seq;
		/* what may have reached the wire is RETRANSMITTED, the rest not */
		assert_int_equal(!!(m->flags & RDS_FLAG_RETRANSMITTED), m->seq <= 5);
		n++;
	}
	/* in order: the unacknowledged, the half-written head, the rest */
	assert_int_equal(n, 4);
	assert_int_equal(seqs[0], 3);
	assert_int_equal(seqs[1], 4);
	assert_int_equal(seqs[2], 5);
	assert_int_equal(seqs[3], 6);
	assert_int_equal(eng.counters[RDSB_C_TX_RETRANSMITTED], 3);
}

/* Seq order of p's queue: 0 for a control message (unnumbered) */
static unsigned int queue_seqs(struct rdsb_path *p, uint64_t *seqs, unsigned int max)
{
	struct rdsb_msg *m;
	unsigned int n = 0;

	list_for_each_entry(m, &p->send_q, item)
		if (n < max)
			seqs[n++] = rdsb_msg_control(m) ? UINT64_MAX : m->seq;
	return n;
}

/* A copy of a datagram the sk_msg path wrote on the socket before, read
 * after the shutdown requeued the rest, and a datagram the engine before
 * numbered: each takes its place by number, past the delivery ack queued
 * ahead of the retransmissions, and ahead of a message numbered only when
 * written. Ahead of lower numbers (as the copy went behind an ack), the
 * peer took it and then dropped the lower ones as duplicates: lost. */
static void test_late_retransmissions_keep_number_order(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	uint16_t sport = port_on_path0();
	struct rdsb_msg *m, *ack, *late, *re;
	uint64_t seqs[12];

	(void)state;
	/* the probe (seq 1) and 2, 3, 4 out; the path goes down under them */
	for (int i = 0; i < 3; i++)
		rdsb_conn_queue(&eng, c, data_msg(sport, 100));
	tp.xmit_full = true;
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	rdsb_path_up(&eng, p);
	/* ahead of the queue: a delivery ack; at its end: a datagram the
	 * engine numbers when it writes it */
	ack = rdsb_msg_new(sizeof(uint64_t));
	assert_non_null(ack);
	ack->deliv_ack = true;
	list_add(&ack->item, &p->send_q);
	eng.number_at_xmit = true;
	m = data_msg(sport, 100);
	rdsb_path_queue(&eng, p, m);
	assert_int_equal(m->seq, 0);
	/* the map the path's coming up queued, the ack, 1 to 4, the new one */
	assert_int_equal(queue_seqs(p, seqs, 12), 7);

	/* 5 and 6 numbered by sk_msg senders, 7 by the engine before: the
	 * path's count is past them (tcp_skmsg_path_down, seqstate.c) */
	p->next_tx_seq = 8;
	late = data_msg(sport, 100);
	late->seq = 6;
	rdsb_path_retransmit_late(&eng, p, late);
	assert_true(late->flags & RDS_FLAG_RETRANSMITTED);
	late = data_msg(sport, 100);
	late->seq = 5;
	rdsb_path_retransmit_late(&eng, p, late);
	re = data_msg(sport, 100);
	re->seq = 7;
	re->flags = RDS_FLAG_RETRANSMITTED;
	rdsb_conn_resend(&eng, p, re);
	assert_int_equal(queue_seqs(p, seqs, 12), 10);
	assert_int_equal(seqs[0], UINT64_MAX);
	assert_int_equal(seqs[1], UINT64_MAX);
	for (unsigned int i = 2; i < 9; i++)
		assert_int_equal(seqs[i], i - 1);	/* 1 to 7 */
	assert_int_equal(seqs[9], 0);

	/* written in that order, the new one numbered above them all */
	tp.xmit_full = false;
	rdsb_path_xmit(&eng, p);
	assert_true(list_empty(&p->send_q));
	assert_int_equal(m->seq, 8);
}

static void test_reconnect_backoff(void **state)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, A, B, 0, true);
	struct rdsb_path *p = &c->paths[0];
	uint64_t bound = NSEC_PER_MSEC;

	(void)state;
	tp.connect_fails = true;
	rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 1));
	assert_int_equal(p->reconnect_at, eng.now);
	assert_int_equal(p->reconnect_delay, NSEC_PER_MSEC);
	for (int i = 0; i < 14; i++) {
		rdsb_path_connect(&eng, p);
		/* a random delay below a bound that doubles up to one second */
		assert_true(p->reconnect_at >= eng.now);
		assert_true(p->reconnect_at < eng.now + bound);
		bound = bound * 2 > 1000 * NSEC_PER_MSEC ? 1000 * NSEC_PER_MSEC : bound * 2;
		assert_int_equal(p->reconnect_delay, bound);
	}
	assert_int_equal(tp.connects, 14);
	assert_int_equal(p->reconnect_delay, 1000 * NSEC_PER_MSEC);
}

static void test_larger_address_waits(void **state)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, B, A, 0, true);

	(void)state;
	/* the larger address pokes path 0 only with something to send */
	rdsb_conn_want_path0(&eng, c);
	assert_int_equal(c->paths[0].reconnect_at, 0);
	rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 1));
	assert_int_equal(c->paths[0].reconnect_at, eng.now);
}

/* A connection idle for a while that a peer connects to (the IB
 * transport's accept: path 0 connecting, nothing queued yet) is not freed
 * under the handshake: that tore down a just-accepted queue pair. */
static void test_connecting_conn_is_not_idle(void **state)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, B, A, 0, true);
	struct rdsb_path *p = &c->paths[0];
	uint64_t next = UINT64_MAX;

	(void)state;
	rdsb_conns_timer(&eng, &next);		/* idle from now */
	eng.now += 9000 * NSEC_PER_MSEC;
	rdsb_conns_timer(&eng, &next);
	assert_ptr_equal(rdsb_conn_get(&eng, B, A, 0, false), c);
	rdsb_path_connecting(&eng, p, FAKE_FD, 0);
	p->outgoing = false;
	eng.now += 2000 * NSEC_PER_MSEC;
	rdsb_conns_timer(&eng, &next);
	assert_ptr_equal(rdsb_conn_get(&eng, B, A, 0, false), c);
	assert_int_equal(p->state, RDSB_PATH_CONNECTING);
	assert_int_equal(tp.shutdowns, 0);
	/* a handshake that fails: idle again, from then on */
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	rdsb_conns_timer(&eng, &next);
	eng.now += 9000 * NSEC_PER_MSEC;
	rdsb_conns_timer(&eng, &next);
	assert_ptr_equal(rdsb_conn_get(&eng, B, A, 0, false), c);
	eng.now += 2000 * NSEC_PER_MSEC;
	rdsb_conns_timer(&eng, &next);
	assert_null(rdsb_conn_get(&eng, B, A, 0, false));
	/* our own connects, with nothing to send, hold no connection: a
	 * peer that went away is forgotten while we retry it */
	c = rdsb_conn_get(&eng, B, A, 0, true);
	rdsb_path_connecting(&eng, &c->paths[0], FAKE_FD, 0);
	rdsb_conns_timer(&eng, &next);
	eng.now += 11000 * NSEC_PER_MSEC;
	rdsb_conns_timer(&eng, &next);
	assert_null(rdsb_conn_get(&eng, B, A, 0, false));
}

static bool recv_one(struct rdsb_path *p, uint64_t seq, uint8_t flags, uint16_t sport, uint16_t dport)
{
	struct rdsb_hdr h = { .seq = seq, .flags = flags, .sport = sport, .dport = dport, .len = 4 };
	struct rdsb_msg *m = rdsb_msg_new(4);

	assert_non_null(m);
	return rdsb_recv_msg(&eng, p, &h, m);
}

static void test_duplicate_rule(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);

	(void)state;
	assert_true(recv_one(p, 1, 0, 5000, 4000));
	assert_true(recv_one(p, 2, 0, 5000, 4000));
	assert_true(recv_one(p, 3, 0, 5000, 4000));
	/* a RETRANSMITTED copy below next_rx_seq is a duplicate */
	assert_true(recv_one(p, 2, RDS_FLAG_RETRANSMITTED, 5000, 4000));
	assert_int_equal(eng.counters[RDSB_C_DROP_DUP_SEQ], 1);
	/* a lower seq without the flag is taken and rewinds next_rx_seq */
	assert_true(recv_one(p, 2, 0, 5000, 4000));
	assert_int_equal(p->next_rx_seq, 3);
	/* so seq 3 RETRANSMITTED is taken again */
	assert_true(recv_one(p, 3, RDS_FLAG_RETRANSMITTED, 5000, 4000));
	assert_int_equal(eng.counters[RDSB_C_DROP_DUP_SEQ], 1);
	assert_int_equal(ndelivered, 5);
	assert_int_equal(delivered_seq[3], 2);
	assert_int_equal(delivered_seq[4], 3);
	assert_int_equal(eng.counters[RDSB_C_RX_MSGS], 6);
	/* no socket on the port: counted */
	assert_true(recv_one(p, 4, 0, 5000, 4001));
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 1);
}

static void test_stall_and_resume(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);

	(void)state;
	sock_full = true;
	assert_false(recv_one(p, 1, 0, 5000, 4000));
	assert_non_null(p->rx_stalled);
	assert_int_equal(list_count(&sock.stalled), 1);
	assert_false(p->ev.events & EPOLLIN);		/* not read while stalled */
	sock_full = false;
	rdsb_path_rx_resume(&eng, &sock);
	assert_true(list_empty(&sock.stalled));
	assert_int_equal(ndelivered, 0);		/* only after the batch */
	assert_true(rdsb_paths_resume(&eng));
	assert_int_equal(ndelivered, 1);
	assert_null(p->rx_stalled);
	assert_true(p->ev.events & EPOLLIN);
	assert_int_equal(tp.recvs, 1);			/* and read on */
	assert_false(rdsb_paths_resume(&eng));

	/* a path that goes down while stalled delivers what it holds */
	sock_full = true;
	assert_false(recv_one(p, 2, 0, 5000, 4000));
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(ndelivered, 2);
	assert_int_equal(delivered_seq[1], 2);
	assert_true(list_empty(&sock.stalled));
}

static void test_cong_map_and_pings(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	struct rdsb_hdr h = { .flags = RDS_FLAG_CONG_BITMAP, .len = RDS_CONG_MAP_BYTES };
	struct rdsb_msg *map = rdsb_msg_new(RDS_CONG_MAP_BYTES);
	unsigned int nunacked = p->nunacked;

	(void)state;
	assert_non_null(map);
	memset(map->data, 0, RDS_CONG_MAP_BYTES);
	rdsb_cong_set(map->data, 5001);
	assert_true(rdsb_recv_msg(&eng, p, &h, map));
	assert_int_equal(cong_applied, 1);
	assert_true(rdsb_cong_test(cong[c->fslot].bits, 5001));
	/* a ping from a port that is not congested is answered from port 0 */
	assert_true(recv_one(p, 1, 0, 5000, 0));
	assert_int_equal(eng.counters[RDSB_C_PINGS_ANSWERED], 1);
	assert_int_equal(p->nunacked, nunacked + 1);
	/* one from a congested port is not */
	assert_true(recv_one(p, 2, 0, 5001, 0));
	assert_int_equal(eng.counters[RDSB_C_PINGS_ANSWERED], 1);
	assert_int_equal(p->nunacked, nunacked + 1);
	assert_int_equal(ndelivered, 0);
}

/* A late pong raises a settled path count (one path, after unanswered
 * probes, then NPATHS 8): a port that moves off path 0 sends nothing on its
 * new path until what it sent on path 0 is acked, or the peer could deliver
 * its next datagram before those. */
static void test_late_path_count_keeps_port_order(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *to;
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };
	uint16_t sport = 1000;

	(void)state;
	while (rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS) == 0)
		sport++;
	to = &c->paths[rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS)];
	/* on the one path: the probe, then two datagrams, unacked */
	rdsb_conn_queue(&eng, c, data_msg(sport, 100));
	rdsb_conn_queue(&eng, c, data_msg(sport, 100));
	assert_int_equal(p->nunacked, 3);

	rdsb_hs_encode(pong.exthdr, RDS_MPATH_WORKERS, 9, 0);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(c->npaths, RDS_MPATH_WORKERS);
	/* the next one waits */
	rdsb_conn_queue(&eng, c, data_msg(sport, 50));
	assert_int_equal(list_count(&c->pending), 1);
	assert_true(list_empty(&to->send_q));
	{
		uint64_t next = UINT64_MAX;

		rdsb_conns_timer(&eng, &next);
	}
	assert_int_equal(list_count(&c->pending), 1);
	/* path 0 acked: it goes to its path */
	ack_all(p);
	assert_int_equal(p->nunacked, 0);
	{
		uint64_t next = UINT64_MAX;

		rdsb_conns_timer(&eng, &next);
	}
	assert_true(list_empty(&c->pending));
	assert_int_equal(list_count(&to->send_q), 1);
	assert_int_equal(list_first_entry(&to->send_q, struct rdsb_msg, item)->len, 50);
	/* and with nothing unacked, the next goes at once */
	rdsb_conn_queue(&eng, c, data_msg(sport, 60));
	assert_true(list_empty(&c->pending));
	assert_int_equal(list_count(&to->send_q), 2);
}

/* The same when what the port sent on path 0 went out without the core (the
 * sk_msg path's sends): the transport hands it over as the count changes,
 * and the port's next datagram waits for its acknowledgement too. */
static void test_late_path_count_waits_for_transport_sends(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *to;
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };
	struct rdsb_msg *past;
	unsigned int moving = tp.moving;
	uint16_t sport = 1000;
	uint64_t next = UINT64_MAX;

	(void)state;
	while (rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS) == 0)
		sport++;
	to = &c->paths[rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS)];
	/* the probe acked: nothing of the core's own is left on path 0 */
	ack_all(p);
	assert_int_equal(p->nunacked, 0);
	past = data_msg(sport, 100);
	past->end_off = tp.acked + RDS_HEADER_SIZE + 100;
	tp.sent_past = past;

	rdsb_hs_encode(pong.exthdr, RDS_MPATH_WORKERS, 9, 0);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(tp.moving, moving + 1);
	assert_true(c->moving);
	rdsb_conn_queue(&eng, c, data_msg(sport, 50));
	assert_int_equal(list_count(&c->pending), 1);
	assert_true(list_empty(&to->send_q));
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(list_count(&c->pending), 1);
	tp.acked = past->end_off;
	rdsb_path_check_acked(&eng, p);
	rdsb_conns_timer(&eng, &next);
	assert_false(c->moving);
	assert_true(list_empty(&c->pending));
	assert_int_equal(list_count(&to->send_q), 1);
	/* a count that does not change is no move */
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(tp.moving, moving + 1);
}

/* A count that shrinks (8 paths, then a peer's pong with 2, announcing
 * deliv), with a retransmission (number 1) of a port on path 5, not up,
 * and three new datagrams of that port queued there behind it. */
static struct rdsb_path *shrink_with_stranded(struct rdsb_conn **cp, bool connecting, uint8_t deliv,
					      struct rdsb_path **to, struct rdsb_msg **re)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *from;
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };
	uint16_t sport = 1000;

	ack_all(p);
	rdsb_hs_encode(pong.exthdr, RDS_MPATH_WORKERS, 9, deliv);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(c->npaths, RDS_MPATH_WORKERS);
	assert_false(c->moving);
	while (rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS) != 5)
		sport++;
	from = &c->paths[5];
	*to = &c->paths[rdsb_mpath_hash(sport, eng.hash_initval, 2)];
	/* the smaller address opens the other paths: path 5's connect is
	 * under way, or waits for its next attempt */
	if (connecting)
		rdsb_path_connecting(&eng, from, FAKE_FD + 5, EPOLLOUT);
	*re = data_msg(sport, 5);
	(*re)->flags |= RDS_FLAG_RETRANSMITTED;
	(*re)->seq = from->next_tx_seq++;
	list_add_tail(&(*re)->item, &from->send_q);
	rdsb_conn_queue(&eng, c, data_msg(sport, 10));
	rdsb_conn_queue(&eng, c, data_msg(sport, 20));
	rdsb_conn_queue(&eng, c, data_msg(sport, 30));
	assert_int_equal(list_count(&from->send_q), 4);

	rdsb_hs_encode(pong.exthdr, 2, 9, deliv);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(c->npaths, 2);
	*cp = c;
	return from;
}

/* The new datagrams went to their new path, in order, renumbered there
 * (path 0 is up and writes them, path 1 waits). */
static void assert_moved_in_order(struct rdsb_path *to)
{
	struct rdsb_conn *c = to->conn;
	struct rdsb_msg *m;
	uint32_t want = 10;
	uint64_t seq = 0;
	uint64_t next = UINT64_MAX;

	rdsb_conns_timer(&eng, &next);
	assert_false(c->moving);
	assert_true(list_empty(&c->pending));
	list_for_each_entry(m, to->index == 0 ? &to->unacked : &to->send_q, item) {
		if (m->cong_map || !m->len)
			continue;
		assert_int_equal(m->len, want);
		assert_true(m->seq > seq);
		assert_false(m->flags & RDS_FLAG_RETRANSMITTED);
		seq = m->seq;
		want += 10;
	}
	assert_int_equal(want, 40);
}

/* p connects again (at its next attempt, if it is down) and sends re
 * first, with its number, marked retransmitted */
static void resends_on_its_path(struct rdsb_path *p, struct rdsb_msg *re)
{
	uint64_t next = UINT64_MAX;

	assert_ptr_equal(list_first_entry(&p->send_q, struct rdsb_msg, item), re);
	if (p->state == RDSB_PATH_DOWN) {
		assert_true(p->reconnect_at);
		eng.now = p->reconnect_at;
		rdsb_conns_timer(&eng, &next);
	}
	assert_int_equal(p->state, RDSB_PATH_CONNECTING);
	rdsb_path_up(&eng, p);
	assert_ptr_equal(list_entry(p->unacked.prev, struct rdsb_msg, item), re);
	assert_true(re->wire.h_flags & RDS_FLAG_RETRANSMITTED);
}

/* The retransmission stays on path 5, which connects again to drain it
 * (the peer pairs the lane by its name): it goes with its number, marked,
 * so that the peer's duplicate rule on path 5 decides; the port's new
 * datagrams wait until it is acked, then go in order on their new path. */
static void drains_on_its_path(bool connecting)
{
	struct rdsb_conn *c, *peer;
	struct rdsb_path *to, *from;
	struct rdsb_msg *re;
	uint64_t next = UINT64_MAX;

	from = shrink_with_stranded(&c, connecting, RDSB_DELIV_LANES_NAMED, &to, &re);

	assert_true(c->moving);
	assert_int_equal(list_count(&c->pending), 3);
	assert_int_equal(list_count(&from->send_q), 1);
	resends_on_its_path(from, re);
	assert_int_equal(re->seq, 1);
	rdsb_conns_timer(&eng, &next);
	assert_true(c->moving);
	assert_int_equal(sent_calls, 0);

	/* the peer's path 5 has number 1: dropped; had it not: delivered once */
	peer = rdsb_conn_get(&eng, B, A, 0, true);
	peer->paths[5].next_rx_seq = 2;
	assert_true(recv_one(&peer->paths[5], re->seq, RDS_FLAG_RETRANSMITTED, re->sport, re->dport));
	assert_int_equal(ndelivered, 0);
	assert_int_equal(eng.counters[RDSB_C_DROP_DUP_SEQ], 1);
	peer->paths[5].next_rx_seq = 1;
	assert_true(recv_one(&peer->paths[5], re->seq, RDS_FLAG_RETRANSMITTED, re->sport, re->dport));
	assert_int_equal(ndelivered, 1);

	tp.acked = re->end_off;
	rdsb_path_check_acked(&eng, from);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_bytes, 5);
	assert_moved_in_order(to);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(eng.counters[RDSB_C_DROP_STRANDED], 0);
}

static void test_shrinking_path_count_drains_down_path(void **state)
{
	(void)state;
	drains_on_its_path(false);
}

static void test_shrinking_path_count_drains_connecting_path(void **state)
{
	(void)state;
	drains_on_its_path(true);
}

/* A path above the count that was up when the count shrank sends what it
 * has; gone down with it unacknowledged, it connects again to drain it
 * (its port's new datagram waits for it), and not once that is acked. */
static void test_path_above_count_goes_down_and_drains(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *from, *to;
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };
	struct rdsb_msg *re = NULL, *m;
	uint16_t sport = 1000;
	uint64_t next = UINT64_MAX;

	(void)state;
	ack_all(p);
	rdsb_hs_encode(pong.exthdr, RDS_MPATH_WORKERS, 9, RDSB_DELIV_LANES_NAMED);
	rdsb_conn_handshake(&eng, p, &pong);
	while (rdsb_mpath_hash(sport, eng.hash_initval, RDS_MPATH_WORKERS) != 5)
		sport++;
	from = &c->paths[5];
	to = &c->paths[rdsb_mpath_hash(sport, eng.hash_initval, 2)];
	from->reconnect_at = 0;
	rdsb_path_connecting(&eng, from, FAKE_FD + 5, EPOLLOUT);
	rdsb_path_up(&eng, from);
	rdsb_conn_queue(&eng, c, data_msg(sport, 5));
	list_for_each_entry(m, &from->unacked, item)
		if (m->len == 5)
			re = m;
	assert_non_null(re);

	rdsb_hs_encode(pong.exthdr, 2, 9, RDSB_DELIV_LANES_NAMED);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_int_equal(from->state, RDSB_PATH_UP);
	assert_true(c->moving);
	rdsb_conn_queue(&eng, c, data_msg(sport, 10));
	assert_int_equal(list_count(&c->pending), 1);

	rdsb_path_drop(&eng, from, "test");
	rdsb_paths_shutdown(&eng);
	resends_on_its_path(from, re);
	assert_int_equal(list_count(&c->pending), 1);
	tp.acked = re->end_off;
	rdsb_path_check_acked(&eng, from);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_bytes, 5);
	rdsb_conns_timer(&eng, &next);
	assert_false(c->moving);
	assert_true(list_empty(&c->pending));
	m = list_entry((to->index == 0 ? &to->unacked : &to->send_q)->prev, struct rdsb_msg, item);
	assert_int_equal(m->len, 10);
	/* drained: down again, it stays down */
	rdsb_path_drop(&eng, from, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(from->reconnect_at, 0);
	assert_int_equal(eng.counters[RDSB_C_DROP_STRANDED], 0);
}

/* A peer that pairs no lane above its count by name (a kernel, an older
 * rds-bpf) cannot be asked whether it has the retransmission: it is
 * dropped and counted, its sender's space released, and path 5 is not
 * connected again; a connect under way is dropped before it comes up. */
static void dropped_for_want_of_its_path(struct rdsb_conn *c, struct rdsb_path *from, struct rdsb_path *to)
{
	uint64_t next = UINT64_MAX;

	assert_true(list_empty(&from->send_q));
	assert_int_equal(eng.counters[RDSB_C_DROP_STRANDED], 1);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_bytes, 5);
	rdsb_paths_shutdown(&eng);
	assert_int_equal(from->state, RDSB_PATH_DOWN);
	assert_int_equal(from->ev.fd, -1);
	assert_int_equal(from->reconnect_at, 0);
	rdsb_conns_timer(&eng, &next);
	assert_false(c->moving);
	assert_moved_in_order(to);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(ndelivered, 0);
}

static void test_shrinking_path_count_drops_down_path(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *to, *from;
	struct rdsb_msg *re;

	(void)state;
	from = shrink_with_stranded(&c, false, 0, &to, &re);
	assert_int_equal(from->state, RDSB_PATH_DOWN);
	dropped_for_want_of_its_path(c, from, to);
}

static void test_shrinking_path_count_drops_connecting_path(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *to, *from;
	struct rdsb_msg *re;
	unsigned int shutdowns = tp.shutdowns;

	(void)state;
	from = shrink_with_stranded(&c, true, 0, &to, &re);
	assert_int_equal(from->state, RDSB_PATH_ERROR);
	dropped_for_want_of_its_path(c, from, to);
	assert_int_equal(tp.shutdowns, shutdowns + 1);
}

/* Records on the wire: header and payload. */
static size_t put_record(uint8_t *buf, uint64_t seq, uint16_t sport, uint16_t dport, uint32_t len)
{
	struct rdsb_hdr h = { .seq = seq, .sport = sport, .dport = dport, .len = len };

	rdsb_hdr_encode(&h, (struct rds_header *)buf);
	memset(buf + RDS_HEADER_SIZE, 0xab, len);
	return RDS_HEADER_SIZE + len;
}

/* Path 0 up on one end of a socketpair; the peer's end in *peer. */
static struct rdsb_path *stream_path(int *peer)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	p->ev.fd = sv[0];
	*peer = sv[1];
	tp.stream = true;
	return p;
}

static void test_stream_stops_at_the_mark(void **state)
{
	uint8_t buf[4 * (RDS_HEADER_SIZE + 16)];
	size_t n = 0;
	int peer;
	struct rdsb_path *p = stream_path(&peer);
	struct rdsb_msg *m;

	(void)state;
	n += put_record(buf + n, 1, 5000, 4000, 16);
	n += put_record(buf + n, 2, 5000, 0, 0);	/* a ping: answering it fails */
	n += put_record(buf + n, 3, 5000, 4000, 16);
	assert_int_equal(write(peer, buf, n), (ssize_t)n);
	tp.xmit_fails = true;
	t_recv(&eng, p);
	/* the write error marked the path: the record after the ping waits */
	assert_int_equal(p->state, RDSB_PATH_ERROR);
	assert_int_equal(ndelivered, 1);
	assert_int_equal(tp.shutdowns, 0);
	/* more bytes come; a marked path is not read */
	n = put_record(buf, 4, 5000, 4000, 16);
	assert_int_equal(write(peer, buf, n), (ssize_t)n);
	t_recv(&eng, p);
	assert_int_equal(ndelivered, 1);
	/* its shutdown reads everything that arrived, in order */
	rdsb_paths_shutdown(&eng);
	assert_int_equal(ndelivered, 3);
	assert_int_equal(delivered_seq[0], 1);
	assert_int_equal(delivered_seq[1], 3);
	assert_int_equal(delivered_seq[2], 4);
	assert_int_equal(p->next_rx_seq, 5);
	assert_false(tp.last_reset);
	/* the probe, unacknowledged, goes again; the ping's answer, never
	 * written, waits behind it for the next socket */
	assert_int_equal(list_count(&p->send_q), 2);
	m = list_first_entry(&p->send_q, struct rdsb_msg, item);
	assert_int_equal(m->sport, RDS_FLAG_PROBE_PORT);
	assert_true(m->flags & RDS_FLAG_RETRANSMITTED);
	m = list_entry(m->item.next, struct rdsb_msg, item);
	assert_int_equal(m->dport, 5000);
	assert_false(m->flags & RDS_FLAG_RETRANSMITTED);
	close(peer);
}

static void test_stream_malformed_is_reset_unread(void **state)
{
	uint8_t buf[3 * (RDS_HEADER_SIZE + 16)];
	struct rdsb_hdr bad = { .seq = 2, .sport = 5000, .dport = 4000, .len = 0x7fffffff };
	size_t n = 0;
	int peer;
	struct rdsb_path *p = stream_path(&peer);

	(void)state;
	n += put_record(buf + n, 1, 5000, 4000, 16);
	rdsb_hdr_encode(&bad, (struct rds_header *)(buf + n));
	n += RDS_HEADER_SIZE;
	n += put_record(buf + n, 3, 5000, 4000, 16);
	assert_int_equal(write(peer, buf, n), (ssize_t)n);
	t_recv(&eng, p);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_LEN], 1);
	rdsb_paths_shutdown(&eng);
	assert_int_equal(ndelivered, 1);	/* nothing after the bad header */
	assert_int_equal(tp.recvs, 1);		/* the shutdown did not read */
	assert_true(tp.last_reset);
	close(peer);
}

/* Payloads of 64 KiB and more are read from the socket straight into the
 * message; whatever the pieces the stream comes in, each record arrives
 * whole, with its own bytes, and the next header is found after it. */
static void test_stream_large_records_whole(void **state)
{
	static const uint32_t lens[] = { 1 << 20, 70000, 16, 65536, 0, 1 << 20 };
	enum { NREC = sizeof(lens) / sizeof(lens[0]) };
	uint64_t sums[NREC];
	size_t total = 0, n = 0, sent = 0, piece = 1;
	uint8_t *buf;
	int peer;
	struct rdsb_path *p = stream_path(&peer);

	(void)state;
	for (unsigned int i = 0; i < NREC; i++)
		total += RDS_HEADER_SIZE + lens[i];
	buf = malloc(total);
	assert_non_null(buf);
	for (unsigned int i = 0; i < NREC; i++) {
		n += put_record(buf + n, i + 1, 5000, 4000, lens[i]);
		for (uint32_t j = 0; j < lens[i]; j++)
			buf[n - lens[i] + j] = (uint8_t)(j * 7 + i);
		sums[i] = fnv(buf + n - lens[i], lens[i]);
	}
	/* pieces of 1, 37, 1369, ... bytes: header and payload split anywhere */
	while (sent < total) {
		size_t k = total - sent < piece ? total - sent : piece;
		ssize_t w = write(peer, buf + sent, k);

		assert_true(w > 0);
		sent += (size_t)w;
		t_recv(&eng, p);
		piece = piece * 37 % 300007 + 1;
	}
	assert_int_equal(ndelivered, NREC);
	for (unsigned int i = 0; i < NREC; i++) {
		assert_int_equal(delivered_seq[i], i + 1);
		assert_true(delivered_sum[i] == sums[i]);
	}
	assert_int_equal(p->next_rx_seq, NREC + 1);
	free(buf);
	close(peer);
}

/* A delivery acknowledgement, as the peer's engine sends it */
static void recv_deliv_ack(struct rdsb_path *p, uint64_t seq, uint32_t len)
{
	struct rdsb_hdr h = { .flags = RDSB_FLAG_DELIV_ACK, .len = len };
	struct rdsb_msg *m = rdsb_msg_new(len);
	uint64_t be = htobe64(seq);

	assert_non_null(m);
	memcpy(m->data, &be, len < sizeof(be) ? len : sizeof(be));
	assert_true(rdsb_recv_msg(&eng, p, &h, m));
}

/* path 0 up, both ends announcing delivery acknowledgements */
static struct rdsb_path *path0_deliv_up(struct rdsb_conn **cp)
{
	struct rdsb_path *p = path0_up(cp);
	struct rdsb_hdr probe = { .sport = RDS_FLAG_PROBE_PORT, .dport = 0 };

	eng.deliv = RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS;
	rdsb_hs_encode(probe.exthdr, 1, 9, RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS);
	rdsb_conn_handshake(&eng, p, &probe);
	assert_true((*cp)->deliv_hold && (*cp)->deliv_send);
	return p;
}

/* Both ends announce delivery acknowledgements (their probes' RDSB_EXTHDR_
 * DELIV): what TCP acknowledged stays until the peer acknowledges its
 * delivery, and goes again after a reconnect, while its sender has its send
 * space back at TCP's acknowledgement, once; an acknowledgement past what
 * was numbered, or of the wrong length, is counted and changes nothing. */
static void test_deliv_ack_holds_past_tcp(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_deliv_up(&c);
	uint16_t sport = port_on_path0();
	struct rdsb_msg *m;

	(void)state;
	/* the probe (seq 1) and three datagrams: 2, 3, 4, all acknowledged by TCP */
	for (int i = 0; i < 3; i++)
		rdsb_conn_queue(&eng, c, data_msg(sport, 100));
	ack_all(p);
	assert_int_equal(p->nunacked, 4);
	assert_int_equal(sent_calls, 3);
	/* the peer has 1 and 2 in its streams */
	recv_deliv_ack(p, 2, 8);
	assert_int_equal(p->nunacked, 2);
	assert_int_equal(sent_calls, 3);
	assert_int_equal(eng.counters[RDSB_C_RX_DELIV_ACKS], 1);
	/* hostile or broken: past what we numbered (5), a short payload */
	recv_deliv_ack(p, 5, 8);
	recv_deliv_ack(p, 3, 4);
	assert_int_equal(p->nunacked, 2);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_DELIV_ACK], 2);
	/* and an older one moves nothing back */
	recv_deliv_ack(p, 1, 8);
	assert_int_equal(p->deliv_acked, 2);
	/* a reconnect: 3 and 4 go again, RETRANSMITTED, TCP's ack or not */
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(list_count(&p->send_q), 2);
	list_for_each_entry(m, &p->send_q, item)
		assert_true(m->flags & RDS_FLAG_RETRANSMITTED);
	assert_int_equal(ndelivered, 0);	/* an acknowledgement is no datagram */
	assert_int_equal(sent_calls, 3);	/* given back once, not again */
}

/* TCP's acknowledgements give the kept messages' space back one by one, each
 * once: a pass starts after the last message it gave, also when the
 * delivery acknowledgement freed that one, and after a reconnect. */
static void test_deliv_hold_space_in_order(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_deliv_up(&c);
	uint16_t sport = port_on_path0();
	struct rdsb_msg *m;

	(void)state;
	/* the probe (seq 1), then datagrams 2 to 7 */
	for (int i = 0; i < 6; i++)
		rdsb_conn_queue(&eng, c, data_msg(sport, 100 + i));
	/* TCP acknowledges 1 to 4 one at a time, and each pass twice */
	list_for_each_entry(m, &p->unacked, item) {
		if (m->seq > 4)
			break;
		tp.acked = m->end_off;
		rdsb_path_check_acked(&eng, p);
		rdsb_path_check_acked(&eng, p);
		assert_int_equal(sent_calls, m->seq - 1);	/* the probe is the engine's */
	}
	assert_int_equal(sent_bytes, 100 + 101 + 102);
	/* the peer has 1 to 4: freed, the last pass's last one among them */
	recv_deliv_ack(p, 4, 8);
	assert_int_equal(p->nunacked, 3);
	assert_int_equal(sent_calls, 3);
	/* TCP acknowledges 5 and 6 */
	m = list_entry(p->unacked.next->next, struct rdsb_msg, item);
	assert_int_equal(m->seq, 6);
	tp.acked = m->end_off;
	rdsb_path_check_acked(&eng, p);
	assert_int_equal(sent_calls, 5);
	assert_int_equal(sent_bytes, 100 + 101 + 102 + 103 + 104);
	/* a reconnect: 5, 6 and 7 go again; 7's space comes back at its
	 * acknowledgement, 5's and 6's not twice */
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(list_count(&p->send_q), 3);
	tp.acked = 0;
	rdsb_path_connect(&eng, p);
	rdsb_path_up(&eng, p);
	assert_int_equal(list_count(&p->send_q), 0);
	ack_all(p);
	assert_int_equal(sent_calls, 6);
	assert_int_equal(sent_bytes, 100 + 101 + 102 + 103 + 104 + 105);
}

/* A peer that does not announce them (a kernel): TCP's acknowledgement is
 * all it takes, and one that arrives anyway is dropped, counted. */
static void test_deliv_ack_not_announced(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };

	(void)state;
	eng.deliv = RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS;
	rdsb_hs_encode(pong.exthdr, 1, 9, 0);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_false(c->deliv_hold || c->deliv_send);
	rdsb_conn_queue(&eng, c, data_msg(port_on_path0(), 100));
	ack_all(p);
	assert_int_equal(p->nunacked, 0);
	recv_deliv_ack(p, 1, 8);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_DELIV_ACK], 1);
	/* nor do we send any: a delivery queues none */
	assert_true(recv_one(p, 1, 0, 5000, 4000));
	assert_true(list_empty(&eng.ack_due));
	/* a peer that announces only that it reads them gets ours, holds nothing */
	rdsb_hs_encode(pong.exthdr, 1, 9, RDSB_DELIV_READS_ACKS);
	rdsb_conn_handshake(&eng, p, &pong);
	assert_true(!c->deliv_hold && c->deliv_send);
}

/* When an acknowledgement is due: on a grid of ms milliseconds, ms to
 * twice that from now (1: ACK_DELAY; 4: the BPF receive path's poll) */
static uint64_t ack_tick(uint64_t ms)
{
	return (eng.now / (ms * NSEC_PER_MSEC) + 2) * ms * NSEC_PER_MSEC;
}

/* Path 0 up to a peer that reads our delivery acknowledgements; the
 * transport delivers its records itself if prechecked (the BPF receive path) */
static struct rdsb_path *acking_path_up(bool prechecked)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT };

	eng.deliv = RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS;
	p->rx_prechecked = prechecked;
	rdsb_hs_encode(pong.exthdr, 1, 9, RDSB_DELIV_READS_ACKS);
	rdsb_conn_handshake(&eng, p, &pong);
	return p;
}

/* Ours: after ACK_DELAY for a lone datagram, at once for RDSB_ACK_MSGS; each carries
 * the number up to which everything was delivered; a path that goes down
 * drops the one queued and sends the next whatever it said before. */
static void test_deliv_ack_sent(void **state)
{
	struct rdsb_path *p = acking_path_up(false);
	uint64_t next = UINT64_MAX;

	(void)state;
	assert_true(recv_one(p, 1, 0, 5000, 4000));
	rdsb_paths_ack_due(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 0);
	assert_int_equal(p->ack_at, ack_tick(1));
	/* an engine asleep sends it up to 4 ms later (a tick: no timer
	 * reprogrammed), one awake when due */
	rdsb_path_ack_timer(&eng, p, &next);
	assert_int_equal(next, p->ack_at + 4 * NSEC_PER_MSEC);
	eng.now = p->ack_at - 1;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 0);
	eng.now++;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 1);
	assert_int_equal(p->ack_sent, 1);
	assert_int_equal(p->ack_at, 0);
	/* nothing new: none */
	rdsb_paths_ack_due(&eng);
	assert_int_equal(p->ack_at, 0);
	/* RDSB_ACK_MSGS more: at once */
	for (uint64_t seq = 2; seq <= 1 + RDSB_ACK_MSGS; seq++)
		assert_true(recv_one(p, seq, 0, 5000, 4000));
	rdsb_paths_ack_due(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 2);
	assert_int_equal(p->ack_sent, 1 + RDSB_ACK_MSGS);
	/* a stalled record is not delivered yet */
	sock_full = true;
	assert_false(recv_one(p, 2 + RDSB_ACK_MSGS, 0, 5000, 4000));
	assert_int_equal(rdsb_path_rx_safe(p), 1 + RDSB_ACK_MSGS);
	/* a retransmission we have: the peer lacks our ack, it gets one */
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(p->ack_sent, 0);
	rdsb_path_up(&eng, p);
	sock_full = false;
	assert_true(recv_one(p, 20, RDS_FLAG_RETRANSMITTED, 5000, 4000));
	assert_int_equal(eng.counters[RDSB_C_DROP_DUP_SEQ], 1);
	eng.now += NSEC_PER_MSEC;
	rdsb_paths_ack_due(&eng);
	eng.now = p->ack_at;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 3);
	assert_int_equal(p->ack_sent, 2 + RDSB_ACK_MSGS);
}

/* On a path whose records the transport delivers (the BPF receive path),
 * the transport tells the core of the first delivery after each
 * acknowledgement, a wakeup of the engine's own: while records keep coming
 * the core looks again at the next tick instead (not armed), and arms the
 * transport again once a tick found none. */
static void test_deliv_ack_polled(void **state)
{
	struct rdsb_path *p = acking_path_up(true);
	uint64_t next = UINT64_MAX;

	(void)state;
	assert_true(tp.ack_armed);
	/* the transport delivered 1 to 5 and told the core */
	p->rx_safe_next = 6;
	rdsb_path_ack_due(p);
	rdsb_paths_ack_due(&eng);
	eng.now = p->ack_at;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 1);
	assert_int_equal(tp.ack_sent, 5);
	assert_false(tp.ack_armed);
	assert_int_equal(p->ack_at, ack_tick(4));
	/* 6 to 9 delivered, the core not told: the next tick sends them */
	p->rx_safe_next = 10;
	eng.now = p->ack_at;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 2);
	assert_int_equal(tp.ack_sent, 9);
	assert_false(tp.ack_armed);
	/* none since: armed again, no tick */
	eng.now = p->ack_at;
	rdsb_conns_timer(&eng, &next);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 2);
	assert_true(tp.ack_armed);
	assert_int_equal(tp.ack_sent, 9);
	assert_int_equal(p->ack_at, 0);
	p->rx_prechecked = false;
}

/* A sender whose connection is full marks its record RDS_FLAG_ACK_REQUIRED,
 * to a peer that holds for delivery acknowledgements only: the receiver
 * acknowledges it as soon as the record is in a stream, without ACK_DELAY,
 * also when the record stalled first. */
static void test_deliv_ack_asked(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c);
	struct rdsb_hdr pong = { .sport = 0, .dport = RDS_FLAG_PROBE_PORT }, h, h2;
	struct rdsb_msg *m, *m2;
	uint64_t be;

	(void)state;
	eng.deliv = RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS;
	/* senders wait for room on the connection: to a kernel (nothing
	 * announced) never, it holds nothing for it */
	m = data_msg(port_on_path0(), 100);
	c->tx_waiters = 1;
	rdsb_msg_encode(p, m);
	rdsb_hdr_decode(&m->wire, &h);
	assert_int_equal(h.flags, 0);
	rdsb_hs_encode(pong.exthdr, 1, 9, RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS);
	rdsb_conn_handshake(&eng, p, &pong);
	rdsb_msg_encode(p, m);
	rdsb_hdr_decode(&m->wire, &h);
	assert_int_equal(h.flags, RDS_FLAG_ACK_REQUIRED);
	/* one record asks at a time: the next only once an acknowledgement
	 * covered it */
	m2 = data_msg(port_on_path0(), 100);
	rdsb_msg_encode(p, m2);
	rdsb_hdr_decode(&m2->wire, &h2);
	assert_int_equal(h2.flags, 0);
	be = htobe64(h.seq);
	rdsb_path_deliv_acked(&eng, p, (const uint8_t *)&be, sizeof(be));
	assert_int_equal(p->deliv_acked, h.seq);
	rdsb_msg_encode(p, m2);
	rdsb_hdr_decode(&m2->wire, &h2);
	assert_int_equal(h2.flags, RDS_FLAG_ACK_REQUIRED);
	rdsb_msg_free(m2);
	c->tx_waiters = 0;
	rdsb_msg_encode(p, m);
	rdsb_hdr_decode(&m->wire, &h);
	assert_int_equal(h.flags, 0);
	/* a sender short of send space does not ask: its space comes back at
	 * TCP's acknowledgement */
	m->ack_wake = true;
	rdsb_msg_encode(p, m);
	rdsb_hdr_decode(&m->wire, &h);
	assert_int_equal(h.flags, 0);
	rdsb_msg_free(m);
	/* the receiver: asked, it goes at the batch's end */
	assert_true(recv_one(p, 1, RDS_FLAG_ACK_REQUIRED, 5000, 4000));
	rdsb_paths_ack_due(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 1);
	assert_int_equal(p->ack_sent, 1);
	assert_int_equal(p->ack_at, 0);
	assert_int_equal(p->ack_asked, 0);
	/* asked by a record that stalled: when it is delivered */
	assert_true(recv_one(p, 2, 0, 5000, 4000));
	sock_full = true;
	assert_false(recv_one(p, 3, RDS_FLAG_ACK_REQUIRED, 5000, 4000));
	rdsb_paths_ack_due(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 1);
	assert_int_equal(p->ack_asked, 3);
	assert_int_equal(p->ack_at, ack_tick(1));	/* 2 is in a stream */
	sock_full = false;
	rdsb_path_rx_resume(&eng, &sock);
	assert_true(rdsb_paths_resume(&eng));
	rdsb_paths_ack_due(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_DELIV_ACKS], 2);
	assert_int_equal(p->ack_sent, 3);
	assert_int_equal(p->ack_asked, 0);
	assert_int_equal(ndelivered, 3);
}

/* A congestion map queued on a path whose socket goes before writing it
 * goes out on another path of the connection at once, not only when that
 * path comes back (the peer keeps its older map until then) */
static void test_unsent_cong_map_moves_to_another_path(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *q = &c->paths[1];
	uint64_t maps;

	(void)state;
	c->npaths = 2;
	rdsb_path_connecting(&eng, q, FAKE_FD + 1, 0);
	rdsb_path_up(&eng, q);
	maps = eng.counters[RDSB_C_TX_CONG_MAPS];
	tp.xmit_full = true;
	rdsb_conn_queue_cong_map(&eng, c->lslot);
	assert_true(p->cong_map_queued);
	assert_false(q->cong_map_queued);
	rdsb_path_drop(&eng, p, "test");
	rdsb_paths_shutdown(&eng);
	assert_false(p->cong_map_queued);
	assert_true(q->cong_map_queued);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps);
	tp.xmit_full = false;
	rdsb_path_xmit(&eng, q);
	assert_false(q->cong_map_queued);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 1);
	/* one that was written stays written: nothing moves */
	rdsb_conn_queue_cong_map(&eng, c->lslot);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 2);
	rdsb_path_drop(&eng, q, "test");
	rdsb_paths_shutdown(&eng);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 2);
	assert_false(p->cong_map_queued || q->cong_map_queued);
}

/* A restarted engine's path that waits for what the engine before numbered
 * (its resend window) does not hold the map: another path up sends it */
static void test_cong_map_skips_a_resend_window(void **state)
{
	struct rdsb_conn *c;
	struct rdsb_path *p = path0_up(&c), *q = &c->paths[2];
	uint64_t maps;

	(void)state;
	c->npaths = 3;
	p->resend_until = eng.now + 1000000000ull;
	p->resend_left = 1;
	rdsb_conn_queue_cong_map(&eng, c->lslot);
	/* the only path up: it waits there */
	assert_true(p->cong_map_queued);
	maps = eng.counters[RDSB_C_TX_CONG_MAPS];
	rdsb_path_connecting(&eng, q, FAKE_FD + 2, 0);
	rdsb_path_up(&eng, q);
	assert_false(q->cong_map_queued);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 1);
	rdsb_conn_queue_cong_map(&eng, c->lslot);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 2);
	/* the window over, what waited on path 0 goes too */
	p->resend_left = 0;
	rdsb_path_xmit(&eng, p);
	assert_false(p->cong_map_queued);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 3);
}

/* The map once more on every connection but loopback, on its first path
 * up, once (a restarted engine's rebind time over) */
static void test_cong_maps_again(void **state)
{
	struct rdsb_conn *c, *lo = rdsb_conn_get(&eng, A, A, 0, true);
	struct rdsb_path *p = path0_up(&c);
	uint64_t maps = eng.counters[RDSB_C_TX_CONG_MAPS];

	(void)state;
	assert_non_null(lo);
	assert_true(lo->loopback);
	rdsb_conn_queue_cong_map(&eng, -1);
	assert_int_equal(eng.counters[RDSB_C_TX_CONG_MAPS], maps + 1);
	assert_false(p->cong_map_queued);
	assert_int_equal(list_count(&lo->paths[0].send_q), 0);
}

/* A restart that changed what we announce (tell_peer) probes on path 0
 * once it is up, also when another of the peer's lanes came up first */
static void test_tell_peer_waits_for_path0(void **state)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, B, A, 0, true);

	(void)state;
	c->npaths = RDS_MPATH_WORKERS;
	c->tell_peer = true;
	rdsb_path_connecting(&eng, &c->paths[3], FAKE_FD + 3, 0);
	rdsb_path_up(&eng, &c->paths[3]);
	assert_int_equal(eng.counters[RDSB_C_PROBES], 0);
	assert_true(c->tell_peer);
	rdsb_path_connecting(&eng, &c->paths[0], FAKE_FD, 0);
	rdsb_path_up(&eng, &c->paths[0]);
	assert_int_equal(eng.counters[RDSB_C_PROBES], 1);
	assert_false(c->tell_peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conn_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_sends_map_then_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_is_a_mark_until_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_writes_a_writes_worth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_reads_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_requeues_unacked_as_retransmitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_retransmissions_keep_number_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_larger_address_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connecting_conn_is_not_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cong_map_and_pings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_path_count_keeps_port_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_path_count_waits_for_transport_sends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrinking_path_count_drains_down_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrinking_path_count_drains_connecting_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_above_count_goes_down_and_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrinking_path_count_drops_down_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrinking_path_count_drops_connecting_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_stops_at_the_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_malformed_is_reset_unread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_large_records_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_ack_holds_past_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_ack_not_announced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_ack_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_ack_polled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_ack_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliv_hold_space_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tell_peer_waits_for_path0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsent_cong_map_moves_to_another_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cong_map_skips_a_resend_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cong_maps_again, setup, teardown),
	};


	return mock_run_tests(tests);
}
