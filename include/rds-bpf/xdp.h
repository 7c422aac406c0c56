/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The XDP/AF_XDP transport's encapsulation and the maps its XDP program
 * shares with the engine (docs/xdp-encap.md describes the frames). Shared by
 * BPF and userspace: fixed-width types only.
 */
#ifndef RDSX_XDP_H
#define RDSX_XDP_H

#include "wire.h"

#define RDSX_PORT		16386	/* UDP destination port of every frame */
#define RDSX_SPORT_BASE		16392	/* UDP source port = base + path index */
#define RDSX_MAX_CONNS		256	/* connections the XDP program knows */
#define RDSX_CONG_CHUNK		1024	/* congestion map bytes per frame */
#define RDSX_CONG_CHUNKS	(RDS_CONG_MAP_BYTES / RDSX_CONG_CHUNK)
#define RDSX_CREDIT_FRAMES	16	/* frames one credit (h_credit unit) allows */
/* No receiver grants more than its AF_XDP ring holds (2048 frames): a credit
 * above this is not a peer's and is not believed. */
#define RDSX_CREDIT_MAX		128
/* Congestion map versions are the sender's CLOCK_REALTIME in us: a chunk may
 * be newer than the last one applied at its offset by the time since then,
 * plus this much for clocks that drift or step. A map not repeated for
 * RDSX_CONG_EXPIRE_NS (the peer repeats it every 500 ms) is replaced by the
 * next chunk of any version, so a wrong version cannot hold it for good. */
#define RDSX_CONG_SLACK_US	(10ull * 1000000)
#define RDSX_CONG_EXPIRE_NS	(2ull * 1000000000)

/* Pins, next to the engine's maps. */
#define RDSX_MAP_CONNS		"rdsx_conns"
#define RDSX_MAP_PATHS		"rdsx_paths"
#define RDSX_MAP_CONG_VER	"rdsx_cong_ver"
#define RDSX_MAP_COUNTERS	"rdsx_counters"
#define RDSX_WAKE_RING		4096	/* bytes of the rdsx_wake ring buffer */
#define RDSX_MAP_XSKS		"rdsx_xsks"

/*
 * Where the transport's per-frame fields live in struct rds_header:
 * h_padding holds the frame number (be32, per path and direction, from 1;
 * 0 = not sequenced), h_csum the sender's epoch for the path (be16, random,
 * never 0), h_ack the cumulative ack ((acked epoch << 32) | frame number),
 * h_credit the receive window in units of RDSX_CREDIT_FRAMES.
 */
struct rdsx_conn_key {
	__u8	laddr[16];	/* our address: the frame's destination */
	__u8	faddr[16];	/* the peer's: the frame's source */
};

struct rdsx_conn {
	__u32	index;		/* into rdsx_paths (index * 8 + path) and rdsx_cong_ver */
	__u32	fslot;		/* the peer's congestion map in rdsb_cong */
};

/* Per path, mmap-ed by the transport: XDP advances acked from the peer's
 * frames, the sender frees its queue from it without a syscall. */
struct rdsx_path {
	__u32	tx_epoch;	/* set by userspace: acks of another epoch are stale */
	__u32	acked;		/* cumulative: every frame up to this one arrived */
	__u32	credit;		/* the peer's last advertised window (credits) */
	__u32	dup_acks;	/* ack-only frames that did not advance acked */
	__u64	ack_frames;	/* ack-only frames consumed */
	__u32	ack_wake;	/* set by userspace, which waits: the next ack that
				 * advances acked clears it and wakes it (rdsx_wake) */
	__u32	rx_epoch;	/* set by userspace: the peer's epoch on this path,
				 * 0 before its first data frame */
	__u32	sent;		/* set by userspace: the last frame number sent in
				 * tx_epoch; an ack beyond it is not believed */
	__u32	pad;
};

/* Per connection: the version of each congestion map chunk applied, so a
 * repeated or reordered older chunk never overwrites a newer one, and when
 * (bpf_ktime_get_ns) it was applied and last seen again, so a version too
 * far ahead is refused and a map no one repeats expires. */
struct rdsx_cong_ver {
	__u64	ver[RDSX_CONG_CHUNKS];
	__u64	applied_ns[RDSX_CONG_CHUNKS];
	__u64	seen_ns[RDSX_CONG_CHUNKS];
};

/* What the XDP program did with a frame; per-CPU counters. */
#define RDSX_COUNTERS(X)						\
	X(PASS,			"pass")					\
	X(REDIRECT,		"redirect")				\
	X(ACK_CONSUMED,		"ack_consumed")				\
	X(ACK_STALE,		"ack_stale_epoch")			\
	X(CONG_APPLIED,		"cong_applied")				\
	X(CONG_OLD,		"cong_old")				\
	X(DROP_TRUNCATED,	"drop_truncated")			\
	X(DROP_IP_FRAGMENT,	"drop_ip_fragment")			\
	X(DROP_BAD_UDP_LEN,	"drop_bad_udp_len")			\
	X(DROP_BAD_PATH,	"drop_bad_path")			\
	X(DROP_BAD_LEN,		"drop_bad_len")				\
	X(DROP_BAD_CONG,	"drop_bad_cong")			\
	X(DROP_UNKNOWN_CONN,	"drop_unknown_conn")			\
	X(DROP_NO_XSK,		"drop_no_xsk")				\
	X(ACK_BEYOND_SENT,	"ack_beyond_sent")			\
	X(DROP_BAD_ACK,		"drop_bad_ack")				\
	X(DROP_BAD_CREDIT,	"drop_bad_credit")			\
	X(DROP_CONG_FOREIGN,	"drop_cong_foreign")			\
	X(DROP_CONG_TOO_NEW,	"drop_cong_too_new")			\
	X(CONG_EXPIRED,		"cong_expired")

enum rdsx_counter {
#define RDSX_COUNTER_ENUM(id, name) RDSX_C_##id,
	RDSX_COUNTERS(RDSX_COUNTER_ENUM)
#undef RDSX_COUNTER_ENUM
	RDSX_C_MAX
};

/* The loss injector's configuration (tests): per mille of frames to our
 * port that are dropped, duplicated, or sent through a slow class so that
 * later frames overtake them; the counters say what it did. */
struct rdsx_loss_cfg {
	__u32	drop_permille;
	__u32	dup_permille;
	__u32	reorder_permille;
	__u32	reorder_classid;	/* htb class of the slow lane */
	__u64	seen, dropped, duplicated, reordered;
};

#endif /* RDSX_XDP_H */
