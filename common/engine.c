/* The engine's setup and a flow's life: what both programs need before the
 * first datagram and after the last, and the scheduler's view of a flow's
 * paths, rebuilt when their health changes (never per datagram). The packet
 * path itself is send.c and receive.c. */
#include "engine.h"

#include <string.h>

#include "log.h"
#include "tun.h"
#include "util.h"

void engine_init(struct engine *e, struct ev_loop *loop, const struct cli_common *o,
		const struct crypto_master *key, const struct engine_ops *ops, void *ctx)
{
	memset(e, 0, sizeof(*e));
	e->loop = loop;
	e->o = o;
	e->key = key;
	e->ops = ops;
	e->ctx = ctx;
	e->local_fd = -1;
	engine_clock(e);
	hook_init(&e->hook, o->path_script);
	if (rescue_init(&e->rescue))
		log_warn("no memory to keep datagrams for rescue: running without");
}

int engine_critical(const struct engine *e, const uint8_t *payload, size_t plen)
{
	return plen <= e->o->small_bytes || (e->tun && tun_is_latency_critical(payload, plen));
}

void engine_free(struct engine *e)
{
	rescue_free(&e->rescue);
}

void engine_clock(struct engine *e)
{
	e->now_us = mono_us();
	e->now_ms = e->now_us / 1000;
}

void engine_add_out(struct engine *e, int fd, struct sendlist *list)
{
	if (e->nouts < ENGINE_OUTS_MAX)
		e->outs[e->nouts++] = (struct engine_out){ fd, list };
}

/* ---- flows ---------------------------------------------------------------- */

void flow_init(struct flow *f, struct engine *e, uint32_t id, uint32_t epoch)
{
	const struct cli_common *o = e->o;

	f->e = e;
	f->id = id;
	ratelimit_init(&f->crit, BOND_CRITICAL_PPS, BOND_CRITICAL_BURST, e->now_us / 1000);
	seq_tx_init(&f->tx, epoch);
	seq_tx_init(&f->ctl_tx, epoch);
	seq_rx_init(&f->rx);
	seq_rx_init(&f->ctl_rx);
	sched_init(&f->sched, o->mode);
	f->sched.copies = o->copies;
	f->sched.target_loss_ppm = o->target_loss_ppm;
	f->view_dirty = 1;
	f->local_fd = -1;
	f->ro_deadline_us = UINT64_MAX;
	f->rec.wake_us = UINT64_MAX;
	f->rec.credit = RECOVER_BUDGET_BURST;	/* the first losses come early */
	f->rec.steps = RECOVER_ADAPT_STEPS;	/* the wait starts at its bound */
	f->hold_auto = o->reorder_ms == CLI_REORDER_AUTO;
	if (o->reorder_ms)
		f->hold_us = o->reorder_ms > 0 ? o->reorder_ms * 1000ull : REORDER_AUTO_MIN_US;
}

void flow_free(struct flow *f)
{
	/* what still waits in a shared pacer goes with the flow */
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (f->known & 1u << p)
			pace_purge(&f->path[p].link->pace, &f->path[p]);
	if (f->rec.timer_ready)
		ev_timer_stop(f->e->loop, &f->rec.timer);
	if (f->par_tx.ready) {
		ev_timer_stop(f->e->loop, &f->par_timer);
		parity_tx_free(&f->par_tx);
		f->e->parity_tx_flows--;
	}
	if (f->par_rx) {
		parity_rx_free(f->par_rx);
		f->par_rx = NULL;
		f->e->parity_rx_flows--;
	}
	if (f->ro) {			/* its timer runs from when it is made */
		ev_timer_stop(f->e->loop, &f->ro_timer);
		f->e->reorder_grown_bytes -=
			(size_t)(reorder_slots(f->ro) - REORDER_SLOTS) * NET_STAGE_BYTES;
		reorder_free(f->ro);
		f->ro = NULL;
	}
	aead_free(&f->seal);
	aead_free(&f->open);
	aead_free(&f->seal_next);
	aead_free(&f->open_next);
	aead_free(&f->open_prev);
}

void flow_path_add(struct flow *f, unsigned p, struct link *link)
{
	struct flow_path *fp = &f->path[p];

	health_init(&fp->h, f->e->now_us);
	rate_init(&fp->est, link->pace.rate_bps, f->e->now_us);
	fp->link = link;
	if (!fp->weight)
		fp->weight = 1;
	f->known |= 1u << p;
	f->view_dirty = 1;
}

uint32_t flow_avoided(const struct flow *f)
{
	uint32_t mask = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (f->known & 1u << p &&
		    (f->path[p].h.suspect || f->path[p].h.state == HEALTH_DOWN))
			mask |= 1u << p;
	return mask;
}

