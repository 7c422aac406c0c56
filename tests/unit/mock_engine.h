/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * For the engine's unit tests (cmocka): a mock transport whose ops count
 * what the core asked of them, and -Wl,--wrap= mocks of what the core
 * calls outside the files under test (address slots, the peer's congestion
 * map, epoll). One test program includes it once.
 */
#ifndef RDSB_TEST_MOCK_ENGINE_H
#define RDSB_TEST_MOCK_ENGINE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>
#include "../../user/engine/engine.h"
#include "../../transports/tcp/tcp.h"

#define NSEC_PER_MSEC 1000000ull
#define FAKE_FD 100

static bool mock_addr_local;		/* what rdsb_addr_is_local says */
static unsigned int cong_applied;	/* rdsb_cong_apply_peer calls */

int __wrap_rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope,
			  enum rdsb_addr_kind kind)
{
	(void)e;
	(void)addr;
	(void)scope;
	return kind == RDSB_ADDR_LOCAL ? 1 : 2;
}

void __wrap_rdsb_addr_put(struct rdsb_engine *e, int slot)
{
	(void)e;
	(void)slot;
}

void __wrap_rdsb_paths_info_forget(struct rdsb_engine *e, const struct rdsb_conn *c)
{
	(void)e;
	(void)c;
}

bool __wrap_rdsb_addr_is_local(const uint8_t addr[16], uint32_t scope)
{
	(void)addr;
	(void)scope;
	return mock_addr_local;
}

void __wrap_rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map)
{
	if (map)
		memcpy(e->cong[slot].bits, map, RDS_CONG_MAP_BYTES);
	cong_applied++;
}

int __wrap_rdsb_ev_set(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	(void)e;
	if (ev->fd < 0)
		return -1;
	ev->events = events;
	return 0;
}

void __wrap_rdsb_ev_del(struct rdsb_engine *e, struct rdsb_ev *ev)
{
	(void)e;
	ev->events = 0;
}

/* ------------------------------------------------- the mock transport */

static struct {
	unsigned int connects, ups, downs, shutdowns, changed, moving, recvs, xmits;
	bool connect_fails, last_reset, xmit_fails;
	bool xmit_full;			/* the socket takes nothing: all waits */
	bool ack_waiting;		/* ack_wait's last answer: each ack wakes */
	bool laddr_refused;		/* laddr_check refuses every address */
	unsigned int laddr_checks;
	bool stream;			/* recv_path reads p->ev.fd as a record stream */
	uint64_t armed;			/* sock_arm's last room */
	uint64_t written, acked;	/* stream bytes, as TCP counts them */
	struct rdsb_msg *sent_past;	/* conn_paths_moving finds it on path 0, unacked */
	uint64_t rx_taken;		/* records rx_taken was told of */
	uint64_t ack_sent;		/* rx_ack_sent's last number */
	bool ack_armed;			/* and whether it armed */
} tp;

/* The TCP transport's per-path state, for its stream reader (tcp_stream.c) */
static int t_conn_alloc(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_tcp_path *tps = calloc(RDS_MPATH_WORKERS, sizeof(*tps));

	(void)e;
	if (!tps)
		return -ENOMEM;
	c->t_data = tps;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		tps[i].path = &c->paths[i];
		c->paths[i].t_data = &tps[i];
	}
	return 0;
}

static void t_conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_tcp_path *tps = c->t_data;

	(void)e;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		tcp_reader_free(&tps[i].rx);
	free(tps);
	c->t_data = NULL;
}

/* No path of these tests is on the sockmap receive path */
void __wrap_tcp_sockmap_inbox_read(struct rdsb_engine *e)
{
	(void)e;
	fail_msg("the inbox is read only for a path on the sockmap receive path");
}

/* nor on the sk_msg send path (the transport's txpath stays NULL) */
int __wrap_tcp_skmsg_begin(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e, (void)p;
	fail_msg("the path's lock is taken only on the sk_msg send path");
	return -1;
}

void __wrap_tcp_skmsg_end(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e, (void)p;
	fail_msg("the path's lock is given back only on the sk_msg send path");
}

static int t_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	tp.connects++;
	if (tp.connect_fails)
		return -1;
	rdsb_path_connecting(e, p, FAKE_FD + (int)p->index, EPOLLOUT);
	assert_true(p->outgoing);
	assert_int_equal(p->ev.events, EPOLLOUT);
	return 0;
}

static void t_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	tp.ups++;
}

static void t_path_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	/* the core has not let go of the socket yet */
	assert_true(p->ev.fd >= 0);
	assert_int_equal(p->state, RDSB_PATH_DISCONNECTING);
	tp.downs++;
}

static void t_shutdown(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	(void)e;
	tp.shutdowns++;
	tp.last_reset = reset;
	if (tp.stream)
		close(p->ev.fd);
	p->ev.fd = -1;
	tp.written = tp.acked = 0;
}

static void t_paths_changed(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	(void)c;
	tp.changed++;
}

/* as the sk_msg path's: what applications sent on a path joins its unacked */
static void t_paths_moving(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	tp.moving++;
	if (tp.sent_past) {
		list_add_tail(&tp.sent_past->item, &c->paths[0].unacked);
		c->paths[0].nunacked++;
		tp.sent_past = NULL;
	}
}

static void t_path_nop(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
}

static void t_recv(struct rdsb_engine *e, struct rdsb_path *p)
{
	tp.recvs++;
	if (tp.stream)
		tcp_stream_recv(e, p);
}

static int t_prepare(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return 0;
}

