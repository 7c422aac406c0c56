// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Control requests: from a socket (bind, buffers, cancel, congestion
 * monitor) or from the CLI (status, unload). One request, one reply. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine.h"
#include "../common/addr.h"
#include "../common/ctl_proto.h"
#include "../common/sysctl.h"

struct text {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len >= t->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

/* Who connected (uid, gid, pid as of connect) */
static bool peer_cred(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == 0;
}

static bool peer_root(int fd)
{
	struct ucred cred;

	return peer_cred(fd, &cred) && cred.uid == 0;
}

/* Root, or CAP_NET_ADMIN in the peer's effective set (what SO_SNDBUFFORCE
 * and SO_RCVBUFFORCE ask of a kernel socket's caller). */
static bool peer_net_admin(int fd)
{
	unsigned long long caps = 0;
	char path[64], line[256];
	struct ucred cred;
	FILE *f;

	if (!peer_cred(fd, &cred))
		return false;
	if (cred.uid == 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)cred.pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	if (f)
		fclose(f);
	return caps & (1ull << CAP_NET_ADMIN);
}

/* SO_SNDBUF/SO_RCVBUF as the kernel caps them: at [wr]mem_max, which only
 * the FORCE options pass, and only with CAP_NET_ADMIN (the library caps
 * what is not forced, so a larger request is a forced one, or written
 * past the library). Returns 0 or EPERM. */
static int set_buf(struct rdsb_engine *e, struct rdsb_sock *s, int fd, const struct rdsb_ctl_req *req)
{
	bool rcv = req->arg == 1;
	uint64_t max = (uint64_t)rdsb_sysctl_int(rcv ? "rmem_max" : "wmem_max", 212992);
	uint32_t v = req->val < INT32_MAX / 2 ? (uint32_t)req->val : INT32_MAX / 2;

	if (req->val > max && !peer_net_admin(fd))
		return EPERM;
	if (rcv)
		rdsb_sock_set_rcvbuf(e, s, v);
	else
		s->sndbuf = v;
	return 0;
}

/* Root, or a member (primary or supplementary) of the group named at load:
 * the only ones who may open sockets or ask the engine anything. */
bool rdsb_ctl_peer_allowed(struct rdsb_engine *e, int fd)
{
	gid_t stack[256], *groups = stack;
	socklen_t len = sizeof(stack);
	struct ucred cred;
	bool member = false;

	if (!peer_cred(fd, &cred))
		return false;
	if (cred.uid == 0)
		return true;
	if (e->ctl_gid == (gid_t)-1)
		return false;
	if (cred.gid == e->ctl_gid)
		return true;
	/* Up to NGROUPS_MAX (65536) groups: ERANGE says how much room it takes */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == e->ctl_gid)
			member = true;
	if (groups != stack)
		free(groups);
	return member;
}

/* delivery acknowledgements (docs/protocol.md 1.4): [we keep sends until
 * the peer's][we send ours] */
static const char *const deliv_acks[2][2] = { { "none", "sent" }, { "read", "both" } };
static const char *const state_names[] = { "down", "connecting", "disconnecting", "up",
					   "resetting", "error" };

struct counters_out {
	struct text *t;
	const char *transport;	/* text: the heading, before the first one */
	bool json, first;
};

/* One transport counter: every one in JSON, those not zero in text. */
static void counter_out(void *arg, const char *name, uint64_t v)
{
	struct counters_out *o = arg;

	if (o->json) {
		tprintf(o->t, "%s\"%s\":%llu", o->first ? "" : ",", name, (unsigned long long)v);
		o->first = false;
		return;
	}
	if (!v)
		return;
	if (o->first)
		tprintf(o->t, "%s transport counters:\n", o->transport);
	o->first = false;
	tprintf(o->t, "  %-26s %llu\n", name, (unsigned long long)v);
}

/* Ports of sockets of the engine before, held until they come back
 * (ports.c) */
static void held_ports(struct rdsb_engine *e, struct text *t, bool json)
{
	struct rdsb_port_hold *h;
	bool first = true;
	char a[64];

	list_for_each_entry(h, &e->port_holds, item) {
		rdsb_addr_str(h->owner->addr, a, sizeof(a));
		if (json)
			tprintf(t, "%s{\"addr\":\"%s\",\"port\":%u,\"pid\":%u,\"held_bytes\":%llu,\"congested\":%s}",
				first ? "" : ",", a, h->owner->port, h->owner->pid, (unsigned long long)h->bytes,
				h->congested ? "true" : "false");
		else
			tprintf(t, "held port %s:%u (pid %u): %llu bytes%s\n", a, h->owner->port, h->owner->pid,
				(unsigned long long)h->bytes, h->congested ? ", congested" : "");
		first = false;
	}
}

