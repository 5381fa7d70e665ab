/* Capacity of one path in one direction, measured (--mode bond), after
 * BBR's delivery-rate model: the peer says in every PROBE/ACK how many
 * bytes it has received on the path, and when (its clock); two reports make
 * a delivery-rate sample. While we keep the path busy (datagrams wait in
 * our pacer for it) a sample is what the path can carry; a windowed maximum
 * of them is the estimate. We pace at the estimate times a gain: 1.5
 * while the estimate still grows (startup), then a cycle that probes 25 %
 * above it for one phase and drains 25 % below for the next, so more
 * capacity is found and the queue the probe made goes away (the drain ends
 * early once the delay is back at its floor); the cycle starts over with
 * its probe when the path turns busy after a quiet second. A delay above
 * its floor while we feed the path (the caller's: the RTT's floor plus the
 * queue on the way out, health_out_rtt_us) means a queue in its own buffer
 * (if the report before showed part of it, or we had just paced above the
 * estimate; one late sample alone is jitter): the estimate is too high,
 * and it is cut to what the path delivers now (in startup, not if that is
 * about the estimate: startup's own queue, drained without a cut, after a
 * second late sample; the first holds startup at the estimate).
 * A busy path that delivers all we pace with no queue, and has not been
 * cut for a window, grows an eighth on the first report, then a quarter
 * per report (its estimate is from a quieter time). Samples taken while we were not busy (the application
 * sent less) raise the estimate but never lower it. Pure logic on the
 * caller's clock; docs/PROTOCOL.md, "Capacity". */
#ifndef MP_RATE_H
#define MP_RATE_H

#include <stdint.h>

#include "tunables.h"

enum rate_phase { RATE_STARTUP = 0, RATE_CRUISE };

struct rate_est {
	/* the peer's last report used as a sample's start */
	int has_report;
	uint32_t rep_bytes, rep_ts_us;
	/* windowed maximum: RATE_BUCKETS buckets of RATE_BUCKET_MS each */
	uint64_t bucket_start_us;
	unsigned cur;
	uint64_t bucket_bps[RATE_BUCKETS];
	uint64_t bw_bps;		/* the estimate; 0 until the first sample */
	uint32_t init_rtt_us;		/* before it: the RTT floor (0: none yet) */
	uint64_t last_bps;		/* the last sample */
	uint64_t cap_bps;		/* never paced above this (rate=); 0 none */
	int lead;			/* the path earliest arrival fills first
					   (the caller's: rate_set_lead) */
	/* pacing */
	enum rate_phase phase;
	uint64_t phase_start_us;
	unsigned cycle;			/* index in the gain cycle */
	uint64_t startup_best_bps;	/* startup: the estimate a round ago */
	unsigned startup_flat;		/* rounds it has not grown 12.5 % */
	int startup_held;		/* a late sample: at the estimate for one */
	uint64_t no_cut_until_us;	/* a cut's effect is not yet in the RTT */
	uint64_t last_busy_us;		/* the last report of a busy path */
	uint64_t last_cut_us;		/* the last cut (if cuts) */
	int grew;			/* the last report grew the estimate */
	uint32_t prev_rtt_us;		/* the last report's RTT sample */
	uint64_t fed_bytes, fed_us;	/* rate_busy's last call */
	int filling;			/* and what it found (rate_busy) */
	/* the path's loss toward the peer, ppm (the caller's, before each
	 * report): a lossy path delivers that much less than it is given */
	uint32_t loss_ppm;
	uint64_t samples, cuts, grows;
};

void rate_init(struct rate_est *r, uint64_t cap_bps, uint64_t now_us);
/* A new cap (rate=, or what the client announced); 0 = none. */
void rate_set_cap(struct rate_est *r, uint64_t cap_bps);
/* Whether this is the lead, the path earliest arrival fills first (the
 * caller decides: engine.c's lead_path): in startup it is paced at no less
 * than RATE_OPEN_BPS (tunables.h says why). */
void rate_set_lead(struct rate_est *r, int lead);
/* Before each report: whether the path is busy (returned: datagrams
 * waited in our pacer for it lately, waited), and whether it is being
 * filled (kept: busy, and its link sent, since the last call, at least
 * RATE_BUSY_SHARE_PCT of the pacing rate; sent_bytes is the link's running
 * count). Only a startup round that filled the path may end startup: a
 * sender whose bursts wait now and then but who sends far less than the
 * pacing allows (pings, a handshake, TCP's acks) says nothing of the
 * path's capacity. */
int rate_busy(struct rate_est *r, int waited, uint64_t sent_bytes, uint64_t now_us);
/* A report from the peer: it had received `bytes` on the path (modulo 2^32)
 * when its clock read ts_us. busy: datagrams waited in our pacer for this
 * path since the last report (the sample measures the path, not the
 * application). rtt_us: the path's last delay sample, as a round trip
 * whose way back has no queue (health_out_rtt_us); min_rtt_us, srtt_us:
 * the RTT's floor and average (0 if none yet). */
void rate_report(struct rate_est *r, uint32_t bytes, uint32_t ts_us, uint64_t now_us,
		 int busy, uint32_t rtt_us, uint32_t min_rtt_us, uint32_t srtt_us);
/* What to pace the path at now (bits/s, > 0): the estimate times the gain
 * of the phase, within the cap. In startup no less than ten segments per
 * RTT floor (or per nominal millisecond) times the startup gain, or
 * RATE_OPEN_BPS on the lead path (tunables.h, RATE_INITIAL_WINDOW_BYTES). */
uint64_t rate_pacing_bps(const struct rate_est *r);

#endif
