/* mpclient's packet path and setup: the local socket, one socket per bridge
 * path, and the two directions.
 *
 * Up:   app datagram -> its session (session.c) -> header, then CRC or AEAD
 *       seal in place -> the scheduler picks paths -> the same bytes queued
 *       per path (each with its own path byte) -> one sendmmsg per path.
 * Down: bridge datagram -> parse -> handshake messages to keying.c ->
 *       session by id -> (keyed) epoch check, then decrypt -> window ->
 *       payload queued to the application -> one sendmmsg.
 * Which paths a datagram takes is the scheduler's choice over the
 * session's view of path health (paths.c). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "ip.h"
#include "log.h"
#include "util.h"

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = container_of(w, struct client, sweep);

	(void)loop;
	(void)revents;
	c->now_us = mono_us();
	c->now_ms = c->now_us / 1000;
	session_sweep(c);
	paths_aggregate(c);
}

void client_send_on(struct client *c, unsigned p, const uint8_t *pkt, size_t len)
{
	struct path *path = &c->paths[p];

	if (send(path->fd, pkt, len, MSG_DONTWAIT) == (ssize_t)len) {
		path->st.tx_pkts++;
		path->st.tx_bytes += len;
	} else {
		path->st.tx_fail++;
	}
}

/* ---- up: application -> bridges ----------------------------------------- */

size_t client_seal(struct client *c, struct session *s, uint8_t *pkt, size_t plen,
		   unsigned type)
{
	struct mp_hdr h = {
		.type = (uint8_t)type,
		.sealed = c->key != NULL,
		.session = s->id,
		.epoch = s->tx.epoch,
		.seq = seq_tx_next(type == MP_T_DATA ? &s->tx : &s->ctl_tx),
	};

	wire_put_hdr(pkt, &h);
	return c->key ? aead_seal(&s->seal, pkt, plen) : wire_seal_plain(pkt, plen);
}

static void queue_on(struct client *c, struct session *s, unsigned p, const uint8_t *pkt,
		     size_t len)
{
	struct path *path = &c->paths[p];

	sendlist_add(&path->out, NULL, (int)p, pkt + 1, len - 1);
	pace_spend(&path->pace, len);
	if (path->pmtu_reported && len > path->pmtu_reported)
		path->st.over_pmtu++;
	s->sp[p].tx_pkts++;
	s->sp[p].tx_bytes += len;
}

/* rate=: a path at its rate takes no copy now. In the modes that spread,
 * the copy goes to the best other path that has room; in duplicate it is
 * skipped. Only if no copy at all could go does one wait in the path's
 * queue (latency-critical ones ahead of bulk). */
static uint32_t pace_filter(struct client *c, struct session *s, uint32_t mask,
			    uint8_t *pkt, size_t len, int critical)
{
	uint32_t out = 0, full = 0;

	for (unsigned p = 0; p < c->npaths; p++)
		if (mask & 1u << p) {
			if (pace_ready(&c->paths[p].pace, c->now_us))
				out |= 1u << p;
			else
				full |= 1u << p;
		}
	if (!full)
		return mask;
	for (unsigned k = 0; k < s->view.n_quality && s->sched.mode != SCHED_DUPLICATE; k++) {
		unsigned q = s->view.by_quality[k];
		if (__builtin_popcount(out) >= __builtin_popcount(mask))
			break;
		if (!((mask | out) & 1u << q) && pace_ready(&c->paths[q].pace, c->now_us))
			out |= 1u << q;
	}
	for (unsigned p = 0; p < c->npaths; p++)
		if (full & 1u << p)
			c->paths[p].st.paced_skip++;
	if (!out) {
		unsigned p = (unsigned)__builtin_ctz(full);
		struct path *path = &c->paths[p];
		pkt[0] = (uint8_t)p;
		if (pace_keep(&path->pace, pkt, len, critical)) {
			c->drops.n[DROP_PACED]++;
			return 0;
		}
		s->sp[p].tx_pkts++;
		s->sp[p].tx_bytes += len;
		if (!ev_is_active(&path->pace_timer)) {
			ev_timer_set(&path->pace_timer,
				     pace_wait_us(&path->pace, c->now_us) / 1e6, 0);
			ev_timer_start(c->loop, &path->pace_timer);
		}
	}
	return out;
}

