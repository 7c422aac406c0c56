// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP/AF_XDP transport (docs/xdp-encap.md) on the engine's message
 * interface, in the engine's event loop: xmit cuts each message of a path's
 * queue into numbered UDP frames on the AF_XDP socket as far as the peer's
 * window allows (the rest waits in p->head_off until acks open it: the
 * timer op reads them from the map XDP writes and sends again); frames
 * received are put back in order, reassembled and handed to
 * rdsb_recv_msg, and held while the engine's path is stalled (the
 * window we advertise shrinks with what we hold, which stops the peer).
 * Frames from a peer the engine does not know yet make the engine accept
 * the path, as a TCP accept would.
 */
#include <errno.h>
#include <malloc.h>
#include <linux/if_xdp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
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

#define ACK_POLL_NS	200000ull	/* acks land in the map, not on the socket */
#define MAC_RETRY_NS	20000000ull
#define RX_BATCHES	16		/* of 64 frames per receive event */


/* ------------------------------------------------------------ connections */

static unsigned int conn_hash(const uint8_t laddr[16], const uint8_t faddr[16])
{
	uint32_t h = 2166136261u;

	for (unsigned int i = 0; i < 16; i++)
		h = (h ^ laddr[i] ^ (uint32_t)faddr[i] << 8) * 16777619u;
	return h & (RDSX_CONN_HASH - 1);
}

