// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sk_msg send path: on an application's send socket, each sendmsg is one
 * whole record, [rds_header][h_len], that the library built under the path's
 * lock with h_ack naming the path (rdsb_txpath index) and where the payload's
 * copy is in the socket's copy ring. The program checks what the engine
 * would have (length, the socket's bound port as sport, the path open to
 * applications and bound to the same local address, the destination port
 * not congested), gives the record the path's next sequence number (the
 * application's own is overwritten: only the engine and this program own
 * them), clears h_ack as the wire wants it, tells the engine what went out
 * (rdsb_txcopy, no wakeup unless the sender asks for one or the ring is
 * half full) and redirects the record into the path socket. A record that
 * is not well formed, or names a path the socket may not use, is dropped
 * and counted: sendmsg fails with EACCES. The kernel then drops everything
 * after it on that send socket without running the program (the verdict
 * sticks), so what a well-behaved sender may race into (the destination
 * port congested since the library looked, no room for the copy, the path
 * socket gone) is not dropped but bounced, counted the same: redirected to
 * the send socket's own receive queue, where the library reads it back and
 * hands the datagram to the engine instead. A numbered record also counts in
 * rdsb_txpath's numbered, which tells the sender that its datagram is the
 * engine's when sendmsg fails after the verdict (the redirect's push into a
 * path socket that was shut down returns EPIPE); the number it got is in
 * rdsb_txpath's last_seq, and the path's next one in rdsb_seqstate, so that
 * a datagram the engine had not seen acknowledged when it was killed comes
 * back from the sender's copy with that number.
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

/* The whole record back to its sender, whose next records still get a
 * verdict of their own (a drop would stick). */
static __always_inline int tx_bounce(struct sk_msg_md *msg, const struct rdsb_txsock *ts, __u32 rec,
				     enum rdsb_counter why)
{
	__u32 idx = ts->idx;

	count(why);
	if (bpf_msg_redirect_map(msg, &rdsb_apptx, idx, BPF_F_INGRESS) != SK_PASS)
		return SK_DROP;
	if (msg->size < rec)
		bpf_msg_apply_bytes(msg, rec);
	return SK_PASS;
}

SEC("sk_msg")
int rdsb_txmsg(struct sk_msg_md *msg)
{
	__u32 lport = msg->local_port, idx, fslot, len, size = msg->size, rec;
	struct rdsb_txsock *ts = bpf_map_lookup_elem(&rdsb_txsock, &lport);
	struct rdsb_cong_map *map;
	struct rdsb_txcopy *c;
	struct rdsb_txpath *tp;
	struct rdsb_txseq *sq;
	struct rds_header *h;
	struct rdsb_seq_path *sp;
	__u64 ack, wakeup, seq;
	__u16 dport;

	if (!ts)
		return tx_drop(RDSB_C_TX_DROP_SPORT);
	if (bpf_msg_pull_data(msg, 0, RDS_HEADER_SIZE, 0))
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	h = msg->data;
	if ((void *)(h + 1) > msg->data_end)
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	len = bpf_ntohl(h->h_len);
	rec = RDS_HEADER_SIZE + len;
	/* a large record arrives in pieces: the verdict covers all of it */
	/* the flags are the engine's: an application's forged delivery
	 * acknowledgement (RDSB_FLAG_DELIV_ACK) would make the peer's engine
	 * forget what it has not delivered */
	if (!rdsb_msg_size_ok(len) || size > rec || h->h_flags)
		return tx_drop(RDSB_C_TX_DROP_BAD_RECORD);
	if (bpf_ntohs(h->h_sport) != ts->port)
		return tx_drop(RDSB_C_TX_DROP_SPORT);
	ack = bpf_be64_to_cpu(h->h_ack);
	idx = (__u32)ack & ~RDSB_TXH_WAKE;
	tp = bpf_map_lookup_elem(&rdsb_txpath, &idx);
	sq = bpf_map_lookup_elem(&rdsb_txseq, &idx);
	if (!tp || !sq || !tp->open || tp->lslot != ts->slot)
		return tx_drop(RDSB_C_TX_DROP_CLOSED);
	fslot = idx / RDS_MPATH_WORKERS;
	dport = bpf_ntohs(h->h_dport);
	map = bpf_map_lookup_elem(&rdsb_cong, &fslot);
	if (!map)
		return tx_drop(RDSB_C_TX_DROP_CONG);
	if (rdsb_cong_test(map->bits, dport))
		return tx_bounce(msg, ts, rec, RDSB_C_TX_DROP_CONG);
	c = bpf_ringbuf_reserve(&rdsb_txcopy, sizeof(*c), 0);
	if (!c)
		return tx_bounce(msg, ts, rec, RDSB_C_TX_DROP_NO_COPY);
	if (bpf_msg_redirect_map(msg, &rdsb_txsk, idx, 0) != SK_PASS) {
		bpf_ringbuf_discard(c, BPF_RB_NO_WAKEUP);
		return tx_bounce(msg, ts, rec, RDSB_C_TX_DROP_CLOSED);
	}
	if (size < rec)
		bpf_msg_apply_bytes(msg, rec);
	c->seq = seq = __sync_fetch_and_add(&sq->next_tx_seq, 1);
	c->end_off = __sync_fetch_and_add(&sq->written, rec) + rec;
	c->path = idx;
	c->epoch = sq->epoch;
	c->idx = ts->idx;
	c->pos = (__u32)(ack >> 32);
	c->len = len;
	c->sport = (__u16)ts->port;
	c->dport = dport;
	h->h_sequence = bpf_cpu_to_be64(c->seq);
	h->h_ack = 0;
	wakeup = (__u32)ack & RDSB_TXH_WAKE ||
		 bpf_ringbuf_query(&rdsb_txcopy, BPF_RB_AVAIL_DATA) > RDSB_TXCOPY_BYTES / 2 ?
		 BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(c, wakeup);
	/* next_tx_seq where an engine started after a kill finds it (the
	 * engine writes it there for its own records): it goes on above this
	 * number, and takes the sender's copy back with it */
	sp = seqstate_path(sq->ss, idx);
	if (sp)
		sp->next_tx_seq = seq + 1;
	/* the record is the engine's now, even if pushing it into the path
	 * socket fails (the socket shut down meanwhile): the sender must know,
	 * and keeps its copy with this number */
	tp->last_seq = seq;
	__sync_fetch_and_add(&tp->numbered, 1);
	count(RDSB_C_TX_DIRECT);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
