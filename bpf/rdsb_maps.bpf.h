/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The core's maps, which every rds-bpf engine pins whatever its transport:
 * address slots, congestion maps, per-path state and the counters. Defined
 * with BTF so `bpftool map dump` shows their values with field names (value
 * types: include/rds-bpf/maps.h). A transport's BPF object that includes
 * this header shares them: the engine's loader reuses the maps it already
 * has by name (rdsb_bpf_share_maps).
 */
#ifndef RDSB_MAPS_BPF_H
#define RDSB_MAPS_BPF_H

#include <bpf/bpf_helpers.h>
#include <rds-bpf/maps.h>

/* Address slots; the index is the slot of the address's congestion map. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_ADDRS);
	__type(key, __u32);
	__type(value, struct rdsb_addr);
} rdsb_addrs SEC(".maps");

#include "rdsb_cong.bpf.h"

/* Sequence state that outlives the engine (struct rdsb_seqstate); the
 * sockmap verdict writes each path's next_rx_seq into it as it moves. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_SEQSTATE_N);
	__type(key, __u32);
	__type(value, struct rdsb_seqstate);
} rdsb_seqstate SEC(".maps");

/* The numbers of the engine's own messages, beside it (struct rdsb_ownseq) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_SEQSTATE_N);
	__type(key, __u32);
	__type(value, struct rdsb_ownseq);
} rdsb_ownseq SEC(".maps");

/* The bound ports that outlive the engine (struct rdsb_port_owner) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_PORTS_N);
	__type(key, __u32);
	__type(value, struct rdsb_port_owner);
} rdsb_ports SEC(".maps");

/* What was held for those ports, acknowledged to the peers (struct
 * rdsb_heldlog_hdr, then records: user/engine/heldlog.c) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_HELDLOG_PAGES);
	__type(key, __u32);
	__type(value, struct rdsb_heldlog_page);
} rdsb_heldlog SEC(".maps");

/* Per-path state for operators. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, struct rdsb_path_key);
	__type(value, struct rdsb_path_info);
} rdsb_paths SEC(".maps");

/* Counters and drop reasons (enum rdsb_counter). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RDSB_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_counters SEC(".maps");

static __always_inline void count_n(enum rdsb_counter c, __u32 n)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&rdsb_counters, &key);

	if (v)
		*v += n;
}

static __always_inline void count(enum rdsb_counter c)
{
	count_n(c, 1);
}

#endif
