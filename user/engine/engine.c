// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The engine's event loop: epoll over listeners, control connections,
 * application delivery streams and path sockets, with the timers of the
 * connection manager folded into the epoll timeout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"
#include "../common/ctl_proto.h"
#include "../common/log.h"

#define DRAIN_POLL_NS 10000000ull	/* while draining */
/* Draining, after the peers were told the ports are congested: what they
 * sent before it arrives within this (sends already queued, in flight) */
#define RX_QUIET_NS 200000000ull

const char *const rdsb_counter_names[RDSB_C_MAX] = {
#define RDSB_COUNTER_NAME(id, name) [RDSB_C_##id] = name,
	RDSB_COUNTERS(RDSB_COUNTER_NAME)
#undef RDSB_COUNTER_NAME
};

static volatile sig_atomic_t stop_signal;

uint64_t rdsb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rdsb_ev_set(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };
	int op;

	if (ev->fd < 0)
		return -1;
	if (ev->events == events && events)
		return 0;
	if (!events) {
		rdsb_ev_del(e, ev);
		return 0;
	}
	op = ev->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(e->epfd, op, ev->fd, &ee) < 0)
		return -1;
	ev->events = events;
	return 0;
}

void rdsb_ev_del(struct rdsb_engine *e, struct rdsb_ev *ev)
{
	if (ev->fd >= 0 && ev->events)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->events = 0;
}

struct ctl_client {
	struct list_head item;
	struct rdsb_ev ev;
	bool refused;		/* neither root nor of the group named at load */
};

static int ctl_listen(struct rdsb_engine *e)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(RDSB_CTL_NAME);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(sun.sun_path + 1, RDSB_CTL_NAME, strlen(RDSB_CTL_NAME));
	if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 128) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	e->ctl_listen.kind = EV_CTL_LISTEN;
	e->ctl_listen.fd = fd;
	return rdsb_ev_set(e, &e->ctl_listen, EPOLLIN);
}

