/* mpserver's packet path and its state: the listening socket, the sessions
 * (keyed by the client's session id and epoch), and each session's socket
 * toward the target.
 *
 * Up:   bridge datagram -> parse -> session (created on first sight) ->
 *       window check -> note the path's address -> queued to the session's
 *       target socket, flushed per run of same-session packets.
 * Down: target datagram -> header + CRC in place -> scheduler picks among
 *       the session's live paths -> one sendmmsg on the listening socket.
 * Path health and probing are not here yet: a path is live while it is
 * heard from within PATH_LIVE_MS of the session's freshest path. */
#include "server.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "rand.h"
#include "sched.h"
#include "seq.h"
#include "stats.h"
#include "table.h"
#include "util.h"
#include "wire.h"

enum {
	SWEEP_INTERVAL_MS = 1000,
	DRAIN_BATCHES = 8,
	/* A path silent this much longer than the session's freshest path is
	 * taken as gone (a dead bridge, or an address NAT has replaced). */
	PATH_LIVE_MS = 3000,
	WEIGHT_MAX = 1 << 20,		/* keeps credits far from overflow */
};

struct spath {
	struct mp_addr addr;		/* where this path's packets come from */
	uint64_t last_rx_ms;
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t rx_recent;		/* since the last sweep, for weights */
	uint64_t addr_changes;
};

struct session {
	struct table_node node;
	struct session *prev, *next;
	struct server *srv;
	uint32_t id, client_epoch;
	int fd;				/* connected to the target */
	ev_io io;
	uint16_t local_port;		/* what the target sees */
	struct seq_tx tx;
	struct seq_rx rx;
	struct sched sched;
	struct spath paths[MP_MAX_PATHS];
	uint32_t known;			/* paths heard at least once */
	unsigned weight[MP_MAX_PATHS];
	uint64_t last_active_ms;
	uint64_t up_pkts, up_bytes, down_pkts, down_bytes;
	uint64_t dup, old, probes;
	uint64_t unreachable;		/* ICMP errors: the target refused */
};

struct server {
	struct ev_loop *loop;
	struct server_opts o;
	int fd;				/* listening socket */
	ev_io io;
	ev_timer sweep;
	struct mp_addr listen, target;
	struct table table;
	struct session *sessions;
	unsigned nsessions;
	uint64_t now_ms;
	struct drops drops;
	uint64_t rx_pkts, sessions_opened;
	struct batch batch;
	struct sendlist out;		/* to the bridges, or to one target */
};

static const uint8_t path_ids[MP_MAX_PATHS] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

static void on_target_readable(struct ev_loop *loop, ev_io *w, int revents);

/* ---- sessions ---------------------------------------------------------- */

static uint64_t session_key(uint32_t id, uint32_t epoch)
{
	return (uint64_t)id << 32 | epoch;
}

static struct session *session_find(struct server *srv, uint32_t id,
				    uint32_t epoch)
{
	struct table_node *n = table_find(&srv->table, session_key(id, epoch));

	return n ? container_of(n, struct session, node) : NULL;
}

static int target_socket(struct server *srv, uint16_t *local_port)
{
	struct mp_addr local = { .len = sizeof(local.u) };
	int fd = net_udp_socket(srv->target.u.sa.sa_family);

	if (fd < 0)
		return -1;
	if (connect(fd, &srv->target.u.sa, srv->target.len) ||
	    getsockname(fd, &local.u.sa, &local.len)) {
		close(fd);
		return -1;
	}
	*local_port = ntohs(local.u.sa.sa_family == AF_INET ? local.u.in.sin_port
							    : local.u.in6.sin6_port);
	return fd;
}

static struct session *session_new(struct server *srv, const struct mp_hdr *h)
{
	struct session *s;

