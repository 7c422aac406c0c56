// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * An application socket as the engine keeps it (user/engine/sock.c), with
 * its real delivery stream (a socketpair) and shared page, and the mock
 * transport of mock_engine.h; no namespaces, but root, as the engine (a
 * stream grows with SO_SNDBUFFORCE). Covered: the bind and
 * id lookups, the delivery record (its header decoded already), the
 * congestion accounting (congested above rcvbuf, clear
 * below half of it, counted as the application reads), the bit cleared
 * when a congested socket closes (kept when the engine stops), the hard limit at which a path
 * stalls, resumed after the batch in which the application read, a grown
 * stream back at its first size once read, what a
 * stopping engine holds written into the stream whole, the senders held
 * on a full connection, read again as it has room, resent requests never
 * held, the connection a socket's sends take again while the
 * destination stays, and the sequence state's next_rx_seq, the first
 * record of a path in no stream: after every write, a short one, for two
 * sockets fed by one path in its order, a stalled path, records held for
 * a port not yet bound, and an engine that stops. The bound ports that
 * outlive the engine (ports.c): stored as sockets bind and close, taken up
 * by the next engine (held past the rebind time for the socket that comes
 * back, refused to another process), entries of processes gone or of a
 * reused pid dropped at the start, a process gone later found by the
 * timer, a hold's congestion and limit, and a full table. What a held port
 * took, in the held log (heldlog.c): taken back by the engine after, ahead
 * of what arrives later, delivered once; a record the sequence state does
 * not count received dropped at the start (the peer sends it again); a
 * full log (counted, the rest kept).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "mock_engine.h"
#include "../../user/common/ctl_proto.h"

#define STREAM_BUF (4 << 20)	/* sock.c's first size of a delivery stream */
static struct rdsb_seqstate ss_entry;	/* a connection's sequence state */

static struct {
	unsigned int calls;
	bool congested;
	uint16_t port;
} cong_local;

void __wrap_rdsb_cong_set_local(struct rdsb_engine *e, int slot, uint16_t port, bool congested)
{
	(void)e;
	(void)slot;
	cong_local.calls++;
	cong_local.port = port;
	cong_local.congested = congested;
}

void __wrap_rdsb_ctl_handle(struct rdsb_engine *e, struct rdsb_sock *s, int fd, const struct rdsb_ctl_req *req)
{
	(void)e;
	(void)s;
	(void)fd;
	(void)req;
}

static int setup(void **state)
{
	(void)state;
	mock_engine_init();
	mock_addr_local = true;
	memset(&ss_entry, 0, sizeof(ss_entry));
	memset(&cong_local, 0, sizeof(cong_local));
	eng.addrs_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	eng.cong_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(eng.addrs_fd >= 0 && eng.cong_fd >= 0);
	return 0;
}

static int teardown(void **state)
{
	struct rdsb_sock *s, *t;

	(void)state;
	list_for_each_entry_safe(s, t, &eng.socks, item)
		rdsb_sock_close(&eng, s);
	rdsb_socks_reap(&eng);
	/* what a port held is dropped as by an engine that stops */
	eng.stopping = true;
	rdsb_ports_fini(&eng);
	rdsb_held_release(&eng, NULL);
	rdsb_conn_free_all(&eng);
	rdsb_heldlog_fini(&eng);
	rdsb_hash_free(&eng.socks_by_id);
	rdsb_hash_free(&eng.socks_by_port);
	close(eng.addrs_fd);
	close(eng.cong_fd);
	return 0;
}

/* A socket as the library's socket() opens it. */
static struct rdsb_sock *open_sock(void)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	rdsb_sock_open(&eng, sv[0]);
	close(sv[1]);		/* the reply with the fds was sent */
	assert_false(list_empty(&eng.socks));
	return list_entry(eng.socks.prev, struct rdsb_sock, item);
}

static struct rdsb_sock *open_bound(uint16_t port)
{
	struct rdsb_sock *s = open_sock();
	uint16_t p = port;

	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &p, false), 0);
	assert_int_equal(p, port);
	return s;
}

static bool deliver(struct rdsb_sock *s, uint32_t len)
{
	struct rdsb_msg *m = rdsb_msg_new(len);

	assert_non_null(m);
	m->dport = s->port;
	if (len)
		memset(m->data, 0x5a, len);
	if (rdsb_sock_deliver(&eng, s, m, false))
		return true;
	rdsb_msg_free(m);
	return false;
}

/* The application reads n bytes of its stream and counts them, as the
 * library does in its shared page. */
static void app_read_into(struct rdsb_sock *s, uint8_t *to, size_t n)
{
	while (n) {
		ssize_t r = recv(s->app_fd, to, n, MSG_DONTWAIT);

		assert_true(r > 0);
		to += r;
		n -= (size_t)r;
		s->shm->rx_consumed += (uint64_t)r;
	}
}

static void app_read(struct rdsb_sock *s, size_t n)
{
	static uint8_t buf[1 << 16];

	while (n) {
		ssize_t r = recv(s->app_fd, buf, n < sizeof(buf) ? n : sizeof(buf), MSG_DONTWAIT);

		assert_true(r > 0);
		n -= (size_t)r;
		s->shm->rx_consumed += (uint64_t)r;
	}
}

static void test_lookups(void **state)
{
	static const uint8_t LO[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	struct rdsb_sock *s1, *s2, *s3, *s4;
	uint16_t p = 4001, any = 0;
	uint32_t id1;

	(void)state;
	s1 = open_bound(4000);
	s2 = open_bound(4001);
	s3 = open_sock();
	s4 = open_sock();
	id1 = s1->id;
	assert_ptr_equal(rdsb_sock_by_port(&eng, A, 4000), s1);
	assert_ptr_equal(rdsb_sock_by_port(&eng, A, 4001), s2);
	assert_null(rdsb_sock_by_port(&eng, B, 4000));
	assert_null(rdsb_sock_by_port(&eng, A, 4002));
	assert_ptr_equal(rdsb_sock_by_id(&eng, id1), s1);
	assert_ptr_equal(rdsb_sock_by_id(&eng, s2->id), s2);
	assert_null(rdsb_sock_by_id(&eng, 0));
	assert_int_equal(rdsb_sock_bind(&eng, s3, A, 0, &p, false), EADDRINUSE);
	assert_int_equal(rdsb_sock_bind(&eng, s2, A, 0, &p, false), EINVAL);	/* bound already */
	/* port 0: a free one, at least 2 */
	assert_int_equal(rdsb_sock_bind(&eng, s3, A, 0, &any, false), 0);
	assert_true(any >= 2 && any != 4000 && any != 4001);
	assert_ptr_equal(rdsb_sock_by_port(&eng, A, any), s3);
	/* rds_bind: an address the transport cannot carry (its laddr_check)
	 * is refused, chosen or not; a loopback address is checked only when
	 * the socket chose the transport (else the loopback transport takes it) */
	tp.laddr_refused = true;
	tp.laddr_checks = 0;
	p = 4005;
	assert_int_equal(rdsb_sock_bind(&eng, s4, A, 0, &p, false), EADDRNOTAVAIL);
	assert_int_equal(rdsb_sock_bind(&eng, s4, A, 0, &p, true), EADDRNOTAVAIL);
	assert_int_equal(rdsb_sock_bind(&eng, s4, LO, 0, &p, true), EADDRNOTAVAIL);
	assert_int_equal(tp.laddr_checks, 3);
	assert_false(s4->bound);
	assert_int_equal(rdsb_sock_bind(&eng, s4, LO, 0, &p, false), 0);
	assert_int_equal(tp.laddr_checks, 3);
	assert_ptr_equal(rdsb_sock_by_port(&eng, LO, 4005), s4);
	tp.laddr_refused = false;
	rdsb_sock_close(&eng, s1);
	assert_null(rdsb_sock_by_port(&eng, A, 4000));
	assert_null(rdsb_sock_by_id(&eng, id1));
	assert_int_equal(eng.socks_by_port.count, 3);
	assert_int_equal(eng.socks_by_id.count, 3);
	rdsb_socks_reap(&eng);
}

static void test_congestion_accounting(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	const uint32_t rec = RDS_HEADER_SIZE + 1000;
	uint64_t next;

	(void)state;
	rdsb_sock_set_rcvbuf(&eng, s, 10000);
	assert_int_equal(tp.armed, 10001);	/* raise an event past rcvbuf */
	/* 9 records: 9432 bytes unread, not over 10000 */
	for (int i = 0; i < 9; i++)
		assert_true(deliver(s, 1000));
	assert_false(s->congested);
	assert_int_equal(cong_local.calls, 0);
	assert_int_equal(tp.armed, 10000 - 9 * rec + 1);
	/* the tenth: 10480 */
	assert_true(deliver(s, 1000));
	assert_true(s->congested);
	assert_int_equal(cong_local.calls, 1);
	assert_true(cong_local.congested);
	assert_int_equal(cong_local.port, 4000);
	assert_int_equal(tp.armed, 0);		/* the timer watches it drain */
	assert_int_equal(eng.counters[RDSB_C_RX_DELIVERED], 10);

	/* read 5: 5240 left, not below half of rcvbuf */
	app_read(s, 5 * rec);
	next = UINT64_MAX;
	rdsb_socks_timer(&eng, &next);
	assert_true(s->congested);
	assert_int_equal(next, eng.now + 2 * NSEC_PER_MSEC);
	/* one more: 4192, below 5000 */
	app_read(s, rec);
	next = UINT64_MAX;
	rdsb_socks_timer(&eng, &next);
	assert_false(s->congested);
	assert_int_equal(cong_local.calls, 2);
	assert_false(cong_local.congested);
	assert_int_equal(next, UINT64_MAX);
	assert_int_equal(rdsb_sock_stream_bytes(&eng, s), 4 * rec);
}

static void test_close_clears_congestion(void **state)
{
	struct rdsb_sock *s = open_bound(4000);

	(void)state;
	rdsb_sock_set_rcvbuf(&eng, s, 1000);
	assert_true(deliver(s, 2000));
	assert_true(s->congested);
	rdsb_sock_close(&eng, s);
	assert_int_equal(cong_local.calls, 2);
	assert_false(cong_local.congested);
	rdsb_socks_reap(&eng);
}

/* The socket goes to the next engine: its port stays congested to the
 * peers, who would send into TCP sockets that close unread */
static void test_stopping_engine_leaves_congestion(void **state)
{
	struct rdsb_sock *s = open_bound(4000);

	(void)state;
	rdsb_sock_set_rcvbuf(&eng, s, 1000);
	assert_true(deliver(s, 2000));
	assert_true(s->congested);
	eng.stopping = true;
	rdsb_sock_close(&eng, s);
	assert_int_equal(cong_local.calls, 1);
	assert_true(cong_local.congested);
	rdsb_socks_reap(&eng);
}

static void test_hard_limit_stalls_a_path(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_conn *c = rdsb_conn_get(&eng, A, B, 0, true);
	struct rdsb_path *p = &c->paths[0];
	struct rdsb_hdr h = { .seq = 1, .sport = 5000, .dport = 4000, .len = 1 << 20 };
	unsigned int n = 0;
	size_t unread;

	(void)state;
	c->ss = &ss_entry;
	p->state = RDSB_PATH_UP;
	p->ev.fd = FAKE_FD;
	/* the application reads nothing: records pile up past what its
	 * stream held at first (it grows to take them), until the socket
	 * holds its hard limit and the stream's size unread */
	while (n < 64 && deliver(s, 1 << 20))
		n++;
	assert_int_equal(n, 12);
	assert_true(list_empty(&s->rx_q));
	assert_true(s->stream_buf > STREAM_BUF);
	/* a path's record stalls on it: accepted, in no stream, the
	 * sequence state says it is not received */
	assert_false(rdsb_recv_msg(&eng, p, &h, rdsb_msg_new(1 << 20)));
	assert_int_equal(p->rx_stalled->dport, 4000);
	assert_false(list_empty(&s->stalled));
	assert_int_equal(p->next_rx_seq, 2);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 1);
	assert_int_equal(rdsb_path_rx_safe(p), 0);
	/* the application reads everything; the stream raises no event
	 * (nothing waits to be written): the timer lets the path go on */
	unread = (size_t)n * (RDS_HEADER_SIZE + (1 << 20));
	while (unread) {
		int avail = 0;

		assert_int_equal(ioctl(s->app_fd, FIONREAD, &avail), 0);
		assert_true(avail > 0);
		app_read(s, (size_t)avail);
		unread -= (size_t)avail;
	}
	assert_false(list_empty(&s->stalled));
	{
		uint64_t next = UINT64_MAX;

		rdsb_socks_timer(&eng, &next);
	}
	assert_true(list_empty(&s->stalled));
	assert_int_equal(tp.recvs, 0);
	assert_true(rdsb_paths_resume(&eng));
	assert_null(p->rx_stalled);
	assert_int_equal(tp.recvs, 1);
	assert_int_equal(eng.counters[RDSB_C_RX_DELIVERED], n + 1);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 2);
	assert_int_equal(rdsb_path_rx_safe(p), 1);
	p->ev.fd = -1;
}

