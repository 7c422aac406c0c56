// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP/AF_XDP transport (docs/xdp-encap.md) as the engine sees it: each
 * path is a stream of whole records (the engine's end of a socketpair), just
 * like a TCP path socket, so delivery, congestion and SO_SNDBUF accounting
 * are the engine's own. A transport thread turns the records into numbered
 * UDP frames on the AF_XDP socket and back, and publishes how much of each
 * stream the peer has acknowledged (acked()). Frames from a peer the engine
 * does not know yet make the engine accept the path, as a TCP accept would.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_xdp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <rds-bpf/rds.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../../user/engine/engine.h"
#include "../../user/common/addr.h"
#include "../../user/common/log.h"
#include "xdp_int.h"

#define STREAM_BUF	(4 << 20)
#define ACK_POLL_NS	200000ull	/* acks land in the map, not on the socket */
#define MAC_RETRY_NS	20000000ull
#define UMEM_FRAG_MAX	3584		/* a frame must fit one 4 KiB umem frame */


/* ------------------------------------------------------------ connections */

static struct rdsx_conn_st *conn_get(struct rdsx_state *x, const uint8_t laddr[16],
				     const uint8_t faddr[16], bool create)
{
	struct rdsx_conn_st *xc = NULL;

	pthread_mutex_lock(&x->conns_lock);
	for (unsigned int i = 0; i < x->nconns; i++)
		if (!memcmp(x->conns[i]->laddr, laddr, 16) && !memcmp(x->conns[i]->faddr, faddr, 16)) {
			xc = x->conns[i];
			goto out;
		}
	if (!create || x->nconns == RDSX_MAX_CONNS || !(xc = calloc(1, sizeof(*xc))))
		goto out;
	memcpy(xc->laddr, laddr, 16);
	memcpy(xc->faddr, faddr, 16);
	xc->v6 = !rdsb_addr_is_v4(laddr);
	xc->index = x->nconns;
	xc->fslot = -1;
	xc->frag = rdsx_frag_size(x->mtu, xc->v6);
	if (xc->frag > UMEM_FRAG_MAX)
		xc->frag = UMEM_FRAG_MAX;
	pthread_mutex_init(&xc->lock, NULL);
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		rdsx_xpath_init(&xc->paths[i], xc, i,
				&x->paths_map[xc->index * RDS_MPATH_WORKERS + i]);
	x->conns[x->nconns++] = xc;
out:
	pthread_mutex_unlock(&x->conns_lock);
	return xc;
}

/* The peer's MAC: from its frames, or the kernel's neighbour table, which
 * a datagram to the discard port makes the kernel fill. */
static bool neigh_lookup(struct rdsx_state *x, struct rdsx_conn_st *xc)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNEIGH,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		  .nd = { .ndm_family = (uint8_t)(xc->v6 ? AF_INET6 : AF_INET) } };
	char buf[16384];
	bool found = false, done = false;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return false;
	if (send(fd, &req, sizeof(req), 0) < 0)
		done = true;
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n <= 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			struct ndmsg *nd = NLMSG_DATA(nh);
			struct rtattr *rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			int alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
			const uint8_t *dst = NULL, *ll = NULL;

			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (nd->ndm_ifindex != x->ifindex || (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE)))
				continue;
			for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
				if (rta->rta_type == NDA_DST)
					dst = RTA_DATA(rta);
				else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6)
					ll = RTA_DATA(rta);
			}
			if (dst && ll && !memcmp(dst, xc->v6 ? xc->faddr : xc->faddr + 12, xc->v6 ? 16 : 4)) {
				memcpy(xc->fmac, ll, 6);
				found = true;
			}
		}
	}
	close(fd);
	return found;
}

static void resolve(struct rdsx_state *x, struct rdsx_conn_st *xc, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (xc->have_mac || now < xc->mac_retry_at)
		return;
	xc->mac_retry_at = now + MAC_RETRY_NS;
	if (neigh_lookup(x, xc)) {
		xc->have_mac = true;
		return;
	}
	len = rdsb_addr_to_sa(xc->faddr, 9, 0, true, &ss);
	sendto(x->probe_fd, "", 0, MSG_DONTWAIT, (struct sockaddr *)&ss, len);
}

