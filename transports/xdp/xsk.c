// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The device side of the XDP transport: our own XDP program (no libxdp
 * dispatcher: it fails here) attached natively or in skb mode, its maps
 * pinned next to the engine's and sharing the engine's congestion maps, and
 * one AF_XDP socket in copy mode (zero-copy is not supported on veth) on
 * queue 0, found by the program through the XSKMAP at rx_queue_index.
 */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include "../../user/engine/engine.h"
#include "../../user/common/log.h"
#include "xdp_int.h"
#include "rdsx_xdp.skel.h"

#define NFRAMES		8192	/* RING for the fill ring, the rest for TX and frames kept until acked */
#define FRAME_SIZE	XSK_UMEM__DEFAULT_FRAME_SIZE
#define RING		RDSX_RX_RING
#define TX_KICKS	(RING / 32)	/* sendto calls that empty the TX ring */

#define FQ(x) ((struct xsk_ring_prod *)(x)->fq)
#define CQ(x) ((struct xsk_ring_cons *)(x)->cq)
#define RX(x) ((struct xsk_ring_cons *)(x)->rx)
#define TX(x) ((struct xsk_ring_prod *)(x)->tx)

static int dev_info(struct rdsx_state *x)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(ifr.ifr_name, x->ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
		x->mtu = (unsigned int)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(x->mac, ifr.ifr_hwaddr.sa_data, 6);
	ifr.ifr_data = (char *)&drv;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		x->veth = !strcmp(drv.driver, "veth");
	close(fd);
	return 0;
}

static void pin_path(const struct rdsx_state *x, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", x->e->pin_dir, name);
}

static const char *const pinned[] = { RDSX_MAP_CONNS, RDSX_MAP_PATHS, RDSX_MAP_CONG_VER,
				      RDSX_MAP_COUNTERS };

static int wake_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;	/* being woken is all: the engine's pass reads the acks */
}

static int load_prog(struct rdsx_state *x)
{
	struct rdsx_xdp *skel = rdsx_xdp__open();
	struct bpf_map *maps[] = { NULL, NULL, NULL, NULL };
	char path[256];
	int err;

	if (!skel)
		return -errno;
	/* the congestion maps the library tests are the engine's */
	err = bpf_map__reuse_fd(skel->maps.rdsb_cong, x->e->cong_fd);
	if (!err)
		err = rdsx_xdp__load(skel);
	if (err) {
		rdsx_xdp__destroy(skel);
		return err < 0 ? err : -EINVAL;
	}
	x->skel = skel;
	maps[0] = skel->maps.rdsx_conns;
	maps[1] = skel->maps.rdsx_paths;
	maps[2] = skel->maps.rdsx_cong_ver;
	maps[3] = skel->maps.rdsx_counters;
	for (int i = 0; i < 4; i++) {
		pin_path(x, pinned[i], path, sizeof(path));
		unlink(path);
		if (bpf_map__pin(maps[i], path))
			pr_info("rds-bpf: cannot pin %s\n", path);
	}
	x->wake_rb = ring_buffer__new(bpf_map__fd(skel->maps.rdsx_wake), wake_record, NULL, NULL);
	if (!x->wake_rb)
		return -errno;
	x->paths_map = mmap(NULL, sizeof(struct rdsx_path) * RDSX_MAX_CONNS * RDS_MPATH_WORKERS,
			    PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel->maps.rdsx_paths), 0);
	if (x->paths_map == MAP_FAILED) {
		x->paths_map = NULL;
		return -errno;
	}
	return 0;
}

/*
 * An engine killed with SIGKILL leaves its XDP program attached. The program
 * on the device is that engine's if it carries our program's name: no other
 * engine runs in this namespace (this one holds the control socket) and only
 * an engine here attaches to this namespace's devices. Detach exactly that
 * program (XDP_FLAGS_REPLACE); any other program stays, and attach fails.
 */
static void detach_stale(struct rdsx_state *x)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info), mode;
	int fd;

	if (bpf_xdp_query(x->ifindex, 0, &q) || !q.prog_id)
		return;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		mode = XDP_FLAGS_DRV_MODE;
	else if (q.attach_mode == XDP_ATTACHED_SKB)
		mode = XDP_FLAGS_SKB_MODE;
	else
		return;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    !strcmp(info.name, bpf_program__name(((struct rdsx_xdp *)x->skel)->progs.rdsx_xdp))) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);

		if (!bpf_xdp_detach(x->ifindex, mode | XDP_FLAGS_REPLACE, &o))
			pr_warn("rds-bpf: detached the XDP program (id %u) a stopped engine left on %s\n",
				q.prog_id, x->ifname);
	}
	close(fd);
}

