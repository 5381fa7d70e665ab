/* Unit tests of common/table.c: the intrusive chained hash table, against a
 * sorted reference of what was inserted, with many nodes sharing keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "table.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum { N_NODES = 10000, N_POOL = 40 };

static uint64_t prng_state;

static uint64_t prng(void)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

struct entry {
	uint64_t pad;			/* the node is not the first member */
	struct table_node node;
	uint64_t key;			/* what we inserted it under */
	int in;				/* currently in the table */
	unsigned stamp;			/* last verify pass that met it */
};

static struct entry ents[N_NODES];
static size_t order[N_NODES];		/* indices sorted by key */
static unsigned pass;

static struct entry *entry_of(const struct table_node *n)
{
	size_t off = offsetof(struct entry, node);
	const char *p = (const char *)n - off;
	size_t i = (size_t)(p - (const char *)ents) / sizeof(ents[0]);

	assert_in_range(i, 0, N_NODES - 1);
	assert_ptr_equal(&ents[i].node, n);
	return &ents[i];
}

static int by_key(const void *a, const void *b)
{
	uint64_t ka = ents[*(const size_t *)a].key;
	uint64_t kb = ents[*(const size_t *)b].key;

	return ka < kb ? -1 : ka > kb;
}

/* Keys: a fifth from a small pool (so many nodes share a key), the rest
 * random 64-bit values, plus the extremes. */
static uint64_t pool[N_POOL];

static void make_keys(uint64_t seed)
{
	prng_state = seed;
	for (size_t i = 0; i < N_POOL; i++)
		pool[i] = prng();
	pool[0] = 0;
	pool[1] = UINT64_MAX;
	for (size_t i = 0; i < N_NODES; i++) {
		memset(&ents[i], 0, sizeof(ents[i]));
		ents[i].key = prng() % 5 == 0 ? pool[prng() % N_POOL] : prng();
		order[i] = i;
	}
	qsort(order, N_NODES, sizeof(order[0]), by_key);
}

static int key_known(uint64_t key)
{
	size_t lo = 0, hi = N_NODES;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ents[order[mid]].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < N_NODES && ents[order[lo]].key == key;
}

/* For every key: table_find + table_find_next visit exactly the entries in
 * the table with that key, each once; and the count is right. */
static void verify(const struct table *t)
{
	size_t in = 0;

	pass++;
	for (size_t g = 0; g < N_NODES;) {
		uint64_t key = ents[order[g]].key;
		size_t want = 0, got = 0, end = g;

		for (; end < N_NODES && ents[order[end]].key == key; end++)
			want += (size_t)ents[order[end]].in;
		for (const struct table_node *n = table_find(t, key); n;
		     n = table_find_next(n)) {
			struct entry *e = entry_of(n);

			assert_true(n->key == key);
			assert_true(e->key == key);
			assert_true(e->in);
			assert_int_not_equal(e->stamp, pass);	/* visited once */
			e->stamp = pass;
			if (++got > want)
				fail_msg("key %#llx: more than %zu nodes",
					 (unsigned long long)key, want);
		}
		if (got != want)
			fail_msg("key %#llx: found %zu nodes, expected %zu",
				 (unsigned long long)key, got, want);
		in += want;
		g = end;
	}
	for (size_t i = 0; i < N_NODES; i++)
		assert_int_equal(ents[i].stamp == pass, ents[i].in);
	assert_int_equal(t->count, in);
}

static void insert(struct table *t, size_t i)
{
	size_t before = t->count;

	table_insert(t, &ents[i].node, ents[i].key);
	ents[i].in = 1;
	assert_int_equal(t->count, before + 1);
	assert_true(ents[i].node.key == ents[i].key);
}

static void remove_one(struct table *t, size_t i)
{
	size_t before = t->count;

	table_remove(t, &ents[i].node);
	ents[i].in = 0;
	assert_int_equal(t->count, before - 1);
}

static const size_t sizes[] = { 0, 1, 16, 1000, N_NODES, 1u << 17 };

