/* mpclient's setup and teardown: the local socket (or tun device), one
 * connected socket per bridge path with its engine link, the sweep timer
 * and the status socket. The packet path is up.c and down.c. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsnoise.h"
#include "internal.h"
#include "log.h"

static const struct engine_ops tun_ops = {
	.deliver = tunnel_deliver,
	.path_mtu = tunnel_path_mtu,
};
static const struct engine_ops udp_ops = { 0 };

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = container_of(w, struct client, sweep);

	(void)loop;
	(void)revents;
	engine_clock(&c->e);
	uplink_tick(c);
	session_sweep(c);
	paths_aggregate(c);
}

static int local_open(struct client *c)
{
	char err[160];

	if (c->o.tun.name)		/* tun mode: the device, no local socket */
		return tunnel_open(c);
	if (net_resolve(c->o.common.bind, (uint16_t)c->o.port, 0, &c->local, err, sizeof(err))) {
		log_error("--bind: %s", err);
		return -1;
	}
	c->fd = net_udp_bind(&c->local);
	if (c->fd < 0)
		return -1;
	ev_io_init(&c->io, up_readable, c->fd, EV_READ);
	ev_io_start(c->e.loop, &c->io);
	return 0;
}

struct client *client_open(struct ev_loop *loop, const struct client_opts *o)
{
	char err[HTTP_ERR_MAX], str[NET_ADDRSTR];
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		log_warn("calloc");
		return NULL;
	}
	list_init(&c->sessions);
	c->o = *o;
	c->fd = -1;
	c->tun.fd = -1;
	for (unsigned i = 0; i < MP_MAX_PATHS; i++)
		c->paths[i].fd = -1;
	engine_init(&c->e, loop, &c->o.common, o->key, o->tun.name ? &tun_ops : &udp_ops, c);
	if (o->per_client) {
		hsn_label_key("mprelay v1 mac1", o->server_pub, c->mac1_server);
		hsn_label_key("mprelay v1 mac1", o->ident->pub, c->mac1_self);
		hsn_label_key("mprelay v1 cookie", o->server_pub, c->cookie_key);
		c->rekey_after_ms = (uint64_t)REKEY_AFTER_S * 1000;
#ifdef MP_TEST_HOOKS
		/* TEST BUILDS ONLY (build/asan): a shorter rekey interval, so
		 * that a test sees several rekeys (test_clientkeys.py) */
		const char *ms = getenv("MPRELAY_TEST_REKEY_MS");
		if (ms && atoi(ms) > 0)
			c->rekey_after_ms = (uint64_t)atoi(ms);
#endif
	}
	c->e.tun = o->tun.name != NULL;
	c->started_ms = c->e.now_ms;
	if (batch_init(&c->batch) || table_init(&c->by_app, o->common.max_sessions) ||
	    table_init(&c->by_id, o->common.max_sessions)) {
		log_warn("allocating buffers");
		goto fail;
	}
	c->npaths = o->config->npaths;
	for (unsigned i = 0; i < c->npaths; i++)
		if (uplink_add(c, i, &o->config->paths[i]))
			goto fail;
	if (local_open(c))
		goto fail;
	ev_timer_init(&c->sweep, on_sweep, CLIENT_TICK_MS / 1000.0, CLIENT_TICK_MS / 1000.0);
	ev_timer_start(loop, &c->sweep);
	if (o->common.status_path &&
	    !(c->status = status_open(loop, o->common.status_path, client_status_fill, c, err))) {
		log_error("--status: %s", err);
		goto fail;
	}
	if (o->common.metrics &&
	    !(c->metrics = http_open(loop, o->common.metrics, client_metrics_fill, c, err))) {
		log_error("%s", err);
		goto fail;
	}
	log_info("%s %s, %u bridge path%s, mode %s, %s",
		 c->tun.fd >= 0 ? "tun" : "listening on",
		 c->tun.fd >= 0 ? c->tun.name : net_ntop(&c->local, str), c->npaths,
		 c->npaths == 1 ? "" : "s", sched_mode_name(o->common.mode),
		 o->per_client ? "AES-256-GCM, per-client keys (Noise IK)"
		 : o->key ? "AES-256-GCM" : "plaintext (no key)");
	return c;
fail:
	client_close(c);
	return NULL;
}

void client_reload(struct client *c, const struct config *next)
{
	engine_clock(&c->e);
	uplink_reload(c, next);
}

void client_close(struct client *c)
{
	if (!c)
		return;
	status_close(c->status);
	http_close(c->metrics);
	while (!list_empty(&c->sessions))
		session_free(c, list_entry(c->sessions.next, struct session, link));
	for (unsigned i = 0; i < c->npaths; i++)
		uplink_free(c, i);
	if (c->fd >= 0) {
		ev_io_stop(c->e.loop, &c->io);
		close(c->fd);
	}
	tunnel_close(c);
	ev_timer_stop(c->e.loop, &c->sweep);
	table_free(&c->by_app);
	table_free(&c->by_id);
	batch_free(&c->batch);
	engine_free(&c->e);
	free(c);
}
