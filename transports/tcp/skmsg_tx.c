// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path, engine side (the program: skmsg_tx.bpf.c, the
 * library side: user/lib/skmsg_send.c). On `load --bpf` every application socket
 * gets a send socket, one end of a TCP loopback connection in rdsb_apptx,
 * and a path socket joins rdsb_txsk once the connection's path count is
 * known and the engine has nothing of its own left to write on it. From
 * then on an application writes its datagrams on the path socket itself,
 * through rdsb_txmsg, under the path's lock (rdsb_txpath). The engine keeps
 * a copy of each until TCP acknowledges it, to retransmit it if the path's
 * socket goes down: the library leaves the payload in the socket's copy
 * ring and the program tells the engine what went out (rdsb_txcopy), with
 * no write and no wakeup; the engine reads them when it is awake anyway,
 * on a timer, or when a sender short of send space asks. Sequence numbers
 * are the engine's and the program's (rdsb_txseq), never an application's.
 * The engine writes under the same lock, so that records never interleave
 * and sequence numbers rise on the wire; it closes the path to applications
 * while it has records of its own queued, and across a reconnect until the
 * retransmissions, copies included, are written on the new socket.
 */
#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
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
#define TXSEQ_BYTES (TXPATHS * sizeof(struct rdsb_txseq))
#define TXLOCK_BYTES (TXPATHS * sizeof(struct rdsb_txlock))
/* How long copies may wait in rdsb_txcopy while applications send: how
 * long acknowledged copies hold their senders' send space, against what the
 * engine pays to read them. Once a reading finds none the timer stops:
 * a sender past half its send space asks for a reading (RDSB_TXH_WAKE). */
#define COPIES_READ_NS (5 * 1000 * 1000ull)
/* What applications may have written and TCP not yet acknowledged on a path
 * before they hand their datagrams to the engine again: well inside the
 * socket's send buffer, so that a send never waits for room there. */
#define DIRECT_LIMIT (1u << 20)
/* How long after the engine wrote several applications' datagrams on a
 * connection in one pass senders keep handing theirs to it (busy): under
 * load a datagram that found the path idle for a moment and went out alone
 * cost a TCP segment and its receive of its own (on veth, in the sender's
 * own call), where in the engine's batch it shares them. */
#define BUSY_NS (1000 * 1000ull)
#define PATH_SNDBUF (4 << 20)
/* The redirect's push into a path socket waits for room there with the
 * path socket's send timeout, not the sender's (SO_SNDTIMEO is not passed
 * on): the limit above keeps it from waiting at all, and should it wait
 * anyway (the kernel short of TCP memory), it gives up after this long; the
 * record is cut short and the engine resets the path and sends it again. */
#define PUSH_WAIT_S 1

static uint32_t txindex(const struct rdsb_path *p)
{
	return (uint32_t)p->conn->fslot * RDS_MPATH_WORKERS + p->index;
}

static struct rdsb_txpath *txp(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return &tcp_of(e)->txpath[txindex(p)];
}

/* The connection's first entry, which holds what is the connection's:
 * npaths, busy_until_ns */
static struct rdsb_txpath *conn_txp(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return &tcp_of(e)->txpath[(uint32_t)p->conn->fslot * RDS_MPATH_WORKERS];
}

static struct rdsb_txlock *txl(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return &tcp_of(e)->txlock[txindex(p)];
}

static struct rdsb_txseq *txs(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return &tcp_of(e)->txseq[txindex(p)];
}

static int on_copy(void *ctx, void *data, size_t size);

/* rdsb_txcopy: read when a sender asks (epoll), and its positions, so that
 * the timer sees whether there is anything to read without reading. */
static int copies_init(struct rdsb_engine *e, int fd)
{
	struct rdsb_tcp *t = tcp_of(e);
	long page = sysconf(_SC_PAGESIZE);
	void *cons = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
	void *prod = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, page);

	t->copies_cons = cons == MAP_FAILED ? NULL : cons;
	t->copies_prod = prod == MAP_FAILED ? NULL : prod;
	t->copies = ring_buffer__new(fd, on_copy, e, NULL);
	if (!t->copies || !t->copies_cons || !t->copies_prod)
		return -1;
	t->copies_ev.kind = EV_TRANSPORT;
	t->copies_ev.fd = ring_buffer__epoll_fd(t->copies);
	return rdsb_ev_set(e, &t->copies_ev, EPOLLIN);
}

