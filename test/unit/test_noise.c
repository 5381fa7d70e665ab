/* Unit tests of common/noise.c: known answers for Noise_IK and
 * Noise_IKpsk2_25519_AESGCM_SHA256 computed with an independent
 * implementation (python3-dissononce 0.34.3, its crypto from
 * python3-cryptography; test/integration/test_noise.py drives the two
 * against each other live), round trips, every single-byte change of either
 * message rejected, a wrong responder key, the unknown-initiator path, psk
 * mismatches, small-order public keys, payload and message bounds, misuse
 * of the state machine, the public-key text format and timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "noise.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The vectors' inputs: static keys 01..20 (initiator) and 65..84
 * (responder), ephemerals c9..e8 and 07 x 32, psk 40..5f, prologue
 * "mprelay", payloads "hello" and "". */
static uint8_t i_priv[32], r_priv[32], i_eph[32], r_eph[32], psk[32];
static const uint8_t prologue[] = "mprelay";
#define PROLOGUE_LEN (sizeof(prologue) - 1)

static void hex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(s), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		i_priv[i] = (uint8_t)(1 + i);
		r_priv[i] = (uint8_t)(101 + i);
		i_eph[i] = (uint8_t)(201 + i);
		r_eph[i] = 7;
		psk[i] = (uint8_t)(0x40 + i);
	}
	return 0;
}

/* dissononce's answers for those inputs. */
struct vector {
	const char *name;
	int with_psk;
	const char *msg1, *msg2, *i2r, *r2i, *hash;
};

static const struct vector vectors[] = {
	{ "IK", 0,
	  "4c29f4996985e80d247e80b70303824592ff9fbad74904ea7c3d2bda24e51c12"
	  "8c13ef9e7cb646512172402dec53fb92f6da673bc3ebefe830a8abe40328cf50"
	  "7391f1f0bea35fca8314baabf7488d4c2f09ffccb7c28008273b5e0a5090a732"
	  "80db9b99eb",
	  "13be4feaeaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6d"
	  "93d1c5a34fdcbbf291b0edf31c3ec8d5",
	  "2a1cd9eb46ebeb0185895662707a67ae5524df0a797120e9e8f30213c8899149",
	  "189d6dd20ad8741fb7e8b221cb3e025c65f18876a5ae9458cbb4ee05b91f572f",
	  "56ff30856c5b5ed9da9656492fcacb202d84f5cd16d13927dd1858bde03811d2" },
	{ "IKpsk2", 1,
	  "4c29f4996985e80d247e80b70303824592ff9fbad74904ea7c3d2bda24e51c12"
	  "64a5425cda02f73f6b8737c09d38a2a58bc9d0a2c7b7e92c06fb07f1c76e24a2"
	  "e1eceb4e7ba49d6458a8a18fb202c52399d06616cab24bbac19bca571e8395e0"
	  "a481cecb7a",
	  "13be4feaeaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6d"
	  "fa9889c7b51a75cbe43c0d35e1b24474",
	  "600929309f77243e89635d9990f306393c3bb4dc36515c50cd582c24f7861a61",
	  "ab10562bf752a587a3dbef06b13b27eb3bbd03ab280e25935e18928a4d4d2ea4",
	  "829fee01569049d4dbefbee0e413bbd7755c3bb3abc902c004fbe268a98e673e" },
};

/* The initiator's static public key (python3-cryptography's X25519). */
#define I_PUB "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"

/* ---- helpers ----------------------------------------------------------------- */

struct pair {
	struct noise_keypair is, rs;
	struct noise_hs i, r;
	uint8_t m1[NOISE_MSG1_MAX], m2[NOISE_MSG2_MAX];
	long m1_len, m2_len;
};

