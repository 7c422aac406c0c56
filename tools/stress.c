// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf stress: rds-stress's model (passive and active sides, tasks,
 * depth, request and ack sizes, one-way mode) on librdsb sockets.
 *
 * The sides agree over a TCP control connection on LOCAL:port of the
 * passive side: PARAMS (active -> passive), READY (tasks bound), START, then
 * the drain: DONE (what the active side sent and received so far, per task)
 * answered by RESULT (what the passive side counted so far), every 10 ms
 * until the active side decides how the drain ended; a last DONE says so,
 * and its RESULT has the passive side's final counts. Each message: magic,
 * type, then 64-bit big-endian values.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <rds-bpf/rds.h>
#include <rds-bpf/rules.h>
#include "../user/common/addr.h"
#include "cli.h"
#include "stress.h"

#define CTL_MAGIC 0x5244535354524553ULL	/* "RDSSTRES" */
#define CTL_VERSION 3
#define CTL_TIMEOUT_MS 30000

enum { CTL_PARAMS = 1, CTL_READY, CTL_START, CTL_DONE, CTL_RESULT };
enum { P_VERSION, P_TASKS, P_DEPTH, P_REQ, P_ACK, P_ONE_WAY, P_SECS, P_NO_VERIFY, P_COUNT };
/* RESULT: the passive side's counts; behind: requests the active side sent
 * (by DONE's tx_msgs) that it has not counted yet; failed: one of its tasks */
enum { R_TX_MSGS, R_RX_MSGS, R_TX_BYTES, R_RX_BYTES, R_BAD, R_OOO, R_BEHIND, R_FAILED, R_COUNT };
/* DONE: end (enum stress_end), bad, out_of_order, then tx_msgs[tasks], then rx_msgs[tasks] */
enum { D_END, D_BAD, D_OOO, D_TX };
#define D_RX(tasks) (D_TX + (tasks))
#define DONE_COUNT(tasks) (D_TX + 2 * (tasks))
#define DRAIN_POLL_US 10000	/* how often the drain compares the two sides' counts */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rds-bpf stress -r LOCAL [-p PORT] [--cpu N] [-z|-j]            passive side\n"
		"       rds-bpf stress -r LOCAL -s PEER [-p PORT] [-t TASKS] [-d DEPTH] [-q BYTES]\n"
		"                      [-a BYTES] [-T SECS] [-o] [-w SECS] [--no-verify] [--cpu N] [-z|-j]\n"
		"                                                                        active side\n"
		"  -r, --local ADDR    the address both sides' RDS sockets bind to (IPv4 or IPv6)\n"
		"  -s, --peer ADDR     the passive side to run against (makes this the active side)\n"
		"  -p, --port PORT     TCP control port of the passive side (default 4000); its task i\n"
		"                      binds RDS port PORT+1+i\n"
		"  -t, --tasks N       processes, each with its own RDS socket (1-%d, default 1)\n"
		"  -d, --depth N       requests outstanding per task (1-%d, default 1); one-way:\n"
		"                      the send buffer holds N requests (at least the default)\n"
		"  -q, --req BYTES     request size (%u B to 1M, K/M suffixes; default 1024)\n"
		"  -a, --ack BYTES     ack (response) size (%u B to 1M; default %u)\n"
		"  -T, --time SECS     run time (default 10; 0: until SIGINT)\n"
		"  -o, --one-way       the active side only sends, the passive side counts\n"
		"  -w, --drain-wait SECS  after the run, wait for what is in flight while the counts\n"
		"                      move; give up after SECS without progress (1-3600, default %d)\n"
		"      --no-verify     the receivers check each message's header, length and order,\n"
		"                      not its content (which they do not read, as iperf3 does not)\n"
		"      --cpu N         pin every task to CPU N\n"
		"  -z, --summary       only the final line;  -j, --json: only the final result, as JSON\n"
		"Every message carries its task, sequence number and a checksum of its content; each\n"
		"side counts the bad and out-of-order messages it receives.\n"
		"Output: a line per second (tsks tx/s rx/s tx MB/s rx MB/s Gbit/s rtt us p50 us p99 us;\n"
		"MB = 10^6 B, rtt of request/response) and a final line '::' + CSV with the fields\n"
		"  " STRESS_CSV_FIELDS "\n"
		"(peer_*: the other side's counts; lost: sent by one side, not received by the other,\n"
		"counted once both sides are done and nothing moves, else empty (JSON null);\n"
		"drain_timed_out: 1 (JSON true) if the drain gave up with in_flight messages sent\n"
		"and not yet received, which are not counted as lost).\n"
		"Exit status: 0; 1 if a message was bad, out of order or lost, or a task failed;\n"
		"2 usage; 3 no engine loaded; 4 the drain gave up (-w) with messages in flight.\n",
		STRESS_MAX_TASKS, STRESS_MAX_DEPTH, STRESS_MSG_MIN, STRESS_MSG_MIN, STRESS_MSG_MIN, STRESS_DRAIN_SECS);
}

