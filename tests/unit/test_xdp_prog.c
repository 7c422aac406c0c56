// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The transport's XDP program through BPF_PROG_TEST_RUN: good, truncated and
 * hostile frames, asserting the verdict, the counter it bumped and what it
 * changed in the maps (acked frame number, credit, congestion bits and
 * versions). Needs root; runs in a private network namespace with a veth
 * pair, so a real AF_XDP socket sits in the XSKMAP.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include <rds-bpf/maps.h>
#include "../../transports/xdp/frame.h"
#include "rdsx_xdp.skel.h"
#include "check.h"

static struct rdsx_xdp *skel;
static int prog_fd, ncpus, ifindex;

static const uint8_t A4[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 1 };
static const uint8_t B4[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 2 };
static const uint8_t C4[16] = { [10] = 0xff, [11] = 0xff, 10, 99, 0, 3 };	/* unknown */
static const uint8_t A6[16] = { 0xfd, 0x99, [15] = 1 };
static const uint8_t B6[16] = { 0xfd, 0x99, [15] = 2 };

#define CONN_B4 3	/* rdsx_conns index of B4 -> A4 */
#define CONN_B6 5
#define SLOT_B4 7	/* B4's congestion map slot */
#define EPOCH 0x1234

/* ------------------------------------------------------------ frames */

struct frame {
	uint8_t buf[2048];
	size_t len;
	struct rds_header *h;
	uint8_t *payload;
};

/* A frame from `from` to `to` on path `path` with `payload` bytes. */
static void frame(struct frame *f, const uint8_t *from, const uint8_t *to, unsigned int path,
		  uint32_t payload)
{
	struct rdsx_l3 l = { .v6 = from[10] != 0xff, .sport = (uint16_t)(RDSX_SPORT_BASE + path),
			     .dport = RDSX_PORT };

	memset(f, 0, sizeof(*f));
	memcpy(l.saddr, from, 16);
	memcpy(l.daddr, to, 16);
	f->len = rdsx_frame_build(f->buf, &l, RDS_HEADER_SIZE + payload);
	f->h = (struct rds_header *)(f->buf + rdsx_l2l4_len(l.v6));
	f->payload = f->buf + rdsx_l2l4_len(l.v6) + RDS_HEADER_SIZE;
	for (uint32_t i = 0; i < payload; i++)
		f->payload[i] = (uint8_t)(i * 7 + 1);
}

static void data_frame(struct frame *f, const uint8_t *from, const uint8_t *to, uint32_t frame_no,
		       uint64_t ack, uint32_t len)
{
	struct rdsx_fields fl = { .frame = frame_no, .epoch = 0x4321, .ack = ack, .credit = 9 };

	frame(f, from, to, 2, len);
	f->h->h_sequence = htobe64(1);
	f->h->h_len = htobe32(len);
	f->h->h_sport = htobe16(5000);
	f->h->h_dport = htobe16(4000);
	rdsx_fields_put(f->h, &fl);
}

static void ack_frame(struct frame *f, const uint8_t *from, uint64_t ack, uint8_t credit)
{
	struct rdsx_fields fl = { .epoch = 0x4321, .ack = ack, .credit = credit };

	frame(f, from, A4, 2, 0);
	rdsx_fields_put(f->h, &fl);
}

/* A map chunk on path 0, whose peer epoch 0x4321 the receiver knows (set
 * in test_cong_chunks). */
static void cong_frame(struct frame *f, uint16_t off, uint64_t ver, uint32_t payload, uint8_t fill)
{
	struct rdsx_fields fl = { .epoch = 0x4321 };

	frame(f, B4, A4, 0, payload);
	rdsx_fields_put(f->h, &fl);
	f->h->h_flags = RDS_FLAG_CONG_BITMAP;
	f->h->h_len = htobe32(RDS_CONG_MAP_BYTES);
	f->h->h_dport = htobe16(off);
	f->h->h_sequence = htobe64(ver);
	memset(f->payload, fill, payload);
}

