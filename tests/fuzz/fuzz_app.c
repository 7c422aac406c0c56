// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: what an application sends the engine, through the engine's own
 * code: control requests (user/engine/ctl.c, rdsb_ctl_handle: bind, buffers,
 * cancel, congestion monitor, status, unload...) and the stream of send
 * requests on its delivery socket (user/engine/sock.c, app_consume) and in
 * its request queue (rq_take), mixed as the input says: a byte, even for a
 * control request (the next sizeof(struct rdsb_ctl_req) bytes); odd for
 * stream bytes (a 16-bit length, then that many), or with bit 1 set too for
 * bytes written into the request queue at its tail (a 16-bit length, with
 * bit 2 a 32-bit count the tail then moves by, else the length; then the
 * bytes), which the engine then reads. The rest of the engine is stubbed
 * here; every queued datagram's payload is read whole, in the socket's
 * copy ring too.
 */
#include "../../user/engine/sock.c"

static volatile uint8_t sink;

const char *const rdsb_counter_names[RDSB_C_MAX];
int rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope, enum rdsb_addr_kind kind)
{
	(void)e, (void)scope, (void)kind;
	return addr[14] == 0xff ? -1 : addr[15] % RDSB_MAX_ADDRS;
}
void rdsb_addr_put(struct rdsb_engine *e, int slot) { (void)e, (void)slot; }
static void sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room) { (void)e, (void)s, (void)room; }
static void sock_nothing(struct rdsb_engine *e, struct rdsb_sock *s) { (void)e, (void)s; }
static uint64_t sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s) { (void)e, (void)s; return 0; }
static int sock_open(struct rdsb_engine *e, struct rdsb_sock *s, int fds[3]) { (void)e, (void)s, (void)fds; return 0; }
static int sock_out(struct rdsb_engine *e, struct rdsb_sock *s) { (void)e, (void)s; return -1; }
static int laddr_check(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope) { (void)e, (void)addr, (void)scope; return 0; }
static void status(struct rdsb_engine *e, struct rdsb_tp_status *st)
{
	(void)e;
	st->data_path = "userspace";
	st->ack_cgroup = "";
}
static void counters(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	fn(arg, "fuzz", e->counters[0]);
}
void rdsb_cong_set_local(struct rdsb_engine *e, int slot, uint16_t port, bool congested)
{
	(void)e, (void)slot, (void)port, (void)congested;
}
void rdsb_conn_cancel(struct rdsb_engine *e, uint32_t sock_id, const uint8_t faddr[16], uint16_t dport)
{
	(void)e, (void)sock_id, (void)faddr, (void)dport;
}
struct rdsb_conn *rdsb_conn_get(struct rdsb_engine *e, const uint8_t laddr[16], const uint8_t faddr[16],
				uint32_t scope, bool create)
{
	static struct rdsb_conn c;

	(void)e, (void)laddr, (void)scope, (void)create;
	return faddr[15] & 1 ? &c : NULL;
}
void rdsb_msg_free(struct rdsb_msg *m)
{
	if (m && m->tx_sock)
		rdsb_sock_req_acked(m);
	if (m && m->ring)
		rdsb_txring_put(m->ring);
	else if (m && !m->data_inline)
		free(m->data);
	free(m);
}
bool rdsb_conn_queue(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m)
{
	(void)c;
	for (uint32_t i = 0; i < m->len; i++)
		sink ^= m->data[i];
	rdsb_sock_req_done(e, m);
	rdsb_sock_sent(e, m->sock_id, m->len);
	rdsb_msg_free(m);
	return true;
}
bool rdsb_conn_tx_room(const struct rdsb_conn *c)
{
	(void)c;
	return true;
}
/* a resent request's number: taken for every odd one, acknowledged
 * before for every fourth even one */
