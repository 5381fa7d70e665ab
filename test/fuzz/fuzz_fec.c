/* libFuzzer harness for common/fec.c's decoder, over two forms of input:
 *   0. a real group: k, m, a seed and lengths make datagrams, the encoder
 *      codes them, then the input's bytes say which shards arrive, in what
 *      order, how often, with shards of another group and a corrupted byte
 *      now and then. Every verdict is the one the shard deserves, and
 *      recovery succeeds exactly when k distinct shards (and a parity) came;
 *      without corruption every datagram is back byte-exact with its
 *      length; with it, whatever comes back is within the limits;
 *   1. arbitrary shards (any group, k, m, index, length, bytes) and
 *      recoveries: nothing crashes, what the decoder holds stays within
 *      its limits.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_fec: invariant failed: %s "    \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

/* Small enough for many executions a second, large enough for multi-block
 * SIMD paths and tails. */
enum { MAX_LEN = 600 };

static struct fec_enc enc;
static struct fec_dec dec;
static uint8_t dgram[FEC_MAX_DATA][MAX_LEN];
static size_t dlen[FEC_MAX_DATA];
static uint8_t shard[MAX_LEN + FEC_LEN_BYTES + 64];

/* The input, consumed a byte at a time; zeros once it is used up. */
struct input {
	const uint8_t *p;
	size_t left;
};

static unsigned byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static unsigned word(struct input *in)
{
	unsigned hi = byte(in);
	return hi << 8 | byte(in);
}

static void check_held(void)
{
	uint32_t data = dec.have & ((UINT32_C(1) << FEC_MAX_DATA) - 1);

	CHECK(!(dec.have >> FEC_MAX_DATA >> FEC_MAX_PARITY));
	CHECK(!dec.k || !(data >> dec.k));
	for (unsigned i = 0; i < FEC_MAX_DATA; i++) {
		size_t len = 0;
		const uint8_t *p = fec_dec_data(&dec, i, &len);
		CHECK(!p == !(data & UINT32_C(1) << i));
		CHECK(len <= MAX_LEN);
		CHECK(!dec.shard_len || !p || len + FEC_LEN_BYTES <= dec.shard_len);
	}
}

static void real_group(struct input *in)
{
	unsigned k = 1 + byte(in) % FEC_MAX_DATA, m = 1 + byte(in) % FEC_MAX_PARITY;
	uint32_t seed = word(in) << 16 | word(in), delivered = 0;
	const uint8_t *par[FEC_MAX_PARITY];
	size_t plen = 0;
	int corrupt = 0, parity_seen = 0;

	CHECK(fec_enc_begin(&enc, k, m) == 0);
	for (unsigned i = 0; i < k; i++) {
		dlen[i] = word(in) % (MAX_LEN + 1);
		for (size_t b = 0; b < dlen[i]; b++) {
			seed = seed * 1664525u + 1013904223u;
			dgram[i][b] = (uint8_t)(seed >> 24);
		}
		CHECK(fec_enc_add(&enc, dgram[i], dlen[i]) == (int)i);
	}
	CHECK(fec_enc_seal(&enc) == 0);
	for (unsigned j = 0; j < m; j++)
		CHECK((par[j] = fec_enc_parity(&enc, j, &plen)) != NULL);

	fec_dec_start(&dec, 77);
	while (in->left) {
		unsigned op = byte(in), s = op % (k + m);
		const uint8_t *src = s < k ? dgram[s] : par[s - k];
		size_t len = s < k ? dlen[s] : plen;
		enum fec_verdict v;

		memcpy(shard, src, len);
		if (op & 0x80 && len) {	/* a flipped byte: any answer but a crash */
			shard[word(in) % len] ^= (uint8_t)(1 + byte(in) % 255);
			corrupt = 1;
		}
		uint64_t group = op & 0x40 && byte(in) & 1 ? 78 : 77;
		if (s < k)
			v = fec_dec_add_data(&dec, group, s, shard, len);
		else
			v = fec_dec_add_parity(&dec, group, k, m, s - k, shard, len);
		if (group != 77)
			CHECK(v == FEC_FOREIGN);
		else if (delivered & UINT32_C(1) << s)
			CHECK(v == FEC_DUPLICATE);
		else
			CHECK(v == FEC_ACCEPTED);
		if (v == FEC_ACCEPTED) {
			delivered |= UINT32_C(1) << s;
			parity_seen |= s >= k;
		}
		check_held();
	}
	unsigned held = (unsigned)__builtin_popcount(delivered);
	uint32_t lost = ~delivered & ((UINT32_C(1) << k) - 1);
	CHECK(fec_dec_can_recover(&dec) == (parity_seen && lost && held >= k));
	int r = fec_dec_recover(&dec);
	if (!parity_seen || (lost && held < k)) {
		CHECK(r == -EAGAIN);
		return;
	}
	if (corrupt) {
		CHECK(r >= 0 || r == -EBADMSG);
		check_held();
		return;
	}
	CHECK(r == __builtin_popcount(lost) && dec.recovered == lost);
	for (unsigned i = 0; i < k; i++) {
		size_t len = 0;
		const uint8_t *p = fec_dec_data(&dec, i, &len);
		CHECK(p && len == dlen[i] && !memcmp(p, dgram[i], len));
	}
}

static void arbitrary(struct input *in)
{
	fec_dec_start(&dec, 0);
	while (in->left) {
		unsigned op = byte(in);
		uint64_t group = op >> 5 & 1;
		unsigned k = byte(in), m = byte(in), index = byte(in);
		size_t len = word(in) % sizeof(shard);

		for (size_t b = 0; b < len; b++)
			shard[b] = (uint8_t)byte(in);
		switch (op & 3) {
		case 0:
			fec_dec_add_data(&dec, group, index, shard, len);
			break;
		case 1:
			fec_dec_add_parity(&dec, group, k, m, index, shard, len);
			break;
		case 2: {
			bool can = fec_dec_can_recover(&dec);
			int r = fec_dec_recover(&dec);
			CHECK(r == -EAGAIN || r == -EBADMSG || r >= 0);
			CHECK(!can || r != -EAGAIN);
			CHECK(r <= 0 || (unsigned)__builtin_popcount(dec.recovered) == (unsigned)r);
			break;
		}
		case 3:
			fec_dec_start(&dec, op >> 4 & 1);
			break;
		}
		check_held();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct input in = { data, size };

	if (!ready) {
		if (fec_enc_init(&enc, MAX_LEN) || fec_dec_init(&dec, MAX_LEN))
			abort();
		ready = 1;
	}
	if (byte(&in) & 1)
		arbitrary(&in);
	else
		real_group(&in);
	return 0;
}
