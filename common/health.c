/* Path health estimators and the path state machine. Pure computation on
 * timestamps and counters handed in by the caller: no sockets, no clock of
 * its own, so every rule here is unit-tested with made-up times.
 *
 * RTT: RFC 6298 (srtt, rttvar, RTO), sampled from the echo of our own
 * timestamp minus the time the peer held it. Loss: each PROBE/ACK carries
 * the sender's cumulative packet count on the path and echoes the peer's,
 * with the receiver's count at arrival; the difference of two such pairs is
 * what was sent and what arrived in between, data and probes alike. */
#include "health.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {
	[HEALTH_UNKNOWN] = "unknown",
	[HEALTH_UP] = "up",
	[HEALTH_DEGRADED] = "degraded",
	[HEALTH_DOWN] = "down",
};

const char *health_state_name(enum health_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

void health_init(struct health *h, uint64_t now_us)
{
	memset(h, 0, sizeof(*h));
	/* Optimistic: a configured path is used until it fails to answer. */
	h->state = HEALTH_UP;
	h->next_id = 1;
	h->check_id = 1;
	h->good_needed = HEALTH_GOOD_MIN;
	h->cap_ppm = 1000000;
	(void)now_us;
}

uint64_t health_srtt_owd_us(const struct health *h)
{
	return (h->has_rtt ? h->srtt_us : SCHED_RTT_UNKNOWN_US) / 2;
}

uint64_t health_owd_us(const struct health *h, uint64_t now_us)
{
	uint64_t owd = health_srtt_owd_us(h);

	if (!h->suspect)
		return owd;
	/* Overdue: the round trip is at least the RTO it missed and the
	 * time since; the way back is taken as usual. */
	uint64_t late = health_rto_us(h) + (now_us - h->suspect_since_us);
	return late > 2 * owd ? late - owd : owd;
}

uint32_t health_rto_us(const struct health *h)
{
	uint64_t rto;

	if (!h->has_rtt)
		return HEALTH_RTO_INITIAL_US;
	rto = (uint64_t)h->srtt_us + 4 * (uint64_t)h->rttvar_us;
	if (rto < HEALTH_RTO_MIN_US)
		rto = HEALTH_RTO_MIN_US;
	if (rto > HEALTH_RTO_MAX_US)
		rto = HEALTH_RTO_MAX_US;
	return (uint32_t)rto;
}

/* Fewest losses in a row that the path's own loss rate explains less than
 * once in 10,000 exchanges: p^k < 1e-4 with p the chance that a probe or
 * its answer is lost. A clean path: 2; 10 % each way: 6; 30 %: 12. */
unsigned health_down_after(const struct health *h)
{
	double ok = (1 - h->send.ppm / 1e6) * (1 - h->recv.ppm / 1e6);
	double p = 1 - ok;
	unsigned k;

	if (p <= 0.001)
		return HEALTH_DOWN_AFTER_MIN;
	if (p >= 0.46)		/* 0.46^12 ~ 1e-4: beyond, the cap anyway */
		return HEALTH_DOWN_AFTER_MAX;
	k = (unsigned)ceil(log(1e-4) / log(p));
	if (k < HEALTH_DOWN_AFTER_MIN)
		k = HEALTH_DOWN_AFTER_MIN;
	return k > HEALTH_DOWN_AFTER_MAX ? HEALTH_DOWN_AFTER_MAX : k;
}

int health_probe_due(const struct health *h, uint64_t now_us, uint32_t interval_us)
{
	if (now_us - h->last_probe_us >= interval_us)
		return 1;
	/* A timeout asks at once whether the path is really gone: the second
	 * loss in a row (down) is then one RTO later, not one interval. */
	return h->lost_streak && h->check_id == h->next_id;
}

static uint32_t ts32(uint64_t now_us)
{
	uint32_t ts = (uint32_t)now_us;

	return ts ? ts : 1;	/* 0 means "none" on the wire */
}

static void set_suspect(struct health *h, int on, uint64_t now_us)
{
	if (on && !h->suspect)
		h->suspect_since_us = now_us;
	h->suspect = on;
}

static void lose(struct health *h, uint64_t now_us)
{
	h->check_id++;
	h->lost++;
	h->lost_streak++;
	set_suspect(h, 1, now_us);
	/* On the way back up, the path's ordinary loss does not reset the
	 * answers counted so far: only a run that would call it down does. */
	if (h->state != HEALTH_DOWN || h->lost_streak >= health_down_after(h))
		h->good_streak = 0;
}

void health_fill(struct health *h, struct mp_probe *p, int ack, uint8_t path,
		 uint64_t now_us, uint32_t interval_us, uint32_t tx)
{
	memset(p, 0, sizeof(*p));
	p->path = path;
	p->interval_ms = (uint16_t)(interval_us / 1000 > UINT16_MAX ? UINT16_MAX
								 : interval_us / 1000);
	p->ts_us = ts32(now_us);
	p->tx = tx;
	if (h->have_peer) {
		p->echo_ts_us = h->peer_ts_us;
		p->echo_hold_us = (uint32_t)(now_us - h->peer_at_us);
		p->echo_tx = h->peer_tx;
		p->echo_rx = h->peer_rx;
		p->echo_len = h->peer_len;
	}
	if (ack)
		return;
	while (h->next_id - h->check_id >= HEALTH_RING)
		lose(h, now_us);	/* unanswered for HEALTH_RING intervals: lost */
	p->id = h->next_id++;
	h->sent_us[p->id % HEALTH_RING] = now_us;
	h->last_probe_us = now_us;
	h->probes++;
}

static void rtt_sample(struct health *h, uint32_t rtt_us)
{
	if (!h->has_rtt) {
		h->srtt_us = rtt_us;
		h->rttvar_us = rtt_us / 2;
		h->min_rtt_us = rtt_us;
		h->has_rtt = 1;
	} else {
		uint32_t err = rtt_us > h->srtt_us ? rtt_us - h->srtt_us
						   : h->srtt_us - rtt_us;
		h->rttvar_us = h->rttvar_us - h->rttvar_us / 4 + err / 4;
		h->srtt_us = h->srtt_us - h->srtt_us / 8 + rtt_us / 8;
		/* The floor creeps up slowly so that a route change to a longer
		 * path is not mistaken for a queue forever. */
		if (rtt_us < h->min_rtt_us)
			h->min_rtt_us = rtt_us;
		else
			h->min_rtt_us += (h->srtt_us - h->min_rtt_us) / 1024;
	}
	h->last_rtt_us = rtt_us;
	/* Saturated when the queue adds more than half the base delay (and
	 * at least 5 ms): the share shrinks multiplicatively until the queue
	 * drains, and grows back slowly (AIMD on the share, adaptive mode). */
	uint32_t queue_us = h->srtt_us > h->min_rtt_us ? h->srtt_us - h->min_rtt_us : 0;
	uint32_t allow_us = h->min_rtt_us / 2 > 5000 ? h->min_rtt_us / 2 : 5000;
	if (queue_us > allow_us)
		h->cap_ppm = h->cap_ppm / 100 * 85 > 50000 ? h->cap_ppm / 100 * 85 : 50000;
	else
		h->cap_ppm = h->cap_ppm + 20000 < 1000000 ? h->cap_ppm + 20000 : 1000000;
}

/* Cumulative (tx, rx) pair in; the EWMA moves by the time that passed. */
static void loss_sample(struct health_loss *l, uint32_t tx, uint32_t rx, uint64_t now_us)
{
	uint32_t dtx = tx - l->base_tx, drx = rx - l->base_rx;

	if (!l->has_base || dtx > 1u << 30 || drx > dtx + (dtx >> 2) + 4) {
		/* First pair, or counters that went backwards (the peer's
		 * session restarted): start over from here. */
		l->base_tx = tx;
		l->base_rx = rx;
		l->base_us = now_us;
		if (!l->has_base)
			l->first_us = now_us;
		l->has_base = 1;
		return;
	}
	uint64_t dt_us = now_us - l->base_us;
	if (dtx < HEALTH_LOSS_MIN_PKTS && dt_us < HEALTH_LOSS_MIN_MS * 1000ull)
		return;
	if (dtx == 0)
		return;
	if (drx > dtx)
		drx = dtx;	/* reordered across the probe: counted next time */
	double sample = 1e6 * (double)(dtx - drx) / dtx;
	/* An average over the time constant, or over all there is while there
	 * is less: a new path's first estimates are not biased towards 0. */
	double span_us = (double)(now_us - l->first_us);
	if (span_us > HEALTH_LOSS_TAU_MS * 1000.0)
		span_us = HEALTH_LOSS_TAU_MS * 1000.0;
	double w = span_us > 0 ? dt_us / span_us : 1;
	if (w > 1)
		w = 1;
	l->ppm = (uint32_t)(l->ppm + w * (sample - l->ppm) + 0.5);
	l->base_tx = tx;
	l->base_rx = rx;
	l->base_us = now_us;
}

static void answered(struct health *h, uint32_t id)
{
	if (id == 0 || (int32_t)(id - h->next_id) >= 0)
		return;		/* not one of ours */
	if ((int32_t)(id - h->acked_id) > 0)
		h->acked_id = id;
	if ((int32_t)(id + 1 - h->check_id) > 0)
		h->check_id = id + 1;
	h->answers++;
	h->lost_streak = 0;
	h->suspect = 0;
	h->good_streak++;
}

/* The one-way delay out, up to a constant (the two clocks' offset): when
 * the peer got the probe we sent (its clock: its answer's sending less how
 * long it held our echo) less when we sent it (ours). Over its floor it is
 * the queue on the way out. That queue is no longer than the round trip's
 * own rise over its floor: a floor below what that allows (the peer's
 * clock jumped; drift) is raised to it. Called after rtt_sample: the first
 * sample is the RTT's floor, no rise, and so sets the floor here too. */
static void out_sample(struct health *h, const struct mp_probe *p, uint32_t rtt_us)
{
	uint32_t rel = p->ts_us - p->echo_hold_us - p->echo_ts_us;
	uint32_t rise = rtt_us > h->min_rtt_us ? rtt_us - h->min_rtt_us : 0;
	int32_t over = (int32_t)(rel - h->out_floor_us);

	if (over < 0 || (uint32_t)over > rise)
		h->out_floor_us = over < 0 ? rel : rel - rise;
	h->out_queue_us = rel - h->out_floor_us;
}

uint32_t health_out_rtt_us(const struct health *h)
{
	return h->min_rtt_us + h->out_queue_us;
}

void health_input(struct health *h, const struct mp_probe *p, int ack,
		  uint64_t now_us, uint32_t rx, uint32_t len)
{
	h->last_heard_us = now_us;
	h->peer_state = p->state;
	h->peer_interval_ms = p->interval_ms;
	if (p->echo_ts_us && p->echo_ts_us != h->last_echo_ts) {
		uint32_t rtt = (uint32_t)now_us - p->echo_ts_us - p->echo_hold_us;
		h->last_echo_ts = p->echo_ts_us;
		if (rtt < 60u * 1000000) {	/* else a clock wrap or nonsense */
			rtt_sample(h, rtt ? rtt : 1);
			out_sample(h, p, rtt);
		}
		loss_sample(&h->send, p->echo_tx, p->echo_rx, now_us);
	}
	loss_sample(&h->recv, p->tx, rx, now_us);
	h->have_peer = 1;
	h->peer_ts_us = p->ts_us;
	h->peer_tx = p->tx;
	h->peer_rx = rx;
	h->peer_len = len;
	h->peer_at_us = now_us;
	if (ack)
		answered(h, p->id);
}

void health_timeouts(struct health *h, uint64_t now_us)
{
	uint32_t rto = health_rto_us(h);

	while (h->check_id != h->next_id &&
	       now_us - h->sent_us[h->check_id % HEALTH_RING] >= rto)
		lose(h, now_us);
}

static int set_state(struct health *h, enum health_state s, uint64_t now_us)
{
	if (h->state == s)
		return 0;
	if (s == HEALTH_DOWN) {
		h->downs++;
		h->down_since_us = now_us;
		/* Down again soon after coming up: a flapping path must now
		 * prove itself for longer before it is used again. */
		if (now_us - h->up_since_us < HEALTH_FLAP_WINDOW_MS * 1000ull)
			h->good_needed = h->good_needed * 2 > HEALTH_GOOD_MAX
						 ? HEALTH_GOOD_MAX : h->good_needed * 2;
		else
			h->good_needed = HEALTH_GOOD_MIN;
		h->good_streak = 0;
		h->send_before_down = h->send.ppm;
		h->recv_before_down = h->recv.ppm;
	} else if (h->state == HEALTH_DOWN) {
		h->up_since_us = now_us;
	}
	h->state = s;
	return 1;
}

static unsigned ms_since(uint64_t now_us, uint64_t then_us)
{
	return then_us ? (unsigned)((now_us - then_us) / 1000) : 0;
}

/* Active side: down after health_down_after() unanswered probes in a row
 * and HEALTH_DOWN_SILENCE_MS without an answer; up again after good_needed
 * answers with no such run among them. (Up here means alive: health_eval
 * decides between up and degraded.) */
static enum health_state eval_active(struct health *h, uint64_t now_us)
{
	if (h->state != HEALTH_DOWN) {
		if (h->lost_streak >= health_down_after(h) &&
		    (!h->last_heard_us ||
		     now_us - h->last_heard_us >= HEALTH_DOWN_SILENCE_MS * 1000ull)) {
			snprintf(h->reason, sizeof(h->reason),
				 "%u probes lost, last answer %u ms ago", h->lost_streak,
				 h->last_heard_us ? ms_since(now_us, h->last_heard_us) : 0);
			return HEALTH_DOWN;
		}
		return HEALTH_UP;
	}
	if (h->good_streak >= h->good_needed) {
		snprintf(h->reason, sizeof(h->reason), "%u answers in a row, rtt %.1f ms",
			 h->good_streak, h->srtt_us / 1000.0);
		return HEALTH_UP;
	}
	return HEALTH_DOWN;
}

/* Passive side: the client's view, unless its probes have stopped coming
 * (then the path is silent here whatever it last said). */
static enum health_state eval_passive(struct health *h, uint64_t now_us)
{
	uint64_t every_us = (uint64_t)(h->peer_interval_ms ? h->peer_interval_ms : 1000) * 1000;
	uint64_t silent_us = now_us - h->last_heard_us;
	uint64_t grace_us = health_rto_us(h);

	if (!h->last_heard_us)
		return h->state == HEALTH_DOWN ? HEALTH_DOWN : HEALTH_UP;
	set_suspect(h, (h->peer_state & MP_PROBE_SUSPECT) || silent_us > 2 * every_us + grace_us,
		    now_us);
	if (silent_us > (health_down_after(h) + 1) * every_us + grace_us) {
		snprintf(h->reason, sizeof(h->reason), "no probe for %u ms",
			 ms_since(now_us, h->last_heard_us));
		return HEALTH_DOWN;
	}
	if ((h->peer_state & MP_PROBE_STATE) == HEALTH_DOWN) {
		snprintf(h->reason, sizeof(h->reason), "the client says down");
		return HEALTH_DOWN;
	}
	if (h->state == HEALTH_DOWN)
		snprintf(h->reason, sizeof(h->reason), "probes again, rtt %.1f ms",
			 h->srtt_us / 1000.0);
	return HEALTH_UP;
}

int health_eval(struct health *h, uint64_t now_us, int passive)
{
	enum health_state s = passive ? eval_passive(h, now_us) : eval_active(h, now_us);

	if (h->state == HEALTH_DOWN && s != HEALTH_DOWN) {
		/* The outage was an outage, not loss: the path comes back with
		 * the loss it had before, measured afresh from here. */
		h->send.ppm = h->send_before_down;
		h->recv.ppm = h->recv_before_down;
		h->send.has_base = h->recv.has_base = 0;
	}
	if (s != HEALTH_DOWN) {
		uint32_t limit = h->state == HEALTH_DEGRADED ? HEALTH_LOSS_LEAVE_PPM
							     : HEALTH_LOSS_ENTER_PPM;
		int peer_degraded = passive && (h->peer_state & MP_PROBE_STATE) == HEALTH_DEGRADED;
		if (h->send.ppm >= limit || h->demoted || peer_degraded) {
			if (h->state != HEALTH_DEGRADED) {
				if (h->demoted)
					snprintf(h->reason, sizeof(h->reason),
						 "rtt %.1f ms over the cut-off",
						 h->srtt_us / 1000.0);
				else if (peer_degraded)
					snprintf(h->reason, sizeof(h->reason),
						 "the client says degraded");
				else
					snprintf(h->reason, sizeof(h->reason),
						 "loss %.1f %%", h->send.ppm / 1e4);
			}
			s = HEALTH_DEGRADED;
		} else if (h->state == HEALTH_DEGRADED) {
			snprintf(h->reason, sizeof(h->reason), "loss %.1f %%, rtt %.1f ms",
				 h->send.ppm / 1e4, h->srtt_us / 1000.0);
		}
	}
	return set_state(h, s, now_us);
}

uint64_t health_rescue_since(const struct health *h)
{
	if (!h->has_rtt || !h->last_heard_us || h->send.ppm >= HEALTH_LOSS_LEAVE_PPM ||
	    h->last_heard_us <= h->srtt_us)
		return 0;
	return h->last_heard_us - h->srtt_us;
}

uint8_t health_state_byte(const struct health *h, int backup)
{
	return (uint8_t)((h->state & MP_PROBE_STATE) | (h->suspect ? MP_PROBE_SUSPECT : 0) |
			 (backup || h->demoted ? MP_PROBE_BACKUP : 0));
}
