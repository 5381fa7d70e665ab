/* The Noise IK handshake (Noise Protocol Framework, revision 34):
 * Noise_IK_25519_AESGCM_SHA256, or Noise_IKpsk2_25519_AESGCM_SHA256 when a
 * 32-byte pre-shared key is added as a second factor. Two messages:
 *
 *   <- s                               (the initiator knows the responder's key)
 *   ...
 *   -> e, es, s, ss, [psk], payload    message 1: 96 + payload bytes
 *   <- e, ee, se, payload              message 2: 48 + payload bytes
 *
 * then a split into one transport key per direction and the handshake hash
 * (channel binding). The responder reads message 1 in two steps so that it
 * can look the initiator's static key up among the allowed ones, and drop
 * an unknown one, before the second Diffie-Hellman (noise_read_msg1_peer,
 * noise_peer_find, noise_read_msg1). No allocation but OpenSSL's EVP
 * objects, freed before each call returns; every secret is wiped on
 * noise_hs_wipe, on noise_split and on every error (after which the state
 * is dead: each later call fails). The wire messages around it are
 * hsnoise.c; docs/PROTOCOL.md, "Per-client keys (Noise IK)". */
#ifndef MP_NOISE_H
#define MP_NOISE_H

#include <stddef.h>
#include <stdint.h>

enum noise_limits {
	NOISE_KEY_LEN = 32,		/* X25519 keys, AES-256 keys, SHA-256 */
	NOISE_HASH_LEN = 32,		/* SHA-256 */
	NOISE_TAG_LEN = 16,		/* AES-GCM */
	NOISE_PUBKEY_B64_LEN = 44,	/* base64 of 32 bytes, one '=' */
	/* Caller bytes in one message: a 12-byte timestamp and a few fields
	 * of the session (mode, capabilities, ids) with room to spare, while
	 * message 1 stays far below any path MTU (96 + 64 = 160 bytes). */
	NOISE_PAYLOAD_MAX = 64,
	/* What the prologue binds (protocol name, session id, epochs). */
	NOISE_PROLOGUE_MAX = 64,
	/* e (32) + encrypted s (32 + 16) + the payload's tag (16) */
	NOISE_MSG1_OVERHEAD = NOISE_KEY_LEN + NOISE_KEY_LEN + 2 * NOISE_TAG_LEN,
	/* e (32) + the payload's tag (16) */
	NOISE_MSG2_OVERHEAD = NOISE_KEY_LEN + NOISE_TAG_LEN,
	NOISE_MSG1_MAX = NOISE_MSG1_OVERHEAD + NOISE_PAYLOAD_MAX,	/* 160 */
	NOISE_MSG2_MAX = NOISE_MSG2_OVERHEAD + NOISE_PAYLOAD_MAX,	/* 112 */
	/* TAI64N: 8 bytes of seconds (2^62 + Unix seconds), 4 of nanoseconds,
	 * both big-endian, so that a byte-wise compare orders them. */
	NOISE_TIMESTAMP_LEN = 12,
};

enum noise_role { NOISE_INITIATOR = 1, NOISE_RESPONDER = 2 };

struct noise_keypair {
	uint8_t priv[NOISE_KEY_LEN];
	uint8_t pub[NOISE_KEY_LEN];
};

/* One handshake in progress. Opaque in use: only noise.c reads it. It is a
 * plain struct so that it lives where its session does, with no
 * allocation. */
struct noise_hs {
	int role;			/* enum noise_role */
	int step;			/* what comes next (noise.c), 0 = dead */
	int psk_mode;			/* IKpsk2 */
	int e_given;			/* noise_hs_set_ephemeral (tests) */
	uint64_t n;			/* the CipherState's nonce */
	int has_k;
	uint8_t k[NOISE_KEY_LEN];	/* the CipherState's key */
	uint8_t ck[NOISE_HASH_LEN];	/* chaining key */
	uint8_t h[NOISE_HASH_LEN];	/* handshake hash */
	struct noise_keypair s, e;	/* ours: static and ephemeral */
	uint8_t rs[NOISE_KEY_LEN];	/* theirs: static */
	uint8_t re[NOISE_KEY_LEN];	/* theirs: ephemeral */
	uint8_t psk[NOISE_KEY_LEN];	/* until mixed in (message 2) */
};

/* What a completed handshake gives: the two transport keys (a Noise
 * CipherState each, nonce from 0) and the handshake hash. */
struct noise_keys {
	uint8_t i2r[NOISE_KEY_LEN];	/* initiator -> responder */
	uint8_t r2i[NOISE_KEY_LEN];	/* responder -> initiator */
	uint8_t hash[NOISE_HASH_LEN];
};

/* ---- keys ------------------------------------------------------------------ */

/* The public key of a private key (any 32 bytes: X25519 clamps). 0 or -1. */
int noise_keypair_from_private(struct noise_keypair *kp,
			       const uint8_t priv[static NOISE_KEY_LEN]);
