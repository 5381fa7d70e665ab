/* Building and checking the Noise handshake's packets. Lengths are exact,
 * reserved bytes must be zero, and the MAC is checked before anything of
 * the message is used. The MACs are HMAC-SHA256 (OpenSSL EVP_MAC) cut to
 * 16 bytes, compared in constant time. */
#include "hsnoise.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "rand.h"

static const char prologue_label[16] = "mprelay v1 noise";	/* no NUL */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void hsn_label_key(const char *label, const uint8_t pub[static NOISE_KEY_LEN],
		   uint8_t out[static NOISE_KEY_LEN])
{
	uint8_t in[64 + NOISE_KEY_LEN];
	size_t n = strlen(label), got = 0;

	/* Labels are this file's callers' constants, all short. Only an
	 * allocation failure inside OpenSSL can fail the digest: then a
	 * random key, that no MAC from anyone matches, never a known one. */
	if (n > 64)
		goto random;
	memcpy(in, label, n);
	memcpy(in + n, pub, NOISE_KEY_LEN);
	if (EVP_Q_digest(NULL, "SHA256", NULL, in, n + NOISE_KEY_LEN, out, &got) &&
	    got == NOISE_KEY_LEN)
		return;
random:
	rand_bytes(out, NOISE_KEY_LEN);
}

void hsn_reset_master(const uint8_t server_pub[static NOISE_KEY_LEN], struct crypto_master *m)
{
	memset(m, 0, sizeof(*m));
	hsn_label_key("mprelay v1 reset", server_pub, m->mac_key);
}

size_t hsn_prologue(uint8_t kind, uint32_t session, uint32_t client_epoch,
		    uint8_t out[static HSN_PROLOGUE_LEN])
{
	memcpy(out, prologue_label, sizeof(prologue_label));
	out[16] = kind;
	put32(out + 17, session);
	put32(out + 21, client_epoch);
	return HSN_PROLOGUE_LEN;
}

void hsn_msg1_payload(uint8_t out[static HSN_MSG1_PAYLOAD_LEN],
		      const uint8_t ts[static NOISE_TIMESTAMP_LEN], uint16_t flags)
{
	memcpy(out, ts, NOISE_TIMESTAMP_LEN);
	out[NOISE_TIMESTAMP_LEN] = (uint8_t)(flags >> 8);
	out[NOISE_TIMESTAMP_LEN + 1] = (uint8_t)flags;
	out[NOISE_TIMESTAMP_LEN + 2] = out[NOISE_TIMESTAMP_LEN + 3] = 0;
}

int hsn_msg1_payload_parse(const uint8_t *p, long len, uint8_t ts[static NOISE_TIMESTAMP_LEN],
			   uint16_t *flags)
{
	if (len != HSN_MSG1_PAYLOAD_LEN || p[NOISE_TIMESTAMP_LEN + 2] ||
	    p[NOISE_TIMESTAMP_LEN + 3])
		return -1;
	memcpy(ts, p, NOISE_TIMESTAMP_LEN);
	*flags = (uint16_t)(p[NOISE_TIMESTAMP_LEN] << 8 | p[NOISE_TIMESTAMP_LEN + 1]);
	/* bits not defined yet must be zero: a later version's flag is not
	 * silently ignored */
	return *flags & ~(HSN_FLAG_REKEY | HSN_FLAG_TUN) ? -1 : 0;
}

void hsn_msg2_payload(uint8_t out[static HSN_MSG2_PAYLOAD_LEN], uint32_t epoch)
{
	put32(out, epoch);
	memset(out + 4, 0, 4);
}

int hsn_msg2_payload_check(const uint8_t *p, long len, uint32_t epoch)
{
	static const uint8_t zero[4];

	return len == HSN_MSG2_PAYLOAD_LEN && get32(p) == epoch && !memcmp(p + 4, zero, 4)
		? 0 : -1;
}

/* HMAC-SHA256(key, data) cut to HSN_MAC_LEN. A flood of initiations costs
 * this per packet, so nothing is looked up per call: the algorithm and its
 * digest are set once in a template context, which each call duplicates
 * (an EVP_Q_mac, or a digest given by name at each init, fetches from the
 * provider every time: most of the cost). */
