/* libFuzzer harness for the Noise IK handshake (common/noise.c), with fixed
 * keys and ephemerals (the same as gen_noise_seeds.py, which makes the seeds
 * with python3-dissononce). An input is a mode byte and a message:
 *
 *   mode bit 0: IKpsk2 (else IK); bit 1: the bytes are a message 2 (else a
 *   message 1).
 *
 *   1. Message 1 goes to a responder (noise_read_msg1_peer, then, if the
 *      key it reveals is the one allowed, noise_read_msg1), message 2 to an
 *      initiator that has sent the reference message 1. Whatever is
 *      accepted must be what the genuine peer would have sent: the same
 *      handshake rebuilt with the payload that came out gives the very same
 *      bytes, and both sides split to the same keys. A refused message
 *      leaves the state wiped (all zeros).
 *   2. The input also picks a byte of the reference message (its sum) and
 *      a nonzero mask (its last byte): that changed copy must be refused.
 *
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_noise: invariant failed: %s "     \
				"(line %d)\n", #cond, __LINE__);                 \
			abort();                                                 \
		}                                                                \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t prologue[] = "mprelay fuzz";
#define PROLOGUE_LEN (sizeof(prologue) - 1)
static const uint8_t payload1[] = "0123456789ab";	/* a timestamp's room */
static const uint8_t payload2[] = "ok";

static uint8_t i_priv[32], r_priv[32], i_eph[32], r_eph[32], psk[32];
static struct noise_keypair i_static, r_static;
/* The reference messages, [psk mode]. */
static uint8_t ref1[2][NOISE_MSG1_MAX], ref2[2][NOISE_MSG2_MAX];
static long ref1_len[2], ref2_len[2];

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return !acc;
}

static void initiator(struct noise_hs *hs, int k)
{
	CHECK(!noise_init_initiator(hs, &i_static, r_static.pub, k ? psk : NULL, prologue,
				    PROLOGUE_LEN));
	CHECK(!noise_hs_set_ephemeral(hs, i_eph));
}

static void responder(struct noise_hs *hs, int k)
{
	CHECK(!noise_init_responder(hs, &r_static, k, prologue, PROLOGUE_LEN));
	CHECK(!noise_hs_set_ephemeral(hs, r_eph));
}

/* Message 1 as the initiator with our keys sends it with payload pl; the
 * initiator is left waiting for message 2. */
static long build1(struct noise_hs *i, int k, const uint8_t *pl, size_t plen, uint8_t *out)
{
	initiator(i, k);
	return noise_write_msg1(i, pl, plen, out, NOISE_MSG1_MAX);
}

/* A responder that has read the reference message 1. */
static void responder_after1(struct noise_hs *r, int k)
{
	uint8_t peer[32], pl[NOISE_PAYLOAD_MAX];

	responder(r, k);
	CHECK(!noise_read_msg1_peer(r, ref1[k], (size_t)ref1_len[k], peer));
	CHECK(noise_read_msg1(r, ref1[k], (size_t)ref1_len[k], k ? psk : NULL, pl) ==
	      (long)sizeof(payload1) - 1);
}

static void setup(void)
{
	static int ready;
	struct noise_hs i, r;

	if (ready)
		return;
	for (int n = 0; n < 32; n++) {
		i_priv[n] = (uint8_t)(1 + n);
		r_priv[n] = (uint8_t)(101 + n);
		i_eph[n] = (uint8_t)(201 + n);
		r_eph[n] = 7;
		psk[n] = (uint8_t)(0x40 + n);
	}
	CHECK(!noise_keypair_from_private(&i_static, i_priv));
	CHECK(!noise_keypair_from_private(&r_static, r_priv));
	for (int k = 0; k < 2; k++) {
		ref1_len[k] = build1(&i, k, payload1, sizeof(payload1) - 1, ref1[k]);
		CHECK(ref1_len[k] > 0);
		responder_after1(&r, k);
		ref2_len[k] = noise_write_msg2(&r, payload2, sizeof(payload2) - 1, ref2[k],
					       NOISE_MSG2_MAX);
		CHECK(ref2_len[k] > 0);
		noise_hs_wipe(&i);
		noise_hs_wipe(&r);
	}
	ready = 1;
}

