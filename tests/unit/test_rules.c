// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for the wire's rules, include/rds-bpf/rules.h, the functions
 * the BPF programs, the engine, the library and the tools call: h_len
 * validity, the congestion bit, the duplicate rule and the multipath hash
 * (rds-facts §1.3, §2.1, §2.2, §2.3, §2.5). Only the header is included, so
 * it is also the proof that it stands alone. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <rds-bpf/rules.h>
#include "check.h"

/* ---------------------------------------------------------------- h_len */

static void test_msg_size(void)
{
	static const struct {
		__u64 len;
		bool ok;
	} cases[] = {
		{ 0, true }, { 1, true }, { 1048575, true }, { 1048576, true }, { 1048577, false },
		{ 0xffffffffULL, false },
		/* a sendmsg length is a size_t: no truncation to 32 bits */
		{ 0x100000000ULL, false }, { 0x100000000ULL + 1, false },
		{ 0x100000000ULL + 1048576, false }, { ~0ULL, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!CHECK(rdsb_msg_size_ok(cases[i].len) == cases[i].ok))
			fprintf(stderr, "    len %#llx\n", (unsigned long long)cases[i].len);
}

static void test_len_rules(void)
{
	/* The cong map test is an equality on h_flags: with any other flag it is data. */
	for (unsigned int f = 0; f < 256; f++)
		CHECK_EQ(rdsb_is_cong_map((uint8_t)f), f == RDS_FLAG_CONG_BITMAP);

	/* A cong map is exactly 8192 bytes; data 0..1 MiB, whatever else its
	 * flags say (0x05 is the congestion bit with RETRANSMITTED: data). */
	static const __u32 lens[] = { 0, 1, 8191, 8192, 8193, 1048575, 1048576, 1048577,
				      0x7fffffff, 0x80000000, 0xffffffff };
	static const uint8_t flags[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x20, 0x21, 0x80, 0xff };

	for (size_t i = 0; i < sizeof(flags); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			bool want = flags[i] == 0x01 ? lens[j] == 8192 : lens[j] <= 1048576;

			if (!CHECK(rdsb_h_len_ok(flags[i], lens[j]) == want))
				fprintf(stderr, "    flags %#x h_len %u\n", flags[i], lens[j]);
		}
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

	/* The first and last ports fall in the first and last of the 8192 bytes. */
	CHECK_EQ(rdsb_cong_byte(0), 0);
	CHECK_EQ(rdsb_cong_bit(0), 0x01);
	CHECK_EQ(rdsb_cong_byte(65535), RDS_CONG_MAP_BYTES - 1);
	CHECK_EQ(rdsb_cong_bit(65535), 0x80);
	CHECK_EQ(rdsb_cong_byte(65528), 8191);
	CHECK_EQ(rdsb_cong_bit(65528), 0x01);

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
	__u64 next;

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

	/* Around next_rx_seq, RETRANSMITTED set and not: only a retransmission
	 * below next is a duplicate; the others set next to seq + 1. */
	static const __u64 nexts[] = { 1, 2, 1000, 0xffffffffULL, 0x100000000ULL,
				       0xfffffffffffffffeULL };
	static const struct {
		int delta;		/* seq = next + delta */
		__u8 flags;
		bool accept;
	} cases[] = {
		{ -1, RDS_FLAG_RETRANSMITTED, false },
		{ 0, RDS_FLAG_RETRANSMITTED, true },
		{ 1, RDS_FLAG_RETRANSMITTED, true },
		{ -1, RDS_FLAG_RETRANSMITTED | RDS_FLAG_ACK_REQUIRED, false },
		{ -1, 0, true },
		{ 0, 0, true },
		{ 1, 0, true },
		{ -1, RDS_FLAG_ACK_REQUIRED | RDS_FLAG_CONG_BITMAP | RDS_FLAG_EXTHDR_EXTENSION, true },
	};
	unsigned long bad = 0;

	for (size_t i = 0; i < sizeof(nexts) / sizeof(nexts[0]); i++) {
		for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			__u64 seq = nexts[i] + (__u64)(__s64)cases[j].delta;

			next = nexts[i];
			if (rdsb_seq_accept(&next, seq, cases[j].flags) != cases[j].accept ||
			    next != (cases[j].accept ? seq + 1 : nexts[i])) {
				fprintf(stderr, "    next %llu seq %llu flags %#x\n",
					(unsigned long long)nexts[i], (unsigned long long)seq,
					cases[j].flags);
				bad++;
			}
		}
	}
	CHECK_EQ(bad, 0);
}

/* ---------------------------------------------------------------- multipath hash */

/* jhash_1word as lookup3 / include/linux/jhash.h define it, against
 * published values. */
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
	 * values) masked by npaths - 1; npaths 1 (and 0) → path 0. The library
	 * picks it from the engine's hash over 8 paths once the peer's npaths is
	 * known (rdsb_mpath_index): the same path. */
	uint64_t x = 0x2545f4914f6cdd1dULL;
	unsigned long bad_range = 0, bad_one = 0, bad_stable = 0, bad_lib = 0;
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
			if (rdsb_mpath_index(rdsb_mpath_hash(port, iv, RDS_MPATH_WORKERS), n) != p)
				bad_lib++;
		}
		if (rdsb_mpath_index(rdsb_mpath_hash(port, iv, RDS_MPATH_WORKERS), 1) != 0)
			bad_lib++;
	}
	CHECK_EQ(bad_one, 0);
	CHECK_EQ(bad_range, 0);
	CHECK_EQ(bad_stable, 0);
	CHECK_EQ(bad_lib, 0);

	/* Every port, one initval: the paths are all used (a sanity check on
	 * the spread, not a wire property). */
	unsigned long count[8] = { 0 };
	for (uint32_t p = 0; p < 65536; p++)
		count[rdsb_mpath_hash((uint16_t)p, 0x5eed, 8)]++;
	for (int i = 0; i < 8; i++)
		CHECK(count[i] > 65536 / 8 / 2 && count[i] < 65536 / 8 * 2);
}

int main(void)
{
	test_msg_size();
	test_len_rules();
	test_cong_bits();
	test_seq_accept();
	test_mpath_hash();
	return check_done();
}
