/* Unit tests of common/wire.c (header layout, sealing, validation) and
 * common/crc32c.c (known answers, chaining). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "crc32c.h"
#include "wire.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t pkt[MP_HDR_LEN + MP_MAX_PAYLOAD + MP_MAX_TRAILER];

static struct mp_hdr data_hdr(uint8_t path, uint32_t session, uint32_t epoch,
			      uint64_t seq)
{
	struct mp_hdr h = {
		.path = path, .type = MP_T_DATA, .sealed = 0,
		.session = session, .epoch = epoch, .seq = seq,
	};
	return h;
}

/* Header, payload bytes i*7+len, CRC trailer; returns the packet length. */
static size_t build(uint8_t *buf, const struct mp_hdr *h, size_t len)
{
	wire_put_hdr(buf, h);
	for (size_t i = 0; i < len; i++)
		buf[MP_HDR_LEN + i] = (uint8_t)(i * 7 + len);
	return wire_seal_plain(buf, len);
}

/* ---- layout -------------------------------------------------------------- */

struct layout_case {
	struct mp_hdr h;
	uint8_t bytes[MP_HDR_LEN];
};

static const struct layout_case layouts[] = {
	{ { 3, MP_T_DATA, 0, 0x01020304u, 0xa1b2c3d4u, UINT64_C(0xdeadbeef0102) },
	  { 0x03, 0x11, 0x01, 0x02, 0x03, 0x04, 0xa1, 0xb2, 0xc3, 0xd4,
	    0xde, 0xad, 0xbe, 0xef, 0x01, 0x02 } },
	{ { 0, MP_T_DATA, 0, 1, 1, 1 },
	  { 0x00, 0x11, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 } },
	{ { 15, MP_T_DATA, 0, UINT32_MAX, UINT32_MAX, MP_SEQ_MAX },
	  { 0x0f, 0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	{ { 7, 5, 1, 0x80000000u, 0x00ff00ffu, UINT64_C(0x800000000001) },
	  { 0x07, 0x1d, 0x80, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0xff,
	    0x80, 0x00, 0x00, 0x00, 0x00, 0x01 } },
	/* the type is masked to its 3 bits */
	{ { 200, 9, 0, 0x10, 0x20, 0x30 },
	  { 0xc8, 0x11, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0x30 } },
};

static void test_layout(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(layouts); i++) {
		uint8_t buf[MP_HDR_LEN + 8];

		memset(buf, 0xee, sizeof(buf));
		wire_put_hdr(buf, &layouts[i].h);
		assert_memory_equal(buf, layouts[i].bytes, MP_HDR_LEN);
		for (size_t k = MP_HDR_LEN; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 0xee);	/* writes 16 bytes only */
	}
}

/* A whole packet, trailer included, computed independently. */
static void test_golden_packet(void **state)
{
	static const uint8_t want[] = {
		0x03, 0x11, 0x01, 0x02, 0x03, 0x04, 0xa1, 0xb2, 0xc3, 0xd4,
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 'h', 'i',
		0xb1, 0x6f, 0xbd, 0x1c,
	};
	struct mp_hdr h;
	size_t plen = 99;

	(void)state;
	wire_put_hdr(pkt, &layouts[0].h);
	memcpy(pkt + MP_HDR_LEN, "hi", 2);
	assert_int_equal(wire_seal_plain(pkt, 2), sizeof(want));
	assert_memory_equal(pkt, want, sizeof(want));
	assert_int_equal(wire_parse(want, sizeof(want), 0, &h, &plen), WIRE_OK);
	assert_int_equal(plen, 2);
	assert_int_equal(h.path, 3);
	assert_int_equal(h.type, MP_T_DATA);
	assert_int_equal(h.sealed, 0);
	assert_int_equal(h.session, 0x01020304u);
	assert_int_equal(h.epoch, 0xa1b2c3d4u);
	assert_true(h.seq == UINT64_C(0xdeadbeef0102));
}

/* ---- round trip ---------------------------------------------------------- */

static const uint32_t u32s[] = { 1, 2, 0xff, 0x100, 0x7fffffffu, 0x80000000u,
				 0xfffffffeu, UINT32_MAX };
static const uint64_t seqs[] = { 1, 2, 0xff, 0x100, UINT64_C(0xffffffff),
				 UINT64_C(0x100000000), UINT64_C(1) << 47,
				 MP_SEQ_MAX - 1, MP_SEQ_MAX };
static const size_t lens[] = { 0, 1, 2, 1400, MP_MAX_PAYLOAD - 1, MP_MAX_PAYLOAD };

static void test_round_trip(void **state)
{
	unsigned n = 0;

	(void)state;
	for (uint8_t path = 0; path < MP_MAX_PATHS; path++)
		for (size_t s = 0; s < N_ELEMS(seqs); s++)
			for (size_t l = 0; l < N_ELEMS(lens); l++, n++) {
				struct mp_hdr in = data_hdr(path,
					u32s[n % N_ELEMS(u32s)],
					u32s[(n / 3 + 5) % N_ELEMS(u32s)], seqs[s]);
				struct mp_hdr out;
				size_t plen = 12345;
				size_t len = build(pkt, &in, lens[l]);

				assert_int_equal(len, MP_HDR_LEN + lens[l] + MP_CRC_LEN);
				memset(&out, 0x5a, sizeof(out));
				assert_int_equal(wire_parse(pkt, len, 0, &out, &plen),
						 WIRE_OK);
				assert_int_equal(plen, lens[l]);
				assert_int_equal(out.path, in.path);
				assert_int_equal(out.type, MP_T_DATA);
				assert_int_equal(out.sealed, 0);
				assert_int_equal(out.session, in.session);
				assert_int_equal(out.epoch, in.epoch);
				assert_true(out.seq == in.seq);
				for (size_t i = 0; i < lens[l]; i++)
					if (pkt[MP_HDR_LEN + i] != (uint8_t)(i * 7 + lens[l]))
						fail_msg("payload byte %zu changed", i);
			}
}

/* ---- lengths ------------------------------------------------------------- */

static void test_runt(void **state)
{
	struct mp_hdr h = data_hdr(1, 2, 3, 4), out;
	size_t plen = 777;

	(void)state;
	build(pkt, &h, 0);
	/* every length below header + trailer, whatever the bytes say */
	for (size_t len = 0; len < MP_HDR_LEN + MP_CRC_LEN; len++) {
		assert_int_equal(wire_parse(pkt, len, 0, &out, &plen), WIRE_RUNT);
		assert_int_equal(plen, 777);
	}
	assert_int_equal(wire_parse(pkt, MP_HDR_LEN + MP_CRC_LEN, 0, &out, &plen),
			 WIRE_OK);
	assert_int_equal(plen, 0);
}

static void test_truncate_and_extend(void **state)
{
	struct mp_hdr h = data_hdr(2, 0xabc, 0xdef, 77), out;
	size_t plen;

	(void)state;
	size_t len = build(pkt, &h, 40);
	for (size_t cut = 1; cut <= len; cut++) {
		enum wire_err e = wire_parse(pkt, len - cut, 0, &out, &plen);
		assert_int_equal(e, len - cut < MP_HDR_LEN + MP_CRC_LEN ?
				    WIRE_RUNT : WIRE_CHECK);
	}
	for (size_t extra = 1; extra <= 8; extra++) {
		pkt[len + extra - 1] = (uint8_t)extra;
		assert_int_equal(wire_parse(pkt, len + extra, 0, &out, &plen),
				 WIRE_CHECK);
	}
}

/* ---- corruption ---------------------------------------------------------- */

/* Every single-bit flip of a 40-byte packet. Byte 0 is not covered by the
 * CRC: flips there change the path (or make it out of range). */
static void test_bit_flips(void **state)
{
	struct mp_hdr h = data_hdr(0, 0x11223344u, 0x55667788u, 0x99), out;
	uint8_t ref[40];
	size_t plen;

	(void)state;
	assert_int_equal(build(ref, &h, 20), sizeof(ref));
	for (size_t byte = 0; byte < sizeof(ref); byte++)
		for (unsigned bit = 0; bit < 8; bit++) {
			enum wire_err want = WIRE_CHECK;
			uint8_t buf[40];

			memcpy(buf, ref, sizeof(buf));
			buf[byte] ^= (uint8_t)(1u << bit);
			if (byte == 0)
				want = bit < 4 ? WIRE_OK : WIRE_PATH;
			else if (byte == 1 && bit >= 4)
				want = WIRE_VERSION;
			else if (byte == 1 && bit == 3)
				want = WIRE_SEALED;
			enum wire_err got = wire_parse(buf, sizeof(buf), 0, &out, &plen);
			if (got != want)
				fail_msg("flip byte %zu bit %u: %s, expected %s", byte,
					 bit, wire_err_name(got), wire_err_name(want));
			if (want == WIRE_OK)
				assert_int_equal(out.path, 1u << bit);
		}
}

static void test_every_path_byte(void **state)
{
	struct mp_hdr h = data_hdr(0, 9, 9, 9), out;
	size_t plen;

	(void)state;
	size_t len = build(pkt, &h, 5);
	for (unsigned p = 0; p < 256; p++) {
		pkt[0] = (uint8_t)p;	/* the CRC stays valid */
		enum wire_err e = wire_parse(pkt, len, 0, &out, &plen);
		assert_int_equal(e, p < MP_MAX_PATHS ? WIRE_OK : WIRE_PATH);
		if (e == WIRE_OK)
			assert_int_equal(out.path, p);
	}
}

/* ---- field checks with a valid CRC ---------------------------------------- */

struct field_case {
	const char *what;
	struct mp_hdr h;
	enum wire_err want;
};

static const struct field_case field_cases[] = {
	{ "zero session", { 1, MP_T_DATA, 0, 0, 5, 5 }, WIRE_FIELD },
	{ "zero epoch", { 1, MP_T_DATA, 0, 5, 0, 5 }, WIRE_FIELD },
	{ "zero seq", { 1, MP_T_DATA, 0, 5, 5, 0 }, WIRE_FIELD },
	{ "all zero", { 0, MP_T_DATA, 0, 0, 0, 0 }, WIRE_FIELD },
	{ "type 0", { 1, 0, 0, 5, 5, 5 }, WIRE_TYPE },
	{ "probe", { 1, MP_T_PROBE, 0, 5, 5, 5 }, WIRE_OK },
	{ "probe, zero seq", { 1, MP_T_PROBE, 0, 5, 5, 0 }, WIRE_FIELD },
	{ "type 3", { 1, 3, 0, 5, 5, 5 }, WIRE_TYPE },
	{ "type 4", { 1, 4, 0, 5, 5, 5 }, WIRE_TYPE },
	{ "type 5", { 1, 5, 0, 5, 5, 5 }, WIRE_TYPE },
	{ "ack", { 1, MP_T_ACK, 0, 5, 5, 5 }, WIRE_OK },
	{ "recover", { 1, MP_T_RECOVER, 0, 5, 5, 5 }, WIRE_OK },
	{ "sealed", { 1, MP_T_DATA, 1, 5, 5, 5 }, WIRE_SEALED },
	/* precedence: type before path before fields */
	{ "type+path", { 16, 0, 0, 5, 5, 5 }, WIRE_TYPE },
	{ "type+field", { 1, 3, 0, 0, 0, 0 }, WIRE_TYPE },
	{ "path+field", { 255, MP_T_DATA, 0, 0, 5, 5 }, WIRE_PATH },
	{ "path 16", { 16, MP_T_DATA, 0, 5, 5, 5 }, WIRE_PATH },
	{ "path 15", { 15, MP_T_DATA, 0, 5, 5, 5 }, WIRE_OK },
	{ "sealed+type", { 1, 0, 1, 5, 5, 5 }, WIRE_SEALED },
};

/* PROBE/ACK bodies: every field lands where docs/PROTOCOL.md says, in
 * network order; short bodies and bad path ids are refused; padding is
 * ignored; a first-release body (MP_PROBE_LEN_V1) is taken with the later
 * fields zero. */
static void test_probe_body(void **state)
{
	/* static: its padding is zero, as wire_get_probe leaves it */
	static const struct mp_probe in = {
		.path = 15, .state = 0x0e, .interval_ms = 0xa1b2, .id = 0x01020304,
		.ts_us = 0x05060708, .tx = 0x090a0b0c, .echo_ts_us = 0x0d0e0f10,
		.echo_hold_us = 0x11121314, .echo_tx = 0x15161718,
		.echo_rx = 0x191a1b1c, .echo_len = 0x1d1e1f20, .avoid = 0x2122, .pmtu = 0x2324,
		.rx_bytes = 0x25262728, .cap_kbps = 0x292a2b2c, .mode = 0x2d,
	};
	static const uint8_t want[MP_PROBE_LEN] = {
		15, 0x0e, 0xa1, 0xb2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
		29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
		45, 0, 0, 0,
	};
	uint8_t buf[MP_PROBE_LEN + 100];
	struct mp_probe out, v1;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	wire_put_probe(buf, &in);
	assert_memory_equal(buf, want, MP_PROBE_LEN);
	assert_int_equal(buf[MP_PROBE_LEN], 0xee);	/* nothing past the body */
	for (size_t len = 0; len < MP_PROBE_LEN_V1; len++)
		assert_int_equal(wire_get_probe(buf, len, &out), -1);
	for (size_t len = MP_PROBE_LEN; len <= sizeof(buf); len += 50) {
		memset(&out, 0, sizeof(out));
		assert_int_equal(wire_get_probe(buf, len, &out), 0);
		assert_memory_equal(&out, &in, sizeof(in));
	}
	memcpy(&v1, &in, sizeof(v1));
	v1.rx_bytes = v1.cap_kbps = v1.mode = 0;
	for (size_t len = MP_PROBE_LEN_V1; len < MP_PROBE_LEN; len++) {
		memset(&out, 0xff, sizeof(out));
		assert_int_equal(wire_get_probe(buf, len, &out), 0);
		assert_memory_equal(&out, &v1, sizeof(v1));
	}
	buf[0] = MP_MAX_PATHS;
	assert_int_equal(wire_get_probe(buf, MP_PROBE_LEN, &out), -1);
	buf[0] = 255;
	assert_int_equal(wire_get_probe(buf, MP_PROBE_LEN, &out), -1);
}

/* NACK bodies: the layout docs/PROTOCOL.md gives, a round trip, and each
 * way a body can be wrong refused. */
static void test_nack_body(void **state)
{
	struct mp_nack in = { .base = 0x123456789aull, .bits = 12 }, out;
	uint8_t buf[MP_NACK_MAX_LEN + 1];

	(void)state;
	in.map[0] = 0x05;				/* base, base + 2 */
	in.map[1] = 0x08;				/* base + 11 */
	size_t len = wire_put_nack(buf, &in);
	static const uint8_t want[] = { 1, 0, 0, 12, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a,
					0x05, 0x08 };
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(wire_get_nack(buf, len, &out), 0);
	assert_int_equal(out.base, in.base);
	assert_int_equal(out.bits, 12);
	assert_memory_equal(out.map, in.map, 2);
	/* wrong: length either way, kind, flags, bits 0 or over the most,
	 * base 0, a range past the last seq, the first or last bit clear, a
	 * bit past `bits` */
	assert_int_equal(wire_get_nack(buf, len - 1, &out), -1);
	assert_int_equal(wire_get_nack(buf, len + 1, &out), -1);
	assert_int_equal(wire_get_nack(buf, MP_NACK_HDR_LEN - 1, &out), -1);
	uint8_t bad[sizeof(want)];
	struct { size_t at; uint8_t v; } flips[] = {
		{ 0, 2 }, { 1, 1 }, { 2, 0xff }, { 3, 0 }, { 10, 0x04 }, { 11, 0x00 }, { 11, 0x18 },
	};
	for (size_t i = 0; i < N_ELEMS(flips); i++) {
		memcpy(bad, want, sizeof(want));
		bad[flips[i].at] = flips[i].v;
		assert_int_equal(wire_get_nack(bad, sizeof(bad), &out), -1);
	}
	memcpy(bad, want, sizeof(want));
	memset(bad + 4, 0, 6);				/* base 0 */
	assert_int_equal(wire_get_nack(bad, sizeof(bad), &out), -1);
	memset(bad + 4, 0xff, 6);			/* base + 11 > MP_SEQ_MAX */
	assert_int_equal(wire_get_nack(bad, sizeof(bad), &out), -1);
	/* the largest: MP_NACK_MAX_BITS, ending at MP_SEQ_MAX */
	memset(&in, 0, sizeof(in));
	in.bits = MP_NACK_MAX_BITS;
	in.base = MP_SEQ_MAX - (MP_NACK_MAX_BITS - 1);
	in.map[0] = 1;
	in.map[MP_NACK_MAX_BITS / 8 - 1] = 0x80;
	len = wire_put_nack(buf, &in);
	assert_int_equal(len, MP_NACK_MAX_LEN);
	assert_int_equal(wire_get_nack(buf, len, &out), 0);
	assert_int_equal(out.base + out.bits - 1, MP_SEQ_MAX);
	buf[3] += 1;					/* bits over the most */
	assert_int_equal(wire_get_nack(buf, len, &out), -1);
}

/* PARITY bodies: written and read back; the shortest and longest shard
 * and one byte either side; every field at its bounds and one past. */
static void test_parity_body(void **state)
{
	static uint8_t buf[MP_PARITY_MAX_LEN + 1], shard[MP_PARITY_SHARD_MAX + 1];
	struct mp_parity in = { .base = 0x123456789aull, .k = 16, .m = 4, .index = 3,
				.shard = shard }, out;

	(void)state;
	for (size_t i = 0; i < sizeof(shard); i++)
		shard[i] = (uint8_t)(i * 7 + 1);
	for (size_t sl = MP_PARITY_SHARD_MIN - 1; sl <= MP_PARITY_SHARD_MAX + 1; sl++) {
		if (sl > MP_PARITY_SHARD_MIN + 1 && sl < MP_PARITY_SHARD_MAX - 1)
			continue;
		in.shard_len = sl;
		size_t len = MP_PARITY_HDR_LEN + sl;
		if (sl <= MP_PARITY_SHARD_MAX)
			assert_int_equal(wire_put_parity(buf, &in), len);
		else
			memcpy(buf + MP_PARITY_HDR_LEN, shard, sl);
		int ok = sl >= MP_PARITY_SHARD_MIN && sl <= MP_PARITY_SHARD_MAX;
		assert_int_equal(wire_get_parity(buf, len, &out), ok ? 0 : -1);
		if (!ok)
			continue;
		assert_int_equal(out.base, in.base);
		assert_int_equal(out.k, 16);
		assert_int_equal(out.m, 4);
		assert_int_equal(out.index, 3);
		assert_int_equal(out.shard_len, sl);
		assert_ptr_equal(out.shard, buf + MP_PARITY_HDR_LEN);
		assert_memory_equal(out.shard, shard, sl);
	}
	in.shard_len = 100;
	size_t len = wire_put_parity(buf, &in);
	struct { size_t at; uint8_t v; int ok; } field[] = {
		{ 0, MP_RECOVER_NACK, 0 }, { 0, 3, 0 }, { 1, 1, 0 },
		{ 8, 0, 0 }, { 8, 1, 1 }, { 8, MP_PARITY_MAX_K + 1, 0 },
		{ 9, 0, 0 }, { 9, MP_PARITY_MAX_M + 1, 0 },
		{ 10, 4, 0 },	/* index == m */
	};
	for (size_t f = 0; f < sizeof(field) / sizeof(field[0]); f++) {
		uint8_t save = buf[field[f].at];
		buf[field[f].at] = field[f].v;
		assert_int_equal(wire_get_parity(buf, len, &out), field[f].ok ? 0 : -1);
		buf[field[f].at] = save;
	}
	/* base 0; the group past the last seq */
	in.base = 0;
	wire_put_parity(buf, &in);
	assert_int_equal(wire_get_parity(buf, len, &out), -1);
	in.base = MP_SEQ_MAX - 15;
	wire_put_parity(buf, &in);
	assert_int_equal(wire_get_parity(buf, len, &out), 0);
	in.base = MP_SEQ_MAX - 14;
	wire_put_parity(buf, &in);
	assert_int_equal(wire_get_parity(buf, len, &out), -1);
}

static void test_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(field_cases); i++) {
		const struct field_case *fc = &field_cases[i];
		struct mp_hdr out;
		size_t plen = 4242;
		size_t len = build(pkt, &fc->h, 3);
		enum wire_err got = wire_parse(pkt, len, 0, &out, &plen);

		if (got != fc->want)
			fail_msg("%s: %s, expected %s", fc->what, wire_err_name(got),
				 wire_err_name(fc->want));
		assert_int_equal(plen, got == WIRE_OK ? 3 : 4242);
	}
}

