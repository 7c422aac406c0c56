// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sockmap receive path, engine side (the programs: sockmap_rx.bpf.c).
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
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "tcp.h"
#include "../../user/common/ctl_proto.h"
#include "../../user/common/log.h"
#include "sockmap_rx.skel.h"

/* strparser refuses a record larger than the socket's receive buffer, and
 * TCP starts with a small one: room for the largest datagram from the start. */
#define PATH_RCVBUF (4 << 20)
#define RCVQ_BYTES (RDSB_MAX_SOCKS * sizeof(struct rdsb_rcvq))
#define INBOX_CAP (RDS_HEADER_SIZE + RDS_MAX_MSG_SIZE)
#define RXACK_BYTES (RDSB_MAX_TCPPATHS * sizeof(struct rdsb_rxack))

/* The socket's peer (rdsb_rcvq.peer): the library learns it from the
 * socket's page before the verdict stops writing the sender's slot into
 * that peer's records. Set once: the socket's records of any other sender
 * name theirs. */
static void sock_peer(struct rdsb_tcp *t, struct rdsb_sock *s, uint32_t slot)
{
	uint32_t asked = RDSB_PEER_ASKED;

	if (!__atomic_load_n(&s->shm->rx_peer, __ATOMIC_RELAXED))
		__atomic_store_n(&s->shm->rx_peer, slot + 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&s->shm->rx_peer, __ATOMIC_RELAXED) == slot + 1)
		__atomic_compare_exchange_n(&t->rcvq[tcp_sock(s)->idx].peer, &asked, slot + 1, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static struct rdsb_rxack *rxack_of(struct rdsb_tcp *t, const struct rdsb_path *p)
{
	return &t->rxack[tcp_path(p)->rxack];
}

/* The verdict delivered on p, as the engine asked (rdsb_rxack.armed): an
 * acknowledgement is due, at once if now (as rdsb_recv_msg marks one the
 * sender asked for). */
static void rx_ack_event(struct rdsb_engine *e, struct rdsb_path *p, bool now)
{
	uint64_t safe = rdsb_path_rx_safe(p);

	/* none to send (a duplicate of what it acknowledged), or none sent
	 * to this peer: armed again, or off */
	if (!p->conn->deliv_send || safe <= p->ack_sent) {
		tcp_sockmap_rx_ack_sent(e, p, p->ack_sent, true);
		return;
	}
	if (now && safe > p->ack_asked)
		p->ack_asked = safe;
	rdsb_path_ack_due(p);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct rdsb_engine *e = ctx;
	struct rdsb_tcp *t = tcp_of(e);
	const struct rdsb_event *ev = data;

	if (len < sizeof(*ev))
		return 0;
	switch (ev->kind) {
	case RDSB_EV_CONG_MAP:
		if (ev->slot < RDSB_MAX_ADDRS)
			rdsb_cong_peer_updated(e, (int)ev->slot);
		break;
	case RDSB_EV_RCVQ:
		if (t->sock_at && ev->index < RDSB_MAX_SOCKS && t->sock_at[ev->index])
			rdsb_sock_check_cong(e, t->sock_at[ev->index]);
		break;
	case RDSB_EV_ACKED:
		tcp_sockops_acked(e, ev->index);
		break;
	case RDSB_EV_RXACK:
		if (t->rxack_at && ev->index < RDSB_MAX_TCPPATHS && t->rxack_at[ev->index])
			rx_ack_event(e, t->rxack_at[ev->index], ev->slot);
		break;
	case RDSB_EV_PEER:
		if (t->sock_at && ev->index < RDSB_MAX_SOCKS && t->sock_at[ev->index] && ev->slot < RDSB_MAX_ADDRS)
			sock_peer(t, t->sock_at[ev->index], ev->slot);
		break;
	}
	return 0;
}

static struct rdsb_path *path_by_cookie(struct rdsb_engine *e, uint64_t cookie)
{
	struct rdsb_hnode *n;

	rdsb_hash_for_each(&tcp_of(e)->paths_by_cookie, n, rdsb_hash_u64(cookie)) {
		struct rdsb_tcp_path *tp = container_of(n, struct rdsb_tcp_path, cookie_node);

		if (tp->cookie == cookie)
			return tp->path;
	}
	return NULL;
}

static void gated_read(struct rdsb_engine *e, struct rdsb_path *p, uint8_t *rec);

/* Whole records only (the verdict redirects each one in one piece); each
 * goes to the path its cookie names, or is dropped if that path is gone. */
void tcp_sockmap_inbox_read(struct rdsb_engine *e)
{
	struct rdsb_tcp *t = tcp_of(e);

	if (t->inbox_ev.fd < 0)
		return;
	for (;;) {
		ssize_t n = recv(t->inbox_ev.fd, t->inbox_buf + t->inbox_len, INBOX_CAP - t->inbox_len,
				 MSG_DONTWAIT);
		size_t off = 0;

		if (n <= 0)
			break;
		t->inbox_len += (size_t)n;
		while (t->inbox_len - off >= RDS_HEADER_SIZE) {
			const struct rds_header *h = (const void *)(t->inbox_buf + off);
			size_t rec = RDS_HEADER_SIZE + be32toh(h->h_len);
			struct rdsb_path *p;
			uint64_t cookie;

			if (rec > INBOX_CAP) {
				/* the stream parser bounds h_len: cannot happen */
				rdsb_count(e, RDSB_C_DROP_BAD_LEN);
				off = t->inbox_len;
				break;
			}
			if (t->inbox_len - off < rec)
				break;
			t->inbox_records++;
			memcpy(&cookie, &h->h_ack, sizeof(cookie));
			p = cookie ? path_by_cookie(e, cookie) : NULL;
			if (p) {
				gated_read(e, p, t->inbox_buf + off);
				tcp_stream_feed(e, p, &tcp_path(p)->rx, t->inbox_buf + off, rec);
			} else {
				rdsb_count(e, RDSB_C_DROP_NO_PATH);
			}
			off += rec;
		}
		memmove(t->inbox_buf, t->inbox_buf + off, t->inbox_len - off);
		t->inbox_len -= off;
	}
	tcp_sockmap_gates_open(e);
}

/* A record the verdict counted in its socket's gate, now read: counted
 * here too, and the internal flag cleared before the record goes on. */
static void gated_read(struct rdsb_engine *e, struct rdsb_path *p, uint8_t *rec)
{
	struct rds_header *h = (struct rds_header *)rec;
	struct rdsb_sock *s;

	if (!(h->h_flags & RDSB_RX_GATED))
		return;
	h->h_flags &= (uint8_t)~RDSB_RX_GATED;
	s = rdsb_sock_by_port(e, p->conn->laddr, be16toh(h->h_dport));
	if (s && tcp_sock(s)->gated)
		tcp_sock(s)->gated_read++;
}

/* The hand-over (rdsb_rcvq.gate): a socket's gate opens once the engine has
 * read everything the verdict sent the inbox before the bind (records for
 * the port nobody had bound yet among them) and as many records as the
 * verdict sent it through the gate, and has written them all to the socket;
 * from then on the verdict delivers to the socket itself, behind them. One
 * compare-and-swap: a record the verdict counts meanwhile keeps the gate
 * closed until it is read too. */
void tcp_sockmap_gates_open(struct rdsb_engine *e)
{
	struct rdsb_tcp *t = tcp_of(e);
	struct rdsb_sock *s;

	if (!t->gates_closed)
		return;
	list_for_each_entry(s, &e->socks, item) {
		__u64 *gate, g;

		/* its records all written: none queued, none on a stalled path */
		if (!tcp_sock(s)->gated || t->inbox_records < tcp_sock(s)->inbox_before ||
		    !list_empty(&s->rx_q) || !list_empty(&s->stalled))
			continue;
		gate = &t->rcvq[tcp_sock(s)->idx].gate;
		g = __atomic_load_n(gate, __ATOMIC_ACQUIRE);
		if (g != (RDSB_GATE_CLOSED | tcp_sock(s)->gated_read) ||
		    !__atomic_compare_exchange_n(gate, &g, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;
		tcp_sock(s)->gated = false;
		t->gates_closed--;
		pr_info("rds-bpf: socket %u: the BPF path delivers to it, after %llu records through the engine\n",
			s->id, (unsigned long long)tcp_sock(s)->gated_read);
	}
}

static int inbox_init(struct rdsb_engine *e, int map_fd)
{
	int sv[2], buf = INT_MAX / 2;
	uint32_t key = 0;
	uint64_t fd;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	tcp_of(e)->inbox_ev.kind = EV_TRANSPORT;
	tcp_of(e)->inbox_ev.fd = sv[0];
	tcp_of(e)->inbox_peer = sv[1];
	fd = (uint64_t)sv[0];
	/* No limit of its own, as on an application's end (sock.c): the psock
	 * charges each record as the whole TCP skb it was cloned from (a 64 KiB
	 * segment for a 4 KiB record), and past the receive buffer it retries
	 * a jiffy later. Everything on a path behind a record the inbox holds
	 * comes here too (the verdict keeps a path's records in order), so an
	 * inbox that fell behind once stayed the path's route for as long as
	 * the peer kept sending: the records behind the connection's probe
	 * went 0.35 Gbit/s (4 KiB, one path) where the verdict takes 5. The
	 * limit bounded nothing: what waited for it waited in the psock's
	 * backlog, which has none. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	tcp_of(e)->inbox_buf = malloc(INBOX_CAP);
	if (!tcp_of(e)->inbox_buf || bpf_map_update_elem(map_fd, &key, &fd, BPF_ANY) ||
	    rdsb_ev_set(e, &tcp_of(e)->inbox_ev, EPOLLIN) < 0)
		return -1;
	return 0;
}

/* The outbox (rdsb_outbox_deliver): the engine writes into out_ev.fd, its
 * peer is in rdsb_outbox. Its send buffer holds what waits for an
 * application socket's receive buffer; the core keeps each socket's share
 * under its hard limit, so the buffer is large enough for many.
 *
 * A datagram socket, so that each write reaches the application's psock
 * queue as one skb, whole records: the verdict may redirect a record from a
 * path into the same queue at any moment (the socket's gate open, the
 * engine delivering what its inbox took), and the skbs of a stream write
 * (unix_stream_sendmsg cuts one at about 36 KiB) let it in between them,
 * in the middle of a record: the application then read that record's
 * payload running into the other's header, and its stream was misframed
 * from there (restart.bats, a reload to the BPF receive path under a
 * transfer: "index 1655: size 2893 byte 1355 expected 0x5f got 0x00", the
 * first byte of a wire header's sequence number, about 1 run in 12). The
 * core writes at most OUTBOX_WRITE_MAX bytes a datagram (a larger record
 * alone), which the kernel builds mostly from pages. */
#define OUTBOX_SNDBUF (256 << 20)

static int outbox_init(struct rdsb_engine *e, struct sockmap_rx *skel)
{
	struct rdsb_tcp *t = tcp_of(e);
	int sv[2], buf = OUTBOX_SNDBUF;
	uint32_t key = 0;
	uint64_t fd;

	if (bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_outbox_deliver), bpf_map__fd(skel->maps.rdsb_outbox),
			    BPF_SK_SKB_VERDICT, 0) ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	t->out_ev.kind = EV_TRANSPORT;
	t->out_ev.fd = sv[0];
	t->out_peer = sv[1];
	fd = (uint64_t)sv[1];
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	t->out_to = mmap(NULL, sizeof(*t->out_to), PROT_READ | PROT_WRITE, MAP_SHARED,
			 bpf_map__fd(skel->maps.rdsb_out_to), 0);
	if (t->out_to == MAP_FAILED) {
		t->out_to = NULL;
		return -1;
	}
	return bpf_map_update_elem(bpf_map__fd(skel->maps.rdsb_outbox), &key, &fd, BPF_ANY);
}

int tcp_sockmap_sock_out(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_tcp *t = tcp_of(e);

	if (tcp_sock(s)->idx < 0 || !t->out_to)
		return -1;
	*t->out_to = (uint32_t)tcp_sock(s)->idx;
	return t->out_ev.fd;
}

void tcp_sockmap_sock_out_wait(struct rdsb_engine *e)
{
	rdsb_ev_set(e, &tcp_of(e)->out_ev, EPOLLOUT);
}

void tcp_sockmap_outbox_ready(struct rdsb_engine *e)
{
	rdsb_ev_set(e, &tcp_of(e)->out_ev, 0);
	rdsb_socks_flush(e);
}

/* Where the programs read the strparser offset (sockmap_rx.bpf.c): the
 * kernel-context kfunc where this kernel's BTF has it (6.2+), else
 * bpf_probe_read_kernel. */
static bool kern_ctx_kfunc(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok = btf && btf__find_by_name_kind(btf, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) > 0;

	btf__free(btf);
	return ok;
}

static const char *offset_how(bool kfunc)
{
	return kfunc ? "strparser offset via bpf_cast_to_kern_ctx" : "strparser offset via bpf_probe_read_kernel";
}

/* The skeleton with the parser/verdict pair this kernel can load. */
static struct sockmap_rx *sockmap_open(bool *kfunc)
{
	struct sockmap_rx *skel = sockmap_rx__open();

	*kfunc = kern_ctx_kfunc();
	if (skel) {
		bpf_program__set_autoload(skel->progs.rdsb_parse, *kfunc);
		bpf_program__set_autoload(skel->progs.rdsb_verdict, *kfunc);
		bpf_program__set_autoload(skel->progs.rdsb_parse_pr, !*kfunc);
		bpf_program__set_autoload(skel->progs.rdsb_verdict_pr, !*kfunc);
	}
	return skel;
}

/* Why the programs did not load, as a hint; the verifier log is -vv's. */
static const char *hint_for(int err, bool kfunc)
{
	if (!kfunc && (err == -EPERM || err == -EACCES))
		return "hint: without bpf_cast_to_kern_ctx (Linux 6.2+) the programs read kernel memory: "
		       "needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root, and no lockdown=confidentiality";
	if (rdsb_bpf_hint(err))
		return rdsb_bpf_hint(err);
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL) <= 0 ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL) <= 0)
		return "hint: the kernel lacks sockmap (CONFIG_BPF_STREAM_PARSER)";
	return "hint: rerun with -vv for libbpf's log";
}

