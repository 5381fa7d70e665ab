/* The live-status socket server. Owns the socket file (stale or foreign
 * files, mode, unlink on close), the accepted connections, and their
 * buffers; not the document, which the fill callback writes a buffer at a
 * time, when the previous one is out. Each client costs one buffer of
 * STATUS_CHUNK_BYTES, held only while it is being served, and nothing here
 * ever blocks the loop. */
#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Pending connections the kernel queues for us; more are refused by it. */
#define LISTEN_BACKLOG 16
/* Out of descriptors: stop accepting for this long rather than spin on a
 * listening socket that stays readable. */
#define ACCEPT_BACKOFF_MS 1000
/* What a client sends is thrown away this many bytes at a time, and at most
 * DRAIN_MAX_BYTES per wake-up so that a chatty client cannot hold the loop. */
#define DRAIN_CHUNK_BYTES 512
#define DRAIN_MAX_BYTES (64 * 1024)
#define SOCKET_MODE_UMASK 0117		/* socket file mode 0660 */

struct conn {
	struct status *owner;
	int fd;				/* -1: slot free */
	ev_io io;
	ev_timer timeout;
	char *buf;			/* STATUS_CHUNK_BYTES */
	size_t len, off;
	struct json j;			/* where the document stands */
	uint64_t pos;			/* the fill callback's */
	int done;			/* the last piece is in buf */
};

struct status {
	struct ev_loop *loop;
	int fd;
	ev_io accept_io;
	ev_timer backoff;
	status_fill_fn fill;
	void *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;			/* the socket file we bound, so that */
	ino_t ino;			/* close never unlinks someone else's */
	struct status_counters n;
	struct conn conns[STATUS_MAX_CONNS];
};

#define fail(err, ...) errorf(err, STATUS_ERR_MAX, __VA_ARGS__)

static void conn_close(struct conn *c)
{
	struct status *s = c->owner;

	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timeout);
	close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	s->n.active--;
}

static void conn_abort(struct conn *c)
{
	c->owner->n.aborted++;
	conn_close(c);
}

/* Reads and discards what the client sent. Returns -1 if the connection
 * failed, 1 at end of file, 0 otherwise. Needed before close too: closing
 * a UNIX socket with unread data makes the peer's read fail with
 * ECONNRESET after the document instead of ending cleanly. */
static int drain(struct conn *c)
{
	char scratch[DRAIN_CHUNK_BYTES];
	size_t total = 0;

	while (total < DRAIN_MAX_BYTES) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	return 0;
}

/* The next buffer of the document. -1: it cannot go on (a piece larger
 * than a buffer); the client is left with a document cut short, which no
 * reader takes for a whole one. */
static int refill(struct status *s, struct conn *c)
{
	int rc;

	/* One byte for the final newline. */
	json_next_buffer(&c->j, c->buf, STATUS_CHUNK_BYTES - 1);
	rc = s->fill(s->ctx, &c->j, &c->pos);
	if (rc < 0 || (rc == 0 && c->j.len == 0)) {
		s->n.truncated++;
		log_warnx("status socket: a piece of the document is larger than "
			  "%d bytes; the document was cut short", STATUS_CHUNK_BYTES);
		return -1;
	}
	c->len = c->j.len;
	c->off = 0;
	if (rc == 1) {
		c->buf[c->len++] = '\n';	/* for terminals, and a sign of the end */
		c->done = 1;
	}
	return 0;
}

/* Sends what the socket takes now, refilling the buffer as it empties;
 * closes when the document is out. */
static void conn_send(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->off == c->len) {
			if (c->done)
				break;
			if (refill(c->owner, c) < 0) {
				conn_abort(c);
				return;
			}
			continue;
		}
		/* MSG_NOSIGNAL: a client gone early is EPIPE, not SIGPIPE. */
		n = send(c->fd, c->buf + c->off, c->len - c->off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_abort(c);
			return;
		}
		c->off += (size_t)n;
		ev_timer_again(c->owner->loop, &c->timeout);
	}
	drain(c);
	c->owner->n.served++;
	conn_close(c);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, io);
	int rc;

	if (revents & EV_READ) {
		rc = drain(c);
		if (rc < 0) {
			conn_abort(c);
			return;
		}
		if (rc > 0) {
			/* A half-close ("nothing more to say") is normal: stop
			 * watching for reads, which would now fire forever. */
			ev_io_stop(loop, &c->io);
			ev_io_set(&c->io, c->fd, EV_WRITE);
			ev_io_start(loop, &c->io);
		}
	}
	if (revents & EV_WRITE)
		conn_send(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_abort(container_of(w, struct conn, timeout));
}

