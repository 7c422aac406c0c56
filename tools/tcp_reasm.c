// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "tcp_reasm.h"

/* Bounds, so that a hostile capture cannot exhaust memory: beyond them a
 * stream is declared to have a hole and ends. */
#define MAX_FLOWS	4096
#define MAX_OOO_SEGS	4096
#define MAX_OOO_BYTES	(64u << 20)

struct ooo_seg {
	uint32_t seq, len;
	uint8_t *data;
};

/* sequence number order, modulo 2^32 */
static int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void reasm_init(struct reasm *r, const struct reasm_ops *ops, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->ctx = ctx;
}

static struct tcp_flow *flow_get(struct reasm *r, const struct tcp_seg *s)
{
	struct tcp_flow *fl;

	for (size_t i = 0; i < r->nflows; i++) {
		fl = r->flows[i];
		if (fl->sport == s->sport && fl->dport == s->dport && !memcmp(fl->src, s->src, 16) &&
		    !memcmp(fl->dst, s->dst, 16))
			return fl;
	}
	if (r->nflows == MAX_FLOWS) {
		r->dropped_flows++;
		return NULL;
	}
	if (r->nflows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct tcp_flow **f = realloc(r->flows, cap * sizeof(*f));

		if (!f)
			return NULL;
		r->flows = f;
		r->cap = cap;
	}
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return NULL;
	fl->family = s->family;
	memcpy(fl->src, s->src, 16);
	memcpy(fl->dst, s->dst, 16);
	fl->sport = s->sport;
	fl->dport = s->dport;
	fl->state = FLOW_NO_SYN;
	r->flows[r->nflows++] = fl;
	return fl;
}

static void ooo_clear(struct tcp_flow *fl)
{
	for (size_t i = 0; i < fl->nooo; i++)
		free(fl->ooo[i].data);
	free(fl->ooo);
	fl->ooo = NULL;
	fl->nooo = fl->ooo_bytes = 0;
}

static void flow_end(struct reasm *r, struct tcp_flow *fl, int64_t ts, const char *why, bool lost)
{
	if (fl->state != FLOW_OPEN)
		return;
	fl->state = FLOW_CLOSED;
	ooo_clear(fl);
	r->ops->end(fl, ts, why, lost, r->ctx);
}

/* Deliver [seq, seq+len) from the first byte not yet delivered. */
static void deliver(struct reasm *r, struct tcp_flow *fl, int64_t ts, uint32_t seq, const uint8_t *p,
		    uint32_t len)
{
	uint32_t skip = fl->next - seq; /* seq <= next here; modulo 2^32, never -INT32_MIN */

	if (skip >= len)
		return; /* a retransmission of what was delivered */
	fl->next += len - skip;
	r->ops->data(fl, ts, p + skip, len - skip, r->ctx);
}

/* Deliver every waiting segment that the stream has now reached. */
static void drain_ooo(struct reasm *r, struct tcp_flow *fl, int64_t ts)
{
	bool progress = true;

	while (progress && fl->state == FLOW_OPEN) {
		progress = false;
		for (size_t i = 0; i < fl->nooo; i++) {
			struct ooo_seg s = fl->ooo[i];

			if (seq_diff(s.seq, fl->next) > 0)
				continue;
			fl->ooo[i] = fl->ooo[--fl->nooo];
			fl->ooo_bytes -= s.len;
			deliver(r, fl, ts, s.seq, s.data, s.len);
			free(s.data);
			progress = true;
			break;
		}
	}
}

static bool ooo_add(struct tcp_flow *fl, const struct tcp_seg *s)
{
	struct ooo_seg *n;

	if (fl->nooo == MAX_OOO_SEGS || fl->ooo_bytes + s->len > MAX_OOO_BYTES)
		return false;
	n = realloc(fl->ooo, (fl->nooo + 1) * sizeof(*n));
	if (!n)
		return false;
	fl->ooo = n;
	n = &fl->ooo[fl->nooo];
	n->data = malloc(s->len);
	if (!n->data)
		return false;
	memcpy(n->data, s->payload, s->len);
	n->seq = s->seq;
	n->len = s->len;
	fl->nooo++;
	fl->ooo_bytes += s->len;
	return true;
}

void reasm_segment(struct reasm *r, const struct tcp_seg *s)
{
	struct tcp_flow *fl = flow_get(r, s);

	if (!fl)
		return;
	if (s->syn) {
		if (fl->state == FLOW_OPEN && fl->next == s->seq + 1)
			return; /* the SYN again */
		flow_end(r, fl, s->ts_ns, "a new connection on the same ports", false);
		fl->state = FLOW_OPEN;
		fl->next = s->seq + 1;
		fl->has_fin = false;
		r->ops->start(fl, s->ts_ns, r->ctx);
		return;
	}
	if (fl->state != FLOW_OPEN) {
		fl->undecoded += s->len;
		return;
	}
	if (s->rst) {
		flow_end(r, fl, s->ts_ns, "RST", false);
		return;
	}
	if (s->len) {
		if (seq_diff(s->seq, fl->next) <= 0) {
			deliver(r, fl, s->ts_ns, s->seq, s->payload, s->len);
			drain_ooo(r, fl, s->ts_ns);
		} else if (!ooo_add(fl, s)) {
			flow_end(r, fl, s->ts_ns, "too much data after a hole in the capture", true);
			return;
		}
	}
	if (s->missing) {
		/* bytes on the wire that the capture does not hold (snaplen) */
		flow_end(r, fl, s->ts_ns, "the capture lost bytes (snaplen)", true);
		return;
	}
	if (s->fin) {
		fl->has_fin = true;
		fl->fin_seq = s->seq + s->len;
	}
	if (fl->has_fin && fl->next == fl->fin_seq)
		flow_end(r, fl, s->ts_ns, "FIN", false);
}

void reasm_finish(struct reasm *r, int64_t ts_ns)
{
	for (size_t i = 0; i < r->nflows; i++) {
		struct tcp_flow *fl = r->flows[i];

		if (fl->nooo)
			flow_end(r, fl, ts_ns, "a hole in the capture before its last bytes", true);
		else
			flow_end(r, fl, ts_ns, "end of capture", false);
	}
}

void reasm_free(struct reasm *r)
{
	for (size_t i = 0; i < r->nflows; i++) {
		ooo_clear(r->flows[i]);
		free(r->flows[i]->user);
		free(r->flows[i]);
	}
	free(r->flows);
	memset(r, 0, sizeof(*r));
}
