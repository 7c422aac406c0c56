// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path: on an application's send socket, each sendmsg is one
 * whole record, [rds_header][h_len], that the library built under the path's
 * lock with h_ack naming the path (rdsb_txpath index). The program checks
 * what the engine would have (length, the socket's bound port as sport, the
 * path open to applications and bound to the same local address, the
 * sequence number next on that path, the destination port not congested),
 * clears h_ack as the wire wants it and redirects the record into the path
 * socket. Anything else is dropped and counted: sendmsg fails with EACCES
 * and the library hands the datagram to the engine instead.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include "tcp_maps.bpf.h"

#include <rds-bpf/rules.h>

static __always_inline int tx_drop(enum rdsb_counter why)
{
	count(why);
	return SK_DROP;
}

SEC("sk_msg")
int rdsb_txmsg(struct sk_msg_md *msg)
{
	__u32 lport = msg->local_port, idx, fslot, len, size = msg->size;
	struct rdsb_txsock *ts = bpf_map_lookup_elem(&rdsb_txsock, &lport);
	struct rdsb_cong_map *map;
	struct rdsb_txpath *tp;
	struct rds_header *h;
	__u16 dport;

	if (!ts)
		return tx_drop(RDSB_C_TX_DROP_SPORT);
	if (bpf_msg_pull_data(msg, 0, RDS_HEADER_SIZE, 0))
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	h = msg->data;
	if ((void *)(h + 1) > msg->data_end)
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	len = bpf_ntohl(h->h_len);
	/* a large record arrives in pieces: the verdict covers all of it */
	if (!rdsb_h_len_ok(h->h_flags, len) || size > RDS_HEADER_SIZE + len || h->h_flags & RDS_FLAG_CONG_BITMAP)
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	if (bpf_ntohs(h->h_sport) != ts->port)
		return tx_drop(RDSB_C_TX_DROP_SPORT);
	idx = (__u32)bpf_be64_to_cpu(h->h_ack);
	tp = bpf_map_lookup_elem(&rdsb_txpath, &idx);
	if (!tp || !tp->open || tp->lslot != ts->slot)
		return tx_drop(RDSB_C_TX_DROP_CLOSED);
	if (bpf_be64_to_cpu(h->h_sequence) != tp->next_tx_seq)
		return tx_drop(RDSB_C_TX_DROP_SEQ);
	fslot = idx / RDS_MPATH_WORKERS;
	dport = bpf_ntohs(h->h_dport);
	map = bpf_map_lookup_elem(&rdsb_cong, &fslot);
	if (!map || rdsb_cong_test(map->bits, dport))
		return tx_drop(RDSB_C_TX_DROP_CONG);
	h->h_ack = 0;
	if (size < RDS_HEADER_SIZE + len)
		bpf_msg_apply_bytes(msg, RDS_HEADER_SIZE + len);
	if (bpf_msg_redirect_map(msg, &rdsb_txsk, idx, 0) != SK_PASS)
		return tx_drop(RDSB_C_TX_DROP_CLOSED);
	count(RDSB_C_TX_DIRECT);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
