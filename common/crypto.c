/* OpenSSL EVP glue: key files, HMAC, HKDF and AES-256-GCM. Nothing here
 * keeps state between packets beyond the keyed cipher contexts, and no
 * function allocates per packet. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rand.h"
#include "util.h"

/* All errors of this file go through here: err is CRYPTO_ERR_MAX long. */
#define fail(err, ...) errorf(err, CRYPTO_ERR_MAX, __VA_ARGS__)

/* ---- key files ------------------------------------------------------------ */

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* Mode bits a key file may have beyond the owner's. A systemd credential
 * (LoadCredential=) is a read-only copy that only the service's user can
 * read; where its file system has ACLs, systemd grants that with an ACL
 * entry, which stat shows as the group read bit (the ACL's mask). So that
 * bit is allowed for a file directly in $CREDENTIALS_DIRECTORY, and only
 * there. */
static mode_t key_mode_allowed(const char *path)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	size_t n = dir ? strlen(dir) : 0;

	if (n && dir[0] == '/' && !strncmp(path, dir, n) && path[n] == '/' &&
	    path[n + 1] && !strchr(path + n + 1, '/'))
		return S_IRGRP;
	return 0;
}

int crypto_key_read(int fd, const char *name, uint8_t key[static CRYPTO_KEY_LEN],
		    char err[static CRYPTO_ERR_MAX])
{
	unsigned char text[CRYPTO_KEY_B64_LEN + 3], raw[36];
	size_t n = 0;
	ssize_t got;
	int rc = -1;

	/* To the end (a pipe may come in pieces), or one byte more than a key
	 * and its newline, which is already too long. */
	while (n < sizeof(text) && (got = read(fd, text + n, sizeof(text) - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fail(err, "cannot read %s: %s", name, strerror(errno));
			goto out;
		}
		n += (size_t)got;
	}
	if (n > 0 && text[n - 1] == '\n')
		n--;
	/* 43 characters of the alphabet and one '=': EVP_DecodeBlock alone
	 * would take a stray '=' for a zero digit. */
	if (n != CRYPTO_KEY_B64_LEN || text[CRYPTO_KEY_B64_LEN - 1] != '=' ||
	    strspn((const char *)text, B64_ALPHABET) != CRYPTO_KEY_B64_LEN - 1) {
		fail(err, "%s: expected 44 characters of base64 (use --genkey)", name);
		goto out;
	}
	/* EVP_DecodeBlock pads the output: 44 chars decode to 33 bytes, the
	 * last being the padding's zero. */
	if (EVP_DecodeBlock(raw, text, CRYPTO_KEY_B64_LEN) != 33 || raw[32] != 0) {
		fail(err, "%s: not valid base64", name);
		goto out;
	}
	memcpy(key, raw, CRYPTO_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int crypto_key_load(const char *path, uint8_t key[static CRYPTO_KEY_LEN],
		    char err[static CRYPTO_ERR_MAX])
{
	char name[CRYPTO_ERR_MAX];
	struct stat st;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO at the path must not hang us before the check. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP
			? fail(err, "key file %s is a symbolic link: give the file itself", path)
			: fail(err, "cannot open key file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fail(err, "key file %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077 & ~key_mode_allowed(path)) {
		fail(err, "key file %s can be read by others (mode %04o): chmod 600 it",
		     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	snprintf(name, sizeof(name), "key file %s", path);
	rc = crypto_key_read(fd, name, key, err);
out:
	close(fd);
	return rc;
}

int crypto_key_generate(const char *path, char err[static CRYPTO_ERR_MAX])
{
	uint8_t key[CRYPTO_KEY_LEN];
	unsigned char text[CRYPTO_KEY_B64_LEN + 2];
	int to_stdout = !strcmp(path, "-");
	int fd, rc = 0;

	/* "-": standard output, as `wg genkey`, for `mpclient --genkey - | ssh ...`. */
	fd = to_stdout ? STDOUT_FILENO
		       : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == EEXIST ? fail(err, "%s exists: not overwriting a key", path)
				       : fail(err, "cannot create %s: %s", path, strerror(errno));
	rand_bytes(key, sizeof(key));
	EVP_EncodeBlock(text, key, sizeof(key));
	text[CRYPTO_KEY_B64_LEN] = '\n';
	/* A pipe or a terminal cannot be fsynced; a file must reach the disk. */
	if (write(fd, text, CRYPTO_KEY_B64_LEN + 1) != CRYPTO_KEY_B64_LEN + 1 ||
	    (!to_stdout && fsync(fd))) {
		rc = fail(err, "cannot write %s: %s", to_stdout ? "the key to standard output" : path,
			  strerror(errno));
		if (!to_stdout)
			unlink(path);
	}
	if (!to_stdout)
		close(fd);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* ---- HKDF and HMAC -------------------------------------------------------- */

static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		size_t salt_len, const uint8_t *info, size_t info_len,
		uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int rc;

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(uintptr_t)ikm, ikm_len);
	/* No salt means RFC 5869's default (zeros): OpenSSL wants it absent. */
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)(uintptr_t)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)(uintptr_t)info, info_len);
	*p = OSSL_PARAM_construct_end();
	rc = ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int crypto_master_init(struct crypto_master *m, const uint8_t key[static CRYPTO_KEY_LEN])
{
	static const char info[] = "mprelay v1 handshake mac";

	memcpy(m->key, key, CRYPTO_KEY_LEN);
	return hkdf(key, CRYPTO_KEY_LEN, NULL, 0, (const uint8_t *)info,
		    sizeof(info) - 1, m->mac_key, sizeof(m->mac_key));
}

void crypto_master_wipe(struct crypto_master *m)
{
	OPENSSL_cleanse(m, sizeof(*m));
}

void crypto_mac(const struct crypto_master *m, const uint8_t *data, size_t len,
		uint8_t out[static CRYPTO_MAC_LEN])
{
	uint8_t full[32];
	size_t full_len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, m->mac_key,
		       sizeof(m->mac_key), data, len, full, sizeof(full), &full_len))
		memset(full, 0, sizeof(full));	/* fails closed: never matches */
	memcpy(out, full, CRYPTO_MAC_LEN);
}