/* ------------------------------------------------------------ running */

static uint64_t counter(enum rdsx_counter c)
{
	uint64_t v[ncpus], sum = 0;
	uint32_t k = c;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.rdsx_counters), &k, v))
		return ~0ull;
	for (int i = 0; i < ncpus; i++)
		sum += v[i];
	return sum;
}

static int run_len(const void *buf, size_t len)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	return (int)o.retval;
}

/* Runs a frame; checks the verdict and that exactly counter c moved by one. */
#define EXPECT(f, len, verdict, c)                                  \
	do {                                                        \
		uint64_t before_ = counter(c);                      \
		CHECK_EQ(run_len((f)->buf, (len)), (verdict));      \
		CHECK_EQ(counter(c), before_ + 1);                  \
	} while (0)

static struct rdsx_path *path_state(uint32_t conn, unsigned int path)
{
	static struct rdsx_path *paths;
	size_t sz = sizeof(struct rdsx_path) * RDSX_MAX_CONNS * RDS_MPATH_WORKERS;

	if (!paths) {
		paths = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED,
			     bpf_map__fd(skel->maps.rdsx_paths), 0);
		if (paths == MAP_FAILED) {
			perror("mmap rdsx_paths");
			exit(1);
		}
	}
	return &paths[conn * RDS_MPATH_WORKERS + path];
}

/* ------------------------------------------------------------ tests */

static void test_not_ours_passes(void)
{
	struct frame f;

	data_frame(&f, B4, A4, 1, 0, 10);
	f.buf[12] = 0x08;
	f.buf[13] = 0x06;	/* ARP */
	EXPECT(&f, f.len, XDP_PASS, RDSX_C_PASS);
	data_frame(&f, B4, A4, 1, 0, 10);
	f.buf[RDSX_ETH_LEN + 20 + 3] = 53;	/* UDP to another port */
	EXPECT(&f, f.len, XDP_PASS, RDSX_C_PASS);
	data_frame(&f, B4, A4, 1, 0, 10);
	f.buf[RDSX_ETH_LEN + 9] = 6;		/* TCP */
	EXPECT(&f, f.len, XDP_PASS, RDSX_C_PASS);
	data_frame(&f, B4, A4, 1, 0, 10);
	f.buf[RDSX_ETH_LEN] = 0x44;		/* IHL 4: not a valid IPv4 header */
	EXPECT(&f, f.len, XDP_PASS, RDSX_C_PASS);
	data_frame(&f, B6, A6, 1, 0, 10);
	f.buf[RDSX_ETH_LEN + 6] = 0;		/* IPv6 hop-by-hop first */
	EXPECT(&f, f.len, XDP_PASS, RDSX_C_PASS);
	/* cut inside the IP header: cannot be known as ours */
	EXPECT(&f, RDSX_ETH_LEN + 10, XDP_PASS, RDSX_C_PASS);
}

static void test_data_redirected_with_piggybacked_ack(void)
{
	struct rdsx_path *st = path_state(CONN_B4, 2);
	struct frame f;

	st->tx_epoch = EPOCH;
	st->acked = 0;
	st->sent = 20;
	data_frame(&f, B4, A4, 1, (uint64_t)EPOCH << 32 | 17, 1000);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
	CHECK_EQ(st->acked, 17);
	CHECK_EQ(st->credit, 9);
	CHECK_EQ(st->dup_acks, 0);
	/* IPv6 */
	data_frame(&f, B6, A6, 1, 0, 1000);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
	/* from a peer the engine does not know yet: userspace accepts it */
	data_frame(&f, C4, A4, 1, 0, 0);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
}

