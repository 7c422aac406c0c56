/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The control channel between the socket library (or a tool) and the engine
 * of the same network namespace: an abstract AF_UNIX SOCK_SEQPACKET socket,
 * so it is netns-scoped by the kernel. One request, one reply. An RDS socket
 * is one control connection (OPEN first) plus the delivery stream whose
 * application end comes back with the OPEN reply (SCM_RIGHTS).
 */
#ifndef RDSB_CTL_PROTO_H
#define RDSB_CTL_PROTO_H

#include <stdint.h>
#include <stddef.h>
#include "../../include/rds-bpf/maps.h"

#define RDSB_CTL_NAME		"rds-bpf/engine"	/* abstract: leading NUL */
/*
 * What a library and an engine share besides this channel: the send requests
 * and the delivery stream's records, the socket's page (rdsb_sock_shm and the
 * library's part of it), its copy ring and sequence table (rds-bpf/maps.h).
 * A library and an engine of two builds could read each other's bytes
 * wrongly, and a datagram would go out or arrive changed: OPEN and ATTACH
 * carry this number both ways, and each side refuses another
 * (EPROTONOSUPPORT). Bump it with any change to those layouts; the sizes
 * checked at the end of this file catch a change that forgot to.
 */
#define RDSB_ABI		8

enum rdsb_ctl_op {
	RDSB_CTL_OPEN = 1,	/* reply fds: delivery stream, shared page, rdsb_addrs,
				 * rdsb_cong, send-space eventfd and, on the sk_msg
				 * send path, the send socket, rdsb_txpath and the
				 * paths' locks (txlock.h);
				 * arg = the engine's transport (RDS_TRANS_*) */
	RDSB_CTL_BIND,		/* addr, scope_id, port (0 = ephemeral) -> port,
				 * arg = the transport the socket is bound on */
	RDSB_CTL_SET_BUF,	/* arg 0 = sndbuf, 1 = rcvbuf; val = payload bytes */
	RDSB_CTL_CANCEL_SENT_TO, /* addr, port */
	RDSB_CTL_CONG_MONITOR,	/* val: mask bits to watch (ENOBUFS seen) */
	RDSB_CTL_STATUS,	/* reply payload: text, arg 1 = JSON */
	RDSB_CTL_UNLOAD,	/* engine drains and exits */
	RDSB_CTL_LOCAL_ADDR,	/* addr, scope_id: is it local? (err = 0 or EADDRNOTAVAIL) */
	RDSB_CTL_INFO,		/* arg = RDS_INFO_* optname, val = buffer size -> items,
				 * rep.arg = item size, rep.val = bytes of all items */
	RDSB_CTL_ATTACH,	/* on a new control connection, from another process
				 * holding the socket (SCM_RIGHTS, exec): val = inode of
				 * its delivery-stream fd -> the OPEN reply's fds without
				 * the sk_msg ones, and the socket's library page if it
				 * moved here (RDSB_CTL_LIB_PAGE), or ENOENT (no such
				 * socket here); the connection is then one more of that
				 * socket's */
	RDSB_CTL_HOLD,		/* the socket's fd is in flight (SCM_RIGHTS, exec): the
				 * socket outlives its control connections for
				 * RDSB_HOLD_SECONDS, for its next holder to ATTACH */
	RDSB_CTL_CONNECT,	/* addr, scope_id: a first send to an address with no
				 * slot: the engine makes its connection now (err 0),
				 * or the table is full (ENOMEM, as the kernel's
				 * rds_conn_create_outgoing) */
	RDSB_CTL_STREAM_END,	/* arg = rx_index of the socket's page on an engine
				 * that was killed, val = the socket cookie of its
				 * delivery stream -> val = 1 + the bytes that engine's
				 * verdict delivered into it (its rdsb_rcvq, which this
				 * engine holds), or ENOENT (not known here) */
	RDSB_CTL_LIB_PAGE,	/* a socket opened on an engine before, as it moves to
				 * this one: its fd (SCM_RIGHTS) is the memfd whose page
				 * holds the library's part of the socket (its locks,
				 * state and count of requests), which every process
				 * holding the socket shares; the ATTACH reply hands it
				 * on as a sixth fd, or EINVAL (not a page) */
};

