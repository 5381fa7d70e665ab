/* Unit tests of common/fec.c: every erasure pattern a group can take back
 * (all k, m within the limits), byte-exact with lengths; more erasures than
 * parity are refused, never answered with wrong data; every malformed input
 * is refused and changes nothing. Ends with a timing of one group. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fec.h"
#include "prng.h"

static size_t below(size_t n)
{
	return (size_t)prng_below(n);
}

enum { MAX_LEN = 1400 };

/* A group as the sender had it: datagrams, their lengths, the parity. */
struct group {
	unsigned k, m;
	size_t len[FEC_MAX_DATA];
	uint8_t data[FEC_MAX_DATA][MAX_LEN];
	size_t plen;
	uint8_t parity[FEC_MAX_PARITY][MAX_LEN + FEC_LEN_BYTES];
};

static struct group G;
static struct fec_enc E;
static struct fec_dec D;

static int setup(void **state)
{
	(void)state;
	prng_state = 12;
	if (fec_enc_init(&E, MAX_LEN) || fec_dec_init(&D, MAX_LEN))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fec_enc_free(&E);
	fec_dec_free(&D);
	return 0;
}

/* Random datagrams of 1..max_len bytes (0 now and then), encoded. */
static void make_group(struct group *g, unsigned k, unsigned m, size_t max_len)
{
	g->k = k;
	g->m = m;
	assert_int_equal(fec_enc_begin(&E, k, m), 0);
	for (unsigned i = 0; i < k; i++) {
		g->len[i] = below(20) == 0 ? 0 : 1 + below(max_len);
		for (size_t b = 0; b < g->len[i]; b++)
			g->data[i][b] = (uint8_t)prng();
		assert_int_equal(fec_enc_add(&E, g->data[i], g->len[i]), (int)i);
	}
	assert_int_equal(fec_enc_seal(&E), 0);
	for (unsigned j = 0; j < m; j++) {
		size_t len;
		const uint8_t *p = fec_enc_parity(&E, j, &len);
		assert_non_null(p);
		g->plen = len;
		memcpy(g->parity[j], p, len);
	}
	assert_null(fec_enc_parity(&E, m, &(size_t){ 0 }));
}

/* Feeds the shards not in `erased` (bit i < k: data i; k + j: parity j) in a
 * random order, some twice, with a shard of another group among them. */
static void feed(const struct group *g, uint64_t id, uint32_t erased)
{
	unsigned order[FEC_MAX_SHARDS], n = 0;

	fec_dec_start(&D, id);
	for (unsigned i = 0; i < g->k + g->m; i++)
		if (!(erased & UINT32_C(1) << i))
			order[n++] = i;
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)below(i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (unsigned s = 0; s < n; s++) {
		unsigned i = order[s];
		int times = below(4) == 0 ? 2 : 1;
		for (int t = 0; t < times; t++) {
			enum fec_verdict v = i < g->k ?
				fec_dec_add_data(&D, id, i, g->data[i], g->len[i]) :
				fec_dec_add_parity(&D, id, g->k, g->m, i - g->k,
						   g->parity[i - g->k], g->plen);
			assert_int_equal(v, t ? FEC_DUPLICATE : FEC_ACCEPTED);
		}
		if (below(8) == 0) {
			assert_int_equal(fec_dec_add_data(&D, id + 1, 0, g->data[0], 1),
					 FEC_FOREIGN);
			assert_int_equal(fec_dec_add_parity(&D, id - 1, g->k, g->m, 0,
							    g->parity[0], g->plen),
					 FEC_FOREIGN);
		}
	}
}

static void expect_all_data(const struct group *g)
{
	for (unsigned i = 0; i < g->k; i++) {
		size_t len = 999999;
		const uint8_t *p = fec_dec_data(&D, i, &len);
		if (!p || len != g->len[i] || (len && memcmp(p, g->data[i], len)))
			fail_msg("k=%u m=%u: data %u %s (len %zu, want %zu)", g->k, g->m, i,
				 p ? "differs" : "missing", len, g->len[i]);
	}
}

