/* libFuzzer harness for the keyed path: wire_parse with a key, aead_open
 * (AES-256-GCM), the handshake checks (common/crypto.c, handshake.c), and
 * behind them what receives each message type once it authenticated:
 * PROBE and ACK bodies into path health and the path MTU search on either
 * side (fuzz_proto.h), a PROBE answered with a sealed ACK that the other
 * side opens, a HELLO answered with a WELCOME from which both sides must
 * derive the same session keys.
 *
 * Random bytes almost never authenticate, so each input is used two ways:
 *   1. as a datagram off the wire, parsed with a key and, by its type,
 *      handed to aead_open under the key of the direction that type
 *      travels (DATA and RECOVER either way, PROBE client to server, ACK
 *      back) or to
 *      the handshake check for that type: whatever authenticates must
 *      re-seal (rebuild) to the very same bytes, and then goes to its
 *      receiver. The seeds (gen_wire_seeds.py) are genuine packets of
 *      every type under the harness's keys;
 *   2. as material for a packet of any type (kinds[]) sealed, or a
 *      handshake message built, under the harness's keys, in which the
 *      input then flips one bit: the result must be refused unless the bit
 *      is in byte 0 (the path id, which is deliberately not authenticated),
 *      and then it must open unchanged and go to its receiver, which for
 *      PROBE and ACK refuses a body whose path is not the header's.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "handshake.h"
#include "wire.h"

#define FUZZ_NAME "fuzz_sealed"
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	BUF_LEN = MP_BUF_LEN + MP_HDR_LEN + MP_MAX_TRAILER,
	/* The session the harness's keys belong to (gen_wire_seeds.py uses
	 * the same): ids, and each side's handshake random (all bytes 1, all
	 * bytes 2). */
	SESSION = 0x11223344,
	CLIENT_EPOCH = 0x55667788,
	SERVER_EPOCH = 0x99aabbcc,
};

/* The types part 2 builds, in the order its first byte picks them. */
static const enum mp_type kinds[] = {
	MP_T_DATA, MP_T_PROBE, MP_T_ACK, MP_T_HELLO, MP_T_WELCOME, MP_T_RESET, MP_T_RECOVER,
};

static struct crypto_master master;
static struct session_keys keys;
static uint8_t client_random[CRYPTO_RANDOM_LEN], server_random[CRYPTO_RANDOM_LEN];
/* c2s: client to server (DATA up, PROBE); s2c: server to client (DATA
 * down, ACK). */
static struct aead seal_c2s, open_c2s, seal_s2c, open_s2c;
static uint8_t pkt[BUF_LEN], copy[BUF_LEN];