/* a decimal number in [min, max]; sizes take K and M (binary) suffixes */
static int parse_num(const char *s, uint64_t min, uint64_t max, bool size, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (size && (*end == 'K' || *end == 'k') && !end[1] && v <= max >> 10) {
		v <<= 10;
		end++;
	} else if (size && (*end == 'M' || *end == 'm') && !end[1] && v <= max >> 20) {
		v <<= 20;
		end++;
	}
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- control connection ---- */

static int ctl_send(int fd, uint64_t type, const uint64_t *v, unsigned int n)
{
	uint64_t buf[2 + DONE_COUNT(STRESS_MAX_TASKS)];
	size_t len = (2 + n) * sizeof(uint64_t);
	const char *p = (const char *)buf;

	buf[0] = htobe64(CTL_MAGIC);
	buf[1] = htobe64(type);
	for (unsigned int i = 0; i < n; i++)
		buf[2 + i] = htobe64(v[i]);
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads one message of this type with n values; -1 with errno on a
 * timeout (ETIMEDOUT), a closed connection (ECONNRESET) or garbage (EPROTO). */
static int ctl_recv(int fd, uint64_t type, uint64_t *v, unsigned int n, int timeout_ms)
{
	uint64_t buf[2 + DONE_COUNT(STRESS_MAX_TASKS)];
	size_t len = (2 + n) * sizeof(uint64_t), got = 0;
	double end = now_s() + timeout_ms / 1000.0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((end - now_s()) * 1000);
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
			errno = ECONNRESET;
			return -1;
		}
		if (r > 0)
			got += (size_t)r;
	}
	if (be64toh(buf[0]) != CTL_MAGIC || be64toh(buf[1]) != type) {
		errno = EPROTO;
		return -1;
	}
	for (unsigned int i = 0; i < n; i++)
		v[i] = be64toh(buf[2 + i]);
	return 0;
}

static int tcp_socket(const uint8_t addr[16], uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	int one = 1, fd;

	*len = rdsb_addr_to_sa(addr, port, 0, false, ss);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

static int ctl_accept(const struct stress_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = tcp_socket(o->local, o->port, &ss, &len), c = -1;

	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1)) {
		fprintf(stderr, "rds-bpf stress: control port %u: %s (hint: another stress on this port?)\n",
			o->port, strerror(errno));
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		while (!interrupted && c < 0) {
			if (poll(&p, 1, 200) > 0)
				c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		}
	}
	if (fd >= 0)
		close(fd);
	return c;
}

static int ctl_connect(const struct stress_opts *o)
{
	struct sockaddr_storage ss, src;
	socklen_t len, slen;
	double end = now_s() + 10;

	while (!interrupted) {
		int fd = tcp_socket(o->local, 0, &src, &slen);

		if (fd < 0)
			break;
		len = rdsb_addr_to_sa(o->peer, o->port, 0, false, &ss);
		if (!bind(fd, (struct sockaddr *)&src, slen) && !connect(fd, (struct sockaddr *)&ss, len))
			return fd;
		close(fd);
		if (now_s() > end)
			break;
		usleep(100000);
	}
	fprintf(stderr, "rds-bpf stress: no passive side on control port %u: %s (hint: start rds-bpf stress -r PEER there)\n",
		o->port, strerror(errno));
	return -1;
}

/* ---- tasks ---- */