/* An engine that stops with more for a socket than its stream holds (the
 * application did not read within the drain's limit) writes all of it into
 * the stream, which the application keeps: none of it is freed with the
 * socket. */
static void test_stop_writes_what_it_holds(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	unsigned int n = 0;
	size_t unread;

	(void)state;
	while (n < 12 && deliver(s, 1 << 20))
		n++;
	assert_int_equal(n, 12);
	/* what a dying path forces past the limit, until the stream at its
	 * largest takes no more */
	while (n < 96 && list_empty(&s->rx_q)) {
		struct rdsb_msg *m = rdsb_msg_new(1 << 20);

		m->dport = 4000;
		assert_true(rdsb_sock_deliver(&eng, s, m, true));
		n++;
	}
	assert_true(s->rx_q_bytes > 0);	/* past the stream */
	eng.stopping = true;
	rdsb_socks_flush_stopping(&eng);
	assert_true(list_empty(&s->rx_q));
	assert_int_equal(s->rx_q_bytes, 0);
	unread = (size_t)n * (RDS_HEADER_SIZE + (1 << 20));
	while (unread) {
		int avail = 0;

		assert_int_equal(ioctl(s->app_fd, FIONREAD, &avail), 0);
		assert_true(avail > 0 && (size_t)avail <= unread);
		app_read(s, (size_t)avail);
		unread -= (size_t)avail;
	}
}

/* The application sends a datagram of LEN bytes to B:4000 as the library
 * does (counted in its shared page, written on its stream), and the engine
 * reads the stream as epoll would have it. */
/* A send request of len bytes as the library writes it, with the flags,
 * sequence number and path of req (those of a resent copy), to daddr. */
static void app_write(struct rdsb_sock *s, struct rdsb_send_req req, const uint8_t daddr[16], uint32_t len)
{
	static uint8_t payload[1 << 16];

	req.magic = RDSB_SEND_MAGIC;
	req.len = len;
	req.dport = 4000;
	memcpy(req.daddr, daddr, 16);
	s->shm->snd_bytes += len;
	assert_int_equal(send(s->app_fd, &req, sizeof(req), MSG_DONTWAIT), sizeof(req));
	assert_int_equal(send(s->app_fd, payload, len, MSG_DONTWAIT), len);
	rdsb_sock_event(&eng, s, &s->data, EPOLLIN);
}

static void app_send_to(struct rdsb_sock *s, const uint8_t daddr[16], uint32_t len)
{
	app_write(s, (struct rdsb_send_req){ 0 }, daddr, len);
}

static void app_send(struct rdsb_sock *s, uint32_t len)
{
	app_send_to(s, B, len);
}

/* A send request whose payload the library left in the socket's copy ring
 * at AT (its head was at START), filled with BYTE; RING is the test's own
 * mapping of it. */
static void app_write_ring_to(struct rdsb_sock *s, const uint8_t daddr[16], uint8_t *ring, uint32_t start,
			      uint32_t at, uint32_t len, uint8_t flags, int byte)
{
	struct rdsb_send_req req = { .magic = RDSB_SEND_MAGIC, .len = len, .dport = 4000,
				     .flags = RDSB_REQ_INRING | flags, .ring_start = start, .ring_at = at };
	uint32_t off = at & (RDSB_TXRING_BYTES - 1);

	memcpy(req.daddr, daddr, 16);
	if (ring && off + len <= RDSB_TXRING_BYTES)
		memset(ring + off, byte, len);
	s->shm->snd_bytes += len;
	assert_int_equal(send(s->app_fd, &req, sizeof(req), MSG_DONTWAIT), sizeof(req));
	rdsb_sock_event(&eng, s, &s->data, EPOLLIN);
}

static void app_write_ring(struct rdsb_sock *s, uint8_t *ring, uint32_t start, uint32_t at, uint32_t len,
			   uint8_t flags, int byte)
{
	app_write_ring_to(s, B, ring, start, at, len, flags, byte);
}

static bool all_bytes(const uint8_t *p, uint32_t len, int byte)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != byte)
			return false;
	return true;
}

static struct rdsb_sock *held_at(unsigned int i)
{
	struct list_head *pos = eng.tx_held.next;

	while (i--)
		pos = pos->next;
	assert_ptr_not_equal(pos, &eng.tx_held);
	return list_entry(pos, struct rdsb_sock, tx_wait);
}

/* The connection to the peer B, its one path up on the mock transport */
static struct rdsb_path *peer_path_up(void)
{
	struct rdsb_conn *c;

	mock_addr_local = false;	/* B is a peer */
	c = rdsb_conn_get(&eng, A, B, 0, true);
	assert_non_null(c);
	assert_false(c->loopback);
	c->npaths = 1;
	c->paths[0].state = RDSB_PATH_UP;
	c->paths[0].ev.fd = FAKE_FD;
	return &c->paths[0];
}

/* The peer acknowledges the first message still unacked on P. */
static void ack_one(struct rdsb_path *p)
{
	tp.acked = list_first_entry(&p->unacked, struct rdsb_msg, item)->end_off;
	rdsb_path_check_acked(&eng, p);
}

/* What the applications' sends hold for one connection is bounded (4 MiB):
 * a sender whose datagram filled it is not read, and goes on as soon as one
 * message is acknowledged, not once half of it is (the wait that left 8
 * paths of 1 MiB datagrams idle between bursts); the held go on in the
 * order they were held, one held again goes behind the others; and while
 * any waits, every ack wakes the engine, whatever the senders' sndbufs. */