int tcp_sockmap_probe(const char **how, const char **hint)
{
	bool kfunc;
	struct sockmap_rx *skel = sockmap_open(&kfunc);
	int err = !skel ? -errno : sockmap_rx__load(skel) ? -errno : 0;

	sockmap_rx__destroy(skel);
	*how = offset_how(kfunc);
	*hint = err ? hint_for(err, kfunc) : NULL;
	return err;
}

/* Until when the verdict sends a record for a port no socket bound to the
 * engine: the rebind time, and as long as a port is held (ports.c) */
static uint64_t rebind_until(const struct rdsb_engine *e)
{
	return list_empty(&e->port_holds) ? e->rebind_until : UINT64_MAX;
}

void tcp_sockmap_rebind_sync(struct rdsb_engine *e)
{
	struct sockmap_rx *skel = tcp_of(e)->sockmap_obj;

	if (skel && skel->bss->rebind_until != rebind_until(e))
		skel->bss->rebind_until = rebind_until(e);
}

/* What a failure leads to: load stops where --bpf asked for this data path;
 * by default datagrams go on, through the engine */
static const char *then_what(bool asked)
{
	return asked ? "load --bpf stops (load --no-bpf takes the userspace path)" : "datagrams take the userspace path";
}

int tcp_sockmap_init(struct rdsb_engine *e, bool asked)
{
	struct rdsb_tcp *t = tcp_of(e);
	bool kfunc;
	struct sockmap_rx *skel = sockmap_open(&kfunc);
	int err;

	if (skel)
		skel->bss->rebind_until = rebind_until(e);
	err = skel ? rdsb_bpf_load_shared(e, skel->obj) : -errno;

	if (err) {
		pr_warn("rds-bpf: the sockmap data path did not load (%s; %s); %s; %s\n",
			strerror(-err), offset_how(kfunc), then_what(asked), hint_for(err, kfunc));
		if (skel)
			rdsb_bpf_unload_shared(e, skel->obj);
		sockmap_rx__destroy(skel);
		return err;
	}
	pr_info("rds-bpf: sockmap data path: %s\n", offset_how(kfunc));
	t->sockmap_obj = skel;
	t->pathsk_fd = bpf_map__fd(skel->maps.rdsb_pathsk);
	t->rxpath_fd = bpf_map__fd(skel->maps.rdsb_rxpath);
	t->socks_fd = bpf_map__fd(skel->maps.rdsb_socks);
	t->bound_fd = bpf_map__fd(skel->maps.rdsb_bound);
	if (bpf_prog_attach(bpf_program__fd(kfunc ? skel->progs.rdsb_parse : skel->progs.rdsb_parse_pr), t->pathsk_fd,
			    BPF_SK_SKB_STREAM_PARSER, 0) ||
	    bpf_prog_attach(bpf_program__fd(kfunc ? skel->progs.rdsb_verdict : skel->progs.rdsb_verdict_pr), t->pathsk_fd,
			    BPF_SK_SKB_STREAM_VERDICT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.rdsb_deliver), t->socks_fd, BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		pr_warn("rds-bpf: cannot attach the sockmap programs: %s; %s; "
			"hint: needs a kernel with sockmap stream parsers (CONFIG_BPF_STREAM_PARSER)\n",
			strerror(errno), then_what(asked));
		return err;
	}
	t->rcvq = mmap(NULL, RCVQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(skel->maps.rdsb_rcvq), 0);
	t->sock_at = calloc(RDSB_MAX_SOCKS, sizeof(*t->sock_at));
	t->rxack = mmap(NULL, RXACK_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(skel->maps.rdsb_rxack), 0);
	t->rxack_at = calloc(RDSB_MAX_TCPPATHS, sizeof(*t->rxack_at));
	if (t->rcvq == MAP_FAILED || !t->sock_at || t->rxack == MAP_FAILED || !t->rxack_at ||
	    tcp_events_init(e, bpf_map__fd(skel->maps.rdsb_events))) {
		err = -errno;
		pr_warn("rds-bpf: cannot set up the sockmap data path: %s; %s\n",
			strerror(errno), then_what(asked));
		return err ? err : -ENOMEM;
	}
	if (outbox_init(e, skel) < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot set up the engine's outbox: %s; %s\n",
			strerror(errno), then_what(asked));
		return err ? err : -ENOMEM;
	}
	if (inbox_init(e, bpf_map__fd(skel->maps.rdsb_inbox)) < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot set up the engine's inbox: %s; %s\n",
			strerror(errno), then_what(asked));
		return err ? err : -ENOMEM;
	}
	return 0;
}

