// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The wire's rules as BPF runs them (tests/bpf/rules.bpf.c through
 * BPF_PROG_TEST_RUN) agree with the same functions in userspace and with
 * the published values: h_len at its boundaries, the congestion bit of the
 * first and last ports, the duplicate rule around next_rx_seq, the multipath
 * hash; then a random sweep of all of them. Needs root.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <rds-bpf/maps.h>
#include <rds-bpf/rules.h>
#include "../bpf/rules_io.h"
#include "rules.skel.h"
#include "check.h"

static struct rules *skel;
static int prog_fd;
static struct rdsb_cong_map map;

/* Runs the program on io; false if it did not run to XDP_PASS. */
static bool run(struct rules_io *io)
{
	struct rules_io out;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = io, .data_size_in = sizeof(*io),
		    .data_out = &out, .data_size_out = sizeof(out));

	if (bpf_prog_test_run_opts(prog_fd, &o) || o.retval != XDP_PASS ||
	    o.data_size_out != sizeof(out))
		return false;
	*io = out;
	return true;
}

/* What the same functions say in userspace. */
static struct rules_io expected(const struct rules_io *in)
{
	struct rules_io e = *in;

	e.h_len_ok = rdsb_h_len_ok(in->h_flags, in->h_len);
	e.is_cong_map = rdsb_is_cong_map(in->h_flags);
	e.msg_size_ok = rdsb_msg_size_ok(in->h_len);
	e.congested = rdsb_cong_test(map.bits, in->port);
	e.seq_accept = rdsb_seq_accept(&e.next_rx_seq, in->seq, in->h_flags);
	e.jhash = rdsb_jhash_1word(in->port, in->initval);
	e.path = rdsb_mpath_hash(in->port, in->initval, in->npaths);
	return e;
}

/* Runs one input; true when BPF and userspace agree on every field. */
static bool agree(const struct rules_io *in, struct rules_io *got)
{
	struct rules_io want = expected(in);

	*got = *in;
	return run(got) && !memcmp(got, &want, sizeof(want));
}

static void test_h_len(void)
{
	static const __u32 lens[] = { 0, 1, 8191, 8192, 8193, 1048575, 1048576, 1048577, 0xffffffff };
	static const __u8 flags[] = { 0x00, RDS_FLAG_CONG_BITMAP, 0x05, RDS_FLAG_RETRANSMITTED, 0xff };
	struct rules_io in = { 0 }, got;

	for (size_t f = 0; f < sizeof(flags); f++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			in.h_flags = flags[f];
			in.h_len = lens[l];
			CHECK(agree(&in, &got));
		}
	}
	/* and what they agree on is the rule */
	in.h_flags = 0;
	in.h_len = 1048576;
	CHECK(run(&in) && in.h_len_ok && in.msg_size_ok && !in.is_cong_map);
	in.h_len = 1048577;
	CHECK(run(&in) && !in.h_len_ok && !in.msg_size_ok);
	in.h_len = 0;
	CHECK(run(&in) && in.h_len_ok);
	in.h_flags = RDS_FLAG_CONG_BITMAP;
	in.h_len = 8192;
	CHECK(run(&in) && in.h_len_ok && in.is_cong_map);
	in.h_len = 8193;
	CHECK(run(&in) && !in.h_len_ok);
	in.h_len = 8191;
	CHECK(run(&in) && !in.h_len_ok);
}

/* Port p congested in the map BPF reads, and only p. */
static bool congest_only(__u16 port)
{
	__u32 key = 0;

	memset(&map, 0, sizeof(map));
	rdsb_cong_set(map.bits, port);
	return !bpf_map_update_elem(bpf_map__fd(skel->maps.cong), &key, &map, BPF_ANY);
}

static void test_cong_bit(void)
{
	static const __u16 ports[] = { 0, 1, 7, 8, 9, 4000, 18634, 65527, 65528, 65534, 65535 };
	struct rules_io in = { 0 };

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		CHECK(congest_only(ports[i]));
		in.port = ports[i];
		CHECK(run(&in) && in.congested);
		in.port = ports[i] ^ 1;
		CHECK(run(&in) && !in.congested);
		in.port = ports[i] ^ 8;
		CHECK(run(&in) && !in.congested);
	}
}

static void test_seq(void)
{
	struct rules_io in = { .next_rx_seq = 5 };

	in.seq = 4;
	in.h_flags = RDS_FLAG_RETRANSMITTED;
	CHECK(run(&in) && !in.seq_accept && in.next_rx_seq == 5);
	in.seq = 5;
	CHECK(run(&in) && in.seq_accept && in.next_rx_seq == 6);
	in.seq = 9;
	CHECK(run(&in) && in.seq_accept && in.next_rx_seq == 10);
	in.seq = 3;
	in.h_flags = 0;
	CHECK(run(&in) && in.seq_accept && in.next_rx_seq == 4);
	in.next_rx_seq = 0x100000000ULL;
	in.seq = 0xffffffffULL;
	in.h_flags = RDS_FLAG_RETRANSMITTED;
	CHECK(run(&in) && !in.seq_accept && in.next_rx_seq == 0x100000000ULL);
}

static void test_mpath(void)
{
	struct rules_io in = { .npaths = 8 };

	/* published lookup3 values, as test_rules.c checks them in userspace */
	in.port = 0;
	CHECK(run(&in) && in.jhash == 0x049396b8 && in.path == (0x049396b8 & 7));
	in.port = 1;
	CHECK(run(&in) && in.jhash == 0x72a82a9b && in.path == (0x72a82a9b & 7));
	in.port = 4000;
	in.npaths = 4;
	CHECK(run(&in) && in.jhash == 0xca590529 && in.path == (0xca590529 & 3));
	in.port = 65535;
	in.initval = 0xffffffff;
	in.npaths = 1;
	CHECK(run(&in) && in.jhash == 0x855ea287 && in.path == 0);
}

/* Random inputs, every rule at once: BPF and userspace agree. */
static void test_sweep(void)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;
	unsigned long bad = 0;
	struct rules_io in, got;

	CHECK(congest_only(18634));
	for (int i = 0; i < 20000; i++) {
		memset(&in, 0, sizeof(in));
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in.port = (__u16)x;
		in.initval = (__u32)(x >> 16);
		in.npaths = (__u32)(x >> 48) % 10;
		in.h_flags = (__u8)(x >> 56) & (RDS_FLAG_CONG_BITMAP | RDS_FLAG_RETRANSMITTED | 0x02);
		in.h_len = (x & 0x100) ? (__u32)(x >> 24) : 1048576 + (__u32)((x >> 40) & 3) - 1;
		in.next_rx_seq = (x >> 20) & 0xff;
		in.seq = in.next_rx_seq + ((x >> 28) & 3) - 1;
		if (i % 100 == 0)
			in.port = 18634;	/* now and then, the congested one */
		if (!agree(&in, &got))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_rules_bpf: needs root (BPF_PROG_TEST_RUN)\n");
		return 1;
	}
	skel = rules__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_rules_bpf: cannot load tests/bpf/rules.bpf.c: %s\n", strerror(errno));
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.rules);
	test_h_len();
	test_cong_bit();
	test_seq();
	test_mpath();
	test_sweep();
	rules__destroy(skel);
	return check_done();
}
