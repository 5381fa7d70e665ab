/* The receive window: a sliding bitmap over 64-bit sequence numbers that
 * accepts each number once and refuses numbers too far behind the newest
 * (RFC 6479). O(1) per packet; a far jump forward costs at most one pass
 * over the ring. */
#ifndef MP_WINDOW_H
#define MP_WINDOW_H

#include <stdint.h>

enum {
	WINDOW_RING_BITS = 8192,
	WINDOW_RING_WORDS = WINDOW_RING_BITS / 64,
	/* One word of the ring is always being recycled, so the usable width
	 * is a word less than the ring. */
	WINDOW_SIZE = WINDOW_RING_BITS - 64,
};

enum window_verdict { WINDOW_NEW = 0, WINDOW_DUP, WINDOW_OLD };

struct window {
	uint64_t top;		/* newest accepted sequence number; 0 = none yet */
	uint64_t ring[WINDOW_RING_WORDS];
};

void window_reset(struct window *w);

/* Accepts seq (>= 1) if it is new and not older than top - WINDOW_SIZE + 1,
 * marking it seen; otherwise says why not. Only call it on packets that are
 * otherwise valid, so a forged packet moves nothing. */
enum window_verdict window_check(struct window *w, uint64_t seq);

#endif
