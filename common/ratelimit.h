/* A token bucket: at most `per_s` events a second on average, `burst` at
 * once. Bounds what unauthenticated input can make us do (MAC checks, key
 * derivations, replies). Integer arithmetic, one call per event. */
#ifndef MP_RATELIMIT_H
#define MP_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint32_t per_s, burst;
	uint64_t milli_tokens;		/* 1000 = one event */
	uint64_t last_ms;
	uint64_t refused;		/* events over the limit, for the stats */
};

void ratelimit_init(struct ratelimit *r, uint32_t per_s, uint32_t burst, uint64_t now_ms);
/* Takes a token if there is one: 1 = go ahead, 0 = over the limit. */
int ratelimit_allow(struct ratelimit *r, uint64_t now_ms);

#endif