struct rdsb_ctl_req {
	uint32_t op;
	uint32_t arg;
	uint8_t addr[16];
	uint32_t scope_id;
	uint16_t port;
	uint16_t abi;		/* OPEN and ATTACH: RDSB_ABI */
	uint64_t val;
};

/* RDSB_CTL_BIND's val: the socket chose the transport (SO_RDS_TRANSPORT);
 * the library binds again, on a new engine, a socket that was bound */
#define RDSB_BIND_CHOSEN	1
#define RDSB_BIND_AGAIN		2

struct rdsb_ctl_rep {
	int32_t err;		/* 0 or a positive errno */
	uint32_t arg;
	uint16_t port;
	uint16_t abi;		/* the engine's RDSB_ABI, in every reply */
	uint32_t len;		/* bytes of text that follow */
	uint64_t val;
};

#define RDSB_CTL_MAX_REPLY	(256 * 1024)

/* librdsb: a connection to this namespace's engine, or -1 (errno EAGAIN:
 * it did not take the connection within rdsb_ctl_timeout_ms). */
int rdsb_engine_connect(void);
/* How long a control request waits for the engine, in ms: its connection
 * and its reply (0: as long as it takes). Applications wait, as a call
 * blocked in the kernel waits; the command line bounds it (rds-bpf
 * --timeout), so that an engine that took the connection and never answers
 * (stopped, stuck) fails the command with ETIMEDOUT. */
extern int rdsb_ctl_timeout_ms;
#define RDSB_HOLD_SECONDS	60
/* `rds-bpf unload` (and SIGTERM): the engine sends what applications wrote
 * and waits for the peers' acknowledgements at most this long */
#define RDSB_DRAIN_MS		3000
/* A started engine holds datagrams for ports nobody bound (the path waits)
 * this long, in which the sockets of the engine before it come back
 * (the library looks for an engine every RDSB_ENGINE_RETRY_MS) */
#define RDSB_REBIND_MS		2000

/*
 * Per-socket state shared by engine and library through a memfd: the send
 * accounting. The library adds a message's payload bytes before handing it to
 * the engine; the engine subtracts them when TCP has acknowledged the message
 * (or it was dropped), bumps release_seq and wakes waiters with FUTEX_WAKE.
 */
