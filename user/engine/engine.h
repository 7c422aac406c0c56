/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The per-netns engine: one event loop that owns every path socket of every
 * connection, the application sockets' queues, and the congestion maps. The
 * vocabulary is net/rds's: a connection is a (local, peer) address pair, with
 * up to RDS_MPATH_WORKERS paths, each its own TCP socket and sequence space.
 */
#ifndef RDSB_ENGINE_H
#define RDSB_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <rds-bpf/maps.h>

struct bpf_object;
#include "../common/hash.h"
#include "../common/list.h"
#include "../common/wire.h"

struct rdsb_engine;
struct rdsb_conn;
struct rdsb_sock;

/* What each epoll registration points at. */
/* EV_TRANSPORT: an fd of the transport's own (listener, event ring, ...),
 * handed to its event op. */
enum rdsb_ev_kind { EV_CTL_LISTEN, EV_CTL, EV_SOCK_CTL, EV_SOCK_ATTACHED, EV_SOCK_DATA, EV_PATH, EV_TRANSPORT };
struct rdsb_ev {
	enum rdsb_ev_kind kind;
	int fd;
	uint32_t events;	/* currently registered */
};

/* A datagram on its way: on a connection's pending list, a path's send or
 * unacked queue, or a socket's delivery queue. */
struct rdsb_msg {
	struct list_head item;
	uint32_t sock_id;	/* owner, for sndbuf accounting; 0 = none */
	uint16_t sport, dport;
	uint8_t flags;		/* RDS_FLAG_* put on the wire */
	bool cong_map;		/* never retransmitted */
	bool deliv_ack;		/* a delivery acknowledgement: unnumbered, never retransmitted */
	bool own;		/* the engine's own numbered message (a probe, a pong) */
	bool req_pending;	/* from a send request: not yet written or dropped */
	bool ack_wake;		/* its sender was past half its sndbuf: free it at the ack */
	bool space_back;	/* its sender's send space is given back (rdsb_msg_space_back) */
	bool data_inline;	/* data is allocated with it (rdsb_msg_new), not apart */
	/* data is in a socket's copy ring (sock.c, RDSB_REQ_INRING), which
	 * the message holds mapped */
	struct rdsb_txring *ring;
	uint32_t ring_pos;	/* the library's ring head before its request */
	uint64_t seq;
	uint32_t len;
	uint64_t end_off;	/* the transport's ack key, once sent: acked when
				 * acked() reaches it (TCP: the stream offset after
				 * its last byte) */
	uint8_t ext[RDS_HEADER_EXT_SPACE];
	struct rdsb_conn *tx_conn;	/* counted in its tx_queued (send.c: CONN_TX_MAX) */
	uint64_t from_slot;	/* delivery: the sender's address slot */
	uint32_t peer_gen;	/* delivery: the sender's generation number (0: not known) */
	/* Received on a path whose duplicate rule is the engine's, and in no
	 * stream yet: on rx_path's rx_unwritten, in the order accepted;
	 * rx_sock, the socket whose queue holds it (NULL: stalled or held) */
	struct rdsb_path *rx_path;
	struct list_head rx_item;
	struct rdsb_sock *rx_sock;
	/* From a socket's request: its number (the socket's order) and its
	 * place on the socket's list of requests not yet acknowledged
	 * (tx_sock set while on it) */
	uint64_t req;
	struct list_head sock_item;
	struct rdsb_sock *tx_sock;
	/* Held for a port of the engine before, and in its log too
	 * (heldlog.c): held_log set, its record at held_at; held_slot: the
	 * log's own reference to from_slot (a record the engine before held) */
	struct rdsb_heldlog *held_log;
	uint64_t held_at;
	bool held_slot;
	union {
		struct rds_header wire;		/* encoded when it starts on the wire */
		struct rdsb_deliv_hdr deliv;	/* or on a delivery stream (sock.c) */
	};
	uint8_t *data;
};

struct rdsb_path {
	struct rdsb_conn *conn;
	unsigned int index;
	struct rdsb_ev ev;	/* ev.fd = -1 when there is no socket */
	enum rdsb_path_state state;
	bool outgoing;		/* we connected it */
	bool poke;		/* a larger-address connect the peer will reset */
	uint16_t lport, fport;
	void *t_data;		/* the transport's own per-path state (conn_alloc) */
	/* the transport counted what it received and applied the duplicate
	 * rule before handing it up (the TCP transport's sockmap verdict) */
	bool rx_prechecked;

	/* TX: one writer, whole messages only. */
	struct list_head send_q;	/* head may be partly sent */
	struct list_head unacked;	/* sent, waiting for the peer's ack */
	/* the last of unacked whose sender's space came back, the ones
	 * before it too; NULL: look from the head (rdsb_path_check_acked) */
	struct rdsb_msg *space_last;
	size_t head_off;		/* bytes of the head already sent */
	uint64_t next_tx_seq;
	bool cong_map_queued;
	unsigned int nunacked;
	/* the peer acknowledged delivery of every number up to it (a peer
	 * that sends RDSB_DELIV_SENDS_ACKS: unacked keeps what TCP
	 * acknowledged until then, docs/protocol.md 1.4) */
	uint64_t deliv_acked;
	/* the last record marked RDS_FLAG_ACK_REQUIRED (send.c: one at a time) */
	uint64_t ack_req_seq;
	/* A message of a sender short of send space is unacked here: each ack
	 * wakes the engine (the transport's ack_wait), not only the next pass. */
	bool ack_wake;
	/* queued to in this event batch, written at its end (e->tx_due) */
	struct list_head tx_due;
	uint64_t due_bytes;

	/* RX */
	__u64 next_rx_seq;		/* survives reconnects; __u64 for rdsb_seq_accept() */
	struct rdsb_msg *rx_stalled;	/* complete, waiting for room in its socket */
	struct list_head rx_wait;	/* stalled: on that socket's list; on
					 * e->rx_ready once it has room */
	/* Our delivery acknowledgements to a peer that reads them: the last
	 * number sent, whether one is queued, when one is due (ns, 0 = none),
	 * rx_bytes when the last went, and the highest number the peer asked
	 * one for (RDS_FLAG_ACK_REQUIRED; 0 = none not yet covered); on a
	 * path whose records the transport delivers itself, whether the core
	 * looks at ack_at for more (ack_poll) rather than wait to be told */
	uint64_t ack_sent, ack_at, ack_rx_bytes, ack_asked;
	bool ack_queued, ack_poll;
	struct list_head ack_due;	/* on e->ack_due: it delivered in this batch */
	/* What it accepted and no stream has whole yet (rdsb_msg.rx_item),
	 * and the number of the first of them (next_rx_seq if none):
	 * everything before it is in a stream or dropped. The sequence
	 * state keeps it (its next_rx_seq) for the engine after a kill. */
	struct list_head rx_unwritten;
	uint64_t rx_safe_next;
	/* rx_prechecked: the number after the last record the transport
	 * passed up (its own next_rx_seq is ahead: records it delivered) */
	uint64_t rx_up_next;

