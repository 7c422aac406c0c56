// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The maps every rds-bpf engine pins, defined here so they carry BTF and
 * `bpftool map dump` shows their values with field names. */
#include <linux/bpf.h>
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

/* Congestion maps, mmap-ed by the library for the bit test before a send. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_ADDRS);
	__type(key, __u32);
	__type(value, struct rdsb_cong_map);
} rdsb_cong SEC(".maps");

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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
