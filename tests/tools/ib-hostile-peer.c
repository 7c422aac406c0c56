// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ib-hostile-peer: a raw verbs RDS/IB peer for robustness tests. It connects
 * to DST:18634 over RDMA-CM as a kernel rds_rdma would (RDMA_PS_TCP, an RC
 * queue pair, rds_ib_connect_private 3.1), once per case, and sends what a
 * well-behaved peer never sends:
 *
 *   cm-2.0, cm-4-nomask, cm-5.0  CM data of versions RDS/IB does not speak
 *   cm-credit                    CM data with 0x10000 credits (more than a
 *                                16-bit send credit count can hold)
 *   cm-short                     8 bytes of CM data (the kernel takes the
 *                                zeros that follow as protocol 4.0), then one
 *                                datagram to an unbound port
 *   bad-csum                     a datagram whose h_csum is wrong
 *   len-over-frag                h_len 100 with 200 payload bytes
 *   oversized                    a frame longer than a receive buffer
 *                                (48 + 4096 + 512 bytes)
 *   huge-len                     h_len 2 MiB, past what RDS allows
 *   truncated-frag               h_len 10000: a 4096-byte fragment, then
 *                                one of 1000 bytes where 4096 belong
 *   short-frame                  20 bytes, less than a header
 *   interleaved                  the first fragments of two messages
 *   dup-seq                      a datagram to an unbound port, then its
 *                                sequence again with RDS_FLAG_RETRANSMITTED
 *   credit-overflow              ack-only frames with h_credit 255 until the
 *                                send credits would pass 0xffff (258 frames)
 *   flood                        --flood N datagrams to an unbound port, all
 *                                at once, past the credits DST advertised
 *
 * Output, one line per case: "case NAME: rejected|reset|open", how DST
 * answered: refused the connect, dropped the connection (within 10 s), or
 * kept it (then we disconnect). Exit 0 when every case ran, 1 otherwise.
 *   ib-hostile-peer -s SRC -d DST [--flood N] [CASE...]
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include "../../transports/ib/ib_wire.h"
#include "../../user/common/addr.h"

#define PORT		18634
#define RECVS		128
#define SENDS		128
#define BUF		(RDS_HEADER_SIZE + RDS_IB_FRAG + 512)	/* room for "oversized" */
#define UNBOUND		9	/* DST has no socket on this port */
#define WAIT_MS		10000

struct peer {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *bufs;		/* RECVS receive buffers, then SENDS send buffers */
	unsigned int send_next, in_flight;
	bool gone;		/* DST disconnected, or a send failed */
};

static struct sockaddr_in src, dst;
static uint64_t next_seq = 1;	/* DST keeps its receive sequence across our connections */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next CM event within ms, NULL if none came. */
static struct rdma_cm_event *cm_event(struct peer *pr, int ms)
{
	struct pollfd pfd = { .fd = pr->ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;

	if (poll(&pfd, 1, ms) != 1 || rdma_get_cm_event(pr->ch, &ev))
		return NULL;
	return ev;
}

/* Wait for one event of the kind wanted; anything else is returned too. */
static enum rdma_cm_event_type cm_wait(struct peer *pr, int ms)
{
	struct rdma_cm_event *ev = cm_event(pr, ms);
	enum rdma_cm_event_type t;

	if (!ev)
		return (enum rdma_cm_event_type)-1;
	t = ev->event;
	rdma_ack_cm_event(ev);
	return t;
}

static uint8_t *recv_buf(struct peer *pr, unsigned int i)
{
	return pr->bufs + (size_t)i * BUF;
}

static int post_recv(struct peer *pr, unsigned int i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)recv_buf(pr, i), .length = BUF, .lkey = pr->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(pr->id->qp, &wr, &bad);
}

/* Completions: receives go back on the ring (DST's acks and congestion
 * maps are read and ignored); an error means the connection is gone. */
static void poll_cq(struct peer *pr)
{
	struct ibv_wc wc[16];
	int n;

	while ((n = ibv_poll_cq(pr->cq, 16, wc)) > 0)
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS)
				pr->gone = true;
			if (wc[i].wr_id >= RECVS)
				pr->in_flight--;
			else if (wc[i].status == IBV_WC_SUCCESS && post_recv(pr, (unsigned int)wc[i].wr_id))
				pr->gone = true;
		}
}