static void test_held_senders_go_on_at_room(void **state)
{
	struct rdsb_sock *s1 = open_bound(5001), *s2 = open_bound(5002), *s3 = open_bound(5003);
	struct rdsb_path *p;
	unsigned int n = 0;

	(void)state;
	p = peer_path_up();
	/* sndbufs far above what the connection holds: only it holds them */
	s1->sndbuf = s2->sndbuf = s3->sndbuf = 64u << 20;
	while (!s1->tx_held) {
		app_send(s1, 1 << 16);
		assert_true(++n <= 64);
	}
	assert_int_equal(n, 64);	/* 64 x (64 KiB + a message) >= 4 MiB */
	assert_int_equal(eng.counters[RDSB_C_TX_CONN_FULL], 1);
	assert_int_equal(s1->data.events & EPOLLIN, 0);
	/* the next senders: their first datagram is taken, their second waits */
	app_send(s2, 64);
	app_send(s2, 1 << 16);
	app_send(s3, 64);
	app_send(s3, 64);
	assert_int_equal(p->nunacked, 66);
	assert_true(s2->tx_held && s3->tx_held);
	assert_ptr_equal(held_at(0), s1);
	assert_ptr_equal(held_at(1), s2);
	assert_ptr_equal(held_at(2), s3);
	rdsb_path_check_acked(&eng, p);
	assert_true(tp.ack_waiting);
	/* one 64 KiB message acknowledged: room, the held go on */
	ack_one(p);
	assert_true(eng.tx_resume);
	eng.tx_resume = false;
	rdsb_socks_tx_resume(&eng);
	/* s1 had nothing more; s2's second datagram (64 KiB) filled it again:
	 * s2 waits behind s3, whose second datagram is not read */
	assert_false(s1->tx_held);
	assert_true(s1->data.events & EPOLLIN);
	assert_int_equal(p->nunacked, 65 + 1);
	assert_true(s2->tx_held && s3->tx_held);
	assert_ptr_equal(held_at(0), s3);
	assert_ptr_equal(held_at(1), s2);
	assert_int_equal(eng.counters[RDSB_C_TX_CONN_FULL], 2);
	/* another: s3 first, then s2 (nothing more), and no one waits */
	ack_one(p);
	assert_true(eng.tx_resume);
	eng.tx_resume = false;
	rdsb_socks_tx_resume(&eng);
	assert_int_equal(p->nunacked, 65 + 1);
	assert_true(list_empty(&eng.tx_held));
	assert_false(s2->tx_held || s3->tx_held);
	assert_true((s2->data.events & s3->data.events) & EPOLLIN);
	/* nobody waits and no sender is short of sndbuf: acks wake no one */
	rdsb_path_check_acked(&eng, p);
	assert_false(tp.ack_waiting);
	p->ev.fd = -1;
}

/* A payload in its sender's copy ring is the sender's memory, bounded by
 * its window: it does not count against the connection's bound, which
 * bounds the engine's own copies. 5 MiB of them, unacknowledged, hold no
 * sender; the stream's payloads still do (test_held_senders_go_on_at_room). */
static void test_ring_payloads_not_held(void **state)
{
	const uint32_t n = 80, len = 1 << 16;	/* 80 x 64 KiB: past the 4 MiB bound */
	struct rdsb_sock *s = open_bound(5001);
	struct rdsb_path *p;

	(void)state;
	p = peer_path_up();
	s->sndbuf = 64u << 20;
	for (uint32_t i = 0; i < n; i++)
		app_write_ring(s, NULL, i * len, i * len, len, 0, 0);
	assert_int_equal(p->nunacked, n);
	assert_false(s->tx_held);
	assert_int_equal(eng.counters[RDSB_C_TX_CONN_FULL], 0);
	assert_true(s->data.events & EPOLLIN);
	p->ev.fd = -1;
}

/* A payload the library left in the copy ring (RDSB_REQ_INRING) is sent
 * from there: its message points into the ring and nothing of it is read
 * from the stream (the request written behind it parses whole); the ring is
 * released in the socket's order as the peer acknowledges; a socket closed
 * with one half written leaves it readable until it goes. A payload that
 * would lie outside the ring, a resent request or an empty one in the ring
 * closes the socket, counted; the file cannot be shrunk. */
/* A request of LEN bytes of BYTE into the socket's queue Q at AT, its tail
 * then at AT + its size; returns that */
static uint32_t app_queue(struct rdsb_sock *s, uint8_t *q, uint32_t at, uint32_t len, int byte)
{
	struct rdsb_send_req req = { .magic = RDSB_SEND_MAGIC, .len = len, .dport = 4000 };
	uint32_t off = at & (RDSB_REQQ_BYTES - 1);

	memcpy(req.daddr, B, 16);
	memcpy(q + off, &req, sizeof(req));
	memset(q + off + sizeof(req), byte, len);
	s->shm->snd_bytes += len;
	at += (uint32_t)sizeof(req) + ((len + 7) & ~7u);
	s->shm->rq_tail = at;
	return at;
}

/* The request queue (user/lib/reqq.c): read in order with the stream, and
 * on each pass until the engine arms it before it sleeps; a wakeup on the
 * stream is no request; a request that would pass the queue's end starts
 * at its start, after a skip mark. */
static void test_requests_from_queue(void **state)
{
	const uint32_t Q = RDSB_REQQ_BYTES;
	struct rdsb_sock *s = open_bound(5001);
	struct rdsb_send_req kick = { .magic = RDSB_SEND_MAGIC, .flags = RDSB_REQ_KICK };
	struct rdsb_send_req skip = { .magic = RDSB_SEND_MAGIC, .flags = RDSB_REQ_SKIP };
	struct rdsb_msg *m;
	struct rdsb_path *p;
	uint32_t tail = 0, lens[] = { 100, 0, 7, 300, 200 };
	uint8_t *q;
	int i = 0;

	(void)state;
	p = peer_path_up();
	q = mmap(NULL, Q, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, RDSB_REQQ_OFF);
	assert_ptr_not_equal(q, MAP_FAILED);
	/* a new socket's queue is armed: the first sender wakes the engine */
	assert_int_equal(s->shm->rq_armed, 1);
	tail = app_queue(s, q, tail, 100, 0x11);
	assert_int_equal(send(s->app_fd, &kick, sizeof(kick), MSG_DONTWAIT), sizeof(kick));
	rdsb_sock_event(&eng, s, &s->data, EPOLLIN);
	assert_int_equal(s->shm->rq_armed, 0);
	assert_int_equal(s->shm->rq_head, tail);
	assert_int_equal(s->shm->reqs_taken, 1);
	assert_int_equal(eng.counters[RDSB_C_TX_QUEUED], 1);
	assert_int_equal(eng.counters[RDSB_C_TX_QUEUE_KICKS], 1);
	/* read on the next pass, no wakeup: a 0-byte one, then one whose
	 * padding rounds it up */
	tail = app_queue(s, q, tail, 0, 0);
	tail = app_queue(s, q, tail, 7, 0x22);
	rdsb_socks_rq_read(&eng);
	assert_int_equal(s->shm->rq_head, tail);
	assert_int_equal(s->shm->reqs_taken, 3);
	/* then the stream's, which the library wrote once the queue was
	 * taken, then the queue again once the stream's was taken */
	app_send(s, 300);
	assert_int_equal(s->shm->reqs_taken, 4);
	/* near the end: the mark, and the request at the start */
	memcpy(q + (Q - 64), &skip, sizeof(skip));
	s->rq_head = Q - 64;
	tail = app_queue(s, q, Q, 200, 0x33);
	rdsb_socks_rq_read(&eng);
	assert_int_equal(s->shm->rq_head, Q + 48 + 200);
	assert_int_equal(s->shm->reqs_taken, 5);
	list_for_each_entry(m, &p->unacked, item) {
		assert_int_equal(m->len, lens[i]);
		assert_true(all_bytes(m->data, m->len, i == 0 ? 0x11 : i == 2 ? 0x22 : i == 4 ? 0x33 : 0));
		i++;
	}
	assert_int_equal(i, 5);
	/* empty: armed before the engine sleeps, and off the list */
	assert_true(rdsb_socks_rq_arm(&eng));
	assert_int_equal(s->shm->rq_armed, 1);
	assert_true(list_empty(&eng.rq_active));
	/* one queued meanwhile: not armed, read again instead of a sleep */
	rdsb_sock_event(&eng, s, &s->data, EPOLLIN);
	app_queue(s, q, tail, 1, 0x44);
	assert_false(rdsb_socks_rq_arm(&eng));
	assert_int_equal(s->shm->rq_armed, 0);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_APP_RECORD], 0);
	/* a tail past a whole queue: the socket is closed */
	s->shm->rq_tail = s->rq_head + Q + 8;
	rdsb_socks_rq_read(&eng);
	assert_true(s->closed);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_APP_RECORD], 1);
	munmap(q, Q);
}

/* A socket whose sends wait for acks of its own (tx_room) leaves the
 * engine's list unarmed: its senders queue without a wakeup, and the
 * engine reads their requests once the acks make room (rdsb_sock_sent) */