/* One erasure pattern: recovered exactly if it erases at most m shards,
 * refused otherwise. */
static void check_pattern(const struct group *g, uint32_t erased)
{
	uint32_t lost_data = erased & ((UINT32_C(1) << g->k) - 1);
	unsigned n = (unsigned)__builtin_popcount(erased);

	feed(g, 1000 + erased, erased);
	bool parity_seen = (erased >> g->k) != (UINT32_C(1) << g->m) - 1;
	if (n > g->m) {
		assert_false(fec_dec_can_recover(&D));
		assert_int_equal(fec_dec_recover(&D), -EAGAIN);
		for (unsigned i = 0; i < g->k; i++)
			if (lost_data & UINT32_C(1) << i)
				assert_null(fec_dec_data(&D, i, &(size_t){ 0 }));
		return;
	}
	assert_int_equal(fec_dec_can_recover(&D), lost_data != 0 && parity_seen);
	int got = fec_dec_recover(&D);
	if (!parity_seen) {	/* k not known: nothing to do, or nothing possible */
		assert_int_equal(got, -EAGAIN);
		return;
	}
	assert_int_equal(got, __builtin_popcount(lost_data));
	assert_int_equal(D.recovered, lost_data);
	assert_false(fec_dec_can_recover(&D));
	expect_all_data(g);
}

/* Every subset of up to m + 1 of the k + m shards, for every k and m. */
static void test_every_erasure(void **state)
{
	(void)state;
	unsigned patterns = 0;

	for (unsigned k = 1; k <= FEC_MAX_DATA; k++)
		for (unsigned m = 1; m <= FEC_MAX_PARITY; m++) {
			make_group(&G, k, m, MAX_LEN);
			unsigned n = k + m;
			/* Gosper's hack: subsets of n by size */
			for (unsigned size = 0; size <= m + 1 && size <= n; size++) {
				if (size == 0) {
					check_pattern(&G, 0);
					patterns++;
					continue;
				}
				uint32_t s = (UINT32_C(1) << size) - 1;
				while (s < UINT32_C(1) << n) {
					check_pattern(&G, s);
					patterns++;
					uint32_t c = s & -s, r = s + c;
					s = (((r ^ s) >> 2) / c) | r;
				}
			}
		}
	/* sum over k, m of C(k + m, 0..m + 1): counted, so that a loop that
	 * stops early cannot pass */
	assert_int_equal(patterns, 109824);
}

/* Lengths across the whole range, up to the largest datagram, and groups
 * closed before k. */
static void test_lengths(void **state)
{
	(void)state;
	static struct fec_enc e;
	static struct fec_dec d;
	static uint8_t big[3][FEC_DATAGRAM_BYTES_MAX];
	const size_t lens[3] = { FEC_DATAGRAM_BYTES_MAX, 1, 0 };

	assert_int_equal(fec_enc_init(&e, FEC_DATAGRAM_BYTES_MAX + 1), -EINVAL);
	assert_int_equal(fec_dec_init(&d, FEC_DATAGRAM_BYTES_MAX + 1), -EINVAL);
	assert_int_equal(fec_enc_init(&e, FEC_DATAGRAM_BYTES_MAX), 0);
	assert_int_equal(fec_dec_init(&d, FEC_DATAGRAM_BYTES_MAX), 0);
	assert_int_equal(fec_enc_begin(&e, 8, 2), 0);	/* closed at 3 */
	for (unsigned i = 0; i < 3; i++) {
		for (size_t b = 0; b < lens[i]; b++)
			big[i][b] = (uint8_t)prng();
		assert_int_equal(fec_enc_add(&e, big[i], lens[i]), (int)i);
	}
	assert_int_equal(fec_enc_add(&e, big[0], FEC_DATAGRAM_BYTES_MAX + 1), -EINVAL);
	assert_int_equal(fec_enc_seal(&e), 0);
	assert_int_equal(e.k, 3);
	size_t plen;
	const uint8_t *p0 = fec_enc_parity(&e, 0, &plen), *p1 = fec_enc_parity(&e, 1, &plen);
	assert_int_equal(plen, FEC_DATAGRAM_BYTES_MAX + FEC_LEN_BYTES);
	/* the two longest lost: only the empty one and the parity remain */
	fec_dec_start(&d, 7);
	assert_int_equal(fec_dec_add_data(&d, 7, 2, big[2], 0), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&d, 7, 3, 2, 1, p1, plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&d, 7, 3, 2, 0, p0, plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_recover(&d), 2);
	for (unsigned i = 0; i < 3; i++) {
		size_t len;
		const uint8_t *p = fec_dec_data(&d, i, &len);
		assert_non_null(p);
		assert_int_equal(len, lens[i]);
		if (len)
			assert_memory_equal(p, big[i], len);
	}
	fec_enc_free(&e);
	fec_dec_free(&d);
}

