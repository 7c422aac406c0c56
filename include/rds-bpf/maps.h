/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the engine, the socket library and the BPF programs share: the values
 * of the pinned maps (which `bpftool map dump` shows with these field names),
 * their pin names, the counters with their drop reasons, and the record the
 * engine hands to an application socket.
 */
#ifndef RDSB_MAPS_H
#define RDSB_MAPS_H

#include "wire.h"

/* Pins live in RDSB_PIN_ROOT/<netns inode>/ so several namespace hosts coexist. */
#define RDSB_PIN_ROOT		"/sys/fs/bpf/rds-bpf"
#define RDSB_MAP_ADDRS		"rdsb_addrs"
#define RDSB_MAP_CONG		"rdsb_cong"
#define RDSB_MAP_PATHS		"rdsb_paths"
#define RDSB_MAP_COUNTERS	"rdsb_counters"
/* The sockmap data path (transports/tcp/sockmap_rx.bpf.c) */
#define RDSB_MAP_PATHSK		"rdsb_pathsk"	/* path sockets: stream parser + verdict */
#define RDSB_MAP_RXPATH		"rdsb_rxpath"	/* per path socket receive state */
#define RDSB_MAP_RXACK		"rdsb_rxack"	/* and what it owes the engine */
#define RDSB_MAP_SOCKS		"rdsb_socks"	/* application delivery sockets */
#define RDSB_MAP_BOUND		"rdsb_bound"	/* bound ones: (slot, port) -> index */
#define RDSB_MAP_RCVQ		"rdsb_rcvq"	/* their receive-queue accounting */
#define RDSB_MAP_EVENTS		"rdsb_events"	/* ring: what the engine must act on */
/* The sk_msg send path (transports/tcp/skmsg_tx.bpf.c) */
#define RDSB_MAP_TXPATH		"rdsb_txpath"	/* per path: lock, sequence, stream offset */
#define RDSB_MAP_TXSK		"rdsb_txsk"	/* path sockets the library may send on */
#define RDSB_MAP_APPTX		"rdsb_apptx"	/* the applications' send sockets */
#define RDSB_MAP_TXSOCK		"rdsb_txsock"	/* their bound address slot and port */
#define RDSB_MAP_TXSEQ		"rdsb_txseq"	/* per path: sequence and stream offset (engine only) */
#define RDSB_MAP_TXCOPY		"rdsb_txcopy"	/* what applications sent, for the engine */
/* Acknowledgements and TCP state of path sockets (transports/tcp/sockops.bpf.c) */
#define RDSB_MAP_TCPPATH	"rdsb_tcppath"	/* per path socket, by entry */
#define RDSB_MAP_TCPSK		"rdsb_tcpsk"	/* socket storage: its entry */

/* Every address the engine knows (local or peer) has a slot; the slot index is
 * the index of its congestion map in rdsb_cong. */
#define RDSB_MAX_ADDRS		256
/* Path sockets with an rdsb_tcppath entry. */
#define RDSB_MAX_TCPPATHS	(RDSB_MAX_ADDRS * RDS_MPATH_WORKERS)
/* Application sockets the BPF data path can deliver to. */
#define RDSB_MAX_SOCKS		16384

enum rdsb_addr_kind {
	RDSB_ADDR_FREE = 0,
	RDSB_ADDR_LOCAL = 1,
	RDSB_ADDR_PEER = 2,
};

struct rdsb_addr {
	__u8	addr[16];	/* IPv6, or IPv4 v4-mapped (::ffff:a.b.c.d) */
	__u32	kind;		/* enum rdsb_addr_kind */
	__u32	scope_id;
	__u32	map_updates;	/* congestion map updates applied */
	__u32	congested_ports; /* bits set in the map, for operators */
};

/* One 8 KiB bitmap per address: port p is congested iff
 * rdsb_cong_test(bits, p) (rules.h: little-endian bit order, as on the wire). */
struct rdsb_cong_map {
	__u8	bits[RDS_CONG_MAP_BYTES];
};

