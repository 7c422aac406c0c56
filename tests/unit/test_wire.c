// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/common/wire.c: the 48-byte header, the h_len rule,
 * congestion bitmap bit order, the duplicate rule, the multipath hash and
 * rds_addr_cmp (docs/protocol.md §1.1, §1.3, §2.1, §2.2, §2.3, §2.5, §6). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../user/common/wire.h"
#include "check.h"

_Static_assert(sizeof(struct rds_header) == 48, "struct rds_header must be 48 bytes");

/* ---------------------------------------------------------------- header */

static void test_header_layout(void)
{
	CHECK_EQ(sizeof(struct rds_header), 48);
	CHECK_EQ(RDS_HEADER_SIZE, 48);
	CHECK_EQ(offsetof(struct rds_header, h_sequence), 0);
	CHECK_EQ(offsetof(struct rds_header, h_ack), 8);
	CHECK_EQ(offsetof(struct rds_header, h_len), 16);
	CHECK_EQ(offsetof(struct rds_header, h_sport), 20);
	CHECK_EQ(offsetof(struct rds_header, h_dport), 22);
	CHECK_EQ(offsetof(struct rds_header, h_flags), 24);
	CHECK_EQ(offsetof(struct rds_header, h_credit), 25);
	CHECK_EQ(offsetof(struct rds_header, h_padding), 26);
	CHECK_EQ(offsetof(struct rds_header, h_csum), 30);
	CHECK_EQ(offsetof(struct rds_header, h_exthdr), 32);
	CHECK_EQ(RDS_HEADER_EXT_SPACE, 16);
	CHECK_EQ(RDS_CONG_MAP_BYTES, 8192);
	CHECK_EQ(RDS_MAX_MSG_SIZE, 1048576);
}

static void test_header_encode_known(void)
{
	struct rdsb_hdr h = {
		.seq = 0x0102030405060708ULL,
		.ack = 0x1112131415161718ULL,
		.len = 0x21222324,
		.sport = 0x3132,
		.dport = 0x3334,
		.flags = 0x41,
		.credit = 0x42,
		.csum = 0x5152,
	};
	static const uint8_t want[48] = {
		/* 0  h_sequence */ 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		/* 8  h_ack      */ 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		/* 16 h_len      */ 0x21, 0x22, 0x23, 0x24,
		/* 20 h_sport    */ 0x31, 0x32,
		/* 22 h_dport    */ 0x33, 0x34,
		/* 24 h_flags    */ 0x41,
		/* 25 h_credit   */ 0x42,
		/* 26 h_padding  */ 0x00, 0x00, 0x00, 0x00,
		/* 30 h_csum     */ 0x51, 0x52,
		/* 32 h_exthdr   */ 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
				    0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	};
	union {
		struct rds_header h;
		uint8_t b[48];
	} out;
	struct rdsb_hdr back;

	for (int i = 0; i < 16; i++)
		h.exthdr[i] = (uint8_t)(0x60 + i);
	memset(&out, 0xaa, sizeof(out)); /* padding must be zeroed, not left */
	rdsb_hdr_encode(&h, &out.h);
	CHECK_MEM(out.b, want, 48);

	memset(&back, 0x55, sizeof(back));
	rdsb_hdr_decode(&out.h, &back);
	CHECK_EQ(back.seq, h.seq);
	CHECK_EQ(back.ack, h.ack);
	CHECK_EQ(back.len, h.len);
	CHECK_EQ(back.sport, h.sport);
	CHECK_EQ(back.dport, h.dport);
	CHECK_EQ(back.flags, h.flags);
	CHECK_EQ(back.credit, h.credit);
	CHECK_EQ(back.csum, h.csum);
	CHECK_MEM(back.exthdr, h.exthdr, 16);

	/* Decode straight from bytes, independent of encode. */
	union {
		struct rds_header h;
		uint8_t b[48];
	} in;
	memcpy(in.b, want, 48);
	in.b[26] = 0xde; /* non-zero padding is ignored on decode */
	rdsb_hdr_decode(&in.h, &back);
	CHECK_EQ(back.seq, 0x0102030405060708ULL);
	CHECK_EQ(back.ack, 0x1112131415161718ULL);
	CHECK_EQ(back.len, 0x21222324);
	CHECK_EQ(back.sport, 0x3132);
	CHECK_EQ(back.dport, 0x3334);
	CHECK_EQ(back.flags, 0x41);
	CHECK_EQ(back.credit, 0x42);
	CHECK_EQ(back.csum, 0x5152);
	CHECK_MEM(back.exthdr, want + 32, 16);
}

