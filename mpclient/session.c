/* mpclient's sessions: one per application address, found by that address
 * (up) or by id (down); created on first sight (up.c starts them), probed
 * (paths.c), and forgotten when idle. Memory is allocated here and only
 * here (and the key hold, keying.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "rand.h"
#include "util.h"

struct session *session_by_app(struct client *c, const struct mp_addr *app)
{
	if (c->last && net_addr_equal(&c->last->app, app))
		return c->last;
	for (struct table_node *n = table_find(&c->by_app, net_addr_hash(app)); n;
	     n = table_find_next(n)) {
		struct session *s = container_of(n, struct session, by_app);
		if (net_addr_equal(&s->app, app))
			return c->last = s;
	}
	return NULL;
}

struct session *session_by_id(struct client *c, uint32_t id)
{
	struct table_node *n = table_find(&c->by_id, id);

	return n ? container_of(n, struct session, by_id) : NULL;
}

struct session *session_new(struct client *c, const struct mp_addr *app)
{
	struct session *s;
	uint32_t id;

	if (c->nsessions >= c->o.common.max_sessions)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	do
		id = rand_nonzero32();
	while (session_by_id(c, id));
	flow_init(&s->f, &c->e, id, rand_nonzero32());
	for (unsigned p = 0; p < c->npaths; p++) {
		if (!c->paths[p].open)
			continue;	/* joins when it opens (uplink.c) */
		s->f.path[p].weight = c->paths[p].cfg.weight;
		s->f.path[p].backup = c->paths[p].backup;
		flow_path_add(&s->f, p, &c->paths[p].link);
	}
	s->c = c;
	s->app = *app;
	s->f.local_fd = c->fd;
	s->f.local_to = &s->app;
	s->last_active_ms = c->e.now_ms;
	table_insert(&c->by_app, &s->by_app, net_addr_hash(app));
	table_insert(&c->by_id, &s->by_id, id);
	s->serial = ++c->next_serial;
	list_add(&c->sessions, &s->link);
	c->nsessions++;
	if (c->tun.fd >= 0)
		log_info("session %08x: new for the tun device", id);
	else
		log_net(LOG_INFO, "session %08x: new for %s", id,
			net_ntop(app, (char[NET_ADDRSTR]){ 0 }));
	return s;
}

void session_free(struct client *c, struct session *s)
{
	keying_free(s);
	flow_free(&s->f);
	table_remove(&c->by_app, &s->by_app);
	table_remove(&c->by_id, &s->by_id);
	list_del(&s->link);
	if (c->last == s)
		c->last = NULL;
	c->nsessions--;
	free(s);
}

void session_sweep(struct client *c)
{
	uint64_t idle_ms = (uint64_t)c->o.common.idle_timeout_s * 1000;
	uint64_t now_ms = c->e.now_ms;
	struct session *s;

	list_for_each(s, &c->sessions, struct session, link) {
		uint64_t idle_for_ms = now_ms - s->last_active_ms;

		if (idle_for_ms >= idle_ms) {
			log_info("session %08x: idle %us, closed (up %llu, down %llu pkts)",
				 s->f.id, c->o.common.idle_timeout_s,
				 (unsigned long long)s->f.sent_pkts,
				 (unsigned long long)s->f.delivered_pkts);
			session_free(c, s);
			continue;
		}
		if (c->e.key)
			keying_sweep(c, s);
		/* a tick early rather than most of one late */
		if (c->e.now_us + CLIENT_TICK_MS * 500ull >= s->next_tick_us ||
		    now_ms - s->last_active_ms < CLIENT_TICK_MS)
			paths_tick(c, s);
	}
}
