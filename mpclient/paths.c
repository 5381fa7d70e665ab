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
	return c->now_ms - s->last_active_ms < BUSY_MS;
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

/* Paths this session avoids now (suspect or down): every probe tells
 * mpserver, so that it stops replying on a path that died as soon as any
 * path carries the news, not only after its own silence timeout. */
static uint32_t avoided(const struct client *c, const struct session *s)
{
	uint32_t mask = 0;

	for (unsigned p = 0; p < c->npaths; p++)
		if (s->sp[p].h.suspect || s->sp[p].h.state == HEALTH_DOWN)
			mask |= 1u << p;
	return mask;
}

static void send_probe(struct client *c, struct session *s, unsigned p, uint32_t every_us)
{
	uint8_t pkt[MP_HDR_LEN + MP_PROBE_LEN + MP_MAX_TRAILER];
	struct session_path *sp = &s->sp[p];
	struct mp_probe body;

	health_fill(&sp->h, &body, 0, (uint8_t)p, c->now_us, every_us,
		    (uint32_t)(sp->tx_pkts + 1));
	body.state = health_state_byte(&sp->h, c->paths[p].backup);
	body.avoid = (uint16_t)avoided(c, s);
	body.pmtu = (uint16_t)c->paths[p].pmtu_reported;
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	size_t len = client_seal(c, s, pkt, MP_PROBE_LEN, MP_T_PROBE);
	if (!len)
		return;
	pkt[0] = (uint8_t)p;
	client_send_on(c, p, pkt, len);
	pace_spend(&c->paths[p].pace, len);
	c->paths[p].st.probes++;
	sp->tx_pkts++;
	sp->tx_bytes += len;
}

/* Each path alone: in duplicate mode the slower paths deliver only second
 * copies, and mpserver learns or moves a path only on a packet its window
 * accepts (a replay cannot steal one), so a packet carried by one path
 * alone also makes every path known to mpserver within one probe. */
static void paths_probe(struct client *c, struct session *s)
{
	uint32_t every_us = interval_us(c, s);

	if (c->key && s->keying != KEYS_READY)
		return;
	for (unsigned p = 0; p < c->npaths; p++)
		if (health_probe_due(&s->sp[p].h, c->now_us, every_us))
			send_probe(c, s, p, every_us);
}

/* ---- path MTU (common/pmtu.c) ------------------------------------------ */

static size_t trailer_len(const struct client *c)
{
	return c->key ? MP_TAG_LEN : MP_CRC_LEN;
}

/* A PROBE padded to `size` bytes of UDP payload, with DF. It is not one of
 * the health probes (id 0: no timeout counts against the path when it is
 * too big); mpserver answers it with an ACK of the same size, so an answer
 * means the size went both ways. */
static void send_pmtu_probe(struct client *c, struct session *s, unsigned p, unsigned size)
{
	uint8_t *pkt = c->pmtu_buf;
	struct session_path *sp = &s->sp[p];
	size_t plen = size - MP_HDR_LEN - trailer_len(c);
	struct mp_probe body;

	health_fill(&sp->h, &body, 1, (uint8_t)p, c->now_us, c->o.probe_ms * 1000u,
		    (uint32_t)(sp->tx_pkts + 1));
	body.id = 0;
	body.state = health_state_byte(&sp->h, c->paths[p].backup);
	body.avoid = (uint16_t)avoided(c, s);
	wire_put_probe(pkt + MP_HDR_LEN, &body);
	memset(pkt + MP_HDR_LEN + MP_PROBE_LEN, 0, plen - MP_PROBE_LEN);
	size_t len = client_seal(c, s, pkt, plen, MP_T_PROBE);
	if (!len)
		return;
	pkt[0] = (uint8_t)p;
	if (net_send_df(c->paths[p].fd, pkt, len, NULL) == (ssize_t)len) {
		c->paths[p].st.tx_pkts++;
		c->paths[p].st.tx_bytes += len;
	} else {
		c->paths[p].st.tx_fail++;	/* EMSGSIZE: larger than the interface */
	}
	c->paths[p].st.probes++;
	sp->tx_pkts++;
	sp->tx_bytes += len;
}

