// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Socket lifetime, bind/connect and names: what af_rds.c and bind.c do. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <rds-bpf/rules.h>
#include "lib.h"
#include "../common/addr.h"

#define MAX_FDS RDSB_FDS_MAX

static struct rdsb_lsock **table;
static int table_max;	/* the highest fd ever an RDS socket, under table_lock */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
pid_t rdsb_self;

/* The table is not mid-change in a fork's child (the copies' watcher,
 * watch.c, walks it from a thread of its own). */
static void forking(void)
{
	pthread_mutex_lock(&table_lock);
	rdsb_fd_room_forking();
}

static void forked_parent(void)
{
	rdsb_fd_room_forked(false);
	pthread_mutex_unlock(&table_lock);
}

/* A child of fork holds the sockets too, but the copies of what was sent
 * before are the parent's to send again (copies.c): one copy each; and it
 * has a pid of its own. The child runs alone here. */
static void forked(void)
{
	rdsb_fd_room_forked(true);
	pthread_mutex_unlock(&table_lock);
	rdsb_self = getpid();
	rdsb_watch_forked();
	for (int fd = 0; table && fd <= table_max; fd++)
		if (table[fd])
			rdsb_copies_forget(table[fd]);
}

static void table_alloc(void)
{
	pthread_mutex_lock(&table_lock);
	if (!table) {
		rdsb_self = getpid();
		rdsb_own_alloc();
		__atomic_store_n(&table, calloc(MAX_FDS, sizeof(*table)), __ATOMIC_RELEASE);
		pthread_atfork(forking, forked_parent, forked);
	}
	pthread_mutex_unlock(&table_lock);
}

struct rdsb_lsock *rdsb_lsock_get(int fd)
{
	struct rdsb_lsock *s = NULL;

	if (fd < 0 || fd >= MAX_FDS || !__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&table_lock);
	s = table[fd];
	if (s)	/* the table's reference keeps it alive until here */
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&table_lock);
	return s;
}

#define LSOCK_FDS_MAX (7 + RDSB_RX_NEXT_MAX)

/* The library's own descriptors of s */
static int lsock_fds(const struct rdsb_lsock *s, int out[LSOCK_FDS_MAX])
{
	int n = 0;

	out[n++] = s->fd;
	out[n++] = s->ctl;
	out[n++] = s->spacefd;
	out[n++] = s->lsh_fd;
	if (s->txfd >= 0)
		out[n++] = s->txfd;
	if (s->park_peer >= 0)
		out[n++] = s->park_peer;
	if (s->rx_kept >= 0)
		out[n++] = s->rx_kept;
	for (int i = 0; i < s->n_rx_next; i++)
		out[n++] = s->rx_next[i].fd;
	return n;
}

void rdsb_lsock_own(const struct rdsb_lsock *s)
{
	int fds[LSOCK_FDS_MAX], n = lsock_fds(s, fds);

	for (int i = 0; i < n; i++)
		rdsb_own_sock_fd(fds[i]);
}

bool rdsb_lsocks_hold_fd(int fd)
{
	bool held = false;

	if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i <= table_max && !held; i++) {
		int fds[LSOCK_FDS_MAX], n;

		if (!table[i])
			continue;
		n = lsock_fds(table[i], fds);
		for (int k = 0; k < n && !held; k++)
			held = fds[k] == fd;
	}
	pthread_mutex_unlock(&table_lock);
	return held;
}

static void lsock_free(struct rdsb_lsock *s)
{
	int fds[LSOCK_FDS_MAX], n = lsock_fds(s, fds);

	for (int i = 0; i < n; i++)
		rdsb_own_close(fds[i]);
	if (s->ring)
		munmap(s->ring, RDSB_TXRING_BYTES);
	rdsb_reqq_unmap(s);
	rdsb_copies_free(s);
	if (s->lost)
		__atomic_sub_fetch(&rdsb_lost_socks, 1, __ATOMIC_RELAXED);
	if ((char *)s->lsh - RDSB_SHM_LIB_OFF != (char *)s->shm)
		munmap((char *)s->lsh - RDSB_SHM_LIB_OFF, 4096);	/* kept out of old_pages */
	munmap(s->shm, 4096);
	while (s->old_pages) {
		struct rdsb_page *p = s->old_pages;

		s->old_pages = p->next;
		munmap(p->page, 4096);
		free(p);
	}
	free(s);
}

