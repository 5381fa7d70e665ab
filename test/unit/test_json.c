/* Unit tests of common/json.c: exact output for nesting, commas, escaping and
 * numbers; every output checked by an independent JSON validity checker; and
 * a reference document written at every capacity from 0 up, with a canary
 * after cap proving that nothing is ever written past it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum { CANARY = 0xa5, BIG = 8192, SLACK = 64 };

/* ---- an independent validity checker (RFC 8259), recursive descent ---- */

struct chk {
	const unsigned char *p, *end;
};

static int chk_value(struct chk *c, int depth);

static void chk_ws(struct chk *c)
{
	while (c->p < c->end && strchr(" \t\r\n", *c->p) && *c->p)
		c->p++;
}

static int chk_lit(struct chk *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return 0;
	c->p += n;
	return 1;
}

/* One UTF-8 character decoded by arithmetic rather than by table. */
static int chk_utf8(struct chk *c)
{
	unsigned char b = *c->p;
	unsigned n = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
	uint32_t cp = b & (0x3f >> n);
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };

	if (n == 0 || b >= 0xf8 || c->end - c->p <= (long)n)
		return 0;
	for (unsigned i = 1; i <= n; i++) {
		if ((c->p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (c->p[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	c->p += n + 1;
	return 1;
}

static int chk_string(struct chk *c)
{
	if (c->p >= c->end || *c->p != '"')
		return 0;
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p < 0x20) {
			return 0;
		} else if (*c->p == '\\') {
			c->p++;
			if (c->p >= c->end)
				return 0;
			if (*c->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (c->p + i >= c->end ||
					    !strchr("0123456789abcdefABCDEF", c->p[i]) ||
					    !c->p[i])
						return 0;
				c->p += 5;
			} else if (*c->p && strchr("\"\\/bfnrt", *c->p)) {
				c->p++;
			} else {
				return 0;
			}
		} else if (*c->p >= 0x80) {
			if (!chk_utf8(c))
				return 0;
		} else {
			c->p++;
		}
	}
	if (c->p >= c->end)
		return 0;
	c->p++;
	return 1;
}

static int chk_digits(struct chk *c)
{
	const unsigned char *s = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static int chk_number(struct chk *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!chk_digits(c))
		return 0;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!chk_digits(c))
			return 0;
	}
	return 1;
}

static int chk_members(struct chk *c, int depth, char close, int keyed)
{
	c->p++;
	chk_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 1;
	}
	for (;;) {
		chk_ws(c);
		if (keyed) {
			if (!chk_string(c))
				return 0;
			chk_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return 0;
			c->p++;
		}
		if (!chk_value(c, depth + 1))
			return 0;
		chk_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 1;
		}
		return 0;
	}
}

static int chk_value(struct chk *c, int depth)
{
	if (depth > 64)
		return 0;
	chk_ws(c);
	if (c->p >= c->end)
		return 0;
	switch (*c->p) {
	case '{': return chk_members(c, depth, '}', 1);
	case '[': return chk_members(c, depth, ']', 0);
	case '"': return chk_string(c);
	case 't': return chk_lit(c, "true");
	case 'f': return chk_lit(c, "false");
	case 'n': return chk_lit(c, "null");
	default: return chk_number(c);
	}
}

static int json_valid(const char *s, size_t n)
{
	struct chk c = { (const unsigned char *)s, (const unsigned char *)s + n };

	if (!chk_value(&c, 0))
		return 0;
	chk_ws(&c);
	return c.p == c.end;
}

/* ---- helpers ---- */

static char out[BIG];

/* Finishes j (over out) and checks it equals want and is valid JSON. */
static void expect(struct json *j, const char *want)
{
	ssize_t n = json_finish(j);

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_string_equal(out, want);
	assert_true(json_valid(out, (size_t)n));
}

static void checker_itself(void **state)
{
	(void)state;
	/* The checker must be able to say no, or every test below is void. */
	static const char *bad[] = {
		"", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "[1 2]", "\"\x01\"",
		"\"\\x\"", "01x", "1.", "tru", "\"\xc0\x80\"", "\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"", "{a:1}", "[1]]", "\"abc",
	};
	static const char *good[] = {
		"{}", "[]", "0", "-1.5", "{\"a\":[1,{\"b\":null}],\"c\":true}",
		"\"\\u00e9\xc3\xa9\xf0\x9f\x98\x80\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(json_valid(bad[i], strlen(bad[i])));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(json_valid(good[i], strlen(good[i])));
}