/* ------------------------------------------------------------ frames */

bool rdsx_send_frame(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     const uint8_t *rds, uint32_t len)
{
	struct rdsx_l3 l = { .v6 = xc->v6, .sport = (uint16_t)(RDSX_SPORT_BASE + path), .dport = RDSX_PORT };
	uint64_t addr;
	uint8_t *buf;
	size_t n;

	if (!xc->have_mac || !(buf = rdsx_tx_buf(x, &addr)))
		return false;
	memcpy(l.smac, x->mac, 6);
	memcpy(l.dmac, xc->fmac, 6);
	memcpy(l.saddr, xc->laddr, 16);
	memcpy(l.daddr, xc->faddr, 16);
	n = rdsx_frame_build(buf, &l, len);
	memcpy(buf + rdsx_l2l4_len(l.v6), rds, len);
	rdsx_frame_csum(buf, &l, len);
	rdsx_tx_put(x, addr, (uint32_t)n);
	rdsx_count(tx_frames);
	return true;
}

static void ask_accept(struct rdsx_state *x, struct rdsx_xpath *xp)
{
	uint32_t ev[2] = { xp->xc->index, xp->index };

	if (xp->tfd >= 0 || xp->accept_sent)
		return;
	if (write(x->notify[1], ev, sizeof(ev)) == sizeof(ev))
		xp->accept_sent = true;
}

static void on_frame(struct rdsx_state *x, const uint8_t *buf, uint32_t len)
{
	struct rdsx_conn_st *xc;
	struct rdsx_xpath *xp;
	struct rdsx_rx rx;
	struct rdsx_fields f;

	if (!rdsx_frame_parse(buf, len, &rx) || !(xc = conn_get(x, rx.laddr, rx.faddr, true)))
		return;
	if (!xc->have_mac) {
		memcpy(xc->fmac, rx.fmac, 6);
		xc->have_mac = true;
	}
	rdsx_fields_get(rx.hdr, &f);
	if (!f.frame) {
		/* a congestion chunk XDP applied: the engine notifies sockets */
		if (rdsb_is_cong_map(rx.hdr->h_flags))
			xc->cong_rx = true;
		return;
	}
	xp = &xc->paths[rx.path];
	rdsx_xpath_rx(x, xp, rx.hdr, rx.payload, rx.payload_len);
	ask_accept(x, xp);
}

/* ------------------------------------------------------------ congestion maps */

static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static void cong_send(struct rdsx_state *x, struct rdsx_conn_st *xc, uint64_t now, uint64_t *next)
{
	static const uint64_t again_ms[] = { 10, 20, 70, 500 };
	struct rdsx_xpath *xp = &xc->paths[0];
	uint8_t frame[RDS_HEADER_SIZE + RDSX_CONG_CHUNK];
	struct rds_header *h = (struct rds_header *)frame;

	if (!xc->cong_have || !xc->have_mac)
		return;
	if (now >= xc->cong_at) {
		for (unsigned int i = 0; i < RDSX_CONG_CHUNKS; i++) {
			struct rdsx_fields f;

			memset(h, 0, sizeof(*h));
			h->h_sequence = htobe64(xc->cong_ver);
			h->h_len = htobe32(RDS_CONG_MAP_BYTES);
			h->h_dport = htobe16((uint16_t)(i * RDSX_CONG_CHUNK));
			h->h_flags = RDS_FLAG_CONG_BITMAP;
			rdsx_xpath_fields(xp, 0, &f);
			rdsx_fields_put(h, &f);
			memcpy(frame + RDS_HEADER_SIZE, xc->cong + i * RDSX_CONG_CHUNK, RDSX_CONG_CHUNK);
			rdsx_send_frame(x, xc, 0, frame, sizeof(frame));
		}
		xc->cong_at = now + again_ms[xc->cong_sends] * 1000000ull;
		if (xc->cong_sends < sizeof(again_ms) / sizeof(again_ms[0]) - 1)
			xc->cong_sends++;
	}
	if (xc->cong_at < *next)
		*next = xc->cong_at;
}

