// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The core's BPF object: maps only (rdsb_maps.bpf.h). The engine loads it
 * on every transport, pins its maps and mmaps the address slots and
 * congestion maps that the library tests before each send, and the
 * sequence state a restarted engine goes on with (user/engine/seqstate.c).
 */
#include "vmlinux.h"
#include "rdsb_maps.bpf.h"

/* Sequence state that outlives the engine (struct rdsb_seqstate). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_SEQSTATE_N);
	__type(key, __u32);
	__type(value, struct rdsb_seqstate);
} rdsb_seqstate SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
