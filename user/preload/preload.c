// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * librdsb-preload.so: with LD_PRELOAD, socket(AF_RDS, SOCK_SEQPACKET, 0) and
 * the standard calls on that fd behave as on a kernel with RDS. Every other
 * fd goes to libc unchanged.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <rds-bpf/rds.h>
#include "../lib/lib.h"

/* these must interpose libc's: export them */
#pragma GCC visibility push(default)

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int socket(int domain, int type, int protocol)
{
	REAL(socket);
	if (domain == AF_RDS)
		return rdsb_socket(domain, type, protocol);
	return real_socket(domain, type, protocol);
}

int bind(int fd, const struct sockaddr *a, socklen_t l)
{
	REAL(bind);
	return rdsb_is_socket(fd) ? rdsb_bind(fd, a, l) : real_bind(fd, a, l);
}

int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	REAL(connect);
	return rdsb_is_socket(fd) ? rdsb_connect(fd, a, l) : real_connect(fd, a, l);
}

/* The fds an SCM_RIGHTS message carries, one call each. */
static void each_passed_fd(const struct msghdr *m, int (*fn)(int))
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int pfd;

			memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			fn(pfd);
		}
	}
}

/* An RDS fd sent to another process: the socket waits for it there. */
static int hold_if_rds(int fd)
{
	return rdsb_is_socket(fd) ? rdsb_hold(fd) : 0;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int f)
{
	REAL(sendmsg);
	if (rdsb_is_socket(fd))
		return rdsb_sendmsg(fd, m, f);
	if (m && m->msg_controllen)
		each_passed_fd(m, hold_if_rds);
	return real_sendmsg(fd, m, f);
}

ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{
	REAL(sendto);
	return rdsb_is_socket(fd) ? rdsb_sendto(fd, b, n, f, a, l) : real_sendto(fd, b, n, f, a, l);
}

ssize_t send(int fd, const void *b, size_t n, int f)
{
	REAL(send);
	return rdsb_is_socket(fd) ? rdsb_send(fd, b, n, f) : real_send(fd, b, n, f);
}

ssize_t write(int fd, const void *b, size_t n)
{
	REAL(write);
	struct iovec iov = { .iov_base = (void *)b, .iov_len = n };

	return rdsb_is_socket(fd) ? rdsb_writev(fd, &iov, 1) : real_write(fd, b, n);
}

ssize_t recvmsg(int fd, struct msghdr *m, int f)
{
	ssize_t r;

	REAL(recvmsg);
	if (rdsb_is_socket(fd))
		return rdsb_recvmsg(fd, m, f);
	r = real_recvmsg(fd, m, f);
	if (r >= 0 && m->msg_controllen) {
		int err = errno;

		each_passed_fd(m, rdsb_attach);	/* an RDS socket from another process */
		errno = err;
	}
	return r;
}

ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
	REAL(recvfrom);
	return rdsb_is_socket(fd) ? rdsb_recvfrom(fd, b, n, f, a, l) : real_recvfrom(fd, b, n, f, a, l);
}

ssize_t recv(int fd, void *b, size_t n, int f)
{
	REAL(recv);
	return rdsb_is_socket(fd) ? rdsb_recv(fd, b, n, f) : real_recv(fd, b, n, f);
}

ssize_t read(int fd, void *b, size_t n)
{
	REAL(read);
	return rdsb_is_socket(fd) ? rdsb_recv(fd, b, n, 0) : real_read(fd, b, n);
}

int setsockopt(int fd, int lv, int nm, const void *v, socklen_t l)
{
	REAL(setsockopt);
	return rdsb_is_socket(fd) ? rdsb_setsockopt(fd, lv, nm, v, l) : real_setsockopt(fd, lv, nm, v, l);
}

int getsockopt(int fd, int lv, int nm, void *v, socklen_t *l)
{
	REAL(getsockopt);
	return rdsb_is_socket(fd) ? rdsb_getsockopt(fd, lv, nm, v, l) : real_getsockopt(fd, lv, nm, v, l);
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	REAL(getsockname);
	return rdsb_is_socket(fd) ? rdsb_getsockname(fd, a, l) : real_getsockname(fd, a, l);
}

int getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
	REAL(getpeername);
	return rdsb_is_socket(fd) ? rdsb_getpeername(fd, a, l) : real_getpeername(fd, a, l);
}

