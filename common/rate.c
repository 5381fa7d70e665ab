/* The capacity estimate of one path direction: delivery-rate samples from
 * the peer's reports, a windowed maximum, the gain cycle and the cut on a
 * queue (rate.h says why each). */
#include "rate.h"

#include <string.h>

/* Gains in eighths: probe up a quarter, drain a quarter, then cruise.
 * Startup paces half above the estimate, not twice it (BBR's doubling):
 * a sample spans 40-50 ms of reports, so an overshoot lasts one and an RTT
 * before the queue it makes is seen, and twice a path's rate for that
 * long filled a 60 ms uplink buffer and dropped the tail of TCP's slow
 * start (the bond then carried little more than its fastest path for
 * seconds); half fills about 40 ms of it. It still finds 16 Mbit/s from
 * 2 in about 0.3 s, and a loopback's gigabit in under a second (a quarter
 * took twice as long, and bonding over loopback lost a quarter of its
 * rate in the benchmark's 2 s rounds). */
static const unsigned cycle_gain8[] = { 10, 6, 8, 8, 8, 8, 8, 8 };
enum { STARTUP_GAIN8 = 12, CYCLE_LEN = sizeof(cycle_gain8) / sizeof(cycle_gain8[0]) };

void rate_init(struct rate_est *r, uint64_t cap_bps, uint64_t now_us)
{
	memset(r, 0, sizeof(*r));
	r->bucket_start_us = r->phase_start_us = now_us;
	rate_set_cap(r, cap_bps);
}

void rate_set_cap(struct rate_est *r, uint64_t cap_bps)
{
	r->cap_bps = cap_bps;
	/* The operator's figure is where to start; measurement corrects it. */
	if (cap_bps && !r->bw_bps)
		r->bw_bps = cap_bps;
}

static uint64_t window_max(const struct rate_est *r)
{
	uint64_t best = 0;

	for (unsigned i = 0; i < RATE_BUCKETS; i++)
		if (r->bucket_bps[i] > best)
			best = r->bucket_bps[i];
	return best;
}

/* Moves the window on to now: expired buckets are emptied. With no sample
 * left in it, the estimate stays what it was (nothing says it changed). */
static void advance(struct rate_est *r, uint64_t now_us)
{
	unsigned steps = 0;

	while (now_us - r->bucket_start_us >= RATE_BUCKET_MS * 1000ull && steps++ < RATE_BUCKETS) {
		r->cur = (r->cur + 1) % RATE_BUCKETS;
		r->bucket_bps[r->cur] = 0;
		r->bucket_start_us += RATE_BUCKET_MS * 1000ull;
	}
	if (now_us - r->bucket_start_us >= RATE_BUCKET_MS * 1000ull)
		r->bucket_start_us = now_us;	/* idle for the whole window */
	uint64_t w = window_max(r);
	if (w)
		r->bw_bps = w;
}

/* What a path given `bps` delivers: less its loss (a lossy path that
 * delivers 85 % of what it is given is not short of capacity). */
static uint64_t delivers(const struct rate_est *r, uint64_t bps)
{
	uint32_t loss = r->loss_ppm < 500000 ? r->loss_ppm : 500000;

	return bps - bps / 1000000 * loss;
}

/* How far above its floor the RTT may be before it says "a queue in the
 * path's buffer": a quarter of the floor, at least RATE_QUEUE_MIN_US. */
static uint32_t queue_allow_us(uint32_t min_rtt_us)
{
	return min_rtt_us / 4 > RATE_QUEUE_MIN_US ? min_rtt_us / 4 : RATE_QUEUE_MIN_US;
}

/* Phases last an RTT (at least RATE_PHASE_MIN_US): a probe up puts a
 * quarter of an RTT of data in the path's queue, the drain takes it out,
 * and ends as soon as the RTT is back near its floor (the queue is gone:
 * draining further would leave the path idle). */
static void next_phase(struct rate_est *r, uint64_t now_us, uint32_t rtt_us, uint32_t min_rtt_us,
		       int busy)
{
	uint64_t len_us = min_rtt_us > RATE_PHASE_MIN_US ? min_rtt_us : RATE_PHASE_MIN_US;
	int drained = r->phase == RATE_CRUISE && r->cycle == 1 && min_rtt_us &&
		      rtt_us <= min_rtt_us + queue_allow_us(min_rtt_us) / 2;

	/* The drain lasts until the queue is gone (at most
	 * RATE_DRAIN_MAX_PHASES of them): startup's overshoot can leave more
	 * than one phase at three quarters takes out. */
	if (r->phase == RATE_CRUISE && r->cycle == 1 && min_rtt_us && !drained &&
	    now_us - r->phase_start_us < RATE_DRAIN_MAX_PHASES * len_us)
		return;
	if (now_us - r->phase_start_us < len_us && !drained)
		return;
	r->phase_start_us = now_us;
	if (r->phase == RATE_STARTUP) {
		/* Only a round that kept the path busy, sending about what we
		 * paced, says that it is full. */
		if (!busy || !r->filling)
			return;
		if (r->bw_bps >= r->startup_best_bps + r->startup_best_bps / 8) {
			r->startup_best_bps = r->bw_bps;
			r->startup_flat = 0;
		} else if (++r->startup_flat >= RATE_STARTUP_FLAT_ROUNDS) {
			r->phase = RATE_CRUISE;
			r->cycle = 1;	/* drain what startup queued */
		}
		return;
	}
	r->cycle = (r->cycle + 1) % CYCLE_LEN;
}

