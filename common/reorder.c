/* The reorder buffer: a ring of slots indexed by seq % slots holding the
 * packets in (next, next + slots], plus a FIFO of held seqs in arrival order
 * whose head is the packet that has waited longest, so the next deadline is
 * O(1). Owns ordering and the hold bound only; dedup is window.c's, the
 * timer and the choice of hold_us are the caller's. */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t seq;		/* 0 = empty; seqs are never 0 */
	uint64_t arrived_us;
	size_t len;
	int control;		/* pushed with a NULL payload: deliver nothing */
};

struct reorder {
	unsigned slots;
	size_t slot_bytes;
	uint64_t next;		/* next seq to deliver; 0 = no sequence yet */
	unsigned held;
	struct slot *slot;
	uint8_t *data;		/* slots x slot_bytes */
	/* Held seqs in arrival order, with entries already delivered left in
	 * place and skipped lazily; the head is kept live after every call.
	 * Capacity 2 x slots suffices: while the head A (seq a) is held, next
	 * stays below a, so everything buffered since A arrived lies in
	 * (next when A arrived, a + slots), fewer than 2 x slots distinct seqs
	 * (test_fifo_full builds the fullest case). */
	uint64_t *order;
	unsigned order_cap, order_head, order_len;
	uint64_t budget;	/* releases left (reorder_budget) */
	struct reorder_stats stats;
};

struct reorder *reorder_new(unsigned slots, size_t slot_bytes)
{
	struct reorder *r;

	if (slots == 0 || slot_bytes == 0 || slots > UINT32_MAX / 2 ||
	    slot_bytes > SIZE_MAX / slots)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->slots = slots;
	r->slot_bytes = slot_bytes;
	r->order_cap = 2 * slots;
	r->budget = UINT64_MAX;
	r->slot = calloc(slots, sizeof(*r->slot));
	r->data = malloc(slots * slot_bytes);
	r->order = calloc(r->order_cap, sizeof(*r->order));
	if (!r->slot || !r->data || !r->order) {
		reorder_free(r);
		return NULL;
	}
	return r;
}

int reorder_grow(struct reorder *r, unsigned slots)
{
	struct slot *slot;
	uint8_t *data;
	uint64_t *order;

	if (slots <= r->slots || slots > UINT32_MAX / 2 || r->slot_bytes > SIZE_MAX / slots)
		return -1;
	slot = calloc(slots, sizeof(*slot));
	data = malloc(slots * r->slot_bytes);
	order = calloc(2 * (size_t)slots, sizeof(*order));
	if (!slot || !data || !order) {
		free(slot);
		free(data);
		free(order);
		return -1;
	}
	/* Every held seq lies in (next, next + old slots]: distinct places
	 * in the larger ring too. */
	for (unsigned i = 0; i < r->slots; i++) {
		const struct slot *s = &r->slot[i];
		if (!s->seq)
			continue;
		slot[s->seq % slots] = *s;
		memcpy(data + (size_t)(s->seq % slots) * r->slot_bytes,
		       r->data + (size_t)i * r->slot_bytes, s->len);
	}
	for (unsigned i = 0; i < r->order_len; i++)
		order[i] = r->order[(r->order_head + i) % r->order_cap];
	free(r->slot);
	free(r->data);
	free(r->order);
	r->slot = slot;
	r->data = data;
	r->order = order;
	r->order_head = 0;
	r->order_cap = 2 * slots;
	r->slots = slots;
	return 0;
}

unsigned reorder_slots(const struct reorder *r)
{
	return r->slots;
}

void reorder_free(struct reorder *r)
{
	if (!r)
		return;
	free(r->slot);
	free(r->data);
	free(r->order);
	free(r);
}

void reorder_reset(struct reorder *r)
{
	r->stats.dropped += r->held;
	for (unsigned i = 0; i < r->slots; i++)
		r->slot[i].seq = 0;
	r->next = 0;
	r->held = 0;
	r->order_head = 0;
	r->order_len = 0;
}

static struct slot *slot_of(const struct reorder *r, uint64_t seq)
{
	return &r->slot[seq % r->slots];
}

static int is_held(const struct reorder *r, uint64_t seq)
{
	return slot_of(r, seq)->seq == seq;
}

static void emit(reorder_deliver_fn *deliver, void *ctx, const uint8_t *p, size_t len)
{
	if (p)
		deliver(ctx, p, len);
}

