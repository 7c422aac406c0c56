// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path, engine side (the program: skmsg_tx.bpf.c, the
 * library side: user/lib/skmsg_send.c). On `load --bpf` every application socket
 * gets a send socket, one end of a TCP loopback connection in rdsb_apptx,
 * and a path socket joins rdsb_txsk once the connection's path count is
 * known and the engine has nothing of its own left to write on it. From
 * then on an application writes its datagrams on the path socket itself,
 * through rdsb_txmsg, under the path's lock (rdsb_txpath), and then hands
 * the engine a copy (RDSB_REQ_SENT) that the engine keeps until TCP
 * acknowledges it, to retransmit it if the path's socket goes down. The
 * engine writes under the same lock, so that records never interleave and
 * sequence numbers rise on the wire; it closes the path to applications
 * while it has records of its own queued, and across a reconnect until the
 * retransmissions, copies included, are written on the new socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tcp.h"
#include "../../user/common/log.h"
#include "../../user/common/ctl_proto.h"
#include "../../user/common/txlock.h"
#include "skmsg_tx.skel.h"

#define TXPATHS (RDSB_MAX_ADDRS * RDS_MPATH_WORKERS)
#define TXPATH_BYTES (TXPATHS * sizeof(struct rdsb_txpath))
/* What applications may have written and TCP not yet acknowledged on a path
 * before they hand their datagrams to the engine again: well inside the
 * socket's send buffer, so that a send never waits for room there. */
#define DIRECT_LIMIT (1u << 20)
#define PATH_SNDBUF (4 << 20)

static uint32_t txindex(const struct rdsb_path *p)
{
	return (uint32_t)p->conn->fslot * RDS_MPATH_WORKERS + p->index;
}

static struct rdsb_txpath *txp(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return &tcp_of(e)->txpath[txindex(p)];
}

int tcp_skmsg_init(struct rdsb_engine *e)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct skmsg_tx *skel = skmsg_tx__open();
	int err = skel ? rdsb_bpf_load_shared(e, skel->obj) : -errno;

	if (err) {
		rdsb_bpf_explain("the sk_msg send program", err, "sends take the engine's path");
		skmsg_tx__destroy(skel);
		return err;
	}
	tcp_of(e)->skmsg_obj = skel;

	tcp_of(e)->txsk_fd = bpf_map__fd(skel->maps.rdsb_txsk);
	tcp_of(e)->apptx_fd = bpf_map__fd(skel->maps.rdsb_apptx);
	tcp_of(e)->txsock_fd = bpf_map__fd(skel->maps.rdsb_txsock);
	tcp_of(e)->txpath_fd = bpf_map__fd(skel->maps.rdsb_txpath);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_txmsg), tcp_of(e)->apptx_fd, BPF_SK_MSG_VERDICT, 0)) {
		pr_warn("rds-bpf: cannot attach the sk_msg program: %s; sends take the engine's path\n",
			strerror(errno));
		tcp_skmsg_exit(e);
		return -1;
	}
	tcp_of(e)->txpath = mmap(NULL, TXPATH_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, tcp_of(e)->txpath_fd, 0);
	tcp_of(e)->tx_owner = calloc(TXPATHS, sizeof(*tcp_of(e)->tx_owner));
	tcp_of(e)->tx_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp_of(e)->txpath == MAP_FAILED || !tcp_of(e)->tx_owner || tcp_of(e)->tx_listen < 0 ||
	    bind(tcp_of(e)->tx_listen, (struct sockaddr *)&sin, sizeof(sin)) || listen(tcp_of(e)->tx_listen, 16)) {
		pr_warn("rds-bpf: no send sockets (%s; hint: the loopback interface must be up); "
			"sends take the engine's path\n", strerror(errno));
		tcp_skmsg_exit(e);
		return -1;
	}
	return 0;
}

