// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for the extension header code in user/common/wire.c, against
 * the kernel's rules (message.c rds_message_next_extension, recv.c
 * rds_recv_hs_exthdrs; docs/protocol.md §1.2, §2.3, §2.4, §6).
 *
 * Also a sanitizer check by hand:
 *   gcc -fsanitize=address,undefined -Iinclude -Iuser/common \
 *       tests/unit/test_exthdr.c user/common/wire.c -o /tmp/t && /tmp/t
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../user/common/wire.h"
#include "check.h"

#define ES RDS_HEADER_EXT_SPACE

/* Every exthdr handed to the code under test lives in an exact 16-byte heap
 * block, so that ASan reports any read past byte 15. */
static uint8_t *ext_dup(const uint8_t src[ES])
{
	uint8_t *p = malloc(ES);

	if (!p)
		abort();
	memcpy(p, src, ES);
	return p;
}

static void hs_of(const uint8_t src[ES], struct rdsb_hs *hs)
{
	uint8_t *e = ext_dup(src);

	memset(hs, 0xa5, sizeof(*hs));
	rdsb_hs_decode(e, hs);
	free(e);
}

static void test_sizes(void)
{
	static const int want[16] = { 0, 4, 4, 8, 8, 2, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0 };

	for (unsigned int t = 0; t < 16; t++)
		CHECK_EQ(rdsb_exthdr_size(t), want[t]);
	CHECK_EQ(rdsb_exthdr_size(16), -1);
	CHECK_EQ(rdsb_exthdr_size(17), -1);
	CHECK_EQ(rdsb_exthdr_size(255), -1);
	CHECK_EQ(rdsb_exthdr_size(0x100), -1);
}

static void test_hs_encode(void)
{
	uint8_t ext[ES];
	static const uint8_t want[ES] = { 0x05, 0x00, 0x08, 0x06, 0xa1, 0xb2, 0xc3, 0xd4,
					  0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t want0[ES] = { 0x05, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00, 0x00,
					   0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t want_big[ES] = { 0x05, 0x12, 0x34, 0x06, 0xff, 0xfe, 0xfd, 0xfc,
					      0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	struct rdsb_hs hs;

	memset(ext, 0xee, sizeof(ext)); /* everything after the list must be zeroed */
	rdsb_hs_encode(ext, 8, 0xa1b2c3d4, 0);
	CHECK_MEM(ext, want, ES);

	memset(ext, 0xee, sizeof(ext));
	rdsb_hs_encode(ext, 8, 0, 0);
	CHECK_MEM(ext, want0, ES);

	rdsb_hs_encode(ext, 0x1234, 0xfffefdfc, 0);
	CHECK_MEM(ext, want_big, ES);

	/* And it decodes back. */
	hs_of(want, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 8);
	CHECK(hs.has_gen);
	CHECK_EQ(hs.gen, 0xa1b2c3d4);
	CHECK(hs.has_sport_idx);
	CHECK_EQ(rdsb_hs_npaths(&hs), 8);

	/* The walk: NPATHS @0, GEN_NUM @3, SPORT_IDX @8, then the 0 at byte 10 ends it. */
	uint8_t *e = ext_dup(want), buf[8];
	unsigned int pos = 0;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NPATHS);
	CHECK_EQ(pos, 3);
	CHECK(buf[0] == 0x00 && buf[1] == 0x08);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_GEN_NUM);
	CHECK_EQ(pos, 8);
	CHECK(buf[0] == 0xa1 && buf[1] == 0xb2 && buf[2] == 0xc3 && buf[3] == 0xd4);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_SPORT_IDX);
	CHECK_EQ(pos, 10);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);
}