/* The caller holds a reference already. */
void rdsb_lsock_hold(struct rdsb_lsock *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

/* No lock: the last reference is never the table's while the socket is in
 * it, so nothing can find the socket once the count reaches 0. */
void rdsb_lsock_put(struct rdsb_lsock *s)
{
	int err = errno;

	if (!__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		lsock_free(s);
	errno = err;	/* the call's own */
}

/* Every libc call the shim interposes asks this first, for every fd: no
 * lock and no reference. The answer is as of the load; the call it decides
 * takes its reference (rdsb_lsock_get) and answers EBADF if a close came in
 * between, as the kernel's fdget would have. */
bool rdsb_is_socket(int fd)
{
	struct rdsb_lsock **t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);

	return fd >= 0 && fd < MAX_FDS && t && __atomic_load_n(&t[fd], __ATOMIC_ACQUIRE);
}

bool rdsb_nonblocking(int fd, int flags)
{
	if (flags & MSG_DONTWAIT)
		return true;
	return sys_fcntl(fd, F_GETFL, 0) & O_NONBLOCK;
}

bool rdsb_restarts(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (!sigaction(sig, NULL, &sa) &&
		    ((sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)) &&
		    !(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

int rdsb_timeo_ms(const struct timeval *tv)
{
	if (!tv->tv_sec && !tv->tv_usec)
		return -1;
	return (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
}

/* One request/reply on ctl; the reply's payload (up to buflen bytes) goes
 * to buf. Returns 0 or -errno. */
int rdsb_ctl_xfer(int ctl, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep, void *buf, size_t buflen,
		  size_t *got)
{
	return rdsb_ctl_xfer_fd(ctl, req, -1, rep, buf, buflen, got);
}

int rdsb_ctl_xfer_fd(int ctl, struct rdsb_ctl_req *req, int fd, struct rdsb_ctl_rep *rep, void *buf, size_t buflen,
		     size_t *got)
{
	struct iovec iov[2] = { { .iov_base = rep, .iov_len = sizeof(*rep) }, { .iov_base = buf, .iov_len = buflen } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct iovec siov = { .iov_base = req, .iov_len = sizeof(*req) };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr smh = { .msg_iov = &siov, .msg_iovlen = 1 };
	ssize_t n = -1;

	if (fd >= 0) {
		struct cmsghdr *cm;

		smh.msg_control = cbuf;
		smh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&smh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}

	if (sys_sendmsg(ctl, &smh, MSG_NOSIGNAL) == sizeof(*req)) {
		do
			n = sys_recvmsg(ctl, &mh, 0);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0 && errno == EAGAIN)
		return -ETIMEDOUT;	/* rdsb_ctl_timeout_ms */
	if (n < (ssize_t)sizeof(*rep))
		return -EPIPE;
	*got = (size_t)n - sizeof(*rep);
	return -rep->err;
}

int rdsb_ctl_call_data(struct rdsb_lsock *s, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep, void *buf,
		       size_t buflen, size_t *got)
{
	int err;

	for (int tries = 0;; tries++) {
		rdsb_lock(&s->lsh->clock);	/* threads, and processes since fork */
		err = rdsb_ctl_xfer(s->ctl, req, rep, buf, buflen, got);
		pthread_mutex_unlock(&s->lsh->clock);
		/* the engine went: asked again of the next one, if it runs;
		 * without one the caller sees the error as before (a send
		 * then waits for an engine) */
		if ((err != -EPIPE && err != -ECONNRESET) || tries || !rdsb_engine_gone(s) ||
		    rdsb_engine_back(s, false, -1))
			return err;
	}
}

int rdsb_ctl_call(struct rdsb_lsock *s, struct rdsb_ctl_req *req, struct rdsb_ctl_rep *rep)
{
	size_t got;

	return rdsb_ctl_call_data(s, req, rep, NULL, 0, &got);
}

int rdsb_ctl_timeout_ms;

int rdsb_engine_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(RDSB_CTL_NAME));
	struct timeval tv = { .tv_sec = rdsb_ctl_timeout_ms / 1000, .tv_usec = rdsb_ctl_timeout_ms % 1000 * 1000 };
	int fd = rdsb_fd_aside(sys_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));

	if (fd < 0)
		return -1;
	/* the send timeout bounds the connect too: a stopped engine's
	 * listening socket whose backlog is full makes it wait */
	if (rdsb_ctl_timeout_ms &&
	    (sys_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	     sys_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))) {
		sys_close(fd);
		return -1;
	}
	memcpy(sun.sun_path + 1, RDSB_CTL_NAME, strlen(RDSB_CTL_NAME));
	if (sys_connect(fd, &sun, len) < 0) {
		int err = errno;

		sys_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* OPEN (or ATTACH): the reply carries (see ctl_proto.h) the delivery fd, the shared page,
 * the address table and congestion maps, the send-space eventfd and, on the
 * sk_msg send path, the send socket, rdsb_txpath and the paths' locks; and the engine's
 * transport. Returns the number of fds, or -errno. */
void rdsb_close_fds(const int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			sys_close(fds[i]);
}

static bool all_open(const int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return false;
	return true;
}

/* Once a process: a socket refused for the engine's build is an
 * installation's mistake that a human has to see (the engine logs it too). */
static void abi_refused(uint16_t engine_abi)
{
	static int told;

	if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
		dprintf(STDERR_FILENO,
			"librdsb: the rds-bpf engine here is of another build (socket ABI %u, this library's %u): "
			"RDS sockets fail with EPROTONOSUPPORT; hint: use the librdsb installed with that rds-bpf\n",
			engine_abi, RDSB_ABI);
}

int rdsb_engine_open(int ctl, const struct rdsb_ctl_req *req, int fds[OPEN_FDS], int *transport)
{
	struct rdsb_ctl_req abi_req = *req;
	struct rdsb_ctl_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int) * OPEN_FDS)];
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct iovec siov = { .iov_base = &abi_req, .iov_len = sizeof(abi_req) };
	struct msghdr smh = { .msg_iov = &siov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;
	bool opened;
	int nfds;

	abi_req.abi = RDSB_ABI;
	if (sys_sendmsg(ctl, &smh, MSG_NOSIGNAL) != sizeof(abi_req))
		return -EAFNOSUPPORT;
	do
		n = sys_recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -ETIMEDOUT;	/* rdsb_ctl_timeout_ms */
	if (n < (ssize_t)sizeof(rep))
		return -EAFNOSUPPORT;
	cm = CMSG_FIRSTHDR(&mh);
	nfds = cm && cm->cmsg_type == SCM_RIGHTS ? (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)) : 0;
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)nfds);
	/* the ones the library keeps (the others it closes in a moment, the
	 * stream is the application's fd) */
	for (int i = OPEN_SHM; i < nfds && i <= OPEN_TX; i++)
		if (i != OPEN_ADDRS && i != OPEN_CONG)
			fds[i] = rdsb_fd_aside(fds[i]);
	/* fds cut off: the kernel had no number for them */
	opened = all_open(fds, nfds) && !(mh.msg_flags & MSG_CTRUNC);
	if (rep.abi != RDSB_ABI || rep.err || !opened ||
	    (nfds != OPEN_FDS - OPEN_SKMSG_FDS && nfds != OPEN_FDS && (nfds != ATTACH_FDS || req->op != RDSB_CTL_ATTACH))) {
		rdsb_close_fds(fds, nfds);
		/* an engine before RDSB_ABI answers 0, and takes the socket */
		if (rep.abi != RDSB_ABI)
			abi_refused(rep.abi);
		return rep.abi != RDSB_ABI ? -EPROTONOSUPPORT : rep.err ? -rep.err : !opened ? -EMFILE : -EPROTO;
	}
	*transport = (int)rep.arg;
	return nfds;
}

