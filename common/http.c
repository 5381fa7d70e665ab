/* The metrics HTTP server. Owns the listening TCP socket, the connections
 * (a fixed array, each with its request and response buffers inline, so a
 * client costs a bounded amount and nothing is allocated per request) and
 * the strict request parser; not the body, which the fill callback writes
 * a buffer at a time as the socket takes it. Nothing here blocks the loop:
 * non-blocking sockets, EV_WRITE continues a response, and the response
 * ends with a lingering close (shutdown, then read until the client closes
 * or the timer fires) so that unread request bytes cannot turn our close
 * into a reset that loses the end of the answer. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "stream.h"
#include "util.h"

enum conn_state { READING, WRITING, LINGERING };

struct conn {
	struct http *owner;
	struct stream_conn sc;
	enum conn_state state;
	struct stream_out o;		/* .more: the body is still being written */
	int ok;				/* the answer is a 200 */
	struct metrics_pos pos;		/* where the body goes on */
	size_t req_len;
	char req[HTTP_REQUEST_MAX_BYTES];
	char out[HTTP_CHUNK_BYTES];
};

struct http {
	struct ev_loop *loop;
	int fd;
	struct stream_listener listener;
	http_fill_fn fill;
	void *ctx;
	struct http_counters n;
	struct conn conns[HTTP_MAX_CONNS];
};

#define fail(err, ...) errorf(err, HTTP_ERR_MAX, __VA_ARGS__)

/* ---- connections --------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	stream_conn_stop(c->owner->loop, &c->sc);
}

/* An answer given up midway ends with a reset, not a clean close: its
 * length is known only from the close, so a clean one would pass a cut
 * exposition off as whole; a reset is an error to any client. */
