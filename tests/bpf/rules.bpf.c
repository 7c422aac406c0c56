// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The wire's rules (include/rds-bpf/rules.h) as a BPF program applies them,
 * for tests/unit/test_rules_bpf.c to run through BPF_PROG_TEST_RUN: the
 * packet is one struct rules_io; the program fills in what each rule says.
 * The congestion bit is read from a map value, as the sk_msg program does.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <rds-bpf/maps.h>
#include <rds-bpf/rules.h>
#include "rules_io.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rdsb_cong_map);
} cong SEC(".maps");

SEC("xdp")
int rules(struct xdp_md *ctx)
{
	struct rules_io *io = (void *)(long)ctx->data;
	struct rdsb_cong_map *map;
	__u32 key = 0;

	if ((void *)(io + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	map = bpf_map_lookup_elem(&cong, &key);
	if (!map)
		return XDP_ABORTED;
	io->h_len_ok = rdsb_h_len_ok(io->h_flags, io->h_len);
	io->is_cong_map = rdsb_is_cong_map(io->h_flags);
	io->msg_size_ok = rdsb_msg_size_ok(io->h_len);
	io->congested = rdsb_cong_test(map->bits, io->port);
	io->seq_accept = rdsb_seq_accept(&io->next_rx_seq, io->seq, io->h_flags);
	io->jhash = rdsb_jhash_1word(io->port, io->initval);
	io->path = rdsb_mpath_hash(io->port, io->initval, io->npaths);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
