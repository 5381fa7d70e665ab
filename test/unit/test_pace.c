/* Unit tests of common/pace.c: the token bucket's long-run rate and burst,
 * the two queues (order, priority, bounds) and the wait computation, with
 * a made-up clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pace.h"

#define T0 1000000000ull

/* Over 10 s of a sender that sends whenever allowed, every 100 us, the
 * bytes on the link (payload + 28) are the rate to within one burst. */
static void test_rate(void **state)
{
	static const uint64_t rates[] = { 64000, 2000000, 8000000, 100000000 };
	static const size_t sizes[] = { 64, 1200, 1472 };

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++)
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			struct pace p;
			uint64_t link = 0;
			assert_int_equal(pace_init(&p, rates[r], T0), 0);
			for (uint64_t t = T0; t < T0 + 10000000; t += 100)
				while (pace_ready(&p, t)) {
					pace_spend(&p, sizes[z]);
					link += sizes[z] + PACE_IP_UDP_BYTES;
				}
			double want = rates[r] / 8.0 * 10;
			assert_true(link <= want + p.burst + sizes[z] + PACE_IP_UDP_BYTES);
			assert_true(link >= want - (sizes[z] + PACE_IP_UDP_BYTES));
			pace_free(&p);
		}
}

/* Unpaced: always ready, never keeps anything. */
static void test_unpaced(void **state)
{
	struct pace p;
	uint8_t d[10] = { 0 };

	(void)state;
	assert_int_equal(pace_init(&p, 0, T0), 0);
	for (int i = 0; i < 1000; i++) {
		assert_true(pace_ready(&p, T0));
		pace_spend(&p, 65000);
	}
	assert_int_equal(pace_keep(&p, d, sizeof(d), 0, NULL), -1);
	assert_int_equal(pace_wait_us(&p, T0), 0);
	pace_free(&p);
}

/* Kept datagrams come out critical first, each FIFO in order, only when
 * the bucket allows; the queues are bounded; too big is refused. */
static void test_queues(void **state)
{
	struct pace p;
	uint8_t d[PACE_SLOT_BYTES + 1];
	const uint8_t *out;
	size_t len;

	(void)state;
	assert_int_equal(pace_init(&p, 1000000, T0), 0);	/* 125 bytes/ms */
	while (pace_ready(&p, T0))
		pace_spend(&p, 1000);
	assert_false(pace_ready(&p, T0));
	for (int i = 0; i < 3; i++) {
		memset(d, 'a' + i, 100);
		assert_int_equal(pace_keep(&p, d, 100, 0, NULL), 0);
	}
	memset(d, 'z', 50);
	assert_int_equal(pace_keep(&p, d, 50, 1, NULL), 0);
	assert_int_equal(pace_keep(&p, d, PACE_SLOT_BYTES + 1, 0, NULL), -1);
	assert_int_equal(pace_waiting(&p), 4);
	/* ready is false while anything waits, even with tokens */
	uint64_t wait = pace_wait_us(&p, T0);
	assert_true(wait > 0);
	assert_null(pace_next(&p, T0, &len, NULL));
	uint64_t t = T0 + wait;
	const char want[] = "zabc";
	for (int i = 0; i < 4; i++) {
		while (!(out = pace_next(&p, t, &len, NULL)))
			t += pace_wait_us(&p, t);
		assert_int_equal(out[0], want[i]);
		assert_int_equal(len, want[i] == 'z' ? 50 : 100);
	}
	assert_int_equal(pace_waiting(&p), 0);
	assert_int_equal(p.queued, 4);
	assert_int_equal(p.dropped, 1);
	/* bounded: the priority queue holds PACE_PRIO_SLOTS */
	unsigned kept = 0;
	for (int i = 0; i < 1000; i++)
		kept += pace_keep(&p, d, 10, 1, NULL) == 0;
	assert_int_equal(kept, PACE_PRIO_SLOTS);
	pace_free(&p);
}

/* The bulk queue holds about PACE_QUEUE_MS at the rate, within bounds. */
static void test_bulk_bound(void **state)
{
	static const struct { uint64_t rate; unsigned want; } cases[] = {
		{ 64000, PACE_BULK_SLOTS_MIN },
		{ 20000000, 244 },	/* 2500 B/ms x 50 ms / PACE_SLOT_AVG_BYTES */
		{ 10000000000ull, PACE_BULK_SLOTS_MAX },
	};
	uint8_t d[16] = { 0 };

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct pace p;
		unsigned kept = 0;
		assert_int_equal(pace_init(&p, cases[c].rate, T0), 0);
		for (int i = 0; i < 2000; i++)
			kept += pace_keep(&p, d, sizeof(d), 0, NULL) == 0;
		assert_int_equal(kept, cases[c].want);
		pace_free(&p);
	}
}

/* A new rate: what waits stays, in order; the queue grows to the new
 * rate's PACE_QUEUE_MS; the backlog is what waits at the rate. */
static void test_set_rate(void **state)
{
	struct pace p;
	uint8_t d[1000];
	size_t len;

	(void)state;
	assert_int_equal(pace_init(&p, 1000000, T0), 0);
	p.tokens = -1000;			/* the bucket owes 1,000 bytes */
	for (int i = 0; i < 10; i++) {
		memset(d, i, sizeof(d));
		assert_int_equal(pace_keep(&p, d, sizeof(d), 0, NULL), 0);
	}
	/* 1,000 bytes owed + 10 x 1,028 waiting, at 1 Mbit/s */
	uint64_t want_us = (1000 + 10 * (1000 + PACE_IP_UDP_BYTES)) * 8;
	uint64_t got_us = pace_backlog_us(&p, T0, 0);
	assert_true(got_us >= want_us && got_us <= want_us + 1);
	assert_true(pace_backlog_us(&p, T0, 1) <= 8001);	/* the prio queue is empty */
	assert_int_equal(pace_set_rate(&p, 100000000, T0), 0);
	assert_int_equal(p.bulk_max, PACE_BULK_SLOTS_MAX);
	assert_true(p.bulk.cap < PACE_BULK_SLOTS_MAX);	/* memory when datagrams wait */
	for (int i = 0; i < 10; i++) {
		const uint8_t *out = pace_next(&p, T0 + 1000000, &len, NULL);
		assert_non_null(out);
		assert_int_equal(len, sizeof(d));
		assert_int_equal(out[0], i);
	}
	assert_null(pace_next(&p, T0 + 1000000, &len, NULL));
	pace_free(&p);
}

/* Purging one owner's datagrams keeps the others', in order, and the
 * backlog shrinks by what went. */
static void test_purge(void **state)
{
	struct pace p;
	uint8_t d[100];
	int a, b;
	size_t len;
	void *tag;

	(void)state;
	assert_int_equal(pace_init(&p, 1000000, T0), 0);
	for (int i = 0; i < 6; i++) {
		memset(d, i, sizeof(d));
		assert_int_equal(pace_keep(&p, d, sizeof(d), 0, i % 2 ? &b : &a), 0);
	}
	assert_int_equal(pace_purge(&p, &a), 3);
	assert_int_equal(pace_waiting(&p), 3);
	assert_int_equal(p.bulk.bytes, 300);
	for (int i = 1; i < 6; i += 2) {
		const uint8_t *out = pace_next(&p, T0 + 1000000, &len, &tag);
		assert_non_null(out);
		assert_int_equal(out[0], i);
		assert_ptr_equal(tag, &b);
	}
	pace_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_unpaced),
		cmocka_unit_test(test_queues),
		cmocka_unit_test(test_bulk_bound),
		cmocka_unit_test(test_set_rate),
		cmocka_unit_test(test_purge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
