/* mpclient's half of the per-client (Noise IK) handshake: builds the
 * initiation (a new ephemeral key and timestamp each attempt, the same
 * bytes on every path) and reads the response into the session's two
 * AES-256-GCM keys (noise_split: i2r seals, r2i opens). keying.c owns the
 * session's keying state, retries and hold; this file only the messages. */
#include <string.h>

#include <openssl/crypto.h>

#include "hsnoise.h"
#include "internal.h"
#include "log.h"

static uint8_t kind_of(const struct client *c)
{
	return c->o.psk ? HSN_KIND_IKPSK2 : HSN_KIND_IK;
}

/* The attempt's initiation on path p, with that path's cookie as mac2
 * while it is fresh. */
static void send_init(struct client *c, struct session *s, unsigned p)
{
	struct path *path = &c->paths[p];
	uint8_t pkt[HSN_INIT_LEN];

	memcpy(pkt, s->init_pkt, sizeof(pkt));
	if (path->has_cookie && c->e.now_ms - path->cookie_ms < (uint64_t)COOKIE_KEEP_S * 1000)
		hsn_init_set_mac2(pkt, path->cookie);
	send_link(&path->link, (uint8_t)p, pkt, sizeof(pkt));
}

/* A fresh attempt: each one is a new initiation, newer than the last, so
 * that a server which saw a later one of ours (another session's, or
 * this one's from a path that was faster) still takes it. */
void noisekeys_send(struct client *c, struct session *s)
{
	uint8_t prologue[HSN_PROLOGUE_LEN], ts[NOISE_TIMESTAMP_LEN];
	uint8_t payload[HSN_MSG1_PAYLOAD_LEN], msg1[HSN_MSG1_LEN];
	struct mp_hdr h = { .session = s->f.id, .epoch = s->f.tx.epoch, .seq = ++s->hellos };
	uint8_t kind = kind_of(c);

	/* Only this attempt's response completes it: the server keeps the
	 * keys of the latest initiation it accepted, so the response to an
	 * earlier one (a round trip longer than the retry) has keys the
	 * server may no longer hold. The attempt before stays known for a
	 * late cookie reply, answered with this one. */
	noise_hs_wipe(&s->hs);
	memcpy(s->prev_mac1, s->init_pkt + HSN_INIT_MAC1_OFF, HSN_MAC_LEN);
	s->prev_seq = s->hellos - 1;
	hsn_prologue(kind, s->f.id, s->f.tx.epoch, prologue);
	noise_timestamp(ts);
	hsn_msg1_payload(payload, ts, (uint16_t)((c->tun.fd >= 0 ? HSN_FLAG_TUN : 0) |
						 (s->rekeying ? HSN_FLAG_REKEY : 0)));
	if (noise_init_initiator(&s->hs, c->o.ident, c->o.server_pub, c->o.psk, prologue,
				 sizeof(prologue)) ||
	    noise_write_msg1(&s->hs, payload, sizeof(payload), msg1, sizeof(msg1)) !=
		    HSN_MSG1_LEN) {
		log_warnx("session %08x: cannot build a handshake initiation", s->f.id);
		noise_hs_wipe(&s->hs);
		return;
	}
	hsn_init_build(s->init_pkt, &h, kind, msg1, c->mac1_server, NULL);
	for (unsigned p = 0; p < c->npaths; p++)
		if (c->paths[p].open)
			send_init(c, s, p);
	s->hello_sent_ms = c->e.now_ms;
}

int noisekeys_rekey_due(const struct client *c, const struct session *s)
{
	return c->e.now_ms - s->keys_ms >= c->rekey_after_ms ||
	       s->f.tx.next - s->f.keys_tx_base >= REKEY_AFTER_PACKETS ||
	       s->f.ctl_tx.next - s->f.keys_ctl_base >= REKEY_AFTER_PACKETS;
}

