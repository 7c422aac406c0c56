// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The RDS_INFO getsockopt family (info.c in the kernel): packed records of
 * <linux/rds.h>. As in the kernel, the v4 variants skip IPv6 entries and the
 * RDS6 variants list everything (IPv4 as v4-mapped). rds-info, `rds-bpf info`
 * and programs that wait for their send queue to drain read these; the
 * RDSB_INFO_* records (<rds-bpf/info.h>) add what only rds-bpf has.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/rds.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <rds-bpf/info.h>
#include "engine.h"
#include "../common/ctl_proto.h"
#include "../common/sysctl.h"
#include "../common/addr.h"

void rdsb_info_put(struct rdsb_info_out *o, const void *item, size_t size)
{
	if (o->len + size <= o->cap)
		memcpy(o->buf + o->len, item, size);
	o->len += size;
}

bool rdsb_info_listed(const struct rdsb_info_out *o, const uint8_t addr[16])
{
	return o->six || rdsb_addr_is_v4(addr);
}

static void put_msg(struct rdsb_info_out *o, const uint8_t laddr[16], const uint8_t faddr[16], uint16_t lport,
		    uint16_t fport, uint64_t seq, uint32_t len)
{
	if (o->six) {
		struct rds6_info_message r = { .seq = seq, .len = len, .lport = htobe16(lport),
					       .fport = htobe16(fport) };

		memcpy(&r.laddr, laddr, 16);
		memcpy(&r.faddr, faddr, 16);
		rdsb_info_put(o, &r, sizeof(r));
	} else {
		struct rds_info_message r = { .seq = seq, .len = len, .laddr = rdsb_addr_v4(laddr), .faddr = rdsb_addr_v4(faddr),
					      .lport = htobe16(lport), .fport = htobe16(fport) };

		rdsb_info_put(o, &r, sizeof(r));
	}
}

/* The kernel's IPv4 send and retransmit lists carry laddr and faddr 0.0.0.0
 * (net/rds/connection.c __rds_inc_msg_cp reads the first 32 bits of the
 * connection's v4-mapped in6_addr; 6.1 and 7.2 alike): so do ours. The IPv6
 * lists carry the addresses. */
static const uint8_t *queue_addr(const struct rdsb_info_out *o, const uint8_t addr[16])
{
	static const uint8_t zero[16];

	return o->six ? addr : zero;
}

static void send_messages(struct rdsb_engine *e, struct rdsb_info_out *o, bool retrans)
{
	struct rdsb_conn *c;
	struct rdsb_msg *m;

	list_for_each_entry(c, &e->conns, item) {
		if (!rdsb_info_listed(o, c->laddr))
			continue;
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct list_head *l = retrans ? &c->paths[i].unacked : &c->paths[i].send_q;

			list_for_each_entry(m, l, item)
				if (!rdsb_msg_control(m))
					put_msg(o, queue_addr(o, c->laddr), queue_addr(o, c->faddr), m->sport, m->dport,
						m->seq, m->len);
		}
		if (retrans)
			continue;
		/* waiting for the handshake to pick a path counts as queued */
		list_for_each_entry(m, &c->pending, item)
			put_msg(o, queue_addr(o, c->laddr), queue_addr(o, c->faddr), m->sport, m->dport, 0, m->len);
	}
}

static void put_delivery(struct rdsb_engine *e, struct rdsb_info_out *o, const struct rdsb_sock *s,
			 uint64_t slot, uint16_t sport, uint64_t seq, uint32_t len, uint8_t flags)
{
	static const uint8_t none[16];
	const uint8_t *from = slot < RDSB_MAX_ADDRS ? e->addrs[slot].addr : none;

	if (!(flags & RDSB_DELIV_NOTIFY))
		put_msg(o, s->addr, from, s->port, sport, seq, len);
}

/* What the application has not read yet is in its end of the delivery
 * stream: peek at it from the engine's copy of that end. A record the
 * application is reading right now ends the walk (a snapshot, as the
 * kernel's is). */
