/* Unit tests of common/rescue.c: what is kept, what a path's failure takes
 * back (its session, its path, its window, oldest first), that a datagram
 * sent again belongs to its new path, and the ring's bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rescue.h"

#define T0 1000000000ull

struct sink {
	unsigned n;
	int to;			/* the path send_fn reports, or -1 */
	uint8_t first[RESCUE_SLOTS];	/* byte 1 of each datagram seen */
	size_t len[RESCUE_SLOTS];
};

static int sink_send(void *ctx, uint8_t *pkt, size_t len)
{
	struct sink *k = ctx;

	if (k->to >= 0 && k->n < RESCUE_SLOTS) {
		k->first[k->n] = pkt[1];
		k->len[k->n] = len;
		k->n++;
	}
	return k->to;
}

static void keep(struct rescue *r, uint32_t session, unsigned path, uint8_t tag, size_t len,
		 uint64_t t)
{
	uint8_t pkt[RESCUE_SLOT_BYTES + 1];

	memset(pkt, 0, sizeof(pkt));
	pkt[1] = tag;
	rescue_keep(r, session, path, pkt, len, t);
}

/* Only the failing path's datagrams of the session, within the window,
 * oldest first, and each just once. */
static void test_take_filters(void **state)
{
	struct rescue r;
	struct sink k = { .to = 2 };

	(void)state;
	assert_int_equal(rescue_init(&r), 0);
	keep(&r, 7, 0, 1, 100, T0);		/* before the window */
	keep(&r, 7, 0, 2, 200, T0 + 10);
	keep(&r, 8, 0, 3, 100, T0 + 20);	/* another session */
	keep(&r, 7, 1, 4, 100, T0 + 30);	/* another path */
	keep(&r, 7, 0, 5, 300, T0 + 40);
	assert_int_equal(rescue_take(&r, 7, 0, T0 + 10, sink_send, &k), 2);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.first[0], 2);
	assert_int_equal(k.len[0], 200);
	assert_int_equal(k.first[1], 5);
	assert_int_equal(k.len[1], 300);
	/* now on path 2: path 0 has nothing left, path 2 has both */
	assert_int_equal(rescue_take(&r, 7, 0, T0, sink_send, &k), 1);	/* the old one */
	assert_int_equal(k.first[2], 1);
	k.n = 0;
	assert_int_equal(rescue_take(&r, 7, 2, T0 + 10, sink_send, &k), 2);
	assert_int_equal(r.kept, 5);
	assert_int_equal(r.resent, 5);
	rescue_free(&r);
}

/* A datagram that could not go stays with its path, to be tried again. */
static void test_not_sent_stays(void **state)
{
	struct rescue r;
	struct sink k = { .to = -1 };

	(void)state;
	assert_int_equal(rescue_init(&r), 0);
	keep(&r, 7, 3, 9, 64, T0);
	assert_int_equal(rescue_take(&r, 7, 3, T0, sink_send, &k), 0);
	k.to = 1;
	assert_int_equal(rescue_take(&r, 7, 3, T0, sink_send, &k), 1);
	assert_int_equal(k.first[0], 9);
	rescue_free(&r);
}

/* The ring holds the last RESCUE_SLOTS datagrams; the window stops the
 * scan; datagrams larger than a slot are counted and not kept. */
static void test_bounds(void **state)
{
	struct rescue r;
	struct sink k = { .to = 1 };

	(void)state;
	assert_int_equal(rescue_init(&r), 0);
	for (unsigned i = 0; i < 3 * RESCUE_SLOTS; i++)
		keep(&r, 7, 0, (uint8_t)i, 32, T0 + i);
	keep(&r, 7, 0, 0xee, RESCUE_SLOT_BYTES + 1, T0 + 3 * RESCUE_SLOTS);
	assert_int_equal(r.too_big, 1);
	assert_int_equal(r.used, RESCUE_SLOTS);
	assert_int_equal(rescue_take(&r, 7, 0, T0 + 3 * RESCUE_SLOTS - 10, sink_send, &k), 10);
	assert_int_equal(k.first[0], (uint8_t)(3 * RESCUE_SLOTS - 10));
	k.n = 0;
	assert_int_equal(rescue_take(&r, 7, 0, 0, sink_send, &k), RESCUE_SLOTS - 10);
	assert_int_equal(k.first[0], (uint8_t)(2 * RESCUE_SLOTS));	/* the oldest left */
	rescue_free(&r);
	/* freed (or never allocated): keeps nothing, takes nothing */
	keep(&r, 7, 0, 1, 32, T0);
	assert_int_equal(rescue_take(&r, 7, 0, 0, sink_send, &k), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_filters),
		cmocka_unit_test(test_not_sent_stays),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