void rdsb_shared_locks_init(struct rdsb_lib_shm *l)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&l->rlock, &a);
	pthread_mutex_init(&l->wlock, &a);
	pthread_mutex_init(&l->clock, &a);
	pthread_mutexattr_destroy(&a);
}

void rdsb_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

/* The socket of an OPEN reply, or -errno; the fds are its or closed. */
static int lsock_new(struct rdsb_lsock *s, int ctl, int *fds, int nfds)
{
	int err = 0;

	s->em = rdsb_engine_maps(fds[OPEN_ADDRS], fds[OPEN_CONG], nfds == OPEN_FDS ? fds[OPEN_TXPATH] : -1,
				 nfds == OPEN_FDS ? fds[OPEN_TXLOCK] : -1);
	if (!s->em)
		err = -ENOMEM;
	sys_close(fds[OPEN_ADDRS]);
	sys_close(fds[OPEN_CONG]);
	s->ctl = ctl;
	s->park_peer = s->rx_kept = -1;
	s->spacefd = fds[OPEN_SPACE];
	s->txfd = nfds == OPEN_FDS ? fds[OPEN_TX] : -1;
	s->lsh_fd = -1;
	if (nfds == OPEN_FDS) {
		if (s->em && !s->em->txpaths) {
			rdsb_own_close(s->txfd);	/* sends go through the engine */
			s->txfd = -1;
		}
		sys_close(fds[OPEN_TXPATH]);
		sys_close(fds[OPEN_TXLOCK]);
	}
	s->shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[OPEN_SHM], 0);
	if (s->shm != MAP_FAILED) {
		rdsb_txring_map(s, fds[OPEN_SHM]);
		rdsb_reqq_map(s, fds[OPEN_SHM]);
		rdsb_copies_map(s, fds[OPEN_SHM]);
	}
	if (nfds == ATTACH_FDS) {
		/* the socket moved: its library page is the first engine's */
		void *lp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[ATTACH_LIB], 0);

		sys_close(fds[OPEN_SHM]);
		s->lsh_fd = fds[ATTACH_LIB];
		s->lsh = lp == MAP_FAILED ? NULL : (struct rdsb_lib_shm *)((char *)lp + RDSB_SHM_LIB_OFF);
	} else {
		s->lsh_fd = fds[OPEN_SHM];
		s->lsh = s->shm == MAP_FAILED ? NULL : (struct rdsb_lib_shm *)((char *)s->shm + RDSB_SHM_LIB_OFF);
	}
	if ((s->shm == MAP_FAILED || !s->lsh) && !err)
		err = -ENOMEM;
	if (s->lsh)
		s->st = &s->lsh->st;
	if (s->shm != MAP_FAILED && s->lsh)
		s->rx = (struct rdsb_rx_stream){ .fd = -1, .epoch = s->epoch = s->lsh->epoch, .shm = s->shm, .em = s->em };
	/* the library's own descriptor of the delivery stream (see lib.h) */
	s->fd = rdsb_fd_dup_aside(fds[OPEN_STREAM]);
	if (s->fd < 0 && !err)
		err = -errno;
	if (!err)
		return 0;
	if (s->fd >= 0)
		sys_close(s->fd);
	if (s->lsh && (char *)s->lsh - RDSB_SHM_LIB_OFF != (char *)s->shm)
		munmap((char *)s->lsh - RDSB_SHM_LIB_OFF, 4096);
	if (s->shm != MAP_FAILED)
		munmap(s->shm, 4096);
	sys_close(s->lsh_fd);
	if (s->ring)
		munmap(s->ring, RDSB_TXRING_BYTES);
	rdsb_reqq_unmap(s);
	sys_close(s->spacefd);
	if (s->txfd >= 0)
		sys_close(s->txfd);
	sys_close(ctl);
	sys_close(fds[OPEN_STREAM]);
	return err;
}