enum rdsb_path_state {
	RDSB_PATH_DOWN = 0,
	RDSB_PATH_CONNECTING = 1,
	RDSB_PATH_DISCONNECTING = 2,
	RDSB_PATH_UP = 3,
	RDSB_PATH_RESETTING = 4,
	RDSB_PATH_ERROR = 5,
};

struct rdsb_path_key {
	__u8	laddr[16];
	__u8	faddr[16];
	__u32	path;
};

struct rdsb_path_info {
	__u32	state;		/* enum rdsb_path_state */
	__u32	npaths;		/* of the connection; 0 until the probe answered */
	__u64	next_tx_seq;
	__u64	next_rx_seq;
	__u64	tx_msgs;
	__u64	rx_msgs;
	__u64	tx_bytes;
	__u64	rx_bytes;
	__u64	unacked_msgs;
	__u64	reconnects;
	__u32	peer_gen;
	__u16	lport;		/* TCP ports of the path socket */
	__u16	fport;
};

/*
 * Receive state of one path socket, keyed by its socket cookie: the stream
 * verdict applies the duplicate rule with next_rx_seq and steers data for
 * (lslot, dport) to that application socket. The engine creates it before
 * the socket joins rdsb_pathsk, and reads next_rx_seq back when the path
 * goes down (it survives reconnects, as cp_next_rx_seq). The verdict also
 * writes next_rx_seq into the connection's rdsb_seqstate entry (ss, its
 * index; 0: none) as it delivers, as the userspace path does as it writes:
 * an engine killed right after a delivery leaves its successor the number
 * that drops the peer's retransmission of it, and one killed before leaves
 * the number that takes it.
 */
struct rdsb_rxpath {
	__u64	next_rx_seq;
	__u64	rx_msgs;
	__u64	rx_bytes;
	__u32	lslot;		/* rdsb_addrs slot of the local address */
	__u32	fslot;		/* and of the peer: its congestion map */
	__u32	path;
	__u32	ss;
	__u32	ack;		/* its rdsb_rxack entry */
	__u32	bad_len;	/* 1: the parser counted a length no kernel sends */
};

/*
 * rdsb_rxack (mmapable, by rdsb_rxpath.ack): what the verdict owes the
 * engine, so that the sequence state, and the delivery acknowledgements
 * read from it (docs/protocol.md 1.4), never pass a record that is in no
 * application's queue. inbox: numbered records of the path the verdict sent
 * the engine's inbox that the engine has not yet written or dropped; while
 * there are any, every record of the path goes there too, behind them, and
 * the engine, not the verdict, moves the sequence state as it writes them
 * (then takes them off the count). armed (RDSB_RXACK_*): the engine asks
 * for RDSB_EV_RXACK at the next record the verdict delivers after its last
 * acknowledgement (ack_sent); the verdict raises it at once (slot 1) for a
 * record marked RDS_FLAG_ACK_REQUIRED and at every RDSB_ACK_MSGS numbers
 * and RDSB_ACK_BYTES bytes past ack_sent, unless it is off (the peer reads
 * none).
 */
struct rdsb_rxack {
	__u64	inbox;
	__u64	ack_sent;
	__u32	armed;
	__u32	pad;
};
enum { RDSB_RXACK_OFF, RDSB_RXACK_RAISED, RDSB_RXACK_ARMED };
/* a delivery acknowledgement is due at once past so many records or bytes */
#define RDSB_ACK_MSGS		256u
#define RDSB_ACK_BYTES		(1024u << 10)

/*
 * The sk_msg send path: an application's sendmsg goes out on the path
 * socket itself, through the application's send socket (a TCP loopback
 * socket in rdsb_apptx) and the sk_msg program rdsb_txmsg, which checks the
 * record and redirects it into rdsb_txsk[fslot * RDS_MPATH_WORKERS + path].
 * Everything written on a path socket, by the engine or by an application,
 * is written under that path's lock (user/common/txlock.h: not in this
 * entry, in a memfd at the same index), so records never interleave and
 * sequence numbers rise on the wire. The entry, at the same index in the
 * mmap-ed rdsb_txpath, is shared by the engine and every library; the
 * next sequence number is not in it: rdsb_txmsg writes it into each record
 * from rdsb_txseq, which only the engine and the program see, and leaves
 * the number it gave in last_seq, which the sender reads under the lock.
 */
