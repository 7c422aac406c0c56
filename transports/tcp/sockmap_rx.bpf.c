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
 * strparser hands both programs the whole skb: the current message starts at
 * the strparser offset, not at 0, and runs full_len bytes. Both are in the
 * skb's control block (sk_skb_cb.strp, cb+24 on 6.1 to 7.2), the offset past
 * the bytes __sk_buff.cb[] shows (cb+8 to cb+28), so the programs come twice:
 * with the kernel-context kfunc (Linux 6.2+), or, before it, with
 * bpf_probe_read_kernel of the same fields (CO-RE-relocated; needs
 * CAP_PERFMON). The loader autoloads one pair (sockmap_rx.c), as the
 * kernel's BTF says.
 *
 * A message is one record, or a run of records the parser found whole in
 * the same skb, all data for one port (rdsb_parse): the verdict delivers a
 * run as one skb, so that the clone, the verdict and the psock's sk_msg are
 * paid once for up to RUN_MAX records instead of once each.
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

/* Where the message starts in the skb, and its length */
struct strp_at {
	__u32	off;
	__u32	full;
};

static __always_inline struct strp_at at_kfunc(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	struct strp_msg *m = &((struct sk_skb_cb *)k->cb)->strp.strp;

	return (struct strp_at){ .off = (__u32)m->offset, .full = (__u32)m->full_len };
}

/* The context is the kernel's sk_buff; only its address is used here. The
 * parser needs no length (with_full false). */
static __always_inline struct strp_at at_probe(struct __sk_buff *skb, bool with_full)
{
	void *m = (void *)skb + bpf_core_field_offset(struct sk_buff, cb) + bpf_core_field_offset(struct sk_skb_cb, strp.strp);
	int off = 0, full = 0;

	bpf_probe_read_kernel(&off, sizeof(off), m + bpf_core_field_offset(struct strp_msg, offset));
	if (with_full)
		bpf_probe_read_kernel(&full, sizeof(full), m + bpf_core_field_offset(struct strp_msg, full_len));
	return (struct strp_at){ .off = (__u32)off, .full = (__u32)full };
}

/* next_rx_seq where a restarted engine finds it (struct rdsb_rxpath) */
static __always_inline void seq_persist(const struct rdsb_rxpath *rp)
{
	struct rdsb_seq_path *sp = seqstate_path(rp->ss, rp->path);

	if (sp)
		sp->next_rx_seq = rp->next_rx_seq;
}

/* A run: at most RUN_MAX records and RUN_BYTES bytes, headers included. 32
 * records take 64 B datagrams to about the size a TCP segment brings on
 * veth; 64 KiB keeps a run within one segment's pieces (a run the psock
 * cannot map in MAX_SKB_FRAGS pieces is linearised, the whole skb copied). */
#define RUN_MAX		32
#define RUN_BYTES	65536
/* A record's header up to and with h_flags: what the programs read of it */
#define HEAD_BYTES	(offsetof(struct rds_header, h_flags) + 1)

/* A record a run may take: data for first's port, which the verdict does
 * not look into further (no congestion map, delivery acknowledgement,
 * ping, probe or retransmission, nothing the library would read as the
 * engine's), so that what it does for the run's first record it may do for
 * all. */
static __always_inline bool runs_with(const struct rds_header *h, const struct rds_header *first)
{
	return !(h->h_flags & ~(RDS_FLAG_ACK_REQUIRED | RDS_FLAG_EXTHDR_EXTENSION)) && h->h_sport && h->h_dport &&
	       h->h_dport == first->h_dport && h->h_ack != RDSB_DELIV_DECODED;
}

/* strparser asks again about the header it was told ends the stream (it
 * parses the same bytes once more before it stops): counted once a path. */
static __always_inline void count_bad_len(struct __sk_buff *skb, __u8 flags)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct rdsb_rxpath *rp = bpf_map_lookup_elem(&rdsb_rxpath, &cookie);

	if (rp && __sync_val_compare_and_swap(&rp->bad_len, 0, 1))
		return;
	count(rdsb_is_cong_map(flags) ? RDSB_C_DROP_BAD_CONG_MAP : RDSB_C_DROP_BAD_LEN);
}

/* The message's length: the record at off, headers included, and the
 * records after it that are already in the skb and may run with it; 0 =
 * not all of the first header yet. A length the kernel would never send
 * ends the stream: strparser reports the error on the socket and the
 * engine resets the path (a run stops before it, and it comes next). */