static struct rdsx_conn_st *conn_get(struct rdsx_state *x, const uint8_t laddr[16],
				     const uint8_t faddr[16], bool create)
{
	unsigned int b = conn_hash(laddr, faddr);
	struct rdsx_conn_st *xc;

	for (xc = x->hash[b]; xc; xc = xc->hnext)
		if (!memcmp(xc->laddr, laddr, 16) && !memcmp(xc->faddr, faddr, 16))
			return xc;
	if (!create || x->nconns == RDSX_MAX_CONNS || !(xc = calloc(1, sizeof(*xc))))
		return NULL;
	memcpy(xc->laddr, laddr, 16);
	memcpy(xc->faddr, faddr, 16);
	xc->v6 = !rdsb_addr_is_v4(laddr);
	xc->index = x->nconns;
	xc->frag = rdsx_frag_size(x->mtu, xc->v6);
	if (xc->frag > RDSX_FRAG_MAX)
		xc->frag = RDSX_FRAG_MAX;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
		rdsx_xpath_init(&xc->paths[i], xc, i,
				&x->paths_map[xc->index * RDS_MPATH_WORKERS + i]);
	x->conns[x->nconns++] = xc;
	xc->hnext = x->hash[b];
	x->hash[b] = xc;
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

static void frame_l3(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path, struct rdsx_l3 *l)
{
	*l = (struct rdsx_l3){ .v6 = xc->v6, .sport = (uint16_t)(RDSX_SPORT_BASE + path), .dport = RDSX_PORT };
	memcpy(l->smac, x->mac, 6);
	memcpy(l->dmac, xc->fmac, 6);
	memcpy(l->saddr, xc->laddr, 16);
	memcpy(l->daddr, xc->faddr, 16);
}

uint8_t *rdsx_frame_start(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
			  uint32_t len, uint64_t *addr)
{
	struct rdsx_l3 l;
	uint8_t *buf;

	if (!xc->have_mac || !(buf = rdsx_tx_buf(x, addr)))
		return NULL;
	frame_l3(x, xc, path, &l);
	rdsx_frame_build(buf, &l, len);
	return buf + rdsx_l2l4_len(l.v6);
}

bool rdsx_frame_send(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     uint64_t addr, uint32_t len, uint32_t frag_sum)
{
	struct rdsx_l3 l;

	frame_l3(x, xc, path, &l);
	rdsx_frame_csum(rdsx_tx_data(x, addr), &l, len, frag_sum);
	if (!rdsx_tx_put(x, addr, (uint32_t)rdsx_l2l4_len(l.v6) + len))
		return false;
	rdsx_count(tx_frames);
	return true;
}

bool rdsx_send_frame(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     const uint8_t *rds, uint32_t len)
{
	uint64_t addr;
	uint8_t *buf = rdsx_frame_start(x, xc, path, len, &addr);

	if (!buf)
		return false;
	memcpy(buf, rds, RDS_HEADER_SIZE);
	if (rdsx_frame_send(x, xc, path, addr, len,
			    rdsx_copy_sum(buf + RDS_HEADER_SIZE, rds + RDS_HEADER_SIZE, len - RDS_HEADER_SIZE)))
		return true;
	rdsx_tx_release(x, addr);	/* lost: an ack goes with the next, a map again */
	return false;
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

/* ------------------------------------------------------------ receive */

/* Hand the engine what is complete, unless its path is stalled on a full
 * socket (it calls recv_path when that socket drained) or not there. */
static void deliver(struct rdsb_engine *e, struct rdsx_xpath *xp)
{
	struct rdsb_path *p = xp->p;
	bool taken = false;

	/* delivering: rdsb_recv_msg is dropping the path, whose recv_path
	 * comes back here; the loop below stops at the closed handle */
	if (!p || xp->delivering)
		return;
	xp->delivering = true;
	while (xp->dl_head != xp->dl_tail && p->ev.fd >= 0 && !p->rx_stalled &&
	       (p->state == RDSB_PATH_UP || p->state == RDSB_PATH_DISCONNECTING)) {
		struct rdsx_rxm *d = &xp->deliver[xp->dl_head++ % RDSX_DLQ];

		xp->rx_held -= RDS_HEADER_SIZE + d->h.len;
		taken = true;
		if (!rdsb_recv_msg(e, p, &d->h, d->m))
			break;
	}
	xp->delivering = false;
	if (taken)
		rdsx_xpath_rx_taken(xp);
}

/* The engine's handle of a path: an eventfd, never readable, always
 * writable (a connect completes at once: the frames need no handshake). */
static int path_open(struct rdsb_path *p)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	p->ev.fd = fd;
	p->ev.events = 0;
	p->lport = p->fport = (uint16_t)(RDSX_SPORT_BASE + p->index);
	return 0;
}

/* The engine has every path of a connection the transport knows (from its
 * own connect, or from the peer's frames: as a TCP accept would make it):
 * a path without a handle is accepted at once. */
static void accept_path(struct rdsb_engine *e, struct rdsx_conn_st *xc, struct rdsx_xpath *xp)
{
	struct rdsb_path *p = xp->p;

	if (!p) {
		struct rdsb_conn *c;

		if (xc->refused)
			return;
		c = rdsb_conn_get(e, xc->laddr, xc->faddr, 0, true);
		if (!c || c->loopback) {
			xc->refused = true;
			rdsb_count(e, RDSB_C_DROP_LOCAL_PEER);
			return;
		}
		p = xp->p;
	}
	if (p->ev.fd >= 0 || path_open(p) < 0)
		return;
	p->outgoing = false;
	rdsb_path_up(e, p);
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
	accept_path(x->e, xc, xp);
	deliver(x->e, xp);
	if (!xp->touched) {
		xp->touched = true;
		x->touched[x->ntouched++] = xp;
	}
}

/* The peer's map changed (XDP applied it): a congestion message tells the
 * engine, which counts and notifies as on TCP; its payload is not used
 * (cong_in_bpf), so an older copy can never overwrite newer bits. */
static void cong_to_engine(struct rdsb_engine *e, struct rdsx_conn_st *xc)
{
	struct rdsb_hdr h = { .len = RDS_CONG_MAP_BYTES, .flags = RDS_FLAG_CONG_BITMAP };
	struct rdsb_path *p = NULL;
	struct rdsb_msg *m;

	if (!xc->cong_rx || !xc->c)
		return;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS && !p; i++)
		if (xc->c->paths[i].state == RDSB_PATH_UP)
			p = &xc->c->paths[i];
	/* the program applied the map (cong_in_bpf): the engine takes no bits */
	if (!p || !(m = rdsb_msg_new(0)))
		return;
	xc->cong_rx = false;
	rdsb_recv_msg(e, p, &h, m);
}

/* The map we send: repeated by cong_send (maps are not acked). */
static void cong_take(struct rdsb_engine *e, struct rdsx_conn_st *xc, const struct rdsb_msg *m)
{
	uint64_t v = realtime_us();

	memcpy(xc->cong, m->data, RDS_CONG_MAP_BYTES);
	xc->cong_ver = v > xc->cong_ver ? v : xc->cong_ver + 1;
	xc->cong_have = true;
	xc->cong_sends = 0;
	xc->cong_at = e->now;
}

/* ------------------------------------------------------------ send */

/* m's frames from p->head_off on, while the peer's window has room (force:
 * all of them, as far as the queue and the umem's reserve go); true when
 * the last one is queued. A message of zero bytes is one frame. */
static bool queue_frames(struct rdsx_state *x, struct rdsx_xpath *xp, struct rdsb_path *p,
			 struct rdsb_msg *m, bool force)
{
	do {
		uint32_t flen = m->len - (uint32_t)p->head_off;

		if (flen > xp->xc->frag)
			flen = xp->xc->frag;
		if ((!force && !rdsx_xpath_window_open(xp)) ||
		    !rdsx_xpath_queue(x, xp, &m->wire, m->data + p->head_off, flen, force))
			return false;
		p->head_off += flen;
	} while (p->head_off < m->len);
	return true;
}

