/* mpserver's side of path health. Passive: it answers each PROBE at once
 * on the path it came by (an ACK with the same fields, common/health.h),
 * measures RTT and loss from what the probes echo, and derives each path's
 * state from the client's view (carried in every probe) and its own ears
 * (probes that stop coming). The scheduler's view for the replies is
 * built here. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "pmtu.h"
#include "tun.h"
#include "util.h"

/* An ACK, padded to the PROBE's length when the PROBE was padded (path
 * MTU discovery: the answer must show that the size went both ways, so it
 * goes with DF like the PROBE). */
static void send_ack(struct server *srv, struct session *s, unsigned p, uint32_t id,
		     size_t plen)
{
	uint8_t *pkt = srv->ack_buf;
	struct spath *sp = &s->paths[p];
	struct mp_probe body;
	struct mp_hdr h = {
		.path = (uint8_t)p,
		.type = MP_T_ACK,
		.sealed = srv->key != NULL,
		.session = s->id,
		.epoch = s->tx.epoch,
		.seq = seq_tx_next(&s->ctl_tx),
	};

	health_fill(&sp->h, &body, 1, (uint8_t)p, srv->now_us, 0, (uint32_t)(sp->tx_pkts + 1));
	body.id = id;
	body.state = health_state_byte(&sp->h, 0);
	wire_put_hdr(pkt, &h);
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	memset(pkt + MP_HDR_LEN + MP_PROBE_LEN, 0, plen - MP_PROBE_LEN);
	size_t len = srv->key ? aead_seal(&s->seal, pkt, plen) : wire_seal_plain(pkt, plen);
	pkt[0] = (uint8_t)p;
	ssize_t sent = !len ? -1
		       : plen > MP_PROBE_LEN ? net_send_df(srv->fd, pkt, len, &sp->addr)
		       : sendto(srv->fd, pkt, len, MSG_DONTWAIT, &sp->addr.u.sa, sp->addr.len);
	if (sent < 0) {
		srv->drops.n[DROP_SEND_FAIL]++;
		return;
	}
	sp->tx_pkts++;
	sp->tx_bytes += len;
}

/* Tun mode: the device's MTU follows the smallest path MTU the clients
 * have found, over the paths that are not down. */
static void follow_mtu(struct server *srv)
{
	unsigned smallest = 0;
	const struct session *s;

	if (srv->tun.fd < 0)
		return;
	list_for_each(s, &srv->sessions, struct session, link)
		for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
			const struct spath *sp = &s->paths[p];
			unsigned mtu = sp->pmtu + (sp->addr.u.sa.sa_family == AF_INET
							   ? TUN_PATH_OVERHEAD_IP4
							   : TUN_PATH_OVERHEAD_IP6);
			if (s->known & 1u << p && sp->pmtu && sp->h.state != HEALTH_DOWN &&
			    (!smallest || mtu < smallest))
				smallest = mtu;
		}
	if (smallest)
		tunnel_path_mtu(srv, smallest);
}

/* ---- rescue (common/rescue.h) ------------------------------------------ */

struct rescue_ctx {
	struct server *srv;
	struct session *s;
	unsigned from;
};

/* Again on the fastest usable path that is not in doubt itself (to us or
 * to the client). */
static int rescue_send(void *ctx, uint8_t *pkt, size_t len)
{
	struct rescue_ctx *r = ctx;
	struct session *s = r->s;
	uint32_t exclude = 1u << r->from | s->avoid;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (s->paths[p].h.suspect || s->paths[p].h.state == HEALTH_DOWN)
			exclude |= 1u << p;
	int q = sched_fastest(&s->view, exclude);
	if (q < 0)
		return -1;
	struct spath *sp = &s->paths[q];
	pkt[0] = (uint8_t)q;
	if (sendto(r->srv->fd, pkt, len, MSG_DONTWAIT, &sp->addr.u.sa, sp->addr.len) < 0) {
		r->srv->drops.n[DROP_SEND_FAIL]++;
		return -1;
	}
	sp->tx_pkts++;
	sp->tx_bytes += len;
	s->paths[r->from].rescued++;
	return q;
}

/* The paths in `mask` of s have just come into doubt (the client avoids
 * them, or their probes stopped): what went on them alone lately goes
 * again elsewhere, for those that were clean (health_rescue_since). Sent at
 * once, not through srv->out, which may hold datagrams for a target. */
static void rescue_paths(struct server *srv, struct session *s, uint32_t mask)
{
	if (s->view_dirty)
		paths_view(s);
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		uint64_t since = health_rescue_since(&s->paths[p].h);
		struct rescue_ctx ctx = { srv, s, p };

		if (mask & 1u << p && since)
			rescue_take(&srv->rescue, s->id, p, since, rescue_send, &ctx);
	}
}