static void copies_exit(struct rdsb_engine *e)
{
	struct rdsb_tcp *t = tcp_of(e);
	long page = sysconf(_SC_PAGESIZE);

	if (t->copies_ev.fd >= 0)
		rdsb_ev_del(e, &t->copies_ev);
	t->copies_ev.fd = -1;
	ring_buffer__free(t->copies);
	t->copies = NULL;
	if (t->copies_cons)
		munmap((void *)t->copies_cons, (size_t)page);
	if (t->copies_prod)
		munmap((void *)t->copies_prod, (size_t)page);
	t->copies_cons = t->copies_prod = NULL;
}

/* The paths' locks, in a memfd that every sender maps (futexes do not work
 * on BPF map memory), sealed at its size: a sender holds a writable fd of
 * it, and a file shrunk under the others would kill them (SIGBUS) as they
 * touch a lock. */
static int locks_init(struct rdsb_engine *e)
{
	int fd = memfd_create("rdsb_txlock", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	tcp_of(e)->txlock_fd = fd;
	if (fd < 0 || ftruncate(fd, TXLOCK_BYTES) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		return -1;
	tcp_of(e)->txlock = mmap(NULL, TXLOCK_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return tcp_of(e)->txlock == MAP_FAILED ? -1 : 0;
}

/* Without an engine (rds-bpf features): whether rdsb_txmsg loads here. */
int tcp_skmsg_probe(const char **how, const char **hint)
{
	struct skmsg_tx *skel = skmsg_tx__open_and_load();
	int err = skel ? 0 : -errno;

	skmsg_tx__destroy(skel);
	*how = "the sk_msg program rdsb_txmsg";
	*hint = err == -EPERM ? "hint: needs CAP_BPF and CAP_NET_ADMIN, or root" :
		err ? "hint: rerun with -vv for libbpf's log" : NULL;
	return err;
}

/* ASKED (--sk-msg): load stops without it; else sends take the engine's
 * path, after one line saying why. */
int tcp_skmsg_init(struct rdsb_engine *e, bool asked)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *then = asked ? "load --sk-msg stops (with --no-sk-msg, sends take the engine's path)"
				 : "sends take the engine's path";
	struct skmsg_tx *skel = skmsg_tx__open();
	int err = skel ? rdsb_bpf_load_shared(e, skel->obj) : -errno;

	if (err) {
		rdsb_bpf_explain("the sk_msg send program", err, then);
		skmsg_tx__destroy(skel);
		return err;
	}
	tcp_of(e)->skmsg_obj = skel;

	tcp_of(e)->txsk_fd = bpf_map__fd(skel->maps.rdsb_txsk);
	tcp_of(e)->apptx_fd = bpf_map__fd(skel->maps.rdsb_apptx);
	tcp_of(e)->txsock_fd = bpf_map__fd(skel->maps.rdsb_txsock);
	tcp_of(e)->txpath_fd = bpf_map__fd(skel->maps.rdsb_txpath);
	tcp_of(e)->txseq = mmap(NULL, TXSEQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
				bpf_map__fd(skel->maps.rdsb_txseq), 0);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_txmsg), tcp_of(e)->apptx_fd, BPF_SK_MSG_VERDICT, 0)) {
		pr_warn("rds-bpf: cannot attach the sk_msg program: %s; %s\n", strerror(errno), then);
		tcp_skmsg_exit(e);
		return -1;
	}
	tcp_of(e)->txpath = mmap(NULL, TXPATH_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, tcp_of(e)->txpath_fd, 0);
	tcp_of(e)->self = getpid();
	tcp_of(e)->tx_owner = calloc(TXPATHS, sizeof(*tcp_of(e)->tx_owner));
	tcp_of(e)->tx_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp_of(e)->txpath == MAP_FAILED || tcp_of(e)->txseq == MAP_FAILED || !tcp_of(e)->tx_owner ||
	    locks_init(e) || copies_init(e, bpf_map__fd(skel->maps.rdsb_txcopy)) || tcp_of(e)->tx_listen < 0 ||
	    bind(tcp_of(e)->tx_listen, (struct sockaddr *)&sin, sizeof(sin)) || listen(tcp_of(e)->tx_listen, 16)) {
		pr_warn("rds-bpf: no send sockets (%s; hint: the loopback interface must be up); %s\n",
			strerror(errno), then);
		tcp_skmsg_exit(e);
		return -1;
	}
	return 0;
}