struct rdsb_txpath {
	__u32	open;		/* 1: applications may send on the path socket */
	__u32	lslot;		/* the connection's local address slot */
	__u32	npaths;		/* of the connection */
	__u32	epoch;		/* which socket of the path: one more per reconnect */
	__u32	reset;		/* 1: the stream is broken (a record cut short, or
				 * numbered and never written; a lock taken from
				 * its holder): the engine resets the path */
	__u32	numbered;	/* records rdsb_txmsg numbered: one more under a
				 * sender's sendmsg iff its record is a copy in
				 * rdsb_txcopy, whatever sendmsg returned */
	__u64	written;	/* stream bytes written on this socket */
	__u64	acked;		/* of those, acknowledged by TCP (engine's last look) */
	__u64	limit;		/* applications send while written - acked stays below */
	__u64	direct_msgs;	/* sent by applications */
	__u64	direct_bytes;
	__u32	corked;		/* 1: the last record went with MSG_MORE, for the
				 * waiter after it to push (or the engine's timer) */
	__u32	seq_gen;	/* one more when the path's numbers start again
				 * (the peer restarted): the sender's older copies go */
	__u64	charged;	/* what senders' records may have queued on the
				 * path socket, counted high (rdsb_tx_charge) */
	__u64	room;		/* senders push while charged stays below: what
				 * the socket could still queue at the engine's
				 * last look, on top of charged then */
	/* The sender's copy of its datagram (user/lib/copies.c), which it
	 * sends again to the next engine after a kill, with its number: */
	__u64	last_seq;	/* the number rdsb_txmsg gave the last record */
	__u64	acked_seq;	/* every number up to it acknowledged by TCP
				 * (the engine's, a pass late): its copy goes */
	__u64	acked_now;	/* of written, acknowledged by TCP at the last
				 * ack with an RTT sample (rdsb_sockops, at
				 * once): while it is short of written, a
				 * sender leaves its datagram to the engine,
				 * which writes many in one sendmsg */
	__u64	written_ns;	/* CLOCK_MONOTONIC of the last write on the
				 * path socket, a sender's or the engine's */
	__u32	rtt_min_us;	/* TCP's least round trip on the path (its
				 * handshake's when the engine opens the path,
				 * then rdsb_sockops' at each ack) */
	__u32	pad;
	__u64	busy_until_ns;	/* in the connection's first entry, as npaths:
				 * the engine wrote several applications'
				 * datagrams on it in one pass; until then
				 * senders hand theirs to it, to be written
				 * together */
};

/*
 * TCP state of a path socket, written by the sock_ops program rdsb_sockops
 * on every ack with an RTT sample, retransmission timeout and state change.
 * The engine owns the entry (cookie, ports, slots, path) and reads it
 * through mmap; while a sender short of send space waits for an
 * acknowledgement on the path it sets ack_wake, and the next ack raises
 * RDSB_EV_ACKED.
 */
struct rdsb_tcppath {
	__u64	cookie;		/* socket cookie of the path socket; 0 = free */
	__u32	lslot;		/* rdsb_addrs slots of the connection */
	__u32	fslot;
	__u32	path;
	__u16	lport;
	__u16	fport;
	__u32	state;		/* TCP state: 1 established, 7 close (as /proc/net/tcp) */
	__u32	ack_wake;	/* 1: raise RDSB_EV_ACKED on the next ack */
	__u32	srtt_us;
	__u32	snd_cwnd;
	__u32	total_retrans;
	__u32	rto_events;
	__u64	bytes_acked;	/* stream bytes the peer acknowledged */
	__u64	acks;		/* acks with an RTT sample */
	__u64	ack_events;	/* RDSB_EV_ACKED raised */
	__u32	delack_max_us;	/* the bound sock_ops gave its delayed acks
				 * (sockops.bpf.c delack_bound); 0: none */
	__u32	pad;
	__u64	acked_base;	/* bytes_acked when the path came up: stream
				 * offset 0, as rdsb_txpath counts */
};

/* rdsb_tcpsk: which entry a socket has (index + 1); 0 = one of the engine's
 * sockets without an entry yet (the listener, an accepted or connecting
 * socket before its path is up). */
