// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rest of what a program can do with an RDS fd, as net/rds and the
 * socket layer answer it: fd duplicates that are the same socket, ioctl
 * (rds_ioctl's TOS; the VFS's own commands), the calls RDS does not support
 * (shutdown, listen, accept: EOPNOTSUPP, and the socket keeps working),
 * vector and batch I/O as the socket layer hands them to rds_sendmsg and
 * rds_recvmsg.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include "lib.h"

/* newfd is now a duplicate of oldfd (dup, dup2, dup3, F_DUPFD): the same
 * RDS socket, as in the kernel; what newfd was before is closed. */
void rdsb_fd_dup(int oldfd, int newfd)
{
	struct rdsb_lsock *s = rdsb_lsock_get(oldfd);

	rdsb_fd_set(newfd, s);	/* takes the reference */
}

/* rds_ioctl: TOS once the socket has a transport (the TCP transport maps
 * every TOS to 0), EINVAL once it has sent; ENOIOCTLCMD otherwise, which
 * the socket layer answers as for any socket (the delivery stream's own
 * answer is that one). FIONREAD and other tty-type commands: ENOTTY. */
static int lsock_ioctl(struct rdsb_lsock *s, int fd, unsigned long req, void *arg)
{
	switch (req) {
	case FIONBIO:
	case FIOASYNC:
	case FIOCLEX:
	case FIONCLEX:
		return sys_ioctl(fd, req, arg);	/* the VFS's, before any socket */
	case SIOCRDSSETTOS:
	case SIOCRDSGETTOS:
		if (s->st->transport == RDS_TRANS_NONE)
			break;
		if (!arg) {
			errno = EFAULT;
			return -1;
		}
		if (req == SIOCRDSGETTOS) {
			*(rds_tos_t *)arg = s->st->tos;
			return 0;
		}
		if (s->st->tos || s->st->has_sent) {
			errno = EINVAL;
			return -1;
		}
		s->st->tos = 0;	/* rds_tcp_get_tos_map */
		return 0;
	default:
		if (_IOC_TYPE(req) != 0x89) {
			errno = ENOTTY;
			return -1;
		}
	}
	return sys_ioctl(s->fd, req, arg);
}

int rdsb_ioctl(int fd, unsigned long req, void *arg)
{
	return RDSB_WITH_SOCK(fd, s, lsock_ioctl(s, fd, req, arg));
}

int rdsb_unsupported(int fd)
{
	return RDSB_WITH_SOCK(fd, s, ((void)s, errno = EOPNOTSUPP, -1));
}

ssize_t rdsb_readv(int fd, const struct iovec *iov, int cnt)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	return rdsb_recvmsg(fd, &mh, 0);
}

/* sock_write_iter marks a SOCK_SEQPACKET write MSG_EOR, which rds_sendmsg
 * refuses: write and writev on RDS are EOPNOTSUPP (seen on 7.2). */
ssize_t rdsb_writev(int fd, const struct iovec *iov, int cnt)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	return rdsb_sendmsg(fd, &mh, MSG_EOR);
}

/* As __sys_sendmmsg: the count sent, or the first datagram's error. Every
 * datagram but the last goes with MSG_BATCH, which rds_sendmsg refuses
 * (EOPNOTSUPP): on RDS only a batch of one is sent. */
int rdsb_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		ssize_t r = rdsb_sendmsg(fd, &v[i].msg_hdr, flags | (i + 1 < n ? MSG_BATCH : 0));

		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

/* As do_recvmmsg: MSG_WAITFORONE turns nonblocking after the first. */
int rdsb_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
	unsigned int i;

	(void)tmo;	/* checked between datagrams by the kernel: each waits as recvmsg */
	for (i = 0; i < n; i++) {
		ssize_t r = rdsb_recvmsg(fd, &v[i].msg_hdr, flags & ~MSG_WAITFORONE);

		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
	}
	return (int)i;
}
