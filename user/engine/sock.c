// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Application sockets as the engine sees them: a control connection, a
 * delivery stream (socketpair) whose other end the application holds, and a
 * shared page for send accounting. Here live the bind table, the delivery
 * queue with its receive-buffer accounting, and the local congestion bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "engine.h"
#include "../common/addr.h"
#include "../common/ctl_proto.h"
#include "../common/log.h"
#include "../common/sysctl.h"

#define STREAM_BUF (4 << 20)
/* Past this in its queue, or hard_limit + STREAM_BUF unread when it
 * delivers into its own stream, the engine stops reading the path that
 * feeds the socket: the receive buffer is a soft limit (congestion), this
 * one is hard. */
#define RX_HARD_MIN (8u << 20)
/* An event batch writes a socket's deliveries at its end, or once this much
 * waits (the event loop's batch_end, engine.c). */
#define RX_DUE_MAX (64u * 1024)
#define CONG_POLL (2 * 1000000ull)

static uint32_t default_rcvbuf(void)
{
	return (uint32_t)rdsb_sysctl_int("rmem_default", 212992) / 2;
}

/* The library's default: wmem_default at socket(), of which half is payload
 * (rds_sk_sndbuf). */
static uint32_t default_sndbuf(void)
{
	return (uint32_t)rdsb_sysctl_int("wmem_default", 212992) / 2;
}

static uint64_t hard_limit(const struct rdsb_sock *s)
{
	uint64_t h = 4ull * s->rcvbuf;

	return h > RX_HARD_MIN ? h : RX_HARD_MIN;
}

/* The engine end's send buffer grows to take what the socket holds (an
 * accepted record waits in no queue of the engine's across an event
 * batch: a killed engine would lose it): SO_SNDBUFFORCE doubles it, and
 * the stream's skbs cost more than their bytes. */
static uint64_t stream_cap(const struct rdsb_sock *s)
{
	return 2 * (hard_limit(s) + STREAM_BUF);
}

