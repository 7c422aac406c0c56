// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * RDS/IB connection management (net/rds/ib_cm.c, rdma_transport.c): the
 * RDMA-CM listeners on 18634 (IPv4) and 16385 (IPv6), the private data
 * (rds_ib_connect_private: protocol 3.1, the 4.x minor mask, the last
 * sequence received), the passive side's version rule, and the connect
 * race: while our own connect is in progress the smaller address refuses
 * the peer's, the larger gives its own up.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "ib.h"
#include "../../user/common/addr.h"
#include "../../user/common/log.h"

static const struct rdsb_transport_opt ib_opts[] = {
	{ "dev", "NAME" },	/* the RDMA device that must be there */
	{ NULL, NULL },
};

/* The private data we send for p: the last sequence received acks what a
 * reconnect would retransmit; the credit is the receive ring, all posted
 * before the connect or accept. */
static uint8_t fill_private(const struct rdsb_path *p, unsigned int proto, void *out)
{
	return (uint8_t)ib_private_fill(out, p->conn->laddr, p->conn->faddr, proto,
					p->next_rx_seq ? p->next_rx_seq - 1 : 0, RDS_IB_RECV_WR);
}

static void conn_param(struct rdma_conn_param *cp, const void *priv, uint8_t len, uint8_t rd_atom)
{
	memset(cp, 0, sizeof(*cp));
	cp->private_data = priv;
	cp->private_data_len = len;
	cp->responder_resources = rd_atom;
	cp->initiator_depth = rd_atom;
	cp->retry_count = 1;	/* min(rds_ib_retry_count, 7) */
	cp->rnr_retry_count = 7;	/* forever */
}

/* ------------------------------------------------------------ the ops */

static int ib_init(struct rdsb_engine *e, const struct rdsb_engine_cfg *cfg)
{
	const char *want = rdsb_cfg_opt(cfg, "dev");
	struct ibv_device **devs = ibv_get_device_list(NULL);
	bool found = false;
	struct rdsb_ib *t;

	for (int i = 0; devs && devs[i]; i++)
		if (!want || !strcmp(ibv_get_device_name(devs[i]), want))
			found = true;
	if (devs)
		ibv_free_device_list(devs);
	if (!found) {
		if (want)
			fprintf(stderr, "rds-bpf load: no RDMA device %s (rdma link show lists them)\n", want);
		else
			fprintf(stderr, "rds-bpf load: no RDMA device for the ib transport (soft-RoCE: rdma link add rxe0 type rxe netdev eth0)\n");
		return -ENODEV;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ch = rdma_create_event_channel();
	if (!t->ch) {
		int err = -errno;

		fprintf(stderr, "rds-bpf load: cannot open the RDMA-CM event channel: %s (is rdma_ucm loaded?)\n",
			strerror(-err));
		free(t);
		return err;
	}
	fcntl(t->ch->fd, F_SETFL, fcntl(t->ch->fd, F_GETFL) | O_NONBLOCK);
	t->ev.kind = EV_TRANSPORT;
	t->ev.fd = t->ch->fd;
	e->tp_priv = t;
	return rdsb_ev_set(e, &t->ev, EPOLLIN) < 0 ? -errno : 0;
}

static struct rdma_cm_id *listen_on(struct rdsb_ib *t, int family, uint16_t port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	struct rdma_cm_id *id;
	int one = 1;

	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	if (rdma_create_id(t->ch, &id, NULL, RDMA_PS_TCP))
		return NULL;
	if (family == AF_INET6)
		rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_AFONLY, &one, sizeof(one));
	if (rdma_bind_addr(id, (struct sockaddr *)&ss) || rdma_listen(id, 64)) {
		int err = errno;

		rdma_destroy_id(id);
		errno = err;
		return NULL;
	}
	return id;
}

static int ib_listen(struct rdsb_engine *e)
{
	struct rdsb_ib *t = ib_of(e);

	t->listen4 = listen_on(t, AF_INET, RDS_IB_PORT);
	if (!t->listen4) {
		int err = -errno;

		pr_warn("rds-bpf: cannot listen on RDMA-CM port %d: %s (is kernel rds_rdma loaded?)\n",
			RDS_IB_PORT, strerror(-err));
		return err;
	}
	t->listen6 = listen_on(t, AF_INET6, RDS_IB_PORT6);
	return 0;
}

