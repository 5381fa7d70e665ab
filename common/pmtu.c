/* The search itself (see pmtu.h). Between lo and hi the next size is the
 * middle, rounded down to 4 bytes; converged when hi - lo <= PMTU_GRAIN. A
 * re-check probes lo itself: if lo fails, the path shrank below what it
 * carried, so the search restarts from the floor (not from lo's half:
 * nothing above the floor is known any more). */
#include "pmtu.h"

#include <string.h>

void pmtu_init(struct pmtu *m, unsigned max, uint64_t now_us)
{
	memset(m, 0, sizeof(*m));
	m->max = max < PMTU_FLOOR ? PMTU_FLOOR : max;
	m->lo = PMTU_FLOOR;
	m->hi = m->max + 1;
	m->next_us = now_us;
}

static int converged(const struct pmtu *m)
{
	return m->hi - m->lo <= PMTU_GRAIN || m->lo >= m->max;
}

int pmtu_searching(const struct pmtu *m)
{
	return !converged(m) || !m->rechecks;
}

static unsigned pick(const struct pmtu *m)
{
	if (converged(m))
		return m->lo;		/* a re-check */
	if (m->hi == m->max + 1 && m->lo == PMTU_FLOOR)
		return m->max;		/* first: the best case */
	unsigned mid = (m->lo + m->hi) / 2 & ~3u;
	return mid > m->lo ? mid : m->lo + 1;
}

static void schedule(struct pmtu *m, uint64_t now_us)
{
	m->trying = 0;
	m->tries = 0;
	if (!converged(m)) {
		m->next_us = now_us;
		return;
	}
	m->next_us = now_us + PMTU_RECHECK_MS * 1000ull;
	if (++m->rechecks % PMTU_REGROW_EVERY == 0)
		m->hi = m->max + 1;
}

unsigned pmtu_next(struct pmtu *m, uint64_t now_us, uint32_t rto_us)
{
	uint64_t wait_us = 2ull * rto_us > PMTU_WAIT_MIN_US ? 2ull * rto_us : PMTU_WAIT_MIN_US;

	if (m->trying) {
		if (now_us - m->sent_us < wait_us)
			return 0;
		if (m->tries >= PMTU_TRIES) {
			/* too big */
			if (m->trying <= m->lo) {
				m->shrinks++;
				m->lo = PMTU_FLOOR;
			}
			m->hi = m->trying;
			schedule(m, now_us);
			m->next_us = now_us;
		}
	}
	if (!m->trying) {
		if (now_us < m->next_us)
			return 0;
		m->trying = pick(m);
		if (m->trying <= PMTU_FLOOR) {	/* nothing to learn */
			schedule(m, now_us);
			return 0;
		}
	}
	m->tries++;
	m->sent_us = now_us;
	m->probes++;
	return m->trying;
}

void pmtu_answered(struct pmtu *m, unsigned size, uint64_t now_us)
{
	if (!m->trying || size != m->trying)
		return;
	if (size > m->lo)
		m->lo = size;
	if (m->hi <= m->lo)
		m->hi = m->max + 1;
	schedule(m, now_us);
}

void pmtu_recheck(struct pmtu *m, uint64_t now_us)
{
	if (!m->trying && converged(m))
		m->next_us = now_us;
}
