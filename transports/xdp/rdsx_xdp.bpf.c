// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP program of the XDP/AF_XDP transport (docs/xdp-encap.md): parses
 * Ethernet, IPv4/IPv6, UDP to RDSX_PORT and the rds_header with a bounds
 * check before every read; consumes ack-only frames (advancing the path's
 * acked frame number in a map the sender mmaps) and congestion map chunks
 * (into the engine's rdsb_cong map); redirects data frames to the AF_XDP
 * socket of the receive queue; passes everything else to the stack.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <rds-bpf/maps.h>
#include <rds-bpf/rules.h>
#include <rds-bpf/xdp.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RDSX_MAX_CONNS);
	__type(key, struct rdsx_conn_key);
	__type(value, struct rdsx_conn);
} rdsx_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RDSX_MAX_CONNS * RDS_MPATH_WORKERS);
	__type(key, __u32);
	__type(value, struct rdsx_path);
} rdsx_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RDSX_MAX_CONNS);
	__type(key, __u32);
	__type(value, struct rdsx_cong_ver);
} rdsx_cong_ver SEC(".maps");

/* The engine's congestion maps: the loader reuses the engine's map fd. */
#include "rdsb_cong.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RDSX_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rdsx_counters SEC(".maps");

/* Wakes the sender waiting for an ack (ack_wake): the index of the path. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RDSX_WAKE_RING);
} rdsx_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} rdsx_xsks SEC(".maps");

#define IP_MF		0x2000
#define IP_OFFSET	0x1fff

static __always_inline int count(__u32 c, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&rdsx_counters, &c);

	if (v)
		*v += 1;
	return verdict;
}

/* The frame's addresses as a connection key: IPv4 as v4-mapped IPv6. */
static __always_inline void key_v4(struct rdsx_conn_key *k, __be32 saddr, __be32 daddr)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->laddr[10] = k->laddr[11] = 0xff;
	k->faddr[10] = k->faddr[11] = 0xff;
	__builtin_memcpy(&k->laddr[12], &daddr, 4);
	__builtin_memcpy(&k->faddr[12], &saddr, 4);
}

static __always_inline struct rdsx_path *path_state(const struct rdsx_conn *c, __u32 path,
						    __u32 *idx)
{
	*idx = c->index * RDS_MPATH_WORKERS + path;
	return bpf_map_lookup_elem(&rdsx_paths, idx);
}

/* The ack in a frame names the epoch we send with (which a host that never
 * saw our frames does not know) and no frame beyond the last we sent. */
static __always_inline int ack_check(const struct rdsx_path *st, __u64 ack)
{
	if ((__u32)(ack >> 32) != st->tx_epoch)
		return RDSX_C_ACK_STALE;
	if ((__s32)((__u32)ack - st->sent) > 0)
		return RDSX_C_ACK_BEYOND_SENT;
	return -1;
}

/* A cumulative ack from the peer and the window it grants: only when the
 * ack is believed (ack_check), only forward (frame numbers wrap). Returns
 * the counter of what it refused, or -1. An ack of 0 (the peer has nothing
 * of ours yet) vouches for nothing: the credit stays the initial one. */
static __always_inline int apply_ack(struct rdsx_path *st, __u32 idx, const struct rds_header *h,
				     bool ack_only)
{
	__u64 ack = bpf_be64_to_cpu(h->h_ack);
	__u32 n = (__u32)ack;
	int bad;

	if (!ack)
		return ack_only ? RDSX_C_DROP_BAD_ACK : -1;
	bad = ack_check(st, ack);
	if (bad >= 0)
		return bad;
	if (h->h_credit > RDSX_CREDIT_MAX)
		return RDSX_C_DROP_BAD_CREDIT;
	st->credit = h->h_credit;
	if ((__s32)(n - st->acked) > 0) {
		st->acked = n;
		if (st->ack_wake) {
			st->ack_wake = 0;
			bpf_ringbuf_output(&rdsx_wake, &idx, sizeof(idx), 0);
		}
	} else if (ack_only)
		st->dup_acks++;
	if (ack_only)
		st->ack_frames++;
	return -1;
}

