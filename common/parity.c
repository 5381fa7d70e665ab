/* Parity bookkeeping (parity.h): the sender's groups and rate, the
 * receiver's ring of sealed DATA and its groups' parity. */
#include "parity.h"

#include <stdlib.h>
#include <string.h>

/* ---- the sender -------------------------------------------------------- */

/* P(more than m of n shards lost), each lost with probability p. */
static double tail(unsigned n, unsigned m, double p)
{
	double term = 1, sum = 0;	/* term: C(n, i) p^i (1-p)^(n-i) */

	for (unsigned i = 0; i < n; i++)
		term *= 1 - p;
	for (unsigned i = 0; i <= m && i <= n; i++) {
		sum += term;
		term = term * (n - i) / (i + 1) * p / (1 - p);
	}
	return sum < 1 ? 1 - sum : 0;
}

unsigned parity_rate(unsigned k, uint32_t loss_ppm)
{
	unsigned most = k * PARITY_SHARE_MAX_PCT / 100;

	if (!k || loss_ppm < PARITY_LOSS_MIN_PPM)
		return 0;
	if (loss_ppm > 900000)
		loss_ppm = 900000;
	if (most < 1)
		most = 1;
	if (most > FEC_MAX_PARITY)
		most = FEC_MAX_PARITY;
	for (unsigned m = 1; m < most; m++)
		if (tail(k + m, m, loss_ppm / 1e6) * 1e6 <= PARITY_RESIDUAL_PPM)
			return m;
	return most;
}

int parity_tx_open(struct parity_tx *t, uint64_t seq, uint64_t now_us)
{
	if (!t->ready) {
		if (fec_enc_init(&t->enc, MP_PARITY_DATAGRAM_MAX))
			return -1;
		t->ready = 1;
		t->credit = PARITY_BUDGET_BURST;	/* the first losses come early */
	}
	/* m is chosen when the group closes, from the paths it went on; the
	 * coder is told the most until then */
	fec_enc_begin(&t->enc, FEC_MAX_DATA, FEC_MAX_PARITY);
	t->base = seq;
	t->opened_us = now_us;
	memset(t->on, 0, sizeof(t->on));
	return 0;
}

unsigned parity_tx_count(const struct parity_tx *t)
{
	return t->base ? t->enc.count : 0;
}

int parity_tx_add(struct parity_tx *t, uint64_t seq, uint32_t mask, const uint8_t *pkt,
		  size_t len)
{
	if (!t->base || seq != t->base + t->enc.count || len < 1 ||
	    fec_enc_add(&t->enc, pkt + 1, len - 1) < 0)
		return -1;
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		t->on[p] += mask >> p & 1;
	return t->enc.count == FEC_MAX_DATA;
}

int parity_tx_seal(struct parity_tx *t, unsigned m)
{
	if (!t->base || fec_enc_set_parity(&t->enc, m))
		return -1;
	t->base = 0;
	return fec_enc_seal(&t->enc) ? -1 : 0;
}

void parity_tx_drop(struct parity_tx *t)
{
	t->base = 0;
}

int parity_tx_spend(struct parity_tx *t, uint64_t sent_bytes, size_t len)
{
	uint64_t earned = (sent_bytes - t->credited_sent) * PARITY_BUDGET_PCT / 100;

	t->credited_sent = sent_bytes;
	t->credit = t->credit + earned > PARITY_BUDGET_BURST ? PARITY_BUDGET_BURST
							     : t->credit + earned;
	if (t->credit < len)
		return -1;
	t->credit -= len;
	return 0;
}

void parity_tx_free(struct parity_tx *t)
{
	if (t->ready)
		fec_enc_free(&t->enc);
	t->ready = 0;
	t->base = 0;
}

/* ---- the receiver ------------------------------------------------------ */

struct ring_slot {
	uint64_t seq;			/* 0: empty */
	uint16_t len;
	uint8_t bytes[MP_PARITY_DATAGRAM_MAX];
};

struct group {
	uint64_t base;			/* 0: free */
	uint8_t k, m;
	uint8_t done;			/* rebuilt, complete, or given up */
	uint8_t have;			/* parity shards held (bit j) */
	uint16_t shard_len;
	uint8_t shard[FEC_MAX_PARITY][MP_PARITY_SHARD_MAX];
};

struct parity_rx {
	struct ring_slot ring[PARITY_RING_SLOTS];
	struct group group[PARITY_GROUPS];
	struct fec_dec dec;
	/* keyed mode: the DATA being decrypted, as it came */
	uint64_t stash_seq;
	uint16_t stash_len;
	uint8_t stash[MP_PARITY_DATAGRAM_MAX];
};

struct parity_rx *parity_rx_new(void)
{
	struct parity_rx *rx = calloc(1, sizeof(*rx));

	if (rx && fec_dec_init(&rx->dec, MP_PARITY_DATAGRAM_MAX)) {
		free(rx);
		return NULL;
	}
	return rx;
}

void parity_rx_free(struct parity_rx *rx)
{
	if (!rx)
		return;
	fec_dec_free(&rx->dec);
	free(rx);
}

void parity_rx_reset(struct parity_rx *rx)
{
	for (unsigned i = 0; i < PARITY_RING_SLOTS; i++)
		rx->ring[i].seq = 0;
	for (unsigned g = 0; g < PARITY_GROUPS; g++)
		rx->group[g].base = 0;
	rx->stash_seq = 0;
}

