/* Token bucket in thousandths of a token. */
#include "ratelimit.h"

void ratelimit_init(struct ratelimit *r, uint32_t per_s, uint32_t burst, uint64_t now_ms)
{
	*r = (struct ratelimit){
		.per_s = per_s,
		.burst = burst,
		.milli_tokens = (uint64_t)burst * 1000,
		.last_ms = now_ms,
	};
}

int ratelimit_allow(struct ratelimit *r, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)r->burst * 1000;

	if (now_ms > r->last_ms) {
		uint64_t add = (now_ms - r->last_ms) * r->per_s;
		r->milli_tokens = r->milli_tokens + add > cap ? cap : r->milli_tokens + add;
		r->last_ms = now_ms;
	}
	if (r->milli_tokens < 1000) {
		r->refused++;
		return 0;
	}
	r->milli_tokens -= 1000;
	return 1;
}