/* Both sides set up with the vectors' keys (fixed ephemerals if fixed). */
static void pair_init(struct pair *p, int with_psk, int fixed)
{
	assert_int_equal(noise_keypair_from_private(&p->is, i_priv), 0);
	assert_int_equal(noise_keypair_from_private(&p->rs, r_priv), 0);
	assert_int_equal(noise_init_initiator(&p->i, &p->is, p->rs.pub, with_psk ? psk : NULL,
					      prologue, PROLOGUE_LEN), 0);
	assert_int_equal(noise_init_responder(&p->r, &p->rs, with_psk, prologue, PROLOGUE_LEN), 0);
	if (fixed) {
		assert_int_equal(noise_hs_set_ephemeral(&p->i, i_eph), 0);
		assert_int_equal(noise_hs_set_ephemeral(&p->r, r_eph), 0);
	}
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return !acc;
}

/* The responder's whole read of message 1; its payload length or -1. */
static long respond_read(struct noise_hs *r, const uint8_t *m, size_t len, const uint8_t *k,
			 uint8_t peer[32], uint8_t payload[NOISE_PAYLOAD_MAX])
{
	if (noise_read_msg1_peer(r, m, len, peer))
		return -1;
	return noise_read_msg1(r, m, len, k, payload);
}

/* ---- known answers ---------------------------------------------------------- */

static void test_known_answers(void **state)
{
	(void)state;
	for (size_t v = 0; v < N_ELEMS(vectors); v++) {
		const struct vector *t = &vectors[v];
		uint8_t want1[101], want2[48], want[32], peer[32], pl[NOISE_PAYLOAD_MAX];
		struct noise_keys ki, kr;
		struct pair p;

		hex(t->msg1, want1, sizeof(want1));
		hex(t->msg2, want2, sizeof(want2));
		pair_init(&p, t->with_psk, 1);
		assert_int_equal(noise_write_msg1(&p.i, (const uint8_t *)"hello", 5, p.m1,
						  sizeof(p.m1)), 101);
		assert_memory_equal(p.m1, want1, sizeof(want1));
		assert_int_equal(respond_read(&p.r, p.m1, 101, t->with_psk ? psk : NULL, peer, pl), 5);
		assert_memory_equal(pl, "hello", 5);
		hex(I_PUB, want, 32);
		assert_memory_equal(peer, want, 32);
		assert_int_equal(noise_write_msg2(&p.r, NULL, 0, p.m2, sizeof(p.m2)), 48);
		assert_memory_equal(p.m2, want2, sizeof(want2));
		assert_int_equal(noise_read_msg2(&p.i, p.m2, 48, pl), 0);
		assert_int_equal(noise_split(&p.i, &ki), 0);
		assert_int_equal(noise_split(&p.r, &kr), 0);
		assert_memory_equal(&ki, &kr, sizeof(ki));
		hex(t->i2r, want, 32);
		assert_memory_equal(ki.i2r, want, 32);
		hex(t->r2i, want, 32);
		assert_memory_equal(ki.r2i, want, 32);
		hex(t->hash, want, 32);
		assert_memory_equal(ki.hash, want, 32);
		/* split wiped both states */
		assert_true(all_zero(&p.i, sizeof(p.i)) && all_zero(&p.r, sizeof(p.r)));
	}
}

/* ---- round trips ------------------------------------------------------------- */

