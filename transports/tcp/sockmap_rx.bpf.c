// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sockmap receive path. On every path socket a stream parser frames RDS
 * records and a verdict does what rds_tcp_data_recv and rds_recv_incoming do
 * in the kernel: a congestion map updates the peer's map, a retransmitted
 * duplicate is dropped, data for a bound port goes straight into that
 * application socket's delivery stream, and pings, probes and whatever the
 * verdict does not know go to the engine's inbox. The engine's own
 * records to an application pass through rdsb_deliver, so that everything
 * an application reads comes from one queue, in order.
 *
 * strparser hands both programs the whole skb: the current record starts at
 * the strparser offset, not at 0. That offset is in the skb's control block
 * (sk_skb_cb, at cb+28 on 6.1 to 7.2) past the bytes __sk_buff.cb[] shows
 * (cb+8 to cb+28), so the programs come twice: with the kernel-context
 * kfunc (Linux 6.2+), or, before it, with bpf_probe_read_kernel of the same
 * field (CO-RE-relocated; needs CAP_PERFMON). The loader autoloads one pair
 * (sockmap_rx.c), as the kernel's BTF says.
 *
 * The engine side: sockmap_rx.c (load --bpf).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <rds-bpf/rules.h>
#include "tcp_maps.bpf.h"

#define EBADMSG 74

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

static __always_inline __u32 offset_kfunc(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);

	return (__u32)((struct sk_skb_cb *)k->cb)->strp.strp.offset;
}

/* The context is the kernel's sk_buff; only its address is used here. */
static __always_inline __u32 offset_probe(struct __sk_buff *skb)
{
	int off = 0;

	bpf_probe_read_kernel(&off, sizeof(off), (void *)skb + bpf_core_field_offset(struct sk_buff, cb) +
			      bpf_core_field_offset(struct sk_skb_cb, strp.strp.offset));
	return (__u32)off;
}

/* next_rx_seq where a restarted engine finds it (struct rdsb_rxpath) */
static __always_inline void seq_persist(const struct rdsb_rxpath *rp)
{
	struct rdsb_seq_path *sp = seqstate_path(rp->ss, rp->path);

	if (sp)
		sp->next_rx_seq = rp->next_rx_seq;
}

/* The record's length, header included; 0 = not all of its header yet. A
 * length the kernel would never send ends the stream: strparser reports
 * the error on the socket and the engine resets the path. */
static __always_inline int parse(struct __sk_buff *skb, __u32 off)
{
	struct rds_header h;
	__u32 len;

	if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)))
		return 0;
	len = bpf_ntohl(h.h_len);
	if (!rdsb_h_len_ok(h.h_flags, len)) {
		count(rdsb_is_cong_map(h.h_flags) ? RDSB_C_DROP_BAD_CONG_MAP : RDSB_C_DROP_BAD_LEN);
		return -EBADMSG;
	}
	return RDS_HEADER_SIZE + len;
}

static __always_inline int cong_map(struct __sk_buff *skb, __u32 off, struct rdsb_rxpath *rp)
{
	__u32 slot = rp->fslot;
	struct rdsb_cong_map *map = bpf_map_lookup_elem(&rdsb_cong, &slot);

	if (!map || bpf_skb_load_bytes(skb, off + RDS_HEADER_SIZE, map->bits, RDS_CONG_MAP_BYTES)) {
		count(RDSB_C_DROP_BAD_CONG_MAP);
		return SK_DROP;
	}
	count(RDSB_C_RX_CONG_MAPS);
	/* the engine tells the sockets that monitor congestion */
	event(RDSB_EV_CONG_MAP, slot, 0);
	return SK_DROP;
}

/* The engine's rebind time (CLOCK_MONOTONIC ns, rdsb_held; all ones while
 * it holds a port the engine before had bound): until then a datagram for
 * a port nobody bound goes up to the engine, which holds it for the socket
 * of the engine before it to come back, or drops it. */
volatile __u64 rebind_until;

