/* Loss recovery (recover.h): the receiver's NACKs, the sender's resends. */
#include "engine.h"

#include <string.h>

#include "util.h"

static int recovering(const struct flow *f)
{
	return f->sched.mode == SCHED_BOND && f->e->o->recover;
}

/* ---- the receiver ---------------------------------------------------------- */

/* Forgets seq among the holes asked for lately: 1 if it was there. */
static int forget_asked(struct recover *r, uint64_t seq)
{
	uint64_t *slot = &r->asked_seq[seq % RECOVER_ASKED_SLOTS];

	if (*slot != seq)
		return 0;
	*slot = 0;
	return 1;
}

void recover_heard(struct flow *f, unsigned p, uint64_t seq, int critical)
{
	struct recover *r = &f->rec;

	/* filled by parity: a resend of it coming too says nothing of the
	 * paths' lateness */
	if (p >= MP_MAX_PATHS) {
		forget_asked(r, seq);
		return;
	}
	/* latency-critical datagrams pass bulk in the sender's pacers: only
	 * bulk keeps a path's order */
	if (critical)
		return;
	if (seq > r->top[p])
		r->top[p] = seq;
	r->heard_us[p] = f->e->now_us;
}

void recover_wait(struct recover *r)
{
	uint64_t span = r->wait_ceil_us > r->wait_floor_us ? r->wait_ceil_us - r->wait_floor_us : 0;

	r->wait_us = r->wait_floor_us + span * r->steps / RECOVER_ADAPT_STEPS;
}

void recover_twice(struct flow *f, uint64_t seq)
{
	struct recover *r = &f->rec;

	if (!forget_asked(r, seq))
		return;
	r->st.asked_in_vain++;
	r->clean = 0;
	r->steps = r->steps + RECOVER_ADAPT_UP < RECOVER_ADAPT_STEPS ? r->steps + RECOVER_ADAPT_UP
								     : RECOVER_ADAPT_STEPS;
	recover_wait(r);
}

/* A hole asked for: kept, to know a second copy of it; every
 * RECOVER_ADAPT_ASKS of them with none twice, the wait comes down half
 * of the way to its floor. */
static void asked(struct recover *r, uint64_t seq)
{
	r->st.asked++;
	r->asked_seq[seq % RECOVER_ASKED_SLOTS] = seq;
	if (++r->clean < RECOVER_ADAPT_ASKS)
		return;
	r->clean = 0;
	r->steps /= 2;
	recover_wait(r);
}

/* Every path that delivered bulk within RECOVER_ACTIVE_US has delivered
 * bulk numbered at least this (0: none did). O(paths). */
static uint64_t passed_by_all(const struct flow *f)
{
	const struct recover *r = &f->rec;
	uint64_t now = f->e->now_us, below = UINT64_MAX;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (r->heard_us[p] && now - r->heard_us[p] < RECOVER_ACTIVE_US && r->top[p] < below)
			below = r->top[p];
	return below == UINT64_MAX ? 0 : below;
}

/* Holes below the returned seq are lost: every path that delivered bulk
 * within RECOVER_ACTIVE_US has delivered bulk numbered after them, or
 * something after them has waited f->rec.wait_us. *wake: when the second
 * rule will say more. */
static uint64_t lost_below(const struct flow *f, uint64_t *wake)
{
	uint64_t now = f->e->now_us, below = passed_by_all(f), later;
	uint64_t wait = f->rec.wait_us;
	uint64_t waited = reorder_waited(f->ro, now - wait, &later);
	if (waited > below)
		below = waited;
	if (later != UINT64_MAX && later + wait < *wake)
		*wake = later + wait;
	return below;
}

/* Expected delivery on path p now: its one-way delay, what waits ahead in
 * its pacer's latency-critical queue, and for a path that loses, the round
 * trips of the resends it would take. */
static uint64_t delivery_us(struct flow *f, unsigned p, const void *ctx)
{
	const struct health *h = &f->path[p].h;
	uint64_t t = health_owd_us(h, f->e->now_us) +
		     pace_backlog_us(&f->path[p].link->pace, f->e->now_us, 1);
	uint64_t loss = h->send.ppm < 900000 ? h->send.ppm : 900000;

	(void)ctx;
	return t + (h->srtt_us + f->rec.wait_us) * loss / (1000000 - loss);
}

