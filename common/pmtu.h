/* Path MTU discovery for one path, without ICMP: the caller sends a PROBE
 * padded to the size this file asks for, with DF set, and reports the
 * sizes that come back acknowledged; a size unanswered PMTU_TRIES times is
 * too big. Binary search between what is known to work and what is known
 * not to; then the working size is re-checked every PMTU_RECHECK_MS (and
 * at once on demand: large datagrams going missing), and a failed check
 * starts the search over, so a path whose MTU shrinks is found out.
 * Sizes are UDP payload bytes. Pure logic on a caller's clock. */
#ifndef MP_PMTU_H
#define MP_PMTU_H

#include <stdint.h>

#include "tunables.h"

struct pmtu {
	unsigned max;			/* the largest size worth probing */
	unsigned lo, hi;		/* lo works; hi does not (max + 1 if unknown) */
	unsigned trying, tries;		/* the size in flight, its attempts */
	uint64_t sent_us, next_us;
	unsigned rechecks;
	uint64_t probes, shrinks;
};

void pmtu_init(struct pmtu *m, unsigned max, uint64_t now_us);
/* The size to probe now (then the caller sends it), or 0. rto_us: the
 * path's retransmission timeout, how long an answer may take. */
unsigned pmtu_next(struct pmtu *m, uint64_t now_us, uint32_t rto_us);
/* A probe of `size` was answered. */
void pmtu_answered(struct pmtu *m, unsigned size, uint64_t now_us);
/* Re-check the working size at once (large datagrams seem to go missing). */
void pmtu_recheck(struct pmtu *m, uint64_t now_us);
/* Whether a search is under way (the value is then not final). */
int pmtu_searching(const struct pmtu *m);
/* The largest size known to work. */
static inline unsigned pmtu_value(const struct pmtu *m)
{
	return m->lo;
}

#endif
