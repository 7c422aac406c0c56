// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One path of the XDP transport, both directions (docs/xdp-encap.md):
 * messages from the engine become numbered frames kept until the peer's
 * cumulative ack (advanced by XDP in the mmap-ed map) passes them, with a
 * retransmit timer that backs off and a fast retransmit on duplicate acks;
 * frames from the peer are put back in order within a window whose memory
 * is bounded, and reassembled into messages for the engine: an in-order
 * frame is copied once, from the umem into its message.
 * Frame numbers wrap: they are compared as serial numbers.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <rds-bpf/rules.h>
#include "xdp_int.h"
#include "../../user/common/log.h"

#define RTO_MIN (5 * 1000000ull)
#define RTO_MAX (200 * 1000000ull)

struct rdsx_stats rdsx_stats;

static inline int32_t sdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

static uint16_t new_epoch(uint16_t old)
{
	uint16_t e = 0;

	while (!e || e == old)
		if (getrandom(&e, sizeof(e), 0) != sizeof(e))
			e = (uint16_t)(old * 31 + 7);
	return e;
}

void rdsx_xpath_init(struct rdsx_xpath *xp, struct rdsx_conn_st *xc, unsigned int index,
		     struct rdsx_path *map)
{
	xp->xc = xc;
	xp->index = index;
	xp->map = map;
	xp->deliver = calloc(RDSX_DLQ, sizeof(*xp->deliver));
	xp->tx_epoch = new_epoch(0);
	xp->tx_next = xp->tx_sent = 1;
	xp->rx_next = 1;
	xp->rto = RTO_MIN;
	xp->last_credit = RDSX_INIT_CREDIT;
	__atomic_store_n(&map->tx_epoch, xp->tx_epoch, __ATOMIC_RELEASE);
	__atomic_store_n(&map->acked, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&map->sent, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&map->rx_epoch, 0, __ATOMIC_RELEASE);
	map->credit = RDSX_INIT_CREDIT;
	xp->dup_seen = map->dup_acks;
}

void rdsx_xpath_free(struct rdsx_xpath *xp)
{
	for (unsigned int i = 0; i < RDSX_RXQ; i++)
		free(xp->rxq[i].buf);
	for (uint32_t i = xp->dl_head; i != xp->dl_tail; i++)
		rdsb_msg_free(xp->deliver[i % RDSX_DLQ].m);
	rdsb_msg_free(xp->rec);
	free(xp->deliver);
}

static uint32_t window(const struct rdsx_xpath *xp)
{
	uint32_t c = xp->map->credit;	/* XDP believes no more than RDSX_CREDIT_MAX */
	uint32_t win = (c < RDSX_CREDIT_MAX ? c : RDSX_CREDIT_MAX) * RDSX_CREDIT_FRAMES;

	return win ? win : 1;	/* a window probe: one frame past a closed window */
}

bool rdsx_xpath_window_open(const struct rdsx_xpath *xp)
{
	return xp->tx_next - xp->tx_acked - 1 < window(xp);
}

bool rdsx_xpath_queue(struct rdsx_state *x, struct rdsx_xpath *xp, const struct rds_header *h,
		      const uint8_t *frag, uint32_t len, bool force)
{
	struct rdsx_kept *k = &xp->txq[xp->tx_next % RDSX_TXQ];
	uint8_t *buf;

	if (xp->tx_next - xp->tx_acked >= RDSX_TXQ || (!force && rdsx_tx_room(x) < RDSX_TX_RESERVE) ||
	    !(buf = rdsx_frame_start(x, xp->xc, xp->index, RDS_HEADER_SIZE + len, &k->addr)))
		return false;
	k->len = RDS_HEADER_SIZE + len;
	memcpy(buf, h, RDS_HEADER_SIZE);
	k->frag_sum = rdsx_copy_sum(buf + RDS_HEADER_SIZE, frag, len);
	rdsx_tx_keep(x, k->addr);
	xp->tx_next++;
	xp->tx_queued++;
	return true;
}