static bool stream_resize(struct rdsb_sock *s, int buf)
{
	if (setsockopt(s->data.fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		return false;
	s->stream_buf = buf;
	return true;
}

static bool stream_grow(struct rdsb_sock *s, uint64_t bytes)
{
	int buf = bytes < INT_MAX / 2 ? (int)bytes : INT_MAX / 2;

	return buf > s->stream_buf && stream_resize(s, buf);
}

static uint64_t port_hash(const struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	uint8_t key[18];

	memcpy(key, addr, 16);
	memcpy(key + 16, &port, 2);
	return rdsb_hash_mem(key, sizeof(key), e->hash_initval);
}

/* Requests are read while the socket's unacknowledged payload is below
 * twice its sndbuf: the library lets a message out while less than sndbuf
 * is queued, so only a program writing its stream past it is held. */
static bool tx_room(const struct rdsb_sock *s)
{
	return s->tx_bytes < 2ull * s->sndbuf;
}

struct rdsb_sock *rdsb_sock_by_id(struct rdsb_engine *e, uint32_t id)
{
	struct rdsb_hnode *n;

	if (!id)
		return NULL;
	rdsb_hash_for_each(&e->socks_by_id, n, rdsb_hash_u64(id)) {
		struct rdsb_sock *s = container_of(n, struct rdsb_sock, id_node);

		if (s->id == id)
			return s;
	}
	return NULL;
}

struct rdsb_sock *rdsb_sock_by_port(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	struct rdsb_hnode *n;

	rdsb_hash_for_each(&e->socks_by_port, n, port_hash(e, addr, port)) {
		struct rdsb_sock *s = container_of(n, struct rdsb_sock, port_node);

		if (s->port == port && !memcmp(s->addr, addr, 16))
			return s;
	}
	return NULL;
}

/* The OPEN reply's fds: the socket's 5, and the transport's (at most 3) */
#define REPLY_FDS 8

static int send_fds(int fd, const struct rdsb_ctl_rep *rep, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * REPLY_FDS)] = { 0 };
	struct iovec iov = { .iov_base = (void *)rep, .iov_len = sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The errno for an application whose socket the engine could not serve:
 * out of the engine's descriptors (its own, not the application's: the
 * call fails as the kernel's does when it has no memory for one, logged
 * once with the hint), or err as it is. */
static int fds_short(struct rdsb_engine *e, int err)
{
	if (err != EMFILE && err != ENFILE)
		return err;
	/* its control connection, stream, page and space eventfd, its library's
	 * page (ATTACH), and with sk_msg sends the engine's end of its send socket */
	if (!e->fds_warned++)
		pr_warn("rds-bpf: out of file descriptors (%s) for a socket: it fails with ENOBUFS; "
			"hint: raise the engine's open-files limit (LimitNOFILE, ulimit -Hn), %d per socket\n",
			strerror(err), e->number_at_xmit ? 6 : 5);
	return ENOBUFS;
}

void rdsb_sock_open(struct rdsb_engine *e, int ctl_fd)
{
	struct rdsb_ctl_rep rep = { .abi = RDSB_ABI };
	struct rdsb_sock *s = calloc(1, sizeof(*s));
	int sv[2] = { -1, -1 }, buf = STREAM_BUF, fds[REPLY_FDS], ntp;

	if (!s)
		goto fail;
	s->eng = e;
	s->shm_fd = memfd_create("rdsb_sock", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	s->lib_fd = -1;
	s->space_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* the page, the copy ring, the numbers of the requests and the
	 * request queue (maps.h, RDSB_SEQTAB_OFF, RDSB_REQQ_OFF): pages of a
	 * memfd are made as touched. Sealed at
	 * its size: the application holds it too, and a file shrunk under the
	 * engine's mappings would kill the engine (SIGBUS). */
	if (s->shm_fd < 0 || s->space_fd < 0 || ftruncate(s->shm_fd, RDSB_REQQ_OFF + RDSB_REQQ_BYTES) < 0 ||
	    fcntl(s->shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	s->shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, 0);
	if (s->shm == MAP_FAILED)
		goto fail;
	s->seqtab = mmap(NULL, RDSB_SEQTAB_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, RDSB_SEQTAB_OFF);
	if (s->seqtab == MAP_FAILED) {
		munmap(s->shm, 4096);
		goto fail;
	}
	s->reqq = mmap(NULL, RDSB_REQQ_BYTES, PROT_READ, MAP_SHARED, s->shm_fd, RDSB_REQQ_OFF);
	if (s->reqq == MAP_FAILED) {
		munmap(s->shm, 4096);
		munmap(s->seqtab, RDSB_SEQTAB_BYTES);
		goto fail;
	}
	INIT_LIST_HEAD(&s->rq_active);
	/* not on e->rq_active: the first request queued wakes the engine */
	s->shm->rq_armed = 1;
	INIT_LIST_HEAD(&s->tx_reqs);
	s->shm->cong_gen = e->cong_gen;
	/* Large enough for a whole 1 MiB record in each direction, so the
	 * library can peek a record whole and never writes half of one. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	s->stream_buf = buf;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	/* The application's end: no limit of its own. A unix stream writer
	 * never looks at it, but the BPF receive path's psock does: past it,
	 * what the verdict redirected waits in the psock's backlog, each
	 * record charged as the whole TCP skb it was cloned from (up to 64 KiB
	 * for a few bytes), and a reader that finds the psock queue empty
	 * reads on in the socket's own, which after an engine's death is its
	 * end: what waited in the backlog was lost (126 of 150 records of
	 * 500 B read after a kill -9). The receive buffer the application set
	 * (congestion, the engine's accounting) bounds what is queued. */
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &(int){ INT_MAX / 2 }, sizeof(int));
	{
		int fl = 1;

		ioctl(sv[0], FIONBIO, &fl);
	}
	s->id = e->next_sock_id++;
	if (!e->next_sock_id)
		e->next_sock_id = 1;
	s->ctl.kind = EV_SOCK_CTL;
	s->ctl.fd = ctl_fd;
	{
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (!getsockopt(ctl_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.pid > 0) {
			s->pid = (uint32_t)cred.pid;
			s->pid_start = rdsb_proc_start(s->pid);
			s->uid = (uint32_t)cred.uid;
		}
	}
	INIT_LIST_HEAD(&s->attached);
	{
		struct stat st;

		s->app_ino = fstat(sv[1], &st) ? 0 : st.st_ino;
	}
	s->data.kind = EV_SOCK_DATA;
	s->data.fd = sv[0];
	s->app_fd = sv[1];
	s->slot = -1;
	s->rcvbuf = default_rcvbuf();
	s->sndbuf = default_sndbuf();
	INIT_LIST_HEAD(&s->rx_q);
	INIT_LIST_HEAD(&s->stalled);
	INIT_LIST_HEAD(&s->tx_wait);
	INIT_LIST_HEAD(&s->rx_due);
	INIT_LIST_HEAD(&s->wake_due);
	list_add_tail(&s->item, &e->socks);
	if (rdsb_hash_add(&e->socks_by_id, &s->id_node, rdsb_hash_u64(s->id))) {
		list_del_init(&s->item);
		munmap(s->shm, 4096);
		munmap(s->seqtab, RDSB_SEQTAB_BYTES);
		munmap((void *)s->reqq, RDSB_REQQ_BYTES);
		errno = ENOMEM;
		goto fail;
	}
	ntp = e->tp->sock_open(e, s, &fds[5]);
	rdsb_ev_set(e, &s->ctl, EPOLLIN);
	rdsb_ev_set(e, &s->data, EPOLLIN);
	fds[0] = sv[1];
	fds[1] = s->shm_fd;
	fds[2] = e->addrs_ro_fd;
	fds[3] = e->cong_ro_fd;
	fds[4] = s->space_fd;
	rep.val = s->id;
	rep.arg = (uint32_t)e->tp->trans_id;	/* what SO_RDS_TRANSPORT may select */
	if (ntp < 0 || send_fds(ctl_fd, &rep, fds, 5 + (ntp > 0 ? ntp : 0)) < 0)
		rdsb_sock_close(e, s);
	/* the transport's fds are the application's now */
	for (int i = 0; i < ntp; i++)
		close(fds[5 + i]);
	return;
fail:
	rep.err = fds_short(e, errno ? errno : ENOMEM);
	send(ctl_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
	close(ctl_fd);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	if (s) {
		if (s->shm_fd >= 0)
			close(s->shm_fd);
		if (s->space_fd >= 0)
			close(s->space_fd);
		free(s);
	}
}

int rdsb_sock_conn_for(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t daddr[16], uint32_t scope)
{
	if (!s->bound)
		return ENOTCONN;
	return rdsb_conn_get(e, s->addr, daddr, scope ? scope : s->scope_id, true) ? 0 : ENOMEM;
}

static bool held_add(struct rdsb_engine *e, const uint8_t laddr[16], struct rdsb_msg *m,
		     struct rdsb_port_hold *hold)
{
	struct rdsb_held *h;

	if ((!hold && e->held_bytes + m->len > RDSB_HELD_MAX) || !(h = malloc(sizeof(*h))))
		return false;
	memcpy(h->laddr, laddr, 16);
	h->m = m;
	h->port_held = hold;
	list_add_tail(&h->item, &e->held);
	if (hold)
		rdsb_port_hold_charge(e, hold, m->len);
	else
		e->held_bytes += m->len;
	return true;
}

bool rdsb_hold_unbound(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m,
		       struct rdsb_port_hold *hold)
{
	if (!held_add(e, p->conn->laddr, m, hold))
		return false;
	if (hold) {
		/* in the engine's keeping as in a stream: the path's records
		 * after it go on to their sockets and the peer forgets it (else
		 * a stopped process would hold up its path, and the peer's
		 * senders, for as long as it stays stopped); in the held log
		 * first, so that a second engine death before its socket is
		 * back does not lose it */
		rdsb_heldlog_keep(e, p, m);
		if (m->rx_path)
			rdsb_msg_rx_done(m, true);
	}
	return true;
}

bool rdsb_hold_local(struct rdsb_engine *e, const struct rdsb_conn *c, struct rdsb_msg *m)
{
	struct rdsb_port_hold *hold = rdsb_port_hold_find(e, c->faddr, m->dport);

	if (hold ? rdsb_port_hold_full(hold, m->len) : e->now >= e->rebind_until)
		return false;
	if (!held_add(e, c->faddr, m, hold))
		return false;
	/* acknowledged to its sender at once, as the wire's are once held: in
	 * the held log too, held for the rebind time as for a port (no sender
	 * sends it again to the next engine) */
	rdsb_heldlog_keep_local(e, c, m);
	return true;
}

void rdsb_hold_again(struct rdsb_engine *e, struct rdsb_msg *m, const uint8_t laddr[16],
		     struct rdsb_port_hold *hold)
{
	if (!held_add(e, hold ? hold->owner->addr : laddr, m, hold))
		rdsb_msg_free(m);	/* out of memory: the next engine may take it */
}

/* Once s is bound, its records go, and those held behind them (their
 * paths' order) for sockets bound already; the others stay while a record
 * of their path before them does, or while their port is held. With s
 * NULL, the rest of what nobody bound is dropped; an engine that stops
 * drops everything it could not deliver (the peers send it again, or, for
 * a held port, the held log keeps it for the next engine). */
void rdsb_held_release(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_held *h, *t;

	list_for_each_entry_safe(h, t, &e->held, item) {
		struct rdsb_sock *to = rdsb_sock_by_port(e, h->laddr, h->m->dport);
		struct rdsb_port_hold *hold = h->port_held ? rdsb_port_hold_find(e, h->laddr, h->m->dport) : NULL;
		struct rdsb_msg *prev = rdsb_rx_before(e, h->m, to);

		if (!e->stopping && ((!to && (s || hold || e->now < e->rebind_until)) ||
				     (to && prev && !prev->rx_sock)))
			continue;
		list_del_init(&h->item);
		if (hold)
			rdsb_port_hold_charge(e, hold, -(int64_t)h->m->len);
		else if (!h->port_held)
			e->held_bytes -= h->m->len;
		if (to) {
			rdsb_sock_deliver(e, to, h->m, true);
		} else {
			/* but what the held log keeps for the next engine */
			if (!e->stopping || !h->m->held_log)
				rdsb_count(e, RDSB_C_DROP_NO_SOCKET);
			rdsb_msg_free(h->m);
		}
		free(h);
	}
	/* room in the held list, or no record held before theirs: on */
	list_splice_tail_init(&e->held_stalled, &e->rx_ready);
}

int rdsb_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t addr[16], uint32_t scope,
		   uint16_t *port, unsigned int flags)
{
	bool chosen = flags & RDSB_BIND_CHOSEN;
	struct rdsb_port_hold *hold = NULL;
	uint16_t p = *port;

	if (s->bound)
		return EINVAL;
	errno = 0;
	if (!rdsb_addr_is_local(addr, scope))
		return errno ? fds_short(e, errno) : EADDRNOTAVAIL;
	/* rds_bind: a transport the socket chose must take the address (its
	 * laddr_check); else a loopback address takes the loopback transport
	 * (rds_trans_get_preferred) and any other the engine's, if it can */
	if ((chosen || !rdsb_addr_is_loopback(addr)) && e->tp->laddr_check(e, addr, scope))
		return EADDRNOTAVAIL;
	if (p == 0) {
		/* bind.c: a random start, linear probe, skipping 0 and 1 */
		uint16_t start;
		unsigned int i;

		if (getrandom(&start, sizeof(start), 0) != sizeof(start))
			start = (uint16_t)e->now;
		if (start < 2)
			start = 2;
		for (i = 0, p = start; i < 65536; i++, p++) {
			if (p < 2)
				continue;
			if (!rdsb_sock_by_port(e, addr, p) && !rdsb_port_hold_find(e, addr, p))
				break;
		}
		if (i == 65536)
			return EADDRINUSE;
	} else if (rdsb_sock_by_port(e, addr, p)) {
		return EADDRINUSE;
	} else if ((hold = rdsb_port_hold_find(e, addr, p)) &&
		   !rdsb_port_hold_ok(hold, s, flags & RDSB_BIND_AGAIN)) {
		return EADDRINUSE;	/* the socket of the engine before holds it */
	}
	s->slot = rdsb_addr_slot(e, addr, scope, RDSB_ADDR_LOCAL);
	if (s->slot < 0)
		return EADDRNOTAVAIL;
	if (rdsb_hash_add(&e->socks_by_port, &s->port_node, port_hash(e, addr, p))) {
		rdsb_addr_put(e, s->slot);
		s->slot = -1;
		return ENOMEM;
	}
	memcpy(s->addr, addr, 16);
	s->scope_id = scope;
	s->port = p;
	s->bound = true;
	rdsb_held_release(e, s);
	*port = p;
	e->tp->sock_bind(e, s);
	rdsb_ports_bound(e, s, hold);
	return 0;
}

/* What the application has not read yet: the engine's queue, and what the
 * engine and BPF put in the stream less what the library took out of it. */
uint64_t rdsb_sock_stream_bytes(struct rdsb_engine *e, const struct rdsb_sock *s)
{
	uint64_t in = s->rx_written + e->tp->sock_delivered(e, s);
	uint64_t out = __atomic_load_n(&s->shm->rx_consumed, __ATOMIC_ACQUIRE);

	return in > out ? in - out : 0;
}

static uint64_t queued_bytes(struct rdsb_engine *e, struct rdsb_sock *s)
{
	return s->rx_q_bytes + rdsb_sock_stream_bytes(e, s);
}

/* The socket takes no record more (the path that brings it stalls):
 * what the engine delivers through the transport's outbox waits in its
 * queue past hard_limit in the stream (write_out); what goes into its
 * own stream is bounded unread. */
static bool rx_full(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (e->tp->sock_out(e, s) >= 0)
		return s->rx_q_bytes >= hard_limit(s);
	return queued_bytes(e, s) >= hard_limit(s) + STREAM_BUF;
}

struct rdsb_msg *rdsb_rx_before(struct rdsb_engine *e, struct rdsb_msg *m, struct rdsb_sock *s)
{
	struct rdsb_msg *prev;

	if (!m->rx_path || m->rx_item.prev == &m->rx_path->rx_unwritten)
		return NULL;
	prev = list_entry(m->rx_item.prev, struct rdsb_msg, rx_item);
	if (prev->rx_sock && prev->rx_sock != s) {
		rdsb_sock_flush(e, prev->rx_sock);
		if (m->rx_item.prev == &m->rx_path->rx_unwritten)
			return NULL;
		prev = list_entry(m->rx_item.prev, struct rdsb_msg, rx_item);
	}
	return prev->rx_sock == s ? NULL : prev;
}

/* rds_recv_rcvbuf_delta: congested above rcvbuf, clear below half of it.
 * BPF delivers without asking: it raises an event at the point where the
 * queue would pass rcvbuf, armed again after every check. */
void rdsb_sock_check_cong(struct rdsb_engine *e, struct rdsb_sock *s)
{
	/* a draining or stopping engine changes no port's congestion */
	if (!s->bound || e->rx_closing || e->stopping)
		return;
	for (int tries = 0; tries < 3; tries++) {
		uint64_t bytes = queued_bytes(e, s), before;

		if (!s->congested && bytes > s->rcvbuf) {
			s->congested = true;
			rdsb_cong_set_local(e, s->slot, s->port, true);
		} else if (s->congested && bytes < s->rcvbuf / 2) {
			s->congested = false;
			rdsb_cong_set_local(e, s->slot, s->port, false);
		}
		if (s->congested) {
			e->tp->sock_arm(e, s, 0);	/* the timer watches it drain */
			return;
		}
		before = e->tp->sock_delivered(e, s);
		e->tp->sock_arm(e, s, s->rcvbuf - bytes + 1);
		/* BPF may have delivered past that point before it was armed */
		if (e->tp->sock_delivered(e, s) - before <= s->rcvbuf - bytes)
			return;
	}
}

void rdsb_sock_set_rcvbuf(struct rdsb_engine *e, struct rdsb_sock *s, uint32_t bytes)
{
	s->rcvbuf = bytes;
	rdsb_ports_rcvbuf(s);
	rdsb_sock_check_cong(e, s);
}

/* The delivery record's header: the fields as the transport decoded them,
 * for the library to read as they are (rds-bpf/maps.h). */
static void delivery_hdr(void *ctx, struct rdsb_msg *m)
{
	(void)ctx;
	m->deliv = (struct rdsb_deliv_hdr){ .seq = m->seq, .decoded = RDSB_DELIV_DECODED, .len = m->len,
					    .sport = m->sport, .dport = m->dport, .flags = m->flags,
					    .slot = (uint32_t)m->from_slot, .peer_gen = m->peer_gen };
}

/* The sequence state (and the held log) say a record is received once a
 * write put it in a stream whole, not before: an engine killed between the
 * two leaves a record in the stream that its peer sends the next engine
 * again, and the library drops that copy (user/lib/recv.c, at most the
 * RDSB_DELIV_BATCH records of one write); killed before the write, it
 * leaves the record in no stream, and the peer's copy is the one. */
static void delivered(void *ctx, struct rdsb_msg *m)
{
	struct rdsb_sock *s = ctx;

	if (m->held_log)
		rdsb_heldlog_written(m);
	s->rx_q_bytes -= RDS_HEADER_SIZE + m->len;
	s->rx_written += RDS_HEADER_SIZE + m->len;
	if (m->rx_path)
		rdsb_msg_rx_done(m, true);
	rdsb_msg_free(m);
}

/* The engine reads the socket's queue on each pass from now, until it
 * finds it empty before it sleeps (rdsb_socks_rq_arm) */
static void rq_active(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (s->closed || !list_empty(&s->rq_active))
		return;
	__atomic_store_n(&s->shm->rq_armed, 0, __ATOMIC_SEQ_CST);
	list_add_tail(&s->rq_active, &e->rq_active);
}

/* The stream is read unless the socket's sends wait for a full connection
 * or for acks of its own (tx_room), and written to while deliveries wait */
static void data_events(struct rdsb_engine *e, struct rdsb_sock *s)
{
	rdsb_ev_set(e, &s->data, (s->tx_held || !tx_room(s) || s->rd_eof ? 0 : EPOLLIN) |
				 (list_empty(&s->rx_q) || e->tp->sock_out(e, s) >= 0 ? 0 : EPOLLOUT));
}

/* Deliveries through the transport's outbox reach the application's queue
 * without filling a socket buffer of the engine's: they stop once the
 * stream holds hard_limit, and the timer writes the rest as it drains. */
static int write_out(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_writer *w)
{
	int fd = e->tp->sock_out(e, s), err;

	if (fd < 0)
		return rdsb_records_write(s->data.fd, w);
	s->out_capped = rdsb_sock_stream_bytes(e, s) >= hard_limit(s);
	if (s->out_capped)
		return 0;
	w->max_bytes = OUTBOX_WRITE_MAX;	/* a datagram each (sockmap_rx.c) */
	err = rdsb_records_write(fd, w);
	if (!err && !list_empty(w->q))
		e->tp->sock_out_wait(e);
	return err;
}

void rdsb_sock_flush(struct rdsb_engine *e, struct rdsb_sock *s)
{
	uint64_t delivered_bytes = 0;
	struct rdsb_writer w = { .q = &s->rx_q, .head_off = &s->rx_head_off, .stream_off = &delivered_bytes,
				 .encode = delivery_hdr, .done = delivered, .ctx = s };
	int err;

	list_del_init(&s->rx_due);
	/* killed in the writes, the page still says no less than they took */
	__atomic_store_n(&s->shm->rx_written, s->rx_written + s->rx_q_bytes, __ATOMIC_RELEASE);
	err = write_out(e, s, &w);
	/* a full stream grows (not the outbox's: write_out) */
	while (!err && !list_empty(&s->rx_q) && e->tp->sock_out(e, s) < 0 &&
	       stream_grow(s, (uint64_t)s->stream_buf * 2 < stream_cap(s) ? (uint64_t)s->stream_buf * 2
									: stream_cap(s)))
		err = write_out(e, s, &w);
	__atomic_store_n(&s->shm->rx_written, s->rx_written, __ATOMIC_RELEASE);
	if (err)
		pr_debug("rds-bpf: socket %u: delivery: %s\n", s->id, strerror(-err));
	data_events(e, s);
	rdsb_sock_check_cong(e, s);
	if (!rx_full(e, s))
		rdsb_path_rx_resume(e, s);
}

bool rdsb_sock_deliver(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m, bool force)
{
	rdsb_rx_before(e, m, s);
	if (!force && rx_full(e, s) && !list_empty(&s->rx_due))
		rdsb_sock_flush(e, s);	/* what this batch queued may fit */
	if (!force && rx_full(e, s))
		return false;
	list_add_tail(&m->item, &s->rx_q);
	if (m->rx_path)
		m->rx_sock = s;
	s->rx_q_bytes += RDS_HEADER_SIZE + m->len;
	if (!(m->flags & RDSB_DELIV_NOTIFY))
		rdsb_count(e, RDSB_C_RX_DELIVERED);
	/* in an event batch, written at its end, or once a write's worth waits */
	if (e->batching && s->rx_q_bytes < RX_DUE_MAX) {
		if (list_empty(&s->rx_due))
			list_add_tail(&s->rx_due, &e->rx_due);
	} else {
		rdsb_sock_flush(e, s);
	}
	return true;
}

void rdsb_sock_sent(struct rdsb_engine *e, uint32_t sock_id, uint32_t len)
{
	struct rdsb_sock *s = rdsb_sock_by_id(e, sock_id);
	bool held;

	if (!s)
		return;
	held = !tx_room(s);
	s->tx_bytes = s->tx_bytes > len ? s->tx_bytes - len : 0;
	if (held && tx_room(s)) {
		data_events(e, s);
		rq_active(e, s);	/* what it queued meanwhile */
	}
	__atomic_sub_fetch(&s->shm->snd_bytes, len, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->shm->release_seq, 1, __ATOMIC_SEQ_CST);
	if (list_empty(&s->wake_due) && (__atomic_load_n(&s->shm->waiters, __ATOMIC_SEQ_CST) ||
					 __atomic_load_n(&s->shm->poll_waiters, __ATOMIC_SEQ_CST)))
		list_add_tail(&s->wake_due, &e->wake_due);
}

/* At the end of the loop's pass, before the engine sleeps: a waiter that
 * registered after its release_seq read sleeps only while that value holds,
 * so one wake after the last release of the pass reaches every waiter. */
void rdsb_socks_wake(struct rdsb_engine *e)
{
	while (!list_empty(&e->wake_due)) {
		struct rdsb_sock *s = list_first_entry(&e->wake_due, struct rdsb_sock, wake_due);

		list_del_init(&s->wake_due);
		if (__atomic_load_n(&s->shm->waiters, __ATOMIC_SEQ_CST))
			syscall(SYS_futex, &s->shm->release_seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
		if (__atomic_load_n(&s->shm->poll_waiters, __ATOMIC_SEQ_CST))
			eventfd_write(s->space_fd, 1);
	}
}

/* rds_cong_map_updated: every monitoring socket learns of the ports it
 * asked about (all of them: a TCP map update covers every port). */
void rdsb_sock_cong_notify(struct rdsb_engine *e, int slot)
{
	struct rdsb_sock *s;

	(void)slot;
	e->cong_gen++;
	list_for_each_entry(s, &e->socks, item) {
		struct rdsb_msg *m;

		__atomic_store_n(&s->shm->cong_gen, e->cong_gen, __ATOMIC_RELEASE);
		if (!s->cong_monitor || !(m = rdsb_msg_new(0)))
			continue;
		m->flags = RDSB_DELIV_NOTIFY;
		m->seq = s->cong_monitor;
		s->cong_monitor = 0;
		rdsb_sock_deliver(e, s, m, true);
	}
}

/* A request is on the wire or dropped: the socket's later sends may go out
 * on a path socket directly (user/lib/skmsg_send.c). */
static void req_done(struct rdsb_sock *s)
{
	__atomic_add_fetch(&s->shm->reqs_done, 1, __ATOMIC_RELEASE);
}

void rdsb_sock_req_done(struct rdsb_engine *e, struct rdsb_msg *m)
{
	struct rdsb_sock *s;

	if (!m->req_pending)
		return;
	m->req_pending = false;
	if ((s = rdsb_sock_by_id(e, m->sock_id)))
		req_done(s);
}

void rdsb_sock_ring_release(struct rdsb_sock *s, uint32_t pos)
{
	if ((int32_t)(pos - __atomic_load_n(&s->shm->copy_released, __ATOMIC_RELAXED)) > 0)
		__atomic_store_n(&s->shm->copy_released, pos, __ATOMIC_RELEASE);
}

/* Every request up to the first one still on s->tx_reqs is acknowledged
 * or dropped: the library may forget its copies, and write again the part
 * of the copy ring before that request's payload. */
static void reqs_acked_publish(struct rdsb_sock *s)
{
	struct rdsb_msg *first = list_empty(&s->tx_reqs) ? NULL
							 : list_first_entry(&s->tx_reqs, struct rdsb_msg, sock_item);

	if (s->ring)
		rdsb_sock_ring_release(s, first ? first->ring_pos : s->ring_read);
	__atomic_store_n(&s->shm->reqs_acked, first ? first->req : s->reqs_read, __ATOMIC_RELEASE);
}

void rdsb_sock_req_acked(struct rdsb_msg *m)
{
	struct rdsb_sock *s = m->tx_sock;
	bool first = s->tx_reqs.next == &m->sock_item;

	list_del_init(&m->sock_item);
	m->tx_sock = NULL;
	if (first)
		reqs_acked_publish(s);
}

static void reqs_detach(struct rdsb_sock *s)
{
	while (!list_empty(&s->tx_reqs)) {
		struct rdsb_msg *m = list_first_entry(&s->tx_reqs, struct rdsb_msg, sock_item);

		list_del_init(&m->sock_item);
		m->tx_sock = NULL;
	}
}

void rdsb_sock_req_numbered(const struct rdsb_path *p, const struct rdsb_msg *m)
{
	struct rdsb_seq_slot *slot;

	if (!m->tx_sock)
		return;
	slot = &m->tx_sock->seqtab[m->req % RDSB_SEQTAB_N];
	slot->seq = (uint64_t)p->index << RDSB_SEQ_PATH_SHIFT | m->seq;
	__atomic_store_n(&slot->req, m->req + 1, __ATOMIC_RELEASE);
}

/* Below half, the engine frees messages on its next pass, and an ack costs
 * no wakeup: a ping-pong's reply carries the ack of its request. Of a
 * socket's unacked bytes, those of unmarked messages stay below half its
 * sndbuf, so a blocked sender always has a marked message on a path. */
bool rdsb_sock_ack_wake(const struct rdsb_sock *s)
{
	return __atomic_load_n(&s->shm->snd_bytes, __ATOMIC_RELAXED) * 2 >= s->sndbuf;
}

/* A request of the socket filled connection C: it is not read again until
 * C has room, after the senders held before it. Already held (a read of
 * everything its application wrote), it keeps its place. */
static void tx_hold(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_conn *c)
{
	if (s->tx_held)
		return;
	s->tx_held = true;
	s->tx_held_on = c;
	c->tx_waiters++;
	list_add_tail(&s->tx_wait, &e->tx_held);
}

static void tx_unhold(struct rdsb_sock *s)
{
	if (!s->tx_held)
		return;
	if (s->tx_held_on)
		s->tx_held_on->tx_waiters--;
	s->tx_held = false;
	s->tx_held_on = NULL;
	list_del_init(&s->tx_wait);
}

static void app_record(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_msg *m = s->req_msg;
	struct rdsb_conn *c;
	uint32_t len = s->req.len;

	s->req_msg = NULL;
	s->tx_bytes += len;	/* until rdsb_sock_sent, on every path below */
	if (!s->bound) {
		rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
		rdsb_msg_free(m);
		rdsb_sock_sent(e, s->id, len);
		req_done(s);
		s->reqs_read++;
		__atomic_store_n(&s->shm->reqs_taken, s->reqs_read, __ATOMIC_RELEASE);
		if (list_empty(&s->tx_reqs))
			reqs_acked_publish(s);
		return;
	}
	m->req = s->reqs_read++;
	__atomic_store_n(&s->shm->reqs_taken, s->reqs_read, __ATOMIC_RELEASE);
	if (!m->ring)
		m->ring_pos = s->ring_read;
	m->tx_sock = s;
	list_add_tail(&m->sock_item, &s->tx_reqs);
	m->sock_id = s->id;
	m->sport = s->port;
	m->dport = s->req.dport;
	m->ack_wake = rdsb_sock_ack_wake(s);
	m->req_pending = true;
	c = s->conn;
	if (!c || memcmp(c->faddr, s->req.daddr, 16) || memcmp(c->laddr, s->addr, 16))
		c = s->conn = rdsb_conn_get(e, s->addr, s->req.daddr,
					    s->req.scope_id ? s->req.scope_id : s->scope_id, true);
	if (!c) {
		/* No address slot or memory for it. The library asked for the
		 * connection before its first send there (CTL_CONNECT, failed
		 * with ENOMEM as the kernel's sendmsg); another socket took the
		 * last slot since, or an idle connection was freed: count it. */
		rdsb_count(e, RDSB_C_DROP_NO_CONN);
		rdsb_sock_req_done(e, m);
		rdsb_msg_free(m);
		rdsb_sock_sent(e, s->id, len);
		return;
	}
	if (s->req.flags & RDSB_REQ_RESENT)
		rdsb_count(e, RDSB_C_TX_RESUBMITTED);
	if (s->req.seq && s->req.path < RDS_MPATH_WORKERS &&
	    rdsb_seqstate_resend_acked(&c->paths[s->req.path], s->req.seq)) {
		rdsb_count(e, RDSB_C_TX_RESENT_ACKED);	/* delivered already */
		rdsb_sock_req_done(e, m);
		rdsb_sock_sent(e, s->id, len);
		rdsb_msg_free(m);
		return;
	}
	if (s->req.seq && s->req.path < RDS_MPATH_WORKERS &&
	    rdsb_seqstate_resend_ok(&c->paths[s->req.path], s->req.seq)) {
		m->seq = s->req.seq;
		m->flags |= RDS_FLAG_RETRANSMITTED;
		rdsb_count(e, RDSB_C_TX_RESENT_NUMBERED);
		rdsb_conn_resend(e, &c->paths[s->req.path], m);
		return;
	}
	if (!rdsb_conn_queue(e, c, m))
		tx_hold(e, s, c);
}

/* Requests from the application: [rdsb_send_req][len]. Read in large pieces,
 * many small requests per recv; each piece is consumed into the socket's
 * request state before the next read, so one buffer serves every socket (the
 * engine is single-threaded). A payload of APP_IN_PLACE or more whose header
 * came alone is read in place, without the extra copy; so after such a
 * request the next header is read alone (a system call costs less than
 * copying 32 KiB once more). */
#define APP_IN_SIZE (64 * 1024)
#define APP_IN_PLACE (32 * 1024)

/* The socket's copy ring, mapped at its first use, with a hold for the
 * caller; NULL without memory for it. */
static struct rdsb_txring *txring_get(struct rdsb_sock *s)
{
	struct rdsb_txring *r = s->ring;
	void *base;

	if (!r) {
		if (!(r = malloc(sizeof(*r))))
			return NULL;
		base = mmap(NULL, RDSB_TXRING_BYTES, PROT_READ, MAP_SHARED, s->shm_fd, 4096);
		if (base == MAP_FAILED) {
			free(r);
			return NULL;
		}
		r->base = base;
		r->refs = 1;	/* the socket's */
		s->ring = r;
	}
	r->refs++;
	return r;
}

/* A request whose payload is in the copy ring: its message points there
 * (no copy), from where the path writes it, as often as it is sent again.
 * The library keeps that part of the ring as it is until the engine
 * releases it (reqs_acked_publish); what it writes there meanwhile changes
 * only its own datagram, as a buffer changed under a kernel send would. */
static struct rdsb_msg *ring_msg(struct rdsb_sock *s)
{
	uint32_t off = s->req.ring_at & (RDSB_TXRING_BYTES - 1);
	struct rdsb_txring *r;
	struct rdsb_msg *m;

	if (!(r = txring_get(s)))
		return NULL;
	if (!(m = rdsb_msg_new(0))) {
		rdsb_txring_put(r);
		return NULL;
	}
	m->ring = r;
	m->data = r->base + off;
	m->len = s->req.len;
	m->ring_pos = s->req.ring_start;
	s->ring_read = s->req.ring_at + s->req.len;
	rdsb_count(s->eng, RDSB_C_TX_IN_RING);
	s->req_data_have = s->req.len;	/* nothing of it in the stream */
	return m;
}

/* Whether the request is one the library writes: known magic, a size RDS
 * allows, and a payload in the ring only where it lies whole inside it
 * (never a resent one: those come from the library's own copies). */
static bool app_header_ok(const struct rdsb_send_req *r)
{
	if (r->magic != RDSB_SEND_MAGIC || !rdsb_msg_size_ok(r->len) || (r->flags & (RDSB_REQ_KICK | RDSB_REQ_SKIP)))
		return false;
	if (!(r->flags & RDSB_REQ_INRING))
		return true;
	return !(r->flags & RDSB_REQ_RESENT) && r->len &&
	       (r->ring_at & (RDSB_TXRING_BYTES - 1)) + (uint64_t)r->len <= RDSB_TXRING_BYTES;
}

/* One send request's header has arrived: a malformed one closes the socket
 * (the library never writes one). Returns false when it did. */
static bool app_header(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (!app_header_ok(&s->req)) {
		rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
		pr_info("rds-bpf: socket %u: malformed send request: closing it\n", s->id);
		rdsb_sock_close(e, s);
		return false;
	}
	s->req_data_have = 0;
	s->req_msg = s->req.flags & RDSB_REQ_INRING ? ring_msg(s) : rdsb_msg_new(s->req.len);
	if (!s->req_msg) {
		rdsb_sock_close(e, s);
		return false;
	}
	return true;
}

/* Feeds N bytes of the stream into the socket's request state, queueing each
 * request it completes. Returns false once the socket is closed. Unless ALL,
 * a request that filled its connection stops it: the rest waits in
 * s->held_rest, raw, until the connection drains. */
static bool app_consume(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t *p, size_t n,
			bool all)
{
	for (;;) {
		size_t k;

		if (s->req_have < sizeof(s->req)) {
			if (!n)
				return true;
			k = n < sizeof(s->req) - s->req_have ? n : sizeof(s->req) - s->req_have;
			memcpy((uint8_t *)&s->req + s->req_have, p, k);
			s->req_have += k;
			p += k;
			n -= k;
			if (s->req_have < sizeof(s->req))
				return true;
			/* a wakeup for the request queue, read on each pass from
			 * here (app_read) */
			if (s->req.magic == RDSB_SEND_MAGIC && s->req.flags == RDSB_REQ_KICK && !s->req.len) {
				rdsb_count(e, RDSB_C_TX_QUEUE_KICKS);
				s->req_have = 0;
				continue;
			}
			if (!app_header(e, s))
				return false;
		}
		k = n < s->req.len - s->req_data_have ? n : s->req.len - s->req_data_have;
		/* p is NULL after a payload read in place: not even p + 0 */
		if (k) {
			memcpy(s->req_msg->data + s->req_data_have, p, k);
			p += k;
			n -= k;
		}
		s->req_data_have += k;
		if (s->req_data_have < s->req.len)
			return true;
		s->req_have = 0;
		s->req_large = !(s->req.flags & RDSB_REQ_INRING) && s->req.len >= APP_IN_PLACE;
		app_record(e, s);
		if (s->closed)
			return false;
		if (s->tx_held && !all && n && (s->held_rest = malloc(n))) {
			memcpy(s->held_rest, p, n);
			s->held_len = n;
			return true;
		}
	}
}

/* The engine holds the application's end too, so a stream ends only when
 * the engine drains (rdsb_socks_shut shut its reading side); a
 * request cut there by the library's EPIPE goes whole to the next engine. */
static void stream_end(struct rdsb_engine *e, struct rdsb_sock *s, ssize_t n)
{
	if (n || s->rd_eof)
		return;
	s->rd_eof = true;
	data_events(e, s);
}

/* A malformed request queue (the library never writes one) closes the
 * socket, as a malformed request on the stream does */
static int rq_bad(struct rdsb_engine *e, struct rdsb_sock *s, const char *why)
{
	rdsb_count(e, RDSB_C_DROP_BAD_APP_RECORD);
	pr_info("rds-bpf: socket %u: malformed request queue (%s): closing it\n", s->id, why);
	rdsb_sock_close(e, s);
	return -1;
}

/* The next request of the socket's queue (rds-bpf/maps.h, RDSB_REQQ_OFF)
 * taken as one from the stream: 1, or 0 with the queue empty, or -1 with
 * the socket closed. Its header is read into the engine's memory before
 * it is looked at; the library may write what it likes into the queue,
 * and changes only its own datagrams. */
static int rq_take(struct rdsb_engine *e, struct rdsb_sock *s)
{
	uint32_t head = s->rq_head, tail = __atomic_load_n(&s->shm->rq_tail, __ATOMIC_ACQUIRE), off, size;

	for (;;) {
		if (head == tail)
			return 0;
		if (tail - head > RDSB_REQQ_BYTES)
			return rq_bad(e, s, "its tail out of reach");
		off = head & (RDSB_REQQ_BYTES - 1);
		if (RDSB_REQQ_BYTES - off < sizeof(s->req)) {
			head += RDSB_REQQ_BYTES - off;	/* no header fits: the start */
			continue;
		}
		memcpy(&s->req, s->reqq + off, sizeof(s->req));
		if (s->req.magic != RDSB_SEND_MAGIC)
			return rq_bad(e, s, "no request");
		if (s->req.flags != RDSB_REQ_SKIP)
			break;
		head += RDSB_REQQ_BYTES - off;
	}
	size = (uint32_t)sizeof(s->req) +
	       (s->req.flags & RDSB_REQ_INRING ? 0 : (uint32_t)((s->req.len + 7) & ~7ull));
	if ((s->req.flags & RDSB_REQ_RESENT) || (!(s->req.flags & RDSB_REQ_INRING) && s->req.len >= RDSB_TXRING_MIN))
		return rq_bad(e, s, "a request that goes on the stream");
	if (size > RDSB_REQQ_BYTES - off || size > tail - head)
		return rq_bad(e, s, "a request past its end");
	if (!app_header(e, s))
		return -1;
	if (!(s->req.flags & RDSB_REQ_INRING)) {
		if (s->req.len)
			memcpy(s->req_msg->data, s->reqq + off + sizeof(s->req), s->req.len);
		s->req_data_have = s->req.len;
	}
	s->rq_head = head + size;
	__atomic_store_n(&s->shm->rq_head, s->rq_head, __ATOMIC_SEQ_CST);
	/* a sender that waits for room in the queue, or for it to empty */
	if (list_empty(&s->wake_due) && __atomic_load_n(&s->shm->waiters, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&s->shm->release_seq, 1, __ATOMIC_SEQ_CST);
		list_add_tail(&s->wake_due, &s->eng->wake_due);
	}
	s->req_have = 0;
	s->req_large = false;
	rdsb_count(e, RDSB_C_TX_QUEUED);
	app_record(e, s);
	return s->closed ? -1 : 1;
}

static void app_read(struct rdsb_engine *e, struct rdsb_sock *s, bool all)
{
	static uint8_t in[APP_IN_SIZE];

	rq_active(e, s);

	if (s->held_len && (all || !s->tx_held)) {
		uint8_t *rest = s->held_rest;
		size_t len = s->held_len;
		bool open;

		s->held_rest = NULL;	/* app_consume may hold a new rest */
		s->held_len = 0;
		open = app_consume(e, s, rest, len, all);
		free(rest);
		if (!open)
			return;
	}
	for (;;) {
		bool large;
		ssize_t n;

		if (s->tx_held && !all)
			return;
		if (!tx_room(s)) {
			data_events(e, s);	/* until rdsb_sock_sent makes room */
			return;
		}
		/* the queue's requests first: with those the stream holds
		 * none the engine has not taken (reqq.c), kicks at most */
		if (!s->req_have && !s->held_len) {
			int r = rq_take(e, s);

			if (r < 0)
				return;
			if (r)
				continue;
		}
		if (s->req_have == sizeof(s->req) && s->req.len - s->req_data_have >= APP_IN_PLACE) {
			n = recv(s->data.fd, s->req_msg->data + s->req_data_have, s->req.len - s->req_data_have,
				 MSG_DONTWAIT);
			if (n <= 0) {
				stream_end(e, s, n);
				return;
			}
			s->req_data_have += (size_t)n;
			if (!app_consume(e, s, NULL, 0, all))	/* completes it once whole */
				return;
			continue;
		}
		large = s->req_large && s->req_have < sizeof(s->req);
		n = recv(s->data.fd, in, large ? sizeof(s->req) - s->req_have : sizeof(in), MSG_DONTWAIT);
		if (n <= 0) {
			stream_end(e, s, n);
			return;
		}
		if (!app_consume(e, s, in, (size_t)n, all))
			return;
		if (large)
			continue;
		/* A short read emptied the stream (or stopped at another
		 * writer's bytes): the rest raises the level-triggered event
		 * again, without an empty recv per wakeup. ALL reads on. */
		if (!all && (size_t)n < sizeof(in))
			return;
	}
}

void rdsb_socks_rq_read(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;

	list_for_each_entry_safe(s, t, &e->rq_active, rq_active)
		while ((!s->tx_held && tx_room(s) && !s->req_have && !s->held_len) && rq_take(e, s) > 0)
			;
}

bool rdsb_socks_rq_arm(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;
	bool quiet = true;

	list_for_each_entry_safe(s, t, &e->rq_active, rq_active) {
		/* held, or a request half read from the stream: read again
		 * when it resumes (rdsb_socks_tx_resume, rdsb_sock_sent), or
		 * as the stream brings the rest; queued requests wait there */
		if (s->tx_held || !tx_room(s) || s->req_have || s->held_len) {
			list_del_init(&s->rq_active);
			continue;
		}
		__atomic_store_n(&s->shm->rq_armed, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->shm->rq_tail, __ATOMIC_SEQ_CST) != s->rq_head) {
			__atomic_store_n(&s->shm->rq_armed, 0, __ATOMIC_SEQ_CST);
			quiet = false;
		} else {
			list_del_init(&s->rq_active);
		}
	}
	return quiet;
}

/* Everything the applications have written so far: on the sk_msg send
 * path, a reconnected path must see every copy of what was sent on its
 * last socket before it writes on the new one. */
void rdsb_socks_read_all(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;

	list_for_each_entry_safe(s, t, &e->socks, item)
		if (!s->closed)
			app_read(e, s, true);
}

/* The socket goes when no process holds it: its control connections are
 * all closed and no fd of it is in flight (RDSB_CTL_HOLD). */
static void maybe_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (!s->closed && s->ctl.fd < 0 && list_empty(&s->attached) && e->now >= s->hold_until)
		rdsb_sock_close(e, s);
}

/* RDSB_CTL_LIB_PAGE: a page's memfd (sealed at the size of an engine's,
 * which made it), kept for ATTACH replies */
static void lib_page(struct rdsb_sock *s, int fd, int page)
{
	struct rdsb_ctl_rep rep = { .abi = RDSB_ABI };
	int seals = page >= 0 ? fcntl(page, F_GET_SEALS) : -1;
	struct stat st;

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(page, &st) || st.st_size < 4096) {
		rep.err = EINVAL;
		if (page >= 0)
			close(page);
	} else {
		if (s->lib_fd >= 0)
			close(s->lib_fd);
		s->lib_fd = page;
	}
	send(fd, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* One request on one of the socket's control connections; false when the
 * connection closed (its process closed the socket, or died). */
static bool ctl_request(struct rdsb_engine *e, struct rdsb_sock *s, int fd)
{
	struct rdsb_ctl_req req;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	int passed = -1;

	/* room for one, which alignment makes two: the kernel closes what more
	 * a request carries, and the second is closed here */
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		int got[2], n_fds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		memcpy(got, CMSG_DATA(cm), sizeof(int) * (size_t)(n_fds < 2 ? n_fds : 2));
		if (n_fds > 0)
			passed = got[0];
		if (n_fds > 1)
			close(got[1]);
	}
	if (passed >= 0 && (n != sizeof(req) || req.op != RDSB_CTL_LIB_PAGE || s->closed)) {
		close(passed);	/* only LIB_PAGE takes one */
		passed = -1;
	}

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	/* What the application wrote before this request (or before it
	 * closed) goes first, as a kernel sendmsg had queued it by then:
	 * epoll may report the control fd ahead of the stream (RDS_INFO must
	 * list those sends, RDS_CANCEL_SENT_TO must drop them; close drops
	 * only what is not yet on the wire, rds_send_drop_to: the kernel's
	 * sendmsg had put it on the wire, so the batch's writes go now). */
	app_read(e, s, true);
	rdsb_paths_xmit_due(e);
	if (n != sizeof(req)) {
		pr_debug("rds-bpf: socket %u: a control connection closed (%zd)\n", s->id, n);
		return false;
	}
	if (req.op == RDSB_CTL_LIB_PAGE && !s->closed)
		lib_page(s, fd, passed);
	else if (!s->closed)
		rdsb_ctl_handle(e, s, fd, &req);
	return true;
}

void rdsb_sock_event(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_ev *ev, uint32_t events)
{
	if (s->closed)
		return;
	if (ev == &s->ctl) {
		if (!ctl_request(e, s, s->ctl.fd) && !s->closed) {
			rdsb_ev_del(e, &s->ctl);
			close(s->ctl.fd);
			s->ctl.fd = -1;
			maybe_close(e, s);
		}
		return;
	}
	if (events & EPOLLIN) {
		app_read(e, s, false);
		if (s->tx_held && !s->closed)
			data_events(e, s);
	}
	if (events & EPOLLOUT)
		rdsb_sock_flush(e, s);
}

/* A connection with held senders has room: they are read again in the
 * order they were held, what was read past their last request first (the
 * stream may have nothing more), until it is full again. One held again
 * goes behind those still waiting. */
void rdsb_socks_tx_resume(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;
	struct list_head waiting;

	INIT_LIST_HEAD(&waiting);
	list_splice_init(&e->tx_held, &waiting);
	list_for_each_entry_safe(s, t, &waiting, tx_wait) {
		if (s->tx_held_on && !rdsb_conn_tx_room(s->tx_held_on))
			continue;
		tx_unhold(s);
		data_events(e, s);
		app_read(e, s, false);
		if (s->tx_held && !s->closed)
			data_events(e, s);
	}
	list_splice_init(&waiting, &e->tx_held);
}

static void attached_free(struct rdsb_engine *e, struct rdsb_sock_ctl *c)
{
	rdsb_ev_del(e, &c->ev);
	close(c->ev.fd);
	list_del_init(&c->item);
	free(c);
}

void rdsb_sock_attached_event(struct rdsb_engine *e, struct rdsb_sock_ctl *c)
{
	struct rdsb_sock *s = c->s;

	if (s->closed || ctl_request(e, s, c->ev.fd) || s->closed)
		return;
	attached_free(e, c);
	maybe_close(e, s);
}

bool rdsb_sock_attach(struct rdsb_engine *e, int ctl_fd, const struct rdsb_ctl_req *req)
{
	struct rdsb_ctl_rep rep = { .err = ENOENT, .abi = RDSB_ABI };
	struct rdsb_sock_ctl *c;
	struct rdsb_sock *s;

	list_for_each_entry(s, &e->socks, item)
		if (!s->closed && s->app_ino && s->app_ino == req->val)
			break;
	if (&s->item == &e->socks || !(c = calloc(1, sizeof(*c)))) {
		if (&s->item != &e->socks)
			rep.err = ENOMEM;
		send(ctl_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
		return false;
	}
	{
		/* the OPEN reply without the sk_msg send path (this process's
		 * sends go through the engine), and the library page of a
		 * socket that moved here */
		int fds[6] = { s->app_fd, s->shm_fd, e->addrs_ro_fd, e->cong_ro_fd, s->space_fd, s->lib_fd };

		rep = (struct rdsb_ctl_rep){ .val = s->id, .arg = (uint32_t)e->tp->trans_id, .abi = RDSB_ABI };
		if (send_fds(ctl_fd, &rep, fds, s->lib_fd >= 0 ? 6 : 5) < 0) {
			free(c);
			close(ctl_fd);
			return true;
		}
	}
	s->hold_until = 0;	/* the fd in flight has arrived */
	c->s = s;
	c->ev.kind = EV_SOCK_ATTACHED;
	c->ev.fd = ctl_fd;
	list_add_tail(&c->item, &s->attached);
	rdsb_ev_set(e, &c->ev, EPOLLIN);
	return true;
}

/* The transport's outbox has room again: what waited for it. */
void rdsb_socks_flush(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;

	list_for_each_entry_safe(s, t, &e->socks, item)
		if (!list_empty(&s->rx_q))
			rdsb_sock_flush(e, s);
}

/* A grown stream goes back to its first size once the application has read
 * it down to less than half of that (as congestion clears at half of
 * rcvbuf: a reader that keeps about that much unread does not have it
 * resized at every check): a burst to a slow reader does not leave the
 * stream able to pin that much kernel memory for good, nor the socket's
 * receive buffer larger than its rcvbuf. The skbs still queued stay (a
 * smaller sndbuf only refuses writes until they are read), and a write
 * the kernel refuses grows it again (rdsb_sock_flush): nothing is lost or
 * reordered. What the engine counts decides, with nothing waiting to be
 * written: the timer's check costs no syscall but the one that resizes. */
static void stream_shrink(struct rdsb_engine *e, struct rdsb_sock *s)
{
	if (s->stream_buf > STREAM_BUF && list_empty(&s->rx_q) && rdsb_sock_stream_bytes(e, s) < STREAM_BUF / 2)
		stream_resize(s, STREAM_BUF);
}

void rdsb_socks_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_sock *s, *t;

	list_for_each_entry_safe(s, t, &e->socks, item) {
		if (s->ctl.fd < 0 && list_empty(&s->attached)) {
			maybe_close(e, s);	/* an fd in flight nobody took */
			if (s->closed)
				continue;
			if (s->hold_until < *next)
				*next = s->hold_until;
		}
		if (s->out_capped)
			rdsb_sock_flush(e, s);
		else if (s->congested)
			rdsb_sock_check_cong(e, s);
		/* a stream that holds its limit unread raises no event as it
		 * drains: the paths stalled on it are let go from here */
		if (!list_empty(&s->stalled) && !rx_full(e, s))
			rdsb_path_rx_resume(e, s);
		stream_shrink(e, s);
		if ((s->congested || s->out_capped || !list_empty(&s->stalled)) && e->now + CONG_POLL < *next)
			*next = e->now + CONG_POLL;
	}
}

void rdsb_sock_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_msg *m, *t;

	if (s->closed)
		return;
	s->closed = true;
	tx_unhold(s);
	list_del_init(&s->rx_due);
	list_del_init(&s->wake_due);
	list_del_init(&s->rq_active);
	/* before its fds close: their hang-up must not read as the engine gone */
	if (!e->stopping)
		__atomic_store_n(&s->shm->closed, 1, __ATOMIC_RELEASE);
	list_del_init(&s->item);
	list_add_tail(&s->item, &e->dead_socks);
	rdsb_hash_del(&e->socks_by_id, &s->id_node);
	rdsb_hash_del(&e->socks_by_port, &s->port_node);
	rdsb_ports_unbound(e, s);
	/* the paths are closed: nothing more comes into the stream */
	if (e->stopping)
		__atomic_store_n(&s->shm->rx_end, s->rx_written + e->tp->sock_delivered(e, s) + 1, __ATOMIC_RELEASE);
	e->tp->sock_close(e, s);
	/* an engine that stops acknowledges nothing it did not send: the
	 * library sends those again to the next engine */
	if (e->stopping)
		reqs_detach(s);
	rdsb_conn_cancel(e, s->id, NULL, 0);
	reqs_detach(s);	/* a record half written on a path stays there */
	/* An engine that stops leaves the port congested to the peers (the
	 * socket goes to the next engine, whose map clears it): a map
	 * clearing it now would let them send into TCP sockets that
	 * acknowledge and close unread */
	if (s->bound && s->congested && !e->stopping)
		rdsb_cong_set_local(e, s->slot, s->port, false);
	rdsb_addr_put(e, s->slot);
	rdsb_path_rx_resume(e, s);
	list_for_each_entry_safe(m, t, &s->rx_q, item)
		rdsb_msg_free(m);
	rdsb_ev_del(e, &s->ctl);
	rdsb_ev_del(e, &s->data);
	while (!list_empty(&s->attached))
		attached_free(e, list_first_entry(&s->attached, struct rdsb_sock_ctl, item));
	if (s->ctl.fd >= 0)
		close(s->ctl.fd);
	close(s->data.fd);
	close(s->app_fd);
	munmap(s->shm, 4096);
	munmap(s->seqtab, RDSB_SEQTAB_BYTES);
	munmap((void *)s->reqq, RDSB_REQQ_BYTES);
	rdsb_msg_free(s->req_msg);
	s->req_msg = NULL;
	if (s->ring)
		rdsb_txring_put(s->ring);	/* its datagrams still unacknowledged keep it */
	s->ring = NULL;
	close(s->shm_fd);
	if (s->lib_fd >= 0)
		close(s->lib_fd);
	close(s->space_fd);
	free(s->held_rest);
	s->held_rest = NULL;
}

static void hang_up(struct rdsb_engine *e, struct rdsb_ev *ev)
{
	rdsb_ev_del(e, ev);
	if (ev->fd >= 0)
		shutdown(ev->fd, SHUT_RDWR);
}

void rdsb_socks_drain_start(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;
	struct rdsb_sock_ctl *c;

	list_for_each_entry_safe(s, t, &e->socks, item) {
		if (s->closed)
			continue;
		/* the hang-up first: a write refused before it would read as
		 * this socket closed (ECONNRESET) to the library */
		hang_up(e, &s->ctl);
		list_for_each_entry(c, &s->attached, item)
			hang_up(e, &c->ev);
		/* no new send: the library finds no room, then the hang-up */
		__atomic_store_n(&s->shm->stopping, 1, __ATOMIC_RELEASE);
		app_read(e, s, true);
	}
}

/* The end of the drain, once the peers are quiet. Not at its start: on the
 * BPF receive path, what the verdict redirects into the application's end
 * of a stream whose other end shut its reading side never becomes readable
 * there (Linux 6.18), and the application would read nothing more. */
void rdsb_socks_shut(struct rdsb_engine *e)
{
	struct rdsb_sock *s;

	e->streams_shut = true;
	list_for_each_entry(s, &e->socks, item) {
		if (s->closed)
			continue;
		shutdown(s->data.fd, SHUT_RD);
		app_read(e, s, true);
	}
}

/* What BPF delivered waits in the socket's sockmap queue, which goes with
 * the engine's maps: the application must have read it. What the engine
 * wrote is in the stream, which the application keeps. */
bool rdsb_socks_drained(struct rdsb_engine *e)
{
	struct rdsb_sock *s;

	list_for_each_entry(s, &e->socks, item)
		if (!s->closed && ((e->streams_shut && !s->rd_eof) || !list_empty(&s->rx_q) ||
				   (e->tp->sock_delivered(e, s) && rdsb_sock_stream_bytes(e, s))))
			return false;
	return true;
}

/* What the engine holds for a socket when it stops (its drain cut short
 * by a reader slower than the limit) was acknowledged to the peers, who
 * forget it: it goes into the stream whole, the stream's buffer grown to
 * hold it (at most hard_limit, and what the paths' TCP held), since the
 * application keeps the stream and reads it before the next engine's.
 * On the sockmap path the outbox delivers into the socket's sockmap
 * queue, which goes with the engine's maps: nothing to gain there. */
void rdsb_socks_flush_stopping(struct rdsb_engine *e)
{
	struct rdsb_sock *s;

	list_for_each_entry(s, &e->socks, item) {
		if (s->closed || list_empty(&s->rx_q) || e->tp->sock_out(e, s) >= 0)
			continue;
		stream_grow(s, 2 * ((uint64_t)s->stream_buf + s->rx_q_bytes));
		rdsb_sock_flush(e, s);
		if (!list_empty(&s->rx_q))
			pr_warn("rds-bpf: socket %u: %llu bytes of deliveries lost at the stop\n", s->id,
				(unsigned long long)s->rx_q_bytes);
	}
}

bool rdsb_socks_close_rx(struct rdsb_engine *e)
{
	struct rdsb_sock *s;
	bool any = false;

	e->rx_closing = true;
	list_for_each_entry(s, &e->socks, item)
		if (!s->closed && s->bound) {
			rdsb_cong_set_local(e, s->slot, s->port, true);
			any = true;
		}
	return any;
}

void rdsb_socks_reap(struct rdsb_engine *e)
{
	struct rdsb_sock *s, *t;

	list_for_each_entry_safe(s, t, &e->dead_socks, item) {
		list_del_init(&s->item);
		free(s);
	}
}
