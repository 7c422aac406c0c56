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
#include <sys/uio.h>
#include <rds-bpf/maps.h>
#include "../common/list.h"
#include "../common/wire.h"

struct rdsb_engine;
struct rdsb_conn;
struct rdsb_sock;

/* What each epoll registration points at. */
enum rdsb_ev_kind { EV_LISTEN, EV_CTL_LISTEN, EV_CTL, EV_SOCK_CTL, EV_SOCK_ATTACHED, EV_SOCK_DATA, EV_PATH, EV_BPF_EVENTS, EV_BPF_INBOX };
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
	bool req_pending;	/* from a send request: not yet written or dropped */
	bool wake_on_ack;	/* its sender was past half its sndbuf: free it at the ack */
	uint64_t seq;
	uint32_t len;
	uint64_t end_off;	/* stream offset after its last byte, once written */
	uint8_t ext[RDS_HEADER_EXT_SPACE];
	uint64_t from_slot;	/* delivery: the sender's address slot */
	struct rds_header wire;	/* encoded when it starts on the wire */
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
	uint64_t bpf_cookie;	/* on the BPF receive path: its socket cookie; 0 = not */
	int tcp_index;		/* its rdsb_tcppath entry (sockops.c); -1 = none */

	/* TX: one writer, whole records only. */
	struct list_head send_q;	/* head may be partly written */
	struct list_head unacked;	/* written, waiting for TCP snd_una */
	size_t head_off;
	uint64_t written;		/* stream bytes written on this socket */
	uint64_t next_tx_seq;
	bool cong_map_queued;
	unsigned int nunacked;
	/* A message of a sender short of send space is unacked here: each ack
	 * wakes the engine (sock_ops), not only the next event-loop pass. */
	bool ack_wake;
	/* The sk_msg send path (direct_tx.c) */
	bool direct;			/* in rdsb_txsk: applications write on it too */
	bool copies_pending;		/* read the streams before writing again */
	bool tx_busy;			/* an application held the lock: write later */
	bool in_xmit;
	uint32_t epoch;			/* rdsb_txpath's: one more per socket */

	/* RX: a stream parser, [header][h_len]. */
	uint8_t rx_hdr[RDS_HEADER_SIZE];
	size_t rx_hdr_have;
	struct rdsb_hdr rx;
	uint8_t *rx_data;
	size_t rx_have;
	uint64_t next_rx_seq;		/* survives reconnects */
	uint8_t *rxbuf;			/* bytes read from the socket, not yet parsed */
	size_t rxbuf_off, rxbuf_len;
	struct rdsb_msg *rx_stalled;	/* complete, waiting for room in its socket */
	uint32_t rx_blocked_on;		/* that socket's id */

	/* Reconnect backoff, as rds_queue_reconnect. */
	uint64_t reconnect_at;		/* ns, 0 = none */
	uint64_t reconnect_delay;	/* ns */
	uint64_t reconnects;

	uint64_t tx_msgs, rx_msgs, tx_bytes, rx_bytes;
};

struct rdsb_conn {
	struct list_head item;
	struct rdsb_engine *eng;
	uint8_t laddr[16], faddr[16];
	uint32_t scope_id;
	int lslot, fslot;		/* address slots (congestion maps) */
	bool loopback;			/* destination is local: no wire */
	unsigned int npaths;		/* 0: no handshake yet */
	bool peer_sport_idx;		/* peer sent SPORT_IDX (2026 kernels) */
	uint32_t peer_gen;
	unsigned int ping_tries;
	uint64_t ping_at;		/* ns: (re)send the probe ping then */
	struct list_head pending;	/* waiting for the handshake to pick a path */
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
	struct rdsb_ev ctl;		/* control connection (fd -1: its process closed it) */
	struct list_head attached;	/* rdsb_sock_ctl: other processes' (ATTACH) */
	uint64_t hold_until;		/* ns: RDSB_CTL_HOLD, outlive the control connections */
	struct rdsb_ev data;		/* engine end of the delivery stream */
	int app_fd;			/* application end, kept for the sockmap */
	uint64_t app_ino;		/* its inode: how another process names the socket */
	int tx_peer;			/* engine end of the send socket's connection */
	uint16_t tx_lport;		/* the send socket's local port; 0 = none */
	int idx;			/* in rdsb_socks / rdsb_rcvq; -1 = none */
	struct rdsb_sock_shm *shm;
	int shm_fd;
	int space_fd;			/* eventfd: send space released (shm poll_waiters) */
	bool bound;
	uint8_t addr[16];
	uint32_t scope_id;
	uint16_t port;
	int slot;
	uint32_t rcvbuf;		/* payload bytes: SO_RCVBUF / 2 */
	uint32_t sndbuf;		/* payload bytes: SO_SNDBUF / 2, as the library counts */
	uint64_t cong_monitor;		/* RDS_CONG_MONITOR mask to report */