/* Both finished: they split to the same keys. */
static void agree(struct noise_hs *i, struct noise_hs *r)
{
	struct noise_keys ki, kr;

	CHECK(!noise_split(i, &ki) && !noise_split(r, &kr));
	CHECK(!memcmp(&ki, &kr, sizeof(ki)));
}

/* Part 1, message 1 to a responder. */
static void try_msg1(int k, const uint8_t *m, size_t len)
{
	uint8_t peer[32], pl[NOISE_PAYLOAD_MAX], again[NOISE_MSG1_MAX], m2[NOISE_MSG2_MAX];
	struct noise_hs r, i;
	long plen, again_len;

	responder(&r, k);
	if (noise_read_msg1_peer(&r, m, len, peer)) {
		CHECK(all_zero(&r, sizeof(r)));
		return;
	}
	/* Only the one allowed key goes on (the caller's lookup). */
	if (noise_peer_find((const uint8_t (*)[32])i_static.pub, 1, peer) != 0) {
		noise_hs_wipe(&r);
		return;
	}
	plen = noise_read_msg1(&r, m, len, k ? psk : NULL, pl);
	if (plen < 0) {
		CHECK(all_zero(&r, sizeof(r)));
		return;
	}
	/* Accepted: the genuine initiator wrote exactly these bytes. */
	again_len = build1(&i, k, pl, (size_t)plen, again);
	CHECK(again_len == (long)len && !memcmp(again, m, len));
	CHECK(noise_write_msg2(&r, NULL, 0, m2, sizeof(m2)) == NOISE_MSG2_OVERHEAD);
	CHECK(noise_read_msg2(&i, m2, NOISE_MSG2_OVERHEAD, pl) == 0);
	agree(&i, &r);
}

/* Part 1, message 2 to the initiator of the reference message 1. */
static void try_msg2(int k, const uint8_t *m, size_t len)
{
	uint8_t pl[NOISE_PAYLOAD_MAX], again[NOISE_MSG2_MAX], m1[NOISE_MSG1_MAX];
	struct noise_hs r, i;
	long plen;

	CHECK(build1(&i, k, payload1, sizeof(payload1) - 1, m1) == ref1_len[k]);
	plen = noise_read_msg2(&i, m, len, pl);
	if (plen < 0) {
		CHECK(all_zero(&i, sizeof(i)));
		return;
	}
	responder_after1(&r, k);
	CHECK(noise_write_msg2(&r, pl, (size_t)plen, again, sizeof(again)) == (long)len);
	CHECK(!memcmp(again, m, len));
	agree(&i, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t bad[NOISE_MSG1_MAX];
	unsigned sum = 0;
	int k, two;

	setup();
	if (size < 1)
		return 0;
	k = data[0] & 1;
	two = (data[0] >> 1) & 1;
	if (two)
		try_msg2(k, data + 1, size - 1);
	else
		try_msg1(k, data + 1, size - 1);

	/* Part 2: one changed byte of the reference message. */
	for (size_t n = 0; n < size; n++)
		sum += data[n];
	if (two) {
		struct noise_hs i;
		uint8_t m1[NOISE_MSG1_MAX], pl[NOISE_PAYLOAD_MAX];
		memcpy(bad, ref2[k], (size_t)ref2_len[k]);
		bad[sum % (unsigned)ref2_len[k]] ^= data[size - 1] ? data[size - 1] : 0x80;
		CHECK(build1(&i, k, payload1, sizeof(payload1) - 1, m1) == ref1_len[k]);
		CHECK(noise_read_msg2(&i, bad, (size_t)ref2_len[k], pl) == -1);
	} else {
		struct noise_hs r;
		uint8_t peer[32], pl[NOISE_PAYLOAD_MAX];
		memcpy(bad, ref1[k], (size_t)ref1_len[k]);
		bad[sum % (unsigned)ref1_len[k]] ^= data[size - 1] ? data[size - 1] : 0x80;
		responder(&r, k);
		CHECK(noise_read_msg1_peer(&r, bad, (size_t)ref1_len[k], peer) == -1 ||
		      noise_read_msg1(&r, bad, (size_t)ref1_len[k], k ? psk : NULL, pl) == -1);
	}
	return 0;
}
