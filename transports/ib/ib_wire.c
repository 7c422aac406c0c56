// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * RDS/IB's CM private data, version rule and header checksum
 * (net/rds/ib_cm.c rds_ib_cm_fill_conn_param, rds_ib_protocol_compatible;
 * rds.h rds_message_make_checksum).
 */
#include <endian.h>
#include <string.h>
#include <rds-bpf/rules.h>
#include "ib_wire.h"
#include "../../user/common/addr.h"

size_t ib_private_fill(void *out, const uint8_t laddr[16], const uint8_t faddr[16], unsigned int proto,
		       uint64_t ack_seq, uint32_t credit)
{
	struct rds_ib_conn_priv_cmn *cmn;
	size_t len;

	memset(out, 0, sizeof(struct rds6_ib_connect_private));
	if (rdsb_addr_is_v4(laddr)) {
		struct rds_ib_connect_private *dp = out;

		dp->saddr = rdsb_addr_v4(laddr);
		dp->daddr = rdsb_addr_v4(faddr);
		cmn = &dp->cmn;
		len = sizeof(*dp);
	} else {
		struct rds6_ib_connect_private *dp = out;

		memcpy(dp->saddr, laddr, 16);
		memcpy(dp->daddr, faddr, 16);
		cmn = &dp->cmn;
		len = sizeof(*dp);
	}
	cmn->major = (uint8_t)(proto >> 8);
	cmn->minor = (uint8_t)proto;
	cmn->minor_mask = htobe16(RDS_IB_SUPPORTED_PROTOCOLS);
	cmn->ack_seq = htobe64(ack_seq);
	cmn->credit = htobe32(credit);
	return len;
}

bool ib_private_cmn(const void *data, size_t len, bool v6, struct rds_ib_conn_priv_cmn *cmn)
{
	size_t off = v6 ? offsetof(struct rds6_ib_connect_private, cmn) : offsetof(struct rds_ib_connect_private, cmn);

	if (!data || len < off + sizeof(*cmn))
		return false;
	memcpy(cmn, (const uint8_t *)data + off, sizeof(*cmn));
	return true;
}

unsigned int ib_protocol_compatible(const void *data, size_t len, bool v6)
{
	struct rds_ib_conn_priv_cmn cmn;
	unsigned int common;

	if (!data || !len)
		return 0;
	if (!ib_private_cmn(data, len, v6, &cmn) || cmn.major == 0)
		return RDS_IB_PROTO_4_0;
	common = be16toh(cmn.minor_mask) & RDS_IB_SUPPORTED_PROTOCOLS;
	if (cmn.major == 4 && common)
		return RDS_IB_PROTO(4, common & 2 ? 1 : 0);
	if (cmn.major == 3 && cmn.minor == 1)
		return RDS_IB_PROTO_3_1;
	return 0;
}

uint16_t ib_csum(const void *hdr)
{
	const uint8_t *b = hdr;
	uint32_t sum = 0;

	for (unsigned int i = 0; i < RDS_HEADER_SIZE; i += 2) {
		uint16_t w;

		memcpy(&w, b + i, 2);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t ib_credits_grab(struct ib_credits *c, uint32_t wanted, uint32_t *adv, bool need_posted)
{
	uint32_t got = wanted, avail = c->send;

	*adv = 0;
	if (c->on) {
		/* the last credit must be used to send a credit update */
		if (avail && !c->posted)
			avail--;
		got = avail < wanted ? avail : wanted;
		c->send -= got;
	}
	if (c->adv && c->posted && (got || need_posted)) {
		*adv = c->posted < RDS_MAX_ADV_CREDIT ? c->posted : RDS_MAX_ADV_CREDIT;
		c->posted -= *adv;
	}
	return got;
}

bool ib_credits_add(struct ib_credits *c, uint32_t n)
{
	if (n > RDS_IB_MAX_CREDIT - c->send)
		return false;
	c->send += n;
	return true;
}

bool ib_credits_posted(struct ib_credits *c, uint32_t n)
{
	c->posted = c->posted + n < RDS_IB_MAX_CREDIT ? c->posted + n : RDS_IB_MAX_CREDIT;
	return c->adv && c->posted >= RDS_IB_CREDIT_UPDATE;
}

int ib_frame_parse(struct ib_reasm *r, const void *buf, size_t len, struct rdsb_hdr *h)
{
	const struct rds_header *wire = buf;
	uint32_t dlen, want;

	if (len < RDS_HEADER_SIZE)
		return IB_BAD_SHORT;
	if (wire->h_csum && ib_csum(buf))
		return IB_BAD_CSUM;
	rdsb_hdr_decode(wire, h);
	dlen = (uint32_t)(len - RDS_HEADER_SIZE);
	/* ack-only, even between a message's fragments */
	if (h->sport == 0 && h->dport == 0 && dlen == 0)
		return IB_FRAME_ACK;
	if (!r->busy) {
		if (!rdsb_h_len_ok(h->flags, h->len))
			return IB_BAD_LEN;
		r->h = *h;
		r->have = 0;
	} else if (h->seq != r->h.seq || h->len != r->h.len || h->sport != r->h.sport || h->dport != r->h.dport) {
		return IB_BAD_FRAG;
	}
	want = r->h.len - r->have < RDS_IB_FRAG ? r->h.len - r->have : RDS_IB_FRAG;
	if (dlen != want)
		return IB_BAD_FRAG;
	r->have += dlen;
	r->busy = r->have < r->h.len;
	return r->busy ? IB_FRAME_FRAG : IB_FRAME_LAST;
}

const char *ib_frame_why(int verdict)
{
	switch (verdict) {
	case IB_BAD_SHORT:
		return "a frame without a header";
	case IB_BAD_CSUM:
		return "a header with a bad checksum";
	case IB_BAD_LEN:
		return "a header whose h_len RDS does not allow";
	case IB_BAD_FRAG:
		return "a fragment of another message or of the wrong length";
	}
	return "a good frame";
}
