/* Unit tests of mpserver/route.c: the inner address -> session table of tun
 * mode, its conflict rule (the holder keeps an address while it is alive
 * and sending from it; otherwise the newest claimant takes it), and its
 * bound (full means refused, after dead owners are swept out). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route.h"

enum { OWNERS = 64 };

static int alive[OWNERS];

static int is_alive(void *ctx, uint64_t owner)
{
	(void)ctx;
	return owner < OWNERS && alive[owner];
}

static struct ip_addr addr(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(ip_parse_prefix(s, &p), 0);
	return p.addr;
}

static uint64_t owner_of(struct route_table *r, const char *s)
{
	struct ip_addr a = addr(s);
	uint64_t o = 0;

	assert_int_equal(route_lookup(r, &a, &o), 0);
	return o;
}

static int setup(void **state)
{
	static struct route_table r;

	for (int i = 0; i < OWNERS; i++)
		alive[i] = 1;
	assert_int_equal(route_init(&r, 8, is_alive, NULL), 0);
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	route_free(*state);
	return 0;
}

static void test_learn_and_lookup(void **state)
{
	struct route_table *r = *state;
	struct ip_addr a4 = addr("10.99.0.2"), a6 = addr("fd99::2"), other = addr("10.99.0.3");
	uint64_t prev = 0, o;

	assert_int_equal(route_claim(r, &a4, 1, 1000, &prev), ROUTE_NEW);
	assert_int_equal(route_claim(r, &a6, 1, 1000, &prev), ROUTE_NEW);
	assert_int_equal(route_claim(r, &a4, 1, 1001, &prev), ROUTE_OWNED);
	assert_int_equal(owner_of(r, "10.99.0.2"), 1);
	assert_int_equal(owner_of(r, "fd99::2"), 1);
	assert_int_equal(route_lookup(r, &other, &o), -1);
	/* IPv4 10.99.0.2 and an IPv6 address with the same first bytes differ */
	struct ip_addr look_alike = a4;
	look_alike.family = 6;
	assert_int_equal(route_lookup(r, &look_alike, &o), -1);
	assert_int_equal(r->used, 2);
}

static void test_conflict_rule(void **state)
{
	struct route_table *r = *state;
	struct ip_addr a = addr("10.99.0.2");
	uint64_t prev = 0;

	assert_int_equal(route_claim(r, &a, 1, 10000, &prev), ROUTE_NEW);
	/* session 2 claims it while 1 is alive and sent from it within the
	 * hold: refused, 1 keeps it, every time */
	for (uint64_t t = 10000; t < 10000 + ROUTE_HOLD_MS; t += 500) {
		prev = 0;
		assert_int_equal(route_claim(r, &a, 2, t, &prev), ROUTE_CONFLICT);
		assert_int_equal(prev, 1);
		assert_int_equal(owner_of(r, "10.99.0.2"), 1);
	}
	/* 1 keeps sending: the hold keeps being renewed */
	assert_int_equal(route_claim(r, &a, 1, 12000, &prev), ROUTE_OWNED);
	assert_int_equal(route_claim(r, &a, 2, 12000 + ROUTE_HOLD_MS - 1, &prev),
			 ROUTE_CONFLICT);
	/* 1 quiet for the whole hold: the newcomer takes it */
	assert_int_equal(route_claim(r, &a, 2, 12000 + ROUTE_HOLD_MS, &prev), ROUTE_MOVED);
	assert_int_equal(prev, 1);
	assert_int_equal(owner_of(r, "10.99.0.2"), 2);
	/* and now 1 is the one refused */
	assert_int_equal(route_claim(r, &a, 1, 12000 + ROUTE_HOLD_MS + 1, &prev),
			 ROUTE_CONFLICT);
	assert_int_equal(prev, 2);
}

static void test_gone_owner_released_at_once(void **state)
{
	struct route_table *r = *state;
	struct ip_addr a = addr("fd99::5");
	uint64_t prev = 0;

	assert_int_equal(route_claim(r, &a, 3, 5000, &prev), ROUTE_NEW);
	alive[3] = 0;		/* its session closed: no hold */
	assert_int_equal(route_claim(r, &a, 4, 5001, &prev), ROUTE_MOVED);
	assert_int_equal(prev, 3);
	assert_int_equal(owner_of(r, "fd99::5"), 4);
}

static void test_bounded(void **state)
{
	struct route_table *r = *state;
	char s[32];
	uint64_t prev;

	/* 8 addresses fill it, each of its own owner */
	for (int i = 0; i < 8; i++) {
		struct ip_addr a;
		snprintf(s, sizeof(s), "10.0.0.%d", i + 1);
		a = addr(s);
		assert_int_equal(route_claim(r, &a, (uint64_t)i + 10, 100, &prev), ROUTE_NEW);
	}
	struct ip_addr more = addr("10.0.1.1");
	assert_int_equal(route_claim(r, &more, 30, 100, &prev), ROUTE_FULL);
	assert_int_equal(r->used, 8);
	/* two owners go: their addresses are swept, and room is made on demand */
	alive[12] = alive[15] = 0;
	assert_int_equal(route_claim(r, &more, 30, 200, &prev), ROUTE_NEW);
	assert_int_equal(r->used, 7);
	assert_int_equal(route_sweep(r), 0);
	alive[10] = 0;
	assert_int_equal(route_sweep(r), 1);
	assert_int_equal(r->used, 6);
	struct ip_addr gone = addr("10.0.0.1");
	uint64_t o;
	assert_int_equal(route_lookup(r, &gone, &o), -1);
	/* what is left still resolves */
	assert_int_equal(owner_of(r, "10.0.0.2"), 11);
	assert_int_equal(owner_of(r, "10.0.1.1"), 30);
	/* refill to the brim, then one too many */
	for (int i = 0; i < 2; i++) {
		struct ip_addr a;
		snprintf(s, sizeof(s), "10.0.2.%d", i + 1);
		a = addr(s);
		assert_int_equal(route_claim(r, &a, 40, 300, &prev), ROUTE_NEW);
	}
	struct ip_addr last = addr("10.0.3.1");
	assert_int_equal(route_claim(r, &last, 40, 300, &prev), ROUTE_FULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_learn_and_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_owner_released_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
