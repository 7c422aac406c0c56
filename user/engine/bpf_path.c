// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sockmap data path, engine side (the programs: bpf/rdsb_data.bpf.c).
 * A path socket joins rdsb_pathsk once it is up, after its receive state
 * (rdsb_rxpath: next_rx_seq, address slots) is in place; from then on the
 * verdict delivers its data, and what it does not handle itself (pings,
 * probes) it redirects to the engine's inbox, tagged with the path's
 * socket cookie. An application socket joins rdsb_socks when it is opened, so
 * that every byte it reads goes through one queue, and rdsb_bound once it
 * is bound. What BPF cannot do itself it reports on the rdsb_events ring.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "engine.h"
#include "../common/log.h"
#include "rdsb_data.skel.h"

/* strparser refuses a record larger than the socket's receive buffer, and
 * TCP starts with a small one: room for the largest datagram from the start. */
#define PATH_RCVBUF (4 << 20)
#define RCVQ_BYTES (RDSB_MAX_SOCKS * sizeof(struct rdsb_rcvq))
#define INBOX_CAP (RDS_HEADER_SIZE + RDS_MAX_MSG_SIZE)

static int on_event(void *ctx, void *data, size_t len)
{
	struct rdsb_engine *e = ctx;
	const struct rdsb_event *ev = data;

	if (len < sizeof(*ev))
		return 0;
	switch (ev->kind) {
	case RDSB_EV_CONG_MAP:
		if (ev->slot < RDSB_MAX_ADDRS)
			rdsb_cong_peer_updated(e, (int)ev->slot);
		break;
	case RDSB_EV_RCVQ:
		if (e->sock_at && ev->index < RDSB_MAX_SOCKS && e->sock_at[ev->index])
			rdsb_sock_check_cong(e, e->sock_at[ev->index]);
		break;
	case RDSB_EV_ACKED:
		rdsb_sockops_acked(e, ev->index);
		break;
	}
	return 0;
}

static struct rdsb_path *path_by_cookie(struct rdsb_engine *e, uint64_t cookie)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
			if (c->paths[i].bpf_cookie == cookie)
				return &c->paths[i];
	return NULL;
}

/* Whole records only (the verdict redirects each one in one piece); each
 * goes to the path its cookie names, or is dropped if that path is gone. */
void rdsb_bpf_inbox_read(struct rdsb_engine *e)
{
	if (e->inbox_busy || e->inbox_ev.fd < 0)
		return;
	e->inbox_busy = true;
	for (;;) {
		ssize_t n = recv(e->inbox_ev.fd, e->inbox_buf + e->inbox_len, INBOX_CAP - e->inbox_len,
				 MSG_DONTWAIT);
		size_t off = 0;

		if (n <= 0)
			break;
		e->inbox_len += (size_t)n;
		while (e->inbox_len - off >= RDS_HEADER_SIZE) {
			const struct rds_header *h = (const void *)(e->inbox_buf + off);
			size_t rec = RDS_HEADER_SIZE + be32toh(h->h_len);
			struct rdsb_path *p;
			uint64_t cookie;

			if (rec > INBOX_CAP) {
				/* the stream parser bounds h_len: cannot happen */
				rdsb_count(e, RDSB_C_DROP_BAD_LEN);
				off = e->inbox_len;
				break;
			}
			if (e->inbox_len - off < rec)
				break;
			memcpy(&cookie, &h->h_ack, sizeof(cookie));
			p = cookie ? path_by_cookie(e, cookie) : NULL;
			if (p)
				rdsb_path_feed(e, p, e->inbox_buf + off, rec);
			else
				rdsb_count(e, RDSB_C_DROP_NO_PATH);
			off += rec;
		}
		memmove(e->inbox_buf, e->inbox_buf + off, e->inbox_len - off);
		e->inbox_len -= off;
	}
	e->inbox_busy = false;
}

static int inbox_init(struct rdsb_engine *e, int map_fd)
{
	int sv[2], buf = INBOX_CAP * 2;
	uint32_t key = 0;
	uint64_t fd;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	e->inbox_ev.kind = EV_BPF_INBOX;
	e->inbox_ev.fd = sv[0];
	e->inbox_peer = sv[1];
	fd = (uint64_t)sv[0];
	/* room for the largest record, so that a redirect is never retried */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	e->inbox_buf = malloc(INBOX_CAP);
	if (!e->inbox_buf || bpf_map_update_elem(map_fd, &key, &fd, BPF_ANY) ||
	    rdsb_ev_set(e, &e->inbox_ev, EPOLLIN) < 0)
		return -1;
	return 0;
}

