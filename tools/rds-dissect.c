// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-dissect: RDS/TCP records in a capture, one line each (tools/rds.lua
 * gives Wireshark the same view).
 *
 *   rds-dissect [-p PORT] [-f] FILE|-       a pcap or pcapng file
 *   rds-dissect [-p PORT] [-f] -i IFACE     live, until SIGINT or SIGTERM
 *
 * Each direction of each TCP connection to or from PORT (16385, the RDS/TCP
 * port) is reassembled by sequence number and cut into records by h_len:
 *   TIME SRC -> DST seq S ack A len L sport P dport Q flags F credit C ext E KIND
 * TIME is seconds since the first packet; KIND is data, probe-ping,
 * probe-pong, ping, pong, or "congestion map (N ports congested: ...)".
 * -f adds, per stream, which RDS port pairs its data records carried.
 * A header that cannot be framed (h_len above 1 MiB) is a "bad" line and the
 * rest of its stream is not decoded; a record that a RST, a FIN or the end of
 * the capture cuts is a "cut" line. The last line counts everything.
 * Exit: 0; 1 if the file is broken or something was bad (a hole in the
 * capture, a header no kernel would frame); 2 usage.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "../user/common/wire.h"
#include "pcap.h"
#include "tcp_reasm.h"

#define MAX_PORT_PAIRS	64
#define CONG_SHOWN	8	/* congested ports listed on a map's line */

struct port_pair {
	uint16_t sport, dport;
	uint64_t records;
};

/* The RDS framing state of one stream direction. */
struct rds_stream {
	uint8_t raw[RDS_HEADER_SIZE];
	unsigned int have;		/* header bytes so far */
	struct rdsb_hdr h;
	uint32_t got;			/* payload bytes so far */
	bool dead;			/* after a bad header: not decoded further */
	unsigned int congested;		/* bits set in a congestion map */
	uint16_t cong_ports[CONG_SHOWN];
	uint8_t deliv_ack[8];		/* a delivery acknowledgement's payload */
	struct port_pair pairs[MAX_PORT_PAIRS];
	unsigned int npairs;
	uint64_t other_pairs;		/* data records beyond MAX_PORT_PAIRS pairs */
	uint64_t records, data;
};

static struct {
	uint16_t port;
	bool flows;
	int64_t t0;
	uint64_t records, data, probe_pings, probe_pongs, pings, pongs, cong_maps, cut, bad;
	uint64_t streams, undecoded_streams, other_segments;
} g = { .port = RDS_TCP_PORT, .t0 = -1 };

static const char *endpoint(int family, const uint8_t a[16], uint16_t port, char *buf, size_t n)
{
	char s[INET6_ADDRSTRLEN];

	if (family == AF_INET) {
		inet_ntop(AF_INET, a + 12, s, sizeof(s));
		snprintf(buf, n, "%s:%u", s, port);
	} else {
		inet_ntop(AF_INET6, a, s, sizeof(s));
		snprintf(buf, n, "[%s]:%u", s, port);
	}
	return buf;
}

/* "TIME SRC -> DST" at the start of every line about a stream */
static void stream_prefix(const struct tcp_flow *fl, int64_t ts)
{
	char a[64], b[64];
	int64_t t = ts > g.t0 ? ts - g.t0 : 0; /* a capture need not be in time order */

	printf("%lld.%06lld %s -> %s", (long long)(t / 1000000000), (long long)(t % 1000000000 / 1000),
	       endpoint(fl->family, fl->src, fl->sport, a, sizeof(a)),
	       endpoint(fl->family, fl->dst, fl->dport, b, sizeof(b)));
}

static void print_flags(uint8_t f)
{
	static const struct { uint8_t bit; const char *name; } names[] = {
		{ RDS_FLAG_CONG_BITMAP, "CONG_BITMAP" },
		{ RDS_FLAG_ACK_REQUIRED, "ACK_REQUIRED" },
		{ RDS_FLAG_RETRANSMITTED, "RETRANSMITTED" },
		{ RDS_FLAG_EXTHDR_EXTENSION, "EXTHDR_EXTENSION" },
		{ RDSB_FLAG_DELIV_ACK, "DELIV_ACK(rds-bpf)" },
	};
	const char *sep = "";

	printf(" flags ");
	if (!f)
		printf("-");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (f & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = ",";
			f &= (uint8_t)~names[i].bit;
		}
	}
	if (f)
		printf("%s0x%02x", sep, f);
}

