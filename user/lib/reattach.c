// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * An engine that goes away (killed, unloaded, replaced) and the sockets on
 * it. The socket is the application's, not the engine's: when a new engine
 * runs in the namespace, the socket is opened on it again with the same
 * bound address and port, buffer sizes and congestion monitoring, and every
 * fd number that named the old delivery stream names the new one (dup3, so
 * the numbers, FD_CLOEXEC and O_NONBLOCK stay; epoll registrations are made
 * again). Until then the socket is parked: its fds name a placeholder stream
 * that is never readable and refuses writes, so poll and epoll sleep, and
 * the calls that wait look for a new engine every RDSB_ENGINE_RETRY_MS.
 * A socket is parked only once its old stream is read to the end, and the
 * stream of an engine found running waits behind it (rdsb_stream_next): what
 * the engine before delivered is received whatever call finds the new
 * engine first (a send, a poll), and received first.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include "lib.h"

int rdsb_lost_socks;

int64_t rdsb_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void set_lost(struct rdsb_lsock *s, bool lost)
{
	if (s->lost == lost)
		return;
	s->lost = lost;
	if (lost)
		__atomic_add_fetch(&rdsb_lost_socks, 1, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&rdsb_lost_socks, 1, __ATOMIC_RELAXED);
}

bool rdsb_engine_gone(struct rdsb_lsock *s)
{
	struct pollfd p = { .fd = s->ctl, .events = POLLIN };

	if (__atomic_load_n(&s->lost, __ATOMIC_ACQUIRE))
		return true;
	if (__atomic_load_n(&s->shm->closed, __ATOMIC_ACQUIRE))
		return false;
	/* the engine never writes unasked: a hang-up is the only event */
	return syscall(SYS_poll, &p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

bool rdsb_engine_went(struct rdsb_lsock *s)
{
	struct pollfd p = { .fd = s->ctl, .events = POLLIN };

	if (__atomic_load_n(&s->lost, __ATOMIC_ACQUIRE))
		return true;
	return syscall(SYS_poll, &p, 1, RDSB_ENGINE_RETRY_MS) == 1 && (p.revents & (POLLHUP | POLLERR)) &&
	       !__atomic_load_n(&s->shm->closed, __ATOMIC_ACQUIRE);
}

static bool at_end(int fd)
{
	char c;

	return sys_recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The dead engine whose stream this process last found at its end first,
 * and when: an engine's streams all end at its death, so their backlogs
 * (below) need one wait between them, not one each, which a program that
 * touches its sockets one after the other would pay for each. (An engine's
 * maps are never freed: the pointer names one engine.) */
static const struct rdsb_engine_maps *end_engine;
static int64_t end_first_ms;

/* An engine that stopped said how many bytes its stream carried in all
 * (rdsb_sock_shm rx_end), or the engine after one that was killed did
 * (stream_end): at its end, the stream is read once they all were. Those
 * still in the psock's backlog come as the kernel's worker moves them, a
 * jiffy or more after it last found no room: waited for (with the socket's
 * locks, as a read waits), up to RDSB_STREAM_BACKLOG_MS, which only what
 * the kernel dropped, or a kill inside a write (rx_written), runs into. */
static bool read_all(struct rdsb_lsock *s, uint64_t total)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	int64_t until = rdsb_now_ms() + RDSB_STREAM_BACKLOG_MS;

	while (rdsb_now_ms() < until) {
		if (__atomic_load_n(&s->rx.shm->rx_consumed, __ATOMIC_ACQUIRE) >= total)
			return true;
		nanosleep(&ms, NULL);
		if (!at_end(s->fd)) {
			s->rx.past_end++;
			return false;
		}
	}
	return true;
}

/* The old stream read to its end (the engine's last records taken). On the
 * BPF receive path what the verdict redirected into the socket just before
 * its engine died can still be in the psock's backlog, which a kernel
 * worker moves into the socket's queue after the reader found that queue
 * empty and the engine's end closed. An engine that stopped said how much
 * to read (read_all), and so did the engine after one that was killed
 * (stream_end); else the end counts once it has stood RDSB_STREAM_END_MS
 * since this process first found one, and, once records came past this
 * stream's end (the worker moving a backlog into a socket with little
 * room, a jiffy after each time it found none), each time. */
static bool drained(struct rdsb_lsock *s)
{
	uint64_t end = __atomic_load_n(&s->rx.shm->rx_end, __ATOMIC_ACQUIRE);
	int64_t now, since;
	struct timespec wait;

	if (s->park_peer >= 0)
		return true;
	if (!at_end(s->fd))
		return false;
	if (end)
		return read_all(s, end - 1);
	now = rdsb_now_ms();
	since = __atomic_load_n(&end_first_ms, __ATOMIC_RELAXED);
	if (__atomic_load_n(&end_engine, __ATOMIC_RELAXED) != s->rx.em) {
		since = now;
		__atomic_store_n(&end_first_ms, now, __ATOMIC_RELAXED);
		__atomic_store_n(&end_engine, s->rx.em, __ATOMIC_RELAXED);
	}
	if (s->rx.past_end)
		since = now;
	if (now >= since + RDSB_STREAM_END_MS)
		return true;
	wait = (struct timespec){ .tv_nsec = (long)(since + RDSB_STREAM_END_MS - now) * 1000000L };
	nanosleep(&wait, NULL);
	if (at_end(s->fd))
		return true;
	s->rx.past_end++;
	return false;
}

/* fd becomes the socket's stream in every fd number of it, with the old
 * stream's O_NONBLOCK. */
static void stream_replace(struct rdsb_lsock *s, int fd)
{
	int fl = sys_fcntl(s->fd, F_GETFL, 0);

	if (fl >= 0 && (fl & O_NONBLOCK))
		sys_fcntl(fd, F_SETFL, sys_fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
	rdsb_fds_replace(s, fd);
	sys_dup3(fd, s->fd, O_CLOEXEC);
	rdsb_own_close(fd);
	rdsb_epoll_rearm(s);
}

/* With every lock of the socket held: true when the stream moved, or
 * records came past the old one's end (rdsb_stream_next) */
static bool stream_next_locked(struct rdsb_lsock *s)
{
	uint32_t past_end = s->rx.past_end;

	if (!s->n_rx_next)
		return false;
	if (!drained(s))
		return s->rx.past_end != past_end;
	stream_replace(s, s->rx_next[0].fd);
	s->rx = s->rx_next[0];
	s->n_rx_next--;
	memmove(s->rx_next, s->rx_next + 1, sizeof(s->rx_next[0]) * (size_t)s->n_rx_next);
	return true;
}

bool rdsb_stream_next(struct rdsb_lsock *s)
{
	bool moved;

	if (!__atomic_load_n(&s->n_rx_next, __ATOMIC_ACQUIRE))
		return false;
	rdsb_lock(&s->lsh->wlock);
	rdsb_lock(&s->lsh->clock);
	moved = stream_next_locked(s);
	pthread_mutex_unlock(&s->lsh->clock);
	pthread_mutex_unlock(&s->lsh->wlock);
	return moved;
}

void rdsb_stream_catch_up(struct rdsb_lsock *s)
{
	if (!__atomic_load_n(&s->n_rx_next, __ATOMIC_ACQUIRE))
		return;
	rdsb_lock(&s->lsh->rlock);
	while (rdsb_stream_next(s))
		;
	pthread_mutex_unlock(&s->lsh->rlock);
}

/* The new engine's stream fd: in the socket's fds at once if the one it
 * replaces is read to its end, else behind it (and the streams of engines
 * between them). Never more than RDSB_RX_NEXT_MAX wait: reattach_locked. */
static void stream_join(struct rdsb_lsock *s, int fd)
{
	struct rdsb_rx_stream rx = { .fd = fd, .epoch = s->epoch, .shm = s->shm, .em = s->em };

	while (stream_next_locked(s))
		;
	if (s->n_rx_next || !drained(s)) {
		s->rx_next[s->n_rx_next] = rx;
		__atomic_store_n(&s->n_rx_next, s->n_rx_next + 1, __ATOMIC_RELEASE);
		return;
	}
	stream_replace(s, fd);
	s->rx = rx;
}

/* A killed engine's stream on the BPF receive path: its length is not
 * known until the next engine says it (stream_end) */
static bool end_unknown(const struct rdsb_lsock *s)
{
	return !__atomic_load_n(&s->rx.shm->rx_end, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&s->rx.shm->rx_index, __ATOMIC_ACQUIRE);
}

static int park(struct rdsb_lsock *s)
{
	int pl[2];

	if (s->park_peer >= 0)
		return -EAGAIN;
	/* the streams of engines that went since: read first */
	if (s->n_rx_next) {
		stream_next_locked(s);
		return -EAGAIN;
	}
	if (!drained(s) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pl) < 0)
		return -EAGAIN;
	pl[0] = rdsb_fd_aside(pl[0]);
	pl[1] = rdsb_fd_aside(pl[1]);
	if (pl[0] < 0 || pl[1] < 0) {
		rdsb_close_fds(pl, 2);
		return -EAGAIN;
	}
	/* what the kernel moves into it yet is read once an engine runs */
	if (end_unknown(s))
		s->rx_kept = rdsb_fd_dup_aside(s->fd);
	shutdown(pl[1], SHUT_RD);	/* writes to pl[0] fail with EPIPE */
	stream_replace(s, pl[0]);
	s->park_peer = pl[1];
	return -EAGAIN;
}

/* Of a killed engine's stream, the next engine (on ctl) holds what its
 * verdict delivered into it (the old rdsb_rcvq), and its page what the
 * engine wrote: their sum goes into the page as a stopping engine's
 * rx_end would (for every process holding the socket), and the stream is
 * read to that end (drained), however late the kernel moves the last of
 * it. Asked before the new stream joins, for the stream read now only
 * (engines that died one after the other leave the later ones to the
 * 20 ms rule). */
static void stream_end(struct rdsb_lsock *s, int ctl)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_STREAM_END };
	int fd = s->park_peer >= 0 ? s->rx_kept : s->fd;
	struct rdsb_ctl_rep rep;
	socklen_t len = sizeof(req.val);
	uint64_t none = 0;
	size_t got;

	if (s->n_rx_next || !end_unknown(s) || fd < 0)
		return;
	req.arg = __atomic_load_n(&s->rx.shm->rx_index, __ATOMIC_ACQUIRE);
	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &req.val, &len) ||
	    rdsb_ctl_xfer(ctl, &req, &rep, NULL, 0, &got) || !rep.val)
		return;
	/* rep.val is 1 + the verdict's bytes; rx_end 1 + the length; the
	 * engine that wrote the page is gone */
	__atomic_compare_exchange_n(&s->rx.shm->rx_end, &none,
				    __atomic_load_n(&s->rx.shm->rx_written, __ATOMIC_ACQUIRE) + rep.val, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The options the engine keeps, set again on the new one. */
static int replay(int ctl, struct rdsb_lsock *s)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_BIND, .val = RDSB_BIND_AGAIN };
	struct rdsb_ctl_rep rep;
	size_t got;
	int err;

	/* the library page the other processes holding the socket share, for
	 * those that take it from this engine (ATTACH) */
	req.op = RDSB_CTL_LIB_PAGE;
	err = rdsb_ctl_xfer_fd(ctl, &req, s->lsh_fd, &rep, NULL, 0, &got);
	if (err)
		return err;
	req = (struct rdsb_ctl_req){ .op = RDSB_CTL_BIND, .val = RDSB_BIND_AGAIN };
	if (s->st->bound) {
		memcpy(req.addr, s->st->addr, 16);
		req.scope_id = s->st->scope_id;
		req.port = s->st->port;
		err = rdsb_ctl_xfer(ctl, &req, &rep, NULL, 0, &got);
		if (err)
			return err;
	}
	for (uint32_t rcv = 0; rcv < 2; rcv++) {
		req = (struct rdsb_ctl_req){ .op = RDSB_CTL_SET_BUF, .arg = rcv,
					     .val = (uint64_t)(rcv ? s->st->sk_rcvbuf : s->st->sk_sndbuf) / 2 };
		rdsb_ctl_xfer(ctl, &req, &rep, NULL, 0, &got);
	}
	if (s->lsh->cong_mask) {
		req = (struct rdsb_ctl_req){ .op = RDSB_CTL_CONG_MONITOR, .val = s->lsh->cong_mask };
		rdsb_ctl_xfer(ctl, &req, &rep, NULL, 0, &got);
	}
	return 0;
}

