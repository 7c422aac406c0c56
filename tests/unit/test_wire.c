// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/common/wire.c: the 48-byte header, the delivery
 * record's header and rds_addr_cmp (docs/protocol.md §1.1, §6); the wire's
 * rules are in test_rules.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <rds-bpf/maps.h>
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

/* ------------------------------------------------------- delivery header */

/* The engine's delivery header is read as it is; the sockmap verdict's, the
 * wire header with h_ack = the sender's slot or as it came from the socket's
 * peer, decodes to the same fields. */
static void test_deliv_hdr(void)
{
	const struct rdsb_deliv_hdr engine = { .seq = 0x0102030405060708ULL, .decoded = RDSB_DELIV_DECODED,
					       .len = 1000, .sport = 4000, .dport = 5000, .flags = 0x04,
					       .slot = 7 };
	struct rdsb_hdr h = { .seq = engine.seq, .ack = engine.slot, .len = engine.len, .sport = engine.sport,
			      .dport = engine.dport, .flags = engine.flags, .credit = 9, .csum = 0x5152 };
	union {
		struct rdsb_deliv_hdr d;
		struct rds_header w;
	} rec;

	CHECK_EQ(sizeof(struct rdsb_deliv_hdr), RDS_HEADER_SIZE);
	CHECK_EQ(offsetof(struct rdsb_deliv_hdr, decoded), offsetof(struct rds_header, h_ack));

	rec.d = engine;
	rdsb_deliv_hdr_decode(&rec.d, 3);
	CHECK_MEM(&rec.d, &engine, sizeof(engine));

	/* the verdict wrote the sender's slot: the socket's peer is not it */
	for (int i = 0; i < 16; i++)
		h.exthdr[i] = (uint8_t)(0x60 + i);
	h.flags = engine.flags | RDSB_DELIV_SLOT;
	rdsb_hdr_encode(&h, &rec.w);
	rdsb_deliv_hdr_decode(&rec.d, 3);
	CHECK_MEM(&rec.d, &engine, sizeof(engine));

	/* a record of the socket's peer, as it came (h_ack whatever the
	 * peer wrote): its sender is the peer */
	h.flags = engine.flags;
	h.ack = 0x1234;
	rdsb_hdr_encode(&h, &rec.w);
	rdsb_deliv_hdr_decode(&rec.d, engine.slot + 1);
	CHECK_MEM(&rec.d, &engine, sizeof(engine));

	/* as it came, and no peer known: no address (msg_namelen 0) */
	rdsb_hdr_encode(&h, &rec.w);
	rdsb_deliv_hdr_decode(&rec.d, 0);
	CHECK_EQ(rec.d.slot, RDSB_MAX_ADDRS);

	/* a slot the verdict never writes is no address */
	h.flags = engine.flags | RDSB_DELIV_SLOT;
	h.ack = (uint64_t)RDSB_MAX_ADDRS << 32;
	rdsb_hdr_encode(&h, &rec.w);
	rdsb_deliv_hdr_decode(&rec.d, engine.slot + 1);
	CHECK_EQ(rec.d.slot, RDSB_MAX_ADDRS);
	CHECK_EQ(rec.d.len, engine.len);
	CHECK_EQ(rec.d.flags, engine.flags);
	CHECK_EQ(rec.d.decoded, RDSB_DELIV_DECODED);
}

int main(void)
{
	test_header_layout();
	test_header_encode_known();
	test_header_probe_ping();
	test_header_roundtrip_random();
	test_deliv_hdr();
	test_addr_cmp();
	return check_done();
}
