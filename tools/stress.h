/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rds-bpf stress: rds-stress's model. A passive instance and an active one
 * agree on the parameters over a TCP control connection; each side forks
 * `tasks` processes with one RDS socket each. Task i of the active side talks
 * to task i of the passive side (bound to port + 1 + i).
 */
#ifndef RDSB_STRESS_H
#define RDSB_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define STRESS_MAX_TASKS 64
#define STRESS_MAX_DEPTH 4096
#define STRESS_HIST_BUCKETS (60 * 32)	/* 32 per power of two, to 2^64 ns */
#define STRESS_DRAIN_SECS 5	/* the drain gives up after this long without progress */
#define STRESS_EXIT_DRAIN 4	/* exit status: the drain gave up, nothing bad seen */

struct stress_opts {
	uint8_t local[16], peer[16];
	bool active, one_way, json, summary_only;
	bool no_verify;			/* the receivers check headers, not content */
	uint16_t port;			/* TCP control port; task i binds port + 1 + i */
	unsigned int tasks, depth, secs;	/* secs 0: until SIGINT/SIGTERM */
	unsigned int drain_secs;	/* the drain's wait without progress */
	uint32_t req_bytes, ack_bytes;
	int cpu;			/* -1: not pinned */
};

/* Per task, in memory shared with the parent; one writer (the task). */
struct stress_stats {
	uint64_t tx_msgs, rx_msgs, tx_bytes, rx_bytes;
	uint64_t bad, out_of_order;
	uint64_t rtt_count, rtt_sum_ns;
	uint64_t hist[STRESS_HIST_BUCKETS];	/* rtt histogram, see stress_hist_bucket() */
	int ready, done, error;		/* error: the errno that ended the task */
} __attribute__((aligned(64)));

enum stress_phase {
	STRESS_WAIT,	/* sockets bound, not sending yet */
	STRESS_RUN,
	STRESS_DRAIN,	/* send no more; collect the answers still due */
	STRESS_EXIT,
};

struct stress_shared {
	int phase;
	struct stress_stats task[STRESS_MAX_TASKS];
};

/* ---- messages (stress_msg.c) ----
 * Every message starts with this header (little-endian on the wire). The body
 * after it is a window into a fixed random pattern, at an offset that depends
 * on seq, so consecutive messages differ; csum covers the body and every
 * other header field. */
#define STRESS_MAGIC 0x53534452u	/* "RDSS" */
enum { STRESS_REQ = 1, STRESS_ACK = 2 };

struct stress_msg {
	uint32_t magic;
	uint16_t type;
	uint16_t task;
	uint64_t seq;
	uint64_t ts_ns;		/* request's send time, echoed by its ack */
	uint64_t csum;
};
#define STRESS_MSG_MIN ((uint32_t)sizeof(struct stress_msg))

struct stress_pattern;
struct stress_pattern *stress_pattern_new(uint32_t msg_len);
void stress_pattern_free(struct stress_pattern *p);
/* iov[0] = hdr (filled in), iov[1] = the body; returns the iov count. */
int stress_msg_build(const struct stress_pattern *p, struct stress_msg *hdr, uint16_t type, uint16_t task,
		     uint64_t seq, uint64_t ts_ns, struct iovec iov[2]);
/* Whether buf/len is an intact message of this type, task and length. With
 * UNREAD (the sender's pattern for this length) the body is not read: the
 * checksum is matched against the body the sender's pattern gave that
 * sequence number, so a changed header is caught and a changed body is not. */
bool stress_msg_valid(const void *buf, size_t len, uint16_t type, uint16_t task, uint32_t want_len,
		      const struct stress_pattern *unread, struct stress_msg *hdr);

/* ---- one task (stress_task.c): runs until the phase says so; exit status 0/1 */
int stress_task_run(const struct stress_opts *o, unsigned int idx, struct stress_shared *sh);

/* ---- rtt histogram and reports (stress_report.c) ---- */
unsigned int stress_hist_bucket(uint64_t ns);
/* The q-quantile (0..1) in microseconds of count samples in hist. */
double stress_hist_quantile_us(const uint64_t *hist, uint64_t count, double q);

struct stress_totals {
	uint64_t tx_msgs, rx_msgs, tx_bytes, rx_bytes, bad, out_of_order, rtt_count, rtt_sum_ns;
	uint64_t hist[STRESS_HIST_BUCKETS];
};
void stress_sum(const struct stress_shared *sh, unsigned int tasks, struct stress_totals *t);

/* How the drain after the run ended, as the active side decided it */
enum stress_end {
	STRESS_DRAINING,	/* not yet: the active side asks for the passive side's counts */
	STRESS_SETTLED,		/* both sides finished, nothing in flight: the counts are final */
	STRESS_TIMED_OUT,	/* the counts stood still for drain_secs with messages in flight */
	STRESS_FAILED,		/* a task failed on either side */
};

struct stress_result {
	const char *role;
	double secs;
	struct stress_totals local;
	uint64_t peer_tx_msgs, peer_rx_msgs, peer_bad, peer_out_of_order;
	enum stress_end end;
	uint64_t in_flight;	/* sent by one side, not (yet) counted by the other, at the last count */
};
void stress_line_header(void);
void stress_line(unsigned int tasks, const struct stress_totals *now, const struct stress_totals *prev,
		 double secs);
#define STRESS_CSV_FIELDS                                                                            \
	"role,mode,tasks,depth,req_bytes,ack_bytes,secs,tx_msgs,rx_msgs,tx_bytes,rx_bytes,peer_tx_msgs,"  \
	"peer_rx_msgs,msgs_per_s,mbytes_per_s,gbit_per_s,rtt_mean_us,rtt_p50_us,rtt_p99_us,bad,"        \
	"out_of_order,peer_bad,peer_out_of_order,lost,drain_timed_out,in_flight"
void stress_print_result(const struct stress_opts *o, const struct stress_result *r);

/* ---- the end of a run (stress_report.c) ---- */
/* The sum over n tasks of what sent[i] exceeds received[i] by: what one
 * side sent that the other has not counted yet. */
uint64_t stress_behind(const uint64_t *sent, const uint64_t *received, unsigned int n);

/* The drain waits while the counts move: stress_drain_moving() is false once
 * their sum has stood still for wait seconds. */
struct stress_drain {
	double wait, moved_at;
	uint64_t sum;
};
void stress_drain_start(struct stress_drain *d, double wait, double now);
bool stress_drain_moving(struct stress_drain *d, uint64_t sum, double now);

/* Messages sent by one side that the other did not receive, both ways: only
 * from settled counts (0 otherwise: what is in flight is not lost). */
uint64_t stress_lost(const struct stress_result *r);
/* 0; 1 bad, out of order or lost messages, or a failed task; STRESS_EXIT_DRAIN */
int stress_status(const struct stress_result *r, bool tasks_ok);

#endif
