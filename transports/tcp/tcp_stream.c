// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A TCP path socket is a stream of whole [header][h_len] records
 * (rds_tcp_xmit, rds_tcp_data_recv): the writer sends the path's queue, many
 * records per sendmsg, never blocking, each message acknowledged once TCP's
 * snd_una passed the stream offset after its last byte (its end_off); the
 * reader frames what the socket brings into messages for rdsb_recv_msg,
 * checking every length before anything is allocated, and copies each
 * payload into its message (one allocation with it). They are the
 * transport's xmit (with xmit_path_prepare and xmit_path_complete) and
 * recv_path ops, so that a datagram on the userspace data path crosses no
 * other file of the transport.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "tcp.h"
#include "../../user/common/log.h"

#define RXBUF_SIZE (64 * 1024)

/* A path of a stream transport: its send queue on fd; a message sent whole
 * waits for the ack of its last stream byte. */
struct stream_ctx {
	struct rdsb_path *p;
	uint64_t *written;
};

static void stream_encode(void *ctx, struct rdsb_msg *m)
{
	rdsb_msg_encode(((struct stream_ctx *)ctx)->p, m);
}

static void stream_sent(void *ctx, struct rdsb_msg *m)
{
	struct stream_ctx *c = ctx;

	m->end_off = *c->written;
	if (m->sock_id)
		tcp_path(c->p)->tx_datagrams++;
	rdsb_path_msg_sent(c->p, m);
}

/* rds_tcp_xmit_path_prepare: on the sk_msg send path (skmsg_tx.c) the
 * engine writes under the path's lock, which applications take too; while
 * one holds it, not now (the transport's timer comes back). Without that
 * path the engine writes alone. */
int tcp_stream_xmit_prepare(struct rdsb_engine *e, struct rdsb_path *p)
{
	int locked;

	if (!tcp_of(e)->txpath)
		return 0;
	tcp_path(p)->tx_datagrams = 0;
	locked = tcp_skmsg_begin(e, p);
	if (locked < 0)
		return -EAGAIN;
	tcp_path(p)->tx_locked = locked;
	return 0;
}

void tcp_stream_xmit_complete(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (tcp_path(p)->tx_locked)
		tcp_skmsg_end(e, p);
	tcp_path(p)->tx_locked = false;
}

/* rds_tcp_xmit: whole records on the path socket */
int tcp_stream_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	uint64_t *written = &tcp_path(p)->written;
	struct stream_ctx c = { .p = p, .written = written };
	struct rdsb_writer w = { .q = &p->send_q, .head_off = &p->head_off, .stream_off = written,
				 .encode = stream_encode, .done = stream_sent, .ctx = &c };
	int err = rdsb_records_write(p->ev.fd, &w);

	if (!err && p->ev.fd >= 0 && p->state == RDSB_PATH_UP)
		rdsb_ev_set(e, &p->ev, EPOLLIN | (list_empty(&p->send_q) ? 0 : EPOLLOUT));
	return err;
}

void tcp_reader_reset(struct tcp_reader *r)
{
	rdsb_msg_free(r->m);
	r->m = NULL;
	r->hdr_have = r->have = 0;
	r->off = r->len = 0;
}

void tcp_reader_free(struct tcp_reader *r)
{
	tcp_reader_reset(r);
	free(r->buf);
	r->buf = NULL;
}

/* Parse what is buffered; false when the path stalled or was marked for
 * shutdown (what is left in the buffer is read by the shutdown's drain).
 * A record completes as soon as its last byte is here, which for a
 * zero-length record (pings, probes) is its header's last byte. */
