// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The RDS/TCP transport (net/rds/tcp*.c): the listener on 16385, the
 * active/passive rule (the smaller address connects), the receiver's path
 * mapping of accepted sockets, the 2026 client port encoding
 * (sport % 8 == path), socket tuning, and "acked" from snd_una.
 */
#include <errno.h>
#include <linux/rds.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tcp.h"
#include "../../user/common/addr.h"
#include "../../user/common/log.h"

static void tune(int fd)
{
	/* rds_tcp_tune + rds_tcp_keepalive */
	int one = 1, five = 5;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &five, sizeof(five));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &five, sizeof(five));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &five, sizeof(five));
}

static void port_range(struct rdsb_tcp *t)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned int lo = 32768, hi = 60999;

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2) {
			lo = 32768;
			hi = 60999;
		}
		fclose(f);
	}
	t->port_low = (uint16_t)((lo + 7) & ~7u);
	t->port_high = (uint16_t)hi;
}

static int tcp_listen_socket(struct rdsb_engine *e)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(RDS_TCP_PORT),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(RDS_TCP_PORT) };
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	port_range(tcp_of(e));
	if (fd >= 0) {
		/* dual stack, as rds_tcp_listen_init; IPv4 only if that fails */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	tune(fd);
	tcp_sockops_mark(e, fd);	/* what it accepts is marked too */
	if (listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	tcp_of(e)->listen.kind = EV_TRANSPORT;
	tcp_of(e)->listen.fd = fd;
	return rdsb_ev_set(e, &tcp_of(e)->listen, EPOLLIN) < 0 ? -errno : 0;
}

static int tcp_listen_warn(struct rdsb_engine *e)
{
	int err = tcp_listen_socket(e);

	if (err)
		pr_warn("rds-bpf: cannot listen on TCP port %d: %s (is kernel RDS/TCP or another engine using it?)\n",
			RDS_TCP_PORT, strerror(-err));
	return err;
}

static void rdsb_tcp_close(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	(void)e;
	if (p->ev.fd < 0)
		return;
	if (reset) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(p->ev.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(p->ev.fd);
	p->ev.fd = -1;
	p->ev.events = 0;
}

static void reject(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* rds_tcp_accept_one_path: which path an accepted socket becomes. */
static struct rdsb_path *accept_slot(struct rdsb_conn *c, uint16_t fport)
{
	unsigned int n = c->npaths ? c->npaths : 1;
	unsigned int named = fport % RDS_MPATH_WORKERS;

	/* busy, it is replaced: the peer reconnected that lane before we
	 * saw the old socket die. One that names a path above the count is
	 * that path: the peer drains there what it must send again with
	 * that path's numbers (conn.c, strand); taken as fport % n, it
	 * would be checked against another path's next_rx_seq */
	if (c->peer_sport_idx)
		return &c->paths[c->npaths && named >= n ? named : fport % n];
	for (unsigned int i = 0; i < n; i++)
		if (c->paths[i].ev.fd < 0)
			return &c->paths[i];
	/* every slot busy: with one path (the peer's count, not unknown or
	 * guessed) the peer reconnected before we saw the old socket die, so
	 * the new one replaces it. With one path only guessed (our probe not
	 * answered yet: a slow peer's pong waits behind its data on path 0) a
	 * lane is the peer's next path: it waits for the pong's count. Were
	 * it to replace path 0, the peer would reconnect its lane, and path 0
	 * went down for each of them (160 times in one run against 6.1). */
	return c->npaths == 1 && !c->npaths_guessed ? &c->paths[0] : NULL;
}

/* What a larger address's connect asks for: path 0, or a path above the
 * count that it named, where it holds retransmissions (conn.c, strand),
 * when it pairs our lane by that name too. */
static struct rdsb_path *poked_path(struct rdsb_conn *c, uint16_t fport)
{
	unsigned int named = fport % RDS_MPATH_WORKERS;

	if (c->peer_lanes_named && c->npaths && named >= c->npaths)
		return &c->paths[named];
	return &c->paths[0];
}

/* An accepted socket becomes p, which has no socket. */
static void place(struct rdsb_engine *e, struct rdsb_path *p, int fd, uint16_t lport, uint16_t fport)
{
	p->ev.fd = fd;
	p->ev.events = 0;
	p->outgoing = false;
	p->poke = false;
	p->lport = lport;
	p->fport = fport;
	rdsb_path_up(e, p);
}

/*
 * Accepted sockets without a free path yet: a lane that arrives before the
 * handshake gave the path count (on the BPF path the probe is still in the
 * inbox), or a lane the peer reconnected before we saw its old socket die.
 * The peer may have sent on it already and TCP acknowledged those bytes,
 * which the peer then forgets (acked = snd_una): a reset would lose
 * messages. So it waits for a path, as rds_tcp_accept_one keeps
 * rds_tcp_accepted_sock (2026); only when too many wait from its peer
 * address (or from all peers) is one reset.
 */
/* Parked sockets the peer has reset or closed both ways, with nothing left
 * to read, have no one to wait for: a peer that opens lanes and never
 * probes cannot pin them all. */
static void sweep_parked(struct rdsb_tcp *t)
{
	for (unsigned int i = 0; i < t->nparked;) {
		struct pollfd pf = { .fd = t->parked[i].fd, .events = POLLIN };
		int unread = 0;

		if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLERR | POLLHUP)) &&
		    ioctl(t->parked[i].fd, FIONREAD, &unread) == 0 && unread == 0) {
			close(t->parked[i].fd);
			t->parked[i] = t->parked[--t->nparked];
		} else {
			i++;
		}
	}
}

