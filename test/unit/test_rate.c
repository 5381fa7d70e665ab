/* Unit tests of the capacity estimate (common/rate.c) on a synthetic path:
 * a bottleneck of C bit/s with a tail-drop buffer, a propagation RTT, and
 * a sender that always has data (busy) and paces at rate_pacing_bps. The
 * receiver reports what it got every 50 ms, as mpserver's ACKs do. The
 * numbers checked are what the estimate is for: it converges to C within
 * a few seconds from nothing, keeps the path's queue short, follows C when
 * it is halved, never lowers itself on samples the application limited,
 * and never paces above a cap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rate.h"

enum { STEP_US = 500, REPORT_US = 50000 };

struct path_sim {
	double cap_bps, buffer_bytes, base_rtt_us;
	double queue_bytes;		/* in the bottleneck's buffer */
	uint64_t delivered;		/* bytes the receiver has */
	double loss;			/* share lost at random on the way */
	uint64_t dropped;
	uint32_t min_rtt_us;
	double srtt_us;
	double max_queue_us;		/* the worst queueing delay seen */
	uint32_t jitter_us;		/* added to every third RTT sample */
	uint32_t late_once_us;		/* added to the next RTT sample only */
	int bursty;			/* an application-limited sender's bursts
					   still wait in the pacer */
	uint64_t sent;			/* bytes the sender sent */
	unsigned reports;
};

/* How long the bottleneck's buffer holds what is in it now. */
static double queue_delay_us(const struct path_sim *s)
{
	return s->queue_bytes * 8 / s->cap_bps * 1e6;
}

/* Runs the path for dur_us from t0 with the sender paced by r (or at
 * app_bps if nonzero: an application that sends less). Returns the time. */
static uint64_t run(struct rate_est *r, struct path_sim *s, uint64_t t0, uint64_t dur_us,
		    double app_bps)
{
	uint64_t t;

	for (t = t0; t < t0 + dur_us; t += STEP_US) {
		double send = (app_bps ? app_bps : (double)rate_pacing_bps(r)) / 8 * STEP_US / 1e6;
		s->queue_bytes += send;
		s->sent += (uint64_t)send;
		if (s->queue_bytes > s->buffer_bytes) {
			s->dropped += (uint64_t)(s->queue_bytes - s->buffer_bytes);
			s->queue_bytes = s->buffer_bytes;
		}
		double out = s->cap_bps / 8 * STEP_US / 1e6;
		if (out > s->queue_bytes)
			out = s->queue_bytes;
		s->queue_bytes -= out;
		s->delivered += (uint64_t)(out * (1 - s->loss));
		double q_us = queue_delay_us(s);
		if (t > t0 + 1000000 && q_us > s->max_queue_us)
			s->max_queue_us = q_us;
		if ((t - t0) % REPORT_US == 0) {
			uint32_t rtt = (uint32_t)(s->base_rtt_us + q_us) +
				       (++s->reports % 3 ? 0 : s->jitter_us) + s->late_once_us;
			s->late_once_us = 0;
			if (!s->min_rtt_us || rtt < s->min_rtt_us)
				s->min_rtt_us = rtt;
			s->srtt_us = s->srtt_us ? s->srtt_us * 7 / 8 + rtt / 8.0 : rtt;
			int busy = rate_busy(r, app_bps == 0 || s->bursty, s->sent, t);
			rate_report(r, (uint32_t)s->delivered, (uint32_t)t, t, busy, rtt,
				    s->min_rtt_us, (uint32_t)s->srtt_us);
		}
	}
	return t;
}

static struct path_sim path(double cap_bps, double rtt_ms, double buffer_ms)
{
	struct path_sim s;

	memset(&s, 0, sizeof(s));
	s.cap_bps = cap_bps;
	s.base_rtt_us = rtt_ms * 1000;
	s.buffer_bytes = cap_bps / 8 * buffer_ms / 1000;
	return s;
}

/* An estimate of bw_bps in cruise (cycle: where in the gain cycle), as a
 * path would have it from an earlier, different time. */
static void cruising_at(struct rate_est *r, uint64_t bw_bps, unsigned cycle)
{
	rate_init(r, 0, 0);
	r->phase = RATE_CRUISE;
	r->cycle = cycle;
	r->bw_bps = r->bucket_bps[0] = bw_bps;
}

