// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The RDS_INFO getsockopt family (info.c in the kernel): packed records of
 * <linux/rds.h>, the v4 variants skipping IPv6 entries. rds-info and
 * programs that wait for their send queue to drain read these.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <linux/rds.h>
#include "engine.h"
#include "../common/addr.h"

struct info_out {
	uint8_t *buf;
	size_t cap, len;	/* len counts everything, even past cap */
};

static void put(struct info_out *o, const void *item, size_t size)
{
	if (o->len + size <= o->cap)
		memcpy(o->buf + o->len, item, size);
	o->len += size;
}

static uint32_t v4(const uint8_t a[16])
{
	uint32_t x;

	memcpy(&x, a + 12, 4);
	return x;
}

static void messages(struct rdsb_engine *e, struct info_out *o, bool retrans, bool six)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		if (rdsb_addr_is_v4(c->laddr) == six)
			continue;
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct list_head *l = retrans ? &c->paths[i].unacked : &c->paths[i].send_q;
			struct rdsb_msg *m;

			list_for_each_entry(m, l, item) {
				if (m->cong_map)
					continue;
				if (six) {
					struct rds6_info_message r = { .seq = m->seq, .len = m->len,
								       .lport = htobe16(m->sport),
								       .fport = htobe16(m->dport) };

					memcpy(&r.laddr, c->laddr, 16);
					memcpy(&r.faddr, c->faddr, 16);
					put(o, &r, sizeof(r));
				} else {
					struct rds_info_message r = { .seq = m->seq, .len = m->len,
								      .laddr = v4(c->laddr), .faddr = v4(c->faddr),
								      .lport = htobe16(m->sport),
								      .fport = htobe16(m->dport) };

					put(o, &r, sizeof(r));
				}
			}
		}
		if (!retrans) {	/* waiting for the handshake counts as queued */
			struct rdsb_msg *m;

			list_for_each_entry(m, &c->pending, item) {
				struct rds_info_message r = { .seq = 0, .len = m->len, .laddr = v4(c->laddr),
							      .faddr = v4(c->faddr), .lport = htobe16(m->sport),
							      .fport = htobe16(m->dport) };
				struct rds6_info_message r6 = { .len = m->len, .lport = htobe16(m->sport),
								.fport = htobe16(m->dport) };

				memcpy(&r6.laddr, c->laddr, 16);
				memcpy(&r6.faddr, c->faddr, 16);
				if (six)
					put(o, &r6, sizeof(r6));
				else
					put(o, &r, sizeof(r));
			}
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

static void connections(struct rdsb_engine *e, struct info_out *o, bool six)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		const struct rdsb_path *p = &c->paths[0];	/* path 0 only, as the kernel */
		const char *t = c->loopback ? "loopback" : e->tp->name;

		if (rdsb_addr_is_v4(c->laddr) == six)
			continue;
		if (six) {
			struct rds6_info_connection r = { .next_tx_seq = p->next_tx_seq,
							  .next_rx_seq = p->next_rx_seq, .flags = conn_flags(c) };

			memcpy(&r.laddr, c->laddr, 16);
			memcpy(&r.faddr, c->faddr, 16);
			strncpy((char *)r.transport, t, TRANSNAMSIZ - 1);
			put(o, &r, sizeof(r));
		} else {
			struct rds_info_connection r = { .next_tx_seq = p->next_tx_seq,
							 .next_rx_seq = p->next_rx_seq, .laddr = v4(c->laddr),
							 .faddr = v4(c->faddr), .flags = conn_flags(c) };

			strncpy((char *)r.transport, t, TRANSNAMSIZ - 1);
			put(o, &r, sizeof(r));
		}
	}
}

/* Fills buf (up to cap) and returns the item size, or -ENOPROTOOPT;
 * *total is the number of bytes all items take. */
int rdsb_info(struct rdsb_engine *e, int optname, void *buf, size_t cap, size_t *total)
{
	struct info_out o = { .buf = buf, .cap = cap };
	int size;

	switch (optname) {
	case RDS_INFO_COUNTERS:
		for (int i = 0; i < RDSB_C_MAX; i++) {
			struct rds_info_counter r = { .value = e->counters[i] };

			strncpy((char *)r.name, rdsb_counter_names[i], sizeof(r.name) - 1);
			put(&o, &r, sizeof(r));
		}
		size = sizeof(struct rds_info_counter);
		break;
	case RDS_INFO_CONNECTIONS:
	case RDS6_INFO_CONNECTIONS:
		connections(e, &o, optname == RDS6_INFO_CONNECTIONS);
		size = optname == RDS6_INFO_CONNECTIONS ? sizeof(struct rds6_info_connection)
							 : sizeof(struct rds_info_connection);
		break;
	case RDS_INFO_SEND_MESSAGES:
	case RDS_INFO_RETRANS_MESSAGES:
		messages(e, &o, optname == RDS_INFO_RETRANS_MESSAGES, false);
		size = sizeof(struct rds_info_message);
		break;
	case RDS6_INFO_SEND_MESSAGES:
	case RDS6_INFO_RETRANS_MESSAGES:
		messages(e, &o, optname == RDS6_INFO_RETRANS_MESSAGES, true);
		size = sizeof(struct rds6_info_message);
		break;
	default:
		return -ENOPROTOOPT;
	}
	*total = o.len;
	return size;
}