/* The rdsb_events ring, for the data path and the sock_ops program alike. */
int tcp_events_init(struct rdsb_engine *e, int ring_fd)
{
	struct rdsb_tcp *t = tcp_of(e);

	if (t->events)
		return 0;
	t->events = ring_buffer__new(ring_fd, on_event, e, NULL);
	if (!t->events)
		return -1;
	t->events_lost = rdsb_counter_bpf(e, RDSB_C_BPF_EVENTS_LOST);	/* an earlier engine's */
	t->events_ev.kind = EV_TRANSPORT;
	t->events_ev.fd = ring_buffer__epoll_fd(t->events);
	return rdsb_ev_set(e, &t->events_ev, EPOLLIN) < 0 ? -1 : 0;
}

void tcp_events_exit(struct rdsb_engine *e)
{
	if (!tcp_of(e)->events)
		return;
	rdsb_ev_del(e, &tcp_of(e)->events_ev);
	ring_buffer__free(tcp_of(e)->events);
	tcp_of(e)->events = NULL;
}

/* By default, where the sockmap data path did not come up: what it had set
 * up goes, its pins too, and datagrams take the userspace path (it said
 * why, in a line) */
void tcp_sockmap_fall_back(struct rdsb_engine *e)
{
	struct sockmap_rx *skel = tcp_of(e)->sockmap_obj;

	if (skel)
		rdsb_bpf_unload_shared(e, skel->obj);
	tcp_sockmap_exit(e);
	tcp_events_exit(e);
}

