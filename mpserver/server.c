/* mpserver's packet path and setup: the listening socket and the two
 * directions.
 *
 * Up:   bridge datagram -> parse -> HELLO to keying.c -> session by
 *       (id, epoch), made on first sight in plaintext -> (keyed) decrypt,
 *       or a RESET if we have no such session -> window -> note the path ->
 *       queued to the session's target socket, flushed per run of packets
 *       of one session.
 * Down: target datagram -> header, CRC or AEAD seal in place -> the
 *       scheduler picks among the session's live paths -> one sendmmsg on
 *       the listening socket, each copy with its own path byte.
 * Which paths carry a reply is the scheduler's choice over the session's
 * view of path health (paths.c). */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "ip.h"
#include "log.h"
#include "util.h"

static void clock_now(struct server *srv)
{
	srv->now_us = mono_us();
	srv->now_ms = srv->now_us / 1000;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = container_of(w, struct server, tick);
	struct session *s;

	(void)loop;
	(void)revents;
	clock_now(srv);
	list_for_each(s, &srv->sessions, struct session, link)
		paths_tick(srv, s);
	hook_reap(&srv->hook);
	if (srv->now_ms - srv->last_sweep_ms < SWEEP_INTERVAL_MS)
		return;
	srv->last_sweep_ms = srv->now_ms;
	session_sweep(srv);
	if (srv->tun.fd >= 0)		/* tun mode hook */
		tunnel_sweep(srv);
	if (srv->key)
		keying_report(srv);
}

/* ---- up: bridges -> target ----------------------------------------------- */

static void flush_to_target(struct server *srv)
{
	unsigned queued = srv->out.n;

	srv->stage.used = 0;
	if (!queued)
		return;
	srv->drops.n[DROP_SEND_FAIL] += queued - sendlist_flush(srv->run->fd, &srv->out);
}

struct release {
	struct server *srv;
	struct session *s;
	const uint8_t *inplace;		/* the datagram being pushed, if any */
};

/* Queues one datagram for the session's target (srv->run); one from a
 * reorder slot is copied first (its slot may be reused before the flush). */
static void to_target(void *ctx, const uint8_t *data, size_t len)
{
	struct release *r = ctx;
	struct server *srv = r->srv;

	if (srv->tun.fd >= 0) {		/* tun mode hook: the device, no target */
		r->s->up_pkts++;
		r->s->up_bytes += len;
		tunnel_deliver(srv, r->s, data, len);
		return;
	}
	if (srv->out.n == NET_SENDLIST_MAX ||
	    (data != r->inplace && srv->stage.used == NET_STAGE_SLOTS))
		flush_to_target(srv);
	if (data != r->inplace)
		data = memcpy(srv->stage.buf[srv->stage.used++], data, len);
	r->s->up_pkts++;
	r->s->up_bytes += len;
	sendlist_add(&srv->out, NULL, SENDLIST_NO_PATH, data, len);
}

static void arm_reorder(struct server *srv, struct session *s)
{
	uint64_t deadline = reorder_deadline(s->ro, s->hold_us);

	if (deadline == s->ro_deadline_us)
		return;
	s->ro_deadline_us = deadline;
	ev_timer_stop(srv->loop, &s->ro_timer);
	if (deadline == UINT64_MAX)
		return;
	ev_timer_set(&s->ro_timer,
		     deadline > srv->now_us ? (deadline - srv->now_us) / 1e6 : 0, 0);
	ev_timer_start(srv->loop, &s->ro_timer);
}

void server_reorder_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = container_of(w, struct session, ro_timer);
	struct server *srv = s->srv;
	struct release r = { srv, s, NULL };

	(void)loop;
	(void)revents;
	clock_now(srv);
	s->ro_deadline_us = 0;
	srv->run = s;
	reorder_expire(s->ro, srv->now_us, s->hold_us, to_target, &r);
	flush_to_target(srv);
	srv->run = NULL;
	arm_reorder(srv, s);
}

/* In order, through the reorder buffer when there is one. What is queued
 * is flushed per run of packets of one session. */