/* One frame of len bytes: h (its checksum made unless bad_csum), then
 * payload bytes of a pattern. Waits for a send slot, not for credits. */
static int send_frame(struct peer *pr, const struct rdsb_hdr *h, size_t len, bool bad_csum)
{
	unsigned int slot = pr->send_next;
	uint8_t *b = pr->bufs + (size_t)(RECVS + slot) * BUF;
	struct rds_header *wire = (struct rds_header *)b;
	struct ibv_sge sge = { .addr = (uintptr_t)b, .length = (uint32_t)len, .lkey = pr->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = RECVS + slot, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED | IBV_SEND_SOLICITED }, *bad;
	uint64_t until = now_ms() + WAIT_MS;

	while (pr->in_flight >= SENDS && !pr->gone && now_ms() < until)
		poll_cq(pr);
	if (pr->gone || pr->in_flight >= SENDS)
		return -1;
	for (size_t i = RDS_HEADER_SIZE; i < len; i++)
		b[i] = (uint8_t)(i * 7);
	if (len >= RDS_HEADER_SIZE) {
		rdsb_hdr_encode(h, wire);
		wire->h_csum = 0;
		wire->h_csum = ib_csum(wire);
		if (bad_csum)
			wire->h_csum ^= 0x5555;
	} else {
		memset(b, 0xa5, len);
	}
	if (ibv_post_send(pr->id->qp, &wr, &bad))
		return -1;
	pr->send_next = (slot + 1) % SENDS;
	pr->in_flight++;
	return 0;
}

static struct rdsb_hdr data_hdr(uint32_t len, uint16_t dport)
{
	return (struct rdsb_hdr){ .seq = next_seq++, .len = len, .sport = 4444, .dport = dport };
}

