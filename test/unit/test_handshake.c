/* Unit tests of common/handshake.c (HELLO, WELCOME and RESET: layout, exact
 * lengths, MAC coverage, padding) and common/ratelimit.c (the token bucket
 * that bounds the work unauthenticated input can cause). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "crypto.h"
#include "handshake.h"
#include "ratelimit.h"
#include "wire.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t client_random[CRYPTO_RANDOM_LEN] = {
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
	0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
};
static const uint8_t server_random[CRYPTO_RANDOM_LEN] = {
	0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
	0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
};

static struct crypto_master master_of(uint8_t first)
{
	struct crypto_master m;
	uint8_t key[CRYPTO_KEY_LEN];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(first + i * 3);
	assert_int_equal(crypto_master_init(&m, key), 0);
	return m;
}

/* ---- the three messages behind one interface ------------------------------ */

static size_t build_hello(uint8_t *buf, const struct crypto_master *m,
			  const struct mp_hdr *h)
{
	return hs_hello_build(buf, m, h, client_random);
}

static size_t build_welcome(uint8_t *buf, const struct crypto_master *m,
			    const struct mp_hdr *h)
{
	return hs_welcome_build(buf, m, h, client_random, server_random);
}

static size_t build_reset(uint8_t *buf, const struct crypto_master *m,
			  const struct mp_hdr *h)
{
	return hs_reset_build(buf, m, h);
}

/* Check, and on success verify what was copied out. */
static int check_hello(const uint8_t *buf, size_t len, const struct crypto_master *m)
{
	uint8_t cr[CRYPTO_RANDOM_LEN];

	memset(cr, 0xee, sizeof(cr));
	if (hs_hello_check(buf, len, m, cr))
		return -1;
	assert_memory_equal(cr, buf + MP_HDR_LEN, sizeof(cr));
	return 0;
}

static int check_welcome(const uint8_t *buf, size_t len, const struct crypto_master *m)
{
	uint8_t cr[CRYPTO_RANDOM_LEN], sr[CRYPTO_RANDOM_LEN];

	memset(cr, 0xee, sizeof(cr));
	memset(sr, 0xee, sizeof(sr));
	if (hs_welcome_check(buf, len, m, cr, sr))
		return -1;
	assert_memory_equal(cr, buf + MP_HDR_LEN, sizeof(cr));
	assert_memory_equal(sr, buf + MP_HDR_LEN + CRYPTO_RANDOM_LEN, sizeof(sr));
	return 0;
}

static int check_reset(const uint8_t *buf, size_t len, const struct crypto_master *m)
{
	return hs_reset_check(buf, len, m);
}

struct hs_kind {
	const char *name;
	enum mp_type type;
	size_t len;
	uint8_t vts;		/* byte 1 */
	size_t (*build)(uint8_t *buf, const struct crypto_master *m, const struct mp_hdr *h);
	int (*check)(const uint8_t *buf, size_t len, const struct crypto_master *m);
};

static const struct hs_kind kinds[] = {
	{ "HELLO", MP_T_HELLO, 64, 0x1b, build_hello, check_hello },
	{ "WELCOME", MP_T_WELCOME, 64, 0x1c, build_welcome, check_welcome },
	{ "RESET", MP_T_RESET, 32, 0x1d, build_reset, check_reset },
};

/* Headers as the caller gives them: type and sealed are whatever, the build
 * sets them. */
static const struct mp_hdr hdrs[] = {
	{ 3, MP_T_DATA, 0, 0x01020304u, 0xa1b2c3d4u, 1 },
	{ 0, 0, 0, 1, 1, 1 },
	{ 15, 7, 1, UINT32_MAX, UINT32_MAX, MP_SEQ_MAX },
	{ 7, MP_T_PROBE, 0, 0x80000000u, 0x00ff00ffu, UINT64_C(0x123456789abc) },
};

static uint8_t buf[HS_MAX_LEN + 64];
static uint8_t t[HS_MAX_LEN + 64];

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(HS_HELLO_LEN, 64);
	assert_int_equal(HS_WELCOME_LEN, 64);
	assert_int_equal(HS_RESET_LEN, 32);
	assert_int_equal(HS_MAX_LEN, 64);
	/* RESET is no larger than the smallest sealed packet */
	assert_true(HS_RESET_LEN <= MP_HDR_LEN + MP_TAG_LEN);
}

