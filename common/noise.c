/* Noise IK and IKpsk2 over X25519, AES-256-GCM and SHA-256, as the Noise
 * Protocol Framework (revision 34) defines them: its SymmetricState
 * (MixHash, MixKey, MixKeyAndHash, EncryptAndHash, Split) and the two
 * messages of the IK pattern. Owns the handshake's arithmetic only: which
 * keys are allowed, replay, cookies and the wire are the callers'. Every
 * primitive is OpenSSL EVP; nothing is hand-written. */
#include "noise.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "rand.h"
#include "util.h"

/* Where a handshake stands: the next call it takes. 0 is dead (wiped). */
enum step {
	STEP_DEAD = 0,
	STEP_WRITE1,			/* initiator */
	STEP_READ2,
	STEP_READ1_PEER,		/* responder */
	STEP_READ1,
	STEP_WRITE2,
	STEP_SPLIT,			/* both */
};

/* Revision 34, section 5.2: a name of at most HASHLEN bytes is the initial
 * h, zero-padded. Both fit (28 and 32 bytes). */
static const char name_ik[] = "Noise_IK_25519_AESGCM_SHA256";
static const char name_ikpsk2[] = "Noise_IKpsk2_25519_AESGCM_SHA256";

/* ---- primitives (EVP) ----------------------------------------------------- */

/* HMAC-SHA256(key, a || b). HKDF's inputs are one piece (b empty), or an
 * output and its one-byte counter, which are joined in buf. */
static int hmac(const uint8_t key[static NOISE_HASH_LEN], const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen, uint8_t out[static NOISE_HASH_LEN])
{
	uint8_t buf[NOISE_HASH_LEN + 1];
	size_t outlen = 0;
	int ok;

	if (blen && alen + blen > sizeof(buf))
		return -1;
	if (blen) {
		memcpy(buf, a, alen);
		memcpy(buf + alen, b, blen);
		a = buf;
		alen += blen;
	}
	ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, NOISE_HASH_LEN, a, alen,
		       out, NOISE_HASH_LEN, &outlen) && outlen == NOISE_HASH_LEN;
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok ? 0 : -1;
}

/* Section 4.3's HKDF(chaining_key, input_key_material, num_outputs), with
 * 2 or 3 outputs (out3 NULL for 2). */
static int hkdf(const uint8_t ck[static NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
		uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	static const uint8_t one = 1, two = 2, three = 3;
	uint8_t temp[NOISE_HASH_LEN];
	int rc;

	rc = hmac(ck, ikm, ikm_len, NULL, 0, temp) ||
	     hmac(temp, &one, 1, NULL, 0, out1) ||
	     hmac(temp, out1, NOISE_HASH_LEN, &two, 1, out2) ||
	     (out3 && hmac(temp, out2, NOISE_HASH_LEN, &three, 1, out3));
	OPENSSL_cleanse(temp, sizeof(temp));
	return rc ? -1 : 0;
}

/* X25519(priv, pub). A result of all zeros (pub of small order) fails:
 * OpenSSL refuses it too, and it is checked here again whatever it does. */
static int dh(const uint8_t priv[static NOISE_KEY_LEN], const uint8_t pub[static NOISE_KEY_LEN],
	      uint8_t out[static NOISE_KEY_LEN])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, NOISE_KEY_LEN);
	EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, NOISE_KEY_LEN);
	EVP_PKEY_CTX *ctx = a && b ? EVP_PKEY_CTX_new(a, NULL) : NULL;
	size_t len = NOISE_KEY_LEN;
	uint8_t acc = 0;
	int ok;

	ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, b) == 1 &&
	     EVP_PKEY_derive(ctx, out, &len) == 1 && len == NOISE_KEY_LEN;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	for (size_t i = 0; ok && i < NOISE_KEY_LEN; i++)
		acc |= out[i];
	if (ok && acc)
		return 0;
	OPENSSL_cleanse(out, NOISE_KEY_LEN);
	return -1;
}

/* AES-256-GCM, section 12.4's nonce: 32 bits of zeros, then the counter
 * big-endian. Seals (enc) or opens in into out; in and out may be the
 * same; for an open, in holds len bytes of ciphertext and the tag. */
