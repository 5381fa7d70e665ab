/*
 * Reed-Solomon erasure coding of datagram groups: the contract is in fec.h.
 * Owns the shard buffers and the coding tables of one encoder or decoder;
 * the Galois-field arithmetic is ISA-L's (SIMD, used by Ceph). Does not know
 * about sessions, paths, the wire format or time.
 *
 * The matrix is ISA-L's Cauchy one: identity over the block 1/(i ^ j), i the
 * parity row k..k+m-1, j the data column. Every square sub-block of a Cauchy
 * block is itself Cauchy, hence invertible: any k shards decode, for any k
 * and m here (test_fec tries them all), which the Vandermonde matrix
 * (gf_gen_rs_matrix) does not promise for every (k, m).
 *
 * Cost per group of 1,400-byte datagrams (test_fec's timing, -O2, thread
 * CPU time on the shared 2-CPU AVX-512 VM, three runs): k = 8, m = 2:
 * encode 1.7-2.5 us (copy in, padding, parity), decode with 2 lost 3.1-4.5 us
 * (copy in, rebuild); k = 16, m = 4: 4.5-5.5 us and 8.4-9.8 us. The coding
 * tables take 0.23 us when (k, m) changes (encoder; else cached) and 0.36 us
 * (k = 8, 2 lost) to 2.4 us (k = 16, 4 lost) per rebuild (decoder).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "fec.h"

_Static_assert(FEC_MAX_SHARDS <= 32, "shard masks are 32 bits");
_Static_assert(FEC_DATAGRAM_BYTES_MAX <= 0xffff - FEC_LEN_BYTES,
	       "a length prefix is 2 bytes");

enum { SHARD_ALIGN = 64 };	/* a cache line, and what AVX-512 loads like */

static uint8_t *alloc_shards(size_t max_len, size_t *stride)
{
	*stride = (max_len + FEC_LEN_BYTES + SHARD_ALIGN - 1) / SHARD_ALIGN * SHARD_ALIGN;
	return aligned_alloc(SHARD_ALIGN, FEC_MAX_SHARDS * *stride);
}

static void put_len(uint8_t *shard, size_t len)
{
	shard[0] = (uint8_t)(len >> 8);
	shard[1] = (uint8_t)len;
}

static size_t get_len(const uint8_t *shard)
{
	return (size_t)shard[0] << 8 | shard[1];
}

static uint32_t data_mask(unsigned k)
{
	return (uint32_t)((UINT64_C(1) << k) - 1);
}

static bool k_m_valid(unsigned k, unsigned m)
{
	return k >= 1 && k <= FEC_MAX_DATA && m >= 1 && m <= FEC_MAX_PARITY;
}

/* ---- encoder ----------------------------------------------------------- */

int fec_enc_init(struct fec_enc *enc, size_t max_len)
{
	memset(enc, 0, sizeof(*enc));
	if (max_len > FEC_DATAGRAM_BYTES_MAX)
		return -EINVAL;
	enc->max_len = max_len;
	enc->buf = alloc_shards(max_len, &enc->stride);
	return enc->buf ? 0 : -ENOMEM;
}

void fec_enc_free(struct fec_enc *enc)
{
	free(enc->buf);
	enc->buf = NULL;
}

int fec_enc_begin(struct fec_enc *enc, unsigned k, unsigned m)
{
	if (!k_m_valid(k, m))
		return -EINVAL;
	enc->k = k;
	enc->m = m;
	enc->count = 0;
	enc->shard_len = 0;
	return 0;
}

int fec_enc_add(struct fec_enc *enc, const uint8_t *data, size_t len)
{
	if (enc->k == 0 || enc->shard_len || enc->count >= enc->k)
		return -ENOSPC;
	if (len > enc->max_len)
		return -EINVAL;
	uint8_t *shard = enc->buf + enc->count * enc->stride;
	put_len(shard, len);
	if (len)
		memcpy(shard + FEC_LEN_BYTES, data, len);
	return (int)enc->count++;
}

int fec_enc_set_parity(struct fec_enc *enc, unsigned m)
{
	if (enc->k == 0 || enc->shard_len || !k_m_valid(enc->k, m))
		return -EINVAL;
	enc->m = m;
	return 0;
}

/* Parity rows of the Cauchy matrix and their tables, for the last (k, m)
 * asked: 0.07 us for the matrix and 0.16 us for the tables (k = 8, m = 2),
 * nothing while the rate holds. */
static void enc_tables(struct fec_enc *enc)
{
	if (enc->table_k == enc->k && enc->table_m == enc->m)
		return;
	gf_gen_cauchy1_matrix(enc->matrix, (int)(enc->k + enc->m), (int)enc->k);
	ec_init_tables((int)enc->k, (int)enc->m, enc->matrix + enc->k * enc->k, enc->tables);
	enc->table_k = enc->k;
	enc->table_m = enc->m;
}

