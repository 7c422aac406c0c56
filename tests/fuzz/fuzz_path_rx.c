// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: the byte stream of a path socket through the TCP transport's
 * record parser (transports/tcp/tcp_stream.c, fed with tcp_stream_feed as
 * its sockmap inbox does) and what the core does with each record
 * (user/engine/recv.c, rdsb_recv_incoming), in pieces of the size the
 * first byte chooses, so records split anywhere. What it calls of the rest
 * of the engine is stubbed here: each delivered payload and congestion map
 * is read whole (the sanitizer checks it is as long as the header said),
 * sockets on ports = 2 (mod 4) are full (the path stalls), a path drop ends
 * the input.
 */
#include <stdlib.h>
#include <string.h>
#include "../../user/engine/engine.h"
#include "../../transports/tcp/tcp.h"

static volatile uint8_t sink;
static struct rdsb_sock sock;

static void read_all(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sink ^= p[i];
}

int rdsb_ev_set(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	(void)e;
	ev->events = events;
	return 0;
}
void rdsb_log(int level, const char *fmt, ...) { (void)level, (void)fmt; }
void rdsb_path_drop(struct rdsb_engine *e, struct rdsb_path *p, const char *why)
{
	(void)e, (void)why;
	p->ev.fd = -1;
}
void rdsb_path_reset(struct rdsb_engine *e, struct rdsb_path *p, const char *why)
{
	rdsb_path_drop(e, p, why);
}
void rdsb_msg_encode(struct rdsb_path *p, struct rdsb_msg *m) { (void)p, (void)m; }
int rdsb_records_write(int fd, struct rdsb_writer *w) { (void)fd, (void)w; return 0; }
void tcp_sockmap_inbox_read(struct rdsb_engine *e) { (void)e; }
void rdsb_path_msg_sent(struct rdsb_path *p, struct rdsb_msg *m) { (void)p, (void)m; }
void rdsb_conn_handshake(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h)
{
	(void)e, (void)p;
	read_all(h->exthdr, sizeof(h->exthdr));
}
void rdsb_path_send_ping(struct rdsb_engine *e, struct rdsb_path *p, uint16_t sport, uint16_t dport, bool probe)
{
	(void)e, (void)p, (void)sport, (void)dport, (void)probe;
}
void rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map)
{
	if (map)
		memcpy(e->cong[slot].bits, map, RDS_CONG_MAP_BYTES);
}
void rdsb_msg_free(struct rdsb_msg *m)
{
	if (m)
		free(m->data);
	free(m);
}
struct rdsb_sock *rdsb_sock_by_id(struct rdsb_engine *e, uint32_t id)
{
	(void)e, (void)id;
	return NULL;
}
struct rdsb_sock *rdsb_sock_by_port(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	(void)e, (void)addr;
	return port & 1 ? NULL : &sock;
}
bool rdsb_hold_unbound(struct rdsb_engine *e, const uint8_t laddr[16], struct rdsb_msg *m)
{
	(void)e, (void)laddr, (void)m;
	return false;	/* rebind_until is 0 here: never asked */
}
bool rdsb_sock_deliver(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m, bool force)
{
	(void)e, (void)s;
	if (!force && (m->dport & 3) == 2)
		return false;
	read_all(m->data, m->len);
	rdsb_msg_free(m);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rdsb_transport tp = { .name = "fuzz" };
	static struct rdsb_cong_map cong[RDSB_MAX_ADDRS];
	static struct rdsb_engine e = { .tp = &tp, .cong = cong };
	static struct rdsb_conn c;
	struct rdsb_path *p = &c.paths[0];
	struct tcp_reader r = { 0 };
	size_t piece;

	if (!size)
		return 0;
	piece = data[0] % 64 + 1;
	data++;
	size--;
	INIT_LIST_HEAD(&sock.stalled);
	INIT_LIST_HEAD(&p->rx_wait);
	p->conn = &c;
	p->ev.fd = 0;
	p->state = RDSB_PATH_UP;
	while (size && p->ev.fd >= 0 && !p->rx_stalled) {
		size_t n = size < piece ? size : piece;

		tcp_stream_feed(&e, p, &r, data, n);
		data += n;
		size -= n;
	}
	rdsb_path_rx_unstall(&e, p);
	tcp_reader_free(&r);
	memset(p, 0, sizeof(*p));
	return 0;
}
