/* mpclient's path intelligence: probes each path of each session, takes in
 * the answers, decides each path's state (common/health.c), builds the
 * scheduler's view from it, and reports state changes once per path (log
 * and --path-script). mpclient is the active side: mpserver only answers
 * and follows the state each probe carries. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "tun.h"
#include "util.h"

static int busy(const struct client *c, const struct session *s)
{
	return c->e.now_ms - s->last_active_ms < BUSY_MS;
}

/* How many times slower than one session alone each session probes. */
static unsigned crowd(const struct client *c)
{
	return 1 + (c->nsessions ? c->nsessions - 1 : 0) / PROBE_FULL_RATE_SESSIONS;
}

static uint32_t interval_us(const struct client *c, const struct session *s)
{
	unsigned ms = c->o.probe_ms;

	if (!busy(c, s) && ms < PROBE_IDLE_MS)
		ms = PROBE_IDLE_MS;
	return ms * crowd(c) * 1000u;
}

/* What every probe says besides health: the delivery report, and the
 * client's mode and caps, which mpserver follows (docs/PROTOCOL.md). */
static void announce(const struct client *c, const struct session *s, unsigned p,
		     struct mp_probe *body)
{
	flow_fill_probe(&s->f, p, body);
	body->mode = (uint8_t)(c->o.common.mode + 1);
	body->cap_kbps = (uint32_t)(c->paths[p].cfg.down_bps / 1000);
}

static void send_probe(struct client *c, struct session *s, unsigned p, uint32_t every_us)
{
	uint8_t pkt[MP_HDR_LEN + MP_PROBE_LEN + MP_MAX_TRAILER];
	struct flow_path *fp = &s->f.path[p];
	struct mp_probe body;

	health_fill(&fp->h, &body, 0, (uint8_t)p, c->e.now_us, every_us,
		    (uint32_t)(fp->tx_pkts + 1));
	body.state = health_state_byte(&fp->h, c->paths[p].backup);
	body.avoid = (uint16_t)flow_avoided(&s->f);
	body.pmtu = (uint16_t)c->paths[p].link.pmtu;
	announce(c, s, p, &body);
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	size_t len = send_seal(&s->f, pkt, MP_PROBE_LEN, MP_T_PROBE);
	if (!len)
		return;
	send_now(&s->f, p, pkt, len, 0);
	c->paths[p].st.probes++;
}

/* Each path alone: in duplicate mode the slower paths deliver only second
 * copies, and mpserver learns or moves a path only on a packet its window
 * accepts (a replay cannot steal one), so a packet carried by one path
 * alone also makes every path known to mpserver within one probe. */
static void paths_probe(struct client *c, struct session *s)
{
	uint32_t every_us = interval_us(c, s);

	if (c->e.key && s->keying != KEYS_READY)
		return;
	for (unsigned p = 0; p < c->npaths; p++)
		if (s->f.known & 1u << p &&
		    health_probe_due(&s->f.path[p].h, c->e.now_us, every_us))
			send_probe(c, s, p, every_us);
}

/* ---- path MTU (common/pmtu.c) ------------------------------------------ */

static size_t trailer_len(const struct client *c)
{
	return c->e.key ? MP_TAG_LEN : MP_CRC_LEN;
}

/* A PROBE padded to `size` bytes of UDP payload, with DF. It is not one of
 * the health probes (id 0: no timeout counts against the path when it is
 * too big); mpserver answers it with an ACK of the same size, so an answer
 * means the size went both ways. */
static void send_pmtu_probe(struct client *c, struct session *s, unsigned p, unsigned size)
{
	uint8_t *pkt = c->pmtu_buf;
	struct flow_path *fp = &s->f.path[p];
	size_t plen = size - MP_HDR_LEN - trailer_len(c);
	struct mp_probe body;

	health_fill(&fp->h, &body, 1, (uint8_t)p, c->e.now_us, c->o.probe_ms * 1000u,
		    (uint32_t)(fp->tx_pkts + 1));
	body.id = 0;
	body.state = health_state_byte(&fp->h, c->paths[p].backup);
	body.avoid = (uint16_t)flow_avoided(&s->f);
	announce(c, s, p, &body);
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	memset(pkt + MP_HDR_LEN + MP_PROBE_LEN, 0, plen - MP_PROBE_LEN);
	size_t len = send_seal(&s->f, pkt, plen, MP_T_PROBE);
	if (!len)
		return;
	/* With DF: EMSGSIZE (larger than the interface) counts as refused. */
	send_now(&s->f, p, pkt, len, 1);
	c->paths[p].st.probes++;
}