struct rdsb_tcpsk {
	__u32	index;
	__u32	delack_max_us;	/* rdsb_tcppath's, kept here until the path is up */
};

/* The engine's half of a path's send side (rdsb_txseq, at rdsb_txpath's
 * index): the sequence number rdsb_txmsg gives the next record and the
 * stream offset after the last, advanced by the program for each record an
 * application sends and by the engine, under the path's lock, for its own. */
struct rdsb_txseq {
	__u64	next_tx_seq;
	__u64	written;
	__u32	epoch;		/* rdsb_txpath's */
	__u32	ss;		/* the connection's rdsb_seqstate entry (0: none),
				 * where rdsb_txmsg keeps next_tx_seq */
};

/* A send socket (by its TCP local port): the application socket's binding
 * and its index (rdsb_socks), which names its copy ring. */
struct rdsb_txsock {
	__u32	slot;
	__u32	port;
	__u32	idx;
	__u32	pad;
};

/*
 * The copy of a datagram an application sent on a path socket, which the
 * engine keeps until TCP acknowledges it: the payload is in the socket's
 * copy ring (RDSB_TXRING_BYTES of the socket's shared memory, after its
 * page; the library uses as much of it as the socket's sndbuf asks,
 * user/lib/txring.c), which the library writes before its sendmsg; the rest is this
 * entry of rdsb_txcopy, which rdsb_txmsg writes, so that the sequence
 * number, ports, length and stream offset are the ones on the wire. The
 * engine reads the ring lazily: on its own wakeups, on a timer, and when a
 * sender asks for it (RDSB_TXH_WAKE).
 */
#define RDSB_TXRING_BYTES	(1u << 24)
/* h_ack of a record on a send socket: path index | RDSB_TXH_WAKE | the
 * payload's position in the copy ring << 32; rdsb_txmsg clears it. */
#define RDSB_TXH_WAKE		0x80000000u
struct rdsb_txcopy {
	__u64	seq;
	__u64	end_off;	/* stream offset after its last byte */
	__u32	path;		/* rdsb_txpath index */
	__u32	epoch;		/* rdsb_txseq's, when it was sent */
	__u32	idx;		/* rdsb_txsock's: the socket */
	__u32	pos;		/* of the payload in the ring (modulo its size) */
	__u32	len;
	__u16	sport;
	__u16	dport;
};

/* An application socket: bound address slot and port. */
struct rdsb_sock_key {
	__u32	slot;
	__u32	port;
};

/*
 * Receive-queue accounting of an application socket for what BPF delivers
 * straight into it. The socket's queue is (engine-written + delivered -
 * consumed by the application); the engine sets limit to the value of
 * delivered at which that queue would pass the receive buffer, and the
 * verdict raises one RDSB_EV_RCVQ event when it does (rds_recv_rcvbuf_delta
 * sets the congestion bit there).
 */
struct rdsb_rcvq {
	__u64	delivered;	/* bytes, headers included */
	__u64	limit;
	__u32	sock_id;	/* the engine's socket id, for operators */
	__u32	armed;		/* 1: raise an event at limit */
	/* The hand-over of a socket bound during the rebind time: while
	 * RDSB_GATE_CLOSED is set, the verdict sends the socket's records to
	 * the engine (flagged RDSB_RX_GATED) and counts them in the low bits,
	 * by compare-and-swap; the engine opens the gate (0) by one
	 * compare-and-swap once it has written as many, so that records it
	 * was sent before the bind never come after the verdict's own. */
	__u64	gate;
	/* The socket's peer: 0 none yet; RDSB_PEER_ASKED once the verdict
	 * raised RDSB_EV_PEER for the first address slot it delivered from;
	 * that slot + 1 once the engine wrote it into the socket's page
	 * (rdsb_sock_shm.rx_peer), where the library reads it. From then on
	 * the verdict delivers that peer's records as they came, without
	 * writing the slot into them (rdsb_deliv_hdr). Set once per socket. */
	__u32	peer;
	__u32	pad;
};
#define RDSB_PEER_ASKED		0xffffffffU
#define RDSB_GATE_CLOSED	(1ULL << 63)
#define RDSB_RX_GATED		0x40	/* h_flags of an inbox record: counted in the gate */

