/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Encoding and decoding of the RDS wire format (rds_header, extension
 * headers, congestion bitmaps) and the kernel's multipath hash. */
#ifndef RDSB_COMMON_WIRE_H
#define RDSB_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rds-bpf/wire.h>

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

void rdsb_hdr_encode(const struct rdsb_hdr *h, struct rds_header *out);
void rdsb_hdr_decode(const struct rds_header *in, struct rdsb_hdr *h);

/* What the receiver may accept as h_len: the congestion map is exactly
 * RDS_CONG_MAP_BYTES, everything else at most RDS_MAX_MSG_SIZE (the kernel
 * does not bound it on TCP; we must). */
bool rdsb_hdr_len_ok(const struct rdsb_hdr *h);
bool rdsb_hdr_is_cong_map(const struct rdsb_hdr *h);

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
};
void rdsb_hs_encode(uint8_t ext[RDS_HEADER_EXT_SPACE], uint16_t npaths, uint32_t gen);
void rdsb_hs_decode(const uint8_t ext[RDS_HEADER_EXT_SPACE], struct rdsb_hs *hs);
/* c_npaths after a handshake: max(min(8, peer), 1), 1 when absent. */
unsigned int rdsb_hs_npaths(const struct rdsb_hs *hs);

/* Congestion bitmap bit operations (little-endian bit order). */
static inline bool rdsb_cong_test(const uint8_t *map, uint16_t port)
{
	return map[port >> 3] & (1u << (port & 7));
}
static inline void rdsb_cong_set(uint8_t *map, uint16_t port)
{
	map[port >> 3] |= (uint8_t)(1u << (port & 7));
}
static inline void rdsb_cong_clear(uint8_t *map, uint16_t port)
{
	map[port >> 3] &= (uint8_t)~(1u << (port & 7));
}

/* Multipath: jhash_1word(port, initval) & (npaths - 1), as RDS_MPATH_HASH. */
uint32_t rdsb_jhash_1word(uint32_t a, uint32_t initval);
unsigned int rdsb_mpath_hash(uint16_t bound_port, uint32_t initval, unsigned int npaths);

/* Duplicate rule (recv.c): drop iff retransmitted and seq < next_rx_seq;
 * otherwise next_rx_seq becomes seq + 1 (assignment, it may go backwards). */
bool rdsb_seq_accept(uint64_t *next_rx_seq, uint64_t seq, uint8_t flags);

/* Active/passive: rds_addr_cmp over 16-byte addresses as big-endian numbers. */
int rdsb_addr_cmp(const uint8_t a[16], const uint8_t b[16]);

#endif