/* The connection's path count was decided or one of its paths went down.
 * A parked lane whose path still has a socket replaces it: the peer
 * reconnected that lane before we saw the old socket die. The old one is
 * shut down after the event batch, which calls us again: the lane is
 * placed then, in a path with no socket left to close. */
static void rdsb_tcp_paths_changed(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_tcp *t = tcp_of(e);

	sweep_parked(t);
	for (unsigned int i = 0; i < t->nparked;) {
		struct tcp_parked k = t->parked[i];
		struct rdsb_path *p;

		if (k.c != c || !(p = accept_slot(c, k.fport))) {
			i++;
			continue;
		}
		if (p->ev.fd >= 0) {
			rdsb_path_drop(e, p, "replaced by a new connection from the peer");
			i++;
			continue;
		}
		t->parked[i] = t->parked[--t->nparked];
		place(e, p, k.fd, k.lport, k.fport);
	}
}

static unsigned int parked_from(const struct rdsb_tcp *t, const uint8_t faddr[16])
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->nparked; i++)
		n += !memcmp(t->parked[i].c->faddr, faddr, 16);
	return n;
}

static bool park(struct rdsb_engine *e, struct rdsb_conn *c, int fd, uint16_t lport, uint16_t fport)
{
	struct rdsb_tcp *t = tcp_of(e);

	if (t->nparked == TCP_MAX_PARKED || parked_from(t, c->faddr) == TCP_MAX_PARKED_PEER)
		sweep_parked(t);
	if (t->nparked == TCP_MAX_PARKED || parked_from(t, c->faddr) == TCP_MAX_PARKED_PEER) {
		rdsb_count(e, RDSB_C_ACCEPT_RESET_NO_PATH);
		reject(fd);
		return false;
	}
	rdsb_count(e, RDSB_C_ACCEPT_PARKED);
	t->parked[t->nparked++] = (struct tcp_parked){ .c = c, .fd = fd, .lport = lport, .fport = fport };
	return true;
}