static void deliver_up(struct server *srv, struct session *s, uint64_t seq,
		       const uint8_t *payload, size_t plen)
{
	struct release r = { srv, s, payload };

	if (srv->run != s) {
		if (srv->run)
			flush_to_target(srv);
		srv->run = s;
	}
	if (!s->hold_us || (!s->ro && reorder_straight(&s->ro_last, seq))) {
		to_target(&r, payload, plen);
		return;
	}
	if (!s->ro) {
		s->ro = reorder_new(REORDER_SLOTS, NET_STAGE_BYTES);
		if (!s->ro) {
			srv->drops.n[DROP_SEND_FAIL]++;
			return;
		}
		reorder_push(s->ro, s->ro_last, NULL, 0, srv->now_us, s->hold_us, to_target, &r);
	}
	reorder_push(s->ro, seq, payload, plen, srv->now_us, s->hold_us, to_target, &r);
	arm_reorder(srv, s);
}

/* Authenticates a sealed packet for session s (or finds it has none). */
static int authenticate(struct server *srv, struct session *s, uint8_t *pkt,
			size_t len, const struct mp_hdr *h, const struct mp_addr *from)
{
	if (!aead_open(&s->open, pkt, len)) {
		s->confirmed = 1;
		return 0;
	}
	s->bad_tag++;
	srv->drops.n[DROP_BAD_TAG]++;
	/* A session no authenticated packet has confirmed may have been made
	 * by a replayed HELLO after we restarted, while the real client still
	 * holds keys from before: tell it to start over. */
	if (!s->confirmed)
		keying_reset(srv, h, from);
	return -1;
}

static void accept_up(struct server *srv, int i)
{
	uint8_t *pkt = srv->batch.buf[i];
	const struct mp_addr *from = &srv->batch.from[i];
	size_t len = srv->batch.msg[i].msg_len, plen;
	struct mp_hdr h;
	struct session *s;
	enum wire_err err;

	err = wire_parse(pkt, len, srv->key != NULL, &h, &plen);
	if (err) {
		srv->drops.n[err]++;
		return;
	}
	if (h.type == MP_T_HELLO) {
		keying_hello(srv, pkt, len, &h, from);
		return;
	}
	if (h.type != MP_T_DATA && h.type != MP_T_PROBE) {
		srv->drops.n[WIRE_TYPE]++;	/* a WELCOME, RESET or ACK, the wrong way */
		return;
	}
	s = session_find(srv, h.session, h.epoch);
	if (!s && srv->key) {
		srv->drops.n[DROP_UNKNOWN_SESSION]++;
		keying_reset(srv, &h, from);
		return;
	}
	if (!s && !(s = session_new(srv, &h))) {
		srv->drops.n[DROP_SESSION_LIMIT]++;
		return;
	}
	if (srv->key && authenticate(srv, s, pkt, len, &h, from))
		return;
	enum seq_verdict v = seq_rx_accept(h.type == MP_T_DATA ? &s->rx : &s->ctl_rx,
					   h.epoch, h.seq);
	if (v != SEQ_OLD)
		session_note_path(srv, s, h.path, from, len, v == SEQ_ACCEPT);
	s->last_active_ms = srv->now_ms;
	switch (v) {
	case SEQ_ACCEPT:
		break;
	case SEQ_DUP:
	case SEQ_STALE_EPOCH:	/* the epoch is part of the key: cannot happen */
		s->dup++;
		srv->drops.n[DROP_DUP]++;
		return;
	case SEQ_OLD:
		s->old++;
		srv->drops.n[DROP_OLD]++;
		return;
	}
	if (h.type == MP_T_PROBE) {
		s->probes++;
		paths_probe_in(srv, s, h.path, pkt + MP_HDR_LEN, plen);
		return;
	}
	if (srv->tun.fd < 0 && s->fd < 0 && session_connect(srv, s)) {
		srv->drops.n[DROP_SEND_FAIL]++;
		return;
	}
	deliver_up(srv, s, h.seq, pkt + MP_HDR_LEN, plen);
}

static void on_listen_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = container_of(w, struct server, io);

	(void)loop;
	(void)revents;
	clock_now(srv);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(srv->fd, &srv->batch, 0, MP_BUF_LEN);
		if (n <= 0)
			break;
		srv->rx_pkts += (unsigned)n;
		for (int i = 0; i < n; i++)
			accept_up(srv, i);
		if (srv->run)
			flush_to_target(srv);
		srv->run = NULL;
		if (n < NET_BATCH)
			break;
	}
}

/* ---- down: target -> bridges --------------------------------------------- */

