/* The unit tests' deterministic PRNG (splitmix64): a test must not depend
 * on the clock, and a failure must replay. Each test file that includes
 * this has its own state; set prng_state to choose the sequence. */
#ifndef MP_TEST_PRNG_H
#define MP_TEST_PRNG_H

#include <stdint.h>

static uint64_t prng_state;

static inline uint64_t prng(void)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform enough below n (n > 0) for tests. */
static inline uint64_t prng_below(uint64_t n)
{
	return prng() % n;
}

#endif