static void tcp_accept(struct rdsb_engine *e, struct rdsb_ev *lev)
{
	for (;;) {
		struct sockaddr_storage ls, fs;
		socklen_t llen = sizeof(ls), flen = sizeof(fs);
		uint8_t laddr[16], faddr[16];
		uint16_t lport, fport;
		uint32_t lscope, fscope;
		struct rdsb_conn *c;
		struct rdsb_path *p;
		int fd = accept4(lev->fd, (struct sockaddr *)&fs, &flen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (getsockname(fd, (struct sockaddr *)&ls, &llen) < 0 ||
		    rdsb_addr_from_sa((struct sockaddr *)&ls, llen, laddr, &lport, &lscope) < 0 ||
		    rdsb_addr_from_sa((struct sockaddr *)&fs, flen, faddr, &fport, &fscope) < 0) {
			close(fd);
			continue;
		}
		if (!memcmp(laddr, faddr, 16) || rdsb_addr_is_local(faddr, fscope)) {
			/* "local address connection is only allowed via loopback" */
			rdsb_count(e, RDSB_C_DROP_LOCAL_PEER);
			reject(fd);
			continue;
		}
		c = rdsb_conn_get(e, laddr, faddr, lscope, true);
		if (!c) {
			reject(fd);
			continue;
		}
		if (rdsb_addr_cmp(faddr, laddr) > 0) {
			/* The larger address does not connect: reset it and
			 * connect the path it poked ourselves; that was its
			 * purpose. */
			rdsb_count(e, RDSB_C_ACCEPT_RESET_LARGER);
			reject(fd);
			p = poked_path(c, fport);
			if (p->ev.fd < 0) {
				p->reconnect_delay = 0;
				p->reconnect_at = 0;
				rdsb_path_connect(e, p);
			}
			continue;
		}
		tune(fd);
		p = accept_slot(c, fport);
		if (p && p->ev.fd < 0) {
			place(e, p, fd, lport, fport);
			continue;
		}
		if (park(e, c, fd, lport, fport) && p)	/* it replaces p once p's socket is shut down */
			rdsb_path_drop(e, p, "replaced by a new connection from the peer");
	}
}

/* Bind a client port with port % 8 == path (tcp_connect.c, 2026), trying
 * successive groups of 8 from a rotating start. */
static int bind_client_port(struct rdsb_engine *e, int fd, struct rdsb_path *p)
{
	struct sockaddr_storage ss;
	struct rdsb_tcp *t = tcp_of(e);
	unsigned int groups = (unsigned int)(t->port_high - t->port_low + 1) / 8;
	socklen_t len;

	for (unsigned int g = 0; groups && g < groups && g < 64; g++) {
		unsigned int grp = (t->port_group++) % groups;
		uint16_t port = (uint16_t)(t->port_low + grp * 8 + p->index);

		len = rdsb_addr_to_sa(p->conn->laddr, port, p->conn->scope_id, false, &ss);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -1;
	}
	len = rdsb_addr_to_sa(p->conn->laddr, 0, p->conn->scope_id, false, &ss);
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int rdsb_tcp_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	struct sockaddr_storage ss;
	socklen_t len = rdsb_addr_to_sa(c->faddr, RDS_TCP_PORT, c->scope_id, false, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	tune(fd);
	tcp_sockops_mark(e, fd);
	if (bind_client_port(e, fd, p) < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	rdsb_path_connecting(e, p, fd, EPOLLOUT);
	p->poke = rdsb_addr_cmp(c->laddr, c->faddr) > 0;
	return 0;
}

static void rdsb_tcp_connected(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), elen = sizeof(int);
	uint32_t scope;
	uint8_t a[16];
	int err = 0;

	getsockopt(p->ev.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err) {
		rdsb_path_drop(e, p, strerror(err));
		return;
	}
	if (p->poke) {
		/* rds_tcp_state_change: an outgoing socket of the larger
		 * address is dropped; the peer connects back to us. */
		rdsb_path_drop(e, p, "larger address: waiting for the peer to connect");
		return;
	}
	if (getsockname(p->ev.fd, (struct sockaddr *)&ss, &len) == 0)
		rdsb_addr_from_sa((struct sockaddr *)&ss, len, a, &p->lport, &scope);
	p->fport = RDS_TCP_PORT;
	rdsb_path_up(e, p);
}

#define ACK_POLL_NS (250 * 1000ull)
/* With the sock_ops program an ack wakes the engine (RDSB_EV_ACKED); the
 * poll stays for an ack without an RTT sample, which raises no event. */
#define ACK_BACKSTOP_NS (10 * 1000 * 1000ull)

/* How long the program's count is trusted while it is behind what was
 * written. It misses acks without an RTT sample, and on veth the ack of a
 * burst's last bytes often brings none: the count then stays behind until
 * the next burst. While someone waits for p's acks (a sender short of send
 * space, or senders held on its connection) SIOCOUTQ is asked after
 * ACK_POLL_NS, doubled for each ask that found nothing new (a peer that
 * stopped acknowledging costs no busy poll), up to the backstop: with the
 * backstop's 10 ms alone, a 1 MiB ping-pong waited up to 10 ms per round
 * trip (p50 12.5 ms against 3 ms on the BPF path). */
static uint64_t ack_backstop(const struct rdsb_path *p)
{
	uint64_t ns = ACK_POLL_NS << (tcp_path(p)->ack_polls_idle < 6 ? tcp_path(p)->ack_polls_idle : 6);

	return (p->ack_wake || p->conn->tx_waiters) && ns < ACK_BACKSTOP_NS ? ns : ACK_BACKSTOP_NS;
}

/* The acknowledged count without a system call: the sock_ops program's, on
 * a path that is up. It misses an ack without an RTT sample, so while bytes
 * are outstanding SIOCOUTQ is still asked once per ack_backstop, the ack
 * poll's period; a path going down asks it. */
static bool acked_from_sockops(struct rdsb_engine *e, struct rdsb_path *p, uint64_t *acked)
{
	struct rdsb_tcp_path *tp = tcp_path(p);

	if (p->state != RDSB_PATH_UP || !tcp_sockops_acked_off(e, p, acked))
		return false;
	/* acks only grow: what the last SIOCOUTQ found stands against a
	 * count that missed the ack it saw */
	if (*acked < tp->ack_polled)
		*acked = tp->ack_polled;
	if (*acked >= tp->written) {
		*acked = tp->written;	/* as SIOCOUTQ would: never past written */
		tp->ack_poll_at = 0;
		return true;
	}
	if (!tp->ack_poll_at)
		tp->ack_poll_at = e->now + ack_backstop(p);
	return e->now < tp->ack_poll_at;
}

/* SIOCOUTQ = write_seq - snd_una (what is written and not yet acked), the
 * stream's position read before it (tcp_skmsg_sync_written): a write in
 * between by an application only makes the acknowledged count smaller. */
static uint64_t outq_acked(const struct rdsb_path *p)
{
	int outq = 0;

	if (p->ev.fd < 0 || ioctl(p->ev.fd, SIOCOUTQ, &outq) < 0)
		return 0;
	/* a count from before applications wrote more than it: none known */
	return tcp_path(p)->written > (uint64_t)outq ? tcp_path(p)->written - (uint64_t)outq : 0;
}

uint64_t tcp_path_acked_now(struct rdsb_engine *e, struct rdsb_path *p)
{
	tcp_skmsg_sync_written(e, p);
	return outq_acked(p);
}

static uint64_t rdsb_tcp_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	uint64_t acked;

	tcp_skmsg_sync_written(e, p);
	if (acked_from_sockops(e, p, &acked)) {
		tcp_skmsg_acked(e, p, acked);
		return acked;
	}
	tcp_path(p)->ack_poll_at = 0;
	acked = outq_acked(p);
	tcp_path(p)->ack_polls_idle = acked == tcp_path(p)->ack_polled ? tcp_path(p)->ack_polls_idle + 1 : 0;
	tcp_path(p)->ack_polled = acked;
	tcp_skmsg_acked(e, p, acked);
	return acked;
}


/* rds-bpf features: the sockmap receive programs, and with SENDS the
 * sk_msg one, each loaded as load would. */
static int tcp_probe_bpf(bool sends, const char **how, const char **hint)
{
	int err = tcp_sockmap_probe(how, hint);

	return err || !sends ? err : tcp_skmsg_probe(how, hint);
}

/* ------------------------------------------------------------- the ops */

/* How soon the engine tries again to write on a path whose lock an
 * application holds: soon for datagrams, later for a delivery
 * acknowledgement alone, which waits for no one (a retry each 100 us made
 * the engine wake 2000 times a second under a request/response load) */
#define TX_RETRY_NS (100 * 1000ull)
#define TX_RETRY_ACK_NS (1000 * 1000ull)

static uint64_t tx_retry_ns(const struct rdsb_path *p)
{
	return list_is_singular(&p->send_q) && list_first_entry(&p->send_q, struct rdsb_msg, item)->deliv_ack
		       ? TX_RETRY_ACK_NS
		       : TX_RETRY_NS;
}

static const struct rdsb_transport_opt tcp_opts[] = {
	{ "bpf", NULL },	/* the sockmap receive path, or stop */
	{ "no-bpf", NULL },	/* the userspace path */
	{ "sk-msg", NULL },	/* and the sk_msg send path, or stop */
	{ "no-sk-msg", NULL },	/* sends through the engine alone */
	{ NULL, NULL },
};

/* 1: --sk-msg, 2: --no-sk-msg (the last of them), 0: neither */
static int sk_msg_opt(const struct rdsb_engine_cfg *cfg)
{
	return rdsb_cfg_last(cfg, "sk-msg", "no-sk-msg");
}

/* The sockmap receive path with sk_msg sends is the default; --bpf and
 * --sk-msg ask for them, and load stops without them rather than run
 * another path unasked */
static bool sockmap_off(const struct rdsb_engine_cfg *cfg)
{
	return rdsb_cfg_last(cfg, "bpf", "no-bpf") == 2;
}

static bool sockmap_asked(const struct rdsb_engine_cfg *cfg)
{
	return rdsb_cfg_last(cfg, "bpf", "no-bpf") == 1 || sk_msg_opt(cfg) == 1;
}

static int tcp_check_opts(const struct rdsb_engine_cfg *cfg)
{
	if (sk_msg_opt(cfg) == 1 && sockmap_off(cfg)) {
		fprintf(stderr, "rds-bpf load: --sk-msg needs the sockmap data path, not --no-bpf\n");
		return -EINVAL;
	}
	return 0;
}

static int tcp_init(struct rdsb_engine *e, const struct rdsb_engine_cfg *cfg)
{
	struct rdsb_tcp *t = calloc(1, sizeof(*t));
	bool asked = sockmap_asked(cfg);

	if (!t)
		return -ENOMEM;
	t->listen.fd = t->events_ev.fd = t->inbox_ev.fd = t->copies_ev.fd = t->inbox_peer = t->tx_listen = t->txlock_fd = -1;
	t->out_ev.fd = t->out_peer = -1;
	e->tp_priv = t;
	/* Delivery acknowledgements (docs/protocol.md 1.4): we read the
	 * peer's, and send ours (on the sockmap receive path the verdict
	 * moves the sequence state they are read from as it delivers) */
	e->deliv = RDSB_DELIV_READS_ACKS | RDSB_DELIV_SENDS_ACKS;
	/* and a lane above our path count takes the path it names (accept_slot) */
	e->deliv |= RDSB_DELIV_LANES_NAMED;
	if (!e->use_bpf) {
		if (!asked)
			return 0;	/* no BPF maps, so no BPF features: it said why */
		pr_warn("rds-bpf: no BPF maps, so no sockmap data path: load --bpf stops\n");
		return -EOPNOTSUPP;
	}
	if (!sockmap_off(cfg) && tcp_sockmap_init(e, asked)) {
		if (asked)
			return -EOPNOTSUPP;
		tcp_sockmap_fall_back(e);
	} else if (!sockmap_off(cfg) && sk_msg_opt(cfg) != 2) {
		/* sends out of the engine: without them, through it */
		if (!tcp_skmsg_init(e, sk_msg_opt(cfg) == 1))
			e->number_at_xmit = true;
		else if (sk_msg_opt(cfg) == 1)
			return -EOPNOTSUPP;
	}
	tcp_sockops_init(e);
	return 0;
}

static void tcp_exit(struct rdsb_engine *e)
{
	struct rdsb_tcp *t = tcp_of(e);

	while (t->nparked)
		close(t->parked[--t->nparked].fd);
	if (t->listen.fd >= 0) {
		rdsb_ev_del(e, &t->listen);
		close(t->listen.fd);
	}
	tcp_skmsg_exit(e);
	tcp_sockmap_exit(e);
	tcp_sockops_exit(e);
	tcp_events_exit(e);
	free(t);
	e->tp_priv = NULL;
}

static void tcp_event(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	struct rdsb_tcp *t = tcp_of(e);

	(void)events;
	if (ev == &t->listen)
		tcp_accept(e, ev);
	else if (ev == &t->events_ev)
		tcp_events_read(e);
	else if (ev == &t->inbox_ev)
		tcp_sockmap_inbox_read(e);
	else if (ev == &t->out_ev)
		tcp_sockmap_outbox_ready(e);
	else if (ev == &t->copies_ev)
		tcp_skmsg_drain(e);
}

/* Sockets whose hand-over gate may open now; events the ring lost; paths
 * an application's half-written record broke, and paths whose lock an
 * application held, or whose copies were not read yet, when the engine
 * wanted to write. */
static void tcp_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_conn *c;

	tcp_sockmap_gates_open(e);	/* a socket's queue in the engine emptied */
	tcp_sockmap_rebind_sync(e);
	tcp_events_lost_check(e, next);
	if (!tcp_of(e)->txpath)
		return;
	tcp_skmsg_read_copies(e, next);
	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];

			if (!p->t_data)
				continue;
			if (tcp_skmsg_broken(e, p))
				rdsb_path_drop(e, p, "an application's record was cut short");
			if (tcp_path(p)->tx_busy) {
				uint64_t retry;

				rdsb_path_xmit(e, p);
				retry = e->now + tx_retry_ns(p);
				if (tcp_path(p)->tx_busy && retry < *next)
					*next = retry;
			}
		}
}