static void round_trip(int with_psk, size_t plen1, size_t plen2)
{
	uint8_t pay1[NOISE_PAYLOAD_MAX], pay2[NOISE_PAYLOAD_MAX], got[NOISE_PAYLOAD_MAX], peer[32];
	struct noise_keys ki, kr;
	struct pair p;

	for (size_t i = 0; i < NOISE_PAYLOAD_MAX; i++) {
		pay1[i] = (uint8_t)i;
		pay2[i] = (uint8_t)(0xff - i);
	}
	pair_init(&p, with_psk, 0);
	p.m1_len = noise_write_msg1(&p.i, pay1, plen1, p.m1, sizeof(p.m1));
	assert_int_equal(p.m1_len, NOISE_MSG1_OVERHEAD + plen1);
	assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, with_psk ? psk : NULL, peer,
				      got), (long)plen1);
	assert_memory_equal(got, pay1, plen1);
	assert_memory_equal(peer, p.is.pub, 32);
	p.m2_len = noise_write_msg2(&p.r, pay2, plen2, p.m2, sizeof(p.m2));
	assert_int_equal(p.m2_len, NOISE_MSG2_OVERHEAD + plen2);
	assert_int_equal(noise_read_msg2(&p.i, p.m2, (size_t)p.m2_len, got), (long)plen2);
	assert_memory_equal(got, pay2, plen2);
	assert_int_equal(noise_split(&p.i, &ki), 0);
	assert_int_equal(noise_split(&p.r, &kr), 0);
	assert_memory_equal(&ki, &kr, sizeof(ki));
	assert_memory_not_equal(ki.i2r, ki.r2i, 32);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		round_trip(k, 0, 0);
		round_trip(k, 12, 7);
		round_trip(k, NOISE_PAYLOAD_MAX, NOISE_PAYLOAD_MAX);
	}
}

/* Random ephemerals: two handshakes of the same peers agree on nothing. */
static void test_fresh_keys_each_time(void **state)
{
	struct noise_keys a, b, tmp;
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32];
	struct noise_keys *out[] = { &a, &b };

	(void)state;
	for (int n = 0; n < 2; n++) {
		struct pair p;
		pair_init(&p, 0, 0);
		p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
		assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, NULL, peer, got), 0);
		p.m2_len = noise_write_msg2(&p.r, NULL, 0, p.m2, sizeof(p.m2));
		assert_int_equal(noise_read_msg2(&p.i, p.m2, (size_t)p.m2_len, got), 0);
		assert_int_equal(noise_split(&p.i, out[n]), 0);
		assert_int_equal(noise_split(&p.r, &tmp), 0);
	}
	assert_memory_not_equal(a.i2r, b.i2r, 32);
	assert_memory_not_equal(a.hash, b.hash, 32);
}

/* ---- tampering ---------------------------------------------------------------- */

/* Every byte of message 1, each of 3 changes: the responder refuses it at
 * one of its two steps, and is dead after. */
static void test_msg1_every_byte(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32], bad[NOISE_MSG1_MAX];

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct pair p;
		pair_init(&p, k, 1);
		p.m1_len = noise_write_msg1(&p.i, (const uint8_t *)"0123456789ab", 12, p.m1,
					    sizeof(p.m1));
		for (long i = 0; i < p.m1_len; i++) {
			for (size_t f = 0; f < N_ELEMS(flips); f++) {
				struct noise_hs r;
				memcpy(bad, p.m1, (size_t)p.m1_len);
				bad[i] ^= flips[f];
				assert_int_equal(noise_init_responder(&r, &p.rs, k, prologue,
								      PROLOGUE_LEN), 0);
				assert_int_equal(respond_read(&r, bad, (size_t)p.m1_len,
							      k ? psk : NULL, peer, got), -1);
				assert_true(all_zero(&r, sizeof(r)));
			}
		}
	}
}

static void test_msg2_every_byte(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32], bad[NOISE_MSG2_MAX];

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct pair p;
		pair_init(&p, k, 1);
		p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
		assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, k ? psk : NULL, peer,
					      got), 0);
		p.m2_len = noise_write_msg2(&p.r, (const uint8_t *)"ok", 2, p.m2, sizeof(p.m2));
		for (long i = 0; i < p.m2_len; i++) {
			for (size_t f = 0; f < N_ELEMS(flips); f++) {
				/* A fresh initiator that sent the same message 1. */
				struct pair q;
				pair_init(&q, k, 1);
				assert_int_equal(noise_write_msg1(&q.i, NULL, 0, q.m1, sizeof(q.m1)),
						 p.m1_len);
				memcpy(bad, p.m2, (size_t)p.m2_len);
				bad[i] ^= flips[f];
				assert_int_equal(noise_read_msg2(&q.i, bad, (size_t)p.m2_len, got), -1);
				assert_true(all_zero(&q.i, sizeof(q.i)));
				noise_hs_wipe(&q.r);
			}
		}
		noise_hs_wipe(&p.i);
		noise_hs_wipe(&p.r);
	}
}

