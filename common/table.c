/* Chained hash of intrusive nodes; memory is the bucket array only. */
#include "table.h"

#include <stdlib.h>

#include "rand.h"

static size_t slot(const struct table *t, uint64_t key)
{
	/* splitmix64's finaliser over the seeded key */
	uint64_t z = key ^ t->seed;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return (size_t)(z ^ (z >> 31)) & t->mask;
}

int table_init(struct table *t, size_t expected)
{
	size_t n = 16;

	while (n < expected)
		n <<= 1;
	t->bucket = calloc(n, sizeof(*t->bucket));
	if (!t->bucket)
		return -1;
	t->mask = n - 1;
	t->count = 0;
	rand_bytes(&t->seed, sizeof(t->seed));
	return 0;
}

void table_free(struct table *t)
{
	free(t->bucket);
	t->bucket = NULL;
}

void table_insert(struct table *t, struct table_node *n, uint64_t key)
{
	struct table_node **head = &t->bucket[slot(t, key)];

	n->key = key;
	n->next = *head;
	*head = n;
	t->count++;
}

void table_remove(struct table *t, struct table_node *n)
{
	for (struct table_node **pp = &t->bucket[slot(t, n->key)]; *pp;
	     pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			t->count--;
			return;
		}
}

struct table_node *table_find(const struct table *t, uint64_t key)
{
	struct table_node *n = t->bucket[slot(t, key)];

	while (n && n->key != key)
		n = n->next;
	return n;
}

struct table_node *table_find_next(const struct table_node *n)
{
	uint64_t key = n->key;

	for (n = n->next; n && n->key != key; n = n->next)
		;
	return (struct table_node *)(uintptr_t)n;
}
