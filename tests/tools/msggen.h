/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The test tools' datagrams: message i of the sender bound to port P has a
 * size and content derived only from (SEED, P, i), so a receiver can
 * regenerate and compare every datagram. hash = FNV-1a 64 over (size as 4
 * bytes LE + payload) of all messages in order.
 */
#ifndef RDSB_TEST_MSGGEN_H
#define RDSB_TEST_MSGGEN_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The size of message idx, MIN..MAX, drawn first from its own state s. */
static inline uint32_t msg_draw_size(uint64_t *s, uint64_t seed, uint32_t min, uint32_t max, uint16_t port,
				     uint64_t idx)
{
	*s = seed ^ ((uint64_t)port << 48) ^ (idx * 0xD1B54A32D192ED03ULL);
	return min + (uint32_t)(splitmix64(s) % ((uint64_t)max - min + 1));
}

/* Fill buf with message idx of the sender on port, sized MIN..MAX; returns
 * its size. Each message is seeded independently so the receiver can
 * regenerate index i without replaying 0..i-1. Bytes are emitted
 * little-endian explicitly so the stream does not depend on host endianness. */
static inline uint32_t msg_gen(uint64_t seed, uint32_t min, uint32_t max, uint16_t port, uint64_t idx,
			       uint8_t *buf)
{
	uint64_t s;
	uint32_t size = msg_draw_size(&s, seed, min, max, port, idx);
	for (uint32_t off = 0; off < size; off += 8) {
		uint64_t v = splitmix64(&s);
		for (uint32_t k = 0; k < 8 && off + k < size; k++)
			buf[off + k] = (uint8_t)(v >> (8 * k));
	}
	return size;
}

static inline uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static inline uint64_t hash_msg(uint64_t h, const uint8_t *buf, uint32_t size)
{
	uint8_t le[4] = { size, size >> 8, size >> 16, size >> 24 };
	return fnv(fnv(h, le, 4), buf, size);
}

#endif