static void test_ack_only_consumed(void)
{
	struct rdsx_path *st = path_state(CONN_B4, 2);
	struct frame f;

	st->tx_epoch = EPOCH;
	st->acked = 100;
	st->sent = 200;
	st->dup_acks = 0;
	st->ack_frames = 0;
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 150, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(st->acked, 150);
	CHECK_EQ(st->credit, 4);
	CHECK_EQ(st->ack_frames, 1);
	/* the same ack again: a duplicate, acked stays */
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(st->acked, 150);
	CHECK_EQ(st->dup_acks, 1);
	/* an older one (reordered) never moves it back */
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 120, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(st->acked, 150);
	/* an ack beyond the last frame sent, one of nothing, a credit no
	 * receiver grants: not believed, acked and credit stay */
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 201, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_BEYOND_SENT);
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | (200 + 0x7fff0000u), 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_BEYOND_SENT);
	ack_frame(&f, B4, 0, 0);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_ACK);
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 160, RDSX_CREDIT_MAX + 1);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CREDIT);
	CHECK_EQ(st->acked, 150);
	CHECK_EQ(st->credit, 4);
	/* ...on data, the ack is refused and counted, the data goes on */
	data_frame(&f, B4, A4, 1, (uint64_t)EPOCH << 32 | 300, 10);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_ACK_BEYOND_SENT);
	CHECK_EQ(st->acked, 150);
	CHECK_EQ(st->credit, 4);
	/* frame numbers wrap: 0xfffffff0 -> 5 is forward */
	st->acked = 0xfffffff0u;
	st->sent = 10;
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 5, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(st->acked, 5);
	/* an ack of another epoch (from before a restart) is stale */
	ack_frame(&f, B4, (uint64_t)(EPOCH + 1) << 32 | 900, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_STALE);
	CHECK_EQ(st->acked, 5);
	/* from a peer with no connection */
	ack_frame(&f, C4, (uint64_t)EPOCH << 32 | 900, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_UNKNOWN_CONN);
	/* an "ack" carrying bytes */
	frame(&f, B4, A4, 2, 8);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
}

static int wake_seen(void *ctx, void *data, size_t size)
{
	uint32_t *idx = ctx;

	if (size == sizeof(*idx))
		memcpy(idx, data, sizeof(*idx));
	return 0;
}

/* An ack that advances acked wakes a sender waiting for one (ack_wake) once,
 * with the path's index; one that does not advance, or no one waiting, does
 * not. */
static void test_ack_wakes_waiting_sender(void)
{
	struct rdsx_path *st = path_state(CONN_B4, 2);
	struct ring_buffer *rb;
	uint32_t idx = ~0u;
	struct frame f;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.rdsx_wake), wake_seen, &idx, NULL);
	CHECK(rb != NULL);
	if (!rb)
		return;
	st->tx_epoch = EPOCH;
	st->acked = 10;
	st->sent = 100;
	st->ack_wake = 0;
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 20, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(ring_buffer__consume(rb), 0);		/* no one waits */
	st->ack_wake = 1;
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(ring_buffer__consume(rb), 0);		/* a duplicate: acked did not move */
	CHECK_EQ(st->ack_wake, 1);
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 30, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(ring_buffer__consume(rb), 1);
	CHECK_EQ(idx, CONN_B4 * RDS_MPATH_WORKERS + 2);
	CHECK_EQ(st->ack_wake, 0);
	/* a piggybacked ack on data wakes it too; then it stays quiet */
	st->ack_wake = 1;
	data_frame(&f, B4, A4, 1, (uint64_t)EPOCH << 32 | 40, 100);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
	CHECK_EQ(ring_buffer__consume(rb), 1);
	ack_frame(&f, B4, (uint64_t)EPOCH << 32 | 50, 4);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_ACK_CONSUMED);
	CHECK_EQ(ring_buffer__consume(rb), 0);
	CHECK_EQ(st->acked, 50);
	ring_buffer__free(rb);
}

