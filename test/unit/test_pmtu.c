/* Unit tests of common/pmtu.c: the search finds a path's MTU to within
 * PMTU_GRAIN from any starting point, survives random loss of its probes,
 * re-checks, notices a path that shrinks and one that grows back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "pmtu.h"

#define MS 1000ull
#define RTO (40 * MS)

/* Runs the search against a path that carries sizes <= mtu, losing each
 * probe with probability loss_pct, for duration_ms; returns the time of
 * the last change of the estimate (ms from start). */
static uint64_t run(struct pmtu *m, uint64_t *now, unsigned mtu, int loss_pct,
		    uint64_t duration_ms)
{
	uint64_t end = *now + duration_ms * MS, changed = *now;
	unsigned last = pmtu_value(m);

	for (; *now < end; *now += 10 * MS) {
		unsigned size = pmtu_next(m, *now, RTO);
		if (size && size <= mtu && rand() % 100 >= loss_pct)
			pmtu_answered(m, size, *now + 1 * MS);
		if (pmtu_value(m) != last) {
			last = pmtu_value(m);
			changed = *now;
		}
	}
	return changed;
}

static void test_finds_mtu(void **state)
{
	static const unsigned mtus[] = { 548, 549, 600, 1000, 1200, 1400, 1451, 1472, 1500 };
	uint64_t now = 1000 * MS;

	(void)state;
	srand(1);
	for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		struct pmtu m;
		pmtu_init(&m, 1472, now);
		uint64_t t0 = now;
		uint64_t changed = run(&m, &now, mtus[i], 0, 5000);
		unsigned want = mtus[i] > 1472 ? 1472 : mtus[i];
		assert_true(pmtu_value(&m) <= want);
		assert_true(pmtu_value(&m) + PMTU_GRAIN >= want || pmtu_value(&m) == PMTU_FLOOR);
		/* about log2(1472 - 548) steps of up to 2 x 200 ms */
		assert_true(changed - t0 <= 5000 * MS);
	}
}

/* 20 % of probes lost: two losses do not call a size too big, and the
 * estimate stays within the grain of the truth (or just under). */
static void test_lossy(void **state)
{
	uint64_t now = 1000 * MS;
	unsigned good = 0;

	(void)state;
	srand(2);
	for (int r = 0; r < 50; r++) {
		struct pmtu m;
		pmtu_init(&m, 1472, now);
		run(&m, &now, 1400, 20, 8000);
		good += pmtu_value(&m) + PMTU_GRAIN >= 1400 && pmtu_value(&m) <= 1400;
	}
	assert_true(good >= 45);	/* 0.2^3 per size: a few runs end lower */
}

/* The path shrinks: the next re-check fails twice and the search starts
 * over; it grows back: found at the next re-grow. */
static void test_shrink_and_grow(void **state)
{
	struct pmtu m;
	uint64_t now = 1000 * MS;

	(void)state;
	pmtu_init(&m, 1472, now);
	run(&m, &now, 1472, 0, 2000);
	assert_int_equal(pmtu_value(&m), 1472);
	uint64_t t = now;
	uint64_t changed = run(&m, &now, 1000, 0, PMTU_RECHECK_MS + 5000);
	assert_true(pmtu_value(&m) <= 1000 && pmtu_value(&m) + PMTU_GRAIN >= 1000);
	assert_int_equal(m.shrinks, 1);
	assert_true(changed - t <= (PMTU_RECHECK_MS + 4000) * MS);
	/* on demand: shrinks found at once */
	t = now;
	pmtu_recheck(&m, now);
	changed = run(&m, &now, 700, 0, 4000);
	assert_true(pmtu_value(&m) <= 700 && pmtu_value(&m) + PMTU_GRAIN >= 700);
	assert_true(changed - t <= 4000 * MS);
	/* grows back within PMTU_REGROW_EVERY re-checks */
	run(&m, &now, 1472, 0, (PMTU_REGROW_EVERY + 1) * PMTU_RECHECK_MS + 5000);
	assert_true(pmtu_value(&m) + PMTU_GRAIN >= 1472);
}

/* Nothing above the floor: never probes below it, settles at the floor. */
static void test_floor(void **state)
{
	struct pmtu m;
	uint64_t now = 1000 * MS;

	(void)state;
	pmtu_init(&m, 100, now);
	assert_int_equal(m.max, PMTU_FLOOR);
	for (int i = 0; i < 100; i++, now += 100 * MS)
		assert_int_equal(pmtu_next(&m, now, RTO), 0);
	pmtu_init(&m, 1472, now);
	run(&m, &now, 300, 0, 20000);
	assert_int_equal(pmtu_value(&m), PMTU_FLOOR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_mtu),
		cmocka_unit_test(test_lossy),
		cmocka_unit_test(test_shrink_and_grow),
		cmocka_unit_test(test_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