static void test_round_trip(void **state)
{
	struct crypto_master m = master_of(1);

	(void)state;
	for (size_t k = 0; k < N_ELEMS(kinds); k++)
		for (size_t i = 0; i < N_ELEMS(hdrs); i++) {
			const struct hs_kind *kd = &kinds[k];
			uint8_t want_hdr[MP_HDR_LEN];
			struct mp_hdr h = hdrs[i], out;
			size_t len, plen = 999;

			memset(buf, 0xee, sizeof(buf));
			len = kd->build(buf, &m, &h);
			assert_int_equal(len, kd->len);
			for (size_t j = len; j < sizeof(buf); j++)
				if (buf[j] != 0xee)
					fail_msg("%s wrote byte %zu", kd->name, j);

			/* the header is wire_put_hdr's, sealed, of the right type */
			h.type = (uint8_t)kd->type;
			h.sealed = 1;
			wire_put_hdr(want_hdr, &h);
			assert_memory_equal(buf, want_hdr, MP_HDR_LEN);
			assert_int_equal(buf[1], kd->vts);

			/* the body */
			if (kd->type == MP_T_HELLO) {
				static const uint8_t zero[CRYPTO_RANDOM_LEN];

				assert_memory_equal(buf + 16, client_random, 16);
				assert_memory_equal(buf + 32, zero, 16);
			} else if (kd->type == MP_T_WELCOME) {
				assert_memory_equal(buf + 16, client_random, 16);
				assert_memory_equal(buf + 32, server_random, 16);
			}
			/* the MAC: over bytes 1..end of body */
			{
				uint8_t mac[CRYPTO_MAC_LEN];

				crypto_mac(&m, buf + 1, len - CRYPTO_MAC_LEN - 1, mac);
				assert_memory_equal(buf + len - CRYPTO_MAC_LEN, mac, sizeof(mac));
			}

			if (kd->check(buf, len, &m))
				fail_msg("%s, header %zu: refused", kd->name, i);

			/* wire_parse takes it keyed, refuses it unkeyed */
			memset(&out, 0x5a, sizeof(out));
			assert_int_equal(wire_parse(buf, len, 1, &out, &plen), WIRE_OK);
			assert_int_equal(out.type, kd->type);
			assert_int_equal(out.sealed, 1);
			assert_int_equal(out.path, h.path);
			assert_int_equal(out.session, h.session);
			assert_int_equal(out.epoch, h.epoch);
			assert_true(out.seq == h.seq);
			assert_int_equal(plen, len - MP_HDR_LEN - MP_TAG_LEN);
			assert_int_equal(wire_parse(buf, len, 0, &out, &plen), WIRE_SEALED);
		}
	crypto_master_wipe(&m);
}

/* Built twice, the same bytes; the randoms really are what is sent. */
static void test_deterministic(void **state)
{
	struct crypto_master m = master_of(1);
	uint8_t other[CRYPTO_RANDOM_LEN], a[HS_MAX_LEN], b[HS_MAX_LEN];

	(void)state;
	for (size_t k = 0; k < N_ELEMS(kinds); k++) {
		size_t la = kinds[k].build(a, &m, &hdrs[0]);
		size_t lb = kinds[k].build(b, &m, &hdrs[0]);

		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
	}
	memcpy(other, client_random, sizeof(other));
	other[5] ^= 0x10;
	hs_hello_build(a, &m, &hdrs[0], client_random);
	hs_hello_build(b, &m, &hdrs[0], other);
	assert_memory_not_equal(a + HS_HELLO_LEN - CRYPTO_MAC_LEN,
				b + HS_HELLO_LEN - CRYPTO_MAC_LEN, CRYPTO_MAC_LEN);
	hs_welcome_build(a, &m, &hdrs[0], client_random, server_random);
	hs_welcome_build(b, &m, &hdrs[0], client_random, other);
	assert_memory_not_equal(a + HS_WELCOME_LEN - CRYPTO_MAC_LEN,
				b + HS_WELCOME_LEN - CRYPTO_MAC_LEN, CRYPTO_MAC_LEN);
	crypto_master_wipe(&m);
}