static void within(double got, double want, double tolerance, const char *what)
{
	if (got < want * (1 - tolerance) || got > want * (1 + tolerance))
		fail_msg("%s: %.0f, expected %.0f +- %.0f %%", what, got, want, tolerance * 100);
}

/* From nothing to C: startup grows by half from its initial window each
 * report, so even 64 Mbit/s at 60 ms is found within 2 s; then the estimate stays within 10 % of C
 * and the path's queue within a probe's worth (a quarter of an RTT phase
 * and the cut's allowance: well under the 100 ms buffer). */
static void converges_and_keeps_queue_short(void **state)
{
	static const double caps[] = { 4e6, 16e6, 64e6 };
	static const double rtts_ms[] = { 10, 30, 60 };

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		for (unsigned k = 0; k < 3; k++) {
			struct rate_est r;
			struct path_sim s = path(caps[i], rtts_ms[k], 100);
			rate_init(&r, 0, 0);
			uint64_t t = run(&r, &s, 0, 2000000, 0);
			within((double)r.bw_bps, caps[i], 0.10, "estimate after 2 s");
			uint64_t before = s.delivered;
			s.max_queue_us = 0;
			run(&r, &s, t, 4000000, 0);
			within((double)r.bw_bps, caps[i], 0.10, "estimate after 6 s");
			/* what the path delivered: at least 90 % of C */
			within((double)(s.delivered - before) * 8 / 4, caps[i], 0.10, "delivered");
			if (s.max_queue_us > 40000)
				fail_msg("queue up to %.0f us at C=%.0f, rtt %.0f ms", s.max_queue_us,
					 caps[i], rtts_ms[k]);
		}
}

/* C halved mid-transfer: the queue that builds at once cuts the estimate
 * to what the path delivers; within 2 s it is within 15 % of C/2. */
static void follows_a_halving(void **state)
{
	struct rate_est r;
	struct path_sim s = path(20e6, 20, 100);

	(void)state;
	rate_init(&r, 0, 0);
	uint64_t t = run(&r, &s, 0, 4000000, 0);
	within((double)r.bw_bps, 20e6, 0.10, "before");
	s.cap_bps = 10e6;
	s.buffer_bytes /= 2;
	run(&r, &s, t, 2000000, 0);
	within((double)r.bw_bps, 10e6, 0.15, "2 s after halving");
	assert_true(r.cuts >= 1);
}

/* Jitter is not a queue: a radio path whose every third RTT sample is
 * 20 ms late (no queue behind it) keeps its estimate and is kept full. A
 * cut on each late sample, with growth held off for a window after
 * each, left it at a fraction of its capacity. */
static void jitter_is_not_a_queue(void **state)
{
	struct rate_est r;
	struct path_sim s = path(16e6, 30, 100);

	(void)state;
	s.jitter_us = 20000;
	rate_init(&r, 0, 0);
	uint64_t t = run(&r, &s, 0, 2000000, 0);
	uint64_t before = s.delivered;
	run(&r, &s, t, 4000000, 0);
	within((double)r.bw_bps, 16e6, 0.10, "estimate after 6 s");
	within((double)(s.delivered - before) * 8 / 4, 16e6, 0.10, "delivered");
}

/* An application that sends app_bps, less than the path carries, from
 * nothing for dur_us, its bursts waiting in the pacer now and then (the
 * path looks busy): still in startup after it. Returns the time. */
static uint64_t bursty_from_nothing(struct rate_est *r, struct path_sim *s, uint64_t dur_us,
				    double app_bps)
{
	s->bursty = 1;
	rate_init(r, 0, 0);
	uint64_t t = run(r, s, 0, dur_us, app_bps);
	assert_int_equal(r->phase, RATE_STARTUP);
	return t;
}

/* A session that starts with little (pings, a handshake) whose bursts
 * still wait in the pacer now and then: its paths look busy while the
 * application sends far less than they carry. That is no sign the path
 * is full, and startup must not end on it: once the application fills
 * the path, its capacity is found as from nothing. (Ended there, by the
 * acks of an upload, the estimate was 5-13 Mbit/s, and the download that
 * followed through WireGuard over three clean unlimited paths carried
 * 60-100 Mbit/s where the best path alone carried 155.) */
