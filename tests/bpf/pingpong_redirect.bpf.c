// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The receive design of the BPF data path, alone, for the ping-pong
 * baseline (tests/tools/tcp-sockmap-pingpong.c): on the TCP socket a
 * stream parser frames length-prefixed messages (a 4-byte host-order
 * length, then the payload) and a verdict redirects each one to the
 * ingress of an AF_UNIX stream socket, where the application reads it.
 *
 * strparser hands both programs the whole skb: the current message starts
 * at the strparser offset, not at 0.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define EMSGSIZE 90
#define PP_MAX_MSG (1u << 20)

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* the TCP socket; the parser and the verdict attach here */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pp_tcp SEC(".maps");

/* the AF_UNIX socket the application reads */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pp_rx SEC(".maps");

SEC("sk_skb/stream_parser")
int pp_parse(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	__u32 off = (__u32)((struct sk_skb_cb *)k->cb)->strp.strp.offset;
	__u32 len;

	if (bpf_skb_load_bytes(skb, off, &len, sizeof(len)))
		return 0;	/* not all of the prefix yet */
	if (len > PP_MAX_MSG)
		return -EMSGSIZE;
	return (int)(sizeof(len) + len);
}

SEC("sk_skb/stream_verdict")
int pp_verdict(struct __sk_buff *skb)
{
	return bpf_sk_redirect_map(skb, &pp_rx, 0, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
