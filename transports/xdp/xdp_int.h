/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The XDP/AF_XDP transport's own state (docs/xdp-encap.md). One transport
 * thread owns the AF_XDP socket and every path's frames; the engine sees
 * each path as a stream (one end of a socketpair) of whole records, exactly
 * as a TCP path socket, and learns from acked() how much of it the peer
 * has acknowledged.
 */
#ifndef RDSX_XDP_INT_H
#define RDSX_XDP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "frame.h"
#include "../../user/engine/engine.h"

struct rdsb_engine;

#define RDSX_TXQ	4096		/* frames a path keeps until acked (power of 2) */
#define RDSX_RXQ	4096		/* out-of-order frames a path holds (power of 2) */
#define RDSX_RX_BUDGET	(8u << 20)	/* bytes a path may hold for the engine */
#define RDSX_RX_RING	2048		/* AF_XDP fill and RX ring: frames in flight to us */
#define RDSX_RING_SLACK	64		/* of it for frames outside the windows (new paths) */
/* until the peer says: 8 paths starting at once fit in its ring */
#define RDSX_INIT_CREDIT ((RDSX_RX_RING - RDSX_RING_SLACK) / RDS_MPATH_WORKERS / RDSX_CREDIT_FRAMES)
#define RDSX_DLQ	4096		/* complete records waiting for the engine */

struct rdsx_conn_st;

/* A record read from the engine's stream, its frames in the queue. */
struct rdsx_rec {
	uint32_t last_frame;
	uint64_t end_off;		/* stream offset after it */
	uint64_t gen;			/* of that stream */
};

struct rdsx_txf {
	uint8_t *buf;			/* rds_header + fragment */
	uint32_t len;
};

struct rdsx_xpath {
	struct rdsx_conn_st *xc;
	unsigned int index;
	struct rdsx_path *map;		/* mmap-ed rdsx_paths entry: acked, credit */

	/* The engine's stream. */
	int tfd;			/* transport end, -1 when detached */
	uint64_t gen;			/* of the attached stream */
	bool accept_sent;		/* the engine was asked to accept this path */
	uint8_t in_hdr[RDS_HEADER_SIZE];
	size_t in_hdr_have;
	uint8_t *in_rec;		/* header + payload being read */
	uint32_t in_len, in_have;
	uint64_t in_off;		/* stream bytes read */

	/* Published to the engine thread under xc->lock. */
	uint64_t pub_gen, pub_acked;

	/* TX: frames tx_acked+1 .. tx_next-1 are kept, up to tx_sent-1 sent. */
	uint16_t tx_epoch;
	uint32_t tx_next, tx_sent, tx_acked;
	struct rdsx_txf txq[RDSX_TXQ];
	struct rdsx_rec *recs;		/* ring of RDSX_TXQ */
	uint32_t rec_head, rec_tail;
	uint64_t rto, rto_at;		/* ns */
	uint32_t dup_seen, fast_rexmit_at;

	/* RX */
	uint16_t rx_epoch;		/* 0 = nothing received yet */
	uint32_t rx_next;
	struct rdsx_txf rxq[RDSX_RXQ];	/* out-of-order frames by number */
	uint64_t rx_held;		/* bytes in rxq, the record, and deliver */
	uint8_t *rec;			/* record being reassembled: header + payload */
	uint32_t rec_len, rec_have;
	struct rdsx_txf *deliver;	/* complete records for the engine (ring) */
	uint32_t dl_head, dl_tail, dl_off;
	bool ack_due;
	uint8_t last_credit;		/* last advertised */
};

struct rdsx_conn_st {
	uint8_t laddr[16], faddr[16];
	bool v6;
	uint32_t index;
	int fslot;			/* -1 until the engine has the connection */
	uint32_t frag;			/* fragment payload per frame */
	uint8_t fmac[6];
	bool have_mac;
	uint64_t mac_retry_at;
	pthread_mutex_t lock;		/* pub_* and eng_gen, shared with the engine */
	uint64_t eng_gen[RDS_MPATH_WORKERS];
	struct rdsx_xpath paths[RDS_MPATH_WORKERS];

	/* Congestion map: what we send (from the engine's records), when. */
	uint8_t cong[RDS_CONG_MAP_BYTES];
	bool cong_have;
	uint64_t cong_ver;
	unsigned int cong_sends;
	uint64_t cong_at;
	bool cong_rx;			/* the peer's map changed: tell the engine */
};

/* Commands from the engine thread to the transport thread. */
struct rdsx_cmd {
	struct rdsx_conn_st *xc;
	unsigned int path;
	int fd;				/* the stream's transport end */
	uint64_t gen;
};
#define RDSX_CMDQ 256

struct rdsx_state {
	struct rdsb_engine *e;
	int ifindex;
	char ifname[16];	/* IFNAMSIZ */
	bool skb_mode;		/* --mode skb */
	bool mode_set;		/* --mode given: no fallback from native */
	unsigned int mtu;
	uint8_t mac[6];
	uint32_t xdp_flags;
	void *skel;
	struct rdsx_path *paths_map;

