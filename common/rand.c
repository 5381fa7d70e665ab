/* Kernel randomness; used at session creation, never per packet. */
#include "rand.h"

#include <errno.h>
#include <sys/random.h>

#include "log.h"

void rand_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += n;
		len -= (size_t)n;
	}
}

uint32_t rand_nonzero32(void)
{
	uint32_t v;

	do
		rand_bytes(&v, sizeof(v));
	while (!v);
	return v;
}
