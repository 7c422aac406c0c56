/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* librdsb internals: the per-socket state and the engine connection. */
#ifndef RDSB_LIB_H
#define RDSB_LIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <rds-bpf/rds.h>
#include <rds-bpf/maps.h>
#include "../common/sysctl.h"
#include "../common/ctl_proto.h"

/* The library's own I/O goes straight to the kernel: with the LD_PRELOAD
 * shim, the libc names are ours, and the delivery fd is the RDS fd. */
static inline int sys_socket(int d, int t, int p) { return (int)syscall(SYS_socket, d, t, p); }
static inline int sys_connect(int fd, const void *a, socklen_t l) { return (int)syscall(SYS_connect, fd, a, l); }
static inline int sys_close(int fd) { return (int)syscall(SYS_close, fd); }
static inline ssize_t sys_sendmsg(int fd, const struct msghdr *m, int f) { return syscall(SYS_sendmsg, fd, m, f); }
static inline ssize_t sys_recvmsg(int fd, struct msghdr *m, int f) { return syscall(SYS_recvmsg, fd, m, f); }
static inline ssize_t sys_recv(int fd, void *b, size_t l, int f)
{
	return syscall(SYS_recvfrom, fd, b, l, f, NULL, NULL);
}
static inline int sys_ioctl(int fd, unsigned long r, void *a) { return (int)syscall(SYS_ioctl, fd, r, a); }
static inline int sys_fcntl(int fd, int c, long a) { return (int)syscall(SYS_fcntl, fd, c, a); }
static inline int sys_dup3(int o, int n, int f) { return (int)syscall(SYS_dup3, o, n, f); }
static inline int sys_setsockopt(int fd, int l, int n, const void *v, socklen_t s)
{
	return (int)syscall(SYS_setsockopt, fd, l, n, v, s);
}

/* The library's part of the socket's shared page (after the engine's
 * rdsb_sock_shm): what every process holding the socket (fork) shares: the
 * socket's state, and the locks that keep two processes from interleaving
 * their reads of one record, or their writes of one request, on the
 * delivery stream. */
#define RDSB_SHM_LIB_OFF 2048

/* The socket as the kernel's struct rds_sock has it: shared by every process
 * holding the socket, as a kernel socket is one object whoever holds it. */
struct rdsb_sock_state {
	bool bound, connected;
	uint8_t addr[16], caddr[16];
	uint32_t scope_id, cscope_id;
	uint16_t port, cport;
	int transport;		/* RDS_TRANS_NONE until set or bound */
	int engine_transport;	/* the one the engine runs: SO_RDS_TRANSPORT may select only it */
	bool cong_monitor, recverr, timestamp, tstamp_new;
	struct rds_rx_trace_so rx_traces;	/* SO_RDS_MSG_RXPATH_LATENCY */
	bool has_sent;		/* rs_conn is set: SIOCRDSSETTOS is EINVAL */
	rds_tos_t tos;

	int sk_sndbuf, sk_rcvbuf;	/* as getsockopt reports them (doubled) */

	struct timeval sndtimeo, rcvtimeo;
};

/* rx_again.c: of the records an engine wrote, the last RDSB_DELIV_BATCH read
 * from the stream of epoch (a ring: head the next place, n filled) and
 * those the stream before it ended with (before, n_before). A datagram by
 * its sender's address and ports (key), its number and length (id) and
 * its sender's generation (0: not known). */
struct rdsb_rx_seen {
	uint32_t key, id, gen;
};
struct rdsb_rx_seen_log {
	struct rdsb_rx_seen last[RDSB_DELIV_BATCH], before[RDSB_DELIV_BATCH];
	uint32_t epoch, head, n, n_before;
};
struct rdsb_rx_seen rdsb_rx_seen_of(const struct rdsb_addr *from, const struct rdsb_deliv_hdr *h);
bool rdsb_rx_again(struct rdsb_rx_seen_log *log, uint32_t epoch, struct rdsb_rx_seen d, bool consume,
		   bool engines);