/* Lengths: one byte short or long of what was sent fails, and so do the
 * bounds themselves (below the overhead, above the maximum). */
static void test_lengths(void **state)
{
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32], big[NOISE_MSG1_MAX + 1] = { 0 };
	const size_t lens[] = { 0, 1, NOISE_MSG1_OVERHEAD - 1, NOISE_MSG1_MAX + 1 };
	struct pair p;

	(void)state;
	pair_init(&p, 0, 1);
	p.m1_len = noise_write_msg1(&p.i, (const uint8_t *)"abc", 3, p.m1, sizeof(p.m1));
	for (int d = -1; d <= 1; d += 2) {
		struct noise_hs r;
		memcpy(big, p.m1, (size_t)p.m1_len);
		assert_int_equal(noise_init_responder(&r, &p.rs, 0, prologue, PROLOGUE_LEN), 0);
		assert_int_equal(respond_read(&r, big, (size_t)(p.m1_len + d), NULL, peer, got), -1);
	}
	for (size_t i = 0; i < N_ELEMS(lens); i++) {
		struct noise_hs r;
		assert_int_equal(noise_init_responder(&r, &p.rs, 0, prologue, PROLOGUE_LEN), 0);
		assert_int_equal(noise_read_msg1_peer(&r, big, lens[i], peer), -1);
	}
	/* Step 2 with another length than step 1 saw. */
	{
		struct noise_hs r;
		assert_int_equal(noise_init_responder(&r, &p.rs, 0, prologue, PROLOGUE_LEN), 0);
		assert_int_equal(noise_read_msg1_peer(&r, p.m1, (size_t)p.m1_len, peer), 0);
		assert_int_equal(noise_read_msg1(&r, p.m1, (size_t)p.m1_len - 1, NULL, got), -1);
	}
	/* Message 2: below the overhead, above the maximum. */
	{
		struct pair q;
		pair_init(&q, 0, 1);
		noise_write_msg1(&q.i, NULL, 0, q.m1, sizeof(q.m1));
		assert_int_equal(noise_read_msg2(&q.i, big, NOISE_MSG2_OVERHEAD - 1, got), -1);
		pair_init(&q, 0, 1);
		noise_write_msg1(&q.i, NULL, 0, q.m1, sizeof(q.m1));
		assert_int_equal(noise_read_msg2(&q.i, big, NOISE_MSG2_MAX + 1, got), -1);
	}
	noise_hs_wipe(&p.i);
	noise_hs_wipe(&p.r);
}

/* The payload maximum, and an output buffer one byte too small. */
static void test_payload_max(void **state)
{
	uint8_t pay[NOISE_PAYLOAD_MAX + 1] = { 0 }, out[NOISE_MSG1_MAX + 1];
	struct pair p;

	(void)state;
	pair_init(&p, 0, 0);
	assert_int_equal(noise_write_msg1(&p.i, pay, NOISE_PAYLOAD_MAX + 1, out, sizeof(out)), -1);
	assert_true(all_zero(&p.i, sizeof(p.i)));
	pair_init(&p, 0, 0);
	assert_int_equal(noise_write_msg1(&p.i, pay, 10, out, NOISE_MSG1_OVERHEAD + 9), -1);
	pair_init(&p, 0, 0);
	assert_int_equal(noise_write_msg1(&p.i, pay, NOISE_PAYLOAD_MAX, out, NOISE_MSG1_MAX),
			 NOISE_MSG1_MAX);
	noise_hs_wipe(&p.i);
	noise_hs_wipe(&p.r);
}

/* ---- keys and peers ----------------------------------------------------------- */