static void test_lengths(void **state)
{
	struct crypto_master m = master_of(1);

	(void)state;
	for (size_t k = 0; k < N_ELEMS(kinds); k++) {
		const struct hs_kind *kd = &kinds[k];
		size_t len;

		memset(buf, 0, sizeof(buf));
		len = kd->build(buf, &m, &hdrs[0]);
		for (size_t l = 0; l < sizeof(buf); l++) {
			int rc = kd->check(buf, l, &m);

			if (l == len && rc != 0)
				fail_msg("%s: exact length %zu refused", kd->name, l);
			if (l != len && rc != -1)
				fail_msg("%s: length %zu (built %zu) accepted", kd->name, l, len);
		}
		/* with the MAC moved to where a longer or shorter message
		 * would have it, still refused */
		memcpy(t, buf, len);
		memmove(t + len + 1 - CRYPTO_MAC_LEN, buf + len - CRYPTO_MAC_LEN,
			CRYPTO_MAC_LEN);
		assert_int_equal(kd->check(t, len + 1, &m), -1);
		memcpy(t, buf, len);
		memmove(t + len - 1 - CRYPTO_MAC_LEN, buf + len - CRYPTO_MAC_LEN,
			CRYPTO_MAC_LEN);
		assert_int_equal(kd->check(t, len - 1, &m), -1);
	}
	crypto_master_wipe(&m);
}

static void test_bit_flips(void **state)
{
	struct crypto_master m = master_of(1);

	(void)state;
	for (size_t k = 0; k < N_ELEMS(kinds); k++) {
		const struct hs_kind *kd = &kinds[k];
		size_t len = kd->build(buf, &m, &hdrs[3]);

		for (size_t i = 1; i < len; i++)
			for (int b = 0; b < 8; b++) {
				memcpy(t, buf, len);
				t[i] ^= (uint8_t)(1u << b);
				if (kd->check(t, len, &m) != -1)
					fail_msg("%s: byte %zu bit %d flip accepted",
						 kd->name, i, b);
			}
		/* byte 0, the path id, is outside the MAC */
		for (int b = 0; b < 8; b++) {
			memcpy(t, buf, len);
			t[0] ^= (uint8_t)(1u << b);
			if (kd->check(t, len, &m) != 0)
				fail_msg("%s: path bit %d flip refused", kd->name, b);
		}
		/* a zero MAC is refused */
		memcpy(t, buf, len);
		memset(t + len - CRYPTO_MAC_LEN, 0, CRYPTO_MAC_LEN);
		assert_int_equal(kd->check(t, len, &m), -1);
	}
	crypto_master_wipe(&m);
}

static void test_other_key(void **state)
{
	struct crypto_master m = master_of(1), other = master_of(2);

	(void)state;
	for (size_t k = 0; k < N_ELEMS(kinds); k++) {
		const struct hs_kind *kd = &kinds[k];
		size_t len = kd->build(buf, &m, &hdrs[0]);

		assert_int_equal(kd->check(buf, len, &m), 0);
		if (kd->check(buf, len, &other) != -1)
			fail_msg("%s: accepted under another key", kd->name);
		len = kd->build(buf, &other, &hdrs[0]);
		assert_int_equal(kd->check(buf, len, &other), 0);
		assert_int_equal(kd->check(buf, len, &m), -1);
	}
	crypto_master_wipe(&m);
	crypto_master_wipe(&other);
}

/* A HELLO whose padding is not zero is refused even when its MAC is right
 * (recomputed over the changed bytes). */