void rate_set_lead(struct rate_est *r, int lead)
{
	r->lead = lead;
}

int rate_busy(struct rate_est *r, int waited, uint64_t sent_bytes, uint64_t now_us)
{
	uint64_t dt_us = now_us - r->fed_us, sent = sent_bytes - r->fed_bytes;
	int first = !r->fed_us;

	r->fed_us = now_us;
	r->fed_bytes = sent_bytes;
	r->filling = waited && !first && dt_us &&
		     sent * 8000000 / dt_us * 100 >= rate_pacing_bps(r) * RATE_BUSY_SHARE_PCT;
	return waited;
}

void rate_report(struct rate_est *r, uint32_t bytes, uint32_t ts_us, uint64_t now_us,
		 int busy, uint32_t rtt_us, uint32_t min_rtt_us, uint32_t srtt_us)
{
	uint64_t paced_bps = rate_pacing_bps(r);	/* since the last report */
	uint32_t prev_rtt_us = r->prev_rtt_us;

	r->prev_rtt_us = rtt_us;

	advance(r, now_us);
	/* Busy again after a quiet spell: what the path carries may have
	 * grown meanwhile, so the cycle starts with its probe up. Not startup
	 * again: twice a rate the path was found to carry fills its buffer
	 * within one of its queues' length, and the tail drops that follow hit
	 * the application's transfer just as it begins. */
	if (busy && r->phase == RATE_CRUISE && now_us - r->last_busy_us > RATE_RESUME_IDLE_US) {
		r->cycle = 0;
		r->phase_start_us = now_us;
	}
	if (busy)
		r->last_busy_us = now_us;
	next_phase(r, now_us, rtt_us, min_rtt_us, busy);
	if (!r->bw_bps && min_rtt_us)
		r->init_rtt_us = min_rtt_us;
	if (!r->has_report) {
		r->has_report = 1;
		r->rep_bytes = bytes;
		r->rep_ts_us = ts_us;
		return;
	}
	uint32_t dt_us = ts_us - r->rep_ts_us;
	if (dt_us < RATE_SAMPLE_MIN_US)
		return;			/* too short to mean much: keep the start */
	uint32_t got = bytes - r->rep_bytes;
	r->rep_bytes = bytes;
	r->rep_ts_us = ts_us;
	if (dt_us > RATE_SAMPLE_MAX_US)
		return;			/* the start is stale (or the peer restarted) */
	uint64_t sample = (uint64_t)got * 8000000 / dt_us;
	r->last_bps = sample;
	r->samples++;
	/* A sample while we were not keeping the path busy says what the
	 * application sent, not what the path carries: it may raise the
	 * estimate, never lower it. */
	if ((busy || sample > r->bw_bps) && sample > r->bucket_bps[r->cur])
		r->bucket_bps[r->cur] = sample;
	if (sample > r->bw_bps)
		r->bw_bps = sample;
	/* Busy, delivering what we pace, no queue in the path, and no cut
	 * for a window: the path carries more than we give it (the estimate
	 * is from a time the application sent less, or the path grew).
	 * Faster than the gain cycle: an eighth more on the first such
	 * report, a quarter on each one that follows, until a queue shows
	 * and cuts it. An overshoot is a quarter for a report and a round
	 * trip; eighths alone took a second to find 16 Mbit/s from 2, and
	 * each fresh transfer on a bond that had carried only the other
	 * direction's acks paid that second. */
	int grew = r->grew;
	r->grew = 0;
	if (busy && r->phase == RATE_CRUISE && min_rtt_us &&
	    rtt_us <= min_rtt_us + queue_allow_us(min_rtt_us) / 2 &&
	    sample * 8 >= delivers(r, paced_bps) * 7 &&
	    (!r->cuts || now_us - r->last_cut_us >= RATE_BUCKETS * RATE_BUCKET_MS * 1000ull)) {
		uint64_t to = r->bw_bps + r->bw_bps / (grew ? 4 : 8);
		if (to > r->bucket_bps[r->cur])
			r->bucket_bps[r->cur] = to;
		r->bw_bps = to;
		r->grows++;
		r->grew = 1;
	}
	/* A queue in the path's buffer that we are feeding: it carries less
	 * than we send. What it delivers now is its capacity. We feed it if
	 * datagrams wait for it here, or if it delivers about what the
	 * estimate says: paced above its capacity (startup's gain, or an
	 * estimate a burst raised), nothing waits here and the queue grows
	 * in the uplink, until its tail drops hit the application. */
	int feeding = busy || sample * 8 >= delivers(r, r->bw_bps) * 7;
	/* A queue builds: the report before showed part of it (half the
	 * allowance, what stops growth), or we have just paced above the
	 * estimate (startup, a probe, a growth step: the queue is ours).
	 * Otherwise a late sample after one at the floor is jitter (a
	 * radio's retransmissions, a busy host); cut on that, with growth
	 * held off for a window after each cut, a 16 Mbit/s path whose every
	 * third sample came 20 ms late was left at 10. */
	uint32_t allow_us = queue_allow_us(min_rtt_us);
	int pushed = grew || paced_bps > r->bw_bps;
	int queued = rtt_us > min_rtt_us + allow_us &&
		     (pushed || prev_rtt_us > min_rtt_us + allow_us / 2);
	int late = feeding && min_rtt_us && queued && now_us >= r->no_cut_until_us;
	int held = r->startup_held;
	r->startup_held = 0;
	if (late && r->phase == RATE_STARTUP && !held && sample * 8 >= r->bw_bps * 7) {
		/* In startup, a path that delivers about what the estimate
		 * says (7/8 of it) was paced above it: the queue may be ours,
		 * or a host that stalled for a moment (on loopback, a relay
		 * waiting for a CPU; every path at once). Startup paces at the
		 * estimate until the next sample, which grows no queue: a
		 * second late one ends startup (below), one on time goes on.
		 * Ending it at the first, on loopback the paths were left at
		 * 60-260 Mbit/s in about a third of the benchmark's 2 s rounds
		 * and grew from there in cruise, a gigabit a second later. */
		r->startup_held = 1;
	} else if (late) {
		/* In startup, a second late sample from a path that delivers
		 * about the estimate: the queue is ours, and the estimate is
		 * not too high. Startup ends and drains it, but that is no
		 * cut, and does not hold growth off. A startup that
		 * ended so on a path it had not yet filled (the scheduler had
		 * given it a share of the flow, not all it could take; a late
		 * sample from a host that stalled) left it there for a window:
		 * on loopback, the bond carried 1.0-1.2 Gbit/s of 1.9 over its
		 * first 2 s. */
		if (r->phase != RATE_STARTUP || sample * 8 < r->bw_bps * 7) {
			/* At most a quarter at once: a sample over an interval
			 * that was not busy throughout reads low, and a real
			 * fall is followed by the next cuts, two RTTs apart. */
			uint64_t floor_bps = r->bw_bps - r->bw_bps / 4;
			uint64_t to = sample > floor_bps ? sample : floor_bps;
			for (unsigned i = 0; i < RATE_BUCKETS; i++)
				if (r->bucket_bps[i] > to)
					r->bucket_bps[i] = to;
			r->bw_bps = to > RATE_MIN_BPS ? to : RATE_MIN_BPS;
			r->cuts++;
			r->last_cut_us = now_us;
		}
		r->phase = RATE_CRUISE;
		r->cycle = 1;		/* drain */
		r->phase_start_us = now_us;
		/* The next RTT samples still show the queue being drained. */
		r->no_cut_until_us = now_us + 2ull * (srtt_us ? srtt_us : min_rtt_us);
	}
}