/* The extension headers as the kernel's parser sees them (user/common/wire.c). */
static void print_ext(const uint8_t ext[RDS_HEADER_EXT_SPACE])
{
	static const char *const names[__RDS_EXTHDR_MAX] = {
		[RDS_EXTHDR_VERSION] = "VERSION", [RDS_EXTHDR_RDMA] = "RDMA",
		[RDS_EXTHDR_RDMA_DEST] = "RDMA_DEST", [RDS_EXTHDR_RDMA_BYTES] = "RDMA_BYTES",
		[RDS_EXTHDR_NPATHS] = "NPATHS", [RDS_EXTHDR_GEN_NUM] = "GEN_NUM",
		[RDS_EXTHDR_SPORT_IDX] = "SPORT_IDX",
	};
	unsigned int pos = 0, type, n = 0;
	uint8_t b[8];

	printf(" ext ");
	while ((type = rdsb_exthdr_next(ext, &pos, b, sizeof(b))) != RDS_EXTHDR_NONE) {
		printf("%s", n++ ? "," : "");
		switch (type) {
		case RDS_EXTHDR_NPATHS:
			printf("NPATHS=%u", b[0] << 8 | b[1]);
			break;
		case RDS_EXTHDR_SPORT_IDX:
			printf("SPORT_IDX=%u", b[0]);
			break;
		case RDS_EXTHDR_VERSION:
		case RDS_EXTHDR_RDMA:
		case RDS_EXTHDR_GEN_NUM:
			printf("%s=0x%02x%02x%02x%02x", names[type], b[0], b[1], b[2], b[3]);
			break;
		case RDS_EXTHDR_RDMA_DEST:
		case RDS_EXTHDR_RDMA_BYTES:
			printf("%s=0x%02x%02x%02x%02x:%02x%02x%02x%02x", names[type], b[0], b[1], b[2], b[3], b[4],
			       b[5], b[6], b[7]);
			break;
		default: /* known to no kernel table: the kernel skips its type byte */
			printf("type%u", type);
		}
	}
	if (!n)
		printf("-");
	/* where the kernel stopped on something other than a terminating 0:
	 * rds-bpf's own, or not */
	if (pos + 1 < RDS_HEADER_EXT_SPACE && ext[pos] == RDSB_EXTHDR_DELIV)
		printf(",DELIV=0x%02x(rds-bpf)", ext[pos + 1]);
	else if (pos < RDS_HEADER_EXT_SPACE && ext[pos] != RDS_EXTHDR_NONE)
		printf(",stops-at-%u:0x%02x", pos, ext[pos]);
}

static void print_header(const struct tcp_flow *fl, int64_t ts, const struct rdsb_hdr *h)
{
	stream_prefix(fl, ts);
	printf(" seq %llu ack %llu len %u sport %u dport %u", (unsigned long long)h->seq,
	       (unsigned long long)h->ack, h->len, h->sport, h->dport);
	print_flags(h->flags);
	printf(" credit %u", h->credit);
	if (h->csum) /* TCP never sets it */
		printf(" csum 0x%04x", h->csum);
	print_ext(h->exthdr);
}

static void count_pair(struct rds_stream *st, const struct rdsb_hdr *h)
{
	for (unsigned int i = 0; i < st->npairs; i++) {
		if (st->pairs[i].sport == h->sport && st->pairs[i].dport == h->dport) {
			st->pairs[i].records++;
			return;
		}
	}
	if (st->npairs == MAX_PORT_PAIRS) {
		st->other_pairs++;
		return;
	}
	st->pairs[st->npairs++] = (struct port_pair){ h->sport, h->dport, 1 };
}

/* A whole record (header and payload) has arrived. */
static void record_done(const struct tcp_flow *fl, struct rds_stream *st, int64_t ts)
{
	const struct rdsb_hdr *h = &st->h;

	g.records++;
	st->records++;
	print_header(fl, ts, h);
	if (rdsb_is_cong_map(h->flags)) {
		g.cong_maps++;
		printf(" congestion map (%u ports congested%s", st->congested, st->congested ? ":" : "");
		for (unsigned int i = 0; i < st->congested && i < CONG_SHOWN; i++)
			printf(" %u", st->cong_ports[i]);
		printf("%s)", st->congested > CONG_SHOWN ? " ..." : "");
		if (!rdsb_h_len_ok(h->flags, h->len)) {
			printf(" bad: not %u bytes, the kernel ignores it", RDS_CONG_MAP_BYTES);
			g.bad++;
		}
	} else if ((h->flags & RDSB_FLAG_DELIV_ACK) && !h->sport && !h->dport) {
		/* rds-bpf's own (docs/protocol.md 1.4), between two rds-bpf engines */
		if (h->len == sizeof(st->deliv_ack)) {
			uint64_t be;

			memcpy(&be, st->deliv_ack, sizeof(be));
			printf(" deliv-ack %llu", (unsigned long long)be64toh(be));
		} else {
			printf(" deliv-ack bad: not 8 bytes");
			g.bad++;
		}
	} else if (RDS_HS_PROBE(h->sport, h->dport)) {
		printf(" %s", h->sport ? "probe-ping" : "probe-pong");
		if (h->sport)
			g.probe_pings++;
		else
			g.probe_pongs++;
	} else if (h->dport == 0) {
		printf(" ping");
		g.pings++;
	} else if (h->sport == 0) {
		printf(" pong");
		g.pongs++;
	} else {
		printf(" data");
		g.data++;
		st->data++;
		count_pair(st, h);
	}
	printf("\n");
}