/* Delivers held seq and empties its slot. */
static void release(struct reorder *r, uint64_t seq, reorder_deliver_fn *deliver, void *ctx)
{
	struct slot *s = slot_of(r, seq);
	const uint8_t *p = r->data + (size_t)(seq % r->slots) * r->slot_bytes;

	s->seq = 0;
	r->held--;
	if (r->budget)
		r->budget--;
	emit(deliver, ctx, s->control ? NULL : p, s->len);
}

/* Delivers the run of held packets starting at next, at most max of them
 * (the budget, or UINT64_MAX to make room: the slot of next is wanted;
 * either way what goes is taken from the budget). */
static uint64_t drain(struct reorder *r, uint64_t max, reorder_deliver_fn *deliver, void *ctx)
{
	uint64_t n = 0;

	for (; n < max && r->held && is_held(r, r->next); r->next++, n++)
		release(r, r->next, deliver, ctx);
	return n;
}

/* Gives up on every seq below target: delivers the held ones in order,
 * counts the rest as holes, and leaves next at target. Stops scanning when
 * nothing is held any more, so a far target costs at most `slots` steps.
 * Returns how many held packets it released. */
static uint64_t skip_to(struct reorder *r, uint64_t target, reorder_deliver_fn *deliver, void *ctx)
{
	uint64_t released = 0;

	if (target <= r->next)
		return 0;
	for (uint64_t s = r->next; s < target && r->held; s++) {
		if (is_held(r, s)) {
			release(r, s, deliver, ctx);
			released++;
		}
	}
	r->stats.holes_skipped += target - r->next - released;
	r->next = target;
	return released;
}

/* Drops delivered entries from the head of the arrival FIFO. */
static void order_trim(struct reorder *r)
{
	while (r->order_len && !is_held(r, r->order[r->order_head])) {
		r->order_head = (r->order_head + 1) % r->order_cap;
		r->order_len--;
	}
	if (!r->order_len)
		r->order_head = 0;
}

