/* Randomness from the kernel (getrandom), for session ids, epochs and hash
 * seeds. Never fails silently: a failure is fatal, there is no fallback. */
#ifndef MP_RAND_H
#define MP_RAND_H

#include <stddef.h>
#include <stdint.h>

void rand_bytes(void *buf, size_t len);
uint32_t rand_nonzero32(void);

#endif