/* The peer's map changed (XDP applied it): an RDS/TCP congestion record
 * tells the engine, which counts and notifies as on TCP; its payload is not
 * used (cong_in_bpf), so an older copy can never overwrite newer bits. */
static void cong_to_engine(struct rdsx_conn_st *xc)
{
	struct rdsx_xpath *xp = NULL;
	struct rds_header *h;
	uint8_t *rec;

	for (unsigned int i = 0; i < RDS_MPATH_WORKERS && !xp; i++)
		if (xc->paths[i].tfd >= 0)
			xp = &xc->paths[i];
	if (!xc->cong_rx || !xp || xc->fslot < 0 || xp->dl_tail - xp->dl_head >= RDSX_DLQ)
		return;
	rec = calloc(1, RDS_HEADER_SIZE + RDS_CONG_MAP_BYTES);
	if (!rec)
		return;
	h = (struct rds_header *)rec;
	h->h_len = htobe32(RDS_CONG_MAP_BYTES);
	h->h_flags = RDS_FLAG_CONG_BITMAP;
	xp->deliver[xp->dl_tail % RDSX_DLQ] = (struct rdsx_txf){ .buf = rec,
								  .len = RDS_HEADER_SIZE + RDS_CONG_MAP_BYTES };
	xp->dl_tail++;
	xp->rx_held += RDS_HEADER_SIZE + RDS_CONG_MAP_BYTES;
	xc->cong_rx = false;
}

/* ------------------------------------------------------------ the engine's streams */

static void detach(struct rdsx_xpath *xp)
{
	if (xp->tfd >= 0)
		close(xp->tfd);
	xp->tfd = -1;
	free(xp->in_rec);
	xp->in_rec = NULL;
	xp->in_hdr_have = 0;
	xp->dl_off = 0;		/* a record cut short goes again, whole, on the next stream */
	xp->accept_sent = false;
}

/* A whole record from the engine: a congestion map to repeat, or frames. */
static void from_engine(struct rdsx_conn_st *xc, struct rdsx_xpath *xp, uint64_t now)
{
	const struct rds_header *h = (const struct rds_header *)xp->in_rec;

	if (rdsb_is_cong_map(h->h_flags) && rdsb_h_len_ok(h->h_flags, xp->in_len)) {
		uint64_t v = realtime_us();

		memcpy(xc->cong, xp->in_rec + RDS_HEADER_SIZE, RDS_CONG_MAP_BYTES);
		xc->cong_ver = v > xc->cong_ver ? v : xc->cong_ver + 1;
		xc->cong_have = true;
		xc->cong_sends = 0;
		xc->cong_at = now;
		return;
	}
	rdsx_xpath_queue(xp, xp->in_rec, xp->in_len, xc->frag);
}

