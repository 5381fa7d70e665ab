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
#include "stream.h"
#include "util.h"

#define SOCKET_MODE_UMASK 0117		/* socket file mode 0660 */

struct conn {
	struct status *owner;
	struct stream_conn sc;
	struct stream_out o;		/* .buf: STATUS_CHUNK_BYTES; .more
					 * until the last piece is in it */
	struct json j;			/* where the document stands */
	uint64_t pos;			/* the fill callback's */
};

struct status {
	struct ev_loop *loop;
	int fd;
	struct stream_listener listener;
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

	stream_conn_stop(s->loop, &c->sc);
	free(c->o.buf);
	c->o.buf = NULL;
	s->n.active--;
}

static void conn_abort(struct conn *c)
{
	c->owner->n.aborted++;
	conn_close(c);
}

/* The next buffer of the document. -1: it cannot go on (a piece larger
 * than a buffer); the client is left with a document cut short, which no
 * reader takes for a whole one. */
static int refill(void *arg)
{
	struct conn *c = arg;
	struct status *s = c->owner;
	int rc;

	/* One byte for the final newline. */
	json_next_buffer(&c->j, c->o.buf, STATUS_CHUNK_BYTES - 1);
	rc = s->fill(s->ctx, &c->j, &c->pos);
	if (rc < 0 || (rc == 0 && c->j.len == 0)) {
		s->n.truncated++;
		log_warnx("status socket: a piece of the document is larger than "
			  "%d bytes; the document was cut short", STATUS_CHUNK_BYTES);
		return -1;
	}
	c->o.len = c->j.len;
	c->o.off = 0;
	if (rc == 1) {
		c->o.buf[c->o.len++] = '\n';	/* for terminals, and a sign of the end */
		c->o.more = 0;
	}
	return 0;
}

/* Sends what the socket takes now; closes when the document is out. The
 * drain before close is needed: closing a UNIX socket with unread data
 * makes the peer's read fail with ECONNRESET after the document instead of
 * ending cleanly. */
static void conn_send(struct conn *c)
{
	int rc = stream_send(c->owner->loop, &c->sc, &c->o, refill, c);

	if (rc < 0)
		conn_abort(c);
	if (rc <= 0)
		return;
	stream_drain(c->sc.fd);
	c->owner->n.served++;
	conn_close(c);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, sc.io);
	int rc;

	(void)loop;
	if (revents & EV_READ) {
		rc = stream_drain(c->sc.fd);
		if (rc < 0) {
			conn_abort(c);
			return;
		}
		if (rc > 0) {
			/* A half-close ("nothing more to say") is normal: stop
			 * watching for reads, which would now fire forever. */
			stream_conn_watch(c->owner->loop, &c->sc, EV_WRITE);
		}
	}
	if (revents & EV_WRITE)
		conn_send(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_abort(container_of(w, struct conn, sc.timeout));
}

static void conn_start(struct status *s, struct conn *c, int fd)
{
	s->n.active++;
	stream_conn_start(s->loop, &c->sc, fd, EV_READ | EV_WRITE, on_conn,
			  on_conn_timeout, STATUS_TIMEOUT_MS);
	c->o.buf = malloc(STATUS_CHUNK_BYTES);
	if (!c->o.buf) {
		conn_abort(c);
		return;
	}
	json_init(&c->j, c->o.buf, STATUS_CHUNK_BYTES - 1);
	c->pos = 0;
	c->o.len = c->o.off = 0;
	c->o.more = 1;
	conn_send(c);	/* small documents fit in the socket buffer at once */
}

static void take(void *owner, int fd)
{
	struct status *s = owner;

	for (size_t i = 0; i < ARRAY_LEN(s->conns); i++)
		if (s->conns[i].sc.fd < 0) {
			conn_start(s, &s->conns[i], fd);
			return;
		}
	s->n.refused++;
	close(fd);
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
	if (stat(s->path, &st) < 0 || listen(s->fd, STREAM_LISTEN_BACKLOG) < 0) {
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
		s->conns[i].sc.fd = -1;
	}
	if (listen_on(s, err) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	stream_listen_start(&s->listener, loop, s->fd, STATUS_MAX_CONNS,
			    "status socket", take, s);
	return s;
}

void status_close(struct status *s)
{
	struct stat st;

	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_LEN(s->conns); i++)
		if (s->conns[i].sc.fd >= 0)
			conn_close(&s->conns[i]);
	stream_listen_stop(&s->listener);
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
