/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The RDS wire format, exactly as the kernel's net/rds/rds.h puts it on the
 * wire. Shared by BPF programs and userspace, so it uses only fixed-width
 * types and no libc. All multi-byte fields are big-endian.
 */
#ifndef RDSB_WIRE_H
#define RDSB_WIRE_H

#ifdef __bpf__
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#else
#include <stdint.h>
#include <linux/types.h>
#endif

#define RDS_HEADER_EXT_SPACE	16

struct rds_header {
	__be64	h_sequence;
	__be64	h_ack;
	__be32	h_len;		/* payload bytes, header excluded */
	__be16	h_sport;
	__be16	h_dport;
	__u8	h_flags;
	__u8	h_credit;
	__u8	h_padding[4];
	__sum16	h_csum;
	__u8	h_exthdr[RDS_HEADER_EXT_SPACE];
} __attribute__((packed));

#define RDS_HEADER_SIZE		48

#define RDS_FLAG_CONG_BITMAP	0x01
#define RDS_FLAG_ACK_REQUIRED	0x02
#define RDS_FLAG_RETRANSMITTED	0x04
#define RDS_FLAG_EXTHDR_EXTENSION 0x20
/* rds-bpf's own, between two rds-bpf engines only (docs/protocol.md 1.4):
 * an unnumbered record whose 8-byte payload is a delivery acknowledgement */
#define RDSB_FLAG_DELIV_ACK	0x08

#define RDS_FLAG_PROBE_PORT	1	/* a reserved sport, not a flag bit */
#define RDS_HS_PROBE(sport, dport) \
	(((sport) == RDS_FLAG_PROBE_PORT && (dport) == 0) || \
	 ((sport) == 0 && (dport) == RDS_FLAG_PROBE_PORT))

#define RDS_FRAG_SIZE		4096
#define RDS_MAX_MSG_SIZE	(1U << 20)
#define RDS_CONG_MAP_BYTES	(65536 / 8)
#define RDS_MPATH_WORKERS	8
#define RDS_TCP_PORT		16385

/* Extension header types and their fixed sizes (message.c rds_exthdr_size[]). */
#define RDS_EXTHDR_NONE		0
#define RDS_EXTHDR_VERSION	1
#define RDS_EXTHDR_RDMA		2
#define RDS_EXTHDR_RDMA_DEST	3
#define RDS_EXTHDR_RDMA_BYTES	4
#define RDS_EXTHDR_NPATHS	5
#define RDS_EXTHDR_GEN_NUM	6
#define RDS_EXTHDR_SPORT_IDX	8
#define __RDS_EXTHDR_MAX	16
/* rds-bpf's own, last in a probe: a type of 16 or more ends the kernel's
 * walk (rds_message_next_extension), so no kernel reads it. One data byte:
 * RDSB_DELIV_* below. */
#define RDSB_EXTHDR_DELIV	0xd0
#define RDSB_DELIV_SENDS_ACKS	0x01	/* I acknowledge what I delivered */
#define RDSB_DELIV_READS_ACKS	0x02	/* I keep my sends until you do */
#define RDSB_DELIV_LANES_NAMED	0x04	/* I pair a lane above my path count with
					 * the path its client port names */

#endif /* RDSB_WIRE_H */
