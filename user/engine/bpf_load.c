// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * BPF objects and their pins: bpffs, the engine's pin directory
 * (/sys/fs/bpf/rds-bpf/<netns inode>), the core's maps, and the sharing of
 * maps between the core's object and the transports' objects, which reuse
 * the maps the engine already has by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include "engine.h"
#include "../common/log.h"
#include <dirent.h>
#include "rdsb_core.skel.h"


static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own messages only with -vv: we say what failed ourselves. */
	if (rdsb_verbosity < 2)
		return 0;
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

int rdsb_pin_dir(char *buf, size_t len)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st) < 0)
		return -errno;
	snprintf(buf, len, "%s/%lu", RDSB_PIN_ROOT, (unsigned long)st.st_ino);
	return 0;
}

/* bpffs is not mounted at boot on every host; mount it like iproute2 does. */
static int ensure_bpffs(void)
{
	struct statfs sfs;

	if (statfs("/sys/fs/bpf", &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
		return -errno;
	return 0;
}

/*
 * bpffs mounted by hand is mode 1777: any local user can create entries
 * next to ours, or make RDSB_PIN_ROOT a symlink before the first load.
 * So the engine opens its directories relative to directory fds, never
 * through a symlink, and uses (or empties) only directories on bpffs that
 * it owns and no one else may write.
 */
static int open_own_dir(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct statfs sfs;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || fstatfs(fd, &sfs) || sfs.f_type != BPF_FS_MAGIC ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Removes the directory name in at and the pins in it. A symlink or file
 * there goes itself, never what it points at. */
static void rm_pins(int at, const char *name)
{
	int fd = open_own_dir(at, name);
	struct dirent *de;
	DIR *d;

	if (fd == -ELOOP || fd == -ENOTDIR)
		unlinkat(at, name, 0);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(fd, de->d_name, de->d_type == DT_DIR ? AT_REMOVEDIR : 0);
	if (d)
		closedir(d);
	else
		close(fd);
	unlinkat(at, name, AT_REMOVEDIR);
}

/* The fd of RDSB_PIN_ROOT, made 0700 if it is not there. */
static int open_pin_root(void)
{
	int bpffs = open("/sys/fs/bpf", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *name = RDSB_PIN_ROOT + strlen("/sys/fs/bpf/");
	int fd;

	if (bpffs < 0)
		return -errno;
	mkdirat(bpffs, name, 0700);
	fd = open_own_dir(bpffs, name);
	close(bpffs);
	return fd;
}

/* A map the engine before left in its pin directory (dir) for the next
 * one, if it has the shape of ours (an array: mmapable): -1 if not. */
static int old_map(int dir, const char *name, __u32 type, __u32 value_size, __u32 max_entries)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != type ||
	    info.value_size != value_size || info.max_entries != max_entries ||
	    (type == BPF_MAP_TYPE_ARRAY && !(info.map_flags & BPF_F_MMAPABLE))) {
		close(fd);
		return -1;
	}
	return fd;
}

int rdsb_bpf_old_delivered(const struct rdsb_engine *e, uint32_t index, uint64_t cookie, uint64_t *bytes)
{
	struct rdsb_rcvq q;
	__u64 in_map;

	/* the cookie: only who holds the socket asks for its count */
	if (e->old_rcvq_fd < 0 || index >= RDSB_MAX_SOCKS ||
	    bpf_map_lookup_elem(e->old_socks_fd, &index, &in_map) || in_map != cookie ||
	    bpf_map_lookup_elem(e->old_rcvq_fd, &index, &q))
		return -ENOENT;
	*bytes = q.delivered;
	return 0;
}

/* The maps an engine leaves its successor (-1: none): the sequence state
 * and the numbers of its own messages, the bound ports, what was held for
 * them */
struct kept_maps {
	int seq, own, ports, held;
};

/* A fresh, empty pin directory for this netns, in e->pin_dir; *kept: the
 * maps of the engine before. */
static int make_pin_dir(struct rdsb_engine *e, struct kept_maps *kept)
{
	int root = open_pin_root(), err = 0, fd;
	const char *name;

	if (root < 0) {
		pr_warn("rds-bpf: refusing to pin in %s: %s; it must be a directory on bpffs owned by root "
			"and writable by no one else; hint: rm -rf %s\n", RDSB_PIN_ROOT,
			root == -EPERM ? "wrong owner or mode" : strerror(-root), RDSB_PIN_ROOT);
		return root;
	}
	rdsb_pin_dir(e->pin_dir, sizeof(e->pin_dir));
	name = strrchr(e->pin_dir, '/') + 1;
	/* No engine runs here (we own the control socket), so pins left by a
	 * killed one are stale; or the directory is RDSB_PIN_REBIND's. Either
	 * way the sockets of the engine before may come back. */
	fd = open_own_dir(root, name);
	e->restarted = fd >= 0;
	*kept = (struct kept_maps){ -1, -1, -1, -1 };
	if (fd >= 0) {
		kept->seq = old_map(fd, "rdsb_seqstate", BPF_MAP_TYPE_ARRAY, sizeof(struct rdsb_seqstate),
				    RDSB_SEQSTATE_N);
		kept->own = old_map(fd, "rdsb_ownseq", BPF_MAP_TYPE_ARRAY, sizeof(struct rdsb_ownseq),
				    RDSB_SEQSTATE_N);
		kept->ports = old_map(fd, "rdsb_ports", BPF_MAP_TYPE_ARRAY, sizeof(struct rdsb_port_owner),
				      RDSB_PORTS_N);
		kept->held = old_map(fd, "rdsb_heldlog", BPF_MAP_TYPE_ARRAY, sizeof(struct rdsb_heldlog_page),
				     RDSB_HELDLOG_PAGES);
		e->old_socks_fd = old_map(fd, "rdsb_socks", BPF_MAP_TYPE_SOCKMAP, sizeof(__u64), RDSB_MAX_SOCKS);
		if (e->old_socks_fd >= 0)
			e->old_rcvq_fd = old_map(fd, RDSB_MAP_RCVQ, BPF_MAP_TYPE_ARRAY, sizeof(struct rdsb_rcvq),
						 RDSB_MAX_SOCKS);
		close(fd);
	}
	rm_pins(root, name);
	if (mkdirat(root, name, 0700) < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot make %s: %s\n", e->pin_dir, strerror(errno));
	}
	close(root);
	return err;
}

static void pin_kept(int dir, const char *name, int map_fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir, name);
	if (map_fd >= 0)
		bpf_obj_pin(map_fd, path);
}

/* e->pin_dir and what is in it: pinned, so ours, but opened as above. With
 * e->rebind_next the directory stays, holding only RDSB_PIN_REBIND,
 * rdsb_seqstate, rdsb_ownseq, rdsb_ports, rdsb_heldlog and (BPF receive
 * path) rdsb_socks. */
static void rm_pin_dir(struct rdsb_engine *e)
{
	const char *name = strrchr(e->pin_dir, '/') + 1;
	int root = open_pin_root(), fd;

	if (root < 0)
		return;
	rm_pins(root, name);
	if (e->rebind_next && !mkdirat(root, name, 0700) && (fd = open_own_dir(root, name)) >= 0) {
		mkdirat(fd, RDSB_PIN_REBIND, 0700);
		/* and the numbers the next engine goes on with (seqstate.c),
		 * the ports whose sockets come back (ports.c) and what was
		 * held for them (heldlog.c) */
		pin_kept(fd, "rdsb_seqstate", e->seqstate_fd);
		pin_kept(fd, "rdsb_ownseq", e->ownseq_fd);
		pin_kept(fd, "rdsb_ports", e->ports_fd);
		pin_kept(fd, "rdsb_heldlog", e->heldlog_fd);
		/* and, on the BPF receive path, the sockmap whose queues
		 * hold what the verdict delivered to them unread */
		pin_kept(fd, "rdsb_socks", e->socks_next_fd);
		close(fd);
	}
	close(root);
	if (e->socks_next_fd >= 0)
		close(e->socks_next_fd);
	e->socks_next_fd = -1;
}

static int share_map_fd(struct rdsb_engine *e, const char *name)
{
	for (unsigned int i = 0; i < e->npinned; i++)
		if (!strcmp(e->pinned[i].name, name))
			return e->pinned[i].fd;
	return -1;
}

static int share_maps(struct rdsb_engine *e, struct bpf_object *obj)
{
	struct bpf_map *map;
	int fd;

	bpf_object__for_each_map(map, obj)
		if ((fd = share_map_fd(e, bpf_map__name(map))) >= 0 && bpf_map__reuse_fd(map, fd))
			return -errno;
	return 0;
}

static int pin_maps(struct rdsb_engine *e, struct bpf_object *obj)
{
	struct bpf_map *map;
	char path[256];

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		struct rdsb_pinned_map *pm;

		/* .rodata/.bss of an object are its own, not the engine's */
		if (strchr(name, '.') || share_map_fd(e, name) >= 0)
			continue;
		if (e->npinned == sizeof(e->pinned) / sizeof(e->pinned[0]))
			return -ENOSPC;
		snprintf(path, sizeof(path), "%s/%s", e->pin_dir, name);
		if (bpf_map__pin(map, path))
			return -errno;
		pm = &e->pinned[e->npinned++];
		snprintf(pm->name, sizeof(pm->name), "%s", name);
		pm->fd = bpf_map__fd(map);
	}
	return 0;
}