static void test_queue_read_again_at_room(void **state)
{
	struct rdsb_sock *s = open_bound(5001);
	struct rdsb_path *p;
	uint32_t tail;
	uint8_t *q;

	(void)state;
	p = peer_path_up();
	q = mmap(NULL, RDSB_REQQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, RDSB_REQQ_OFF);
	assert_ptr_not_equal(q, MAP_FAILED);
	rdsb_sock_event(&eng, s, &s->data, EPOLLIN);
	assert_false(list_empty(&eng.rq_active));
	s->tx_bytes = 2ull * s->sndbuf;
	tail = app_queue(s, q, 0, 100, 0x55);
	rdsb_socks_rq_read(&eng);
	assert_int_equal(s->shm->rq_head, 0);
	assert_true(rdsb_socks_rq_arm(&eng));
	assert_int_equal(s->shm->rq_armed, 0);
	assert_true(list_empty(&eng.rq_active));
	assert_int_equal(p->nunacked, 0);
	rdsb_sock_sent(&eng, s->id, 1);
	assert_false(list_empty(&eng.rq_active));
	rdsb_socks_rq_read(&eng);
	assert_int_equal(s->shm->rq_head, tail);
	assert_int_equal(p->nunacked, 1);
	assert_int_equal(list_first_entry(&p->unacked, struct rdsb_msg, item)->len, 100);
	munmap(q, RDSB_REQQ_BYTES);
}