static void stream_messages(struct rdsb_engine *e, struct rdsb_info_out *o, const struct rdsb_sock *s)
{
	/* not SIOCINQ: it does not count what BPF queued in the socket */
	size_t inq = (size_t)rdsb_sock_stream_bytes(e, s), off = 0;
	ssize_t n;
	uint8_t *buf;

	if (!inq)
		return;
	buf = malloc((size_t)inq);
	if (!buf)
		return;
	n = recv(s->app_fd, buf, (size_t)inq, MSG_PEEK | MSG_DONTWAIT);
	while (n > 0 && off + RDS_HEADER_SIZE <= (size_t)n) {
		struct rdsb_deliv_hdr h;

		memcpy(&h, buf + off, sizeof(h));
		rdsb_deliv_hdr_decode(&h, __atomic_load_n(&s->shm->rx_peer, __ATOMIC_ACQUIRE));
		if (!rdsb_msg_size_ok(h.len) || off + RDS_HEADER_SIZE + h.len > (size_t)n)
			break;
		put_delivery(e, o, s, h.slot, h.sport, h.seq, h.len, h.flags);
		off += RDS_HEADER_SIZE + h.len;
	}
	free(buf);
}

static void recv_messages(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_sock *s;
	struct rdsb_msg *m;

	list_for_each_entry(s, &e->socks, item) {
		if (!s->bound || !rdsb_info_listed(o, s->addr))
			continue;
		stream_messages(e, o, s);
		list_for_each_entry(m, &s->rx_q, item)
			put_delivery(e, o, s, m->from_slot, m->sport, m->seq, m->len, m->flags);
	}
}

static void sockets(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_sock *s;

	list_for_each_entry(s, &e->socks, item) {
		struct stat st = { 0 };

		if (s->closed || (!o->six && (!s->bound || !rdsb_addr_is_v4(s->addr))))
			continue;
		fstat(s->app_fd, &st);	/* the inode of the application's fd */
		if (o->six) {
			struct rds6_info_socket r = { .sndbuf = s->sndbuf, .rcvbuf = s->rcvbuf,
						      .bound_port = htobe16(s->port), .inum = st.st_ino };

			if (s->bound)
				memcpy(&r.bound_addr, s->addr, 16);
			rdsb_info_put(o, &r, sizeof(r));
		} else {
			struct rds_info_socket r = { .sndbuf = s->sndbuf, .rcvbuf = s->rcvbuf,
						     .bound_addr = rdsb_addr_v4(s->addr), .bound_port = htobe16(s->port),
						     .inum = st.st_ino };

			rdsb_info_put(o, &r, sizeof(r));
		}
	}
}

static uint8_t conn_flags(const struct rdsb_conn *c)
{
	const struct rdsb_path *p = &c->paths[0];
	uint8_t f = 0;

	if (!list_empty(&p->send_q))
		f |= RDS_INFO_CONNECTION_FLAG_SENDING;
	if (p->state == RDSB_PATH_CONNECTING)
		f |= RDS_INFO_CONNECTION_FLAG_CONNECTING;
	if (p->state == RDSB_PATH_UP || c->loopback)
		f |= RDS_INFO_CONNECTION_FLAG_CONNECTED;
	return f;
}

static void connections(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		const struct rdsb_path *p = &c->paths[0];	/* path 0 only, as the kernel */
		const char *t = c->loopback ? "loopback" : e->tp->name;

		if (!rdsb_info_listed(o, c->laddr))
			continue;
		if (o->six) {
			struct rds6_info_connection r = { .next_tx_seq = p->next_tx_seq,
							  .next_rx_seq = p->next_rx_seq, .flags = conn_flags(c) };

			memcpy(&r.laddr, c->laddr, 16);
			memcpy(&r.faddr, c->faddr, 16);
			strncpy((char *)r.transport, t, TRANSNAMSIZ - 1);
			rdsb_info_put(o, &r, sizeof(r));
		} else {
			struct rds_info_connection r = { .next_tx_seq = p->next_tx_seq,
							 .next_rx_seq = p->next_rx_seq, .laddr = rdsb_addr_v4(c->laddr),
							 .faddr = rdsb_addr_v4(c->faddr), .flags = conn_flags(c) };

			strncpy((char *)r.transport, t, TRANSNAMSIZ - 1);
			rdsb_info_put(o, &r, sizeof(r));
		}
	}
}

/* The engine's counts plus what BPF programs counted in the per-CPU
 * rdsb_counters map (the same slots). */
static void counters(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	uint64_t values[RDSB_C_MAX];

	rdsb_counters_read(e, values);
	for (uint32_t i = 0; i < RDSB_C_MAX; i++) {
		struct rds_info_counter r = { .value = values[i] };

		strncpy((char *)r.name, rdsb_counter_names[i], sizeof(r.name) - 1);
		rdsb_info_put(o, &r, sizeof(r));
	}
}

