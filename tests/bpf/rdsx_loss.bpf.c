// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Loss injection for tests (netem is absent here): a tc egress program that
 * drops, duplicates, or delays (through a slow htb class, so that later
 * frames overtake it) a chosen fraction of the UDP frames to the XDP
 * transport's port. Configured through rdsx_loss_cfg; counts what it did.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <rds-bpf/xdp.h>

#define CLONE_MARK 0x52445358	/* our own duplicate: let it through */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rdsx_loss_cfg);
} rdsx_loss_cfg SEC(".maps");

static __always_inline bool to_our_port(struct __sk_buff *skb)
{
	__u16 proto = bpf_ntohs(skb->protocol), dport;
	__u32 l4;
	__u8 b;

	if (proto == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &b, 1) ||
		    b != IPPROTO_UDP || bpf_skb_load_bytes(skb, ETH_HLEN, &b, 1))
			return false;
		l4 = ETH_HLEN + (b & 0xf) * 4;
	} else if (proto == ETH_P_IPV6) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, nexthdr), &b, 1) ||
		    b != IPPROTO_UDP)
			return false;
		l4 = ETH_HLEN + sizeof(struct ipv6hdr);
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, l4 + offsetof(struct udphdr, dest), &dport, 2))
		return false;
	return dport == bpf_htons(RDSX_PORT);
}

SEC("tc")
int rdsx_loss(struct __sk_buff *skb)
{
	__u32 k = 0, r;
	struct rdsx_loss_cfg *c;

	if (skb->mark == CLONE_MARK || !to_our_port(skb))
		return TC_ACT_OK;
	c = bpf_map_lookup_elem(&rdsx_loss_cfg, &k);
	if (!c)
		return TC_ACT_OK;
	__sync_fetch_and_add(&c->seen, 1);
	r = bpf_get_prandom_u32() % 1000;
	if (r < c->drop_permille) {
		__sync_fetch_and_add(&c->dropped, 1);
		return TC_ACT_SHOT;
	}
	r -= c->drop_permille;
	if (r < c->dup_permille) {
		skb->mark = CLONE_MARK;
		if (!bpf_clone_redirect(skb, skb->ifindex, 0))
			__sync_fetch_and_add(&c->duplicated, 1);
		skb->mark = 0;
		return TC_ACT_OK;
	}
	r -= c->dup_permille;
	if (r < c->reorder_permille && c->reorder_classid) {
		skb->priority = c->reorder_classid;
		__sync_fetch_and_add(&c->reordered, 1);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
