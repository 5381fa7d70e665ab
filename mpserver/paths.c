/* mpserver's side of path health. Passive: it answers each PROBE at once
 * on the path it came by (an ACK with the same fields, common/health.h),
 * measures RTT and loss from what the probes echo, and derives each path's
 * state from the client's view (carried in every probe) and its own ears
 * (probes that stop coming). What a path in doubt carried alone goes again
 * elsewhere (the engine's rescue); the client's path MTU sets the tun
 * device's. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "pmtu.h"

/* An ACK, padded to the PROBE's length when the PROBE was padded (path
 * MTU discovery: the answer must show that the size went both ways, so it
 * goes with DF like the PROBE). */
static void send_ack(struct server *srv, struct session *s, unsigned p, uint32_t id,
		     size_t plen)
{
	uint8_t *pkt = srv->ack_buf;
	struct flow_path *fp = &s->f.path[p];
	struct mp_probe body;

	health_fill(&fp->h, &body, 1, (uint8_t)p, srv->e.now_us, 0,
		    (uint32_t)(fp->tx_pkts + 1));
	body.id = id;
	body.state = health_state_byte(&fp->h, 0);
	flow_fill_probe(&s->f, p, &body);
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	memset(pkt + MP_HDR_LEN + MP_PROBE_LEN, 0, plen - MP_PROBE_LEN);
	size_t len = send_seal(&s->f, pkt, plen, MP_T_ACK);
	if (len)
		send_now(&s->f, p, pkt, len, plen > MP_PROBE_LEN);
}

/* Tun mode: the device's MTU follows the smallest path MTU the clients
 * have found, over the paths that are not down. */
static void follow_mtu(struct server *srv)
{
	struct mtu_min m = { 0 };
	const struct session *s;

	if (srv->tun.fd < 0)
		return;
	list_for_each(s, &srv->sessions, struct session, link)
		for (unsigned p = 0; p < MP_MAX_PATHS; p++)
			if (s->f.known & 1u << p && s->f.path[p].h.state != HEALTH_DOWN)
				engine_mtu_consider(&m, s->paths[p].pmtu,
						    s->paths[p].addr.u.sa.sa_family);
	engine_mtu_apply(&srv->e, &m);
}

void paths_probe_in(struct server *srv, struct session *s, unsigned p,
		    const uint8_t *body, size_t len)
{
	struct mp_probe probe;
	struct spath *sp = &s->paths[p];
	struct flow *f = &s->f;

	if (wire_get_probe(body, len, &probe) || probe.path != p) {
		srv->e.drops.n[DROP_BAD_PROBE]++;
		return;
	}
	health_input(&f->path[p].h, &probe, 0, srv->e.now_us, (uint32_t)f->path[p].rx_pkts,
		     (uint32_t)len);
	/* The client's mode and its cap for what we send on this path. */
	if (probe.mode)
		flow_follow_mode(f, (enum sched_mode)(probe.mode - 1));
	rate_set_cap(&f->path[p].est, probe.cap_kbps * 1000ull);
	flow_feedback(f, p, &probe);
	if (probe.avoid != f->peer_avoid) {
		uint32_t newly = probe.avoid & ~f->peer_avoid & f->known;
		f->peer_avoid = probe.avoid;
		f->view_dirty = 1;
		if (newly)
			send_rescue(f, newly);
	}
	/* The client's path MTU sets the tun device's: a figure below what
	 * every path carries, or above a datagram, is not believed (it would
	 * shrink every client's packets to nothing). */
	uint16_t pmtu = probe.pmtu >= PMTU_FLOOR && probe.pmtu <= MP_MAX_DATAGRAM ? probe.pmtu : 0;
	if (pmtu != sp->pmtu) {
		sp->pmtu = pmtu;
		sp->link.pmtu = pmtu;
		follow_mtu(srv);
	}
	send_ack(srv, s, p, probe.id, wire_ack_len(len));
	f->view_dirty = 1;
}

static void run_script(struct server *srv, const struct session *s, unsigned p)
{
	char id[16], path[8], addr[NET_ADDRSTR];
	const struct health *h = &s->f.path[p].h;
	const char *args[] = {
		health_state_name(h->state), id, path, net_ntop(&s->paths[p].addr, addr),
		h->reason, NULL,
	};

	snprintf(id, sizeof(id), "%08x", s->f.id);
	snprintf(path, sizeof(path), "%u", p);
	hook_run(&srv->e.hook, args);
}

void paths_tick(struct server *srv, struct session *s)
{
	char addr[NET_ADDRSTR];
	struct flow *f = &s->f;
	uint32_t newly = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		struct health *h = &f->path[p].h;
		int suspect = h->suspect;

		if (!(f->known & 1u << p))
			continue;
		if (health_eval(h, srv->e.now_us, 1)) {
			log_net(LOG_INFO, "session %08x: path %u (%s) %s: %s", f->id, p,
				net_ntop(&s->paths[p].addr, addr), health_state_name(h->state),
				h->reason);
			run_script(srv, s, p);
			f->view_dirty = 1;
		}
		if (h->suspect != suspect)
			f->view_dirty = 1;
		if (h->suspect && !suspect && !(f->peer_avoid >> p & 1))
			newly |= 1u << p;
	}
	if (newly)
		send_rescue(f, newly);
	if (f->view_dirty)
		flow_view(f);
	recover_tick(f);
}
