/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The congestion maps (one 8 KiB bitmap per address slot), mmap-ed by the
 * library for the bit test before a send. Every object that writes them
 * declares them here; the XDP transport's loader reuses the engine's fd.
 */
#ifndef RDSB_CONG_BPF_H
#define RDSB_CONG_BPF_H

#include <bpf/bpf_helpers.h>
#include <rds-bpf/maps.h>

/* Congestion maps, mmap-ed by the library for the bit test before a send. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_ADDRS);
	__type(key, __u32);
	__type(value, struct rdsb_cong_map);
} rdsb_cong SEC(".maps");

#endif
