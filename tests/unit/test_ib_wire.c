// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for transports/ib/ib_wire.c: the RDS/IB CM private data as
 * net/rds/ib.h lays it out, the passive side's version rule
 * (rds_ib_protocol_compatible), the header checksum (ip_fast_csum), and
 * the receive side's frame rules (rds_ib_process_recv) against hostile
 * frames: each is refused with its own verdict, never read past. */
#include <endian.h>
#include <stdlib.h>
#include "../../transports/ib/ib_wire.h"
#include "../../user/common/wire.h"
#include "check.h"

static const uint8_t a4[16] = { [10] = 0xff, [11] = 0xff, 10, 97, 0, 1 };
static const uint8_t b4[16] = { [10] = 0xff, [11] = 0xff, 10, 97, 0, 3 };
static const uint8_t a6[16] = { 0xfd, 0x97, [15] = 1 };
static const uint8_t b6[16] = { 0xfd, 0x97, [15] = 3 };

static void test_private_layout(void)
{
	uint8_t out[sizeof(struct rds6_ib_connect_private)];

	CHECK_EQ(sizeof(struct rds_ib_conn_priv_cmn), 24);
	CHECK_EQ(sizeof(struct rds_ib_connect_private), 32);
	CHECK_EQ(sizeof(struct rds6_ib_connect_private), 56);
	memset(out, 0xaa, sizeof(out));
	CHECK_EQ(ib_private_fill(out, a4, b4, RDS_IB_PROTO_3_1, 0x0102030405060708ull, 0), 32);
	CHECK(!memcmp(out, (uint8_t[]){ 10, 97, 0, 1, 10, 97, 0, 3, 3, 1, 0, 3, 0, 0, 0, 0 }, 16));
	CHECK(!memcmp(out + 16, (uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0 }, 16));
	CHECK_EQ(ib_private_fill(out, a6, b6, RDS_IB_PROTO(4, 1), 7, 0x01020304), 56);
	CHECK(!memcmp(out, a6, 16) && !memcmp(out + 16, b6, 16));
	CHECK(!memcmp(out + 32, (uint8_t[]){ 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 }, 16));
	CHECK(!memcmp(out + 48, (uint8_t[]){ 1, 2, 3, 4, 0, 0, 0, 0 }, 8));	/* credit, be */
}

/* rds_ib_send_grab_credits, rds_ib_send_add_credits, rds_ib_advertise_credits */
static void test_credits(void)
{
	struct ib_credits off = { 0 }, c = { .on = true, .adv = true };
	uint32_t adv;

	/* off: every send goes, nothing is advertised, nothing is due */
	CHECK_EQ(ib_credits_grab(&off, 5, &adv, false), 5);
	CHECK_EQ(adv, 0);
	CHECK(!ib_credits_posted(&off, 100));
	CHECK_EQ(ib_credits_grab(&off, 1, &adv, true), 1);
	CHECK_EQ(adv, 0);
	/* on: no credits, nothing goes */
	CHECK_EQ(ib_credits_grab(&c, 1, &adv, false), 0);
	CHECK(ib_credits_add(&c, 3));
	/* nothing posted: the last credit is kept for a credit update */
	CHECK_EQ(ib_credits_grab(&c, 5, &adv, false), 2);
	CHECK_EQ(c.send, 1);
	CHECK_EQ(ib_credits_grab(&c, 1, &adv, false), 0);
	/* posted buffers: the last credit goes, and carries them */
	CHECK(!ib_credits_posted(&c, RDS_IB_CREDIT_UPDATE - 1));
	CHECK(ib_credits_posted(&c, 1));
	CHECK_EQ(ib_credits_grab(&c, 1, &adv, false), 1);
	CHECK_EQ(adv, RDS_IB_CREDIT_UPDATE);
	CHECK_EQ(c.posted, 0);
	CHECK_EQ(c.send, 0);
	/* at most 255 advertised at once; need_posted takes them without a send credit */
	ib_credits_posted(&c, 600);
	CHECK_EQ(ib_credits_grab(&c, 1, &adv, true), 0);
	CHECK_EQ(adv, RDS_MAX_ADV_CREDIT);
	CHECK_EQ(c.posted, 600 - RDS_MAX_ADV_CREDIT);
	CHECK_EQ(ib_credits_grab(&c, 1, &adv, false), 0);	/* no send credit, no need: kept */
	CHECK_EQ(adv, 0);
	/* a credit overflow: more than the kernel's 16 bits can hold */
	c.send = 0;
	CHECK(ib_credits_add(&c, RDS_IB_MAX_CREDIT));
	CHECK(!ib_credits_add(&c, 1));
	CHECK_EQ(c.send, RDS_IB_MAX_CREDIT);
	c.send = 10;
	CHECK(!ib_credits_add(&c, 0xffffffffu));
	CHECK_EQ(c.send, 10);
	/* advertising without counting sends: a peer's h_credit turned it on */
	off.adv = true;
	off.posted = 0;
	CHECK(ib_credits_posted(&off, RDS_IB_CREDIT_UPDATE));
	CHECK_EQ(ib_credits_grab(&off, 1, &adv, false), 1);
	CHECK_EQ(adv, RDS_IB_CREDIT_UPDATE);
}