	/* Teardown, as rds_conn_path_drop: rdsb_path_drop marks the path
	 * (RDSB_PATH_ERROR) and queues it on e->dropped; rdsb_paths_shutdown
	 * shuts it down after the event batch, when no call chain is inside it. */
	const char *drop_why;		/* marked; NULL = not */
	bool drop_drain;		/* it was up: read what TCP acknowledged first */
	bool drop_reset;		/* the stream is malformed: reset, read no more */
	struct list_head drop_item;

	/* Reconnect backoff, as rds_queue_reconnect. */
	uint64_t reconnect_at;		/* ns, 0 = none */
	uint64_t reconnect_delay;	/* ns */
	uint64_t reconnects;

	uint64_t tx_msgs, rx_msgs, tx_bytes, rx_bytes;

	/* A restarted engine (seqstate.c): the numbers in (resend_lo,
	 * next_tx_seq) were sent unacknowledged by the engine before (those
	 * up to resend_lo acknowledged); until resend_until (ns) or until
	 * resend_left of them came back from the library, the path sends
	 * nothing, so that it sends in order. */
	uint64_t resend_lo, resend_left, resend_until;
};

struct rdsb_conn {
	struct list_head item;
	struct rdsb_engine *eng;
	uint8_t laddr[16], faddr[16];
	uint32_t scope_id;
	int lslot, fslot;		/* address slots (congestion maps) */
	bool loopback;			/* destination is local: no wire */
	unsigned int npaths;		/* 0: no handshake yet */
	bool npaths_guessed;		/* one path for want of a pong (conn.c): the
					 * peer's lanes wait for its count, they do not
					 * replace path 0 (tcp.c accept_slot) */
	bool peer_sport_idx;		/* peer sent SPORT_IDX (2026 kernels) */
	bool peer_lanes_named;		/* it pairs our lane above its path count with
					 * the path our port names (RDSB_DELIV_LANES_NAMED) */
	/* Delivery acknowledgements (RDSB_EXTHDR_DELIV of both ends): the
	 * peer sends them and we read them (unacked keeps what TCP
	 * acknowledged until they come), we send them and the peer reads them */
	bool deliv_hold, deliv_send;
	bool tell_peer;			/* a restart changed what we announce: probe at path 0's up */
	uint32_t peer_gen;
	unsigned int ping_tries;
	uint64_t ping_at;		/* ns: (re)send the probe ping then */
	struct list_head pending;	/* waiting for the handshake to pick a path */
	bool moving;			/* the path count changed under messages still
					 * queued or unacked: new ones wait in pending
					 * until those are acked (conn.c, set_npaths) */
	void *t_data;			/* the transport's own per-connection state */
	uint64_t idle_since;		/* ns: no path up, nothing queued (conn.c: conn_idle) */
	uint64_t tx_queued;		/* bytes of sends held, messages and payloads */
	unsigned int tx_waiters;	/* sockets held on it (rdsb_sock.tx_held_on) */
	struct rdsb_hnode hnode;	/* in e->conns_by_addr */
	struct rdsb_seqstate *ss;	/* its entry in rdsb_seqstate, or NULL */
	struct rdsb_path paths[RDS_MPATH_WORKERS];
};

/* A control connection of another process holding a socket (ATTACH). */
struct rdsb_sock_ctl {
	struct list_head item;
	struct rdsb_ev ev;
	struct rdsb_sock *s;
};

struct rdsb_sock {
	struct list_head item;
	struct rdsb_engine *eng;
	uint32_t id;
	struct rdsb_hnode id_node;	/* in e->socks_by_id until closed */
	struct rdsb_hnode port_node;	/* in e->socks_by_port while bound */
	struct rdsb_ev ctl;		/* control connection (fd -1: its process closed it) */
	struct list_head attached;	/* rdsb_sock_ctl: other processes' (ATTACH) */
	uint64_t hold_until;		/* ns: RDSB_CTL_HOLD, outlive the control connections */
	struct rdsb_ev data;		/* engine end of the delivery stream */
	int app_fd;			/* application end, kept for the transport */
	uint64_t app_ino;		/* its inode: how another process names the socket */
	void *t_data;			/* the transport's own per-socket state */
	struct rdsb_sock_shm *shm;
	int shm_fd;
	/* A socket that moved here: the memfd of its library page (from the
	 * engine it was opened on), which an ATTACH reply hands on; else -1,
	 * the library's part being in shm_fd's page (RDSB_CTL_LIB_PAGE) */
	int lib_fd;
	int space_fd;			/* eventfd: send space released (shm poll_waiters) */
	bool bound;
	uint8_t addr[16];
	uint32_t scope_id;
	uint16_t port;
	int slot;
	uint32_t rcvbuf;		/* payload bytes: SO_RCVBUF / 2 */
	/* The process that opened it here (SO_PEERCRED, and its start time),
	 * and its entry in rdsb_ports while bound (NULL: the table is full) */
	uint32_t pid, uid;
	uint64_t pid_start;
	struct rdsb_port_owner *owner;
	uint32_t sndbuf;		/* payload bytes: SO_SNDBUF / 2, as the library counts */
	/* Payload of its send requests not yet acknowledged or dropped, as the
	 * engine counts it (the library's count is the application's to
	 * write): past twice sndbuf, more than the library ever lets out, the
	 * engine stops reading the socket's requests. */
	uint64_t tx_bytes;
	uint64_t cong_monitor;		/* RDS_CONG_MONITOR mask to report */
	/* Requests read (the next one's number), and the messages of those not
	 * yet acknowledged or dropped, in that order (rdsb_msg.sock_item):
	 * the first one's number is shm->reqs_acked. seqtab: where each was
	 * numbered, for the library to send it again after a kill. */
	uint64_t reqs_read;
	struct list_head tx_reqs;
	struct rdsb_seq_slot *seqtab;

	/* From the application: [rdsb_send_req][len]. */
	struct rdsb_send_req req;
	size_t req_have;
	struct rdsb_msg *req_msg;	/* the payload is read into its data */
	size_t req_data_have;
	bool req_large;		/* the last was large: read the next header alone (sock.c) */
	struct rdsb_txring *ring;	/* mapped at its first RDSB_REQ_INRING */
	uint32_t ring_read;		/* the ring's head after the last of them */
	/* The request queue (rds-bpf/maps.h, RDSB_REQQ_OFF), read-only here;
	 * rq_head the engine's own, published in shm; on e->rq_active while
	 * the engine reads it each pass (rq_armed clear) */
	const uint8_t *reqq;
	uint32_t rq_head;
	struct list_head rq_active;

