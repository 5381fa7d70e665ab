/* mpserver's inner-address table for tun mode: address -> session key, in a
 * pool sized once (ROUTES_PER_SESSION per allowed session), with the
 * conflict rule of route_claim. It holds session keys, not pointers, so a
 * session closed elsewhere leaves no dangling entry: its addresses are
 * released on the next claim or sweep. */
#include "route.h"

#include <stdlib.h>

#include "util.h"

int route_init(struct route_table *r, size_t cap, route_alive_fn alive, void *ctx)
{
	*r = (struct route_table){ .cap = cap, .alive = alive, .ctx = ctx };
	r->pool = calloc(cap, sizeof(*r->pool));
	if (!r->pool || table_init(&r->by_addr, cap)) {
		free(r->pool);
		r->pool = NULL;
		return -1;
	}
	for (size_t i = cap; i-- > 0;) {
		r->pool[i].next_free = r->free;
		r->free = &r->pool[i];
	}
	return 0;
}

void route_free(struct route_table *r)
{
	if (!r->pool)
		return;
	table_free(&r->by_addr);
	free(r->pool);
	r->pool = NULL;
}

static struct route *find(const struct route_table *r, const struct ip_addr *a)
{
	for (struct table_node *n = table_find(&r->by_addr, ip_addr_hash(a)); n;
	     n = table_find_next(n)) {
		struct route *e = container_of(n, struct route, node);
		if (ip_addr_equal(&e->addr, a))
			return e;
	}
	return NULL;
}

static void release(struct route_table *r, struct route *e)
{
	table_remove(&r->by_addr, &e->node);
	e->next_free = r->free;
	r->free = e;
	r->used--;
}

enum route_claim route_claim(struct route_table *r, const struct ip_addr *a,
			     uint64_t owner, uint64_t now_ms, uint64_t *prev)
{
	struct route *e = find(r, a);

	if (e && e->owner == owner) {
		e->last_ms = now_ms;
		return ROUTE_OWNED;
	}
	if (e) {
		*prev = e->owner;
		if (now_ms - e->last_ms < ROUTE_HOLD_MS && r->alive(r->ctx, e->owner))
			return ROUTE_CONFLICT;
		e->owner = owner;
		e->last_ms = now_ms;
		return ROUTE_MOVED;
	}
	if (!r->free && !route_sweep(r))
		return ROUTE_FULL;
	e = r->free;
	r->free = e->next_free;
	r->used++;
	e->addr = *a;
	e->owner = owner;
	e->last_ms = now_ms;
	table_insert(&r->by_addr, &e->node, ip_addr_hash(a));
	return ROUTE_NEW;
}

int route_lookup(const struct route_table *r, const struct ip_addr *a, uint64_t *owner)
{
	const struct route *e = find(r, a);

	if (!e)
		return -1;
	*owner = e->owner;
	return 0;
}

size_t route_sweep(struct route_table *r)
{
	size_t freed = 0;

	for (size_t i = 0; i < r->cap; i++) {
		struct route *e = &r->pool[i];
		/* in use: in the table, not on the free list */
		if (e->addr.family && !r->alive(r->ctx, e->owner)) {
			release(r, e);
			e->addr.family = 0;
			freed++;
		}
	}
	return freed;
}