static pid_t *start_tasks(const struct stress_opts *o, struct stress_shared *sh)
{
	pid_t *pids = calloc(o->tasks, sizeof(*pids));

	if (!pids)
		return NULL;
	fflush(stdout);
	for (unsigned int i = 0; i < o->tasks; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			/* the parent orchestrates the end; a dead parent ends us */
			signal(SIGINT, SIG_IGN);
			signal(SIGTERM, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(stress_task_run(o, i, sh));
		}
		if (pids[i] < 0) {
			sh->task[i].error = errno;
			break;
		}
	}
	return pids;
}

static bool tasks_failed(const struct stress_opts *o, const struct stress_shared *sh)
{
	for (unsigned int i = 0; i < o->tasks; i++)
		if (__atomic_load_n(&sh->task[i].error, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

/* How many tasks have set flag (ready or done) */
static unsigned int tasks_with(const struct stress_opts *o, const struct stress_shared *sh, size_t flag)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < o->tasks; i++)
		n += __atomic_load_n((const int *)((const char *)&sh->task[i] + flag), __ATOMIC_ACQUIRE) != 0;
	return n;
}

/* Waits until every task has set flag; false on a failure or after secs. */
static bool tasks_wait(const struct stress_opts *o, const struct stress_shared *sh, size_t flag, double secs)
{
	double end = now_s() + secs;

	while (now_s() < end && !tasks_failed(o, sh)) {
		if (tasks_with(o, sh, flag) == o->tasks)
			return true;
		usleep(1000);
	}
	return false;
}

/* EXIT to every task; true if all exited with 0. One still in a call after
 * 3 s is killed; after a drain that timed out (stuck_ok) that is a send
 * waiting for the peer to clear its port's congestion (which ignores
 * SO_SNDTIMEO, as the kernel's), no failure of its own: its counts stand. */
static bool stop_tasks(const struct stress_opts *o, struct stress_shared *sh, pid_t *pids, bool stuck_ok)
{
	double end = now_s() + 3;
	bool ok = true;

	__atomic_store_n(&sh->phase, STRESS_EXIT, __ATOMIC_RELEASE);
	for (unsigned int i = 0; pids && i < o->tasks; i++) {
		int st = 0;

		if (pids[i] <= 0) {
			ok = false;
			continue;
		}
		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (now_s() > end) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &st, 0);
				st = stuck_ok ? 0 : st;
				break;
			}
			usleep(1000);
		}
		ok &= WIFEXITED(st) && !WEXITSTATUS(st);
	}
	free(pids);
	return ok;
}

/* A line per second until secs (0: no limit), a signal, a failed task, or fd readable. */
static void tick(const struct stress_opts *o, const struct stress_shared *sh, double t0, unsigned int secs,
		 int fd)
{
	static struct stress_totals prev, cur;
	double next = t0 + 1, last = t0;

	memset(&prev, 0, sizeof(prev));
	while (!interrupted && !tasks_failed(o, sh)) {
		double now = now_s(), until = secs && t0 + secs < next ? t0 + secs : next;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((until - now) * 1000) + 1;

		if (ms > 0 && poll(&p, fd >= 0, ms) > 0)
			return;
		now = now_s();
		if (now >= next) {
			stress_sum(sh, o->tasks, &cur);
			if (!o->summary_only && !o->json)
				stress_line(o->tasks, &cur, &prev, now - last);
			prev = cur;
			last = now;
			next += 1;
		}
		if (secs && now >= t0 + secs)
			return;
	}
}

static void totals_of(const struct stress_shared *sh, const struct stress_opts *o, uint64_t v[R_COUNT],
		      struct stress_totals *t)
{
	stress_sum(sh, o->tasks, t);
	v[R_TX_MSGS] = t->tx_msgs;
	v[R_RX_MSGS] = t->rx_msgs;
	v[R_TX_BYTES] = t->tx_bytes;
	v[R_RX_BYTES] = t->rx_bytes;
	v[R_BAD] = t->bad;
	v[R_OOO] = t->out_of_order;
}

/* The active side's counts for DONE (its end set apart) */
static void done_of(const struct stress_opts *o, const struct stress_shared *sh, uint64_t *done)
{
	done[D_BAD] = done[D_OOO] = 0;
	for (unsigned int i = 0; i < o->tasks; i++) {
		const struct stress_stats *s = &sh->task[i];

		/* rx_msgs first: a task bumps it after the counters it covers */
		done[D_RX(o->tasks) + i] = __atomic_load_n(&s->rx_msgs, __ATOMIC_ACQUIRE);
		done[D_TX + i] = __atomic_load_n(&s->tx_msgs, __ATOMIC_ACQUIRE);
		done[D_BAD] += __atomic_load_n(&s->bad, __ATOMIC_RELAXED);
		done[D_OOO] += __atomic_load_n(&s->out_of_order, __ATOMIC_RELAXED);
	}
}

