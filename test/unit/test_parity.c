/* Unit tests of common/parity.c, the bookkeeping over fec.c:
 *   - the sender: a group takes the DATA that follow it, up to 16, and
 *     refuses one that does not follow or does not fit; it counts the paths
 *     its DATA went on; its parity is coded for the m chosen at the end;
 *     the parity budget starts full, grows by PARITY_BUDGET_PCT of what was
 *     sent and holds at most PARITY_BUDGET_BURST;
 *   - the receiver: a group is rebuilt as soon as it holds k shards, from
 *     a parity's arrival or a DATA's, byte for byte; a DATA pushed out of
 *     the ring no longer counts; a DATA longer than the group's shards
 *     makes the group undecodable, never a wrong rebuild; a group pushed
 *     out with DATA missing is counted; the keyed stash gives back only
 *     the DATA it copied. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "parity.h"

enum { K = 4, M = 2 };

static uint8_t data[K][300];
static size_t len[K];
static uint8_t shard[M][302];
static size_t shard_len;

/* A group of K datagrams at base, coded with M shards. */
static void code_group(uint64_t base)
{
	struct fec_enc enc;

	assert_int_equal(fec_enc_init(&enc, MP_PARITY_DATAGRAM_MAX), 0);
	assert_int_equal(fec_enc_begin(&enc, K, M), 0);
	for (unsigned i = 0; i < K; i++) {
		len[i] = 30 + 50 * i;
		for (size_t b = 0; b < len[i]; b++)
			data[i][b] = (uint8_t)(base + i * 13 + b);
		assert_int_equal(fec_enc_add(&enc, data[i], len[i]), (int)i);
	}
	assert_int_equal(fec_enc_seal(&enc), 0);
	for (unsigned j = 0; j < M; j++)
		memcpy(shard[j], fec_enc_parity(&enc, j, &shard_len), shard_len);
	fec_enc_free(&enc);
}

static struct mp_parity shard_of(uint64_t base, unsigned j)
{
	return (struct mp_parity){ .base = base, .k = K, .m = M, .index = j,
				   .shard = shard[j], .shard_len = shard_len };
}

struct sink {
	uint64_t base;
	unsigned got[K];
	unsigned other;
};

static void rebuilt(void *ctx, uint64_t seq, const uint8_t *bytes, size_t n)
{
	struct sink *s = ctx;

	if (seq < s->base || seq >= s->base + K) {
		s->other++;
		return;
	}
	unsigned i = (unsigned)(seq - s->base);
	assert_int_equal(n, len[i]);
	assert_memory_equal(bytes, data[i], n);
	s->got[i]++;
}

static void tx_groups(void **state)
{
	static struct parity_tx t;
	uint8_t pkt[1 + MP_PARITY_DATAGRAM_MAX + 1] = { 0 };

	(void)state;
	assert_int_equal(parity_tx_open(&t, 10, 5), 0);
	assert_true(t.ready);
	assert_int_equal(parity_tx_add(&t, 11, 1, pkt, 100), -1);	/* does not follow */
	for (unsigned i = 0; i < FEC_MAX_DATA; i++)
		assert_int_equal(parity_tx_add(&t, 10 + i, i % 3 ? 1u << 2 : 3, pkt, 100),
				 i == FEC_MAX_DATA - 1);
	assert_int_equal(parity_tx_count(&t), FEC_MAX_DATA);
	assert_int_equal(t.on[0], 6);
	assert_int_equal(t.on[1], 6);
	assert_int_equal(t.on[2], 10);
	assert_int_equal(parity_tx_add(&t, 26, 1, pkt, 100), -1);	/* full */
	assert_int_equal(parity_tx_seal(&t, FEC_MAX_PARITY + 1), -1);
	assert_int_equal(parity_tx_seal(&t, 2), 0);
	size_t sl;
	assert_non_null(fec_enc_parity(&t.enc, 1, &sl));
	assert_int_equal(sl, 2 + 99);
	assert_null(fec_enc_parity(&t.enc, 2, &sl));
	assert_int_equal(parity_tx_count(&t), 0);		/* closed */
	assert_int_equal(parity_tx_seal(&t, 1), -1);
	/* too long for a group; then a short group dropped */
	assert_int_equal(parity_tx_open(&t, 30, 6), 0);
	assert_int_equal(parity_tx_add(&t, 30, 1, pkt, sizeof(pkt)), -1);
	assert_int_equal(parity_tx_add(&t, 30, 1, pkt, sizeof(pkt) - 1), 0);
	parity_tx_drop(&t);
	assert_int_equal(parity_tx_count(&t), 0);
	parity_tx_free(&t);
	assert_false(t.ready);
}