int crypto_mac_check(const struct crypto_master *m, const uint8_t *data, size_t len,
		     const uint8_t mac[static CRYPTO_MAC_LEN])
{
	uint8_t want[CRYPTO_MAC_LEN];
	static const uint8_t zero[CRYPTO_MAC_LEN];

	crypto_mac(m, data, len, want);
	return CRYPTO_memcmp(want, mac, CRYPTO_MAC_LEN) || !CRYPTO_memcmp(want, zero, CRYPTO_MAC_LEN)
		       ? -1 : 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int crypto_session_keys(const struct crypto_master *m,
			const uint8_t client_random[static CRYPTO_RANDOM_LEN],
			const uint8_t server_random[static CRYPTO_RANDOM_LEN],
			uint32_t session, uint32_t client_epoch, uint32_t server_epoch,
			struct session_keys *out)
{
	static const char label[] = "mprelay v1 session keys";
	uint8_t salt[2 * CRYPTO_RANDOM_LEN];
	uint8_t info[sizeof(label) - 1 + 12];
	uint8_t both[2 * CRYPTO_KEY_LEN];
	int rc;

	memcpy(salt, client_random, CRYPTO_RANDOM_LEN);
	memcpy(salt + CRYPTO_RANDOM_LEN, server_random, CRYPTO_RANDOM_LEN);
	memcpy(info, label, sizeof(label) - 1);
	put32(info + sizeof(label) - 1, session);
	put32(info + sizeof(label) + 3, client_epoch);
	put32(info + sizeof(label) + 7, server_epoch);
	rc = hkdf(m->key, CRYPTO_KEY_LEN, salt, sizeof(salt), info, sizeof(info),
		  both, sizeof(both));
	memcpy(out->c2s, both, CRYPTO_KEY_LEN);
	memcpy(out->s2c, both + CRYPTO_KEY_LEN, CRYPTO_KEY_LEN);
	OPENSSL_cleanse(both, sizeof(both));
	return rc;
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

/* The cipher is fetched once, explicitly: a context made from the legacy
 * EVP_aes_256_gcm() pays for an implicit fetch on every re-init, and the
 * legacy ctrl calls for the tag are translated into OSSL_PARAMs each time.
 * Measured here, the explicit path halves the fixed cost per packet. */
static EVP_CIPHER *gcm_cipher(void)
{
	static EVP_CIPHER *cipher;

	if (!cipher)
		cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	return cipher;
}

/* The nonce goes in as OpenSSL's "TLS fixed IV" with the length (size_t)-1,
 * which its GCM provider documents in the code as "restores whole IV": one
 * set_params instead of a re-init, which in 3.0 also asks the provider for
 * the IV length every time (~60 ns of OSSL_PARAM lookups per packet), and
 * on the open side the tag rides along in the same call. aead_init checks
 * once that the provider takes it; if not, every packet re-inits. */
static int iv_param_works = -1;		/* unknown until the first aead_init */

static OSSL_PARAM iv_param(uint8_t nonce[static CRYPTO_NONCE_LEN])
{
	return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
						 nonce, (size_t)-1);
}

static int probe_iv_param(EVP_CIPHER_CTX *ctx)
{
	uint8_t nonce[CRYPTO_NONCE_LEN] = { 0 };
	OSSL_PARAM params[] = { iv_param(nonce), OSSL_PARAM_construct_end() };

	return EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

int aead_init(struct aead *a, const uint8_t key[static CRYPTO_KEY_LEN], int encrypt)
{
	EVP_CIPHER *cipher = gcm_cipher();
	EVP_CIPHER_CTX *ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;

	a->ctx = ctx;
	if (!ctx || EVP_CipherInit_ex2(ctx, cipher, key, NULL, encrypt, NULL) != 1) {
		aead_free(a);
		return -1;
	}
	if (iv_param_works < 0)
		iv_param_works = probe_iv_param(ctx);
	return 0;
}

void aead_free(struct aead *a)
{
	EVP_CIPHER_CTX_free(a->ctx);	/* wipes the key schedule */
	a->ctx = NULL;
}

/* Nonce = epoch (4) || 0 || space (1) || sequence (6), from header bytes
 * 6..15; space is 0 for DATA and 1 for PROBE/ACK, which are numbered in
 * a sequence of their own. A key belongs to one session direction and one
 * handshake, and neither sequence repeats under it: no nonce is ever used
 * twice. */
static void nonce_of(const uint8_t *hdr, uint8_t nonce[static CRYPTO_NONCE_LEN])
{
	memcpy(nonce, hdr + 6, 4);
	nonce[4] = 0;
	nonce[5] = (hdr[1] & MP_VTS_TYPE) != MP_T_DATA;
	memcpy(nonce + 6, hdr + 10, 6);
}

/* Starts a message under nonce; with tag (open side), also the tag that
 * Final will check. */
static int start(EVP_CIPHER_CTX *ctx, uint8_t nonce[static CRYPTO_NONCE_LEN], uint8_t *tag)
{
	OSSL_PARAM params[3], *p = params;

	if (iv_param_works > 0)
		*p++ = iv_param(nonce);
	else if (EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, -1, NULL) != 1)
		return 0;
	if (tag)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
							 tag, MP_TAG_LEN);
	*p = OSSL_PARAM_construct_end();
	return p == params || EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

static int get_tag(EVP_CIPHER_CTX *ctx, uint8_t *tag)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, MP_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	return EVP_CIPHER_CTX_get_params(ctx, params);
}

