/* An intrusive chained hash table keyed by 64-bit keys, sized once for the
 * session limit. Entries embed a table_node; several entries may share a
 * key (callers compare what the key summarises). The bucket index mixes the
 * key with a random seed so peers cannot aim at one bucket. */
#ifndef MP_TABLE_H
#define MP_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_node {
	struct table_node *next;
	uint64_t key;
};

struct table {
	struct table_node **bucket;
	size_t mask;
	uint64_t seed;
	size_t count;
};

/* Sizes the bucket array to at least `expected` entries (power of two). */
int table_init(struct table *t, size_t expected);
void table_free(struct table *t);
void table_insert(struct table *t, struct table_node *n, uint64_t key);
void table_remove(struct table *t, struct table_node *n);
/* First node with this key, then the next one after n; NULL at the end. */
struct table_node *table_find(const struct table *t, uint64_t key);
struct table_node *table_find_next(const struct table_node *n);

#endif
