/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What RDS/IB puts on the wire besides the RDS header (net/rds/ib.h,
 * ib_cm.c, rds.h): the CM private data, the passive side's version rule,
 * and the header checksum. No verbs here: the unit tests use it alone.
 */
#ifndef RDSB_IB_WIRE_H
#define RDSB_IB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../../user/common/wire.h"

#define RDS_IB_SUPPORTED_PROTOCOLS 0x0003
#define RDS_RDMA_REJ_INCOMPAT	1
#define RDS_IB_PROTO(maj, min)	(((maj) << 8) | (min))
#define RDS_IB_PROTO_3_1	RDS_IB_PROTO(3, 1)
#define RDS_IB_PROTO_4_0	RDS_IB_PROTO(4, 0)
#define RDS_IB_FRAG		4096	/* RDS_FRAG_SIZE */

/* struct rds_ib_conn_priv_cmn and rds_ib_connect_private (ib.h): natural
 * alignment, not packed, so 32 bytes on the wire for IPv4, 56 for IPv6. */
struct rds_ib_conn_priv_cmn {
	uint8_t major, minor;
	uint16_t minor_mask;	/* be */
	uint8_t tos, reserved1;
	uint16_t reserved2;
	uint64_t ack_seq;	/* be */
	uint32_t credit;	/* be */
};
struct rds_ib_connect_private {
	uint32_t saddr, daddr;
	struct rds_ib_conn_priv_cmn cmn;
};
struct rds6_ib_connect_private {
	uint8_t saddr[16], daddr[16];
	struct rds_ib_conn_priv_cmn cmn;
};

/* Our private data (a connect's or an accept's) for laddr -> faddr, the
 * protocol, the last sequence received and the receive credits posted;
 * returns its length. out holds a struct rds6_ib_connect_private. */
size_t ib_private_fill(void *out, const uint8_t laddr[16], const uint8_t faddr[16], unsigned int proto,
		       uint64_t ack_seq, uint32_t credit);
/* The common part of a peer's private data into *cmn, false if it is too
 * short. Copied: the data may sit at any alignment. */
bool ib_private_cmn(const void *data, size_t len, bool v6, struct rds_ib_conn_priv_cmn *cmn);
/* rds_ib_protocol_compatible: the version the passive side takes, 0 = reject. */
unsigned int ib_protocol_compatible(const void *data, size_t len, bool v6);
/* ip_fast_csum of a 48-byte header: 0 when its h_csum is right. */
uint16_t ib_csum(const void *hdr);

/* RDS/IB flow control (ib_send.c, ib_recv.c): send credits are receive
 * buffers the peer posted for us; posted credits are buffers we posted and
 * have not yet advertised. On when both sides' CM data carried credits. */
#define RDS_IB_MAX_CREDIT	0xffff	/* the kernel keeps send credits in 16 bits */
#define RDS_MAX_ADV_CREDIT	255	/* h_credit is one byte */
#define RDS_IB_CREDIT_UPDATE	16	/* posted credits worth an ack of their own */
struct ib_credits {
	bool on;		/* i_flowctl: sends wait for send credits */
	bool adv;		/* posted credits are advertised: on, or the
				 * peer's h_credit says its flow control is */
	uint32_t send, posted;
};
/* rds_ib_send_grab_credits: up to wanted send credits (all of them when
 * flow control is off), keeping the last one for a credit update while
 * nothing is posted; *adv gets the posted credits to advertise with them
 * (at most RDS_MAX_ADV_CREDIT, only when c->adv), taken when any send
 * credit was, or when need_posted. */
uint32_t ib_credits_grab(struct ib_credits *c, uint32_t wanted, uint32_t *adv, bool need_posted);
/* h_credit or the CM data's credit received: false if the send credits
 * would pass RDS_IB_MAX_CREDIT (a peer that cannot have that many posted). */
bool ib_credits_add(struct ib_credits *c, uint32_t n);
/* rds_ib_advertise_credits: n more receives posted; true when enough wait
 * to be advertised that an ack-only frame should carry them. Counted even
 * while not advertised, so that a peer turning out to count credits gets
 * every buffer it used back. */
bool ib_credits_posted(struct ib_credits *c, uint32_t n);

/* The message being reassembled from its fragments (rds_ib_process_recv):
 * every fragment repeats the first one's header. */
struct ib_reasm {
	struct rdsb_hdr h;	/* the message's header */
	uint32_t have;		/* payload bytes received so far */
	bool busy;		/* a message is under way */
};

/* What a received frame is: >= 0 a frame to take, < 0 one that breaks the
 * rules, after which the connection is reset without reading on. */
enum ib_frame {
	IB_FRAME_ACK = 0,	/* ack-only: its h_ack alone counts */
	IB_FRAME_FRAG,		/* a fragment; more of the message follow */
	IB_FRAME_LAST,		/* the message's last fragment */
	IB_BAD_SHORT = -1,	/* shorter than a header */
	IB_BAD_CSUM = -2,	/* h_csum set and wrong */
	IB_BAD_LEN = -3,	/* an h_len RDS does not allow */
	IB_BAD_FRAG = -4,	/* a fragment of another message, or of the wrong length */
};

/* One received frame of len bytes (header, then payload) against r: h gets
 * its header; for a fragment the payload (len - RDS_HEADER_SIZE bytes)
 * belongs at offset r->have as it was before the call, and r moves on. */
int ib_frame_parse(struct ib_reasm *r, const void *buf, size_t len, struct rdsb_hdr *h);
/* A negative verdict in words, for the log. */
const char *ib_frame_why(int verdict);

#endif
