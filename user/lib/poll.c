// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * poll as rds_poll on RDS fds: POLLOUT|POLLWRNORM only while the bytes
 * queued are below sndbuf (the delivery stream itself is always writable),
 * and POLLIN|POLLRDNORM|POLLWRBAND once per congestion map update on a
 * socket that does not monitor congestion (rds_cong_updated_since; a fresh
 * socket sees the current generation as new, as the kernel's rs_cong_track
 * starts at 0). A poll waiting for POLLOUT on a full queue waits on the
 * socket's send-space eventfd, which the engine signals on every release
 * while poll_waiters is set, so it sleeps instead of spinning.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include "lib.h"

#define OUT_EVENTS (POLLOUT | POLLWRNORM)
#define CONG_EVENTS (POLLIN | POLLRDNORM | POLLWRBAND)

static int sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return (int)syscall(SYS_ppoll, fds, n, ts, mask, _NSIG / 8);
}

bool rdsb_send_space(const struct rdsb_lsock *s)
{
	const struct rdsb_sock_shm *sh = __atomic_load_n(&s->shm, __ATOMIC_ACQUIRE);

	/* without an engine, or from one that stops, nothing is sent: no room */
	return !__atomic_load_n(&s->lost, __ATOMIC_ACQUIRE) && !__atomic_load_n(&sh->stopping, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&sh->snd_bytes, __ATOMIC_SEQ_CST) < (uint64_t)s->st->sk_sndbuf / 2;
}

/* rds_cong_updated_since: true once per generation. */
static bool cong_updated(struct rdsb_lsock *s)
{
	uint32_t gen = __atomic_load_n(&s->shm->cong_gen, __ATOMIC_ACQUIRE);

	if (s->st->cong_monitor || gen == s->cong_gen_seen)
		return false;
	s->cong_gen_seen = gen;
	return true;
}