/* The socket of a fresh OPEN, its descriptors made in the room above the
 * program's limit (rdsb_fd_room_open): 0, or -errno. The application's fd,
 * fds[OPEN_STREAM], is the lowest free number, as the kernel's would be;
 * none under the program's limit is EMFILE. */
static int lsock_open(struct rdsb_lsock *s, int fds[OPEN_FDS], int *transport)
{
	int ctl = rdsb_engine_connect(), nfds;

	if (ctl < 0)	/* as on a kernel without RDS; `rds-bpf load` starts the engine */
		return errno == EAGAIN ? -ETIMEDOUT : -EAFNOSUPPORT;
	nfds = rdsb_engine_open(ctl, &(struct rdsb_ctl_req){ .op = RDSB_CTL_OPEN }, fds, transport);
	if (nfds < 0) {
		sys_close(ctl);
		return nfds;
	}
	if (fds[OPEN_STREAM] >= rdsb_fd_room_limit() || fds[OPEN_STREAM] >= MAX_FDS) {
		rdsb_close_fds(fds, nfds);
		sys_close(ctl);
		return -EMFILE;
	}
	return lsock_new(s, ctl, fds, nfds);
}

int rdsb_socket(int domain, int type, int protocol)
{
	struct rdsb_lsock *s;
	int fds[OPEN_FDS], err, transport = 0, base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain != AF_RDS) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (base != SOCK_SEQPACKET || protocol) {
		errno = ESOCKTNOSUPPORT;
		return -1;
	}
	table_alloc();
	s = calloc(1, sizeof(*s));
	if (!table || !s) {
		free(s);
		errno = ENOMEM;
		return -1;
	}
	rdsb_fd_room_open();
	err = lsock_open(s, fds, &transport);
	rdsb_fd_room_close();
	if (err) {
		free(s);
		errno = -err;
		return -1;
	}
	s->refs = 1;
	s->st->transport = RDS_TRANS_NONE;
	s->st->engine_transport = transport;
	s->st->sk_sndbuf = rdsb_sysctl_int("wmem_default", 212992);
	s->st->sk_rcvbuf = rdsb_sysctl_int("rmem_default", 212992);
	rdsb_shared_locks_init(s->lsh);
	if (fds[OPEN_STREAM] > table_max)
		table_max = fds[OPEN_STREAM];
	if (type & SOCK_NONBLOCK)
		sys_fcntl(s->fd, F_SETFL, sys_fcntl(s->fd, F_GETFL, 0) | O_NONBLOCK);
	if (!(type & SOCK_CLOEXEC))
		sys_fcntl(fds[OPEN_STREAM], F_SETFD, 0);
	rdsb_lsock_own(s);
	pthread_mutex_lock(&table_lock);
	__atomic_store_n(&table[fds[OPEN_STREAM]], s, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&table_lock);
	return fds[OPEN_STREAM];
}