static void stream_read(struct rdsx_conn_st *xc, struct rdsx_xpath *xp, uint64_t now)
{
	ssize_t n = 0;

	while (xp->tfd >= 0) {
		if (xp->in_hdr_have < RDS_HEADER_SIZE) {
			/* take a record only when its frames surely fit */
			if (!rdsx_xpath_room(xp, RDS_MAX_MSG_SIZE, xc->frag))
				return;
			n = recv(xp->tfd, xp->in_hdr + xp->in_hdr_have, RDS_HEADER_SIZE - xp->in_hdr_have,
				 MSG_DONTWAIT);
			if (n <= 0)
				goto eof;
			xp->in_hdr_have += (size_t)n;
			if (xp->in_hdr_have < RDS_HEADER_SIZE)
				continue;
			xp->in_len = be32toh(((struct rds_header *)xp->in_hdr)->h_len);
			if (!rdsb_msg_size_ok(xp->in_len) ||
			    !(xp->in_rec = malloc(RDS_HEADER_SIZE + xp->in_len))) {
				detach(xp);	/* the engine never writes that */
				return;
			}
			memcpy(xp->in_rec, xp->in_hdr, RDS_HEADER_SIZE);
			xp->in_have = 0;
		}
		if (xp->in_have < xp->in_len) {
			n = recv(xp->tfd, xp->in_rec + RDS_HEADER_SIZE + xp->in_have, xp->in_len - xp->in_have,
				 MSG_DONTWAIT);
			if (n <= 0)
				goto eof;
			xp->in_have += (uint32_t)n;
			if (xp->in_have < xp->in_len)
				continue;
		}
		xp->in_off += RDS_HEADER_SIZE + xp->in_len;
		from_engine(xc, xp, now);
		free(xp->in_rec);
		xp->in_rec = NULL;
		xp->in_hdr_have = 0;
	}
	return;
eof:
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		detach(xp);
}

static void deliver_flush(struct rdsx_xpath *xp)
{
	bool freed = false;

	while (xp->tfd >= 0 && xp->dl_head != xp->dl_tail) {
		struct rdsx_txf *t = &xp->deliver[xp->dl_head % RDSX_DLQ];
		ssize_t n = send(xp->tfd, t->buf + xp->dl_off, t->len - xp->dl_off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				detach(xp);
			break;
		}
		xp->dl_off += (uint32_t)n;
		if (xp->dl_off < t->len)
			break;
		xp->rx_held -= t->len;
		free(t->buf);
		t->buf = NULL;
		xp->dl_head++;
		xp->dl_off = 0;
		freed = true;
	}
	if (!freed)
		return;
	rdsx_xpath_rx_drain(xp);
	/* a window that opened again is announced, or the sender waits for
	 * its probe timer */
	if (rdsx_xpath_credit(xp) >= xp->last_credit + 4u)
		xp->ack_due = true;
}

static void take_cmds(struct rdsx_state *x)
{
	uint64_t v;

	(void)!read(x->wake_fd, &v, sizeof(v));
	pthread_mutex_lock(&x->cmd_lock);
	for (unsigned int i = 0; i < x->ncmds; i++) {
		struct rdsx_cmd *c = &x->cmds[i];
		struct rdsx_xpath *xp = &c->xc->paths[c->path];

		detach(xp);
		xp->tfd = c->fd;
		xp->gen = c->gen;
		xp->in_off = 0;
		pthread_mutex_lock(&c->xc->lock);
		xp->pub_gen = c->gen;
		xp->pub_acked = 0;
		pthread_mutex_unlock(&c->xc->lock);
	}
	x->ncmds = 0;
	pthread_mutex_unlock(&x->cmd_lock);
}