static void test_cong_chunks(void)
{
	struct rdsb_cong_map map;
	uint32_t slot = SLOT_B4;
	int fd = bpf_map__fd(skel->maps.rdsb_cong);
	uint8_t want[RDSX_CONG_CHUNK];
	struct frame f;

	path_state(CONN_B4, 0)->rx_epoch = 0x4321;
	cong_frame(&f, 2048, 1000, RDSX_CONG_CHUNK, 0xa5);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_APPLIED);
	CHECK(!bpf_map_lookup_elem(fd, &slot, &map));
	memset(want, 0xa5, sizeof(want));
	CHECK_MEM(&map.bits[2048], want, RDSX_CONG_CHUNK);
	memset(want, 0, sizeof(want));
	CHECK_MEM(&map.bits[1024], want, RDSX_CONG_CHUNK);
	CHECK_MEM(&map.bits[3072], want, RDSX_CONG_CHUNK);
	/* the same version again, or an older one: consumed, map unchanged */
	cong_frame(&f, 2048, 1000, RDSX_CONG_CHUNK, 0x11);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_CONG_OLD);
	cong_frame(&f, 2048, 999, RDSX_CONG_CHUNK, 0x22);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_CONG_OLD);
	CHECK(!bpf_map_lookup_elem(fd, &slot, &map));
	CHECK_EQ(map.bits[2048], 0xa5);
	CHECK_EQ(map.bits[3071], 0xa5);
	/* the last chunk, newer */
	cong_frame(&f, 7168, 1001, RDSX_CONG_CHUNK, 0x3c);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_APPLIED);
	CHECK(!bpf_map_lookup_elem(fd, &slot, &map));
	CHECK_EQ(map.bits[8191], 0x3c);
	CHECK_EQ(map.bits[7167], 0);
	/* hostile: bad offsets, short chunk, wrong h_len, sequenced */
	cong_frame(&f, 1000, 2000, RDSX_CONG_CHUNK, 0xff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	cong_frame(&f, 8192, 2000, RDSX_CONG_CHUNK, 0xff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	cong_frame(&f, 0, 2000, RDSX_CONG_CHUNK - 1, 0xff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	cong_frame(&f, 0, 2000, RDSX_CONG_CHUNK, 0xff);
	f.h->h_len = htobe32(8191);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	f.h->h_len = htobe32(8193);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	f.h->h_len = htobe32(0);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	f.h->h_len = htobe32(RDS_MAX_MSG_SIZE);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	cong_frame(&f, 0, 2000, RDSX_CONG_CHUNK, 0xff);
	f.h->h_padding[3] = 1;
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_CONG);
	CHECK(!bpf_map_lookup_elem(fd, &slot, &map));
	CHECK_EQ(map.bits[0], 0);
	CHECK_EQ(map.bits[1023], 0);
}

static uint8_t cong_byte(uint32_t at)
{
	struct rdsb_cong_map map;
	uint32_t slot = SLOT_B4;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.rdsb_cong), &slot, &map))
		return 0xee;
	return map.bits[at];
}

/* Chunks from anyone but the path's peer, versions far ahead: refused. A
 * version ahead of the clock that got in anyway holds the chunk only until
 * it expires: then the genuine peer's next repeat replaces it. */
