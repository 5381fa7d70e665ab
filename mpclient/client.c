/* mpclient's setup and teardown: the local socket (or tun device), one
 * connected socket per bridge path with its engine link, the sweep timer
 * and the status socket. The packet path is up.c and down.c. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	session_sweep(c);
	paths_aggregate(c);
}

static int path_socket_options(int fd, const struct config_path *cp)
{
	if (cp->dev[0] &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cp->dev, (socklen_t)strlen(cp->dev))) {
		log_warn("path %s: dev=%s", cp->name, cp->dev);
		return -1;
	}
	if (cp->has_mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &cp->mark, sizeof(cp->mark))) {
		log_warn("path %s: mark=%u", cp->name, cp->mark);
		return -1;
	}
	return 0;
}

/* Binds to bind=/sport= when given: a stable source port lets a bridge that
 * follows only its first peer (socat without fork) survive our restart. */
static int path_bind(int fd, const struct config_path *cp, int family)
{
	char err[160];
	struct mp_addr src;

	if (!cp->bind[0] && !cp->sport)
		return 0;
	if (cp->bind[0]) {
		if (net_resolve(cp->bind, cp->sport, 1, &src, err, sizeof(err))) {
			log_error("path %s: bind=%s: %s", cp->name, cp->bind, err);
			return -1;
		}
	} else {
		net_resolve(family == AF_INET ? "0.0.0.0" : "::", cp->sport, 1, &src,
			    err, sizeof(err));
	}
	if (src.u.sa.sa_family != family) {
		log_error("path %s: bind=%s is not of the bridge's address family",
			  cp->name, cp->bind);
		return -1;
	}
	if (bind(fd, &src.u.sa, src.len)) {
		log_warn("path %s: bind %s port %u", cp->name,
			 cp->bind[0] ? cp->bind : "*", cp->sport);
		return -1;
	}
	return 0;
}

static int path_open(struct client *c, unsigned id, const struct config_path *cp)
{
	struct path *p = &c->paths[id];
	char err[160], str[NET_ADDRSTR];
	int family;

	p->c = c;
	p->id = (uint8_t)id;
	p->backup = cp->backup;
	snprintf(p->name, sizeof(p->name), "%s", cp->name);
	if (net_resolve(cp->host, cp->port, 0, &p->peer, err, sizeof(err))) {
		log_error("path %s (line %u): %s", cp->name, cp->line, err);
		return -1;
	}
	family = p->peer.u.sa.sa_family;
	p->fd = net_udp_socket(family);
	if (p->fd < 0) {
		log_warn("path %s: socket", cp->name);
		return -1;
	}
	if (path_socket_options(p->fd, cp) || path_bind(p->fd, cp, family))
		return -1;
	/* Connected: the kernel drops datagrams from anyone but the bridge. */
	if (connect(p->fd, &p->peer.u.sa, p->peer.len)) {
		log_warn("path %s: connect %s", cp->name, net_ntop(&p->peer, str));
		return -1;
	}
	if (link_init(&p->link, &c->e, p->fd, NULL, family, &p->out, cp->rate_bps)) {
		log_warn("path %s: pacing queues", cp->name);
		return -1;
	}
	engine_add_out(&c->e, p->fd, &p->out);
	ev_io_init(&p->io, down_readable, p->fd, EV_READ);
	ev_io_start(c->e.loop, &p->io);
	log_info("path %s: bridge %s weight %u", p->name, net_ntop(&p->peer, str),
		 cp->weight);
	return 0;
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
	c->e.tun = o->tun.name != NULL;
	c->started_ms = c->e.now_ms;
	if (batch_init(&c->batch) || table_init(&c->by_app, o->common.max_sessions) ||
	    table_init(&c->by_id, o->common.max_sessions)) {
		log_warn("allocating buffers");
		goto fail;
	}
	c->npaths = o->config->npaths;
	for (unsigned i = 0; i < c->npaths; i++)
		if (path_open(c, i, &o->config->paths[i]))
			goto fail;
	paths_open(c);
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
		 o->key ? "AES-256-GCM" : "plaintext (no key)");
	return c;
fail:
	client_close(c);
	return NULL;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	status_close(c->status);
	http_close(c->metrics);
	while (!list_empty(&c->sessions))
		session_free(c, list_entry(c->sessions.next, struct session, link));
	for (unsigned i = 0; i < c->npaths; i++) {
		if (c->paths[i].fd >= 0) {
			ev_io_stop(c->e.loop, &c->paths[i].io);
			close(c->paths[i].fd);
		}
		link_free(&c->paths[i].link);
	}
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