	/* To the application. */
	struct list_head rx_q;
	uint64_t rx_q_bytes;		/* queued here, not yet written */
	uint64_t rx_written;		/* written into the delivery stream */
	size_t rx_head_off;
	int stream_buf;			/* the engine end's SO_SNDBUF: grown to take rx_q, back once read */
	bool congested;
	bool out_capped;		/* the outbox took hard_limit: the timer writes the rest */
	/* Sent to a full connection: not read until it has room again, in
	 * the order held (on e->tx_held; tx_held_on NULL once that
	 * connection is freed) */
	bool tx_held;
	struct rdsb_conn *tx_held_on;
	/* The connection of its last send (the kernel's rs_conn): the next
	 * one to the same address takes it without a lookup; NULL once that
	 * connection is freed */
	struct rdsb_conn *conn;
	struct list_head tx_wait;
	bool rd_eof;			/* the engine drains: its stream is read to the end */
	uint8_t *held_rest;		/* what was read past that request, raw */
	size_t held_len;
	struct list_head stalled;	/* paths waiting for room here (p->rx_wait) */
	struct list_head rx_due;	/* delivered to in this event batch (e->rx_due) */
	struct list_head wake_due;	/* send space released for a waiter (e->wake_due) */
	bool closed;			/* freed after the current epoll batch */
};

/*
 * A transport, in the shape of the kernel's struct rds_transport: the core
 * reaches tcp and xdp only through these ops, and never looks inside their
 * state (e->tp_priv, c->t_data, p->t_data, s->t_data). It is message
 * oriented: xmit sends messages of a path's queue, recv_path hands each
 * message received to rdsb_recv_msg. A path may have a socket of the
 * transport's in p->ev (EV_PATH events: recv_path, xmit, connected). An op
 * a transport leaves NULL gets the default (transport.c), so the core
 * never tests for NULL.
 */
struct rdsb_engine_cfg;
/* An RDS_INFO answer being built (info.c): rdsb_info_put appends an item. */
struct rdsb_info_out {
	uint8_t *buf;
	size_t cap, len;	/* len counts everything, even past cap */
	bool six;		/* an RDS6_INFO_* request */
};
void rdsb_info_put(struct rdsb_info_out *o, const void *item, size_t size);
/* The v4 variants list IPv4 entries only; the RDS6 ones list all. */
bool rdsb_info_listed(const struct rdsb_info_out *o, const uint8_t addr[16]);
struct rdsb_tp_status {
	const char *data_path;		/* "userspace" or "bpf" */
	const char *ack_cgroup;		/* where acks come from BPF; "" = polled */
};
struct rdsb_transport_opt {
	const char *name;		/* rds-bpf load --NAME */
	const char *arg;		/* its argument's name; NULL: a flag */
};
struct rdsb_transport {
	const char *name;
	int trans_id;			/* SO_RDS_TRANSPORT value */
	bool cong_in_bpf;		/* peers' congestion maps are written by BPF */
	const struct rdsb_transport_opt *opts;	/* its load options, NULL name last */
	/* the options make sense together: else one line on stderr, -EINVAL */
	int (*check_opts)(const struct rdsb_engine_cfg *cfg);

	/* The engine: init after the core's maps (e->tp_priv is its state),
	 * listen once the engine serves, exit after every path is gone. */
	int (*init)(struct rdsb_engine *e, const struct rdsb_engine_cfg *cfg);
	int (*listen)(struct rdsb_engine *e);
	void (*exit)(struct rdsb_engine *e);
	void (*event)(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events);
	void (*timer)(struct rdsb_engine *e, uint64_t *next);

	/* Connections and paths. conn_path_connect opens p->ev.fd and leaves
	 * the path CONNECTING with EPOLLOUT wanted; conn_path_connected
	 * completes it (rdsb_path_up). conn_path_up/down: the path came up, or
	 * is going (its last bytes not read yet); conn_path_shutdown closes
	 * its socket. */
	int (*conn_alloc)(struct rdsb_engine *e, struct rdsb_conn *c);
	void (*conn_free)(struct rdsb_engine *e, struct rdsb_conn *c);
	int (*conn_path_connect)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*conn_path_connected)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*conn_path_up)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*conn_path_down)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*conn_path_shutdown)(struct rdsb_engine *e, struct rdsb_path *p, bool reset);
	/* the path count was decided or a path went down */
	void (*conn_paths_changed)(struct rdsb_engine *e, struct rdsb_conn *c);
	/* the path count is about to change under a connection that may have
	 * sent on the count before: whatever went out on its paths without
	 * the core (sk_msg sends) stops and joins the paths' unacked lists,
	 * and nothing more goes out that way while c->moving */
	void (*conn_paths_moving)(struct rdsb_engine *e, struct rdsb_conn *c);
	/* the peer restarted: p's sequence numbers were reset */
	void (*conn_path_seq_reset)(struct rdsb_engine *e, struct rdsb_path *p);
	/* bring p's receive counts and next_rx_seq up to date */
	void (*conn_path_sync)(struct rdsb_engine *e, struct rdsb_path *p);

	/* Receive: read what the path has, each message to rdsb_recv_msg. */
	void (*recv_path)(struct rdsb_engine *e, struct rdsb_path *p);
	/* On a path whose records the transport delivers itself (rx_prechecked):
	 * rx_taken: n of the records it passed up are written or dropped, and
	 * the sequence state says so; rx_ack_sent: an acknowledgement of sent
	 * went out (or the core sends none: c->deliv_send false); with arm,
	 * the transport tells the core (rdsb_path_ack_due) of the next record
	 * it delivers, else the core looks again itself (ack_poll) and the
	 * transport tells it only of a record that wants one at once. */
	void (*rx_taken)(struct rdsb_engine *e, struct rdsb_path *p, uint64_t n);
	void (*rx_ack_sent)(struct rdsb_engine *e, struct rdsb_path *p, uint64_t sent, bool arm);

	/* Send. xmit_path_prepare: 0 go on, < 0 not now (the transport's timer
	 * comes back); xmit_path_complete after the core wrote. acked: stream
	 * bytes the peer has acknowledged; ack_wait: the core waits for acks of
	 * p (a sender is short of send space); ack_poll_ns: how often the core
	 * looks at acked while it has messages unacknowledged. */
	int (*xmit_path_prepare)(struct rdsb_engine *e, struct rdsb_path *p);
	/* send what it can of p->send_q (send.c); 0 or -errno (path down) */
	int (*xmit)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*xmit_path_complete)(struct rdsb_engine *e, struct rdsb_path *p);
	uint64_t (*acked)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*ack_wait)(struct rdsb_engine *e, struct rdsb_path *p, bool waiting);
	uint64_t (*ack_poll_ns)(struct rdsb_engine *e, struct rdsb_path *p);

	/* Application sockets. sock_open may give the application fds of the
	 * transport's (returns how many, at most 3). sock_delivered: bytes the
	 * transport put in the socket's delivery stream itself; sock_arm: tell
	 * the core (rdsb_sock_check_cong) once room more bytes went there. */
	int (*sock_open)(struct rdsb_engine *e, struct rdsb_sock *s, int fds[3]);
	/* bind (rds_bind's laddr_check): 0 when the transport can carry
	 * datagrams from this local address, else -EADDRNOTAVAIL */
	int (*laddr_check)(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope);
	void (*sock_bind)(struct rdsb_engine *e, struct rdsb_sock *s);
	void (*sock_close)(struct rdsb_engine *e, struct rdsb_sock *s);
	uint64_t (*sock_delivered)(struct rdsb_engine *e, const struct rdsb_sock *s);
	void (*sock_arm)(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room);
	/* Where the core writes the socket's deliveries: -1 = its own stream
	 * (s->data), else a socket of the transport's, made ready for this
	 * socket's records (the sockmap path's outbox), a datagram socket:
	 * each write of whole records, at most OUTBOX_WRITE_MAX bytes (or
	 * one larger record), arrives as one. sock_out_wait: that socket is
	 * full; the transport calls rdsb_socks_flush once it is not. */