void tcp_sockmap_exit(struct rdsb_engine *e)
{
	if (tcp_of(e)->inbox_ev.fd >= 0) {
		rdsb_ev_del(e, &tcp_of(e)->inbox_ev);
		close(tcp_of(e)->inbox_ev.fd);
		close(tcp_of(e)->inbox_peer);
	}
	tcp_of(e)->inbox_ev.fd = tcp_of(e)->inbox_peer = -1;
	if (tcp_of(e)->out_ev.fd >= 0) {
		rdsb_ev_del(e, &tcp_of(e)->out_ev);
		close(tcp_of(e)->out_ev.fd);
		close(tcp_of(e)->out_peer);
	}
	tcp_of(e)->out_ev.fd = tcp_of(e)->out_peer = -1;
	if (tcp_of(e)->out_to)
		munmap(tcp_of(e)->out_to, sizeof(*tcp_of(e)->out_to));
	tcp_of(e)->out_to = NULL;
	free(tcp_of(e)->inbox_buf);
	tcp_of(e)->inbox_buf = NULL;
	if (tcp_of(e)->rcvq && tcp_of(e)->rcvq != MAP_FAILED)
		munmap(tcp_of(e)->rcvq, RCVQ_BYTES);
	tcp_of(e)->rcvq = NULL;
	free(tcp_of(e)->sock_at);
	tcp_of(e)->sock_at = NULL;
	if (tcp_of(e)->rxack && tcp_of(e)->rxack != MAP_FAILED)
		munmap(tcp_of(e)->rxack, RXACK_BYTES);
	tcp_of(e)->rxack = NULL;
	free(tcp_of(e)->rxack_at);
	tcp_of(e)->rxack_at = NULL;
	/* the sockets that go to the next engine keep their queues in the
	 * sockmap, pinned for it (bpf_load.c rm_pin_dir) */
	if (e->rebind_next && tcp_of(e)->sockmap_obj && e->socks_next_fd < 0)
		e->socks_next_fd = fcntl(tcp_of(e)->socks_fd, F_DUPFD_CLOEXEC, 0);
	sockmap_rx__destroy(tcp_of(e)->sockmap_obj);
	tcp_of(e)->sockmap_obj = NULL;
	rdsb_hash_free(&tcp_of(e)->paths_by_cookie);
}