/* Up to the engine, with the path's socket cookie in h_ack (the kernel's
 * RDS/TCP receiver does not read h_ack; it acknowledges through TCP), and
 * RDSB_RX_GATED in h_flags only where the verdict counted it in a gate. */
static __always_inline int to_engine(struct __sk_buff *skb, __u32 off, __u64 cookie, __u8 flags, bool gated)
{
	flags = gated ? flags | RDSB_RX_GATED : flags & ~RDSB_RX_GATED;
	count(RDSB_C_BPF_RX_TO_ENGINE);
	if (bpf_skb_store_bytes(skb, off + offsetof(struct rds_header, h_ack), &cookie, sizeof(cookie), 0) ||
	    bpf_skb_store_bytes(skb, off + offsetof(struct rds_header, h_flags), &flags, 1, 0) ||
	    bpf_sk_redirect_map(skb, &rdsb_inbox, 0, BPF_F_INGRESS) != SK_PASS) {
		count(RDSB_C_BPF_DROP_REDIRECT);
		return SK_DROP;
	}
	return SK_PASS;
}

enum { GATE_OPEN, GATE_ENGINE, GATE_BUSY };

/* A closed gate counts the record it sends to the engine: the count and the
 * test are one compare-and-swap, so the engine cannot open the gate between
 * them. Eight tries: the other CPUs' verdicts and the engine, never more
 * than a few at once. */
static __always_inline int gate_pass(struct rdsb_rcvq *q)
{
	for (int i = 0; i < 8; i++) {
		__u64 g = *(volatile __u64 *)&q->gate;

		if (!g)
			return GATE_OPEN;
		if (__sync_val_compare_and_swap(&q->gate, g, g + 1) == g)
			return GATE_ENGINE;
	}
	return GATE_BUSY;
}

/* A record of the socket's peer goes as it came (rds-bpf/maps.h,
 * rdsb_deliv_hdr): nothing in it the library would read as ours. */
static __always_inline bool as_it_came(struct rdsb_rcvq *q, __u32 fslot, const struct rds_header *h)
{
	return *(volatile __u32 *)&q->peer == fslot + 1 && !(h->h_flags & (RDSB_DELIV_NOTIFY | RDSB_DELIV_SLOT)) &&
	       h->h_ack != RDSB_DELIV_DECODED;
}

/* Any other gets the sender's address slot in h_ack, RDSB_DELIV_SLOT and
 * never the engine's notification flag, in one write: the kernel copies the
 * record's skb (a clone of the segment) up to the written bytes to make it
 * writable, so each write costs as much as the bytes before the record in
 * the segment. The socket's first sender becomes its peer (the engine writes
 * it into the socket's page, then into q->peer). */
static __always_inline int name_sender(struct __sk_buff *skb, __u32 off, struct rdsb_rcvq *q, __u32 fslot,
				       __u32 idx, struct rds_header *h)
{
	h->h_ack = bpf_cpu_to_be64((__u64)fslot);
	h->h_flags = (h->h_flags | RDSB_DELIV_SLOT) & ~RDSB_DELIV_NOTIFY;
	if (bpf_skb_store_bytes(skb, off + offsetof(struct rds_header, h_ack), &h->h_ack,
				offsetof(struct rds_header, h_flags) + 1 - offsetof(struct rds_header, h_ack), 0))
		return -1;
	count(RDSB_C_BPF_RX_NAMED);
	if (!*(volatile __u32 *)&q->peer && !__sync_val_compare_and_swap(&q->peer, 0, RDSB_PEER_ASKED))
		event(RDSB_EV_PEER, fslot, idx);
	return 0;
}

/* A numbered record for the engine: on the path's count (rdsb_rxack) before
 * it is in the inbox, so that the engine never reads it uncounted; off the
 * count again if it never gets there (dropped, as the kernel drops what it
 * cannot queue). */
static __always_inline int owed(struct __sk_buff *skb, __u32 off, __u64 cookie, __u8 flags, bool gated,
				struct rdsb_rxack *a)
{
	int ret;