static uint64_t initial_bps(const struct rate_est *r)
{
	uint64_t bps = RATE_INITIAL_WINDOW_BYTES * 8000000ull /
		       (r->init_rtt_us ? r->init_rtt_us : RATE_NOMINAL_RTT_US);
	uint64_t floor_bps = r->lead ? RATE_OPEN_BPS : RATE_INITIAL_BPS;

	return bps > floor_bps ? bps : floor_bps;
}

uint64_t rate_pacing_bps(const struct rate_est *r)
{
	uint64_t bw = r->bw_bps;
	/* Startup never paces below its initial window (as BBR's pacing rate
	 * only rises before the path is found full): samples of an
	 * application that sent only pings would otherwise leave its first
	 * bulk paced at a tenth of that, and the search from there took a
	 * second on a fast path. */
	if (r->phase == RATE_STARTUP && bw < initial_bps(r))
		bw = initial_bps(r);
	unsigned gain8 = r->phase != RATE_STARTUP ? cycle_gain8[r->cycle]
		       : r->startup_held ? 8 : STARTUP_GAIN8;
	uint64_t bps = bw * gain8 / 8;

	if (r->cap_bps && bps > r->cap_bps)
		bps = r->cap_bps;
	return bps > RATE_MIN_BPS ? bps : RATE_MIN_BPS;
}
