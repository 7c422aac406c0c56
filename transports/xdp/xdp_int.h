/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The XDP/AF_XDP transport's own state (docs/xdp-encap.md). It runs in the
 * engine's event loop: xmit fragments each message into numbered frames on
 * the AF_XDP socket, whose fd is the engine's (EV_TRANSPORT); frames from
 * the peer are put back in order and reassembled into messages for
 * rdsb_recv_msg; acks are read from the mmap-ed rdsx_paths map by the
 * timer op. The engine's path has an eventfd of ours as p->ev.fd, its
 * handle while it exists.
 */
#ifndef RDSX_XDP_INT_H
#define RDSX_XDP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "frame.h"
#include "../../user/engine/engine.h"

struct rdsb_engine;
struct ring_buffer;

#define RDSX_TXQ	4096		/* frames a path keeps until acked (power of 2) */
#define RDSX_RXQ	4096		/* out-of-order frames a path holds (power of 2) */
#define RDSX_RX_BUDGET	(8u << 20)	/* bytes a path may hold for the engine */
#define RDSX_RX_RING	2048		/* AF_XDP fill and RX ring: frames in flight to us */
#define RDSX_RING_SLACK	64		/* of it for frames outside the windows (new paths) */
/* until the peer says: 8 paths starting at once fit in its ring */
#define RDSX_INIT_CREDIT ((RDSX_RX_RING - RDSX_RING_SLACK) / RDS_MPATH_WORKERS / RDSX_CREDIT_FRAMES)
_Static_assert((RDSX_RX_RING - RDSX_RING_SLACK) / RDSX_CREDIT_FRAMES <= RDSX_CREDIT_MAX,
	       "a window we grant must be one the peer's XDP believes");
#define RDSX_DLQ	4096		/* complete messages waiting for the engine */
#define RDSX_FRAG_MAX	3584		/* a frame must fit one 4 KiB umem frame */

struct rdsx_conn_st;

struct rdsx_txf {
	uint8_t *buf;			/* rds_header + fragment */
	uint32_t len;
};

/* A frame of ours kept in the umem until acked, built when its message was
 * sent: numbered, acked and checksummed again each time it goes out. */
struct rdsx_kept {
	uint64_t addr;
	uint32_t len;			/* after the UDP header: rds_header + fragment */
	uint32_t frag_sum;		/* the fragment's (rdsx_copy_sum) */
};

/* A message reassembled, waiting for the engine to take it. */
struct rdsx_rxm {
	struct rdsb_hdr h;
	struct rdsb_msg *m;		/* its h.len bytes in it (rdsb_msg_new) */
};

struct rdsx_xpath {
	struct rdsx_conn_st *xc;
	unsigned int index;
	struct rdsx_path *map;		/* mmap-ed rdsx_paths entry: acked, credit */
	struct rdsb_path *p;		/* the engine's, while it has the connection */
	bool touched;			/* on the list of paths a receive batch reached */
	bool core_waits;		/* for acks (ack_wait): a sender is short of send space */
	bool window_waits;		/* messages wait for the peer's window */

	/* TX: frames tx_acked+1 .. tx_next-1 are kept, up to tx_sent-1 sent. */
	uint16_t tx_epoch;
	uint32_t tx_next, tx_sent, tx_acked;
	uint64_t tx_queued, tx_freed;	/* frames ever queued, ever acked: the ack key */
	struct rdsx_kept txq[RDSX_TXQ];
	uint64_t rto, rto_at;		/* ns */
	uint32_t dup_seen, fast_rexmit_at;

	/* RX */
	uint16_t rx_epoch;		/* 0 = nothing received yet */
	uint32_t rx_next;
	struct rdsx_txf rxq[RDSX_RXQ];	/* out-of-order frames by number */
	uint64_t rx_held;		/* bytes in rxq, the message, and deliver */
	struct rds_header rec_hdr;	/* the message being reassembled */
	struct rdsb_msg *rec;		/* its payload so far, as the engine takes it */
	uint32_t rec_len, rec_have;
	bool in_rec;
	struct rdsx_rxm *deliver;	/* complete messages for the engine (ring) */
	uint32_t dl_head, dl_tail;
	bool delivering;
	bool ack_due;
	uint8_t last_credit;		/* last advertised */
};