static void bursts_do_not_end_startup(void **state)
{
	struct rate_est r;
	struct path_sim s = path(100e6, 20, 50);

	(void)state;
	uint64_t t = bursty_from_nothing(&r, &s, 1000000, 1e6);
	s.bursty = 0;
	run(&r, &s, t, 1000000, 0);
	within((double)r.bw_bps, 100e6, 0.15, "1 s after the application filled the path");
}

/* The bulk that follows a bursty start: 0.85 of C within 0.6 s, the
 * path's queue under 40 ms throughout. */
static void bulk_finds_the_path(struct rate_est *r, struct path_sim *s, uint64_t t)
{
	uint64_t t0 = t;
	double queue_us = 0;

	s->bursty = 0;
	while (t < t0 + 600000 && r->bw_bps < s->cap_bps * 0.85) {
		t = run(r, s, t, REPORT_US, 0);
		double q_us = queue_delay_us(s);
		if (q_us > queue_us)
			queue_us = q_us;
	}
	if (r->bw_bps < s->cap_bps * 0.85)
		fail_msg("0.6 s after the bulk began: %llu bit/s", (unsigned long long)r->bw_bps);
	if (queue_us > 40000)
		fail_msg("queue up to %.0f us", queue_us);
}

/* One report of the bursty application's 40 Mbit/s whose RTT sample
 * comes 20 ms late (a host that stalled). */
static uint64_t late_report(struct rate_est *r, struct path_sim *s, uint64_t t)
{
	s->late_once_us = 20000;
	return run(r, s, t, REPORT_US, 40e6);
}

/* One late RTT sample in startup while the path delivers what the estimate
 * says: the application sent less than the path carries (its bursts wait
 * in the pacer now and then), and a host stalled for a moment (on
 * loopback, a relay waiting for a CPU). Startup paces at the estimate for
 * a report and goes on: it neither ends nor cuts, and the bulk that
 * follows finds the path (ended there, startup left loopback paths at a
 * tenth of their capacity in a third of the benchmark's rounds). */
static void a_late_sample_holds_startup(void **state)
{
	struct rate_est r;
	struct path_sim s = path(200e6, 20, 100);

	(void)state;
	uint64_t t = bursty_from_nothing(&r, &s, 500000, 40e6);
	uint64_t paced = rate_pacing_bps(&r);
	t = late_report(&r, &s, t);
	assert_int_equal(r.phase, RATE_STARTUP);
	assert_true(rate_pacing_bps(&r) < paced);	/* at the estimate */
	t = run(&r, &s, t, REPORT_US, 40e6);		/* on time again */
	assert_int_equal(r.phase, RATE_STARTUP);
	assert_int_equal(rate_pacing_bps(&r), paced);
	assert_int_equal(r.cuts, 0);
	bulk_finds_the_path(&r, &s, t);
}

/* Two late samples in a row in startup, the path delivering what the
 * estimate says: a queue, and ours (startup paced above the estimate).
 * Startup ends and drains it, but the estimate is not too high: it is no
 * cut, and when the application fills the path the estimate grows at
 * once. Taken as a cut (growth held off for a window, the gain cycle's
 * probes a quarter per eight phases left), it was at a quarter of C 0.6 s
 * into the bulk. */
static void late_samples_end_startup_without_a_cut(void **state)
{
	struct rate_est r;
	struct path_sim s = path(200e6, 20, 100);

	(void)state;
	uint64_t t = bursty_from_nothing(&r, &s, 500000, 40e6);
	t = late_report(&r, &s, late_report(&r, &s, t));
	assert_int_equal(r.phase, RATE_CRUISE);
	assert_int_equal(r.cuts, 0);
	bulk_finds_the_path(&r, &s, t);
}

/* An application that sends a tenth of C for 5 s: the samples are its own
 * rate, and the estimate stays where the busy path put it. */
