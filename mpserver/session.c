/* mpserver's sessions, keyed by the client's (session id, epoch): created
 * on a first valid packet (plaintext) or an authenticated HELLO (keyed),
 * given a socket toward the target with their first datagram, told where
 * their paths are by fresh packets, and forgotten when idle. Memory and
 * sockets are allocated here and only here. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"
#include "log.h"
#include "rand.h"

static uint64_t session_key(uint32_t id, uint32_t epoch)
{
	return (uint64_t)id << 32 | epoch;
}

struct session *session_find(struct server *srv, uint32_t id, uint32_t epoch)
{
	struct table_node *n = table_find(&srv->table, session_key(id, epoch));

	return n ? container_of(n, struct session, node) : NULL;
}

struct session *session_new(struct server *srv, const struct mp_hdr *h)
{
	struct session *s;

	if (srv->nsessions >= srv->o.common.max_sessions)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	flow_init(&s->f, &srv->e, h->session, rand_nonzero32());
	s->srv = srv;
	s->fd = -1;
	s->client_epoch = h->epoch;
	s->created_ms = s->last_active_ms = srv->e.now_ms;
	table_insert(&srv->table, &s->node, session_key(s->f.id, s->client_epoch));
	s->serial = ++srv->next_serial;
	list_add(&srv->sessions, &s->link);
	srv->nsessions++;
	srv->sessions_opened++;
	log_net(LOG_INFO, "session %08x: new, client epoch %08x", s->f.id, s->client_epoch);
	return s;
}

int session_connect(struct server *srv, struct session *s)
{
	struct mp_addr local = { .len = sizeof(local.u) };
	int fd = net_udp_socket(srv->target.u.sa.sa_family);

	if (fd < 0 || connect(fd, &srv->target.u.sa, srv->target.len) ||
	    getsockname(fd, &local.u.sa, &local.len)) {
		log_warn("session %08x: socket toward the target", s->f.id);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->fd = s->f.local_fd = fd;
	s->local_port = ntohs(local.u.sa.sa_family == AF_INET ? local.u.in.sin_port
							      : local.u.in6.sin6_port);
	ev_io_init(&s->io, down_target_readable, s->fd, EV_READ);
	ev_io_start(srv->e.loop, &s->io);
	log_net(LOG_INFO, "session %08x: the target sees it as port %u", s->f.id,
		s->local_port);
	return 0;
}

void session_free(struct server *srv, struct session *s)
{
	/* what is queued toward the target goes before its socket does */
	receive_flush(&srv->e);
	clients_session_gone(srv, s);
	if (s->fd >= 0) {
		ev_io_stop(srv->e.loop, &s->io);
		close(s->fd);
	}
	flow_free(&s->f);
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		link_free(&s->paths[p].link);
	OPENSSL_cleanse(s->client_random, sizeof(s->client_random));
	OPENSSL_cleanse(s->server_random, sizeof(s->server_random));
	table_remove(&srv->table, &s->node);
	list_del(&s->link);
	srv->nsessions--;
	free(s);
}

/* Records that path p of session s was heard from `from`. Only a fresh
 * packet (one the window accepted) may make a path known or move it to a
 * new address (NAT rebinding, a restarted bridge), as WireGuard updates its
 * endpoint: a replayed duplicate, whatever path id it claims, changes
 * nothing. A duplicate from the known address does show that the path is
 * alive: in duplicate mode the slower paths deliver mostly duplicates. */
void session_note_path(struct server *srv, struct session *s, unsigned p,
		       const struct mp_addr *from, size_t len, int fresh)
{
	struct spath *sp = &s->paths[p];
	char a[NET_ADDRSTR], b[NET_ADDRSTR];

	if (!(s->f.known & 1u << p)) {
		if (!fresh)
			return;
		/* The path's link sends to sp->addr, set below. */
		link_init(&sp->link, &srv->e, srv->fd, &sp->addr, from->u.sa.sa_family,
			  &srv->out, 0);
		flow_path_add(&s->f, p, &sp->link);
		log_net(LOG_INFO, "session %08x: path %u heard from %s", s->f.id, p,
			net_ntop(from, a));
	} else if (!net_addr_equal(&sp->addr, from)) {
		if (!fresh)
			return;
		sp->addr_changes++;
		sp->link.family = from->u.sa.sa_family;
		log_net(LOG_INFO, "session %08x: path %u moved from %s to %s", s->f.id, p,
			net_ntop(&sp->addr, a), net_ntop(from, b));
	}
	sp->addr = *from;
	sp->last_rx_ms = srv->e.now_ms;
	sp->rx_recent++;
	receive_count(&s->f, p, len);
}

/* Weighted mode mirrors the client: each path's weight is its share of
 * what arrived over the last sweep interval. */
static void reweigh(struct session *s)
{
	for (int p = 0; p < MP_MAX_PATHS; p++) {
		uint64_t recent = s->paths[p].rx_recent;

		s->f.path[p].weight = recent == 0 ? 1 : recent > WEIGHT_MAX ? WEIGHT_MAX
									  : (unsigned)recent;
		s->paths[p].rx_recent = 0;
	}
	s->f.view_dirty = 1;
}

/* Why s should go now, or NULL. */
static const char *expired(const struct server *srv, const struct session *s,
			   char *why, size_t len)
{
	unsigned idle_s = srv->o.common.idle_timeout_s;

	if (srv->e.now_ms - s->last_active_ms >= (uint64_t)idle_s * 1000) {
		snprintf(why, len, "idle %us", idle_s);
		return why;
	}
	if (srv->e.key && !s->confirmed &&
	    srv->e.now_ms - s->created_ms >= UNCONFIRMED_TIMEOUT_MS)
		return "never confirmed by its client";
	return NULL;
}

void session_sweep(struct server *srv)
{
	char buf[32];

	struct session *s;

	list_for_each(s, &srv->sessions, struct session, link) {
		const char *why = expired(srv, s, buf, sizeof(buf));

		if (!why) {
			reweigh(s);
			continue;
		}
		log_net(LOG_INFO, "session %08x: %s, closed (up %llu, down %llu pkts)",
			s->f.id, why, (unsigned long long)s->f.delivered_pkts,
			(unsigned long long)s->f.sent_pkts);
		session_free(srv, s);
	}
}
