/* The live-status socket: a UNIX stream socket that answers every connection
 * with one JSON document (written by the program's fill callback) and closes.
 * What a client sends is read and ignored; the document is sent on connect,
 * so "socat - UNIX-CONNECT:PATH" or scripts/mpstat is the whole protocol. */
#ifndef MP_STATUS_H
#define MP_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "json.h"
#include "tunables.h"

#define STATUS_ERR_MAX 256

/* Writes the whole document into j. May be called more than once for one
 * client (with a larger buffer each time), so it must not change state. */
typedef void (*status_fill_fn)(void *ctx, struct json *j);

struct status;

struct status_counters {
	uint64_t served;	/* documents sent whole */
	uint64_t refused;	/* closed at once: STATUS_MAX_CONNS busy */
	uint64_t truncated;	/* document beyond STATUS_BUF_MAX_BYTES */
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