static void app_limited_never_lowers(void **state)
{
	struct rate_est r;
	struct path_sim s = path(16e6, 20, 100);

	(void)state;
	rate_init(&r, 0, 0);
	uint64_t t = run(&r, &s, 0, 3000000, 0);
	uint64_t bw = r.bw_bps;
	run(&r, &s, t, 5000000, 1.6e6);
	assert_int_equal(r.bw_bps, bw);
}

/* A cap (rate=) is where it starts and what it never exceeds; a path
 * slower than its cap is still measured down to what it carries. */
static void cap_starts_and_bounds(void **state)
{
	struct rate_est r;
	struct path_sim s = path(8e6, 20, 100);

	(void)state;
	rate_init(&r, 12e6, 0);
	assert_true(rate_pacing_bps(&r) <= 12000000);
	run(&r, &s, 0, 4000000, 0);
	within((double)r.bw_bps, 8e6, 0.10, "capped path slower than its cap");
	assert_true(rate_pacing_bps(&r) <= 12000000);

	struct path_sim fast = path(40e6, 20, 100);
	rate_init(&r, 10e6, 0);
	run(&r, &fast, 0, 4000000, 0);
	assert_true(rate_pacing_bps(&r) <= 10000000);
	within((double)fast.delivered * 8 / 4, 10e6, 0.10, "delivered at the cap");
}

/* An estimate from a quieter time (the application sent 2 Mbit/s when the
 * gain cycle took over) on a 16 Mbit/s path that is now kept busy: it
 * grows an eighth on the first report and a quarter on each following one
 * while nothing queues (2 -> 13.6 Mbit/s, 15 % under C, in 1 + 9 reports),
 * so it is within 15 % of C within 0.6 s (eighths alone would take 0.85 s,
 * the gain cycle alone, a quarter per eight phases, over three), and the
 * queue stays short. */
static void busy_path_outgrows_a_low_estimate(void **state)
{
	struct rate_est r;
	struct path_sim s = path(16e6, 20, 100);

	(void)state;
	cruising_at(&r, 2000000, 0);
	uint64_t t = 0, found_us = 0;
	double queue_us = 0;
	while (t < 4000000) {
		t = run(&r, &s, t, REPORT_US, 0);
		if (!found_us && r.bw_bps >= 16e6 * 0.85)
			found_us = t;
		double q_us = queue_delay_us(&s);
		if (q_us > queue_us)
			queue_us = q_us;	/* the overshoot of the growth too */
	}
	if (!found_us || found_us > 600000)
		fail_msg("0.85 of C after %llu us", (unsigned long long)found_us);
	within((double)r.bw_bps, 16e6, 0.10, "4 s busy");
	if (queue_us > 40000)
		fail_msg("queue up to %.0f us", queue_us);
	/* Busy again after a quiet spell: the cycle starts with its probe
	 * (a quarter more), not startup (twice, which would fill the
	 * path's buffer at once). */
	t = run(&r, &s, t, 2000000, 100000);
	run(&r, &s, t, REPORT_US, 0);
	assert_int_equal(r.phase, RATE_CRUISE);
	assert_true(rate_pacing_bps(&r) <= r.bw_bps + r.bw_bps / 4);
}

/* A path that loses 15 % at random delivers 85 % of what it is given:
 * told its loss, a busy estimate still grows to what the path delivers
 * (0.85 of it within 0.6 s), the queue short; not told (as if clean), the
 * shortfall reads as a path at its limit and the estimate stays low. */
static void lossy_path_outgrows_a_low_estimate(void **state)
{
	(void)state;
	for (int told = 1; told >= 0; told--) {
		struct rate_est r;
		struct path_sim s = path(16e6, 20, 100);
		s.loss = 0.15;
		cruising_at(&r, 2000000, 0);
		r.loss_ppm = told ? 150000 : 0;
		uint64_t t = 0, found_us = 0;
		double queue_us = 0, goal = 16e6 * (1 - s.loss);
		while (t < 2000000) {
			t = run(&r, &s, t, REPORT_US, 0);
			if (!found_us && r.bw_bps >= goal * 0.85)
				found_us = t;
			double q_us = queue_delay_us(&s);
			if (q_us > queue_us)
				queue_us = q_us;
		}
		if (told && (!found_us || found_us > 600000))
			fail_msg("told: 0.85 of what it delivers after %llu us", (unsigned long long)found_us);
		if (told && queue_us > 40000)
			fail_msg("told: queue up to %.0f us", queue_us);
		if (!told && r.bw_bps > goal / 2)
			fail_msg("not told: %llu bit/s: the test does not show the difference",
				 (unsigned long long)r.bw_bps);
	}
}