static int gcm(int enc, const uint8_t key[static NOISE_KEY_LEN], uint64_t n,
	       const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[12] = { 0 }, tag[NOISE_TAG_LEN];
	int outl, ok;

	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (56 - 8 * i));
	if (!enc)
		memcpy(tag, in + len, NOISE_TAG_LEN);
	ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, NOISE_TAG_LEN, tag) == 1) &&
	     EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)adlen) == 1 &&
	     (!len || EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + len, &outl) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, NOISE_TAG_LEN,
					  out + len) == 1);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok && !enc)
		OPENSSL_cleanse(out, len);	/* nothing unauthenticated leaks */
	return ok ? 0 : -1;
}

/* ---- SymmetricState (section 5.2) ------------------------------------------ */

static int mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned outl = 0;
	int ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, hs->h, NOISE_HASH_LEN) == 1 &&
	     (!len || EVP_DigestUpdate(md, data, len) == 1) &&
	     EVP_DigestFinal_ex(md, hs->h, &outl) == 1 && outl == NOISE_HASH_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t ck[NOISE_HASH_LEN];
	int rc = hkdf(hs->ck, ikm, len, ck, hs->k, NULL);

	memcpy(hs->ck, ck, sizeof(ck));
	OPENSSL_cleanse(ck, sizeof(ck));
	hs->has_k = 1;
	hs->n = 0;
	return rc;
}

static int mix_key_and_hash(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t ck[NOISE_HASH_LEN], th[NOISE_HASH_LEN];
	int rc = hkdf(hs->ck, ikm, len, ck, th, hs->k);

	memcpy(hs->ck, ck, sizeof(ck));
	rc = rc || mix_hash(hs, th, sizeof(th));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(th, sizeof(th));
	hs->has_k = 1;
	hs->n = 0;
	return rc ? -1 : 0;
}

/* The key is always set where IK encrypts (after es), so there is no
 * plaintext case. Writes len + 16 bytes. */
static int encrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	if (!hs->has_k || gcm(1, hs->k, hs->n, hs->h, NOISE_HASH_LEN, in, len, out))
		return -1;
	hs->n++;
	return mix_hash(hs, out, len + NOISE_TAG_LEN);
}

/* in holds len bytes of ciphertext and the tag; the plaintext (len bytes)
 * goes to out, never overlapping in. */
static int decrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	if (!hs->has_k || gcm(0, hs->k, hs->n, hs->h, NOISE_HASH_LEN, in, len, out))
		return -1;
	hs->n++;
	return mix_hash(hs, in, len + NOISE_TAG_LEN);
}

/* ---- keys ------------------------------------------------------------------ */

int noise_keypair_from_private(struct noise_keypair *kp, const uint8_t priv[static NOISE_KEY_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, NOISE_KEY_LEN);
	size_t len = NOISE_KEY_LEN;
	int ok;

	memmove(kp->priv, priv, NOISE_KEY_LEN);
	ok = k && EVP_PKEY_get_raw_public_key(k, kp->pub, &len) == 1 && len == NOISE_KEY_LEN;
	EVP_PKEY_free(k);
	if (!ok)
		noise_keypair_wipe(kp);
	return ok ? 0 : -1;
}

void noise_keypair_wipe(struct noise_keypair *kp)
{
	OPENSSL_cleanse(kp, sizeof(*kp));
}

/* The points of order 1, 2, 4 and 8 and their encodings as integers of p
 * and above (libsodium's and WireGuard's list), the top bit ignored as
 * X25519 ignores it (RFC 7748, 5). */
static const uint8_t weak_keys[][NOISE_KEY_LEN] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
	  0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

int noise_pubkey_is_weak(const uint8_t pub[static NOISE_KEY_LEN])
{
	uint8_t k[NOISE_KEY_LEN];
	int weak = 0;

	memcpy(k, pub, NOISE_KEY_LEN);
	k[NOISE_KEY_LEN - 1] &= 0x7f;
	for (size_t i = 0; i < ARRAY_LEN(weak_keys); i++)
		weak |= !CRYPTO_memcmp(k, weak_keys[i], NOISE_KEY_LEN);
	return weak;
}

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