#define OUTBOX_WRITE_MAX (64u * 1024)
	int (*sock_out)(struct rdsb_engine *e, struct rdsb_sock *s);
	void (*sock_out_wait)(struct rdsb_engine *e);

	/* RDS_INFO_* tables of its own (rds_info_register_func): the item
	 * size, or -ENOPROTOOPT for an optname it does not have. */
	int (*info)(struct rdsb_engine *e, int optname, struct rdsb_info_out *o);
	/* Without an engine (rds-bpf features): whether the transport's BPF
	 * data path (load --bpf; with SENDS, its send programs too: --sk-msg)
	 * loads here: 0, or -errno with how it was tried and a hint. */
	int (*probe_bpf)(bool sends, const char **how, const char **hint);
	/* Operators: status lines, and its own counters (fn once each). */
	void (*status)(struct rdsb_engine *e, struct rdsb_tp_status *st);
	void (*counters)(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg);
};

/* heldlog.c: the pinned rdsb_heldlog, mapped */
struct rdsb_heldlog {
	struct rdsb_engine *eng;
	struct rdsb_heldlog_hdr *hdr;	/* NULL: no map */
	uint8_t *ring;
};

struct rdsb_engine {
	int epfd;
	struct rdsb_ev ctl_listen;
	struct list_head conns, socks, ctl_clients, dead_socks;
	struct rdsb_hash conns_by_addr, socks_by_id, socks_by_port;
	struct list_head dropped;	/* paths marked for shutdown (p->drop_item) */
	struct list_head rx_ready;	/* stalled paths whose socket has room (p->rx_wait) */
	/* In an event batch, what the batch queues on a path (p->tx_due) or
	 * delivers to a socket (s->rx_due) is written once at its end: many
	 * records per sendmsg, where each alone would cost one. */
	bool batching;
	struct list_head tx_due, rx_due;
	/* sockets whose blocked or polling senders get space: woken once per
	 * pass of the loop, not once per message acknowledged */
	struct list_head wake_due;
	struct list_head held;		/* rdsb_held: for ports not yet bound again */
	/* paths whose record must wait behind a held one and found the held
	 * list full (p->rx_wait): they go on when it is released */
	struct list_head held_stalled;
	uint64_t held_bytes;
	uint64_t rebind_until;		/* ns: RDSB_REBIND_MS after a restart, else 0 */
	/* sockets may come back: the engine before this one was killed, or
	 * stopped with bound sockets (bpf_load.c, the pin directory) */
	bool restarted;
	bool rebind_next;		/* so may this one's: tell the next engine */
	uint32_t next_sock_id;
	uint32_t cong_gen;		/* congestion map updates seen (rdsb_sock_shm cong_gen) */
	uint32_t gen_num;		/* GEN_NUM we advertise, random per start */
	uint32_t hash_initval;		/* for RDS_MPATH_HASH, random per start */
	gid_t ctl_gid;			/* rds-bpf load --group; (gid_t)-1 = none */
	unsigned int max_paths;		/* NPATHS we advertise (--paths) */
	bool stopping;
	bool unload;			/* asked to unload: it drains, then stops */
	bool draining;			/* applications sent away, queues emptying */
	uint64_t drain_until;		/* ns: it stops then, drained or not */
	bool rx_closing;		/* drained of sends: its ports stay congested */
	bool rx_wait;			/* ... and a port was bound: wait for quiet */
	bool streams_shut;		/* the last step: the streams' reading sides */
	uint64_t rx_seen, rx_quiet_at;	/* RX_MSGS last seen; ns: quiet since then */
	bool use_bpf;			/* the maps are BPF maps */
	int seqstate_fd;		/* rdsb_seqstate, or -1 */
	struct rdsb_seqstate *seqstate;	/* mapped; NULL: no map */
	int ownseq_fd;			/* rdsb_ownseq, or -1 */
	struct rdsb_ownseq *ownseq;	/* mapped beside seqstate; NULL: no map */
	int ports_fd;			/* rdsb_ports, or -1 */
	/* rdsb_socks of the engine before (the BPF receive path), or -1:
	 * held for this engine's life, so that what its verdict delivered
	 * into the sockets' queues stays there until their applications
	 * read it and the library closes them (an unpinned map nobody holds
	 * is freed, and each socket's queue with it) */
	int old_socks_fd;
	/* its rdsb_rcvq, when it was killed (a stopping engine pins none):
	 * what the verdict delivered into each of those sockets, which the
	 * library asks for to read a killed engine's stream to its end
	 * (RDSB_CTL_STREAM_END), or -1 */
	int old_rcvq_fd;
	unsigned int fds_warned;	/* sockets refused for want of descriptors */
	unsigned int abi_warned;	/* sockets refused: a library of another build */
	/* this engine's rdsb_socks, when sockets go to the next engine: kept
	 * past the transport's exit to be pinned for it, or -1 */
	int socks_next_fd;
	struct rdsb_port_owner *ports;	/* mapped; NULL: no map */
	int heldlog_fd;			/* rdsb_heldlog, or -1 */
	struct rdsb_heldlog heldlog;
	/* rdsb_port_hold: ports the engine before had bound, whose sockets
	 * are not back yet; when their owners are looked at next (ns) */
	struct list_head port_holds;
	uint64_t ports_check_at;
	/* Sequence numbers are taken when a record starts on the wire, not
	 * when it is queued: set by a transport whose applications also write
	 * on its paths (TCP's sk_msg send path), who take theirs there too. */
	bool number_at_xmit;
	/* RDSB_DELIV_* we announce in probes (the TCP transport's: the engine
	 * that writes what it receives into the streams acknowledges it) */
	uint8_t deliv;
	struct list_head ack_due;	/* paths that delivered in this batch */