/* The drain after a probe ends as soon as the RTT is back at its floor:
 * with no queue, a drain report leaves cycle 1 at once. */
static void drain_ends_when_the_queue_is_gone(void **state)
{
	struct rate_est r;

	(void)state;
	cruising_at(&r, 10000000, 1);
	/* 10 ms into the drain (shorter than a phase), RTT at its floor */
	rate_report(&r, 0, 0, 10000, 1, 20000, 20000, 20000);
	assert_int_equal(r.cycle, 2);
	/* still queued (RTT 8 ms over: over half the 10 ms allowance): the
	 * drain goes on */
	r.cycle = 1;
	r.phase_start_us = 20000;
	rate_report(&r, 0, 0, 30000, 1, 28000, 20000, 20000);
	assert_int_equal(r.cycle, 1);
	/* still queued a whole phase (40 ms) on: the drain goes on, until
	 * RATE_DRAIN_MAX_PHASES of them have passed */
	rate_report(&r, 0, 0, 20000 + RATE_PHASE_MIN_US + 1000, 1, 28000, 20000, 20000);
	assert_int_equal(r.cycle, 1);
	rate_report(&r, 0, 0, 20000 + RATE_DRAIN_MAX_PHASES * RATE_PHASE_MIN_US, 1, 28000, 20000,
		    20000);
	assert_int_equal(r.cycle, 2);
}

/* Startup begins at ten segments per RTT floor: a 400 Mbit/s path with a
 * 1 ms RTT is found within a quarter second (from a fixed 2 Mbit/s start,
 * growing by half a report, the estimate was 10 Mbit/s then, and a
 * loopback bond dropped in its pacer what it could not yet send); before
 * any RTT, a nominal 1 ms. */
static void starts_from_the_initial_window(void **state)
{
	struct rate_est r;
	struct path_sim s = path(400e6, 1, 20);

	(void)state;
	rate_init(&r, 0, 0);
	assert_int_equal(rate_pacing_bps(&r), RATE_INITIAL_WINDOW_BYTES * 8ull * 1000 * 12 / 8);
	run(&r, &s, 0, 250000, 0);
	within((double)r.bw_bps, 400e6, 0.10, "estimate after 0.25 s");
	/* a 600 ms satellite RTT: no less than RATE_INITIAL_BPS */
	rate_init(&r, 0, 0);
	rate_report(&r, 0, 0, 0, 1, 600000, 600000, 600000);
	assert_int_equal(rate_pacing_bps(&r), RATE_INITIAL_BPS * 12 / 8);
}

/* An estimate a little above the path (a burst read as its rate) and an
 * application that sends between the two: nothing waits in our pacer, so
 * the path is not busy, but it delivers about the estimate while its
 * queue grows: that is feeding it, and the estimate is cut to what it
 * delivers. */
static void cut_when_feeding_without_waiting(void **state)
{
	struct rate_est r;
	struct path_sim s = path(16e6, 20, 100);

	(void)state;
	cruising_at(&r, 18000000, 2);
	run(&r, &s, 0, 1000000, 17e6);
	assert_true(r.cuts >= 1);
	within((double)r.bw_bps, 16e6, 0.05, "after 1 s fed at 17 Mbit/s");
}

/* Reports from the peer with a wrapped counter and clock still give the
 * right sample; a stale start (over 2 s) gives none. */