void tcp_skmsg_exit(struct rdsb_engine *e)
{
	if (tcp_of(e)->txlock && tcp_of(e)->txlock != MAP_FAILED)
		munmap(tcp_of(e)->txlock, TXLOCK_BYTES);
	tcp_of(e)->txlock = NULL;
	if (tcp_of(e)->txlock_fd >= 0)
		close(tcp_of(e)->txlock_fd);
	tcp_of(e)->txlock_fd = -1;
	if (tcp_of(e)->txpath && tcp_of(e)->txpath != MAP_FAILED)
		munmap(tcp_of(e)->txpath, TXPATH_BYTES);
	tcp_of(e)->txpath = NULL;
	if (tcp_of(e)->txseq && tcp_of(e)->txseq != MAP_FAILED)
		munmap(tcp_of(e)->txseq, TXSEQ_BYTES);
	tcp_of(e)->txseq = NULL;
	copies_exit(e);
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
 * redirects or drops every byte), and its copy ring after the socket's
 * shared page. Returns its fd, for the OPEN reply, or -1. */
int tcp_skmsg_sock_open(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint32_t idx = (uint32_t)tcp_sock(s)->idx;
	uint64_t val;
	void *ring;
	int c;

	tcp_sock(s)->tx_peer = -1;
	if (!tcp_of(e)->txpath || tcp_sock(s)->idx < 0 || getsockname(tcp_of(e)->tx_listen, (struct sockaddr *)&sin, &len))
		return -1;
	ring = mmap(NULL, RDSB_TXRING_BYTES, PROT_READ, MAP_SHARED, s->shm_fd, 4096);
	if (ring == MAP_FAILED)
		return -1;
	tcp_sock(s)->ring = ring;
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
	munmap(tcp_sock(s)->ring, RDSB_TXRING_BYTES);
	tcp_sock(s)->ring = NULL;
	return -1;
}

void tcp_skmsg_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_txsock ts = { .slot = (uint32_t)s->slot, .port = s->port, .idx = (uint32_t)tcp_sock(s)->idx };
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
	tcp_skmsg_drain(e);	/* its copies, before its ring goes */
	munmap(tcp_sock(s)->ring, RDSB_TXRING_BYTES);
	tcp_sock(s)->ring = NULL;
}

/* A path lock held by a process that died, or for longer than a second:
 * the engine takes it (the path is being reset anyway). Whatever the
 * holder left, a record cut short or numbered and never written, the path
 * is broken. */
static void lock_wait(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txlock *l = txl(e, p);

	if (rdsb_txlock(l, tcp_of(e)->self))
		return;
	rdsb_count(e, RDSB_C_TX_LOCK_STOLEN);
	__atomic_store_n(&l->lock, 1, __ATOMIC_SEQ_CST);
	l->owner = (uint32_t)tcp_of(e)->self;
	__atomic_store_n(&txp(e, p)->reset, 1, __ATOMIC_RELEASE);
}

/* Open to applications: not while the connection moves to another path
 * count (tcp_skmsg_conn_moving). */
static bool wanted(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return tcp_of(e)->txpath && p->state == RDSB_PATH_UP && p->conn->npaths && !p->conn->moving &&
	       !p->conn->loopback && p->ev.fd >= 0;
}

/* A record left corked (MSG_MORE) for a waiter that never pushed it (the
 * waiter was killed, or handed its datagram to the engine instead): pushed
 * out, and the waiters' count, which a killed one leaves too high, starts
 * again. False when an application holds the lock: the timer comes back. */
static bool push_corked(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t = txp(e, p);
	struct rdsb_txlock *l = txl(e, p);
	int on = 1;

	if (!__atomic_load_n(&t->corked, __ATOMIC_RELAXED))
		return true;
	if (!rdsb_txlock_try(l, tcp_of(e)->self))
		return false;
	setsockopt(p->ev.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));	/* pushes pending frames */
	t->corked = 0;
	rdsb_txlock_recount(l);
	rdsb_txunlock(l);
	return true;
}