	/* Shared memory: rdsb_addrs and rdsb_cong (BPF array maps or memfds). */
	int addrs_fd, cong_fd, paths_fd, counters_fd;
	/* what applications get of rdsb_addrs and rdsb_cong: sealed memfds, so
	 * that no application can mark a port congested or change a slot; with
	 * BPF maps (whose fds cannot be mapped read-only) copies of them */
	int addrs_ro_fd, cong_ro_fd;
	struct rdsb_addr *addrs_copy;
	struct rdsb_cong_map *cong_copy;
	struct rdsb_addr *addrs;
	struct rdsb_cong_map *cong;
	/* Users of each slot (connections' lslot and fslot, bound sockets),
	 * and since when an unused slot has had none (cong.c: rdsb_addr_put) */
	uint32_t addr_refs[RDSB_MAX_ADDRS];
	uint64_t addr_unused_at[RDSB_MAX_ADDRS];
	char pin_dir[128];
	void *bpf_obj;			/* the core's maps (bpf/rdsb_core.bpf.c) */
	/* every map pinned so far, by name, for the transports' objects to share */
	struct rdsb_pinned_map { char name[32]; int fd; } pinned[32];
	unsigned int npinned;

	const struct rdsb_transport *tp;	/* &tp_ops */
	struct rdsb_transport tp_ops;		/* the transport's, defaults filled in */
	void *tp_priv;			/* the transport's own state */

	uint64_t counters[RDSB_C_MAX];
	uint64_t now;			/* ns, CLOCK_MONOTONIC, per loop turn */
	bool tx_resume;			/* a connection with held senders has room */
	struct list_head tx_held;	/* held senders, the first held first (rdsb_sock.tx_wait) */
	struct list_head rq_active;	/* sockets whose request queue each pass reads */
	uint64_t paths_info_at;
};

/* engine.c */
uint64_t rdsb_now_ns(void);
int rdsb_ev_set(struct rdsb_engine *e, struct rdsb_ev *ev, uint32_t events);
void rdsb_ev_del(struct rdsb_engine *e, struct rdsb_ev *ev);
static inline void rdsb_count(struct rdsb_engine *e, enum rdsb_counter c)
{
	e->counters[c]++;
}
extern const char *const rdsb_counter_names[RDSB_C_MAX];

/* cong.c: address slots, congestion maps, counters, per-path state */
int rdsb_cong_init(struct rdsb_engine *e);
void rdsb_counters_read(struct rdsb_engine *e, uint64_t out[RDSB_C_MAX]);
uint64_t rdsb_counter_bpf(struct rdsb_engine *e, uint32_t i);
void rdsb_cong_peer_updated(struct rdsb_engine *e, int slot);
void rdsb_cong_peers_resync(struct rdsb_engine *e);
void rdsb_cong_fini(struct rdsb_engine *e);
/* A reference to ADDR's slot (taken if needed), or -1: the table is full */
int rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope,
		   enum rdsb_addr_kind kind);
void rdsb_addr_put(struct rdsb_engine *e, int slot);
void rdsb_cong_set_local(struct rdsb_engine *e, int slot, uint16_t port, bool congested);
/* map NULL: already in place (written by BPF), count and notify only */
void rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map);
void rdsb_paths_info_update(struct rdsb_engine *e);
void rdsb_paths_info_forget(struct rdsb_engine *e, const struct rdsb_conn *c);

/* bpf_load.c: bpffs, the pin directory, BPF objects sharing the engine's maps */
/* In the pin directory of an engine that stopped with bound sockets: the
 * directory stays, with this (empty) one and rdsb_seqstate in it, for the
 * next engine. */
#define RDSB_PIN_REBIND "rebind"
/* the core's maps, pinned; *unsafe: the pin directory is not safe to use,
 * which no fallback mends. Sets e->restarted if that directory was there
 * (the engine before was killed, or left RDSB_PIN_REBIND). */
int rdsb_bpf_load_core(struct rdsb_engine *e, bool *unsafe);
void rdsb_bpf_unload_core(struct rdsb_engine *e);
/* Load a transport's BPF object (opened, not loaded): the maps the engine
 * has already (by name) are reused, its new ones pinned and shared. */
int rdsb_bpf_load_shared(struct rdsb_engine *e, struct bpf_object *obj);
/* An object given up after rdsb_bpf_load_shared, before it is destroyed:
 * the maps it pinned are unpinned and no longer shared (their fds go with
 * it; a later object makes its own) */
void rdsb_bpf_unload_shared(struct rdsb_engine *e, struct bpf_object *obj);
/* What the verdict of the engine before delivered into its socket index
 * (rdsb_sock_shm rx_index - 1), if that socket has cookie: 0, or -ENOENT */
int rdsb_bpf_old_delivered(const struct rdsb_engine *e, uint32_t index, uint64_t cookie, uint64_t *bytes);
/* The hint for a BPF object that did not load with err, where the cause is
 * the same for every object (capabilities, open files, BTF), else NULL */
const char *rdsb_bpf_hint(int err);
/* One line on why a BPF object did not load (what, the error, a hint). */
void rdsb_bpf_explain(const char *what, int err, const char *fallback);

/* sock.c: application sockets */
void rdsb_socks_read_all(struct rdsb_engine *e);
void rdsb_socks_tx_resume(struct rdsb_engine *e);
void rdsb_sock_req_done(struct rdsb_engine *e, struct rdsb_msg *m);
void rdsb_sock_open(struct rdsb_engine *e, int ctl_fd);
struct rdsb_sock *rdsb_sock_by_id(struct rdsb_engine *e, uint32_t id);
struct rdsb_sock *rdsb_sock_by_port(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port);
void rdsb_sock_event(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_ev *ev, uint32_t events);
void rdsb_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_socks_reap(struct rdsb_engine *e);
/* Unload: every socket's process sees its engine go (its control
 * connections hang up, its stream refuses writes: the library takes the
 * socket to the next engine), and what it wrote before is read. Drained:
 * every stream read to its end and every delivery written into it. */
void rdsb_socks_drain_start(struct rdsb_engine *e);
bool rdsb_socks_drained(struct rdsb_engine *e);
/* The engine stops: every socket's deliveries into its stream, whole. */
void rdsb_socks_flush_stopping(struct rdsb_engine *e);
void rdsb_socks_shut(struct rdsb_engine *e);
/* Then every bound port is marked congested for good: the peers' senders
 * wait (for the next engine's map) and send this one nothing more. False
 * if no port is bound: nothing the peers send could be delivered. */
bool rdsb_socks_close_rx(struct rdsb_engine *e);
/* Queue a datagram for delivery (takes msg). False if the socket holds its
 * limit unread: the caller keeps msg and stops reading its path. */
