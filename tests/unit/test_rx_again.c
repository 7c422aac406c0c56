// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/lib/rx_again.c: the copies a next engine delivers of
 * the datagrams the stream before ended with are found, each once, among
 * datagrams of other senders, ports and lengths; nothing else is taken for
 * a copy; a peek finds a copy without using it up; what the stream before
 * ended with is kept only until its copy, or a later number from its port,
 * came; a third engine's stream is checked against the second one's end. */
#include <stdlib.h>
#include <string.h>
#include "../../user/lib/lib.h"
#include "check.h"

static struct rdsb_rx_seen_log log_;
static struct rdsb_addr peer[3];

static struct rdsb_deliv_hdr hdr(uint16_t sport, uint16_t dport, uint64_t seq, uint32_t len)
{
	return (struct rdsb_deliv_hdr){ .seq = seq, .decoded = RDSB_DELIV_DECODED, .len = len,
					.sport = sport, .dport = dport };
}

/* a datagram from peer p, read from the stream of epoch: whether a copy */
static bool rx(uint32_t epoch, int p, uint16_t sport, uint64_t seq, uint32_t len, bool consume)
{
	struct rdsb_deliv_hdr h = hdr(sport, 4000, seq, len);

	return rdsb_rx_again(&log_, epoch, rdsb_rx_key(&peer[p], &h), &h, consume);
}

static void test_copies_of_the_last_write(void)
{
	unsigned int copies = 0;

	/* 1000 datagrams of two peers on the first engine's stream */
	for (uint64_t i = 1; i <= 1000; i++)
		CHECK(!rx(1, (int)(i % 2), 5000, i, (uint32_t)i % 300, true));
	/* the next one's: its first are the last 40 again (of both peers),
	 * then new numbers; other ports' numbers are no copies */
	for (uint64_t i = 961; i <= 1000; i++) {
		CHECK(!rx(2, 0, 6000, i, (uint32_t)i % 300, true));	/* another port */
		CHECK(!rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300 + 1, false));	/* another length */
		copies += rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300, false);	/* a peek */
		copies += rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300, true);
		CHECK(!rx(2, (int)(i % 2), 5000, i, (uint32_t)i % 300, true));	/* once */
	}
	CHECK_EQ(copies, 80);
	/* nothing left: the 24 before them were passed by later numbers of
	 * their ports (their copies would have come first) */
	CHECK_EQ(log_.n_before, 0);
}

static void test_third_engine(void)
{
	/* the second engine's stream ends with 70 datagrams of peer 2: the
	 * last 64 are remembered, a copy of one before them is not found */
	for (uint64_t i = 1; i <= 70; i++)
		CHECK(!rx(2, 2, 7000, i, 100, true));
	CHECK(!rx(3, 2, 7000, 6, 100, true));
	CHECK_EQ(log_.n_before, 64);
	CHECK(rx(3, 2, 7000, 70, 100, true));
	CHECK(!rx(3, 2, 7000, 7, 100, true));	/* retired by 70 */
	CHECK_EQ(log_.n_before, 0);
	/* a stream of an epoch older than the one read is not checked */
	CHECK(!rx(2, 2, 7000, 70, 100, true));
	/* the third engine's end is what the fourth's is checked against,
	 * and a fifth's too while the fourth's brought only copies */
	CHECK(!rx(3, 2, 7000, 71, 100, true));
	CHECK(!rx(3, 1, 7000, 9, 100, true));
	CHECK(rx(4, 2, 7000, 71, 100, true));
	CHECK(rx(5, 1, 7000, 9, 100, true));
	CHECK_EQ(log_.n_before, 0);
}

int main(void)
{
	for (int p = 0; p < 3; p++) {
		peer[p].addr[10] = peer[p].addr[11] = 0xff;
		peer[p].addr[15] = (uint8_t)(p + 1);
	}
	test_copies_of_the_last_write();
	test_third_engine();
	return check_done();
}
