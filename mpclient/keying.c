/* mpclient's side of the key handshake. A new session sends HELLO (its
 * random) on every path and resends it until a WELCOME (the server's
 * random) arrives; both randoms and the shared key give the session's two
 * AES-256-GCM keys. A RESET (the server has no such session: it restarted)
 * starts the session over under a new epoch. What the application sends
 * meanwhile waits in a small hold. Plaintext mode never comes here. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "hsnoise.h"
#include "internal.h"
#include "log.h"
#include "rand.h"

static void send_hello(struct client *c, struct session *s)
{
	if (c->o.per_client) {
		noisekeys_send(c, s);
		return;
	}

	uint8_t pkt[HS_HELLO_LEN];
	struct mp_hdr h = {
		.session = s->f.id,
		.epoch = s->f.tx.epoch,
		.seq = ++s->hellos,	/* attempts, for the logs; never 0 */
	};
	size_t len = hs_hello_build(pkt, c->e.key, &h, s->client_random);

	/* The MAC leaves out byte 0: one message, every path. */
	for (unsigned p = 0; p < c->npaths; p++)
		if (c->paths[p].open)
			send_link(&c->paths[p].link, (uint8_t)p, pkt, len);
	s->hello_sent_ms = c->e.now_ms;
}

/* +-25 %: sessions that started together (a restart with many
 * applications) do not retry together, in waves that mpserver's HELLO
 * limit would cut down every time. */
static uint64_t jitter(uint64_t ms)
{
	return ms * 3 / 4 + rand_nonzero32() % (ms / 2 + 1);
}

void keying_start(struct client *c, struct session *s)
{
	s->keying = KEYS_WAIT;
	rand_bytes(s->client_random, sizeof(s->client_random));
	s->hello_retry_ms = jitter(HELLO_RETRY_MS);
	s->hello_started_ms = c->e.now_ms;
	s->hellos_at_start = s->hellos;
	send_hello(c, s);
}

/* Per-client keys: a new handshake in the same session, with the rekey
 * flag; the current keys serve until it completes. */
static void keying_rekey(struct client *c, struct session *s)
{
	s->rekeying = 1;
	s->hello_retry_ms = jitter(HELLO_RETRY_MS);
	s->hello_started_ms = c->e.now_ms;
	s->hellos_at_start = s->hellos;
	send_hello(c, s);
}

void keying_sweep(struct client *c, struct session *s)
{
	/* per-client keys: a new handshake in the same session before the
	 * keys grow old; the current keys serve until it completes */
	if (c->o.per_client && s->keying == KEYS_READY && !s->rekeying &&
	    noisekeys_rekey_due(c, s)) {
		keying_rekey(c, s);
		return;
	}
	/* Half a sweep early rather than most of one late. */
	if ((s->keying != KEYS_WAIT && !s->rekeying) ||
	    c->e.now_ms - s->hello_sent_ms + CLIENT_TICK_MS / 2 < s->hello_retry_ms)
		return;
	send_hello(c, s);
	if (s->hellos - s->hellos_at_start == HELLO_WARN_AFTER)
		log_warnx("session %08x: no answer to %u HELLOs in %llu ms: is mpserver "
			  "running, reachable through the bridges, with the same key?",
			  s->f.id, HELLO_WARN_AFTER,
			  (unsigned long long)(c->e.now_ms - s->hello_started_ms));
	s->hello_retry_ms = jitter(s->hello_retry_ms * 2 > HELLO_RETRY_MAX_MS
					   ? HELLO_RETRY_MAX_MS : s->hello_retry_ms * 2);
}

void keying_hold(struct client *c, struct session *s, const uint8_t *payload, size_t len)
{
	if (len > HOLD_SLOT_BYTES || (s->hold && s->hold->n == HOLD_SLOTS)) {
		c->e.drops.n[DROP_KEYS_WAIT]++;
		return;
	}
	if (!s->hold && !(s->hold = calloc(1, sizeof(*s->hold)))) {
		c->e.drops.n[DROP_NO_MEMORY]++;
		return;
	}
	memcpy(s->hold->data[s->hold->n] + MP_HDR_LEN, payload, len);
	s->hold->len[s->hold->n++] = (uint16_t)len;
}

/* Sends what waited for the keys, in order, then lets the hold go. */
static void release_hold(struct client *c, struct session *s)
{
	struct hold *hold = s->hold;

	if (!hold)
		return;
	for (unsigned i = 0; i < hold->n; i++)
		send_data(&s->f, hold->data[i], hold->len[i]);
	send_flush(&c->e);	/* before the buffers go */
	free(hold);
	s->hold = NULL;
}

/* Shared-key mode's WELCOME: 0 and the keys set, -1 not ours, -2 the keys
 * could not be set up. */