static void test_header_probe_ping(void)
{
	/* A legacy TCP probe ping: seq 1, sport 1, dport 0, len 0, NPATHS=8. */
	struct rdsb_hdr h = { .seq = 1, .sport = RDS_FLAG_PROBE_PORT, .dport = 0 };
	static const uint8_t want[48] = {
		0, 0, 0, 0, 0, 0, 0, 1,  /* seq */
		0, 0, 0, 0, 0, 0, 0, 0,  /* ack */
		0, 0, 0, 0,              /* len */
		0, 1, 0, 0,              /* sport, dport */
		0, 0, 0, 0, 0, 0, 0, 0,  /* flags credit padding csum */
		0x05, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	union {
		struct rds_header h;
		uint8_t b[48];
	} out;

	h.exthdr[0] = RDS_EXTHDR_NPATHS;
	h.exthdr[2] = 8;
	rdsb_hdr_encode(&h, &out.h);
	CHECK_MEM(out.b, want, 48);
	CHECK(RDS_HS_PROBE(h.sport, h.dport));
	CHECK(RDS_HS_PROBE(0, 1));
	CHECK(!RDS_HS_PROBE(0, 0));
	CHECK(!RDS_HS_PROBE(1, 1));
}

static void test_header_roundtrip_random(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 10000; i++) {
		struct rdsb_hdr h, back;
		struct rds_header wire;

#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
		h.seq = NEXT();
		h.ack = NEXT();
		h.len = (uint32_t)NEXT();
		h.sport = (uint16_t)NEXT();
		h.dport = (uint16_t)NEXT();
		h.flags = (uint8_t)NEXT();
		h.credit = (uint8_t)NEXT();
		h.csum = (uint16_t)NEXT();
		for (int j = 0; j < 16; j++)
			h.exthdr[j] = (uint8_t)NEXT();
#undef NEXT
		rdsb_hdr_encode(&h, &wire);
		rdsb_hdr_decode(&wire, &back);
		if (!CHECK(back.seq == h.seq && back.ack == h.ack && back.len == h.len &&
			   back.sport == h.sport && back.dport == h.dport && back.flags == h.flags &&
			   back.credit == h.credit && back.csum == h.csum &&
			   !memcmp(back.exthdr, h.exthdr, 16)))
			break;
		/* byte 16 is the most significant byte of h_len */
		const uint8_t *b = (const uint8_t *)&wire;
		if (!CHECK(b[16] == (uint8_t)(h.len >> 24) && b[19] == (uint8_t)h.len &&
			   b[0] == (uint8_t)(h.seq >> 56) && b[7] == (uint8_t)h.seq &&
			   b[20] == (uint8_t)(h.sport >> 8) && b[23] == (uint8_t)h.dport &&
			   b[30] == (uint8_t)(h.csum >> 8) && !b[26] && !b[27] && !b[28] && !b[29]))
			break;
	}
}

/* ---------------------------------------------------------------- h_len */

static bool len_ok(uint8_t flags, uint32_t len)
{
	struct rdsb_hdr h = { .flags = flags, .len = len };

	return rdsb_hdr_len_ok(&h);
}

static bool is_cong(uint8_t flags)
{
	struct rdsb_hdr h = { .flags = flags, .len = 8192 };

	return rdsb_hdr_is_cong_map(&h);
}