void rdsb_space_arm(struct rdsb_lsock *s, bool on)
{
	if (on)
		__atomic_add_fetch(&s->shm->poll_waiters, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_sub_fetch(&s->shm->poll_waiters, 1, __ATOMIC_SEQ_CST);
}

void rdsb_space_drain(struct rdsb_lsock *s)
{
	eventfd_t v;

	eventfd_read(s->spacefd, &v);	/* nonblocking: 0 or EAGAIN */
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* What is left of the timeout (NULL: forever), in *left. */
static const struct timespec *remaining(int64_t end, struct timespec *left)
{
	int64_t ns;

	if (end < 0)
		return NULL;
	ns = end - now_ns();
	if (ns < 0)
		ns = 0;
	left->tv_sec = ns / 1000000000;
	left->tv_nsec = ns % 1000000000;
	return left;
}

/* As remaining, but no more than RDSB_ENGINE_RETRY_MS: a socket waits for
 * an engine. */
static const struct timespec *retry(int64_t end, struct timespec *left)
{
	const struct timespec *t = remaining(end, left);

	if (!t || t->tv_sec || t->tv_nsec > RDSB_ENGINE_RETRY_MS * 1000000L) {
		left->tv_sec = 0;
		left->tv_nsec = RDSB_ENGINE_RETRY_MS * 1000000L;
	}
	return left;
}

struct rds_entry {
	struct rdsb_lsock *s;
	nfds_t i;		/* in the caller's array */
	nfds_t ctl;		/* its control connection in w (0: none) */
	bool cong, armed;
};

/* A socket whose engine went: a new one is looked for at every round, and
 * the stream is polled only for the records the old engine left in it. */
static bool engine_lost(struct rds_entry *r, struct pollfd *p, short events)
{
	if (!r->s->lost || !rdsb_engine_back(r->s, false, -1))
		return false;
	if (r->s->park_peer >= 0 || !(events & POLLIN))
		p->fd = -1;
	return true;
}

static int wait_rds(struct pollfd *fds, nfds_t n, struct rds_entry *r, int nr, struct pollfd *w,
		    int64_t end, const sigset_t *mask)
{
	static const struct timespec zero;
	struct timespec left;

	for (;;) {
		nfds_t extra = 0;
		bool now = false, lost = false, moved = false;
		int ready = 0, err = 0, ret;

		/* an engine's stream read to its end: the next one's is polled */
		for (int k = 0; k < nr; k++)
			rdsb_stream_catch_up(r[k].s);
		memcpy(w, fds, n * sizeof(*w));
		for (int k = 0; k < nr; k++) {
			struct pollfd *p = &w[r[k].i];

			p->events &= (short)~(OUT_EVENTS | POLLWRBAND);
			r[k].ctl = 0;
			if (engine_lost(&r[k], p, p->events)) {
				lost = true;
				continue;
			}
			/* the engine's hang-up (an event polled for always) */
			r[k].ctl = n + extra;
			w[n + extra++] = (struct pollfd){ .fd = r[k].s->ctl };
			r[k].cong |= cong_updated(r[k].s);
			now |= r[k].cong;
			if (!(fds[r[k].i].events & OUT_EVENTS))
				continue;
			if (rdsb_send_space(r[k].s)) {
				now = true;
				continue;
			}
			rdsb_space_arm(r[k].s, true);
			r[k].armed = true;
			/* a release between the test and the arm signalled nobody */
			now |= rdsb_send_space(r[k].s);
			w[n + extra++] = (struct pollfd){ .fd = r[k].s->spacefd, .events = POLLIN };
		}
		ret = sys_ppoll(w, n + extra, now ? &zero : lost ? retry(end, &left) : remaining(end, &left), mask);
		if (ret < 0)
			err = errno;
		for (int k = 0; k < nr; k++) {
			if (r[k].armed) {
				rdsb_space_arm(r[k].s, false);
				rdsb_space_drain(r[k].s);
				r[k].armed = false;
			}
		}
		if (ret < 0) {
			errno = err;
			return -1;
		}
		for (int k = 0; k < nr; k++) {
			if (r[k].ctl && w[r[k].ctl].revents && rdsb_engine_gone(r[k].s)) {
				rdsb_engine_back(r[k].s, false, -1);
				moved = true;
			}
		}
		if (moved)
			continue;	/* on a new engine, or lost: polled again */
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = w[i].revents;
		for (int k = 0; k < nr; k++) {
			struct pollfd *p = &fds[r[k].i];
			short want = p->events | POLLERR | POLLHUP;

			p->revents &= (short)~(OUT_EVENTS | POLLWRBAND);
			if (r[k].s->lost)
				p->revents &= (short)~POLLHUP;	/* the old stream's end */
			if (rdsb_send_space(r[k].s))
				p->revents |= (short)(OUT_EVENTS & want);
			if (r[k].cong || cong_updated(r[k].s))
				p->revents |= (short)(CONG_EVENTS & want);
			r[k].cong = false;
		}
		for (nfds_t i = 0; i < n; i++)
			ready += fds[i].revents != 0;
		if (ready || (end >= 0 && now_ns() >= end))
			return ready;
	}
}

int rdsb_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	struct rds_entry *r = NULL;
	struct pollfd *w = NULL;
	int nr = 0, ret = -1;
	int64_t end = tmo ? now_ns() + (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1;

	for (nfds_t i = 0; i < n; i++) {
		struct rdsb_lsock *s = rdsb_lsock_get(fds[i].fd);
		struct rds_entry *t;

		if (!s)
			continue;
		t = realloc(r, (size_t)(nr + 1) * sizeof(*r));
		if (!t) {
			rdsb_lsock_put(s);
			errno = ENOMEM;
			goto out;
		}
		r = t;
		r[nr++] = (struct rds_entry){ .s = s, .i = i };
	}
	if (!nr)
		return sys_ppoll(fds, n, tmo, mask);
	w = calloc(n + 2 * (nfds_t)nr, sizeof(*w));
	if (!w) {
		errno = ENOMEM;
		goto out;
	}
	ret = wait_rds(fds, n, r, nr, w, end, mask);
out:
	for (int k = 0; k < nr; k++)
		rdsb_lsock_put(r[k].s);
	free(r);
	free(w);
	return ret;
}

int rdsb_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec t = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000 };

	return rdsb_ppoll(fds, n, timeout_ms < 0 ? NULL : &t, NULL);
}
