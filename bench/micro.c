/*
 * The per-packet work of the packet path that is not the kernel's, timed
 * alone in a loop: AES-256-GCM seal and open (aead_seal/aead_open, in place,
 * a fresh sequence number each time) and the CRC32C of a plaintext packet.
 * Prints one JSON line for bench/run.py; `micro ITERATIONS` to choose how
 * long (split in REPEATS runs; the fastest counts). A cached, warm loop on
 * this thread's CPU clock: lower bounds of what the same calls cost inside
 * the running programs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"
#include "crypto.h"
#include "wire.h"

enum { ITERATIONS_DEFAULT = 300000, REPEATS = 5 };

static const size_t sizes_bytes[] = { 0, 64, 1200 };

static uint8_t buf[MP_HDR_LEN + 1200 + MP_MAX_TRAILER];

static double now_ns(void)
{
	struct timespec ts;

	/* this thread's CPU time: a shared machine's other jobs, which take the
	 * CPU away now and then, do not count */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void set_seq(uint8_t *pkt, uint64_t seq)
{
	for (int i = 0; i < 6; i++)
		pkt[15 - i] = (uint8_t)(seq >> (8 * i));
}

/* ns per call of seal, open and crc32c for plen payload bytes. open
 * decrypts in place, so each round seals a packet and opens it: open's
 * figure is that loop's time minus the seal loop's. */
static void measure(struct aead *enc, struct aead *dec, size_t plen, long n, double out[3])
{
	double t0 = now_ns();
	uint32_t c = 0;
	int bad = 0;

	for (long i = 0; i < n; i++) {
		set_seq(buf, (uint64_t)i);
		if (!aead_seal(enc, buf, plen))
			bad = 1;
	}
	out[0] = (now_ns() - t0) / (double)n;
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		set_seq(buf, (uint64_t)i);
		size_t len = aead_seal(enc, buf, plen);
		bad |= aead_open(dec, buf, len);
	}
	out[1] = (now_ns() - t0) / (double)n - out[0];
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		c ^= crc32c(c, buf + 1, MP_HDR_LEN - 1 + plen);
	out[2] = (now_ns() - t0) / (double)n;
	if (bad || c == 0x12345678u)	/* c: keeps the loop from being dropped */
		fprintf(stderr, "micro: a seal or an open failed (or a 1 in 2^32 crc)\n");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : ITERATIONS_DEFAULT;
	uint8_t key[CRYPTO_KEY_LEN] = { 1, 2, 3 };
	struct aead enc, dec;

	if (n <= 0 || aead_init(&enc, key, 1) || aead_init(&dec, key, 0)) {
		fputs("usage: micro [ITERATIONS]\n", stderr);
		return 2;
	}
	memset(buf, 0x5a, sizeof(buf));
	buf[1] = 0x80;
	printf("{\"iterations\":%ld,\"repeats\":%d,\"ns_per_call\":[", n, REPEATS);
	for (size_t i = 0; i < sizeof(sizes_bytes) / sizeof(sizes_bytes[0]); i++) {
		double r[3] = { 1e18, 1e18, 1e18 }, t[3];
		/* the fastest of REPEATS: caches and frequency at their best */
		for (int k = 0; k < REPEATS; k++) {
			measure(&enc, &dec, sizes_bytes[i], n / REPEATS + 1, t);
			for (int j = 0; j < 3; j++)
				r[j] = t[j] < r[j] ? t[j] : r[j];
		}
		printf("%s{\"payload_bytes\":%zu,\"aead_seal\":%.1f,\"aead_open\":%.1f,"
		       "\"crc32c\":%.1f}", i ? "," : "", sizes_bytes[i], r[0], r[1], r[2]);
	}
	printf("]}\n");
	aead_free(&enc);
	aead_free(&dec);
	return 0;
}