static void ctl_accept(struct rdsb_engine *e)
{
	for (;;) {
		int fd = accept4(e->ctl_listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl_client *c;

		if (fd < 0)
			return;
		int buf = 2 * RDSB_CTL_MAX_REPLY;

		/* a reply (status, RDS_INFO) is one SEQPACKET message */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ev.kind = EV_CTL;
		c->ev.fd = fd;
		c->refused = !rdsb_ctl_peer_allowed(e, fd);
		list_add_tail(&c->item, &e->ctl_clients);
		rdsb_ev_set(e, &c->ev, EPOLLIN);
	}
}

static void ctl_client_free(struct rdsb_engine *e, struct ctl_client *c)
{
	rdsb_ev_del(e, &c->ev);
	close(c->ev.fd);
	list_del_init(&c->item);
	free(c);
}

/* A library of another build (RDSB_ABI): its socket is refused, and the
 * engine's log says why, once. */
static void refuse_abi(struct rdsb_engine *e, struct ctl_client *c, uint16_t abi)
{
	struct rdsb_ctl_rep rep = { .err = EPROTONOSUPPORT, .abi = RDSB_ABI };

	send(c->ev.fd, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
	ctl_client_free(e, c);
	if (!e->abi_warned++)
		pr_warn("rds-bpf: refused a socket of a library of another build (socket ABI %u, this engine's %u); "
			"hint: run applications with the librdsb of this rds-bpf\n", abi, RDSB_ABI);
}

/* A control connection that is not (yet) a socket: OPEN turns it into one,
 * STATUS and UNLOAD serve the CLI. */
static void ctl_client_event(struct rdsb_engine *e, struct ctl_client *c)
{
	struct rdsb_ctl_req req;
	ssize_t n = recv(c->ev.fd, &req, sizeof(req), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != sizeof(req)) {
		ctl_client_free(e, c);
		return;
	}
	if (c->refused) {
		struct rdsb_ctl_rep rep = { .err = EPERM, .abi = RDSB_ABI };

		send(c->ev.fd, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
		ctl_client_free(e, c);
		return;
	}
	if (e->draining && (req.op == RDSB_CTL_ATTACH || req.op == RDSB_CTL_OPEN)) {
		ctl_client_free(e, c);	/* the library waits for the next engine */
		return;
	}
	if ((req.op == RDSB_CTL_ATTACH || req.op == RDSB_CTL_OPEN) && req.abi != RDSB_ABI) {
		refuse_abi(e, c, req.abi);
		return;
	}
	if (req.op == RDSB_CTL_ATTACH) {
		rdsb_ev_del(e, &c->ev);
		if (!rdsb_sock_attach(e, c->ev.fd, &req)) {
			rdsb_ev_set(e, &c->ev, EPOLLIN);
			return;
		}
		list_del_init(&c->item);
		free(c);
		return;
	}
	if (req.op == RDSB_CTL_OPEN) {
		int fd = c->ev.fd;

		rdsb_ev_del(e, &c->ev);
		c->ev.fd = -1;
		list_del_init(&c->item);
		free(c);
		rdsb_sock_open(e, fd);
		return;
	}
	rdsb_ctl_handle(e, NULL, c->ev.fd, &req);
}

static void on_signal(int sig)
{
	(void)sig;
	stop_signal = stop_signal ? 2 : 1;	/* a second one: stop, drained or not */
}

/* Whether the next engine should hold datagrams for unbound ports: this one
 * has bound sockets, which will go to it, or holds ports for sockets of the
 * engine before (and what it held for them is in the held log). */
static void note_rebind(struct rdsb_engine *e)
{
	struct rdsb_sock *s;

	list_for_each_entry(s, &e->socks, item)
		if (s->bound && !s->closed)
			e->rebind_next = true;
	if (!list_empty(&e->port_holds))
		e->rebind_next = true;
}

/* Unload (or SIGTERM) drains, bounded by RDSB_DRAIN_MS: applications take
 * their sockets to the next engine, and this one stays while what they
 * wrote to it is read and sent and not yet acknowledged by the peers, or
 * what the peers sent is not yet written into the applications' streams.
 * Its ports are marked congested first, so that the peers' senders wait
 * for the next engine's map: what their TCP acknowledges to this one must
 * be read before it goes, and a drain that runs into its limit (a peer
 * unreachable, a slow reader) must not have let them send on meanwhile. */
static void drain_start(struct rdsb_engine *e)
{
	note_rebind(e);
	e->draining = true;
	e->drain_until = e->now + RDSB_DRAIN_MS * 1000000ull;
	e->rx_wait = rdsb_socks_close_rx(e);
	rdsb_socks_drain_start(e);
}

static bool drained(struct rdsb_engine *e)
{
	uint64_t c[RDSB_C_MAX];

	if (e->now >= e->drain_until) {
		pr_warn("rds-bpf: unload: not drained after %u ms: stopping anyway\n", RDSB_DRAIN_MS);
		return true;
	}
	/* the map that congests the ports is acknowledged too */
	if (!rdsb_socks_drained(e) || !rdsb_conns_drained(e))
		return false;
	rdsb_counters_read(e, c);
	if (c[RDSB_C_RX_MSGS] != e->rx_seen || !e->rx_quiet_at) {
		e->rx_seen = c[RDSB_C_RX_MSGS];
		e->rx_quiet_at = e->now + RX_QUIET_NS;
	}
	if (e->rx_wait && e->now < e->rx_quiet_at)
		return false;
	if (!e->streams_shut) {
		/* last: a request the library wrote before it saw the socket
		 * closing is read, sent and acknowledged before drained again */
		rdsb_socks_shut(e);
		return false;
	}
	return true;
}

static uint64_t timers(struct rdsb_engine *e)
{
	uint64_t next = e->now + 1000000000ull;

	rdsb_conns_timer(e, &next);
	e->tp->timer(e, &next);
	rdsb_socks_timer(e, &next);
	if (e->now >= e->paths_info_at) {
		rdsb_paths_info_update(e);
		rdsb_cong_peers_resync(e);
		e->paths_info_at = e->now + 100000000ull;
	}
	if (e->paths_info_at < next)
		next = e->paths_info_at;
	/* the rebind time is over: what no socket came back for is dropped,
	 * but for the ports still held (ports.c) */
	if (e->rebind_until && e->now >= e->rebind_until) {
		e->rebind_until = 0;
		rdsb_held_release(e, NULL);
		rdsb_conn_queue_cong_map(e, -1);	/* once more on every connection */
	} else if (e->rebind_until && e->rebind_until < next) {
		next = e->rebind_until;
	}
	rdsb_ports_timer(e, &next);
	return next;
}

static void dispatch(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	switch (ev->kind) {
	case EV_CTL_LISTEN:
		ctl_accept(e);
		break;
	case EV_CTL:
		if (ev->fd >= 0) {
			struct ctl_client *c = container_of(ev, struct ctl_client, ev);

			ctl_client_event(e, c);
		}
		break;
	case EV_SOCK_CTL:
		rdsb_sock_event(e, container_of(ev, struct rdsb_sock, ctl), ev, events);
		break;
	case EV_SOCK_DATA:
		rdsb_sock_event(e, container_of(ev, struct rdsb_sock, data), ev, events);
		break;
	case EV_TRANSPORT:
		e->tp->event(e, ev, events);
		break;
	case EV_SOCK_ATTACHED:
		rdsb_sock_attached_event(e, container_of(ev, struct rdsb_sock_ctl, ev));
		break;
	case EV_PATH: {
		struct rdsb_path *p = container_of(ev, struct rdsb_path, ev);

		if (p->drop_why)
			break;	/* marked: its shutdown reads what is left */
		if (p->state == RDSB_PATH_CONNECTING) {
			e->tp->conn_path_connected(e, p);
			break;
		}
		if (events & EPOLLIN)
			e->tp->recv_path(e, p);
		if (p->ev.fd >= 0 && (events & EPOLLOUT))
			rdsb_path_xmit(e, p);
		if (p->ev.fd >= 0 && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
			rdsb_path_drop(e, p, "socket error");
		break;
	}
	}
}

/* True if it set a timer the loop's timers have not seen */
static bool batch_end(struct rdsb_engine *e)
{
	bool armed;

	e->batching = false;
	rdsb_paths_xmit_due(e);
	while (!list_empty(&e->rx_due))
		rdsb_sock_flush(e, list_first_entry(&e->rx_due, struct rdsb_sock, rx_due));
	armed = rdsb_paths_ack_due(e);	/* what the flushes wrote */
	rdsb_socks_wake(e);
	return armed;
}

/* What the batch left for the top of the loop, where no call chain is inside
 * a path: paths whose socket made room read on, marked paths are shut down
 * (either may lead to the other), senders held on a connection with room
 * again are read, closed sockets are freed. True if there was a path to
 * resume or shut down, or a sender read: the timers look again (what it
 * sent is waited for, rdsb_path_check_acked, before the loop sleeps). */
static bool settle(struct rdsb_engine *e)
{
	bool any = false, more;

	do {
		/* deliveries written make room: paths resume; an acknowledgement
		 * due later is a timer to look at */
		any |= batch_end(e);
		e->batching = true;
		more = rdsb_paths_resume(e) || rdsb_paths_shutdown(e);
		any |= more;
	} while (more);
	if (e->tx_resume) {
		e->tx_resume = false;
		rdsb_socks_tx_resume(e);
		any = true;
	}
	batch_end(e);
	rdsb_socks_reap(e);
	return any;
}

/* Each application socket costs the engine 5 descriptors (its control
 * connection, both ends of its stream, its page, its send-space eventfd),
 * 6 with sk_msg sends (fds_short, sock.c): under a shell's soft limit of
 * 1024 the 196th socket failed. The engine takes what the hard limit
 * allows (a systemd unit sets it: LimitNOFILE), not more: that is the
 * administrator's bound. */
static void files_limit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		pr_warn("rds-bpf: cannot raise the open-files limit to %lu: %s; about %lu sockets fit\n",
			(unsigned long)rl.rlim_max, strerror(errno), (unsigned long)rl.rlim_cur / 5);
}

int rdsb_engine_run(const struct rdsb_engine_cfg *cfg, void (*on_ready)(void *), void *arg)
{
	struct rdsb_engine eng = { 0 }, *e = &eng;
	struct epoll_event evs[64];
	struct sigaction sa = { .sa_handler = on_signal };
	int err = 0;

	INIT_LIST_HEAD(&e->conns);
	INIT_LIST_HEAD(&e->socks);
	INIT_LIST_HEAD(&e->ctl_clients);
	INIT_LIST_HEAD(&e->dead_socks);
	INIT_LIST_HEAD(&e->dropped);
	INIT_LIST_HEAD(&e->rx_ready);
	INIT_LIST_HEAD(&e->held_stalled);
	INIT_LIST_HEAD(&e->held);
	INIT_LIST_HEAD(&e->port_holds);
	INIT_LIST_HEAD(&e->tx_held);
	INIT_LIST_HEAD(&e->rq_active);
	INIT_LIST_HEAD(&e->tx_due);
	INIT_LIST_HEAD(&e->rx_due);
	INIT_LIST_HEAD(&e->ack_due);
	INIT_LIST_HEAD(&e->wake_due);
	e->ctl_listen.fd = -1;
	e->max_paths = cfg->max_paths;
	e->ctl_gid = cfg->ctl_gid;
	rdsb_transport_fill(&e->tp_ops, cfg->tp);
	e->tp = &e->tp_ops;
	e->use_bpf = true;		/* maps in BPF when the kernel lets us */
	e->next_sock_id = 1;
	if (getrandom(&e->gen_num, sizeof(e->gen_num), 0) != sizeof(e->gen_num) ||
	    getrandom(&e->hash_initval, sizeof(e->hash_initval), 0) != sizeof(e->hash_initval))
		e->gen_num = (uint32_t)rdsb_now_ns();
	if (!e->gen_num)
		e->gen_num = 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	files_limit_raise();

	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0)
		return RDSB_ENGINE_SETUP_FAILED;
	if (ctl_listen(e) < 0) {
		if (errno == EADDRINUSE) {
			pr_warn("rds-bpf: an engine is already running in this network namespace\n");
			return RDSB_ENGINE_RUNNING;
		}
		pr_warn("rds-bpf: cannot create the control socket: %s\n", strerror(errno));
		return RDSB_ENGINE_SETUP_FAILED;
	}
	err = RDSB_ENGINE_SETUP_FAILED;
	if (rdsb_cong_init(e))
		goto out;
	rdsb_seqstate_init(e);	/* a restart goes on with the generation before */
	/* before the transport, whose BPF programs keep the same time; on a
	 * first start no socket can come back: an unbound port drops at once */
	if (e->restarted)
		e->rebind_until = rdsb_now_ns() + RDSB_REBIND_MS * 1000000ull;
	rdsb_heldlog_init(e);
	rdsb_ports_init(e);	/* and the ports its sockets had bound */
	rdsb_heldlog_load(e);	/* and what it held for them */
	if (e->tp->init(e, cfg) || e->tp->listen(e))
		goto out;
	err = RDSB_ENGINE_STOPPED;
	if (on_ready)
		on_ready(arg);
	{
		struct rdsb_tp_status st;

		e->tp->status(e, &st);
		pr_info("rds-bpf: engine ready (gen %08x, %u paths, %s data path%s, %s transport)\n",
			e->gen_num, e->max_paths, st.data_path, e->number_at_xmit ? " with sk_msg sends" : "",
			e->tp->name);
	}

	for (;;) {
		struct timespec ts;
		uint64_t next, wait;
		int n, i;

		e->now = rdsb_now_ns();
		if ((stop_signal || e->unload) && !e->draining)
			drain_start(e);
		if (e->draining && (stop_signal > 1 || drained(e)))
			break;
		next = timers(e);
		if (settle(e))
			continue;	/* a reconnect, an ack to wait for: timers */
		e->now = rdsb_now_ns();
		if (e->draining && next > e->now + DRAIN_POLL_NS)
			next = e->now + DRAIN_POLL_NS;	/* acks are polled (SIOCOUTQ) */
		wait = next > e->now ? next - e->now : 0;
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		/* the request queues are read on each pass; armed only when
		 * the engine is about to sleep: a sender then wakes it */
		if (wait && !list_empty(&e->rq_active)) {
			n = epoll_pwait2(e->epfd, evs, 64, &(struct timespec){ 0 }, NULL);
			if (!n && rdsb_socks_rq_arm(e))
				n = epoll_pwait2(e->epfd, evs, 64, &ts, NULL);
		} else {
			n = epoll_pwait2(e->epfd, evs, 64, &ts, NULL);
		}
		if (n < 0 && errno != EINTR) {
			pr_warn("rds-bpf: epoll_pwait2: %s; the engine stops\n", strerror(errno));
			err = RDSB_ENGINE_LOOP_FAILED;
			break;
		}
		e->now = rdsb_now_ns();
		e->batching = true;	/* written in settle */
		for (i = 0; i < n; i++)
			dispatch(e, evs[i].data.ptr, evs[i].events);
		rdsb_socks_rq_read(e);
		settle(e);
	}
out:
	{
		struct rdsb_sock *s, *ts2;
		struct ctl_client *c, *tc;

		note_rebind(e);	/* also when the loop failed, without a drain */
		if (err == RDSB_ENGINE_SETUP_FAILED)
			e->rebind_next = e->restarted;	/* not started: pass it on */
		/* paths marked in the last pass are shut down (and drained into
		 * their sockets) as in any other */
		e->stopping = true;
		e->rebind_until = 0;
		rdsb_ports_stop(e);
		rdsb_held_release(e, NULL);
		/* a drain cut short by its limit: what the paths' TCP
		 * acknowledged is read (their shutdown reads it), and it and
		 * what waits for a slow reader go into the streams */
		rdsb_conns_stop(e);
		settle(e);
		rdsb_socks_flush_stopping(e);
		list_for_each_entry_safe(s, ts2, &e->socks, item)
			rdsb_sock_close(e, s);
		settle(e);
		/* the BPF receive path's next_rx_seq, as of now, into the
		 * sequence state the next engine goes on with */
		rdsb_paths_info_update(e);
		rdsb_conn_free_all(e);
		rdsb_hash_free(&e->socks_by_id);
		rdsb_hash_free(&e->socks_by_port);
		if (e->tp_priv)
			e->tp->exit(e);
		rdsb_cong_fini(e);
		/* last: `rds-bpf unload` waits for these to close, and then
		 * everything, the pins included, must be gone */
		list_for_each_entry_safe(c, tc, &e->ctl_clients, item)
			ctl_client_free(e, c);
	}
	if (e->ctl_listen.fd >= 0)
		close(e->ctl_listen.fd);
	close(e->epfd);
	return err;
}
