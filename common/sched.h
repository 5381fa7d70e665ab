/* Which paths carry the next datagram. `duplicate` sends on every usable
 * path; `roundrobin` on one, each in turn; `weighted` on one, in proportion
 * to configured weights (smooth weighted round-robin, as in nginx: no
 * bursts); `adaptive` the same with weights computed from each path's
 * measured RTT, loss and saturation (sched_view). On top of any mode that
 * spreads, --copies adds copies on the best other paths, and latency-
 * critical datagrams go first to the lowest-RTT path. */
#ifndef MP_SCHED_H
#define MP_SCHED_H

#include <stdint.h>

#include "limits.h"
#include "wire.h"

enum sched_mode {
	SCHED_DUPLICATE = 0,
	SCHED_ROUNDROBIN,
	SCHED_WEIGHTED,
	SCHED_ADAPTIVE,
	/* each datagram on the path where it arrives first, at each path's
	 * measured capacity (the engine's send.c decides: it knows the
	 * queues); here it ranks like adaptive */
	SCHED_BOND,
	SCHED_MODE_COUNT
};

enum {
	SCHED_COPIES_AUTO = 0,		/* as few as keep loss under the target */
	SCHED_WEIGHT_SCALE = 1000,	/* adaptive weights are 1..this */
};

/* What the scheduler is told of one path (by the session, from health). */
struct sched_path {
	unsigned weight;		/* configured (weighted) */
	uint32_t srtt_us;		/* 0 = no sample yet */
	uint32_t loss_ppm;		/* of what we send on it */
	uint32_t cap_ppm;		/* share cap while saturated (adaptive) */
};

/* The choice set, rebuilt when path health changes, not per datagram. */
struct sched_view {
	uint32_t usable;		/* health-filtered, backups resolved */
	uint32_t spare;			/* may also carry copies (e.g. suspect) */
	unsigned weight[MP_MAX_PATHS];	/* what sched_pick spreads by */
	uint32_t loss_ppm[MP_MAX_PATHS];
	uint8_t by_quality[MP_MAX_PATHS];	/* usable | spare, best first */
	uint8_t by_rtt[MP_MAX_PATHS];		/* usable, fastest first */
	unsigned n_quality, n_rtt;
};

struct sched {
	enum sched_mode mode;
	unsigned copies;		/* 1..MP_MAX_PATHS, or SCHED_COPIES_AUTO */
	uint32_t target_loss_ppm;	/* for SCHED_COPIES_AUTO */
	unsigned rr_next;		/* roundrobin: where to look first */
	int64_t credit[MP_MAX_PATHS];	/* weighted: accumulated credit */
};

int sched_mode_parse(const char *s, enum sched_mode *out);
const char *sched_mode_name(enum sched_mode m);

void sched_init(struct sched *s, enum sched_mode mode);
/* The mode's own choice among `usable`: every path (duplicate) or one
 * (the others); 0 only if usable is 0. weight[i] >= 1 for usable paths. */
uint32_t sched_pick(struct sched *s, uint32_t usable,
		    const unsigned weight[static MP_MAX_PATHS]);
/* Builds the view: the mode picks among `usable`; copies may also go on
 * `spare` paths (alive, but not first choice: an answer is overdue). Both
 * orders, and in adaptive mode the weights (configured weights otherwise). */
void sched_view_build(struct sched_view *v, const struct sched *s, uint32_t usable,
		      uint32_t spare, const struct sched_path p[static MP_MAX_PATHS]);
/* The full choice for one datagram: the mode's pick (for a critical one in
 * a spreading mode, the fastest path instead) plus the copies. */
uint32_t sched_choose(struct sched *s, const struct sched_view *v, int critical);
/* The fastest usable path outside `exclude`, or -1 if there is none. */
int sched_fastest(const struct sched_view *v, uint32_t exclude);
/* Expected loss of sending on `mask`, ppm (independent paths). */
uint32_t sched_loss_ppm(const struct sched_view *v, uint32_t mask);

#endif
