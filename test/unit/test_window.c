/* Unit tests of common/window.c: the RFC 6479 replay window. Table-driven
 * edge cases plus a brute-force cross-check against a naive model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "window.h"
#include "prng.h"


/* The window is 1 KiB: keep it off the stack of every test. */
static struct window W;

static void expect(struct window *w, uint64_t seq, enum window_verdict v)
{
	enum window_verdict got = window_check(w, seq);
	if (got != v)
		fail_msg("seq %llu (top %llu): got verdict %d, expected %d",
			 (unsigned long long)seq, (unsigned long long)w->top,
			 (int)got, (int)v);
}

/* The sizes docs/PROTOCOL.md promises: 8,192 bits of ring, 8,128 usable. */
static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(WINDOW_RING_BITS, 8192);
	assert_int_equal(WINDOW_RING_WORDS, 128);
	assert_int_equal(WINDOW_SIZE, 8128);
	assert_int_equal(sizeof(((struct window *)0)->ring), WINDOW_RING_BITS / 8);
}

/* ---- first packet ---------------------------------------------------- */

static const uint64_t first_seqs[] = {
	1, 2, 63, 64, 65, WINDOW_SIZE, WINDOW_RING_BITS, WINDOW_RING_BITS + 1,
	(UINT64_C(1) << 48) - 1, UINT64_C(1) << 62, UINT64_MAX - 1, UINT64_MAX,
};

static void test_first_packet(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(first_seqs) / sizeof(first_seqs[0]); i++) {
		uint64_t s = first_seqs[i];

		window_reset(&W);
		assert_int_equal(W.top, 0);
		expect(&W, s, WINDOW_NEW);
		assert_true(W.top == s);
		expect(&W, s, WINDOW_DUP);
		/* the window below a huge first packet is usable, and bounded */
		if (s > WINDOW_SIZE) {
			expect(&W, s - (WINDOW_SIZE - 1), WINDOW_NEW);
			expect(&W, s - (WINDOW_SIZE - 1), WINDOW_DUP);
			expect(&W, s - WINDOW_SIZE, WINDOW_OLD);
			expect(&W, 1, WINDOW_OLD);
		} else if (s > 1) {
			expect(&W, 1, WINDOW_NEW);
			expect(&W, s - 1, s - 1 == 1 ? WINDOW_DUP : WINDOW_NEW);
		}
		assert_true(W.top == s);
	}
}

/* ---- in order, then duplicates ---------------------------------------- */

static void test_in_order_then_dup(void **state)
{
	static const uint64_t bases[] = { 1, 60, 8190, (UINT64_C(1) << 48) - 40000 };
	const uint64_t n = 3 * WINDOW_RING_BITS;

	(void)state;
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		window_reset(&W);
		for (uint64_t s = bases[b]; s < bases[b] + n; s++) {
			expect(&W, s, WINDOW_NEW);
			expect(&W, s, WINDOW_DUP);
			/* an earlier one, still inside the window, stays a dup */
			if (s - bases[b] >= 100)
				expect(&W, s - 100, WINDOW_DUP);
		}
		uint64_t top = bases[b] + n - 1;
		for (uint64_t s = top - (WINDOW_SIZE - 1); s <= top; s++)
			expect(&W, s, WINDOW_DUP);
		for (uint64_t s = top - WINDOW_SIZE - 200; s <= top - WINDOW_SIZE; s++)
			expect(&W, s, WINDOW_OLD);
	}
}

/* ---- the lower edge of the window ------------------------------------- */

static const uint64_t edge_tops[] = {
	63, 64, 65, 127, 128, 129,
	WINDOW_SIZE - 1, WINDOW_SIZE, WINDOW_SIZE + 1, WINDOW_SIZE + 63,
	WINDOW_SIZE + 64, WINDOW_SIZE + 65,
	WINDOW_RING_BITS - 1, WINDOW_RING_BITS, WINDOW_RING_BITS + 1,
	2 * WINDOW_RING_BITS - 1, 2 * WINDOW_RING_BITS, 2 * WINDOW_RING_BITS + 1,
	3 * WINDOW_RING_BITS + 63, 3 * WINDOW_RING_BITS + 64,
	3 * WINDOW_RING_BITS + 65, 5 * WINDOW_RING_BITS + 64,
	(UINT64_C(1) << 48) - 1, (UINT64_C(1) << 48), UINT64_MAX,
};

/* Expected verdict for an unseen seq with the window's top at top. */
static enum window_verdict unseen_verdict(uint64_t top, uint64_t seq)
{
	return seq <= top && top - seq >= WINDOW_SIZE ? WINDOW_OLD : WINDOW_NEW;
}

