/* Keys and cryptography (OpenSSL libcrypto): the key file, the handshake MAC,
 * the per-session key schedule, and AES-256-GCM sealing of packets in place.
 * The protocol that uses them is docs/PROTOCOL.md; the reasoning is
 * docs/SECURITY.md. Key material is wiped when it is freed. */
#ifndef MP_CRYPTO_H
#define MP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum {
	CRYPTO_KEY_LEN = 32,		/* AES-256, and the master key */
	CRYPTO_KEY_B64_LEN = 44,	/* base64 of 32 bytes, with one '=' */
	CRYPTO_RANDOM_LEN = 16,		/* each side's handshake random */
	CRYPTO_MAC_LEN = 16,		/* HMAC-SHA256, truncated */
	CRYPTO_NONCE_LEN = 12,
	CRYPTO_ERR_MAX = 200,
};

/* Reads a key file: base64 of 32 bytes and an optional newline, nothing
 * else, in a regular file that only its owner may read (or, for a systemd
 * credential directly in $CREDENTIALS_DIRECTORY, the one user an ACL
 * names: the group read bit). */
int crypto_key_load(const char *path, uint8_t key[static CRYPTO_KEY_LEN],
		    char err[static CRYPTO_ERR_MAX]);
/* The same strict text (and nothing else) read from fd to its end, for a
 * key that comes on a pipe (--pubkey -); name is what errors call it. */
int crypto_key_read(int fd, const char *name, uint8_t key[static CRYPTO_KEY_LEN],
		    char err[static CRYPTO_ERR_MAX]);
/* Writes a new random key to path (created, mode 0600, never overwritten),
 * or to standard output if path is "-". */
int crypto_key_generate(const char *path, char err[static CRYPTO_ERR_MAX]);

/* What the master key gives: the handshake MAC key (and the master key
 * itself, for the session key schedule). */
struct crypto_master {
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t mac_key[CRYPTO_KEY_LEN];
};

int crypto_master_init(struct crypto_master *m, const uint8_t key[static CRYPTO_KEY_LEN]);
void crypto_master_wipe(struct crypto_master *m);

/* HMAC-SHA256(mac_key, data) truncated to CRYPTO_MAC_LEN. */
void crypto_mac(const struct crypto_master *m, const uint8_t *data, size_t len,
		uint8_t out[static CRYPTO_MAC_LEN]);
/* Constant-time check of a MAC computed as above; 0 if it matches. */
int crypto_mac_check(const struct crypto_master *m, const uint8_t *data, size_t len,
		     const uint8_t mac[static CRYPTO_MAC_LEN]);

/* The two direction keys of one session, from the master key and both
 * sides' randoms (HKDF-SHA256); ids bind them to the session. */
struct session_keys {
	uint8_t c2s[CRYPTO_KEY_LEN];
	uint8_t s2c[CRYPTO_KEY_LEN];
};

int crypto_session_keys(const struct crypto_master *m,
			const uint8_t client_random[static CRYPTO_RANDOM_LEN],
			const uint8_t server_random[static CRYPTO_RANDOM_LEN],
			uint32_t session, uint32_t client_epoch, uint32_t server_epoch,
			struct session_keys *out);

/* One direction's AES-256-GCM context, keyed once. */
struct aead {
	void *ctx;			/* EVP_CIPHER_CTX */
};

int aead_init(struct aead *a, const uint8_t key[static CRYPTO_KEY_LEN], int encrypt);
void aead_free(struct aead *a);
/* Encrypts the payload buf[MP_HDR_LEN..+plen) in place and appends the tag;
 * the header (bytes 1..15) is authenticated, byte 0 (path) is not. The
 * nonce is the header's epoch and sequence number. Returns the packet
 * length, or 0 on an internal error. */
size_t aead_seal(struct aead *a, uint8_t *buf, size_t plen);
/* Checks and decrypts a sealed packet of len bytes in place. Returns 0, or
 * -1 if it does not authenticate (nothing else is then to be believed). */
int aead_open(struct aead *a, uint8_t *buf, size_t len);

#endif