int rdsb_bpf_path_init(struct rdsb_engine *e)
{
	struct rdsb_data *skel = e->bpf_obj;
	int err;

	e->pathsk_fd = bpf_map__fd(skel->maps.rdsb_pathsk);
	e->rxpath_fd = bpf_map__fd(skel->maps.rdsb_rxpath);
	e->socks_fd = bpf_map__fd(skel->maps.rdsb_socks);
	e->bound_fd = bpf_map__fd(skel->maps.rdsb_bound);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_parse), e->pathsk_fd,
			    BPF_SK_SKB_STREAM_PARSER, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_verdict), e->pathsk_fd,
			    BPF_SK_SKB_STREAM_VERDICT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_deliver), e->socks_fd, BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		pr_warn("rds-bpf: cannot attach the sockmap programs: %s; hint: needs a kernel with "
			"sockmap stream parsers (CONFIG_BPF_STREAM_PARSER)\n", strerror(errno));
		return err;
	}
	e->rcvq = mmap(NULL, RCVQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(skel->maps.rdsb_rcvq), 0);
	e->sock_at = calloc(RDSB_MAX_SOCKS, sizeof(*e->sock_at));
	if (e->rcvq == MAP_FAILED || !e->sock_at || rdsb_bpf_events_init(e)) {
		err = -errno;
		pr_warn("rds-bpf: cannot set up the sockmap data path: %s\n", strerror(errno));
		return err ? err : -ENOMEM;
	}
	if (inbox_init(e, bpf_map__fd(skel->maps.rdsb_inbox)) < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot set up the engine's inbox: %s\n", strerror(errno));
		return err ? err : -ENOMEM;
	}
	e->bpf_path = true;
	return 0;
}

/* The rdsb_events ring, for the data path and the sock_ops program alike. */
int rdsb_bpf_events_init(struct rdsb_engine *e)
{
	struct rdsb_data *skel = e->bpf_obj;

	if (e->events)
		return 0;
	e->events = ring_buffer__new(bpf_map__fd(skel->maps.rdsb_events), on_event, e, NULL);
	if (!e->events)
		return -1;
	e->events_ev.kind = EV_BPF_EVENTS;
	e->events_ev.fd = ring_buffer__epoll_fd(e->events);
	return rdsb_ev_set(e, &e->events_ev, EPOLLIN) < 0 ? -1 : 0;
}

void rdsb_bpf_events_fini(struct rdsb_engine *e)
{
	if (!e->events)
		return;
	rdsb_ev_del(e, &e->events_ev);
	ring_buffer__free(e->events);
	e->events = NULL;
}

void rdsb_bpf_path_fini(struct rdsb_engine *e)
{
	if (e->inbox_ev.fd >= 0) {
		rdsb_ev_del(e, &e->inbox_ev);
		close(e->inbox_ev.fd);
		close(e->inbox_peer);
	}
	e->inbox_ev.fd = e->inbox_peer = -1;
	free(e->inbox_buf);
	e->inbox_buf = NULL;
	if (e->rcvq && e->rcvq != MAP_FAILED)
		munmap(e->rcvq, RCVQ_BYTES);
	e->rcvq = NULL;
	free(e->sock_at);
	e->sock_at = NULL;
	e->bpf_path = false;
}

void rdsb_bpf_events(struct rdsb_engine *e)
{
	ring_buffer__consume(e->events);
}

void rdsb_bpf_path_add(struct rdsb_engine *e, struct rdsb_path *p)
{
	/* the counts go on from where the path's earlier sockets left them */
	struct rdsb_rxpath rp = { .next_rx_seq = p->next_rx_seq, .rx_msgs = p->rx_msgs,
				  .rx_bytes = p->rx_bytes, .lslot = (uint32_t)p->conn->lslot,
				  .fslot = (uint32_t)p->conn->fslot, .path = p->index };
	socklen_t len = sizeof(uint64_t);
	int fd = p->ev.fd, buf = PATH_RCVBUF, one = 1;
	uint64_t cookie = 0, sockfd = (uint64_t)fd;	/* the maps' values are 64-bit */

	/* the XDP transport's paths are not TCP sockets */
	if (!e->bpf_path || fd < 0 || e->tp != &rdsb_tcp_transport)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    bpf_map_update_elem(e->rxpath_fd, &cookie, &rp, BPF_ANY)) {
		pr_info("rds-bpf: path %u stays on the userspace path: %s\n", p->index, strerror(errno));
		return;
	}
	if (bpf_map_update_elem(e->pathsk_fd, &cookie, &sockfd, BPF_NOEXIST)) {
		pr_info("rds-bpf: path %u stays on the userspace path: sockmap: %s\n", p->index,
			strerror(errno));
		bpf_map_delete_elem(e->rxpath_fd, &cookie);
		return;
	}
	p->bpf_cookie = cookie;
	/* What arrived before the socket joined the map waits for the next
	 * data_ready; setting SO_RCVLOWAT calls it now (tcp_set_rcvlowat). */
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
}

