/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* TCP stream reassembly for a capture: each direction of each connection
 * becomes an in-order byte stream, by sequence number, from its SYN on.
 * Retransmitted bytes are delivered once; out-of-order segments wait (with a
 * bound) for the gap to fill. A stream whose SYN was not captured is not
 * delivered at all: its record boundaries cannot be known. */
#ifndef RDSB_TOOLS_TCP_REASM_H
#define RDSB_TOOLS_TCP_REASM_H

#include <stddef.h>
#include "pcap.h"

struct ooo_seg;

struct tcp_flow {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	enum { FLOW_NO_SYN, FLOW_OPEN, FLOW_CLOSED } state;
	uint32_t next;		/* the next sequence number to deliver */
	bool has_fin;
	uint32_t fin_seq;
	uint64_t undecoded;	/* payload bytes not delivered (no SYN, after the end) */
	struct ooo_seg *ooo;	/* waiting for a gap before them to fill */
	size_t nooo, ooo_bytes;
	void *user;		/* the consumer's per-stream state */
};

struct reasm_ops {
	/* a SYN: a new stream begins (any earlier one on these ports has ended) */
	void (*start)(struct tcp_flow *fl, int64_t ts_ns, void *ctx);
	void (*data)(struct tcp_flow *fl, int64_t ts_ns, const uint8_t *p, uint32_t len, void *ctx);
	/* the stream ends: FIN, RST, a hole in the capture (lost = true), or the
	 * end of the capture */
	void (*end)(struct tcp_flow *fl, int64_t ts_ns, const char *why, bool lost, void *ctx);
};

struct reasm {
	const struct reasm_ops *ops;
	void *ctx;
	struct tcp_flow **flows;
	size_t nflows, cap;
	uint64_t dropped_flows;	/* beyond the flow limit */
};

void reasm_init(struct reasm *r, const struct reasm_ops *ops, void *ctx);
void reasm_segment(struct reasm *r, const struct tcp_seg *seg);
/* the end of the capture: every open stream ends */
void reasm_finish(struct reasm *r, int64_t ts_ns);
void reasm_free(struct reasm *r);

#endif
