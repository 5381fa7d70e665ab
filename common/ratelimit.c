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
		uint64_t elapsed_ms = now_ms - r->last_ms;
		uint64_t room = cap - r->milli_tokens;

		/* Compare before multiplying: no overflow however long the gap. */
		if (r->per_s == 0 || elapsed_ms < room / r->per_s + 1)
			r->milli_tokens += elapsed_ms * r->per_s > room ? room : elapsed_ms * r->per_s;
		else
			r->milli_tokens = cap;
		r->last_ms = now_ms;
	}
	if (r->milli_tokens < 1000) {
		r->refused++;
		return 0;
	}
	r->milli_tokens -= 1000;
	return 1;
}