/* The path's entry serves the connection from this local address (the
 * same peer from another: one of them, open_path). */
static bool entry_of(struct rdsb_engine *e, const struct rdsb_path *p)
{
	return txp(e, p)->lslot == (uint32_t)p->conn->lslot;
}

/* The senders' copies of what TCP acknowledged may go: the number the
 * engine keeps for a restart (rdsb_seqstate), after this pass's acks. */
static void acked_seq_publish(struct rdsb_engine *e, const struct rdsb_path *p)
{
	const struct rdsb_seq_path *sp = rdsb_seqstate_path(p);

	if (sp && entry_of(e, p) && sp->acked_seq != txp(e, p)->acked_seq)
		__atomic_store_n(&txp(e, p)->acked_seq, sp->acked_seq, __ATOMIC_RELEASE);
}

/* Copies of what applications sent on a path's last socket may be unread:
 * each goes into the retransmissions, in sequence order, before anything is
 * written on the path's new socket. Read from the transport's timer, not
 * from inside a write: reading them queues messages, which writes on other
 * paths. Unread copies bring the timer back. */
void tcp_skmsg_read_copies(struct rdsb_engine *e, uint64_t *next)
{
	bool some = __atomic_load_n(tcp_of(e)->copies_prod, __ATOMIC_ACQUIRE) !=
		    __atomic_load_n(tcp_of(e)->copies_cons, __ATOMIC_ACQUIRE);
	struct rdsb_conn *c;

	if (some) {
		tcp_skmsg_drain(e);
		if (e->now + COPIES_READ_NS < *next)
			*next = e->now + COPIES_READ_NS;
	}

	list_for_each_entry(c, &e->conns, item)
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];

			if (!p->t_data)
				continue;
			acked_seq_publish(e, p);
			if (tcp_path(p)->copies_pending && p->state == RDSB_PATH_UP)
				tcp_path(p)->copies_pending = false;
			if (tcp_path(p)->direct && !push_corked(e, p) && e->now + COPIES_READ_NS < *next)
				*next = e->now + COPIES_READ_NS;
		}
}

/* How much more the path socket can queue (SO_MEMINFO), for the senders'
 * charges from now on: read before the socket, the charges of records the
 * socket holds already count twice, never none. Without the lock: a sender
 * charges its record after pushing it. While the connection is busy no
 * sender pushes (path_idle): none, and no system call per write and ack;
 * the first write or ack after it looks again. */
static void look_room(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t = txp(e, p);
	uint64_t charged = __atomic_load_n(&t->charged, __ATOMIC_ACQUIRE);
	uint32_t mem[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mem);
	uint64_t room = 0;

	if (e->now < __atomic_load_n(&conn_txp(e, p)->busy_until_ns, __ATOMIC_RELAXED)) {
		__atomic_store_n(&t->room, 0, __ATOMIC_RELEASE);
		return;
	}
	if (!getsockopt(p->ev.fd, SOL_SOCKET, SO_MEMINFO, mem, &len) &&
	    mem[SK_MEMINFO_SNDBUF] > mem[SK_MEMINFO_WMEM_QUEUED])
		room = mem[SK_MEMINFO_SNDBUF] - mem[SK_MEMINFO_WMEM_QUEUED];
	__atomic_store_n(&t->room, charged + room, __ATOMIC_RELEASE);
}

