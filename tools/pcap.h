/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Packets from a capture file (pcap or pcapng, through libpcap) or a live
 * interface, each decoded down to its TCP segment; every length in a packet
 * is checked before use. */
#ifndef RDSB_TOOLS_PCAP_H
#define RDSB_TOOLS_PCAP_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

struct capture {
	pcap_t *p;
	int linktype;		/* DLT_ value */
	bool draining;		/* stopped: reading what is left, without waiting */
	uint64_t packets;	/* read so far */
	char err[PCAP_ERRBUF_SIZE + 64]; /* why capture_open/capture_next failed */
};

struct capture_pkt {
	int64_t ts_ns;
	const uint8_t *data;
	uint32_t caplen;	/* bytes captured */
	uint32_t origlen;	/* bytes on the wire */
};

/* false with c->err set (not a capture file, unsupported link type...).
 * FILE "-" is standard input. */
bool capture_open_file(struct capture *c, const char *file);
/* IFACE, packets to or from TCP port (no root: c->err says so). */
bool capture_open_live(struct capture *c, const char *iface, uint16_t port);
/* 1: a packet; 0: the end (of the file, or capture_stop); -1: a broken
 * record (c->err set). */
int capture_next(struct capture *c, struct capture_pkt *pkt);
/* Packets the kernel dropped before a live capture could read them. */
uint64_t capture_dropped(struct capture *c);
/* From a signal handler: capture_next returns the packets already captured,
 * then 0. */
void capture_stop(struct capture *c);
void capture_close(struct capture *c);

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
int capture_tcp_segment(const struct capture *c, const struct capture_pkt *pkt, struct tcp_seg *seg,
			const char **why);

#endif
