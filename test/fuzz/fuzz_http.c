/* libFuzzer harness for common/http_parse.c, the metrics server's request
 * parser, fed what a client may send. Invariants: the verdict is one of
 * the answers the server knows; a request longer than the limit is never
 * accepted; a 200 is a GET of /metrics whose headers ended; and a verdict
 * other than "more" is already what the shortest prefix that reached a
 * verdict said (the server parses each prefix as bytes arrive and answers
 * the first verdict). Any violation abort()s. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_http: invariant failed: %s "   \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

static int known(enum http_verdict v)
{
	return v == HTTP_MORE || v == HTTP_OK || v == HTTP_BAD_REQUEST ||
	       v == HTTP_NOT_FOUND || v == HTTP_BAD_METHOD ||
	       v == HTTP_TOO_LARGE || v == HTTP_BAD_VERSION;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	char *buf = malloc(size ? size : 1);
	const char *s = buf;
	enum http_verdict v, first = HTTP_MORE;
	size_t first_at = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	v = http_parse(s, size);
	CHECK(known(v));
	if (size > HTTP_REQUEST_MAX_BYTES)
		CHECK(v == HTTP_TOO_LARGE);
	if (v == HTTP_OK) {
		CHECK(size >= 12 && memcmp(s, "GET /metrics", 12) == 0);
		CHECK(memmem(s, size, "\r\n\r\n", 4) != NULL);
	}
	/* The first prefix with a verdict, as the server would see it (one
	 * byte at a time: the worst case of how bytes arrive). */
	for (size_t k = 1; k <= size && k <= HTTP_REQUEST_MAX_BYTES; k++) {
		first = http_parse(s, k);
		if (first != HTTP_MORE) {
			first_at = k;
			break;
		}
	}
	if (first != HTTP_MORE && size <= HTTP_REQUEST_MAX_BYTES) {
		CHECK(v == first);
		/* every longer prefix says the same */
		CHECK(http_parse(s, first_at + (size - first_at) / 2) == first);
	}
	if (size < HTTP_REQUEST_MAX_BYTES && first == HTTP_MORE)
		CHECK(v == HTTP_MORE);
	free(buf);
	return 0;
}
