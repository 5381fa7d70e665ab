/* libFuzzer harness for loss recovery's untrusted input: the NACK body
 * (common/wire.c, wire_get_nack) and what a sender does with one
 * (common/rescue.c, rescue_resend).
 *   1. The input as a RECOVER payload: accepted exactly when a plain model
 *      of the canonical form says so; an accepted one is written back
 *      byte for byte by wire_put_nack.
 *   2. An accepted NACK, applied again and again to a ring holding
 *      datagrams of two sessions: only the asked-for datagrams of the
 *      asking session that are kept go out, each the bytes it was kept
 *      with, exactly `max` times over the rounds and never twice at one
 *      instant.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rescue.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_recover: invariant failed: %s " \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The canonical form, written out plainly (docs/PROTOCOL.md). */
static int model_ok(const uint8_t *b, size_t len)
{
	if (len < MP_NACK_HDR_LEN || b[0] != MP_RECOVER_NACK || b[1] != 0)
		return 0;
	uint64_t bits = be(b + 2, 2), base = be(b + 4, 6);
	if (bits < 1 || bits > MP_NACK_MAX_BITS || len != MP_NACK_HDR_LEN + (bits + 7) / 8)
		return 0;
	if (base == 0 || base + bits - 1 > MP_SEQ_MAX)
		return 0;
	const uint8_t *map = b + MP_NACK_HDR_LEN;
	for (uint64_t i = bits; i < 8 * ((bits + 7) / 8); i++)
		if (map[i / 8] >> (i % 8) & 1)
			return 0;
	return (map[0] & 1) && (map[(bits - 1) / 8] >> ((bits - 1) % 8) & 1);
}

/* The ring: session 7 sent seqs KEEP_FROM..KEEP_FROM+KEEP-1 (byte 1 of
 * each is its seq's low byte), session 8 the same seqs with another mark. */
enum { KEEP_FROM = 1, KEEP = 600, MAX_RESENDS = 3 };

struct sink {
	const struct mp_nack *n;
	unsigned sent[KEEP];		/* per seq of session 7 */
	uint8_t found[KEEP];		/* found at the first ask */
	uint64_t seq;			/* the one being asked for */
};

static int sink_send(void *ctx, unsigned from, uint8_t *pkt, size_t len)
{
	struct sink *k = ctx;

	CHECK(from < MP_MAX_PATHS);
	CHECK(len == 40);
	/* session 7's bytes, for the seq asked for */
	CHECK(pkt[0] == 7 && pkt[1] == (uint8_t)k->seq);
	CHECK(k->seq >= KEEP_FROM && k->seq < KEEP_FROM + KEEP);
	k->sent[k->seq - KEEP_FROM]++;
	return (int)((from + 1) % 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rescue r;
	static int ready;
	struct mp_nack n;
	uint8_t out[MP_NACK_MAX_LEN];

	int ok = !wire_get_nack(data, size, &n);
	CHECK(ok == model_ok(data, size));
	if (!ok)
		return 0;
	CHECK(wire_put_nack(out, &n) == size && !memcmp(out, data, size));

	if (!ready) {
		CHECK(rescue_init(&r) == 0);
		ready = 1;
	}
	/* kept again for each input (what earlier inputs left is older):
	 * session 7 and 8 interleaved */
	for (unsigned i = 0; i < KEEP; i++) {
		uint8_t pkt[40] = { 7, (uint8_t)(KEEP_FROM + i) };
		rescue_keep(&r, 7, KEEP_FROM + i, i % 3, pkt, sizeof(pkt), 1000 + i);
		pkt[0] = 8;
		rescue_keep(&r, 8, KEEP_FROM + i, i % 3, pkt, sizeof(pkt), 1000 + i);
	}
	struct sink k = { .n = &n };
	uint64_t now = 1000000;
	for (int round = 0; round < MAX_RESENDS + 2; round++, now += 1000) {
		for (unsigned i = 0; i < n.bits; i++) {
			if (!(n.map[i / 8] >> (i % 8) & 1))
				continue;
			k.seq = n.base + i;
			enum rescue_resend_result res =
				rescue_resend(&r, 7, k.seq, MAX_RESENDS, now - 500, now, sink_send, &k);
			int kept = k.seq >= KEEP_FROM && k.seq < KEEP_FROM + KEEP;
			CHECK(kept || res == RESCUE_NOT_KEPT);
			if (kept && round == 0)
				k.found[k.seq - KEEP_FROM] = res == RESCUE_RESENT;
			/* asked twice at one instant: the second is too recent
			 * (or, after the last resend, spent) */
			if (res == RESCUE_RESENT) {
				enum rescue_resend_result again = rescue_resend(
					&r, 7, k.seq, MAX_RESENDS, now - 500, now, sink_send, &k);
				CHECK(again == (round == MAX_RESENDS - 1 ? RESCUE_SPENT
									  : RESCUE_RECENT));
			}
		}
	}
	for (unsigned s = 0; s < KEEP; s++) {
		uint64_t seq = KEEP_FROM + s;
		int asked = seq >= n.base && seq < n.base + n.bits &&
			    (n.map[(seq - n.base) / 8] >> ((seq - n.base) % 8) & 1);
		/* asked and found: exactly MAX_RESENDS times over the rounds (a
		 * datagram the index lost to a full bucket is never sent) */
		CHECK(k.sent[s] == (asked && k.found[s] ? MAX_RESENDS : 0));
		CHECK(!k.found[s] || asked);
	}
	return 0;
}
