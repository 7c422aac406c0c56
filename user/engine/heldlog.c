// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What is held for a port of rdsb_ports (ports.c) outlives the engine: a
 * record held for such a port counts as delivered (the path's next_rx_seq
 * passes it, the peer forgets it), so an engine killed before the socket is
 * back would lose it. Each goes into the pinned map rdsb_heldlog too, a
 * ring of records in arrival order; the next engine, holding the port
 * again, takes them back first and delivers them when the socket comes
 * back. A loopback datagram (acknowledged to its sender at once) goes in
 * too when it is held only for the rebind time, and the next engine holds
 * it again for its own. A record leaves the ring when a write into its
 * socket's stream takes it, or when it is dropped (its process gone, the
 * rebind time over). An engine that stops leaves the records it could not
 * deliver for the next one.
 *
 * A pinned BPF array rather than a file on a tmpfs: it lives and goes with
 * the pin directory as rdsb_seqstate and rdsb_ports do (taken over by the
 * next engine, pinned again in the rebind directory at a stop, gone with a
 * fresh start; under the root-only pin root), so no second place needs a
 * name per network namespace and a clean-up of its own. The price: its
 * RDSB_HELDLOG_PAGES pages are the kernel's from the load on. Without BPF
 * maps there is neither this nor rdsb_ports: no port is held past the
 * rebind time, and what the rebind time holds is not acknowledged (the
 * peers send it again to the next engine).
 *
 * Bounded: a record that does not fit (the ring is full, or what is before
 * it in the ring is still held) stays in memory only, counted in
 * rx_held_unsaved: a second engine death loses it.
 *
 * Exactly once: the record is in the ring before the path's next_rx_seq
 * passes it; the next engine drops a record that its connection's sequence
 * state does not count received (the peer sends it again). It is marked
 * gone once a write took it whole into a stream, as next_rx_seq passes it
 * then (sock.c delivered): killed between the two, the next engine
 * delivers it again, and the library drops the second copy.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "engine.h"
#include "../common/log.h"

#define HELDLOG_BYTES ((size_t)RDSB_HELDLOG_PAGES * sizeof(struct rdsb_heldlog_page))
#define RING_BYTES (HELDLOG_BYTES - RDSB_HELDLOG_HDR)

_Static_assert(sizeof(struct rdsb_heldlog_hdr) <= RDSB_HELDLOG_HDR, "the header fits");
_Static_assert(sizeof(struct rdsb_heldrec) % 8 == 0, "records stay aligned");

static uint64_t rec_size(uint32_t len)
{
	return (sizeof(struct rdsb_heldrec) + len + 7) & ~7ull;
}

static struct rdsb_heldrec *rec_at(const struct rdsb_heldlog *log, uint64_t off)
{
	return (struct rdsb_heldrec *)(log->ring + off % RING_BYTES);
}

/* The tail passes what is gone (or, at a start, in a write the engine
 * before was killed in), so that the ring has room again. */
static void trim(struct rdsb_heldlog *log, bool start)
{
	uint64_t tail = log->hdr->tail, head = log->hdr->head;

	while (tail < head) {
		struct rdsb_heldrec *r = rec_at(log, tail);

		if (r->state == RDSB_HELDREC_WRAP)
			tail += RING_BYTES - tail % RING_BYTES;
		else if (r->state == RDSB_HELDREC_GONE || (start && r->state == RDSB_HELDREC_WRITING_OLD))
			tail += rec_size(r->len);
		else
			break;
	}
	__atomic_store_n(&log->hdr->tail, tail, __ATOMIC_RELEASE);
}

void rdsb_heldlog_init(struct rdsb_engine *e)
{
	struct rdsb_heldlog *log = &e->heldlog;
	void *map;

	log->eng = e;
	if (e->heldlog_fd < 0)
		return;
	map = mmap(NULL, HELDLOG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->heldlog_fd, 0);
	if (map == MAP_FAILED) {
		pr_warn("rds-bpf: cannot map rdsb_heldlog: %s; what is held for a port does not outlive the engine\n",
			strerror(errno));
		return;
	}
	log->hdr = map;
	log->ring = (uint8_t *)map + RDSB_HELDLOG_HDR;
	if (!e->restarted || log->hdr->head - log->hdr->tail > RING_BYTES || log->hdr->tail > log->hdr->head)
		memset(log->hdr, 0, sizeof(*log->hdr));
}