static void conn_start(struct status *s, struct conn *c, int fd)
{
	c->fd = fd;
	s->n.active++;
	ev_io_init(&c->io, on_conn, fd, EV_READ | EV_WRITE);
	ev_timer_init(&c->timeout, on_conn_timeout, 0., STATUS_TIMEOUT_MS / 1000.0);
	ev_io_start(s->loop, &c->io);
	ev_timer_again(s->loop, &c->timeout);
	c->buf = malloc(STATUS_CHUNK_BYTES);
	if (!c->buf) {
		conn_abort(c);
		return;
	}
	json_init(&c->j, c->buf, STATUS_CHUNK_BYTES - 1);
	c->pos = 0;
	c->len = c->off = 0;
	c->done = 0;
	conn_send(c);	/* small documents fit in the socket buffer at once */
}

static struct conn *free_slot(struct status *s)
{
	for (size_t i = 0; i < ARRAY_LEN(s->conns); i++)
		if (s->conns[i].fd < 0)
			return &s->conns[i];
	return NULL;
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct status *s = container_of(w, struct status, backoff);

	(void)revents;
	ev_io_start(loop, &s->accept_io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct status *s = container_of(w, struct status, accept_io);

	(void)revents;
	/* Bounded per wake-up; the rest wait in the backlog. */
	for (int i = 0; i <= STATUS_MAX_CONNS; i++) {
		int fd = accept4(s->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("status socket: accept");
				ev_io_stop(loop, &s->accept_io);
				ev_timer_start(loop, &s->backoff);
			}
			return;	/* EAGAIN, or a client already gone */
		}
		c = free_slot(s);
		if (!c) {
			s->n.refused++;
			close(fd);
			continue;
		}
		conn_start(s, c, fd);
	}
}

/* A socket file already at path: stale (nobody accepts) is replaced, live
 * or anything else is refused. */
static int clear_path(const char *path, const struct sockaddr_un *sun,
		      char *err)
{
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(err, "status socket %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return fail(err, "status socket %s: exists and is not a socket, "
			    "not replacing it", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, "status socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	/* EAGAIN: a listener whose backlog is full, still a live one. */
	if (rc == 0 || e == EAGAIN)
		return fail(err, "status socket %s: another process is "
			    "listening on it", path);
	if (e != ECONNREFUSED)
		return fail(err, "status socket %s: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(err, "status socket %s: cannot remove the stale "
			    "socket: %s", path, strerror(errno));
	log_info("status socket %s: replaced a stale socket", path);
	return 0;
}

static int listen_on(struct status *s, char *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int rc;

	memcpy(sun.sun_path, s->path, strlen(s->path) + 1);
	if (clear_path(s->path, &sun, err) < 0)
		return -1;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return fail(err, "status socket: %s", strerror(errno));
	/* The mode is set at creation: a chmod after bind leaves a window. */
	old = umask(SOCKET_MODE_UMASK);
	rc = bind(s->fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0)
		return fail(err, "status socket %s: bind: %s", s->path,
			    strerror(errno));
	if (stat(s->path, &st) < 0 || listen(s->fd, LISTEN_BACKLOG) < 0) {
		rc = errno;
		unlink(s->path);
		return fail(err, "status socket %s: %s", s->path, strerror(rc));
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

struct status *status_open(struct ev_loop *loop, const char *path,
			   status_fill_fn fill, void *ctx, char *err)
{
	struct status *s;
	size_t len = path ? strlen(path) : 0;

	if (len == 0) {
		fail(err, "status socket: empty path");
		return NULL;
	}
	if (len >= sizeof(s->path)) {
		fail(err, "status socket path is %zu bytes long, at most %zu "
		     "fit in a UNIX socket address", len, sizeof(s->path) - 1);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		fail(err, "status socket: out of memory");
		return NULL;
	}
	s->fd = -1;
	s->loop = loop;
	s->fill = fill;
	s->ctx = ctx;
	memcpy(s->path, path, len + 1);
	for (size_t i = 0; i < ARRAY_LEN(s->conns); i++) {
		s->conns[i].owner = s;
		s->conns[i].fd = -1;
	}
	if (listen_on(s, err) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	ev_io_init(&s->accept_io, on_accept, s->fd, EV_READ);
	ev_timer_init(&s->backoff, on_backoff, ACCEPT_BACKOFF_MS / 1000.0, 0.);
	ev_io_start(loop, &s->accept_io);
	return s;
}

void status_close(struct status *s)
{
	struct stat st;

	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_LEN(s->conns); i++)
		if (s->conns[i].fd >= 0)
			conn_close(&s->conns[i]);
	ev_io_stop(s->loop, &s->accept_io);
	ev_timer_stop(s->loop, &s->backoff);
	close(s->fd);
	/* Another instance may have replaced our file since: leave theirs. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}

void status_get_counters(const struct status *s, struct status_counters *out)
{
	*out = s->n;
}
