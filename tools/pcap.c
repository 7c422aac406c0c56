// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include "pcap.h"

/* Immediate mode gives every packet a ring frame of the snaplen: just above
 * a 64 KiB GSO packet, and a 128 MiB ring, hold ~2000 packets, where
 * libpcap's defaults (256 KiB, 2 MiB) hold 8 and drop a burst
 * (tests/lib/capture.sh runs tcpdump the same way). */
#define LIVE_SNAPLEN	66000
#define LIVE_BUFFER	(128 << 20)

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool linktype_ok(struct capture *c)
{
	c->linktype = pcap_datalink(c->p);
	switch (c->linktype) {
	case DLT_NULL:
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
		return true;
	default:
		snprintf(c->err, sizeof(c->err), "unsupported link type %s (want Ethernet, raw IP or Linux cooked)",
			 pcap_datalink_val_to_name(c->linktype) ?: "unknown");
		pcap_close(c->p);
		c->p = NULL;
		return false;
	}
}

bool capture_open_file(struct capture *c, const char *file)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *why = errbuf;
	size_t n = strlen(file);

	memset(c, 0, sizeof(*c));
	c->p = pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!c->p) {
		/* the caller names the file: libpcap's "FILE: No such file..." would say it twice */
		if (!strncmp(errbuf, file, n) && !strncmp(errbuf + n, ": ", 2))
			why += n + 2;
		/* libpcap's "unknown file format" says nothing of what it knows */
		snprintf(c->err, sizeof(c->err), "%s%s", why,
			 strstr(why, "unknown file format") ? " (want pcap or pcapng)" : "");
		return false;
	}
	return linktype_ok(c);
}

bool capture_open_live(struct capture *c, const char *iface, uint16_t port)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "", expr[32];
	struct bpf_program prog;
	int rc;

	memset(c, 0, sizeof(*c));
	c->p = pcap_create(iface, errbuf);
	if (!c->p) {
		snprintf(c->err, sizeof(c->err), "%s", errbuf);
		return false;
	}
	/* immediate: each packet as it comes, not when a ring block fills */
	pcap_set_snaplen(c->p, LIVE_SNAPLEN);
	pcap_set_buffer_size(c->p, LIVE_BUFFER);
	pcap_set_immediate_mode(c->p, 1);
	pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(c->p);
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "%s: %s%s", iface, pcap_geterr(c->p),
			 rc == PCAP_ERROR_PERM_DENIED ? " (capturing needs CAP_NET_RAW: run it as root)" : "");
		goto fail;
	}
	snprintf(expr, sizeof(expr), "tcp port %u", port);
	if (pcap_compile(c->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0 || pcap_setfilter(c->p, &prog) < 0) {
		snprintf(c->err, sizeof(c->err), "%s: filter '%s': %s", iface, expr, pcap_geterr(c->p));
		goto fail;
	}
	pcap_freecode(&prog);
	return linktype_ok(c);
fail:
	pcap_close(c->p);
	c->p = NULL;
	return false;
}

int capture_next(struct capture *c, struct capture_pkt *pkt)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;

	for (;;) {
		rc = pcap_next_ex(c->p, &h, &data);
		if (rc == PCAP_ERROR_BREAK && !c->draining) {
			/* stopped: what the kernel already holds is still read, not lost */
			c->draining = true;
			pcap_setnonblock(c->p, 1, c->err);
			continue;
		}
		if (rc == PCAP_ERROR_BREAK || (rc == 0 && c->draining))
			return 0;
		if (rc != 0) /* 0: a live capture's timeout, with nothing read */
			break;
	}
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "after packet %llu: %s", (unsigned long long)c->packets,
			 pcap_geterr(c->p));
		return -1;
	}
	c->packets++;
	pkt->ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec; /* tv_usec holds ns (precision nano) */
	pkt->data = data;
	pkt->caplen = h->caplen;
	pkt->origlen = h->len < h->caplen ? h->caplen : h->len;
	return 1;
}

uint64_t capture_dropped(struct capture *c)
{
	struct pcap_stat st;

	return pcap_stats(c->p, &st) == 0 ? st.ps_drop : 0; /* a file has no such count */
}

void capture_stop(struct capture *c)
{
	pcap_breakloop(c->p);
}

void capture_close(struct capture *c)
{
	if (c->p)
		pcap_close(c->p);
	c->p = NULL;
}

/* The link header: where the IP packet starts and its ethertype;
 * 0 for not IP. */
