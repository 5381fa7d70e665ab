/*
 * Erasure coding of datagram groups (Reed-Solomon over GF(2^8), ISA-L).
 *
 * Contract:
 * - A group is k data datagrams (1 <= k <= FEC_MAX_DATA) and m parity shards
 *   (1 <= m <= FEC_MAX_PARITY). The code is systematic: data datagrams go on
 *   the wire unchanged; only the parity shards are new bytes. Any k of the
 *   k + m shards give back every data datagram, byte-exact, with its length.
 * - Datagrams may differ in length (0..max_len, max_len fixed at init, at most
 *   FEC_DATAGRAM_BYTES_MAX). Each is coded as the shard
 *   [2-byte big-endian length][bytes][zeros], all shards of a group as long
 *   as the longest datagram plus 2 (the group's shard length). A parity
 *   shard is that long. The length is inside the code, so a recovered
 *   datagram comes with its length and no parity message has to carry k
 *   lengths; on the wire it costs 2 bytes per parity shard, nothing on data.
 * - Indices: data 0..k-1 in the order given to fec_enc_add; parity 0..m-1.
 *   Whoever sends a parity shard must also carry the group, k, m and its
 *   index (the wire format is not this module's); data datagrams must be
 *   mapped to (group, index) by the caller (e.g. from sequence numbers).
 * - Memory: each encoder or decoder owns (FEC_MAX_DATA + FEC_MAX_PARITY)
 *   shard buffers of max_len + 2 bytes (rounded up to 64), allocated at
 *   init; nothing is allocated per datagram or per group afterwards.
 * - The decoder checks every input (it comes from the network): index,
 *   length, k, m and consistency with what the group already holds. A shard
 *   that does not fit is refused and changes nothing. Recovery never returns
 *   a datagram whose length prefix or padding is impossible (-EBADMSG).
 *   Corrupted shard contents cannot all be detected (this is an erasure code,
 *   not a checksum): feed only authenticated shards.
 * - Not this module: which datagrams form a group, when to send parity, how
 *   many (the rate), the wire format of a parity message, timeouts.
 */
#ifndef MP_FEC_H
#define MP_FEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

enum {
	FEC_LEN_BYTES = 2,	/* the length prefix of every shard */
	FEC_MAX_SHARDS = FEC_MAX_DATA + FEC_MAX_PARITY,
	/* ISA-L's tables: 32 bytes per coefficient (k x rows) */
	FEC_TABLE_BYTES = 32 * FEC_MAX_DATA * FEC_MAX_PARITY,
};

/* The encoder of one group at a time. Fields are read-only to callers. */
struct fec_enc {
	uint8_t *buf;		/* FEC_MAX_SHARDS shards of stride bytes */
	size_t stride;
	size_t max_len;		/* longest datagram accepted */
	size_t shard_len;	/* of every shard of the group; 0 until sealed */
	unsigned k, m;		/* k is the datagrams added, once sealed */
	unsigned count;		/* datagrams added */
	unsigned table_k, table_m;	/* what tables hold (0: nothing) */
	uint8_t matrix[FEC_MAX_SHARDS * FEC_MAX_DATA];
	uint8_t tables[FEC_TABLE_BYTES];
};

/* 0, -EINVAL (max_len out of range) or -ENOMEM. */
int fec_enc_init(struct fec_enc *enc, size_t max_len);
void fec_enc_free(struct fec_enc *enc);
/* Opens a group for up to k datagrams with m parity shards; forgets the
 * previous one. 0 or -EINVAL. */
int fec_enc_begin(struct fec_enc *enc, unsigned k, unsigned m);
/* Copies a datagram in; its data index, or -EINVAL (too long), -ENOSPC
 * (the group is full or sealed, or none is open). */
int fec_enc_add(struct fec_enc *enc, const uint8_t *data, size_t len);
/* Sets the open, unsealed group's parity shards to m (1..FEC_MAX_PARITY):
 * the rate may be chosen once its datagrams have gone out. 0 or -EINVAL. */
int fec_enc_set_parity(struct fec_enc *enc, unsigned m);
/* Computes the parity over the datagrams added (fewer than k: the group is
 * closed early, k becomes that count). 0, or -EINVAL when none was added or
 * the group is already sealed. */
int fec_enc_seal(struct fec_enc *enc);
/* Parity shard j of the sealed group (shard_len bytes), or NULL. */
const uint8_t *fec_enc_parity(const struct fec_enc *enc, unsigned j, size_t *len);

/* What the decoder did with a shard. */
enum fec_verdict {
	FEC_ACCEPTED,
	FEC_DUPLICATE,		/* that index is already held: ignored */
	FEC_FOREIGN,		/* another group than the one started */
	FEC_INVALID,		/* malformed: index, length, k or m out of range */
	FEC_CONFLICT,		/* disagrees with the group's k, m or shard length */
};

/* The decoder of one group at a time. Fields are read-only to callers. */
struct fec_dec {
	uint8_t *buf;		/* data 0..FEC_MAX_DATA-1, then parity */
	size_t stride;
	size_t max_len;
	uint64_t group;
	bool started;
	unsigned k, m;		/* 0 until a parity shard says */
	size_t shard_len;	/* 0 until a parity shard says */
	uint32_t have;		/* bit i: data i; bit FEC_MAX_DATA + j: parity j */
	uint32_t recovered;	/* data shards the last recovery produced */
	uint16_t len[FEC_MAX_DATA];
	unsigned table_k, table_m;	/* what matrix holds (0: nothing) */
	uint8_t matrix[FEC_MAX_SHARDS * FEC_MAX_DATA];
	uint8_t sub[FEC_MAX_PARITY * FEC_MAX_PARITY];
	uint8_t inv[FEC_MAX_PARITY * FEC_MAX_PARITY];
	uint8_t rows[FEC_MAX_PARITY * FEC_MAX_DATA];
	uint8_t tables[FEC_TABLE_BYTES];
};

int fec_dec_init(struct fec_dec *dec, size_t max_len);
void fec_dec_free(struct fec_dec *dec);
/* Forgets everything and waits for the shards of this group. */
void fec_dec_start(struct fec_dec *dec, uint64_t group);
/* Data datagram `index` of the group (k may not be known yet: index below
 * FEC_MAX_DATA, and below k once it is). */
enum fec_verdict fec_dec_add_data(struct fec_dec *dec, uint64_t group, unsigned index,
				  const uint8_t *data, size_t len);
/* Parity shard `index` (< m) of a group of k data and m parity shards. */
enum fec_verdict fec_dec_add_parity(struct fec_dec *dec, uint64_t group, unsigned k,
				    unsigned m, unsigned index, const uint8_t *shard,
				    size_t len);
/* A data datagram is missing and k shards are held. */
bool fec_dec_can_recover(const struct fec_dec *dec);
/* Rebuilds every missing data datagram: how many (0: none was missing;
 * their bits in dec->recovered), -EAGAIN (fewer than k shards, or k not
 * known), -EBADMSG (a rebuilt shard is impossible: corrupted input; nothing
 * is marked held). */
int fec_dec_recover(struct fec_dec *dec);
/* Data datagram `index`, received or recovered, or NULL. */
const uint8_t *fec_dec_data(const struct fec_dec *dec, unsigned index, size_t *len);

#endif