/* A message 1 made for another responder key fails at step 1. */
static void test_wrong_responder_key(void **state)
{
	uint8_t other[32], got[NOISE_PAYLOAD_MAX], peer[32];
	struct noise_keypair ok;
	struct pair p;

	(void)state;
	memset(other, 9, sizeof(other));
	assert_int_equal(noise_keypair_from_private(&ok, other), 0);
	pair_init(&p, 0, 0);
	assert_int_equal(noise_init_initiator(&p.i, &p.is, ok.pub, NULL, prologue, PROLOGUE_LEN), 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, NULL, peer, got), -1);
	/* And another prologue. */
	pair_init(&p, 0, 0);
	assert_int_equal(noise_init_responder(&p.r, &p.rs, 0, (const uint8_t *)"other", 5), 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, NULL, peer, got), -1);
	noise_hs_wipe(&p.i);
}

/* The responder learns the key, finds it not allowed, and stops there:
 * the state is wiped and refuses the rest. */
static void test_unknown_initiator(void **state)
{
	uint8_t allowed[3][NOISE_KEY_LEN], got[NOISE_PAYLOAD_MAX], peer[32];
	struct pair p;

	(void)state;
	memset(allowed, 0x33, sizeof(allowed));
	pair_init(&p, 0, 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(noise_read_msg1_peer(&p.r, p.m1, (size_t)p.m1_len, peer), 0);
	assert_int_equal(noise_peer_find((const uint8_t (*)[32])allowed, 3, peer), -1);
	noise_hs_wipe(&p.r);
	assert_true(all_zero(&p.r, sizeof(p.r)));
	assert_int_equal(noise_read_msg1(&p.r, p.m1, (size_t)p.m1_len, NULL, got), -1);
	assert_int_equal(noise_write_msg2(&p.r, NULL, 0, p.m2, sizeof(p.m2)), -1);
	/* Allowed: found wherever it is in the list. */
	for (int at = 0; at < 3; at++) {
		memset(allowed, 0x33, sizeof(allowed));
		memcpy(allowed[at], p.is.pub, 32);
		assert_int_equal(noise_peer_find((const uint8_t (*)[32])allowed, 3, p.is.pub), at);
	}
	assert_int_equal(noise_peer_find((const uint8_t (*)[32])allowed, 0, p.is.pub), -1);
	noise_hs_wipe(&p.i);
}

/* psk2: a different psk fails the initiator's read of message 2; psk and
 * no psk do not mix (another protocol name, and the API says so). */
static void test_psk_mismatch(void **state)
{
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32], other[32];
	struct pair p;

	(void)state;
	memcpy(other, psk, 32);
	other[31] ^= 1;
	pair_init(&p, 1, 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(respond_read(&p.r, p.m1, (size_t)p.m1_len, other, peer, got), 0);
	p.m2_len = noise_write_msg2(&p.r, NULL, 0, p.m2, sizeof(p.m2));
	assert_true(p.m2_len > 0);
	assert_int_equal(noise_read_msg2(&p.i, p.m2, (size_t)p.m2_len, got), -1);
	noise_hs_wipe(&p.r);
	/* psk_mode responder given no psk; plain responder given one. */
	for (int k = 0; k < 2; k++) {
		pair_init(&p, 1, 0);
		assert_int_equal(noise_init_responder(&p.r, &p.rs, k, prologue, PROLOGUE_LEN), 0);
		p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
		if (!noise_read_msg1_peer(&p.r, p.m1, (size_t)p.m1_len, peer))
			assert_int_equal(noise_read_msg1(&p.r, p.m1, (size_t)p.m1_len,
							 k ? NULL : psk, got), -1);
		assert_true(all_zero(&p.r, sizeof(p.r)));
		noise_hs_wipe(&p.i);
	}
	/* IKpsk2 initiator, IK responder: not even the static key comes out. */
	pair_init(&p, 1, 0);
	assert_int_equal(noise_init_responder(&p.r, &p.rs, 0, prologue, PROLOGUE_LEN), 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(noise_read_msg1_peer(&p.r, p.m1, (size_t)p.m1_len, peer), -1);
	noise_hs_wipe(&p.i);
}

/* The small-order list: each entry (and each with the top bit set, which
 * X25519 ignores) gives OpenSSL's X25519 no shared secret, and is refused
 * as a responder key, in text, and as an ephemeral in a message. */
static const char *const weak_hex[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

/* X25519 straight from EVP, as the test's own reference: 1 if it gives a
 * nonzero secret. */
static int evp_dh_ok(const uint8_t priv[32], const uint8_t pub[32])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(a, NULL);
	uint8_t out[32];
	size_t len = 32;
	int ok = EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, b) == 1 &&
		 EVP_PKEY_derive(c, out, &len) == 1 && !all_zero(out, 32);

	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	return ok;
}

static void test_low_order_keys(void **state)
{
	uint8_t w[32], got[NOISE_PAYLOAD_MAX], peer[32], bad[NOISE_MSG1_MAX];
	char text[NOISE_PUBKEY_B64_LEN + 1], err[200];
	struct pair p;

	(void)state;
	assert_int_equal(noise_keypair_from_private(&p.is, i_priv), 0);
	assert_false(noise_pubkey_is_weak(p.is.pub));
	assert_true(evp_dh_ok(i_priv, p.is.pub));
	for (size_t n = 0; n < N_ELEMS(weak_hex); n++) {
		for (int top = 0; top < 2; top++) {
			hex(weak_hex[n], w, 32);
			w[31] |= (uint8_t)(top << 7);
			assert_true(noise_pubkey_is_weak(w));
			assert_false(evp_dh_ok(i_priv, w));
			assert_false(evp_dh_ok(r_eph, w));
			noise_pubkey_format(w, text);
			assert_int_equal(noise_pubkey_parse(text, strlen(text), w, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "small order"));
			hex(weak_hex[n], w, 32);
			w[31] |= (uint8_t)(top << 7);
			pair_init(&p, 0, 0);
			assert_int_equal(noise_init_initiator(&p.i, &p.is, w, NULL, NULL, 0), -1);
			/* As the ephemeral of a message 1: es gives zero, refused. */
			pair_init(&p, 0, 0);
			p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
			memcpy(bad, p.m1, (size_t)p.m1_len);
			memcpy(bad, w, 32);
			assert_int_equal(respond_read(&p.r, bad, (size_t)p.m1_len, NULL, peer, got), -1);
			noise_hs_wipe(&p.i);
		}
	}
}

/* ---- misuse -------------------------------------------------------------------- */

static void test_wrong_order(void **state)
{
	uint8_t got[NOISE_PAYLOAD_MAX], peer[32];
	struct noise_keys k;
	struct pair p;

	(void)state;
	pair_init(&p, 0, 0);
	assert_int_equal(noise_split(&p.i, &k), -1);		/* too early */
	assert_true(all_zero(&k, sizeof(k)));
	assert_int_equal(noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1)), -1);  /* dead */
	pair_init(&p, 0, 0);
	assert_int_equal(noise_write_msg2(&p.i, NULL, 0, p.m2, sizeof(p.m2)), -1); /* not its */
	assert_int_equal(noise_write_msg1(&p.r, NULL, 0, p.m1, sizeof(p.m1)), -1);
	pair_init(&p, 0, 0);
	p.m1_len = noise_write_msg1(&p.i, NULL, 0, p.m1, sizeof(p.m1));
	assert_int_equal(noise_read_msg1(&p.r, p.m1, (size_t)p.m1_len, NULL, got), -1);  /* step 1 first */
	assert_int_equal(noise_read_msg1_peer(&p.i, p.m1, (size_t)p.m1_len, peer), -1);
	assert_int_equal(noise_init_responder(&p.r, &p.rs, 0, prologue, NOISE_PROLOGUE_MAX + 1), -1);
	assert_int_equal(noise_hs_set_ephemeral(&p.r, r_eph), -1);		/* dead */
}

