/* Unit tests of common/sched.c: duplicate, round-robin and smooth weighted
 * round-robin path choice. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sched.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned ones[MP_MAX_PATHS] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static const uint32_t masks[] = {
	0x1, 0x2, 0x3, 0x7, 0xb, 0x8000, 0x8001, 0xa5a5, 0x5a5a, 0x7ffe, 0xffff,
};

static int popcount(uint32_t m)
{
	return __builtin_popcount(m);
}

static int lowest(uint32_t m)
{
	return __builtin_ctz(m);
}

/* ---- modes --------------------------------------------------------------- */

static void test_mode_names(void **state)
{
	static const struct { const char *s; enum sched_mode m; } ok[] = {
		{ "duplicate", SCHED_DUPLICATE },
		{ "roundrobin", SCHED_ROUNDROBIN },
		{ "weighted", SCHED_WEIGHTED },
		{ "adaptive", SCHED_ADAPTIVE },
	};
	static const char *const bad[] = {
		"dup", "", "Duplicate", "roundrobin ", " weighted", "round-robin",
		"rr", "weight", "weightedx", "duplicat",
	};
	enum sched_mode m;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(ok); i++) {
		m = (enum sched_mode)99;
		assert_int_equal(sched_mode_parse(ok[i].s, &m), 0);
		assert_int_equal(m, ok[i].m);
		assert_string_equal(sched_mode_name(m), ok[i].s);
	}
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		m = (enum sched_mode)99;
		assert_int_equal(sched_mode_parse(bad[i], &m), -1);
		assert_int_equal(m, 99);	/* untouched */
	}
}

static void test_no_usable_path(void **state)
{
	static const enum sched_mode modes[] = {
		SCHED_DUPLICATE, SCHED_ROUNDROBIN, SCHED_WEIGHTED,
	};
	struct sched s;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(modes); i++) {
		sched_init(&s, modes[i]);
		for (int k = 0; k < 5; k++)
			assert_int_equal(sched_pick(&s, 0, ones), 0);
		/* and it still works afterwards */
		assert_int_not_equal(sched_pick(&s, 0x4, ones) & 0x4, 0);
	}
}

static void test_duplicate(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, SCHED_DUPLICATE);
	for (size_t i = 0; i < N_ELEMS(masks); i++)
		for (int k = 0; k < 3; k++)
			assert_int_equal(sched_pick(&s, masks[i], ones), masks[i]);
}

/* ---- round-robin ------------------------------------------------------- */

static void test_roundrobin(void **state)
{
	struct sched s;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(masks); i++) {
		uint32_t usable = masks[i];
		unsigned count[MP_MAX_PATHS] = { 0 };
		int prev = -1;

		sched_init(&s, SCHED_ROUNDROBIN);
		for (int k = 0; k < 3000; k++) {
			uint32_t got = sched_pick(&s, usable, ones);

			assert_int_equal(popcount(got), 1);
			assert_int_equal(got & ~usable, 0);
			int p = lowest(got);
			/* in order: the next usable path after the previous one */
			int want = -1;
			for (int d = 1; d <= MP_MAX_PATHS; d++) {
				int c = (prev + d + MP_MAX_PATHS) % MP_MAX_PATHS;
				if (usable & 1u << c) {
					want = c;
					break;
				}
			}
			if (k == 0)
				want = lowest(usable);
			assert_int_equal(p, want);
			prev = p;
			count[p]++;
		}
		unsigned n = (unsigned)popcount(usable);
		for (int p = 0; p < MP_MAX_PATHS; p++) {
			if (!(usable & 1u << p)) {
				assert_int_equal(count[p], 0);
				continue;
			}
			assert_in_range(count[p], 3000 / n, 3000 / n + 1);
		}
	}
}

/* Paths coming and going: never an unusable one, and the turn goes on from
 * where it was rather than restarting at path 0. */
static void test_roundrobin_changing_mask(void **state)
{
	static const struct { uint32_t usable; int want; } steps[] = {
		{ 0x7, 0 }, { 0x7, 1 }, { 0x7, 2 }, { 0x7, 0 },
		{ 0x5, 2 },		/* 1 went away */
		{ 0x5, 0 }, { 0x7, 1 }, { 0x7, 2 },
		{ 0x8, 3 },		/* only 3 */
		{ 0x7, 0 }, { 0x6, 1 }, { 0x6, 2 }, { 0x6, 1 },
		{ 0x8001, 15 }, { 0x8001, 0 }, { 0x8001, 15 }, { 0x8001, 0 },
	};
	struct sched s;

	(void)state;
	sched_init(&s, SCHED_ROUNDROBIN);
	for (size_t i = 0; i < N_ELEMS(steps); i++) {
		uint32_t got = sched_pick(&s, steps[i].usable, ones);
		if (got != 1u << steps[i].want)
			fail_msg("step %zu: picked %#x, expected path %d", i, got,
				 steps[i].want);
	}
}