/* Called with the lock held, when the engine has nothing of its own left. */
static void open_path(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_txpath *t)
{
	uint32_t idx = txindex(p);
	uint64_t fd = (uint64_t)p->ev.fd;
	struct timeval push_wait = { .tv_sec = PUSH_WAIT_S };
	int buf = PATH_SNDBUF, outq = 0;

	if (tcp_of(e)->tx_owner[idx] && tcp_of(e)->tx_owner[idx] != p)
		return;	/* the same peer from another local address: one of them */
	setsockopt(p->ev.fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	setsockopt(p->ev.fd, SOL_SOCKET, SO_SNDTIMEO, &push_wait, sizeof(push_wait));
	if (bpf_map_update_elem(tcp_of(e)->txsk_fd, &idx, &fd, BPF_ANY)) {
		pr_debug("rds-bpf: path %u: not open to applications: %s\n", p->index, strerror(errno));
		return;
	}
	t->lslot = (uint32_t)p->conn->lslot;
	t->npaths = p->conn->npaths;
	t->epoch = txs(e, p)->epoch = tcp_path(p)->epoch;
	txs(e, p)->ss = p->conn->ss ? (uint32_t)(p->conn->ss - e->seqstate) : 0;
	t->reset = 0;
	t->limit = DIRECT_LIMIT;
	/* what the engine wrote and TCP holds still counts against the limit */
	if (ioctl(p->ev.fd, SIOCOUTQ, &outq) < 0 || outq < 0)
		outq = 0;
	t->acked = tcp_path(p)->written > (uint64_t)outq ? tcp_path(p)->written - (uint64_t)outq : 0;
	__atomic_store_n(&t->acked_now, t->acked, __ATOMIC_RELEASE);
	/* the handshake's, until the sock_ops program writes it at an ack (or
	 * for good, where none runs) */
	__atomic_store_n(&t->rtt_min_us, tcp_min_rtt_us(p->ev.fd), __ATOMIC_RELAXED);
	conn_txp(e, p)->npaths = p->conn->npaths;
	tcp_of(e)->tx_owner[idx] = p;
	tcp_path(p)->direct = true;
}

/* Several applications' datagrams written on the connection in one pass of
 * the engine: senders queue faster than the paths take them one by one;
 * theirs join the engine's next batches too (busy_until_ns). */
static void busy(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_tcp *t = tcp_of(e);
	uint32_t fs = (uint32_t)p->conn->fslot;

	if (t->tx_pass[fs] != e->now) {
		t->tx_pass[fs] = e->now;
		t->tx_pass_datagrams[fs] = 0;
	}
	t->tx_pass_datagrams[fs] += tcp_path(p)->tx_datagrams;
	if (t->tx_pass_datagrams[fs] > 1)
		__atomic_store_n(&conn_txp(e, p)->busy_until_ns, e->now + BUSY_NS, __ATOMIC_RELAXED);
}

/* Before the engine writes on a path: 0 when no application can write on it
 * (the engine writes alone), 1 with the path's lock held and the engine's
 * view of the stream brought up to date, -1 when an application holds the
 * lock (the engine tries again on its next pass). */
int tcp_skmsg_begin(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (tcp_path(p)->copies_pending || tcp_skmsg_broken(e, p)) {
		/* not before tcp_skmsg_read_copies, from the timer; not on a
		 * stream an application broke, which the timer resets */
		tcp_path(p)->tx_busy = true;
		return -1;
	}
	if (!tcp_path(p)->direct && !wanted(e, p))
		return 0;
	if (!rdsb_txlock_try(txl(e, p), tcp_of(e)->self)) {
		/* A process that died holding it may have left a record cut
		 * short on the wire: the path is reset (tcp_skmsg_broken),
		 * which takes the lock back. */
		if (tcp_path(p)->direct && rdsb_txlock_holder_dead(txl(e, p)))
			__atomic_store_n(&txp(e, p)->reset, 1, __ATOMIC_RELEASE);
		tcp_path(p)->tx_busy = true;
		return -1;
	}
	tcp_path(p)->tx_busy = false;
	if (tcp_path(p)->direct) {
		tcp_path(p)->written = txs(e, p)->written;
		p->next_tx_seq = txs(e, p)->next_tx_seq;
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
		if (t->written != tcp_path(p)->written)
			t->written_ns = e->now;	/* the engine wrote: the senders' clock */
		busy(e, p);
		t->written = txs(e, p)->written = tcp_path(p)->written;
		txs(e, p)->next_tx_seq = p->next_tx_seq;
		look_room(e, p);	/* after what the engine wrote */
		__atomic_store_n(&t->open, idle && wanted(e, p) ? 1 : 0, __ATOMIC_RELEASE);
	}
	rdsb_txunlock(txl(e, p));
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
	if (!rdsb_txlock_try(txl(e, p), tcp_of(e)->self)) {
		shutdown(p->ev.fd, SHUT_WR);
		lock_wait(e, p);
	}
	/* what is acknowledged counts from here (path_shutdown): not past a
	 * record the socket never took (tcp_skmsg_sync_written) */
	if (!tcp_skmsg_broken(e, p))
		tcp_path(p)->written = txs(e, p)->written;
	p->next_tx_seq = txs(e, p)->next_tx_seq;
	t->epoch = txs(e, p)->epoch = ++tcp_path(p)->epoch;
	rdsb_txunlock(txl(e, p));
	tcp_of(e)->tx_owner[idx] = NULL;
	tcp_path(p)->direct = false;
	tcp_path(p)->copies_pending = true;
}

/* The connection's path count changes: a port's next datagram may take
 * another path, where it could overtake what its socket wrote on the old
 * one. Applications stop writing on the paths here, under each path's
 * lock, and the copies of what they wrote join the paths' unacked lists,
 * so that the core holds new sends until those are acknowledged
 * (c->moving); the paths open again on the engine's next pass after. */
void tcp_skmsg_conn_moving(struct rdsb_engine *e, struct rdsb_conn *c)
{
	bool closed = false;

	for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
		struct rdsb_path *p = &c->paths[i];

		if (!p->t_data || !tcp_path(p)->direct)
			continue;
		lock_wait(e, p);
		__atomic_store_n(&txp(e, p)->open, 0, __ATOMIC_RELEASE);
		rdsb_txunlock(txl(e, p));
		closed = true;
	}
	if (closed)
		tcp_skmsg_drain(e);
}