int noise_pubkey_parse(const char *text, size_t len, uint8_t pub[static NOISE_KEY_LEN],
		       char *err, size_t err_len)
{
	uint8_t raw[NOISE_KEY_LEN + 1];
	char again[NOISE_PUBKEY_B64_LEN + 1];
	size_t digits = 0;

	/* 43 digits of the alphabet and one '=' (EVP_DecodeBlock alone would
	 * take a stray '=' for a zero digit, and whitespace). */
	while (digits < len && digits < NOISE_PUBKEY_B64_LEN &&
	       memchr(B64_ALPHABET, text[digits], sizeof(B64_ALPHABET) - 1) && text[digits])
		digits++;
	if (len != NOISE_PUBKEY_B64_LEN || digits != NOISE_PUBKEY_B64_LEN - 1 ||
	    text[NOISE_PUBKEY_B64_LEN - 1] != '=')
		return errorf(err, err_len, "a public key is 44 characters of base64 (--pubkey)");
	/* 44 characters decode to 33 bytes, the last the padding's zero; the
	 * canonical text is the one that encodes back the same (the last
	 * digit's two spare bits zero). */
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, NOISE_PUBKEY_B64_LEN) != 33 ||
	    raw[NOISE_KEY_LEN] != 0)
		return errorf(err, err_len, "a public key must be valid base64");
	noise_pubkey_format(raw, again);
	if (memcmp(again, text, NOISE_PUBKEY_B64_LEN))
		return errorf(err, err_len, "a public key must be canonical base64");
	if (noise_pubkey_is_weak(raw))
		return errorf(err, err_len, "a public key of small order (no key agreement with it)");
	memcpy(pub, raw, NOISE_KEY_LEN);
	return 0;
}

void noise_pubkey_format(const uint8_t pub[static NOISE_KEY_LEN],
			 char out[static NOISE_PUBKEY_B64_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, pub, NOISE_KEY_LEN);
	out[NOISE_PUBKEY_B64_LEN] = '\0';
}

int noise_key_equal(const uint8_t a[static NOISE_KEY_LEN], const uint8_t b[static NOISE_KEY_LEN])
{
	return !CRYPTO_memcmp(a, b, NOISE_KEY_LEN);
}

long noise_peer_find(const uint8_t (*keys)[NOISE_KEY_LEN], size_t n,
		     const uint8_t key[static NOISE_KEY_LEN])
{
	long found = -1;

	/* Branch-free selection: mask is all ones on a match. */
	for (size_t i = 0; i < n; i++) {
		long mask = -(long)noise_key_equal(keys[i], key);
		found = (found & ~mask) | ((long)i & mask);
	}
	return found;
}

/* ---- the handshake --------------------------------------------------------- */

void noise_hs_wipe(struct noise_hs *hs)
{
	OPENSSL_cleanse(hs, sizeof(*hs));	/* step 0: dead */
}

/* Any failure in a step: nothing of it may be used again. */
static long die(struct noise_hs *hs)
{
	noise_hs_wipe(hs);
	return -1;
}

static int new_ephemeral(struct noise_hs *hs)
{
	uint8_t priv[NOISE_KEY_LEN];
	int rc;

	if (hs->e_given)
		return 0;
	rand_bytes(priv, sizeof(priv));
	rc = noise_keypair_from_private(&hs->e, priv);
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

static int init(struct noise_hs *hs, int role, const struct noise_keypair *s, int psk_mode,
		const uint8_t rs[static NOISE_KEY_LEN], const uint8_t *prologue, size_t plen)
{
	const char *name = psk_mode ? name_ikpsk2 : name_ik;

	memset(hs, 0, sizeof(*hs));
	if (plen > NOISE_PROLOGUE_MAX || (plen && !prologue))
		return -1;
	memcpy(hs->h, name, strlen(name));
	memcpy(hs->ck, hs->h, NOISE_HASH_LEN);
	hs->role = role;
	hs->psk_mode = psk_mode;
	hs->s = *s;
	/* The pre-message "<- s": the responder's static key, both sides. */
	if (mix_hash(hs, prologue, plen) || mix_hash(hs, rs, NOISE_KEY_LEN))
		return (int)die(hs);
	hs->step = role == NOISE_INITIATOR ? STEP_WRITE1 : STEP_READ1_PEER;
	return 0;
}

int noise_init_initiator(struct noise_hs *hs, const struct noise_keypair *s,
			 const uint8_t rs[static NOISE_KEY_LEN], const uint8_t *psk,
			 const uint8_t *prologue, size_t prologue_len)
{
	if (noise_pubkey_is_weak(rs)) {
		memset(hs, 0, sizeof(*hs));
		return -1;
	}
	if (init(hs, NOISE_INITIATOR, s, psk != NULL, rs, prologue, prologue_len))
		return -1;
	memcpy(hs->rs, rs, NOISE_KEY_LEN);
	if (psk)
		memcpy(hs->psk, psk, NOISE_KEY_LEN);
	return 0;
}

int noise_init_responder(struct noise_hs *hs, const struct noise_keypair *s, int psk_mode,
			 const uint8_t *prologue, size_t prologue_len)
{
	return init(hs, NOISE_RESPONDER, s, !!psk_mode, s->pub, prologue, prologue_len);
}

int noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t priv[static NOISE_KEY_LEN])
{
	if (hs->step != STEP_WRITE1 && hs->step != STEP_READ1_PEER)
		return -1;
	if (noise_keypair_from_private(&hs->e, priv))
		return (int)die(hs);
	hs->e_given = 1;
	return 0;
}