static void test_hs_decode_legacy(void)
{
	/* A legacy kernel's probe carries only NPATHS (docs/protocol.md §1.2). */
	static const uint8_t legacy[ES] = { 0x05, 0x00, 0x08 };
	struct rdsb_hs hs;

	hs_of(legacy, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 8);
	CHECK(!hs.has_gen);
	CHECK_EQ(hs.gen, 0);
	CHECK(!hs.has_sport_idx);
	CHECK_EQ(rdsb_hs_npaths(&hs), 8);

	/* A non-mp peer's pong: nothing → npaths 1. */
	static const uint8_t none[ES] = { 0 };
	hs_of(none, &hs);
	CHECK(!hs.has_npaths && !hs.has_gen && !hs.has_sport_idx);
	CHECK_EQ(rdsb_hs_npaths(&hs), 1);

	/* A 0 type ends the list: a later NPATHS is not seen. */
	static const uint8_t after_none[ES] = { 0x00, 0x05, 0x00, 0x04 };
	hs_of(after_none, &hs);
	CHECK(!hs.has_npaths);
	CHECK_EQ(rdsb_hs_npaths(&hs), 1);
	static const uint8_t two_then_none[ES] = { 0x05, 0x00, 0x02, 0x00, 0x05, 0x00, 0x04 };
	hs_of(two_then_none, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 2);

	/* A repeated NPATHS: the last one wins, as in the kernel's loop. */
	static const uint8_t twice[ES] = { 0x05, 0x00, 0x02, 0x05, 0x00, 0x04 };
	hs_of(twice, &hs);
	CHECK_EQ(hs.npaths, 4);
}

static void test_npaths_clamp(void)
{
	static const struct {
		uint16_t wire;
		unsigned int want;
	} cases[] = {
		{ 0, 1 }, { 1, 1 }, { 2, 2 }, { 3, 3 }, { 7, 7 }, { 8, 8 }, { 9, 8 },
		{ 200, 8 }, { 0x0100, 8 }, { 0x8000, 8 }, { 0xffff, 8 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t ext[ES] = { 0x05, (uint8_t)(cases[i].wire >> 8), (uint8_t)cases[i].wire };
		struct rdsb_hs hs;

		hs_of(ext, &hs);
		CHECK(hs.has_npaths);
		CHECK_EQ(hs.npaths, cases[i].wire); /* as received, before clamping */
		CHECK_EQ(rdsb_hs_npaths(&hs), cases[i].want);
	}

	/* Straight on the struct. */
	struct rdsb_hs hs = { 0 };
	CHECK_EQ(rdsb_hs_npaths(&hs), 1); /* absent */
	hs.npaths = 5;
	CHECK_EQ(rdsb_hs_npaths(&hs), 1); /* a value without has_npaths is absent */
	hs.has_npaths = true;
	CHECK_EQ(rdsb_hs_npaths(&hs), 5);
	hs.npaths = 0;
	CHECK_EQ(rdsb_hs_npaths(&hs), 1);
	hs.npaths = 200;
	CHECK_EQ(rdsb_hs_npaths(&hs), 8);
}

static void test_type_ge_16_stops(void)
{
	struct rdsb_hs hs;
	uint8_t buf[8];
	unsigned int pos;

	static const uint8_t t16_first[ES] = { 0x10, 0x05, 0x00, 0x04 };
	hs_of(t16_first, &hs);
	CHECK(!hs.has_npaths);
	CHECK_EQ(rdsb_hs_npaths(&hs), 1);

	static const uint8_t tff_first[ES] = { 0xff, 0x05, 0x00, 0x04 };
	hs_of(tff_first, &hs);
	CHECK(!hs.has_npaths);

	/* NPATHS, then 16: NPATHS kept, the GEN_NUM behind the 16 never seen. */
	static const uint8_t t16_second[ES] = { 0x05, 0x00, 0x04, 0x10, 0x06, 0, 0, 0, 9 };
	hs_of(t16_second, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 4);
	CHECK(!hs.has_gen);

	uint8_t *e = ext_dup(t16_second);
	pos = 0;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NPATHS);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	for (unsigned int t = 16; t < 256; t++) {
		uint8_t ext[ES] = { (uint8_t)t, 0x05, 0x00, 0x04 };

		e = ext_dup(ext);
		pos = 0;
		if (!CHECK(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)) == RDS_EXTHDR_NONE))
			fprintf(stderr, "    type %u\n", t);
		free(e);
	}
}

