/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rds-bpf's own RDS_INFO records: what the kernel's RDS_INFO family has no
 * record for. They work like RDS_INFO_*: getsockopt(fd, SOL_RDS, name, buf,
 * &len) on any RDS socket fills buf with packed items and returns the item
 * size; a buffer too small gives ENOSPC with len set to the bytes needed.
 * Addresses are 16 bytes, IPv4 as v4-mapped (::ffff:a.b.c.d).
 */
#ifndef RDSB_INFO_H
#define RDSB_INFO_H

#include "maps.h"

#define RDSB_INFO_FIRST		10100
#define RDSB_INFO_PATHS		10100	/* struct rdsb_info_path: each path in use */
#define RDSB_INFO_PORT_PATHS	10101	/* struct rdsb_info_port_path: bound port x connection */
#define RDSB_INFO_CONG_PORTS	10102	/* struct rdsb_info_cong_port: each congested port */
#define RDSB_INFO_LAST		10102

/* The values of the pinned rdsb_paths map, key and value. */
struct rdsb_info_path {
	struct rdsb_path_key	key;
	struct rdsb_path_info	info;
};

/* The path a bound port's datagrams take on a connection from its address:
 * RDS_MPATH_HASH of the port over npaths (8 before the probe answered). */
struct rdsb_info_port_path {
	__u8	laddr[16];
	__u8	faddr[16];
	__u16	lport;
	__u16	path;
	__u32	npaths;		/* of the connection; 0 until the probe answered */
};

/* A port whose bit is set in a congestion map: of a local address (our
 * receiver is over its rcvbuf) or of a peer's (sending to it gives ENOBUFS). */
struct rdsb_info_cong_port {
	__u8	addr[16];
	__u32	kind;		/* enum rdsb_addr_kind: RDSB_ADDR_LOCAL or RDSB_ADDR_PEER */
	__u16	port;
	__u16	pad;
};

#endif /* RDSB_INFO_H */
