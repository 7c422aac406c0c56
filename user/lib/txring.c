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
 * payload never wraps: one that does not fit before the end of the
 * socket's window starts at the ring's start (rdsb_txring_at). Whatever
 * does not fit goes on the stream as before. The
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
			rdsb_own_close(s->txfd);	/* sends go through the engine */
		s->txfd = -1;
	}
}

/* Whether the engine released the ring up to END: every payload before it */
bool rdsb_txring_released(const struct rdsb_sock_shm *sh, uint32_t end)
{
	return (int32_t)(__atomic_load_n(&sh->copy_released, __ATOMIC_ACQUIRE) - end) >= 0;
}

/* The ring's first bytes a socket's payloads use: as much as its send
 * queue may hold (sndbuf, as send.c counts it) and the payload, at least
 * 1 MiB. The pages of a memfd are made as they are touched and stay until
 * the socket is closed, so a socket that keeps little in flight keeps its
 * ring small; one that asks for a large sndbuf (16 MiB of 1 MiB datagrams
 * in flight) gets its payloads in the ring, not on the stream. */
static uint32_t window(const struct rdsb_lsock *s, uint32_t len)
{
	uint64_t want = (uint64_t)s->st->sk_sndbuf / 2 + len;
	uint32_t w = 1u << 20;

	while (w < want && w < RDSB_TXRING_BYTES)
		w <<= 1;
	return w;
}

uint32_t rdsb_txring_at(const struct rdsb_lsock *s, uint32_t head, uint32_t len)
{
	uint32_t off = head & (RDSB_TXRING_BYTES - 1);

	/* the skipped rest counts as used until the engine releases past it */
	return off + len > window(s, len) ? head + RDSB_TXRING_BYTES - off : head;
}

bool rdsb_txring_fits(const struct rdsb_sock_shm *sh, uint32_t at, uint32_t len)
{
	return at + len - __atomic_load_n(&sh->copy_released, __ATOMIC_ACQUIRE) <= RDSB_TXRING_BYTES;
}

void rdsb_txring_write(struct rdsb_lsock *s, uint32_t at, const struct iovec *iov, int cnt)
{
	uint8_t *to = s->ring + (at & (RDSB_TXRING_BYTES - 1));

	for (int i = 1; i < cnt; i++) {
		memcpy(to, iov[i].iov_base, iov[i].iov_len);
		to += iov[i].iov_len;
	}
}

int rdsb_txring_place(struct rdsb_lsock *s, struct rdsb_send_req *req, const struct iovec *iov, int cnt)
{
	struct rdsb_sock_shm *sh = s->shm;
	uint32_t head = sh->ring_head, at = rdsb_txring_at(s, head, req->len);

	if (!s->ring || req->len < RDSB_TXRING_MIN || (req->flags & RDSB_REQ_RESENT) ||
	    !rdsb_txring_released(sh, sh->ring_direct_end))
		return cnt;
	if (!rdsb_txring_fits(sh, at, req->len))
		return cnt;
	rdsb_txring_write(s, at, iov, cnt);
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
