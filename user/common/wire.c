// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <endian.h>
#include <string.h>
#include <rds-bpf/maps.h>
#include "wire.h"

static const int exthdr_size[__RDS_EXTHDR_MAX] = {
	[RDS_EXTHDR_NONE] = 0,
	[RDS_EXTHDR_VERSION] = 4,
	[RDS_EXTHDR_RDMA] = 4,
	[RDS_EXTHDR_RDMA_DEST] = 8,
	[RDS_EXTHDR_RDMA_BYTES] = 8,
	[RDS_EXTHDR_NPATHS] = 2,
	[RDS_EXTHDR_GEN_NUM] = 4,
	[RDS_EXTHDR_SPORT_IDX] = 1,
};

int rdsb_exthdr_size(unsigned int type)
{
	return type < __RDS_EXTHDR_MAX ? exthdr_size[type] : -1;
}

unsigned int rdsb_exthdr_next(const uint8_t ext[RDS_HEADER_EXT_SPACE], unsigned int *pos,
			      void *buf, size_t buflen)
{
	unsigned int p = *pos, type;
	int len;

	if (p >= RDS_HEADER_EXT_SPACE)
		return RDS_EXTHDR_NONE;
	type = ext[p++];
	if (type == RDS_EXTHDR_NONE || type >= __RDS_EXTHDR_MAX)
		return RDS_EXTHDR_NONE;
	len = exthdr_size[type];
	if (p + (unsigned int)len > RDS_HEADER_EXT_SPACE)
		return RDS_EXTHDR_NONE;
	/* A type this table does not know has length 0: only its type byte is
	 * consumed, as in the kernel, and the caller ignores it. */
	memset(buf, 0, buflen);
	memcpy(buf, ext + p, (size_t)len < buflen ? (size_t)len : buflen);
	*pos = p + (unsigned int)len;
	return type;
}

bool rdsb_exthdr_add(uint8_t ext[RDS_HEADER_EXT_SPACE], unsigned int *pos, unsigned int type,
		     const void *data)
{
	int len = rdsb_exthdr_size(type);

	if (len < 0 || type == RDS_EXTHDR_NONE || *pos + 1 + (unsigned int)len > RDS_HEADER_EXT_SPACE)
		return false;
	ext[(*pos)++] = (uint8_t)type;
	memcpy(ext + *pos, data, (size_t)len);
	*pos += (unsigned int)len;
	return true;
}

void rdsb_hs_encode(uint8_t ext[RDS_HEADER_EXT_SPACE], uint16_t npaths, uint32_t gen, uint8_t deliv)
{
	/* As a 2026 kernel sends it: NPATHS, GEN_NUM, SPORT_IDX (a dummy 0).
	 * Legacy kernels parse the first two and skip the unknown third; then
	 * ours, where every kernel's walk ends (bytes 10 and 11). */
	unsigned int pos = 0;
	uint16_t np = htobe16(npaths);
	uint32_t g = htobe32(gen);
	uint8_t idx = 0;

	memset(ext, 0, RDS_HEADER_EXT_SPACE);
	rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_NPATHS, &np);
	rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_GEN_NUM, &g);
	rdsb_exthdr_add(ext, &pos, RDS_EXTHDR_SPORT_IDX, &idx);
	if (deliv) {
		ext[pos++] = RDSB_EXTHDR_DELIV;
		ext[pos] = deliv;
	}
}

void rdsb_hs_decode(const uint8_t ext[RDS_HEADER_EXT_SPACE], struct rdsb_hs *hs)
{
	unsigned int pos = 0, type;
	uint8_t buf[8];

	memset(hs, 0, sizeof(*hs));
	while ((type = rdsb_exthdr_next(ext, &pos, buf, sizeof(buf))) != RDS_EXTHDR_NONE) {
		switch (type) {
		case RDS_EXTHDR_NPATHS:
			hs->has_npaths = true;
			hs->npaths = (uint16_t)(buf[0] << 8 | buf[1]);
			break;
		case RDS_EXTHDR_GEN_NUM:
			hs->has_gen = true;
			hs->gen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
				  (uint32_t)buf[2] << 8 | buf[3];
			break;
		case RDS_EXTHDR_SPORT_IDX:
			hs->has_sport_idx = true;
			break;
		default:
			break;
		}
	}
	/* where the kernel's walk ended: ours, if there is room for its byte */
	if (pos + 1 < RDS_HEADER_EXT_SPACE && ext[pos] == RDSB_EXTHDR_DELIV)
		hs->deliv = ext[pos + 1] & (RDSB_DELIV_SENDS_ACKS | RDSB_DELIV_READS_ACKS |
					     RDSB_DELIV_LANES_NAMED);
}

unsigned int rdsb_hs_npaths(const struct rdsb_hs *hs)
{
	unsigned int n = hs->has_npaths ? hs->npaths : 1;

	if (n > RDS_MPATH_WORKERS)
		n = RDS_MPATH_WORKERS;
	return n ? n : 1;
}

int rdsb_addr_cmp(const uint8_t a[16], const uint8_t b[16])
{
	return memcmp(a, b, 16);
}