/* A frame of the established path: it carries the epoch the peer's data
 * frames carry on it, or an ack that is believed. */
static __always_inline bool from_path_peer(const struct rdsx_path *st, const struct rds_header *h)
{
	__u64 ack = bpf_be64_to_cpu(h->h_ack);

	if (st->rx_epoch && bpf_ntohs(h->h_csum) == st->rx_epoch)
		return true;
	return ack && ack_check(st, ack) < 0;
}

static __always_inline __u32 frame_number(const struct rds_header *h)
{
	__u32 n;

	__builtin_memcpy(&n, h->h_padding, 4);
	return bpf_ntohl(n);
}

/* A congestion map chunk: newer than what was applied at its offset, by no
 * more than the time since then (RDSX_CONG_SLACK_US); a map its sender has
 * not repeated for RDSX_CONG_EXPIRE_NS takes the next chunk whatever its
 * version. */
static __always_inline int cong_chunk(struct xdp_md *ctx, const struct rdsx_conn *c,
				      const struct rdsx_path *st, const struct rds_header *h, __u32 hlen, __u32 payload_off,
				      __u32 payload)
{
	__u16 off = bpf_ntohs(h->h_dport);
	__u64 ver = bpf_be64_to_cpu(h->h_sequence), now = bpf_ktime_get_ns(), last;
	__u32 chunk = off / RDSX_CONG_CHUNK, ci = c->index, slot = c->fslot;
	struct rdsx_cong_ver *cv;
	struct rdsb_cong_map *map;
	__u32 applied = RDSX_C_CONG_APPLIED;
	bool expired;

	if (!rdsb_h_len_ok(h->h_flags, hlen) || payload != RDSX_CONG_CHUNK ||
	    off % RDSX_CONG_CHUNK || chunk >= RDSX_CONG_CHUNKS || frame_number(h))
		return count(RDSX_C_DROP_BAD_CONG, XDP_DROP);
	/* only the peer of an established path moves its map */
	if (!from_path_peer(st, h))
		return count(RDSX_C_DROP_CONG_FOREIGN, XDP_DROP);
	cv = bpf_map_lookup_elem(&rdsx_cong_ver, &ci);
	map = bpf_map_lookup_elem(&rdsb_cong, &slot);
	if (!cv || !map)
		return count(RDSX_C_DROP_UNKNOWN_CONN, XDP_DROP);
	chunk &= RDSX_CONG_CHUNKS - 1;
	last = cv->ver[chunk];
	expired = now - cv->seen_ns[chunk] > RDSX_CONG_EXPIRE_NS;
	if (ver == last && !expired) {
		cv->seen_ns[chunk] = now;
		return count(RDSX_C_CONG_OLD, XDP_DROP);
	}
	if (ver <= last || (last && ver - last > (now - cv->applied_ns[chunk]) / 1000 + RDSX_CONG_SLACK_US)) {
		if (!expired)
			return count(ver > last ? RDSX_C_DROP_CONG_TOO_NEW : RDSX_C_CONG_OLD, XDP_DROP);
		applied = RDSX_C_CONG_EXPIRED;
	}
	if (bpf_xdp_load_bytes(ctx, payload_off, &map->bits[chunk * RDSX_CONG_CHUNK], RDSX_CONG_CHUNK))
		return count(RDSX_C_DROP_TRUNCATED, XDP_DROP);
	cv->ver[chunk] = ver;
	cv->applied_ns[chunk] = cv->seen_ns[chunk] = now;
	count(applied, 0);
	return -1;	/* applied: userspace tells the engine */
}