static int tcp_conn_alloc(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_tcp_path *tp = calloc(RDS_MPATH_WORKERS, sizeof(*tp));

	(void)e;
	if (!tp)
		return -ENOMEM;
	c->t_data = tp;
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		tp[i].path = &c->paths[i];
		tp[i].tcp_index = tp[i].rxack = -1;
		c->paths[i].t_data = &tp[i];
	}
	return 0;
}

static void tcp_conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_tcp *t = tcp_of(e);

	/* lanes parked for it go with it */
	for (unsigned int i = 0; i < t->nparked;)
		if (t->parked[i].c == c) {
			close(t->parked[i].fd);
			t->parked[i] = t->parked[--t->nparked];
		} else {
			i++;
		}
	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		tcp_reader_free(&tcp_path(&c->paths[i])->rx);
		c->paths[i].t_data = NULL;
	}
	free(c->t_data);
	c->t_data = NULL;
}

static void tcp_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	tcp_sockmap_path_add(e, p);
	tcp_sockops_path_up(e, p);
	if (tcp_path(p)->cookie)
		pr_info("rds-bpf: path %u on the BPF receive path\n", p->index);
}

static void tcp_path_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	tcp_skmsg_path_down(e, p);
}

static void tcp_path_shutdown(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	tcp_sockmap_path_del(e, p);
	tcp_sockops_path_down(e, p);
	rdsb_tcp_close(e, p, reset);
	tcp_reader_reset(&tcp_path(p)->rx);
	tcp_path(p)->written = 0;
	tcp_path(p)->ack_polled = 0;
	tcp_path(p)->ack_polls_idle = 0;
}