/* One session at a time does it for the path (the first that ticks when
 * it is due), while it carries traffic and the path works for it. */
static void pmtu_tick(struct client *c, struct session *s)
{
	for (unsigned p = 0; p < c->npaths; p++) {
		const struct health *h = &s->f.path[p].h;
		if (!(s->f.known & 1u << p) || h->state == HEALTH_DOWN || !busy(c, s))
			continue;
		unsigned size = pmtu_next(&c->paths[p].pmtu, c->e.now_us, health_rto_us(h));
		if (size > MP_HDR_LEN + MP_PROBE_LEN + trailer_len(c))
			send_pmtu_probe(c, s, p, size);
	}
}

void paths_ack(struct client *c, struct session *s, unsigned p, const uint8_t *body,
	       size_t len)
{
	struct mp_probe ack;

	if (wire_get_probe(body, len, &ack) || ack.path != p) {
		c->e.drops.n[DROP_BAD_PROBE]++;
		return;
	}
	if (ack.echo_len > MP_PROBE_LEN) {
		size_t both = ack.echo_len < len ? ack.echo_len : len;
		pmtu_answered(&c->paths[p].pmtu,
			      (unsigned)(MP_HDR_LEN + both + trailer_len(c)), c->e.now_us);
	}
	c->paths[p].st.acks++;
	health_input(&s->f.path[p].h, &ack, 1, c->e.now_us, (uint32_t)s->f.path[p].rx_pkts,
		     (uint32_t)len);
	flow_feedback(&s->f, p, &ack);
	s->f.view_dirty = 1;
}

/* The latency cut-off: slower than the bound (absolute, or a multiple of
 * the fastest non-backup path's RTT), a path is demoted to backup; it is
 * promoted again below CUTOFF_LEAVE_PCT of the bound (hysteresis). */
static void apply_cutoff(struct client *c, struct session *s)
{
	uint32_t best = UINT32_MAX;

	if (!c->o.cutoff_us && !c->o.cutoff_pct)
		return;
	for (unsigned p = 0; p < c->npaths; p++) {
		const struct health *h = &s->f.path[p].h;
		if (s->f.known & 1u << p && h->has_rtt && h->state != HEALTH_DOWN &&
		    !c->paths[p].backup &&
		    h->srtt_us < best)
			best = h->srtt_us;
	}
	for (unsigned p = 0; p < c->npaths; p++) {
		struct health *h = &s->f.path[p].h;
		uint64_t bound = c->o.cutoff_us ? c->o.cutoff_us : UINT64_MAX;

		if (!(s->f.known & 1u << p))
			continue;
		if (c->o.cutoff_pct && best != UINT32_MAX &&
		    (uint64_t)best * c->o.cutoff_pct / 100 < bound)
			bound = (uint64_t)best * c->o.cutoff_pct / 100;
		if (!h->has_rtt || bound == UINT64_MAX)
			continue;
		if (!h->demoted && h->srtt_us > bound)
			h->demoted = 1;
		else if (h->demoted && h->srtt_us * 100ull < bound * CUTOFF_LEAVE_PCT)
			h->demoted = 0;
	}
}