int rdsb_bpf_load_shared(struct rdsb_engine *e, struct bpf_object *obj)
{
	int err = share_maps(e, obj);

	if (!err && bpf_object__load(obj))
		err = -errno;
	return err ? err : pin_maps(e, obj);
}

void rdsb_bpf_unload_shared(struct rdsb_engine *e, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
		for (unsigned int i = 0; i < e->npinned; i++) {
			if (e->pinned[i].fd != bpf_map__fd(map))
				continue;
			bpf_map__unpin(map, NULL);
			memmove(&e->pinned[i], &e->pinned[i + 1], (e->npinned - i - 1) * sizeof(e->pinned[0]));
			e->npinned--;
			break;
		}
}

const char *rdsb_bpf_hint(int err)
{
	if (err == -EPERM)
		return "hint: needs CAP_BPF and CAP_NET_ADMIN, or root";
	if (err == -EMFILE)
		return "hint: raise the open-files limit (ulimit -n, LimitNOFILE)";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "hint: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y)";
	return NULL;
}

void rdsb_bpf_explain(const char *what, int err, const char *fallback)
{
	const char *hint = rdsb_bpf_hint(err);

	pr_warn("rds-bpf: %s did not load (%s); %s; %s\n", what, strerror(-err), fallback,
		hint ? hint : "hint: rerun with -vv for libbpf's log");
}

