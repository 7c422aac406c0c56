// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/lib/rx_again.c: the copies a next engine delivers of
 * the datagrams the stream before ended with are found, each once, among
 * datagrams of other ports; a peek finds a copy without using it up; what
 * the stream before ended with is kept until its copy came, or a record of
 * its pair of ports that is none (its copies come first); a datagram of
 * another generation of its sender is none; the records of the BPF path's
 * verdict are not remembered and do not push the engine's out; a third
 * engine's stream is checked against the second one's end. */
#include <stdlib.h>
#include <string.h>
#include "../../user/lib/lib.h"
#include "check.h"

static struct rdsb_rx_seen_log log_;
static struct rdsb_addr peer[3];

/* a datagram from peer p's port sport to port 4000, of generation gen,
 * read from the stream of epoch: whether a copy. engines: the engine
 * wrote it (else the verdict). */
static bool rx_gen(uint32_t epoch, int p, uint16_t sport, uint64_t seq, uint32_t len, uint32_t gen, bool consume,
		   bool engines)
{
	struct rdsb_deliv_hdr h = { .seq = seq, .decoded = RDSB_DELIV_DECODED, .len = len, .sport = sport,
				    .dport = 4000, .peer_gen = gen };

	return rdsb_rx_again(&log_, epoch, rdsb_rx_seen_of(&peer[p], &h), consume, engines);
}

static bool rx(uint32_t epoch, int p, uint16_t sport, uint64_t seq, uint32_t len, bool consume)
{
	return rx_gen(epoch, p, sport, seq, len, 7, consume, true);
}

static void test_copies_of_the_last_write(void)
{
	unsigned int copies = 0;

	/* 1000 datagrams of two peers on the first engine's stream */
	for (uint64_t i = 1; i <= 1000; i++)
		CHECK(!rx(1, (int)(i % 2), 5000, i, (uint32_t)i % 300, true));
	/* the next one's: the last 40 again, among another port's (with
	 * the same numbers); peeked first, then read; a peek of another
	 * length is no copy */
	for (uint64_t i = 961; i <= 1000; i++) {
		CHECK(!rx(2, 0, 6000, i, (uint32_t)i % 300, true));
		CHECK(!rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300 + 1, false));
		copies += rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300, false);
		copies += rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300, true);
	}
	CHECK_EQ(copies, 80);
	/* the 24 before them stay until a record of their pair that is no
	 * copy: the second of one (peer 0) is none */
	CHECK_EQ(log_.n_before, 24);
	CHECK(!rx(2, 0, 5000, 1000, 1000 % 300, true));
	CHECK_EQ(log_.n_before, 12);
	CHECK(!rx(2, 1, 5000, 1001, 1, true));
	CHECK_EQ(log_.n_before, 0);
}

static void test_generations(void)
{
	/* the third engine's stream ends with 10 of peer 2, generation 7 */
	for (uint64_t i = 1; i <= 10; i++)
		CHECK(!rx(3, 2, 7000, i, 100, true));
	/* peer 2 restarted: its number 10 of generation 8 is none, and
	 * the pair's copies are no longer looked for */
	CHECK(!rx_gen(4, 2, 7000, 10, 100, 8, false, true));
	CHECK(rx_gen(4, 2, 7000, 10, 100, 0, false, true));	/* not known: it may be */
	CHECK(!rx_gen(4, 2, 7000, 10, 100, 8, true, true));
	CHECK_EQ(log_.n_before, 0);
}

static void test_verdict_and_later_engines(void)
{
	/* the fifth engine wrote 70 of peer 2's port 7000, then the verdict
	 * delivered 10 from another port: the engine's last 64 are kept */
	for (uint64_t i = 1; i <= 70; i++)
		CHECK(!rx(5, 2, 7000, i, 100, true));
	for (uint64_t i = 1; i <= 10; i++)
		CHECK(!rx_gen(5, 2, 7001, i, 100, 7, true, false));
	CHECK(rx(6, 2, 7000, 70, 100, false));
	CHECK_EQ(log_.n_before, 64);
	/* from the verdict (the BPF path: no generation) */
	CHECK(rx_gen(6, 2, 7000, 70, 100, 0, true, false));
	CHECK(!rx(6, 2, 7001, 11, 100, true));
	/* a stream of an epoch older than the one read is not checked */
	CHECK(!rx(5, 2, 7000, 69, 100, true));
	/* the sixth engine's end is what the seventh's is checked against,
	 * and an eighth's too while the seventh's brought only copies */
	CHECK(!rx(6, 1, 7000, 9, 100, true));
	CHECK(!rx(6, 1, 7002, 9, 100, true));
	CHECK(rx(7, 1, 7000, 9, 100, true));
	CHECK(rx(8, 1, 7002, 9, 100, true));
}

int main(void)
{
	for (int p = 0; p < 3; p++) {
		peer[p].addr[10] = peer[p].addr[11] = 0xff;
		peer[p].addr[15] = (uint8_t)(p + 1);
	}
	test_copies_of_the_last_write();
	test_generations();
	test_verdict_and_later_engines();
	return check_done();
}