static uint16_t link_skip(const struct capture *c, const uint8_t *p, uint32_t len, uint32_t *off)
{
	uint16_t type;

	switch (c->linktype) {
	case DLT_EN10MB:
		if (len < 14)
			return 0;
		type = be16_at(p + 12);
		*off = 14;
		while ((type == 0x8100 || type == 0x88a8) && *off + 4 <= len) { /* VLAN tags */
			type = be16_at(p + *off + 2);
			*off += 4;
		}
		return type;
	case DLT_LINUX_SLL:
		if (len < 16)
			return 0;
		*off = 16;
		return be16_at(p + 14);
	case DLT_LINUX_SLL2:
		if (len < 20)
			return 0;
		*off = 20;
		return be16_at(p);
	case DLT_NULL:
		/* the family in the writer's byte order: 2 = AF_INET, 10/24/28/30 = AF_INET6 */
		if (len < 4)
			return 0;
		*off = 4;
		return (p[0] == 2 || p[3] == 2) ? 0x0800 : 0x86dd;
	default: /* raw IP: the version nibble says which */
		*off = 0;
		if (len < 1)
			return 0;
		return (p[0] >> 4) == 4 ? 0x0800 : (p[0] >> 4) == 6 ? 0x86dd : 0;
	}
}

int capture_tcp_segment(const struct capture *c, const struct capture_pkt *pkt, struct tcp_seg *seg,
			const char **why)
{
	const uint8_t *p = pkt->data;
	uint32_t cap = pkt->caplen, off = 0, ip_end_wire, tcp_off, thl;
	uint16_t type = link_skip(c, p, cap, &off);

	memset(seg, 0, sizeof(*seg));
	seg->ts_ns = pkt->ts_ns;
	/* ip_end_wire: where the IP packet ends as sent (offsets in the packet);
	 * the capture may stop earlier (snaplen) or go on (Ethernet padding). */
	if (type == 0x0800) {
		uint32_t ihl, tot;

		if (off + 20 > cap)
			return 0;
		if (p[off] >> 4 != 4 || (ihl = (p[off] & 15u) * 4) < 20 || off + ihl > cap) {
			*why = "bad IPv4 header";
			return -1;
		}
		if (p[off + 9] != IPPROTO_TCP)
			return 0;
		if (be16_at(p + off + 6) & 0x3fff) /* MF or a fragment offset */
			return 0;
		tot = be16_at(p + off + 2);
		if (tot < ihl) {
			*why = "IPv4 total length below its header length";
			return -1;
		}
		seg->family = AF_INET;
		seg->src[10] = seg->src[11] = seg->dst[10] = seg->dst[11] = 0xff;
		memcpy(seg->src + 12, p + off + 12, 4);
		memcpy(seg->dst + 12, p + off + 16, 4);
		ip_end_wire = off + tot;
		tcp_off = off + ihl;
	} else if (type == 0x86dd) {
		uint8_t next;
		uint32_t plen;

		if (off + 40 > cap)
			return 0;
		if (p[off] >> 4 != 6) {
			*why = "bad IPv6 header";
			return -1;
		}
		plen = be16_at(p + off + 4);
		next = p[off + 6];
		seg->family = AF_INET6;
		memcpy(seg->src, p + off + 8, 16);
		memcpy(seg->dst, p + off + 24, 16);
		ip_end_wire = off + 40 + plen;
		tcp_off = off + 40;
		/* hop-by-hop, routing and destination options; a fragment is not TCP we can use */
		while (next == 0 || next == 43 || next == 60) {
			if (tcp_off + 8 > cap)
				return 0;
			next = p[tcp_off];
			tcp_off += 8u + p[tcp_off + 1] * 8u;
		}
		if (next != IPPROTO_TCP)
			return 0;
	} else {
		return 0;
	}
	if (tcp_off + 20 > cap || tcp_off + 20 > ip_end_wire) {
		*why = "truncated TCP header";
		return -1;
	}
	thl = (p[tcp_off + 12] >> 4) * 4u;
	if (thl < 20 || tcp_off + thl > ip_end_wire) {
		*why = "bad TCP header length";
		return -1;
	}
	seg->sport = be16_at(p + tcp_off);
	seg->dport = be16_at(p + tcp_off + 2);
	seg->seq = be32_at(p + tcp_off + 4);
	seg->fin = p[tcp_off + 13] & 0x01;
	seg->syn = p[tcp_off + 13] & 0x02;
	seg->rst = p[tcp_off + 13] & 0x04;
	if (tcp_off + thl > cap) { /* options cut by the snaplen: the payload is all missing */
		seg->missing = ip_end_wire - tcp_off - thl;
		return 1;
	}
	seg->payload = p + tcp_off + thl;
	/* The wire length: the capture can be shorter (snaplen, recorded in
	 * origlen) but the IP header says what was sent. */
	if (ip_end_wire <= cap) {
		seg->len = ip_end_wire - tcp_off - thl;
	} else {
		seg->len = cap - tcp_off - thl;
		seg->missing = ip_end_wire - cap;
	}
	return 1;
}