	__sync_fetch_and_add(&a->inbox, 1);
	ret = to_engine(skb, off, cookie, flags, gated);
	if (ret != SK_PASS)
		__sync_fetch_and_sub(&a->inbox, 1);
	return ret;
}

/* The engine hears of it, once after each of its acknowledgements */
static __always_inline void ack_wanted(const struct rdsb_rxpath *rp, struct rdsb_rxack *a)
{
	if (__sync_val_compare_and_swap(&a->armed, RDSB_RXACK_ARMED, RDSB_RXACK_RAISED) == RDSB_RXACK_ARMED)
		event(RDSB_EV_RXACK, 0, rp->ack);
}

/* The record numbered seq is in its socket's queue, or dropped: the
 * sequence state passes it, then the engine hears of it as it asked
 * (rdsb_rxack.armed). The compare-and-swap orders the store before it, so
 * that an engine that arms and then reads the sequence state misses
 * nothing. */
static __always_inline void delivered(struct rdsb_rxpath *rp, struct rdsb_rxack *a, __u64 seq, __u8 flags,
				      __u64 bytes, __u32 len)
{
	__u64 since = seq - *(volatile __u64 *)&a->ack_sent;

	seq_persist(rp);
	if ((flags & RDS_FLAG_ACK_REQUIRED) || (since && !(since % RDSB_ACK_MSGS)) ||
	    bytes / RDSB_ACK_BYTES != (bytes + len) / RDSB_ACK_BYTES) {
		if (*(volatile __u32 *)&a->armed != RDSB_RXACK_OFF)
			event(RDSB_EV_RXACK, 1, rp->ack);
	} else {
		ack_wanted(rp, a);
	}
}

static __always_inline int verdict(struct __sk_buff *skb, __u32 off)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct rdsb_sock_key key;
	struct rdsb_rxpath *rp;
	struct rdsb_rxack *a;
	__u32 *idx;
	struct rdsb_rcvq *q;
	struct rds_header h;
	__u16 sport, dport;
	__u32 len;
	__u64 seq, bytes;
	int ret;

	if (bpf_skb_load_bytes(skb, off, &h, sizeof(h))) {
		count(RDSB_C_BPF_DROP_SHORT);
		return SK_DROP;
	}
	rp = bpf_map_lookup_elem(&rdsb_rxpath, &cookie);
	if (!rp)
		return to_engine(skb, off, cookie, h.h_flags, false);
	len = bpf_ntohl(h.h_len);
	__sync_fetch_and_add(&rp->rx_msgs, 1);
	bytes = __sync_fetch_and_add(&rp->rx_bytes, len);
	count(RDSB_C_RX_MSGS);
	if (rdsb_is_cong_map(h.h_flags))
		return cong_map(skb, off, rp);
	/* a delivery acknowledgement: unnumbered, for the engine */
	if (h.h_flags & RDSB_FLAG_DELIV_ACK)
		return to_engine(skb, off, cookie, h.h_flags, false);

	key.slot = rp->ack;
	a = bpf_map_lookup_elem(&rdsb_rxack, &key.slot);
	if (!a)
		return SK_DROP;		/* the engine gives every path an entry */
	/* rds_recv_incoming: only a retransmission can be a duplicate; the
	 * peer sent it again for want of our acknowledgement: it gets one */
	seq = bpf_be64_to_cpu(h.h_sequence);
	if (!rdsb_seq_accept(&rp->next_rx_seq, seq, h.h_flags)) {
		count(RDSB_C_DROP_DUP_SEQ);
		ack_wanted(rp, a);
		return SK_DROP;
	}
	/* behind records the engine has not written yet: behind them, through
	 * the engine (a fetching atomic: ordered after the engine's sequence
	 * state store that came before its count went down) */
	if (__sync_fetch_and_add(&a->inbox, 0))
		return owed(skb, off, cookie, h.h_flags, false, a);

	sport = bpf_ntohs(h.h_sport);
	dport = bpf_ntohs(h.h_dport);
	if (dport == 0 || RDS_HS_PROBE(sport, dport))
		return owed(skb, off, cookie, h.h_flags, false, a);	/* pings and probes: the engine answers */
	key.slot = rp->lslot;
	key.port = dport;
	idx = bpf_map_lookup_elem(&rdsb_bound, &key);
	q = idx ? bpf_map_lookup_elem(&rdsb_rcvq, idx) : NULL;
	if (!q) {
		if (bpf_ktime_get_ns() < rebind_until)
			return owed(skb, off, cookie, h.h_flags, false, a);	/* it holds it */
		count(RDSB_C_DROP_NO_SOCKET);
		delivered(rp, a, seq, h.h_flags, bytes, len);
		return SK_DROP;
	}
	switch (gate_pass(q)) {
	case GATE_ENGINE:
		return owed(skb, off, cookie, h.h_flags, true, a);
	case GATE_BUSY:
		count(RDSB_C_BPF_DROP_REDIRECT);
		delivered(rp, a, seq, h.h_flags, bytes, len);
		return SK_DROP;
	}

	ret = SK_DROP;
	if (!as_it_came(q, rp->fslot, &h) && name_sender(skb, off, q, rp->fslot, *idx, &h))
		count(RDSB_C_BPF_DROP_REDIRECT);
	else if (bpf_sk_redirect_map(skb, &rdsb_socks, *idx, BPF_F_INGRESS) != SK_PASS)
		count(RDSB_C_BPF_DROP_REDIRECT);
	else
		ret = SK_PASS;
	delivered(rp, a, seq, h.h_flags, bytes, len);
	if (ret != SK_PASS)
		return ret;
	count(RDSB_C_RX_DELIVERED);
	if (__sync_add_and_fetch(&q->delivered, RDS_HEADER_SIZE + len) > q->limit && q->armed) {
		q->armed = 0;
		event(RDSB_EV_RCVQ, key.slot, *idx);
	}
	return SK_PASS;
}