/* The "e" token, sent: e.pub goes out, into h, and (psk modes, section
 * 9.2) into the chaining key. */
static int write_e(struct noise_hs *hs, uint8_t *out)
{
	if (new_ephemeral(hs))
		return -1;
	memcpy(out, hs->e.pub, NOISE_KEY_LEN);
	return mix_hash(hs, hs->e.pub, NOISE_KEY_LEN) ||
	       (hs->psk_mode && mix_key(hs, hs->e.pub, NOISE_KEY_LEN)) ? -1 : 0;
}

static int read_e(struct noise_hs *hs, const uint8_t *in)
{
	memcpy(hs->re, in, NOISE_KEY_LEN);
	return mix_hash(hs, hs->re, NOISE_KEY_LEN) ||
	       (hs->psk_mode && mix_key(hs, hs->re, NOISE_KEY_LEN)) ? -1 : 0;
}

/* A DH token: MixKey(DH(priv, pub)). */
static int mix_dh(struct noise_hs *hs, const uint8_t *priv, const uint8_t *pub)
{
	uint8_t shared[NOISE_KEY_LEN];
	int rc = dh(priv, pub, shared) || mix_key(hs, shared, sizeof(shared));

	OPENSSL_cleanse(shared, sizeof(shared));
	return rc ? -1 : 0;
}

/* The "psk" token of IKpsk2, at the end of message 2 (section 9: "psk2"
 * is placed after the second message's tokens, as WireGuard has it). */
static int mix_psk(struct noise_hs *hs)
{
	int rc = hs->psk_mode ? mix_key_and_hash(hs, hs->psk, NOISE_KEY_LEN) : 0;

	OPENSSL_cleanse(hs->psk, sizeof(hs->psk));
	return rc;
}

long noise_write_msg1(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		      uint8_t *out, size_t cap)
{
	size_t len = NOISE_MSG1_OVERHEAD + plen;
	int bad;

	if (hs->step != STEP_WRITE1 || plen > NOISE_PAYLOAD_MAX || (plen && !payload) ||
	    cap < len)
		return die(hs);
	/* e, es, s, ss, payload */
	bad = write_e(hs, out) || mix_dh(hs, hs->e.priv, hs->rs) ||
	      encrypt_and_hash(hs, hs->s.pub, NOISE_KEY_LEN, out + NOISE_KEY_LEN) ||
	      mix_dh(hs, hs->s.priv, hs->rs) ||
	      encrypt_and_hash(hs, payload, plen, out + 2 * NOISE_KEY_LEN + NOISE_TAG_LEN);
	if (bad) {
		OPENSSL_cleanse(out, len);
		return die(hs);
	}
	hs->step = STEP_READ2;
	return (long)len;
}

int noise_read_msg1_peer(struct noise_hs *hs, const uint8_t *msg, size_t len,
			 uint8_t peer[static NOISE_KEY_LEN])
{
	if (hs->step != STEP_READ1_PEER || !msg || len < NOISE_MSG1_OVERHEAD ||
	    len > NOISE_MSG1_MAX)
		return (int)die(hs);
	/* e, es, s */
	if (read_e(hs, msg) || mix_dh(hs, hs->s.priv, hs->re) ||
	    decrypt_and_hash(hs, msg + NOISE_KEY_LEN, NOISE_KEY_LEN, hs->rs) ||
	    noise_pubkey_is_weak(hs->rs))
		return (int)die(hs);
	memcpy(peer, hs->rs, NOISE_KEY_LEN);
	hs->step = STEP_READ1;
	return 0;
}