static void ib_exit(struct rdsb_engine *e)
{
	struct rdsb_ib *t = ib_of(e);

	if (!t)
		return;
	if (t->listen6)
		rdma_destroy_id(t->listen6);
	if (t->listen4)
		rdma_destroy_id(t->listen4);
	rdsb_ev_del(e, &t->ev);
	rdma_destroy_event_channel(t->ch);
	free(t);
	e->tp_priv = NULL;
}

/* rds_ib_laddr_check: an address the RDMA-CM binds to a device, and that
 * device an IB channel adapter (so are RoCE's; the kernel takes no iWARP
 * device here either). */
static int ib_laddr_check(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope)
{
	struct sockaddr_storage ss;
	struct rdma_cm_id *id;
	bool ok;

	rdsb_addr_to_sa(addr, 0, scope, false, &ss);
	if (rdma_create_id(ib_of(e)->ch, &id, NULL, RDMA_PS_TCP))
		return -EADDRNOTAVAIL;
	ok = !rdma_bind_addr(id, (struct sockaddr *)&ss) && id->verbs &&
	     id->verbs->device->node_type == IBV_NODE_CA;
	rdma_destroy_id(id);
	return ok ? 0 : -EADDRNOTAVAIL;
}

static int ib_conn_alloc(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	c->t_data = calloc(1, sizeof(struct ib_conn));
	c->npaths = 1;		/* no NPATHS probe over IB */
	return c->t_data ? 0 : -ENOMEM;
}

static void ib_conn_free(struct rdsb_engine *e, struct rdsb_conn *c)
{
	(void)e;
	if (c->t_data)
		ib_ring_release(c->t_data);	/* its path is shut down: no queue pair uses them */
	free(c->t_data);
	c->t_data = NULL;
}

static uint8_t rd_atom(struct ibv_context *verbs)
{
	struct ibv_device_attr a;

	if (ibv_query_device(verbs, &a))
		return 1;
	return (uint8_t)(a.max_qp_rd_atom < 128 ? a.max_qp_rd_atom : 128);
}

static int ib_connect(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_conn *c = p->conn;
	struct ib_conn *ic = ib_conn(p);
	struct sockaddr_storage src, dst;
	bool v4 = rdsb_addr_is_v4(c->faddr);
	int fd;

	rdsb_addr_to_sa(c->laddr, 0, c->scope_id, false, &src);
	rdsb_addr_to_sa(c->faddr, v4 ? RDS_IB_PORT : RDS_IB_PORT6, c->scope_id, false, &dst);
	/* the path's fd until the queue pair's completion channel takes its
	 * place (ib_ring_setup): the device is known once the address is */
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (rdma_create_id(ib_of(e)->ch, &ic->cm, p, RDMA_PS_TCP)) {
		close(fd);
		return -1;
	}
	if (rdma_resolve_addr(ic->cm, (struct sockaddr *)&src, (struct sockaddr *)&dst, RDS_IB_RESOLVE_MS)) {
		rdma_destroy_id(ic->cm);
		ic->cm = NULL;
		close(fd);
		return -1;
	}
	rdsb_path_connecting(e, p, fd, 0);	/* the RDMA-CM channel tells */
	ic->connect_at = e->now;
	return 0;
}

static void ib_shutdown(struct rdsb_engine *e, struct rdsb_path *p, bool reset)
{
	struct ib_conn *ic = ib_conn(p);

	(void)e;
	(void)reset;
	if (ic->cm && ic->established)
		rdma_disconnect(ic->cm);
	ib_ring_free(p);
	if (ic->cm)
		rdma_destroy_id(ic->cm);
	ic->cm = NULL;
	if (p->ev.fd >= 0)
		close(p->ev.fd);
	p->ev.fd = -1;
	p->ev.events = 0;
}

static uint64_t ib_acked(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	return ib_conn(p)->peer_acked;
}

/* Acks arrive as receive completions, which check at once: the poll is a backstop. */
static uint64_t ib_ack_poll(struct rdsb_engine *e, struct rdsb_path *p)
{
	(void)e;
	(void)p;
	return 100 * 1000 * 1000ull;
}

/* ------------------------------------------------------- CM events */

static void reject(struct rdma_cm_id *id, uint8_t code)
{
	rdma_reject(id, &code, code ? 1 : 0);
	rdma_destroy_id(id);
}

/* The last sequence the peer's private data says it received: what it
 * has already is acknowledged (rds_send_drop_acked). */
static void peer_has(struct rdsb_path *p, const struct rds_ib_conn_priv_cmn *cmn)
{
	if (cmn)
		ib_peer_acks(p, be64toh(cmn->ack_seq));
}

