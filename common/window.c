/* Duplicate and replay filter, RFC 6479: a ring of bits indexed by sequence
 * number, with whole words cleared as the top moves forward. Does not know
 * about epochs or restarts; seq.c decides when a window starts over. */
#include "window.h"

#include <string.h>

void window_reset(struct window *w)
{
	memset(w, 0, sizeof(*w));
}

enum window_verdict window_check(struct window *w, uint64_t seq)
{
	uint64_t word = seq / 64;
	uint64_t bit = UINT64_C(1) << (seq % 64);
	uint64_t *slot = &w->ring[word % WINDOW_RING_WORDS];

	if (seq > w->top) {
		uint64_t top_word = w->top / 64;
		uint64_t steps = word - top_word;

		/* Clear the words between the old top and the new one; after a
		 * full turn of the ring everything is stale anyway. */
		if (steps > WINDOW_RING_WORDS)
			steps = WINDOW_RING_WORDS;
		for (uint64_t i = 1; i <= steps; i++)
			w->ring[(top_word + i) % WINDOW_RING_WORDS] = 0;
		w->top = seq;
	} else if (w->top - seq >= WINDOW_SIZE) {
		return WINDOW_OLD;
	}
	if (*slot & bit)
		return WINDOW_DUP;
	*slot |= bit;
	return WINDOW_NEW;
}