void rdsb_fds_replace(struct rdsb_lsock *s, int fd)
{
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i <= table_max; i++)
		if (table[i] == s)
			sys_dup3(fd, i, sys_fcntl(i, F_GETFD, 0) & FD_CLOEXEC ? O_CLOEXEC : 0);
	pthread_mutex_unlock(&table_lock);
}

void rdsb_fd_set(int fd, struct rdsb_lsock *s)
{
	struct rdsb_lsock *old = NULL;

	if (fd >= 0 && fd < MAX_FDS && __atomic_load_n(&table, __ATOMIC_ACQUIRE) && !rdsb_vfork_child()) {
		pthread_mutex_lock(&table_lock);
		old = table[fd];
		__atomic_store_n(&table[fd], s, __ATOMIC_RELEASE);
		if (s && fd > table_max)
			table_max = fd;
		pthread_mutex_unlock(&table_lock);
	} else if (s) {
		rdsb_lsock_put(s);
	}
	if (old) {
		rdsb_epoll_forget(fd);
		rdsb_lsock_put(old);
	}
}

int rdsb_lsocks_held(bool (*want)(const struct rdsb_lsock *), struct rdsb_lsock ***out)
{
	static uint32_t walk;
	struct rdsb_lsock **v = NULL;
	int n = 0, cap = 0;

	*out = NULL;
	if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&table_lock);
	walk++;
	for (int fd = 0; fd <= table_max; fd++) {
		struct rdsb_lsock *s = table[fd];

		if (!s || s->walk_mark == walk || !want(s))
			continue;
		if (n == cap) {
			struct rdsb_lsock **w = realloc(v, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!w) {
				pthread_mutex_unlock(&table_lock);
				while (n)
					rdsb_lsock_put(v[--n]);
				free(v);
				return -1;
			}
			v = w;
		}
		s->walk_mark = walk;
		rdsb_lsock_hold(s);	/* the table's keeps it alive until here */
		v[n++] = s;
	}
	pthread_mutex_unlock(&table_lock);
	*out = v;
	return n;
}