static void tx_budget(void **state)
{
	static struct parity_tx t;

	(void)state;
	assert_int_equal(parity_tx_open(&t, 1, 0), 0);
	assert_int_equal(parity_tx_spend(&t, 0, PARITY_BUDGET_BURST), 0);	/* full */
	assert_int_equal(parity_tx_spend(&t, 0, 1), -1);
	assert_int_equal(parity_tx_spend(&t, 1000, 1000 * PARITY_BUDGET_PCT / 100 + 1), -1);
	assert_int_equal(parity_tx_spend(&t, 1000, 1000 * PARITY_BUDGET_PCT / 100), 0);
	/* a long quiet sender: no more than the burst at once */
	assert_int_equal(parity_tx_spend(&t, 1000 + 100 * PARITY_BUDGET_BURST, 0), 0);
	assert_int_equal(t.credit, PARITY_BUDGET_BURST);
	parity_tx_free(&t);
}

static void rx_rebuilds_from_either_side(void **state)
{
	struct parity_rx *rx = parity_rx_new();
	struct parity_stats st = { 0 };
	struct sink s = { .base = 100 };

	(void)state;
	assert_non_null(rx);
	code_group(100);
	/* DATA 0 and 2 came; shard 1 makes 3 of 4: nothing yet */
	parity_rx_keep(rx, 100, data[0], len[0], &st, rebuilt, &s);
	parity_rx_keep(rx, 102, data[2], len[2], &st, rebuilt, &s);
	struct mp_parity p = shard_of(100, 1);
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	parity_rx_add(rx, &p, &st, rebuilt, &s);	/* the same shard again */
	assert_int_equal(s.got[1] + s.got[3], 0);
	/* DATA 3: the fourth shard, 1 is rebuilt */
	parity_rx_keep(rx, 103, data[3], len[3], &st, rebuilt, &s);
	assert_int_equal(s.got[1], 1);
	assert_int_equal(s.got[3], 0);
	/* done: DATA 1 coming late, or shard 0, rebuild nothing again */
	parity_rx_keep(rx, 101, data[1], len[1], &st, rebuilt, &s);
	p = shard_of(100, 0);
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	assert_int_equal(s.got[1], 1);
	assert_int_equal(st.received, 3);
	/* another group: both shards first, then two DATA rebuild the rest */
	struct sink s2 = { .base = 200 };
	code_group(200);
	for (unsigned j = 0; j < M; j++) {
		p = shard_of(200, j);
		parity_rx_add(rx, &p, &st, rebuilt, &s2);
	}
	parity_rx_keep(rx, 201, data[1], len[1], &st, rebuilt, &s2);
	parity_rx_keep(rx, 203, data[3], len[3], &st, rebuilt, &s2);
	assert_int_equal(s2.got[0], 1);
	assert_int_equal(s2.got[2], 1);
	assert_int_equal(s.other + s2.other, 0);
	assert_int_equal(st.undecodable, 0);
	parity_rx_free(rx);
}

/* The ring keeps the last PARITY_RING_SLOTS DATA: one pushed out no longer
 * counts. A group pushed out by newer ones while missing DATA is counted;
 * parity older than every group kept is stale. */