struct rdsb_lib_shm {
	struct rdsb_sock_state st;
	pthread_mutex_t rlock, wlock;	/* process-shared, robust */
	pthread_mutex_t clock;		/* one request/reply at a time on the control connection */
	uint64_t reqs_sent;		/* requests handed to the engine, under wlock */
	uint64_t reqs_streamed;		/* reqs_sent after the last on the stream (reqq.c) */
	/* Engine restarts (reattach.c): the process that moves the socket to
	 * a new engine bumps epoch and publishes the new delivery stream's
	 * inode, so the other processes holding the socket ATTACH to it. */
	uint32_t epoch;
	uint64_t stream_ino;
	uint64_t cong_mask;		/* RDS_CONG_MONITOR ports asked for, replayed */
	/* recv.c, under rlock: the next record's header, or its first
	 * rx_hdr_have bytes, read along with the last payload from the stream
	 * of epoch rx_hdr_epoch (shared: any process may read the next one) */
	uint8_t rx_hdr[RDS_HEADER_SIZE];
	uint32_t rx_hdr_have, rx_hdr_epoch;
	struct rdsb_rx_seen_log rx_seen;	/* recv.c, under rlock */
};

_Static_assert(sizeof(struct rdsb_sock_shm) <= RDSB_SHM_LIB_OFF &&
		       RDSB_SHM_LIB_OFF + sizeof(struct rdsb_lib_shm) <= 4096, "the shared page");

/* copies.c: the ring of a socket's copies, n of them from head (offsets in
 * buf, of size bytes); when tail < head the ring wrapped: they run from
 * head to wrap, then from 0 to tail. undo: tail before the last one; last:
 * where the last one is. */
struct rdsb_copies {
	uint8_t *buf;
	size_t size, head, tail, wrap, undo, last;
	uint64_t n;
};

#define RDSB_RX_NEXT_MAX 4
/* How long the end of a dead engine's stream must stand before the stream
 * is taken for read to its end (reattach.c drained): long enough for the
 * psock backlog's worker to run, which retries a jiffy (up to 10 ms) after
 * it last found no room in the socket */
#define RDSB_STREAM_END_MS 20
/* The most a stream whose stopped engine said its length waits at its end
 * for the rest (reattach.c read_all) */
#define RDSB_STREAM_BACKLOG_MS 2000

struct rdsb_rx_stream {
	int fd;			/* of a stream waiting behind: its own */
	uint32_t epoch;
	struct rdsb_sock_shm *shm;
	const struct rdsb_engine_maps *em;
	uint32_t past_end;	/* times records came past its end (reattach.c drained) */
};

struct rdsb_lsock {
	/* The delivery stream: the library's own descriptor of the socket, not
	 * the application's fd, which close() may take and the next open()
	 * reuse while another thread still blocks in a call on the socket. */
	int fd;
	int refs;		/* the fd table's + one per call in progress (atomic) */
	int ctl;		/* control connection to the engine */
	int spacefd;		/* eventfd: the engine released send space (poll.c) */
	/* recv.c: a recv waited for the stream, and no read since found the
	 * next record behind the one it took: the next recv most likely waits */
	bool rx_waits;
	uint32_t cong_gen_seen;	/* rds_poll's rs_cong_track */
	struct rdsb_sock_shm *shm;
	/* In the page of the engine the socket was opened on (in shm's until
	 * it moves): every process that holds the socket shares it, those
	 * that took it after a move too (RDSB_CTL_LIB_PAGE) */
	struct rdsb_lib_shm *lsh;
	int lsh_fd;			/* that page's memfd */
	struct rdsb_sock_state *st;	/* lsh->st */
	const struct rdsb_engine_maps *em;	/* of the engine the socket is on */

	/* The sk_msg send path (skmsg_send.c): the send socket, or -1; and
	 * the copy ring (txring.c), with the copies the engine reads
	 * (rdsb_txcopy) and the payloads of requests to the engine */
	int txfd;
	uint8_t *ring;
	uint8_t *reqq;		/* the request queue (reqq.c), or NULL */

	/* reattach.c: the engine went away (lost, until the socket is on a
	 * new one); while no engine runs the socket's fds name a placeholder
	 * stream that is never readable and refuses writes (park_peer is its
	 * other end), and a killed engine's stream whose length is not known
	 * yet is kept aside (rx_kept, else -1) for what the kernel still moves
	 * into it. The pages of earlier engines stay mapped until the
	 * socket is freed: threads may still read them. */
	/* copies.c: what was handed to the engine and not yet acknowledged,
	 * oldest first, and the engine's table of their sequence numbers */
	struct rdsb_copies copies;
	const struct rdsb_seq_slot *seqtab;

