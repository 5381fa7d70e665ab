/* Unit tests of common/health.c: the RTT estimator (RFC 6298), the loss
 * estimator (counter pairs), probe timeouts, and the path state machine on
 * both sides, all with made-up clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "health.h"

#define MS 1000ull
#define T0 (1000 * 1000 * MS)	/* an arbitrary start, far from 0 */

/* One probe sent at t and answered after rtt (peer held it 0 µs), with
 * the given cumulative counters: our tx at the probe, peer's rx of it. */
static void exchange(struct health *h, uint64_t t, uint32_t rtt_us, uint32_t tx,
		     uint32_t peer_rx)
{
	struct mp_probe probe, ack;

	health_fill(h, &probe, 0, 0, t, 50 * MS, tx);
	memset(&ack, 0, sizeof(ack));
	ack.id = probe.id;
	ack.ts_us = 77;
	ack.tx = tx;		/* the peer's own count: not what we test here */
	ack.echo_ts_us = probe.ts_us;
	ack.echo_tx = tx;
	ack.echo_rx = peer_rx;
	health_input(h, &ack, 1, t + rtt_us, tx, 0);
}

static void test_rtt_rfc6298(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, T0);
	assert_int_equal(health_rto_us(&h), HEALTH_RTO_INITIAL_US);
	exchange(&h, T0, 100 * MS, 1, 1);
	/* first sample: srtt = R, rttvar = R/2 */
	assert_int_equal(h.srtt_us, 100 * MS);
	assert_int_equal(h.rttvar_us, 50 * MS);
	assert_int_equal(health_rto_us(&h), 300 * MS);
	exchange(&h, T0 + 100 * MS, 200 * MS, 2, 2);
	/* rttvar = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; srtt = 7/8 100 + 1/8 200 */
	assert_int_equal(h.rttvar_us, 62500);
	assert_int_equal(h.srtt_us, 112500);
	/* the floor creeps toward srtt by 1/1024 of the gap per sample */
	assert_in_range(h.min_rtt_us, 100 * MS, 100 * MS + 13);
	/* the RTO is clamped both ways */
	for (int i = 0; i < 200; i++)
		exchange(&h, T0 + (uint64_t)(i + 2) * 100 * MS, 100, (uint32_t)i + 3,
			 (uint32_t)i + 3);
	assert_true(h.srtt_us < 200);
	assert_int_equal(health_rto_us(&h), HEALTH_RTO_MIN_US);
	for (int i = 0; i < 200; i++)
		exchange(&h, T0 + 100000 * MS + (uint64_t)i * 10000 * MS, 9000 * 1000,
			 (uint32_t)i + 300, (uint32_t)i + 300);
	assert_int_equal(health_rto_us(&h), HEALTH_RTO_MAX_US);
}

/* The peer's hold time is not part of the round trip; the same echo twice
 * gives one sample; an echo that is not ours (a wrap, garbage) none. */
static void test_rtt_hold_and_echo(void **state)
{
	struct health h;
	struct mp_probe probe, msg;

	(void)state;
	health_init(&h, T0);
	health_fill(&h, &probe, 0, 0, T0, 50 * MS, 1);
	memset(&msg, 0, sizeof(msg));
	msg.echo_ts_us = probe.ts_us;
	msg.echo_hold_us = 30 * MS;
	health_input(&h, &msg, 0, T0 + 50 * MS, 1, 0);
	assert_int_equal(h.srtt_us, 20 * MS);
	health_input(&h, &msg, 0, T0 + 90 * MS, 2, 0);
	assert_int_equal(h.srtt_us, 20 * MS);	/* same echo: ignored */
	assert_int_equal(h.last_rtt_us, 20 * MS);
	msg.echo_ts_us = probe.ts_us + 1000 * MS;	/* "from the future" */
	health_input(&h, &msg, 0, T0 + 95 * MS, 3, 0);
	assert_int_equal(h.last_rtt_us, 20 * MS);
}

/* Loss from counter pairs: 10 % of what we sent did not arrive, steadily,
 * converges to 10 %; a clean path stays at 0; counters that go backwards
 * (the peer restarted) start over instead of giving nonsense. */
