// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Sequence state that outlives the engine (the pinned map rdsb_seqstate):
 * the generation number and multipath hash seed of the engine, and per
 * connection its path count, the peer's generation and each path's next
 * sequence number to send, the last one acknowledged and the next one
 * expected. It is written as it moves (plain stores into the mmapped map).
 * An engine started after one that was killed, or that stopped with bound
 * sockets, finds the map (bpf_load.c keeps it across the new pin directory)
 * and goes on with the same generation and numbers: a peer sees a reconnect,
 * keeps its own unacknowledged datagrams to send again, and drops what it
 * has already by the kernel's rule (rds_recv_incoming); the datagrams the
 * killed engine had taken come back from the library with the numbers they
 * had (user/lib/copies.c), and a path sends nothing new until they are in,
 * or until RDSB_REBIND_MS after the start, so that it sends in order. The
 * numbers of the engine's own messages (probes, pongs) are kept beside it
 * (rdsb_ownseq): no library sends those back, and they are not waited for.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "engine.h"
#include "../common/log.h"

#define SEQSTATE_BYTES (RDSB_SEQSTATE_N * sizeof(struct rdsb_seqstate))
#define OWNSEQ_BYTES (RDSB_SEQSTATE_N * sizeof(struct rdsb_ownseq))

/* Beside the sequence state, entry for entry: without it the engine's own
 * numbers are waited for as the libraries' are. */
static void ownseq_init(struct rdsb_engine *e, bool fresh)
{
	struct rdsb_ownseq *o;

	if (e->ownseq_fd < 0)
		return;
	o = mmap(NULL, OWNSEQ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->ownseq_fd, 0);
	if (o == MAP_FAILED)
		return;
	if (fresh)
		memset(o, 0, OWNSEQ_BYTES);
	e->ownseq = o;
}

void rdsb_seqstate_init(struct rdsb_engine *e)
{
	struct rdsb_seqstate *t;

	if (e->seqstate_fd < 0)
		return;
	t = mmap(NULL, SEQSTATE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->seqstate_fd, 0);
	if (t == MAP_FAILED) {
		pr_warn("rds-bpf: cannot map rdsb_seqstate: %s; a restart will be a new generation\n",
			strerror(errno));
		return;
	}
	e->seqstate = t;
	if (e->restarted && t[0].gen_num) {
		e->gen_num = t[0].gen_num;
		e->hash_initval = t[0].hash_initval;
		ownseq_init(e, false);
		pr_info("rds-bpf: restarted: going on with generation %08x\n", e->gen_num);
		return;
	}
	ownseq_init(e, true);
	memset(t, 0, SEQSTATE_BYTES);
	t[0].gen_num = e->gen_num;
	t[0].hash_initval = e->hash_initval;
}

void rdsb_seqstate_fini(struct rdsb_engine *e)
{
	if (e->seqstate)
		munmap(e->seqstate, SEQSTATE_BYTES);
	if (e->ownseq)
		munmap(e->ownseq, OWNSEQ_BYTES);
	e->seqstate = NULL;
	e->ownseq = NULL;
}

/* A path of a restarted engine whose numbers the engine before had sent
 * unacknowledged: those datagrams come back from the library first. A copy
 * of a number up to acked_seq is one the peer has, whenever it comes back:
 * the library forgets a copy only once it hears so from the engine, which
 * may be killed first (or tell it a pass late, on the sk_msg path). */
static void resend_window(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_seq_path *sp,
			  const __u64 *own)
{
	uint64_t left;

	p->resend_lo = sp->acked_seq;
	if (e->now >= e->rebind_until || sp->next_tx_seq <= sp->acked_seq + 1)
		return;
	left = sp->next_tx_seq - sp->acked_seq - 1;
	/* the engine before's own messages come back from no library */
	for (unsigned int i = 0; own && i < RDSB_OWNSEQ_N; i++)
		if (own[i] > sp->acked_seq && own[i] < sp->next_tx_seq)
			left--;
	if (!left)
		return;
	p->resend_left = left;
	p->resend_until = e->rebind_until;
}

