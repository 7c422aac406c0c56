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
 * has a datagram already drops it as a retransmission.
 *
 * The copies are this process's: a socket shared by fork sends again, on
 * the next engine, only what each process wrote itself (a child starts with
 * none: what the parent sent before the fork is the parent's). There are at most
 * RDSB_SEQTAB_N of them (a send waits for room, as for sndbuf), so that the
 * engine's table still has the number of each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "lib.h"

struct rdsb_copy {
	struct rdsb_copy *next;
	uint64_t req;		/* the engine's number of the request */
	struct rdsb_send_req hdr;
	uint8_t data[];
};

void rdsb_copies_map(struct rdsb_lsock *s, int shm_fd)
{
	void *t = mmap(NULL, RDSB_SEQTAB_BYTES, PROT_READ, MAP_SHARED, shm_fd, RDSB_SEQTAB_OFF);

	if (s->seqtab)
		munmap((void *)s->seqtab, RDSB_SEQTAB_BYTES);
	s->seqtab = t == MAP_FAILED ? NULL : t;
}

/* Under wlock: forget what the engine's page says is acknowledged. */
static void prune(struct rdsb_lsock *s, const struct rdsb_sock_shm *page)
{
	uint64_t acked = __atomic_load_n(&page->reqs_acked, __ATOMIC_ACQUIRE);

	if (!s->copies_tail)
		s->copies_tail = &s->copies;
	while (s->copies && s->copies->req < acked) {
		struct rdsb_copy *c = s->copies;

		s->copies = c->next;
		free(c);
		s->ncopies--;
	}
	if (!s->copies)
		s->copies_tail = &s->copies;
}

bool rdsb_copies_room(struct rdsb_lsock *s)
{
	uint64_t acked = __atomic_load_n(&s->shm->reqs_acked, __ATOMIC_ACQUIRE);

	return s->lsh->reqs_sent - acked < RDSB_SEQTAB_N;
}

struct rdsb_copy **rdsb_copies_keep(struct rdsb_lsock *s, const struct rdsb_send_req *req,
				    const struct iovec *iov, int cnt)
{
	struct rdsb_copy *c, **at;
	size_t off = 0;

	prune(s, s->shm);
	c = malloc(sizeof(*c) + req->len);
	if (!c)
		return NULL;
	c->next = NULL;
	c->req = s->lsh->reqs_sent;
	c->hdr = *req;
	for (int i = 0; i < cnt; i++) {
		memcpy(c->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	at = s->copies_tail;
	*at = c;
	s->copies_tail = &c->next;
	s->ncopies++;
	return at;
}

void rdsb_copies_unkeep(struct rdsb_lsock *s, struct rdsb_copy **at)
{
	free(*at);
	*at = NULL;
	s->copies_tail = at;
	s->ncopies--;
}

void rdsb_copies_forget(struct rdsb_lsock *s)
{
	while (s->copies) {
		struct rdsb_copy *c = s->copies;

		s->copies = c->next;
		free(c);
	}
	s->copies_tail = &s->copies;
	s->ncopies = 0;
}

void rdsb_copies_free(struct rdsb_lsock *s)
{
	rdsb_copies_forget(s);
	if (s->seqtab)
		munmap((void *)s->seqtab, RDSB_SEQTAB_BYTES);
	s->seqtab = NULL;
}

/*
 * The socket is on a new engine (page, stream): under every lock of the
 * socket, with old the engine before's page and its table still mapped.
 * Each copy not acknowledged there is written to the new engine, with the
 * number that engine had given it, and counted on the new page's send
 * accounting. Returns 0, or the error of the write (the new engine went
 * too: what was not written goes to the one after).
 */
int rdsb_copies_resend(struct rdsb_lsock *s, struct rdsb_sock_shm *old, const struct rdsb_seq_slot *old_tab)
{
	struct rdsb_copy *c;

	prune(s, old);
	for (c = s->copies; c; c = c->next) {
		const struct rdsb_seq_slot *slot = old_tab ? &old_tab[c->req % RDSB_SEQTAB_N] : NULL;
		struct iovec iov[2] = { { &c->hdr, sizeof(c->hdr) }, { c->data, c->hdr.len } };
		int err;

		c->hdr.flags |= RDSB_REQ_RESENT;
		if (slot && __atomic_load_n(&slot->req, __ATOMIC_ACQUIRE) == c->req + 1) {
			c->hdr.seq = slot->seq & ((1ull << RDSB_SEQ_PATH_SHIFT) - 1);
			c->hdr.path = (uint8_t)(slot->seq >> RDSB_SEQ_PATH_SHIFT);
		}
		__atomic_add_fetch(&s->shm->snd_bytes, c->hdr.len, __ATOMIC_SEQ_CST);
		err = rdsb_write_all(s->fd, iov, c->hdr.len ? 2 : 1);
		if (err) {
			__atomic_sub_fetch(&s->shm->snd_bytes, c->hdr.len, __ATOMIC_SEQ_CST);
			return err;
		}
		c->req = s->lsh->reqs_sent++;
	}
	return 0;
}