	bool lost;
	int park_peer, rx_kept;
	uint32_t epoch;
	struct rdsb_page *old_pages;
	/* The stream fd is, of the engine whose page and maps rx says (what
	 * the library read ahead of it is tagged with its epoch, its reads are
	 * counted in its page, its senders named by its address slots), and
	 * the streams of later engines, oldest first, each behind what the one
	 * before still holds unread: a socket moved to a new engine reads what
	 * the engine before delivered to its end before it reads what the new
	 * one delivers, and sends on the newest (reattach.c). */
	struct rdsb_rx_stream rx, rx_next[RDSB_RX_NEXT_MAX];
	int n_rx_next;
	/* watch.c: it sent (the watcher watches its engine); walk_mark:
	 * rdsb_lsocks_held's */
	bool watched;
	uint32_t walk_mark;
};

struct rdsb_page {
	struct rdsb_page *next;
	void *page;
};

/* The socket behind fd with a reference held (NULL: not an RDS socket);
 * every get is paired with a put, which frees the socket after its close. */
struct rdsb_lsock *rdsb_lsock_get(int fd);
void rdsb_lsock_put(struct rdsb_lsock *s);
void rdsb_lsock_hold(struct rdsb_lsock *s);	/* one more reference */
/* The sockets of the fd table that want takes, each once, with a reference
 * held on each (the caller puts them, and frees *out): their count, or -1
 * (no memory). */
int rdsb_lsocks_held(bool (*want)(const struct rdsb_lsock *), struct rdsb_lsock ***out);
/* fd now names s (whose reference the table takes) or, with NULL, no RDS
 * socket; what it named before loses its reference. */
void rdsb_fd_set(int fd, struct rdsb_lsock *s);
/* The value of call, which uses s, made with fd's socket held: -1 with
 * ENOTSOCK when fd is not an RDS socket. */
#define RDSB_WITH_SOCK(fd, s, call) __extension__({ \
	struct rdsb_lsock *s = rdsb_lsock_get(fd); \
	__typeof__(call) r_ = -1; \
	if (!s) { \
		errno = ENOTSOCK; \
	} else { \
		r_ = (call); \
		rdsb_lsock_put(s); \
	} \
	r_; \
})
/* One request/reply on the socket's control connection; returns 0 or -errno. */
int rdsb_ctl_call(struct rdsb_lsock *s, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep);
int rdsb_ctl_call_data(struct rdsb_lsock *s, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep, void *buf,
		       size_t buflen, size_t *got);

/* engines.c: an engine's address table and congestion maps (read-only)
 * and path table (sk_msg send path, or NULL), per network namespace. */
struct rdsb_engine_maps {
	struct rdsb_engine_maps *next;
	uint64_t netns;		/* inode of the namespace */
	uint64_t addrs_ino;	/* of the engine's address table (memfd) */
	const struct rdsb_addr *addrs;
	const struct rdsb_cong_map *congs;
	struct rdsb_txpath *txpaths;	/* both, or neither */
	struct rdsb_txlock *txlocks;	/* the paths' locks (txlock.h) */
};
/* The maps of the caller's namespace's engine, mapped from these fds the
 * first time (txpath_fd and txlock_fd may be -1); NULL if they cannot be
 * mapped. */
const struct rdsb_engine_maps *rdsb_engine_maps(int addrs_fd, int cong_fd, int txpath_fd, int txlock_fd);
int rdsb_addr_find(const struct rdsb_engine_maps *m, const uint8_t addr[16]);
bool rdsb_init_netns(const struct rdsb_engine_maps *m);	/* the engine is in the initial namespace */
bool rdsb_port_congested(const struct rdsb_engine_maps *m, int slot, uint16_t port);

/* skmsg_send.c: the sk_msg send path. rdsb_skmsg_send (under wlock, with
 * s->txfd open, the payload in iov[1..cnt-1]) returns 1 when the datagram
 * went out on the path socket and the engine has its copy, 0 when the
 * engine must send it, or -errno. */
int rdsb_skmsg_send(struct rdsb_lsock *s, const uint8_t daddr[16], uint16_t dport,
		     struct iovec *iov, int cnt, uint32_t len);
/* txring.c: maps the copy ring of the socket's page (shm_fd), replacing
 * any earlier engine's (without one the socket sends through the engine,
 * txfd closed, its payloads on the stream). */
