/* Unit tests of common/seq.c: sender numbering and the receiver's epoch
 * rules (adopt, restart, refuse retired epochs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "seq.h"
#include "wire.h"

/* ---- sender ------------------------------------------------------------ */

static void test_tx_counts_from_one(void **state)
{
	static const uint32_t epochs[] = { 1, 0x12345678u, UINT32_MAX };
	struct seq_tx tx;

	(void)state;
	for (size_t e = 0; e < sizeof(epochs) / sizeof(epochs[0]); e++) {
		seq_tx_init(&tx, epochs[e]);
		assert_int_equal(tx.epoch, epochs[e]);
		for (uint64_t want = 1; want <= 1000; want++)
			assert_int_equal(seq_tx_next(&tx), want);
		assert_int_equal(tx.epoch, epochs[e]);
	}
}

static void test_tx_rollover(void **state)
{
	static const uint64_t starts[] = { MP_SEQ_MAX - 3, MP_SEQ_MAX };
	struct seq_tx tx;

	(void)state;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		seq_tx_init(&tx, 0xabcdef01u);
		tx.next = starts[i];
		for (uint64_t s = starts[i]; s <= MP_SEQ_MAX; s++) {
			assert_int_equal(seq_tx_next(&tx), s);
			assert_int_equal(tx.epoch, 0xabcdef01u);
		}
		/* past 2^48-1: a new random nonzero epoch, numbering from 1 */
		assert_int_equal(seq_tx_next(&tx), 1);
		assert_int_not_equal(tx.epoch, 0);
		assert_int_not_equal(tx.epoch, 0xabcdef01u);	/* 2^-32 flake */
		uint32_t e2 = tx.epoch;
		assert_int_equal(seq_tx_next(&tx), 2);
		assert_int_equal(seq_tx_next(&tx), 3);
		assert_int_equal(tx.epoch, e2);
	}
}

/* ---- receiver: scripted scenarios ---------------------------------------- */

struct step {
	uint32_t epoch;
	uint64_t seq;
	enum seq_verdict want;
	uint32_t cur;		/* the followed epoch afterwards */
	uint64_t restarts;	/* restarts afterwards */
};

struct scenario {
	const char *name;
	const struct step *steps;
	size_t n;
};

#define A 0x0000000au
#define B 0xb0000000u
#define C 0x0000c0c0u
#define D 0xffffffffu
#define E 0x00000001u
#define F 0x7eeeeeeeu

static const struct step first_epoch[] = {
	{ A, 5, SEQ_ACCEPT, A, 0 },
	{ A, 5, SEQ_DUP, A, 0 },
	{ A, 1, SEQ_ACCEPT, A, 0 },
	{ A, 6, SEQ_ACCEPT, A, 0 },
	{ A, 6 + WINDOW_SIZE, SEQ_ACCEPT, A, 0 },
	{ A, 6, SEQ_OLD, A, 0 },
	{ A, 7, SEQ_ACCEPT, A, 0 },
};

/* A new epoch starts a new window: the same numbers are new again, and
 * numbers that were too old under the previous epoch are fine. */
static const struct step restart[] = {
	{ A, 1, SEQ_ACCEPT, A, 0 },
	{ A, 2, SEQ_ACCEPT, A, 0 },
	{ A, 100000, SEQ_ACCEPT, A, 0 },
	{ A, 2, SEQ_OLD, A, 0 },
	{ B, 1, SEQ_ACCEPT, B, 1 },
	{ B, 2, SEQ_ACCEPT, B, 1 },
	{ B, 100000, SEQ_ACCEPT, B, 1 },
	{ B, 100000, SEQ_DUP, B, 1 },
	{ C, 100000, SEQ_ACCEPT, C, 2 },
	{ C, 100000, SEQ_DUP, C, 2 },
	{ C, 99999, SEQ_ACCEPT, C, 2 },
};

/* The flip-flop: a straggler from the replaced instance must not take the
 * session back, and must not reset the new window. */
static const struct step flip_flop[] = {
	{ A, 1, SEQ_ACCEPT, A, 0 },
	{ B, 1, SEQ_ACCEPT, B, 1 },
	{ A, 2, SEQ_STALE_EPOCH, B, 1 },
	{ B, 1, SEQ_DUP, B, 1 },
	{ A, 1, SEQ_STALE_EPOCH, B, 1 },
	{ B, 2, SEQ_ACCEPT, B, 1 },
	{ A, 3, SEQ_STALE_EPOCH, B, 1 },
	{ B, 2, SEQ_DUP, B, 1 },
};

/* Exactly SEQ_RETIRED_EPOCHS retired epochs are remembered, newest first;
 * the oldest is forgotten when a fifth one retires. */
static const struct step retire_four[] = {
	{ A, 1, SEQ_ACCEPT, A, 0 },
	{ B, 1, SEQ_ACCEPT, B, 1 },
	{ C, 1, SEQ_ACCEPT, C, 2 },
	{ D, 1, SEQ_ACCEPT, D, 3 },
	{ E, 1, SEQ_ACCEPT, E, 4 },	/* retired: D C B A */
	{ A, 9, SEQ_STALE_EPOCH, E, 4 },
	{ B, 9, SEQ_STALE_EPOCH, E, 4 },
	{ C, 9, SEQ_STALE_EPOCH, E, 4 },
	{ D, 9, SEQ_STALE_EPOCH, E, 4 },
	{ E, 1, SEQ_DUP, E, 4 },
	{ F, 1, SEQ_ACCEPT, F, 5 },	/* retired: E D C B; A forgotten */
	{ B, 9, SEQ_STALE_EPOCH, F, 5 },
	{ C, 9, SEQ_STALE_EPOCH, F, 5 },
	{ D, 9, SEQ_STALE_EPOCH, F, 5 },
	{ E, 9, SEQ_STALE_EPOCH, F, 5 },
	{ A, 1, SEQ_ACCEPT, A, 6 },	/* back, with a fresh window */
	{ A, 1, SEQ_DUP, A, 6 },
	{ F, 2, SEQ_STALE_EPOCH, A, 6 },
	{ B, 9, SEQ_ACCEPT, B, 7 },	/* retired was F E D C: B forgotten */
};