/* Text for humans, or JSON with stable keys. */
static void status(struct rdsb_engine *e, struct text *t, bool json)
{
	struct rdsb_conn *c;
	struct rdsb_sock *s;
	uint64_t counters[RDSB_C_MAX];
	char la[64], fa[64];
	bool first = true;
	struct rdsb_tp_status st;

	e->tp->status(e, &st);
	if (json)
		tprintf(t, "{\"gen\":%u,\"transport\":\"%s\",\"max_paths\":%u,\"data_path\":\"%s\",\"sk_msg_sends\":%s,\"pin_dir\":\"%s\",\"sockops_cgroup\":\"%s\",\"connections\":[",
			e->gen_num, e->tp->name, e->max_paths, st.data_path, e->number_at_xmit ? "true" : "false",
			e->use_bpf ? e->pin_dir : "", st.ack_cgroup);
	else
		tprintf(t, "engine: gen %08x, %s transport, up to %u paths, %s path%s%s%s%s%s\n", e->gen_num,
			e->tp->name, e->max_paths, strcmp(st.data_path, "bpf") ? st.data_path : "BPF",
			e->number_at_xmit ? " with sk_msg sends" : "", e->use_bpf ? ", maps pinned in " : "", e->use_bpf ? e->pin_dir : "",
			st.ack_cgroup[0] ? ", acks from sock_ops on cgroup " : "", st.ack_cgroup);
	list_for_each_entry(c, &e->conns, item) {
		rdsb_addr_str(c->laddr, la, sizeof(la));
		rdsb_addr_str(c->faddr, fa, sizeof(fa));
		if (json)
			tprintf(t, "%s{\"laddr\":\"%s\",\"faddr\":\"%s\",\"loopback\":%s,\"npaths\":%u,\"peer_gen\":%u,\"delivery_acks\":\"%s\",\"paths\":[",
				first ? "" : ",", la, fa, c->loopback ? "true" : "false", c->npaths, c->peer_gen,
				deliv_acks[c->deliv_hold][c->deliv_send]);
		else
			tprintf(t, "connection %s -> %s: %s, npaths %u, peer gen %08x, delivery acks %s\n", la, fa,
				c->loopback ? "loopback" : e->tp->name, c->npaths, c->peer_gen,
				deliv_acks[c->deliv_hold][c->deliv_send]);
		first = false;
		for (unsigned int i = 0; i < RDS_MPATH_WORKERS && !c->loopback; i++) {
			struct rdsb_path *p = &c->paths[i];

			if (p->state == RDSB_PATH_DOWN && i >= (c->npaths ? c->npaths : 1))
				continue;
			if (json)
				tprintf(t, "%s{\"path\":%u,\"state\":\"%s\",\"lport\":%u,\"fport\":%u,\"next_tx_seq\":%llu,\"next_rx_seq\":%llu,\"tx_msgs\":%llu,\"rx_msgs\":%llu,\"unacked\":%u,\"queued\":%s,\"reconnects\":%llu,\"resend_wait\":%llu}",
					i ? "," : "", i, state_names[p->state], p->lport, p->fport,
					(unsigned long long)p->next_tx_seq, (unsigned long long)p->next_rx_seq,
					(unsigned long long)p->tx_msgs, (unsigned long long)p->rx_msgs, p->nunacked,
					list_empty(&p->send_q) ? "false" : "true", (unsigned long long)p->reconnects,
					(unsigned long long)(p->resend_until ? p->resend_left : 0));
			else
				tprintf(t, "  path %u: %-10s ports %u -> %u, next tx %llu, next rx %llu, tx %llu, rx %llu, unacked %u, reconnects %llu\n",
					i, state_names[p->state], p->lport, p->fport,
					(unsigned long long)p->next_tx_seq, (unsigned long long)p->next_rx_seq,
					(unsigned long long)p->tx_msgs, (unsigned long long)p->rx_msgs, p->nunacked,
					(unsigned long long)p->reconnects);
		}
		if (json)
			tprintf(t, "]}");
	}
	if (json)
		tprintf(t, "],\"sockets\":[");
	first = true;
	list_for_each_entry(s, &e->socks, item) {
		if (!s->bound)
			continue;
		rdsb_addr_str(s->addr, la, sizeof(la));
		if (json)
			tprintf(t, "%s{\"addr\":\"%s\",\"port\":%u,\"rcvbuf\":%u,\"queued_bytes\":%llu,"
				   "\"stream_buf\":%d,\"congested\":%s}",
				first ? "" : ",", la, s->port, s->rcvbuf, (unsigned long long)s->rx_q_bytes,
				s->stream_buf, s->congested ? "true" : "false");
		else
			tprintf(t, "socket %s:%u: rcvbuf %u, queued %llu bytes, stream buffer %d%s\n", la, s->port,
				s->rcvbuf, (unsigned long long)s->rx_q_bytes, s->stream_buf,
				s->congested ? ", congested" : "");
		first = false;
	}
	if (json)
		tprintf(t, "],\"held_ports\":[");
	held_ports(e, t, json);
	if (json)
		tprintf(t, "],\"counters\":{");
	else
		tprintf(t, "counters:\n");
	rdsb_counters_read(e, counters);
	for (int i = 0; i < RDSB_C_MAX; i++) {
		if (json)
			tprintf(t, "%s\"%s\":%llu", i ? "," : "", rdsb_counter_names[i],
				(unsigned long long)counters[i]);
		else if (counters[i])
			tprintf(t, "  %-26s %llu\n", rdsb_counter_names[i], (unsigned long long)counters[i]);
	}
	if (json)
		tprintf(t, "},\"transport_counters\":{");
	{
		struct counters_out o = { .t = t, .transport = e->tp->name, .json = json, .first = true };

		e->tp->counters(e, counter_out, &o);
	}
	if (json)
		tprintf(t, "}}\n");
}

