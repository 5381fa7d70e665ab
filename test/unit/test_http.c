/* Unit tests of the metrics server's request parser (common/http_parse.c)
 * and of its --metrics address parsing (http_parse_listen): a table of
 * requests with the verdict each must get, every prefix of the good one
 * ("more" until the empty line), the size limit at exactly 4 KiB and one
 * byte beyond, and the address forms accepted and refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "http.h"

struct req_case {
	const char *req;
	enum http_verdict want;
};

static const struct req_case cases[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_OK },
	{ "GET /metrics HTTP/1.0\r\n\r\n", HTTP_OK },
	{ "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", HTTP_OK },
	{ "GET /metrics HTTP/1.1\r\nA: \t\x80\xff ok\r\nB:\r\n\r\n", HTTP_OK },
	{ "GET /metrics HTTP/1.1\r\n\r\nbody after the end is not read", HTTP_OK },
	{ "GET / HTTP/1.1\r\n\r\n", HTTP_NOT_FOUND },
	{ "GET /metrics/ HTTP/1.1\r\n\r\n", HTTP_NOT_FOUND },
	{ "GET /metricsx HTTP/1.1\r\n\r\n", HTTP_NOT_FOUND },
	{ "GET /Metrics HTTP/1.1\r\n\r\n", HTTP_NOT_FOUND },
	{ "POST /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_METHOD },
	{ "HEAD /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_METHOD },
	{ "get /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_METHOD },
	{ "GETX /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_METHOD },
	{ "GET /metrics HTTP/2.0\r\n\r\n", HTTP_BAD_VERSION },
	{ "GET /metrics HTTP/1.2\r\n", HTTP_BAD_VERSION },
	{ "GET /metrics HTTP/1.1 \r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics http/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.10\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET metrics HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET http://x/metrics HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /met rics HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ " GET /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\n\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nHost: x\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nA: b\x01\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nA: b\x7f\r\n\r\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n", HTTP_BAD_REQUEST },
	/* incomplete, and nothing yet wrong */
	{ "", HTTP_MORE },
	{ "GET /metrics HTTP/1.1\r", HTTP_MORE },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", HTTP_MORE },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r", HTTP_MORE },
	/* known bad before the end */
	{ "GET /metrics HTTP/3.1\r\n", HTTP_BAD_VERSION },
	{ "GET /metrics HTTP/1.1\r\nA: b\n", HTTP_BAD_REQUEST },
	{ "GET /metrics HTTP/1.1\r\nA", HTTP_MORE },
};

static void request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum http_verdict v = http_parse(cases[i].req, strlen(cases[i].req));
		if (v != cases[i].want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].req,
				 (int)v, (int)cases[i].want);
	}
	/* a NUL is never valid, wherever it is */
	assert_int_equal(http_parse("GET /metrics HTTP/1.1\r\nA\0: b\r\n\r\n", 33),
			 HTTP_BAD_REQUEST);
	assert_int_equal(http_parse("GET /met\0rics", 13), HTTP_BAD_REQUEST);
}

static void every_prefix(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
	size_t n = sizeof(req) - 1;

	(void)state;
	for (size_t k = 0; k < n; k++)
		assert_int_equal(http_parse(req, k), HTTP_MORE);
	assert_int_equal(http_parse(req, n), HTTP_OK);
}

/* A request of exactly HTTP_REQUEST_MAX_BYTES is served; a byte more, or
 * that many without the end, is 431. */
static void size_limit(void **state)
{
	static char req[HTTP_REQUEST_MAX_BYTES + 8];
	static const char head[] = "GET /metrics HTTP/1.1\r\nX: ";
	size_t fill = HTTP_REQUEST_MAX_BYTES - (sizeof(head) - 1) - 4;

	(void)state;
	memcpy(req, head, sizeof(head) - 1);
	memset(req + sizeof(head) - 1, 'a', fill + 1);
	memcpy(req + sizeof(head) - 1 + fill, "\r\n\r\n", 4);
	assert_int_equal(http_parse(req, HTTP_REQUEST_MAX_BYTES), HTTP_OK);
	memcpy(req + sizeof(head) - 1 + fill, "a\r\n\r\n", 5);
	assert_int_equal(http_parse(req, HTTP_REQUEST_MAX_BYTES), HTTP_TOO_LARGE);
	assert_int_equal(http_parse(req, HTTP_REQUEST_MAX_BYTES - 1), HTTP_MORE);
	assert_int_equal(http_parse(req, HTTP_REQUEST_MAX_BYTES + 1), HTTP_TOO_LARGE);
}

static void listen_addresses(void **state)
{
	static const struct {
		const char *spec;
		int family;
		const char *addr;
		unsigned port;
	} good[] = {
		{ "9100", AF_INET, "127.0.0.1", 9100 },
		{ "0.0.0.0:1", AF_INET, "0.0.0.0", 1 },
		{ "192.0.2.7:65535", AF_INET, "192.0.2.7", 65535 },
		{ "[::1]:9100", AF_INET6, "::1", 9100 },
		{ "[::]:80", AF_INET6, "::", 80 },
	};
	static const char *const bad[] = {
		"", "0", "65536", "-1", "+80", "80x", "9100 ", ":9100", "1.2.3.4:",
		"::1:9100", "[::1]9100", "[::1]:", "[::1", "localhost:9100",
		"[127.0.0.1]:80", "1.2.3.4.5:80", "[]:80",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:80",
	};
	char err[HTTP_ERR_MAX], str[64];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mp_addr a;

		if (http_parse_listen(good[i].spec, &a, err) < 0)
			fail_msg("%s: %s", good[i].spec, err);
		assert_int_equal(a.u.sa.sa_family, good[i].family);
		if (good[i].family == AF_INET) {
			inet_ntop(AF_INET, &a.u.in.sin_addr, str, sizeof(str));
			assert_int_equal(ntohs(a.u.in.sin_port), good[i].port);
		} else {
			inet_ntop(AF_INET6, &a.u.in6.sin6_addr, str, sizeof(str));
			assert_int_equal(ntohs(a.u.in6.sin6_port), good[i].port);
		}
		assert_string_equal(str, good[i].addr);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mp_addr a;

		err[0] = '\0';
		if (http_parse_listen(bad[i], &a, err) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(err, "--metrics"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_table),
		cmocka_unit_test(every_prefix),
		cmocka_unit_test(size_limit),
		cmocka_unit_test(listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
