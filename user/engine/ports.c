// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Bound ports that outlive the engine (the pinned map rdsb_ports, kept
 * where rdsb_seqstate is): each socket's (address, port) while it is
 * bound, with the process that opened it and that process's start time (a
 * reused pid has another). An engine started after one that was killed,
 * or that stopped with bound sockets, holds each such port for its socket
 * to come back (the library opens it again and binds the same port when
 * the application next calls on it, however late): what arrives for the
 * port waits as in a socket that is not read. Past the socket's receive
 * buffer the port is congested to the peers, and past its hard limit the
 * path that brings more stalls: nothing is dropped, and what is held is in
 * the held log too (heldlog.c), for an engine after this one. The hold ends when the
 * socket binds again, or when the timer finds its process gone: what it
 * held is then dropped as for a port nobody bound. An entry whose process
 * is gone at the start goes at once. The table has RDSB_PORTS_N entries: a
 * socket bound while it is full is not kept, and after a kill its port is
 * held only for RDSB_REBIND_MS, as any port nobody bound.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "engine.h"
#include "../common/ctl_proto.h"
#include "../common/log.h"

#define PORTS_BYTES (RDSB_PORTS_N * sizeof(struct rdsb_port_owner))
#define OWNER_POLL (1000 * 1000000ull)

/* Field 22 of /proc/PID/stat, after the command's closing parenthesis
 * (the command may hold spaces and parentheses itself). */