	if (srv->nsessions >= srv->o.common.max_sessions)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = target_socket(srv, &s->local_port);
	if (s->fd < 0) {
		log_warn("session %08x: socket toward the target", h->session);
		free(s);
		return NULL;
	}
	s->srv = srv;
	s->id = h->session;
	s->client_epoch = h->epoch;
	seq_tx_init(&s->tx, rand_nonzero32());
	seq_rx_init(&s->rx);
	sched_init(&s->sched, srv->o.common.mode);
	for (int p = 0; p < MP_MAX_PATHS; p++)
		s->weight[p] = 1;
	s->last_active_ms = srv->now_ms;
	ev_io_init(&s->io, on_target_readable, s->fd, EV_READ);
	ev_io_start(srv->loop, &s->io);
	table_insert(&srv->table, &s->node, session_key(s->id, s->client_epoch));
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	srv->sessions_opened++;
	log_info("session %08x: new, epoch %08x, target sees port %u", s->id,
		 s->client_epoch, s->local_port);
	return s;
}

static void session_free(struct server *srv, struct session *s)
{
	ev_io_stop(srv->loop, &s->io);
	close(s->fd);
	table_remove(&srv->table, &s->node);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	free(s);
}

/* Weighted mode mirrors the client: each path's weight is its share of
 * what arrived over the last sweep interval. */
static void session_reweigh(struct session *s)
{
	for (int p = 0; p < MP_MAX_PATHS; p++) {
		uint64_t recent = s->paths[p].rx_recent;

		s->weight[p] = recent == 0 ? 1 : recent > WEIGHT_MAX ? WEIGHT_MAX
								  : (unsigned)recent;
		s->paths[p].rx_recent = 0;
	}
}

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = container_of(w, struct server, sweep);
	uint64_t idle_ms = (uint64_t)srv->o.common.idle_timeout_s * 1000;

	(void)loop;
	(void)revents;
	srv->now_ms = mono_ms();
	for (struct session *s = srv->sessions, *next; s; s = next) {
		next = s->next;
		if (srv->now_ms - s->last_active_ms < idle_ms) {
			session_reweigh(s);
			continue;
		}
		log_info("session %08x: idle %us, closed (up %llu, down %llu pkts)",
			 s->id, srv->o.common.idle_timeout_s,
			 (unsigned long long)s->up_pkts,
			 (unsigned long long)s->down_pkts);
		session_free(srv, s);
	}
}

/* ---- up: bridges -> target ----------------------------------------------- */

/* Records that path p of session s was heard from `from`. Only a fresh
 * packet (one the window accepted) may make a path known or move it to a new
 * address (NAT rebinding, a restarted bridge), as WireGuard updates its
 * endpoint: a replayed duplicate, whatever path id it claims, changes
 * nothing. A duplicate from the known address does show that the path is
 * alive: in duplicate mode the slower paths deliver mostly duplicates. */