/* Every queued message goes on the wire whole: 48 header bytes + payload. */
static int t_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	tp.xmits++;
	if (tp.xmit_fails)
		return -EPIPE;
	while (!tp.xmit_full && !list_empty(&p->send_q)) {
		struct rdsb_msg *m = list_first_entry(&p->send_q, struct rdsb_msg, item);

		rdsb_msg_encode(p, m);
		list_del_init(&m->item);
		tp.written += RDS_HEADER_SIZE + m->len;
		m->end_off = tp.written;
		rdsb_path_msg_sent(p, m);
	}
	return 0;
}

static uint64_t t_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return tp.acked;
}

static void t_ack_wait(struct rdsb_engine *e, struct rdsb_path *p, bool waiting)
{
	(void)e;
	(void)p;
	tp.ack_waiting = waiting;
}

static uint64_t t_ack_poll(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return NSEC_PER_MSEC;
}

static void t_seq_reset(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
}

static int t_sock_open(struct rdsb_engine *e, struct rdsb_sock *s, int fds[3])
{
	(void)e;
	(void)s;
	(void)fds;
	return 0;
}

static void t_sock_nop(struct rdsb_engine *e, struct rdsb_sock *s)
{
	(void)e;
	(void)s;
}

static int t_laddr_check(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope)
{
	(void)e;
	(void)addr;
	(void)scope;
	tp.laddr_checks++;
	return tp.laddr_refused ? -EADDRNOTAVAIL : 0;
}

static uint64_t t_sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s)
{
	(void)e;
	(void)s;
	return 0;	/* the transport delivers nothing itself */
}

static void t_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room)
{
	(void)e;
	(void)s;
	tp.armed = room;
}

static int t_sock_out(struct rdsb_engine *e, struct rdsb_sock *s)
{
	(void)e;
	(void)s;
	return -1;	/* deliveries go into the socket's own stream */
}

static void t_rx_taken(struct rdsb_engine *e, struct rdsb_path *p, uint64_t n)
{
	(void)e;
	(void)p;
	tp.rx_taken += n;
}

static void t_rx_ack_sent(struct rdsb_engine *e, struct rdsb_path *p, uint64_t sent, bool arm)
{
	(void)e;
	(void)p;
	tp.ack_sent = sent;
	tp.ack_armed = arm;
}

static const struct rdsb_transport mock_tp = {
	.name = "mock",
	.conn_alloc = t_conn_alloc,
	.conn_free = t_conn_free,
	.conn_path_connect = t_connect,
	.conn_path_up = t_path_up,
	.conn_path_down = t_path_down,
	.conn_path_shutdown = t_shutdown,
	.conn_paths_changed = t_paths_changed,
	.conn_paths_moving = t_paths_moving,
	.conn_path_seq_reset = t_seq_reset,
	.conn_path_sync = t_path_nop,
	.recv_path = t_recv,
	.rx_taken = t_rx_taken,
	.rx_ack_sent = t_rx_ack_sent,
	.xmit_path_prepare = t_prepare,
	.xmit = t_xmit,
	.xmit_path_complete = t_path_nop,
	.acked = t_acked,
	.ack_wait = t_ack_wait,
	.ack_poll_ns = t_ack_poll,
	.sock_open = t_sock_open,
	.laddr_check = t_laddr_check,
	.sock_bind = t_sock_nop,
	.sock_close = t_sock_nop,
	.sock_delivered = t_sock_delivered,
	.sock_arm = t_sock_arm,
	.sock_out = t_sock_out,
};


/* ------------------------------------------------------------ fixture */

static struct rdsb_engine eng;
static struct rdsb_cong_map cong[4];
static const uint8_t A[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 1 };	/* ::ffff:10.99.0.1 */
static const uint8_t B[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 2 };

static void mock_engine_init(void)
{
	memset(&eng, 0, sizeof(eng));
	memset(&tp, 0, sizeof(tp));
	memset(cong, 0, sizeof(cong));
	INIT_LIST_HEAD(&eng.conns);
	INIT_LIST_HEAD(&eng.socks);
	INIT_LIST_HEAD(&eng.dead_socks);
	INIT_LIST_HEAD(&eng.ctl_clients);
	INIT_LIST_HEAD(&eng.dropped);
	INIT_LIST_HEAD(&eng.rx_ready);
	INIT_LIST_HEAD(&eng.held_stalled);
	INIT_LIST_HEAD(&eng.held);
	INIT_LIST_HEAD(&eng.port_holds);
	eng.ports_fd = -1;
	eng.heldlog_fd = -1;
	INIT_LIST_HEAD(&eng.tx_held);
	INIT_LIST_HEAD(&eng.tx_due);
	INIT_LIST_HEAD(&eng.rx_due);
	INIT_LIST_HEAD(&eng.ack_due);
	INIT_LIST_HEAD(&eng.wake_due);
	INIT_LIST_HEAD(&eng.rq_active);
	eng.tp = &mock_tp;
	eng.cong = cong;
	eng.max_paths = RDS_MPATH_WORKERS;
	eng.gen_num = 7;
	eng.next_sock_id = 1;
	eng.addrs_fd = eng.cong_fd = -1;
	eng.now = 1000 * NSEC_PER_MSEC;
	cong_applied = 0;
	mock_addr_local = false;
}

/* cmocka's run, then the "N passed, M failed" line tools/run-tests.sh counts */
#define mock_run_tests(tests) mock_report(cmocka_run_group_tests(tests, NULL, NULL), \
					  (int)(sizeof(tests) / sizeof((tests)[0])))
static int mock_report(int failed, int n)
{
	printf("%d passed, %d failed\n", n - failed, failed);
	return failed ? 1 : 0;
}

#endif
