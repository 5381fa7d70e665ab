/* mpserver's sessions, keyed by the client's (session id, epoch): created
 * on a first valid packet (plaintext) or an authenticated HELLO (keyed),
 * given a socket toward the target with their first datagram, told where
 * their paths are by fresh packets, and forgotten when idle. Memory and
 * sockets are allocated here and only here. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "rand.h"
#include "util.h"

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
	s->srv = srv;
	s->fd = -1;
	s->id = h->session;
	s->client_epoch = h->epoch;
	seq_tx_init(&s->tx, rand_nonzero32());
	seq_tx_init(&s->ctl_tx, s->tx.epoch);
	seq_rx_init(&s->rx);
	seq_rx_init(&s->ctl_rx);
	sched_init(&s->sched, srv->o.common.mode);
	s->sched.copies = srv->o.common.copies;
	s->sched.target_loss_ppm = srv->o.common.target_loss_ppm;
	if (srv->o.common.reorder_ms) {
		s->hold_us = srv->o.common.reorder_ms > 0 ? srv->o.common.reorder_ms * 1000ull
							   : REORDER_AUTO_MIN_US;
		ev_timer_init(&s->ro_timer, server_reorder_timer, 0, 0);
		s->ro_deadline_us = UINT64_MAX;
	}
	for (int p = 0; p < MP_MAX_PATHS; p++)
		s->weight[p] = 1;
	s->created_ms = s->last_active_ms = srv->now_ms;
	table_insert(&srv->table, &s->node, session_key(s->id, s->client_epoch));
	list_add(&srv->sessions, &s->link);
	srv->nsessions++;
	srv->sessions_opened++;
	log_info("session %08x: new, client epoch %08x", s->id, s->client_epoch);
	return s;
}

int session_connect(struct server *srv, struct session *s)
{
	struct mp_addr local = { .len = sizeof(local.u) };
	int fd = net_udp_socket(srv->target.u.sa.sa_family);

	if (fd < 0 || connect(fd, &srv->target.u.sa, srv->target.len) ||
	    getsockname(fd, &local.u.sa, &local.len)) {
		log_warn("session %08x: socket toward the target", s->id);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->fd = fd;
	s->local_port = ntohs(local.u.sa.sa_family == AF_INET ? local.u.in.sin_port
							      : local.u.in6.sin6_port);
	ev_io_init(&s->io, server_target_readable, s->fd, EV_READ);
	ev_io_start(srv->loop, &s->io);
	log_info("session %08x: the target sees it as port %u", s->id, s->local_port);
	return 0;
}

void session_free(struct server *srv, struct session *s)
{
	if (s->ro) {
		ev_timer_stop(srv->loop, &s->ro_timer);
		reorder_free(s->ro);
	}
	if (s->fd >= 0) {
		ev_io_stop(srv->loop, &s->io);
		close(s->fd);
	}
	keying_free(s);
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

	if (!(s->known & 1u << p)) {
		if (!fresh)
			return;
		s->known |= 1u << p;
		health_init(&sp->h, srv->now_us);
		s->view_dirty = 1;
		log_info("session %08x: path %u heard from %s", s->id, p,
			 net_ntop(from, a));
	} else if (!net_addr_equal(&sp->addr, from)) {
		if (!fresh)
			return;
		sp->addr_changes++;
		log_info("session %08x: path %u moved from %s to %s", s->id, p,
			 net_ntop(&sp->addr, a), net_ntop(from, b));
	}
	sp->addr = *from;
	sp->last_rx_ms = srv->now_ms;
	sp->rx_pkts++;
	sp->rx_bytes += len;
	sp->rx_recent++;
}

/* Weighted mode mirrors the client: each path's weight is its share of
 * what arrived over the last sweep interval. */
static void reweigh(struct session *s)
{
	for (int p = 0; p < MP_MAX_PATHS; p++) {
		uint64_t recent = s->paths[p].rx_recent;

		s->weight[p] = recent == 0 ? 1 : recent > WEIGHT_MAX ? WEIGHT_MAX
								  : (unsigned)recent;
		s->paths[p].rx_recent = 0;
	}
	s->view_dirty = 1;
}

/* Why s should go now, or NULL. */
static const char *expired(const struct server *srv, const struct session *s,
			   char *why, size_t len)
{
	unsigned idle_s = srv->o.common.idle_timeout_s;

	if (srv->now_ms - s->last_active_ms >= (uint64_t)idle_s * 1000) {
		snprintf(why, len, "idle %us", idle_s);
		return why;
	}
	if (srv->key && !s->confirmed &&
	    srv->now_ms - s->created_ms >= UNCONFIRMED_TIMEOUT_MS)
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
		log_info("session %08x: %s, closed (up %llu, down %llu pkts)", s->id,
			 why, (unsigned long long)s->up_pkts,
			 (unsigned long long)s->down_pkts);
		session_free(srv, s);
	}
}