/* As the kernel: the fd goes now, the socket when the last call in progress
 * on it returns (a thread blocked in recv keeps receiving). */
int rdsb_close(int fd)
{
	rdsb_fd_set(fd, NULL);
	return sys_close(fd);
}

static int lsock_bind(struct rdsb_lsock *s, const struct sockaddr *sa, socklen_t len)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_BIND };
	struct rdsb_ctl_rep rep;
	int err;

	if (rdsb_addr_from_sa(sa, len, req.addr, &req.port, &req.scope_id) < 0 ||
	    !rdsb_addr_is_unicast(req.addr) ||
	    (sa->sa_family == AF_INET6 && rdsb_addr_is_linklocal6(req.addr) && !req.scope_id) ||
	    s->st->bound || req.port == RDS_FLAG_PROBE_PORT) {
		errno = EINVAL;
		return -1;
	}
	if (s->st->transport != RDS_TRANS_NONE)
		req.val = RDSB_BIND_CHOSEN;
	err = rdsb_ctl_call(s, &req, &rep);
	if (err == -EADDRNOTAVAIL && s->st->transport != RDS_TRANS_NONE)
		err = -ENOPROTOOPT;	/* rds_bind: an explicit transport's laddr_check failed */
	if (err) {
		errno = err == -EPIPE ? EAFNOSUPPORT : -err;
		return -1;
	}
	memcpy(s->st->addr, req.addr, 16);
	s->st->scope_id = req.scope_id;
	s->st->port = rep.port;
	s->st->transport = (int)rep.arg;
	s->st->bound = true;
	return 0;
}

int rdsb_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_bind(s, sa, len));
}

static int lsock_connect(struct rdsb_lsock *s, const struct sockaddr *sa, socklen_t len)
{
	uint8_t a[16];
	uint16_t port;
	uint32_t scope;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		errno = sa && len >= sizeof(sa_family_t) ? EAFNOSUPPORT : EINVAL;
		return -1;
	}
	if (rdsb_addr_from_sa(sa, len, a, &port, &scope) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (sa->sa_family == AF_INET) {
		static const uint8_t any4[16] = { [10] = 0xff, [11] = 0xff };

		if (!memcmp(a, any4, 16)) {
			errno = EDESTADDRREQ;
			return -1;
		}
		if (!rdsb_addr_is_unicast(a)) {
			errno = EINVAL;
			return -1;
		}
	} else if (!rdsb_addr_is_unicast(a) || (rdsb_addr_is_linklocal6(a) && !scope)) {
		errno = EPROTOTYPE;
		return -1;
	}
	memcpy(s->st->caddr, a, 16);
	s->st->cport = port;
	s->st->cscope_id = scope;
	s->st->connected = true;
	return 0;
}

int rdsb_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_connect(s, sa, len));
}

static int name_out(const uint8_t a[16], uint16_t port, uint32_t scope, bool v6, struct sockaddr *out,
		    socklen_t *len)
{
	struct sockaddr_storage ss;
	socklen_t n = rdsb_addr_to_sa(a, port, scope, v6, &ss);

	if (!out || !len) {
		errno = EFAULT;
		return -1;
	}
	memcpy(out, &ss, *len < n ? *len : n);
	*len = n;
	return 0;
}

/* rds_getname: unbound, the connected address's family with a zero
 * address, or AF_UNSPEC with the size of an IPv4 address. */
static int lsock_getsockname(struct rdsb_lsock *s, struct sockaddr *out, socklen_t *len)
{
	static const uint8_t any4[16] = { [10] = 0xff, [11] = 0xff }, any6[16];
	struct sockaddr_in unspec = { .sin_family = AF_UNSPEC };

	if (s->st->bound)
		return name_out(s->st->addr, s->st->port, s->st->scope_id, false, out, len);
	if (s->st->connected)
		return name_out(rdsb_addr_is_v4(s->st->caddr) ? any4 : any6, 0, 0, !rdsb_addr_is_v4(s->st->caddr), out,
				len);
	if (!out || !len) {
		errno = EFAULT;
		return -1;
	}
	memcpy(out, &unspec, *len < sizeof(unspec) ? *len : sizeof(unspec));
	*len = sizeof(unspec);
	return 0;
}