static unsigned int compat(uint8_t major, uint8_t minor, uint16_t mask, size_t len, bool v6)
{
	struct rds6_ib_connect_private dp = { 0 };
	struct rds_ib_conn_priv_cmn *cmn = v6 ? &dp.cmn : &((struct rds_ib_connect_private *)&dp)->cmn;

	cmn->major = major;
	cmn->minor = minor;
	cmn->minor_mask = htobe16(mask);
	return ib_protocol_compatible(&dp, len, v6);
}

static void test_protocol_compatible(void)
{
	CHECK_EQ(ib_protocol_compatible(NULL, 0, false), 0);	/* no private data: reject */
	CHECK_EQ(compat(3, 1, 3, 0, false), 0);
	CHECK_EQ(compat(3, 1, 3, 32, false), RDS_IB_PROTO_3_1);
	CHECK_EQ(compat(3, 1, 3, 56, true), RDS_IB_PROTO_3_1);
	CHECK_EQ(compat(3, 1, 3, 31, false), RDS_IB_PROTO_4_0);	/* short: 4.0 */
	CHECK_EQ(compat(3, 1, 3, 32, true), RDS_IB_PROTO_4_0);	/* a v4 size on a v6 request */
	CHECK_EQ(compat(0, 0, 0, 32, false), RDS_IB_PROTO_4_0);
	CHECK_EQ(compat(4, 1, 3, 32, false), RDS_IB_PROTO(4, 1));
	CHECK_EQ(compat(4, 0, 1, 32, false), RDS_IB_PROTO(4, 0));
	CHECK_EQ(compat(4, 7, 0x80, 32, false), 0);	/* no minor in common */
	CHECK_EQ(compat(3, 0, 3, 32, false), 0);	/* below 3.1 */
	CHECK_EQ(compat(3, 2, 3, 32, false), 0);
	CHECK_EQ(compat(5, 0, 3, 32, false), 0);
	CHECK_EQ(compat(255, 255, 0xffff, 32, false), 0);
}

/* ip_fast_csum the textbook way: big-endian words, folded, complemented. */
static uint16_t ref_csum(const uint8_t *b)
{
	uint32_t sum = 0;

	for (int i = 0; i < RDS_HEADER_SIZE; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_csum(void)
{
	struct rds_header h;

	memset(&h, 0, sizeof(h));
	CHECK_EQ(ib_csum(&h), 0xffff);
	srand(16);
	for (int n = 0; n < 1000; n++) {
		uint8_t *b = (uint8_t *)&h;
		uint16_t want;

		for (size_t i = 0; i < sizeof(h); i++)
			b[i] = (uint8_t)rand();
		h.h_csum = 0;
		want = ref_csum(b);
		h.h_csum = ib_csum(&h);
		CHECK_EQ(be16toh(h.h_csum), want);	/* stored big-endian, as the kernel's */
		CHECK_EQ(ib_csum(&h), 0);		/* verifies */
		b[n % 48] ^= (uint8_t)(1u << (n % 8));
		CHECK(ib_csum(&h) != 0);		/* one bit off: caught */
	}
}

static uint8_t frame[RDS_HEADER_SIZE + RDS_IB_FRAG];

/* A fragment of a message: the header (seq, h_len, ports, flags) with a
 * valid checksum, then n payload bytes; returns the frame's length. */
static size_t frag(uint64_t seq, uint32_t len, uint16_t sport, uint16_t dport, uint8_t flags, size_t n)
{
	struct rdsb_hdr h = { .seq = seq, .ack = 5, .len = len, .sport = sport, .dport = dport, .flags = flags };
	struct rds_header *w = (struct rds_header *)frame;

	rdsb_hdr_encode(&h, w);
	memset(frame + RDS_HEADER_SIZE, (int)seq, n);
	w->h_csum = 0;
	w->h_csum = ib_csum(w);
	return RDS_HEADER_SIZE + n;
}

static void test_frame_good(void)
{
	struct ib_reasm r = { 0 };
	struct rdsb_hdr h;

	/* 0 B, 1 B, 4096 B: one fragment each */
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 0, 9, 10, 0, 0), &h), IB_FRAME_LAST);
	CHECK_EQ(h.seq, 1);
	CHECK_EQ(h.ack, 5);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(2, 1, 9, 10, 0, 1), &h), IB_FRAME_LAST);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(3, 4096, 9, 10, 0, 4096), &h), IB_FRAME_LAST);
	CHECK(!r.busy);
	/* 8193 B: 4096 + 4096 + 1, an ack-only frame between fragments */
	CHECK_EQ(ib_frame_parse(&r, frame, frag(4, 8193, 9, 10, 0, 4096), &h), IB_FRAME_FRAG);
	CHECK_EQ(r.have, 4096);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(0, 0, 0, 0, 0, 0), &h), IB_FRAME_ACK);
	CHECK_EQ(r.have, 4096);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(4, 8193, 9, 10, 0, 4096), &h), IB_FRAME_FRAG);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(4, 8193, 9, 10, 0, 1), &h), IB_FRAME_LAST);
	CHECK_EQ(r.have, 8193);
	CHECK_EQ(r.h.seq, 4);
	/* h_csum 0 means none: taken */
	frag(5, 3, 9, 10, 0, 3);
	((struct rds_header *)frame)->h_csum = 0;
	CHECK_EQ(ib_frame_parse(&r, frame, RDS_HEADER_SIZE + 3, &h), IB_FRAME_LAST);
	/* a congestion map: 8192 B in two fragments */
	CHECK_EQ(ib_frame_parse(&r, frame, frag(0, 8192, 0, 0, RDS_FLAG_CONG_BITMAP, 4096), &h), IB_FRAME_FRAG);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(0, 8192, 0, 0, RDS_FLAG_CONG_BITMAP, 4096), &h), IB_FRAME_LAST);
}

