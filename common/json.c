/* The JSON writer. Owns only formatting: the caller owns the buffer and the
 * document's shape. Every byte goes through put(), the one place that checks
 * room, so nothing is ever written past cap; after an overflow every call is
 * a no-op and json_finish() reports -1. Numbers are formatted by hand so the
 * output never depends on the locale (a ',' decimal point is invalid JSON). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void json_init(struct json *j, char *buf, size_t cap)
{
	memset(j, 0, sizeof(*j));
	j->buf = buf;
	j->cap = cap;
	j->overflow = cap == 0;		/* not even room for the NUL */
}

ssize_t json_finish(struct json *j)
{
	if (j->overflow || j->depth != 0)
		return -1;
	j->buf[j->len] = '\0';
	return (ssize_t)j->len;
}

void json_next_buffer(struct json *j, char *buf, size_t cap)
{
	j->buf = buf;
	j->cap = cap;
	j->len = 0;
	j->overflow = cap == 0;
}

void json_piece_begin(const struct json *j, struct json_mark *m)
{
	m->len = j->len;
	m->depth = j->depth;
	m->need_comma_bits = j->need_comma_bits;
}

int json_piece_end(struct json *j, const struct json_mark *m)
{
	if (!j->overflow)
		return 1;
	j->len = m->len;
	j->depth = m->depth;
	j->need_comma_bits = m->need_comma_bits;
	j->overflow = 0;
	return 0;
}

/* All or nothing: a value is never cut in the middle. */
static void put(struct json *j, const void *p, size_t n)
{
	if (j->overflow)
		return;
	if (n > j->cap - 1 - j->len) {
		j->overflow = 1;
		return;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
}

/* Every value (and every key) starts here: a comma if its level already
 * holds something. */
static void value_begin(struct json *j)
{
	uint32_t bit = UINT32_C(1) << j->depth;

	if (j->need_comma_bits & bit)
		put(j, ",", 1);
	j->need_comma_bits |= bit;
}

static void open_level(struct json *j, char c)
{
	value_begin(j);
	put(j, &c, 1);
	if (j->depth >= JSON_MAX_DEPTH) {
		j->overflow = 1;
		return;
	}
	j->depth++;
	j->need_comma_bits &= ~(UINT32_C(1) << j->depth);
}

static void close_level(struct json *j, char c)
{
	if (j->depth == 0) {
		j->overflow = 1;	/* more ends than begins */
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void json_obj_begin(struct json *j) { open_level(j, '{'); }
void json_obj_end(struct json *j) { close_level(j, '}'); }
void json_arr_begin(struct json *j) { open_level(j, '['); }
void json_arr_end(struct json *j) { close_level(j, ']'); }

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if s does not start one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

/* Bytes that go out as they are; the rest is escaped. DEL is escaped too,
 * so that a name shown on a terminal cannot carry control bytes. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static void put_string(struct json *j, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	put(j, "\"", 1);
	while (i < n) {
		size_t start = i, u;

		while (i < n && plain(s[i]))
			i++;
		while (i < n && s[i] >= 0x80 && (u = utf8_len(s + i, n - i)))
			i += u;
		if (i > start) {
			put(j, s + start, i - start);
			continue;
		}
		if (s[i] >= 0x80) {
			put(j, "\\ufffd", 6);
		} else {
			char esc[6] = { '\\', 'u', '0', '0',
					hex[s[i] >> 4], hex[s[i] & 15] };
			put(j, esc, sizeof(esc));
		}
		i++;
	}
	put(j, "\"", 1);
}

void json_key(struct json *j, const char *name)
{
	value_begin(j);
	put_string(j, name, strlen(name));
	put(j, ":", 1);
	/* The value that follows is no new member: no comma before it. */
	j->need_comma_bits &= ~(UINT32_C(1) << j->depth);
}

void json_str(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	json_str_len(j, s, strlen(s));
}

void json_str_len(struct json *j, const char *s, size_t n)
{
	value_begin(j);
	put_string(j, s, n);
}

/* Writes v in decimal at the end of tmp[len] and returns where it starts. */
static char *u64_digits(uint64_t v, char *tmp, size_t len)
{
	char *p = tmp + len;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

static void put_u64(struct json *j, uint64_t v)
{
	char tmp[24];
	char *p = u64_digits(v, tmp, sizeof(tmp));

	put(j, p, (size_t)(tmp + sizeof(tmp) - p));
}

void json_u64(struct json *j, uint64_t v)
{
	value_begin(j);
	put_u64(j, v);
}

void json_i64(struct json *j, int64_t v)
{
	value_begin(j);
	if (v < 0) {
		put(j, "-", 1);
		/* Negate in unsigned arithmetic: -INT64_MIN overflows int64_t. */
		put_u64(j, 0 - (uint64_t)v);
	} else {
		put_u64(j, (uint64_t)v);
	}
}

void json_double(struct json *j, double v, unsigned decimals)
{
	static const uint64_t pow10[JSON_MAX_DECIMALS + 1] = {
		1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
		100000000, 1000000000,
	};
	uint64_t scale, u;
	double scaled;

	if (!isfinite(v)) {
		json_null(j);
		return;
	}
	if (decimals > JSON_MAX_DECIMALS)
		decimals = JSON_MAX_DECIMALS;
	scale = pow10[decimals];
	scaled = fabs(v) * (double)scale + 0.5;
	if (scaled >= 1e19) {
		/* Beyond uint64_t: whole digits only. "%.0f" has no decimal
		 * point, so the locale cannot change it. */
		char tmp[320];
		int n = snprintf(tmp, sizeof(tmp), "%.0f", v);

		value_begin(j);
		put(j, tmp, n > 0 ? (size_t)n : 0);
		return;
	}
	u = (uint64_t)scaled;
	value_begin(j);
	if (v < 0 && u != 0)
		put(j, "-", 1);
	put_u64(j, u / scale);
	if (decimals) {
		char tmp[24];
		char *p = u64_digits(u % scale, tmp, sizeof(tmp));

		while (p > tmp + sizeof(tmp) - decimals)
			*--p = '0';
		put(j, ".", 1);
		put(j, p, decimals);
	}
}

void json_bool(struct json *j, int v)
{
	value_begin(j);
	if (v)
		put(j, "true", 4);
	else
		put(j, "false", 5);
}

void json_null(struct json *j)
{
	value_begin(j);
	put(j, "null", 4);
}

void json_kv_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_kv_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_u64(j, v);
}

void json_kv_i64(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_i64(j, v);
}

void json_kv_double(struct json *j, const char *key, double v,
		    unsigned decimals)
{
	json_key(j, key);
	json_double(j, v, decimals);
}

void json_kv_bool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	json_bool(j, v);
}

void json_kv_obj_begin(struct json *j, const char *key)
{
	json_key(j, key);
	json_obj_begin(j);
}

void json_kv_arr_begin(struct json *j, const char *key)
{
	json_key(j, key);
	json_arr_begin(j);
}