int fec_enc_seal(struct fec_enc *enc)
{
	uint8_t *src[FEC_MAX_DATA], *dst[FEC_MAX_PARITY];
	size_t longest = 0;

	if (enc->count == 0 || enc->shard_len)
		return -EINVAL;
	enc->k = enc->count;
	for (unsigned i = 0; i < enc->k; i++) {
		size_t len = get_len(enc->buf + i * enc->stride);
		if (len > longest)
			longest = len;
	}
	enc->shard_len = longest + FEC_LEN_BYTES;
	for (unsigned i = 0; i < enc->k; i++) {
		src[i] = enc->buf + i * enc->stride;
		size_t used = get_len(src[i]) + FEC_LEN_BYTES;
		memset(src[i] + used, 0, enc->shard_len - used);
	}
	for (unsigned j = 0; j < enc->m; j++)
		dst[j] = enc->buf + (FEC_MAX_DATA + j) * enc->stride;
	enc_tables(enc);
	ec_encode_data((int)enc->shard_len, (int)enc->k, (int)enc->m, enc->tables, src, dst);
	return 0;
}

const uint8_t *fec_enc_parity(const struct fec_enc *enc, unsigned j, size_t *len)
{
	if (!enc->shard_len || j >= enc->m)
		return NULL;
	*len = enc->shard_len;
	return enc->buf + (FEC_MAX_DATA + j) * enc->stride;
}

/* ---- decoder ----------------------------------------------------------- */

int fec_dec_init(struct fec_dec *dec, size_t max_len)
{
	memset(dec, 0, sizeof(*dec));
	if (max_len > FEC_DATAGRAM_BYTES_MAX)
		return -EINVAL;
	dec->max_len = max_len;
	dec->buf = alloc_shards(max_len, &dec->stride);
	return dec->buf ? 0 : -ENOMEM;
}

void fec_dec_free(struct fec_dec *dec)
{
	free(dec->buf);
	dec->buf = NULL;
}

void fec_dec_start(struct fec_dec *dec, uint64_t group)
{
	dec->group = group;
	dec->started = true;
	dec->k = dec->m = 0;
	dec->shard_len = 0;
	dec->have = dec->recovered = 0;
}

static uint8_t *slot(const struct fec_dec *dec, unsigned i)
{
	return dec->buf + i * dec->stride;
}

enum fec_verdict fec_dec_add_data(struct fec_dec *dec, uint64_t group, unsigned index,
				  const uint8_t *data, size_t len)
{
	if (!dec->started || group != dec->group)
		return FEC_FOREIGN;
	if (index >= FEC_MAX_DATA || len > dec->max_len)
		return FEC_INVALID;
	if (dec->have & UINT32_C(1) << index)
		return FEC_DUPLICATE;
	if ((dec->k && index >= dec->k) ||
	    (dec->shard_len && len + FEC_LEN_BYTES > dec->shard_len))
		return FEC_CONFLICT;
	uint8_t *shard = slot(dec, index);
	put_len(shard, len);
	if (len)
		memcpy(shard + FEC_LEN_BYTES, data, len);
	dec->len[index] = (uint16_t)len;
	dec->have |= UINT32_C(1) << index;
	return FEC_ACCEPTED;
}

/* The first parity shard fixes k, m and the shard length: data already held
 * must fit them. */
static bool parity_fits(const struct fec_dec *dec, unsigned k, size_t len)
{
	uint32_t data = dec->have & data_mask(FEC_MAX_DATA);

	if (data & ~data_mask(k))
		return false;
	for (unsigned i = 0; i < k; i++)
		if ((data & UINT32_C(1) << i) && (size_t)dec->len[i] + FEC_LEN_BYTES > len)
			return false;
	return true;
}

enum fec_verdict fec_dec_add_parity(struct fec_dec *dec, uint64_t group, unsigned k,
				    unsigned m, unsigned index, const uint8_t *shard,
				    size_t len)
{
	if (!dec->started || group != dec->group)
		return FEC_FOREIGN;
	if (!k_m_valid(k, m) || index >= m || len < FEC_LEN_BYTES ||
	    len > dec->max_len + FEC_LEN_BYTES)
		return FEC_INVALID;
	if (dec->k) {
		if (k != dec->k || m != dec->m || len != dec->shard_len)
			return FEC_CONFLICT;
	} else if (!parity_fits(dec, k, len)) {
		return FEC_CONFLICT;
	}
	if (dec->have & UINT32_C(1) << (FEC_MAX_DATA + index))
		return FEC_DUPLICATE;
	dec->k = k;
	dec->m = m;
	dec->shard_len = len;
	memcpy(slot(dec, FEC_MAX_DATA + index), shard, len);
	dec->have |= UINT32_C(1) << (FEC_MAX_DATA + index);
	return FEC_ACCEPTED;
}

static unsigned popcount(uint32_t x)
{
	return (unsigned)__builtin_popcount(x);
}

bool fec_dec_can_recover(const struct fec_dec *dec)
{
	if (!dec->k)
		return false;
	uint32_t data = dec->have & data_mask(dec->k);
	return data != data_mask(dec->k) && popcount(dec->have) >= dec->k;
}