static void test_frame_hostile(void)
{
	struct ib_reasm r = { 0 };
	struct rdsb_hdr h;
	size_t n;

	/* truncated: no whole header, down to nothing */
	for (size_t len = 0; len < RDS_HEADER_SIZE; len++) {
		frag(1, 0, 9, 10, 0, 0);
		CHECK_EQ(ib_frame_parse(&r, frame, len, &h), IB_BAD_SHORT);
	}
	/* a bad checksum: every bit of the header flipped in turn */
	for (unsigned int bit = 0; bit < RDS_HEADER_SIZE * 8; bit++) {
		struct ib_reasm z = { 0 };

		n = frag(1, 100, 9, 10, 0, 100);
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (!((struct rds_header *)frame)->h_csum)
			continue;	/* the flip cleared h_csum: "none" */
		CHECK_EQ(ib_frame_parse(&z, frame, n, &h), IB_BAD_CSUM);
		CHECK(!z.busy);
	}
	/* h_len beyond what RDS allows (1 MiB, the map's 8 KiB) */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, RDS_MAX_MSG_SIZE + 1, 9, 10, 0, 4096), &h), IB_BAD_LEN);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 0xffffffff, 9, 10, 0, 4096), &h), IB_BAD_LEN);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(0, 4096, 0, 0, RDS_FLAG_CONG_BITMAP, 4096), &h), IB_BAD_LEN);
	/* h_len beyond the fragments received: more payload than h_len, a
	 * short middle fragment, a last one too long, an empty one */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 10, 9, 10, 0, 11), &h), IB_BAD_FRAG);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 10000, 9, 10, 0, 4095), &h), IB_BAD_FRAG);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 5000, 9, 10, 0, 4096), &h), IB_FRAME_FRAG);
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 5000, 9, 10, 0, 905), &h), IB_BAD_FRAG);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(ib_frame_parse(&r, frame, frag(1, 5000, 9, 10, 0, 0), &h), IB_BAD_FRAG);
	/* fragments of two messages interleaved: another seq, h_len or port */
	for (int k = 0; k < 4; k++) {
		memset(&r, 0, sizeof(r));
		CHECK_EQ(ib_frame_parse(&r, frame, frag(7, 9000, 9, 10, 0, 4096), &h), IB_FRAME_FRAG);
		n = frag(k == 0 ? 8 : 7, k == 1 ? 9001 : 9000, k == 2 ? 11 : 9, k == 3 ? 12 : 10, 0, 4096);
		CHECK_EQ(ib_frame_parse(&r, frame, n, &h), IB_BAD_FRAG);
	}
	CHECK(strcmp(ib_frame_why(IB_BAD_FRAG), ib_frame_why(IB_BAD_LEN)) != 0);
}

int main(void)
{
	test_credits();
	test_frame_good();
	test_frame_hostile();
	test_private_layout();
	test_protocol_compatible();
	test_csum();
	return check_done();
}