/* The map of the engine before (fd, or -1) is this engine's */
static void take_over(struct bpf_map *map, int fd, const char *what)
{
	if (fd < 0)
		return;
	if (bpf_map__reuse_fd(map, fd))
		pr_warn("rds-bpf: cannot take over %s: %s\n", what, strerror(errno));
	close(fd);
}

int rdsb_bpf_load_core(struct rdsb_engine *e, bool *unsafe)
{
	struct rdsb_core *skel;
	struct kept_maps kept;
	int err;

	err = ensure_bpffs();
	if (err) {
		pr_warn("rds-bpf: bpffs is not mounted at /sys/fs/bpf and mounting it failed (%s); "
			"hint: mount -t bpf bpf /sys/fs/bpf\n", strerror(-err));
		return err;
	}
	libbpf_set_print(libbpf_print);
	skel = rdsb_core__open();
	if (!skel) {
		err = -errno;
		pr_warn("rds-bpf: cannot open the core BPF object: %s\n", strerror(-err));
		return err;
	}
	err = make_pin_dir(e, &kept);
	if (err) {
		*unsafe = true;
		rdsb_core__destroy(skel);
		return err;
	}
	take_over(skel->maps.rdsb_seqstate, kept.seq, "the sequence state");
	take_over(skel->maps.rdsb_ownseq, kept.own, "the numbers of its own messages");
	take_over(skel->maps.rdsb_ports, kept.ports, "the bound ports");
	take_over(skel->maps.rdsb_heldlog, kept.held, "the records held for them");
	if (rdsb_core__load(skel)) {
		err = -errno;
		pr_warn("rds-bpf: cannot create BPF maps: %s%s\n", strerror(-err),
			err == -EPERM ? " (hint: needs CAP_BPF or root)" : "");
		rdsb_core__destroy(skel);
		return err;
	}
	err = pin_maps(e, skel->obj);
	if (err) {
		pr_warn("rds-bpf: cannot pin maps in %s: %s\n", e->pin_dir, strerror(-err));
		rdsb_core__destroy(skel);
		return err;
	}
	e->bpf_obj = skel;
	e->addrs_fd = bpf_map__fd(skel->maps.rdsb_addrs);
	e->cong_fd = bpf_map__fd(skel->maps.rdsb_cong);
	e->paths_fd = bpf_map__fd(skel->maps.rdsb_paths);
	e->counters_fd = bpf_map__fd(skel->maps.rdsb_counters);
	e->seqstate_fd = bpf_map__fd(skel->maps.rdsb_seqstate);
	e->ownseq_fd = bpf_map__fd(skel->maps.rdsb_ownseq);
	e->ports_fd = bpf_map__fd(skel->maps.rdsb_ports);
	e->heldlog_fd = bpf_map__fd(skel->maps.rdsb_heldlog);
	return 0;
}

void rdsb_bpf_unload_core(struct rdsb_engine *e)
{
	rm_pin_dir(e);
	rdsb_core__destroy(e->bpf_obj);
	e->bpf_obj = NULL;
	e->npinned = 0;
}