bool rdsb_seqstate_resend_ok(const struct rdsb_path *p, uint64_t seq)
{
	(void)p;
	return seq & 1;
}
bool rdsb_seqstate_resend_acked(const struct rdsb_path *p, uint64_t seq)
{
	(void)p;
	return seq && !(seq & 3);
}
void rdsb_conn_resend(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m)
{
	(void)p;
	rdsb_conn_queue(e, NULL, m);
}
void rdsb_counters_read(struct rdsb_engine *e, uint64_t out[RDSB_C_MAX])
{
	memcpy(out, e->counters, sizeof(e->counters));
}
void rdsb_ev_del(struct rdsb_engine *e, struct rdsb_ev *ev) { (void)e; ev->events = 0; }
int rdsb_ev_set(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events)
{
	(void)e;
	ev->events = events;
	return 0;
}
int rdsb_info(struct rdsb_engine *e, int optname, void *buf, size_t cap, size_t *total)
{
	(void)e, (void)optname, (void)buf, (void)cap, (void)total;
	return -ENOPROTOOPT;
}
void rdsb_log(int level, const char *fmt, ...) { (void)level, (void)fmt; }
void rdsb_path_rx_resume(struct rdsb_engine *e, struct rdsb_sock *s) { (void)e, (void)s; }
void rdsb_path_rx_safe_set(struct rdsb_path *p, uint64_t next) { (void)p, (void)next; }
void rdsb_path_rx_safe_sync(struct rdsb_path *p) { (void)p; }
void rdsb_msg_rx_done(struct rdsb_msg *m, bool written) { (void)m, (void)written; }
void rdsb_paths_xmit_due(struct rdsb_engine *e) { (void)e; }
int rdsb_records_write(int fd, struct rdsb_writer *w) { (void)fd, (void)w; return 0; }
int rdsb_sysctl_int(const char *name, int dflt) { (void)name; return dflt; }
int rdsb_bpf_old_delivered(const struct rdsb_engine *e, uint32_t index, uint64_t cookie, uint64_t *bytes)
{
	(void)e, (void)index, (void)cookie, (void)bytes;
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the hooks of a transport that has nothing of its own */
	static const struct rdsb_transport tp = {
		.name = "fuzz", .sock_open = sock_open, .sock_bind = sock_nothing, .sock_close = sock_nothing,
		.sock_delivered = sock_delivered, .sock_arm = sock_arm, .sock_out = sock_out,
		.laddr_check = laddr_check,
		.status = status, .counters = counters,
	};
	static struct rdsb_engine e = { .tp = &tp };
	struct rdsb_sock *s = calloc(1, sizeof(*s));
	uint8_t *q;

	if (!e.socks.next) {
		INIT_LIST_HEAD(&e.socks);
		INIT_LIST_HEAD(&e.dead_socks);
		INIT_LIST_HEAD(&e.conns);
		INIT_LIST_HEAD(&e.held);
		INIT_LIST_HEAD(&e.held_stalled);
		INIT_LIST_HEAD(&e.port_holds);
		INIT_LIST_HEAD(&e.tx_held);
		INIT_LIST_HEAD(&e.tx_due);
		INIT_LIST_HEAD(&e.rx_due);
		INIT_LIST_HEAD(&e.wake_due);
		INIT_LIST_HEAD(&e.rq_active);
	}
	s->shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s->id = 1;
	s->eng = &e;
	s->ctl.fd = s->data.fd = s->app_fd = -1;
	/* the copy ring of RDSB_REQ_INRING requests is mapped from it */
	s->shm_fd = memfd_create("fuzz_app", MFD_CLOEXEC);
	if (s->shm_fd >= 0 && ftruncate(s->shm_fd, RDSB_REQQ_OFF + RDSB_REQQ_BYTES))
		abort();
	q = mmap(NULL, RDSB_REQQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, s->shm_fd, RDSB_REQQ_OFF);
	if (q == MAP_FAILED)
		abort();
	s->reqq = q;
	s->slot = -1;
	s->rcvbuf = default_rcvbuf();
	s->sndbuf = default_sndbuf();
	INIT_LIST_HEAD(&s->rx_q);
	INIT_LIST_HEAD(&s->stalled);
	INIT_LIST_HEAD(&s->attached);
	INIT_LIST_HEAD(&s->tx_wait);
	INIT_LIST_HEAD(&s->rx_due);
	INIT_LIST_HEAD(&s->wake_due);
	INIT_LIST_HEAD(&s->tx_reqs);
	INIT_LIST_HEAD(&s->rq_active);
	s->seqtab = mmap(NULL, RDSB_SEQTAB_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	list_add_tail(&s->item, &e.socks);
	while (size && !s->closed) {
		if (!(data[0] & 1)) {
			struct rdsb_ctl_req req = { 0 };
			size_t n = size - 1 < sizeof(req) ? size - 1 : sizeof(req);

			memcpy(&req, data + 1, n);
			rdsb_ctl_handle(&e, s, s->ctl.fd, &req);
			data += 1 + n;
			size -= 1 + n;
		} else if (data[0] & 2) {
			size_t n = size >= 3 ? (size_t)(data[1] | data[2] << 8) : 0, head = data[0] & 4 ? 7 : 3;
			uint32_t tail = s->shm->rq_tail, by = (uint32_t)n;

			if (size < head) {
				size = 0;
				break;
			}
			if (head == 7)
				memcpy(&by, data + 3, 4);
			data += head;
			size -= head;
			if (n > size)
				n = size;
			for (size_t i = 0; i < n; i++)
				q[(tail + i) & (RDSB_REQQ_BYTES - 1)] = data[i];
			__atomic_store_n(&s->shm->rq_tail, tail + by, __ATOMIC_RELEASE);
			rq_active(&e, s);
			rdsb_socks_rq_read(&e);
			data += n;
			size -= n;
		} else {
			size_t n = size >= 3 ? (size_t)(data[1] | data[2] << 8) : 0;

			data += size >= 3 ? 3 : size;
			size -= size >= 3 ? 3 : size;
			if (n > size)
				n = size;
			app_consume(&e, s, data, n, false);
			data += n;
			size -= n;
		}
	}
	rdsb_sock_close(&e, s);
	rdsb_socks_reap(&e);
	e.stopping = false;
	return 0;
}