static void nesting_and_commas(void **state)
{
	struct json j;

	(void)state;
	json_init(&j, out, sizeof(out));
	json_obj_begin(&j);
	json_kv_u64(&j, "a", 1);
	json_kv_arr_begin(&j, "b");
	json_u64(&j, 1);
	json_u64(&j, 2);
	json_obj_begin(&j);
	json_kv_bool(&j, "c", 1);
	json_kv_bool(&j, "d", 0);
	json_obj_end(&j);
	json_arr_begin(&j);
	json_arr_end(&j);
	json_null(&j);
	json_arr_end(&j);
	json_kv_obj_begin(&j, "e");
	json_obj_end(&j);
	json_key(&j, "f");
	json_str(&j, NULL);
	json_obj_end(&j);
	expect(&j, "{\"a\":1,\"b\":[1,2,{\"c\":true,\"d\":false},[],null],"
		   "\"e\":{},\"f\":null}");

	json_init(&j, out, sizeof(out));
	json_arr_begin(&j);
	for (int i = 0; i < 3; i++) {
		json_obj_begin(&j);
		json_kv_i64(&j, "i", i);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	expect(&j, "[{\"i\":0},{\"i\":1},{\"i\":2}]");
}

static void depth_and_balance(void **state)
{
	struct json j;
	unsigned d;

	(void)state;
	json_init(&j, out, sizeof(out));
	for (d = 0; d < JSON_MAX_DEPTH; d++)
		json_arr_begin(&j);
	for (d = 0; d < JSON_MAX_DEPTH; d++)
		json_arr_end(&j);
	assert_int_equal(json_finish(&j), 2 * JSON_MAX_DEPTH);
	assert_true(json_valid(out, 2 * JSON_MAX_DEPTH));

	json_init(&j, out, sizeof(out));
	for (d = 0; d <= JSON_MAX_DEPTH; d++)
		json_arr_begin(&j);
	for (d = 0; d <= JSON_MAX_DEPTH; d++)
		json_arr_end(&j);
	assert_int_equal(json_finish(&j), -1);	/* one level too deep */

	json_init(&j, out, sizeof(out));
	json_obj_begin(&j);
	assert_int_equal(json_finish(&j), -1);	/* left open */

	json_init(&j, out, sizeof(out));
	json_obj_begin(&j);
	json_obj_end(&j);
	json_obj_end(&j);
	assert_int_equal(json_finish(&j), -1);	/* one end too many */
}

static void escaping(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "", 0, "\"\"" },
		{ "q\"b\\s/", 6, "\"q\\u0022b\\u005cs/\"" },
		{ "\n\t\x01\x1f\x7f", 5, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"" },
		{ "a\0b", 3, "\"a\\u0000b\"" },
		/* é, €, U+1F600: valid UTF-8 passes through */
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
		  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" },
		/* U+007F..U+0080 and U+10FFFF edges */
		{ "\xc2\x80\xf4\x8f\xbf\xbf", 6, "\"\xc2\x80\xf4\x8f\xbf\xbf\"" },
		{ "\xff", 1, "\"\\ufffd\"" },
		{ "\x80x", 2, "\"\\ufffdx\"" },
		{ "\xc0\x80", 2, "\"\\ufffd\\ufffd\"" },		/* overlong */
		{ "\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"" },	/* overlong */
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4,
		  "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },		/* > U+10FFFF */
		{ "\xe2\x82", 2, "\"\\ufffd\\ufffd\"" },		/* cut short */
		{ "ok\xe2\x82\xac\xe2", 6, "\"ok\xe2\x82\xac\\ufffd\"" },
	};
	struct json j;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_init(&j, out, sizeof(out));
		json_str_len(&j, cases[i].in, cases[i].len);
		expect(&j, cases[i].want);
	}
	/* Keys are escaped the same way. */
	json_init(&j, out, sizeof(out));
	json_obj_begin(&j);
	json_kv_str(&j, "k\"\x01", "v");
	json_obj_end(&j);
	expect(&j, "{\"k\\u0022\\u0001\":\"v\"}");
}