static void test_payload_in_ring(void **state)
{
	const uint32_t R = RDSB_TXRING_BYTES;
	struct rdsb_sock *s = open_bound(5001), *bad;
	struct rdsb_msg *m[3];
	struct rdsb_path *p;
	unsigned int i = 0;
	uint8_t *ring;

	(void)state;
	p = peer_path_up();
	ring = mmap(NULL, R, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, 4096);
	assert_ptr_not_equal(ring, MAP_FAILED);
	/* the application holds the file: it cannot shrink it under the
	 * engine's mappings (SIGBUS) */
	assert_int_equal(ftruncate(s->shm_fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	app_write_ring(s, ring, 0, 0, 8192, 0, 0xab);
	assert_true(all_bytes(list_first_entry(&p->unacked, struct rdsb_msg, item)->data, 8192, 0xab));
	app_send(s, 100);
	/* the head was near the end: the payload starts the next lap */
	app_write_ring(s, ring, 8192, R, 4096, 0, 0xcd);
	assert_int_equal(p->nunacked, 3);
	m[0] = list_first_entry(&p->unacked, struct rdsb_msg, item);
	m[1] = list_entry(m[0]->item.next, struct rdsb_msg, item);
	m[2] = list_entry(m[1]->item.next, struct rdsb_msg, item);
	assert_ptr_equal(m[0]->data, s->ring->base);
	assert_int_equal(m[0]->len, 8192);
	assert_null(m[1]->ring);
	assert_int_equal(m[1]->len, 100);
	assert_ptr_equal(m[2]->data, s->ring->base);
	assert_int_equal(m[2]->len, 4096);
	assert_true(all_bytes(m[2]->data, 4096, 0xcd));
	assert_int_equal(s->shm->copy_released, 0);
	/* released in order, each time up to the first one unacknowledged */
	ack_one(p);
	assert_int_equal(s->shm->copy_released, 8192);
	assert_int_equal(s->shm->reqs_acked, 1);
	ack_one(p);
	assert_int_equal(s->shm->copy_released, 8192);
	ack_one(p);
	assert_int_equal(s->shm->copy_released, R + 4096);
	assert_int_equal(s->shm->reqs_acked, 3);
	assert_int_equal(eng.counters[RDSB_C_DROP_BAD_APP_RECORD], 0);
	/* closed with one half written, which stays on its path (the stream
	 * stays framed): its payload stays readable until it goes */
	tp.xmit_full = true;
	app_write_ring(s, ring, R + 4096, R + 4096, 4096, 0, 0xef);
	m[0] = list_first_entry(&p->send_q, struct rdsb_msg, item);
	p->head_off = 10;
	rdsb_sock_close(&eng, s);
	munmap(ring, R);
	assert_ptr_equal(list_first_entry(&p->send_q, struct rdsb_msg, item), m[0]);
	assert_true(all_bytes(m[0]->data, 4096, 0xef));
	p->head_off = 0;
	tp.xmit_full = false;
	rdsb_path_xmit(&eng, p);
	assert_int_equal(p->nunacked, 1);
	ack_one(p);
	assert_int_equal(p->nunacked, 0);
	/* hostile requests */
	for (i = 0; i < 3; i++) {
		mock_addr_local = true;
		bad = open_bound((uint16_t)(5002 + i));
		mock_addr_local = false;
		if (i == 0)
			app_write_ring(bad, NULL, 0, R - 100, 4096, 0, 0);
		else if (i == 1)
			app_write_ring(bad, NULL, 0, 0, 4096, RDSB_REQ_RESENT, 0);
		else
			app_write_ring(bad, NULL, 0, 0, 0, 0, 0);
		assert_true(bad->closed);
		assert_int_equal(eng.counters[RDSB_C_DROP_BAD_APP_RECORD], i + 1);
	}
	assert_int_equal(p->nunacked, 0);
	p->ev.fd = -1;
}

/* To a socket of this engine (the loopback transport) a datagram is
 * acknowledged as it is delivered: its payload leaves the sender's ring
 * then, which the sender may write again before the receiver reads. */
static void test_payload_in_ring_loopback(void **state)
{
	const uint32_t R = RDSB_TXRING_BYTES;
	struct rdsb_sock *r = open_bound(4000), *s = open_bound(5001);
	uint8_t *ring, hdr[RDS_HEADER_SIZE], got[8192];
	unsigned int n = 0;
	size_t unread;

	(void)state;
	ring = mmap(NULL, R, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, 4096);
	assert_ptr_not_equal(ring, MAP_FAILED);
	/* a slow reader: its stream is full, what comes waits in its queue */
	while (n < 96 && list_empty(&r->rx_q)) {
		struct rdsb_msg *m = rdsb_msg_new(1 << 20);

		m->dport = 4000;
		assert_true(rdsb_sock_deliver(&eng, r, m, true));
		n++;
	}
	assert_false(list_empty(&r->rx_q));
	app_write_ring_to(s, A, ring, 0, 0, 8192, 0, 0xab);
	assert_int_equal(s->shm->copy_released, 8192);
	assert_int_equal(s->shm->reqs_acked, 1);
	memset(ring, 0xcd, 8192);	/* the sender's next payload */
	/* the reader catches up */
	unread = (size_t)n * (RDS_HEADER_SIZE + (1 << 20));
	while (unread) {
		int avail = 0;

		rdsb_sock_flush(&eng, r);
		assert_int_equal(ioctl(r->app_fd, FIONREAD, &avail), 0);
		assert_true(avail > 0);
		avail = (size_t)avail < unread ? avail : (int)unread;
		app_read(r, (size_t)avail);
		unread -= (size_t)avail;
	}
	rdsb_sock_flush(&eng, r);
	app_read_into(r, hdr, sizeof(hdr));
	app_read_into(r, got, sizeof(got));
	assert_true(all_bytes(got, sizeof(got), 0xab));
	assert_true(list_empty(&r->rx_q));
	munmap(ring, R);
}

/* What a killed engine had numbered comes back from the library as resent
 * requests, and a restarted engine's path writes nothing until every number
 * is back (seqstate.c): they count in the connection's bound, so that new
 * sends wait behind them, but never hold their socket. Held as a sender
 * over the bound is, its last copies waited unread for acknowledgements the
 * waiting path could not bring, and went out with new numbers when the wait
 * ran out: a peer that had the first copies delivered them twice. */
static void test_resent_are_never_held(void **state)
{
	struct rdsb_sock *s = open_bound(5001);
	const unsigned int n = 70;	/* 70 x 64 KiB: past the 4 MiB bound */
	struct rdsb_path *p;
	struct rdsb_msg *m;
	uint64_t want = 1;

	(void)state;
	p = peer_path_up();
	s->sndbuf = 64u << 20;
	/* the engine before numbered 1..n, none acknowledged */
	p->next_tx_seq = n + 1;
	p->resend_left = n;
	p->resend_until = eng.now + 2000 * NSEC_PER_MSEC;
	for (unsigned int i = 1; i <= n; i++)
		app_write(s, (struct rdsb_send_req){ .flags = RDSB_REQ_RESENT, .seq = i }, B, 1 << 16);
	assert_false(s->tx_held);
	assert_int_equal(eng.counters[RDSB_C_TX_RESUBMITTED], n);
	assert_int_equal(eng.counters[RDSB_C_TX_RESENT_NUMBERED], n);
	assert_int_equal(eng.counters[RDSB_C_TX_CONN_FULL], 1);
	/* the last one back, the path wrote them all, with their numbers */
	assert_int_equal(p->resend_left, 0);
	assert_int_equal(p->nunacked, n);
	list_for_each_entry(m, &p->unacked, item)
		assert_int_equal(m->seq, want++);
	assert_int_equal(p->next_tx_seq, n + 1);
	/* the connection is still full: a new datagram waits for room */
	app_send(s, 64);
	assert_true(s->tx_held);
	assert_int_equal(p->nunacked, n + 1);
	p->ev.fd = -1;
}

/* A socket's next send to the address of its last one takes that connection
 * without a lookup (the kernel's rs_conn); a send elsewhere, or after the
 * connection was freed, looks one up. */
static void test_last_connection(void **state)
{
	static const uint8_t C[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 3 };
	struct rdsb_sock *s = open_bound(5001), *s2 = open_bound(5002);
	struct rdsb_conn *b, *c;

	(void)state;
	mock_addr_local = false;	/* B and C are peers */
	app_send_to(s, B, 64);
	b = rdsb_conn_get(&eng, A, B, 0, false);
	assert_non_null(b);
	assert_ptr_equal(s->conn, b);
	app_send_to(s, C, 64);
	c = rdsb_conn_get(&eng, A, C, 0, false);
	assert_non_null(c);
	assert_ptr_not_equal(c, b);
	assert_ptr_equal(s->conn, c);
	app_send_to(s2, C, 64);
	assert_ptr_equal(s2->conn, c);
	app_send_to(s, B, 64);
	assert_ptr_equal(s->conn, b);
	assert_int_equal(b->tx_queued + c->tx_queued, 4 * (sizeof(struct rdsb_msg) + 64));
	rdsb_conn_free_all(&eng);
	assert_null(s->conn);
	assert_null(s2->conn);
	app_send_to(s2, B, 64);
	b = rdsb_conn_get(&eng, A, B, 0, false);
	assert_non_null(b);
	assert_ptr_equal(s2->conn, b);
	assert_int_equal(b->tx_queued, sizeof(struct rdsb_msg) + 64);
}

/* The record on the delivery stream: the header the library reads as it is
 * (rds-bpf/maps.h), then the payload. */
static void test_delivery_record(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_msg *m = rdsb_msg_new(3);
	struct {
		struct rdsb_deliv_hdr h;
		uint8_t data[3];
	} __attribute__((packed)) rec;

	(void)state;
	assert_non_null(m);
	m->seq = 0x0102030405060708ULL;
	m->sport = 5000;
	m->dport = 4000;
	m->flags = RDS_FLAG_RETRANSMITTED;
	m->from_slot = 2;
	memcpy(m->data, "abc", 3);
	assert_true(rdsb_sock_deliver(&eng, s, m, false));
	assert_int_equal(recv(s->app_fd, &rec, sizeof(rec) + 1, MSG_DONTWAIT), sizeof(rec));
	assert_true(rec.h.decoded == RDSB_DELIV_DECODED);
	assert_true(rec.h.seq == 0x0102030405060708ULL);
	assert_int_equal(rec.h.len, 3);
	assert_int_equal(rec.h.sport, 5000);
	assert_int_equal(rec.h.dport, 4000);
	assert_int_equal(rec.h.flags, RDS_FLAG_RETRANSMITTED);
	assert_int_equal(rec.h.slot, 2);
	assert_memory_equal(rec.data, "abc", 3);
	s->shm->rx_consumed += sizeof(rec);
}

/* In an event batch the deliveries wait for its end, then go in one write,
 * in order. */
static void test_batch_writes_at_its_end(void **state)
{
	static const uint32_t lens[] = { 3, 0, 5, 7 };
	struct rdsb_sock *s = open_bound(4000);
	struct {
		struct rdsb_deliv_hdr h;
		uint8_t data[8];
	} __attribute__((packed)) rec[4];
	size_t total = 0;
	char c;

	(void)state;
	eng.batching = true;
	for (unsigned int i = 0; i < 4; i++) {
		assert_true(deliver(s, lens[i]));
		total += sizeof(rec[0].h) + lens[i];
	}
	assert_int_equal(recv(s->app_fd, &c, 1, MSG_DONTWAIT | MSG_PEEK), -1);
	assert_int_equal(errno, EAGAIN);
	assert_false(list_empty(&eng.rx_due));
	eng.batching = false;
	rdsb_sock_flush(&eng, s);
	assert_true(list_empty(&eng.rx_due));
	assert_int_equal(recv(s->app_fd, rec, sizeof(rec), MSG_DONTWAIT), total);
	for (unsigned int i = 0, off = 0; i < 4; i++) {
		const struct rdsb_deliv_hdr *h = (const void *)((const uint8_t *)rec + off);

		assert_int_equal(h->len, lens[i]);
		off += sizeof(*h) + lens[i];
	}
	s->shm->rx_consumed += total;
}

/* A record of seq on p for dport, its payload len bytes of seq's low byte */
static bool recv_on(struct rdsb_path *p, uint64_t seq, uint16_t dport, uint32_t len)
{
	struct rdsb_hdr h = { .seq = seq, .sport = 5000, .dport = dport, .len = len };
	struct rdsb_msg *m = rdsb_msg_new(len);

	assert_non_null(m);
	if (len)
		memset(m->data, (int)(seq & 0xff), len);
	return rdsb_recv_msg(&eng, p, &h, m);
}

/* The next record on s's stream: its sequence number, its payload checked */
static uint64_t app_next_seq(struct rdsb_sock *s)
{
	struct rdsb_deliv_hdr h;
	uint8_t *data;

	assert_int_equal(recv(s->app_fd, &h, sizeof(h), MSG_DONTWAIT | MSG_WAITALL), sizeof(h));
	s->shm->rx_consumed += sizeof(h);
	data = malloc(h.len + 1);
	assert_non_null(data);
	app_read_into(s, data, h.len);
	for (uint32_t i = 0; i < h.len; i++)
		assert_int_equal(data[i], h.seq & 0xff);
	free(data);
	return h.seq;
}

static struct rdsb_path *path_up(void)
{
	struct rdsb_conn *c = rdsb_conn_get(&eng, A, B, 0, true);
	struct rdsb_path *p = &c->paths[0];

	c->ss = &ss_entry;
	p->state = RDSB_PATH_UP;
	p->ev.fd = FAKE_FD;
	return p;
}

/* One path's records for two sockets, in one event batch: the sequence
 * state's next_rx_seq is, after every write, the first record of the path
 * in no stream (a killed engine's peer sends from there again); a record
 * for the second socket goes after the first socket's records before it
 * are written, so that what the streams hold is a prefix of the path; the
 * first socket's stream, full (its application reads nothing), grows. */
static void test_rx_safe_two_sockets(void **state)
{
	struct rdsb_sock *s1 = open_bound(4000), *s2 = open_bound(4001);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];

	(void)state;
	eng.batching = true;
	assert_true(recv_on(p, 1, 4000, 100));
	assert_true(recv_on(p, 2, 4000, 100));
	/* queued for the batch's end: not received yet */
	assert_int_equal(sp->next_rx_seq, 1);
	assert_int_equal(rdsb_path_rx_safe(p), 0);
	assert_true(recv_on(p, 3, 4001, 100));
	/* s1's records went first */
	assert_true(list_empty(&s1->rx_q));
	assert_false(list_empty(&s2->rx_q));
	assert_int_equal(sp->next_rx_seq, 3);
	assert_int_equal(rdsb_path_rx_safe(p), 2);
	/* a record dropped (no socket, no rebind time) waits for nothing */
	assert_true(recv_on(p, 4, 4009, 10));
	assert_int_equal(sp->next_rx_seq, 3);
	rdsb_sock_flush(&eng, s2);
	assert_int_equal(sp->next_rx_seq, 5);
	assert_int_equal(p->next_rx_seq, 5);
	/* s1's stream at its first size (twice 4 MiB, as the kernel counts
	 * it): 9 records of 1 MiB grow it */
	for (uint64_t seq = 5; seq < 14; seq++) {
		assert_true(recv_on(p, seq, 4000, 1 << 20));
		rdsb_sock_flush(&eng, s1);
		assert_true(list_empty(&s1->rx_q));
		assert_int_equal(sp->next_rx_seq, seq + 1);
	}
	assert_true(s1->stream_buf > STREAM_BUF);
	assert_true(recv_on(p, 14, 4001, 7));
	assert_true(recv_on(p, 15, 4000, 7));	/* after s2's 14 is written */
	assert_true(list_empty(&s2->rx_q));
	assert_int_equal(sp->next_rx_seq, 15);
	eng.batching = false;
	rdsb_sock_flush(&eng, s1);
	assert_int_equal(sp->next_rx_seq, 16);
	assert_int_equal(rdsb_path_rx_safe(p), 15);
	/* each stream has its records whole, in the path's order */
	assert_int_equal(app_next_seq(s1), 1);
	assert_int_equal(app_next_seq(s1), 2);
	for (uint64_t seq = 5; seq < 14; seq++)
		assert_int_equal(app_next_seq(s1), seq);
	assert_int_equal(app_next_seq(s1), 15);
	assert_int_equal(app_next_seq(s2), 3);
	assert_int_equal(app_next_seq(s2), 14);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 1);
	p->ev.fd = -1;
}