void tcp_events_read(struct rdsb_engine *e)
{
	ring_buffer__consume(tcp_of(e)->events);
}

#define EVENTS_LOST_CHECK_NS	100000000ull

/* The ring was full when a program raised an event (a peer's flood of
 * congestion maps, thousands of sockets passing their limits while the
 * engine was off the CPU). Every kind but RDSB_EV_CONG_MAP is raised once
 * and then waits for the engine to arm it again, so a lost one never comes
 * back: the engine looks at the maps those events come from instead. A
 * peer's congestion map needs nothing here: rdsb_cong_peers_resync compares
 * the engine's copies every 100 ms. Nor a socket's RDSB_EV_PEER: the
 * verdict goes on writing the sender into each record it delivers, which
 * the library reads as well. */
void tcp_events_lost_check(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_tcp *t = tcp_of(e);
	uint64_t lost;

	if (!t->events)
		return;
	if (e->now < t->events_lost_at)
		goto out;
	t->events_lost_at = e->now + EVENTS_LOST_CHECK_NS;
	lost = rdsb_counter_bpf(e, RDSB_C_BPF_EVENTS_LOST);
	if (lost == t->events_lost)
		goto out;
	/* said at most once every 5 s, however long a flood lasts */
	if (!t->events_lost_said || e->now - t->events_lost_said >= 5000000000ull) {
		pr_warn("rds-bpf: %" PRIu64 " events from the BPF programs lost (their ring was full): read from the maps instead\n",
			lost - t->events_lost);
		t->events_lost_said = e->now;
	}
	t->events_lost = lost;
	ring_buffer__consume(t->events);	/* those it kept come first */
	for (uint32_t i = 0; t->sock_at && i < RDSB_MAX_SOCKS; i++)
		if (t->sock_at[i])
			rdsb_sock_check_cong(e, t->sock_at[i]);
	for (uint32_t i = 0; t->rxack_at && i < RDSB_MAX_TCPPATHS; i++)
		if (t->rxack_at[i] && __atomic_load_n(&t->rxack[i].armed, __ATOMIC_ACQUIRE) == RDSB_RXACK_RAISED)
			rx_ack_event(e, t->rxack_at[i], true);
	for (uint32_t i = 0; t->tcp_at && i < RDSB_MAX_TCPPATHS; i++)
		if (t->tcp_at[i])
			rdsb_path_check_acked(e, t->tcp_at[i]);
out:
	if (t->events_lost_at < *next)
		*next = t->events_lost_at;
}

