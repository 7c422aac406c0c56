// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * For tests (the kernel here has no tc drop action nor netfilter tools): a
 * tc program that drops every TCP segment that is a bare acknowledgement
 * (no payload; no SYN, FIN or RST), or that carries only rds-bpf delivery
 * acknowledgements (docs/protocol.md 1.4: records of 48 + 8 bytes, which
 * carry TCP's acknowledgement too), IPv4 and IPv6 without extension
 * headers, so that the host it is attached to on ingress sees what it sends
 * arrive and never acknowledged. Counts what it dropped.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DELIV_ACK_RECORD (48 + 8)
#define DELIV_ACK_FLAG 0x08	/* RDSB_FLAG_DELIV_ACK */

__u64 ack_dropped;

/* Offset of the TCP header and the IP payload's length, or 0. */
static __always_inline __u32 tcp_at(struct __sk_buff *skb, __u32 *l4_len)
{
	__u16 proto = bpf_ntohs(skb->protocol), len;
	__u8 b;

	if (proto == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &b, 1) ||
		    b != IPPROTO_TCP || bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, tot_len), &len, 2) ||
		    bpf_skb_load_bytes(skb, ETH_HLEN, &b, 1))
			return 0;
		*l4_len = bpf_ntohs(len) - (b & 0xf) * 4;
		return ETH_HLEN + (b & 0xf) * 4;
	}
	if (proto == ETH_P_IPV6) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, nexthdr), &b, 1) ||
		    b != IPPROTO_TCP ||
		    bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, payload_len), &len, 2))
			return 0;
		*l4_len = bpf_ntohs(len);
		return ETH_HLEN + sizeof(struct ipv6hdr);
	}
	return 0;
}

SEC("tc")
int ack_drop(struct __sk_buff *skb)
{
	__u32 l4, l4_len = 0;
	__u8 off_flags[2];

	l4 = tcp_at(skb, &l4_len);
	/* byte 12: data offset in the top 4 bits; byte 13: CWR ECE URG ACK PSH RST SYN FIN */
	if (!l4 || bpf_skb_load_bytes(skb, l4 + 12, off_flags, 2))
		return TC_ACT_OK;
	if ((off_flags[1] & 0x17) != 0x10)
		return TC_ACT_OK;
	if (l4_len != (__u32)(off_flags[0] >> 4) * 4) {
		__u32 data = (off_flags[0] >> 4) * 4, len = l4_len - data;
		__u8 flags;

		/* h_flags, byte 24 of the first record */
		if (l4_len < data || !len || len % DELIV_ACK_RECORD ||
		    bpf_skb_load_bytes(skb, l4 + data + 24, &flags, 1) || !(flags & DELIV_ACK_FLAG))
			return TC_ACT_OK;
	}
	__sync_fetch_and_add(&ack_dropped, 1);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