static void hmac16(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
		   uint8_t out[static HSN_MAC_LEN])
{
	static EVP_MAC_CTX *tmpl;
	EVP_MAC_CTX *ctx = NULL;
	uint8_t full[32];
	size_t got = 0;
	int ok;

	if (!tmpl) {
		static char digest[] = "SHA256";
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
			OSSL_PARAM_construct_end(),
		};
		EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);

		tmpl = alg ? EVP_MAC_CTX_new(alg) : NULL;
		EVP_MAC_free(alg);	/* the context holds its own reference */
		if (tmpl && !EVP_MAC_CTX_set_params(tmpl, params)) {
			EVP_MAC_CTX_free(tmpl);
			tmpl = NULL;
		}
	}
	ctx = tmpl ? EVP_MAC_CTX_dup(tmpl) : NULL;
	ok = ctx && EVP_MAC_init(ctx, key, key_len, NULL) && EVP_MAC_update(ctx, data, len) &&
	     EVP_MAC_final(ctx, full, &got, sizeof(full)) && got == sizeof(full);
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		rand_bytes(full, sizeof(full));	/* matches nothing */
	memcpy(out, full, HSN_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
}

/* The MAC of a message: over buf[1..end), byte 0 (the path) left out. */
static void mac(const uint8_t *key, size_t key_len, const uint8_t *buf, size_t end,
		uint8_t out[static HSN_MAC_LEN])
{
	hmac16(key, key_len, buf + 1, end - 1, out);
}

static int mac_check(const uint8_t *key, size_t key_len, const uint8_t *buf, size_t end)
{
	uint8_t want[HSN_MAC_LEN];

	mac(key, key_len, buf, end, want);
	return CRYPTO_memcmp(want, buf + end, HSN_MAC_LEN) ? -1 : 0;
}

static void put_hdr(uint8_t *buf, const struct mp_hdr *h, enum mp_type type, uint8_t kind)
{
	struct mp_hdr t = *h;

	t.type = (uint8_t)type;
	t.sealed = 1;
	wire_put_hdr(buf, &t);
	buf[MP_HDR_LEN] = kind;
	memset(buf + MP_HDR_LEN + 1, 0, 3);
}

static int zero3(const uint8_t *buf)
{
	return !buf[MP_HDR_LEN + 1] && !buf[MP_HDR_LEN + 2] && !buf[MP_HDR_LEN + 3];
}

size_t hsn_init_build(uint8_t buf[static HSN_INIT_LEN], const struct mp_hdr *h, uint8_t kind,
		      const uint8_t msg1[static HSN_MSG1_LEN],
		      const uint8_t mac1_key[static NOISE_KEY_LEN], const uint8_t *cookie)
{
	put_hdr(buf, h, MP_T_HELLO, kind);
	memcpy(buf + HSN_BODY_OFF, msg1, HSN_MSG1_LEN);
	mac(mac1_key, NOISE_KEY_LEN, buf, HSN_INIT_MAC1_OFF, buf + HSN_INIT_MAC1_OFF);
	if (cookie)
		mac(cookie, HSN_MAC_LEN, buf, HSN_INIT_MAC2_OFF, buf + HSN_INIT_MAC2_OFF);
	else
		memset(buf + HSN_INIT_MAC2_OFF, 0, HSN_MAC_LEN);
	return HSN_INIT_LEN;
}

int hsn_init_check(const uint8_t *buf, size_t len, const uint8_t mac1_key[static NOISE_KEY_LEN],
		   uint8_t *kind)
{
	if (len != HSN_INIT_LEN || !zero3(buf) ||
	    (buf[MP_HDR_LEN] != HSN_KIND_IK && buf[MP_HDR_LEN] != HSN_KIND_IKPSK2) ||
	    mac_check(mac1_key, NOISE_KEY_LEN, buf, HSN_INIT_MAC1_OFF))
		return -1;
	*kind = buf[MP_HDR_LEN];
	return 0;
}

int hsn_init_mac2_check(const uint8_t buf[static HSN_INIT_LEN],
			const uint8_t cookie[static HSN_MAC_LEN])
{
	return mac_check(cookie, HSN_MAC_LEN, buf, HSN_INIT_MAC2_OFF);
}