/* One NACK, on the path expected to deliver it first (a lost one is
 * covered by the next ask). */
static void send_nack(struct flow *f, const struct mp_nack *n)
{
	uint8_t pkt[MP_HDR_LEN + MP_NACK_MAX_LEN + MP_MAX_TRAILER];
	size_t plen = wire_put_nack(pkt + MP_HDR_LEN, n);
	int q = flow_cheapest(f, 0, delivery_us, NULL);

	if (q < 0)
		return;
	size_t len = send_seal(f, pkt, plen, MP_T_RECOVER);
	if (!len)
		return;
	send_now(f, (unsigned)q, pkt, len, 0);
	f->path[q].link->st.recovery_bytes += len;
	f->rec.st.nacks_tx++;
}

/* Asks for every hole in [from, below). */
static void ask(struct flow *f, uint64_t from, uint64_t below)
{
	struct mp_nack n;

	while (from < below) {
		memset(n.map, 0, sizeof(n.map));
		n.bits = reorder_missing(f->ro, from, below, n.map, MP_NACK_MAX_BITS, &n.base);
		if (!n.bits)
			break;
		for (unsigned i = 0; i < n.bits; i++)
			if (n.map[i / 8] >> (i % 8) & 1)
				asked(&f->rec, n.base + i);
		send_nack(f, &n);
		from = n.base + n.bits;
	}
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct flow *f = container_of(w, struct flow, rec.timer);

	(void)loop;
	(void)revents;
	engine_clock(f->e);
	f->rec.wake_us = UINT64_MAX;
	recover_check(f);
	send_flush(f->e);
}

static void arm(struct flow *f, uint64_t wake_us)
{
	struct recover *r = &f->rec;
	struct engine *e = f->e;

	if (wake_us == r->wake_us)
		return;
	if (!r->timer_ready) {
		ev_timer_init(&r->timer, timer_cb, 0, 0);
		r->timer_ready = 1;
	}
	r->wake_us = wake_us;
	ev_timer_stop(e->loop, &r->timer);
	if (wake_us == UINT64_MAX)
		return;
	ev_timer_set(&r->timer, wake_us > e->now_us ? (wake_us - e->now_us) / 1e6 : 0, 0);
	ev_timer_start(e->loop, &r->timer);
}

void recover_check(struct flow *f)
{
	struct recover *r = &f->rec;
	uint64_t now = f->e->now_us, wake = UINT64_MAX;

	if (!recovering(f) || !f->ro || !reorder_held(f->ro)) {
		arm(f, UINT64_MAX);
		return;
	}
	/* Between whole checks (at most one per RECOVER_NACK_GAP_US: the
	 * quiet-path rule scans what waits) only the paths' order is looked
	 * at, for each datagram; the timer brings the next whole check. */
	if (now - r->checked_us < RECOVER_NACK_GAP_US &&
	    !(passed_by_all(f) > r->asked_hi + 1 && now - r->nack_us >= RECOVER_NACK_GAP_US)) {
		if (r->wake_us > r->checked_us + RECOVER_NACK_GAP_US)
			arm(f, r->checked_us + RECOVER_NACK_GAP_US);
		return;
	}
	r->checked_us = now;
	if (f->view_dirty)
		flow_view(f);
	uint64_t next = reorder_next(f->ro);
	if (r->asked_hi < next - 1)
		r->asked_hi = next - 1;		/* filled, or given up */
	uint64_t below = lost_below(f, &wake);
	int nack_due = now - r->nack_us >= RECOVER_NACK_GAP_US;
	if (below > r->asked_hi + 1) {
		if (nack_due) {
			if (r->asked_hi < next)	/* none outstanding: these set the clock */
				r->asked_us = now;
			ask(f, r->asked_hi + 1, below);
			r->asked_hi = below - 1;
			r->nack_us = now;
			nack_due = 0;
		} else if (r->nack_us + RECOVER_NACK_GAP_US < wake) {
			wake = r->nack_us + RECOVER_NACK_GAP_US;
		}
	}
	if (r->asked_hi >= next) {
		uint64_t again = r->asked_us + f->rec.reask_us;
		if (now >= again && nack_due) {
			ask(f, next, r->asked_hi + 1);
			r->asked_us = r->nack_us = now;
			again = now + f->rec.reask_us;
		}
		if (again < wake)
			wake = again;
	}
	arm(f, wake);
}

