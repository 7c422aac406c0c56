/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The lock of a path's send side, shared by the engine and every
 * application that sends on the path: struct rdsb_txlock, at the path's
 * rdsb_txpath index in the engine's lock file (a sealed memfd, the last fd
 * of the OPEN reply on the sk_msg send path, which every sender maps). Not
 * in the mmap-ed rdsb_txpath beside the rest of the path's send state:
 * futexes do not work on BPF map memory (FUTEX_WAIT fails with EFAULT).
 * The word is 0 free, 1 held, with the holder's pid beside it so that a
 * process that died holding it is seen. A waiter sleeps on the word
 * (FUTEX_WAIT), and the holder wakes one as it unlocks, only when waiters
 * count themselves; the sleep ends every 10 ms to look whether the holder
 * died. The waiter gives up then, or after a second, and the datagram goes
 * through the engine, which resets the path and takes the lock back
 * (lock_wait in transports/tcp/skmsg_tx.c).
 *
 * Waiters count themselves in waiting for each sleep, so that the holder
 * wakes one, and can leave its record corked (MSG_MORE) for the next one to
 * push with its own: records sent while others wait share TCP segments. A
 * waiter killed while it waits leaves the count too high (unlocks then make
 * a FUTEX_WAKE that wakes no one); the engine's timer pushes what stays
 * corked and starts the count again, waking every waiter to count itself in
 * again (push_corked in transports/tcp/skmsg_tx.c, rdsb_txlock_recount): a
 * waiter counted before that leaves the count as it is, so a sleeper counted
 * after it is never taken out of it and always woken.
 */
#ifndef RDSB_TXLOCK_H
#define RDSB_TXLOCK_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

struct rdsb_txlock {
	uint32_t lock;		/* 0 free, 1 held: the futex word */
	uint32_t owner;		/* pid of the holder */
	uint32_t waiting;	/* senders waiting for it (the low 16 bits), and
				 * how many times the engine started the count
				 * again (rdsb_txlock_recount) */
	uint32_t pad;
};

#define RDSB_TXLOCK_WAITERS 0xffffu

/* How long a waiter sleeps before it looks whether the holder died, and
 * how long it waits at most. */
#define RDSB_TXLOCK_SLICE_NS (10 * 1000 * 1000L)
#define RDSB_TXLOCK_GIVE_UP_NS (1000 * 1000 * 1000L)

/* self: the caller's pid, which every caller keeps (getpid is a system call) */
static inline bool rdsb_txlock_try(struct rdsb_txlock *l, pid_t self)
{
	uint32_t free_ = 0;

	if (!__atomic_compare_exchange_n(&l->lock, &free_, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return false;
	l->owner = (uint32_t)self;
	return true;
}

static inline bool rdsb_txlock_holder_dead(const struct rdsb_txlock *l)
{
	pid_t owner = (pid_t)__atomic_load_n(&l->owner, __ATOMIC_RELAXED);

	return owner && kill(owner, 0) < 0 && errno == ESRCH;
}

static inline uint32_t rdsb_txlock_waiters(const struct rdsb_txlock *l)
{
	return __atomic_load_n(&l->waiting, __ATOMIC_SEQ_CST) & RDSB_TXLOCK_WAITERS;
}

/* A waiter leaves the count it joined (JOINED: the count then), unless the
 * count started again since; never below 0. */
static inline void rdsb_txlock_unwait(struct rdsb_txlock *l, uint32_t joined)
{
	uint32_t n = __atomic_load_n(&l->waiting, __ATOMIC_RELAXED);

	while (n >> 16 == joined >> 16 && (n & RDSB_TXLOCK_WAITERS) &&
	       !__atomic_compare_exchange_n(&l->waiting, &n, n - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* The count starts again, without the waiters killed while they waited,
 * and every waiter wakes to count itself in again. */
static inline void rdsb_txlock_recount(struct rdsb_txlock *l)
{
	uint32_t n = __atomic_load_n(&l->waiting, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(&l->waiting, &n, ((n >> 16) + 1) << 16, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED))
		;
	syscall(SYS_futex, &l->lock, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static inline int64_t rdsb_txlock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* False: not taken (the holder died, or held it for a second). A waiter
 * counts itself in before its last look at the word and sleeps, and the
 * unlock stores the word before it reads the count (both sequentially
 * consistent): either the waiter sees the lock free or the holder sees the
 * waiter and wakes one. */
static inline bool rdsb_txlock(struct rdsb_txlock *l, pid_t self)
{
	const struct timespec slice = { .tv_nsec = RDSB_TXLOCK_SLICE_NS };
	int64_t give_up;

	if (rdsb_txlock_try(l, self))
		return true;
	give_up = rdsb_txlock_now() + RDSB_TXLOCK_GIVE_UP_NS;
	for (;;) {
		uint32_t joined = __atomic_add_fetch(&l->waiting, 1, __ATOMIC_SEQ_CST);
		bool got = rdsb_txlock_try(l, self), timed_out = false;

		if (!got)
			timed_out = syscall(SYS_futex, &l->lock, FUTEX_WAIT, 1, &slice, NULL, 0) < 0 && errno == ETIMEDOUT;
		rdsb_txlock_unwait(l, joined);
		if (got || rdsb_txlock_try(l, self))
			return true;
		if (timed_out && (rdsb_txlock_holder_dead(l) || rdsb_txlock_now() >= give_up))
			return false;
	}
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

static inline void rdsb_txunlock(struct rdsb_txlock *l)
{
	l->owner = 0;
	__atomic_store_n(&l->lock, 0, __ATOMIC_SEQ_CST);
	if (rdsb_txlock_waiters(l))
		syscall(SYS_futex, &l->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

#endif
