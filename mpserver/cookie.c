/* mpserver's defence against a flood of initiations in per-client mode
 * (docs/PROTOCOL.md, "Per-client keys", step 2), as WireGuard's cookies:
 * while the HELLO bucket is empty, an initiation without a valid mac2 gets
 * a cookie reply (one HMAC, one AES-GCM, nothing stored) instead of any DH,
 * and one with a valid mac2 -- its sender has shown it receives at its
 * source address -- goes on, within a bucket per source address. The
 * cookie is HMAC(secret, source IP | port), the secret random, replaced
 * every COOKIE_SECRET_S (the previous one still checks). Fixed memory:
 * COOKIE_BUCKETS buckets in struct server. */
#include <string.h>

#include <openssl/crypto.h>

#include "hsnoise.h"
#include "internal.h"
#include "rand.h"

/* The source as bytes: IPv4 address and port (6), or IPv6 (18). */
static size_t addr_bytes(const struct mp_addr *a, uint8_t out[static 18])
{
	if (a->u.sa.sa_family == AF_INET) {
		memcpy(out, &a->u.in.sin_addr, 4);
		memcpy(out + 4, &a->u.in.sin_port, 2);
		return 6;
	}
	memcpy(out, &a->u.in6.sin6_addr, 16);
	memcpy(out + 16, &a->u.in6.sin6_port, 2);
	return 18;
}

void cookie_init(struct server *srv)
{
	struct cookies *k = &srv->cookies;

	rand_bytes(k->secret, sizeof(k->secret));
	k->secret_ms = srv->e.now_ms;
	k->has_prev = 0;
	hsn_label_key("mprelay v1 cookie", srv->o.ident->pub, k->key);
}

static void rotate(struct server *srv)
{
	struct cookies *k = &srv->cookies;

	if (srv->e.now_ms - k->secret_ms < (uint64_t)COOKIE_SECRET_S * 1000)
		return;
	memcpy(k->prev, k->secret, sizeof(k->prev));
	k->prev_ms = k->secret_ms;
	k->has_prev = 1;
	rand_bytes(k->secret, sizeof(k->secret));
	k->secret_ms = srv->e.now_ms;
}

/* 1 if the initiation's mac2 is the cookie of its source under the
 * current or the previous secret; that cookie into cookie. A secret
 * checks for two periods from when it was made, never longer: the
 * secret turns over only under load, so after a quiet hour the one
 * before would otherwise still take cookies of an hour ago. */
static int mac2_valid(const struct cookies *k, uint64_t now_ms, const uint8_t *pkt,
		      const uint8_t *src, size_t n, uint8_t cookie[static HSN_MAC_LEN])
{
	static const uint8_t none[HSN_MAC_LEN];

	if (!memcmp(pkt + HSN_INIT_MAC2_OFF, none, HSN_MAC_LEN))
		return 0;		/* no cookie: not worth two HMACs */
	hsn_cookie_of(k->secret, src, n, cookie);
	if (!hsn_init_mac2_check(pkt, cookie))
		return 1;
	if (!k->has_prev || now_ms - k->prev_ms >= 2 * (uint64_t)COOKIE_SECRET_S * 1000)
		return 0;
	hsn_cookie_of(k->prev, src, n, cookie);
	return !hsn_init_mac2_check(pkt, cookie);
}

int cookie_admit(struct server *srv, const uint8_t *pkt, const struct mp_hdr *h,
		 const struct mp_addr *from)
{
	struct cookies *k = &srv->cookies;
	uint8_t src[18], cookie[HSN_MAC_LEN], reply[HSN_COOKIE_LEN];
	size_t n = addr_bytes(from, src);

	rotate(srv);
	if (mac2_valid(k, srv->e.now_ms, pkt, src, n, cookie)) {
		/* the bucket of this source: picked by its cookie (keyed) */
		struct cookie_bucket *b = &k->bucket[(cookie[0] | cookie[1] << 8) % COOKIE_BUCKETS];

		if (b->len != n || memcmp(b->src, src, n)) {
			memcpy(b->src, src, n);
			b->len = (uint8_t)n;
			ratelimit_init(&b->rl, COOKIE_SOURCE_PER_S, COOKIE_SOURCE_BURST,
				       srv->e.now_ms);
		}
		if (ratelimit_allow(&b->rl, srv->e.now_ms))
			return 1;
		srv->e.drops.n[DROP_RATE_LIMITED]++;
		return 0;
	}
	/* no (valid) cookie: the reply gives it, nothing is kept */
	srv->e.drops.n[DROP_RATE_LIMITED]++;
	hsn_cookie_of(k->secret, src, n, cookie);
	struct mp_hdr rh = { .path = h->path, .session = h->session, .epoch = h->epoch,
			     .seq = h->seq };
	if (hsn_cookie_build(reply, &rh, cookie, k->key, pkt + HSN_INIT_MAC1_OFF) &&
	    sendto(srv->fd, reply, sizeof(reply), MSG_DONTWAIT, &from->u.sa, from->len) ==
		    (ssize_t)sizeof(reply))
		srv->hs.cookies_sent++;
	else
		srv->e.drops.n[DROP_SEND_FAIL]++;
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return 0;
}

void cookie_wipe(struct server *srv)
{
	OPENSSL_cleanse(&srv->cookies, sizeof(srv->cookies));
}