static __always_inline int parse(struct __sk_buff *skb, __u32 off)
{
	struct rds_header first, h;
	__u32 len, total, avail;

	if (bpf_skb_load_bytes(skb, off, &first, HEAD_BYTES))
		return 0;
	len = bpf_ntohl(first.h_len);
	if (!rdsb_h_len_ok(first.h_flags, len)) {
		count_bad_len(skb, first.h_flags);
		return -EBADMSG;
	}
	total = RDS_HEADER_SIZE + len;
	avail = skb->len > off ? skb->len - off : 0;
	if (!runs_with(&first, &first) || total > avail)
		return total;
	for (int i = 1; i < RUN_MAX; i++) {
		if (total + RDS_HEADER_SIZE > avail || bpf_skb_load_bytes(skb, off + total, &h, HEAD_BYTES))
			break;
		len = bpf_ntohl(h.h_len);
		if (!runs_with(&h, &first) || !rdsb_h_len_ok(h.h_flags, len) || total + RDS_HEADER_SIZE + len > avail ||
		    total + RDS_HEADER_SIZE + len > RUN_BYTES)
			break;
		total += RDS_HEADER_SIZE + len;
	}
	return total;
}

/* What the verdict needs of a message's records besides the first header
 * (their payload bytes: the message's length less n headers) */
struct run {
	__u32	n;		/* records */
	__u64	last_seq;
	__u8	flags;		/* their h_flags, or-ed */
};

/* Walks a run the parser framed; -1 if its records do not fill it exactly
 * (cannot happen: the same bytes were parsed). */
static __always_inline int run_of(struct __sk_buff *skb, struct strp_at at, const struct rds_header *first,
				  struct run *r)
{
	__u32 pos = RDS_HEADER_SIZE + bpf_ntohl(first->h_len);

	r->n = 1;
	r->last_seq = bpf_be64_to_cpu(first->h_sequence);
	r->flags = first->h_flags;
	for (int i = 1; i < RUN_MAX && pos < at.full; i++) {
		struct rds_header h;
		__u32 len;

		if (bpf_skb_load_bytes(skb, at.off + pos, &h, HEAD_BYTES))
			return -1;
		len = bpf_ntohl(h.h_len);
		if (len > RUN_BYTES)
			return -1;
		r->n++;
		r->last_seq = bpf_be64_to_cpu(h.h_sequence);
		r->flags |= h.h_flags;
		pos += RDS_HEADER_SIZE + len;
	}
	return pos == at.full ? 0 : -1;
}

/* Writes h_ack and sets h_flags bits (set) and clears others (clear) in
 * each record of the message at off, full bytes, in one store a record
 * (h_ack to h_flags). The skb is a clone of the TCP segment: the first
 * store copies the segment from its start up to the written bytes into a
 * new head, so each costs as much as the bytes before it. A function of its
 * own (five arguments at most: the flags in one), not inlined at each of
 * its callers. */
static __noinline int rewrite_each(struct __sk_buff *skb, __u32 off, __u32 full, __u64 ack, __u32 set_clear)
{
	__u8 set = set_clear & 0xff, clear = set_clear >> 8;
	__u32 pos = 0;

	for (int i = 0; i < RUN_MAX && pos < full; i++) {
		struct rds_header h;

		if (bpf_skb_load_bytes(skb, off + pos, &h, HEAD_BYTES))
			return -1;
		h.h_ack = ack;
		h.h_flags = (h.h_flags | set) & ~clear;
		if (bpf_skb_store_bytes(skb, off + pos + offsetof(struct rds_header, h_ack), &h.h_ack,
					HEAD_BYTES - offsetof(struct rds_header, h_ack), 0))
			return -1;
		pos += RDS_HEADER_SIZE + bpf_ntohl(h.h_len);
	}
	return 0;
}
#define SET_CLEAR(set, clear)	((__u32)(set) | (__u32)(clear) << 8)

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
static __always_inline int to_engine(struct __sk_buff *skb, struct strp_at at, __u64 cookie, bool gated, __u32 n)
{
	count_n(RDSB_C_BPF_RX_TO_ENGINE, n);
	if (rewrite_each(skb, at.off, at.full, cookie,
			 gated ? SET_CLEAR(RDSB_RX_GATED, 0) : SET_CLEAR(0, RDSB_RX_GATED)) ||
	    bpf_sk_redirect_map(skb, &rdsb_inbox, 0, BPF_F_INGRESS) != SK_PASS) {
		count_n(RDSB_C_BPF_DROP_REDIRECT, n);
		return SK_DROP;
	}
	return SK_PASS;
}

enum { GATE_OPEN, GATE_ENGINE, GATE_BUSY };

/* A closed gate counts the records it sends to the engine: the count and
 * the test are one compare-and-swap, so the engine cannot open the gate
 * between them. Eight tries: the other CPUs' verdicts and the engine, never
 * more than a few at once. */
static __always_inline int gate_pass(struct rdsb_rcvq *q, __u32 n)
{
	for (int i = 0; i < 8; i++) {
		__u64 g = *(volatile __u64 *)&q->gate;

		if (!g)
			return GATE_OPEN;
		if (__sync_val_compare_and_swap(&q->gate, g, g + n) == g)
			return GATE_ENGINE;
	}
	return GATE_BUSY;
}