/* ---- public keys as text ---------------------------------------------------------- */

static void test_pubkey_text(void **state)
{
	/* RFC 7748 6.1: Alice's public key, base64 by Python's base64 module. */
	static const char alice[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	static const char *const bad[] = {
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",		/* 43 */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo==",	/* 45 */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=",		/* spare bits */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqqb=mo=",		/* '=' inside */
		"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=",		/* url-safe */
		" SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo\n",
	};
	uint8_t pub[32], want[32];
	char text[NOISE_PUBKEY_B64_LEN + 1], err[200];

	(void)state;
	hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
	assert_int_equal(noise_pubkey_parse(alice, 44, pub, err, sizeof(err)), 0);
	assert_memory_equal(pub, want, 32);
	noise_pubkey_format(pub, text);
	assert_string_equal(text, alice);
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		memset(pub, 0xaa, sizeof(pub));
		assert_int_equal(noise_pubkey_parse(bad[i], strlen(bad[i]), pub, err, sizeof(err)), -1);
		assert_true(strlen(err) > 10);
		assert_int_equal(pub[0], 0xaa);		/* untouched */
	}
	/* A NUL inside the 44 bytes. */
	memcpy(text, alice, 45);
	text[10] = '\0';
	assert_int_equal(noise_pubkey_parse(text, 44, pub, err, sizeof(err)), -1);
	/* RFC 7748 6.1's private key gives its public key. */
	{
		struct noise_keypair kp;
		uint8_t priv[32];
		hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv, 32);
		assert_int_equal(noise_keypair_from_private(&kp, priv), 0);
		assert_memory_equal(kp.pub, want, 32);
		noise_keypair_wipe(&kp);
		assert_true(all_zero(&kp, sizeof(kp)));
	}
}