static void test_hello_padding(void **state)
{
	struct crypto_master m = master_of(1);
	const size_t body = HS_HELLO_LEN - CRYPTO_MAC_LEN;
	uint8_t cr[CRYPTO_RANDOM_LEN];

	(void)state;
	assert_int_equal(hs_hello_build(buf, &m, &hdrs[0], client_random), HS_HELLO_LEN);
	/* the re-MAC technique itself: unchanged bytes, recomputed MAC: accepted */
	memcpy(t, buf, HS_HELLO_LEN);
	crypto_mac(&m, t + 1, body - 1, t + body);
	assert_memory_equal(t, buf, HS_HELLO_LEN);
	assert_int_equal(hs_hello_check(t, HS_HELLO_LEN, &m, cr), 0);
	/* the random may be anything: re-MACed, accepted */
	memcpy(t, buf, HS_HELLO_LEN);
	t[MP_HDR_LEN + 3] ^= 0xff;
	crypto_mac(&m, t + 1, body - 1, t + body);
	assert_int_equal(hs_hello_check(t, HS_HELLO_LEN, &m, cr), 0);
	assert_int_equal(cr[3], client_random[3] ^ 0xff);

	for (size_t i = MP_HDR_LEN + CRYPTO_RANDOM_LEN; i < body; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(t, buf, HS_HELLO_LEN);
			t[i] ^= (uint8_t)(1u << b);
			crypto_mac(&m, t + 1, body - 1, t + body);
			assert_int_equal(crypto_mac_check(&m, t + 1, body - 1, t + body), 0);
			if (hs_hello_check(t, HS_HELLO_LEN, &m, cr) != -1)
				fail_msg("padding byte %zu bit %d set: accepted", i, b);
		}
	memcpy(t, buf, HS_HELLO_LEN);
	memset(t + MP_HDR_LEN + CRYPTO_RANDOM_LEN, 0xff, CRYPTO_RANDOM_LEN);
	crypto_mac(&m, t + 1, body - 1, t + body);
	assert_int_equal(hs_hello_check(t, HS_HELLO_LEN, &m, cr), -1);
	crypto_master_wipe(&m);
}

/* The types are told apart by the MAC-covered byte 1: a message re-typed
 * in transit fails its MAC. */
static void test_retyped(void **state)
{
	struct crypto_master m = master_of(1);
	uint8_t cr[CRYPTO_RANDOM_LEN], sr[CRYPTO_RANDOM_LEN];

	(void)state;
	hs_welcome_build(buf, &m, &hdrs[0], client_random, server_random);
	memcpy(t, buf, HS_WELCOME_LEN);
	t[1] = (uint8_t)((t[1] & ~MP_VTS_TYPE) | MP_T_HELLO);
	assert_int_equal(hs_hello_check(t, HS_HELLO_LEN, &m, cr), -1);
	assert_int_equal(hs_welcome_check(t, HS_WELCOME_LEN, &m, cr, sr), -1);

	hs_hello_build(buf, &m, &hdrs[0], client_random);
	memcpy(t, buf, HS_HELLO_LEN);
	t[1] = (uint8_t)((t[1] & ~MP_VTS_TYPE) | MP_T_WELCOME);
	assert_int_equal(hs_welcome_check(t, HS_WELCOME_LEN, &m, cr, sr), -1);
	/* and unsealed: a plaintext-looking byte 1 */
	memcpy(t, buf, HS_HELLO_LEN);
	t[1] &= (uint8_t)~MP_VTS_SEALED;
	assert_int_equal(hs_hello_check(t, HS_HELLO_LEN, &m, cr), -1);

	/* a RESET's 32 bytes are not the front of a HELLO */
	hs_reset_build(buf, &m, &hdrs[0]);
	assert_int_equal(hs_reset_check(buf, HS_RESET_LEN, &m), 0);
	hs_hello_build(t, &m, &hdrs[0], client_random);
	assert_int_equal(hs_reset_check(t, HS_RESET_LEN, &m), -1);
	crypto_master_wipe(&m);
}

/* ---- rate limit ------------------------------------------------------------ */

static void test_rl_burst(void **state)
{
	struct ratelimit r;

	(void)state;
	ratelimit_init(&r, 10, 5, 1000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_allow(&r, 1000), 1);
	assert_int_equal(r.refused, 0);
	assert_int_equal(ratelimit_allow(&r, 1000), 0);
	assert_int_equal(r.refused, 1);
	for (int i = 0; i < 9; i++)
		assert_int_equal(ratelimit_allow(&r, 1000), 0);
	assert_int_equal(r.refused, 10);
}