static bool parse(struct rdsb_engine *e, struct rdsb_path *p, struct tcp_reader *r)
{
	for (;;) {
		uint8_t *in = r->buf + r->off;
		size_t avail = r->len - r->off, take;
		struct rdsb_msg *m;

		if (r->hdr_have < RDS_HEADER_SIZE) {
			if (!avail)
				return true;
			take = RDS_HEADER_SIZE - r->hdr_have;
			if (take > avail)
				take = avail;
			memcpy(r->hdr + r->hdr_have, in, take);
			r->hdr_have += take;
			r->off += take;
			if (r->hdr_have < RDS_HEADER_SIZE)
				return true;
			rdsb_hdr_decode((const struct rds_header *)r->hdr, &r->h);
			if (!rdsb_h_len_ok(r->h.flags, r->h.len)) {
				rdsb_count(e, rdsb_is_cong_map(r->h.flags) ? RDSB_C_DROP_BAD_CONG_MAP
									  : RDSB_C_DROP_BAD_LEN);
				pr_info("rds-bpf: bad record length %u (flags %#x): resetting path\n",
					r->h.len, r->h.flags);
				/* No way to find the next record: reset the path. */
				rdsb_path_reset(e, p, "malformed record");
				return false;
			}
			r->have = 0;
			if (!(r->m = rdsb_msg_new(r->h.len))) {
				/* the record cannot be read: the stream is lost */
				rdsb_path_reset(e, p, "out of memory");
				return false;
			}
			continue;
		}
		take = r->h.len - r->have;
		if (take > avail)
			take = avail;
		if (take)
			memcpy(r->m->data + r->have, in, take);
		r->have += take;
		r->off += take;
		if (r->have < r->h.len)
			return true;
		r->hdr_have = 0;
		m = r->m;
		r->m = NULL;
		if (!rdsb_recv_msg(e, p, &r->h, m) || !rdsb_path_readable(p))
			return false;
	}
}

void tcp_stream_recv(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct tcp_reader *r = &tcp_path(p)->rx;

	/* on the sockmap receive path, what the verdict passed up from this
	 * path (sockmap_rx.c, the engine's inbox) comes first */
	if (tcp_path(p)->cookie)
		tcp_sockmap_inbox_read(e);
	if (!rdsb_path_readable(p))
		return;
	if (p->rx_stalled) {
		if (p->state != RDSB_PATH_DISCONNECTING)
			return;
		rdsb_path_rx_unstall(e, p);
	}
	if (!r->buf && !(r->buf = malloc(RXBUF_SIZE)))
		return;
	for (;;) {
		ssize_t n;

		if (!parse(e, p, r))
			return;
		r->off = r->len = 0;
		if (r->hdr_have == RDS_HEADER_SIZE && r->h.len - r->have >= RXBUF_SIZE) {
			/* a large payload is read in place, without the copy
			 * out of the buffer; parse completes it once whole */
			size_t want = r->h.len - r->have;

			n = recv(p->ev.fd, r->m->data + r->have, want, MSG_DONTWAIT);
			if (n > 0) {
				r->have += (size_t)n;
				if ((size_t)n < want && p->state == RDSB_PATH_UP)
					return;	/* emptied the socket: as below */
				continue;
			}
		} else {
			n = recv(p->ev.fd, r->buf, RXBUF_SIZE, MSG_DONTWAIT);
			if (n > 0) {
				r->len = (size_t)n;
				/* a short read emptied the socket: the next bytes raise
				 * the (level-triggered) event again, and an empty recv
				 * would be a syscall per wakeup; a dying path is read
				 * to its end */
				if ((size_t)n < RXBUF_SIZE && p->state == RDSB_PATH_UP) {
					if (parse(e, p, r))
						r->off = r->len = 0;
					return;
				}
				continue;
			}
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (p->state == RDSB_PATH_DISCONNECTING)
			return;
		rdsb_path_drop(e, p, n == 0 ? "peer closed" : strerror(errno));
		return;
	}
}

/* Also on a path marked for shutdown: these records were taken off its
 * socket already (acknowledged by TCP), and would be read by its drain. */
void tcp_stream_feed(struct rdsb_engine *e, struct rdsb_path *p, struct tcp_reader *r,
		     const uint8_t *rec, size_t len)
{
	if (!r->buf && !(r->buf = malloc(RXBUF_SIZE)))
		return;
	while (len && p->ev.fd >= 0) {
		size_t n = len < RXBUF_SIZE ? len : RXBUF_SIZE;

		memcpy(r->buf, rec, n);
		r->off = 0;
		r->len = n;
		if (!parse(e, p, r))
			break;
		rec += n;
		len -= n;
	}
	r->off = r->len = 0;
}
