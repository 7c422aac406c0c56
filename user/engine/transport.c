// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The transports there are, and what an op does that a transport leaves
 * out: rdma-core's dummy-ops pattern, so that the core calls every op
 * without testing it for NULL.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "engine.h"

#define ACK_POLL_NS (250 * 1000ull)

const struct rdsb_transport *const rdsb_transports[] = { &rdsb_tcp_transport, &rdsb_xdp_transport, &rdsb_ib_transport, NULL };

const struct rdsb_transport *rdsb_transport_find(const char *name)
{
	for (unsigned int i = 0; rdsb_transports[i]; i++)
		if (!strcmp(rdsb_transports[i]->name, name))
			return rdsb_transports[i];
	return NULL;
}

const char *rdsb_cfg_opt(const struct rdsb_engine_cfg *cfg, const char *name)
{
	for (unsigned int i = cfg->nopts; i-- > 0;)
		if (!strcmp(cfg->opts[i].name, name))
			return cfg->opts[i].value;
	return NULL;
}

int rdsb_cfg_last(const struct rdsb_engine_cfg *cfg, const char *a, const char *b)
{
	for (unsigned int i = cfg->nopts; i-- > 0;) {
		if (!strcmp(cfg->opts[i].name, a))
			return 1;
		if (!strcmp(cfg->opts[i].name, b))
			return 2;
	}
	return 0;
}

static int no_opts(const struct rdsb_engine_cfg *cfg)
{
	(void)cfg;
	return 0;
}

static int ok_engine(struct rdsb_engine *e, const struct rdsb_engine_cfg *cfg)
{
	(void)e;
	(void)cfg;
	return 0;
}

static int ok(struct rdsb_engine *e)
{
	(void)e;
	return 0;
}

static void nothing(struct rdsb_engine *e)
{
	(void)e;
}

static void no_event(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	(void)e;
	(void)ev;
	(void)events;
}

static void no_timer(struct rdsb_engine *e, uint64_t *next)
{
	(void)e;
	(void)next;
}

static int conn_ok(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	(void)c;
	return 0;
}

static void conn_nothing(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	(void)c;
}

static int path_ok(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return 0;
}

static void path_nothing(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
}

/* conn_path_connect and xmit of a transport that has none */
static int not_supported(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return -EOPNOTSUPP;
}

/* A path whose socket is all the transport has: close it. */
static void close_path_fd(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	(void)e;
	(void)reset;
	if (p->ev.fd >= 0)
		close(p->ev.fd);
	p->ev.fd = -1;
	p->ev.events = 0;
}

static uint64_t nothing_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return 0;
}

static void no_ack_wait(struct rdsb_engine *e, struct rdsb_path *p, bool waiting)
{
	(void)e;
	(void)p;
	(void)waiting;
}

static uint64_t ack_poll(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return ACK_POLL_NS;
}

static int no_sock_fds(struct rdsb_engine *e, struct rdsb_sock *s, int fds[3])
{
	(void)e;
	(void)s;
	(void)fds;
	return 0;
}

static int any_laddr(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope)
{
	(void)e;
	(void)addr;
	(void)scope;
	return 0;
}

static void sock_nothing(struct rdsb_engine *e, struct rdsb_sock *s)
{
	(void)e;
	(void)s;
}

static uint64_t none_delivered(struct rdsb_engine *e, const struct rdsb_sock *s)
{
	(void)e;
	(void)s;
	return 0;
}

static void no_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room)
{
	(void)e;
	(void)s;
	(void)room;
}

static void none_taken(struct rdsb_engine *e, struct rdsb_path *p, uint64_t n)
{
	(void)e;
	(void)p;
	(void)n;
}

static void no_ack_sent(struct rdsb_engine *e, struct rdsb_path *p, uint64_t sent, bool arm)
{
	(void)e;
	(void)p;
	(void)sent;
	(void)arm;
}

static int own_stream(struct rdsb_engine *e, struct rdsb_sock *s)
{
	(void)e;
	(void)s;
	return -1;
}

static int no_info(struct rdsb_engine *e, int optname, struct rdsb_info_out *o)
{
	(void)e;
	(void)optname;
	(void)o;
	return -ENOPROTOOPT;
}

static int no_bpf_data_path(bool sends, const char **how, const char **hint)
{
	(void)sends;
	*how = "the transport has no BPF data path";
	*hint = "";
	return -EOPNOTSUPP;
}

static void userspace_status(struct rdsb_engine *e, struct rdsb_tp_status *st)
{
	(void)e;
	st->data_path = "userspace";
	st->ack_cgroup = "";
}

static void no_counters(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	(void)e;
	(void)fn;
	(void)arg;
}

#define FILL(op, dflt) (out->op = t->op ? t->op : (dflt))
void rdsb_transport_fill(struct rdsb_transport *out, const struct rdsb_transport *t)
{
	*out = *t;
	FILL(check_opts, no_opts);
	FILL(init, ok_engine);
	FILL(listen, ok);
	FILL(exit, nothing);
	FILL(event, no_event);
	FILL(timer, no_timer);
	FILL(conn_alloc, conn_ok);
	FILL(conn_free, conn_nothing);
	FILL(conn_path_connect, not_supported);
	FILL(conn_path_connected, path_nothing);
	FILL(conn_path_up, path_nothing);
	FILL(conn_path_down, path_nothing);
	FILL(conn_path_shutdown, close_path_fd);
	FILL(conn_paths_changed, conn_nothing);
	FILL(conn_paths_moving, conn_nothing);
	FILL(conn_path_seq_reset, path_nothing);
	FILL(conn_path_sync, path_nothing);
	FILL(recv_path, path_nothing);
	FILL(rx_taken, none_taken);
	FILL(rx_ack_sent, no_ack_sent);
	FILL(xmit_path_prepare, path_ok);
	FILL(xmit, not_supported);
	FILL(xmit_path_complete, path_nothing);
	FILL(acked, nothing_acked);
	FILL(ack_wait, no_ack_wait);
	FILL(ack_poll_ns, ack_poll);
	FILL(sock_open, no_sock_fds);
	FILL(laddr_check, any_laddr);
	FILL(sock_bind, sock_nothing);
	FILL(sock_close, sock_nothing);
	FILL(sock_delivered, none_delivered);
	FILL(sock_arm, no_sock_arm);
	FILL(sock_out, own_stream);
	FILL(sock_out_wait, nothing);
	FILL(info, no_info);
	FILL(probe_bpf, no_bpf_data_path);
	FILL(status, userspace_status);
	FILL(counters, no_counters);
}
