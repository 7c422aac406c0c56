// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The core's BPF object: maps only (rdsb_maps.bpf.h). The engine loads it
 * on every transport, pins its maps and mmaps the address slots and
 * congestion maps that the library tests before each send, and the
 * sequence state a restarted engine goes on with (user/engine/seqstate.c).
 */
#include "vmlinux.h"
#include "rdsb_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
