/* libFuzzer harness for the keyed path: wire_parse with a key, aead_open
 * (AES-256-GCM), and the handshake checks (common/crypto.c, handshake.c).
 *
 * Random bytes almost never authenticate, so each input is used two ways:
 *   1. as a datagram off the wire, parsed with a key and, by its type,
 *      handed to aead_open or to the handshake check for that type: whatever
 *      authenticates must re-seal (rebuild) to the very same bytes;
 *   2. as material for a packet sealed (or a handshake message built) under
 *      the harness's key, in which the input then flips one bit: the result
 *      must be refused unless the bit is in byte 0 (the path id, which is
 *      deliberately not authenticated), and then it must open unchanged.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "handshake.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_sealed: invariant failed: %s " \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

enum { BUF_LEN = MP_BUF_LEN + MP_HDR_LEN + MP_MAX_TRAILER };

static struct crypto_master master;
static struct aead seal_ctx, open_ctx;
static uint8_t pkt[BUF_LEN], copy[BUF_LEN];

static void setup(void)
{
	static int ready;
	uint8_t key[CRYPTO_KEY_LEN];
	static const uint8_t cr[CRYPTO_RANDOM_LEN] = { 1 }, sr[CRYPTO_RANDOM_LEN] = { 2 };
	struct session_keys keys;

	if (ready)
		return;
	for (int i = 0; i < CRYPTO_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	CHECK(!crypto_master_init(&master, key));
	CHECK(!crypto_session_keys(&master, cr, sr, 0x11223344, 0x55667788, 0x99aabbcc, &keys));
	CHECK(!aead_init(&seal_ctx, keys.c2s, 1) && !aead_init(&open_ctx, keys.c2s, 0));
	ready = 1;
}

/* 1: an arbitrary datagram. */
static void from_wire(const uint8_t *data, size_t size)
{
	uint8_t r1[CRYPTO_RANDOM_LEN], r2[CRYPTO_RANDOM_LEN], again[HS_MAX_LEN];
	struct mp_hdr h;
	size_t plen;

	if (size > BUF_LEN || wire_parse(data, size, 1, &h, &plen) != WIRE_OK)
		return;
	CHECK(h.sealed && plen == size - MP_HDR_LEN - MP_TAG_LEN);
	switch (h.type) {
	case MP_T_DATA:
	case MP_T_PROBE:
		memcpy(pkt, data, size);
		if (aead_open(&open_ctx, pkt, size))
			return;
		memcpy(copy, pkt, MP_HDR_LEN + plen);	/* plaintext */
		CHECK(aead_seal(&seal_ctx, copy, plen) == size);
		CHECK(!memcmp(copy, data, size));
		return;
	case MP_T_HELLO:
		if (!hs_hello_check(data, size, &master, r1)) {
			CHECK(hs_hello_build(again, &master, &h, r1) == size);
			CHECK(!memcmp(again, data, size));
		}
		return;
	case MP_T_WELCOME:
		if (!hs_welcome_check(data, size, &master, r1, r2)) {
			CHECK(hs_welcome_build(again, &master, &h, r1, r2) == size);
			CHECK(!memcmp(again, data, size));
		}
		return;
	case MP_T_RESET:
		if (!hs_reset_check(data, size, &master)) {
			CHECK(hs_reset_build(again, &master, &h) == size);
			CHECK(!memcmp(again, data, size));
		}
		return;
	}
	CHECK(0);	/* wire_parse let an unknown type through */
}

static uint64_t take(const uint8_t **data, size_t *size, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n && *size; i++, (*data)++, (*size)--)
		v = v << 8 | **data;
	return v;
}

static struct mp_hdr header_from(const uint8_t **data, size_t *size)
{
	struct mp_hdr h = {
		.path = (uint8_t)(take(data, size, 1) % MP_MAX_PATHS),
		.sealed = 1,
		.session = (uint32_t)take(data, size, 4) | 1,
		.epoch = (uint32_t)take(data, size, 4) | 1,
		.seq = (take(data, size, 6) & MP_SEQ_MAX) | 1,
	};
	return h;
}

/* 2: a genuine packet with one bit flipped; flip = bit index + 1, or 0. */
static void tampered(const uint8_t *data, size_t size)
{
	uint8_t r1[CRYPTO_RANDOM_LEN] = { 0 }, r2[CRYPTO_RANDOM_LEN] = { 0 };
	unsigned kind = (unsigned)take(&data, &size, 1) % 4;
	uint64_t flip = take(&data, &size, 3);
	struct mp_hdr h = header_from(&data, &size);
	size_t len, plen = size > 2048 ? 2048 : size;
	int refused;

	switch (kind) {
	case 0:		/* DATA: the rest of the input is the payload */
		h.type = MP_T_DATA;
		wire_put_hdr(pkt, &h);
		memcpy(pkt + MP_HDR_LEN, data, plen);
		len = aead_seal(&seal_ctx, pkt, plen);
		break;
	case 1:
		memcpy(r1, data, plen < sizeof(r1) ? plen : sizeof(r1));
		len = hs_hello_build(pkt, &master, &h, r1);
		break;
	case 2:
		memcpy(r1, data, plen < sizeof(r1) ? plen : sizeof(r1));
		len = hs_welcome_build(pkt, &master, &h, r1, r1);
		break;
	default:
		len = hs_reset_build(pkt, &master, &h);
		break;
	}
	CHECK(len > 0);
	if (flip && flip - 1 < len * 8)
		pkt[(flip - 1) / 8] ^= (uint8_t)(1u << (flip - 1) % 8);
	int untouched = !flip || flip - 1 >= len * 8 || flip - 1 < 8;
	switch (kind) {
	case 0:
		refused = aead_open(&open_ctx, pkt, len) != 0;
		if (!refused)
			CHECK(!memcmp(pkt + MP_HDR_LEN, data, plen));
		break;
	case 1:
		refused = hs_hello_check(pkt, len, &master, r2) != 0;
		break;
	case 2:
		refused = hs_welcome_check(pkt, len, &master, r2, r2) != 0;
		break;
	default:
		refused = hs_reset_check(pkt, len, &master) != 0;
		break;
	}
	CHECK(refused == !untouched);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	from_wire(data, size);
	tampered(data, size);
	return 0;
}
