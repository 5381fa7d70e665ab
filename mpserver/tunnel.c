/* mpserver's tun mode: one device instead of a socket per session toward a
 * target. Up, a session's packet is written to the device once its source
 * address is the session's (route.c decides, and learns it); down, each
 * packet from the device goes to the session that holds its destination.
 * Packets larger than the paths carry are answered with ICMP "too big".
 * With per-client keys, a session's inner source must be inside its
 * client's allowed-ips, and a destination no session has sent from goes to
 * the client whose allowed-ips hold it (longest prefix), its latest
 * session. */
#include <string.h>

#include "internal.h"
#include "log.h"
#include "util.h"

static uint64_t owner_of(const struct session *s)
{
	return (uint64_t)s->f.id << 32 | s->client_epoch;
}

static int owner_alive(void *ctx, uint64_t owner)
{
	return session_find(ctx, (uint32_t)(owner >> 32), (uint32_t)owner) != NULL;
}

static void log_claim(struct server *srv, struct session *s, enum route_claim r,
		      const struct ip_addr *a, uint64_t prev)
{
	char str[48];

	switch (r) {
	case ROUTE_NEW:
		log_net(LOG_INFO, "session %08x: inner address %s", s->f.id, ip_ntop(a, str));
		break;
	case ROUTE_MOVED:
		log_net(LOG_INFO, "inner address %s: moves from session %08x to %08x (the "
			"former has not sent from it for %d ms, or is gone)", ip_ntop(a, str),
			(unsigned)(prev >> 32), s->f.id, ROUTE_HOLD_MS);
		break;
	case ROUTE_CONFLICT:
		if (srv->route_conflicts_logged_ms &&
		    srv->e.now_ms - srv->route_conflicts_logged_ms < REPORT_INTERVAL_MS)
			break;
		srv->route_conflicts_logged_ms = srv->e.now_ms;
		log_warnx("inner address %s: claimed by session %08x but held by session "
			  "%08x, which keeps it while it sends from it; %08x's packets "
			  "from it are dropped (drop_route_conflict)", ip_ntop(a, str),
			  s->f.id, (unsigned)(prev >> 32), s->f.id);
		break;
	case ROUTE_FULL:
	case ROUTE_OWNED:
		break;
	}
}

int tunnel_deliver(void *ctx, struct flow *f, const uint8_t *pkt, size_t len)
{
	struct server *srv = ctx;
	struct session *s = session_of(f);
	struct ip_info in;
	uint64_t prev = 0;

	if (ip_parse(pkt, len, &in)) {
		srv->e.drops.n[DROP_NOT_IP]++;
		return 1;
	}
	/* before the route is learned: an address is only ever learned for
	 * the client allowed to use it */
	if (s->client && !peer_allows(&s->client->cfg, &in.src)) {
		srv->e.drops.n[DROP_NOT_ALLOWED_IP]++;
		return 1;
	}
	enum route_claim r = route_claim(&srv->routes, &in.src, owner_of(s), srv->e.now_ms,
					 &prev);
	if (r != ROUTE_OWNED)
		log_claim(srv, s, r, &in.src, prev);
	if (r == ROUTE_CONFLICT || r == ROUTE_FULL) {
		srv->e.drops.n[r == ROUTE_FULL ? DROP_ROUTE_FULL : DROP_ROUTE_CONFLICT]++;
		return 1;
	}
	return tun_write(&srv->tun, pkt, len) ? -1 : 0;
}

/* The session a packet from the device goes to, or NULL (counted). */
static struct session *route_down(struct server *srv, const uint8_t *pkt, size_t len)
{
	struct ip_info in;
	uint64_t owner;
	struct session *s;

