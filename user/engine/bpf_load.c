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

/* The directory is the engine's: everything in it is a pin of ours. */
static void rm_pins(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
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

void rdsb_bpf_explain(const char *what, int err, const char *fallback)
{
	const char *hint = "hint: rerun with -vv for libbpf's log";

	if (err == -EPERM)
		hint = "hint: needs CAP_BPF and CAP_NET_ADMIN, or root";
	else if (access("/sys/kernel/btf/vmlinux", R_OK))
		hint = "hint: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y)";
	pr_warn("rds-bpf: %s did not load (%s); %s; %s\n", what, strerror(-err), fallback, hint);
}

int rdsb_bpf_load_core(struct rdsb_engine *e)
{
	struct rdsb_core *skel;
	int err;

	err = ensure_bpffs();
	if (err) {
		pr_warn("rds-bpf: bpffs is not mounted at /sys/fs/bpf and mounting it failed (%s); "
			"hint: mount -t bpf bpf /sys/fs/bpf\n", strerror(-err));
		return err;
	}
	libbpf_set_print(libbpf_print);
	skel = rdsb_core__open_and_load();
	if (!skel) {
		err = -errno;
		pr_warn("rds-bpf: cannot create BPF maps: %s%s\n", strerror(-err),
			err == -EPERM ? " (hint: needs CAP_BPF or root)" : "");
		return err;
	}
	rdsb_pin_dir(e->pin_dir, sizeof(e->pin_dir));
	mkdir(RDSB_PIN_ROOT, 0755);
	/* No engine runs here (we own the control socket), so pins left by a
	 * killed one are stale. */
	rm_pins(e->pin_dir);
	if (mkdir(e->pin_dir, 0755) < 0 || (err = pin_maps(e, skel->obj))) {
		err = err ? err : -errno;
		pr_warn("rds-bpf: cannot pin maps in %s: %s\n", e->pin_dir, strerror(-err));
		rdsb_core__destroy(skel);
		return err;
	}
	e->bpf_obj = skel;
	e->addrs_fd = bpf_map__fd(skel->maps.rdsb_addrs);
	e->cong_fd = bpf_map__fd(skel->maps.rdsb_cong);
	e->paths_fd = bpf_map__fd(skel->maps.rdsb_paths);
	e->counters_fd = bpf_map__fd(skel->maps.rdsb_counters);
	return 0;
}

void rdsb_bpf_unload_core(struct rdsb_engine *e)
{
	rm_pins(e->pin_dir);
	rdsb_core__destroy(e->bpf_obj);
	e->bpf_obj = NULL;
	e->npinned = 0;
}