/* ---- weighted ------------------------------------------------------------ */

struct wcase {
	uint32_t usable;
	unsigned w[MP_MAX_PATHS];
	unsigned max_run[MP_MAX_PATHS];	/* longest run allowed, 0 = no check */
};

static const struct wcase wcases[] = {
	/* 1,2,1: 1000/2000/1000 out of 4000, path 1 never thrice in a row */
	{ 0x7, { 1, 2, 1 }, { 1, 2, 1 } },
	/* 5,1,1: the heavy path is interleaved. Smooth WRR (nginx) yields
	 * a a b a c a a per cycle: 2 in a row within a cycle, 4 across. */
	{ 0x7, { 5, 1, 1 }, { 4, 1, 1 } },
	{ 0x3, { 1, 1 }, { 1, 1 } },
	{ 0x3, { 3, 1 }, { 3, 1 } },
	{ 0xf, { 1, 2, 3, 4 }, { 0 } },
	{ 0x5, { 2, 999, 3 }, { 0 } },		/* path 1 unusable: ignored */
	{ 0x8001, { [0] = 1000, [15] = 1 }, { 0 } },
	{ 0xffff, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, { 0 } },
};

static void test_weighted_counts(void **state)
{
	struct sched s;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(wcases); i++) {
		const struct wcase *c = &wcases[i];
		unsigned total = 0, count[MP_MAX_PATHS] = { 0 };
		unsigned run = 0, longest[MP_MAX_PATHS] = { 0 };
		int prev = -1;

		for (int p = 0; p < MP_MAX_PATHS; p++)
			if (c->usable & 1u << p)
				total += c->w[p];
		unsigned cycles = 4000 / total + 2;

		sched_init(&s, SCHED_WEIGHTED);
		for (unsigned k = 0; k < cycles * total; k++) {
			uint32_t got = sched_pick(&s, c->usable, c->w);

			assert_int_equal(popcount(got), 1);
			assert_int_equal(got & ~c->usable, 0);
			int p = lowest(got);
			count[p]++;
			run = p == prev ? run + 1 : 1;
			prev = p;
			if (run > longest[p])
				longest[p] = run;
			/* after every whole cycle the shares are exact */
			if ((k + 1) % total == 0)
				for (int q = 0; q < MP_MAX_PATHS; q++) {
					unsigned want = c->usable & 1u << q ?
						c->w[q] * ((k + 1) / total) : 0;
					if (count[q] != want)
						fail_msg("case %zu after %u picks: path %d "
							 "picked %u times, expected %u",
							 i, k + 1, q, count[q], want);
				}
		}
		for (int p = 0; p < MP_MAX_PATHS; p++)
			if (c->max_run[p] && longest[p] > c->max_run[p])
				fail_msg("case %zu: path %d picked %u times in a row "
					 "(at most %u)", i, p, longest[p], c->max_run[p]);
	}
}

static void test_weighted_121_exact(void **state)
{
	static const unsigned w[MP_MAX_PATHS] = { 1, 2, 1 };
	unsigned count[3] = { 0 };
	struct sched s;

	(void)state;
	sched_init(&s, SCHED_WEIGHTED);
	for (int k = 0; k < 4000; k++)
		count[lowest(sched_pick(&s, 0x7, w))]++;
	assert_int_equal(count[0], 1000);
	assert_int_equal(count[1], 2000);
	assert_int_equal(count[2], 1000);
}

/* The exact nginx sequences: ties go to the lowest path. */
static void test_weighted_sequence(void **state)
{
	static const struct {
		unsigned w[MP_MAX_PATHS];
		uint32_t usable;
		const char *seq;	/* path ids as digits */
	} cases[] = {
		{ { 5, 1, 1 }, 0x7, "00102000010200" },
		{ { 1, 2, 1 }, 0x7, "10211021" },
		{ { 1, 1, 1 }, 0x7, "012012" },
		{ { 4, 2, 1 }, 0x7, "0102010" },
		{ { 0, 3, 0, 2 }, 0xa, "1313113131" },
	};
	struct sched s;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		sched_init(&s, SCHED_WEIGHTED);
		for (size_t k = 0; cases[i].seq[k]; k++) {
			uint32_t got = sched_pick(&s, cases[i].usable, cases[i].w);
			if (got != 1u << (cases[i].seq[k] - '0'))
				fail_msg("case %zu pick %zu: got %#x, expected path %c",
					 i, k, got, cases[i].seq[k]);
		}
	}
}

/* ---- the view: ranking, adaptive weights ---------------------------------- */

