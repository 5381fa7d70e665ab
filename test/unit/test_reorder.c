/* Unit tests of common/reorder.c: the reorder buffer. Table-driven scripts
 * (push/expire/reset and the exact deliveries and counters they must give),
 * edges of the ring and of far jumps, the automatic hold, and a property
 * test over random arrival orders, losses and timings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reorder.h"
#include "prng.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))


/* ---- payloads and the delivery recorder ------------------------------- */

/* A payload is its seq (8 bytes, little endian) followed by a pattern
 * derived from the seq, and its length depends on the seq too, so the
 * recorder can check that what comes out is byte for byte what went in. */
enum { SLOT_BYTES = 64, BIG_BYTES = 100, MAX_OUT = 1 << 16 };

static size_t payload_len(uint64_t seq)
{
	return 8 + (size_t)(seq % 17);
}

static void payload_make(uint8_t *p, uint64_t seq, size_t len)
{
	for (size_t i = 0; i < 8; i++)
		p[i] = (uint8_t)(seq >> (8 * i));
	for (size_t i = 8; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i);
}

struct recorder {
	uint64_t seq[MAX_OUT];
	uint64_t now_us;		/* time of the current call, for the bound */
	uint64_t at_us[MAX_OUT];
	size_t n;
};

static struct recorder rec;

static void record(void *ctx, const uint8_t *p, size_t len)
{
	struct recorder *rc = ctx;
	uint8_t want[BIG_BYTES];
	uint64_t seq = 0;

	assert_true(len >= 8 && len <= BIG_BYTES);
	for (size_t i = 0; i < 8; i++)
		seq |= (uint64_t)p[i] << (8 * i);
	assert_true(len == payload_len(seq) || len == BIG_BYTES ||
		    len == SLOT_BYTES || len == SLOT_BYTES + 1);
	payload_make(want, seq, len);
	assert_memory_equal(p, want, len);
	assert_true(rc->n < MAX_OUT);
	rc->at_us[rc->n] = rc->now_us;
	rc->seq[rc->n++] = seq;
}

static void push_data(struct reorder *r, uint64_t seq, size_t len, uint64_t now_us,
		      uint64_t hold_us)
{
	uint8_t p[BIG_BYTES];

	payload_make(p, seq, len);
	rec.now_us = now_us;
	reorder_push(r, seq, p, len, now_us, hold_us, record, &rec);
}

static void push_ctrl(struct reorder *r, uint64_t seq, uint64_t now_us, uint64_t hold_us)
{
	rec.now_us = now_us;
	reorder_push(r, seq, NULL, 0, now_us, hold_us, record, &rec);
}

static void expire_at(struct reorder *r, uint64_t now_us, uint64_t hold_us)
{
	rec.now_us = now_us;
	reorder_expire(r, now_us, hold_us, record, &rec);
}

/* The counters' two conservation laws: every push is counted once, and
 * every buffered packet leaves by exactly one door or is still held. */
static void check_conservation(const struct reorder *r, uint64_t pushes)
{
	const struct reorder_stats *s = reorder_stats_get(r);

	assert_true(s->in_order + s->buffered + s->late + s->bypass + s->dup == pushes);
	assert_true(s->buffered == s->filled + s->released_late + s->overflow +
				   s->dropped + reorder_held(r));
}

/* ---- allocation --------------------------------------------------------- */

static void test_new_bounds(void **state)
{
	struct reorder *r;

	(void)state;
	assert_null(reorder_new(0, 2048));
	assert_null(reorder_new(256, 0));
	assert_null(reorder_new(UINT32_MAX, 2048));
	assert_null(reorder_new(1u << 20, SIZE_MAX / 1024));
	reorder_free(NULL);

	r = reorder_new(256, 2048);
	assert_non_null(r);
	assert_int_equal(reorder_held(r), 0);
	assert_true(reorder_deadline(r, 1000) == UINT64_MAX);
	assert_true(reorder_deadline(r, 0) == UINT64_MAX);
	reorder_free(r);
}

/* ---- scripts ------------------------------------------------------------- */

enum op_kind { END = 0, PUSH, CTRL, BIG, EXPIRE, RESET, DEADLINE };

struct op {
	enum op_kind kind;
	uint64_t seq;		/* DEADLINE: the expected deadline */
	uint64_t t_us;
	const char *out;	/* seqs delivered by this op, space separated */
};

struct script {
	const char *name;
	unsigned slots;
	uint64_t hold_us;
	struct op ops[16];
	struct reorder_stats want;	/* exact counters at the end */
	unsigned held;			/* held at the end */
};

#define NONE_US UINT64_MAX

