// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The library's own descriptors: those each socket holds beside the
 * application's fd (lsock_fds in socket.c: the delivery stream's duplicate,
 * the control connection, the send-space eventfd, the shared page, the send
 * socket) and the engine watcher's (watch.c). The program never opened
 * them, and on a kernel with RDS those numbers would be free. So:
 * - close() of one fails with EBADF, as it would there, and leaves it open:
 *   a program that closes one by one every fd but its own (a daemon, a
 *   child before exec) keeps its RDS sockets;
 * - dup2() or dup3() onto one fails with EBUSY (Linux's answer for a number
 *   that is being opened) instead of taking it from under the library;
 * - they stay out of the program's way: from RDSB_FD_ASIDE (1024) up while
 *   RLIMIT_NOFILE leaves room there, so the program's own fds get the
 *   numbers the kernel would give them (the lowest free ones, under
 *   select's FD_SETSIZE), else anywhere but 0, 1 and 2, which programs close
 *   and open again by number.
 * A byte per fd marks them. A socket's mark is only a hint, checked against
 * the sockets (rdsb_lsocks_hold_fd): a mark left behind costs that lookup
 * once, never a close the program asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include "lib.h"

enum { OWN_NONE, OWN_SOCK, OWN_WATCH };

static uint8_t *marks;	/* RDSB_FDS_MAX bytes, with the first socket */
static int marks_max;	/* the highest fd ever marked */

void rdsb_own_alloc(void)
{
	if (!__atomic_load_n(&marks, __ATOMIC_ACQUIRE))
		__atomic_store_n(&marks, calloc(RDSB_FDS_MAX, 1), __ATOMIC_RELEASE);
}

static void mark(int fd, uint8_t how)
{
	uint8_t *m = __atomic_load_n(&marks, __ATOMIC_ACQUIRE);
	int max = __atomic_load_n(&marks_max, __ATOMIC_RELAXED);

	/* a child of vfork shares its parent's memory, not its fds */
	if (fd < 0 || fd >= RDSB_FDS_MAX || !m || rdsb_vfork_child())
		return;
	__atomic_store_n(&m[fd], how, __ATOMIC_RELEASE);
	while (fd > max && !__atomic_compare_exchange_n(&marks_max, &max, fd, false, __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
		;
}

void rdsb_own_sock_fd(int fd)
{
	mark(fd, OWN_SOCK);
}

void rdsb_own_watch_fd(int fd)
{
	mark(fd, OWN_WATCH);
}

void rdsb_own_unmark(int fd)
{
	mark(fd, OWN_NONE);
}

int rdsb_own_close(int fd)
{
	rdsb_own_unmark(fd);
	return sys_close(fd);
}

bool rdsb_own_fd(int fd)
{
	uint8_t *m = __atomic_load_n(&marks, __ATOMIC_ACQUIRE);
	uint8_t how, none = OWN_NONE;

	if (fd < 0 || fd > __atomic_load_n(&marks_max, __ATOMIC_RELAXED) || !m)
		return false;
	how = __atomic_load_n(&m[fd], __ATOMIC_ACQUIRE);
	if (how != OWN_SOCK)
		return how == OWN_WATCH;
	if (rdsb_lsocks_hold_fd(fd))
		return true;
	if (!rdsb_vfork_child())
		__atomic_compare_exchange_n(&m[fd], &how, none, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return false;
}

int rdsb_own_max(void)
{
	return __atomic_load_n(&marks, __ATOMIC_ACQUIRE) ? __atomic_load_n(&marks_max, __ATOMIC_RELAXED) : -1;
}

/* In a child of fork: the watcher thread stayed in the parent, and its
 * descriptors here are nobody's. */
void rdsb_own_close_watcher(void)
{
	uint8_t *m = __atomic_load_n(&marks, __ATOMIC_ACQUIRE);

	for (int fd = 0; m && fd <= marks_max; fd++)
		if (m[fd] == OWN_WATCH)
			rdsb_own_close(fd);
}

int rdsb_fd_dup_aside(int fd)
{
	int dup = sys_fcntl(fd, F_DUPFD_CLOEXEC, RDSB_FD_ASIDE);

	return dup >= 0 ? dup : sys_fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

int rdsb_fd_aside(int fd)
{
	int moved;

	if (fd < 0 || fd >= RDSB_FD_ASIDE)
		return fd;
	/* above 2 already: moved only if there is room from RDSB_FD_ASIDE up */
	moved = fd > STDERR_FILENO ? sys_fcntl(fd, F_DUPFD_CLOEXEC, RDSB_FD_ASIDE) : rdsb_fd_dup_aside(fd);
	if (moved < 0 && fd > STDERR_FILENO)
		return fd;
	sys_close(fd);
	return moved;
}
