/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The engine around the core's receive path (user/engine/recv.c), stubbed
 * for the harnesses that feed a transport's receive side: each delivered
 * payload, congestion map and delivery acknowledgement is read whole (the sanitizer checks it is as
 * long as the header said), sockets on ports = 2 (mod 4) are full (the path
 * stalls), sockets on odd ports are not bound, a path drop closes its fd
 * (the harness stops there). Included once per harness.
 */
#ifndef RDSB_FUZZ_ENGINE_STUBS_H
#define RDSB_FUZZ_ENGINE_STUBS_H

#include <stdlib.h>
#include <string.h>
#include "../../user/engine/engine.h"
#include "../../user/common/log.h"

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
void rdsb_path_deliv_acked(struct rdsb_engine *e, struct rdsb_path *p, const uint8_t *data, uint32_t len)
{
	(void)e, (void)p;
	read_all(data, len);
}
void rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map)
{
	if (map)
		memcpy(e->cong[slot].bits, map, RDS_CONG_MAP_BYTES);
}
void rdsb_msg_free(struct rdsb_msg *m)
{
	if (m && m->rx_path)
		rdsb_msg_rx_done(m, false);
	if (m && !m->data_inline)
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
bool rdsb_hold_unbound(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m,
		       struct rdsb_port_hold *hold)
{
	(void)e, (void)p, (void)m, (void)hold;
	return false;	/* rebind_until is 0 here: never asked */
}
/* no port of an engine before is held here */
struct rdsb_port_hold *rdsb_port_hold_find(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	(void)e, (void)addr, (void)port;
	return NULL;
}
bool rdsb_port_hold_full(const struct rdsb_port_hold *h, uint32_t len)
{
	(void)h, (void)len;
	return false;
}
/* each record is read at once: none waits in a queue */
struct rdsb_msg *rdsb_rx_before(struct rdsb_engine *e, struct rdsb_msg *m, struct rdsb_sock *s)
{
	(void)e, (void)m, (void)s;
	return NULL;
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

#endif