/* The socket moves to the engine whose OPEN or ATTACH reply fds is. */
static int swap_in(struct rdsb_lsock *s, int ctl, int *fds, int nfds, int transport, bool opened)
{
	const struct rdsb_engine_maps *em;
	struct rdsb_page *old = malloc(sizeof(*old));
	struct rdsb_sock_shm *page, *prev = s->shm;
	const struct rdsb_seq_slot *prev_tab = s->seqtab;
	struct stat st;

	/* the new stream is the library's until it replaces the old one */
	fds[OPEN_STREAM] = rdsb_fd_aside(fds[OPEN_STREAM]);
	em = rdsb_engine_maps(fds[OPEN_ADDRS], fds[OPEN_CONG], nfds == OPEN_FDS ? fds[OPEN_TXPATH] : -1,
			      nfds == OPEN_FDS ? fds[OPEN_TXLOCK] : -1);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[OPEN_SHM], 0);
	if (!old || !em || page == MAP_FAILED || fds[OPEN_STREAM] < 0) {
		if (page != MAP_FAILED)
			munmap(page, 4096);
		free(old);
		rdsb_close_fds(fds, nfds);
		sys_close(ctl);
		return -ENOMEM;
	}
	if (opened) {
		s->lsh->stream_ino = fstat(fds[OPEN_STREAM], &st) ? 0 : st.st_ino;
		s->lsh->epoch++;
	}
	s->epoch = s->lsh->epoch;
	s->lsh->reqs_sent = 0;	/* the new engine counts from 0 */
	s->lsh->reqs_streamed = 0;
	s->st->engine_transport = transport;
	/* the old page stays mapped: other threads may be reading it */
	old->page = s->shm;
	old->next = s->old_pages;
	if ((char *)s->shm != (char *)s->lsh - RDSB_SHM_LIB_OFF)
		s->old_pages = old;
	else
		free(old);	/* the first page holds lsh: kept as s->lsh */
	__atomic_store_n(&s->shm, page, __ATOMIC_RELEASE);
	s->em = em;
	if (s->rx_kept >= 0) {
		/* the old stream in front again, to be read to its end */
		stream_replace(s, s->rx_kept);
		s->rx_kept = -1;
		rdsb_own_close(s->park_peer);
		s->park_peer = -1;
	}
	stream_join(s, fds[OPEN_STREAM]);
	sys_dup3(ctl, s->ctl, O_CLOEXEC);
	sys_close(ctl);
	sys_dup3(fds[OPEN_SPACE], s->spacefd, O_CLOEXEC);
	sys_close(fds[OPEN_SPACE]);
	if (nfds == OPEN_FDS && em->txpaths) {
		if (s->txfd >= 0) {
			sys_dup3(fds[OPEN_TX], s->txfd, O_CLOEXEC);
			sys_close(fds[OPEN_TX]);
		} else {
			s->txfd = fds[OPEN_TX];
		}
	} else if (s->txfd >= 0) {
		rdsb_own_close(s->txfd);	/* sends go through the engine */
		s->txfd = -1;
	}
	if (nfds == OPEN_FDS && !em->txpaths)
		sys_close(fds[OPEN_TX]);
	if (nfds == OPEN_FDS) {
		sys_close(fds[OPEN_TXPATH]);
		sys_close(fds[OPEN_TXLOCK]);
	}
	rdsb_copies_unring(s);	/* before the ring goes */
	rdsb_txring_map(s, fds[OPEN_SHM]);
	rdsb_reqq_map(s, fds[OPEN_SHM]);
	s->seqtab = NULL;	/* the old one is read below */
	rdsb_copies_map(s, fds[OPEN_SHM]);
	sys_close(fds[OPEN_SHM]);
	sys_close(fds[OPEN_ADDRS]);
	sys_close(fds[OPEN_CONG]);
	if (s->park_peer >= 0) {
		rdsb_own_close(s->park_peer);
		s->park_peer = -1;
	}
	set_lost(s, false);
	/* what the engine before took and the peer did not acknowledge */
	rdsb_copies_resend(s, prev, prev_tab);
	if (prev_tab)
		munmap((void *)prev_tab, RDSB_SEQTAB_BYTES);
	if (s->watched)
		rdsb_watch_wake();	/* an engine to watch */
	return 0;
}