enum rdsb_event_kind {
	RDSB_EV_CONG_MAP = 1,	/* a peer's congestion map was applied: slot */
	RDSB_EV_RCVQ = 2,	/* a socket's queue passed its limit: index */
	RDSB_EV_ACKED = 3,	/* TCP acknowledged more on a path: rdsb_tcppath index */
	RDSB_EV_PEER = 4,	/* a socket's first delivery came from a peer: slot, index */
	RDSB_EV_RXACK = 5,	/* a path delivered (rdsb_rxack): index; slot 1: ack at once */
};

struct rdsb_event {
	__u32	kind;
	__u32	slot;		/* address slot */
	__u32	index;		/* socket index */
	__u32	pad;
};

/* Counters, named for `rds-bpf status`; the drop reasons are numbered so BPF
 * and userspace count into the same slots. */
#define RDSB_COUNTERS(X)						\
	X(TX_MSGS,		"tx_msgs")				\
	X(RX_MSGS,		"rx_msgs")				\
	X(RX_DELIVERED,		"rx_delivered")				\
	X(TX_RETRANSMITTED,	"tx_retransmitted")			\
	X(RX_CONG_MAPS,		"rx_cong_maps")				\
	X(TX_CONG_MAPS,		"tx_cong_maps")				\
	X(PINGS_ANSWERED,	"pings_answered")			\
	X(PROBES,		"probes")				\
	X(PATH_UP,		"path_up")				\
	X(PATH_DOWN,		"path_down")				\
	X(ACCEPT_RESET_LARGER,	"accept_reset_larger_peer")		\
	X(DROP_DUP_SEQ,		"drop_dup_seq")				\
	X(DROP_NO_SOCKET,	"drop_no_socket")			\
	X(DROP_BAD_LEN,		"drop_bad_len")				\
	X(DROP_BAD_CONG_MAP,	"drop_bad_cong_map")			\
	X(DROP_LOCAL_PEER,	"drop_local_peer")			\
	X(DROP_CANCELLED,	"drop_cancelled")			\
	X(DROP_SOCKET_CLOSED,	"drop_socket_closed")			\
	X(DROP_FLUSHED_GEN,	"drop_flushed_gen")			\
	X(DROP_BAD_APP_RECORD,	"drop_bad_app_record")			\
	X(CONG_SET,		"cong_set")				\
	X(CONG_CLEAR,		"cong_clear")				\
	X(BPF_RX_TO_ENGINE,	"bpf_rx_to_engine")			\
	X(BPF_DROP_SHORT,	"bpf_drop_short_record")		\
	X(BPF_DROP_REDIRECT,	"bpf_drop_redirect_failed")		\
	X(BPF_OUTBOX_SKBS,	"bpf_outbox_skbs")			\
	X(BPF_EVENTS_LOST,	"bpf_events_lost")				\
	X(DROP_NO_PATH,		"drop_no_path")				\
	X(ACCEPT_PARKED,	"accept_parked")			\
	X(ACCEPT_RESET_NO_PATH,	"accept_reset_no_path")		\
	X(TX_DIRECT,		"tx_direct")				\
	X(TX_DROP_BAD_RECORD,	"tx_drop_bad_record")			\
	X(TX_DROP_SPORT,	"tx_drop_wrong_sport")			\
	X(TX_DROP_CLOSED,	"tx_drop_path_closed")			\
	X(TX_DROP_NO_COPY,	"tx_drop_copies_full")			\
	X(TX_DROP_CONG,		"tx_drop_congested")			\
	X(TX_LOCK_STOLEN,	"tx_lock_stolen")				\
	X(ACK_EVENTS,		"ack_events")				\
	X(DROP_NO_CONN,		"drop_no_connection")			\
	X(TX_CONN_FULL,		"tx_conn_full")				\
	X(TX_RESUBMITTED,	"tx_resubmitted")			\
	X(TX_RESENT_NUMBERED,	"tx_resent_numbered")			\
	X(TX_RESENT_ACKED,	"tx_resent_acked")				\
	X(BPF_RX_NAMED,		"bpf_rx_named")				\
	X(TX_DELIV_ACKS,	"tx_deliv_acks")			\
	X(RX_DELIV_ACKS,	"rx_deliv_acks")			\
	X(DROP_BAD_DELIV_ACK,	"drop_bad_deliv_ack")			\
	X(DROP_STRANDED,	"drop_stranded")				\
	X(RX_HELD_UNSAVED,	"rx_held_unsaved")			\
	X(CONG_COPY_RESYNCED,	"cong_copy_resynced")			\
	X(BPF_RX_RUNS,		"bpf_rx_runs")				\
	X(BPF_RX_IN_RUNS,	"bpf_rx_in_runs")				\
	X(TX_IN_RING,		"tx_in_ring")					\
	X(TX_QUEUED,		"tx_queued")					\
	X(TX_QUEUE_KICKS,	"tx_queue_kicks")

