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
 * Memory: RESCUE_SLOTS slots of RESCUE_SLOT_BYTES, allocated once; keeping
 * is one copy, no allocation. Taking scans back from the newest slot only
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
	unsigned head;			/* the next slot written */
	unsigned used;			/* slots holding a datagram */
	uint64_t kept, too_big, resent;
};

/* Returns -1 without memory (the program then runs without rescue). */
int rescue_init(struct rescue *r);
void rescue_free(struct rescue *r);

/* Keeps a copy of pkt (len bytes, the sealed datagram) that session sent
 * on path alone at now_us. now_us must not go back between calls. */
void rescue_keep(struct rescue *r, uint32_t session, unsigned path, const uint8_t *pkt,
		 size_t len, uint64_t now_us);

/* Sends one kept datagram again: pkt is the slot's copy (the caller may
 * rewrite its path byte). Returns the path it went on, or -1 if it could
 * not go (it stays attributed to the old path). */
typedef int rescue_send_fn(void *ctx, uint8_t *pkt, size_t len);

/* Every datagram of `session` kept for `path` and sent at or after
 * since_us goes to send_fn, oldest first; each one sent is attributed to
 * its new path from then on. Returns how many went. */
unsigned rescue_take(struct rescue *r, uint32_t session, unsigned path, uint64_t since_us,
		     rescue_send_fn *send_fn, void *ctx);

#endif