/* One try, with every lock of the socket held: 0 on a running engine,
 * -EAGAIN while none runs, or the new engine's refusal. */
static int reattach_locked(struct rdsb_lsock *s)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_ATTACH };
	int fds[OPEN_FDS], ctl, nfds, transport, err;
	bool opened = false;

	if (!rdsb_engine_gone(s))
		return 0;	/* another thread moved it */
	set_lost(s, true);
	if (s->n_rx_next == RDSB_RX_NEXT_MAX && !drained(s))
		return -EAGAIN;	/* engines died faster than the application reads */
	ctl = rdsb_engine_connect();
	if (ctl < 0)
		return park(s);
	nfds = -ENOENT;
	if (s->epoch != s->lsh->epoch) {
		/* another process holding the socket moved it already */
		req.val = s->lsh->stream_ino;
		nfds = rdsb_engine_open(ctl, &req, fds, &transport);
	}
	if (nfds == -ENOENT) {
		opened = true;
		nfds = rdsb_engine_open(ctl, &(struct rdsb_ctl_req){ .op = RDSB_CTL_OPEN }, fds, &transport);
		err = nfds < 0 ? nfds : replay(ctl, s);
		if (!err)
			stream_end(s, ctl);
		if (err && nfds >= 0)
			rdsb_close_fds(fds, nfds);
		nfds = err ? err : nfds;
	}
	if (nfds < 0) {
		sys_close(ctl);
		/* an engine still starting (or stopping) refuses: try again */
		return nfds == -EAFNOSUPPORT || nfds == -EPIPE ? park(s) : nfds;
	}
	return swap_in(s, ctl, fds, nfds, transport, opened);
}

static int reattach(struct rdsb_lsock *s)
{
	int err;

	rdsb_lock(&s->lsh->rlock);
	rdsb_lock(&s->lsh->wlock);
	rdsb_lock(&s->lsh->clock);
	rdsb_fd_room_open();
	err = reattach_locked(s);
	rdsb_fd_room_close();
	rdsb_lsock_own(s);	/* its descriptors now */
	pthread_mutex_unlock(&s->lsh->clock);
	pthread_mutex_unlock(&s->lsh->wlock);
	pthread_mutex_unlock(&s->lsh->rlock);
	return err;
}

int rdsb_engine_back(struct rdsb_lsock *s, bool block, int64_t end_ms)
{
	for (;;) {
		int64_t wait = RDSB_ENGINE_RETRY_MS;
		struct timespec ts;
		int err = reattach(s);

		if (err != -EAGAIN || !block)
			return err;
		if (end_ms >= 0) {
			int64_t left = end_ms - rdsb_now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			if (left < wait)
				wait = left;
		}
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = wait % 1000 * 1000000;
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			return -EINTR;
	}
}