static int attach(struct rdsx_state *x)
{
	int fd = bpf_program__fd(((struct rdsx_xdp *)x->skel)->progs.rdsx_xdp);
	int err;

	detach_stale(x);
	/* A veth device receives our peer's frames as the skbs its AF_XDP
	 * socket made. Native XDP turns each into a page of its own and frees
	 * it after the copy into our umem; skb mode runs on the skb. Side by
	 * side (8 x 16 x 64 KiB one-way), skb mode took 9-13% less of the
	 * engines' CPU per GB moved: it is the default there. */
	if (!x->mode_set && x->veth)
		x->skb_mode = true;
	if (!x->skb_mode) {
		x->xdp_flags = XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST;
		err = bpf_xdp_attach(x->ifindex, fd, x->xdp_flags, NULL);
		if (!err)
			return 0;
		if (err == -EBUSY || err == -EEXIST || x->mode_set)
			return err;
		pr_warn("rds-bpf: native XDP on %s failed (%s): using skb mode\n", x->ifname, strerror(-err));
	}
	x->xdp_flags = XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST;
	return bpf_xdp_attach(x->ifindex, fd, x->xdp_flags, NULL);
}

/* The umem on huge pages where the kernel gives them (THP on madvise):
 * every frame is a page of its own, and a TLB miss on each one the engine
 * writes or reads costs a two-level page walk in a VM. */
