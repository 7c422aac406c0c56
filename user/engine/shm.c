// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engine's shared state: address slots and congestion maps, created as
 * pinned, mmap-able BPF array maps (so operators see them with bpftool and
 * BPF programs can update them), or as memfds when BPF is not available.
 * Either way the library gets an fd it can mmap read-only.
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
#include "rdsb_data.skel.h"

#define ADDRS_BYTES (RDSB_MAX_ADDRS * sizeof(struct rdsb_addr))
#define CONG_BYTES (RDSB_MAX_ADDRS * sizeof(struct rdsb_cong_map))

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
			unlinkat(fd, de->d_name, 0);
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

/* A fresh, empty pin directory for this netns, in e->pin_dir. */
static int make_pin_dir(struct rdsb_engine *e)
{
	int root = open_pin_root(), err = 0;
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
	 * killed one are stale. */
	rm_pins(root, name);
	if (mkdirat(root, name, 0700) < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot make %s: %s\n", e->pin_dir, strerror(errno));
	}
	close(root);
	return err;
}

/* e->pin_dir and what is in it: pinned, so ours, but opened as above. */
static void rm_pin_dir(struct rdsb_engine *e)
{
	int root = open_pin_root();

	if (root < 0)
		return;
	rm_pins(root, strrchr(e->pin_dir, '/') + 1);
	close(root);
}

/* One line on why the programs did not load; the verifier log is -vv's. */
static void explain_no_programs(int err)
{
	const char *hint = "hint: rerun with -vv for libbpf's log";

	if (err == -EPERM)
		hint = "hint: needs CAP_BPF and CAP_NET_ADMIN, or root";
	else if (access("/sys/kernel/btf/vmlinux", R_OK))
		hint = "hint: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y)";
	else if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL) <= 0 ||
		 libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL) <= 0)
		hint = "hint: the kernel lacks sockmap (CONFIG_BPF_STREAM_PARSER)";
	pr_warn("rds-bpf: the sockmap data path did not load (%s); datagrams take the userspace path; %s\n",
		strerror(-err), hint);
}

/* The maps, the data path programs if data_path, the sock_ops program if
 * sockops. */
static struct rdsb_data *load_skel(bool data_path, bool sockops, int *err)
{
	struct rdsb_data *skel = rdsb_data__open();
	struct bpf_program *prog;

	if (!skel) {
		*err = -errno;
		return NULL;
	}
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog == skel->progs.rdsb_sockops ? sockops : data_path);
	*err = rdsb_data__load(skel);
	if (*err) {
		rdsb_data__destroy(skel);
		return NULL;
	}
	return skel;
}

/* *unsafe: the pin directory is not safe to use, which no fallback mends */
static int shm_bpf(struct rdsb_engine *e, bool *unsafe)
{
	/* the XDP transport's paths are not TCP sockets */
	bool sockops = e->tp == &rdsb_tcp_transport;
	struct rdsb_data *skel;
	int err;

	err = ensure_bpffs();
	if (err) {
		pr_warn("rds-bpf: bpffs is not mounted at /sys/fs/bpf and mounting it failed (%s); "
			"hint: mount -t bpf bpf /sys/fs/bpf\n", strerror(-err));
		return err;
	}
	libbpf_set_print(libbpf_print);
	skel = load_skel(e->bpf_path, sockops, &err);
	if (!skel && e->bpf_path) {
		explain_no_programs(err);
		e->bpf_path = false;
		skel = load_skel(false, sockops, &err);
	}
	if (!skel && sockops) {
		pr_warn("rds-bpf: the sock_ops program did not load (%s): acknowledgements are polled; "
			"hint: needs socket storage in sock_ops programs (Linux 5.10+), -vv shows the log\n",
			strerror(-err));
		sockops = false;
		skel = load_skel(false, false, &err);
	}
	if (!skel) {
		pr_warn("rds-bpf: cannot create BPF maps: %s%s\n", strerror(-err),
			err == -EPERM ? " (hint: needs CAP_BPF or root)" : "");
		return err;
	}
	err = make_pin_dir(e);
	if (err) {
		*unsafe = true;
		rdsb_data__destroy(skel);
		return err;
	}
	if (bpf_object__pin_maps(skel->obj, e->pin_dir)) {
		err = -errno;
		pr_warn("rds-bpf: cannot pin maps in %s: %s\n", e->pin_dir, strerror(errno));
		rdsb_data__destroy(skel);
		return err ? err : -EIO;
	}
	e->bpf_obj = skel;
	if (e->bpf_path && rdsb_bpf_path_init(e)) {
		rdsb_bpf_path_fini(e);
		pr_warn("rds-bpf: datagrams take the userspace path\n");
	}
	if (sockops && !rdsb_sockops_init(e) && rdsb_bpf_events_init(e)) {
		pr_warn("rds-bpf: cannot read the BPF event ring: %s; acknowledgements are polled\n",
			strerror(errno));
		rdsb_sockops_fini(e);
	}
	if (rdsb_engine_sk_msg && e->bpf_path && sockops)
		rdsb_direct_init(e);
	e->addrs_fd = bpf_map__fd(skel->maps.rdsb_addrs);
	e->cong_fd = bpf_map__fd(skel->maps.rdsb_cong);
	e->paths_fd = bpf_map__fd(skel->maps.rdsb_paths);
	e->counters_fd = bpf_map__fd(skel->maps.rdsb_counters);
	return 0;
}

