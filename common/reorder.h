/* The reorder buffer: holds packets that arrive ahead of a hole in the
 * sequence for at most a bound, and releases them in order. Spreading one
 * flow over paths of different latency reorders it, and TCP inside the
 * tunnel reads reordering as loss; a lost packet must still never stall
 * delivery for longer than the bound. One per session direction, allocated
 * only when reordering is on; it sits after the dedup window (window.c), so
 * every sequence number reaches it at most once.
 *
 * Memory: slots x slot_bytes of payload plus small per-slot bookkeeping, all
 * allocated by reorder_new and reorder_grow; nothing is allocated per
 * packet. Every call is O(1) amortised and O(slots) at worst, whatever the
 * jump in seq. */
#ifndef MP_REORDER_H
#define MP_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

struct reorder;

/* Called once per packet that becomes deliverable, in order. p is valid
 * only during the call. Control packets (pushed with a NULL payload) fill
 * their seq but never reach it. */
typedef void reorder_deliver_fn(void *ctx, const uint8_t *p, size_t len);

/* Every pushed seq lands in exactly one of in_order, buffered, late, bypass
 * or dup; control packets count like data ones. A buffered packet leaves by
 * exactly one of filled, released_late, overflow or dropped (or is still
 * held). The counters survive reorder_reset. */
struct reorder_stats {
	uint64_t in_order;	/* delivered at once on push, not held */
	uint64_t buffered;	/* held in a slot */
	uint64_t filled;	/* held, then released because its hole filled */
	uint64_t released_late;	/* held, released by timeout (hole skipped) */
	uint64_t holes_skipped;	/* missing seqs given up on */
	uint64_t late;		/* arrived after its hole was skipped: delivered at once */
	uint64_t bypass;	/* larger than a slot and out of order: delivered
				   at once, after flushing what is before it */
	uint64_t overflow;	/* held, released early to make room (a seq more
				   than `slots` ahead, or a bypass packet) */
	uint64_t dropped;	/* held, discarded by reorder_reset */
	uint64_t dup;		/* seq already held: the caller broke the contract */
};

/* slots: how far ahead of the next expected seq a packet can be held
 * (e.g. 256); slot_bytes: the largest payload that can be held (e.g. 2048).
 * NULL on ENOMEM or zero/overflowing sizes. */
struct reorder *reorder_new(unsigned slots, size_t slot_bytes);
void reorder_free(struct reorder *r);

/* More slots (slots > the current number), keeping what is held, in
 * order; -1 on ENOMEM or a bad size, with the buffer unchanged. O(slots).
 * Memory grows only when asked: the caller decides what it may cost. */
int reorder_grow(struct reorder *r, unsigned slots);
unsigned reorder_slots(const struct reorder *r);

/* Forgets the sequence (the peer restarted): held packets are discarded
 * (counted in dropped) and the next push starts a new sequence. */
void reorder_reset(struct reorder *r);

/* Offers packet seq (>= 1; payload NULL for a control packet) that arrived
 * at now_us, to be held at most hold_us (0 = hold nothing: skip any hole at
 * once). The first seq after new/reset starts the sequence. First releases
 * whatever has already waited hold_us, then: seq == next is delivered with
 * the run of held packets after it; seq < next (its hole was skipped) is
 * delivered at once; seq > next is held, after releasing the oldest seqs to
 * make room if it is more than `slots` ahead. now_us must not go backwards. */
void reorder_push(struct reorder *r, uint64_t seq, const uint8_t *payload, size_t len,
		  uint64_t now_us, uint64_t hold_us, reorder_deliver_fn *deliver, void *ctx);

/* Releases, in order, every held packet that has waited hold_us or longer,
 * skipping the holes in front of it, and the run that follows it. */
void reorder_expire(struct reorder *r, uint64_t now_us, uint64_t hold_us,
		    reorder_deliver_fn *deliver, void *ctx);

/* When reorder_expire should run next (absolute µs, possibly already past),
 * or UINT64_MAX if nothing is held. O(1). */
uint64_t reorder_deadline(const struct reorder *r, uint64_t hold_us);

/* Loss recovery: the seqs missing in [from, below) (from is raised to
 * next, below is lowered to what a slot can hold), at most max_bits of
 * them counted from the first missing one: bit i of map (byte i / 8, bit
 * i % 8; the caller zeroes the map) is base + i. Returns the span written
 * (0: none missing), with *base the first missing seq and the span's last
 * bit a missing one. O(below - from), at most O(slots). */
unsigned reorder_missing(const struct reorder *r, uint64_t from, uint64_t below,
			 uint8_t *map, unsigned max_bits, uint64_t *base);
/* The highest seq held that arrived at or before before_us (0 if none),
 * and in *later_us when the first one held after it arrived (UINT64_MAX
 * if none). O(packets that arrived by before_us). */
uint64_t reorder_waited(const struct reorder *r, uint64_t before_us, uint64_t *later_us);

/* Release pacing (the caller's): at most n held packets are released
 * in a run that a filled hole frees, from now on (UINT64_MAX, the start:
 * no limit); what is left of it is read back after a push or expire. A
 * run cut short stays held, ready (reorder_pending), until
 * reorder_resume releases more of it. Packets released because their
 * hold ran out, or to make room, are counted against it but never wait
 * for it: the hold bound stands. */
void reorder_budget(struct reorder *r, uint64_t n);
uint64_t reorder_budget_left(const struct reorder *r);
int reorder_pending(const struct reorder *r);
uint64_t reorder_resume(struct reorder *r, reorder_deliver_fn *deliver, void *ctx);

/* Number of packets held right now. */
unsigned reorder_held(const struct reorder *r);
/* The next seq to deliver in order (0 before the first push): for stats. */
uint64_t reorder_next(const struct reorder *r);

const struct reorder_stats *reorder_stats_get(const struct reorder *r);

/* The automatic hold from the usable paths' smoothed RTTs and RTT
 * variations (µs; entries with srtt 0 are unmeasured and ignored). */
/* Before a session has a buffer: whether DATA seq may go straight out
 * (the next after *last, which starts at 0 since a sequence starts at 1),
 * updating *last. If not, the caller makes the buffer and pushes *last
 * with no payload first, so that it waits for what is missing after
 * *last: a buffer costs memory only in sessions that do reorder. */
static inline int reorder_straight(uint64_t *last, uint64_t seq)
{
	if (seq > *last + 1)
		return 0;
	if (seq > *last)
		*last = seq;
	return 1;
}

uint64_t reorder_auto_hold_us(const uint32_t *srtt_us, const uint32_t *rttvar_us, unsigned n);

#endif