static struct sched_path P(uint32_t srtt_us, uint32_t loss_ppm)
{
	return (struct sched_path){ .weight = 1, .srtt_us = srtt_us, .loss_ppm = loss_ppm,
				    .cap_ppm = 1000000 };
}

/* Adaptive weights follow Mathis: a 10 %-loss path is worth about a third
 * of a clean one of the same RTT, a 4x slower path a bit more than a
 * quarter; unusable paths rank nowhere; orders are by quality and RTT. */
static void test_view_adaptive(void **state)
{
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	sched_init(&s, SCHED_ADAPTIVE);
	p[0] = P(10000, 0);
	p[1] = P(10000, 100000);
	p[2] = P(40000, 0);
	p[3] = P(1000, 0);	/* fastest, but not usable */
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(v.n_quality, 3);
	assert_int_equal(v.n_rtt, 3);
	assert_int_equal(v.weight[0], SCHED_WEIGHT_SCALE);
	/* sqrt(0.005 / 0.105) = 0.218 */
	assert_in_range(v.weight[1], 210, 226);
	/* (0.010 + 0.005) / (0.040 + 0.005) = 0.333 */
	assert_in_range(v.weight[2], 328, 338);
	assert_int_equal(v.by_quality[0], 0);
	assert_int_equal(v.by_quality[1], 2);
	assert_int_equal(v.by_quality[2], 1);
	assert_int_equal(v.by_rtt[0], 0);	/* ties keep index order */
	assert_int_equal(v.by_rtt[1], 1);
	assert_int_equal(v.by_rtt[2], 2);
	/* the shares in 10000 picks match the weights */
	unsigned count[MP_MAX_PATHS] = { 0 };
	for (int i = 0; i < 10000; i++)
		count[lowest(sched_choose(&s, &v, 0))]++;
	unsigned total = v.weight[0] + v.weight[1] + v.weight[2];
	for (int i = 0; i < 3; i++)
		assert_in_range(count[i], 10000u * v.weight[i] / total - 2,
				10000u * v.weight[i] / total + 2);
	/* a saturated path's cap scales it down */
	p[0].cap_ppm = 250000;
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(v.weight[2], SCHED_WEIGHT_SCALE);
	assert_in_range(v.weight[0], 740, 760);
	/* other modes keep the configured weights */
	sched_init(&s, SCHED_WEIGHTED);
	p[1].weight = 7;
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(v.weight[1], 7);
	assert_int_equal(v.weight[0], 1);
}

/* --copies N: the mode's pick plus the best others, N in all (never more
 * than there are usable paths); N = 1 is plain spreading. */
static void test_copies(void **state)
{
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	p[0] = P(10000, 100000);
	p[1] = P(10000, 200000);
	p[2] = P(10000, 300000);
	for (unsigned copies = 1; copies <= 4; copies++) {
		unsigned seen[MP_MAX_PATHS] = { 0 };
		sched_init(&s, SCHED_ROUNDROBIN);
		s.copies = copies;
		sched_view_build(&v, &s, 0x7, 0, p);
		for (int i = 0; i < 300; i++) {
			uint32_t m = sched_choose(&s, &v, 0);
			assert_int_equal(popcount(m), copies < 3 ? copies : 3);
			for (int k = 0; k < 3; k++)
				seen[k] += (m >> k) & 1;
		}
		if (copies == 2) {
			/* rr first: 100 each; the second copy is the best other:
			 * path 0 (for 1 and 2) or path 1 (for 0) */
			assert_int_equal(seen[0], 300);
			assert_int_equal(seen[1], 200);
			assert_int_equal(seen[2], 100);
			/* expected loss of that split: (2 + 2 + 3) / 3 % */
			assert_int_equal(sched_loss_ppm(&v, 0x3), 20000);
			assert_int_equal(sched_loss_ppm(&v, 0x5), 30000);
		}
	}
	/* duplicate ignores copies; nothing usable gives nothing */
	sched_init(&s, SCHED_DUPLICATE);
	s.copies = 2;
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(sched_choose(&s, &v, 0), 0x7);
	sched_init(&s, SCHED_ROUNDROBIN);
	s.copies = 2;
	sched_view_build(&v, &s, 0, 0, p);
	assert_int_equal(sched_choose(&s, &v, 0), 0);
}

/* Copies may use spare paths (alive but overdue); the first pick and the
 * latency-critical path never do. */