static void test_rl_refill(void **state)
{
	struct ratelimit r;

	(void)state;
	ratelimit_init(&r, 10, 5, 1000);	/* one token per 100 ms */
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_allow(&r, 1000), 1);
	assert_int_equal(ratelimit_allow(&r, 1099), 0);	/* 0.99 token */
	assert_int_equal(ratelimit_allow(&r, 1100), 1);
	assert_int_equal(ratelimit_allow(&r, 1100), 0);
	/* fractions add up across calls */
	assert_int_equal(ratelimit_allow(&r, 1150), 0);
	assert_int_equal(ratelimit_allow(&r, 1199), 0);
	assert_int_equal(ratelimit_allow(&r, 1200), 1);
	assert_int_equal(r.refused, 4);
	/* 250 ms: two tokens and a half */
	assert_int_equal(ratelimit_allow(&r, 1450), 1);
	assert_int_equal(ratelimit_allow(&r, 1450), 1);
	assert_int_equal(ratelimit_allow(&r, 1450), 0);
	assert_int_equal(ratelimit_allow(&r, 1500), 1);
	/* a long pause fills the bucket to the burst, no more */
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_allow(&r, 60000), 1);
	assert_int_equal(ratelimit_allow(&r, 60000), 0);
	assert_int_equal(r.refused, 6);
	/* time going backwards adds nothing and breaks nothing */
	assert_int_equal(ratelimit_allow(&r, 500), 0);
	assert_int_equal(ratelimit_allow(&r, 60099), 0);
	assert_int_equal(ratelimit_allow(&r, 60100), 1);
}

/* The steady rate over a long run is per_s, not more. */
static void test_rl_rate(void **state)
{
	struct ratelimit r;
	unsigned allowed = 0;

	(void)state;
	ratelimit_init(&r, 2000, 200, 0);
	for (uint64_t ms = 0; ms < 10000; ms++)
		for (int i = 0; i < 5; i++)	/* 5000/s offered */
			allowed += (unsigned)ratelimit_allow(&r, ms);
	/* 200 burst + 2000/s for 9.999 s */
	assert_true(allowed >= 200 + 19998 - 2 && allowed <= 200 + 19998);
	assert_int_equal(r.refused, 50000 - allowed);

	ratelimit_init(&r, 0, 3, 0);	/* no refill at all */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_allow(&r, 0), 1);
	assert_int_equal(ratelimit_allow(&r, UINT64_MAX / 2), 0);
	ratelimit_init(&r, 1000, 0, 0);	/* no burst: nothing ever */
	assert_int_equal(ratelimit_allow(&r, 0), 0);
	assert_int_equal(ratelimit_allow(&r, 100000), 0);
}

/* After a pause of any length the bucket is full: exactly `burst` events
 * go through. Each case is checked from a full and from an empty bucket. */
struct rl_jump {
	const char *name;
	uint32_t per_s, burst;
	uint64_t from, to;
};

static const struct rl_jump jumps[] = {
	{ "10 years at 2000/s", 2000, 200, 1000, 1000 + UINT64_C(315360000000) },
	{ "to UINT64_MAX at 1000/s", 1000, 10, 0, UINT64_MAX },
	{ "to UINT64_MAX at UINT32_MAX/s", UINT32_MAX, 10, 0, UINT64_MAX },
	{ "2^48 ms at 65536/s", 65536, 10, 0, UINT64_C(1) << 48 },
	{ "2^33 ms (99 days) at 2^31/s", UINT32_C(1) << 31, 10, 5, 5 + (UINT64_C(1) << 33) },
	{ "ceil(2^64/1000) ms at 1000/s", 1000, 10, 0, UINT64_C(18446744073709552) },
	{ "UINT64_MAX - 500 ms at 1/s", 1, 1, 0, UINT64_MAX - 500 },
	{ "UINT64_MAX - 1 ms at 1/s", 1, 3, 0, UINT64_MAX - 1 },
};

static void test_rl_huge_jumps(void **state)
{
	unsigned bad = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(jumps); i++)
		for (int empty = 0; empty < 2; empty++) {
			const struct rl_jump *j = &jumps[i];
			struct ratelimit r;
			uint32_t n = 0;

			ratelimit_init(&r, j->per_s, j->burst, j->from);
			if (empty) {
				while (ratelimit_allow(&r, j->from))
					;
				r.refused = 0;
			}
			while (n <= j->burst && ratelimit_allow(&r, j->to))
				n++;
			if (n != j->burst) {
				print_error("%s (from a %s bucket): %u allowed after the pause, "
					    "want %u\n", j->name, empty ? "empty" : "full",
					    n, j->burst);
				bad++;
			}
		}
	if (bad)
		fail_msg("%u huge time jumps gave the wrong number of tokens", bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_hello_padding),
		cmocka_unit_test(test_retyped),
		cmocka_unit_test(test_rl_burst),
		cmocka_unit_test(test_rl_refill),
		cmocka_unit_test(test_rl_rate),
		cmocka_unit_test(test_rl_huge_jumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