enum rdsb_counter {
#define RDSB_COUNTER_ENUM(id, name) RDSB_C_##id,
	RDSB_COUNTERS(RDSB_COUNTER_ENUM)
#undef RDSB_COUNTER_ENUM
	RDSB_C_MAX
};

/*
 * What an application socket reads from its delivery stream: one record per
 * datagram, [48-byte header][payload]. The engine writes the header as
 * struct rdsb_deliv_hdr: the fields its transport decoded from the wire, in
 * host order, for the library to read as they are. The sockmap verdict
 * (load --bpf) delivers the wire header; the library decodes that one. A
 * record of the socket's peer (rdsb_rcvq.peer) comes as it came: the sender
 * is the peer the socket's page names (rdsb_sock_shm.rx_peer). Into any
 * other the verdict writes the slot (rdsb_addrs index) of the sender's
 * address into h_ack (the wire header has no address) and sets
 * RDSB_DELIV_SLOT; so it does into a peer's record that has RDSB_DELIV_SLOT
 * or RDSB_DELIV_NOTIFY set, or RDSB_DELIV_DECODED in h_ack, as it came. A
 * write costs: the record is a clone of the TCP segment, and to make it
 * writable the kernel copies the segment from its start to the written
 * bytes (a verdict of 1 us for 64 B records, 4 us for 4 KiB, against
 * 0.2-0.3 us without). The eight bytes at
 * h_ack's place tell the two kinds apart: RDSB_DELIV_DECODED is never a slot
 * and never a peer's h_ack. Flag RDSB_DELIV_NOTIFY marks a congestion
 * notification (no payload; the sequence holds the RDS_CMSG_CONG_UPDATE
 * mask). The engine clears that bit on every datagram from the wire, so a
 * peer cannot forge a notification.
 */
#define RDSB_DELIV_NOTIFY	0x80
#define RDSB_DELIV_SLOT		0x40	/* a wire header whose h_ack holds the sender's slot */
#define RDSB_DELIV_DECODED	0xffffffffffffffffULL
struct rdsb_deliv_hdr {
	__u64	seq;		/* h_sequence; a notification's mask */
	__u64	decoded;	/* RDSB_DELIV_DECODED, where the wire has h_ack */
	__u32	len;		/* payload bytes */
	__u16	sport;
	__u16	dport;
	__u8	flags;
	__u8	pad[3];
	__u32	slot;		/* the sender's address slot */
	__u32	peer_gen;	/* the sending engine's generation number; 0: not known */
	__u8	reserved[12];	/* the wire header's size */
};
_Static_assert(sizeof(struct rdsb_deliv_hdr) == RDS_HEADER_SIZE, "a delivery header is a wire header's size");
/* The most records one write of the engine puts into a stream. A record
 * counts as received (the sequence state, the held log) once its write
 * took it: the records of an engine's last write may come again from the
 * next engine, and the library drops those it read from the stream before. */
#define RDSB_DELIV_BATCH	64

/*
 * What an application socket writes to its delivery stream to send: one
 * record per datagram, [struct rdsb_send_req][len bytes]. The sport is not in
 * it: the engine uses the port the socket is bound to.
 */
