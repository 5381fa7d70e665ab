/* Unit tests of common/hsnoise.c, the per-client handshake's wire messages:
 * sizes (164, 92, prologue 25), a built initiation and response accepted at
 * their exact length and refused at one byte more or less, with another
 * kind, a nonzero reserved byte, any other bit of the MAC-covered bytes
 * changed, or under another mac1 key; mac2 with and without a cookie; the
 * payloads' parsers; the labels' keys (SHA-256, known answer). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>

#include "hsnoise.h"

static uint8_t key1[NOISE_KEY_LEN], key2[NOISE_KEY_LEN], msg1[HSN_MSG1_LEN], msg2[HSN_MSG2_LEN];
static const struct mp_hdr hdr = { .path = 3, .session = 0x01020304, .epoch = 0x0a0b0c0d,
				   .seq = 7 };

static void setup_keys(void)
{
	memset(key1, 0x5a, sizeof(key1));
	memset(key2, 0x5b, sizeof(key2));
	for (size_t i = 0; i < sizeof(msg1); i++)
		msg1[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(msg2); i++)
		msg2[i] = (uint8_t)(i * 5 + 2);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(HSN_INIT_LEN, 164);
	assert_int_equal(HSN_RESP_LEN, 92);
	assert_int_equal(HSN_COOKIE_LEN, 64);
	assert_int_equal(HSN_MSG1_LEN, 112);
	assert_int_equal(HSN_MSG2_LEN, 56);
	assert_int_equal(HSN_PROLOGUE_LEN, 25);
}

static void test_label_key(void **state)
{
	uint8_t pub[NOISE_KEY_LEN], got[NOISE_KEY_LEN], want[NOISE_KEY_LEN], in[15 + 32];
	unsigned n = 0;

	(void)state;
	memset(pub, 9, sizeof(pub));
	memcpy(in, "mprelay v1 mac1", 15);
	memcpy(in + 15, pub, 32);
	assert_int_equal(EVP_Digest(in, sizeof(in), want, &n, EVP_sha256(), NULL), 1);
	hsn_label_key("mprelay v1 mac1", pub, got);
	assert_memory_equal(got, want, sizeof(want));
}

static void test_prologue(void **state)
{
	uint8_t p[HSN_PROLOGUE_LEN];

	(void)state;
	assert_int_equal(hsn_prologue(2, 0x11223344, 0x55667788, p), HSN_PROLOGUE_LEN);
	assert_memory_equal(p, "mprelay v1 noise\x02\x11\x22\x33\x44\x55\x66\x77\x88", 25);
}

static void test_initiation(void **state)
{
	uint8_t buf[HSN_INIT_LEN + 1], kind = 0, cookie[HSN_MAC_LEN];

	(void)state;
	setup_keys();
	assert_int_equal(hsn_init_build(buf, &hdr, HSN_KIND_IKPSK2, msg1, key1, NULL),
			 HSN_INIT_LEN);
	assert_int_equal(buf[1] & 7, MP_T_HELLO);
	assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN, key1, &kind), 0);
	assert_int_equal(kind, HSN_KIND_IKPSK2);
	assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN - 1, key1, &kind), -1);
	assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN + 1, key1, &kind), -1);
	assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN, key2, &kind), -1);
	/* every bit of bytes 1 .. mac1's end matters; byte 0 and mac2 do not */
	for (size_t i = 0; i < HSN_INIT_LEN; i++)
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1 << bit);
			int rc = hsn_init_check(buf, HSN_INIT_LEN, key1, &kind);
			assert_int_equal(rc, i == 0 || i >= HSN_INIT_MAC2_OFF ? 0 : -1);
			buf[i] ^= (uint8_t)(1 << bit);
		}
	/* mac2: zero without a cookie, the cookie's MAC with one */
	static const uint8_t zero[HSN_MAC_LEN];
	assert_memory_equal(buf + HSN_INIT_MAC2_OFF, zero, HSN_MAC_LEN);
	memset(cookie, 0x77, sizeof(cookie));
	assert_int_equal(hsn_init_mac2_check(buf, cookie), -1);
	hsn_init_build(buf, &hdr, HSN_KIND_IK, msg1, key1, cookie);
	assert_int_equal(hsn_init_mac2_check(buf, cookie), 0);
	assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN, key1, &kind), 0);
	assert_int_equal(kind, HSN_KIND_IK);
	cookie[0] ^= 1;
	assert_int_equal(hsn_init_mac2_check(buf, cookie), -1);
	/* kinds 0 and 3 are refused even with a valid mac1 */
	for (uint8_t k = 0; k < 5; k++) {
		if (k == HSN_KIND_IK || k == HSN_KIND_IKPSK2)
			continue;
		hsn_init_build(buf, &hdr, k, msg1, key1, NULL);
		assert_int_equal(hsn_init_check(buf, HSN_INIT_LEN, key1, &kind), -1);
	}
}

