/* Unit tests of common/rescue.c: what is kept, what a path's failure takes
 * back (its session, its path, its window, oldest first), that a datagram
 * sent again belongs to its new path, the ring's bounds, and loss
 * recovery's lookup by (session, seq) with its limits. */
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
	rescue_keep(r, session, t - T0 + 1, path, pkt, len, t);	/* seq from the time */
}

struct resink {
	unsigned n;
	int to;
	unsigned from;		/* the last call's */
	uint8_t tag;
};

static int resink_send(void *ctx, unsigned from, uint8_t *pkt, size_t len)
{
	struct resink *k = ctx;

	(void)len;
	k->from = from;
	k->tag = pkt[1];
	k->n += k->to >= 0;
	return k->to;
}

/* Found by (session, seq); from the path it last went on; at most max
 * times; not again before not_after; a send that finds no path changes
 * nothing; overwritten slots are not found. */
static void test_resend(void **state)
{
	struct rescue r;
	struct resink k = { .to = 2 };

	(void)state;
	assert_int_equal(rescue_init(&r), 0);
	for (unsigned i = 0; i < 5; i++)
		keep(&r, 7, 0, (uint8_t)(10 + i), 100, T0 + i);	/* seqs 1..5 */
	keep(&r, 8, 1, 99, 100, T0 + 2);			/* session 8, seq 3 */
	assert_int_equal(rescue_resend(&r, 7, 3, 2, T0, T0 + 100, resink_send, &k),
			 RESCUE_RESENT);
	assert_int_equal(k.tag, 12);
	assert_int_equal(k.from, 0);
	assert_int_equal(rescue_resend(&r, 8, 3, 2, T0, T0 + 100, resink_send, &k),
			 RESCUE_RESENT);
	assert_int_equal(k.tag, 99);
	assert_int_equal(k.from, 1);
	/* resent at T0 + 100: not again for a caller that says "not after T0 + 99" */
	assert_int_equal(rescue_resend(&r, 7, 3, 2, T0 + 99, T0 + 150, resink_send, &k),
			 RESCUE_RECENT);
	k.to = 4;
	assert_int_equal(rescue_resend(&r, 7, 3, 2, T0 + 100, T0 + 200, resink_send, &k),
			 RESCUE_RESENT);
	assert_int_equal(k.from, 2);				/* where it went last */
	assert_int_equal(rescue_resend(&r, 7, 3, 2, T0 + 300, T0 + 300, resink_send, &k),
			 RESCUE_SPENT);
	assert_int_equal(rescue_resend(&r, 7, 6, 2, T0, T0 + 300, resink_send, &k),
			 RESCUE_NOT_KEPT);
	assert_int_equal(rescue_resend(&r, 9, 1, 2, T0, T0 + 300, resink_send, &k),
			 RESCUE_NOT_KEPT);
	k.to = -1;
	unsigned n = k.n;
	assert_int_equal(rescue_resend(&r, 7, 4, 1, T0, T0 + 300, resink_send, &k),
			 RESCUE_NO_PATH);
	k.to = 1;
	assert_int_equal(rescue_resend(&r, 7, 4, 1, T0, T0 + 300, resink_send, &k),
			 RESCUE_RESENT);	/* the failed try did not count */
	assert_int_equal(k.n, n + 1);
	/* the ring wraps: the old seqs are gone, the newest are found */
	for (unsigned i = 0; i < RESCUE_SLOTS; i++)
		keep(&r, 7, 0, 0, 100, T0 + 1000 + i);
	assert_int_equal(rescue_resend(&r, 7, 5, 4, T0 + 9999, T0 + 9999, resink_send, &k),
			 RESCUE_NOT_KEPT);
	assert_int_equal(rescue_resend(&r, 7, 1001 + RESCUE_SLOTS - 1, 4, T0 + 9999,
				       T0 + 9999, resink_send, &k),
			 RESCUE_RESENT);
	rescue_free(&r);
	assert_int_equal(rescue_resend(&r, 7, 1, 4, T0, T0, resink_send, &k), RESCUE_NOT_KEPT);
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
		cmocka_unit_test(test_resend),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
