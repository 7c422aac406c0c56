// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf stress messages: a header with sequence number and checksum, and a
 * body that costs the sender nothing (a window into a pattern buffer whose
 * checksums are computed once) and the receiver one pass.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include "stress.h"

#define NWINDOWS 16	/* body offsets: message seq uses window seq % NWINDOWS */

struct stress_pattern {
	uint32_t body_len;
	uint8_t *buf;			/* body_len + 8 * NWINDOWS bytes */
	uint64_t sums[NWINDOWS];	/* body_sum() of each window */
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Fletcher-style sums in four 64-bit lanes: position-sensitive and several
 * bytes per cycle, so that verifying 1 MiB messages stays cheap. */
static uint64_t body_sum(const uint8_t *p, size_t n)
{
	uint64_t a[4] = { 0 }, b[4] = { 0 }, r;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		for (int k = 0; k < 4; k++) {
			uint64_t w;

			memcpy(&w, p + i + 8 * k, 8);
			a[k] += le64toh(w);
			b[k] += a[k];
		}
	}
	for (; i < n; i++) {
		a[0] += p[i];
		b[0] += a[0];
	}
	/* mixed one sum at a time, so that a change in a lane's two sums never cancels out */
	r = (uint64_t)n;
	for (int k = 0; k < 4; k++) {
		r ^= a[k];
		r = splitmix64(&r);
		r ^= b[k];
		r = splitmix64(&r);
	}
	return r;
}

static uint64_t seal(uint64_t body, uint16_t type, uint16_t task, uint64_t seq, uint64_t ts, uint32_t len)
{
	uint64_t s = body ^ seq, t = ts ^ ((uint64_t)type << 48 | (uint64_t)task << 32 | len);

	return splitmix64(&s) ^ splitmix64(&t);
}

struct stress_pattern *stress_pattern_new(uint32_t msg_len)
{
	struct stress_pattern *p = calloc(1, sizeof(*p));
	uint64_t seed = 0x5EED;

	if (!p)
		return NULL;
	p->body_len = msg_len - STRESS_MSG_MIN;
	p->buf = malloc(p->body_len + 8 * NWINDOWS + 8);
	if (!p->buf) {
		free(p);
		return NULL;
	}
	for (uint32_t i = 0; i < p->body_len + 8 * NWINDOWS; i += 8) {
		uint64_t v = htole64(splitmix64(&seed));

		memcpy(p->buf + i, &v, 8);
	}
	for (int w = 0; w < NWINDOWS; w++)
		p->sums[w] = body_sum(p->buf + 8 * w, p->body_len);
	return p;
}

void stress_pattern_free(struct stress_pattern *p)
{
	if (p)
		free(p->buf);
	free(p);
}

int stress_msg_build(const struct stress_pattern *p, struct stress_msg *hdr, uint16_t type, uint16_t task,
		     uint64_t seq, uint64_t ts_ns, struct iovec iov[2])
{
	unsigned int w = (unsigned int)(seq % NWINDOWS);

	hdr->magic = htole32(STRESS_MAGIC);
	hdr->type = htole16(type);
	hdr->task = htole16(task);
	hdr->seq = htole64(seq);
	hdr->ts_ns = htole64(ts_ns);
	hdr->csum = htole64(seal(p->sums[w], type, task, seq, ts_ns, STRESS_MSG_MIN + p->body_len));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(*hdr);
	iov[1].iov_base = p->buf + 8 * w;
	iov[1].iov_len = p->body_len;
	return p->body_len ? 2 : 1;
}

bool stress_msg_valid(const void *buf, size_t len, uint16_t type, uint16_t task, uint32_t want_len,
		      const struct stress_pattern *unread, struct stress_msg *hdr)
{
	const uint8_t *b = buf;
	struct stress_msg h;
	uint64_t body;

	if (len != want_len || len < sizeof(h) || (unread && len != STRESS_MSG_MIN + unread->body_len))
		return false;
	memcpy(&h, b, sizeof(h));
	hdr->magic = le32toh(h.magic);
	hdr->type = le16toh(h.type);
	hdr->task = le16toh(h.task);
	hdr->seq = le64toh(h.seq);
	hdr->ts_ns = le64toh(h.ts_ns);
	hdr->csum = le64toh(h.csum);
	body = unread ? unread->sums[hdr->seq % NWINDOWS] : body_sum(b + sizeof(h), len - sizeof(h));
	return hdr->magic == STRESS_MAGIC && hdr->type == type && hdr->task == task &&
	       hdr->csum == seal(body, type, task, hdr->seq, hdr->ts_ns, (uint32_t)len);
}