/* The engine's copy of the receive state <-> the verdict's. */
void rdsb_bpf_path_sync(struct rdsb_engine *e, struct rdsb_path *p, bool to_bpf)
{
	struct rdsb_rxpath rp;

	if (!p->bpf_cookie || bpf_map_lookup_elem(e->rxpath_fd, &p->bpf_cookie, &rp))
		return;
	if (to_bpf) {
		rp.next_rx_seq = p->next_rx_seq;
		bpf_map_update_elem(e->rxpath_fd, &p->bpf_cookie, &rp, BPF_EXIST);
		return;
	}
	p->next_rx_seq = rp.next_rx_seq;
	p->rx_msgs = rp.rx_msgs;
	p->rx_bytes = rp.rx_bytes;
}

/* Once the socket is drained: it leaves the map when it is closed. */
void rdsb_bpf_path_del(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (!p->bpf_cookie)
		return;
	rdsb_bpf_path_sync(e, p, false);
	bpf_map_delete_elem(e->pathsk_fd, &p->bpf_cookie);
	bpf_map_delete_elem(e->rxpath_fd, &p->bpf_cookie);
	p->bpf_cookie = 0;
}

void rdsb_bpf_sock_open(struct rdsb_engine *e, struct rdsb_sock *s)
{
	static uint32_t next;
	uint64_t sockfd = (uint64_t)s->app_fd;

	s->idx = -1;
	if (!e->bpf_path)
		return;
	for (uint32_t i = 0; i < RDSB_MAX_SOCKS; i++) {
		uint32_t idx = (next + i) % RDSB_MAX_SOCKS;

		if (e->sock_at[idx])
			continue;
		if (bpf_map_update_elem(e->socks_fd, &idx, &sockfd, BPF_ANY)) {
			pr_info("rds-bpf: socket %u: delivery on the userspace path: sockmap: %s\n", s->id,
				strerror(errno));
			return;
		}
		next = idx + 1;
		s->idx = (int)idx;
		e->sock_at[idx] = s;
		memset(&e->rcvq[idx], 0, sizeof(e->rcvq[idx]));
		e->rcvq[idx].sock_id = s->id;
		return;
	}
}

void rdsb_bpf_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_sock_key k = { .slot = (uint32_t)s->slot, .port = s->port };
	uint32_t idx = (uint32_t)s->idx;

	if (s->idx < 0)
		return;
	rdsb_bpf_sock_arm(e, s, s->rcvbuf);
	bpf_map_update_elem(e->bound_fd, &k, &idx, BPF_ANY);
}

void rdsb_bpf_sock_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_sock_key k = { .slot = (uint32_t)s->slot, .port = s->port };
	uint32_t idx = (uint32_t)s->idx;

	if (s->idx < 0)
		return;
	if (s->bound)
		bpf_map_delete_elem(e->bound_fd, &k);
	bpf_map_delete_elem(e->socks_fd, &idx);
	__atomic_store_n(&e->rcvq[idx].armed, 0, __ATOMIC_RELEASE);
	e->sock_at[idx] = NULL;
	s->idx = -1;
}

uint64_t rdsb_bpf_sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s)
{
	return s->idx < 0 ? 0 : __atomic_load_n(&e->rcvq[s->idx].delivered, __ATOMIC_ACQUIRE);
}

/* Raise an event once BPF delivers room more bytes (0: none, while the
 * socket is congested and the timer watches it drain). */
void rdsb_bpf_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room)
{
	struct rdsb_rcvq *q;

	if (s->idx < 0)
		return;
	q = &e->rcvq[s->idx];
	__atomic_store_n(&q->armed, 0, __ATOMIC_RELEASE);
	if (!room)
		return;
	__atomic_store_n(&q->limit, __atomic_load_n(&q->delivered, __ATOMIC_ACQUIRE) + room, __ATOMIC_RELEASE);
	__atomic_store_n(&q->armed, 1, __ATOMIC_RELEASE);
}