/* Every byte string, escaped, is valid JSON: random bytes biased towards
 * the interesting ones. */
static void escaping_random(void **state)
{
	static const unsigned char pick[] = {
		0x00, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xbf, 0xc0, 0xc2,
		0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 'a', 0xa0, 0x90,
	};
	unsigned char in[32];
	uint32_t x = 12345;
	struct json j;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % (int)sizeof(in));

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			in[i] = (x >> 16) & 1 ? pick[(x >> 17) % sizeof(pick)]
					      : (unsigned char)(x >> 24);
		}
		json_init(&j, out, sizeof(out));
		json_str_len(&j, (const char *)in, n);
		ssize_t len = json_finish(&j);
		assert_true(len >= 2);
		assert_true(json_valid(out, (size_t)len));
	}
}

static void numbers(void **state)
{
	static const struct {
		double v;
		unsigned dec;
		const char *want;
	} dbl[] = {
		{ 1.23456, 2, "1.23" },
		{ 1.235, 3, "1.235" },
		{ 0.5, 3, "0.500" },
		{ -1.5, 1, "-1.5" },
		{ -0.001, 2, "0.00" },		/* no "-0.00" */
		{ 2.5, 0, "3" },
		{ 0.0, 0, "0" },
		{ 0.04, 1, "0.0" },
		{ 0.05, 1, "0.1" },
		{ 1000000.0, 9, "1000000.000000000" },
		{ 1.0, 12, "1.000000000" },	/* clamped to 9 decimals */
		{ 123456789012.345, 2, "123456789012.35" },
		{ 1e19, 2, "10000000000000000000" },
		{ -1e19, 0, "-10000000000000000000" },
	};
	char want[512];
	struct json j;

	(void)state;
	for (size_t i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++) {
		json_init(&j, out, sizeof(out));
		json_double(&j, dbl[i].v, dbl[i].dec);
		expect(&j, dbl[i].want);
	}
	json_init(&j, out, sizeof(out));
	json_arr_begin(&j);
	json_double(&j, NAN, 2);
	json_double(&j, INFINITY, 2);
	json_double(&j, -INFINITY, 0);
	json_u64(&j, 0);
	json_u64(&j, UINT64_MAX);
	json_i64(&j, INT64_MIN);
	json_i64(&j, INT64_MAX);
	json_i64(&j, -1);
	json_i64(&j, 0);
	json_arr_end(&j);
	expect(&j, "[null,null,null,0,18446744073709551615,"
		   "-9223372036854775808,9223372036854775807,-1,0]");

	/* The largest double: 309 digits, still valid JSON. */
	json_init(&j, out, sizeof(out));
	json_double(&j, 1.7976931348623157e308, 3);
	assert_int_equal(json_finish(&j), 309);
	assert_true(json_valid(out, 309));
	snprintf(want, sizeof(want), "%.0f", 1.7976931348623157e308);
	assert_string_equal(out, want);
}