/* p's rdsb_rxack entry: it owes the engine what the engine has of p's
 * earlier sockets and has not written (rx_unwritten), so that the verdict
 * delivers behind those, and the engine wants to hear of its deliveries. */
static int rx_ack_add(struct rdsb_tcp *t, struct rdsb_path *p, struct rdsb_rxpath *rp)
{
	for (uint32_t i = 0; i < RDSB_MAX_TCPPATHS; i++) {
		if (t->rxack_at[i])
			continue;
		t->rxack_at[i] = p;
		t->rxack[i] = (struct rdsb_rxack){ .inbox = list_count(&p->rx_unwritten), .ack_sent = p->ack_sent,
						   .armed = RDSB_RXACK_ARMED };
		tcp_path(p)->rxack = (int)i;
		rp->ack = i;
		return 0;
	}
	return -1;
}

static void rx_ack_del(struct rdsb_tcp *t, struct rdsb_path *p)
{
	if (tcp_path(p)->rxack < 0)
		return;
	t->rxack_at[tcp_path(p)->rxack] = NULL;
	tcp_path(p)->rxack = -1;
}

void tcp_sockmap_rx_taken(struct rdsb_engine *e, struct rdsb_path *p, uint64_t n)
{
	if (tcp_path(p)->rxack >= 0)
		__atomic_sub_fetch(&rxack_of(tcp_of(e), p)->inbox, n, __ATOMIC_SEQ_CST);
}

/* Armed, then the sequence state read again: a delivery between the
 * acknowledgement's reading and the arming raised nothing. Not armed (the
 * core looks again itself), the verdict raises an event only for a record
 * that wants an acknowledgement at once. */
