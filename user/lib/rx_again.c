// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The same datagram from two engines. An engine counts a record received
 * (its sequence state, its held log) once the write that put it into an
 * application's stream took it: killed between the write and the count, it
 * leaves the record in the stream, and the peer sends it again to the next
 * engine (or that engine delivers it again from the held log). Such a copy
 * is one of the RDSB_DELIV_BATCH records the stream before ended with, and
 * comes in the next engine's stream: it is dropped here, as the kernel's
 * rds_recv_incoming drops a number it has seen.
 *
 * A datagram is known by its sender's address and ports, its number and
 * its length. Those the stream before ended with are kept until their copy
 * came, or a later number from the same sender's port to the same port
 * (one path, in order: the copy would have come first).
 */
#include <string.h>
#include "lib.h"
#include "../common/hash.h"

uint32_t rdsb_rx_key(const struct rdsb_addr *from, const struct rdsb_deliv_hdr *h)
{
	struct {
		uint8_t addr[16];
		uint32_t scope_id;
		uint16_t sport, dport;
	} k = { .scope_id = from->scope_id, .sport = h->sport, .dport = h->dport };

	memcpy(k.addr, from->addr, 16);
	return (uint32_t)rdsb_hash_mem(&k, sizeof(k), 0);
}

/* The stream of a later engine: what the one before ended with is kept */
static void next_stream(struct rdsb_rx_seen_log *log, uint32_t epoch)
{
	if (log->n) {
		memcpy(log->before, log->last, sizeof(log->before));
		log->n_before = log->n;
	}
	log->epoch = epoch;
	log->head = log->n = 0;
}

/* Whether h, read from the stream of epoch, is a copy of a datagram the
 * stream before ended with. consume: h is taken (not peeked), and is one of
 * this stream's unless it is such a copy. */
bool rdsb_rx_again(struct rdsb_rx_seen_log *log, uint32_t epoch, uint32_t key, const struct rdsb_deliv_hdr *h,
		   bool consume)
{
	uint32_t seq = (uint32_t)h->seq;
	bool again = false;

	if ((int32_t)(epoch - log->epoch) > 0)
		next_stream(log, epoch);
	else if (epoch != log->epoch)
		return false;
	for (uint32_t i = 0; i < log->n_before;) {
		const struct rdsb_rx_seen *b = &log->before[i];
		bool copy = b->key == key && b->seq == seq && b->len == h->len;

		again |= copy;
		/* its copy came, or a later number from the same port: it
		 * never will (one path, in order) */
		if (consume && b->key == key && (copy || (int32_t)(seq - b->seq) > 0))
			log->before[i] = log->before[--log->n_before];
		else
			i++;
	}
	if (consume && !again) {
		log->last[log->head] = (struct rdsb_rx_seen){ .key = key, .seq = seq, .len = h->len };
		log->head = (log->head + 1) % RDSB_DELIV_BATCH;
		if (log->n < RDSB_DELIV_BATCH)
			log->n++;
	}
	return again;
}
