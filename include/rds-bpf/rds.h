/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * librdsb: Reliable Datagram Sockets without the kernel module.
 *
 * Every call mirrors the BSD socket call of the same name on an AF_RDS socket,
 * with the kernel's semantics and errno values (see librdsb(3)). The fd that
 * rdsb_socket() returns is a real file descriptor: poll/epoll/select on it for
 * POLLIN. Constants and structs (SOL_RDS, RDS_CANCEL_SENT_TO, RDS_CMSG_*, ...)
 * are those of <linux/rds.h>.
 *
 * Needs `rds-bpf load` to be running in the caller's network namespace.
 * Link with -lrdsb (pkg-config rds-bpf), or run an unmodified AF_RDS program
 * with LD_PRELOAD=librdsb-preload.so.
 */
#ifndef RDSB_RDS_H
#define RDSB_RDS_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/rds.h>

#ifndef AF_RDS
#define AF_RDS 21
#endif
#ifndef SOL_RDS
#define SOL_RDS 276
#endif
/* SO_RDS_TRANSPORT of rds-bpf's XDP/AF_XDP transport (`rds-bpf load
 * --transport xdp`), after the kernel's RDS_TRANS_COUNT. */
#ifndef RDS_TRANS_XDP
#define RDS_TRANS_XDP 4
#endif

#define RDSB_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

RDSB_API int rdsb_socket(int domain, int type, int protocol);
RDSB_API int rdsb_bind(int fd, const struct sockaddr *addr, socklen_t len);
RDSB_API int rdsb_connect(int fd, const struct sockaddr *addr, socklen_t len);
RDSB_API ssize_t rdsb_sendmsg(int fd, const struct msghdr *msg, int flags);
RDSB_API ssize_t rdsb_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		    socklen_t tolen);
RDSB_API ssize_t rdsb_send(int fd, const void *buf, size_t len, int flags);
RDSB_API ssize_t rdsb_recvmsg(int fd, struct msghdr *msg, int flags);
RDSB_API ssize_t rdsb_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		      socklen_t *fromlen);
RDSB_API ssize_t rdsb_recv(int fd, void *buf, size_t len, int flags);
RDSB_API int rdsb_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
RDSB_API int rdsb_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
RDSB_API int rdsb_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
RDSB_API int rdsb_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
RDSB_API int rdsb_close(int fd);
/* poll/ppoll with rds_poll's answers for RDS fds (POLLOUT only while the
 * send queue has room); other fds as poll(2). */
RDSB_API int rdsb_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
/* epoll_ctl/epoll_wait/epoll_pwait with rds_poll's EPOLLOUT for RDS fds. */
struct epoll_event;
RDSB_API int rdsb_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
RDSB_API int rdsb_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms);
RDSB_API int rdsb_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout_ms, const sigset_t *sigmask);
RDSB_API int rdsb_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *sigmask);

/* True if fd is an RDS socket made by rdsb_socket(). */
RDSB_API bool rdsb_is_socket(int fd);

#ifdef __cplusplus
}
#endif
#endif