static int xdp_xmit(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsx_state *x = e->tp_priv;
	struct rdsx_xpath *xp = p->t_data;
	struct rdsx_conn_st *xc = xp->xc;
	uint64_t next = UINT64_MAX;

	while (!list_empty(&p->send_q)) {
		struct rdsb_msg *m = list_first_entry(&p->send_q, struct rdsb_msg, item);

		if (!p->head_off) {
			if (!rdsx_xpath_window_open(xp))
				break;
			rdsb_msg_encode(p, m);
			if (m->cong_map) {
				cong_take(e, xc, m);
				list_del_init(&m->item);
				rdsb_path_msg_sent(p, m);
				cong_send(x, xc, e->now, &next);
				continue;
			}
		}
		if (!queue_frames(x, xp, p, m, false))
			break;
		list_del_init(&m->item);
		p->head_off = 0;
		m->end_off = xp->tx_queued;
		rdsb_path_msg_sent(p, m);
	}
	rdsx_xpath_send(x, xp, e->now, &next);
	rdsx_tx_kick(x);
	return 0;
}

static uint64_t xdp_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsx_xpath *xp = p->t_data;

	rdsx_xpath_acked(e->tp_priv, xp, e->now);
	return xp->tx_freed;
}

/* XDP wakes the engine at the next ack while the core or our queue waits
 * for one; the poll (ack_poll_ns) stays as the fallback. */
static void want_ack_wake(struct rdsx_xpath *xp)
{
	__atomic_store_n(&xp->map->ack_wake, xp->core_waits || xp->window_waits, __ATOMIC_RELEASE);
}

static void xdp_ack_wait(struct rdsb_engine *e, struct rdsb_path *p, bool waiting)
{
	struct rdsx_xpath *xp = p->t_data;

	(void)e;
	xp->core_waits = waiting;
	want_ack_wake(xp);
}

static uint64_t xdp_ack_poll_ns(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return ACK_POLL_NS;
}

/* Acks and window, retransmissions, what the ring could not take, and the
 * engine's messages that waited for them. */
static void xpath_timer(struct rdsb_engine *e, struct rdsx_state *x, struct rdsx_xpath *xp,
			uint64_t *next)
{
	struct rdsb_path *p = xp->p;

	rdsx_xpath_acked(x, xp, e->now);
	if (p && p->state == RDSB_PATH_UP && !list_empty(&p->send_q) && rdsx_xpath_window_open(xp))
		rdsb_path_xmit(e, p);
	xp->window_waits = p && p->state == RDSB_PATH_UP && !list_empty(&p->send_q);
	want_ack_wake(xp);
	rdsx_xpath_send(x, xp, e->now, next);
	if (rdsx_xpath_in_flight(xp) && e->now + ACK_POLL_NS < *next)
		*next = e->now + ACK_POLL_NS;
	if (!xp->xc->have_mac && xp->tx_next != xp->tx_sent && xp->xc->mac_retry_at < *next)
		*next = xp->xc->mac_retry_at;
}

static void xdp_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsx_state *x = e->tp_priv;

	for (unsigned int ci = 0; ci < x->nconns; ci++) {
		struct rdsx_conn_st *xc = x->conns[ci];

		resolve(x, xc, e->now);
		cong_to_engine(e, xc);
		cong_send(x, xc, e->now, next);
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			if (xc->c)
				accept_path(e, xc, &xc->paths[i]);
			xpath_timer(e, x, &xc->paths[i], next);
		}
	}
	rdsx_tx_kick(x);
}

/* The AF_XDP socket is readable: frames, then the acks they are owed. */
static void xdp_event(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	struct rdsx_state *x = e->tp_priv;
	uint64_t next = UINT64_MAX;

	(void)events;
	if (ev == &x->wake_ev) {
		rdsx_wake_drain(x);	/* the pass after this batch reads the acks */
		return;
	}
	for (int i = 0; i < RX_BATCHES && rdsx_rx_batch(x, on_frame); i++)
		;
	for (unsigned int i = 0; i < x->ntouched; i++) {
		struct rdsx_xpath *xp = x->touched[i];

		xp->touched = false;
		rdsx_xpath_acked(x, xp, e->now);
		rdsx_xpath_send(x, xp, e->now, &next);
	}
	x->ntouched = 0;
	rdsx_tx_kick(x);
}

/* ------------------------------------------------------------ connections and paths */

static int xdp_conn_alloc(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsx_state *x = e->tp_priv;
	struct rdsx_conn_st *xc;

	if (c->loopback)
		return 0;	/* the core delivers it: no frames */
	xc = conn_get(x, c->laddr, c->faddr, true);
	if (!xc)
		return -ENOMEM;
	xc->c = c;
	c->t_data = xc;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		c->paths[i].t_data = &xc->paths[i];
		xc->paths[i].p = &c->paths[i];
	}
	/* XDP applies this peer's acks and maps from now on */
	rdsx_conn_map_set(x, xc, c->fslot);
	return 0;
}