static void test_truncated(void)
{
	struct rdsb_hs hs;
	uint8_t buf[8];
	unsigned int pos;
	uint8_t *e;

	/* NPATHS(3) + GEN(5) + GEN(5) = 13 bytes, then GEN_NUM at byte 13:
	 * its data would be 14..17, past 16 → the list stops there. */
	static const uint8_t gen_at_13[ES] = { 0x05, 0x00, 0x02,
					       0x06, 0x00, 0x00, 0x00, 0x01,
					       0x06, 0x00, 0x00, 0x00, 0x02,
					       0x06, 0x00, 0x03 };
	hs_of(gen_at_13, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 2);
	CHECK(hs.has_gen);
	CHECK_EQ(hs.gen, 2); /* from the second, complete GEN_NUM; not 0x0003xxxx */
	e = ext_dup(gen_at_13);
	pos = 0;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NPATHS);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_GEN_NUM);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_GEN_NUM);
	CHECK_EQ(pos, 13);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	CHECK(pos == 13 || pos == 16); /* kernel sets 16; either way, no more */
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	/* GEN(5) + GEN(5) + SPORT(2) + SPORT(2) = 14, then NPATHS at 14: data 15..16 → stop. */
	static const uint8_t np_at_14[ES] = { 0x06, 0, 0, 0, 1, 0x06, 0, 0, 0, 2,
					      0x08, 0x00, 0x08, 0x00, 0x05, 0x07 };
	hs_of(np_at_14, &hs);
	CHECK(!hs.has_npaths);
	CHECK_EQ(rdsb_hs_npaths(&hs), 1);
	CHECK(hs.has_gen);
	CHECK(hs.has_sport_idx);

	/* NPATHS at 12..14, then a type 0xff at 15: NPATHS kept, then stop. */
	static const uint8_t np_at_12[ES] = { 0x06, 0, 0, 0, 1, 0x06, 0, 0, 0, 2,
					      0x08, 0x00, 0x05, 0x00, 0x03, 0xff };
	hs_of(np_at_12, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 3);
	/* NPATHS at 13..15 ends exactly at 16: accepted (no terminator needed). */
	static const uint8_t np_at_13[ES] = { 0x06, 0, 0, 0, 1, 0x06, 0, 0, 0, 2,
					      0x07, 0x07, 0x07, 0x05, 0x00, 0x03 };
	hs_of(np_at_13, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 3);
	e = ext_dup(np_at_13);
	pos = 10;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 7);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 7);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 7);
	CHECK_EQ(pos, 13);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NPATHS);
	CHECK_EQ(pos, 16);
	CHECK(buf[0] == 0x00 && buf[1] == 0x03);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	/* One byte left: SPORT_IDX (needs 1 data byte) at 15 is truncated;
	 * an unknown type (size 0) at 15 is consumed and the list ends at 16;
	 * VERSION (4) at 15 is truncated. */
	uint8_t last[ES];
	memset(last, 0x07, sizeof(last)); /* fifteen unknown, zero-length entries */
	last[15] = 0x08;
	e = ext_dup(last);
	pos = 0;
	for (int i = 0; i < 15; i++)
		CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 7);
	CHECK_EQ(pos, 15);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);
	hs_of(last, &hs);
	CHECK(!hs.has_sport_idx);

	last[15] = 0x09;
	e = ext_dup(last);
	pos = 15;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 9);
	CHECK_EQ(pos, 16);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	last[15] = 0x01;
	e = ext_dup(last);
	pos = 15;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	/* pos at or past the end. */
	e = ext_dup(gen_at_13);
	pos = 16;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	pos = 1000;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);
}