/* The library's own descriptors are not the program's to close or replace
 * (user/lib/ownfds.c): EBADF, as for a number not open, and EBUSY. */
static int not_the_programs(int err)
{
	errno = err;
	return -1;
}

int close(int fd)
{
	REAL(close);
	if (rdsb_is_socket(fd))
		return rdsb_close(fd);
	if (rdsb_own_fd(fd))
		return not_the_programs(EBADF);
	rdsb_epoll_forget(fd);	/* an epoll fd's registrations */
	return real_close(fd);
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	REAL(close_range);
	return rdsb_close_range(first, last, flags, real_close_range);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return rdsb_epoll_ctl(epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return rdsb_epoll_pwait(epfd, ev, max, timeout, NULL);
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	return rdsb_epoll_pwait(epfd, ev, max, timeout, mask);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return rdsb_poll(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	return rdsb_ppoll(fds, n, tmo, mask);
}

#define SELECT_IN (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define SELECT_OUT (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)

/* select as the kernel's do_select over poll answers, when an RDS fd is in
 * one of the sets; NULL: none is (libc's select then). */
static int select_rds(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *tmo,
		      const sigset_t *mask, bool *rds)
{
	struct pollfd p[FD_SETSIZE];
	nfds_t n = 0;
	int ready;

	*rds = false;
	if (nfds < 0 || nfds > FD_SETSIZE)
		return 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (x && FD_ISSET(fd, x) ? POLLPRI : 0));

		if (!ev)
			continue;
		*rds |= rdsb_is_socket(fd);
		p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	if (!*rds)
		return 0;
	ready = rdsb_ppoll(p, n, tmo, mask);
	if (ready < 0)
		return -1;
	ready = 0;
	for (nfds_t i = 0; i < n; i++) {
		int fd = p[i].fd;

		if (p[i].revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		if (r && FD_ISSET(fd, r) && !(p[i].revents & SELECT_IN))
			FD_CLR(fd, r);
		if (w && FD_ISSET(fd, w) && !(p[i].revents & SELECT_OUT))
			FD_CLR(fd, w);
		if (x && FD_ISSET(fd, x) && !(p[i].revents & POLLPRI))
			FD_CLR(fd, x);
		ready += (r && FD_ISSET(fd, r)) + (w && FD_ISSET(fd, w)) + (x && FD_ISSET(fd, x));
	}
	return ready;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	struct timespec ts;
	bool rds;
	int ret;

	REAL(select);
	if (tv) {
		ts.tv_sec = tv->tv_sec;
		ts.tv_nsec = tv->tv_usec * 1000;
	}
	ret = select_rds(nfds, r, w, x, tv ? &ts : NULL, NULL, &rds);
	return rds ? ret : real_select(nfds, r, w, x, tv);
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *tmo, const sigset_t *mask)
{
	bool rds;
	int ret;

	REAL(pselect);
	ret = select_rds(nfds, r, w, x, tmo, mask, &rds);
	return rds ? ret : real_pselect(nfds, r, w, x, tmo, mask);
}

/* A duplicate of an RDS fd is the same RDS socket. */
static int dup_done(int oldfd, int newfd)
{
	if (newfd >= 0)
		rdsb_fd_dup(oldfd, newfd);
	return newfd;
}

int dup(int fd)
{
	REAL(dup);
	return dup_done(fd, real_dup(fd));
}

int dup2(int fd, int fd2)
{
	REAL(dup2);
	if (fd != fd2 && rdsb_own_fd(fd2))
		return not_the_programs(EBUSY);
	return fd == fd2 ? real_dup2(fd, fd2) : dup_done(fd, real_dup2(fd, fd2));
}

int dup3(int fd, int fd2, int flags)
{
	REAL(dup3);
	if (fd != fd2 && rdsb_own_fd(fd2))
		return not_the_programs(EBUSY);
	return dup_done(fd, real_dup3(fd, fd2, flags));
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_done(fd, real(fd, cmd, (long)arg));
	return real(fd, cmd, arg);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int r;

	REAL(fcntl);
	va_start(ap, cmd);
	r = fcntl_common(real_fcntl, fd, cmd, ap);
	va_end(ap);
	return r;
}

int fcntl64(int fd, int cmd, ...)
{
	static int (*real_fcntl64)(int, int, ...);
	va_list ap;
	int r;

	if (!real_fcntl64)
		real_fcntl64 = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl64");
	va_start(ap, cmd);
	r = fcntl_common(real_fcntl64 ? real_fcntl64 : fcntl, fd, cmd, ap);
	va_end(ap);
	return r;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	REAL(ioctl);
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return rdsb_is_socket(fd) ? rdsb_ioctl(fd, req, arg) : real_ioctl(fd, req, arg);
}

int shutdown(int fd, int how)
{
	REAL(shutdown);
	return rdsb_is_socket(fd) ? rdsb_unsupported(fd) : real_shutdown(fd, how);
}

int listen(int fd, int backlog)
{
	REAL(listen);
	return rdsb_is_socket(fd) ? rdsb_unsupported(fd) : real_listen(fd, backlog);
}

int accept(int fd, struct sockaddr *a, socklen_t *l)
{
	REAL(accept);
	return rdsb_is_socket(fd) ? rdsb_unsupported(fd) : real_accept(fd, a, l);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	REAL(accept4);
	return rdsb_is_socket(fd) ? rdsb_unsupported(fd) : real_accept4(fd, a, l, flags);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	REAL(readv);
	return rdsb_is_socket(fd) ? rdsb_readv(fd, iov, cnt) : real_readv(fd, iov, cnt);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(writev);
	return rdsb_is_socket(fd) ? rdsb_writev(fd, iov, cnt) : real_writev(fd, iov, cnt);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	REAL(sendmmsg);
	return rdsb_is_socket(fd) ? rdsb_sendmmsg(fd, v, n, flags) : real_sendmmsg(fd, v, n, flags);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
	REAL(recvmmsg);
	return rdsb_is_socket(fd) ? rdsb_recvmmsg(fd, v, n, flags, tmo) : real_recvmmsg(fd, v, n, flags, tmo);
}

/* exec: the RDS sockets the new image inherits wait for it in the engine
 * (the library's control connections close on exec), and the new image's
 * shim takes them up at start. */
int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve);
	rdsb_hold_inherited();
	return real_execve(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
	REAL(execv);
	rdsb_hold_inherited();
	return real_execv(path, argv);
}

int execvp(const char *file, char *const argv[])
{
	REAL(execvp);
	rdsb_hold_inherited();
	return real_execvp(file, argv);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe);
	rdsb_hold_inherited();
	return real_execvpe(file, argv, envp);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	REAL(fexecve);
	rdsb_hold_inherited();
	return real_fexecve(fd, argv, envp);
}

