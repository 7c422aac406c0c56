// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for rds-bpf stress: messages (every corruption is caught), the
 * rtt histogram's quantiles, and the end of a run (the drain, lost, the exit
 * status and how the result says so). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../tools/stress_msg.c"
#include "../../tools/stress_report.c"
#include "check.h"

/* the message as it travels: header and body in one buffer */
static size_t flatten(const struct stress_pattern *p, uint16_t type, uint16_t task, uint64_t seq, uint64_t ts,
		      uint8_t *out)
{
	struct stress_msg hdr;
	struct iovec iov[2];
	int n = stress_msg_build(p, &hdr, type, task, seq, ts, iov);
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

static void test_roundtrip(void)
{
	for (uint32_t size = STRESS_MSG_MIN; size <= 70000; size = size * 3 + 1) {
		struct stress_pattern *p = stress_pattern_new(size);
		uint8_t *buf = malloc(size);
		struct stress_msg h;

		for (uint64_t seq = 0; seq < 40; seq += 13) {
			CHECK_EQ(flatten(p, STRESS_ACK, 7, seq, 1234567 + seq, buf), size);
			CHECK(stress_msg_valid(buf, size, STRESS_ACK, 7, size, NULL, &h));
			CHECK_EQ(h.seq, seq);
			CHECK_EQ(h.ts_ns, 1234567 + seq);
			CHECK_EQ(h.task, 7);
			CHECK_EQ(h.type, STRESS_ACK);
		}
		free(buf);
		stress_pattern_free(p);
	}
}

static void test_corruption(void)
{
	enum { SIZE = 200 };
	struct stress_pattern *p = stress_pattern_new(SIZE);
	uint8_t good[SIZE + 1], bad[SIZE + 1], other[SIZE];
	struct stress_msg h;
	unsigned int caught = 0;

	flatten(p, STRESS_REQ, 3, 99, 5, good);
	/* every single-bit flip, header and body */
	for (unsigned int bit = 0; bit < SIZE * 8; bit++) {
		memcpy(bad, good, SIZE);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		caught += !stress_msg_valid(bad, SIZE, STRESS_REQ, 3, SIZE, NULL, &h);
	}
	CHECK_EQ(caught, SIZE * 8);
	/* two body words swapped: in other lanes, and in the same lane */
	for (unsigned int d = 8; d <= 32; d += 24) {
		memcpy(bad, good, SIZE);
		memcpy(bad + 40, good + 40 + d, 8);
		memcpy(bad + 40 + d, good + 40, 8);
		CHECK(!stress_msg_valid(bad, SIZE, STRESS_REQ, 3, SIZE, NULL, &h));
	}
	/* a length other than the one agreed, another type or task */
	CHECK(!stress_msg_valid(good, SIZE - 1, STRESS_REQ, 3, SIZE, NULL, &h));
	memcpy(bad, good, SIZE);
	bad[SIZE] = 0;
	CHECK(!stress_msg_valid(bad, SIZE + 1, STRESS_REQ, 3, SIZE, NULL, &h));
	CHECK(!stress_msg_valid(good, SIZE, STRESS_ACK, 3, SIZE, NULL, &h));
	CHECK(!stress_msg_valid(good, SIZE, STRESS_REQ, 4, SIZE, NULL, &h));
	CHECK(!stress_msg_valid(good, 10, STRESS_REQ, 3, 10, NULL, &h));
	/* the body of another message under this header */
	flatten(p, STRESS_REQ, 3, 100, 5, other);
	CHECK(memcmp(good + STRESS_MSG_MIN, other + STRESS_MSG_MIN, SIZE - STRESS_MSG_MIN) != 0);
	memcpy(bad, good, STRESS_MSG_MIN);
	memcpy(bad + STRESS_MSG_MIN, other + STRESS_MSG_MIN, SIZE - STRESS_MSG_MIN);
	CHECK(!stress_msg_valid(bad, SIZE, STRESS_REQ, 3, SIZE, NULL, &h));
	stress_pattern_free(p);
}

/* --no-verify: the header is checked as before, the body is not read */
static void test_unread(void)
{
	enum { SIZE = 200 };
	struct stress_pattern *p = stress_pattern_new(SIZE), *other = stress_pattern_new(SIZE + 8);
	uint8_t good[SIZE], bad[SIZE];
	struct stress_msg h;
	unsigned int caught = 0;

	for (uint64_t seq = 0; seq < 40; seq += 7) {
		flatten(p, STRESS_REQ, 3, seq, 5 + seq, good);
		CHECK(stress_msg_valid(good, SIZE, STRESS_REQ, 3, SIZE, p, &h));
		CHECK_EQ(h.seq, seq);
	}
	for (unsigned int bit = 0; bit < SIZE * 8; bit++) {
		memcpy(bad, good, SIZE);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		caught += !stress_msg_valid(bad, SIZE, STRESS_REQ, 3, SIZE, p, &h);
	}
	CHECK_EQ(caught, STRESS_MSG_MIN * 8);	/* every header bit, no body bit */
	CHECK(!stress_msg_valid(good, SIZE - 1, STRESS_REQ, 3, SIZE, p, &h));
	CHECK(!stress_msg_valid(good, SIZE, STRESS_ACK, 3, SIZE, p, &h));
	CHECK(!stress_msg_valid(good, SIZE, STRESS_REQ, 3, SIZE, other, &h));	/* a pattern of another length */
	stress_pattern_free(other);
	stress_pattern_free(p);
}

static void test_hist(void)
{
	static uint64_t hist[STRESS_HIST_BUCKETS];
	double q;

	for (uint64_t ns = 0; ns < 32; ns++)
		CHECK_EQ(stress_hist_bucket(ns), ns);
	for (uint64_t ns = 1; ns < (1ULL << 40); ns = ns * 5 / 4 + 1)
		CHECK(stress_hist_bucket(ns) <= stress_hist_bucket(ns + 1));
	CHECK_EQ(stress_hist_bucket(UINT64_MAX), STRESS_HIST_BUCKETS - 1);
	CHECK(stress_hist_quantile_us(hist, 0, 0.5) == 0);
	/* 98 samples of 12 us, 2 of 1 ms: p50 and p98 are 12 us, p99 1 ms (within 3.2 %) */
	hist[stress_hist_bucket(12000)] = 98;
	hist[stress_hist_bucket(1000000)] = 2;
	q = stress_hist_quantile_us(hist, 100, 0.5);
	CHECK(q > 12 * 0.968 && q < 12 * 1.032);
	CHECK(stress_hist_quantile_us(hist, 100, 0.98) == q);
	q = stress_hist_quantile_us(hist, 100, 0.99);
	CHECK(q > 1000 * 0.968 && q < 1000 * 1.032);
}

/* A drain that still moves goes on past its wait; one that stands still ends after it. */
static void test_drain(void)
{
	uint64_t sent[3] = { 10, 5, 7 }, got[3] = { 10, 6, 4 };
	struct stress_drain d;
	double t = 100;

	/* per task: what one sent beyond the other's count; more received is not "behind" */
	CHECK_EQ(stress_behind(sent, got, 3), 3);
	CHECK_EQ(stress_behind(got, sent, 3), 1);
	CHECK_EQ(stress_behind(sent, sent, 3), 0);
	stress_drain_start(&d, 5, t);
	/* a message every 4 s (a loaded machine): 60 s, still moving */
	for (uint64_t sum = 1; sum <= 15; sum++) {
		CHECK(stress_drain_moving(&d, sum, t));
		t += 4;
		CHECK(stress_drain_moving(&d, sum, t));
	}
	/* then nothing: moving until 5 s after the last change, not at 5 s */
	t -= 4;
	CHECK(stress_drain_moving(&d, 15, t + 4.99));
	CHECK(!stress_drain_moving(&d, 15, t + 5));
	CHECK(!stress_drain_moving(&d, 15, t + 50));
	/* a change after that is progress again */
	CHECK(stress_drain_moving(&d, 16, t + 51));
}

/* what stress_print_result writes to stdout */
static char *printed(const struct stress_opts *o, const struct stress_result *r)
{
	static char buf[4096];
	FILE *f = tmpfile();
	int saved = dup(1);
	size_t n;

	fflush(stdout);
	dup2(fileno(f), 1);
	stress_print_result(o, r);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Counts taken while messages were in flight: 9 requests and 2 answers the
 * other side had not counted. Never "lost": a drain that timed out, exit 4,
 * and the result says so; settled, the same difference is lost, exit 1. */
static void test_end(void)
{
	static struct stress_result r = { .role = "active", .secs = 8.7 };
	struct stress_opts o = { .active = true, .tasks = 8, .depth = 16, .req_bytes = 1 << 20, .ack_bytes = 32,
				 .drain_secs = STRESS_DRAIN_SECS };

	r.local.tx_msgs = 1000;
	r.local.rx_msgs = 989;
	r.peer_rx_msgs = 991;
	r.peer_tx_msgs = 991;
	r.in_flight = 11;
	r.end = STRESS_TIMED_OUT;
	CHECK_EQ(stress_lost(&r), 0);
	CHECK_EQ(stress_status(&r, true), STRESS_EXIT_DRAIN);
	CHECK_EQ(stress_status(&r, false), 1);
	o.json = true;
	CHECK(strstr(printed(&o, &r), ",\"lost\":null,\"drain_timed_out\":true,\"in_flight\":11}\n") != NULL);
	o.json = false;
	CHECK(strstr(printed(&o, &r), ",0,0,0,0,,1,11\n") != NULL);
	/* what is bad or out of order is so whatever the drain did */
	r.peer_bad = 1;
	CHECK_EQ(stress_status(&r, true), 1);
	r.peer_bad = 0;
	r.end = STRESS_FAILED;
	CHECK_EQ(stress_lost(&r), 0);
	CHECK_EQ(stress_status(&r, true), 1);
	/* the same counts, settled (as stress_lost() sees it): 9 + 2 lost */
	r.end = STRESS_SETTLED;
	CHECK_EQ(stress_lost(&r), 11);
	CHECK_EQ(stress_status(&r, true), 1);
	/* settled, nothing in flight, 3 received that were never sent (twice, or foreign) */
	r.local.rx_msgs = r.peer_tx_msgs = 991;
	r.peer_rx_msgs = 1003;
	r.in_flight = 0;
	CHECK_EQ(stress_lost(&r), 3);
	o.json = true;
	CHECK(strstr(printed(&o, &r), ",\"lost\":3,\"drain_timed_out\":false,\"in_flight\":0}\n") != NULL);
	/* settled with every count equal: 0 */
	r.local.rx_msgs = r.peer_rx_msgs = r.peer_tx_msgs = 1000;
	r.in_flight = 0;
	CHECK_EQ(stress_lost(&r), 0);
	CHECK_EQ(stress_status(&r, true), 0);
	o.json = false;
	CHECK(strstr(printed(&o, &r), ",0,0,0,0,0,0,0\n") != NULL);
}

int main(void)
{
	test_roundtrip();
	test_corruption();
	test_unread();
	test_hist();
	test_drain();
	test_end();
	return check_done();
}