void client_queue_up(struct client *c, struct session *s, uint8_t *pkt, size_t plen)
{
	/* Latency-critical: small, or (tun mode) ICMP or a low-delay DSCP. */
	int critical = plen <= c->o.common.small_bytes ||
		       (c->tun.fd >= 0 && tun_is_latency_critical(pkt + MP_HDR_LEN, plen));
	size_t len = client_seal(c, s, pkt, plen, MP_T_DATA);

	if (!len) {
		c->drops.n[DROP_SEND_FAIL]++;
		return;
	}
	s->up_pkts++;
	s->up_bytes += plen;
	/* Sealed once, sent on every chosen path: the path byte is outside
	 * the check, so each copy carries its own without a second seal. */
	if (s->view_dirty)
		paths_view(c, s);
	uint32_t mask = sched_choose(&s->sched, &s->view, critical);
	if (c->paced)
		mask = pace_filter(c, s, mask, pkt, len, critical);
	for (unsigned p = 0; p < c->npaths; p++)
		if (mask & 1u << p)
			queue_on(c, s, p, pkt, len);
	/* On one path alone: kept, in case that path dies with it. */
	if (mask && !(mask & (mask - 1)))
		rescue_keep(&c->rescue, s->id, (unsigned)__builtin_ctz(mask), pkt, len, c->now_us);
}

void client_flush_paths(struct client *c)
{
	for (unsigned p = 0; p < c->npaths; p++) {
		struct path *path = &c->paths[p];
		unsigned queued = path->out.n;

		if (!queued)
			continue;
		for (unsigned k = 0; k < queued; k++)
			path->st.tx_bytes += path->out.iov[k][0].iov_len + path->out.iov[k][1].iov_len;
		unsigned sent = sendlist_flush(path->fd, &path->out);
		path->st.tx_pkts += sent;
		path->st.tx_fail += queued - sent;
		c->drops.n[DROP_SEND_FAIL] += queued - sent;
	}
}

static void accept_up(struct client *c, int i)
{
	struct mmsghdr *m = &c->batch.msg[i];
	uint8_t *pkt = c->batch.buf[i];
	size_t plen = m->msg_len;
	struct session *s;

	c->app_rx++;
	if (m->msg_hdr.msg_flags & MSG_TRUNC) {
		c->drops.n[DROP_OVERSIZE]++;
		return;
	}
	s = session_by_app(c, &c->batch.from[i]);
	if (!s && !(s = session_new(c, &c->batch.from[i]))) {
		c->drops.n[DROP_SESSION_LIMIT]++;
		return;
	}
	client_accept_up(c, s, pkt, plen);
}

void client_accept_up(struct client *c, struct session *s, uint8_t *pkt, size_t plen)
{
	s->last_active_ms = c->now_ms;
	if (c->key && s->keying != KEYS_READY)
		keying_hold(c, s, pkt + MP_HDR_LEN, plen);
	else
		client_queue_up(c, s, pkt, plen);
}

static void on_app_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = container_of(w, struct client, io);

	(void)loop;
	(void)revents;
	c->now_us = mono_us();
	c->now_ms = c->now_us / 1000;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(c->fd, &c->batch, MP_HDR_LEN, MP_MAX_PAYLOAD);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			accept_up(c, i);
		client_flush_paths(c);
		if (n < NET_BATCH)
			break;
	}
}

/* ---- down: bridges -> application --------------------------------------- */