struct rdsx_conn_st {
	struct rdsx_conn_st *hnext;	/* hash chain */
	struct rdsb_conn *c;		/* the engine's, NULL before it has one */
	uint8_t laddr[16], faddr[16];
	bool v6;
	uint32_t index;
	uint32_t frag;			/* fragment payload per frame */
	uint8_t fmac[6];
	bool have_mac;
	uint64_t mac_retry_at;
	bool refused;			/* the engine would not have it (a local address) */
	struct rdsx_xpath paths[RDS_MPATH_WORKERS];

	/* Congestion map: what we send (from the engine's messages), when. */
	uint8_t cong[RDS_CONG_MAP_BYTES];
	bool cong_have;
	uint64_t cong_ver;
	unsigned int cong_sends;
	uint64_t cong_at;
	bool cong_rx;			/* the peer's map changed: tell the engine */
};

#define RDSX_CONN_HASH	(RDSX_MAX_CONNS * 2)	/* buckets (power of 2) */

struct rdsx_state {
	struct rdsb_engine *e;
	int ifindex;
	char ifname[16];	/* IFNAMSIZ */
	bool skb_mode;		/* --mode skb */
	bool mode_set;		/* --mode given: no fallback from native */
	bool veth;		/* the device's driver: skb mode unless --mode native */
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
	uint8_t *fstate;		/* per umem frame: in the TX ring, kept */
	struct rdsb_ev xsk_ev;		/* the socket's fd in the engine's epoll */
	struct ring_buffer *wake_rb;	/* rdsx_wake: XDP saw an ack we wait for */
	struct rdsb_ev wake_ev;

	struct rdsx_conn_st *conns[RDSX_MAX_CONNS];	/* by index (the rdsx_paths rows) */
	struct rdsx_conn_st *hash[RDSX_CONN_HASH];	/* by addresses */
	unsigned int nconns;
	/* paths a receive batch reached: acks and deliveries after it */
	struct rdsx_xpath *touched[RDSX_MAX_CONNS * RDS_MPATH_WORKERS];
	unsigned int ntouched;
	int probe_fd;			/* UDP socket that makes the kernel resolve a neighbour */
};

/* xsk.c: the device, its XDP program, maps and AF_XDP socket */
int rdsx_dev_open(struct rdsx_state *x, struct rdsb_engine *e, const char *dev);
void rdsx_dev_close(struct rdsx_state *x);
/* A TX buffer, or NULL when there is none free. */
uint8_t *rdsx_tx_buf(struct rdsx_state *x, uint64_t *addr);
uint8_t *rdsx_tx_data(struct rdsx_state *x, uint64_t addr);
/* onto the TX ring; false when it is full (the buffer stays the caller's) */
bool rdsx_tx_put(struct rdsx_state *x, uint64_t addr, uint32_t len);
void rdsx_tx_release(struct rdsx_state *x, uint64_t addr);	/* never put */
/* A kept buffer is not free when the kernel has sent it, but when unkept. */
void rdsx_tx_keep(struct rdsx_state *x, uint64_t addr);
void rdsx_tx_unkeep(struct rdsx_state *x, uint64_t addr);
bool rdsx_tx_in_ring(struct rdsx_state *x, uint64_t addr);
uint32_t rdsx_tx_room(struct rdsx_state *x);	/* free buffers */
#define RDSX_TX_RESERVE	256	/* of them for acks, maps and retransmissions only */
void rdsx_tx_kick(struct rdsx_state *x);
/* Calls fn for each received frame, then recycles the buffers. */
unsigned int rdsx_rx_batch(struct rdsx_state *x, void (*fn)(struct rdsx_state *, const uint8_t *, uint32_t));
/* XDP learns the connection: its rdsx_paths rows, the peer's congestion map */
int rdsx_conn_map_set(struct rdsx_state *x, struct rdsx_conn_st *xc, int fslot);
int rdsx_xsk_fd(struct rdsx_state *x);
int rdsx_wake_fd(struct rdsx_state *x);		/* readable: an ack we wait for came */
void rdsx_wake_drain(struct rdsx_state *x);
/* The AF_XDP socket's own drop counts (XDP_STATISTICS; zeros before it exists). */
struct xdp_statistics;
void rdsx_xsk_stats(struct rdsx_state *x, struct xdp_statistics *st);
/* The XDP program's counters (enum rdsx_counter), summed over CPUs. */
void rdsx_prog_counters(struct rdsx_state *x, uint64_t out[RDSX_C_MAX]);

