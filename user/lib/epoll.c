// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * epoll with rds_poll's EPOLLOUT on RDS fds: the epoll set holds the RDS fd
 * for everything but writability, which this file answers from the send
 * accounting, waiting on the sockets' send-space eventfds (poll.c) next to
 * the epoll fd. EPOLLET reports writability once per full-to-room change,
 * EPOLLONESHOT once until the next EPOLL_CTL_MOD.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include "lib.h"

#define OUT_EVENTS (EPOLLOUT | EPOLLWRNORM)
#define MAX_WAIT 64	/* RDS fds waited on for writability in one epoll_wait */

struct ep_reg {
	struct ep_reg *next;
	int epfd, fd;
	pid_t pid;		/* the process that registered it (rdsb_self) */
	struct rdsb_lsock *s;	/* a reference */
	uint32_t events;
	epoll_data_t data;
	bool reported;		/* EPOLLET: writability reported since the queue was full */
};

static struct ep_reg *regs;
static pthread_mutex_t regs_lock = PTHREAD_MUTEX_INITIALIZER;

static int sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static int sys_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, mask, _NSIG / 8);
}

static struct ep_reg **find(int epfd, int fd)
{
	struct ep_reg **p;

	for (p = &regs; *p; p = &(*p)->next)
		if ((*p)->epfd == epfd && (*p)->fd == fd)
			break;
	return p;
}

static void reg_free(struct ep_reg **p)
{
	struct ep_reg *r = *p;

	*p = r->next;
	rdsb_lsock_put(r->s);
	free(r);
}

static int lsock_epoll_ctl(struct rdsb_lsock *s, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event kev = { 0 };
	struct ep_reg **p;

	if (ev)
		kev = (struct epoll_event){ .events = ev->events & ~(uint32_t)(OUT_EVENTS | EPOLLWRBAND),
					    .data = ev->data };
	if (sys_epoll_ctl(epfd, op, fd, ev ? &kev : NULL) < 0)
		return -1;
	pthread_mutex_lock(&regs_lock);
	p = find(epfd, fd);
	if (op == EPOLL_CTL_DEL) {
		if (*p)
			reg_free(p);
	} else if (ev) {
		if (!*p && (*p = calloc(1, sizeof(**p)))) {
			(*p)->epfd = epfd;
			(*p)->fd = fd;
			(*p)->pid = rdsb_self;
			(*p)->s = s;
			rdsb_lsock_hold(s);
		}
		if (*p) {
			(*p)->events = ev->events;
			(*p)->data = ev->data;
			(*p)->reported = false;
		}
	}
	pthread_mutex_unlock(&regs_lock);
	return 0;
}

int rdsb_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct rdsb_lsock *s = rdsb_lsock_get(fd);
	int r;

	if (!s)
		return sys_epoll_ctl(epfd, op, fd, ev);
	r = lsock_epoll_ctl(s, epfd, op, fd, ev);
	rdsb_lsock_put(s);
	return r;
}

void rdsb_epoll_rearm(struct rdsb_lsock *s)
{
	if (!__atomic_load_n(&regs, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&regs_lock);
	for (struct ep_reg *r = regs; r; r = r->next) {
		struct epoll_event kev = { .events = r->events & ~(uint32_t)(OUT_EVENTS | EPOLLWRBAND),
					   .data = r->data };

		if (r->s == s && sys_epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->fd, &kev) < 0 && errno == EEXIST)
			sys_epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->fd, &kev);
	}
	pthread_mutex_unlock(&regs_lock);
}

/* fd closes: as an epoll fd, its registrations go; as an RDS fd, it leaves
 * the epoll sets this process put it in (the library's own descriptor keeps
 * the socket's file open, so the kernel would not remove it). A set a child
 * of fork inherited is its parent's too: the child's close leaves it as the
 * kernel does (the file stays open in the parent). In a child of vfork,
 * nothing here is the child's. */
void rdsb_epoll_forget(int fd)
{
	if (!__atomic_load_n(&regs, __ATOMIC_RELAXED))
		return;	/* every close() comes here: the pid is asked only of one that matters */
	pthread_mutex_lock(&regs_lock);
	for (struct ep_reg **p = &regs; *p;) {
		if ((*p)->epfd != fd && (*p)->fd != fd) {
			p = &(*p)->next;
			continue;
		}
		if (rdsb_vfork_child())
			break;
		if ((*p)->fd == fd && (*p)->pid == rdsb_self)
			sys_epoll_ctl((*p)->epfd, EPOLL_CTL_DEL, fd, NULL);
		reg_free(p);
	}
	pthread_mutex_unlock(&regs_lock);
}

/* The sockets of epfd's registrations that ask for writability, held. */
static int wanted(int epfd, struct rdsb_lsock **out)
{
	int n = 0;

	pthread_mutex_lock(&regs_lock);
	for (struct ep_reg *r = regs; r && n < MAX_WAIT; r = r->next) {
		if (r->epfd != epfd || !(r->events & OUT_EVENTS))
			continue;
		rdsb_lsock_hold(r->s);
		out[n++] = r->s;
	}
	pthread_mutex_unlock(&regs_lock);
	return n;
}