/* Connect with priv[len]: 0 once established, 1 if DST refused, -1 else. */
static int peer_connect(struct peer *pr, const void *priv, uint8_t len)
{
	struct ibv_qp_init_attr qa = {
		.cap = { .max_send_wr = SENDS, .max_recv_wr = RECVS, .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param cp = { .private_data = priv, .private_data_len = len, .responder_resources = 1,
				      .initiator_depth = 1, .retry_count = 7, .rnr_retry_count = 7 };
	size_t size = (size_t)(RECVS + SENDS) * BUF;
	enum rdma_cm_event_type t;

	memset(pr, 0, sizeof(*pr));
	if (!(pr->ch = rdma_create_event_channel()) || rdma_create_id(pr->ch, &pr->id, NULL, RDMA_PS_TCP) ||
	    rdma_resolve_addr(pr->id, (struct sockaddr *)&src, (struct sockaddr *)&dst, 5000) ||
	    cm_wait(pr, WAIT_MS) != RDMA_CM_EVENT_ADDR_RESOLVED || rdma_resolve_route(pr->id, 5000) ||
	    cm_wait(pr, WAIT_MS) != RDMA_CM_EVENT_ROUTE_RESOLVED)
		return -1;
	if (!(pr->pd = ibv_alloc_pd(pr->id->verbs)) ||
	    !(pr->cq = ibv_create_cq(pr->id->verbs, RECVS + SENDS, NULL, NULL, 0)))
		return -1;
	qa.send_cq = qa.recv_cq = pr->cq;
	if (rdma_create_qp(pr->id, pr->pd, &qa) || posix_memalign((void **)&pr->bufs, 4096, size) ||
	    !(pr->mr = ibv_reg_mr(pr->pd, pr->bufs, size, IBV_ACCESS_LOCAL_WRITE)))
		return -1;
	for (unsigned int i = 0; i < RECVS; i++)
		if (post_recv(pr, i))
			return -1;
	if (rdma_connect(pr->id, &cp))
		return -1;
	t = cm_wait(pr, WAIT_MS);
	if (t == RDMA_CM_EVENT_ESTABLISHED)
		return 0;
	return t == RDMA_CM_EVENT_REJECTED ? 1 : -1;
}

/* How DST took what was sent: "reset" if it dropped the connection within
 * WAIT_MS once our sends completed, else "open" (and we disconnect). */
static const char *peer_outcome(struct peer *pr, int quiet_ms)
{
	uint64_t until = now_ms() + WAIT_MS;
	struct rdma_cm_event *ev;

	while (pr->in_flight && !pr->gone && now_ms() < until)
		poll_cq(pr);
	until = now_ms() + (pr->gone ? WAIT_MS : (uint64_t)quiet_ms);
	while (now_ms() < until) {
		poll_cq(pr);
		if (!(ev = cm_event(pr, 50)))
			continue;
		if (ev->event == RDMA_CM_EVENT_DISCONNECTED) {
			rdma_ack_cm_event(ev);
			return "reset";
		}
		rdma_ack_cm_event(ev);
	}
	if (pr->gone)
		return "reset";	/* a send failed: DST's queue pair is gone */
	rdma_disconnect(pr->id);
	cm_wait(pr, WAIT_MS);
	return "open";
}

static void peer_free(struct peer *pr)
{
	if (pr->id && pr->id->qp)
		rdma_destroy_qp(pr->id);
	if (pr->mr)
		ibv_dereg_mr(pr->mr);
	if (pr->cq)
		ibv_destroy_cq(pr->cq);
	if (pr->pd)
		ibv_dealloc_pd(pr->pd);
	if (pr->id)
		rdma_destroy_id(pr->id);
	if (pr->ch)
		rdma_destroy_event_channel(pr->ch);
	free(pr->bufs);
}

/* CM private data for us -> DST: protocol major.minor with mask, credits. */
static uint8_t cm_data(uint8_t *out, unsigned int major, unsigned int minor, uint16_t mask, uint32_t credit)
{
	uint8_t l[16], f[16];
	struct rds_ib_connect_private *dp = (struct rds_ib_connect_private *)out;
	uint32_t scope;
	uint16_t port;

	rdsb_addr_from_sa((const struct sockaddr *)&src, sizeof(src), l, &port, &scope);
	rdsb_addr_from_sa((const struct sockaddr *)&dst, sizeof(dst), f, &port, &scope);
	ib_private_fill(out, l, f, RDS_IB_PROTO(major, minor), 0, credit);
	dp->cmn.minor_mask = htobe16(mask);
	return sizeof(*dp);
}

static unsigned int flood_n = 2000;

/* The frames of a case on an established connection. */
static int case_frames(struct peer *pr, const char *name)
{
	struct rdsb_hdr h = { 0 };
	int rc = 0;

	if (!strcmp(name, "cm-short")) {
		h = data_hdr(10, UNBOUND);
		return send_frame(pr, &h, RDS_HEADER_SIZE + 10, false);
	}
	if (!strcmp(name, "bad-csum")) {
		h = data_hdr(10, UNBOUND);
		return send_frame(pr, &h, RDS_HEADER_SIZE + 10, true);
	}
	if (!strcmp(name, "len-over-frag")) {
		h = data_hdr(100, UNBOUND);
		return send_frame(pr, &h, RDS_HEADER_SIZE + 200, false);
	}
	if (!strcmp(name, "oversized")) {
		h = data_hdr(8192, UNBOUND);
		return send_frame(pr, &h, BUF, false);
	}
	if (!strcmp(name, "huge-len")) {
		h = data_hdr(2 << 20, UNBOUND);
		return send_frame(pr, &h, RDS_HEADER_SIZE + RDS_IB_FRAG, false);
	}
	if (!strcmp(name, "truncated-frag")) {
		h = data_hdr(10000, UNBOUND);
		return send_frame(pr, &h, RDS_HEADER_SIZE + RDS_IB_FRAG, false) ||
		       send_frame(pr, &h, RDS_HEADER_SIZE + 1000, false);
	}
	if (!strcmp(name, "short-frame"))
		return send_frame(pr, &h, 20, false);
	if (!strcmp(name, "interleaved")) {
		struct rdsb_hdr a = data_hdr(10000, UNBOUND), b = data_hdr(10000, UNBOUND + 1);

		return send_frame(pr, &a, RDS_HEADER_SIZE + RDS_IB_FRAG, false) ||
		       send_frame(pr, &b, RDS_HEADER_SIZE + RDS_IB_FRAG, false);
	}
	if (!strcmp(name, "dup-seq")) {
		h = data_hdr(10, UNBOUND);
		rc = send_frame(pr, &h, RDS_HEADER_SIZE + 10, false);
		h.flags = RDS_FLAG_RETRANSMITTED;
		return rc || send_frame(pr, &h, RDS_HEADER_SIZE + 10, false);
	}
	if (!strcmp(name, "credit-overflow")) {
		h = (struct rdsb_hdr){ .credit = 255 };
		for (unsigned int i = 0; i < RDS_IB_MAX_CREDIT / 255 + 1 && !rc; i++)
			rc = send_frame(pr, &h, RDS_HEADER_SIZE, false);
		return rc;
	}
	if (!strcmp(name, "flood")) {
		for (unsigned int i = 0; i < flood_n && !rc; i++) {
			h = data_hdr(64, UNBOUND);
			rc = send_frame(pr, &h, RDS_HEADER_SIZE + 64, false);
		}
		return rc;
	}
	return -1;
}

static int run_case(const char *name)
{
	uint8_t priv[sizeof(struct rds6_ib_connect_private)], len;
	const char *out = NULL;
	struct peer pr;
	int rc;

	if (!strcmp(name, "cm-2.0"))
		len = cm_data(priv, 2, 0, 0, 0);
	else if (!strcmp(name, "cm-4-nomask"))
		len = cm_data(priv, 4, 1, 0, 0);
	else if (!strcmp(name, "cm-5.0"))
		len = cm_data(priv, 5, 0, 0, 0);
	else if (!strcmp(name, "cm-credit"))
		len = cm_data(priv, 3, 1, RDS_IB_SUPPORTED_PROTOCOLS, RDS_IB_MAX_CREDIT + 1);
	else if (!strcmp(name, "cm-short"))
		len = 8;	/* the addresses only */
	else
		len = cm_data(priv, 3, 1, RDS_IB_SUPPORTED_PROTOCOLS, 0);
	if (!strcmp(name, "cm-short"))
		cm_data(priv, 3, 1, RDS_IB_SUPPORTED_PROTOCOLS, 0);
	rc = peer_connect(&pr, priv, len);
	if (rc == 1)
		out = "rejected";
	else if (rc == 0 && (!strncmp(name, "cm-", 3) && strcmp(name, "cm-short")))
		out = peer_outcome(&pr, 1000);	/* accepted what it should refuse */
	else if (rc == 0 && !case_frames(&pr, name))
		out = peer_outcome(&pr, 3000);
	else if (rc == 0 && pr.gone)
		out = "reset";	/* dropped while we were still sending */
	if (out)
		printf("case %s: %s\n", name, out);
	else
		printf("case %s: failed (%s)\n", name, rc ? "could not connect" : "could not send");
	fflush(stdout);
	peer_free(&pr);
	return out ? 0 : -1;
}

static const char *const all_cases[] = {
	"cm-2.0", "cm-4-nomask", "cm-5.0", "cm-credit", "cm-short", "bad-csum", "len-over-frag", "oversized",
	"huge-len", "truncated-frag", "short-frame", "interleaved", "dup-seq", "credit-overflow", "flood", NULL,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "src", 1, NULL, 's' }, { "dst", 1, NULL, 'd' }, { "flood", 1, NULL, 'f' }, { NULL, 0, NULL, 0 },
	};
	int c, failed = 0;

	src.sin_family = dst.sin_family = AF_INET;
	dst.sin_port = htons(PORT);
	while ((c = getopt_long(argc, argv, "s:d:f:", opts, NULL)) != -1) {
		if (c == 's' && inet_pton(AF_INET, optarg, &src.sin_addr) == 1)
			continue;
		if (c == 'd' && inet_pton(AF_INET, optarg, &dst.sin_addr) == 1)
			continue;
		if (c == 'f' && (flood_n = (unsigned int)atoi(optarg)) > 0)
			continue;
		fprintf(stderr, "usage: ib-hostile-peer -s SRC -d DST [--flood N] [CASE...] (IPv4 addresses)\n");
		return 2;
	}
	if (!src.sin_addr.s_addr || !dst.sin_addr.s_addr) {
		fprintf(stderr, "ib-hostile-peer: -s SRC and -d DST are needed (IPv4 addresses)\n");
		return 2;
	}
	if (optind < argc)
		for (int i = optind; i < argc; i++)
			failed |= run_case(argv[i]);
	else
		for (int i = 0; all_cases[i]; i++)
			failed |= run_case(all_cases[i]);
	return failed ? 1 : 0;
}