uint64_t rdsb_proc_start(uint32_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long start;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (!pid || !(f = fopen(path, "re")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* state, then 18 fields up to the start time */
	if (!p || sscanf(p + 1, " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
			 &start) != 1)
		return 0;
	return start;
}

static bool owner_alive(const struct rdsb_port_owner *o)
{
	return o->start && rdsb_proc_start(o->pid) == o->start;
}

static void hold_new(struct rdsb_engine *e, struct rdsb_port_owner *o)
{
	struct rdsb_port_hold *h = calloc(1, sizeof(*h));

	if (!h) {
		o->in_use = 0;
		return;
	}
	h->owner = o;
	h->slot = -1;
	INIT_LIST_HEAD(&h->stalled);
	list_add_tail(&h->item, &e->port_holds);
}

void rdsb_ports_init(struct rdsb_engine *e)
{
	struct rdsb_port_owner *t;
	unsigned int held = 0, gone = 0;

	if (e->ports_fd < 0)
		return;
	t = mmap(NULL, PORTS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->ports_fd, 0);
	if (t == MAP_FAILED) {
		pr_warn("rds-bpf: cannot map rdsb_ports: %s; after a restart a port is held for %u ms only\n",
			strerror(errno), RDSB_REBIND_MS);
		return;
	}
	e->ports = t;
	if (!e->restarted) {
		memset(t, 0, PORTS_BYTES);
		return;
	}
	for (unsigned int i = 0; i < RDSB_PORTS_N; i++) {
		if (!t[i].in_use)
			continue;
		if (!owner_alive(&t[i])) {
			t[i].in_use = 0;
			gone++;
			continue;
		}
		hold_new(e, &t[i]);
		held++;
	}
	if (held || gone)
		pr_info("rds-bpf: restarted: %u bound ports held for their sockets, %u of processes gone\n",
			held, gone);
	e->ports_check_at = e->now + OWNER_POLL;
}

/* h goes: the paths stalled on it go on (to the socket bound now, or to
 * be dropped), and its port is no longer congested by what it held. */
static void hold_free(struct rdsb_engine *e, struct rdsb_port_hold *h, bool keep_cong)
{
	list_splice_tail_init(&h->stalled, &e->rx_ready);
	if (h->slot >= 0) {
		if (h->congested && !keep_cong)
			rdsb_cong_set_local(e, h->slot, h->owner->port, false);
		rdsb_addr_put(e, h->slot);
	}
	list_del_init(&h->item);
	free(h);
}

void rdsb_ports_stop(struct rdsb_engine *e)
{
	while (!list_empty(&e->port_holds))
		hold_free(e, list_first_entry(&e->port_holds, struct rdsb_port_hold, item), true);
}

void rdsb_ports_fini(struct rdsb_engine *e)
{
	rdsb_ports_stop(e);
	if (e->ports)
		munmap(e->ports, PORTS_BYTES);
	e->ports = NULL;
}

struct rdsb_port_hold *rdsb_port_hold_find(struct rdsb_engine *e, const uint8_t addr[16], uint16_t port)
{
	struct rdsb_port_hold *h;

	list_for_each_entry(h, &e->port_holds, item)
		if (h->owner->port == port && !memcmp(h->owner->addr, addr, 16))
			return h;
	return NULL;
}

/* What a socket with that receive buffer holds before its path stalls
 * (sock.c, hard_limit) */
static uint64_t hold_limit(const struct rdsb_port_hold *h)
{
	uint64_t lim = 4ull * h->owner->rcvbuf;

	return lim > (8u << 20) ? lim : (8u << 20);
}

bool rdsb_port_hold_full(const struct rdsb_port_hold *h, uint32_t len)
{
	return h->bytes && h->bytes + len > hold_limit(h);
}

/* Congested above the receive buffer, as the socket would be; it stays so
 * until the socket, back, drains below half of it. */
void rdsb_port_hold_charge(struct rdsb_engine *e, struct rdsb_port_hold *h, int64_t bytes)
{
	h->bytes += (uint64_t)bytes;
	if (h->congested || h->bytes <= h->owner->rcvbuf)
		return;
	if (h->slot < 0)
		h->slot = rdsb_addr_slot(e, h->owner->addr, h->owner->scope_id, RDSB_ADDR_LOCAL);
	if (h->slot < 0)
		return;
	h->congested = true;
	rdsb_cong_set_local(e, h->slot, h->owner->port, true);
}

bool rdsb_port_hold_ok(const struct rdsb_port_hold *h, const struct rdsb_sock *s, bool again)
{
	/* a socket the library opens again may come from another process of
	 * the owner's (a child that shares it); never from another user's */
	return (again && s->uid == h->owner->uid) ||
	       (s->pid == h->owner->pid && s->pid_start == h->owner->start);
}

static void owner_set(struct rdsb_port_owner *o, const struct rdsb_sock *s)
{
	memcpy(o->addr, s->addr, 16);
	o->scope_id = s->scope_id;
	o->port = s->port;
	o->pid = s->pid;
	o->start = s->pid_start;
	o->uid = s->uid;
	o->rcvbuf = s->rcvbuf;
	o->in_use = 1;
}

void rdsb_ports_bound(struct rdsb_engine *e, struct rdsb_sock *s, struct rdsb_port_hold *h)
{
	struct rdsb_port_owner *t = e->ports;

	if (h) {
		s->owner = h->owner;
		owner_set(s->owner, s);
		/* the bit set for what it held is the socket's to clear */
		if (h->congested && s->slot == h->slot)
			s->congested = true;
		hold_free(e, h, s->congested);
		return;
	}
	if (!t || !s->pid_start)
		return;
	for (unsigned int i = 0; i < RDSB_PORTS_N; i++) {
		if (t[i].in_use)
			continue;
		s->owner = &t[i];
		owner_set(s->owner, s);
		return;
	}
	pr_info("rds-bpf: socket %u: rdsb_ports is full (%u): after a restart its port is held for %u ms only\n",
		s->id, RDSB_PORTS_N, RDSB_REBIND_MS);
}

void rdsb_ports_unbound(struct rdsb_engine *e, struct rdsb_sock *s)
{
	/* a socket of a stopping engine comes back to the next one */
	if (s->owner && !e->stopping)
		s->owner->in_use = 0;
	s->owner = NULL;
}

void rdsb_ports_rcvbuf(struct rdsb_sock *s)
{
	if (s->owner)
		s->owner->rcvbuf = s->rcvbuf;
}

void rdsb_ports_timer(struct rdsb_engine *e, uint64_t *next)
{
	struct rdsb_port_hold *h, *t;
	bool gone = false;

	if (list_empty(&e->port_holds))
		return;
	if (e->now >= e->ports_check_at) {
		list_for_each_entry_safe(h, t, &e->port_holds, item) {
			if (owner_alive(h->owner))
				continue;
			pr_info("rds-bpf: the process %u that had bound port %u is gone: its datagrams are dropped\n",
				h->owner->pid, h->owner->port);
			h->owner->in_use = 0;
			hold_free(e, h, false);
			gone = true;
		}
		e->ports_check_at = e->now + OWNER_POLL;
	}
	if (gone)
		rdsb_held_release(e, NULL);
	if (!list_empty(&e->port_holds) && e->ports_check_at < *next)
		*next = e->ports_check_at;
}