void rdsb_txring_map(struct rdsb_lsock *s, int shm_fd);
/* Whether the engine released the ring up to end (sh: the engine's page) */
bool rdsb_txring_released(const struct rdsb_sock_shm *sh, uint32_t end);
/* Where a payload of len bytes goes with the ring's head at head: there,
 * or at the ring's start when it would pass the socket's window (the
 * ring's first bytes that its sndbuf asks for); never across the end. */
uint32_t rdsb_txring_at(const struct rdsb_lsock *s, uint32_t head, uint32_t len);
/* Whether len bytes at at are clear of every copy the engine holds */
bool rdsb_txring_fits(const struct rdsb_sock_shm *sh, uint32_t at, uint32_t len);
/* The payload in iov[1..cnt-1] into the ring at at (rdsb_txring_at) */
void rdsb_txring_write(struct rdsb_lsock *s, uint32_t at, const struct iovec *iov, int cnt);
/* Under wlock, for a request to the engine with its payload in iov[1..cnt-1]:
 * the payload into the ring and req marked for it (RDSB_REQ_INRING), when
 * it is RDSB_TXRING_MIN or more and there is room; returns how many of the
 * iovecs go on the stream (1: the header alone, else cnt). */
int rdsb_txring_place(struct rdsb_lsock *s, struct rdsb_send_req *req, const struct iovec *iov, int cnt);
/* The request placed it and was not written: its room back, and req as it
 * was before. */
void rdsb_txring_unplace(struct rdsb_lsock *s, struct rdsb_send_req *req);
/* reqq.c: the request queue of the socket's page (shm_fd), replacing any
 * earlier engine's, or none (every request on the stream). */
void rdsb_reqq_map(struct rdsb_lsock *s, int shm_fd);
void rdsb_reqq_unmap(struct rdsb_lsock *s);
/* Under wlock, a request whose payload is in iov[1..cnt-1] or the ring
 * (RDSB_REQ_INRING) into the queue: 1, or 0 when it goes on the stream
 * (rdsb_reqq_drained first), or -errno as a write on the stream would
 * fail (-EPIPE: the engine went, found by the wakeup the queue needed or
 * while the queue was full). */
int rdsb_reqq_put(struct rdsb_lsock *s, const struct rdsb_send_req *req, const struct iovec *iov, int cnt);
/* Under wlock, before a request goes on the stream: waits until the engine
 * took every queued one (0), or went (-EPIPE). */
int rdsb_reqq_drained(struct rdsb_lsock *s);
/* socket.c: this process's pid, from before its first socket (getpid is a
 * system call; a send takes the path's lock as it) */
extern pid_t rdsb_self;
/* A child of vfork (posix_spawn, Python's subprocess) runs in its parent's
 * memory until it execs: what it closes or duplicates in its own descriptor
 * table leaves the parent's sockets table and epoll registrations alone. A
 * child of fork has its own memory and pid (rdsb_self, set at fork). */
static inline bool rdsb_vfork_child(void)
{
	return rdsb_self && getpid() != rdsb_self;
}
int rdsb_write_all(int fd, struct iovec *iov, int cnt);

/* copies.c: copies of the requests written to the engine, kept until it
 * says the peer acknowledged them, written again to the next engine after a
 * kill. rdsb_copies_keep (under wlock, before the request is written;
 * payload in iov) returns 0 or -ENOBUFS (no memory); rdsb_copies_unkeep
 * drops that copy again if the write fails; rdsb_copies_sent_direct (under
 * the path's lock, after rdsb_txmsg numbered it) makes it the copy of a
 * datagram sent on path socket tp (of the connection's path PATH);
 * rdsb_copies_room: fewer copies than the engine's table of sequence
 * numbers holds. */
void rdsb_copies_map(struct rdsb_lsock *s, int shm_fd);
bool rdsb_copies_room(struct rdsb_lsock *s);
int rdsb_copies_keep(struct rdsb_lsock *s, const struct rdsb_send_req *req, const struct iovec *iov, int cnt);
void rdsb_copies_unkeep(struct rdsb_lsock *s);
/* the payloads of copies kept in the copy ring into the copies, before the
 * socket moves to the next engine (its ring goes) */