static void count_verdict(struct client *c, struct session *s, enum seq_verdict v)
{
	switch (v) {
	case SEQ_ACCEPT:
		break;
	case SEQ_DUP:
		s->dup++;
		c->drops.n[DROP_DUP]++;
		break;
	case SEQ_OLD:
		s->old++;
		c->drops.n[DROP_OLD]++;
		break;
	case SEQ_STALE_EPOCH:
		s->stale++;
		c->drops.n[DROP_STALE_EPOCH]++;
		break;
	}
}

void client_flush_app(struct client *c)
{
	unsigned queued = c->to_app.n;
	unsigned sent = sendlist_flush(c->fd, &c->to_app);

	c->app_tx += sent;
	c->drops.n[DROP_SEND_FAIL] += queued - sent;
	c->stage.used = 0;
}

struct release {
	struct client *c;
	struct session *s;
	const uint8_t *inplace;		/* the datagram being pushed, if any */
};

/* Queues one datagram for the application; one from a reorder slot is
 * copied first (its slot may be reused before the flush). */
static void to_app(void *ctx, const uint8_t *data, size_t len)
{
	struct release *r = ctx;
	struct client *c = r->c;

	if (c->tun.fd >= 0) {		/* tun mode hook: the device, no app socket */
		r->s->down_pkts++;
		r->s->down_bytes += len;
		tunnel_deliver(c, data, len);
		return;
	}
	if (c->to_app.n == NET_SENDLIST_MAX ||
	    (data != r->inplace && c->stage.used == NET_STAGE_SLOTS))
		client_flush_app(c);
	if (data != r->inplace)
		data = memcpy(c->stage.buf[c->stage.used++], data, len);
	r->s->down_pkts++;
	r->s->down_bytes += len;
	sendlist_add(&c->to_app, &r->s->app, SENDLIST_NO_PATH, data, len);
}

static void arm_reorder(struct client *c, struct session *s)
{
	uint64_t deadline = reorder_deadline(s->ro, s->hold_us);

	if (deadline == s->ro_deadline_us)
		return;
	s->ro_deadline_us = deadline;
	ev_timer_stop(c->loop, &s->ro_timer);
	if (deadline == UINT64_MAX)
		return;
	ev_timer_set(&s->ro_timer,
		     deadline > c->now_us ? (deadline - c->now_us) / 1e6 : 0, 0);
	ev_timer_start(c->loop, &s->ro_timer);
}

void client_reorder_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = container_of(w, struct session, ro_timer);
	struct client *c = s->c;
	struct release r = { c, s, NULL };

	(void)loop;
	(void)revents;
	c->now_us = mono_us();
	c->now_ms = c->now_us / 1000;
	s->ro_deadline_us = 0;
	reorder_expire(s->ro, c->now_us, s->hold_us, to_app, &r);
	client_flush_app(c);
	arm_reorder(c, s);
}

/* In order, through the reorder buffer when there is one. */
static void deliver(struct client *c, struct session *s, uint64_t seq,
		    const uint8_t *payload, size_t plen)
{
	struct release r = { c, s, payload };

	if (!s->hold_us || (!s->ro && reorder_straight(&s->ro_last, seq))) {
		to_app(&r, payload, plen);
		return;
	}
	if (!s->ro) {
		s->ro = reorder_new(REORDER_SLOTS, NET_STAGE_BYTES);
		if (!s->ro) {
			c->drops.n[DROP_SEND_FAIL]++;
			return;
		}
		reorder_push(s->ro, s->ro_last, NULL, 0, c->now_us, s->hold_us, to_app, &r);
	}
	reorder_push(s->ro, seq, payload, plen, c->now_us, s->hold_us, to_app, &r);
	arm_reorder(c, s);
}

