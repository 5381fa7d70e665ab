/* Which paths carry the next datagram. `duplicate` sends on every usable
 * path; `roundrobin` on one, each in turn; `weighted` on one, in proportion
 * to the weights (smooth weighted round-robin, as in nginx: no bursts). */
#ifndef MP_SCHED_H
#define MP_SCHED_H

#include <stdint.h>

#include "wire.h"

enum sched_mode { SCHED_DUPLICATE = 0, SCHED_ROUNDROBIN, SCHED_WEIGHTED };

struct sched {
	enum sched_mode mode;
	unsigned rr_next;		/* roundrobin: where to look first */
	int64_t credit[MP_MAX_PATHS];	/* weighted: accumulated credit */
};

int sched_mode_parse(const char *s, enum sched_mode *out);
const char *sched_mode_name(enum sched_mode m);

void sched_init(struct sched *s, enum sched_mode mode);
/* Returns the set of paths (bit i = path i) among `usable` to send on; 0
 * only if usable is 0. weight[i] >= 1 for usable paths. */
uint32_t sched_pick(struct sched *s, uint32_t usable,
		    const unsigned weight[static MP_MAX_PATHS]);

#endif