static void test_edge_unseen(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(edge_tops) / sizeof(edge_tops[0]); i++) {
		uint64_t top = edge_tops[i];

		for (int d = -2; d <= 2; d++) {
			/* seq = top - WINDOW_SIZE + d, i.e. around the last old one */
			if (top < (uint64_t)(WINDOW_SIZE - d) + 1)
				continue;
			uint64_t seq = top - (uint64_t)(WINDOW_SIZE - d);
			enum window_verdict v = unseen_verdict(top, seq);

			assert_int_equal(v, d <= 0 ? WINDOW_OLD : WINDOW_NEW);
			window_reset(&W);
			expect(&W, top, WINDOW_NEW);
			expect(&W, seq, v);
			expect(&W, seq, v == WINDOW_NEW ? WINDOW_DUP : WINDOW_OLD);
			assert_true(W.top == top);
		}
	}
}

/* The same edge with every number in the window already seen: the last
 * in-window number is a duplicate, the first out-of-window one is old. */
static void test_edge_full(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(edge_tops) / sizeof(edge_tops[0]); i++) {
		uint64_t top = edge_tops[i];
		uint64_t lo = top > WINDOW_RING_BITS ? top - WINDOW_RING_BITS : 1;

		window_reset(&W);
		for (uint64_t s = lo;; s++) {	/* top may be UINT64_MAX */
			expect(&W, s, WINDOW_NEW);
			if (s == top)
				break;
		}
		if (top >= WINDOW_SIZE) {
			expect(&W, top - (WINDOW_SIZE - 1), WINDOW_DUP);
			expect(&W, top - (WINDOW_SIZE - 2), WINDOW_DUP);
		}
		if (top > WINDOW_SIZE) {
			expect(&W, top - WINDOW_SIZE, WINDOW_OLD);
			if (top > WINDOW_SIZE + 1)
				expect(&W, top - WINDOW_SIZE - 1, WINDOW_OLD);
		}
		/* one step forward moves the edge by one */
		if (top < UINT64_MAX) {
			expect(&W, top + 1, WINDOW_NEW);
			if (top + 1 > WINDOW_SIZE) {
				expect(&W, top + 1 - WINDOW_SIZE, WINDOW_OLD);
				expect(&W, top + 1 - (WINDOW_SIZE - 1), WINDOW_DUP);
			}
		}
	}
}

/* ---- jumps forward ------------------------------------------------------ */

static const uint64_t jumps[] = {
	1, 2, 63, 64, 65, 128, WINDOW_SIZE - 1, WINDOW_SIZE, WINDOW_SIZE + 1,
	WINDOW_RING_BITS - 64, WINDOW_RING_BITS - 1, WINDOW_RING_BITS,
	WINDOW_RING_BITS + 1, WINDOW_RING_BITS + 64, 2 * WINDOW_RING_BITS,
	WINDOW_RING_BITS * 3 + 5, UINT64_C(1) << 40,
};

/* Fill the window completely, jump forward by d, then every number the
 * window still covers must be DUP if it was seen before the jump and NEW
 * otherwise: a recycled word must never answer for an older number. */
static void test_jump_forward(void **state)
{
	static const uint64_t old_tops[] = { 200, 8191, 8192, 20000 + 37 };

	(void)state;
	for (size_t t = 0; t < sizeof(old_tops) / sizeof(old_tops[0]); t++) {
		for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
			uint64_t old_top = old_tops[t], top = old_top + jumps[j];
			uint64_t lo = old_top > WINDOW_RING_BITS ?
				      old_top - WINDOW_RING_BITS : 1;

			window_reset(&W);
			for (uint64_t s = lo; s <= old_top; s++)
				expect(&W, s, WINDOW_NEW);
			expect(&W, top, WINDOW_NEW);
			uint64_t first = top > WINDOW_SIZE - 1 ?
					 top - (WINDOW_SIZE - 1) : 1;
			for (uint64_t s = first; s < top; s++) {
				enum window_verdict v = s >= lo && s <= old_top ?
					WINDOW_DUP : WINDOW_NEW;
				expect(&W, s, v);
			}
			if (top > WINDOW_SIZE)
				expect(&W, top - WINDOW_SIZE, WINDOW_OLD);
		}
	}
}

/* ---- any order inside the window ----------------------------------------- */

