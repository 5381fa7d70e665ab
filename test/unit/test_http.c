/* Unit tests of the metrics server (common/http.c, http_parse.c): the
 * request parser on a table of requests with the verdict each must get,
 * every prefix of the good one ("more" until the empty line), the size
 * limit at exactly 4 KiB and one byte beyond; the --metrics address forms
 * accepted and refused; and a live server on a libev loop stepped by the
 * test: a body of many buffers arrives byte for byte and ends with a clean
 * close, a body the fill gives up on ends with a reset (an error, never a
 * shorter exposition taken for whole), a ninth client is closed at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define WAIT_MS 5000		/* generous: the CPUs are shared */

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

/* ---- a live server ------------------------------------------------------ */

struct body {
	unsigned lines;		/* the body: this many numbered lines */
	unsigned fail_after;	/* 0, or give up once this many are out */
};

static int fill(void *ctx, struct mtext *t, struct metrics_pos *pos)
{
	const struct body *b = ctx;
	char line[32];

	for (; pos->before < b->lines; pos->before++) {
		int n = snprintf(line, sizeof(line), "line_%08llu 1\n",
				 (unsigned long long)pos->before);
		size_t mark = t->len;

		if (b->fail_after && pos->before == b->fail_after)
			return -1;
		mtext_put(t, line, (size_t)n);
		if (t->overflow) {
			t->len = mark;
			t->overflow = 0;
			return 0;
		}
	}
	return 1;
}

static struct ev_loop *loop;
static char spec[16];

static struct http *serve(struct body *b)
{
	char err[HTTP_ERR_MAX];
	struct http *h;

	/* a port that was free a moment ago: retried if taken meanwhile */
	for (int tries = 0; tries < 10; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
		close(fd);
		snprintf(spec, sizeof(spec), "%u", ntohs(a.sin_port));
		if ((h = http_open(loop, spec, fill, b, err)))
			return h;
	}
	fail_msg("http_open: %s", err);
	return NULL;
}

static int connect_to(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)atoi(spec)) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Steps the loop and reads until the end; returns 0 at a clean end of
 * file, -errno on an error (the bytes so far in buf, *len). */
static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
	uint64_t end = mono_ms() + WAIT_MS;

	*len = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT);

		if (n > 0) {
			*len += (size_t)n;
			assert_true(*len < cap);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		assert_true(mono_ms() < end);
		ev_run(loop, EVRUN_NOWAIT);
		usleep(100);
	}
}

static const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

static void streamed_body(void **state)
{
	static char got[4 << 20];
	struct body b = { .lines = 200000 };	/* 3.2 MB: ~100 buffers */
	struct http *h;
	struct http_counters n;
	size_t len;
	char *body;
	int fd;

	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	h = serve(&b);
	fd = connect_to();
	assert_int_equal(send(fd, request, sizeof(request) - 1, 0), (ssize_t)sizeof(request) - 1);
	assert_int_equal(read_all(fd, got, sizeof(got), &len), 0);
	got[len] = '\0';
	assert_memory_equal(got, "HTTP/1.1 200 OK\r\n", 17);
	assert_non_null(strstr(got, "\r\nContent-Type: text/plain; version=0.0.4"));
	body = strstr(got, "\r\n\r\n") + 4;
	assert_int_equal(got + len - body, 200000 * 16);
	for (unsigned i = 0; i < b.lines; i += 997) {
		char want[32];

		snprintf(want, sizeof(want), "line_%08u 1\n", i);
		assert_memory_equal(body + (size_t)i * 16, want, 16);
	}
	close(fd);
	http_get_counters(h, &n);
	assert_int_equal(n.served, 1);
	assert_int_equal(n.aborted, 0);
	http_close(h);
	ev_loop_destroy(loop);
}

static void given_up_body_resets(void **state)
{
	static char got[4 << 20];
	struct body b = { .lines = 200000, .fail_after = 150000 };
	struct http *h;
	struct http_counters n;
	size_t len;
	int fd, rc;

	(void)state;
	log_init("test_http", LOG_QUIET);	/* the cut is logged */
	loop = ev_loop_new(EVFLAG_AUTO);
	h = serve(&b);
	fd = connect_to();
	assert_int_equal(send(fd, request, sizeof(request) - 1, 0), (ssize_t)sizeof(request) - 1);
	rc = read_all(fd, got, sizeof(got), &len);
	assert_int_equal(rc, -ECONNRESET);
	close(fd);
	http_get_counters(h, &n);
	assert_int_equal(n.served, 0);
	assert_int_equal(n.aborted, 1);
	http_close(h);
	ev_loop_destroy(loop);
	log_init("test_http", LOG_INFO);
}

/* Clients that send nothing hold their slots; the ninth is closed at
 * once; an error answer (404) is counted as such. */
static void nine_clients(void **state)
{
	struct body b = { .lines = 1 };
	struct http *h;
	struct http_counters n;
	int fd[HTTP_MAX_CONNS + 1];
	char buf[256];
	size_t len;
	uint64_t end;

	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	h = serve(&b);
	for (int i = 0; i <= HTTP_MAX_CONNS; i++)
		fd[i] = connect_to();
	end = mono_ms() + WAIT_MS;
	do {
		assert_true(mono_ms() < end);
		ev_run(loop, EVRUN_NOWAIT);
		http_get_counters(h, &n);
	} while (n.refused == 0);
	assert_int_equal(n.refused, 1);
	assert_int_equal(read_all(fd[HTTP_MAX_CONNS], buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(send(fd[0], "GET /x HTTP/1.0\r\n\r\n", 20, 0), 20);
	assert_int_equal(read_all(fd[0], buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "HTTP/1.1 404 Not Found\r\n", 24);
	http_get_counters(h, &n);
	assert_int_equal(n.errors, 1);
	for (int i = 0; i <= HTTP_MAX_CONNS; i++)
		close(fd[i]);
	http_close(h);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_table),
		cmocka_unit_test(every_prefix),
		cmocka_unit_test(size_limit),
		cmocka_unit_test(listen_addresses),
		cmocka_unit_test(streamed_body),
		cmocka_unit_test(given_up_body_resets),
		cmocka_unit_test(nine_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