#define RDSB_SEND_MAGIC		0x52445331	/* "RDS1" */
struct rdsb_send_req {
	__u32	magic;
	__u32	len;
	__u8	daddr[16];
	__u32	scope_id;
	__u16	dport;		/* host order */
	__u8	flags;		/* RDSB_REQ_RESENT */
	__u8	path;		/* resent: the path its sequence number is of */
	__u64	seq;		/* resent: the sequence number it had, or 0 */
	/* RDSB_REQ_INRING: the payload is not in the stream but in the
	 * socket's copy ring at ring_at (modulo its size, never wrapping),
	 * placed when the ring's head was at ring_start */
	__u32	ring_start;
	__u32	ring_at;
};
/* A datagram the library sends again to the next engine: the engine before
 * took it and went (killed) before the peer acknowledged it. With seq, the
 * engine before had numbered it: it goes out with that number, marked
 * retransmitted, so that a peer which has it drops it (rds_recv_incoming). */
#define RDSB_REQ_RESENT		0x01
/* A request whose payload the library left in the socket's copy ring (a
 * payload of RDSB_TXRING_MIN or more that fits, while the ring holds no copy
 * of a direct send the engine has not read): the engine sends it from there and reads no copy of it; the
 * library writes that part of the ring again only once the engine released
 * it (rdsb_sock_shm copy_released), after the peer acknowledged it. */
#define RDSB_REQ_INRING		0x02
#define RDSB_TXRING_MIN		4096
/* The request queue's marker: the queue's rest, up to its end, holds
 * nothing, the next request is at its start (RDSB_REQQ_OFF) */
#define RDSB_REQ_SKIP		0x04
/* On the stream, a header alone (len 0): the library queued a request while
 * the engine was going to sleep on the socket's queue; it wakes the engine,
 * which reads the queue (rdsb_sock_shm rq_armed) */
#define RDSB_REQ_KICK		0x08

/*
 * Where the engine numbered each request of a socket (the socket's shared
 * memory, RDSB_SEQTAB_OFF): slot req % RDSB_SEQTAB_N holds req + 1 and the
 * sequence number with the path's index in its top byte. The library keeps
 * a copy of every request until the engine says it is acknowledged
 * (rdsb_sock_shm reqs_acked), and never more than RDSB_SEQTAB_N of them, so
 * that after a kill the slot of each copy still names it.
 */
#define RDSB_SEQTAB_N		16384
#define RDSB_SEQTAB_OFF		(4096 + RDSB_TXRING_BYTES)
#define RDSB_SEQTAB_BYTES	(RDSB_SEQTAB_N * 16)
#define RDSB_SEQ_PATH_SHIFT	56

/*
 * The socket's request queue (the socket's shared memory, RDSB_REQQ_OFF):
 * requests the library hands the engine without a system call, each an
 * rdsb_send_req and, unless in the copy ring (RDSB_REQ_INRING), its payload
 * of less than RDSB_TXRING_MIN bytes, padded to 8; none wraps (a request
 * that would starts at the queue's start, after an RDSB_REQ_SKIP header
 * where one fits). The library writes from rdsb_sock_shm rq_tail under its
 * write lock, the engine reads up to it and moves rq_head on.
 */
#define RDSB_REQQ_OFF		(RDSB_SEQTAB_OFF + RDSB_SEQTAB_BYTES)
#define RDSB_REQQ_BYTES		(256u << 10)
struct rdsb_seq_slot {
	__u64	req;		/* request number + 1; 0: none */
	__u64	seq;		/* path << RDSB_SEQ_PATH_SHIFT | sequence number */
};

/*
 * rdsb_seqstate (pinned, mmapable): what a connection's sequence spaces
 * are, kept as they move, so that an engine started after one that was
 * killed (or stopped with bound sockets) goes on with the same generation
 * number and numbers, and its peers see a reconnect, not a restart.
 * Entry 0 holds the engine's generation number and multipath hash seed;
 * the others are connections (in_use), found by their addresses.
 */
