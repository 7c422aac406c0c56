// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf stress reports: the rtt histogram, the per-second line, the end
 * of a run (the drain, what was lost, the exit status), and the final
 * result as a `::` CSV line or JSON.
 */
#include <stdio.h>
#include <string.h>
#include "stress.h"

/* Log-linear buckets: 32 per power of two (within 3.2 %), exact below 32 ns. */
#define SUB_BITS 5
#define SUB (1u << SUB_BITS)

unsigned int stress_hist_bucket(uint64_t ns)
{
	unsigned int shift;

	if (ns < SUB)
		return (unsigned int)ns;
	shift = (unsigned int)(63 - __builtin_clzll(ns)) - SUB_BITS;
	return (shift + 1) * SUB + (unsigned int)((ns >> shift) & (SUB - 1));
}

/* the middle of bucket idx, in ns */
static double bucket_mid_ns(unsigned int idx)
{
	unsigned int shift;

	if (idx < SUB)
		return idx;
	shift = idx / SUB - 1;
	return (double)((uint64_t)(SUB + idx % SUB) << shift) + (double)(1ULL << shift) / 2;
}

double stress_hist_quantile_us(const uint64_t *hist, uint64_t count, double q)
{
	uint64_t want = (uint64_t)(q * (double)count + 0.999999), seen = 0;

	if (!count)
		return 0;
	if (!want)
		want = 1;
	for (unsigned int i = 0; i < STRESS_HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want)
			return bucket_mid_ns(i) / 1000;
	}
	return 0;
}

void stress_sum(const struct stress_shared *sh, unsigned int tasks, struct stress_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < tasks; i++) {
		const struct stress_stats *s = &sh->task[i];

		/* rx_msgs first: a task bumps it after the counters it covers */
		t->rx_msgs += __atomic_load_n(&s->rx_msgs, __ATOMIC_ACQUIRE);
		t->tx_msgs += __atomic_load_n(&s->tx_msgs, __ATOMIC_ACQUIRE);
		t->tx_bytes += __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
		t->rx_bytes += __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
		t->bad += __atomic_load_n(&s->bad, __ATOMIC_RELAXED);
		t->out_of_order += __atomic_load_n(&s->out_of_order, __ATOMIC_RELAXED);
		t->rtt_count += __atomic_load_n(&s->rtt_count, __ATOMIC_ACQUIRE);
		t->rtt_sum_ns += __atomic_load_n(&s->rtt_sum_ns, __ATOMIC_RELAXED);
		for (unsigned int b = 0; b < STRESS_HIST_BUCKETS; b++)
			t->hist[b] += __atomic_load_n(&s->hist[b], __ATOMIC_RELAXED);
	}
}

void stress_line_header(void)
{
	printf("%4s %10s %10s %9s %9s %8s %8s %8s %8s\n", "tsks", "tx/s", "rx/s", "tx MB/s", "rx MB/s", "Gbit/s",
	       "rtt us", "p50 us", "p99 us");
}

void stress_line(unsigned int tasks, const struct stress_totals *now, const struct stress_totals *prev,
		 double secs)
{
	static uint64_t diff[STRESS_HIST_BUCKETS];
	uint64_t n = now->rtt_count - prev->rtt_count;
	double txb = (double)(now->tx_bytes - prev->tx_bytes), rxb = (double)(now->rx_bytes - prev->rx_bytes);

	for (unsigned int b = 0; b < STRESS_HIST_BUCKETS; b++)
		diff[b] = now->hist[b] - prev->hist[b];
	printf("%4u %10.0f %10.0f %9.2f %9.2f %8.3f %8.1f %8.1f %8.1f\n", tasks,
	       (double)(now->tx_msgs - prev->tx_msgs) / secs, (double)(now->rx_msgs - prev->rx_msgs) / secs,
	       txb / secs / 1e6, rxb / secs / 1e6, (txb + rxb) * 8 / secs / 1e9,
	       n ? (double)(now->rtt_sum_ns - prev->rtt_sum_ns) / (double)n / 1000 : 0,
	       stress_hist_quantile_us(diff, n, 0.5), stress_hist_quantile_us(diff, n, 0.99));
	fflush(stdout);
}

static uint64_t absdiff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