void paths_tick(struct client *c, struct session *s)
{
	struct flow *f = &s->f;
	uint32_t avoid = flow_avoided(f);
	uint32_t newly = 0;
	unsigned every_ms = busy(c, s) ? CLIENT_TICK_MS * crowd(c) : IDLE_TICK_MS;

	s->next_tick_us = c->e.now_us +
			  (every_ms > IDLE_TICK_MS ? IDLE_TICK_MS : every_ms) * 1000ull;
	if (c->e.key && s->keying != KEYS_READY)
		return;
	apply_cutoff(c, s);
	for (unsigned p = 0; p < c->npaths; p++) {
		struct health *h = &f->path[p].h;
		int suspect = h->suspect;

		if (!(f->known & 1u << p))
			continue;	/* not open (uplink.c) */
		health_timeouts(h, c->e.now_us);
		if (health_eval(h, c->e.now_us, 0)) {
			log_debug("session %08x: path %s %s: %s", f->id, c->paths[p].name,
				  health_state_name(h->state), h->reason);
			f->view_dirty = 1;
			/* Newly lossy: maybe only the large datagrams go missing
			 * (the path's MTU shrank): check at once. */
			if (h->state == HEALTH_DEGRADED && !h->demoted)
				pmtu_recheck(&c->paths[p].pmtu, c->e.now_us);
		}
		if (h->suspect != suspect)
			f->view_dirty = 1;
		if (h->suspect && !suspect)
			newly |= 1u << p;
	}
	/* A path newly avoided (or back): tell mpserver now, on the others. */
	if (flow_avoided(f) != avoid)
		for (unsigned p = 0; p < c->npaths; p++)
			f->path[p].h.last_probe_us = 0;
	if (f->view_dirty)
		flow_view(f);
	if (newly)
		send_rescue(f, newly);
	recover_tick(f);
	paths_probe(c, s);
	pmtu_tick(c, s);
}

static unsigned ip_udp(const struct path *path)
{
	return path->link.family == AF_INET ? TUN_PATH_OVERHEAD_IP4 : TUN_PATH_OVERHEAD_IP6;
}

/* Tun mode: the device's MTU follows the smallest path MTU found among
 * the paths that are not down. */
static void follow_mtu(struct client *c)
{
	struct mtu_min m = { 0 };

	for (unsigned p = 0; p < c->npaths; p++)
		if (c->paths[p].open && c->paths[p].state != HEALTH_DOWN)
			engine_mtu_consider(&m, c->paths[p].link.pmtu, c->paths[p].link.family);
	engine_mtu_apply(&c->e, &m);
}

void paths_script(struct client *c, const struct path *path, const char *why)
{
	char peer[NET_ADDRSTR];
	const char *args[] = {
		health_state_name(path->state), path->name, net_ntop(&path->peer, peer),
		why, NULL,
	};

	hook_run(&c->e.hook, args);
}

/* A path's state is the best any busy session sees (a path that works for
 * one session works); with no busy session it stays as it was. */
void paths_aggregate(struct client *c)
{
	for (unsigned p = 0; p < c->npaths; p++) {
		struct path *path = &c->paths[p];
		enum health_state best = HEALTH_UNKNOWN;
		const char *why = "";
		const struct session *s;

		if (!path->open)
			continue;	/* down with its reason (uplink.c) */
		list_for_each(s, &c->sessions, struct session, link) {
			const struct health *h = &s->f.path[p].h;
			if (!busy(c, s) || (c->e.key && s->keying != KEYS_READY) ||
			    !(s->f.known & 1u << p))
				continue;
			if (best == HEALTH_UNKNOWN || h->state < best) {
				best = h->state;
				why = h->reason;
			}
		}
		if (!pmtu_searching(&path->pmtu) && pmtu_value(&path->pmtu) != path->link.pmtu) {
			path->link.pmtu = pmtu_value(&path->pmtu);
			log_info("path %s: path MTU %u (datagrams up to %u bytes)", path->name,
				 path->link.pmtu + ip_udp(path), path->link.pmtu);
			follow_mtu(c);
		}
		if (best == HEALTH_UNKNOWN || best == path->state)
			continue;
		if (path->state != HEALTH_UNKNOWN || best != HEALTH_UP)
			log_info("path %s %s: %s", path->name, health_state_name(best),
				 why[0] ? why : "first answers");
		path->state = best;
		path->st.changes++;
		paths_script(c, path, why);
		follow_mtu(c);
	}
	hook_reap(&c->e.hook);
}

void paths_reset(struct client *c, unsigned p)
{
	unsigned link = c->o.tun.path_mtu ? c->o.tun.path_mtu : TUN_PATH_MTU_DEFAULT;

	pmtu_init(&c->paths[p].pmtu, link - ip_udp(&c->paths[p]), c->e.now_us);
}