/* The passive side's counts for RESULT, against the active side's in DONE */
static void result_of(const struct stress_opts *o, const struct stress_shared *sh, const uint64_t *done,
		      uint64_t v[R_COUNT], struct stress_totals *t)
{
	uint64_t rx[STRESS_MAX_TASKS];

	for (unsigned int i = 0; i < o->tasks; i++)
		rx[i] = __atomic_load_n(&sh->task[i].rx_msgs, __ATOMIC_ACQUIRE);
	totals_of(sh, o, v, t);
	v[R_BEHIND] = stress_behind(done + D_TX, rx, o->tasks);
	v[R_FAILED] = tasks_failed(o, sh);
}

/* What a DONE and its RESULT say is in flight: requests the passive side has
 * not counted (per task), answers the active side has not */
static uint64_t in_flight(const struct stress_opts *o, const uint64_t *done, const uint64_t v[R_COUNT])
{
	uint64_t active_rx = 0;

	for (unsigned int i = 0; i < o->tasks; i++)
		active_rx += done[D_RX(o->tasks) + i];
	return v[R_BEHIND] + stress_behind(&v[R_TX_MSGS], &active_rx, 1);
}

/* The end of the drain, what was in flight and the other side's counts, from
 * the last DONE and RESULT: the same figures on both sides. */
static void result_end(struct stress_result *r, const struct stress_opts *o, const uint64_t *done,
		       const uint64_t v[R_COUNT])
{
	r->end = (enum stress_end)done[D_END];
	r->in_flight = in_flight(o, done, v);
	if (o->active) {
		r->peer_tx_msgs = v[R_TX_MSGS];
		r->peer_rx_msgs = v[R_RX_MSGS];
		r->peer_bad = v[R_BAD];
		r->peer_out_of_order = v[R_OOO];
	} else {
		r->peer_tx_msgs = r->peer_rx_msgs = 0;
		for (unsigned int i = 0; i < o->tasks; i++) {
			r->peer_tx_msgs += done[D_TX + i];
			r->peer_rx_msgs += done[D_RX(o->tasks) + i];
		}
		r->peer_bad = done[D_BAD];
		r->peer_out_of_order = done[D_OOO];
	}
}

/* The active side's drain: the answers still due come in and the passive
 * side counts what was sent, compared every DRAIN_POLL_US through DONE and
 * RESULT, until every task is done with nothing in flight (settled), a task
 * fails, or the counts stand still for drain_secs: a slow machine that still
 * delivers gets its full count. Returns how it ended; -1 when the control
 * connection failed. */
static int drain(const struct stress_opts *o, struct stress_shared *sh, int fd, uint64_t *done,
		 uint64_t v[R_COUNT])
{
	struct stress_drain d;

	stress_drain_start(&d, o->drain_secs, now_s());
	for (;;) {
		/* done before the counts: a task's done covers its last count */
		unsigned int finished = tasks_with(o, sh, offsetof(struct stress_stats, done));
		uint64_t moved = finished;

		done_of(o, sh, done);
		done[D_END] = STRESS_DRAINING;
		if (ctl_send(fd, CTL_DONE, done, DONE_COUNT(o->tasks)) ||
		    ctl_recv(fd, CTL_RESULT, v, R_COUNT, CTL_TIMEOUT_MS))
			return -1;
		if (tasks_failed(o, sh) || v[R_FAILED])
			return STRESS_FAILED;
		if (finished == o->tasks && !in_flight(o, done, v))
			return STRESS_SETTLED;
		for (unsigned int i = 0; i < 2 * o->tasks; i++)
			moved += done[D_TX + i];
		if (!stress_drain_moving(&d, moved + v[R_TX_MSGS] + v[R_RX_MSGS], now_s()))
			return STRESS_TIMED_OUT;
		usleep(DRAIN_POLL_US);
	}
}

/* The passive side's drain: a RESULT for each DONE, until the active side's
 * last; 0, or -1 with errno when the control connection failed. */