/* ---- timestamps ------------------------------------------------------------------ */

static void test_timestamps(void **state)
{
	uint8_t last[NOISE_TIMESTAMP_LEN] = { 0 }, ts[NOISE_TIMESTAMP_LEN], t2[NOISE_TIMESTAMP_LEN];

	(void)state;
	/* Many in a row, faster than the clock moves: strictly increasing. */
	for (int i = 0; i < 100000; i++) {
		noise_timestamp(ts);
		assert_true(noise_timestamp_newer(ts, last));
		assert_false(noise_timestamp_newer(last, ts));
		assert_false(noise_timestamp_newer(ts, ts));
		memcpy(last, ts, sizeof(ts));
	}
	/* TAI64: 2^62 + Unix seconds, in the first 8 bytes. */
	assert_int_equal(ts[0], 0x40);
	/* A later second with fewer nanoseconds is newer; ns >= 10^9 is not
	 * a timestamp. */
	memcpy(t2, ts, sizeof(ts));
	t2[7]++;
	memset(t2 + 8, 0, 4);
	if (t2[7] != 0)
		assert_true(noise_timestamp_newer(t2, ts));
	memcpy(t2, ts, sizeof(ts));
	t2[0] = 0x7f;
	t2[8] = 0x3b, t2[9] = 0x9a, t2[10] = 0xca, t2[11] = 0x00;	/* 10^9 */
	assert_false(noise_timestamp_newer(t2, ts));
	t2[11] = 0xff, t2[10] = 0xc9;				/* 10^9 - 1 */
	assert_true(noise_timestamp_newer(t2, ts));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fresh_keys_each_time),
		cmocka_unit_test(test_msg1_every_byte),
		cmocka_unit_test(test_msg2_every_byte),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_payload_max),
		cmocka_unit_test(test_wrong_responder_key),
		cmocka_unit_test(test_unknown_initiator),
		cmocka_unit_test(test_psk_mismatch),
		cmocka_unit_test(test_low_order_keys),
		cmocka_unit_test(test_wrong_order),
		cmocka_unit_test(test_pubkey_text),
		cmocka_unit_test(test_timestamps),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