static const struct script scripts[] = {
	{ "in order", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 2, 1, "2" }, { PUSH, 3, 2, "3" },
		{ DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 3 }, 0 },
	{ "one swap", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 10, "" }, { DEADLINE, 1010, 0, "" },
		{ PUSH, 2, 20, "2 3" }, { DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 2, .buffered = 1, .filled = 1 }, 0 },
	{ "hole skipped at the deadline, then the straggler is late", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 100, "" }, { PUSH, 4, 200, "" },
		{ EXPIRE, 0, 1099, "" }, { DEADLINE, 1100, 0, "" },
		{ EXPIRE, 0, 1100, "3 4" }, { DEADLINE, NONE_US, 0, "" },
		{ PUSH, 2, 1200, "2" }, { PUSH, 5, 1300, "5" },
	  }, { .in_order = 2, .buffered = 2, .released_late = 2, .holes_skipped = 1,
	       .late = 1 }, 0 },
	{ "the bound is per packet: a later arrival waits its own time", 8, 100, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 0, "" }, { PUSH, 5, 60, "" },
		{ DEADLINE, 100, 0, "" }, { EXPIRE, 0, 100, "3" },
		{ DEADLINE, 160, 0, "" }, { EXPIRE, 0, 159, "" },
		{ EXPIRE, 0, 160, "5" }, { DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 1, .buffered = 2, .released_late = 2, .holes_skipped = 2 }, 0 },
	{ "a younger packet before the oldest goes out with it", 8, 100, {
		{ PUSH, 1, 0, "1" }, { PUSH, 4, 0, "" }, { PUSH, 3, 50, "" },
		{ DEADLINE, 100, 0, "" }, { EXPIRE, 0, 100, "3 4" },
		{ DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 1, .buffered = 2, .released_late = 2, .holes_skipped = 1 }, 0 },
	{ "a push past the deadline releases first", 8, 100, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 0, "" }, { PUSH, 10, 150, "3" },
		{ DEADLINE, 250, 0, "" },
	  }, { .in_order = 1, .buffered = 2, .released_late = 1, .holes_skipped = 1 }, 1 },
	{ "a control packet fills a hole and delivers nothing", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 1, "" }, { CTRL, 2, 2, "3" },
		{ CTRL, 4, 3, "" }, { PUSH, 5, 4, "5" },
	  }, { .in_order = 4, .buffered = 1, .filled = 1 }, 0 },
	{ "a held control packet is passed over silently", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { CTRL, 3, 1, "" }, { PUSH, 4, 2, "" },
		{ PUSH, 2, 3, "2 4" }, { CTRL, 6, 4, "" }, { EXPIRE, 0, 1004, "" },
		{ DEADLINE, NONE_US, 0, "" }, { CTRL, 5, 1005, "" }, { PUSH, 7, 1006, "7" },
	  }, { .in_order = 3, .buffered = 3, .filled = 2, .released_late = 1,
	       .holes_skipped = 1, .late = 1 }, 0 },
	{ "hold 0 skips holes at once", 8, 0, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 0, "3" }, { PUSH, 2, 0, "2" },
		{ PUSH, 7, 0, "7" }, { DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 3, .holes_skipped = 4, .late = 1 }, 0 },
	{ "ring edge: next + slots is held, one more releases the oldest", 4, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 1, "" }, { PUSH, 4, 2, "" },
		{ PUSH, 6, 3, "" }, { PUSH, 7, 4, "3 4" }, { PUSH, 5, 5, "5 6 7" },
	  }, { .in_order = 2, .buffered = 4, .filled = 2, .overflow = 2,
	       .holes_skipped = 1 }, 0 },
	{ "overflow: far ahead releases in order and skips holes", 4, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 1, "" }, { PUSH, 5, 2, "" },
		{ PUSH, 20, 3, "3 5" }, { DEADLINE, 1003, 0, "" },
		{ PUSH, 17, 4, "" }, { PUSH, 16, 5, "16 17" },
		{ PUSH, 2, 6, "2" }, { PUSH, 10, 7, "10" },
	  }, { .in_order = 2, .buffered = 4, .filled = 1, .overflow = 2,
	       .holes_skipped = 1 + 1 + 10, .late = 2 }, 1 },
	{ "bypass: too big to hold flushes what is before it", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 1, "" }, { PUSH, 6, 2, "" },
		{ BIG, 5, 3, "3 5 6" }, { PUSH, 4, 4, "4" }, { BIG, 7, 5, "7" },
		{ BIG, 4, 6, "4" }, { DEADLINE, NONE_US, 0, "" },
	  }, { .in_order = 2, .buffered = 2, .filled = 1, .overflow = 1, .bypass = 1,
	       .holes_skipped = 2, .late = 2 }, 0 },
	{ "a seq pushed twice while held is refused", 8, 1000, {
		{ PUSH, 1, 0, "1" }, { PUSH, 3, 1, "" }, { PUSH, 3, 2, "" },
		{ PUSH, 2, 3, "2 3" },
	  }, { .in_order = 2, .buffered = 1, .filled = 1, .dup = 1 }, 0 },
	{ "reset drops what is held and starts over anywhere", 8, 1000, {
		{ PUSH, 10, 0, "10" }, { PUSH, 12, 1, "" }, { RESET, 0, 2, "" },
		{ DEADLINE, NONE_US, 0, "" }, { PUSH, 5, 3, "5" }, { PUSH, 7, 4, "" },
		{ PUSH, 4, 5, "4" }, { PUSH, 6, 6, "6 7" },
	  }, { .in_order = 3, .buffered = 2, .filled = 1, .dropped = 1, .late = 1 }, 0 },
	{ "the first seq starts the sequence: what is before it is late", 8, 1000, {
		{ PUSH, 1000, 0, "1000" }, { PUSH, 999, 1, "999" }, { CTRL, 998, 2, "" },
		{ PUSH, 1001, 3, "1001" },
	  }, { .in_order = 2, .late = 2 }, 0 },
};