static void *transport_thread(void *arg)
{
	struct rdsx_state *x = arg;
	struct pollfd *pfd = calloc(2 + RDSX_MAX_CONNS * RDS_MPATH_WORKERS, sizeof(*pfd));

	if (!pfd)
		return NULL;
	while (!x->stop) {
		uint64_t now = rdsb_now_ns(), next = now + 100000000ull;
		bool in_flight = false;
		struct timespec ts;
		unsigned int n = 2, nconns;

		take_cmds(x);
		for (int i = 0; i < 16 && rdsx_rx_batch(x, on_frame); i++)
			;
		pthread_mutex_lock(&x->conns_lock);
		nconns = x->nconns;
		pthread_mutex_unlock(&x->conns_lock);
		for (unsigned int ci = 0; ci < nconns; ci++) {
			struct rdsx_conn_st *xc = x->conns[ci];

			resolve(x, xc, now);
			cong_to_engine(xc);
			cong_send(x, xc, now, &next);
			for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
				struct rdsx_xpath *xp = &xc->paths[i];

				rdsx_xpath_acked(xp, now);
				stream_read(xc, xp, now);
				deliver_flush(xp);
				rdsx_xpath_send(x, xp, now, &next);
				ask_accept(x, xp);
				if (xp->tx_sent != xp->tx_acked + 1)
					in_flight = true;
				if (!xc->have_mac && xp->tx_next != xp->tx_sent && xc->mac_retry_at < next)
					next = xc->mac_retry_at;
				if (xp->tfd >= 0) {
					pfd[n].fd = xp->tfd;
					pfd[n].events = (short)((rdsx_xpath_room(xp, RDS_MAX_MSG_SIZE, xc->frag) ? POLLIN : 0) |
								(xp->dl_head != xp->dl_tail ? POLLOUT : 0));
					n++;
				}
			}
		}
		rdsx_tx_kick(x);
		if (in_flight && now + ACK_POLL_NS < next)
			next = now + ACK_POLL_NS;
		pfd[0].fd = x->wake_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = rdsx_xsk_fd(x);
		pfd[1].events = POLLIN;
		now = rdsb_now_ns();
		next = next > now ? next - now : 0;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		ppoll(pfd, n, &ts, NULL);
	}
	free(pfd);
	return NULL;
}

/* ------------------------------------------------------------ engine side */

static void attach_stream(struct rdsb_engine *e, struct rdsx_state *x, struct rdsb_path *p,
			  struct rdsx_conn_st *xc)
{
	int sv[2], buf = STREAM_BUF;
	uint64_t one = 1, gen;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	}
	if (xc->fslot < 0) {
		xc->fslot = p->conn->fslot;
		rdsx_conn_map_set(x, xc);
	}
	pthread_mutex_lock(&xc->lock);
	gen = ++xc->eng_gen[p->index];
	pthread_mutex_unlock(&xc->lock);
	pthread_mutex_lock(&x->cmd_lock);
	if (x->ncmds == RDSX_CMDQ) {
		pthread_mutex_unlock(&x->cmd_lock);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	x->cmds[x->ncmds++] = (struct rdsx_cmd){ .xc = xc, .path = p->index, .fd = sv[1], .gen = gen };
	pthread_mutex_unlock(&x->cmd_lock);
	(void)!write(x->wake_fd, &one, sizeof(one));
	p->ev.fd = sv[0];
	p->ev.events = 0;
	p->lport = p->fport = (uint16_t)(RDSX_SPORT_BASE + p->index);
	(void)e;
}

static int xdp_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsx_state *x = e->tp_priv;
	struct rdsx_conn_st *xc = conn_get(x, p->conn->laddr, p->conn->faddr, true);

	if (!xc)
		return -1;
	attach_stream(e, x, p, xc);
	if (p->ev.fd < 0)
		return -1;
	p->state = RDSB_PATH_CONNECTING;
	p->outgoing = true;
	rdsb_ev_set(e, &p->ev, EPOLLOUT);
	return 0;
}

static void xdp_connected(struct rdsb_engine *e, struct rdsb_path *p)
{
	rdsb_path_up(e, p);
}

/* Frames arrived on a path the engine has no stream for. */
static void xdp_accept(struct rdsb_engine *e, struct rdsb_ev *lev, uint32_t events)
{
	struct rdsx_state *x = e->tp_priv;
	uint32_t ev[2];

	(void)events;
	while (read(lev->fd, ev, sizeof(ev)) == sizeof(ev)) {
		struct rdsx_conn_st *xc;
		struct rdsb_conn *c;
		struct rdsb_path *p;

		if (ev[0] >= x->nconns || ev[1] >= RDS_MPATH_WORKERS)
			continue;
		xc = x->conns[ev[0]];
		c = rdsb_conn_get(e, xc->laddr, xc->faddr, 0, true);
		if (!c || c->loopback) {
			rdsb_count(e, RDSB_C_DROP_LOCAL_PEER);
			continue;
		}
		p = &c->paths[ev[1]];
		if (p->ev.fd >= 0)
			continue;
		attach_stream(e, x, p, xc);
		if (p->ev.fd < 0)
			continue;
		p->outgoing = false;
		rdsb_path_up(e, p);
	}
}

