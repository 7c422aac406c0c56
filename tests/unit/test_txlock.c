// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/common/txlock.h, between processes as the engine and the senders
 * use it (a shared mapping): a waiter sleeps while another process holds
 * the lock (a few wakeups a second and no CPU to speak of, where one that
 * yields and polls makes thousands), counts itself in waiting while it
 * does, and takes the lock when the holder unlocks, also after the engine
 * started the count again; a waiter behind a
 * holder that died gives up as soon as it sees the death, not after its
 * second, and leaves the count and the lock as they were. */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "check.h"
#include "../../user/common/txlock.h"

/* The lock as both processes see it, and what the waiter saw. */
struct shared {
	struct rdsb_txlock l;
	uint32_t waiter_owner;	/* the owner recorded once the waiter took it */
};

static struct shared *shared_new(void)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memset(sh, 0, sizeof(*sh));
	return sh;
}

/* Waits (1 ms steps, 10 s at most) until the waiter counts itself. */
static bool waiter_counted(struct shared *sh, uint32_t n)
{
	for (int i = 0; i < 10000; i++) {
		if (rdsb_txlock_waiters(&sh->l) == n)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_try_and_owner(void)
{
	struct shared *sh = shared_new();

	CHECK(rdsb_txlock_try(&sh->l, 4242));
	CHECK_EQ(sh->l.owner, 4242);
	CHECK(!rdsb_txlock_try(&sh->l, 4343));
	CHECK_EQ(sh->l.owner, 4242);
	rdsb_txunlock(&sh->l);
	CHECK_EQ(sh->l.lock, 0);
	CHECK_EQ(sh->l.owner, 0);
	munmap(sh, sizeof(*sh));
}

/* A waiter blocked for 200 ms behind a live holder: it sleeps (under 10 ms
 * of CPU, fewer than 100 voluntary switches: one per 10 ms slice, where the
 * yield-and-usleep loop this replaced made one per 20 us sleep), then the
 * unlock hands it the lock. */
static void test_waiter_sleeps(void)
{
	struct shared *sh = shared_new();
	struct rusage ru;
	pid_t child;
	int status = -1;
	long cpu_us;

	CHECK(rdsb_txlock_try(&sh->l, getpid()));
	child = fork();
	if (child == 0) {
		bool got = rdsb_txlock(&sh->l, getpid());

		sh->waiter_owner = sh->l.owner;
		if (got)
			rdsb_txunlock(&sh->l);
		_exit(got ? 0 : 1);
	}
	CHECK(child > 0);
	CHECK(waiter_counted(sh, 1));
	usleep(200 * 1000);
	rdsb_txunlock(&sh->l);
	CHECK_EQ(wait4(child, &status, 0, &ru), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(sh->waiter_owner, child);
	cpu_us = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
		 ru.ru_stime.tv_usec;
	if (!CHECK(cpu_us < 10000))
		fprintf(stderr, "    the waiter used %ld us of CPU\n", cpu_us);
	if (!CHECK(ru.ru_nvcsw < 100))
		fprintf(stderr, "    the waiter switched out %ld times\n", ru.ru_nvcsw);
	CHECK_EQ(rdsb_txlock_waiters(&sh->l), 0);
	CHECK_EQ(sh->l.lock, 0);
	munmap(sh, sizeof(*sh));
}

/* The engine starts the count again under the lock (a killed waiter left
 * it too high: here one that never existed): the sleeping waiter wakes,
 * counts itself in again, once, and the unlock still wakes it; the count
 * of the killed one is gone for good. */
static void test_recount(void)
{
	struct shared *sh = shared_new();
	pid_t child;
	int status = -1;

	CHECK(rdsb_txlock_try(&sh->l, getpid()));
	__atomic_add_fetch(&sh->l.waiting, 1, __ATOMIC_SEQ_CST);	/* the killed one */
	child = fork();
	if (child == 0) {
		bool got = rdsb_txlock(&sh->l, getpid());

		if (got)
			rdsb_txunlock(&sh->l);
		_exit(got ? 0 : 1);
	}
	CHECK(child > 0);
	CHECK(waiter_counted(sh, 2));
	rdsb_txlock_recount(&sh->l);
	CHECK(waiter_counted(sh, 1));
	rdsb_txunlock(&sh->l);
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(rdsb_txlock_waiters(&sh->l), 0);
	CHECK_EQ(sh->l.waiting >> 16, 1);
	munmap(sh, sizeof(*sh));
}

/* The holder died holding the lock: the waiter gives up within a few of
 * its 10 ms slices, not after a second, and leaves the lock held for the
 * engine to take back, its count as it found it. */
static void test_dead_holder(void)
{
	struct shared *sh = shared_new();
	pid_t child = fork();
	int64_t t0, waited;
	int status;

	if (child == 0)
		_exit(rdsb_txlock_try(&sh->l, getpid()) ? 0 : 1);
	CHECK_EQ(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(sh->l.owner, child);
	CHECK(rdsb_txlock_holder_dead(&sh->l));
	t0 = rdsb_txlock_now();
	CHECK(!rdsb_txlock(&sh->l, getpid()));
	waited = rdsb_txlock_now() - t0;
	if (!CHECK(waited < RDSB_TXLOCK_GIVE_UP_NS / 2))
		fprintf(stderr, "    gave up after %lld ms\n", (long long)(waited / 1000000));
	CHECK_EQ(sh->l.lock, 1);
	CHECK_EQ(sh->l.owner, child);
	CHECK_EQ(rdsb_txlock_waiters(&sh->l), 0);
	munmap(sh, sizeof(*sh));
}

/* A live holder is not taken for dead. */
static void test_live_holder(void)
{
	struct shared *sh = shared_new();

	CHECK(rdsb_txlock_try(&sh->l, getpid()));
	CHECK(!rdsb_txlock_holder_dead(&sh->l));
	rdsb_txunlock(&sh->l);
	CHECK(!rdsb_txlock_holder_dead(&sh->l));	/* no holder */
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	test_try_and_owner();
	test_live_holder();
	test_waiter_sleeps();
	test_dead_holder();
	test_recount();
	return check_done();
}