static void deliver_down(struct client *c, struct path *path, int i)
{
	uint8_t *pkt = c->batch.buf[i];
	size_t len = c->batch.msg[i].msg_len, plen;
	struct mp_hdr h;
	struct session *s;
	enum wire_err err;

	err = wire_parse(pkt, len, c->key != NULL, &h, &plen);
	if (err) {
		path->st.rx_bad++;
		c->drops.n[err]++;
		return;
	}
	if (h.type == MP_T_HELLO || h.type == MP_T_WELCOME || h.type == MP_T_RESET) {
		keying_input(c, path, pkt, len, &h);
		return;
	}
	s = session_by_id(c, h.session);
	if (!s) {
		c->drops.n[DROP_UNKNOWN_SESSION]++;
		return;
	}
	if (c->key) {
		/* Only the current server epoch has a key; anything else is
		 * refused before it costs a decryption. */
		if (s->keying != KEYS_READY || h.epoch != s->server_epoch) {
			s->stale++;
			c->drops.n[DROP_STALE_EPOCH]++;
			return;
		}
		if (aead_open(&s->open, pkt, len)) {
			s->bad_tag++;
			path->st.rx_bad++;
			c->drops.n[DROP_BAD_TAG]++;
			return;
		}
	}
	path->st.rx_pkts++;
	path->st.rx_bytes += len;
	/* Every authenticated arrival counts for the path's loss, duplicates
	 * included: the path did deliver it. */
	s->sp[path->id].rx_pkts++;
	s->sp[path->id].rx_bytes += len;
	if (h.type != MP_T_DATA) {
		enum seq_verdict v = seq_rx_accept(&s->ctl_rx, h.epoch, h.seq);
		count_verdict(c, s, v);
		if (v == SEQ_ACCEPT && h.type == MP_T_ACK)
			paths_ack(c, s, path->id, pkt + MP_HDR_LEN, plen);
		return;		/* mpserver sends no PROBE */
	}
	uint64_t restarts = s->rx.restarts;
	enum seq_verdict v = seq_rx_accept(&s->rx, h.epoch, h.seq);
	count_verdict(c, s, v);
	if (v != SEQ_ACCEPT)
		return;
	if (s->rx.restarts != restarts) {
		log_info("session %08x: server side restarted (epoch %08x), following it",
			 s->id, h.epoch);
		if (s->ro)
			reorder_reset(s->ro);
		s->ro_last = 0;
	}
	s->last_active_ms = c->now_ms;
	deliver(c, s, h.seq, pkt + MP_HDR_LEN, plen);
}

static void on_path_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct path *path = container_of(w, struct path, io);
	struct client *c = path->c;

	(void)loop;
	(void)revents;
	c->now_us = mono_us();
	c->now_ms = c->now_us / 1000;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(path->fd, &c->batch, 0, MP_BUF_LEN);
		if (n < 0 && net_peer_unreachable(errno)) {
			path->st.unreachable++;
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			deliver_down(c, path, i);
		client_flush_app(c);
		if (n < NET_BATCH)
			break;
	}
}

/* ---- setup --------------------------------------------------------------- */

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

	p->c = c;
	p->id = (uint8_t)id;
	p->fd = -1;
	snprintf(p->name, sizeof(p->name), "%s", cp->name);
	if (net_resolve(cp->host, cp->port, 0, &p->peer, err, sizeof(err))) {
		log_error("path %s (line %u): %s", cp->name, cp->line, err);
		return -1;
	}
	p->fd = net_udp_socket(p->peer.u.sa.sa_family);
	if (p->fd < 0) {
		log_warn("path %s: socket", cp->name);
		return -1;
	}
	if (path_socket_options(p->fd, cp) ||
	    path_bind(p->fd, cp, p->peer.u.sa.sa_family))
		return -1;
	/* Connected: the kernel drops datagrams from anyone but the bridge. */
	if (connect(p->fd, &p->peer.u.sa, p->peer.len)) {
		log_warn("path %s: connect %s", cp->name, net_ntop(&p->peer, str));
		return -1;
	}
	ev_io_init(&p->io, on_path_readable, p->fd, EV_READ);
	ev_io_start(c->loop, &p->io);
	log_info("path %s: bridge %s weight %u", p->name, net_ntop(&p->peer, str),
		 cp->weight);
	return 0;
}

