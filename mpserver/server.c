/* mpserver's setup and teardown: the listening socket (its send list is
 * the engine's way to every path of every session), the target address or
 * tun device, the tick timer and the status socket. The packet path is
 * up.c and down.c. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "util.h"

static const struct engine_ops tun_ops = {
	.deliver = tunnel_deliver,
	.path_mtu = tunnel_path_mtu,
};
static const struct engine_ops udp_ops = { 0 };

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = container_of(w, struct server, tick);
	struct session *s;

	(void)loop;
	(void)revents;
	engine_clock(&srv->e);
	list_for_each(s, &srv->sessions, struct session, link)
		paths_tick(srv, s);
	hook_reap(&srv->e.hook);
	if (srv->e.now_ms - srv->last_sweep_ms < SERVER_SWEEP_MS)
		return;
	srv->last_sweep_ms = srv->e.now_ms;
	session_sweep(srv);
	if (srv->tun.fd >= 0)		/* tun mode hook */
		tunnel_sweep(srv);
	if (srv->e.key)
		keying_report(srv);
}

struct server *server_open(struct ev_loop *loop, const struct server_opts *o)
{
	char err[HTTP_ERR_MAX], a[NET_ADDRSTR], b[NET_ADDRSTR];
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		log_warn("calloc");
		return NULL;
	}
	list_init(&srv->sessions);
	srv->o = *o;
	srv->fd = -1;
	srv->tun.fd = -1;
	engine_init(&srv->e, loop, &srv->o.common, o->key, o->tun.name ? &tun_ops : &udp_ops,
		    srv);
	srv->e.tun = o->tun.name != NULL;
	srv->last_sweep_ms = srv->started_ms = srv->e.now_ms;
	ratelimit_init(&srv->hello_limit, HELLO_PER_S, HELLO_BURST, srv->e.now_ms);
	ratelimit_init(&srv->reset_limit, RESET_PER_S, RESET_BURST, srv->e.now_ms);
	clients_init(srv, &o->peers);
	if (srv->per_client) {
		hsn_label_key("mprelay v1 mac1", o->ident->pub, srv->mac1_key);
		cookie_init(srv);
	}
	if (batch_init(&srv->batch) || table_init(&srv->table, o->common.max_sessions)) {
		log_warn("allocating buffers");
		goto fail;
	}
	if (o->tun.name) {		/* tun mode hook: the device, no target */
		if (tunnel_open(srv))
			goto fail;
	} else if (net_resolve(o->target_host, (uint16_t)o->target_port, 0, &srv->target,
			       err, sizeof(err))) {
		log_error("target: %s", err);
		goto fail;
	}
	if (net_resolve(o->common.bind, (uint16_t)o->port, 0, &srv->listen, err, sizeof(err))) {
		log_error("--bind: %s", err);
		goto fail;
	}
	srv->fd = net_udp_bind(&srv->listen);
	if (srv->fd < 0 && !o->common.bind) {
		/* No IPv6 on this host: fall back to IPv4 only. */
		net_resolve("0.0.0.0", (uint16_t)o->port, 1, &srv->listen, err, sizeof(err));
		srv->fd = net_udp_bind(&srv->listen);
	}
	if (srv->fd < 0)
		goto fail;
	engine_add_out(&srv->e, srv->fd, &srv->out);
	ev_io_init(&srv->io, up_readable, srv->fd, EV_READ);
	ev_io_start(loop, &srv->io);
	ev_timer_init(&srv->tick, on_tick, SERVER_TICK_MS / 1000.0, SERVER_TICK_MS / 1000.0);
	ev_timer_start(loop, &srv->tick);
	if (o->common.status_path &&
	    !(srv->status = status_open(loop, o->common.status_path, server_status_fill, srv,
					err))) {
		log_error("--status: %s", err);
		goto fail;
	}
	if (o->common.metrics &&
	    !(srv->metrics = http_open(loop, o->common.metrics, server_metrics_fill, srv, err))) {
		log_error("%s", err);
		goto fail;
	}
	log_info("listening on %s, target %s, mode %s, up to %u sessions, %s",
		 net_ntop(&srv->listen, a),
		 srv->tun.fd >= 0 ? srv->tun.name : net_ntop(&srv->target, b),
		 sched_mode_name(o->common.mode), o->common.max_sessions,
		 srv->per_client ? "AES-256-GCM, per-client keys (Noise IK)"
		 : o->key ? "AES-256-GCM" : "plaintext (no key)");
	return srv;