static void handle_connect(struct rdsb_engine *e, struct rdma_cm_id *id, const void *priv, size_t len,
			   uint8_t req_rd)
{
	struct rdsb_ib *t = ib_of(e);
	struct sockaddr *ls = rdma_get_local_addr(id), *fs = rdma_get_peer_addr(id);
	socklen_t sl = ls->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	uint8_t laddr[16], faddr[16], out[sizeof(struct rds6_ib_connect_private)];
	bool v6 = ls->sa_family == AF_INET6;
	unsigned int proto = ib_protocol_compatible(priv, len, v6);
	struct rds_ib_conn_priv_cmn peer;
	const struct rds_ib_conn_priv_cmn *cmn;
	struct rdma_conn_param cp;
	struct rdsb_conn *c;
	struct rdsb_path *p;
	uint32_t scope;
	uint16_t port;
	uint8_t rd;

	if (!proto) {
		t->rejected++;
		reject(id, RDS_RDMA_REJ_INCOMPAT);
		return;
	}
	cmn = ib_private_cmn(priv, len, v6, &peer) ? &peer : NULL;
	if (cmn && be32toh(cmn->credit) > RDS_IB_MAX_CREDIT) {
		t->bad_credit++;
		reject(id, 0);
		return;
	}
	if (rdsb_addr_from_sa(ls, sl, laddr, &port, &scope) < 0 ||
	    rdsb_addr_from_sa(fs, sl, faddr, &port, &scope) < 0 ||
	    !(c = rdsb_conn_get(e, laddr, faddr, scope, true)) || c->loopback) {
		t->rejected++;
		reject(id, 0);
		return;
	}
	p = &c->paths[0];
	if (p->ev.fd >= 0) {
		if (p->state == RDSB_PATH_CONNECTING && rdsb_addr_cmp(c->laddr, c->faddr) < 0) {
			/* our connect may still succeed (s_ib_connect_raced) */
			t->raced++;
			reject(id, 0);
			return;
		}
		rdsb_path_drop(e, p, p->state == RDSB_PATH_CONNECTING ? "the peer's connect won the race"
									 : "the peer connected again");
		/* The old queue pair and id go now, not at the top of the loop:
		 * the accepted ones take their place in the path, and a deferred
		 * shutdown would tear those down instead. */
		rdsb_paths_shutdown(e);
	}
	if (ib_ring_setup(e, p, id) < 0) {
		ib_conn(p)->cm = NULL;
		ib_ring_free(p);
		if (p->ev.fd >= 0)
			close(p->ev.fd);
		p->ev.fd = -1;
		reject(id, 0);
		return;
	}
	id->context = p;
	peer_has(p, cmn);
	ib_ring_peer_credit(p, cmn ? be32toh(cmn->credit) : 0);	/* bounded above */
	ib_conn(p)->major = (uint8_t)(proto >> 8);
	ib_conn(p)->minor = (uint8_t)proto;
	p->state = RDSB_PATH_CONNECTING;
	p->outgoing = false;
	p->reconnect_at = 0;
	ib_conn(p)->connect_at = e->now;
	rd = rd_atom(id->verbs);
	conn_param(&cp, out, fill_private(p, proto, out), rd < req_rd ? rd : req_rd);
	if (rdma_accept(id, &cp))
		rdsb_path_drop(e, p, "rdma_accept failed");
}

static void established(struct rdsb_engine *e, struct rdsb_path *p, const void *priv, size_t len)
{
	struct ib_conn *ic = ib_conn(p);
	struct rds_ib_conn_priv_cmn peer;
	const struct rds_ib_conn_priv_cmn *cmn =
		ib_private_cmn(priv, len, !rdsb_addr_is_v4(p->conn->faddr), &peer) ? &peer : NULL;

	if (p->outgoing && cmn) {
		/* rds_ib_cm_connect_complete: the version the passive side took */
		if (RDS_IB_PROTO(cmn->major, cmn->minor) < RDS_IB_PROTO_3_1) {
			rdsb_path_drop(e, p, "the peer's RDS/IB protocol is older than 3.1");
			return;
		}
		ic->major = cmn->major;
		ic->minor = cmn->minor;
		peer_has(p, cmn);
		if (!ib_ring_peer_credit(p, be32toh(cmn->credit))) {
			ib_of(e)->bad_credit++;
			rdsb_path_drop(e, p, "more credits in the CM data than a peer can have posted");
			return;
		}
	}
	ic->established = true;
	p->lport = 0;
	p->fport = rdsb_addr_is_v4(p->conn->faddr) ? RDS_IB_PORT : RDS_IB_PORT6;
	rdsb_path_up(e, p);
	rdsb_path_check_acked(e, p);
}