static void test_copies_spare(void **state)
{
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	p[0] = P(10000, 100000);
	p[1] = P(1000, 200000);
	p[2] = P(10000, 300000);
	sched_init(&s, SCHED_ROUNDROBIN);
	s.copies = 2;
	sched_view_build(&v, &s, 0x4, 0x3, p);
	assert_int_equal(v.n_rtt, 1);
	assert_int_equal(v.n_quality, 3);
	for (int i = 0; i < 10; i++) {
		/* 2, then the best spare: 1 (1 ms, 20 %) beats 0 (10 ms, 10 %) */
		assert_int_equal(sched_choose(&s, &v, 0), 0x6);
		assert_int_equal(sched_choose(&s, &v, 1), 0x6);
	}
	s.copies = 1;
	assert_int_equal(sched_choose(&s, &v, 0), 0x4);
	assert_int_equal(sched_choose(&s, &v, 1), 0x4);
}

/* --copies auto: as few as keep the product of losses under the target. */
static void test_copies_auto(void **state)
{
	static const struct {
		uint32_t loss[3], target;
		unsigned want_min, want_max;	/* copies over all first picks */
	} cases[] = {
		{ { 0, 0, 0 }, 10000, 1, 1 },
		{ { 5000, 5000, 5000 }, 10000, 1, 1 },
		{ { 100000, 200000, 300000 }, 10000, 2, 3 },
		{ { 100000, 200000, 300000 }, 100, 3, 3 },	/* cannot: all */
		{ { 50000, 50000, 50000 }, 10000, 2, 2 },	/* 0.25 % */
		{ { 300000, 0, 300000 }, 10000, 1, 2 },
	};
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	for (size_t c = 0; c < N_ELEMS(cases); c++) {
		for (int k = 0; k < 3; k++)
			p[k] = P(10000, cases[c].loss[k]);
		sched_init(&s, SCHED_ROUNDROBIN);
		s.copies = SCHED_COPIES_AUTO;
		s.target_loss_ppm = cases[c].target;
		sched_view_build(&v, &s, 0x7, 0, p);
		for (int i = 0; i < 30; i++) {
			uint32_t m = sched_choose(&s, &v, 0);
			unsigned n = (unsigned)popcount(m);
			assert_in_range(n, cases[c].want_min, cases[c].want_max);
			/* fewest: one copy less would miss the target */
			if (n < 3)
				assert_true(sched_loss_ppm(&v, m) <= cases[c].target);
		}
	}
}

/* Latency-critical datagrams: the fastest usable path, whatever the mode's
 * turn; duplicate still sends everywhere. */
/* Rescue's choice: the fastest usable path outside the excluded ones
 * (path 3 is fastest but not usable). */
static void test_fastest(void **state)
{
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	p[0] = P(60000, 0);
	p[1] = P(5000, 0);
	p[2] = P(30000, 0);
	p[3] = P(1000, 0);
	sched_init(&s, SCHED_ROUNDROBIN);
	sched_view_build(&v, &s, 0x7, 0x8, p);
	assert_int_equal(sched_fastest(&v, 0), 1);
	assert_int_equal(sched_fastest(&v, 0x2), 2);
	assert_int_equal(sched_fastest(&v, 0x6), 0);
	assert_int_equal(sched_fastest(&v, 0x7), -1);
}

static void test_critical(void **state)
{
	struct sched s;
	struct sched_view v;
	struct sched_path p[MP_MAX_PATHS] = { 0 };

	(void)state;
	p[0] = P(60000, 0);
	p[1] = P(5000, 0);
	p[2] = P(30000, 0);
	p[3] = P(1000, 0);
	static const enum sched_mode spread[] = { SCHED_ROUNDROBIN, SCHED_WEIGHTED,
						  SCHED_ADAPTIVE };
	for (size_t m = 0; m < N_ELEMS(spread); m++) {
		sched_init(&s, spread[m]);
		sched_view_build(&v, &s, 0x7, 0, p);
		for (int i = 0; i < 10; i++)
			assert_int_equal(sched_choose(&s, &v, 1), 0x2);
		s.copies = 2;
		assert_int_equal(sched_choose(&s, &v, 1), 0x6);
	}
	sched_init(&s, SCHED_DUPLICATE);
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(sched_choose(&s, &v, 1), 0x7);
	/* no RTT yet: ranks as SCHED_RTT_UNKNOWN_US */
	p[1].srtt_us = 0;
	sched_init(&s, SCHED_ROUNDROBIN);
	sched_view_build(&v, &s, 0x7, 0, p);
	assert_int_equal(sched_choose(&s, &v, 1), 0x4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_no_usable_path),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_roundrobin),
		cmocka_unit_test(test_roundrobin_changing_mask),
		cmocka_unit_test(test_weighted_counts),
		cmocka_unit_test(test_weighted_121_exact),
		cmocka_unit_test(test_weighted_sequence),
		cmocka_unit_test(test_view_adaptive),
		cmocka_unit_test(test_copies),
		cmocka_unit_test(test_copies_auto),
		cmocka_unit_test(test_copies_spare),
		cmocka_unit_test(test_critical),
		cmocka_unit_test(test_fastest),
	};

	return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
