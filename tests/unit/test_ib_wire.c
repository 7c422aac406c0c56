// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for transports/ib/ib_wire.c: the RDS/IB CM private data as
 * net/rds/ib.h lays it out, the passive side's version rule
 * (rds_ib_protocol_compatible), and the header checksum (ip_fast_csum). */
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
	CHECK_EQ(ib_private_fill(out, a4, b4, RDS_IB_PROTO_3_1, 0x0102030405060708ull), 32);
	CHECK(!memcmp(out, (uint8_t[]){ 10, 97, 0, 1, 10, 97, 0, 3, 3, 1, 0, 3, 0, 0, 0, 0 }, 16));
	CHECK(!memcmp(out + 16, (uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0 }, 16));
	CHECK_EQ(ib_private_fill(out, a6, b6, RDS_IB_PROTO(4, 1), 7), 56);
	CHECK(!memcmp(out, a6, 16) && !memcmp(out + 16, b6, 16));
	CHECK(!memcmp(out + 32, (uint8_t[]){ 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 }, 16));
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

int main(void)
{
	test_private_layout();
	test_protocol_compatible();
	test_csum();
	return check_done();
}