static void setup(void)
{
	static int ready;
	uint8_t key[CRYPTO_KEY_LEN];

	if (ready)
		return;
	fuzz_types_check();
	/* every type wire_parse takes keyed is one part 2 builds */
	for (unsigned t = 0; t <= MP_VTS_TYPE; t++) {
		int built = 0;
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			built |= kinds[k] == (enum mp_type)t;
		CHECK(built == fuzz_type_known((enum mp_type)t, 1));
	}
	for (int i = 0; i < CRYPTO_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	memset(client_random, 1, sizeof(client_random));
	memset(server_random, 2, sizeof(server_random));
	CHECK(!crypto_master_init(&master, key));
	CHECK(!crypto_session_keys(&master, client_random, server_random, SESSION,
				   CLIENT_EPOCH, SERVER_EPOCH, &keys));
	CHECK(!aead_init(&seal_c2s, keys.c2s, 1) && !aead_init(&open_c2s, keys.c2s, 0));
	CHECK(!aead_init(&seal_s2c, keys.s2c, 1) && !aead_init(&open_s2c, keys.s2c, 0));
	ready = 1;
}

/* ---- what receives each type, once it authenticated ---------------------- */

static struct mp_hdr hdr_of(enum mp_type type, uint8_t path, uint32_t epoch, uint64_t seq)
{
	struct mp_hdr h = {
		.path = path, .type = (uint8_t)type, .sealed = 1,
		.session = SESSION, .epoch = epoch, .seq = seq,
	};
	return h;
}

/* mpserver took a PROBE (opened in buf): its passive side takes the body;
 * the ACK it answers with is sealed server to client, and mpclient opens
 * it and hands the body to its active side, which had sent PROBE 1. */
/* An authenticated RECOVER body, as the engine takes it: a NACK or a
 * PARITY that parses is written back byte for byte (fuzz_recover goes
 * further into each). */
static void recover_in(const uint8_t *body, size_t len)
{
	static uint8_t out[MP_PARITY_MAX_LEN];
	struct mp_nack n;
	struct mp_parity par;

	if (!wire_get_nack(body, len, &n))
		CHECK(wire_put_nack(out, &n) == len && !memcmp(out, body, len));
	if (!wire_get_parity(body, len, &par))
		CHECK(wire_put_parity(out, &par) == len && !memcmp(out, body, len));
}

static void probe_in(const uint8_t *buf, size_t len)
{
	struct fuzz_path active, passive;
	uint64_t now = UINT64_C(1) << 40;
	size_t plen = len - MP_HDR_LEN - MP_TAG_LEN, alen, sealed, pl;
	struct mp_probe p;
	struct mp_hdr h, got;

	fuzz_path_init(&active, 0, now);
	fuzz_path_init(&passive, 1, now);
	fuzz_path_probe(&active, &p, buf[0], 0, now);
	now += 20000;
	if (fuzz_path_input(&passive, buf[0], buf + MP_HDR_LEN, plen, MP_TAG_LEN, now) == 0) {
		alen = fuzz_path_answer(&passive, &p, buf[0], now);
		CHECK(alen == wire_ack_len(plen));
		h = hdr_of(MP_T_ACK, buf[0], SERVER_EPOCH, 1);
		wire_put_hdr(copy, &h);
		memcpy(copy + MP_HDR_LEN, fuzz_body(&p, alen), alen);
		sealed = aead_seal(&seal_s2c, copy, alen);
		CHECK(sealed == MP_HDR_LEN + alen + MP_TAG_LEN);
		CHECK(wire_parse(copy, sealed, 1, &got, &pl) == WIRE_OK && got.type == MP_T_ACK);
		CHECK(!aead_open(&open_s2c, copy, sealed));
		now += 20000;
		CHECK(!fuzz_path_input(&active, got.path, copy + MP_HDR_LEN, pl, MP_TAG_LEN, now));
	}
	fuzz_path_tick(&passive, now);
	fuzz_path_tick(&active, now);
}

/* mpclient took an ACK (opened in buf), after PROBE 1 of its own and a
 * path MTU probe of the search's first size. */
static void ack_in(const uint8_t *buf, size_t len)
{
	struct fuzz_path active;
	uint64_t now = UINT64_C(1) << 40;
	struct mp_probe p;

	fuzz_path_init(&active, 0, now);
	fuzz_path_probe(&active, &p, buf[0], 0, now);
	CHECK(fuzz_path_tick(&active, now) == FUZZ_PMTU_MAX);
	now += 20000;
	fuzz_path_input(&active, buf[0], buf + MP_HDR_LEN, len - MP_HDR_LEN - MP_TAG_LEN,
			MP_TAG_LEN, now);
	fuzz_path_tick(&active, now);
}

/* mpserver took a HELLO with the client's random: it answers with a
 * WELCOME, from which mpclient derives the same keys as mpserver did. */
static void hello_in(const uint8_t *buf, const uint8_t cr[static CRYPTO_RANDOM_LEN])
{
	struct session_keys server_keys, client_keys;
	uint8_t welcome[HS_MAX_LEN], cr2[CRYPTO_RANDOM_LEN], sr2[CRYPTO_RANDOM_LEN];
	struct mp_hdr hello, w, got;
	size_t pl;

	CHECK(wire_parse(buf, HS_HELLO_LEN, 1, &hello, &pl) == WIRE_OK);
	CHECK(!crypto_session_keys(&master, cr, server_random, hello.session, hello.epoch,
				   SERVER_EPOCH, &server_keys));
	w = hdr_of(MP_T_WELCOME, hello.path, SERVER_EPOCH, 1);
	w.session = hello.session;
	CHECK(hs_welcome_build(welcome, &master, &w, cr, server_random) == HS_WELCOME_LEN);
	CHECK(wire_parse(welcome, HS_WELCOME_LEN, 1, &got, &pl) == WIRE_OK);
	CHECK(got.type == MP_T_WELCOME && got.session == hello.session);
	CHECK(!hs_welcome_check(welcome, HS_WELCOME_LEN, &master, cr2, sr2));
	CHECK(!memcmp(cr2, cr, sizeof(cr2)) && !memcmp(sr2, server_random, sizeof(sr2)));
	/* the client's epoch is the one its HELLO carried */
	CHECK(!crypto_session_keys(&master, cr2, sr2, got.session, hello.epoch, got.epoch,
				   &client_keys));
	CHECK(!memcmp(&client_keys, &server_keys, sizeof(client_keys)));
}

/* mpclient took a WELCOME: its keys, which are the harness's exactly when
 * the randoms and ids are. */
static void welcome_in(const struct mp_hdr *h, const uint8_t cr[static CRYPTO_RANDOM_LEN],
		       const uint8_t sr[static CRYPTO_RANDOM_LEN])
{
	struct session_keys k;
	int same_input = !memcmp(cr, client_random, CRYPTO_RANDOM_LEN) &&
			 !memcmp(sr, server_random, CRYPTO_RANDOM_LEN) &&
			 h->session == SESSION && h->epoch == SERVER_EPOCH;

	CHECK(!crypto_session_keys(&master, cr, sr, h->session, CLIENT_EPOCH, h->epoch, &k));
	CHECK((memcmp(&k, &keys, sizeof(k)) == 0) == same_input);
}

/* ---- 1: an arbitrary datagram ------------------------------------------ */

/* Opens data[0..size) into pkt with the key of the way t travels (DATA:
 * either); returns the sealing context that re-seals it, or NULL. */
static struct aead *open_as(enum mp_type t, const uint8_t *data, size_t size)
{
	memcpy(pkt, data, size);
	if (t != MP_T_ACK && !aead_open(&open_c2s, pkt, size))
		return &seal_c2s;
	if (t == MP_T_PROBE)
		return NULL;
	memcpy(pkt, data, size);
	return aead_open(&open_s2c, pkt, size) ? NULL : &seal_s2c;
}

static void from_wire(const uint8_t *data, size_t size)
{
	uint8_t r1[CRYPTO_RANDOM_LEN], r2[CRYPTO_RANDOM_LEN], again[HS_MAX_LEN];
	struct aead *seal;
	struct mp_hdr h;
	size_t plen;

	if (size > BUF_LEN || wire_parse(data, size, 1, &h, &plen) != WIRE_OK)
		return;
	CHECK(h.sealed && plen == size - MP_HDR_LEN - MP_TAG_LEN);
	switch ((enum mp_type)h.type) {
	case MP_T_DATA:
	case MP_T_PROBE:
	case MP_T_ACK:
	case MP_T_RECOVER:
		if (!(seal = open_as((enum mp_type)h.type, data, size)))
			return;
		memcpy(copy, pkt, MP_HDR_LEN + plen);	/* plaintext */
		CHECK(aead_seal(seal, copy, plen) == size);
		CHECK(!memcmp(copy, data, size));
		if (h.type == MP_T_PROBE)
			probe_in(pkt, size);
		else if (h.type == MP_T_ACK)
			ack_in(pkt, size);
		else if (h.type == MP_T_RECOVER)
			recover_in(pkt + MP_HDR_LEN, plen);
		return;		/* DATA: the payload is the application's */
	case MP_T_HELLO:
		if (!hs_hello_check(data, size, &master, r1)) {
			CHECK(hs_hello_build(again, &master, &h, r1) == size);
			CHECK(!memcmp(again, data, size));
			hello_in(data, r1);
		}
		return;
	case MP_T_WELCOME:
		if (!hs_welcome_check(data, size, &master, r1, r2)) {
			CHECK(hs_welcome_build(again, &master, &h, r1, r2) == size);
			CHECK(!memcmp(again, data, size));
			welcome_in(&h, r1, r2);
		}
		return;
	case MP_T_RESET:
		if (!hs_reset_check(data, size, &master)) {
			CHECK(hs_reset_build(again, &master, &h) == size);
			CHECK(!memcmp(again, data, size));
		}
		return;		/* mpclient starts the session over */
	}
	CHECK(!"wire_parse let an unknown type through");
}

/* ---- 2: a genuine packet with one bit flipped --------------------------- */

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

/* Seals pkt's header and plen bytes of payload from the input (zeros
 * past its end) under the key of the way t travels. */
static size_t seal_from(enum mp_type t, int down, struct mp_hdr *h, const uint8_t *data,
			size_t size, size_t plen)
{
	size_t n = size < plen ? size : plen;

	h->type = (uint8_t)t;
	wire_put_hdr(pkt, h);
	memcpy(pkt + MP_HDR_LEN, data, n);
	memset(pkt + MP_HDR_LEN + n, 0, plen - n);
	return aead_seal(down ? &seal_s2c : &seal_c2s, pkt, plen);
}

/* Layout: kind (1: kinds[] and, for DATA, the direction), flip (3: bit
 * index + 1, or 0), header fields (15), for PROBE/ACK a padding index
 * (1: fuzz_pad_len), then the payload or the randoms. */
static void tampered(const uint8_t *data, size_t size)
{
	uint8_t r1[CRYPTO_RANDOM_LEN] = { 0 }, r2[CRYPTO_RANDOM_LEN], r3[CRYPTO_RANDOM_LEN];
	unsigned kind = (unsigned)take(&data, &size, 1);
	enum mp_type t = kinds[kind % (sizeof(kinds) / sizeof(kinds[0]))];
	int down = t == MP_T_ACK || ((t == MP_T_DATA || t == MP_T_RECOVER) && kind & 0x80);
	uint64_t flip = take(&data, &size, 3);
	struct mp_hdr h = header_from(&data, &size), got;
	size_t len = 0, plen, pl;
	int refused = 1;

	switch (t) {
	case MP_T_DATA:		/* the rest of the input is the payload */
	case MP_T_RECOVER:	/* (a PARITY body is the longest) */
		plen = size > MP_PARITY_MAX_LEN ? MP_PARITY_MAX_LEN : size;
		len = seal_from(t, down, &h, data, size, plen);
		break;
	case MP_T_PROBE:
	case MP_T_ACK:
		plen = MP_PROBE_LEN + fuzz_pad_len[take(&data, &size, 1) % 16];
		len = seal_from(t, down, &h, data, size, plen);
		break;
	case MP_T_HELLO:
		memcpy(r1, data, size < sizeof(r1) ? size : sizeof(r1));
		len = hs_hello_build(pkt, &master, &h, r1);
		break;
	case MP_T_WELCOME:
		memcpy(r1, data, size < sizeof(r1) ? size : sizeof(r1));
		len = hs_welcome_build(pkt, &master, &h, r1, r1);
		break;
	case MP_T_RESET:
		len = hs_reset_build(pkt, &master, &h);
		break;
	}
	CHECK(len > 0);
	memcpy(copy, pkt, len);		/* as sent */
	if (flip && flip - 1 < len * 8)
		pkt[(flip - 1) / 8] ^= (uint8_t)(1u << (flip - 1) % 8);
	int untouched = !flip || flip - 1 >= len * 8 || flip - 1 < 8;
	enum wire_err err = wire_parse(pkt, len, 1, &got, &pl);
	if (untouched)
		CHECK(err == (pkt[0] < MP_MAX_PATHS ? WIRE_OK : WIRE_PATH));
	switch (t) {
	case MP_T_DATA:
	case MP_T_PROBE:
	case MP_T_ACK:
	case MP_T_RECOVER:
		refused = aead_open(down ? &open_s2c : &open_c2s, pkt, len) != 0;
		if (!refused) {
			CHECK(!memcmp(pkt + 1, copy + 1, MP_HDR_LEN - 1));
			CHECK(!memcmp(pkt + MP_HDR_LEN, data, size < len - MP_HDR_LEN - MP_TAG_LEN
								      ? size : len - MP_HDR_LEN - MP_TAG_LEN));
		}
		if (!refused && err == WIRE_OK && t == MP_T_PROBE)
			probe_in(pkt, len);
		if (!refused && err == WIRE_OK && t == MP_T_ACK)
			ack_in(pkt, len);
		if (!refused && err == WIRE_OK && t == MP_T_RECOVER)
			recover_in(pkt + MP_HDR_LEN, pl);
		break;
	case MP_T_HELLO:
		refused = hs_hello_check(pkt, len, &master, r2) != 0;
		if (!refused && err == WIRE_OK)
			hello_in(pkt, r2);
		break;
	case MP_T_WELCOME:
		refused = hs_welcome_check(pkt, len, &master, r2, r3) != 0;
		if (!refused && err == WIRE_OK)
			welcome_in(&got, r2, r3);
		break;
	case MP_T_RESET:
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