bool rdsb_sock_deliver(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m, bool force);
/* Writes the socket's queued deliveries into its stream. */
void rdsb_sock_flush(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_sock_sent(struct rdsb_engine *e, uint32_t sock_id, uint32_t len);
/* send.c: m's send space back to its sender, once */
void rdsb_msg_space_back(struct rdsb_engine *e, struct rdsb_msg *m);
/* Wakes the senders of the sockets rdsb_sock_sent released space for. */
void rdsb_socks_wake(struct rdsb_engine *e);
/* Each pass: the requests queued by the sockets on e->rq_active. Before the
 * engine sleeps: their queues armed (a sender then wakes it), false if one
 * filled meanwhile (it reads again instead). */
void rdsb_socks_rq_read(struct rdsb_engine *e);
bool rdsb_socks_rq_arm(struct rdsb_engine *e);
/* m, of a socket's request, is acknowledged or dropped (rdsb_msg_free) */
void rdsb_sock_req_acked(struct rdsb_msg *m);
/* m of a socket's request got its sequence number on p */
void rdsb_sock_req_numbered(const struct rdsb_path *p, const struct rdsb_msg *m);
/* Past half its budget the sender may soon block on it: free a message of
 * it as soon as TCP acknowledged it (rdsb_msg.ack_wake). */
bool rdsb_sock_ack_wake(const struct rdsb_sock *s);
/* The socket's copy ring is free up to pos (never back: a request's payload
 * and a direct send's copy are released by different rules). */
void rdsb_sock_ring_release(struct rdsb_sock *s, uint32_t pos);
void rdsb_sock_cong_notify(struct rdsb_engine *e, int peer_slot);
void rdsb_socks_timer(struct rdsb_engine *e, uint64_t *next);
void rdsb_socks_flush(struct rdsb_engine *e);
void rdsb_sock_check_cong(struct rdsb_engine *e, struct rdsb_sock *s);
/* Bytes in the delivery stream the application has not read yet. */
uint64_t rdsb_sock_stream_bytes(struct rdsb_engine *e, const struct rdsb_sock *s);
/* Each path's records reach the streams in its order: the record of m's
 * path before it that is in no stream yet and not queued to s (the queue
 * it is in written first), or NULL. */
struct rdsb_msg *rdsb_rx_before(struct rdsb_engine *e, struct rdsb_msg *m, struct rdsb_sock *s);
/* ctl.c: root, or a member of the group named at load (e->ctl_gid): the
 * only peers that may use the control channel */
bool rdsb_ctl_peer_allowed(struct rdsb_engine *e, int fd);
/* ctl.c: one request on a control connection (s is NULL before OPEN). */
struct rdsb_ctl_req;
void rdsb_ctl_handle(struct rdsb_engine *e, struct rdsb_sock *s, int fd, const struct rdsb_ctl_req *req);
/* ATTACH on a fresh control connection: true when the socket took ctl_fd. */
bool rdsb_sock_attach(struct rdsb_engine *e, int ctl_fd, const struct rdsb_ctl_req *req);
void rdsb_sock_attached_event(struct rdsb_engine *e, struct rdsb_sock_ctl *c);
/* flags: RDSB_BIND_CHOSEN, the socket selected the transport
 * (SO_RDS_TRANSPORT); RDSB_BIND_AGAIN, the library binds again a socket that
 * was bound on the engine before (it takes the port that engine's socket
 * held, ports.c) */
int rdsb_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t addr[16], uint32_t scope,
		   uint16_t *port, unsigned int flags);
/* CTL_CONNECT: the connection from s's address to daddr (a positive errno) */
int rdsb_sock_conn_for(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t daddr[16], uint32_t scope);
void rdsb_sock_set_rcvbuf(struct rdsb_engine *e, struct rdsb_sock *s, uint32_t bytes);

/* conn.c: connections, paths, handshake */
struct rdsb_conn *rdsb_conn_get(struct rdsb_engine *e, const uint8_t laddr[16],
				const uint8_t faddr[16], uint32_t scope, bool create);
void rdsb_path_up(struct rdsb_engine *e, struct rdsb_path *p);
/* Mark p for shutdown after the event batch (nothing more is written on
 * it, nor read but by its shutdown); rdsb_path_reset: its stream is
 * malformed, so its shutdown reads nothing and resets the connection. */
void rdsb_path_drop(struct rdsb_engine *e, struct rdsb_path *p, const char *why);
void rdsb_path_reset(struct rdsb_engine *e, struct rdsb_path *p, const char *why);
/* Shut down the marked paths: only from the event loop, outside any call
 * chain that may be inside a path. True if there were any. */
bool rdsb_paths_shutdown(struct rdsb_engine *e);
void rdsb_path_connect(struct rdsb_engine *e, struct rdsb_path *p);
/* A transport's conn_path_connect started an outgoing connect on fd: the
 * path is CONNECTING, and conn_path_connected runs when fd reports events
 * (0: the transport watches the connect itself). */