static void cong_bits(struct rds_stream *st, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		for (unsigned int b = 0; p[i] >> b; b++) {
			if (!(p[i] & (1u << b)))
				continue;
			if (st->congested < CONG_SHOWN)
				st->cong_ports[st->congested] = (uint16_t)((st->got + i) * 8 + b);
			st->congested++;
		}
	}
}

static void on_start(struct tcp_flow *fl, int64_t ts, void *ctx)
{
	(void)ts;
	(void)ctx;
	free(fl->user);
	fl->user = calloc(1, sizeof(struct rds_stream));
	if (!fl->user) {
		fprintf(stderr, "rds-dissect: out of memory\n");
		exit(1);
	}
	g.streams++;
}

static void on_data(struct tcp_flow *fl, int64_t ts, const uint8_t *p, uint32_t len, void *ctx)
{
	struct rds_stream *st = fl->user;

	(void)ctx;
	while (len && !st->dead) {
		if (st->have < RDS_HEADER_SIZE) {
			uint32_t n = RDS_HEADER_SIZE - st->have;

			n = n < len ? n : len;
			memcpy(st->raw + st->have, p, n);
			st->have += n;
			p += n;
			len -= n;
			if (st->have < RDS_HEADER_SIZE)
				break;
			rdsb_hdr_decode((const struct rds_header *)st->raw, &st->h);
			st->got = 0;
			st->congested = 0;
			if (!rdsb_msg_size_ok(st->h.len)) {
				/* no kernel frames this: everything after it is guesswork */
				print_header(fl, ts, &st->h);
				printf(" bad: h_len above %u, the rest of this stream is not decoded\n",
				       RDS_MAX_MSG_SIZE);
				g.bad++;
				st->dead = true;
				break;
			}
		}
		uint32_t n = st->h.len - st->got;

		n = n < len ? n : len;
		if (rdsb_is_cong_map(st->h.flags))
			cong_bits(st, p, n);
		else if ((st->h.flags & RDSB_FLAG_DELIV_ACK) && st->got < sizeof(st->deliv_ack))
			memcpy(st->deliv_ack + st->got, p,
			       n < sizeof(st->deliv_ack) - st->got ? n : sizeof(st->deliv_ack) - st->got);
		st->got += n;
		p += n;
		len -= n;
		if (st->got == st->h.len) {
			record_done(fl, st, ts);
			st->have = 0;
		}
	}
}

static void on_end(struct tcp_flow *fl, int64_t ts, const char *why, bool lost, void *ctx)
{
	struct rds_stream *st = fl->user;

	(void)ctx;
	if (lost) {
		stream_prefix(fl, ts);
		printf(" bad: %s, the rest of this stream is not decoded\n", why);
		g.bad++;
	} else if (st->have && !st->dead) {
		stream_prefix(fl, ts);
		if (st->have < RDS_HEADER_SIZE)
			printf(" cut: %s after %u of %u header bytes\n", why, st->have, RDS_HEADER_SIZE);
		else
			printf(" cut: %s after %u of %u payload bytes (seq %llu sport %u dport %u)\n", why, st->got,
			       st->h.len, (unsigned long long)st->h.seq, st->h.sport, st->h.dport);
		g.cut++;
	}
	st->have = 0;
	st->dead = true;
}

/* A stream whose SYN the capture does not hold: its records cannot be framed. */
static void undecoded(const struct tcp_flow *fl)
{
	char a[64], b[64];

	if (!fl->undecoded || fl->user)
		return;
	g.undecoded_streams++;
	printf("stream %s -> %s: its SYN is not in the capture, %llu bytes not decoded\n",
	       endpoint(fl->family, fl->src, fl->sport, a, sizeof(a)),
	       endpoint(fl->family, fl->dst, fl->dport, b, sizeof(b)), (unsigned long long)fl->undecoded);
}