static void *umem_alloc(size_t size)
{
	const size_t huge = 2u << 20;
	uint8_t *p = mmap(NULL, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return p;
	a = (uint8_t *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
	if (a != p)
		munmap(p, (size_t)(a - p));
	munmap(a + size, (size_t)(p + huge - a));
	madvise(a, size, MADV_HUGEPAGE);
	return a;
}

static int open_xsk(struct rdsx_state *x)
{
	struct xsk_socket_config cfg = { .rx_size = RING, .tx_size = RING,
					 .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					 .bind_flags = XDP_COPY };
	struct xsk_umem_config ucfg = { .fill_size = RING, .comp_size = RING, .frame_size = FRAME_SIZE,
					.frame_headroom = 0 };
	uint32_t idx, q = 0;
	int err, fd;

	x->fq = calloc(1, sizeof(struct xsk_ring_prod));
	x->cq = calloc(1, sizeof(struct xsk_ring_cons));
	x->rx = calloc(1, sizeof(struct xsk_ring_cons));
	x->tx = calloc(1, sizeof(struct xsk_ring_prod));
	x->free_frames = calloc(NFRAMES, sizeof(uint64_t));
	x->fstate = calloc(NFRAMES, 1);
	x->umem_area = umem_alloc((size_t)NFRAMES * FRAME_SIZE);
	if (!x->fq || !x->cq || !x->rx || !x->tx || !x->free_frames || !x->fstate || x->umem_area == MAP_FAILED)
		return -ENOMEM;
	err = xsk_umem__create((struct xsk_umem **)&x->umem, x->umem_area, (uint64_t)NFRAMES * FRAME_SIZE,
			       FQ(x), CQ(x), &ucfg);
	if (err)
		return err;
	err = xsk_socket__create((struct xsk_socket **)&x->xsk, x->ifname, 0, x->umem, RX(x), TX(x), &cfg);
	if (err)
		return err;
	/* half the frames wait in the fill ring for RX, half are for TX */
	if (xsk_ring_prod__reserve(FQ(x), RING, &idx) != RING)
		return -ENOMEM;
	for (uint32_t i = 0; i < RING; i++)
		*xsk_ring_prod__fill_addr(FQ(x), idx + i) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(FQ(x), RING);
	for (uint32_t i = RING; i < NFRAMES; i++)
		x->free_frames[x->nfree++] = (uint64_t)i * FRAME_SIZE;
	fd = xsk_socket__fd(x->xsk);
	return bpf_map_update_elem(bpf_map__fd(((struct rdsx_xdp *)x->skel)->maps.rdsx_xsks), &q, &fd, 0)
		       ? -errno : 0;
}

int rdsx_dev_open(struct rdsx_state *x, struct rdsb_engine *e, const char *dev)
{
	int err;

	x->e = e;
	if (strlen(dev) >= sizeof(x->ifname)) {
		pr_warn("rds-bpf: device name '%s' is too long\n", dev);
		return -EINVAL;
	}
	strcpy(x->ifname, dev);
	x->ifindex = (int)if_nametoindex(x->ifname);
	if (!x->ifindex) {
		pr_warn("rds-bpf: no device '%s' in this network namespace; hint: ip link\n", x->ifname);
		return -ENODEV;
	}
	if (!e->bpf_obj) {
		pr_warn("rds-bpf: the xdp transport needs the BPF maps, and there are none; hint: needs CAP_BPF and CAP_NET_ADMIN, or root\n");
		return -EOPNOTSUPP;
	}
	dev_info(x);
	err = load_prog(x);
	if (err) {
		pr_warn("rds-bpf: cannot load the XDP program: %s\n", strerror(-err));
		return err;
	}
	err = attach(x);
	if (err) {
		pr_warn("rds-bpf: cannot attach XDP to %s: %s%s\n", x->ifname, strerror(-err),
			err == -EBUSY || err == -EEXIST ? " (hint: another program's XDP program is attached: ip link show dev IFACE; ip link set dev IFACE xdp off)" : "");
		x->xdp_flags = 0;
		return err;
	}
	err = open_xsk(x);
	if (err) {
		pr_warn("rds-bpf: cannot open an AF_XDP socket on %s: %s\n", x->ifname, strerror(-err));
		return err;
	}
	pr_info("rds-bpf: xdp transport on %s (%s mode, MTU %u)\n", x->ifname,
		x->xdp_flags & XDP_FLAGS_SKB_MODE ? "skb" : "native", x->mtu);
	return 0;
}

void rdsx_dev_close(struct rdsx_state *x)
{
	char path[256];

	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->xdp_flags)
		bpf_xdp_detach(x->ifindex, x->xdp_flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (x->wake_rb)
		ring_buffer__free(x->wake_rb);
	if (x->paths_map)
		munmap(x->paths_map, sizeof(struct rdsx_path) * RDSX_MAX_CONNS * RDS_MPATH_WORKERS);
	if (x->skel) {
		for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
			pin_path(x, pinned[i], path, sizeof(path));
			unlink(path);
		}
		rdsx_xdp__destroy(x->skel);
	}
	if (x->umem_area && x->umem_area != MAP_FAILED)
		munmap(x->umem_area, (size_t)NFRAMES * FRAME_SIZE);
	free(x->fq);
	free(x->cq);
	free(x->rx);
	free(x->tx);
	free(x->free_frames);
	free(x->fstate);
}

int rdsx_conn_map_set(struct rdsx_state *x, struct rdsx_conn_st *xc, int fslot)
{
	struct rdsx_conn_key k;
	struct rdsx_conn v = { .index = xc->index, .fslot = (uint32_t)fslot };

	memcpy(k.laddr, xc->laddr, 16);
	memcpy(k.faddr, xc->faddr, 16);
	return bpf_map_update_elem(bpf_map__fd(((struct rdsx_xdp *)x->skel)->maps.rdsx_conns), &k, &v,
				   BPF_ANY);
}

void rdsx_prog_counters(struct rdsx_state *x, uint64_t out[RDSX_C_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *percpu = ncpu > 0 && x->skel ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;
	int fd = x->skel ? bpf_map__fd(((struct rdsx_xdp *)x->skel)->maps.rdsx_counters) : -1;

	for (uint32_t i = 0; i < RDSX_C_MAX; i++) {
		out[i] = 0;
		if (percpu && !bpf_map_lookup_elem(fd, &i, percpu))
			for (int c = 0; c < ncpu; c++)
				out[i] += percpu[c];
	}
	free(percpu);
}

int rdsx_xsk_fd(struct rdsx_state *x)
{
	return xsk_socket__fd(x->xsk);
}

int rdsx_wake_fd(struct rdsx_state *x)
{
	return ring_buffer__epoll_fd(x->wake_rb);
}

void rdsx_wake_drain(struct rdsx_state *x)
{
	ring_buffer__consume(x->wake_rb);
}

void rdsx_xsk_stats(struct rdsx_state *x, struct xdp_statistics *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0, sizeof(*st));
	if (x->xsk)
		getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, st, &len);
}