static int answer_drain(const struct stress_opts *o, const struct stress_shared *sh, int fd, uint64_t *done,
			uint64_t v[R_COUNT], struct stress_totals *t)
{
	do {
		if (ctl_recv(fd, CTL_DONE, done, DONE_COUNT(o->tasks), CTL_TIMEOUT_MS))
			return -1;
		if (done[D_END] > STRESS_FAILED) {
			errno = EPROTO;
			return -1;
		}
		result_of(o, sh, done, v, t);
		if (ctl_send(fd, CTL_RESULT, v, R_COUNT))
			return -1;
	} while (done[D_END] == STRESS_DRAINING);
	return 0;
}

static int finish(const struct stress_opts *o, struct stress_result *r, bool tasks_ok)
{
	int status = stress_status(r, tasks_ok);

	stress_print_result(o, r);
	if (r->local.bad || r->local.out_of_order || r->peer_bad || r->peer_out_of_order || stress_lost(r))
		fprintf(stderr, "rds-bpf stress: %lu bad, %lu out of order (peer: %lu, %lu), %lu lost\n",
			r->local.bad, r->local.out_of_order, r->peer_bad, r->peer_out_of_order, stress_lost(r));
	if (r->end == STRESS_FAILED && tasks_ok)
		fprintf(stderr, "rds-bpf stress: a task of the other side failed (its output says why)\n");
	if (r->end == STRESS_TIMED_OUT && o->active)
		fprintf(stderr, "rds-bpf stress: the drain wait ran out with %lu messages in flight (no progress for %u s); not counted as lost (hint: a loaded machine? -w SECS waits longer)\n",
			r->in_flight, o->drain_secs);
	else if (r->end == STRESS_TIMED_OUT)
		fprintf(stderr, "rds-bpf stress: the drain wait ran out with %lu messages in flight; not counted as lost (hint: a loaded machine? the active side's -w SECS waits longer)\n",
			r->in_flight);
	return status;
}

static int ctl_error(const char *what)
{
	fprintf(stderr, "rds-bpf stress: control connection, %s: %s\n", what,
		errno == ETIMEDOUT ? "the other side stopped answering" : strerror(errno));
	return 1;
}

static int run_passive(struct stress_opts *o, struct stress_shared *sh)
{
	static struct stress_result r = { .role = "passive" };
	uint64_t p[P_COUNT], done[DONE_COUNT(STRESS_MAX_TASKS)], v[R_COUNT], status = 0;
	double t0;
	pid_t *pids;
	bool ok;
	int fd = ctl_accept(o);

	if (fd < 0)
		return 1;
	if (ctl_recv(fd, CTL_PARAMS, p, P_COUNT, CTL_TIMEOUT_MS))
		return ctl_error("parameters");
	if (p[P_VERSION] != CTL_VERSION || !p[P_TASKS] || p[P_TASKS] > STRESS_MAX_TASKS || !p[P_DEPTH] ||
	    p[P_DEPTH] > STRESS_MAX_DEPTH || p[P_REQ] < STRESS_MSG_MIN || !rdsb_msg_size_ok(p[P_REQ]) ||
	    p[P_ACK] < STRESS_MSG_MIN || !rdsb_msg_size_ok(p[P_ACK]) || p[P_ONE_WAY] > 1 || p[P_NO_VERIFY] > 1 ||
	    o->port + p[P_TASKS] > 65535) {
		fprintf(stderr, "rds-bpf stress: the active side sent parameters out of range (version %lu)\n",
			p[P_VERSION]);
		status = EINVAL;
		ctl_send(fd, CTL_READY, &status, 1);
		return 1;
	}
	o->tasks = (unsigned int)p[P_TASKS];
	o->depth = (unsigned int)p[P_DEPTH];
	o->req_bytes = (uint32_t)p[P_REQ];
	o->ack_bytes = (uint32_t)p[P_ACK];
	o->one_way = p[P_ONE_WAY];
	o->secs = (unsigned int)p[P_SECS];
	o->no_verify = p[P_NO_VERIFY];
	pids = start_tasks(o, sh);
	if (!pids || !tasks_wait(o, sh, offsetof(struct stress_stats, ready), 10))
		status = EIO;
	if (ctl_send(fd, CTL_READY, &status, 1) || status ||
	    ctl_recv(fd, CTL_START, NULL, 0, CTL_TIMEOUT_MS)) {
		stop_tasks(o, sh, pids, false);
		return status ? 1 : ctl_error("start");
	}
	t0 = now_s();
	__atomic_store_n(&sh->phase, STRESS_RUN, __ATOMIC_RELEASE);
	if (!o->summary_only && !o->json)
		stress_line_header();
	tick(o, sh, t0, 0, fd);
	if (interrupted || tasks_failed(o, sh)) {
		stop_tasks(o, sh, pids, false);
		return 1;
	}
	if (answer_drain(o, sh, fd, done, v, &r.local)) {
		stop_tasks(o, sh, pids, false);
		return ctl_error("done");
	}
	r.secs = now_s() - t0;
	ok = stop_tasks(o, sh, pids, done[D_END] == STRESS_TIMED_OUT);
	close(fd);
	result_end(&r, o, done, v);
	return finish(o, &r, ok);
}

