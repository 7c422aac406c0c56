// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The copies' watcher. What a killed engine took and the peer did not
 * acknowledge lives on only in the library's copies (copies.c), in this
 * process, and goes to the next engine when the socket moves to it
 * (reattach.c), which any call on the socket does. A process that sent and
 * then does nothing with the socket (it waits on something else) would
 * leave those datagrams unsent, and the next engine's paths waiting for
 * their numbers (the resend window, seqstate.c). The kernel delivers what
 * sendmsg accepted whatever its sender does next.
 *
 * So one thread per process, started by the first send, sleeps in poll on a
 * pidfd of each engine that a socket which has sent is on (readable when
 * that process exits), and on an eventfd that says there may be a new
 * engine to watch (a socket sent for the first time, or moved to another
 * engine). When an engine is gone, each socket of it with copies
 * unacknowledged is moved to the next engine as a call would move it, which
 * sends the copies again: every RDSB_ENGINE_RETRY_MS until one runs, or the
 * application closed the socket. Sockets with nothing unacknowledged are
 * left to the application's next call. The thread holds no socket while it
 * sleeps (a close is the application's at once) and blocks every signal
 * (they are the application's); a child of fork has no thread until its
 * first send. Not watched: a socket of another network namespace's engine
 * than the thread's (a thread that called setns), and an engine whose
 * process this one cannot see (another pid namespace): their sockets are
 * left to the application's calls.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include "lib.h"

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static int wake_fd = -1;	/* -1: no thread */

/* The watcher's own (no lock): the engines it has a pidfd of. */
struct watched_engine {
	const struct rdsb_engine_maps *em;
	int pidfd;		/* -1: it exited, or was not the engine */
	bool used;		/* by a socket in the last walk */
};
#define WATCHED_MAX 8

struct watcher {
	int wake;
	uint64_t netns;
	struct watched_engine eng[WATCHED_MAX];
	int n;
};

static bool has_sent(const struct rdsb_lsock *s)
{
	return __atomic_load_n(&s->watched, __ATOMIC_ACQUIRE);
}

/* A pidfd of s's engine, found by its control connection's peer; checked
 * to be that engine's after it is open (a pid the dead engine's could have
 * been reused by then: its control connection would have hung up). */
static void watch_engine(struct watcher *w, struct rdsb_lsock *s)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd;

	for (int i = 0; i < w->n; i++)
		if (w->eng[i].em == s->em) {
			w->eng[i].used = true;
			return;
		}
	if (w->n == WATCHED_MAX || getsockopt(s->ctl, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.pid <= 0)
		return;
	rdsb_fd_room_open();
	fd = rdsb_fd_aside((int)syscall(SYS_pidfd_open, cr.pid, 0));
	rdsb_fd_room_close();
	if (fd < 0)
		return;
	rdsb_own_watch_fd(fd);
	if (rdsb_engine_gone(s)) {
		rdsb_own_close(fd);
		return;
	}
	w->eng[w->n++] = (struct watched_engine){ .em = s->em, .pidfd = fd, .used = true };
}

/* s's engine is gone: with copies unacknowledged, to the next engine now
 * if one runs. True while it waits for one. */
static bool move(struct rdsb_lsock *s)
{
	bool pending;

	rdsb_lock(&s->lsh->wlock);
	pending = rdsb_copies_pending(s);
	pthread_mutex_unlock(&s->lsh->wlock);
	/* the application's reference gone: it closed the socket */
	if (!pending || __atomic_load_n(&s->refs, __ATOMIC_ACQUIRE) == 1)
		return false;
	return rdsb_engine_back(s, false, -1) == -EAGAIN;
}

/* Every socket that has sent: moved if its engine is gone, its engine
 * watched if not. True while one waits for an engine. */
static bool walk(struct watcher *w)
{
	struct rdsb_lsock **socks;
	int n = rdsb_lsocks_held(has_sent, &socks);
	bool waiting = false;

	if (n < 0)
		return true;	/* no memory: again after a while */
	for (int i = 0; i < w->n; i++)
		w->eng[i].used = false;
	for (int i = 0; i < n; i++) {
		struct rdsb_lsock *s = socks[i];

		if (s->em->netns == w->netns) {
			if (rdsb_engine_gone(s))
				waiting |= move(s);
			else
				watch_engine(w, s);
		}
		rdsb_lsock_put(s);
	}
	free(socks);
	/* the engines no socket is on any more */
	for (int i = 0; i < w->n;)
		if (!w->eng[i].used) {
			if (w->eng[i].pidfd >= 0)
				rdsb_own_close(w->eng[i].pidfd);
			w->eng[i] = w->eng[--w->n];
		} else {
			i++;
		}
	return waiting;
}

static void *watch(void *arg)
{
	struct watcher w = { .wake = (int)(intptr_t)arg };
	struct stat st;

	w.netns = stat("/proc/thread-self/ns/net", &st) ? 0 : st.st_ino;
	for (;;) {
		struct pollfd p[1 + WATCHED_MAX];
		bool waiting = walk(&w);
		uint64_t v;

		p[0] = (struct pollfd){ .fd = w.wake, .events = POLLIN };
		for (int i = 0; i < w.n; i++)
			p[1 + i] = (struct pollfd){ .fd = w.eng[i].pidfd, .events = POLLIN };
		if (syscall(SYS_poll, p, (nfds_t)w.n + 1, waiting ? RDSB_ENGINE_RETRY_MS : -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLNVAL) {
			rdsb_own_unmark(w.wake);	/* the application closed the eventfd */
			break;
		}
		if (p[0].revents & POLLIN)
			while (syscall(SYS_read, w.wake, &v, sizeof(v)) == sizeof(v))
				;
		/* an engine exited: the walk finds its sockets gone, and the
		 * entry unused; one whose sockets are not (a pid that was not
		 * the engine's) stays, unpolled, so as not to spin */
		for (int i = 0; i < w.n; i++)
			if (p[1 + i].revents) {
				rdsb_own_close(w.eng[i].pidfd);
				w.eng[i].pidfd = -1;
			}
	}
	for (int i = 0; i < w.n; i++)
		if (w.eng[i].pidfd >= 0)
			rdsb_own_close(w.eng[i].pidfd);
	/* the next send starts another */
	pthread_mutex_lock(&watch_lock);
	if (wake_fd == w.wake)
		__atomic_store_n(&wake_fd, -1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&watch_lock);
	return NULL;
}

/* Under watch_lock: the thread, with every signal blocked. */
static void start(void)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;
	int fd;

	rdsb_fd_room_open();
	fd = rdsb_fd_aside((int)syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK));
	rdsb_fd_room_close();
	if (fd < 0)
		return;
	rdsb_own_watch_fd(fd);
	sigfillset(&all);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, &a, watch, (void *)(intptr_t)fd) == 0)
		__atomic_store_n(&wake_fd, fd, __ATOMIC_RELEASE);
	else
		rdsb_own_close(fd);	/* no thread: the calls move the sockets */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
}

void rdsb_watch_wake(void)
{
	uint64_t one = 1;
	int fd = __atomic_load_n(&wake_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		syscall(SYS_write, fd, &one, sizeof(one));
}

void rdsb_watch_sent(struct rdsb_lsock *s)
{
	if (__atomic_load_n(&s->watched, __ATOMIC_RELAXED) && __atomic_load_n(&wake_fd, __ATOMIC_RELAXED) >= 0)
		return;
	pthread_mutex_lock(&watch_lock);
	__atomic_store_n(&s->watched, true, __ATOMIC_RELEASE);
	if (wake_fd < 0)
		start();
	pthread_mutex_unlock(&watch_lock);
	rdsb_watch_wake();
}

/* In a child of fork, alone: the thread stayed in the parent. */
void rdsb_watch_forked(void)
{
	pthread_mutex_init(&watch_lock, NULL);
	rdsb_own_close_watcher();	/* its eventfd, and the pidfds it held */
	wake_fd = -1;
}
