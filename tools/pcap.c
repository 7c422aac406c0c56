// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "pcap.h"

#define MAGIC_USEC	0xa1b2c3d4u
#define MAGIC_NSEC	0xa1b23c4du
#define MAGIC_PCAPNG	0x0a0d0d0au
/* tcpdump's default snaplen is 262144; anything far above is a corrupt length
 * field, not a packet, and must not become a huge allocation. */
#define MAX_RECORD	(16u << 20)

#define LINKTYPE_NULL		0
#define LINKTYPE_ETHERNET	1
#define LINKTYPE_RAW		101
#define LINKTYPE_LINUX_SLL	113
#define LINKTYPE_LINUX_SLL2	276

static uint32_t swap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static uint32_t u32_of(const struct pcap_file *pf, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return pf->swapped ? swap32(v) : v;
}

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool pcap_open(struct pcap_file *pf, FILE *f)
{
	uint8_t h[24];
	uint32_t magic;

	memset(pf, 0, sizeof(*pf));
	pf->f = f;
	if (fread(h, 1, sizeof(h), f) != sizeof(h)) {
		snprintf(pf->err, sizeof(pf->err), "not a pcap file: shorter than the 24-byte file header");
		return false;
	}
	memcpy(&magic, h, 4);
	if (magic == MAGIC_USEC || magic == MAGIC_NSEC) {
		pf->swapped = false;
	} else if (swap32(magic) == MAGIC_USEC || swap32(magic) == MAGIC_NSEC) {
		pf->swapped = true;
		magic = swap32(magic);
	} else if (magic == MAGIC_PCAPNG) {
		snprintf(pf->err, sizeof(pf->err),
			 "pcapng is not supported: write it with `tcpdump -w` or convert it (editcap -F pcap)");
		return false;
	} else {
		snprintf(pf->err, sizeof(pf->err), "not a pcap file: bad magic %08x", magic);
		return false;
	}
	pf->nsec = magic == MAGIC_NSEC;
	pf->snaplen = u32_of(pf, h + 16);
	pf->linktype = u32_of(pf, h + 20) & 0xffff; /* the upper bits are FCS flags */
	switch (pf->linktype) {
	case LINKTYPE_NULL:
	case LINKTYPE_ETHERNET:
	case LINKTYPE_RAW:
	case LINKTYPE_LINUX_SLL:
	case LINKTYPE_LINUX_SLL2:
		return true;
	default:
		snprintf(pf->err, sizeof(pf->err), "unsupported link type %u (want Ethernet, raw IP or Linux cooked)",
			 pf->linktype);
		return false;
	}
}

int pcap_next(struct pcap_file *pf, struct pcap_pkt *pkt)
{
	uint8_t h[16];
	size_t n = fread(h, 1, sizeof(h), pf->f);
	uint32_t caplen;

	if (n == 0)
		return 0;
	if (n != sizeof(h)) {
		snprintf(pf->err, sizeof(pf->err), "truncated record header after packet %llu",
			 (unsigned long long)pf->packets);
		return -1;
	}
	caplen = u32_of(pf, h + 8);
	if (caplen > MAX_RECORD) {
		snprintf(pf->err, sizeof(pf->err), "packet %llu: captured length %u is not plausible",
			 (unsigned long long)pf->packets + 1, caplen);
		return -1;
	}
	if (caplen > pf->bufsize) {
		uint8_t *b = realloc(pf->buf, caplen);

		if (!b) {
			snprintf(pf->err, sizeof(pf->err), "out of memory");
			return -1;
		}
		pf->buf = b;
		pf->bufsize = caplen;
	}
	if (fread(pf->buf, 1, caplen, pf->f) != caplen) {
		snprintf(pf->err, sizeof(pf->err), "packet %llu: truncated (file ends inside its %u bytes)",
			 (unsigned long long)pf->packets + 1, caplen);
		return -1;
	}
	pf->packets++;
	pkt->ts_ns = (int64_t)u32_of(pf, h) * 1000000000 +
		     (int64_t)u32_of(pf, h + 4) * (pf->nsec ? 1 : 1000);
	pkt->data = pf->buf;
	pkt->caplen = caplen;
	pkt->origlen = u32_of(pf, h + 12);
	if (pkt->origlen < caplen)
		pkt->origlen = caplen;
	return 1;
}

void pcap_close(struct pcap_file *pf)
{
	free(pf->buf);
	pf->buf = NULL;
}

/* The link header: where the IP packet starts and its ethertype;
 * 0 for not IP. */
static uint16_t link_skip(const struct pcap_file *pf, const uint8_t *p, uint32_t len, uint32_t *off)
{
	uint16_t type;

	switch (pf->linktype) {
	case LINKTYPE_ETHERNET:
		if (len < 14)
			return 0;
		type = be16_at(p + 12);
		*off = 14;
		while ((type == 0x8100 || type == 0x88a8) && *off + 4 <= len) { /* VLAN tags */
			type = be16_at(p + *off + 2);
			*off += 4;
		}
		return type;
	case LINKTYPE_LINUX_SLL:
		if (len < 16)
			return 0;
		*off = 16;
		return be16_at(p + 14);
	case LINKTYPE_LINUX_SLL2:
		if (len < 20)
			return 0;
		*off = 20;
		return be16_at(p);
	case LINKTYPE_NULL:
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

int pcap_tcp_segment(const struct pcap_file *pf, const struct pcap_pkt *pkt, struct tcp_seg *seg,
		     const char **why)
{
	const uint8_t *p = pkt->data;
	uint32_t cap = pkt->caplen, off = 0, ip_end_wire, tcp_off, thl;
	uint16_t type = link_skip(pf, p, cap, &off);

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
