/* The live-status socket: a UNIX stream socket that answers every connection
 * with one JSON document (written by the program's fill callback) and closes.
 * What a client sends is read and ignored; the document is sent on connect,
 * so "socat - UNIX-CONNECT:PATH" or scripts/mpstat is the whole protocol.
 * The document is streamed: written a STATUS_CHUNK_BYTES buffer at a time
 * as the client takes it, so its size has no limit and a client's memory
 * does. It ends with a newline; a document cut short (the program failed
 * to write it) has none, and is not valid JSON either. */
#ifndef MP_STATUS_H
#define MP_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "json.h"
#include "tunables.h"

#define STATUS_ERR_MAX 256

/* Writes the document from *pos on (0: the start) into j, in pieces
 * (json_piece_begin/end) and while they fit; *pos says where it stopped
 * (its meaning is the callback's). Returns 1 once the document is
 * complete, 0 when j is full (it is called again with the next buffer),
 * -1 if a piece alone does not fit an empty buffer. Must only read the
 * program's state: the program runs between two calls. */
typedef int (*status_fill_fn)(void *ctx, struct json *j, uint64_t *pos);

/* For a fill callback whose piece did not fit: 0 (go on in the next
 * buffer) if this buffer holds something, -1 if the piece alone is too big. */
static inline int status_full(const struct json *j)
{
	return j->len ? 0 : -1;
}

struct status;

struct status_counters {
	uint64_t served;	/* documents sent whole */
	uint64_t refused;	/* closed at once: STATUS_MAX_CONNS busy */
	uint64_t truncated;	/* cut short: a piece beyond STATUS_CHUNK_BYTES */
	uint64_t aborted;	/* client left early, timed out, or error */
	unsigned active;	/* connections now open */
};

/* Binds PATH (mode 0660, replacing a stale socket, refusing a live one or a
 * file that is not a socket) and serves it on loop. NULL on error, with the
 * reason in err[STATUS_ERR_MAX]. */
struct status *status_open(struct ev_loop *loop, const char *path,
			   status_fill_fn fill, void *ctx, char *err);

/* Stops the watchers, drops clients, closes, and unlinks PATH if it is
 * still our socket. NULL is accepted. */
void status_close(struct status *s);

void status_get_counters(const struct status *s, struct status_counters *out);

#endif