static void check_out(const char *what, size_t from, const char *out)
{
	char want[256] = "", got[256] = "";
	size_t off = 0;

	for (size_t i = from; i < rec.n; i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%llu",
					i > from ? " " : "", (unsigned long long)rec.seq[i]);
	snprintf(want, sizeof(want), "%s", out);
	if (strcmp(want, got) != 0)
		fail_msg("%s: delivered \"%s\", expected \"%s\"", what, got, want);
}

static void run_script(const struct script *sc)
{
	struct reorder *r = reorder_new(sc->slots, SLOT_BYTES);
	const struct reorder_stats *s;
	uint64_t pushes = 0;
	char what[160];

	assert_non_null(r);
	rec.n = 0;
	for (size_t i = 0; sc->ops[i].kind != END; i++) {
		const struct op *op = &sc->ops[i];
		size_t before = rec.n;

		snprintf(what, sizeof(what), "%s, op %zu", sc->name, i);
		switch (op->kind) {
		case PUSH:
			push_data(r, op->seq, payload_len(op->seq), op->t_us, sc->hold_us);
			pushes++;
			break;
		case BIG:
			push_data(r, op->seq, BIG_BYTES, op->t_us, sc->hold_us);
			pushes++;
			break;
		case CTRL:
			push_ctrl(r, op->seq, op->t_us, sc->hold_us);
			pushes++;
			break;
		case EXPIRE:
			expire_at(r, op->t_us, sc->hold_us);
			break;
		case RESET:
			reorder_reset(r);
			break;
		case DEADLINE:
			if (reorder_deadline(r, sc->hold_us) != op->seq)
				fail_msg("%s: deadline %llu, expected %llu", what,
					 (unsigned long long)reorder_deadline(r, sc->hold_us),
					 (unsigned long long)op->seq);
			break;
		case END:
			break;
		}
		check_out(what, before, op->out);
		check_conservation(r, pushes);
	}
	s = reorder_stats_get(r);
	if (memcmp(s, &sc->want, sizeof(*s)) != 0)
		fail_msg("%s: counters in_order %llu buffered %llu filled %llu "
			 "released_late %llu holes %llu late %llu bypass %llu "
			 "overflow %llu dropped %llu dup %llu", sc->name,
			 (unsigned long long)s->in_order, (unsigned long long)s->buffered,
			 (unsigned long long)s->filled, (unsigned long long)s->released_late,
			 (unsigned long long)s->holes_skipped, (unsigned long long)s->late,
			 (unsigned long long)s->bypass, (unsigned long long)s->overflow,
			 (unsigned long long)s->dropped, (unsigned long long)s->dup);
	assert_int_equal(reorder_held(r), sc->held);
	reorder_free(r);
}

static void test_scripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(scripts); i++)
		run_script(&scripts[i]);
}

/* ---- payload sizes --------------------------------------------------------- */

static size_t empties;

static void count_empty(void *ctx, const uint8_t *p, size_t len)
{
	(void)ctx;
	assert_non_null(p);
	assert_int_equal(len, 0);
	empties++;
}

/* A payload of exactly slot_bytes is held; one byte more bypasses. An
 * empty datagram (non-NULL, length 0) is data, not a control packet. */
static void test_sizes(void **state)
{
	static const uint8_t nothing[1];
	struct reorder *r = reorder_new(8, SLOT_BYTES);
	const struct reorder_stats *s = reorder_stats_get(r);

	(void)state;
	assert_non_null(r);
	rec.n = 0;
	push_data(r, 1, payload_len(1), 0, 1000);
	push_data(r, 3, SLOT_BYTES, 1, 1000);
	assert_int_equal(rec.n, 1);
	assert_int_equal(reorder_held(r), 1);
	push_data(r, 5, SLOT_BYTES + 1, 2, 1000);
	check_out("sizes", 1, "3 5");
	assert_true(s->bypass == 1 && s->overflow == 1 && s->holes_skipped == 2);
	/* in order, a big one needs no slot and is simply in order */
	push_data(r, 6, BIG_BYTES, 3, 1000);
	check_out("sizes", 3, "6");
	assert_true(s->bypass == 1 && s->in_order == 2);
	reorder_free(r);

	r = reorder_new(8, SLOT_BYTES);
	assert_non_null(r);
	empties = 0;
	reorder_push(r, 1, nothing, 0, 0, 1000, count_empty, NULL);
	assert_int_equal(empties, 1);
	reorder_push(r, 3, nothing, 0, 1, 1000, count_empty, NULL);
	assert_int_equal(empties, 1);
	reorder_push(r, 2, NULL, 0, 2, 1000, count_empty, NULL);
	assert_int_equal(empties, 2);
	reorder_free(r);
}

