// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <endian.h>
#include <string.h>
#include "frame.h"

uint32_t rdsx_frag_size(unsigned int mtu, bool v6)
{
	unsigned int room = mtu - (unsigned int)(rdsx_l2l4_len(v6) - RDSX_ETH_LEN) - RDS_HEADER_SIZE;

	if (mtu < 576)
		room = 576 - (unsigned int)(rdsx_l2l4_len(v6) - RDSX_ETH_LEN) - RDS_HEADER_SIZE;
	return room < RDS_FRAG_SIZE ? room : RDS_FRAG_SIZE;
}

/* The big-endian 16-bit sum of n bytes, copied to dst on the way unless it
 * is NULL (one pass: a fragment is read once, for its copy and its sum). A
 * ones' complement sum does not depend on byte order (RFC 1071): 32-bit
 * native words are added in 64 bits, folded and swapped once. */
static inline uint32_t sum_words(uint8_t *dst, const uint8_t *p, size_t n)
{
	uint64_t acc = 0;
	uint16_t w16 = 0;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		if (dst) {
			memcpy(dst, &w, 8);
			dst += 8;
		}
		acc += (w & 0xffffffffu) + (w >> 32);
	}
	if (dst)
		memcpy(dst, p, n);
	for (; n >= 2; p += 2, n -= 2) {
		memcpy(&w16, p, 2);
		acc += w16;
	}
	if (n) {
		w16 = 0;
		memcpy(&w16, p, 1);	/* the odd byte, padded with a zero after it */
		acc += w16;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return ntohs((uint16_t)acc);
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	return s + sum_words(NULL, p, n);
}

uint32_t rdsx_copy_sum(uint8_t *dst, const uint8_t *src, size_t n)
{
	return sum_words(dst, src, n);
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

size_t rdsx_frame_build(uint8_t *buf, const struct rdsx_l3 *l, size_t udp_payload)
{
	uint8_t *ip = buf + RDSX_ETH_LEN, *udp;
	uint16_t ulen = (uint16_t)(8 + udp_payload);

	memcpy(buf, l->dmac, 6);
	memcpy(buf + 6, l->smac, 6);
	if (l->v6) {
		buf[12] = 0x86;
		buf[13] = 0xdd;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		ip[4] = (uint8_t)(ulen >> 8);
		ip[5] = (uint8_t)ulen;
		ip[6] = 17;	/* UDP */
		ip[7] = 64;
		memcpy(ip + 8, l->saddr, 16);
		memcpy(ip + 24, l->daddr, 16);
		udp = ip + 40;
	} else {
		uint16_t tot = (uint16_t)(20 + ulen);

		buf[12] = 0x08;
		buf[13] = 0x00;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		ip[6] = 0x40;	/* DF: frames are sized to the MTU */
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, l->saddr + 12, 4);
		memcpy(ip + 16, l->daddr + 12, 4);
		uint16_t c = fold(sum16(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		udp = ip + 20;
	}
	udp[0] = (uint8_t)(l->sport >> 8);
	udp[1] = (uint8_t)l->sport;
	udp[2] = (uint8_t)(l->dport >> 8);
	udp[3] = (uint8_t)l->dport;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	udp[6] = udp[7] = 0;
	return rdsx_l2l4_len(l->v6) + udp_payload;
}

void rdsx_frame_csum(uint8_t *buf, const struct rdsx_l3 *l, size_t udp_payload, uint32_t frag_sum)
{
	uint8_t *udp = buf + rdsx_l2l4_len(l->v6) - 8;
	uint32_t ulen = (uint32_t)(8 + udp_payload), s;
	uint16_t c;

	/* pseudo header, then the datagram with its checksum field zero */
	if (l->v6)
		s = sum16(sum16(0, l->saddr, 16), l->daddr, 16);
	else
		s = sum16(sum16(0, l->saddr + 12, 4), l->daddr + 12, 4);
	s += ulen + 17;
	udp[6] = udp[7] = 0;
	c = fold(sum16(s, udp, 8 + RDS_HEADER_SIZE) + frag_sum);
	if (!c)
		c = 0xffff;	/* 0 would mean "no checksum" */
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
}

void rdsx_fields_put(struct rds_header *h, const struct rdsx_fields *f)
{
	uint32_t n = htobe32(f->frame);

	memcpy(h->h_padding, &n, 4);
	h->h_csum = htobe16(f->epoch);
	h->h_ack = htobe64(f->ack);
	h->h_credit = f->credit;
}

void rdsx_fields_get(const struct rds_header *h, struct rdsx_fields *f)
{
	uint32_t n;

	memcpy(&n, h->h_padding, 4);
	f->frame = be32toh(n);
	f->epoch = be16toh(h->h_csum);
	f->ack = be64toh(h->h_ack);
	f->credit = h->h_credit;
}

bool rdsx_frame_parse(const uint8_t *buf, size_t len, struct rdsx_rx *rx)
{
	const uint8_t *ip = buf + RDSX_ETH_LEN, *udp;
	uint16_t ulen, sport;

	if (len < RDSX_ETH_LEN)
		return false;
	memset(rx, 0, sizeof(*rx));
	memcpy(rx->fmac, buf + 6, 6);
	if (buf[12] == 0x86 && buf[13] == 0xdd) {
		if (len < rdsx_l2l4_len(true) || ip[6] != 17)
			return false;
		rx->v6 = true;
		memcpy(rx->faddr, ip + 8, 16);
		memcpy(rx->laddr, ip + 24, 16);
		udp = ip + 40;
	} else if (buf[12] == 0x08 && buf[13] == 0x00) {
		size_t ihl;

		if (len < RDSX_ETH_LEN + 20)	/* before reading the IHL */
			return false;
		ihl = (size_t)(ip[0] & 0xf) * 4;
		if (ihl < 20 || len < RDSX_ETH_LEN + ihl + 8 || ip[9] != 17)
			return false;
		rx->faddr[10] = rx->faddr[11] = rx->laddr[10] = rx->laddr[11] = 0xff;
		memcpy(rx->faddr + 12, ip + 12, 4);
		memcpy(rx->laddr + 12, ip + 16, 4);
		udp = ip + ihl;
	} else {
		return false;
	}
	ulen = (uint16_t)(udp[4] << 8 | udp[5]);
	sport = (uint16_t)(udp[0] << 8 | udp[1]);
	if ((uint16_t)(udp[2] << 8 | udp[3]) != RDSX_PORT || ulen < 8 + RDS_HEADER_SIZE ||
	    (size_t)(udp - buf) + ulen > len || sport < RDSX_SPORT_BASE ||
	    sport >= RDSX_SPORT_BASE + RDS_MPATH_WORKERS)
		return false;
	rx->path = sport - RDSX_SPORT_BASE;
	rx->hdr = (const struct rds_header *)(udp + 8);
	rx->payload = udp + 8 + RDS_HEADER_SIZE;
	rx->payload_len = ulen - 8u - RDS_HEADER_SIZE;
	return true;
}
