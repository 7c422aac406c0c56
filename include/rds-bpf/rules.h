/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The rules of the RDS wire, written once for every side that applies them:
 * the BPF programs (clang -target bpf), the engine and its transports, the
 * library and the tools. Static inline functions of fixed-width values, with
 * no libc, no globals and no loops, so that each compiles to the same logic
 * in a BPF program as in userspace. The unit tests (tests/unit/test_rules.c)
 * call these very functions.
 */
#ifndef RDSB_RULES_H
#define RDSB_RULES_H

#include "wire.h"
#ifndef __VMLINUX_H__
#include <stdbool.h>
#endif

/* ------------------------------------------------------------ h_len */

/* A datagram's payload is at most RDS_MAX_MSG_SIZE (sendmsg's EMSGSIZE). */
static inline bool rdsb_msg_size_ok(__u64 len)
{
	return len <= RDS_MAX_MSG_SIZE;
}

/* rds_recv_incoming tests equality, not the bit: a header with the
 * congestion bit and any other flag is data. */
static inline bool rdsb_is_cong_map(__u8 h_flags)
{
	return h_flags == RDS_FLAG_CONG_BITMAP;
}

/* What a receiver may accept as h_len: a congestion map is exactly
 * RDS_CONG_MAP_BYTES (rds_cong_map_update reads that much), anything else a
 * datagram's size. The kernel does not bound h_len on TCP; a receiver that
 * buffers whole records must. */
static inline bool rdsb_h_len_ok(__u8 h_flags, __u32 h_len)
{
	if (rdsb_is_cong_map(h_flags))
		return h_len == RDS_CONG_MAP_BYTES;
	return rdsb_msg_size_ok(h_len);
}

/* ------------------------------------------------------------ congestion bits */

/* Port p's bit in a congestion map (rds_cong_set_bit: little-endian bit
 * order). The byte index is masked so that a BPF verifier sees it bounded.
 * clang knows a u16 shifted by 3 is below 8192 and drops the mask, but a
 * port that went through a byte swap is unbounded to Linux 6.1's verifier
 * (it refused rdsb_txmsg: "R0 max value is outside of the allowed memory
 * range"), so in BPF the mask is kept behind an empty asm. */
static inline __u32 rdsb_cong_byte(__u16 port)
{
	__u32 byte = (__u32)port >> 3;

#ifdef __bpf__
	asm volatile("" : "+r"(byte));
#endif
	return byte & (RDS_CONG_MAP_BYTES - 1);
}

static inline __u8 rdsb_cong_bit(__u16 port)
{
	return (__u8)(1u << (port & 7));
}

static inline bool rdsb_cong_test(const __u8 *map, __u16 port)
{
	return map[rdsb_cong_byte(port)] & rdsb_cong_bit(port);
}

static inline void rdsb_cong_set(__u8 *map, __u16 port)
{
	map[rdsb_cong_byte(port)] |= rdsb_cong_bit(port);
}

static inline void rdsb_cong_clear(__u8 *map, __u16 port)
{
	map[rdsb_cong_byte(port)] &= (__u8)~rdsb_cong_bit(port);
}

/* ------------------------------------------------------------ duplicates */

/* rds_recv_incoming: only a retransmission can be a duplicate, and it is one
 * when its sequence number is below the path's next_rx_seq. Anything
 * accepted sets next_rx_seq to seq + 1 (an assignment: it may go back). */
static inline bool rdsb_seq_accept(__u64 *next_rx_seq, __u64 seq, __u8 h_flags)
{
	if ((h_flags & RDS_FLAG_RETRANSMITTED) && seq < *next_rx_seq)
		return false;
	*next_rx_seq = seq + 1;
	return true;
}

/* ------------------------------------------------------------ multipath */

static inline __u32 rdsb_rol32(__u32 x, unsigned int k)
{
	return (x << k) | (x >> (32 - k));
}

/* The kernel's jhash_1word (Bob Jenkins' lookup3, one word):
 * __jhash_nwords(a, 0, 0, initval + JHASH_INITVAL + (1 << 2)). */
static inline __u32 rdsb_jhash_1word(__u32 a, __u32 initval)
{
	__u32 iv = initval + 0xdeadbeef + (1u << 2);
	__u32 b = iv, c = iv;

	a += iv;
	c ^= b; c -= rdsb_rol32(b, 14);
	a ^= c; a -= rdsb_rol32(c, 11);
	b ^= a; b -= rdsb_rol32(a, 25);
	c ^= b; c -= rdsb_rol32(b, 16);
	a ^= c; a -= rdsb_rol32(c, 4);
	b ^= a; b -= rdsb_rol32(a, 14);
	c ^= b; c -= rdsb_rol32(b, 24);
	return c;
}

/* A path among npaths for a hash: & (npaths - 1) as the kernel does, also for
 * a peer's odd NPATHS; one path (or none known) is path 0. */
static inline __u32 rdsb_mpath_index(__u32 hash, __u32 npaths)
{
	return npaths <= 1 ? 0 : hash & (npaths - 1);
}

/* RDS_MPATH_HASH: jhash_1word of the bound port in host order (since
 * 77907a068717) with the socket's random initval. */
static inline __u32 rdsb_mpath_hash(__u16 bound_port, __u32 initval, __u32 npaths)
{
	return rdsb_mpath_index(rdsb_jhash_1word(bound_port, initval), npaths);
}

#endif /* RDSB_RULES_H */
