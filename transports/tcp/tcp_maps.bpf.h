/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The maps of the TCP transport's BPF objects (sockmap_rx.bpf.c,
 * skmsg_tx.bpf.c, sockops.bpf.c): each object declares them all, and the
 * engine's loader gives every object the maps an earlier one created, so
 * the three share one set, pinned next to the core's.
 */
#ifndef RDSB_TCP_MAPS_BPF_H
#define RDSB_TCP_MAPS_BPF_H

#include "rdsb_maps.bpf.h"

/* A path of the connection whose rdsb_seqstate entry is ss (0: none), where
 * the programs keep its numbers as they move: a restarted engine goes on
 * with them. */
static __always_inline struct rdsb_seq_path *seqstate_path(__u32 ss, __u32 path)
{
	struct rdsb_seqstate *st;

	if (!ss)
		return NULL;
	st = bpf_map_lookup_elem(&rdsb_seqstate, &ss);
	return st ? &st->path[path & (RDS_MPATH_WORKERS - 1)] : NULL;
}

/* Path sockets by socket cookie; the stream parser and verdict attach here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, __u64);
	__type(value, __u64);
} rdsb_pathsk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, __u64);
	__type(value, struct rdsb_rxpath);
} rdsb_rxpath SEC(".maps");

/* What the verdict owes the engine, by rdsb_rxpath.ack; the engine reads
 * and writes it through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_TCPPATHS);
	__type(key, __u32);
	__type(value, struct rdsb_rxack);
} rdsb_rxack SEC(".maps");

/* Application sockets (the application's end of the delivery stream) by
 * their index, from open to close; rdsb_deliver attaches here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, RDSB_MAX_SOCKS);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_socks SEC(".maps");

/* The engine's inbox: pings, probes and the unusual, redirected here with
 * the path's socket cookie in h_ack. Never SK_PASS on a path socket: on
 * kernels with tcp_bpf_strp_read_sock, a path that both passes records up
 * and redirects others can move copied_seq past rcv_nxt, and the next
 * segment then never wakes the strparser. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_inbox SEC(".maps");

/* The engine's outbox (the engine writes its own deliveries into its peer
 * end) and the index of the socket they are for: rdsb_outbox_deliver in
 * sockmap_rx.bpf.c. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_outbox SEC(".maps");

/* The socket index, written by the engine through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rdsb_out_to SEC(".maps");

/* Bound sockets: (address slot, port) -> index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RDSB_MAX_SOCKS);
	__type(key, struct rdsb_sock_key);
	__type(value, __u32);
} rdsb_bound SEC(".maps");

/* Receive-queue accounting by index; the engine reads and arms it through
 * mmap, so the verdict's atomic adds are never overwritten. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_SOCKS);
	__type(key, __u32);
	__type(value, struct rdsb_rcvq);
} rdsb_rcvq SEC(".maps");

/* The sk_msg send path: per-path state shared with the engine and the
 * libraries (mmap), the path sockets applications may send on, the
 * applications' send sockets (rdsb_txmsg attaches here) and their bindings
 * by the send socket's local port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, __u32);
	__type(value, struct rdsb_txpath);
} rdsb_txpath SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_txsk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, RDSB_MAX_SOCKS);
	__type(key, __u32);
	__type(value, __u64);
} rdsb_apptx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RDSB_MAX_SOCKS);
	__type(key, __u32);
	__type(value, struct rdsb_txsock);
} rdsb_txsock SEC(".maps");

/* The engine's half of the send side (mmap-ed by the engine alone) and the
 * copies of what applications sent, which the engine reads when it wants. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_ADDRS * RDS_MPATH_WORKERS);
	__type(key, __u32);
	__type(value, struct rdsb_txseq);
} rdsb_txseq SEC(".maps");

#define RDSB_TXCOPY_BYTES (4u << 20)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RDSB_TXCOPY_BYTES);
} rdsb_txcopy SEC(".maps");

/* Acknowledgements and TCP state of path sockets (rdsb_sockops): the
 * entries, mmap-ed by the engine, and each socket's entry in its storage,
 * which a listener's accepted sockets inherit (BPF_F_CLONE). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSB_MAX_TCPPATHS);
	__type(key, __u32);
	__type(value, struct rdsb_tcppath);
} rdsb_tcppath SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct rdsb_tcpsk);
} rdsb_tcpsk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rdsb_events SEC(".maps");

static __always_inline void event(__u32 kind, __u32 slot, __u32 index)
{
	struct rdsb_event ev = { .kind = kind, .slot = slot, .index = index };

	if (bpf_ringbuf_output(&rdsb_events, &ev, sizeof(ev), 0))
		count(RDSB_C_BPF_EVENTS_LOST);
}

#endif