static void tcp_seq_reset(struct rdsb_engine *e, struct rdsb_path *p)
{
	tcp_skmsg_seq_reset(e, p);
	tcp_sockmap_path_sync(e, p, true);
}

static void tcp_path_sync(struct rdsb_engine *e, struct rdsb_path *p)
{
	tcp_sockmap_path_sync(e, p, false);
}

static uint64_t tcp_ack_poll(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	return tcp_path(p)->tcp_index >= 0 ? ack_backstop(p) : ACK_POLL_NS;
}

static int tcp_sock_open(struct rdsb_engine *e, struct rdsb_sock *s, int fds[3])
{
	struct rdsb_tcp_sock *ts = calloc(1, sizeof(*ts));
	int tx;

	if (!ts)
		return -ENOMEM;
	ts->idx = ts->tx_peer = -1;
	s->t_data = ts;
	tcp_sockmap_sock_open(e, s);
	tx = tcp_skmsg_sock_open(e, s);
	if (tx < 0)
		return 0;
	fds[0] = tx;
	fds[1] = dup(tcp_of(e)->txpath_fd);
	fds[2] = dup(tcp_of(e)->txlock_fd);
	if (fds[1] < 0 || fds[2] < 0) {
		close(tx);
		if (fds[1] >= 0)
			close(fds[1]);
		if (fds[2] >= 0)
			close(fds[2]);
		return 0;
	}
	return 3;
}