static void test_permutation(void **state)
{
	static const uint64_t bases[] = { 1, 64, 1000003, UINT64_C(1) << 47 };
	static uint64_t perm[WINDOW_SIZE];

	(void)state;
	prng_state = 42;
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		/* base .. base + WINDOW_SIZE - 1: all within one window width */
		for (uint64_t i = 0; i < WINDOW_SIZE; i++)
			perm[i] = bases[b] + i;
		for (uint64_t i = WINDOW_SIZE - 1; i > 0; i--) {
			uint64_t k = prng_below(i + 1), tmp = perm[i];
			perm[i] = perm[k];
			perm[k] = tmp;
		}
		window_reset(&W);
		for (size_t i = 0; i < WINDOW_SIZE; i++)
			expect(&W, perm[i], WINDOW_NEW);
		for (size_t i = 0; i < WINDOW_SIZE; i++)
			expect(&W, perm[i], WINDOW_DUP);
		assert_true(W.top == bases[b] + WINDOW_SIZE - 1);
		if (bases[b] > 1)
			expect(&W, bases[b] - 1, WINDOW_OLD);
	}
}

static void test_reset(void **state)
{
	(void)state;
	window_reset(&W);
	for (uint64_t s = 1; s <= 500; s++)
		expect(&W, s, WINDOW_NEW);
	expect(&W, 100000, WINDOW_NEW);
	window_reset(&W);
	assert_int_equal(W.top, 0);
	for (size_t i = 0; i < WINDOW_RING_WORDS; i++)
		assert_int_equal(W.ring[i], 0);
	/* everything is new again, including what was too old before */
	expect(&W, 5, WINDOW_NEW);
	expect(&W, 1, WINDOW_NEW);
	expect(&W, 100000, WINDOW_NEW);
	expect(&W, 5, WINDOW_OLD);
}

/* ---- brute force against a naive model ----------------------------------- */

/* The model: the set of every number ever accepted, plus the top. */
enum { SET_BITS = 19, SET_CAP = 1 << SET_BITS };
static uint64_t set_slots[SET_CAP];	/* 0 = empty; seq is never 0 */

static int set_find_or_add(uint64_t key, int add)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15u) >> (64 - SET_BITS));

	for (;; i = (i + 1) & (SET_CAP - 1)) {
		if (set_slots[i] == key)
			return 1;
		if (set_slots[i] == 0) {
			if (add)
				set_slots[i] = key;
			return 0;
		}
	}
}

struct model {
	uint64_t top;
};

static enum window_verdict model_check(struct model *m, uint64_t seq)
{
	if (seq <= m->top && m->top - seq >= WINDOW_SIZE)
		return WINDOW_OLD;
	if (set_find_or_add(seq, 0))
		return WINDOW_DUP;
	set_find_or_add(seq, 1);
	if (seq > m->top)
		m->top = seq;
	return WINDOW_NEW;
}

static uint64_t draw_seq(uint64_t top)
{
	uint64_t r = prng_below(1000), back;

	if (r < 600)		/* behind the top, mostly inside the window */
		back = prng_below(WINDOW_SIZE + 300);
	else if (r < 700)	/* right at the edge */
		back = WINDOW_SIZE - 3 + prng_below(7);
	else if (r < 850)	/* just ahead */
		return top + 1 + prng_below(70);
	else if (r < 998)	/* the top itself and its neighbours */
		back = prng_below(3);
	else if (r < 999)	/* a jump of a few words up to a few rings */
		return top + 1 + prng_below(3 * WINDOW_RING_BITS + 200);
	else			/* a word-aligned jump */
		return (top / 64 + 1 + prng_below(300)) * 64 + prng_below(2);
	return back < top ? top - back : 1 + prng_below(top ? top : 1);
}

static void run_cross_check(uint64_t seed, uint64_t start)
{
	struct model m = { 0 };
	unsigned counts[3] = { 0, 0, 0 };

	prng_state = seed;
	memset(set_slots, 0, sizeof(set_slots));
	window_reset(&W);
	for (int i = 0; i < 200000; i++) {
		uint64_t seq = i == 0 ? start : draw_seq(m.top);
		enum window_verdict want = model_check(&m, seq);
		enum window_verdict got = window_check(&W, seq);

		if (got != want)
			fail_msg("op %d seed %llu: seq %llu top %llu: window says %d, "
				 "model says %d", i, (unsigned long long)seed,
				 (unsigned long long)seq,
				 (unsigned long long)m.top, (int)got, (int)want);
		assert_true(W.top == m.top);
		counts[want]++;
	}
	/* the generator really exercised all three verdicts */
	assert_true(counts[WINDOW_NEW] > 10000);
	assert_true(counts[WINDOW_DUP] > 10000);
	assert_true(counts[WINDOW_OLD] > 1000);
}

static void test_cross_check(void **state)
{
	(void)state;
	run_cross_check(1, 1);
	run_cross_check(0xdeadbeef, (UINT64_C(1) << 48) - 300000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_first_packet),
		cmocka_unit_test(test_in_order_then_dup),
		cmocka_unit_test(test_edge_unseen),
		cmocka_unit_test(test_edge_full),
		cmocka_unit_test(test_jump_forward),
		cmocka_unit_test(test_permutation),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_cross_check),
	};

	return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