fail:
	server_close(srv);
	return NULL;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* What a reload cannot change (sockets, the device, the session table,
 * privileges): said, and kept as it runs. */
static void fixed(const struct server_opts *o, const struct server_opts *next)
{
	const struct cli_common *a = &o->common, *b = &next->common;
	const struct {
		int same;
		const char *name;
	} opts[] = {
		{ o->port == next->port, "listen" },
		{ same_str(a->bind, b->bind), "bind" },
		{ a->max_sessions == b->max_sessions, "max-sessions" },
		{ same_str(a->key_file, b->key_file), "key-file" },
		{ same_str(a->user, b->user), "user" },
		{ same_str(a->status_path, b->status_path), "status" },
		{ same_str(a->path_script, b->path_script), "path-script" },
		{ same_str(o->tun.name, next->tun.name) && o->tun.naddr == next->tun.naddr &&
		  !memcmp(o->tun.addr, next->tun.addr, sizeof(o->tun.addr)) &&
		  o->tun.mtu == next->tun.mtu && o->tun.path_mtu == next->tun.path_mtu &&
		  same_str(o->tun.up, next->tun.up) && same_str(o->tun.down, next->tun.down),
		  "tun, tun-addr, mtu, path-mtu, up, down" },
	};

	for (size_t i = 0; i < ARRAY_LEN(opts); i++)
		if (!opts[i].same)
			log_warnx("reload: %s cannot change without a restart; it stays as it runs",
				  opts[i].name);
}

void server_reload(struct server *srv, const struct server_opts *next)
{
	struct cli_common *c = &srv->o.common;
	const struct cli_common *n = &next->common;
	char err[160], str[NET_ADDRSTR];
	struct mp_addr target;

	fixed(&srv->o, next);
	clients_reload(srv, &next->peers);
	if (srv->tun.fd < 0 && next->target_host) {
		if (net_resolve(next->target_host, (uint16_t)next->target_port, 0, &target, err,
				sizeof(err)))
			log_error("reload: target: %s; the running target stays", err);
		else if (!net_addr_equal(&target, &srv->target)) {
			srv->target = target;
			log_info("reload: new sessions go to target %s", net_ntop(&target, str));
		}
	}
	/* The engine reads these through its pointer to c: a datagram's class
	 * at once, a session's scheduling and reorder hold when it starts. */
	c->mode = n->mode;
	c->mode_set = n->mode_set;
	c->copies = n->copies;
	c->copies_set = n->copies_set;
	c->target_loss_ppm = n->target_loss_ppm;
	c->reorder_ms = n->reorder_ms;
	c->reorder_set = n->reorder_set;
	c->small_bytes = n->small_bytes;
	c->recover = n->recover;
	c->idle_timeout_s = n->idle_timeout_s;
	c->level = n->level;
	log_set_level(n->level);
	log_info("reloaded: mode %s%s, idle timeout %u s (new sessions: mode, copies, "
		 "target loss, reorder hold)", sched_mode_name(c->mode),
		 c->mode_set ? "" : " (or the client's)", c->idle_timeout_s);
}

void server_close(struct server *srv)
{
	if (!srv)
		return;
	status_close(srv->status);
	http_close(srv->metrics);
	while (!list_empty(&srv->sessions))
		session_free(srv, list_entry(srv->sessions.next, struct session, link));
	if (srv->fd >= 0) {
		ev_io_stop(srv->e.loop, &srv->io);
		close(srv->fd);
	}
	tunnel_close(srv);
	ev_timer_stop(srv->e.loop, &srv->tick);
	table_free(&srv->table);
	batch_free(&srv->batch);
	clients_wipe(srv);
	cookie_wipe(srv);
	peers_wipe(&srv->o.peers);
	engine_free(&srv->e);
	free(srv);
}
