/* libFuzzer harness for loss recovery's untrusted input: the NACK body
 * (common/wire.c, wire_get_nack) and what a sender does with one
 * (common/rescue.c, rescue_resend); the PARITY body (wire_get_parity) and
 * what a receiver does with one (common/parity.c).
 *   1. The input as a RECOVER payload: accepted exactly when a plain model
 *      of the canonical form says so; an accepted one is written back
 *      byte for byte by wire_put_nack.
 *   2. An accepted NACK, applied again and again to a ring holding
 *      datagrams of two sessions: only the asked-for datagrams of the
 *      asking session that are kept go out, each the bytes it was kept
 *      with, exactly `max` times over the rounds and never twice at one
 *      instant.
 *   3. An input whose first byte is MP_RECOVER_PARITY is a PARITY body:
 *      accepted exactly when the model says so, written back byte for
 *      byte; then given to a receiver that keeps a real group (8 DATA, 2
 *      of them missing, and its 3 shards, which come after it): whatever
 *      it says, only seqs of a group some parity named are rebuilt, none
 *      longer than a group's DATA may be, and when it names another group
 *      the real one rebuilds its two missing DATA byte for byte.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"
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

/* The PARITY canonical form, written out plainly (docs/PROTOCOL.md). */
static int parity_model_ok(const uint8_t *b, size_t len)
{
	if (len < MP_PARITY_HDR_LEN || b[0] != MP_RECOVER_PARITY || b[1] != 0)
		return 0;
	uint64_t base = be(b + 2, 6), k = b[8], m = b[9], index = b[10];
	size_t shard = len - MP_PARITY_HDR_LEN;
	return shard >= MP_PARITY_SHARD_MIN && shard <= MP_PARITY_SHARD_MAX && k >= 1 &&
	       k <= MP_PARITY_MAX_K && m >= 1 && m <= MP_PARITY_MAX_M && index < m &&
	       base >= 1 && base + k - 1 <= MP_SEQ_MAX;
}

/* The real group: DATA seqs GROUP_BASE.. of varied lengths, coded once. */
enum { GROUP_BASE = 1000, GROUP_K = 8, GROUP_M = 3 };
static uint8_t gdata[GROUP_K][300];
static size_t glen[GROUP_K];
static uint8_t gshard[GROUP_M][302];
static size_t gshard_len;

static void group_make(void)
{
	struct fec_enc enc;

	CHECK(fec_enc_init(&enc, MP_PARITY_DATAGRAM_MAX) == 0);
	CHECK(fec_enc_begin(&enc, GROUP_K, GROUP_M) == 0);
	for (unsigned i = 0; i < GROUP_K; i++) {
		glen[i] = 40 + i * 31;
		for (size_t b = 0; b < glen[i]; b++)
			gdata[i][b] = (uint8_t)(i * 17 + b * 3);
		CHECK(fec_enc_add(&enc, gdata[i], glen[i]) == (int)i);
	}
	CHECK(fec_enc_seal(&enc) == 0);
	for (unsigned j = 0; j < GROUP_M; j++) {
		const uint8_t *sh = fec_enc_parity(&enc, j, &gshard_len);
		CHECK(sh && gshard_len <= sizeof(gshard[j]));
		memcpy(gshard[j], sh, gshard_len);
	}
	fec_enc_free(&enc);
}

struct rebuilt_sink {
	const struct mp_parity *fuzzed;
	unsigned got[GROUP_K];
	int wrong;		/* a real one rebuilt with other bytes */
};

static void rebuilt_fn(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct rebuilt_sink *k = ctx;
	const struct mp_parity *f = k->fuzzed;
	int in_real = seq >= GROUP_BASE && seq < GROUP_BASE + GROUP_K;
	int in_fuzzed = seq >= f->base && seq < f->base + f->k;

	CHECK(in_real || in_fuzzed);
	CHECK(len <= MP_PARITY_DATAGRAM_MAX);
	if (in_real) {
		unsigned i = (unsigned)(seq - GROUP_BASE);
		k->got[i]++;
		k->wrong |= len != glen[i] || memcmp(bytes, gdata[i], len);
	}
}

static void parity_case(const uint8_t *data, size_t size)
{
	static struct parity_rx *rx;
	static uint8_t out[MP_PARITY_MAX_LEN];
	struct mp_parity par;
	struct parity_stats st = { 0 };

	int ok = !wire_get_parity(data, size, &par);
	CHECK(ok == parity_model_ok(data, size));
	if (!ok)
		return;
	CHECK(par.shard == data + MP_PARITY_HDR_LEN);
	CHECK(wire_put_parity(out, &par) == size && !memcmp(out, data, size));
	if (!rx) {
		CHECK((rx = parity_rx_new()) != NULL);
		group_make();
	}
	parity_rx_reset(rx);
	struct rebuilt_sink k = { .fuzzed = &par };
	for (unsigned i = 0; i < GROUP_K; i++)
		if (i != 2 && i != 5)
			parity_rx_keep(rx, GROUP_BASE + i, gdata[i], glen[i], &st, rebuilt_fn, &k);
	parity_rx_add(rx, &par, &st, rebuilt_fn, &k);
	for (unsigned j = 0; j < GROUP_M; j++) {
		struct mp_parity real = { .base = GROUP_BASE, .k = GROUP_K, .m = GROUP_M,
					  .index = j, .shard = gshard[j],
					  .shard_len = gshard_len };
		parity_rx_add(rx, &real, &st, rebuilt_fn, &k);
	}
	/* a group of its own that shares no seq with the real one changes
	 * nothing of it (one that does may rebuild junk, first: the engine
	 * checks every rebuilt packet's tag or CRC, and its window takes one) */
	if (par.base >= GROUP_BASE + GROUP_K || par.base + par.k <= GROUP_BASE) {
		CHECK(!k.wrong);
		CHECK(k.got[2] == 1 && k.got[5] == 1);
		for (unsigned i = 0; i < GROUP_K; i++)
			CHECK(k.got[i] == (i == 2 || i == 5));
	}
	CHECK(st.recovered == 0);	/* the engine counts what its window takes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rescue r;
	static int ready;
	struct mp_nack n;
	uint8_t out[MP_NACK_MAX_LEN];

	if (size && data[0] == MP_RECOVER_PARITY) {
		parity_case(data, size);
		return 0;
	}
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