void rdsb_heldlog_fini(struct rdsb_engine *e)
{
	if (e->heldlog.hdr)
		munmap(e->heldlog.hdr, HELDLOG_BYTES);
	e->heldlog.hdr = NULL;
	e->heldlog.ring = NULL;
}

/* A record for the port at AT, from FROM */
static void keep(struct rdsb_engine *e, const uint8_t at[16], const uint8_t from[16], uint32_t scope_id,
		 uint8_t path, uint32_t peer_gen, struct rdsb_msg *m)
{
	struct rdsb_heldlog *log = &e->heldlog;
	uint64_t size = rec_size(m->len), head, pad;
	struct rdsb_heldrec *r;

	if (!log->hdr) {
		rdsb_count(e, RDSB_C_RX_HELD_UNSAVED);
		return;
	}
	trim(log, false);
	head = log->hdr->head;
	pad = RING_BYTES - head % RING_BYTES < size ? RING_BYTES - head % RING_BYTES : 0;
	if (head + pad + size - log->hdr->tail > RING_BYTES) {
		rdsb_count(e, RDSB_C_RX_HELD_UNSAVED);
		return;
	}
	if (pad) {
		rec_at(log, head)->state = RDSB_HELDREC_WRAP;
		head += pad;
	}
	r = rec_at(log, head);
	*r = (struct rdsb_heldrec){ .state = RDSB_HELDREC_LIVE, .len = m->len, .scope_id = scope_id,
				    .seq = m->seq, .sport = m->sport, .dport = m->dport, .flags = m->flags,
				    .path = path, .peer_gen = peer_gen };
	memcpy(r->laddr, at, 16);
	memcpy(r->faddr, from, 16);
	memcpy(r + 1, m->data, m->len);
	/* the record is there once the head passes it */
	__atomic_store_n(&log->hdr->head, head + size, __ATOMIC_RELEASE);
	m->held_log = log;
	m->held_at = head;
}

void rdsb_heldlog_keep(struct rdsb_engine *e, const struct rdsb_path *p, struct rdsb_msg *m)
{
	const struct rdsb_conn *c = p->conn;

	keep(e, c->laddr, c->faddr, c->scope_id, c->ss ? (uint8_t)p->index : RDSB_HELDREC_NO_PATH,
	     c->ss ? c->ss->peer_gen : 0, m);
}

/* From a socket of this host (the loopback transport: its sender is the
 * connection's local address, the port at its foreign one). Acknowledged at
 * once, so no sequence state decides on it: the next engine delivers it. */
void rdsb_heldlog_keep_local(struct rdsb_engine *e, const struct rdsb_conn *c, struct rdsb_msg *m)
{
	keep(e, c->faddr, c->laddr, c->scope_id, RDSB_HELDREC_LOOPBACK, m->peer_gen, m);
}

/* The connection's entry in the sequence state, if the engine before had
 * it for that peer's generation still */
static const struct rdsb_seqstate *seq_entry(const struct rdsb_engine *e, const struct rdsb_heldrec *r)
{
	for (unsigned int i = 1; e->seqstate && i < RDSB_SEQSTATE_N; i++) {
		const struct rdsb_seqstate *ss = &e->seqstate[i];

		if (ss->in_use && !memcmp(ss->laddr, r->laddr, 16) && !memcmp(ss->faddr, r->faddr, 16))
			return ss->peer_gen == r->peer_gen ? ss : NULL;
	}
	return NULL;
}

/* Killed after the record went into the ring and before the path's
 * next_rx_seq passed it: the peer sends it again. (A connection the
 * sequence state no longer has had passed it: it was freed idle, with
 * nothing left in no stream.) */
static bool received(const struct rdsb_engine *e, const struct rdsb_heldrec *r)
{
	const struct rdsb_seqstate *ss;

	if (r->path >= RDS_MPATH_WORKERS || !(ss = seq_entry(e, r)))
		return true;
	return r->seq < ss->path[r->path].next_rx_seq;
}

static struct rdsb_msg *rec_msg(struct rdsb_engine *e, const struct rdsb_heldrec *r, uint64_t at)
{
	struct rdsb_msg *m = rdsb_msg_new(r->len);
	int slot;

