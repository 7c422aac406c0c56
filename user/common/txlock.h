/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The lock of a path's send side (struct rdsb_txpath), shared by the engine
 * and every application that sends on the path: a word in the mmap-ed
 * rdsb_txpath (0 free, 1 held), the holder's pid beside it so that a process
 * that died holding it is seen. Futexes do not work on BPF map memory
 * (FUTEX_WAIT fails with EFAULT), so a waiter yields, then sleeps in short
 * steps; it gives up when the holder is dead or after a second, and the
 * datagram goes through the engine, which resets the path and takes the
 * lock back (rdsb_direct_begin).
 *
 * Waiters count themselves in waiting, so that the holder can leave its
 * record corked (MSG_MORE) for the next one to push with its own: records
 * sent while others wait share TCP segments. A waiter killed while it waits
 * leaves the count too high; the engine's timer pushes what stays corked
 * and clears the count (push_corked in transports/tcp/skmsg_tx.c), and a
 * waiter never takes the count below 0.
 */
#ifndef RDSB_TXLOCK_H
#define RDSB_TXLOCK_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <rds-bpf/maps.h>

/* self: the caller's pid */
static inline bool rdsb_txlock_take(struct rdsb_txpath *t, pid_t self)
{
	uint32_t free_ = 0;

	if (!__atomic_compare_exchange_n(&t->lock, &free_, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	t->owner = (uint32_t)self;
	return true;
}

static inline bool rdsb_txlock_try(struct rdsb_txpath *t)
{
	return rdsb_txlock_take(t, getpid());
}

static inline bool rdsb_txlock_holder_dead(const struct rdsb_txpath *t)
{
	pid_t owner = (pid_t)__atomic_load_n(&t->owner, __ATOMIC_RELAXED);

	return owner && kill(owner, 0) < 0 && errno == ESRCH;
}

static inline void rdsb_txlock_unwait(struct rdsb_txpath *t)
{
	uint32_t n = __atomic_load_n(&t->waiting, __ATOMIC_RELAXED);

	while (n && !__atomic_compare_exchange_n(&t->waiting, &n, n - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* False: not taken (the holder died, or held it for a second). self: the
 * caller's pid, which a sender keeps (getpid is a system call). */
static inline bool rdsb_txlock(struct rdsb_txpath *t, pid_t self)
{
	bool got = false;

	if (rdsb_txlock_take(t, self))
		return true;
	__atomic_add_fetch(&t->waiting, 1, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < 64 + 50000; i++) {
		if (rdsb_txlock_take(t, self)) {
			got = true;
			break;
		}
		if (i < 64) {
			sched_yield();
			continue;
		}
		if (rdsb_txlock_holder_dead(t))
			break;
		usleep(20);
	}
	rdsb_txlock_unwait(t);
	return got;
}

/* What a record of rec bytes may add to the path socket's queued memory:
 * its bytes, and an skb's overhead (2 KiB is more than the kernel charges)
 * for each segment it may start, with segments of 512 bytes at least. A
 * push that finds the socket's queue at its send buffer waits for room, and
 * not with the sender's SO_SNDTIMEO: a record that might wait goes to the
 * engine instead. */
static inline uint64_t rdsb_tx_charge(uint32_t rec)
{
	return rec + ((uint64_t)rec / 512 + 1) * 2048;
}

static inline void rdsb_txunlock(struct rdsb_txpath *t)
{
	t->owner = 0;
	__atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

#endif