static int kernel_sndbuf(const struct rdsb_sock *s)
{
	int v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(s->data.fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	return v;
}

static void socks_timer(void)
{
	uint64_t next = UINT64_MAX;

	rdsb_socks_timer(&eng, &next);
}

/* A stream grown by a burst its application did not read goes back to its
 * first size at the timer once the application has read it down to less
 * than half of that, not before, nor while a record waits to be written;
 * the records it still holds stay, and the next burst, written behind
 * them, grows it again: all arrive whole, in the path's order. */
static void test_stream_shrinks_after_drain(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p = path_up();
	uint64_t seq;
	int grown;

	(void)state;
	/* 10 records of 1 MiB unread: past its first size (twice 4 MiB, as
	 * the kernel counts it), the stream grows to take them */
	for (seq = 1; seq <= 10; seq++)
		assert_true(recv_on(p, seq, 4000, 1 << 20));
	assert_true(list_empty(&s->rx_q));
	grown = s->stream_buf;
	assert_true(grown > STREAM_BUF);
	assert_int_equal(kernel_sndbuf(s), 2 * grown);
	socks_timer();
	assert_int_equal(s->stream_buf, grown);
	/* 2 records unread: 2 MiB and their headers, not below half */
	for (seq = 1; seq <= 8; seq++)
		assert_int_equal(app_next_seq(s), seq);
	socks_timer();
	assert_int_equal(s->stream_buf, grown);
	assert_int_equal(kernel_sndbuf(s), 2 * grown);
	/* 1 unread, and one waiting to be written: kept for it */
	assert_int_equal(app_next_seq(s), 9);
	eng.batching = true;
	assert_true(recv_on(p, 11, 4000, 100));
	assert_false(list_empty(&s->rx_q));
	socks_timer();
	assert_int_equal(s->stream_buf, grown);
	eng.batching = false;
	rdsb_sock_flush(&eng, s);
	assert_true(list_empty(&s->rx_q));
	socks_timer();
	assert_int_equal(s->stream_buf, STREAM_BUF);
	assert_int_equal(kernel_sndbuf(s), 2 * STREAM_BUF);
	/* 9 records of 1 MiB behind the 2 still unread: it grows again */
	for (seq = 12; seq <= 20; seq++)
		assert_true(recv_on(p, seq, 4000, 1 << 20));
	assert_true(list_empty(&s->rx_q));
	assert_true(s->stream_buf > STREAM_BUF);
	for (seq = 10; seq <= 20; seq++)
		assert_int_equal(app_next_seq(s), seq);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 21);
	socks_timer();
	assert_int_equal(s->stream_buf, STREAM_BUF);
	assert_int_equal(eng.counters[RDSB_C_RX_DELIVERED], 20);
	p->ev.fd = -1;
}

/* Records 1 to 8 of p for s, of 2000 bytes, written at the batch's end
 * into a stream at its largest (its send buffer the smallest there is),
 * which takes some of them */
static void short_write(struct rdsb_sock *s, struct rdsb_path *p)
{
	int small = 1;

	assert_int_equal(setsockopt(s->data.fd, SOL_SOCKET, SO_SNDBUFFORCE, &small, sizeof(small)), 0);
	s->stream_buf = INT_MAX;	/* grown as far as it goes */
	eng.batching = true;
	for (uint64_t seq = 1; seq <= 8; seq++)
		assert_true(recv_on(p, seq, 4000, 2000));
	assert_int_equal(ss_entry.path[0].next_rx_seq, 1);
	rdsb_sock_flush(&eng, s);
	assert_false(list_empty(&s->rx_q));
}

/* A stream at its largest that takes part of a write: the sequence state
 * says received only what it took whole, the rest once it is written. */
static void test_rx_safe_short_write(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];

	(void)state;
	short_write(s, p);
	/* some written whole, one in part, the rest queued */
	assert_true(s->rx_head_off > 0);
	assert_int_equal(sp->next_rx_seq, list_first_entry(&s->rx_q, struct rdsb_msg, item)->seq);
	assert_true(sp->next_rx_seq > 1 && sp->next_rx_seq < 9);
	assert_int_equal(rdsb_path_rx_safe(p), sp->next_rx_seq - 1);
	for (uint64_t want = 1; want <= 8; want++) {
		uint64_t before = sp->next_rx_seq;

		assert_int_equal(app_next_seq(s), want);
		rdsb_sock_event(&eng, s, &s->data, EPOLLOUT);
		assert_true(sp->next_rx_seq >= before);
		assert_true(sp->next_rx_seq > want);
		assert_int_equal(sp->next_rx_seq, list_empty(&s->rx_q) ? 9 :
				 list_first_entry(&s->rx_q, struct rdsb_msg, item)->seq);
	}
	assert_int_equal(sp->next_rx_seq, 9);
	p->ev.fd = -1;
}

/* Without a sequence state (no BPF maps) the path keeps the number. */
static void test_rx_safe_without_seqstate(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p = path_up();

	(void)state;
	p->conn->ss = NULL;
	eng.batching = true;
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 10));
	assert_int_equal(rdsb_path_rx_safe(p), 0);
	rdsb_sock_flush(&eng, s);
	assert_int_equal(rdsb_path_rx_safe(p), 2);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 0);
	p->ev.fd = -1;
}

/* On the BPF receive path (the transport delivers and applies the duplicate
 * rule itself) a record it passed up moves the sequence state only once it
 * is in a stream, and only then is it off the transport's count (the
 * verdict delivers past it from there); the acknowledged number is the
 * sequence state's, which the verdict moves too. */
static void test_rx_safe_prechecked(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];

	(void)state;
	p->rx_prechecked = true;
	sp->next_rx_seq = 6;		/* the verdict delivered up to 5 */
	p->rx_up_next = 6;
	assert_int_equal(rdsb_path_rx_safe(p), 5);
	eng.batching = true;
	assert_true(recv_on(p, 6, 4000, 10));
	assert_true(recv_on(p, 7, 4000, 10));
	assert_int_equal(sp->next_rx_seq, 6);	/* in no stream yet */
	assert_int_equal(tp.rx_taken, 0);
	rdsb_sock_flush(&eng, s);
	assert_int_equal(app_next_seq(s), 6);
	assert_int_equal(sp->next_rx_seq, 8);
	assert_int_equal(tp.rx_taken, 2);
	assert_int_equal(rdsb_path_rx_safe(p), 7);
	sp->next_rx_seq = 12;		/* the verdict's again */
	assert_int_equal(rdsb_path_rx_safe(p), 11);
	/* forgotten (a new sequence space) before they are written: off the
	 * count too */
	assert_true(recv_on(p, 12, 4000, 10));
	rdsb_path_rx_forget(p);
	assert_int_equal(tp.rx_taken, 3);
	p->ev.fd = -1;
}

/* After a restart, a record for a port nobody bound yet is held: it keeps
 * the sequence state below it, and the path's records after it wait with
 * it, whatever their port, until its socket is bound. */
static void test_rx_safe_held(void **state)
{
	struct rdsb_sock *s1 = open_bound(4000), *s2 = open_sock();
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];
	uint16_t port = 4002;

	(void)state;
	eng.rebind_until = eng.now + 1000 * NSEC_PER_MSEC;
	assert_true(recv_on(p, 1, 4000, 10));
	assert_int_equal(sp->next_rx_seq, 2);
	assert_true(recv_on(p, 2, 4002, 10));
	assert_true(recv_on(p, 3, 4000, 10));
	assert_int_equal(eng.held_bytes, 20);
	assert_int_equal(sp->next_rx_seq, 2);
	assert_int_equal(rdsb_sock_bind(&eng, s2, A, 0, &port, false), 0);
	assert_int_equal(eng.held_bytes, 0);
	assert_int_equal(sp->next_rx_seq, 4);
	assert_int_equal(app_next_seq(s1), 1);
	assert_int_equal(app_next_seq(s1), 3);
	assert_int_equal(app_next_seq(s2), 2);
	p->ev.fd = -1;
}

/* The rebind time over, before the timer has dropped what no socket came
 * back for: a record behind a held one still waits with it (it went into
 * its socket's stream ahead of it, and a kill then had the next engine
 * take the peer's retransmission of both: one delivered twice). */
static void test_rx_held_past_rebind_time(void **state)
{
	struct rdsb_sock *s1 = open_bound(4000);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];

	(void)state;
	eng.rebind_until = eng.now + 1000 * NSEC_PER_MSEC;
	assert_true(recv_on(p, 1, 4002, 10));	/* held: nobody bound 4002 yet */
	eng.now = eng.rebind_until;		/* over; the timer has not run */
	assert_true(recv_on(p, 2, 4000, 10));
	assert_int_equal(sp->next_rx_seq, 1);
	assert_int_equal(recv(s1->app_fd, &(char){ 0 }, 1, MSG_DONTWAIT | MSG_PEEK), -1);
	eng.rebind_until = 0;			/* as the engine's timer: */
	rdsb_held_release(&eng, NULL);		/* drops 1, then delivers 2 */
	assert_int_equal(eng.held_bytes, 0);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 1);
	assert_int_equal(app_next_seq(s1), 2);
	assert_int_equal(sp->next_rx_seq, 3);
	p->ev.fd = -1;
}

/* A record behind a held one that finds the held list full: its path
 * waits for the list to be released (it went into its socket's stream
 * ahead of the held one), and goes on, in order, once it is. */
