/* The shared plumbing of the stream servers (see stream.h): accepting,
 * per-connection watchers, draining, the send-and-refill loop. Everything
 * is non-blocking; nothing here allocates or knows a protocol. */
#include "stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* What a client sends is thrown away this many bytes at a time, and at most
 * DRAIN_MAX_BYTES per wake-up. */
#define DRAIN_CHUNK_BYTES 512
#define DRAIN_MAX_BYTES (64 * 1024)

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stream_listener *l = container_of(w, struct stream_listener, backoff);

	(void)revents;
	ev_io_start(loop, &l->io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stream_listener *l = container_of(w, struct stream_listener, io);

	(void)revents;
	/* Bounded per wake-up; the rest wait in the backlog. */
	for (unsigned i = 0; i <= l->max_per_wakeup; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("%s: accept", l->what);
				ev_io_stop(loop, &l->io);
				ev_timer_start(loop, &l->backoff);
			}
			return;	/* EAGAIN, or a client already gone */
		}
		l->take(l->owner, fd);
	}
}

void stream_listen_start(struct stream_listener *l, struct ev_loop *loop, int fd,
			 unsigned max_per_wakeup, const char *what,
			 stream_accept_fn take, void *owner)
{
	l->loop = loop;
	l->fd = fd;
	l->max_per_wakeup = max_per_wakeup;
	l->what = what;
	l->take = take;
	l->owner = owner;
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	ev_timer_init(&l->backoff, on_backoff, STREAM_ACCEPT_BACKOFF_MS / 1000.0, 0.);
	ev_io_start(loop, &l->io);
}

void stream_listen_stop(struct stream_listener *l)
{
	ev_io_stop(l->loop, &l->io);
	ev_timer_stop(l->loop, &l->backoff);
}

void stream_conn_start(struct ev_loop *loop, struct stream_conn *sc, int fd,
		       int events, void (*on_io)(struct ev_loop *, ev_io *, int),
		       void (*on_timeout)(struct ev_loop *, ev_timer *, int),
		       unsigned timeout_ms)
{
	sc->fd = fd;
	ev_io_init(&sc->io, on_io, fd, events);
	ev_timer_init(&sc->timeout, on_timeout, 0., timeout_ms / 1000.0);
	ev_io_start(loop, &sc->io);
	ev_timer_again(loop, &sc->timeout);
}

void stream_conn_watch(struct ev_loop *loop, struct stream_conn *sc, int events)
{
	ev_io_stop(loop, &sc->io);
	ev_io_set(&sc->io, sc->fd, events);
	ev_io_start(loop, &sc->io);
}

void stream_conn_stop(struct ev_loop *loop, struct stream_conn *sc)
{
	ev_io_stop(loop, &sc->io);
	ev_timer_stop(loop, &sc->timeout);
	close(sc->fd);
	sc->fd = -1;
}

int stream_drain(int fd)
{
	char scratch[DRAIN_CHUNK_BYTES];
	size_t total = 0;

	while (total < DRAIN_MAX_BYTES) {
		ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);

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

int stream_send(struct ev_loop *loop, struct stream_conn *sc, struct stream_out *o,
		stream_refill_fn refill, void *arg)
{
	for (;;) {
		ssize_t n;

		if (o->off == o->len) {
			o->len = o->off = 0;
			if (!o->more)
				return 1;
			/* A refill that writes nothing and still has more
			 * would spin the loop: a failure like any other. */
			if (refill(arg) < 0 || (o->len == 0 && o->more))
				return -1;
			continue;
		}
		/* MSG_NOSIGNAL: a client gone early is EPIPE, not SIGPIPE. */
		n = send(sc->fd, o->buf + o->off, o->len - o->off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		o->off += (size_t)n;
		ev_timer_again(loop, &sc->timeout);
	}
}