/* ---- the sender ------------------------------------------------------------- */

struct resend_ctx {
	struct flow *f;
	int over_budget;
};

static int resend_one(void *ctx, unsigned from, uint8_t *pkt, size_t len)
{
	struct resend_ctx *c = ctx;
	struct flow *f = c->f;
	struct recover *r = &f->rec;

	if (r->credit < len) {
		c->over_budget = 1;
		return -1;
	}
	/* not on the path that lost it, unless there is no other */
	int best = flow_cheapest(f, 1u << from, delivery_us, NULL);
	if (best < 0 || send_again(f, (unsigned)best, pkt, len))
		return -1;
	r->credit -= len;
	r->st.resent++;
	r->st.resent_bytes += len;
	f->path[best].link->st.resent++;
	f->path[best].link->st.recovery_bytes += len;
	return best;
}

/* The budget grows by RECOVER_BUDGET_PCT of what the flow sent since,
 * up to RECOVER_BUDGET_BURST. */
static void top_up(struct flow *f)
{
	struct recover *r = &f->rec;
	uint64_t earned = (f->sent_bytes - r->credited_sent) * RECOVER_BUDGET_PCT / 100;

	r->credited_sent = f->sent_bytes;
	r->credit = r->credit + earned > RECOVER_BUDGET_BURST ? RECOVER_BUDGET_BURST
							       : r->credit + earned;
}

static void nack_input(struct flow *f, const struct mp_nack *n)
{
	struct engine *e = f->e;
	struct recover *r = &f->rec;
	struct resend_ctx ctx = { f, 0 };
	/* a copy resent less than a round trip ago may still be on its way */
	uint64_t recent = f->rec.rtt_us;

	top_up(f);
	if (f->view_dirty)
		flow_view(f);
	for (unsigned i = 0; i < n->bits; i++) {
		if (!(n->map[i / 8] >> (i % 8) & 1))
			continue;
		uint64_t seq = n->base + i;
		if (ctx.over_budget) {
			r->st.over_budget++;
			continue;
		}
		switch (rescue_resend(&e->rescue, f->id, seq, RECOVER_RESENDS_MAX,
				      e->now_us - recent, e->now_us, resend_one, &ctx)) {
		case RESCUE_RESENT:
		case RESCUE_RECENT:
			break;
		case RESCUE_NOT_KEPT:
			r->st.not_kept++;
			break;
		case RESCUE_SPENT:
			r->st.spent++;
			break;
		case RESCUE_NO_PATH:
			r->st.over_budget += ctx.over_budget;
			break;
		}
	}
}

void recover_tick(struct flow *f)
{
	struct recover *r = &f->rec;
	struct engine *e = f->e;

	if (!recovering(f))
		return;
	if (f->sent_pkts != r->tail_pkts) {
		r->tail_pkts = f->sent_pkts;
		r->tail_us = e->now_us;
		return;
	}
	if (r->tail_probed == f->sent_pkts || e->now_us - r->tail_us < RECOVER_TAIL_US)
		return;
	r->tail_probed = f->sent_pkts;
	struct resend_ctx ctx = { f, 0 };
	top_up(f);
	if (f->view_dirty)
		flow_view(f);
	/* the last numbered, if it went on one path alone (kept) */
	if (rescue_resend(&e->rescue, f->id, f->tx.next - 1, RECOVER_RESENDS_MAX,
			  e->now_us - f->rec.rtt_us, e->now_us, resend_one, &ctx) == RESCUE_RESENT)
		r->st.tail_probes++;
}

void recover_input(struct flow *f, unsigned p, const uint8_t *body, size_t len)
{
	struct mp_nack n;

	(void)p;
	if (wire_get_nack(body, len, &n)) {
		f->rec.st.bad_nack++;
		f->e->drops.n[DROP_BAD_RECOVER]++;
		return;
	}
	f->rec.st.nacks_rx++;
	if (recovering(f))
		nack_input(f, &n);
}