static void test_cong_spoofed(void)
{
	struct rdsx_path *st = path_state(CONN_B4, 0);
	int fd = bpf_map__fd(skel->maps.rdsx_cong_ver);
	uint32_t ci = CONN_B4;
	struct rdsx_cong_ver cv;
	struct frame f;

	st->rx_epoch = 0x4321;
	st->tx_epoch = EPOCH;
	st->sent = 50;
	cong_frame(&f, 0, 5000, RDSX_CONG_CHUNK, 0x01);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_APPLIED);
	/* another epoch, no ack: not the path's peer, whatever the version */
	cong_frame(&f, 0, ~0ull, RDSX_CONG_CHUNK, 0xff);
	f.h->h_csum = htobe16(0x4322);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_CONG_FOREIGN);
	/* an ack of another epoch, or beyond what was sent, proves nothing */
	f.h->h_ack = htobe64((uint64_t)(EPOCH + 1) << 32 | 3);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_CONG_FOREIGN);
	f.h->h_ack = htobe64((uint64_t)EPOCH << 32 | 51);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_CONG_FOREIGN);
	CHECK_EQ(cong_byte(0), 0x01);
	/* a peer whose data we have not seen yet proves itself by its ack */
	st->rx_epoch = 0;
	f.h->h_ack = htobe64((uint64_t)EPOCH << 32 | 50);
	f.h->h_sequence = htobe64(5001);
	memset(f.payload, 0x02, RDSX_CONG_CHUNK);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_APPLIED);
	st->rx_epoch = 0x4321;
	/* the path's peer, but a version far beyond the time since the last */
	cong_frame(&f, 0, ~0ull, RDSX_CONG_CHUNK, 0xff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_CONG_TOO_NEW);
	cong_frame(&f, 0, 5001 + RDSX_CONG_SLACK_US + 1000000, RDSX_CONG_CHUNK, 0xff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_CONG_TOO_NEW);
	CHECK_EQ(cong_byte(0), 0x02);
	/* within the slack: applied; the genuine map's version (5001) is
	 * now older and refused... */
	cong_frame(&f, 0, 5001 + RDSX_CONG_SLACK_US / 2, RDSX_CONG_CHUNK, 0xff);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_APPLIED);
	cong_frame(&f, 0, 5001, RDSX_CONG_CHUNK, 0x02);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_CONG_OLD);
	CHECK_EQ(cong_byte(0), 0xff);
	/* ...until the chunk has not been repeated for RDSX_CONG_EXPIRE_NS
	 * (its seen time moved back instead of waiting) */
	CHECK(!bpf_map_lookup_elem(fd, &ci, &cv));
	cv.seen_ns[0] -= RDSX_CONG_EXPIRE_NS + 1;
	CHECK(!bpf_map_update_elem(fd, &ci, &cv, BPF_EXIST));
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_CONG_EXPIRED);
	CHECK_EQ(cong_byte(0), 0x02);
	/* a repeat keeps it fresh: the next one is old again */
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_CONG_OLD);
	CHECK(!bpf_map_lookup_elem(fd, &ci, &cv));
	CHECK_EQ(cv.ver[0], 5001);
}

static void test_truncated_and_hostile(void)
{
	struct frame f;
	size_t l4 = rdsx_l2l4_len(false);

	data_frame(&f, B4, A4, 1, 0, 100);
	/* UDP header there, rds_header cut */
	EXPECT(&f, l4 + 20, XDP_DROP, RDSX_C_DROP_TRUNCATED);
	/* UDP length beyond the frame, and below UDP + rds_header */
	EXPECT(&f, f.len - 1, XDP_DROP, RDSX_C_DROP_BAD_UDP_LEN);
	f.buf[l4 - 4] = 0;
	f.buf[l4 - 3] = 8 + 47;
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_UDP_LEN);
	/* a source port that names no path */
	data_frame(&f, B4, A4, 1, 0, 100);
	f.buf[l4 - 8] = 0x27;
	f.buf[l4 - 7] = 0x0f;
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_PATH);
	/* h_len above RDS_MAX_MSG_SIZE, a fragment bigger than its record,
	 * data outside the frame sequence */
	data_frame(&f, B4, A4, 1, 0, 100);
	f.h->h_len = htobe32(RDS_MAX_MSG_SIZE + 1);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
	f.h->h_len = htobe32(0xffffffff);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
	/* ...but exactly RDS_MAX_MSG_SIZE, and 0 for a record of no bytes, are data */
	f.h->h_len = htobe32(RDS_MAX_MSG_SIZE);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
	data_frame(&f, B4, A4, 1, 0, 0);
	EXPECT(&f, f.len, XDP_REDIRECT, RDSX_C_REDIRECT);
	/* a congestion map whose h_len is no datagram's fails that check first */
	cong_frame(&f, 0, 3000, RDSX_CONG_CHUNK, 0xff);
	f.h->h_len = htobe32(RDS_MAX_MSG_SIZE + 1);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
	data_frame(&f, B4, A4, 1, 0, 100);
	f.h->h_len = htobe32(99);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
	data_frame(&f, B4, A4, 0, 0, 100);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_BAD_LEN);
	/* an IP fragment to our port */
	data_frame(&f, B4, A4, 1, 0, 100);
	f.buf[RDSX_ETH_LEN + 6] = 0x20;	/* MF */
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_IP_FRAGMENT);
}