/* A memfd of len bytes, mapped writable at *map, then sealed against any
 * other writable mapping or write: its read-only fd is what applications
 * get (whoever holds an fd of a memfd can reopen it writable through /proc:
 * the seal is what stops them). */
static int sealed_memfd(const char *name, size_t len, void **map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), ro;
	char path[64];

	if (fd < 0)
		return -1;
	*map = MAP_FAILED;
	if (!ftruncate(fd, (off_t)len))
		*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		close(fd);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	close(fd);
	return ro;
}

/* Applications' copy of a slot, after the engine changed it or learnt that
 * a BPF program did; kind last, as rdsb_addr_slot publishes it. */
static void copy_slot(struct rdsb_engine *e, int slot)
{
	struct rdsb_addr *a = &e->addrs_copy[slot];

	if (e->addrs_copy == e->addrs)
		return;
	memcpy(e->cong_copy[slot].bits, e->cong[slot].bits, RDS_CONG_MAP_BYTES);
	memcpy(a->addr, e->addrs[slot].addr, 16);
	a->scope_id = e->addrs[slot].scope_id;
	a->map_updates = e->addrs[slot].map_updates;
	a->congested_ports = e->addrs[slot].congested_ports;
	__atomic_store_n(&a->kind, e->addrs[slot].kind, __ATOMIC_RELEASE);
}

int rdsb_shm_init(struct rdsb_engine *e)
{
	bool unsafe = false;
	int err = -1;

	e->addrs_fd = e->cong_fd = e->paths_fd = e->counters_fd = -1;
	e->addrs_ro_fd = e->cong_ro_fd = -1;
	if (e->use_bpf) {
		err = shm_bpf(e, &unsafe);
		if (unsafe)
			return err;
		if (err) {
			pr_warn("rds-bpf: falling back to the userspace path (congestion maps in shared memory, not in bpftool)\n");
			e->use_bpf = e->bpf_path = false;
		}
	}
	if (!err) {
		e->addrs = mmap(NULL, ADDRS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->addrs_fd, 0);
		e->cong = mmap(NULL, CONG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->cong_fd, 0);
		if (e->addrs == MAP_FAILED || e->cong == MAP_FAILED) {
			err = -errno;
			pr_warn("rds-bpf: cannot mmap the congestion maps: %s\n", strerror(errno));
			return err;
		}
		e->addrs_ro_fd = sealed_memfd("rdsb_addrs", ADDRS_BYTES, (void **)&e->addrs_copy);
		e->cong_ro_fd = sealed_memfd("rdsb_cong", CONG_BYTES, (void **)&e->cong_copy);
	} else {
		/* no BPF: the memfds are the tables */
		e->addrs_ro_fd = sealed_memfd("rdsb_addrs", ADDRS_BYTES, (void **)&e->addrs);
		e->cong_ro_fd = sealed_memfd("rdsb_cong", CONG_BYTES, (void **)&e->cong);
		e->addrs_copy = e->addrs;
		e->cong_copy = e->cong;
	}
	if (e->addrs_ro_fd < 0 || e->cong_ro_fd < 0) {
		err = -errno;
		pr_warn("rds-bpf: cannot share the congestion maps: %s\n", strerror(errno));
		return err;
	}
	return 0;
}

void rdsb_shm_fini(struct rdsb_engine *e)
{
	if (e->addrs_copy && e->addrs_copy != MAP_FAILED && e->addrs_copy != e->addrs)
		munmap(e->addrs_copy, ADDRS_BYTES);
	if (e->cong_copy && e->cong_copy != MAP_FAILED && e->cong_copy != e->cong)
		munmap(e->cong_copy, CONG_BYTES);
	if (e->addrs && e->addrs != MAP_FAILED)
		munmap(e->addrs, ADDRS_BYTES);
	if (e->cong && e->cong != MAP_FAILED)
		munmap(e->cong, CONG_BYTES);
	if (e->addrs_ro_fd >= 0)
		close(e->addrs_ro_fd);
	if (e->cong_ro_fd >= 0)
		close(e->cong_ro_fd);
	if (e->bpf_obj) {
		rdsb_direct_fini(e);
		rdsb_bpf_path_fini(e);
		rdsb_sockops_fini(e);
		rdsb_bpf_events_fini(e);
		rm_pin_dir(e);
		rdsb_data__destroy(e->bpf_obj);
	}
}

int rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope,
		   enum rdsb_addr_kind kind)
{
	int free_slot = -1;

	for (int i = 0; i < RDSB_MAX_ADDRS; i++) {
		struct rdsb_addr *a = &e->addrs[i];

		if (a->kind == RDSB_ADDR_FREE) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!memcmp(a->addr, addr, 16))
			return i;
	}
	if (free_slot < 0)
		return -1;
	memcpy(e->addrs[free_slot].addr, addr, 16);
	e->addrs[free_slot].scope_id = scope;
	memset(&e->cong[free_slot], 0, sizeof(e->cong[free_slot]));
	/* The library treats a slot as valid once kind is set: publish last. */
	__atomic_store_n(&e->addrs[free_slot].kind, (uint32_t)kind, __ATOMIC_RELEASE);
	copy_slot(e, free_slot);
	return free_slot;
}

static uint32_t count_bits(const uint8_t *map)
{
	uint32_t n = 0;

	for (int i = 0; i < RDS_CONG_MAP_BYTES; i++)
		n += (uint32_t)__builtin_popcount(map[i]);
	return n;
}

void rdsb_cong_set_local(struct rdsb_engine *e, int slot, uint16_t port, bool congested)
{
	uint8_t *map = e->cong[slot].bits;

	if (rdsb_cong_test(map, port) == congested)
		return;
	if (congested) {
		rdsb_cong_set(map, port);
		e->addrs[slot].congested_ports++;
		rdsb_count(e, RDSB_C_CONG_SET);
	} else {
		rdsb_cong_clear(map, port);
		e->addrs[slot].congested_ports--;
		rdsb_count(e, RDSB_C_CONG_CLEAR);
	}
	e->addrs[slot].map_updates++;
	copy_slot(e, slot);
	rdsb_conn_queue_cong_map(e, slot);
	rdsb_sock_cong_notify(e, slot);
}

void rdsb_cong_apply_peer(struct rdsb_engine *e, int slot, const uint8_t *map)
{
	if (map)
		memcpy(e->cong[slot].bits, map, RDS_CONG_MAP_BYTES);
	rdsb_count(e, RDSB_C_RX_CONG_MAPS);
	rdsb_cong_peer_updated(e, slot);
}

/* A peer's map changed (here, or in the verdict): operators' numbers, and
 * the sockets that monitor congestion. */
void rdsb_cong_peer_updated(struct rdsb_engine *e, int slot)
{
	e->addrs[slot].congested_ports = count_bits(e->cong[slot].bits);
	e->addrs[slot].map_updates++;
	copy_slot(e, slot);
	rdsb_sock_cong_notify(e, slot);
}

/* The engine's counts plus what the BPF programs counted on every CPU. */
void rdsb_counters_read(struct rdsb_engine *e, uint64_t out[RDSB_C_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *percpu = ncpu > 0 && e->counters_fd >= 0 ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;

	for (uint32_t i = 0; i < RDSB_C_MAX; i++) {
		out[i] = e->counters[i];
		if (percpu && !bpf_map_lookup_elem(e->counters_fd, &i, percpu))
			for (int c = 0; c < ncpu; c++)
				out[i] += percpu[c];
	}
	free(percpu);
}

void rdsb_paths_info_update(struct rdsb_engine *e)
{
	struct rdsb_conn *c;

	if (e->paths_fd < 0)
		return;
	list_for_each_entry(c, &e->conns, item) {
		if (c->loopback)
			continue;
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS; i++) {
			struct rdsb_path *p = &c->paths[i];
			struct rdsb_path_key k = { .path = i };
			struct rdsb_path_info v;

			rdsb_bpf_path_sync(e, p, false);
			v = (struct rdsb_path_info){
				.state = p->state, .npaths = c->npaths,
				.next_tx_seq = p->next_tx_seq, .next_rx_seq = p->next_rx_seq,
				.tx_msgs = p->tx_msgs, .rx_msgs = p->rx_msgs,
				.tx_bytes = p->tx_bytes, .rx_bytes = p->rx_bytes,
				.unacked_msgs = p->nunacked, .reconnects = p->reconnects,
				.peer_gen = c->peer_gen, .lport = p->lport, .fport = p->fport,
			};

			if (i > 0 && (c->npaths <= i) && p->state == RDSB_PATH_DOWN)
				continue;
			memcpy(k.laddr, c->laddr, 16);
			memcpy(k.faddr, c->faddr, 16);
			bpf_map_update_elem(e->paths_fd, &k, &v, BPF_ANY);
		}
	}
}