	/* From the application: [rdsb_send_req][len]. */
	struct rdsb_send_req req;
	size_t req_have;
	uint8_t *req_data;
	size_t req_data_have;

	/* To the application. */
	struct list_head rx_q;
	uint64_t rx_q_bytes;		/* queued here, not yet written */
	uint64_t rx_written;		/* written into the delivery stream */
	size_t rx_head_off;
	bool congested;
	bool closed;			/* freed after the current epoll batch */
};

struct rdsb_engine {
	int epfd;
	struct rdsb_ev listen4, listen6, ctl_listen;
	struct list_head conns, socks, ctl_clients, dead_socks;
	uint32_t next_sock_id;
	uint32_t cong_gen;		/* congestion map updates seen (rdsb_sock_shm cong_gen) */
	uint32_t gen_num;		/* GEN_NUM we advertise, random per start */
	uint32_t hash_initval;		/* for RDS_MPATH_HASH, random per start */
	unsigned int max_paths;		/* NPATHS we advertise (--paths) */
	bool stopping;
	bool use_bpf;			/* maps are BPF maps */
	bool bpf_path;			/* and the sockmap programs carry data */
	uint16_t port_low, port_high;	/* ip_local_port_range */
	uint32_t port_group;

	/* Shared memory: rdsb_addrs and rdsb_cong (BPF array maps or memfds). */
	int addrs_fd, cong_fd, paths_fd, counters_fd;
	struct rdsb_addr *addrs;
	struct rdsb_cong_map *cong;
	char pin_dir[128];
	void *bpf_obj;

	/* The sockmap data path (bpf_path.c). */
	int pathsk_fd, rxpath_fd, socks_fd, bound_fd;
	struct rdsb_rcvq *rcvq;		/* mmap of rdsb_rcvq */
	struct rdsb_sock **sock_at;	/* index -> socket */
	void *events;			/* libbpf ring_buffer of rdsb_events */
	struct rdsb_ev events_ev;
	struct rdsb_ev inbox_ev;	/* the engine's end of rdsb_inbox */
	int inbox_peer;			/* kept open: the pair stays connected */
	uint8_t *inbox_buf;		/* one whole record at most */
	size_t inbox_len;
	bool inbox_busy;		/* a record being handled may drop paths */
	/* The sk_msg send path (direct_tx.c); txpath NULL = off. */
	int txpath_fd, txsk_fd, apptx_fd, txsock_fd, tx_listen;
	struct rdsb_txpath *txpath;	/* mmap of rdsb_txpath */
	struct rdsb_path **tx_owner;	/* which path has each entry */
	/* Acknowledgements from the sock_ops program (transports/tcp/sockops.c);
	 * tcppath NULL = polled only. */
	struct bpf_link *sockops_link;
	char cgroup[256];		/* where it is attached */
	int tcpsk_fd;
	struct rdsb_tcppath *tcppath;	/* mmap of rdsb_tcppath */
	struct rdsb_path **tcp_at;	/* entry -> path */
	const struct rdsb_transport *tp;
	void *tp_priv;			/* the transport's own state */

	uint64_t counters[RDSB_C_MAX];
	uint64_t now;			/* ns, CLOCK_MONOTONIC, per loop turn */
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

/* shm.c: address slots and congestion maps */
int rdsb_shm_init(struct rdsb_engine *e);
void rdsb_counters_read(struct rdsb_engine *e, uint64_t out[RDSB_C_MAX]);
void rdsb_cong_peer_updated(struct rdsb_engine *e, int slot);
void rdsb_shm_fini(struct rdsb_engine *e);
int rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope,
		   enum rdsb_addr_kind kind);
void rdsb_cong_set_local(struct rdsb_engine *e, int slot, uint16_t port, bool congested);
/* map NULL: already in place (written by BPF), count and notify only */
void rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map);
void rdsb_paths_info_update(struct rdsb_engine *e);