static void paths(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS && !c->loopback; i++) {
			const struct rdsb_path *p = &c->paths[i];
			struct rdsb_info_path r = { .key.path = i, .info = {
				.state = p->state, .npaths = c->npaths,
				.next_tx_seq = p->next_tx_seq, .next_rx_seq = p->next_rx_seq,
				.tx_msgs = p->tx_msgs, .rx_msgs = p->rx_msgs,
				.tx_bytes = p->tx_bytes, .rx_bytes = p->rx_bytes,
				.unacked_msgs = p->nunacked, .reconnects = p->reconnects,
				.peer_gen = c->peer_gen, .lport = p->lport, .fport = p->fport } };

			/* the paths beyond the agreed count that never came up */
			if (i > 0 && i >= c->npaths && p->state == RDSB_PATH_DOWN)
				continue;
			memcpy(r.key.laddr, c->laddr, 16);
			memcpy(r.key.faddr, c->faddr, 16);
			rdsb_info_put(o, &r, sizeof(r));
		}
	}
}

static void port_paths(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_sock *s;
	struct rdsb_conn *c;

	list_for_each_entry(s, &e->socks, item) {
		if (!s->bound)
			continue;
		list_for_each_entry(c, &e->conns, item) {
			struct rdsb_info_port_path r = { .lport = s->port, .npaths = c->npaths };

			if (c->loopback || memcmp(c->laddr, s->addr, 16))
				continue;
			r.path = (uint16_t)rdsb_mpath_hash(s->port, e->hash_initval,
							  c->npaths ? c->npaths : RDS_MPATH_WORKERS);
			memcpy(r.laddr, c->laddr, 16);
			memcpy(r.faddr, c->faddr, 16);
			rdsb_info_put(o, &r, sizeof(r));
		}
	}
}

static void cong_ports(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	for (int i = 0; i < RDSB_MAX_ADDRS; i++) {
		const struct rdsb_addr *a = &e->addrs[i];

		if (a->kind == RDSB_ADDR_FREE || !a->congested_ports)
			continue;
		for (uint32_t port = 0; port < RDS_CONG_MAP_BYTES * 8; port++) {
			struct rdsb_info_cong_port r = { .kind = a->kind, .port = (uint16_t)port };

			if (!rdsb_cong_test(e->cong[i].bits, (uint16_t)port))
				continue;
			memcpy(r.addr, a->addr, 16);
			rdsb_info_put(o, &r, sizeof(r));
		}
	}
}

/* Fills buf (up to cap) and returns the item size, or -ENOPROTOOPT;
 * *total is the number of bytes all items take. */
int rdsb_info(struct rdsb_engine *e, int optname, void *buf, size_t cap, size_t *total)
{
	struct rdsb_info_out o = { .buf = buf, .cap = cap };
	int size;

	switch (optname) {
	case RDS_INFO_COUNTERS:
		counters(e, &o);
		size = sizeof(struct rds_info_counter);
		break;
	case RDS6_INFO_CONNECTIONS:
		o.six = true;
		/* fall through */
	case RDS_INFO_CONNECTIONS:
		connections(e, &o);
		size = o.six ? sizeof(struct rds6_info_connection) : sizeof(struct rds_info_connection);
		break;
	case RDS6_INFO_SEND_MESSAGES:
	case RDS6_INFO_RETRANS_MESSAGES:
	case RDS6_INFO_RECV_MESSAGES:
		o.six = true;
		/* fall through */
	case RDS_INFO_SEND_MESSAGES:
	case RDS_INFO_RETRANS_MESSAGES:
	case RDS_INFO_RECV_MESSAGES:
		if (optname == RDS_INFO_RECV_MESSAGES || optname == RDS6_INFO_RECV_MESSAGES)
			recv_messages(e, &o);
		else
			send_messages(e, &o, optname == RDS_INFO_RETRANS_MESSAGES ||
						     optname == RDS6_INFO_RETRANS_MESSAGES);
		size = o.six ? sizeof(struct rds6_info_message) : sizeof(struct rds_info_message);
		break;
	case RDS6_INFO_SOCKETS:
		o.six = true;
		/* fall through */
	case RDS_INFO_SOCKETS:
		sockets(e, &o);
		size = o.six ? sizeof(struct rds6_info_socket) : sizeof(struct rds_info_socket);
		break;
	case RDSB_INFO_PATHS:
		paths(e, &o);
		size = sizeof(struct rdsb_info_path);
		break;
	case RDSB_INFO_PORT_PATHS:
		port_paths(e, &o);
		size = sizeof(struct rdsb_info_port_path);
		break;
	case RDSB_INFO_CONG_PORTS:
		cong_ports(e, &o);
		size = sizeof(struct rdsb_info_cong_port);
		break;
	default:
		size = e->tp->info(e, optname, &o);
		if (size < 0)
			return size;
	}
	*total = o.len;
	return size;
}