uint64_t stress_behind(const uint64_t *sent, const uint64_t *received, unsigned int n)
{
	uint64_t behind = 0;

	for (unsigned int i = 0; i < n; i++)
		behind += sent[i] > received[i] ? sent[i] - received[i] : 0;
	return behind;
}

void stress_drain_start(struct stress_drain *d, double wait, double now)
{
	d->wait = wait;
	d->moved_at = now;
	d->sum = 0;
}

/* The counts only grow while the drain lasts, so any change of their sum is
 * progress: a loaded machine that still delivers gets its full count. */
bool stress_drain_moving(struct stress_drain *d, uint64_t sum, double now)
{
	if (sum != d->sum) {
		d->sum = sum;
		d->moved_at = now;
	}
	return now - d->moved_at < d->wait;
}

uint64_t stress_lost(const struct stress_result *r)
{
	if (r->end != STRESS_SETTLED)
		return 0;
	return absdiff(r->local.tx_msgs, r->peer_rx_msgs) + absdiff(r->peer_tx_msgs, r->local.rx_msgs);
}

int stress_status(const struct stress_result *r, bool tasks_ok)
{
	if (r->local.bad || r->local.out_of_order || r->peer_bad || r->peer_out_of_order || stress_lost(r) ||
	    !tasks_ok || r->end == STRESS_FAILED)
		return 1;
	return r->end == STRESS_TIMED_OUT ? STRESS_EXIT_DRAIN : 0;
}

void stress_print_result(const struct stress_opts *o, const struct stress_result *r)
{
	const struct stress_totals *l = &r->local;
	double bytes = (double)(l->tx_bytes + l->rx_bytes), secs = r->secs > 0 ? r->secs : 1e-9;
	double mean = l->rtt_count ? (double)l->rtt_sum_ns / (double)l->rtt_count / 1000 : 0;
	double p50 = stress_hist_quantile_us(l->hist, l->rtt_count, 0.5);
	double p99 = stress_hist_quantile_us(l->hist, l->rtt_count, 0.99);
	const char *mode = o->one_way ? "oneway" : "reqresp";
	bool timed_out = r->end == STRESS_TIMED_OUT;
	char lost[24] = "";	/* none claimed from counts that had not settled: null, or empty */
	const char *fmt = o->json ?
		"{\"role\":\"%s\",\"mode\":\"%s\",\"tasks\":%u,\"depth\":%u,\"req_bytes\":%u,\"ack_bytes\":%u,"
		"\"secs\":%.3f,\"tx_msgs\":%lu,\"rx_msgs\":%lu,\"tx_bytes\":%lu,\"rx_bytes\":%lu,"
		"\"peer_tx_msgs\":%lu,\"peer_rx_msgs\":%lu,\"msgs_per_s\":%.0f,\"mbytes_per_s\":%.2f,"
		"\"gbit_per_s\":%.3f,\"rtt_mean_us\":%.1f,\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,\"bad\":%lu,"
		"\"out_of_order\":%lu,\"peer_bad\":%lu,\"peer_out_of_order\":%lu,\"lost\":%s,"
		"\"drain_timed_out\":%s,\"in_flight\":%lu}\n" :
		"::%s,%s,%u,%u,%u,%u,%.3f,%lu,%lu,%lu,%lu,%lu,%lu,%.0f,%.2f,%.3f,%.1f,%.1f,%.1f,%lu,%lu,%lu,%lu,%s,%s,%lu\n";

	if (r->end == STRESS_SETTLED)
		snprintf(lost, sizeof(lost), "%lu", stress_lost(r));
	else if (o->json)
		strcpy(lost, "null");
	printf(fmt, r->role, mode, o->tasks, o->depth, o->req_bytes, o->one_way ? 0 : o->ack_bytes, r->secs,
	       l->tx_msgs, l->rx_msgs, l->tx_bytes, l->rx_bytes, r->peer_tx_msgs, r->peer_rx_msgs,
	       (double)(l->tx_msgs + l->rx_msgs) / secs, bytes / secs / 1e6, bytes * 8 / secs / 1e9, mean, p50, p99,
	       l->bad, l->out_of_order, r->peer_bad, r->peer_out_of_order, lost,
	       o->json ? (timed_out ? "true" : "false") : (timed_out ? "1" : "0"), r->in_flight);
	fflush(stdout);
}
