// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Acknowledgements on the fast path: a sock_ops program on the engine's
 * cgroup follows the engine's path sockets (those with an rdsb_tcpsk entry:
 * the engine gives one to each socket it connects and to its listener, whose
 * accepted sockets inherit it). On every ack that brings an RTT sample, on
 * retransmission timeouts and state changes it keeps the socket's TCP state
 * in rdsb_tcppath (bpftool map dump shows it per path), and when the engine
 * waits for acknowledgements (ack_wake set: a sender is short of send space,
 * or senders wait for room on the path's connection) it
 * raises RDSB_EV_ACKED, so the engine frees acknowledged messages and wakes
 * blocked senders at once instead of at its next poll. What TCP
 * acknowledged also goes to the path's rdsb_txpath entry (acked_now), with
 * the path's least round trip (rtt_min_us), where a sender on the sk_msg
 * path sees whether the path is idle. Where the sockmap
 * receive path reads the path sockets, it also bounds their delayed acks
 * (delack_bound).
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include "tcp_maps.bpf.h"

/* Set by the engine when the sockmap receive path (sockmap_rx.bpf.c) reads
 * the path sockets. */
const volatile bool bound_delack;

#define SOL_TCP 6

/* The sockmap receive path reads a record only once all of it is in the
 * socket (strparser), so a record's first bytes wait there unread. TCP
 * acknowledges at once only while the window it would offer does not
 * shrink (__tcp_ack_snd_check), and unread bytes shrink it: it delays the
 * ack, 40 ms and more (TCP_ATO_MIN), and a sender whose congestion window
 * is smaller than the record cannot send the rest before that ack. With
 * 1 MiB datagrams on 8 paths both hosts sat idle a third of the time
 * (docs/design.md). Bounded here at the least delay the kernel takes, two
 * jiffies (TCP_TIMEOUT_MIN): tried in microseconds for HZ 1000, then 250,
 * then 100. */
static __always_inline __u32 delack_bound(struct bpf_sock_ops *ops)
{
	int us = 2000;

	if (!bpf_setsockopt(ops, SOL_TCP, TCP_BPF_DELACK_MAX, &us, sizeof(us)))
		return us;
	us = 8000;
	if (!bpf_setsockopt(ops, SOL_TCP, TCP_BPF_DELACK_MAX, &us, sizeof(us)))
		return us;
	us = 20000;
	if (!bpf_setsockopt(ops, SOL_TCP, TCP_BPF_DELACK_MAX, &us, sizeof(us)))
		return us;
	return 0;
}

SEC("sockops")
int rdsb_sockops(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct rdsb_tcppath *tp;
	struct rdsb_txpath *txp;
	struct rdsb_tcpsk *st;
	__u32 idx, tidx, state, new_state;

	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&rdsb_tcpsk, sk, NULL, 0);
	if (!st)
		return 1;	/* not one of this engine's sockets */
	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(ops, BPF_SOCK_OPS_RTT_CB_FLAG | BPF_SOCK_OPS_RTO_CB_FLAG |
					       BPF_SOCK_OPS_STATE_CB_FLAG);
		if (bound_delack)
			st->delack_max_us = delack_bound(ops);
		return 1;
	case BPF_SOCK_OPS_RTT_CB:
	case BPF_SOCK_OPS_RTO_CB:
	case BPF_SOCK_OPS_STATE_CB:
		break;
	default:
		return 1;
	}
	idx = st->index;
	if (!idx)
		return 1;	/* the path is not up yet */
	idx--;
	tp = bpf_map_lookup_elem(&rdsb_tcppath, &idx);
	/* an entry given to a newer socket is not this one's any more */
	if (!tp || tp->cookie != bpf_get_socket_cookie(ops))
		return 1;
	/* both read as they are: the verifier refuses a load at a chosen offset */
	state = ops->state;
	new_state = ops->args[1];
	barrier_var(state);
	barrier_var(new_state);
	tp->state = ops->op == BPF_SOCK_OPS_STATE_CB ? new_state : state;
	tp->srtt_us = ops->srtt_us >> 3;
	tp->snd_cwnd = ops->snd_cwnd;
	tp->total_retrans = ops->total_retrans;
	tp->bytes_acked = ops->bytes_acked;
	tp->delack_max_us = st->delack_max_us;
	/* the sk_msg senders' look at the path: idle once this is written */
	tidx = tp->fslot * RDS_MPATH_WORKERS + (tp->path & (RDS_MPATH_WORKERS - 1));
	txp = bpf_map_lookup_elem(&rdsb_txpath, &tidx);
	if (txp) {
		txp->acked_now = ops->bytes_acked - tp->acked_base;
		txp->rtt_min_us = ops->rtt_min;
	}
	if (ops->op == BPF_SOCK_OPS_RTO_CB)
		tp->rto_events++;
	if (ops->op != BPF_SOCK_OPS_RTT_CB)
		return 1;
	tp->acks++;
	/* The socket lock serialises acks: the engine sets ack_wake, we clear it. */
	if (tp->ack_wake) {
		tp->ack_wake = 0;
		tp->ack_events++;
		event(RDSB_EV_ACKED, 0, idx);
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