/* Version nibble: every value but 1 is refused before the CRC is looked at;
 * a bad CRC with a bad version still says bad_version. */
static void test_versions(void **state)
{
	struct mp_hdr h = data_hdr(1, 5, 5, 5), out;
	size_t plen;

	(void)state;
	for (unsigned v = 0; v < 16; v++)
		for (int fix_crc = 0; fix_crc < 2; fix_crc++) {
			size_t len = build(pkt, &h, 8);
			pkt[1] = (uint8_t)(v << 4 | (pkt[1] & 0x0f));
			if (fix_crc)
				wire_seal_plain(pkt, 8);
			assert_int_equal(wire_parse(pkt, len, 0, &out, &plen),
					 v == MP_VERSION ? WIRE_OK : WIRE_VERSION);
		}
}

static void test_err_names(void **state)
{
	static const char *const want[] = {
		[WIRE_OK] = "ok", [WIRE_RUNT] = "runt",
		[WIRE_VERSION] = "bad_version", [WIRE_TYPE] = "bad_type",
		[WIRE_PATH] = "bad_path", [WIRE_FIELD] = "bad_field",
		[WIRE_SEALED] = "key_mismatch", [WIRE_CHECK] = "bad_check",
	};

	(void)state;
	assert_int_equal(N_ELEMS(want), WIRE_ERR_MAX);
	for (int e = 0; e < WIRE_ERR_MAX; e++)
		assert_string_equal(wire_err_name((enum wire_err)e), want[e]);
	assert_string_equal(wire_err_name(WIRE_ERR_MAX), "?");
	assert_string_equal(wire_err_name((enum wire_err)1000), "?");
}