int noisekeys_cookie(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		     const struct mp_hdr *h)
{
	struct path *path;

	const uint8_t *mac1 = h->seq == s->hellos ? s->init_pkt + HSN_INIT_MAC1_OFF
			      : s->prev_seq && h->seq == s->prev_seq ? s->prev_mac1 : NULL;

	/* for the attempt under way or the one before (its epoch, its seq,
	 * its mac1: a busy server answers late), on an open path */
	if ((s->keying != KEYS_WAIT && !s->rekeying) || h->epoch != s->f.tx.epoch || !mac1 ||
	    h->path >= c->npaths || !c->paths[h->path].open)
		return -1;
	path = &c->paths[h->path];
	if (hsn_cookie_open(pkt, len, c->cookie_key, mac1, path->cookie))
		return -1;
	path->has_cookie = 1;
	path->cookie_ms = c->e.now_ms;
	s->cookies++;
	send_init(c, s, h->path);	/* at once, now with mac2: the current attempt */
	return 0;
}

#ifdef MP_TEST_HOOKS
/* TEST BUILDS ONLY (the sanitized build/asan programs; never a release
 * build): with MPRELAY_TEST_KEYLOG=FILE, each session's transport keys are
 * appended to FILE, as "session client-epoch server-epoch i2r r2i" in hex,
 * so that an integration test can prove what a key opens and what it does
 * not (test_clientkeys.py). */
#include <stdio.h>
#include <stdlib.h>

static void keylog(const struct session *s, uint32_t server_epoch, const struct noise_keys *k)
{
	const char *path = getenv("MPRELAY_TEST_KEYLOG");
	FILE *f = path ? fopen(path, "a") : NULL;

	if (!f)
		return;
	fprintf(f, "%08x %08x %08x ", s->f.id, s->f.tx.epoch, server_epoch);
	for (int i = 0; i < NOISE_KEY_LEN; i++)
		fprintf(f, "%02x", k->i2r[i]);
	fputc(' ', f);
	for (int i = 0; i < NOISE_KEY_LEN; i++)
		fprintf(f, "%02x", k->r2i[i]);
	fputc('\n', f);
	fclose(f);
}
#else
#define keylog(s, epoch, k) ((void)0)
#endif

int noisekeys_welcome(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		      const struct mp_hdr *h)
{
	uint8_t payload[NOISE_PAYLOAD_MAX];
	struct noise_keys keys;
	struct noise_hs hs;
	long plen;
	int rc;

	if (hsn_resp_check(pkt, len, c->mac1_self))
		return -1;
	/* The response to the attempt under way (noisekeys_send says why no
	 * other), read on a copy: one that does not open (forged with our
	 * public key, or an older attempt's) leaves the attempt alive. */
	hs = s->hs;
	plen = noise_read_msg2(&hs, pkt + HSN_BODY_OFF, HSN_MSG2_LEN, payload);
	rc = plen < 0 || hsn_msg2_payload_check(payload, plen, h->epoch) ||
	     noise_split(&hs, &keys);
	noise_hs_wipe(&hs);
	if (rc)
		return -1;
	keylog(s, h->epoch, &keys);
	if (s->rekeying) {
		/* we send under the new keys at once; the server, until our
		 * first packet under them reaches it, under the old: those
		 * still open, as the previous receive key */
		aead_free(&s->f.open_next);
		aead_free(&s->f.seal_next);
		rc = aead_init(&s->f.seal_next, keys.i2r, 1) ||
		     aead_init(&s->f.open_next, keys.r2i, 0);
		if (!rc)
			receive_rekeyed(&s->f);
	} else {
		aead_free(&s->f.seal);
		aead_free(&s->f.open);
		rc = aead_init(&s->f.seal, keys.i2r, 1) || aead_init(&s->f.open, keys.r2i, 0);
		flow_keys_set(&s->f);
		s->f.reject_ms = (uint64_t)REJECT_AFTER_S * 1000;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	noise_hs_wipe(&s->hs);
	return rc ? -2 : 0;
}