static uint64_t xdp_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	struct rdsx_state *x = p->conn->eng->tp_priv;
	struct rdsx_conn_st *xc = conn_get(x, p->conn->laddr, p->conn->faddr, false);
	struct rdsx_xpath *xp;
	uint64_t v = 0;

	if (!xc)
		return 0;
	xp = &xc->paths[p->index];
	pthread_mutex_lock(&xc->lock);
	if (xp->pub_gen == xc->eng_gen[p->index])
		v = xp->pub_acked;
	pthread_mutex_unlock(&xc->lock);
	return v;
}

/* The engine's side of a path: a stream of whole records on p->ev.fd. */
struct xdp_stream {
	struct rdsb_reader rx;
	uint64_t written;
};

static struct xdp_stream *stream_of(const struct rdsb_path *p)
{
	return p->t_data;
}

static int xdp_conn_alloc(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct xdp_stream *st = calloc(RDS_MPATH_WORKERS, sizeof(*st));

	(void)e;
	if (!st)
		return -ENOMEM;
	c->t_data = st;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		c->paths[i].t_data = &st[i];
	return 0;
}

static void xdp_conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		rdsb_reader_free(&stream_of(&c->paths[i])->rx);
	free(c->t_data);
	c->t_data = NULL;
}

static int xdp_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	return rdsb_stream_xmit(e, p, &stream_of(p)->written);
}

static void xdp_recv(struct rdsb_engine *e, struct rdsb_path *p)
{
	rdsb_stream_recv(e, p, &stream_of(p)->rx);
}

static void xdp_close(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	(void)e;
	(void)reset;
	rdsb_reader_reset(&stream_of(p)->rx);
	stream_of(p)->written = 0;
	if (p->ev.fd < 0)
		return;
	close(p->ev.fd);
	p->ev.fd = -1;
	p->ev.events = 0;
}

/* Userspace counters by their field names, the XDP program's as xdp_NAME,
 * then the AF_XDP socket's drops (xsk_). */
static void xdp_counters(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	static const char *const prog_names[] = {
#define RDSX_PROG_NAME(id, name) "xdp_" name,
		RDSX_COUNTERS(RDSX_PROG_NAME)
#undef RDSX_PROG_NAME
	};
	uint64_t prog[RDSX_C_MAX];
	struct xdp_statistics xs;

#define RDSX_STAT_FN(name) fn(arg, #name, __atomic_load_n(&rdsx_stats.name, __ATOMIC_RELAXED));
	RDSX_STATS(RDSX_STAT_FN)
#undef RDSX_STAT_FN
	if (!e->tp_priv)
		return;
	rdsx_prog_counters(e->tp_priv, prog);
	for (unsigned int i = 0; i < RDSX_C_MAX; i++)
		fn(arg, prog_names[i], prog[i]);
	rdsx_xsk_stats(e->tp_priv, &xs);
	fn(arg, "xsk_rx_ring_full", xs.rx_ring_full);
	fn(arg, "xsk_rx_fill_ring_empty", xs.rx_fill_ring_empty_descs);
	fn(arg, "xsk_rx_dropped", xs.rx_dropped);
	fn(arg, "xsk_tx_invalid", xs.tx_invalid_descs);
}

struct counters_line {
	char buf[1024];
	size_t len;
};

static void log_one(void *arg, const char *name, uint64_t v)
{
	struct counters_line *l = arg;
	int n;

	if (!v || l->len >= sizeof(l->buf))
		return;
	n = snprintf(l->buf + l->len, sizeof(l->buf) - l->len, " %s %llu", name, (unsigned long long)v);
	if (n > 0)
		l->len += (size_t)n;
}

/* One log line with the counters that are not zero, when the engine stops. */
static void log_counters(struct rdsx_state *x)
{
	struct counters_line l = { .len = 0 };

	xdp_counters(x->e, log_one, &l);
	pr_info("rds-bpf: xdp transport counters:%s\n", l.buf);
}