size_t aead_seal(struct aead *a, uint8_t *buf, size_t plen)
{
	EVP_CIPHER_CTX *ctx = a->ctx;
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t *p = buf + MP_HDR_LEN;
	int n;

	nonce_of(buf, nonce);
	if (start(ctx, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, buf + 1, MP_HDR_LEN - 1) != 1 ||
	    (plen && EVP_EncryptUpdate(ctx, p, &n, p, (int)plen) != 1) ||
	    EVP_EncryptFinal_ex(ctx, p + plen, &n) != 1 ||
	    get_tag(ctx, p + plen) != 1)
		return 0;
	return MP_HDR_LEN + plen + MP_TAG_LEN;
}

int aead_open(struct aead *a, uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *ctx = a->ctx;
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t *p = buf + MP_HDR_LEN;
	size_t plen;
	int n;

	if (len < MP_HDR_LEN + MP_TAG_LEN)
		return -1;
	plen = len - MP_HDR_LEN - MP_TAG_LEN;
	nonce_of(buf, nonce);
	if (start(ctx, nonce, p + plen) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, buf + 1, MP_HDR_LEN - 1) != 1 ||
	    (plen && EVP_DecryptUpdate(ctx, p, &n, p, (int)plen) != 1) ||
	    EVP_DecryptFinal_ex(ctx, p + plen, &n) != 1)
		return -1;
	return 0;
}