void tcp_skmsg_exit(struct rdsb_engine *e)
{
	if (tcp_of(e)->txpath && tcp_of(e)->txpath != MAP_FAILED)
		munmap(tcp_of(e)->txpath, TXPATH_BYTES);
	tcp_of(e)->txpath = NULL;
	free(tcp_of(e)->tx_owner);
	tcp_of(e)->tx_owner = NULL;
	if (tcp_of(e)->tx_listen >= 0)
		close(tcp_of(e)->tx_listen);
	tcp_of(e)->tx_listen = -1;
	skmsg_tx__destroy(tcp_of(e)->skmsg_obj);
	tcp_of(e)->skmsg_obj = NULL;
}

/* The application's send socket: the client end of a loopback connection
 * (the engine keeps the other end open and never reads it: rdsb_txmsg
 * redirects or drops every byte). Returns its fd, for the OPEN reply, or -1. */
int tcp_skmsg_sock_open(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint32_t idx = (uint32_t)tcp_sock(s)->idx;
	uint64_t val;
	int c;

	tcp_sock(s)->tx_peer = -1;
	if (!tcp_of(e)->txpath || tcp_sock(s)->idx < 0 || getsockname(tcp_of(e)->tx_listen, (struct sockaddr *)&sin, &len))
		return -1;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	if (connect(c, (struct sockaddr *)&sin, sizeof(sin)) ||
	    (tcp_sock(s)->tx_peer = accept4(tcp_of(e)->tx_listen, NULL, NULL, SOCK_CLOEXEC)) < 0)
		goto fail;
	len = sizeof(sin);
	val = (uint64_t)c;
	if (getsockname(c, (struct sockaddr *)&sin, &len) ||
	    bpf_map_update_elem(tcp_of(e)->apptx_fd, &idx, &val, BPF_ANY))
		goto fail;
	tcp_sock(s)->tx_lport = ntohs(sin.sin_port);
	return c;
fail:
	pr_debug("rds-bpf: socket %u: no send socket: %s\n", s->id, strerror(errno));
	close(c);
	if (tcp_sock(s)->tx_peer >= 0)
		close(tcp_sock(s)->tx_peer);
	tcp_sock(s)->tx_peer = -1;
	return -1;
}

void tcp_skmsg_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_txsock ts = { .slot = (uint32_t)s->slot, .port = s->port };
	uint32_t lport = tcp_sock(s)->tx_lport;

	s->shm->path_hash = rdsb_mpath_hash(s->port, e->hash_initval, RDS_MPATH_WORKERS);
	s->shm->slot = (uint32_t)s->slot;
	if (tcp_sock(s)->tx_lport)
		bpf_map_update_elem(tcp_of(e)->txsock_fd, &lport, &ts, BPF_ANY);
}

void tcp_skmsg_sock_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	uint32_t lport = tcp_sock(s)->tx_lport;

	if (!tcp_sock(s)->tx_lport)
		return;
	bpf_map_delete_elem(tcp_of(e)->txsock_fd, &lport);
	close(tcp_sock(s)->tx_peer);
	tcp_sock(s)->tx_peer = -1;
	tcp_sock(s)->tx_lport = 0;
}

/* A path lock held by a process that died, or for longer than a second:
 * the engine takes it (the path is being reset anyway). */
static void lock_wait(struct rdsb_engine *e, struct rdsb_txpath *t)
{
	for (int i = 0; i < 20000; i++) {
		if (rdsb_txlock_try(t))
			return;
		if (rdsb_txlock_holder_dead(t))
			break;
		usleep(50);
	}
	rdsb_count(e, RDSB_C_TX_LOCK_STOLEN);
	__atomic_store_n(&t->lock, 1, __ATOMIC_SEQ_CST);
	t->owner = (uint32_t)getpid();
}

static bool wanted(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return tcp_of(e)->txpath && p->state == RDSB_PATH_UP && p->conn->npaths && !p->conn->loopback && p->ev.fd >= 0;
}

/* Copies of what applications sent on a path's last socket are in their
 * streams: each goes into the retransmissions, in sequence order, before
 * anything is written on the path's new socket. Read from the transport's
 * timer, not from inside a write: reading them queues messages, which
 * writes on other paths. */
