/* mpclient's sessions: one per application address, found by that address
 * (up) or by id (down); created on first sight, probed (paths.c), and
 * forgotten when idle. Memory is allocated here and only here. */
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
	char str[NET_ADDRSTR];
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
	s->id = id;
	s->app = *app;
	seq_tx_init(&s->tx, rand_nonzero32());
	seq_tx_init(&s->ctl_tx, s->tx.epoch);
	seq_rx_init(&s->rx);
	seq_rx_init(&s->ctl_rx);
	s->last_active_ms = c->now_ms;
	for (unsigned p = 0; p < c->npaths; p++)
		health_init(&s->sp[p].h, c->now_us);
	sched_init(&s->sched, c->o.common.mode);
	s->sched.copies = c->o.common.copies;
	s->sched.target_loss_ppm = c->o.common.target_loss_ppm;
	s->view_dirty = 1;
	s->c = c;
	if (c->o.common.reorder_ms) {
		s->hold_us = c->o.common.reorder_ms > 0 ? c->o.common.reorder_ms * 1000ull
							 : REORDER_AUTO_MIN_US;
		ev_timer_init(&s->ro_timer, client_reorder_timer, 0, 0);
		s->ro_deadline_us = UINT64_MAX;
	}
	table_insert(&c->by_app, &s->by_app, net_addr_hash(app));
	table_insert(&c->by_id, &s->by_id, id);
	list_add(&c->sessions, &s->link);
	c->nsessions++;
	log_info("session %08x: new for %s", id, net_ntop(app, str));
	if (c->key)
		keying_start(c, s);
	else
		paths_tick(c, s);	/* first probes, and the view */
	return s;
}

void session_free(struct client *c, struct session *s)
{
	if (s->ro) {
		ev_timer_stop(c->loop, &s->ro_timer);
		reorder_free(s->ro);
	}
	keying_free(s);
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

	struct session *s;

	list_for_each(s, &c->sessions, struct session, link) {
		uint64_t idle_for_ms = c->now_ms - s->last_active_ms;

		if (idle_for_ms >= idle_ms) {
			log_info("session %08x: idle %us, closed (up %llu, down %llu pkts)",
				 s->id, c->o.common.idle_timeout_s,
				 (unsigned long long)s->up_pkts,
				 (unsigned long long)s->down_pkts);
			session_free(c, s);
			continue;
		}
		if (c->key)
			keying_sweep(c, s);
		/* a tick early rather than most of one late */
		if (c->now_us + SWEEP_INTERVAL_MS * 500ull >= s->next_tick_us ||
		    c->now_ms - s->last_active_ms < SWEEP_INTERVAL_MS)
			paths_tick(c, s);
	}
}