int rdsb_getsockname(int fd, struct sockaddr *out, socklen_t *len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_getsockname(s, out, len));
}

static int lsock_getpeername(struct rdsb_lsock *s, struct sockaddr *out, socklen_t *len)
{

	if (!s->st->connected) {
		errno = ENOTCONN;
		return -1;
	}
	return name_out(s->st->caddr, s->st->cport, s->st->cscope_id, false, out, len);
}

int rdsb_getpeername(int fd, struct sockaddr *out, socklen_t *len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_getpeername(s, out, len));
}

static bool unix_stream(int fd, uint64_t *ino)
{
	struct stat st;
	int v;
	socklen_t l = sizeof(v);

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &v, &l) || v != AF_UNIX ||
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &v, &l) || v != SOCK_STREAM)
		return false;
	*ino = st.st_ino;
	return true;
}

int rdsb_attach(int fd)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_ATTACH };
	struct rdsb_lsock *s;
	int fds[OPEN_FDS], ctl, nfds, transport, err;

	if (fd < 0 || fd >= MAX_FDS || rdsb_is_socket(fd) || !unix_stream(fd, &req.val))
		return -1;
	if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		table_alloc();
	if (!table)
		return -1;
	rdsb_fd_room_open();
	ctl = rdsb_engine_connect();
	nfds = ctl >= 0 ? rdsb_engine_open(ctl, &req, fds, &transport) : -1;
	if (nfds < 0) {
		rdsb_fd_room_close();
		if (ctl >= 0)
			sys_close(ctl);
		return -1;	/* not an RDS socket of this namespace's engine */
	}
	s = calloc(1, sizeof(*s));
	err = s ? lsock_new(s, ctl, fds, nfds) : -ENOMEM;
	rdsb_fd_room_close();
	if (err) {
		free(s);
		return -1;
	}
	sys_close(fds[OPEN_STREAM]);	/* s->fd is its duplicate */
	s->refs = 1;
	rdsb_lsock_own(s);
	rdsb_fd_set(fd, s);
	return 0;
}

/* The RDS sockets of this process that an exec passes on (no FD_CLOEXEC):
 * the engine keeps them for the new image to attach. */
void rdsb_hold_inherited(void)
{
	int max;

	if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&table_lock);
	max = table_max;
	pthread_mutex_unlock(&table_lock);
	for (int fd = 0; fd <= max; fd++)
		if (!(sys_fcntl(fd, F_GETFD, 0) & FD_CLOEXEC))
			rdsb_hold(fd);
}

int rdsb_hold(int fd)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_HOLD };
	struct rdsb_ctl_rep rep;

	return RDSB_WITH_SOCK(fd, s, rdsb_ctl_call(s, &req, &rep));
}

static void fds_closing(unsigned int first, unsigned int last)
{
	int max;

	if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE) || rdsb_vfork_child())
		return;
	pthread_mutex_lock(&table_lock);
	max = table_max;
	pthread_mutex_unlock(&table_lock);
	for (unsigned int fd = first; fd <= last && fd <= (unsigned int)max; fd++)
		rdsb_fd_set((int)fd, NULL);
}

/* The library's descriptors in the range stay (ownfds.c), the rest close
 * in the runs between them. No malloc: a child of vfork runs in its
 * parent's memory. */
int rdsb_close_range(unsigned int first, unsigned int last, int flags,
		     int (*real)(unsigned int, unsigned int, int))
{
	int max = rdsb_own_max(), err = 0;
	unsigned int from = first;

	if (first > last)
		return real(first, last, flags);	/* EINVAL */
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		fds_closing(first, last);
		for (unsigned int fd = first; max >= 0 && fd <= last && fd <= (unsigned int)max; fd++) {
			if (!rdsb_own_fd((int)fd))
				continue;
			if (fd > from && real(from, fd - 1, flags))
				err = -1;
			from = fd + 1;
		}
	}
	if (from <= last && real(from, last, flags))
		err = -1;
	return err;
}
