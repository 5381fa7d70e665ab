/* Rescue: a path that dies takes with it what was sent on it alone since
 * it last showed signs of life. Each side keeps the datagrams it lately
 * sent on a single path, sealed as they went out, in one bounded ring; when
 * a reliable path turns suspect (an answer overdue, or the client says it
 * avoids it), the ones sent on it since its last sign of life go again on
 * the best path still working. The receiver's window drops whichever copy
 * comes second, so a false alarm costs a few duplicates and an outage
 * costs almost nothing.
 *
 * The bytes go again unchanged but for the path byte, which is outside the
 * check (docs/PROTOCOL.md): no GCM nonce ever covers two different texts.
 *
 * The same ring serves loss recovery (bond mode, recover.c): a datagram
 * the receiver reports missing is found by its session and sequence number
 * through a small index, and goes again the same way.
 *
 * Memory: RESCUE_SLOTS slots of RESCUE_SLOT_BYTES, and an index of
 * RESCUE_INDEX entries, allocated once; keeping is one copy, no allocation. Taking scans back from the newest slot only
 * as far as the window asked for. The ring is shared by all sessions, so
 * what it covers is the last RESCUE_SLOTS single-path datagrams, whatever
 * session sent them: a few hundred milliseconds at the rates where an
 * outage is noticed by a user, less at bulk rates (where TCP recovers). */
#ifndef MP_RESCUE_H
#define MP_RESCUE_H

#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

struct rescue_slot;

struct rescue {
	struct rescue_slot *slot;	/* NULL: off (no memory) */
	uint32_t *index;		/* hash of (session, seq) -> slot + 1 */
	unsigned head;			/* the next slot written */
	unsigned used;			/* slots holding a datagram */
	uint64_t kept, too_big, resent;
};

/* Returns -1 without memory (the program then runs without rescue). */
int rescue_init(struct rescue *r);
void rescue_free(struct rescue *r);

/* Keeps a copy of pkt (len bytes, the sealed datagram numbered seq) that
 * session sent on path alone at now_us. now_us must not go back between
 * calls. */
void rescue_keep(struct rescue *r, uint32_t session, uint64_t seq, unsigned path,
		 const uint8_t *pkt, size_t len, uint64_t now_us);

/* Sends one kept datagram again: pkt is the slot's copy (the caller may
 * rewrite its path byte). Returns the path it went on, or -1 if it could
 * not go (it stays attributed to the old path). */
typedef int rescue_send_fn(void *ctx, uint8_t *pkt, size_t len);

/* Every datagram of `session` kept for `path` and sent at or after
 * since_us goes to send_fn, oldest first; each one sent is attributed to
 * its new path from then on. Returns how many went. */
unsigned rescue_take(struct rescue *r, uint32_t session, unsigned path, uint64_t since_us,
		     rescue_send_fn *send_fn, void *ctx);

/* Loss recovery: sends a kept datagram again on another path. from is
 * the path it last went on; returns the path it went on now, or -1. */
typedef int rescue_resend_fn(void *ctx, unsigned from, uint8_t *pkt, size_t len);

enum rescue_resend_result {
	RESCUE_RESENT = 0,
	RESCUE_NOT_KEPT,	/* never kept, or overwritten since */
	RESCUE_SPENT,		/* already sent again `max` times */
	RESCUE_RECENT,		/* last sent again after not_after_us */
	RESCUE_NO_PATH,		/* send_fn found no path */
};

/* The kept datagram (session, seq) goes to send_fn if it has gone again
 * fewer than max times and not after not_after_us; it is attributed to
 * its new path from then on. */
enum rescue_resend_result rescue_resend(struct rescue *r, uint32_t session, uint64_t seq,
					unsigned max, uint64_t not_after_us, uint64_t now_us,
					rescue_resend_fn *send_fn, void *ctx);

#endif