static void test_unknown_types(void)
{
	struct rdsb_hs hs;
	uint8_t buf[8];
	unsigned int pos;
	uint8_t *e;

	/* 07 05 00 04: 7 consumes only its type byte; NPATHS=4 follows. */
	static const uint8_t u7[ES] = { 0x07, 0x05, 0x00, 0x04 };
	hs_of(u7, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 4);
	CHECK_EQ(rdsb_hs_npaths(&hs), 4);
	e = ext_dup(u7);
	pos = 0;
	memset(buf, 0xcc, sizeof(buf));
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), 7);
	CHECK_EQ(pos, 1);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NPATHS);
	CHECK_EQ(pos, 4);
	CHECK(buf[0] == 0x00 && buf[1] == 0x04);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);

	static const uint8_t u9[ES] = { 0x09, 0x05, 0x00, 0x04 };
	hs_of(u9, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 4);

	for (unsigned int t = 9; t < 16; t++) {
		uint8_t ext[ES] = { (uint8_t)t, 0x05, 0x00, 0x03, (uint8_t)t, 0x06, 0, 0, 0, 0x2a };

		hs_of(ext, &hs);
		if (!CHECK(hs.has_npaths && hs.npaths == 3 && hs.has_gen && hs.gen == 42))
			fprintf(stderr, "    type %u\n", t);
	}

	/* A run of unknown types up to an NPATHS at 12..14. */
	static const uint8_t run[ES] = { 7, 9, 10, 11, 12, 13, 14, 15, 7, 7, 7, 7, 0x05, 0x00, 0x06 };
	hs_of(run, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 6);

	/* A legacy kernel reading the 2026 probe skips SPORT_IDX as unknown and
	 * stops at its dummy 0; our parser knows SPORT_IDX, same outcome. */
	static const uint8_t v2026[ES] = { 0x05, 0x00, 0x08, 0x06, 0, 0, 0, 7, 0x08, 0x00 };
	hs_of(v2026, &hs);
	CHECK(hs.has_npaths && hs.npaths == 8 && hs.has_gen && hs.gen == 7 && hs.has_sport_idx);
}