/* Random groups, random lengths 1..MAX_LEN, random erasures within m. */
static void test_random(void **state)
{
	(void)state;
	for (int round = 0; round < 2000; round++) {
		unsigned k = 1 + (unsigned)below(FEC_MAX_DATA), m = 1 + (unsigned)below(FEC_MAX_PARITY);
		make_group(&G, k, m, 1 + below(MAX_LEN));
		uint32_t erased = 0;
		for (unsigned e = (unsigned)below(m + 1); e; e--)
			erased |= UINT32_C(1) << below(k + m);
		check_pattern(&G, erased);
	}
}

/* A duplicate is ignored even when its bytes differ (the first counts). */
static void test_duplicate_keeps_first(void **state)
{
	(void)state;
	uint8_t junk[MAX_LEN];

	memset(junk, 0xa5, sizeof(junk));
	make_group(&G, 4, 2, MAX_LEN);
	fec_dec_start(&D, 5);
	assert_int_equal(fec_dec_add_data(&D, 5, 1, G.data[1], G.len[1]), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_data(&D, 5, 1, junk, 10), FEC_DUPLICATE);
	assert_int_equal(fec_dec_add_parity(&D, 5, 4, 2, 0, G.parity[0], G.plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&D, 5, 4, 2, 0, junk, G.plen), FEC_DUPLICATE);
	assert_int_equal(fec_dec_add_data(&D, 5, 3, G.data[3], G.len[3]), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&D, 5, 4, 2, 1, G.parity[1], G.plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_recover(&D), 2);
	expect_all_data(&G);
	/* after recovery, a late copy of a recovered datagram is a duplicate */
	assert_int_equal(fec_dec_add_data(&D, 5, 0, junk, 3), FEC_DUPLICATE);
	expect_all_data(&G);
}

