/* A reference one's-complement sum for the tests of common/ip.c (the unit
 * test and the fuzz harness), written differently from ip_checksum on
 * purpose: byte by byte into a wide sum, folded once at the end. */
#ifndef MP_TEST_IP_REF_H
#define MP_TEST_IP_REF_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

#endif
