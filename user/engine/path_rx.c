// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The stream parser of a path socket and what the kernel does with each
 * record (rds_tcp_data_recv, rds_recv_incoming): congestion maps, the
 * duplicate rule, pings and probes, delivery to the bound socket.
 * Every length is checked before anything is allocated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"
#include "../common/log.h"

#define RXBUF_SIZE (64 * 1024)

/* Returns false if the record could not be delivered (socket over its hard
 * limit): the path stalls on that socket. */
static bool deliver(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_sock *s = rdsb_sock_by_port(e, p->conn->laddr, m->dport);

	if (!s) {
		rdsb_count(e, RDSB_C_DROP_NO_SOCKET);
		rdsb_msg_free(m);
		return true;
	}
	if (p->state == RDSB_PATH_DISCONNECTING) {
		/* draining a dying socket: nothing may be left behind */
		rdsb_sock_deliver(e, s, m, true);
		return true;
	}
	if (!rdsb_sock_deliver(e, s, m, false)) {
		p->rx_stalled = m;
		p->rx_blocked_on = s->id;
		rdsb_ev_set(e, &p->ev, p->ev.events & ~(uint32_t)EPOLLIN);
		return false;
	}
	return true;
}

static bool record(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	struct rdsb_hdr *h = &p->rx;
	struct rdsb_msg *m;
	uint8_t *data = p->rx_data;

	p->rx_data = NULL;
	if (!p->bpf_cookie) {
		p->rx_msgs++;
		p->rx_bytes += h->len;
		rdsb_count(e, RDSB_C_RX_MSGS);
	}
	if (rdsb_is_cong_map(h->flags)) {
		/* a transport whose BPF program applied the map only tells us */
		rdsb_cong_apply_peer(e, c->fslot, e->tp->cong_in_bpf ? NULL : data);
		free(data);
		return true;
	}
	/* the verdict has applied the duplicate rule to what it passes up */
	if (!p->bpf_cookie && !rdsb_seq_accept(&p->next_rx_seq, h->seq, h->flags)) {
		rdsb_count(e, RDSB_C_DROP_DUP_SEQ);
		free(data);
		return true;
	}
	if (h->dport == 0) {
		/* A ping: answer from port 0 on the same path, unless the
		 * pinger's port is congested; a probe also carries NPATHS. */
		free(data);
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
		free(data);
		rdsb_conn_handshake(e, p, h);
		return true;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		free(data);
		return true;
	}
	INIT_LIST_HEAD(&m->item);
	m->data = data;
	m->len = h->len;
	m->seq = h->seq;
	m->sport = h->sport;
	m->dport = h->dport;
	m->flags = h->flags & (uint8_t)~RDSB_DELIV_NOTIFY;
	memcpy(m->ext, h->exthdr, RDS_HEADER_EXT_SPACE);
	m->from_slot = (uint64_t)c->fslot;
	return deliver(e, p, m);
}

/* Parse what is buffered; false when the path stalled or was dropped.
 * A record completes as soon as its last byte is here, which for a
 * zero-length record (pings, probes) is its header's last byte. */