static void test_rx_held_full_stalls(void **state)
{
	struct rdsb_sock *s1 = open_bound(4000), *s2 = open_sock();
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];
	uint16_t port = 4002;

	(void)state;
	eng.rebind_until = eng.now + 1000 * NSEC_PER_MSEC;
	eng.held_bytes = RDSB_HELD_MAX - 15;	/* room for one record of 10 */
	assert_true(recv_on(p, 1, 4002, 10));	/* held */
	assert_false(recv_on(p, 2, 4000, 10));	/* no room behind it: waits */
	assert_int_equal(p->rx_stalled->seq, 2);
	assert_int_equal(recv(s1->app_fd, &(char){ 0 }, 1, MSG_DONTWAIT | MSG_PEEK), -1);
	assert_int_equal(sp->next_rx_seq, 1);
	eng.held_bytes -= RDSB_HELD_MAX - 15;
	assert_int_equal(rdsb_sock_bind(&eng, s2, A, 0, &port, 0), 0);	/* 1 goes */
	assert_true(rdsb_paths_resume(&eng));					/* then 2 */
	assert_null(p->rx_stalled);
	assert_int_equal(app_next_seq(s2), 1);
	assert_int_equal(app_next_seq(s1), 2);
	assert_int_equal(sp->next_rx_seq, 3);
	p->ev.fd = -1;
}

/* ---------------------------------------------- ports that outlive it */

#define PORTS_BYTES (RDSB_PORTS_N * sizeof(struct rdsb_port_owner))
#define HELDLOG_BYTES (RDSB_HELDLOG_PAGES * sizeof(struct rdsb_heldlog_page))

static int heldlog_fd = -1;	/* rdsb_heldlog, kept across restart() */

/* The pinned rdsb_ports and rdsb_heldlog as the engine maps them: memfds
 * of their size */
static int ports_map(void)
{
	int fd = memfd_create("rdsb_ports", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, PORTS_BYTES), 0);
	if (heldlog_fd >= 0)
		close(heldlog_fd);
	heldlog_fd = memfd_create("rdsb_heldlog", MFD_CLOEXEC);
	assert_true(heldlog_fd >= 0);
	assert_int_equal(ftruncate(heldlog_fd, HELDLOG_BYTES), 0);
	eng.ports_fd = fd;
	eng.heldlog_fd = heldlog_fd;
	rdsb_heldlog_init(&eng);
	rdsb_ports_init(&eng);
	assert_non_null(eng.ports);
	assert_non_null(eng.heldlog.hdr);
	return fd;
}

/* The engine goes (its sockets to the next one, as a killed engine's
 * are: what is in a stream stays there, what is held stays in the held
 * log) and the next one starts on the same tables */
static void restart(int fd)
{
	struct rdsb_seqstate *ss = eng.seqstate;

	eng.stopping = true;
	teardown(NULL);
	setup(NULL);
	eng.seqstate = ss;
	eng.ports_fd = fd;
	eng.heldlog_fd = heldlog_fd;
	eng.restarted = true;
	rdsb_heldlog_init(&eng);
	rdsb_ports_init(&eng);
	rdsb_heldlog_load(&eng);
}

static unsigned int holds(void)
{
	return list_count(&eng.port_holds);
}

/* A bound socket's entry: its address, port, process (with that
 * process's start time) and receive buffer; a socket closed while the
 * engine runs leaves none, one of an engine that stops keeps its own. */
static void test_ports_store(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s1 = open_bound(4000), *s2 = open_bound(4001);
	struct rdsb_port_owner *o = s1->owner;

	(void)state;
	assert_non_null(o);
	assert_int_equal(o->in_use, 1);
	assert_int_equal(o->port, 4000);
	assert_memory_equal(o->addr, A, 16);
	assert_int_equal(o->pid, getpid());
	assert_true(o->start && o->start == rdsb_proc_start((uint32_t)getpid()));
	rdsb_sock_set_rcvbuf(&eng, s1, 5000);
	assert_int_equal(o->rcvbuf, 5000);
	assert_non_null(s2->owner);
	o = s2->owner;
	rdsb_sock_close(&eng, s2);
	assert_int_equal(o->in_use, 0);
	eng.stopping = true;
	o = s1->owner;
	rdsb_sock_close(&eng, s1);
	assert_int_equal(o->in_use, 1);
	eng.stopping = false;
	close(fd);
}

/* The next engine holds the port of a socket of the engine before, whose
 * process lives, past the rebind time: what arrives for it waits, as if in
 * a stream (a port nobody had bound is dropped), another process cannot bind it, and the
 * socket that comes back (the library binds again) gets it, in order, and
 * takes the entry. */
static void test_ports_reload(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s;
	struct rdsb_path *p;
	struct rdsb_port_owner *o;
	uint16_t port = 4000;

	(void)state;
	open_bound(4000);
	restart(fd);
	assert_int_equal(holds(), 1);
	o = list_first_entry(&eng.port_holds, struct rdsb_port_hold, item)->owner;
	p = path_up();
	assert_int_equal(eng.rebind_until, 0);
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 10));
	assert_true(recv_on(p, 3, 4002, 10));
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 1);
	/* what is held for a port is in the engine's keeping as in a
	 * stream: the path's number goes past it (and the peer forgets it) */
	assert_int_equal(ss_entry.path[0].next_rx_seq, 4);
	s = open_sock();
	s->pid = 1;	/* opened by another process */
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, 0), EADDRINUSE);
	/* of another user: not even as a socket opened again */
	s->uid = 65534;
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, RDSB_BIND_AGAIN), EADDRINUSE);
	s->uid = o->uid;
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, RDSB_BIND_AGAIN), 0);
	assert_int_equal(holds(), 0);
	assert_ptr_equal(s->owner, o);
	assert_int_equal(o->pid, 1);
	assert_int_equal(app_next_seq(s), 1);
	assert_int_equal(app_next_seq(s), 2);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 4);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 1);
	p->ev.fd = -1;
	close(fd);
}

/* A held port holds up nothing else: the path's next record, for a socket
 * bound already, goes to its stream at once, and the path's number passes
 * both (a process that stays stopped after a restart keeps no other
 * socket, nor the peer's senders, waiting) */
static void test_ports_hold_keeps_no_one_waiting(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s;
	struct rdsb_path *p;

	(void)state;
	open_bound(4000);
	restart(fd);
	assert_int_equal(holds(), 1);
	s = open_bound(4002);
	p = path_up();
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4002, 10));
	rdsb_sock_flush(&eng, s);
	assert_int_equal(app_next_seq(s), 2);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 3);
	assert_int_equal(holds(), 1);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 0);
	p->ev.fd = -1;
	close(fd);
}

/* An entry whose process is gone at the start goes at once: a pid no
 * process has, and one a process has that started at another time (the
 * pid reused) */
static void test_ports_stale_and_reused_pid(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s = open_bound(4000);
	unsigned int live = (unsigned int)(s->owner - eng.ports), stale = RDSB_PORTS_N - 1,
		     reused = RDSB_PORTS_N - 2;
	pid_t child = fork();

	(void)state;
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	eng.ports[stale] = eng.ports[live];
	eng.ports[stale].port = 4001;
	eng.ports[stale].pid = (uint32_t)child;
	eng.ports[reused] = eng.ports[live];
	eng.ports[reused].port = 4002;
	eng.ports[reused].start++;
	restart(fd);
	assert_int_equal(holds(), 1);
	assert_ptr_equal(list_first_entry(&eng.port_holds, struct rdsb_port_hold, item)->owner, &eng.ports[live]);
	assert_int_equal(eng.ports[live].in_use, 1);
	assert_int_equal(eng.ports[stale].in_use, 0);
	assert_int_equal(eng.ports[reused].in_use, 0);
	close(fd);
}

/* The process of a held port goes: the timer drops what was held for it,
 * counted as for a port nobody bound, and the entry with it */
static void test_ports_owner_gone(void **state)
{
	int fd = ports_map();
	struct rdsb_port_owner *o;
	struct rdsb_path *p;
	uint64_t next = UINT64_MAX;

	(void)state;
	open_bound(4000);
	restart(fd);
	p = path_up();
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 10));
	o = list_first_entry(&eng.port_holds, struct rdsb_port_hold, item)->owner;
	rdsb_ports_timer(&eng, &next);		/* looked at: it lives */
	assert_int_equal(holds(), 1);
	assert_int_equal(next, eng.ports_check_at);
	o->start++;
	eng.now = eng.ports_check_at;
	rdsb_ports_timer(&eng, &next);
	assert_int_equal(holds(), 0);
	assert_int_equal(o->in_use, 0);
	assert_true(list_empty(&eng.held));
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 2);
	assert_int_equal(ss_entry.path[0].next_rx_seq, 3);
	/* and from the held log */
	assert_int_equal(eng.heldlog.hdr->tail, eng.heldlog.hdr->head);
	p->ev.fd = -1;
	close(fd);
}

/* What a held port takes is its socket's: past its receive buffer the
 * port is congested, past its hard limit (8 MiB at least) the path stalls,
 * nothing is dropped; the socket back, the path goes on and the port stays
 * congested until the socket drains. */
static void test_ports_hold_limit(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p;
	uint16_t port = 4000;

	(void)state;
	rdsb_sock_set_rcvbuf(&eng, s, 1000);
	restart(fd);
	p = path_up();
	assert_true(recv_on(p, 1, 4000, 900));
	assert_int_equal(cong_local.calls, 0);
	assert_true(recv_on(p, 2, 4000, 3 << 20));
	assert_int_equal(cong_local.calls, 1);
	assert_true(cong_local.congested && cong_local.port == 4000);
	assert_true(recv_on(p, 3, 4000, 3 << 20));
	assert_false(recv_on(p, 4, 4000, 3 << 20));	/* stalled */
	assert_non_null(p->rx_stalled);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 0);
	s = open_sock();
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, 0), 0);	/* its process */
	assert_true(s->congested);
	assert_true(cong_local.congested);	/* not cleared in between */
	assert_false(list_empty(&eng.rx_ready));
	eng.batching = false;
	rdsb_paths_resume(&eng);
	assert_null(p->rx_stalled);
	for (uint64_t seq = 1; seq <= 4; seq++)
		assert_int_equal(app_next_seq(s), seq);
	p->ev.fd = -1;
	close(fd);
}