void tcp_skmsg_read_copies(struct rdsb_engine *e)
{
	bool pending = false;
	struct rdsb_conn *c;

	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];

			if (p->t_data && tcp_path(p)->copies_pending && p->state == RDSB_PATH_UP) {
				tcp_path(p)->copies_pending = false;
				pending = true;
			}
		}
	if (pending)
		rdsb_socks_read_all(e);
}

/* Called with the lock held, when the engine has nothing of its own left. */
static void open_path(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_txpath *t)
{
	uint32_t idx = txindex(p);
	uint64_t fd = (uint64_t)p->ev.fd;
	int buf = PATH_SNDBUF;

	if (tcp_of(e)->tx_owner[idx] && tcp_of(e)->tx_owner[idx] != p)
		return;	/* the same peer from another local address: one of them */
	setsockopt(p->ev.fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (bpf_map_update_elem(tcp_of(e)->txsk_fd, &idx, &fd, BPF_ANY)) {
		pr_debug("rds-bpf: path %u: not open to applications: %s\n", p->index, strerror(errno));
		return;
	}
	t->lslot = (uint32_t)p->conn->lslot;
	t->npaths = p->conn->npaths;
	t->epoch = tcp_path(p)->epoch;
	t->reset = 0;
	t->limit = DIRECT_LIMIT;
	t->acked = tcp_path(p)->written;
	tcp_of(e)->txpath[(uint32_t)p->conn->fslot * RDS_MPATH_WORKERS].npaths = p->conn->npaths;
	tcp_of(e)->tx_owner[idx] = p;
	tcp_path(p)->direct = true;
}

/* Before the engine writes on a path: 0 when no application can write on it
 * (the engine writes alone), 1 with the path's lock held and the engine's
 * view of the stream brought up to date, -1 when an application holds the
 * lock (the engine tries again on its next pass). */
int tcp_skmsg_begin(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t;

	if (tcp_path(p)->copies_pending) {
		/* not before tcp_skmsg_read_copies, from the timer */
		tcp_path(p)->tx_busy = true;
		return -1;
	}
	if (!tcp_path(p)->direct && !wanted(e, p))
		return 0;
	t = txp(e, p);
	if (!rdsb_txlock_try(t)) {
		/* A process that died holding it may have left a record cut
		 * short on the wire: the path is reset (tcp_skmsg_broken),
		 * which takes the lock back. */
		if (tcp_path(p)->direct && rdsb_txlock_holder_dead(t))
			__atomic_store_n(&t->reset, 1, __ATOMIC_RELEASE);
		tcp_path(p)->tx_busy = true;
		return -1;
	}
	tcp_path(p)->tx_busy = false;
	if (tcp_path(p)->direct) {
		tcp_path(p)->written = t->written;
		p->next_tx_seq = t->next_tx_seq;
	}
	return 1;
}

void tcp_skmsg_end(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t = txp(e, p);
	bool idle = list_empty(&p->send_q) && !p->head_off;

	if (!tcp_path(p)->direct && idle && wanted(e, p))
		open_path(e, p, t);
	if (tcp_path(p)->direct) {
		t->written = tcp_path(p)->written;
		t->next_tx_seq = p->next_tx_seq;
		__atomic_store_n(&t->open, idle ? 1 : 0, __ATOMIC_RELEASE);
	}
	rdsb_txunlock(t);
}

/* The path's socket is going: no application writes on it from here on.
 * A sender blocked on its send buffer is woken by the shutdown. */
void tcp_skmsg_path_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	uint32_t idx = txindex(p);
	struct rdsb_txpath *t;

	if (!tcp_path(p)->direct)
		return;
	t = txp(e, p);
	bpf_map_delete_elem(tcp_of(e)->txsk_fd, &idx);
	__atomic_store_n(&t->open, 0, __ATOMIC_RELEASE);
	if (!rdsb_txlock_try(t)) {
		shutdown(p->ev.fd, SHUT_WR);
		lock_wait(e, t);
	}
	tcp_path(p)->written = t->written;
	p->next_tx_seq = t->next_tx_seq;
	t->epoch = ++tcp_path(p)->epoch;
	rdsb_txunlock(t);
	tcp_of(e)->tx_owner[idx] = NULL;
	tcp_path(p)->direct = false;
	tcp_path(p)->copies_pending = true;
}