static bool parse(struct rdsb_engine *e, struct rdsb_path *p)
{
	for (;;) {
		uint8_t *in = p->rxbuf + p->rxbuf_off;
		size_t avail = p->rxbuf_len - p->rxbuf_off, take;

		if (p->rx_hdr_have < RDS_HEADER_SIZE) {
			if (!avail)
				return true;
			take = RDS_HEADER_SIZE - p->rx_hdr_have;
			if (take > avail)
				take = avail;
			memcpy(p->rx_hdr + p->rx_hdr_have, in, take);
			p->rx_hdr_have += take;
			p->rxbuf_off += take;
			if (p->rx_hdr_have < RDS_HEADER_SIZE)
				return true;
			rdsb_hdr_decode((const struct rds_header *)p->rx_hdr, &p->rx);
			if (!rdsb_h_len_ok(p->rx.flags, p->rx.len)) {
				rdsb_count(e, rdsb_is_cong_map(p->rx.flags) ? RDSB_C_DROP_BAD_CONG_MAP
									   : RDSB_C_DROP_BAD_LEN);
				pr_info("rds-bpf: bad record length %u (flags %#x): resetting path\n",
					p->rx.len, p->rx.flags);
				/* No way to find the next record: reset the path. */
				p->state = RDSB_PATH_ERROR;
				rdsb_path_drop(e, p, "malformed record");
				return false;
			}
			p->rx_have = 0;
			if (p->rx.len && !(p->rx_data = malloc(p->rx.len))) {
				rdsb_path_drop(e, p, "out of memory");
				return false;
			}
			continue;
		}
		take = p->rx.len - p->rx_have;
		if (take > avail)
			take = avail;
		if (take)
			memcpy(p->rx_data + p->rx_have, in, take);
		p->rx_have += take;
		p->rxbuf_off += take;
		if (p->rx_have < p->rx.len)
			return true;
		p->rx_hdr_have = 0;
		if (!record(e, p) || p->ev.fd < 0)
			return false;
	}
}

void rdsb_path_recv(struct rdsb_engine *e, struct rdsb_path *p)
{
	/* what the verdict passed up from this path comes first */
	if (p->bpf_cookie)
		rdsb_bpf_inbox_read(e);
	if (p->ev.fd < 0)
		return;
	if (p->rx_stalled) {
		if (p->state != RDSB_PATH_DISCONNECTING)
			return;
		rdsb_path_rx_unstall(e, p);
	}
	if (!p->rxbuf && !(p->rxbuf = malloc(RXBUF_SIZE)))
		return;
	for (;;) {
		ssize_t n;

		if (!parse(e, p))
			return;
		p->rxbuf_off = p->rxbuf_len = 0;
		n = recv(p->ev.fd, p->rxbuf, RXBUF_SIZE, MSG_DONTWAIT);
		if (n > 0) {
			p->rxbuf_len = (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (p->state == RDSB_PATH_DISCONNECTING)
			return;
		rdsb_path_drop(e, p, n == 0 ? "peer closed" : strerror(errno));
		return;
	}
}

/* One whole record the verdict redirected to the engine's inbox, parsed
 * as if it had been read from the path (the parser is between records). */
void rdsb_path_feed(struct rdsb_engine *e, struct rdsb_path *p, const uint8_t *rec, size_t len)
{
	if (!p->rxbuf && !(p->rxbuf = malloc(RXBUF_SIZE)))
		return;
	while (len && p->ev.fd >= 0) {
		size_t n = len < RXBUF_SIZE ? len : RXBUF_SIZE;

		memcpy(p->rxbuf, rec, n);
		p->rxbuf_off = 0;
		p->rxbuf_len = n;
		if (!parse(e, p))
			break;
		rec += n;
		len -= n;
	}
	p->rxbuf_off = p->rxbuf_len = 0;
}

/* A dying path cannot wait for room: its stalled record goes now. */
void rdsb_path_rx_unstall(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m = p->rx_stalled;
	struct rdsb_sock *s = rdsb_sock_by_id(e, p->rx_blocked_on);

	p->rx_stalled = NULL;
	p->rx_blocked_on = 0;
	if (!m)
		return;
	if (s)
		rdsb_sock_deliver(e, s, m, true);
	else
		rdsb_msg_free(m);
}

void rdsb_path_rx_resume(struct rdsb_engine *e, uint32_t sock_id)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];
			struct rdsb_msg *m = p->rx_stalled;

			if (!m || p->rx_blocked_on != sock_id)
				continue;
			p->rx_stalled = NULL;
			p->rx_blocked_on = 0;
			if (!deliver(e, p, m))
				continue;
			rdsb_ev_set(e, &p->ev, p->ev.events | EPOLLIN);
			rdsb_path_recv(e, p);
		}
	}
}