static void hold(struct reorder *r, uint64_t seq, const uint8_t *payload, size_t len,
		 uint64_t now_us)
{
	struct slot *s = slot_of(r, seq);

	*s = (struct slot){
		.seq = seq, .arrived_us = now_us, .len = len, .control = !payload,
	};
	if (payload)
		memcpy(r->data + (size_t)(seq % r->slots) * r->slot_bytes, payload, len);
	r->order[(r->order_head + r->order_len) % r->order_cap] = seq;
	r->order_len++;
	r->held++;
	r->stats.buffered++;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void reorder_expire(struct reorder *r, uint64_t now_us, uint64_t hold_us,
		    reorder_deliver_fn *deliver, void *ctx)
{
	order_trim(r);
	while (r->order_len) {
		uint64_t oldest = r->order[r->order_head];

		if (add_sat(slot_of(r, oldest)->arrived_us, hold_us) > now_us)
			break;
		/* Everything held before the oldest arrived later, so it is
		 * released early rather than late; the run after it follows. */
		r->stats.released_late += skip_to(r, oldest, deliver, ctx);
		/* it has waited its bound: it goes, budget or not */
		release(r, r->next++, deliver, ctx);
		r->stats.released_late++;
		r->stats.released_late += drain(r, r->budget, deliver, ctx);
		order_trim(r);
	}
}

void reorder_push(struct reorder *r, uint64_t seq, const uint8_t *payload, size_t len,
		  uint64_t now_us, uint64_t hold_us, reorder_deliver_fn *deliver, void *ctx)
{
	reorder_expire(r, now_us, hold_us, deliver, ctx);
	if (r->next == 0)
		r->next = seq;
	if (seq < r->next) {
		r->stats.late++;
		emit(deliver, ctx, payload, len);
		return;
	}
	if (seq >= r->next && is_held(r, seq)) {
		r->stats.dup++;
		return;
	}
	if (seq > r->next && hold_us && len <= r->slot_bytes) {
		/* More than a ring ahead: give up the oldest to make room. */
		if (seq - r->next > r->slots) {
			r->stats.overflow += skip_to(r, seq - r->slots, deliver, ctx);
			r->stats.overflow += drain(r, UINT64_MAX, deliver, ctx);
		}
		if (seq > r->next) {
			order_trim(r);	/* a live head keeps the FIFO bound */
			hold(r, seq, payload, len, now_us);
			return;
		}
	}
	if (seq > r->next) {
		/* Cannot (too big for a slot) or need not (no hold) wait: what
		 * is before seq goes now; with no hold, the expiry above has
		 * already released all of it. */
		r->stats.overflow += skip_to(r, seq, deliver, ctx);
		if (hold_us)
			r->stats.bypass++;
		else
			r->stats.in_order++;
	} else {
		r->stats.in_order++;
	}
	emit(deliver, ctx, payload, len);
	r->next = seq + 1;
	r->stats.filled += drain(r, r->budget, deliver, ctx);
	order_trim(r);
}

uint64_t reorder_deadline(const struct reorder *r, uint64_t hold_us)
{
	if (!r->order_len)
		return UINT64_MAX;
	return add_sat(slot_of(r, r->order[r->order_head])->arrived_us, hold_us);
}

unsigned reorder_missing(const struct reorder *r, uint64_t from, uint64_t below,
			 uint8_t *map, unsigned max_bits, uint64_t *base)
{
	unsigned span = 0;

	if (!r->next || !r->held || !max_bits)
		return 0;
	if (from < r->next)
		from = r->next;
	if (below > r->next + r->slots + 1)
		below = r->next + r->slots + 1;
	*base = 0;
	for (uint64_t s = from; s < below; s++) {
		if (is_held(r, s))
			continue;
		if (!*base)
			*base = s;
		if (s - *base >= max_bits)
			break;
		map[(s - *base) / 8] |= (uint8_t)(1u << (s - *base) % 8);
		span = (unsigned)(s - *base) + 1;
	}
	return span;
}

uint64_t reorder_waited(const struct reorder *r, uint64_t before_us, uint64_t *later_us)
{
	uint64_t top = 0;

	*later_us = UINT64_MAX;
	for (unsigned i = 0; i < r->order_len; i++) {
		uint64_t seq = r->order[(r->order_head + i) % r->order_cap];
		const struct slot *s = slot_of(r, seq);
		if (s->seq != seq)
			continue;		/* delivered, left in place */
		if (s->arrived_us > before_us) {
			*later_us = s->arrived_us;
			break;
		}
		if (seq > top)
			top = seq;
	}
	return top;
}

unsigned reorder_held(const struct reorder *r)
{
	return r->held;
}

uint64_t reorder_next(const struct reorder *r)
{
	return r->next;
}

const struct reorder_stats *reorder_stats_get(const struct reorder *r)
{
	return &r->stats;
}

/* A packet sent at the same moment on the fastest and the slowest path
 * arrives about half the RTT spread later on the slow one (one-way, taking
 * the paths as symmetric): that is how long a hole can be "in flight" rather
 * than lost. On top, a jitter margin of 2 x the largest rttvar: TCP's RTO
 * takes srtt + 4 x rttvar for a round trip, and half of it covers one way.
 * Clamped to [REORDER_AUTO_MIN_US, REORDER_AUTO_MAX_US]. */
uint64_t reorder_auto_hold_us(const uint32_t *srtt_us, const uint32_t *rttvar_us, unsigned n)
{
	uint32_t lo = UINT32_MAX, hi = 0, var = 0;
	uint64_t hold_us;

	for (unsigned i = 0; i < n; i++) {
		if (srtt_us[i] == 0)
			continue;
		if (srtt_us[i] < lo)
			lo = srtt_us[i];
		if (srtt_us[i] > hi)
			hi = srtt_us[i];
		if (rttvar_us[i] > var)
			var = rttvar_us[i];
	}
	if (hi == 0)
		return REORDER_AUTO_MIN_US;
	hold_us = (uint64_t)(hi - lo) / 2 + 2 * (uint64_t)var;
	if (hold_us < REORDER_AUTO_MIN_US)
		return REORDER_AUTO_MIN_US;
	if (hold_us > REORDER_AUTO_MAX_US)
		return REORDER_AUTO_MAX_US;
	return hold_us;
}

void reorder_budget(struct reorder *r, uint64_t n)
{
	r->budget = n;
}

uint64_t reorder_budget_left(const struct reorder *r)
{
	return r->budget;
}

int reorder_pending(const struct reorder *r)
{
	return r->held && r->next && is_held(r, r->next);
}

uint64_t reorder_resume(struct reorder *r, reorder_deliver_fn *deliver, void *ctx)
{
	uint64_t n = drain(r, r->budget, deliver, ctx);

	r->stats.filled += n;
	order_trim(r);
	return n;
}
