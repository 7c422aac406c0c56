// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Acknowledgements on the fast path, engine side (the program:
 * sockops.bpf.c). The sock_ops program is attached to the engine's
 * own cgroup v2, where every path socket is made (accepted sockets take their
 * listener's cgroup), through a link that goes when the engine goes. The
 * engine marks its sockets in rdsb_tcpsk (the listener, so that accepted
 * sockets inherit the mark, and each socket before it connects), and gives a
 * path socket an rdsb_tcppath entry when it comes up. While a path has an
 * unacknowledged message whose sender was past half its sndbuf (ack_wake),
 * or senders wait for its connection to have room (send.c, CONN_TX_MAX),
 * the entry's ack_wake is set, and the program's RDSB_EV_ACKED brings the engine
 * to rdsb_path_check_acked at the ack. Other messages are freed on the
 * engine's next pass (each pass looks at snd_una) or by the poll in
 * rdsb_conns_timer, so that a reply carrying the ack of a request costs no
 * wakeup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tcp.h"
#include "../../user/common/log.h"
#include "sockops.skel.h"

#define TCPPATH_BYTES (RDSB_MAX_TCPPATHS * sizeof(struct rdsb_tcppath))

/* A cgroup v2 mount point (mountinfo) and the root it shows; "" if none. */
static void cgroup2_mount(char *mnt, char *root)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	mnt[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) == 2)
			break;
		else
			mnt[0] = '\0';
	if (f)
		fclose(f);
}

/* Our own cgroup v2 directory, opened; tcp_of(e)->cgroup = its path in the
 * hierarchy. `ip netns exec` remounts /sys without the cgroup mounts: then
 * a private mount of the hierarchy, gone again once the directory is open. */
static int open_own_cgroup(struct rdsb_engine *e)
{
	char line[1024], mnt[512], root[512] = "/", dir[1100], tmp[] = "/tmp/rds-bpf-cgroup.XXXXXX";
	FILE *f = fopen("/proc/self/cgroup", "r");
	const char *path = NULL;
	size_t rl;
	int fd;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3) && sscanf(line + 3, "%255s", tcp_of(e)->cgroup) == 1) {
			path = tcp_of(e)->cgroup;
			break;
		}
	if (f)
		fclose(f);
	if (!path)
		return -ENOENT;		/* no cgroup v2 hierarchy at all */
	cgroup2_mount(mnt, root);
	if (!mnt[0]) {
		if (!mkdtemp(tmp))
			return -errno;
		if (mount("none", tmp, "cgroup2", 0, NULL) < 0) {
			fd = -errno;
			rmdir(tmp);
			return fd;
		}
		snprintf(dir, sizeof(dir), "%s%s", tmp, path);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		umount2(tmp, MNT_DETACH);
		rmdir(tmp);
		return fd;
	}
	/* the mount shows the hierarchy from root on */
	rl = strcmp(root, "/") ? strlen(root) : 0;
	if (rl && !strncmp(path, root, rl))
		path += rl;
	snprintf(dir, sizeof(dir), "%s%s", mnt, path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int tcp_sockops_init(struct rdsb_engine *e)
{
	struct rdsb_tcp *t = tcp_of(e);
	struct sockops *skel;
	int cg, err;

	t->tcpsk_fd = -1;
	skel = sockops__open();
	if (skel)
		skel->rodata->bound_delack = t->sockmap_obj != NULL;
	err = skel ? rdsb_bpf_load_shared(e, skel->obj) : -errno;
	if (err) {
		pr_warn("rds-bpf: the sock_ops program did not load (%s): acknowledgements are polled; %s\n",
			strerror(-err), rdsb_bpf_hint(err) ? rdsb_bpf_hint(err)
			: "hint: needs socket storage in sock_ops programs (Linux 5.10+), -vv shows the log");
		sockops__destroy(skel);
		return err;
	}
	t->sockops_obj = skel;
	cg = open_own_cgroup(e);
	if (cg < 0) {
		pr_warn("rds-bpf: cannot open the engine's cgroup v2 (%s), so no sock_ops program: "
			"acknowledgements are polled; hint: needs the cgroup v2 hierarchy "
			"(mount -t cgroup2 none /sys/fs/cgroup)\n", strerror(-cg));
		tcp_sockops_exit(e);
		return cg;
	}
	t->sockops_link = bpf_program__attach_cgroup(skel->progs.rdsb_sockops, cg);
	close(cg);
	if (!t->sockops_link) {
		err = -errno;
		pr_warn("rds-bpf: cannot attach the sock_ops program to cgroup %s (%s): acknowledgements are "
			"polled; hint: needs CAP_NET_ADMIN and a kernel with BPF links (5.7+)\n",
			t->cgroup, strerror(errno));
		tcp_sockops_exit(e);
		return err;
	}
	t->tcppath = mmap(NULL, TCPPATH_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			  bpf_map__fd(skel->maps.rdsb_tcppath), 0);
	t->tcp_at = calloc(RDSB_MAX_TCPPATHS, sizeof(*t->tcp_at));
	if (t->tcppath == MAP_FAILED || !t->tcp_at) {
		err = -errno;
		pr_warn("rds-bpf: cannot map rdsb_tcppath: %s; acknowledgements are polled\n", strerror(errno));
		tcp_sockops_exit(e);
		return err ? err : -ENOMEM;
	}
	if (tcp_events_init(e, bpf_map__fd(skel->maps.rdsb_events))) {
		pr_warn("rds-bpf: cannot read the BPF event ring: %s; acknowledgements are polled\n",
			strerror(errno));
		tcp_sockops_exit(e);
		return -1;
	}
	t->tcpsk_fd = bpf_map__fd(skel->maps.rdsb_tcpsk);
	return 0;
}

void tcp_sockops_exit(struct rdsb_engine *e)
{
	if (tcp_of(e)->sockops_link)
		bpf_link__destroy(tcp_of(e)->sockops_link);
	tcp_of(e)->sockops_link = NULL;
	if (tcp_of(e)->tcppath && tcp_of(e)->tcppath != MAP_FAILED)
		munmap(tcp_of(e)->tcppath, TCPPATH_BYTES);
	tcp_of(e)->tcppath = NULL;
	free(tcp_of(e)->tcp_at);
	tcp_of(e)->tcp_at = NULL;
	tcp_of(e)->tcpsk_fd = -1;
	sockops__destroy(tcp_of(e)->sockops_obj);
	tcp_of(e)->sockops_obj = NULL;
}

/* One of ours, without an entry yet: the program follows it from its
 * handshake on (a listener passes the mark to what it accepts). */
void tcp_sockops_mark(struct rdsb_engine *e, int fd)
{
	struct rdsb_tcpsk st = { 0 };

	if (tcp_of(e)->tcppath)
		bpf_map_update_elem(tcp_of(e)->tcpsk_fd, &fd, &st, BPF_ANY);
}

void tcp_sockops_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	socklen_t len = sizeof(uint64_t), ilen = sizeof(struct tcp_info);
	struct rdsb_tcpsk st = { 0 };
	struct tcp_info ti = { 0 };
	struct rdsb_tcppath *tp;
	uint64_t cookie = 0;
	int fd = p->ev.fd;
	unsigned int i;

	tcp_path(p)->tcp_index = -1;
	if (!tcp_of(e)->tcppath || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &ilen) < 0)
		return;
	for (i = 0; i < RDSB_MAX_TCPPATHS && tcp_of(e)->tcp_at[i]; i++)
		;
	if (i == RDSB_MAX_TCPPATHS)
		return;		/* acknowledgements of this one are polled */
	tp = &tcp_of(e)->tcppath[i];
	/* the program writes only while the cookie is its socket's: last */
	memset(tp, 0, sizeof(*tp));
	tp->lslot = (uint32_t)p->conn->lslot;
	tp->fslot = (uint32_t)p->conn->fslot;
	tp->path = p->index;
	tp->lport = p->lport;
	tp->fport = p->fport;
	/* where the program takes over: its first callback may be a while */
	tp->state = ti.tcpi_state;
	tp->srtt_us = ti.tcpi_rtt;
	tp->snd_cwnd = ti.tcpi_snd_cwnd;
	tp->total_retrans = ti.tcpi_total_retrans;
	tp->bytes_acked = ti.tcpi_bytes_acked;
	/* nothing is written before the path is up: stream offset 0 */
	tcp_path(p)->acked_base = tp->acked_base = ti.tcpi_bytes_acked;
	/* what the handshake's callback set stays (delack_max_us) */
	bpf_map_lookup_elem(tcp_of(e)->tcpsk_fd, &fd, &st);
	tp->delack_max_us = st.delack_max_us;
	__atomic_store_n(&tp->cookie, cookie, __ATOMIC_RELEASE);
	st.index = i + 1;
	if (bpf_map_update_elem(tcp_of(e)->tcpsk_fd, &fd, &st, BPF_ANY)) {
		tp->cookie = 0;
		return;
	}
	tcp_of(e)->tcp_at[i] = p;
	tcp_path(p)->tcp_index = (int)i;
}

