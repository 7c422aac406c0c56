/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The RDS/TCP transport's own state, which the core never looks into, and
 * its three BPF features, each a C half here beside its BPF half:
 * sockops.{c,bpf.c}     acknowledgements and per-path TCP state, every load
 * sockmap_rx.{c,bpf.c}  the sockmap receive path (load --bpf)
 * skmsg_tx.{c,bpf.c}    the sk_msg send path (load --bpf --sk-msg)
 */
#ifndef RDSB_TCP_H
#define RDSB_TCP_H

#include "../../user/engine/engine.h"

struct bpf_link;
struct ring_buffer;

/* The record parser of a path socket */
struct tcp_reader {
	uint8_t hdr[RDS_HEADER_SIZE];
	size_t hdr_have;
	struct rdsb_hdr h;
	struct rdsb_msg *m;		/* the record's message, its payload so far */
	size_t have;
	uint8_t *buf;			/* bytes read, not yet parsed */
	size_t off, len;
};
/* tcp_stream.c. The xmit op: p's queue on p->ev.fd; tcp_path(p)->written
 * counts its stream bytes and becomes each message's end_off. 0 or -errno. */
int tcp_stream_xmit(struct rdsb_engine *e, struct rdsb_path *p);
/* Around it: on the sk_msg send path, the path's lock (-EAGAIN: not now) */
int tcp_stream_xmit_prepare(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_stream_xmit_complete(struct rdsb_engine *e, struct rdsb_path *p);
/* The recv_path op: read p->ev.fd (after the inbox, on the sockmap receive
 * path) and hand each record to rdsb_recv_msg. */
void tcp_stream_recv(struct rdsb_engine *e, struct rdsb_path *p);
/* Whole records from elsewhere, parsed as if read from p (between records). */
void tcp_stream_feed(struct rdsb_engine *e, struct rdsb_path *p, struct tcp_reader *r,
		     const uint8_t *rec, size_t len);
void tcp_reader_reset(struct tcp_reader *r);	/* the socket is gone */
void tcp_reader_free(struct tcp_reader *r);


/* Accepted sockets waiting for a free path (tcp.c: park): at most
 * TCP_MAX_PARKED_PEER from one peer address, so that one address cannot take
 * the places of others (a connect storm of 32 peers parks 7 lanes each) */
#define TCP_MAX_PARKED_PEER (2 * RDS_MPATH_WORKERS)
#define TCP_MAX_PARKED (64 * RDS_MPATH_WORKERS)
struct tcp_parked {
	struct rdsb_conn *c;
	int fd;
	uint16_t lport, fport;
};

struct rdsb_tcp {			/* e->tp_priv */
	struct rdsb_ev listen;
	uint16_t port_low, port_high;	/* ip_local_port_range */
	uint32_t port_group;
	struct tcp_parked parked[TCP_MAX_PARKED];
	unsigned int nparked;

	/* The rdsb_events ring: acks (sockops), congestion maps and receive
	 * queues (sockmap_rx). */
	struct ring_buffer *events;
	struct rdsb_ev events_ev;
	uint64_t events_lost;		/* bpf_events_lost when last looked at */
	uint64_t events_lost_at;	/* when to look again */
	uint64_t events_lost_said;	/* when the log said so */

	/* sockops.c; tcppath NULL = acknowledgements polled */
	void *sockops_obj;
	struct bpf_link *sockops_link;
	char cgroup[256];		/* where it is attached */
	int tcpsk_fd;
	struct rdsb_tcppath *tcppath;	/* mmap of rdsb_tcppath */
	struct rdsb_path **tcp_at;	/* entry -> path */

	/* sockmap_rx.c; sockmap_obj NULL = off */
	void *sockmap_obj;
	int pathsk_fd, rxpath_fd, socks_fd, bound_fd;
	struct rdsb_rcvq *rcvq;		/* mmap of rdsb_rcvq */
	struct rdsb_sock **sock_at;	/* index -> socket */
	struct rdsb_rxack *rxack;	/* mmap of rdsb_rxack */
	struct rdsb_path **rxack_at;	/* entry -> path */
	struct rdsb_ev inbox_ev;	/* the engine's end of rdsb_inbox */
	int inbox_peer;			/* kept open: the pair stays connected */
	struct rdsb_ev out_ev;		/* the engine's end of rdsb_outbox (deliveries) */
	int out_peer;
	uint32_t *out_to;		/* mmap of rdsb_out_to: the socket they go to */
	uint8_t *inbox_buf;		/* one whole record at most */
	size_t inbox_len;
	unsigned int gates_closed;	/* sockets handed over from the inbox */
	uint64_t inbox_records;		/* read from the inbox */
	struct rdsb_hash paths_by_cookie;	/* rdsb_tcp_path.cookie_node */

	/* skmsg_tx.c; txpath NULL = off */
	void *skmsg_obj;
	int txpath_fd, txsk_fd, apptx_fd, txsock_fd, tx_listen;
	struct rdsb_txpath *txpath;	/* mmap of rdsb_txpath */
	int txlock_fd;			/* the paths' locks (txlock.h), a memfd */
	struct rdsb_txlock *txlock;	/* its mmap, at rdsb_txpath's indexes */
	pid_t self;			/* the engine's pid, as a lock's holder */
	struct rdsb_txseq *txseq;	/* mmap of rdsb_txseq, the engine's alone */
	struct rdsb_path **tx_owner;	/* which path has each entry */
	uint64_t tx_pass[RDSB_MAX_ADDRS];	/* per connection: the engine's pass (e->now) */
	unsigned int tx_pass_datagrams[RDSB_MAX_ADDRS];	/* and applications' datagrams it wrote */
	struct ring_buffer *copies;	/* rdsb_txcopy */
	struct rdsb_ev copies_ev;	/* a sender asked for them to be read */
	const uint64_t *copies_prod, *copies_cons;	/* its positions */
	uint32_t copies_gen;		/* one more per reading of them */
};

struct rdsb_tcp_path {			/* p->t_data */
	struct rdsb_path *path;
	uint64_t cookie;		/* on the sockmap receive path: its socket cookie; 0 = not */
	int rxack;			/* and its rdsb_rxack entry; -1 = none */
	struct rdsb_hnode cookie_node;	/* in paths_by_cookie while cookie is set */
	int tcp_index;			/* its rdsb_tcppath entry; -1 = none */
	bool direct;			/* in rdsb_txsk: applications write on it too */
	bool copies_pending;		/* read the streams before writing again */
	bool tx_busy;			/* an application held the lock: write later */
	bool tx_locked;			/* the engine holds the lock while it writes */
	unsigned int tx_datagrams;	/* applications' datagrams it wrote that time */
	uint32_t epoch;			/* rdsb_txpath's: one more per socket */
	uint64_t written;		/* stream bytes written on this socket */
	uint64_t acked;			/* of those, acknowledged at the last look */
	uint64_t acked_base;		/* the socket's tcpi_bytes_acked when its path came up */
	uint64_t ack_poll_at;		/* SIOCOUTQ is asked again from then; 0 = all acked */
	uint64_t ack_polled;		/* what the last SIOCOUTQ found acknowledged */
	unsigned int ack_polls_idle;	/* SIOCOUTQs in a row that found nothing new */
	uint32_t acked_gen;		/* copies_gen when it was looked at */
	struct tcp_reader rx;		/* the record parser of this socket */
};

struct rdsb_tcp_sock {			/* s->t_data */
	int idx;			/* in rdsb_socks / rdsb_rcvq; -1 = none */
	int tx_peer;			/* engine end of the send socket's connection */
	uint16_t tx_lport;		/* the send socket's local port; 0 = none */
	uint8_t *ring;			/* its copy ring (rdsb_txcopy), or NULL */
	bool gated;			/* its gate (rdsb_rcvq) is closed */
	uint64_t gated_read;		/* RDSB_RX_GATED records read from the inbox */
	uint64_t inbox_before;		/* records the verdict sent the inbox by the bind */
};

static inline struct rdsb_tcp *tcp_of(const struct rdsb_engine *e)
{
	return e->tp_priv;
}

static inline struct rdsb_tcp_path *tcp_path(const struct rdsb_path *p)
{
	return p->t_data;
}

static inline struct rdsb_tcp_sock *tcp_sock(const struct rdsb_sock *s)
{
	return s->t_data;
}

/* tcp_info.c: RDS_INFO_TCP_SOCKETS */
int tcp_info(struct rdsb_engine *e, int optname, struct rdsb_info_out *o);

/* sockops.c */
int tcp_sockops_init(struct rdsb_engine *e);
void tcp_sockops_exit(struct rdsb_engine *e);
void tcp_sockops_mark(struct rdsb_engine *e, int fd);
void tcp_sockops_path_up(struct rdsb_engine *e, struct rdsb_path *p);
uint32_t tcp_min_rtt_us(int fd);
void tcp_sockops_path_down(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_sockops_ack_wait(struct rdsb_engine *e, struct rdsb_path *p, bool waiting);
bool tcp_sockops_acked_off(struct rdsb_engine *e, const struct rdsb_path *p, uint64_t *acked);
void tcp_sockops_acked(struct rdsb_engine *e, uint32_t index);

/* sockmap_rx.c */
int tcp_sockmap_init(struct rdsb_engine *e, bool asked);
/* rds-bpf features: load the programs (no maps shared, nothing attached);
 * 0 or -errno, with how they read the strparser offset and a hint */
int tcp_sockmap_probe(const char **how, const char **hint);
void tcp_sockmap_exit(struct rdsb_engine *e);
void tcp_sockmap_fall_back(struct rdsb_engine *e);
int tcp_events_init(struct rdsb_engine *e, int ring_fd);
void tcp_events_exit(struct rdsb_engine *e);
void tcp_events_read(struct rdsb_engine *e);
void tcp_events_lost_check(struct rdsb_engine *e, uint64_t *next);
void tcp_sockmap_inbox_read(struct rdsb_engine *e);
void tcp_sockmap_gates_open(struct rdsb_engine *e);
/* the verdict's rebind time, as the engine's and its held ports say */
void tcp_sockmap_rebind_sync(struct rdsb_engine *e);
void tcp_sockmap_path_add(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_sockmap_path_del(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_sockmap_path_sync(struct rdsb_engine *e, struct rdsb_path *p, bool to_bpf);
void tcp_sockmap_sock_open(struct rdsb_engine *e, struct rdsb_sock *s);
void tcp_sockmap_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s);
void tcp_sockmap_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
uint64_t tcp_sockmap_sock_delivered(struct rdsb_engine *e, const struct rdsb_sock *s);
void tcp_sockmap_rx_taken(struct rdsb_engine *e, struct rdsb_path *p, uint64_t n);
void tcp_sockmap_rx_ack_sent(struct rdsb_engine *e, struct rdsb_path *p, uint64_t sent, bool arm);
void tcp_sockmap_sock_arm(struct rdsb_engine *e, struct rdsb_sock *s, uint64_t room);
int tcp_sockmap_sock_out(struct rdsb_engine *e, struct rdsb_sock *s);
void tcp_sockmap_sock_out_wait(struct rdsb_engine *e);
void tcp_sockmap_outbox_ready(struct rdsb_engine *e);

/* skmsg_tx.c */
int tcp_skmsg_probe(const char **how, const char **hint);
int tcp_skmsg_init(struct rdsb_engine *e, bool asked);
void tcp_skmsg_exit(struct rdsb_engine *e);
int tcp_skmsg_sock_open(struct rdsb_engine *e, struct rdsb_sock *s);
void tcp_skmsg_sock_bind(struct rdsb_engine *e, struct rdsb_sock *s);
void tcp_skmsg_sock_close(struct rdsb_engine *e, struct rdsb_sock *s);
int tcp_skmsg_begin(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_skmsg_read_copies(struct rdsb_engine *e, uint64_t *next);
void tcp_skmsg_drain(struct rdsb_engine *e);
void tcp_skmsg_conn_moving(struct rdsb_engine *e, struct rdsb_conn *c);
void tcp_skmsg_end(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_skmsg_path_down(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_skmsg_seq_reset(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_skmsg_sync_written(struct rdsb_engine *e, struct rdsb_path *p);
/* What TCP has acknowledged of the path's stream now (SIOCOUTQ), not the
 * sock_ops count, which misses an ack without an RTT sample */
uint64_t tcp_path_acked_now(struct rdsb_engine *e, struct rdsb_path *p);
void tcp_skmsg_acked(struct rdsb_engine *e, struct rdsb_path *p, uint64_t acked);
bool tcp_skmsg_broken(struct rdsb_engine *e, const struct rdsb_path *p);

#endif
