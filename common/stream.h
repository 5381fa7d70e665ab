/* What the two stream servers on the loop (status.c, http.c) do alike: a
 * listening socket accepted from a bounded number of times per wake-up and
 * paused when out of descriptors, a connection's watchers and timeout,
 * reading and discarding what a client sends, and sending a buffer that is
 * refilled as it empties. Not the protocol, the slots or the counters:
 * each server keeps its own. */
#ifndef MP_STREAM_H
#define MP_STREAM_H

#include <stddef.h>

#include <ev.h>

enum {
	STREAM_LISTEN_BACKLOG = 16,	/* more pending clients: the kernel refuses */
	/* Out of descriptors: stop accepting for this long rather than spin
	 * on a listening socket that stays readable. */
	STREAM_ACCEPT_BACKOFF_MS = 1000,
};

/* Takes an accepted (non-blocking) fd: starts it in a free slot, or
 * counts a refusal and closes it. */
typedef void (*stream_accept_fn)(void *owner, int fd);

struct stream_listener {
	struct ev_loop *loop;
	int fd;
	unsigned max_per_wakeup;
	const char *what;		/* names the server in a warning */
	stream_accept_fn take;
	void *owner;
	ev_io io;
	ev_timer backoff;
};

/* Starts accepting on the listening fd (which stays the caller's until
 * stream_listen_stop); at most max_per_wakeup+1 accepts per wake-up. */
void stream_listen_start(struct stream_listener *l, struct ev_loop *loop, int fd,
			 unsigned max_per_wakeup, const char *what,
			 stream_accept_fn take, void *owner);
void stream_listen_stop(struct stream_listener *l);

struct stream_conn {
	int fd;				/* -1: slot free */
	ev_io io;
	ev_timer timeout;
};

/* Watches fd for events and starts the (idle) timeout; send progress
 * re-arms it (stream_send). */
void stream_conn_start(struct ev_loop *loop, struct stream_conn *sc, int fd,
		       int events, void (*on_io)(struct ev_loop *, ev_io *, int),
		       void (*on_timeout)(struct ev_loop *, ev_timer *, int),
		       unsigned timeout_ms);
void stream_conn_watch(struct ev_loop *loop, struct stream_conn *sc, int events);
/* Stops the watchers and closes; the slot is free again. */
void stream_conn_stop(struct ev_loop *loop, struct stream_conn *sc);

/* Reads and discards, at most a bounded amount per call so that a chatty
 * client cannot hold the loop. -1 on error, 1 at end of file, 0 otherwise. */
int stream_drain(int fd);

/* The outgoing buffer: buf[off..len) is still to send; more says whether
 * refill has more to write once it is out. */
struct stream_out {
	char *buf;
	size_t len, off;
	int more;
};

/* Writes the next piece into o->buf from offset 0, sets o->len and
 * o->more; -1 if it cannot go on. Nothing written with more to come is a
 * failure too (stream_send would never end). */
typedef int (*stream_refill_fn)(void *arg);

/* Sends what the socket takes now, refilling the buffer as it empties and
 * re-arming the timeout on progress. 1: all is out; 0: the socket is full,
 * call again on EV_WRITE; -1: the client failed or refill did. */
int stream_send(struct ev_loop *loop, struct stream_conn *sc, struct stream_out *o,
		stream_refill_fn refill, void *arg);

#endif