static void xdp_exit(struct rdsb_engine *e)
{
	struct rdsx_state *x = e->tp_priv;
	uint64_t one = 1;

	if (x->running) {
		x->stop = true;
		(void)!write(x->wake_fd, &one, sizeof(one));
		pthread_join(x->thread, NULL);
	}
	log_counters(x);
	for (unsigned int i = 0; i < x->nconns; i++) {
		for (unsigned int j = 0; j < RDS_MPATH_WORKERS; j++) {
			detach(&x->conns[i]->paths[j]);
			rdsx_xpath_free(&x->conns[i]->paths[j]);
		}
		free(x->conns[i]);
	}
	x->nconns = 0;
	rdsx_dev_close(x);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	if (x->notify_ev.fd >= 0) {
		rdsb_ev_del(e, &x->notify_ev);
		close(x->notify_ev.fd);
	}
	if (x->notify[1] >= 0)
		close(x->notify[1]);
	if (x->probe_fd >= 0)
		close(x->probe_fd);
	free(x);
	e->tp_priv = NULL;
}

static const struct rdsb_transport_opt xdp_opts[] = {
	{ "dev", "IFACE" },
	{ "mode", "native|skb" },
	{ NULL, NULL },
};

static int xdp_check_opts(const struct rdsb_engine_cfg *cfg)
{
	const char *mode = rdsb_cfg_opt(cfg, "mode");

	if (!rdsb_cfg_opt(cfg, "dev")) {
		fprintf(stderr, "rds-bpf load: --transport xdp needs --dev IFACE\n");
		return -EINVAL;
	}
	if (mode && strcmp(mode, "native") && strcmp(mode, "skb")) {
		fprintf(stderr, "rds-bpf load: --mode takes native or skb\n");
		return -EINVAL;
	}
	return 0;
}

static int xdp_init(struct rdsb_engine *e, const struct rdsb_engine_cfg *cfg)
{
	struct rdsx_state *x = calloc(1, sizeof(*x));
	const char *mode = rdsb_cfg_opt(cfg, "mode");
	int err;

	if (!x)
		return -ENOMEM;
	x->wake_fd = x->notify[0] = x->notify[1] = x->probe_fd = x->notify_ev.fd = -1;
	x->skb_mode = mode && !strcmp(mode, "skb");
	x->mode_set = mode != NULL;
	pthread_mutex_init(&x->cmd_lock, NULL);
	pthread_mutex_init(&x->conns_lock, NULL);
	e->tp_priv = x;
	err = rdsx_dev_open(x, e, rdsb_cfg_opt(cfg, "dev"));
	if (err)
		return err;
	x->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	x->probe_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (x->wake_fd < 0 || pipe2(x->notify, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	x->notify_ev.kind = EV_TRANSPORT;
	x->notify_ev.fd = x->notify[0];
	x->notify[0] = -1;
	if (rdsb_ev_set(e, &x->notify_ev, EPOLLIN) < 0)
		return -errno;
	err = pthread_create(&x->thread, NULL, transport_thread, x);
	if (err)
		return -err;
	x->running = true;
	return 0;
}

const struct rdsb_transport rdsb_xdp_transport = {
	.name = "xdp",
	.trans_id = RDS_TRANS_XDP,
	.cong_in_bpf = true,
	.opts = xdp_opts,
	.check_opts = xdp_check_opts,
	.init = xdp_init,
	.exit = xdp_exit,
	.event = xdp_accept,
	.conn_alloc = xdp_conn_alloc,
	.conn_free = xdp_conn_free,
	.conn_path_connect = xdp_connect,
	.conn_path_connected = xdp_connected,
	.conn_path_shutdown = xdp_close,
	.recv_path = xdp_recv,
	.xmit = xdp_xmit,
	.acked = xdp_acked,
	.counters = xdp_counters,
};