/* p's ring of its own messages' numbers in rdsb_ownseq, or NULL */
static __u64 *own_ring(const struct rdsb_path *p)
{
	struct rdsb_engine *e = p->conn->eng;

	return e->ownseq && p->conn->ss ? e->ownseq[p->conn->ss - e->seqstate].seq[p->index] : NULL;
}

/* The engine's own message took the number seq on p: kept where the next
 * engine finds it */
void rdsb_seqstate_own(const struct rdsb_path *p, uint64_t seq)
{
	__u64 *own = own_ring(p);

	if (own)
		own[seq % RDSB_OWNSEQ_N] = seq;
}

/* p numbers from 1 again: what the engine's own messages had is gone */
void rdsb_seqstate_own_reset(const struct rdsb_path *p)
{
	__u64 *own = own_ring(p);

	if (own)
		memset(own, 0, RDSB_OWNSEQ_N * sizeof(*own));
}

void rdsb_seqstate_conn(struct rdsb_engine *e, struct rdsb_conn *c)
{
	struct rdsb_seqstate *t = e->seqstate, *free_ent = NULL;

	if (!t || c->loopback)
		return;
	for (unsigned int i = 1; i < RDSB_SEQSTATE_N; i++) {
		struct rdsb_seqstate *ss = &t[i];

		if (!ss->in_use) {
			if (!free_ent)
				free_ent = ss;
			continue;
		}
		if (memcmp(ss->laddr, c->laddr, 16) || memcmp(ss->faddr, c->faddr, 16))
			continue;
		/* the engine before had this connection */
		c->ss = ss;
		c->peer_gen = ss->peer_gen;
		/* The peer does not probe again (it knows the path count):
		 * without this, its lanes reconnecting to us would take the
		 * first free paths in the order they arrive, each one then
		 * checked against another path's next_rx_seq, and a resent
		 * datagram could be taken twice (or a new one dropped). */
		c->peer_sport_idx = ss->peer_sport_idx;
		/* nor for delivery acknowledgements: both ends go on as the
		 * engine before agreed, unless this one says otherwise (another
		 * version): then a probe tells the peer */
		c->tell_peer = ss->own_deliv != e->deliv;
		rdsb_conn_deliv_set(e, c, (uint8_t)ss->peer_deliv);
		for (unsigned int k = 0; k < RDS_MPATH_WORKERS; k++) {
			struct rdsb_path *p = &c->paths[k];
			const struct rdsb_seq_path *sp = &ss->path[k];

			if (sp->next_tx_seq)
				p->next_tx_seq = sp->next_tx_seq;
			p->next_rx_seq = sp->next_rx_seq;
			p->rx_safe_next = sp->next_rx_seq;
			resend_window(e, p, sp, e->ownseq ? e->ownseq[i].seq[k] : NULL);
		}
		return;
	}
	if (!free_ent)
		return;		/* no room: this connection starts again at 1 */
	memset(free_ent, 0, sizeof(*free_ent));
	if (e->ownseq)
		memset(&e->ownseq[free_ent - t], 0, sizeof(*e->ownseq));
	memcpy(free_ent->laddr, c->laddr, 16);
	memcpy(free_ent->faddr, c->faddr, 16);
	for (unsigned int k = 0; k < RDS_MPATH_WORKERS; k++)
		free_ent->path[k].next_tx_seq = c->paths[k].next_tx_seq;
	free_ent->in_use = 1;
	c->ss = free_ent;
}

void rdsb_seqstate_forget(struct rdsb_conn *c)
{
	if (c->ss)
		c->ss->in_use = 0;
	c->ss = NULL;
}

/* A resent request's number: one the engine before gave on p and that was
 * not acknowledged. The rest go out as new datagrams. */
bool rdsb_seqstate_resend_ok(const struct rdsb_path *p, uint64_t seq)
{
	return p->resend_until && seq > p->resend_lo && seq < p->next_tx_seq;
}

/* A resent request's number that the engine before had seen acknowledged
 * (the peer has it; the library had not heard yet): sent again as a new
 * datagram it would be delivered twice. */
bool rdsb_seqstate_resend_acked(const struct rdsb_path *p, uint64_t seq)
{
	return seq && seq <= p->resend_lo;
}
