// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The library's copies of what it handed the engine. An engine killed with
 * SIGKILL takes with it the datagrams sendmsg accepted that the peer has
 * not acknowledged (queued, or on a TCP connection that dies with it). So
 * each request written to the engine is kept here, numbered as the engine
 * counts requests, until the engine says that every request up to a number
 * is acknowledged or dropped (rdsb_sock_shm reqs_acked). When the socket
 * moves to the next engine, what is left is written to it again, in order,
 * flagged RDSB_REQ_RESENT, each with the path and sequence number the dead
 * engine gave it (its table in the socket's shared memory): the next engine
 * goes on with the same numbers (user/engine/seqstate.c), so a peer that
 * has a datagram already drops it as a retransmission. A datagram sent on
 * the path socket itself (skmsg_send.c) is no request, and the engine has
 * it only as a copy that dies with it: it is kept here too, with the number
 * rdsb_txmsg gave it, until the path's entry (rdsb_txpath acked_seq) says
 * TCP acknowledged that number, and goes to the next engine as a request.
 *
 * The copies are this process's: a socket shared by fork sends again, on
 * the next engine, only what each process wrote itself (a child starts with
 * none: what the parent sent before the fork is the parent's). There are at most
 * RDSB_SEQTAB_N of them (a send waits for room, as for sndbuf), so that the
 * engine's table still has the number of each.
 *
 * They are kept oldest first in one ring per socket (struct rdsb_copies),
 * each [struct rdsb_copy][payload] whole in it: a send copies its payload
 * there, with no malloc and free per datagram. The ring doubles when a copy
 * does not fit, so it grows to the most the socket had unacknowledged (about
 * its sndbuf) and stays that size until the socket is closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "lib.h"

struct rdsb_copy {
	uint64_t req;		/* the engine's number of the request */
	/* Sent on the path socket itself (skmsg_send.c), not as a request:
	 * its path's entry, which says when TCP acknowledged its number
	 * (hdr.seq, hdr.path), in the path's sequence space seq_gen. */
	const struct rdsb_txpath *tp;
	uint32_t seq_gen;
	bool gone;		/* acknowledged, kept only until it is the oldest */
	struct rdsb_send_req hdr;
	uint8_t data[];
};

#define COPIES_MIN	16384	/* the ring's first size: doubled when full */

static struct rdsb_copy *copy_at(const struct rdsb_copies *r, size_t off)
{
	return (struct rdsb_copy *)(r->buf + off);
}

static size_t copy_size(uint32_t len)
{
	return (sizeof(struct rdsb_copy) + len + 7) & ~(size_t)7;
}

/* The ring wrapped: the copies run from head to wrap, then from 0 to tail. */
static bool wrapped(const struct rdsb_copies *r)
{
	return r->tail < r->head;
}

static size_t next_off(const struct rdsb_copies *r, size_t off)
{
	off += copy_size(copy_at(r, off)->hdr.len);
	return wrapped(r) && off == r->wrap ? 0 : off;
}

static void drop_oldest(struct rdsb_copies *r)
{
	r->head = next_off(r, r->head);
	if (!--r->n)
		r->head = r->tail = 0;
}

/* A bigger ring with the copies from its start, for need bytes more (a
 * malloc and a copy of what is held, as often as the most held doubles). */
static int grow(struct rdsb_copies *r, size_t need)
{
	size_t used = !r->n ? 0 : wrapped(r) ? r->wrap - r->head + r->tail : r->tail - r->head;
	size_t size = r->size ? 2 * r->size : COPIES_MIN;
	uint8_t *buf;

	while (size < used + need)
		size *= 2;
	buf = malloc(size);
	if (!buf)
		return -ENOBUFS;
	if (wrapped(r)) {
		memcpy(buf, r->buf + r->head, r->wrap - r->head);
		memcpy(buf + (r->wrap - r->head), r->buf, r->tail);
	} else if (used) {
		memcpy(buf, r->buf + r->head, used);
	}
	free(r->buf);
	r->buf = buf;
	r->size = size;
	r->head = 0;
	r->tail = used;
	return 0;
}

/* need contiguous bytes after the last copy: at the ring's end, else at its
 * start if the oldest copy lies past them (strictly: head == tail is an
 * empty ring), else in a bigger ring. */
static struct rdsb_copy *push(struct rdsb_copies *r, size_t need)
{
	size_t off = r->tail;

	if (!wrapped(r) && off + need > r->size && need < r->head) {
		r->wrap = off;
		off = 0;
	} else if (wrapped(r) ? off + need >= r->head : off + need > r->size) {
		if (grow(r, need))
			return NULL;
		off = r->tail;
	}
	r->undo = r->tail;
	r->tail = off + need;
	r->last = off;
	r->n++;
	return copy_at(r, off);
}

void rdsb_copies_map(struct rdsb_lsock *s, int shm_fd)
{
	void *t = mmap(NULL, RDSB_SEQTAB_BYTES, PROT_READ, MAP_SHARED, shm_fd, RDSB_SEQTAB_OFF);

	if (s->seqtab)
		munmap((void *)s->seqtab, RDSB_SEQTAB_BYTES);
	s->seqtab = t == MAP_FAILED ? NULL : t;
}

/* Acknowledged: a request below what the engine's page says, or a datagram
 * sent on a path socket whose number TCP acknowledged, or that the peer's
 * restart flushed. */
static bool copy_acked(const struct rdsb_copy *c, uint64_t reqs_acked)
{
	if (c->gone)
		return true;
	if (!c->tp)
		return c->req < reqs_acked;
	return __atomic_load_n(&c->tp->seq_gen, __ATOMIC_ACQUIRE) != c->seq_gen ||
	       c->hdr.seq <= __atomic_load_n(&c->tp->acked_seq, __ATOMIC_ACQUIRE);
}

/* Under wlock: forget the oldest copies while they are acknowledged (those
 * of the two kinds come acknowledged in different orders: a copy after an
 * unacknowledged one waits for it). */
static void prune(struct rdsb_lsock *s, const struct rdsb_sock_shm *page)
{
	uint64_t acked = __atomic_load_n(&page->reqs_acked, __ATOMIC_ACQUIRE);

	while (s->copies.n && copy_acked(copy_at(&s->copies, s->copies.head), acked))
		drop_oldest(&s->copies);
}

bool rdsb_copies_pending(struct rdsb_lsock *s)
{
	prune(s, s->shm);
	return s->copies.n > 0;
}

bool rdsb_copies_room(struct rdsb_lsock *s)
{
	uint64_t acked = __atomic_load_n(&s->shm->reqs_acked, __ATOMIC_ACQUIRE);

	return s->lsh->reqs_sent - acked < RDSB_SEQTAB_N;
}

int rdsb_copies_keep(struct rdsb_lsock *s, const struct rdsb_send_req *req, const struct iovec *iov, int cnt)
{
	struct rdsb_copy *c;
	size_t off = 0;

	prune(s, s->shm);
	c = push(&s->copies, copy_size(req->len));
	if (!c)
		return -ENOBUFS;
	c->req = s->lsh->reqs_sent;
	c->tp = NULL;
	c->gone = false;
	c->hdr = *req;
	if (req->flags & RDSB_REQ_INRING)
		return 0;	/* in the copy ring already (rdsb_copies_unring) */
	for (int i = 0; i < cnt; i++) {
		memcpy(c->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

void rdsb_copies_sent_direct(struct rdsb_lsock *s, const struct rdsb_txpath *tp, unsigned int path)
{
	struct rdsb_copy *c = copy_at(&s->copies, s->copies.last);

	c->tp = tp;
	c->seq_gen = __atomic_load_n(&tp->seq_gen, __ATOMIC_ACQUIRE);
	c->hdr.seq = __atomic_load_n(&tp->last_seq, __ATOMIC_ACQUIRE);
	c->hdr.path = (uint8_t)path;
}

/* The copies whose payload is in the copy ring (txring.c) are kept there
 * while the engine runs: its ring holds what it did not release, the
 * peer's acknowledgement of it. Before the ring goes (the socket moves to
 * the next engine), each one still here gets its payload from it, and goes
 * to the next engine inline as any other. */
void rdsb_copies_unring(struct rdsb_lsock *s)
{
	size_t off;
	uint64_t i;

	for (i = 0, off = s->copies.head; i < s->copies.n; i++, off = next_off(&s->copies, off)) {
		struct rdsb_copy *c = copy_at(&s->copies, off);

		if (!(c->hdr.flags & RDSB_REQ_INRING))
			continue;
		memcpy(c->data, s->ring + (c->hdr.ring_at & (RDSB_TXRING_BYTES - 1)), c->hdr.len);
		c->hdr.flags &= (uint8_t)~RDSB_REQ_INRING;
		c->hdr.ring_start = c->hdr.ring_at = 0;
	}
}

void rdsb_copies_unkeep(struct rdsb_lsock *s)
{
	struct rdsb_copies *r = &s->copies;

	r->tail = r->undo;
	if (!--r->n)
		r->head = r->tail = 0;
}

void rdsb_copies_forget(struct rdsb_lsock *s)
{
	s->copies.n = 0;
	s->copies.head = s->copies.tail = 0;
}

void rdsb_copies_free(struct rdsb_lsock *s)
{
	free(s->copies.buf);
	s->copies = (struct rdsb_copies){ 0 };
	if (s->seqtab)
		munmap((void *)s->seqtab, RDSB_SEQTAB_BYTES);
	s->seqtab = NULL;
}

/*
 * The socket is on a new engine (page, stream): under every lock of the
 * socket, with old the engine before's page and its table still mapped.
 * Each copy not acknowledged there is written to the new engine, with the
 * number that engine (or rdsb_txmsg) had given it, and counted on the new
 * page's send accounting. Returns 0, or the error of the write (the new
 * engine went too: what was not written goes to the one after).
 */
int rdsb_copies_resend(struct rdsb_lsock *s, struct rdsb_sock_shm *old, const struct rdsb_seq_slot *old_tab)
{
	size_t off;
	uint64_t i;

	prune(s, old);
	for (i = 0, off = s->copies.head; i < s->copies.n; i++, off = next_off(&s->copies, off)) {
		struct rdsb_copy *c = copy_at(&s->copies, off);
		const struct rdsb_seq_slot *slot = old_tab && !c->tp ? &old_tab[c->req % RDSB_SEQTAB_N] : NULL;
		struct iovec iov[2] = { { &c->hdr, sizeof(c->hdr) }, { c->data, c->hdr.len } };
		int err;

		if (copy_acked(c, __atomic_load_n(&old->reqs_acked, __ATOMIC_ACQUIRE))) {
			c->gone = true;	/* behind one that was not */
			continue;
		}
		c->hdr.flags |= RDSB_REQ_RESENT;
		if (slot && __atomic_load_n(&slot->req, __ATOMIC_ACQUIRE) == c->req + 1) {
			c->hdr.seq = slot->seq & ((1ull << RDSB_SEQ_PATH_SHIFT) - 1);
			c->hdr.path = (uint8_t)(slot->seq >> RDSB_SEQ_PATH_SHIFT);
		}
		__atomic_add_fetch(&s->shm->snd_bytes, c->hdr.len, __ATOMIC_SEQ_CST);
		err = rdsb_write_all(rdsb_tx_fd(s), iov, c->hdr.len ? 2 : 1);
		if (err) {
			__atomic_sub_fetch(&s->shm->snd_bytes, c->hdr.len, __ATOMIC_SEQ_CST);
			return err;
		}
		c->req = s->lsh->reqs_sent++;
		s->lsh->reqs_streamed = s->lsh->reqs_sent;
		c->tp = NULL;	/* a request of the new engine now */
	}
	return 0;
}