/* A document with every kind of call, written into j. */
static void reference(struct json *j)
{
	json_obj_begin(j);
	json_kv_str(j, "program", "mpclient");
	json_kv_u64(j, "pid", 4242);
	json_kv_i64(j, "neg", -17);
	json_kv_double(j, "rtt_ms", 12.345, 2);
	json_kv_double(j, "nan", NAN, 2);
	json_kv_bool(j, "keyed", 0);
	json_kv_str(j, "esc", "a\"\\\x01\xc3\xa9\xff");
	json_kv_arr_begin(j, "paths");
	for (int i = 0; i < 3; i++) {
		json_obj_begin(j);
		json_kv_u64(j, "id", (uint64_t)i);
		json_kv_str(j, "state", i ? "up" : "down");
		json_kv_arr_begin(j, "l");
		json_arr_end(j);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_kv_obj_begin(j, "drops");
	json_obj_end(j);
	json_obj_end(j);
}

static void overflow_every_cap(void **state)
{
	static char ref[BIG], buf[BIG + SLACK];
	struct json j;
	ssize_t len;

	(void)state;
	json_init(&j, ref, sizeof(ref));
	reference(&j);
	len = json_finish(&j);
	assert_true(len > 100);
	assert_true(json_valid(ref, (size_t)len));

	for (size_t cap = 0; cap <= (size_t)len + 2; cap++) {
		memset(buf, CANARY, sizeof(buf));
		json_init(&j, buf, cap);
		reference(&j);
		ssize_t n = json_finish(&j);

		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal((unsigned char)buf[i], CANARY);
		if (cap <= (size_t)len) {	/* the NUL needs a byte too */
			assert_int_equal(n, -1);
			assert_true(j.overflow);
			assert_true(j.len < cap || cap == 0);
		} else {
			assert_int_equal(n, len);
			assert_memory_equal(buf, ref, (size_t)len + 1);
		}
	}
}

/* The reference document's pieces, as a streaming writer calls them: the
 * opening, each path, the end. Returns 1 when done, 0 when the buffer is
 * full (step says which piece is next), -1 if a piece fits no buffer. */
static int reference_piece(struct json *j, int *step)
{
	struct json_mark m;

	for (; *step <= 4; ++*step) {
		json_piece_begin(j, &m);
		if (*step == 0) {
			json_obj_begin(j);
			json_kv_str(j, "program", "mpclient");
			json_kv_u64(j, "pid", 4242);
			json_kv_i64(j, "neg", -17);
			json_kv_double(j, "rtt_ms", 12.345, 2);
			json_kv_double(j, "nan", NAN, 2);
			json_kv_bool(j, "keyed", 0);
			json_kv_str(j, "esc", "a\"\\\x01\xc3\xa9\xff");
			json_kv_arr_begin(j, "paths");
		} else if (*step <= 3) {
			int i = *step - 1;
			json_obj_begin(j);
			json_kv_u64(j, "id", (uint64_t)i);
			json_kv_str(j, "state", i ? "up" : "down");
			json_kv_arr_begin(j, "l");
			json_arr_end(j);
			json_obj_end(j);
		} else {
			json_arr_end(j);
			json_kv_obj_begin(j, "drops");
			json_obj_end(j);
			json_obj_end(j);
		}
		if (!json_piece_end(j, &m))
			return j->len ? 0 : -1;
	}
	return 1;
}

/* Through buffers of every size: the concatenation is the one-shot
 * document, nothing is written past a buffer, and a buffer smaller than
 * the largest piece is reported (-1) rather than looping or cutting. */
static void streamed_every_cap(void **state)
{
	static char ref[BIG], cat[BIG], buf[BIG + SLACK];
	struct json j;
	ssize_t len;
	size_t min_ok = 0;

	(void)state;
	json_init(&j, ref, sizeof(ref));
	reference(&j);
	len = json_finish(&j);
	for (size_t cap = 1; cap <= (size_t)len + 2; cap++) {
		size_t got = 0;
		int step = 0, rc, calls = 0;

		memset(buf, CANARY, sizeof(buf));
		json_init(&j, buf, cap);
		while ((rc = reference_piece(&j, &step)) >= 0) {
			for (size_t i = cap; i < sizeof(buf); i++)
				assert_int_equal((unsigned char)buf[i], CANARY);
			memcpy(cat + got, buf, j.len);
			got += j.len;
			assert_true(++calls < 1000);
			if (rc == 1)
				break;
			json_next_buffer(&j, buf, cap);
		}
		if (rc == 1) {
			assert_int_equal(got, (size_t)len);
			assert_memory_equal(cat, ref, got);
			assert_true(json_valid(cat, got));
			if (!min_ok)
				min_ok = cap;
		} else {
			/* only below the largest piece (the opening), never above a size
			 * that worked */
			assert_int_equal(min_ok, 0);
		}
	}
	assert_true(min_ok > 100 && min_ok < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checker_itself),
		cmocka_unit_test(nesting_and_commas),
		cmocka_unit_test(depth_and_balance),
		cmocka_unit_test(escaping),
		cmocka_unit_test(escaping_random),
		cmocka_unit_test(numbers),
		cmocka_unit_test(overflow_every_cap),
		cmocka_unit_test(streamed_every_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