static int run_active(const struct stress_opts *o, struct stress_shared *sh)
{
	static struct stress_result r = { .role = "active" };
	uint64_t p[P_COUNT] = { CTL_VERSION, o->tasks, o->depth, o->req_bytes, o->ack_bytes, o->one_way, o->secs,
			     o->no_verify };
	uint64_t done[DONE_COUNT(STRESS_MAX_TASKS)], v[R_COUNT], status;
	double t0;
	pid_t *pids;
	bool ok;
	int end, fd = ctl_connect(o);

	if (fd < 0)
		return 1;
	if (ctl_send(fd, CTL_PARAMS, p, P_COUNT))
		return ctl_error("parameters");
	pids = start_tasks(o, sh);
	if (!pids || !tasks_wait(o, sh, offsetof(struct stress_stats, ready), 10)) {
		stop_tasks(o, sh, pids, false);
		return 1;
	}
	if (ctl_recv(fd, CTL_READY, &status, 1, CTL_TIMEOUT_MS) || status) {
		stop_tasks(o, sh, pids, false);
		if (status)
			fprintf(stderr, "rds-bpf stress: the passive side could not start: %s\n", strerror((int)status));
		return status ? 1 : ctl_error("ready");
	}
	if (ctl_send(fd, CTL_START, NULL, 0)) {
		stop_tasks(o, sh, pids, false);
		return ctl_error("start");
	}
	t0 = now_s();
	__atomic_store_n(&sh->phase, STRESS_RUN, __ATOMIC_RELEASE);
	if (!o->summary_only && !o->json)
		stress_line_header();
	tick(o, sh, t0, o->secs, -1);
	__atomic_store_n(&sh->phase, STRESS_DRAIN, __ATOMIC_RELEASE);
	end = drain(o, sh, fd, done, v);
	r.secs = now_s() - t0;
	/* the tasks gone, the last DONE has the counts this side reports */
	ok = stop_tasks(o, sh, pids, end == STRESS_TIMED_OUT);
	if (end < 0)
		return ctl_error("result");
	stress_sum(sh, o->tasks, &r.local);
	done_of(o, sh, done);
	done[D_END] = (uint64_t)end;
	if (ctl_send(fd, CTL_DONE, done, DONE_COUNT(o->tasks)) || ctl_recv(fd, CTL_RESULT, v, R_COUNT, CTL_TIMEOUT_MS))
		return ctl_error("result");
	close(fd);
	result_end(&r, o, done, v);
	return finish(o, &r, ok);
}

static int engine_probe(void)
{
	int fd = rdsb_socket(AF_RDS, SOCK_SEQPACKET, 0);

	if (fd >= 0) {
		rdsb_close(fd);
		return 0;
	}
	fprintf(stderr, "rds-bpf stress: %s%s\n", strerror(errno),
		errno == EAFNOSUPPORT ? " (no engine in this network namespace; hint: rds-bpf load)" : "");
	return errno == EAFNOSUPPORT ? EXIT_NOT_LOADED : 1;
}

static int bad_arg(const char *opt, const char *val)
{
	fprintf(stderr, "rds-bpf stress: bad value '%s' for %s\n", val, opt);
	usage(stderr);
	return EXIT_USAGE;
}