/* ---- the arrival FIFO at its fullest --------------------------------------- */

/* The oldest held packet A sits at next + slots; everything between is
 * buffered after it and then released but one (so A stays held, and the
 * FIFO keeps slots - 2 delivered entries behind it); then slots - 1 more
 * arrive beyond A. The deadline must still be A's, and one expiry at it
 * must release everything, in order. */
static void test_fifo_full(void **state)
{
	static const unsigned sizes[] = { 2, 3, 4, 17, 256 };
	const uint64_t hold_us = 1000;

	(void)state;
	for (size_t z = 0; z < N_ELEMS(sizes); z++) {
		unsigned slots = sizes[z];
		struct reorder *r = reorder_new(slots, SLOT_BYTES);
		uint64_t a = 2 + slots;

		assert_non_null(r);
		rec.n = 0;
		push_data(r, 1, payload_len(1), 0, hold_us);
		push_data(r, a, payload_len(a), 0, hold_us);
		for (uint64_t s = 3; s < a - 1; s++)
			push_data(r, s, payload_len(s), 1, hold_us);
		push_data(r, 2, payload_len(2), 2, hold_us);
		assert_int_equal(rec.n, slots);
		assert_true(reorder_next(r) == a - 1);
		for (uint64_t s = a + 1; s < a + slots; s++)
			push_data(r, s, payload_len(s), 3, hold_us);
		assert_int_equal(reorder_held(r), slots);
		assert_true(reorder_deadline(r, hold_us) == hold_us);
		expire_at(r, hold_us, hold_us);
		assert_int_equal(reorder_held(r), 0);
		assert_int_equal(rec.n, 2 * slots);
		for (size_t i = 0; i < rec.n; i++)
			assert_true(rec.seq[i] == 1 + i + (i >= a - 2));
		reorder_free(r);
	}
}

/* ---- the ring's edges, for several sizes and bases ---------------------- */

/* With next = base + 1, seqs up to next + slots are held; next + slots + d
 * forces out exactly the d oldest seqs (held or holes). */
static void test_ring_edge(void **state)
{
	static const unsigned sizes[] = { 1, 2, 3, 64, 255, 256 };
	static const uint64_t bases[] = { 1, 1000, (UINT64_C(1) << 48) - 600 };

	(void)state;
	for (size_t z = 0; z < N_ELEMS(sizes); z++) {
		for (size_t b = 0; b < N_ELEMS(bases); b++) {
			for (uint64_t d = 0; d <= 3; d++) {
				unsigned slots = sizes[z];
				uint64_t base = bases[b], next = base + 1;
				struct reorder *r = reorder_new(slots, SLOT_BYTES);

				assert_non_null(r);
				rec.n = 0;
				push_data(r, base, payload_len(base), 0, 1000);
				/* hold every other seq of (next, next + slots), keeping
				 * next + slots - 1 and leaving next + slots free */
				unsigned held = 0;
				for (uint64_t s = next + slots - 1; s > next; s -= 2, held++)
					push_data(r, s, payload_len(s), 1, 1000);
				assert_int_equal(rec.n, 1);
				assert_int_equal(reorder_held(r), held);
				push_data(r, next + slots + d, payload_len(next + slots + d), 2, 1000);
				/* the d oldest seqs go (held ones in order, the rest
				 * are holes), then the run that follows if held */
				uint64_t below = 0, run = 0;
				for (uint64_t s = next + 1; s < next + d; s++)
					below += s < next + slots && (next + slots - s) % 2 == 1;
				if (d && next + d < next + slots && (slots - d) % 2 == 1)
					run = 1;
				const struct reorder_stats *st = reorder_stats_get(r);
				assert_true(st->overflow == below + run);
				assert_true(rec.n == 1 + below + run);
				assert_true(st->holes_skipped == d - below);
				for (size_t i = 1; i < rec.n; i++)
					assert_true(rec.seq[i] > rec.seq[i - 1]);
				for (size_t i = 1; i < rec.n; i++)
					assert_true(rec.seq[i] <= next + slots);
				check_conservation(r, 2 + held);
				/* flushing everything delivers each held seq exactly once */
				expire_at(r, 2000, 1000);
				assert_int_equal(reorder_held(r), 0);
				assert_int_equal(rec.n, 1 + held + 1);
				for (size_t i = 1; i < rec.n; i++)
					assert_true(rec.seq[i] > rec.seq[i - 1]);
				reorder_free(r);
			}
		}
	}
}

/* ---- far jumps: bounded work whatever the distance ------------------------ */

