// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/common/hash.h: entries are found under their hash after the table
 * grew, entries sharing a hash value are told apart by their keys, deletion
 * unlinks exactly one entry, and the table doubles at load factor one. */
#include "check.h"
#include "../../user/common/hash.h"
#include "../../user/common/list.h"

struct item {
	uint32_t key;
	struct rdsb_hnode node;
};

/* A deliberately poor hash for the collision tests: 4 values only. */
static uint64_t bad_hash(uint32_t key)
{
	return key % 4;
}

static struct item *find(struct rdsb_hash *t, uint32_t key, uint64_t (*h)(uint32_t))
{
	struct rdsb_hnode *n;
	uint64_t hv = h(key);

	rdsb_hash_for_each(t, n, hv) {
		struct item *it = container_of(n, struct item, node);

		if (it->key == key)
			return it;
	}
	return NULL;
}

static uint64_t good_hash(uint32_t key)
{
	return rdsb_hash_u64(key);
}

static unsigned int count_under(struct rdsb_hash *t, uint64_t hv)
{
	struct rdsb_hnode *n;
	unsigned int c = 0;

	rdsb_hash_for_each(t, n, hv)
		c++;
	return c;
}

static void test_empty(void)
{
	struct rdsb_hash t = { 0 };
	struct item it = { .key = 1 };

	CHECK(find(&t, 1, good_hash) == NULL);
	CHECK(!rdsb_hash_linked(&it.node));
	rdsb_hash_del(&t, &it.node);	/* not in a table: nothing happens */
	CHECK_EQ(t.count, 0);
	rdsb_hash_free(&t);
}

static void test_grow_keeps_entries(uint64_t (*h)(uint32_t))
{
	enum { N = 5000 };
	static struct item items[N];
	struct rdsb_hash t = { 0 };
	unsigned int found = 0, added = 0;
	bool load_ok = true;

	for (uint32_t i = 0; i < N; i++) {
		items[i].key = i * 7919u;
		added += rdsb_hash_add(&t, &items[i].node, h(items[i].key)) == 0;
		load_ok &= t.count <= t.nbuckets;	/* load factor at most one */
	}
	CHECK_EQ(added, N);
	CHECK(load_ok);
	CHECK_EQ(t.count, N);
	CHECK_EQ(t.nbuckets, 8192);
	for (uint32_t i = 0; i < N; i++)
		found += find(&t, i * 7919u, h) == &items[i];
	CHECK_EQ(found, N);
	CHECK(find(&t, 1, h) == NULL);		/* 1 is no multiple of 7919 */

	/* delete every other one: the rest stay, the deleted are gone */
	for (uint32_t i = 0; i < N; i += 2)
		rdsb_hash_del(&t, &items[i].node);
	CHECK_EQ(t.count, N / 2);
	found = 0;
	for (uint32_t i = 0; i < N; i++)
		found += find(&t, i * 7919u, h) == (i % 2 ? &items[i] : NULL);
	CHECK_EQ(found, N);
	CHECK(!rdsb_hash_linked(&items[0].node));
	CHECK(rdsb_hash_linked(&items[1].node));

	/* and they go back in */
	for (uint32_t i = 0; i < N; i += 2)
		CHECK_EQ(rdsb_hash_add(&t, &items[i].node, h(items[i].key)), 0);
	found = 0;
	for (uint32_t i = 0; i < N; i++)
		found += find(&t, i * 7919u, h) == &items[i];
	CHECK_EQ(found, N);
	rdsb_hash_free(&t);
	CHECK(t.buckets == NULL);
}

static void test_shared_hash(void)
{
	struct item items[40];
	struct rdsb_hash t = { 0 };

	for (uint32_t i = 0; i < 40; i++) {
		items[i].key = i;
		rdsb_hash_add(&t, &items[i].node, bad_hash(i));
	}
	/* the walk visits exactly the entries of one hash value */
	for (uint64_t hv = 0; hv < 4; hv++)
		CHECK_EQ(count_under(&t, hv), 10);
	CHECK_EQ(count_under(&t, 4), 0);
	/* deleting the head, the middle and the tail of one chain */
	rdsb_hash_del(&t, &items[36].node);
	rdsb_hash_del(&t, &items[16].node);
	rdsb_hash_del(&t, &items[0].node);
	CHECK_EQ(count_under(&t, 0), 7);
	CHECK(find(&t, 36, bad_hash) == NULL);
	CHECK(find(&t, 16, bad_hash) == NULL);
	CHECK(find(&t, 0, bad_hash) == NULL);
	CHECK(find(&t, 4, bad_hash) == &items[4]);
	CHECK(find(&t, 32, bad_hash) == &items[32]);
	CHECK(find(&t, 39, bad_hash) == &items[39]);
	CHECK_EQ(t.count, 37);
	rdsb_hash_free(&t);
}

static void test_hash_mem(void)
{
	uint8_t a[18] = { 0 }, b[18] = { 0 };

	CHECK(rdsb_hash_mem(a, 18, 1) == rdsb_hash_mem(b, 18, 1));
	CHECK(rdsb_hash_mem(a, 18, 1) != rdsb_hash_mem(a, 18, 2));	/* the seed counts */
	CHECK(rdsb_hash_mem(a, 17, 1) != rdsb_hash_mem(a, 18, 1));	/* so does the length */
	b[17] = 1;							/* and the tail byte */
	CHECK(rdsb_hash_mem(a, 18, 1) != rdsb_hash_mem(b, 18, 1));
	CHECK(rdsb_hash_u64(1) != rdsb_hash_u64(2));
}

int main(void)
{
	test_empty();
	test_grow_keeps_entries(good_hash);
	test_grow_keeps_entries(bad_hash);
	test_shared_hash();
	test_hash_mem();
	return check_done();
}