static void test_loss_estimate(void **state)
{
	struct health h;
	uint32_t tx = 0, rx = 0;

	(void)state;
	health_init(&h, T0);
	for (int i = 0; i < 200; i++) {	/* 10 s of 20 exchanges/s, 20 pkts each */
		tx += 20;
		rx += 18;
		exchange(&h, T0 + (uint64_t)i * 50 * MS, 1 * MS, tx, rx);
	}
	assert_in_range(h.send.ppm, 95000, 105000);
	for (int i = 200; i < 400; i++) {
		tx += 20;
		rx += 20;
		exchange(&h, T0 + (uint64_t)i * 50 * MS, 1 * MS, tx, rx);
	}
	assert_in_range(h.send.ppm, 0, 2000);
	/* backwards: rebased, no sample */
	uint32_t before = h.send.ppm;
	exchange(&h, T0 + 400 * 50 * MS, 1 * MS, 5, 1);
	assert_int_equal(h.send.ppm, before);
	assert_int_equal(h.send.base_tx, 5);
	/* a probe-only path: 1 packet per exchange, half of them lost */
	health_init(&h, T0);
	tx = rx = 0;
	for (int i = 0; i < 400; i++) {
		tx++;
		rx += i % 2;
		exchange(&h, T0 + (uint64_t)i * 50 * MS, 1 * MS, tx, rx);
	}
	assert_in_range(h.send.ppm, 400000, 600000);
}

/* Fewest losses in a row that the path's own loss explains less than once
 * in 10,000 exchanges. */
static void test_down_after(void **state)
{
	static const struct { uint32_t send, recv; unsigned want; } cases[] = {
		{ 0, 0, 2 }, { 500, 500, 2 }, { 10000, 0, 2 }, { 20000, 0, 3 },
		{ 100000, 100000, 6 }, { 200000, 200000, 10 }, { 300000, 300000, 12 },
		{ 900000, 0, 12 },
	};
	struct health h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		health_init(&h, T0);
		h.send.ppm = cases[i].send;
		h.recv.ppm = cases[i].recv;
		assert_int_equal(health_down_after(&h), cases[i].want);
	}
}

/* Active side, a clean path that dies: the first overdue answer makes it
 * suspect at once and asks again; the second makes it down. It comes back
 * after HEALTH_GOOD_MIN answers; dying again soon needs twice as many. */