/* ---- crc32c -------------------------------------------------------------- */

static void test_crc_vectors(void **state)
{
	uint8_t zeros[32], ones[32], up[32], down[32];

	(void)state;
	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++) {
		up[i] = (uint8_t)i;
		down[i] = (uint8_t)(31 - i);
	}
	const struct { const void *p; size_t n; uint32_t crc; } v[] = {
		{ "123456789", 9, 0xe3069283u },
		{ zeros, 32, 0x8a9136aau },	/* RFC 3720 B.4 */
		{ ones, 32, 0x62a8ab43u },
		{ up, 32, 0x46dd794eu },
		{ down, 32, 0x113fdb5cu },
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < N_ELEMS(v); i++) {
		assert_int_equal(crc32c(0, v[i].p, v[i].n), v[i].crc);
		assert_int_equal(crc32c_portable(0, v[i].p, v[i].n), v[i].crc);
	}
}

/* Chaining over any split equals one pass, for every length up to 100 and
 * every alignment of the start (the 8-byte loop and the byte tail). */
static void test_crc_chaining(void **state)
{
	static uint8_t buf[4096 + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 8));
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 100; len++) {
			uint32_t whole = crc32c(0, buf + off, len);
			/* the table path (non-x86 hosts) agrees with the one in use */
			assert_int_equal(crc32c_portable(0, buf + off, len), whole);
			for (size_t cut = 0; cut <= len; cut++) {
				uint32_t c = crc32c(0, buf + off, cut);
				c = crc32c(c, buf + off + cut, len - cut);
				assert_int_equal(c, whole);
			}
		}
	/* past the lengths where the hardware path runs three streams */
	for (size_t off = 0; off < 8; off += 3)
		for (size_t len = 100; len <= 4096; len += len < 1600 ? 1 : 97)
			assert_int_equal(crc32c(0, buf + off, len),
					 crc32c_portable(0, buf + off, len));
	uint32_t whole = crc32c(0, buf, 4096);
	assert_int_equal(crc32c(crc32c(0, buf, 2048), buf + 2048, 2048), whole);
	assert_int_equal(crc32c(crc32c(0, buf, 1), buf + 1, 4095), whole);
	assert_int_equal(crc32c(crc32c(0, buf, 4093), buf + 4093, 3), whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_golden_packet),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_runt),
		cmocka_unit_test(test_truncate_and_extend),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_every_path_byte),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_nack_body),
		cmocka_unit_test(test_parity_body),
		cmocka_unit_test(test_probe_body),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_crc_vectors),
		cmocka_unit_test(test_crc_chaining),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