int rdsb_cmd_stress(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local", required_argument, NULL, 'r' }, { "peer", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },  { "tasks", required_argument, NULL, 't' },
		{ "depth", required_argument, NULL, 'd' }, { "req", required_argument, NULL, 'q' },
		{ "ack", required_argument, NULL, 'a' },   { "time", required_argument, NULL, 'T' },
		{ "one-way", no_argument, NULL, 'o' },	   { "cpu", required_argument, NULL, 'C' },
		{ "summary", no_argument, NULL, 'z' },	   { "json", no_argument, NULL, 'j' },
		{ "drain-wait", required_argument, NULL, 'w' }, { "no-verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },	   { 0 }
	};
	struct stress_opts o = { .port = 4000, .tasks = 1, .depth = 1, .req_bytes = 1024,
				 .ack_bytes = STRESS_MSG_MIN, .secs = 10, .drain_secs = STRESS_DRAIN_SECS, .cpu = -1 };
	const char *local = NULL, *peer = NULL, *active_only = NULL;
	struct stress_shared *sh;
	struct sigaction sa = { .sa_handler = on_signal };
	uint16_t port;
	uint64_t v;
	int c, rc;

	while ((c = getopt_long(argc, argv, "r:s:p:t:d:q:a:T:ow:zjh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			local = optarg;
			break;
		case 's':
			peer = optarg;
			break;
		case 'p':
			if (parse_num(optarg, 1, 65535, false, &v))
				return bad_arg("-p", optarg);
			o.port = (uint16_t)v;
			break;
		case 't':
			if (parse_num(optarg, 1, STRESS_MAX_TASKS, false, &v))
				return bad_arg("-t", optarg);
			o.tasks = (unsigned int)v;
			active_only = "-t";
			break;
		case 'd':
			if (parse_num(optarg, 1, STRESS_MAX_DEPTH, false, &v))
				return bad_arg("-d", optarg);
			o.depth = (unsigned int)v;
			active_only = "-d";
			break;
		case 'q':
		case 'a':
			if (parse_num(optarg, STRESS_MSG_MIN, RDS_MAX_MSG_SIZE, true, &v))
				return bad_arg(c == 'q' ? "-q" : "-a", optarg);
			*(c == 'q' ? &o.req_bytes : &o.ack_bytes) = (uint32_t)v;
			active_only = c == 'q' ? "-q" : "-a";
			break;
		case 'T':
			if (parse_num(optarg, 0, 86400, false, &v))
				return bad_arg("-T", optarg);
			o.secs = (unsigned int)v;
			active_only = "-T";
			break;
		case 'o':
			o.one_way = true;
			active_only = "-o";
			break;
		case 'V':
			o.no_verify = true;
			active_only = "--no-verify";
			break;
		case 'w':
			if (parse_num(optarg, 1, 3600, false, &v))
				return bad_arg("-w", optarg);
			o.drain_secs = (unsigned int)v;
			active_only = "-w";
			break;
		case 'C':
			if (parse_num(optarg, 0, CPU_SETSIZE - 1, false, &v))
				return bad_arg("--cpu", optarg);
			o.cpu = (int)v;
			break;
		case 'z':
			o.summary_only = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (cli_extra_args("stress", argc, argv)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!local) {
		fprintf(stderr, "rds-bpf stress: -r LOCAL is required (the address to bind)\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (rdsb_addr_parse(local, o.local, &port) || port || !rdsb_addr_is_unicast(o.local))
		return bad_arg("-r", local);
	o.active = peer != NULL;
	if (peer && (rdsb_addr_parse(peer, o.peer, &port) || port || !rdsb_addr_is_unicast(o.peer)))
		return bad_arg("-s", peer);
	if (peer && rdsb_addr_is_v4(o.local) != rdsb_addr_is_v4(o.peer)) {
		fprintf(stderr, "rds-bpf stress: -r and -s must both be IPv4 or both IPv6\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!peer && active_only) {
		fprintf(stderr, "rds-bpf stress: %s belongs to the active side (-s PEER); the passive side takes the active side's parameters\n",
			active_only);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.port + o.tasks > 65535) {
		fprintf(stderr, "rds-bpf stress: -p %u leaves no room for %u task ports above it\n", o.port, o.tasks);
		usage(stderr);
		return EXIT_USAGE;
	}
	rc = engine_probe();
	if (rc)
		return rc;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("rds-bpf stress: mmap");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = o.active ? run_active(&o, sh) : run_passive(&o, sh);
	munmap(sh, sizeof(*sh));
	return rc;
}