static void test_state_machine_active(void **state)
{
	struct health h;
	struct mp_probe p;
	uint64_t t = T0;
	uint32_t tx = 0;

	(void)state;
	health_init(&h, T0);
	for (int i = 0; i < 20; i++, t += 50 * MS)
		exchange(&h, t, 1 * MS, tx + 1, tx + 1), tx++;
	assert_int_equal(h.state, HEALTH_UP);
	assert_false(health_eval(&h, t, 0));
	/* the path dies: a probe goes unanswered */
	assert_true(health_probe_due(&h, t, 50 * MS));
	health_fill(&h, &p, 0, 0, t, 50 * MS, ++tx);
	health_timeouts(&h, t + HEALTH_RTO_MIN_US - 1);
	assert_false(h.suspect);
	health_timeouts(&h, t + HEALTH_RTO_MIN_US);
	assert_true(h.suspect);
	assert_false(health_eval(&h, t + HEALTH_RTO_MIN_US, 0));	/* not down yet */
	/* a second opinion is due at once, not an interval later */
	t += HEALTH_RTO_MIN_US;
	assert_true(health_probe_due(&h, t, 50 * MS));
	health_fill(&h, &p, 0, 0, t, 50 * MS, ++tx);
	assert_false(health_probe_due(&h, t, 50 * MS));
	t += HEALTH_RTO_MIN_US;
	health_timeouts(&h, t);
	/* two lost, but answered 41 ms ago: a hiccup as far as anyone knows */
	assert_false(health_eval(&h, t, 0));
	assert_true(h.suspect);
	t = h.last_heard_us + HEALTH_DOWN_SILENCE_MS * MS - 1;
	assert_false(health_eval(&h, t, 0));
	t++;
	assert_true(health_eval(&h, t, 0));
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_non_null(strstr(h.reason, "2 probes lost"));
	/* back: HEALTH_GOOD_MIN answers in a row */
	for (unsigned i = 0; i < HEALTH_GOOD_MIN; i++) {
		t += 50 * MS;
		assert_int_equal(h.state, HEALTH_DOWN);
		exchange(&h, t, 1 * MS, tx + 1, tx + 1), tx++;
		health_eval(&h, t + 1 * MS, 0);
	}
	assert_int_equal(h.state, HEALTH_UP);
	assert_false(h.suspect);
	/* flaps within the window: twice as many answers needed next time */
	for (int k = 0; k < 2; k++) {
		t += 50 * MS;
		health_fill(&h, &p, 0, 0, t, 50 * MS, ++tx);
		health_timeouts(&h, t + HEALTH_RTO_MIN_US);
		health_fill(&h, &p, 0, 0, t + HEALTH_RTO_MIN_US, 50 * MS, ++tx);
		t += 2 * HEALTH_RTO_MIN_US;
		health_timeouts(&h, t);
		t += HEALTH_DOWN_SILENCE_MS * MS;
		health_eval(&h, t, 0);
		assert_int_equal(h.state, HEALTH_DOWN);
		assert_int_equal(h.good_needed, HEALTH_GOOD_MIN << (k + 1));
		unsigned answers = 0;
		while (h.state == HEALTH_DOWN) {
			t += 50 * MS;
			exchange(&h, t, 1 * MS, tx + 1, tx + 1), tx++;
			health_eval(&h, t + 1 * MS, 0);
			answers++;
		}
		assert_int_equal(answers, HEALTH_GOOD_MIN << (k + 1));
	}
	/* a quiet window resets the damping */
	t += HEALTH_FLAP_WINDOW_MS * MS + 1;
	health_fill(&h, &p, 0, 0, t, 50 * MS, ++tx);
	health_fill(&h, &p, 0, 0, t + 1, 50 * MS, ++tx);
	t += 2 * HEALTH_RTO_MIN_US;
	health_timeouts(&h, t);
	t += HEALTH_DOWN_SILENCE_MS * MS;
	health_eval(&h, t, 0);
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_int_equal(h.good_needed, HEALTH_GOOD_MIN);
	assert_int_equal(h.downs, 4);
}

/* A late answer still counts as an answer: a suspect path that was only
 * slow is not called down. */
static void test_late_answer(void **state)
{
	struct health h;
	struct mp_probe p, ack;
	uint64_t t = T0;

	(void)state;
	health_init(&h, T0);
	exchange(&h, t, 1 * MS, 1, 1);
	t += 50 * MS;
	health_fill(&h, &p, 0, 0, t, 50 * MS, 2);
	health_timeouts(&h, t + HEALTH_RTO_MIN_US);
	assert_true(h.suspect);
	memset(&ack, 0, sizeof(ack));
	ack.id = p.id;
	ack.echo_ts_us = p.ts_us;
	health_input(&h, &ack, 1, t + HEALTH_RTO_MIN_US + 5 * MS, 2, 0);
	assert_false(h.suspect);
	assert_int_equal(h.lost_streak, 0);
	health_eval(&h, t + 200 * MS, 0);
	assert_int_equal(h.state, HEALTH_UP);
	/* an ACK for an id never sent changes nothing */
	ack.id = 1000;
	unsigned answers = (unsigned)h.answers;
	health_input(&h, &ack, 1, t + 300 * MS, 3, 0);
	assert_int_equal(h.answers, answers);
}

/* Degraded by loss with hysteresis: in at 5 %, out below 2 %. */
static void test_degraded_by_loss(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, T0);
	h.send.ppm = HEALTH_LOSS_ENTER_PPM - 1;
	assert_false(health_eval(&h, T0, 0));
	h.send.ppm = HEALTH_LOSS_ENTER_PPM;
	assert_true(health_eval(&h, T0, 0));
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "loss 5.0 %"));
	h.send.ppm = HEALTH_LOSS_LEAVE_PPM;
	assert_false(health_eval(&h, T0, 0));
	h.send.ppm = HEALTH_LOSS_LEAVE_PPM - 1;
	assert_true(health_eval(&h, T0, 0));
	assert_int_equal(h.state, HEALTH_UP);
	h.demoted = 1;
	assert_true(health_eval(&h, T0, 0));
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "cut-off"));
}

