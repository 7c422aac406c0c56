// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The TCP transport's RDS_INFO table: RDS_INFO_TCP_SOCKETS and its RDS6 twin. */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <linux/rds.h>
#include "tcp.h"
#include "../../user/common/addr.h"

/* rds_tcp_tc_info: the receive parser's position and the send side's
 * sequence marks, here as offsets in the path's TCP stream; the kernel's
 * last_seen_una is snd_una as of its last write_space, ours is asked of the
 * socket (the sock_ops count can miss the last ack for good). */
static void tcp_sockets(struct rdsb_engine *e, struct rdsb_info_out *o)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		if (c->loopback || !rdsb_info_listed(o, c->laddr))
			continue;
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];
			const struct rdsb_tcp_path *tp = tcp_path(p);
			uint64_t hdr_rem = RDS_HEADER_SIZE - tp->rx.hdr_have, data_rem = 0;
			uint64_t seen, expect, sent;

			if (p->ev.fd < 0)
				continue;
			seen = tcp_path_acked_now(e, p);	/* brings written up to date */
			expect = sent = tp->written;
			if (tp->rx.hdr_have == RDS_HEADER_SIZE)
				data_rem = tp->rx.h.len - tp->rx.have;
			if (!list_empty(&p->unacked)) {
				struct rdsb_msg *m = list_entry(p->unacked.prev, struct rdsb_msg, item);

				expect = m->end_off;
				sent = m->end_off - RDS_HEADER_SIZE - m->len;
			}
			if (o->six) {
				struct rds6_info_tcp_socket r = {
					.local_port = htobe16(p->lport), .peer_port = htobe16(p->fport),
					.hdr_rem = hdr_rem, .data_rem = data_rem,
					.last_sent_nxt = (uint32_t)sent, .last_expected_una = (uint32_t)expect,
					.last_seen_una = (uint32_t)seen };

				memcpy(&r.local_addr, c->laddr, 16);
				memcpy(&r.peer_addr, c->faddr, 16);
				rdsb_info_put(o, &r, sizeof(r));
			} else {
				struct rds_info_tcp_socket r = {
					.local_addr = rdsb_addr_v4(c->laddr), .local_port = htobe16(p->lport),
					.peer_addr = rdsb_addr_v4(c->faddr), .peer_port = htobe16(p->fport),
					.hdr_rem = hdr_rem, .data_rem = data_rem,
					.last_sent_nxt = (uint32_t)sent, .last_expected_una = (uint32_t)expect,
					.last_seen_una = (uint32_t)seen };

				rdsb_info_put(o, &r, sizeof(r));
			}
		}
	}
}

int tcp_info(struct rdsb_engine *e, int optname, struct rdsb_info_out *o)
{
	switch (optname) {
	case RDS6_INFO_TCP_SOCKETS:
		o->six = true;
		/* fall through */
	case RDS_INFO_TCP_SOCKETS:
		tcp_sockets(e, o);
		return o->six ? sizeof(struct rds6_info_tcp_socket) : sizeof(struct rds_info_tcp_socket);
	}
	return -ENOPROTOOPT;
}