static void test_len_rules(void)
{
	/* The cong map test is an equality on h_flags. */
	CHECK(is_cong(0x01));
	CHECK(!is_cong(0x00));
	CHECK(!is_cong(0x01 | 0x04));
	CHECK(!is_cong(0x01 | 0x02));
	CHECK(!is_cong(0x01 | 0x20));
	CHECK(!is_cong(0xff));
	CHECK(!is_cong(0x04));

	/* A cong map must be exactly 8192 bytes. */
	CHECK(len_ok(0x01, 8192));
	CHECK(!len_ok(0x01, 8191));
	CHECK(!len_ok(0x01, 8193));
	CHECK(!len_ok(0x01, 0));
	CHECK(!len_ok(0x01, 1048576));
	CHECK(!len_ok(0x01, 0xffffffff));

	/* 0x01|0x04 is data, not a map: the data rule applies. */
	CHECK(len_ok(0x05, 0));
	CHECK(len_ok(0x05, 8191));
	CHECK(len_ok(0x05, 8192));
	CHECK(len_ok(0x05, 8193));
	CHECK(len_ok(0x05, 1048576));
	CHECK(!len_ok(0x05, 1048577));
	CHECK(!len_ok(0x05, 0xffffffff));

	/* Data: 0..1 MiB. */
	static const uint8_t data_flags[] = { 0x00, 0x02, 0x04, 0x06, 0x20 };
	for (size_t i = 0; i < sizeof(data_flags); i++) {
		uint8_t f = data_flags[i];

		CHECK(len_ok(f, 0));
		CHECK(len_ok(f, 1));
		CHECK(len_ok(f, 8191));
		CHECK(len_ok(f, 8192));
		CHECK(len_ok(f, 8193));
		CHECK(len_ok(f, 1048575));
		CHECK(len_ok(f, 1048576));
		CHECK(!len_ok(f, 1048577));
		CHECK(!len_ok(f, 0x7fffffff));
		CHECK(!len_ok(f, 0x80000000));
		CHECK(!len_ok(f, 0xffffffff));
	}
}

/* ---------------------------------------------------------------- congestion bits */

static void test_cong_bits(void)
{
	static uint8_t map[RDS_CONG_MAP_BYTES], zero[RDS_CONG_MAP_BYTES];
	unsigned long bad = 0;

	memset(map, 0, sizeof(map));
	rdsb_cong_set(map, 0);
	CHECK_EQ(map[0], 0x01);
	rdsb_cong_set(map, 9);
	CHECK_EQ(map[1], 0x02);
	rdsb_cong_set(map, 65535);
	CHECK_EQ(map[8191], 0x80);
	rdsb_cong_set(map, 7);
	CHECK_EQ(map[0], 0x81);
	rdsb_cong_set(map, 8);
	CHECK_EQ(map[1], 0x03);
	rdsb_cong_set(map, 4000); /* 4000 = 500*8 + 0 */
	CHECK_EQ(map[500], 0x01);
	rdsb_cong_set(map, 18634); /* 18634 = 2329*8 + 2 */
	CHECK_EQ(map[2329], 0x04);

	CHECK(rdsb_cong_test(map, 0));
	CHECK(rdsb_cong_test(map, 7));
	CHECK(rdsb_cong_test(map, 8));
	CHECK(rdsb_cong_test(map, 9));
	CHECK(rdsb_cong_test(map, 65535));
	CHECK(!rdsb_cong_test(map, 1));
	CHECK(!rdsb_cong_test(map, 10));
	CHECK(!rdsb_cong_test(map, 65534));
	CHECK(!rdsb_cong_test(map, 65528));

	rdsb_cong_clear(map, 7);
	CHECK_EQ(map[0], 0x01);
	rdsb_cong_clear(map, 7); /* idempotent */
	CHECK_EQ(map[0], 0x01);
	rdsb_cong_clear(map, 0);
	rdsb_cong_clear(map, 8);
	rdsb_cong_clear(map, 9);
	rdsb_cong_clear(map, 65535);
	rdsb_cong_clear(map, 4000);
	rdsb_cong_clear(map, 18634);
	CHECK_MEM(map, zero, sizeof(map));

	/* Every port: exactly the bit map[p>>3] & (1 << (p&7)), nothing else. */
	for (uint32_t p = 0; p < 65536; p++) {
		rdsb_cong_set(map, (uint16_t)p);
		if (map[p >> 3] != (uint8_t)(1u << (p & 7)) || !rdsb_cong_test(map, (uint16_t)p) ||
		    (p > 0 && rdsb_cong_test(map, (uint16_t)(p - 1))) ||
		    (p < 65535 && rdsb_cong_test(map, (uint16_t)(p + 1))))
			bad++;
		rdsb_cong_clear(map, (uint16_t)p);
		if (memcmp(map, zero, sizeof(map)) != 0) {
			bad++;
			memset(map, 0, sizeof(map));
		}
	}
	CHECK_EQ(bad, 0);

	/* Clearing one bit in a full map leaves all the others. */
	memset(map, 0xff, sizeof(map));
	rdsb_cong_clear(map, 9);
	CHECK_EQ(map[1], 0xfd);
	CHECK_EQ(map[0], 0xff);
	CHECK_EQ(map[2], 0xff);
	CHECK(!rdsb_cong_test(map, 9));
	CHECK(rdsb_cong_test(map, 8));
	rdsb_cong_set(map, 9);
	CHECK_EQ(map[1], 0xff);
}

