// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The socket's request queue (rds-bpf/maps.h, RDSB_REQQ_OFF): while the
 * engine reads it on each of its passes, a request to the engine is written
 * there, not on the stream. A write into the stream costs the sender an
 * skb, and the wakeup of the engine where it sleeps; the engine's read of
 * it an skb freed and the writer's space given back: 1.7 us of the 5.9 CPU
 * us a 64 B request/response message cost (docs/design.md). The engine reads
 * the queue on each of its passes while rq_armed is clear; before it
 * sleeps it sets it, and the next sender clears it and wakes the engine
 * with a header alone on the stream (RDSB_REQ_KICK). Requests the queue
 * does not take (payloads of RDSB_TXRING_MIN or more outside the copy
 * ring, those sent again to a new engine) go on the stream as ever. A
 * request is on one of the two only behind every request before it
 * that the engine has taken from the other: the stream's are taken once
 * reqs_taken reaches the count after the last written there
 * (lsh->reqs_streamed), the queue's once rq_head is at rq_tail.
 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include "lib.h"

#define MASK (RDSB_REQQ_BYTES - 1)

void rdsb_reqq_map(struct rdsb_lsock *s, int shm_fd)
{
	if (s->reqq)
		munmap(s->reqq, RDSB_REQQ_BYTES);
	s->reqq = mmap(NULL, RDSB_REQQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, RDSB_REQQ_OFF);
	if (s->reqq == MAP_FAILED)
		s->reqq = NULL;	/* every request on the stream */
}

void rdsb_reqq_unmap(struct rdsb_lsock *s)
{
	if (s->reqq)
		munmap(s->reqq, RDSB_REQQ_BYTES);
	s->reqq = NULL;
}

static uint32_t entry_size(const struct rdsb_send_req *req)
{
	uint32_t inl = req->flags & RDSB_REQ_INRING ? 0 : req->len;

	return (uint32_t)sizeof(*req) + ((inl + 7) & ~7u);
}

/* Until the engine took the queue up to tail (0), or went (-EPIPE). It takes
 * what is queued on its next pass, unless the socket's connection is full:
 * then as its acknowledgements come, as a full stream would wait. */
static int wait_taken(struct rdsb_lsock *s, uint32_t tail, uint32_t room)
{
	struct rdsb_sock_shm *sh = s->shm;

	for (;;) {
		uint32_t seen = __atomic_load_n(&sh->release_seq, __ATOMIC_SEQ_CST);
		struct timespec rel = { .tv_nsec = RDSB_ENGINE_RETRY_MS * 1000000L };

		if (tail - __atomic_load_n(&sh->rq_head, __ATOMIC_SEQ_CST) <= RDSB_REQQ_BYTES - room)
			return 0;
		/* gone, or it closed this socket: it takes nothing more */
		if (rdsb_engine_gone(s) || __atomic_load_n(&sh->closed, __ATOMIC_ACQUIRE))
			return -EPIPE;
		__atomic_add_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &sh->release_seq, FUTEX_WAIT, seen, &rel, NULL, 0);
		__atomic_sub_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
	}
}

int rdsb_reqq_drained(struct rdsb_lsock *s)
{
	/* a socket without an engine writes to a stream that refuses it */
	return s->reqq && !s->lost ? wait_taken(s, s->shm->rq_tail, RDSB_REQQ_BYTES) : 0;
}

/* The engine asleep on the queue: a header alone on the stream wakes it.
 * A stream that refuses it (the engine went, or closed the socket) arms
 * the queue again, for the next sender to find the same. */
static int kick(struct rdsb_lsock *s)
{
	struct rdsb_send_req k = { .magic = RDSB_SEND_MAGIC, .flags = RDSB_REQ_KICK };
	struct iovec iov = { &k, sizeof(k) };
	int err = rdsb_write_all(rdsb_tx_fd(s), &iov, 1);

	if (err)
		__atomic_store_n(&s->shm->rq_armed, 1, __ATOMIC_SEQ_CST);
	return err;
}

int rdsb_reqq_put(struct rdsb_lsock *s, const struct rdsb_send_req *req, const struct iovec *iov, int cnt)
{
	struct rdsb_sock_shm *sh = s->shm;
	uint32_t size = entry_size(req), tail, off, at;
	uint8_t *to;
	int err;

	if (!s->reqq || s->lost || (req->flags & RDSB_REQ_RESENT) ||
	    (!(req->flags & RDSB_REQ_INRING) && req->len >= RDSB_TXRING_MIN) ||
	    __atomic_load_n(&sh->reqs_taken, __ATOMIC_ACQUIRE) < s->lsh->reqs_streamed)
		return 0;
	tail = sh->rq_tail;
	off = tail & MASK;
	at = off + size > RDSB_REQQ_BYTES ? tail + RDSB_REQQ_BYTES - off : tail;
	err = wait_taken(s, at, size);
	if (err)
		return err;
	if (at != tail && RDSB_REQQ_BYTES - off >= sizeof(*req)) {
		struct rdsb_send_req skip = { .magic = RDSB_SEND_MAGIC, .flags = RDSB_REQ_SKIP };

		memcpy(s->reqq + off, &skip, sizeof(skip));
	}
	to = s->reqq + (at & MASK);
	memcpy(to, req, sizeof(*req));
	to += sizeof(*req);
	if (!(req->flags & RDSB_REQ_INRING))
		for (int i = 1; i < cnt; i++) {
			memcpy(to, iov[i].iov_base, iov[i].iov_len);
			to += iov[i].iov_len;
		}
	/* published, then rq_armed taken: the engine sets rq_armed, then
	 * reads rq_tail; one of the two sees the other. The sender that
	 * takes it wakes the engine; those after it queue without a call
	 * while the engine reads the queue on each pass. */
	__atomic_store_n(&sh->rq_tail, at + size, __ATOMIC_SEQ_CST);
	/* refused: the request is the next engine's, from the library's
	 * copy, as one whose write on the stream was refused */
	if (__atomic_exchange_n(&sh->rq_armed, 0, __ATOMIC_SEQ_CST))
		return (err = kick(s)) ? err : 1;
	return 1;
}