/* bpf_path.c: the sockmap data path */
int rdsb_bpf_path_init(struct rdsb_engine *e);	/* after the skeleton loaded */
void rdsb_bpf_path_fini(struct rdsb_engine *e);
void rdsb_bpf_path_add(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_bpf_path_del(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_bpf_path_sync(struct rdsb_engine *e, struct rdsb_path *p, bool to_bpf);
void rdsb_bpf_sock_open(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_bpf_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_bpf_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
uint64_t rdsb_bpf_sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s);
void rdsb_bpf_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room);
int rdsb_bpf_events_init(struct rdsb_engine *e);	/* the rdsb_events ring */
void rdsb_bpf_events_fini(struct rdsb_engine *e);
void rdsb_bpf_events(struct rdsb_engine *e);
void rdsb_bpf_inbox_read(struct rdsb_engine *e);

/* transports/tcp/sockops.c: acknowledgements from the sock_ops program */
int rdsb_sockops_init(struct rdsb_engine *e);	/* after the skeleton loaded */
void rdsb_sockops_fini(struct rdsb_engine *e);
void rdsb_sockops_mark(struct rdsb_engine *e, int fd);
void rdsb_sockops_path_up(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_sockops_path_down(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_sockops_arm(struct rdsb_engine *e, struct rdsb_path *p, bool waiting);
void rdsb_sockops_acked(struct rdsb_engine *e, uint32_t index);

/* direct_tx.c: the sk_msg send path */
int rdsb_direct_init(struct rdsb_engine *e);
void rdsb_direct_fini(struct rdsb_engine *e);
int rdsb_direct_sock_open(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_direct_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_direct_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
int rdsb_direct_begin(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_direct_end(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_direct_path_down(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_direct_seq_reset(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_direct_sync_written(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_direct_acked(struct rdsb_engine *e, struct rdsb_path *p, uint64_t acked);
bool rdsb_direct_broken(struct rdsb_engine *e, const struct rdsb_path *p);
void rdsb_direct_copy(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m);

/* sock.c: application sockets */
void rdsb_socks_read_all(struct rdsb_engine *e);
void rdsb_sock_req_done(struct rdsb_engine *e, struct rdsb_msg *m);
void rdsb_sock_open(struct rdsb_engine *e, int ctl_fd);
struct rdsb_sock *rdsb_sock_by_id(struct rdsb_engine *e, uint32_t id);
struct rdsb_sock *rdsb_sock_by_port(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port);
void rdsb_sock_event(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_ev *ev, uint32_t events);
void rdsb_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
void rdsb_socks_reap(struct rdsb_engine *e);
/* Queue a datagram for delivery (takes msg). False if the socket's queue is
 * over its hard limit: the caller keeps msg and stops reading its path. */
bool rdsb_sock_deliver(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_msg *m, bool force);
void rdsb_sock_sent(struct rdsb_engine *e, uint32_t sock_id, uint32_t len);
void rdsb_sock_cong_notify(struct rdsb_engine *e, int peer_slot);
void rdsb_socks_timer(struct rdsb_engine *e, uint64_t *next);
void rdsb_sock_check_cong(struct rdsb_engine *e, struct rdsb_sock *s);
/* Bytes in the delivery stream the application has not read yet. */
uint64_t rdsb_sock_stream_bytes(struct rdsb_engine *e, const struct rdsb_sock *s);
/* ctl.c: one request on a control connection (s is NULL before OPEN). */
struct rdsb_ctl_req;
void rdsb_ctl_handle(struct rdsb_engine *e, struct rdsb_sock *s, int fd, const struct rdsb_ctl_req *req);
/* ATTACH on a fresh control connection: true when the socket took ctl_fd. */
bool rdsb_sock_attach(struct rdsb_engine *e, int ctl_fd, const struct rdsb_ctl_req *req);
void rdsb_sock_attached_event(struct rdsb_engine *e, struct rdsb_sock_ctl *c);
int rdsb_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s, const uint8_t addr[16], uint32_t scope,
		   uint16_t *port);
void rdsb_sock_set_rcvbuf(struct rdsb_engine *e, struct rdsb_sock *s, uint32_t bytes);

/* conn.c: connections, paths, handshake */
struct rdsb_conn *rdsb_conn_get(struct rdsb_engine *e, const uint8_t laddr[16],
				const uint8_t faddr[16], uint32_t scope, bool create);
void rdsb_conn_queue(struct rdsb_engine *e, struct rdsb_conn *c, struct rdsb_msg *m);
void rdsb_path_up(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_path_drop(struct rdsb_engine *e, struct rdsb_path *p, const char *why);
void rdsb_path_connect(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_conn_want_path0(struct rdsb_engine *e, struct rdsb_conn *c);
void rdsb_conns_timer(struct rdsb_engine *e, uint64_t *next);
void rdsb_conn_handshake(struct rdsb_engine *e, struct rdsb_path *p, const struct rdsb_hdr *h);
void rdsb_conn_queue_cong_map(struct rdsb_engine *e, int lslot);
void rdsb_conn_cancel(struct rdsb_engine *e, uint32_t sock_id, const uint8_t faddr[16], uint16_t dport);
void rdsb_conn_free_all(struct rdsb_engine *e);
struct rdsb_msg *rdsb_msg_new(uint32_t len);
void rdsb_msg_free(struct rdsb_msg *m);
void rdsb_path_queue(struct rdsb_engine *e, struct rdsb_path *p, struct rdsb_msg *m);
void rdsb_path_send_ping(struct rdsb_engine *e, struct rdsb_path *p, uint16_t sport, uint16_t dport,
			 bool probe);

/* info.c: RDS_INFO_* records; returns the item size or -ENOPROTOOPT */
int rdsb_info(struct rdsb_engine *e, int optname, void *buf, size_t cap, size_t *total);

/* records.c: the non-blocking record writer */
struct rdsb_writer {
	struct list_head *q;
	size_t *head_off;			/* bytes of the first record already written */
	uint64_t *stream_off;			/* advanced by every byte written */
	void (*encode)(void *ctx, struct rdsb_msg *m);	/* fill m->wire */
	void (*done)(void *ctx, struct rdsb_msg *m);	/* m written whole, unlinked */
	void *ctx;
};
int rdsb_records_write(int fd, struct rdsb_writer *w);	/* 0 or -errno */

/* path_tx.c / path_rx.c */
void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_path_recv(struct rdsb_engine *e, struct rdsb_path *p);
void rdsb_path_feed(struct rdsb_engine *e, struct rdsb_path *p, const uint8_t *rec, size_t len);
void rdsb_path_rx_resume(struct rdsb_engine *e, uint32_t sock_id);
void rdsb_path_rx_unstall(struct rdsb_engine *e, struct rdsb_path *p);

/*
 * A transport, as the kernel's struct rds_transport: what carries a path's
 * stream of whole records. The engine writes records to p->ev.fd and reads
 * records from it; the transport says how many stream bytes the peer has
 * acknowledged. listen starts it (e->listen6 is its EV_LISTEN event, accept
 * its handler); connect opens p->ev.fd and leaves the path CONNECTING with
 * EPOLLOUT wanted, connected completes it; stop undoes listen.
 */
struct rdsb_transport {
	const char *name;
	int trans_id;			/* SO_RDS_TRANSPORT value */
	bool cong_in_bpf;		/* peers' congestion maps are written by BPF */
	int (*listen)(struct rdsb_engine *e);
	void (*accept)(struct rdsb_engine *e, struct rdsb_ev *lev);
	int (*connect)(struct rdsb_engine *e, struct rdsb_path *p);
	void (*connected)(struct rdsb_engine *e, struct rdsb_path *p);
	uint64_t (*acked)(struct rdsb_path *p);
	void (*close)(struct rdsb_path *p, bool reset);
	/* the connection's path count was decided or a path went down:
	 * an accepted socket waiting for a path may take it (NULL: none) */
	void (*paths_changed)(struct rdsb_engine *e, struct rdsb_conn *c);
	void (*stop)(struct rdsb_engine *e);
	/* its own counters for status (NULL: none): fn once per counter */
	void (*counters)(struct rdsb_engine *e, void (*fn)(void *arg, const char *name, uint64_t v), void *arg);
};
extern const struct rdsb_transport rdsb_tcp_transport, rdsb_xdp_transport;
/* The transport the next rdsb_engine_run uses (rds-bpf load --transport). */
extern const struct rdsb_transport *rdsb_engine_transport;
/* rds-bpf load --bpf --sk-msg: applications send on the path sockets (direct_tx.c) */
extern bool rdsb_engine_sk_msg;
/* rds-bpf load --transport xdp --dev IFACE [--mode native|skb] */
struct rdsb_xdp_opts {
	const char *dev;
	bool skb_mode;		/* --mode skb */
	bool mode_set;		/* --mode given: no fallback from native */
};
extern struct rdsb_xdp_opts rdsb_xdp_opts;

bool rdsb_addr_is_local(const uint8_t addr[16], uint32_t scope);

/* Runs until SIGTERM/SIGINT or an UNLOAD request; on_ready once serving. */
int rdsb_engine_run(unsigned int max_paths, bool bpf_path, void (*on_ready)(void *), void *arg);

#endif
