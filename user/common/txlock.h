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
 * Waiters count themselves in waiting, so that the holder can leave its
 * record corked (MSG_MORE) for the next one to push with its own: records
 * sent while others wait share TCP segments. A waiter killed while it waits
 * leaves the count too high (its holders' unlocks make a FUTEX_WAKE that
 * wakes no one); the engine's timer pushes what stays corked and clears the
 * count (push_corked in transports/tcp/skmsg_tx.c), and a waiter never takes
 * the count below 0.
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
	uint32_t waiting;	/* senders waiting for it */
	uint32_t pad;
};

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

static inline void rdsb_txlock_unwait(struct rdsb_txlock *l)
{
	uint32_t n = __atomic_load_n(&l->waiting, __ATOMIC_RELAXED);

	while (n && !__atomic_compare_exchange_n(&l->waiting, &n, n - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static inline int64_t rdsb_txlock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* False: not taken (the holder died, or held it for a second). The count
 * goes up before the last look at the word, and the unlock stores the word
 * before it reads the count (both sequentially consistent): either the
 * waiter sees the lock free or the holder sees the waiter and wakes it. */
static inline bool rdsb_txlock(struct rdsb_txlock *l, pid_t self)
{
	const struct timespec slice = { .tv_nsec = RDSB_TXLOCK_SLICE_NS };
	int64_t give_up;
	bool got = false;

	if (rdsb_txlock_try(l, self))
		return true;
	give_up = rdsb_txlock_now() + RDSB_TXLOCK_GIVE_UP_NS;
	__atomic_add_fetch(&l->waiting, 1, __ATOMIC_SEQ_CST);
	while (!(got = rdsb_txlock_try(l, self))) {
		if (syscall(SYS_futex, &l->lock, FUTEX_WAIT, 1, &slice, NULL, 0) == 0 || errno != ETIMEDOUT)
			continue;	/* woken, or the word changed, or a signal */
		if (rdsb_txlock_holder_dead(l) || rdsb_txlock_now() >= give_up)
			break;
	}
	rdsb_txlock_unwait(l);
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

static inline void rdsb_txunlock(struct rdsb_txlock *l)
{
	l->owner = 0;
	__atomic_store_n(&l->lock, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->waiting, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &l->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

#endif