static void active_step(struct rdsb_engine *e, struct rdsb_path *p, struct rdma_cm_event *ev)
{
	struct ib_conn *ic = ib_conn(p);
	uint8_t out[sizeof(struct rds6_ib_connect_private)];
	struct rdma_conn_param cp;

	if (ev->event == RDMA_CM_EVENT_ADDR_RESOLVED) {
		if (rdma_resolve_route(ic->cm, RDS_IB_RESOLVE_MS))
			rdsb_path_drop(e, p, "cannot resolve the route");
		return;
	}
	/* ROUTE_RESOLVED: the queue pair, and the request with 3.1 */
	if (ib_ring_setup(e, p, ic->cm) < 0) {
		rdsb_path_drop(e, p, "cannot set up the queue pair");
		return;
	}
	conn_param(&cp, out, fill_private(p, RDS_IB_PROTO_3_1, out), rd_atom(ic->cm->verbs));
	if (rdma_connect(ic->cm, &cp))
		rdsb_path_drop(e, p, "rdma_connect failed");
}

/* librdmacm closes a removed device's context only at a later device
 * lookup that finds the device gone and another there (sync_devices_list),
 * never while it was the only one; and the kernel's removal of a device
 * that cannot disassociate its contexts (rxe) waits until every context
 * on it is closed. So once no id, queue pair, CQ, MR or PD of ours is left
 * on it, its two fds are pointed at /dev/null, which closes the kernel's
 * files: `rdma link delete` completes. librdmacm's later ibv_close_device
 * closes those two, and nothing of ours uses the context again. */
static void release_device(struct ibv_context *verbs)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return;
	dup3(null, verbs->cmd_fd, O_CLOEXEC);
	dup3(null, verbs->async_fd, O_CLOEXEC);
	close(null);
}

/* RDMA_CM_EVENT_DEVICE_REMOVAL (rdma link delete): every path on the
 * device goes now, its resources with it, then the device is released.
 * The paths reconnect with their backoff, and get through once a device
 * carries the address again (rdma link add). */
static void device_removed(struct rdsb_engine *e, struct ibv_context *verbs)
{
	unsigned int n = 0;
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		struct ib_conn *ic = c->t_data;

		if (c->loopback || !ic || !ic->cm || ic->cm->verbs != verbs)
			continue;
		rdsb_path_drop(e, &c->paths[0], "the RDMA device was removed");
		n++;
	}
	rdsb_paths_shutdown(e);	/* destroys their ids and queue pairs */
	/* and the buffers kept for reconnects, of those connections and of
	 * any down already: nothing of ours is left on it */
	list_for_each_entry(c, &e->conns, item)
		if (!c->loopback && c->t_data && ((struct ib_conn *)c->t_data)->verbs == verbs)
			ib_ring_release(c->t_data);
	pr_warn("rds-bpf: ib: RDMA device %s removed: %u connection(s) dropped, device released; "
		"they reconnect once it is back (rdma link add)\n", ibv_get_device_name(verbs->device), n);
	release_device(verbs);
}

static void ib_event(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	struct rdsb_ib *t = ib_of(e);
	struct rdma_cm_event *cev;

	(void)ev;
	(void)events;
	while (rdma_get_cm_event(t->ch, &cev) == 0) {
		/* copied and acked first: a path dropped below destroys its id */
		struct rdma_cm_event copy = *cev;
		uint8_t priv[256];
		size_t plen = cev->param.conn.private_data_len;
		struct rdsb_path *p = cev->id->context;

		if (plen > sizeof(priv))
			plen = sizeof(priv);
		if (cev->param.conn.private_data && plen)
			memcpy(priv, cev->param.conn.private_data, plen);
		else
			plen = 0;
		rdma_ack_cm_event(cev);
		pr_info("rds-bpf: ib: %s (status %d)%s\n", rdma_event_str(copy.event), copy.status,
			p && ib_conn(p)->cm != copy.id ? " on an id the path no longer has" : "");
		if (copy.event == RDMA_CM_EVENT_CONNECT_REQUEST) {
			handle_connect(e, copy.id, plen ? priv : NULL, plen, copy.param.conn.initiator_depth);
			continue;
		}
		if (copy.event == RDMA_CM_EVENT_DEVICE_REMOVAL && copy.id->verbs) {
			device_removed(e, copy.id->verbs);
			continue;
		}
		if (!p || ib_conn(p)->cm != copy.id)
			continue;	/* a listener's, or an id already gone */
		switch (copy.event) {
		case RDMA_CM_EVENT_ADDR_RESOLVED:
		case RDMA_CM_EVENT_ROUTE_RESOLVED:
			active_step(e, p, &copy);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			established(e, p, plen ? priv : NULL, plen);
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_CONNECT_RESPONSE:
			break;
		default:
			rdsb_path_drop(e, p, rdma_event_str(copy.event));
			break;
		}
	}
}