void hsn_init_set_mac2(uint8_t buf[static HSN_INIT_LEN], const uint8_t cookie[static HSN_MAC_LEN])
{
	mac(cookie, HSN_MAC_LEN, buf, HSN_INIT_MAC2_OFF, buf + HSN_INIT_MAC2_OFF);
}

void hsn_cookie_of(const uint8_t secret[static NOISE_KEY_LEN], const void *addr, size_t len,
		   uint8_t cookie[static HSN_MAC_LEN])
{
	hmac16(secret, NOISE_KEY_LEN, addr, len, cookie);
}

/* AES-256-GCM of the 16-byte cookie, in or out of place; 0 or -1. */
static int cookie_gcm(int enc, const uint8_t key[static NOISE_KEY_LEN],
		      const uint8_t nonce[static HSN_COOKIE_NONCE_LEN],
		      const uint8_t ad[static HSN_MAC_LEN], const uint8_t *in, uint8_t *out,
		      uint8_t tag[static 16])
{
	static EVP_CIPHER *gcm;		/* fetched once, as crypto.c's */
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	if (!gcm)
		gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	ctx = gcm ? EVP_CIPHER_CTX_new() : NULL;
	ok = ctx && EVP_CipherInit_ex2(ctx, gcm, key, nonce, enc, NULL) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1) &&
	     EVP_CipherUpdate(ctx, NULL, &n, ad, HSN_MAC_LEN) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, HSN_MAC_LEN) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + HSN_MAC_LEN, &n) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

size_t hsn_cookie_build(uint8_t buf[static HSN_COOKIE_LEN], const struct mp_hdr *h,
			const uint8_t cookie[static HSN_MAC_LEN],
			const uint8_t cookie_key[static NOISE_KEY_LEN],
			const uint8_t mac1[static HSN_MAC_LEN])
{
	uint8_t *nonce = buf + HSN_BODY_OFF, *sealed = nonce + HSN_COOKIE_NONCE_LEN;

	put_hdr(buf, h, MP_T_RESET, HSN_KIND_COOKIE);
	rand_bytes(nonce, HSN_COOKIE_NONCE_LEN);
	if (cookie_gcm(1, cookie_key, nonce, mac1, cookie, sealed, sealed + HSN_MAC_LEN))
		return 0;
	return HSN_COOKIE_LEN;
}

int hsn_cookie_open(const uint8_t *buf, size_t len, const uint8_t cookie_key[static NOISE_KEY_LEN],
		    const uint8_t mac1[static HSN_MAC_LEN], uint8_t cookie[static HSN_MAC_LEN])
{
	const uint8_t *nonce = buf + HSN_BODY_OFF, *sealed = nonce + HSN_COOKIE_NONCE_LEN;
	uint8_t tag[16], out[HSN_MAC_LEN + 16];

	if (len != HSN_COOKIE_LEN || buf[MP_HDR_LEN] != HSN_KIND_COOKIE || !zero3(buf))
		return -1;
	memcpy(tag, sealed + HSN_MAC_LEN, sizeof(tag));
	if (cookie_gcm(0, cookie_key, nonce, mac1, sealed, out, tag))
		return -1;
	memcpy(cookie, out, HSN_MAC_LEN);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

size_t hsn_resp_build(uint8_t buf[static HSN_RESP_LEN], const struct mp_hdr *h,
		      const uint8_t msg2[static HSN_MSG2_LEN],
		      const uint8_t mac1_key[static NOISE_KEY_LEN])
{
	put_hdr(buf, h, MP_T_WELCOME, HSN_KIND_IK);
	memcpy(buf + HSN_BODY_OFF, msg2, HSN_MSG2_LEN);
	mac(mac1_key, NOISE_KEY_LEN, buf, HSN_RESP_MAC1_OFF, buf + HSN_RESP_MAC1_OFF);
	return HSN_RESP_LEN;
}

int hsn_resp_check(const uint8_t *buf, size_t len, const uint8_t mac1_key[static NOISE_KEY_LEN])
{
	if (len != HSN_RESP_LEN || buf[MP_HDR_LEN] != HSN_KIND_IK || !zero3(buf) ||
	    mac_check(mac1_key, NOISE_KEY_LEN, buf, HSN_RESP_MAC1_OFF))
		return -1;
	return 0;
}