static void test_far_jump(void **state)
{
	static const uint64_t jumps[] = {
		1000000, UINT64_C(1) << 32, (UINT64_C(1) << 48) - 10,
	};

	(void)state;
	for (size_t j = 0; j < N_ELEMS(jumps); j++) {
		struct reorder *r = reorder_new(256, SLOT_BYTES);
		uint64_t far = 1 + jumps[j];
		const struct reorder_stats *s = reorder_stats_get(r);

		assert_non_null(r);
		rec.n = 0;
		push_data(r, 1, payload_len(1), 0, 1000);
		push_data(r, 3, payload_len(3), 0, 1000);
		push_data(r, 200, payload_len(200), 0, 1000);
		push_data(r, far, payload_len(far), 1, 1000);
		/* 3 and 200 are forced out; far waits at next + 256 */
		check_out("far jump", 1, "3 200");
		assert_int_equal(reorder_held(r), 1);
		assert_true(s->holes_skipped == (far - 256) - 2 - 2);
		assert_true(s->overflow == 2);
		/* the new next is far - 256: pushing it is in order */
		push_data(r, far - 256, payload_len(far - 256), 2, 1000);
		assert_int_equal(rec.n, 4);
		assert_true(rec.seq[3] == far - 256);
		assert_true(reorder_deadline(r, 1000) == 1001);
		expire_at(r, 1001, 1000);
		assert_int_equal(rec.n, 5);
		assert_true(rec.seq[4] == far);
		assert_true(s->holes_skipped == (far - 256) - 2 - 2 + 255);
		assert_int_equal(reorder_held(r), 0);
		reorder_free(r);
	}
	/* A thousand jumps of 2^36 each would take forever if the work grew
	 * with the distance. */
	struct reorder *r = reorder_new(256, SLOT_BYTES);
	uint64_t seq = 1;

	assert_non_null(r);
	rec.n = 0;
	push_data(r, seq, payload_len(seq), 0, 1000000);
	for (int i = 0; i < 1000; i++) {
		seq += UINT64_C(1) << 36;
		push_data(r, seq + 1, payload_len(seq + 1), (uint64_t)i, 1000000);
		push_data(r, seq, payload_len(seq), (uint64_t)i, 1000000);
	}
	/* each jump forces out the pair before it, in order */
	assert_int_equal(rec.n, 1 + 2 * 999);
	for (size_t i = 1; i < rec.n; i++)
		assert_true(rec.seq[i] > rec.seq[i - 1]);
	assert_int_equal(reorder_held(r), 2);
	assert_true(reorder_next(r) == seq + 1 - 256);
	reorder_free(r);
}

/* ---- the automatic hold -------------------------------------------------- */

/* Loss recovery's view: the missing seqs from next on, within a range and
 * a span, the first one the base; a ring's worth at most. */
static void test_missing(void **state)
{
	struct reorder *r = reorder_new(16, SLOT_BYTES);
	uint8_t map[4];
	uint64_t base = 99;

	(void)state;
	memset(map, 0, sizeof(map));
	assert_int_equal(reorder_missing(r, 0, 100, map, 32, &base), 0);	/* nothing yet */
	push_data(r, 10, payload_len(10), 1000, 1000000);
	assert_int_equal(reorder_missing(r, 0, 100, map, 32, &base), 0);	/* nothing held */
	push_data(r, 12, payload_len(12), 1000, 1000000);
	push_ctrl(r, 15, 1000, 1000000);		/* a control packet fills its seq */
	push_data(r, 17, payload_len(17), 1000, 1000000);
	/* next is 11: missing 11, 13, 14, 16 */
	assert_int_equal(reorder_missing(r, 0, 18, map, 32, &base), 6);
	assert_int_equal(base, 11);
	assert_int_equal(map[0], 0x01 | 0x04 | 0x08 | 0x20);
	assert_int_equal(map[1], 0);
	/* from a seq, below a seq, within a span */
	memset(map, 0, sizeof(map));
	assert_int_equal(reorder_missing(r, 13, 16, map, 32, &base), 2);
	assert_int_equal(base, 13);
	assert_int_equal(map[0], 0x03);
	memset(map, 0, sizeof(map));
	assert_int_equal(reorder_missing(r, 0, 18, map, 3, &base), 3);	/* 11..13 */
	assert_int_equal(map[0], 0x05);
	memset(map, 0, sizeof(map));
	assert_int_equal(reorder_missing(r, 17, 18, map, 32, &base), 0);	/* 17 is held */
	/* beyond what the ring can hold, nothing is missing yet */
	memset(map, 0, sizeof(map));
	assert_int_equal(reorder_missing(r, 20, 1000, map, 32, &base), 8);	/* 20..27 */
	assert_int_equal(base, 20);
	reorder_free(r);
}

/* The highest seq held that has waited, and when the next one came. */
static void test_waited(void **state)
{
	struct reorder *r = reorder_new(16, SLOT_BYTES);
	uint64_t later;

	(void)state;
	push_data(r, 1, payload_len(1), 1000, 1000000);
	assert_int_equal(reorder_waited(r, 5000, &later), 0);
	assert_true(later == UINT64_MAX);
	push_data(r, 5, payload_len(5), 1000, 1000000);
	push_data(r, 3, payload_len(3), 2000, 1000000);
	push_data(r, 8, payload_len(8), 3000, 1000000);
	assert_int_equal(reorder_waited(r, 999, &later), 0);
	assert_int_equal(later, 1000);
	assert_int_equal(reorder_waited(r, 2000, &later), 5);	/* 5 and 3 */
	assert_int_equal(later, 3000);
	assert_int_equal(reorder_waited(r, 3000, &later), 8);
	assert_true(later == UINT64_MAX);
	push_data(r, 2, payload_len(2), 4000, 1000000);			/* 2, 3 go */
	assert_int_equal(reorder_waited(r, 1500, &later), 5);
	push_data(r, 4, payload_len(4), 4000, 1000000);			/* 4, 5 go */
	assert_int_equal(reorder_waited(r, 1500, &later), 0);
	assert_int_equal(later, 3000);
	reorder_free(r);
}

