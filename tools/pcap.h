/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Reading a classic libpcap capture file (the format `tcpdump -w` writes)
 * and decoding each packet down to its TCP segment. No libpcap: the format
 * is small, and every length in it is checked before use. */
#ifndef RDSB_TOOLS_PCAP_H
#define RDSB_TOOLS_PCAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pcap_file {
	FILE *f;
	bool swapped;		/* written on a host of the other byte order */
	bool nsec;		/* nanosecond timestamps */
	uint32_t linktype;
	uint32_t snaplen;
	uint64_t packets;	/* records read so far */
	uint8_t *buf;		/* the current packet */
	size_t bufsize;
	char err[160];		/* why pcap_open/pcap_next failed */
};

struct pcap_pkt {
	int64_t ts_ns;
	const uint8_t *data;
	uint32_t caplen;	/* bytes in the file */
	uint32_t origlen;	/* bytes on the wire */
};

/* false with pf->err set (not a pcap file, unsupported link type...) */
bool pcap_open(struct pcap_file *pf, FILE *f);
/* 1: a packet; 0: clean end of file; -1: a broken record (pf->err set). */
int pcap_next(struct pcap_file *pf, struct pcap_pkt *pkt);
void pcap_close(struct pcap_file *pf);

/* A TCP segment, addresses as 16 bytes (IPv4 v4-mapped). */
struct tcp_seg {
	int64_t ts_ns;
	int family;		/* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq;
	bool syn, fin, rst;
	const uint8_t *payload;
	uint32_t len;		/* payload bytes captured */
	uint32_t missing;	/* payload bytes on the wire but not captured (snaplen) */
};

/* 1: a TCP segment; 0: something else (ARP, UDP, an IP fragment...);
 * -1: a malformed header (reason in why). */
int pcap_tcp_segment(const struct pcap_file *pf, const struct pcap_pkt *pkt, struct tcp_seg *seg,
		     const char **why);

#endif
