/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The RDS/IB transport (net/rds/ib*.c, rdma_transport.c) on rdma-core:
 * RDMA-CM connections (ib_cm.c) and the data path on an RC queue pair
 * (ib_ring.c). One path per connection: IB is not multipath.
 */
#ifndef RDSB_IB_H
#define RDSB_IB_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include "../../user/engine/engine.h"
#include "ib_wire.h"

#define RDS_IB_PORT		18634	/* RDS_PORT: IPv4 peers */
#define RDS_IB_PORT6		16385	/* RDS_CM_PORT: IPv6 peers */
#define RDS_IB_RESOLVE_MS	5000	/* RDS_RDMA_RESOLVE_TIMEOUT_MS */
/* A connect that neither completes nor fails in this time is given up and
 * retried: a peer whose id went away mid-handshake may never answer. */
#define RDS_IB_CONNECT_NS	(15 * 1000 * 1000 * 1000ull)
/* Four times the kernel's RDS_IB_DEFAULT_RECV_WR (1024). The kernel refills
 * its ring from the receive tasklet, ahead of every task; the engine is a
 * task, scheduled beside the applications and rxe's workers, and a ring it
 * has not refilled in time makes the responder send RNR NAKs. A kernel
 * peer connects with retry count 1 and runs without credits: on soft-RoCE
 * the NAK for the packets behind the RNR one costs a retry, and its queue
 * pair fails within two rounds (docs/protocol.md, 4.2). */
#define RDS_IB_RECV_WR		4096
#define RDS_IB_SEND_WR		256	/* RDS_IB_DEFAULT_SEND_WR */
#define RDS_IB_BUF		(RDS_HEADER_SIZE + RDS_IB_FRAG)
#define RDS_IB_MAX_UNACKED	8	/* max_unacked_packets: ACK_REQUIRED every 9th */

/* The engine's: the CM event channel and the listeners. */
struct rdsb_ib {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen4, *listen6;
	struct rdsb_ev ev;		/* the event channel's fd */
	uint64_t bad_csum, bad_frame, bad_credit, rejected, raced, flow_controlled;
	uint64_t rx_credit_updates, tx_credit_updates;	/* frames with h_credit, as the kernel's stats */
};

/* A connection's one path: its queue pair and rings (per connection: it
 * survives reconnects, as the acknowledged sequence must). */
struct ib_conn {
	struct rdma_cm_id *cm;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	/* kept across reconnects on one device (ib_ring.c ring_memory) */
	struct ibv_context *verbs;	/* the device they are on */
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	uint8_t *bufs;			/* RECV_WR receive buffers, then SEND_WR send buffers */
	bool established;
	uint64_t connect_at;		/* ns: the connect or accept started */
	uint8_t major, minor;		/* the protocol agreed */
	unsigned int cq_events;		/* got, not yet acked */

	/* send ring: slots are posted at tail and complete in order (RC) */
	unsigned int send_tail, send_used;
	unsigned int since_ack_req;	/* messages since the last ACK_REQUIRED */
	bool ack_requested;		/* the peer asked for an ack */
	bool ack_in_flight;		/* an ack-only frame is posted */
	uint64_t ack_next;		/* h_ack: the last message received here (i_ack_next) */
	uint64_t ack_sent;		/* the h_ack we last sent */
	uint64_t peer_acked;		/* the highest h_ack received */
	struct ib_credits cr;		/* flow control */

	/* the message being reassembled */
	struct ib_reasm rx;
	struct rdsb_msg *rx_msg;	/* its payload so far, as the engine takes it */
};

static inline struct rdsb_ib *ib_of(struct rdsb_engine *e)
{
	return e->tp_priv;
}

static inline struct ib_conn *ib_conn(struct rdsb_path *p)
{
	return p->conn->t_data;
}

/* ib_ring.c */
/* An acknowledgement from the peer (h_ack, or its CM data's ack_seq). */
void ib_peer_acks(struct rdsb_path *p, uint64_t ack);
/* The peer's credit in its CM data: flow control on when it is not 0. */
bool ib_ring_peer_credit(struct rdsb_path *p, uint32_t credit);
int ib_ring_setup(struct rdsb_engine *e, struct rdsb_path *p, struct rdma_cm_id *id);
void ib_ring_free(struct rdsb_path *p);
/* The connection's registered buffers and protection domain go: the
 * connection is freed, or their device was removed. */
void ib_ring_release(struct ib_conn *ic);
void ib_recv_path(struct rdsb_engine *e, struct rdsb_path *p);
int ib_xmit(struct rdsb_engine *e, struct rdsb_path *p);

/* ib_cm.c */
extern const struct rdsb_transport rdsb_ib_transport;

#endif