	/* AF_XDP */
	void *umem_area;
	void *umem, *xsk;		/* struct xsk_umem, struct xsk_socket */
	void *fq, *cq, *rx, *tx;	/* rings */
	uint64_t *free_frames;
	uint32_t nfree;

	pthread_t thread;
	bool running;
	int wake_fd;			/* eventfd: commands, stop */
	int notify[2];			/* pipe: accept requests to the engine */
	struct rdsb_ev notify_ev;	/* the engine reads notify[0] through it */
	pthread_mutex_t cmd_lock;
	struct rdsx_cmd cmds[RDSX_CMDQ];
	unsigned int ncmds;
	volatile bool stop;

	pthread_mutex_t conns_lock;
	struct rdsx_conn_st *conns[RDSX_MAX_CONNS];
	unsigned int nconns;
	int probe_fd;			/* UDP socket that makes the kernel resolve a neighbour */
};

/* xsk.c: the device, its XDP program, maps and AF_XDP socket */
int rdsx_dev_open(struct rdsx_state *x, struct rdsb_engine *e, const char *dev);
void rdsx_dev_close(struct rdsx_state *x);
/* A TX buffer for len bytes, or NULL when the ring is full. */
uint8_t *rdsx_tx_buf(struct rdsx_state *x, uint64_t *addr);
void rdsx_tx_put(struct rdsx_state *x, uint64_t addr, uint32_t len);
void rdsx_tx_kick(struct rdsx_state *x);
/* Calls fn for each received frame, then recycles the buffers. */
unsigned int rdsx_rx_batch(struct rdsx_state *x, void (*fn)(struct rdsx_state *, const uint8_t *, uint32_t));
int rdsx_conn_map_set(struct rdsx_state *x, struct rdsx_conn_st *xc);
int rdsx_xsk_fd(struct rdsx_state *x);
/* The AF_XDP socket's own drop counts (XDP_STATISTICS; zeros before it exists). */
struct xdp_statistics;
void rdsx_xsk_stats(struct rdsx_state *x, struct xdp_statistics *st);
/* The XDP program's counters (enum rdsx_counter), summed over CPUs. */
void rdsx_prog_counters(struct rdsx_state *x, uint64_t out[RDSX_C_MAX]);

/* xpath.c: one path's frames */
void rdsx_xpath_init(struct rdsx_xpath *xp, struct rdsx_conn_st *xc, unsigned int index,
		     struct rdsx_path *map);
/* a record from the engine: queue its frames; false if the queue is full */
bool rdsx_xpath_room(const struct rdsx_xpath *xp, uint32_t len, uint32_t frag);
void rdsx_xpath_queue(struct rdsx_xpath *xp, const uint8_t *rec, uint32_t len, uint32_t frag);
/* acks from the map: free frames, publish acked bytes */
void rdsx_xpath_acked(struct rdsx_xpath *xp, uint64_t now);
/* frames due now (new within the window, or a retransmission) */
void rdsx_xpath_send(struct rdsx_state *x, struct rdsx_xpath *xp, uint64_t now, uint64_t *next);
/* a data frame from the peer */
void rdsx_xpath_rx(struct rdsx_state *x, struct rdsx_xpath *xp, const struct rds_header *h,
		   const uint8_t *payload, uint32_t len);
void rdsx_xpath_rx_drain(struct rdsx_xpath *xp);
uint8_t rdsx_xpath_credit(const struct rdsx_xpath *xp);
void rdsx_xpath_restart_tx(struct rdsx_xpath *xp);
void rdsx_xpath_free(struct rdsx_xpath *xp);
/* the frame fields we put on anything we send on this path */
void rdsx_xpath_fields(struct rdsx_xpath *xp, uint32_t frame, struct rdsx_fields *f);

/* xdp.c: send one frame (rds_header + fragment) on a path */
bool rdsx_send_frame(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     const uint8_t *rds, uint32_t len);

/* Counters of the userspace side, for status and the log: written by the
 * transport thread, read by the engine's (relaxed atomics). The rx_dup,
 * rx_out_of_window and rx_bad_record frames are dropped. */
#define RDSX_STATS(X)	X(tx_frames) X(rx_frames) X(retransmits) X(fast_retransmits) X(acks_sent) \
			X(rx_reordered) X(rx_dup) X(rx_out_of_window) X(rx_bad_record)
struct rdsx_stats {
#define RDSX_STAT_FIELD(name) uint64_t name;
	RDSX_STATS(RDSX_STAT_FIELD)
#undef RDSX_STAT_FIELD
};
extern struct rdsx_stats rdsx_stats;
#define rdsx_count(field) __atomic_fetch_add(&rdsx_stats.field, 1, __ATOMIC_RELAXED)

#endif
