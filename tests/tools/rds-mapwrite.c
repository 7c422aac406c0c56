// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-mapwrite: tries every way an application has to write the engine's
 * shared address table and congestion maps through the descriptors an OPEN
 * hands it (as a hostile program holding them past the library would):
 *
 *   rds-mapwrite [BPFFS_DIR]
 *     mmap      mmap(PROT_WRITE, MAP_SHARED)
 *     mprotect  a read-only mapping made writable
 *     pwrite    write(2) at offset 0
 *     update    BPF_MAP_UPDATE_ELEM of slot 0 with every port congested
 *     reopen    /proc/self/fd/N opened O_RDWR, then mmap(PROT_WRITE)
 *     pin       (with BPFFS_DIR, a directory of a bpffs it may write)
 *               BPF_OBJ_PIN there, BPF_OBJ_GET read-write, then update
 *
 * Prints "MAP WAY: refused (ERRNO)" or "MAP WAY: WRITABLE" for rdsb_addrs
 * and rdsb_cong. Exit 0 when every way was refused, 1 when one was not,
 * 3 when the setup failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "../../include/rds-bpf/maps.h"
#include "../../user/common/ctl_proto.h"

static int writable;

static void report(const char *map, const char *way, int ok)
{
	if (ok) {
		printf("%s %s: WRITABLE\n", map, way);
		writable = 1;
	} else {
		printf("%s %s: refused (%s)\n", map, way, strerrorname_np(errno));
	}
}

static int sys_bpf(int cmd, union bpf_attr *a)
{
	return (int)syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static int update(int fd, void *value)
{
	union bpf_attr a = { 0 };
	uint32_t key = 0;

	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)value;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_writable(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return 0;
	munmap(p, len);
	return 1;
}

static void try_all(const char *map, int fd, size_t len, const char *bpffs)
{
	static uint8_t value[sizeof(struct rdsb_cong_map)];
	char path[256];
	void *p;
	int rw;

	memset(value, 0xff, sizeof(value));
	report(map, "mmap", map_writable(fd, len));
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "rds-mapwrite: %s cannot be mapped read-only: %s\n", map, strerror(errno));
		exit(3);
	}
	report(map, "mprotect", !mprotect(p, len, PROT_READ | PROT_WRITE));
	munmap(p, len);
	report(map, "pwrite", pwrite(fd, value, 1, 0) == 1);
	report(map, "update", !update(fd, value));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rw = open(path, O_RDWR);
	report(map, "reopen", rw >= 0 && map_writable(rw, len));
	if (rw >= 0)
		close(rw);
	if (bpffs) {
		union bpf_attr a = { 0 };

		snprintf(path, sizeof(path), "%s/%s", bpffs, map);
		unlink(path);
		a.pathname = (uint64_t)(uintptr_t)path;
		a.bpf_fd = (uint32_t)fd;
		rw = -1;
		if (!sys_bpf(BPF_OBJ_PIN, &a)) {
			memset(&a, 0, sizeof(a));
			a.pathname = (uint64_t)(uintptr_t)path;
			rw = sys_bpf(BPF_OBJ_GET, &a);
			unlink(path);
		}
		report(map, "pin", rw >= 0 && (map_writable(rw, len) || !update(rw, value)));
		if (rw >= 0)
			close(rw);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct rdsb_ctl_req req = { .op = RDSB_CTL_OPEN, .abi = RDSB_ABI };
	struct rdsb_ctl_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int) * 6)];
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int ctl, fds[6];

	if (argc > 2) {
		fprintf(stderr, "usage: rds-mapwrite [BPFFS_DIR]\n");
		return 2;
	}
	ctl = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	memcpy(sun.sun_path + 1, RDSB_CTL_NAME, strlen(RDSB_CTL_NAME));
	if (connect(ctl, (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(RDSB_CTL_NAME))) ||
	    send(ctl, &req, sizeof(req), 0) != sizeof(req) || recvmsg(ctl, &mh, 0) < (ssize_t)sizeof(rep)) {
		fprintf(stderr, "rds-mapwrite: no engine: %s\n", strerror(errno));
		return 3;
	}
	cm = CMSG_FIRSTHDR(&mh);
	if (rep.err || !cm || cm->cmsg_len < CMSG_LEN(sizeof(int) * 4)) {
		fprintf(stderr, "rds-mapwrite: OPEN: %s\n", strerror(rep.err));
		return 3;
	}
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * 4);
	try_all("rdsb_addrs", fds[2], RDSB_MAX_ADDRS * sizeof(struct rdsb_addr),
		argc > 1 ? argv[1] : NULL);
	try_all("rdsb_cong", fds[3], RDSB_MAX_ADDRS * sizeof(struct rdsb_cong_map),
		argc > 1 ? argv[1] : NULL);
	return writable;
}