	if (len > srv->tun.payload_max) {
		srv->e.drops.n[DROP_TOO_BIG]++;
		tun_answer_too_big(&srv->tun, pkt, len);
		return NULL;
	}
	if (ip_parse(pkt, len, &in)) {
		srv->e.drops.n[DROP_NOT_IP]++;
		return NULL;
	}
	/* a learned route, while its client's allowed-ips still hold it (a
	 * reload may have moved the address to another client) */
	if (!route_lookup(&srv->routes, &in.dst, &owner) &&
	    (s = session_find(srv, (uint32_t)(owner >> 32), (uint32_t)owner)) &&
	    (!s->client || peer_allows(&s->client->cfg, &in.dst)))
		return s;
	/* not learned (yet): the allowed-ips say whose it is */
	if (srv->per_client) {
		struct cslot *c = clients_route(srv, &in.dst);

		if (c && c->latest)
			return c->latest;
	}
	srv->e.drops.n[DROP_NO_ROUTE]++;
	return NULL;
}

static void on_tun_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = container_of(w, struct server, tun_io);

	(void)loop;
	(void)revents;
	engine_clock(&srv->e);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n;
		for (n = 0; n < NET_BATCH; n++) {
			uint8_t *buf = srv->batch.buf[n];
			ssize_t len = tun_read(&srv->tun, buf + MP_HDR_LEN, MP_MAX_PAYLOAD);
			if (len <= 0)
				break;
			struct session *s = route_down(srv, buf + MP_HDR_LEN, (size_t)len);
			if (!s)
				continue;
			srv->batch.msg[n].msg_len = (unsigned)len;
			srv->batch.msg[n].msg_hdr.msg_flags = 0;
			down_send(srv, s, n);
		}
		send_flush(&srv->e);
		if (n < NET_BATCH)
			break;
	}
}

/* Our datagrams leave by the listening socket: IPv4 only when --bind says
 * so, otherwise possibly IPv6. */
static unsigned ip_udp(const struct server *srv)
{
	const char *bind = srv->o.common.bind;

	return bind && strchr(bind, '.') && !strchr(bind, ':') ? TUN_PATH_OVERHEAD_IP4
							       : TUN_PATH_OVERHEAD_IP6;
}

static unsigned fit(const struct server *srv)
{
	unsigned path_mtu = srv->o.tun.path_mtu ? srv->o.tun.path_mtu : TUN_PATH_MTU_DEFAULT;

	return tun_mtu_fit(path_mtu, ip_udp(srv), srv->e.key != NULL);
}

void tunnel_path_mtu(void *ctx, unsigned path_mtu)
{
	struct server *srv = ctx;

	if (srv->tun.fd >= 0)
		tun_follow_path_mtu(&srv->tun, path_mtu, ip_udp(srv), srv->e.key != NULL);
}

int tunnel_open(struct server *srv)
{
	unsigned f = fit(srv);

	if (f < CLI_MTU_MIN) {
		log_error("--path-mtu %u leaves only %u bytes for packets", srv->o.tun.path_mtu, f);
		return -1;
	}
	if (route_init(&srv->routes, (size_t)srv->o.common.max_sessions * ROUTES_PER_SESSION,
		       owner_alive, srv)) {
		log_warn("allocating the address table");
		return -1;
	}
	if (tun_open(&srv->tun, &srv->o.tun, f))
		return -1;
	ev_io_init(&srv->tun_io, on_tun_readable, srv->tun.fd, EV_READ);
	ev_io_start(srv->e.loop, &srv->tun_io);
	return 0;
}

void tunnel_close(struct server *srv)
{
	route_free(&srv->routes);
	if (srv->tun.fd < 0)
		return;
	ev_io_stop(srv->e.loop, &srv->tun_io);
	tun_close(&srv->tun);
}

void tunnel_sweep(struct server *srv)
{
	route_sweep(&srv->routes);
}

void tunnel_log_stats(const struct server *srv)
{
	log_info("stats tun dev=%s mtu=%u payload_max=%u too_big_answered=%llu "
		 "inner_addresses=%zu",
		 srv->tun.name, srv->tun.mtu, srv->tun.payload_max,
		 (unsigned long long)srv->tun.too_big_answered, srv->routes.used);
}