void rdsb_copies_unring(struct rdsb_lsock *s);
void rdsb_copies_sent_direct(struct rdsb_lsock *s, const struct rdsb_txpath *tp, unsigned int path);
int rdsb_copies_resend(struct rdsb_lsock *s, struct rdsb_sock_shm *old, const struct rdsb_seq_slot *old_tab);
void rdsb_copies_free(struct rdsb_lsock *s);
/* under wlock: copies not acknowledged on the socket's engine's page */
bool rdsb_copies_pending(struct rdsb_lsock *s);
/* watch.c: the thread that moves a socket whose engine died with copies
 * unacknowledged to the next engine, without waiting for a call.
 * rdsb_watch_sent: s sent (started at the first); rdsb_watch_wake: a
 * socket moved to another engine; rdsb_watch_forked: in a child of fork. */
void rdsb_watch_sent(struct rdsb_lsock *s);
void rdsb_watch_wake(void);
void rdsb_watch_forked(void);
void rdsb_copies_forget(struct rdsb_lsock *s);	/* the copies only (a fork's child) */

/* socket.c: the engine's control channel, and its OPEN (or ATTACH) reply's
 * fds, in order (ctl_proto.h); the last three only on the sk_msg send path */
enum { OPEN_STREAM, OPEN_SHM, OPEN_ADDRS, OPEN_CONG, OPEN_SPACE, OPEN_TX, OPEN_TXPATH, OPEN_TXLOCK, OPEN_FDS };
#define OPEN_SKMSG_FDS 3
/* An ATTACH reply has no sk_msg fds; after a move, a sixth: the memfd of
 * the socket's library page (RDSB_CTL_LIB_PAGE) */
#define ATTACH_LIB OPEN_TX
#define ATTACH_FDS (ATTACH_LIB + 1)
int rdsb_engine_open(int ctl, const struct rdsb_ctl_req *req, int fds[OPEN_FDS], int *transport);
void rdsb_close_fds(const int *fds, int nfds);
int rdsb_ctl_xfer(int ctl, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep, void *buf, size_t buflen,
		  size_t *got);
/* the same with fd passed along (SCM_RIGHTS), if not -1 */
int rdsb_ctl_xfer_fd(int ctl, struct rdsb_ctl_req *req, int fd, struct rdsb_ctl_rep *rep, void *buf, size_t buflen,
		     size_t *got);
void rdsb_shared_locks_init(struct rdsb_lib_shm *l);
/* every fd number of this process that names s now names fd's file */
void rdsb_fds_replace(struct rdsb_lsock *s, int fd);

/* reattach.c: an engine that went away (killed, unloaded, replaced).
 * rdsb_engine_gone: s's engine is gone (its control connection hung up).
 * rdsb_engine_back: s is on a running engine again: 0; the same socket
 * (bound address, port, options) opened on the new engine. Waits for one
 * (block) until end_ms (CLOCK_MONOTONIC ms, -1: forever): -EAGAIN without
 * an engine when not blocking, -ETIMEDOUT, -EINTR, or the error of the
 * bind on the new engine (the port was taken meanwhile). */
#define RDSB_ENGINE_RETRY_MS 100
bool rdsb_engine_gone(struct rdsb_lsock *s);
/* The stream ended (or refused a write): the engine went, or closed this
 * socket. A dying engine's fds close one by one, so the control
 * connection's hang-up may follow the stream's end: it is waited for, up to
 * RDSB_ENGINE_RETRY_MS. */
bool rdsb_engine_went(struct rdsb_lsock *s);
int rdsb_engine_back(struct rdsb_lsock *s, bool block, int64_t end_ms);
/* The stream requests go to: the newest engine's. */
static inline int rdsb_tx_fd(const struct rdsb_lsock *s)
{
	return s->n_rx_next ? s->rx_next[s->n_rx_next - 1].fd : s->fd;
}
/* With the read lock held: the socket's stream read to its end, the next
 * engine's takes its place, if one waits behind it (true); true too when
 * records came past the old stream's end meanwhile (read on). */
bool rdsb_stream_next(struct rdsb_lsock *s);
/* The same, taking the read lock: before a poll. */
void rdsb_stream_catch_up(struct rdsb_lsock *s);
int64_t rdsb_now_ms(void);
extern int rdsb_lost_socks;	/* sockets of this process waiting for an engine */

/* epoll.c: s's fds name a new file: its registrations are made again */
void rdsb_epoll_rearm(struct rdsb_lsock *s);

/* poll.c: send space as rds_poll sees it; a waiter for it arms the engine's
 * signal on spacefd, and drains spacefd after waking. */