/* Malformed and inconsistent shards are refused and change nothing. */
static void test_malformed(void **state)
{
	(void)state;
	uint8_t buf[MAX_LEN + FEC_LEN_BYTES + 1] = { 0 };

	struct fec_dec fresh;
	assert_int_equal(fec_dec_init(&fresh, MAX_LEN), 0);	/* no group yet */
	assert_int_equal(fec_dec_add_data(&fresh, 0, 0, buf, 1), FEC_FOREIGN);
	fec_dec_free(&fresh);
	make_group(&G, 4, 2, MAX_LEN);
	fec_dec_start(&D, 9);
	/* out of range */
	assert_int_equal(fec_dec_add_data(&D, 9, FEC_MAX_DATA, buf, 1), FEC_INVALID);
	assert_int_equal(fec_dec_add_data(&D, 9, 0, buf, MAX_LEN + 1), FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 0, 2, 0, G.parity[0], G.plen), FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, FEC_MAX_DATA + 1, 2, 0, G.parity[0], G.plen),
			 FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 0, 0, G.parity[0], G.plen), FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, FEC_MAX_PARITY + 1, 0, G.parity[0], G.plen),
			 FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 2, G.parity[0], G.plen), FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 0, buf, 1), FEC_INVALID);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 0, buf, MAX_LEN + FEC_LEN_BYTES + 1),
			 FEC_INVALID);
	assert_int_equal(D.have, 0);
	assert_int_equal(D.k, 0);
	/* data before any parity: index 5 held, so k = 4 cannot be */
	assert_int_equal(fec_dec_add_data(&D, 9, 5, buf, 1), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 0, G.parity[0], G.plen), FEC_CONFLICT);
	fec_dec_start(&D, 9);
	/* a held datagram longer than the parity's shards */
	assert_int_equal(fec_dec_add_data(&D, 9, 0, buf, G.plen - 1), FEC_ACCEPTED);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 0, G.parity[0], G.plen), FEC_CONFLICT);
	assert_int_equal(D.k, 0);
	fec_dec_start(&D, 9);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 0, G.parity[0], G.plen), FEC_ACCEPTED);
	/* once k, m and the shard length are known, what disagrees */
	assert_int_equal(fec_dec_add_parity(&D, 9, 5, 2, 1, G.parity[1], G.plen), FEC_CONFLICT);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 3, 1, G.parity[1], G.plen), FEC_CONFLICT);
	assert_int_equal(fec_dec_add_parity(&D, 9, 4, 2, 1, G.parity[1], G.plen - 1),
			 FEC_CONFLICT);
	assert_int_equal(fec_dec_add_data(&D, 9, 4, buf, 1), FEC_CONFLICT);
	assert_int_equal(fec_dec_add_data(&D, 9, 0, buf, G.plen - 1), FEC_CONFLICT);
	assert_int_equal(D.have, UINT32_C(1) << FEC_MAX_DATA);
	/* the rest of the group still recovers */
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(fec_dec_add_data(&D, 9, i, G.data[i], G.len[i]), FEC_ACCEPTED);
	assert_int_equal(fec_dec_recover(&D), 1);
	expect_all_data(&G);
	assert_null(fec_dec_data(&D, 4, &(size_t){ 0 }));
	assert_null(fec_dec_data(&D, FEC_MAX_DATA, &(size_t){ 0 }));
}

/* The encoder refuses what it cannot do. */
static void test_encoder_misuse(void **state)
{
	(void)state;
	uint8_t buf[MAX_LEN + 1] = { 0 };
	struct fec_enc e;

	assert_int_equal(fec_enc_init(&e, MAX_LEN), 0);
	assert_int_equal(fec_enc_add(&e, buf, 1), -ENOSPC);	/* no group */
	assert_int_equal(fec_enc_seal(&e), -EINVAL);
	assert_int_equal(fec_enc_begin(&e, 0, 1), -EINVAL);
	assert_int_equal(fec_enc_begin(&e, FEC_MAX_DATA + 1, 1), -EINVAL);
	assert_int_equal(fec_enc_begin(&e, 1, 0), -EINVAL);
	assert_int_equal(fec_enc_begin(&e, 1, FEC_MAX_PARITY + 1), -EINVAL);
	assert_int_equal(fec_enc_begin(&e, 2, 1), 0);
	assert_null(fec_enc_parity(&e, 0, &(size_t){ 0 }));	/* not sealed */
	assert_int_equal(fec_enc_seal(&e), -EINVAL);		/* empty */
	assert_int_equal(fec_enc_add(&e, buf, MAX_LEN + 1), -EINVAL);
	assert_int_equal(fec_enc_add(&e, buf, MAX_LEN), 0);
	assert_int_equal(fec_enc_add(&e, buf, 3), 1);
	assert_int_equal(fec_enc_add(&e, buf, 3), -ENOSPC);	/* full */
	assert_int_equal(fec_enc_seal(&e), 0);
	assert_int_equal(fec_enc_seal(&e), -EINVAL);		/* twice */
	assert_int_equal(fec_enc_add(&e, buf, 3), -ENOSPC);	/* sealed */
	fec_enc_free(&e);
}