static void test_response(void **state)
{
	uint8_t buf[HSN_RESP_LEN + 1];

	(void)state;
	setup_keys();
	assert_int_equal(hsn_resp_build(buf, &hdr, msg2, key2), HSN_RESP_LEN);
	assert_int_equal(buf[1] & 7, MP_T_WELCOME);
	assert_int_equal(buf[MP_HDR_LEN], HSN_KIND_IK);
	assert_int_equal(hsn_resp_check(buf, HSN_RESP_LEN, key2), 0);
	assert_int_equal(hsn_resp_check(buf, HSN_RESP_LEN - 1, key2), -1);
	assert_int_equal(hsn_resp_check(buf, HSN_RESP_LEN + 1, key2), -1);
	assert_int_equal(hsn_resp_check(buf, HSN_RESP_LEN, key1), -1);
	for (size_t i = 0; i < HSN_RESP_LEN; i++) {
		buf[i] ^= 0x10;
		assert_int_equal(hsn_resp_check(buf, HSN_RESP_LEN, key2), i == 0 ? 0 : -1);
		buf[i] ^= 0x10;
	}
}

static void test_cookie_reply(void **state)
{
	uint8_t buf[HSN_COOKIE_LEN + 1], cookie[HSN_MAC_LEN], got[HSN_MAC_LEN], mac1[HSN_MAC_LEN];
	uint8_t secret[NOISE_KEY_LEN], addr[6] = { 127, 0, 0, 1, 0x12, 0x34 };

	(void)state;
	setup_keys();
	memset(secret, 3, sizeof(secret));
	memset(mac1, 0x61, sizeof(mac1));
	hsn_cookie_of(secret, addr, sizeof(addr), cookie);
	hsn_cookie_of(secret, addr, sizeof(addr), got);
	assert_memory_equal(cookie, got, sizeof(got));
	addr[5]++;
	hsn_cookie_of(secret, addr, sizeof(addr), got);
	assert_memory_not_equal(cookie, got, sizeof(got));

	assert_int_equal(hsn_cookie_build(buf, &hdr, cookie, key1, mac1), HSN_COOKIE_LEN);
	assert_int_equal(buf[1] & 7, MP_T_RESET);
	assert_int_equal(buf[MP_HDR_LEN], HSN_KIND_COOKIE);
	memset(got, 0, sizeof(got));
	assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN, key1, mac1, got), 0);
	assert_memory_equal(got, cookie, sizeof(got));
	assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN - 1, key1, mac1, got), -1);
	assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN + 1, key1, mac1, got), -1);
	assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN, key2, mac1, got), -1);
	mac1[0] ^= 1;		/* another initiation's */
	assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN, key1, mac1, got), -1);
	mac1[0] ^= 1;
	for (size_t i = MP_HDR_LEN; i < HSN_COOKIE_LEN; i++) {
		buf[i] ^= 0x40;
		assert_int_equal(hsn_cookie_open(buf, HSN_COOKIE_LEN, key1, mac1, got), -1);
		buf[i] ^= 0x40;
	}
}

static void test_payloads(void **state)
{
	uint8_t ts[NOISE_TIMESTAMP_LEN], got[NOISE_TIMESTAMP_LEN], p[HSN_MSG1_PAYLOAD_LEN];
	uint8_t p2[HSN_MSG2_PAYLOAD_LEN];
	uint16_t flags = 0;

	(void)state;
	memset(ts, 0x42, sizeof(ts));
	hsn_msg1_payload(p, ts, HSN_FLAG_REKEY | HSN_FLAG_TUN);
	assert_int_equal(hsn_msg1_payload_parse(p, sizeof(p), got, &flags), 0);
	assert_memory_equal(got, ts, sizeof(ts));
	assert_int_equal(flags, HSN_FLAG_REKEY | HSN_FLAG_TUN);
	assert_int_equal(hsn_msg1_payload_parse(p, sizeof(p) - 1, got, &flags), -1);
	assert_int_equal(hsn_msg1_payload_parse(p, sizeof(p) + 1, got, &flags), -1);
	p[NOISE_TIMESTAMP_LEN + 3] = 1;		/* reserved */
	assert_int_equal(hsn_msg1_payload_parse(p, sizeof(p), got, &flags), -1);
	hsn_msg1_payload(p, ts, 4);		/* an undefined flag */
	assert_int_equal(hsn_msg1_payload_parse(p, sizeof(p), got, &flags), -1);

	hsn_msg2_payload(p2, 0xdeadbeef);
	assert_int_equal(hsn_msg2_payload_check(p2, sizeof(p2), 0xdeadbeef), 0);
	assert_int_equal(hsn_msg2_payload_check(p2, sizeof(p2), 0xdeadbeee), -1);
	assert_int_equal(hsn_msg2_payload_check(p2, sizeof(p2) - 1, 0xdeadbeef), -1);
	p2[7] = 1;
	assert_int_equal(hsn_msg2_payload_check(p2, sizeof(p2), 0xdeadbeef), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_label_key),
		cmocka_unit_test(test_prologue),
		cmocka_unit_test(test_initiation),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_cookie_reply),
		cmocka_unit_test(test_payloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
