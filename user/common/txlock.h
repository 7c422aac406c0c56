/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The lock of a path's send side (struct rdsb_txpath), shared by the engine
 * and every application that sends on the path: a futex word in the mmap-ed
 * rdsb_txpath (0 free, 1 held, 2 held with waiters), the holder's pid beside
 * it so that the engine can take it back from a process that died holding it.
 */
#ifndef RDSB_TXLOCK_H
#define RDSB_TXLOCK_H

#include <linux/futex.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <rds-bpf/maps.h>

static inline bool rdsb_txlock_try(struct rdsb_txpath *t)
{
	uint32_t free_ = 0;

	if (!__atomic_compare_exchange_n(&t->lock, &free_, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	t->owner = (uint32_t)getpid();
	return true;
}

static inline void rdsb_txlock(struct rdsb_txpath *t)
{
	if (rdsb_txlock_try(t))
		return;
	while (__atomic_exchange_n(&t->lock, 2, __ATOMIC_ACQUIRE) != 0)
		syscall(SYS_futex, &t->lock, FUTEX_WAIT, 2, NULL, NULL, 0);
	t->owner = (uint32_t)getpid();
}

static inline void rdsb_txunlock(struct rdsb_txpath *t)
{
	t->owner = 0;
	if (__atomic_exchange_n(&t->lock, 0, __ATOMIC_RELEASE) == 2)
		syscall(SYS_futex, &t->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

#endif