static unsigned int held_records(void)
{
	return list_count(&eng.held);
}

/* What a held port took outlives the engine that held it: the next one
 * takes it back from the held log, ahead of what arrives for the port
 * after, and delivers it all in order once the socket is back; written
 * into the stream, it leaves the log, so the engine after that takes
 * nothing again. */
static void test_ports_hold_outlives_engine(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s;
	struct rdsb_path *p;
	uint16_t port = 4000;

	(void)state;
	open_bound(4000);
	restart(fd);
	p = path_up();
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 3000));
	assert_int_equal(ss_entry.path[0].next_rx_seq, 3);	/* the peer forgets them */
	assert_true(eng.heldlog.hdr->head > eng.heldlog.hdr->tail);
	p->ev.fd = -1;
	restart(fd);
	assert_int_equal(holds(), 1);
	assert_int_equal(held_records(), 2);
	p = path_up();
	assert_true(recv_on(p, 3, 4000, 20));
	assert_int_equal(held_records(), 3);
	s = open_sock();
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, RDSB_BIND_AGAIN), 0);
	for (uint64_t seq = 1; seq <= 3; seq++)
		assert_int_equal(app_next_seq(s), seq);
	assert_int_equal(eng.heldlog.hdr->tail, eng.heldlog.hdr->head);
	assert_int_equal(eng.counters[RDSB_C_DROP_NO_SOCKET], 0);
	assert_int_equal(eng.counters[RDSB_C_RX_HELD_UNSAVED], 0);
	p->ev.fd = -1;
	restart(fd);
	assert_int_equal(held_records(), 0);
	close(fd);
}

/* A record the held log has but the sequence state does not count
 * received (the engine killed between the two) goes at the start: the
 * peer sends it again, and it is delivered once. */
static void test_heldlog_not_received_goes(void **state)
{
	static struct rdsb_seqstate table[RDSB_SEQSTATE_N];
	int fd = ports_map();
	struct rdsb_sock *s;
	struct rdsb_path *p;
	uint16_t port = 4000;

	(void)state;
	memset(table, 0, sizeof(table));
	table[1].in_use = 1;
	memcpy(table[1].laddr, A, 16);
	memcpy(table[1].faddr, B, 16);
	eng.seqstate = table;
	open_bound(4000);
	restart(fd);
	p = path_up();
	p->conn->ss = &table[1];
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 10));
	assert_int_equal(table[1].path[0].next_rx_seq, 3);
	table[1].path[0].next_rx_seq = 2;	/* killed before it passed 2 */
	p->ev.fd = -1;
	restart(fd);
	assert_int_equal(held_records(), 1);
	p = path_up();
	p->conn->ss = &table[1];
	p->next_rx_seq = 2;
	assert_true(recv_on(p, 2, 4000, 10));	/* sent again */
	s = open_sock();
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, RDSB_BIND_AGAIN), 0);
	assert_int_equal(app_next_seq(s), 1);
	assert_int_equal(app_next_seq(s), 2);
	assert_int_equal(recv(s->app_fd, &port, sizeof(port), MSG_DONTWAIT), -1);
	p->ev.fd = -1;
	eng.seqstate = NULL;
	close(fd);
}

/* The held log is bounded: a record it has no room for is held in memory
 * only, counted (rx_held_unsaved), and a second engine death loses it;
 * the others come back. */
static void test_heldlog_full(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s;
	struct rdsb_path *p;
	uint16_t port = 4000;

	(void)state;
	open_bound(4000);
	restart(fd);
	p = path_up();
	/* 7 records of 1 MiB fit in its 8 MiB with their headers, 8 not */
	for (uint64_t seq = 1; seq <= 8; seq++)
		assert_true(recv_on(p, seq, 4000, 1 << 20));
	assert_int_equal(held_records(), 8);
	assert_int_equal(eng.counters[RDSB_C_RX_HELD_UNSAVED], 1);
	p->ev.fd = -1;
	restart(fd);
	assert_int_equal(held_records(), 7);
	s = open_sock();
	assert_int_equal(rdsb_sock_bind(&eng, s, A, 0, &port, RDSB_BIND_AGAIN), 0);
	for (uint64_t seq = 1; seq <= 7; seq++)
		assert_int_equal(app_next_seq(s), seq);
	assert_int_equal(eng.heldlog.hdr->tail, eng.heldlog.hdr->head);
	close(fd);
}

/* A held log whose record claims more than the ring has (not the engine
 * before's writing) is believed in nothing: the next engine holds none of
 * it, says so, and runs. */
static void test_heldlog_damaged(void **state)
{
	int fd = ports_map();
	struct rdsb_path *p;
	struct rdsb_heldrec *r;

	(void)state;
	open_bound(4000);
	restart(fd);
	p = path_up();
	assert_true(recv_on(p, 1, 4000, 10));
	assert_true(recv_on(p, 2, 4000, 10));
	r = (struct rdsb_heldrec *)(eng.heldlog.ring + eng.heldlog.hdr->tail);
	r->len = 0xfffffff0u;
	p->ev.fd = -1;
	restart(fd);
	assert_int_equal(holds(), 1);		/* the port is held all the same */
	assert_int_equal(held_records(), 0);
	assert_int_equal(eng.heldlog.hdr->head, eng.heldlog.hdr->tail);
	close(fd);
}

/* A full table keeps no more: the socket binds all the same */
static void test_ports_full(void **state)
{
	int fd = ports_map();
	struct rdsb_sock *s;

	(void)state;
	for (unsigned int i = 0; i < RDSB_PORTS_N; i++)
		eng.ports[i].in_use = 1;
	s = open_bound(4000);
	assert_null(s->owner);
	rdsb_sock_close(&eng, s);
	for (unsigned int i = 0; i < RDSB_PORTS_N; i++)
		assert_int_equal(eng.ports[i].in_use, 1);
	close(fd);
}

/* An engine that stops drops what it could not write into a stream: the
 * sequence state keeps it not received, for the next engine to take the
 * peer's retransmission of it. */
static void test_rx_safe_stop_keeps_lost(void **state)
{
	struct rdsb_sock *s = open_bound(4000);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];
	uint64_t lost;

	(void)state;
	short_write(s, p);
	lost = list_first_entry(&s->rx_q, struct rdsb_msg, item)->seq;
	assert_int_equal(sp->next_rx_seq, lost);
	eng.stopping = true;
	rdsb_sock_close(&eng, s);
	assert_true(list_empty(&p->rx_unwritten));
	assert_int_equal(sp->next_rx_seq, lost);
	assert_int_equal(p->next_rx_seq, 9);
	rdsb_socks_reap(&eng);
	p->ev.fd = -1;
}

/* A record for another socket than the one whose stream has not taken the
 * path's records before it: the path stalls on that one, and goes on once
 * they are written. */
static void test_rx_safe_stalls_behind_another_socket(void **state)
{
	struct rdsb_sock *s1 = open_bound(4000), *s2 = open_bound(4001);
	struct rdsb_path *p = path_up();
	struct rdsb_seq_path *sp = &ss_entry.path[0];

	(void)state;
	short_write(s1, p);
	eng.batching = false;
	assert_false(recv_on(p, 9, 4001, 10));
	assert_int_equal(p->rx_stalled->seq, 9);
	assert_false(list_empty(&s1->stalled));
	assert_true(list_empty(&s2->stalled));
	assert_true(list_empty(&s2->rx_q));
	assert_int_equal(sp->next_rx_seq, list_first_entry(&s1->rx_q, struct rdsb_msg, item)->seq);
	for (uint64_t want = 1; want <= 8; want++) {
		assert_int_equal(app_next_seq(s1), want);
		rdsb_sock_event(&eng, s1, &s1->data, EPOLLOUT);
	}
	assert_true(list_empty(&s1->rx_q));
	assert_int_equal(sp->next_rx_seq, 9);
	assert_true(rdsb_paths_resume(&eng));
	assert_null(p->rx_stalled);
	assert_int_equal(sp->next_rx_seq, 10);
	assert_int_equal(app_next_seq(s2), 9);
	p->ev.fd = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_writes_at_its_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_congestion_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_clears_congestion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_engine_leaves_congestion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_limit_stalls_a_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_writes_what_it_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_senders_go_on_at_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resent_are_never_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_payloads_not_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_from_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_read_again_at_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_in_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_in_ring_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_two_sockets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_shrinks_after_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_short_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_without_seqstate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_prechecked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_hold_keeps_no_one_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_stale_and_reused_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_owner_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_hold_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_hold_outlives_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heldlog_not_received_goes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heldlog_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_held_past_rebind_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_held_full_stalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heldlog_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_stop_keeps_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_safe_stalls_behind_another_socket, setup, teardown),
	};
	return mock_run_tests(tests);
}
