/* Path health: what one side knows of one path of one session, from the
 * PROBE/ACK exchange (wire.h, struct mp_probe) and the path's packet
 * counters. mpclient is the active side (it probes, and times the answers
 * out); mpserver is passive (it answers, measures from what the probes
 * echo, and follows the client's view plus its own ears). The state is
 * derived in one place, health_eval, from timestamps and counters. */
#ifndef MP_HEALTH_H
#define MP_HEALTH_H

#include <stdint.h>

#include "tunables.h"
#include "wire.h"

enum health_state {
	HEALTH_UNKNOWN = 0,		/* nothing heard yet */
	HEALTH_UP = 1,
	HEALTH_DEGRADED = 2,		/* works, but lossy or too slow */
	HEALTH_DOWN = 3,
};

/* One direction's loss, from cumulative (sent, received) counter pairs. */
struct health_loss {
	uint32_t base_tx, base_rx;
	uint64_t base_us, first_us;	/* first_us: start of the average */
	int has_base;
	uint32_t ppm;			/* parts per million, EWMA */
};

struct health {
	enum health_state state;
	int suspect;			/* an answer is overdue (active side) */
	uint64_t suspect_since_us;	/* when it last turned suspect */
	int demoted;			/* over the latency cut-off: backup */
	uint8_t peer_state;		/* the peer's last MP_PROBE_* byte */
	uint16_t peer_interval_ms;
	/* probes this side sent, for timeouts (active side) */
	uint32_t next_id, acked_id, check_id;
	uint64_t sent_us[HEALTH_RING];
	uint64_t last_probe_us;
	unsigned lost_streak, good_streak, good_needed;
	uint64_t up_since_us, down_since_us;
	/* round trip, RFC 6298, in microseconds */
	int has_rtt;
	uint32_t srtt_us, rttvar_us, min_rtt_us, last_rtt_us;
	uint32_t last_echo_ts;		/* the echo that gave the last sample */
	/* the way out alone: our probe's arrival (peer's clock) less its
	 * sending (ours), whose floor absorbs the clocks' offset */
	uint32_t out_floor_us, out_queue_us;
	/* share cap while the path looks saturated (adaptive), ppm */
	uint32_t cap_ppm;
	/* loss: send = what we send and the peer gets; recv = the reverse */
	struct health_loss send, recv;
	uint32_t send_before_down, recv_before_down;	/* restored on recovery */
	/* the last PROBE/ACK from the peer, echoed in our next one */
	int have_peer;
	uint32_t peer_ts_us, peer_tx, peer_rx, peer_len;
	uint64_t peer_at_us;
	uint64_t last_heard_us;		/* last PROBE/ACK from the peer */
	/* counters */
	uint64_t probes, answers, lost, downs;
	char reason[HEALTH_REASON_MAX];	/* why the last state change */
};

const char *health_state_name(enum health_state s);

void health_init(struct health *h, uint64_t now_us);
uint32_t health_rto_us(const struct health *h);
/* The one-way delay to count the path at (bond mode's earliest arrival):
 * half its smoothed RTT (SCHED_RTT_UNKNOWN_US before any); while it is
 * suspect, at least what its overdue answer says: the RTO that answer
 * missed and the time since, less the way back. So a path slowed by a
 * queue is used less while in doubt, and a dead one not at all, well
 * before it is called down. */
uint64_t health_owd_us(const struct health *h, uint64_t now_us);
/* The same without the doubt: half the smoothed RTT. */
uint64_t health_srtt_owd_us(const struct health *h);
/* The round trip as the way out alone would make it: the RTT's floor plus
 * the queue the last echo found on the way out (0 before any).
 * The way back's queue, which traffic in the other direction fills, is
 * not in it: it is the delay signal of what we send (rate.h). */
uint32_t health_out_rtt_us(const struct health *h);
/* Exchange loss rate either way, ppm (what decides HEALTH_DOWN_AFTER). */
unsigned health_down_after(const struct health *h);

/* Active side: whether a probe is due (the interval has passed, or an
 * answer has just been timed out and a second opinion is wanted). */
int health_probe_due(const struct health *h, uint64_t now_us, uint32_t interval_us);
/* Fills a PROBE (or, with ack set, an ACK answering the last one heard)
 * for a path whose sent-packet counter, this packet included, is tx. */
void health_fill(struct health *h, struct mp_probe *p, int ack, uint8_t path,
		 uint64_t now_us, uint32_t interval_us, uint32_t tx);
/* Takes in a PROBE or ACK received; rx is the path's received counter,
 * this packet included; len is its payload length. */
void health_input(struct health *h, const struct mp_probe *p, int ack,
		  uint64_t now_us, uint32_t rx, uint32_t len);
/* Times out unanswered probes (active side). */
void health_timeouts(struct health *h, uint64_t now_us);
/* Recomputes the state; returns 1 if it changed (reason is then set). With
 * passive set, follows the peer's view and times out on its silence. */
int health_eval(struct health *h, uint64_t now_us, int passive);
/* Rescue (rescue.h): what went on this path alone since the returned time
 * (its last answer less one RTT: the path worked when that answer's probe
 * crossed) may have died with it, now that it is in doubt. 0: not worth
 * sending again, because the path was not clean (loss at or above the 2 %
 * at which a degraded path is up again): a lossy path turns suspect by
 * chance too often, and a copy that comes after the receiver's reorder
 * buffer gave up on it arrives out of order. */
uint64_t health_rescue_since(const struct health *h);
/* The MP_PROBE_* state byte for our view of the path. */
uint8_t health_state_byte(const struct health *h, int backup);

#endif