/* Rebuilt shards that cannot be (a length beyond the shard, bytes past the
 * length) are refused: with k = 1 the parity is the data shard itself. */
static void test_corrupt_parity_refused(void **state)
{
	(void)state;
	uint8_t bad[MAX_LEN + FEC_LEN_BYTES];

	make_group(&G, 1, 1, MAX_LEN);
	memcpy(bad, G.parity[0], G.plen);
	assert_memory_equal(bad + FEC_LEN_BYTES, G.data[0], G.len[0]);
	bad[0] = 0xff;		/* length 65,280 and more */
	fec_dec_start(&D, 3);
	assert_int_equal(fec_dec_add_parity(&D, 3, 1, 1, 0, bad, G.plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_recover(&D), -EBADMSG);
	assert_null(fec_dec_data(&D, 0, &(size_t){ 0 }));
	assert_int_equal(D.recovered, 0);
	/* a shorter length leaves non-zero bytes past it */
	memcpy(bad, G.parity[0], G.plen);
	while (G.len[0] < 2 || G.data[0][G.len[0] - 1] == 0) {
		make_group(&G, 1, 1, MAX_LEN);
		memcpy(bad, G.parity[0], G.plen);
	}
	bad[0] = (uint8_t)((G.len[0] - 1) >> 8);
	bad[1] = (uint8_t)(G.len[0] - 1);
	fec_dec_start(&D, 4);
	assert_int_equal(fec_dec_add_parity(&D, 4, 1, 1, 0, bad, G.plen), FEC_ACCEPTED);
	assert_int_equal(fec_dec_recover(&D), -EBADMSG);
	assert_null(fec_dec_data(&D, 0, &(size_t){ 0 }));
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Not a test of speed (a bound here would be today's machine): prints what
 * a group costs, for fec.c's comment and docs/PERFORMANCE.md. 1,400-byte
 * datagrams, all m data datagrams lost (the most a decode rebuilds). */
static void time_group(unsigned k, unsigned m)
{
	enum { ROUNDS = 2000 };
	double enc = 0, dec = 0, rec = 0, t;
	const uint8_t *par[FEC_MAX_PARITY];
	size_t plen = 0;

	for (unsigned i = 0; i < k; i++)
		memset(G.data[i], (int)i + 1, MAX_LEN);
	for (int r = 0; r < ROUNDS; r++) {
		t = now_ns();
		fec_enc_begin(&E, k, m);
		for (unsigned i = 0; i < k; i++)
			fec_enc_add(&E, G.data[i], MAX_LEN);
		fec_enc_seal(&E);
		enc += now_ns() - t;
		for (unsigned j = 0; j < m; j++)
			par[j] = fec_enc_parity(&E, j, &plen);
		t = now_ns();
		fec_dec_start(&D, (uint64_t)r);
		for (unsigned i = m; i < k; i++)
			fec_dec_add_data(&D, (uint64_t)r, i, G.data[i], MAX_LEN);
		for (unsigned j = 0; j < m; j++)
			fec_dec_add_parity(&D, (uint64_t)r, k, m, j, par[j], plen);
		double t1 = now_ns();
		int got = fec_dec_recover(&D);
		rec += now_ns() - t1;
		dec += now_ns() - t;
		assert_int_equal(got, (int)m);
	}
	printf("fec: k=%u m=%u %d B: encode %.2f us/group (copy in + parity), decode %.2f "
	       "us/group (copy in + %u lost rebuilt, of which fec_dec_recover %.2f)\n",
	       k, m, MAX_LEN, enc / ROUNDS / 1e3, dec / ROUNDS / 1e3, m, rec / ROUNDS / 1e3);
}

static void test_timing(void **state)
{
	(void)state;
	time_group(8, 2);
	time_group(FEC_MAX_DATA, FEC_MAX_PARITY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_erasure),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_duplicate_keeps_first),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_encoder_misuse),
		cmocka_unit_test(test_corrupt_parity_refused),
		cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
