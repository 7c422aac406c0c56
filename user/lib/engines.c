// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engines a process has sockets on, one per network namespace: each
 * engine's address table, congestion maps and (sk_msg send path) path table,
 * mapped once and never unmapped (sockets of any thread may read them
 * without a lock). A thread that moved to another namespace (setns) gets
 * that namespace's engine for the sockets it opens there; an engine that
 * replaced another (reattach.c) is told apart by its address table's inode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "lib.h"
#include "../common/txlock.h"

#define TXPATHS (RDSB_MAX_ADDRS * RDS_MPATH_WORKERS)

static struct rdsb_engine_maps *engines;
static pthread_mutex_t engines_lock = PTHREAD_MUTEX_INITIALIZER;

static void *map(int fd, size_t len, int prot)
{
	void *m = mmap(NULL, len, prot, MAP_SHARED, fd, 0);

	return m == MAP_FAILED ? NULL : m;
}

const struct rdsb_engine_maps *rdsb_engine_maps(int addrs_fd, int cong_fd, int txpath_fd, int txlock_fd)
{
	struct rdsb_engine_maps *m;
	struct stat st, at;

	if (stat("/proc/thread-self/ns/net", &st) < 0 || fstat(addrs_fd, &at) < 0)
		return NULL;
	pthread_mutex_lock(&engines_lock);
	for (m = engines; m && (m->netns != st.st_ino || m->addrs_ino != at.st_ino); m = m->next)
		;
	if (!m && (m = calloc(1, sizeof(*m)))) {
		m->netns = st.st_ino;
		m->addrs_ino = at.st_ino;
		m->addrs = map(addrs_fd, RDSB_MAX_ADDRS * sizeof(struct rdsb_addr), PROT_READ);
		m->congs = map(cong_fd, RDSB_MAX_ADDRS * sizeof(struct rdsb_cong_map), PROT_READ);
		if (!m->addrs || !m->congs) {
			if (m->addrs)
				munmap((void *)m->addrs, RDSB_MAX_ADDRS * sizeof(struct rdsb_addr));
			free(m);
			m = NULL;
		} else {
			m->next = engines;
			engines = m;
		}
	}
	/* the sk_msg send path: the engine offers it to every socket or to none */
	if (m && txpath_fd >= 0 && txlock_fd >= 0 && !m->txpaths) {
		struct rdsb_txpath *tps = map(txpath_fd, TXPATHS * sizeof(struct rdsb_txpath), PROT_READ | PROT_WRITE);
		struct rdsb_txlock *tls = map(txlock_fd, TXPATHS * sizeof(struct rdsb_txlock), PROT_READ | PROT_WRITE);

		if (tps && tls) {
			m->txlocks = tls;
			m->txpaths = tps;
		} else if (tps || tls) {
			munmap(tps ? (void *)tps : (void *)tls, tps ? TXPATHS * sizeof(*tps) : TXPATHS * sizeof(*tls));
		}
	}
	pthread_mutex_unlock(&engines_lock);
	return m;
}

int rdsb_addr_find(const struct rdsb_engine_maps *m, const uint8_t addr[16])
{
	for (int i = 0; i < RDSB_MAX_ADDRS; i++) {
		uint32_t kind = __atomic_load_n(&m->addrs[i].kind, __ATOMIC_ACQUIRE);

		if (kind != RDSB_ADDR_FREE && !memcmp(m->addrs[i].addr, addr, 16))
			return i;
	}
	return -1;
}

bool rdsb_port_congested(const struct rdsb_engine_maps *m, int slot, uint16_t port)
{
	if (slot < 0)
		return false;
	return m->congs[slot].bits[port >> 3] & (1u << (port & 7));
}

bool rdsb_init_netns(const struct rdsb_engine_maps *m)
{
	struct stat st;

	return stat("/proc/1/ns/net", &st) < 0 || st.st_ino == m->netns;
}