static void wraps_and_stale_reports(void **state)
{
	struct rate_est r;

	(void)state;
	rate_init(&r, 0, 0);
	rate_report(&r, 0xffffff00u, 0xfffff000u, 1000, 0, 0, 0, 0);
	/* 100 ms later (the clock wrapped), 125,000 bytes later: 10 Mbit/s */
	rate_report(&r, 0xffffff00u + 125000u, 0xfffff000u + 100000u, 101000, 0, 0, 0, 0);
	assert_int_equal(r.last_bps, 10000000);
	assert_int_equal(r.samples, 1);
	rate_report(&r, 0x10000, 0xfffff000u + 100000u + 3000000u, 3101000, 0, 0, 0, 0);
	assert_int_equal(r.samples, 1);
	/* too short an interval: the start is kept for the next */
	rate_report(&r, 0x10000 + 1000, 0xfffff000u + 100000u + 3010000u, 3111000, 0, 0, 0, 0);
	assert_int_equal(r.samples, 1);
}

/* A path that carried only a ping stream for 5 s, then bulk: the pings'
 * samples (their own rate, a thousandth of C) must not leave startup
 * pacing below its initial window. From there (ten segments per 20 ms,
 * 6 Mbit/s) startup's half more each report finds 100 Mbit/s in 7 reports
 * and a round trip, under 0.6 s; paced from the pings' 0.1 Mbit/s it took
 * 0.9 s, and a WireGuard download through a clean bond had ended its slow
 * start long before. */
static void pings_do_not_slow_startup(void **state)
{
	struct rate_est r;
	struct path_sim s = path(100e6, 20, 60);

	(void)state;
	rate_init(&r, 0, 0);
	uint64_t t = run(&r, &s, 0, 5000000, 100000);
	assert_int_equal(r.phase, RATE_STARTUP);
	assert_true(rate_pacing_bps(&r) >= RATE_INITIAL_WINDOW_BYTES * 8ull * 1000000 / 20000);
	uint64_t t0 = t;
	while (t < t0 + 600000 && r.bw_bps < 100e6 * 0.85)
		t = run(&r, &s, t, REPORT_US, 0);
	if (r.bw_bps < 100e6 * 0.85)
		fail_msg("0.6 s after the bulk began: %llu bit/s", (unsigned long long)r.bw_bps);
}

/* The lead path starts open (RATE_OPEN_BPS times startup's gain, within a
 * cap): a sender as greedy as its pacer floods a 16 Mbit/s path's buffer
 * at once, and the queue it shows ends startup with the estimate at the
 * path's rate, paced at it from then on, the queue short again. */
static void the_lead_starts_open_and_finds_the_path(void **state)
{
	struct rate_est r;
	struct path_sim s = path(16e6, 20, 60);

	(void)state;
	s.min_rtt_us = 20000;		/* the probes' floor, from before the flood */
	rate_init(&r, 0, 0);
	rate_set_lead(&r, 1);
	assert_int_equal(rate_pacing_bps(&r), RATE_OPEN_BPS / 8 * 12);
	run(&r, &s, 0, 2000000, 0);
	assert_int_equal(r.phase, RATE_CRUISE);
	within((double)r.bw_bps, 16e6, 0.15, "estimate after 2 s");
	assert_true(rate_pacing_bps(&r) <= 16e6 * 1.25 * 1.15);
	/* after the first second, a probe's worth of queue (12.5 ms seen) */
	assert_true(s.max_queue_us < 25000);
	rate_init(&r, 10000000, 0);
	rate_set_lead(&r, 1);
	assert_int_equal(rate_pacing_bps(&r), 10000000);	/* the cap */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(converges_and_keeps_queue_short),
		cmocka_unit_test(follows_a_halving),
		cmocka_unit_test(app_limited_never_lowers),
		cmocka_unit_test(cap_starts_and_bounds),
		cmocka_unit_test(wraps_and_stale_reports),
		cmocka_unit_test(busy_path_outgrows_a_low_estimate),
		cmocka_unit_test(lossy_path_outgrows_a_low_estimate),
		cmocka_unit_test(drain_ends_when_the_queue_is_gone),
		cmocka_unit_test(cut_when_feeding_without_waiting),
		cmocka_unit_test(starts_from_the_initial_window),
		cmocka_unit_test(jitter_is_not_a_queue),
		cmocka_unit_test(bursts_do_not_end_startup),
		cmocka_unit_test(pings_do_not_slow_startup),
		cmocka_unit_test(the_lead_starts_open_and_finds_the_path),
		cmocka_unit_test(a_late_sample_holds_startup),
		cmocka_unit_test(late_samples_end_startup_without_a_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