static void test_exact_fill_and_add(void)
{
	uint8_t ext[ES], buf[8];
	unsigned int pos = 0;
	static const uint8_t dest[8] = { 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7 };
	static const uint8_t gen[4] = { 0x11, 0x22, 0x33, 0x44 };
	static const uint8_t idx = 0;
	static const uint8_t want[ES] = { 0x03, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
					  0x06, 0x11, 0x22, 0x33, 0x44, 0x08, 0x00 };

	memset(ext, 0, sizeof(ext));
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_RDMA_DEST, dest));
	CHECK_EQ(pos, 9);
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, gen));
	CHECK_EQ(pos, 14);
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx));
	CHECK_EQ(pos, 16);
	CHECK_MEM(ext, want, ES); /* 16 bytes used, no terminator */
	/* Full: nothing more fits, and nothing is written. */
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx));
	CHECK(!rdsb_exthdr_add(ext, &pos, 7, &idx));
	CHECK_EQ(pos, 16);
	CHECK_MEM(ext, want, ES);

	/* Walk the full list. */
	uint8_t *e = ext_dup(want);
	pos = 0;
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_RDMA_DEST);
	CHECK_MEM(buf, dest, 8);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_GEN_NUM);
	CHECK_MEM(buf, gen, 4);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_SPORT_IDX);
	CHECK_EQ(pos, 16);
	CHECK_EQ(rdsb_exthdr_next(e, &pos, buf, sizeof(buf)), RDS_EXTHDR_NONE);
	free(e);
	struct rdsb_hs hs;
	hs_of(want, &hs);
	CHECK(!hs.has_npaths && hs.has_gen && hs.gen == 0x11223344 && hs.has_sport_idx);

	/* GEN + GEN + NPATHS + NPATHS = 16 exactly; the last NPATHS is read. */
	static const uint8_t np[2] = { 0x00, 0x05 }, np2[2] = { 0x00, 0x02 };
	static const uint8_t want2[ES] = { 0x06, 0x11, 0x22, 0x33, 0x44, 0x06, 0x11, 0x22,
					   0x33, 0x44, 0x05, 0x00, 0x02, 0x05, 0x00, 0x05 };
	memset(ext, 0, sizeof(ext));
	pos = 0;
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, gen));
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, gen));
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NPATHS, np2));
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NPATHS, np));
	CHECK_EQ(pos, 16);
	CHECK_MEM(ext, want2, ES);
	hs_of(want2, &hs);
	CHECK(hs.has_npaths);
	CHECK_EQ(hs.npaths, 5);

	/* Refusals leave ext and pos alone. */
	uint8_t before[ES];
	memset(ext, 0x5a, sizeof(ext));
	memcpy(before, ext, ES);
	pos = 12; /* GEN_NUM needs 5: 12 + 5 = 17 */
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, gen));
	CHECK_EQ(pos, 12);
	pos = 14; /* NPATHS needs 3 */
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NPATHS, np));
	CHECK_EQ(pos, 14);
	pos = 8; /* RDMA_DEST needs 9 */
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_RDMA_DEST, dest));
	CHECK_EQ(pos, 8);
	pos = 15; /* SPORT_IDX needs 2 */
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx));
	CHECK_EQ(pos, 15);
	pos = 0;
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NONE, &idx));
	CHECK(!rdsb_exthdr_add(ext, &pos, 16, &idx));
	CHECK(!rdsb_exthdr_add(ext, &pos, 255, &idx));
	CHECK(!rdsb_exthdr_add(ext, &pos, 0x10005, np)); /* not truncated to type 5 */
	CHECK_EQ(pos, 0);
	pos = 17;
	CHECK(!rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx));
	CHECK_EQ(pos, 17);
	CHECK_MEM(ext, before, ES);

	/* ...and the boundary cases that do fit. */
	pos = 11;
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, gen));
	CHECK_EQ(pos, 16);
	CHECK(ext[11] == 0x06 && ext[12] == 0x11 && ext[15] == 0x44);
	CHECK_EQ(ext[10], 0x5a);
	pos = 13;
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NPATHS, np));
	CHECK_EQ(pos, 16);
	pos = 14;
	CHECK(rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx));
	CHECK_EQ(pos, 16);
	CHECK(ext[14] == 0x08 && ext[15] == 0x00);
}

static void test_small_buffer(void)
{
	/* buflen smaller than the entry: only buflen bytes written, pos still
	 * advances by the full entry. */
	static const uint8_t ext[ES] = { 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 0x05, 0x00, 0x04 };
	uint8_t guard[12];
	unsigned int pos = 0;
	uint8_t *e = ext_dup(ext);

	memset(guard, 0xcc, sizeof(guard));
	CHECK_EQ(rdsb_exthdr_next(e, &pos, guard + 4, 2), RDS_EXTHDR_RDMA_DEST);
	CHECK_EQ(pos, 9);
	CHECK(guard[4] == 1 && guard[5] == 2);
	CHECK(guard[3] == 0xcc && guard[6] == 0xcc && guard[7] == 0xcc);
	memset(guard, 0xcc, sizeof(guard));
	CHECK_EQ(rdsb_exthdr_next(e, &pos, guard + 4, 4), RDS_EXTHDR_NPATHS);
	CHECK_EQ(pos, 12);
	CHECK(guard[4] == 0 && guard[5] == 4);
	CHECK(guard[3] == 0xcc && guard[8] == 0xcc); /* nothing outside buf[0..buflen) */
	free(e);
}

/* ---------------------------------------------------------------- fuzz */

/* The kernel's rds_message_next_extension (message.c), transcribed. */
static const unsigned int kernel_size[16] = { 0, 4, 4, 8, 8, 2, 4, 0, 1 };

static unsigned int ref_next(const uint8_t *src, unsigned int *pos, uint8_t *buf,
			     unsigned int *buflen)
{
	unsigned int offset = *pos, type, len;

	if (offset >= ES)
		goto none;
	type = src[offset++];
	if (type == 0 || type >= 16)
		goto none;
	len = kernel_size[type];
	if (offset + len > ES)
		goto none;
	*pos = offset + len;
	if (len < *buflen)
		*buflen = len;
	memcpy(buf, src + offset, *buflen);
	return type;
none:
	*pos = ES;
	*buflen = 0;
	return 0;
}

