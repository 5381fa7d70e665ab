/* Small helpers every file may use. */
#ifndef MP_UTIL_H
#define MP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Formats an error message into err[0..len) and returns -1, so that
 * "return errorf(err, len, ...);" reports and fails in one line. */
int errorf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every elapsed-time decision goes through this one monotonic clock. */
static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The same clock in microseconds, for round-trip times. */
static inline uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#endif