bool rdsb_send_space(const struct rdsb_lsock *s);
void rdsb_space_arm(struct rdsb_lsock *s, bool on);
void rdsb_space_drain(struct rdsb_lsock *s);

/* socket.c, for the shim: fd came from another process (SCM_RIGHTS, exec):
 * an RDS socket's if the engine knows it (0), else -1; an RDS fd about to
 * be in flight (SCM_RIGHTS) or passed on by exec: the engine keeps the
 * socket for RDSB_HOLD_SECONDS for the next holder to attach. */
int rdsb_attach(int fd);
int rdsb_hold(int fd);
void rdsb_hold_inherited(void);
/* close_range(2) for the shim (real: libc's): the RDS fds in the range
 * close as close() closes them, and the library's own descriptors of the
 * sockets that stay open are not closed. Python's subprocess with pass_fds
 * (vfork, close_range of all the rest, exec) needs the passed socket's
 * control connection at the exec, to ask the engine to keep the socket for
 * the new image; a program that closes all but its sockets keeps them. */
int rdsb_close_range(unsigned int first, unsigned int last, int flags,
		     int (*real)(unsigned int, unsigned int, int));

/* ownfds.c: the library's own descriptors (see there). rdsb_own_alloc
 * with the sockets table; a socket's are marked by rdsb_lsock_own (socket.c)
 * whenever they change, the watcher's one by one; rdsb_own_close unmarks
 * and closes (rdsb_own_unmark: one the application closed). rdsb_own_fd:
 * fd is one of them now (the shim refuses to close or replace it).
 * rdsb_fd_aside: fd, or a duplicate of it out of the program's way (fd
 * closed; -1 if none could be made); rdsb_fd_dup_aside: a duplicate of fd
 * there. rdsb_fd_room_open/close: around making descriptors, so that they
 * need no room under the program's RLIMIT_NOFILE; rdsb_fd_room_limit: the
 * program's soft limit meanwhile (RDSB_FDS_MAX if it was not raised);
 * rdsb_fd_room_forking/forked: pthread_atfork's. */
#define RDSB_FD_ASIDE 1024
#define RDSB_FDS_MAX (1 << 20)
void rdsb_own_alloc(void);
void rdsb_own_sock_fd(int fd);
void rdsb_own_watch_fd(int fd);
void rdsb_own_unmark(int fd);
int rdsb_own_close(int fd);
bool rdsb_own_fd(int fd);
int rdsb_own_max(void);
void rdsb_own_close_watcher(void);
int rdsb_fd_aside(int fd);
int rdsb_fd_dup_aside(int fd);
void rdsb_fd_room_open(void);
void rdsb_fd_room_close(void);
int rdsb_fd_room_limit(void);
void rdsb_fd_room_forking(void);
void rdsb_fd_room_forked(bool child);
/* socket.c: fd is one of the library's descriptors of an open socket; s's
 * descriptors marked as the library's */
bool rdsb_lsocks_hold_fd(int fd);
void rdsb_lsock_own(const struct rdsb_lsock *s);

/* fdops.c: for the shim */
void rdsb_fd_dup(int oldfd, int newfd);
int rdsb_ioctl(int fd, unsigned long req, void *arg);
int rdsb_unsupported(int fd);	/* EOPNOTSUPP on an RDS fd, ENOTSOCK otherwise */
ssize_t rdsb_readv(int fd, const struct iovec *iov, int cnt);
ssize_t rdsb_writev(int fd, const struct iovec *iov, int cnt);
int rdsb_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags);
int rdsb_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo);

/* epoll.c: fd is closing (an epoll fd or an RDS fd) */
void rdsb_epoll_forget(int fd);

void rdsb_lock(pthread_mutex_t *m);	/* a robust one: taken over from a dead holder */

bool rdsb_nonblocking(int fd, int flags);
int rdsb_timeo_ms(const struct timeval *tv);	/* -1: forever */
/* A send or recv whose wait a signal's handler interrupted (-EINTR, before
 * it took or wrote anything): the kernel's rds_sendmsg and rds_recvmsg
 * return -ERESTARTSYS, which restarts the call where the handler has
 * SA_RESTART and fails it with EINTR where not. The library's waits (poll,
 * futex) end with EINTR either way, and which signal came is not known
 * here: the call restarts when every handler the process has installed has
 * SA_RESTART. */
bool rdsb_restarts(void);

#endif