static void rx_forgets_what_is_old(void **state)
{
	struct parity_rx *rx = parity_rx_new();
	struct parity_stats st = { 0 };
	struct sink s = { .base = 1 };
	uint8_t junk[40] = { 0 };

	(void)state;
	code_group(1);
	parity_rx_keep(rx, 1, data[0], len[0], &st, rebuilt, &s);
	parity_rx_keep(rx, 2, data[1], len[1], &st, rebuilt, &s);
	parity_rx_keep(rx, 1 + PARITY_RING_SLOTS, junk, sizeof(junk), &st, rebuilt, &s);
	for (unsigned j = 0; j < M; j++) {
		struct mp_parity p = shard_of(1, j);
		parity_rx_add(rx, &p, &st, rebuilt, &s);
	}
	assert_int_equal(s.got[2] + s.got[3], 0);	/* 3 of 4 held: 1 is gone */
	for (unsigned g = 1; g <= PARITY_GROUPS; g++) {
		struct mp_parity p = shard_of(1000 * g, 0);
		parity_rx_add(rx, &p, &st, rebuilt, &s);
	}
	assert_int_equal(st.undecodable, 1);
	struct mp_parity p = shard_of(500, 0);
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	assert_int_equal(st.stale, 1);
	assert_int_equal(s.other, 0);
	parity_rx_free(rx);
}

/* A DATA longer than the group's shards cannot be of the group the parity
 * says: the group is given up, nothing rebuilt. A shard of another k or m
 * than the group's first is refused. */
static void rx_refuses_what_does_not_fit(void **state)
{
	struct parity_rx *rx = parity_rx_new();
	struct parity_stats st = { 0 };
	struct sink s = { .base = 50 };
	static uint8_t long_one[400];

	(void)state;
	code_group(50);
	parity_rx_keep(rx, 50, long_one, sizeof(long_one), &st, rebuilt, &s);
	parity_rx_keep(rx, 51, data[1], len[1], &st, rebuilt, &s);
	struct mp_parity p = shard_of(50, 0);
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	p = shard_of(50, 1);
	p.m = 3;
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	assert_int_equal(st.bad, 1);
	p = shard_of(50, 1);
	parity_rx_add(rx, &p, &st, rebuilt, &s);
	assert_int_equal(st.undecodable, 1);
	assert_int_equal(s.got[2] + s.got[3] + s.other, 0);
	parity_rx_free(rx);
}

/* Keyed: the copy made before decryption is given back for its own seq
 * only; a packet of another type forgets it. */
static void rx_stash(void **state)
{
	struct parity_rx *rx = parity_rx_new();
	struct mp_hdr h = { .type = MP_T_DATA, .sealed = 1, .session = 1, .epoch = 2, .seq = 77 };
	uint8_t pkt[MP_HDR_LEN + 40];
	size_t n;

	(void)state;
	wire_put_hdr(pkt, &h);
	memset(pkt + MP_HDR_LEN, 0xab, 40);
	parity_rx_stash(rx, pkt, sizeof(pkt));
	const uint8_t *kept = parity_rx_stashed(rx, 77, &n);
	assert_non_null(kept);
	assert_int_equal(n, sizeof(pkt) - 1);
	assert_memory_equal(kept, pkt + 1, n);
	assert_null(parity_rx_stashed(rx, 78, &n));
	h.type = MP_T_ACK;
	wire_put_hdr(pkt, &h);
	parity_rx_stash(rx, pkt, sizeof(pkt));
	assert_null(parity_rx_stashed(rx, 77, &n));
	parity_rx_free(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tx_groups),
		cmocka_unit_test(tx_budget),
		cmocka_unit_test(rx_rebuilds_from_either_side),
		cmocka_unit_test(rx_forgets_what_is_old),
		cmocka_unit_test(rx_refuses_what_does_not_fit),
		cmocka_unit_test(rx_stash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
