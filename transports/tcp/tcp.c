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
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../../user/engine/engine.h"
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

static void port_range(struct rdsb_engine *e)
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
	e->port_low = (uint16_t)((lo + 7) & ~7u);
	e->port_high = (uint16_t)hi;
}

static int tcp_listen(struct rdsb_engine *e)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(RDS_TCP_PORT),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(RDS_TCP_PORT) };
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	port_range(e);
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
	rdsb_sockops_mark(e, fd);	/* what it accepts is marked too */
	if (listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	e->listen6.kind = EV_LISTEN;
	e->listen6.fd = fd;
	return rdsb_ev_set(e, &e->listen6, EPOLLIN) < 0 ? -errno : 0;
}

static int rdsb_tcp_listen(struct rdsb_engine *e)
{
	int err = tcp_listen(e);

	if (err)
		pr_warn("rds-bpf: cannot listen on TCP port %d: %s (is kernel RDS/TCP or another engine using it?)\n",
			RDS_TCP_PORT, strerror(-err));
	return err;
}

bool rdsb_addr_is_local(const uint8_t addr[16], uint32_t scope)
{
	struct sockaddr_storage ss;
	socklen_t len = rdsb_addr_to_sa(addr, 0, scope, false, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return false;
	local = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return local;
}

static void rdsb_tcp_close(struct rdsb_path *p, bool reset)
{
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

	/* busy, it is replaced: the peer reconnected that lane before we
	 * saw the old socket die */
	if (c->peer_sport_idx)
		return &c->paths[fport % n];
	for (unsigned int i = 0; i < n; i++)
		if (c->paths[i].ev.fd < 0)
			return &c->paths[i];
	/* every slot busy: with one path (decided, not merely unknown) the
	 * peer reconnected before we saw the old socket die, so the new one
	 * replaces it */
	return c->npaths == 1 ? &c->paths[0] : NULL;
}

static void place(struct rdsb_engine *e, struct rdsb_path *p, int fd, uint16_t lport, uint16_t fport)
{
	if (p->ev.fd >= 0)
		rdsb_path_drop(e, p, "replaced by a new connection from the peer");
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
 * rds_tcp_accepted_sock (2026); only when too many wait is one reset.
 */
#define MAX_PARKED	(2 * RDS_MPATH_WORKERS)
static struct parked {
	struct rdsb_conn *c;
	int fd;
	uint16_t lport, fport;
} parked[MAX_PARKED];
static unsigned int nparked;

/* Parked sockets the peer has reset or closed both ways, with nothing left
 * to read, have no one to wait for: a peer that opens lanes and never
 * probes cannot pin them all. */
static void sweep_parked(void)
{
	for (unsigned int i = 0; i < nparked;) {
		struct pollfd pf = { .fd = parked[i].fd, .events = POLLIN };
		int unread = 0;

		if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLERR | POLLHUP)) &&
		    ioctl(parked[i].fd, FIONREAD, &unread) == 0 && unread == 0) {
			close(parked[i].fd);
			parked[i] = parked[--nparked];
		} else {
			i++;
		}
	}
}

/* The connection's path count was decided or one of its paths went down. */
static void rdsb_tcp_paths_changed(struct rdsb_engine *e, struct rdsb_conn *c)
{
	static bool busy;	/* placing one drops a path, which calls us */

	if (busy)
		return;
	busy = true;
	sweep_parked();
	for (unsigned int i = 0; i < nparked;) {
		struct parked k = parked[i];
		struct rdsb_path *p;

		if (k.c != c || !(p = accept_slot(c, k.fport))) {
			i++;
			continue;
		}
		parked[i] = parked[--nparked];
		place(e, p, k.fd, k.lport, k.fport);
	}
	busy = false;
}

static void park(struct rdsb_engine *e, struct rdsb_conn *c, int fd, uint16_t lport, uint16_t fport)
{
	if (nparked == MAX_PARKED)
		sweep_parked();
	if (nparked == MAX_PARKED) {
		rdsb_count(e, RDSB_C_ACCEPT_RESET_NO_PATH);
		reject(fd);
		return;
	}
	rdsb_count(e, RDSB_C_ACCEPT_PARKED);
	parked[nparked++] = (struct parked){ .c = c, .fd = fd, .lport = lport, .fport = fport };
}

static void rdsb_tcp_stop(struct rdsb_engine *e)
{
	(void)e;
	while (nparked)
		close(parked[--nparked].fd);
}

static void rdsb_tcp_accept(struct rdsb_engine *e, struct rdsb_ev *lev)
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
			 * connect path 0 ourselves; that was its purpose. */
			rdsb_count(e, RDSB_C_ACCEPT_RESET_LARGER);
			reject(fd);
			if (c->paths[0].ev.fd < 0) {
				c->paths[0].reconnect_delay = 0;
				c->paths[0].reconnect_at = 0;
				rdsb_path_connect(e, &c->paths[0]);
			}
			continue;
		}
		tune(fd);
		p = accept_slot(c, fport);
		if (p)
			place(e, p, fd, lport, fport);
		else
			park(e, c, fd, lport, fport);
	}
}

/* Bind a client port with port % 8 == path (tcp_connect.c, 2026), trying
 * successive groups of 8 from a rotating start. */
static int bind_client_port(struct rdsb_engine *e, int fd, struct rdsb_path *p)
{
	struct sockaddr_storage ss;
	unsigned int groups = (unsigned int)(e->port_high - e->port_low + 1) / 8;
	socklen_t len;

	for (unsigned int g = 0; groups && g < groups && g < 64; g++) {
		unsigned int grp = (e->port_group++) % groups;
		uint16_t port = (uint16_t)(e->port_low + grp * 8 + p->index);

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
	rdsb_sockops_mark(e, fd);
	if (bind_client_port(e, fd, p) < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	p->ev.fd = fd;
	p->ev.events = 0;
	p->state = RDSB_PATH_CONNECTING;
	p->outgoing = true;
	p->poke = rdsb_addr_cmp(c->laddr, c->faddr) > 0;
	rdsb_ev_set(e, &p->ev, EPOLLOUT);
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

static uint64_t rdsb_tcp_acked(struct rdsb_path *p)
{
	int outq = 0;

	/* SIOCOUTQ = write_seq - snd_una: what is written and not yet acked */
	if (p->ev.fd < 0 || ioctl(p->ev.fd, SIOCOUTQ, &outq) < 0)
		return 0;
	return p->written - (uint64_t)outq;
}

const struct rdsb_transport rdsb_tcp_transport = {
	.name = "tcp",
	.trans_id = RDS_TRANS_TCP,
	.listen = rdsb_tcp_listen,
	.accept = rdsb_tcp_accept,
	.connect = rdsb_tcp_connect,
	.connected = rdsb_tcp_connected,
	.acked = rdsb_tcp_acked,
	.close = rdsb_tcp_close,
	.paths_changed = rdsb_tcp_paths_changed,
	.stop = rdsb_tcp_stop,
};