/* recv.c rds_recv_hs_exthdrs over the reference parser. */
static void ref_hs(const uint8_t *src, struct rdsb_hs *hs)
{
	unsigned int pos = 0, type, len;
	uint8_t buf[8];

	memset(hs, 0, sizeof(*hs));
	for (;;) {
		len = sizeof(buf);
		type = ref_next(src, &pos, buf, &len);
		if (!type)
			break;
		if (type == RDS_EXTHDR_NPATHS) {
			hs->has_npaths = true;
			hs->npaths = (uint16_t)(buf[0] << 8 | buf[1]);
		} else if (type == RDS_EXTHDR_GEN_NUM) {
			hs->has_gen = true;
			hs->gen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
				  (uint32_t)buf[2] << 8 | buf[3];
		} else if (type == RDS_EXTHDR_SPORT_IDX) {
			hs->has_sport_idx = true;
		}
	}
}

static uint64_t rng = 0x0123456789abcdefULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void test_fuzz(void)
{
	unsigned long bad_walk = 0, bad_ref = 0, bad_hs = 0, bad_guard = 0, bad_np = 0;
	unsigned long saw_type[256] = { 0 };

	for (int iter = 0; iter < 100000; iter++) {
		uint8_t src[ES];
		int mode = iter % 4;

		for (int i = 0; i < ES; i++) {
			uint32_t r = rnd();

			if (mode == 0)
				src[i] = (uint8_t)r; /* uniform */
			else if (mode == 1)
				src[i] = (uint8_t)(r % 17); /* valid types and 16 */
			else if (mode == 2)
				src[i] = (uint8_t)(1 + r % 9); /* no 0: runs to the end */
			else
				src[i] = (r & 0x100) ? (uint8_t)(5 + (r % 4)) : (uint8_t)r;
		}

		uint8_t *e = ext_dup(src);
		unsigned int pos = 0, rpos = 0, steps = 0, type, rtype;
		uint8_t area[8 + 8 + 8], rbuf[8];

		for (;;) {
			unsigned int prev = pos, rlen = sizeof(rbuf);

			memset(area, 0xcc, sizeof(area));
			type = rdsb_exthdr_next(e, &pos, area + 8, 8);
			rtype = ref_next(src, &rpos, rbuf, &rlen);
			saw_type[type]++;
			for (int i = 0; i < 8; i++)
				if (area[i] != 0xcc || area[16 + i] != 0xcc)
					bad_guard++;
			if (type != rtype)
				bad_ref++;
			if (type == RDS_EXTHDR_NONE)
				break;
			if (pos <= prev || pos > ES || pos != rpos ||
			    memcmp(area + 8, rbuf, rlen) != 0)
				bad_walk++;
			if (++steps > ES) {
				bad_walk++;
				break;
			}
		}

		struct rdsb_hs hs, rhs;
		memset(&hs, 0xa5, sizeof(hs));
		rdsb_hs_decode(e, &hs);
		ref_hs(src, &rhs);
		if (hs.has_npaths != rhs.has_npaths || hs.has_gen != rhs.has_gen ||
		    hs.has_sport_idx != rhs.has_sport_idx ||
		    (rhs.has_npaths && hs.npaths != rhs.npaths) || (rhs.has_gen && hs.gen != rhs.gen))
			bad_hs++;
		unsigned int n = rdsb_hs_npaths(&hs);
		unsigned int want = rhs.has_npaths ? (rhs.npaths > 8 ? 8 : rhs.npaths) : 1;
		if (!want)
			want = 1;
		if (n != want || n < 1 || n > 8)
			bad_np++;
		free(e);
	}
	CHECK_EQ(bad_walk, 0);
	CHECK_EQ(bad_ref, 0);
	CHECK_EQ(bad_hs, 0);
	CHECK_EQ(bad_guard, 0);
	CHECK_EQ(bad_np, 0);
	/* The generator did reach every type below 16 (the fuzz is not vacuous). */
	for (unsigned int t = 1; t < 16; t++)
		CHECK(saw_type[t] > 0);
	for (unsigned int t = 16; t < 256; t++)
		CHECK_EQ(saw_type[t], 0);
}

