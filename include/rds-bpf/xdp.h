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
	__u32	pad;
};

/* Per connection: the version of each congestion map chunk applied, so a
 * repeated or reordered older chunk never overwrites a newer one. */
struct rdsx_cong_ver {
	__u64	ver[RDSX_CONG_CHUNKS];
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
	X(DROP_NO_XSK,		"drop_no_xsk")

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