/* A record of the socket's peer goes as it came (rds-bpf/maps.h,
 * rdsb_deliv_hdr): nothing in it the library would read as ours (for a
 * run, the parser saw to that in every record: runs_with). */
static __always_inline bool as_it_came(struct rdsb_rcvq *q, __u32 fslot, const struct rds_header *h)
{
	return *(volatile __u32 *)&q->peer == fslot + 1 && !(h->h_flags & (RDSB_DELIV_NOTIFY | RDSB_DELIV_SLOT)) &&
	       h->h_ack != RDSB_DELIV_DECODED;
}

/* Any other gets the sender's address slot in h_ack, RDSB_DELIV_SLOT and
 * never the engine's notification flag, in one write a record
 * (rewrite_each). The socket's first sender becomes its peer (the engine
 * writes it into the socket's page, then into q->peer). */
static __always_inline int name_sender(struct __sk_buff *skb, struct strp_at at, struct rdsb_rcvq *q, __u32 fslot,
				       __u32 idx, __u32 n)
{
	if (rewrite_each(skb, at.off, at.full, bpf_cpu_to_be64((__u64)fslot),
			 SET_CLEAR(RDSB_DELIV_SLOT, RDSB_DELIV_NOTIFY)))
		return -1;
	count_n(RDSB_C_BPF_RX_NAMED, n);
	if (!*(volatile __u32 *)&q->peer && !__sync_val_compare_and_swap(&q->peer, 0, RDSB_PEER_ASKED))
		event(RDSB_EV_PEER, fslot, idx);
	return 0;
}

/* Numbered records for the engine: on the path's count (rdsb_rxack) before
 * they are in the inbox, so that the engine never reads one uncounted; off
 * the count again if they never get there (dropped, as the kernel drops
 * what it cannot queue). */
static __always_inline int owed(struct __sk_buff *skb, struct strp_at at, __u64 cookie, bool gated,
				struct rdsb_rxack *a, __u32 n)
{
	int ret;

	__sync_fetch_and_add(&a->inbox, n);
	ret = to_engine(skb, at, cookie, gated, n);
	if (ret != SK_PASS)
		__sync_fetch_and_sub(&a->inbox, n);
	return ret;
}

/* The engine hears of it, once after each of its acknowledgements */
static __always_inline void ack_wanted(const struct rdsb_rxpath *rp, struct rdsb_rxack *a)
{
	if (__sync_val_compare_and_swap(&a->armed, RDSB_RXACK_ARMED, RDSB_RXACK_RAISED) == RDSB_RXACK_ARMED)
		event(RDSB_EV_RXACK, 0, rp->ack);
}

/* Whether a number RDSB_ACK_MSGS past the last acknowledgement (or a
 * multiple) is among lo..hi, numbers counted from it */
static __always_inline bool passes_ack_every(__u64 lo, __u64 hi)
{
	if (!lo)
		lo = 1;
	return lo <= hi && hi / RDSB_ACK_MSGS != (lo - 1) / RDSB_ACK_MSGS;
}

/* The records numbered seq to r->last_seq are in their socket's queue, or
 * dropped: the sequence state passes them, then the engine hears of it as
 * it asked (rdsb_rxack.armed). The compare-and-swap orders the store before
 * it, so that an engine that arms and then reads the sequence state misses
 * nothing. bytes: the path's payload bytes before them, payload theirs. */
static __always_inline void delivered(struct rdsb_rxpath *rp, struct rdsb_rxack *a, __u64 seq, const struct run *r,
				      __u64 bytes, __u32 payload)
{
	__u64 sent = *(volatile __u64 *)&a->ack_sent;

	seq_persist(rp);
	if ((r->flags & RDS_FLAG_ACK_REQUIRED) || passes_ack_every(seq - sent, r->last_seq - sent) ||
	    bytes / RDSB_ACK_BYTES != (bytes + payload) / RDSB_ACK_BYTES) {
		if (*(volatile __u32 *)&a->armed != RDSB_RXACK_OFF)
			event(RDSB_EV_RXACK, 1, rp->ack);
	} else {
		ack_wanted(rp, a);
	}
}

