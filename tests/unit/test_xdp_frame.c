// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP transport's frames without a network: the fragment copied and
 * summed in one pass (rdsx_copy_sum) is copied exactly and its sum, given
 * to rdsx_frame_csum, makes the same UDP checksum as the textbook one over
 * the pseudo header and the whole datagram, for IPv4 and IPv6, even and odd
 * fragment lengths; a frame whose rds_header changes gets a new checksum
 * from the same fragment sum, as a retransmission does.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include "../../transports/xdp/frame.h"
#include "check.h"

/* RFC 768 the textbook way: big-endian 16-bit words, an odd byte padded. */
static uint32_t ref_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The checksum a receiver verifies: 0 (all ones before the complement). */
static uint16_t ref_verify(const uint8_t *frame, const struct rdsx_l3 *l)
{
	const uint8_t *udp = frame + rdsx_l2l4_len(l->v6) - 8;
	uint16_t ulen = (uint16_t)(udp[4] << 8 | udp[5]);
	uint32_t s = l->v6 ? ref_add(ref_add(0, l->saddr, 16), l->daddr, 16)
			   : ref_add(ref_add(0, l->saddr + 12, 4), l->daddr + 12, 4);

	return ref_fold(ref_add(s + 17 + ulen, udp, ulen));
}

static void test_copy_sum(void)
{
	uint8_t src[200], dst[210];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(src); n++) {
		memset(dst, 0xa5, sizeof(dst));
		uint32_t s = rdsx_copy_sum(dst, src, n);

		CHECK(!memcmp(dst, src, n));
		CHECK_EQ(dst[n], 0xa5);			/* not a byte more */
		CHECK_EQ(ref_fold(s), ref_fold(ref_add(0, src, n)));
	}
}

static void test_csum(bool v6)
{
	static const uint8_t a4[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 1 };
	static const uint8_t b4[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 2 };
	static const uint8_t a6[16] = { 0xfd, 0x99, [15] = 1 };
	static const uint8_t b6[16] = { 0xfd, 0x99, [15] = 2 };
	struct rdsx_l3 l = { .v6 = v6, .smac = { 2, 0, 0, 0, 0, 1 }, .dmac = { 2, 0, 0, 0, 0, 2 },
			     .sport = RDSX_SPORT_BASE + 3, .dport = RDSX_PORT };
	static uint8_t frag[RDS_FRAG_SIZE], frame[4096];

	memcpy(l.saddr, v6 ? a6 : a4, 16);
	memcpy(l.daddr, v6 ? b6 : b4, 16);
	srand(v6 ? 6 : 4);
	for (size_t i = 0; i < sizeof(frag); i++)
		frag[i] = (uint8_t)rand();
	for (uint32_t n = 0; n <= 1500; n += (n < 8 ? 1 : 97)) {
		size_t l2l4 = rdsx_l2l4_len(v6);
		struct rds_header *h = (struct rds_header *)(frame + l2l4);
		struct rdsx_fields f = { .frame = n + 1, .epoch = 0x1234, .ack = 77, .credit = 9 };
		size_t len = rdsx_frame_build(frame, &l, RDS_HEADER_SIZE + n);
		uint32_t sum;

		CHECK_EQ(len, l2l4 + RDS_HEADER_SIZE + n);
		memset(h, 0, sizeof(*h));
		h->h_len = htobe32(n);
		rdsx_fields_put(h, &f);
		sum = rdsx_copy_sum(frame + l2l4 + RDS_HEADER_SIZE, frag, n);
		rdsx_frame_csum(frame, &l, RDS_HEADER_SIZE + n, sum);
		CHECK_EQ(ref_verify(frame, &l), 0);
		CHECK(frame[l2l4 - 2] || frame[l2l4 - 1]);	/* never 0: "no checksum" */
		/* sent again: new ack and credit, the same fragment sum */
		f.ack = 1000 + n;
		f.credit = 3;
		rdsx_fields_put(h, &f);
		rdsx_frame_csum(frame, &l, RDS_HEADER_SIZE + n, sum);
		CHECK_EQ(ref_verify(frame, &l), 0);
		if (n) {
			frame[len - 1] ^= 0x10;			/* a bit of the fragment off */
			CHECK(ref_verify(frame, &l) != 0);
		}
	}
}

int main(void)
{
	test_copy_sum();
	test_csum(false);
	test_csum(true);
	return check_done();
}