/* xpath.c: one path's frames */
void rdsx_xpath_init(struct rdsx_xpath *xp, struct rdsx_conn_st *xc, unsigned int index,
		     struct rdsx_path *map);
/* room in the peer's window for another frame (a probe when it is closed) */
bool rdsx_xpath_window_open(const struct rdsx_xpath *xp);
/* build and keep one frame of a message (its header, fragment) for sending;
 * false when the queue or the umem is full (force: the umem's reserve too) */
bool rdsx_xpath_queue(struct rdsx_state *x, struct rdsx_xpath *xp, const struct rds_header *h,
		      const uint8_t *frag, uint32_t len, bool force);
/* acks from the map: free frames */
void rdsx_xpath_acked(struct rdsx_state *x, struct rdsx_xpath *xp, uint64_t now);
/* frames due now (new within the window, or a retransmission), an ack */
void rdsx_xpath_send(struct rdsx_state *x, struct rdsx_xpath *xp, uint64_t now, uint64_t *next);
static inline bool rdsx_xpath_in_flight(const struct rdsx_xpath *xp)
{
	return xp->tx_sent != xp->tx_acked + 1;
}
/* a data frame from the peer */
void rdsx_xpath_rx(struct rdsx_state *x, struct rdsx_xpath *xp, const struct rds_header *h,
		   const uint8_t *payload, uint32_t len);
/* the engine took messages: reassemble what waited, announce an opened window */
void rdsx_xpath_rx_taken(struct rdsx_xpath *xp);
void rdsx_xpath_restart_tx(struct rdsx_xpath *xp);
void rdsx_xpath_free(struct rdsx_xpath *xp);
/* the frame fields we put on anything we send on this path */
void rdsx_xpath_fields(struct rdsx_xpath *xp, uint32_t frame, struct rdsx_fields *f);

/* xdp.c: a frame of len bytes after the UDP header in a TX buffer, its
 * headers written: the caller writes those bytes at the pointer returned
 * (NULL: no buffer, or the peer's MAC is not known yet), the fragment after
 * the rds_header with rdsx_copy_sum, then sends it with that sum */
uint8_t *rdsx_frame_start(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
			  uint32_t len, uint64_t *addr);
bool rdsx_frame_send(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     uint64_t addr, uint32_t len, uint32_t frag_sum);
/* send one frame (rds_header + fragment) on a path */
bool rdsx_send_frame(struct rdsx_state *x, struct rdsx_conn_st *xc, unsigned int path,
		     const uint8_t *rds, uint32_t len);

/* Counters of the userspace side, for status and the log. The rx_dup,
 * rx_out_of_window and rx_bad_record frames are dropped. */
#define RDSX_STATS(X)	X(tx_frames) X(rx_frames) X(retransmits) X(fast_retransmits) X(acks_sent) \
			X(rx_reordered) X(rx_dup) X(rx_out_of_window) X(rx_bad_record)
struct rdsx_stats {
#define RDSX_STAT_FIELD(name) uint64_t name;
	RDSX_STATS(RDSX_STAT_FIELD)
#undef RDSX_STAT_FIELD
};
extern struct rdsx_stats rdsx_stats;
#define rdsx_count(field) (rdsx_stats.field++)

#endif