struct client *client_open(struct ev_loop *loop, const struct client_opts *o)
{
	char err[160], str[NET_ADDRSTR];
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		log_warn("calloc");
		return NULL;
	}
	list_init(&c->sessions);
	c->loop = loop;
	c->o = *o;
	c->key = o->key;
	c->fd = -1;
	c->tun.fd = -1;
	c->now_us = mono_us();
	c->now_ms = c->now_us / 1000;
	c->started_ms = c->now_ms;
	hook_init(&c->hook, o->common.path_script);
	if (rescue_init(&c->rescue))
		log_warn("no memory to keep datagrams for rescue: running without");
	if (batch_init(&c->batch) || table_init(&c->by_app, o->common.max_sessions) ||
	    table_init(&c->by_id, o->common.max_sessions)) {
		log_warn("allocating buffers");
		goto fail;
	}
	c->npaths = o->config->npaths;
	for (unsigned i = 0; i < c->npaths; i++)
		c->paths[i].fd = -1;
	for (unsigned i = 0; i < c->npaths; i++) {
		if (path_open(c, i, &o->config->paths[i]))
			goto fail;
		c->weight[i] = o->config->paths[i].weight;
		c->paths[i].backup = o->config->paths[i].backup;
		if (pace_init(&c->paths[i].pace, o->config->paths[i].rate_bps, c->now_us)) {
			log_warn("path %s: pacing queues", c->paths[i].name);
			goto fail;
		}
		c->paced |= o->config->paths[i].rate_bps != 0;
	}
	paths_open(c);
	if (o->tun.name) {		/* tun mode hook: the device, no local socket */
		if (tunnel_open(c))
			goto fail;
		goto started;
	}
	if (net_resolve(o->common.bind, (uint16_t)o->port, 0, &c->local, err, sizeof(err))) {
		log_error("--bind: %s", err);
		goto fail;
	}
	c->fd = net_udp_bind(&c->local);
	if (c->fd < 0)
		goto fail;
	ev_io_init(&c->io, on_app_readable, c->fd, EV_READ);
	ev_io_start(loop, &c->io);
started:
	ev_timer_init(&c->sweep, on_sweep, SWEEP_INTERVAL_MS / 1000.0,
		      SWEEP_INTERVAL_MS / 1000.0);
	ev_timer_start(loop, &c->sweep);
	if (o->common.status_path &&
	    !(c->status = status_open(loop, o->common.status_path, client_status_fill, c, err))) {
		log_error("--status: %s", err);
		goto fail;
	}
	log_info("%s %s, %u bridge path%s, mode %s, %s",
		 c->tun.fd >= 0 ? "tun" : "listening on",
		 c->tun.fd >= 0 ? c->tun.name : net_ntop(&c->local, str), c->npaths, c->npaths == 1 ? "" : "s",
		 sched_mode_name(o->common.mode),
		 c->key ? "AES-256-GCM" : "plaintext (no key)");
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
	while (!list_empty(&c->sessions))
		session_free(c, list_entry(c->sessions.next, struct session, link));
	for (unsigned i = 0; i < c->npaths; i++) {
		if (c->paths[i].fd >= 0) {
			ev_io_stop(c->loop, &c->paths[i].io);
			close(c->paths[i].fd);
		}
		ev_timer_stop(c->loop, &c->paths[i].pace_timer);
		pace_free(&c->paths[i].pace);
	}
	if (c->fd >= 0) {
		ev_io_stop(c->loop, &c->io);
		close(c->fd);
	}
	tunnel_close(c);
	ev_timer_stop(c->loop, &c->sweep);
	table_free(&c->by_app);
	table_free(&c->by_id);
	batch_free(&c->batch);
	rescue_free(&c->rescue);
	free(c);
}