static void xdp_conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsx_conn_st *xc = c->t_data;

	(void)e;
	if (!xc)
		return;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		xc->paths[i].p = NULL;
		c->paths[i].t_data = NULL;
	}
	xc->c = NULL;
	c->t_data = NULL;
}

static int xdp_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	int err = path_open(p);

	if (err)
		return err;
	rdsb_path_connecting(e, p, p->ev.fd, EPOLLOUT);
	return 0;
}

static void xdp_connected(struct rdsb_engine *e, struct rdsb_path *p)
{
	rdsb_path_up(e, p);
}

/* What arrived before the engine had the path. */
static void xdp_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	deliver(e, p->t_data);
}

static void xdp_recv(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsx_state *x = e->tp_priv;
	struct rdsx_xpath *xp = p->t_data;
	uint64_t next = UINT64_MAX;

	if (p->rx_stalled) {
		if (p->state != RDSB_PATH_DISCONNECTING)
			return;
		rdsb_path_rx_unstall(e, p);
	}
	deliver(e, xp);
	if (xp->ack_due) {
		rdsx_xpath_send(x, xp, e->now, &next);
		rdsx_tx_kick(x);
	}
}

/* The path goes: a message half on the wire is finished (frames are the
 * transport's, and the peer reassembles whole messages only), and frames
 * keep going until acked; the engine sends the message again, marked
 * RETRANSMITTED, on the next path. */
static void xdp_close(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	(void)reset;
	if (p->head_off && !list_empty(&p->send_q))
		queue_frames(e->tp_priv, p->t_data, p, list_first_entry(&p->send_q, struct rdsb_msg, item),
			     true);
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

#define RDSX_STAT_FN(name) fn(arg, #name, rdsx_stats.name);
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

	log_counters(x);
	for (unsigned int i = 0; i < x->nconns; i++) {
		for (unsigned int j = 0; j < RDS_MPATH_WORKERS; j++)
			rdsx_xpath_free(&x->conns[i]->paths[j]);
		free(x->conns[i]);
	}
	x->nconns = 0;
	if (x->xsk_ev.fd >= 0)
		rdsb_ev_del(e, &x->xsk_ev);
	if (x->wake_ev.fd >= 0)
		rdsb_ev_del(e, &x->wake_ev);
	rdsx_dev_close(x);
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
	/* Each message received is reassembled in a buffer of its own, which
	 * the engine frees once delivered: with glibc's default thresholds the
	 * heap shrank and grew again around each 64 KiB message, and the page
	 * faults that zeroed and charged it again were 45% of the receiving
	 * engine's time (perf, 8 x 16 x 64 KiB one-way). The heap
	 * keeps what the transport's receive budget can hold, and messages up
	 * to RDS_MAX_MSG_SIZE come from it, not from an mmap each. */
	mallopt(M_MMAP_THRESHOLD, 2 * RDS_MAX_MSG_SIZE);
	mallopt(M_TRIM_THRESHOLD, RDS_MPATH_WORKERS * RDSX_RX_BUDGET);
	x->probe_fd = x->xsk_ev.fd = x->wake_ev.fd = -1;
	x->skb_mode = mode && !strcmp(mode, "skb");
	x->mode_set = mode != NULL;
	e->tp_priv = x;
	err = rdsx_dev_open(x, e, rdsb_cfg_opt(cfg, "dev"));
	if (err)
		return err;
	x->probe_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	x->xsk_ev.kind = EV_TRANSPORT;
	x->xsk_ev.fd = rdsx_xsk_fd(x);
	x->wake_ev.kind = EV_TRANSPORT;
	x->wake_ev.fd = rdsx_wake_fd(x);
	if (rdsb_ev_set(e, &x->xsk_ev, EPOLLIN) < 0 || rdsb_ev_set(e, &x->wake_ev, EPOLLIN) < 0)
		return -errno;
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
	.event = xdp_event,
	.timer = xdp_timer,
	.conn_alloc = xdp_conn_alloc,
	.conn_free = xdp_conn_free,
	.conn_path_connect = xdp_connect,
	.conn_path_connected = xdp_connected,
	.conn_path_up = xdp_path_up,
	.conn_path_shutdown = xdp_close,
	.recv_path = xdp_recv,
	.xmit = xdp_xmit,
	.acked = xdp_acked,
	.ack_wait = xdp_ack_wait,
	.ack_poll_ns = xdp_ack_poll_ns,
	.counters = xdp_counters,
};