static void test_auto_hold(void **state)
{
	static const struct {
		uint32_t srtt[4], var[4];
		unsigned n;
		uint64_t want_us;
	} cases[] = {
		{ { 0 }, { 0 }, 0, 1000 },			/* no path: the floor */
		{ { 50000 }, { 0 }, 1, 1000 },			/* one path: no spread */
		{ { 0, 0 }, { 9000, 9000 }, 2, 1000 },		/* none measured */
		{ { 10000, 50000 }, { 0, 0 }, 2, 20000 },	/* half the spread */
		{ { 50000, 10000 }, { 0, 0 }, 2, 20000 },	/* order does not matter */
		{ { 10000, 50000 }, { 1000, 3000 }, 2, 26000 },	/* + 2 x max rttvar */
		{ { 10000, 50000 }, { 3000, 1000 }, 2, 26000 },
		{ { 20000, 0, 30000 }, { 500, 99999, 500 }, 3, 6000 }, /* unmeasured ignored */
		{ { 20000, 25000, 30000, 21000 }, { 0, 0, 0, 0 }, 4, 5000 },
		{ { 10000, 10000 }, { 200, 100 }, 2, 1000 },	/* 400: clamped up */
		{ { 10000, 12000 }, { 0, 0 }, 2, 1000 },	/* exactly the floor */
		{ { 10000, 12002 }, { 0, 0 }, 2, 1001 },
		{ { 10000, 1010000 }, { 0, 0 }, 2, 500000 },	/* exactly the ceiling */
		{ { 10000, 1010002 }, { 0, 0 }, 2, 500000 },	/* clamped down */
		{ { 10000, 10000 }, { 249999, 0 }, 2, 499998 },
		{ { 1, UINT32_MAX }, { UINT32_MAX, UINT32_MAX }, 2, 500000 }, /* no overflow */
	};

	(void)state;
	assert_int_equal(REORDER_AUTO_MIN_US, 1000);
	assert_int_equal(REORDER_AUTO_MAX_US, 500000);
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		uint64_t got = reorder_auto_hold_us(cases[i].srtt, cases[i].var, cases[i].n);

		if (got != cases[i].want_us)
			fail_msg("case %zu: %llu us, expected %llu", i,
				 (unsigned long long)got, (unsigned long long)cases[i].want_us);
	}
}

/* ---- property test: random orders, losses and timings --------------------- */

enum { PROP_N = 6000 };

struct arrival {
	uint64_t seq, t_us;
	int kind;		/* PUSH, CTRL or BIG */
};

static struct arrival arr[PROP_N];
static uint64_t arrived_at[PROP_N];	/* by seq - base */
static unsigned char fate[PROP_N];	/* 0 lost, else the arrival's kind */
static unsigned char was_late[PROP_N];
static unsigned delivered[PROP_N];

