/* Loss recovery in bond mode: selective retransmission across paths.
 *
 * The receiver asks (a NACK, MP_T_RECOVER) for the DATA its reorder buffer
 * is missing, as soon as it knows them lost: each path delivers what it
 * carries in the order it was sent, so a hole is lost once every path that
 * delivered bulk lately has delivered bulk numbered after it (or, for a
 * path that went quiet, once what came after the hole has waited as long
 * as the paths' delays say it could still come). Holes still missing are
 * asked for again after a round trip; a hole not filled within the reorder
 * hold is given up as before.
 *
 * The sender finds the datagram in the rescue ring (the same sealed bytes:
 * no nonce is used twice) and sends it again on the path expected to
 * deliver it first, counting each path's loss, never on the one it was lost
 * on if another is usable. Each datagram goes again at most
 * RECOVER_RESENDS_MAX times, and never twice within a round trip; what is
 * resent is paid from a budget that grows with what the flow sends
 * (RECOVER_BUDGET_PCT of its bytes, RECOVER_BUDGET_BURST at once), so a
 * peer that asks for everything gets at most that much more traffic. The
 * receiver's window drops whichever copy comes second. A loss at the end of
 * a burst has nothing after it to show it: a flow quiet for RECOVER_TAIL_US
 * sends its last datagram again, once.
 *
 * Memory: a few counters, the last RECOVER_ASKED_SLOTS seqs asked for and
 * one timer per flow; the datagrams are the rescue ring's. */
#ifndef MP_RECOVER_H
#define MP_RECOVER_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "tunables.h"
#include "wire.h"

struct flow;

struct recover_stats {
	/* receiver */
	uint64_t nacks_tx;		/* NACKs sent */
	uint64_t asked;			/* seqs asked for in them (again included) */
	uint64_t asked_in_vain;		/* asked for, then came twice (late, not lost) */
	/* sender */
	uint64_t nacks_rx;		/* NACKs taken */
	uint64_t bad_nack;		/* NACK bodies refused (malformed) */
	uint64_t resent;		/* datagrams sent again */
	uint64_t resent_bytes;
	uint64_t not_kept;		/* asked for, no longer (or never) kept */
	uint64_t spent;			/* asked for, already resent the most times */
	uint64_t over_budget;		/* asked for, the budget was spent */
	uint64_t tail_probes;		/* the last datagram sent again after quiet */
};

struct recover {
	/* receiver: each path's highest bulk DATA seq, and when it came */
	uint64_t top[MP_MAX_PATHS];
	uint64_t heard_us[MP_MAX_PATHS];
	uint64_t asked_hi;		/* holes up to here have been asked for */
	uint64_t asked_us;		/* holes last asked for (again) */
	uint64_t nack_us;		/* the last NACK sent */
	uint64_t checked_us;		/* the last whole recover_check */
	uint64_t wake_us;		/* the timer's deadline; UINT64_MAX idle */
	/* from the paths' delays, with the flow's view (engine.c): how long
	 * a hole may still be on its way by another path, the fastest path's
	 * RTT, and how long an ask takes to be answered */
	uint64_t wait_us, rtt_us, reask_us;
	/* bond mode: wait_us adapts between these (RECOVER_ADAPT_*): at
	 * step `steps` of RECOVER_ADAPT_STEPS above the floor, after `clean`
	 * holes asked for since one came twice */
	uint64_t wait_floor_us, wait_ceil_us;
	unsigned steps, clean;
	uint64_t asked_seq[RECOVER_ASKED_SLOTS];	/* by seq % slots; 0: none */
	ev_timer timer;
	int timer_ready;
	/* sender */
	uint64_t tail_pkts, tail_us;	/* f->sent_pkts when last seen to change */
	uint64_t tail_probed;		/* f->sent_pkts when the tail was probed */
	uint64_t credit;		/* bytes it may resend now */
	uint64_t credited_sent;		/* f->sent_bytes when credit was last added */
	struct recover_stats st;
};

/* Receiver: DATA seq (bulk unless critical) came on path p (MP_MAX_PATHS:
 * rebuilt from parity) and was taken. */
void recover_heard(struct flow *f, unsigned p, uint64_t seq, int critical);
/* Receiver: a second copy of DATA seq came from a path. */
void recover_twice(struct flow *f, uint64_t seq);
/* Receiver: wait_us from its floor, ceiling and step (engine.c sets the
 * first two with the flow's view). */
void recover_wait(struct recover *r);
/* Receiver: asks for what is lost, now or when its timer fires. */
void recover_check(struct flow *f);
/* Sender, on the program's tick: a flow quiet for RECOVER_TAIL_US sends
 * its last datagram again, once (nothing after it would show the receiver
 * that it was lost: a tail loss probe, as TCP's). */
void recover_tick(struct flow *f);
/* Both: an authenticated MP_T_RECOVER body came on path p. */
void recover_input(struct flow *f, unsigned p, const uint8_t *body, size_t len);

#endif
