/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Encoding and decoding of the RDS wire format (rds_header, extension
 * headers); the rules of the wire are in <rds-bpf/rules.h>. */
#ifndef RDSB_COMMON_WIRE_H
#define RDSB_COMMON_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <rds-bpf/maps.h>
#include <rds-bpf/rules.h>

/* A decoded header, host byte order. */
struct rdsb_hdr {
	uint64_t seq;
	uint64_t ack;
	uint32_t len;
	uint16_t sport;
	uint16_t dport;
	uint8_t flags;
	uint8_t credit;
	uint16_t csum;
	uint8_t exthdr[RDS_HEADER_EXT_SPACE];
};

/* Inline: every datagram is encoded once by its sender's transport and
 * decoded once by its receiver's. */
static inline void rdsb_hdr_encode(const struct rdsb_hdr *h, struct rds_header *out)
{
	memset(out, 0, sizeof(*out));
	out->h_sequence = htobe64(h->seq);
	out->h_ack = htobe64(h->ack);
	out->h_len = htobe32(h->len);
	out->h_sport = htobe16(h->sport);
	out->h_dport = htobe16(h->dport);
	out->h_flags = h->flags;
	out->h_credit = h->credit;
	out->h_csum = htobe16(h->csum);
	memcpy(out->h_exthdr, h->exthdr, RDS_HEADER_EXT_SPACE);
}

static inline void rdsb_hdr_decode(const struct rds_header *in, struct rdsb_hdr *h)
{
	h->seq = be64toh(in->h_sequence);
	h->ack = be64toh(in->h_ack);
	h->len = be32toh(in->h_len);
	h->sport = be16toh(in->h_sport);
	h->dport = be16toh(in->h_dport);
	h->flags = in->h_flags;
	h->credit = in->h_credit;
	h->csum = be16toh(in->h_csum);
	memcpy(h->exthdr, in->h_exthdr, RDS_HEADER_EXT_SPACE);
}

/* A delivery record's header (rds-bpf/maps.h), its 48 bytes read into *d:
 * the engine's is host order already; the sockmap verdict's, a wire header,
 * is decoded in place, its sender the slot in h_ack (RDSB_DELIV_SLOT) or
 * else the socket's peer (rx_peer: slot + 1, 0 none). */
static inline void rdsb_deliv_hdr_decode(struct rdsb_deliv_hdr *d, uint32_t rx_peer)
{
	struct rdsb_hdr h;
	uint64_t slot;

	if (d->decoded == RDSB_DELIV_DECODED)
		return;
	rdsb_hdr_decode((const struct rds_header *)d, &h);
	slot = h.flags & RDSB_DELIV_SLOT ? h.ack : rx_peer ? rx_peer - 1 : RDSB_MAX_ADDRS;
	*d = (struct rdsb_deliv_hdr){ .seq = h.seq, .decoded = RDSB_DELIV_DECODED, .len = h.len,
				      .sport = h.sport, .dport = h.dport,
				      .flags = h.flags & (uint8_t)~RDSB_DELIV_SLOT,
				      .slot = slot < RDSB_MAX_ADDRS ? (uint32_t)slot : RDSB_MAX_ADDRS };
}

/* Extension headers, with the kernel's parsing rules (message.c). */
int rdsb_exthdr_size(unsigned int type);	/* -1: type >= 16 */
/* Returns the next type at *pos and copies its data into buf (up to buflen);
 * RDS_EXTHDR_NONE ends the list, exactly where the kernel would stop. */
unsigned int rdsb_exthdr_next(const uint8_t ext[RDS_HEADER_EXT_SPACE], unsigned int *pos,
			      void *buf, size_t buflen);
/* Appends one extension; false if it does not fit. */
bool rdsb_exthdr_add(uint8_t ext[RDS_HEADER_EXT_SPACE], unsigned int *pos, unsigned int type,
		     const void *data);

/* The handshake extensions of a probe ping/pong (docs/protocol.md §2.4). */
struct rdsb_hs {
	bool has_npaths, has_gen, has_sport_idx;
	uint16_t npaths;	/* as received, before clamping */
	uint32_t gen;
	uint8_t deliv;		/* RDSB_EXTHDR_DELIV's byte: RDSB_DELIV_*; 0 = absent */
};
/* deliv: RDSB_DELIV_* of this engine; 0 adds no RDSB_EXTHDR_DELIV */
void rdsb_hs_encode(uint8_t ext[RDS_HEADER_EXT_SPACE], uint16_t npaths, uint32_t gen, uint8_t deliv);
void rdsb_hs_decode(const uint8_t ext[RDS_HEADER_EXT_SPACE], struct rdsb_hs *hs);
/* c_npaths after a handshake: max(min(8, peer), 1), 1 when absent. */
unsigned int rdsb_hs_npaths(const struct rdsb_hs *hs);

/* Active/passive: rds_addr_cmp over 16-byte addresses as big-endian numbers. */
int rdsb_addr_cmp(const uint8_t a[16], const uint8_t b[16]);

#endif