void rdsx_xpath_acked(struct rdsx_state *x, struct rdsx_xpath *xp, uint64_t now)
{
	uint32_t a = __atomic_load_n(&xp->map->acked, __ATOMIC_ACQUIRE);

	/* an ack of what was never sent is not believed */
	if (sdiff(a, xp->tx_acked) <= 0 || sdiff(a, xp->tx_sent) >= 0)
		return;
	while (xp->tx_acked != a) {
		rdsx_tx_unkeep(x, xp->txq[++xp->tx_acked % RDSX_TXQ].addr);
		xp->tx_freed++;
	}
	xp->rto = RTO_MIN;
	xp->rto_at = rdsx_xpath_in_flight(xp) ? now + xp->rto : 0;
	xp->dup_seen = xp->map->dup_acks;
}

/* Paths that have received a frame, over all connections: they share our
 * AF_XDP fill ring, so their windows together must fit in it, or the kernel
 * drops what is beyond (xsk_rx_fill_ring_empty) and only the RTO repairs it.
 * The share is never more than a connection's 8 paths allow: a window once
 * granted is not taken back, and the path that receives first would
 * otherwise hold the whole ring while its siblings start. */
static unsigned int rx_paths;

static uint8_t credit(const struct rdsx_xpath *xp)
{
	uint64_t room = xp->rx_held < RDSX_RX_BUDGET ? RDSX_RX_BUDGET - xp->rx_held : 0;
	uint64_t frames = room / (xp->xc->frag + RDS_HEADER_SIZE);
	uint64_t share = (RDSX_RX_RING - RDSX_RING_SLACK) /
			 (rx_paths > RDS_MPATH_WORKERS ? rx_paths : RDS_MPATH_WORKERS);
	uint64_t c;

	if (frames > RDSX_RXQ - RDSX_CREDIT_FRAMES)
		frames = RDSX_RXQ - RDSX_CREDIT_FRAMES;
	if (frames > share)
		frames = share;
	if (xp->dl_tail - xp->dl_head > RDSX_DLQ - RDSX_CREDIT_FRAMES * 4)
		frames = 0;
	c = frames / RDSX_CREDIT_FRAMES;
	return (uint8_t)(c > 255 ? 255 : c);
}

void rdsx_xpath_fields(struct rdsx_xpath *xp, uint32_t frame, struct rdsx_fields *f)
{
	f->frame = frame;
	f->epoch = xp->tx_epoch;
	f->ack = xp->rx_epoch ? (uint64_t)xp->rx_epoch << 32 | (xp->rx_next - 1) : 0;
	f->credit = credit(xp);
	xp->last_credit = f->credit;
}

static bool send_numbered(struct rdsx_state *x, struct rdsx_xpath *xp, uint32_t n)
{
	const struct rdsx_kept *k = &xp->txq[n % RDSX_TXQ];
	size_t l2l4 = rdsx_l2l4_len(xp->xc->v6);
	uint64_t addr = k->addr;
	uint8_t *frame = rdsx_tx_data(x, addr);
	struct rdsx_fields f;

	/* before it can be acked: XDP believes no ack beyond it */
	if (sdiff(n, xp->map->sent) > 0)
		__atomic_store_n(&xp->map->sent, n, __ATOMIC_RELEASE);
	if (rdsx_tx_in_ring(x, addr)) {
		/* its last copy is not out yet: this one goes in another buffer */
		uint8_t *copy = rdsx_tx_buf(x, &addr);

		if (!copy)
			return false;
		memcpy(copy, frame, l2l4 + k->len);
		frame = copy;
	}
	rdsx_xpath_fields(xp, n, &f);
	rdsx_fields_put((struct rds_header *)(frame + l2l4), &f);
	if (rdsx_frame_send(x, xp->xc, xp->index, addr, k->len, k->frag_sum))
		return true;
	if (addr != k->addr)
		rdsx_tx_release(x, addr);
	return false;
}

