/* Why packets were dropped: one counter per reason, kept by each program and
 * shown by SIGUSR1 and at exit as "drop_<reason>=N". Reasons 1..WIRE_ERR_MAX-1
 * are the wire format's own. */
#ifndef MP_STATS_H
#define MP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum drop {
	DROP_UNKNOWN_SESSION = WIRE_ERR_MAX,	/* no such session (here) */
	DROP_DUP,			/* duplicate: already delivered */
	DROP_OLD,			/* behind the receive window */
	DROP_STALE_EPOCH,		/* from a peer instance since replaced */
	DROP_OVERSIZE,			/* application datagram > MP_MAX_PAYLOAD */
	DROP_SESSION_LIMIT,		/* new session refused: table full */
	DROP_SEND_FAIL,			/* the kernel refused to send it */
	DROP_BAD_TAG,			/* sealed packet did not authenticate */
	DROP_BAD_HANDSHAKE,		/* handshake message: bad MAC or stale */
	DROP_KEYS_WAIT,			/* no room while keys are being agreed */
	DROP_RATE_LIMITED,		/* over a limit that bounds our work */
	DROP_BAD_PROBE,			/* PROBE/ACK body too short or inconsistent */
	DROP_PACED,			/* every path at its rate= and its queue full */
	DROP_MAX
};

struct drops {
	uint64_t n[DROP_MAX];
};

/* The reason's name, as in drop_<name>=N ("runt", "duplicate", ...). */
const char *stats_drop_name(int reason);

/* Appends " drop_<reason>=N" for every reason; returns bytes written. */
size_t stats_format_drops(const struct drops *d, char *buf, size_t len);

#endif