/* TCP's least round trip on the socket so far (tcpi_min_rtt), 0 if unknown */
uint32_t tcp_min_rtt_us(int fd)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ? 0 : ti.tcpi_min_rtt;
}

/* Before the socket goes: its later callbacks find the entry free. */
void tcp_sockops_path_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (tcp_path(p)->tcp_index < 0)
		return;
	__atomic_store_n(&tcp_of(e)->tcppath[tcp_path(p)->tcp_index].cookie, 0, __ATOMIC_RELEASE);
	tcp_of(e)->tcp_at[tcp_path(p)->tcp_index] = NULL;
	tcp_path(p)->tcp_index = -1;
}

/* Called before the engine looks at snd_una: an ack that comes after the
 * look raises an event, so none is missed. */
void tcp_sockops_ack_wait(struct rdsb_engine *e, struct rdsb_path *p, bool waiting)
{
	if (tcp_path(p)->tcp_index >= 0)
		__atomic_store_n(&tcp_of(e)->tcppath[tcp_path(p)->tcp_index].ack_wake, waiting ? 1u : 0u, __ATOMIC_SEQ_CST);
}

/* The stream offset TCP acknowledged on p's socket as the program last saw
 * it: at an ack with an RTT sample, a retransmission timeout or a state
 * change. Never past snd_una; false if the program does not follow it. */
bool tcp_sockops_acked_off(struct rdsb_engine *e, const struct rdsb_path *p, uint64_t *acked)
{
	int i = tcp_path(p)->tcp_index;

	if (i < 0)
		return false;
	*acked = __atomic_load_n(&tcp_of(e)->tcppath[i].bytes_acked, __ATOMIC_ACQUIRE) - tcp_path(p)->acked_base;
	return true;
}

void tcp_sockops_acked(struct rdsb_engine *e, uint32_t index)
{
	struct rdsb_path *p = index < RDSB_MAX_TCPPATHS && tcp_of(e)->tcp_at ? tcp_of(e)->tcp_at[index] : NULL;

	if (!p)
		return;
	rdsb_count(e, RDSB_C_ACK_EVENTS);
	rdsb_path_check_acked(e, p);
}