/* ---------------------------------------------------------------- sequence */

static void test_seq_accept(void)
{
	uint64_t next;

	/* Retransmitted and below next: dropped, next unchanged. */
	next = 5;
	CHECK(!rdsb_seq_accept(&next, 3, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 5);
	CHECK(!rdsb_seq_accept(&next, 4, RDS_FLAG_RETRANSMITTED | RDS_FLAG_ACK_REQUIRED));
	CHECK_EQ(next, 5);
	CHECK(!rdsb_seq_accept(&next, 0, 0xff));
	CHECK_EQ(next, 5);

	/* Equal seq retransmitted: accepted, next = seq + 1. */
	CHECK(rdsb_seq_accept(&next, 5, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 6);

	/* Above next, retransmitted or not: accepted (holes are normal). */
	CHECK(rdsb_seq_accept(&next, 10, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 11);
	CHECK(rdsb_seq_accept(&next, 20, 0));
	CHECK_EQ(next, 21);

	/* A lower non-retransmitted seq is accepted and rewinds next (assignment, not max). */
	CHECK(rdsb_seq_accept(&next, 3, 0));
	CHECK_EQ(next, 4);
	CHECK(rdsb_seq_accept(&next, 1, RDS_FLAG_ACK_REQUIRED | RDS_FLAG_CONG_BITMAP));
	CHECK_EQ(next, 2);
	/* ...after which a retransmission of 1 is a duplicate, of 2 is not. */
	CHECK(!rdsb_seq_accept(&next, 1, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 2);
	CHECK(rdsb_seq_accept(&next, 2, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 3);

	/* Fresh path: next_rx_seq 0, the first (seq 1) is accepted. */
	next = 0;
	CHECK(rdsb_seq_accept(&next, 1, 0));
	CHECK_EQ(next, 2);
	next = 0;
	CHECK(rdsb_seq_accept(&next, 0, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 1);

	/* Same seq not retransmitted: accepted (no dup check without the flag). */
	next = 7;
	CHECK(rdsb_seq_accept(&next, 6, 0));
	CHECK_EQ(next, 7);
	CHECK(rdsb_seq_accept(&next, 6, 0));
	CHECK_EQ(next, 7);

	/* 64-bit: no truncation. */
	next = 0x100000000ULL;
	CHECK(!rdsb_seq_accept(&next, 0xffffffffULL, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 0x100000000ULL);
	CHECK(rdsb_seq_accept(&next, 0x100000001ULL, RDS_FLAG_RETRANSMITTED));
	CHECK_EQ(next, 0x100000002ULL);
}

/* ---------------------------------------------------------------- multipath hash */

/* jhash_1word as lookup3 / include/linux/jhash.h define it, written out here
 * independently of wire.c. */
static void test_mpath_hash(void)
{
	/* Published lookup3 values. jhash_1word(a, 0) == hashword(&a, 1, 0) ==
	 * hashlittle(le32(a), 4, 0): all three start a = b = c = 0xdeadbeef + 4
	 * + initval, add the word to a, and run final() once.
	 *  - hashlittle of 4 zero bytes, seed 0 = 0x049396b8, and of
	 *    {23, 187, 98, 217} = 0x2c88bb51 (magicDGS/hdf5j
	 *    Lookup3HashFunctionTest.java);
	 *  - hashlittle(le32(i), 4, 0) for i = 0..15 is the CASC "ChecksumB"
	 *    table (wowdev.wiki/CASC; CascLib table_16C57A8), whose first entry
	 *    is again 0x049396b8. */
	static const uint32_t published[16] = {
		0x049396b8, 0x72a82a9b, 0xee626cca, 0x9917754f, 0x15de40b1, 0xf5a8a9b6,
		0x421eac7e, 0xa9d55c9a, 0x317fd40c, 0x04faf80d, 0x3d6be971, 0x52933cfd,
		0x27f64b7d, 0xc6f5c11b, 0xd5757e3a, 0x6c388745,
	};

	CHECK_EQ(rdsb_jhash_1word(0, 0), 0x049396b8);
	for (uint32_t i = 0; i < 16; i++) {
		CHECK_EQ(rdsb_jhash_1word(i, 0), published[i]);
	}
	CHECK_EQ(rdsb_jhash_1word(0xd962bb17, 0), 0x2c88bb51);

	/* More values, cross-checked with a Python lookup3. */
	CHECK_EQ(rdsb_jhash_1word(0, 1), 0xd9a91087);
	CHECK_EQ(rdsb_jhash_1word(4000, 0), 0xca590529);
	CHECK_EQ(rdsb_jhash_1word(18634, 0x12345678), 0xff6f3472);
	CHECK_EQ(rdsb_jhash_1word(65535, 0xffffffff), 0x855ea287);
	CHECK_EQ(rdsb_jhash_1word(16385, 0xdeadbeef), 0x894a596a);

	/* The port is hashed in host order (ntohs(rs_bound_port), since
	 * 77907a068717): port 1 → 0x72a82a9b, & 7 = 3; not the raw __be16 0x0100. */
	CHECK_EQ(rdsb_mpath_hash(1, 0, 8), 0x72a82a9b & 7);
	CHECK_EQ(rdsb_mpath_hash(2, 0, 8), 0xee626cca & 7);
	CHECK_EQ(rdsb_mpath_hash(2, 0, 4), 0xee626cca & 3);
	CHECK_EQ(rdsb_mpath_hash(3, 0, 2), 0x9917754f & 1);
	CHECK_EQ(rdsb_mpath_hash(0, 0, 8), 0x049396b8 & 7);
	CHECK_EQ(rdsb_mpath_hash(4000, 0, 8), 0xca590529 & 7);

	/* Random sweep: the path is the hash (checked above against published
	 * values) masked by npaths - 1; npaths 1 (and 0) → path 0. */
	uint64_t x = 0x2545f4914f6cdd1dULL;
	unsigned long bad_range = 0, bad_one = 0, bad_stable = 0;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t iv = (uint32_t)(x >> 32);
		uint16_t port = (uint16_t)x;

		if (rdsb_mpath_hash(port, iv, 1) != 0 || rdsb_mpath_hash(port, iv, 0) != 0)
			bad_one++;
		/* 2, 4, 8, and also what a peer's odd NPATHS gives (& (n-1), as the kernel) */
		for (unsigned int n = 2; n <= 8; n++) {
			unsigned int p = rdsb_mpath_hash(port, iv, n);

			if (p >= n || p != (rdsb_jhash_1word(port, iv) & (n - 1)))
				bad_range++;
			if (rdsb_mpath_hash(port, iv, n) != p)
				bad_stable++;
		}
	}
	CHECK_EQ(bad_one, 0);
	CHECK_EQ(bad_range, 0);
	CHECK_EQ(bad_stable, 0);

	/* Every port, one initval: the paths are all used (a sanity check on
	 * the spread, not a wire property). */
	unsigned long count[8] = { 0 };
	for (uint32_t p = 0; p < 65536; p++)
		count[rdsb_mpath_hash((uint16_t)p, 0x5eed, 8)]++;
	for (int i = 0; i < 8; i++)
		CHECK(count[i] > 65536 / 8 / 2 && count[i] < 65536 / 8 * 2);
}

/* ---------------------------------------------------------------- rds_addr_cmp */

static void v4(uint8_t a[16], uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = b0, a[13] = b1, a[14] = b2, a[15] = b3;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void test_addr_cmp(void)
{
	uint8_t a[16], b[16];

	v4(a, 10, 0, 0, 1);
	v4(b, 10, 0, 0, 2);
	CHECK(rdsb_addr_cmp(a, b) < 0);
	CHECK(rdsb_addr_cmp(b, a) > 0);
	CHECK(rdsb_addr_cmp(a, a) == 0);

	/* Big-endian numeric: the first octet dominates (a little-endian u32
	 * compare of 10.0.0.2 and 11.0.0.1 would get this backwards). */
	v4(a, 10, 0, 0, 2);
	v4(b, 11, 0, 0, 1);
	CHECK(rdsb_addr_cmp(a, b) < 0);
	v4(a, 10, 0, 0, 255);
	v4(b, 10, 0, 1, 0);
	CHECK(rdsb_addr_cmp(a, b) < 0);
	v4(a, 9, 255, 255, 255);
	v4(b, 10, 0, 0, 0);
	CHECK(rdsb_addr_cmp(a, b) < 0);
	v4(a, 192, 168, 0, 1);
	v4(b, 10, 255, 255, 255);
	CHECK(rdsb_addr_cmp(a, b) > 0);

	/* v4-mapped (::ffff:0:0/96) sorts below fd00::1 and above ::1. */
	uint8_t fd00_1[16] = { 0xfd, 0x00 }, lo6[16] = { 0 };
	fd00_1[15] = 1;
	lo6[15] = 1;
	v4(a, 255, 255, 255, 255);
	CHECK(rdsb_addr_cmp(a, fd00_1) < 0);
	CHECK(rdsb_addr_cmp(lo6, a) < 0);

	/* IPv6: the last byte decides only when all others are equal. */
	uint8_t fd00_2[16], fd01_1[16];
	memcpy(fd00_2, fd00_1, 16);
	fd00_2[15] = 2;
	memcpy(fd01_1, fd00_1, 16);
	fd01_1[1] = 0x01;
	CHECK(rdsb_addr_cmp(fd00_1, fd00_2) < 0);
	CHECK(rdsb_addr_cmp(fd00_2, fd01_1) < 0);

	/* Antisymmetry over a few random pairs. */
	uint64_t x = 12345;
	unsigned long bad = 0;
	for (int i = 0; i < 1000; i++) {
		for (int j = 0; j < 16; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			a[j] = (uint8_t)x;
			b[j] = (uint8_t)(x >> 8);
		}
		if (sign(rdsb_addr_cmp(a, b)) != -sign(rdsb_addr_cmp(b, a)) ||
		    sign(rdsb_addr_cmp(a, b)) != sign(memcmp(a, b, 16)))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	test_header_layout();
	test_header_encode_known();
	test_header_probe_ping();
	test_header_roundtrip_random();
	test_len_rules();
	test_cong_bits();
	test_seq_accept();
	test_mpath_hash();
	test_addr_cmp();
	return check_done();
}