static int shared_welcome(struct client *c, struct session *s, const uint8_t *pkt,
			  size_t len, const struct mp_hdr *h)
{
	uint8_t client_random[CRYPTO_RANDOM_LEN], server_random[CRYPTO_RANDOM_LEN];
	struct session_keys keys;
	int rc;

	if (hs_welcome_check(pkt, len, c->e.key, client_random, server_random) ||
	    CRYPTO_memcmp(client_random, s->client_random, CRYPTO_RANDOM_LEN))
		return -1;
	if (s->keying == KEYS_READY)
		return 1;
	rc = crypto_session_keys(c->e.key, client_random, server_random, s->f.id,
				 s->f.tx.epoch, h->epoch, &keys) ||
	     aead_init(&s->f.seal, keys.c2s, 1) || aead_init(&s->f.open, keys.s2c, 0);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc ? -2 : 0;
}

static void on_welcome(struct client *c, struct session *s, const uint8_t *pkt,
		       size_t len, const struct mp_hdr *h)
{
	int rc;

	if (c->o.per_client && s->rekeying) {
		if (noisekeys_welcome(c, s, pkt, len, h)) {
			c->e.drops.n[DROP_BAD_HANDSHAKE]++;
			return;
		}
		s->rekeying = 0;
		s->keys_ms = c->e.now_ms;
		s->handshakes++;
		if (h->epoch != s->server_epoch) {
			/* authenticated (only the server completes our handshake)
			 * and from a new server epoch: it restarted, and this
			 * session is a new one there */
			s->server_epoch = h->epoch;
			seq_rx_start(&s->f.rx, h->epoch);
			log_net(LOG_INFO, "session %08x: the server restarted (epoch %08x): new "
				"keys in %llu ms", s->f.id, h->epoch,
				(unsigned long long)(c->e.now_ms - s->hello_started_ms));
			return;
		}
		log_net(LOG_INFO, "session %08x: new keys (rekey) in %llu ms", s->f.id,
			(unsigned long long)(c->e.now_ms - s->hello_started_ms));
		return;
	}
	if (c->o.per_client)
		/* once the keys are set the attempt is gone: another path's
		 * copy of the response no longer opens, and is no drop */
		rc = s->keying != KEYS_READY ? noisekeys_welcome(c, s, pkt, len, h)
		     : hsn_resp_check(pkt, len, c->mac1_self) ? -1 : 1;
	else
		rc = shared_welcome(c, s, pkt, len, h);
	if (rc == -1) {
		c->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	if (rc == 1) {
		c->e.deduplicated++;	/* the WELCOME for another path's HELLO */
		return;
	}
	if (rc) {
		log_warnx("session %08x: cannot set up its keys", s->f.id);
		return;
	}
	s->keying = KEYS_READY;
	s->keys_ms = c->e.now_ms;
	s->handshakes++;
	s->server_epoch = h->epoch;
	seq_rx_start(&s->f.rx, h->epoch);
	log_net(LOG_INFO, "session %08x: keys agreed in %llu ms (server epoch %08x)", s->f.id,
		(unsigned long long)(c->e.now_ms - s->hello_started_ms), h->epoch);
	release_hold(c, s);
	paths_tick(c, s);
}

static int recent(const struct seq_tx *tx, uint64_t seq)
{
	return seq < tx->next && seq + RESET_SEQ_WINDOW >= tx->next;
}

/* The server does not know this session (it restarted, or never saw the
 * HELLO). Believed only if it answers one of our recent packets (DATA or
 * PROBE: the RESET echoes its sequence number, not its type). */
static void on_reset(struct client *c, struct session *s, const uint8_t *pkt,
		     size_t len, const struct mp_hdr *h)
{
	if (c->o.per_client && len == HSN_COOKIE_LEN) {
		if (noisekeys_cookie(c, s, pkt, len, h))
			c->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	if (h->epoch != s->f.tx.epoch ||
	    !(recent(&s->f.tx, h->seq) || recent(&s->f.ctl_tx, h->seq)) ||
	    hs_reset_check(pkt, len, c->e.key)) {
		c->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	s->resets++;
	if (c->o.per_client) {
		/* Anyone with the server's public key can make a RESET: it is
		 * only a hint. A new handshake in the same session, the current
		 * keys in use until it completes: a server that lost the session
		 * makes a new one from it, one that did not rekeys it. */
		if (s->keying == KEYS_READY && !s->rekeying) {
			log_net(LOG_INFO, "session %08x: a RESET (the server restarted?): new "
				"handshake", s->f.id);
			keying_rekey(c, s);
		}
		return;
	}
	log_net(LOG_INFO, "session %08x: the server does not know it (restarted?): new keys",
		s->f.id);
	keying_free(s);
	seq_tx_init(&s->f.tx, rand_nonzero32());
	seq_tx_init(&s->f.ctl_tx, s->f.tx.epoch);
	keying_start(c, s);
}

void keying_input(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h)
{
	if (h->type == MP_T_WELCOME)
		on_welcome(c, s, pkt, len, h);
	else
		on_reset(c, s, pkt, len, h);
}

void keying_free(struct session *s)
{
	aead_free(&s->f.seal);
	aead_free(&s->f.open);
	free(s->hold);
	s->hold = NULL;
	s->keying = KEYS_NONE;
	OPENSSL_cleanse(s->client_random, sizeof(s->client_random));
	noise_hs_wipe(&s->hs);
	s->prev_seq = 0;
	s->rekeying = 0;
	aead_free(&s->f.seal_next);
	aead_free(&s->f.open_next);
	aead_free(&s->f.open_prev);
}