void noise_keypair_wipe(struct noise_keypair *kp);
/* A public key of the small subgroup (or zero, or p, ...): any DH with it
 * gives zero whatever the other key. 1 if so. Constant time. */
int noise_pubkey_is_weak(const uint8_t pub[static NOISE_KEY_LEN]);
/* Parses a base64 public key strictly: len exactly 44, the canonical
 * encoding of 32 bytes (last digit's unused bits zero, one '='), and not
 * weak. 0, or -1 with the reason in err (CRYPTO_ERR_MAX bytes). */
int noise_pubkey_parse(const char *text, size_t len, uint8_t pub[static NOISE_KEY_LEN],
		       char *err, size_t err_len);
/* The 44 characters of pub's base64 and a NUL. */
void noise_pubkey_format(const uint8_t pub[static NOISE_KEY_LEN],
			 char out[static NOISE_PUBKEY_B64_LEN + 1]);
/* Equality of two keys in constant time: 1 if equal. */
int noise_key_equal(const uint8_t a[static NOISE_KEY_LEN], const uint8_t b[static NOISE_KEY_LEN]);
/* The index of key among n keys, or -1: every entry is compared, in
 * constant time, whatever matches (no early exit that would tell how far
 * down the list a key is). */
long noise_peer_find(const uint8_t (*keys)[NOISE_KEY_LEN], size_t n,
		     const uint8_t key[static NOISE_KEY_LEN]);

/* ---- the handshake --------------------------------------------------------- */

/* The initiator: its static pair, the responder's static public key, a
 * pre-shared key or NULL (then plain IK), the prologue (both sides must
 * give the same bytes, or message 1 fails). 0, or -1 (hs then dead). */
int noise_init_initiator(struct noise_hs *hs, const struct noise_keypair *s,
			 const uint8_t rs[static NOISE_KEY_LEN], const uint8_t *psk,
			 const uint8_t *prologue, size_t prologue_len);
/* The responder: its static pair; psk_mode says IKpsk2 (the key itself is
 * given to noise_read_msg1, once the initiator is known). */
int noise_init_responder(struct noise_hs *hs, const struct noise_keypair *s, int psk_mode,
			 const uint8_t *prologue, size_t prologue_len);
/* Tests and known-answer vectors only: the ephemeral key the next
 * noise_write_msg* uses instead of a random one. */
int noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t priv[static NOISE_KEY_LEN]);
void noise_hs_wipe(struct noise_hs *hs);

/* Initiator: message 1 with payload (0..NOISE_PAYLOAD_MAX bytes) into out
 * (cap bytes, at least NOISE_MSG1_OVERHEAD + plen). Returns its length, or
 * -1. */
long noise_write_msg1(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		      uint8_t *out, size_t cap);
/* Responder, step 1 of message 1: e, es and s. Writes the initiator's
 * static public key to peer; the caller looks it up (noise_peer_find)
 * and, if unknown, calls noise_hs_wipe and drops the message: up to here
 * the work is one DH and one AES-GCM open whatever the key, and nothing
 * is sent either way. 0, or -1 (not a message 1 for us: hs dead). */
int noise_read_msg1_peer(struct noise_hs *hs, const uint8_t *msg, size_t len,
			 uint8_t peer[static NOISE_KEY_LEN]);
/* Responder, step 2, the same msg and len: ss and the payload into
 * payload (NOISE_PAYLOAD_MAX bytes); psk (exactly when psk_mode: that
 * initiator's) is kept for message 2. Returns the payload's length, or -1
 * (hs dead). */
long noise_read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len, const uint8_t *psk,
		     uint8_t payload[static NOISE_PAYLOAD_MAX]);
/* Responder: message 2, as noise_write_msg1. */
long noise_write_msg2(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		      uint8_t *out, size_t cap);
/* Initiator: reads message 2, the payload into payload. Its length or -1. */
long noise_read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len,
		     uint8_t payload[static NOISE_PAYLOAD_MAX]);
/* Either side, once both messages are through: the transport keys and the
 * handshake hash; hs is wiped. 0 or -1. */
int noise_split(struct noise_hs *hs, struct noise_keys *out);

/* ---- replay protection of message 1 ----------------------------------------- */

/* A TAI64N timestamp from CLOCK_REALTIME, strictly greater than the last
 * one this process made (a clock stepped back, or two calls in one
 * nanosecond, still give increasing values). Not thread-safe. */
void noise_timestamp(uint8_t out[static NOISE_TIMESTAMP_LEN]);
/* 1 if ts is well formed (nanoseconds < 10^9) and later than last (the
 * last accepted from that initiator; all zeros for none), else 0. */
int noise_timestamp_newer(const uint8_t ts[static NOISE_TIMESTAMP_LEN],
			  const uint8_t last[static NOISE_TIMESTAMP_LEN]);

#endif