struct rdsb_sock_shm {
	uint64_t snd_bytes;
	uint32_t release_seq;	/* futex word */
	uint32_t waiters;
	uint64_t rx_consumed;	/* delivery-stream bytes the application read */
	/* The sk_msg send path: a socket sends on a path socket itself only
	 * once the engine has written (or dropped) every request it handed the
	 * engine before, so that its datagrams stay in order. */
	uint64_t reqs_done;
	uint32_t path_hash;	/* RDS_MPATH_HASH of the bound port over 8 paths */
	uint32_t slot;		/* rdsb_addrs slot of the bound address */
	/* Writability (the kernel's rds_poll: POLLOUT while snd_bytes < sndbuf):
	 * while poll_waiters is not 0, the engine signals the socket's send-space
	 * eventfd on every release, and a poll waiting for POLLOUT wakes. */
	uint32_t poll_waiters;
	/* rds_cong_generation as this socket sees it: bumped on every
	 * congestion map update (rds_poll's POLLIN|POLLWRBAND once per update). */
	uint32_t cong_gen;
	/* The copy ring (RDSB_TXRING_BYTES after this page): where the engine
	 * has read the copies of direct sends up to (the sk_msg send path), or
	 * the ring's head before the first request still unacknowledged
	 * (RDSB_REQ_INRING); it only moves on. The library writes a payload
	 * there only while it fits below copy_released + the ring's size. */
	uint32_t copy_released;
	/* Where the next payload goes in the ring (the library's, under its
	 * write lock): in the engine's page, so that every process of the
	 * socket places after the others, and each engine's ring starts
	 * empty. */
	uint32_t ring_head;
	/* The ring holds payloads of one kind at a time: requests' (INRING) and
	 * the copies of direct sends are released by different rules (at the
	 * peer's acknowledgement; when the engine reads the copy), so the
	 * library places one kind only after the engine released every one of
	 * the other, up to where its last ended (the library's, under its
	 * write lock). */
	uint32_t ring_inring_end;
	uint32_t ring_direct_end;
	/* The engine closed this socket (a malformed request) while it runs:
	 * the control connection's hang-up then does not mean the engine went,
	 * and the library takes the socket to no engine. */
	uint32_t closed;
	/* The engine drains (unload): it takes no new send, and the library
	 * finds it gone (the control connection hung up first) and waits for
	 * the next one; what it wrote before is read, sent and acknowledged. */
	uint32_t stopping;
	/* Requests this engine took that are acknowledged by the peer or
	 * dropped, all of them up to this count (in the socket's order): the
	 * library's copies of them may go (user/lib/copies.c). */
	uint64_t reqs_acked;
	/* The BPF receive path: the address slot + 1 of the socket's peer, set
	 * once (rdsb_rcvq.peer), whose records come without their sender's
	 * slot in them (rds-bpf/maps.h, rdsb_deliv_hdr); 0: none. */
	uint32_t rx_peer;
	/* The BPF receive path: 1 + the socket's index in rdsb_socks and
	 * rdsb_rcvq (RDSB_CTL_STREAM_END); 0: none. */
	uint32_t rx_index;
	/* Set by an engine that stops: 1 + the bytes it put into the socket's
	 * delivery stream in all (its writes and the verdict's redirects), so
	 * that the library reads the stream to that end before the next
	 * engine's, however late the kernel moves the last of it (the psock's
	 * backlog); 0 while it runs. After a kill, the library that moves the
	 * socket to the next engine sets it from that engine's answer
	 * (RDSB_CTL_STREAM_END) and rx_written. */
	uint64_t rx_end;
	/* The bytes of the engine's own writes into the stream, at most:
	 * raised to what a write may take before it, set to what it took
	 * after. With what the verdict delivered (RDSB_CTL_STREAM_END), the
	 * length of a killed engine's stream. */
	uint64_t rx_written;
	/* The request queue (rds-bpf/maps.h, RDSB_REQQ_OFF, user/lib/reqq.c):
	 * the library queues a request there behind every request the engine
	 * took from the stream (reqs_taken: requests taken from either); one
	 * the queue does not take goes on the stream once the engine took
	 * every queued one (rq_head at rq_tail). The engine reads the queue on
	 * each pass; before it sleeps it sets rq_armed and looks once more,
	 * and the sender that queues next clears it and writes an
	 * RDSB_REQ_KICK on the stream, which wakes the engine. */
	uint32_t rq_head;	/* the engine's */
	uint32_t rq_tail;	/* the library's, under its write lock */
	uint32_t rq_armed;
	uint32_t rq_pad;
	uint64_t reqs_taken;
};

/* A change to any of these is a change of RDSB_ABI */
_Static_assert(sizeof(struct rdsb_ctl_req) == 40 && sizeof(struct rdsb_ctl_rep) == 24 &&
	       sizeof(struct rdsb_sock_shm) == 128 && sizeof(struct rdsb_send_req) == 48 &&
	       sizeof(struct rdsb_deliv_hdr) == 48 && sizeof(struct rdsb_txcopy) == 40 &&
	       sizeof(struct rdsb_txpath) == 136 &&
	       RDSB_TXRING_BYTES == 1u << 24 && RDSB_SEQTAB_OFF == 4096 + (1u << 24) && RDSB_SEQTAB_BYTES == 16 * 16384 &&
	       RDSB_REQQ_OFF == RDSB_SEQTAB_OFF + 16 * 16384 && RDSB_REQQ_BYTES == 256u << 10,
	       "a layout the library and the engine share changed: bump RDSB_ABI and these sizes");

#endif
