// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Acknowledgements on the fast path, engine side (the program:
 * bpf/rdsb_sockops.bpf.h). The sock_ops program is attached to the engine's
 * own cgroup v2, where every path socket is made (accepted sockets take their
 * listener's cgroup), through a link that goes when the engine goes. The
 * engine marks its sockets in rdsb_tcpsk (the listener, so that accepted
 * sockets inherit the mark, and each socket before it connects), and gives a
 * path socket an rdsb_tcppath entry when it comes up. While a path has an
 * unacknowledged message whose sender was past half its sndbuf (ack_wake)
 * the entry's wake is set, and the program's RDSB_EV_ACKED brings the engine
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
#include "../../user/engine/engine.h"
#include "../../user/common/log.h"
#include "rdsb_data.skel.h"

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

/* Our own cgroup v2 directory, opened; e->cgroup = its path in the
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
		if (!strncmp(line, "0::", 3) && sscanf(line + 3, "%255s", e->cgroup) == 1) {
			path = e->cgroup;
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

int rdsb_sockops_init(struct rdsb_engine *e)
{
	struct rdsb_data *skel = e->bpf_obj;
	int cg, err;

	e->tcpsk_fd = -1;
	cg = open_own_cgroup(e);
	if (cg < 0) {
		pr_warn("rds-bpf: cannot open the engine's cgroup v2 (%s), so no sock_ops program: "
			"acknowledgements are polled; hint: needs the cgroup v2 hierarchy "
			"(mount -t cgroup2 none /sys/fs/cgroup)\n", strerror(-cg));
		return cg;
	}
	e->sockops_link = bpf_program__attach_cgroup(skel->progs.rdsb_sockops, cg);
	close(cg);
	if (!e->sockops_link) {
		err = -errno;
		pr_warn("rds-bpf: cannot attach the sock_ops program to cgroup %s (%s): acknowledgements are "
			"polled; hint: needs CAP_NET_ADMIN and a kernel with BPF links (5.7+)\n",
			e->cgroup, strerror(errno));
		return err;
	}
	e->tcppath = mmap(NULL, TCPPATH_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			  bpf_map__fd(skel->maps.rdsb_tcppath), 0);
	e->tcp_at = calloc(RDSB_MAX_TCPPATHS, sizeof(*e->tcp_at));
	if (e->tcppath == MAP_FAILED || !e->tcp_at) {
		err = -errno;
		pr_warn("rds-bpf: cannot map rdsb_tcppath: %s; acknowledgements are polled\n", strerror(errno));
		rdsb_sockops_fini(e);
		return err ? err : -ENOMEM;
	}
	e->tcpsk_fd = bpf_map__fd(skel->maps.rdsb_tcpsk);
	return 0;
}

void rdsb_sockops_fini(struct rdsb_engine *e)
{
	if (e->sockops_link)
		bpf_link__destroy(e->sockops_link);
	e->sockops_link = NULL;
	if (e->tcppath && e->tcppath != MAP_FAILED)
		munmap(e->tcppath, TCPPATH_BYTES);
	e->tcppath = NULL;
	free(e->tcp_at);
	e->tcp_at = NULL;
	e->tcpsk_fd = -1;
}

/* One of ours, without an entry yet: the program follows it from its
 * handshake on (a listener passes the mark to what it accepts). */
void rdsb_sockops_mark(struct rdsb_engine *e, int fd)
{
	struct rdsb_tcpsk st = { 0 };

	if (e->tcppath)
		bpf_map_update_elem(e->tcpsk_fd, &fd, &st, BPF_ANY);
}

void rdsb_sockops_path_up(struct rdsb_engine *e, struct rdsb_path *p)
{
	socklen_t len = sizeof(uint64_t), ilen = sizeof(struct tcp_info);
	struct rdsb_tcpsk st = { 0 };
	struct tcp_info ti = { 0 };
	struct rdsb_tcppath *tp;
	uint64_t cookie = 0;
	int fd = p->ev.fd;
	unsigned int i;

	p->tcp_index = -1;
	if (!e->tcppath || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &ilen) < 0)
		return;
	for (i = 0; i < RDSB_MAX_TCPPATHS && e->tcp_at[i]; i++)
		;
	if (i == RDSB_MAX_TCPPATHS)
		return;		/* acknowledgements of this one are polled */
	tp = &e->tcppath[i];
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
	__atomic_store_n(&tp->cookie, cookie, __ATOMIC_RELEASE);
	st.index = i + 1;
	if (bpf_map_update_elem(e->tcpsk_fd, &fd, &st, BPF_ANY)) {
		tp->cookie = 0;
		return;
	}
	e->tcp_at[i] = p;
	p->tcp_index = (int)i;
}

/* Before the socket goes: its later callbacks find the entry free. */
void rdsb_sockops_path_down(struct rdsb_engine *e, struct rdsb_path *p)
{
	if (p->tcp_index < 0)
		return;
	__atomic_store_n(&e->tcppath[p->tcp_index].cookie, 0, __ATOMIC_RELEASE);
	e->tcp_at[p->tcp_index] = NULL;
	p->tcp_index = -1;
}

/* Called before the engine looks at snd_una: an ack that comes after the
 * look raises an event, so none is missed. */
void rdsb_sockops_arm(struct rdsb_engine *e, struct rdsb_path *p, bool waiting)
{
	if (p->tcp_index >= 0)
		__atomic_store_n(&e->tcppath[p->tcp_index].wake, waiting ? 1u : 0u, __ATOMIC_SEQ_CST);
}

void rdsb_sockops_acked(struct rdsb_engine *e, uint32_t index)
{
	struct rdsb_path *p = index < RDSB_MAX_TCPPATHS && e->tcp_at ? e->tcp_at[index] : NULL;

	if (!p)
		return;
	rdsb_count(e, RDSB_C_ACK_EVENTS);
	rdsb_path_check_acked(e, p);
}