/* Passive side: follows the client's state byte, and calls a path down on
 * its own when the probes stop (silence of (k + 1) intervals + RTO). */
static void test_passive(void **state)
{
	struct health h;
	struct mp_probe p;
	uint64_t t = T0;

	(void)state;
	health_init(&h, T0);
	assert_false(health_eval(&h, t, 1));	/* nothing heard: stays up */
	memset(&p, 0, sizeof(p));
	p.interval_ms = 50;
	p.state = HEALTH_UP;
	for (int i = 0; i < 10; i++, t += 50 * MS) {
		p.tx = (uint32_t)i + 1;
		health_input(&h, &p, 0, t, (uint32_t)i + 1, MP_PROBE_LEN);
	}
	t -= 50 * MS;
	assert_false(health_eval(&h, t + 100 * MS, 1));
	assert_false(h.suspect);
	/* silent for 2 intervals + RTO: suspect; (k + 1) intervals + RTO: down */
	uint32_t rto = health_rto_us(&h);
	health_eval(&h, t + 100 * MS + rto + 1, 1);
	assert_true(h.suspect);
	assert_int_equal(h.state, HEALTH_UP);
	assert_true(health_eval(&h, t + 150 * MS + rto + 1, 1));
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_non_null(strstr(h.reason, "no probe for"));
	/* probes again, but the client still says down: still down */
	t += 1000 * MS;
	p.state = HEALTH_DOWN;
	health_input(&h, &p, 0, t, 20, MP_PROBE_LEN);
	assert_false(health_eval(&h, t, 1));
	assert_int_equal(h.state, HEALTH_DOWN);
	p.state = HEALTH_UP | MP_PROBE_BACKUP;
	health_input(&h, &p, 0, t + 50 * MS, 21, MP_PROBE_LEN);
	assert_true(health_eval(&h, t + 50 * MS, 1));
	assert_int_equal(h.state, HEALTH_UP);
	p.state = HEALTH_DEGRADED | MP_PROBE_SUSPECT;
	health_input(&h, &p, 0, t + 100 * MS, 22, MP_PROBE_LEN);
	assert_true(health_eval(&h, t + 100 * MS, 1));
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_true(h.suspect);
}

/* A path dead from the start has no RTT, so its RTO is the initial 1 s,
 * longer than the HEALTH_RING probes it sends meanwhile: the ones pushed
 * out of the ring count as lost, so it still goes down. */
static void test_dead_from_start(void **state)
{
	struct health h;
	struct mp_probe p;
	uint64_t t = T0;

	(void)state;
	health_init(&h, T0);
	for (int i = 0; i < HEALTH_RING; i++, t += 50 * MS) {
		health_fill(&h, &p, 0, 0, t, 50 * MS, (uint32_t)i + 1);
		health_timeouts(&h, t);
		health_eval(&h, t, 0);
		assert_int_equal(h.state, HEALTH_UP);
	}
	health_fill(&h, &p, 0, 0, t, 50 * MS, 99);
	health_fill(&h, &p, 0, 0, t + 50 * MS, 50 * MS, 100);
	assert_int_equal(h.lost, 2);
	assert_true(health_eval(&h, t + 50 * MS, 0));
	assert_int_equal(h.state, HEALTH_DOWN);
}

/* What was lost while a path was down is not held against it afterwards:
 * it comes back with the loss it had before the outage. */