void rdsb_path_connecting(struct rdsb_engine *e, struct rdsb_path *p, int fd, uint32_t events);
void rdsb_conn_want_path0(struct rdsb_engine *e, struct rdsb_conn *c);
/* rds_queue_reconnect: when p (re)connects, if it is ours to connect */
void rdsb_path_schedule_reconnect(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_conns_timer(struct rdsb_engine *e, uint64_t *next);
/* Nothing queued or unacknowledged on any path (unload waits for it). */
bool rdsb_conns_drained(const struct rdsb_engine *e);
/* The engine stops: every path that is up is marked to go, so that its
 * shutdown reads what its TCP acknowledged into the sockets. */
void rdsb_conns_stop(struct rdsb_engine *e);
void rdsb_conn_handshake(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h);
/* the peer's RDSB_EXTHDR_DELIV byte, from its probe or the engine before */
void rdsb_conn_deliv_set(struct rdsb_engine *e, struct rdsb_conn *c, uint8_t peer);
/* the map on every connection of the local address slot lslot (every
 * connection for lslot < 0: a restarted engine's rebind time over) */
void rdsb_conn_queue_cong_map(struct rdsb_engine *e, int lslot);
void rdsb_conn_cancel(struct rdsb_engine *e, uint32_t sock_id, const uint8_t faddr[16], uint16_t dport);
void rdsb_conn_free_all(struct rdsb_engine *e);

/* seqstate.c: sequence state that outlives the engine (rdsb_seqstate) */
void rdsb_seqstate_init(struct rdsb_engine *e);
void rdsb_seqstate_fini(struct rdsb_engine *e);
/* c's entry: the one the engine before had (its numbers restored), or a
 * new one (c->ss NULL if none is free) */
void rdsb_seqstate_conn(struct rdsb_engine *e, struct rdsb_conn *c);
void rdsb_seqstate_forget(struct rdsb_conn *c);
void rdsb_seqstate_own(const struct rdsb_path *p, uint64_t seq);
void rdsb_seqstate_own_reset(const struct rdsb_path *p);
bool rdsb_seqstate_resend_ok(const struct rdsb_path *p, uint64_t seq);
bool rdsb_seqstate_resend_acked(const struct rdsb_path *p, uint64_t seq);
static inline struct rdsb_seq_path *rdsb_seqstate_path(const struct rdsb_path *p)
{
	return p->conn->ss ? &p->conn->ss->path[p->index] : NULL;
}

/* info.c: RDS_INFO_* records; returns the item size or -ENOPROTOOPT */
int rdsb_info(struct rdsb_engine *e, int optname, void *buf, size_t cap, size_t *total);

/* send.c: the non-blocking writer of whole records on a stream socket
 * (the TCP transport's paths, the applications' delivery streams) */
struct rdsb_writer {
	struct list_head *q;
	size_t *head_off;			/* bytes of the first record already written */
	uint64_t *stream_off;			/* advanced by every byte written */
	void (*encode)(void *ctx, struct rdsb_msg *m);	/* fill m->wire (or m->deliv) */
	void (*done)(void *ctx, struct rdsb_msg *m);	/* m written whole, unlinked */
	void *ctx;
	size_t max_bytes;	/* per write, but a first larger record whole (0: 64 records) */
};
int rdsb_records_write(int fd, struct rdsb_writer *w);	/* 0 or -errno */

/* send.c: messages; queueing one (false when the connection holds
 * CONN_TX_MAX or more then: its sender is not read until it has room); the
 * transmit of a path, where a transport's xmit encodes each message with
 * rdsb_msg_encode as it starts, sets its end_off and hands it back with
 * rdsb_path_msg_sent once it is sent whole. */
/* One allocation, the payload after the message: an application's request
 * (sock.c), or a record a path received (tcp_stream.c), is copied into it
 * from the engine's read buffer, one malloc per message sent or received. */
/* A congestion map or a delivery acknowledgement: unnumbered, encoded as
 * it goes, never retransmitted (dropped with its path's socket). */
static inline bool rdsb_msg_control(const struct rdsb_msg *m)
{
	return m->cong_map || m->deliv_ack;
}

static inline struct rdsb_msg *rdsb_msg_new(uint32_t len)
{
	struct rdsb_msg *m = malloc(sizeof(*m) + len);

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	INIT_LIST_HEAD(&m->item);
	INIT_LIST_HEAD(&m->sock_item);
	m->len = len;
	if (len) {
		m->data = (uint8_t *)(m + 1);
		m->data_inline = true;
	}
	return m;
}
void rdsb_msg_free(struct rdsb_msg *m);

/* A socket's copy ring, mapped read-only by the engine at its first request
 * with the payload in it (sock.c, RDSB_REQ_INRING). The socket and each
 * message whose data is there hold it: it is unmapped when the last of them
 * goes, so a socket closed with datagrams unacknowledged leaves them whole. */
struct rdsb_txring {
	uint8_t *base;
	unsigned int refs;
};

static inline void rdsb_txring_put(struct rdsb_txring *r)
{
	if (--r->refs)
		return;
	munmap(r->base, RDSB_TXRING_BYTES);
	free(r);
}
bool rdsb_conn_queue(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m);
bool rdsb_conn_tx_room(const struct rdsb_conn *c);	/* below CONN_TX_MAX */
void rdsb_conn_resend(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m);
/* the path a message from sport takes: the kernel's hash of the bound port;
 * NULL while it must wait for the handshake */
struct rdsb_path *rdsb_conn_path_for(struct rdsb_engine *e, struct rdsb_conn *c, uint16_t sport);
void rdsb_path_queue(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m);
/* A numbered message that went out on a socket that is gone, found after
 * the shutdown requeued the rest (the sk_msg path's copies, read from their
 * ring later): RETRANSMITTED, among the path's retransmissions by number,
 * before anything not sent yet. Out of order, it would move the peer's
 * next_rx_seq past the lower ones, which it then drops as duplicates. */
void rdsb_path_retransmit_late(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m);
void rdsb_path_send_ping(struct rdsb_engine *e, struct rdsb_path *p, uint16_t sport, uint16_t dport,
			 bool probe);
void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p);
/* Writes the paths the event batch queued to so far (e->tx_due). */
void rdsb_paths_xmit_due(struct rdsb_engine *e);
void rdsb_msg_encode(struct rdsb_path *p, struct rdsb_msg *m);
void rdsb_path_msg_sent(struct rdsb_path *p, struct rdsb_msg *m);
void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p);
/* Delivery acknowledgements (send.c, docs/protocol.md 1.4): one the peer
 * sent us; ours, due after the batch that delivered (ack_due) or at
 * ack_at; whether a message of ours numbered seq may be forgotten. */
void rdsb_path_deliv_acked(struct rdsb_engine *e, struct rdsb_path *p, const uint8_t *data, uint32_t len);
bool rdsb_paths_ack_due(struct rdsb_engine *e);	/* true: it set an ack_at */
void rdsb_path_ack_timer(struct rdsb_engine *e, struct rdsb_path *p, uint64_t *next);
/* p delivered more, or took a retransmission again: looked at after the
 * batch (or the timer) that did it */
static inline void rdsb_path_ack_due(struct rdsb_path *p)
{
	if (p->conn->deliv_send && list_empty(&p->ack_due))
		list_add_tail(&p->ack_due, &p->conn->eng->ack_due);
}
/* Whether a message of ours on p, numbered seq and ending at stream offset
 * end_off, may be forgotten: TCP acknowledged it (acked: the stream bytes
 * it did) and, to a peer that acknowledges delivery, so did the peer. If
 * so, the sequence state says it for the next engine (acked_seq). For the
 * engine's own messages and the sk_msg path's copies alike. */
static inline bool rdsb_path_forget(const struct rdsb_path *p, uint64_t seq, uint64_t end_off, uint64_t acked)
{
	struct rdsb_seq_path *sp;

	if (end_off > acked || (p->conn->deliv_hold && seq > p->deliv_acked))
		return false;
	sp = rdsb_seqstate_path(p);
	if (sp && seq > sp->acked_seq)
		sp->acked_seq = seq;
	return true;
}
/* recv.c: one message a transport received, taken: m from
 * rdsb_msg_new(h->len) with the payload read or reassembled into m->data
 * (one allocation per message, the one delivered). False when the path
 * stalled on a full socket: the transport stops reading it until
 * rdsb_paths_resume calls recv_path. A transport reads a path only while
 * rdsb_path_readable. */
bool rdsb_recv_msg(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h, struct rdsb_msg *m);
/* s has room again (or is closing): the paths stalled on it go on after the
 * batch (rdsb_paths_resume, from the event loop; true if there were any). */
void rdsb_path_rx_resume(struct rdsb_engine *e, struct rdsb_sock *s);
bool rdsb_paths_resume(struct rdsb_engine *e);
/* A datagram for a port nobody bound is held, for the socket of the engine
 * before this one to come back: for RDSB_REBIND_MS after a restart (at most
 * RDSB_HELD_MAX bytes of them), and for a port that engine had bound as
 * long as its process lives (hold, ports.c: bounded by that socket's
 * receive buffer). False if it cannot be. Released to s once s is bound;
 * with s NULL (the time is over, or an owner gone), to its socket, or
 * dropped unless its port is still held. */
#define RDSB_HELD_MAX (32u << 20)
struct rdsb_port_hold;
struct rdsb_held {
	struct list_head item;
	uint8_t laddr[16];
	struct rdsb_msg *m;
	bool port_held;		/* counted in its rdsb_port_hold, not held_bytes */
};
bool rdsb_hold_unbound(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m,
		       struct rdsb_port_hold *hold);