/* Refused packets change nothing: stale epochs, duplicates and old ones
 * leave the epoch, the restart count and the window as they were. */
static const struct step refusals_are_inert[] = {
	{ A, 10000, SEQ_ACCEPT, A, 0 },
	{ B, 50, SEQ_ACCEPT, B, 1 },
	{ A, 20000, SEQ_STALE_EPOCH, B, 1 },
	{ B, 49, SEQ_ACCEPT, B, 1 },	/* window top still 50 */
	{ B, 50 + WINDOW_SIZE, SEQ_ACCEPT, B, 1 },
	{ B, 50, SEQ_OLD, B, 1 },
	{ B, 51, SEQ_ACCEPT, B, 1 },
	{ B, 51, SEQ_DUP, B, 1 },
};

#define SCEN(x) { #x, x, sizeof(x) / sizeof(x[0]) }
static const struct scenario scenarios[] = {
	SCEN(first_epoch),
	SCEN(restart),
	SCEN(flip_flop),
	SCEN(retire_four),
	SCEN(refusals_are_inert),
};

static struct seq_rx RX;	/* holds a 1 KiB window */

static void test_rx_scenarios(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];

		seq_rx_init(&RX);
		assert_int_equal(RX.epoch, 0);
		assert_int_equal(RX.restarts, 0);
		for (size_t i = 0; i < sc->n; i++) {
			const struct step *st = &sc->steps[i];
			enum seq_verdict got = seq_rx_accept(&RX, st->epoch, st->seq);

			if (got != st->want || RX.epoch != st->cur ||
			    RX.restarts != st->restarts)
				fail_msg("%s step %zu (epoch %#x seq %llu): verdict %d "
					 "epoch %#x restarts %llu; expected %d %#x %llu",
					 sc->name, i, st->epoch,
					 (unsigned long long)st->seq, (int)got,
					 RX.epoch, (unsigned long long)RX.restarts,
					 (int)st->want, st->cur,
					 (unsigned long long)st->restarts);
		}
	}
}

/* The retired list in detail: newest first, shifted one by one. */
static void test_rx_retired_list(void **state)
{
	static const uint32_t epochs[] = { 11, 22, 33, 44, 55, 66, 77 };

	(void)state;
	seq_rx_init(&RX);
	for (size_t i = 0; i < sizeof(epochs) / sizeof(epochs[0]); i++) {
		assert_int_equal(seq_rx_accept(&RX, epochs[i], 1), SEQ_ACCEPT);
		assert_int_equal(RX.epoch, epochs[i]);
		assert_int_equal(RX.restarts, i);
		for (size_t k = 0; k < SEQ_RETIRED_EPOCHS; k++) {
			uint32_t want = k < i ? epochs[i - 1 - k] : 0;
			assert_int_equal(RX.retired[k], want);
		}
	}
	/* 77 current; 66 55 44 33 retired; 22 and 11 forgotten */
	for (size_t i = 2; i < 6; i++)
		assert_int_equal(seq_rx_accept(&RX, epochs[i], 2), SEQ_STALE_EPOCH);
	assert_int_equal(RX.epoch, 77);
	assert_int_equal(seq_rx_accept(&RX, 77, 1), SEQ_DUP);
	assert_int_equal(seq_rx_accept(&RX, 11, 1), SEQ_ACCEPT);
	assert_int_equal(RX.retired[0], 77);
	assert_int_equal(RX.restarts, 7);
}

/* A sender rolling over at 2^48-1 looks to the receiver like a restart:
 * the new epoch's seq 1 is accepted, the old epoch's stragglers are not. */
static void test_tx_rx_rollover(void **state)
{
	struct seq_tx tx;

	(void)state;
	seq_tx_init(&tx, 0x5eed);
	seq_rx_init(&RX);
	tx.next = MP_SEQ_MAX - 2;
	for (int i = 0; i < 3; i++) {
		uint32_t e = tx.epoch;
		uint64_t s = seq_tx_next(&tx);
		assert_int_equal(seq_rx_accept(&RX, e, s), SEQ_ACCEPT);
	}
	uint64_t s = seq_tx_next(&tx);
	assert_int_equal(s, 1);
	assert_int_equal(seq_rx_accept(&RX, tx.epoch, s), SEQ_ACCEPT);
	assert_int_equal(RX.restarts, 1);
	assert_int_equal(seq_rx_accept(&RX, 0x5eed, MP_SEQ_MAX - 3),
			 SEQ_STALE_EPOCH);
	assert_int_equal(seq_rx_accept(&RX, tx.epoch, seq_tx_next(&tx)),
			 SEQ_ACCEPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_counts_from_one),
		cmocka_unit_test(test_tx_rollover),
		cmocka_unit_test(test_rx_scenarios),
		cmocka_unit_test(test_rx_retired_list),
		cmocka_unit_test(test_tx_rx_rollover),
	};

	return cmocka_run_group_tests_name("seq", tests, NULL, NULL);
}