static void ib_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item) {
		struct rdsb_path *p = &c->paths[0];
		uint64_t until;

		if (c->loopback || p->state != RDSB_PATH_CONNECTING)
			continue;
		until = ib_conn(p)->connect_at + RDS_IB_CONNECT_NS;
		if (e->now >= until) {
			rdsb_path_drop(e, p, "the RDMA-CM handshake timed out");
			continue;
		}
		if (until < *next)
			*next = until;
	}
}

/* ------------------------------------------------------------ info */

/* RDS_INFO_IB_CONNECTIONS (IPv4 only) and RDS6_INFO_IB_CONNECTIONS: the
 * established connections, as rds_ib_conn_info_visitor fills them. */
static int ib_info(struct rdsb_engine *e, int optname, struct rdsb_info_out *o)
{
	bool six = optname == RDS6_INFO_IB_CONNECTIONS;
	struct rdsb_conn *c;

	if (optname != RDS_INFO_IB_CONNECTIONS && !six)
		return -ENOPROTOOPT;
	o->six = six;
	list_for_each_entry(c, &e->conns, item) {
		struct rds6_info_rdma_connection r6 = { 0 };
		struct rds_info_rdma_connection r = { 0 };
		struct ib_conn *ic = c->t_data;
		const union ibv_gid *sgid, *dgid;

		if (c->loopback || !ic || !ic->established || !rdsb_info_listed(o, c->faddr))
			continue;
		sgid = &ic->cm->route.addr.addr.ibaddr.sgid;
		dgid = &ic->cm->route.addr.addr.ibaddr.dgid;
		if (six) {
			memcpy(&r6.src_addr, c->laddr, 16);
			memcpy(&r6.dst_addr, c->faddr, 16);
			memcpy(r6.src_gid, sgid, 16);
			memcpy(r6.dst_gid, dgid, 16);
			r6.max_send_wr = RDS_IB_SEND_WR;
			r6.max_recv_wr = RDS_IB_RECV_WR;
			r6.max_send_sge = 1;
			rdsb_info_put(o, &r6, sizeof(r6));
			continue;
		}
		r.src_addr = rdsb_addr_v4(c->laddr);
		r.dst_addr = rdsb_addr_v4(c->faddr);
		memcpy(r.src_gid, sgid, 16);
		memcpy(r.dst_gid, dgid, 16);
		r.max_send_wr = RDS_IB_SEND_WR;
		r.max_recv_wr = RDS_IB_RECV_WR;
		r.max_send_sge = 1;
		rdsb_info_put(o, &r, sizeof(r));
	}
	return six ? sizeof(struct rds6_info_rdma_connection) : sizeof(struct rds_info_rdma_connection);
}

static void ib_counters(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	struct rdsb_ib *t = ib_of(e);

	fn(arg, "ib_bad_checksum", t->bad_csum);
	fn(arg, "ib_bad_frame", t->bad_frame);
	fn(arg, "ib_bad_credit", t->bad_credit);
	fn(arg, "ib_flow_controlled", t->flow_controlled);
	fn(arg, "ib_rx_credit_updates", t->rx_credit_updates);
	fn(arg, "ib_tx_credit_updates", t->tx_credit_updates);
	fn(arg, "ib_connect_rejected", t->rejected);
	fn(arg, "ib_connect_raced", t->raced);
}

const struct rdsb_transport rdsb_ib_transport = {
	.name = "ib",
	.trans_id = RDS_TRANS_IB,
	.opts = ib_opts,
	.init = ib_init,
	.listen = ib_listen,
	.exit = ib_exit,
	.event = ib_event,
	.timer = ib_timer,
	.conn_alloc = ib_conn_alloc,
	.conn_free = ib_conn_free,
	.conn_path_connect = ib_connect,
	.conn_path_shutdown = ib_shutdown,
	.recv_path = ib_recv_path,
	.xmit = ib_xmit,
	.laddr_check = ib_laddr_check,
	.acked = ib_acked,
	.ack_poll_ns = ib_ack_poll,
	.info = ib_info,
	.counters = ib_counters,
};