static int by_time(const void *a, const void *b)
{
	const struct arrival *x = a, *y = b;

	if (x->t_us != y->t_us)
		return x->t_us < y->t_us ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The release budget: a filled hole frees only what the budget allows,
 * the rest stays held in order (pending) until resumed; but the hold
 * bound and the ring's room are never the budget's to hold up. */
static void test_budget(void **state)
{
	struct reorder *r = reorder_new(8, SLOT_BYTES);

	(void)state;
	memset(&rec, 0, sizeof(rec));
	push_data(r, 1, payload_len(1), 0, 100);
	for (uint64_t s = 3; s <= 7; s++)
		push_data(r, s, payload_len(s), 0, 100);
	reorder_budget(r, 2);
	push_data(r, 2, payload_len(2), 10, 100);	/* itself, then 3 and 4 */
	assert_int_equal(rec.n, 4);
	assert_int_equal(reorder_budget_left(r), 0);
	assert_true(reorder_pending(r));
	assert_int_equal(reorder_next(r), 5);
	reorder_budget(r, 1);
	assert_int_equal(reorder_resume(r, record, &rec), 1);
	assert_int_equal(rec.seq[rec.n - 1], 5);
	/* no budget, but 6 has waited its 100 us: it and its run go */
	expire_at(r, 100, 100);
	assert_int_equal(rec.n, 7);
	assert_false(reorder_pending(r));
	/* no budget, and a seq a ring ahead: room is made all the same */
	push_data(r, 9, payload_len(9), 200, 1000);
	push_data(r, 10, payload_len(10), 200, 1000);
	push_data(r, 11, payload_len(11), 200, 1000);	/* 19's slot */
	reorder_budget(r, 0);
	push_data(r, 8 + 8 + 3, payload_len(8 + 8 + 3), 200, 1000);
	for (size_t k = 1; k < rec.n; k++)
		assert_true(rec.seq[k] > rec.seq[k - 1]);
	assert_int_equal(rec.seq[rec.n - 1], 11);
	check_conservation(r, 11);
	reorder_free(r);
}

/* Packets are sent every gap_us over two paths, one fast and one slow with
 * jitter, and some are lost; the buffer sees them in arrival order, with
 * expire called exactly at each deadline in between, as a timer would. */
static void run_property(unsigned slots, uint64_t hold_us, uint64_t base, uint64_t totals[4])
{
	struct reorder *r = reorder_new(slots, SLOT_BYTES);
	const struct reorder_stats *s = reorder_stats_get(r);
	uint64_t gap_us = 1 + prng_below(200), slow_us = prng_below(30000);
	unsigned loss_pm = (unsigned)prng_below(200), n = 0, pushes = 0;
	unsigned data = 0;

	assert_non_null(r);
	for (unsigned i = 0; i < PROP_N; i++) {
		uint64_t seq = base + i, t = i * gap_us;

		fate[i] = 0;
		was_late[i] = 0;
		delivered[i] = 0;
		if (prng_below(1000) < loss_pm)
			continue;
		t += prng_below(2) ? slow_us + prng_below(slow_us / 4 + 1) : prng_below(500);
		arr[n].seq = seq;
		arr[n].t_us = t;
		arr[n].kind = prng_below(10) == 0 ? CTRL : prng_below(200) == 0 ? BIG : PUSH;
		fate[i] = (unsigned char)arr[n].kind;
		arrived_at[i] = t;
		data += arr[n].kind != CTRL;
		n++;
	}
	qsort(arr, n, sizeof(arr[0]), by_time);

	rec.n = 0;
	for (unsigned k = 0; k < n; k++) {
		const struct arrival *a = &arr[k];
		uint64_t d;

		while ((d = reorder_deadline(r, hold_us)) <= a->t_us) {
			size_t before = rec.n;

			expire_at(r, d, hold_us);
			/* each expiry at the deadline moves the deadline on */
			assert_true(reorder_deadline(r, hold_us) > d);
			assert_true(rec.n >= before);
		}

		uint64_t holes = s->holes_skipped, late = s->late;
		uint64_t bypass = s->bypass, next = reorder_next(r);

		if (a->kind == CTRL)
			push_ctrl(r, a->seq, a->t_us, hold_us);
		else
			push_data(r, a->seq, a->kind == BIG ? BIG_BYTES : payload_len(a->seq),
				  a->t_us, hold_us);
		pushes++;
		was_late[a->seq - base] = s->late != late;
		/* nothing is overdue at a push, so a hole is given up on at a push
		 * only to make room, for a bypass, or when there is no hold */
		if (hold_us && s->bypass == bypass && a->seq <= next + slots)
			assert_true(s->holes_skipped == holes);
		if (s->holes_skipped != holes)
			assert_true(reorder_next(r) > next);
		check_conservation(r, pushes);
	}
	for (uint64_t d; (d = reorder_deadline(r, hold_us)) != UINT64_MAX;)
		expire_at(r, d, hold_us);
	assert_int_equal(reorder_held(r), 0);
	assert_true(reorder_deadline(r, hold_us) == UINT64_MAX);

	/* Every hole was given up on once: the seqs after the first to arrive
	 * that were lost, or came as stragglers (those before the first are
	 * stragglers too, but never were holes). */
	uint64_t first = arr[0].seq, top = 0, lost = 0, stragglers = 0;
	for (unsigned k = 0; k < n; k++)
		top = arr[k].seq > top ? arr[k].seq : top;
	for (uint64_t q = first; q < top; q++) {
		lost += fate[q - base] == 0;
		stragglers += was_late[q - base];
	}
	assert_true(s->holes_skipped == lost + stragglers);
	assert_true(reorder_next(r) == top + 1);

	/* Exactly the data packets that arrived came out, once each. */
	assert_int_equal(rec.n, data);
	uint64_t last = 0;
	for (size_t i = 0; i < rec.n; i++) {
		uint64_t off = rec.seq[i] - base;

		assert_true(rec.seq[i] >= base && off < PROP_N);
		assert_true(fate[off] == PUSH || fate[off] == BIG);
		assert_int_equal(delivered[off]++, 0);
		/* in order, except the ones that came after their hole was skipped */
		if (!was_late[off]) {
			assert_true(rec.seq[i] > last);
			last = rec.seq[i];
		} else {
			/* a straggler goes out at once, on its own push */
			assert_true(rec.at_us[i] == arrived_at[off]);
		}
		/* the bound: nobody waited longer than hold_us */
		assert_true(rec.at_us[i] >= arrived_at[off]);
		assert_true(rec.at_us[i] - arrived_at[off] <= hold_us);
	}
	/* the scenario really reordered, held, timed out and met stragglers */
	if (hold_us && slow_us > 10 * gap_us)
		assert_true(s->buffered > 100);
	if (hold_us && loss_pm > 20 && hold_us < slots * gap_us / 2)
		assert_true(s->released_late > 0);
	assert_true(s->in_order + s->buffered + s->late + s->bypass == pushes);
	assert_int_equal(s->dup, 0);
	assert_int_equal(s->dropped, 0);
	totals[0] += s->released_late;
	totals[1] += s->late;
	totals[2] += s->overflow;
	totals[3] += s->bypass;
	reorder_free(r);
}

static void test_property(void **state)
{
	static const unsigned sizes[] = { 1, 4, 64, 256, 8128 };
	static const uint64_t holds[] = { 0, 1, 500, 5000, 20000, 100000 };
	static const uint64_t bases[] = { 1, (UINT64_C(1) << 48) - PROP_N - 1 };
	uint64_t totals[4] = { 0, 0, 0, 0 };

	(void)state;
	prng_state = 7;
	for (uint64_t seed = 0; seed < 120; seed++) {
		unsigned slots = sizes[prng_below(N_ELEMS(sizes))];
		uint64_t hold_us = holds[prng_below(N_ELEMS(holds))];

		run_property(slots, hold_us, bases[prng_below(N_ELEMS(bases))], totals);
	}
	/* every way out was taken, many times */
	for (size_t i = 0; i < N_ELEMS(totals); i++)
		assert_true(totals[i] > 100);
}

/* ---- growing: a ring that doubles before it would overflow ---------------- */

/* A ring that starts small and grows just before each push that would
 * overflow it (as receive.c does), and at random moments too, delivers exactly what one made large
 * from the start does, at the same moments, with the same counters:
 * growing keeps every held packet, its place in the order and its age. */
static void test_grow(void **state)
{
	enum { N = 3000, BIG_RING = 4096 };
	static struct recorder small_out;
	static uint8_t pushed[N];
	static const uint64_t bases[] = { 1, (UINT64_C(1) << 48) - N - 1 };

	(void)state;
	prng_state = 11;
	for (uint64_t round = 0; round < 40; round++) {
		uint64_t base = bases[round % 2], hold_us = round % 3 ? 50000 : 2000, t = 0;
		unsigned start = 1u << prng_below(4), grows = 0;
		struct reorder *small = reorder_new(start, SLOT_BYTES);
		struct reorder *big = reorder_new(BIG_RING, SLOT_BYTES);

		assert_non_null(small);
		assert_non_null(big);
		assert_int_equal(reorder_grow(small, start), -1);	/* not larger */
		small_out.n = 0;
		rec.n = 0;
		memset(pushed, 0, sizeof(pushed));
		for (uint64_t k = 0; k < N; k++) {
			/* in order mostly; 5 % lost; 10 % held back up to 400 seqs */
			uint64_t seq = base + k;
			unsigned dice = prng_below(100);
			if (dice < 5)
				continue;
			if (dice < 15 && k + 400 < N)
				seq = base + k + 1 + prng_below(400);	/* arrives early */
			t += prng_below(40);
			if (pushed[seq - base]++)
				continue;	/* the window's job: each seq once */
			for (int twice = 0; twice < 2; twice++) {
				struct reorder *r = twice ? big : small;
				uint64_t next = reorder_next(r);
				/* when it must, and now and then at random (with
				 * the arrival FIFO wrapped, packets held, or none) */
				if (!twice && ((next && seq > next + reorder_slots(r)) ||
					       (prng_below(200) == 0 && reorder_slots(r) < BIG_RING))) {
					unsigned want = reorder_slots(r) * 2;
					while (next && seq > next + want)
						want *= 2;
					assert_int_equal(reorder_grow(r, want), 0);
					assert_int_equal(reorder_slots(r), want);
					grows++;
				}
				uint8_t p[BIG_BYTES];
				payload_make(p, seq, payload_len(seq));
				struct recorder *out = twice ? &rec : &small_out;
				out->now_us = t;
				reorder_push(r, seq, p, payload_len(seq), t, hold_us, record, out);
			}
		}
		for (int twice = 0; twice < 2; twice++) {
			struct reorder *r = twice ? big : small;
			struct recorder *out = twice ? &rec : &small_out;
			for (uint64_t d; (d = reorder_deadline(r, hold_us)) != UINT64_MAX;) {
				out->now_us = d;
				reorder_expire(r, d, hold_us, record, out);
			}
		}
		const struct reorder_stats *a = reorder_stats_get(small), *b = reorder_stats_get(big);
		assert_true(grows > 0);
		assert_int_equal(a->overflow, 0);
		assert_memory_equal(a, b, sizeof(*a));
		assert_int_equal(small_out.n, rec.n);
		assert_memory_equal(small_out.seq, rec.seq, rec.n * sizeof(rec.seq[0]));
		assert_memory_equal(small_out.at_us, rec.at_us, rec.n * sizeof(rec.at_us[0]));
		reorder_free(small);
		reorder_free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_bounds),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_fifo_full),
		cmocka_unit_test(test_ring_edge),
		cmocka_unit_test(test_far_jump),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_waited),
		cmocka_unit_test(test_auto_hold),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_property),
	};

	return cmocka_run_group_tests_name("reorder", tests, NULL, NULL);
}