/* The peer restarted: its sequence space starts again at 1, and what the
 * senders kept of the one before is flushed, as the engine's own. */
void tcp_skmsg_seq_reset(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t;

	if (!tcp_of(e)->txpath || !entry_of(e, p))
		return;
	t = txp(e, p);
	__atomic_store_n(&t->acked_seq, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->seq_gen, 1, __ATOMIC_RELEASE);
	if (!tcp_path(p)->direct)
		return;
	lock_wait(e, p);
	txs(e, p)->next_tx_seq = p->next_tx_seq;
	rdsb_txunlock(txl(e, p));
}

/* Where acknowledgements are counted from: the stream as applications and
 * engine wrote it, as rdsb_txmsg counts it. The program counts a record
 * before it is in the socket, so the count is read under the path's lock,
 * which senders hold across their sendmsg; while one holds it, the last
 * count stands, and SIOCOUTQ after it only makes the acknowledged count
 * smaller, never more than rdsb_txpath's written. On a broken path the
 * count has records the socket never took (their push failed): the last
 * count before stands until the reset, so that what went after them is
 * not taken for acknowledged, and their copies are retransmitted. */
void tcp_skmsg_sync_written(struct rdsb_engine *e, struct rdsb_path *p)
{
	struct rdsb_txpath *t = txp(e, p);

	if (!tcp_path(p)->direct || !rdsb_txlock_try(txl(e, p), tcp_of(e)->self))
		return;
	/* and the libraries' view of it, which a record written past the
	 * library (rds-txraw) leaves behind */
	if (!tcp_skmsg_broken(e, p))
		t->written = tcp_path(p)->written = __atomic_load_n(&txs(e, p)->written, __ATOMIC_ACQUIRE);
	rdsb_txunlock(txl(e, p));
}

void tcp_skmsg_acked(struct rdsb_engine *e, struct rdsb_path *p, uint64_t acked)
{
	if (!tcp_path(p)->direct)
		return;
	tcp_path(p)->acked = acked;
	__atomic_store_n(&txp(e, p)->acked, acked, __ATOMIC_RELEASE);
	/* and the senders' look at the path where no sock_ops program
	 * follows its acks (no cgroup v2): only on, as the program's */
	if (acked > __atomic_load_n(&txp(e, p)->acked_now, __ATOMIC_ACQUIRE))
		__atomic_store_n(&txp(e, p)->acked_now, acked, __ATOMIC_RELEASE);
	look_room(e, p);	/* what TCP acknowledged left the socket */
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
	/* among those whose space came back: look from the head again */
	if (p->space_last && p->space_last->end_off > m->end_off)
		p->space_last = NULL;
	list_add(&m->item, pos);
	p->nunacked++;
	p->ack_wake |= m->ack_wake;
}