static void tcp_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s)
{
	tcp_sockmap_sock_bind(e, s);
	tcp_skmsg_sock_bind(e, s);
}

static void tcp_sock_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (!s->t_data)
		return;
	tcp_skmsg_sock_close(e, s);
	tcp_sockmap_sock_close(e, s);
	free(s->t_data);
	s->t_data = NULL;
}

static void tcp_status(struct rdsb_engine *e, struct rdsb_tp_status *st)
{
	struct rdsb_tcp *t = tcp_of(e);

	st->data_path = t->sockmap_obj ? "bpf" : "userspace";
	st->ack_cgroup = t->tcppath ? t->cgroup : "";
}

const struct rdsb_transport rdsb_tcp_transport = {
	.name = "tcp",
	.trans_id = RDS_TRANS_TCP,
	.opts = tcp_opts,
	.check_opts = tcp_check_opts,
	.init = tcp_init,
	.listen = tcp_listen_warn,
	.exit = tcp_exit,
	.event = tcp_event,
	.timer = tcp_timer,
	.conn_alloc = tcp_conn_alloc,
	.conn_free = tcp_conn_free,
	.conn_path_connect = rdsb_tcp_connect,
	.conn_path_connected = rdsb_tcp_connected,
	.conn_path_up = tcp_path_up,
	.conn_path_down = tcp_path_down,
	.conn_path_shutdown = tcp_path_shutdown,
	.conn_paths_changed = rdsb_tcp_paths_changed,
	.conn_paths_moving = tcp_skmsg_conn_moving,
	.conn_path_seq_reset = tcp_seq_reset,
	.conn_path_sync = tcp_path_sync,
	.recv_path = tcp_stream_recv,
	.xmit_path_prepare = tcp_stream_xmit_prepare,
	.xmit = tcp_stream_xmit,
	.xmit_path_complete = tcp_stream_xmit_complete,
	.acked = rdsb_tcp_acked,
	.ack_wait = tcp_sockops_ack_wait,
	.ack_poll_ns = tcp_ack_poll,
	.sock_open = tcp_sock_open,
	.sock_bind = tcp_sock_bind,
	.sock_close = tcp_sock_close,
	.rx_taken = tcp_sockmap_rx_taken,
	.rx_ack_sent = tcp_sockmap_rx_ack_sent,
	.sock_delivered = tcp_sockmap_sock_delivered,
	.sock_arm = tcp_sockmap_sock_arm,
	.sock_out = tcp_sockmap_sock_out,
	.sock_out_wait = tcp_sockmap_sock_out_wait,
	.info = tcp_info,
	.probe_bpf = tcp_probe_bpf,
	.status = tcp_status,
};