void rdsx_xpath_send(struct rdsx_state *x, struct rdsx_xpath *xp, uint64_t now, uint64_t *next)
{
	uint32_t win = window(xp), dups;
	bool sent = false;

	if (!xp->xc->have_mac)
		return;
	if (rdsx_xpath_in_flight(xp)) {
		dups = xp->map->dup_acks;
		if (now >= xp->rto_at) {
			send_numbered(x, xp, xp->tx_acked + 1);
			rdsx_count(retransmits);
			xp->rto = xp->rto * 2 > RTO_MAX ? RTO_MAX : xp->rto * 2;
			xp->rto_at = now + xp->rto;
			sent = true;
		} else if (dups - xp->dup_seen >= 2 && xp->fast_rexmit_at != xp->tx_acked + 1) {
			send_numbered(x, xp, xp->tx_acked + 1);
			rdsx_count(fast_retransmits);
			xp->fast_rexmit_at = xp->tx_acked + 1;
			xp->dup_seen = dups;
			sent = true;
		}
	}
	while (xp->tx_sent != xp->tx_next && (uint32_t)sdiff(xp->tx_sent, xp->tx_acked) <= win) {
		if (!send_numbered(x, xp, xp->tx_sent))
			break;
		if (xp->tx_sent == xp->tx_acked + 1)
			xp->rto_at = now + xp->rto;
		xp->tx_sent++;
		sent = true;
	}
	if (xp->ack_due && !sent) {
		struct rds_header h = { 0 };
		struct rdsx_fields f;

		rdsx_xpath_fields(xp, 0, &f);
		rdsx_fields_put(&h, &f);
		if (rdsx_send_frame(x, xp->xc, xp->index, (const uint8_t *)&h, sizeof(h)))
			rdsx_count(acks_sent);
	}
	xp->ack_due = false;
	if (rdsx_xpath_in_flight(xp) && xp->rto_at < *next)
		*next = xp->rto_at;
}

void rdsx_xpath_restart_tx(struct rdsx_xpath *xp)
{
	struct rdsx_kept *keep;
	uint32_t n = xp->tx_next - xp->tx_acked - 1, base = xp->tx_acked;

	/* renumber what is not acked from 1, under a new epoch */
	keep = calloc(n ? n : 1, sizeof(*keep));
	if (!keep)
		return;
	for (uint32_t i = 0; i < n; i++)
		keep[i] = xp->txq[(base + 1 + i) % RDSX_TXQ];
	for (uint32_t i = 0; i < n; i++)
		xp->txq[(1 + i) % RDSX_TXQ] = keep[i];
	free(keep);
	xp->tx_epoch = new_epoch(xp->tx_epoch);
	__atomic_store_n(&xp->map->tx_epoch, xp->tx_epoch, __ATOMIC_RELEASE);
	__atomic_store_n(&xp->map->acked, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&xp->map->sent, 0, __ATOMIC_RELEASE);
	xp->map->credit = RDSX_INIT_CREDIT;
	xp->tx_acked = 0;
	xp->tx_next = n + 1;
	xp->tx_sent = 1;
	xp->rto = RTO_MIN;
	xp->rto_at = 0;
	xp->dup_seen = xp->map->dup_acks;
}

static void rec_drop(struct rdsx_xpath *xp)
{
	if (!xp->in_rec)
		return;
	rdsb_msg_free(xp->rec);
	xp->rec = NULL;
	xp->in_rec = false;
	xp->rx_held -= RDS_HEADER_SIZE + xp->rec_len;
	rdsx_count(rx_bad_record);
}

static bool same_record(const struct rds_header *a, const struct rds_header *b)
{
	return a->h_sequence == b->h_sequence && a->h_len == b->h_len && a->h_sport == b->h_sport &&
	       a->h_dport == b->h_dport && a->h_flags == b->h_flags &&
	       !memcmp(a->h_exthdr, b->h_exthdr, RDS_HEADER_EXT_SPACE);
}

static bool deliver_full(const struct rdsx_xpath *xp)
{
	return xp->dl_tail - xp->dl_head >= RDSX_DLQ;
}

/* The next in-order frame: the start of a message or its next fragment. */
static void consume(struct rdsx_xpath *xp, const struct rds_header *h, const uint8_t *payload,
		    uint32_t plen)
{
	uint32_t hlen = be32toh(h->h_len);
	struct rdsx_rxm *d;

	if (xp->in_rec && !same_record(&xp->rec_hdr, h))
		rec_drop(xp);	/* a fragment of another message: the sender is broken */
	if (!xp->in_rec) {
		/* one allocation per message: the one the engine delivers */
		if (!rdsb_h_len_ok(h->h_flags, hlen) || !(xp->rec = rdsb_msg_new(hlen))) {
			rdsx_count(rx_bad_record);
			return;
		}
		xp->rec_hdr = *h;
		xp->in_rec = true;
		xp->rec_len = hlen;
		xp->rec_have = 0;
		xp->rx_held += RDS_HEADER_SIZE + hlen;
	}
	if (plen > xp->rec_len - xp->rec_have) {
		rec_drop(xp);
		return;
	}
	if (plen)
		memcpy(xp->rec->data + xp->rec_have, payload, plen);
	xp->rec_have += plen;
	if (xp->rec_have < xp->rec_len)
		return;
	/* what the engine gets is an RDS message: no transport fields */
	d = &xp->deliver[xp->dl_tail++ % RDSX_DLQ];
	rdsb_hdr_decode(&xp->rec_hdr, &d->h);
	d->h.ack = 0;
	d->h.credit = 0;
	d->h.csum = 0;
	d->m = xp->rec;
	xp->rec = NULL;
	xp->in_rec = false;
}

