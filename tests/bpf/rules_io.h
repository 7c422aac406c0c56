/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The packet tests/bpf/rules.bpf.c reads its inputs from and writes what
 * each rule says into. */
#ifndef RDSB_TEST_RULES_IO_H
#define RDSB_TEST_RULES_IO_H

#include <linux/types.h>

struct rules_io {
	/* in */
	__u64 seq;
	__u32 h_len;
	__u32 initval;
	__u32 npaths;
	__u16 port;
	__u8 h_flags;
	__u8 pad;
	/* in and out: the duplicate rule moves it */
	__u64 next_rx_seq;
	/* out */
	__u32 jhash;
	__u32 path;
	__u8 h_len_ok, is_cong_map, msg_size_ok, congested, seq_accept;
	__u8 pad2[3];
};

#endif