/* The peer restarted: its sequence space starts again at 1. */
void tcp_skmsg_seq_reset(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t;

	if (!tcp_path(p)->direct)
		return;
	t = txp(e, p);
	if (!rdsb_txlock_try(t))
		lock_wait(e, t);
	t->next_tx_seq = p->next_tx_seq;
	rdsb_txunlock(t);
}

/* Where acknowledgements are counted from: the stream as applications and
 * engine wrote it. Read before SIOCOUTQ, so that a write in between only
 * makes the acknowledged count smaller. */
void tcp_skmsg_sync_written(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (tcp_path(p)->direct)
		tcp_path(p)->written = __atomic_load_n(&txp(e, p)->written, __ATOMIC_ACQUIRE);
}

void tcp_skmsg_acked(struct rdsb_engine *e, struct rdsb_path *p, uint64_t acked)
{
	if (tcp_path(p)->direct)
		__atomic_store_n(&txp(e, p)->acked, acked, __ATOMIC_RELEASE);
}

/* An application left a record half written (its sendmsg was cut short):
 * the stream is no longer framed, so the path is reset. */
bool tcp_skmsg_broken(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return tcp_path(p)->direct && __atomic_load_n(&txp(e, p)->reset, __ATOMIC_ACQUIRE);
}

static void insert_unacked(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct list_head *pos = p->unacked.prev;

	/* copies come nearly in order: look from the tail */
	while (pos != &p->unacked && list_entry(pos, struct rdsb_msg, item)->end_off > m->end_off)
		pos = pos->prev;
	list_add(&m->item, pos);
	p->nunacked++;
	p->ack_wake |= m->ack_wake;
}

static void insert_retransmit(struct rdsb_path *p, struct rdsb_msg *m)
{
	struct list_head *pos = &p->send_q;

	if (p->head_off && !list_empty(&p->send_q))
		pos = pos->next;	/* a record half written stays first */
	while (pos->next != &p->send_q) {
		struct rdsb_msg *n = list_entry(pos->next, struct rdsb_msg, item);

		if (n->cong_map || !(n->flags & RDS_FLAG_RETRANSMITTED) || n->seq > m->seq)
			break;
		pos = pos->next;
	}
	list_add(&m->item, pos);
}

/* The engine's copy of a datagram an application sent on a path socket. */
void tcp_skmsg_copy(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m)
{
	const struct rdsb_send_req *r = &s->req;
	struct rdsb_conn *c = rdsb_conn_get(e, s->addr, r->daddr, 0, false);
	struct rdsb_path *p;

	if (!c || c->loopback || r->path >= RDS_MPATH_WORKERS || !r->seq) {
		rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
		rdsb_sock_sent(e, m->sock_id, m->len);
		rdsb_msg_free(m);
		return;
	}
	p = &c->paths[r->path];
	m->seq = r->seq;
	m->end_off = r->end_off;
	p->tx_msgs++;
	p->tx_bytes += m->len;
	rdsb_count(e, RDSB_C_TX_MSGS);
	if (tcp_path(p)->direct && r->epoch == tcp_path(p)->epoch) {
		insert_unacked(p, m);
		return;
	}
	/* sent on a socket that is gone since */
	m->flags |= RDS_FLAG_RETRANSMITTED;
	rdsb_count(e, RDSB_C_TX_RETRANSMITTED);
	insert_retransmit(p, m);
	if (p->state == RDSB_PATH_UP)
		rdsb_path_xmit(e, p);
}