/* The paths to spread over, best tier first: healthy primaries; then
 * primaries whose answer is overdue (or that the peer avoids); then
 * backups (configured, over the latency cut-off, or the peer's); then
 * anything not down; then every known path (nothing is known to work, so
 * keep trying all). Copies may also go on the overdue primaries (spare).
 * Duplicate mode uses every primary whatever its state: a copy on a path
 * that may be lossy, or not quite dead, is what it is for; backups join
 * only when every primary is down. Bond mode keeps an overdue primary in
 * the choice too: its expected arrival counts the doubt (health_owd_us),
 * so a path whose answer is late behind a queue we fill still carries its
 * share, and a dead one stops being chosen as the doubt grows. */
static uint32_t usable_paths(const struct flow *f, uint32_t *spare)
{
	int dup = f->sched.mode == SCHED_DUPLICATE, bond = f->sched.mode == SCHED_BOND;
	uint32_t tier[4] = { 0 };

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct flow_path *fp = &f->path[p];
		const struct health *h = &fp->h;
		int backup = fp->backup || h->demoted || (h->peer_state & MP_PROBE_BACKUP);
		int suspect = (h->suspect || (f->peer_avoid >> p & 1)) && !dup && !bond;

		if (!(f->known & 1u << p))
			continue;
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
	return f->known;
}

/* Loss recovery's clocks (recover.h), and --reorder-ms auto, from the
 * usable paths' RTTs: how much later than those numbered after it a
 * datagram may still come by another path (the RTT spread, see
 * reorder_auto_hold_us, and in bond mode the BOND_QUEUE_MAX_US the sender
 * keeps bulk past its bound before it drops, send.c), the wait before a
 * hole is asked for, and in bond mode with recovery two asks for a lost
 * one as well. */
static void view_times(struct flow *f)
{
	struct recover *r = &f->rec;
	uint32_t srtt[MP_MAX_PATHS], rttvar[MP_MAX_PATHS], var = 0;
	unsigned n = 0;
	int bond = f->sched.mode == SCHED_BOND;

	r->rtt_us = 0;			/* the fastest measured */
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct health *h = &f->path[p].h;
		if (!(f->view.usable & 1u << p && h->has_rtt))
			continue;
		srtt[n] = h->srtt_us;
		rttvar[n++] = h->rttvar_us;
		if (!r->rtt_us || h->srtt_us < r->rtt_us)
			r->rtt_us = h->srtt_us;
		if (h->rttvar_us > var)
			var = h->rttvar_us;
	}
	uint64_t late_us = reorder_auto_hold_us(srtt, rttvar, n) + (bond ? BOND_QUEUE_MAX_US : 0);
	uint64_t floor_us = 2 * (uint64_t)var + BOND_IDLE_FILL_US + RECOVER_WAIT_MIN_US;
	r->wait_ceil_us = late_us + RECOVER_WAIT_MIN_US;
	/* never above the bound, which REORDER_AUTO_MAX_US may have clamped */
	r->wait_floor_us = bond && floor_us < r->wait_ceil_us ? floor_us : r->wait_ceil_us;
	recover_wait(r);
	r->reask_us = 2 * r->rtt_us + RECOVER_REASK_MARGIN_US;
	if (!f->hold_auto)
		return;
	/* the hold covers the longest wait, whatever the wait is now */
	if (bond && f->e->o->recover)
		late_us += r->wait_ceil_us + RECOVER_HOLD_ASKS * r->reask_us;
	f->hold_us = late_us < REORDER_AUTO_MAX_US ? late_us : REORDER_AUTO_MAX_US;
}

void flow_view(struct flow *f)
{
	struct sched_path in[MP_MAX_PATHS] = { 0 };

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct health *h = &f->path[p].h;
		in[p].weight = f->path[p].weight;
		in[p].srtt_us = h->has_rtt ? h->srtt_us : 0;
		in[p].loss_ppm = h->send.ppm;
		in[p].cap_ppm = h->cap_ppm;
	}
	uint32_t spare, usable = usable_paths(f, &spare);
	sched_view_build(&f->view, &f->sched, usable, spare, in);
	f->view_dirty = 0;
	view_times(f);
}

void flow_fill_probe(const struct flow *f, unsigned p, struct mp_probe *body)
{
	const struct flow_path *fp = &f->path[p];

	/* as the pacer counts them: UDP payload and IP/UDP headers */
	body->rx_bytes = (uint32_t)(fp->rx_bytes + fp->rx_pkts * PACE_IP_UDP_BYTES);
}

/* Whether p is the lead: the usable path that earliest arrival fills
 * first, its RTT floor under two thirds of every other's and
 * BOND_LEAD_MARGIN_US under it (paths of about the same delay share the
 * bulk, and none leads: one open among them would take all of it, its
 * pacer never waiting). None while another's floor is not known yet. */
