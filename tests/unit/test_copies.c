// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/lib/copies.c: the ring of the library's copies against
 * a list of what the engine has not acknowledged, over random sends (some
 * whose write fails, some sent on a path socket, numbered by rdsb_txmsg),
 * acknowledgements (of requests by the engine's page, of numbers by the
 * path's entry, whose sequence space also starts again), forks and engine
 * restarts (some cut mid-way): after each send the ring holds as many copies
 * as the list, and every resend writes exactly the list's datagrams not
 * acknowledged, in order, each with its payload, flagged resent, with the
 * number the dead engine's table (or rdsb_txmsg) gave it, and the copies
 * renumbered as the new engine counts them. The ring wraps and grows; it
 * stays within 8 times the most bytes ever held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "../../user/lib/lib.h"
#include "check.h"

struct held {
	uint64_t req, id;
	uint32_t len;
	uint8_t flags, path;
	uint64_t seq;
	bool direct, gone;	/* sent on the path socket; acknowledged */
	uint32_t gen;		/* direct: the path's sequence space */
};

/* the path socket's entry: the numbers rdsb_txmsg gives, what TCP
 * acknowledged, the sequence space */
static struct rdsb_txpath tpath;

/* the list: held[first..last), of bytes bytes in the ring, at most peak;
 * and how often a copy wrapped the ring, was dropped right after wrapping
 * it, and the ring grew */
static struct held held[1 << 16];
static size_t first, last, bytes, peak;
static unsigned long wraps, unkept_wraps, grows;

/* the stream to the engine: what rdsb_write_all wrote, and a failure after
 * write_budget more records (-1: none) */
static uint8_t stream[1 << 24];
static size_t stream_len;
static long write_budget = -1;

int rdsb_write_all(int fd, struct iovec *iov, int cnt)
{
	(void)fd;
	if (write_budget == 0)
		return -EPIPE;
	if (write_budget > 0)
		write_budget--;
	for (int i = 0; i < cnt; i++) {
		memcpy(stream + stream_len, iov[i].iov_base, iov[i].iov_len);
		stream_len += iov[i].iov_len;
	}
	return 0;
}

static uint8_t payload_byte(uint64_t id, uint32_t i)
{
	return (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

/* small: datagrams of up to 200 bytes only, so that the ring keeps its
 * first size and wraps all the time */
static bool small;

static uint32_t rand_len(void)
{
	if (small)
		return (uint32_t)(rand() % 200);
	switch (rand() % 8) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)(rand() % 70000);
	case 2:
	case 3:
		return (uint32_t)(rand() % 9000);
	default:
		return (uint32_t)(rand() % 128);
	}
}

static struct rdsb_sock_shm *new_page(void)
{
	return calloc(1, sizeof(struct rdsb_sock_shm));
}

/* a copy's header: its number, its path's entry, sequence space and
 * mark, the request */
#define COPY_HDR (8 + 8 + 8 + sizeof(struct rdsb_send_req))

static size_t ring_bytes(uint32_t len)
{
	return (COPY_HDR + len + 7) & ~(size_t)7;
}

static bool held_acked(const struct held *h, const struct rdsb_sock_shm *page)
{
	if (h->gone)
		return true;
	if (h->direct)
		return h->gen != tpath.seq_gen || h->seq <= tpath.acked_seq;
	return h->req < page->reqs_acked;
}

/* the list's prune: the oldest go while acknowledged */
static void list_prune(const struct rdsb_sock_shm *page)
{
	while (first < last && held_acked(&held[first], page))
		bytes -= ring_bytes(held[first++].len);
}

static uint64_t next_id;

/* A send of len bytes whose write to the engine fails or not, or that
 * goes out on a path socket (direct) */
static void send_len(struct rdsb_lsock *s, uint32_t len, bool fail, bool direct)
{
	static uint8_t buf[70000];
	struct rdsb_send_req req = { .magic = RDSB_SEND_MAGIC };
	struct iovec iov[3];
	uint32_t cut1, cut2;
	int cnt = 0, err;
	bool was_wrapped, wrapped;
	size_t size;

	if (!rdsb_copies_room(s))
		return;
	req.len = len;
	req.dport = (uint16_t)next_id;
	memcpy(req.daddr, &next_id, sizeof(next_id));
	for (uint32_t i = 0; i < len; i++)
		buf[i] = payload_byte(next_id, i);
	/* the payload in up to three pieces, as sendmsg's iovecs */
	cut1 = len ? (uint32_t)rand() % (len + 1) : 0;
	cut2 = cut1 + (len - cut1 ? (uint32_t)rand() % (len - cut1 + 1) : 0);
	iov[cnt++] = (struct iovec){ buf, cut1 };
	iov[cnt++] = (struct iovec){ buf + cut1, cut2 - cut1 };
	iov[cnt++] = (struct iovec){ buf + cut2, len - cut2 };

	was_wrapped = s->copies.tail < s->copies.head;
	size = s->copies.size;
	err = rdsb_copies_keep(s, &req, iov, cnt);
	CHECK_EQ(err, 0);
	wrapped = !was_wrapped && s->copies.tail < s->copies.head;
	wraps += wrapped;
	grows += s->copies.size != size;
	list_prune(s->shm);
	if (bytes + ring_bytes(len) > peak)
		peak = bytes + ring_bytes(len);
	if (fail) {
		rdsb_copies_unkeep(s);
		unkept_wraps += wrapped;
	} else if (direct) {
		tpath.last_seq++;
		rdsb_copies_sent_direct(s, &tpath, (unsigned int)(next_id % 8));
		held[last++] = (struct held){ .id = next_id, .len = len, .direct = true, .seq = tpath.last_seq,
					      .path = (uint8_t)(next_id % 8), .gen = tpath.seq_gen };
		bytes += ring_bytes(len);
	} else {
		held[last++] = (struct held){ .req = s->lsh->reqs_sent, .id = next_id, .len = len };
		bytes += ring_bytes(len);
		s->lsh->reqs_sent++;
	}
	next_id++;
	CHECK_EQ(s->copies.n, last - first);
	CHECK(s->copies.size <= 16384 || s->copies.size <= 8 * peak);
}

static void send_one(struct rdsb_lsock *s)
{
	int how = rand() % 20;

	send_len(s, rand_len(), how == 0, how > 12);
}

/* the engine acknowledges (or drops) some of what it took; with small
 * datagrams it keeps up to 120 (as many bytes as the ring's first size) */
static void ack(struct rdsb_lsock *s)
{
	uint64_t acked = s->shm->reqs_acked, sent = s->lsh->reqs_sent;
	uint64_t lag = small ? (uint64_t)(rand() % 120) : 0;

	sent = sent > lag ? sent - lag : 0;

	if (sent > acked)
		s->shm->reqs_acked = acked + (uint64_t)rand() % (sent - acked + 1);
	/* and on the path socket, in number order; rarely the peer restarts */
	sent = tpath.last_seq > lag ? tpath.last_seq - lag : 0;
	if (rand() % 500 == 0) {
		tpath.seq_gen++;
		tpath.acked_seq = tpath.last_seq = 0;
	} else if (sent > tpath.acked_seq) {
		tpath.acked_seq += (uint64_t)rand() % (sent - tpath.acked_seq + 1);
	}
}

/* The engine is killed: the next one gets the copies not acknowledged. The
 * dead engine numbered some (its table); the write to the next one fails
 * after budget records, or never (-1). */
static void restart(struct rdsb_lsock *s, struct rdsb_sock_shm **pages, long budget)
{
	static struct rdsb_seq_slot tab[RDSB_SEQTAB_N];
	struct rdsb_sock_shm *prev = s->shm;
	size_t off = 0, n = 0, want = 0;
	bool numbered;
	int err;

	memset(tab, 0, sizeof(tab));
	list_prune(prev);
	for (size_t i = first; i < last; i++) {
		want += !held_acked(&held[i], prev);
		if (rand() % 3 == 0 || held[i].direct)
			continue;	/* never numbered, or not a request */
		tab[held[i].req % RDSB_SEQTAB_N] = (struct rdsb_seq_slot){
			.req = held[i].req + 1,
			.seq = (uint64_t)(held[i].id % 8) << RDSB_SEQ_PATH_SHIFT | (held[i].id + 1000) };
	}
	*pages = s->shm = new_page();
	s->lsh->reqs_sent = 0;
	stream_len = 0;
	write_budget = budget;
	numbered = rand() % 4;
	err = rdsb_copies_resend(s, prev, numbered ? tab : NULL);
	CHECK_EQ(err, budget >= 0 && (size_t)budget < want ? -EPIPE : 0);
	write_budget = -1;
	/* what went out: the list's datagrams not acknowledged, in order,
	 * whole, each header as the dead engine numbered it; the one whose
	 * write failed too */
	for (size_t i = first; i < last; i++) {
		struct held *h = &held[i];
		const struct rdsb_seq_slot *slot = &tab[h->req % RDSB_SEQTAB_N];
		struct rdsb_send_req req;
		uint32_t bad = 0;

		if (held_acked(h, prev)) {
			h->gone = true;	/* not sent again */
			continue;
		}
		h->flags |= RDSB_REQ_RESENT;
		if (numbered && !h->direct && slot->req == h->req + 1) {
			h->seq = slot->seq & ((1ull << RDSB_SEQ_PATH_SHIFT) - 1);
			h->path = (uint8_t)(slot->seq >> RDSB_SEQ_PATH_SHIFT);
		}
		if (off == stream_len)
			break;	/* the write that failed */
		memcpy(&req, stream + off, sizeof(req));
		off += sizeof(req);
		CHECK_EQ(req.magic, RDSB_SEND_MAGIC);
		CHECK_EQ(req.len, h->len);
		CHECK_EQ(req.dport, (uint16_t)h->id);
		CHECK(!memcmp(req.daddr, &h->id, sizeof(h->id)));
		CHECK_EQ(req.flags, h->flags);
		CHECK_EQ(req.seq, h->seq);
		CHECK_EQ(req.path, h->path);
		for (uint32_t b = 0; b < h->len; b++)
			bad += stream[off + b] != payload_byte(h->id, b);
		CHECK_EQ(bad, 0);
		off += h->len;
		h->req = n++;	/* the new engine's number */
		h->direct = false;
	}
	CHECK_EQ(off, stream_len);
	CHECK_EQ(n, budget < 0 || (size_t)budget > want ? want : (size_t)budget);
	CHECK_EQ(s->lsh->reqs_sent, n);
	free(prev);
}

static struct rdsb_lsock *start(struct rdsb_sock_shm **page)
{
	static struct rdsb_lsock s;
	static struct rdsb_lib_shm lsh;

	memset(&lsh, 0, sizeof(lsh));
	s = (struct rdsb_lsock){ .fd = -1, .lsh = &lsh, .shm = *page = new_page() };
	first = last = bytes = peak = 0;
	next_id = 0;
	tpath = (struct rdsb_txpath){ 0 };
	return &s;
}

static void finish(struct rdsb_lsock *s, struct rdsb_sock_shm **page)
{
	restart(s, page, -1);
	rdsb_copies_free(s);
	CHECK(!s->copies.buf && !s->copies.n);
	free(*page);
}

static void run(unsigned seed, int steps)
{
	struct rdsb_sock_shm *page;
	struct rdsb_lsock *s = start(&page);

	srand(seed);
	for (int i = 0; i < steps; i++) {
		int op = rand() % 1000;

		if (op < 600) {
			send_one(s);
		} else if (op < 985) {
			ack(s);
		} else if (op < 995) {
			restart(s, &page, rand() % 3 ? -1 : rand() % 20);
		} else {
			/* a fork's child: no copies, the same page */
			rdsb_copies_forget(s);
			first = last;
			bytes = 0;
			CHECK_EQ(s->copies.n, 0);
		}
	}
	finish(s, &page);
}

/* The ring's edges, in its first 16 KiB: two copies of 8 KiB fill it, the
 * first is acknowledged, then copies of need bytes (the header's COPY_HDR
 * included) go in: each at the start while it ends before the second, else
 * in a ring twice the size, or dropped again (fail). size: the ring's
 * size after them; order and payloads are checked by the resend. */
#define BYTES(need)	((uint32_t)((need) - COPY_HDR))
static void edge(const uint32_t *need, const bool *fail, int n, size_t size, bool wrapped)
{
	struct rdsb_sock_shm *page;
	struct rdsb_lsock *s = start(&page);

	send_len(s, BYTES(8192), false, false);
	send_len(s, BYTES(8192), false, false);
	CHECK_EQ(s->copies.size, 16384);
	s->shm->reqs_acked = 1;
	for (int i = 0; i < n; i++)
		send_len(s, BYTES(need[i]), fail[i], false);
	CHECK_EQ(s->copies.size, size);
	CHECK_EQ(s->copies.tail < s->copies.head, wrapped);
	finish(s, &page);
}

static void test_edges(void)
{
	/* as big as the room before the second: a bigger ring */
	edge((uint32_t[]){ 8192 }, (bool[]){ false }, 1, 32768, false);
	/* 8 bytes less: at the start */
	edge((uint32_t[]){ 8184 }, (bool[]){ false }, 1, 16384, true);
	/* then the smallest copy, which would fill it: a bigger ring */
	edge((uint32_t[]){ 8192 - COPY_HDR, COPY_HDR }, (bool[]){ false, false }, 2, 32768, false);
	/* and 8 bytes less, which fits */
	edge((uint32_t[]){ 8184 - COPY_HDR, COPY_HDR }, (bool[]){ false, false }, 2, 16384, true);
	/* a copy at the start dropped again: the ring as before, the next
	 * goes at the start */
	edge((uint32_t[]){ 8184, COPY_HDR }, (bool[]){ true, false }, 2, 16384, true);
	edge((uint32_t[]){ 8184 }, (bool[]){ true }, 1, 16384, false);
}

int main(void)
{
	test_edges();
	for (unsigned seed = 1; seed <= 20; seed++)
		run(seed, 20000);
	CHECK(grows > 20);	/* the cases were there */
	small = true;
	for (unsigned seed = 1; seed <= 20; seed++)
		run(seed, 20000);
	CHECK(wraps > 500);
	CHECK(unkept_wraps > 20);
	return check_done();
}