static __always_inline int verdict(struct __sk_buff *skb, struct strp_at at)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct rdsb_sock_key key;
	struct rdsb_rxpath *rp;
	struct rdsb_rxack *a;
	__u32 *idx;
	struct rdsb_rcvq *q;
	struct rds_header h;
	struct run r;
	__u16 sport, dport;
	__u64 seq, bytes;
	__u32 payload;
	int ret;

	if (bpf_skb_load_bytes(skb, at.off, &h, sizeof(h)) || run_of(skb, at, &h, &r)) {
		count(RDSB_C_BPF_DROP_SHORT);
		return SK_DROP;
	}
	if (r.n > 1) {
		count(RDSB_C_BPF_RX_RUNS);
		count_n(RDSB_C_BPF_RX_IN_RUNS, r.n);
	}
	rp = bpf_map_lookup_elem(&rdsb_rxpath, &cookie);
	if (!rp)
		return to_engine(skb, at, cookie, false, r.n);
	payload = at.full - r.n * RDS_HEADER_SIZE;
	__sync_fetch_and_add(&rp->rx_msgs, r.n);
	bytes = __sync_fetch_and_add(&rp->rx_bytes, payload);
	count_n(RDSB_C_RX_MSGS, r.n);
	if (rdsb_is_cong_map(h.h_flags))
		return cong_map(skb, at.off, rp);
	/* a delivery acknowledgement: unnumbered, for the engine */
	if (h.h_flags & RDSB_FLAG_DELIV_ACK)
		return to_engine(skb, at, cookie, false, r.n);

	key.slot = rp->ack;
	a = bpf_map_lookup_elem(&rdsb_rxack, &key.slot);
	if (!a)
		return SK_DROP;		/* the engine gives every path an entry */
	/* rds_recv_incoming: only a retransmission can be a duplicate; the
	 * peer sent it again for want of our acknowledgement: it gets one. A
	 * run has none (runs_with): all of it is new. */
	seq = bpf_be64_to_cpu(h.h_sequence);
	if (!rdsb_seq_accept(&rp->next_rx_seq, seq, h.h_flags)) {
		count(RDSB_C_DROP_DUP_SEQ);
		ack_wanted(rp, a);
		return SK_DROP;
	}
	rp->next_rx_seq = r.last_seq + 1;
	/* behind records the engine has not written yet: behind them, through
	 * the engine (a fetching atomic: ordered after the engine's sequence
	 * state store that came before its count went down) */
	if (__sync_fetch_and_add(&a->inbox, 0))
		return owed(skb, at, cookie, false, a, r.n);

	sport = bpf_ntohs(h.h_sport);
	dport = bpf_ntohs(h.h_dport);
	if (dport == 0 || RDS_HS_PROBE(sport, dport))
		return owed(skb, at, cookie, false, a, r.n);	/* pings and probes: the engine answers */
	key.slot = rp->lslot;
	key.port = dport;
	idx = bpf_map_lookup_elem(&rdsb_bound, &key);
	q = idx ? bpf_map_lookup_elem(&rdsb_rcvq, idx) : NULL;
	if (!q) {
		if (bpf_ktime_get_ns() < rebind_until)
			return owed(skb, at, cookie, false, a, r.n);	/* it holds it */
		count_n(RDSB_C_DROP_NO_SOCKET, r.n);
		delivered(rp, a, seq, &r, bytes, payload);
		return SK_DROP;
	}
	switch (gate_pass(q, r.n)) {
	case GATE_ENGINE:
		return owed(skb, at, cookie, true, a, r.n);
	case GATE_BUSY:
		count_n(RDSB_C_BPF_DROP_REDIRECT, r.n);
		delivered(rp, a, seq, &r, bytes, payload);
		return SK_DROP;
	}

	ret = SK_DROP;
	if (!as_it_came(q, rp->fslot, &h) && name_sender(skb, at, q, rp->fslot, *idx, r.n))
		count_n(RDSB_C_BPF_DROP_REDIRECT, r.n);
	else if (bpf_sk_redirect_map(skb, &rdsb_socks, *idx, BPF_F_INGRESS) != SK_PASS)
		count_n(RDSB_C_BPF_DROP_REDIRECT, r.n);
	else
		ret = SK_PASS;
	delivered(rp, a, seq, &r, bytes, payload);
	if (ret != SK_PASS)
		return ret;
	count_n(RDSB_C_RX_DELIVERED, r.n);
	if (__sync_add_and_fetch(&q->delivered, at.full) > q->limit && q->armed) {
		q->armed = 0;
		event(RDSB_EV_RCVQ, key.slot, *idx);
	}
	return SK_PASS;
}

SEC("sk_skb/stream_parser")
int rdsb_parse(struct __sk_buff *skb)
{
	return parse(skb, at_kfunc(skb).off);
}

SEC("sk_skb/stream_verdict")
int rdsb_verdict(struct __sk_buff *skb)
{
	return verdict(skb, at_kfunc(skb));
}

SEC("sk_skb/stream_parser")
int rdsb_parse_pr(struct __sk_buff *skb)
{
	return parse(skb, at_probe(skb, false).off);
}

SEC("sk_skb/stream_verdict")
int rdsb_verdict_pr(struct __sk_buff *skb)
{
	return verdict(skb, at_probe(skb, true));
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
