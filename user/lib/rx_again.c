// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The same datagram from two engines. An engine counts a record received
 * (its sequence state, its held log) once the write that put it into an
 * application's stream took it: killed between the write and the count, it
 * leaves the record in the stream, and the peer sends it again to the next
 * engine (or that engine delivers it again from the held log). Such a copy
 * is one of the RDSB_DELIV_BATCH records the engine wrote last into the
 * stream before, and comes in the next engine's stream: it is dropped here,
 * as the kernel's rds_recv_incoming drops a number it has seen.
 *
 * What the stream before ended with is kept until it is no longer needed:
 * the next engine delivers what one path of a sender brings in its order,
 * the copies first (numbers the engine before did not count received), so
 * the first record of a sender's port to the same port that is no copy
 * says none of that pair will come. A datagram of another generation of
 * its sender is none, whatever its number: the peer restarted and numbers
 * from 1 again. Records the BPF path's verdict delivered (it counts what it
 * delivers as it delivers it) are never copied, and do not push the
 * engine's own records out of the last RDSB_DELIV_BATCH.
 */
#include <string.h>
#include "lib.h"
#include "../common/hash.h"

struct rdsb_rx_seen rdsb_rx_seen_of(const struct rdsb_addr *from, const struct rdsb_deliv_hdr *h)
{
	struct {
		uint8_t addr[16];
		uint32_t scope_id;
		uint16_t sport, dport;
	} k = { .scope_id = from->scope_id, .sport = h->sport, .dport = h->dport };
	uint64_t id[2] = { h->seq, h->len };

	memcpy(k.addr, from->addr, 16);
	return (struct rdsb_rx_seen){ .key = (uint32_t)rdsb_hash_mem(&k, sizeof(k), 0),
				      .id = (uint32_t)rdsb_hash_mem(id, sizeof(id), 0), .gen = h->peer_gen };
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

static bool same(const struct rdsb_rx_seen *a, const struct rdsb_rx_seen *b)
{
	return a->key == b->key && a->id == b->id && (!a->gen || !b->gen || a->gen == b->gen);
}

/* Whether d, read from the stream of epoch, is a copy of a datagram the
 * stream before ended with. consume: it is taken (not peeked); engines: an
 * engine wrote it (not the verdict), and it is one of this stream's unless
 * it is such a copy. */
bool rdsb_rx_again(struct rdsb_rx_seen_log *log, uint32_t epoch, struct rdsb_rx_seen d, bool consume,
		   bool engines)
{
	uint32_t copy;

	if ((int32_t)(epoch - log->epoch) > 0)
		next_stream(log, epoch);
	else if (epoch != log->epoch)
		return false;
	for (copy = 0; copy < log->n_before && !same(&log->before[copy], &d); copy++)
		;
	if (!consume)
		return copy < log->n_before;
	if (copy < log->n_before) {
		log->before[copy] = log->before[--log->n_before];
		return true;
	}
	/* the pair's copies come first: after one record of it that is
	 * none, none will */
	for (uint32_t i = 0; i < log->n_before;) {
		if (log->before[i].key == d.key)
			log->before[i] = log->before[--log->n_before];
		else
			i++;
	}
	if (engines) {
		log->last[log->head] = d;
		log->head = (log->head + 1) % RDSB_DELIV_BATCH;
		if (log->n < RDSB_DELIV_BATCH)
			log->n++;
	}
	return false;
}
