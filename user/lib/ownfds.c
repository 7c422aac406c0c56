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
 * - they stay out of the program's way, and out of its RLIMIT_NOFILE: while
 *   the library makes them, the soft limit is raised to the hard one, and
 *   they go above the program's soft limit (rdsb_fd_room_open). So the
 *   program's own fds get the numbers the kernel would give them (the
 *   lowest free ones, under select's FD_SETSIZE), and it runs out of them
 *   (EMFILE) at the same count of sockets as on a kernel with RDS, one fd
 *   each. Where the hard limit is the soft one, they go from RDSB_FD_ASIDE
 *   (1024) up while the limit leaves room there, else anywhere but 0, 1
 *   and 2, which programs close and open again by number.
 * A byte per fd marks them. A socket's mark is only a hint, checked against
 * the sockets (rdsb_lsocks_hold_fd): a mark left behind costs that lookup
 * once, never a close the program asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
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

/* The room above the program's soft RLIMIT_NOFILE: open while the library
 * makes descriptors (nested, and across threads: the first opens it, the
 * last closes it). The limit is back as the program had it once the room
 * closes, or as the program set it meanwhile. Other threads of the program
 * that open fds meanwhile can get one above their limit where they would
 * have had EMFILE. */
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static int room_users;
static rlim_t room_limit;	/* the program's soft limit while raised, else 0 */
static rlim_t room_raised;	/* the raised one (the hard limit) */

void rdsb_fd_room_open(void)
{
	struct rlimit now, up;

	pthread_mutex_lock(&room_lock);
	if (!room_users++ && !prlimit(0, RLIMIT_NOFILE, NULL, &now) && now.rlim_cur < now.rlim_max) {
		up = (struct rlimit){ now.rlim_max, now.rlim_max };
		if (!prlimit(0, RLIMIT_NOFILE, &up, &now) && now.rlim_cur < up.rlim_cur) {
			room_limit = now.rlim_cur;
			room_raised = up.rlim_cur;
		}
	}
	pthread_mutex_unlock(&room_lock);
}

/* Under room_lock */
static void room_shut(void)
{
	struct rlimit back = { room_limit, room_raised }, seen;

	/* a limit the program set meanwhile stays */
	if (!prlimit(0, RLIMIT_NOFILE, &back, &seen) && (seen.rlim_cur != room_raised || seen.rlim_max != room_raised))
		prlimit(0, RLIMIT_NOFILE, &seen, NULL);
	room_limit = 0;
}

void rdsb_fd_room_close(void)
{
	pthread_mutex_lock(&room_lock);
	if (!--room_users && room_limit)
		room_shut();
	pthread_mutex_unlock(&room_lock);
}

int rdsb_fd_room_limit(void)
{
	rlim_t l = __atomic_load_n(&room_limit, __ATOMIC_RELAXED);

	return l && l < RDSB_FDS_MAX ? (int)l : RDSB_FDS_MAX;
}

void rdsb_fd_room_forking(void)
{
	pthread_mutex_lock(&room_lock);
}

void rdsb_fd_room_forked(bool child)
{
	/* the child has no thread in the room: its limit is the program's */
	if (child) {
		if (room_limit)
			room_shut();
		room_users = 0;
	}
	pthread_mutex_unlock(&room_lock);
}

/* Where the library's descriptors go: above the program's limit while
 * raised, else from RDSB_FD_ASIDE up (F_DUPFD fails where the limit leaves
 * no room there) */
static int aside_from(void)
{
	int l = rdsb_fd_room_limit();

	return l < RDSB_FDS_MAX ? l : RDSB_FD_ASIDE;
}

int rdsb_fd_dup_aside(int fd)
{
	int dup;

	rdsb_fd_room_open();
	dup = sys_fcntl(fd, F_DUPFD_CLOEXEC, aside_from());
	if (dup < 0)
		dup = sys_fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	rdsb_fd_room_close();
	return dup;
}

int rdsb_fd_aside(int fd)
{
	int moved, from;

	rdsb_fd_room_open();
	from = aside_from();
	if (fd < 0 || fd >= from) {
		rdsb_fd_room_close();
		return fd;
	}
	/* above 2 already: moved only if there is room from there up */
	moved = fd > STDERR_FILENO ? sys_fcntl(fd, F_DUPFD_CLOEXEC, from) : rdsb_fd_dup_aside(fd);
	rdsb_fd_room_close();
	if (moved < 0 && fd > STDERR_FILENO)
		return fd;
	sys_close(fd);
	return moved;
}