SEC("sk_skb/stream_parser")
int rdsb_parse(struct __sk_buff *skb)
{
	return parse(skb, offset_kfunc(skb));
}

SEC("sk_skb/stream_verdict")
int rdsb_verdict(struct __sk_buff *skb)
{
	return verdict(skb, offset_kfunc(skb));
}

SEC("sk_skb/stream_parser")
int rdsb_parse_pr(struct __sk_buff *skb)
{
	return parse(skb, offset_probe(skb));
}

SEC("sk_skb/stream_verdict")
int rdsb_verdict_pr(struct __sk_buff *skb)
{
	return verdict(skb, offset_probe(skb));
}

/* On application sockets: anything that lands in one joins the queue
 * rdsb_verdict and rdsb_outbox_deliver redirect to. */
SEC("sk_skb")
int rdsb_deliver(struct __sk_buff *skb)
{
	return SK_PASS;
}

/* The engine's deliveries. Were they written into the application's
 * socket, a read racing the write could take part of an skb from its
 * receive queue (unix_bpf_recvmsg reads there while the psock queue is
 * empty) before the verdict moved the whole skb, those bytes again, to the
 * psock queue. So the engine writes them into the outbox instead, one
 * sendmsg per socket, naming the socket in rdsb_out_to first: this verdict
 * runs inside that sendmsg and redirects them to the psock queue, the one
 * queue the application reads. */
SEC("sk_skb")
int rdsb_outbox_deliver(struct __sk_buff *skb)
{
	__u32 key = 0, *idx = bpf_map_lookup_elem(&rdsb_out_to, &key);

	if (!idx || bpf_sk_redirect_map(skb, &rdsb_socks, *idx, BPF_F_INGRESS) != SK_PASS) {
		count(RDSB_C_BPF_DROP_REDIRECT);
		return SK_DROP;
	}
	count(RDSB_C_BPF_OUTBOX_SKBS);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