static void test_init_sizes(void **state)
{
	struct table t;

	(void)state;
	for (size_t s = 0; s < N_ELEMS(sizes); s++) {
		assert_int_equal(table_init(&t, sizes[s]), 0);
		size_t n = t.mask + 1;
		assert_int_equal(n & t.mask, 0);	/* a power of two */
		assert_true(n >= 16 && n >= sizes[s]);
		assert_true(n == 16 || n / 2 < sizes[s]);	/* the smallest */
		assert_int_equal(t.count, 0);
		for (size_t k = 0; k < n; k++)
			assert_null(t.bucket[k]);
		assert_null(table_find(&t, 0));
		assert_null(table_find(&t, 12345));
		table_free(&t);
		assert_null(t.bucket);
	}
}

static void test_insert_find_remove(void **state)
{
	struct table t;

	(void)state;
	for (size_t s = 0; s < N_ELEMS(sizes); s++) {
		make_keys(1000 + s);
		assert_int_equal(table_init(&t, sizes[s]), 0);

		for (size_t i = 0; i < N_NODES; i++)
			insert(&t, i);
		verify(&t);

		/* keys never inserted are not found */
		for (int k = 0; k < 2000; k++) {
			uint64_t key = prng();
			if (!key_known(key))
				assert_null(table_find(&t, key));
		}

		/* remove a random half, in random order */
		for (size_t i = 0; i < N_NODES; i++)
			if (prng() & 1)
				remove_one(&t, i);
		verify(&t);

		/* every node of a shared key, from the middle outwards */
		uint64_t pooled = pool[2];
		size_t shared = 0;
		for (size_t i = 0; i < N_NODES; i++)
			shared += ents[i].key == pooled && ents[i].in;
		assert_true(shared >= 2);
		for (size_t i = N_NODES / 2; i < N_NODES; i++)
			if (ents[i].key == pooled && ents[i].in)
				remove_one(&t, i);
		for (size_t i = 0; i < N_NODES / 2; i++)
			if (ents[i].key == pooled && ents[i].in)
				remove_one(&t, i);
		assert_null(table_find(&t, pooled));
		verify(&t);

		/* put everything back, then take everything out */
		for (size_t i = 0; i < N_NODES; i++)
			if (!ents[i].in)
				insert(&t, i);
		assert_int_equal(t.count, N_NODES);
		verify(&t);
		for (size_t i = N_NODES; i-- > 0;)
			remove_one(&t, i);
		assert_int_equal(t.count, 0);
		verify(&t);
		for (size_t k = 0; k <= t.mask; k++)
			assert_null(t.bucket[k]);
		table_free(&t);
	}
}

/* Nodes sharing a key: the chain order does not matter, but every one is
 * reached, and removing any one keeps the others reachable. */
static void test_shared_key(void **state)
{
	static const uint64_t keys[] = { 0, 1, 42, UINT64_MAX };
	enum { K = 50 };
	struct table t;

	(void)state;
	assert_int_equal(table_init(&t, 4), 0);
	for (size_t k = 0; k < N_ELEMS(keys); k++) {
		for (size_t i = 0; i < K; i++) {
			memset(&ents[i], 0, sizeof(ents[i]));
			ents[i].key = keys[k];
			insert(&t, i);
		}
		for (size_t gone = 0; gone < K; gone++) {
			size_t victim = (gone * 17 + 3) % K;	/* 17 is coprime to 50 */
			size_t seen = 0;

			for (const struct table_node *n = table_find(&t, keys[k]); n;
			     n = table_find_next(n)) {
				assert_true(n->key == keys[k]);
				assert_true(entry_of(n)->in);
				seen++;
			}
			assert_int_equal(seen, K - gone);
			assert_true(ents[victim].in);
			remove_one(&t, victim);
		}
		assert_null(table_find(&t, keys[k]));
		assert_int_equal(t.count, 0);
	}
	table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_sizes),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_shared_key),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