void server_queue_down(struct server *srv, struct session *s, int i)
{
	struct mmsghdr *m = &srv->batch.msg[i];
	uint8_t *pkt = srv->batch.buf[i];
	size_t plen = m->msg_len, len;

	if (m->msg_hdr.msg_flags & MSG_TRUNC) {
		srv->drops.n[DROP_OVERSIZE]++;
		return;
	}
	/* Latency-critical: small, or (tun mode) ICMP or a low-delay DSCP. */
	int critical = plen <= srv->o.common.small_bytes ||
		       (srv->tun.fd >= 0 && tun_is_latency_critical(pkt + MP_HDR_LEN, plen));
	uint64_t seq = seq_tx_next(&s->tx);
	struct mp_hdr h = {
		.type = MP_T_DATA,
		.sealed = srv->key != NULL,
		.session = s->id,
		.epoch = s->tx.epoch,
		.seq = seq,
	};
	wire_put_hdr(pkt, &h);
	len = srv->key ? aead_seal(&s->seal, pkt, plen) : wire_seal_plain(pkt, plen);
	if (!len) {
		srv->drops.n[DROP_SEND_FAIL]++;
		return;
	}
	if (s->view_dirty)
		paths_view(s);
	uint32_t mask = sched_choose(&s->sched, &s->view, critical);

	s->down_pkts++;
	s->down_bytes += plen;
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		if (!(mask & 1u << p))
			continue;
		sendlist_add(&srv->out, &s->paths[p].addr, (int)p, pkt + 1,
			     len - 1);
		s->paths[p].tx_pkts++;
		s->paths[p].tx_bytes += len;
	}
	/* On one path alone: kept, in case that path dies with it. */
	if (mask && !(mask & (mask - 1)))
		rescue_keep(&srv->rescue, s->id, (unsigned)__builtin_ctz(mask), pkt, len,
			    srv->now_us);
}

void server_target_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = container_of(w, struct session, io);
	struct server *srv = s->srv;

	(void)loop;
	(void)revents;
	clock_now(srv);
	s->last_active_ms = srv->now_ms;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(s->fd, &srv->batch, MP_HDR_LEN, MP_MAX_PAYLOAD);
		if (n < 0 && net_peer_unreachable(errno)) {
			s->unreachable++;
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			server_queue_down(srv, s, i);
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
	list_init(&srv->sessions);
	srv->loop = loop;
	srv->o = *o;
	srv->key = o->key;
	srv->fd = -1;
	srv->tun.fd = -1;
	clock_now(srv);
	srv->last_sweep_ms = srv->now_ms;
	srv->started_ms = srv->now_ms;
	hook_init(&srv->hook, o->common.path_script);
	ratelimit_init(&srv->hello_limit, HELLO_PER_S, HELLO_BURST, srv->now_ms);
	ratelimit_init(&srv->reset_limit, RESET_PER_S, RESET_BURST, srv->now_ms);
	if (rescue_init(&srv->rescue))
		log_warn("no memory to keep datagrams for rescue: running without");
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
	ev_io_init(&srv->io, on_listen_readable, srv->fd, EV_READ);
	ev_io_start(loop, &srv->io);
	ev_timer_init(&srv->tick, on_tick, TICK_MS / 1000.0, TICK_MS / 1000.0);
	ev_timer_start(loop, &srv->tick);
	if (o->common.status_path &&
	    !(srv->status = status_open(loop, o->common.status_path, server_status_fill, srv,
					err))) {
		log_error("--status: %s", err);
		goto fail;
	}
	log_info("listening on %s, target %s, mode %s, up to %u sessions, %s",
		 net_ntop(&srv->listen, a),
		 srv->tun.fd >= 0 ? srv->tun.name : net_ntop(&srv->target, b),
		 sched_mode_name(o->common.mode), o->common.max_sessions,
		 srv->key ? "AES-256-GCM" : "plaintext (no key)");
	return srv;
fail:
	server_close(srv);
	return NULL;
}

void server_close(struct server *srv)
{
	if (!srv)
		return;
	status_close(srv->status);
	while (!list_empty(&srv->sessions))
		session_free(srv, list_entry(srv->sessions.next, struct session, link));
	if (srv->fd >= 0) {
		ev_io_stop(srv->loop, &srv->io);
		close(srv->fd);
	}
	tunnel_close(srv);
	ev_timer_stop(srv->loop, &srv->tick);
	table_free(&srv->table);
	batch_free(&srv->batch);
	rescue_free(&srv->rescue);
	free(srv);
}
