/* Path choice per datagram; O(paths) per call, no allocation. Path health
 * is not decided here: the caller passes the set of usable paths. */
#include "sched.h"

#include <string.h>

static const char *const names[] = {
	[SCHED_DUPLICATE] = "duplicate",
	[SCHED_ROUNDROBIN] = "roundrobin",
	[SCHED_WEIGHTED] = "weighted",
};

int sched_mode_parse(const char *s, enum sched_mode *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum sched_mode)i;
			return 0;
		}
	return -1;
}

const char *sched_mode_name(enum sched_mode m)
{
	return names[m];
}

void sched_init(struct sched *s, enum sched_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
}

static uint32_t pick_roundrobin(struct sched *s, uint32_t usable)
{
	for (unsigned k = 0; k < MP_MAX_PATHS; k++) {
		unsigned i = (s->rr_next + k) % MP_MAX_PATHS;
		if (usable & 1u << i) {
			s->rr_next = i + 1;
			return 1u << i;
		}
	}
	return 0;
}

static uint32_t pick_weighted(struct sched *s, uint32_t usable,
			      const unsigned weight[static MP_MAX_PATHS])
{
	int64_t total = 0;
	int best = -1;

	for (int i = 0; i < MP_MAX_PATHS; i++) {
		if (!(usable & 1u << i))
			continue;
		s->credit[i] += weight[i];
		total += weight[i];
		if (best < 0 || s->credit[i] > s->credit[best])
			best = i;
	}
	if (best < 0)
		return 0;
	s->credit[best] -= total;
	return 1u << best;
}

uint32_t sched_pick(struct sched *s, uint32_t usable,
		    const unsigned weight[static MP_MAX_PATHS])
{
	switch (s->mode) {
	case SCHED_ROUNDROBIN:
		return pick_roundrobin(s, usable);
	case SCHED_WEIGHTED:
		return pick_weighted(s, usable, weight);
	case SCHED_DUPLICATE:
		break;
	}
	return usable;
}