/* posix_spawn execs inside libc, past execve above: the same holds, and an
 * RDS fd a file action duplicates into the child (FD_CLOEXEC or not) is
 * held when the action is added. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		char *const argv[], char *const envp[])
{
	REAL(posix_spawn);
	rdsb_hold_inherited();
	return real_posix_spawn(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		 char *const argv[], char *const envp[])
{
	REAL(posix_spawnp);
	rdsb_hold_inherited();
	return real_posix_spawnp(pid, file, fa, attr, argv, envp);
}

int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	REAL(posix_spawn_file_actions_adddup2);
	if (rdsb_is_socket(fd))
		rdsb_hold(fd);
	return real_posix_spawn_file_actions_adddup2(fa, fd, newfd);
}

/* execl, execlp, execle: their arguments as an argv */
#define ARGV_FROM_VA(arg, argv, ap)                                             \
	size_t n_ = 1;                                                           \
	va_start(ap, arg);                                                       \
	while (va_arg(ap, char *))                                               \
		n_++;                                                            \
	va_end(ap);                                                              \
	char *argv[n_ + 1];                                                      \
	va_start(ap, arg);                                                       \
	argv[0] = (char *)arg;                                                   \
	for (size_t i_ = 1; i_ <= n_; i_++)                                      \
		argv[i_] = va_arg(ap, char *)

int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM_VA(arg, argv, ap);
	va_end(ap);
	return execv(path, argv);
}

int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM_VA(arg, argv, ap);
	va_end(ap);
	return execvp(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;
	ARGV_FROM_VA(arg, argv, ap);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

/* At start: the RDS sockets this image inherited across exec. */
__attribute__((constructor)) static void take_up_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != dirfd(d))
			rdsb_attach(fd);
	}
	closedir(d);
}