static int lead_path(const struct flow *f, unsigned p)
{
	uint64_t mine = f->path[p].h.min_rtt_us;

	if (!(f->view.usable & 1u << p) || !f->path[p].h.has_rtt)
		return 0;
	for (uint32_t m = f->view.usable & ~(1u << p); m; m &= m - 1) {
		const struct health *h = &f->path[__builtin_ctz(m)].h;
		if (!h->has_rtt || 2 * (uint64_t)h->min_rtt_us < 3 * mine ||
		    h->min_rtt_us < mine + BOND_LEAD_MARGIN_US)
			return 0;
	}
	return 1;
}

/* Bond mode paces every path at its estimate (within its cap); the lead
 * path starts open (rate.h). mpclient's links carry all its sessions: the
 * last estimate wins (one session is the common case; see
 * docs/PROTOCOL.md, "Capacity"). */
static void pace_path(struct flow *f, unsigned p)
{
	struct link *l = f->path[p].link;

	if (f->view_dirty)
		flow_view(f);
	rate_set_lead(&f->path[p].est, lead_path(f, p));
	uint64_t bps = rate_pacing_bps(&f->path[p].est);

	if (bps != l->pace.rate_bps && !pace_set_rate(&l->pace, bps, f->e->now_us))
		f->e->paced = 1;
}

void flow_feedback(struct flow *f, unsigned p, const struct mp_probe *body)
{
	struct engine *e = f->e;
	struct flow_path *fp = &f->path[p];
	const struct health *h = &fp->h;
	int busy = rate_busy(&fp->est, e->now_us - fp->link->waited_us < RATE_BUSY_US,
			     fp->link->pace.sent_bytes, e->now_us);

	uint64_t cuts = fp->est.cuts;
	enum rate_phase phase = fp->est.phase;
	fp->est.loss_ppm = h->send.ppm;
	rate_report(&fp->est, body->rx_bytes, body->ts_us, e->now_us, busy,
		    health_out_rtt_us(h), h->min_rtt_us, h->srtt_us);
	/* What a peer's reports change is logged through log_net: a peer
	 * must not be able to flood the log. */
	if (fp->est.phase != phase)
		log_net(LOG_DEBUG, "session %08x: path %u capacity %s %llu bit/s", f->id, p,
			fp->est.phase == RATE_CRUISE ? "found:" : "searched again from",
			(unsigned long long)fp->est.bw_bps);
	if (fp->est.cuts != cuts)
		log_net(LOG_DEBUG, "session %08x: path %u capacity cut to %llu bit/s (delay "
			"%u us, floor %u)", f->id, p, (unsigned long long)fp->est.bw_bps,
			health_out_rtt_us(h), h->min_rtt_us);
	if (f->sched.mode == SCHED_BOND)
		pace_path(f, p);
}

void flow_follow_mode(struct flow *f, enum sched_mode mode)
{
	const struct cli_common *o = f->e->o;

	if (o->mode_set || mode == f->sched.mode || mode >= SCHED_MODE_COUNT)
		return;
	f->sched.mode = mode;
	f->view_dirty = 1;
	if (!o->reorder_set) {
		f->hold_auto = mode != SCHED_DUPLICATE;
		f->hold_us = f->hold_auto ? REORDER_AUTO_MIN_US : 0;
	}
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (mode == SCHED_BOND && f->known & 1u << p)
			pace_path(f, p);
}

/* ---- path MTU following (tun mode) ---------------------------------------- */

void engine_mtu_consider(struct mtu_min *m, unsigned payload_bytes, int family)
{
	unsigned mtu = payload_bytes +
		       (family == AF_INET ? TUN_PATH_OVERHEAD_IP4 : TUN_PATH_OVERHEAD_IP6);

	if (payload_bytes && (!m->smallest || mtu < m->smallest))
		m->smallest = mtu;
}

void engine_mtu_apply(struct engine *e, const struct mtu_min *m)
{
	if (!m->smallest || !e->ops->path_mtu || m->smallest == e->pmtu_reported)
		return;
	e->pmtu_reported = m->smallest;
	e->ops->path_mtu(e->ctx, m->smallest);
}

int flow_cheapest(struct flow *f, uint32_t exclude, flow_path_cost *cost, const void *ctx)
{
	int best = -1;
	uint64_t best_t = UINT64_MAX;

	for (int pass = 0; pass < 2 && best < 0; pass++)
		for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
			if (!(f->view.usable & 1u << p) || (exclude >> p & 1 && !pass))
				continue;
			uint64_t t = cost(f, p, ctx);
			if (t < best_t)
				best_t = t, best = (int)p;
		}
	return best;
}