/* In order from rx_next, while the engine's queue has room for messages. */
static void rx_drain(struct rdsx_xpath *xp)
{
	struct rdsx_txf *slot;

	while ((slot = &xp->rxq[xp->rx_next % RDSX_RXQ])->buf && !deliver_full(xp)) {
		consume(xp, (const struct rds_header *)slot->buf, slot->buf + RDS_HEADER_SIZE,
			slot->len - RDS_HEADER_SIZE);
		xp->rx_held -= slot->len;
		free(slot->buf);
		slot->buf = NULL;
		xp->rx_next++;
	}
}

static void rx_reset(struct rdsx_xpath *xp)
{
	for (unsigned int i = 0; i < RDSX_RXQ; i++) {
		if (xp->rxq[i].buf) {
			xp->rx_held -= xp->rxq[i].len;
			free(xp->rxq[i].buf);
			xp->rxq[i].buf = NULL;
		}
	}
	if (xp->in_rec) {
		rdsb_msg_free(xp->rec);
		xp->rec = NULL;
		xp->in_rec = false;
		xp->rx_held -= RDS_HEADER_SIZE + xp->rec_len;
	}
	xp->rx_next = 1;
}

void rdsx_xpath_rx(struct rdsx_state *x, struct rdsx_xpath *xp, const struct rds_header *h,
		   const uint8_t *payload, uint32_t len)
{
	struct rdsx_fields f;
	struct rdsx_txf *slot;
	int32_t d;

	(void)x;
	rdsx_fields_get(h, &f);
	if (!f.epoch || !f.frame)
		return;
	if (xp->rx_epoch != f.epoch) {
		if (xp->rx_epoch) {
			/* the peer's engine restarted: both directions start over */
			rx_reset(xp);
			for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++)
				rdsx_xpath_restart_tx(&xp->xc->paths[i]);
		} else {
			rx_paths++;
		}
		xp->rx_epoch = f.epoch;
		/* XDP takes this path's congestion maps from this epoch on */
		__atomic_store_n(&xp->map->rx_epoch, f.epoch, __ATOMIC_RELEASE);
	}
	xp->ack_due = true;
	rdsx_count(rx_frames);
	d = sdiff(f.frame, xp->rx_next);
	if (d < 0) {
		rdsx_count(rx_dup);
		return;
	}
	if (d >= RDSX_RXQ || xp->rx_held + len > RDSX_RX_BUDGET + (uint64_t)RDS_MAX_MSG_SIZE) {
		rdsx_count(rx_out_of_window);
		return;
	}
	slot = &xp->rxq[f.frame % RDSX_RXQ];
	if (slot->buf) {
		rdsx_count(rx_dup);
		return;
	}
	if (d == 0 && !deliver_full(xp)) {
		/* in order: straight from the umem into its message */
		consume(xp, h, payload, len);
		xp->rx_next++;
		rx_drain(xp);
		return;
	}
	if (d > 0)
		rdsx_count(rx_reordered);
	slot->buf = malloc(RDS_HEADER_SIZE + len);
	if (!slot->buf)
		return;
	slot->len = RDS_HEADER_SIZE + len;
	memcpy(slot->buf, h, RDS_HEADER_SIZE);
	memcpy(slot->buf + RDS_HEADER_SIZE, payload, len);
	xp->rx_held += slot->len;
	rx_drain(xp);
}

void rdsx_xpath_rx_taken(struct rdsx_xpath *xp)
{
	rx_drain(xp);
	/* a window that opened again is announced, or the sender waits for
	 * its probe timer */
	if (credit(xp) >= xp->last_credit + 4u)
		xp->ack_due = true;
}
