/* The metrics HTTP server (--metrics [ADDR:]PORT): a tiny HTTP/1.0 and 1.1
 * server on the program's libev loop that answers GET /metrics with the
 * Prometheus exposition, 404 for any other path, 405 for any other method,
 * one request per connection. Everything a client sends is untrusted: the
 * request (line and headers) must fit HTTP_REQUEST_MAX_BYTES and arrive
 * within HTTP_TIMEOUT_MS; at most HTTP_MAX_CONNS clients at once. */
#ifndef MP_HTTP_H
#define MP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "metrics.h"
#include "net.h"

#define HTTP_ERR_MAX 256

enum {
	HTTP_MAX_CONNS = 8,		/* a scraper or two, and a curl */
	HTTP_REQUEST_MAX_BYTES = 4096,	/* request line and headers */
	HTTP_TIMEOUT_MS = 2000,		/* for the request; then per write */
	/* The response goes out through this much, refilled as the socket
	 * takes it: any number of sessions, bounded memory. */
	HTTP_CHUNK_BYTES = 32 * 1024,
};

/* The parser's verdict on what has arrived of a request so far. */
enum http_verdict {
	HTTP_MORE = 0,			/* incomplete: read on */
	HTTP_OK = 200,			/* GET /metrics */
	HTTP_BAD_REQUEST = 400,
	HTTP_NOT_FOUND = 404,
	HTTP_BAD_METHOD = 405,
	HTTP_TOO_LARGE = 431,		/* no end of headers within the limit */
	HTTP_BAD_VERSION = 505,
};

/* Parses buf[0..len) (not NUL-terminated): request line, headers, the
 * empty line. Strict: CRLF line ends, one space between the three parts of
 * the request line, an origin-form target, HTTP/1.0 or HTTP/1.1, headers
 * as token ":" value without control characters. Pure: for the fuzzer. */
enum http_verdict http_parse(const char *buf, size_t len);

/* Writes the body from *pos on (all zero: the start); as metrics_fill. */
typedef int (*http_fill_fn)(void *ctx, struct mtext *t, struct metrics_pos *pos);

struct http;

struct http_counters {
	uint64_t served;	/* 200 sent whole */
	uint64_t errors;	/* 4xx/5xx answers */
	uint64_t refused;	/* closed at once: HTTP_MAX_CONNS busy */
	uint64_t aborted;	/* client left early, timed out, or error */
};

/* Parses "[ADDR:]PORT", "[V6ADDR]:PORT" (numeric addresses only; default
 * 127.0.0.1). Returns 0 or -1 with the reason in err[HTTP_ERR_MAX]. */
int http_parse_listen(const char *spec, struct mp_addr *out, char *err);

/* Listens on spec and serves on loop. NULL on error, with the reason. */
struct http *http_open(struct ev_loop *loop, const char *spec, http_fill_fn fill,
		       void *ctx, char *err);
/* NULL is accepted. */
void http_close(struct http *h);
void http_get_counters(const struct http *h, struct http_counters *out);

#endif