/* A TX buffer is free once the kernel sent it (completion ring) and no
 * path keeps it for a retransmission. */
#define F_IN_RING	1
#define F_KEPT		2

static uint8_t *fstate(struct rdsx_state *x, uint64_t addr)
{
	return &x->fstate[addr / FRAME_SIZE];
}

static void reclaim(struct rdsx_state *x)
{
	uint32_t idx, n = xsk_ring_cons__peek(CQ(x), RING, &idx);

	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(CQ(x), idx + i);

		*fstate(x, addr) &= (uint8_t)~F_IN_RING;
		if (!*fstate(x, addr))
			x->free_frames[x->nfree++] = addr;
	}
	xsk_ring_cons__release(CQ(x), n);
}

uint32_t rdsx_tx_room(struct rdsx_state *x)
{
	reclaim(x);
	return x->nfree;
}

uint8_t *rdsx_tx_data(struct rdsx_state *x, uint64_t addr)
{
	return xsk_umem__get_data(x->umem_area, addr);
}

void rdsx_tx_keep(struct rdsx_state *x, uint64_t addr)
{
	*fstate(x, addr) |= F_KEPT;
}

void rdsx_tx_unkeep(struct rdsx_state *x, uint64_t addr)
{
	*fstate(x, addr) &= (uint8_t)~F_KEPT;
	if (!*fstate(x, addr))
		x->free_frames[x->nfree++] = addr;
}

bool rdsx_tx_in_ring(struct rdsx_state *x, uint64_t addr)
{
	return *fstate(x, addr) & F_IN_RING;
}

void rdsx_tx_release(struct rdsx_state *x, uint64_t addr)
{
	x->free_frames[x->nfree++] = addr;
}

uint8_t *rdsx_tx_buf(struct rdsx_state *x, uint64_t *addr)
{
	if (!x->nfree)
		reclaim(x);
	if (!x->nfree) {
		rdsx_tx_kick(x);
		reclaim(x);
		if (!x->nfree)
			return NULL;
	}
	*addr = x->free_frames[--x->nfree];
	return xsk_umem__get_data(x->umem_area, *addr);
}

bool rdsx_tx_put(struct rdsx_state *x, uint64_t addr, uint32_t len)
{
	uint32_t idx;

	if (xsk_ring_prod__reserve(TX(x), 1, &idx) != 1) {
		rdsx_tx_kick(x);
		if (xsk_ring_prod__reserve(TX(x), 1, &idx) != 1)
			return false;
	}
	xsk_ring_prod__tx_desc(TX(x), idx)->addr = addr;
	xsk_ring_prod__tx_desc(TX(x), idx)->len = len;
	xsk_ring_prod__submit(TX(x), 1);
	*fstate(x, addr) |= F_IN_RING;
	return true;
}

void rdsx_tx_kick(struct rdsx_state *x)
{
	/* copy mode transmits in the syscall, up to 32 frames a call (EAGAIN:
	 * more are left) */
	for (int i = 0; i < TX_KICKS && xsk_prod_nb_free(TX(x), RING) < RING; i++) {
		int r = (int)sendto(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0);

		reclaim(x);
		if (r >= 0 || (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS))
			break;
	}
}

unsigned int rdsx_rx_batch(struct rdsx_state *x, void (*fn)(struct rdsx_state *, const uint8_t *, uint32_t))
{
	uint32_t idx, fidx, n = xsk_ring_cons__peek(RX(x), 64, &idx);

	if (!n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(RX(x), idx + i);

		fn(x, xsk_umem__get_data(x->umem_area, d->addr), d->len);
	}
	/* the same buffers go back to the fill ring */
	while (xsk_ring_prod__reserve(FQ(x), n, &fidx) != n)
		;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(FQ(x), fidx + i) =
			xsk_umem__extract_addr(xsk_ring_cons__rx_desc(RX(x), idx + i)->addr);
	xsk_ring_prod__submit(FQ(x), n);
	xsk_ring_cons__release(RX(x), n);
	return n;
}
