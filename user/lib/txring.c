// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The socket's copy ring: RDSB_TXRING_BYTES of its shared memory, after its
 * page, which the engine maps too. It holds the copies of what went out on
 * path sockets (the sk_msg send path, skmsg_send.c), and the payloads of
 * requests to the engine: a request of RDSB_TXRING_MIN or more leaves its
 * payload there and writes only its header on the stream (RDSB_REQ_INRING),
 * so the engine reads no copy of it and writes it to the path socket from
 * the ring. The library writes that part of the ring again once the engine
 * released it (copy_released: the peer acknowledged everything before).
 * Never both kinds at once (ring_inring_end, ring_direct_end): a payload of
 * one kind waits on the stream until the engine released the other. A
 * payload never wraps: one that does not fit before the ring's end starts
 * at its start. Whatever does not fit goes on the stream as before. The
 * library's own copy of a payload in the ring is that payload, until the
 * socket moves to another engine (copies.c, rdsb_copies_unring); resent
 * copies always go on the stream.
 */
#include <string.h>
#include <sys/mman.h>
#include "lib.h"

void rdsb_txring_map(struct rdsb_lsock *s, int shm_fd)
{
	if (s->ring)
		munmap(s->ring, RDSB_TXRING_BYTES);
	s->ring = mmap(NULL, RDSB_TXRING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 4096);
	if (s->ring == MAP_FAILED) {
		s->ring = NULL;
		if (s->txfd >= 0)
			sys_close(s->txfd);	/* sends go through the engine */
		s->txfd = -1;
	}
}

/* Whether the engine released the ring up to END: every payload before it */
bool rdsb_txring_released(const struct rdsb_sock_shm *sh, uint32_t end)
{
	return (int32_t)(__atomic_load_n(&sh->copy_released, __ATOMIC_ACQUIRE) - end) >= 0;
}

int rdsb_txring_place(struct rdsb_lsock *s, struct rdsb_send_req *req, const struct iovec *iov, int cnt)
{
	struct rdsb_sock_shm *sh = s->shm;
	uint32_t head = sh->ring_head, at = head, off = head & (RDSB_TXRING_BYTES - 1);
	uint8_t *to;

	if (!s->ring || req->len < RDSB_TXRING_MIN || (req->flags & RDSB_REQ_RESENT) ||
	    !rdsb_txring_released(sh, sh->ring_direct_end))
		return cnt;
	if (off + req->len > RDSB_TXRING_BYTES)
		at += RDSB_TXRING_BYTES - off;	/* the end's rest stays unused */
	if (at + req->len - __atomic_load_n(&sh->copy_released, __ATOMIC_ACQUIRE) > RDSB_TXRING_BYTES)
		return cnt;
	to = s->ring + (at & (RDSB_TXRING_BYTES - 1));
	for (int i = 1; i < cnt; i++) {
		memcpy(to, iov[i].iov_base, iov[i].iov_len);
		to += iov[i].iov_len;
	}
	req->flags |= RDSB_REQ_INRING;
	req->ring_start = head;
	req->ring_at = at;
	sh->ring_head = sh->ring_inring_end = at + req->len;
	return 1;
}

void rdsb_txring_unplace(struct rdsb_lsock *s, struct rdsb_send_req *req)
{
	if (!(req->flags & RDSB_REQ_INRING))
		return;
	s->shm->ring_head = s->shm->ring_inring_end = req->ring_start;
	req->flags &= (uint8_t)~RDSB_REQ_INRING;
	req->ring_start = req->ring_at = 0;
}