/* rds-bpf's own extension (docs/protocol.md 1.4): last, at byte 10, where
 * a kernel's walk ends; its byte is masked to what it defines, and it is
 * read only where the kernel's walk ended. */
static void test_hs_deliv(void)
{
	static const uint8_t want[ES] = { 0x05, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00, 0x07,
					  0x08, 0x00, 0xd0, 0x03, 0x00, 0x00, 0x00, 0x00 };
	uint8_t ext[ES], buf[8];
	unsigned int pos = 0, n = 0;
	struct rdsb_hs hs;

	memset(ext, 0xee, sizeof(ext));
	rdsb_hs_encode(ext, 8, 7, RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS);
	CHECK_MEM(ext, want, ES);
	hs_of(want, &hs);
	CHECK(hs.has_npaths && hs.npaths == 8 && hs.has_gen && hs.gen == 7 && hs.has_sport_idx);
	CHECK_EQ(hs.deliv, RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS);
	/* the kernel's walk sees NPATHS, GEN_NUM, SPORT_IDX and stops at ours */
	while (rdsb_exthdr_next(want, &pos, buf, sizeof(buf)) != RDS_EXTHDR_NONE)
		n++;
	CHECK_EQ(n, 3);
	CHECK_EQ(pos, 10);

	/* unknown bits are not ours to read */
	static const uint8_t extra[ES] = { 0x05, 0x00, 0x08, 0xd0, 0xfd };
	hs_of(extra, &hs);
	CHECK_EQ(hs.deliv, RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_LANES_NAMED);
	static const uint8_t lanes[ES] = { 0xd0, 0xfc };
	hs_of(lanes, &hs);
	CHECK_EQ(hs.deliv, RDSB_DELIV_LANES_NAMED);
	static const uint8_t reads[ES] = { 0xd0, 0x02 };
	hs_of(reads, &hs);
	CHECK(!hs.has_npaths && hs.deliv == RDSB_DELIV_READS_ACKS);

	/* no room for its byte: absent */
	uint8_t last[ES] = { 0 };
	last[15] = 0xd0;
	hs_of(last, &hs);
	CHECK_EQ(hs.deliv, 0);
	/* after a 0 that ends the list, or behind another type of 16 or
	 * more, or behind a truncated extension: not where the walk ended */
	static const uint8_t after_none[ES] = { 0x05, 0x00, 0x08, 0x00, 0xd0, 0x03 };
	hs_of(after_none, &hs);
	CHECK_EQ(hs.deliv, 0);
	static const uint8_t after_other[ES] = { 0x05, 0x00, 0x08, 0x11, 0xd0, 0x03 };
	hs_of(after_other, &hs);
	CHECK_EQ(hs.deliv, 0);
	/* VERSION, VERSION, NPATHS, then GEN_NUM at 13 needs 4 bytes, has 2 */
	static const uint8_t trunc[ES] = { 0x01, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x05, 0x00, 0x08,
					   0x06, 0xd0, 0x03 };
	hs_of(trunc, &hs);
	CHECK_EQ(hs.deliv, 0);
	/* without: nothing added */
	rdsb_hs_encode(ext, 8, 7, 0);
	CHECK_EQ(ext[10], 0);
}

int main(void)
{
	test_hs_deliv();
	test_sizes();
	test_hs_encode();
	test_hs_decode_legacy();
	test_npaths_clamp();
	test_type_ge_16_stops();
	test_truncated();
	test_unknown_types();
	test_exact_fill_and_add();
	test_small_buffer();
	test_fuzz();
	return check_done();
}