static uint64_t header_seq(const uint8_t *pkt)
{
	uint64_t v = 0;

	for (int i = 10; i < MP_HDR_LEN; i++)
		v = v << 8 | pkt[i];
	return v;
}

void parity_rx_stash(struct parity_rx *rx, const uint8_t *pkt, size_t len)
{
	rx->stash_seq = 0;
	if (len < MP_HDR_LEN || len - 1 > MP_PARITY_DATAGRAM_MAX ||
	    (pkt[1] & MP_VTS_TYPE) != MP_T_DATA)
		return;
	rx->stash_seq = header_seq(pkt);
	rx->stash_len = (uint16_t)(len - 1);
	memcpy(rx->stash, pkt + 1, len - 1);
}

const uint8_t *parity_rx_stashed(const struct parity_rx *rx, uint64_t seq, size_t *len)
{
	if (!seq || rx->stash_seq != seq)
		return NULL;
	*len = rx->stash_len;
	return rx->stash;
}

static const struct ring_slot *kept(const struct parity_rx *rx, uint64_t seq)
{
	const struct ring_slot *s = &rx->ring[seq % PARITY_RING_SLOTS];

	return s->seq == seq ? s : NULL;
}

static unsigned data_held(const struct parity_rx *rx, const struct group *g)
{
	unsigned n = 0;

	for (unsigned i = 0; i < g->k; i++)
		n += kept(rx, g->base + i) != NULL;
	return n;
}

/* Rebuilds what group g misses, if it holds enough. */
static void try_decode(struct parity_rx *rx, struct group *g, struct parity_stats *st,
		       parity_rebuilt_fn *fn, void *ctx)
{
	struct fec_dec *dec = &rx->dec;
	unsigned data = data_held(rx, g);

	if (g->done || data + (unsigned)__builtin_popcount(g->have) < g->k)
		return;
	if (data == g->k) {
		g->done = 1;		/* nothing missing */
		return;
	}
	fec_dec_start(dec, g->base);
	for (unsigned j = 0; j < g->m; j++)
		if (g->have >> j & 1)
			fec_dec_add_parity(dec, g->base, g->k, g->m, j, g->shard[j], g->shard_len);
	for (unsigned i = 0; i < g->k; i++) {
		const struct ring_slot *s = kept(rx, g->base + i);
		/* a DATA longer than the group's shards is not of this group as
		 * the parity says: the parity lies or is not ours */
		if (s && fec_dec_add_data(dec, g->base, i, s->bytes, s->len) != FEC_ACCEPTED) {
			g->done = 1;
			st->undecodable++;
			return;
		}
	}
	g->done = 1;
	int n = fec_dec_recover(dec);
	if (n < 0) {
		st->undecodable++;
		return;
	}
	for (unsigned i = 0; i < g->k; i++) {
		size_t len;
		const uint8_t *bytes = fec_dec_data(dec, i, &len);
		if (dec->recovered >> i & 1 && bytes)
			fn(ctx, g->base + i, bytes, len);
	}
}

void parity_rx_keep(struct parity_rx *rx, uint64_t seq, const uint8_t *bytes, size_t len,
		    struct parity_stats *st, parity_rebuilt_fn *fn, void *ctx)
{
	struct ring_slot *s = &rx->ring[seq % PARITY_RING_SLOTS];

	if (len > MP_PARITY_DATAGRAM_MAX || s->seq == seq)
		return;
	s->seq = seq;
	s->len = (uint16_t)len;
	memcpy(s->bytes, bytes, len);
	for (unsigned i = 0; i < PARITY_GROUPS; i++) {
		struct group *g = &rx->group[i];
		if (g->base && !g->done && seq >= g->base && seq < g->base + g->k)
			try_decode(rx, g, st, fn, ctx);
	}
}

/* The group of p: the one it names, else a free one, else the oldest
 * (given up: counted if it missed DATA); NULL if p is older than all. */
static struct group *group_for(struct parity_rx *rx, const struct mp_parity *p,
			       struct parity_stats *st)
{
	struct group *oldest = NULL;

	for (unsigned i = 0; i < PARITY_GROUPS; i++) {
		struct group *g = &rx->group[i];
		if (g->base == p->base)
			return g;
		if (!oldest || (oldest->base && (!g->base || g->base < oldest->base)))
			oldest = g;
	}
	if (oldest->base) {
		if (p->base < oldest->base) {
			st->stale++;
			return NULL;
		}
		if (!oldest->done && data_held(rx, oldest) < oldest->k)
			st->undecodable++;
	}
	memset(oldest, 0, offsetof(struct group, shard));
	oldest->base = p->base;
	oldest->k = (uint8_t)p->k;
	oldest->m = (uint8_t)p->m;
	oldest->shard_len = (uint16_t)p->shard_len;
	return oldest;
}

void parity_rx_add(struct parity_rx *rx, const struct mp_parity *p,
		   struct parity_stats *st, parity_rebuilt_fn *fn, void *ctx)
{
	struct group *g = group_for(rx, p, st);

	if (!g)
		return;
	if (g->k != p->k || g->m != p->m || g->shard_len != p->shard_len) {
		st->bad++;		/* disagrees with the group's first shard */
		return;
	}
	st->received++;
	if (g->have >> p->index & 1)
		return;
	memcpy(g->shard[p->index], p->shard, p->shard_len);
	g->have |= (uint8_t)(1u << p->index);
	try_decode(rx, g, st, fn, ctx);
}