static void test_outage_is_not_loss(void **state)
{
	struct health h;
	struct mp_probe p;
	uint64_t t = T0;
	uint32_t tx = 0, rx = 0;

	(void)state;
	health_init(&h, T0);
	for (int i = 0; i < 100; i++, t += 50 * MS) {
		tx += 10;
		rx += 9 + (i % 10 == 0);	/* ~9 % */
		exchange(&h, t, 1 * MS, tx, rx);
	}
	uint32_t before = h.send.ppm;
	assert_in_range(before, 70000, 110000);
	health_eval(&h, t, 0);
	/* 2 s dead: every probe and 400 data packets lost */
	for (int i = 0; i < 40; i++, t += 50 * MS) {
		tx += 10;
		health_fill(&h, &p, 0, 0, t, 50 * MS, tx);
		health_timeouts(&h, t);
		health_eval(&h, t, 0);
	}
	assert_int_equal(h.state, HEALTH_DOWN);
	for (int i = 0; i < 3; i++, t += 50 * MS) {
		tx += 1;
		exchange(&h, t, 1 * MS, tx, rx + 1);	/* the echo covers the outage */
		health_eval(&h, t + 1 * MS, 0);
	}
	assert_int_not_equal(h.state, HEALTH_DOWN);
	assert_int_equal(h.send.ppm, before);
}

static void test_state_byte(void **state)
{
	struct health h;

	(void)state;
	health_init(&h, T0);
	assert_int_equal(health_state_byte(&h, 0), HEALTH_UP);
	assert_int_equal(health_state_byte(&h, 1), HEALTH_UP | MP_PROBE_BACKUP);
	h.state = HEALTH_DOWN;
	h.suspect = 1;
	assert_int_equal(health_state_byte(&h, 0), HEALTH_DOWN | MP_PROBE_SUSPECT);
	h.state = HEALTH_DEGRADED;
	h.suspect = 0;
	h.demoted = 1;
	assert_int_equal(health_state_byte(&h, 0), HEALTH_DEGRADED | MP_PROBE_BACKUP);
	assert_string_equal(health_state_name(HEALTH_DEGRADED), "degraded");
}

/* The saturation cap: a queue building up (RTT well over its floor)
 * shrinks the share; a drained one lets it grow back. */
static void test_saturation_cap(void **state)
{
	struct health h;
	uint64_t t = T0;
	uint32_t tx = 0;

	(void)state;
	health_init(&h, T0);
	for (int i = 0; i < 20; i++, t += 50 * MS)
		exchange(&h, t, 10 * MS, tx + 1, tx + 1), tx++;
	assert_int_equal(h.cap_ppm, 1000000);
	for (int i = 0; i < 40; i++, t += 50 * MS)
		exchange(&h, t, 60 * MS, tx + 1, tx + 1), tx++;
	assert_true(h.cap_ppm < 200000);
	assert_true(h.cap_ppm >= 50000);
	for (int i = 0; i < 400; i++, t += 50 * MS)
		exchange(&h, t, 10 * MS, tx + 1, tx + 1), tx++;
	assert_int_equal(h.cap_ppm, 1000000);
}

/* One probe sent at t: `out` µs on the way out, held `hold` by the peer,
 * whose clock reads ours plus `offset`, `back` µs on the way back. */
static void exchange_ways(struct health *h, uint64_t t, uint32_t out, uint32_t hold,
			  uint32_t back, uint32_t offset)
{
	struct mp_probe probe, ack;

	health_fill(h, &probe, 0, 0, t, 20 * MS, 1);
	memset(&ack, 0, sizeof(ack));
	ack.ts_us = (uint32_t)(t + out + hold) + offset;
	ack.echo_ts_us = probe.ts_us;
	ack.echo_hold_us = hold;
	health_input(h, &ack, 0, t + out + hold + back, 1, 0);
}

/* The delay signal of what we send: the round trip's floor plus the queue
 * on the way out, whatever the peer's clock reads; a queue on the way back
 * (the other direction's traffic) is not in it; a jump of the peer's clock
 * either way shows no queue that the round trip does not show. */