SEC("xdp")
int rdsx_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rdsx_conn_key key;
	struct rdsx_conn *c;
	struct rdsx_path *st;
	struct rds_header *h;
	struct udphdr *udp;
	__u32 l4_off, path, payload, hlen, qid, idx = 0;
	bool ack_only;
	int v;

	if ((void *)(eth + 1) > end)
		return count(RDSX_C_PASS, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
			return count(RDSX_C_PASS, XDP_PASS);
		l4_off = sizeof(*eth) + ip->ihl * 4;
		udp = data + l4_off;
		if ((void *)(udp + 1) > end || udp->dest != bpf_htons(RDSX_PORT))
			return count(RDSX_C_PASS, XDP_PASS);
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return count(RDSX_C_DROP_IP_FRAGMENT, XDP_DROP);
		key_v4(&key, ip->saddr, ip->daddr);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			return count(RDSX_C_PASS, XDP_PASS);
		l4_off = sizeof(*eth) + sizeof(*ip6);
		udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > end || udp->dest != bpf_htons(RDSX_PORT))
			return count(RDSX_C_PASS, XDP_PASS);
		__builtin_memcpy(key.laddr, &ip6->daddr, 16);
		__builtin_memcpy(key.faddr, &ip6->saddr, 16);
	} else {
		return count(RDSX_C_PASS, XDP_PASS);
	}

	/* Ours from here on: everything that is not consumed or redirected
	 * is a counted drop. */
	h = (void *)(udp + 1);
	if ((void *)(h + 1) > end)
		return count(RDSX_C_DROP_TRUNCATED, XDP_DROP);
	if (bpf_ntohs(udp->len) < sizeof(*udp) + sizeof(*h) ||
	    (void *)udp + bpf_ntohs(udp->len) > end)
		return count(RDSX_C_DROP_BAD_UDP_LEN, XDP_DROP);
	payload = bpf_ntohs(udp->len) - sizeof(*udp) - sizeof(*h);
	path = bpf_ntohs(udp->source) - RDSX_SPORT_BASE;
	if (path >= RDS_MPATH_WORKERS)
		return count(RDSX_C_DROP_BAD_PATH, XDP_DROP);
	hlen = bpf_ntohl(h->h_len);
	if (!rdsb_msg_size_ok(hlen))
		return count(RDSX_C_DROP_BAD_LEN, XDP_DROP);
	c = bpf_map_lookup_elem(&rdsx_conns, &key);
	st = c ? path_state(c, path, &idx) : NULL;

	ack_only = !h->h_sport && !h->h_dport && !hlen && !h->h_flags && !frame_number(h);
	if (ack_only) {
		if (payload)
			return count(RDSX_C_DROP_BAD_LEN, XDP_DROP);
		if (!st)
			return count(RDSX_C_DROP_UNKNOWN_CONN, XDP_DROP);
		v = apply_ack(st, idx, h, true);
		return count(v >= 0 ? v : RDSX_C_ACK_CONSUMED, XDP_DROP);
	}
	if (rdsb_is_cong_map(h->h_flags)) {
		if (!st)
			return count(RDSX_C_DROP_UNKNOWN_CONN, XDP_DROP);
		apply_ack(st, idx, h, false);	/* believed or not on its own */
		v = cong_chunk(ctx, c, st, h, hlen, l4_off + sizeof(*udp) + sizeof(*h), payload);
		if (v >= 0)
			return v;
	} else {
		/* data: sequenced, and no fragment carries more than its record */
		if (!frame_number(h) || payload > hlen)
			return count(RDSX_C_DROP_BAD_LEN, XDP_DROP);
		/* a refused piggybacked ack is counted; the data is userspace's */
		if (st && (v = apply_ack(st, idx, h, false)) >= 0)
			count(v, 0);
	}
	qid = ctx->rx_queue_index;
	if (!bpf_map_lookup_elem(&rdsx_xsks, &qid))
		return count(RDSX_C_DROP_NO_XSK, XDP_DROP);
	count(RDSX_C_REDIRECT, 0);
	return bpf_redirect_map(&rdsx_xsks, qid, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