	if (!m)
		return NULL;
	/* the sender's address, by the slot this engine gives it */
	slot = rdsb_addr_slot(e, r->faddr, r->scope_id,
			      r->path == RDSB_HELDREC_LOOPBACK ? RDSB_ADDR_LOCAL : RDSB_ADDR_PEER);
	if (slot < 0) {
		rdsb_msg_free(m);
		return NULL;
	}
	memcpy(m->data, r + 1, r->len);
	m->len = r->len;
	m->seq = r->seq;
	m->sport = r->sport;
	m->dport = r->dport;
	m->flags = r->flags;
	m->from_slot = (uint64_t)slot;
	m->peer_gen = r->peer_gen;
	m->held_slot = true;
	m->held_log = &e->heldlog;
	m->held_at = at;
	return m;
}

/* Each record was written whole before the head passed it: a ring where
 * one is not is not the engine before's, and nothing of it is believed. */
static bool ring_sane(const struct rdsb_heldlog *log)
{
	uint64_t off = log->hdr->tail, head = log->hdr->head;

	while (off < head) {
		const struct rdsb_heldrec *r = rec_at(log, off);

		if (r->state == RDSB_HELDREC_WRAP) {
			off += RING_BYTES - off % RING_BYTES;
			continue;
		}
		if (r->len > RDS_MAX_MSG_SIZE || off % RING_BYTES + rec_size(r->len) > RING_BYTES ||
		    off + rec_size(r->len) > head)
			return false;
		off += rec_size(r->len);
	}
	return off == head;
}

void rdsb_heldlog_load(struct rdsb_engine *e)
{
	struct rdsb_heldlog *log = &e->heldlog;
	unsigned int held = 0, gone = 0, again = 0;
	uint64_t off, head;

	if (!log->hdr)
		return;
	if (!ring_sane(log)) {
		pr_warn("rds-bpf: rdsb_heldlog is damaged: what it held for ports is dropped\n");
		memset(log->hdr, 0, sizeof(*log->hdr));
		return;
	}
	trim(log, true);
	head = log->hdr->head;
	for (off = log->hdr->tail; off < head;) {
		struct rdsb_heldrec *r = rec_at(log, off);
		struct rdsb_port_hold *hold;
		struct rdsb_msg *m;
		uint64_t at = off;

		if (r->state == RDSB_HELDREC_WRAP) {
			off += RING_BYTES - off % RING_BYTES;
			continue;
		}
		off += rec_size(r->len);
		if (r->state != RDSB_HELDREC_LIVE)
			continue;
		hold = rdsb_port_hold_find(e, r->laddr, r->dport);
		if (!received(e, r)) {
			again++;
		} else if (!hold && (r->path != RDSB_HELDREC_LOOPBACK || !e->rebind_until)) {
			rdsb_count(e, RDSB_C_DROP_NO_SOCKET);
			gone++;
		} else if ((m = rec_msg(e, r, at))) {
			/* a loopback datagram of no held port: its sender was told
			 * at once, so it waits this engine's rebind time too */
			rdsb_hold_again(e, m, r->laddr, hold);
			held++;
			continue;
		} else {
			pr_warn("rds-bpf: a record held for port %u cannot be taken back: out of memory or address slots\n",
				r->dport);
		}
		r->state = RDSB_HELDREC_GONE;
	}
	trim(log, true);
	if (held || gone || again)
		pr_info("rds-bpf: restarted: %u records held for their sockets taken back, %u of ports no longer held dropped, %u the peers send again\n",
			held, gone, again);
}

/* A write took it whole into its socket's stream */
void rdsb_heldlog_written(struct rdsb_msg *m)
{
	rec_at(m->held_log, m->held_at)->state = RDSB_HELDREC_GONE;
}

void rdsb_heldlog_msg_free(struct rdsb_msg *m)
{
	struct rdsb_heldlog *log = m->held_log;
	struct rdsb_heldrec *r;

	m->held_log = NULL;
	if (m->held_slot)
		rdsb_addr_put(log->eng, (int)m->from_slot);
	if (!log->hdr)
		return;
	r = rec_at(log, m->held_at);
	/* written (the write that took it marked it), or dropped by an
	 * engine that runs; one that stops leaves it to the next */
	if (r->state == RDSB_HELDREC_LIVE && log->eng->stopping)
		return;
	r->state = RDSB_HELDREC_GONE;
	trim(log, false);
}