static void note_path(struct server *srv, struct session *s, unsigned p,
		      const struct mp_addr *from, size_t len, int fresh)
{
	struct spath *sp = &s->paths[p];
	char a[NET_ADDRSTR], b[NET_ADDRSTR];

	if (!(s->known & 1u << p)) {
		if (!fresh)
			return;
		s->known |= 1u << p;
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

static void flush_to_target(struct server *srv, struct session *s)
{
	unsigned queued = srv->out.n;

	if (!queued)
		return;
	srv->drops.n[DROP_SEND_FAIL] += queued - sendlist_flush(s->fd, &srv->out);
}

/* Returns the session the packet was queued for, or NULL if dropped. */
static struct session *accept_up(struct server *srv, int i)
{
	const uint8_t *pkt = srv->batch.buf[i];
	size_t len = srv->batch.msg[i].msg_len, plen;
	struct mp_hdr h;
	struct session *s;
	enum wire_err err;

	err = wire_parse(pkt, len, &h, &plen);
	if (err) {
		srv->drops.n[err]++;
		return NULL;
	}
	s = session_find(srv, h.session, h.epoch);
	if (!s && !(s = session_new(srv, &h))) {
		srv->drops.n[DROP_SESSION_LIMIT]++;
		return NULL;
	}
	enum seq_verdict v = seq_rx_accept(&s->rx, h.epoch, h.seq);
	if (v != SEQ_OLD)
		note_path(srv, s, h.path, &srv->batch.from[i], len, v == SEQ_ACCEPT);
	s->last_active_ms = srv->now_ms;
	switch (v) {
	case SEQ_ACCEPT:
		break;
	case SEQ_DUP:
	case SEQ_STALE_EPOCH:	/* the epoch is part of the key: cannot happen */
		s->dup++;
		srv->drops.n[DROP_DUP]++;
		return NULL;
	case SEQ_OLD:
		s->old++;
		srv->drops.n[DROP_OLD]++;
		return NULL;
	}
	if (h.type == MP_T_PROBE) {
		s->probes++;
		return NULL;	/* it has done its job: note_path() */
	}
	s->up_pkts++;
	s->up_bytes += plen;
	return s;
}

static void on_listen_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = container_of(w, struct server, io);
	int n;

	(void)loop;
	(void)revents;
	srv->now_ms = mono_ms();
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		n = batch_recv(srv->fd, &srv->batch, 0, MP_BUF_LEN);
		if (n <= 0)
			break;
		srv->rx_pkts += (unsigned)n;
		struct session *run = NULL;
		for (int i = 0; i < n; i++) {
			struct session *s = accept_up(srv, i);
			if (!s)
				continue;
			if (s != run) {
				if (run)
					flush_to_target(srv, run);
				run = s;
			}
			size_t plen = srv->batch.msg[i].msg_len - MP_HDR_LEN - MP_CRC_LEN;
			sendlist_add(&srv->out, NULL, NULL, srv->batch.buf[i] + MP_HDR_LEN,
				     plen);
		}
		if (run)
			flush_to_target(srv, run);
		if (n < NET_BATCH)
			break;
	}
}

/* ---- down: target -> bridges --------------------------------------------- */

static uint32_t live_paths(const struct session *s)
{
	uint64_t freshest = 0;
	uint32_t live = 0;

	for (int p = 0; p < MP_MAX_PATHS; p++)
		if (s->known & 1u << p && s->paths[p].last_rx_ms > freshest)
			freshest = s->paths[p].last_rx_ms;
	for (int p = 0; p < MP_MAX_PATHS; p++)
		if (s->known & 1u << p &&
		    s->paths[p].last_rx_ms + PATH_LIVE_MS >= freshest)
			live |= 1u << p;
	return live;
}

static void queue_down(struct server *srv, struct session *s, int i,
		       uint32_t live)
{
	struct mmsghdr *m = &srv->batch.msg[i];
	uint8_t *pkt = srv->batch.buf[i];
	size_t plen = m->msg_len;

	if (m->msg_hdr.msg_flags & MSG_TRUNC) {
		srv->drops.n[DROP_OVERSIZE]++;
		return;
	}
	uint64_t seq = seq_tx_next(&s->tx);
	struct mp_hdr h = {
		.type = MP_T_DATA,
		.session = s->id,
		.epoch = s->tx.epoch,
		.seq = seq,
	};
	wire_put_hdr(pkt, &h);
	size_t len = wire_seal_plain(pkt, plen);
	uint32_t mask = sched_pick(&s->sched, live, s->weight);

	s->down_pkts++;
	s->down_bytes += plen;
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		if (!(mask & 1u << p))
			continue;
		sendlist_add(&srv->out, &s->paths[p].addr, &path_ids[p], pkt + 1,
			     len - 1);
		s->paths[p].tx_pkts++;
		s->paths[p].tx_bytes += len;
	}
}

static void on_target_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = container_of(w, struct session, io);
	struct server *srv = s->srv;
	int n;

	(void)loop;
	(void)revents;
	srv->now_ms = mono_ms();
	s->last_active_ms = srv->now_ms;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		n = batch_recv(s->fd, &srv->batch, MP_HDR_LEN, MP_MAX_PAYLOAD);
		if (n < 0 && net_peer_unreachable(errno)) {
			s->unreachable++;
			continue;
		}
		if (n <= 0)
			break;
		uint32_t live = live_paths(s);
		for (int i = 0; i < n; i++)
			queue_down(srv, s, i, live);
		unsigned queued = srv->out.n;
		srv->drops.n[DROP_SEND_FAIL] += queued - sendlist_flush(srv->fd, &srv->out);
		if (n < NET_BATCH)
			break;
	}
}