/* A rebuilt shard must say a length that fits and be zero past it, as the
 * encoder made it: anything else came from corrupted input. */
static bool shard_sane(const struct fec_dec *dec, const uint8_t *shard)
{
	size_t len = get_len(shard);

	if (len > dec->max_len || len + FEC_LEN_BYTES > dec->shard_len)
		return false;
	for (size_t i = len + FEC_LEN_BYTES; i < dec->shard_len; i++)
		if (shard[i])
			return false;
	return true;
}

/* The decode rows for the e lost data shards, over the sources: the held
 * data shards, then the first e held parity shards. Parity row c says
 * p_c = sum_i C[c][i] d_i; moving the held d_i over leaves A d_lost = p_c +
 * sum_held C[c][i] d_i, with A the e x e block of C on the lost columns (a
 * Cauchy block: always invertible). So only A is inverted (e <= m <= 4),
 * not the k x k sub-matrix of the textbook decode (ISA-L's
 * erasure_code_test.c): gf_invert_matrix took 5 us for k = 8 and 35 us
 * for k = 16 here, A's inversion well under 1 us. */
static int dec_tables(struct fec_dec *dec, uint8_t **src, uint32_t missing)
{
	unsigned k = dec->k, n = 0, e = 0, lost[FEC_MAX_PARITY], par[FEC_MAX_PARITY];

	if (dec->table_k != k || dec->table_m != dec->m) {
		gf_gen_cauchy1_matrix(dec->matrix, (int)(k + dec->m), (int)k);
		dec->table_k = k;
		dec->table_m = dec->m;
	}
	for (unsigned i = 0; i < k; i++) {
		if (missing & UINT32_C(1) << i)
			lost[e++] = i;
		else
			src[n++] = slot(dec, i);
	}
	for (unsigned j = 0, c = 0; j < dec->m && c < e; j++)
		if (dec->have & UINT32_C(1) << (FEC_MAX_DATA + j)) {
			par[c++] = j;
			src[n++] = slot(dec, FEC_MAX_DATA + j);
		}
	const uint8_t *cauchy = dec->matrix + k * k;	/* parity rows */
	for (unsigned r = 0; r < e; r++)
		for (unsigned c = 0; c < e; c++)
			dec->sub[r * e + c] = cauchy[par[r] * k + lost[c]];
	if (gf_invert_matrix(dec->sub, dec->inv, (int)e))
		return -EBADMSG;	/* cannot happen with a Cauchy matrix */
	for (unsigned r = 0; r < e; r++) {
		uint8_t *row = dec->rows + r * k;
		unsigned s = 0;
		for (unsigned i = 0; i < k; i++) {
			if (missing & UINT32_C(1) << i)
				continue;
			uint8_t v = 0;
			for (unsigned c = 0; c < e; c++)
				v ^= gf_mul(dec->inv[r * e + c], cauchy[par[c] * k + i]);
			row[s++] = v;
		}
		for (unsigned c = 0; c < e; c++)
			row[s++] = dec->inv[r * e + c];
	}
	ec_init_tables((int)k, (int)e, dec->rows, dec->tables);
	return (int)e;
}

int fec_dec_recover(struct fec_dec *dec)
{
	uint8_t *src[FEC_MAX_DATA], *dst[FEC_MAX_PARITY];
	unsigned k = dec->k, r = 0;

	dec->recovered = 0;
	if (!k)
		return -EAGAIN;
	uint32_t missing = ~dec->have & data_mask(k);
	if (!missing)
		return 0;
	if (popcount(dec->have) < k)
		return -EAGAIN;
	/* held data shards become whole shards: zeros past their length */
	for (unsigned i = 0; i < k; i++)
		if (dec->have & UINT32_C(1) << i) {
			size_t used = dec->len[i] + FEC_LEN_BYTES;
			memset(slot(dec, i) + used, 0, dec->shard_len - used);
		}
	int rows = dec_tables(dec, src, missing);
	if (rows < 0)
		return rows;
	for (unsigned i = 0; i < k; i++)
		if (missing & UINT32_C(1) << i)
			dst[r++] = slot(dec, i);
	ec_encode_data((int)dec->shard_len, (int)k, rows, dec->tables, src, dst);
	for (unsigned i = 0; i < r; i++)
		if (!shard_sane(dec, dst[i]))
			return -EBADMSG;
	for (unsigned i = 0; i < k; i++)
		if (missing & UINT32_C(1) << i)
			dec->len[i] = (uint16_t)get_len(slot(dec, i));
	dec->have |= missing;
	dec->recovered = missing;
	return (int)r;
}

const uint8_t *fec_dec_data(const struct fec_dec *dec, unsigned index, size_t *len)
{
	if (index >= FEC_MAX_DATA || !(dec->have & UINT32_C(1) << index))
		return NULL;
	*len = dec->len[index];
	return slot(dec, index) + FEC_LEN_BYTES;
}