/* The connection a copy was sent on: the path's owner while it is open to
 * applications, else the socket's local address and the path's peer. */
static struct rdsb_path *copy_path(struct rdsb_engine *e, const struct rdsb_sock *s, uint32_t idx)
{
	struct rdsb_path *p = tcp_of(e)->tx_owner[idx];
	struct rdsb_conn *c;

	if (p)
		return p;
	list_for_each_entry(c, &e->conns, item)
		if (c->lslot == s->slot && (uint32_t)c->fslot == idx / RDS_MPATH_WORKERS && !c->loopback)
			return &c->paths[idx % RDS_MPATH_WORKERS];
	return NULL;
}

/* The copy's payload, from the ring. The library never lets one wrap
 * (rdsb_txring_at); a position it made up wraps rather than reading past
 * the mapping. */
static void ring_read(const uint8_t *ring, uint32_t pos, uint8_t *to, uint32_t len)
{
	uint32_t off = pos & (RDSB_TXRING_BYTES - 1), first = RDSB_TXRING_BYTES - off;

	if (first > len)
		first = len;
	memcpy(to, ring + off, first);
	memcpy(to + first, ring, len - first);
}

/* Acknowledged already? Looked at once per reading of the copies. */
static bool copy_acked(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_txcopy *c)
{
	if (!tcp_path(p)->direct || c->epoch != tcp_path(p)->epoch)
		return false;
	if (tcp_path(p)->acked < c->end_off && tcp_path(p)->acked_gen != tcp_of(e)->copies_gen) {
		tcp_path(p)->acked_gen = tcp_of(e)->copies_gen;
		e->tp->acked(e, p);
	}
	return rdsb_path_forget(p, c->seq, c->end_off, tcp_path(p)->acked);
}

/* One copy of a datagram an application sent on a path socket: dropped if
 * TCP acknowledged it already, else kept until it does (the path's unacked
 * list), or retransmitted if it went out on a socket that is gone since. */
static int on_copy(void *ctx, void *data, size_t size)
{
	struct rdsb_engine *e = ctx;
	const struct rdsb_txcopy *c = data;
	struct rdsb_sock *s = size >= sizeof(*c) && c->idx < RDSB_MAX_SOCKS ? tcp_of(e)->sock_at[c->idx] : NULL;
	struct rdsb_path *p = s && tcp_sock(s)->ring && c->path < TXPATHS ? copy_path(e, s, c->path) : NULL;
	struct rdsb_msg *m;

	if (!p || !rdsb_msg_size_ok(c->len)) {
		/* its socket is gone, and its payload with it */
		rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
		return 0;
	}
	p->tx_msgs++;
	p->tx_bytes += c->len;
	rdsb_count(e, RDSB_C_TX_MSGS);
	s->tx_bytes += c->len;	/* until rdsb_sock_sent */
	if (copy_acked(e, p, c)) {
		rdsb_sock_ring_release(s, c->pos + c->len);
		rdsb_sock_sent(e, s->id, c->len);
		return 0;
	}
	m = rdsb_msg_new(c->len);
	if (!m) {
		rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
		rdsb_sock_sent(e, s->id, c->len);
		return 0;
	}
	ring_read(tcp_sock(s)->ring, c->pos, m->data, c->len);
	rdsb_sock_ring_release(s, c->pos + c->len);
	m->sock_id = s->id;
	m->sport = c->sport;
	m->dport = c->dport;
	m->seq = c->seq;
	m->end_off = c->end_off;
	m->ack_wake = rdsb_sock_ack_wake(s);
	if (tcp_path(p)->direct && c->epoch == tcp_path(p)->epoch) {
		insert_unacked(p, m);
		return 0;
	}
	rdsb_path_retransmit_late(e, p, m);	/* sent on a socket that is gone since */
	return 0;
}

void tcp_skmsg_drain(struct rdsb_engine *e)
{
	if (!tcp_of(e)->copies)
		return;
	tcp_of(e)->copies_gen++;
	ring_buffer__consume(tcp_of(e)->copies);
}