static void conn_abort(struct conn *c)
{
	static const struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	if (c->state == WRITING)
		setsockopt(c->sc.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	c->owner->n.aborted++;
	conn_close(c);
}

static const char *reason(enum http_verdict v)
{
	switch (v) {
	case HTTP_OK: return "OK";
	case HTTP_NOT_FOUND: return "Not Found";
	case HTTP_BAD_METHOD: return "Method Not Allowed";
	case HTTP_TOO_LARGE: return "Request Header Fields Too Large";
	case HTTP_BAD_VERSION: return "HTTP Version Not Supported";
	default: return "Bad Request";
	}
}

/* The status line and headers; an error's short body too. No
 * Content-Length on a 200: its body is streamed and ends with the
 * connection, which HTTP/1.0 and 1.1 (with Connection: close) allow. */
static void respond(struct conn *c, enum http_verdict v)
{
	int n;

	c->ok = v == HTTP_OK;
	if (c->ok)
		n = snprintf(c->out, sizeof(c->out),
			     "HTTP/1.1 200 OK\r\n"
			     "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			     "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
	else
		n = snprintf(c->out, sizeof(c->out),
			     "HTTP/1.1 %d %s\r\n%s"
			     "Content-Type: text/plain; charset=utf-8\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			     (int)v, reason(v), v == HTTP_BAD_METHOD ? "Allow: GET\r\n" : "",
			     strlen(reason(v)) + 1, reason(v));
	c->o.len = (size_t)n;
	c->o.off = 0;
	c->o.more = c->ok;
	memset(&c->pos, 0, sizeof(c->pos));
	if (!c->ok)
		c->owner->n.errors++;
	c->state = WRITING;
	stream_conn_watch(c->owner->loop, &c->sc, EV_WRITE);
}

/* The next pieces of the body, into the emptied buffer. */
static int refill(void *arg)
{
	struct conn *c = arg;
	struct mtext t;
	int rc;

	mtext_init(&t, c->out, sizeof(c->out));
	rc = c->owner->fill(c->owner->ctx, &t, &c->pos);
	if (rc < 0) {
		log_warnx("metrics: a piece of the exposition is larger than %d bytes; "
			  "answer cut", HTTP_CHUNK_BYTES);
		return -1;
	}
	c->o.len = t.len;
	c->o.more = rc == 0;
	return 0;
}

static void conn_send(struct conn *c)
{
	int rc = stream_send(c->owner->loop, &c->sc, &c->o, refill, c);

	if (rc < 0)
		conn_abort(c);
	if (rc <= 0)
		return;
	if (c->ok)
		c->owner->n.served++;
	shutdown(c->sc.fd, SHUT_WR);
	c->state = LINGERING;
	stream_conn_watch(c->owner->loop, &c->sc, EV_READ);
}

static void conn_read(struct conn *c)
{
	enum http_verdict v;

	for (;;) {
		size_t room = sizeof(c->req) - c->req_len;
		ssize_t n = room ? recv(c->sc.fd, c->req + c->req_len, room, MSG_DONTWAIT) : 0;

		if (room && n == 0) {
			conn_abort(c);	/* gone before the request was whole */
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_abort(c);
			return;
		}
		c->req_len += (size_t)n;
		v = http_parse(c->req, c->req_len);
		if (v != HTTP_MORE) {
			respond(c, v);
			conn_send(c);
			return;
		}
	}
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, sc.io);

	(void)loop;
	switch (c->state) {
	case READING:
		if (revents & EV_READ)
			conn_read(c);
		break;
	case WRITING:
		if (revents & EV_WRITE)
			conn_send(c);
		break;
	case LINGERING:
		if (stream_drain(c->sc.fd) != 0)
			conn_close(c);
		break;
	}
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = container_of(w, struct conn, sc.timeout);

	(void)loop;
	(void)revents;
	if (c->state == LINGERING)
		conn_close(c);	/* the answer is out: not an abort */
	else
		conn_abort(c);
}

static void conn_start(struct http *h, struct conn *c, int fd)
{
	c->state = READING;
	c->req_len = c->o.len = c->o.off = 0;
	c->o.more = c->ok = 0;
	stream_conn_start(h->loop, &c->sc, fd, EV_READ, on_conn, on_conn_timeout,
			  HTTP_TIMEOUT_MS);
}

static void take(void *owner, int fd)
{
	struct http *h = owner;

	for (size_t k = 0; k < ARRAY_LEN(h->conns); k++)
		if (h->conns[k].sc.fd < 0) {
			conn_start(h, &h->conns[k], fd);
			return;
		}
	h->n.refused++;
	close(fd);
}

/* ---- the listening socket ------------------------------------------------ */

static int port_of(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int http_parse_listen(const char *spec, struct mp_addr *out, char *err)
{
	char host[64], nerr[128];
	const char *colon, *port;
	size_t hlen;
	uint16_t p;

	if (spec[0] == '[') {
		const char *close_br = strchr(spec, ']');
		if (!close_br || close_br[1] != ':')
			return fail(err, "--metrics '%s': expected [ADDRESS]:PORT", spec);
		hlen = (size_t)(close_br - spec - 1);
		if (!memchr(spec + 1, ':', hlen))
			return fail(err, "--metrics '%s': brackets are for an IPv6 address",
				    spec);
		memmove(host, spec + 1, hlen < sizeof(host) ? hlen : 0);
		port = close_br + 2;
	} else if ((colon = strrchr(spec, ':'))) {
		if (strchr(spec, ':') != colon)
			return fail(err, "--metrics '%s': an IPv6 address goes in "
				    "brackets, [ADDRESS]:PORT", spec);
		hlen = (size_t)(colon - spec);
		memmove(host, spec, hlen < sizeof(host) ? hlen : 0);
		port = colon + 1;
	} else {
		hlen = strlen("127.0.0.1");
		memcpy(host, "127.0.0.1", hlen);
		port = spec;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return fail(err, "--metrics '%s': bad address", spec);
	host[hlen] = '\0';
	if (port_of(port, &p) < 0)
		return fail(err, "--metrics '%s': expected a port 1..65535", spec);
	if (net_resolve(host, p, 1, out, nerr, sizeof(nerr)) < 0)
		return fail(err, "--metrics '%s': %s (a numeric address is needed)",
			    spec, nerr);
	return 0;
}

static int listen_on(struct http *h, const char *spec, char *err)
{
	struct mp_addr a;
	char str[NET_ADDRSTR];
	int one = 1;

	if (http_parse_listen(spec, &a, err) < 0)
		return -1;
	h->fd = socket(a.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return fail(err, "--metrics: socket: %s", strerror(errno));
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a.u.sa.sa_family == AF_INET6)
		setsockopt(h->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(h->fd, &a.u.sa, a.len) < 0 || listen(h->fd, STREAM_LISTEN_BACKLOG) < 0)
		return fail(err, "--metrics %s: %s", net_ntop(&a, str), strerror(errno));
	return 0;
}

struct http *http_open(struct ev_loop *loop, const char *spec, http_fill_fn fill,
		       void *ctx, char *err)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h) {
		fail(err, "--metrics: out of memory");
		return NULL;
	}
	h->fd = -1;
	h->loop = loop;
	h->fill = fill;
	h->ctx = ctx;
	for (size_t i = 0; i < ARRAY_LEN(h->conns); i++) {
		h->conns[i].owner = h;
		h->conns[i].sc.fd = -1;
		h->conns[i].o.buf = h->conns[i].out;
	}
	if (listen_on(h, spec, err) < 0) {
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return NULL;
	}
	stream_listen_start(&h->listener, loop, h->fd, HTTP_MAX_CONNS, "metrics",
			    take, h);
	return h;
}

void http_close(struct http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < ARRAY_LEN(h->conns); i++)
		if (h->conns[i].sc.fd >= 0)
			conn_close(&h->conns[i]);
	stream_listen_stop(&h->listener);
	close(h->fd);
	free(h);
}

void http_get_counters(const struct http *h, struct http_counters *out)
{
	*out = h->n;
}