/* m, which the engine before held for hold's port (heldlog.c), is held
 * again, behind what is held already; without hold, for the rebind time
 * (a loopback datagram for LADDR) */
void rdsb_hold_again(struct rdsb_engine *e, struct rdsb_msg *m, const uint8_t laddr[16],
		     struct rdsb_port_hold *hold);
/* A loopback datagram (on c) for a port nobody bound here: held, as one
 * from a peer is, for the socket of the engine before that had it (while
 * its port is held, and then in the held log too; or while the rebind time
 * runs); false: none had it, or the hold is full */
bool rdsb_hold_local(struct rdsb_engine *e, const struct rdsb_conn *c, struct rdsb_msg *m);
void rdsb_held_release(struct rdsb_engine *e, struct rdsb_sock *s);
/* Records are held now: in the rebind time, or while a port is */
static inline bool rdsb_holding(const struct rdsb_engine *e)
{
	return e->now < e->rebind_until || !list_empty(&e->port_holds);
}

/* ports.c: the bound ports that outlive the engine (rdsb_ports) */
struct rdsb_port_hold {
	struct list_head item;		/* e->port_holds */
	struct rdsb_port_owner *owner;	/* its entry */
	int slot;			/* the address's, for its congestion bit */
	bool congested;
	uint64_t bytes;			/* held for it */
	struct list_head stalled;	/* paths waiting for room (rdsb_path.rx_wait) */
};
void rdsb_ports_init(struct rdsb_engine *e);
void rdsb_ports_fini(struct rdsb_engine *e);
/* The engine stops: no port is held any more (the table stays) */
void rdsb_ports_stop(struct rdsb_engine *e);
struct rdsb_port_hold *rdsb_port_hold_find(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port);
/* a record of len bytes more would pass the hold's limit: its path stalls */
bool rdsb_port_hold_full(const struct rdsb_port_hold *h, uint32_t len);
void rdsb_port_hold_charge(struct rdsb_engine *e, struct rdsb_port_hold *h, int64_t bytes);
/* s, opened by pid, may bind h's port: its owner, or the library binding
 * again a socket that was bound (RDSB_BIND_AGAIN) for the owner's user */
bool rdsb_port_hold_ok(const struct rdsb_port_hold *h, const struct rdsb_sock *s, bool again);
/* s is bound (to h's port: h goes, and s takes its entry and congestion) */
void rdsb_ports_bound(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_port_hold *h);
void rdsb_ports_unbound(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_ports_rcvbuf(struct rdsb_sock *s);
/* Owners gone: their ports are held no more */
void rdsb_ports_timer(struct rdsb_engine *e, uint64_t *next);

/* heldlog.c: what is held for those ports, kept where the next engine
 * finds it (rdsb_heldlog) */
void rdsb_heldlog_init(struct rdsb_engine *e);
void rdsb_heldlog_fini(struct rdsb_engine *e);
/* m, received on p, is held for a port of rdsb_ports: into the log, or
 * counted (RX_HELD_UNSAVED) if the log has no room */
void rdsb_heldlog_keep(struct rdsb_engine *e, const struct rdsb_path *p, struct rdsb_msg *m);
void rdsb_heldlog_keep_local(struct rdsb_engine *e, const struct rdsb_conn *c, struct rdsb_msg *m);
/* The records the engine before kept, each to its hold (ports.c, after
 * the holds are made), in the order they were held: those of ports not
 * held and those the sequence state does not count received go */
void rdsb_heldlog_load(struct rdsb_engine *e);
/* m's record: a write took it whole into its stream */
void rdsb_heldlog_written(struct rdsb_msg *m);
/* m is freed: written, or dropped (kept for the next engine if this one
 * stops: it could not deliver it) */
void rdsb_heldlog_msg_free(struct rdsb_msg *m);
/* The start time of a process (clock ticks after boot), 0 if it is gone */
uint64_t rdsb_proc_start(uint32_t pid);
void rdsb_path_rx_unstall(struct rdsb_engine *e, struct rdsb_path *p);
/* The next number p's sequence state keeps (p->rx_safe_next) */
void rdsb_path_rx_safe_set(struct rdsb_path *p, uint64_t next);
/* ... as what p has in no stream says */
void rdsb_path_rx_safe_sync(struct rdsb_path *p);
/* m, of p->rx_unwritten, is in a stream whole (written) or dropped */
void rdsb_msg_rx_done(struct rdsb_msg *m, bool written);
/* The connection goes: its records in no stream are no longer its */
void rdsb_path_rx_forget(struct rdsb_path *p);
/* The highest number of p's such that it and everything before it is in
 * an application's stream or was dropped (0: none) */
uint64_t rdsb_path_rx_safe(const struct rdsb_path *p);
/* Up, or being drained by its shutdown; not while marked for it. */
static inline bool rdsb_path_readable(const struct rdsb_path *p)
{
	return p->ev.fd >= 0 && (p->state == RDSB_PATH_UP || p->state == RDSB_PATH_DISCONNECTING);
}

extern const struct rdsb_transport rdsb_tcp_transport, rdsb_xdp_transport, rdsb_ib_transport;

/* transport.c: the transports there are, and the defaults of their ops */
const struct rdsb_transport *rdsb_transport_find(const char *name);
extern const struct rdsb_transport *const rdsb_transports[];
void rdsb_transport_fill(struct rdsb_transport *out, const struct rdsb_transport *t);

/* What `rds-bpf load` asks for: the transport, the path count, and the
 * transport's options in the order given (rdsb_cfg_opt: the last one). */
#define RDSB_MAX_TRANSPORT_OPTS 16
struct rdsb_engine_cfg {
	const struct rdsb_transport *tp;
	unsigned int max_paths;
	unsigned int nopts;
	struct { const char *name, *value; } opts[RDSB_MAX_TRANSPORT_OPTS];
	gid_t ctl_gid;		/* besides root, may use the control channel (load
				 * --group); (gid_t)-1 = none */
};
/* the value of the last --name (a flag: ""), or NULL */
const char *rdsb_cfg_opt(const struct rdsb_engine_cfg *cfg, const char *name);
/* which of a and b was given last: 1 a, 2 b, 0 neither */
int rdsb_cfg_last(const struct rdsb_engine_cfg *cfg, const char *a, const char *b);

/* What rdsb_engine_run returns, and rds-bpf load exits with: distinct
 * from the CLI's 2 (usage) and 3 (no engine). */
enum rdsb_engine_exit {
	RDSB_ENGINE_STOPPED = 0,	/* unloaded or signalled */
	RDSB_ENGINE_SETUP_FAILED = 1,	/* maps, pins or listeners */
	RDSB_ENGINE_RUNNING = 4,	/* an engine already serves this netns */
	RDSB_ENGINE_LOOP_FAILED = 5,	/* the event loop failed while serving */
};

/* Runs until SIGTERM/SIGINT or an UNLOAD request; on_ready once serving. */
int rdsb_engine_run(const struct rdsb_engine_cfg *cfg, void (*on_ready)(void *), void *arg);

#endif