/* ---- setup --------------------------------------------------------------- */

struct server *server_open(struct ev_loop *loop, const struct server_opts *o)
{
	char err[160], a[NET_ADDRSTR], b[NET_ADDRSTR];
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		log_warn("calloc");
		return NULL;
	}
	srv->loop = loop;
	srv->o = *o;
	srv->fd = -1;
	srv->now_ms = mono_ms();
	if (batch_init(&srv->batch) || table_init(&srv->table, o->common.max_sessions)) {
		log_warn("allocating buffers");
		goto fail;
	}
	if (net_resolve(o->target_host, (uint16_t)o->target_port, 0, &srv->target,
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
	ev_io_init(&srv->io, on_listen_readable, srv->fd, EV_READ);
	ev_io_start(loop, &srv->io);
	ev_timer_init(&srv->sweep, on_sweep, SWEEP_INTERVAL_MS / 1000.0,
		      SWEEP_INTERVAL_MS / 1000.0);
	ev_timer_start(loop, &srv->sweep);
	log_info("listening on %s, target %s, mode %s, up to %u sessions, "
		 "plaintext (no key)", net_ntop(&srv->listen, a),
		 net_ntop(&srv->target, b), sched_mode_name(o->common.mode),
		 o->common.max_sessions);
	return srv;
fail:
	server_close(srv);
	return NULL;
}

void server_close(struct server *srv)
{
	if (!srv)
		return;
	while (srv->sessions)
		session_free(srv, srv->sessions);
	if (srv->fd >= 0) {
		ev_io_stop(srv->loop, &srv->io);
		close(srv->fd);
	}
	ev_timer_stop(srv->loop, &srv->sweep);
	table_free(&srv->table);
	batch_free(&srv->batch);
	free(srv);
}

void server_log_stats(const struct server *srv)
{
	char line[1024], str[NET_ADDRSTR];
	uint64_t now = mono_ms();

	stats_format_drops(&srv->drops, line, sizeof(line));
	log_info("stats mode=%s sessions=%u sessions_opened=%llu rx_pkts=%llu%s",
		 sched_mode_name(srv->o.common.mode), srv->nsessions,
		 (unsigned long long)srv->sessions_opened,
		 (unsigned long long)srv->rx_pkts, line);
	for (const struct session *s = srv->sessions; s; s = s->next) {
		log_info("stats session id=%08x epoch=%08x target_port=%u up_pkts=%llu "
			 "up_bytes=%llu down_pkts=%llu down_bytes=%llu dup=%llu "
			 "old=%llu probes=%llu target_unreachable=%llu idle_ms=%llu",
			 s->id, s->client_epoch, s->local_port,
			 (unsigned long long)s->up_pkts,
			 (unsigned long long)s->up_bytes,
			 (unsigned long long)s->down_pkts,
			 (unsigned long long)s->down_bytes,
			 (unsigned long long)s->dup, (unsigned long long)s->old,
			 (unsigned long long)s->probes,
			 (unsigned long long)s->unreachable,
			 (unsigned long long)(now - s->last_active_ms));
		for (int p = 0; p < MP_MAX_PATHS; p++) {
			const struct spath *sp = &s->paths[p];
			if (!(s->known & 1u << p))
				continue;
			log_info("stats session_path id=%08x path=%d addr=%s rx_pkts=%llu "
				 "rx_bytes=%llu tx_pkts=%llu tx_bytes=%llu "
				 "addr_changes=%llu last_rx_ms=%llu",
				 s->id, p, net_ntop(&sp->addr, str),
				 (unsigned long long)sp->rx_pkts,
				 (unsigned long long)sp->rx_bytes,
				 (unsigned long long)sp->tx_pkts,
				 (unsigned long long)sp->tx_bytes,
				 (unsigned long long)sp->addr_changes,
				 (unsigned long long)(now - sp->last_rx_ms));
		}
	}
}
