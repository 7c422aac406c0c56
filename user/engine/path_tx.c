// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The single writer of a path socket: whole [header][payload] records, many
 * per sendmsg, never blocking; a record leaves the path only once TCP's
 * snd_una has passed its last byte (rds_tcp_is_acked).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "engine.h"

#define TX_BATCH 64

static void encode(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	struct rdsb_hdr h = { 0 };

	if (m->cong_map) {
		/* A congestion map: seq 0, ports 0, the current bits. */
		h.flags = RDS_FLAG_CONG_BITMAP;
		h.len = RDS_CONG_MAP_BYTES;
		memcpy(m->data, e->cong[p->conn->lslot].bits, RDS_CONG_MAP_BYTES);
	} else {
		h.seq = m->seq;
		h.len = m->len;
		h.sport = m->sport;
		h.dport = m->dport;
		h.flags = m->flags;
		memcpy(h.exthdr, m->ext, RDS_HEADER_EXT_SPACE);
	}
	rdsb_hdr_encode(&h, &m->wire);
}

static void written(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	list_del_init(&m->item);
	m->end_off = p->written;
	if (m->cong_map) {
		p->cong_map_queued = false;
		rdsb_count(e, RDSB_C_TX_CONG_MAPS);
		rdsb_msg_free(m);
		return;
	}
	p->tx_msgs++;
	p->tx_bytes += m->len;
	rdsb_count(e, RDSB_C_TX_MSGS);
	list_add_tail(&m->item, &p->unacked);
	p->nunacked++;
}

void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	while (p->state == RDSB_PATH_UP && !list_empty(&p->send_q)) {
		struct iovec iov[TX_BATCH * 2];
		struct msghdr mh = { .msg_iov = iov };
		struct rdsb_msg *m;
		size_t off = p->head_off, total = 0;
		ssize_t n;
		int cnt = 0;
		bool full = false;

		list_for_each_entry(m, &p->send_q, item) {
			size_t rec = RDS_HEADER_SIZE + m->len;

			if (cnt + 2 > TX_BATCH * 2)
				break;
			if (off == 0)
				encode(e, p, m);
			if (off < RDS_HEADER_SIZE) {
				iov[cnt].iov_base = (uint8_t *)&m->wire + off;
				iov[cnt++].iov_len = RDS_HEADER_SIZE - off;
			}
			if (m->len) {
				size_t doff = off > RDS_HEADER_SIZE ? off - RDS_HEADER_SIZE : 0;

				iov[cnt].iov_base = m->data + doff;
				iov[cnt++].iov_len = m->len - doff;
			}
			total += rec - off;
			off = 0;
		}
		mh.msg_iovlen = (size_t)cnt;
		n = sendmsg(p->ev.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			rdsb_path_drop(e, p, strerror(errno));
			return;
		}
		p->written += (uint64_t)n;
		if ((size_t)n < total)
			full = true;
		while (n > 0) {
			m = list_first_entry(&p->send_q, struct rdsb_msg, item);
			size_t left = RDS_HEADER_SIZE + m->len - p->head_off;

			if ((size_t)n < left) {
				p->head_off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			p->head_off = 0;
			written(e, p, m);
		}
		if (full)
			break;	/* the socket buffer is full: wait for EPOLLOUT */
	}
	if (p->ev.fd >= 0 && p->state == RDSB_PATH_UP)
		rdsb_ev_set(e, &p->ev, EPOLLIN | (list_empty(&p->send_q) ? 0 : EPOLLOUT));
	rdsb_path_check_acked(e, p);
}

void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_msg *m, *t;
	uint64_t acked;

	if (!p->nunacked || p->ev.fd < 0)
		return;
	acked = rdsb_tcp_acked(p);
	list_for_each_entry_safe(m, t, &p->unacked, item) {
		if (m->end_off > acked)
			break;
		list_del_init(&m->item);
		p->nunacked--;
		rdsb_sock_sent(e, m->sock_id, m->len);
		rdsb_msg_free(m);
	}
}