/* One session at a time does it for the path (the first that ticks when
 * it is due), while it carries traffic and the path works for it. */
static void pmtu_tick(struct client *c, struct session *s)
{
	for (unsigned p = 0; p < c->npaths; p++) {
		const struct health *h = &s->sp[p].h;
		if (h->state == HEALTH_DOWN || !busy(c, s))
			continue;
		unsigned size = pmtu_next(&c->paths[p].pmtu, c->now_us, health_rto_us(h));
		if (size > MP_HDR_LEN + MP_PROBE_LEN + trailer_len(c))
			send_pmtu_probe(c, s, p, size);
	}
}

void paths_ack(struct client *c, struct session *s, unsigned p, const uint8_t *body,
	       size_t len)
{
	struct mp_probe ack;

	if (wire_get_probe(body, len, &ack) || ack.path != p) {
		c->drops.n[DROP_BAD_PROBE]++;
		return;
	}
	if (ack.echo_len > MP_PROBE_LEN) {
		size_t both = ack.echo_len < len ? ack.echo_len : len;
		pmtu_answered(&c->paths[p].pmtu,
			      (unsigned)(MP_HDR_LEN + both + trailer_len(c)), c->now_us);
	}
	c->paths[p].st.acks++;
	health_input(&s->sp[p].h, &ack, 1, c->now_us, (uint32_t)s->sp[p].rx_pkts,
		     (uint32_t)len);
	s->view_dirty = 1;
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
		const struct health *h = &s->sp[p].h;
		if (h->has_rtt && h->state != HEALTH_DOWN && !c->paths[p].backup &&
		    h->srtt_us < best)
			best = h->srtt_us;
	}
	for (unsigned p = 0; p < c->npaths; p++) {
		struct health *h = &s->sp[p].h;
		uint64_t bound = c->o.cutoff_us ? c->o.cutoff_us : UINT64_MAX;

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

/* The paths to spread over, best tier first: healthy primaries; then
 * primaries whose answer is overdue; then backups (config or cut-off);
 * then anything not down; then everything (nothing is known to work, so
 * keep trying all). Copies may also go on the overdue primaries (spare). Duplicate mode uses every primary whatever its state:
 * a copy on a path that may be lossy, or not quite dead, is what it is
 * for; backups join only when every primary is down. */
static uint32_t usable_paths(const struct client *c, const struct session *s,
			     uint32_t *spare)
{
	int dup = s->sched.mode == SCHED_DUPLICATE;
	uint32_t tier[4] = { 0 };

	for (unsigned p = 0; p < c->npaths; p++) {
		const struct health *h = &s->sp[p].h;
		int backup = c->paths[p].backup || h->demoted;
		int suspect = h->suspect && !dup;

		if (dup && !backup)
			tier[0] |= 1u << p;
		if (h->state == HEALTH_DOWN)
			continue;
		if (!backup)
			tier[suspect ? 1 : 0] |= 1u << p;
		tier[suspect ? 3 : 2] |= 1u << p;
	}
	*spare = tier[1] | tier[0];
	for (unsigned t = 0; t < 4; t++)
		if (tier[t])
			return tier[t];
	return c->npaths >= 32 ? UINT32_MAX : (1u << c->npaths) - 1;
}

/* --reorder-ms auto: from the RTT spread of the paths in use (see
 * reorder_auto_hold_us). */
static uint64_t auto_hold(unsigned npaths, uint32_t usable, const struct session_path *sp)
{
	uint32_t srtt[MP_MAX_PATHS], rttvar[MP_MAX_PATHS];
	unsigned n = 0;

	for (unsigned p = 0; p < npaths; p++)
		if (usable & 1u << p && sp[p].h.has_rtt) {
			srtt[n] = sp[p].h.srtt_us;
			rttvar[n++] = sp[p].h.rttvar_us;
		}
	return reorder_auto_hold_us(srtt, rttvar, n);
}

void paths_view(struct client *c, struct session *s)
{
	struct sched_path in[MP_MAX_PATHS] = { 0 };

	for (unsigned p = 0; p < c->npaths; p++) {
		const struct health *h = &s->sp[p].h;
		in[p].weight = c->weight[p];
		in[p].srtt_us = h->has_rtt ? h->srtt_us : 0;
		in[p].loss_ppm = h->send.ppm;
		in[p].cap_ppm = h->cap_ppm;
	}
	uint32_t spare, usable = usable_paths(c, s, &spare);
	sched_view_build(&s->view, &s->sched, usable, spare, in);
	s->view_dirty = 0;
	if (c->o.common.reorder_ms == CLI_REORDER_AUTO)
		s->hold_us = auto_hold(c->npaths, s->view.usable, s->sp);
}

/* ---- rescue (common/rescue.h) ------------------------------------------ */

struct rescue_ctx {
	struct client *c;
	struct session *s;
	unsigned from;
};

/* Again on the fastest usable path that is neither in doubt itself nor
 * at its rate. */
static int rescue_send(void *ctx, uint8_t *pkt, size_t len)
{
	struct rescue_ctx *r = ctx;
	struct client *c = r->c;
	struct session *s = r->s;
	uint32_t exclude = 1u << r->from | avoided(c, s);

	for (unsigned p = 0; c->paced && p < c->npaths; p++)
		if (!pace_ready(&c->paths[p].pace, c->now_us))
			exclude |= 1u << p;
	int q = sched_fastest(&s->view, exclude);
	if (q < 0)
		return -1;
	pkt[0] = (uint8_t)q;
	client_send_on(c, (unsigned)q, pkt, len);
	pace_spend(&c->paths[q].pace, len);
	s->sp[q].tx_pkts++;
	s->sp[q].tx_bytes += len;
	c->paths[r->from].st.rescued++;
	return q;
}

/* Path p of s has just turned suspect: what went on it alone lately goes
 * again elsewhere, if the path was clean (health_rescue_since). */
static void rescue_path(struct client *c, struct session *s, unsigned p)
{
	uint64_t since = health_rescue_since(&s->sp[p].h);
	struct rescue_ctx ctx = { c, s, p };

	if (since)
		rescue_take(&c->rescue, s->id, p, since, rescue_send, &ctx);
}

void paths_tick(struct client *c, struct session *s)
{
	uint32_t avoid = avoided(c, s);
	uint32_t newly = 0;
	unsigned every_ms = busy(c, s) ? SWEEP_INTERVAL_MS * crowd(c) : IDLE_TICK_MS;

	s->next_tick_us = c->now_us + (every_ms > IDLE_TICK_MS ? IDLE_TICK_MS : every_ms) * 1000ull;
	if (c->key && s->keying != KEYS_READY)
		return;
	apply_cutoff(c, s);
	for (unsigned p = 0; p < c->npaths; p++) {
		struct health *h = &s->sp[p].h;
		int suspect = h->suspect;

		health_timeouts(h, c->now_us);
		if (health_eval(h, c->now_us, 0)) {
			log_debug("session %08x: path %s %s: %s", s->id, c->paths[p].name,
				  health_state_name(h->state), h->reason);
			s->view_dirty = 1;
			/* Newly lossy: maybe only the large datagrams go missing
			 * (the path's MTU shrank): check at once. */
			if (h->state == HEALTH_DEGRADED && !h->demoted)
				pmtu_recheck(&c->paths[p].pmtu, c->now_us);
		}
		if (h->suspect != suspect)
			s->view_dirty = 1;
		if (h->suspect && !suspect)
			newly |= 1u << p;
	}
	/* A path newly avoided (or back): tell mpserver now, on the others. */
	if (avoided(c, s) != avoid)
		for (unsigned p = 0; p < c->npaths; p++)
			s->sp[p].h.last_probe_us = 0;
	if (s->view_dirty)
		paths_view(c, s);
	for (unsigned p = 0; p < c->npaths; p++)
		if (newly & 1u << p)
			rescue_path(c, s, p);
	paths_probe(c, s);
	pmtu_tick(c, s);
}

static unsigned ip_udp(const struct path *path)
{
	return path->peer.u.sa.sa_family == AF_INET ? TUN_PATH_OVERHEAD_IP4
						     : TUN_PATH_OVERHEAD_IP6;
}

/* Tun mode: the device's MTU follows the smallest path MTU found among
 * the paths that are not down. */
static void follow_mtu(struct client *c)
{
	unsigned smallest = 0;

	for (unsigned p = 0; p < c->npaths; p++) {
		const struct path *path = &c->paths[p];
		unsigned mtu = path->pmtu_reported + ip_udp(path);
		if (path->state != HEALTH_DOWN && path->pmtu_reported &&
		    (!smallest || mtu < smallest))
			smallest = mtu;
	}
	if (smallest)
		tunnel_path_mtu(c, smallest);
}

static void run_script(struct client *c, const struct path *path, const char *why)
{
	char peer[NET_ADDRSTR];
	const char *args[] = {
		health_state_name(path->state), path->name, net_ntop(&path->peer, peer),
		why, NULL,
	};

	hook_run(&c->hook, args);
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

		list_for_each(s, &c->sessions, struct session, link) {
			const struct health *h = &s->sp[p].h;
			if (!busy(c, s) || (c->key && s->keying != KEYS_READY))
				continue;
			if (best == HEALTH_UNKNOWN || h->state < best) {
				best = h->state;
				why = h->reason;
			}
		}
		if (!pmtu_searching(&path->pmtu) &&
		    pmtu_value(&path->pmtu) != path->pmtu_reported) {
			path->pmtu_reported = pmtu_value(&path->pmtu);
			log_info("path %s: path MTU %u (datagrams up to %u bytes)", path->name,
				 path->pmtu_reported + ip_udp(path), path->pmtu_reported);
			follow_mtu(c);
		}
		if (best == HEALTH_UNKNOWN || best == path->state)
			continue;
		if (path->state != HEALTH_UNKNOWN || best != HEALTH_UP)
			log_info("path %s %s: %s", path->name, health_state_name(best),
				 why[0] ? why : "first answers");
		path->state = best;
		path->st.changes++;
		run_script(c, path, why);
		follow_mtu(c);
	}
	hook_reap(&c->hook);
}

/* ---- pacing (rate=) ------------------------------------------------------ */

static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct path *path = container_of(w, struct path, pace_timer);
	struct client *c = path->c;
	const uint8_t *pkt;
	size_t len;

	(void)revents;
	c->now_us = mono_us();
	while ((pkt = pace_next(&path->pace, c->now_us, &len)) &&
	       path->out.n < NET_SENDLIST_MAX)
		sendlist_add(&path->out, NULL, SENDLIST_NO_PATH, pkt, len);
	client_flush_paths(c);
	if (pace_waiting(&path->pace)) {
		ev_timer_set(w, pace_wait_us(&path->pace, c->now_us) / 1e6, 0);
		ev_timer_start(loop, w);
	}
}

void paths_open(struct client *c)
{
	unsigned link = c->o.tun.path_mtu ? c->o.tun.path_mtu : TUN_PATH_MTU_DEFAULT;

	for (unsigned p = 0; p < c->npaths; p++) {
		struct path *path = &c->paths[p];
		ev_timer_init(&path->pace_timer, on_pace, 0, 0);
		pmtu_init(&path->pmtu, link - ip_udp(path), c->now_us);
	}
}
