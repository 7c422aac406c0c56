/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A small intrusive hash table for the engine's per-datagram and per-ack
 * lookups (socket by port or id, connection by address pair, path by socket
 * cookie): chained buckets of the kernel's hlist shape, a power-of-two
 * bucket count that doubles once there are more entries than buckets. The
 * caller hashes its key (rdsb_hash_u64, rdsb_hash_mem) and compares keys
 * itself while it walks the entries of one hash value.
 */
#ifndef RDSB_HASH_H
#define RDSB_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rdsb_hnode {
	struct rdsb_hnode *next, **pprev;
	uint64_t hash;
};

struct rdsb_hash {
	struct rdsb_hnode **buckets;	/* NULL until the first entry */
	size_t nbuckets;		/* a power of two */
	size_t count;
};

#define RDSB_HASH_MIN_BUCKETS 16

/* splitmix64's finalizer: every input bit reaches every output bit. */
static inline uint64_t rdsb_hash_u64(uint64_t v)
{
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ull;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

static inline uint64_t rdsb_hash_mem(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = rdsb_hash_u64(seed ^ len);

	while (len) {
		uint64_t w = 0;
		size_t n = len < 8 ? len : 8;

		memcpy(&w, b, n);
		h = rdsb_hash_u64(h ^ w);
		b += n;
		len -= n;
	}
	return h;
}

static inline void rdsb_hash_link(struct rdsb_hnode **head, struct rdsb_hnode *n)
{
	n->next = *head;
	if (n->next)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

/* Twice the buckets; false (the table stays as it is, only slower) when
 * there is no memory for them. */
static inline bool rdsb_hash_grow(struct rdsb_hash *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : RDSB_HASH_MIN_BUCKETS;
	struct rdsb_hnode **b = calloc(nb, sizeof(*b));

	if (!b)
		return false;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct rdsb_hnode *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			rdsb_hash_link(&b[n->hash & (nb - 1)], n);
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return true;
}

/* Adds n under hash; the caller makes sure its key is not in the table yet.
 * Only when there is no memory for the first buckets does it fail (-1). */
static inline int rdsb_hash_add(struct rdsb_hash *t, struct rdsb_hnode *n, uint64_t hash)
{
	if (t->count >= t->nbuckets)
		rdsb_hash_grow(t);
	if (!t->buckets)
		return -1;
	n->hash = hash;
	rdsb_hash_link(&t->buckets[hash & (t->nbuckets - 1)], n);
	t->count++;
	return 0;
}

static inline void rdsb_hash_del(struct rdsb_hash *t, struct rdsb_hnode *n)
{
	if (!n->pprev)
		return;		/* not in a table */
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
	t->count--;
}

static inline bool rdsb_hash_linked(const struct rdsb_hnode *n)
{
	return n->pprev != NULL;
}

static inline void rdsb_hash_free(struct rdsb_hash *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

static inline struct rdsb_hnode *rdsb_hash_next_of(struct rdsb_hnode *n, uint64_t hash)
{
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

static inline struct rdsb_hnode *rdsb_hash_first(const struct rdsb_hash *t, uint64_t hash)
{
	return t->buckets ? rdsb_hash_next_of(t->buckets[hash & (t->nbuckets - 1)], hash) : NULL;
}

/* Every entry added under hash (others may share their bucket). */
#define rdsb_hash_for_each(t, pos, hash) \
	for (pos = rdsb_hash_first(t, hash); pos; pos = rdsb_hash_next_of(pos->next, hash))

#endif
