/* Tun mode's routing on mpserver: which session an inner address belongs
 * to, learned from the source addresses of what each session sends. */
#ifndef MP_SERVER_ROUTE_H
#define MP_SERVER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include "tunables.h"
#include "table.h"

/* Whether the session with this owner key still exists. */
typedef int (*route_alive_fn)(void *ctx, uint64_t owner);

struct route {
	struct table_node node;		/* keyed by ip_addr_hash */
	struct ip_addr addr;
	uint64_t owner;			/* the session's key */
	uint64_t last_ms;		/* the owner last sent from addr */
	struct route *next_free;
};

struct route_table {
	struct table by_addr;
	struct route *pool, *free;
	size_t cap, used;
	route_alive_fn alive;
	void *ctx;
};

enum route_claim {
	ROUTE_OWNED,			/* already the claimant's: refreshed */
	ROUTE_NEW,			/* nobody had it: now the claimant's */
	ROUTE_MOVED,			/* taken over from an idle or gone owner */
	ROUTE_CONFLICT,			/* held by another live owner: refused */
	ROUTE_FULL,			/* no room: refused */
};

/* Sizes the table for cap addresses, allocated here once. */
int route_init(struct route_table *r, size_t cap, route_alive_fn alive, void *ctx);
void route_free(struct route_table *r);

/* Session `owner` sent a packet from address a at now_ms. The conflict
 * rule, predictable from what each side sent: an address belongs to the
 * session that last sent from it, except that a session still alive that
 * sent from it within ROUTE_HOLD_MS keeps it and the newcomer is refused;
 * so two clients claiming one address do not flap, and a restarted client
 * (a new session) gets its addresses back once its old session has been
 * quiet for ROUTE_HOLD_MS. *prev gets the previous owner (MOVED, CONFLICT). */
enum route_claim route_claim(struct route_table *r, const struct ip_addr *a,
			     uint64_t owner, uint64_t now_ms, uint64_t *prev);
/* The owner of address a: 0 and *owner set, or -1 if none. */
int route_lookup(const struct route_table *r, const struct ip_addr *a, uint64_t *owner);
/* Frees the addresses of owners that are gone; returns how many. */
size_t route_sweep(struct route_table *r);

#endif