static void print_flows(const struct reasm *r)
{
	for (size_t i = 0; i < r->nflows; i++) {
		const struct tcp_flow *fl = r->flows[i];
		const struct rds_stream *st = fl->user;
		char a[64], b[64];

		if (!st)
			continue;
		printf("stream %s -> %s records %llu data %llu ports",
		       endpoint(fl->family, fl->src, fl->sport, a, sizeof(a)),
		       endpoint(fl->family, fl->dst, fl->dport, b, sizeof(b)), (unsigned long long)st->records,
		       (unsigned long long)st->data);
		for (unsigned int k = 0; k < st->npairs; k++)
			printf(" %u>%u:%llu", st->pairs[k].sport, st->pairs[k].dport,
			       (unsigned long long)st->pairs[k].records);
		if (st->other_pairs)
			printf(" other:%llu", (unsigned long long)st->other_pairs);
		if (!st->npairs && !st->other_pairs)
			printf(" -");
		printf("\n");
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rds-dissect [-p PORT] [-f] FILE|-\n"
		   "       rds-dissect [-p PORT] [-f] -i IFACE\n"
		   "  one line per RDS/TCP record in a pcap or pcapng capture (tcpdump, dumpcap),\n"
		   "  or captured live on IFACE until interrupted (SIGINT or SIGTERM)\n"
		   "  -p PORT   the RDS/TCP port (default %u)\n"
		   "  -f        per stream: which RDS port pairs its data records carried\n"
		   "  -i IFACE  capture live (root) instead of reading a file\n"
		   "See rds-dissect(8).\n",
		RDS_TCP_PORT);
}

static struct capture cap;

static void on_signal(int sig)
{
	(void)sig;
	capture_stop(&cap);
}

int main(int argc, char **argv)
{
	static const struct reasm_ops ops = { on_start, on_data, on_end };
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct sigaction sa = { .sa_handler = on_signal };
	struct capture_pkt pkt;
	struct tcp_seg seg;
	struct reasm r;
	const char *why = NULL, *iface = NULL, *what;
	int64_t last = 0;
	int c, rc;
	char *end;
	unsigned long port;

	while ((c = getopt_long(argc, argv, "p:fi:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || port == 0 || port > 65535) {
				fprintf(stderr, "rds-dissect: bad port '%s' (want 1..65535)\n", optarg);
				return 2;
			}
			g.port = (uint16_t)port;
			break;
		case 'f':
			g.flows = true;
			break;
		case 'i':
			iface = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - !iface) {
		usage(stderr);
		return 2;
	}
	what = iface ? iface : argv[optind];
	if (!(iface ? capture_open_live(&cap, iface, g.port) : capture_open_file(&cap, what))) {
		fprintf(stderr, "rds-dissect: %s: %s\n", what, cap.err);
		return 1;
	}
	if (iface) {
		/* a live capture ends with its summary, as a file's end does */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		setvbuf(stdout, NULL, _IOLBF, 0);
		/* from here on no packet is missed (as tcpdump's "listening on") */
		fprintf(stderr, "rds-dissect: capturing on %s, TCP port %u\n", iface, g.port);
	}
	reasm_init(&r, &ops, NULL);
	while ((rc = capture_next(&cap, &pkt)) == 1) {
		if (g.t0 < 0)
			g.t0 = pkt.ts_ns;
		last = pkt.ts_ns;
		switch (capture_tcp_segment(&cap, &pkt, &seg, &why)) {
		case 1:
			if (seg.sport == g.port || seg.dport == g.port)
				reasm_segment(&r, &seg);
			break;
		case -1:
			printf("packet %llu bad: %s\n", (unsigned long long)cap.packets, why);
			g.bad++;
			break;
		default:
			g.other_segments++;
		}
	}
	if (rc < 0) {
		printf("bad: %s\n", cap.err);
		g.bad++;
	}
	if (iface && capture_dropped(&cap)) {
		printf("bad: the kernel dropped %llu packets of the capture (a busy machine)\n",
		       (unsigned long long)capture_dropped(&cap));
		g.bad++;
	}
	reasm_finish(&r, last);
	for (size_t i = 0; i < r.nflows; i++)
		undecoded(r.flows[i]);
	if (g.flows)
		print_flows(&r);
	printf("summary: packets %llu streams %llu records %llu data %llu probe-pings %llu probe-pongs %llu "
	       "pings %llu pongs %llu cong-maps %llu cut %llu bad %llu undecoded-streams %llu\n",
	       (unsigned long long)cap.packets, (unsigned long long)g.streams, (unsigned long long)g.records,
	       (unsigned long long)g.data, (unsigned long long)g.probe_pings, (unsigned long long)g.probe_pongs,
	       (unsigned long long)g.pings, (unsigned long long)g.pongs, (unsigned long long)g.cong_maps,
	       (unsigned long long)g.cut, (unsigned long long)g.bad, (unsigned long long)g.undecoded_streams);
	reasm_free(&r);
	capture_close(&cap);
	return g.bad ? 1 : 0;
}