void tcp_sockmap_rx_ack_sent(struct rdsb_engine *e, struct rdsb_path *p, uint64_t sent, bool arm)
{
	struct rdsb_rxack *a;

	if (tcp_path(p)->rxack < 0)
		return;
	a = rxack_of(tcp_of(e), p);
	__atomic_store_n(&a->ack_sent, sent, __ATOMIC_RELAXED);
	if (!p->conn->deliv_send) {
		__atomic_store_n(&a->armed, RDSB_RXACK_OFF, __ATOMIC_SEQ_CST);
		return;
	}
	if (!arm) {
		__atomic_store_n(&a->armed, RDSB_RXACK_RAISED, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_store_n(&a->armed, RDSB_RXACK_ARMED, __ATOMIC_SEQ_CST);
	if (rdsb_path_rx_safe(p) > sent)
		rdsb_path_ack_due(p);
}

void tcp_sockmap_path_add(struct rdsb_engine *e, struct rdsb_path *p)
{
	/* the counts go on from where the path's earlier sockets left them */
	struct rdsb_rxpath rp = { .next_rx_seq = p->next_rx_seq, .rx_msgs = p->rx_msgs,
				  .rx_bytes = p->rx_bytes, .lslot = (uint32_t)p->conn->lslot,
				  .fslot = (uint32_t)p->conn->fslot, .path = p->index,
				  .ss = p->conn->ss ? (uint32_t)(p->conn->ss - e->seqstate) : 0 };
	socklen_t len = sizeof(uint64_t);
	int fd = p->ev.fd, buf = PATH_RCVBUF, one = 1;
	uint64_t cookie = 0, sockfd = (uint64_t)fd;	/* the maps' values are 64-bit */

	if (!tcp_of(e)->sockmap_obj || fd < 0 || rx_ack_add(tcp_of(e), p, &rp) < 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    bpf_map_update_elem(tcp_of(e)->rxpath_fd, &cookie, &rp, BPF_ANY)) {
		pr_info("rds-bpf: path %u stays on the userspace path: %s\n", p->index, strerror(errno));
		rx_ack_del(tcp_of(e), p);
		return;
	}
	if (bpf_map_update_elem(tcp_of(e)->pathsk_fd, &cookie, &sockfd, BPF_NOEXIST)) {
		pr_info("rds-bpf: path %u stays on the userspace path: sockmap: %s\n", p->index,
			strerror(errno));
		bpf_map_delete_elem(tcp_of(e)->rxpath_fd, &cookie);
		rx_ack_del(tcp_of(e), p);
		return;
	}
	tcp_path(p)->cookie = cookie;
	if (rdsb_hash_add(&tcp_of(e)->paths_by_cookie, &tcp_path(p)->cookie_node, rdsb_hash_u64(cookie))) {
		pr_info("rds-bpf: path %u stays on the userspace path: out of memory\n", p->index);
		tcp_sockmap_path_del(e, p);
		return;
	}
	p->rx_prechecked = true;
	p->rx_up_next = p->next_rx_seq;
	/* What arrived before the socket joined the map waits for the next
	 * data_ready; setting SO_RCVLOWAT calls it now (tcp_set_rcvlowat). */
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
}

/* The engine's copy of the receive state <-> the verdict's. */
void tcp_sockmap_path_sync(struct rdsb_engine *e, struct rdsb_path *p, bool to_bpf)
{
	struct rdsb_rxpath rp;

	if (!tcp_path(p)->cookie || bpf_map_lookup_elem(tcp_of(e)->rxpath_fd, &tcp_path(p)->cookie, &rp))
		return;
	if (to_bpf) {
		rp.next_rx_seq = p->next_rx_seq;
		bpf_map_update_elem(tcp_of(e)->rxpath_fd, &tcp_path(p)->cookie, &rp, BPF_EXIST);
		return;
	}
	p->next_rx_seq = rp.next_rx_seq;
	p->rx_msgs = rp.rx_msgs;
	p->rx_bytes = rp.rx_bytes;
}

/* Once the socket is drained: it leaves the map when it is closed. */
void tcp_sockmap_path_del(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (!tcp_path(p)->cookie)
		return;
	/* what the verdict sent the inbox goes to the engine first: the path
	 * can take it only while the cookie names it */
	if (__atomic_load_n(&rxack_of(tcp_of(e), p)->inbox, __ATOMIC_SEQ_CST) > list_count(&p->rx_unwritten))
		tcp_sockmap_inbox_read(e);
	tcp_sockmap_path_sync(e, p, false);
	bpf_map_delete_elem(tcp_of(e)->pathsk_fd, &tcp_path(p)->cookie);
	bpf_map_delete_elem(tcp_of(e)->rxpath_fd, &tcp_path(p)->cookie);
	rx_ack_del(tcp_of(e), p);
	rdsb_hash_del(&tcp_of(e)->paths_by_cookie, &tcp_path(p)->cookie_node);
	tcp_path(p)->cookie = 0;
	p->rx_prechecked = false;
	rdsb_path_rx_safe_sync(p);	/* the engine's duplicate rule from here */
}

void tcp_sockmap_sock_open(struct rdsb_engine *e, struct rdsb_sock *s)
{
	static uint32_t next;
	uint64_t sockfd = (uint64_t)s->app_fd;

	tcp_sock(s)->idx = -1;
	if (!tcp_of(e)->sockmap_obj)
		return;
	for (uint32_t i = 0; i < RDSB_MAX_SOCKS; i++) {
		uint32_t idx = (next + i) % RDSB_MAX_SOCKS;

		if (tcp_of(e)->sock_at[idx])
			continue;
		if (bpf_map_update_elem(tcp_of(e)->socks_fd, &idx, &sockfd, BPF_ANY)) {
			pr_info("rds-bpf: socket %u: delivery on the userspace path: sockmap: %s\n", s->id,
				strerror(errno));
			return;
		}
		next = idx + 1;
		tcp_sock(s)->idx = (int)idx;
		tcp_of(e)->sock_at[idx] = s;
		memset(&tcp_of(e)->rcvq[idx], 0, sizeof(tcp_of(e)->rcvq[idx]));
		tcp_of(e)->rcvq[idx].sock_id = s->id;
		__atomic_store_n(&s->shm->rx_index, idx + 1, __ATOMIC_RELEASE);
		return;
	}
}

void tcp_sockmap_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_sock_key k = { .slot = (uint32_t)s->slot, .port = s->port };
	uint32_t idx = (uint32_t)tcp_sock(s)->idx;

	if (tcp_sock(s)->idx < 0)
		return;
	tcp_sockmap_sock_arm(e, s, s->rcvbuf);
	if (rdsb_holding(e) && !tcp_sock(s)->gated) {
		uint64_t c[RDSB_C_MAX];

		/* the verdict may have sent records for this port to the
		 * inbox: they come first (rdsb_rcvq.gate) */
		__atomic_store_n(&tcp_of(e)->rcvq[idx].gate, RDSB_GATE_CLOSED, __ATOMIC_SEQ_CST);
		tcp_sock(s)->gated = true;
		tcp_sock(s)->gated_read = 0;
		tcp_of(e)->gates_closed++;
		bpf_map_update_elem(tcp_of(e)->bound_fd, &k, &idx, BPF_ANY);
		rdsb_counters_read(e, c);	/* what went to the inbox by now */
		tcp_sock(s)->inbox_before = c[RDSB_C_BPF_RX_TO_ENGINE];
		return;
	}
	bpf_map_update_elem(tcp_of(e)->bound_fd, &k, &idx, BPF_ANY);
}

void tcp_sockmap_sock_close(struct rdsb_engine *e, struct rdsb_sock *s)
{
	struct rdsb_sock_key k = { .slot = (uint32_t)s->slot, .port = s->port };
	uint32_t idx = (uint32_t)tcp_sock(s)->idx;

	if (tcp_sock(s)->idx < 0)
		return;
	if (s->bound)
		bpf_map_delete_elem(tcp_of(e)->bound_fd, &k);
	/* A socket that goes to the next engine stays in the sockmap, which
	 * is pinned for it: out of it, what the verdict delivered and the
	 * application has not read would go (a psock's queue goes with it). */
	if (!(e->stopping && e->rebind_next && s->bound))
		bpf_map_delete_elem(tcp_of(e)->socks_fd, &idx);
	__atomic_store_n(&tcp_of(e)->rcvq[idx].armed, 0, __ATOMIC_RELEASE);
	if (tcp_sock(s)->gated) {
		tcp_sock(s)->gated = false;
		tcp_of(e)->gates_closed--;
	}
	tcp_of(e)->sock_at[idx] = NULL;
	tcp_sock(s)->idx = -1;
}

uint64_t tcp_sockmap_sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s)
{
	return tcp_sock(s)->idx < 0 ? 0 : __atomic_load_n(&tcp_of(e)->rcvq[tcp_sock(s)->idx].delivered, __ATOMIC_ACQUIRE);
}

/* Raise an event once BPF delivers room more bytes (0: none, while the
 * socket is congested and the timer watches it drain). */
void tcp_sockmap_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room)
{
	struct rdsb_rcvq *q;

	if (tcp_sock(s)->idx < 0)
		return;
	q = &tcp_of(e)->rcvq[tcp_sock(s)->idx];
	__atomic_store_n(&q->armed, 0, __ATOMIC_RELEASE);
	if (!room)
		return;
	__atomic_store_n(&q->limit, __atomic_load_n(&q->delivered, __ATOMIC_ACQUIRE) + room, __ATOMIC_RELEASE);
	__atomic_store_n(&q->armed, 1, __ATOMIC_RELEASE);
}