void rdsb_ctl_handle(struct rdsb_engine *e, struct rdsb_sock *s, int fd, const struct rdsb_ctl_req *req)
{
	struct rdsb_ctl_rep rep = { .abi = RDSB_ABI };
	struct text t = { 0 };
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };

	switch (req->op) {
	case RDSB_CTL_BIND:
		rep.port = req->port;
		rep.err = s ? rdsb_sock_bind(e, s, req->addr, req->scope_id, &rep.port,
					     (unsigned int)(req->val & (RDSB_BIND_CHOSEN | RDSB_BIND_AGAIN))) : EINVAL;
		rep.arg = (uint32_t)e->tp->trans_id;	/* getsockopt(SO_RDS_TRANSPORT) */
		break;
	case RDSB_CTL_SET_BUF:
		rep.err = s ? set_buf(e, s, fd, req) : EINVAL;
		break;
	case RDSB_CTL_CANCEL_SENT_TO:
		if (!s || !s->bound)
			rep.err = ENOTCONN;
		else
			rdsb_conn_cancel(e, s->id, req->addr, req->port);
		break;
	case RDSB_CTL_CONG_MONITOR:
		if (s)
			s->cong_monitor |= req->val;
		break;
	case RDSB_CTL_HOLD:
		if (s)
			s->hold_until = e->now + RDSB_HOLD_SECONDS * 1000000000ull;
		break;
	case RDSB_CTL_CONNECT:
		rep.err = s ? rdsb_sock_conn_for(e, s, req->addr, req->scope_id) : EINVAL;
		break;
	case RDSB_CTL_STREAM_END:
		rep.err = req->arg ? -rdsb_bpf_old_delivered(e, req->arg - 1, req->val, &rep.val) : EINVAL;
		rep.val = rep.err ? 0 : rep.val + 1;
		break;
	case RDSB_CTL_LOCAL_ADDR:
		rep.err = rdsb_addr_is_local(req->addr, req->scope_id) ? 0 : EADDRNOTAVAIL;
		break;
	case RDSB_CTL_STATUS:
		t.cap = RDSB_CTL_MAX_REPLY - sizeof(rep);
		t.buf = malloc(t.cap);
		if (t.buf)
			status(e, &t, req->arg == 1);
		rep.len = (uint32_t)t.len;
		break;
	case RDSB_CTL_INFO: {
		size_t total = 0;
		int size;

		t.cap = RDSB_CTL_MAX_REPLY - sizeof(rep);
		if (req->val < t.cap)
			t.cap = req->val;
		t.buf = malloc(t.cap + 1);
		if (!t.buf) {
			rep.err = ENOMEM;
			break;
		}
		size = rdsb_info(e, (int)req->arg, t.buf, t.cap, &total);
		if (size < 0) {
			rep.err = -size;
			break;
		}
		rep.arg = (uint32_t)size;
		rep.val = total;
		t.len = total <= t.cap ? total : 0;
		rep.len = (uint32_t)t.len;
		break;
	}
	case RDSB_CTL_UNLOAD:
		/* stopping the engine is root's alone, group or not */
		if (peer_root(fd))
			e->unload = true;
		else
			rep.err = EPERM;
		break;
	default:
		rep.err = EOPNOTSUPP;
	}
	iov[0].iov_base = &rep;
	iov[0].iov_len = sizeof(rep);
	if (t.len) {
		iov[1].iov_base = t.buf;
		iov[1].iov_len = t.len;
		mh.msg_iovlen = 2;
	}
	sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(t.buf);
}