void paths_probe_in(struct server *srv, struct session *s, unsigned p,
		    const uint8_t *body, size_t len)
{
	struct mp_probe probe;
	struct spath *sp = &s->paths[p];

	if (wire_get_probe(body, len, &probe) || probe.path != p) {
		srv->drops.n[DROP_BAD_PROBE]++;
		return;
	}
	health_input(&sp->h, &probe, 0, srv->now_us, (uint32_t)sp->rx_pkts, (uint32_t)len);
	if (probe.avoid != s->avoid) {
		uint32_t newly = probe.avoid & ~s->avoid & s->known;
		s->avoid = probe.avoid;
		s->view_dirty = 1;
		if (newly)
			rescue_paths(srv, s, newly);
	}
	/* The client's path MTU sets the tun device's: a figure below what
	 * every path carries, or above a datagram, is not believed (it would
	 * shrink every client's packets to nothing). */
	uint16_t pmtu = probe.pmtu >= PMTU_FLOOR && probe.pmtu <= MP_MAX_DATAGRAM ? probe.pmtu : 0;
	if (pmtu != sp->pmtu) {
		sp->pmtu = pmtu;
		follow_mtu(srv);
	}
	send_ack(srv, s, p, probe.id, len > MP_MAX_PAYLOAD ? MP_PROBE_LEN : len);
	s->view_dirty = 1;
}

/* The paths for the replies, best tier first: healthy primaries, then
 * primaries the client finds overdue (or avoids, as its latest probe on
 * any path says), then what the client calls backup,
 * then anything not down, then every path heard from. Duplicate mode uses
 * every primary whatever its state (as in mpclient). */
static uint32_t usable_paths(const struct session *s, uint32_t *spare)
{
	int dup = s->sched.mode == SCHED_DUPLICATE;
	uint32_t tier[4] = { 0 };

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct health *h = &s->paths[p].h;
		int suspect = (h->suspect || (s->avoid >> p & 1)) && !dup;

		if (!(s->known & 1u << p))
			continue;
		if (dup && !(h->peer_state & MP_PROBE_BACKUP))
			tier[0] |= 1u << p;
		if (h->state == HEALTH_DOWN)
			continue;
		if (!(h->peer_state & MP_PROBE_BACKUP))
			tier[suspect ? 1 : 0] |= 1u << p;
		tier[suspect ? 3 : 2] |= 1u << p;
	}
	*spare = tier[1] | tier[0];
	for (unsigned t = 0; t < 4; t++)
		if (tier[t])
			return tier[t];
	return s->known;
}

static void run_script(struct server *srv, const struct session *s, unsigned p)
{
	char id[16], path[8], addr[NET_ADDRSTR];
	const struct spath *sp = &s->paths[p];
	const char *args[] = {
		health_state_name(sp->h.state), id, path, net_ntop(&sp->addr, addr),
		sp->h.reason, NULL,
	};

	snprintf(id, sizeof(id), "%08x", s->id);
	snprintf(path, sizeof(path), "%u", p);
	hook_run(&srv->hook, args);
}

void paths_tick(struct server *srv, struct session *s)
{
	char addr[NET_ADDRSTR];
	uint32_t newly = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		struct spath *sp = &s->paths[p];
		int suspect = sp->h.suspect;

		if (!(s->known & 1u << p))
			continue;
		if (health_eval(&sp->h, srv->now_us, 1)) {
			log_info("session %08x: path %u (%s) %s: %s", s->id, p,
				 net_ntop(&sp->addr, addr), health_state_name(sp->h.state),
				 sp->h.reason);
			run_script(srv, s, p);
			s->view_dirty = 1;
		}
		if (sp->h.suspect != suspect)
			s->view_dirty = 1;
		if (sp->h.suspect && !suspect && !(s->avoid >> p & 1))
			newly |= 1u << p;
	}
	if (newly)
		rescue_paths(srv, s, newly);
	if (s->view_dirty)
		paths_view(s);
}

void paths_view(struct session *s)
{
	struct sched_path in[MP_MAX_PATHS] = { 0 };
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct health *h = &s->paths[p].h;
		in[p].weight = s->weight[p];
		in[p].srtt_us = h->has_rtt ? h->srtt_us : 0;
		in[p].loss_ppm = h->send.ppm;
		in[p].cap_ppm = h->cap_ppm;
	}
	uint32_t spare, usable = usable_paths(s, &spare);
	sched_view_build(&s->view, &s->sched, usable, spare, in);
	s->view_dirty = 0;
	if (s->srv->o.common.reorder_ms == CLI_REORDER_AUTO) {
		uint32_t srtt[MP_MAX_PATHS], rttvar[MP_MAX_PATHS];
		unsigned n = 0;
		for (unsigned p = 0; p < MP_MAX_PATHS; p++)
			if (s->view.usable & 1u << p && s->paths[p].h.has_rtt) {
				srtt[n] = s->paths[p].h.srtt_us;
				rttvar[n++] = s->paths[p].h.rttvar_us;
			}
		s->hold_us = reorder_auto_hold_us(srtt, rttvar, n);
	}
}