/* Adds writability to the events of an epoll_wait that returned n. */
static int add_writable(int epfd, struct epoll_event *ev, int n, int max)
{
	pthread_mutex_lock(&regs_lock);
	for (struct ep_reg *r = regs; r; r = r->next) {
		uint32_t out = r->events & OUT_EVENTS;
		int i;

		if (r->epfd != epfd || !out)
			continue;
		if (!rdsb_send_space(r->s)) {
			r->reported = false;
			continue;
		}
		if ((r->events & EPOLLET) && r->reported)
			continue;
		for (i = 0; i < n && ev[i].data.u64 != r->data.u64; i++)
			;
		if (i == n && n == max)
			continue;
		if (i == n)
			ev[n++] = (struct epoll_event){ .events = 0, .data = r->data };
		ev[i].events |= out;
		r->reported = true;
		if (r->events & EPOLLONESHOT)
			r->events &= ~(uint32_t)OUT_EVENTS;
	}
	pthread_mutex_unlock(&regs_lock);
	return n;
}

/* Waits for epfd or for send space on one of w; -1 with errno. */
static int wait_room(int epfd, struct rdsb_lsock **w, int nw, int64_t end, const sigset_t *mask)
{
	struct pollfd p[1 + MAX_WAIT] = { { .fd = epfd, .events = POLLIN } };
	bool armed[MAX_WAIT] = { false }, now = false;
	int np = 1, ret, err;

	for (int k = 0; k < nw; k++) {
		if (rdsb_send_space(w[k]))
			continue;	/* reported already (EPOLLET): no edge to wait for */
		rdsb_space_arm(w[k], true);
		armed[k] = true;
		/* a release between the test and the arm signalled nobody */
		now |= rdsb_send_space(w[k]);
		p[np++] = (struct pollfd){ .fd = w[k]->spacefd, .events = POLLIN };
	}
	ret = (int)syscall(SYS_ppoll, p, np, now ? &(struct timespec){ 0 } :
			   end < 0 ? NULL : &(struct timespec){ .tv_sec = (end - rdsb_now_ms()) / 1000,
								 .tv_nsec = (end - rdsb_now_ms()) % 1000 * 1000000 },
			   mask, _NSIG / 8);
	err = errno;
	for (int k = 0; k < nw; k++) {
		if (armed[k]) {
			rdsb_space_arm(w[k], false);
			rdsb_space_drain(w[k]);
		}
	}
	errno = err;
	return ret < 0 ? -1 : 0;
}

static int epoll_live(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	struct rdsb_lsock *w[MAX_WAIT];
	int64_t end = timeout >= 0 ? rdsb_now_ms() + timeout : -1;
	int nw, n;

	if (max <= 0 || !(nw = wanted(epfd, w)))
		return sys_epoll_pwait(epfd, ev, max, timeout, mask);
	for (;;) {
		n = sys_epoll_pwait(epfd, ev, max, 0, NULL);
		if (n < 0)
			break;
		n = add_writable(epfd, ev, n, max);
		if (n > 0 || (end >= 0 && rdsb_now_ms() >= end))
			break;
		if (wait_room(epfd, w, nw, end, mask) < 0) {
			n = -1;
			break;
		}
	}
	for (int k = 0; k < nw; k++)
		rdsb_lsock_put(w[k]);
	return n;
}

/* Looks for a new engine for the sockets of epfd that lost theirs: true
 * while one still waits. */
static bool engine_lost(int epfd)
{
	struct rdsb_lsock *l[MAX_WAIT];
	bool lost = false;
	int nl = 0;

	pthread_mutex_lock(&regs_lock);
	for (struct ep_reg *r = regs; r && nl < MAX_WAIT; r = r->next) {
		if (r->epfd == epfd && r->s->lost) {
			rdsb_lsock_hold(r->s);
			l[nl++] = r->s;
		}
	}
	pthread_mutex_unlock(&regs_lock);
	for (int k = 0; k < nl; k++) {
		lost |= rdsb_engine_back(l[k], false, -1) != 0;
		rdsb_lsock_put(l[k]);
	}
	return lost;
}

int rdsb_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	int64_t end = timeout >= 0 ? rdsb_now_ms() + timeout : -1;

	/* while a socket waits for an engine, epoll_wait looks again at every
	 * RDSB_ENGINE_RETRY_MS */
	while (max > 0 && __atomic_load_n(&rdsb_lost_socks, __ATOMIC_RELAXED) && engine_lost(epfd)) {
		int64_t left = end < 0 ? RDSB_ENGINE_RETRY_MS : end - rdsb_now_ms();
		int n = epoll_live(epfd, ev, max, (int)(left < RDSB_ENGINE_RETRY_MS ? (left > 0 ? left : 0) :
							  RDSB_ENGINE_RETRY_MS), mask);

		if (n || (end >= 0 && rdsb_now_ms() >= end))
			return n;
	}
	return epoll_live(epfd, ev, max, end < 0 ? -1 : (int)(end > rdsb_now_ms() ? end - rdsb_now_ms() : 0), mask);
}

int rdsb_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return rdsb_epoll_pwait(epfd, ev, max, timeout, NULL);
}