struct rdsb_seq_path {
	__u64	next_tx_seq;
	__u64	acked_seq;	/* every message up to it acknowledged */
	__u64	next_rx_seq;
};
struct rdsb_seqstate {
	__u8	laddr[16], faddr[16];
	__u32	in_use;
	__u32	npaths;
	__u32	peer_gen;
	__u32	gen_num;	/* entry 0 */
	__u32	hash_initval;	/* entry 0 */
	__u32	peer_sport_idx;	/* the peer sent SPORT_IDX: its lanes name their paths */
	__u32	peer_deliv;	/* the peer's RDSB_EXTHDR_DELIV byte (wire.h) */
	__u32	own_deliv;	/* ours, as the peer last heard it */
	struct rdsb_seq_path path[RDS_MPATH_WORKERS];
};
#define RDSB_SEQSTATE_N		(RDSB_MAX_ADDRS + 1)

/*
 * rdsb_ownseq (pinned, mmapable, kept for the next engine as rdsb_seqstate
 * is, entry for entry): per path, the last RDSB_OWNSEQ_N numbers the engine
 * gave messages of its own (probes, pongs), at index seq % RDSB_OWNSEQ_N.
 * No library sends those back after a kill: the next engine's resend window
 * does not wait for them (user/engine/seqstate.c).
 */
#define RDSB_OWNSEQ_N		4
struct rdsb_ownseq {
	__u64	seq[RDS_MPATH_WORKERS][RDSB_OWNSEQ_N];
};

/*
 * rdsb_ports (pinned, mmapable): the (address, port) each socket of the
 * engine bound, with the process that holds it, kept as sockets bind and
 * close, so that an engine started after one that was killed (or stopped
 * with bound sockets) holds what arrives for those ports until the socket
 * comes back, or its process is gone (user/engine/ports.c). start tells a
 * reused pid apart: the process's start time, in clock ticks after boot
 * (field 22 of /proc/PID/stat).
 */
struct rdsb_port_owner {
	__u8	addr[16];
	__u32	scope_id;
	__u16	port;
	__u16	in_use;
	__u32	pid;
	__u32	rcvbuf;		/* payload bytes (SO_RCVBUF / 2) */
	__u64	start;
	__u32	uid;		/* the owner's: only its user's sockets take the port */
	__u32	pad;
};
#define RDSB_PORTS_N		4096

/*
 * rdsb_heldlog (pinned, mmapable): the records held for a port of
 * rdsb_ports whose socket is not back yet, which the peer was told are
 * delivered (user/engine/heldlog.c). A ring of records after a header of
 * RDSB_HELDLOG_HDR bytes: head and tail are byte offsets that only grow
 * (a record is at offset % the ring's size), a record is [struct
 * rdsb_heldrec][len bytes] rounded up to 8, whole (one that does not fit
 * before the ring's end leaves RDSB_HELDREC_WRAP there and starts at 0).
 */
#define RDSB_HELDLOG_PAGES	2048	/* 8 MiB */
#define RDSB_HELDLOG_HDR	64
struct rdsb_heldlog_page {
	__u8	bytes[4096];
};
struct rdsb_heldlog_hdr {
	__u64	head;		/* where the next record goes */
	__u64	tail;		/* the first that may be live */
};
enum rdsb_heldrec_state {
	RDSB_HELDREC_LIVE = 1,		/* held: the next engine delivers it */
	RDSB_HELDREC_WRITING_OLD = 2,	/* an older engine's: in a write (taken for gone) */
	RDSB_HELDREC_GONE = 3,		/* in a stream, or dropped */
	RDSB_HELDREC_WRAP = 4,		/* the rest of the ring is unused */
};
#define RDSB_HELDREC_NO_PATH	0xff	/* received with no sequence state */
#define RDSB_HELDREC_LOOPBACK	0xfe	/* from a socket of this host */
struct rdsb_heldrec {
	__u32	state;
	__u32	len;		/* payload bytes */
	__u8	laddr[16];	/* the held port's address */
	__u8	faddr[16];	/* the sender's */
	__u32	scope_id;
	__u32	peer_gen;	/* the connection's rdsb_seqstate peer_gen then */
	__u64	seq;
	__u16	sport, dport;
	__u8	flags;
	__u8	path;		/* its index, or RDSB_HELDREC_NO_PATH, _LOOPBACK */
	__u8	pad[2];
};

#endif /* RDSB_MAPS_H */
