// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engine's shared state: address slots and congestion maps, as the
 * core's pinned, mmap-able BPF array maps (bpf_load.c: operators see them
 * with bpftool and BPF programs update them), or as memfds when BPF is not
 * available. Either way the library gets an fd it can mmap read-only.
 * Also the counters and the per-path state operators read in rdsb_paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "engine.h"
#include "../common/log.h"

#define ADDRS_BYTES (RDSB_MAX_ADDRS * sizeof(struct rdsb_addr))
#define CONG_BYTES (RDSB_MAX_ADDRS * sizeof(struct rdsb_cong_map))

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

int rdsb_cong_init(struct rdsb_engine *e)
{
	bool unsafe = false;
	int err = -1;

	e->addrs_fd = e->cong_fd = e->paths_fd = e->counters_fd = e->seqstate_fd = e->ports_fd = -1;
	e->heldlog_fd = e->old_socks_fd = e->old_rcvq_fd = e->socks_next_fd = e->ownseq_fd = -1;
	e->addrs_ro_fd = e->cong_ro_fd = -1;
	if (e->use_bpf) {
		err = rdsb_bpf_load_core(e, &unsafe);
		if (unsafe)
			return err;
		if (err) {
			pr_warn("rds-bpf: falling back to the userspace path (congestion maps in shared memory, not in bpftool)\n");
			e->use_bpf = false;
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

void rdsb_cong_fini(struct rdsb_engine *e)
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
	rdsb_seqstate_fini(e);
	rdsb_ports_fini(e);
	rdsb_heldlog_fini(e);
	if (e->bpf_obj)
		rdsb_bpf_unload_core(e);
}

/*
 * The library and the BPF programs read slots by index (a delivered
 * datagram names its sender by slot), so a slot nothing uses keeps its
 * address for ADDR_QUARANTINE at least: one is taken for a new address only
 * when no slot was ever used, and the one unused longest goes first. The
 * same address coming back finds its slot again, congestion map and all, as
 * the kernel's congestion maps outlive its connections.
 */
#define ADDR_QUARANTINE (10 * 1000000000ull)	/* ns */

int rdsb_addr_slot(struct rdsb_engine *e, const uint8_t addr[16], uint32_t scope,
		   enum rdsb_addr_kind kind)
{
	int free_slot = -1, unused = -1;

	for (int i = 0; i < RDSB_MAX_ADDRS; i++) {
		struct rdsb_addr *a = &e->addrs[i];

		if (a->kind == RDSB_ADDR_FREE) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!memcmp(a->addr, addr, 16)) {
			e->addr_refs[i]++;
			return i;
		}
		if (!e->addr_refs[i] && e->now - e->addr_unused_at[i] >= ADDR_QUARANTINE &&
		    (unused < 0 || e->addr_unused_at[i] < e->addr_unused_at[unused]))
			unused = i;
	}
	if (free_slot < 0 && unused >= 0) {
		free_slot = unused;
		/* readers see it free while it changes */
		__atomic_store_n(&e->addrs[free_slot].kind, (uint32_t)RDSB_ADDR_FREE, __ATOMIC_RELEASE);
	}
	if (free_slot < 0)
		return -1;
	memcpy(e->addrs[free_slot].addr, addr, 16);
	e->addrs[free_slot].scope_id = scope;
	e->addrs[free_slot].map_updates = 0;
	e->addrs[free_slot].congested_ports = 0;
	memset(&e->cong[free_slot], 0, sizeof(e->cong[free_slot]));
	e->addr_refs[free_slot] = 1;
	/* The library treats a slot as valid once kind is set: publish last. */
	__atomic_store_n(&e->addrs[free_slot].kind, (uint32_t)kind, __ATOMIC_RELEASE);
	copy_slot(e, free_slot);
	return free_slot;
}

void rdsb_addr_put(struct rdsb_engine *e, int slot)
{
	if (slot >= 0 && !--e->addr_refs[slot])
		e->addr_unused_at[slot] = e->now;
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

/* A peer's map a BPF program changed without the engine hearing of it (the
 * verdict's event or the XDP frame lost: a full ring buffer, a full AF_XDP
 * ring) differs from the applications' copy: copied now, else a sender
 * would wait on a port the peer has cleared until its map changes again.
 * A copy torn by a program writing meanwhile differs, and is copied again. */
void rdsb_cong_peers_resync(struct rdsb_engine *e)
{
	struct rdsb_conn *c;

	if (e->cong_copy == e->cong)
		return;
	list_for_each_entry(c, &e->conns, item) {
		if (c->fslot < 0 || c->loopback ||
		    !memcmp(e->cong[c->fslot].bits, e->cong_copy[c->fslot].bits, RDS_CONG_MAP_BYTES))
			continue;
		rdsb_count(e, RDSB_C_CONG_COPY_RESYNCED);
		rdsb_cong_peer_updated(e, c->fslot);
	}
}

/* What the BPF programs counted in slot i, on every CPU. */
uint64_t rdsb_counter_bpf(struct rdsb_engine *e, uint32_t i)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *percpu = ncpu > 0 && e->counters_fd >= 0 ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;
	uint64_t sum = 0;

	if (percpu && !bpf_map_lookup_elem(e->counters_fd, &i, percpu))
		for (int c = 0; c < ncpu; c++)
			sum += percpu[c];
	free(percpu);
	return sum;
}

/* The engine's counts plus what the BPF programs counted. */
void rdsb_counters_read(struct rdsb_engine *e, uint64_t out[RDSB_C_MAX])
{
	for (uint32_t i = 0; i < RDSB_C_MAX; i++)
		out[i] = e->counters[i] + rdsb_counter_bpf(e, i);
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

			e->tp->conn_path_sync(e, p);
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

/* A connection freed: its paths leave rdsb_paths */
void rdsb_paths_info_forget(struct rdsb_engine *e, const struct rdsb_conn *c)
{
	struct rdsb_path_key k = { 0 };

	if (e->paths_fd < 0 || c->loopback)
		return;
	memcpy(k.laddr, c->laddr, 16);
	memcpy(k.faddr, c->faddr, 16);
	for (k.path = 0; k.path < RDS_MPATH_WORKERS; k.path++)
		bpf_map_delete_elem(e->paths_fd, &k);
}
