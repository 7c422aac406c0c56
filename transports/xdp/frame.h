/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Building and parsing the transport's frames (docs/xdp-encap.md):
 * Ethernet, IPv4 or IPv6, UDP with a valid checksum, then the rds_header
 * whose spare bytes carry the frame number, epoch, ack and credit.
 */
#ifndef RDSX_FRAME_H
#define RDSX_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rds-bpf/xdp.h>

/* Addresses of one direction of a path, as on the wire. */
struct rdsx_l3 {
	bool v6;
	uint8_t smac[6], dmac[6];
	uint8_t saddr[16], daddr[16];	/* IPv4 as v4-mapped */
	uint16_t sport, dport;		/* UDP, host order */
};

/* The transport's fields of a frame's rds_header, host order. */
struct rdsx_fields {
	uint32_t frame;		/* 0: outside the sequence */
	uint16_t epoch;
	uint64_t ack;		/* (epoch << 32) | frame number */
	uint8_t credit;
};

#define RDSX_ETH_LEN	14
/* Ethernet + IP + UDP: what precedes the rds_header. */
static inline size_t rdsx_l2l4_len(bool v6)
{
	return RDSX_ETH_LEN + (v6 ? 40 : 20) + 8;
}

/* Fragment payload per frame for a device MTU: min(RDS_FRAG_SIZE, room). */
uint32_t rdsx_frag_size(unsigned int mtu, bool v6);

/* Writes the Ethernet, IP and UDP headers for udp_payload bytes (an
 * rds_header and a fragment) that the caller has put (or puts) at
 * buf + rdsx_l2l4_len(); then rdsx_frame_csum once they are in place.
 * Returns the whole frame's length. */
size_t rdsx_frame_build(uint8_t *buf, const struct rdsx_l3 *l, size_t udp_payload);
/* Copies n bytes and returns their 16-bit ones' complement sum (big-endian
 * words, an odd byte padded with a zero): the fragment's, for
 * rdsx_frame_csum. */
uint32_t rdsx_copy_sum(uint8_t *dst, const uint8_t *src, size_t n);
/* The UDP checksum, given the sum of the fragment after the rds_header: a
 * frame kept for retransmission changes only its rds_header when it goes
 * out again, so its fragment is summed once, while it is copied in. */
void rdsx_frame_csum(uint8_t *buf, const struct rdsx_l3 *l, size_t udp_payload, uint32_t frag_sum);

void rdsx_fields_put(struct rds_header *h, const struct rdsx_fields *f);
void rdsx_fields_get(const struct rds_header *h, struct rdsx_fields *f);

/* What userspace needs from a received frame: the addresses (as the frame's
 * destination = our laddr, source = faddr), the path, the header and the
 * fragment. NULL if it is not a well-formed frame of ours. */
struct rdsx_rx {
	bool v6;
	uint8_t laddr[16], faddr[16];
	uint8_t fmac[6];
	unsigned int path;
	const struct rds_header *hdr;
	const uint8_t *payload;
	uint32_t payload_len;
};
bool rdsx_frame_parse(const uint8_t *buf, size_t len, struct rdsx_rx *rx);

#endif