static void test_fuzz_never_crashes(void)
{
	/* Random bytes and random cuts of good frames: every run ends in a
	 * verdict and exactly one counter. */
	uint64_t before = 0, after = 0;
	unsigned int runs = 0, bad = 0;
	struct frame f;

	for (int c = 0; c < RDSX_C_MAX; c++)
		before += counter(c);
	srand(7);
	for (int i = 0; i < 3000; i++) {
		int v;

		data_frame(&f, (i & 1) ? B6 : B4, (i & 1) ? A6 : A4, 1, 0, 200);
		size_t len = 14 + (size_t)rand() % (f.len - 13);

		for (int k = rand() % 8; k > 0; k--)
			f.buf[(size_t)rand() % len] = (uint8_t)rand();
		v = run_len(f.buf, len);
		runs++;
		if (v != XDP_PASS && v != XDP_DROP && v != XDP_REDIRECT)
			bad++;
	}
	for (int c = 0; c < RDSX_C_MAX; c++)
		after += counter(c);
	CHECK_EQ(bad, 0);
	CHECK_EQ(after - before, runs);
}

static void test_no_socket_on_queue(void)
{
	uint32_t q = 0;
	struct frame f;

	CHECK(!bpf_map_delete_elem(bpf_map__fd(skel->maps.rdsx_xsks), &q));
	data_frame(&f, B4, A4, 1, 0, 10);
	EXPECT(&f, f.len, XDP_DROP, RDSX_C_DROP_NO_XSK);
}

/* ------------------------------------------------------------ setup */

static int add_conn(const uint8_t *l, const uint8_t *fa, uint32_t index, uint32_t fslot)
{
	struct rdsx_conn_key k;
	struct rdsx_conn v = { .index = index, .fslot = fslot };

	memcpy(k.laddr, l, 16);
	memcpy(k.faddr, fa, 16);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.rdsx_conns), &k, &v, BPF_ANY);
}

int main(void)
{
	struct xsk_socket_config cfg = { .rx_size = 64, .tx_size = 64,
					 .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD };
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	void *area;
	uint32_t q = 0;
	int xfd;

	if (geteuid() != 0) {
		fprintf(stderr, "test_xdp_prog: needs root (BPF_PROG_TEST_RUN, AF_XDP)\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) ||
	    system("ip link add xt0 type veth peer name xt1 && ip link set xt0 up && ip link set xt1 up")) {
		fprintf(stderr, "test_xdp_prog: cannot make a veth pair in a private namespace\n");
		return 1;
	}
	ifindex = (int)if_nametoindex("xt0");
	ncpus = libbpf_num_possible_cpus();
	skel = rdsx_xdp__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_xdp_prog: cannot load the XDP program: %s\n", strerror(errno));
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.rdsx_xdp);
	area = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (xsk_umem__create(&umem, area, 64 * 4096, &fq, &cq, NULL) ||
	    xsk_socket__create(&xsk, "xt0", 0, umem, &rx, &tx, &cfg)) {
		fprintf(stderr, "test_xdp_prog: cannot create an AF_XDP socket\n");
		return 1;
	}
	xfd = xsk_socket__fd(xsk);
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.rdsx_xsks), &q, &xfd, BPF_ANY));
	CHECK(!add_conn(A4, B4, CONN_B4, SLOT_B4));
	CHECK(!add_conn(A6, B6, CONN_B6, 9));

	test_not_ours_passes();
	test_data_redirected_with_piggybacked_ack();
	test_ack_only_consumed();
	test_ack_wakes_waiting_sender();
	test_cong_chunks();
	test_cong_spoofed();
	test_truncated_and_hostile();
	test_fuzz_never_crashes();
	test_no_socket_on_queue();

	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	rdsx_xdp__destroy(skel);
	return check_done();
}