static void test_out_delay(void **state)
{
	enum { CREEP = 500 };
	const uint32_t offset = 4000000000u;	/* the peer's clock wraps first */
	struct health h;
	uint64_t t = T0;

	(void)state;
	health_init(&h, T0);
	assert_int_equal(health_out_rtt_us(&h), 0);		/* nothing yet */
	for (int i = 0; i < 10; i++, t += 20 * MS)
		exchange_ways(&h, t, 10 * MS, (uint32_t)(i % 3) * 7 * MS, 10 * MS, offset);
	assert_int_equal(h.min_rtt_us, 20 * MS);
	assert_int_equal(health_out_rtt_us(&h), 20 * MS);
	/* 30 ms queued on the way back: the RTT shows it, the way out not */
	for (int i = 0; i < 10; i++, t += 20 * MS)
		exchange_ways(&h, t, 10 * MS, 5 * MS, 40 * MS, offset);
	assert_int_equal(h.last_rtt_us, 50 * MS);
	/* the RTT's floor creeps up by 1/1024 of srtt's excess per sample:
	 * under 0.5 ms in all the samples of this test */
	assert_in_range(health_out_rtt_us(&h), 20 * MS, 20 * MS + CREEP);
	/* 30 ms queued on the way out: both */
	exchange_ways(&h, t, 40 * MS, 5 * MS, 10 * MS, offset);
	t += 20 * MS;
	assert_in_range(health_out_rtt_us(&h), 50 * MS, 50 * MS + CREEP);
	/* the queue goes */
	exchange_ways(&h, t, 10 * MS, 5 * MS, 10 * MS, offset);
	t += 20 * MS;
	assert_in_range(health_out_rtt_us(&h), 20 * MS, 20 * MS + CREEP);
	/* the peer's clock jumps ahead 10 s (it restarted): no queue out is
	 * longer than the round trip's rise, here none */
	exchange_ways(&h, t, 10 * MS, 5 * MS, 10 * MS, offset + 10000 * MS);
	t += 20 * MS;
	assert_in_range(health_out_rtt_us(&h), 20 * MS, 20 * MS + CREEP);
	/* and from there a queue out is seen as before */
	exchange_ways(&h, t, 25 * MS, 5 * MS, 10 * MS, offset + 10000 * MS);
	t += 20 * MS;
	assert_in_range(health_out_rtt_us(&h), 35 * MS, 35 * MS + CREEP);
	/* back 20 s: the floor follows down at once */
	exchange_ways(&h, t, 10 * MS, 5 * MS, 10 * MS, offset - 10000 * MS);
	assert_in_range(health_out_rtt_us(&h), 20 * MS, 20 * MS + CREEP);
}

/* Rescue's window: from the last answer less one RTT, and only for a
 * path that was clean. */
static void test_rescue_since(void **state)
{
	struct health h;
	uint64_t t = T0;
	uint32_t tx = 0;

	(void)state;
	health_init(&h, T0);
	assert_int_equal(health_rescue_since(&h), 0);		/* never heard */
	for (int i = 0; i < 20; i++, t += 50 * MS)
		exchange(&h, t, 4 * MS, tx + 10, tx + 10), tx += 10;
	assert_int_equal(health_rescue_since(&h), h.last_heard_us - h.srtt_us);
	assert_int_equal(h.srtt_us, 4 * MS);
	/* lossy (10 %): not worth it */
	for (uint32_t i = 0, rx = tx; i < 100; i++, t += 50 * MS) {
		tx += 10;
		rx += 9;
		exchange(&h, t, 4 * MS, tx, rx);
	}
	assert_true(h.send.ppm >= HEALTH_LOSS_LEAVE_PPM);
	assert_int_equal(health_rescue_since(&h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rescue_since),
		cmocka_unit_test(test_rtt_rfc6298),
		cmocka_unit_test(test_rtt_hold_and_echo),
		cmocka_unit_test(test_out_delay),
		cmocka_unit_test(test_loss_estimate),
		cmocka_unit_test(test_down_after),
		cmocka_unit_test(test_state_machine_active),
		cmocka_unit_test(test_late_answer),
		cmocka_unit_test(test_degraded_by_loss),
		cmocka_unit_test(test_passive),
		cmocka_unit_test(test_state_byte),
		cmocka_unit_test(test_dead_from_start),
		cmocka_unit_test(test_outage_is_not_loss),
		cmocka_unit_test(test_saturation_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