long noise_read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len, const uint8_t *psk,
		     uint8_t payload[static NOISE_PAYLOAD_MAX])
{
	size_t plen;

	/* The same bounds as step 1 saw: len is that message's. */
	if (hs->step != STEP_READ1 || !msg || len < NOISE_MSG1_OVERHEAD ||
	    len > NOISE_MSG1_MAX || hs->psk_mode != (psk != NULL))
		return die(hs);
	plen = len - NOISE_MSG1_OVERHEAD;
	/* ss, payload; the psk waits for message 2 */
	if (mix_dh(hs, hs->s.priv, hs->rs) ||
	    decrypt_and_hash(hs, msg + 2 * NOISE_KEY_LEN + NOISE_TAG_LEN, plen, payload))
		return die(hs);
	if (psk)
		memcpy(hs->psk, psk, NOISE_KEY_LEN);
	hs->step = STEP_WRITE2;
	return (long)plen;
}

long noise_write_msg2(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		      uint8_t *out, size_t cap)
{
	size_t len = NOISE_MSG2_OVERHEAD + plen;

	if (hs->step != STEP_WRITE2 || plen > NOISE_PAYLOAD_MAX || (plen && !payload) ||
	    cap < len)
		return die(hs);
	/* e, ee, se (the responder's side of se: DH(e, rs)), [psk], payload */
	if (write_e(hs, out) || mix_dh(hs, hs->e.priv, hs->re) ||
	    mix_dh(hs, hs->e.priv, hs->rs) || mix_psk(hs) ||
	    encrypt_and_hash(hs, payload, plen, out + NOISE_KEY_LEN)) {
		OPENSSL_cleanse(out, len);
		return die(hs);
	}
	hs->step = STEP_SPLIT;
	return (long)len;
}

long noise_read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len,
		     uint8_t payload[static NOISE_PAYLOAD_MAX])
{
	size_t plen;

	if (hs->step != STEP_READ2 || !msg || len < NOISE_MSG2_OVERHEAD || len > NOISE_MSG2_MAX)
		return die(hs);
	plen = len - NOISE_MSG2_OVERHEAD;
	/* e, ee, se (the initiator's side: DH(s, re)), [psk], payload */
	if (read_e(hs, msg) || mix_dh(hs, hs->e.priv, hs->re) ||
	    mix_dh(hs, hs->s.priv, hs->re) || mix_psk(hs) ||
	    decrypt_and_hash(hs, msg + NOISE_KEY_LEN, plen, payload))
		return die(hs);
	hs->step = STEP_SPLIT;
	return (long)plen;
}

int noise_split(struct noise_hs *hs, struct noise_keys *out)
{
	int rc;

	if (hs->step != STEP_SPLIT) {
		OPENSSL_cleanse(out, sizeof(*out));
		return (int)die(hs);
	}
	/* Split(): HKDF(ck, zero-length, 2), the first for the initiator's
	 * sending. */
	rc = hkdf(hs->ck, NULL, 0, out->i2r, out->r2i, NULL);
	memcpy(out->hash, hs->h, NOISE_HASH_LEN);
	noise_hs_wipe(hs);
	if (rc)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

/* ---- replay protection ------------------------------------------------------ */

/* TAI64's label: 2^62 + seconds since 1970 (leap seconds not counted:
 * only order matters, and only to the same initiator). */
#define TAI64_BASE (UINT64_C(1) << 62)

static uint64_t ts_last_s;
static uint32_t ts_last_ns;

void noise_timestamp(uint8_t out[static NOISE_TIMESTAMP_LEN])
{
	struct timespec now;
	uint64_t s;
	uint32_t ns;

	clock_gettime(CLOCK_REALTIME, &now);
	s = TAI64_BASE + (uint64_t)now.tv_sec;
	ns = (uint32_t)now.tv_nsec;
	/* Not later than the last one: one nanosecond after it. */
	if (s < ts_last_s || (s == ts_last_s && ns <= ts_last_ns)) {
		s = ts_last_s;
		ns = ts_last_ns + 1;
		if (ns >= 1000000000u) {
			s++;
			ns = 0;
		}
	}
	ts_last_s = s;
	ts_last_ns = ns;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(s >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

int noise_timestamp_newer(const uint8_t ts[static NOISE_TIMESTAMP_LEN],
			  const uint8_t last[static NOISE_TIMESTAMP_LEN])
{
	uint32_t ns = (uint32_t)ts[8] << 24 | (uint32_t)ts[9] << 16 | (uint32_t)ts[10] << 8 | ts[11];

	/* Big-endian fields: byte order is numeric order. */
	return ns < 1000000000u && memcmp(ts, last, NOISE_TIMESTAMP_LEN) > 0;
}
